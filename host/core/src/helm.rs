//! Helm releases: install, upgrade, test, remediate (rollback or
//! uninstall) and uninstall, as Flux's helm-controller does, with the
//! release history in Helm's own storage ([`storage`]).
//!
//! A release is a [`Sync`] whose [`Sync::helm`] is set; the engine
//! schedules it like any sync and [`crate::reconcile`] hands it to
//! [`reconcile_release`]. The chart is rendered by the `helm` renderer
//! plugin; objects are applied with the sync machinery
//! ([`crate::reconcile::apply_and_prune`], [`crate::reconcile::wait_healthy`]),
//! so inventory, prune, drift digests and health rules are the same as for
//! syncs. What Helm adds:
//!
//! - a release record per revision, written `pending-*` before the first
//!   write and `deployed`/`failed` after, the previous deployed one
//!   `superseded`, at most `maxHistory` kept;
//! - a new revision only when the chart or the values changed (a digest of
//!   both, as Flux), not on every source commit;
//! - hooks run apart, ordered by weight, with Helm's delete policies;
//! - CRDs of `crds/` applied by the install/upgrade CRD policy and never
//!   deleted;
//! - remediation with retries: a failed install is uninstalled, a failed
//!   upgrade rolled back (or uninstalled), and retried;
//! - a record left `pending-*` by a crash is marked `failed` at the next
//!   reconcile, so a release never stays stuck.

pub mod storage;
mod values;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use weir_config::Sync;
use weir_config::helm::{
    CrdPolicy, DriftIgnore, DriftMode, DriftTarget, HelmRelease, RemediationStrategy,
};

use crate::apply::{ApplyOptions, Cluster, SSA_ANNOTATION};
use crate::decrypt::DecryptContext;
use crate::object::{Object, ObjectKey};
use crate::plugin::{OptionValue, RenderRequest, RendererRegistry};
use crate::reconcile::{
    StepError, apply_and_prune, render_request, summarize, wait_healthy, waitable,
};
use crate::source::Artifact;
use crate::status::{Action, Reason, SyncStatus, now_unix, rfc3339};
use storage::{Hook, HookRun, Info, Release, Storage, StorageError, status as st};

/// The annotation that makes a rendered object a hook.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
/// A hook's ordering weight.
pub const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// A hook's delete policies.
pub const HOOK_DELETE_ANNOTATION: &str = "helm.sh/hook-delete-policy";
/// Helm's ownership annotations and label, set on every object so the Helm
/// CLI recognises the objects as the release's.
const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// What weir remembers of a release between reconciles (in the sync's
/// status), and what uninstalling it needs once it left the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmState {
    /// The Helm release name.
    pub release_name: String,
    /// Where its records are.
    pub storage_namespace: String,
    /// The namespace it installs into.
    pub namespace: String,
    /// The revision weir last deployed (0: none).
    #[serde(default)]
    pub revision: u32,
    /// The chart-and-values digest of that revision.
    #[serde(default)]
    pub digest: String,
    /// The digest of the last failed attempt, and how many attempts failed
    /// for it in a row (remediation retries are counted against it).
    #[serde(default)]
    pub failed_digest: String,
    /// See `failed_digest`.
    #[serde(default)]
    pub failed_attempts: u32,
    /// The message of the last failed attempt.
    #[serde(default)]
    pub last_error: String,
    /// `uninstall.keepHistory` when it last reconciled.
    #[serde(default)]
    pub keep_history: bool,
    /// `uninstall.disableHooks` when it last reconciled.
    #[serde(default)]
    pub disable_hooks: bool,
    /// The action timeout, in seconds.
    #[serde(default)]
    pub timeout_secs: u64,
}

/// What a render gives for one revision.
struct Rendering {
    /// CRDs of `crds/` directories.
    crds: Vec<Object>,
    /// The release's objects.
    manifests: Vec<Object>,
    /// Hooks, in render order.
    hooks: Vec<Object>,
}

fn step(reason: Reason, message: String, transient: bool) -> StepError {
    StepError {
        reason,
        message,
        transient,
    }
}

fn storage_failed(reason: Reason, e: &StorageError) -> StepError {
    step(reason, e.to_string(), e.is_transient())
}

