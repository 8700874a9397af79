//! End-to-end notifications: the `weir` binary reconciles against the real
//! kube-apiserver and git server, and its notifier plugins (the real
//! components) deliver to local HTTP servers standing in for Slack, Teams,
//! GitHub, GitLab and a signed webhook.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use weir_e2e::http_sink::{Recorded, Reply, Sink};
use weir_e2e::{TestRepo, Weir, git_server, kubectl, unique, var};

fn source(name: &str, repo: &TestRepo) -> String {
    let env = git_server();
    format!(
        r#"[[git]]
name = "{name}"
url = "{}/basic/{}"
ref = {{ branch = "main" }}
interval = "1s"
timeout = "20s"

[git.auth]
username = "{}"
passwordFile = "{}"

[[sync]]
name = "{name}"
source = "{name}"
path = "deploy"
interval = "2s"
prune = true
"#,
        var(env, "WEIR_GIT_HTTP_URL"),
        repo.rel,
        var(env, "WEIR_GIT_HTTP_USER"),
        var(env, "WEIR_GIT_HTTP_PASSWORD_FILE")
    )
}

fn manifests(ns: &str, value: &str) -> Vec<(String, String)> {
    vec![
        (
            "deploy/ns.yaml".into(),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        ),
        (
            "deploy/cm.yaml".into(),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {ns}\ndata:\n  value: {value:?}\n"
            ),
        ),
    ]
}

fn commit(repo: &TestRepo, files: &[(String, String)], message: &str) -> String {
    let files: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    repo.commit(&files, message)
}

