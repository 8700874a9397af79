//! Strategic merge patch (Kubernetes' `x-kubernetes-patch-merge-key` /
//! `x-kubernetes-patch-strategy`) with the `$patch: delete|replace`
//! directive.
//!
//! `$setElementOrder/<list>`, `$retainKeys` and
//! `$deleteFromPrimitiveList/<list>` are understood by the API server's
//! strategic merge, but kubectl kustomize (kyaml's merge) copies them into
//! the output as ordinary keys; weir does the same, since kubectl is the
//! reference (see the `patch-set-element-order` and neighbouring cases).
//! [`merge_with_directives`] implements them, for callers that want the
//! server's meaning.
//!
//! Lists of built-in kinds merge by key where the OpenAPI says so (a compact
//! table below, by field name in its parent type); every other list is
//! replaced, as for custom resources. Merged lists list the patch's elements
//! first, in patch order, then the original's other elements, as kubectl
//! kustomize does.

use super::schema::Schema;
use crate::yaml::{Map, Node};
use std::borrow::Cow;

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
#[derive(Debug, Clone, PartialEq)]
pub enum ListMerge {
    /// Replaced by the patch's list.
    Replace,
    /// Elements merged by this key.
    Key(Cow<'static, str>),
    /// A list of scalars merged as a set.
    Set,
}

/// The merge strategy of list field `field` whose parent mapping sits at
/// `path` (mapping keys from the object root, sequence levels left out).
fn list_merge(kind: &str, path: &[String], field: &str, schema: Option<&Schema>) -> ListMerge {
    // A kustomization's own schema replaces the built-in one: kinds it does
    // not define lose their merge keys (as with kubectl kustomize).
    if let Some(s) = schema {
        return s.list(kind, path, field).unwrap_or(ListMerge::Replace);
    }
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
        "ownerReferences" if parent == "metadata" => ListMerge::Key(Cow::Borrowed("uid")),
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
            if in_pod_spec =>
        {
            ListMerge::Key(Cow::Borrowed("name"))
        }
        "hostAliases" if in_pod_spec => ListMerge::Key(Cow::Borrowed("ip")),
        "topologySpreadConstraints" if in_pod_spec => ListMerge::Key(Cow::Borrowed("topologyKey")),
        "env" if in_container => ListMerge::Key(Cow::Borrowed("name")),
        "ports" if in_container => ListMerge::Key(Cow::Borrowed("containerPort")),
        "volumeMounts" if in_container => ListMerge::Key(Cow::Borrowed("mountPath")),
        "volumeDevices" if in_container => ListMerge::Key(Cow::Borrowed("devicePath")),
        "ports" if kind == "Service" && parent == "spec" => ListMerge::Key(Cow::Borrowed("port")),
        "conditions" if parent == "status" => ListMerge::Key(Cow::Borrowed("type")),
        _ => ListMerge::Replace,
    }
}

/// Merges `patch` into `target` (an object of kind `kind`), as kubectl
/// kustomize does.
pub fn merge(target: &mut Node, patch: &Node, kind: &str) {
    merge_with_schema(target, patch, kind, None);
}

/// [`merge`], with list strategies for the kinds `schema` defines (a
/// kustomization's `openapi`) taken from it.
pub fn merge_with_schema(target: &mut Node, patch: &Node, kind: &str, schema: Option<&Schema>) {
    let mut path = Vec::new();
    let ctx = Ctx {
        kind,
        server: false,
        schema,
    };
    merge_node(target, patch, &ctx, &mut path);
}

/// What every level of a merge needs.
struct Ctx<'a> {
    kind: &'a str,
    server: bool,
    schema: Option<&'a Schema>,
}

/// Merges `patch` into `target` with the API server's meaning of
/// `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList`.
pub fn merge_with_directives(target: &mut Node, patch: &Node, kind: &str) {
    let mut path = Vec::new();
    let ctx = Ctx {
        kind,
        server: true,
        schema: None,
    };
    merge_node(target, patch, &ctx, &mut path);
}

/// Whether `k` is a directive key that is dropped from the result.
fn is_directive(k: &str, server: bool) -> bool {
    k == "$patch" || (server && k.starts_with('$'))
}

fn merge_node(target: &mut Node, patch: &Node, ctx: &Ctx, path: &mut Vec<String>) {
    let server = ctx.server;
    match (target, patch) {
        (Node::Map(t), Node::Map(p)) => {
            match p.str("$patch") {
                Some("replace") => {
                    *t = strip(p, server);
                    return;
                }
                Some("delete") => {
                    *t = Map::new();
                    return;
                }
                _ => {}
            }
            merge_map(t, p, ctx, path);
        }
        (t, p) => *t = strip_node(p, server),
    }
}

