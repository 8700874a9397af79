//! End-to-end source plugins: a `[[source]]` fetched by a source plugin
//! (the test harness's `fixture-source`, a real component) feeds a sync
//! like a git source does — scheduled, reported by `weir get sources`,
//! re-fetched when its settings change — and its failures name the source
//! and the plugin while the last good state stays.

use serde_json::Value;
use weir_e2e::{Weir, get_object, test_plugins_dir, unique};

fn config(ns: &str, value: &str, plugin: &str) -> String {
    format!(
        r#"version = 1

[[source]]
name = "fixture"
plugin = "{plugin}"
url = "https://fixture.example/{ns}"
settings = {{ value = "{value}" }}

[[sync]]
name = "from-plugin"
source = "fixture"
path = "deploy"
prune = true
targetNamespace = "{ns}"

[sync.commonMetadata]
labels = {{ test = "source" }}
"#
    )
}

#[test]
fn a_source_plugin_feeds_a_sync_like_a_git_source() {
    let ns = unique("e2e-src");
    assert_eq!(weir_e2e::kubectl(&["create", "namespace", &ns]).code, 0);
    // Only the fixture plugin in the plugins directory; the built-in
    // renderers stay available.
    let plugins = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        test_plugins_dir().join("fixture-source.wasm"),
        plugins.path().join("fixture-source.wasm"),
    )
    .expect("the fixture-source test plugin is built (scripts/test.sh)");
    let weir = Weir::new(&config(&ns, "one", "fixture-source")).with_plugins_dir(plugins.path());

    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let cm = get_object("configmap", Some(&ns), "fixture").expect("applied");
    assert_eq!(cm["data"]["value"], "one");
    assert_eq!(cm["data"]["url"], format!("https://fixture.example/{ns}"));
    let sources = weir.run(&["get", "sources", "-o", "json"]);
    assert_eq!(sources.code, 0, "{sources:?}");
    let sources: Value = serde_json::from_str(&sources.stdout).expect("json");
    assert_eq!(sources[0]["name"], "fixture", "{sources}");
    assert_eq!(
        sources[0]["artifact"]["revision"], "one@fixture",
        "{sources}"
    );
    let dir = sources[0]["artifact"]["dir"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        dir.starts_with(weir.dir.path().to_str().unwrap_or("?")),
        "{dir}"
    );

    // Unchanged settings: the same artifact.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let again: Value =
        serde_json::from_str(&weir.run(&["get", "sources", "-o", "json"]).stdout).expect("json");
    assert_eq!(again[0]["artifact"], sources[0]["artifact"]);

    // New settings: a new revision, applied.
    std::fs::write(&weir.config, config(&ns, "two", "fixture-source")).expect("config");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let cm = get_object("configmap", Some(&ns), "fixture").expect("applied");
    assert_eq!(cm["data"]["value"], "two");

    // A missing plugin: the source fails naming itself and the plugin; the
    // sync keeps the last good artifact, and the object stays.
    std::fs::write(&weir.config, config(&ns, "three", "no-such-plugin")).expect("config");
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("source \"fixture\"") && text.contains("no-such-plugin"),
        "{text}"
    );
    let cm = get_object("configmap", Some(&ns), "fixture").expect("still there");
    assert_eq!(cm["data"]["value"], "two");
}
