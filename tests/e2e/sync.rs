//! End-to-end syncs: the `weir` binary against a real kube-apiserver and
//! real git servers, all started by the project's scripts.

use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::{TestRepo, Weir, get_object, git_server, kubectl, unique, var, yaml_to_json};

/// A config with one git source and one sync, both named `name`.
fn config(name: &str, url: &str, auth: &str) -> String {
    format!(
        r#"version = 1

[host]
clusterName = "e2e"

[[git]]
name = "{name}"
url = "{url}"
ref = {{ branch = "main" }}
interval = "1s"
timeout = "20s"

[git.auth]
{auth}

[[sync]]
name = "{name}"
source = "{name}"
path = "deploy"
interval = "2s"
prune = true
"#
    )
}

fn basic_auth() -> String {
    let env = git_server();
    format!(
        "username = \"{}\"\npasswordFile = \"{}\"",
        var(env, "WEIR_GIT_HTTP_USER"),
        var(env, "WEIR_GIT_HTTP_PASSWORD_FILE")
    )
}

fn basic_url(repo: &TestRepo) -> String {
    format!(
        "{}/basic/{}",
        var(git_server(), "WEIR_GIT_HTTP_URL"),
        repo.rel
    )
}

fn namespace(ns: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
}

fn configmap(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  value: {value:?}\n"
    )
}

fn changes(status: &Value) -> Vec<(String, String)> {
    status["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["object"].as_str().unwrap_or("").to_owned(),
                        c["action"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn cm_value(ns: &str, name: &str) -> Option<String> {
    get_object("configmap", Some(ns), name)
        .and_then(|o| o["data"]["value"].as_str().map(str::to_owned))
}

#[test]
fn applies_updates_prunes_and_writes_nothing_when_unchanged() {
    let ns = unique("e2e-cycle");
    let repo = TestRepo::new("cycle");
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  ports:\n    - port: 80\n      protocol: TCP\n"
    );
    let sha1 = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "one"))),
            ("deploy/b.yaml", Some(&configmap(&ns, "b", "two"))),
            ("deploy/svc.yaml", Some(&service)),
        ],
        "first",
    );
    let weir = Weir::new(&config("cycle", &basic_url(&repo), &basic_auth()));

    // First apply: everything created, labelled as owned.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    assert_eq!(st["lastAppliedRevision"], format!("main@sha1:{sha1}"));
    let mut got = changes(st);
    got.sort();
    let mut want = vec![
        (format!("Namespace/{ns}"), "created".to_owned()),
        (format!("ConfigMap/{ns}/a"), "created".to_owned()),
        (format!("ConfigMap/{ns}/b"), "created".to_owned()),
        (format!("Service/{ns}/web"), "created".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
    let a = get_object("configmap", Some(&ns), "a").expect("a exists");
    assert_eq!(a["metadata"]["labels"]["sync.weir.dev/name"], "cycle");
    assert_eq!(a["data"]["value"], "one");
    let rv = a["metadata"]["resourceVersion"].clone();

    // No change: every object unchanged, nothing written.
    let out = weir.run(&["reconcile", "-o", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert!(
        changes(st).iter().all(|(_, a)| a == "unchanged"),
        "expected all unchanged: {st}"
    );
    let a = get_object("configmap", Some(&ns), "a").expect("a exists");
    assert_eq!(a["metadata"]["resourceVersion"], rv, "a was rewritten");

    // A new commit: a changes, b is removed from git and pruned.
    let sha2 = repo.commit(
        &[
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "uno"))),
            ("deploy/b.yaml", None),
        ],
        "second",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["lastAppliedRevision"], format!("main@sha1:{sha2}"));
    let got = changes(st);
    assert!(
        got.contains(&(format!("ConfigMap/{ns}/a"), "configured".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&(format!("ConfigMap/{ns}/b"), "deleted".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&(format!("Service/{ns}/web"), "unchanged".into())),
        "{got:?}"
    );
    assert_eq!(cm_value(&ns, "a").as_deref(), Some("uno"));
    assert_eq!(cm_value(&ns, "b"), None, "b was not pruned");
    let inventory = st["inventory"].as_array().map(Vec::len);
    assert_eq!(inventory, Some(3), "{st}");

    // Drift: a change by hand is restored; a deletion by hand is recreated.
    let out = kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "a",
        "-p",
        r#"{"data":{"value":"tampered"}}"#,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = kubectl(&["-n", &ns, "delete", "service", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let got = changes(&weir.statuses()[0]);
    assert!(
        got.contains(&(format!("ConfigMap/{ns}/a"), "configured".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&(format!("Service/{ns}/web"), "created".into())),
        "{got:?}"
    );
    assert_eq!(cm_value(&ns, "a").as_deref(), Some("uno"));

    // An object that weir does not own is never pruned, even if it has the
    // name of one that left git.
    let out = kubectl(&[
        "-n",
        &ns,
        "create",
        "configmap",
        "b",
        "--from-literal=value=mine",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    repo.commit(&[("deploy/a.yaml", None)], "third");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cm_value(&ns, "a"), None, "a was not pruned");
    assert_eq!(cm_value(&ns, "b").as_deref(), Some("mine"));
}

#[test]
fn crds_and_their_resources_apply_in_one_sync() {
    let ns = unique("e2e-crd");
    let group = format!("{ns}.weir.dev");
    let crd = format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Gadget, plural: gadgets, singular: gadget}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#
    );
    let cr = format!(
        "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\n  namespace: {ns}\nspec:\n  size: 3\n"
    );
    let repo = TestRepo::new("crd");
    // The custom resource sorts before its CRD and namespace on purpose.
    repo.commit(
        &[
            ("deploy/a-gadget.yaml", Some(&cr)),
            ("deploy/b-crd.yaml", Some(&crd)),
            ("deploy/c-ns.yaml", Some(&namespace(&ns))),
        ],
        "crd",
    );
    let weir = Weir::new(&config("crd", &basic_url(&repo), &basic_auth()));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let got = get_object(&format!("gadgets.{group}"), Some(&ns), "g1").expect("gadget exists");
    assert_eq!(got["spec"]["size"], 3);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        changes(&weir.statuses()[0])
            .iter()
            .all(|(_, a)| a == "unchanged"),
        "second apply wrote something"
    );
}

#[test]
fn a_failure_mid_apply_keeps_what_it_wrote_in_the_inventory() {
    let ns = unique("e2e-mid");
    let repo = TestRepo::new("mid");
    repo.commit(
        &[("deploy/keep.yaml", Some(&configmap("default", &ns, "k")))],
        "base",
    );
    let weir = Weir::new(&config("mid", &basic_url(&repo), &basic_auth()));
    assert_eq!(weir.run(&["reconcile"]).code, 0);

    // A new namespace and an object in it that the API server refuses: the
    // object can only be checked once its namespace exists, so the
    // namespace is written (stage 0) before the refusal (stage 2).
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/bad.yaml", Some(&configmap(&ns, "Not_Valid", "x"))),
        ],
        "fails mid-way",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "ApplyFailed", "{st}");
    assert!(
        get_object("namespace", None, &ns).is_some(),
        "namespace not written"
    );
    let inventory = st["inventory"].to_string();
    assert!(
        inventory.contains(&format!("\"name\":\"{ns}\"")),
        "{inventory}"
    );

    // Removing both from git prunes the namespace the failed apply wrote.
    repo.commit(
        &[("deploy/ns.yaml", None), ("deploy/bad.yaml", None)],
        "revert",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let gone =
        get_object("namespace", None, &ns).is_none_or(|n| n["status"]["phase"] == "Terminating");
    assert!(gone, "namespace {ns} was not pruned");
    assert_eq!(cm_value("default", &ns).as_deref(), Some("k"));
}

/// One small sync through a given URL and auth; returns the reconcile output.
fn sync_through(url: &str, auth: &str, ns: &str) -> weir_e2e::Output {
    let weir = Weir::new(&config(&unique("auth"), url, auth));
    let out = weir.run(&["reconcile"]);
    if out.code == 0 {
        assert_eq!(cm_value(ns, "c").as_deref(), Some("v"), "{out:?}");
        let rev = weir.statuses()[0]["lastAppliedRevision"].clone();
        assert!(
            rev.as_str().is_some_and(|r| r.starts_with("main@sha1:")),
            "{rev}"
        );
    }
    out
}

#[test]
fn every_git_auth_mode_syncs() {
    let env = git_server();
    let repo = TestRepo::new("auth");
    let ns = unique("e2e-auth");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/c.yaml", Some(&configmap(&ns, "c", "v"))),
        ],
        "auth",
    );
    let http = var(env, "WEIR_GIT_HTTP_URL");
    let https = var(env, "WEIR_GIT_HTTPS_URL");
    let token_file = var(env, "WEIR_GIT_HTTP_TOKEN_FILE");
    let ca = var(env, "WEIR_GIT_CA");
    let cases = [
        (
            "http basic",
            format!("{http}/basic/{}", repo.rel),
            basic_auth(),
        ),
        (
            "http bearer",
            format!("{http}/bearer/{}", repo.rel),
            format!("bearerTokenFile = \"{token_file}\""),
        ),
        (
            "https basic with the test CA",
            format!("{https}/basic/{}", repo.rel),
            format!("{}\ncaFile = \"{ca}\"", basic_auth()),
        ),
        (
            "ssh",
            format!("{}/repos/{}", var(env, "WEIR_GIT_SSH_URL"), repo.rel),
            format!(
                "identityFile = \"{}\"\nknownHostsFile = \"{}\"",
                var(env, "WEIR_GIT_SSH_KEY"),
                var(env, "WEIR_GIT_SSH_KNOWN_HOSTS")
            ),
        ),
        (
            "git daemon",
            format!("{}/{}", var(env, "WEIR_GIT_DAEMON_URL"), repo.rel),
            String::new(),
        ),
    ];
    for (what, url, auth) in cases {
        let _ = kubectl(&["-n", &ns, "delete", "configmap", "c", "--ignore-not-found"]);
        let out = sync_through(&url, &auth, &ns);
        assert_eq!(out.code, 0, "{what}: {out:?}");
    }
}

