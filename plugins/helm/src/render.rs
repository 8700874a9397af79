//! Rendering a loaded chart as `helm template` (Helm's `install
//! --dry-run=client`) does: values processing, the template context of
//! every chart and subchart, one template set parsed in Helm's order, then
//! manifests split, hooks separated and sorted in Helm's install order.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::{Map as JMap, Value as J};

use crate::chart::{self, Chart, ChartError};
use crate::template::exec::{Exec, ExecError, Templates};
use crate::template::value::{Map, Obj, Value};

/// The Kubernetes version templates see when the host passes none (Helm
/// 4.2's default for offline rendering).
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// What to render with.
#[derive(Debug, Clone)]
pub struct Options {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// User values (already merged by the host), over the chart's defaults.
    pub values: JMap<String, J>,
    /// `.Capabilities.KubeVersion` (`v1.30.2`).
    pub kube_version: String,
    /// Extra `.Capabilities.APIVersions`, on top of the default set.
    pub api_versions: Vec<String>,
    /// `.Release.Revision`.
    pub revision: i64,
    /// `.Release.IsUpgrade` (and not `IsInstall`).
    pub is_upgrade: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            release_name: "release-name".into(),
            namespace: "default".into(),
            values: JMap::new(),
            kube_version: DEFAULT_KUBE_VERSION.into(),
            api_versions: Vec::new(),
            revision: 1,
            is_upgrade: false,
        }
    }
}

/// A render error.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Loading the chart or processing its values failed.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// A template failed to parse or execute.
    #[error(transparent)]
    Template(#[from] ExecError),
    /// A rendered document is not valid YAML.
    #[error("YAML parse error on {file}: {message}")]
    Manifest {
        /// The template file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// The values do not satisfy `values.schema.json`.
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    /// An option is malformed.
    #[error("option {name}: {message}")]
    Option {
        /// The option.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// One rendered document.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Template path (`chart/templates/x.yaml`) or CRD file path.
    pub source: String,
    /// The document text (trimmed).
    pub content: String,
    /// Its `kind`.
    pub kind: String,
    /// Parsed, for the host; `None` for a document without content.
    pub object: Option<J>,
}

/// A rendered chart, in Helm's order.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// CRDs from `crds/` (chart, then subcharts), one entry per file.
    pub crds: Vec<Manifest>,
    /// Ordinary manifests, in install order.
    pub manifests: Vec<Manifest>,
    /// Hooks (documents with a `helm.sh/hook` annotation), kind-sorted.
    pub hooks: Vec<Manifest>,
    /// The root chart's rendered `NOTES.txt` (not part of the output).
    pub notes: Option<String>,
}

impl Rendered {
    /// The text `helm template --include-crds` prints: CRDs, manifests,
    /// then hooks, each as `---\n# Source: PATH\nCONTENT\n`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for m in self.crds.iter().chain(&self.manifests).chain(&self.hooks) {
            out.push_str("---\n# Source: ");
            out.push_str(&m.source);
            out.push('\n');
            out.push_str(&m.content);
            out.push('\n');
        }
        out
    }
}

/// Helm's `InstallOrder`: kinds installed first come first; unknown kinds
/// go last, alphabetically.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The hook events Helm knows (`test-success` is the Helm 2 name of `test`).
pub const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

/// Stable sort by install order (Helm's `sortManifestsByKind`).
fn sort_by_kind(list: &mut [Manifest]) {
    list.sort_by(|a, b| match (kind_rank(&a.kind), kind_rank(&b.kind)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.kind.cmp(&b.kind),
    });
}

