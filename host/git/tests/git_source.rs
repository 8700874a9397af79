//! `GitSource` against the real git servers of `scripts/git-server.sh`
//! (smart HTTP and HTTPS behind nginx with basic and bearer auth, git
//! daemon, sshd), started by `weir_e2e`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use weir_core::source::{Artifact, Source as _, SourceError};
use weir_e2e::{TestRepo, git, git_server, run, var};
use weir_git::GitSource;

/// A state directory and config file location for one test.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        Host {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A source named `name` for `url` following `reference` (TOML inline
    /// table body) with `auth` lines under `[git.auth]`.
    fn try_source(
        &self,
        name: &str,
        url: &str,
        reference: &str,
        auth: &str,
    ) -> Result<GitSource, SourceError> {
        self.try_source_with(name, url, reference, auth, "")
    }

    /// As [`Host::try_source`], with `extra` lines (TOML keys of the
    /// `[[git]]` table) added.
    fn try_source_with(
        &self,
        name: &str,
        url: &str,
        reference: &str,
        auth: &str,
        extra: &str,
    ) -> Result<GitSource, SourceError> {
        let text = format!(
            "version = 1\n[host]\nstateDir = \"{}\"\n\n[[git]]\nname = \"{name}\"\nurl = \"{url}\"\nref = {{ {reference} }}\ntimeout = \"20s\"\n{extra}\n[git.auth]\n{auth}\n",
            self.state().display()
        );
        let config = weir_config::Config::parse(&text, &self.dir.path().join("weir.toml"))
            .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
        GitSource::new(&config, &config.git[0])
    }

    fn source(&self, name: &str, url: &str, reference: &str, auth: &str) -> GitSource {
        self.try_source(name, url, reference, auth)
            .unwrap_or_else(|e| panic!("GitSource::new: {e}"))
    }

    fn source_with(&self, name: &str, url: &str, reference: &str, extra: &str) -> GitSource {
        self.try_source_with(name, url, reference, "", extra)
            .unwrap_or_else(|e| panic!("GitSource::new: {e}"))
    }
}

fn env(key: &str) -> String {
    var(git_server(), key).to_owned()
}

fn fetch(src: &GitSource) -> Artifact {
    src.fetch(&AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("fetch {}: {e} (transient: {})", src.name(), e.transient))
}

/// The error of a fetch that must fail, with the `git source "<name>": `
/// prefix every fetch error starts with checked and removed.
fn fetch_err(src: &GitSource) -> SourceError {
    match src.fetch(&AtomicBool::new(false)) {
        Ok(a) => panic!("fetch {} should fail, got {a:?}", src.name()),
        Err(e) => unnamed(src, e),
    }
}

fn unnamed(src: &GitSource, e: SourceError) -> SourceError {
    let prefix = format!("git source {:?}: ", src.name());
    let Some(rest) = e.message.strip_prefix(&prefix) else {
        panic!("error does not name the source ({prefix}): {}", e.message);
    };
    SourceError {
        message: rest.to_owned(),
        transient: e.transient,
    }
}

