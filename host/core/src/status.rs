//! What a sync did last: readiness, the one failure reason, revisions, the
//! per-object change set and the inventory. Written in one place, at the end
//! of each reconcile, to the state directory, where `weir get` reads it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use weir_config::DeletionPolicy;

use crate::object::ObjectKey;

/// Why a sync is in its state, following Flux's condition reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Everything rendered, applied, pruned.
    ReconciliationSucceeded,
    /// Not reconciled yet.
    Progressing,
    /// The source could not produce an artifact.
    ArtifactFailed,
    /// The renderer failed or produced invalid objects.
    BuildFailed,
    /// An encrypted object could not be decrypted (no `decryption`
    /// configured, keys unreadable, no key matches, a value or the MAC
    /// fails to verify); nothing was applied. The message names each such
    /// object and why, never a key or a value.
    DecryptionFailed,
    /// The cluster refused an object (or validation against it failed).
    ApplyFailed,
    /// Deleting objects removed from the source failed.
    PruneFailed,
    /// After applying, an object did not become ready: it failed, was
    /// missing, or was still in progress at the timeout. The message names
    /// each such object and why.
    HealthCheckFailed,
    /// A sync named in `dependsOn` is not ready, or has not yet applied the
    /// revision its source has now; this sync was not rendered nor applied.
    /// The message names every such dependency and why.
    DependencyNotReady,
    /// The sync is suspended.
    Suspended,
    /// A Helm install failed: rendering aside, a hook, an object or the
    /// wait for readiness failed (Flux's `InstallFailed`).
    InstallFailed,
    /// A Helm upgrade failed (Flux's `UpgradeFailed`).
    UpgradeFailed,
    /// A Helm test hook failed (Flux's `TestFailed`).
    TestFailed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What happened to one object in a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and differed; it was updated.
    Configured,
    /// It matched already; nothing was written.
    Unchanged,
    /// It was pruned.
    Deleted,
    /// It was left alone (not owned, or prune disabled for it).
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
        })
    }
}

/// One entry of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The object, `Kind/namespace/name`.
    pub object: String,
    /// What happened to it.
    pub action: Action,
}

/// The persisted status of one sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The sync's name.
    pub name: String,
    /// Whether the last reconcile succeeded.
    pub ready: bool,
    /// Why it is in this state.
    pub reason: Reason,
    /// A human-readable message: a summary on success, the error otherwise.
    pub message: String,
    /// The last revision that was applied completely.
    #[serde(default)]
    pub last_applied_revision: Option<String>,
    /// The revision the last reconcile tried.
    #[serde(default)]
    pub last_attempted_revision: Option<String>,
    /// Unix time (seconds) of the last reconcile's end.
    #[serde(default)]
    pub last_attempt_at: Option<u64>,
    /// Unix time (seconds) of the last successful apply.
    #[serde(default)]
    pub last_applied_at: Option<u64>,
    /// The change set of the last successful apply.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// The objects the sync has applied and not yet confirmed deleted.
    #[serde(default)]
    pub inventory: Vec<ObjectKey>,
    /// Flux's conditions: `Ready`, and `Reconciling` or `Stalled` when
    /// they are true (see [`SyncStatus::begin`] and [`SyncStatus::finish`]).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Failures in a row since the last success (resets on success); the
    /// retry backoff grows with it.
    #[serde(default)]
    pub failures: u32,
    /// How to clean up when the sync leaves the config: kept from its last
    /// reconcile, since the config no longer says.
    #[serde(default)]
    pub removal: Option<Removal>,
    /// What the last apply sent and got back, by object id, so that the
    /// next one skips objects that cannot have changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied: BTreeMap<String, Applied>,
    /// For a Helm release: the release and what weir last did to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<crate::helm::HelmState>,
}

/// What weir knows of one object it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// SHA-256 of the manifest as sent.
    pub digest: String,
    /// A digest of the live object's `managedFields` (without status
    /// entries) after the apply: it changes with any write but a status
    /// update.
    pub fingerprint: String,
}

/// What cleaning up after a removed sync needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// The sync's `deletionPolicy`.
    pub deletion_policy: DeletionPolicy,
    /// The sync's `prune` (for `MirrorPrune`).
    pub prune: bool,
    /// The sync's `timeout`, in seconds (for `WaitForTermination`).
    pub timeout_secs: u64,
    /// The identity it applied as (`system:serviceaccount:…`), if not weir's.
    #[serde(default)]
    pub impersonate: Option<String>,
    /// The kubeconfig of the cluster it applied to, if not the host's.
    #[serde(default)]
    pub kube_config: Option<PathBuf>,
}

