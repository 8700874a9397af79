//! Cleaning up after a sync that left the config, as Flux's
//! `spec.deletionPolicy` does when a Kustomization is deleted.
//!
//! The config no longer describes the sync, so what to do comes from its
//! last status ([`Removal`]): the policy, `prune`, the timeout, and the
//! identity and cluster it applied with (a tenant's sync deletes with the
//! tenant's rights, never more). Deletion goes through
//! [`Cluster::prune`], so only objects still labelled as the sync's are
//! deleted, and objects whose deletion is not confirmed stay in the
//! inventory for the next pass.

use std::sync::Arc;
use std::time::Duration;

use weir_config::DeletionPolicy;

use crate::apply::Cluster;
use crate::inventory;
use crate::status::{Reason, SyncStatus, now_unix};

/// How often `WaitForTermination` looks again.
const POLL: Duration = Duration::from_secs(1);

/// Whether a removed sync's objects are deleted under `policy`.
pub fn deletes(policy: DeletionPolicy, prune: bool) -> bool {
    match policy {
        DeletionPolicy::MirrorPrune => prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    }
}

/// Cleans up after the removed sync whose last status is `status`, with the
/// host's cluster `host` unless it applied elsewhere. Returns `None` when
/// nothing of it is left to track (its status can go), else its status
/// with the objects not yet confirmed deleted in the inventory and
/// `PruneFailed` saying which and why.
pub async fn remove(mut status: SyncStatus, host: &Arc<Cluster>) -> Option<SyncStatus> {
    let name = status.name.clone();
    let Some(removal) = status.removal.clone() else {
        // Written by a weir that did not record the policy: deleting could
        // surprise; leaving objects is what Flux's Orphan does.
        tracing::warn!(sync = %name, "sync removed from the config; its status does not say how to clean up, so its objects are left in the cluster");
        return None;
    };
    if !deletes(removal.deletion_policy, removal.prune)
        || (status.inventory.is_empty() && status.helm.is_none())
    {
        tracing::info!(sync = %name, policy = %removal.deletion_policy, objects = status.inventory.len(), "sync removed from the config; its objects are left in the cluster");
        return None;
    }
    let cluster = if removal.impersonate.is_some() || removal.kube_config.is_some() {
        match Cluster::connect_as(
            removal.kube_config.as_deref(),
            removal.impersonate.as_deref(),
        )
        .await
        {
            Ok(c) => Arc::new(c),
            Err(e) => return Some(failed(status, format!("cannot connect: {e}"))),
        }
    } else {
        Arc::clone(host)
    };
    if status.helm.is_some() {
        // A Helm release: uninstalled as Helm does (hooks, objects,
        // records).
        return match crate::helm::uninstall(&mut status, &cluster).await {
            Ok(()) if status.inventory.is_empty() => {
                tracing::info!(sync = %name, "release removed from the config: uninstalled");
                None
            }
            Ok(()) => {
                let names: Vec<String> = status.inventory.iter().map(ToString::to_string).collect();
                let message = format!("deletion not confirmed yet: {}", names.join(", "));
                Some(failed(status, message))
            }
            Err(m) => Some(failed(status, format!("uninstall: {m}"))),
        };
    }
    let mut pending = inventory::stale(&status.inventory, &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(removal.timeout_secs);
    loop {
        let outcome = match cluster.prune(&pending, &name).await {
            Ok(o) => o,
            Err(e) => {
                status.inventory = pending;
                return Some(failed(status, e.to_string()));
            }
        };
        pending = outcome.remaining;
        if !outcome.errors.is_empty() {
            status.inventory = pending;
            return Some(failed(
                status,
                format!("cannot delete {}", outcome.errors.join("; ")),
            ));
        }
        if pending.is_empty() {
            return None;
        }
        let wait = removal.deletion_policy == DeletionPolicy::WaitForTermination;
        if !wait || tokio::time::Instant::now() >= deadline {
            let names: Vec<String> = pending.iter().map(ToString::to_string).collect();
            status.inventory = pending;
            let message = if wait {
                format!(
                    "still terminating after {}s: {}",
                    removal.timeout_secs,
                    names.join(", ")
                )
            } else {
                format!("deletion not confirmed yet: {}", names.join(", "))
            };
            return Some(failed(status, message));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn failed(mut status: SyncStatus, message: String) -> SyncStatus {
    status.ready = false;
    status.reason = Reason::PruneFailed;
    status.message = format!("sync removed from the config: {message}");
    status.last_attempt_at = Some(now_unix());
    status.finish(true);
    tracing::warn!(sync = %status.name, "{}", status.message);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_delete_as_flux_documents() {
        assert!(deletes(DeletionPolicy::MirrorPrune, true));
        assert!(!deletes(DeletionPolicy::MirrorPrune, false));
        assert!(deletes(DeletionPolicy::Delete, false));
        assert!(deletes(DeletionPolicy::WaitForTermination, false));
        assert!(!deletes(DeletionPolicy::Orphan, true));
    }
}
