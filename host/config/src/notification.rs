//! Notifications: `[[provider]]` (Flux's `Provider`: where messages go, and
//! through which notifier plugin) and `[[alert]]` (Flux's `Alert`: which
//! events go to a provider).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::{Duration, Name};

/// A notification provider: a notifier plugin and where it delivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    /// The provider's name, unique among providers.
    pub name: Name,
    /// The notifier plugin that delivers (Flux's `type`): `slack`, `teams`,
    /// `webhook`, `webhook-hmac`, `github`, `gitlab`, or a third-party
    /// plugin's name. Flux's `msteams`, `generic` and `generic-hmac` are
    /// accepted for `teams`, `webhook` and `webhook-hmac`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where to deliver: a webhook URL, or a repository URL for commit
    /// statuses. Sent to the plugin as a secret (webhook URLs carry
    /// tokens).
    pub address: Option<String>,
    /// A file holding the address, re-read at each delivery.
    pub address_file: Option<PathBuf>,
    /// A token (API token, HMAC key).
    pub token: Option<String>,
    /// A file holding the token, re-read at each delivery.
    pub token_file: Option<PathBuf>,
    /// A Kubernetes Secret on the host's cluster with any of the keys
    /// `address`, `token`, `headers` (a YAML map), as Flux's
    /// `secretRef`; read at each delivery; its values win.
    pub secret_ref: Option<SecretRef>,
    /// The channel (Slack), when the webhook allows choosing it.
    pub channel: Option<String>,
    /// The sender's name shown by the provider.
    pub username: Option<String>,
    /// Deadline of one delivery attempt. Default: 15s (as Flux).
    pub timeout: Option<Duration>,
    /// Stop delivering (events for this provider are dropped). Default:
    /// false.
    #[serde(default)]
    pub suspend: bool,
    /// Most deliveries per `rateLimit.per`; more wait their turn. Default:
    /// 30 per minute.
    pub rate_limit: Option<RateLimit>,
    /// More settings for the plugin, passed as typed options (strings,
    /// integers, floats, booleans).
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
}

impl Provider {
    /// The notifier plugin's name, Flux's type names mapped to weir's.
    pub fn plugin(&self) -> &str {
        match self.kind.as_str() {
            "msteams" => "teams",
            "generic" => "webhook",
            "generic-hmac" => "webhook-hmac",
            other => other,
        }
    }

    /// The delivery deadline, with its default.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(15))
    }

    /// The rate limit, with its default.
    pub fn rate_limit(&self) -> RateLimit {
        self.rate_limit.clone().unwrap_or(RateLimit {
            events: 30,
            per: Duration::from_secs(60),
        })
    }
}

/// How many deliveries a provider makes per period.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Deliveries per period (the burst).
    pub events: u32,
    /// The period.
    pub per: Duration,
}

/// A Kubernetes Secret by name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// An alert: which events go to a provider, and how they read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alert {
    /// The alert's name, unique among alerts.
    pub name: Name,
    /// The `[[provider]]` that delivers (Flux's `providerRef.name`).
    pub provider: Name,
    /// `info` (every event) or `error` (errors only). Default: info.
    #[serde(default)]
    pub event_severity: EventSeverity,
    /// The objects whose events are sent.
    pub event_sources: Vec<EventSource>,
    /// Send only events whose message matches one of these regular
    /// expressions. Default: all.
    #[serde(default)]
    pub inclusion_list: Vec<String>,
    /// Drop events whose message matches one of these.
    #[serde(default)]
    pub exclusion_list: Vec<String>,
    /// Extra key/values added to every event's metadata.
    #[serde(default)]
    pub event_metadata: BTreeMap<String, String>,
    /// The message template (see docs/config.md, "Message templates").
    /// Default: each plugin's own layout.
    pub template: Option<String>,
    /// Send nothing. Default: false.
    #[serde(default)]
    pub suspend: bool,
}

/// The lowest severity an alert sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    /// Info and error events.
    #[default]
    Info,
    /// Error events only.
    Error,
}

/// Objects whose events an alert sends (Flux's `eventSources` entry).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventSource {
    /// `Sync` (Flux's `Kustomization` is accepted), `HelmRelease`,
    /// `GitRepository`, `Source` (a `[[source]]`), or `*` for any kind.
    pub kind: String,
    /// The object's name, or `*` for all. Default: `*`.
    #[serde(default = "any")]
    pub name: String,
    /// The object's namespace (weir's objects are in
    /// `host.eventNamespace`). Default: any.
    pub namespace: Option<String>,
    /// Labels the object must have (its `labels` in this file).
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

fn any() -> String {
    "*".into()
}

/// The event-source kinds weir emits, with Flux's names accepted.
pub const EVENT_KINDS: [&str; 4] = ["Sync", "HelmRelease", "GitRepository", "Source"];

impl EventSource {
    /// The kind, Flux's `Kustomization` read as `Sync`.
    pub fn kind(&self) -> &str {
        match self.kind.as_str() {
            "Kustomization" => "Sync",
            other => other,
        }
    }
}
