//! weir's `github` notifier: sets a commit status on the commit an event's
//! revision names (`POST /repos/{owner}/{repo}/statuses/{sha}`), so a
//! pull request or commit shows whether weir applied it.
//!
//! `address` (required, a setting or a secret: the repository URL,
//! `https://github.com/org/app` or a GitHub Enterprise one), secret `token`
//! (required: a token allowed to write commit statuses). The API is
//! `https://api.github.com` for github.com and `<scheme>://<host>/api/v3`
//! for any other host.
//!
//! The status: `state` `failure` for errors, `pending` for `Progressing`,
//! `success` otherwise; `context` `<kind>/<name>`, with `/<cluster>` when
//! the cluster is not `default` (several clusters report separately);
//! `description` the alert's template output or the event's message, first
//! line, at most 140 characters (GitHub's limit).

use serde_json::{Value, json};
use weir_sdk::{Error, ErrorKind, Event, NotifyRequest, Severity};

/// The plugin.
pub struct GitHub;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// The statuses endpoint for repository URL `address` and commit `sha`.
///
/// # Errors
/// An address that is not an http(s) URL of the form
/// `<scheme>://<host>/<owner>/<repo>`.
pub fn endpoint(address: &str, sha: &str) -> Result<String, Error> {
    let bad = || invalid("address is not a repository URL like https://github.com/OWNER/REPO");
    let (scheme, rest) = address.split_once("://").ok_or_else(bad)?;
    if scheme != "https" && scheme != "http" {
        return Err(bad());
    }
    let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.split('/');
    let (Some(owner), Some(repo), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if owner.is_empty() || repo.is_empty() {
        return Err(bad());
    }
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let api = if host.eq_ignore_ascii_case("github.com") {
        "https://api.github.com".to_owned()
    } else {
        format!("{scheme}://{host}/api/v3")
    };
    Ok(format!("{api}/repos/{owner}/{repo}/statuses/{sha}"))
}

/// The status's `context`.
pub fn context(e: &Event) -> String {
    e.source_name()
}

/// `s`'s first line, at most `max` characters (ending in `…` when cut).
pub fn short(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let mut t: String = line.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// The request body.
pub fn body(request: &NotifyRequest) -> Value {
    let e = &request.event;
    let state = match (e.severity, e.reason.as_str()) {
        (Severity::Error, _) => "failure",
        (_, "Progressing") => "pending",
        _ => "success",
    };
    json!({
        "state": state,
        "context": context(e),
        "description": short(request.message.as_deref().unwrap_or(&e.message), 140),
    })
}

impl weir_sdk::Notifier for GitHub {
    fn notify(request: NotifyRequest) -> Result<(), Error> {
        let address = request
            .secrets
            .get("address")
            .or_else(|| request.setting("address"))
            .ok_or_else(|| invalid("the provider has no `address` (the repository URL)"))?;
        let token = request
            .secrets
            .get("token")
            .ok_or_else(|| invalid("the provider has no `token` (a GitHub token)"))?;
        let url = endpoint(address, request.event.git_commit()?)?;
        weir_sdk::http::Request::post(&url)
            .header("authorization", &format!("Bearer {token}"))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "weir")
            .json(&body(&request).to_string())
            .send()?
            .error_for_status()?;
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
weir_sdk::export_notifier!(GitHub, name: "github", http_hosts: ["*"]);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::{ObjectRef, Secrets};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn request(severity: Severity, reason: &str, cluster: &str) -> NotifyRequest {
        NotifyRequest {
            event: Event {
                severity,
                reason: reason.into(),
                message: format!("{}\nsecond line", "m".repeat(200)),
                revision: Some(format!("main@sha1:{SHA}")),
                involved_object: ObjectRef {
                    api_version: "sync.weir.dev/v1".into(),
                    kind: "Sync".into(),
                    namespace: Some("default".into()),
                    name: "shop".into(),
                },
                cluster: cluster.into(),
                timestamp: "2026-11-26T12:00:00Z".into(),
                metadata: Vec::new(),
            },
            message: None,
            settings: Vec::new(),
            secrets: Secrets(Vec::new()),
        }
    }

    #[test]
    fn the_endpoint_follows_github_and_enterprise_urls() {
        assert_eq!(
            endpoint("https://github.com/org/app.git", SHA).expect("ok"),
            format!("https://api.github.com/repos/org/app/statuses/{SHA}")
        );
        assert_eq!(
            endpoint("https://ghe.example.com:8443/org/app/", SHA).expect("ok"),
            format!("https://ghe.example.com:8443/api/v3/repos/org/app/statuses/{SHA}")
        );
        for bad in [
            "ssh://git@github.com/org/app",
            "https://github.com/org",
            "https://github.com/a/b/c",
            "github.com/org/app",
        ] {
            assert!(endpoint(bad, SHA).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_contexts_and_descriptions() {
        let b = body(&request(Severity::Error, "ApplyFailed", "default"));
        assert_eq!(b["state"], "failure");
        assert_eq!(b["context"], "Sync/shop");
        let d = b["description"].as_str().expect("description");
        assert_eq!(d.chars().count(), 140);
        assert!(d.ends_with('…') && !d.contains('\n'));
        let b = body(&request(Severity::Info, "Progressing", "prod"));
        assert_eq!(
            (b["state"].as_str(), b["context"].as_str()),
            (Some("pending"), Some("Sync/shop/prod"))
        );
        let b = body(&request(Severity::Info, "ReconciliationSucceeded", "prod"));
        assert_eq!(b["state"], "success");
        assert_eq!(b.as_object().map(|o| o.len()), Some(3));
    }

    #[test]
    fn only_git_commit_revisions_get_a_status() {
        let mut r = request(Severity::Info, "x", "default");
        assert_eq!(r.event.git_commit().expect("sha"), SHA);
        r.event.revision = Some(format!("sha1:{SHA}"));
        assert_eq!(r.event.git_commit().expect("sha"), SHA);
        r.event.revision = Some(format!("feature/x/{SHA}"));
        assert_eq!(r.event.git_commit().expect("flux 1 revision"), SHA);
        r.event.revision = Some(format!("main/{}", &SHA[..39]));
        assert!(r.event.git_commit().is_err(), "short sha");
        r.event.revision = Some("sha256:abcd".into());
        assert!(r.event.git_commit().is_err());
        r.event.revision = None;
        let e = r.event.git_commit().expect_err("none");
        assert_eq!(e.kind, ErrorKind::InvalidInput);
    }
}
