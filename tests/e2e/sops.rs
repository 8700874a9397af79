//! End-to-end SOPS decryption: a Secret encrypted by the real `sops` with
//! an age key from the real `age-keygen`, rendered by the kustomize
//! renderer (which sets its namespace and labels, so the MAC is checked on
//! the document in Git), decrypted with keys from a Secret in the real
//! cluster, applied, and never leaked: not in TRACE logs, the state
//! directory (artifacts, git cache, status), `weir get`, `weir build` or
//! the cluster's Events. Then the failures: a wrong key, and tampered
//! documents in Git, each applying nothing and keeping the last good state.
//!
//! Needs the SOPS oracle: `eval "$(bash scripts/oracles/sops.sh)"`
//! (`scripts/test.sh` does it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use weir_e2e::{TestRepo, Weir, get_object, git_server, kubectl, run, unique, var};

/// The log filter of the scanned reconciles.
const TRACE: &str = "trace,cranelift=info,regalloc2=info,wasmtime_cranelift=info";

const INSTALL: &str = "install it with `eval \"$(bash scripts/oracles/sops.sh)\"` from the repository root (scripts/test.sh does)";

/// A tool of the SOPS oracle: `$env`, else `default`. Fails (never skips)
/// when it does not run.
fn tool(env: &str, default: PathBuf) -> PathBuf {
    let p = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    let ok = Command::new(&p)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the SOPS oracle is missing: {} ({env}) does not run; {INSTALL}",
        p.display()
    );
    p
}

fn sops_bin() -> PathBuf {
    let cache = std::env::var("WEIR_CACHE").unwrap_or_else(|_| "/var/cache/weir".into());
    tool(
        "WEIR_SOPS_BIN",
        Path::new(&cache).join("oracles/sops/bin/sops"),
    )
}

fn age_keygen_bin() -> PathBuf {
    tool("WEIR_AGE_KEYGEN_BIN", PathBuf::from("age-keygen"))
}

/// A fresh age identity: `(identity file text, recipient)`.
fn age_key(dir: &Path, name: &str) -> (String, String) {
    let file = dir.join(name);
    run(Command::new(age_keygen_bin()).arg("-o").arg(&file));
    let text = std::fs::read_to_string(&file).expect("read age key");
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes its public key")
        .to_owned();
    assert!(text.contains("AGE-SECRET-KEY-1"), "not an age identity");
    (text, recipient)
}

/// `plaintext` encrypted by the real sops for `recipient`, `data` and
/// `stringData` only (as Flux's guide does).
fn sops_encrypt(dir: &Path, plaintext: &str, recipient: &str) -> String {
    let file = dir.join("secret.yaml");
    std::fs::write(&file, plaintext).expect("write plaintext");
    let out = run(Command::new(sops_bin())
        .current_dir(dir)
        .args(["--encrypt", "--age", recipient])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .args(["--input-type", "yaml", "--output-type", "yaml"])
        .arg(&file));
    std::fs::remove_file(&file).expect("remove plaintext");
    out
}

fn secret_yaml(password: &str, token_b64: &str, note: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n  annotations:\n    note: {note}\ntype: Opaque\nstringData:\n  password: {password}\ndata:\n  token: {token_b64}\n"
    )
}

fn kustomization(ns: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\ncommonLabels:\n  app: shop\nresources:\n  - secret.enc.yaml\n  - config.yaml\n"
    )
}

fn config_map(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: {value:?}\n"
    )
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Puts the age identity `key` into Secret `default/<name>` as
/// `identity.agekey` (replacing what was there).
fn key_secret(dir: &Path, name: &str, key: &str) {
    let file = dir.join("identity.agekey");
    std::fs::write(&file, key).expect("write key");
    let _ = kubectl(&[
        "-n",
        "default",
        "delete",
        "secret",
        name,
        "--ignore-not-found",
    ]);
    let from = format!("--from-file=identity.agekey={}", file.display());
    let out = kubectl(&["-n", "default", "create", "secret", "generic", name, &from]);
    assert_eq!(out.code, 0, "create key secret: {}", out.stderr);
    std::fs::remove_file(&file).expect("remove key file");
}

