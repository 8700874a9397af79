//! weir's built-in notifier plugins (plugins/slack, teams, webhook,
//! webhook-hmac, github, gitlab) as real components, loaded through
//! `PluginHost` and posting to a recording HTTP server: the request each
//! sends (method, path, headers, body field by field) and how provider
//! failures come back (5xx transient, 4xx not, secrets never in the text).
//! scripts/test.sh builds the components (scripts/plugins.sh build).

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use weir_config::{ByteSize, EffectiveLimits};
use weir_core::plugin::{
    Event, EventObject, NotifierRegistry, NotifyRequest, OptionValue, PluginErrorKind, Severity,
};
use weir_e2e::http_sink::{Recorded, Reply, Sink};
use weir_wasm::PluginHost;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const TOKEN: &str = "tok-5ecr3t-value";

fn cache() -> PathBuf {
    std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
}

/// A host whose plugins directory holds only the built `name`, granting
/// the sink's address.
fn host(name: &str, sink: &Sink) -> (tempfile::TempDir, PluginHost) {
    let built = std::env::var_os("WEIR_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("plugins"))
        .join(format!("{name}.wasm"));
    assert!(
        built.exists(),
        "{} is missing: scripts/test.sh builds it (scripts/plugins.sh build)",
        built.display()
    );
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(&built, dir.path().join(format!("{name}.wasm"))).expect("copy");
    let allowed = vec![sink.authority()];
    let host = PluginHost::new(
        dir.path(),
        Some(&cache().join("test-wasm-cache")),
        move |_| EffectiveLimits {
            max_memory: ByteSize(128 << 20),
            timeout: weir_config::Duration::from_secs(10),
            allowed_hosts: allowed.clone(),
        },
    )
    .expect("host");
    (dir, host)
}

fn event(severity: Severity, reason: &str) -> Event {
    Event {
        severity,
        reason: reason.into(),
        message: "Deployment/web/api: 0/2 replicas available".into(),
        revision: Some(format!("main@sha1:{SHA}")),
        involved_object: EventObject {
            api_version: "weir.dev/v1".into(),
            kind: "Sync".into(),
            namespace: Some("default".into()),
            name: "apps".into(),
        },
        cluster: "staging".into(),
        timestamp: "2026-11-26T12:00:00Z".into(),
        metadata: vec![("team".into(), "web".into())],
    }
}

fn request(event: Event, settings: &[(&str, &str)], secrets: &[(&str, &str)]) -> NotifyRequest {
    NotifyRequest {
        event,
        message: None,
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).into(), OptionValue::Str((*v).into())))
            .collect(),
        secrets: secrets
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

/// Sends `request` through plugin `name`, expecting one request at the sink.
fn deliver(name: &str, sink: &Sink, request: &NotifyRequest) -> Recorded {
    let (_dir, host) = host(name, sink);
    let n = host.notifier(name).expect("load");
    n.notify(request).expect("delivered");
    let got = sink.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    got.into_iter().next().expect("one request")
}

/// HMAC-SHA256 written out from its definition (RFC 2104), independent of
/// the `hmac` crate the plugin uses.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_test_hmac_matches_rfc_4231() {
    assert_eq!(
        hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn slack_posts_block_kit_to_the_webhook() {
    let sink = Sink::start();
    let url = sink.url("/services/T000/B000/XXXXSECRET");
    let r = deliver(
        "slack",
        &sink,
        &request(
            event(Severity::Error, "HealthCheckFailed"),
            &[("channel", "deploys"), ("username", "weir")],
            &[("address", &url)],
        ),
    );
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/services/T000/B000/XXXXSECRET")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let b = r.json();
    assert_eq!(b["channel"], "deploys");
    assert_eq!(b["username"], "weir");
    assert_eq!(
        b["text"],
        ":red_circle: [staging] Sync/apps: HealthCheckFailed Deployment/web/api: 0/2 replicas available"
    );
    let blocks = b["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 3, "{b}");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        ":red_circle: Sync/apps: HealthCheckFailed"
    );
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[1]["text"]["text"],
        "Deployment/web/api: 0/2 replicas available"
    );
    assert_eq!(blocks[2]["type"], "context");
    let texts: Vec<&str> = blocks[2]["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "mrkdwn");
            e["text"].as_str().expect("text")
        })
        .collect();
    assert_eq!(
        texts,
        [
            "*cluster* staging".to_owned(),
            format!("*revision* `main@sha1:{SHA}`"),
            "*team* web".to_owned()
        ]
    );
}

