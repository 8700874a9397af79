//! The plugin interfaces the core calls: [`Renderer`], [`Decryptor`],
//! [`Notifier`] and [`SourcePlugin`], each found by name through a registry.
//! `weir-wasm` implements them with WebAssembly components; tests can
//! implement them in plain Rust.

use std::fmt;
use std::path::Path;

/// A typed option passed to a renderer.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    Strings(Vec<String>),
}

/// What to render.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderRequest {
    /// Directory inside the artifact, `/`-separated, empty for the root.
    pub path: String,
    /// Renderer-specific options.
    pub options: Vec<(String, OptionValue)>,
}

/// One object as a renderer returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedObject {
    /// JSON text of the object.
    pub json: String,
    /// `file` or `file#doc`, relative to the artifact root.
    pub origin: String,
}

/// The kind of a plugin failure; decides whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// The input is wrong; the same input fails the same way.
    InvalidInput,
    /// Something the request names does not exist.
    NotFound,
    /// The plugin does not do what the input asks.
    Unsupported,
    /// May work on retry.
    Transient,
    /// A bug in the plugin, reported by the plugin itself.
    Internal,
    /// The plugin trapped (panicked, hit `unreachable`, …).
    Trap,
    /// The call ran past its deadline.
    Timeout,
    /// The call tried to use more memory than allowed.
    OutOfMemory,
    /// The plugin could not be found, loaded or instantiated.
    Load,
    /// The plugin tried something it was not allowed (an HTTP host its
    /// manifest does not ask for or the host config does not grant).
    Denied,
}

impl PluginErrorKind {
    /// Whether retrying the same input may succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, PluginErrorKind::Transient | PluginErrorKind::Timeout)
    }
}

/// A plugin call failed. The message names the plugin, as every error that
/// crosses the plugin boundary must: `plugin "plain" 0.1.0: deploy.yaml:3: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's version, when known.
    pub version: Option<String>,
    /// The kind of failure.
    pub kind: PluginErrorKind,
    /// What went wrong.
    pub message: String,
    /// The input file, relative to the artifact root.
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<u32>,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {:?}", self.plugin)?;
        if let Some(v) = &self.version {
            write!(f, " {v}")?;
        }
        f.write_str(": ")?;
        if let Some(file) = &self.file {
            f.write_str(file)?;
            if let Some(l) = self.line {
                write!(f, ":{l}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

/// Renders a directory of an artifact into objects.
pub trait Renderer: Send + Sync {
    /// The renderer's name, as syncs refer to it.
    fn name(&self) -> &str;

    /// Renders `request.path` of the artifact at `artifact_dir`, which the
    /// renderer may only read. Blocking: the core calls it off the async
    /// runtime.
    ///
    /// # Errors
    /// A [`PluginError`] naming the plugin and, for input errors, the file.
    fn render(
        &self,
        artifact_dir: &Path,
        request: &RenderRequest,
    ) -> Result<Vec<RenderedObject>, PluginError>;
}

/// Finds renderers by name. The plugin host implements it so that plugins
/// dropped into the plugins directory are found without a restart.
pub trait RendererRegistry: Send + Sync {
    /// The renderer with this name.
    ///
    /// # Errors
    /// A [`PluginError`] of kind [`PluginErrorKind::Load`] when no such
    /// renderer exists or it cannot be loaded.
    fn renderer(&self, name: &str) -> Result<std::sync::Arc<dyn Renderer>, PluginError>;
}

/// The format of a document to decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptFormat {
    /// YAML.
    Yaml,
    /// JSON, key order as given.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// INI sections.
    Ini,
    /// Opaque bytes.
    Binary,
}

/// A private key for a decryptor. [`fmt::Debug`] never shows the material.
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptKey {
    /// `age`, `pgp`, … (the decryptor decides what it understands).
    pub kind: String,
    /// Where it came from (`identity.agekey`), for messages.
    pub name: String,
    /// The key material.
    pub material: Vec<u8>,
}

impl fmt::Debug for DecryptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptKey")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("material", &"<redacted>")
            .finish()
    }
}

/// What to decrypt.
#[derive(Debug, Clone, Copy)]
pub struct DecryptRequest<'a> {
    /// The document's name for messages (a file, `kind/namespace/name`).
    pub name: &'a str,
    /// Its format.
    pub format: DecryptFormat,
    /// The encrypted document.
    pub data: &'a [u8],
    /// The keys to try.
    pub keys: &'a [DecryptKey],
}

