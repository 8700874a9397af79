//! Field specifications: which fields of which kinds a transformer touches
//! (kustomize's built-in `commonLabels`, `commonAnnotations`, `images`,
//! `nameReference`, … configurations), and how to walk them.
//!
//! A path is `/`-separated; a sequence met on the way is walked element by
//! element (with or without a `[]` suffix on the segment), as kustomize does.

use crate::resource::Gvk;
use crate::yaml::{Map, Node};
use std::borrow::Cow;

/// Which resources a field spec applies to; empty parts match anything.
/// Built-in specs borrow static strings; those read from `configurations`
/// or `labels[].fields` own theirs.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// API group.
    pub group: Cow<'static, str>,
    /// Kind.
    pub kind: Cow<'static, str>,
    /// The path.
    pub path: Cow<'static, str>,
    /// Whether to create the field when missing.
    pub create: bool,
}

impl FieldSpec {
    /// Whether this spec applies to `gvk`.
    pub fn applies(&self, gvk: &Gvk) -> bool {
        (self.group.is_empty() || *self.group == *gvk.group)
            && (self.kind.is_empty() || *self.kind == *gvk.kind)
    }

    /// A spec with owned strings.
    pub fn owned(group: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            group: Cow::Owned(group.to_string()),
            kind: Cow::Owned(kind.to_string()),
            path: Cow::Owned(path.to_string()),
            create,
        }
    }
}

const fn fs(
    group: &'static str,
    kind: &'static str,
    path: &'static str,
    create: bool,
) -> FieldSpec {
    FieldSpec {
        group: Cow::Borrowed(group),
        kind: Cow::Borrowed(kind),
        path: Cow::Borrowed(path),
        create,
    }
}

/// Where `commonLabels` (and `labels` with `includeSelectors`) go.
pub const COMMON_LABELS: &[FieldSpec] = &[
    fs("", "", "metadata/labels", true),
    fs("", "Service", "spec/selector", true),
    fs("", "ReplicationController", "spec/selector", true),
    fs(
        "",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    fs("", "Deployment", "spec/selector/matchLabels", true),
    fs("", "Deployment", "spec/template/metadata/labels", true),
    fs(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "Deployment",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "Deployment",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    fs("", "ReplicaSet", "spec/selector/matchLabels", true),
    fs("", "ReplicaSet", "spec/template/metadata/labels", true),
    fs("", "DaemonSet", "spec/selector/matchLabels", true),
    fs("", "DaemonSet", "spec/template/metadata/labels", true),
    fs("apps", "StatefulSet", "spec/selector/matchLabels", true),
    fs("apps", "StatefulSet", "spec/template/metadata/labels", true),
    fs(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "StatefulSet",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "StatefulSet",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    fs(
        "apps",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    fs("batch", "Job", "spec/selector/matchLabels", false),
    fs("batch", "Job", "spec/template/metadata/labels", true),
    fs(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    fs("batch", "CronJob", "spec/jobTemplate/metadata/labels", true),
    fs(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
    fs(
        "policy",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    fs(
        "networking.k8s.io",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    fs(
        "networking.k8s.io",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    fs(
        "networking.k8s.io",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

/// Where `labels` with `includeTemplates` (and no selectors) go, besides
/// `metadata/labels`.
pub const TEMPLATE_LABELS: &[FieldSpec] = &[
    fs(
        "",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    fs("", "Deployment", "spec/template/metadata/labels", true),
    fs("", "ReplicaSet", "spec/template/metadata/labels", true),
    fs("", "DaemonSet", "spec/template/metadata/labels", true),
    fs("apps", "StatefulSet", "spec/template/metadata/labels", true),
    fs(
        "apps",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    fs("batch", "Job", "spec/template/metadata/labels", true),
    fs("batch", "CronJob", "spec/jobTemplate/metadata/labels", true),
    fs(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Where `commonAnnotations` go.
pub const COMMON_ANNOTATIONS: &[FieldSpec] = &[
    fs("", "", "metadata/annotations", true),
    fs(
        "",
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    fs("", "Deployment", "spec/template/metadata/annotations", true),
    fs("", "ReplicaSet", "spec/template/metadata/annotations", true),
    fs("", "DaemonSet", "spec/template/metadata/annotations", true),
    fs(
        "apps",
        "StatefulSet",
        "spec/template/metadata/annotations",
        true,
    ),
    fs("batch", "Job", "spec/template/metadata/annotations", true),
    fs(
        "batch",
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    fs(
        "batch",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// Where `replicas` go.
pub const REPLICAS: &[FieldSpec] = &[
    fs("", "Deployment", "spec/replicas", true),
    fs("", "ReplicationController", "spec/replicas", true),
    fs("", "ReplicaSet", "spec/replicas", true),
    fs("apps", "StatefulSet", "spec/replicas", true),
];

/// Kinds that are not namespaced (kustomize's built-in schema).
pub fn is_cluster_scoped(gvk: &Gvk) -> bool {
    matches!(
        gvk.kind.as_str(),
        "Namespace"
            | "Node"
            | "PersistentVolume"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "StorageClass"
            | "PriorityClass"
            | "APIService"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "CSIDriver"
            | "CSINode"
            | "VolumeAttachment"
            | "RuntimeClass"
            | "PodSecurityPolicy"
            | "CertificateSigningRequest"
            | "ComponentStatus"
            | "IngressClass"
            | "FlowSchema"
            | "PriorityLevelConfiguration"
            | "TokenReview"
            | "SelfSubjectAccessReview"
            | "SelfSubjectRulesReview"
            | "SubjectAccessReview"
            | "ClusterTrustBundle"
    ) && (gvk.kind != "APIService" || gvk.group == "apiregistration.k8s.io")
}

/// Walks `path` below `node`, calling `f` on each node found at its end.
/// With `create`, missing mappings along the way (not through sequences)
/// and the end itself are created with `make`.
pub fn walk(
    node: &mut Node,
    path: &[&str],
    create: Option<&dyn Fn() -> Node>,
    f: &mut dyn FnMut(&mut Node),
) {
    if let Node::Seq(items) = node {
        for item in items {
            walk(item, path, create, f);
        }
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        f(node);
        return;
    };
    let key = first.trim_end_matches("[]");
    let Node::Map(m) = node else { return };
    if m.get(key).is_none_or(Node::is_null) {
        let Some(make) = create else { return };
        let fresh = if rest.is_empty() {
            make()
        } else {
            Node::Map(Map::new())
        };
        m.insert(key, fresh);
    }
    if let Some(child) = m.get_mut(key) {
        walk(child, rest, create, f);
    }
}

/// Splits a field spec path on `/`, keeping escaped `\/` inside keys.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'/') {
            if let Some(last) = out.last_mut() {
                last.push('/');
            }
            chars.next();
        } else if c == '/' {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}
