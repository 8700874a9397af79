//! Misbehaving plugins — real components from `tests/plugins/`, built by
//! scripts/test.sh — each fail their own call with an error that says what
//! happened, and the host goes on rendering with a good plugin.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weir_config::{ByteSize, EffectiveLimits};
use weir_core::plugin::{PluginError, PluginErrorKind, RenderRequest, RendererRegistry};
use weir_wasm::PluginHost;

fn cache() -> PathBuf {
    std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
}

/// A plugins directory with the misbehaving plugins and the real `plain`.
fn plugins() -> tempfile::TempDir {
    let bad = std::env::var_os("WEIR_TEST_BAD_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("test-plugins"));
    let good = std::env::var_os("WEIR_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("plugins"));
    let dir = tempfile::tempdir().expect("tmp");
    for (from, name) in [
        (&bad, "trap"),
        (&bad, "spin"),
        (&bad, "hog"),
        (&bad, "escape"),
        (&good, "plain"),
    ] {
        let src = from.join(format!("{name}.wasm"));
        assert!(
            src.exists(),
            "{} is missing: scripts/test.sh builds it (scripts/plugins.sh build --out {} tests/plugins/*/)",
            src.display(),
            from.display()
        );
        std::fs::copy(&src, dir.path().join(format!("{name}.wasm"))).expect("copy");
    }
    dir
}

fn host(dir: &tempfile::TempDir) -> PluginHost {
    PluginHost::new(dir.path(), None, |name| EffectiveLimits {
        max_memory: ByteSize(256 << 20),
        timeout: weir_config::Duration::from_secs(if name == "spin" { 1 } else { 30 }),
        allowed_hosts: Vec::new(),
    })
    .expect("host")
}

fn artifact() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(
        d.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    )
    .expect("write");
    std::os::unix::fs::symlink("/etc", d.path().join("link-out")).expect("symlink");
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("file-link")).expect("symlink");
    d
}

fn call(host: &PluginHost, name: &str, artifact: &tempfile::TempDir) -> Result<usize, PluginError> {
    let r = host.renderer(name)?;
    r.render(artifact.path(), &RenderRequest::default())
        .map(|objects| objects.len())
}

/// After any misbehaviour, the same host still renders with a good plugin.
fn still_works(host: &PluginHost, artifact: &tempfile::TempDir) {
    assert_eq!(
        call(host, "plain", artifact).expect("plain still renders"),
        1
    );
}

#[test]
fn a_plugin_that_traps_fails_its_call_with_its_panic_message() {
    let (dir, a) = (plugins(), artifact());
    let host = host(&dir);
    let err = call(&host, "trap", &a).expect_err("trap");
    assert_eq!(err.kind, PluginErrorKind::Trap, "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("plugin \"trap\" 0.1.0: plugin crashed"),
        "{msg}"
    );
    assert!(
        msg.contains("panics on purpose"),
        "stderr not attached: {msg}"
    );
    still_works(&host, &a);
}

#[test]
fn a_plugin_that_loops_forever_is_stopped_at_its_deadline() {
    let (dir, a) = (plugins(), artifact());
    let host = host(&dir);
    let started = Instant::now();
    let err = call(&host, "spin", &a).expect_err("spin");
    assert_eq!(err.kind, PluginErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
    // Generous: the point is that it stops, not how fast (no timing test).
    assert!(started.elapsed() < Duration::from_secs(30));
    still_works(&host, &a);
}

#[test]
fn a_plugin_that_allocates_without_end_hits_its_memory_cap() {
    let (dir, a) = (plugins(), artifact());
    let host = host(&dir);
    let err = call(&host, "hog", &a).expect_err("hog");
    assert_eq!(err.kind, PluginErrorKind::OutOfMemory, "{err}");
    // The host grants 256MiB; hog's manifest asks for 32MiB, and gets that.
    assert!(err.to_string().contains("32MiB memory limit"), "{err}");
    assert!(err.to_string().contains("its manifest asks for"), "{err}");
    still_works(&host, &a);
}

#[test]
fn a_plugin_sees_only_its_artifact_read_only_and_no_environment() {
    let (dir, a) = (plugins(), artifact());
    let host = host(&dir);
    let err = call(&host, "escape", &a).expect_err("the sandbox must hold");
    let msg = err.to_string();
    assert!(msg.contains("sandbox held"), "{msg}");
    for what in [
        "read /etc/passwd",
        "read /artifact/../etc/passwd",
        "read /artifact/link-out/passwd",
        "read /artifact/file-link",
        "write:",
        "environment: empty",
    ] {
        assert!(msg.contains(what), "{what} not reported as denied: {msg}");
    }
    assert!(!a.path().join("written-by-plugin").exists());
    still_works(&host, &a);
}
