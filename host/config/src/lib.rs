//! `weir.toml`: the host's configuration and the GitOps objects it declares.
//!
//! Everything is parsed into checked types at the boundary: unknown keys are
//! errors that name the file, line and key; names, durations and sizes are
//! newtypes; references between objects (a sync's `source`) are resolved
//! before anything runs. Start reading at [`Config::load`].
//!
//! Field names follow Flux's APIs (`url`, `ref.branch`, `interval`,
//! `targetNamespace`, `prune`, …) so that Flux users recognise them; see
//! `docs/config.md` for the reference.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

pub mod helm;
mod notification;
pub mod source;
pub mod template;
mod units;

pub use notification::{
    Alert, EVENT_KINDS, EventSeverity, EventSource, Provider, RateLimit, SecretRef,
};
pub use units::{ByteSize, Duration};

/// The files that make a directory a kustomization (as kustomize looks
/// for them).
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The renderer Flux would use for `dir`: `kustomize` when it holds a
/// kustomization file ([`KUSTOMIZATION_FILES`]), else `plain`.
pub fn default_renderer(dir: &Path) -> &'static str {
    if KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file()) {
        "kustomize"
    } else {
        "plain"
    }
}

/// The config file format version this build understands.
pub const CONFIG_VERSION: u32 = 1;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema (unknown key,
    /// wrong type, bad value); the message carries the line and the key.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml/serde said, with line, column and snippet.
        message: String,
    },
    /// The `version` key is missing or names a version this build does not
    /// support.
    #[error("{path}: {message}")]
    Version {
        /// The file.
        path: PathBuf,
        /// What is wrong with the version.
        message: String,
    },
    /// The objects are individually valid but inconsistent (duplicate names,
    /// a sync naming a source that does not exist, …).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is inconsistent, naming the objects.
        message: String,
    },
}

/// A DNS-1123-style object name: lowercase alphanumerics and `-`, starting
/// and ending with an alphanumeric, at most 63 characters. The same rule as
/// Kubernetes object names, so names can be used in labels and file paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_ends = s
            .bytes()
            .next()
            .zip(s.bytes().last())
            .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
        if s.is_empty() || s.len() > 63 || !ok_chars || !ok_ends {
            return Err(format!(
                "invalid name {s:?}: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"
            ));
        }
        Ok(Name(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The settings every kind of source has, as the engine schedules them.
#[derive(Debug, Clone, Copy)]
pub struct SourceSettings<'a> {
    /// The source's name.
    pub name: &'a Name,
    /// Its URL.
    pub url: &'a str,
    /// Fetch interval.
    pub interval: Duration,
    /// Fetch timeout.
    pub timeout: Duration,
    /// Whether fetching is suspended.
    pub suspend: bool,
    /// Its labels, for alerts.
    pub labels: &'a BTreeMap<String, String>,
    /// `GitRepository` or `Source` (a plugin's), for events and alerts.
    pub kind: &'static str,
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be [`CONFIG_VERSION`].
    pub version: u32,
    /// Host settings.
    #[serde(default)]
    pub host: Host,
    /// Git sources (Flux's `GitRepository`).
    #[serde(default)]
    pub git: Vec<GitRepository>,
    /// Syncs: a path of a source, rendered and applied to a cluster (Flux's
    /// `Kustomization`).
    #[serde(default)]
    pub sync: Vec<Sync>,
    /// Webhook receivers (Flux's `Receiver`): a push notification makes
    /// the named sources fetch now, and their syncs reconcile.
    #[serde(default)]
    pub receiver: Vec<Receiver>,
    /// Notification providers (Flux's `Provider`).
    #[serde(default)]
    pub provider: Vec<Provider>,
    /// Alerts: which events go to which provider (Flux's `Alert`).
    #[serde(default)]
    pub alert: Vec<Alert>,
    /// Sources fetched by source plugins.
    #[serde(default)]
    pub source: Vec<source::PluginSource>,
    /// Helm releases (Flux's `HelmRelease`). Each is also in [`Config::sync`]
    /// (see [`helm::HelmRelease::to_sync`]), after the `[[sync]]` entries.
    #[serde(default)]
    pub release: Vec<helm::HelmRelease>,
    /// The directory of the config file; relative paths in it are resolved
    /// against this. Set by [`Config::load`].
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The config file itself. Set by [`Config::load`].
    #[serde(skip)]
    pub file: PathBuf,
}

/// Settings of the host process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Host {
    /// Where weir keeps its state: git cache, artifacts, status, inventories.
    /// Default: `.weir` beside the config file.
    pub state_dir: Option<PathBuf>,
    /// The directory of plugin components (`*.wasm`). Default: `plugins`
    /// beside the config file.
    pub plugins_dir: Option<PathBuf>,
    /// Kubeconfig of the cluster syncs apply to. Default: `$KUBECONFIG`, then
    /// `~/.kube/config`, then the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The cluster's name in status and notifications. Default: `default`.
    pub cluster_name: Option<String>,
    /// Limits per plugin, by plugin name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginLimits>,
    /// How many syncs reconcile at once (Flux's `--concurrent`). Default: 4.
    pub concurrency: Option<std::num::NonZeroUsize>,
    /// Where `weir run` listens for webhooks (`[[receiver]]`), e.g.
    /// `0.0.0.0:9292`. Default: no listener; required when a receiver is
    /// declared.
    pub receiver_address: Option<std::net::SocketAddr>,
    /// The namespace of the Kubernetes Events weir records about each sync
    /// (their involved object is `Sync/<name>`, which exists only there).
    /// Default: `default`.
    pub event_namespace: Option<Name>,
}

/// A webhook receiver, following Flux's `Receiver`: `POST
/// /hook/<name>` with a valid signature makes every source it names fetch
/// at once; their syncs reconcile when the revision is new.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Receiver {
    /// The receiver's name, unique among receivers; its URL path is
    /// `/hook/<name>`.
    pub name: Name,
    /// How requests are authenticated.
    #[serde(rename = "type")]
    pub kind: ReceiverKind,
    /// The file holding the shared secret (trailing whitespace removed).
    pub secret_file: PathBuf,
    /// Git sources to fetch on a valid request (Flux's `resources`).
    pub sources: Vec<Name>,
    /// Event types to act on, from GitHub's `X-GitHub-Event` or GitLab's
    /// `X-Gitlab-Event` header; other events are acknowledged and ignored.
    /// `ping` is always acknowledged. Default: every event.
    #[serde(default)]
    pub events: Vec<String>,
}

/// How a receiver checks that a request comes from who holds the secret.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiverKind {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    Github,
    /// GitLab: `X-Gitlab-Token: <secret>`.
    Gitlab,
    /// Any sender: `X-Signature: sha256=<hex HMAC-SHA256 of the body>`
    /// (Flux's `generic-hmac`).
    GenericHmac,
}

/// Resource limits and capability grants for one plugin. Every call gets a
/// fresh instance with these limits; exceeding one fails that call only. A
/// plugin whose manifest asks for more than is granted here is refused
/// before it is compiled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginLimits {
    /// Most linear memory one call may use (and most a manifest may ask
    /// for). Default: 512MiB.
    pub max_memory: Option<ByteSize>,
    /// Wall-clock deadline of one call. Default: 60s.
    pub timeout: Option<Duration>,
    /// Hosts the plugin may reach over HTTP, when its manifest asks for
    /// them. Default: none.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// A git source, following Flux's `GitRepository` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitRepository {
    /// The source's name, unique among git sources.
    pub name: Name,
    /// `http://`, `https://`, `ssh://` or `git://` URL of the repository.
    pub url: String,
    /// Labels of the source, for alerts' `eventSources.matchLabels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Which revision to follow. Default: branch `master`, as Flux.
    #[serde(default, rename = "ref")]
    pub reference: GitRef,
    /// How often to check for a new revision. Default: 1m.
    pub interval: Option<Duration>,
    /// Deadline of one fetch. Default: 60s, as Flux.
    pub timeout: Option<Duration>,
    /// Stop checking for new revisions. Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// Credentials and trust.
    #[serde(default)]
    pub auth: GitAuth,
    /// Files to leave out of the artifact, in `.gitignore` syntax (Flux's
    /// `spec.ignore`). Added to the patterns of `.sourceignore` files in the
    /// repository; either replaces Flux's default exclusions (images,
    /// archives, CI files), while `.git/` and git's own dot files are always
    /// left out. Default: none (the defaults apply).
    pub ignore: Option<String>,
    /// Check commit or tag signatures before a revision is used (Flux's
    /// `spec.verify`). Default: no verification.
    pub verify: Option<GitVerify>,
    /// Only these directories (relative to the root) are in the artifact
    /// (Flux's `spec.sparseCheckout`). Default: the whole tree.
    #[serde(default)]
    pub sparse_checkout: Vec<String>,
    /// Other git sources whose artifacts are copied into sub-paths of this
    /// source's artifact (Flux's `spec.include`). A change of an included
    /// source changes this source's artifact digest. Default: none.
    #[serde(default)]
    pub include: Vec<GitInclude>,
    /// Check out the commit's submodules, recursively, into the artifact
    /// (Flux's `spec.recurseSubmodules`). Default: false (a submodule is an
    /// empty directory, as `git clone` without `--recurse-submodules` leaves
    /// it).
    #[serde(default)]
    pub recurse_submodules: bool,
    /// An HTTP(S) proxy for `http://` and `https://` URLs (Flux's
    /// `spec.proxySecretRef`). Default: no proxy (proxy variables of the
    /// environment are never used).
    pub proxy: Option<GitProxy>,
}

/// One entry of [`GitRepository::include`] (Flux's `spec.include[]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitInclude {
    /// The included git source.
    pub repository: GitIncludeRepository,
    /// Directory of the included artifact to copy. Default: its root.
    pub from_path: Option<String>,
    /// Directory of this artifact to copy it to; replaces whatever this
    /// source's own tree has there. Default: the included source's name,
    /// as in Flux.
    pub to_path: Option<String>,
}

/// The source an include refers to (Flux's `repository`, a
/// `LocalObjectReference`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GitIncludeRepository {
    /// The name of a `[[git]]` source.
    pub name: Name,
}

impl GitInclude {
    /// `fromPath` normalised: no `./`, no trailing `/`; empty for the root.
    pub fn from_path(&self) -> String {
        normal_rel_path(self.from_path.as_deref().unwrap_or(""))
    }

    /// `toPath` normalised, with its default (the included source's name).
    pub fn to_path(&self) -> String {
        match self.to_path.as_deref() {
            Some(p) => normal_rel_path(p),
            None => self.repository.name.as_str().to_owned(),
        }
    }
}

