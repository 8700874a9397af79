//! End-to-end Helm releases against the real cluster, with the real Helm
//! SDK (helm-python-sdk = Helm v4.2.3, driven by
//! `tests/oracles/helm_release.py`) as the judge of storage compatibility:
//! what weir installs and upgrades, Helm lists, inspects and rolls back;
//! what Helm installed, weir takes over; and the failure paths — a hook
//! that never completes, remediation by uninstall and by rollback, a
//! record left `pending-*` by a crash.
//!
//! Needs the Helm oracle: `eval "$(bash scripts/oracles/helm.sh)"`
//! (`scripts/test.sh` does it).

use std::process::Command;

use serde_json::Value;
use weir_e2e::{TestRepo, Weir, get_object, git_server, kube, kubectl, repo_root, unique, var};

/// The Helm SDK oracle: `helm_release.py KUBECONFIG NAMESPACE ARGS…`,
/// its JSON output. Fails (never skips) when the oracle is missing.
fn helm(namespace: &str, args: &[&str]) -> Value {
    let python = std::env::var("WEIR_HELM_ORACLE_PYTHON").unwrap_or_else(|_| {
        panic!("the Helm oracle is missing: WEIR_HELM_ORACLE_PYTHON is unset; install it with `eval \"$(bash scripts/oracles/helm.sh)\"` (scripts/test.sh does)")
    });
    let out = Command::new(&python)
        .arg(repo_root().join("tests/oracles/helm_release.py"))
        .arg(var(kube(), "KUBECONFIG"))
        .arg(namespace)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the Helm oracle {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helm {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("helm {args:?}: not JSON ({e}): {stdout}"))
}

/// `(revision, status)` of every record, oldest first, as Helm sees them.
fn history(namespace: &str, release: &str) -> Vec<(u64, String)> {
    helm(namespace, &["history", release])
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["revision"].as_u64().unwrap_or(0),
                        r["status"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn chart_files(extra_templates: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "charts/app/Chart.yaml".to_owned(),
            "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"1.0\"\n".to_owned(),
        ),
        (
            "charts/app/values.yaml".to_owned(),
            "color: blue\nsize: 1\n".to_owned(),
        ),
        (
            "charts/app/templates/cm.yaml".to_owned(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  color: {{ .Values.color | quote }}\n  size: {{ .Values.size | quote }}\n".to_owned(),
        ),
        (
            "charts/app/templates/hook.yaml".to_owned(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hook\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-1\"\ndata:\n  revision: {{ .Release.Revision | quote }}\n".to_owned(),
        ),
    ];
    for (p, c) in extra_templates {
        files.push((format!("charts/app/templates/{p}"), (*c).to_owned()));
    }
    files
}

fn commit(repo: &TestRepo, files: &[(String, String)], message: &str) {
    let c: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    repo.commit(&c, message);
}

fn source(name: &str, repo: &TestRepo) -> String {
    format!("version = 1\n{}", repo.git_toml(name))
}

/// A `[[release]]` of the test chart: `keys` are more `key = value`
/// lines, `tables` more sub-tables (after `[release.install]`).
fn release(name: &str, ns: &str, timeout: &str, keys: &str, tables: &str) -> String {
    format!(
        r#"
[[release]]
name = "{name}"
source = "{name}"
chart = "charts/app"
targetNamespace = "{ns}"
releaseName = "{name}"
timeout = "{timeout}"
{keys}

[release.install]
createNamespace = true

{tables}
"#
    )
}

fn data(ns: &str, name: &str, key: &str) -> Option<String> {
    get_object("configmap", Some(ns), name).and_then(|o| o["data"][key].as_str().map(str::to_owned))
}

#[test]
fn weir_installs_and_upgrades_releases_that_helm_lists_and_rolls_back() {
    let ns = unique("e2e-helm");
    let name = unique("rel");
    let repo = TestRepo::new("helm");
    commit(&repo, &chart_files(&[]), "chart");
    let base = source(&name, &repo);
    let weir = Weir::new(&format!(
        "{base}{}",
        release(&name, &ns, "20s", "values = { color = \"green\" }", "")
    ));

    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("green")
    );
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "size").as_deref(),
        Some("1")
    );
    // The hook ran before the objects, with the release's revision.
    assert_eq!(
        data(&ns, &format!("{name}-hook"), "revision").as_deref(),
        Some("1")
    );
    let cm = get_object("configmap", Some(&ns), &format!("{name}-cfg")).expect("applied");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(
        cm["metadata"]["annotations"]["meta.helm.sh/release-name"],
        name.as_str()
    );

    // Helm sees a deployed release of chart app-0.1.0 with weir's values.
    let list = helm(&ns, &["list"]);
    let rel = &list[0];
    assert_eq!(rel["name"], name.as_str(), "{list}");
    assert_eq!(rel["revision"], 1, "{list}");
    assert_eq!(rel["status"], "deployed", "{list}");
    assert_eq!(rel["chart_name"], "app", "{list}");
    assert_eq!(rel["chart_version"], "0.1.0", "{list}");
    let values = helm(&ns, &["values", &name]);
    assert_eq!(values["color"], "green", "{values}");
    let status = helm(&ns, &["status", &name]);
    let manifest = status["manifest"].as_str().unwrap_or("");
    assert!(
        manifest.contains("# Source: app/templates/cm.yaml") && manifest.contains("green"),
        "{status}"
    );

    // `weir build` renders the release with its values, offline.
    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let built: Value = serde_json::from_str(&built.stdout).expect("build JSON");
    let cfg = built
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|o| o["metadata"]["name"] == format!("{name}-cfg").as_str())
        })
        .expect("the ConfigMap is built");
    assert_eq!(cfg["data"]["color"], "green", "{cfg}");
    assert_eq!(cfg["metadata"]["namespace"], ns.as_str(), "{cfg}");

    // Nothing changed: no new revision.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(history(&ns, &name), vec![(1, "deployed".to_owned())]);

    // The install's Kubernetes Event names the release as a HelmRelease.
    let events = weir_e2e::events_of("HelmRelease", &name);
    assert!(!events.is_empty(), "no event on HelmRelease/{name}");

    // New values: an upgrade to revision 2; revision 1 is superseded.
    std::fs::write(
        &weir.config,
        format!(
            "{base}{}",
            release(&name, &ns, "20s", "values = { color = \"red\" }", "")
        ),
    )
    .expect("rewrite config");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("red")
    );
    assert_eq!(
        data(&ns, &format!("{name}-hook"), "revision").as_deref(),
        Some("2")
    );
    assert_eq!(
        history(&ns, &name),
        vec![(1, "superseded".to_owned()), (2, "deployed".to_owned())]
    );

    // Helm rolls back what weir installed.
    helm(&ns, &["rollback", &name, "1"]);
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("green")
    );
    assert_eq!(
        history(&ns, &name).last(),
        Some(&(3, "deployed".to_owned()))
    );

    // weir notices the release moved away from its config and upgrades it
    // back.
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("red")
    );
    assert_eq!(
        history(&ns, &name).last(),
        Some(&(4, "deployed".to_owned()))
    );

    // A chart change that drops an object prunes it, as Helm does.
    let mut files = chart_files(&[(
        "extra.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata: {}\n",
    )]);
    commit(&repo, &files, "extra object");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(get_object("configmap", Some(&ns), &format!("{name}-extra")).is_some());
    files.retain(|(p, _)| !p.ends_with("extra.yaml"));
    repo.commit(&[("charts/app/templates/extra.yaml", None)], "drop extra");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(get_object("configmap", Some(&ns), &format!("{name}-extra")).is_none());
    // maxHistory (5) keeps the newest records.
    let h = history(&ns, &name);
    assert_eq!(h.len(), 5, "{h:?}");
    assert_eq!(h.last(), Some(&(6, "deployed".to_owned())));

    // Removed from the config: uninstalled, records and objects gone.
    std::fs::write(&weir.config, &base).expect("rewrite config");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(get_object("configmap", Some(&ns), &format!("{name}-cfg")).is_none());
    assert_eq!(helm(&ns, &["list"]), Value::Array(Vec::new()));
}