#[test]
fn bad_input_names_the_cause_applies_nothing_and_keeps_the_last_good_state() {
    let ns = unique("e2e-bad");
    let repo = TestRepo::new("bad");
    let good = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "good"))),
        ],
        "good",
    );
    let url = basic_url(&repo);
    let weir = Weir::new(&config("bad", &url, &basic_auth()));
    assert_eq!(weir.run(&["reconcile"]).code, 0);
    let good_rev = format!("main@sha1:{good}");

    let check_kept = |what: &str| {
        assert_eq!(
            cm_value(&ns, "a").as_deref(),
            Some("good"),
            "{what}: a changed"
        );
        assert_eq!(cm_value(&ns, "z"), None, "{what}: z was applied");
        let st = &weir.statuses()[0];
        assert_eq!(st["ready"], false, "{what}: {st}");
        assert_eq!(st["lastAppliedRevision"], good_rev.as_str(), "{what}: {st}");
        st["message"].as_str().unwrap_or("").to_owned()
    };

    // Malformed YAML: the message names the file and line; nothing of the
    // revision is applied, not even the valid files.
    repo.commit(
        &[
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "changed"))),
            ("deploy/z.yaml", Some(&configmap(&ns, "z", "new"))),
            (
                "deploy/broken.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [1,\n"),
            ),
        ],
        "malformed",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let msg = check_kept("malformed yaml");
    assert!(msg.contains("deploy/broken.yaml:"), "{msg}");
    assert!(msg.contains("malformed YAML"), "{msg}");
    assert!(msg.contains("plugin \"plain\""), "{msg}");
    assert!(out.stdout.contains("BuildFailed"), "{out:?}");

    // An unknown kind: named with its file; nothing applied.
    repo.commit(
        &[(
            "deploy/broken.yaml",
            Some(&format!(
                "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata:\n  name: f\n  namespace: {ns}\n"
            )),
        )],
        "unknown kind",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let msg = check_kept("unknown kind");
    assert!(msg.contains("deploy/broken.yaml"), "{msg}");
    assert!(msg.contains("unknown kind \"Frobnicator\""), "{msg}");
    assert!(msg.contains(&format!("Frobnicator/{ns}/f")), "{msg}");

    // An object the API server refuses (a Service port without protocol on
    // Kubernetes < 1.23, an invalid name on any version) is caught by the
    // dry run before anything is written.
    repo.commit(
        &[(
            "deploy/broken.yaml",
            Some(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n  namespace: {ns}\n"
            )),
        )],
        "invalid object",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let msg = check_kept("invalid object");
    assert!(msg.contains(&format!("ConfigMap/{ns}/Not_Valid")), "{msg}");
    assert!(msg.contains("refused by the API server"), "{msg}");

    // Kubernetes before 1.23 (the test control plane is 1.20) refuses a
    // port without `protocol` under server-side apply: weir says what to add.
    repo.commit(
        &[(
            "deploy/broken.yaml",
            Some(&format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: noproto\n  namespace: {ns}\nspec:\n  ports:\n    - port: 80\n"
            )),
        )],
        "port without protocol",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let msg = check_kept("port without protocol");
    assert!(
        msg.contains(&format!("deploy/broken.yaml: Service/{ns}/noproto")),
        "{msg}"
    );
    assert!(msg.contains("`protocol: TCP`"), "{msg}");
    assert_eq!(weir.statuses()[0]["reason"], "ApplyFailed");

    // A wrong password: the URL is named, the password is not.
    let wrong_pw = weir.dir.path().join("wrong-password");
    std::fs::write(&wrong_pw, "not-the-password").expect("write");
    let bad_auth = Weir::new(&config(
        "bad",
        &url,
        &format!(
            "username = \"weir\"\npasswordFile = \"{}\"",
            wrong_pw.display()
        ),
    ));
    copy_state(&weir, &bad_auth);
    let out = bad_auth.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &bad_auth.statuses()[0];
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("authentication failed"), "{msg}");
    assert!(!msg.contains("not-the-password") && !out.stderr.contains("not-the-password"));
    assert_eq!(st["reason"], "ArtifactFailed");
    assert_eq!(st["lastAppliedRevision"], good_rev.as_str());

    // An unreachable server.
    let dead = format!("http://127.0.0.1:{}/anon/x.git", dead_port());
    let unreachable = Weir::new(&config("bad", &dead, ""));
    copy_state(&weir, &unreachable);
    let out = unreachable.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &unreachable.statuses()[0];
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.contains(&dead), "{msg}");
    assert!(msg.contains("cannot reach"), "{msg}");
    assert_eq!(st["lastAppliedRevision"], good_rev.as_str());

    // And a fix recovers.
    let fixed = repo.commit(&[("deploy/broken.yaml", None)], "fix");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cm_value(&ns, "a").as_deref(), Some("changed"));
    assert_eq!(cm_value(&ns, "z").as_deref(), Some("new"));
    assert_eq!(
        weir.statuses()[0]["lastAppliedRevision"],
        format!("main@sha1:{fixed}")
    );
}

/// Copies `from`'s sync status into `to`'s state so `to` continues it.
fn copy_state(from: &Weir, to: &Weir) {
    let src = from.dir.path().join(".weir/syncs");
    let dst = to.dir.path().join(".weir/syncs");
    std::fs::create_dir_all(&dst).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("read state") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
    }
}

/// A port on 127.0.0.1 that nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

#[test]
fn build_prints_exactly_what_the_quickstart_applies() {
    let env = git_server();
    let repo = TestRepo::new("quickstart");
    let example = weir_e2e::repo_root().join("examples/quickstart");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(example.join("repo/deploy")).expect("example repo") {
        let p = entry.expect("entry").path();
        let name = format!(
            "deploy/{}",
            p.file_name().and_then(|n| n.to_str()).expect("name")
        );
        files.push((name, std::fs::read_to_string(&p).expect("read")));
    }
    let refs: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(n, c)| (n.as_str(), Some(c.as_str())))
        .collect();
    repo.commit(&refs, "quickstart");
    let template = std::fs::read_to_string(example.join("weir.toml")).expect("example config");
    let toml = template
        .replace("@GIT_URL@/basic/quickstart.git", &basic_url(&repo))
        .replace("@GIT_USER@", var(env, "WEIR_GIT_HTTP_USER"))
        .replace(
            "@GIT_PASSWORD_FILE@",
            var(env, "WEIR_GIT_HTTP_PASSWORD_FILE"),
        )
        .replace("@KUBECONFIG@", var(weir_e2e::kube(), "KUBECONFIG"))
        .replace(
            "@PLUGINS_DIR@",
            &weir_e2e::plugins_dir().display().to_string(),
        );
    let weir = Weir::new(&toml);

    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let built: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(built.len(), 6, "{built:?}");

    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    for obj in &built {
        let kind = obj["kind"].as_str().expect("kind");
        let name = obj["metadata"]["name"].as_str().expect("name");
        let ns = obj["metadata"]["namespace"].as_str();
        let resource = match kind {
            "Widget" => "widgets.quickstart.weir.dev".to_owned(),
            "CustomResourceDefinition" => "crd".to_owned(),
            k => k.to_lowercase(),
        };
        let live = get_object(&resource, ns, name)
            .unwrap_or_else(|| panic!("{kind} {name} was built but not applied"));
        assert_subset(obj, &live, &format!("{kind}/{name}"));
    }
}

