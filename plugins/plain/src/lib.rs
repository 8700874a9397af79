//! weir's `plain` renderer plugin: every YAML or JSON manifest under a path,
//! as written.
//!
//! Files ending in `.yaml`, `.yml` or `.json` under the requested directory
//! are read in path order (recursively, skipping hidden files and
//! directories), split into documents, and each non-empty document becomes an
//! object; a `kind: List` (`v1/List`) contributes its `items`. Every object
//! must have `apiVersion`, `kind` and `metadata.name`. The logic lives in
//! [`render_dir`] so it is tested natively; the WebAssembly export is a thin
//! wrapper at the bottom.

use std::path::Path;

use weir_sdk::manifests;
use weir_sdk::{Error, Object};

/// Renders every manifest under `root/path`.
///
/// # Errors
/// The first problem found: a missing path, unreadable file, malformed YAML
/// or JSON (with its line), or a document that is not a Kubernetes object.
pub fn render_dir(root: &Path, path: &str) -> Result<Vec<Object>, Error> {
    let mut out = Vec::new();
    // All files in one read: in the component, one host call.
    for (name, text) in manifests::read_files(root, path)? {
        manifests::objects(&name, &text, &mut out)?;
    }
    Ok(out)
}

/// Parses one file's documents and appends its objects to `out`.
///
/// # Errors
/// Malformed YAML/JSON with its line, or a document that is not an object.
pub fn render_file(name: &str, text: &str, out: &mut Vec<Object>) -> Result<(), Error> {
    manifests::objects(name, text, out)
}

/// The plugin as weir sees it: the `renderer` export, through `weir-sdk`.
pub struct Plain;

impl weir_sdk::Renderer for Plain {
    fn render(request: weir_sdk::RenderRequest) -> Result<Vec<Object>, Error> {
        render_dir(Path::new(weir_sdk::ARTIFACT_ROOT), &request.path)
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_renderer!(Plain, name: "plain");

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn renders_files_in_path_order_with_multi_documents_and_lists() {
        let d = tempfile::tempdir().expect("tmp");
        write(
            d.path(),
            "app/b.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        );
        write(
            d.path(),
            "app/a/x.json",
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}]}"#,
        );
        write(d.path(), "app/.hidden/z.yaml", "not: [valid");
        write(d.path(), "app/README.md", "# not a manifest");
        let out = render_dir(d.path(), "app").expect("render");
        let origins: Vec<_> = out.iter().map(|o| o.origin.as_str()).collect();
        assert_eq!(origins, ["app/a/x.json[0]", "app/b.yaml#0", "app/b.yaml#1"]);
        assert!(out[0].json.contains(r#""kind":"Namespace""#));
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let d = tempfile::tempdir().expect("tmp");
        write(
            d.path(),
            "bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [1,\n",
        );
        let err = render_dir(d.path(), "").expect_err("malformed");
        assert_eq!(err.file.as_deref(), Some("bad.yaml"));
        assert!(err.line.is_some(), "{err:?}");
        assert!(err.message.starts_with("malformed YAML"), "{err}");
    }

    #[test]
    fn objects_without_identity_are_refused() {
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "x.yaml", "kind: ConfigMap\nmetadata: {name: a}\n");
        let err = render_dir(d.path(), "").expect_err("no apiVersion");
        assert_eq!(err.to_string(), "x.yaml: object has no apiVersion");
        write(d.path(), "x.yaml", "apiVersion: v1\nkind: ConfigMap\n");
        let err = render_dir(d.path(), "").expect_err("no name");
        assert_eq!(err.to_string(), "x.yaml: ConfigMap has no metadata.name");
        write(d.path(), "x.yaml", "- a\n- b\n");
        let err = render_dir(d.path(), "").expect_err("not a mapping");
        assert!(err.message.contains("not a mapping"), "{err}");
    }

    #[test]
    fn missing_path_is_not_found() {
        let d = tempfile::tempdir().expect("tmp");
        let err = render_dir(d.path(), "nope").expect_err("missing");
        assert_eq!(err.kind, weir_sdk::ErrorKind::NotFound);
        assert!(err.message.contains("\"nope\" not found"), "{err}");
    }
}
