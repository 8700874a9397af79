//! weir's end-to-end test harness.
//!
//! Tests run against real servers — a kube-apiserver with etcd and the
//! controller manager, git over `git daemon`, smart HTTP behind nginx (basic
//! and bearer auth, http and https with a test CA) and sshd — started by the
//! project's own scripts (`scripts/kube.sh`, `scripts/git-server.sh`).
//!
//! `scripts/test.sh` starts them once per run and passes their `env` files in
//! `WEIR_TEST_GIT_ENV` and `WEIR_TEST_KUBE_ENV`. When those are unset (a
//! developer running `cargo test` directly), the harness starts servers
//! itself under `$WEIR_CACHE/test-servers/` and leaves them running for the
//! next run; `scripts/test.sh stop-servers` stops them.

pub mod http_sink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (where `scripts/` lives): found from the running
/// test's package directory (`CARGO_MANIFEST_DIR` at run time), so that a
/// build cached from a clone at another path (a shared `CARGO_TARGET_DIR`)
/// still finds this clone's files; the compile-time path is the fallback.
pub fn repo_root() -> PathBuf {
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    runtime
        .iter()
        .flat_map(|d| d.ancestors())
        .find(|d| d.join("scripts/kube.sh").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".."))
        })
}

fn cache_dir() -> PathBuf {
    std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir"))
}

/// Parses a `KEY=VALUE` env file written by the server scripts.
///
/// # Panics
/// When the file cannot be read: the servers are not running.
pub fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read server env file {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// Starts (idempotently) a server with `script start DIR` and returns its env.
fn start_server(script: &str, var: &str, name: &str) -> BTreeMap<String, String> {
    if let Some(env) = std::env::var_os(var) {
        return read_env_file(Path::new(&env));
    }
    let dir = cache_dir().join("test-servers").join(name);
    let status = Command::new("bash")
        .arg(repo_root().join("scripts").join(script))
        .arg("start")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run scripts/{script}: {e}"));
    assert!(
        status.success(),
        "scripts/{script} start {} failed",
        dir.display()
    );
    read_env_file(&dir.join("env"))
}

/// The git servers' environment (`WEIR_GIT_*` keys, see
/// `scripts/git-server.sh`).
pub fn git_server() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| start_server("git-server.sh", "WEIR_TEST_GIT_ENV", "git"))
}

/// The control plane's environment (`KUBECONFIG`, `WEIR_KUBE_*` keys, see
/// `scripts/kube.sh`).
pub fn kube() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| start_server("kube.sh", "WEIR_TEST_KUBE_ENV", "kube"))
}

/// A value from a server env map.
///
/// # Panics
/// When the key is missing: the server script's interface changed.
pub fn var<'a>(env: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    env.get(key)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("server env has no {key}"))
}

/// Runs a command, panicking with its output when it fails.
///
/// # Panics
/// When the command cannot start or exits non-zero.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A git repository served by the test git servers: a bare repository under
/// `WEIR_GIT_ROOT` plus a work tree to commit from.
pub struct TestRepo {
    /// The repository's path relative to the served root, e.g. `t-ab12.git`.
    pub rel: String,
    /// The bare repository.
    pub bare: PathBuf,
    work: tempfile::TempDir,
}

impl TestRepo {
    /// A `[[git]]` table named `name` for this repository's `main` branch
    /// over http with basic auth on the test git server (20s timeout).
    pub fn git_toml(&self, name: &str) -> String {
        let env = git_server();
        format!(
            "\n[[git]]\nname = \"{name}\"\nurl = \"{}/basic/{}\"\nref = {{ branch = \"main\" }}\ntimeout = \"20s\"\n\n[git.auth]\nusername = \"{}\"\npasswordFile = \"{}\"\n",
            var(env, "WEIR_GIT_HTTP_URL"),
            self.rel,
            var(env, "WEIR_GIT_HTTP_USER"),
            var(env, "WEIR_GIT_HTTP_PASSWORD_FILE")
        )
    }

