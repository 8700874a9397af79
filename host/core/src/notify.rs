//! Notifications: events about syncs and sources go to the `[[alert]]`s
//! that select them, and from there to their `[[provider]]`'s notifier
//! plugin — Flux's notification-controller inside the host.
//!
//! [`Notifications::emit`] never waits: it matches the event against the
//! alerts (kind, name, namespace, labels, severity, inclusion and exclusion
//! lists), drops a duplicate of an event sent within the dedup window
//! (Flux: 5 minutes), renders the alert's template and queues the delivery
//! on the provider's own task. That task keeps to the provider's rate
//! limit, reads the provider's secrets (files, a Kubernetes Secret) at each
//! delivery, calls the plugin off the async runtime within the provider's
//! timeout, and retries transient failures (5xx, timeouts, refused
//! connections) with backoff before it reports the failure: in the log and
//! in `<state>/providers/<name>.json`. A reconcile is never delayed by a
//! slow or broken provider.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use regex::Regex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use weir_config::template::{Field, Template};
use weir_config::{Config, EventSeverity, EventSource, Provider};

use crate::plugin::{Event, NotifierRegistry, NotifyRequest, OptionValue, Severity};
use crate::status::{now_unix, rfc3339};

/// How long an identical event is not sent again to the same alert (Flux's
/// notification-controller: 5 minutes).
pub const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Deliveries waiting for one provider at most; more are dropped (and
/// counted) rather than holding memory or a reconcile.
const QUEUE: usize = 256;

/// Attempts of one delivery whose failures are transient.
const ATTEMPTS: u32 = 4;

/// The wait before the second attempt; it doubles for each next one.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Windows and delays of [`Notifications`].
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// How long an identical event is not sent again ([`DEDUP_WINDOW`]).
    pub dedup_window: Duration,
    /// The wait before a delivery's second attempt; it doubles for each
    /// next one ([`FIRST_RETRY`]).
    pub first_retry: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            dedup_window: DEDUP_WINDOW,
            first_retry: FIRST_RETRY,
        }
    }
}

/// An alert, compiled.
struct Alert {
    name: String,
    provider: String,
    errors_only: bool,
    sources: Vec<EventSource>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    metadata: Vec<(String, String)>,
    template: Option<Template>,
}

/// One delivery for a provider's task.
struct Delivery {
    event: Event,
    message: Option<String>,
    alert: String,
}

/// What one provider's task has done, as `<state>/providers/<name>.json`
/// records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The provider's name.
    pub name: String,
    /// Its notifier plugin.
    pub plugin: String,
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// Deliveries given up after their attempts.
    pub failed: u64,
    /// Deliveries dropped: the queue was full or the provider suspended.
    pub dropped: u64,
    /// Whether the last delivery succeeded.
    pub ready: bool,
    /// The last delivery's outcome (the error when it failed).
    pub message: String,
    /// Unix time of the last delivery.
    #[serde(default)]
    pub last_delivery_at: Option<u64>,
}

/// A provider's queue and counters.
struct Queue {
    tx: mpsc::Sender<Delivery>,
    status: Arc<Mutex<ProviderStatus>>,
}

/// Routes events to providers. Cheap to share; see the module docs.
pub struct Notifications {
    cluster: String,
    namespace: String,
    alerts: Vec<Alert>,
    queues: BTreeMap<String, Queue>,
    labels: BTreeMap<(String, String), BTreeMap<String, String>>,
    sent: Mutex<HashMap<u64, Instant>>,
    window: Duration,
    /// Deliveries queued or in flight, for [`Notifications::flush`].
    pending: Arc<Pending>,
}

/// Deliveries queued or in flight, counted by `emit` and the providers'
/// tasks, and waited for by [`Notifications::flush`].
#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

impl Pending {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Reads provider secrets from the host's cluster.
#[derive(Clone)]
pub struct SecretReader {
    client: Option<kube::Client>,
}

impl SecretReader {
    /// Reads with `client`; `None`: a `secretRef` is an error.
    pub fn new(client: Option<kube::Client>) -> Self {
        SecretReader { client }
    }

