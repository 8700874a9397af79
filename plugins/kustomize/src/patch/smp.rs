//! Strategic merge patch (Kubernetes' `x-kubernetes-patch-merge-key` /
//! `x-kubernetes-patch-strategy`), with the directives `$patch`,
//! `$setElementOrder/<list>`, `$retainKeys` and `$deleteFromPrimitiveList/<list>`.
//!
//! Lists of built-in kinds merge by key where the OpenAPI says so (a compact
//! table below, by field name in its parent type); every other list is
//! replaced, as for custom resources. Merged lists list the patch's elements
//! first, in patch order, then the original's other elements, as kubectl
//! kustomize does.

use crate::yaml::{Map, Node};

/// Kinds whose schema kustomize knows (and so merges lists by key).
fn is_builtin(kind: &str) -> bool {
    matches!(
        kind,
        "Pod"
            | "PodTemplate"
            | "Deployment"
            | "ReplicaSet"
            | "DaemonSet"
            | "StatefulSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
            | "Service"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "Ingress"
            | "NetworkPolicy"
            | "PersistentVolumeClaim"
            | "PersistentVolume"
            | "Role"
            | "ClusterRole"
            | "RoleBinding"
            | "ClusterRoleBinding"
            | "Namespace"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "Endpoints"
            | "LimitRange"
            | "ResourceQuota"
            | "StorageClass"
            | "PriorityClass"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "CustomResourceDefinition"
            | "APIService"
    )
}

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ListMerge {
    /// Replaced by the patch's list.
    Replace,
    /// Elements merged by this key.
    Key(&'static str),
    /// A list of scalars merged as a set.
    Set,
}

/// The merge strategy of list field `field` whose parent mapping sits at
/// `path` (mapping keys from the object root, sequence levels left out).
fn list_merge(kind: &str, path: &[String], field: &str) -> ListMerge {
    if !is_builtin(kind) {
        return ListMerge::Replace;
    }
    let parent = path.last().map_or("", String::as_str);
    let in_pod_spec = parent == "spec"
        && (kind == "Pod" && path.len() == 1 || path.iter().any(|p| p == "template"));
    let in_container = matches!(
        parent,
        "containers" | "initContainers" | "ephemeralContainers"
    );
    match field {
        "finalizers" if parent == "metadata" => ListMerge::Set,
        "ownerReferences" if parent == "metadata" => ListMerge::Key("uid"),
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
            if in_pod_spec =>
        {
            ListMerge::Key("name")
        }
        "hostAliases" if in_pod_spec => ListMerge::Key("ip"),
        "topologySpreadConstraints" if in_pod_spec => ListMerge::Key("topologyKey"),
        "env" if in_container => ListMerge::Key("name"),
        "ports" if in_container => ListMerge::Key("containerPort"),
        "volumeMounts" if in_container => ListMerge::Key("mountPath"),
        "volumeDevices" if in_container => ListMerge::Key("devicePath"),
        "ports" if kind == "Service" && parent == "spec" => ListMerge::Key("port"),
        "conditions" if parent == "status" => ListMerge::Key("type"),
        _ => ListMerge::Replace,
    }
}

/// Merges `patch` into `target` (an object of kind `kind`).
pub fn merge(target: &mut Node, patch: &Node, kind: &str) {
    let mut path = Vec::new();
    merge_node(target, patch, kind, &mut path);
}

fn merge_node(target: &mut Node, patch: &Node, kind: &str, path: &mut Vec<String>) {
    match (target, patch) {
        (Node::Map(t), Node::Map(p)) => {
            match p.str("$patch") {
                Some("replace") => {
                    *t = strip(p);
                    return;
                }
                Some("delete") => {
                    *t = Map::new();
                    return;
                }
                _ => {}
            }
            merge_map(t, p, kind, path);
        }
        (t, p) => *t = strip_node(p),
    }
}

fn merge_map(t: &mut Map, p: &Map, kind: &str, path: &mut Vec<String>) {
    if let Some(Node::Seq(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Node::as_str).collect();
        t.0.retain(|(k, _)| keep.contains(&k.as_str()));
    }
    for (k, pv) in p.iter() {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Node::Seq(items)), Node::Seq(del)) = (t.get_mut(list), pv) {
                items.retain(|i| !del.contains(i));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            t.remove(k);
            continue;
        }
        // `field: {$patch: delete}` removes the field.
        if pv.as_map().and_then(|m| m.str("$patch")) == Some("delete") {
            t.remove(k);
            continue;
        }
        match t.get_mut(k) {
            Some(tv) => {
                if let (Node::Seq(ti), Node::Seq(pi)) = (&mut *tv, pv) {
                    let strategy = list_merge(kind, path, k);
                    let order = p.get(&format!("$setElementOrder/{k}"));
                    path.push(k.clone());
                    merge_list(ti, pi, strategy, order, kind, path);
                    path.pop();
                } else {
                    path.push(k.clone());
                    merge_node(tv, pv, kind, path);
                    path.pop();
                }
            }
            None => {
                let v = strip_node(pv);
                t.insert(k.clone(), v);
            }
        }
    }
}

