//! Plugin manifests, read before compiling: real components from
//! `tests/plugins/` (built by scripts/test.sh) that declare another API
//! version, another kind, no manifest, or capabilities the host config does
//! not grant are refused, each with its own message naming the plugin.

use std::path::{Path, PathBuf};

use weir_config::{ByteSize, EffectiveLimits};
use weir_core::plugin::{PluginError, PluginErrorKind, RenderRequest, RendererRegistry};
use weir_wasm::PluginHost;
use weir_wasm::manifest::Side;

fn cache() -> PathBuf {
    std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
}

fn built(name: &str) -> PathBuf {
    let dir = if name == "plain" {
        std::env::var_os("WEIR_TEST_PLUGINS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache().join("plugins"))
    } else {
        std::env::var_os("WEIR_TEST_BAD_PLUGINS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache().join("test-plugins"))
    };
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: scripts/test.sh builds it (scripts/plugins.sh build --out {} tests/plugins/*/)",
        path.display(),
        dir.display()
    );
    path
}

/// A plugins directory with `(built plugin, file name)` copies.
fn plugins(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for (from, to) in files {
        std::fs::copy(built(from), dir.path().join(format!("{to}.wasm"))).expect("copy");
    }
    dir
}

fn grants(name: &str) -> EffectiveLimits {
    EffectiveLimits {
        max_memory: ByteSize(512 << 20),
        timeout: weir_config::Duration::from_secs(30),
        allowed_hosts: if name == "wants-net" {
            vec!["api.example.com".into()]
        } else {
            Vec::new()
        },
    }
}

fn load(dir: &Path, name: &str) -> Result<(), PluginError> {
    let host = PluginHost::new(dir, None, grants).expect("host");
    host.renderer(name).map(drop)
}

fn refused(dir: &Path, name: &str) -> String {
    let err = load(dir, name).expect_err("must be refused");
    assert_eq!(err.kind, PluginErrorKind::Load, "{err}");
    assert_eq!(err.plugin, name);
    err.to_string()
}

#[test]
fn a_plugin_for_another_api_version_is_refused_before_compiling() {
    let dir = plugins(&[("api-next", "api-next")]);
    let msg = refused(dir.path(), "api-next");
    assert!(
        msg.starts_with(
            "plugin \"api-next\" 0.1.0: targets weir plugin API 0.99.0; this weir supports 0.1.0, 0.2.0, 0.2.1"
        ),
        "{msg}"
    );
}

#[test]
fn a_plugin_of_another_kind_is_not_used_as_a_renderer() {
    let dir = plugins(&[("notifier", "notifier")]);
    let msg = refused(dir.path(), "notifier");
    assert!(
        msg.contains("is a notifier plugin, not a renderer"),
        "{msg}"
    );
}

#[test]
fn a_component_without_a_manifest_is_refused_unless_one_is_beside_it() {
    let dir = plugins(&[("no-manifest", "no-manifest")]);
    let msg = refused(dir.path(), "no-manifest");
    assert!(
        msg.starts_with("plugin \"no-manifest\": no weir manifest:"),
        "{msg}"
    );
    assert!(msg.contains("no-manifest.toml"), "{msg}");

    // A sidecar manifest makes it a plugin (built by another toolchain, say).
    std::fs::write(
        dir.path().join("no-manifest.toml"),
        "name = \"no-manifest\"\nkind = \"renderer\"\nversion = \"2.0.0\"\napi = \"0.2.0\"\n[capabilities]\nmaxMemory = \"64MiB\"\n",
    )
    .expect("write");
    let host = PluginHost::new(dir.path(), None, grants).expect("host");
    let r = host.renderer("no-manifest").expect("loads with a sidecar");
    let artifact = tempfile::tempdir().expect("tmp");
    assert_eq!(
        r.render(artifact.path(), &RenderRequest::default())
            .expect("renders")
            .len(),
        0
    );

    // Two sidecars are ambiguous.
    std::fs::write(dir.path().join("no-manifest.manifest.json"), "{}").expect("write");
    let msg = refused(dir.path(), "no-manifest");
    assert!(msg.contains("keep one"), "{msg}");
}

#[test]
fn embedded_and_sidecar_manifests_must_agree() {
    let dir = plugins(&[("plain", "plain")]);
    std::fs::write(
        dir.path().join("plain.manifest.json"),
        r#"{"name":"plain","kind":"renderer","version":"9.9.9","api":"0.1.0"}"#,
    )
    .expect("write");
    let msg = refused(dir.path(), "plain");
    assert!(msg.contains("conflicting weir manifests"), "{msg}");
    assert!(msg.contains("differ"), "{msg}");
    // plain is built against the SDK, so it targets the latest API.
    std::fs::write(
        dir.path().join("plain.manifest.json"),
        format!(
            r#"{{"name":"plain","kind":"renderer","version":"0.1.0","api":"{}"}}"#,
            weir_wasm::manifest::LATEST_API
        ),
    )
    .expect("write");
    load(dir.path(), "plain").expect("agreeing manifests load");
}

#[test]
fn a_plugin_whose_manifest_names_another_file_is_refused() {
    let dir = plugins(&[("plain", "other")]);
    let msg = refused(dir.path(), "other");
    assert!(
        msg.contains("its manifest names it \"plain\", but the file is other.wasm"),
        "{msg}"
    );
}

#[test]
fn more_memory_than_the_host_grants_is_refused_by_the_host() {
    let dir = plugins(&[("greedy", "greedy")]);
    let msg = refused(dir.path(), "greedy");
    assert!(
        msg.ends_with(
            "asks for 1GiB of memory; the host grants 512MiB (raise host.plugins.greedy.maxMemory)"
        ),
        "{msg}"
    );
    // Granted: it loads.
    let host = PluginHost::new(dir.path(), None, |_| EffectiveLimits {
        max_memory: ByteSize(2 << 30),
        ..EffectiveLimits::default()
    })
    .expect("host");
    host.renderer("greedy").expect("granted");
}

#[test]
fn http_hosts_the_host_config_does_not_grant_are_refused_by_name() {
    let dir = plugins(&[("wants-net", "wants-net")]);
    // grants() allows api.example.com only.
    let msg = refused(dir.path(), "wants-net");
    assert!(
        msg.contains(
            "asks for outbound HTTP to hooks.example.com, which the host config does not grant (add them to host.plugins.wants-net.allowedHosts)"
        ),
        "{msg}"
    );
    assert!(!msg.contains("api.example.com"), "{msg}");
    let host = PluginHost::new(dir.path(), None, |_| EffectiveLimits {
        allowed_hosts: vec!["api.example.com".into(), "HOOKS.example.com".into()],
        ..EffectiveLimits::default()
    })
    .expect("host");
    host.renderer("wants-net").expect("granted");
}

#[test]
fn list_reports_every_file_and_says_which_side_refused() {
    let dir = plugins(&[
        ("plain", "plain"),
        ("greedy", "greedy"),
        ("api-next", "api-next"),
        ("no-manifest", "no-manifest"),
    ]);
    std::fs::write(dir.path().join("broken.wasm"), b"not wasm").expect("write");
    std::fs::write(dir.path().join("README.md"), b"ignored").expect("write");
    let infos = weir_wasm::list(dir.path(), grants).expect("list");
    let names: Vec<&str> = infos.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["api-next", "broken", "greedy", "no-manifest", "plain"]
    );
    let by = |name: &str| {
        infos
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.refused.as_ref())
            .map(|r| (r.by, r.message.clone()))
    };
    assert!(infos[4].granted, "{:?}", infos[4]);
    assert_eq!(infos[4].sha256.len(), 64);
    assert!(
        infos[4]
            .exports
            .iter()
            .any(|e| e.starts_with("weir:plugin/renderer")),
        "{:?}",
        infos[4].exports
    );
    let (side, msg) = by("greedy").expect("greedy refused");
    assert_eq!(side, Side::Host, "{msg}");
    let (side, msg) = by("api-next").expect("api-next refused");
    assert_eq!(side, Side::Plugin, "{msg}");
    let (_, msg) = by("broken").expect("broken listed");
    assert!(
        msg.ends_with("broken.wasm is not a valid WebAssembly component: it is not WebAssembly (no \\0asm header)"),
        "{msg}"
    );
    let (_, msg) = by("no-manifest").expect("listed");
    assert!(msg.starts_with("no weir manifest"), "{msg}");
}