    async fn read(&self, namespace: &str, name: &str) -> Result<BTreeMap<String, String>, String> {
        let Some(client) = &self.client else {
            return Err(format!(
                "cannot read Secret {namespace}/{name}: no cluster connection"
            ));
        };
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = api
            .get(name)
            .await
            .map_err(|e| format!("cannot read Secret {namespace}/{name}: {}", kube_reason(&e)))?;
        let mut out = BTreeMap::new();
        for (k, v) in secret.data.unwrap_or_default() {
            let text = String::from_utf8(v.0)
                .map_err(|_| format!("Secret {namespace}/{name}: key {k:?} is not UTF-8"))?;
            out.insert(k, text);
        }
        for (k, v) in secret.string_data.unwrap_or_default() {
            out.insert(k, v);
        }
        Ok(out)
    }
}

/// The reason of a Kubernetes API error, without anything the server
/// echoed from a request body.
fn kube_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
        other => other.to_string(),
    }
}

impl Notifications {
    /// Alerts and providers of `config`, delivering through `registry`;
    /// one task per provider is spawned on the current Tokio runtime.
    /// Events carry `host.clusterName`, and sources/syncs are in
    /// `host.eventNamespace`.
    ///
    /// # Errors
    /// None in practice: the config was checked when it was loaded; a
    /// regular expression or template that does not compile after all is
    /// reported naming the alert.
    pub fn new(
        config: &Config,
        registry: Arc<dyn NotifierRegistry>,
        secrets: SecretReader,
    ) -> Result<Self, String> {
        Self::tuned(config, registry, secrets, Tuning::default())
    }

    /// [`Notifications::new`] with other windows and delays (tests).
    ///
    /// # Errors
    /// As [`Notifications::new`].
    pub fn tuned(
        config: &Config,
        registry: Arc<dyn NotifierRegistry>,
        secrets: SecretReader,
        tuning: Tuning,
    ) -> Result<Self, String> {
        let pending = Arc::new(Pending::default());
        let mut queues = BTreeMap::new();
        let state = config.state_dir().join("providers");
        for p in &config.provider {
            let (tx, rx) = mpsc::channel(QUEUE);
            // Counters go on from where the last process left them.
            let before: Option<ProviderStatus> =
                std::fs::read(state.join(format!("{}.json", p.name)))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
            let status = Arc::new(Mutex::new(ProviderStatus {
                name: p.name.to_string(),
                plugin: p.plugin().to_owned(),
                ..before.unwrap_or(ProviderStatus {
                    ready: true,
                    ..ProviderStatus::default()
                })
            }));
            let worker = Worker {
                provider: p.clone(),
                base: config.base_dir.clone(),
                registry: Arc::clone(&registry),
                secrets: secrets.clone(),
                status: Arc::clone(&status),
                state: state.clone(),
                pending: Arc::clone(&pending),
                first_retry: tuning.first_retry,
            };
            tokio::spawn(worker.run(rx));
            queues.insert(p.name.to_string(), Queue { tx, status });
        }
        let mut alerts = Vec::new();
        for a in &config.alert {
            let compile = |list: &[String]| -> Result<Vec<Regex>, String> {
                list.iter()
                    .map(|r| Regex::new(r).map_err(|e| format!("alert {:?}: {e}", a.name.as_str())))
                    .collect()
            };
            let template = a
                .template
                .as_deref()
                .map(Template::parse)
                .transpose()
                .map_err(|e| format!("alert {:?}: {e}", a.name.as_str()))?;
            if a.suspend {
                continue;
            }
            alerts.push(Alert {
                name: a.name.to_string(),
                provider: a.provider.to_string(),
                errors_only: a.event_severity == EventSeverity::Error,
                sources: a.event_sources.clone(),
                include: compile(&a.inclusion_list)?,
                exclude: compile(&a.exclusion_list)?,
                metadata: a
                    .event_metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                template,
            });
        }
        let mut labels = BTreeMap::new();
        for s in &config.sync {
            labels.insert(
                (sync_kind(s).to_owned(), s.name.to_string()),
                s.labels.clone(),
            );
        }
        for g in config.sources() {
            labels.insert((g.kind.to_owned(), g.name.to_string()), g.labels.clone());
        }
        Ok(Notifications {
            cluster: config.cluster_name().to_owned(),
            namespace: config.event_namespace().to_owned(),
            alerts,
            queues,
            labels,
            sent: Mutex::new(HashMap::new()),
            window: tuning.dedup_window,
            pending,
        })
    }