/// Reconciles one release: installs it, upgrades it when its chart or
/// values changed, remediates a failure, or (nothing changed) leaves it —
/// correcting drift when `driftDetection` is enabled.
///
/// # Errors
/// A [`StepError`] whose message names the release, the step and the
/// object, hook or file.
pub async fn reconcile_release(
    sync: &Sync,
    hr: &HelmRelease,
    artifact: &Artifact,
    renderers: &Arc<dyn RendererRegistry>,
    decryption: &DecryptContext,
    cluster: &Cluster,
    status: &mut SyncStatus,
) -> Result<(), StepError> {
    let release = hr.release_name();
    let namespace = hr.namespace().to_owned();
    let mut state = status.helm.clone().unwrap_or_default();
    state.release_name.clone_from(&release);
    state.storage_namespace = hr.storage_namespace().to_owned();
    state.namespace.clone_from(&namespace);
    state.keep_history = hr.uninstall.keep_history;
    state.disable_hooks = hr.uninstall.disable_hooks;
    state.timeout_secs = hr.timeout().as_secs();
    let result = run(
        sync, hr, artifact, renderers, decryption, cluster, status, &mut state,
    )
    .await;
    status.helm = Some(state);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    sync: &Sync,
    hr: &HelmRelease,
    artifact: &Artifact,
    renderers: &Arc<dyn RendererRegistry>,
    decryption: &DecryptContext,
    cluster: &Cluster,
    status: &mut SyncStatus,
    state: &mut HelmState,
) -> Result<(), StepError> {
    let release = state.release_name.clone();
    let storage = Storage::new(cluster.client().clone(), &state.storage_namespace, &release);
    let mut history = storage
        .history()
        .await
        .map_err(|e| storage_failed(Reason::InstallFailed, &e))?;
    recover_pending(&storage, &mut history).await?;

    let values = values::compose(hr, artifact, decryption, cluster).await?;
    let chart_path = artifact.dir.join(&hr.chart);
    let chart = values::chart_record(&chart_path).map_err(|m| {
        step(
            Reason::BuildFailed,
            format!(
                "release {:?}: chart {:?}: {m}",
                sync.name.as_str(),
                hr.chart
            ),
            false,
        )
    })?;
    let digest = config_digest(&chart_path, &values);

    let deployed = history
        .iter()
        .rev()
        .find(|r| r.info.status == st::DEPLOYED)
        .cloned();
    let latest = history.last().map_or(0, |r| r.version);

    if let Some(d) = &deployed
        && state.revision == d.version
        && state.digest == digest
    {
        return up_to_date(sync, hr, d, cluster, status, artifact).await;
    }
    let retries = if deployed.is_some() {
        hr.upgrade.remediation.retries
    } else {
        hr.install.remediation.retries
    };
    if state.failed_digest == digest && state.failed_attempts > retries {
        return Err(step(
            if deployed.is_some() {
                Reason::UpgradeFailed
            } else {
                Reason::InstallFailed
            },
            format!(
                "release {release:?} failed {} time(s) with this chart and these values, and remediation retries ({retries}) are used up: fix the chart or values (the next change retries); last error: {}",
                state.failed_attempts, state.last_error
            ),
            false,
        ));
    }

    let revision = latest + 1;
    let upgrade = deployed.is_some();
    let reason = if upgrade {
        Reason::UpgradeFailed
    } else {
        Reason::InstallFailed
    };
    // `.Capabilities` from the target cluster, as `helm install` has them.
    let kube_version = cluster
        .client()
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .map_err(|e| {
            step(
                reason,
                format!("cannot read the cluster's version: {e}"),
                true,
            )
        })?;
    let api_versions = cluster.api_versions().await.map_err(|e| {
        step(
            reason,
            format!("cannot list the cluster's API versions: {e}"),
            e.is_transient(),
        )
    })?;
    let rendering = render(
        sync,
        hr,
        artifact,
        renderers,
        &values,
        revision,
        upgrade,
        (&kube_version, api_versions),
    )
    .await?;

    // The name `Chart.yaml` gives, as already read into the record (not
    // the chart read again, archive and all).
    let name = chart["metadata"]["name"]
        .as_str()
        .map_or_else(|| values::chart_name(&chart_path), str::to_owned);
    let now = rfc3339(now_unix());
    let mut record = Release {
        name: release.clone(),
        info: Info {
            first_deployed: deployed
                .as_ref()
                .map_or_else(|| now.clone(), |d| d.info.first_deployed.clone()),
            last_deployed: now.clone(),
            description: if upgrade {
                "Preparing upgrade".into()
            } else {
                "Initial install underway".into()
            },
            status: if upgrade {
                st::PENDING_UPGRADE.into()
            } else {
                st::PENDING_INSTALL.into()
            },
            ..Info::default()
        },
        chart,
        config: Value::Object(values.clone()),
        manifest: manifest_text(&rendering.manifests, &hr.chart, &name),
        hooks: hook_records(&rendering.hooks, &hr.chart, &name),
        version: revision,
        namespace: state.namespace.clone(),
        // Helm 4 replays a release's apply method in later upgrades and
        // rollbacks. Server-side apply without forcing conflicts (Helm's
        // default) fails on fields weir's field manager owns, so weir's
        // records say client-side: the Helm CLI then patches weir's
        // objects without conflicts.
        rest: Map::from_iter([("apply_method".to_owned(), Value::from("csa"))]),
    };
    if !upgrade && hr.install.create_namespace {
        create_namespace(&state.namespace, sync.name.as_str(), cluster, reason).await?;
    }
    storage
        .create(&record)
        .await
        .map_err(|e| storage_failed(reason, &e))?;

    let outcome = perform(sync, hr, upgrade, &rendering, &mut record, cluster, status).await;
    match outcome {
        Ok(count) => {
            record.info.status = st::DEPLOYED.into();
            record.info.description = if upgrade {
                "Upgrade complete".into()
            } else {
                "Install complete".into()
            };
            storage
                .update(&record)
                .await
                .map_err(|e| storage_failed(reason, &e))?;
            if let Some(mut d) = deployed {
                d.info.status = st::SUPERSEDED.into();
                storage
                    .update(&d)
                    .await
                    .map_err(|e| storage_failed(reason, &e))?;
            }
            prune_history(&storage, hr.max_history()).await;
            take_over_records(&storage).await;
            state.revision = revision;
            state.digest = digest;
            state.failed_digest.clear();
            state.failed_attempts = 0;
            state.last_error.clear();
            status.last_applied_revision = Some(artifact.revision.clone());
            status.last_applied_at = Some(now_unix());
            status.ready = true;
            status.reason = Reason::ReconciliationSucceeded;
            status.message = format!(
                "Helm {} of release {release:?} succeeded: revision {revision} from revision {}: {}",
                if upgrade { "upgrade" } else { "install" },
                artifact.revision,
                summarize(&status.changes, count)
            );
            Ok(())
        }
        Err(e) => {
            record.info.status = st::FAILED.into();
            record.info.description = format!("Release {release:?} failed: {}", e.message);
            if let Err(se) = storage.update(&record).await {
                tracing::error!(release = %release, error = %se, "cannot mark the release record failed");
            }
            if state.failed_digest == digest {
                state.failed_attempts += 1;
            } else {
                state.failed_digest = digest;
                state.failed_attempts = 1;
            }
            let remedy = if retries == 0 {
                String::new()
            } else {
                let strategy = if upgrade {
                    hr.upgrade.remediation.strategy
                } else {
                    RemediationStrategy::Uninstall
                };
                match remediate(
                    sync,
                    strategy,
                    deployed.as_ref(),
                    &storage,
                    cluster,
                    status,
                    state,
                )
                .await
                {
                    Ok(m) => format!("; {m}"),
                    Err(m) => format!("; remediation failed: {m}"),
                }
            };
            state.last_error.clone_from(&e.message);
            let more = state.failed_attempts <= retries;
            Err(step(
                e.reason,
                format!(
                    "{}{remedy}{}",
                    e.message,
                    if retries == 0 {
                        String::new()
                    } else if more {
                        format!(
                            "; retrying ({} of {retries} retries used)",
                            state.failed_attempts
                        )
                    } else {
                        format!("; remediation retries ({retries}) used up")
                    }
                ),
                // No remediation, or retries used up: wait for a change,
                // as Flux does.
                retries > 0 && more,
            ))
        }
    }
}

