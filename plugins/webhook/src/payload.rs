//! The `webhook` notifier's body, headers and POST, as a module that
//! `webhook-hmac` includes by path (`#[path]`): a crate dependency on this
//! plugin would make both plugins' builds write the same `cdylib` crate's
//! rlib in the shared plugin target directory, so that whichever was built
//! last broke the other's link.

use serde_json::{Map, Value, json};
use weir_sdk::{Error, ErrorKind, NotifyRequest};

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