    /// Whether any alert is declared (and not suspended).
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// The cluster name events carry.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The namespace of weir's (virtual) objects.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Queues `event` for every alert that selects it. Never waits.
    pub fn emit(&self, event: &Event) {
        for alert in &self.alerts {
            if !self.selects(alert, event) {
                continue;
            }
            let mut event = event.clone();
            for (k, v) in &alert.metadata {
                if !event.metadata.iter().any(|(ek, _)| ek == k) {
                    event.metadata.push((k.clone(), v.clone()));
                }
            }
            if self.duplicate(&alert.name, &event) {
                tracing::debug!(alert = %alert.name, reason = %event.reason, "duplicate event not sent again");
                continue;
            }
            let message = alert
                .template
                .as_ref()
                .map(|t| t.render(&|f| field(&event, f, &alert.name, &alert.provider)));
            let Some(queue) = self.queues.get(&alert.provider) else {
                continue;
            };
            self.pending.add();
            let delivery = Delivery {
                event,
                message,
                alert: alert.name.clone(),
            };
            if let Err(e) = queue.tx.try_send(delivery) {
                self.pending.done();
                let mut s = lock(&queue.status);
                s.dropped += 1;
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "its queue is full",
                    mpsc::error::TrySendError::Closed(_) => "its task has stopped",
                };
                tracing::warn!(provider = %alert.provider, alert = %alert.name, "event dropped: {why}");
            }
        }
    }

    /// Waits until every queued delivery has been made or given up, at most
    /// `deadline` (for `weir reconcile`, which exits afterwards). `false`
    /// when some were still pending.
    pub async fn flush(&self, deadline: Duration) -> bool {
        tokio::time::timeout(deadline, self.pending.idle())
            .await
            .is_ok()
    }

    /// Each provider's counters so far.
    pub fn statuses(&self) -> Vec<ProviderStatus> {
        self.queues
            .values()
            .map(|q| lock(&q.status).clone())
            .collect()
    }

    fn selects(&self, alert: &Alert, event: &Event) -> bool {
        if alert.errors_only && event.severity != Severity::Error {
            return false;
        }
        let obj = &event.involved_object;
        let source_matches = alert.sources.iter().any(|s| {
            let kind_ok = s.kind() == "*" || s.kind() == obj.kind;
            let name_ok = s.name == "*" || s.name == obj.name;
            let ns_ok = s
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == "*" || Some(ns) == obj.namespace.as_deref());
            let labels_ok = s.match_labels.is_empty() || {
                let have = self.labels.get(&(obj.kind.clone(), obj.name.clone()));
                s.match_labels
                    .iter()
                    .all(|(k, v)| have.and_then(|l| l.get(k)) == Some(v))
            };
            kind_ok && name_ok && ns_ok && labels_ok
        });
        if !source_matches {
            return false;
        }
        if !alert.include.is_empty() && !alert.include.iter().any(|r| r.is_match(&event.message)) {
            return false;
        }
        !alert.exclude.iter().any(|r| r.is_match(&event.message))
    }

    /// Whether the same event went to this alert within the window;
    /// records it when not.
    fn duplicate(&self, alert: &str, event: &Event) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        alert.hash(&mut h);
        event.severity.hash(&mut h);
        event.reason.hash(&mut h);
        event.message.hash(&mut h);
        event.revision.hash(&mut h);
        event.involved_object.hash(&mut h);
        event.metadata.hash(&mut h);
        let key = h.finish();
        let now = Instant::now();
        let mut sent = lock(&self.sent);
        sent.retain(|_, at| now.duration_since(*at) < self.window);
        if sent.contains_key(&key) {
            return true;
        }
        sent.insert(key, now);
        false
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A template field's value for `event`.
fn field(event: &Event, f: &Field, alert: &str, provider: &str) -> Option<String> {
    let o = &event.involved_object;
    match f {
        Field::Metadata(k) => event
            .metadata
            .iter()
            .find(|(ek, _)| ek == k)
            .map(|(_, v)| v.clone()),
        Field::Named(n) => match *n {
            "severity" => Some(
                match event.severity {
                    Severity::Info => "info",
                    Severity::Error => "error",
                }
                .into(),
            ),
            "reason" => Some(event.reason.clone()),
            "message" => Some(event.message.clone()),
            "revision" => event.revision.clone(),
            "kind" => Some(o.kind.clone()),
            "name" => Some(o.name.clone()),
            "namespace" => o.namespace.clone(),
            "apiVersion" => Some(o.api_version.clone()),
            "cluster" => Some(event.cluster.clone()),
            "timestamp" => Some(event.timestamp.clone()),
            "alert" => Some(alert.to_owned()),
            "provider" => Some(provider.to_owned()),
            _ => None,
        },
    }
}

