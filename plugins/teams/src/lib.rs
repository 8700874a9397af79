//! weir's `teams` notifier (Flux's `msteams`): posts to a Microsoft Teams
//! webhook.
//!
//! Secrets: `address` (required, the webhook URL; read from the settings
//! when not a secret). Setting: `format` —
//! `workflows` or `legacy` — to choose the payload; by default the legacy
//! Office 365 connector format is used for connector URLs (host ending in
//! `webhook.office.com`, or a path with `/webhookb2/` or
//! `/IncomingWebhook/`) and the Workflows format otherwise.
//!
//! - Workflows (Power Automate "post to a channel when a webhook request is
//!   received"): a `message` with one Adaptive Card (schema 1.4) holding a
//!   title `TextBlock` (`Attention` colour for errors, `Good` otherwise), the
//!   message `TextBlock` and a `FactSet` (cluster, revision, metadata).
//! - Legacy connector: a `MessageCard` with `themeColor`, `summary` and
//!   one section (`activityTitle`, `activitySubtitle`, `text`, `facts`).

use serde_json::{Value, json};
use weir_sdk::{Error, ErrorKind, Event, NotifyRequest, Severity};

/// The plugin.
pub struct Teams;

/// Which payload a webhook takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Power Automate Workflows: an Adaptive Card.
    Workflows,
    /// The retired Office 365 connector: a MessageCard.
    Legacy,
}

/// The format for `address`, unless `setting` names one.
///
/// # Errors
/// An unknown `format` setting.
pub fn format(address: &str, setting: Option<&str>) -> Result<Format, Error> {
    match setting {
        Some("workflows") => return Ok(Format::Workflows),
        Some("legacy") => return Ok(Format::Legacy),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("setting format = {other:?}: use \"workflows\" or \"legacy\""),
            ));
        }
        None => {}
    }
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let path = format!("/{path}");
    let legacy = host.ends_with("webhook.office.com")
        || path.contains("/webhookb2/")
        || path.contains("/IncomingWebhook/");
    Ok(if legacy {
        Format::Legacy
    } else {
        Format::Workflows
    })
}

fn facts(e: &Event) -> Vec<(String, String)> {
    let mut f = vec![("Cluster".to_owned(), e.cluster.clone())];
    if let Some(r) = &e.revision {
        f.push(("Revision".to_owned(), r.clone()));
    }
    f.extend(e.metadata.iter().cloned());
    f
}

fn title(e: &Event) -> String {
    let o = &e.involved_object;
    format!("{}/{}: {}", o.kind, o.name, e.reason)
}

/// The Workflows payload: a message with one Adaptive Card.
pub fn workflows(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let text = request.message.as_deref().unwrap_or(&e.message);
    let facts: Vec<Value> = facts(e)
        .into_iter()
        .map(|(t, v)| json!({"title": t, "value": v}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {
                        "type": "TextBlock",
                        "text": title(e),
                        "weight": "Bolder",
                        "size": "Medium",
                        "wrap": true,
                        "color": match e.severity { Severity::Error => "Attention", Severity::Info => "Good" },
                    },
                    {"type": "TextBlock", "text": text, "wrap": true},
                    {"type": "FactSet", "facts": facts},
                ],
            },
        }],
    })
}

/// The legacy connector payload: a MessageCard.
pub fn legacy(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let o = &e.involved_object;
    let text = request.message.as_deref().unwrap_or(&e.message);
    let facts: Vec<Value> = facts(e)
        .into_iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": match e.severity { Severity::Error => "A30200", Severity::Info => "2EB886" },
        "summary": title(e),
        "sections": [{
            "activityTitle": format!("{}/{}", o.kind, o.name),
            "activitySubtitle": format!("{} on {}", e.reason, e.cluster),
            "text": text,
            "facts": facts,
        }],
    })
}

impl weir_sdk::Notifier for Teams {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let address = request
            .secrets
            .get("address")
            .or_else(|| request.setting("address"))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "the provider has no `address` (the Teams webhook URL)",
                )
            })?;
        let body = match format(address, request.setting("format"))? {
            Format::Workflows => workflows(&request),
            Format::Legacy => legacy(&request),
        };
        weir_sdk::http::Request::post(address)
            .json(&body.to_string())
            .send()?
            .error_for_status()?;
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(Teams, name: "teams", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::{ObjectRef, Secrets};

    fn request(severity: Severity) -> NotifyRequest {
        NotifyRequest {
            event: Event {
                severity,
                reason: "ApplyFailed".into(),
                message: "ConfigMap/shop/web refused".into(),
                revision: Some("main@sha1:abc".into()),
                involved_object: ObjectRef {
                    api_version: "sync.weir.dev/v1".into(),
                    kind: "Sync".into(),
                    namespace: Some("default".into()),
                    name: "shop".into(),
                },
                cluster: "prod-eu".into(),
                timestamp: "2026-11-26T12:00:00Z".into(),
                metadata: vec![("env".into(), "prod".into())],
            },
            message: None,
            settings: Vec::new(),
            secrets: Secrets(Vec::new()),
        }
    }

    #[test]
    fn connector_urls_get_the_legacy_format_and_the_setting_wins() {
        let f = |a: &str, s: Option<&str>| format(a, s).expect("format");
        assert_eq!(
            f(
                "https://acme.webhook.office.com/webhookb2/x@y/IncomingWebhook/z/w",
                None
            ),
            Format::Legacy
        );
        assert_eq!(f("http://127.0.0.1:9/webhookb2/abc", None), Format::Legacy);
        assert_eq!(
            f(
                "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke",
                None
            ),
            Format::Workflows
        );
        assert_eq!(
            f("http://127.0.0.1:9/webhookb2/abc", Some("workflows")),
            Format::Workflows
        );
        assert_eq!(f("http://127.0.0.1:9/x", Some("legacy")), Format::Legacy);
        assert!(format("http://x/", Some("card")).is_err());
    }

    #[test]
    fn the_adaptive_card_has_a_title_the_message_and_facts() {
        let p = workflows(&request(Severity::Error));
        assert_eq!(p["type"], "message");
        let a = &p["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a["contentUrl"].is_null());
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(card["body"][0]["text"], "Sync/shop: ApplyFailed");
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(card["body"][1]["text"], "ConfigMap/shop/web refused");
        assert_eq!(
            card["body"][2]["facts"],
            json!([
                {"title": "Cluster", "value": "prod-eu"},
                {"title": "Revision", "value": "main@sha1:abc"},
                {"title": "env", "value": "prod"}
            ])
        );
        let ok = workflows(&request(Severity::Info));
        assert_eq!(ok["attachments"][0]["content"]["body"][0]["color"], "Good");
    }

    #[test]
    fn the_message_card_has_its_documented_fields() {
        let mut r = request(Severity::Info);
        r.message = Some("templated".into());
        let p = legacy(&r);
        assert_eq!(p["@type"], "MessageCard");
        assert_eq!(p["@context"], "https://schema.org/extensions");
        assert_eq!(p["themeColor"], "2EB886");
        assert_eq!(p["summary"], "Sync/shop: ApplyFailed");
        let s = &p["sections"][0];
        assert_eq!(s["activityTitle"], "Sync/shop");
        assert_eq!(s["activitySubtitle"], "ApplyFailed on prod-eu");
        assert_eq!(s["text"], "templated");
        assert_eq!(
            s["facts"][0],
            json!({"name": "Cluster", "value": "prod-eu"})
        );
    }
}