/// `p` without empty and `.` components (`./a//b/` → `a/b`).
fn normal_rel_path(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A proxy for a git source (Flux's `proxySecretRef`, whose Secret holds
/// `address`, `username` and `password`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitProxy {
    /// `http://host:port` or `https://host:port` of the proxy. https
    /// sources go through it with `CONNECT`, http ones are forwarded.
    pub address: String,
    /// Proxy basic auth user name.
    pub username: Option<String>,
    /// Proxy basic auth password.
    pub password: Option<String>,
    /// File holding the proxy password. Read at every fetch.
    pub password_file: Option<PathBuf>,
}

/// Signature verification of a git source (Flux's `spec.verify`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitVerify {
    /// What must be signed. Default: `HEAD`, as in Flux.
    #[serde(default)]
    pub mode: GitVerifyMode,
    /// Files holding the trusted public keys (Flux's `secretRef`, whose
    /// Secret holds them): ASCII-armored OpenPGP public keys, or SSH public
    /// keys one per line (`.pub`, `authorized_keys` or git's
    /// `allowed_signers` format). Read at every fetch, so keys can be
    /// rotated without a restart. At least one.
    pub key_files: Vec<PathBuf>,
}

/// What [`GitVerify`] checks.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum GitVerifyMode {
    /// The commit the revision points to (Flux also accepts `head`).
    #[default]
    #[serde(rename = "HEAD", alias = "head")]
    Head,
    /// The annotated tag of `ref.tag` or `ref.semver`.
    Tag,
    /// Both the tag and the commit it points to.
    #[serde(rename = "TagAndHEAD")]
    TagAndHead,
}

/// A git reference. When several are set, Flux's precedence applies:
/// `commit` over `name` over `semver` over `tag` over `branch`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GitRef {
    /// A branch name.
    pub branch: Option<String>,
    /// A tag name.
    pub tag: Option<String>,
    /// A semver range over tags, in Flux's (Masterminds) syntax:
    /// `>=1.2.0 <2.0.0`, `~1.2`, `^2`, `1.x`, `1.0 - 1.4`, `a || b`.
    pub semver: Option<String>,
    /// A full reference name such as `refs/pull/1/head`.
    pub name: Option<String>,
    /// A full commit SHA-1.
    pub commit: Option<String>,
}

/// Credentials for a git source. Values may be given inline or read from a
/// file (`…File`), so secrets need not sit in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitAuth {
    /// HTTP basic auth user name.
    pub username: Option<String>,
    /// HTTP basic auth password.
    pub password: Option<String>,
    /// File holding the HTTP basic auth password.
    pub password_file: Option<PathBuf>,
    /// HTTP bearer token.
    pub bearer_token: Option<String>,
    /// File holding the HTTP bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// PEM file of CA certificates to trust for https (Flux's `ca.crt`).
    pub ca_file: Option<PathBuf>,
    /// PEM file of the TLS client certificate (chain) for https sources
    /// that require one (Flux's `tls.crt`, mTLS). Needs `keyFile`.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the private key of `certFile` (Flux's `tls.key`).
    pub key_file: Option<PathBuf>,
    /// SSH private key file (Flux's `identity`).
    pub identity_file: Option<PathBuf>,
    /// File holding the passphrase of `identityFile` when it is encrypted
    /// (Flux's `password` for ssh). Read at every connection.
    pub identity_passphrase_file: Option<PathBuf>,
    /// known_hosts file the SSH server's key must be in (Flux's
    /// `known_hosts`). Required for ssh URLs: weir never trusts on first use.
    pub known_hosts_file: Option<PathBuf>,
}

/// A sync: render a path of a source and apply it, following Flux's
/// `Kustomization` fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Sync {
    /// The sync's name, unique among syncs.
    pub name: Name,
    /// The name of the git source to render.
    pub source: Name,
    /// Directory inside the source to render. Default: the root.
    #[serde(default)]
    pub path: String,
    /// How often to reconcile, also when the source did not change (to
    /// correct drift). Default: 5m.
    pub interval: Option<Duration>,
    /// Delete objects that were applied before and are no longer rendered.
    /// Required, as in Flux, because forgetting it is costly either way.
    pub prune: bool,
    /// The renderer plugin. Default: `plain`.
    pub renderer: Option<String>,
    /// Namespace for namespaced objects that do not set one. Default: the
    /// objects' own, else `default`.
    pub target_namespace: Option<String>,
    /// Stop reconciling. Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// Variable substitution in the rendered objects (Flux's
    /// `spec.postBuild`). Default: none, and then `${…}` is left alone.
    pub post_build: Option<PostBuild>,
    /// After applying, wait until every applied object is ready (Flux's
    /// `spec.wait`), judged by kstatus-style rules per kind. Default: false.
    #[serde(default)]
    pub wait: bool,
    /// More objects to wait for after applying (Flux's `spec.healthChecks`);
    /// they need not be applied by this sync. Checked together with the
    /// applied objects when `wait` is true. Default: none.
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    /// How long to wait for the health checks before the reconcile fails
    /// with `HealthCheckFailed` (Flux's `spec.timeout`). Default: the sync's
    /// `interval`, as in Flux.
    pub timeout: Option<Duration>,
    /// Recreate objects the API server refuses to update because a field is
    /// immutable (a Job's `spec.template`, a Service's `spec.clusterIP`, …):
    /// delete, wait until gone, create again (Flux's `spec.force`). Objects
    /// opt in one by one with the annotation
    /// `kustomize.toolkit.fluxcd.io/force: enabled` and opt out with
    /// `disabled`. Default: false: such an update fails the reconcile.
    #[serde(default)]
    pub force: bool,
    /// Names of other syncs in this file that must be ready, and up to date
    /// with their own source, before this one is reconciled (Flux's
    /// `spec.dependsOn`). Until then this sync is not rendered nor applied
    /// and reports `DependencyNotReady`. Unknown names, a sync naming itself
    /// and cycles are config errors. Default: none.
    #[serde(default)]
    pub depends_on: Vec<Name>,
    /// After a transient failure, retry after 2s, then 4s, 8s, … (each
    /// ±10% jitter) up to this (Flux's `spec.retryInterval`). Terminal
    /// failures (a malformed manifest, an object the API server refuses)
    /// are not retried: the sync stalls until its source has a new
    /// revision. Default: the sync's `interval`, as in Flux.
    pub retry_interval: Option<Duration>,
    /// Prefix added to the name of every rendered object (Flux's
    /// `spec.namePrefix`). Default: none.
    pub name_prefix: Option<String>,
    /// Suffix added to the name of every rendered object (Flux's
    /// `spec.nameSuffix`). Default: none.
    pub name_suffix: Option<String>,
    /// Labels and annotations set on every rendered object, overriding the
    /// object's own (Flux's `spec.commonMetadata`). Default: none.
    pub common_metadata: Option<CommonMetadata>,
    /// What happens to the objects of this sync when it is removed from the
    /// config (Flux's `spec.deletionPolicy`). Default: `MirrorPrune`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Apply as this Kubernetes service account, by impersonating
    /// `system:serviceaccount:<namespace>:<name>`, so that RBAC limits what
    /// the sync may touch (Flux's `spec.serviceAccountName`). Written
    /// `namespace/name`, or `name` when `targetNamespace` is set (the
    /// account is then in that namespace). Default: weir's own identity.
    pub service_account_name: Option<String>,
    /// Apply to another cluster than the host's (Flux's `spec.kubeConfig`).
    /// Default: the host's cluster.
    pub kube_config: Option<KubeConfigReference>,
    /// Labels of the sync itself (not of its objects), for alerts'
    /// `eventSources.matchLabels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Decrypt SOPS-encrypted objects after render, before `postBuild`
    /// (Flux's `spec.decryption`). Default: none, and then a rendered object
    /// with a top-level `sops` map fails the reconcile instead of being
    /// applied encrypted.
    pub decryption: Option<Decryption>,
    /// The Helm release this sync reconciles, for entries made from a
    /// `[[release]]`; `None` for `[[sync]]` entries.
    #[serde(skip)]
    pub helm: Option<std::sync::Arc<helm::HelmRelease>>,
}

/// How a sync decrypts encrypted objects (Flux's `spec.decryption`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Decryption {
    /// The decryptor plugin's name: `sops` (built in), or any decryptor
    /// plugin in the plugins directory.
    pub provider: DecryptorName,
    /// A Kubernetes Secret on the host's cluster holding private keys, read
    /// with weir's own identity at every reconcile: entries ending `.agekey`
    /// are age identities (one or more per entry), `.asc` OpenPGP secret
    /// keys; other entries are ignored, as in Flux. Default: none.
    pub secret_ref: Option<SecretReference>,
    /// Private key files on the host, read at every reconcile, their kind
    /// by extension (`.agekey`, `.asc`). Relative paths resolve against the
    /// config file's directory. Default: none.
    #[serde(default)]
    pub key_files: Vec<KeyFile>,
}

/// The name of a decryptor plugin: not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptorName(String);

impl DecryptorName {
    /// The plugin's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DecryptorName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom(
                "provider is empty: name a decryptor plugin, e.g. \"sops\"",
            ));
        }
        Ok(DecryptorName(s))
    }
}

/// A Secret in the host's cluster.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretReference {
    /// The Secret's name.
    pub name: ObjectName,
    /// Its namespace. Required: a sync has no namespace of its own to
    /// default to (Flux uses the Kustomization's).
    pub namespace: Name,
}

impl fmt::Display for SecretReference {
    /// `Secret/namespace/name`, as objects are named elsewhere.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret/{}/{}", self.namespace, self.name.0)
    }
}

/// A Kubernetes object name (DNS-1123 subdomain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName(String);

impl ObjectName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ObjectName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !is_object_name(&s) {
            return Err(serde::de::Error::custom(format!(
                "invalid object name {s:?}: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
            )));
        }
        Ok(ObjectName(s))
    }
}

/// What a private key file holds, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `.agekey`: age identities.
    Age,
    /// `.asc`: OpenPGP secret keys.
    Pgp,
}

impl KeyKind {
    /// The kind of key an entry or file named `name` holds, by its
    /// extension as Flux reads a decryption Secret, or `None` for others.
    pub fn of(name: &str) -> Option<KeyKind> {
        if name.ends_with(".agekey") {
            Some(KeyKind::Age)
        } else if name.ends_with(".asc") {
            Some(KeyKind::Pgp)
        } else {
            None
        }
    }

    /// `age` or `pgp`, as decryptor plugins name key kinds.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Age => "age",
            KeyKind::Pgp => "pgp",
        }
    }
}

/// A private key file, with its kind from its extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// The path as written.
    pub path: PathBuf,
    /// What it holds.
    pub kind: KeyKind,
}

impl<'de> Deserialize<'de> for KeyFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = PathBuf::deserialize(d)?;
        let kind = path.to_str().and_then(KeyKind::of).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "key file {:?} must end in .agekey (age identities) or .asc (OpenPGP secret keys)",
                path.display().to_string()
            ))
        })?;
        Ok(KeyFile { path, kind })
    }
}