    /// A new, empty repository with a unique name starting with `prefix`.
    ///
    /// # Panics
    /// When git fails.
    pub fn new(prefix: &str) -> Self {
        let env = git_server();
        let root = PathBuf::from(var(env, "WEIR_GIT_ROOT"));
        let unique = format!(
            "{prefix}-{}-{}.git",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let bare = root.join(&unique);
        run(git()
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare));
        let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        run(git().args(["init", "-q", "-b", "main"]).arg(work.path()));
        TestRepo {
            rel: unique,
            bare,
            work,
        }
    }

    /// Writes (or with `None`, deletes) files, commits them on `main` and
    /// pushes to the bare repository. Returns the commit's SHA-1.
    ///
    /// # Panics
    /// When git fails.
    pub fn commit(&self, files: &[(&str, Option<&str>)], message: &str) -> String {
        for (path, content) in files {
            let p = self.work.path().join(path);
            match content {
                Some(c) => {
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
                    }
                    std::fs::write(&p, c).unwrap_or_else(|e| panic!("write {path}: {e}"));
                }
                None => {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        let w = self.work.path();
        run(git().arg("-C").arg(w).args(["add", "-A"]));
        run(git()
            .arg("-C")
            .arg(w)
            .args(["commit", "-q", "--allow-empty", "-m", message]));
        run(git()
            .arg("-C")
            .arg(w)
            .args(["push", "-q", "--force"])
            .arg(&self.bare)
            .arg("HEAD:refs/heads/main"));
        run(git().arg("-C").arg(w).args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned()
    }

    /// Creates a lightweight tag at the current commit and pushes it.
    ///
    /// # Panics
    /// When git fails.
    pub fn tag(&self, name: &str) {
        let w = self.work.path();
        run(git().arg("-C").arg(w).args(["tag", "-f", name]));
        run(git()
            .arg("-C")
            .arg(w)
            .args(["push", "-q", "--force"])
            .arg(&self.bare)
            .arg(format!("refs/tags/{name}")));
    }
}

/// A `git` command with a fixed identity and no user or system config, so
/// tests do not depend on the machine's git setup.
pub fn git() -> Command {
    let mut c = Command::new("git");
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "weir test")
        .env("GIT_AUTHOR_EMAIL", "test@weir.invalid")
        .env("GIT_COMMITTER_NAME", "weir test")
        .env("GIT_COMMITTER_EMAIL", "test@weir.invalid");
    c
}

/// The `weir` binary built by this workspace (`target/<profile>/weir`).
/// The end-to-end tests are integration tests of the `weir` package, so
/// cargo builds the binary before running them.
///
/// # Panics
/// When it has not been built.
pub fn weir_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    // target/<profile>/deps/<test> -> target/<profile>/weir
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("weir"))
        .unwrap_or_else(|| PathBuf::from("weir"));
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p weir` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// The directory of built plugin components.
pub fn plugins_dir() -> PathBuf {
    std::env::var_os("WEIR_TEST_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("plugins"))
}

/// The output of a finished command.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A weir config in its own state directory, for one test.
pub struct Weir {
    /// The config file.
    pub config: PathBuf,
    /// The state directory (also holds the config).
    pub dir: tempfile::TempDir,
    /// The plugins directory weir is run with.
    pub plugins: PathBuf,
}

/// The test plugins (misbehaving ones, one per plugin kind) built by
/// `scripts/test.sh` into `$WEIR_TEST_BAD_PLUGINS_DIR`.
pub fn test_plugins_dir() -> PathBuf {
    std::env::var_os("WEIR_TEST_BAD_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("test-plugins"))
}

impl Weir {
    /// Writes `toml` (which should not set `host.stateDir`: the config's
    /// directory is the state's parent) to a fresh directory.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn new(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let config = dir.path().join("weir.toml");
        std::fs::write(&config, toml).unwrap_or_else(|e| panic!("write config: {e}"));
        Weir {
            config,
            dir,
            plugins: plugins_dir(),
        }
    }

    /// Runs weir with `dir` as its plugins directory (the built-in plugins
    /// stay available).
    #[must_use]
    pub fn with_plugins_dir(mut self, dir: &Path) -> Self {
        self.plugins = dir.to_path_buf();
        self
    }

    /// A `weir` command with this config, the test cluster's kubeconfig and
    /// the built plugins.
    pub fn command(&self) -> Command {
        let mut c = Command::new(weir_bin());
        c.arg("--config")
            .arg(&self.config)
            .arg("--plugins-dir")
            .arg(&self.plugins)
            .env("WEIR_KUBECONFIG", var(kube(), "KUBECONFIG"))
            .env("WEIR_LOG", "info");
        c
    }

    /// Runs `weir ARGS` to completion.
    ///
    /// # Panics
    /// When the binary cannot start.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run weir: {e}"));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The sync statuses as `weir get -o json` prints them.
    ///
    /// # Panics
    /// When `weir get` fails or prints something else than JSON.
    pub fn statuses(&self) -> serde_json::Value {
        let out = self.run(&["get", "-o", "json"]);
        assert_eq!(out.code, 0, "weir get failed: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("weir get printed no JSON ({e}): {}", out.stdout))
    }
}

/// The Kubernetes Events weir recorded about `kind/name` (`Sync` or
/// `HelmRelease`) in the default events namespace, oldest first.
///
/// # Panics
/// When kubectl fails or prints no JSON.
pub fn events_of(kind: &str, name: &str) -> Vec<serde_json::Value> {
    let out = kubectl(&[
        "-n",
        "default",
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.kind={kind},involvedObject.name={name}"),
        "-o",
        "json",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let list: serde_json::Value = serde_json::from_str(&out.stdout).expect("events JSON");
    let mut items = list["items"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|e| e["metadata"]["name"].as_str().unwrap_or("").to_owned());
    items
}

/// Runs `kubectl ARGS` against the test cluster.
pub fn kubectl(args: &[&str]) -> Output {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(var(kube(), "KUBECONFIG"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The live object as JSON, or `None` when it does not exist.
///
/// # Panics
/// When kubectl fails for another reason than NotFound.
pub fn get_object(kind: &str, namespace: Option<&str>, name: &str) -> Option<serde_json::Value> {
    let mut args = vec!["get", kind, name, "-o", "json"];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    let out = kubectl(&args);
    if out.code != 0 {
        assert!(
            out.stderr.contains("NotFound") || out.stderr.contains("not found"),
            "kubectl get {kind} {name} failed: {}",
            out.stderr
        );
        return None;
    }
    Some(
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("kubectl printed no JSON ({e}): {}", out.stdout)),
    )
}

/// A name unique to this process and call, usable as a Kubernetes name.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A second control plane, for syncs that apply to a remote cluster
/// (`WEIR_TEST_KUBE2_ENV`, else started under `$WEIR_CACHE/test-servers/`).
pub fn kube2() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| start_server("kube.sh", "WEIR_TEST_KUBE2_ENV", "kube2"))
}

/// Runs `kubectl ARGS` with a given kubeconfig.
pub fn kubectl_with(kubeconfig: &str, args: &[&str]) -> Output {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits until `check` holds, polling every 250ms, at most `secs` seconds.
///
/// # Panics
/// When it does not hold in time, naming `what`.
pub fn wait_for(what: &str, secs: u64, check: &dyn Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// YAML documents (kubectl's output, a manifest) as JSON values, read by
/// `kubectl create --dry-run=client` (the harness has no YAML parser of its
/// own, and kubectl reads YAML as the cluster would).
///
/// # Panics
/// When kubectl cannot read it.
pub fn yaml_to_json(yaml: &str) -> Vec<serde_json::Value> {
    let file = std::env::temp_dir().join(format!("{}.yaml", unique("weir-e2e-y2j")));
    std::fs::write(&file, yaml).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    let out = kubectl(&[
        "create",
        "--dry-run=client",
        "--validate=false",
        "-o",
        "json",
        "-f",
        &file.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::Deserializer::from_str(&out.stdout)
        .into_iter::<serde_json::Value>()
        .map(|v| v.unwrap_or_else(|e| panic!("kubectl printed no JSON: {e}")))
        .collect()
}
