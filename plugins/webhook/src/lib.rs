//! weir's `webhook` notifier (Flux's `generic` provider): POSTs the event as
//! JSON to the provider's address.
//!
//! Secrets: `address` (required, the URL; or a setting), `headers`
//! (optional: extra HTTP
//! headers, a YAML map of `Name: value` lines or a JSON object, as Flux's
//! `headers` key). The body:
//!
//! ```json
//! {
//!   "involvedObject": {"apiVersion": "sync.weir.dev/v1", "kind": "Sync", "namespace": "default", "name": "apps"},
//!   "severity": "info",
//!   "timestamp": "2026-11-26T12:00:00Z",
//!   "message": "…",
//!   "reason": "ReconciliationSucceeded",
//!   "revision": "main@sha1:…",
//!   "cluster": "prod-eu",
//!   "metadata": {"env": "prod"},
//!   "reportingController": "weir"
//! }
//! ```
//!
//! `message` is the alert's rendered template when it has one; `revision`
//! and `namespace` are left out when the event has none. The payload and
//! header logic is in `payload.rs`, which `webhook-hmac` includes to sign
//! the same body.

mod payload;

pub use payload::{body, headers, post};
use weir_sdk::{Error, NotifyRequest};

/// The plugin.
pub struct Webhook;

impl weir_sdk::Notifier for Webhook {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let body = body(&request).to_string();
        post(&request, body.as_bytes(), &[])
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(Webhook, name: "webhook", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_sdk::{Event, ObjectRef, Secrets, Severity};

    fn request() -> NotifyRequest {
        NotifyRequest {
            event: Event {
                severity: Severity::Error,
                reason: "ApplyFailed".into(),
                message: "ConfigMap/shop/web refused".into(),
                revision: None,
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
    fn the_body_carries_every_field_of_the_event() {
        let b = body(&request());
        let keys: Vec<&str> = b
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "cluster",
                "involvedObject",
                "message",
                "metadata",
                "reason",
                "reportingController",
                "severity",
                "timestamp"
            ],
            "no revision: left out (keys sorted)"
        );
        assert_eq!(
            b["involvedObject"],
            json!({"apiVersion": "sync.weir.dev/v1", "kind": "Sync", "namespace": "default", "name": "shop"})
        );
        assert_eq!(b["severity"], "error");
        assert_eq!(b["message"], "ConfigMap/shop/web refused");
        assert_eq!(b["metadata"], json!({"env": "prod"}));
        let mut r = request();
        r.message = Some("templated".into());
        r.event.revision = Some("main@sha1:abc".into());
        let b = body(&r);
        assert_eq!(
            (b["message"].as_str(), b["revision"].as_str()),
            (Some("templated"), Some("main@sha1:abc"))
        );
    }

    #[test]
    fn headers_read_yaml_lines_or_json() {
        assert_eq!(
            headers("X-Team: shop\n# note\n\nAuthorization: \"Bearer a:b\"\n").expect("yaml"),
            vec![
                ("X-Team".to_owned(), "shop".to_owned()),
                ("Authorization".to_owned(), "Bearer a:b".to_owned())
            ]
        );
        assert_eq!(
            headers(r#"{"X-A": "1", "X-B": 2}"#).expect("json"),
            vec![
                ("X-A".to_owned(), "1".to_owned()),
                ("X-B".to_owned(), "2".to_owned())
            ]
        );
        let e = headers("no colon here").expect_err("bad line");
        assert!(e.message.contains("line 1"), "{}", e.message);
        let e = headers("Bad Name: secret-value").expect_err("bad name");
        assert!(e.message.contains("\"Bad Name\"") && !e.message.contains("secret-value"));
    }
}
