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
//! header logic is a library too: `webhook-hmac` signs the same body.

use serde_json::{Map, Value, json};
use weir_sdk::{Error, ErrorKind, NotifyRequest};

/// The plugin.
pub struct Webhook;

/// The JSON body for `request`.
pub fn body(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let o = &e.involved_object;
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!(o.api_version));
    object.insert("kind".into(), json!(o.kind));
    if let Some(ns) = &o.namespace {
        object.insert("namespace".into(), json!(ns));
    }
    object.insert("name".into(), json!(o.name));
    let metadata: Map<String, Value> = e
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut body = Map::new();
    body.insert("involvedObject".into(), Value::Object(object));
    body.insert("severity".into(), json!(e.severity.as_str()));
    body.insert("timestamp".into(), json!(e.timestamp));
    body.insert(
        "message".into(),
        json!(request.message.as_deref().unwrap_or(&e.message)),
    );
    body.insert("reason".into(), json!(e.reason));
    if let Some(r) = &e.revision {
        body.insert("revision".into(), json!(r));
    }
    body.insert("cluster".into(), json!(e.cluster));
    body.insert("metadata".into(), Value::Object(metadata));
    body.insert("reportingController".into(), json!("weir"));
    Value::Object(body)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// The extra headers of the `headers` secret: a JSON object, or YAML-style
/// `Name: value` lines (blank lines and `#` comments skipped, values may be
/// quoted).
///
/// # Errors
/// A line without `:` or a header name that is not a token (naming the
/// line or the name, never a value).
pub fn headers(text: &str) -> Result<Vec<(String, String)>, Error> {
    let trimmed = text.trim();
    let pairs: Vec<(String, String)> = if trimmed.starts_with('{') {
        let v: Map<String, Value> = serde_json::from_str(trimmed)
            .map_err(|e| invalid(format!("the `headers` secret is not a JSON object: {e}")))?;
        v.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                other => Ok((k, other.to_string())),
            })
            .collect::<Result<_, Error>>()?
    } else {
        let mut out = Vec::new();
        for (i, line) in trimmed.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                return Err(invalid(format!(
                    "the `headers` secret, line {}: write `Name: value`",
                    i + 1
                )));
            };
            out.push((k.trim().to_owned(), unquote(v.trim()).to_owned()));
        }
        out
    };
    for (k, _) in &pairs {
        let token = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(invalid(format!(
                "the `headers` secret names an invalid header {k:?}"
            )));
        }
    }
    Ok(pairs)
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// POSTs `body` to the provider's `address` with its `headers` and
/// `extra` headers.
///
/// # Errors
/// A missing address, bad headers, or the HTTP failure (transient for
/// 5xx, 408, 429 and connection problems).
pub fn post(request: &NotifyRequest, body: &[u8], extra: &[(String, String)]) -> Result<(), Error> {
    let address = request
        .secrets
        .get("address")
        .or_else(|| request.setting("address"))
        .ok_or_else(|| invalid("the provider has no `address` (the webhook URL)"))?;
    let mut req = weir_sdk::http::Request::post(address)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(h) = request.secrets.get("headers") {
        for (k, v) in headers(h)? {
            req = req.header(&k, &v);
        }
    }
    for (k, v) in extra {
        req = req.header(k, v);
    }
    req.send()?.error_for_status()?;
    Ok(())
}

impl weir_sdk::Notifier for Webhook {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let body = body(&request).to_string();
        post(&request, body.as_bytes(), &[])
    }
}

#[cfg(all(target_arch = "wasm32", feature = "export"))]
weir_sdk::export_notifier!(Webhook, name: "webhook", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
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