fn read(a: &Artifact, rel: &str) -> String {
    std::fs::read_to_string(a.dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn anon_url(repo: &TestRepo) -> String {
    format!("{}/anon/{}", env("WEIR_GIT_HTTP_URL"), repo.rel)
}

fn ssh_auth() -> String {
    format!(
        "identityFile = \"{}\"\nknownHostsFile = \"{}\"",
        env("WEIR_GIT_SSH_KEY"),
        env("WEIR_GIT_SSH_KNOWN_HOSTS")
    )
}

#[test]
fn first_fetch_exports_the_tree_with_modes_and_symlinks() {
    let repo = TestRepo::new("git-modes");
    // TestRepo commits plain files; make one with an executable and a
    // symlink from a work tree of our own.
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    run(git().args(["init", "-q", "-b", "main"]).arg(w));
    std::fs::create_dir_all(w.join("deploy/base")).expect("mkdir");
    std::fs::write(w.join("deploy/base/app.yaml"), "kind: ConfigMap\n").expect("write");
    std::fs::write(w.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(w.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("deploy/base/app.yaml", w.join("link.yaml")).expect("symlink");
    run(git().arg("-C").arg(w).args(["add", "-A"]));
    run(git().arg("-C").arg(w).args(["commit", "-q", "-m", "modes"]));
    run(git()
        .arg("-C")
        .arg(w)
        .args(["push", "-q"])
        .arg(&repo.bare)
        .arg("HEAD:refs/heads/main"));
    let sha = run(git().arg("-C").arg(w).args(["rev-parse", "HEAD"]))
        .trim()
        .to_owned();

    let host = Host::new();
    let src = host.source("apps", &anon_url(&repo), "branch = \"main\"", "");
    let a = fetch(&src);
    assert_eq!(a.revision, format!("main@sha1:{sha}"));
    assert_eq!(a.dir, host.state().join("artifacts/apps").join(&sha));
    assert!(
        a.digest.starts_with("sha256:") && a.digest.len() == 7 + 64,
        "{}",
        a.digest
    );
    assert_eq!(read(&a, "deploy/base/app.yaml"), "kind: ConfigMap\n");
    let mode = |rel: &str| {
        std::fs::symlink_metadata(a.dir.join(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("run.sh"), 0o755);
    assert_eq!(mode("deploy/base/app.yaml"), 0o644);
    assert_eq!(
        std::fs::read_link(a.dir.join("link.yaml")).expect("symlink"),
        Path::new("deploy/base/app.yaml")
    );
    assert_eq!(names(&a.dir), ["deploy", "link.yaml", "run.sh"], "no .git");
    // The cache is a bare repository named after URL and identity.
    let cache = src.cache_dir();
    assert!(cache.starts_with(host.state().join("git")));
    assert!(cache.join("objects").is_dir() && cache.join("HEAD").is_file());
}

#[test]
fn an_unchanged_remote_costs_one_listing_and_new_commits_new_artifacts() {
    let repo = TestRepo::new("git-reuse");
    let sha1 = repo.commit(&[("a.txt", Some("one"))], "one");
    let host = Host::new();
    let src = host.source("reuse", &anon_url(&repo), "branch = \"main\"", "");

    let a1 = fetch(&src);
    assert_eq!(src.pack_fetches(), 1);
    assert_eq!(src.connections(), 1, "one listing, and the fetch on it");
    let packs = src.cache_dir().join("objects/pack");
    let packs_before = names(&packs);
    let mtime = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let packs_mtime = mtime(&packs);

    // No new commit: the same artifact, and nothing was fetched.
    let again = fetch(&src);
    assert_eq!(again, a1);
    assert_eq!(src.pack_fetches(), 1, "a no-change check must not fetch");
    assert_eq!(src.connections(), 2, "a no-change check is one listing");
    assert_eq!(names(&packs), packs_before);
    assert_eq!(mtime(&packs), packs_mtime);

    // A new commit: a new artifact with the new content.
    let sha2 = repo.commit(&[("a.txt", Some("two")), ("b.txt", Some("b"))], "two");
    let a2 = fetch(&src);
    assert_eq!(src.pack_fetches(), 2);
    assert_eq!(a2.revision, format!("main@sha1:{sha2}"));
    assert_eq!(read(&a2, "a.txt"), "two");
    assert_ne!(a2.digest, a1.digest);
    assert!(a1.dir.is_dir(), "the previous artifact is kept");

    // A third: only the two newest artifacts stay.
    let sha3 = repo.commit(&[("b.txt", None)], "three");
    let a3 = fetch(&src);
    assert_eq!(a3.revision, format!("main@sha1:{sha3}"));
    assert!(!a3.dir.join("b.txt").exists());
    let kept: Vec<String> = names(&host.state().join("artifacts/reuse"))
        .into_iter()
        .filter(|n| n.len() == 40)
        .collect();
    let mut want = vec![sha2.clone(), sha3.clone()];
    want.sort();
    assert_eq!(kept, want, "{sha1} should have been deleted");
}

#[test]
fn tags_lightweight_and_annotated_resolve_to_their_commit() {
    let repo = TestRepo::new("git-tags");
    let sha1 = repo.commit(&[("v.txt", Some("1"))], "v1");
    repo.tag("v1.0.0");
    let sha2 = repo.commit(&[("v.txt", Some("2"))], "v2");
    run(git()
        .arg("-C")
        .arg(&repo.bare)
        .args(["tag", "-a", "v2.0.0", "-m", "release 2", &sha2]));
    repo.commit(&[("v.txt", Some("3"))], "after the tags");

    let host = Host::new();
    let light = host.source("light", &anon_url(&repo), "tag = \"v1.0.0\"", "");
    let a = fetch(&light);
    assert_eq!(a.revision, format!("v1.0.0@sha1:{sha1}"));
    assert_eq!(read(&a, "v.txt"), "1");

    let annotated = host.source("annotated", &anon_url(&repo), "tag = \"v2.0.0\"", "");
    let a = fetch(&annotated);
    assert_eq!(a.revision, format!("v2.0.0@sha1:{sha2}"));
    assert_eq!(read(&a, "v.txt"), "2");

    let missing = host.source("missing-tag", &anon_url(&repo), "tag = \"v9\"", "");
    let e = fetch_err(&missing);
    assert!(!e.transient);
    assert_eq!(
        e.message,
        format!("tag \"v9\" not found in {}", anon_url(&repo))
    );
}

#[test]
fn a_semver_range_follows_the_highest_matching_tag() {
    let repo = TestRepo::new("git-semver");
    repo.commit(&[("v.txt", Some("1.0"))], "1.0");
    repo.tag("v1.0.0");
    let sha12 = repo.commit(&[("v.txt", Some("1.2"))], "1.2");
    repo.tag("v1.2.0");
    repo.commit(&[("v.txt", Some("1.10-rc"))], "1.10 rc");
    repo.tag("v1.10.0-rc.1");
    repo.commit(&[("v.txt", Some("2.0"))], "2.0");
    repo.tag("v2.0.0");
    repo.tag("latest");

    let host = Host::new();
    let src = host.source(
        "semver",
        &anon_url(&repo),
        "semver = \">=1.0.0 <2.0.0\"",
        "",
    );
    let a = fetch(&src);
    // v1.10.0-rc.1 is a pre-release: not selected by a range without one.
    assert_eq!(a.revision, format!("v1.2.0@sha1:{sha12}"));
    assert_eq!(read(&a, "v.txt"), "1.2");

    // A no-change check costs one ref listing, as for a branch.
    let connections = src.connections();
    assert_eq!(fetch(&src), a);
    assert_eq!(src.connections(), connections + 1);
    assert_eq!(src.pack_fetches(), 1);

    // A new matching tag moves the source; numeric order, not text order.
    let sha110 = repo.commit(&[("v.txt", Some("1.10"))], "1.10");
    repo.tag("v1.10.0");
    let a = fetch(&src);
    assert_eq!(a.revision, format!("v1.10.0@sha1:{sha110}"));
    // An annotated tag is peeled to its commit by the listing too.
    let sha111 = repo.commit(&[("v.txt", Some("1.11"))], "1.11");
    run(git()
        .arg("-C")
        .arg(&repo.bare)
        .args(["tag", "-a", "v1.11.0", "-m", "1.11", &sha111]));
    let a = fetch(&src);
    assert_eq!(a.revision, format!("v1.11.0@sha1:{sha111}"));
    let connections = src.connections();
    assert_eq!(fetch(&src), a);
    assert_eq!(src.connections(), connections + 1);

    let caret = host.source("caret", &anon_url(&repo), "semver = \"^2\"", "");
    assert!(fetch(&caret).revision.starts_with("v2.0.0@sha1:"));

    let none = host.source("none", &anon_url(&repo), "semver = \"~3.1\"", "");
    let e = fetch_err(&none);
    assert!(!e.transient);
    assert!(
        e.message.contains("matches semver range \"~3.1\""),
        "{}",
        e.message
    );

    let bad = host.try_source("bad", &anon_url(&repo), "semver = \">=1 <x.y\"", "");
    let e = bad.expect_err("bad range refused when the source is made");
    assert!(e.message.contains("ref.semver"), "{}", e.message);
}

#[test]
fn a_full_ref_name_is_followed() {
    let repo = TestRepo::new("git-refname");
    repo.commit(&[("x", Some("main"))], "main");
    let pr = repo.commit(&[("x", Some("pr"))], "pr");
    run(git()
        .arg("-C")
        .arg(&repo.bare)
        .args(["update-ref", "refs/pull/1/head", &pr]));
    repo.commit(&[("x", Some("main again"))], "main again");
    let host = Host::new();
    let src = host.source("pr", &anon_url(&repo), "name = \"refs/pull/1/head\"", "");
    let a = fetch(&src);
    assert_eq!(a.revision, format!("refs/pull/1/head@sha1:{pr}"));
    assert_eq!(read(&a, "x"), "pr");
    // Flux writes the absolute reference for `ref.name` (source-controller
    // #1036), also for branches and tags, where `ref.branch`/`ref.tag` give
    // the short name.
    let main = repo.commit(&[("x", Some("main 3"))], "main 3");
    run(git()
        .arg("-C")
        .arg(&repo.bare)
        .args(["tag", "-a", "v3", "-m", "three", &main]));
    let by_name = fetch(&host.source(
        "by-name",
        &anon_url(&repo),
        "name = \"refs/heads/main\"",
        "",
    ));
    assert_eq!(by_name.revision, format!("refs/heads/main@sha1:{main}"));
    let tag_by_name = fetch(&host.source(
        "tag-by-name",
        &anon_url(&repo),
        "name = \"refs/tags/v3\"",
        "",
    ));
    assert_eq!(tag_by_name.revision, format!("refs/tags/v3@sha1:{main}"));
    let by_branch = fetch(&host.source("by-branch", &anon_url(&repo), "branch = \"main\"", ""));
    assert_eq!(by_branch.revision, format!("main@sha1:{main}"));
    let by_tag = fetch(&host.source("by-tag", &anon_url(&repo), "tag = \"v3\"", ""));
    assert_eq!(by_tag.revision, format!("v3@sha1:{main}"));
}

#[test]
fn a_pinned_commit_is_fetched_by_id_over_http_daemon_and_ssh() {
    let repo = TestRepo::new("git-commit");
    let old = repo.commit(&[("c", Some("old"))], "old");
    repo.commit(&[("c", Some("new"))], "new");
    let host = Host::new();
    let reference = format!("commit = \"{old}\"");
    // All three servers speak protocol v2, which lets a client want any
    // commit: it is fetched by id, with depth 1.
    let http = host.source("pin-http", &anon_url(&repo), &reference, "");
    let a = fetch(&http);
    assert_eq!(a.revision, format!("sha1:{old}"));
    assert_eq!(read(&a, "c"), "old");
    assert_eq!(http.pack_fetches(), 1);
    assert!(is_shallow(http.cache_dir()), "fetched by id with depth 1");
    // Pinned: a second fetch never asks the server.
    let fetches = http.pack_fetches();
    assert_eq!(fetch(&http), a);
    assert_eq!(http.pack_fetches(), fetches);

    let daemon_url = format!("{}/{}", env("WEIR_GIT_DAEMON_URL"), repo.rel);
    let daemon = host.source("pin-daemon", &daemon_url, &reference, "");
    let b = fetch(&daemon);
    assert_eq!(b.revision, a.revision);
    assert_eq!(b.digest, a.digest);

    let ssh_url = format!("{}/repos/{}", env("WEIR_GIT_SSH_URL"), repo.rel);
    let ssh = host.source("pin-ssh", &ssh_url, &reference, &ssh_auth());
    assert_eq!(fetch(&ssh).digest, a.digest);

    // With a branch, the revision names the branch, as in Flux.
    let on_branch = host.source(
        "pin-branch",
        &anon_url(&repo),
        &format!("branch = \"main\", commit = \"{old}\""),
        "",
    );
    assert_eq!(fetch(&on_branch).revision, format!("main@sha1:{old}"));

    let unknown = host.source(
        "pin-unknown",
        &anon_url(&repo),
        "commit = \"0123456789012345678901234567890123456789\"",
        "",
    );
    let e = fetch_err(&unknown);
    assert!(!e.transient);
    assert!(e.message.contains("not found in"), "{}", e.message);
}

fn is_shallow(cache: &Path) -> bool {
    std::fs::metadata(cache.join("shallow")).is_ok_and(|m| m.len() > 0)
}

#[test]
fn a_pinned_commit_falls_back_to_all_branches_when_the_server_speaks_v1() {
    let repo = TestRepo::new("git-commit-v1");
    let old = repo.commit(&[("c", Some("old"))], "old");
    repo.commit(&[("c", Some("new"))], "new");
    repo.tag("v-new");
    let host = Host::new();
    // A branch source makes the shared cache (shallow, depth 1)...
    let tip = host.source("tip", &anon_url(&repo), "branch = \"main\"", "");
    fetch(&tip);
    let cache = tip.cache_dir().to_owned();
    assert!(is_shallow(&cache));
    // ...which is then told to speak protocol v1, where git's upload-pack
    // only serves advertised tips unless uploadpack.allow*SHA1InWant is set
    // (it is not, and is not advertised).
    run(git()
        .args(["config", "-f"])
        .arg(cache.join("config"))
        .args(["protocol.version", "1"]));
    let pin = host.source(
        "pin-v1",
        &anon_url(&repo),
        &format!("commit = \"{old}\""),
        "",
    );
    assert_eq!(pin.cache_dir(), cache);
    let a = fetch(&pin);
    assert_eq!(a.revision, format!("sha1:{old}"));
    assert_eq!(read(&a, "c"), "old");
    assert_eq!(pin.pack_fetches(), 1, "one fetch of all branches and tags");
    assert!(!is_shallow(&cache), "the fallback fetched the full history");
}

#[test]
fn an_interrupted_fetch_stops_before_fetching() {
    let repo = TestRepo::new("git-interrupt");
    repo.commit(&[("i", Some("i"))], "c");
    let host = Host::new();
    let src = host.source("interrupted", &anon_url(&repo), "branch = \"main\"", "");
    let e = src
        .fetch(&AtomicBool::new(true))
        .expect_err("interrupted before it started");
    let e = unnamed(&src, e);
    assert!(e.transient);
    assert_eq!(
        e.message,
        format!("fetching from {} was interrupted", anon_url(&repo))
    );
    assert_eq!(src.pack_fetches(), 0);
}

#[test]
fn the_digest_is_the_same_for_the_same_commit_from_two_sources() {
    let repo = TestRepo::new("git-digest");
    repo.commit(
        &[("k/v.yaml", Some("a: 1\n")), ("r.md", Some("# r\n"))],
        "c",
    );
    let host = Host::new();
    let http = fetch(&host.source("d-http", &anon_url(&repo), "branch = \"main\"", ""));
    let daemon_url = format!("{}/{}", env("WEIR_GIT_DAEMON_URL"), repo.rel);
    let daemon = fetch(&host.source("d-daemon", &daemon_url, "branch = \"main\"", ""));
    assert_eq!(http.digest, daemon.digest);
    assert_eq!(http.revision, daemon.revision);
    assert_ne!(http.dir, daemon.dir);
}

#[test]
fn sources_with_the_same_url_and_identity_share_one_cache() {
    let repo = TestRepo::new("git-share");
    repo.commit(&[("f", Some("1"))], "one");
    let host = Host::new();
    let a = host.source("share-a", &anon_url(&repo), "branch = \"main\"", "");
    let b = host.source("share-b", &anon_url(&repo), "branch = \"main\"", "");
    assert_eq!(a.cache_dir(), b.cache_dir());
    fetch(&a);
    let art = fetch(&b);
    assert_eq!(
        b.pack_fetches(),
        0,
        "the commit was already in the shared cache"
    );
    assert_eq!(read(&art, "f"), "1");
    let user = host.source(
        "share-user",
        &format!("{}/basic/{}", env("WEIR_GIT_HTTP_URL"), repo.rel),
        "branch = \"main\"",
        &format!(
            "username = \"weir\"\npassword = \"{}\"",
            env("WEIR_GIT_HTTP_PASSWORD")
        ),
    );
    assert_ne!(user.cache_dir(), a.cache_dir());
}

#[test]
fn http_basic_auth_works_and_a_wrong_password_is_a_clear_terminal_error() {
    let repo = TestRepo::new("git-basic");
    let sha = repo.commit(&[("s", Some("secret stuff"))], "c");
    let url = format!("{}/basic/{}", env("WEIR_GIT_HTTP_URL"), repo.rel);
    let host = Host::new();
    let ok = host.source(
        "basic",
        &url,
        "branch = \"main\"",
        &format!(
            "username = \"weir\"\npasswordFile = \"{}\"",
            env("WEIR_GIT_HTTP_PASSWORD_FILE")
        ),
    );
    assert_eq!(fetch(&ok).revision, format!("main@sha1:{sha}"));

    let wrong = host.source(
        "basic-wrong",
        &url,
        "branch = \"main\"",
        "username = \"weir\"\npassword = \"not-the-password\"",
    );
    let e = fetch_err(&wrong);
    assert!(!e.transient, "{}", e.message);
    assert!(
        e.message
            .starts_with(&format!("authentication failed for {url}: ")),
        "{}",
        e.message
    );
    assert!(!e.message.contains("not-the-password"), "{}", e.message);

    let none = host.source("basic-none", &url, "branch = \"main\"", "");
    let e = fetch_err(&none);
    assert!(!e.transient);
    assert!(
        e.message.contains("authentication failed") && e.message.contains("none are configured"),
        "{}",
        e.message
    );
}

#[test]
fn http_bearer_tokens_work_and_a_wrong_token_is_a_clear_terminal_error() {
    let repo = TestRepo::new("git-bearer");
    let sha = repo.commit(&[("t", Some("t"))], "c");
    let url = format!("{}/bearer/{}", env("WEIR_GIT_HTTP_URL"), repo.rel);
    let host = Host::new();
    let ok = host.source(
        "bearer",
        &url,
        "branch = \"main\"",
        &format!("bearerTokenFile = \"{}\"", env("WEIR_GIT_HTTP_TOKEN_FILE")),
    );
    assert_eq!(fetch(&ok).revision, format!("main@sha1:{sha}"));
    let inline = host.source(
        "bearer-inline",
        &url,
        "branch = \"main\"",
        &format!("bearerToken = \"{}\"", env("WEIR_GIT_HTTP_TOKEN")),
    );
    assert_eq!(fetch(&inline).revision, format!("main@sha1:{sha}"));

    let wrong = host.source(
        "bearer-wrong",
        &url,
        "branch = \"main\"",
        "bearerToken = \"wrong-token-123\"",
    );
    let e = fetch_err(&wrong);
    assert!(!e.transient, "{}", e.message);
    assert!(
        e.message
            .starts_with(&format!("authentication failed for {url}: ")),
        "{}",
        e.message
    );
    assert!(!e.message.contains("wrong-token-123"), "{}", e.message);
}

#[test]
fn https_needs_the_ca_file_and_says_so_without_it() {
    let repo = TestRepo::new("git-https");
    let sha = repo.commit(&[("h", Some("h"))], "c");
    let url = format!("{}/basic/{}", env("WEIR_GIT_HTTPS_URL"), repo.rel);
    let creds = format!(
        "username = \"weir\"\npassword = \"{}\"",
        env("WEIR_GIT_HTTP_PASSWORD")
    );
    let host = Host::new();
    let ok = host.source(
        "https",
        &url,
        "branch = \"main\"",
        &format!("{creds}\ncaFile = \"{}\"", env("WEIR_GIT_CA")),
    );
    assert_eq!(fetch(&ok).revision, format!("main@sha1:{sha}"));

    // This machine sets GIT_SSL_CAINFO, SSL_CERT_FILE etc.; none of them
    // holds the test CA, and weir must not pick up git's variables anyway.
    let untrusted = host.source("https-no-ca", &url, "branch = \"main\"", &creds);
    let e = fetch_err(&untrusted);
    assert!(!e.transient, "{}", e.message);
    assert!(
        e.message
            .contains(&format!("TLS certificate of {url} is not trusted")),
        "{}",
        e.message
    );
    assert!(e.message.contains("auth.caFile"), "{}", e.message);
}

#[test]
fn git_daemon_serves_anonymous_fetches() {
    let repo = TestRepo::new("git-daemon");
    let sha = repo.commit(&[("d", Some("daemon"))], "c");
    let url = format!("{}/{}", env("WEIR_GIT_DAEMON_URL"), repo.rel);
    let host = Host::new();
    let a = fetch(&host.source("daemon", &url, "branch = \"main\"", ""));
    assert_eq!(a.revision, format!("main@sha1:{sha}"));
    assert_eq!(read(&a, "d"), "daemon");
}

#[test]
fn ssh_with_key_and_known_hosts_works_and_a_wrong_host_key_is_refused() {
    let repo = TestRepo::new("git-ssh");
    let sha = repo.commit(&[("s", Some("ssh"))], "c");
    let url = format!("{}/repos/{}", env("WEIR_GIT_SSH_URL"), repo.rel);
    let host = Host::new();
    let src = host.source("ssh", &url, "branch = \"main\"", &ssh_auth());
    let a = fetch(&src);
    assert_eq!(a.revision, format!("main@sha1:{sha}"));
    assert_eq!(read(&a, "s"), "ssh");
    assert_eq!(fetch(&src), a);
    assert_eq!(src.pack_fetches(), 1);

    let wrong_kh = env("WEIR_GIT_SSH_KNOWN_HOSTS_WRONG");
    let wrong = host.source(
        "ssh-wrong-host",
        &url,
        "branch = \"main\"",
        &format!(
            "identityFile = \"{}\"\nknownHostsFile = \"{wrong_kh}\"",
            env("WEIR_GIT_SSH_KEY")
        ),
    );
    let e = fetch_err(&wrong);
    assert!(!e.transient, "{}", e.message);
    assert!(
        e.message.starts_with("host key verification failed for "),
        "{}",
        e.message
    );
    assert!(e.message.contains(&wrong_kh), "{}", e.message);
    let shown = url.replace("root@", "");
    assert!(e.message.contains(&shown), "{}", e.message);
}

#[test]
fn an_unreachable_server_is_a_transient_error() {
    let url = run(Command::new("bash")
        .arg(weir_e2e::repo_root().join("scripts/git-server.sh"))
        .arg("unreachable-url"))
    .trim()
    .to_owned();
    let host = Host::new();
    let e = fetch_err(&host.source("gone", &url, "branch = \"main\"", ""));
    assert!(e.transient, "{}", e.message);
    assert!(
        e.message.starts_with(&format!("cannot reach {url}: ")),
        "{}",
        e.message
    );
}

#[test]
fn a_missing_branch_is_a_clear_terminal_error() {
    let repo = TestRepo::new("git-nobranch");
    repo.commit(&[("f", Some("f"))], "c");
    let host = Host::new();
    for (name, url, auth) in [
        ("nb-http", anon_url(&repo), String::new()),
        (
            "nb-ssh",
            format!("{}/repos/{}", env("WEIR_GIT_SSH_URL"), repo.rel),
            ssh_auth(),
        ),
    ] {
        let e = fetch_err(&host.source(name, &url, "branch = \"nope\"", &auth));
        assert!(!e.transient, "{}", e.message);
        let shown = url.replace("root@", "");
        assert_eq!(e.message, format!("branch \"nope\" not found in {shown}"));
    }
    // The default branch is master, as in Flux.
    let e = fetch_err(&host.source("nb-default", &anon_url(&repo), "", ""));
    assert!(
        e.message.starts_with("branch \"master\" not found"),
        "{}",
        e.message
    );
}

#[test]
fn a_missing_credential_file_is_a_config_error_naming_it() {
    let host = Host::new();
    let e = host
        .try_source(
            "nofile",
            "https://127.0.0.1:1/x.git",
            "branch = \"main\"",
            "username = \"u\"\npasswordFile = \"secrets/pw\"",
        )
        .expect_err("missing file");
    assert!(!e.transient);
    assert!(e.message.contains("auth.passwordFile"), "{}", e.message);
    assert!(e.message.contains("secrets/pw"), "{}", e.message);
    assert!(e.message.contains("\"nofile\""), "{}", e.message);
}

/// A TCP server on loopback that accepts connections and never says a word.
fn silent_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in l.incoming() {
            open.push(s);
        }
    });
    port
}

#[test]
fn a_silent_server_times_out_over_http_and_git_daemon() {
    let port = silent_server();
    let host = Host::new();
    for (name, url) in [
        ("silent-git", format!("git://127.0.0.1:{port}/x.git")),
        ("silent-http", format!("http://127.0.0.1:{port}/anon/x.git")),
    ] {
        let text = format!(
            "version = 1\n[host]\nstateDir = \"{}\"\n\n[[git]]\nname = \"{name}\"\nurl = \"{url}\"\ntimeout = \"2s\"\n",
            host.state().display()
        );
        let config =
            weir_config::Config::parse(&text, &host.dir.path().join("weir.toml")).expect("config");
        let src = GitSource::new(&config, &config.git[0]).expect("source");
        let started = std::time::Instant::now();
        let e = fetch_err(&src);
        let took = started.elapsed();
        assert!(e.transient, "{}", e.message);
        assert_eq!(e.message, format!("fetching from {url} timed out after 2s"));
        assert!(
            took < std::time::Duration::from_secs(10),
            "{url}: gave up only after {took:?}"
        );
    }
}

/// The pack files (`*.pack`) of a cache repository.
fn packs(cache: &Path) -> Vec<PathBuf> {
    names(&cache.join("objects/pack"))
        .into_iter()
        .filter(|n| n.ends_with(".pack"))
        .map(|n| cache.join("objects/pack").join(n))
        .collect()
}

#[test]
fn a_cache_with_a_deleted_pack_is_detected_and_rebuilt() {
    let repo = TestRepo::new("git-nopack");
    repo.commit(&[("f", Some("1"))], "one");
    let host = Host::new();
    let src = host.source("nopack", &anon_url(&repo), "branch = \"main\"", "");
    let a1 = fetch(&src);
    let cache = src.cache_dir().to_owned();
    let gone = packs(&cache);
    assert!(!gone.is_empty());
    for p in &gone {
        std::fs::remove_file(p).expect("delete pack");
    }
    // Nothing moved: the artifact is still good and is reused.
    assert_eq!(fetch(&src), a1);
    // A new commit needs the cache: it is found broken and made anew.
    let sha2 = repo.commit(&[("f", Some("2"))], "two");
    let a2 = fetch(&src);
    assert_eq!(a2.revision, format!("main@sha1:{sha2}"));
    assert_eq!(read(&a2, "f"), "2");
    assert!(a1.dir.is_dir(), "the last good artifact is kept");
    for p in &gone {
        assert!(!p.exists(), "the old pack is not back: {}", p.display());
    }
    assert_eq!(packs(&cache).len(), 1, "one fresh pack");
}

#[test]
fn a_cache_with_a_garbled_pack_is_detected_and_rebuilt() {
    let repo = TestRepo::new("git-badpack");
    let sha = repo.commit(
        &[("big.txt", Some(&"weir ".repeat(20_000))), ("g", Some("1"))],
        "one",
    );
    let host = Host::new();
    let first = host.source("badpack-a", &anon_url(&repo), "branch = \"main\"", "");
    let a = fetch(&first);
    for p in packs(first.cache_dir()) {
        let mut bytes = std::fs::read(&p).expect("read pack");
        let len = bytes.len();
        for b in &mut bytes[12..len - 20] {
            *b = 0x5a;
        }
        std::fs::write(&p, bytes).expect("garble pack");
    }
    // A second source on the same cache needs the commit's objects to make
    // its own artifact: reading them fails, the cache is made anew, and the
    // artifact is the same as the first one.
    let second = host.source("badpack-b", &anon_url(&repo), "branch = \"main\"", "");
    assert_eq!(second.cache_dir(), first.cache_dir());
    let b = fetch(&second);
    assert_eq!(b.revision, format!("main@sha1:{sha}"));
    assert_eq!(b.digest, a.digest);
    assert_eq!(second.pack_fetches(), 1, "fetched again into the new cache");
}

/// Everything logged in this test process, at every level (the test
/// binary's global subscriber, installed on first use; `log` records of
/// the HTTP and TLS crates are forwarded to it too).
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        struct Sink(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(buf))
            .try_init()
            .expect("install the log capture");
        buf
    })
}

