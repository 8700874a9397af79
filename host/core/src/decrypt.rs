//! The decrypt step: rendered objects whose top level has a `sops` map
//! (Flux's test for a SOPS-encrypted object) are decrypted by the sync's
//! decryptor plugin, after render and before `postBuild` substitution, as
//! Flux's kustomize-controller does (decrypt, then substitute).
//!
//! Keys come from the sync's `decryption.secretRef` (a Secret on the host's
//! cluster, read with weir's own identity) and `decryption.keyFiles`, read
//! again at every reconcile so they can be rotated without a restart. They
//! live in memory only for the step, and never appear in a message: the
//! plugin reports keys by name, and this module reports objects, files and
//! key paths, never values.
//!
//! **The MAC.** The SOPS MAC covers every value of the document, plaintext
//! ones included. A renderer that changes a plaintext field of an encrypted
//! object (kustomize's `namespace:`, `commonLabels`, `namePrefix`) makes the
//! object as rendered fail its MAC although nothing was tampered with.
//! Flux's answer is to skip the MAC check (`checkSopsMac`); weir never
//! skips it. Instead, when the rendered object fails on its MAC alone, weir
//! verifies the document **as it is in Git**: the object's origin (`file`
//! or `file#doc`, from the renderer) is decrypted whole, with the full MAC
//! check, and the rendered object is accepted only if every `ENC[…]` value
//! in it is byte for byte the encrypted value at the same key path of that
//! verified document ([`merge_verified`]). The plaintext of those values is
//! taken from the verified document; everything else stays as rendered.
//! So every secret value that reaches the cluster was authenticated (GCM
//! tag and MAC) at the key path it is applied at, while the renderer keeps
//! its say over the plaintext fields, which are in Git in plaintext and
//! protected by nothing but Git itself either way.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Map, Value};
use weir_config::{Decryption, KeyKind};

use crate::apply::Cluster;
use crate::object::Object;
use crate::plugin::{
    DecryptFormat, DecryptKey, DecryptRequest, Decryptor, DecryptorRegistry, PluginError,
    PluginErrorKind,
};
use crate::reconcile::StepError;
use crate::status::Reason;

/// Annotation that leaves an encrypted object as rendered when set to
/// `disabled` (any case): it is applied with its `sops` map and `ENC[…]`
/// values, for objects meant to carry ciphertext. Flux's
/// `kustomize.toolkit.fluxcd.io/decrypt: Disabled` is honoured too.
pub const DECRYPT_ANNOTATION: &str = "sync.weir.dev/decrypt";

/// Flux's spelling of [`DECRYPT_ANNOTATION`].
pub const FLUX_DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// What the decrypt step needs besides the sync.
#[derive(Clone)]
pub struct DecryptContext {
    /// The decryptor plugins; `None` when the engine has none (tests).
    pub decryptors: Option<Arc<dyn DecryptorRegistry>>,
    /// weir's own connection to the host's cluster, where `secretRef`
    /// Secrets are read (never the sync's target or impersonated identity).
    pub host: Arc<Cluster>,
    /// The directory relative `keyFiles` resolve against (the config
    /// file's).
    pub base_dir: PathBuf,
}

/// Whether `o` is SOPS-encrypted: its top level has a `sops` map.
pub fn is_encrypted(o: &Object) -> bool {
    o.data.get("sops").is_some_and(Value::is_object)
}

/// Whether `o` opts out of decryption with [`DECRYPT_ANNOTATION`] or
/// [`FLUX_DECRYPT_ANNOTATION`] set to `disabled`.
pub fn decryption_disabled(o: &Object) -> bool {
    let annotations = o.data.get("metadata").and_then(|m| m.get("annotations"));
    [DECRYPT_ANNOTATION, FLUX_DECRYPT_ANNOTATION]
        .iter()
        .any(|k| {
            annotations
                .and_then(|a| a.get(*k))
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
        })
}

/// How messages name an object: `Secret/ns/name (file.yaml)`.
fn describe(o: &Object) -> String {
    let key = o.key();
    if o.origin.is_empty() {
        key.to_string()
    } else {
        format!("{key} ({})", o.origin)
    }
}

