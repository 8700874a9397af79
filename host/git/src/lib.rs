//! weir's git source: fetches the revision a `[[git]]` source follows with
//! gix and turns it into an immutable artifact directory.
//!
//! Start reading at [`GitSource`] and its [`Source::fetch`] implementation,
//! which is the whole sequence: lock the shared cache, list the remote's refs
//! (an `ls-remote`), stop there when the wanted commit already has an
//! artifact, otherwise fetch just that ref (shallow, depth 1) into the cache
//! and export the commit's tree (with its submodules when asked, see
//! `GitSource::write_submodule`). A source with `include`s fetches the
//! included sources first and copies their artifacts into a composed one.
//! [`sources`] builds every source of a config, sharing included ones.
//!
//! The modules hold one concern each: `reference.rs` (Flux's `ref`
//! precedence and revision strings), `auth.rs` (credentials, TLS trust and
//! client certificates, proxies, and how gix gets them: read its header for
//! the mechanism behind each), `cache.rs` (the bare repository per URL and
//! identity), `artifact.rs` (export, digest format, retention),
//! `compose.rs` (artifacts with includes), `submodule.rs` (`.gitmodules`,
//! submodule URLs and whose credentials they get) and `error.rs`
//! (plain-words errors).

use std::collections::BTreeMap;
use std::net::{Shutdown, TcpStream, ToSocketAddrs as _};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use gix::protocol::transport::client::blocking_io::{Transport, http};
use gix::remote::fetch::Shallow;
use sha2::Digest as _;
use weir_core::source::{Artifact, Source, SourceError};

mod artifact;
mod auth;
mod cache;
mod compose;
mod error;
mod ignore;
mod reference;
mod semver_range;
mod submodule;
mod verify;

use auth::Auth;
use error::{terminal, transient};
use reference::Wanted;

type Connection<'r, 'repo> = gix::remote::Connection<'r, 'static, 'repo, Box<dyn Transport + Send>>;

/// A git repository as a [`Source`]: one `[[git]]` entry of `weir.toml`.
///
/// Sources with the same URL and credential identity share one bare cache
/// repository under `<state>/git/`; each source keeps its artifacts under
/// `<state>/artifacts/<name>/<commit sha>/` (the two newest).
pub struct GitSource {
    name: String,
    url: String,
    display_url: String,
    scheme: gix::url::Scheme,
    wanted: Wanted,
    /// The credentials, read again at every fetch from their files (see
    /// [`GitSource::refresh_auth`]), so rotated secrets apply without a
    /// restart.
    auth: Mutex<Arc<Auth>>,
    /// `auth` as configured, paths resolved.
    auth_spec: weir_config::GitAuth,
    /// `proxy` as configured, paths resolved.
    proxy_spec: Option<weir_config::GitProxy>,
    cache_dir: PathBuf,
    store: artifact::Store,
    timeout: Duration,
    /// `timeout` as configured (`90s`, `1m30s`), for messages.
    timeout_text: String,
    pack_fetches: AtomicU64,
    connections: AtomicU64,
    /// Clones of the TCP sockets of this source's open `git://` connections,
    /// so that a deadline or interrupt can shut them down: gix's git
    /// transport blocks in `read` and would otherwise wait for a silent
    /// server forever. Keyed by the thread running the fetch, since two
    /// fetches of one source may overlap (one waiting for the cache lock).
    /// Shared with the sources made for its submodules, whose connections
    /// the same deadline must end.
    sockets: Arc<Mutex<Vec<(std::thread::ThreadId, TcpStream)>>>,
    /// `verify`, with its key files resolved.
    verify: Option<Verification>,
    /// Set when a fetch failed reading the cache repository itself (an
    /// object that should be there and is not, or does not decode), so the
    /// cache is made anew. Only touched with the cache lock held.
    cache_suspect: AtomicBool,
    /// `include`: the included sources, in order, and where their
    /// artifacts go.
    includes: Vec<Included>,
    /// Where the artifacts with includes copied in are kept.
    composed: compose::Store,
    /// `recurseSubmodules`.
    recurse_submodules: bool,
    /// The state directory (submodules get caches of their own there).
    state_dir: PathBuf,
}

