//! Server-side apply, the way a careful operator would do it by hand.
//!
//! 1. Resolve every object's kind (discovery, or a CRD in the same set) and
//!    settle namespaces; refuse unknown kinds, duplicates and missing
//!    namespaces before anything is written.
//! 2. Plan: for every object that can be checked now, a server-side dry-run
//!    apply and a comparison with the live object decide `created`,
//!    `configured` or `unchanged`; any refusal fails the whole set, still
//!    before the first write.
//! 3. Apply in stages — CRDs, Namespaces and ClusterRoles first (waiting
//!    until the CRDs are established), then `*Class` kinds, then the rest —
//!    writing only objects that drifted.
//!
//! Prune deletes `old − new` from the inventory, and only objects labelled
//! as owned by the sync.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Client, Config};
use serde_json::Value;

use crate::object::{Object, ObjectKey};
use crate::status::Action;
use crate::{FIELD_MANAGER, FLUX_PRUNE_ANNOTATION, OWNER_LABEL, PRUNE_ANNOTATION};

/// How many API requests one apply keeps in flight.
const CONCURRENCY: usize = 8;

/// Why an apply or prune failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    /// The set is invalid for this cluster (unknown kind, duplicate object,
    /// missing namespace, an object the API server refuses in a dry run).
    /// Nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The API server refused a write during the staged apply.
    #[error("{0}")]
    Refused(String),
    /// The API server could not be reached or failed; a retry may help.
    #[error("{0}")]
    Unavailable(String),
}

impl ApplyError {
    /// Whether a retry may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApplyError::Unavailable(_))
    }
}

/// An apply that failed, with what it wrote before failing (so that the
/// inventory never forgets an object that exists).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct ApplyFailure {
    /// Why it failed.
    pub error: ApplyError,
    /// Objects created or updated before the failure.
    pub written: Vec<ObjectKey>,
}

/// Connecting to the cluster failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot load kubeconfig{}: {message}", path.as_deref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct ConnectError {
    /// The kubeconfig, when one was given.
    pub path: Option<std::path::PathBuf>,
    /// What went wrong.
    pub message: String,
}

#[derive(Debug, Clone)]
struct Resolved {
    ar: ApiResource,
    namespaced: bool,
}

/// A connection to one cluster, with a cache of resolved kinds.
pub struct Cluster {
    client: Client,
    kinds: Mutex<HashMap<(String, String, String), Resolved>>,
}

/// The outcome of applying a set.
#[derive(Debug, Clone, Default)]
pub struct ApplyOutcome {
    /// Every object with what happened to it, in apply order.
    pub changes: Vec<(ObjectKey, Action)>,
}

/// The outcome of a prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOutcome {
    /// What happened to each stale object that still existed.
    pub changes: Vec<(ObjectKey, Action)>,
    /// Stale objects that must stay in the inventory: deletion failed or is
    /// not confirmed yet.
    pub remaining: Vec<ObjectKey>,
    /// Deletions that failed, one message per object.
    pub errors: Vec<String>,
}

/// Per-object plan from the dry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Create,
    Update,
    Unchanged,
}

