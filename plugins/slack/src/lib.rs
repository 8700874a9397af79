//! weir's `slack` notifier: posts to a Slack incoming webhook with Block
//! Kit.
//!
//! Secrets: `address` (required, the webhook URL — it is a credential;
//! read from the settings when not a secret).
//! Settings: `channel`, `username`, `icon_emoji` (honoured by legacy
//! webhooks; app webhooks post where they were created).
//!
//! The message: `text` (the notification and fallback line) and `blocks`:
//! a `header` (plain text, at most 150 characters) with a marker —
//! `:red_circle:` for errors, `:large_green_circle:` otherwise — and the
//! object and reason; a `section` (mrkdwn, at most 3,000 characters) with
//! the alert's rendered template or the event's message; a `context` block
//! (at most 10 elements) with the cluster, the revision and the metadata.

use serde_json::{Value, json};
use weir_sdk::{Error, ErrorKind, Event, NotifyRequest, Severity};

/// The plugin.
pub struct Slack;

/// Slack's limits (Block Kit reference).
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const CONTEXT_MAX: usize = 10;
const CONTEXT_TEXT_MAX: usize = 3000;

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// `escaped` (mrkdwn, escaped by [`escape`]) cut to at most `max`
/// characters without splitting an `&amp;`/`&lt;`/`&gt;` entity.
pub fn cut_escaped(escaped: &str, max: usize) -> String {
    let mut t = cut(escaped, max);
    if t.ends_with('…') {
        let body = &t[..t.len() - '…'.len_utf8()];
        // A trailing `&` not closed by `;` starts a cut entity: drop it.
        if let Some(amp) = body.rfind('&')
            && !body[amp..].contains(';')
        {
            t = format!("{}…", &body[..amp]);
        }
    }
    t
}

/// Slack's mrkdwn escapes: `&`, `<` and `>`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn object_name(e: &Event) -> String {
    let o = &e.involved_object;
    format!("{}/{}", o.kind, o.name)
}

fn marker(e: &Event) -> &'static str {
    match e.severity {
        Severity::Error => ":red_circle:",
        Severity::Info => ":large_green_circle:",
    }
}

/// The webhook payload for `request`.
pub fn payload(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let text = request.message.clone().unwrap_or_else(|| e.message.clone());
    let first_line = text.lines().next().unwrap_or("");
    let fallback = cut(
        &format!(
            "{} [{}] {}: {} {first_line}",
            marker(e),
            e.cluster,
            object_name(e),
            e.reason
        ),
        SECTION_MAX,
    );
    let mut context =
        vec![json!({"type": "mrkdwn", "text": format!("*cluster* {}", escape(&e.cluster))})];
    if let Some(r) = &e.revision {
        context.push(json!({"type": "mrkdwn", "text": format!("*revision* `{}`", escape(r))}));
    }
    for (k, v) in &e.metadata {
        if context.len() == CONTEXT_MAX {
            break;
        }
        context.push(json!({
            "type": "mrkdwn",
            "text": cut_escaped(&format!("*{}* {}", escape(k), escape(v)), CONTEXT_TEXT_MAX),
        }));
    }
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": cut(&format!("{} {}: {}", marker(e), object_name(e), e.reason), HEADER_MAX),
            "emoji": true,
        },
    })];
    if !text.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut_escaped(&escape(&text), SECTION_MAX)},
        }));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    let mut body = json!({"text": fallback, "blocks": blocks});
    for key in ["channel", "username", "icon_emoji"] {
        if let Some(v) = request.setting(key) {
            body[key] = json!(v);
        }
    }
    body
}

impl weir_sdk::Notifier for Slack {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let address = request
            .secrets
            .get("address")
            .or_else(|| request.setting("address"))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "the provider has no `address` (the Slack webhook URL)",
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
weir_sdk::export_notifier!(Slack, name: "slack", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::{ObjectRef, OptionValue, Secrets};

    fn request(severity: Severity, message: &str) -> NotifyRequest {
        NotifyRequest {
            event: Event {
                severity,
                reason: "HealthCheckFailed".into(),
                message: message.into(),
                revision: Some("main@sha1:0123456789abcdef0123456789abcdef01234567".into()),
                involved_object: ObjectRef {
                    api_version: "sync.weir.dev/v1".into(),
                    kind: "Sync".into(),
                    namespace: Some("default".into()),
                    name: "shop".into(),
                },
                cluster: "prod-eu".into(),
                timestamp: "2026-11-26T12:00:00Z".into(),
                metadata: (0..12)
                    .map(|i| (format!("k{i}"), format!("<v{i}>")))
                    .collect(),
            },
            message: None,
            settings: vec![
                ("channel".into(), OptionValue::Str("deploys".into())),
                ("username".into(), OptionValue::Str("weir".into())),
            ],
            secrets: Secrets(Vec::new()),
        }
    }

    #[test]
    fn blocks_follow_block_kit_types_and_limits() {
        let long = "x".repeat(5000);
        let p = payload(&request(Severity::Error, &long));
        assert_eq!(p["channel"], "deploys");
        assert_eq!(p["username"], "weir");
        assert!(p.get("icon_emoji").is_none());
        let blocks = p["blocks"].as_array().expect("blocks");
        let types: Vec<&str> = blocks.iter().filter_map(|b| b["type"].as_str()).collect();
        assert_eq!(types, ["header", "section", "context"]);
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        let header = blocks[0]["text"]["text"].as_str().expect("header text");
        assert_eq!(header, ":red_circle: Sync/shop: HealthCheckFailed");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        let section = blocks[1]["text"]["text"].as_str().expect("section text");
        assert_eq!(section.chars().count(), SECTION_MAX);
        assert!(section.ends_with('…'));
        let context = blocks[2]["elements"].as_array().expect("elements");
        assert_eq!(
            context.len(),
            CONTEXT_MAX,
            "cluster, revision, 8 of 12 metadata"
        );
        assert_eq!(context[0]["text"], "*cluster* prod-eu");
        assert!(
            context[1]["text"]
                .as_str()
                .is_some_and(|t| t.contains("main@sha1:0123456789"))
        );
        assert_eq!(context[2]["text"], "*k0* &lt;v0&gt;", "mrkdwn escaped");
        assert!(
            p["text"].as_str().is_some_and(
                |t| t.starts_with(":red_circle: [prod-eu] Sync/shop: HealthCheckFailed")
            )
        );
    }

    #[test]
    fn the_template_output_replaces_the_message_and_info_is_green() {
        let mut r = request(Severity::Info, "applied");
        r.message = Some("custom *text*".into());
        let p = payload(&r);
        assert_eq!(p["blocks"][1]["text"]["text"], "custom *text*");
        assert!(
            p["blocks"][0]["text"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(":large_green_circle:"))
        );
        assert!(!p.to_string().contains(":red_circle:"));
        let header = cut(&"h".repeat(400), HEADER_MAX);
        assert_eq!(header.chars().count(), HEADER_MAX);
        // 2,998 characters, then `&lt;` would straddle the limit.
        let escaped = escape(&format!("{}<<", "y".repeat(2998)));
        let cut = cut_escaped(&escaped, SECTION_MAX);
        assert_eq!(cut, format!("{}…", "y".repeat(2998)));
        let whole = escape(&format!("{}<", "y".repeat(2990)));
        assert_eq!(cut_escaped(&whole, SECTION_MAX), whole, "fits: not cut");
    }
}