/// Decrypts every encrypted object of `objects` (each with the JSON text
/// the renderer returned for it, whose key order the SOPS MAC depends on).
/// Objects without a `sops` map, and those annotated
/// [`DECRYPT_ANNOTATION`]` = disabled`, pass through unchanged. Nothing
/// is decrypted unless every encrypted object decrypts.
///
/// # Errors
/// [`Reason::DecryptionFailed`], naming every object that failed and why
/// (never a key or a value): no `decryption` configured, the keys cannot be
/// read, no key matches, a value or the MAC fails to verify.
pub async fn decrypt(
    sync: &weir_config::Sync,
    objects: Vec<(Object, String)>,
    artifact_dir: &Path,
    ctx: &DecryptContext,
) -> Result<Vec<Object>, StepError> {
    let failed = |message: String, transient: bool| StepError {
        reason: Reason::DecryptionFailed,
        message,
        transient,
    };
    let Some(config) = decryption_needed(sync, &objects)? else {
        return Ok(objects.into_iter().map(|(o, _)| o).collect());
    };
    let Some(registry) = &ctx.decryptors else {
        return Err(failed(
            "no decryptor plugins are available to this engine".into(),
            false,
        ));
    };
    let decryptor = registry
        .decryptor(config.provider.as_str())
        .map_err(|e| failed(format!("decryption.provider: {e}"), false))?;
    let keys = load_keys(config, ctx).await?;
    let dir = artifact_dir.to_path_buf();
    let result =
        tokio::task::spawn_blocking(move || decrypt_all(decryptor.as_ref(), &keys, objects, &dir))
            .await
            .map_err(|e| failed(format!("decryption task failed: {e}"), true))?;
    result.map_err(|errors| {
        let transient = errors.iter().all(|e| e.transient);
        let all: Vec<String> = errors.into_iter().map(|e| e.message).collect();
        failed(all.join("; "), transient)
    })
}

/// The sync's `decryption` when some object needs decrypting, `None` when
/// none does.
///
/// # Errors
/// [`Reason::DecryptionFailed`] when some object is encrypted and the sync
/// has no `decryption`: applying ciphertext would put `ENC[…]` strings
/// where the cluster expects values, so it is refused, saying how to fix
/// it.
fn decryption_needed<'s>(
    sync: &'s weir_config::Sync,
    objects: &[(Object, String)],
) -> Result<Option<&'s Decryption>, StepError> {
    let encrypted: Vec<String> = objects
        .iter()
        .filter(|(o, _)| is_encrypted(o) && !decryption_disabled(o))
        .map(|(o, _)| describe(o))
        .collect();
    if encrypted.is_empty() {
        return Ok(None);
    }
    match &sync.decryption {
        Some(d) => Ok(Some(d)),
        None => Err(StepError {
            reason: Reason::DecryptionFailed,
            message: format!(
                "{} encrypted with SOPS (a top-level `sops` map) but sync {:?} has no decryption: add [sync.decryption] with provider = \"sops\" and its keys (secretRef or keyFiles), or annotate the object {DECRYPT_ANNOTATION}: disabled to apply it as it is",
                list_objects(&encrypted),
                sync.name.as_str()
            ),
            transient: false,
        }),
    }
}

/// `a is` / `a, b and 2 more are` — a bounded list for messages.
fn list_objects(names: &[String]) -> String {
    const SHOWN: usize = 5;
    match names {
        [one] => format!("{one} is"),
        _ if names.len() <= SHOWN => format!("{} are", names.join(", ")),
        _ => format!(
            "{} and {} more are",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        ),
    }
}

/// The private keys of `config`: the `secretRef` Secret's `.agekey` and
/// `.asc` entries (others ignored, as in Flux), then `keyFiles`.
///
/// # Errors
/// [`Reason::DecryptionFailed`] naming the Secret or file that cannot be
/// read; transient, since keys can be added without a new revision.
pub async fn load_keys(
    config: &Decryption,
    ctx: &DecryptContext,
) -> Result<Vec<DecryptKey>, StepError> {
    let failed = |message: String| StepError {
        reason: Reason::DecryptionFailed,
        message,
        transient: true,
    };
    let mut keys = Vec::new();
    if let Some(r) = &config.secret_ref {
        let api: Api<Secret> = Api::namespaced(ctx.host.client().clone(), r.namespace.as_str());
        let secret = api
            .get_opt(r.name.as_str())
            .await
            .map_err(|e| failed(format!("decryption.secretRef: cannot read {r}: {e}")))?
            .ok_or_else(|| {
                failed(format!(
                    "decryption.secretRef: {r} does not exist: create it with the private keys as entries ending in .agekey (age) or .asc (OpenPGP)"
                ))
            })?;
        // `data` is a BTreeMap: keys are tried in a stable order.
        for (entry, value) in secret.data.unwrap_or_default() {
            if let Some(kind) = KeyKind::of(&entry) {
                keys.push(DecryptKey {
                    kind: kind.as_str().to_owned(),
                    name: format!("{r}:{entry}"),
                    material: value.0,
                });
            }
        }
    }
    for f in &config.key_files {
        let path = if f.path.is_absolute() {
            f.path.clone()
        } else {
            ctx.base_dir.join(&f.path)
        };
        // The I/O error says what failed (missing, permissions), never the
        // content.
        let material = tokio::fs::read(&path).await.map_err(|e| {
            failed(format!(
                "decryption.keyFiles: cannot read {}: {e}",
                path.display()
            ))
        })?;
        keys.push(DecryptKey {
            kind: f.kind.as_str().to_owned(),
            name: path.display().to_string(),
            material,
        });
    }
    Ok(keys)
}