/// Every file under `dir` that contains one of `needles`, with the needle.
fn files_containing(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let bytes = std::fs::read(&p).unwrap_or_default();
                for n in needles {
                    if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                        hits.push(format!("{} contains {n:?}", p.display()));
                    }
                }
            }
        }
    }
    hits
}

fn leaks(what: &str, text: &str, needles: &[&str]) -> Vec<String> {
    needles
        .iter()
        .filter(|n| text.contains(**n))
        .map(|n| format!("{what} contains {n:?}"))
        .collect()
}

fn status_of(weir: &Weir, name: &str) -> Value {
    let all = weir.statuses();
    all.as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no status for {name}: {all}"))
}

fn secret_data(ns: &str, key: &str) -> Option<String> {
    let s = get_object("secret", Some(ns), "db-creds")?;
    s["data"][key].as_str().map(str::to_owned)
}

fn cm_value(ns: &str) -> Option<String> {
    get_object("configmap", Some(ns), "settings")?["data"]["value"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn sops_secrets_decrypt_into_the_cluster_and_leak_nowhere_and_bad_ones_apply_nothing() {
    let keys = tempfile::tempdir().expect("tempdir");
    let (identity, recipient) = age_key(keys.path(), "right.agekey");
    let (other_identity, _) = age_key(keys.path(), "other.agekey");
    let private = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("identity line")
        .to_owned();
    let other_private = other_identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("identity line")
        .to_owned();
    // Unique, so that a hit anywhere can only come from this test.
    let password = format!("pw-{}-plaintext", unique("sops"));
    let token = format!("tok-{}-plaintext", unique("sops"));
    let token_b64 = base64(&token);
    let needles = [
        password.as_str(),
        base64(&password).as_str(),
        token.as_str(),
        token_b64.as_str(),
        private.as_str(),
        other_private.as_str(),
    ]
    .map(str::to_owned);
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();

    let ns = unique("sops");
    assert_eq!(kubectl(&["create", "namespace", &ns]).code, 0);
    let key_name = unique("sops-keys");
    key_secret(keys.path(), &key_name, &identity);

    let encrypted = sops_encrypt(
        keys.path(),
        &secret_yaml(&password, &token_b64, "v1"),
        &recipient,
    );
    assert!(encrypted.contains("ENC[AES256_GCM") && !encrypted.contains(&password));
    let repo = TestRepo::new("sops");
    let first = repo.commit(
        &[
            ("deploy/kustomization.yaml", Some(&kustomization(&ns))),
            ("deploy/secret.enc.yaml", Some(&encrypted)),
            ("deploy/config.yaml", Some(&config_map("one"))),
        ],
        "encrypted secret",
    );
    let url = format!("{}/{}", var(git_server(), "WEIR_GIT_DAEMON_URL"), repo.rel);
    let weir = Weir::new(&format!(
        r#"version = 1

[[git]]
name = "sops"
url = "{url}"
ref = {{ branch = "main" }}

[[sync]]
name = "sops"
source = "sops"
path = "deploy"
prune = true
renderer = "kustomize"

[sync.decryption]
provider = "sops"
secretRef = {{ name = "{key_name}", namespace = "default" }}
"#
    ));
    let reconcile = |what: &str| {
        let out = weir
            .command()
            // Everything at TRACE but the code generator's internals, which
            // compile plugins (not data) and would make a debug build crawl.
            .env("WEIR_LOG", TRACE)
            .args(["reconcile", "-o", "json"])
            .output()
            .expect("run weir");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut found = leaks(&format!("{what}: stdout"), &stdout, &needles);
        found.extend(leaks(&format!("{what}: TRACE log"), &stderr, &needles));
        assert!(found.is_empty(), "leaked: {found:?}");
        assert!(
            stderr.contains("TRACE"),
            "{what}: no TRACE lines, so the log scan proves nothing: {stderr}"
        );
        (out.status.code().unwrap_or(-1), stdout, stderr)
    };

    // 1. Decrypted into the cluster, with kustomize's namespace and label.
    let (code, stdout, stderr) = reconcile("first reconcile");
    assert_eq!(code, 0, "reconcile failed: {stdout}\n{stderr}");
    // kustomize's namespace and label broke the rendered object's MAC, so
    // it was checked against the document in Git.
    assert!(
        stderr.contains("its encrypted values match the verified document in Git"),
        "the MAC-over-Git path was not taken: {stderr}"
    );
    let live = get_object("secret", Some(&ns), "db-creds").expect("secret applied");
    assert_eq!(live["data"]["password"], base64(&password), "{live}");
    assert_eq!(live["data"]["token"], token_b64, "{live}");
    assert_eq!(live["metadata"]["labels"]["app"], "shop");
    assert_eq!(live["metadata"]["annotations"]["note"], "v1");
    assert!(live.get("sops").is_none(), "{live}");
    assert_eq!(cm_value(&ns).as_deref(), Some("one"));
    let status = status_of(&weir, "sops");
    assert_eq!(status["ready"], true, "{status}");
    let applied = status["lastAppliedRevision"].clone();
    assert!(
        applied.as_str().is_some_and(|r| r.contains(&first)),
        "{status}"
    );

    // Nowhere else: state dir (status, artifacts, git cache), `weir get`,
    // `weir build` (prints the ciphertext), the cluster's Events.
    let mut found = files_containing(weir.dir.path(), &needles);
    let get = weir.run(&["get", "-o", "json"]);
    found.extend(leaks("weir get", &get.stdout, &needles));
    let build = weir.run(&["build", "-o", "json"]);
    assert_eq!(build.code, 0, "weir build failed: {build:?}");
    assert!(build.stdout.contains("ENC[AES256_GCM"), "{}", build.stdout);
    found.extend(leaks("weir build", &build.stdout, &needles));
    found.extend(leaks("weir build stderr", &build.stderr, &needles));

    // 2. A wrong key: the Secret holds another identity. A new revision
    // changes the ConfigMap; nothing of it is applied.
    key_secret(keys.path(), &key_name, &other_identity);
    repo.commit(
        &[("deploy/config.yaml", Some(&config_map("two")))],
        "config two",
    );
    let (code, _, _) = reconcile("wrong key");
    assert_eq!(code, 1);
    let status = status_of(&weir, "sops");
    let msg = status["message"].as_str().unwrap_or("").to_owned();
    assert_eq!(status["reason"], "DecryptionFailed", "{status}");
    assert!(
        msg.contains(&format!("Secret/{ns}/db-creds (deploy/secret.enc.yaml)")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Secret/default/{key_name}:identity.agekey")),
        "{msg}"
    );
    assert!(msg.contains("none of the supplied keys"), "{msg}");
    assert!(msg.contains(&recipient), "{msg}");
    assert_eq!(cm_value(&ns).as_deref(), Some("one"), "nothing applied");
    assert_eq!(
        status["lastAppliedRevision"], applied,
        "last good state kept"
    );
    assert_eq!(
        secret_data(&ns, "password").as_deref(),
        Some(base64(&password).as_str())
    );
    found.extend(leaks("wrong-key status", &status.to_string(), &needles));

    // 3. The right key again, but a value tampered with in Git: its GCM
    // tag fails (no MAC fallback can help).
    key_secret(keys.path(), &key_name, &identity);
    let marker = "password: ENC[AES256_GCM,data:";
    let at = encrypted.find(marker).expect("encrypted password") + marker.len();
    let mut tampered = encrypted.clone();
    let flipped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    repo.commit(
        &[("deploy/secret.enc.yaml", Some(&tampered))],
        "tampered value",
    );
    let (code, _, _) = reconcile("tampered value");
    assert_eq!(code, 1);
    let status = status_of(&weir, "sops");
    let msg = status["message"].as_str().unwrap_or("").to_owned();
    assert_eq!(status["reason"], "DecryptionFailed", "{status}");
    assert!(msg.contains(&format!("Secret/{ns}/db-creds")), "{msg}");
    assert!(msg.contains("fails authentication"), "{msg}");
    assert_eq!(cm_value(&ns).as_deref(), Some("one"), "nothing applied");
    assert_eq!(
        status["lastAppliedRevision"], applied,
        "last good state kept"
    );

    // 4. A plaintext field tampered with in Git: the rendered object fails
    // its MAC (as kustomize's changes make it do anyway), and so does the
    // document in Git.
    let tampered = encrypted.replace("note: v1", "note: v2");
    assert_ne!(tampered, encrypted);
    repo.commit(
        &[("deploy/secret.enc.yaml", Some(&tampered))],
        "tampered plaintext",
    );
    let (code, _, _) = reconcile("tampered plaintext");
    assert_eq!(code, 1);
    let status = status_of(&weir, "sops");
    let msg = status["message"].as_str().unwrap_or("").to_owned();
    assert_eq!(status["reason"], "DecryptionFailed", "{status}");
    assert!(msg.contains(&format!("Secret/{ns}/db-creds")), "{msg}");
    assert!(
        msg.contains("does not verify either")
            && msg.contains("deploy/secret.enc.yaml: MAC mismatch"),
        "{msg}"
    );
    assert_eq!(cm_value(&ns).as_deref(), Some("one"), "nothing applied");
    assert_eq!(
        get_object("secret", Some(&ns), "db-creds").expect("kept")["metadata"]["annotations"]["note"],
        "v1"
    );
    assert_eq!(
        status["lastAppliedRevision"], applied,
        "last good state kept"
    );

    // Events and the state directory, after all of it.
    found.extend(files_containing(weir.dir.path(), &needles));
    let events = kubectl(&["get", "events", "-A", "-o", "json"]);
    assert_eq!(events.code, 0, "{}", events.stderr);
    assert!(
        events.stdout.contains("DecryptionFailed"),
        "weir recorded no event, so the event scan proves nothing"
    );
    found.extend(leaks("kubernetes events", &events.stdout, &needles));
    assert!(found.is_empty(), "leaked: {found:?}");

    // 5. Keys from a host file (`keyFiles`, relative to the config), at a
    // good revision again: the new ConfigMap and the Secret apply.
    repo.commit(
        &[("deploy/secret.enc.yaml", Some(&encrypted))],
        "good again",
    );
    let sync_toml = |decryption: &str| {
        format!(
            "version = 1\n[[git]]\nname = \"sops\"\nurl = \"{url}\"\nref = {{ branch = \"main\" }}\n[[sync]]\nname = \"sops\"\nsource = \"sops\"\npath = \"deploy\"\nprune = true\nrenderer = \"kustomize\"\n{decryption}"
        )
    };
    let with_file = Weir::new(&sync_toml(
        "[sync.decryption]\nprovider = \"sops\"\nkeyFiles = [\"keys/identity.agekey\"]\n",
    ));
    let key_dir = with_file.dir.path().join("keys");
    std::fs::create_dir_all(&key_dir).expect("mkdir keys");
    std::fs::write(key_dir.join("identity.agekey"), &identity).expect("write key file");
    let out = with_file.run(&["reconcile"]);
    assert_eq!(out.code, 0, "keyFiles reconcile: {out:?}");
    assert_eq!(cm_value(&ns).as_deref(), Some("two"));
    assert_eq!(
        secret_data(&ns, "token").as_deref(),
        Some(token_b64.as_str())
    );
    found.extend(leaks("keyFiles reconcile", &format!("{out:?}"), &needles));
    found.extend(files_containing(
        &with_file.dir.path().join(".weir"),
        &needles,
    ));

    // 6. No decryption configured: refused, naming the object and the fix;
    // never applied as ciphertext.
    let without = Weir::new(&sync_toml(""));
    let out = without.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let status = status_of(&without, "sops");
    let msg = status["message"].as_str().unwrap_or("");
    assert_eq!(status["reason"], "DecryptionFailed", "{status}");
    assert!(
        msg.starts_with(&format!(
            "Secret/{ns}/db-creds (deploy/secret.enc.yaml) is encrypted with SOPS"
        )) && msg.contains("[sync.decryption]"),
        "{msg}"
    );
    assert_eq!(
        secret_data(&ns, "token").as_deref(),
        Some(token_b64.as_str())
    );
    assert!(found.is_empty(), "leaked: {found:?}");

    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
    let _ = kubectl(&["-n", "default", "delete", "secret", &key_name]);
}