/// Delivers one provider's events, one at a time.
struct Worker {
    provider: Provider,
    base: PathBuf,
    registry: Arc<dyn NotifierRegistry>,
    secrets: SecretReader,
    status: Arc<Mutex<ProviderStatus>>,
    state: PathBuf,
    pending: Arc<Pending>,
    first_retry: Duration,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Delivery>) {
        let limit = self.provider.rate_limit();
        let mut bucket = Bucket::new(limit.events, limit.per.get());
        while let Some(d) = rx.recv().await {
            if self.provider.suspend {
                lock(&self.status).dropped += 1;
            } else {
                if let Some(wait) = bucket.take(Instant::now()) {
                    tracing::info!(provider = %self.provider.name, wait = ?wait, "rate limit: delivery waits");
                    tokio::time::sleep(wait).await;
                }
                self.deliver(d).await;
            }
            self.pending.done();
        }
    }

    async fn deliver(&self, d: Delivery) {
        let name = self.provider.name.as_str();
        let mut delay = self.first_retry;
        let mut attempt = 1;
        let outcome = loop {
            let result = self.attempt(&d).await;
            match result {
                Ok(()) => break Ok(attempt),
                Err((message, transient)) if transient && attempt < ATTEMPTS => {
                    tracing::info!(provider = name, alert = %d.alert, attempt, retry_in = ?delay, error = %message, "delivery failed; will retry");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err((message, _)) => break Err((attempt, message)),
            }
        };
        let mut s = lock(&self.status);
        s.last_delivery_at = Some(now_unix());
        match outcome {
            Ok(attempts) => {
                tracing::info!(provider = name, alert = %d.alert, reason = %d.event.reason, attempts, "notification delivered");
                s.delivered += 1;
                s.ready = true;
                s.message = format!("delivered {} ({})", d.event.reason, d.alert);
            }
            Err((attempts, message)) => {
                tracing::error!(provider = name, alert = %d.alert, reason = %d.event.reason, attempts, error = %message, "notification not delivered");
                s.failed += 1;
                s.ready = false;
                s.message = format!(
                    "{} ({}) not delivered after {attempts} attempt(s): {message}",
                    d.event.reason, d.alert
                );
            }
        }
        let snapshot = s.clone();
        drop(s);
        if let Err(e) = write_status(&self.state, &snapshot) {
            tracing::warn!(provider = name, error = %e, "cannot write provider status");
        }
    }

    /// One attempt: the error and whether it is worth retrying.
    async fn attempt(&self, d: &Delivery) -> Result<(), (String, bool)> {
        let secrets = self.secrets().await.map_err(|m| (m, true))?;
        let mut settings: Vec<(String, OptionValue)> = Vec::new();
        if let Some(c) = &self.provider.channel {
            settings.push(("channel".into(), OptionValue::Str(c.clone())));
        }
        if let Some(u) = &self.provider.username {
            settings.push(("username".into(), OptionValue::Str(u.clone())));
        }
        for (k, v) in &self.provider.settings {
            let v = match v {
                toml::Value::String(s) => OptionValue::Str(s.clone()),
                toml::Value::Integer(i) => OptionValue::Int(*i),
                toml::Value::Float(f) => OptionValue::Float(*f),
                toml::Value::Boolean(b) => OptionValue::Bool(*b),
                _ => continue,
            };
            settings.push((k.clone(), v));
        }
        let request = NotifyRequest {
            event: d.event.clone(),
            message: d.message.clone(),
            settings,
            secrets,
        };
        let registry = Arc::clone(&self.registry);
        let plugin = self.provider.plugin().to_owned();
        let timeout = self.provider.timeout().get();
        let call = tokio::task::spawn_blocking(move || {
            let notifier = registry.notifier(&plugin)?;
            notifier.notify_within(&request, timeout)
        });
        // The plugin's own deadline ends the call; this one, a little
        // later, only catches a call that does not stop.
        match tokio::time::timeout(timeout + Duration::from_secs(5), call).await {
            Err(_) => Err((format!("no answer within {timeout:?}"), true)),
            Ok(Err(e)) => Err((format!("delivery task failed: {e}"), true)),
            Ok(Ok(Err(e))) => {
                let transient = e.kind.is_transient();
                Err((e.to_string(), transient))
            }
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }

    /// `address`, `token` and `headers`, from the file and then the
    /// Secret (whose values win), read now.
    async fn secrets(&self) -> Result<Vec<(String, String)>, String> {
        let p = &self.provider;
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        let read = |path: &std::path::Path, what: &str| {
            let path = if path.is_absolute() {
                path.to_owned()
            } else {
                self.base.join(path)
            };
            std::fs::read_to_string(&path)
                .map(|s| s.trim_end().to_owned())
                .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
        };
        if let Some(a) = &p.address {
            out.insert("address".into(), a.clone());
        }
        if let Some(f) = &p.address_file {
            out.insert("address".into(), read(f, "addressFile")?);
        }
        if let Some(t) = &p.token {
            out.insert("token".into(), t.clone());
        }
        if let Some(f) = &p.token_file {
            out.insert("token".into(), read(f, "tokenFile")?);
        }
        if let Some(r) = &p.secret_ref {
            let data = self.secrets.read(&r.namespace, &r.name).await?;
            for key in ["address", "token", "headers", "username", "password"] {
                if let Some(v) = data.get(key) {
                    out.insert(key.into(), v.trim_end_matches('\n').to_owned());
                }
            }
        }
        if !out.contains_key("address") {
            return Err(format!(
                "provider {:?} has no address (secretRef has no `address` key)",
                p.name.as_str()
            ));
        }
        Ok(out.into_iter().collect())
    }
}

fn write_status(dir: &std::path::Path, s: &ProviderStatus) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.json", s.name));
    let tmp = dir.join(format!(".{}.json.tmp", s.name));
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?)?;
    std::fs::rename(&tmp, &path)
}

