//! Scheduling: one task per source fetching at its interval, one task per
//! sync reconciling at its interval and whenever its source produces a new
//! revision, with backoff after failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use weir_config::{Config, Name};

use crate::apply::Cluster;
use crate::plugin::RendererRegistry;
use crate::reconcile::reconcile;
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
        let result = fetch_with_timeout(source, timeout, &url).await;
        self.record_source(name, &url, &result);
        result
    }

    fn record_source(&self, name: &Name, url: &str, result: &Result<Artifact, SourceError>) {
        let status = SourceStatus {
            name: name.to_string(),
            url: url.to_owned(),
            ready: result.is_ok(),
            message: match result {
                Ok(a) => format!("stored artifact for revision {}", a.revision),
                Err(e) => e.message.clone(),
            },
            artifact: result.as_ref().ok().cloned(),
            last_fetch_at: Some(now_unix()),
        };
        let dir = self.config.state_dir().join("sources");
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!(".{name}.json.tmp"));
            std::fs::write(&tmp, serde_json::to_vec_pretty(&status)?)?;
            std::fs::rename(&tmp, dir.join(format!("{name}.json")))
        };
        if let Err(e) = write() {
            tracing::error!(source = %name, error = %e, "cannot write source status");
        }
    }

    /// One pass: fetch every source used by a sync once, then reconcile
    /// every sync once, in declaration order. Returns each sync's status.
    pub async fn reconcile_once(&self) -> Vec<SyncStatus> {
        let mut fetched: BTreeMap<Name, Result<Artifact, SourceError>> = BTreeMap::new();
        let mut out = Vec::new();
        for sync in &self.config.sync {
            if !fetched.contains_key(&sync.source) {
                let r = self.fetch(&sync.source).await;
                fetched.insert(sync.source.clone(), r);
            }
            let artifact = match fetched.get(&sync.source) {
                Some(Ok(a)) => Ok(a),
                Some(Err(e)) => Err(e),
                None => continue,
            };
            out.push(reconcile(sync, artifact, &self.renderers, &self.cluster, &self.store).await);
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
                loop {
                    if !suspended || tx.borrow().is_none() {
                        let r = engine.fetch(&name).await;
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
                    tokio::time::sleep(interval).await;
                }
            });
        }
        for (idx, sync) in self.config.sync.iter().enumerate() {
            let Some(mut rx) = channels.get(&sync.source).cloned() else {
                continue;
            };
            let engine = Arc::clone(&self);
            let interval = sync.interval().get();
            tasks.spawn(async move {
                let sync = &engine.config.sync[idx];
                let mut backoff = Duration::from_secs(2);
                loop {
                    if rx.borrow().is_none() && rx.changed().await.is_err() {
                        return;
                    }
                    let current = rx.borrow_and_update().clone();
                    let Some(result) = current else { continue };
                    let status = reconcile(
                        sync,
                        result.as_ref(),
                        &engine.renderers,
                        &engine.cluster,
                        &engine.store,
                    )
                    .await;
                    let delay = if status.ready {
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
                    }
                }
            });
        }
        shutdown.await;
        tracing::info!("shutting down");
        tasks.shutdown().await;
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
