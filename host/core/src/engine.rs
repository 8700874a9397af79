//! Scheduling: one task per source fetching at its interval, one task per
//! sync reconciling at its interval and whenever its source produces a new
//! revision, with backoff after failures. A sync with `dependsOn` is
//! reconciled only once its dependencies are ready and up to date with their
//! sources (Flux's `DependencyNotReady`); it checks again as soon as one of
//! them finishes a reconcile, and every [`DEPENDENCY_RETRY`] at the latest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use weir_config::{Config, Name, Sync};

use futures::StreamExt;

use crate::apply::Cluster;
use crate::decrypt::DecryptContext;
use crate::events::{Events, Note, SOURCE_API_VERSION, SYNC_API_VERSION};
use crate::notify::Notifications;
use crate::plugin::{DecryptorRegistry, RendererRegistry, Severity};
use crate::reconcile::{hold_for_dependencies, reconcile};
use crate::source::{Artifact, Source, SourceError};
use crate::status::{Removal, StatusStore, SyncStatus, now_unix};

/// The persisted status of one source, under `<state>/sources/<name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The source's name.
    pub name: String,
    /// The URL it fetches.
    pub url: String,
    /// Whether the last fetch succeeded.
    pub ready: bool,
    /// The artifact's revision, or the error.
    pub message: String,
    /// The current artifact.
    #[serde(default)]
    pub artifact: Option<Artifact>,
    /// Unix time (seconds) of the last fetch.
    #[serde(default)]
    pub last_fetch_at: Option<u64>,
}

type FetchResult = Option<Result<Artifact, SourceError>>;

/// How long a sync waiting for its dependencies sleeps before it checks them
/// again, at the latest: `weir run` also checks as soon as a dependency
/// finishes a reconcile. Flux's `--requeue-dependency` defaults to 30s (its
/// scaling guide suggests 5s); weir needs the timer only as a safety net.
pub const DEPENDENCY_RETRY: Duration = Duration::from_secs(5);

/// What is known, at the time of a dependency check, about the source of a
/// dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// Nothing: the dependency is not one of the engine's syncs (the config
    /// was filtered to one sync). Its status alone decides.
    Unknown,
    /// The source has not been fetched yet.
    NotFetched,
    /// The last fetch failed with this message.
    Failed(String),
    /// The source's current artifact has this revision.
    At(String),
}

/// Why a dependency is not ready, or `None` when it is: its last reconcile
/// succeeded and it has applied the revision its source has now (Flux's
/// `checkDependencies`, which compares the dependency's
/// `lastAppliedRevision` with the source artifact). `status` is the
/// dependency's stored status.
pub fn dependency_problem(status: Option<&SyncStatus>, source: &SourceState) -> Option<String> {
    let Some(status) = status else {
        return Some("not reconciled yet".into());
    };
    if !status.ready {
        return Some(format!("{}: {}", status.reason, status.message));
    }
    let applied = status.last_applied_revision.as_deref();
    match source {
        SourceState::Unknown => None,
        SourceState::At(revision) if applied == Some(revision.as_str()) => None,
        SourceState::At(revision) => Some(format!(
            "it has not applied its source's revision {revision} yet (last applied: {})",
            applied.unwrap_or("none")
        )),
        SourceState::NotFetched => Some("its source has not been fetched yet".into()),
        SourceState::Failed(message) => Some(format!("its source failed: {message}")),
    }
}

/// Runs syncs.
pub struct Engine {
    config: Arc<Config>,
    sources: BTreeMap<Name, Arc<dyn Source>>,
    renderers: Arc<dyn RendererRegistry>,
    /// Decryptor plugins, and where decryption keys are read.
    decryption: DecryptContext,
    /// The host's cluster: events, and syncs without their own.
    cluster: Arc<Cluster>,
    /// The cluster (and identity) each sync applies with, by index.
    targets: Vec<Arc<Cluster>>,
    store: StatusStore,
    events: Events,
    /// Fetch a source now (webhook receiver), by source name.
    fetch_now: BTreeMap<Name, Arc<Notify>>,
    /// Whether syncs that left the config are cleaned up (off when the
    /// config was filtered to one sync).
    collect_removed: bool,
    /// Where events go besides Kubernetes Events: `[[alert]]`s.
    notifications: Option<Arc<Notifications>>,
}

