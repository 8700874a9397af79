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

use crate::apply::Cluster;
use crate::plugin::RendererRegistry;
use crate::reconcile::{hold_for_dependencies, reconcile};
use crate::source::{Artifact, Source, SourceError};
use crate::status::{StatusStore, SyncStatus, now_unix};

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

/// Runs syncs against one cluster.
pub struct Engine {
    config: Arc<Config>,
    sources: BTreeMap<Name, Arc<dyn Source>>,
    renderers: Arc<dyn RendererRegistry>,
    cluster: Arc<Cluster>,
    store: StatusStore,
}

impl Engine {
    /// An engine for `config`, with one [`Source`] per declared git source
    /// (by name), the renderer registry and a cluster connection.
    pub fn new(
        config: Arc<Config>,
        sources: BTreeMap<Name, Arc<dyn Source>>,
        renderers: Arc<dyn RendererRegistry>,
        cluster: Arc<Cluster>,
    ) -> Self {
        let store = StatusStore::new(&config.state_dir());
        Engine {
            config,
            sources,
            renderers,
            cluster,
            store,
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
            .git_source(name)
            .map(|g| (g.timeout().get(), g.url.clone()))
            .unwrap_or((Duration::from_secs(60), String::new()));
        // The source enforces its own `timeout` and says which source timed
        // out; this outer deadline, a little later, only catches a source
        // that does not stop.
        let result = fetch_with_timeout(source, timeout + Duration::from_secs(5), &url).await;
        self.record_source(name, &url, &result);
        result
    }

    fn record_source(&self, name: &Name, url: &str, result: &Result<Artifact, SourceError>) {
        let dir = self.config.state_dir().join("sources");
        if let Err(e) = write_source_status(&dir, name, url, result) {
            tracing::error!(source = %name, error = %e, "cannot write source status");
        }
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

    /// One pass: fetch every source used by a sync once, then reconcile
    /// every sync once, dependencies first and otherwise in declaration
    /// order ([`Config::sync_order`]). A sync whose dependency is not ready
    /// after this pass reached it (it failed, or was itself held) is
    /// reported `DependencyNotReady` without being attempted. Returns each
    /// sync's status, in the order they were reconciled.
    pub async fn reconcile_once(&self) -> Vec<SyncStatus> {
        let mut fetched: BTreeMap<Name, Result<Artifact, SourceError>> = BTreeMap::new();
        let mut out = Vec::new();
        for idx in self.config.sync_order() {
            let sync = &self.config.sync[idx];
            if !fetched.contains_key(&sync.source) {
                let r = self.fetch(&sync.source).await;
                fetched.insert(sync.source.clone(), r);
            }
            let artifact = match fetched.get(&sync.source) {
                Some(Ok(a)) => Ok(a),
                Some(Err(e)) => Err(e),
                None => continue,
            };
            // As Flux: suspension and the sync's own source are looked at
            // before its dependencies.
            let blocked = if sync.suspend || artifact.is_err() {
                None
            } else {
                self.dependencies_not_ready(sync, |src| match fetched.get(src) {
                    Some(Ok(a)) => SourceState::At(a.revision.clone()),
                    Some(Err(e)) => SourceState::Failed(e.message.clone()),
                    None => SourceState::NotFetched,
                })
            };
            let status = match blocked {
                Some(message) => hold_for_dependencies(sync, message, &self.store),
                None => {
                    reconcile(sync, artifact, &self.renderers, &self.cluster, &self.store).await
                }
            };
            out.push(status);
        }
        out
    }

    /// Runs until `shutdown` resolves: sources fetch at their interval, syncs
    /// reconcile at theirs and on every new revision. Failures never stop
    /// the loop; they retry with backoff, and the last good state stays.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut channels: BTreeMap<Name, watch::Receiver<FetchResult>> = BTreeMap::new();
        for g in &self.config.git {
            let (tx, rx) = watch::channel::<FetchResult>(None);
            channels.insert(g.name.clone(), rx);
            let engine = Arc::clone(&self);
            let name = g.name.clone();
            let interval = g.interval().get();
            let suspended = g.suspend;
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
                        tx.send_if_modified(|cur| {
                            let changed = !same_result(cur.as_ref(), &r);
                            *cur = Some(r);
                            changed
                        });
                    }
                    tokio::time::sleep(delay).await;
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
        for (idx, sync) in syncs.iter().enumerate() {
            let Some(mut rx) = channels.get(&sync.source).cloned() else {
                continue;
            };
            let engine = Arc::clone(&self);
            let interval = sync.interval().get();
            let channels = Arc::clone(&channels);
            let wake = Arc::clone(&wake);
            let dependants = dependants[idx].clone();
            tasks.spawn(async move {
                let sync = &engine.config.sync[idx];
                let mut backoff = Duration::from_secs(2);
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
                    let status = match blocked {
                        Some(message) => hold_for_dependencies(sync, message, &engine.store),
                        None => {
                            reconcile(
                                sync,
                                result.as_ref(),
                                &engine.renderers,
                                &engine.cluster,
                                &engine.store,
                            )
                            .await
                        }
                    };
                    for &j in &dependants {
                        wake[j].notify_one();
                    }
                    // Waiting for dependencies is not a failure of this
                    // sync: it neither grows nor resets the backoff.
                    let delay = if waiting {
                        DEPENDENCY_RETRY.min(interval)
                    } else if status.ready {
                        backoff = Duration::from_secs(2);
                        tracing::info!(sync = %sync.name, "{}", status.message);
                        interval
                    } else {
                        let d = backoff.min(interval);
                        backoff = (backoff * 2).min(Duration::from_secs(300));
                        d
                    };
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
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
) -> std::io::Result<()> {
    let path = dir.join(format!("{name}.json"));
    let last_good = || {
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<SourceStatus>(&b).ok())
            .and_then(|s| s.artifact)
    };
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
        // Failing before any success: no artifact.
        write_source_status(dir.path(), &name, "http://h/r.git", &failed).expect("write");
        assert_eq!(read().artifact, None);
        write_source_status(dir.path(), &name, "http://h/r.git", &Ok(good.clone())).expect("write");
        assert!(read().ready);
        write_source_status(dir.path(), &name, "http://h/r.git", &failed).expect("write");
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
