//! `weir-sdk`: write weir plugins in Rust.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` from a
//! `cdylib` crate that depends on this crate only. Implement the trait of
//! your plugin's kind and export it with the matching macro:
//!
//! ```no_run
//! struct Hello;
//!
//! impl weir_sdk::Renderer for Hello {
//!     fn render(request: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
//!         let dir = weir_sdk::artifact_path(&request.path);
//!         // read manifests under `dir`, build objects …
//!         Ok(Vec::new())
//!     }
//! }
//!
//! weir_sdk::export_renderer!(Hello);
//! ```
//!
//! The types here mirror `wit/weir-plugin@0.1.0` (the ABI this SDK version
//! targets, [`API_VERSION`]); [`bindings`] holds the raw generated bindings
//! for anything the typed layer does not cover yet. Renderers are supported
//! today; source, decryptor and notifier kinds follow with the plugin
//! platform (see `docs/plugins.md`).

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/weir-plugin@0.1.0",
        world: "renderer-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_renderer_world",
        default_bindings_module: "weir_sdk::bindings",
    });
}

use bindings::exports::weir::plugin::renderer as wit_renderer;
use bindings::weir::plugin::types as wit_types;

/// The WIT package version this SDK targets.
pub const API_VERSION: &str = "0.1.0";

/// Where the host mounts the artifact (read-only) inside the plugin.
pub const ARTIFACT_ROOT: &str = "/artifact";

/// The path of `rel` (a request's `path`, `/`-separated, relative to the
/// artifact root) as the plugin sees it.
pub fn artifact_path(rel: &str) -> std::path::PathBuf {
    let rel = rel.trim_matches('/');
    if rel.is_empty() || rel == "." {
        std::path::PathBuf::from(ARTIFACT_ROOT)
    } else {
        std::path::Path::new(ARTIFACT_ROOT).join(rel)
    }
}

/// A typed option value from the sync's configuration.
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
#[derive(Debug, Clone, PartialEq)]
pub struct RenderRequest {
    /// Directory to render, relative to [`ARTIFACT_ROOT`]; empty for the root.
    pub path: String,
    /// Options, in the order the configuration gives them.
    pub options: Vec<(String, OptionValue)>,
}

/// One rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The object as JSON (`apiVersion`, `kind`, `metadata`, …).
    pub json: String,
    /// Where it came from, relative to the artifact: `file` or `file#doc`.
    pub origin: String,
}

/// What kind of failure a plugin reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is wrong; retrying the same input fails the same way.
    InvalidInput,
    /// Something the request names does not exist.
    NotFound,
    /// The input asks for something this plugin does not do.
    Unsupported,
    /// May work on retry.
    Transient,
    /// A bug in the plugin.
    Internal,
}

/// A plugin's error. The host adds the plugin's name; say what went wrong
/// and, for input errors, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// What went wrong, lowercase.
    pub message: String,
    /// The input file, relative to the artifact root.
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<u32>,
    /// 1-based column in `file`.
    pub column: Option<u32>,
}

impl Error {
    /// An error of `kind` without a location.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            file: None,
            line: None,
            column: None,
        }
    }

    /// The same error, located in `file` (and `line`, when known).
    pub fn at(mut self, file: impl Into<String>, line: Option<u32>, column: Option<u32>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self.column = column;
        self
    }
}

impl std::fmt::Display for Error {
    /// `file:line: message`, or the message alone when it has no location.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

impl std::error::Error for Error {}

/// A renderer: turns a directory of the artifact into objects.
pub trait Renderer {
    /// Renders `request.path` under [`ARTIFACT_ROOT`].
    ///
    /// # Errors
    /// An [`Error`] saying what is wrong and where.
    fn render(request: RenderRequest) -> Result<Vec<Object>, Error>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Converts the WIT request, calls `R`, converts the result back.
    pub fn render<R: Renderer>(
        req: wit_renderer::RenderRequest,
    ) -> Result<Vec<wit_renderer::RenderedObject>, wit_types::Error> {
        let request = RenderRequest {
            path: req.path,
            options: req
                .options
                .into_iter()
                .map(|o| {
                    let v = match o.value {
                        wit_types::OptionValue::Str(s) => OptionValue::Str(s),
                        wit_types::OptionValue::Int(i) => OptionValue::Int(i),
                        wit_types::OptionValue::Float(f) => OptionValue::Float(f),
                        wit_types::OptionValue::Boolean(b) => OptionValue::Bool(b),
                        wit_types::OptionValue::Strings(l) => OptionValue::Strings(l),
                    };
                    (o.key, v)
                })
                .collect(),
        };
        match R::render(request) {
            Ok(objects) => Ok(objects
                .into_iter()
                .map(|o| wit_renderer::RenderedObject {
                    json: o.json,
                    origin: o.origin,
                })
                .collect()),
            Err(e) => Err(wit_types::Error {
                kind: match e.kind {
                    ErrorKind::InvalidInput => wit_types::ErrorKind::InvalidInput,
                    ErrorKind::NotFound => wit_types::ErrorKind::NotFound,
                    ErrorKind::Unsupported => wit_types::ErrorKind::Unsupported,
                    ErrorKind::Transient => wit_types::ErrorKind::Transient,
                    ErrorKind::Internal => wit_types::ErrorKind::Internal,
                },
                message: e.message,
                location: e.file.map(|file| wit_types::Location {
                    file,
                    line: e.line,
                    column: e.column,
                }),
            }),
        }
    }
}

/// Exports a [`Renderer`] as the plugin's `weir:plugin/renderer` interface.
/// Use it once, in the plugin crate's `lib.rs`.
#[macro_export]
macro_rules! export_renderer {
    ($renderer:ty) => {
        #[doc(hidden)]
        pub struct __WeirRendererExport;

        impl $crate::bindings::exports::weir::plugin::renderer::Guest for __WeirRendererExport {
            fn render(
                request: $crate::bindings::exports::weir::plugin::renderer::RenderRequest,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::bindings::exports::weir::plugin::renderer::RenderedObject>,
                $crate::bindings::weir::plugin::types::Error,
            > {
                $crate::__private::render::<$renderer>(request)
            }
        }

        $crate::bindings::__export_renderer_world!(__WeirRendererExport with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_resolve_under_the_artifact_root() {
        assert_eq!(artifact_path(""), std::path::Path::new("/artifact"));
        assert_eq!(artifact_path("."), std::path::Path::new("/artifact"));
        assert_eq!(
            artifact_path("/deploy/prod/"),
            std::path::Path::new("/artifact/deploy/prod")
        );
    }

    #[test]
    fn errors_carry_their_location_across_the_boundary() {
        struct Failing;
        impl Renderer for Failing {
            fn render(_: RenderRequest) -> Result<Vec<Object>, Error> {
                Err(Error::new(ErrorKind::InvalidInput, "bad").at("a.yaml", Some(3), None))
            }
        }
        let req = wit_renderer::RenderRequest {
            path: String::new(),
            options: vec![wit_types::NamedOption {
                key: "k".into(),
                value: wit_types::OptionValue::Boolean(true),
            }],
        };
        let err = __private::render::<Failing>(req).expect_err("fails");
        assert_eq!(err.kind, wit_types::ErrorKind::InvalidInput);
        let loc = err.location.expect("located");
        assert_eq!((loc.file.as_str(), loc.line), ("a.yaml", Some(3)));
    }
}
