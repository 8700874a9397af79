//! The inventory: which objects a sync applied, so that prune can delete
//! exactly `old − new` and never an object the sync does not own.

use std::collections::BTreeSet;

use crate::object::ObjectKey;

/// The objects in `old` whose identity (ignoring the API version) is not in
/// `new`, in reverse apply order (namespaced objects before namespaces,
/// custom resources before their definitions).
pub fn stale(old: &[ObjectKey], new: &[ObjectKey]) -> Vec<ObjectKey> {
    let keep: BTreeSet<String> = new.iter().map(ObjectKey::id).collect();
    let mut out: Vec<ObjectKey> = old
        .iter()
        .filter(|k| !keep.contains(&k.id()))
        .cloned()
        .collect();
    out.sort_by_key(|k| std::cmp::Reverse(delete_rank(k)));
    out
}

/// Lower ranks are applied first and deleted last.
pub fn delete_rank(k: &ObjectKey) -> u8 {
    match (k.group.as_str(), k.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("", "Namespace") => 1,
        _ if k.namespace.is_none() => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, ns: Option<&str>, name: &str, version: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            version: version.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn stale_is_old_minus_new_ignoring_version_and_deletes_namespaces_last() {
        let old = [
            key("Namespace", None, "gone", "v1"),
            key("ConfigMap", Some("gone"), "a", "v1"),
            key("ConfigMap", Some("kept"), "b", "v1"),
        ];
        let new = [key("ConfigMap", Some("kept"), "b", "v2")];
        let s = stale(&old, &new);
        let names: Vec<_> = s.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["ConfigMap/gone/a", "Namespace/gone"]);
    }
}
