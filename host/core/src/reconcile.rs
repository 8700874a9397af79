//! One reconcile of one sync, as an explicit sequence of steps:
//! artifact → render → validate → decrypt (SOPS, [`crate::decrypt`]) →
//! customize (`namePrefix`, `commonMetadata`) → substitute (`postBuild`) →
//! staged apply → prune → health checks (`wait`, `healthChecks`) → status.
//!
//! Each step fails with exactly one [`Reason`]; status is written in one
//! place, at the end. Render, decryption and validation finish before the
//! first write, so a broken revision applies nothing and the last good
//! state stays.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use weir_config::{HealthCheck, SubstituteKind, SubstituteReference, Sync};

use crate::apply::{ApplyError, ApplyOptions, ApplyOutcome, Cluster};
use crate::decrypt::{DecryptContext, decrypt};
use crate::health::{Health, health};
use crate::inventory;
use crate::object::{Object, ObjectKey, split_api_version};
use crate::plugin::{RenderRequest, RendererRegistry};
use crate::source::{Artifact, SourceError};
use crate::status::{Action, Change, Reason, StatusStore, SyncStatus, now_unix};
use crate::substitute::{Undefined, Variables, substitute_objects};

/// A failed step: its reason, its message, and whether retrying may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct StepError {
    /// The step's failure reason.
    pub reason: Reason,
    /// What went wrong, naming the file, object, URL or plugin.
    pub message: String,
    /// Whether retrying the same revision may help.
    pub transient: bool,
}

/// Renders `path` of the artifact at `artifact_dir` with the named renderer
/// into validated objects. Shared by reconcile and `weir build`, so both see
/// exactly the same objects.
///
/// # Errors
/// [`Reason::BuildFailed`] naming the plugin and file, or every invalid
/// object.
pub async fn render(
    renderer: &str,
    path: &str,
    artifact_dir: &Path,
    renderers: &Arc<dyn RendererRegistry>,
) -> Result<Vec<Object>, StepError> {
    let rendered = render_with_json(renderer, path, artifact_dir, renderers).await?;
    Ok(rendered.into_iter().map(|(o, _)| o).collect())
}

/// [`render`], each object with the JSON text the renderer returned for
/// it: decryption needs it as it was (the SOPS MAC depends on key order,
/// which [`Object`] does not keep).
///
/// # Errors
/// As [`render`].
pub async fn render_with_json(
    renderer: &str,
    path: &str,
    artifact_dir: &Path,
    renderers: &Arc<dyn RendererRegistry>,
) -> Result<Vec<(Object, String)>, StepError> {
    let request = RenderRequest {
        path: path.to_owned(),
        options: Vec::new(),
    };
    render_request(renderer, request, artifact_dir, renderers).await
}

/// [`render_with_json`] with a whole request (renderer options).
///
/// # Errors
/// As [`render`].
pub async fn render_request(
    renderer: &str,
    request: RenderRequest,
    artifact_dir: &Path,
    renderers: &Arc<dyn RendererRegistry>,
) -> Result<Vec<(Object, String)>, StepError> {
    let build_failed = |message: String, transient: bool| StepError {
        reason: Reason::BuildFailed,
        message,
        transient,
    };
    let plugin = renderers
        .renderer(renderer)
        .map_err(|e| build_failed(e.to_string(), false))?;
    let dir = artifact_dir.to_path_buf();
    let rendered = tokio::task::spawn_blocking(move || plugin.render(&dir, &request))
        .await
        .map_err(|e| build_failed(format!("renderer task failed: {e}"), true))?
        .map_err(|e| build_failed(e.to_string(), e.kind.is_transient()))?;
    let mut objects = Vec::with_capacity(rendered.len());
    let mut problems = Vec::new();
    for r in rendered {
        match Object::from_json(&r.json, &r.origin) {
            Ok(o) => objects.push((o, r.json)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(build_failed(
            format!("renderer {renderer:?}: {}", problems.join("; ")),
            false,
        ));
    }
    Ok(objects)
}

/// Substitutes the sync's `postBuild` variables in rendered objects, reading
/// `substituteFrom` ConfigMaps and Secrets from the cluster. Objects pass
/// through unchanged when the sync has no `postBuild`.
///
/// # Errors
/// [`Reason::BuildFailed`], its message starting with `postBuild
/// substitution:`, naming a missing or unreadable ConfigMap or Secret, an
/// invalid variable name in one, or every object whose substitution failed
/// (with its file, and in strict mode the undefined variables).
pub async fn post_build(
    sync: &Sync,
    objects: Vec<Object>,
    cluster: &Cluster,
) -> Result<Vec<Object>, StepError> {
    let Some(pb) = &sync.post_build else {
        return Ok(objects);
    };
    // Variables from the cluster can change without a new revision, so
    // failures that involve them are worth retrying.
    let failed = |message: String, transient: bool| StepError {
        reason: Reason::BuildFailed,
        message: format!("postBuild substitution: {message}"),
        transient,
    };
    let mut vars = Variables::new();
    for r in &pb.substitute_from {
        match read_variables(cluster, r).await {
            Ok(Some(data)) => vars
                .add_source(&r.to_string(), data)
                .map_err(|m| failed(m, true))?,
            Ok(None) if r.optional => {}
            Ok(None) => {
                return Err(failed(
                    format!(
                        "{r} (postBuild.substituteFrom) does not exist: create it, or set `optional = true` to go on without it"
                    ),
                    true,
                ));
            }
            Err(e) => return Err(failed(format!("cannot read {r}: {e}"), true)),
        }
    }
    vars.add_inline(&pb.substitute);
    let undefined = if pb.strict {
        Undefined::Error
    } else {
        Undefined::Empty
    };
    substitute_objects(objects, &vars, undefined).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        failed(all.join("; "), !pb.substitute_from.is_empty())
    })
}

