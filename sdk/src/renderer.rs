//! Renderers: turn a directory of an artifact into Kubernetes objects.

use crate::bindings::convert::renderer as convert;
use crate::bindings::renderer::exports::weir::plugin::renderer as wit;
use crate::{Error, OptionValue};

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

/// What to render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderRequest {
    /// Directory to render, relative to [`ARTIFACT_ROOT`]; empty for the root.
    pub path: String,
    /// Options, in the order the configuration gives them.
    pub options: Vec<(String, OptionValue)>,
}

impl RenderRequest {
    /// The option named `key`, if given.
    pub fn option(&self, key: &str) -> Option<&OptionValue> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// One rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The object as JSON (`apiVersion`, `kind`, `metadata`, …).
    pub json: String,
    /// Where it came from, relative to the artifact: `file` or `file#doc`.
    pub origin: String,
}

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
        req: wit::RenderRequest,
    ) -> Result<Vec<wit::RenderedObject>, crate::bindings::renderer::weir::plugin::types::Error>
    {
        let request = RenderRequest {
            path: req.path,
            options: convert::options(req.options),
        };
        R::render(request)
            .map(|objects| {
                objects
                    .into_iter()
                    .map(|o| wit::RenderedObject {
                        json: o.json,
                        origin: o.origin,
                    })
                    .collect()
            })
            .map_err(convert::error)
    }
}

/// Exports a [`Renderer`] as the plugin's `weir:plugin/renderer` interface
/// and embeds its [`Manifest`](crate::Manifest) (kind `renderer`, see
/// [`manifest!`](crate::manifest!) for the fields after `name`). Use it
/// once, in the plugin crate's `lib.rs`:
///
/// ```ignore
/// weir_sdk::export_renderer!(Mine, name: "mine");
/// weir_sdk::export_renderer!(Big, name: "big", max_memory: "1GiB");
/// ```
#[macro_export]
macro_rules! export_renderer {
    ($renderer:ty, name: $name:expr $(, $($rest:tt)*)?) => {
        $crate::manifest! { name: $name, kind: renderer $(, $($rest)*)? }
        $crate::export_renderer_bare!($renderer);
    };
    ($renderer:ty $(,)?) => {
        ::core::compile_error!(
            "export_renderer! needs the plugin's name for its manifest: export_renderer!(MyRenderer, name: \"my-renderer\")"
        );
    };
}

/// Exports a [`Renderer`] without embedding a manifest: for plugins that
/// ship a sidecar manifest (`NAME.toml` beside `NAME.wasm`) or write their
/// own with [`manifest!`](crate::manifest!). The host refuses a component
/// with neither.
#[macro_export]
macro_rules! export_renderer_bare {
    ($renderer:ty) => {
        #[doc(hidden)]
        pub struct __WeirRendererExport;

        impl $crate::bindings::renderer::exports::weir::plugin::renderer::Guest
            for __WeirRendererExport
        {
            fn render(
                request: $crate::bindings::renderer::exports::weir::plugin::renderer::RenderRequest,
            ) -> ::core::result::Result<
                ::std::vec::Vec<
                    $crate::bindings::renderer::exports::weir::plugin::renderer::RenderedObject,
                >,
                $crate::bindings::renderer::weir::plugin::types::Error,
            > {
                $crate::renderer::__private::render::<$renderer>(request)
            }
        }

        $crate::bindings::renderer::__export_renderer_world!(
            __WeirRendererExport with_types_in $crate::bindings::renderer
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::bindings::renderer::weir::plugin::types as wit_types;

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
            fn render(r: RenderRequest) -> Result<Vec<Object>, Error> {
                assert_eq!(r.option("k"), Some(&OptionValue::Bool(true)));
                Err(Error::new(ErrorKind::InvalidInput, "bad").at("a.yaml", Some(3), None))
            }
        }
        let req = wit::RenderRequest {
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
