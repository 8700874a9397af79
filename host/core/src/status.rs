//! What a sync did last: readiness, the one failure reason, revisions, the
//! per-object change set and the inventory. Written in one place, at the end
//! of each reconcile, to the state directory, where `weir get` reads it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
}

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
        }
    }
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
    fn corrupt_status_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("syncs")).expect("mkdir");
        std::fs::write(d.path().join("syncs/a.json"), "{").expect("write");
        let err = StatusStore::new(d.path()).load("a").expect_err("corrupt");
        assert!(err.to_string().contains("syncs/a.json is corrupt"), "{err}");
    }
}