/// One object that could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptFailure {
    /// The object, the plugin and the cause.
    pub message: String,
    /// Whether the same revision may decrypt later (keys can change in the
    /// cluster; a tampered value cannot heal).
    pub transient: bool,
}

/// Decrypts the encrypted objects of `objects` with `decryptor` and `keys`,
/// falling back to the document in Git ([`merge_verified`]) when a rendered
/// object fails on its MAC alone. Blocking.
///
/// # Errors
/// One [`DecryptFailure`] per object that failed.
pub fn decrypt_all(
    decryptor: &dyn Decryptor,
    keys: &[DecryptKey],
    objects: Vec<(Object, String)>,
    artifact_dir: &Path,
) -> Result<Vec<Object>, Vec<DecryptFailure>> {
    let mut out = Vec::with_capacity(objects.len());
    let mut errors = Vec::new();
    for (o, json) in objects {
        if !is_encrypted(&o) || decryption_disabled(&o) {
            out.push(o);
            continue;
        }
        match decrypt_object(decryptor, keys, &o, &json, artifact_dir) {
            Ok(d) => out.push(d),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Whether `e` says that the document's MAC failed and nothing else.
///
/// The SOPS plugin has no error kind of its own for that, so this relies
/// on its stable message form, `<name>: MAC mismatch: …` with the `name` of
/// the request, of kind `InvalidInput` (`plugins/sops/src/error.rs`,
/// `Error::MacMismatch`). A decryptor that words it otherwise only loses
/// the fallback to the document in Git: its error is reported as it is.
fn is_mac_mismatch(e: &PluginError, name: &str) -> bool {
    e.kind == PluginErrorKind::InvalidInput
        && e.message.starts_with(&format!("{name}: MAC mismatch:"))
}

fn plugin_failure(e: &PluginError) -> DecryptFailure {
    DecryptFailure {
        message: e.to_string(),
        // No key matching is fixed by changing the keys, without a new
        // revision; bad input is not.
        transient: e.kind == PluginErrorKind::Denied || e.kind.is_transient(),
    }
}

fn decrypt_object(
    decryptor: &dyn Decryptor,
    keys: &[DecryptKey],
    o: &Object,
    json: &str,
    artifact_dir: &Path,
) -> Result<Object, DecryptFailure> {
    let name = describe(o);
    let request = DecryptRequest {
        name: &name,
        format: DecryptFormat::Json,
        data: json.as_bytes(),
        keys,
    };
    let plain = match decryptor.decrypt(&request) {
        Ok(bytes) => bytes,
        Err(e) if is_mac_mismatch(&e, &name) => {
            return decrypt_from_origin(decryptor, keys, o, &e, artifact_dir);
        }
        Err(e) => return Err(plugin_failure(&e)),
    };
    let fail = |message: String| DecryptFailure {
        message: format!("{name}: {message}"),
        transient: false,
    };
    // The parser's error gives a position, not the text.
    let mut data = match serde_json::from_slice::<Value>(&plain) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(fail(format!(
                "decryptor {:?} returned something else than a JSON object",
                decryptor.name()
            )));
        }
        Err(e) => {
            return Err(fail(format!(
                "decryptor {:?} returned invalid JSON ({e})",
                decryptor.name()
            )));
        }
    };
    data.remove("sops");
    let decrypted = Object {
        data,
        origin: o.origin.clone(),
    };
    if decrypted.key() != o.key() {
        return Err(fail(format!(
            "decryptor {:?} returned another object ({})",
            decryptor.name(),
            decrypted.key()
        )));
    }
    Ok(decrypted)
}

/// Where a rendered object came from: `file`, `file#doc`, optionally with
/// a List item `[i]` (the plain renderer's `file#doc[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin<'a> {
    file: &'a str,
    doc: Option<usize>,
    item: Option<usize>,
}

fn parse_origin(origin: &str) -> Option<Origin<'_>> {
    let (rest, item) = match origin.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
        Some((rest, i)) => (rest, Some(i.parse().ok()?)),
        None => (origin, None),
    };
    let (file, doc) = match rest.rsplit_once('#') {
        Some((file, d)) => (file, Some(d.parse().ok()?)),
        None => (rest, None),
    };
    (!file.is_empty()).then_some(Origin { file, doc, item })
}

