//! weir's kustomize renderer: builds a kustomization directory into
//! Kubernetes objects, with the output of `kubectl kustomize` (kustomize
//! v5.5) byte for byte.
//!
//! Start at [`build`] (the library entry, also run natively by the
//! differential tests against kubectl) and [`to_yaml`]; `build.rs` holds
//! the order of steps, `yaml` the reader and the kubectl-identical writer.
//! The WebAssembly component ([`Kustomize`]) is a thin layer over them.

pub mod build;
pub mod error;
pub mod fieldspec;
pub mod fsys;
pub mod generate;
pub mod nameref;
pub mod patch;
pub mod replace;
pub mod resource;
pub mod transform;
pub mod vars;
pub mod yaml;

pub use build::Options;
pub use error::Error;
pub use resource::Resource;

use std::path::Path;

/// Builds the kustomization in `path` (relative to `root`, `/`-separated),
/// reading nothing outside `root`.
///
/// # Errors
/// The first [`Error`]: a missing file, bad YAML, an invalid field, a path
/// leaving `root`.
pub fn build(root: &Path, path: &str, options: &Options) -> Result<Vec<Resource>, Error> {
    let root = fsys::Root::new(root);
    let dir = root.join("", path).ok_or_else(|| Error::OutsideRoot {
        file: String::new(),
        field: "path".into(),
        path: path.to_string(),
        root: root.dir().to_path_buf(),
    })?;
    if !root.is_dir(&dir) {
        return Err(Error::NotFound {
            file: String::new(),
            field: "path".into(),
            path: dir,
        });
    }
    build::Builder::new(root, options.clone()).build(&dir)
}

/// The YAML stream `kubectl kustomize` prints for `resources`.
pub fn to_yaml(resources: &[Resource]) -> String {
    let mut out = String::new();
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        yaml::emit(&r.node, &mut out);
    }
    out
}

/// The renderer plugin.
pub struct Kustomize;

impl weir_sdk::Renderer for Kustomize {
    fn render(request: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
        render_at(Path::new(weir_sdk::ARTIFACT_ROOT), request)
    }
}

/// The renderer's work with the artifact at `root` (the component passes
/// `/artifact`; tests a temporary directory).
///
/// # Errors
/// An unknown option, or the build's error with its kind and file.
pub fn render_at(
    root: &Path,
    request: weir_sdk::RenderRequest,
) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
    {
        use weir_sdk::{Error as E, ErrorKind, OptionValue};
        let mut options = Options {
            generate_missing: true,
        };
        for (key, value) in &request.options {
            match (key.as_str(), value) {
                ("generateMissing", OptionValue::Bool(b)) => options.generate_missing = *b,
                _ => {
                    return Err(E::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "unknown option {key:?}: kustomize takes generateMissing (boolean)"
                        ),
                    ));
                }
            }
        }
        let resources = build(root, &request.path, &options).map_err(|e| {
            let kind = match &e {
                Error::NotFound { .. } | Error::NoKustomization { .. } => ErrorKind::NotFound,
                Error::Unsupported { .. } => ErrorKind::Unsupported,
                Error::Io { .. } => ErrorKind::Transient,
                _ => ErrorKind::InvalidInput,
            };
            let file = e.file().map(str::to_string);
            let err = E::new(kind, e.to_string());
            match file {
                Some(f) if !f.is_empty() => err.at(f, None, None),
                _ => err,
            }
        })?;
        Ok(resources
            .into_iter()
            .map(|r| {
                let mut json = String::new();
                yaml::json_printed(&r.node, &mut json);
                weir_sdk::Object {
                    json,
                    origin: r.origin,
                }
            })
            .collect())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Kustomize, name: "kustomize");

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::{ErrorKind, OptionValue, RenderRequest};

    fn request(path: &str, options: Vec<(String, OptionValue)>) -> RenderRequest {
        RenderRequest {
            path: path.into(),
            options,
        }
    }

    #[test]
    fn renders_objects_as_json_with_their_origin() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(tmp.path().join("app")).expect("mkdir");
        std::fs::write(
            tmp.path().join("app/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: \"1\"\n  m: 2\n",
        )
        .expect("write");
        // No kustomization.yaml: Flux's generated one, by default.
        let objs = render_at(tmp.path(), request("app", Vec::new())).expect("renders");
        assert_eq!(objs.len(), 1);
        assert_eq!(
            objs[0].json,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"n":"1","m":2}}"#
        );
        assert_eq!(objs[0].origin, "app/cm.yaml");
        let off = vec![("generateMissing".to_string(), OptionValue::Bool(false))];
        let err = render_at(tmp.path(), request("app", off)).expect_err("no kustomization");
        assert_eq!(err.kind, ErrorKind::NotFound);
    }

    #[test]
    fn objects_hold_the_values_kubectl_prints() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(
            tmp.path().join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: \"x\\Ny\"\n",
        )
        .expect("write");
        let objs = render_at(tmp.path(), request("", Vec::new())).expect("renders");
        // A NEL folds into a space on kubectl's way through JSON and YAML.
        assert_eq!(
            objs[0].json,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"n":"x y"}}"#
        );
    }

    #[test]
    fn reports_errors_with_their_file_and_kind() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(
            tmp.path().join("kustomization.yaml"),
            "resources: [gone.yaml]\n",
        )
        .expect("write");
        let err = render_at(tmp.path(), request("", Vec::new())).expect_err("fails");
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(err.file.as_deref(), Some("kustomization.yaml"));
        assert!(err.message.contains("resources[0]"), "{}", err.message);
        let bad = vec![("nope".to_string(), OptionValue::Bool(true))];
        let err = render_at(tmp.path(), request("", bad)).expect_err("unknown option");
        assert_eq!(err.kind, ErrorKind::InvalidInput);
    }
}
