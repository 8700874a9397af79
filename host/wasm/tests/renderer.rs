//! The plugin host with the real `plain` component built by
//! `scripts/plugins.sh` (scripts/test.sh builds it before the tests).

use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_config::{ByteSize, EffectiveLimits};
use weir_core::plugin::{PluginErrorKind, RenderRequest, RendererRegistry};
use weir_wasm::PluginHost;

fn built_plugins() -> PathBuf {
    let dir = std::env::var_os("WEIR_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("WEIR_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
                .join("plugins")
        });
    assert!(
        dir.join("plain.wasm").exists(),
        "{}/plain.wasm is missing: run scripts/plugins.sh build first",
        dir.display()
    );
    dir
}

fn limits(_: &str) -> EffectiveLimits {
    EffectiveLimits {
        max_memory: ByteSize(256 << 20),
        timeout: weir_config::Duration::from_secs(30),
        allowed_hosts: Vec::new(),
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

#[test]
fn plain_component_renders_an_artifact_read_only() {
    let plugins = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        built_plugins().join("plain.wasm"),
        plugins.path().join("plain.wasm"),
    )
    .expect("copy");
    let cache = tempfile::tempdir().expect("tmp");
    let host = PluginHost::new(plugins.path(), Some(cache.path()), limits).expect("host");
    let artifact = tempfile::tempdir().expect("tmp");
    write(
        artifact.path(),
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n",
    );
    let r = host.renderer("plain").expect("load");
    let request = RenderRequest {
        path: "deploy".into(),
        options: Vec::new(),
    };
    let objects = r.render(artifact.path(), &request).expect("render");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].origin, "deploy/cm.yaml");
    assert!(
        objects[0].json.contains(r#""name":"a""#),
        "{}",
        objects[0].json
    );

    // Input errors come back structured, with the plugin's name and the file.
    write(artifact.path(), "deploy/bad.yaml", "a: [\n");
    let err = r.render(artifact.path(), &request).expect_err("malformed");
    assert_eq!(err.kind, PluginErrorKind::InvalidInput);
    assert_eq!(err.file.as_deref(), Some("deploy/bad.yaml"));
    assert!(
        err.to_string()
            .starts_with("plugin \"plain\" 0.1.0: deploy/bad.yaml:"),
        "{err}"
    );

    // The plugin cannot climb out of its preopen.
    let err = r
        .render(
            artifact.path(),
            &RenderRequest {
                path: "../../../../etc".into(),
                options: Vec::new(),
            },
        )
        .expect_err("escape");
    assert_eq!(err.kind, PluginErrorKind::NotFound, "{err}");
}

#[test]
fn a_plugin_dropped_in_or_replaced_is_loaded_without_a_restart() {
    let plugins = tempfile::tempdir().expect("tmp");
    let host = PluginHost::new(plugins.path(), None, limits).expect("host");
    let err = host.renderer("plain").err().expect("nothing there yet");
    assert_eq!(err.kind, PluginErrorKind::Load);
    assert!(err.to_string().contains("plain.wasm"), "{err}");

    // A broken file is reported, naming it; the host keeps working.
    std::fs::write(plugins.path().join("plain.wasm"), b"not wasm").expect("write");
    let err = host.renderer("plain").err().expect("broken");
    assert!(
        err.to_string()
            .contains("not a valid WebAssembly component"),
        "{err}"
    );

    // Replaced by the real one: picked up on the next lookup.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(
        built_plugins().join("plain.wasm"),
        plugins.path().join("plain.wasm"),
    )
    .expect("copy");
    host.renderer("plain").expect("loaded after drop-in");

    // Overwritten in place by a file of the same size with the old
    // modification time put back (as `cp -p` or an unpacked archive
    // would): still noticed.
    let path = plugins.path().join("plain.wasm");
    let meta = std::fs::metadata(&path).expect("metadata");
    let mtime = meta.modified().expect("mtime");
    std::thread::sleep(Duration::from_millis(20));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    use std::io::Write;
    (&file)
        .write_all(&vec![0u8; usize::try_from(meta.len()).expect("size")])
        .expect("overwrite");
    file.set_modified(mtime).expect("set mtime back");
    drop(file);
    let after = std::fs::metadata(&path).expect("metadata");
    assert_eq!(
        (after.len(), after.modified().ok()),
        (meta.len(), Some(mtime))
    );
    let err = host.renderer("plain").err().expect("the garbage is seen");
    assert!(
        err.to_string()
            .contains("not a valid WebAssembly component"),
        "{err}"
    );
}

/// `plain` reads its files through the host's `artifact` import (API
/// 0.2.1): the host's walk holds the sandbox and the memory limit as WASI
/// does.
#[test]
fn the_artifact_import_keeps_to_the_artifact_and_to_the_memory_limit() {
    let plugins = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        built_plugins().join("plain.wasm"),
        plugins.path().join("plain.wasm"),
    )
    .expect("copy");
    let small = |_: &str| EffectiveLimits {
        max_memory: ByteSize(16 << 20),
        ..limits("plain")
    };
    let host = PluginHost::new(plugins.path(), None, small).expect("host");
    let r = host.renderer("plain").expect("load");
    let render = |artifact: &Path, path: &str| {
        r.render(
            artifact,
            &RenderRequest {
                path: path.into(),
                options: Vec::new(),
            },
        )
    };
    let outside = tempfile::tempdir().expect("tmp");
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    write(outside.path(), "secret.yaml", &cm("secret"));
    let artifact = tempfile::tempdir().expect("tmp");
    write(artifact.path(), "app/cm.yaml", &cm("in"));
    std::os::unix::fs::symlink(outside.path(), artifact.path().join("out")).expect("symlink");
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        artifact.path().join("app/secret.yaml"),
    )
    .expect("symlink");

    // A link inside the walk is skipped; one named as the path is refused.
    let objects = render(artifact.path(), "app").expect("render");
    let origins: Vec<&str> = objects.iter().map(|o| o.origin.as_str()).collect();
    assert_eq!(origins, ["app/cm.yaml"]);
    let err = render(artifact.path(), "out").expect_err("escape");
    assert_eq!(err.kind, PluginErrorKind::NotFound, "{err}");

    // More than the plugin may hold: refused by the host, naming the file
    // and the setting, before anything is copied into the plugin.
    let big = format!("{}data:\n  x: {}\n", cm("big"), "x".repeat(17 << 20));
    write(artifact.path(), "big/cm.yaml", &big);
    let err = render(artifact.path(), "big").expect_err("too big");
    assert_eq!(err.kind, PluginErrorKind::InvalidInput, "{err}");
    assert_eq!(err.file.as_deref(), Some("big/cm.yaml"), "{err}");
    assert!(
        err.to_string()
            .contains("16MiB memory limit (raise host.plugins.plain.maxMemory"),
        "{err}"
    );
    // The host and the plugin carry on.
    assert_eq!(render(artifact.path(), "app").expect("render").len(), 1);
}