/// The artifact file `file`, if it is inside `artifact_dir` (after
/// symlinks): the renderer saw only the artifact, and so does this.
fn artifact_file(artifact_dir: &Path, file: &str) -> Result<PathBuf, String> {
    let rel = Path::new(file);
    if !rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!("origin {file:?} is not a path inside the artifact"));
    }
    let root = artifact_dir
        .canonicalize()
        .map_err(|e| format!("cannot open the artifact: {e}"))?;
    let path = root
        .join(rel)
        .canonicalize()
        .map_err(|e| format!("cannot open {file}: {e}"))?;
    if !path.starts_with(&root) {
        return Err(format!("{file} leads outside the artifact"));
    }
    Ok(path)
}

/// The rendered object `o` failed its MAC (`mac_error`): verify its origin
/// document in Git and take the plaintext from there ([`merge_verified`]).
fn decrypt_from_origin(
    decryptor: &dyn Decryptor,
    keys: &[DecryptKey],
    o: &Object,
    mac_error: &PluginError,
    artifact_dir: &Path,
) -> Result<Object, DecryptFailure> {
    let refuse = |why: String| DecryptFailure {
        message: format!(
            "{mac_error}; weir then checks the document in Git it was rendered from, and {why}"
        ),
        transient: false,
    };
    let origin = parse_origin(&o.origin)
        .ok_or_else(|| refuse(format!("its origin {:?} names no file", o.origin)))?;
    let path = artifact_file(artifact_dir, origin.file).map_err(&refuse)?;
    let text =
        std::fs::read(&path).map_err(|e| refuse(format!("cannot read {}: {e}", origin.file)))?;
    let format = if origin.file.ends_with(".json") {
        DecryptFormat::Json
    } else {
        DecryptFormat::Yaml
    };
    let plain = decryptor
        .decrypt(&DecryptRequest {
            name: origin.file,
            format,
            data: &text,
            keys,
        })
        .map_err(|e| refuse(format!("it does not verify either: {e}")))?;
    let encrypted_doc =
        select(&text, &origin).map_err(|e| refuse(format!("cannot read {}: {e}", o.origin)))?;
    let plain_doc = select(&plain, &origin)
        .map_err(|e| refuse(format!("cannot read the decrypted {} ({e})", o.origin)))?;
    let data = merge_verified(&o.data, &encrypted_doc, &plain_doc).map_err(|e| {
        refuse(format!(
            "the rendered object does not match {}: {e}",
            o.origin
        ))
    })?;
    tracing::debug!(
        object = %o.key(),
        origin = %o.origin,
        "rendered object fails its MAC (the renderer changed it); its encrypted values match the verified document in Git"
    );
    Ok(Object {
        data,
        origin: o.origin.clone(),
    })
}

/// Document `origin.doc` (and List item `origin.item`) of a YAML or JSON
/// stream, as JSON. Parse errors give a position, never the text.
fn select(bytes: &[u8], origin: &Origin<'_>) -> Result<Value, String> {
    use serde::Deserialize;
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let mut docs = Vec::new();
    for d in serde_yaml_ng::Deserializer::from_str(text) {
        docs.push(Value::deserialize(d).map_err(|e| {
            e.location()
                .map(|l| format!("malformed YAML at line {}", l.line()))
                .unwrap_or_else(|| "malformed YAML".to_owned())
        })?);
    }
    let index = origin.doc.unwrap_or(0);
    let doc = docs
        .into_iter()
        .nth(index)
        .ok_or_else(|| format!("it has no document {index}"))?;
    match origin.item {
        None => Ok(doc),
        Some(i) => doc
            .get("items")
            .and_then(|items| items.get(i))
            .cloned()
            .ok_or_else(|| format!("it has no List item {i}")),
    }
}

/// Why a rendered object was refused against its verified origin. Names
/// key paths, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// An encrypted value differs from the one at the same key path in
    /// Git.
    #[error("the encrypted value at {0} differs from the one at that key path in Git")]
    Changed(KeyPath),
    /// An encrypted value where the document in Git has none: added by the
    /// renderer, or moved from another key path.
    #[error(
        "the encrypted value at {0} is not in the document in Git at that key path (added, or moved from another key)"
    )]
    NotInOrigin(KeyPath),
    /// The verified decryption has no value at a key path whose encrypted
    /// value matched (a decryptor bug).
    #[error("the decrypted document has no value at {0}")]
    NoPlaintext(KeyPath),
}

