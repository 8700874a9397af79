//! Name references: when a resource was renamed (prefix, suffix, content
//! hash), the fields of other resources that name it follow (kustomize's
//! `nameReference` configuration, for the built-in kinds).
//!
//! One pass: an index from (kind, any name it ever had) to resources, then
//! each referring field is looked up in it, so the cost is linear in the
//! number of resources and referring fields.

use crate::error::Error;
use crate::fieldspec::FieldSpec;
use crate::resource::Resource;
use crate::yaml::Node;
use std::collections::HashMap;

/// The pod spec inside each workload kind.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("PodTemplate", "template/spec"),
];

/// Fields inside a pod spec that name a resource of the given kind.
const POD_REFS: &[(&str, &str)] = &[
    ("ConfigMap", "volumes/configMap/name"),
    ("ConfigMap", "volumes/projected/sources/configMap/name"),
    ("ConfigMap", "containers/env/valueFrom/configMapKeyRef/name"),
    (
        "ConfigMap",
        "initContainers/env/valueFrom/configMapKeyRef/name",
    ),
    (
        "ConfigMap",
        "ephemeralContainers/env/valueFrom/configMapKeyRef/name",
    ),
    ("ConfigMap", "containers/envFrom/configMapRef/name"),
    ("ConfigMap", "initContainers/envFrom/configMapRef/name"),
    ("ConfigMap", "ephemeralContainers/envFrom/configMapRef/name"),
    ("Secret", "volumes/secret/secretName"),
    ("Secret", "volumes/projected/sources/secret/name"),
    ("Secret", "containers/env/valueFrom/secretKeyRef/name"),
    ("Secret", "initContainers/env/valueFrom/secretKeyRef/name"),
    (
        "Secret",
        "ephemeralContainers/env/valueFrom/secretKeyRef/name",
    ),
    ("Secret", "containers/envFrom/secretRef/name"),
    ("Secret", "initContainers/envFrom/secretRef/name"),
    ("Secret", "ephemeralContainers/envFrom/secretRef/name"),
    ("Secret", "imagePullSecrets/name"),
    ("Secret", "volumes/csi/nodePublishSecretRef/name"),
    ("Secret", "volumes/cephfs/secretRef/name"),
    ("Secret", "volumes/rbd/secretRef/name"),
    ("Secret", "volumes/azureFile/secretName"),
    ("ServiceAccount", "serviceAccountName"),
    ("ServiceAccount", "serviceAccount"),
    (
        "PersistentVolumeClaim",
        "volumes/persistentVolumeClaim/claimName",
    ),
    ("PriorityClass", "priorityClassName"),
];

/// Other referring fields: (target kind, referrer kind, path).
const OTHER_REFS: &[(&str, &str, &str)] = &[
    ("Secret", "ServiceAccount", "imagePullSecrets/name"),
    ("Secret", "ServiceAccount", "secrets/name"),
    ("Secret", "Ingress", "spec/tls/secretName"),
    ("Secret", "StorageClass", "parameters/secretName"),
    (
        "Service",
        "Ingress",
        "spec/rules/http/paths/backend/serviceName",
    ),
    (
        "Service",
        "Ingress",
        "spec/rules/http/paths/backend/service/name",
    ),
    ("Service", "Ingress", "spec/backend/serviceName"),
    ("Service", "Ingress", "spec/defaultBackend/service/name"),
    ("Service", "StatefulSet", "spec/serviceName"),
    (
        "PersistentVolume",
        "PersistentVolumeClaim",
        "spec/volumeName",
    ),
    (
        "StorageClass",
        "PersistentVolumeClaim",
        "spec/storageClassName",
    ),
    ("StorageClass", "PersistentVolume", "spec/storageClassName"),
    (
        "StorageClass",
        "StatefulSet",
        "spec/volumeClaimTemplates/spec/storageClassName",
    ),
    (
        "PersistentVolumeClaim",
        "StatefulSet",
        "spec/volumeClaimTemplates/metadata/name",
    ),
    (
        "ConfigMap",
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
    ),
    (
        "Secret",
        "Ingress",
        "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
    ),
    (
        "Secret",
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
    ),
    (
        "Secret",
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
    ),
];

/// Kinds a `scaleTargetRef` of a HorizontalPodAutoscaler may name.
const SCALE_TARGETS: &[&str] = &[
    "Deployment",
    "ReplicationController",
    "ReplicaSet",
    "StatefulSet",
];

/// Index of resources by (kind, any name they had).
struct Index<'a> {
    by_name: HashMap<(&'a str, &'a str), Vec<usize>>,
    res: &'a [Resource],
}