impl Removal {
    /// The removal settings of `sync` now. `kubeConfig` paths are kept as
    /// written; relative ones resolve against the config file's directory.
    pub fn of(sync: &weir_config::Sync) -> Self {
        Removal {
            deletion_policy: sync.deletion_policy,
            prune: sync.prune,
            timeout_secs: sync.timeout().get().as_secs(),
            impersonate: sync
                .service_account()
                .map(|(ns, name)| service_account_user(ns, name)),
            kube_config: sync.kube_config.as_ref().map(|k| k.path.clone()),
        }
    }
}

/// The user name of a service account, as the API server authenticates it.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// A status condition, as Kubernetes' `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One word, e.g. `ReconciliationSucceeded`, `ApplyFailed`.
    pub reason: String,
    /// What happened.
    pub message: String,
    /// When `status` last changed, RFC 3339.
    pub last_transition_time: String,
}

/// The `Ready` condition type.
pub const READY: &str = "Ready";
/// The `Reconciling` condition type: a reconcile is running, or a retry is
/// scheduled after a transient failure.
pub const RECONCILING: &str = "Reconciling";
/// The `Stalled` condition type: a terminal failure; weir waits for a
/// change (a new revision, or a changed config) before trying again.
pub const STALLED: &str = "Stalled";

impl SyncStatus {
    /// The status of a sync that has never been reconciled.
    pub fn new(name: &str) -> Self {
        SyncStatus {
            name: name.to_owned(),
            ready: false,
            reason: Reason::Progressing,
            message: "not reconciled yet".into(),
            last_applied_revision: None,
            last_attempted_revision: None,
            last_attempt_at: None,
            last_applied_at: None,
            changes: Vec::new(),
            inventory: Vec::new(),
            conditions: vec![Condition {
                kind: READY.into(),
                status: "Unknown".into(),
                reason: "Progressing".into(),
                message: "not reconciled yet".into(),
                last_transition_time: rfc3339(now_unix()),
            }],
            failures: 0,
            removal: None,
            applied: BTreeMap::new(),
            helm: None,
        }
    }

    /// The condition of this type, when set.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Whether the last reconcile failed terminally (condition `Stalled`).
    pub fn stalled(&self) -> bool {
        self.condition(STALLED).is_some_and(|c| c.status == "True")
    }

    /// Sets a condition; its transition time moves only when its status
    /// changes, as Kubernetes' `meta.SetStatusCondition`.
    pub fn set_condition(&mut self, kind: &str, status: &str, reason: &str, message: &str) {
        let now = rfc3339(now_unix());
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                if c.status != status {
                    c.status = status.to_owned();
                    c.last_transition_time = now;
                }
                c.reason = reason.to_owned();
                c.message = message.to_owned();
            }
            None => self.conditions.push(Condition {
                kind: kind.to_owned(),
                status: status.to_owned(),
                reason: reason.to_owned(),
                message: message.to_owned(),
                last_transition_time: now,
            }),
        }
    }

    /// Removes a condition.
    pub fn remove_condition(&mut self, kind: &str) {
        self.conditions.retain(|c| c.kind != kind);
    }

    /// Marks a reconcile of `revision` as started, as Flux does: `Reconciling`
    /// is true (`Progressing`), `Ready` is `Unknown`, `Stalled` is gone.
    pub fn begin(&mut self, revision: &str) {
        let message = format!("reconciliation in progress for revision {revision}");
        self.set_condition(RECONCILING, "True", "Progressing", &message);
        self.set_condition(READY, "Unknown", "Progressing", &message);
        self.remove_condition(STALLED);
    }

    /// Records the end of a reconcile from `ready`, `reason` and `message`,
    /// and whether a failure will be retried (`transient`):
    ///
    /// - success: `Ready=True`; `Reconciling` and `Stalled` removed;
    /// - transient failure: `Ready=False`, `Reconciling=True` with reason
    ///   `ProgressingWithRetry` (Flux's); `Stalled` removed;
    /// - terminal failure: `Ready=False`, `Stalled=True` with the failure's
    ///   reason; `Reconciling` removed.
    ///
    /// Suspended and dependency-held syncs are `Ready=False` with neither.
    pub fn finish(&mut self, transient: bool) {
        let reason = self.reason.to_string();
        let message = self.message.clone();
        if self.ready {
            self.failures = 0;
            self.set_condition(READY, "True", &reason, &message);
            self.remove_condition(RECONCILING);
            self.remove_condition(STALLED);
            return;
        }
        self.set_condition(READY, "False", &reason, &message);
        match self.reason {
            Reason::Suspended | Reason::DependencyNotReady => {
                self.remove_condition(RECONCILING);
                self.remove_condition(STALLED);
            }
            _ if transient => {
                self.failures = self.failures.saturating_add(1);
                self.set_condition(RECONCILING, "True", "ProgressingWithRetry", &message);
                self.remove_condition(STALLED);
            }
            _ => {
                self.failures = self.failures.saturating_add(1);
                self.set_condition(STALLED, "True", &reason, &message);
                self.remove_condition(RECONCILING);
            }
        }
    }
}