impl Engine {
    /// An engine for `config`, with one [`Source`] per declared git source
    /// (by name), the renderer registry and the host's cluster connection,
    /// which every sync applies to until [`Engine::with_targets`] says
    /// otherwise.
    pub fn new(
        config: Arc<Config>,
        sources: BTreeMap<Name, Arc<dyn Source>>,
        renderers: Arc<dyn RendererRegistry>,
        cluster: Arc<Cluster>,
    ) -> Self {
        let store = StatusStore::new(&config.state_dir());
        let events = Events::new(
            cluster.client().clone(),
            config.event_namespace(),
            config.cluster_name(),
        );
        let targets = config.sync.iter().map(|_| Arc::clone(&cluster)).collect();
        let fetch_now = config
            .sources()
            .iter()
            .map(|g| (g.name.clone(), Arc::new(Notify::new())))
            .collect();
        let decryption = DecryptContext {
            decryptors: None,
            host: Arc::clone(&cluster),
            base_dir: config.base_dir.clone(),
        };
        Engine {
            config,
            sources,
            renderers,
            decryption,
            cluster,
            targets,
            store,
            events,
            fetch_now,
            collect_removed: true,
            notifications: None,
        }
    }

    /// Sends events to `notifications`' alerts too.
    #[must_use]
    pub fn with_notifications(mut self, notifications: Arc<Notifications>) -> Self {
        self.notifications = Some(notifications);
        self
    }

    /// The notifications, if the config declares alerts.
    pub fn notifications(&self) -> Option<&Arc<Notifications>> {
        self.notifications.as_ref()
    }

    /// Sends the notification a sync's reconcile deserves (the same
    /// moments as its Kubernetes Events: [`crate::events::note`]).
    fn notify_sync(&self, before: Option<&SyncStatus>, after: &SyncStatus) {
        let Some(n) = &self.notifications else {
            return;
        };
        let Some(Note {
            kind,
            reason,
            message,
        }) = crate::events::note(before, after)
        else {
            return;
        };
        let severity = if kind == "Warning" {
            Severity::Error
        } else {
            Severity::Info
        };
        let revision = after
            .last_attempted_revision
            .as_deref()
            .or(after.last_applied_revision.as_deref());
        n.emit(&crate::notify::event(
            severity,
            &reason,
            &message,
            revision,
            (
                SYNC_API_VERSION,
                self.config
                    .sync
                    .iter()
                    .find(|s| s.name.as_str() == after.name)
                    .map_or("Sync", crate::notify::sync_kind),
                n.namespace(),
                &after.name,
            ),
            n.cluster(),
        ));
    }

    /// Sends a source's news: a new revision (`NewArtifact`), or a failure
    /// that differs from the last one (`GitOperationFailed`); `before` is
    /// its previous status.
    fn notify_source(
        &self,
        name: &Name,
        before: Option<&SourceStatus>,
        result: &Result<Artifact, SourceError>,
    ) {
        let Some(n) = &self.notifications else {
            return;
        };
        let (severity, reason, message, revision) = match result {
            Ok(a) => {
                let known = before
                    .and_then(|b| b.artifact.as_ref())
                    .is_some_and(|b| b.revision == a.revision);
                if known {
                    return;
                }
                (
                    Severity::Info,
                    "NewArtifact",
                    format!("stored artifact for revision {}", a.revision),
                    Some(a.revision.as_str()),
                )
            }
            Err(e) => {
                if before.is_some_and(|b| !b.ready && b.message == e.message) {
                    return;
                }
                (
                    Severity::Error,
                    "GitOperationFailed",
                    e.message.clone(),
                    None,
                )
            }
        };
        n.emit(&crate::notify::event(
            severity,
            reason,
            &message,
            revision,
            (
                SOURCE_API_VERSION,
                self.config
                    .source_settings(name)
                    .map_or("GitRepository", |s| s.kind),
                n.namespace(),
                name.as_str(),
            ),
            n.cluster(),
        ));
    }

    /// The decryptor plugins syncs with `decryption` use. Without them, a
    /// sync with encrypted objects fails with `DecryptionFailed`.
    #[must_use]
    pub fn with_decryptors(mut self, decryptors: Arc<dyn DecryptorRegistry>) -> Self {
        self.decryption.decryptors = Some(decryptors);
        self
    }

