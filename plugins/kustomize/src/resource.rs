//! A resource being built, with the identity history kustomize keeps for
//! name references.

use crate::yaml::{Map, Node};

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    /// API group, empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Splits `apiVersion` and pairs it with `kind`.
    pub fn new(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// kustomize's `Gvk.String()`: `group_version_kind`, `~G`/`~V`/`~K` for
    /// empty parts.
    pub fn sort_string(&self) -> String {
        let g = if self.group.is_empty() {
            "~G"
        } else {
            &self.group
        };
        let v = if self.version.is_empty() {
            "~V"
        } else {
            &self.version
        };
        let k = if self.kind.is_empty() {
            "~K"
        } else {
            &self.kind
        };
        format!("{g}_{v}_{k}")
    }
}

/// How a generated resource joins one of the same name from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// A new resource; a clash is an error.
    Create,
    /// Merged into the existing one.
    Merge,
    /// Replaces the existing one.
    Replace,
}

/// One resource.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object.
    pub node: Node,
    /// Names and namespaces it had before renames, oldest first (for name
    /// references and for patch/replacement targets written against them).
    pub prev: Vec<(String, String)>,
    /// Set for generated ConfigMaps/Secrets: whether a content hash is appended.
    pub hash_suffix: bool,
    /// Set for generated resources: how they join an existing one.
    pub behavior: Option<Behavior>,
    /// Where it came from, relative to the root (`file` or `file#doc`; the
    /// kustomization file for generated resources).
    pub origin: String,
    /// For generated resources: the generator kind (`ConfigMapGenerator`).
    pub generated_by: Option<&'static str>,
    /// `namePrefix`es applied, innermost first (to tell apart resources
    /// that shared an old name, as kustomize does).
    pub prefixes: Vec<String>,
    /// `nameSuffix`es applied, innermost first.
    pub suffixes: Vec<String>,
}

impl Resource {
    /// A resource read from `origin`.
    pub fn new(node: Node, origin: String) -> Resource {
        Resource {
            node,
            prev: Vec::new(),
            hash_suffix: false,
            behavior: None,
            origin,
            generated_by: None,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
        }
    }

    fn meta(&self) -> Option<&Map> {
        self.node.as_map()?.get("metadata")?.as_map()
    }

    /// The top-level mapping.
    pub fn map(&self) -> &Map {
        static EMPTY: Map = Map(Vec::new());
        self.node.as_map().unwrap_or(&EMPTY)
    }

    /// The top-level mapping, mutably (made one if it is not).
    pub fn map_mut(&mut self) -> &mut Map {
        if !matches!(self.node, Node::Map(_)) {
            self.node = Node::Map(Map::new());
        }
        match &mut self.node {
            Node::Map(m) => m,
            _ => unreachable!("just made a mapping"),
        }
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.map().str("apiVersion").unwrap_or("")
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.map().str("kind").unwrap_or("")
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// The identity kustomize refuses to see twice: group, kind, namespace, name.
    pub fn id_key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.group(),
            self.kind(),
            self.namespace(),
            self.name()
        )
    }

    /// Group, version, kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::new(self.api_version(), self.kind())
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.meta().and_then(|m| m.str("name")).unwrap_or("")
    }

    /// `metadata.namespace`, empty when unset.
    pub fn namespace(&self) -> &str {
        self.meta().and_then(|m| m.str("namespace")).unwrap_or("")
    }

    /// The mapping `metadata`, created when missing.
    pub fn meta_mut(&mut self) -> &mut Map {
        self.map_mut().map_entry("metadata")
    }

    /// Sets `metadata.name`, remembering the previous identity.
    pub fn rename(&mut self, name: &str) {
        let old = (self.name().to_string(), self.namespace().to_string());
        if old.0 != name {
            self.prev.push(old);
            self.meta_mut().insert("name", Node::str(name));
        }
    }

    /// Sets `metadata.namespace`, remembering the previous identity.
    pub fn set_namespace(&mut self, ns: &str) {
        let old = (self.name().to_string(), self.namespace().to_string());
        if old.1 != ns {
            self.prev.push(old);
            self.meta_mut().insert("namespace", Node::str(ns));
        }
    }

    /// Whether the resource was ever called `name` (in `ns`, when given).
    pub fn was_named(&self, name: &str) -> bool {
        self.name() == name || self.prev.iter().any(|(n, _)| n == name)
    }

    /// The original name (before any prefix, suffix or hash).
    pub fn original_name(&self) -> &str {
        self.prev.first().map_or(self.name(), |(n, _)| n)
    }

    /// The original namespace.
    pub fn original_namespace(&self) -> &str {
        self.prev.first().map_or(self.namespace(), |(_, ns)| ns)
    }

    /// `metadata.labels` as strings.
    pub fn labels(&self) -> Vec<(String, String)> {
        self.string_map("labels")
    }

    /// `metadata.annotations` as strings.
    pub fn annotations(&self) -> Vec<(String, String)> {
        self.string_map("annotations")
    }

    /// The annotation `key`, if set to a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.meta()?.get("annotations")?.as_map()?.str(key)
    }

    /// Sets annotation `key` (creating `metadata.annotations`).
    pub fn set_annotation(&mut self, key: &str, value: String) {
        self.meta_mut()
            .map_entry("annotations")
            .insert(key, Node::str(value));
    }

    /// Removes annotation `key`, and `metadata.annotations` when that
    /// leaves it empty or it was empty or null already (kyaml's
    /// `SetAnnotations` clears the field for an empty map).
    pub fn remove_annotation(&mut self, key: &str) {
        let Some(meta) = self
            .node
            .as_map_mut()
            .and_then(|m| m.get_mut("metadata"))
            .and_then(Node::as_map_mut)
        else {
            return;
        };
        let empty = match meta.get_mut("annotations") {
            Some(Node::Map(ann)) => {
                ann.remove(key);
                ann.is_empty()
            }
            Some(n) => n.is_null(),
            None => false,
        };
        if empty {
            meta.remove("annotations");
        }
    }

    fn string_map(&self, key: &str) -> Vec<(String, String)> {
        self.meta()
            .and_then(|m| m.get(key))
            .and_then(Node::as_map)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `kind/namespace/name` or `kind/name`, for messages.
    pub fn describe(&self) -> String {
        if self.namespace().is_empty() {
            format!("{}/{}", self.kind(), self.name())
        } else {
            format!("{}/{}/{}", self.kind(), self.namespace(), self.name())
        }
    }
}