#[test]
fn weir_takes_over_a_release_that_helm_installed() {
    let ns = unique("e2e-helm-take");
    let name = unique("rel");
    kubectl(&["create", "namespace", &ns]);
    let dir = tempfile::tempdir().expect("tmp");
    for (p, c) in chart_files(&[]) {
        let path = dir.path().join(&p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, c).expect("write");
    }
    let chart = dir.path().join("charts/app");
    helm(
        &ns,
        &[
            "install",
            &name,
            chart.to_str().expect("utf-8"),
            r#"{"color": "helm"}"#,
        ],
    );
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("helm")
    );

    let repo = TestRepo::new("helm-take");
    commit(&repo, &chart_files(&[]), "chart");
    let weir = Weir::new(&format!(
        "{}{}",
        source(&name, &repo),
        release(&name, &ns, "20s", "values = { color = \"weir\" }", "")
    ));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("weir")
    );
    assert_eq!(
        history(&ns, &name),
        vec![(1, "superseded".to_owned()), (2, "deployed".to_owned())]
    );
    // And Helm can still roll back to its own revision.
    helm(&ns, &["rollback", &name, "1"]);
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("helm")
    );
}

/// A pre-upgrade hook Job never completes on this cluster (it has no
/// nodes), which is how these tests make an action fail.
const STUCK_HOOK: &str = "{{- if .Values.stuck }}\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-stuck\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-delete-policy: hook-failed\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: main\n          image: busybox\n{{- end }}\n";