fn merge_list(
    t: &mut Vec<Node>,
    p: &[Node],
    strategy: ListMerge,
    order: Option<&Node>,
    kind: &str,
    path: &mut Vec<String>,
) {
    // `- $patch: replace` replaces the whole list with the other elements.
    let replace = p
        .iter()
        .any(|n| n.as_map().and_then(|m| m.str("$patch")) == Some("replace"));
    if replace || strategy == ListMerge::Replace {
        *t = p
            .iter()
            .filter(|n| n.as_map().and_then(|m| m.str("$patch")).is_none())
            .map(strip_node)
            .collect();
        return;
    }
    let mut merged: Vec<Node> = Vec::new();
    let mut used = vec![false; t.len()];
    match strategy {
        ListMerge::Set => {
            for n in p {
                if let Some(i) = t.iter().position(|x| x == n) {
                    used[i] = true;
                }
                if !merged.contains(n) {
                    merged.push(n.clone());
                }
            }
        }
        ListMerge::Key(key) => {
            for n in p {
                let pm = n.as_map();
                let kv = pm.and_then(|m| m.get(key));
                let found = kv.and_then(|kv| {
                    t.iter()
                        .position(|x| x.as_map().and_then(|m| m.get(key)) == Some(kv))
                });
                let delete = pm.and_then(|m| m.str("$patch")) == Some("delete");
                match (found, delete) {
                    (Some(i), true) => used[i] = true,
                    (None, true) => {}
                    (Some(i), false) => {
                        used[i] = true;
                        let mut elem = t[i].clone();
                        merge_node(&mut elem, n, kind, path);
                        merged.push(elem);
                    }
                    (None, false) => merged.push(strip_node(n)),
                }
            }
        }
        ListMerge::Replace => {}
    }
    let deleted: Vec<bool> = match strategy {
        ListMerge::Key(key) => t
            .iter()
            .map(|x| {
                p.iter().any(|n| {
                    n.as_map().is_some_and(|m| {
                        m.str("$patch") == Some("delete")
                            && m.get(key).is_some()
                            && x.as_map().and_then(|xm| xm.get(key)) == m.get(key)
                    })
                })
            })
            .collect(),
        _ => vec![false; t.len()],
    };
    for (i, x) in t.iter().enumerate() {
        if !used[i] && !deleted[i] {
            merged.push(x.clone());
        }
    }
    if let (Some(Node::Seq(order)), ListMerge::Key(key)) = (order, strategy) {
        let pos = |n: &Node| {
            let v = n.as_map().and_then(|m| m.get(key));
            order
                .iter()
                .position(|o| o.as_map().and_then(|m| m.get(key)) == v)
                .unwrap_or(usize::MAX)
        };
        merged.sort_by_key(pos);
    } else if let (Some(Node::Seq(order)), ListMerge::Set) = (order, strategy) {
        merged.sort_by_key(|n| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    }
    *t = merged;
}

/// A patch value with its directives removed.
fn strip_node(n: &Node) -> Node {
    match n {
        Node::Map(m) => Node::Map(strip(m)),
        Node::Seq(items) => Node::Seq(
            items
                .iter()
                .filter(|i| i.as_map().and_then(|m| m.str("$patch")).is_none())
                .map(strip_node)
                .collect(),
        ),
        s => s.clone(),
    }
}

fn strip(m: &Map) -> Map {
    Map(m
        .iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_node(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn one(s: &str) -> Node {
        parse(s).expect("yaml").remove(0)
    }

    #[test]
    fn merges_containers_by_name_with_the_patch_first() {
        let mut t = one(
            "spec:\n  template:\n    spec:\n      containers: [{name: a, image: a}, {name: b, image: b}]\n",
        );
        let p = one(
            "spec:\n  template:\n    spec:\n      containers: [{name: b, image: b2}, {name: c, image: c}]\n",
        );
        merge(&mut t, &p, "Deployment");
        let names: Vec<&str> = t
            .at(&["spec", "template", "spec", "containers"])
            .and_then(Node::as_seq)
            .expect("list")
            .iter()
            .filter_map(|c| c.as_map().and_then(|m| m.str("image")))
            .collect();
        assert_eq!(names, vec!["b2", "c", "a"]);
    }

    #[test]
    fn replaces_lists_of_custom_resources() {
        let mut t = one("spec: {items: [{name: a}]}\n");
        let p = one("spec: {items: [{name: b}]}\n");
        merge(&mut t, &p, "Widget");
        assert_eq!(
            t.at(&["spec", "items"])
                .and_then(Node::as_seq)
                .map(Vec::len),
            Some(1)
        );
    }
}
