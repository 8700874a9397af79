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
//!
//! Objects choose how they are applied with Flux's annotations (see
//! [`SsaPolicy`] and [`FORCE_ANNOTATION`]); a sync can recreate every object
//! whose immutable fields changed with [`ApplyOptions::force`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Client;
use kube::Config;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use serde_json::{Map, Value, json};

use crate::object::{Object, ObjectKey};
use crate::status::{Action, Applied};
use crate::{FIELD_MANAGER, FLUX_PRUNE_ANNOTATION, OWNER_LABEL, PRUNE_ANNOTATION};

/// How many API requests one apply keeps in flight.
const CONCURRENCY: usize = 8;

/// API requests this process sent, over every [`Cluster`].
static API_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// API requests that could change something (not `GET`, not a dry run).
static API_WRITES: AtomicU64 = AtomicU64::new(0);

/// `(requests, writes)` this process has sent to Kubernetes API servers so
/// far: every request, and those that may change something (methods other
/// than `GET`, except dry runs).
pub fn api_request_counts() -> (u64, u64) {
    (
        API_REQUESTS.load(Ordering::Relaxed),
        API_WRITES.load(Ordering::Relaxed),
    )
}

fn count_request<B>(req: http::Request<B>) -> http::Request<B> {
    API_REQUESTS.fetch_add(1, Ordering::Relaxed);
    tracing::trace!(method = %req.method(), uri = %req.uri(), "api request");
    let dry_run = req.uri().query().is_some_and(|q| q.contains("dryRun="));
    if req.method() != http::Method::GET && !dry_run {
        API_WRITES.fetch_add(1, Ordering::Relaxed);
    }
    req
}

/// Per-object apply policy, `Override` (default), `Merge`, `IfNotPresent` or
/// `Ignore`: see [`SsaPolicy`]. Flux's [`FLUX_SSA_ANNOTATION`] is honoured too.
pub const SSA_ANNOTATION: &str = "sync.weir.dev/ssa";

/// Flux's spelling of [`SSA_ANNOTATION`].
pub const FLUX_SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";

/// Per-object recreate policy: `enabled` recreates the object when an
/// update is refused because a field is immutable, `disabled` never does
/// (even with the sync's `force`). Flux's [`FLUX_FORCE_ANNOTATION`] is
/// honoured too.
pub const FORCE_ANNOTATION: &str = "sync.weir.dev/force";

/// Flux's spelling of [`FORCE_ANNOTATION`].
pub const FLUX_FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";

/// Field managers whose fields `Override` takes over before applying, as
/// Flux's kustomize-controller does, matched as prefixes: kubectl's
/// (`kubectl`, `kubectl-edit`, `kubectl-label`, `kubectl-patch`,
/// `kubectl-client-side-apply`, …) and `before-first-apply` (objects that
/// predate server-side apply). Other managers (controllers, or a human using
/// `kubectl --field-manager=flux-client-side-apply`) keep their fields.
const TAKEOVER_MANAGERS: [&str; 2] = ["kubectl", "before-first-apply"];

/// How long a forced recreate waits for the old object to be gone.
const RECREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// How weir applies one object, chosen by its [`SSA_ANNOTATION`] (or Flux's
/// [`FLUX_SSA_ANNOTATION`]), as in Flux's
/// [apply policies](https://fluxcd.io/flux/components/kustomize/kustomizations/#controlling-the-apply-behavior-of-resources).
/// Values are case-insensitive; anything else fails the set before any
/// write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SsaPolicy {
    /// Make the object match git: fields in the manifest are forced over
    /// other managers, and fields that kubectl added (see
    /// `TAKEOVER_MANAGERS`) are taken over and removed when the manifest
    /// does not declare them. The default.
    #[default]
    Override,
    /// Like `Override` for the fields in the manifest, but fields other
    /// managers added (a `kubectl label`, a webhook's defaults) are kept.
    /// Atomic lists cannot be shared, so changes to them are still reverted
    /// (KEP-555).
    Merge,
    /// Create the object when it does not exist; never update it once it
    /// does (reported `skipped`). It stays in the inventory, so prune still
    /// deletes it when it leaves git.
    IfNotPresent,
    /// Never apply the object (reported `skipped`). It stays in the
    /// inventory, and prune never deletes a live object annotated `Ignore`.
    Ignore,
}

impl SsaPolicy {
    fn parse(value: &str) -> Option<Self> {
        [
            ("override", SsaPolicy::Override),
            ("merge", SsaPolicy::Merge),
            ("ifnotpresent", SsaPolicy::IfNotPresent),
            ("ignore", SsaPolicy::Ignore),
        ]
        .into_iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name))
        .map(|(_, p)| p)
    }
}

/// Options of one apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Recreate objects whose update is refused because a field is
    /// immutable (the sync's `force`, Flux's `spec.force`). Objects opt in
    /// or out with [`FORCE_ANNOTATION`].
    pub force: bool,
    /// Plan only: report what applying would do (`created`, `configured`,
    /// `unchanged`, `skipped`) and write nothing.
    pub dry_run: bool,
}