#[test]
fn teams_sends_an_adaptive_card_to_workflows_and_a_message_card_to_connectors() {
    let sink = Sink::start();
    let (_dir, host) = host("teams", &sink);
    let n = host.notifier("teams").expect("load");
    let mut info = request(
        event(Severity::Info, "ReconciliationSucceeded"),
        &[],
        &[(
            "address",
            &sink.url("/workflows/abc/triggers/manual/paths/invoke"),
        )],
    );
    info.message = Some("applied 3 objects".into());
    n.notify(&info).expect("workflows");
    n.notify(&request(
        event(Severity::Error, "ApplyFailed"),
        &[],
        &[("address", &sink.url("/webhookb2/g@t/IncomingWebhook/x/y"))],
    ))
    .expect("legacy");
    let got = sink.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    let w = got[0].json();
    assert_eq!(w["type"], "message");
    let a = &w["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(a["contentUrl"].is_null());
    let card = &a["content"];
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(
        card["body"][0]["text"],
        "Sync/apps: ReconciliationSucceeded"
    );
    assert_eq!(card["body"][0]["color"], "Good");
    assert_eq!(card["body"][1]["text"], "applied 3 objects");
    assert_eq!(card["body"][2]["type"], "FactSet");
    assert_eq!(
        card["body"][2]["facts"][0],
        serde_json::json!({"title": "Cluster", "value": "staging"})
    );

    assert_eq!(got[1].path, "/webhookb2/g@t/IncomingWebhook/x/y");
    let l = got[1].json();
    assert_eq!(l["@type"], "MessageCard");
    assert_eq!(l["@context"], "https://schema.org/extensions");
    assert_eq!(l["themeColor"], "A30200");
    assert_eq!(l["summary"], "Sync/apps: ApplyFailed");
    let s = &l["sections"][0];
    assert_eq!(s["activityTitle"], "Sync/apps");
    assert_eq!(s["activitySubtitle"], "ApplyFailed on staging");
    assert_eq!(s["text"], "Deployment/web/api: 0/2 replicas available");
    assert_eq!(
        s["facts"][1],
        serde_json::json!({"name": "Revision", "value": format!("main@sha1:{SHA}")})
    );
}

fn assert_generic_body(r: &Recorded) {
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-team"), Some("shop"));
    assert_eq!(r.header("authorization"), Some("Basic abc:d"));
    let b = r.json();
    assert_eq!(
        b["involvedObject"],
        serde_json::json!({"apiVersion": "weir.dev/v1", "kind": "Sync", "namespace": "default", "name": "apps"})
    );
    assert_eq!(b["severity"], "error");
    assert_eq!(b["timestamp"], "2026-11-26T12:00:00Z");
    assert_eq!(b["message"], "Deployment/web/api: 0/2 replicas available");
    assert_eq!(b["reason"], "HealthCheckFailed");
    assert_eq!(b["revision"], format!("main@sha1:{SHA}"));
    assert_eq!(b["cluster"], "staging");
    assert_eq!(b["metadata"], serde_json::json!({"team": "web"}));
    assert_eq!(b["reportingController"], "weir");
}

#[test]
fn webhook_posts_the_event_json_with_the_secret_headers() {
    let sink = Sink::start();
    let url = sink.url("/hook");
    let r = deliver(
        "webhook",
        &sink,
        &request(
            event(Severity::Error, "HealthCheckFailed"),
            &[],
            &[
                ("address", &url),
                ("headers", "X-Team: shop\nAuthorization: \"Basic abc:d\"\n"),
            ],
        ),
    );
    assert_generic_body(&r);
    assert_eq!(r.header("x-signature"), None);
}

#[test]
fn webhook_hmac_signs_the_body_it_sends() {
    let sink = Sink::start();
    let url = sink.url("/hook");
    let r = deliver(
        "webhook-hmac",
        &sink,
        &request(
            event(Severity::Error, "HealthCheckFailed"),
            &[],
            &[
                ("address", &url),
                ("token", TOKEN),
                (
                    "headers",
                    r#"{"X-Team": "shop", "Authorization": "Basic abc:d"}"#,
                ),
            ],
        ),
    );
    assert_generic_body(&r);
    let want = format!("sha256={}", hmac_sha256(TOKEN.as_bytes(), &r.body));
    assert_eq!(r.header("x-signature"), Some(want.as_str()));
    assert!(!String::from_utf8_lossy(&r.body).contains(TOKEN));
}

#[test]
fn github_sets_a_commit_status_through_the_enterprise_api() {
    let sink = Sink::start();
    let repo = sink.url("/org/app.git");
    let r = deliver(
        "github",
        &sink,
        &request(
            event(Severity::Error, "HealthCheckFailed"),
            &[("address", &repo)],
            &[("token", TOKEN)],
        ),
    );
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        (
            "POST",
            format!("/api/v3/repos/org/app/statuses/{SHA}").as_str()
        )
    );
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(r.header("authorization"), Some(auth.as_str()));
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(r.header("user-agent"), Some("weir"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let b = r.json();
    assert_eq!(b["state"], "failure");
    assert_eq!(b["context"], "Sync/apps/staging");
    assert_eq!(
        b["description"],
        "Deployment/web/api: 0/2 replicas available"
    );
    assert_eq!(b.as_object().map(|o| o.len()), Some(3), "{b}");
}

#[test]
fn gitlab_sets_a_commit_status_on_the_url_encoded_project() {
    let sink = Sink::start();
    let project = sink.url("/group/sub/app");
    let mut e = event(Severity::Info, "Progressing");
    e.revision = Some(format!("v1.2.0@sha1:{SHA}"));
    e.cluster = "default".into();
    let r = deliver(
        "gitlab",
        &sink,
        &request(e, &[], &[("address", &project), ("token", TOKEN)]),
    );
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        (
            "POST",
            format!("/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}").as_str()
        )
    );
    assert_eq!(r.header("private-token"), Some(TOKEN));
    assert_eq!(r.header("authorization"), None);
    let b = r.json();
    assert_eq!(b["state"], "running");
    assert_eq!(b["name"], "Sync/apps");
    assert_eq!(
        b["description"],
        "Deployment/web/api: 0/2 replicas available"
    );
}

#[test]
fn a_commit_status_needs_a_git_revision_and_nothing_is_sent_without_one() {
    let sink = Sink::start();
    for name in ["github", "gitlab"] {
        let (_dir, host) = host(name, &sink);
        let n = host.notifier(name).expect("load");
        let mut e = event(Severity::Info, "ReconciliationSucceeded");
        e.revision = None;
        let secrets = [("address", sink.url("/org/app")), ("token", TOKEN.into())];
        let secrets: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = n
            .notify(&request(e.clone(), &[], &secrets))
            .expect_err("no revision");
        assert_eq!(err.kind, PluginErrorKind::InvalidInput, "{name}: {err}");
        assert!(err.to_string().contains("no revision"), "{name}: {err}");
        e.revision = Some("1.2.3@sha256:abcdef".into());
        let err = n
            .notify(&request(e, &[], &secrets))
            .expect_err("not a commit");
        assert_eq!(err.kind, PluginErrorKind::InvalidInput, "{name}: {err}");
        assert!(
            err.to_string().contains("does not name a git commit"),
            "{name}: {err}"
        );
    }
    assert!(sink.requests().is_empty(), "{:?}", sink.requests());
}

#[test]
fn a_missing_address_is_invalid_input() {
    let sink = Sink::start();
    for name in [
        "slack",
        "teams",
        "webhook",
        "webhook-hmac",
        "github",
        "gitlab",
    ] {
        let (_dir, host) = host(name, &sink);
        let n = host.notifier(name).expect("load");
        let err = n
            .notify(&request(
                event(Severity::Info, "ReconciliationSucceeded"),
                &[],
                &[("token", TOKEN)],
            ))
            .expect_err("no address");
        assert_eq!(err.kind, PluginErrorKind::InvalidInput, "{name}: {err}");
        assert!(err.to_string().contains("`address`"), "{name}: {err}");
    }
    assert!(sink.requests().is_empty());
}

#[test]
fn provider_failures_are_classified_and_never_show_the_token_or_the_path() {
    for name in [
        "slack",
        "teams",
        "webhook",
        "webhook-hmac",
        "github",
        "gitlab",
    ] {
        let sink = Sink::scripted(vec![Reply::status(500), Reply::status(404)]);
        let (_dir, host) = host(name, &sink);
        let n = host.notifier(name).expect("load");
        // Slack/Teams/webhook URLs carry their credential in the path.
        let address = sink.url("/secretpath/T0KENPATH");
        let r = request(
            event(Severity::Error, "HealthCheckFailed"),
            &[],
            &[("address", &address), ("token", TOKEN)],
        );
        let e = n.notify(&r).expect_err("500");
        assert_eq!(e.kind, PluginErrorKind::Transient, "{name}: {e}");
        assert!(e.to_string().contains("500"), "{name}: {e}");
        let e2 = n.notify(&r).expect_err("404");
        assert!(!e2.kind.is_transient(), "{name}: {e2}");
        assert!(e2.to_string().contains("404"), "{name}: {e2}");
        for text in [
            e.to_string(),
            e2.to_string(),
            format!("{e:?}"),
            format!("{e2:?}"),
        ] {
            for secret in [TOKEN, "secretpath", "T0KENPATH", SHA] {
                assert!(!text.contains(secret), "{name}: {secret:?} leaked: {text}");
            }
        }
        assert_eq!(sink.requests().len(), 2, "{name}");
    }
}