impl Cluster {
    /// Connects with a kubeconfig file, or the usual inference (`$KUBECONFIG`,
    /// `~/.kube/config`, in-cluster) when none is given. Does not contact the
    /// server yet.
    ///
    /// # Errors
    /// The kubeconfig is missing or invalid.
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Self, ConnectError> {
        let err = |message: String| ConnectError {
            path: kubeconfig.map(Path::to_path_buf),
            message,
        };
        let config = match kubeconfig {
            Some(p) => {
                let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| err(e.to_string()))?;
                Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| err(e.to_string()))?
            }
            None => Config::infer().await.map_err(|e| err(e.to_string()))?,
        };
        let client = Client::try_from(config).map_err(|e| err(e.to_string()))?;
        Ok(Cluster {
            client,
            kinds: Mutex::new(HashMap::new()),
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Resolves a kind; `Ok(None)` when the cluster does not serve it.
    async fn resolve(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Option<Resolved>, ApplyError> {
        let key = (group.to_owned(), version.to_owned(), kind.to_owned());
        if let Some(r) = self.lock_kinds().get(&key) {
            return Ok(Some(r.clone()));
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((ar, caps)) => {
                let r = Resolved {
                    ar,
                    namespaced: caps.scope == Scope::Namespaced,
                };
                self.lock_kinds().insert(key, r.clone());
                Ok(Some(r))
            }
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Whether the cluster serves a kind, and if so whether it is
    /// namespaced: `Ok(None)` when it is not served.
    ///
    /// # Errors
    /// [`ApplyError::Unavailable`] when the API server cannot be reached.
    pub async fn kind_scope(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Option<bool>, ApplyError> {
        Ok(self
            .resolve(group, version, kind)
            .await?
            .map(|r| r.namespaced))
    }

    /// The live object `key` names, as JSON: `Ok(None)` when it does not
    /// exist or the cluster does not serve its kind.
    ///
    /// # Errors
    /// [`ApplyError::Unavailable`] when the API server cannot be reached or
    /// fails; [`ApplyError::Refused`] when it refuses the read (e.g. RBAC).
    pub async fn get_live(&self, key: &ObjectKey) -> Result<Option<Value>, ApplyError> {
        let Some(r) = self.resolve(&key.group, &key.version, &key.kind).await? else {
            return Ok(None);
        };
        let api = self.api(&r, key.namespace.as_deref());
        match api.get_opt(&key.name).await {
            Ok(Some(live)) => Ok(Some(serde_json::to_value(&live).unwrap_or(Value::Null))),
            Ok(None) => Ok(None),
            Err(e) if is_transient(&e) => Err(unavailable(&e)),
            Err(e) => Err(ApplyError::Refused(format!(
                "cannot read {key}: {}",
                api_message(&e)
            ))),
        }
    }

    fn lock_kinds(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), Resolved>> {
        // A poisoned cache is still a valid cache: entries are inserted whole.
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn api(&self, r: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if r.namespaced => Api::namespaced_with(self.client.clone(), ns, &r.ar),
            _ => Api::all_with(self.client.clone(), &r.ar),
        }
    }

    /// Validates and applies `objects` for the sync `owner`. Namespaced
    /// objects without a namespace get `target_namespace`, or `default`; with
    /// `target_namespace` set, it overrides every namespaced object's
    /// namespace, as Flux's `targetNamespace` does.
    ///
    /// # Errors
    /// An [`ApplyFailure`]: [`ApplyError::Invalid`] (nothing written) when
    /// any object cannot be applied; [`ApplyError::Refused`] when a write
    /// fails mid-way; [`ApplyError::Unavailable`] when the API server cannot
    /// be reached. It lists the objects written before the failure.
    pub async fn apply(
        &self,
        objects: Vec<Object>,
        owner: &str,
        target_namespace: Option<&str>,
    ) -> Result<ApplyOutcome, ApplyFailure> {
        let mut written = Vec::new();
        self.apply_staged(objects, owner, target_namespace, &mut written)
            .await
            .map_err(|error| ApplyFailure { error, written })
    }

    async fn apply_staged(
        &self,
        mut objects: Vec<Object>,
        owner: &str,
        target_namespace: Option<&str>,
        written: &mut Vec<ObjectKey>,
    ) -> Result<ApplyOutcome, ApplyError> {
        // 1. Resolve kinds. Kinds defined by CRDs in this set may not be
        // served yet; they are resolved after stage 1.
        let crd_kinds = crd_kinds(&objects);
        let mut problems = Vec::new();
        let mut resolved: Vec<Option<Resolved>> = Vec::with_capacity(objects.len());
        let mut gvks: BTreeMap<(String, String, String), Option<Resolved>> = BTreeMap::new();
        for o in &objects {
            let (g, v) = o.group_version();
            gvks.entry((g.to_owned(), v.to_owned(), o.kind().to_owned()))
                .or_insert(None);
        }
        for ((g, v, k), slot) in &mut gvks {
            *slot = self.resolve(g, v, k).await?;
        }
        for o in &mut objects {
            let (g, v) = o.group_version();
            let gvk = (g.to_owned(), v.to_owned(), o.kind().to_owned());
            let r = gvks.get(&gvk).cloned().flatten();
            let namespaced = match (&r, crd_kinds.get(&gvk)) {
                (Some(r), _) => r.namespaced,
                (None, Some(namespaced)) => *namespaced,
                (None, None) => {
                    problems.push(format!(
                        "{}: unknown kind {:?} in apiVersion {:?} for {}: the cluster does not serve it and no CustomResourceDefinition in this sync defines it",
                        o.origin,
                        o.kind(),
                        o.api_version(),
                        o.key()
                    ));
                    resolved.push(None);
                    continue;
                }
            };
            settle(o, namespaced, owner, target_namespace);
            resolved.push(r);
        }

        // Duplicates would make the result depend on order.
        let mut seen: HashMap<String, &str> = HashMap::new();
        for o in &objects {
            if let Some(first) = seen.insert(o.key().id(), &o.origin) {
                problems.push(format!(
                    "{} is declared twice: in {first} and in {}",
                    o.key(),
                    o.origin
                ));
            }
        }

        // Namespaces must exist or be part of the set.
        let in_set: BTreeSet<&str> = objects
            .iter()
            .filter(|o| o.kind() == "Namespace" && o.group_version().0.is_empty())
            .map(Object::name)
            .collect();
        let referenced: BTreeSet<String> = objects
            .iter()
            .filter_map(|o| o.namespace().map(str::to_owned))
            .collect();
        let mut existing_ns = BTreeSet::new();
        if let Some(ns_res) = self.resolve("", "v1", "Namespace").await? {
            let api = self.api(&ns_res, None);
            for ns in &referenced {
                match api.get_opt(ns).await {
                    Ok(Some(_)) => {
                        existing_ns.insert(ns.clone());
                    }
                    Ok(None) => {}
                    Err(e) => return Err(unavailable(&e)),
                }
            }
        }
        for ns in referenced
            .iter()
            .filter(|ns| !existing_ns.contains(*ns) && !in_set.contains(ns.as_str()))
        {
            let users: Vec<String> = objects
                .iter()
                .filter(|o| o.namespace() == Some(ns.as_str()))
                .map(|o| o.key().to_string())
                .collect();
            problems.push(format!(
                "namespace {ns:?} does not exist and this sync does not create it (needed by {})",
                users.join(", ")
            ));
        }
        if !problems.is_empty() {
            return Err(ApplyError::Invalid(problems.join("; ")));
        }

        // 2. Plan everything that can be checked now: the kind is served and
        // the namespace exists.
        let checkable: Vec<usize> = (0..objects.len())
            .filter(|&i| {
                resolved[i].is_some()
                    && objects[i]
                        .namespace()
                        .is_none_or(|ns| existing_ns.contains(ns))
            })
            .collect();
        let mut plans: Vec<Option<Plan>> = vec![None; objects.len()];
        let results = self.plan_many(&objects, &resolved, &checkable, owner).await;
        let mut failures = Vec::new();
        for (i, r) in results {
            match r {
                Ok(p) => plans[i] = Some(p),
                Err(PlanError::Unavailable(e)) => return Err(e),
                Err(PlanError::Refused(m)) => failures.push(m),
            }
        }
        if !failures.is_empty() {
            return Err(ApplyError::Invalid(failures.join("; ")));
        }

        // 3. Staged apply.
        let mut order: Vec<usize> = (0..objects.len()).collect();
        order.sort_by_key(|&i| (stage_of(&objects[i]), objects[i].key()));
        let mut outcome = ApplyOutcome::default();
        for stage in 0..3 {
            let members: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| stage_of(&objects[i]) == stage)
                .collect();
            if members.is_empty() {
                continue;
            }
            // Objects whose kind came from a CRD of stage 0, or whose
            // namespace was created in stage 0, are planned now.
            let mut late = Vec::new();
            for &i in &members {
                if resolved[i].is_none() {
                    let (g, v) = objects[i].group_version();
                    let (g, v, k) = (g.to_owned(), v.to_owned(), objects[i].kind().to_owned());
                    resolved[i] = self.resolve_when_served(&g, &v, &k).await?;
                    if resolved[i].is_none() {
                        return Err(ApplyError::Refused(format!(
                            "{}: kind {k:?} in apiVersion {:?} is still not served after its CustomResourceDefinition was applied; check the CRD's group, versions and served flags",
                            objects[i].origin,
                            objects[i].api_version()
                        )));
                    }
                }
                if plans[i].is_none() {
                    late.push(i);
                }
            }
            for (i, r) in self.plan_many(&objects, &resolved, &late, owner).await {
                match r {
                    Ok(p) => plans[i] = Some(p),
                    Err(PlanError::Unavailable(e)) => return Err(e),
                    Err(PlanError::Refused(m)) => return Err(ApplyError::Refused(m)),
                }
            }
            let writes: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| plans[i] != Some(Plan::Unchanged))
                .collect();
            let results = futures::stream::iter(writes.iter().copied().map(|i| {
                let r = resolved[i].clone();
                let o = &objects[i];
                async move {
                    let r = r.ok_or_else(|| {
                        ApplyError::Refused(format!("{}: kind not resolved", o.key()))
                    })?;
                    self.ssa(&r, o, owner, false)
                        .await
                        .map(|_| i)
                        .map_err(|e| match e {
                            PlanError::Unavailable(e) => e,
                            PlanError::Refused(m) => ApplyError::Refused(m),
                        })
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
            let mut first_error = None;
            for r in results {
                match r {
                    Ok(i) => written.push(objects[i].key()),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            if stage == 0 {
                self.wait_established(&objects, &members).await?;
            }
            for &i in &members {
                let action = match plans[i] {
                    Some(Plan::Create) => Action::Created,
                    Some(Plan::Update) => Action::Configured,
                    _ => Action::Unchanged,
                };
                outcome.changes.push((objects[i].key(), action));
            }
        }
        Ok(outcome)
    }

    async fn plan_many(
        &self,
        objects: &[Object],
        resolved: &[Option<Resolved>],
        which: &[usize],
        owner: &str,
    ) -> Vec<(usize, Result<Plan, PlanError>)> {
        futures::stream::iter(which.iter().copied().map(|i| {
            let r = resolved[i].clone();
            let o = &objects[i];
            async move {
                let res = match r {
                    Some(r) => self.plan(&r, o, owner).await,
                    None => Err(PlanError::Refused(format!(
                        "{}: kind not resolved",
                        o.key()
                    ))),
                };
                (i, res)
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
    }

    /// Dry-run apply and compare with the live object.
    async fn plan(&self, r: &Resolved, o: &Object, owner: &str) -> Result<Plan, PlanError> {
        let api = self.api(r, o.namespace());
        let live = api.get_opt(o.name()).await.map_err(|e| {
            if is_transient(&e) {
                PlanError::Unavailable(unavailable(&e))
            } else {
                PlanError::Refused(refusal(o, &e))
            }
        })?;
        let dry = self.ssa(r, o, owner, true).await?;
        let Some(live) = live else {
            return Ok(Plan::Create);
        };
        let live = serde_json::to_value(&live).unwrap_or(Value::Null);
        let dry = serde_json::to_value(&dry).unwrap_or(Value::Null);
        Ok(if drifted(&live, &dry) {
            Plan::Update
        } else {
            Plan::Unchanged
        })
    }

    async fn ssa(
        &self,
        r: &Resolved,
        o: &Object,
        _owner: &str,
        dry_run: bool,
    ) -> Result<DynamicObject, PlanError> {
        let api = self.api(r, o.namespace());
        let params = PatchParams {
            dry_run,
            force: true,
            field_manager: Some(FIELD_MANAGER.to_owned()),
            field_validation: None,
        };
        api.patch(o.name(), &params, &Patch::Apply(&o.data))
            .await
            .map_err(|e| {
                if is_transient(&e) {
                    PlanError::Unavailable(unavailable(&e))
                } else {
                    PlanError::Refused(refusal(o, &e))
                }
            })
    }

    /// After a CRD is applied its kinds take a moment to be served.
    async fn resolve_when_served(
        &self,
        g: &str,
        v: &str,
        k: &str,
    ) -> Result<Option<Resolved>, ApplyError> {
        for _ in 0..60 {
            if let Some(r) = self.resolve(g, v, k).await? {
                return Ok(Some(r));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(None)
    }

    /// Waits until every CRD among `members` reports `Established`.
    async fn wait_established(
        &self,
        objects: &[Object],
        members: &[usize],
    ) -> Result<(), ApplyError> {
        let Some(crd_res) = self
            .resolve("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
            .await?
        else {
            return Ok(());
        };
        let api = self.api(&crd_res, None);
        for &i in members {
            let o = &objects[i];
            if o.kind() != "CustomResourceDefinition" {
                continue;
            }
            let mut established = false;
            for _ in 0..120 {
                let live = api.get_opt(o.name()).await.map_err(|e| unavailable(&e))?;
                let conds = live
                    .as_ref()
                    .and_then(|l| l.data.get("status"))
                    .and_then(|s| s.get("conditions"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if conds.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Established")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                }) {
                    established = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if !established {
                return Err(ApplyError::Refused(format!(
                    "{}: CustomResourceDefinition {} did not become Established within 30s",
                    o.origin,
                    o.name()
                )));
            }
        }
        Ok(())
    }

    /// Deletes `stale` objects that `owner` owns. Objects that are gone are
    /// dropped; objects not owned or with prune disabled are skipped and
    /// dropped from the inventory; failed or unconfirmed deletions remain.
    ///
    /// # Errors
    /// Only when the API server is unavailable; per-object failures are in
    /// [`PruneOutcome::errors`].
    pub async fn prune(
        &self,
        stale: &[ObjectKey],
        owner: &str,
    ) -> Result<PruneOutcome, ApplyError> {
        let mut out = PruneOutcome::default();
        for k in stale {
            let Some(r) = self.resolve(&k.group, &k.version, &k.kind).await? else {
                continue; // the kind is gone, and with it the object
            };
            let api = self.api(&r, k.namespace.as_deref());
            let live = match api.get_opt(&k.name).await {
                Ok(Some(l)) => l,
                Ok(None) => continue,
                Err(e) if is_transient(&e) => return Err(unavailable(&e)),
                Err(e) => {
                    out.errors.push(format!("{k}: {}", api_message(&e)));
                    out.remaining.push(k.clone());
                    continue;
                }
            };
            let labels = live.metadata.labels.clone().unwrap_or_default();
            let annotations = live.metadata.annotations.clone().unwrap_or_default();
            let disabled = [PRUNE_ANNOTATION, FLUX_PRUNE_ANNOTATION].iter().any(|a| {
                annotations
                    .get(*a)
                    .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
            });
            if labels.get(OWNER_LABEL).map(String::as_str) != Some(owner) || disabled {
                out.changes.push((k.clone(), Action::Skipped));
                continue;
            }
            if live.metadata.deletion_timestamp.is_some() {
                // Deletion already requested; keep it until it is gone.
                out.remaining.push(k.clone());
                out.changes.push((k.clone(), Action::Deleted));
                continue;
            }
            match api.delete(&k.name, &DeleteParams::background()).await {
                Ok(_) => {
                    out.changes.push((k.clone(), Action::Deleted));
                    if matches!(api.get_opt(&k.name).await, Ok(Some(_))) {
                        out.remaining.push(k.clone());
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) if is_transient(&e) => return Err(unavailable(&e)),
                Err(e) => {
                    out.errors.push(format!("{k}: {}", api_message(&e)));
                    out.remaining.push(k.clone());
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug)]
enum PlanError {
    Unavailable(ApplyError),
    Refused(String),
}

/// Settles an object for applying: namespaced objects get `target_namespace`
/// (which overrides, as Flux's `targetNamespace` does), else their own, else
/// `default`; cluster-scoped objects lose any namespace; every object gets
/// the owner label. `weir build` and apply share it, so what `build` prints
/// is what apply sends.
pub fn settle(o: &mut Object, namespaced: bool, owner: &str, target_namespace: Option<&str>) {
    if namespaced {
        let ns = target_namespace
            .map(str::to_owned)
            .or_else(|| o.namespace().map(str::to_owned))
            .unwrap_or_else(|| "default".to_owned());
        o.set_namespace(Some(&ns));
    } else {
        o.set_namespace(None);
    }
    o.set_label(OWNER_LABEL, owner);
}

/// Whether a kind is namespaced, answered without a cluster: built-in
/// cluster-scoped kinds and kinds of CRDs in `objects` are known; anything
/// else is assumed namespaced. Used by `weir build`.
pub fn offline_namespaced(objects: &[Object], o: &Object) -> bool {
    let (g, v) = o.group_version();
    if let Some(n) = crd_kinds(objects).get(&(g.to_owned(), v.to_owned(), o.kind().to_owned())) {
        return *n;
    }
    !matches!(
        (g, o.kind()),
        (
            "",
            "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
        ) | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "rbac.authorization.k8s.io",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | (
                "storage.k8s.io",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
            )
            | ("scheduling.k8s.io", "PriorityClass")
            | ("networking.k8s.io", "IngressClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("policy", "PodSecurityPolicy")
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
                    | "ValidatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
            )
            | (
                "flowcontrol.apiserver.k8s.io",
                "FlowSchema" | "PriorityLevelConfiguration"
            )
    )
}

/// Which stage an object is applied in: 0 for CRDs, Namespaces and
/// ClusterRoles (what everything else may need), 1 for `*Class` kinds, 2 for
/// the rest — the stages of Flux's `ApplyAllStaged`.
fn stage_of(o: &Object) -> u8 {
    let (g, _) = o.group_version();
    match (g, o.kind()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("", "Namespace")
        | ("rbac.authorization.k8s.io", "ClusterRole") => 0,
        (_, k) if k.ends_with("Class") => 1,
        _ => 2,
    }
}

/// Kinds defined by CRDs in the set, with whether they are namespaced.
fn crd_kinds(objects: &[Object]) -> HashMap<(String, String, String), bool> {
    let mut out = HashMap::new();
    for o in objects {
        if o.kind() != "CustomResourceDefinition" || o.group_version().0 != "apiextensions.k8s.io" {
            continue;
        }
        let spec = o.data.get("spec");
        let group = spec.and_then(|s| s.get("group")).and_then(Value::as_str);
        let kind = spec
            .and_then(|s| s.get("names"))
            .and_then(|n| n.get("kind"))
            .and_then(Value::as_str);
        let namespaced =
            spec.and_then(|s| s.get("scope")).and_then(Value::as_str) != Some("Cluster");
        let versions = spec
            .and_then(|s| s.get("versions"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let (Some(g), Some(k)) = (group, kind) {
            for v in versions {
                if let Some(name) = v.get("name").and_then(Value::as_str) {
                    out.insert((g.to_owned(), name.to_owned(), k.to_owned()), namespaced);
                }
            }
        }
    }
    out
}

/// Whether the dry-run result differs from the live object in anything but
/// bookkeeping, or weir does not manage the object yet.
fn drifted(live: &Value, dry: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
            m.remove("resourceVersion");
            m.remove("generation");
        }
        v
    }
    let managed = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|fields| {
            fields.iter().any(|f| {
                f.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                    && f.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        });
    !managed || strip(live) != strip(dry)
}

/// Whether an error is the server's or the network's (retry may help)
/// rather than the object's. Kubernetes before 1.23 answers some invalid
/// apply requests (a port without `protocol`, a field the schema does not
/// know) with a 500 "failed to create typed patch object": those are the
/// object's fault.
fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            let input_error = s.message.contains("typed patch")
                || s.message.contains("field not declared in schema");
            (s.code >= 500 && !input_error) || s.code == 429 || s.code == 0
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        other => other.to_string(),
    }
}

fn unavailable(e: &kube::Error) -> ApplyError {
    ApplyError::Unavailable(match e {
        kube::Error::Api(_) => format!("the Kubernetes API server failed: {}", api_message(e)),
        _ => format!("cannot reach the Kubernetes API server: {}", api_message(e)),
    })
}

/// The API server's refusal of one object, with advice where we know it.
fn refusal(o: &Object, e: &kube::Error) -> String {
    let msg = api_message(e);
    let hint = if msg.contains("omits key field \"protocol\"") {
        " (server-side apply on Kubernetes before 1.23 needs `protocol: TCP` on every port: add it to the ports of this object)"
    } else {
        ""
    };
    format!(
        "{}: {} refused by the API server: {msg}{hint}",
        o.origin,
        o.key()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        Object::from_json(&v.to_string(), "t.yaml").expect("valid")
    }

    #[test]
    fn stages_follow_flux() {
        let crd = obj(
            json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"a"}}),
        );
        let ns = obj(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}));
        let sc = obj(
            json!({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"a"}}),
        );
        let cm = obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}));
        assert_eq!([&crd, &ns, &sc, &cm].map(stage_of), [0, 0, 1, 2]);
    }

    #[test]
    fn crd_kinds_lists_every_version_with_scope() {
        let crd = obj(
            json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.ex.com"},
            "spec":{"group":"ex.com","scope":"Cluster","names":{"kind":"Widget"},"versions":[{"name":"v1"},{"name":"v2"}]}}),
        );
        let k = crd_kinds(&[crd]);
        assert_eq!(
            k.get(&("ex.com".into(), "v2".into(), "Widget".into())),
            Some(&false)
        );
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn drift_ignores_bookkeeping_but_not_content_or_ownership() {
        let managed = json!([{"manager":"weir","operation":"Apply"}]);
        let live = json!({"metadata":{"name":"a","resourceVersion":"1","managedFields":managed},"data":{"k":"v"}});
        let same = json!({"metadata":{"name":"a","resourceVersion":"2","managedFields":[]},"data":{"k":"v"}});
        let changed = json!({"metadata":{"name":"a"},"data":{"k":"w"}});
        assert!(!drifted(&live, &same));
        assert!(drifted(&live, &changed));
        let foreign = json!({"metadata":{"name":"a","managedFields":[{"manager":"kubectl","operation":"Update"}]},"data":{"k":"v"}});
        assert!(drifted(&foreign, &same));
    }
}