/// Nothing changed since the deployed revision. Drift detection compares
/// the deployed revision's manifest with the cluster (a dry-run apply):
/// `enabled` writes the objects that drifted, `warn` reports them; no new
/// revision either way. `disabled` writes and reads nothing.
async fn up_to_date(
    sync: &Sync,
    hr: &HelmRelease,
    deployed: &Release,
    cluster: &Cluster,
    status: &mut SyncStatus,
    artifact: &Artifact,
) -> Result<(), StepError> {
    let release = &deployed.name;
    let mut drift = String::new();
    let mode = hr.drift_detection.mode;
    if mode != DriftMode::Disabled {
        let objects = parse_manifest(&deployed.manifest).map_err(|m| {
            step(
                Reason::UpgradeFailed,
                format!("release {release:?} revision {}: {m}", deployed.version),
                false,
            )
        })?;
        let objects = prepare(objects, hr, &deployed.namespace, cluster).await?;
        let objects = ignore_fields(objects, &hr.drift_detection.ignore, cluster).await?;
        let count = objects.len();
        if mode == DriftMode::Enabled {
            apply_and_prune(sync, objects, None, cluster, status).await?;
            drift = format!(", drift corrected: {}", summarize(&status.changes, count));
        } else {
            let planned = cluster
                .apply_known(
                    objects,
                    sync.name.as_str(),
                    None,
                    ApplyOptions {
                        dry_run: true,
                        ..ApplyOptions::default()
                    },
                    &status.applied,
                )
                .await
                .map_err(|f| {
                    step(
                        Reason::UpgradeFailed,
                        f.error.to_string(),
                        f.error.is_transient(),
                    )
                })?;
            let drifted: Vec<String> = planned
                .changes
                .iter()
                .filter(|(_, a)| matches!(a, Action::Created | Action::Configured))
                .map(|(k, a)| {
                    format!(
                        "{k} ({})",
                        if *a == Action::Created {
                            "deleted"
                        } else {
                            "changed"
                        }
                    )
                })
                .collect();
            if !drifted.is_empty() {
                tracing::warn!(release = %release, objects = %drifted.join(", "), "drift detected (driftDetection.mode = warn: not corrected)");
                drift = format!(
                    ", drift detected and not corrected (driftDetection.mode = warn): {}",
                    drifted.join(", ")
                );
            }
        }
    }
    status.last_applied_revision = Some(artifact.revision.clone());
    status.ready = true;
    status.reason = Reason::ReconciliationSucceeded;
    status.message = format!(
        "release {release:?} is up to date at revision {}{drift}",
        deployed.version
    );
    Ok(())
}

/// Whether `o` is one of the objects `target` selects.
fn selects(target: Option<&DriftTarget>, o: &Object) -> bool {
    let Some(t) = target else {
        return true;
    };
    let (g, v) = o.group_version();
    let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    eq(&t.group, g)
        && eq(&t.version, v)
        && eq(&t.kind, o.kind())
        && eq(&t.name, o.name())
        && eq(&t.namespace, o.namespace().unwrap_or(""))
}

/// Gives the ignored fields of each selected object the live object's
/// values (or removes them when the live object has none), so that they
/// neither count as drift nor are written back.
async fn ignore_fields(
    mut objects: Vec<Object>,
    rules: &[DriftIgnore],
    cluster: &Cluster,
) -> Result<Vec<Object>, StepError> {
    if rules.is_empty() {
        return Ok(objects);
    }
    for o in &mut objects {
        let paths: Vec<&String> = rules
            .iter()
            .filter(|r| selects(r.target.as_ref(), o))
            .flat_map(|r| &r.paths)
            .collect();
        if paths.is_empty() {
            continue;
        }
        let live = cluster.get_live(&o.key()).await.map_err(|e| {
            step(
                Reason::UpgradeFailed,
                format!("drift detection: {e}"),
                e.is_transient(),
            )
        })?;
        let Some(live) = live else {
            continue; // deleted: recreated whole
        };
        let mut doc = Value::Object(std::mem::take(&mut o.data));
        for p in paths {
            match live.pointer(p) {
                Some(v) => set_pointer(&mut doc, p, v.clone()),
                None => remove_pointer(&mut doc, p),
            }
        }
        if let Value::Object(m) = doc {
            o.data = m;
        }
    }
    Ok(objects)
}