/// A key path in a document: `data.password`, `spec.items[2].token`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Step::Key(k) if i == 0 => f.write_str(k)?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl KeyPath {
    fn lookup<'v>(&self, mut v: &'v Value) -> Option<&'v Value> {
        for s in &self.0 {
            v = match s {
                Step::Key(k) => v.get(k)?,
                Step::Index(n) => v.get(n)?,
            };
        }
        Some(v)
    }
}

/// Whether a string is a SOPS encrypted value.
fn is_enc(s: &str) -> bool {
    s.starts_with("ENC[") && s.ends_with(']')
}

/// The rendered object `rendered`, with every `ENC[…]` value replaced by
/// its plaintext from `plain`, the decryption of `origin` — the document
/// in Git it was rendered from, which the decryptor verified whole (GCM
/// tags and MAC). The top-level `sops` map is dropped; every other value
/// stays as rendered.
///
/// Accepted only if each `ENC[…]` value of `rendered` is exactly the
/// encrypted value at the same key path of `origin`: a value changed,
/// added or moved to another key path is refused. A value the renderer
/// removed (a `$patch: delete`) is not: what reaches the cluster is still
/// only authenticated values at their own key paths, and the instructions
/// that removed it are in Git in plaintext, as every plaintext field is.
///
/// # Errors
/// The first [`MergeError`], by key path.
pub fn merge_verified(
    rendered: &Map<String, Value>,
    origin: &Value,
    plain: &Value,
) -> Result<Map<String, Value>, MergeError> {
    let mut out = rendered.clone();
    out.remove("sops");
    let mut path = KeyPath::default();
    for (k, v) in &mut out {
        path.0.push(Step::Key(k.clone()));
        replace_enc(v, &mut path, origin, plain)?;
        path.0.pop();
    }
    Ok(out)
}

