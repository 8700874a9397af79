//! Readiness of a live object, computed from its JSON the way kstatus
//! (`sigs.k8s.io/cli-utils/pkg/kstatus`, which Flux's `wait` and
//! `healthChecks` use) does: per-kind rules for the built-in workloads, and
//! for everything else the `Ready` condition and `observedGeneration`.
//!
//! Pure: no API calls, so every rule is unit-tested on plain JSON. The
//! polling lives in [`crate::reconcile`]. Every reason names the specific
//! cause (`0/1 replicas available`, `condition Ready=False: Broken: …`), so
//! a failed health check can say which object failed and why.
//!
//! Where weir departs from kstatus, it is to stop early on states that
//! waiting will not fix: a `Ready=False` condition without `Reconciling`, a
//! failed Pod and a lost PersistentVolumeClaim are failures, not progress;
//! and a Job must complete (kstatus counts a started Job as current).

use std::fmt;

use serde_json::Value;

use crate::object::split_api_version;

/// How ready an object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The object is ready (kstatus `Current`).
    Ready,
    /// Not ready yet; waiting may help. The reason says what is missing.
    InProgress(String),
    /// Not ready and not expected to become ready by waiting. The reason
    /// says why.
    Failed(String),
}

impl Health {
    /// Whether the object is ready.
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }

    /// Whether the object failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Health::Failed(_))
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Ready => f.write_str("ready"),
            Health::InProgress(r) => f.write_str(r),
            Health::Failed(r) => write!(f, "failed: {r}"),
        }
    }
}

