//! The built-in transformers: namespace, name prefix/suffix, labels,
//! annotations, images, replicas.

use crate::fieldspec::{self, COMMON_ANNOTATIONS, FieldSpec, is_cluster_scoped};
use crate::resource::Resource;
use crate::yaml::{Map, Node};

/// Sets `pairs` in the mapping at each field spec that applies.
pub fn set_pairs(r: &mut Resource, specs: &[FieldSpec], pairs: &[(String, String)]) {
    let gvk = r.gvk();
    for spec in specs.iter().filter(|s| s.applies(&gvk)) {
        let path: Vec<&str> = spec.path.split('/').collect();
        let make = || Node::Map(Map::new());
        let create: Option<&dyn Fn() -> Node> = if spec.create { Some(&make) } else { None };
        fieldspec::walk(&mut r.node, &path, create, &mut |n| {
            if n.is_null() {
                *n = Node::Map(Map::new());
            }
            if let Node::Map(m) = n {
                for (k, v) in pairs {
                    m.insert(k.clone(), Node::str(v.clone()));
                }
            }
        });
    }
}

/// `commonAnnotations`.
pub fn annotations(r: &mut Resource, pairs: &[(String, String)]) {
    set_pairs(r, COMMON_ANNOTATIONS, pairs);
}

/// `namespace`: namespaced resources move to `ns`; Namespace objects are
/// renamed to it; APIService service references follow. (ServiceAccount
/// subjects and webhook services follow through name references.)
pub fn namespace(r: &mut Resource, ns: &str) {
    let gvk = r.gvk();
    if gvk.kind == "Namespace" && gvk.group.is_empty() {
        r.rename(ns);
        return;
    }
    if !is_cluster_scoped(&gvk) {
        r.set_namespace(ns);
    }
    if gvk.kind == "APIService"
        && let Some(svc) = r
            .map_mut()
            .get_mut("spec")
            .and_then(Node::as_map_mut)
            .and_then(|s| s.get_mut("service"))
            .and_then(Node::as_map_mut)
    {
        svc.insert("namespace", Node::str(ns));
    }
}

/// Whether `namePrefix`/`nameSuffix` apply to this kind.
pub fn takes_prefix(r: &Resource) -> bool {
    let g = r.gvk();
    !(g.kind == "CustomResourceDefinition" || (g.kind == "Namespace" && g.group.is_empty()))
}

/// One `images` entry.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// The image name to match.
    pub name: String,
    /// `newName`.
    pub new_name: Option<String>,
    /// `newTag`.
    pub new_tag: Option<String>,
    /// `digest`.
    pub digest: Option<String>,
}

/// Splits `image` into name, tag (with `:`) and digest (with `@`).
fn split_image(image: &str) -> (&str, &str, &str) {
    let (rest, digest) = match image.find('@') {
        Some(i) => (&image[..i], &image[i..]),
        None => (image, ""),
    };
    // A tag's colon comes after the last slash (a registry may have a port).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], &rest[slash + i..], digest),
        None => (rest, "", digest),
    }
}

/// `images`: rewrites every `image` field of every `containers` and
/// `initContainers` list, at any depth, and the fields `extra` names.
pub fn images(r: &mut Resource, images: &[Image], extra: &[FieldSpec]) {
    let gvk = r.gvk();
    for spec in extra.iter().filter(|s| s.applies(&gvk)) {
        let path: Vec<&str> = spec.path.split('/').collect();
        fieldspec::walk(&mut r.node, &path, None, &mut |n| {
            if let Some(new) = n.as_str().and_then(|s| rewrite(s, images)) {
                *n = Node::str(new);
            }
        });
    }
    fn visit(n: &mut Node, images: &[Image], in_containers: bool) {
        match n {
            Node::Map(m) => {
                for (k, v) in m.0.iter_mut() {
                    if in_containers && k == "image" {
                        if let Node::Scalar(s) = v
                            && let Some(new) = rewrite(&s.value, images)
                        {
                            *v = Node::str(new);
                        }
                        continue;
                    }
                    let c = k == "containers" || k == "initContainers";
                    visit(v, images, c);
                }
            }
            Node::Seq(items) => {
                for i in items {
                    visit(i, images, in_containers);
                }
            }
            Node::Scalar(_) => {}
        }
    }
    visit(&mut r.node, images, false);
}

fn rewrite(image: &str, images: &[Image]) -> Option<String> {
    let (name, tag, digest) = split_image(image);
    let img = images.iter().find(|i| i.name == name)?;
    let name = img.new_name.as_deref().unwrap_or(name);
    let (tag, digest) = match (&img.new_tag, &img.digest) {
        (Some(t), Some(d)) => (format!(":{t}"), format!("@{d}")),
        (None, Some(d)) => (String::new(), format!("@{d}")),
        (Some(t), None) => (format!(":{t}"), String::new()),
        (None, None) => (tag.to_string(), digest.to_string()),
    };
    Some(format!("{name}{tag}{digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_images_with_registry_ports() {
        assert_eq!(split_image("nginx"), ("nginx", "", ""));
        assert_eq!(
            split_image("reg:5000/a/b:1.2"),
            ("reg:5000/a/b", ":1.2", "")
        );
        assert_eq!(split_image("b@sha256:x"), ("b", "", "@sha256:x"));
    }
}