fn merge_map(t: &mut Map, p: &Map, ctx: &Ctx, path: &mut Vec<String>) {
    let server = ctx.server;
    if server && let Some(Node::Seq(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Node::as_str).collect();
        t.0.retain(|(k, _)| keep.contains(&k.as_str()));
    }
    for (k, pv) in p.iter() {
        if server && let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Node::Seq(items)), Node::Seq(del)) = (t.get_mut(list), pv) {
                items.retain(|i| !del.contains(i));
            }
            continue;
        }
        if is_directive(k, server) {
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
                    let strategy = list_merge(ctx.kind, path, k, ctx.schema);
                    let order = if server {
                        p.get(&format!("$setElementOrder/{k}"))
                    } else {
                        None
                    };
                    path.push(k.clone());
                    merge_list(ti, pi, strategy, order, ctx, path);
                    path.pop();
                } else {
                    path.push(k.clone());
                    merge_node(tv, pv, ctx, path);
                    path.pop();
                }
            }
            None => {
                let v = strip_node(pv, server);
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
    ctx: &Ctx,
    path: &mut Vec<String>,
) {
    let server = ctx.server;
    // `- $patch: replace` replaces the whole list with the other elements.
    let replace = p
        .iter()
        .any(|n| n.as_map().and_then(|m| m.str("$patch")) == Some("replace"));
    if replace || strategy == ListMerge::Replace {
        *t = p
            .iter()
            .filter(|n| n.as_map().and_then(|m| m.str("$patch")).is_none())
            .map(|n| strip_node(n, server))
            .collect();
        return;
    }
    let mut merged: Vec<Node> = Vec::new();
    let mut used = vec![false; t.len()];
    match &strategy {
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
                let kv = pm.and_then(|m| m.get(key.as_ref()));
                let found = kv.and_then(|kv| {
                    t.iter()
                        .position(|x| x.as_map().and_then(|m| m.get(key.as_ref())) == Some(kv))
                });
                let delete = pm.and_then(|m| m.str("$patch")) == Some("delete");
                match (found, delete) {
                    (Some(i), true) => used[i] = true,
                    (None, true) => {}
                    (Some(i), false) => {
                        used[i] = true;
                        let mut elem = t[i].clone();
                        merge_node(&mut elem, n, ctx, path);
                        merged.push(elem);
                    }
                    (None, false) => merged.push(strip_node(n, server)),
                }
            }
        }
        ListMerge::Replace => {}
    }
    let deleted: Vec<bool> = match &strategy {
        ListMerge::Key(key) => t
            .iter()
            .map(|x| {
                p.iter().any(|n| {
                    n.as_map().is_some_and(|m| {
                        m.str("$patch") == Some("delete")
                            && m.get(key.as_ref()).is_some()
                            && x.as_map().and_then(|xm| xm.get(key.as_ref())) == m.get(key.as_ref())
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
    if let (Some(Node::Seq(order)), ListMerge::Key(key)) = (order, &strategy) {
        let pos = |n: &Node| {
            let v = n.as_map().and_then(|m| m.get(key.as_ref()));
            order
                .iter()
                .position(|o| o.as_map().and_then(|m| m.get(key.as_ref())) == v)
                .unwrap_or(usize::MAX)
        };
        merged.sort_by_key(pos);
    } else if let (Some(Node::Seq(order)), ListMerge::Set) = (order, &strategy) {
        merged.sort_by_key(|n| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
    }
    *t = merged;
}

/// A patch value with its directives removed.
fn strip_node(n: &Node, server: bool) -> Node {
    match n {
        Node::Map(m) => Node::Map(strip(m, server)),
        Node::Seq(items) => Node::Seq(
            items
                .iter()
                .filter(|i| i.as_map().and_then(|m| m.str("$patch")).is_none())
                .map(|i| strip_node(i, server))
                .collect(),
        ),
        s => s.clone(),
    }
}

fn strip(m: &Map, server: bool) -> Map {
    Map(m
        .iter()
        .filter(|(k, v)| !is_directive(k, server) && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_node(v, server)))
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

    #[test]
    fn server_directives_order_retain_and_delete() {
        let mut t = one(
            "metadata:\n  finalizers: [a, b, c]\nspec:\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}\n  template:\n    spec:\n      containers: [{name: a}, {name: b}, {name: c}]\n",
        );
        let p = one(
            "metadata:\n  $deleteFromPrimitiveList/finalizers: [b]\nspec:\n  strategy: {$retainKeys: [type], type: Recreate}\n  template:\n    spec:\n      $setElementOrder/containers: [{name: c}, {name: a}, {name: b}]\n      containers: [{name: a, image: x}]\n",
        );
        let mut kubectl = t.clone();
        merge_with_directives(&mut t, &p, "Deployment");
        let mut out = String::new();
        crate::yaml::json(&t, &mut out);
        assert_eq!(
            out,
            r#"{"metadata":{"finalizers":["a","c"]},"spec":{"strategy":{"type":"Recreate"},"template":{"spec":{"containers":[{"name":"c"},{"name":"a","image":"x"},{"name":"b"}]}}}}"#
        );
        // kubectl keeps them as keys.
        merge(&mut kubectl, &p, "Deployment");
        assert!(kubectl.at(&["spec", "strategy", "$retainKeys"]).is_some());
    }
}
