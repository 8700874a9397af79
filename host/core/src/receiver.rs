//! The webhook receiver: an HTTP endpoint that turns a push notification
//! into a fetch now, instead of at the source's next interval (Flux's
//! notification-controller `Receiver`).
//!
//! `POST /hook/<receiver name>` is checked as the receiver's `type` says —
//! GitHub's `X-Hub-Signature-256: sha256=<hex>` and the generic
//! `X-Signature: sha256=<hex>` (both HMAC-SHA256 of the body with the
//! shared secret), or GitLab's `X-Gitlab-Token: <secret>` — and then every
//! source the receiver names fetches at once; a new revision reconciles
//! their syncs. A bad or missing signature is refused with 401 and
//! counted; `GET /metrics` prints the counts in Prometheus' text format.
//! Secrets are read from files when `weir run` starts.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use sha2::{Digest, Sha256};
use weir_config::{Config, ReceiverKind};

/// The largest request body accepted (GitHub's payloads are capped at
/// 25 MB, but a push event is a few kB; anything huge is refused).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Starting the receiver failed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// A receiver's secret file could not be read, or is empty.
    #[error("receiver {receiver:?}: secret file {path}: {message}")]
    Secret {
        /// The receiver.
        receiver: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("webhook receiver: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// One configured receiver, with its secret loaded.
struct Hook {
    kind: ReceiverKind,
    secret: Vec<u8>,
    sources: Vec<String>,
    events: Vec<String>,
    accepted: AtomicU64,
    rejected: AtomicU64,
    ignored: AtomicU64,
}

/// Every receiver of a config, ready to check requests.
pub struct Receivers {
    hooks: BTreeMap<String, Hook>,
}

/// What a request asks for, once checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The HTTP status to answer.
    pub status: StatusCode,
    /// The body to answer with.
    pub message: String,
    /// Sources to fetch now.
    pub sources: Vec<String>,
}

impl Receivers {
    /// Loads the receivers of `config`, reading their secret files.
    ///
    /// # Errors
    /// A secret file cannot be read or is empty.
    pub fn load(config: &Config) -> Result<Self, ReceiverError> {
        let mut hooks = BTreeMap::new();
        for r in &config.receiver {
            let path = config.resolve(&r.secret_file);
            let err = |message: String| ReceiverError::Secret {
                receiver: r.name.to_string(),
                path: path.clone(),
                message,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            let secret = text.trim_end().as_bytes().to_vec();
            if secret.is_empty() {
                return Err(err("it is empty".into()));
            }
            hooks.insert(
                r.name.to_string(),
                Hook {
                    kind: r.kind,
                    secret,
                    sources: r.sources.iter().map(ToString::to_string).collect(),
                    events: r.events.clone(),
                    accepted: AtomicU64::new(0),
                    rejected: AtomicU64::new(0),
                    ignored: AtomicU64::new(0),
                },
            );
        }
        Ok(Receivers { hooks })
    }

    /// Checks one request and says what to answer and which sources to
    /// fetch. Counts it.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Verdict {
        let answer = |status, message: &str| Verdict {
            status,
            message: message.to_owned(),
            sources: Vec::new(),
        };
        if method == Method::GET && path == "/metrics" {
            return answer(StatusCode::OK, &self.metrics());
        }
        let Some(name) = path.strip_prefix("/hook/") else {
            return answer(StatusCode::NOT_FOUND, "not found: POST /hook/<receiver>\n");
        };
        let Some(hook) = self.hooks.get(name) else {
            return answer(StatusCode::NOT_FOUND, "no such receiver\n");
        };
        if method != Method::POST {
            return answer(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
        }
        if let Err(why) = verify(hook.kind, &hook.secret, headers, body) {
            hook.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(receiver = name, "webhook refused: {why}");
            return answer(StatusCode::UNAUTHORIZED, &format!("{why}\n"));
        }
        let event = header(headers, "x-github-event")
            .or_else(|| header(headers, "x-gitlab-event"))
            .unwrap_or("");
        if event == "ping" {
            hook.accepted.fetch_add(1, Ordering::Relaxed);
            return answer(StatusCode::OK, "pong\n");
        }
        if !hook.events.is_empty() && !hook.events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
            hook.ignored.fetch_add(1, Ordering::Relaxed);
            return answer(StatusCode::OK, &format!("event {event:?} ignored\n"));
        }
        hook.accepted.fetch_add(1, Ordering::Relaxed);
        tracing::info!(receiver = name, event, sources = ?hook.sources, "webhook accepted");
        Verdict {
            status: StatusCode::ACCEPTED,
            message: format!("fetching {}\n", hook.sources.join(", ")),
            sources: hook.sources.clone(),
        }
    }

    /// The request counts per receiver, in Prometheus' text format.
    pub fn metrics(&self) -> String {
        let mut out = String::from(
            "# HELP weir_receiver_requests_total Webhook requests by receiver and outcome.\n# TYPE weir_receiver_requests_total counter\n",
        );
        for (name, h) in &self.hooks {
            for (outcome, n) in [
                ("accepted", &h.accepted),
                ("rejected", &h.rejected),
                ("ignored", &h.ignored),
            ] {
                out.push_str(&format!(
                    "weir_receiver_requests_total{{receiver=\"{name}\",outcome=\"{outcome}\"}} {}\n",
                    n.load(Ordering::Relaxed)
                ));
            }
        }
        out
    }

    /// Binds the listen address.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ReceiverError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ReceiverError::Bind { addr, source })?;
        tracing::info!(%addr, "webhook receiver listening");
        Ok(listener)
    }

    /// Serves requests on `listener` until the task is dropped; accepted
    /// requests call `trigger` with each source name.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        trigger: Arc<dyn Fn(&str) + Send + std::marker::Sync>,
    ) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook receiver: accept failed");
                    continue;
                }
            };
            let this = Arc::clone(&self);
            let trigger = Arc::clone(&trigger);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let this = Arc::clone(&this);
                    let trigger = Arc::clone(&trigger);
                    async move { Ok::<_, Infallible>(this.answer(req, &*trigger).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "webhook connection ended");
                }
            });
        }
    }

    async fn answer(
        &self,
        req: Request<hyper::body::Incoming>,
        trigger: &(dyn Fn(&str) + Send + std::marker::Sync),
    ) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return respond(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("cannot read the body: {e}\n"),
                );
            }
        };
        let v = self.check(&parts.method, parts.uri.path(), &parts.headers, &body);
        for s in &v.sources {
            trigger(s);
        }
        respond(v.status, v.message)
    }
}