/// Every file under `dir` (recursively, symlinks not followed) whose bytes
/// contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file()
                && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn credentials_never_appear_in_logs_errors_or_the_state_dir() {
    let logs = captured_logs();
    let repo = TestRepo::new("git-secrets");
    repo.commit(&[("s", Some("s"))], "c");
    let password = env("WEIR_GIT_HTTP_PASSWORD");
    let token = env("WEIR_GIT_HTTP_TOKEN");
    let wrong_password = "wrong-pw-4f1c9e0d7b";
    let wrong_token = "wrong-token-8a2d6c3e51";
    let basic = |u: &str| format!("{}/basic/{}", u, repo.rel);
    let bearer = format!("{}/bearer/{}", env("WEIR_GIT_HTTP_URL"), repo.rel);
    let http = env("WEIR_GIT_HTTP_URL");
    let https = env("WEIR_GIT_HTTPS_URL");
    let ca = format!("caFile = \"{}\"", env("WEIR_GIT_CA"));
    let with_password = |p: &str| format!("username = \"weir\"\npassword = \"{p}\"");

    let host = Host::new();
    let mut errors = Vec::new();
    let mut outcome = |src: GitSource, ok: bool| {
        let r = src.fetch(&AtomicBool::new(false));
        assert_eq!(r.is_ok(), ok, "{}: {r:?}", src.name());
        if let Err(e) = r {
            errors.push(e.message);
        }
        errors.push(format!("{src:?}"));
    };
    let b = "branch = \"main\"";
    outcome(
        host.source("s-basic", &basic(&http), b, &with_password(&password)),
        true,
    );
    outcome(
        host.source(
            "s-basic-tls",
            &basic(&https),
            b,
            &format!("{}\n{ca}", with_password(&password)),
        ),
        true,
    );
    outcome(
        host.source(
            "s-basic-wrong",
            &basic(&http),
            b,
            &with_password(wrong_password),
        ),
        false,
    );
    outcome(
        host.source(
            "s-bearer",
            &bearer,
            b,
            &format!("bearerToken = \"{token}\""),
        ),
        true,
    );
    outcome(
        host.source(
            "s-bearer-wrong",
            &bearer,
            b,
            &format!("bearerToken = \"{wrong_token}\""),
        ),
        false,
    );
    // A password in the URL itself (not how weir takes credentials) is never
    // shown either.
    let inline = basic(&http).replace("://", &format!("://weir:{wrong_password}@"));
    outcome(host.source("s-inline", &inline, b, ""), false);
    outcome(
        host.source(
            "s-gone",
            &format!("{}/basic/none.git", env("WEIR_GIT_HTTPS_URL")),
            b,
            &format!("{}\n{ca}", with_password(&password)),
        ),
        false,
    );

    let encoded = |u: &str, p: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    };
    let secrets = [
        password.clone(),
        token.clone(),
        wrong_password.to_owned(),
        wrong_token.to_owned(),
        encoded("weir", &password),
        encoded("weir", wrong_password),
    ];
    let logged = String::from_utf8_lossy(
        &logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    assert!(
        logged.contains("s-basic-wrong"),
        "the capture works and saw this test's fetches"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret was logged");
        for e in &errors {
            assert!(!e.contains(secret.as_str()), "a secret in an error: {e}");
        }
        let files = files_containing(&host.state(), secret.as_bytes());
        assert!(files.is_empty(), "a secret in the state dir: {files:?}");
    }
}