#[test]
fn failed_actions_are_remediated_and_pending_records_recovered() {
    let ns = unique("e2e-helm-fail");
    let name = unique("rel");
    let repo = TestRepo::new("helm-fail");
    commit(&repo, &chart_files(&[("stuck.yaml", STUCK_HOOK)]), "chart");
    let base = source(&name, &repo);
    let write = |weir: &Weir, values: &str, extra: &str| {
        let text = format!(
            "{base}{}",
            release(&name, &ns, "4s", &format!("values = {values}"), extra)
        );
        std::fs::write(&weir.config, text).expect("write config");
    };
    let weir = Weir::new("version = 1\n");

    // An install whose hook never completes fails naming the hook; with
    // one remediation retry it is uninstalled (records gone) and retried.
    write(
        &weir,
        "{ stuck = true }",
        "[release.install.remediation]\nretries = 1\n",
    );
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let s = &weir.statuses()[0];
    assert_eq!(s["reason"], "InstallFailed", "{s}");
    let msg = s["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(&format!("pre-install hook Job/{ns}/{name}-stuck failed"))
            && msg.contains("uninstalled")
            && msg.contains("retrying (1 of 1"),
        "{msg}"
    );
    assert_eq!(helm(&ns, &["list"]), Value::Array(Vec::new()));
    // hook-failed: the failed hook was deleted.
    assert!(get_object("job", Some(&ns), &format!("{name}-stuck")).is_none());
    // The retry fails again and the retries are used up: stalled, records
    // kept for a person to read.
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let msg = weir.statuses()[0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(msg.contains("remediation retries (1) used up"), "{msg}");
    // Stalled: the same chart and values are not tried again, and the
    // message keeps naming the cause (once, however often it is read).
    for _ in 0..2 {
        let out = weir.run(&["reconcile"]);
        assert_ne!(out.code, 0, "{out:?}");
    }
    let msg = weir.statuses()[0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        msg.contains("failed 2 time(s)") && msg.contains("pre-install hook"),
        "{msg}"
    );
    assert_eq!(msg.matches("last error").count(), 1, "{msg}");

    // A good install, then an upgrade that fails and is rolled back.
    write(
        &weir,
        "{ color = \"one\" }",
        "[release.upgrade.remediation]\nretries = 1\n",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let good = history(&ns, &name).last().cloned().expect("a revision");
    assert_eq!(good.1, "deployed");
    write(
        &weir,
        "{ color = \"two\", stuck = true }",
        "[release.upgrade.remediation]\nretries = 1\n",
    );
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let s = &weir.statuses()[0];
    assert_eq!(s["reason"], "UpgradeFailed", "{s}");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("rolled back to revision {}", good.0))),
        "{s}"
    );
    let h = history(&ns, &name);
    let n = h.len();
    assert_eq!(h[n - 2].1, "failed", "{h:?}");
    assert_eq!(h[n - 1].1, "deployed", "{h:?}");
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("one")
    );

    // A crash mid-upgrade leaves a record pending; the next reconcile
    // marks it failed and moves on.
    let last = h[n - 1].0;
    mark(&ns, &name, last, "pending-upgrade");
    write(
        &weir,
        "{ color = \"three\" }",
        "[release.upgrade.remediation]\nretries = 1\n",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("three")
    );
    let h = history(&ns, &name);
    assert!(h.iter().all(|(_, s)| !s.starts_with("pending")), "{h:?}");
    assert_eq!(h.last().map(|x| x.1.as_str()), Some("deployed"), "{h:?}");
}