/// One entry of `include`, with the included source built.
struct Included {
    /// `fromPath`, normalised (empty for the root).
    from: String,
    /// `toPath`, normalised, with its default.
    to: String,
    source: Arc<GitSource>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("name", &self.name)
            .field("url", &self.display_url)
            .field("wanted", &self.wanted)
            .field("auth", &self.auth())
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl GitSource {
    /// Prepares a source for `repo` as declared in `config`: paths in
    /// `repo.auth` are resolved with [`weir_config::Config::resolve`], state
    /// lives under [`weir_config::Config::state_dir`]. Credential files are
    /// read now, so a missing file is a configuration error naming the file.
    /// Nothing touches the network or the state directory yet.
    ///
    /// # Errors
    /// A non-transient [`SourceError`] naming the source and the offending
    /// field or file (unsupported `ref.semver`, unreadable `passwordFile`,
    /// a CA file without certificates, an unparsable URL, …).
    ///
    /// The sources that `repo` includes are built too, each once (see
    /// [`sources`] to share them with the rest of the config).
    pub fn new(
        config: &weir_config::Config,
        repo: &weir_config::GitRepository,
    ) -> Result<Self, SourceError> {
        Self::build(config, repo, &mut BTreeMap::new(), &mut Vec::new())
    }

    /// [`GitSource::new`], taking included sources from `built` and adding
    /// those it builds; `stack` holds the sources being built around this
    /// one, to refuse include cycles (the config refuses them already).
    fn build(
        config: &weir_config::Config,
        repo: &weir_config::GitRepository,
        built: &mut BTreeMap<String, Arc<GitSource>>,
        stack: &mut Vec<String>,
    ) -> Result<Self, SourceError> {
        let name = repo.name.as_str().to_owned();
        let display_url = error::strip_userinfo(&repo.url);
        let config_err = |m: String| terminal(format!("git source {name:?}: {m}"));
        let wanted = Wanted::from_config(&repo.reference).map_err(config_err)?;
        let auth_spec = auth::resolved(config, &repo.auth);
        let proxy_spec = repo.proxy.as_ref().map(|p| auth::resolved_proxy(config, p));
        let auth = Auth::from_spec(&auth_spec, proxy_spec.as_ref()).map_err(config_err)?;
        let url = gix::url::parse(repo.url.as_str())
            .map_err(|e| config_err(format!("invalid url {display_url}: {e}")))?;
        let state = config.state_dir();
        let verify = repo.verify.as_ref().map(|v| Verification {
            mode: v.mode,
            key_files: v.key_files.iter().map(|p| config.resolve(p)).collect(),
        });
        if let Some(v) = &verify {
            // Read now, so that a missing or unreadable key file is a
            // configuration error; read again at every fetch for rotation.
            for f in &v.key_files {
                verify::check_readable(f).map_err(config_err)?;
            }
            verify::Keys::load(&v.key_files).map_err(config_err)?;
        }
        stack.push(name.clone());
        let includes = repo
            .include
            .iter()
            .map(|inc| {
                let dep = inc.repository.name.as_str();
                let source = Self::included(config, dep, built, stack)
                    .map_err(|e| included_error(&name, dep, "", e))?;
                Ok(Included {
                    from: inc.from_path(),
                    to: inc.to_path(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, SourceError>>();
        stack.pop();
        let includes = includes?;
        Ok(GitSource {
            composed: compose::Store::new(&state, &name),
            includes,
            cache_dir: cache::dir(&state, &repo.url, &auth.cache_identity()),
            store: artifact::Store::new(
                &state,
                &name,
                artifact::Shape {
                    ignore: repo.ignore.clone(),
                    verify: verify.as_ref().map(Verification::describe),
                    sparse: sparse_dirs(&repo.sparse_checkout).map_err(config_err)?,
                    submodules: repo.recurse_submodules,
                },
            ),
            recurse_submodules: repo.recurse_submodules,
            state_dir: state.clone(),
            name,
            url: repo.url.clone(),
            display_url,
            scheme: url.scheme,
            wanted,
            auth: Mutex::new(Arc::new(auth)),
            auth_spec,
            proxy_spec,
            timeout: repo.timeout().get(),
            timeout_text: repo.timeout().to_string(),
            pack_fetches: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            sockets: Arc::new(Mutex::new(Vec::new())),
            cache_suspect: AtomicBool::new(false),
            verify,
        })
    }

    /// The included source `dep`, from `built` or built now.
    fn included(
        config: &weir_config::Config,
        dep: &str,
        built: &mut BTreeMap<String, Arc<GitSource>>,
        stack: &mut Vec<String>,
    ) -> Result<Arc<GitSource>, SourceError> {
        if let Some(s) = built.get(dep) {
            return Ok(Arc::clone(s));
        }
        if stack.iter().any(|n| n == dep) {
            return Err(terminal(format!(
                "include cycle {} -> {dep}",
                stack.join(" -> ")
            )));
        }
        let repo = config
            .git
            .iter()
            .find(|g| g.name.as_str() == dep)
            .ok_or_else(|| terminal("no such git source is declared".to_owned()))?;
        let source = Arc::new(Self::build(config, repo, built, stack)?);
        built.insert(dep.to_owned(), Arc::clone(&source));
        Ok(source)
    }

    /// How many times this source has received objects from the remote (a
    /// check that found nothing new, costing one ref listing, does not
    /// count). For metrics and tests.
    pub fn pack_fetches(&self) -> u64 {
        self.pack_fetches.load(Ordering::Relaxed)
    }

    /// How many connections to the remote this source has opened; each
    /// lists the remote's refs (what `git ls-remote` costs), and some go on
    /// to fetch. A no-change check costs one. For metrics and tests.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// How long a fetch may take at most: the source's `timeout`, plus
    /// that of each included source (fetched first, one after the other,
    /// each within its own). A caller's outer deadline should not be
    /// shorter.
    pub fn total_timeout(&self) -> Duration {
        self.includes
            .iter()
            .map(|inc| inc.source.total_timeout())
            .fold(self.timeout, |a, b| a + b)
    }

    /// The bare cache repository this source shares with every source of the
    /// same URL and credential identity.
    pub fn cache_dir(&self) -> &std::path::Path {
        &self.cache_dir
    }

    /// The credentials currently in use.
    fn auth(&self) -> Arc<Auth> {
        Arc::clone(&self.auth.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the credential files again; keeps the loaded credentials (and
    /// their TLS configuration) when nothing changed.
    fn refresh_auth(&self) -> Result<(), SourceError> {
        let fresh = Auth::from_spec(&self.auth_spec, self.proxy_spec.as_ref()).map_err(|e| {
            terminal(format!(
                "git source {:?}: {e} (for {})",
                self.name, self.display_url
            ))
        })?;
        let mut current = self.auth.lock().unwrap_or_else(PoisonError::into_inner);
        if !current.same_as(&fresh) {
            tracing::info!(source = %self.name, "credentials changed; using the new ones");
            *current = Arc::new(fresh);
        }
        Ok(())
    }

    /// The whole fetch, with the locks held; `stop` is set on interrupt or
    /// when the deadline passes.
    fn fetch_locked(&self, stop: &AtomicBool) -> Result<Artifact, SourceError> {
        self.refresh_auth()?;
        let cache_lock = cache::lock_for(&self.cache_dir);
        let _cache_guard = self.acquire(&cache_lock, stop)?;
        let store_lock = cache::lock_for(self.store.root());
        let _store_guard = self.acquire(&store_lock, stop)?;

        // A pinned commit never moves: once its artifact exists there is
        // nothing to ask the server.
        if let Wanted::Commit { id, .. } = &self.wanted
            && let Some(digest) = self.store.existing(id).map_err(|e| self.artifact_err(e))?
        {
            return self.finish(&self.wanted, id, digest);
        }

        let open = || {
            cache::open_or_init(&self.cache_dir).map_err(|e| {
                transient(format!(
                    "git source {:?} ({}): {}",
                    self.name, self.display_url, e
                ))
            })
        };
        let repo = open()?;
        self.cache_suspect.store(false, Ordering::Relaxed);
        match self.fetch_into(repo, stop) {
            // The cache only holds what can be fetched again: when it turns
            // out damaged (an object that cannot be read, a reference to a
            // missing object), it is made anew and the fetch tried once more.
            Err(e) if !stop.load(Ordering::Relaxed) => {
                let damage = match open() {
                    Ok(repo) => cache::damage(&repo),
                    Err(_) => None,
                };
                let damage = match damage {
                    Some(d) => d,
                    None if self.cache_suspect.load(Ordering::Relaxed) => e.message.clone(),
                    None => return Err(e),
                };
                tracing::warn!(
                    source = %self.name,
                    url = %self.display_url,
                    cache = %self.cache_dir.display(),
                    %damage,
                    "git cache is damaged; making it anew"
                );
                cache::remove(&self.cache_dir).map_err(|e| {
                    transient(format!(
                        "git source {:?} ({}): {}",
                        self.name, self.display_url, e
                    ))
                })?;
                self.cache_suspect.store(false, Ordering::Relaxed);
                self.fetch_into(open()?, stop)
            }
            r => r,
        }
    }

    /// The fetch proper, into the opened cache repository `repo`.
    fn fetch_into(
        &self,
        mut repo: gix::Repository,
        stop: &AtomicBool,
    ) -> Result<Artifact, SourceError> {
        self.configure(&mut repo)?;
        self.check_stop(stop)?;

        // A semver range is resolved to the highest matching tag first; from
        // there on it is that tag.
        let resolved;
        let wanted = match &self.wanted {
            Wanted::Semver { range, text } => {
                let (tag, id) = self.resolve_semver(&repo, range, text)?;
                resolved = Wanted::Tag(tag);
                // The listing already told the tag's commit: when that has an
                // artifact, the check cost one listing, as for a branch.
                if let Some(id) = id
                    && let Some(digest) =
                        self.store.existing(&id).map_err(|e| self.artifact_err(e))?
                {
                    tracing::debug!(source = %self.name, commit = %id, "no change; artifact reused");
                    return self.finish(&resolved, &id, digest);
                }
                &resolved
            }
            w => w,
        };
        let (id, tag) = match wanted {
            Wanted::Commit { id, branch } => {
                self.fetch_commit(&repo, id, branch.as_deref(), stop)?;
                (*id, None)
            }
            Wanted::Branch(_) | Wanted::Tag(_) | Wanted::Name(_) | Wanted::Semver { .. } => {
                let remote_ref = wanted.remote_ref().unwrap_or_default();
                match self.fetch_ref(&repo, wanted, &remote_ref, stop)? {
                    Fetched::Reused(id, digest) => return self.finish(wanted, &id, digest),
                    Fetched::InCache(id, tag) => (id, tag),
                }
            }
        };

        self.check_is_commit(&repo, wanted, &id)?;
        if let Some(v) = &self.verify {
            self.verify_revision(&repo, v, wanted, &id, tag)?;
        }
        let digest = if self.recurse_submodules {
            let held = [(self.cache_dir.clone(), &repo)];
            let mut write = |path: &str, sub: gix::ObjectId, dir: &std::path::Path| {
                self.write_submodule(&repo, id, path, sub, dir, stop, 1, &held)
            };
            self.store.export(&repo, &id, Some(&mut write))
        } else {
            self.store.export(&repo, &id, None)
        }
        .map_err(|e| self.artifact_err(e))?;
        tracing::info!(
            source = %self.name,
            url = %self.display_url,
            revision = %wanted.revision(&id),
            "exported new artifact"
        );
        self.finish(wanted, &id, digest)
    }

    /// Lists the remote's tags and picks the one with the highest version in
    /// `range` (Flux's `ref.semver`), with the commit it points to when the
    /// listing tells. Tags that are not versions are ignored.
    fn resolve_semver(
        &self,
        repo: &gix::Repository,
        range: &semver_range::Range,
        text: &str,
    ) -> Result<(String, Option<gix::ObjectId>), SourceError> {
        let listing = self.remote(repo, &["+refs/tags/*:refs/weir/listing/tags/*".to_owned()])?;
        let (ref_map, _) = self
            .connect(&listing)?
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| self.net_err(&e))?;
        let tags: Vec<String> = ref_map
            .remote_refs
            .iter()
            .filter_map(|r| {
                let (name, _, _) = r.unpack();
                std::str::from_utf8(name.as_ref())
                    .ok()
                    .and_then(|n| n.strip_prefix("refs/tags/"))
                    .map(str::to_owned)
            })
            .collect();
        range
            .best(tags.iter().map(String::as_str))
            .map(|tag| {
                let id = find_ref(&ref_map.remote_refs, &format!("refs/tags/{tag}"));
                (tag.to_owned(), id)
            })
            .ok_or_else(|| {
                terminal(format!(
                    "no tag of {} matches semver range {text:?} ({} tags, none a version in the range)",
                    self.display_url,
                    tags.len()
                ))
            })
    }

    /// Lists the remote's refs, resolves `remote_ref` to a commit and, unless
    /// that commit already has an artifact or is in the cache, fetches it
    /// with depth 1.
    fn fetch_ref(
        &self,
        repo: &gix::Repository,
        wanted: &Wanted,
        remote_ref: &str,
        stop: &AtomicBool,
    ) -> Result<Fetched, SourceError> {
        let remote = self.remote(repo, &[reference::refspec(remote_ref)])?;
        let prepare = self
            .connect(&remote)?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.net_err(&e))?;
        let (id, tag) =
            find_ref_and_tag(&prepare.ref_map().remote_refs, remote_ref).ok_or_else(|| {
                terminal(format!(
                    "{} not found in {}",
                    wanted.describe(),
                    self.display_url
                ))
            })?;
        if let Some(digest) = self.store.existing(&id).map_err(|e| self.artifact_err(e))? {
            tracing::debug!(source = %self.name, commit = %id, "no change; artifact reused");
            return Ok(Fetched::Reused(id, digest));
        }
        // Verifying a tag needs the tag object, which a fetch of a branch
        // holding the commit did not bring.
        let tag_missing = self.verify.as_ref().is_some_and(|v| v.checks_tag())
            && tag.is_some_and(|t| !repo.has_object(t));
        if repo.has_object(id) && !tag_missing {
            tracing::debug!(source = %self.name, commit = %id, "commit already in the git cache");
            return Ok(Fetched::InCache(id, tag));
        }
        self.check_stop(stop)?;
        prepare
            .with_shallow(Shallow::DepthAtRemote(NonZeroU32::MIN))
            .receive(gix::progress::Discard, stop)
            .map_err(|e| self.net_err(&e))?;
        self.pack_fetches.fetch_add(1, Ordering::Relaxed);
        if !repo.has_object(id) {
            return Err(self.cache_err(format!(
                "fetching {} from {} did not deliver commit {id}",
                wanted.describe(),
                self.display_url
            )));
        }
        Ok(Fetched::InCache(id, tag))
    }

    /// Makes sure the pinned commit `id` is in the cache.
    ///
    /// With `branch`, Flux's behaviour: the branch is fetched (full history,
    /// since the commit may be anywhere on it) and the commit looked up.
    ///
    /// Without, the refs are listed first (the `ls-remote`, which also tells
    /// the protocol version). A commit is fetched by id when the server
    /// allows that: protocol v2 lets a client want any object, v0/v1 only
    /// with `uploadpack.allowReachableSHA1InWant`/`allowAnySHA1InWant`
    /// (advertised as capabilities), or `allowTipSHA1InWant` when the commit
    /// is an advertised tip. Servers that speak only v0/v1 (older git, git's
    /// http-backend behind a web server that drops the `Git-Protocol`
    /// header, some forges) have those settings off by default, so there
    /// (and when fetching by id fails for another reason) every branch and
    /// tag is fetched with full history and the commit looked up.
    fn fetch_commit(
        &self,
        repo: &gix::Repository,
        id: &gix::ObjectId,
        branch: Option<&str>,
        stop: &AtomicBool,
    ) -> Result<(), SourceError> {
        if let Some(branch) = branch {
            let remote_ref = format!("refs/heads/{branch}");
            let remote = self.remote(repo, &[reference::refspec(&remote_ref)])?;
            let prepare = self
                .connect(&remote)?
                .prepare_fetch(gix::progress::Discard, Default::default())
                .map_err(|e| self.net_err(&e))?;
            if find_ref(&prepare.ref_map().remote_refs, &remote_ref).is_none() {
                return Err(terminal(format!(
                    "branch {branch:?} not found in {}",
                    self.display_url
                )));
            }
            if !repo.has_object(id) {
                self.check_stop(stop)?;
                prepare
                    .with_shallow(full_history(repo))
                    .receive(gix::progress::Discard, stop)
                    .map_err(|e| self.net_err(&e))?;
                self.pack_fetches.fetch_add(1, Ordering::Relaxed);
            }
            if !repo.has_object(id) {
                return Err(terminal(format!(
                    "commit {id} not found on branch {branch:?} of {}",
                    self.display_url
                )));
            }
            return Ok(());
        }

        let listing = self.remote(
            repo,
            &[
                "+refs/heads/*:refs/weir/listing/heads/*".to_owned(),
                "+refs/tags/*:refs/weir/listing/tags/*".to_owned(),
            ],
        )?;
        let (ref_map, handshake) = self
            .connect(&listing)?
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| self.net_err(&e))?;
        if repo.has_object(id) {
            return Ok(());
        }
        let caps = &handshake.capabilities;
        let by_id = handshake.server_protocol_version == gix::protocol::transport::Protocol::V2
            || caps.contains("allow-reachable-sha1-in-want")
            || caps.contains("allow-any-sha1-in-want")
            || (caps.contains("allow-tip-sha1-in-want")
                && ref_map
                    .remote_refs
                    .iter()
                    .any(|r| r.unpack().1 == Some(id.as_ref())));
        if by_id {
            match self.receive(
                repo,
                &[reference::commit_refspec(id)],
                Shallow::DepthAtRemote(NonZeroU32::MIN),
                stop,
            ) {
                Ok(()) => {}
                Err(e) if stop.load(Ordering::Relaxed) => return Err(e),
                Err(e) => tracing::debug!(
                    source = %self.name,
                    error = %e,
                    "fetching the commit by id failed; fetching all branches and tags"
                ),
            }
        }
        if !repo.has_object(id) {
            let specs: Vec<String> = ref_map
                .remote_refs
                .iter()
                .map(|r| r.unpack().0.to_string())
                .filter(|n| n.starts_with("refs/heads/") || n.starts_with("refs/tags/"))
                .map(|n| reference::refspec(&n))
                .collect();
            if !specs.is_empty() {
                self.receive(repo, &specs, full_history(repo), stop)?;
            }
        }
        if !repo.has_object(id) {
            return Err(terminal(format!(
                "commit {id} not found in {}",
                self.display_url
            )));
        }
        Ok(())
    }

    /// One connection that fetches `specs` with `shallow`.
    fn receive(
        &self,
        repo: &gix::Repository,
        specs: &[String],
        shallow: Shallow,
        stop: &AtomicBool,
    ) -> Result<(), SourceError> {
        self.check_stop(stop)?;
        let remote = self.remote(repo, specs)?;
        self.connect(&remote)?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .and_then(|p| {
                p.with_shallow(shallow)
                    .receive(gix::progress::Discard, stop)
            })
            .map_err(|e| self.net_err(&e))?;
        self.pack_fetches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Per-source settings on the (shared) cache repository, in memory only:
    /// for ssh, the ssh command with this source's key and known_hosts.
    fn configure(&self, repo: &mut gix::Repository) -> Result<(), SourceError> {
        if self.scheme != gix::url::Scheme::Ssh {
            return Ok(());
        }
        let auth = self.auth();
        let askpass = match auth.askpass_script() {
            Some(script) => {
                let path = self.cache_dir.join(format!(
                    "weir-askpass-{}.sh",
                    &cache::hex(&sha2::Sha256::digest(script.as_bytes()))[..16]
                ));
                write_script(&path, &script).map_err(|e| {
                    transient(format!(
                        "git source {:?}: cannot write {}: {e}",
                        self.name,
                        path.display()
                    ))
                })?;
                Some(path)
            }
            None => None,
        };
        let cmd = auth.ssh_command(
            &self.ssh_stderr_path(),
            self.connect_timeout(),
            askpass.as_deref(),
        );
        let mut snapshot = repo.config_snapshot_mut();
        snapshot
            .set_value(&gix::config::tree::Core::SSH_COMMAND, cmd.as_str())
            .and_then(|_| snapshot.set_value(&gix::config::tree::Ssh::VARIANT, "ssh"))
            .and_then(|_| snapshot.commit())
            .map(|_| ())
            .map_err(|e| {
                terminal(format!(
                    "git source {:?}: cannot configure ssh for {}: {}",
                    self.name,
                    self.display_url,
                    error::chain_text(&e)
                ))
            })
    }

    fn ssh_stderr_path(&self) -> PathBuf {
        self.cache_dir.join("weir-ssh.stderr")
    }

    fn connect_timeout(&self) -> Duration {
        self.timeout.min(Duration::from_secs(30))
    }

    /// A nameless remote for this source's URL fetching `specs`, without tag
    /// following and without URL rewriting.
    fn remote<'repo>(
        &self,
        repo: &'repo gix::Repository,
        specs: &[String],
    ) -> Result<gix::Remote<'repo>, SourceError> {
        repo.remote_at_without_url_rewrite(self.url.as_str())
            .and_then(|r| {
                r.with_fetch_tags(gix::remote::fetch::Tags::None)
                    .with_refspecs(
                        specs.iter().map(String::as_str),
                        gix::remote::Direction::Fetch,
                    )
            })
            .map_err(|e| {
                terminal(format!(
                    "git source {:?}: cannot use {}: {}",
                    self.name,
                    self.display_url,
                    error::chain_text(&e)
                ))
            })
    }

    /// Opens a connection (nothing is sent before the handshake) with this
    /// source's credentials and transport settings. Credentials never come
    /// from helpers or prompts: the callback answers "none", so a server
    /// that wants more fails the handshake as unauthenticated.
    fn connect<'r, 'repo>(
        &self,
        remote: &'r gix::Remote<'repo>,
    ) -> Result<Connection<'r, 'repo>, SourceError> {
        self.connections.fetch_add(1, Ordering::Relaxed);
        if self.scheme == gix::url::Scheme::Ssh {
            // Only this connection's ssh messages should explain its failure.
            let _ = std::fs::remove_file(self.ssh_stderr_path());
        }
        let mut conn = if self.scheme == gix::url::Scheme::Git {
            let (url, version) = remote
                .sanitized_url_and_version(gix::remote::Direction::Fetch)
                .map_err(|e| self.net_err(&e))?;
            let transport = self.git_daemon_transport(&url, version)?;
            remote.to_connection_with_transport(transport)
        } else {
            remote
                .connect(gix::remote::Direction::Fetch)
                .map_err(|e| self.net_err(&e))?
        };
        conn.set_credentials(|_action| Ok(None));
        if matches!(
            self.scheme,
            gix::url::Scheme::Http | gix::url::Scheme::Https
        ) {
            let options = self.http_options(remote.repo())?;
            conn.set_transport_options(Box::new(options));
        }
        Ok(conn)
    }

    /// A `git://` connection made here rather than by gix, whose own has no
    /// timeouts at all: the TCP connect is bounded by the connect timeout,
    /// and a clone of the socket is kept in `self.sockets` so that the
    /// fetch's deadline watcher can shut it down, which ends any blocked
    /// read at once.
    fn git_daemon_transport(
        &self,
        url: &gix::Url,
        version: gix::protocol::transport::Protocol,
    ) -> Result<Box<dyn Transport + Send>, SourceError> {
        let unreachable =
            |why: String| transient(format!("cannot reach {}: {why}", self.display_url));
        let host = url
            .host()
            .ok_or_else(|| terminal(format!("url {} has no host", self.display_url)))?;
        let port = url.port.unwrap_or(9418);
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, self.connect_timeout()) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let read = stream.ok_or_else(|| {
            unreachable(last.map_or_else(|| format!("{host} has no address"), |e| e.to_string()))
        })?;
        let clone = |s: &TcpStream| {
            s.try_clone().map_err(|e| {
                transient(format!(
                    "cannot use the connection to {}: {e}",
                    self.display_url
                ))
            })
        };
        let write = clone(&read)?;
        self.sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((std::thread::current().id(), clone(&read)?));
        Ok(Box::new(
            gix::protocol::transport::client::git::blocking_io::Connection::new(
                read,
                write,
                version,
                url.path.clone(),
                Some((host.to_owned(), url.port)),
                gix::protocol::transport::client::git::ConnectMode::Daemon,
                false,
            ),
        ))
    }

    /// Shuts down the open `git://` sockets of the fetch running on thread
    /// `fetch_thread` (see [`GitSource::git_daemon_transport`]) and forgets
    /// them.
    fn close_sockets(&self, fetch_thread: std::thread::ThreadId) {
        let mut sockets = self
            .sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sockets.retain(|(t, s)| {
            if *t == fetch_thread {
                let _ = s.shutdown(Shutdown::Both);
            }
            *t != fetch_thread
        });
    }

    /// gix's HTTP options for this source: the `Authorization` header, and a
    /// reqwest client with weir's TLS trust (and client certificate),
    /// timeouts and the source's `proxy`. Proxy variables of the environment
    /// are ignored like every other ambient setting (Flux has an explicit
    /// `proxySecretRef` for this, which `proxy` follows).
    fn http_options(&self, repo: &gix::Repository) -> Result<http::Options, SourceError> {
        let mut options = repo
            .transport_options(self.url.as_str(), None)
            .ok()
            .flatten()
            .and_then(|b| b.downcast::<http::Options>().ok())
            .map(|b| *b)
            .unwrap_or_default();
        let auth = self.auth();
        options.extra_headers.extend(auth.http_headers());
        options.ssl_ca_info = None;
        options.connect_timeout = Some(self.connect_timeout());
        let tls = auth.tls_config().map_err(|e| {
            terminal(format!(
                "git source {:?}: {e} (for {})",
                self.name, self.display_url
            ))
        })?;
        let proxy = auth.reqwest_proxy().map_err(|e| {
            terminal(format!(
                "git source {:?}: {e} (for {})",
                self.name, self.display_url
            ))
        })?;
        let (timeout, connect_timeout) = (self.timeout, self.connect_timeout());
        // Forwarded plain-http requests: some proxies (tinyproxy) close the
        // client connection after each response without saying so, and a
        // POST sent on such a pooled connection fails ("connection closed
        // before message completed"); so each request gets a connection of
        // its own. A CONNECT tunnel (https) stays open and is reused.
        let no_reuse = proxy.is_some() && self.scheme == gix::url::Scheme::Http;
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(
                move |builder: reqwest::blocking::ClientBuilder| {
                    let builder = match &proxy {
                        Some(p) => builder.proxy(p.clone()),
                        None => builder.no_proxy(),
                    };
                    let builder = if no_reuse {
                        builder.pool_max_idle_per_host(0)
                    } else {
                        builder
                    };
                    Ok(builder
                        // A little past the fetch's deadline, so that the
                        // deadline (which names itself) is what ends it.
                        .timeout(timeout + Duration::from_secs(1))
                        .connect_timeout(connect_timeout)
                        .tls_backend_preconfigured((*tls).clone()))
                },
            )),
            configure_request: None,
        };
        options.backend = Some(Arc::new(Mutex::new(backend)));
        Ok(options)
    }

    fn check_is_commit(
        &self,
        repo: &gix::Repository,
        wanted: &Wanted,
        id: &gix::ObjectId,
    ) -> Result<(), SourceError> {
        let kind = repo.find_header(*id).map(|h| h.kind()).map_err(|e| {
            self.cache_err(format!(
                "cannot read {id} of {} from the git cache: {}",
                self.display_url,
                error::chain_text(&e)
            ))
        })?;
        if kind != gix::object::Kind::Commit {
            return Err(terminal(format!(
                "{} of {} points to a {kind}, not a commit",
                wanted.describe(),
                self.display_url
            )));
        }
        Ok(())
    }

    fn finish(
        &self,
        wanted: &Wanted,
        id: &gix::oid,
        digest: String,
    ) -> Result<Artifact, SourceError> {
        self.store.retain(id).map_err(|e| self.artifact_err(e))?;
        Ok(Artifact {
            revision: wanted.revision(id),
            dir: self.store.path(id),
            digest,
        })
    }

    /// `e` with its message starting `git source "<name>": `, so that every
    /// error names the source as well as the URL it already names.
    fn named(&self, e: SourceError) -> SourceError {
        let prefix = format!("git source {:?}", self.name);
        if e.message.starts_with(&prefix) {
            return e;
        }
        SourceError {
            message: format!("{prefix}: {}", e.message),
            transient: e.transient,
        }
    }

    fn artifact_err(&self, e: artifact::ArtifactError) -> SourceError {
        let message = format!(
            "git source {:?}: artifact of {}: {e}",
            self.name, self.display_url
        );
        match e {
            artifact::ArtifactError::UnsafePath(_) => terminal(message),
            artifact::ArtifactError::Object { .. } => self.cache_err(message),
            artifact::ArtifactError::Io { .. } => transient(message),
            artifact::ArtifactError::Submodule { transient: t, .. } => SourceError {
                message,
                transient: t,
            },
        }
    }

    /// Writes the submodule at `path` of `commit` (a commit in `repo`, this
    /// source's cache), pinned at `sub`, into `dir`, with its own
    /// submodules (down to [`submodule::MAX_DEPTH`] levels). `held` lists
    /// the cache repositories whose locks this fetch holds already, so a
    /// submodule sharing one uses it rather than waiting for its lock.
    #[allow(clippy::too_many_arguments)]
    fn write_submodule(
        &self,
        repo: &gix::Repository,
        commit: gix::ObjectId,
        path: &str,
        sub: gix::ObjectId,
        dir: &std::path::Path,
        stop: &AtomicBool,
        depth: usize,
        held: &[(PathBuf, &gix::Repository)],
    ) -> Result<(), artifact::ArtifactError> {
        let fail = |message: String, transient: bool| artifact::ArtifactError::Submodule {
            path: path.to_owned(),
            message,
            transient,
        };
        // Outside every sparseCheckout directory it would be removed again:
        // not worth a fetch.
        if depth == 1
            && self
                .store
                .shape()
                .excludes_subtree(&path.split('/').collect::<Vec<_>>())
        {
            return Ok(());
        }
        if depth > submodule::MAX_DEPTH {
            return Err(fail(
                format!(
                    "submodules nest deeper than {} levels",
                    submodule::MAX_DEPTH
                ),
                false,
            ));
        }
        let modules = read_gitmodules(repo, commit).map_err(|m| {
            fail(
                format!("{m} (commit {commit} of {})", self.display_url),
                false,
            )
        })?;
        let module = modules.iter().find(|m| m.path == path).ok_or_else(|| {
            fail(
                format!(
                    "no url for it in .gitmodules of commit {commit} of {}",
                    self.display_url
                ),
                false,
            )
        })?;
        let url = submodule::resolve(&self.url, &module.url).map_err(|m| fail(m, false))?;
        let source = self
            .submodule_source(path, &url)
            .map_err(|e| fail(e.message, e.transient))?;
        let shown = source.display_url.clone();
        let in_words = |e: SourceError| {
            let detail = e
                .message
                .strip_prefix(&format!("git source {:?}: ", source.name))
                .unwrap_or(&e.message)
                .to_owned();
            fail(format!("commit {sub} from {shown}: {detail}"), e.transient)
        };
        // Fetches the pinned commit into `sub_repo` and writes its tree.
        let work = |sub_repo: &gix::Repository| {
            source
                .fetch_commit(sub_repo, &sub, None, stop)
                .map_err(in_words)?;
            let tree = sub_repo
                .find_commit(sub)
                .and_then(|c| c.tree_id())
                .map_err(|e| {
                    source.cache_suspect.store(true, Ordering::Relaxed);
                    fail(
                        format!(
                            "cannot read commit {sub} of {shown} from the git cache: {}",
                            error::chain_text(&e)
                        ),
                        true,
                    )
                })?;
            let mut inner: Vec<(PathBuf, &gix::Repository)> = held.to_vec();
            inner.push((source.cache_dir.clone(), sub_repo));
            let mut nested = |p: &str, id: gix::ObjectId, d: &std::path::Path| {
                source.write_submodule(sub_repo, sub, p, id, d, stop, depth + 1, &inner)
            };
            artifact::write_tree(sub_repo, tree.detach(), dir, "", Some(&mut nested))
        };
        let result = match held.iter().find(|(d, _)| *d == source.cache_dir) {
            // The cache of a repository this fetch already holds.
            Some((_, r)) => work(r),
            None => (|| {
                let lock = cache::lock_for(&source.cache_dir);
                let _guard = source.acquire(&lock, stop).map_err(in_words)?;
                let open = || {
                    cache::open_or_init(&source.cache_dir)
                        .map_err(|e| fail(format!("{shown}: {e}"), true))
                };
                let mut sub_repo = open()?;
                source.configure(&mut sub_repo).map_err(in_words)?;
                let r = work(&sub_repo);
                // As for the source's own cache: a damaged one only holds
                // what can be fetched again, so it is made anew next time.
                if r.is_err()
                    && !stop.load(Ordering::Relaxed)
                    && let Some(damage) = cache::damage(&sub_repo).or_else(|| {
                        source
                            .cache_suspect
                            .load(Ordering::Relaxed)
                            .then(|| "an object could not be read".to_owned())
                    })
                {
                    tracing::warn!(
                        source = %self.name,
                        submodule = %path,
                        url = %shown,
                        %damage,
                        "submodule's git cache is damaged; it is made anew at the next fetch"
                    );
                    drop(sub_repo);
                    let _ = cache::remove(&source.cache_dir);
                }
                r
            })(),
        };
        self.pack_fetches
            .fetch_add(source.pack_fetches(), Ordering::Relaxed);
        self.connections
            .fetch_add(source.connections(), Ordering::Relaxed);
        result
    }

    /// A source for the submodule at `path`, fetched from `url`: this
    /// source's credentials when `url` has the same scheme, host and port,
    /// otherwise only its trust settings (`caFile`, `knownHostsFile`); its
    /// proxy for http(s) URLs; its timeout.
    fn submodule_source(&self, path: &str, url: &str) -> Result<GitSource, SourceError> {
        let display_url = error::strip_userinfo(url);
        let parsed = gix::url::parse(url)
            .map_err(|e| terminal(format!("invalid submodule url {display_url}: {e}")))?;
        let own = gix::url::parse(self.url.as_str())
            .map_err(|e| terminal(format!("invalid url {}: {e}", self.display_url)))?;
        // As git does (CVE-2017-1000117): a host or user that ssh would
        // read as an option is never passed on.
        if parsed.host().is_some_and(|h| h.starts_with('-'))
            || parsed.user().is_some_and(|u| u.starts_with('-'))
        {
            return Err(terminal(format!(
                "submodule url {display_url} is refused: its host or user starts with '-'"
            )));
        }
        if !submodule::scheme_allowed(&own.scheme, &parsed.scheme) {
            return Err(terminal(format!(
                "submodule url {display_url} is refused: a remote repository's submodules may only be fetched over http, https, ssh or git"
            )));
        }
        let auth_spec = if submodule::same_origin(&own, &parsed) {
            self.auth_spec.clone()
        } else {
            weir_config::GitAuth {
                ca_file: self.auth_spec.ca_file.clone(),
                known_hosts_file: self.auth_spec.known_hosts_file.clone(),
                ..Default::default()
            }
        };
        let proxy_spec = matches!(
            parsed.scheme,
            gix::url::Scheme::Http | gix::url::Scheme::Https
        )
        .then(|| self.proxy_spec.clone())
        .flatten();
        let auth = Auth::from_spec(&auth_spec, proxy_spec.as_ref())
            .map_err(|e| terminal(format!("{e} (for submodule {display_url})")))?;
        let name = format!("{}/{path}", self.name);
        Ok(GitSource {
            cache_dir: cache::dir(&self.state_dir, url, &auth.cache_identity()),
            store: artifact::Store::new(&self.state_dir, &name, artifact::Shape::default()),
            composed: compose::Store::new(&self.state_dir, &name),
            includes: Vec::new(),
            recurse_submodules: true,
            state_dir: self.state_dir.clone(),
            name,
            url: url.to_owned(),
            display_url,
            scheme: parsed.scheme,
            wanted: Wanted::Commit {
                id: gix::ObjectId::null(gix::hash::Kind::Sha1),
                branch: None,
            },
            auth: Mutex::new(Arc::new(auth)),
            auth_spec,
            proxy_spec,
            timeout: self.timeout,
            timeout_text: self.timeout_text.clone(),
            pack_fetches: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            sockets: Arc::clone(&self.sockets),
            cache_suspect: AtomicBool::new(false),
            verify: None,
        })
    }

    /// Checks the signatures that `verification` asks for on commit `id`
    /// (and `tag`, the annotated tag object of `wanted`), with the keys read
    /// from their files now (so rotated keys apply at the next fetch).
    fn verify_revision(
        &self,
        repo: &gix::Repository,
        verification: &Verification,
        wanted: &Wanted,
        id: &gix::ObjectId,
        tag: Option<gix::ObjectId>,
    ) -> Result<(), SourceError> {
        let revision = wanted.revision(id);
        let refuse = |why: String| {
            terminal(format!(
                "revision {revision} of {} is not used: {why}",
                self.display_url
            ))
        };
        let keys = verify::Keys::load(&verification.key_files).map_err(&refuse)?;
        let files = verify::describe_files(&verification.key_files);
        if verification.checks_tag() {
            let Some(tag_id) = tag else {
                return Err(refuse(format!(
                    "verify.mode {} needs an annotated, signed tag, and {} is a lightweight tag",
                    verification.mode_name(),
                    wanted.describe()
                )));
            };
            let object = repo.find_object(tag_id).map_err(|e| {
                self.cache_err(format!(
                    "cannot read tag object {tag_id} of {}: {}",
                    self.display_url,
                    error::chain_text(&e)
                ))
            })?;
            let (signature, signed) = verify::split_tag(&object.data)
                .ok_or_else(|| refuse(format!("{} is not signed", wanted.describe())))?;
            let signer = keys.verify(signature, signed).map_err(|e| {
                refuse(format!(
                    "{}: {e} (verify.keyFiles: {files})",
                    wanted.describe()
                ))
            })?;
            tracing::info!(source = %self.name, tag = %tag_id, %signer, "tag signature verified");
        }
        if verification.checks_head() {
            let commit = repo.find_commit(*id).map_err(|e| {
                self.cache_err(format!(
                    "cannot read commit {id} of {}: {}",
                    self.display_url,
                    error::chain_text(&e)
                ))
            })?;
            let signature = commit.signature().map_err(|e| {
                refuse(format!(
                    "cannot read the signature of commit {id}: {}",
                    error::chain_text(&e)
                ))
            })?;
            let Some((signature, signed)) = signature else {
                return Err(refuse(format!("commit {id} is not signed")));
            };
            let signer = keys
                .verify(signature.as_ref(), signed.to_bstring().as_ref())
                .map_err(|e| refuse(format!("commit {id}: {e} (verify.keyFiles: {files})")))?;
            tracing::info!(source = %self.name, commit = %id, %signer, "commit signature verified");
        }
        Ok(())
    }

    /// A transient error from reading the cache repository, which marks the
    /// cache as possibly damaged.
    fn cache_err(&self, message: String) -> SourceError {
        self.cache_suspect.store(true, Ordering::Relaxed);
        transient(message)
    }

    fn net_err(&self, e: &gix::Error) -> SourceError {
        let ssh_stderr = (self.scheme == gix::url::Scheme::Ssh)
            .then(|| std::fs::read_to_string(self.ssh_stderr_path()).ok())
            .flatten();
        let auth = self.auth();
        let secrets = auth.secrets();
        let cx = error::Context {
            url: &self.display_url,
            secrets: &secrets,
            ssh_stderr,
            known_hosts: auth.known_hosts_file(),
            identity_file: auth.identity_file(),
            passphrase_file: auth.identity_passphrase_file(),
            ca_file: auth.ca_file(),
            has_credentials: auth.has_http_credentials(),
            cert_file: auth.cert_file(),
            https: self.scheme == gix::url::Scheme::Https,
            proxy: auth.proxy().map(|p| p.address.as_str()),
            has_proxy_credentials: auth.has_proxy_credentials(),
        };
        let err = error::classify(e, &cx);
        tracing::debug!(
            source = %self.name,
            error = %error::scrub(&error::chain_text(e), &secrets),
            "git operation failed"
        );
        err
    }

    /// Fails when `stop` is set; called between the steps that gix cannot
    /// interrupt itself (connecting, listing refs).
    fn check_stop(&self, stop: &AtomicBool) -> Result<(), SourceError> {
        if stop.load(Ordering::Relaxed) {
            return Err(transient(format!(
                "fetching from {} stopped",
                self.display_url
            )));
        }
        Ok(())
    }

    /// Takes `lock`, giving up when `stop` is set (another fetch of the same
    /// cache may hold it for up to its own timeout).
    fn acquire<'a>(
        &self,
        lock: &'a Mutex<()>,
        stop: &AtomicBool,
    ) -> Result<MutexGuard<'a, ()>, SourceError> {
        loop {
            match lock.try_lock() {
                Ok(g) => return Ok(g),
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) => {
                    if stop.load(Ordering::Relaxed) {
                        return Err(transient(format!(
                            "fetching from {} stopped while waiting for the git cache",
                            self.display_url
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}

/// Writes an executable (0700) script atomically.
fn write_script(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// `sparseCheckout` as paths relative to the root without `./` or a
/// trailing `/`.
///
/// # Errors
/// A message naming an entry that is empty, absolute or leaves the root.
fn sparse_dirs(dirs: &[String]) -> Result<Vec<String>, String> {
    dirs.iter()
        .map(|d| {
            let parts: Vec<&str> = d
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            if d.starts_with('/') || parts.is_empty() || parts.contains(&"..") {
                return Err(format!(
                    "sparseCheckout entry {d:?} must be a directory inside the repository, such as \"deploy/prod\""
                ));
            }
            Ok(parts.join("/"))
        })
        .collect()
}

/// A source's `verify` settings.
#[derive(Debug, Clone)]
struct Verification {
    mode: weir_config::GitVerifyMode,
    key_files: Vec<PathBuf>,
}

impl Verification {
    fn checks_tag(&self) -> bool {
        self.mode != weir_config::GitVerifyMode::Head
    }

    fn checks_head(&self) -> bool {
        self.mode != weir_config::GitVerifyMode::Tag
    }

    fn mode_name(&self) -> &'static str {
        match self.mode {
            weir_config::GitVerifyMode::Head => "HEAD",
            weir_config::GitVerifyMode::Tag => "Tag",
            weir_config::GitVerifyMode::TagAndHead => "TagAndHEAD",
        }
    }

    /// The settings as they shape an artifact (see [`artifact::Shape`]): an
    /// artifact made without verification, or with other keys, is made
    /// (and verified) again.
    fn describe(&self) -> String {
        format!(
            "mode={}\nkeyFiles={}",
            self.mode_name(),
            verify::describe_files(&self.key_files)
        )
    }
}

/// What [`GitSource::fetch_ref`] found.
enum Fetched {
    /// The commit already has an artifact (with this digest): nothing fetched.
    Reused(gix::ObjectId, String),
    /// The commit is in the cache repository (fetched now or earlier), with
    /// the annotated tag object the reference points to, if it does.
    InCache(gix::ObjectId, Option<gix::ObjectId>),
}

/// The commit `name` points to among the advertised `refs`, annotated tags
/// peeled.
fn find_ref(refs: &[gix::protocol::handshake::Ref], name: &str) -> Option<gix::ObjectId> {
    find_ref_and_tag(refs, name).map(|(id, _)| id)
}

/// As [`find_ref`], with the annotated tag object the reference points to
/// when it does (the advertised target, when it was peeled).
fn find_ref_and_tag(
    refs: &[gix::protocol::handshake::Ref],
    name: &str,
) -> Option<(gix::ObjectId, Option<gix::ObjectId>)> {
    refs.iter().find_map(|r| {
        let (n, target, peeled) = r.unpack();
        if n != name {
            return None;
        }
        match (target, peeled) {
            (Some(tag), Some(commit)) if tag != commit => {
                Some((commit.to_owned(), Some(tag.to_owned())))
            }
            (Some(t), _) => Some((t.to_owned(), None)),
            (None, p) => p.map(|c| (c.to_owned(), None)),
        }
    })
}

/// The submodules that `.gitmodules` of `commit` declares (none when the
/// commit has no such file).
fn read_gitmodules(
    repo: &gix::Repository,
    commit: gix::ObjectId,
) -> Result<Vec<submodule::Module>, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read .gitmodules: {e}");
    let tree = repo
        .find_commit(commit)
        .map_err(|e| cannot(&e))?
        .tree()
        .map_err(|e| cannot(&e))?;
    let Some(entry) = tree
        .lookup_entry_by_path(".gitmodules")
        .map_err(|e| cannot(&e))?
    else {
        return Ok(Vec::new());
    };
    let blob = entry.object().map_err(|e| cannot(&e))?;
    submodule::parse(&blob.data)
}

/// Fetch everything down to the root: undo the shallow boundary of earlier
/// depth-1 fetches if there is one.
fn full_history(repo: &gix::Repository) -> Shallow {
    if repo.is_shallow().unwrap_or(false) {
        Shallow::undo()
    } else {
        Shallow::NoChange
    }
}

/// Every git source of `config`, each built once: a source that others
/// include is one shared instance (one set of counters, one credential
/// refresh), as the engine should hold them.
///
/// # Errors
/// The first source that cannot be built, as [`GitSource::new`] says.
pub fn sources(
    config: &weir_config::Config,
) -> Result<BTreeMap<weir_config::Name, Arc<GitSource>>, SourceError> {
    let mut built: BTreeMap<String, Arc<GitSource>> = BTreeMap::new();
    for g in &config.git {
        GitSource::included(config, g.name.as_str(), &mut built, &mut Vec::new())?;
    }
    Ok(config
        .git
        .iter()
        .filter_map(|g| {
            built
                .get(g.name.as_str())
                .map(|s| (g.name.clone(), Arc::clone(s)))
        })
        .collect())
}

/// `e`, an error of git source `dep` included by `parent`, as the parent's
/// error: `git source "parent": included git source "dep"<verb>: <detail>`,
/// the detail without `dep`'s own prefix.
fn included_error(parent: &str, dep: &str, verb: &str, e: SourceError) -> SourceError {
    let detail = e
        .message
        .strip_prefix(&format!("git source {dep:?}: "))
        .unwrap_or(&e.message);
    SourceError {
        message: format!("git source {parent:?}: included git source {dep:?}{verb}: {detail}"),
        transient: e.transient,
    }
}

impl GitSource {
    /// The artifacts of the included sources, in `include` order, each
    /// fetched (or found unchanged) by its own source with its own timeout.
    fn fetch_includes(&self, interrupt: &AtomicBool) -> Result<Vec<Artifact>, SourceError> {
        self.includes
            .iter()
            .map(|inc| {
                inc.source
                    .fetch(interrupt)
                    .map_err(|e| included_error(&self.name, &inc.source.name, " failed", e))
            })
            .collect()
    }

    /// `own` with the included artifacts copied in (see `compose.rs`); the
    /// revision stays `own`'s, as Flux's does, and the digest is the
    /// composed snapshot's.
    fn compose(&self, own: Artifact, parts: &[Artifact]) -> Result<Artifact, SourceError> {
        let store_lock = cache::lock_for(self.composed.root());
        let _guard = store_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let list: Vec<compose::Part<'_>> = self
            .includes
            .iter()
            .zip(parts)
            .map(|(inc, a)| compose::Part {
                name: &inc.source.name,
                from: &inc.from,
                to: &inc.to,
                dir: &a.dir,
                digest: &a.digest,
            })
            .collect();
        let (dir, digest) = self
            .composed
            .compose(
                &own.dir,
                &own.digest,
                &list,
                self.store.shape().ignore.as_deref(),
            )
            .map_err(|e| {
                let message = format!("git source {:?}: {e}", self.name);
                match e {
                    compose::ComposeError::Artifact(_) => transient(message),
                    _ => terminal(message),
                }
            })?;
        Ok(Artifact {
            revision: own.revision,
            dir,
            digest,
        })
    }

    /// This source's own artifact: lists the remote's refs and returns the
    /// artifact of the commit the source follows, fetching and exporting it
    /// only when it has none yet. Gives up after the source's `timeout` or
    /// when `interrupt` is set.
    fn fetch_own(&self, interrupt: &AtomicBool) -> Result<Artifact, SourceError> {
        let stop = AtomicBool::new(false);
        let finished = AtomicBool::new(false);
        let timed_out = AtomicBool::new(false);
        let deadline = Instant::now() + self.timeout;
        if interrupt.load(Ordering::Relaxed) {
            stop.store(true, Ordering::Relaxed);
        }
        let fetch_thread = std::thread::current().id();
        let result = std::thread::scope(|s| {
            // gix polls `stop` while it receives a pack; this watcher turns
            // the caller's interrupt and the deadline into that one flag.
            let watcher = s.spawn(|| {
                while !finished.load(Ordering::Relaxed) {
                    if interrupt.load(Ordering::Relaxed) {
                        stop.store(true, Ordering::Relaxed);
                        self.close_sockets(fetch_thread);
                        break;
                    }
                    if Instant::now() >= deadline {
                        timed_out.store(true, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                        self.close_sockets(fetch_thread);
                        break;
                    }
                    std::thread::park_timeout(Duration::from_millis(20));
                }
            });
            let r = self.fetch_locked(&stop);
            finished.store(true, Ordering::Relaxed);
            self.close_sockets(fetch_thread);
            watcher.thread().unpark();
            r
        });
        let result = match result {
            Err(_) if timed_out.load(Ordering::Relaxed) => Err(transient(format!(
                "fetching from {} timed out after {}",
                self.display_url, self.timeout_text
            ))),
            Err(_) if stop.load(Ordering::Relaxed) => Err(transient(format!(
                "fetching from {} was interrupted",
                self.display_url
            ))),
            r => r,
        };
        result.map_err(|e| {
            let e = self.named(e);
            tracing::debug!(source = %self.name, error = %e.message, transient = e.transient, "git fetch failed");
            e
        })
    }
}

impl Source for GitSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn total_timeout(&self) -> Option<Duration> {
        Some(GitSource::total_timeout(self))
    }

    /// The artifact of the commit the source follows (fetched only when
    /// it moved), with the artifacts of its `include`s copied in: those
    /// are fetched first, each by its own source, so an include that fails
    /// fails this fetch, naming both sources.
    fn fetch(&self, interrupt: &AtomicBool) -> Result<Artifact, SourceError> {
        let parts = self.fetch_includes(interrupt)?;
        let own = self.fetch_own(interrupt)?;
        if self.includes.is_empty() {
            return Ok(own);
        }
        self.compose(own, &parts).inspect_err(|e| {
            tracing::debug!(source = %self.name, error = %e.message, "composing includes failed");
        })
    }
}