/// Labels and annotations for every object of a sync (Flux's
/// `spec.commonMetadata`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommonMetadata {
    /// Labels, overriding the objects' own. Default: none.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations, overriding the objects' own. Default: none.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// What happens to a sync's objects when the sync leaves the config (Flux's
/// `spec.deletionPolicy`).
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Delete them when the sync had `prune = true`, else leave them.
    #[default]
    MirrorPrune,
    /// Delete them, whatever `prune` says.
    Delete,
    /// Delete them and wait until they are gone (finalizers done).
    WaitForTermination,
    /// Leave them in the cluster.
    Orphan,
}

impl fmt::Display for DeletionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The cluster a sync applies to, when it is not the host's.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeConfigReference {
    /// A kubeconfig file (its current context is used).
    pub path: PathBuf,
}

/// An object to wait for after applying, as an entry of Flux's
/// `spec.healthChecks`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// `group/version`, or `version` for the core group, e.g. `apps/v1`.
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's namespace, for namespaced kinds. Default: the sync's
    /// `targetNamespace`, else `default`; ignored for cluster-scoped kinds.
    pub namespace: Option<Name>,
}

impl fmt::Display for HealthCheck {
    /// `Kind/namespace/name`, or `Kind/name` without a namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Variable substitution after render, as Flux's `spec.postBuild`: every
/// `${var}` in the rendered objects is replaced by its value. Present (even
/// empty), it turns substitution on, so `${var:=default}` works without any
/// variable (Flux needs at least one variable for that).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables by name. They override those from `substituteFrom`, as in
    /// Flux. Default: none.
    #[serde(default)]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets in the cluster whose data keys are variables;
    /// later entries override earlier ones. Default: none.
    #[serde(default)]
    pub substitute_from: Vec<SubstituteReference>,
    /// Fail when a `${var}` without a default names an undefined variable
    /// (Flux's `StrictPostBuildSubstitutions` feature gate, `flux envsubst
    /// --strict`). Default: false: undefined variables become empty strings.
    #[serde(default)]
    pub strict: bool,
}

/// A ConfigMap or Secret to read variables from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// The object's name.
    pub name: String,
    /// The object's namespace. Required: a sync has no namespace of its own
    /// to default to (Flux uses the Kustomization's).
    pub namespace: Name,
    /// Tolerate a missing object as if it were empty. Default: false: a
    /// missing object fails the reconcile.
    #[serde(default)]
    pub optional: bool,
}

/// The kinds `substituteFrom` can read.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum SubstituteKind {
    /// A ConfigMap: its `data` values.
    ConfigMap,
    /// A Secret: its `data` values, base64-decoded (must be UTF-8).
    Secret,
}

impl fmt::Display for SubstituteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubstituteKind::ConfigMap => "ConfigMap",
            SubstituteKind::Secret => "Secret",
        })
    }
}