fn replace_enc(
    v: &mut Value,
    path: &mut KeyPath,
    origin: &Value,
    plain: &Value,
) -> Result<(), MergeError> {
    match v {
        Value::String(s) if is_enc(s) => {
            match path.lookup(origin) {
                Some(Value::String(o)) if o == s => {}
                Some(Value::String(o)) if is_enc(o) => {
                    return Err(MergeError::Changed(path.clone()));
                }
                _ => return Err(MergeError::NotInOrigin(path.clone())),
            }
            *v = path
                .lookup(plain)
                .cloned()
                .ok_or_else(|| MergeError::NoPlaintext(path.clone()))?;
        }
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                path.0.push(Step::Key(k.clone()));
                replace_enc(child, path, origin, plain)?;
                path.0.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                path.0.push(Step::Index(i));
                replace_enc(child, path, origin, plain)?;
                path.0.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(s: &str) -> Value {
        Value::String(format!("ENC[AES256_GCM,data:{s},type:str]"))
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// A Secret as in Git, encrypted (`ENC[…]` values), and its decryption.
    fn secret_in_git() -> (Value, Value) {
        let origin = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"},
            "data": {"user": enc("u"), "password": enc("p")},
            "stringData": {"list": [enc("a"), "plain"]},
            "sops": {"mac": "ENC[AES256_GCM,data:mac,type:str]", "version": "3.11.0"}
        });
        let plain = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"},
            "data": {"user": "dXNlcg==", "password": "czNjcjN0"},
            "stringData": {"list": ["alpha", "plain"]}
        });
        (origin, plain)
    }

    /// The Secret as kustomize renders it: namespace and a label added.
    fn rendered() -> Map<String, Value> {
        let (mut origin, _) = secret_in_git();
        origin["metadata"]["namespace"] = json!("shop");
        origin["metadata"]["labels"] = json!({"team": "a"});
        map(origin)
    }

    #[test]
    fn merge_takes_plaintext_from_the_verified_origin_and_keeps_rendered_fields() {
        let (origin, plain) = secret_in_git();
        let out = merge_verified(&rendered(), &origin, &plain).expect("accepted");
        assert_eq!(out["data"]["password"], "czNjcjN0");
        assert_eq!(out["data"]["user"], "dXNlcg==");
        assert_eq!(out["stringData"]["list"], json!(["alpha", "plain"]));
        assert_eq!(out["metadata"]["namespace"], "shop");
        assert_eq!(out["metadata"]["labels"]["team"], "a");
        assert!(!out.contains_key("sops"));
    }

    #[test]
    fn merge_refuses_a_changed_encrypted_value() {
        let (origin, plain) = secret_in_git();
        let mut r = rendered();
        r["data"]["password"] = enc("other");
        let e = merge_verified(&r, &origin, &plain).expect_err("changed");
        assert!(matches!(e, MergeError::Changed(_)));
        assert_eq!(
            e.to_string(),
            "the encrypted value at data.password differs from the one at that key path in Git"
        );
    }

    #[test]
    fn merge_refuses_an_encrypted_value_moved_to_another_key_path() {
        let (origin, plain) = secret_in_git();
        let mut r = rendered();
        // The password's ciphertext moved to a key Git does not have.
        let pw = r["data"]["password"].clone();
        r["data"].as_object_mut().expect("map").remove("password");
        r["data"]["token"] = pw.clone();
        let e = merge_verified(&r, &origin, &plain).expect_err("moved");
        assert_eq!(e, MergeError::NotInOrigin(path(&["data", "token"])));
        // … or onto another encrypted key: its value differs there.
        let mut r = rendered();
        r["data"]["user"] = pw;
        let e = merge_verified(&r, &origin, &plain).expect_err("moved");
        assert_eq!(e, MergeError::Changed(path(&["data", "user"])));
        // … or into a list, to another index.
        let mut r = rendered();
        r["stringData"]["list"] = json!(["plain", enc("a")]);
        let e = merge_verified(&r, &origin, &plain).expect_err("moved");
        assert_eq!(
            e.to_string().split(" is ").next(),
            Some("the encrypted value at stringData.list[1]")
        );
    }

    #[test]
    fn merge_refuses_an_added_encrypted_value() {
        let (origin, plain) = secret_in_git();
        let mut r = rendered();
        r["data"]["extra"] = enc("x");
        let e = merge_verified(&r, &origin, &plain).expect_err("added");
        assert_eq!(e, MergeError::NotInOrigin(path(&["data", "extra"])));
        // A plaintext value where Git has one at that path is not a match.
        let mut r = rendered();
        r["metadata"]["name"] = enc("x");
        let e = merge_verified(&r, &origin, &plain).expect_err("added");
        assert_eq!(e, MergeError::NotInOrigin(path(&["metadata", "name"])));
    }

    #[test]
    fn merge_accepts_a_removed_encrypted_value_and_applies_the_rest() {
        let (origin, plain) = secret_in_git();
        let mut r = rendered();
        r["data"].as_object_mut().expect("map").remove("user");
        let out = merge_verified(&r, &origin, &plain).expect("accepted");
        assert_eq!(out["data"], json!({"password": "czNjcjN0"}));
    }

    fn path(keys: &[&str]) -> KeyPath {
        KeyPath(keys.iter().map(|k| Step::Key((*k).to_owned())).collect())
    }

    #[test]
    fn origins_name_a_file_a_document_and_a_list_item() {
        let o = |file, doc, item| Some(Origin { file, doc, item });
        assert_eq!(parse_origin("a/s.yaml"), o("a/s.yaml", None, None));
        assert_eq!(parse_origin("a/s.yaml#2"), o("a/s.yaml", Some(2), None));
        assert_eq!(parse_origin("s.yaml#0[3]"), o("s.yaml", Some(0), Some(3)));
        assert_eq!(parse_origin(""), None);
        assert_eq!(parse_origin("s.yaml#x"), None);
    }

    /// A stand-in for the SOPS plugin: `ENC[AES256_GCM,data:X,…]` decrypts
    /// to `X`; the MAC (`sops.mac`) is a SHA-256 of the document without
    /// its `sops` map, in its key order, and the data key opens with the
    /// key whose material is `right`. Its errors read as the plugin's.
    struct FakeSops;

    fn fake_mac(doc: &Value) -> String {
        use sha2::Digest;
        let mut d = doc.clone();
        if let Some(m) = d.as_object_mut() {
            m.remove("sops");
        }
        let text = serde_json::to_string(&d).expect("json");
        let hex: String = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("ENC[AES256_GCM,data:{hex},type:str]")
    }

    fn fake_decrypt_value(v: &mut Value) {
        match v {
            Value::String(s) if is_enc(s) => {
                let inner = s["ENC[AES256_GCM,data:".len()..]
                    .split(',')
                    .next()
                    .unwrap_or("");
                *v = Value::String(inner.to_owned());
            }
            Value::Object(m) => m.values_mut().for_each(fake_decrypt_value),
            Value::Array(a) => a.iter_mut().for_each(fake_decrypt_value),
            _ => {}
        }
    }

    impl Decryptor for FakeSops {
        fn name(&self) -> &str {
            "sops"
        }

        fn decrypt(&self, r: &DecryptRequest<'_>) -> Result<Vec<u8>, PluginError> {
            let err = |kind, message: String| PluginError {
                plugin: "sops".into(),
                version: Some("0.1.0".into()),
                kind,
                message,
                file: None,
                line: None,
            };
            if !r.keys.iter().any(|k| k.material == b"right") {
                let names: Vec<&str> = r.keys.iter().map(|k| k.name.as_str()).collect();
                return Err(err(
                    PluginErrorKind::Denied,
                    format!(
                        "{}: none of the supplied keys ({}) can decrypt the data key; the document is encrypted for age1right",
                        r.name,
                        names.join(", ")
                    ),
                ));
            }
            let text = std::str::from_utf8(r.data).expect("utf-8");
            let docs: Vec<Value> = match r.format {
                DecryptFormat::Json => vec![serde_json::from_str(text).expect("json")],
                _ => {
                    use serde::Deserialize;
                    serde_yaml_ng::Deserializer::from_str(text)
                        .map(|d| Value::deserialize(d).expect("yaml"))
                        .collect()
                }
            };
            let mut out = Vec::new();
            for mut doc in docs {
                if doc["sops"]["mac"] != Value::String(fake_mac(&doc)) {
                    return Err(err(
                        PluginErrorKind::InvalidInput,
                        format!(
                            "{}: MAC mismatch: the document was modified after it was encrypted (values do not match)",
                            r.name
                        ),
                    ));
                }
                if let Some(m) = doc.as_object_mut() {
                    m.remove("sops");
                }
                fake_decrypt_value(&mut doc);
                out.push(doc);
            }
            Ok(match r.format {
                DecryptFormat::Json => serde_json::to_vec(&out[0]).expect("json"),
                _ => out
                    .iter()
                    .map(|d| serde_yaml_ng::to_string(d).expect("yaml"))
                    .collect::<Vec<_>>()
                    .join("---\n")
                    .into_bytes(),
            })
        }
    }

    /// `doc` with a fake MAC over its current values.
    fn seal(mut doc: Value) -> Value {
        doc["sops"] = json!({"version": "3.11.0", "mac": ""});
        let mac = fake_mac(&doc);
        doc["sops"]["mac"] = Value::String(mac);
        doc
    }

    fn git_secret(name: &str, password: &str) -> Value {
        seal(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name},
            "data": {"password": enc(password)}
        }))
    }

    fn object(v: &Value, origin: &str) -> (Object, String) {
        let json = serde_json::to_string(v).expect("json");
        (Object::from_json(&json, origin).expect("object"), json)
    }

    fn keys(material: &[u8]) -> Vec<DecryptKey> {
        vec![DecryptKey {
            kind: "age".into(),
            name: "Secret/weir-system/sops-keys:identity.agekey".into(),
            material: material.to_vec(),
        }]
    }

    /// An artifact directory holding `files`.
    fn artifact(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }
        dir
    }

    fn yaml(v: &Value) -> String {
        serde_yaml_ng::to_string(v).expect("yaml")
    }

    #[test]
    fn unencrypted_and_opted_out_objects_pass_through_untouched() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": enc("x")}});
        let mut off = git_secret("off", "secret");
        off["metadata"]["annotations"] = json!({DECRYPT_ANNOTATION: "Disabled"});
        let mut flux_off = git_secret("flux-off", "secret");
        flux_off["metadata"]["annotations"] = json!({FLUX_DECRYPT_ANNOTATION: "disabled"});
        let dir = artifact(&[]);
        let input = vec![
            object(&cm, "cm.yaml"),
            object(&off, "off.yaml"),
            object(&flux_off, "f.yaml"),
        ];
        let expected: Vec<Object> = input.iter().map(|(o, _)| o.clone()).collect();
        // No key at all: nothing is decrypted, so none is needed.
        let out = decrypt_all(&FakeSops, &[], input, dir.path()).expect("untouched");
        assert_eq!(out, expected);
    }

    #[test]
    fn an_object_as_in_git_decrypts_directly() {
        let s = git_secret("db", "s3cr3t");
        let dir = artifact(&[]);
        let out = decrypt_all(
            &FakeSops,
            &keys(b"right"),
            vec![object(&s, "db.yaml")],
            dir.path(),
        )
        .expect("decrypted");
        assert_eq!(out[0].data["data"]["password"], "s3cr3t");
        assert!(!out[0].data.contains_key("sops"));
        assert_eq!(out[0].origin, "db.yaml");
    }

    #[test]
    fn a_rendered_object_failing_its_mac_is_verified_against_its_document_in_git() {
        let other = git_secret("other", "0ther");
        let s = git_secret("db", "s3cr3t");
        // Document 1 of a stream, as the renderer names it `secrets.yaml#1`.
        let dir = artifact(&[(
            "app/secrets.yaml",
            format!("{}---\n{}", yaml(&other), yaml(&s)),
        )]);
        let mut r = s.clone();
        r["metadata"]["namespace"] = json!("shop");
        r["metadata"]["labels"] = json!({"team": "a"});
        let out = decrypt_all(
            &FakeSops,
            &keys(b"right"),
            vec![object(&r, "app/secrets.yaml#1")],
            dir.path(),
        )
        .expect("verified in git");
        assert_eq!(out[0].data["data"]["password"], "s3cr3t");
        assert_eq!(out[0].data["metadata"]["namespace"], "shop");
        assert_eq!(out[0].data["metadata"]["labels"]["team"], "a");
        assert!(!out[0].data.contains_key("sops"));
    }

    #[test]
    fn a_changed_value_or_a_tampered_document_in_git_is_refused_without_plaintext() {
        let s = git_secret("db", "s3cr3t");
        let dir = artifact(&[("db.yaml", yaml(&s))]);
        // The renderer put another (validly encrypted elsewhere) value in.
        let mut r = s.clone();
        r["metadata"]["namespace"] = json!("shop");
        r["data"]["password"] = enc("0ther");
        let errs = decrypt_all(
            &FakeSops,
            &keys(b"right"),
            vec![object(&r, "db.yaml")],
            dir.path(),
        )
        .expect_err("refused");
        let m = &errs[0].message;
        assert!(m.contains("Secret/shop/db (db.yaml): MAC mismatch"), "{m}");
        assert!(
            m.contains("data.password differs from the one at that key path in Git"),
            "{m}"
        );
        assert!(!errs[0].transient);
        assert!(!m.contains("s3cr3t") && !m.contains("0ther"), "{m}");
        // The document in Git itself was changed after encryption.
        let mut tampered = s.clone();
        tampered["data"]["password"] = enc("0ther");
        let dir = artifact(&[("db.yaml", yaml(&tampered))]);
        let errs = decrypt_all(
            &FakeSops,
            &keys(b"right"),
            vec![object(&tampered, "db.yaml")],
            dir.path(),
        )
        .expect_err("refused");
        let m = &errs[0].message;
        assert!(
            m.contains("does not verify either: plugin \"sops\" 0.1.0: db.yaml: MAC mismatch"),
            "{m}"
        );
        assert!(!m.contains("0ther"), "{m}");
    }

    #[test]
    fn no_matching_key_names_the_object_and_keys_and_may_be_retried() {
        let s = git_secret("db", "s3cr3t");
        let dir = artifact(&[]);
        let errs = decrypt_all(
            &FakeSops,
            &keys(b"wrong"),
            vec![object(&s, "db.yaml")],
            dir.path(),
        )
        .expect_err("no key");
        let m = &errs[0].message;
        assert!(m.starts_with("plugin \"sops\" 0.1.0: Secret/db (db.yaml): none of the supplied keys (Secret/weir-system/sops-keys:identity.agekey)"), "{m}");
        assert!(!m.contains("wrong"), "{m}");
        assert!(errs[0].transient);
    }

    #[test]
    fn an_origin_outside_the_artifact_is_not_read() {
        let s = git_secret("db", "s3cr3t");
        let outside = artifact(&[("db.yaml", yaml(&s))]);
        let dir = artifact(&[]);
        std::os::unix::fs::symlink(outside.path().join("db.yaml"), dir.path().join("link.yaml"))
            .expect("symlink");
        let mut r = s.clone();
        r["metadata"]["namespace"] = json!("shop");
        for origin in ["link.yaml", "../db.yaml", "/etc/passwd"] {
            let errs = decrypt_all(
                &FakeSops,
                &keys(b"right"),
                vec![object(&r, origin)],
                dir.path(),
            )
            .expect_err("outside");
            let m = &errs[0].message;
            assert!(
                m.contains("outside the artifact") || m.contains("not a path inside the artifact"),
                "{origin}: {m}"
            );
        }
    }

    #[test]
    fn encrypted_objects_without_decryption_are_refused_naming_them() {
        let config = weir_config::Config::parse(
            "version = 1\n[[git]]\nname = \"g\"\nurl = \"https://x/g.git\"\n[[sync]]\nname = \"s\"\nsource = \"g\"\nprune = true\n",
            Path::new("/etc/weir/weir.toml"),
        )
        .expect("config");
        let sync = &config.sync[0];
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(
            decryption_needed(sync, &[object(&cm, "cm.yaml")])
                .expect("fine")
                .is_none()
        );
        let s = git_secret("db", "x");
        let e = decryption_needed(sync, &[object(&cm, "cm.yaml"), object(&s, "db.yaml")])
            .expect_err("refused");
        assert_eq!(e.reason, Reason::DecryptionFailed);
        assert!(!e.transient);
        assert!(
            e.message
                .starts_with("Secret/db (db.yaml) is encrypted with SOPS"),
            "{}",
            e.message
        );
        assert!(e.message.contains("[sync.decryption]"), "{}", e.message);
    }
}