/// Every field of `want` is in `live` with the same value (the API server
/// adds defaults and status, never removes what was applied).
fn assert_subset(want: &Value, live: &Value, at: &str) {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => {
            for (k, v) in w {
                let lv = l
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in the cluster"));
                assert_subset(v, lv, &format!("{at}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(l)) => {
            assert_eq!(w.len(), l.len(), "{at}: list length differs");
            for (i, (wv, lv)) in w.iter().zip(l).enumerate() {
                assert_subset(wv, lv, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(want, live, "{at} differs"),
    }
}

#[test]
fn run_picks_up_new_commits_and_survives_bad_ones() {
    let ns = unique("e2e-run");
    let repo = TestRepo::new("run");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "v1"))),
        ],
        "v1",
    );
    let weir = Weir::new(&config("run", &basic_url(&repo), &basic_auth()));
    let mut child = weir
        .command()
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start weir run");
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    wait_for("v1 applied", &|| {
        cm_value(&ns, "a").as_deref() == Some("v1")
    });

    let v2 = repo.commit(&[("deploy/a.yaml", Some(&configmap(&ns, "a", "v2")))], "v2");
    wait_for("v2 applied", &|| {
        cm_value(&ns, "a").as_deref() == Some("v2")
    });

    let bad = repo.commit(&[("deploy/bad.yaml", Some("kind: [\n"))], "bad");
    wait_for("the bad revision attempted", &|| {
        weir.statuses()[0]["lastAttemptedRevision"] == format!("main@sha1:{bad}")
    });
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], false, "{st}");
    assert_eq!(st["lastAppliedRevision"], format!("main@sha1:{v2}"));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "weir run exited after a bad commit"
    );

    repo.commit(
        &[
            ("deploy/bad.yaml", None),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "v3"))),
        ],
        "v3",
    );
    wait_for("v3 applied", &|| {
        cm_value(&ns, "a").as_deref() == Some("v3")
    });
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn post_build_substitutes_variables_from_config_configmaps_and_secrets() {
    let ns = unique("e2e-subst");
    let vars_cm = unique("subst-vars");
    let vars_secret = unique("subst-secret");
    // Variables in the cluster, created by hand as a platform team would.
    let out = kubectl(&[
        "-n",
        "default",
        "create",
        "configmap",
        &vars_cm,
        "--from-literal=region=eu-west",
        "--from-literal=port=8080",
        "--from-literal=cluster_name=overridden-by-substitute",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = kubectl(&[
        "-n",
        "default",
        "create",
        "secret",
        "generic",
        &vars_secret,
        "--from-literal=token=s3cr3t",
    ]);
    assert_eq!(out.code, 0, "{out:?}");

    let deployment = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels:
    cluster: ${{cluster_name}}
    region: ${{region}}
  annotations:
    port: ${{port}}
spec:
  replicas: ${{replicas:=2}}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: registry.invalid/web:1
          ports:
            - containerPort: ${{port}}
              protocol: TCP
"#
    );
    let app_config = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {ns}\ndata:\n  token: ${{token}}\n  greeting: \"hello ${{cluster_name}} $${{literal}} $HOME\"\n"
    );
    let literal = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\n  namespace: {ns}\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  run.sh: \"echo ${{HOME}} ${{cluster_name}}\"\n"
    );
    let repo = TestRepo::new("subst");
    let good = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/app.yaml", Some(&deployment)),
            ("deploy/config.yaml", Some(&app_config)),
            ("deploy/script.yaml", Some(&literal)),
        ],
        "substitution",
    );
    let post_build = format!(
        r#"
[sync.postBuild]
strict = true
substitute = {{ cluster_name = "e2e" }}

[[sync.postBuild.substituteFrom]]
kind = "ConfigMap"
name = "{vars_cm}"
namespace = "default"

[[sync.postBuild.substituteFrom]]
kind = "Secret"
name = "{vars_secret}"
namespace = "default"

[[sync.postBuild.substituteFrom]]
kind = "ConfigMap"
name = "absent-and-optional"
namespace = "default"
optional = true
"#
    );
    let toml = config("subst", &basic_url(&repo), &basic_auth()) + &post_build;
    let weir = Weir::new(&toml);

    // `weir build` has no cluster: inline values only, and it says so.
    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    assert!(
        built.stderr.contains("substituteFrom was not applied"),
        "{built:?}"
    );
    assert!(
        built
            .stderr
            .contains(&format!("Secret/default/{vars_secret}")),
        "{built:?}"
    );
    let objects: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    let web = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment built");
    assert_eq!(web["metadata"]["labels"]["cluster"], "e2e");
    assert_eq!(web["metadata"]["labels"]["region"], "${region}");
    assert_eq!(web["spec"]["replicas"], 2);

    // Reconcile: every source of variables, in Flux's precedence.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let web = get_object("deployment", Some(&ns), "web").expect("deployment applied");
    assert_eq!(web["spec"]["replicas"], Value::from(2), "{web}");
    assert_eq!(web["metadata"]["labels"]["cluster"], "e2e");
    assert_eq!(web["metadata"]["labels"]["region"], "eu-west");
    assert_eq!(web["metadata"]["annotations"]["port"], "8080");
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        Value::from(8080)
    );
    let app = get_object("configmap", Some(&ns), "app").expect("config applied");
    assert_eq!(app["data"]["token"], "s3cr3t");
    assert_eq!(app["data"]["greeting"], "hello e2e ${literal} $HOME");
    assert_eq!(
        cm_data(&ns, "script", "run.sh").as_deref(),
        Some("echo ${HOME} ${cluster_name}"),
        "substitution was not disabled"
    );
    let good_rev = format!("main@sha1:{good}");

    // Strict mode: an undefined variable fails the build, names the
    // variable and the file, and nothing of the revision is applied.
    let bad = repo.commit(
        &[
            (
                "deploy/config.yaml",
                Some(&app_config.replace("${token}", "changed")),
            ),
            (
                "deploy/zz.yaml",
                Some(&format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: zz\n  namespace: {ns}\ndata:\n  v: ${{undefined_var}}\n"
                )),
            ),
        ],
        "undefined variable",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "BuildFailed", "{st}");
    assert_eq!(st["lastAppliedRevision"], good_rev.as_str(), "{st}");
    assert_eq!(st["lastAttemptedRevision"], format!("main@sha1:{bad}"));
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.starts_with("postBuild substitution: "), "{msg}");
    assert!(msg.contains("deploy/zz.yaml"), "{msg}");
    assert!(msg.contains(&format!("ConfigMap/{ns}/zz")), "{msg}");
    assert!(msg.contains("\"undefined_var\""), "{msg}");
    assert_eq!(cm_data(&ns, "app", "token").as_deref(), Some("s3cr3t"));
    assert_eq!(cm_value(&ns, "zz"), None, "zz was applied");

    // A required source that disappears is named; nothing is applied.
    repo.commit(&[("deploy/zz.yaml", None)], "drop undefined variable");
    let out = kubectl(&["-n", "default", "delete", "secret", &vars_secret]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    let msg = st["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(&format!("Secret/default/{vars_secret}")) && msg.contains("does not exist"),
        "{msg}"
    );
    assert_eq!(st["lastAppliedRevision"], good_rev.as_str(), "{st}");
    assert_eq!(cm_data(&ns, "app", "token").as_deref(), Some("s3cr3t"));

    let _ = kubectl(&["-n", "default", "delete", "configmap", &vars_cm]);
}

fn cm_data(ns: &str, name: &str, key: &str) -> Option<String> {
    get_object("configmap", Some(ns), name).and_then(|o| o["data"][key].as_str().map(str::to_owned))
}

/// A Deployment of one nginx container. The test control plane has no
/// scheduler or kubelet, so with `replicas > 0` it never becomes available.
fn deployment(ns: &str, name: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports:
            - containerPort: 80
              protocol: TCP
"#
    )
}

/// `config` with more keys in its `[[sync]]` table.
fn config_with(name: &str, url: &str, sync_keys: &str) -> String {
    config(name, url, &basic_auth())
        .replace("prune = true\n", &format!("prune = true\n{sync_keys}\n"))
}

#[test]
fn wait_names_the_deployment_that_is_not_available_and_still_records_the_revision() {
    let ns = unique("e2e-wait");
    let repo = TestRepo::new("wait");
    let sha = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/cm.yaml", Some(&configmap(&ns, "settings", "on"))),
            ("deploy/web.yaml", Some(&deployment(&ns, "web", 1))),
        ],
        "web",
    );
    let weir = Weir::new(&config_with(
        "wait",
        &basic_url(&repo),
        "wait = true\ntimeout = \"3s\"",
    ));
    let start = Instant::now();
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "returned before the timeout: {out:?}"
    );
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], false, "{st}");
    assert_eq!(st["reason"], "HealthCheckFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.contains("timed out after 3s"), "{msg}");
    assert!(
        msg.contains(&format!("Deployment/{ns}/web: 0/1 replicas available")),
        "{msg}"
    );
    assert!(
        !msg.contains("ConfigMap/"),
        "a ready object is named: {msg}"
    );
    // Applied all the same, as in Flux: the revision moves, Ready is False.
    assert_eq!(
        st["lastAppliedRevision"],
        format!("main@sha1:{sha}"),
        "{st}"
    );
    assert_eq!(cm_value(&ns, "settings").as_deref(), Some("on"));
    assert!(get_object("deployment", Some(&ns), "web").is_some());
}

#[test]
fn wait_succeeds_when_every_applied_object_is_ready() {
    let ns = unique("e2e-ready");
    let repo = TestRepo::new("ready");
    let sha = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/cm.yaml", Some(&configmap(&ns, "settings", "on"))),
            ("deploy/idle.yaml", Some(&deployment(&ns, "idle", 0))),
        ],
        "idle",
    );
    let weir = Weir::new(&config_with(
        "ready",
        &basic_url(&repo),
        "wait = true\ntimeout = \"60s\"",
    ));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    assert_eq!(st["reason"], "ReconciliationSucceeded", "{st}");
    assert_eq!(
        st["lastAppliedRevision"],
        format!("main@sha1:{sha}"),
        "{st}"
    );
}

/// `kubectl apply` of a manifest, through a file in the temporary directory.
fn kubectl_apply(manifest: &str) {
    let file = std::env::temp_dir().join(format!("{}.yaml", unique("weir-e2e-manifest")));
    std::fs::write(&file, manifest).expect("write manifest");
    let out = kubectl(&["apply", "-f", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.code, 0, "{out:?}");
}

/// Creates (idempotently) the cluster-wide CRD of `HealthWidget`, without a
/// status subresource so that a plain patch sets `status`.
fn health_widget_crd() {
    let crd = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: healthwidgets.e2e.weir.dev
spec:
  group: e2e.weir.dev
  scope: Namespaced
  names: {kind: HealthWidget, plural: healthwidgets, singular: healthwidget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;
    kubectl_apply(crd);
    let out = kubectl(&[
        "wait",
        "--for=condition=established",
        "--timeout=30s",
        "crd/healthwidgets.e2e.weir.dev",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
}

/// Sets a HealthWidget's `Ready` condition, creating the widget if needed.
fn set_widget_ready(ns: &str, name: &str, status: &str, reason: &str, message: &str) {
    if get_object("healthwidgets.e2e.weir.dev", Some(ns), name).is_none() {
        kubectl_apply(&format!(
            "apiVersion: e2e.weir.dev/v1\nkind: HealthWidget\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  size: 1\n"
        ));
    }
    let patch = serde_json::json!({"status": {"conditions": [
        {"type": "Ready", "status": status, "reason": reason, "message": message}
    ]}});
    let out = kubectl(&[
        "-n",
        ns,
        "patch",
        "healthwidgets.e2e.weir.dev",
        name,
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn health_checks_fail_fast_on_a_broken_custom_resource_and_pass_once_it_is_ready() {
    health_widget_crd();
    let ns = unique("e2e-hc");
    let out = kubectl(&["create", "namespace", &ns]);
    assert_eq!(out.code, 0, "{out:?}");
    let repo = TestRepo::new("hc");
    let sha = repo.commit(
        &[("deploy/cm.yaml", Some(&configmap(&ns, "settings", "on")))],
        "settings",
    );
    let weir = Weir::new(&config_with(
        "hc",
        &basic_url(&repo),
        &format!(
            "timeout = \"60s\"\nhealthChecks = [ {{ apiVersion = \"e2e.weir.dev/v1\", kind = \"HealthWidget\", name = \"w\", namespace = \"{ns}\" }} ]"
        ),
    ));

    // Missing: fails at once, naming it.
    let start = Instant::now();
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "did not fail fast"
    );
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "HealthCheckFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(&format!("HealthWidget/{ns}/w: not found")),
        "{msg}"
    );
    assert_eq!(
        st["lastAppliedRevision"],
        format!("main@sha1:{sha}"),
        "{st}"
    );

    // Ready=False: fails well before the timeout, with the reason.
    set_widget_ready(&ns, "w", "False", "Broken", "the widget is broken");
    let start = Instant::now();
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "did not fail fast"
    );
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "HealthCheckFailed", "{st}");
    assert_eq!(st["ready"], false, "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(&format!(
            "HealthWidget/{ns}/w: condition Ready=False: Broken: the widget is broken"
        )),
        "{msg}"
    );

    // Ready=True: the reconcile succeeds.
    set_widget_ready(&ns, "w", "True", "Fixed", "all good");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    assert_eq!(st["reason"], "ReconciliationSucceeded", "{st}");

    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn a_health_check_failure_names_every_object_that_is_not_ready() {
    let ns = unique("e2e-many");
    let repo = TestRepo::new("many");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/web.yaml", Some(&deployment(&ns, "web", 1))),
            ("deploy/api.yaml", Some(&deployment(&ns, "api", 2))),
            ("deploy/idle.yaml", Some(&deployment(&ns, "idle", 0))),
        ],
        "two failing",
    );
    let weir = Weir::new(&config_with(
        "many",
        &basic_url(&repo),
        "wait = true\ntimeout = \"3s\"",
    ));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "HealthCheckFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.contains("2 of 4 objects not ready"), "{msg}");
    assert!(
        msg.contains(&format!("Deployment/{ns}/web: 0/1 replicas available")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Deployment/{ns}/api: 0/2 replicas available")),
        "{msg}"
    );
    assert!(!msg.contains("/idle"), "a ready object is named: {msg}");
}

/// A ConfigMap with annotations, given as `key: value` YAML lines.
fn annotated_configmap(ns: &str, name: &str, value: &str, annotations: &[(&str, &str)]) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a.push_str(&format!("    {k}: {v:?}\n"));
    }
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations:\n{a}data:\n  value: {value:?}\n"
    )
}

