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

use std::path::{Path, PathBuf};

use serde_json::Value;
use weir_sdk::{Error, ErrorKind, Object};

fn input_error(file: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message).at(file, None, None)
}

/// Renders every manifest under `root/path`.
///
/// # Errors
/// The first problem found: a missing path, unreadable file, malformed YAML
/// or JSON (with its line), or a document that is not a Kubernetes object.
pub fn render_dir(root: &Path, path: &str) -> Result<Vec<Object>, Error> {
    let rel = path.trim_matches('/');
    let dir = if rel.is_empty() || rel == "." {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let meta = std::fs::metadata(&dir).map_err(|e| {
        Error::new(
            ErrorKind::NotFound,
            format!("path {:?} not found in the artifact: {e}", display_rel(rel)),
        )
    })?;
    let mut files = Vec::new();
    if meta.is_file() {
        files.push(dir.clone());
    } else {
        collect(&dir, &mut files).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot list {:?}: {e}", display_rel(rel)),
            )
        })?;
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&file)
            .map_err(|e| input_error(&name, format!("cannot read: {e}")))?;
        render_file(&name, &text, &mut out)?;
    }
    Ok(out)
}

fn display_rel(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            collect(&path, files)?;
        } else if ty.is_file() && is_manifest(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Parses one file's documents and appends its objects to `out`.
///
/// # Errors
/// Malformed YAML/JSON with its line, or a document that is not an object.
pub fn render_file(name: &str, text: &str, out: &mut Vec<Object>) -> Result<(), Error> {
    let docs: Vec<Value> = if name.ends_with(".json") {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, format!("malformed JSON: {e}")).at(
                name,
                u32::try_from(e.line()).ok(),
                u32::try_from(e.column()).ok(),
            )
        })?;
        vec![v]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| {
            let loc = e.location();
            Error::new(
                ErrorKind::InvalidInput,
                format!("malformed YAML: {}", e.without_snippet()),
            )
            .at(
                name,
                loc.and_then(|l| u32::try_from(l.line()).ok()),
                loc.and_then(|l| u32::try_from(l.column()).ok()),
            )
        })?
    };
    let single = docs.len() == 1;
    for (i, doc) in docs.into_iter().enumerate() {
        let origin = if single {
            name.to_owned()
        } else {
            format!("{name}#{i}")
        };
        if doc.is_null() {
            continue;
        }
        push_object(doc, &origin, out)?;
    }
    Ok(())
}

fn push_object(doc: Value, origin: &str, out: &mut Vec<Object>) -> Result<(), Error> {
    let Value::Object(map) = doc else {
        return Err(input_error(
            origin,
            "document is not a mapping (a Kubernetes object needs apiVersion, kind and metadata)",
        ));
    };
    let text_field = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(api_version) = text_field("apiVersion") else {
        return Err(input_error(origin, "object has no apiVersion"));
    };
    let Some(kind) = text_field("kind") else {
        return Err(input_error(origin, "object has no kind"));
    };
    // `kind: List` is kubectl's wrapper for several objects.
    if kind == "List" && (api_version == "v1" || api_version.ends_with("/v1")) {
        let items = match map.get("items") {
            Some(Value::Array(items)) => items.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(input_error(origin, "List items is not a list")),
        };
        for (j, item) in items.into_iter().enumerate() {
            push_object(item, &format!("{origin}[{j}]"), out)?;
        }
        return Ok(());
    }
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if name.is_none() {
        return Err(input_error(origin, format!("{kind} has no metadata.name")));
    }
    let json = serde_json::to_string(&map)
        .map_err(|e| input_error(origin, format!("cannot serialize object as JSON: {e}")))?;
    out.push(Object {
        json,
        origin: origin.to_owned(),
    });
    Ok(())
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
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("\"nope\" not found"), "{err}");
    }
}