#[test]
fn a_failing_fetch_keeps_the_last_good_artifact() {
    let repo = TestRepo::new("git-lastgood");
    let sha = repo.commit(&[("f", Some("good"))], "good");
    let host = Host::new();
    let src = host.source("lastgood", &anon_url(&repo), "branch = \"main\"", "");
    let good = fetch(&src);
    // The repository disappears from the server: a clear error, and the
    // artifact stays where it was.
    let hidden = repo.bare.with_extension("hidden");
    std::fs::rename(&repo.bare, &hidden).expect("hide repo");
    let e = fetch_err(&src);
    std::fs::rename(&hidden, &repo.bare).expect("restore repo");
    assert!(
        e.message
            .starts_with(&format!("repository not found at {}", anon_url(&repo))),
        "{}",
        e.message
    );
    assert_eq!(read(&good, "f"), "good");
    assert_eq!(fetch(&src), good);
    assert_eq!(good.revision, format!("main@sha1:{sha}"));
}

#[test]
fn an_unknown_ssh_host_is_refused_naming_the_known_hosts_file() {
    let repo = TestRepo::new("git-ssh-unknown");
    repo.commit(&[("s", Some("s"))], "c");
    let url = format!("{}/repos/{}", env("WEIR_GIT_SSH_URL"), repo.rel);
    let host = Host::new();
    let empty = host.dir.path().join("known_hosts_empty");
    std::fs::write(&empty, "").expect("write");
    let src = host.source(
        "ssh-unknown-host",
        &url,
        "branch = \"main\"",
        &format!(
            "identityFile = \"{}\"\nknownHostsFile = \"{}\"",
            env("WEIR_GIT_SSH_KEY"),
            empty.display()
        ),
    );
    let e = fetch_err(&src);
    assert!(!e.transient, "{}", e.message);
    assert_eq!(
        e.message,
        format!(
            "host key verification failed for {}: the server's host key is not in auth.knownHostsFile {}",
            url.replace("root@", ""),
            empty.display()
        )
    );
}

