//! Reading Kubernetes manifests from the artifact, for renderers (cargo
//! feature `manifests`): list the manifest files under the requested path,
//! parse YAML (several documents per file) and JSON, and turn documents into
//! [`Object`]s with their origin (`file`, `file#doc`, `file#doc[item]`), with
//! errors that carry the file, line and column.
//!
//! ```no_run
//! # #[cfg(feature = "manifests")]
//! fn render(request: weir_sdk::RenderRequest) -> Result<Vec<weir_sdk::Object>, weir_sdk::Error> {
//!     let root = std::path::Path::new(weir_sdk::ARTIFACT_ROOT);
//!     let mut out = Vec::new();
//!     for file in weir_sdk::manifests::files(root, &request.path)? {
//!         let text = file.read()?;
//!         weir_sdk::manifests::objects(&file.name, &text, &mut out)?;
//!     }
//!     Ok(out)
//! }
//! ```

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::artifact::input_error;
use crate::{Error, ErrorKind, Object, yaml};

/// A manifest file found under the requested path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    /// Its path relative to the artifact root, `/`-separated: what messages
    /// and origins name.
    pub name: String,
    /// Where to read it.
    pub path: PathBuf,
}

impl ManifestFile {
    /// The file's text.
    ///
    /// # Errors
    /// An [`ErrorKind::InvalidInput`] error naming the file.
    pub fn read(&self) -> Result<String, Error> {
        let bytes = crate::artifact::read_file(&self.path)
            .map_err(|e| input_error(&self.name, format!("cannot read: {e}")))?;
        text(&self.name, bytes)
    }
}

fn text(name: &str, bytes: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|_| input_error(name, "is not UTF-8 text"))
}

/// What a manifest's name ends with.
const SUFFIXES: [&str; 3] = [".yaml", ".yml", ".json"];

/// Every file ending in `.yaml`, `.yml` or `.json` under `root/path`
/// (recursively, hidden files and directories and symbolic links skipped),
/// in path order; or `path` itself when it names a file.
///
/// # Errors
/// [`ErrorKind::NotFound`] when the path is not in the artifact;
/// [`ErrorKind::InvalidInput`] when a directory cannot be listed.
pub fn files(root: &Path, path: &str) -> Result<Vec<ManifestFile>, Error> {
    Ok(crate::artifact::list(root, path, &SUFFIXES)?
        .into_iter()
        .map(|(name, path)| ManifestFile { name, path })
        .collect())
}

/// The manifest files [`files`] lists, read: `(name, text)` pairs in path
/// order. In a component this is one host call
/// ([`artifact::read_tree`](crate::artifact::read_tree)) instead of WASI
/// calls for every file, the cheaper way for a renderer to read a tree of
/// small files.
///
/// # Errors
/// As [`files`], and [`ErrorKind::InvalidInput`] naming a file that cannot
/// be read or is not UTF-8.
pub fn read_files(root: &Path, path: &str) -> Result<Vec<(String, String)>, Error> {
    crate::artifact::read_tree(root, path, &SUFFIXES)?
        .into_iter()
        .map(|f| {
            let t = text(&f.path, f.contents)?;
            Ok((f.path, t))
        })
        .collect()
}

/// Whether `path` is a manifest by its extension.
pub fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The documents of one file, with their origins: JSON when `name` ends in
/// `.json`, else YAML (several documents; empty and null ones skipped and
/// not counted), read by [`crate::yaml`]'s fast reader when it can and by
/// serde-saphyr otherwise. A file with one document has the origin `name`,
/// others `name#index`, index counting from 0.
///
/// # Errors
/// Malformed YAML or JSON, with the file, line and column.
pub fn documents(name: &str, text: &str) -> Result<Vec<(String, Value)>, Error> {
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
        // Most manifests are in the subset the fast reader knows (11-13x
        // faster than serde-saphyr natively, which was most of a plain
        // render's time); it leaves the rest, and every error, to
        // serde-saphyr, and reads what it reads as serde-saphyr does.
        match yaml::documents(text, yaml::Flavour::Default) {
            Some(docs) => docs,
            None => yaml_documents(name, text)?,
        }
    };
    Ok(with_origins(name, docs))
}

/// The documents of a YAML file as serde-saphyr reads them (null and empty
/// documents skipped).
fn yaml_documents(name: &str, text: &str) -> Result<Vec<Value>, Error> {
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
    })
}