/// The policies of one object, read from its labels and annotations.
#[derive(Debug, Clone, Copy, Default)]
struct Policy {
    ssa: SsaPolicy,
    force: bool,
}

/// Why an apply or prune failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    /// The set is invalid for this cluster (unknown kind, duplicate object,
    /// missing namespace, an object the API server refuses in a dry run).
    /// Nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The set needs kinds or namespaces the cluster does not have (yet):
    /// another sync, or a person, may create them, so a retry may help.
    /// Nothing was written.
    #[error("{0}")]
    Missing(String),
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
        matches!(self, ApplyError::Unavailable(_) | ApplyError::Missing(_))
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
    /// Live versions by kind, with when they were listed.
    live: tokio::sync::Mutex<HashMap<(String, String, String), LiveEntry>>,
    /// Held while a kind is being discovered.
    discovering: tokio::sync::Mutex<()>,
    /// Namespaces seen to exist, and when.
    namespaces: Mutex<HashMap<String, Instant>>,
}

/// [`fingerprint`] by `(namespace, name)` of the objects of one kind.
type LiveVersions = HashMap<(String, String), String>;

type LiveEntry = (Instant, Option<Arc<LiveVersions>>);

/// How old a list of live fingerprints may be before it is listed again. A
/// stale list only costs a full check, never a missed change: a fingerprint
/// that moved since the list was taken does not match what weir recorded.
pub const LIVE_TTL: Duration = Duration::from_secs(5);

/// The outcome of applying a set.
#[derive(Debug, Clone, Default)]
pub struct ApplyOutcome {
    /// Every object with what happened to it, in apply order.
    pub changes: Vec<(ObjectKey, Action)>,
    /// What weir now knows of each object it wrote or found unchanged (by
    /// [`ObjectKey::id`]), for the next apply's shortcut.
    pub applied: BTreeMap<String, Applied>,
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
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Create,
    /// Apply; with `takeover`, first replace the live `managedFields` with
    /// these, which hand the fields of kubectl's managers to weir.
    Update {
        takeover: Option<Vec<Value>>,
    },
    /// Matches already; the live object's [`fingerprint`].
    Unchanged(Option<String>),
    /// Leave it alone (`IfNotPresent` and it exists, or `Ignore`).
    Skip,
    /// An immutable field changed and force is on: delete and create.
    Recreate,
}

impl Plan {
    fn writes(&self) -> bool {
        !matches!(self, Plan::Unchanged(_) | Plan::Skip)
    }

    fn action(&self) -> Action {
        match self {
            Plan::Create => Action::Created,
            // A recreated object is the same object to the user: it was
            // `configured`, just the hard way.
            Plan::Update { .. } | Plan::Recreate => Action::Configured,
            Plan::Unchanged(_) => Action::Unchanged,
            Plan::Skip => Action::Skipped,
        }
    }
}

impl Cluster {
    /// Connects with a kubeconfig file, or the usual inference (`$KUBECONFIG`,
    /// `~/.kube/config`, in-cluster) when none is given. Does not contact the
    /// server yet.
    ///
    /// # Errors
    /// The kubeconfig is missing or invalid.
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Self, ConnectError> {
        Self::connect_as(kubeconfig, None).await
    }