/// Renders `chart` with `opts`.
///
/// # Errors
/// Values that do not coalesce or fail the schema, template errors, and
/// rendered documents that are not YAML.
pub fn render(mut chart: Chart, opts: &Options) -> Result<Rendered, RenderError> {
    chart::process_dependencies(&mut chart, &opts.values)?;
    let values = chart::coalesce_values(&chart, &opts.values, false)?;
    crate::schema::validate_chart(&chart, &values).map_err(RenderError::Schema)?;

    let release = {
        let mut m = Map::new();
        m.insert("Name".into(), Value::str(opts.release_name.as_str()));
        m.insert("Namespace".into(), Value::str(opts.namespace.as_str()));
        m.insert("IsInstall".into(), Value::Bool(!opts.is_upgrade));
        m.insert("IsUpgrade".into(), Value::Bool(opts.is_upgrade));
        m.insert("Revision".into(), Value::Int(opts.revision));
        m.insert("Service".into(), Value::str("Helm"));
        Value::map(m)
    };
    let capabilities = capabilities(opts)?;
    let root_values = Value::from_json(&J::Object(values));
    crate::template::value::clear_values_marks();
    crate::template::value::mark_values(&root_values);

    // Every template with its context, keyed by its full name.
    let mut tpls: BTreeMap<String, Renderable> = BTreeMap::new();
    let root_name = chart.name().to_string();
    contexts(
        &chart,
        &root_name,
        true,
        &root_values,
        &release,
        &capabilities,
        &mut tpls,
    );

    // Parse in Helm's order: deeper paths first, then reverse alphabetical,
    // so a parent's `define` parsed last wins over a subchart's.
    let mut keys: Vec<&String> = tpls.keys().collect();
    keys.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
    let mut set = Templates::new();
    for k in &keys {
        set.add_file(k, &tpls[*k].src).map_err(ExecError::from)?;
    }
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    {
        let mut ex = Exec::new(&set);
        for k in &keys {
            let base = k.rsplit('/').next().unwrap_or(k);
            if base.starts_with('_') {
                continue;
            }
            let r = &tpls[*k];
            if let Value::Map(ctx) = &r.ctx {
                let mut t = Map::new();
                t.insert("Name".into(), Value::str(k.as_str()));
                t.insert("BasePath".into(), Value::str(r.base_path.as_str()));
                ctx.borrow_mut().insert("Template".into(), Value::map(t));
            }
            let out = ex.execute(k, &r.ctx)?;
            outputs.insert((*k).clone(), crate::template::value::strip_no_value(out));
        }
    }

    let mut rendered = Rendered::default();
    let notes_name = format!("{root_name}/templates/NOTES.txt");
    outputs.retain(|k, v| {
        if k.ends_with("NOTES.txt") {
            if *k == notes_name {
                rendered.notes = Some(v.clone());
            }
            return false;
        }
        true
    });
    for (file, content) in &outputs {
        if content.trim().is_empty() {
            continue;
        }
        for doc in crate::yaml::split_manifests(content) {
            let object =
                crate::yaml::parse_json(&doc).map_err(|message| RenderError::Manifest {
                    file: file.clone(),
                    message,
                })?;
            let kind = object
                .get("kind")
                .and_then(J::as_str)
                .unwrap_or("")
                .to_string();
            let hook = object
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get("helm.sh/hook"))
                .map(|h| h.as_str().unwrap_or(""));
            if let Some(events) = hook {
                // A hook naming an event Helm does not know is dropped.
                let known = events
                    .split(',')
                    .all(|e| HOOK_EVENTS.contains(&e.trim().to_lowercase().as_str()));
                if !known {
                    continue;
                }
            }
            let hook = hook.is_some();
            let m = Manifest {
                source: file.clone(),
                content: doc,
                kind,
                object: if object.is_null() { None } else { Some(object) },
            };
            if hook {
                rendered.hooks.push(m);
            } else {
                rendered.manifests.push(m);
            }
        }
    }
    sort_by_kind(&mut rendered.manifests);
    sort_by_kind(&mut rendered.hooks);
    for (source, data) in chart.crds(&root_name) {
        let content = String::from_utf8_lossy(&data).into_owned();
        rendered.crds.push(Manifest {
            source,
            content,
            kind: "CustomResourceDefinition".into(),
            object: None,
        });
    }
    Ok(rendered)
}

struct Renderable {
    src: Rc<str>,
    ctx: Value,
    base_path: String,
}

/// Helm's `recAllTpls`: the context of `c` (its `.Chart`, `.Files`,
/// `.Values` scoped to it, `.Subcharts`), and its templates with it.
fn contexts(
    c: &Chart,
    full: &str,
    root: bool,
    parent_values: &Value,
    release: &Value,
    caps: &Value,
    out: &mut BTreeMap<String, Renderable>,
) -> Value {
    let values = if root {
        parent_values.clone()
    } else {
        match parent_values {
            Value::Map(m) => match m.borrow().get(c.name()) {
                Some(v @ Value::Map(_)) => v.clone(),
                _ => Value::map(Map::new()),
            },
            _ => Value::map(Map::new()),
        }
    };
    crate::template::value::mark_values(&values);
    let subcharts = Value::map(Map::new());
    let mut ctx = Map::new();
    ctx.insert("Chart".into(), chart_object(c, root));
    ctx.insert(
        "Files".into(),
        Value::Obj(Rc::new(Obj::Files(c.files.clone()))),
    );
    ctx.insert("Release".into(), release.clone());
    ctx.insert("Capabilities".into(), caps.clone());
    ctx.insert("Values".into(), values.clone());
    ctx.insert("Subcharts".into(), subcharts.clone());
    let ctx = Value::map(ctx);
    for d in &c.deps {
        let sub_full = format!("{full}/charts/{}", d.name());
        let sub_ctx = contexts(d, &sub_full, false, &values, release, caps, out);
        if let Value::Map(s) = &subcharts {
            s.borrow_mut().insert(d.name().to_string(), sub_ctx);
        }
    }
    for (path, src) in &c.templates {
        // Library charts contribute only their partials.
        let base = path.rsplit('/').next().unwrap_or(path);
        if c.is_library() && !base.starts_with('_') {
            continue;
        }
        out.insert(
            format!("{full}/{path}"),
            Renderable {
                src: src.clone(),
                ctx: ctx.clone(),
                base_path: format!("{full}/templates"),
            },
        );
    }
    ctx
}