/// Every file and symlink in an artifact, as sorted relative paths.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("list").flatten() {
            let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().expect("type").is_dir() {
                stack.push((e.path(), format!("{rel}/")));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn default_exclusions_sourceignore_files_and_ignore_shape_the_artifact_and_its_digest() {
    let repo = TestRepo::new("git-ignore");
    let sha = repo.commit(
        &[
            ("deploy/app.yaml", Some("kind: ConfigMap\n")),
            ("deploy/.sourceignore", Some("# local rules\n*.tmp\n")),
            ("deploy/scratch.tmp", Some("x")),
            ("docs/guide.md", Some("# guide\n")),
            ("logo.png", Some("png")),
            (".github/workflows/ci.yaml", Some("on: push\n")),
            (".gitattributes", Some("* text=auto\n")),
            ("README.md", Some("# r\n")),
        ],
        "c",
    );
    let host = Host::new();

    // Only the .sourceignore file's own pattern: Flux's defaults are
    // replaced by it (images and CI files stay), git's dot files never do.
    let plain = fetch(&host.source("ign-plain", &anon_url(&repo), "branch = \"main\"", ""));
    assert_eq!(
        files(&plain.dir),
        [
            ".github/workflows/ci.yaml",
            "README.md",
            "deploy/.sourceignore",
            "deploy/app.yaml",
            "docs/guide.md",
            "logo.png",
        ]
    );

    // `ignore` comes after the .sourceignore files, and a later pattern
    // wins: its re-include of deploy/ overrules the *.tmp rule (as Flux
    // documents: ignore "may overrule the .sourceignore file exclusions")
    // until it says so again itself.
    let only_deploy = host.source_with(
        "ign-deploy",
        &anon_url(&repo),
        "branch = \"main\"",
        "ignore = \"\"\"\n/*\n!/deploy/\n\"\"\"",
    );
    let a = fetch(&only_deploy);
    assert_eq!(a.revision, format!("main@sha1:{sha}"));
    assert_eq!(
        files(&a.dir),
        [
            "deploy/.sourceignore",
            "deploy/app.yaml",
            "deploy/scratch.tmp"
        ]
    );
    let strict = host.source_with(
        "ign-strict",
        &anon_url(&repo),
        "branch = \"main\"",
        "ignore = \"\"\"\n/*\n!/deploy/\n*.tmp\n\"\"\"",
    );
    assert_eq!(
        files(&fetch(&strict).dir),
        ["deploy/.sourceignore", "deploy/app.yaml"]
    );
    assert_ne!(
        a.digest, plain.digest,
        "the digest covers the filtered content"
    );

    // The same filtered content from another commit has the same digest.
    let sha2 = repo.commit(&[("README.md", Some("# changed\n"))], "docs only");
    let b = fetch(&only_deploy);
    assert_eq!(b.revision, format!("main@sha1:{sha2}"));
    assert_eq!(b.digest, a.digest);

    // Without any .sourceignore or ignore, Flux's defaults apply.
    let repo2 = TestRepo::new("git-ignore-defaults");
    repo2.commit(
        &[
            ("app.yaml", Some("a: 1\n")),
            ("logo.png", Some("png")),
            ("dist/bundle.tar.gz", Some("gz")),
            (".github/workflows/ci.yaml", Some("on: push\n")),
            ("apps/.sops.yaml", Some("creation_rules: []\n")),
            (".gitignore", Some("*.o\n")),
        ],
        "c",
    );
    let d = fetch(&host.source("ign-defaults", &anon_url(&repo2), "branch = \"main\"", ""));
    assert_eq!(files(&d.dir), ["app.yaml"]);
}

#[test]
fn changing_ignore_remakes_the_artifact_of_the_same_commit() {
    let repo = TestRepo::new("git-ignore-change");
    repo.commit(&[("a.yaml", Some("a")), ("b.yaml", Some("b"))], "c");
    let host = Host::new();
    let first = fetch(&host.source_with(
        "ign-change",
        &anon_url(&repo),
        "branch = \"main\"",
        "ignore = \"b.yaml\"",
    ));
    assert_eq!(files(&first.dir), ["a.yaml"]);
    // The same source (same state dir) after a config change.
    let src = host.source_with(
        "ign-change",
        &anon_url(&repo),
        "branch = \"main\"",
        "ignore = \"a.yaml\"",
    );
    let second = fetch(&src);
    assert_eq!(second.revision, first.revision);
    assert_eq!(second.dir, first.dir);
    assert_eq!(files(&second.dir), ["b.yaml"]);
    assert_ne!(second.digest, first.digest);
    assert_eq!(src.pack_fetches(), 0, "the commit was already in the cache");
    assert_eq!(fetch(&src), second);
}

/// Whether the source's state holds an artifact for `commit`.
trait ArtifactDirs {
    fn state_has_artifact(&self, commit: &str) -> bool;
}

impl ArtifactDirs for GitSource {
    fn state_has_artifact(&self, commit: &str) -> bool {
        // <state>/git/<cache> → <state>/artifacts/<name>/<commit>
        self.cache_dir()
            .parent()
            .and_then(Path::parent)
            .is_some_and(|state| {
                state
                    .join("artifacts")
                    .join(self.name())
                    .join(commit)
                    .exists()
            })
    }
}

/// A work tree that pushes to `repo` and signs with OpenPGP keys of a
/// temporary GNUPGHOME or with SSH keys, as a developer would.
struct Signer {
    dir: tempfile::TempDir,
    bare: PathBuf,
}

impl Signer {
    fn new(repo: &TestRepo) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("gnupg")).expect("mkdir");
        std::fs::set_permissions(
            dir.path().join("gnupg"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        run(git()
            .args(["init", "-q", "-b", "main"])
            .arg(dir.path().join("work")));
        Signer {
            dir,
            bare: repo.bare.clone(),
        }
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.dir.path().join("gnupg"))
            .args(["--batch", "--quiet"]);
        c
    }

    /// Makes an OpenPGP key for `email`; returns its fingerprint and writes
    /// its armored public key to `<dir>/<email>.asc`.
    fn gpg_key(&self, email: &str) -> (String, PathBuf) {
        run(self.gpg().args([
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("weir test <{email}>"),
            "ed25519",
            "sign",
            "never",
        ]));
        let listing = run(self.gpg().args(["--with-colons", "--list-keys", email]));
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .expect("fingerprint")
            .to_owned();
        let public = run(self.gpg().args(["--armor", "--export", &fpr]));
        let path = self.dir.path().join(format!("{email}.asc"));
        std::fs::write(&path, public).expect("write key");
        (fpr, path)
    }

    /// Makes an SSH key named `name`; returns the private key path and the
    /// public key file.
    fn ssh_key(&self, name: &str) -> (PathBuf, PathBuf) {
        let key = self.dir.path().join(name);
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key));
        (key.clone(), key.with_extension("pub"))
    }

    /// `git` in the work tree, signing with `key`: an OpenPGP fingerprint,
    /// an SSH private key path, or nothing.
    fn git(&self, key: Option<&str>) -> Command {
        let mut c = git();
        c.env("GNUPGHOME", self.dir.path().join("gnupg"))
            .arg("-C")
            .arg(self.dir.path().join("work"));
        match key {
            Some(k) if k.starts_with('/') => {
                c.args(["-c", "gpg.format=ssh", "-c"])
                    .arg(format!("user.signingkey={k}"));
            }
            Some(k) => {
                c.args(["-c", "gpg.format=openpgp", "-c"])
                    .arg(format!("user.signingkey={k}"));
            }
            None => {}
        }
        c
    }

    /// Commits `file` = `content` on main, signed with `key`, and pushes.
    fn commit(&self, file: &str, content: &str, key: Option<&str>) -> String {
        std::fs::write(self.dir.path().join("work").join(file), content).expect("write");
        run(self.git(None).args(["add", "-A"]));
        let sign = if key.is_some() { "-S" } else { "--no-gpg-sign" };
        run(self.git(key).args(["commit", "-q", sign, "-m", content]));
        run(self
            .git(None)
            .args(["push", "-q", "--force"])
            .arg(&self.bare)
            .arg("HEAD:refs/heads/main"));
        run(self.git(None).args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned()
    }

    /// Tags HEAD as `name`: signed with `key`, annotated unsigned with
    /// `Some("")`, lightweight with `None`; pushes it.
    fn tag(&self, name: &str, key: Option<&str>) {
        match key {
            None => run(self.git(None).args(["tag", name])),
            Some("") => run(self.git(None).args(["tag", "-a", name, "-m", name])),
            Some(k) => run(self.git(Some(k)).args(["tag", "-s", name, "-m", name])),
        };
        run(self
            .git(None)
            .args(["push", "-q", "--force"])
            .arg(&self.bare)
            .arg(format!("refs/tags/{name}")));
    }
}

