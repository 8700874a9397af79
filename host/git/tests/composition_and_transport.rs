//! `include`, `recurseSubmodules`, mTLS (`auth.certFile`/`keyFile`) and
//! `proxy` of `GitSource`, against the real servers of
//! `scripts/git-server.sh` (nginx with a client-cert-only port, tinyproxy
//! with basic auth), started by `weir_e2e`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use weir_core::source::{Artifact, Source as _, SourceError};
use weir_e2e::{TestRepo, git, git_server, run, var};
use weir_git::GitSource;

fn env(key: &str) -> String {
    var(git_server(), key).to_owned()
}

/// A state directory and a config holding `body` (`[[git]]` tables).
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        Host {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn config(&self, body: &str) -> weir_config::Config {
        let text = format!(
            "version = 1\n[host]\nstateDir = \"{}\"\n\n{body}\n",
            self.dir.path().join("state").display()
        );
        weir_config::Config::parse(&text, &self.dir.path().join("weir.toml"))
            .unwrap_or_else(|e| panic!("config: {e}\n{text}"))
    }

    /// Every source of the config, as the engine holds them.
    fn sources(&self, body: &str) -> std::collections::BTreeMap<String, Arc<GitSource>> {
        let c = self.config(body);
        weir_git::sources(&c)
            .unwrap_or_else(|e| panic!("sources: {e}"))
            .into_iter()
            .map(|(n, s)| (n.as_str().to_owned(), s))
            .collect()
    }

    /// The one source `body` declares first.
    fn source(&self, body: &str) -> Result<GitSource, SourceError> {
        let c = self.config(body);
        GitSource::new(&c, &c.git[0])
    }
}

fn git_table(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[git]]\nname = \"{name}\"\nurl = \"{url}\"\nref = {{ branch = \"main\" }}\ntimeout = \"20s\"\n{extra}\n"
    )
}

fn fetch(src: &GitSource) -> Artifact {
    src.fetch(&AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("fetch {}: {e} (transient: {})", src.name(), e.transient))
}

fn fetch_err(src: &GitSource) -> SourceError {
    match src.fetch(&AtomicBool::new(false)) {
        Ok(a) => panic!("fetch {} should fail, got {a:?}", src.name()),
        Err(e) => e,
    }
}