/// Names each document of `name` (`name` alone when there is one,
/// `name#index` otherwise) and drops null ones.
fn with_origins(name: &str, docs: Vec<Value>) -> Vec<(String, Value)> {
    let single = docs.len() == 1;
    docs.into_iter()
        .enumerate()
        .filter(|(_, d)| !d.is_null())
        .map(|(i, d)| {
            let origin = if single {
                name.to_owned()
            } else {
                format!("{name}#{i}")
            };
            (origin, d)
        })
        .collect()
}

/// Parses one file and appends its Kubernetes objects to `out`
/// ([`documents`], then [`object`] for each).
///
/// # Errors
/// As [`documents`] and [`object`].
pub fn objects(name: &str, text: &str, out: &mut Vec<Object>) -> Result<(), Error> {
    for (origin, doc) in documents(name, text)? {
        object(doc, &origin, out)?;
    }
    Ok(())
}

/// Checks that `doc` is a Kubernetes object (a mapping with `apiVersion`,
/// `kind` and `metadata.name`) and appends it to `out` as JSON; a `kind:
/// List` contributes its `items` (origins `origin[i]`).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming `origin` and what is missing.
pub fn object(doc: Value, origin: &str, out: &mut Vec<Object>) -> Result<(), Error> {
    let Value::Object(mut map) = doc else {
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
    // `kind: List` is kubectl's wrapper for several objects (its items are
    // moved out, not copied).
    if kind == "List" && (api_version == "v1" || api_version.ends_with("/v1")) {
        let items = match map.remove("items") {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(input_error(origin, "List items is not a list")),
        };
        for (j, item) in items.into_iter().enumerate() {
            object(item, &format!("{origin}[{j}]"), out)?;
        }
        return Ok(());
    }
    let has_name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_name {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::tests::write;

    #[test]
    fn files_are_listed_in_path_order_without_hidden_or_other_files() {
        let root = tempfile::tempdir().expect("tmp");
        write(root.path(), "app/b.yaml", "");
        write(root.path(), "app/a/z.json", "");
        write(root.path(), "app/.hidden/x.yaml", "");
        write(root.path(), "app/.x.yml", "");
        write(root.path(), "app/readme.md", "");
        write(root.path(), "app/c.yml", "");
        let names: Vec<String> = files(root.path(), "./app/")
            .expect("files")
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["app/a/z.json", "app/b.yaml", "app/c.yml"]);
        let e = files(root.path(), "nope").expect_err("missing");
        assert_eq!(e.kind, ErrorKind::NotFound);
    }

    #[test]
    fn a_big_file_is_read_whole() {
        let root = tempfile::tempdir().expect("tmp");
        let text = "a: b\n".repeat(20_000);
        write(root.path(), "big.yaml", &text);
        let f = &files(root.path(), "").expect("files")[0];
        assert_eq!(f.read().expect("read"), text);
    }

    #[test]
    fn documents_become_objects_with_origins_and_errors_carry_lines() {
        let mut out = Vec::new();
        let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
        objects("x.yaml", text, &mut out).expect("objects");
        let origins: Vec<&str> = out.iter().map(|o| o.origin.as_str()).collect();
        // Empty documents are not counted.
        assert_eq!(origins, ["x.yaml#0[0]", "x.yaml#1"]);
        let e = objects("y.yaml", "a: b\n  c: d\n", &mut out).expect_err("malformed");
        assert!(e.message.starts_with("malformed YAML"), "{}", e.message);
        assert_eq!(e.file.as_deref(), Some("y.yaml"));
        assert_eq!(e.line, Some(2));
        let e =
            objects("z.yaml", "kind: ConfigMap\napiVersion: v1\n", &mut out).expect_err("no name");
        assert!(
            e.message.contains("ConfigMap has no metadata.name"),
            "{}",
            e.message
        );
    }

    /// [`documents`] with serde-saphyr alone, as it read every YAML file
    /// before the fast reader.
    fn general(name: &str, text: &str) -> Result<Vec<(String, Value)>, Error> {
        yaml_documents(name, text).map(|docs| with_origins(name, docs))
    }

    /// Whether the fast reader reads `text` (else serde-saphyr does).
    fn fast(text: &str) -> bool {
        yaml::documents(text, yaml::Flavour::Default).is_some()
    }

    #[test]
    fn documents_are_counted_and_skipped_as_serde_saphyr_counts_them() {
        let both: &[&str] = &["x.yaml#0", "x.yaml#1"];
        let cases: [(&str, &[&str]); 14] = [
            ("a: 1\n", &["x.yaml"]),
            ("---\na: 1\n", &["x.yaml"]),
            ("a: 1\n---\n", &["x.yaml"]),
            ("a: 1\n---\n---\n", &["x.yaml"]),
            ("a: 1\n---\nb: 2\n", both),
            ("---\na: 1\n---\n---\nb: 2\n---\n", both),
            ("a: 1\n---\n# only a comment\n---\nb: 2", both),
            ("a: 1\n---\n~\n---\nnull\n---\n\n---\nb: 2\n", both),
            ("a: 1\n---\n~\n", &["x.yaml"]),
            ("a: 1\n---\n''\n", both),
            ("a: |\n  x\n---\nb: 2\n", both),
            ("# nothing\n", &[]),
            ("", &[]),
            ("---\n---\n", &[]),
        ];
        for (text, origins) in cases {
            assert!(fast(text), "{text:?} left to serde-saphyr");
            let docs = documents("x.yaml", text).expect("documents");
            let got: Vec<&str> = docs.iter().map(|(o, _)| o.as_str()).collect();
            assert_eq!(got, origins, "{text:?}");
            assert_eq!(Ok(docs), general("x.yaml", text), "{text:?}");
        }
        // Separators the fast reader leaves alone send the file to
        // serde-saphyr, which counts the same way.
        let cases: [(&str, &[&str]); 3] = [
            ("a: 1\n...\n---\nb: 2\n", both),
            ("--- a\n", &["x.yaml"]),
            ("%YAML 1.2\n---\na: 1\n---\n~\n", &["x.yaml"]),
        ];
        for (text, origins) in cases {
            assert!(!fast(text), "{text:?} read by the fast reader");
            let docs = documents("x.yaml", text).expect("documents");
            let got: Vec<&str> = docs.iter().map(|(o, _)| o.as_str()).collect();
            assert_eq!(got, origins, "{text:?}");
        }
    }

    /// The plugin benchmark's shape: many small ConfigMaps in one file.
    #[test]
    fn many_configmaps_in_one_file_take_the_fast_path() {
        let text: String = (0..100)
            .map(|i| {
                format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: default\n  labels:\n    app.kubernetes.io/name: bench\ndata:\n  index: \"{i}\"\n  enabled: \"true\"\n  config.yaml: |\n    key: value-{i}\n    list:\n      - a\n"
                )
            })
            .collect();
        assert!(fast(&text));
        let mut out = Vec::new();
        objects("many.yaml", &text, &mut out).expect("objects");
        assert_eq!(out.len(), 100);
        assert_eq!(out[99].origin, "many.yaml#99");
        assert_eq!(documents("many.yaml", &text), general("many.yaml", &text));
        let v: Value = serde_json::from_str(&out[7].json).expect("json");
        assert_eq!(v["data"]["config.yaml"], "key: value-7\nlist:\n  - a\n");
        assert_eq!(v["data"]["index"], "7");
    }

    #[test]
    fn malformed_yaml_is_reported_by_serde_saphyr_with_its_line() {
        let cases = [
            ("a: b\n  c: d\n", 2),
            ("a:\n  b: 1\n c: 2\n", 3),
            ("a: 1\n---\nb: 1\nb: 2\n", 4),
            ("a: 1\n---\nb: [x,\n", 3),
            ("a: 1\n---\nb: \"open\n", 3),
            ("a: 1\n---\n- x\nb: 2\n", 4),
            ("a: 1\n---\nb:\n\tc: 1\n", 4),
        ];
        for (text, line) in cases {
            assert!(!fast(text), "{text:?} read by the fast reader");
            let e = documents("y.yaml", text).expect_err("malformed");
            assert!(e.message.starts_with("malformed YAML"), "{}", e.message);
            assert_eq!(e.kind, ErrorKind::InvalidInput);
            assert_eq!(e.file.as_deref(), Some("y.yaml"));
            assert_eq!(e.line, Some(line), "{text:?}: {}", e.message);
        }
    }

    /// Every YAML file of the repository (test data, examples): the same
    /// documents, origins and errors as serde-saphyr alone gives, and the
    /// fast reader reads most of them.
    #[test]
    fn documents_match_serde_saphyr_on_the_repository_yaml() {
        let (mut files, mut fast_files) = (0, 0);
        for (path, text) in crate::yaml::tests::corpus() {
            let name = path.display().to_string();
            assert_eq!(documents(&name, &text), general(&name, &text), "{name}");
            files += 1;
            fast_files += usize::from(fast(&text));
        }
        assert!(
            files > 100 && fast_files * 10 > files * 8,
            "the fast reader read only {fast_files} of {files} files"
        );
    }
}