fn verify_with(mode: &str, files: &[&Path]) -> String {
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("\"{}\"", f.display()))
        .collect();
    format!(
        "verify = {{ mode = \"{mode}\", keyFiles = [{}] }}",
        list.join(", ")
    )
}

#[test]
fn openpgp_signed_commits_are_verified_and_others_never_used() {
    let repo = TestRepo::new("git-verify-pgp");
    let signer = Signer::new(&repo);
    let (trusted, trusted_file) = signer.gpg_key("trusted@weir.invalid");
    let (stranger, _) = signer.gpg_key("stranger@weir.invalid");
    let good = signer.commit("f", "signed", Some(&trusted));
    let host = Host::new();
    let verify = verify_with("HEAD", &[&trusted_file]);
    let src = host.source_with("pgp", &anon_url(&repo), "branch = \"main\"", &verify);
    let a = fetch(&src);
    assert_eq!(a.revision, format!("main@sha1:{good}"));

    let unsigned = signer.commit("f", "unsigned", None);
    let e = fetch_err(&src);
    assert!(!e.transient, "{}", e.message);
    assert_eq!(
        e.message,
        format!(
            "revision main@sha1:{unsigned} of {} is not used: commit {unsigned} is not signed",
            anon_url(&repo)
        )
    );
    assert!(!src.state_has_artifact(&unsigned), "never exported");
    assert_eq!(read(&a, "f"), "signed", "the last good artifact stays");

    let foreign = signer.commit("f", "foreign", Some(&stranger));
    let e = fetch_err(&src);
    assert!(
        e.message.contains(&format!("commit {foreign}: its OpenPGP signature does not verify with any of the 1 trusted OpenPGP key(s)")),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(&trusted_file.display().to_string()),
        "{}",
        e.message
    );
    assert!(!src.state_has_artifact(&foreign));

    // Trusting the stranger's key too (the file is read at every fetch).
    let both = signer.dir.path().join("both.asc");
    let mut keys = std::fs::read(&trusted_file).expect("read");
    keys.extend(std::fs::read(signer.dir.path().join("stranger@weir.invalid.asc")).expect("read"));
    std::fs::write(&both, keys).expect("write");
    let src = host.source_with(
        "pgp",
        &anon_url(&repo),
        "branch = \"main\"",
        &verify_with("HEAD", &[&both]),
    );
    assert_eq!(fetch(&src).revision, format!("main@sha1:{foreign}"));
}