fn read(a: &Artifact, rel: &str) -> String {
    std::fs::read_to_string(a.dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn anon(repo: &TestRepo) -> String {
    format!("{}/anon/{}", env("WEIR_GIT_HTTP_URL"), repo.rel)
}

fn basic_auth() -> String {
    format!(
        "[git.auth]\nusername = \"weir\"\npasswordFile = \"{}\"",
        env("WEIR_GIT_HTTP_PASSWORD_FILE")
    )
}

// ------------------------------------------------------------- include ---

#[test]
fn includes_copy_other_sources_in_and_their_changes_change_the_digest() {
    let app = TestRepo::new("inc-app");
    let app_sha = app.commit(
        &[
            ("app.yaml", Some("app\n")),
            ("vendor/lib/stale.yaml", Some("replaced by the include\n")),
        ],
        "app",
    );
    let lib = TestRepo::new("inc-lib");
    lib.commit(
        &[
            ("deploy/lib.yaml", Some("lib v1\n")),
            ("README.md", Some("not in deploy/\n")),
        ],
        "lib",
    );
    let base = TestRepo::new("inc-base");
    base.commit(&[("base.yaml", Some("base\n"))], "base");

    let host = Host::new();
    let body = format!(
        "{}{}{}",
        git_table(
            "app",
            &anon(&app),
            "include = [{ repository = { name = \"lib\" }, fromPath = \"deploy\", toPath = \"vendor/lib\" }, { repository = { name = \"base\" } }]"
        ),
        git_table("lib", &anon(&lib), ""),
        git_table("base", &anon(&base), ""),
    );
    let sources = host.sources(&body);
    let (src, lib_src) = (&sources["app"], &sources["lib"]);
    // Each of the three may take its 20s.
    assert_eq!(src.total_timeout(), std::time::Duration::from_secs(60));

    let a1 = fetch(src);
    // The revision is the including source's own, as Flux's.
    assert_eq!(a1.revision, format!("main@sha1:{app_sha}"));
    assert_eq!(read(&a1, "app.yaml"), "app\n");
    assert_eq!(read(&a1, "vendor/lib/lib.yaml"), "lib v1\n");
    assert_eq!(names(&a1.dir.join("vendor/lib")), ["lib.yaml"]);
    assert_eq!(
        read(&a1, "base/base.yaml"),
        "base\n",
        "toPath defaults to the name"
    );
    // The included source is the engine's own instance: it fetched once.
    assert_eq!(lib_src.pack_fetches(), 1);

    // Nothing moved: the same snapshot.
    let again = fetch(src);
    assert_eq!(again, a1);
    assert_eq!(lib_src.pack_fetches(), 1);

    // The included source moves: a new snapshot and digest; the old one
    // stays as it was for renders still reading it.
    lib.commit(&[("deploy/lib.yaml", Some("lib v2\n"))], "lib 2");
    let a2 = fetch(src);
    assert_eq!(a2.revision, a1.revision);
    assert_ne!(a2.digest, a1.digest);
    assert_ne!(a2.dir, a1.dir);
    assert_eq!(read(&a2, "vendor/lib/lib.yaml"), "lib v2\n");
    assert_eq!(read(&a1, "vendor/lib/lib.yaml"), "lib v1\n");

    // A source built alone builds its includes too.
    let alone = host.source(&body).expect("alone");
    assert_eq!(fetch(&alone).digest, a2.digest);
}

#[test]
fn an_include_that_fails_or_lacks_its_from_path_names_both_sources() {
    let app = TestRepo::new("inc-fail-app");
    app.commit(&[("app.yaml", Some("app\n"))], "app");
    let lib = TestRepo::new("inc-fail-lib");
    lib.commit(&[("x.yaml", Some("x\n"))], "lib");
    let unreachable = run(Command::new("bash")
        .arg(weir_e2e::repo_root().join("scripts/git-server.sh"))
        .arg("unreachable-url"))
    .trim()
    .to_owned();

    let host = Host::new();
    let body = format!(
        "{}{}",
        git_table(
            "app",
            &anon(&app),
            "include = [{ repository = { name = \"gone\" } }]"
        ),
        git_table("gone", &unreachable, ""),
    );
    let e = fetch_err(&host.source(&body).expect("source"));
    assert!(e.transient, "{e:?}");
    assert!(
        e.message.starts_with(&format!(
            "git source \"app\": included git source \"gone\" failed: cannot reach {unreachable}"
        )),
        "{}",
        e.message
    );

    let body = format!(
        "{}{}",
        git_table(
            "app",
            &anon(&app),
            "include = [{ repository = { name = \"lib\" }, fromPath = \"deploy\" }]"
        ),
        git_table("lib", &anon(&lib), ""),
    );
    let e = fetch_err(&host.source(&body).expect("source"));
    assert!(!e.transient, "{e:?}");
    assert_eq!(
        e.message,
        "git source \"app\": include of git source \"lib\": fromPath \"deploy\" is not a directory in its artifact"
    );
}

// ---------------------------------------------------------- submodules ---

/// Commits a gitlink at `path` pinned at `sha` with a `.gitmodules` entry
/// for `url`, plus `files`, on `main` of `repo` (built from a fresh work
/// tree, so no submodule is ever cloned by git itself).
fn commit_with_submodule(
    repo: &TestRepo,
    path: &str,
    url: &str,
    sha: &str,
    files: &[(&str, &str)],
) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    run(git().args(["init", "-q", "-b", "main"]).arg(w));
    for (rel, text) in files {
        let p = w.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    std::fs::write(
        w.join(".gitmodules"),
        format!("[submodule \"{path}\"]\n\tpath = {path}\n\turl = {url}\n"),
    )
    .expect("write");
    run(git().arg("-C").arg(w).args(["add", "-A"]));
    run(git()
        .arg("-C")
        .arg(w)
        .args(["update-index", "--add", "--cacheinfo"])
        .arg(format!("160000,{sha},{path}")));
    run(git()
        .arg("-C")
        .arg(w)
        .args(["commit", "-q", "-m", "with submodule"]));
    run(git()
        .arg("-C")
        .arg(w)
        .args(["push", "-q", "--force"])
        .arg(&repo.bare)
        .arg("HEAD:refs/heads/main"));
    run(git().arg("-C").arg(w).args(["rev-parse", "HEAD"]))
        .trim()
        .to_owned()
}

/// `../<rel>`, relative to a repository served next to it.
fn sibling(repo: &TestRepo) -> String {
    format!("../{}", repo.rel)
}

#[test]
fn submodules_are_checked_out_recursively_with_the_parents_credentials() {
    let leaf = TestRepo::new("sub-leaf");
    let leaf_sha = leaf.commit(&[("leaf.yaml", Some("leaf\n"))], "leaf");
    let mid = TestRepo::new("sub-mid");
    let mid_sha = commit_with_submodule(
        &mid,
        "deps/leaf",
        &sibling(&leaf),
        &leaf_sha,
        &[("mid.yaml", "mid\n")],
    );
    let top = TestRepo::new("sub-top");
    commit_with_submodule(
        &top,
        "mid",
        &sibling(&mid),
        &mid_sha,
        &[("top.yaml", "top\n"), ("docs/a.md", "a\n")],
    );
    // Behind basic auth: the relative submodule URLs are on the same
    // server, so the credentials go with them.
    let url = format!("{}/basic/{}", env("WEIR_GIT_HTTP_URL"), top.rel);

    let host = Host::new();
    let plain = host
        .source(&git_table("plain", &url, &basic_auth()))
        .expect("source");
    let a = fetch(&plain);
    assert!(
        names(&a.dir.join("mid")).is_empty(),
        "without recurseSubmodules: an empty directory"
    );

    let src = host
        .source(&git_table(
            "deep",
            &url,
            &format!("recurseSubmodules = true\n{}", basic_auth()),
        ))
        .expect("source");
    let a = fetch(&src);
    assert_eq!(read(&a, "top.yaml"), "top\n");
    assert_eq!(read(&a, "mid/mid.yaml"), "mid\n");
    assert_eq!(read(&a, "mid/deps/leaf/leaf.yaml"), "leaf\n");
    assert!(!a.dir.join("mid/.git").exists());
    // `plain` brought the top commit into the cache both share: this
    // source fetched the two submodules only.
    let fetches = src.pack_fetches();
    assert_eq!(fetches, 2, "mid and leaf fetched");

    // Unchanged: the artifact is reused, no submodule is fetched again.
    assert_eq!(fetch(&src), a);
    assert_eq!(src.pack_fetches(), fetches);

    // Over ssh: the relative URLs resolve to the same server, whose key and
    // known_hosts the submodules use too.
    let ssh_url = format!("{}/repos/{}", env("WEIR_GIT_SSH_URL"), top.rel);
    let ssh = host
        .source(&git_table(
            "deep-ssh",
            &ssh_url,
            &format!(
                "recurseSubmodules = true\n[git.auth]\nidentityFile = \"{}\"\nknownHostsFile = \"{}\"",
                env("WEIR_GIT_SSH_KEY"),
                env("WEIR_GIT_SSH_KNOWN_HOSTS")
            ),
        ))
        .expect("source");
    let a_ssh = fetch(&ssh);
    assert_eq!(read(&a_ssh, "mid/deps/leaf/leaf.yaml"), "leaf\n");
    assert_eq!(
        a_ssh.digest, a.digest,
        "the same tree over either transport"
    );

    // A submodule outside every sparseCheckout directory is not fetched.
    let sparse = host
        .source(&git_table(
            "sparse",
            &url,
            &format!(
                "recurseSubmodules = true\nsparseCheckout = [\"docs\"]\n{}",
                basic_auth()
            ),
        ))
        .expect("source");
    let a = fetch(&sparse);
    assert_eq!(read(&a, "docs/a.md"), "a\n");
    assert!(!a.dir.join("top.yaml").exists());
    assert!(
        names(&a.dir.join("mid")).is_empty(),
        "left empty, as without recursion"
    );
    assert_eq!(
        sparse.pack_fetches(),
        0,
        "the top commit is in the shared cache"
    );
}

#[test]
fn a_submodule_elsewhere_gets_no_credentials_and_local_urls_are_refused() {
    let leaf = TestRepo::new("sub-other-leaf");
    let leaf_sha = leaf.commit(&[("leaf.yaml", Some("leaf\n"))], "leaf");
    // `localhost` is another host than the parent's `127.0.0.1`, so the
    // parent's basic-auth credentials must not be sent there.
    let elsewhere = format!(
        "http://localhost:{}/basic/{}",
        env("WEIR_GIT_HTTP_PORT"),
        leaf.rel
    );
    let top = TestRepo::new("sub-other-top");
    commit_with_submodule(
        &top,
        "leaf",
        &elsewhere,
        &leaf_sha,
        &[("top.yaml", "top\n")],
    );
    let url = format!("{}/basic/{}", env("WEIR_GIT_HTTP_URL"), top.rel);

    let host = Host::new();
    let src = host
        .source(&git_table(
            "other",
            &url,
            &format!("recurseSubmodules = true\n{}", basic_auth()),
        ))
        .expect("source");
    let e = fetch_err(&src);
    assert!(!e.transient, "{e:?}");
    assert_eq!(
        e.message,
        format!(
            "git source \"other\": artifact of {url}: submodule \"leaf\": commit {leaf_sha} from {elsewhere}: authentication failed for {elsewhere}: the server requires credentials and none are configured (auth.username/password or auth.bearerToken)"
        )
    );

    let local = TestRepo::new("sub-local-top");
    commit_with_submodule(
        &local,
        "leaf",
        &format!("file://{}", leaf.bare.display()),
        &leaf_sha,
        &[],
    );
    let src = host
        .source(&git_table(
            "local",
            &anon(&local),
            "recurseSubmodules = true",
        ))
        .expect("source");
    let e = fetch_err(&src);
    assert!(!e.transient, "{e:?}");
    assert!(
        e.message
            .contains("submodule \"leaf\": submodule url file://")
            && e.message.contains("is refused"),
        "{}",
        e.message
    );
}

// ---------------------------------------------------------------- mTLS ---

fn tls_auth(cert: Option<(&str, &str)>) -> String {
    let mut s = format!("[git.auth]\ncaFile = \"{}\"\n", env("WEIR_GIT_CA"));
    if let Some((c, k)) = cert {
        s.push_str(&format!("certFile = \"{c}\"\nkeyFile = \"{k}\"\n"));
    }
    s
}

#[test]
fn a_server_requiring_a_client_certificate_is_fetched_with_one_only() {
    let repo = TestRepo::new("mtls");
    let sha = repo.commit(&[("a.yaml", Some("a\n"))], "a");
    let url = format!("{}/anon/{}", env("WEIR_GIT_MTLS_URL"), repo.rel);
    let host = Host::new();

    let without = host
        .source(&git_table("nocert", &url, &tls_auth(None)))
        .expect("source");
    let e = fetch_err(&without);
    assert!(!e.transient, "{e:?}");
    assert_eq!(
        e.message,
        format!(
            "git source \"nocert\": HTTP 400 from {url}: the server refused the request; a server that requires a TLS client certificate answers so when none is sent: set auth.certFile and auth.keyFile"
        )
    );

    let (cert, key) = (env("WEIR_GIT_CLIENT_CERT"), env("WEIR_GIT_CLIENT_KEY"));
    let with = host
        .source(&git_table("cert", &url, &tls_auth(Some((&cert, &key)))))
        .expect("source");
    let a = fetch(&with);
    assert_eq!(a.revision, format!("main@sha1:{sha}"));
    assert_eq!(read(&a, "a.yaml"), "a\n");
    // A client certificate is a credential: its own cache.
    assert_ne!(with.cache_dir(), without.cache_dir());

    let (other_cert, other_key) = (
        env("WEIR_GIT_OTHER_CLIENT_CERT"),
        env("WEIR_GIT_OTHER_CLIENT_KEY"),
    );
    let other = host
        .source(&git_table(
            "othercert",
            &url,
            &tls_auth(Some((&other_cert, &other_key))),
        ))
        .expect("source");
    let e = fetch_err(&other);
    assert!(!e.transient, "{e:?}");
    assert!(
        e.message
            .starts_with(&format!("git source \"othercert\": HTTP 400 from {url}: "))
            && e.message.contains(&format!(
                "does not accept the one in auth.certFile {other_cert}"
            )),
        "{}",
        e.message
    );
}

#[test]
fn a_client_key_that_does_not_fit_its_certificate_is_a_config_error() {
    let host = Host::new();
    let url = format!("{}/anon/x.git", env("WEIR_GIT_MTLS_URL"));
    let (cert, other_key) = (
        env("WEIR_GIT_CLIENT_CERT"),
        env("WEIR_GIT_OTHER_CLIENT_KEY"),
    );
    let e = host
        .source(&git_table(
            "mismatch",
            &url,
            &tls_auth(Some((&cert, &other_key))),
        ))
        .expect_err("mismatched key");
    assert!(!e.transient);
    assert!(
        e.message
            .starts_with("git source \"mismatch\": auth.keyFile ")
            && e.message.contains("does not fit auth.certFile"),
        "{}",
        e.message
    );
    let e = host
        .source(&git_table(
            "nokey",
            &url,
            &tls_auth(Some((&cert, "/nonexistent/key.pem"))),
        ))
        .expect_err("missing key");
    assert!(
        e.message
            .contains("cannot read auth.keyFile /nonexistent/key.pem"),
        "{}",
        e.message
    );
}

// --------------------------------------------------------------- proxy ---

fn proxy_table(password_file: &str) -> String {
    format!(
        "proxy = {{ address = \"{}\", username = \"{}\", passwordFile = \"{password_file}\" }}",
        env("WEIR_GIT_PROXY_URL"),
        env("WEIR_GIT_PROXY_USER")
    )
}

fn proxy_log_lines(needle: &str) -> Vec<String> {
    std::fs::read_to_string(env("WEIR_GIT_PROXY_LOG"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn http_and_https_go_through_the_proxy_with_its_credentials() {
    let repo = TestRepo::new("proxied");
    let sha = repo.commit(&[("a.yaml", Some("a\n"))], "a");
    let host = Host::new();
    let password_file = env("WEIR_GIT_PROXY_PASSWORD_FILE");

    // https: a CONNECT tunnel to the server's port.
    let https = format!("{}/anon/{}", env("WEIR_GIT_HTTPS_URL"), repo.rel);
    let before = proxy_log_lines(&format!(
        "CONNECT 127.0.0.1:{} ",
        env("WEIR_GIT_HTTPS_PORT")
    ))
    .len();
    let src = host
        .source(&git_table(
            "tunnel",
            &https,
            &format!("{}\n{}", proxy_table(&password_file), tls_auth(None)),
        ))
        .expect("source");
    assert_eq!(fetch(&src).revision, format!("main@sha1:{sha}"));
    let after = proxy_log_lines(&format!(
        "CONNECT 127.0.0.1:{} ",
        env("WEIR_GIT_HTTPS_PORT")
    ))
    .len();
    assert!(after > before, "no CONNECT in the proxy's log");

    // http: forwarded, the request line names the repository.
    let http = anon(&repo);
    let src = host
        .source(&git_table("forward", &http, &proxy_table(&password_file)))
        .expect("source");
    assert_eq!(fetch(&src).revision, format!("main@sha1:{sha}"));
    assert!(
        !proxy_log_lines(&format!("GET {http}/info/refs")).is_empty(),
        "no forwarded request for {http} in the proxy's log"
    );
}

#[test]
fn a_wrong_proxy_or_proxy_password_fails_clearly_and_never_shows_the_password() {
    let repo = TestRepo::new("proxy-errors");
    repo.commit(&[("a.yaml", Some("a\n"))], "a");
    let host = Host::new();
    let wrong = host.dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password-4711\n").expect("write");
    let https = format!("{}/anon/{}", env("WEIR_GIT_HTTPS_URL"), repo.rel);

    let proxy = env("WEIR_GIT_PROXY_URL");
    let http = anon(&repo);
    // tinyproxy answers a wrong password with 401 (to CONNECT as well as
    // to forwarded requests), and no credentials at all with 407.
    let cases = [
        (
            https.clone(),
            proxy_table(&wrong.display().to_string()),
            format!(
                "proxy {proxy} refused to open a tunnel (CONNECT) to {https}: check proxy.username and the proxy password, and that the proxy allows this destination"
            ),
        ),
        (
            http.clone(),
            proxy_table(&wrong.display().to_string()),
            format!(
                "authentication failed for {http} through proxy {proxy} (HTTP 401): the server wants other credentials than configured, or the proxy rejected proxy.username and the proxy password (some proxies answer 401 rather than 407)"
            ),
        ),
        (
            https.clone(),
            format!("proxy = {{ address = \"{proxy}\" }}"),
            format!(
                "proxy {proxy} refused to forward to {https} (HTTP 407): it requires credentials and none are configured (proxy.username and proxy.passwordFile)"
            ),
        ),
        (
            http.clone(),
            format!("proxy = {{ address = \"{proxy}\" }}"),
            format!(
                "proxy {proxy} refused to forward to {http} (HTTP 407): it requires credentials and none are configured (proxy.username and proxy.passwordFile)"
            ),
        ),
    ];
    for (url, table, want) in cases {
        let extra = format!("{table}\n{}", tls_auth(None));
        let src = host
            .source(&git_table("badproxy", &url, &extra))
            .expect("source");
        let e = fetch_err(&src);
        assert!(!e.transient, "{e:?}");
        assert_eq!(e.message, format!("git source \"badproxy\": {want}"));
        assert!(!e.message.contains("4711"));
    }

    let unreachable = run(Command::new("bash")
        .arg(weir_e2e::repo_root().join("scripts/git-server.sh"))
        .arg("unreachable-url"))
    .trim()
    .to_owned();
    let nowhere = unreachable.trim_end_matches("/anon/x.git").to_owned();
    let src = host
        .source(&git_table(
            "noproxy",
            &https,
            &format!("proxy = {{ address = \"{nowhere}\" }}\n{}", tls_auth(None)),
        ))
        .expect("source");
    let e = fetch_err(&src);
    assert!(e.transient, "{e:?}");
    assert!(
        e.message.starts_with(&format!(
            "git source \"noproxy\": cannot reach proxy {nowhere} (for {https}): "
        )),
        "{}",
        e.message
    );
}

// ------------------------------------------------------------- secrets ---

/// Everything logged in this test process, at every level.
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        struct Sink(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(buf))
            .try_init()
            .expect("install the log capture");
        buf
    })
}

#[test]
fn proxy_passwords_client_keys_and_submodule_credentials_are_never_logged() {
    let logs = captured_logs();
    let host = Host::new();
    let repo = TestRepo::new("secret-sub");
    let leaf = TestRepo::new("secret-leaf");
    let leaf_sha = leaf.commit(&[("leaf.yaml", Some("leaf\n"))], "leaf");
    commit_with_submodule(
        &repo,
        "leaf",
        &sibling(&leaf),
        &leaf_sha,
        &[("a.yaml", "a\n")],
    );
    let proxy_password = std::fs::read_to_string(env("WEIR_GIT_PROXY_PASSWORD_FILE"))
        .expect("proxy password")
        .trim()
        .to_owned();
    let wrong = host.dir.path().join("wrong");
    let wrong_password = "wrong-proxy-pw-9c3e1a";
    std::fs::write(&wrong, wrong_password).expect("write");
    let http_password = env("WEIR_GIT_HTTP_PASSWORD");
    let key_pem = std::fs::read_to_string(env("WEIR_GIT_CLIENT_KEY")).expect("key");
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();

    let mut errors = Vec::new();
    let basic = format!("{}/basic/{}", env("WEIR_GIT_HTTP_URL"), repo.rel);
    let runs = [
        (
            "sub-and-proxy",
            basic.clone(),
            format!(
                "recurseSubmodules = true\n{}\n{}",
                proxy_table(&env("WEIR_GIT_PROXY_PASSWORD_FILE")),
                basic_auth()
            ),
            true,
        ),
        (
            "wrong-proxy",
            basic,
            format!(
                "{}\n{}",
                proxy_table(&wrong.display().to_string()),
                basic_auth()
            ),
            false,
        ),
        (
            "mtls",
            format!("{}/anon/{}", env("WEIR_GIT_MTLS_URL"), repo.rel),
            tls_auth(Some((
                &env("WEIR_GIT_CLIENT_CERT"),
                &env("WEIR_GIT_CLIENT_KEY"),
            ))),
            true,
        ),
    ];
    for (name, url, extra, ok) in runs {
        let src = host.source(&git_table(name, &url, &extra)).expect("source");
        let r = src.fetch(&AtomicBool::new(false));
        assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
        if let Err(e) = r {
            errors.push(e.message);
        }
        errors.push(format!("{src:?}"));
    }

    let encoded = |u: &str, p: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    };
    let secrets = [
        proxy_password.clone(),
        wrong_password.to_owned(),
        http_password.clone(),
        encoded(&env("WEIR_GIT_PROXY_USER"), &proxy_password),
        encoded(&env("WEIR_GIT_PROXY_USER"), wrong_password),
        encoded("weir", &http_password),
        key_body,
    ];
    let logged = String::from_utf8_lossy(
        &logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    assert!(
        logged.contains("wrong-proxy"),
        "the capture saw this test's fetches"
    );
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret was logged");
        for e in &errors {
            assert!(!e.contains(secret.as_str()), "a secret in an error: {e}");
        }
    }
}