    /// Syncs that apply with another cluster connection than the host's
    /// (`kubeConfig`, `serviceAccountName`), by sync name.
    #[must_use]
    pub fn with_targets(mut self, targets: BTreeMap<Name, Arc<Cluster>>) -> Self {
        for (i, sync) in self.config.sync.iter().enumerate() {
            if let Some(c) = targets.get(&sync.name) {
                self.targets[i] = Arc::clone(c);
            }
        }
        self
    }

    /// Whether syncs whose status remains in the state directory but that
    /// left the config have their objects deleted as their `deletionPolicy`
    /// says. On by default; off for a config filtered to some syncs.
    #[must_use]
    pub fn collecting_removed(mut self, on: bool) -> Self {
        self.collect_removed = on;
        self
    }

    /// Asks `weir run` to fetch `source` now instead of at its next
    /// interval; a new revision then reconciles its syncs. `false` when no
    /// such source is declared.
    pub fn trigger(&self, source: &str) -> bool {
        match self.fetch_now.iter().find(|(n, _)| n.as_str() == source) {
            Some((_, n)) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// Fetches a source once, off the async runtime, within its timeout,
    /// and records the source's status.
    pub async fn fetch(&self, name: &Name) -> Result<Artifact, SourceError> {
        let Some(source) = self.sources.get(name).cloned() else {
            return Err(SourceError {
                message: format!("source {name:?} is not declared"),
                transient: false,
            });
        };
        let (timeout, url) = self
            .config
            .source_settings(name)
            .map(|g| (g.timeout.get(), g.url.to_owned()))
            .unwrap_or((Duration::from_secs(60), String::new()));
        let timeout = source.total_timeout().unwrap_or(timeout).max(timeout);
        // The source enforces its own `timeout` and says which source timed
        // out; this outer deadline, a little later, only catches a source
        // that does not stop.
        let result = fetch_with_timeout(source, timeout + Duration::from_secs(5), &url).await;
        self.record_source(name, &url, &result);
        result
    }

    /// What syncs of source `name` reconcile with after the fetch `r`: its
    /// artifact; or, when the fetch failed and the source has a last good
    /// artifact still on disk, that one, as Flux's Kustomizations keep
    /// applying (and correcting drift from) the last artifact of a failing
    /// GitRepository. The failure stays visible on the source (`weir get
    /// sources`, its notifications, `weir reconcile`'s exit code).
    fn or_last_good(
        &self,
        name: &Name,
        r: Result<Artifact, SourceError>,
    ) -> Result<Artifact, SourceError> {
        let Err(e) = r else {
            return r;
        };
        let dir = self.config.state_dir().join("sources");
        match read_source_status(&dir, name).and_then(|s| s.artifact) {
            Some(a) if a.dir.is_dir() => {
                tracing::warn!(source = %name, revision = %a.revision, error = %e, "fetch failed: its syncs use its last good artifact");
                Ok(a)
            }
            _ => Err(e),
        }
    }

    fn record_source(&self, name: &Name, url: &str, result: &Result<Artifact, SourceError>) {
        let dir = self.config.state_dir().join("sources");
        let before = read_source_status(&dir, name);
        if let Err(e) = write_source_status(&dir, name, url, result, before.as_ref()) {
            tracing::error!(source = %name, error = %e, "cannot write source status");
        }
        self.notify_source(name, before.as_ref(), result);
    }

    /// Why `sync` may not be reconciled now, naming every dependency that
    /// is not ready (`dependency "x" is not ready: …`, joined by `; `), or
    /// `None` when all are. `source` tells what a source currently has.
    fn dependencies_not_ready(
        &self,
        sync: &Sync,
        source: impl Fn(&Name) -> SourceState,
    ) -> Option<String> {
        let problems: Vec<String> = sync
            .depends_on
            .iter()
            .filter_map(|dep| {
                let problem = match self.store.load(dep.as_str()) {
                    Ok(status) => {
                        let state = match self.config.sync_index(dep) {
                            Some(i) => source(&self.config.sync[i].source),
                            None => SourceState::Unknown,
                        };
                        dependency_problem(status.as_ref(), &state)?
                    }
                    Err(e) => e.to_string(),
                };
                Some(format!(
                    "dependency {:?} is not ready: {problem}",
                    dep.as_str()
                ))
            })
            .collect();
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// Reconciles sync `idx` (or holds it for its dependencies when
    /// `blocked` says why), records an event when the outcome deserves one,
    /// and returns its status.
    async fn reconcile_sync(
        &self,
        idx: usize,
        artifact: Result<&Artifact, &SourceError>,
        blocked: Option<String>,
    ) -> SyncStatus {
        let sync = &self.config.sync[idx];
        let before = self.store.load(sync.name.as_str()).ok().flatten();
        let status = match blocked {
            Some(message) => hold_for_dependencies(sync, message, &self.store),
            None => {
                let mut s = reconcile(
                    sync,
                    artifact,
                    &self.renderers,
                    &self.decryption,
                    &self.targets[idx],
                    &self.store,
                    before.clone(),
                )
                .await;
                // What a removal must know once the sync is gone.
                let mut removal = Removal::of(sync);
                removal.kube_config = removal.kube_config.map(|p| self.config.resolve(&p));
                if s.removal.as_ref() != Some(&removal) {
                    s.removal = Some(removal);
                    if let Err(e) = self.store.save(&s) {
                        tracing::error!(sync = %s.name, error = %e, "cannot write status");
                    }
                }
                s
            }
        };
        self.events
            .record(crate::notify::sync_kind(sync), before.as_ref(), &status)
            .await;
        self.notify_sync(before.as_ref(), &status);
        status
    }

    /// One pass: fetch every source used by a sync once, then reconcile
    /// every sync once, dependencies first and otherwise in declaration
    /// order ([`Config::sync_order`]), up to `host.concurrency` at a time.
    /// A sync starts only once every sync it depends on has finished; one
    /// whose dependency is not ready after that (it failed, or was itself
    /// held) is reported `DependencyNotReady` without being attempted.
    /// Syncs that left the config are cleaned up first
    /// ([`Engine::collect_removed`]). Returns each sync's status, in the
    /// order they were started.
    pub async fn reconcile_once(&self) -> Vec<SyncStatus> {
        if self.collect_removed {
            self.collect_removed().await;
        }
        let order = self.config.sync_order();
        let mut needed: Vec<Name> = Vec::new();
        for &i in &order {
            let src = &self.config.sync[i].source;
            if !needed.contains(src) {
                needed.push(src.clone());
            }
        }
        let fetched: BTreeMap<Name, Result<Artifact, SourceError>> =
            futures::stream::iter(needed.into_iter().map(|n| async move {
                let r = self.fetch(&n).await;
                let r = self.or_last_good(&n, r);
                (n, r)
            }))
            .buffer_unordered(FETCH_CONCURRENCY)
            .collect()
            .await;
        let n = self.config.sync.len();
        let mut done = vec![false; n];
        let mut started: Vec<usize> = Vec::with_capacity(n);
        // Not started yet, in order.
        let mut waiting: Vec<usize> = order.clone();
        let mut results: BTreeMap<usize, SyncStatus> = BTreeMap::new();
        let mut running = futures::stream::FuturesUnordered::new();
        let limit = self.config.concurrency();
        loop {
            // Start every sync whose dependencies are done, in order.
            let mut still_waiting = Vec::with_capacity(waiting.len());
            for idx in waiting {
                if running.len() >= limit {
                    still_waiting.push(idx);
                    continue;
                }
                let sync = &self.config.sync[idx];
                let deps_done = sync
                    .depends_on
                    .iter()
                    .filter_map(|d| self.config.sync_index(d))
                    .all(|j| done[j]);
                if !deps_done {
                    still_waiting.push(idx);
                    continue;
                }
                started.push(idx);
                let artifact = match fetched.get(&sync.source) {
                    Some(Ok(a)) => Ok(a),
                    Some(Err(e)) => Err(e),
                    None => {
                        done[idx] = true;
                        continue;
                    }
                };
                // As Flux: suspension and the sync's own source are looked
                // at before its dependencies.
                let blocked = if sync.suspend || artifact.is_err() {
                    None
                } else {
                    self.dependencies_not_ready(sync, |src| match fetched.get(src) {
                        Some(Ok(a)) => SourceState::At(a.revision.clone()),
                        Some(Err(e)) => SourceState::Failed(e.message.clone()),
                        None => SourceState::NotFetched,
                    })
                };
                running
                    .push(async move { (idx, self.reconcile_sync(idx, artifact, blocked).await) });
            }
            waiting = still_waiting;
            let Some((idx, status)) = running.next().await else {
                break;
            };
            done[idx] = true;
            results.insert(idx, status);
        }
        started
            .into_iter()
            .filter_map(|i| results.remove(&i))
            .collect()
    }

    /// Cleans up after syncs that left the config: every status in the
    /// state directory without a `[[sync]]` of that name has its inventory
    /// deleted or orphaned as the `deletionPolicy` it had says, with the
    /// identity and cluster it applied with. Objects whose deletion is not
    /// confirmed stay in its inventory (and its status stays) until a later
    /// pass confirms it; then the status is removed.
    pub async fn collect_removed(&self) {
        let names = match self.store.names() {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot list sync statuses");
                return;
            }
        };
        for name in names {
            if self.config.sync.iter().any(|s| s.name.as_str() == name) {
                continue;
            }
            let status = match self.store.load(&name) {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(sync = %name, error = %e, "cannot read the status of a removed sync");
                    continue;
                }
            };
            let before = status.clone();
            let status = crate::removal::remove(status, &self.cluster).await;
            match status {
                None => {
                    tracing::info!(sync = %name, "sync removed from the config: cleaned up");
                    if let Err(e) = self.store.delete(&name) {
                        tracing::error!(sync = %name, error = %e, "cannot remove status");
                    }
                }
                Some(s) => {
                    if let Err(e) = self.store.save(&s) {
                        tracing::error!(sync = %name, error = %e, "cannot write status");
                    }
                    let kind = if before.helm.is_some() || s.helm.is_some() {
                        "HelmRelease"
                    } else {
                        "Sync"
                    };
                    self.events.record(kind, Some(&before), &s).await;
                    self.notify_sync(Some(&before), &s);
                }
            }
        }
    }

    /// Runs until `shutdown` resolves: sources fetch at their interval (or
    /// at once when [`Engine::trigger`]ed), syncs reconcile at theirs (±5%
    /// jitter) and on every new revision, up to `host.concurrency` at a
    /// time. A transient failure retries with backoff ([`retry_delay`]); a
    /// terminal one stalls the sync until its source has a new revision.
    /// Failures never stop the loop, and the last good state stays.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        if self.collect_removed {
            self.collect_removed().await;
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut channels: BTreeMap<Name, watch::Receiver<FetchResult>> = BTreeMap::new();
        for g in self.config.sources() {
            let (tx, rx) = watch::channel::<FetchResult>(None);
            channels.insert(g.name.clone(), rx);
            let engine = Arc::clone(&self);
            let name = g.name.clone();
            let interval = g.interval.get();
            let suspended = g.suspend;
            let now = self
                .fetch_now
                .get(&name)
                .cloned()
                .unwrap_or_else(|| Arc::new(Notify::new()));
            tasks.spawn(async move {
                let mut retry = FetchRetry::default();
                loop {
                    let mut delay = interval;
                    if !suspended || tx.borrow().is_none() {
                        let r = engine.fetch(&name).await;
                        delay = retry.delay_after(&r, interval);
                        match &r {
                            Ok(a) => {
                                tracing::info!(source = %name, revision = %a.revision, "fetched")
                            }
                            Err(e) => tracing::warn!(source = %name, error = %e, "fetch failed"),
                        }
                        let r = engine.or_last_good(&name, r);
                        tx.send_if_modified(|cur| {
                            let changed = !same_result(cur.as_ref(), &r);
                            *cur = Some(r);
                            changed
                        });
                    }
                    tokio::select! {
                        () = tokio::time::sleep(jitter(delay, INTERVAL_JITTER)) => {}
                        () = now.notified() => {
                            tracing::info!(source = %name, "fetching now (webhook)");
                        }
                    }
                }
            });
        }
        // `dependsOn` wake-ups: after each reconcile a sync notifies the
        // syncs that depend on it, so one waiting for it checks again at
        // once. `notify_one` keeps a permit when nobody waits yet, so a
        // reconcile that ends between a check and the wait is not missed.
        let syncs = &self.config.sync;
        let wake: Arc<Vec<Notify>> = Arc::new(syncs.iter().map(|_| Notify::new()).collect());
        let dependants: Vec<Vec<usize>> = syncs
            .iter()
            .map(|s| {
                (0..syncs.len())
                    .filter(|&j| syncs[j].depends_on.contains(&s.name))
                    .collect()
            })
            .collect();
        let channels = Arc::new(channels);
        let permits = Arc::new(tokio::sync::Semaphore::new(self.config.concurrency()));
        for (idx, sync) in syncs.iter().enumerate() {
            let Some(mut rx) = channels.get(&sync.source).cloned() else {
                continue;
            };
            let engine = Arc::clone(&self);
            let interval = sync.interval().get();
            let retry_interval = sync.retry_interval().get();
            let channels = Arc::clone(&channels);
            let wake = Arc::clone(&wake);
            let permits = Arc::clone(&permits);
            let dependants = dependants[idx].clone();
            tasks.spawn(async move {
                let sync = &engine.config.sync[idx];
                loop {
                    if rx.borrow().is_none() && rx.changed().await.is_err() {
                        return;
                    }
                    let current = rx.borrow_and_update().clone();
                    let Some(result) = current else { continue };
                    let blocked = if sync.suspend || result.is_err() {
                        None
                    } else {
                        engine.dependencies_not_ready(sync, |src| source_state(&channels, src))
                    };
                    let waiting = blocked.is_some();
                    let status = {
                        let _permit = permits.acquire().await;
                        engine.reconcile_sync(idx, result.as_ref(), blocked).await
                    };
                    for &j in &dependants {
                        wake[j].notify_one();
                    }
                    // Waiting for dependencies is not a failure of this
                    // sync: it neither grows nor resets the backoff.
                    let delay = if waiting {
                        Some(DEPENDENCY_RETRY.min(interval))
                    } else if status.ready {
                        tracing::info!(sync = %sync.name, "{}", status.message);
                        Some(jitter(interval, INTERVAL_JITTER))
                    } else if status.stalled() {
                        tracing::warn!(sync = %sync.name, reason = %status.reason, "stalled: waiting for a new revision");
                        None
                    } else if sync.suspend {
                        Some(interval)
                    } else {
                        let d = jitter(retry_delay(status.failures, retry_interval), RETRY_JITTER);
                        tracing::info!(sync = %sync.name, retry_in = ?d, "will retry");
                        Some(d)
                    };
                    let sleep = async {
                        match delay {
                            Some(d) => tokio::time::sleep(d).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = sleep => {}
                        r = rx.changed() => if r.is_err() { return },
                        () = wake[idx].notified(), if waiting => {}
                    }
                }
            });
        }
        shutdown.await;
        tracing::info!("shutting down");
        tasks.shutdown().await;
    }
}

/// Writes `<dir>/<name>.json` for the fetch `result`. As Flux's
/// GitRepository does, a failed fetch leaves the last good artifact in the
/// status (its directory stays on disk too); only `ready` and the message
/// say that the source is failing.
fn write_source_status(
    dir: &std::path::Path,
    name: &Name,
    url: &str,
    result: &Result<Artifact, SourceError>,
    before: Option<&SourceStatus>,
) -> std::io::Result<()> {
    let path = dir.join(format!("{name}.json"));
    let last_good = || before.and_then(|s| s.artifact.clone());
    let status = SourceStatus {
        name: name.to_string(),
        url: url.to_owned(),
        ready: result.is_ok(),
        message: match result {
            Ok(a) => format!("stored artifact for revision {}", a.revision),
            Err(e) => e.message.clone(),
        },
        artifact: match result {
            Ok(a) => Some(a.clone()),
            Err(_) => last_good(),
        },
        last_fetch_at: Some(now_unix()),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.json.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&status)?)?;
    std::fs::rename(&tmp, &path)
}