fn action_of(status: &Value, object: &str) -> Option<String> {
    changes(status)
        .into_iter()
        .find(|(o, _)| o == object)
        .map(|(_, a)| a)
}

#[test]
fn if_not_present_creates_once_and_then_leaves_the_object_alone() {
    let ns = unique("e2e-ifnp");
    let repo = TestRepo::new("ifnp");
    let policy = [("kustomize.toolkit.fluxcd.io/ssa", "IfNotPresent")];
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            (
                "deploy/seed.yaml",
                Some(&annotated_configmap(&ns, "seed", "one", &policy)),
            ),
        ],
        "seed",
    );
    let weir = Weir::new(&config("ifnp", &basic_url(&repo), &basic_auth()));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let object = format!("ConfigMap/{ns}/seed");
    assert_eq!(
        action_of(&weir.statuses()[0], &object).as_deref(),
        Some("created")
    );
    assert_eq!(cm_value(&ns, "seed").as_deref(), Some("one"));

    // A new commit changes it, and someone edits the live object: neither
    // is applied, and the object stays in the inventory (not pruned).
    let out = kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "seed",
        "-p",
        r#"{"data":{"extra":"by-hand"}}"#,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    repo.commit(
        &[(
            "deploy/seed.yaml",
            Some(&annotated_configmap(&ns, "seed", "two", &policy)),
        )],
        "change seed",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    assert_eq!(action_of(st, &object).as_deref(), Some("skipped"), "{st}");
    assert_eq!(cm_value(&ns, "seed").as_deref(), Some("one"));
    assert_eq!(cm_data(&ns, "seed", "extra").as_deref(), Some("by-hand"));
    let in_inventory = st["inventory"]
        .as_array()
        .is_some_and(|i| i.iter().any(|e| e.to_string().contains("seed")));
    assert!(in_inventory, "{st}");

    // Deleted by hand: created again, from the current commit.
    let out = kubectl(&["-n", &ns, "delete", "configmap", "seed"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        action_of(&weir.statuses()[0], &object).as_deref(),
        Some("created")
    );
    assert_eq!(cm_value(&ns, "seed").as_deref(), Some("two"));
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn ignored_objects_are_never_applied() {
    let ns = unique("e2e-ignore");
    let repo = TestRepo::new("ignore");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/kept.yaml", Some(&configmap(&ns, "kept", "on"))),
            (
                "deploy/ignored.yaml",
                Some(&annotated_configmap(
                    &ns,
                    "ignored",
                    "on",
                    &[("sync.weir.dev/ssa", "Ignore")],
                )),
            ),
        ],
        "ignore",
    );
    let weir = Weir::new(&config("ignore", &basic_url(&repo), &basic_auth()));
    for _ in 0..2 {
        let out = weir.run(&["reconcile"]);
        assert_eq!(out.code, 0, "{out:?}");
        let st = &weir.statuses()[0];
        assert_eq!(st["ready"], true, "{st}");
        assert_eq!(
            action_of(st, &format!("ConfigMap/{ns}/ignored")).as_deref(),
            Some("skipped"),
            "{st}"
        );
        assert_eq!(
            cm_value(&ns, "ignored"),
            None,
            "an ignored object was applied"
        );
        assert_eq!(cm_value(&ns, "kept").as_deref(), Some("on"));
    }
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn an_unknown_apply_policy_fails_before_any_write_naming_object_file_and_values() {
    let ns = unique("e2e-badssa");
    let repo = TestRepo::new("badssa");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/fine.yaml", Some(&configmap(&ns, "fine", "on"))),
            (
                "deploy/odd.yaml",
                Some(&annotated_configmap(
                    &ns,
                    "odd",
                    "on",
                    &[("kustomize.toolkit.fluxcd.io/ssa", "Sometimes")],
                )),
            ),
        ],
        "bad policy",
    );
    let weir = Weir::new(&config("badssa", &basic_url(&repo), &basic_auth()));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "ApplyFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    for want in [
        "deploy/odd.yaml",
        &format!("ConfigMap/{ns}/odd"),
        "\"Sometimes\"",
        "Override, Merge, IfNotPresent or Ignore",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
    assert!(
        get_object("namespace", None, &ns).is_none(),
        "wrote before failing"
    );
}

#[test]
fn merge_keeps_fields_kubectl_added_while_override_reverts_them() {
    let ns = unique("e2e-merge");
    let repo = TestRepo::new("merge");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            (
                "deploy/merged.yaml",
                Some(&annotated_configmap(
                    &ns,
                    "merged",
                    "git",
                    &[("kustomize.toolkit.fluxcd.io/ssa", "Merge")],
                )),
            ),
            ("deploy/plain.yaml", Some(&configmap(&ns, "plain", "git"))),
        ],
        "merge",
    );
    let weir = Weir::new(&config("merge", &basic_url(&repo), &basic_auth()));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");

    // By hand: a label that git does not declare on both, and a change to
    // a field git declares on the merged one.
    for name in ["merged", "plain"] {
        let out = kubectl(&["-n", &ns, "label", "configmap", name, "extra=by-hand"]);
        assert_eq!(out.code, 0, "{out:?}");
    }
    let out = kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "merged",
        "-p",
        r#"{"data":{"value":"tampered"}}"#,
    ]);
    assert_eq!(out.code, 0, "{out:?}");

    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    let label = |name: &str| {
        get_object("configmap", Some(&ns), name)
            .and_then(|o| o["metadata"]["labels"]["extra"].as_str().map(str::to_owned))
    };
    // Merge: the added label stays; the declared field is restored.
    assert_eq!(label("merged").as_deref(), Some("by-hand"), "{st}");
    assert_eq!(cm_value(&ns, "merged").as_deref(), Some("git"));
    // Override (the default): the kubectl edit is reverted.
    assert_eq!(label("plain"), None, "{st}");
    assert_eq!(
        action_of(st, &format!("ConfigMap/{ns}/plain")).as_deref(),
        Some("configured"),
        "{st}"
    );
    let plain = get_object("configmap", Some(&ns), "plain").expect("plain exists");
    assert_eq!(plain["metadata"]["labels"]["sync.weir.dev/name"], "merge");

    // Nothing left to take over: the next reconcile writes nothing.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert!(
        changes(st).iter().all(|(_, a)| a == "unchanged"),
        "expected all unchanged: {st}"
    );
    assert_eq!(label("merged").as_deref(), Some("by-hand"));
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

/// A Job whose container prints `word`. The test control plane has no
/// scheduler, so it never runs, which does not matter here.
fn job(ns: &str, name: &str, word: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: {ns}
  annotations: {{{annotations}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: say
          image: busybox:1.36
          command: ["echo", "{word}"]
"#
    )
}

fn job_state(ns: &str, name: &str) -> (String, Value) {
    let j = get_object("job", Some(ns), name).expect("job exists");
    (
        j["metadata"]["uid"].as_str().unwrap_or("").to_owned(),
        j["spec"]["template"]["spec"]["containers"][0]["command"].clone(),
    )
}

#[test]
fn force_recreates_objects_whose_immutable_fields_changed() {
    let ns = unique("e2e-force");
    let repo = TestRepo::new("force");
    let forced = "kustomize.toolkit.fluxcd.io/force: Enabled";
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/plain.yaml", Some(&job(&ns, "plain", "one", ""))),
            (
                "deploy/forced.yaml",
                Some(&job(&ns, "forced", "one", forced)),
            ),
        ],
        "jobs",
    );
    let url = basic_url(&repo);
    let weir = Weir::new(&config("force", &url, &basic_auth()));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (plain_uid, _) = job_state(&ns, "plain");
    let (forced_uid, _) = job_state(&ns, "forced");

    // Both templates change. Without `force`, the plain Job fails the set
    // before any write, and the message says why and what to do.
    repo.commit(
        &[
            ("deploy/plain.yaml", Some(&job(&ns, "plain", "two", ""))),
            (
                "deploy/forced.yaml",
                Some(&job(&ns, "forced", "two", forced)),
            ),
        ],
        "new templates",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "ApplyFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    for want in [
        &format!("Job/{ns}/plain"),
        "deploy/plain.yaml",
        "field is immutable",
        "force = true",
        "kustomize.toolkit.fluxcd.io/force: enabled",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
    assert!(
        !msg.contains(&format!("Job/{ns}/forced")),
        "the annotated Job failed too: {msg}"
    );
    assert_eq!(
        job_state(&ns, "plain"),
        (plain_uid.clone(), serde_json::json!(["echo", "one"]))
    );
    assert_eq!(
        job_state(&ns, "forced"),
        (forced_uid.clone(), serde_json::json!(["echo", "one"]))
    );

    // With `force = true`: both are deleted and created again.
    std::fs::write(&weir.config, config_with("force", &url, "force = true"))
        .expect("rewrite config");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    for (name, old_uid) in [("plain", &plain_uid), ("forced", &forced_uid)] {
        let (uid, command) = job_state(&ns, name);
        assert_ne!(&uid, old_uid, "{name} was not recreated");
        assert_eq!(command, serde_json::json!(["echo", "two"]), "{name}");
        assert_eq!(
            action_of(st, &format!("Job/{ns}/{name}")).as_deref(),
            Some("configured"),
            "{st}"
        );
    }

    // And then it is stable: nothing to recreate.
    let (uid, _) = job_state(&ns, "plain");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        changes(&weir.statuses()[0])
            .iter()
            .all(|(_, a)| a == "unchanged"),
        "{:?}",
        weir.statuses()
    );
    assert_eq!(job_state(&ns, "plain").0, uid);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