/// The data of a `substituteFrom` object, `None` when it does not exist.
/// Secret values arrive base64-decoded; they must be UTF-8 text.
async fn read_variables(
    cluster: &Cluster,
    r: &SubstituteReference,
) -> Result<Option<Vec<(String, String)>>, String> {
    let client = cluster.client().clone();
    let ns = r.namespace.as_str();
    match r.kind {
        SubstituteKind::ConfigMap => {
            let api: Api<ConfigMap> = Api::namespaced(client, ns);
            let cm = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
            Ok(cm.map(|cm| cm.data.unwrap_or_default().into_iter().collect()))
        }
        SubstituteKind::Secret => {
            let api: Api<Secret> = Api::namespaced(client, ns);
            let Some(secret) = api.get_opt(&r.name).await.map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let mut out = Vec::new();
            for (k, v) in secret.data.unwrap_or_default() {
                // Never print the value: it is a secret.
                let text =
                    String::from_utf8(v.0).map_err(|_| format!("key {k:?} is not UTF-8 text"))?;
                out.push((k, text));
            }
            Ok(Some(out))
        }
    }
}

/// Reconciles `sync` against the artifact (or the source's failure), writes
/// its status to `store`, and returns it. `previous` is the stored status
/// when the caller has read it already; otherwise it is read here.
pub async fn reconcile(
    sync: &Sync,
    artifact: Result<&Artifact, &SourceError>,
    renderers: &Arc<dyn RendererRegistry>,
    decryption: &DecryptContext,
    cluster: &Cluster,
    store: &StatusStore,
    previous: Option<SyncStatus>,
) -> SyncStatus {
    let name = sync.name.as_str();
    let stored = match previous {
        Some(s) => Ok(Some(s)),
        None => store.load(name),
    };
    let mut status = match stored {
        Ok(Some(s)) => s,
        Ok(None) => SyncStatus::new(name),
        Err(e) => {
            // A corrupt status file must not stop the sync; its inventory is
            // lost, so prune cannot run this time: say so loudly.
            tracing::error!(sync = name, error = %e, "status unreadable; prune skipped until it is rewritten");
            SyncStatus::new(name)
        }
    };
    status.last_attempt_at = Some(now_unix());
    if sync.suspend {
        status.ready = false;
        status.reason = Reason::Suspended;
        status.message = "suspended".into();
        status.finish(false);
        save(store, &status);
        return status;
    }
    let artifact = match artifact {
        Ok(a) => {
            status.last_attempted_revision = Some(a.revision.clone());
            a
        }
        Err(e) => {
            let e = StepError {
                reason: Reason::ArtifactFailed,
                message: e.message.clone(),
                transient: e.transient,
            };
            fail(&mut status, &e);
            status.finish(e.transient);
            save(store, &status);
            return status;
        }
    };
    // Written before the work, so that `weir get` shows `Reconciling` while
    // a long reconcile (a health check wait) runs; but not when this is the
    // revision already applied and ready: its periodic drift check would
    // only flip the stored status back and forth (and write every sync's
    // file twice per pass).
    let rechecking =
        status.ready && status.last_applied_revision.as_deref() == Some(artifact.revision.as_str());
    status.begin(&artifact.revision);
    if !rechecking {
        save(store, &status);
    }
    match run_steps(sync, artifact, renderers, decryption, cluster, &mut status).await {
        Ok(()) => status.finish(false),
        Err(e) => {
            fail(&mut status, &e);
            status.finish(e.transient);
        }
    }
    status.last_attempt_at = Some(now_unix());
    save(store, &status);
    status
}

