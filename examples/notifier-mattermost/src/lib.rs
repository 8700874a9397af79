//! A weir notifier for Mattermost (or any Slack-compatible) incoming
//! webhooks, written the way a third party would: against `weir-sdk` only.
//!
//! Provider config (see docs/plugins.md):
//!
//! ```toml
//! [host.plugins.mattermost]
//! allowedHosts = ["chat.example.com"]   # where your Mattermost is
//! ```
//!
//! Secrets: `address` (the webhook URL). Settings: `channel`, `username`,
//! `iconUrl` (all optional). The message is the alert's template output
//! when it has one, otherwise a default built from the event.

use serde_json::{Value, json};
use weir_sdk::{Error, ErrorKind, Event, NotifyRequest, Severity};

/// The plugin.
pub struct Mattermost;

/// The default text: `**Sync/apps** on prod: ReconciliationSucceeded`
/// and the event's message.
pub fn default_text(e: &Event) -> String {
    let o = &e.involved_object;
    let name = match &o.namespace {
        Some(ns) => format!("{}/{ns}/{}", o.kind, o.name),
        None => format!("{}/{}", o.kind, o.name),
    };
    format!("**{name}** on {}: {}\n{}", e.cluster, e.reason, e.message)
}

/// The webhook payload for `request`.
pub fn payload(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let mut fields =
        vec![json!({"short": true, "title": "Severity", "value": e.severity.as_str()})];
    if let Some(rev) = &e.revision {
        fields.push(json!({"short": true, "title": "Revision", "value": rev}));
    }
    for (k, v) in &e.metadata {
        fields.push(json!({"short": true, "title": k, "value": v}));
    }
    let text = request.text_or(default_text);
    let mut body = json!({
        "text": text,
        "attachments": [{
            "fallback": text,
            "color": match e.severity { Severity::Info => "#2eb886", Severity::Error => "#a30200" },
            "fields": fields,
        }],
    });
    for (setting, key) in [
        ("channel", "channel"),
        ("username", "username"),
        ("iconUrl", "icon_url"),
    ] {
        if let Some(v) = request.setting(setting) {
            body[key] = json!(v);
        }
    }
    body
}

impl weir_sdk::Notifier for Mattermost {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let address = request.secrets.get("address").ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "the provider has no `address` secret (the webhook URL)",
            )
        })?;
        weir_sdk::http::Request::post(address)
            .json(&payload(&request).to_string())
            .send()?
            .error_for_status()?;
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(Mattermost, name: "mattermost", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::{ObjectRef, OptionValue, Secrets};

    fn request(message: Option<&str>) -> NotifyRequest {
        NotifyRequest {
            event: Event {
                severity: Severity::Error,
                reason: "HealthCheckFailed".into(),
                message: "Deployment/apps/web: 0/1 replicas available".into(),
                revision: Some("main@sha1:abc".into()),
                involved_object: ObjectRef {
                    api_version: "weir.dev/v1".into(),
                    kind: "Sync".into(),
                    namespace: None,
                    name: "apps".into(),
                },
                cluster: "prod".into(),
                timestamp: "2026-11-26T12:00:00Z".into(),
                metadata: vec![("team".into(), "web".into())],
            },
            message: message.map(str::to_owned),
            settings: vec![("channel".into(), OptionValue::Str("deploys".into()))],
            secrets: Secrets(vec![("address".into(), "http://x/hooks/1".into())]),
        }
    }

    #[test]
    fn the_default_payload_names_the_object_cluster_and_reason() {
        let p = payload(&request(None));
        assert_eq!(
            p["text"],
            "**Sync/apps** on prod: HealthCheckFailed\nDeployment/apps/web: 0/1 replicas available"
        );
        assert_eq!(p["channel"], "deploys");
        assert_eq!(p["attachments"][0]["color"], "#a30200");
        assert_eq!(p["attachments"][0]["fields"][1]["value"], "main@sha1:abc");
        assert_eq!(p["attachments"][0]["fields"][2]["title"], "team");
    }

    #[test]
    fn an_alert_template_replaces_the_text() {
        assert_eq!(payload(&request(Some("custom")))["text"], "custom");
    }
}