/// The unescaped segments of a JSON pointer.
fn pointer_segments(p: &str) -> Vec<String> {
    p.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Sets `value` at pointer `p`, creating maps on the way; a list index
/// must exist.
fn set_pointer(doc: &mut Value, p: &str, value: Value) {
    let segs = pointer_segments(p);
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut node = doc;
    for s in parents {
        node = match node {
            Value::Object(m) => m
                .entry(s.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => match s.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
    }
    match node {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

/// Removes the value at pointer `p`, if any.
fn remove_pointer(doc: &mut Value, p: &str) {
    let segs = pointer_segments(p);
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut node = doc;
    for s in parents {
        node = match node {
            Value::Object(m) => match m.get_mut(s) {
                Some(n) => n,
                None => return,
            },
            Value::Array(a) => match s.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(n) => n,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(m) = node {
        m.remove(last);
    }
}

/// Marks records left `pending-*` (weir or Helm stopped mid-way) as
/// `failed`, so the release can move on.
async fn recover_pending(storage: &Storage, history: &mut [Release]) -> Result<(), StepError> {
    for r in history.iter_mut() {
        if r.info.status.starts_with("pending-") {
            tracing::warn!(release = %r.name, revision = r.version, status = %r.info.status, "release record left pending by an interrupted operation; marking it failed");
            r.info.description = format!(
                "{} interrupted: marked failed by weir",
                r.info.status.trim_start_matches("pending-")
            );
            r.info.status = st::FAILED.into();
            storage
                .update(r)
                .await
                .map_err(|e| storage_failed(Reason::UpgradeFailed, &e))?;
        }
    }
    Ok(())
}

/// Deletes the oldest records beyond `max` (0: keep all); the deployed one
/// always stays.
async fn prune_history(storage: &Storage, max: u32) {
    if max == 0 {
        return;
    }
    let Ok(history) = storage.history().await else {
        return;
    };
    let excess = history.len().saturating_sub(max as usize);
    for r in history
        .iter()
        .filter(|r| r.info.status != st::DEPLOYED)
        .take(excess)
    {
        if let Err(e) = storage.delete(r.version).await {
            tracing::warn!(release = %r.name, revision = r.version, error = %e, "cannot delete an old release record");
        }
    }
}

/// Rewrites records Helm wrote with server-side apply as client-side
/// (see the record weir writes): the objects are weir's now, and a Helm
/// rollback to such a revision would otherwise fail on conflicts with
/// weir's field manager.
async fn take_over_records(storage: &Storage) {
    let Ok(history) = storage.history().await else {
        return;
    };
    for mut r in history {
        if r.rest.get("apply_method").and_then(Value::as_str) != Some("csa") {
            r.rest.insert("apply_method".to_owned(), Value::from("csa"));
            if let Err(e) = storage.update(&r).await {
                tracing::warn!(release = %r.name, revision = r.version, error = %e, "cannot take over a release record");
            }
        }
    }
}

/// SHA-256 over the chart's files and the values: what decides whether a
/// new revision is needed.
fn config_digest(chart: &Path, values: &Map<String, Value>) -> String {
    let mut h = Sha256::new();
    let mut files = Vec::new();
    values::walk(chart, chart, &mut files);
    files.sort();
    for (rel, bytes) in files {
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(serde_json::to_vec(values).unwrap_or_default());
    format!("sha256:{:x}", h.finalize())
}

#[allow(clippy::too_many_arguments)]
async fn render(
    sync: &Sync,
    hr: &HelmRelease,
    artifact: &Artifact,
    renderers: &Arc<dyn RendererRegistry>,
    values: &Map<String, Value>,
    revision: u32,
    upgrade: bool,
    (kube_version, api_versions): (&str, Vec<String>),
) -> Result<Rendering, StepError> {
    let mut options = render_options(hr, values, revision, upgrade);
    options.push(("kubeVersion".into(), OptionValue::Str(kube_version.into())));
    options.push(("apiVersions".into(), OptionValue::Strings(api_versions)));
    let request = RenderRequest {
        path: hr.chart.clone(),
        options,
    };
    let rendered = render_request(
        sync.renderer.as_deref().unwrap_or("helm"),
        request,
        &artifact.dir,
        renderers,
    )
    .await
    .map_err(|mut e| {
        e.message = format!("release {:?}: {}", sync.name.as_str(), e.message);
        e
    })?;
    let mut out = Rendering {
        crds: Vec::new(),
        manifests: Vec::new(),
        hooks: Vec::new(),
    };
    for (o, _) in rendered {
        if hook_events(&o).is_some() {
            out.hooks.push(o);
        } else if o.origin.contains('#') && o.origin.contains("crds/") {
            // The plugin names documents of `crds/` files `FILE#N`;
            // templates are plain paths.
            out.crds.push(o);
        } else {
            out.manifests.push(o);
        }
    }
    Ok(out)
}

/// The `helm` renderer's options for a revision of `hr` (without the
/// cluster's capabilities, which the plugin then defaults).
pub fn render_options(
    hr: &HelmRelease,
    values: &Map<String, Value>,
    revision: u32,
    upgrade: bool,
) -> Vec<(String, OptionValue)> {
    vec![
        ("releaseName".into(), OptionValue::Str(hr.release_name())),
        ("namespace".into(), OptionValue::Str(hr.namespace().into())),
        (
            "values".into(),
            OptionValue::Str(Value::Object(values.clone()).to_string()),
        ),
        ("revision".into(), OptionValue::Int(i64::from(revision))),
        ("isUpgrade".into(), OptionValue::Bool(upgrade)),
    ]
}

/// The values of `hr` without a cluster (`weir build`): `valuesFiles` and
/// `values` as a reconcile merges them; SOPS-encrypted files and
/// `valuesFrom` are left out, each with a note saying so.
///
/// # Errors
/// A values file or `values` that cannot be read, naming it.
pub fn offline_values(
    hr: &HelmRelease,
    artifact_dir: &Path,
) -> Result<(Map<String, Value>, Vec<String>), String> {
    values::offline(hr, artifact_dir)
}

/// Gives namespaced objects without a namespace the release's (`weir
/// build`, where `settle` would give them `default`).
pub fn offline_namespace(objects: &mut [Object], hr: &HelmRelease) {
    let snapshot = objects.to_vec();
    for o in objects.iter_mut() {
        if o.namespace().is_none() && crate::apply::offline_namespaced(&snapshot, o) {
            o.set_namespace(Some(hr.namespace()));
        }
    }
}

/// A hook's events, when `o` is one.
fn hook_events(o: &Object) -> Option<Vec<String>> {
    let v = annotation(o, HOOK_ANNOTATION)?;
    Some(
        v.split(',')
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect(),
    )
}

fn annotation<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    o.data
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

/// Helm's `# Source:` path: the chart's name, then the file's path inside
/// the chart (the plugin's origins start with the chart's path in the
/// artifact).
fn source_path(origin: &str, chart_rel: &str, chart_name: &str) -> String {
    let origin = origin.split('#').next().unwrap_or(origin);
    let rel = chart_rel.trim_matches('/');
    let inside = origin
        .strip_prefix(rel)
        .map(|s| s.trim_start_matches('/'))
        .unwrap_or(origin);
    format!("{chart_name}/{inside}")
}

fn to_yaml(o: &Object) -> String {
    serde_yaml_ng::to_string(&o.data).unwrap_or_else(|_| Value::Object(o.data.clone()).to_string())
}

/// The release manifest as Helm writes it.
fn manifest_text(objects: &[Object], chart_rel: &str, chart_name: &str) -> String {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n# Source: ");
        out.push_str(&source_path(&o.origin, chart_rel, chart_name));
        out.push('\n');
        out.push_str(&to_yaml(o));
        out.push('\n');
    }
    out
}

fn hook_records(hooks: &[Object], chart_rel: &str, chart_name: &str) -> Vec<Hook> {
    hooks
        .iter()
        .map(|o| Hook {
            name: o.name().to_owned(),
            kind: o.kind().to_owned(),
            path: source_path(&o.origin, chart_rel, chart_name),
            manifest: to_yaml(o),
            events: hook_events(o).unwrap_or_default(),
            last_run: HookRun::default(),
            weight: hook_weight(o),
            delete_policies: delete_policies(o),
            rest: Map::new(),
        })
        .collect()
}

fn hook_weight(o: &Object) -> i64 {
    annotation(o, HOOK_WEIGHT_ANNOTATION)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

fn delete_policies(o: &Object) -> Vec<String> {
    annotation(o, HOOK_DELETE_ANNOTATION)
        .map(|v| {
            v.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a stored manifest (YAML documents) into objects.
///
/// # Errors
/// A document that is not an object.
pub fn parse_manifest(text: &str) -> Result<Vec<Object>, String> {
    let mut out = Vec::new();
    let mut source = String::new();
    for doc in text.split("\n---") {
        for line in doc.lines() {
            if let Some(s) = line.strip_prefix("# Source: ") {
                source = s.trim().to_owned();
            }
        }
        let v: Value = serde_yaml_ng::from_str(doc.trim_start_matches("---"))
            .map_err(|e| format!("stored manifest ({source}): {e}"))?;
        if v.is_null() {
            continue;
        }
        let o = Object::from_json(&v.to_string(), &source).map_err(|e| e.to_string())?;
        out.push(o);
    }
    Ok(out)
}

/// Gives namespaced objects without a namespace the release's, and every
/// object Helm's ownership metadata and the release's `commonMetadata`.
async fn prepare(
    objects: Vec<Object>,
    hr: &HelmRelease,
    namespace: &str,
    cluster: &Cluster,
) -> Result<Vec<Object>, StepError> {
    let mut out = Vec::with_capacity(objects.len());
    let mut scopes: BTreeMap<(String, String, String), bool> = BTreeMap::new();
    for mut o in objects {
        if o.namespace().is_none() {
            let (g, v) = o.group_version();
            let key = (g.to_owned(), v.to_owned(), o.kind().to_owned());
            let namespaced = match scopes.get(&key) {
                Some(n) => *n,
                None => {
                    let n = cluster
                        .kind_scope(&key.0, &key.1, &key.2)
                        .await
                        .map_err(|e| {
                            step(
                                Reason::ApplyFailed,
                                format!("cannot look up kind {:?}: {e}", key.2),
                                true,
                            )
                        })?
                        // A CRD of this release not installed yet: its
                        // objects are namespaced unless it says otherwise.
                        .unwrap_or(true);
                    scopes.insert(key, n);
                    n
                }
            };
            if namespaced {
                o.set_namespace(Some(namespace));
            }
        }
        o.set_label(MANAGED_BY_LABEL, "Helm");
        o.set_annotation(RELEASE_NAME_ANNOTATION, &hr.release_name());
        o.set_annotation(RELEASE_NAMESPACE_ANNOTATION, namespace);
        if let Some(cm) = &hr.common_metadata {
            for (k, v) in &cm.labels {
                o.set_label(k, v);
            }
            for (k, v) in &cm.annotations {
                o.set_annotation(k, v);
            }
        }
        out.push(o);
    }
    Ok(out)
}

/// Creates the release's namespace (`install.createNamespace`); it is not
/// part of the release and never deleted by it, as in Helm.
async fn create_namespace(
    namespace: &str,
    owner: &str,
    cluster: &Cluster,
    reason: Reason,
) -> Result<(), StepError> {
    let ns = Object::from_json(
        &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            .to_string(),
        "install.createNamespace",
    )
    .map_err(|e| step(reason, e.to_string(), false))?;
    cluster
        .apply_with(vec![ns], owner, None, ApplyOptions::default())
        .await
        .map_err(|e| {
            step(
                reason,
                format!("cannot create namespace {namespace:?}: {e}"),
                e.error.is_transient(),
            )
        })?;
    Ok(())
}

/// The install or upgrade itself, after the pending record is written:
/// namespace, CRDs, pre hooks, objects (with prune of what the new
/// revision dropped), wait, post hooks, tests. Returns the object count.
async fn perform(
    sync: &Sync,
    hr: &HelmRelease,
    upgrade: bool,
    rendering: &Rendering,
    record: &mut Release,
    cluster: &Cluster,
    status: &mut SyncStatus,
) -> Result<usize, StepError> {
    let reason = if upgrade {
        Reason::UpgradeFailed
    } else {
        Reason::InstallFailed
    };
    let (action, crds, disable_hooks, disable_wait) = if upgrade {
        (
            "upgrade",
            hr.upgrade_crds(),
            hr.upgrade.disable_hooks,
            hr.upgrade.disable_wait,
        )
    } else {
        (
            "install",
            hr.install_crds(),
            hr.install.disable_hooks,
            hr.install.disable_wait,
        )
    };
    let namespace = record.namespace.clone();
    let owner = sync.name.as_str();
    let timeout = hr.timeout();
    let fail = |message: String, transient: bool| step(reason, message, transient);
    if crds != CrdPolicy::Skip && !rendering.crds.is_empty() {
        let mut objects = rendering.crds.clone();
        if crds == CrdPolicy::Create {
            for o in &mut objects {
                o.set_annotation(SSA_ANNOTATION, "IfNotPresent");
            }
        }
        let applied = cluster
            .apply_with(objects, owner, None, ApplyOptions::default())
            .await
            .map_err(|e| fail(format!("CRDs: {e}"), e.error.is_transient()))?;
        // CRDs must be established before objects of their kinds apply.
        wait_healthy(
            cluster,
            waitable(&applied),
            weir_config::Duration::from_std(timeout),
        )
        .await
        .map_err(|e| fail(format!("CRDs: {}", e.message), true))?;
    }
    let hooks = prepare(rendering.hooks.clone(), hr, &namespace, cluster).await?;
    let pre = if upgrade {
        "pre-upgrade"
    } else {
        "pre-install"
    };
    let post = if upgrade {
        "post-upgrade"
    } else {
        "post-install"
    };
    if !disable_hooks {
        run_hooks(pre, &hooks, record, cluster, owner, timeout, reason).await?;
    }
    let objects = prepare(rendering.manifests.clone(), hr, &namespace, cluster).await?;
    let count = objects.len();
    // Takeover of a release Helm installed: its objects are not in weir's
    // inventory yet; once applied here they are.
    let applied = apply_and_prune(sync, objects, None, cluster, status)
        .await
        .map_err(|e| fail(format!("{action}: {}", e.message), e.transient))?;
    if !disable_wait {
        wait_healthy(
            cluster,
            waitable(&applied),
            weir_config::Duration::from_std(timeout),
        )
        .await
        .map_err(|e| fail(format!("{action}: {}", e.message), e.transient))?;
    }
    if !disable_hooks {
        run_hooks(post, &hooks, record, cluster, owner, timeout, reason).await?;
    }
    if hr.test.enable {
        let tested = run_hooks(
            "test",
            &hooks,
            record,
            cluster,
            owner,
            timeout,
            Reason::TestFailed,
        )
        .await;
        if let Err(e) = tested {
            if !hr.test.ignore_failures {
                return Err(e);
            }
            tracing::warn!(release = %record.name, error = %e.message, "Helm test failed; ignored (test.ignoreFailures)");
        }
    }
    Ok(count)
}

/// Runs the hooks of `event` in Helm's order (weight, then render order),
/// each created anew and waited for, with Helm's delete policies; records
/// each run in `record`.
async fn run_hooks(
    event: &str,
    hooks: &[Object],
    record: &mut Release,
    cluster: &Cluster,
    owner: &str,
    timeout: Duration,
    reason: Reason,
) -> Result<(), StepError> {
    let mut selected: Vec<&Object> = hooks
        .iter()
        .filter(|o| {
            hook_events(o).is_some_and(|ev| {
                ev.iter()
                    .any(|e| e == event || (event == "test" && e == "test-success"))
            })
        })
        .collect();
    selected.sort_by_key(|o| hook_weight(o));
    for o in selected {
        let key = o.key();
        let mut policies = delete_policies(o);
        if policies.is_empty() {
            policies.push("before-hook-creation".into());
        }
        let has = |p: &str| policies.iter().any(|x| x == p);
        let rec_idx = record
            .hooks
            .iter()
            .position(|h| h.name == o.name() && h.kind == o.kind());
        if has("before-hook-creation") {
            delete_and_wait(cluster, &key, timeout)
                .await
                .map_err(|m| step(reason, format!("{event} hook {key}: {m}"), true))?;
        }
        let started = rfc3339(now_unix());
        if let Some(i) = rec_idx {
            record.hooks[i].last_run = HookRun {
                started_at: started.clone(),
                completed_at: String::new(),
                phase: "Running".into(),
            };
        }
        let outcome = async {
            let applied = cluster
                .apply_with(vec![o.clone()], owner, None, ApplyOptions::default())
                .await
                .map_err(|e| (e.to_string(), e.error.is_transient()))?;
            wait_healthy(
                cluster,
                waitable(&applied),
                weir_config::Duration::from_std(timeout),
            )
            .await
            .map_err(|e| (e.message, e.transient))
        }
        .await;
        let phase = if outcome.is_ok() {
            "Succeeded"
        } else {
            "Failed"
        };
        if let Some(i) = rec_idx {
            record.hooks[i].last_run.completed_at = rfc3339(now_unix());
            record.hooks[i].last_run.phase = phase.into();
        }
        match outcome {
            Ok(()) => {
                if has("hook-succeeded") {
                    delete_and_wait(cluster, &key, timeout)
                        .await
                        .map_err(|m| step(reason, format!("{event} hook {key}: {m}"), true))?;
                }
            }
            Err((message, transient)) => {
                if has("hook-failed")
                    && let Err(m) = delete_and_wait(cluster, &key, timeout).await
                {
                    tracing::warn!(hook = %key, error = %m, "cannot delete the failed hook");
                }
                return Err(step(
                    reason,
                    format!("{event} hook {key} failed: {message}"),
                    transient,
                ));
            }
        }
    }
    Ok(())
}

/// Deletes hook `key` (whoever created it: Helm, or weir before a
/// takeover) and waits until it is gone.
async fn delete_and_wait(
    cluster: &Cluster,
    key: &ObjectKey,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    cluster.delete(key).await.map_err(|e| e.to_string())?;
    loop {
        match cluster.get_live(key).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("still exists after {}s", timeout.as_secs()));
            }
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Remediates a failed action: rolls back to `deployed` (a new revision
/// with its manifest) or uninstalls. Returns what was done.
async fn remediate(
    sync: &Sync,
    strategy: RemediationStrategy,
    deployed: Option<&Release>,
    storage: &Storage,
    cluster: &Cluster,
    status: &mut SyncStatus,
    state: &mut HelmState,
) -> Result<String, String> {
    let hr = sync.helm.as_deref().ok_or("not a release")?;
    match (strategy, deployed) {
        (RemediationStrategy::Rollback, Some(d)) => {
            let objects = parse_manifest(&d.manifest)?;
            let objects = prepare(objects, hr, &d.namespace, cluster)
                .await
                .map_err(|e| e.message)?;
            let history = storage.history().await.map_err(|e| e.to_string())?;
            let revision = history.last().map_or(0, |r| r.version) + 1;
            let mut record = d.clone();
            record.version = revision;
            record.info.status = st::PENDING_ROLLBACK.into();
            record.info.description = format!("Rollback to {}", d.version);
            record.info.last_deployed = rfc3339(now_unix());
            storage.create(&record).await.map_err(|e| e.to_string())?;
            apply_and_prune(sync, objects, None, cluster, status)
                .await
                .map_err(|e| e.message)?;
            record.info.status = st::DEPLOYED.into();
            storage.update(&record).await.map_err(|e| e.to_string())?;
            let mut old = d.clone();
            old.info.status = st::SUPERSEDED.into();
            storage.update(&old).await.map_err(|e| e.to_string())?;
            prune_history(storage, hr.max_history()).await;
            state.revision = revision;
            // The digest stays the deployed one's, so the next reconcile
            // tries the upgrade again.
            Ok(format!(
                "rolled back to revision {} as revision {revision}",
                d.version
            ))
        }
        _ => {
            uninstall_objects(sync.name.as_str(), status, cluster).await?;
            let history = storage.history().await.map_err(|e| e.to_string())?;
            for r in &history {
                storage.delete(r.version).await.map_err(|e| e.to_string())?;
            }
            state.revision = 0;
            state.digest.clear();
            Ok("uninstalled".into())
        }
    }
}

/// Deletes every object in the status's inventory that `owner` owns;
/// objects not confirmed deleted stay in it.
async fn uninstall_objects(
    owner: &str,
    status: &mut SyncStatus,
    cluster: &Cluster,
) -> Result<(), String> {
    let out = cluster
        .prune(&status.inventory, owner)
        .await
        .map_err(|e| e.to_string())?;
    status.inventory = out.remaining;
    status.applied.clear();
    if out.errors.is_empty() {
        Ok(())
    } else {
        Err(format!("cannot delete {}", out.errors.join("; ")))
    }
}

/// Uninstalls a release that left the config, as `helm uninstall` does:
/// `pre-delete` hooks, its objects, `post-delete` hooks, then its records
/// (or, with `keepHistory`, the deployed record marked `uninstalled`).
///
/// # Errors
/// A message naming what could not be deleted; the inventory keeps the
/// objects not confirmed deleted, so the next pass tries again.
pub async fn uninstall(status: &mut SyncStatus, cluster: &Cluster) -> Result<(), String> {
    let Some(state) = status.helm.clone() else {
        return Ok(());
    };
    let owner = status.name.clone();
    let storage = Storage::new(
        cluster.client().clone(),
        &state.storage_namespace,
        &state.release_name,
    );
    let history = storage.history().await.map_err(|e| e.to_string())?;
    let current = history
        .iter()
        .rev()
        .find(|r| r.info.status == st::DEPLOYED)
        .cloned();
    let timeout = Duration::from_secs(state.timeout_secs.max(1));
    let hooks = match (&current, state.disable_hooks) {
        (Some(r), false) => r
            .hooks
            .iter()
            .filter_map(|h| parse_manifest(&h.manifest).ok())
            .flatten()
            .map(|mut o| {
                if o.namespace().is_none() && o.kind() != "Namespace" {
                    o.set_namespace(Some(&state.namespace));
                }
                o
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut scratch = current.clone().unwrap_or(Release {
        name: state.release_name.clone(),
        info: Info::default(),
        chart: Value::Null,
        config: Value::Null,
        manifest: String::new(),
        hooks: Vec::new(),
        version: 0,
        namespace: state.namespace.clone(),
        rest: Map::new(),
    });
    run_hooks(
        "pre-delete",
        &hooks,
        &mut scratch,
        cluster,
        &owner,
        timeout,
        Reason::PruneFailed,
    )
    .await
    .map_err(|e| e.message)?;
    uninstall_objects(&owner, status, cluster).await?;
    run_hooks(
        "post-delete",
        &hooks,
        &mut scratch,
        cluster,
        &owner,
        timeout,
        Reason::PruneFailed,
    )
    .await
    .map_err(|e| e.message)?;
    if state.keep_history {
        if let Some(mut r) = current {
            r.info.status = st::UNINSTALLED.into();
            r.info.description = "Uninstallation complete".into();
            r.info.deleted = rfc3339(now_unix());
            storage.update(&r).await.map_err(|e| e.to_string())?;
        }
    } else {
        for r in &history {
            storage.delete(r.version).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str, origin: &str) -> Object {
        Object::from_json(json, origin).expect("valid object")
    }

    #[test]
    fn source_paths_start_with_the_chart_name() {
        assert_eq!(
            source_path("charts/web/templates/cm.yaml", "charts/web", "web"),
            "web/templates/cm.yaml"
        );
        assert_eq!(
            source_path("charts/web/crds/a.yaml#0", "charts/web/", "web"),
            "web/crds/a.yaml"
        );
        assert_eq!(
            source_path("templates/cm.yaml", "", "web"),
            "web/templates/cm.yaml"
        );
    }

    #[test]
    fn manifests_round_trip_through_helms_text() {
        let a = obj(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#,
            "c/templates/a.yaml",
        );
        let b = obj(
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"b","namespace":"x"}}"#,
            "c/templates/b.yaml",
        );
        let text = manifest_text(&[a.clone(), b.clone()], "c", "chart");
        assert!(
            text.starts_with("---\n# Source: chart/templates/a.yaml\n"),
            "{text}"
        );
        let back = parse_manifest(&text).expect("parses");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].data, a.data);
        assert_eq!(back[1].data, b.data);
        assert_eq!(back[1].origin, "chart/templates/b.yaml");
    }

    #[test]
    fn helms_own_manifest_text_parses() {
        let text = "---\n# Source: hooks/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe-cm\ndata:\n  a: \"2\"\n\n";
        let objects = parse_manifest(text).expect("parses");
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].name(), "probe-cm");
    }

    #[test]
    fn json_pointers_set_and_remove_fields_with_escapes() {
        let mut doc = serde_json::json!({"spec": {"replicas": 1, "list": [{"a": 1}]}});
        set_pointer(&mut doc, "/spec/replicas", Value::from(5));
        set_pointer(
            &mut doc,
            "/metadata/annotations/example.com~1x",
            Value::from("y"),
        );
        set_pointer(&mut doc, "/spec/list/0/a", Value::from(2));
        set_pointer(&mut doc, "/spec/list/9/a", Value::from(3));
        remove_pointer(&mut doc, "/spec/missing/x");
        assert_eq!(
            doc,
            serde_json::json!({"spec": {"replicas": 5, "list": [{"a": 2}]}, "metadata": {"annotations": {"example.com/x": "y"}}})
        );
        remove_pointer(&mut doc, "/spec/replicas");
        assert!(doc.pointer("/spec/replicas").is_none());
    }

    #[test]
    fn drift_targets_match_every_field_they_set() {
        let o = obj(
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"}}"#,
            "c/templates/d.yaml",
        );
        let t = |kind: Option<&str>, name: Option<&str>, group: Option<&str>| DriftTarget {
            kind: kind.map(str::to_owned),
            name: name.map(str::to_owned),
            group: group.map(str::to_owned),
            ..DriftTarget::default()
        };
        assert!(selects(None, &o));
        assert!(selects(
            Some(&t(Some("Deployment"), None, Some("apps"))),
            &o
        ));
        assert!(!selects(
            Some(&t(Some("Deployment"), Some("api"), None)),
            &o
        ));
        assert!(!selects(Some(&t(None, None, Some(""))), &o));
    }

    #[test]
    fn hooks_read_events_weights_and_policies() {
        let h = obj(
            r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","annotations":{"helm.sh/hook":"pre-install, pre-upgrade","helm.sh/hook-weight":"-5","helm.sh/hook-delete-policy":"hook-succeeded,before-hook-creation"}}}"#,
            "c/templates/j.yaml",
        );
        assert_eq!(
            hook_events(&h),
            Some(vec!["pre-install".to_owned(), "pre-upgrade".to_owned()])
        );
        assert_eq!(hook_weight(&h), -5);
        assert_eq!(
            delete_policies(&h),
            vec![
                "hook-succeeded".to_owned(),
                "before-hook-creation".to_owned()
            ]
        );
        let records = hook_records(&[h], "c", "chart");
        assert_eq!(records[0].path, "chart/templates/j.yaml");
        assert_eq!(records[0].weight, -5);
    }
}