/// A file in the test's directory holding `text`; its path.
fn secret_file(weir: &Weir, name: &str, text: &str) -> String {
    let path = weir.dir.path().join(name);
    std::fs::write(&path, text).expect("write secret file");
    path.display().to_string()
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn one(sink: &Sink, n: usize, who: &str) -> Recorded {
    let got = sink.wait_for(n, Duration::from_secs(30));
    assert_eq!(got.len(), n, "{who}: expected {n} requests, got {got:#?}");
    got[n - 1].clone()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

/// Slack: `text` plus Block Kit blocks (header, section, context), each
/// block of a documented type with a text object of a documented type.
fn check_slack(r: &Recorded, error: bool, needle: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/services/T000/B000/XXXX");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{r:?}"
    );
    let b = r.json();
    assert!(str_at(&b, "/text").contains(needle), "{b:#}");
    assert_eq!(b["channel"], "deploys", "{b:#}");
    assert_eq!(b["username"], "weir", "{b:#}");
    let blocks = b["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty() && blocks.len() <= 50, "{b:#}");
    for block in blocks {
        let t = str_at(block, "/type");
        match t {
            "header" => {
                assert_eq!(str_at(block, "/text/type"), "plain_text");
                assert!(str_at(block, "/text/text").chars().count() <= 150);
            }
            "section" => {
                assert!(matches!(
                    str_at(block, "/text/type"),
                    "mrkdwn" | "plain_text"
                ));
                assert!(str_at(block, "/text/text").chars().count() <= 3000);
            }
            "context" => {
                let els = block["elements"].as_array().expect("context elements");
                assert!(!els.is_empty() && els.len() <= 10, "{block:#}");
                for e in els {
                    assert!(matches!(str_at(e, "/type"), "mrkdwn" | "plain_text"));
                }
            }
            "divider" => {}
            other => panic!("unexpected block type {other}: {b:#}"),
        }
    }
    let all = b.to_string();
    assert!(
        all.contains("e2e-notify"),
        "the cluster name is missing: {b:#}"
    );
    assert_eq!(
        all.contains(":red_circle:") || all.contains("danger"),
        error,
        "error marker wrong for error={error}: {b:#}"
    );
}

/// Teams Workflows: a message with one Adaptive Card attachment.
fn check_teams(r: &Recorded, needle: &str) {
    assert_eq!(r.method, "POST");
    let b = r.json();
    assert_eq!(b["type"], "message", "{b:#}");
    let att = &b["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(att.get("contentUrl").is_some_and(Value::is_null), "{b:#}");
    let card = &att["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert!(str_at(card, "/version").starts_with("1."), "{card:#}");
    let body = card["body"].as_array().expect("card body");
    for el in body {
        assert!(
            matches!(
                str_at(el, "/type"),
                "TextBlock" | "FactSet" | "Container" | "ColumnSet"
            ),
            "{el:#}"
        );
    }
    assert!(card.to_string().contains(needle), "{card:#}");
}

/// GitHub commit status for `sha`.
fn check_github(r: &Recorded, sha: &str, state: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/api/v3/repos/org/app/statuses/{sha}"));
    assert_eq!(r.header("authorization"), Some("Bearer gh-token-123"));
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    assert!(r.header("user-agent").is_some(), "{r:?}");
    let b = r.json();
    assert_eq!(b["state"], state, "{b:#}");
    assert!(str_at(&b, "/context").starts_with("Sync/"), "{b:#}");
    assert!(str_at(&b, "/description").chars().count() <= 140, "{b:#}");
}

/// GitLab commit status for `sha`.
fn check_gitlab(r: &Recorded, sha: &str, state: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/api/v4/projects/org%2Fapp/statuses/{sha}"));
    assert_eq!(r.header("private-token"), Some("gl-token-456"));
    let b = r.json();
    assert_eq!(b["state"], state, "{b:#}");
    assert!(str_at(&b, "/name").starts_with("Sync/"), "{b:#}");
    assert!(b.get("description").is_some(), "{b:#}");
}

/// The signed generic webhook: the event as JSON, `X-Signature` the
/// HMAC-SHA256 of the body with the provider's token.
fn check_hmac(r: &Recorded, reason: &str, severity: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    let sig = r.header("x-signature").expect("X-Signature");
    assert_eq!(
        sig,
        format!("sha256={}", hmac_hex(b"hmac-key-789", &r.body))
    );
    assert_eq!(r.header("x-team"), Some("shop"), "custom header: {r:?}");
    let b = r.json();
    assert_eq!(b["reason"], reason, "{b:#}");
    assert_eq!(b["severity"], severity, "{b:#}");
    assert_eq!(b["involvedObject"]["kind"], "Sync", "{b:#}");
    assert_eq!(b["cluster"], "e2e-notify", "{b:#}");
    assert_eq!(b["metadata"]["env"], "test", "{b:#}");
}

#[test]
fn success_failure_and_recovery_reach_every_provider_exactly_once_each() {
    let ns = unique("e2e-notify");
    let name = unique("notify");
    let repo = TestRepo::new("notify");
    let good = manifests(&ns, "v1");
    let sha1 = commit(&repo, &good, "first");
    let slack = Sink::start();
    let teams = Sink::start();
    let github = Sink::start();
    let gitlab = Sink::start();
    let hook = Sink::start();
    let weir = Weir::new("");
    let slack_url = secret_file(&weir, "slack-url", &slack.url("/services/T000/B000/XXXX"));
    let teams_url = secret_file(
        &weir,
        "teams-url",
        &teams.url("/workflows/abc/triggers/manual"),
    );
    let gh_token = secret_file(&weir, "gh-token", "gh-token-123\n");
    let secret = unique("hook-secret");
    let out = kubectl(&[
        "create",
        "secret",
        "generic",
        &secret,
        "-n",
        "default",
        &format!("--from-literal=address={}", hook.url("/hook")),
        "--from-literal=token=hmac-key-789",
        "--from-literal=headers=X-Team: shop",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let toml = format!(
        r#"version = 1

[host]
clusterName = "e2e-notify"

# Addresses that come from files or Secrets are granted here; an address
# written in this file grants itself.
[host.plugins.slack]
allowedHosts = ["{slack_host}"]
[host.plugins.teams]
allowedHosts = ["{teams_host}"]
[host.plugins.webhook-hmac]
allowedHosts = ["{hook_host}"]

{source}
[[provider]]
name = "slack"
type = "slack"
addressFile = "{slack_url}"
channel = "deploys"
username = "weir"

[[provider]]
name = "teams"
type = "msteams"
addressFile = "{teams_url}"

[[provider]]
name = "github"
type = "github"
address = "{github_repo}"
tokenFile = "{gh_token}"

[[provider]]
name = "gitlab"
type = "gitlab"
address = "{gitlab_repo}"
token = "gl-token-456"

[[provider]]
name = "hook"
type = "generic-hmac"
secretRef = {{ name = "{secret}", namespace = "default" }}

[[alert]]
name = "chat"
provider = "slack"
eventSources = [{{ kind = "Sync", name = "*" }}]

[[alert]]
name = "teams"
provider = "teams"
eventSources = [{{ kind = "Kustomization", name = "{name}" }}]

[[alert]]
name = "github"
provider = "github"
eventSources = [{{ kind = "Sync", name = "*" }}]

[[alert]]
name = "gitlab"
provider = "gitlab"
eventSources = [{{ kind = "Sync", name = "*" }}]

[[alert]]
name = "hook"
provider = "hook"
eventSources = [{{ kind = "Sync", name = "*" }}]
eventMetadata = {{ env = "test" }}
"#,
        slack_host = slack.authority(),
        teams_host = teams.authority(),
        hook_host = hook.authority(),
        source = source(&name, &repo),
        github_repo = github.url("/org/app"),
        gitlab_repo = gitlab.url("/org/app"),
    );
    std::fs::write(&weir.config, toml).expect("write config");

    // 1. Success: one info notification each.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    check_slack(&one(&slack, 1, "slack"), false, "applied revision");
    check_teams(&one(&teams, 1, "teams"), "applied revision");
    check_github(&one(&github, 1, "github"), &sha1, "success");
    check_gitlab(&one(&gitlab, 1, "gitlab"), &sha1, "success");
    check_hmac(&one(&hook, 1, "hook"), "ReconciliationSucceeded", "info");

    // 2. Failure: a manifest that is not YAML.
    let bad = vec![(
        "deploy/cm.yaml".to_owned(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {ns}\ndata: {{value: [\n"
        ),
    )];
    let sha2 = commit(&repo, &bad, "broken");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    check_slack(&one(&slack, 2, "slack"), true, "cm.yaml");
    check_teams(&one(&teams, 2, "teams"), "cm.yaml");
    check_github(&one(&github, 2, "github"), &sha2, "failure");
    check_gitlab(&one(&gitlab, 2, "gitlab"), &sha2, "failed");
    let failed = one(&hook, 2, "hook");
    check_hmac(&failed, "BuildFailed", "error");
    assert!(
        failed.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("cm.yaml")),
        "the failure names the object: {:#}",
        failed.json()
    );

    // The same failure again: no new notifications (Events and alerts
    // speak when something changes).
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");

    // 3. Recovery.
    let sha3 = commit(&repo, &manifests(&ns, "v2"), "fixed");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    check_slack(&one(&slack, 3, "slack"), false, "applied revision");
    check_teams(&one(&teams, 3, "teams"), "applied revision");
    check_github(&one(&github, 3, "github"), &sha3, "success");
    check_gitlab(&one(&gitlab, 3, "gitlab"), &sha3, "success");
    check_hmac(&one(&hook, 3, "hook"), "ReconciliationSucceeded", "info");

    // 4. Nothing changed: quiet.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    std::thread::sleep(Duration::from_secs(2));
    for (sink, who) in [
        (&slack, "slack"),
        (&teams, "teams"),
        (&github, "github"),
        (&gitlab, "gitlab"),
        (&hook, "hook"),
    ] {
        assert_eq!(sink.requests().len(), 3, "{who} got more than 3");
    }
    let _ = kubectl(&["delete", "secret", &secret, "-n", "default"]);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

/// A provider's state as `<state>/providers/NAME.json` records it.
fn provider_status(weir: &Weir, name: &str) -> Option<Value> {
    let path = weir
        .dir
        .path()
        .join(".weir/providers")
        .join(format!("{name}.json"));
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

#[test]
fn broken_providers_are_retried_then_reported_and_never_hold_the_sync() {
    let ns = unique("e2e-notify-down");
    let name = unique("notify-down");
    let repo = TestRepo::new("notify-down");
    commit(&repo, &manifests(&ns, "v1"), "first");
    // 500 twice, then fine.
    let flaky = Sink::scripted(vec![Reply::status(500), Reply::status(500)]);
    // Answers after the provider's timeout, every time.
    let slow = Sink::scripted(vec![Reply::slow(Duration::from_secs(20)); 8]);
    // Nothing listens here.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let weir = Weir::new("");
    let toml = format!(
        r#"version = 1

[host]
clusterName = "e2e-notify"

{source}
[[provider]]
name = "flaky"
type = "webhook"
address = "{flaky}"

[[provider]]
name = "slow"
type = "webhook"
address = "{slow}"
timeout = "1s"

[[provider]]
name = "down"
type = "webhook"
address = "http://127.0.0.1:{closed}/hook"

[[alert]]
name = "flaky"
provider = "flaky"
eventSources = [{{ kind = "Sync", name = "*" }}]

[[alert]]
name = "slow"
provider = "slow"
eventSources = [{{ kind = "Sync", name = "*" }}]

[[alert]]
name = "down"
provider = "down"
eventSources = [{{ kind = "Sync", name = "*" }}]
"#,
        source = source(&name, &repo),
        flaky = flaky.url("/hook"),
        slow = slow.url("/hook"),
    );
    std::fs::write(&weir.config, toml).expect("write config");
    let out = weir.run(&["reconcile"]);
    // The sync succeeded whatever the providers did.
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");

    // Retried until it worked.
    assert_eq!(flaky.requests().len(), 3, "500, 500, 200");
    let s = provider_status(&weir, "flaky").expect("flaky status");
    assert_eq!(
        (s["delivered"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );
    // Retried, then reported: every attempt timed out.
    assert_eq!(slow.requests().len(), 4, "four attempts");
    let s = provider_status(&weir, "slow").expect("slow status");
    assert_eq!(
        (s["failed"].as_u64(), s["ready"].as_bool()),
        (Some(1), Some(false)),
        "{s}"
    );
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("not delivered after 4 attempt(s)")),
        "{s}"
    );
    let s = provider_status(&weir, "down").expect("down status");
    assert_eq!(s["failed"].as_u64(), Some(1), "{s}");
    assert!(
        out.stderr.contains("notification not delivered"),
        "the failure is logged: {}",
        out.stderr
    );
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn a_provider_address_that_is_not_granted_is_never_reached() {
    let ns = unique("e2e-notify-deny");
    let name = unique("notify-deny");
    let repo = TestRepo::new("notify-deny");
    commit(&repo, &manifests(&ns, "v1"), "first");
    let sink = Sink::start();
    let weir = Weir::new("");
    // The address comes from a file: nothing grants its host.
    let url = secret_file(&weir, "url", &sink.url("/secret-path-abc"));
    let toml = format!(
        r#"version = 1

{source}
[[provider]]
name = "hook"
type = "webhook"
addressFile = "{url}"

[[alert]]
name = "hook"
provider = "hook"
eventSources = [{{ kind = "*", name = "*" }}]
"#,
        source = source(&name, &repo),
    );
    std::fs::write(&weir.config, toml).expect("write config");
    let out = weir
        .command()
        .env("WEIR_LOG", "trace")
        .arg("reconcile")
        .output()
        .expect("run weir");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(sink.requests().is_empty(), "the request got out");
    let s = provider_status(&weir, "hook").expect("status");
    // Both events failed: the source's NewArtifact and the sync's success.
    assert_eq!(s["failed"].as_u64(), Some(2), "{s}");
    let msg = s["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("allowedHosts") || msg.contains("does not grant"),
        "{msg}"
    );
    assert!(
        !stderr.contains("secret-path-abc") && !msg.contains("secret-path-abc"),
        "the address's path leaked"
    );
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}
