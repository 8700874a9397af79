//! The renderer interface the core calls. `weir-wasm` implements it with
//! WebAssembly components; tests can implement it in plain Rust.

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
