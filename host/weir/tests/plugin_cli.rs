//! `weir plugin list|inspect` with the built binary and real components
//! (built by scripts/test.sh); no cluster, no servers.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cache() -> PathBuf {
    std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
}

fn built(name: &str) -> PathBuf {
    let (var, sub) = if name == "plain" {
        ("WEIR_TEST_PLUGINS_DIR", "plugins")
    } else {
        ("WEIR_TEST_BAD_PLUGINS_DIR", "test-plugins")
    };
    let dir = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join(sub));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: scripts/test.sh builds it",
        path.display()
    );
    path
}

/// A scratch directory removed on drop (this package has no tempfile).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "weir-plugin-cli-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("plugins")).expect("mkdir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn weir(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("WEIR_PLUGINS_DIR")
        .output()
        .expect("run weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plugin_list_json_shows_manifests_grants_and_broken_files() {
    let s = Scratch::new("list");
    let plugins = s.0.join("plugins");
    for name in ["plain", "greedy", "wants-net"] {
        std::fs::copy(built(name), plugins.join(format!("{name}.wasm"))).expect("copy");
    }
    std::fs::write(plugins.join("broken.wasm"), b"junk").expect("write");
    let config = s.0.join("weir.toml");
    std::fs::write(
        &config,
        "version = 1\n[host.plugins.wants-net]\nallowedHosts = [\"api.example.com\", \"hooks.example.com\"]\n",
    )
    .expect("write");

    let (code, stdout, stderr) = weir(&config, &["plugin", "list", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let by_name = |n: &str| {
        list.as_array()
            .expect("array")
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("{n} not listed: {stdout}"))
            .clone()
    };
    let plain = by_name("plain");
    assert_eq!(plain["granted"], true, "{plain}");
    assert_eq!(plain["manifest"]["kind"], "renderer");
    assert_eq!(plain["manifest"]["api"], "0.2.1");
    assert_eq!(plain["grants"]["maxMemory"], "512MiB");

    let net = by_name("wants-net");
    assert_eq!(net["granted"], true, "{net}");
    assert_eq!(
        net["grants"]["httpHosts"],
        serde_json::json!(["api.example.com", "hooks.example.com"])
    );

    let greedy = by_name("greedy");
    assert_eq!(greedy["granted"], false, "{greedy}");
    assert_eq!(greedy["manifest"]["capabilities"]["maxMemory"], "1GiB");
    assert_eq!(greedy["refused"]["by"], "host");
    assert_eq!(
        greedy["refused"]["message"],
        "asks for 1GiB of memory; the host grants 512MiB (raise host.plugins.greedy.maxMemory)"
    );

    let broken = by_name("broken");
    assert_eq!(broken["granted"], false);
    assert_eq!(broken["refused"]["by"], "plugin");

    // The human table has a row per file and per built-in plugin that no
    // file overrides. (scripts/test.sh builds weir with the first-party
    // plugins built in: WEIR_BUILTIN_PLUGINS.)
    let (code, stdout, _) = weir(&config, &["plugin", "list"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("NAME"), "{stdout}");
    let origin = |row: &str| row.split_whitespace().nth(1).map(str::to_owned);
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    let files = rows
        .iter()
        .filter(|r| origin(r).as_deref() == Some("file"))
        .count();
    assert_eq!(files, 4, "{stdout}");
    let plain_row = rows
        .iter()
        .find(|r| r.starts_with("plain "))
        .expect("plain listed");
    assert!(plain_row.contains("file (overrides built-in)"), "{stdout}");
    assert!(
        rows.iter()
            .any(|r| origin(r).as_deref() == Some("built-in")),
        "no built-in plugins: was weir built with WEIR_BUILTIN_PLUGINS? {stdout}"
    );
    assert_eq!(plain["overridesBuiltin"], true, "{plain}");
}

#[test]
fn plugin_inspect_works_without_a_config_and_exits_1_when_refused() {
    let s = Scratch::new("inspect");
    let missing = s.0.join("weir.toml");
    let greedy = built("greedy");
    let greedy = greedy.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = weir(&missing, &["plugin", "inspect", greedy, "-o", "yaml"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("by: host"), "{stdout}");
    assert!(stdout.contains("sha256:"), "{stdout}");

    let plain = built("plain");
    let (code, stdout, stderr) = weir(
        &missing,
        &["plugin", "inspect", plain.to_str().expect("utf-8 path")],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("granted:       yes"), "{stdout}");
    assert!(stdout.contains("weir:plugin/renderer@0.2.1"), "{stdout}");
    // `plain` is also built in: a file of that name replaces it.
    assert!(
        stdout.contains("overrides:     the built-in plugin of that name"),
        "{stdout}"
    );
    let (_, stdout, _) = weir(&missing, &["plugin", "inspect", greedy]);
    assert!(!stdout.contains("overrides:"), "{stdout}");
}
