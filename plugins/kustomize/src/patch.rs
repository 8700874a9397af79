//! Patches: `patches` (strategic merge or JSON 6902, inline or from a file,
//! with an optional `target` selector), and the deprecated
//! `patchesStrategicMerge` and `patchesJson6902`.

mod json6902;
pub mod schema;
pub mod smp;
mod target;

pub use target::Target;

use crate::build::Kustomization;
use crate::error::Error;
use crate::fsys::Root;
use crate::resource::Resource;
use crate::yaml::{self, Node};

/// A patch's body.
enum Body {
    /// Strategic merge patches (one per document).
    Smp(Vec<Node>),
    /// A JSON 6902 operation list.
    Json(Vec<Node>),
}

/// Reads a patch given inline (`patch`) or as a file (`path`).
fn read_body(
    root: &Root,
    k: &Kustomization,
    field: &str,
    inline: Option<&str>,
    path: Option<&str>,
) -> Result<(Body, String), Error> {
    let (text, origin) = match (inline, path) {
        (Some(t), None) => (t.to_string(), k.file.clone()),
        (None, Some(p)) => {
            let rel = root.join(&k.dir, p).ok_or_else(|| Error::OutsideRoot {
                file: k.file.clone(),
                field: format!("{field}.path"),
                path: p.to_string(),
                root: root.dir().to_path_buf(),
            })?;
            let bytes = root.read(&rel).map_err(|_| Error::NotFound {
                file: k.file.clone(),
                field: format!("{field}.path"),
                path: rel.clone(),
            })?;
            (String::from_utf8_lossy(&bytes).into_owned(), rel)
        }
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                &k.file,
                field,
                "patch and path are both set: give one",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                &k.file,
                field,
                "must specify one of patch and path",
            ));
        }
    };
    let docs = yaml::parse(&text).map_err(|e| Error::Yaml {
        path: origin.clone(),
        source: e,
    })?;
    let docs: Vec<Node> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if let [Node::Seq(ops)] = docs.as_slice() {
        return Ok((Body::Json(ops.clone()), origin));
    }
    // kustomize holds strategic merge patches as objects (its yaml.v3
    // trip changes their folded scalars); JSON operations it does not.
    let docs = yaml::parse_objects(&text).map_err(|e| Error::Yaml {
        path: origin.clone(),
        source: e,
    })?;
    let docs: Vec<Node> = docs.into_iter().filter(|d| !d.is_null()).collect();
    Ok((Body::Smp(docs), origin))
}

/// `patches`.
///
/// # Errors
/// Unreadable or malformed patches, a patch without target that matches no
/// resource, failing JSON operations.
pub fn patches(root: &Root, k: &Kustomization, res: &mut [Resource]) -> Result<(), Error> {
    for (i, p) in k.list("patches")?.iter().enumerate() {
        let field = format!("patches[{i}]");
        let m = p
            .as_map()
            .ok_or_else(|| Error::invalid(&k.file, &field, "expected a mapping"))?;
        let (body, origin) = read_body(root, k, &field, m.str("patch"), m.str("path"))?;
        let opts = m.get("options").and_then(Node::as_map);
        let allow_name = opts.and_then(|o| o.str("allowNameChange")) == Some("true");
        let allow_kind = opts.and_then(|o| o.str("allowKindChange")) == Some("true");
        let target = match m.get("target") {
            Some(t) if !t.is_null() => Some(Target::read(&k.file, &format!("{field}.target"), t)?),
            _ => None,
        };
        match (body, target) {
            (Body::Json(ops), Some(t)) => {
                for r in res.iter_mut().filter(|r| t.matches(r)) {
                    json6902::apply(&mut r.node, &ops).map_err(|e| {
                        Error::invalid(&k.file, &field, format!("{e} in {}", r.describe()))
                    })?;
                }
            }
            (Body::Json(_), None) => {
                return Err(Error::invalid(
                    &k.file,
                    format!("{field}.target"),
                    "a JSON 6902 patch needs a target",
                ));
            }
            (Body::Smp(docs), Some(t)) => {
                for doc in &docs {
                    for r in res.iter_mut().filter(|r| t.matches(r)) {
                        apply_smp(r, doc, allow_name, allow_kind, true, k.schema.as_ref());
                    }
                }
            }
            (Body::Smp(docs), None) => {
                for doc in &docs {
                    apply_by_id(res, doc, k, &field, &origin, allow_name, allow_kind)?;
                }
            }
        }
    }
    Ok(())
}

