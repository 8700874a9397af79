//! The plugin kinds beyond renderers, the old ABI and built-ins, with real
//! components: the third-party example notifier (examples/
//! notifier-mattermost, built against weir-sdk only) posting to a real
//! HTTP server, the outbound-HTTP gate refusing on each side, a decryptor,
//! a renderer built against the frozen API 0.1.0, and a file overriding a
//! built-in plugin. scripts/test.sh builds the components.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use weir_config::{ByteSize, EffectiveLimits};
use weir_core::plugin::{
    DecryptFormat, DecryptKey, DecryptRequest, DecryptorRegistry, Event, EventObject,
    NotifierRegistry, NotifyRequest, OptionValue, PluginErrorKind, RenderRequest, RendererRegistry,
    Severity,
};
use weir_e2e::http_sink::{Reply, Sink};
use weir_wasm::{Builtin, PluginHost};

fn cache() -> PathBuf {
    std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
}

fn built(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEIR_TEST_BAD_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("test-plugins"));
    let p = dir.join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: scripts/test.sh builds it (scripts/plugins.sh build --out {} tests/plugins/*/ examples/*/)",
        p.display(),
        dir.display()
    );
    p
}

fn plain() -> PathBuf {
    let dir = std::env::var_os("WEIR_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("plugins"));
    dir.join("plain.wasm")
}

/// A plugins directory holding `files` (source path, name there).
fn plugins(files: &[(PathBuf, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for (from, name) in files {
        std::fs::copy(from, dir.path().join(format!("{name}.wasm"))).expect("copy");
    }
    dir
}

fn host(dir: &Path, allowed: Vec<String>) -> PluginHost {
    PluginHost::new(dir, Some(&cache().join("test-wasm-cache")), move |_| {
        EffectiveLimits {
            max_memory: ByteSize(128 << 20),
            timeout: weir_config::Duration::from_secs(5),
            allowed_hosts: allowed.clone(),
        }
    })
    .expect("host")
}

fn event(severity: Severity, reason: &str, message: &str) -> Event {
    Event {
        severity,
        reason: reason.into(),
        message: message.into(),
        revision: Some("main@sha1:0123456789abcdef0123456789abcdef01234567".into()),
        involved_object: EventObject {
            api_version: "weir.dev/v1".into(),
            kind: "Sync".into(),
            namespace: None,
            name: "apps".into(),
        },
        cluster: "staging".into(),
        timestamp: "2026-11-26T12:00:00Z".into(),
        metadata: vec![("team".into(), "web".into())],
    }
}

fn notify_request(address: &str) -> NotifyRequest {
    NotifyRequest {
        event: event(
            Severity::Error,
            "HealthCheckFailed",
            "Deployment/web/api: 0/2 replicas available",
        ),
        message: None,
        settings: vec![
            ("channel".into(), OptionValue::Str("deploys".into())),
            ("username".into(), OptionValue::Str("weir".into())),
        ],
        secrets: vec![("address".into(), address.into())],
    }
}

#[test]
fn the_example_third_party_notifier_posts_the_event_to_its_webhook() {
    let sink = Sink::start();
    let dir = plugins(&[(built("notifier-mattermost"), "mattermost")]);
    let host = host(dir.path(), vec![sink.authority()]);
    let n = host.notifier("mattermost").expect("load");
    n.notify(&notify_request(&sink.url("/hooks/abc123")))
        .expect("delivered");
    let got = sink.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/hooks/abc123")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(
        body["text"],
        "**Sync/apps** on staging: HealthCheckFailed\nDeployment/web/api: 0/2 replicas available"
    );
    assert_eq!(body["channel"], "deploys");
    assert_eq!(body["username"], "weir");
    let att = &body["attachments"][0];
    assert_eq!(att["color"], "#a30200");
    assert_eq!(att["fields"][0]["value"], "error");
    assert_eq!(
        att["fields"][1]["value"],
        "main@sha1:0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(att["fields"][2]["title"], "team");
}

#[test]
fn a_provider_error_comes_back_classified_for_retry() {
    let sink = Sink::scripted(vec![Reply::status(503), Reply::status(400)]);
    let dir = plugins(&[(built("notifier-mattermost"), "mattermost")]);
    let host = host(dir.path(), vec![sink.authority()]);
    let n = host.notifier("mattermost").expect("load");
    let url = sink.url("/hooks/secret-part");
    let e = n.notify(&notify_request(&url)).expect_err("503");
    assert_eq!(e.kind, PluginErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("answered 503"), "{e}");
    assert!(
        !e.to_string().contains("secret-part"),
        "the URL path leaked: {e}"
    );
    let e = n.notify(&notify_request(&url)).expect_err("400");
    assert_eq!(e.kind, PluginErrorKind::InvalidInput, "{e}");
}

#[test]
fn an_unreachable_or_slow_provider_fails_the_call_not_the_host() {
    let dir = plugins(&[(built("notifier-mattermost"), "mattermost")]);
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let slow = Sink::scripted(vec![Reply::slow(Duration::from_secs(20))]);
    let host = host(
        dir.path(),
        vec![format!("127.0.0.1:{port}"), slow.authority()],
    );
    let n = host.notifier("mattermost").expect("load");
    let e = n
        .notify(&notify_request(&format!("http://127.0.0.1:{port}/x")))
        .expect_err("refused");
    assert!(e.kind.is_transient(), "{e}");
    let started = std::time::Instant::now();
    let e = n
        .notify(&notify_request(&slow.url("/x")))
        .expect_err("too slow");
    assert!(e.kind.is_transient(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the 5s plugin deadline did not bound the wait: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_host_the_config_does_not_grant_is_unreachable() {
    let granted = Sink::start();
    let other = Sink::start();
    let dir = plugins(&[(built("notifier-mattermost"), "mattermost")]);
    let host = host(dir.path(), vec![granted.authority()]);
    let n = host.notifier("mattermost").expect("load");
    let e = n
        .notify(&notify_request(&other.url("/hooks/x")))
        .expect_err("denied");
    assert_eq!(e.kind, PluginErrorKind::Denied, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("the host config does not grant it")
            && text.contains("host.plugins.mattermost.allowedHosts"),
        "{text}"
    );
    assert!(other.requests().is_empty(), "the request got out");
}

#[test]
fn a_host_the_manifest_does_not_ask_for_is_unreachable_even_when_granted() {
    let sink = Sink::start();
    let dir = plugins(&[(built("http-probe"), "http-probe")]);
    // The config grants everything the probe asks for and the sink too.
    let host = host(dir.path(), vec!["127.0.0.1:9".into(), sink.authority()]);
    let n = host.notifier("http-probe").expect("load");
    let e = n
        .notify(&notify_request(&sink.url("/")))
        .expect_err("denied");
    assert_eq!(e.kind, PluginErrorKind::Denied, "{e}");
    assert!(
        e.to_string()
            .contains("the plugin's manifest does not ask for that host"),
        "{e}"
    );
    assert!(sink.requests().is_empty(), "the request got out");
}

#[test]
fn a_notifier_whose_hosts_are_not_granted_is_refused_at_load() {
    let dir = plugins(&[(built("notifier-mattermost"), "mattermost")]);
    let host = host(dir.path(), Vec::new());
    let e = host.notifier("mattermost").err().expect("refused");
    assert_eq!(e.kind, PluginErrorKind::Load);
    assert!(
        e.to_string()
            .contains("host.plugins.mattermost.allowedHosts"),
        "{e}"
    );
}

#[test]
fn a_decryptor_gets_its_keys_through_the_call_and_nothing_else() {
    let dir = plugins(&[(built("rot13"), "rot13")]);
    let host = host(dir.path(), Vec::new());
    let d = host.decryptor("rot13").expect("load");
    let keys = [DecryptKey {
        kind: "rot13".into(),
        name: "key.rot13".into(),
        material: b"unused".to_vec(),
    }];
    let out = d
        .decrypt(&DecryptRequest {
            name: "secret.yaml",
            format: DecryptFormat::Yaml,
            data: b"frperg: inyhr",
            keys: &keys,
        })
        .expect("decrypted");
    assert_eq!(out, b"secret: value");
    let e = d
        .decrypt(&DecryptRequest {
            name: "secret.yaml",
            format: DecryptFormat::Yaml,
            data: b"x",
            keys: &[],
        })
        .expect_err("no key");
    assert_eq!(e.kind, PluginErrorKind::NotFound);
    assert!(
        e.to_string().contains("secret.yaml: no rot13 key given"),
        "{e}"
    );
    // A decryptor is not a renderer.
    assert!(host.renderer("rot13").is_err());
}

#[test]
fn a_renderer_built_against_the_frozen_api_0_1_0_still_runs() {
    let dir = plugins(&[(built("old-abi"), "old-abi")]);
    let host = host(dir.path(), Vec::new());
    let r = host
        .load("old-abi", weir_wasm::PluginKind::Renderer)
        .expect("load");
    assert_eq!(r.api(), "0.1.0");
    let artifact = tempfile::tempdir().expect("tmp");
    let objects = host
        .renderer("old-abi")
        .expect("load")
        .render(
            artifact.path(),
            &RenderRequest {
                path: "apps/web".into(),
                options: vec![("greeting".into(), OptionValue::Str("hello".into()))],
            },
        )
        .expect("rendered");
    let v: serde_json::Value = serde_json::from_str(&objects[0].json).expect("json");
    assert_eq!(v["data"]["path"], "apps/web");
    assert_eq!(v["data"]["greeting"], "hello");
}

/// 0.2.1 added the renderer's `artifact` import; a renderer built against
/// 0.2.0 (no import, WASI only) runs on this host unchanged.
#[test]
fn a_renderer_built_against_api_0_2_0_still_runs() {
    let dir = plugins(&[(built("api-0-2-0"), "api-0-2-0")]);
    let host = host(dir.path(), Vec::new());
    let r = host
        .load("api-0-2-0", weir_wasm::PluginKind::Renderer)
        .expect("load");
    assert_eq!(r.api(), "0.2.0");
    let artifact = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(artifact.path().join("apps/web")).expect("mkdir");
    std::fs::write(artifact.path().join("apps/web/name.txt"), "from-wasi\n").expect("write");
    let objects = host
        .renderer("api-0-2-0")
        .expect("load")
        .render(
            artifact.path(),
            &RenderRequest {
                path: "apps/web".into(),
                options: Vec::new(),
            },
        )
        .expect("rendered");
    assert_eq!(objects[0].origin, "apps/web/name.txt");
    let v: serde_json::Value = serde_json::from_str(&objects[0].json).expect("json");
    assert_eq!(v["metadata"]["name"], "from-wasi");
    // Its own errors still come back converted.
    let err = host
        .renderer("api-0-2-0")
        .expect("load")
        .render(
            artifact.path(),
            &RenderRequest {
                path: "nope".into(),
                options: Vec::new(),
            },
        )
        .expect_err("missing");
    assert_eq!(err.kind, PluginErrorKind::NotFound, "{err}");
    assert_eq!(err.file.as_deref(), Some("nope/name.txt"), "{err}");
}

#[test]
fn a_file_overrides_the_built_in_plugin_of_its_name_and_removing_it_restores_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = std::fs::read(plain()).expect("plain.wasm (scripts/plugins.sh build)");
    let host = host(dir.path(), Vec::new()).with_builtins(vec![Builtin {
        name: "plain".into(),
        bytes: Arc::from(bytes),
    }]);
    let artifact = tempfile::tempdir().expect("tmp");
    std::fs::write(
        artifact.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-git\n",
    )
    .expect("write");
    let names = |host: &PluginHost| -> Vec<String> {
        host.renderer("plain")
            .expect("load")
            .render(artifact.path(), &RenderRequest::default())
            .expect("render")
            .iter()
            .map(|o| {
                let v: serde_json::Value = serde_json::from_str(&o.json).expect("json");
                v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(names(&host), ["from-git"], "the built-in runs");
    std::fs::copy(built("plain-override"), dir.path().join("plain.wasm")).expect("copy");
    assert_eq!(names(&host), ["from-the-override"], "the file overrides it");
    let listed = weir_wasm::list_with_builtins(
        Some(dir.path()),
        &[Builtin {
            name: "plain".into(),
            bytes: Arc::from(std::fs::read(plain()).expect("read")),
        }],
        |_| EffectiveLimits::default(),
    )
    .expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].overrides_builtin && !listed[0].builtin);
    std::fs::remove_file(dir.path().join("plain.wasm")).expect("rm");
    assert_eq!(names(&host), ["from-git"], "the built-in is back");
}

#[test]
fn a_source_writes_only_into_its_output_directory() {
    use weir_core::plugin::{FetchOutcome, FetchRequest, SourcePlugin};
    let dir = plugins(&[(built("fixture-source"), "fixture-source")]);
    let host = host(dir.path(), Vec::new());
    let s = host
        .load("fixture-source", weir_wasm::PluginKind::Source)
        .expect("load");
    let out = tempfile::tempdir().expect("tmp");
    let mut request = FetchRequest {
        url: "fixture://one".into(),
        settings: vec![("value".into(), OptionValue::Str("v1".into()))],
        secrets: vec![("token".into(), "s3cret".into())],
        last_revision: None,
    };
    let got = s.fetch(out.path(), &request).expect("fetched");
    assert_eq!(got, FetchOutcome::Fetched("v1@fixture".into()));
    let written = std::fs::read_to_string(out.path().join("deploy/cm.yaml")).expect("written");
    assert!(
        written.contains("value: \"v1\"") && written.contains("fixture://one"),
        "{written}"
    );
    request.last_revision = Some("v1@fixture".into());
    assert_eq!(
        s.fetch(out.path(), &request).expect("checked"),
        FetchOutcome::Unchanged
    );
    assert!(!format!("{request:?}").contains("s3cret"));
}