/// One git source and two syncs of it, `app` (path `app`) declared before
/// `infra` (path `infra`); `app_keys` goes into `app`'s table, e.g. its
/// `dependsOn`.
fn app_and_infra(url: &str, app_keys: &str) -> String {
    format!(
        r#"version = 1

[[git]]
name = "repo"
url = "{url}"
ref = {{ branch = "main" }}
interval = "1s"
timeout = "20s"

[git.auth]
{auth}

[[sync]]
name = "app"
source = "repo"
path = "app"
interval = "1m"
prune = true
{app_keys}

[[sync]]
name = "infra"
source = "repo"
path = "infra"
interval = "1m"
prune = true
"#,
        auth = basic_auth()
    )
}

/// A repository whose `infra` creates namespace `ns` and whose `app`
/// creates a ConfigMap and a Service in it.
fn app_and_infra_repo(ns: &str) -> TestRepo {
    let repo = TestRepo::new("deps");
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  ports:\n    - port: 80\n      protocol: TCP\n"
    );
    repo.commit(
        &[
            ("infra/ns.yaml", Some(&namespace(ns))),
            ("app/cm.yaml", Some(&configmap(ns, "settings", "on"))),
            ("app/svc.yaml", Some(&service)),
        ],
        "infra and app",
    );
    repo
}