/// A strategic merge patch without a target: applied to the resource its own
/// kind, name and namespace name.
fn apply_by_id(
    res: &mut [Resource],
    doc: &Node,
    k: &Kustomization,
    field: &str,
    origin: &str,
    allow_name: bool,
    allow_kind: bool,
) -> Result<(), Error> {
    let file = k.file.as_str();
    let schema = k.schema.as_ref();
    let Some(m) = doc.as_map() else {
        return Err(Error::invalid(file, field, "a patch must be a mapping"));
    };
    let kind = m.str("kind").unwrap_or("");
    let api = m.str("apiVersion").unwrap_or("");
    let gvk = crate::resource::Gvk::new(api, kind);
    let name = doc
        .at(&["metadata", "name"])
        .and_then(Node::as_str)
        .unwrap_or("");
    let ns = doc.at(&["metadata", "namespace"]).and_then(Node::as_str);
    let matches: Vec<usize> = res
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let rg = r.gvk();
            rg.kind == gvk.kind
                && (gvk.group.is_empty() || rg.group == gvk.group)
                && r.was_named(name)
                && ns
                    .is_none_or(|ns| r.namespace() == ns || r.prev.iter().any(|(_, pns)| pns == ns))
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [i] => {
            apply_smp(&mut res[*i], doc, allow_name, allow_kind, false, schema);
            Ok(())
        }
        [] => Err(Error::invalid(
            file,
            field,
            format!(
                "patch {origin}: no resource matches {kind} {name:?}{}: failed to find a target for the patch",
                ns.map(|n| format!(" in namespace {n:?}"))
                    .unwrap_or_default()
            ),
        )),
        _ => Err(Error::invalid(
            file,
            field,
            format!("patch {origin}: {kind} {name:?} matches several resources: add a namespace"),
        )),
    }
}

fn apply_smp(
    r: &mut Resource,
    patch: &Node,
    allow_name: bool,
    allow_kind: bool,
    targeted: bool,
    schema: Option<&schema::Schema>,
) {
    let mut patch = patch.clone();
    let old_name = r.name().to_string();
    if let Some(m) = patch.as_map_mut() {
        if !allow_kind {
            m.remove("kind");
            m.remove("apiVersion");
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Node::as_map_mut) {
            if !allow_name {
                meta.remove("name");
            }
            if targeted {
                meta.remove("namespace");
            }
        }
    }
    let kind = r.kind().to_string();
    smp::merge_with_schema(&mut r.node, &patch, &kind, schema);
    let new_name = r.name().to_string();
    if new_name != old_name {
        // Remember the old identity for references.
        r.prev.push((old_name, r.namespace().to_string()));
    }
}

/// `patchesStrategicMerge`: file paths or inline patches.
///
/// # Errors
/// As [`patches`].
pub fn strategic_merge_legacy(
    root: &Root,
    k: &Kustomization,
    res: &mut [Resource],
) -> Result<(), Error> {
    for (i, p) in k.list("patchesStrategicMerge")?.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let s = p
            .as_str()
            .ok_or_else(|| Error::invalid(&k.file, &field, "expected a string"))?;
        // A value with a newline (or that is not a file) is an inline patch.
        let is_path =
            !s.contains('\n') && root.join(&k.dir, s).is_some_and(|rel| root.is_file(&rel));
        let (body, origin) = if is_path {
            read_body(root, k, &field, None, Some(s))?
        } else if s.contains('\n') || s.contains(':') {
            read_body(root, k, &field, Some(s), None)?
        } else {
            let path = root.join(&k.dir, s).unwrap_or_default();
            return Err(Error::NotFound {
                file: k.file.clone(),
                field,
                path,
            });
        };
        match body {
            Body::Smp(docs) => {
                for doc in &docs {
                    apply_by_id(res, doc, k, &field, &origin, false, false)?;
                }
            }
            Body::Json(_) => {
                return Err(Error::invalid(
                    &k.file,
                    field,
                    "a JSON 6902 patch belongs in patchesJson6902 or patches (with a target)",
                ));
            }
        }
    }
    Ok(())
}

/// `patchesJson6902`: a target and a patch (inline or a file).
///
/// # Errors
/// As [`patches`].
pub fn json6902_legacy(root: &Root, k: &Kustomization, res: &mut [Resource]) -> Result<(), Error> {
    for (i, p) in k.list("patchesJson6902")?.iter().enumerate() {
        let field = format!("patchesJson6902[{i}]");
        let m = p
            .as_map()
            .ok_or_else(|| Error::invalid(&k.file, &field, "expected a mapping"))?;
        let target = match m.get("target") {
            Some(t) => Target::read(&k.file, &format!("{field}.target"), t)?,
            None => {
                return Err(Error::invalid(
                    &k.file,
                    format!("{field}.target"),
                    "missing: a JSON 6902 patch needs a target",
                ));
            }
        };
        let (body, _) = read_body(root, k, &field, m.str("patch"), m.str("path"))?;
        let ops = match body {
            Body::Json(ops) => ops,
            Body::Smp(docs) if docs.is_empty() => Vec::new(),
            Body::Smp(_) => {
                return Err(Error::invalid(
                    &k.file,
                    field,
                    "expected a list of JSON 6902 operations",
                ));
            }
        };
        for r in res.iter_mut().filter(|r| target.matches(r)) {
            json6902::apply(&mut r.node, &ops)
                .map_err(|e| Error::invalid(&k.file, &field, format!("{e} in {}", r.describe())))?;
        }
    }
    Ok(())
}