#[test]
fn ssh_signed_commits_are_verified_and_rotated_keys_apply_at_the_next_fetch() {
    let repo = TestRepo::new("git-verify-ssh");
    let signer = Signer::new(&repo);
    let (old_key, old_pub) = signer.ssh_key("old");
    let (new_key, new_pub) = signer.ssh_key("new");
    let trusted = signer.dir.path().join("allowed_signers");
    std::fs::write(
        &trusted,
        format!(
            "ci@weir.invalid {}",
            std::fs::read_to_string(&old_pub).expect("read")
        ),
    )
    .expect("write");
    let c1 = signer.commit("f", "one", Some(&old_key.display().to_string()));
    let host = Host::new();
    let src = host.source_with(
        "ssh-sig",
        &anon_url(&repo),
        "branch = \"main\"",
        &verify_with("HEAD", &[&trusted]),
    );
    assert_eq!(fetch(&src).revision, format!("main@sha1:{c1}"));

    let c2 = signer.commit("f", "two", Some(&new_key.display().to_string()));
    let e = fetch_err(&src);
    assert!(
        e.message.contains(&format!(
            "commit {c2}: its SSH signature does not verify with any of the 1 trusted SSH key(s)"
        )),
        "{}",
        e.message
    );
    // The key is rotated in the file; the same source picks it up.
    std::fs::copy(&new_pub, &trusted).expect("rotate");
    let a = fetch(&src);
    assert_eq!(a.revision, format!("main@sha1:{c2}"));
    assert_eq!(read(&a, "f"), "two");
    // An OpenPGP-signed commit does not pass with SSH keys only.
    let (pgp, _) = signer.gpg_key("pgp@weir.invalid");
    signer.commit("f", "three", Some(&pgp));
    let e = fetch_err(&src);
    assert!(
        e.message.contains("0 trusted OpenPGP key(s)"),
        "{}",
        e.message
    );
}