/// The stored status of source `name`, if there is a readable one.
fn read_source_status(dir: &std::path::Path, name: &Name) -> Option<SourceStatus> {
    std::fs::read(dir.join(format!("{name}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// When a source fetches next: after a transient failure (network, server)
/// with exponential backoff from 2s, doubling up to its interval; after a
/// success or a terminal failure (bad credentials, missing ref: retrying
/// sooner would not help) at its interval.
#[derive(Debug)]
struct FetchRetry {
    next: Duration,
}

impl FetchRetry {
    const FIRST: Duration = Duration::from_secs(2);
}

impl Default for FetchRetry {
    fn default() -> Self {
        FetchRetry { next: Self::FIRST }
    }
}

impl FetchRetry {
    fn delay_after(&mut self, r: &Result<Artifact, SourceError>, interval: Duration) -> Duration {
        match r {
            Err(e) if e.transient => {
                let d = self.next.min(interval);
                self.next = (self.next * 2).min(interval);
                d
            }
            _ => {
                self.next = Self::FIRST;
                interval
            }
        }
    }
}

/// How many sources `reconcile_once` fetches at once.
const FETCH_CONCURRENCY: usize = 4;

/// Jitter on intervals (±5%), so that syncs started together drift apart
/// instead of hitting the API server in lockstep.
const INTERVAL_JITTER: f64 = 0.05;

/// Jitter on retries (±10%).
const RETRY_JITTER: f64 = 0.1;

/// The first retry after a transient failure.
const FIRST_RETRY: Duration = Duration::from_secs(2);

/// The delay before retry number `failures` (1 after the first failure):
/// 2s, 4s, 8s, … doubling, at most `retry_interval` (jitter comes on top).
pub fn retry_delay(failures: u32, retry_interval: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(retry_interval)
}

/// `d` moved randomly by up to `fraction` of itself either way.
pub fn jitter(d: Duration, fraction: f64) -> Duration {
    use std::hash::BuildHasher;
    // A fresh std `RandomState` is seeded randomly: enough for jitter,
    // without a dependency on a random number crate.
    let r = std::hash::RandomState::new().hash_one(std::time::Instant::now());
    #[allow(clippy::cast_precision_loss)]
    let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
    d.mul_f64(1.0 + fraction * (2.0 * unit - 1.0))
}

/// What the fetch task of source `name` has now.
fn source_state(
    channels: &BTreeMap<Name, watch::Receiver<FetchResult>>,
    name: &Name,
) -> SourceState {
    let Some(rx) = channels.get(name) else {
        return SourceState::Unknown;
    };
    match &*rx.borrow() {
        None => SourceState::NotFetched,
        Some(Ok(a)) => SourceState::At(a.revision.clone()),
        Some(Err(e)) => SourceState::Failed(e.message.clone()),
    }
}

fn same_result(
    a: Option<&Result<Artifact, SourceError>>,
    b: &Result<Artifact, SourceError>,
) -> bool {
    match (a, b) {
        (Some(Ok(x)), Ok(y)) => x.revision == y.revision && x.digest == y.digest,
        (Some(Err(x)), Err(y)) => x == y,
        _ => false,
    }
}

/// Runs a blocking fetch on the blocking pool; past `timeout` it asks the
/// fetch to stop and reports a timeout naming the URL.
async fn fetch_with_timeout(
    source: Arc<dyn Source>,
    timeout: Duration,
    url: &str,
) -> Result<Artifact, SourceError> {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    let task = tokio::task::spawn_blocking(move || source.fetch(&flag));
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(SourceError {
            message: format!("fetch of {url} failed: {e}"),
            transient: true,
        }),
        Err(_) => {
            interrupt.store(true, Ordering::Relaxed);
            Err(SourceError {
                message: format!("fetch of {url} timed out after {}s", timeout.as_secs_f64()),
                transient: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Reason;

    fn applied(revision: &str) -> SyncStatus {
        let mut s = SyncStatus::new("infra");
        s.ready = true;
        s.reason = Reason::ReconciliationSucceeded;
        s.message = format!("applied revision {revision}: 1 created");
        s.last_applied_revision = Some(revision.into());
        s
    }

    #[test]
    fn a_failed_fetch_keeps_the_last_good_artifact_in_the_source_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let name: Name = "apps".parse().expect("name");
        let read = || -> SourceStatus {
            let b = std::fs::read(dir.path().join("apps.json")).expect("status");
            serde_json::from_slice(&b).expect("json")
        };
        let good = Artifact {
            revision: "main@sha1:a".into(),
            dir: "/state/artifacts/apps/a".into(),
            digest: "sha256:0".into(),
        };
        let failed = Err(SourceError {
            message: "git source \"apps\": cannot reach http://h/r.git".into(),
            transient: true,
        });
        let write = |r: &Result<Artifact, SourceError>| {
            let before = read_source_status(dir.path(), &name);
            write_source_status(dir.path(), &name, "http://h/r.git", r, before.as_ref())
                .expect("write");
        };
        // Failing before any success: no artifact.
        write(&failed);
        assert_eq!(read().artifact, None);
        write(&Ok(good.clone()));
        assert!(read().ready);
        write(&failed);
        let s = read();
        assert!(!s.ready);
        assert!(s.message.contains("cannot reach"), "{}", s.message);
        assert_eq!(s.artifact, Some(good));
    }

    #[test]
    fn transient_fetch_failures_back_off_up_to_the_interval_and_success_resets() {
        let interval = Duration::from_secs(60);
        let transient = Err(SourceError {
            message: "cannot reach".into(),
            transient: true,
        });
        let terminal = Err(SourceError {
            message: "authentication failed".into(),
            transient: false,
        });
        let ok = Ok(Artifact {
            revision: "main@sha1:a".into(),
            dir: "/a".into(),
            digest: "sha256:0".into(),
        });
        let mut r = FetchRetry::default();
        let delays: Vec<u64> = (0..7)
            .map(|_| r.delay_after(&transient, interval).as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(r.delay_after(&ok, interval), interval);
        assert_eq!(r.delay_after(&transient, interval).as_secs(), 2);
        assert_eq!(r.delay_after(&terminal, interval), interval);
        assert_eq!(r.delay_after(&transient, interval).as_secs(), 2);
    }

    #[test]
    fn retries_double_from_two_seconds_up_to_the_retry_interval() {
        let cap = Duration::from_secs(60);
        let d: Vec<u64> = (1..=7).map(|n| retry_delay(n, cap).as_secs()).collect();
        assert_eq!(d, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_delay(u32::MAX, cap), cap);
        assert_eq!(
            retry_delay(1, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_varies() {
        let base = Duration::from_secs(100);
        let all: Vec<Duration> = (0..200).map(|_| jitter(base, 0.05)).collect();
        assert!(
            all.iter()
                .all(|d| *d >= Duration::from_secs(95) && *d <= Duration::from_secs(105))
        );
        assert!(all.iter().any(|d| *d != all[0]), "no variation");
    }

    #[test]
    fn a_dependency_is_ready_when_it_succeeded_at_its_sources_revision() {
        let at = |r: &str| SourceState::At(r.into());
        assert_eq!(
            dependency_problem(Some(&applied("main@sha1:a")), &at("main@sha1:a")),
            None
        );
        assert_eq!(
            dependency_problem(Some(&applied("main@sha1:a")), &SourceState::Unknown),
            None,
            "without its source, the status alone decides"
        );
    }

    #[test]
    fn a_dependency_is_not_ready_when_it_failed_or_never_ran() {
        let at = SourceState::At("main@sha1:a".into());
        assert_eq!(
            dependency_problem(None, &at).as_deref(),
            Some("not reconciled yet")
        );
        let mut failed = applied("main@sha1:a");
        failed.ready = false;
        failed.reason = Reason::BuildFailed;
        failed.message = "bad.yaml: not YAML".into();
        assert_eq!(
            dependency_problem(Some(&failed), &at).as_deref(),
            Some("BuildFailed: bad.yaml: not YAML")
        );
    }

    #[test]
    fn a_ready_dependency_behind_its_source_is_not_ready() {
        let problem = dependency_problem(
            Some(&applied("main@sha1:a")),
            &SourceState::At("main@sha1:b".into()),
        );
        assert_eq!(
            problem.as_deref(),
            Some(
                "it has not applied its source's revision main@sha1:b yet (last applied: main@sha1:a)"
            )
        );
        let ready = applied("main@sha1:a");
        assert!(dependency_problem(Some(&ready), &SourceState::NotFetched).is_some());
        let failed = SourceState::Failed("fetch of http://x timed out".into());
        assert_eq!(
            dependency_problem(Some(&ready), &failed).as_deref(),
            Some("its source failed: fetch of http://x timed out")
        );
    }
}