fn respond(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(message)));
    *r.status_mut() = status;
    r
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a request's signature or token against `secret`.
fn verify(
    kind: ReceiverKind,
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let (name, value) = match kind {
        ReceiverKind::Github => (
            "X-Hub-Signature-256",
            header(headers, "x-hub-signature-256"),
        ),
        ReceiverKind::GenericHmac => ("X-Signature", header(headers, "x-signature")),
        ReceiverKind::Gitlab => {
            let token = header(headers, "x-gitlab-token").ok_or("missing X-Gitlab-Token header")?;
            // Compared as digests, so the time taken says nothing about
            // how much of the token matched.
            return if Sha256::digest(token.as_bytes()) == Sha256::digest(secret) {
                Ok(())
            } else {
                Err("X-Gitlab-Token does not match the receiver's secret".into())
            };
        }
    };
    let value = value.ok_or_else(|| format!("missing {name} header"))?;
    let hex = value
        .strip_prefix("sha256=")
        .ok_or_else(|| format!("{name} must be sha256=<hex>"))?;
    let signature = decode_hex(hex).ok_or_else(|| format!("{name} is not hexadecimal"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| e.to_string())?;
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| format!("{name} does not match the body signed with the receiver's secret"))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `sha256=<hex HMAC-SHA256 of body with secret>`, as GitHub signs.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receivers() -> Receivers {
        let hook = |kind, sources: &[&str], events: &[&str]| Hook {
            kind,
            secret: b"s3cret".to_vec(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            events: events.iter().map(|s| (*s).to_owned()).collect(),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
        };
        Receivers {
            hooks: BTreeMap::from([
                (
                    "gh".to_owned(),
                    hook(ReceiverKind::Github, &["apps"], &["push"]),
                ),
                ("gl".to_owned(), hook(ReceiverKind::Gitlab, &["infra"], &[])),
                (
                    "any".to_owned(),
                    hook(ReceiverKind::GenericHmac, &["apps", "infra"], &[]),
                ),
            ]),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signed_github_push_fetches_its_sources_and_a_bad_one_is_refused_and_counted() {
        let r = receivers();
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = headers(&[
            ("x-hub-signature-256", &sign(b"s3cret", body)),
            ("x-github-event", "push"),
        ]);
        let v = r.check(&Method::POST, "/hook/gh", &good, body);
        assert_eq!(v.status, StatusCode::ACCEPTED);
        assert_eq!(v.sources, ["apps"]);
        let forged = headers(&[
            ("x-hub-signature-256", &sign(b"guess", body)),
            ("x-github-event", "push"),
        ]);
        let v = r.check(&Method::POST, "/hook/gh", &forged, body);
        assert_eq!(v.status, StatusCode::UNAUTHORIZED);
        assert!(v.sources.is_empty());
        let v = r.check(&Method::POST, "/hook/gh", &HeaderMap::new(), body);
        assert_eq!(v.status, StatusCode::UNAUTHORIZED);
        assert!(
            v.message.contains("missing X-Hub-Signature-256"),
            "{}",
            v.message
        );
        let m = r.metrics();
        assert!(m.contains("receiver=\"gh\",outcome=\"accepted\"} 1"), "{m}");
        assert!(m.contains("receiver=\"gh\",outcome=\"rejected\"} 2"), "{m}");
    }

    #[test]
    fn github_events_outside_the_list_are_acknowledged_and_ignored() {
        let r = receivers();
        let body = b"{}";
        let sig = sign(b"s3cret", body);
        let issue = headers(&[("x-hub-signature-256", &sig), ("x-github-event", "issues")]);
        let v = r.check(&Method::POST, "/hook/gh", &issue, body);
        assert_eq!(v.status, StatusCode::OK);
        assert!(v.sources.is_empty());
        let ping = headers(&[("x-hub-signature-256", &sig), ("x-github-event", "ping")]);
        assert_eq!(
            r.check(&Method::POST, "/hook/gh", &ping, body).message,
            "pong\n"
        );
    }

    #[test]
    fn gitlab_tokens_and_generic_signatures_are_checked() {
        let r = receivers();
        let ok = headers(&[
            ("x-gitlab-token", "s3cret"),
            ("x-gitlab-event", "Push Hook"),
        ]);
        assert_eq!(
            r.check(&Method::POST, "/hook/gl", &ok, b"{}").sources,
            ["infra"]
        );
        let bad = headers(&[("x-gitlab-token", "s3cre")]);
        assert_eq!(
            r.check(&Method::POST, "/hook/gl", &bad, b"{}").status,
            StatusCode::UNAUTHORIZED
        );
        let body = b"anything";
        let ok = headers(&[("x-signature", &sign(b"s3cret", body))]);
        assert_eq!(
            r.check(&Method::POST, "/hook/any", &ok, body).sources,
            ["apps", "infra"]
        );
        let sha1 = headers(&[("x-signature", "sha1=abcd")]);
        let v = r.check(&Method::POST, "/hook/any", &sha1, body);
        assert_eq!(v.status, StatusCode::UNAUTHORIZED);
        assert!(v.message.contains("sha256=<hex>"), "{}", v.message);
        let tampered = headers(&[("x-signature", &sign(b"s3cret", b"other"))]);
        assert_eq!(
            r.check(&Method::POST, "/hook/any", &tampered, body).status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let r = receivers();
        let h = HeaderMap::new();
        assert_eq!(
            r.check(&Method::POST, "/hook/nope", &h, b"").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            r.check(&Method::POST, "/other", &h, b"").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            r.check(&Method::GET, "/hook/gh", &h, b"").status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            r.check(&Method::GET, "/metrics", &h, b"").status,
            StatusCode::OK
        );
    }
}