/// Rewrites a record's status as a crash would leave it, with Helm's own
/// encoding (base64 of gzip of JSON) done by Python's standard library.
fn mark(ns: &str, release: &str, version: u64, status: &str) {
    let secret = format!("sh.helm.release.v1.{release}.v{version}");
    let script = r#"
import base64, gzip, json, subprocess, sys
kubeconfig, ns, secret, status = sys.argv[1:]
def k(*a, input=None):
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", ns, *a], input=input, check=True, capture_output=True, text=True).stdout
s = json.loads(k("get", "secret", secret, "-o", "json"))
r = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(s["data"]["release"]))))
r["info"]["status"] = status
s["data"]["release"] = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(r).encode()))).decode()
s["metadata"]["labels"]["status"] = status
k("replace", "-f", "-", input=json.dumps(s))
"#;
    let out = Command::new("python3")
        .args(["-c", script, var(kube(), "KUBECONFIG"), ns, &secret, status])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `plaintext` (a YAML values file) encrypted by the real sops for the age
/// `recipient`.
fn sops_encrypt(dir: &std::path::Path, plaintext: &str, recipient: &str) -> String {
    let cache = std::env::var("WEIR_CACHE").unwrap_or_else(|_| "/var/cache/weir".into());
    let sops =
        std::env::var("WEIR_SOPS_BIN").unwrap_or_else(|_| format!("{cache}/oracles/sops/bin/sops"));
    let file = dir.join("values.yaml");
    std::fs::write(&file, plaintext).expect("write plaintext");
    let out = Command::new(&sops)
        .current_dir(dir)
        .args(["--encrypt", "--age", recipient, "--input-type", "yaml", "--output-type", "yaml"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("the SOPS oracle is missing ({sops}: {e}); install it with `eval \"$(bash scripts/oracles/sops.sh)\"`"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn values_from_the_cluster_and_sops_files_crds_tests_and_drift_correction() {
    let ns = unique("e2e-helm-vals");
    let name = unique("rel");
    let group = format!("{}.e2e.weir.dev", unique("g"));
    assert_eq!(kubectl(&["create", "namespace", &ns]).code, 0);
    assert_eq!(
        kubectl(&[
            "-n",
            &ns,
            "create",
            "configmap",
            "vals",
            "--from-literal=values.yaml=size: 3\n"
        ])
        .code,
        0
    );
    assert_eq!(
        kubectl(&[
            "-n",
            &ns,
            "create",
            "secret",
            "generic",
            "sec",
            "--from-literal=token=s3cret"
        ])
        .code,
        0
    );
    let dir = tempfile::tempdir().expect("tmp");
    let keyfile = dir.path().join("identity.agekey");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&keyfile)
        .output()
        .expect("age-keygen runs (the SOPS oracle installs it)");
    assert!(out.status.success(), "{out:?}");
    let key = std::fs::read_to_string(&keyfile).expect("key");
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key")
        .to_owned();
    let encrypted = sops_encrypt(dir.path(), "dbPassword: hunter2\n", &recipient);
    assert!(!encrypted.contains("hunter2"));

    let repo = TestRepo::new("helm-vals");
    let mut files = chart_files(&[
        (
            "auth.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-auth\ndata:\n  token: {{ .Values.auth.token | quote }}\n  password: {{ .Values.dbPassword | quote }}\n",
        ),
        (
            "tests/t.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\ndata: {}\n",
        ),
    ]);
    files.push((
        "charts/app/crds/widget.yaml".to_owned(),
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names:\n    plural: widgets\n    singular: widget\n    kind: Widget\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n"
        ),
    ));
    files.push(("values/secret.enc.yaml".to_owned(), encrypted));
    commit(&repo, &files, "chart");
    let keys = keyfile.to_str().expect("utf-8");
    let weir = Weir::new(&format!(
        "{}{}",
        source(&name, &repo),
        release(
            &name,
            &ns,
            "20s",
            &format!(
                "valuesFiles = [\"values/secret.enc.yaml\"]\nvaluesFrom = [{{ kind = \"ConfigMap\", name = \"vals\" }}, {{ kind = \"Secret\", name = \"sec\", valuesKey = \"token\", targetPath = \"auth.token\" }}]\ndecryption = {{ provider = \"sops\", keyFiles = [\"{keys}\"] }}\ntest = {{ enable = true }}\ndriftDetection = {{ mode = \"enabled\" }}"
            ),
            ""
        )
    ));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let auth = format!("{name}-auth");
    assert_eq!(data(&ns, &auth, "token").as_deref(), Some("s3cret"));
    assert_eq!(data(&ns, &auth, "password").as_deref(), Some("hunter2"));
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "size").as_deref(),
        Some("3")
    );
    // The decrypted values are in the cluster only: not in weir's output
    // nor its state directory (which holds the encrypted file).
    assert!(!format!("{out:?}").contains("hunter2"), "{out:?}");
    let mut state_files = Vec::new();
    let mut dirs = vec![weir.dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read state dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                state_files.push(p);
            }
        }
    }
    for f in &state_files {
        let bytes = std::fs::read(f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("hunter2"),
            "plaintext in {}",
            f.display()
        );
    }
    // The CRD of crds/ was created; the test hook ran.
    assert_eq!(
        kubectl(&["get", "crd", &format!("widgets.{group}")]).code,
        0
    );
    assert!(get_object("configmap", Some(&ns), &format!("{name}-test")).is_some());

    // `.Capabilities` are the cluster's: a chart change (a new revision)
    // sees the CRD the install created.
    files.push((
        "charts/app/templates/caps.yaml".to_owned(),
        format!("{{{{- if .Capabilities.APIVersions.Has \"{group}/v1/Widget\" }}}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-caps\ndata:\n  kube: {{{{ .Capabilities.KubeVersion.Version | quote }}}}\n{{{{- end }}}}\n"),
    ));
    commit(&repo, &files, "capabilities");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let server = kubectl(&["version", "-o", "json"]);
    let server: Value = serde_json::from_str(&server.stdout).expect("kubectl version JSON");
    assert_eq!(
        data(&ns, &format!("{name}-caps"), "kube"),
        server["serverVersion"]["gitVersion"]
            .as_str()
            .map(str::to_owned)
    );
    let revisions = vec![(1, "superseded".to_owned()), (2, "deployed".to_owned())];
    assert_eq!(history(&ns, &name), revisions);

    // Drift: an object edited by hand is put back, without a new revision.
    let cfg = format!("{name}-cfg");
    assert_eq!(
        kubectl(&[
            "-n",
            &ns,
            "patch",
            "configmap",
            &cfg,
            "-p",
            r#"{"data":{"color":"tampered"}}"#
        ])
        .code,
        0
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("blue"));
    assert_eq!(history(&ns, &name), revisions);
    let msg = weir.statuses()[0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        msg.contains("drift corrected") && msg.contains("1 configured"),
        "{msg}"
    );

    // A wrong key fails naming the values file; nothing is written.
    let good_key = std::fs::read(&keyfile).expect("key");
    std::fs::remove_file(&keyfile).expect("rm key");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&keyfile)
        .output()
        .expect("age-keygen");
    assert!(out.status.success(), "{out:?}");
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let s = &weir.statuses()[0];
    assert_eq!(s["reason"], "DecryptionFailed", "{s}");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("valuesFiles \"values/secret.enc.yaml\"")),
        "{s}"
    );
    assert_eq!(history(&ns, &name), revisions);
    std::fs::write(&keyfile, good_key).expect("restore key");

    // A missing valuesFrom object fails naming it; nothing is written.
    assert_eq!(kubectl(&["-n", &ns, "delete", "configmap", "vals"]).code, 0);
    std::fs::write(
        &weir.config,
        std::fs::read_to_string(&weir.config)
            .expect("config")
            .replace("valuesFiles", "values = { color = \"new\" }\nvaluesFiles"),
    )
    .expect("rewrite config");
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let msg = weir.statuses()[0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        msg.contains(&format!("valuesFrom ConfigMap/{ns}/vals does not exist")),
        "{msg}"
    );
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("blue"));
    assert_eq!(history(&ns, &name), revisions);
}