/// Decrypts documents (SOPS files, objects with encrypted values).
pub trait Decryptor: Send + Sync {
    /// The decryptor's name.
    fn name(&self) -> &str;

    /// The whole document, decrypted, in the same format. Blocking.
    ///
    /// # Errors
    /// A [`PluginError`] naming the plugin and the document.
    fn decrypt(&self, request: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError>;
}

/// Finds decryptors by name.
pub trait DecryptorRegistry: Send + Sync {
    /// The decryptor with this name.
    ///
    /// # Errors
    /// A [`PluginError`] of kind [`PluginErrorKind::Load`].
    fn decryptor(&self, name: &str) -> Result<std::sync::Arc<dyn Decryptor>, PluginError>;
}

/// How serious an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something happened as it should.
    Info,
    /// Something failed.
    Error,
}

/// A reference to the object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventObject {
    /// `group/version`.
    pub api_version: String,
    /// `Sync`, `GitRepository`, ….
    pub kind: String,
    /// The namespace, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

/// Something that happened to one of weir's objects, as notifiers get it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Info or error.
    pub severity: Severity,
    /// CamelCase reason.
    pub reason: String,
    /// What happened.
    pub message: String,
    /// The revision involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// What it is about.
    pub involved_object: EventObject,
    /// The cluster's name.
    pub cluster: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// Extra key/values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<(String, String)>,
}

/// One event for one provider.
#[derive(Clone, PartialEq)]
pub struct NotifyRequest {
    /// The event.
    pub event: Event,
    /// The alert's rendered template, if it has one.
    pub message: Option<String>,
    /// The provider's settings.
    pub settings: Vec<(String, OptionValue)>,
    /// The provider's secrets.
    pub secrets: Vec<(String, String)>,
}

impl fmt::Debug for NotifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyRequest")
            .field("event", &self.event)
            .field("message", &self.message)
            .field("settings", &self.settings)
            .field(
                "secrets",
                &self.secrets.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Delivers events to a provider.
pub trait Notifier: Send + Sync {
    /// The notifier's name.
    fn name(&self) -> &str;

    /// Delivers one event. Blocking.
    ///
    /// # Errors
    /// A [`PluginError`]; [`PluginErrorKind::is_transient`] says whether a
    /// retry may help.
    fn notify(&self, request: &NotifyRequest) -> Result<(), PluginError>;

    /// Delivers one event within `timeout` (a provider's own deadline), or
    /// the notifier's deadline when that is shorter. Blocking. The default
    /// ignores `timeout`.
    ///
    /// # Errors
    /// As [`Notifier::notify`]; running out of time is transient.
    fn notify_within(
        &self,
        request: &NotifyRequest,
        timeout: std::time::Duration,
    ) -> Result<(), PluginError> {
        let _ = timeout;
        self.notify(request)
    }
}

/// Finds notifiers by name.
pub trait NotifierRegistry: Send + Sync {
    /// The notifier with this name.
    ///
    /// # Errors
    /// A [`PluginError`] of kind [`PluginErrorKind::Load`].
    fn notifier(&self, name: &str) -> Result<std::sync::Arc<dyn Notifier>, PluginError>;
}

/// What a source plugin should fetch.
#[derive(Clone, PartialEq)]
pub struct FetchRequest {
    /// The URL.
    pub url: String,
    /// Settings.
    pub settings: Vec<(String, OptionValue)>,
    /// Credentials.
    pub secrets: Vec<(String, String)>,
    /// The last revision fetched.
    pub last_revision: Option<String>,
}

impl fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchRequest")
            .field("url", &self.url)
            .field("settings", &self.settings)
            .field(
                "secrets",
                &self.secrets.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("last_revision", &self.last_revision)
            .finish()
    }
}

/// What a source plugin found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Nothing moved.
    Unchanged,
    /// A new revision, written into the output directory.
    Fetched(String),
}

/// A source implemented by a plugin: writes what it fetched into a
/// directory the host gives it.
pub trait SourcePlugin: Send + Sync {
    /// The plugin's name.
    fn name(&self) -> &str;

    /// Fetches into `out_dir` (empty, writable). Blocking.
    ///
    /// # Errors
    /// A [`PluginError`].
    fn fetch(&self, out_dir: &Path, request: &FetchRequest) -> Result<FetchOutcome, PluginError>;
}
