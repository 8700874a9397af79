//! Kubernetes objects as rendered: untyped JSON plus where they came from.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A rendered object: its JSON and its origin (`file` or `file#doc`).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object's fields.
    pub data: Map<String, Value>,
    /// Where it came from, relative to the artifact root.
    pub origin: String,
}

/// A rendered object is unusable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ObjectError {
    /// Where the object came from.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

impl Object {
    /// Parses a rendered object's JSON text.
    ///
    /// # Errors
    /// Invalid JSON, a non-object, or missing `apiVersion`, `kind` or
    /// `metadata.name`.
    pub fn from_json(json: &str, origin: &str) -> Result<Self, ObjectError> {
        let err = |message: String| ObjectError {
            origin: origin.to_owned(),
            message,
        };
        let v: Value =
            serde_json::from_str(json).map_err(|e| err(format!("invalid object JSON: {e}")))?;
        let Value::Object(data) = v else {
            return Err(err("object is not a JSON object".into()));
        };
        let o = Object {
            data,
            origin: origin.to_owned(),
        };
        if o.api_version().is_empty() {
            return Err(err("object has no apiVersion".into()));
        }
        if o.kind().is_empty() {
            return Err(err("object has no kind".into()));
        }
        if o.name().is_empty() {
            return Err(err(format!("{} has no metadata.name", o.kind())));
        }
        Ok(o)
    }

    fn str_field(&self, k: &str) -> &str {
        self.data.get(k).and_then(Value::as_str).unwrap_or("")
    }

    fn meta_str(&self, k: &str) -> Option<&str> {
        self.data
            .get("metadata")
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.str_field("apiVersion")
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_field("kind")
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.meta_str("name").unwrap_or("")
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.meta_str("namespace")
    }

    /// The API group (empty for the core group) and version.
    pub fn group_version(&self) -> (&str, &str) {
        split_api_version(self.api_version())
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let m = self
            .data
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !m.is_object() {
            *m = Value::Object(Map::new());
        }
        match m {
            Value::Object(map) => map,
            _ => unreachable!("metadata was just made an object"),
        }
    }

    /// Sets or removes `metadata.namespace`.
    pub fn set_namespace(&mut self, ns: Option<&str>) {
        let meta = self.metadata_mut();
        match ns {
            Some(ns) => {
                meta.insert("namespace".into(), Value::String(ns.to_owned()));
            }
            None => {
                meta.remove("namespace");
            }
        }
    }

    /// Sets a label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let meta = self.metadata_mut();
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Value::Object(l) = labels {
            l.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }

    /// Sets an annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        let meta = self.metadata_mut();
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Value::Object(a) = annotations {
            a.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_owned()));
    }

    /// The object's identity, once its namespace is settled.
    pub fn key(&self) -> ObjectKey {
        let (group, version) = self.group_version();
        ObjectKey {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace().map(str::to_owned),
            name: self.name().to_owned(),
        }
    }
}

/// Splits `group/version` (or `version` for the core group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// An object's identity: group, kind, namespace and name, plus the version
/// it was last applied with (needed to address it, not part of identity).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// API group, empty for the core group.
    pub group: String,
    /// API version the object was applied with.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; none for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The identity without the version, in Flux's inventory format
    /// `<namespace>_<name>_<group>_<kind>`.
    pub fn id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace.as_deref().unwrap_or(""),
            self.name,
            self.group,
            self.kind
        )
    }

    /// `group/version` or `version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for ObjectKey {
    /// `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects: the
    /// form kubectl users recognise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identity_and_formats_it_like_kubectl_and_flux() {
        let o = Object::from_json(
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"}}"#,
            "deploy.yaml",
        )
        .expect("valid");
        let k = o.key();
        assert_eq!(k.to_string(), "Deployment/shop/web");
        assert_eq!(k.id(), "shop_web_apps_Deployment");
        assert_eq!(k.api_version(), "apps/v1");
    }

    #[test]
    fn refuses_objects_without_identity() {
        let e = Object::from_json(r#"{"apiVersion":"v1","kind":"ConfigMap"}"#, "a.yaml#2")
            .expect_err("no name");
        assert_eq!(e.to_string(), "a.yaml#2: ConfigMap has no metadata.name");
        assert!(Object::from_json("[1]", "x").is_err());
    }

    #[test]
    fn sets_namespace_and_labels_in_place() {
        let mut o = Object::from_json(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":null}}"#,
            "c.yaml",
        )
        .expect("valid");
        o.set_namespace(Some("ns"));
        o.set_label("a", "b");
        assert_eq!(o.namespace(), Some("ns"));
        assert_eq!(o.data["metadata"]["labels"]["a"], "b");
        o.set_namespace(None);
        assert_eq!(o.namespace(), None);
    }
}