/// Records that `sync` waits for its dependencies (Flux's
/// `DependencyNotReady`) without rendering or applying anything: the status
/// is not ready, with `message` naming the dependencies, and keeps its
/// revisions, change set and inventory. Writes the status to `store` and
/// returns it.
pub fn hold_for_dependencies(sync: &Sync, message: String, store: &StatusStore) -> SyncStatus {
    let name = sync.name.as_str();
    let mut status = match store.load(name) {
        Ok(Some(s)) => s,
        Ok(None) => SyncStatus::new(name),
        Err(e) => {
            tracing::error!(sync = name, error = %e, "status unreadable; rewriting it");
            SyncStatus::new(name)
        }
    };
    // Said once per change, not on every retry.
    if status.reason != Reason::DependencyNotReady || status.message != message {
        tracing::info!(sync = name, "{message}");
    }
    status.last_attempt_at = Some(now_unix());
    status.ready = false;
    status.reason = Reason::DependencyNotReady;
    status.message = message;
    status.finish(true);
    save(store, &status);
    status
}

async fn run_steps(
    sync: &Sync,
    artifact: &Artifact,
    renderers: &Arc<dyn RendererRegistry>,
    decryption: &DecryptContext,
    cluster: &Cluster,
    status: &mut SyncStatus,
) -> Result<(), StepError> {
    if let Some(release) = &sync.helm {
        return crate::helm::reconcile_release(
            sync, release, artifact, renderers, decryption, cluster, status,
        )
        .await;
    }
    let rendered = render_with_json(
        sync.renderer_in(&artifact.dir),
        &sync.path,
        &artifact.dir,
        renderers,
    )
    .await?;
    // Decrypted before customize and postBuild, as Flux does (decrypt, then
    // substitute); decrypted objects live in memory only.
    let objects = decrypt(sync, rendered, &artifact.dir, decryption).await?;
    let objects = crate::transform::customize(sync, objects);
    let objects = post_build(sync, objects, cluster).await?;
    let count = objects.len();
    let applied = apply_and_prune(
        sync,
        objects,
        sync.target_namespace.as_deref(),
        cluster,
        status,
    )
    .await?;
    status.last_applied_revision = Some(artifact.revision.clone());
    status.last_applied_at = Some(now_unix());
    // The revision counts as applied even when its objects do not become
    // ready, as in Flux (lastAppliedRevision moves, Ready=False).
    if sync.checks_health() {
        // Skipped objects (`ssa: Ignore`, `IfNotPresent`) were not applied
        // by this reconcile, so `wait` does not wait for them.
        let mut targets = if sync.wait {
            waitable(&applied)
        } else {
            Vec::new()
        };
        for h in &sync.health_checks {
            targets.push(health_check_key(cluster, h, sync.target_namespace.as_deref()).await?);
        }
        let mut seen = std::collections::HashSet::new();
        targets.retain(|k| seen.insert(k.id()));
        wait_healthy(cluster, targets, sync.timeout()).await?;
    }
    status.ready = true;
    status.reason = Reason::ReconciliationSucceeded;
    status.message = format!(
        "applied revision {}: {}",
        artifact.revision,
        summarize(&status.changes, count)
    );
    Ok(())
}