#[test]
fn drift_is_reported_in_warn_mode_and_ignored_fields_are_kept() {
    let ns = unique("e2e-helm-drift");
    let name = unique("rel");
    let repo = TestRepo::new("helm-drift");
    commit(&repo, &chart_files(&[]), "chart");
    let base = source(&name, &repo);
    let weir = Weir::new(&format!(
        "{base}{}",
        release(
            &name,
            &ns,
            "20s",
            "driftDetection = { mode = \"warn\" }",
            ""
        )
    ));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let cfg = format!("{name}-cfg");
    let patch = |data: &str| {
        let out = kubectl(&["-n", &ns, "patch", "configmap", &cfg, "-p", data]);
        assert_eq!(out.code, 0, "{out:?}");
    };

    // warn: reported, named, not corrected.
    patch(r#"{"data":{"color":"tampered"}}"#);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let msg = weir.statuses()[0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        msg.contains("drift detected and not corrected")
            && msg.contains(&format!("ConfigMap/{ns}/{cfg} (changed)")),
        "{msg}"
    );
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("tampered"));

    // enabled with an ignore rule: the ignored field keeps its live value,
    // the rest is put back; still no new revision.
    std::fs::write(
        &weir.config,
        format!(
            "{base}{}",
            release(
                &name,
                &ns,
                "20s",
                "driftDetection = { mode = \"enabled\", ignore = [{ paths = [\"/data/size\"], target = { kind = \"ConfigMap\", name = \"CFG\" } }] }"
                    .replace("CFG", &cfg)
                    .as_str(),
                ""
            )
        ),
    )
    .expect("rewrite config");
    patch(r#"{"data":{"size":"99"}}"#);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("blue"));
    assert_eq!(data(&ns, &cfg, "size").as_deref(), Some("99"));
    assert_eq!(history(&ns, &name), vec![(1, "deployed".to_owned())]);
    // The hook is not part of the manifest and is left alone.
    assert!(get_object("configmap", Some(&ns), &format!("{name}-hook")).is_some());
}

