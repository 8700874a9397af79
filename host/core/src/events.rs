//! Kubernetes Events about syncs, as Flux's controllers record them on
//! their Kustomizations: one event when a reconcile changed something, when
//! a sync fails (or fails differently), and when it recovers — never for a
//! reconcile that only found everything unchanged, so a quiet cluster stays
//! quiet.
//!
//! A sync is not a Kubernetes object, so the events' involved object is
//! `Sync/<name>` (`HelmRelease/<name>` for a `[[release]]`) of API version
//! [`SYNC_API_VERSION`] in the host's `eventNamespace`: `kubectl get events
//! --field-selector involvedObject.kind=Sync,involvedObject.name=<name>`
//! lists them. Events
//! are written with weir's own identity (never an impersonated one) to the
//! host's cluster; failing to write one is logged, never a reconcile
//! failure.

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use crate::status::{Action, Reason, SyncStatus, now_unix, rfc3339};

/// The API version of the (virtual) involved object of weir's events.
pub const SYNC_API_VERSION: &str = "sync.weir.dev/v1";

/// The API version of a git source in notifications (kind
/// `GitRepository`, as Flux's).
pub const SOURCE_API_VERSION: &str = "source.weir.dev/v1";

/// The longest message an event carries; longer ones are cut (the full text
/// is in the sync's status).
const MAX_MESSAGE: usize = 4096;

/// Records events about syncs.
pub struct Events {
    client: kube::Client,
    namespace: String,
    cluster: String,
}

/// An event to record, decided from a sync's status before and after a
/// reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    /// The sync's reason, e.g. `ReconciliationSucceeded`, `ApplyFailed`.
    pub reason: String,
    /// What happened; for changes, one line per changed object.
    pub message: String,
}

/// The event a reconcile deserves, if any: a success that wrote something
/// (its message lists each created, configured or deleted object, as Flux's
/// does) or that follows a failure; a failure, a suspension or a wait for
/// dependencies whose reason or message differs from the last one.
pub fn note(before: Option<&SyncStatus>, after: &SyncStatus) -> Option<Note> {
    let same_state = before.is_some_and(|b| {
        b.ready == after.ready && b.reason == after.reason && b.message == after.message
    });
    if after.ready {
        let changed: Vec<String> = after
            .changes
            .iter()
            .filter(|c| !matches!(c.action, Action::Unchanged | Action::Skipped))
            .map(|c| format!("{} {}", c.object, c.action))
            .collect();
        let recovered = before.is_none_or(|b| !b.ready);
        if changed.is_empty() && !recovered {
            return None;
        }
        let mut message = after.message.clone();
        for line in changed {
            message.push('\n');
            message.push_str(&line);
        }
        return Some(Note {
            kind: "Normal",
            reason: after.reason.to_string(),
            message,
        });
    }
    if same_state {
        return None;
    }
    let kind = match after.reason {
        Reason::Suspended | Reason::DependencyNotReady | Reason::Progressing => "Normal",
        _ => "Warning",
    };
    Some(Note {
        kind,
        reason: after.reason.to_string(),
        message: after.message.clone(),
    })
}

impl Events {
    /// Events in `namespace` of the cluster `client` talks to, naming the
    /// host's `cluster` in an annotation.
    pub fn new(client: kube::Client, namespace: &str, cluster: &str) -> Self {
        Events {
            client,
            namespace: namespace.to_owned(),
            cluster: cluster.to_owned(),
        }
    }

    /// Records the event a reconcile deserves ([`note`]), if any, on
    /// `kind/<name>` (`Sync` or `HelmRelease`, as notifications name it).
    pub async fn record(&self, kind: &str, before: Option<&SyncStatus>, after: &SyncStatus) {
        let Some(n) = note(before, after) else {
            return;
        };
        let mut message = n.message;
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let now = rfc3339(now_unix());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let revision = after.last_attempted_revision.clone().unwrap_or_default();
        let event = json!({
            "metadata": {
                "name": format!("{}.{nanos:x}", after.name),
                "namespace": self.namespace,
                "annotations": {
                    "sync.weir.dev/revision": revision,
                    "sync.weir.dev/cluster": self.cluster,
                },
            },
            "involvedObject": {
                "apiVersion": SYNC_API_VERSION,
                "kind": kind,
                "name": after.name,
                "namespace": self.namespace,
            },
            "type": n.kind,
            "reason": n.reason,
            "message": message,
            "source": {"component": crate::FIELD_MANAGER},
            "reportingComponent": crate::FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        let event: Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(sync = %after.name, error = %e, "cannot build event");
                return;
            }
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(sync = %after.name, namespace = %self.namespace, error = %e, "cannot record event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Change;

    fn status(ready: bool, reason: Reason, message: &str, changes: &[Action]) -> SyncStatus {
        let mut s = SyncStatus::new("app");
        s.ready = ready;
        s.reason = reason;
        s.message = message.into();
        s.changes = changes
            .iter()
            .enumerate()
            .map(|(i, a)| Change {
                object: format!("ConfigMap/ns/c{i}"),
                action: *a,
            })
            .collect();
        s
    }

    #[test]
    fn a_success_that_wrote_lists_each_changed_object() {
        let before = status(true, Reason::ReconciliationSucceeded, "x", &[]);
        let after = status(
            true,
            Reason::ReconciliationSucceeded,
            "applied revision main@sha1:1: 1 created, 1 unchanged",
            &[Action::Created, Action::Unchanged, Action::Deleted],
        );
        let n = note(Some(&before), &after).expect("an event");
        assert_eq!(n.kind, "Normal");
        assert_eq!(n.reason, "ReconciliationSucceeded");
        assert_eq!(
            n.message,
            "applied revision main@sha1:1: 1 created, 1 unchanged\nConfigMap/ns/c0 created\nConfigMap/ns/c2 deleted"
        );
    }

    #[test]
    fn an_unchanged_success_is_quiet_unless_it_recovers() {
        let ok = status(
            true,
            Reason::ReconciliationSucceeded,
            "ok",
            &[Action::Unchanged],
        );
        assert_eq!(note(Some(&ok), &ok), None);
        let failed = status(false, Reason::ApplyFailed, "refused", &[]);
        assert!(note(Some(&failed), &ok).is_some());
        assert!(note(None, &ok).is_some());
    }

    #[test]
    fn failures_warn_once_per_distinct_message() {
        let ok = status(true, Reason::ReconciliationSucceeded, "ok", &[]);
        let failed = status(false, Reason::ApplyFailed, "ConfigMap/ns/x refused", &[]);
        let n = note(Some(&ok), &failed).expect("an event");
        assert_eq!((n.kind, n.reason.as_str()), ("Warning", "ApplyFailed"));
        assert_eq!(
            note(Some(&failed), &failed),
            None,
            "a retry repeats nothing"
        );
        let other = status(false, Reason::ApplyFailed, "ConfigMap/ns/y refused", &[]);
        assert!(note(Some(&failed), &other).is_some());
        let held = status(false, Reason::DependencyNotReady, "dependency", &[]);
        assert_eq!(note(Some(&ok), &held).map(|n| n.kind), Some("Normal"));
    }
}
