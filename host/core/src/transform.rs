//! The sync's own changes to rendered objects, before substitution, as
//! Flux's kustomize-controller makes them in the kustomization it generates:
//! `namePrefix`/`nameSuffix` (kustomize's prefix/suffix transformer, with
//! the references that point at renamed objects of the same set updated)
//! and `commonMetadata` (labels and annotations on `metadata` only, never on
//! selectors or pod templates, overriding the objects' own).

use std::collections::BTreeMap;

use serde_json::Value;
use weir_config::{CommonMetadata, Sync};

use crate::object::Object;

/// Applies the sync's `namePrefix`, `nameSuffix` and `commonMetadata`.
/// `weir build` and reconcile share it.
pub fn customize(sync: &Sync, objects: Vec<Object>) -> Vec<Object> {
    let prefix = sync.name_prefix.as_deref().unwrap_or("");
    let suffix = sync.name_suffix.as_deref().unwrap_or("");
    let mut objects = objects;
    if !prefix.is_empty() || !suffix.is_empty() {
        rename(&mut objects, prefix, suffix);
    }
    if let Some(cm) = &sync.common_metadata {
        common_metadata(&mut objects, cm);
    }
    objects
}

/// Kinds whose names kustomize's prefix/suffix transformer leaves alone:
/// a Namespace's name is referenced by every object in it, and the names of
/// CRDs and APIServices are fixed by what they serve.
fn keeps_name(o: &Object) -> bool {
    matches!(
        (o.group_version().0, o.kind()),
        ("", "Namespace")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
    )
}

/// `(kind, namespace or "", name)` of objects that were renamed, to their
/// new names.
type Renamed = BTreeMap<(String, String, String), String>;

fn rename(objects: &mut [Object], prefix: &str, suffix: &str) {
    let mut renamed = Renamed::new();
    for o in objects.iter_mut() {
        if keeps_name(o) {
            continue;
        }
        let old = o.name().to_owned();
        let new = format!("{prefix}{old}{suffix}");
        renamed.insert(
            (
                o.kind().to_owned(),
                o.namespace().unwrap_or("").to_owned(),
                old,
            ),
            new.clone(),
        );
        o.set_name(&new);
    }
    for o in objects.iter_mut() {
        let ns = o.namespace().unwrap_or("").to_owned();
        let kind = o.kind().to_owned();
        let group = o.group_version().0.to_owned();
        let data = &mut o.data;
        let r = Refs {
            renamed: &renamed,
            ns: &ns,
        };
        match (group.as_str(), kind.as_str()) {
            ("", "Pod") => r.pod_spec(data.get_mut("spec")),
            ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
            | ("batch", "Job") => {
                if kind == "StatefulSet" {
                    r.field(data.get_mut("spec"), "serviceName", "Service");
                }
                r.pod_spec(pointer(data, "/spec/template/spec"));
            }
            ("batch", "CronJob") => {
                r.pod_spec(pointer(data, "/spec/jobTemplate/spec/template/spec"))
            }
            ("networking.k8s.io", "Ingress") => r.ingress(data.get_mut("spec")),
            ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
                if let Some(role_ref) = data.get_mut("roleRef") {
                    let role_kind = role_ref
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    // A ClusterRole is cluster-scoped: no namespace.
                    let role_ns = if role_kind == "Role" { ns.as_str() } else { "" };
                    r.field_in(Some(role_ref), "name", &role_kind, role_ns);
                }
                for s in array(data.get_mut("subjects")) {
                    if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                        let sub_ns = s
                            .get("namespace")
                            .and_then(Value::as_str)
                            .unwrap_or(&ns)
                            .to_owned();
                        r.field_in(Some(s), "name", "ServiceAccount", &sub_ns);
                    }
                }
            }
            _ => {}
        }
    }
}

fn pointer<'a>(data: &'a mut serde_json::Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    let (first, rest) = path.trim_start_matches('/').split_once('/')?;
    data.get_mut(first)?.pointer_mut(&format!("/{rest}"))
}

fn array(v: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    v.and_then(Value::as_array_mut).into_iter().flatten()
}

/// Updates references to renamed objects, in the namespace of the object
/// that holds them.
struct Refs<'a> {
    renamed: &'a Renamed,
    ns: &'a str,
}