    /// [`Cluster::connect`], acting as `impersonate` (e.g.
    /// `system:serviceaccount:tenant:deployer`) when given: every request
    /// carries `Impersonate-User`, so the API server applies that user's
    /// RBAC (the kubeconfig's user needs the `impersonate` verb).
    ///
    /// # Errors
    /// The kubeconfig is missing or invalid.
    pub async fn connect_as(
        kubeconfig: Option<&Path>,
        impersonate: Option<&str>,
    ) -> Result<Self, ConnectError> {
        let err = |message: String| ConnectError {
            path: kubeconfig.map(Path::to_path_buf),
            message,
        };
        let mut config = match kubeconfig {
            Some(p) => {
                let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| err(e.to_string()))?;
                Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                    .await
                    .map_err(|e| err(e.to_string()))?
            }
            None => Config::infer().await.map_err(|e| err(e.to_string()))?,
        };
        if let Some(user) = impersonate {
            config.auth_info.impersonate = Some(user.to_owned());
        }
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| err(e.to_string()))?
            .with_layer(&tower::util::MapRequestLayer::new(count_request))
            .build();
        Ok(Cluster {
            client,
            kinds: Mutex::new(HashMap::new()),
            live: tokio::sync::Mutex::new(HashMap::new()),
            discovering: tokio::sync::Mutex::new(()),
            namespaces: Mutex::new(HashMap::new()),
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
        // One discovery at a time: syncs starting together would otherwise
        // all ask for the same kinds.
        let _one = self.discovering.lock().await;
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

    /// What the cluster serves, as Helm's `.Capabilities.APIVersions`
    /// lists it: every `group/version` (`v1` for the core group) and every
    /// `group/version/Kind` of a top-level resource.
    ///
    /// # Errors
    /// The API server could not be reached or refused discovery.
    pub async fn api_versions(&self) -> Result<Vec<String>, ApplyError> {
        let fail = |e: kube::Error| {
            if is_transient(&e) {
                unavailable(&e)
            } else {
                ApplyError::Refused(format!("discovery failed: {}", api_message(&e)))
            }
        };
        let mut out = Vec::new();
        let mut versions: Vec<String> = self
            .client
            .list_core_api_versions()
            .await
            .map_err(fail)?
            .versions;
        for g in self.client.list_api_groups().await.map_err(fail)?.groups {
            versions.extend(g.versions.into_iter().map(|v| v.group_version));
        }
        for gv in versions {
            let resources = if gv.contains('/') {
                self.client.list_api_group_resources(&gv).await
            } else {
                self.client.list_core_api_resources(&gv).await
            };
            // A group whose backend is down (an unavailable APIService)
            // must not hide the rest.
            if let Ok(list) = resources {
                for r in list.resources {
                    if !r.name.contains('/') {
                        out.push(format!("{gv}/{}", r.kind));
                    }
                }
            }
            out.push(gv);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Deletes one object whoever owns it (background propagation), as Helm
    /// deletes a hook before creating it again. A missing object or kind is
    /// fine.
    ///
    /// # Errors
    /// The API server refused or could not be reached.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), ApplyError> {
        let Some(r) = self.resolve(&key.group, &key.version, &key.kind).await? else {
            return Ok(());
        };
        let api = self.api(&r, key.namespace.as_deref());
        let dp = kube::api::DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            ..kube::api::DeleteParams::default()
        };
        match api.delete(&key.name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) if is_transient(&e) => Err(unavailable(&e)),
            Err(e) => Err(ApplyError::Refused(format!(
                "cannot delete {key}: {}",
                api_message(&e)
            ))),
        }
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
        self.apply_with(objects, owner, target_namespace, ApplyOptions::default())
            .await
    }

    /// [`Cluster::apply`] with options. Every object's [`SsaPolicy`] and
    /// force annotation are checked with the rest of the set, before any
    /// write.
    ///
    /// # Errors
    /// As [`Cluster::apply`]. An update refused because a field is
    /// immutable fails the set (nothing written) unless the object is
    /// forced; then it is deleted and created again.
    pub async fn apply_with(
        &self,
        objects: Vec<Object>,
        owner: &str,
        target_namespace: Option<&str>,
        options: ApplyOptions,
    ) -> Result<ApplyOutcome, ApplyFailure> {
        self.apply_known(objects, owner, target_namespace, options, &BTreeMap::new())
            .await
    }

    /// [`Cluster::apply_with`], skipping the checks of objects that cannot
    /// have changed: an object whose manifest has the digest `known`
    /// records for it (from [`ApplyOutcome::applied`] of an earlier apply),
    /// and whose live [`fingerprint`] is still the one recorded, is
    /// `unchanged` without a read or a dry run. Live versions come from one
    /// metadata list per kind of the objects weir owns, shared by every
    /// sync of this connection and at most [`LIVE_TTL`] old; any
    /// difference (an edit by hand, a controller's write, a new manifest)
    /// sends the object through the full check. When every object is known
    /// unchanged, the apply sends no request at all.
    ///
    /// # Errors
    /// As [`Cluster::apply_with`].
    pub async fn apply_known(
        &self,
        objects: Vec<Object>,
        owner: &str,
        target_namespace: Option<&str>,
        options: ApplyOptions,
        known: &BTreeMap<String, Applied>,
    ) -> Result<ApplyOutcome, ApplyFailure> {
        let mut written = Vec::new();
        self.apply_staged(
            objects,
            owner,
            target_namespace,
            options,
            known,
            &mut written,
        )
        .await
        .map_err(|error| ApplyFailure { error, written })
    }

    /// The [`fingerprint`] of every live object of kind `r` that carries
    /// the owner label, by `(namespace, name)`, from one metadata list at
    /// most [`LIVE_TTL`] old; `None` when the list is refused (a tenant may
    /// not list cluster-wide) or fails.
    async fn live_versions(&self, r: &Resolved) -> Option<Arc<LiveVersions>> {
        let key = (r.ar.group.clone(), r.ar.version.clone(), r.ar.kind.clone());
        let mut cache = self.live.lock().await;
        if let Some((at, versions)) = cache.get(&key)
            && at.elapsed() < LIVE_TTL
        {
            return versions.clone();
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &r.ar);
        let versions = match api
            .list_metadata(&kube::api::ListParams::default().labels(OWNER_LABEL))
            .await
        {
            Ok(list) => Some(Arc::new(
                list.items
                    .into_iter()
                    .filter_map(|m| {
                        let name = m.metadata.name?;
                        let f = fingerprint(&m.metadata.managed_fields);
                        Some(((m.metadata.namespace.unwrap_or_default(), name), f))
                    })
                    .collect(),
            )),
            Err(e) => {
                tracing::debug!(kind = %r.ar.kind, error = %e, "cannot list live versions; checking objects one by one");
                None
            }
        };
        cache.insert(key, (Instant::now(), versions.clone()));
        versions
    }

    async fn apply_staged(
        &self,
        mut objects: Vec<Object>,
        owner: &str,
        target_namespace: Option<&str>,
        options: ApplyOptions,
        known: &BTreeMap<String, Applied>,
        written: &mut Vec<ObjectKey>,
    ) -> Result<ApplyOutcome, ApplyError> {
        // 1. Resolve kinds. Kinds defined by CRDs in this set may not be
        // served yet; they are resolved after stage 1.
        let crd_kinds = crd_kinds(&objects);
        let mut problems = Vec::new();
        // Unknown kinds and namespaces that do not exist: another sync may
        // create them, so they alone do not make the set invalid for good.
        let mut missing = Vec::new();
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
                    missing.push(format!(
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

        // Apply policies, read before anything is written.
        let mut policies = Vec::with_capacity(objects.len());
        for o in &objects {
            match policy_of(o, options.force) {
                Ok(p) => policies.push(p),
                Err(m) => {
                    problems.push(m);
                    policies.push(Policy::default());
                }
            }
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

        // Objects that cannot have changed since weir applied them.
        let digests: Vec<String> = objects.iter().map(digest).collect();
        let mut fast = vec![false; objects.len()];
        if problems.is_empty() && missing.is_empty() && !known.is_empty() {
            for (i, o) in objects.iter().enumerate() {
                let (Some(prev), Some(r)) = (known.get(&o.key().id()), &resolved[i]) else {
                    continue;
                };
                if prev.digest != digests[i]
                    || !matches!(policies[i].ssa, SsaPolicy::Override | SsaPolicy::Merge)
                {
                    continue;
                }
                let Some(live) = self.live_versions(r).await else {
                    continue;
                };
                let at = (o.namespace().unwrap_or("").to_owned(), o.name().to_owned());
                fast[i] = live.get(&at) == Some(&prev.fingerprint);
            }
        }
        if !objects.is_empty() && fast.iter().all(|f| *f) {
            let mut order: Vec<usize> = (0..objects.len()).collect();
            order.sort_by_key(|&i| (stage_of(&objects[i]), objects[i].key()));
            let mut outcome = ApplyOutcome::default();
            for i in order {
                let id = objects[i].key().id();
                if let Some(prev) = known.get(&id) {
                    outcome.applied.insert(id, prev.clone());
                }
                outcome.changes.push((objects[i].key(), Action::Unchanged));
            }
            return Ok(outcome);
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
                // Seen a moment ago (by this or another sync): one read
                // per namespace per LIVE_TTL, not per sync.
                let seen = self
                    .namespaces
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(ns)
                    .is_some_and(|at| at.elapsed() < LIVE_TTL);
                if seen {
                    existing_ns.insert(ns.clone());
                    continue;
                }
                match api.get_opt(ns).await {
                    Ok(Some(_)) => {
                        self.namespaces
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(ns.clone(), Instant::now());
                        existing_ns.insert(ns.clone());
                    }
                    Ok(None) => {}
                    // A tenant's service account may not read namespaces;
                    // its objects' own checks then say what it may do.
                    Err(kube::Error::Api(s)) if s.code == 403 => {
                        existing_ns.insert(ns.clone());
                    }
                    Err(e) if is_transient(&e) => return Err(unavailable(&e)),
                    Err(e) => {
                        return Err(ApplyError::Invalid(format!(
                            "cannot read namespace {ns:?}: {}",
                            api_message(&e)
                        )));
                    }
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
            missing.push(format!(
                "namespace {ns:?} does not exist and this sync does not create it (needed by {})",
                users.join(", ")
            ));
        }
        if !problems.is_empty() {
            problems.append(&mut missing);
            return Err(ApplyError::Invalid(problems.join("; ")));
        }
        if !missing.is_empty() {
            return Err(ApplyError::Missing(missing.join("; ")));
        }

        // 2. Plan everything that can be checked now: the kind is served and
        // the namespace exists.
        let checkable: Vec<usize> = (0..objects.len())
            .filter(|&i| {
                !fast[i]
                    && resolved[i].is_some()
                    && objects[i]
                        .namespace()
                        .is_none_or(|ns| existing_ns.contains(ns))
            })
            .collect();
        let mut plans: Vec<Option<Plan>> = vec![None; objects.len()];
        for (i, o) in objects.iter().enumerate() {
            if fast[i] {
                let rv = known.get(&o.key().id()).map(|a| a.fingerprint.clone());
                plans[i] = Some(Plan::Unchanged(rv));
            }
        }
        let results = self
            .plan_many(&objects, &resolved, &policies, &checkable, owner)
            .await;
        let mut failures = Vec::new();
        for (i, r) in results {
            match r {
                Ok(p) => plans[i] = Some(p),
                Err(PlanError::Unavailable(e)) => return Err(e),
                Err(PlanError::Refused(m) | PlanError::Immutable(m)) => failures.push(m),
            }
        }
        if !failures.is_empty() {
            return Err(ApplyError::Invalid(failures.join("; ")));
        }
        if options.dry_run {
            // Objects of kinds not served yet cannot be planned: they would
            // be created.
            let mut order: Vec<usize> = (0..objects.len()).collect();
            order.sort_by_key(|&i| (stage_of(&objects[i]), objects[i].key()));
            let mut outcome = ApplyOutcome::default();
            for i in order {
                let action = plans[i].as_ref().map_or(Action::Created, Plan::action);
                outcome.changes.push((objects[i].key(), action));
            }
            return Ok(outcome);
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
            for (i, r) in self
                .plan_many(&objects, &resolved, &policies, &late, owner)
                .await
            {
                match r {
                    Ok(p) => plans[i] = Some(p),
                    Err(e) => return Err(e.into()),
                }
            }
            let writes: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| plans[i].as_ref().is_none_or(Plan::writes))
                .collect();
            let results = futures::stream::iter(writes.iter().copied().map(|i| {
                let r = resolved[i].clone();
                let o = &objects[i];
                let plan = plans[i].clone();
                let policy = policies[i];
                async move {
                    let r = r.ok_or_else(|| {
                        ApplyError::Refused(format!("{}: kind not resolved", o.key()))
                    })?;
                    self.write(&r, o, owner, plan, policy)
                        .await
                        .map(|rv| (i, rv))
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
            let mut first_error = None;
            for r in results {
                match r {
                    Ok((i, rv)) => {
                        written.push(objects[i].key());
                        if let Some(rv) = rv {
                            outcome.applied.insert(
                                objects[i].key().id(),
                                Applied {
                                    digest: digests[i].clone(),
                                    fingerprint: rv,
                                },
                            );
                        }
                    }
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
                let action = plans[i].as_ref().map_or(Action::Unchanged, Plan::action);
                if let Some(Plan::Unchanged(Some(rv))) = &plans[i] {
                    outcome.applied.insert(
                        objects[i].key().id(),
                        Applied {
                            digest: digests[i].clone(),
                            fingerprint: rv.clone(),
                        },
                    );
                }
                outcome.changes.push((objects[i].key(), action));
            }
        }
        Ok(outcome)
    }

    async fn plan_many(
        &self,
        objects: &[Object],
        resolved: &[Option<Resolved>],
        policies: &[Policy],
        which: &[usize],
        owner: &str,
    ) -> Vec<(usize, Result<Plan, PlanError>)> {
        futures::stream::iter(which.iter().copied().map(|i| {
            let r = resolved[i].clone();
            let o = &objects[i];
            let policy = policies[i];
            async move {
                let res = match r {
                    Some(r) => self.plan(&r, o, owner, policy).await,
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

    /// Dry-run apply and compare with the live object, as `policy` says.
    async fn plan(
        &self,
        r: &Resolved,
        o: &Object,
        owner: &str,
        policy: Policy,
    ) -> Result<Plan, PlanError> {
        if policy.ssa == SsaPolicy::Ignore {
            return Ok(Plan::Skip);
        }
        let api = self.api(r, o.namespace());
        let read = || async {
            api.get_opt(o.name()).await.map_err(|e| {
                if is_transient(&e) {
                    PlanError::Unavailable(unavailable(&e))
                } else {
                    PlanError::Refused(refusal(o, &e))
                }
            })
        };
        if policy.ssa == SsaPolicy::IfNotPresent && read().await?.is_some() {
            return Ok(Plan::Skip);
        }
        // The dry run first: for an object that does not exist yet it
        // answers without a `resourceVersion`, which saves reading it.
        let dry = match self.ssa(r, o, owner, true).await {
            Ok(dry) => dry,
            // The dry run is where an immutable change shows first (only an
            // existing object has immutable fields); with force it marks
            // the object for recreation instead of failing.
            Err(PlanError::Immutable(m)) if policy.force => {
                return match read().await? {
                    Some(_) => Ok(Plan::Recreate),
                    None => Err(PlanError::Immutable(m)),
                };
            }
            Err(e) => return Err(e),
        };
        if dry.metadata.resource_version.is_none() {
            return Ok(Plan::Create);
        }
        let Some(live) = read().await? else {
            // Deleted since the dry run: applying creates it.
            return Ok(Plan::Create);
        };
        let live = serde_json::to_value(&live).unwrap_or(Value::Null);
        let dry = serde_json::to_value(&dry).unwrap_or(Value::Null);
        let takeover = match policy.ssa {
            SsaPolicy::Override => takeover(&live, o.api_version()),
            _ => None,
        };
        Ok(if takeover.is_some() || drifted(&live, &dry) {
            Plan::Update { takeover }
        } else {
            let fields = live
                .pointer("/metadata/managedFields")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok());
            Plan::Unchanged(Some(fingerprint(&fields)))
        })
    }

    /// Writes one planned object: takes over kubectl's fields first when
    /// planned, recreates it when forced and an immutable field changed.
    async fn write(
        &self,
        r: &Resolved,
        o: &Object,
        owner: &str,
        plan: Option<Plan>,
        policy: Policy,
    ) -> Result<Option<String>, ApplyError> {
        match plan {
            Some(Plan::Recreate) => return self.recreate(r, o, owner).await,
            Some(Plan::Update {
                takeover: Some(fields),
            }) => self.take_over(r, o, fields).await?,
            _ => {}
        }
        match self.ssa(r, o, owner, false).await {
            Ok(written) => Ok(Some(fingerprint(&written.metadata.managed_fields))),
            // The dry run passed but the write did not (the live object
            // changed in between): force still applies.
            Err(PlanError::Immutable(_)) if policy.force => self.recreate(r, o, owner).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the live object's `managedFields` so that weir owns what
    /// kubectl's managers owned; the apply that follows then removes those
    /// fields the manifest does not declare. This is how Flux's `Override`
    /// reverts `kubectl edit`s (fluxcd/pkg `ssa` metadata cleanup).
    async fn take_over(
        &self,
        r: &Resolved,
        o: &Object,
        managed_fields: Vec<Value>,
    ) -> Result<(), ApplyError> {
        let api = self.api(r, o.namespace());
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let patch = json!({"metadata": {"managedFields": managed_fields}});
        match api.patch(o.name(), &params, &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => Err(unavailable(&e)),
            Err(e) => Err(ApplyError::Refused(format!(
                "{}: cannot take over the fields kubectl set on {}: {}",
                o.origin,
                o.key(),
                api_message(&e)
            ))),
        }
    }

    /// Deletes the live object, waits (at most [`RECREATE_TIMEOUT`]) until
    /// it is gone, and applies `o` in its place. Deletion propagates in the
    /// background, as Flux's force does: dependents (a Job's pods) are
    /// collected by the garbage collector afterwards.
    async fn recreate(
        &self,
        r: &Resolved,
        o: &Object,
        owner: &str,
    ) -> Result<Option<String>, ApplyError> {
        let api = self.api(r, o.namespace());
        let failed = |what: &str, e: &kube::Error| {
            if is_transient(e) {
                unavailable(e)
            } else {
                ApplyError::Refused(format!(
                    "{}: cannot {what} {} to recreate it (force): {}",
                    o.origin,
                    o.key(),
                    api_message(e)
                ))
            }
        };
        let old_uid = api
            .get_opt(o.name())
            .await
            .map_err(|e| failed("read", &e))?
            .and_then(|l| l.metadata.uid);
        tracing::info!(object = %o.key(), "an immutable field changed; deleting and recreating it (force)");
        match api.delete(o.name(), &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(failed("delete", &e)),
        }
        let deadline = Instant::now() + RECREATE_TIMEOUT;
        loop {
            match api.get_opt(o.name()).await {
                Ok(None) => break,
                // Someone else created it again meanwhile: apply over theirs.
                Ok(Some(l)) if l.metadata.uid != old_uid => break,
                Ok(Some(_)) => {}
                Err(e) => return Err(failed("read", &e)),
            }
            if Instant::now() >= deadline {
                return Err(ApplyError::Refused(format!(
                    "{}: {} was deleted to be recreated (force), but it was still there after {}s; check its finalizers",
                    o.origin,
                    o.key(),
                    RECREATE_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.ssa(r, o, owner, false)
            .await
            .map(|written| Some(fingerprint(&written.metadata.managed_fields)))
            .map_err(ApplyError::from)
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
                } else if is_immutable(&e) {
                    PlanError::Immutable(refusal(o, &e))
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
            }) || [SSA_ANNOTATION, FLUX_SSA_ANNOTATION].iter().any(|a| {
                // Flux never deletes what it is told to ignore.
                [&annotations, &labels]
                    .iter()
                    .any(|m| m.get(*a).is_some_and(|v| v.eq_ignore_ascii_case("ignore")))
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
    /// Refused because a field is immutable (the message says how to force).
    Immutable(String),
}

impl From<PlanError> for ApplyError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Unavailable(e) => e,
            PlanError::Refused(m) | PlanError::Immutable(m) => ApplyError::Refused(m),
        }
    }
}

/// The values of `keys` among an object's labels and annotations.
fn metadata_values<'a>(o: &'a Object, keys: [&'a str; 2]) -> Vec<(&'a str, &'a Value)> {
    let meta = o.data.get("metadata");
    let mut out = Vec::new();
    for section in ["annotations", "labels"] {
        let Some(map) = meta.and_then(|m| m.get(section)).and_then(Value::as_object) else {
            continue;
        };
        for k in keys {
            if let Some(v) = map.get(k) {
                out.push((k, v));
            }
        }
    }
    out
}

/// Reads an object's apply and force policies from its annotations (or
/// labels, which Flux accepts too). Unknown values, or weir's and Flux's
/// spellings disagreeing, are errors naming the object, its file and the
/// allowed values.
fn policy_of(o: &Object, force_all: bool) -> Result<Policy, String> {
    let mut ssa = None;
    for (k, v) in metadata_values(o, [SSA_ANNOTATION, FLUX_SSA_ANNOTATION]) {
        let p = v.as_str().and_then(SsaPolicy::parse).ok_or_else(|| {
            format!(
                "{}: {}: {k} is {v}: use Override, Merge, IfNotPresent or Ignore",
                o.origin,
                o.key()
            )
        })?;
        if ssa.is_some_and(|q| q != p) {
            return Err(format!(
                "{}: {}: its {SSA_ANNOTATION} and {FLUX_SSA_ANNOTATION} annotations or labels disagree: keep one",
                o.origin,
                o.key()
            ));
        }
        ssa = Some(p);
    }
    let mut force = None;
    for (k, v) in metadata_values(o, [FORCE_ANNOTATION, FLUX_FORCE_ANNOTATION]) {
        let f = match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("enabled") => true,
            Some(s) if s.eq_ignore_ascii_case("disabled") => false,
            _ => {
                return Err(format!(
                    "{}: {}: {k} is {v}: use Enabled or Disabled",
                    o.origin,
                    o.key()
                ));
            }
        };
        if force.is_some_and(|g| g != f) {
            return Err(format!(
                "{}: {}: its {FORCE_ANNOTATION} and {FLUX_FORCE_ANNOTATION} annotations or labels disagree: keep one",
                o.origin,
                o.key()
            ));
        }
        force = Some(f);
    }
    Ok(Policy {
        ssa: ssa.unwrap_or_default(),
        force: force.unwrap_or(force_all),
    })
}

/// The `managedFields` that hand every field of kubectl's managers (see
/// [`TAKEOVER_MANAGERS`]) to weir's apply entry, or `None` when no such
/// manager owns anything. Subresource entries (status) are left alone.
fn takeover(live: &Value, api_version: &str) -> Option<Vec<Value>> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let top_level = |f: &Value| {
        f.get("subresource")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    };
    let foreign = |f: &Value| {
        let manager = f.get("manager").and_then(Value::as_str).unwrap_or("");
        top_level(f) && TAKEOVER_MANAGERS.iter().any(|p| manager.starts_with(p))
    };
    if !entries.iter().any(foreign) {
        return None;
    }
    let mut taken = Value::Object(Map::new());
    let mut kept = Vec::with_capacity(entries.len());
    for f in entries {
        if foreign(f) {
            if let Some(fields) = f.get("fieldsV1") {
                merge_fields(&mut taken, fields);
            }
        } else {
            kept.push(f.clone());
        }
    }
    let own = kept.iter_mut().find(|f| {
        f.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
            && f.get("operation").and_then(Value::as_str) == Some("Apply")
            && top_level(f)
    });
    match own.and_then(Value::as_object_mut) {
        Some(own) => {
            let fields = own
                .entry("fieldsV1")
                .or_insert_with(|| Value::Object(Map::new()));
            merge_fields(fields, &taken);
        }
        None => kept.push(json!({
            "manager": FIELD_MANAGER,
            "operation": "Apply",
            "apiVersion": api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": taken,
        })),
    }
    Some(kept)
}

/// Unites two `FieldsV1` sets (nested maps of `f:`, `k:`, `v:`, `i:` and
/// `.` keys) into `into`.
fn merge_fields(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (k, v) in from {
        match into.get_mut(k) {
            Some(existing) => merge_fields(existing, v),
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
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

/// What changes whenever anyone changes an object other than through its
/// status: SHA-256 of its `managedFields` entries without those of
/// subresources. Each write records its manager's entry with a new time, so
/// an edit by hand or a controller's write shows; status updates (which a
/// Deployment's controller makes all the time) do not, and need not, since
/// weir never applies status.
fn fingerprint(
    managed: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for e in managed.iter().flatten() {
        if e.subresource.as_deref().is_some_and(|s| !s.is_empty()) {
            continue;
        }
        h.update(serde_json::to_vec(e).unwrap_or_default());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of an object as it is sent (settled: namespace, owner label),
/// kept in the state directory to skip objects that cannot have changed.
///
/// A core `Secret`'s digest is an HMAC with a key that lives in this
/// process's memory only: its data may have been decrypted from SOPS, and
/// a plain hash on disk would let whoever reads the state directory test
/// guesses of a weak secret against it. The price: after a restart, the
/// first reconcile checks Secrets with a dry run instead of skipping them.
fn digest(o: &Object) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(&o.data).unwrap_or_default();
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if o.api_version() == "v1" && o.kind() == "Secret" {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(digest_key())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&bytes);
        return format!("hmac:{}", hex(&mac.finalize().into_bytes()));
    }
    hex(&Sha256::digest(&bytes))
}

/// This process's key for [`digest`]: random, never written anywhere.
fn digest_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // No OS randomness: fall back to what is unknown outside
            // this process (never reached on Linux).
            use sha2::{Digest, Sha256};
            let seed = format!(
                "{:?}{}{:p}",
                std::time::SystemTime::now(),
                std::process::id(),
                &key
            );
            key.copy_from_slice(&Sha256::digest(seed.as_bytes()));
        }
        key
    })
}

/// Whether the dry-run result differs from the live object in anything but
/// bookkeeping and status, or weir does not manage the object yet.
fn drifted(live: &Value, dry: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
            m.remove("resourceVersion");
            m.remove("generation");
        }
        // Controllers write status all the time (between the dry run and
        // the read of the live object, too); weir never applies it.
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
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

/// Whether the API server refused a write because it would change an
/// immutable field (422 `Invalid`, "field is immutable"; a RoleBinding's
/// "cannot change roleRef"), as kubectl's and Flux's force detect it.
fn is_immutable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 422
                && (s.message.contains("field is immutable")
                    || s.message.contains("cannot change roleRef"))
        }
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
    } else if is_immutable(e) {
        " (the field is immutable: to delete and recreate the object, set `force = true` on the [[sync]] or annotate the object `kustomize.toolkit.fluxcd.io/force: enabled`)"
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
    fn secret_digests_are_keyed_so_the_state_dir_cannot_test_guesses() {
        use sha2::{Digest, Sha256};
        let secret = obj(
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"pw":"aHVudGVyMg=="}}),
        );
        let d = digest(&secret);
        assert!(d.starts_with("hmac:"), "{d}");
        let plain: String = Sha256::digest(serde_json::to_vec(&secret.data).expect("json"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!d.contains(&plain));
        assert_eq!(digest(&secret), d, "stable within the process");
        let cm = obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}));
        assert_eq!(
            digest(&cm),
            Sha256::digest(serde_json::to_vec(&cm.data).expect("json"))
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
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

    fn annotated(annotations: Value) -> Object {
        obj(json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"a","namespace":"ns","annotations":annotations}}))
    }

    #[test]
    fn policies_follow_flux_annotations_case_insensitively() {
        let p = policy_of(&annotated(json!({})), false).expect("valid");
        assert_eq!((p.ssa, p.force), (SsaPolicy::Override, false));
        for (value, want) in [
            ("Merge", SsaPolicy::Merge),
            ("ifnotpresent", SsaPolicy::IfNotPresent),
            ("IGNORE", SsaPolicy::Ignore),
            ("Override", SsaPolicy::Override),
        ] {
            let o = annotated(json!({FLUX_SSA_ANNOTATION: value}));
            assert_eq!(policy_of(&o, false).expect("valid").ssa, want, "{value}");
        }
        let o = annotated(json!({SSA_ANNOTATION: "Merge", FLUX_SSA_ANNOTATION: "merge"}));
        assert_eq!(policy_of(&o, false).expect("agree").ssa, SsaPolicy::Merge);
        let labelled = obj(json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"a","labels":{FLUX_SSA_ANNOTATION:"Ignore"}}}));
        assert_eq!(
            policy_of(&labelled, false).expect("valid").ssa,
            SsaPolicy::Ignore
        );
    }

    #[test]
    fn force_comes_from_the_sync_unless_the_object_says_otherwise() {
        assert!(policy_of(&annotated(json!({})), true).expect("valid").force);
        let on = annotated(json!({FLUX_FORCE_ANNOTATION: "Enabled"}));
        assert!(policy_of(&on, false).expect("valid").force);
        let off = annotated(json!({FORCE_ANNOTATION: "disabled"}));
        assert!(!policy_of(&off, true).expect("valid").force);
    }

    #[test]
    fn unknown_policy_values_name_the_object_file_and_allowed_values() {
        let err = policy_of(&annotated(json!({FLUX_SSA_ANNOTATION: "Sometimes"})), false)
            .expect_err("unknown");
        assert!(err.contains("t.yaml"), "{err}");
        assert!(err.contains("ConfigMap/ns/a"), "{err}");
        assert!(err.contains("\"Sometimes\""), "{err}");
        assert!(
            err.contains("Override, Merge, IfNotPresent or Ignore"),
            "{err}"
        );
        let err =
            policy_of(&annotated(json!({FORCE_ANNOTATION: "yes"})), false).expect_err("unknown");
        assert!(err.contains("Enabled or Disabled"), "{err}");
        let err = policy_of(
            &annotated(json!({SSA_ANNOTATION: "Merge", FLUX_SSA_ANNOTATION: "Ignore"})),
            false,
        )
        .expect_err("disagree");
        assert!(err.contains("disagree"), "{err}");
    }

    #[test]
    fn takeover_hands_kubectl_fields_to_weir_and_keeps_controllers() {
        let weir = json!({"manager":"weir","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1",
            "fieldsV1":{"f:data":{"f:value":{}},"f:metadata":{"f:labels":{"f:sync.weir.dev/name":{}}}}});
        let label = json!({"manager":"kubectl-label","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1",
            "fieldsV1":{"f:metadata":{"f:labels":{"f:extra":{}}}}});
        let controller = json!({"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1",
            "fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:other":{}}}}});
        let live = json!({"metadata":{"managedFields":[weir, label, controller.clone()]}});
        let out = takeover(&live, "v1").expect("kubectl owns something");
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0]["fieldsV1"],
            json!({"f:data":{"f:value":{}},"f:metadata":{"f:labels":{"f:sync.weir.dev/name":{},"f:extra":{}}}})
        );
        assert_eq!(out[1], controller);
        assert_eq!(
            takeover(&json!({"metadata":{"managedFields":[controller]}}), "v1"),
            None
        );
    }

    #[test]
    fn takeover_creates_weirs_entry_for_objects_kubectl_created() {
        let created = json!({"manager":"kubectl-create","operation":"Update","apiVersion":"v1",
            "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:value":{}}}});
        let out = takeover(&json!({"metadata":{"managedFields":[created]}}), "v1").expect("some");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["manager"], "weir");
        assert_eq!(out[0]["operation"], "Apply");
        assert_eq!(out[0]["fieldsV1"], json!({"f:data":{"f:value":{}}}));
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
        let mut newer_status = live.clone();
        newer_status["status"] = json!({"observedGeneration": 2});
        assert!(!drifted(&newer_status, &same), "status is not drift");
    }
}