/// `.Chart`: Chart.yaml with Helm's Go field names, plus `IsRoot`.
fn chart_object(c: &Chart, root: bool) -> Value {
    let md = &c.metadata;
    let st = |k: &str| -> Value {
        Value::str(match md.get(k) {
            Some(J::String(s)) => s.clone(),
            Some(J::Null) | None => String::new(),
            Some(other) => other.to_string(),
        })
    };
    let strs = |k: &str| -> Value {
        Value::list(
            md.get(k)
                .and_then(J::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| Value::str(x.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    let mut m = Map::new();
    m.insert("APIVersion".into(), st("apiVersion"));
    let mut ann = Map::new();
    if let Some(J::Object(a)) = md.get("annotations") {
        for (k, v) in a {
            ann.insert(
                k.clone(),
                Value::str(
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string()),
                ),
            );
        }
    }
    m.insert("Annotations".into(), Value::map(ann));
    m.insert("AppVersion".into(), st("appVersion"));
    m.insert("Condition".into(), st("condition"));
    let deps: Vec<Value> = md
        .get("dependencies")
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(J::as_object)
                .map(|d| {
                    let g = |k: &str| Value::str(d.get(k).and_then(J::as_str).unwrap_or(""));
                    let mut dm = Map::new();
                    dm.insert("Name".into(), g("name"));
                    dm.insert("Version".into(), g("version"));
                    dm.insert("Repository".into(), g("repository"));
                    dm.insert("Condition".into(), g("condition"));
                    dm.insert(
                        "Tags".into(),
                        Value::list(
                            d.get("tags")
                                .and_then(J::as_array)
                                .map(|t| {
                                    t.iter()
                                        .map(|x| Value::str(x.as_str().unwrap_or("")))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        ),
                    );
                    dm.insert("Enabled".into(), Value::Bool(true));
                    dm.insert(
                        "ImportValues".into(),
                        Value::from_json(d.get("import-values").unwrap_or(&J::Null)),
                    );
                    dm.insert("Alias".into(), g("alias"));
                    Value::map(dm)
                })
                .collect()
        })
        .unwrap_or_default();
    m.insert("Dependencies".into(), Value::list(deps));
    m.insert(
        "Deprecated".into(),
        Value::Bool(md.get("deprecated").and_then(J::as_bool).unwrap_or(false)),
    );
    m.insert("Description".into(), st("description"));
    m.insert("Home".into(), st("home"));
    m.insert("Icon".into(), st("icon"));
    m.insert("IsRoot".into(), Value::Bool(root));
    m.insert("Keywords".into(), strs("keywords"));
    m.insert("KubeVersion".into(), st("kubeVersion"));
    let maint: Vec<Value> = md
        .get("maintainers")
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(J::as_object)
                .map(|d| {
                    let g = |k: &str| Value::str(d.get(k).and_then(J::as_str).unwrap_or(""));
                    let mut dm = Map::new();
                    dm.insert("Name".into(), g("name"));
                    dm.insert("Email".into(), g("email"));
                    dm.insert("URL".into(), g("url"));
                    Value::map(dm)
                })
                .collect()
        })
        .unwrap_or_default();
    m.insert("Maintainers".into(), Value::list(maint));
    m.insert("Name".into(), st("name"));
    m.insert("Sources".into(), strs("sources"));
    m.insert("Tags".into(), st("tags"));
    m.insert("Type".into(), st("type"));
    m.insert("Version".into(), st("version"));
    Value::map(m)
}

/// `.Capabilities` for `opts`: the Kubernetes version given (or the
/// default) and the default API versions plus those given.
fn capabilities(opts: &Options) -> Result<Value, RenderError> {
    let kv = opts.kube_version.trim();
    let kv = if kv.starts_with('v') {
        kv.to_string()
    } else {
        format!("v{kv}")
    };
    let parsed = crate::funcs::parse_version(&kv).map_err(|message| RenderError::Option {
        name: "kubeVersion".into(),
        message: format!("{kv:?}: {message}"),
    })?;
    let mut apis: Vec<String> =
        serde_json::from_str(include_str!("default-api-versions.json")).unwrap_or_default();
    for a in &opts.api_versions {
        if !apis.contains(a) {
            apis.push(a.clone());
        }
    }
    let mut helm = Map::new();
    helm.insert("Version".into(), Value::str("v4.2"));
    helm.insert("GitCommit".into(), Value::str(""));
    helm.insert("GitTreeState".into(), Value::str(""));
    helm.insert("GoVersion".into(), Value::str("go1.26.6"));
    helm.insert("KubeClientVersion".into(), Value::str("v1.36"));
    Ok(Value::Obj(Rc::new(Obj::Capabilities {
        kube_version: Value::Obj(Rc::new(Obj::KubeVersion {
            version: kv,
            major: parsed.0.to_string(),
            minor: parsed.1.to_string(),
        })),
        api_versions: Value::Obj(Rc::new(Obj::ApiVersions(apis))),
        helm_version: Value::map(helm),
    })))
}