/// A token bucket: `capacity` deliveries at once, refilled evenly over
/// `per`.
struct Bucket {
    capacity: f64,
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn new(capacity: u32, per: Duration) -> Self {
        let capacity = f64::from(capacity.max(1));
        Bucket {
            capacity,
            tokens: capacity,
            rate: capacity / per.as_secs_f64().max(1e-3),
            at: Instant::now(),
        }
    }

    /// Takes a token at `now`: `None` when one was there, else how long
    /// to wait for it (the token is spent in advance).
    fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(-self.tokens / self.rate))
        }
    }
}

/// A notification event about weir's object `kind`/`name` (in
/// `namespace`), stamped now.
pub fn event(
    severity: Severity,
    reason: &str,
    message: &str,
    revision: Option<&str>,
    object: (&str, &str, &str, &str),
    cluster: &str,
) -> Event {
    let (api_version, kind, namespace, name) = object;
    Event {
        severity,
        reason: reason.to_owned(),
        message: message.to_owned(),
        revision: revision.map(str::to_owned),
        involved_object: crate::plugin::EventObject {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        },
        cluster: cluster.to_owned(),
        timestamp: rfc3339(now_unix()),
        metadata: Vec::new(),
    }
}

/// The event kind of a sync: `HelmRelease` for a `[[release]]`, else
/// `Sync`.
pub fn sync_kind(sync: &weir_config::Sync) -> &'static str {
    if sync.helm.is_some() {
        "HelmRelease"
    } else {
        "Sync"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Notifier, PluginError, PluginErrorKind};

    /// Records requests; fails the first `fail` calls with `kind`.
    struct Recorder {
        calls: Mutex<Vec<NotifyRequest>>,
        fail: Mutex<u32>,
        kind: PluginErrorKind,
    }

    impl Notifier for Recorder {
        fn name(&self) -> &str {
            "rec"
        }
        fn notify(&self, request: &NotifyRequest) -> Result<(), PluginError> {
            lock(&self.calls).push(request.clone());
            let mut f = lock(&self.fail);
            if *f > 0 {
                *f -= 1;
                return Err(PluginError {
                    plugin: "rec".into(),
                    version: None,
                    kind: self.kind,
                    message: "HTTP 503".into(),
                    file: None,
                    line: None,
                });
            }
            Ok(())
        }
    }

    struct Registry(Arc<Recorder>);

    impl NotifierRegistry for Registry {
        fn notifier(&self, _: &str) -> Result<Arc<dyn Notifier>, PluginError> {
            Ok(Arc::clone(&self.0) as Arc<dyn Notifier>)
        }
    }

    fn setup(
        extra: &str,
        fail: u32,
        kind: PluginErrorKind,
    ) -> (Notifications, Arc<Recorder>, tempfile::TempDir) {
        setup_with(extra, fail, kind, DEDUP_WINDOW)
    }

    fn setup_with(
        extra: &str,
        fail: u32,
        kind: PluginErrorKind,
        dedup_window: Duration,
    ) -> (Notifications, Arc<Recorder>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            r#"version = 1
[host]
clusterName = "prod-eu"
[[git]]
name = "apps"
url = "https://git.example.com/apps.git"
labels = {{ team = "shop" }}
[[sync]]
name = "web"
source = "apps"
prune = true
labels = {{ tier = "front" }}
[[provider]]
name = "chat"
type = "rec"
address = "https://hooks.example.com/x"
{extra}
"#
        );
        let path = dir.path().join("weir.toml");
        let config = Config::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        let rec = Arc::new(Recorder {
            calls: Mutex::new(Vec::new()),
            fail: Mutex::new(fail),
            kind,
        });
        let n = Notifications::tuned(
            &config,
            Arc::new(Registry(Arc::clone(&rec))),
            SecretReader::new(None),
            Tuning {
                dedup_window,
                first_retry: Duration::from_millis(10),
            },
        )
        .expect("notifications");
        (n, rec, dir)
    }

    fn ev(kind: &str, name: &str, severity: Severity, reason: &str, message: &str) -> Event {
        event(
            severity,
            reason,
            message,
            Some("main@sha1:0123456789abcdef0123456789abcdef01234567"),
            ("sync.weir.dev/v1", kind, "default", name),
            "prod-eu",
        )
    }

    #[tokio::test]
    async fn alerts_select_by_kind_name_labels_severity_and_lists() {
        let (n, rec, _d) = setup(
            r#"
[[alert]]
name = "errors"
provider = "chat"
eventSeverity = "error"
eventSources = [{ kind = "Kustomization", name = "*" }]
exclusionList = ["ignore me"]
[[alert]]
name = "front"
provider = "chat"
eventSources = [{ kind = "Sync", name = "*", matchLabels = { tier = "front" } }, { kind = "GitRepository", name = "apps", namespace = "other" }]
inclusionList = ["^applied"]
eventMetadata = { env = "prod" }
template = "{{alert}}: {{kind}}/{{name}} {{message}} on {{cluster}} ({{metadata.env}})"
"#,
            0,
            PluginErrorKind::Transient,
        );
        n.emit(&ev(
            "Sync",
            "web",
            Severity::Info,
            "ReconciliationSucceeded",
            "applied revision x",
        ));
        n.emit(&ev(
            "Sync",
            "web",
            Severity::Info,
            "ReconciliationSucceeded",
            "nothing to say",
        ));
        n.emit(&ev(
            "Sync",
            "web",
            Severity::Error,
            "ApplyFailed",
            "refused",
        ));
        n.emit(&ev(
            "Sync",
            "web",
            Severity::Error,
            "ApplyFailed",
            "please ignore me",
        ));
        n.emit(&ev(
            "GitRepository",
            "apps",
            Severity::Info,
            "NewArtifact",
            "applied",
        ));
        n.emit(&ev(
            "Sync",
            "other",
            Severity::Info,
            "ReconciliationSucceeded",
            "applied y",
        ));
        assert!(n.flush(Duration::from_secs(10)).await);
        let calls = lock(&rec.calls);
        let got: Vec<(String, Option<String>)> = calls
            .iter()
            .map(|r| (r.event.reason.clone(), r.message.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "ReconciliationSucceeded".into(),
                    Some("front: Sync/web applied revision x on prod-eu (prod)".into())
                ),
                ("ApplyFailed".into(), None),
            ]
        );
        assert_eq!(calls[0].event.metadata, vec![("env".into(), "prod".into())]);
        assert_eq!(
            calls[0].secrets,
            vec![("address".into(), "https://hooks.example.com/x".into())]
        );
    }

    #[tokio::test]
    async fn an_identical_event_is_sent_once_per_window() {
        let (n, rec, _d) = setup(
            "[[alert]]\nname = \"a\"\nprovider = \"chat\"\neventSources = [{ kind = \"*\" }]\n",
            0,
            PluginErrorKind::Transient,
        );
        let e = ev("Sync", "web", Severity::Error, "ApplyFailed", "refused");
        n.emit(&e);
        n.emit(&e);
        n.emit(&ev(
            "Sync",
            "web",
            Severity::Error,
            "ApplyFailed",
            "refused again",
        ));
        assert!(n.flush(Duration::from_secs(10)).await);
        assert_eq!(lock(&rec.calls).len(), 2);
        let (n, rec, _d) = setup_with(
            "[[alert]]\nname = \"a\"\nprovider = \"chat\"\neventSources = [{ kind = \"*\" }]\n",
            0,
            PluginErrorKind::Transient,
            Duration::ZERO,
        );
        n.emit(&e);
        n.emit(&e);
        assert!(n.flush(Duration::from_secs(10)).await);
        assert_eq!(lock(&rec.calls).len(), 2, "no window: both sent");
    }

    #[tokio::test]
    async fn transient_failures_are_retried_with_backoff_then_reported() {
        let (n, rec, dir) = setup(
            "[[alert]]\nname = \"a\"\nprovider = \"chat\"\neventSources = [{ kind = \"*\" }]\n",
            2,
            PluginErrorKind::Transient,
        );
        n.emit(&ev("Sync", "web", Severity::Error, "ApplyFailed", "one"));
        assert!(n.flush(Duration::from_secs(60)).await);
        assert_eq!(lock(&rec.calls).len(), 3, "two failures, then delivered");
        *lock(&rec.fail) = 10;
        n.emit(&ev("Sync", "web", Severity::Error, "ApplyFailed", "two"));
        assert!(n.flush(Duration::from_secs(60)).await);
        assert_eq!(lock(&rec.calls).len(), 3 + ATTEMPTS as usize);
        let s = &n.statuses()[0];
        assert_eq!((s.delivered, s.failed, s.ready), (1, 1, false));
        assert!(
            s.message.contains("not delivered after 4 attempt(s): "),
            "{}",
            s.message
        );
        let file = dir.path().join(".weir/providers/chat.json");
        let stored: ProviderStatus =
            serde_json::from_slice(&std::fs::read(&file).expect("status file")).expect("json");
        assert_eq!(&stored, s);
    }

    #[tokio::test]
    async fn a_refusal_that_retrying_cannot_fix_is_reported_at_once() {
        let (n, rec, _d) = setup(
            "[[alert]]\nname = \"a\"\nprovider = \"chat\"\neventSources = [{ kind = \"*\" }]\n",
            1,
            PluginErrorKind::InvalidInput,
        );
        n.emit(&ev(
            "Sync",
            "web",
            Severity::Info,
            "ReconciliationSucceeded",
            "x",
        ));
        assert!(n.flush(Duration::from_secs(10)).await);
        assert_eq!(lock(&rec.calls).len(), 1);
        assert_eq!(n.statuses()[0].failed, 1);
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_spaces_deliveries() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2, Duration::from_secs(10));
        assert_eq!(b.take(t0), None);
        assert_eq!(b.take(t0), None);
        let wait = b.take(t0).expect("must wait");
        assert!((wait.as_secs_f64() - 5.0).abs() < 0.01, "{wait:?}");
        assert_eq!(b.take(t0 + Duration::from_secs(11)), None);
    }

    #[tokio::test]
    async fn suspended_alerts_send_nothing() {
        let (n, rec, _d) = setup(
            "[[alert]]\nname = \"a\"\nprovider = \"chat\"\nsuspend = true\neventSources = [{ kind = \"*\" }]\n",
            0,
            PluginErrorKind::Transient,
        );
        assert!(n.is_empty());
        n.emit(&ev("Sync", "web", Severity::Error, "ApplyFailed", "x"));
        assert!(n.flush(Duration::from_secs(10)).await);
        assert!(lock(&rec.calls).is_empty());
    }
}