#[test]
fn tag_modes_verify_the_tag_object_and_with_head_the_commit_too() {
    let repo = TestRepo::new("git-verify-tag");
    let signer = Signer::new(&repo);
    let (key, key_file) = signer.gpg_key("release@weir.invalid");
    let unsigned_commit = signer.commit("v", "1.0", None);
    signer.tag("v1.0.0", Some(&key));
    let host = Host::new();
    let tag_mode = verify_with("Tag", &[&key_file]);

    let signed_tag = host.source_with("t-signed", &anon_url(&repo), "tag = \"v1.0.0\"", &tag_mode);
    assert_eq!(
        fetch(&signed_tag).revision,
        format!("v1.0.0@sha1:{unsigned_commit}")
    );
    // TagAndHEAD also wants the commit signed.
    let both = host.source_with(
        "t-both",
        &anon_url(&repo),
        "tag = \"v1.0.0\"",
        &verify_with("TagAndHEAD", &[&key_file]),
    );
    let e = fetch_err(&both);
    assert!(
        e.message
            .ends_with(&format!("commit {unsigned_commit} is not signed")),
        "{}",
        e.message
    );
    let signed_commit = signer.commit("v", "1.1", Some(&key));
    signer.tag("v1.1.0", Some(&key));
    let both = host.source_with(
        "t-both2",
        &anon_url(&repo),
        "tag = \"v1.1.0\"",
        &verify_with("TagAndHEAD", &[&key_file]),
    );
    assert_eq!(
        fetch(&both).revision,
        format!("v1.1.0@sha1:{signed_commit}")
    );

    // A semver range verifies the tag it picks: an unsigned or lightweight
    // newer tag is refused, and the source stays where it was.
    let semver = host.source_with("t-semver", &anon_url(&repo), "semver = \"^1\"", &tag_mode);
    let a = fetch(&semver);
    assert!(a.revision.starts_with("v1.1.0@"), "{}", a.revision);
    signer.commit("v", "1.2", Some(&key));
    signer.tag("v1.2.0", Some(""));
    let e = fetch_err(&semver);
    assert!(
        e.message.ends_with("tag \"v1.2.0\" is not signed"),
        "{}",
        e.message
    );
    signer.commit("v", "1.3", Some(&key));
    signer.tag("v1.3.0", None);
    let e = fetch_err(&semver);
    assert!(
        e.message.ends_with(
            "verify.mode Tag needs an annotated, signed tag, and tag \"v1.3.0\" is a lightweight tag"
        ),
        "{}",
        e.message
    );
    assert_eq!(read(&a, "v"), "1.1");
    // The tag object is fetched even when the commit is already in the
    // cache (the branch source shares it).
    let signed = signer.commit("v", "1.4", Some(&key));
    signer.tag("v1.4.0", Some(&key));
    fetch(&host.source("t-branch", &anon_url(&repo), "branch = \"main\"", ""));
    assert_eq!(fetch(&semver).revision, format!("v1.4.0@sha1:{signed}"));
}

#[test]
fn verify_settings_are_checked_when_the_source_is_made() {
    let host = Host::new();
    let e = host
        .try_source_with(
            "v-missing",
            "http://127.0.0.1:1/x.git",
            "branch = \"main\"",
            "",
            "verify = { keyFiles = [\"keys/none.asc\"] }",
        )
        .expect_err("missing key file");
    assert!(!e.transient);
    assert!(e.message.contains("\"v-missing\""), "{}", e.message);
    assert!(e.message.contains("verify.keyFiles"), "{}", e.message);
    assert!(e.message.contains("keys/none.asc"), "{}", e.message);
    let junk = host.dir.path().join("junk.asc");
    std::fs::write(&junk, "hello\n").expect("write");
    let e = host
        .try_source_with(
            "v-junk",
            "http://127.0.0.1:1/x.git",
            "branch = \"main\"",
            "",
            &verify_with("HEAD", &[&junk]),
        )
        .expect_err("no key");
    assert!(e.message.contains("not an SSH public key"), "{}", e.message);
}

#[test]
fn sparse_checkout_keeps_only_the_listed_directories() {
    let repo = TestRepo::new("git-sparse");
    repo.commit(
        &[
            ("README.md", Some("r")),
            ("deploy/prod/app.yaml", Some("prod")),
            ("deploy/prod/.sourceignore", Some("*.tmp\n")),
            ("deploy/prod/x.tmp", Some("x")),
            ("deploy/dev/app.yaml", Some("dev")),
            ("infra/ns.yaml", Some("ns")),
            ("infra-old/ns.yaml", Some("old")),
        ],
        "c",
    );
    let host = Host::new();
    let src = host.source_with(
        "sparse",
        &anon_url(&repo),
        "branch = \"main\"",
        "sparseCheckout = [\"./deploy/prod/\", \"infra\"]",
    );
    let a = fetch(&src);
    assert_eq!(
        files(&a.dir),
        [
            "deploy/prod/.sourceignore",
            "deploy/prod/app.yaml",
            "infra/ns.yaml"
        ]
    );
    let whole = fetch(&host.source("whole", &anon_url(&repo), "branch = \"main\"", ""));
    assert_ne!(whole.digest, a.digest);

    let e = host
        .try_source_with(
            "sparse-bad",
            &anon_url(&repo),
            "branch = \"main\"",
            "",
            "sparseCheckout = [\"../x\"]",
        )
        .expect_err("outside");
    assert!(
        e.message.contains("sparseCheckout entry \"../x\""),
        "{}",
        e.message
    );
}

#[test]
fn an_encrypted_ssh_key_is_unlocked_with_its_passphrase_file() {
    let repo = TestRepo::new("git-ssh-pass");
    let sha = repo.commit(&[("p", Some("p"))], "c");
    let url = format!("{}/repos/{}", env("WEIR_GIT_SSH_URL"), repo.rel);
    let host = Host::new();
    let with = |passphrase_file: Option<&str>| {
        let mut auth = format!(
            "identityFile = \"{}\"\nknownHostsFile = \"{}\"",
            env("WEIR_GIT_SSH_KEY_PASS"),
            env("WEIR_GIT_SSH_KNOWN_HOSTS")
        );
        if let Some(f) = passphrase_file {
            auth.push_str(&format!("\nidentityPassphraseFile = \"{f}\""));
        }
        auth
    };
    let ok = host.source(
        "ssh-pass",
        &url,
        "branch = \"main\"",
        &with(Some(&env("WEIR_GIT_SSH_PASSPHRASE_FILE"))),
    );
    assert_eq!(fetch(&ok).revision, format!("main@sha1:{sha}"));

    let wrong_file = host.dir.path().join("wrong-passphrase");
    std::fs::write(&wrong_file, "not-the-passphrase\n").expect("write");
    let wrong = host.source(
        "ssh-pass-wrong",
        &url,
        "branch = \"main\"",
        &with(Some(&wrong_file.display().to_string())),
    );
    let e = fetch_err(&wrong);
    assert!(!e.transient, "{}", e.message);
    assert!(
        e.message.starts_with("authentication failed for "),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("auth.identityPassphraseFile"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("not-the-passphrase"), "{}", e.message);
    // The passphrase file is read at each connection: fixing it fixes the
    // same source.
    std::fs::copy(env("WEIR_GIT_SSH_PASSPHRASE_FILE"), &wrong_file).expect("fix");
    assert_eq!(fetch(&wrong).revision, format!("main@sha1:{sha}"));

    // Without a passphrase the encrypted key cannot be used, and ssh never
    // prompts.
    let none = host.source("ssh-pass-none", &url, "branch = \"main\"", &with(None));
    let e = fetch_err(&none);
    assert!(
        e.message.starts_with("authentication failed for "),
        "{}",
        e.message
    );
    let passphrase = env("WEIR_GIT_SSH_PASSPHRASE");
    assert!(files_containing(&host.state(), passphrase.as_bytes()).is_empty());
}

#[test]
fn a_rotated_password_file_applies_at_the_next_fetch() {
    let repo = TestRepo::new("git-rotate");
    let sha = repo.commit(&[("r", Some("r"))], "c");
    let url = format!("{}/basic/{}", env("WEIR_GIT_HTTP_URL"), repo.rel);
    let host = Host::new();
    let file = host.dir.path().join("password");
    std::fs::write(&file, "stale-password\n").expect("write");
    let src = host.source(
        "rotate",
        &url,
        "branch = \"main\"",
        &format!("username = \"weir\"\npasswordFile = \"{}\"", file.display()),
    );
    let e = fetch_err(&src);
    assert!(
        e.message.starts_with("authentication failed"),
        "{}",
        e.message
    );
    std::fs::write(&file, env("WEIR_GIT_HTTP_PASSWORD")).expect("rotate");
    assert_eq!(fetch(&src).revision, format!("main@sha1:{sha}"));
}