/// The readiness of a live object, from its JSON (as the API server returns
/// it).
pub fn health(object: &Value) -> Health {
    if object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return Health::InProgress("being deleted".into());
    }
    let api_version = str_at(object, "/apiVersion").unwrap_or("");
    let (group, _) = split_api_version(api_version);
    let kind = str_at(object, "/kind").unwrap_or("");
    match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => statefulset(object),
        ("apps" | "extensions", "DaemonSet") => daemonset(object),
        ("apps" | "extensions", "ReplicaSet") => replicaset(object),
        ("batch", "Job") => job(object),
        ("", "PersistentVolumeClaim") => pvc(object),
        ("", "Service") => service(object),
        ("", "Pod") => pod(object),
        ("", "Namespace") => namespace(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(object),
        _ => generic(object),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn int_at(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// A condition from `status.conditions`.
struct Condition<'a> {
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

impl Condition<'_> {
    /// `condition Ready=False: Reason: message`, leaving out empty parts.
    fn describe(&self, kind: &str) -> String {
        let mut s = format!("condition {kind}={}", self.status);
        for part in [self.reason, self.message] {
            if !part.is_empty() {
                s.push_str(": ");
                s.push_str(part);
            }
        }
        s
    }
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<Condition<'a>> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| str_at(c, "/type") == Some(kind))
        .map(|c| Condition {
            status: str_at(c, "/status").unwrap_or("Unknown"),
            reason: str_at(c, "/reason").unwrap_or(""),
            message: str_at(c, "/message").unwrap_or(""),
        })
}

/// In progress while the controller has not seen the latest spec:
/// `status.observedGeneration < metadata.generation`. When `required`, a
/// missing `observedGeneration` also counts as not seen (for kinds whose
/// controller always sets it).
fn generation_check(object: &Value, required: bool) -> Option<Health> {
    let generation = int_at(object, "/metadata/generation")?;
    match int_at(object, "/status/observedGeneration") {
        Some(observed) if observed >= generation => None,
        Some(observed) => Some(Health::InProgress(format!(
            "generation {generation} not observed yet by its controller (observed {observed})"
        ))),
        None if required => Some(Health::InProgress(format!(
            "generation {generation} not observed yet by its controller"
        ))),
        None => None,
    }
}

/// The first count below what is wanted, as `have/want replicas what`.
fn short_count(want: i64, counts: &[(i64, &str)]) -> Option<Health> {
    counts
        .iter()
        .find(|(have, _)| *have < want)
        .map(|(have, what)| Health::InProgress(format!("{have}/{want} replicas {what}")))
}

fn deployment(o: &Value) -> Health {
    if let Some(h) = generation_check(o, true) {
        return h;
    }
    // The controller sets this once spec.progressDeadlineSeconds passes
    // without progress: waiting longer will not help.
    if let Some(c) = condition(o, "Progressing")
        && c.reason == "ProgressDeadlineExceeded"
    {
        return Health::Failed(c.describe("Progressing"));
    }
    let want = int_at(o, "/spec/replicas").unwrap_or(1);
    let have = |f: &str| int_at(o, &format!("/status/{f}")).unwrap_or(0);
    let total = have("replicas");
    if want == 0 {
        return if total > 0 {
            Health::InProgress(format!("{total} old replicas pending termination"))
        } else {
            Health::Ready
        };
    }
    if let Some(h) = short_count(
        want,
        &[
            (have("availableReplicas"), "available"),
            (have("updatedReplicas"), "updated"),
            (have("readyReplicas"), "ready"),
        ],
    ) {
        return h;
    }
    if total > want {
        return Health::InProgress(format!("{} old replicas pending termination", total - want));
    }
    match condition(o, "Available") {
        Some(c) if c.status == "True" => Health::Ready,
        Some(c) => Health::InProgress(c.describe("Available")),
        None => Health::InProgress("no Available condition yet".into()),
    }
}

fn statefulset(o: &Value) -> Health {
    if let Some(h) = generation_check(o, true) {
        return h;
    }
    // With OnDelete, pods are replaced by hand: nothing to wait for.
    if str_at(o, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::Ready;
    }
    let want = int_at(o, "/spec/replicas").unwrap_or(1);
    let have = |f: &str| int_at(o, &format!("/status/{f}")).unwrap_or(0);
    if let Some(h) = short_count(
        want,
        &[
            (have("replicas"), "created"),
            (have("readyReplicas"), "ready"),
        ],
    ) {
        return h;
    }
    let total = have("replicas");
    if total > want {
        return Health::InProgress(format!("{} old replicas pending termination", total - want));
    }
    if let Some(partition) = int_at(o, "/spec/updateStrategy/rollingUpdate/partition")
        && partition > 0
    {
        let target = (want - partition).max(0);
        let updated = have("updatedReplicas");
        return if updated < target {
            Health::InProgress(format!(
                "{updated}/{target} replicas updated (partition {partition})"
            ))
        } else {
            Health::Ready
        };
    }
    if let Some(h) = short_count(
        want,
        &[(have("currentReplicas"), "at the current revision")],
    ) {
        return h;
    }
    let current = str_at(o, "/status/currentRevision").unwrap_or("");
    let update = str_at(o, "/status/updateRevision").unwrap_or("");
    if current != update {
        return Health::InProgress(format!(
            "rolling update from revision {current} to {update} in progress"
        ));
    }
    Health::Ready
}

fn daemonset(o: &Value) -> Health {
    if let Some(h) = generation_check(o, true) {
        return h;
    }
    let Some(want) = int_at(o, "/status/desiredNumberScheduled") else {
        return Health::InProgress("status.desiredNumberScheduled not set yet".into());
    };
    let have = |f: &str| int_at(o, &format!("/status/{f}")).unwrap_or(0);
    let counts = [
        (have("currentNumberScheduled"), "scheduled"),
        (have("updatedNumberScheduled"), "updated"),
        (have("numberAvailable"), "available"),
        (have("numberReady"), "ready"),
    ];
    match counts.iter().find(|(n, _)| *n < want) {
        Some((n, what)) => Health::InProgress(format!("{n}/{want} pods {what}")),
        None => Health::Ready,
    }
}

fn replicaset(o: &Value) -> Health {
    if let Some(h) = generation_check(o, false) {
        return h;
    }
    // Pod creation failed (quota, admission); kstatus keeps waiting, as the
    // cause may be fixed outside the object.
    if let Some(c) = condition(o, "ReplicaFailure")
        && c.status == "True"
    {
        return Health::InProgress(c.describe("ReplicaFailure"));
    }
    let want = int_at(o, "/spec/replicas").unwrap_or(1);
    let have = |f: &str| int_at(o, &format!("/status/{f}")).unwrap_or(0);
    if let Some(h) = short_count(
        want,
        &[
            (have("fullyLabeledReplicas"), "labelled"),
            (have("availableReplicas"), "available"),
            (have("readyReplicas"), "ready"),
        ],
    ) {
        return h;
    }
    let total = have("replicas");
    if total > want {
        return Health::InProgress(format!("{} old replicas pending termination", total - want));
    }
    Health::Ready
}

fn job(o: &Value) -> Health {
    if let Some(c) = condition(o, "Failed")
        && c.status == "True"
    {
        return Health::Failed(c.describe("Failed"));
    }
    if let Some(c) = condition(o, "Complete")
        && c.status == "True"
    {
        return Health::Ready;
    }
    if let Some(c) = condition(o, "Suspended")
        && c.status == "True"
    {
        // Suspended by intent (as kstatus): nothing will run until resumed.
        return Health::Ready;
    }
    let succeeded = int_at(o, "/status/succeeded").unwrap_or(0);
    let parallelism = int_at(o, "/spec/parallelism").unwrap_or(1);
    let completions = int_at(o, "/spec/completions").unwrap_or(parallelism);
    let active = int_at(o, "/status/active").unwrap_or(0);
    if str_at(o, "/status/startTime").is_none() {
        return Health::InProgress("not started".into());
    }
    Health::InProgress(format!(
        "not complete: {succeeded}/{completions} succeeded, {active} active"
    ))
}

fn pvc(o: &Value) -> Health {
    match str_at(o, "/status/phase") {
        Some("Bound") => Health::Ready,
        // The bound volume is gone; only a person can bring it back.
        Some("Lost") => Health::Failed("phase Lost: its PersistentVolume is gone".into()),
        Some(phase) => Health::InProgress(format!("phase {phase}, not Bound")),
        None => Health::InProgress("no phase yet, not Bound".into()),
    }
}

fn service(o: &Value) -> Health {
    // kstatus waits for a LoadBalancer Service's cluster IP only, not for
    // its load balancer's ingress: clusters without a load balancer
    // controller would otherwise never get ready.
    let kind = str_at(o, "/spec/type").unwrap_or("ClusterIP");
    let cluster_ip = str_at(o, "/spec/clusterIP").unwrap_or("");
    if kind == "LoadBalancer" && cluster_ip.is_empty() {
        return Health::InProgress("type LoadBalancer: no cluster IP assigned yet".into());
    }
    Health::Ready
}

fn pod(o: &Value) -> Health {
    let phase = str_at(o, "/status/phase").unwrap_or("");
    match phase {
        "Succeeded" => return Health::Ready,
        "Failed" => {
            let why = [str_at(o, "/status/reason"), str_at(o, "/status/message")]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            return Health::Failed(if why.is_empty() {
                "phase Failed".into()
            } else {
                format!("phase Failed: {why}")
            });
        }
        _ => {}
    }
    if condition(o, "Ready").is_some_and(|c| c.status == "True") {
        return Health::Ready;
    }
    // Say which container is stuck and why.
    let mut waiting = Vec::new();
    let mut crash_looping = Vec::new();
    for list in ["/status/initContainerStatuses", "/status/containerStatuses"] {
        for cs in o
            .pointer(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = str_at(cs, "/name").unwrap_or("?");
            if let Some(reason) = str_at(cs, "/state/waiting/reason") {
                let message = str_at(cs, "/state/waiting/message").unwrap_or("");
                let mut s = format!("container {name} waiting: {reason}");
                if !message.is_empty() {
                    s.push_str(": ");
                    s.push_str(message);
                }
                if reason == "CrashLoopBackOff" {
                    crash_looping.push(s);
                } else {
                    waiting.push(s);
                }
            }
        }
    }
    // A crash loop does not end by waiting (kstatus: ContainerCrashLooping).
    if !crash_looping.is_empty() {
        return Health::Failed(crash_looping.join(", "));
    }
    if !waiting.is_empty() {
        return Health::InProgress(waiting.join(", "));
    }
    if let Some(c) = condition(o, "PodScheduled")
        && c.status == "False"
    {
        return Health::InProgress(format!("not scheduled: {}", c.describe("PodScheduled")));
    }
    match (phase, condition(o, "Ready")) {
        ("", _) => Health::InProgress("no phase yet".into()),
        (_, Some(c)) => Health::InProgress(format!("phase {phase}, {}", c.describe("Ready"))),
        (_, None) => Health::InProgress(format!("phase {phase}, not Ready")),
    }
}

fn namespace(o: &Value) -> Health {
    match str_at(o, "/status/phase") {
        Some("Terminating") => Health::InProgress("terminating".into()),
        // Active, or not reported (an API server always sets it; a missing
        // phase is not something waiting would change).
        _ => Health::Ready,
    }
}

fn crd(o: &Value) -> Health {
    if let Some(c) = condition(o, "NamesAccepted")
        && c.status == "False"
    {
        return Health::Failed(c.describe("NamesAccepted"));
    }
    match condition(o, "Established") {
        Some(c) if c.status == "True" => Health::Ready,
        Some(c) if c.status == "False" && c.reason != "Installing" => {
            Health::Failed(c.describe("Established"))
        }
        Some(c) => Health::InProgress(c.describe("Established")),
        None => Health::InProgress("not Established yet".into()),
    }
}

/// Any other kind: `observedGeneration`, then the conditions kstatus reads
/// (`Stalled`, `Reconciling`, `Ready`); no status at all is ready.
fn generic(o: &Value) -> Health {
    if let Some(h) = generation_check(o, false) {
        return h;
    }
    if let Some(c) = condition(o, "Stalled")
        && c.status == "True"
    {
        return Health::Failed(c.describe("Stalled"));
    }
    if let Some(c) = condition(o, "Reconciling")
        && c.status == "True"
    {
        return Health::InProgress(c.describe("Reconciling"));
    }
    match condition(o, "Ready") {
        None => Health::Ready,
        Some(c) => match c.status {
            "True" => Health::Ready,
            // The controller says it is not ready and is not working on it
            // (no Reconciling=True): waiting will not change that.
            "False" => Health::Failed(c.describe("Ready")),
            _ => Health::InProgress(c.describe("Ready")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(spec_replicas: i64, status: Value) -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","generation":2},
            "spec":{"replicas":spec_replicas},"status":status})
    }

    fn available(status: &str) -> Value {
        json!([{"type":"Available","status":status,"reason":"MinimumReplicasAvailable"}])
    }

    #[test]
    fn deployment_is_ready_when_every_replica_is_available() {
        let d = deploy(
            2,
            json!({"observedGeneration":2,"replicas":2,"updatedReplicas":2,
                "readyReplicas":2,"availableReplicas":2,"conditions":available("True")}),
        );
        assert_eq!(health(&d), Health::Ready);
    }

    #[test]
    fn deployment_without_available_replicas_says_how_many() {
        let d = deploy(
            1,
            json!({"observedGeneration":2,"replicas":1,"updatedReplicas":1,
                "unavailableReplicas":1,"conditions":available("False")}),
        );
        assert_eq!(
            health(&d),
            Health::InProgress("0/1 replicas available".into())
        );
    }

    #[test]
    fn deployment_waits_for_its_generation_and_available_condition() {
        let d = deploy(1, json!({"observedGeneration":1}));
        let h = health(&d);
        assert!(
            matches!(&h, Health::InProgress(r) if r.contains("generation 2 not observed")),
            "{h:?}"
        );
        let d = deploy(1, json!({}));
        assert!(matches!(health(&d), Health::InProgress(_)));
        let d = deploy(
            1,
            json!({"observedGeneration":2,"replicas":1,"updatedReplicas":1,
                "readyReplicas":1,"availableReplicas":1,"conditions":available("False")}),
        );
        let h = health(&d);
        assert!(
            matches!(&h, Health::InProgress(r) if r.starts_with("condition Available=False")),
            "{h:?}"
        );
    }

    #[test]
    fn deployment_with_zero_replicas_is_ready_once_observed() {
        assert_eq!(
            health(&deploy(0, json!({"observedGeneration":2}))),
            Health::Ready
        );
        assert!(matches!(
            health(&deploy(0, json!({"observedGeneration":2,"replicas":1}))),
            Health::InProgress(_)
        ));
    }

    #[test]
    fn deployment_past_its_progress_deadline_fails() {
        let d = deploy(
            1,
            json!({"observedGeneration":2,"conditions":[{"type":"Progressing","status":"False",
                "reason":"ProgressDeadlineExceeded","message":"ReplicaSet \"web-1\" has timed out progressing."}]}),
        );
        assert_eq!(
            health(&d),
            Health::Failed(
                "condition Progressing=False: ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing.".into()
            )
        );
    }

    #[test]
    fn statefulset_needs_ready_current_replicas_and_one_revision() {
        let sts = |status: Value, strategy: Value| {
            json!({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","generation":1},
                "spec":{"replicas":3,"updateStrategy":strategy},"status":status})
        };
        let ok = json!({"observedGeneration":1,"replicas":3,"readyReplicas":3,
            "currentReplicas":3,"updatedReplicas":3,"currentRevision":"r1","updateRevision":"r1"});
        assert_eq!(health(&sts(ok.clone(), json!({}))), Health::Ready);
        let mut not_ready = ok.clone();
        not_ready["readyReplicas"] = json!(1);
        assert_eq!(
            health(&sts(not_ready, json!({}))),
            Health::InProgress("1/3 replicas ready".into())
        );
        let mut rolling = ok.clone();
        rolling["updateRevision"] = json!("r2");
        assert!(
            matches!(health(&sts(rolling, json!({}))), Health::InProgress(r) if r.contains("r2"))
        );
        let mut partial = ok.clone();
        partial["updatedReplicas"] = json!(0);
        partial["updateRevision"] = json!("r2");
        let part = json!({"type":"RollingUpdate","rollingUpdate":{"partition":2}});
        assert_eq!(
            health(&sts(partial, part)),
            Health::InProgress("0/1 replicas updated (partition 2)".into())
        );
        assert_eq!(
            health(&sts(
                json!({"observedGeneration":1}),
                json!({"type":"OnDelete"})
            )),
            Health::Ready
        );
    }

    #[test]
    fn daemonset_needs_every_desired_pod_available_and_its_generation_observed() {
        let ds = |status: Value| json!({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"agent","generation":1},"status":status});
        assert!(
            matches!(health(&ds(json!({}))), Health::InProgress(r) if r.contains("generation 1"))
        );
        assert!(matches!(
            health(&ds(json!({"observedGeneration":1}))),
            Health::InProgress(r) if r.contains("desiredNumberScheduled")
        ));
        let full = json!({"observedGeneration":1,"desiredNumberScheduled":2,"currentNumberScheduled":2,
            "updatedNumberScheduled":2,"numberAvailable":2,"numberReady":2});
        assert_eq!(health(&ds(full.clone())), Health::Ready);
        let mut short = full;
        short["numberAvailable"] = json!(1);
        assert_eq!(
            health(&ds(short)),
            Health::InProgress("1/2 pods available".into())
        );
    }

    #[test]
    fn replicaset_needs_available_replicas() {
        let rs = |status: Value| json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-1"},"spec":{"replicas":2},"status":status});
        let full =
            json!({"replicas":2,"fullyLabeledReplicas":2,"availableReplicas":2,"readyReplicas":2});
        assert_eq!(health(&rs(full)), Health::Ready);
        assert_eq!(
            health(&rs(
                json!({"replicas":2,"fullyLabeledReplicas":2,"availableReplicas":1})
            )),
            Health::InProgress("1/2 replicas available".into())
        );
        let h = health(&rs(
            json!({"conditions":[{"type":"ReplicaFailure","status":"True",
            "reason":"FailedCreate","message":"exceeded quota"}]}),
        ));
        assert_eq!(
            h,
            Health::InProgress(
                "condition ReplicaFailure=True: FailedCreate: exceeded quota".into()
            )
        );
    }

    #[test]
    fn job_must_complete_and_a_failed_job_fails() {
        let job = |status: Value| json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"migrate"},"spec":{},"status":status});
        assert_eq!(
            health(&job(json!({}))),
            Health::InProgress("not started".into())
        );
        assert_eq!(
            health(&job(json!({"startTime":"2024-01-01T00:00:00Z","active":1}))),
            Health::InProgress("not complete: 0/1 succeeded, 1 active".into())
        );
        assert_eq!(
            health(&job(
                json!({"conditions":[{"type":"Complete","status":"True"}]})
            )),
            Health::Ready
        );
        assert_eq!(
            health(&job(json!({"conditions":[{"type":"Failed","status":"True",
                "reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}))),
            Health::Failed(
                "condition Failed=True: BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            )
        );
    }

    #[test]
    fn pvc_must_be_bound_and_lost_fails() {
        let pvc = |phase: &str| json!({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"data"},"status":{"phase":phase}});
        assert_eq!(health(&pvc("Bound")), Health::Ready);
        assert_eq!(
            health(&pvc("Pending")),
            Health::InProgress("phase Pending, not Bound".into())
        );
        assert!(health(&pvc("Lost")).is_failed());
    }

    #[test]
    fn services_are_ready_and_load_balancers_need_a_cluster_ip() {
        let svc = |spec: Value| json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":spec,"status":{"loadBalancer":{}}});
        assert_eq!(health(&svc(json!({"clusterIP":"10.0.0.1"}))), Health::Ready);
        assert_eq!(
            health(&svc(json!({"type":"LoadBalancer","clusterIP":"10.0.0.1"}))),
            Health::Ready
        );
        assert!(matches!(
            health(&svc(json!({"type":"LoadBalancer"}))),
            Health::InProgress(_)
        ));
    }

    #[test]
    fn pods_need_ready_or_succeeded_and_name_the_stuck_container() {
        let pod = |status: Value| json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"status":status});
        assert_eq!(
            health(&pod(
                json!({"phase":"Running","conditions":[{"type":"Ready","status":"True"}]})
            )),
            Health::Ready
        );
        assert_eq!(health(&pod(json!({"phase":"Succeeded"}))), Health::Ready);
        assert_eq!(
            health(&pod(
                json!({"phase":"Pending","containerStatuses":[{"name":"web",
                "state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"nope\""}}}]})
            )),
            Health::InProgress(
                "container web waiting: ImagePullBackOff: Back-off pulling image \"nope\"".into()
            )
        );
        assert_eq!(
            health(&pod(
                json!({"phase":"Running","containerStatuses":[{"name":"web",
                "state":{"waiting":{"reason":"CrashLoopBackOff"}}}]})
            )),
            Health::Failed("container web waiting: CrashLoopBackOff".into())
        );
        assert_eq!(
            health(&pod(json!({"phase":"Failed","reason":"Evicted"}))),
            Health::Failed("phase Failed: Evicted".into())
        );
        assert_eq!(
            health(&pod(json!({"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False",
                "reason":"Unschedulable","message":"0/3 nodes are available"}]}))),
            Health::InProgress(
                "not scheduled: condition PodScheduled=False: Unschedulable: 0/3 nodes are available".into()
            )
        );
        assert!(matches!(health(&pod(json!({}))), Health::InProgress(_)));
    }

    #[test]
    fn crds_need_established_and_refused_names_fail() {
        let crd = |conditions: Value| {
            json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
                "metadata":{"name":"widgets.ex.com"},"status":{"conditions":conditions}})
        };
        assert_eq!(
            health(&crd(
                json!([{"type":"NamesAccepted","status":"True"},{"type":"Established","status":"True"}])
            )),
            Health::Ready
        );
        assert_eq!(
            health(&crd(
                json!([{"type":"NamesAccepted","status":"False","reason":"KindConflict",
                "message":"\"Widget\" is already in use"}])
            )),
            Health::Failed(
                "condition NamesAccepted=False: KindConflict: \"Widget\" is already in use".into()
            )
        );
        assert!(matches!(
            health(&crd(
                json!([{"type":"Established","status":"False","reason":"Installing"}])
            )),
            Health::InProgress(_)
        ));
        assert!(matches!(health(&crd(json!([]))), Health::InProgress(_)));
    }

    #[test]
    fn namespaces_are_ready_when_active_and_in_progress_when_terminating() {
        let ns = |phase: &str| json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"},"status":{"phase":phase}});
        assert_eq!(health(&ns("Active")), Health::Ready);
        assert_eq!(
            health(&ns("Terminating")),
            Health::InProgress("terminating".into())
        );
    }

    #[test]
    fn other_kinds_follow_their_ready_condition_and_generation() {
        let cr = |metadata: Value, status: Value| json!({"apiVersion":"ex.com/v1","kind":"Widget","metadata":metadata,"status":status});
        let meta = json!({"name":"w","generation":3});
        let ready = |status: &str| {
            json!({"observedGeneration":3,"conditions":[{"type":"Ready","status":status,
                "reason":"Broken","message":"the widget is broken"}]})
        };
        assert_eq!(health(&cr(meta.clone(), ready("True"))), Health::Ready);
        assert_eq!(
            health(&cr(meta.clone(), ready("False"))),
            Health::Failed("condition Ready=False: Broken: the widget is broken".into())
        );
        assert_eq!(
            health(&cr(meta.clone(), ready("Unknown"))),
            Health::InProgress("condition Ready=Unknown: Broken: the widget is broken".into())
        );
        let mut old = ready("True");
        old["observedGeneration"] = json!(2);
        assert!(matches!(
            health(&cr(meta.clone(), old)),
            Health::InProgress(r) if r.contains("generation 3 not observed")
        ));
        // Flux-style controllers say they are still working with
        // Reconciling=True; Stalled=True means they gave up.
        let working = json!({"conditions":[{"type":"Ready","status":"False"},
            {"type":"Reconciling","status":"True","reason":"Progressing"}]});
        assert!(matches!(
            health(&cr(meta.clone(), working)),
            Health::InProgress(_)
        ));
        let stalled =
            json!({"conditions":[{"type":"Stalled","status":"True","reason":"InvalidSpec"}]});
        assert_eq!(
            health(&cr(meta.clone(), stalled)),
            Health::Failed("condition Stalled=True: InvalidSpec".into())
        );
        // No status, or a status without a Ready condition: ready (kstatus
        // "current"), as ConfigMaps, Secrets and most CRs are.
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{}});
        assert_eq!(health(&cm), Health::Ready);
        assert_eq!(health(&cr(meta, json!({"phase":"x"}))), Health::Ready);
    }

    #[test]
    fn objects_being_deleted_are_in_progress() {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"c","deletionTimestamp":"2024-01-01T00:00:00Z"}});
        assert_eq!(health(&cm), Health::InProgress("being deleted".into()));
    }
}