/// The sync statuses `weir reconcile -o json` printed, by name, in the
/// order it printed them.
fn printed(out: &weir_e2e::Output) -> Vec<(String, Value)> {
    let all: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("weir reconcile printed no JSON ({e}): {out:?}"));
    all.as_array()
        .map(|a| {
            a.iter()
                .map(|s| (s["name"].as_str().unwrap_or("").to_owned(), s.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn depends_on_reconciles_the_dependency_first_whatever_the_declaration_order() {
    // With dependsOn: infra is reconciled first, so the namespace exists
    // when app applies into it.
    let ns = unique("e2e-deps");
    let repo = app_and_infra_repo(&ns);
    let weir = Weir::new(&app_and_infra(&basic_url(&repo), "dependsOn = [\"infra\"]"));
    let out = weir.run(&["reconcile", "-o", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let names: Vec<String> = printed(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["infra", "app"], "{out:?}");
    let st = weir.statuses();
    assert_eq!(st[0]["name"], "app");
    assert_eq!(st[0]["ready"], true, "{st}");
    assert_eq!(st[1]["ready"], true, "{st}");
    assert_eq!(cm_value(&ns, "settings").as_deref(), Some("on"));
    assert!(get_object("service", Some(&ns), "web").is_some());

    // Without it, declaration order rules: app goes first and fails, since
    // its namespace does not exist yet. The ordering is what matters. (One
    // sync at a time: with host.concurrency above 1, syncs without
    // dependsOn run side by side and which one wins is a race.)
    let ns = unique("e2e-nodeps");
    let repo = app_and_infra_repo(&ns);
    let config = app_and_infra(&basic_url(&repo), "").replacen(
        "version = 1\n",
        "version = 1\n\n[host]\nconcurrency = 1\n",
        1,
    );
    assert!(config.contains("concurrency = 1"), "{config}");
    let weir = Weir::new(&config);
    let out = weir.run(&["reconcile", "-o", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let names: Vec<String> = printed(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["app", "infra"], "{out:?}");
    let st = weir.statuses();
    assert_eq!(st[0]["ready"], false, "{st}");
    assert_eq!(st[0]["reason"], "ApplyFailed", "{st}");
    let msg = st[0]["message"].as_str().unwrap_or("");
    assert!(msg.contains(&ns), "{msg}");
    assert_eq!(st[1]["ready"], true, "{st}");
    assert_eq!(cm_value(&ns, "settings"), None);
}

#[test]
fn a_broken_dependency_holds_its_dependants_until_it_is_fixed() {
    let ns = unique("e2e-depbad");
    let repo = app_and_infra_repo(&ns);
    repo.commit(
        &[(
            "infra/broken.yaml",
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [1,\n"),
        )],
        "break infra",
    );
    let weir = Weir::new(&app_and_infra(&basic_url(&repo), "dependsOn = [\"infra\"]"));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("DependencyNotReady"), "{out:?}");
    let st = weir.statuses();
    let (app, infra) = (&st[0], &st[1]);
    assert_eq!(infra["reason"], "BuildFailed", "{infra}");
    assert_eq!(app["ready"], false, "{app}");
    assert_eq!(app["reason"], "DependencyNotReady", "{app}");
    let msg = app["message"].as_str().unwrap_or("");
    assert!(
        msg.starts_with("dependency \"infra\" is not ready: BuildFailed: "),
        "{msg}"
    );
    assert!(msg.contains("infra/broken.yaml"), "{msg}");
    // Nothing of app was rendered nor applied.
    assert_eq!(app["lastAppliedRevision"], Value::Null, "{app}");
    assert_eq!(app["lastAttemptedRevision"], Value::Null, "{app}");
    assert_eq!(get_object("namespace", None, &ns), None);
    assert_eq!(cm_value(&ns, "settings"), None);

    // Alone, app is judged by infra's recorded status.
    let out = weir.run(&["reconcile", "--sync", "app"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(weir.statuses()[0]["reason"], "DependencyNotReady");

    // Fixed: both apply, in order, in one pass.
    let fixed = repo.commit(&[("infra/broken.yaml", None)], "fix infra");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = weir.statuses();
    for s in st.as_array().into_iter().flatten() {
        assert_eq!(s["ready"], true, "{s}");
        assert_eq!(s["lastAppliedRevision"], format!("main@sha1:{fixed}"));
    }
    assert_eq!(cm_value(&ns, "settings").as_deref(), Some("on"));
}

#[test]
fn a_dependency_cycle_is_a_config_error_naming_the_cycle() {
    let repo = TestRepo::new("depcycle");
    let text = app_and_infra(&basic_url(&repo), "dependsOn = [\"infra\"]").replace(
        "path = \"infra\"",
        "path = \"infra\"\ndependsOn = [\"app\"]",
    );
    let weir = Weir::new(&text);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("dependsOn forms a cycle: app -> infra -> app"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&weir.config.display().to_string()),
        "{out:?}"
    );
}

#[test]
fn run_holds_a_dependant_until_its_dependency_is_ready_then_applies_it() {
    let ns = unique("e2e-deprun");
    let repo = app_and_infra_repo(&ns);
    repo.commit(&[("infra/broken.yaml", Some("kind: [\n"))], "break infra");
    let weir = Weir::new(&app_and_infra(&basic_url(&repo), "dependsOn = [\"infra\"]"));
    let mut child = weir
        .command()
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start weir run");
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    wait_for("app held for infra", &|| {
        let st = weir.statuses();
        st[0]["reason"] == "DependencyNotReady" && st[1]["reason"] == "BuildFailed"
    });
    assert_eq!(cm_value(&ns, "settings"), None);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "weir run exited"
    );

    repo.commit(&[("infra/broken.yaml", None)], "fix infra");
    wait_for("app applied once infra is ready", &|| {
        cm_value(&ns, "settings").as_deref() == Some("on")
    });
    // The ConfigMap is applied before the status is written: wait for it.
    wait_for("app's status ready", &|| {
        weir.statuses()[0]["ready"] == true
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// The condition of a type in a status, when set.
fn condition<'a>(st: &'a Value, kind: &str) -> Option<&'a Value> {
    st["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// `(status, reason)` of a condition, or `None` when it is not set.
fn cond(st: &Value, kind: &str) -> Option<(String, String)> {
    condition(st, kind).map(|c| {
        (
            c["status"].as_str().unwrap_or("").to_owned(),
            c["reason"].as_str().unwrap_or("").to_owned(),
        )
    })
}

fn pair(status: &str, reason: &str) -> Option<(String, String)> {
    Some((status.to_owned(), reason.to_owned()))
}

/// The Events weir recorded about sync `name`, oldest first.
fn events_of(name: &str) -> Vec<Value> {
    weir_e2e::events_of("Sync", name)
}

#[test]
fn conditions_follow_flux_stall_on_terminal_errors_and_events_tell_what_changed() {
    let name = unique("cond");
    let ns = unique("e2e-cond");
    let repo = TestRepo::new("cond");
    let v1 = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "one"))),
        ],
        "v1",
    );
    let weir = Weir::new(&config(&name, &basic_url(&repo), &basic_auth()));

    // `weir reconcile NAME` reconciles that sync now.
    let out = weir.run(&["reconcile", &name]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(
        cond(st, "Ready"),
        pair("True", "ReconciliationSucceeded"),
        "{st}"
    );
    assert_eq!(cond(st, "Reconciling"), None, "{st}");
    assert_eq!(cond(st, "Stalled"), None, "{st}");
    let since = &condition(st, "Ready").expect("ready")["lastTransitionTime"];
    assert!(since.as_str().is_some_and(|t| t.ends_with('Z')), "{st}");
    let events = events_of(&name);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["type"], "Normal");
    assert_eq!(e["reason"], "ReconciliationSucceeded");
    assert_eq!(e["involvedObject"]["apiVersion"], "sync.weir.dev/v1");
    assert_eq!(
        e["metadata"]["annotations"]["sync.weir.dev/revision"],
        format!("main@sha1:{v1}")
    );
    let msg = e["message"].as_str().unwrap_or("");
    assert!(msg.contains(&format!("ConfigMap/{ns}/a created")), "{msg}");
    assert!(msg.contains(&format!("Namespace/{ns} created")), "{msg}");

    // Nothing changed: no event.
    assert_eq!(weir.run(&["reconcile", &name]).code, 0);
    assert_eq!(events_of(&name).len(), 1, "an unchanged reconcile spoke");

    // A terminal error (malformed YAML: retrying cannot fix it) stalls.
    repo.commit(&[("deploy/broken.yaml", Some("kind: [\n"))], "broken");
    let out = weir.run(&["reconcile", &name]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(cond(st, "Ready"), pair("False", "BuildFailed"), "{st}");
    assert_eq!(cond(st, "Stalled"), pair("True", "BuildFailed"), "{st}");
    assert_eq!(cond(st, "Reconciling"), None, "{st}");
    assert_eq!(st["failures"], 1, "{st}");
    let table = weir.run(&["get"]);
    assert!(table.stdout.contains("False (stalled)"), "{table:?}");
    let events = events_of(&name);
    let last = events.last().expect("an event");
    assert_eq!(last["type"], "Warning", "{last}");
    assert_eq!(last["reason"], "BuildFailed", "{last}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("deploy/broken.yaml")),
        "{last}"
    );

    // A transient error (a namespace that may yet be created) retries.
    let later = format!("{ns}-later");
    repo.commit(
        &[
            ("deploy/broken.yaml", None),
            ("deploy/late.yaml", Some(&configmap(&later, "late", "x"))),
        ],
        "needs a namespace",
    );
    let out = weir.run(&["reconcile", &name]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(cond(st, "Ready"), pair("False", "ApplyFailed"), "{st}");
    assert_eq!(
        cond(st, "Reconciling"),
        pair("True", "ProgressingWithRetry"),
        "{st}"
    );
    assert_eq!(cond(st, "Stalled"), None, "{st}");
    assert_eq!(st["failures"], 2, "{st}");
    let table = weir.run(&["get"]);
    assert!(table.stdout.contains("False (retrying)"), "{table:?}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(&format!("namespace \"{later}\" does not exist")),
        "{msg}"
    );

    // Once the namespace exists, the same revision applies.
    assert_eq!(kubectl(&["create", "namespace", &later]).code, 0);
    let out = weir.run(&["reconcile", &name]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(cond(st, "Ready").map(|c| c.0), Some("True".into()), "{st}");
    assert_eq!(st["failures"], 0, "{st}");
    assert_eq!(st["conditions"].as_array().map(Vec::len), Some(1), "{st}");
    let last = events_of(&name).pop().expect("an event");
    assert_eq!(last["type"], "Normal", "{last}");
    let _ = kubectl(&["delete", "namespace", &ns, &later, "--wait=false"]);
}

/// `weir run` with this config, output discarded; killed on drop.
struct Daemon(std::process::Child);

impl Daemon {
    fn start(weir: &Weir, extra: &[&str]) -> Self {
        let child = weir
            .command()
            .args(extra)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start weir run");
        Daemon(child)
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_stalls_on_a_terminal_error_and_retries_a_transient_one_until_it_clears() {
    let ns = unique("e2e-retry");
    let repo = TestRepo::new("retry");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "v1"))),
        ],
        "v1",
    );
    // A long interval: whatever happens in this test is a retry or a new
    // revision, never the interval.
    let toml = config("retry", &basic_url(&repo), &basic_auth()).replace(
        "interval = \"2s\"\nprune",
        "interval = \"1h\"\nretryInterval = \"2s\"\nprune",
    );
    assert!(toml.contains("retryInterval"), "{toml}");
    let weir = Weir::new(&toml);
    let mut daemon = Daemon::start(&weir, &[]);
    weir_e2e::wait_for("v1 applied", 60, &|| {
        cm_value(&ns, "a").as_deref() == Some("v1")
    });

    let bad = repo.commit(&[("deploy/bad.yaml", Some("kind: [\n"))], "bad");
    weir_e2e::wait_for("the bad revision to stall", 30, &|| {
        let st = &weir.statuses()[0];
        st["lastAttemptedRevision"] == format!("main@sha1:{bad}") && cond(st, "Stalled").is_some()
    });
    let stalled = weir.statuses()[0].clone();
    std::thread::sleep(Duration::from_secs(5));
    let st = &weir.statuses()[0];
    assert_eq!(
        st["lastAttemptAt"], stalled["lastAttemptAt"],
        "a stalled sync was retried: {st}"
    );
    assert_eq!(st["failures"], 1, "{st}");
    assert!(daemon.running(), "weir run exited");

    // A transient failure: retried every 2s with no new revision, and
    // applied as soon as the namespace appears.
    let later = format!("{ns}-later");
    repo.commit(
        &[
            ("deploy/bad.yaml", None),
            ("deploy/late.yaml", Some(&configmap(&later, "late", "x"))),
        ],
        "needs a namespace",
    );
    weir_e2e::wait_for("retries of the transient failure", 30, &|| {
        let st = &weir.statuses()[0];
        cond(st, "Reconciling") == pair("True", "ProgressingWithRetry")
            && st["failures"].as_u64().is_some_and(|n| n >= 3)
    });
    assert_eq!(kubectl(&["create", "namespace", &later]).code, 0);
    weir_e2e::wait_for(
        "the late object applied without a new revision",
        30,
        &|| cm_value(&later, "late").is_some() && weir.statuses()[0]["ready"] == true,
    );
    drop(daemon);
    let _ = kubectl(&["delete", "namespace", &ns, &later, "--wait=false"]);
}

/// An object without the metadata weir and kustomize set differently
/// (labels, annotations), for comparing the two.
fn without_labels(mut o: Value) -> Value {
    if let Some(m) = o["metadata"].as_object_mut() {
        m.remove("labels");
        m.remove("annotations");
    }
    o
}

#[test]
fn name_prefix_and_suffix_match_kustomize_and_common_metadata_labels_every_object() {
    let ns = unique("e2e-affix");
    let files = [
        ("ns.yaml", namespace(&ns)),
        ("cfg.yaml", configmap(&ns, "cfg", "v")),
        (
            "sa.yaml",
            format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n  namespace: {ns}\n"
            ),
        ),
        (
            "web.yaml",
            format!(
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  replicas: 0
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      serviceAccountName: sa
      volumes:
        - {{name: c, configMap: {{name: cfg}}}}
        - {{name: o, configMap: {{name: not-in-this-sync}}}}
      containers:
        - name: web
          image: nginx:1.25
          envFrom: [{{configMapRef: {{name: cfg}}}}]
"#
            ),
        ),
        (
            "svc.yaml",
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector: {{app: web}}\n  ports:\n    - {{port: 80, protocol: TCP}}\n"
            ),
        ),
        (
            "ingress.yaml",
            format!(
                r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: {ns}
spec:
  rules:
    - http:
        paths:
          - path: /
            pathType: Prefix
            backend: {{service: {{name: web, port: {{number: 80}}}}}}
"#
            ),
        ),
        (
            "rbac.yaml",
            format!(
                r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {ns}}}
rules: [{{apiGroups: [""], resources: [configmaps], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects: [{{kind: ServiceAccount, name: sa, namespace: {ns}}}]
"#
            ),
        ),
    ];
    let repo = TestRepo::new("affix");
    let paths: Vec<String> = files.iter().map(|(f, _)| format!("deploy/{f}")).collect();
    let commit: Vec<(&str, Option<&str>)> = paths
        .iter()
        .zip(&files)
        .map(|(p, (_, c))| (p.as_str(), Some(c.as_str())))
        .collect();
    repo.commit(&commit, "app");
    let weir = Weir::new(&config_with(
        "affix",
        &basic_url(&repo),
        "namePrefix = \"pre-\"\nnameSuffix = \"-suf\"\ncommonMetadata = { labels = { team = \"blue\" }, annotations = { owner = \"ops\" } }",
    ));

    // The oracle: kustomize (kubectl kustomize, v5.5) with the same
    // prefix and suffix.
    let dir = tempfile::tempdir().expect("tmp");
    for (f, c) in &files {
        std::fs::write(dir.path().join(f), c).expect("write");
    }
    let resources: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "namePrefix: pre-\nnameSuffix: -suf\nresources: [{}]\n",
            resources.join(", ")
        ),
    )
    .expect("write");
    let out = kubectl(&["kustomize", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.code, 0, "{out:?}");
    let want = yaml_to_json(&out.stdout);
    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let got: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(got.len(), want.len(), "{got:?}");
    for w in &want {
        let id = (&w["kind"], &w["metadata"]["name"]);
        let g = got
            .iter()
            .find(|g| (&g["kind"], &g["metadata"]["name"]) == id)
            .unwrap_or_else(|| panic!("weir build has no {id:?}: {got:?}"));
        assert_eq!(
            without_labels(g.clone()),
            without_labels(w.clone()),
            "{id:?}"
        );
        // commonMetadata: on metadata, overriding, nowhere else.
        assert_eq!(g["metadata"]["labels"]["team"], "blue", "{id:?}");
        assert_eq!(g["metadata"]["annotations"]["owner"], "ops", "{id:?}");
    }

    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let web = get_object("deployment", Some(&ns), "pre-web-suf").expect("renamed deployment");
    assert_eq!(web["metadata"]["labels"]["team"], "blue");
    assert_eq!(web["metadata"]["labels"]["app"], "web");
    assert_eq!(web["metadata"]["labels"]["sync.weir.dev/name"], "affix");
    assert_eq!(web["metadata"]["annotations"]["owner"], "ops");
    assert_eq!(
        web["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app": "web"})
    );
    assert_eq!(
        web["spec"]["template"]["metadata"]["labels"],
        serde_json::json!({"app": "web"})
    );
    let spec = &web["spec"]["template"]["spec"];
    assert_eq!(spec["serviceAccountName"], "pre-sa-suf");
    assert_eq!(spec["volumes"][0]["configMap"]["name"], "pre-cfg-suf");
    assert_eq!(spec["volumes"][1]["configMap"]["name"], "not-in-this-sync");
    assert!(
        get_object("namespace", None, &ns).is_some(),
        "a namespace keeps its name"
    );
    assert!(get_object("configmap", Some(&ns), "cfg").is_none());
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

/// A sync table for the deletion policy test: `path` under `deploy/`.
fn sync_table(name: &str, source: &str, keys: &str) -> String {
    format!(
        "\n[[sync]]\nname = \"{name}\"\nsource = \"{source}\"\npath = \"deploy/{name}\"\ninterval = \"1h\"\n{keys}\n"
    )
}

fn status_file(weir: &Weir, name: &str) -> std::path::PathBuf {
    weir.dir.path().join(format!(".weir/syncs/{name}.json"))
}

#[test]
fn removed_syncs_are_cleaned_up_as_their_deletion_policy_says() {
    let ns = unique("e2e-del");
    let repo = TestRepo::new("del");
    let held = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w\n  namespace: {ns}\n  finalizers: [example.com/hold]\ndata:\n  value: w\n"
    );
    repo.commit(
        &[
            ("deploy/base/ns.yaml", Some(&namespace(&ns))),
            ("deploy/mirror/m.yaml", Some(&configmap(&ns, "m", "m"))),
            ("deploy/orphan/o.yaml", Some(&configmap(&ns, "o", "o"))),
            ("deploy/keep/k.yaml", Some(&configmap(&ns, "k", "k"))),
            ("deploy/deleted/d.yaml", Some(&configmap(&ns, "d", "d"))),
            ("deploy/wait/w.yaml", Some(&held)),
        ],
        "five syncs",
    );
    let head = config("src", &basic_url(&repo), &basic_auth());
    // `config` declares a sync named like the source; keep only the source.
    let head = head[..head.find("[[sync]]").expect("a sync")].to_owned();
    let base = sync_table("base", "src", "prune = true");
    let all = [
        head.clone(),
        base.clone(),
        sync_table("mirror", "src", "prune = true\ndependsOn = [\"base\"]"),
        sync_table(
            "orphan",
            "src",
            "prune = true\ndeletionPolicy = \"Orphan\"\ndependsOn = [\"base\"]",
        ),
        sync_table("keep", "src", "prune = false\ndependsOn = [\"base\"]"),
        sync_table(
            "deleted",
            "src",
            "prune = false\ndeletionPolicy = \"Delete\"\ndependsOn = [\"base\"]",
        ),
        sync_table(
            "wait",
            "src",
            "prune = true\ndeletionPolicy = \"WaitForTermination\"\ntimeout = \"3s\"\ndependsOn = [\"base\"]",
        ),
    ]
    .concat();
    let weir = Weir::new(&all);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    for cm in ["m", "o", "k", "d", "w"] {
        assert!(cm_value(&ns, cm).is_some(), "{cm} not applied");
    }

    // Only `base` is left in the config.
    std::fs::write(&weir.config, format!("{head}{base}")).expect("rewrite config");
    // A reconcile of one sync does not treat the others as removed.
    let out = weir.run(&["reconcile", "base"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        cm_value(&ns, "m").is_some(),
        "reconcile NAME removed a sync"
    );
    assert!(status_file(&weir, "mirror").exists());

    let start = Instant::now();
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(start.elapsed() >= Duration::from_secs(3), "did not wait");
    assert_eq!(cm_value(&ns, "m"), None, "MirrorPrune with prune: deleted");
    assert_eq!(
        cm_value(&ns, "d"),
        None,
        "Delete: deleted even without prune"
    );
    assert!(cm_value(&ns, "o").is_some(), "Orphan: kept");
    assert!(
        cm_value(&ns, "k").is_some(),
        "MirrorPrune without prune: kept"
    );
    for gone in ["mirror", "orphan", "keep", "deleted"] {
        assert!(!status_file(&weir, gone).exists(), "{gone} status kept");
    }
    // WaitForTermination: the finalizer holds the object; it stays in the
    // inventory and the status says which object and why.
    let w = get_object("configmap", Some(&ns), "w").expect("held by its finalizer");
    assert!(w["metadata"]["deletionTimestamp"].is_string(), "{w}");
    let st: Value = serde_json::from_slice(
        &std::fs::read(status_file(&weir, "wait")).expect("wait status kept"),
    )
    .expect("status JSON");
    assert_eq!(st["reason"], "PruneFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(msg.contains("still terminating after 3s"), "{msg}");
    assert!(msg.contains(&format!("ConfigMap/{ns}/w")), "{msg}");
    assert_eq!(st["inventory"].as_array().map(Vec::len), Some(1), "{st}");

    // Once the finalizer is done, the next pass confirms it and forgets it.
    let out = kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "w",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!status_file(&weir, "wait").exists(), "wait status kept");
    assert_eq!(cm_value(&ns, "w"), None);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

#[test]
fn a_service_account_sync_may_only_touch_what_rbac_grants_it() {
    let tenant = unique("e2e-tenant");
    let other = unique("e2e-other");
    kubectl_apply(&format!(
        r#"{}---
{}---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: deployer, namespace: {tenant}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: deployer, namespace: {tenant}}}
rules: [{{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: deployer, namespace: {tenant}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}
subjects: [{{kind: ServiceAccount, name: deployer, namespace: {tenant}}}]
"#,
        namespace(&tenant),
        namespace(&other)
    ));
    let repo = TestRepo::new("tenant");
    repo.commit(
        &[
            ("deploy/a.yaml", Some(&configmap(&tenant, "a", "mine"))),
            ("deploy/z.yaml", Some(&configmap(&other, "z", "not mine"))),
        ],
        "one object outside the tenant",
    );
    let weir = Weir::new(&config_with(
        "tenant",
        &basic_url(&repo),
        &format!("serviceAccountName = \"{tenant}/deployer\""),
    ));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "ApplyFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(&format!("deploy/z.yaml: ConfigMap/{other}/z")),
        "{msg}"
    );
    assert!(msg.contains("forbidden"), "{msg}");
    assert!(
        msg.contains(&format!("system:serviceaccount:{tenant}:deployer")),
        "{msg}"
    );
    assert!(!msg.contains(&format!("ConfigMap/{tenant}/a")), "{msg}");
    assert_eq!(cm_value(&tenant, "a"), None, "half-applied");
    assert_eq!(cm_value(&other, "z"), None);

    // Within its namespace, it applies (as the service account: the
    // object's managers name weir, and RBAC allowed it).
    repo.commit(&[("deploy/z.yaml", None)], "tenant only");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cm_value(&tenant, "a").as_deref(), Some("mine"));
    let _ = kubectl(&["delete", "namespace", &tenant, &other, "--wait=false"]);
}

#[test]
fn a_sync_with_a_kubeconfig_applies_to_that_cluster_from_the_same_host() {
    let remote = weir_e2e::kube2();
    let remote_kc = var(remote, "KUBECONFIG").to_owned();
    let ns = unique("e2e-remote");
    let repo = TestRepo::new("remote");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "remote"))),
            ("local/a.yaml", Some(&configmap("default", &ns, "local"))),
        ],
        "remote and local",
    );
    let toml = config_with(
        "remote",
        &basic_url(&repo),
        &format!("kubeConfig = {{ path = \"{remote_kc}\" }}"),
    ) + "\n[[sync]]\nname = \"local\"\nsource = \"remote\"\npath = \"local\"\nprune = true\n";
    let weir = Weir::new(&toml);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let on_remote = weir_e2e::kubectl_with(
        &remote_kc,
        &["-n", &ns, "get", "configmap", "a", "-o", "json"],
    );
    assert_eq!(on_remote.code, 0, "{on_remote:?}");
    let a: Value = serde_json::from_str(&on_remote.stdout).expect("JSON");
    assert_eq!(a["data"]["value"], "remote");
    assert!(
        get_object("namespace", None, &ns).is_none(),
        "applied to the host's cluster"
    );
    assert_eq!(cm_value("default", &ns).as_deref(), Some("local"));

    // Prune works there too.
    repo.commit(&[("deploy/a.yaml", None)], "drop a");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let gone = weir_e2e::kubectl_with(&remote_kc, &["-n", &ns, "get", "configmap", "a"]);
    assert_ne!(gone.code, 0, "a was not pruned on the remote cluster");
    let _ = weir_e2e::kubectl_with(&remote_kc, &["delete", "namespace", &ns, "--wait=false"]);
    let _ = kubectl(&["-n", "default", "delete", "configmap", &ns]);
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` with `secret`, computed by
/// openssl, independently of weir.
fn openssl_signature(secret: &str, body: &str) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(body.as_bytes()).expect("write body");
    }
    let out = child.wait_with_output().expect("openssl output");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.rsplit("= ").next().expect("a digest").trim();
    format!("sha256={hex}")
}

/// POSTs `body` with `headers` to `url` with curl; returns the HTTP status.
fn post(url: &str, headers: &[String], body: &str) -> String {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.args(["--data-binary", body, url]);
    weir_e2e::run(&mut cmd)
}

#[test]
fn a_signed_push_webhook_fetches_at_once_and_bad_signatures_are_refused_and_counted() {
    let ns = unique("e2e-hook");
    let repo = TestRepo::new("hook");
    repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "v1"))),
        ],
        "v1",
    );
    let port = dead_port();
    let secret = "hook-s3cret";
    // Intervals of an hour: anything that happens within the test was
    // triggered by a webhook.
    let toml = config("hook", &basic_url(&repo), &basic_auth())
        .replace("interval = \"1s\"", "interval = \"1h\"")
        .replace("interval = \"2s\"", "interval = \"1h\"")
        .replace(
            "clusterName = \"e2e\"",
            &format!("clusterName = \"e2e\"\nreceiverAddress = \"127.0.0.1:{port}\""),
        )
        + r#"
[[receiver]]
name = "github"
type = "github"
secretFile = "hook-secret"
sources = ["hook"]
events = ["push"]

[[receiver]]
name = "gitlab"
type = "gitlab"
secretFile = "hook-secret"
sources = ["hook"]

[[receiver]]
name = "generic"
type = "generic-hmac"
secretFile = "hook-secret"
sources = ["hook"]
"#;
    let weir = Weir::new(&toml);
    std::fs::write(weir.dir.path().join("hook-secret"), format!("{secret}\n")).expect("secret");
    let _daemon = Daemon::start(&weir, &[]);
    weir_e2e::wait_for("v1 applied", 60, &|| {
        cm_value(&ns, "a").as_deref() == Some("v1")
    });
    let base = format!("http://127.0.0.1:{port}");
    let body = r#"{"ref":"refs/heads/main"}"#;
    let push = "X-GitHub-Event: push".to_owned();

    // Refused: a wrong signature, none at all, a wrong GitLab token, a
    // generic hook signed with another secret.
    repo.commit(&[("deploy/a.yaml", Some(&configmap(&ns, "a", "v2")))], "v2");
    let forged = format!("X-Hub-Signature-256: {}", openssl_signature("guess", body));
    assert_eq!(
        post(
            &format!("{base}/hook/github"),
            &[forged, push.clone()],
            body
        ),
        "401"
    );
    assert_eq!(
        post(
            &format!("{base}/hook/github"),
            std::slice::from_ref(&push),
            body
        ),
        "401"
    );
    let token = "X-Gitlab-Token: wrong".to_owned();
    assert_eq!(post(&format!("{base}/hook/gitlab"), &[token], body), "401");
    let other = format!("X-Signature: {}", openssl_signature("other", body));
    assert_eq!(post(&format!("{base}/hook/generic"), &[other], body), "401");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        cm_value(&ns, "a").as_deref(),
        Some("v1"),
        "a refused hook fetched"
    );

    // Accepted: GitHub's signature fetches the new revision at once.
    let signed = format!("X-Hub-Signature-256: {}", openssl_signature(secret, body));
    assert_eq!(
        post(&format!("{base}/hook/github"), &[signed, push], body),
        "202"
    );
    weir_e2e::wait_for("v2 applied after the push hook", 30, &|| {
        cm_value(&ns, "a").as_deref() == Some("v2")
    });
    // GitLab's token and the generic signature work as well.
    repo.commit(&[("deploy/a.yaml", Some(&configmap(&ns, "a", "v3")))], "v3");
    let token = format!("X-Gitlab-Token: {secret}");
    assert_eq!(post(&format!("{base}/hook/gitlab"), &[token], body), "202");
    weir_e2e::wait_for("v3 applied after the GitLab hook", 30, &|| {
        cm_value(&ns, "a").as_deref() == Some("v3")
    });
    repo.commit(&[("deploy/a.yaml", Some(&configmap(&ns, "a", "v4")))], "v4");
    let generic = format!("X-Signature: {}", openssl_signature(secret, body));
    assert_eq!(
        post(&format!("{base}/hook/generic"), &[generic], body),
        "202"
    );
    weir_e2e::wait_for("v4 applied after the generic hook", 30, &|| {
        cm_value(&ns, "a").as_deref() == Some("v4")
    });

    let metrics =
        weir_e2e::run(std::process::Command::new("curl").args(["-s", &format!("{base}/metrics")]));
    for line in [
        "receiver=\"github\",outcome=\"rejected\"} 2",
        "receiver=\"github\",outcome=\"accepted\"} 1",
        "receiver=\"gitlab\",outcome=\"rejected\"} 1",
        "receiver=\"generic\",outcome=\"rejected\"} 1",
        "receiver=\"generic\",outcome=\"accepted\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}

/// A TCP forwarder on 127.0.0.1 to an upstream address that can change:
/// weir keeps one API server URL while the control plane behind it is
/// stopped and started again (on new ports, as `kube.sh` restarts it).
struct Forwarder {
    port: u16,
    upstream: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Forwarder {
    fn new(upstream: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let upstream = std::sync::Arc::new(std::sync::Mutex::new(upstream.to_owned()));
        let target = std::sync::Arc::clone(&upstream);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let to = target.lock().map(|t| t.clone()).unwrap_or_default();
                let Ok(server) = std::net::TcpStream::connect(&to) else {
                    continue; // the API server is down: the client sees a reset
                };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                };
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    pipe(client, s2);
                    pipe(server, c2);
                }
            }
        });
        Forwarder { port, upstream }
    }

    fn point_to(&self, upstream: &str) {
        if let Ok(mut u) = self.upstream.lock() {
            *u = upstream.to_owned();
        }
    }
}

/// `host:port` of a control plane's API server, from its env file.
fn api_address(dir: &std::path::Path) -> String {
    let env = weir_e2e::read_env_file(&dir.join("env"));
    var(&env, "WEIR_KUBE_SERVER")
        .trim_start_matches("https://")
        .to_owned()
}

fn kube_sh(action: &str, dir: &std::path::Path) {
    weir_e2e::run(
        std::process::Command::new("bash")
            .arg(weir_e2e::repo_root().join("scripts/kube.sh"))
            .arg(action)
            .arg(dir),
    );
}

/// Stops the control plane in its directory when the test ends, however.
struct ControlPlane(std::path::PathBuf);

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(weir_e2e::repo_root().join("scripts/kube.sh"))
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

#[test]
fn an_api_server_restart_in_the_middle_of_a_reconcile_loses_nothing() {
    // A control plane of its own: the other tests keep theirs.
    let dir = tempfile::tempdir().expect("tmp");
    let plane = ControlPlane(dir.path().join("kube"));
    kube_sh("start", &plane.0);
    let forwarder = Forwarder::new(&api_address(&plane.0));
    let kc = std::fs::read_to_string(plane.0.join("kubeconfig")).expect("kubeconfig");
    let server = format!("https://{}", api_address(&plane.0));
    assert!(kc.contains(&server), "kubeconfig does not name {server}");
    let proxied = dir.path().join("proxied.kubeconfig");
    std::fs::write(
        &proxied,
        kc.replace(&server, &format!("https://127.0.0.1:{}", forwarder.port)),
    )
    .expect("write kubeconfig");
    let direct = || plane.0.join("kubeconfig").to_string_lossy().into_owned();
    let cm_on = |name: &str| -> Option<String> {
        let out = weir_e2e::kubectl_with(
            &direct(),
            &["-n", "restart", "get", "configmap", name, "-o", "json"],
        );
        (out.code == 0)
            .then(|| serde_json::from_str::<Value>(&out.stdout).ok())
            .flatten()
            .and_then(|v| v["data"]["value"].as_str().map(str::to_owned))
    };

    // Many objects, so that the reconcile of v2 takes a while.
    const N: usize = 150;
    let files = |v: &str| -> Vec<(String, String)> {
        let mut f = vec![("deploy/ns.yaml".to_owned(), namespace("restart"))];
        f.extend((0..N).map(|i| {
            (
                format!("deploy/c{i}.yaml"),
                configmap("restart", &format!("c{i}"), v),
            )
        }));
        f
    };
    let repo = TestRepo::new("restart");
    let commit = |v: &str| {
        let f = files(v);
        let refs: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|(p, c)| (p.as_str(), Some(c.as_str())))
            .collect();
        repo.commit(&refs, v)
    };
    commit("v1");
    let toml = config("restart", &basic_url(&repo), &basic_auth()).replace(
        "interval = \"2s\"\nprune",
        "interval = \"1h\"\nretryInterval = \"2s\"\nprune",
    );
    let weir = Weir::new(&toml);
    let proxied_arg = proxied.to_string_lossy().into_owned();
    let _daemon = Daemon::start(&weir, &["--kubeconfig", &proxied_arg]);
    weir_e2e::wait_for("v1 applied", 120, &|| weir.statuses()[0]["ready"] == true);

    let v2 = format!("main@sha1:{}", commit("v2"));
    weir_e2e::wait_for("the reconcile of v2 to start", 60, &|| {
        let st = &weir.statuses()[0];
        st["lastAttemptedRevision"] == v2.as_str()
    });
    // Stopped while weir says it is reconciling v2.
    let st = weir.statuses()[0].clone();
    kube_sh("stop", &plane.0);
    assert_eq!(
        cond(&st, "Reconciling"),
        pair("True", "Progressing"),
        "v2 finished before the API server stopped: {st}"
    );
    std::thread::sleep(Duration::from_secs(3));
    kube_sh("start", &plane.0);
    forwarder.point_to(&api_address(&plane.0));

    weir_e2e::wait_for("v2 applied after the restart", 120, &|| {
        let st = &weir.statuses()[0];
        st["ready"] == true && st["lastAppliedRevision"] == v2.as_str()
    });
    for i in 0..N {
        assert_eq!(cm_on(&format!("c{i}")).as_deref(), Some("v2"), "c{i}");
    }
    let st = &weir.statuses()[0];
    assert_eq!(
        st["inventory"].as_array().map(Vec::len),
        Some(N + 1),
        "{st}"
    );
}

#[test]
fn a_failing_source_keeps_its_syncs_on_the_last_good_artifact_and_correcting_drift() {
    let ns = unique("e2e-lastgood");
    let repo = TestRepo::new("lastgood");
    let sha = repo.commit(
        &[
            ("deploy/ns.yaml", Some(&namespace(&ns))),
            ("deploy/a.yaml", Some(&configmap(&ns, "a", "one"))),
        ],
        "first",
    );
    let env = git_server();
    let weir = Weir::new("");
    // The password in a file of this test's own, to break it later.
    let password = weir.dir.path().join("git-password");
    std::fs::copy(var(env, "WEIR_GIT_HTTP_PASSWORD_FILE"), &password).expect("copy password");
    let auth = format!(
        "username = \"{}\"\npasswordFile = \"{}\"",
        var(env, "WEIR_GIT_HTTP_USER"),
        password.display()
    );
    std::fs::write(&weir.config, config("lastgood", &basic_url(&repo), &auth)).expect("config");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");

    // The git server now refuses weir, and someone deletes an object.
    std::fs::write(&password, "not-the-password").expect("break password");
    let out = kubectl(&["delete", "configmap", "a", "-n", &ns]);
    assert_eq!(out.code, 0, "{out:?}");

    // As Flux: the sync applies the source's last good artifact, so the
    // drift is corrected; the failure shows on the source and in the exit
    // code.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "the failing source fails the command: {out:?}");
    assert!(
        out.stderr.contains("source \"lastgood\" failed")
            && out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not-the-password"));
    let st = &weir.statuses()[0];
    assert_eq!(st["ready"], true, "{st}");
    assert_eq!(
        st["lastAppliedRevision"],
        format!("main@sha1:{sha}"),
        "{st}"
    );
    assert_eq!(
        cm_value(&ns, "a").as_deref(),
        Some("one"),
        "drift corrected"
    );
    let sources = weir.run(&["get", "sources", "-o", "json"]);
    let sources: Value = serde_json::from_str(&sources.stdout).expect("sources JSON");
    assert_eq!(sources[0]["ready"], false, "{sources}");
    assert!(
        sources[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("authentication failed")),
        "{sources}"
    );
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}