impl<'a> Index<'a> {
    fn new(res: &'a [Resource]) -> Self {
        let mut by_name: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, r) in res.iter().enumerate() {
            if r.prev.is_empty() {
                continue; // never renamed: nothing to fix
            }
            let mut names: Vec<&str> = r.prev.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                by_name.entry((r.kind(), n)).or_default().push(i);
            }
        }
        Index { by_name, res }
    }

    /// The new name for a reference to `kind` `name` from namespace `ns`
    /// (`None`: cluster-scoped target, any namespace).
    fn lookup(&self, kind: &str, name: &str, ns: Option<&str>, from: &Resource) -> Option<String> {
        let cands = self.by_name.get(&(kind, name))?;
        let mut found: Vec<&Resource> = cands
            .iter()
            .map(|&i| &self.res[i])
            .filter(|r| match ns {
                None => true,
                Some(ns) => {
                    let rns = r.namespace();
                    rns == ns
                        || (rns.is_empty() && ns == "default")
                        || (ns.is_empty() && rns == "default")
                }
            })
            .collect();
        // A name that is still current wins: nothing to rename.
        if found.iter().any(|r| r.name() == name) {
            return None;
        }
        found.dedup_by(|a, b| a.name() == b.name());
        // Several renamed resources had that name: the one renamed with the
        // same prefixes and suffixes as the referrer (from the same base).
        if found.len() > 1 {
            found.retain(|r| r.prefixes == from.prefixes && r.suffixes == from.suffixes);
        }
        match found.as_slice() {
            [one] => Some(one.name().to_string()),
            _ => None,
        }
    }
}

impl Index<'_> {
    /// The resource of `kind` that a reference by `name` and namespace `ns`
    /// (empty when unset) names — a role binding subject, a webhook's
    /// service — when it was renamed or moved: its name and namespace.
    fn subject(&self, kind: &str, name: &str, ns: &str) -> Option<(String, String)> {
        let cands = self.by_name.get(&(kind, name))?;
        let found: Vec<&Resource> = cands
            .iter()
            .map(|&i| &self.res[i])
            .filter(|r| {
                let same = |p: &str| {
                    p == ns
                        || (p.is_empty() && ns == "default")
                        || (ns.is_empty() && p == "default")
                };
                same(r.namespace()) || r.prev.iter().any(|(_, p)| same(p))
            })
            .collect();
        match found.as_slice() {
            [one] => Some((one.name().to_string(), one.namespace().to_string())),
            _ => None,
        }
    }
}