impl fmt::Display for SubstituteReference {
    /// `ConfigMap/namespace/name`, as objects are named elsewhere.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// Whether `name` is a valid substitution variable name: Flux's rule
/// `^[_[:alpha:]][_[:alpha:][:digit:]]*$`, with ASCII letters and digits.
pub fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Whether `name` is a valid Kubernetes object name (DNS-1123 subdomain):
/// lowercase alphanumerics, `-` and `.`, alphanumeric at both ends, at most
/// 253 characters.
fn is_object_name(name: &str) -> bool {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ok_ends = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    !name.is_empty() && name.len() <= 253 && ok_chars && ok_ends
}

impl Config {
    /// Reads and checks a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and, where it applies, the line and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text as if read from `path` (used for messages and to
    /// resolve relative paths).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and, where it applies, the line and key.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        // The version is read first, on its own, so that a file written for
        // a newer format gets "unsupported version" rather than a confusing
        // unknown-key error about a field that format added.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: Option<toml::Value>,
        }
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        };
        let v: VersionOnly = toml::from_str(text).map_err(parse_err)?;
        match v.version {
            None => {
                return Err(ConfigError::Version {
                    path: path.to_owned(),
                    message: format!("missing `version = {CONFIG_VERSION}` at the top"),
                });
            }
            Some(toml::Value::Integer(n)) if n == i64::from(CONFIG_VERSION) => {}
            Some(other) => {
                return Err(ConfigError::Version {
                    path: path.to_owned(),
                    message: format!(
                        "unsupported config version {other}; this weir reads version {CONFIG_VERSION}"
                    ),
                });
            }
        }
        let mut config: Config = toml::from_str(text).map_err(parse_err)?;
        // Relative paths in the file are relative to the file, and resolved
        // to absolute ones so they stay right whatever the working directory.
        let file = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        config.base_dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        config.file = file;
        let mut helm_names = BTreeMap::new();
        for r in &config.release {
            r.check().map_err(|message| ConfigError::Invalid {
                path: config.file.clone(),
                message,
            })?;
            // One Helm release, one owner: two entries writing the same
            // records would fight over every revision.
            let key = (r.storage_namespace().to_owned(), r.release_name());
            if let Some(other) = helm_names.insert(key, r.name.as_str()) {
                return Err(ConfigError::Invalid {
                    path: config.file.clone(),
                    message: format!(
                        "releases {other:?} and {:?} are both Helm release {:?} in namespace {:?}",
                        r.name.as_str(),
                        r.release_name(),
                        r.storage_namespace()
                    ),
                });
            }
        }
        for r in &config.release {
            if config.sync.iter().any(|s| s.name == r.name) {
                return Err(ConfigError::Invalid {
                    path: config.file.clone(),
                    message: format!(
                        "release {:?}: a sync or release of that name is already declared (they share one namespace of names)",
                        r.name.0
                    ),
                });
            }
            config.sync.push(r.to_sync());
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: self.file.clone(),
            message,
        };
        let mut seen = std::collections::BTreeSet::new();
        for g in &self.git {
            if !seen.insert(&g.name) {
                return Err(invalid(format!(
                    "git source {:?} is declared twice",
                    g.name.0
                )));
            }
            if let Some(v) = &g.verify {
                if v.key_files.is_empty() {
                    return Err(invalid(format!(
                        "git source {:?}: verify.keyFiles is empty: name at least one file of trusted public keys",
                        g.name.0
                    )));
                }
                let tag_ref = g.reference.commit.is_none()
                    && g.reference.name.is_none()
                    && (g.reference.semver.is_some() || g.reference.tag.is_some());
                if v.mode != GitVerifyMode::Head && !tag_ref {
                    return Err(invalid(format!(
                        "git source {:?}: verify.mode {:?} checks a tag's signature, so ref must be a tag or semver range (without commit or name)",
                        g.name.0,
                        if v.mode == GitVerifyMode::Tag {
                            "Tag"
                        } else {
                            "TagAndHEAD"
                        }
                    )));
                }
            }
            let scheme_ok = ["http://", "https://", "ssh://", "git://", "file://"]
                .iter()
                .any(|s| g.url.starts_with(s));
            if !scheme_ok {
                return Err(invalid(format!(
                    "git source {:?}: url {:?} must start with http://, https://, ssh://, git:// or file:// (scp-like user@host:path is not accepted, as in Flux)",
                    g.name.0, g.url
                )));
            }
            if g.url.starts_with("ssh://") && g.auth.known_hosts_file.is_none() {
                return Err(invalid(format!(
                    "git source {:?}: ssh url needs auth.knownHostsFile (weir never trusts a host key on first use)",
                    g.name.0
                )));
            }
            if g.auth.password.is_some() && g.auth.password_file.is_some() {
                return Err(invalid(format!(
                    "git source {:?}: set auth.password or auth.passwordFile, not both",
                    g.name.0
                )));
            }
            if g.auth.bearer_token.is_some() && g.auth.bearer_token_file.is_some() {
                return Err(invalid(format!(
                    "git source {:?}: set auth.bearerToken or auth.bearerTokenFile, not both",
                    g.name.0
                )));
            }
            if let Some(c) = &g.reference.commit
                && (c.len() != 40 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(invalid(format!(
                    "git source {:?}: ref.commit {c:?} must be a full 40-hex-digit SHA-1",
                    g.name.0
                )));
            }
            self.check_git_transport(g)
                .map_err(|m| invalid(format!("git source {:?}: {m}", g.name.0)))?;
            self.check_git_includes(g)
                .map_err(|m| invalid(format!("git source {:?}: {m}", g.name.0)))?;
        }
        self.check_include_cycles().map_err(invalid)?;
        let git_names: std::collections::BTreeSet<&Name> =
            self.git.iter().map(|g| &g.name).collect();
        let mut plugin_names = std::collections::BTreeSet::new();
        for p in &self.source {
            if git_names.contains(&p.name) || !plugin_names.insert(&p.name) {
                return Err(invalid(format!(
                    "source {:?} is declared twice (names are shared by [[git]] and [[source]])",
                    p.name.0
                )));
            }
            p.check().map_err(invalid)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.sync {
            if !seen.insert(&s.name) {
                return Err(invalid(format!("sync {:?} is declared twice", s.name.0)));
            }
            if self.source_settings(&s.source).is_none() {
                return Err(invalid(format!(
                    "sync {:?}: source {:?} is not declared (add a [[git]] or [[source]] with that name)",
                    s.name.0, s.source.0
                )));
            }
            if let Some(pb) = &s.post_build {
                for key in pb.substitute.keys() {
                    if !is_variable_name(key) {
                        return Err(invalid(format!(
                            "sync {:?}: postBuild.substitute key {key:?} is not a valid variable name: use letters, digits and '_', not starting with a digit (as Flux requires)",
                            s.name.0
                        )));
                    }
                }
                for (i, r) in pb.substitute_from.iter().enumerate() {
                    if !is_object_name(&r.name) {
                        return Err(invalid(format!(
                            "sync {:?}: postBuild.substituteFrom[{i}].name {:?} is not a valid {} name: use lowercase letters, digits, '-' and '.'",
                            s.name.0, r.name, r.kind
                        )));
                    }
                }
            }
            for (i, h) in s.health_checks.iter().enumerate() {
                let version = h.api_version.rsplit('/').next().unwrap_or("");
                if version.is_empty() || h.api_version.matches('/').count() > 1 {
                    return Err(invalid(format!(
                        "sync {:?}: healthChecks[{i}].apiVersion {:?} must be `group/version` or `version`, e.g. apps/v1",
                        s.name.0, h.api_version
                    )));
                }
                if h.kind.is_empty() || !h.kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid(format!(
                        "sync {:?}: healthChecks[{i}].kind {:?} must be a kind such as Deployment",
                        s.name.0, h.kind
                    )));
                }
                if !is_object_name(&h.name) {
                    return Err(invalid(format!(
                        "sync {:?}: healthChecks[{i}].name {:?} is not a valid object name: use lowercase letters, digits, '-' and '.'",
                        s.name.0, h.name
                    )));
                }
            }
            if let Some(sa) = &s.service_account_name {
                let (ns, name) = match sa.split_once('/') {
                    Some((ns, name)) => (Some(ns), name),
                    None => (s.target_namespace.as_deref(), sa.as_str()),
                };
                let Some(ns) = ns else {
                    return Err(invalid(format!(
                        "sync {:?}: serviceAccountName {sa:?} needs a namespace: write it \"namespace/{sa}\", or set targetNamespace",
                        s.name.0
                    )));
                };
                if ns.parse::<Name>().is_err() || !is_object_name(name) {
                    return Err(invalid(format!(
                        "sync {:?}: serviceAccountName {sa:?} is not `namespace/name` of a service account",
                        s.name.0
                    )));
                }
            }
            for (key, affix) in [
                ("namePrefix", &s.name_prefix),
                ("nameSuffix", &s.name_suffix),
            ] {
                if let Some(a) = affix
                    && !a.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    })
                {
                    return Err(invalid(format!(
                        "sync {:?}: {key} {a:?} may only hold lowercase letters, digits, '-' and '.', as object names do",
                        s.name.0
                    )));
                }
            }
            let p = Path::new(&s.path);
            if p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(invalid(format!(
                    "sync {:?}: path {:?} must be relative to the source root and stay inside it",
                    s.name.0, s.path
                )));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.receiver {
            if !seen.insert(&r.name) {
                return Err(invalid(format!(
                    "receiver {:?} is declared twice",
                    r.name.0
                )));
            }
            if self.host.receiver_address.is_none() {
                return Err(invalid(format!(
                    "receiver {:?}: set host.receiverAddress (e.g. \"0.0.0.0:9292\") so weir run can listen for it",
                    r.name.0
                )));
            }
            if r.sources.is_empty() {
                return Err(invalid(format!(
                    "receiver {:?}: sources is empty; name the [[git]] sources a request should fetch",
                    r.name.0
                )));
            }
            for src in &r.sources {
                if self.source_settings(src).is_none() {
                    return Err(invalid(format!(
                        "receiver {:?}: source {:?} is not declared (add a [[git]] or [[source]] with that name)",
                        r.name.0, src.0
                    )));
                }
            }
        }
        self.check_notifications().map_err(invalid)?;
        self.check_dependencies().map_err(invalid)
    }

    /// Providers and alerts: unique names, one way to give each secret,
    /// declared providers, known kinds, valid regular expressions and
    /// templates.
    fn check_notifications(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.provider {
            let name = p.name.as_str();
            if !seen.insert(&p.name) {
                return Err(format!("provider {name:?} is declared twice"));
            }
            if p.kind.trim().is_empty() {
                return Err(format!(
                    "provider {name:?}: type is empty; name a notifier plugin (slack, teams, webhook, webhook-hmac, github, gitlab, …)"
                ));
            }
            if p.address.is_some() && p.address_file.is_some() {
                return Err(format!(
                    "provider {name:?}: set address or addressFile, not both"
                ));
            }
            if p.token.is_some() && p.token_file.is_some() {
                return Err(format!(
                    "provider {name:?}: set token or tokenFile, not both"
                ));
            }
            if p.address.is_none() && p.address_file.is_none() && p.secret_ref.is_none() {
                return Err(format!(
                    "provider {name:?}: no address: set address, addressFile or secretRef (a Secret with an `address` key)"
                ));
            }
            if let Some(a) = &p.address
                && url_authority(a).is_none()
            {
                return Err(format!("provider {name:?}: address is not an http(s) URL"));
            }
            if let Some(r) = &p.secret_ref
                && (!is_object_name(&r.name) || !is_object_name(&r.namespace))
            {
                return Err(format!(
                    "provider {name:?}: secretRef needs a valid name and namespace"
                ));
            }
            if p.rate_limit
                .as_ref()
                .is_some_and(|r| r.events == 0 || r.per.get().is_zero())
            {
                return Err(format!(
                    "provider {name:?}: rateLimit needs events > 0 and a non-zero period"
                ));
            }
            for (k, v) in &p.settings {
                if !matches!(
                    v,
                    toml::Value::String(_)
                        | toml::Value::Integer(_)
                        | toml::Value::Float(_)
                        | toml::Value::Boolean(_)
                ) {
                    return Err(format!(
                        "provider {name:?}: settings.{k} must be a string, number or boolean"
                    ));
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.alert {
            let name = a.name.as_str();
            if !seen.insert(&a.name) {
                return Err(format!("alert {name:?} is declared twice"));
            }
            if !self.provider.iter().any(|p| p.name == a.provider) {
                return Err(format!(
                    "alert {name:?}: provider {:?} is not declared (add a [[provider]] with that name)",
                    a.provider.as_str()
                ));
            }
            if a.event_sources.is_empty() {
                return Err(format!(
                    "alert {name:?}: eventSources is empty; e.g. eventSources = [{{ kind = \"Sync\", name = \"*\" }}]"
                ));
            }
            for (i, s) in a.event_sources.iter().enumerate() {
                if s.kind() != "*" && !EVENT_KINDS.contains(&s.kind()) {
                    return Err(format!(
                        "alert {name:?}: eventSources[{i}]: unknown kind {:?} (kinds: {}, or \"*\")",
                        s.kind,
                        EVENT_KINDS.join(", ")
                    ));
                }
                if s.name.is_empty() {
                    return Err(format!(
                        "alert {name:?}: eventSources[{i}]: name is empty (use \"*\" for all)"
                    ));
                }
            }
            for (list, patterns) in [
                ("inclusionList", &a.inclusion_list),
                ("exclusionList", &a.exclusion_list),
            ] {
                for (i, re) in patterns.iter().enumerate() {
                    if let Err(e) = regex::Regex::new(re) {
                        return Err(format!(
                            "alert {name:?}: {list}[{i}] is not a valid regular expression: {e}"
                        ));
                    }
                }
            }
            if let Some(t) = &a.template
                && let Err(e) = template::Template::parse(t)
            {
                return Err(format!("alert {name:?}: {e}"));
            }
        }
        Ok(())
    }

    /// `dependsOn`: every name is another declared sync, listed once, and
    /// following the edges never comes back to where it started.
    fn check_dependencies(&self) -> Result<(), String> {
        for s in &self.sync {
            let mut listed = std::collections::BTreeSet::new();
            for d in &s.depends_on {
                if d == &s.name {
                    return Err(format!(
                        "sync {:?}: dependsOn names the sync itself; a sync cannot wait for itself",
                        s.name.0
                    ));
                }
                if !listed.insert(d) {
                    return Err(format!(
                        "sync {:?}: dependsOn lists {:?} twice",
                        s.name.0, d.0
                    ));
                }
                if !self.sync.iter().any(|o| &o.name == d) {
                    return Err(format!(
                        "sync {:?}: dependsOn names {:?}, which is not a declared sync (declared: {})",
                        s.name.0,
                        d.0,
                        self.sync
                            .iter()
                            .map(|o| o.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        if let Some(cycle) = self.dependency_cycle() {
            let path: Vec<&str> = cycle.iter().map(|&i| self.sync[i].name.as_str()).collect();
            return Err(format!(
                "dependsOn forms a cycle: {}; no sync in it could ever be reconciled, so remove one of these dependencies",
                path.join(" -> ")
            ));
        }
        Ok(())
    }

    /// The first cycle of `dependsOn` edges, found by a depth-first walk in
    /// declaration order, as sync indices from its first sync back to it
    /// (`[a, b, a]`). Names that are not declared syncs are ignored.
    fn dependency_cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        fn visit(
            c: &Config,
            i: usize,
            marks: &mut [Mark],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            marks[i] = Mark::OnPath;
            path.push(i);
            for j in c.sync[i].depends_on.iter().filter_map(|d| c.sync_index(d)) {
                match marks[j] {
                    Mark::OnPath => {
                        let start = path.iter().position(|&k| k == j).unwrap_or(0);
                        let mut cycle = path[start..].to_vec();
                        cycle.push(j);
                        return Some(cycle);
                    }
                    Mark::New => {
                        if let Some(cycle) = visit(c, j, marks, path) {
                            return Some(cycle);
                        }
                    }
                    Mark::Done => {}
                }
            }
            path.pop();
            marks[i] = Mark::Done;
            None
        }
        let mut marks = vec![Mark::New; self.sync.len()];
        let mut path = Vec::new();
        (0..self.sync.len()).find_map(|i| {
            if marks[i] == Mark::New {
                visit(self, i, &mut marks, &mut path)
            } else {
                None
            }
        })
    }

    /// The index of the sync with this name.
    pub fn sync_index(&self, name: &Name) -> Option<usize> {
        self.sync.iter().position(|s| &s.name == name)
    }

    /// Indices of the syncs in an order where every sync comes after the
    /// syncs it depends on, and otherwise in declaration order: next comes
    /// always the first declared sync whose dependencies have all come
    /// before (a topological sort). Names in `dependsOn` that
    /// are not syncs of this config (as after filtering to one sync) are
    /// ignored. A checked config has no cycles; were there one, its syncs
    /// would come last, in declaration order.
    pub fn sync_order(&self) -> Vec<usize> {
        let n = self.sync.len();
        let mut placed = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            // The first unplaced sync (in declaration order) whose
            // dependencies are all placed; quadratic, and syncs are few.
            let next = (0..n).find(|&i| {
                !placed[i]
                    && self.sync[i]
                        .depends_on
                        .iter()
                        .filter_map(|d| self.sync_index(d))
                        .all(|j| placed[j])
            });
            match next {
                Some(i) => {
                    placed[i] = true;
                    order.push(i);
                }
                None => {
                    order.extend((0..n).filter(|&i| !placed[i]));
                    break;
                }
            }
        }
        order
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The state directory, resolved.
    pub fn state_dir(&self) -> PathBuf {
        self.resolve(self.host.state_dir.as_deref().unwrap_or(Path::new(".weir")))
    }

    /// The plugins directory, resolved.
    pub fn plugins_dir(&self) -> PathBuf {
        self.resolve(
            self.host
                .plugins_dir
                .as_deref()
                .unwrap_or(Path::new("plugins")),
        )
    }

    /// How many syncs reconcile at once, with its default (4).
    pub fn concurrency(&self) -> usize {
        self.host.concurrency.map_or(4, std::num::NonZeroUsize::get)
    }

    /// The namespace of weir's Events, with its default.
    pub fn event_namespace(&self) -> &str {
        self.host
            .event_namespace
            .as_ref()
            .map_or("default", Name::as_str)
    }

    /// The cluster's display name.
    pub fn cluster_name(&self) -> &str {
        self.host.cluster_name.as_deref().unwrap_or("default")
    }

    /// The git source with this name.
    pub fn git_source(&self, name: &Name) -> Option<&GitRepository> {
        self.git.iter().find(|g| &g.name == name)
    }

    /// What the engine needs of any source, `[[git]]` or `[[source]]`.
    pub fn source_settings(&self, name: &Name) -> Option<SourceSettings<'_>> {
        if let Some(g) = self.git_source(name) {
            return Some(SourceSettings {
                name: &g.name,
                url: &g.url,
                interval: g.interval(),
                timeout: g.timeout(),
                suspend: g.suspend,
                labels: &g.labels,
                kind: "GitRepository",
            });
        }
        self.source
            .iter()
            .find(|p| &p.name == name)
            .map(|p| SourceSettings {
                name: &p.name,
                url: &p.url,
                interval: p.interval(),
                timeout: p.timeout(),
                suspend: p.suspend,
                labels: &p.labels,
                kind: "Source",
            })
    }

    /// Every source, `[[git]]` first, in declaration order.
    pub fn sources(&self) -> Vec<SourceSettings<'_>> {
        self.git
            .iter()
            .map(|g| &g.name)
            .chain(self.source.iter().map(|p| &p.name))
            .filter_map(|n| self.source_settings(n))
            .collect()
    }

    /// The limits for the named plugin, with defaults filled in.
    pub fn plugin_limits(&self, plugin: &str) -> EffectiveLimits {
        let l = self.host.plugins.get(plugin);
        EffectiveLimits {
            max_memory: l
                .and_then(|l| l.max_memory)
                .unwrap_or(ByteSize(512 * 1024 * 1024)),
            timeout: l.and_then(|l| l.timeout).unwrap_or(Duration::from_secs(60)),
            allowed_hosts: {
                let mut hosts: Vec<String> = l.map(|l| l.allowed_hosts.clone()).unwrap_or_default();
                // A provider's address written in this file is a grant to
                // its plugin: the operator wrote where it may deliver.
                for p in self.provider.iter().filter(|p| p.plugin() == plugin) {
                    if let Some(h) = p.address.as_deref().and_then(url_authority)
                        && !hosts.contains(&h)
                    {
                        hosts.push(h);
                    }
                }
                // Likewise a [[source]]'s url for its source plugin.
                for s in self.source.iter().filter(|s| s.plugin == plugin) {
                    if let Some(h) = url_authority(&s.url)
                        && !hosts.contains(&h)
                    {
                        hosts.push(h);
                    }
                }
                hosts
            },
        }
    }
}

/// `host:port` of an http(s) URL (the port only when the URL has one), as
/// `host.plugins.NAME.allowedHosts` writes grants; `None` for other URLs.
pub fn url_authority(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    (!authority.is_empty()).then(|| authority.to_ascii_lowercase())
}

/// Plugin limits and grants with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveLimits {
    /// Most linear memory one call may use.
    pub max_memory: ByteSize,
    /// Wall-clock deadline of one call.
    pub timeout: Duration,
    /// Hosts the plugin may reach over HTTP if it asks for them.
    pub allowed_hosts: Vec<String>,
}

impl Default for EffectiveLimits {
    /// The limits of a plugin the config says nothing about: 512MiB, 60s,
    /// no hosts.
    fn default() -> Self {
        EffectiveLimits {
            max_memory: ByteSize(512 * 1024 * 1024),
            timeout: Duration::from_secs(60),
            allowed_hosts: Vec::new(),
        }
    }
}

impl Config {
    /// `auth.certFile`/`keyFile` and `proxy` of one git source.
    fn check_git_transport(&self, g: &GitRepository) -> Result<(), String> {
        let https = g.url.starts_with("https://");
        let http = https || g.url.starts_with("http://");
        match (&g.auth.cert_file, &g.auth.key_file) {
            (Some(_), None) => return Err("auth.certFile needs auth.keyFile".to_owned()),
            (None, Some(_)) => return Err("auth.keyFile needs auth.certFile".to_owned()),
            (Some(_), Some(_)) if !https => {
                return Err(format!(
                    "auth.certFile and auth.keyFile (a TLS client certificate) apply to https urls only, and url is {:?}",
                    g.url
                ));
            }
            _ => {}
        }
        if let Some(p) = &g.proxy {
            if !http {
                return Err(format!(
                    "proxy applies to http and https urls only (as in Flux), and url is {:?}",
                    g.url
                ));
            }
            let scheme_ok = ["http://", "https://"]
                .iter()
                .any(|s| p.address.starts_with(s));
            if !scheme_ok {
                return Err(format!(
                    "proxy.address {:?} must start with http:// or https:// (socks5 proxies are not supported yet)",
                    p.address
                ));
            }
            if p.address.split("://").nth(1).is_some_and(|rest| {
                rest.split('/')
                    .next()
                    .is_some_and(|authority| authority.contains('@'))
            }) {
                return Err(
                    "proxy.address must not hold credentials: use proxy.username and proxy.passwordFile"
                        .to_owned(),
                );
            }
            if p.password.is_some() && p.password_file.is_some() {
                return Err("set proxy.password or proxy.passwordFile, not both".to_owned());
            }
            let has_password = p.password.is_some() || p.password_file.is_some();
            if has_password != p.username.is_some() {
                return Err(
                    "proxy.username and proxy.password (or proxy.passwordFile) go together"
                        .to_owned(),
                );
            }
        }
        Ok(())
    }

    /// `include` of one git source: declared sources, paths inside the
    /// artifacts.
    fn check_git_includes(&self, g: &GitRepository) -> Result<(), String> {
        for (i, inc) in g.include.iter().enumerate() {
            let name = &inc.repository.name;
            if name == &g.name {
                return Err(format!("include[{i}] names the source itself"));
            }
            if self.git_source(name).is_none() {
                return Err(format!(
                    "include[{i}].repository.name {:?} is not declared (add a [[git]] with that name)",
                    name.0
                ));
            }
            for (field, value) in [
                ("fromPath", inc.from_path.as_deref()),
                ("toPath", inc.to_path.as_deref()),
            ] {
                if let Some(v) = value
                    && (v.starts_with('/') || v.split('/').any(|c| c == ".."))
                {
                    return Err(format!(
                        "include[{i}].{field} {v:?} must be a path inside the artifact, such as \"deploy/base\" (not absolute, no \"..\")"
                    ));
                }
            }
            if inc.to_path().is_empty() {
                return Err(format!(
                    "include[{i}].toPath {:?} names the artifact's root; name a directory inside it",
                    inc.to_path.as_deref().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    /// Refuses sources that include themselves through other sources,
    /// naming the cycle (`a -> b -> a`).
    fn check_include_cycles(&self) -> Result<(), String> {
        fn visit<'a>(
            c: &'a Config,
            g: &'a GitRepository,
            path: &mut Vec<&'a Name>,
            done: &mut std::collections::BTreeSet<&'a Name>,
        ) -> Result<(), String> {
            if let Some(start) = path.iter().position(|n| *n == &g.name) {
                let mut names: Vec<&str> = path[start..].iter().map(|n| n.as_str()).collect();
                names.push(g.name.as_str());
                return Err(format!(
                    "git source {:?}: include cycle {}",
                    g.name.0,
                    names.join(" -> ")
                ));
            }
            if done.contains(&g.name) {
                return Ok(());
            }
            path.push(&g.name);
            for inc in &g.include {
                if let Some(dep) = c.git_source(&inc.repository.name) {
                    visit(c, dep, path, done)?;
                }
            }
            path.pop();
            done.insert(&g.name);
            Ok(())
        }
        let mut done = std::collections::BTreeSet::new();
        for g in &self.git {
            visit(self, g, &mut Vec::new(), &mut done)?;
        }
        Ok(())
    }
}

impl GitRepository {
    /// Fetch interval with its default.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_secs(60))
    }

    /// Fetch timeout with its default.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(60))
    }
}

impl Sync {
    /// Reconcile interval with its default.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or(Duration::from_secs(300))
    }

    /// The renderer plugin for this sync's `path` in the artifact at
    /// `artifact_dir`: `renderer` when set; otherwise, as Flux runs
    /// kustomize on every Kustomization, `kustomize` when the path holds a
    /// kustomization file ([`KUSTOMIZATION_FILES`]), else `plain`.
    pub fn renderer_in(&self, artifact_dir: &Path) -> &str {
        if let Some(r) = self.renderer.as_deref() {
            return r;
        }
        default_renderer(&artifact_dir.join(self.path.trim_start_matches("./")))
    }

    /// Health check timeout with its default: the interval, as in Flux.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.interval())
    }

    /// Whether anything is health-checked after applying.
    pub fn checks_health(&self) -> bool {
        self.wait || !self.health_checks.is_empty()
    }

    /// Retry interval after a transient failure, with its default: the
    /// interval.
    pub fn retry_interval(&self) -> Duration {
        self.retry_interval.unwrap_or_else(|| self.interval())
    }

    /// The service account to impersonate as `(namespace, name)`, when one
    /// is set. `name` alone is in `targetNamespace` (checked at load).
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let sa = self.service_account_name.as_deref()?;
        match sa.split_once('/') {
            Some((ns, name)) => Some((ns, name)),
            None => Some((self.target_namespace.as_deref().unwrap_or("default"), sa)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/weir/weir.toml"))
    }

    const GOOD: &str = r#"
version = 1
[host]
clusterName = "dev"
[host.plugins.plain]
maxMemory = "64MiB"
timeout = "5s"

[[git]]
name = "apps"
url = "https://127.0.0.1/apps.git"
ref = { branch = "main" }
interval = "1m30s"

[[sync]]
name = "apps"
source = "apps"
path = "deploy"
prune = true
"#;

    #[test]
    fn parses_a_complete_file_with_defaults() {
        let c = parse(GOOD).expect("valid config");
        assert_eq!(c.cluster_name(), "dev");
        assert_eq!(c.git[0].interval(), Duration::from_secs(90));
        assert_eq!(c.git[0].timeout(), Duration::from_secs(60));
        let artifact = tempfile::tempdir().expect("tmp");
        assert_eq!(c.sync[0].renderer_in(artifact.path()), "plain");
        let dir = artifact.path().join(&c.sync[0].path);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("kustomization.yml"), "resources: []\n").expect("write");
        assert_eq!(c.sync[0].renderer_in(artifact.path()), "kustomize");
        assert_eq!(c.state_dir(), PathBuf::from("/etc/weir/.weir"));
        let l = c.plugin_limits("plain");
        assert_eq!(l.max_memory, ByteSize(64 * 1024 * 1024));
        assert_eq!(l.timeout, Duration::from_secs(5));
        assert!(l.allowed_hosts.is_empty());
        assert_eq!(c.plugin_limits("other"), EffectiveLimits::default());
        let c =
            parse("version = 1\n[host.plugins.notify]\nallowedHosts = [\"hooks.example.com\"]\n")
                .expect("valid config");
        assert_eq!(
            c.plugin_limits("notify").allowed_hosts,
            ["hooks.example.com"]
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = GOOD.replace("prune = true", "prune = true\nprunee = false");
        let err = parse(&text).expect_err("unknown key").to_string();
        assert!(err.contains("/etc/weir/weir.toml"), "{err}");
        assert!(err.contains("prunee"), "{err}");
        assert!(err.contains("line 20"), "{err}");
    }

    #[test]
    fn missing_or_newer_version_is_refused_first() {
        let err = parse("[host]\n").expect_err("no version").to_string();
        assert!(err.contains("missing `version = 1`"), "{err}");
        let err = parse("version = 2\nnewThing = 1\n")
            .expect_err("newer")
            .to_string();
        assert!(err.contains("unsupported config version 2"), "{err}");
    }

    #[test]
    fn sync_must_name_a_declared_source() {
        let text = GOOD.replace("source = \"apps\"", "source = \"nope\"");
        let err = parse(&text).expect_err("dangling").to_string();
        assert!(err.contains("source \"nope\" is not declared"), "{err}");
    }

    #[test]
    fn bad_names_paths_and_urls_are_refused() {
        let err = parse(&GOOD.replace("name = \"apps\"\nurl", "name = \"Apps\"\nurl"))
            .expect_err("bad name")
            .to_string();
        assert!(err.contains("invalid name \"Apps\""), "{err}");
        let err = parse(&GOOD.replace("path = \"deploy\"", "path = \"../etc\""))
            .expect_err("escaping path")
            .to_string();
        assert!(err.contains("stay inside"), "{err}");
        let err = parse(&GOOD.replace("https://127.0.0.1/apps.git", "git@host:apps.git"))
            .expect_err("scp url")
            .to_string();
        assert!(err.contains("scp-like"), "{err}");
        let err = parse(&GOOD.replace("https://127.0.0.1/apps.git", "ssh://git@h/a.git"))
            .expect_err("ssh without known hosts")
            .to_string();
        assert!(err.contains("knownHostsFile"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file_as_absolute_paths() {
        let c = Config::parse("version = 1\n", Path::new("weir.toml")).expect("valid");
        assert!(c.state_dir().is_absolute(), "{}", c.state_dir().display());
        assert!(c.plugins_dir().ends_with("plugins"));
    }

    const POST_BUILD: &str = r#"
[sync.postBuild]
strict = true
substitute = { cluster_name = "dev", _REPLICAS2 = "3" }

[[sync.postBuild.substituteFrom]]
kind = "ConfigMap"
name = "cluster-vars.v1"
namespace = "flux-system"
optional = true

[[sync.postBuild.substituteFrom]]
kind = "Secret"
name = "cluster-secrets"
namespace = "flux-system"
"#;

    #[test]
    fn post_build_parses_with_flux_field_names_and_defaults() {
        let c = parse(&format!("{GOOD}{POST_BUILD}")).expect("valid config");
        let pb = c.sync[0].post_build.as_ref().expect("postBuild");
        assert!(pb.strict);
        assert_eq!(pb.substitute["cluster_name"], "dev");
        assert_eq!(pb.substitute["_REPLICAS2"], "3");
        assert_eq!(pb.substitute_from.len(), 2);
        assert_eq!(pb.substitute_from[0].kind, SubstituteKind::ConfigMap);
        assert!(pb.substitute_from[0].optional);
        assert_eq!(
            pb.substitute_from[1].to_string(),
            "Secret/flux-system/cluster-secrets"
        );
        assert!(!pb.substitute_from[1].optional);
        assert!(parse(GOOD).expect("valid").sync[0].post_build.is_none());
        let empty = parse(&format!("{GOOD}[sync.postBuild]\n")).expect("valid");
        assert_eq!(empty.sync[0].post_build, Some(PostBuild::default()));
    }

    const DECRYPTION: &str = r#"
[sync.decryption]
provider = "sops"
secretRef = { name = "sops-keys", namespace = "weir-system" }
keyFiles = ["keys/age.agekey", "/etc/weir/ops.asc"]
"#;

    #[test]
    fn decryption_parses_provider_secret_ref_and_key_files_by_extension() {
        let c = parse(&format!("{GOOD}{DECRYPTION}")).expect("valid config");
        let d = c.sync[0].decryption.as_ref().expect("decryption");
        assert_eq!(d.provider.as_str(), "sops");
        let r = d.secret_ref.as_ref().expect("secretRef");
        assert_eq!(r.to_string(), "Secret/weir-system/sops-keys");
        assert_eq!(d.key_files.len(), 2);
        assert_eq!(d.key_files[0].kind, KeyKind::Age);
        assert_eq!(d.key_files[1].kind, KeyKind::Pgp);
        assert_eq!(
            c.resolve(&d.key_files[0].path),
            PathBuf::from("/etc/weir/keys/age.agekey")
        );
        let only_provider =
            parse(&format!("{GOOD}[sync.decryption]\nprovider = \"kms\"\n")).expect("valid");
        let d = only_provider.sync[0]
            .decryption
            .as_ref()
            .expect("decryption");
        assert!(d.secret_ref.is_none() && d.key_files.is_empty());
        assert!(parse(GOOD).expect("valid").sync[0].decryption.is_none());
    }

    #[test]
    fn decryption_errors_name_the_line_and_the_key_or_value() {
        let full = format!("{GOOD}{DECRYPTION}");
        let line_of = |text: &str, needle: &str| {
            text.lines()
                .position(|l| l.contains(needle))
                .map(|i| format!("line {}", i + 1))
                .expect("needle in text")
        };
        let cases = [
            (
                full.replace("provider = ", "provder = "),
                "provder",
                "provder",
            ),
            (
                full.replace("\"sops\"", "\"\""),
                "provider is empty",
                "provider",
            ),
            (
                full.replace("keys/age.agekey", "keys/age.txt"),
                "must end in .agekey",
                "keyFiles",
            ),
            (
                full.replace("\"sops-keys\"", "\"Sops_Keys\""),
                "invalid object name \"Sops_Keys\"",
                "secretRef",
            ),
            (
                full.replace(", namespace = \"weir-system\"", ""),
                "namespace",
                "secretRef",
            ),
            (
                full.replace(
                    "namespace = \"weir-system\"",
                    "namespace = \"weir-system\", kind = \"Secret\"",
                ),
                "kind",
                "secretRef",
            ),
        ];
        for (text, what, line_key) in cases {
            let err = parse(&text).expect_err(what).to_string();
            assert!(err.contains(what), "{what}: {err}");
            assert!(err.contains(&line_of(&text, line_key)), "{what}: {err}");
        }
    }

    #[test]
    fn invalid_variable_names_are_refused_naming_the_sync_and_key() {
        for bad in ["1st", "my-var", "\"a.b\"", "\"\"", "\"ünï\""] {
            let text = format!("{GOOD}[sync.postBuild]\nsubstitute = {{ {bad} = \"x\" }}\n");
            let err = parse(&text).expect_err(bad).to_string();
            assert!(err.contains("sync \"apps\""), "{err}");
            assert!(err.contains("postBuild.substitute key"), "{err}");
            assert!(err.contains("not a valid variable name"), "{err}");
        }
    }

    #[test]
    fn substitute_from_needs_a_known_kind_a_valid_name_and_a_namespace() {
        let bad_kind = format!("{GOOD}{POST_BUILD}").replace("\"Secret\"", "\"Sekret\"");
        let err = parse(&bad_kind).expect_err("kind").to_string();
        assert!(err.contains("Sekret") && err.contains("ConfigMap"), "{err}");
        let bad_name = format!("{GOOD}{POST_BUILD}").replace("cluster-secrets", "Cluster_Secrets");
        let err = parse(&bad_name).expect_err("name").to_string();
        assert!(
            err.contains("postBuild.substituteFrom[1].name \"Cluster_Secrets\""),
            "{err}"
        );
        let full = format!("{GOOD}{POST_BUILD}");
        let last = full.rfind("namespace = ").expect("has a namespace");
        let no_ns = full[..last].to_owned();
        let err = parse(&no_ns).expect_err("namespace").to_string();
        assert!(err.contains("namespace"), "{err}");
        let unknown = format!("{GOOD}{POST_BUILD}").replace("strict = true", "strictt = true");
        let err = parse(&unknown).expect_err("unknown key").to_string();
        assert!(err.contains("strictt"), "{err}");
        let number = format!("{GOOD}[sync.postBuild]\nsubstitute = {{ replicas = 3 }}\n");
        assert!(
            parse(&number).is_err(),
            "values must be strings, as in Flux"
        );
    }

    #[test]
    fn variable_names_follow_flux_rule() {
        assert!(is_variable_name("cluster_name"));
        assert!(is_variable_name("_x9"));
        assert!(is_variable_name("X"));
        assert!(!is_variable_name(""));
        assert!(!is_variable_name("9x"));
        assert!(!is_variable_name("a-b"));
    }

    #[test]
    fn git_verify_takes_flux_modes_and_needs_keys_and_a_tag_for_tag_modes() {
        let with = |extra: &str| {
            GOOD.replace(
                "interval = \"1m30s\"",
                &format!("interval = \"1m30s\"\n{extra}"),
            )
        };
        let c = parse(&with("verify = { keyFiles = [\"k.asc\"] }")).expect("valid");
        let v = c.git[0].verify.as_ref().expect("verify");
        assert_eq!(v.mode, GitVerifyMode::Head);
        assert_eq!(v.key_files, [PathBuf::from("k.asc")]);
        let c = parse(&with("verify = { mode = \"head\", keyFiles = [\"k\"] }")).expect("valid");
        assert_eq!(
            c.git[0].verify.as_ref().map(|v| v.mode),
            Some(GitVerifyMode::Head)
        );
        let err = parse(&with("verify = { keyFiles = [] }")).expect_err("no keys");
        assert!(
            err.to_string().contains("verify.keyFiles is empty"),
            "{err}"
        );
        let err =
            parse(&with("verify = { mode = \"Tag\", keyFiles = [\"k\"] }")).expect_err("branch");
        assert!(err.to_string().contains("ref must be a tag"), "{err}");
        let err =
            parse(&with("verify = { mode = \"Commit\", keyFiles = [\"k\"] }")).expect_err("mode");
        assert!(err.to_string().contains("Commit"), "{err}");
    }

    /// `GOOD` with more `[[git]]` sources (`lib`, `base`) and `extra` keys
    /// on the first one.
    fn with_includes(extra: &str, more: &str) -> String {
        GOOD.replace(
            "interval = \"1m30s\"",
            &format!(
                "interval = \"1m30s\"\n{extra}\n\n[[git]]\nname = \"lib\"\nurl = \"https://127.0.0.1/lib.git\"\n{more}\n\n[[git]]\nname = \"base\"\nurl = \"https://127.0.0.1/base.git\"\n"
            ),
        )
    }

    #[test]
    fn git_include_takes_flux_fields_and_defaults_to_the_source_name() {
        let c = parse(&with_includes(
            "include = [{ repository = { name = \"lib\" } }, { repository = { name = \"base\" }, fromPath = \"./deploy/\", toPath = \"vendor//base\" }]",
            "",
        ))
        .expect("valid");
        let inc = &c.git[0].include;
        assert_eq!(inc.len(), 2);
        assert_eq!(inc[0].from_path(), "");
        assert_eq!(inc[0].to_path(), "lib");
        assert_eq!(inc[1].from_path(), "deploy");
        assert_eq!(inc[1].to_path(), "vendor/base");
    }

    #[test]
    fn git_includes_of_unknown_sources_cycles_and_escaping_paths_are_refused() {
        let err = parse(&with_includes(
            "include = [{ repository = { name = \"nope\" } }]",
            "",
        ))
        .expect_err("unknown");
        assert!(
            err.to_string().contains(
                "git source \"apps\": include[0].repository.name \"nope\" is not declared"
            ),
            "{err}"
        );
        let err = parse(&with_includes(
            "include = [{ repository = { name = \"lib\" } }]",
            "include = [{ repository = { name = \"apps\" } }]",
        ))
        .expect_err("cycle");
        assert!(
            err.to_string()
                .contains("include cycle apps -> lib -> apps"),
            "{err}"
        );
        let err = parse(&with_includes(
            "include = [{ repository = { name = \"apps\" } }]",
            "",
        ))
        .expect_err("self");
        assert!(err.to_string().contains("names the source itself"), "{err}");
        for bad in [
            "fromPath = \"../x\"",
            "toPath = \"/etc\"",
            "toPath = \"a/../../b\"",
        ] {
            let err = parse(&with_includes(
                &format!("include = [{{ repository = {{ name = \"lib\" }}, {bad} }}]"),
                "",
            ))
            .expect_err(bad);
            assert!(
                err.to_string()
                    .contains("must be a path inside the artifact"),
                "{err}"
            );
        }
        let err = parse(&with_includes(
            "include = [{ repository = { name = \"lib\" }, toPath = \"./\" }]",
            "",
        ))
        .expect_err("root");
        assert!(
            err.to_string().contains("names the artifact's root"),
            "{err}"
        );
    }

    #[test]
    fn git_client_certs_and_proxies_are_checked() {
        let with = |extra: &str| with_includes(extra, "");
        let c = parse(&with(
            "recurseSubmodules = true\nproxy = { address = \"http://127.0.0.1:3128\", username = \"u\", passwordFile = \"p\" }\nauth = { certFile = \"c.crt\", keyFile = \"c.key\" }",
        ))
        .expect("valid");
        let g = &c.git[0];
        assert!(g.recurse_submodules);
        assert_eq!(
            g.proxy.as_ref().map(|p| p.address.as_str()),
            Some("http://127.0.0.1:3128")
        );
        assert_eq!(g.auth.cert_file.as_deref(), Some(Path::new("c.crt")));
        let cases = [
            (
                "auth = { certFile = \"c\" }",
                "auth.certFile needs auth.keyFile",
            ),
            (
                "auth = { keyFile = \"k\" }",
                "auth.keyFile needs auth.certFile",
            ),
            (
                "proxy = { address = \"socks5://127.0.0.1:1080\" }",
                "socks5 proxies are not supported",
            ),
            (
                "proxy = { address = \"http://u:p@127.0.0.1:1\" }",
                "must not hold credentials",
            ),
            (
                "proxy = { address = \"http://127.0.0.1:1\", username = \"u\" }",
                "go together",
            ),
            (
                "proxy = { address = \"http://127.0.0.1:1\", username = \"u\", password = \"p\", passwordFile = \"f\" }",
                "not both",
            ),
        ];
        for (extra, want) in cases {
            let err = parse(&with(extra)).expect_err(extra);
            assert!(err.to_string().contains(want), "{extra}: {err}");
        }
        let ssh = GOOD
            .replace("https://127.0.0.1/apps.git", "ssh://git@127.0.0.1/apps.git")
            .replace(
                "interval = \"1m30s\"",
                "interval = \"1m30s\"\nproxy = { address = \"http://127.0.0.1:1\" }\nauth = { knownHostsFile = \"kh\" }",
            );
        let err = parse(&ssh).expect_err("ssh proxy");
        assert!(
            err.to_string()
                .contains("proxy applies to http and https urls only"),
            "{err}"
        );
        let plain = GOOD
            .replace("https://127.0.0.1/apps.git", "http://127.0.0.1/apps.git")
            .replace(
                "interval = \"1m30s\"",
                "interval = \"1m30s\"\nauth = { certFile = \"c\", keyFile = \"k\" }",
            );
        let err = parse(&plain).expect_err("http cert");
        assert!(
            err.to_string().contains("apply to https urls only"),
            "{err}"
        );
    }

    #[test]
    fn wait_health_checks_and_timeout_default_like_flux() {
        let c = parse(GOOD).expect("valid");
        let s = &c.sync[0];
        assert!(!s.wait);
        assert!(s.health_checks.is_empty());
        assert!(!s.checks_health());
        assert_eq!(s.timeout(), Duration::from_secs(300), "default: interval");
        let c =
            parse(&GOOD.replace("prune = true", "prune = true\ninterval = \"2m\"")).expect("valid");
        assert_eq!(c.sync[0].timeout(), Duration::from_secs(120));
    }

    #[test]
    fn wait_health_checks_and_timeout_parse_with_flux_field_names() {
        let text = GOOD.replace(
            "prune = true",
            r#"prune = true
wait = true
timeout = "90s"
healthChecks = [
  { apiVersion = "apps/v1", kind = "Deployment", name = "web", namespace = "shop" },
  { apiVersion = "v1", kind = "Namespace", name = "shop" },
]"#,
        );
        let c = parse(&text).expect("valid");
        let s = &c.sync[0];
        assert!(s.wait && s.checks_health());
        assert_eq!(s.timeout(), Duration::from_secs(90));
        assert_eq!(s.health_checks.len(), 2);
        assert_eq!(s.health_checks[0].api_version, "apps/v1");
        assert_eq!(s.health_checks[0].to_string(), "Deployment/shop/web");
        assert_eq!(s.health_checks[1].namespace, None);
        assert_eq!(s.health_checks[1].to_string(), "Namespace/shop");
    }

    #[test]
    fn bad_health_checks_are_refused_naming_the_sync_and_entry() {
        let with = |entry: &str| {
            GOOD.replace(
                "prune = true",
                &format!("prune = true\nhealthChecks = [{entry}]"),
            )
        };
        let err = parse(&with(
            r#"{ apiVersion = "apps/v1", kind = "Deployment", name = "Web" }"#,
        ))
        .expect_err("bad name")
        .to_string();
        assert!(
            err.contains("sync \"apps\": healthChecks[0].name \"Web\""),
            "{err}"
        );
        let err = parse(&with(
            r#"{ apiVersion = "", kind = "Deployment", name = "web" }"#,
        ))
        .expect_err("bad apiVersion")
        .to_string();
        assert!(err.contains("healthChecks[0].apiVersion"), "{err}");
        let err = parse(&with(r#"{ apiVersion = "v1", kind = "", name = "web" }"#))
            .expect_err("no kind")
            .to_string();
        assert!(err.contains("healthChecks[0].kind"), "{err}");
        let err = parse(&with(
            r#"{ apiVersion = "v1", kind = "Pod", name = "web", nmespace = "x" }"#,
        ))
        .expect_err("unknown key")
        .to_string();
        assert!(err.contains("nmespace"), "{err}");
        let err = parse(&with(r#"{ apiVersion = "v1", kind = "Pod" }"#))
            .expect_err("no name")
            .to_string();
        assert!(err.contains("name"), "{err}");
        let err = parse(&GOOD.replace("prune = true", "prune = true\nwait = \"yes\""))
            .expect_err("wait is a bool")
            .to_string();
        assert!(err.contains("wait"), "{err}");
    }

    #[test]
    fn force_defaults_to_false_and_parses_as_a_bool() {
        let c = parse(GOOD).expect("valid");
        assert!(!c.sync[0].force);
        let c = parse(&GOOD.replace("prune = true", "prune = true\nforce = true")).expect("valid");
        assert!(c.sync[0].force);
        let err = parse(&GOOD.replace("prune = true", "prune = true\nforce = \"yes\""))
            .expect_err("force is a bool")
            .to_string();
        assert!(err.contains("force"), "{err}");
    }

    /// A config with one source and the given syncs, each `(name,
    /// dependsOn)`, declared in this order.
    fn with_syncs(syncs: &[(&str, &[&str])]) -> String {
        let mut text = String::from(
            "version = 1\n[[git]]\nname = \"repo\"\nurl = \"https://127.0.0.1/r.git\"\n",
        );
        for (name, deps) in syncs {
            let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
            text.push_str(&format!(
                "[[sync]]\nname = \"{name}\"\nsource = \"repo\"\nprune = true\ndependsOn = [{}]\n",
                deps.join(", ")
            ));
        }
        text
    }

    fn order(c: &Config) -> Vec<&str> {
        c.sync_order()
            .into_iter()
            .map(|i| c.sync[i].name.as_str())
            .collect()
    }

    #[test]
    fn depends_on_defaults_to_none_and_parses_names() {
        assert!(parse(GOOD).expect("valid").sync[0].depends_on.is_empty());
        let c = parse(&with_syncs(&[("app", &["infra"]), ("infra", &[])])).expect("valid");
        assert_eq!(c.sync[0].depends_on, [Name("infra".into())]);
        let err = parse(&with_syncs(&[("app", &["Infra"])]))
            .expect_err("bad name")
            .to_string();
        assert!(err.contains("invalid name \"Infra\""), "{err}");
    }

    #[test]
    fn depends_on_must_name_another_declared_sync_once() {
        let err = parse(&with_syncs(&[("app", &["infra"]), ("web", &[])]))
            .expect_err("unknown")
            .to_string();
        assert!(
            err.contains("sync \"app\": dependsOn names \"infra\", which is not a declared sync (declared: app, web)"),
            "{err}"
        );
        let err = parse(&with_syncs(&[("app", &["app"])]))
            .expect_err("self")
            .to_string();
        assert!(
            err.contains("sync \"app\": dependsOn names the sync itself"),
            "{err}"
        );
        let err = parse(&with_syncs(&[("app", &["infra", "infra"]), ("infra", &[])]))
            .expect_err("twice")
            .to_string();
        assert!(err.contains("dependsOn lists \"infra\" twice"), "{err}");
    }

    #[test]
    fn dependency_cycles_are_refused_showing_the_path() {
        let err = parse(&with_syncs(&[("a", &["b"]), ("b", &["a"])]))
            .expect_err("cycle")
            .to_string();
        assert!(err.contains("/etc/weir/weir.toml"), "{err}");
        assert!(
            err.contains("dependsOn forms a cycle: a -> b -> a"),
            "{err}"
        );
        let err = parse(&with_syncs(&[
            ("top", &["a"]),
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
        ]))
        .expect_err("longer cycle")
        .to_string();
        assert!(err.contains("cycle: a -> b -> c -> a"), "{err}");
        // A diamond shares a dependency but has no cycle.
        parse(&with_syncs(&[
            ("top", &["l", "r"]),
            ("l", &["base"]),
            ("r", &["base"]),
            ("base", &[]),
        ]))
        .expect("a diamond is fine");
    }

    #[test]
    fn sync_order_puts_dependencies_first_and_keeps_declaration_order_otherwise() {
        let c = parse(&with_syncs(&[
            ("app", &["infra"]),
            ("solo", &[]),
            ("infra", &["crds"]),
            ("crds", &[]),
            ("late", &[]),
        ]))
        .expect("valid");
        assert_eq!(order(&c), ["solo", "crds", "infra", "app", "late"]);
        let c = parse(&with_syncs(&[("a", &[]), ("b", &[]), ("c", &[])])).expect("valid");
        assert_eq!(order(&c), ["a", "b", "c"]);
        // Filtered to one sync (`weir reconcile --sync app`): the missing
        // dependency is ignored by the order.
        let mut c = parse(&with_syncs(&[("app", &["infra"]), ("infra", &[])])).expect("valid");
        c.sync.retain(|s| s.name.as_str() == "app");
        assert_eq!(order(&c), ["app"]);
    }

    #[test]
    fn new_sync_fields_parse_with_flux_names_and_defaults() {
        let c = parse(GOOD).expect("valid");
        let s = &c.sync[0];
        assert_eq!(
            s.retry_interval(),
            Duration::from_secs(300),
            "default: interval"
        );
        assert_eq!(s.deletion_policy, DeletionPolicy::MirrorPrune);
        assert_eq!(s.service_account(), None);
        assert_eq!(c.concurrency(), 4);
        assert_eq!(c.event_namespace(), "default");
        let text = GOOD.replace(
            "prune = true",
            r#"prune = true
retryInterval = "30s"
namePrefix = "dev-"
nameSuffix = "-v2"
commonMetadata = { labels = { team = "shop" }, annotations = { owner = "ops" } }
deletionPolicy = "WaitForTermination"
targetNamespace = "shop"
serviceAccountName = "deployer"
kubeConfig = { path = "eu.kubeconfig" }"#,
        );
        let c = parse(&text).expect("valid");
        let s = &c.sync[0];
        assert_eq!(s.retry_interval(), Duration::from_secs(30));
        assert_eq!(s.name_prefix.as_deref(), Some("dev-"));
        assert_eq!(
            s.common_metadata
                .as_ref()
                .map(|m| m.labels["team"].as_str()),
            Some("shop")
        );
        assert_eq!(s.deletion_policy, DeletionPolicy::WaitForTermination);
        assert_eq!(s.service_account(), Some(("shop", "deployer")));
        assert_eq!(
            s.kube_config.as_ref().map(|k| k.path.clone()),
            Some(PathBuf::from("eu.kubeconfig"))
        );
        let c = parse(&GOOD.replace(
            "prune = true",
            "prune = true\nserviceAccountName = \"ops/deployer\"",
        ))
        .expect("valid");
        assert_eq!(c.sync[0].service_account(), Some(("ops", "deployer")));
    }

    #[test]
    fn bad_new_sync_fields_are_refused_naming_the_sync() {
        let err = parse(&GOOD.replace(
            "prune = true",
            "prune = true\nserviceAccountName = \"deployer\"",
        ))
        .expect_err("no namespace")
        .to_string();
        assert!(
            err.contains("sync \"apps\": serviceAccountName \"deployer\" needs a namespace"),
            "{err}"
        );
        let err = parse(&GOOD.replace("prune = true", "prune = true\nnamePrefix = \"Dev_\""))
            .expect_err("bad prefix")
            .to_string();
        assert!(err.contains("namePrefix \"Dev_\""), "{err}");
        let err = parse(&GOOD.replace(
            "prune = true",
            "prune = true\ndeletionPolicy = \"Sometimes\"",
        ))
        .expect_err("bad policy")
        .to_string();
        assert!(err.contains("Sometimes") && err.contains("Orphan"), "{err}");
    }

    const NOTIFY: &str = r#"
version = 1
[[git]]
name = "apps"
url = "https://git.example.com/apps.git"
labels = { team = "shop" }
[[sync]]
name = "apps"
source = "apps"
prune = true
labels = { tier = "front" }
[[provider]]
name = "gh"
type = "github"
address = "https://GitHub.example.com:8443/org/app"
tokenFile = "gh-token"
[[provider]]
name = "chat"
type = "msteams"
secretRef = { name = "teams", namespace = "weir" }
timeout = "5s"
rateLimit = { events = 5, per = "10s" }
settings = { format = "legacy", retries = 2, loud = true }
[[alert]]
name = "all"
provider = "chat"
eventSeverity = "error"
eventSources = [{ kind = "Kustomization", name = "*" }, { kind = "GitRepository", name = "apps", matchLabels = { team = "shop" } }]
inclusionList = ["^applied", "failed$"]
eventMetadata = { env = "prod" }
template = "{{cluster}}: {{message}}"
"#;

    #[test]
    fn providers_and_alerts_parse_with_flux_names_and_defaults() {
        let c = parse(NOTIFY).unwrap_or_else(|e| panic!("{e}"));
        let gh = &c.provider[0];
        assert_eq!(gh.plugin(), "github");
        assert_eq!(gh.timeout(), Duration::from_secs(15));
        assert_eq!(
            gh.rate_limit(),
            RateLimit {
                events: 30,
                per: Duration::from_secs(60)
            }
        );
        let chat = &c.provider[1];
        assert_eq!(chat.plugin(), "teams");
        assert_eq!(chat.timeout(), Duration::from_secs(5));
        assert_eq!(chat.settings.len(), 3);
        let a = &c.alert[0];
        assert_eq!(a.event_severity, EventSeverity::Error);
        assert_eq!(a.event_sources[0].kind(), "Sync");
        assert_eq!(a.event_sources[1].match_labels["team"], "shop");
        assert_eq!(c.sync[0].labels["tier"], "front");
        assert_eq!(c.git[0].labels["team"], "shop");
        // An address written in the file grants its host to the plugin;
        // one from a Secret does not.
        assert_eq!(
            c.plugin_limits("github").allowed_hosts,
            vec!["github.example.com:8443".to_owned()]
        );
        assert!(c.plugin_limits("teams").allowed_hosts.is_empty());
    }

    #[test]
    fn bad_providers_and_alerts_are_refused_naming_them() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "tokenFile = \"gh-token\"",
                "tokenFile = \"gh-token\"\ntoken = \"x\"",
                "provider \"gh\": set token or tokenFile, not both",
            ),
            (
                "address = \"https://GitHub.example.com:8443/org/app\"",
                "address = \"ftp://x\"",
                "provider \"gh\": address is not an http(s) URL",
            ),
            (
                "address = \"https://GitHub.example.com:8443/org/app\"",
                "",
                "provider \"gh\": no address",
            ),
            (
                "rateLimit = { events = 5, per = \"10s\" }",
                "rateLimit = { events = 0, per = \"10s\" }",
                "rateLimit needs events > 0",
            ),
            ("retries = 2,", "retries = [2],", "settings.retries must be"),
            (
                "provider = \"chat\"",
                "provider = \"nope\"",
                "alert \"all\": provider \"nope\" is not declared",
            ),
            (
                "{ kind = \"Kustomization\", name = \"*\" }",
                "{ kind = \"HelmChart\", name = \"*\" }",
                "eventSources[0]: unknown kind \"HelmChart\"",
            ),
            (
                "\"failed$\"",
                "\"(\"",
                "alert \"all\": inclusionList[1] is not a valid regular expression",
            ),
            (
                "{{cluster}}: {{message}}",
                "{{cluster}}: {{mesage}}",
                "alert \"all\": template line 1, column 16: unknown field `mesage`",
            ),
            (
                "eventSeverity = \"error\"",
                "eventSeverity = \"warning\"",
                "unknown variant `warning`",
            ),
            (
                "[[alert]]",
                "[[alert]]\nname = \"all\"\nprovider = \"gh\"\neventSources = []\n[[alert]]",
                "eventSources is empty",
            ),
        ];
        for (from, to, want) in cases {
            assert!(NOTIFY.contains(from), "{from}");
            let text = NOTIFY.replacen(from, to, 1);
            let e = parse(&text)
                .err()
                .unwrap_or_else(|| panic!("accepted: {to}"));
            assert!(e.to_string().contains(want), "{to}: {e}");
        }
    }

    #[test]
    fn the_documented_template_example_parses() {
        let doc = include_str!("../../../docs/config.md");
        let start = doc
            .find("template = \"\"\"")
            .expect("example in docs/config.md");
        let rest = &doc[start..];
        let end = rest.find("```").expect("end of example");
        let text = format!(
            "{}\n{}",
            "version = 1\n[[provider]]\nname = \"p\"\ntype = \"slack\"\naddress = \"https://h\"\n[[alert]]\nname = \"a\"\nprovider = \"p\"\neventSources = [{ kind = \"*\" }]",
            &rest[..end]
        );
        parse(&text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn receivers_need_an_address_a_secret_and_declared_sources() {
        let hook = "[[receiver]]\nname = \"gh\"\ntype = \"github\"\nsecretFile = \"s\"\nsources = [\"apps\"]\n";
        let err = parse(&format!("{GOOD}{hook}"))
            .expect_err("no address")
            .to_string();
        assert!(
            err.contains("receiver \"gh\": set host.receiverAddress"),
            "{err}"
        );
        let with_addr = GOOD.replace(
            "clusterName = \"dev\"",
            "clusterName = \"dev\"\nreceiverAddress = \"127.0.0.1:9292\"",
        );
        let c = parse(&format!("{with_addr}{hook}")).expect("valid");
        assert_eq!(c.receiver[0].kind, ReceiverKind::Github);
        let err = parse(&format!(
            "{with_addr}{}",
            hook.replace("[\"apps\"]", "[\"nope\"]")
        ))
        .expect_err("unknown source")
        .to_string();
        assert!(err.contains("source \"nope\" is not declared"), "{err}");
        let err = parse(&format!(
            "{with_addr}{}",
            hook.replace("github", "bitbucket")
        ))
        .expect_err("unknown type")
        .to_string();
        assert!(
            err.contains("bitbucket") && err.contains("generic-hmac"),
            "{err}"
        );
    }

    #[test]
    fn prune_is_required() {
        let err = parse(&GOOD.replace("prune = true", ""))
            .expect_err("no prune")
            .to_string();
        assert!(err.contains("prune"), "{err}");
    }
}
