//! weir's `gitlab` notifier: sets a commit status with GitLab's API
//! (`POST /api/v4/projects/{id}/statuses/{sha}`, the project id being its
//! URL-encoded path), so merge requests and pipelines show whether weir
//! applied a commit.
//!
//! `address` (required, a setting or a secret: the project URL,
//! `https://gitlab.com/group/sub/project`, self-hosted ones too), secret `token`
//! (required: a token with the `api` scope, sent as `PRIVATE-TOKEN`).
//!
//! The status: `state` `failed` for errors, `running` for `Progressing`,
//! `success` otherwise; `name` `<kind>/<name>`, with `/<cluster>` when the
//! cluster is not `default`; `description` the alert's template output or
//! the event's message, first line, at most 255 characters.

use serde_json::{Value, json};
use weir_sdk::{Error, ErrorKind, NotifyRequest, Severity};

/// The plugin.
pub struct GitLab;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// `s` percent-encoded for one URL path segment (unreserved characters
/// kept), as GitLab takes a project path in place of its id.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The statuses endpoint for project URL `address` and commit `sha`.
///
/// # Errors
/// An address that is not an http(s) URL with a project path.
pub fn endpoint(address: &str, sha: &str) -> Result<String, Error> {
    let bad = || invalid("address is not a project URL like https://gitlab.com/GROUP/PROJECT");
    let (scheme, rest) = address.split_once("://").ok_or_else(bad)?;
    if scheme != "https" && scheme != "http" {
        return Err(bad());
    }
    let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if !path.contains('/') || path.split('/').any(str::is_empty) {
        return Err(bad());
    }
    let host = authority.rsplit('@').next().unwrap_or(authority);
    Ok(format!(
        "{scheme}://{host}/api/v4/projects/{}/statuses/{sha}",
        encode(path)
    ))
}

/// The request body.
pub fn body(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let state = match (e.severity, e.reason.as_str()) {
        (Severity::Error, _) => "failed",
        (_, "Progressing") => "running",
        _ => "success",
    };
    let name = e.source_name();
    let text = request.message.as_deref().unwrap_or(&e.message);
    let line = text.lines().next().unwrap_or("");
    let description: String = if line.chars().count() > 255 {
        line.chars().take(254).chain(['…']).collect()
    } else {
        line.to_owned()
    };
    json!({"state": state, "name": name, "description": description})
}

impl weir_sdk::Notifier for GitLab {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let address = request
            .secrets
            .get("address")
            .or_else(|| request.setting("address"))
            .ok_or_else(|| invalid("the provider has no `address` (the project URL)"))?;
        let token = request
            .secrets
            .get("token")
            .ok_or_else(|| invalid("the provider has no `token` (a GitLab token)"))?;
        let url = endpoint(address, request.event.git_commit()?)?;
        weir_sdk::http::Request::post(&url)
            .header("private-token", token)
            .json(&body(&request).to_string())
            .send()?
            .error_for_status()?;
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(GitLab, name: "gitlab", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::{Event, ObjectRef, Secrets};

    const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn request(severity: Severity, reason: &str) -> NotifyRequest {
        NotifyRequest {
            event: Event {
                severity,
                reason: reason.into(),
                message: "x".repeat(300),
                revision: Some(format!("v1.2.0@sha1:{SHA}")),
                involved_object: ObjectRef {
                    api_version: "sync.weir.dev/v1".into(),
                    kind: "Sync".into(),
                    namespace: Some("default".into()),
                    name: "shop".into(),
                },
                cluster: "eu".into(),
                timestamp: "2026-11-26T12:00:00Z".into(),
                metadata: Vec::new(),
            },
            message: None,
            settings: Vec::new(),
            secrets: Secrets(Vec::new()),
        }
    }

    #[test]
    fn the_project_path_is_url_encoded_in_the_endpoint() {
        assert_eq!(
            endpoint("https://gitlab.com/group/sub/project.git", SHA).expect("ok"),
            format!("https://gitlab.com/api/v4/projects/group%2Fsub%2Fproject/statuses/{SHA}")
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080/org/app/", SHA).expect("ok"),
            format!("http://127.0.0.1:8080/api/v4/projects/org%2Fapp/statuses/{SHA}")
        );
        assert_eq!(encode("a b/ç"), "a%20b%2F%C3%A7");
        for bad in [
            "https://gitlab.com/project",
            "git@gitlab.com:a/b",
            "https://gitlab.com//b",
        ] {
            assert!(endpoint(bad, SHA).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_names_and_descriptions() {
        let b = body(&request(Severity::Error, "HealthCheckFailed"));
        assert_eq!(b["state"], "failed");
        assert_eq!(b["name"], "Sync/shop/eu");
        assert_eq!(
            b["description"].as_str().map(|d| d.chars().count()),
            Some(255)
        );
        assert_eq!(
            body(&request(Severity::Info, "Progressing"))["state"],
            "running"
        );
        assert_eq!(
            body(&request(Severity::Info, "ReconciliationSucceeded"))["state"],
            "success"
        );
        let mut r = request(Severity::Info, "x");
        assert_eq!(r.event.git_commit().expect("sha"), SHA);
        r.event.revision = Some(format!("main/{SHA}"));
        assert_eq!(r.event.git_commit().expect("flux 1 revision"), SHA);
        r.event.revision = Some("main@sha1:abc".into());
        assert!(r.event.git_commit().is_err());
    }
}