/// Rewrites every reference to a renamed resource.
///
/// # Errors
/// None today; kept for ambiguous references once they are reported.
pub fn fix(res: &mut [Resource], extra: &[(String, FieldSpec)]) -> Result<(), Error> {
    let mut edits: Vec<(usize, Vec<String>, usize, String)> = Vec::new();
    {
        let index = Index::new(res);
        if index.by_name.is_empty() {
            return Ok(());
        }
        for (ri, r) in res.iter().enumerate() {
            let kind = r.kind();
            let ns = r.namespace();
            let mut visit = |target: &str, path: &str| {
                let segs = crate::fieldspec::split_path(path);
                let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
                collect(&r.node, &segs, &mut Vec::new(), &mut |p, v| {
                    if let Some(new) = index.lookup(target, v, Some(ns), r) {
                        edits.push((ri, p.to_vec(), 0, new));
                    }
                });
            };
            if let Some((_, spec)) = POD_SPECS.iter().find(|(k, _)| *k == kind) {
                for (target, path) in POD_REFS {
                    visit(target, &format!("{spec}/{path}"));
                }
            }
            for (target, referrer, path) in OTHER_REFS {
                if *referrer == kind {
                    visit(target, path);
                }
            }
            let gvk = r.gvk();
            for (target, spec) in extra {
                if spec.applies(&gvk) {
                    visit(target, &spec.path);
                }
            }
            let m = r.map();
            if matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
                if let Some(rr) = m.get("roleRef").and_then(Node::as_map)
                    && let (Some(k), Some(n)) = (rr.str("kind"), rr.str("name"))
                {
                    let scope = if k == "Role" { Some(ns) } else { None };
                    if let Some(new) = index.lookup(k, n, scope, r) {
                        edits.push((ri, vec!["roleRef".into(), "name".into()], 0, new));
                    }
                }
                if let Some(Node::Seq(subjects)) = m.get("subjects") {
                    for (si, s) in subjects.iter().enumerate() {
                        let Some(s) = s.as_map() else { continue };
                        if s.str("kind") != Some("ServiceAccount") {
                            continue;
                        }
                        let Some(n) = s.str("name") else { continue };
                        let sns = s.str("namespace").unwrap_or("");
                        if let Some((new, new_ns)) = index.subject("ServiceAccount", n, sns) {
                            let base = vec!["subjects".to_string(), si.to_string()];
                            let mut name_path = base.clone();
                            name_path.push("name".into());
                            edits.push((ri, name_path, 0, new));
                            if !new_ns.is_empty() {
                                let mut ns_path = base;
                                ns_path.push("namespace".into());
                                edits.push((ri, ns_path, 1, new_ns));
                            }
                        }
                    }
                }
            }
            // Service references that carry their own namespace.
            let service_refs: Vec<Vec<String>> = match kind {
                "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => m
                    .get("webhooks")
                    .and_then(Node::as_seq)
                    .map(|hooks| {
                        (0..hooks.len())
                            .map(|i| {
                                vec![
                                    "webhooks".to_string(),
                                    i.to_string(),
                                    "clientConfig".into(),
                                    "service".into(),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                "APIService" => vec![vec!["spec".into(), "service".into()]],
                _ => Vec::new(),
            };
            for p in service_refs {
                let Some(svc) = at(&r.node, &p).and_then(Node::as_map) else {
                    continue;
                };
                let Some(n) = svc.str("name") else { continue };
                let sns = svc.str("namespace").unwrap_or("");
                if let Some((new, new_ns)) = index.subject("Service", n, sns) {
                    let mut name_path = p.clone();
                    name_path.push("name".into());
                    edits.push((ri, name_path, 0, new));
                    if !new_ns.is_empty() {
                        let mut ns_path = p;
                        ns_path.push("namespace".into());
                        edits.push((ri, ns_path, 1, new_ns));
                    }
                }
            }
            if kind == "HorizontalPodAutoscaler"
                && let Some(st) = r
                    .node
                    .at(&["spec", "scaleTargetRef"])
                    .and_then(Node::as_map)
                && let (Some(k), Some(n)) = (st.str("kind"), st.str("name"))
                && SCALE_TARGETS.contains(&k)
                && let Some(new) = index.lookup(k, n, Some(ns), r)
            {
                edits.push((
                    ri,
                    vec!["spec".into(), "scaleTargetRef".into(), "name".into()],
                    0,
                    new,
                ));
            }
        }
    }
    for (ri, path, kind, new) in edits {
        if kind == 1 {
            // A subject's namespace: set, even when it was not written.
            if let Some((last, parent)) = path.split_last()
                && let Some(Node::Map(m)) = at_mut(&mut res[ri].node, parent)
            {
                m.insert(last.clone(), Node::str(new));
            }
        } else if let Some(n) = at_mut(&mut res[ri].node, &path) {
            *n = Node::str(new);
        }
    }
    Ok(())
}

/// Calls `f` with the concrete path (sequence indices included) and value of
/// every string scalar at `segs` below `n`.
fn collect(n: &Node, segs: &[&str], at: &mut Vec<String>, f: &mut dyn FnMut(&[String], &str)) {
    if let Node::Seq(items) = n {
        for (i, item) in items.iter().enumerate() {
            at.push(i.to_string());
            collect(item, segs, at, f);
            at.pop();
        }
        return;
    }
    match segs.split_first() {
        None => {
            if let Some(s) = n.as_str() {
                f(at, s);
            }
        }
        Some((first, rest)) => {
            if let Some(child) = n.as_map().and_then(|m| m.get(first)) {
                at.push((*first).to_string());
                collect(child, rest, at, f);
                at.pop();
            }
        }
    }
}

/// The node at a concrete path (mapping keys and sequence indices).
fn at<'n>(n: &'n Node, path: &[String]) -> Option<&'n Node> {
    let mut cur = n;
    for p in path {
        cur = match cur {
            Node::Map(m) => m.get(p)?,
            Node::Seq(items) => items.get(p.parse::<usize>().ok()?)?,
            Node::Scalar(_) => return None,
        };
    }
    Some(cur)
}

/// The node at a concrete path, mutably.
pub fn at_mut<'n>(n: &'n mut Node, path: &[String]) -> Option<&'n mut Node> {
    let mut cur = n;
    for p in path {
        cur = match cur {
            Node::Map(m) => m.get_mut(p)?,
            Node::Seq(items) => items.get_mut(p.parse::<usize>().ok()?)?,
            Node::Scalar(_) => return None,
        };
    }
    Some(cur)
}