/// A sync may depend on a release and a release on a sync (Flux cannot:
/// flux2#3364): they are ordered, and a failing release holds back the
/// sync that depends on it, naming it.
#[test]
fn syncs_and_releases_depend_on_each_other() {
    let ns = unique("e2e-helm-deps");
    let name = unique("rel");
    let repo = TestRepo::new("helm-deps");
    let mut files = chart_files(&[("stuck.yaml", STUCK_HOOK)]);
    files.push((
        "infra/ns.yaml".to_owned(),
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    ));
    files.push((
        "apps/cm.yaml".to_owned(),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-release\n  namespace: {ns}\ndata: {{}}\n"),
    ));
    commit(&repo, &files, "layers");
    let base = source(&name, &repo);
    let config = |values: &str| {
        format!(
            r#"{base}
[[sync]]
name = "infra"
source = "{name}"
path = "infra"
prune = true

[[sync]]
name = "apps"
source = "{name}"
path = "apps"
prune = true
dependsOn = ["{name}"]

[[release]]
name = "{name}"
source = "{name}"
chart = "charts/app"
targetNamespace = "{ns}"
releaseName = "{name}"
timeout = "4s"
dependsOn = ["infra"]
values = {values}
"#
        )
    };
    let weir = Weir::new(&config("{ color = \"one\" }"));
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    // The namespace came from `infra`, before the release needed it (no
    // createNamespace); `apps` ran after the release.
    assert_eq!(
        data(&ns, &format!("{name}-cfg"), "color").as_deref(),
        Some("one")
    );
    assert!(get_object("configmap", Some(&ns), "after-release").is_some());

    // A failing release holds back `apps`, which names it.
    std::fs::write(&weir.config, config("{ color = \"two\", stuck = true }")).expect("config");
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let statuses = weir.statuses();
    let apps = statuses
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "apps"))
        .expect("apps status");
    assert_eq!(apps["reason"], "DependencyNotReady", "{apps}");
    assert!(
        apps["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("dependency \"{name}\" is not ready"))),
        "{apps}"
    );
}