/// The objects of an apply that `wait` waits for: all but the skipped
/// ones (`ssa: Ignore`, `IfNotPresent`), which this apply did not write.
pub fn waitable(applied: &ApplyOutcome) -> Vec<ObjectKey> {
    applied
        .changes
        .iter()
        .filter(|(_, a)| *a != Action::Skipped)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Applies `objects` as `sync` owns them, then prunes (when the sync
/// prunes) what its inventory holds and this set does not; records the
/// change set, inventory and apply digests in `status`.
///
/// # Errors
/// [`Reason::ApplyFailed`] (the inventory keeps what was written) or
/// [`Reason::PruneFailed`] (the objects not confirmed deleted stay in the
/// inventory).
pub async fn apply_and_prune(
    sync: &Sync,
    objects: Vec<Object>,
    target_namespace: Option<&str>,
    cluster: &Cluster,
    status: &mut SyncStatus,
) -> Result<ApplyOutcome, StepError> {
    let options = ApplyOptions {
        force: sync.force,
        ..ApplyOptions::default()
    };
    let applied = match cluster
        .apply_known(
            objects,
            sync.name.as_str(),
            target_namespace,
            options,
            &status.applied,
        )
        .await
    {
        Ok(a) => a,
        // On failure the old inventory stays, plus whatever this revision
        // wrote before failing: prune must never forget an object that
        // exists.
        Err(f) => {
            let mut inventory = f.written;
            inventory.append(&mut status.inventory);
            dedup_inventory(&mut inventory);
            status.inventory = inventory;
            return Err(StepError {
                reason: Reason::ApplyFailed,
                transient: f.error.is_transient(),
                message: f.error.to_string(),
            });
        }
    };
    status.applied = applied.applied.clone();
    let new_keys: Vec<ObjectKey> = applied.changes.iter().map(|(k, _)| k.clone()).collect();
    let mut changes: Vec<Change> = applied
        .changes
        .iter()
        .map(|(k, a)| Change {
            object: k.to_string(),
            action: *a,
        })
        .collect();
    let mut inventory = new_keys.clone();
    let stale = inventory::stale(&status.inventory, &new_keys);
    let mut prune_error = None;
    if sync.prune && !stale.is_empty() {
        match cluster.prune(&stale, sync.name.as_str()).await {
            Ok(p) => {
                changes.extend(p.changes.iter().map(|(k, a)| Change {
                    object: k.to_string(),
                    action: *a,
                }));
                inventory.extend(p.remaining);
                if !p.errors.is_empty() {
                    prune_error = Some(StepError {
                        reason: Reason::PruneFailed,
                        message: format!("cannot delete {}", p.errors.join("; ")),
                        transient: true,
                    });
                }
            }
            Err(e) => {
                inventory.extend(stale);
                prune_error = Some(StepError {
                    reason: Reason::PruneFailed,
                    message: e.to_string(),
                    transient: e.is_transient(),
                });
            }
        }
    }
    dedup_inventory(&mut inventory);
    status.inventory = inventory;
    status.changes = changes;
    match prune_error {
        Some(e) => Err(e),
        None => Ok(applied),
    }
}

/// How often health checks poll the objects that are not ready yet.
const HEALTH_POLL: Duration = Duration::from_secs(2);

/// How many objects one health check poll reads at once.
const HEALTH_CONCURRENCY: usize = 8;

/// The object a `healthChecks` entry names. A namespaced kind without a
/// namespace gets the sync's `targetNamespace`, else `default` (as applied
/// objects do); a cluster-scoped kind loses any namespace.
async fn health_check_key(
    cluster: &Cluster,
    h: &HealthCheck,
    target_namespace: Option<&str>,
) -> Result<ObjectKey, StepError> {
    let (group, version) = split_api_version(&h.api_version);
    let namespaced = cluster
        .kind_scope(group, version, &h.kind)
        .await
        .map_err(|e| StepError {
            reason: Reason::HealthCheckFailed,
            message: format!("cannot check {h}: {e}"),
            transient: true,
        })?
        // Unknown kinds are reported as not found by the check itself.
        .unwrap_or(true);
    let namespace = namespaced.then(|| {
        h.namespace
            .as_ref()
            .map(|n| n.as_str())
            .or(target_namespace)
            .unwrap_or("default")
            .to_owned()
    });
    Ok(ObjectKey {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: h.kind.clone(),
        namespace,
        name: h.name.clone(),
    })
}

/// The health of one live object; a missing object (or kind) has failed.
async fn probe(cluster: &Cluster, key: &ObjectKey) -> Health {
    match cluster.get_live(key).await {
        Ok(Some(live)) => health(&live),
        Ok(None) => match cluster
            .kind_scope(&key.group, &key.version, &key.kind)
            .await
        {
            Ok(None) => Health::Failed(format!(
                "not found: the cluster does not serve kind {:?} in apiVersion {:?}",
                key.kind,
                key.api_version()
            )),
            _ => Health::Failed("not found".into()),
        },
        // The API server may come back before the timeout.
        Err(e @ ApplyError::Unavailable(_)) => Health::InProgress(format!("cannot read it: {e}")),
        Err(e) => Health::Failed(e.to_string()),
    }
}

/// Polls `targets` until every one is ready, any has failed (waiting will
/// not fix it, so this stops early), or `timeout` passes. Objects are read
/// again only until they are ready.
///
/// # Errors
/// [`Reason::HealthCheckFailed`], the message naming every object that is
/// not ready as `Kind/namespace/name: reason`.
pub async fn wait_healthy(
    cluster: &Cluster,
    targets: Vec<ObjectKey>,
    timeout: weir_config::Duration,
) -> Result<(), StepError> {
    let total = targets.len();
    let deadline = tokio::time::Instant::now() + timeout.get();
    let mut pending: Vec<(ObjectKey, Health)> = targets
        .into_iter()
        .map(|k| (k, Health::InProgress("not checked yet".into())))
        .collect();
    loop {
        // Collected first: a stream over a borrowing closure held across the
        // await trips rustc's higher-ranked `Send` check in `Engine::run`.
        let probes: Vec<_> = pending.iter().map(|(k, _)| probe(cluster, k)).collect();
        let results: Vec<Health> = futures::stream::iter(probes)
            .buffered(HEALTH_CONCURRENCY)
            .collect()
            .await;
        for ((_, h), r) in pending.iter_mut().zip(results) {
            *h = r;
        }
        pending.retain(|(_, h)| !h.is_ready());
        if pending.is_empty() {
            return Ok(());
        }
        let list = || {
            pending
                .iter()
                .map(|(k, h)| match h {
                    Health::InProgress(r) | Health::Failed(r) => format!("{k}: {r}"),
                    Health::Ready => format!("{k}: ready"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let not_ready = pending.len();
        if pending.iter().any(|(_, h)| h.is_failed()) {
            return Err(StepError {
                reason: Reason::HealthCheckFailed,
                message: format!(
                    "health check failed: {not_ready} of {total} objects not ready: {}",
                    list()
                ),
                transient: true,
            });
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(StepError {
                reason: Reason::HealthCheckFailed,
                message: format!(
                    "health check timed out after {timeout}: {not_ready} of {total} objects not ready: {}",
                    list()
                ),
                transient: true,
            });
        }
        tracing::info!(
            waiting = not_ready,
            of = total,
            first = %pending[0].0,
            reason = %pending[0].1,
            "waiting for objects to become ready"
        );
        tokio::time::sleep(HEALTH_POLL.min(deadline - now)).await;
    }
}

/// Sorts by identity and keeps one entry per object (the first, which is the
/// newest: callers put new entries first).
fn dedup_inventory(inventory: &mut Vec<ObjectKey>) {
    inventory.sort_by_key(ObjectKey::id);
    inventory.dedup_by(|a, b| a.id() == b.id());
}

/// `3 created, 1 configured, 10 unchanged` — zero counts left out.
pub fn summarize(changes: &[Change], objects: usize) -> String {
    let mut parts = Vec::new();
    for a in [
        Action::Created,
        Action::Configured,
        Action::Unchanged,
        Action::Deleted,
        Action::Skipped,
    ] {
        let n = changes.iter().filter(|c| c.action == a).count();
        if n > 0 {
            parts.push(format!("{n} {a}"));
        }
    }
    if parts.is_empty() {
        format!("{objects} objects")
    } else {
        parts.join(", ")
    }
}

fn fail(status: &mut SyncStatus, e: &StepError) {
    status.ready = false;
    status.reason = e.reason;
    status.message = e.message.clone();
    tracing::warn!(sync = %status.name, reason = %e.reason, error = %e.message, "reconcile failed");
}

fn save(store: &StatusStore, status: &SyncStatus) {
    if let Err(e) = store.save(status) {
        tracing::error!(sync = %status.name, error = %e, "cannot write status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_actions_and_skips_zeroes() {
        let c = |action| Change {
            object: "x".into(),
            action,
        };
        let changes = [
            c(Action::Created),
            c(Action::Unchanged),
            c(Action::Unchanged),
        ];
        assert_eq!(summarize(&changes, 3), "1 created, 2 unchanged");
        assert_eq!(summarize(&[], 0), "0 objects");
    }
}
