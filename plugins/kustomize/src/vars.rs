//! Legacy `vars`: `$(NAME)` in container commands, args and env values (and
//! a few other fields kustomize's `varReference` lists) is replaced by a
//! field of another resource.

use crate::error::Error;
use crate::resource::Resource;
use crate::yaml::Node;

/// Paths (inside a pod spec) where `$(VAR)` is expanded.
const POD_PATHS: &[&str] = &[
    "containers/command",
    "containers/args",
    "containers/env/value",
    "initContainers/command",
    "initContainers/args",
    "initContainers/env/value",
];

/// Expands every var in `res`.
///
/// # Errors
/// A var whose object or field is not found.
pub fn resolve(
    vars: &[(String, Node)],
    res: &mut [Resource],
    extra: &[crate::fieldspec::FieldSpec],
) -> Result<(), Error> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, String)> = Vec::new();
    for (name, v) in vars {
        let m = v.as_map();
        let objref = m.and_then(|m| m.get("objref")).and_then(Node::as_map);
        let kind = objref.and_then(|o| o.str("kind")).unwrap_or("");
        let oname = objref.and_then(|o| o.str("name")).unwrap_or("");
        let api = objref.and_then(|o| o.str("apiVersion"));
        let path = m
            .and_then(|m| m.get("fieldref"))
            .and_then(Node::as_map)
            .and_then(|f| f.str("fieldpath"))
            .unwrap_or("metadata.name");
        let found: Vec<&Resource> = res
            .iter()
            .filter(|r| {
                r.kind() == kind && r.was_named(oname) && api.is_none_or(|a| a == r.api_version())
            })
            .collect();
        let r = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::invalid(
                    "kustomization",
                    format!("vars {name}"),
                    format!("cannot find {kind} {oname:?} for var {name}"),
                ));
            }
            _ => {
                return Err(Error::invalid(
                    "kustomization",
                    format!("vars {name}"),
                    format!("{kind} {oname:?} for var {name} matches several resources"),
                ));
            }
        };
        let val = crate::replace::find(&r.node, path)
            .and_then(|n| match n {
                Node::Scalar(s) => Some(s.value.clone()),
                _ => None,
            })
            .ok_or_else(|| {
                Error::invalid(
                    "kustomization",
                    format!("vars {name}"),
                    format!("field {path:?} not found in {}", r.describe()),
                )
            })?;
        values.push((name.clone(), val));
    }
    let expand = |s: &str| -> Option<String> {
        if !s.contains("$(") {
            return None;
        }
        let mut out = s.to_string();
        for (n, v) in &values {
            out = out.replace(&format!("$({n})"), v);
        }
        (out != s).then_some(out)
    };
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for spec in extra.iter().filter(|s| s.applies(&gvk)) {
            let segs: Vec<&str> = spec.path.split('/').collect();
            crate::fieldspec::walk(&mut r.node, &segs, None, &mut |n| {
                if let Some(new) = n.as_str().and_then(expand) {
                    *n = Node::str(new);
                }
            });
        }
        let spec = match r.kind() {
            "Pod" => "spec",
            "Deployment"
            | "ReplicaSet"
            | "DaemonSet"
            | "StatefulSet"
            | "Job"
            | "ReplicationController" => "spec/template/spec",
            "CronJob" => "spec/jobTemplate/spec/template/spec",
            _ => continue,
        };
        for p in POD_PATHS {
            let full = format!("{spec}/{p}");
            let segs: Vec<&str> = full.split('/').collect();
            crate::fieldspec::walk(&mut r.node, &segs, None, &mut |n| {
                if let Some(new) = n.as_str().and_then(expand) {
                    *n = Node::str(new);
                }
            });
        }
    }
    Ok(())
}