impl Refs<'_> {
    fn field(&self, holder: Option<&mut Value>, field: &str, kind: &str) {
        self.field_in(holder, field, kind, self.ns);
    }

    /// Renames `holder[field]` when it names a renamed object of `kind` in
    /// `ns`; references to objects outside the set stay as they are.
    fn field_in(&self, holder: Option<&mut Value>, field: &str, kind: &str, ns: &str) {
        let Some(slot) = holder.and_then(|h| h.get_mut(field)) else {
            return;
        };
        let Some(name) = slot.as_str() else { return };
        let key = (kind.to_owned(), ns.to_owned(), name.to_owned());
        if let Some(new) = self.renamed.get(&key) {
            *slot = Value::String(new.clone());
        }
    }

    fn pod_spec(&self, spec: Option<&mut Value>) {
        let Some(spec) = spec else { return };
        self.field(Some(spec), "serviceAccountName", "ServiceAccount");
        for s in array(spec.get_mut("imagePullSecrets")) {
            self.field(Some(s), "name", "Secret");
        }
        for v in array(spec.get_mut("volumes")) {
            self.field(v.get_mut("configMap"), "name", "ConfigMap");
            self.field(v.get_mut("secret"), "secretName", "Secret");
            self.field(
                v.get_mut("persistentVolumeClaim"),
                "claimName",
                "PersistentVolumeClaim",
            );
            for p in array(v.pointer_mut("/projected/sources")) {
                self.field(p.get_mut("configMap"), "name", "ConfigMap");
                self.field(p.get_mut("secret"), "name", "Secret");
            }
        }
        for list in ["containers", "initContainers"] {
            for c in array(spec.get_mut(list)) {
                for e in array(c.get_mut("env")) {
                    if let Some(from) = e.get_mut("valueFrom") {
                        self.field(from.get_mut("configMapKeyRef"), "name", "ConfigMap");
                        self.field(from.get_mut("secretKeyRef"), "name", "Secret");
                    }
                }
                for e in array(c.get_mut("envFrom")) {
                    self.field(e.get_mut("configMapRef"), "name", "ConfigMap");
                    self.field(e.get_mut("secretRef"), "name", "Secret");
                }
            }
        }
    }

    fn ingress(&self, spec: Option<&mut Value>) {
        let Some(spec) = spec else { return };
        self.field(
            spec.pointer_mut("/defaultBackend/service"),
            "name",
            "Service",
        );
        for t in array(spec.get_mut("tls")) {
            self.field(Some(t), "secretName", "Secret");
        }
        for rule in array(spec.get_mut("rules")) {
            for p in array(rule.pointer_mut("/http/paths")) {
                self.field(p.pointer_mut("/backend/service"), "name", "Service");
            }
        }
    }
}

fn common_metadata(objects: &mut [Object], cm: &CommonMetadata) {
    for o in objects.iter_mut() {
        for (k, v) in &cm.labels {
            o.set_label(k, v);
        }
        for (k, v) in &cm.annotations {
            o.set_annotation(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;

    fn names(objects: &[Object]) -> HashSet<String> {
        objects.iter().map(|o| o.name().to_owned()).collect()
    }

    fn obj(v: Value) -> Object {
        Object::from_json(&v.to_string(), "t.yaml").expect("valid")
    }

    fn sync(extra: &str) -> Sync {
        let text = format!(
            "version = 1\n[[git]]\nname = \"r\"\nurl = \"https://127.0.0.1/r.git\"\n[[sync]]\nname = \"s\"\nsource = \"r\"\nprune = true\n{extra}\n"
        );
        weir_config::Config::parse(&text, std::path::Path::new("/w.toml"))
            .expect("valid")
            .sync
            .remove(0)
    }

    /// The same inputs through `kubectl kustomize` (v5.5) with `namePrefix:
    /// pre-` and `nameSuffix: -suf` give these names (checked by hand; the
    /// e2e test compares with the oracle).
    #[test]
    fn prefix_and_suffix_rename_objects_and_references_to_them_as_kustomize_does() {
        let objects = vec![
            obj(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns1"}})),
            obj(
                json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"ns1"}}),
            ),
            obj(
                json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa","namespace":"ns1"}}),
            ),
            obj(
                json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"ns1"},
                "spec":{"template":{"spec":{"serviceAccountName":"sa",
                  "volumes":[{"name":"c","configMap":{"name":"cfg"}},{"name":"o","configMap":{"name":"other"}}],
                  "containers":[{"name":"x","envFrom":[{"configMapRef":{"name":"cfg"}}]}]}}}}),
            ),
            obj(
                json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r","namespace":"ns1"}}),
            ),
            obj(
                json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"rb","namespace":"ns1"},
                "roleRef":{"kind":"Role","name":"r"},"subjects":[{"kind":"ServiceAccount","name":"sa","namespace":"ns1"}]}),
            ),
            obj(
                json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"foos.ex.com"}}),
            ),
        ];
        let out = customize(
            &sync("namePrefix = \"pre-\"\nnameSuffix = \"-suf\""),
            objects,
        );
        let want: HashSet<String> = [
            "ns1",
            "pre-cfg-suf",
            "pre-sa-suf",
            "pre-web-suf",
            "pre-r-suf",
            "pre-rb-suf",
            "foos.ex.com",
        ]
        .map(String::from)
        .into();
        assert_eq!(names(&out), want);
        let spec = &out[3].data["spec"]["template"]["spec"];
        assert_eq!(spec["serviceAccountName"], "pre-sa-suf");
        assert_eq!(spec["volumes"][0]["configMap"]["name"], "pre-cfg-suf");
        assert_eq!(
            spec["volumes"][1]["configMap"]["name"], "other",
            "a reference outside the set stays"
        );
        assert_eq!(
            spec["containers"][0]["envFrom"][0]["configMapRef"]["name"],
            "pre-cfg-suf"
        );
        assert_eq!(out[5].data["roleRef"]["name"], "pre-r-suf");
        assert_eq!(out[5].data["subjects"][0]["name"], "pre-sa-suf");
    }

    #[test]
    fn common_metadata_overrides_metadata_only() {
        let objects = vec![obj(json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","labels":{"team":"old","app":"web"}},
            "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}}}}}))];
        let out = customize(
            &sync(
                "commonMetadata = { labels = { team = \"blue\" }, annotations = { owner = \"ops\" } }",
            ),
            objects,
        );
        let d = &out[0].data;
        assert_eq!(d["metadata"]["labels"]["team"], "blue");
        assert_eq!(d["metadata"]["labels"]["app"], "web");
        assert_eq!(d["metadata"]["annotations"]["owner"], "ops");
        assert_eq!(d["spec"]["selector"]["matchLabels"], json!({"app":"web"}));
        assert_eq!(
            d["spec"]["template"]["metadata"]["labels"],
            json!({"app":"web"})
        );
    }
}