/// Publishes chart `app` at `version` (its ConfigMap's default color is
/// `color`) into the Helm repository directory `repo`, and rewrites the
/// index with every archive there. `tamper` gives the new entry a wrong
/// digest.
fn publish(repo: &std::path::Path, version: &str, color: &str, tamper: bool) {
    let build = tempfile::tempdir().expect("tmp");
    let chart = build.path().join("app");
    for (p, c) in chart_files(&[]) {
        let rel = p.trim_start_matches("charts/app/");
        let path = chart.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let c = c
            .replace("version: 0.1.0", &format!("version: {version}"))
            .replace("color: blue", &format!("color: {color}"));
        std::fs::write(path, c).expect("write");
    }
    std::fs::create_dir_all(repo).expect("mkdir repo");
    let tgz = repo.join(format!("app-{version}.tgz"));
    let out = Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg("-C")
        .arg(build.path())
        .arg("app")
        .output()
        .expect("tar runs");
    assert!(out.status.success(), "{out:?}");
    let mut index = String::from("apiVersion: v1\nentries:\n  app:\n");
    let mut archives: Vec<_> = std::fs::read_dir(repo)
        .expect("read repo")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    archives.sort();
    for a in archives {
        let out = Command::new("sha256sum")
            .arg(&a)
            .output()
            .expect("sha256sum");
        let mut digest = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        let file = a
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        let v = file
            .trim_start_matches("app-")
            .trim_end_matches(".tgz")
            .to_owned();
        if tamper && v == version {
            digest = "0".repeat(64);
        }
        index.push_str(&format!(
            "    - apiVersion: v2\n      name: app\n      version: {v}\n      urls: [{file}]\n      digest: {digest}\n"
        ));
    }
    std::fs::write(repo.join("index.yaml"), index).expect("index");
}

#[test]
fn a_release_pulls_its_chart_from_a_helm_repository_by_version_range() {
    let ns = unique("e2e-helm-repo");
    let name = unique("rel");
    let env = git_server();
    let dir = std::path::Path::new(var(env, "WEIR_FILES_DIR")).join(&name);
    publish(&dir, "0.1.0", "from-0.1.0", false);
    let url = format!("{}/basic/{name}", var(env, "WEIR_FILES_HTTP_URL"));
    let weir = Weir::new("version = 1\n");
    let user = weir.dir.path().join("user");
    std::fs::write(&user, "weir\n").expect("user file");
    let config = |password_file: &str| {
        format!(
            r#"version = 1

[[source]]
name = "{name}"
plugin = "helm-repository"
url = "{url}"
settings = {{ chart = "app", version = "0.1.x" }}
secretFiles = {{ username = "{}", password = "{password_file}" }}
{}"#,
            user.display(),
            release(&name, &ns, "20s", "chart = \"app\"", "")
                .replace("chart = \"charts/app\"\n", "")
        )
    };
    std::fs::write(
        &weir.config,
        config(var(env, "WEIR_GIT_HTTP_PASSWORD_FILE")),
    )
    .expect("config");
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let cfg = format!("{name}-cfg");
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("from-0.1.0"));
    assert_eq!(helm(&ns, &["list"])[0]["chart_version"], "0.1.0");

    // A newer version in range: upgraded. One outside it: ignored.
    publish(&dir, "0.1.1", "from-0.1.1", false);
    publish(&dir, "0.2.0", "from-0.2.0", false);
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("from-0.1.1"));
    assert_eq!(helm(&ns, &["list"])[0]["chart_version"], "0.1.1");
    assert_eq!(history(&ns, &name).len(), 2);

    // An archive that does not match the index's digest is refused; the
    // release stays as it was.
    publish(&dir, "0.1.2", "from-0.1.2", true);
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("is not the index's digest"), "{text}");
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("from-0.1.1"));

    // Wrong credentials: the source fails naming itself, never the
    // password; the release keeps its chart.
    let wrong = weir.dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    std::fs::write(&weir.config, config(wrong.to_str().unwrap_or(""))).expect("config");
    let out = weir.run(&["reconcile"]);
    assert_ne!(out.code, 0, "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("source \"{name}\"")) && text.contains("401"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
    assert_eq!(data(&ns, &cfg, "color").as_deref(), Some("from-0.1.1"));
}