/// `secs` since the Unix epoch as RFC 3339 UTC, e.g. `2024-05-01T12:00:00Z`.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| k8s_openapi::jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reading or writing status failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The status file could not be read or written.
    #[error("status file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The status file is corrupt.
    #[error("status file {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Status files under `<state>/syncs/<name>.json`.
#[derive(Debug, Clone)]
pub struct StatusStore {
    dir: PathBuf,
}

impl StatusStore {
    /// A store under the state directory.
    pub fn new(state_dir: &Path) -> Self {
        StatusStore {
            dir: state_dir.join("syncs"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The stored status of `name`, or none if it was never written.
    ///
    /// # Errors
    /// Unreadable or corrupt file.
    pub fn load(&self, name: &str) -> Result<Option<SyncStatus>, StatusError> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StatusError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StatusError::Io { path, source }),
        }
    }

    /// The names of every stored status.
    ///
    /// # Errors
    /// The directory cannot be read.
    pub fn names(&self) -> Result<Vec<String>, StatusError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StatusError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut out: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".json")?;
                (!stem.starts_with('.')).then(|| stem.to_owned())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Removes the status of `name`.
    ///
    /// # Errors
    /// The file exists and cannot be removed.
    pub fn delete(&self, name: &str) -> Result<(), StatusError> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StatusError::Io { path, source }),
        }
    }

    /// Writes `status` atomically (a reader never sees half a file).
    ///
    /// # Errors
    /// The file could not be written.
    pub fn save(&self, status: &SyncStatus) -> Result<(), StatusError> {
        let path = self.path(&status.name);
        let io = |source| StatusError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let tmp = self.dir.join(format!(".{}.json.tmp", status.name));
        let bytes = serde_json::to_vec_pretty(status).map_err(|source| StatusError::Corrupt {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_the_store() {
        let d = tempfile::tempdir().expect("tmp");
        let store = StatusStore::new(d.path());
        assert_eq!(store.load("a").expect("load"), None);
        let mut s = SyncStatus::new("a");
        s.changes.push(Change {
            object: "ConfigMap/default/x".into(),
            action: Action::Created,
        });
        store.save(&s).expect("save");
        assert_eq!(store.load("a").expect("load"), Some(s));
    }

    #[test]
    fn conditions_follow_flux_for_success_retry_and_stall() {
        let mut s = SyncStatus::new("a");
        assert_eq!(
            s.condition(READY).map(|c| c.status.as_str()),
            Some("Unknown")
        );
        s.begin("main@sha1:1");
        assert_eq!(
            s.condition(RECONCILING).map(|c| c.reason.as_str()),
            Some("Progressing")
        );
        s.ready = false;
        s.reason = Reason::ApplyFailed;
        s.message = "cannot reach the API server".into();
        s.finish(true);
        assert_eq!(s.failures, 1);
        assert_eq!(s.condition(READY).map(|c| c.status.as_str()), Some("False"));
        assert_eq!(
            s.condition(RECONCILING).map(|c| c.reason.as_str()),
            Some("ProgressingWithRetry")
        );
        assert!(!s.stalled());
        s.begin("main@sha1:2");
        s.reason = Reason::BuildFailed;
        s.message = "a.yaml: malformed YAML".into();
        s.finish(false);
        assert!(s.stalled());
        assert_eq!(s.failures, 2);
        assert_eq!(
            s.condition(STALLED).map(|c| c.reason.as_str()),
            Some("BuildFailed")
        );
        assert!(s.condition(RECONCILING).is_none());
        s.begin("main@sha1:3");
        s.ready = true;
        s.reason = Reason::ReconciliationSucceeded;
        s.message = "applied".into();
        s.finish(false);
        assert_eq!(s.failures, 0);
        assert_eq!(s.condition(READY).map(|c| c.status.as_str()), Some("True"));
        assert!(s.condition(STALLED).is_none() && s.condition(RECONCILING).is_none());
        assert_eq!(s.conditions.len(), 1);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn corrupt_status_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("syncs")).expect("mkdir");
        std::fs::write(d.path().join("syncs/a.json"), "{").expect("write");
        let err = StatusStore::new(d.path()).load("a").expect_err("corrupt");
        assert!(err.to_string().contains("syncs/a.json is corrupt"), "{err}");
    }
}
