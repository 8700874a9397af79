//! Helm's release records, in Helm's own storage format, so that the Helm
//! CLI lists, inspects and rolls back what weir installed, and weir takes
//! over releases Helm installed.
//!
//! A record is a Secret `sh.helm.release.v1.<name>.v<version>` of type
//! `helm.sh/release.v1` in the storage namespace, labelled `owner=helm`,
//! `name`, `status`, `version` and `modifiedAt`, whose `release` key holds
//! base64(gzip(JSON of the release)). Fields weir does not know (written
//! by a newer Helm) are kept as they were when weir rewrites a record.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The Secret type of release records.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";

/// Release statuses, as Helm spells them.
pub mod status {
    /// The release's current revision.
    pub const DEPLOYED: &str = "deployed";
    /// Replaced by a newer deployed revision.
    pub const SUPERSEDED: &str = "superseded";
    /// The action that made this revision failed.
    pub const FAILED: &str = "failed";
    /// Uninstalled with `keepHistory`.
    pub const UNINSTALLED: &str = "uninstalled";
    /// An install in progress.
    pub const PENDING_INSTALL: &str = "pending-install";
    /// An upgrade in progress.
    pub const PENDING_UPGRADE: &str = "pending-upgrade";
    /// A rollback in progress.
    pub const PENDING_ROLLBACK: &str = "pending-rollback";
}

/// One revision of a release (Helm's `release.Release`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Release {
    /// The release name.
    pub name: String,
    /// Status and timestamps.
    #[serde(default)]
    pub info: Info,
    /// The chart (metadata, templates, values, files) as Helm stores it.
    #[serde(default)]
    pub chart: Value,
    /// The user-supplied values.
    #[serde(default)]
    pub config: Value,
    /// The rendered manifest: `---\n# Source: …\n<yaml>` per object.
    #[serde(default)]
    pub manifest: String,
    /// The hooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// The revision.
    pub version: u32,
    /// The release namespace.
    #[serde(default)]
    pub namespace: String,
    /// Fields weir does not interpret (`apply_method`, `labels`, …).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A release's status (Helm's `release.Info`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Info {
    /// When the release was first deployed (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub first_deployed: String,
    /// When this revision was deployed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_deployed: String,
    /// When it was uninstalled.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deleted: String,
    /// What happened.
    #[serde(default)]
    pub description: String,
    /// One of [`status`].
    #[serde(default)]
    pub status: String,
    /// The rendered `NOTES.txt`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// Fields weir does not interpret.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A hook of a release (Helm's `release.Hook`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hook {
    /// The object's name.
    pub name: String,
    /// The object's kind.
    pub kind: String,
    /// The template it came from (`chart/templates/x.yaml`).
    #[serde(default)]
    pub path: String,
    /// The object as YAML.
    #[serde(default)]
    pub manifest: String,
    /// Its events: `pre-install`, `post-upgrade`, `test`, …
    #[serde(default)]
    pub events: Vec<String>,
    /// The last run.
    #[serde(default)]
    pub last_run: HookRun,
    /// Ordering weight (lower first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    /// `before-hook-creation`, `hook-succeeded`, `hook-failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
    /// Fields weir does not interpret.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The last run of a hook.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HookRun {
    /// When it started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    /// When it finished.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_at: String,
    /// `Running`, `Succeeded`, `Failed`, or empty when it never ran.
    #[serde(default)]
    pub phase: String,
}

/// Why the release records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The API server refused or could not be reached.
    #[error("release records in namespace {namespace:?}: {message}")]
    Api {
        /// The storage namespace.
        namespace: String,
        /// What the API server said.
        message: String,
        /// Whether a retry may help.
        transient: bool,
    },
    /// A record does not decode.
    #[error("release record Secret {namespace}/{secret} cannot be read: {message}")]
    Corrupt {
        /// The storage namespace.
        namespace: String,
        /// The Secret's name.
        secret: String,
        /// Why.
        message: String,
    },
    /// The record exists already: another operation is in progress (or
    /// left its record behind).
    #[error(
        "release record Secret {namespace}/{secret} already exists: another Helm operation on this release is in progress"
    )]
    Exists {
        /// The storage namespace.
        namespace: String,
        /// The Secret's name.
        secret: String,
    },
}

impl StorageError {
    /// Whether a retry may help.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Api { transient, .. } => *transient,
            StorageError::Corrupt { .. } => false,
            StorageError::Exists { .. } => true,
        }
    }
}

/// The name of a record's Secret.
pub fn secret_name(release: &str, version: u32) -> String {
    format!("sh.helm.release.v1.{release}.v{version}")
}

/// base64(gzip(JSON)), Helm's encoding of the `release` key.
///
/// # Errors
/// Only if compression fails, which writing to memory does not.
pub fn encode(r: &Release) -> std::io::Result<String> {
    let json = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)?;
    let compressed = gz.finish()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

/// Reads Helm's encoding (gzip is optional, as in Helm).
///
/// # Errors
/// A message saying which layer is broken.
pub fn decode(data: &[u8]) -> Result<Release, String> {
    let text: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| format!("not base64: {e}"))?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("not gzip: {e}"))?;
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|e| format!("not a Helm release: {e}"))
}

/// The release records of one release in one namespace.
pub struct Storage {
    api: Api<Secret>,
    namespace: String,
    release: String,
}

impl Storage {
    /// Records of `release` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, release: &str) -> Self {
        Storage {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            release: release.to_owned(),
        }
    }

    /// The release name.
    pub fn release(&self) -> &str {
        &self.release
    }

    fn api_error(&self, e: &kube::Error) -> StorageError {
        let transient = match e {
            kube::Error::Api(s) => s.code >= 500 || s.code == 429 || s.code == 409,
            _ => true,
        };
        let message = match e {
            kube::Error::Api(s) => s.message.clone(),
            other => other.to_string(),
        };
        StorageError::Api {
            namespace: self.namespace.clone(),
            message,
            transient,
        }
    }

    /// Every record, oldest first.
    ///
    /// # Errors
    /// The API server failed, or a record does not decode.
    pub async fn history(&self) -> Result<Vec<Release>, StorageError> {
        let lp = ListParams::default().labels(&format!("owner=helm,name={}", self.release));
        let list = match self.api.list(&lp).await {
            Ok(l) => l,
            // No namespace yet: no records yet.
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Vec::new()),
            Err(e) => return Err(self.api_error(&e)),
        };
        let mut out = Vec::new();
        for s in list.items {
            let secret = s.metadata.name.clone().unwrap_or_default();
            let data = s
                .data
                .as_ref()
                .and_then(|d| d.get("release"))
                .ok_or_else(|| StorageError::Corrupt {
                    namespace: self.namespace.clone(),
                    secret: secret.clone(),
                    message: "no `release` key".into(),
                })?;
            let r = decode(&data.0).map_err(|message| StorageError::Corrupt {
                namespace: self.namespace.clone(),
                secret: secret.clone(),
                message,
            })?;
            out.push(r);
        }
        out.sort_by_key(|r| r.version);
        Ok(out)
    }

    fn secret(&self, r: &Release) -> Result<Secret, StorageError> {
        let data = encode(r).map_err(|e| StorageError::Corrupt {
            namespace: self.namespace.clone(),
            secret: secret_name(&r.name, r.version),
            message: e.to_string(),
        })?;
        let mut labels = BTreeMap::new();
        labels.insert("name".to_owned(), r.name.clone());
        labels.insert("owner".to_owned(), "helm".to_owned());
        labels.insert("status".to_owned(), r.info.status.clone());
        labels.insert("version".to_owned(), r.version.to_string());
        labels.insert(
            "modifiedAt".to_owned(),
            crate::status::now_unix().to_string(),
        );
        Ok(Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(&r.name, r.version)),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_owned()),
            data: Some(BTreeMap::from([(
                "release".to_owned(),
                ByteString(data.into_bytes()),
            )])),
            ..Secret::default()
        })
    }

    /// Writes a new record.
    ///
    /// # Errors
    /// [`StorageError::Exists`] when the revision is taken, else the API
    /// server's failure.
    pub async fn create(&self, r: &Release) -> Result<(), StorageError> {
        let s = self.secret(r)?;
        match self.api.create(&PostParams::default(), &s).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Err(StorageError::Exists {
                namespace: self.namespace.clone(),
                secret: secret_name(&r.name, r.version),
            }),
            Err(e) => Err(self.api_error(&e)),
        }
    }

    /// Rewrites an existing record (its status changed).
    ///
    /// # Errors
    /// The API server's failure.
    pub async fn update(&self, r: &Release) -> Result<(), StorageError> {
        let s = self.secret(r)?;
        self.api
            .replace(&secret_name(&r.name, r.version), &PostParams::default(), &s)
            .await
            .map(|_| ())
            .map_err(|e| self.api_error(&e))
    }

    /// Deletes a record; a missing one is fine.
    ///
    /// # Errors
    /// The API server's failure.
    pub async fn delete(&self, version: u32) -> Result<(), StorageError> {
        match self
            .api
            .delete(
                &secret_name(&self.release, version),
                &DeleteParams::default(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(self.api_error(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_unknown_fields() {
        let json = r#"{"name":"probe","info":{"first_deployed":"2026-11-26T23:03:45Z","last_deployed":"2026-11-26T23:03:45Z","description":"Upgrade complete","status":"deployed","future":1},"chart":{"metadata":{"name":"hooks","version":"0.1.0"}},"config":{"a":2},"manifest":"---\n# Source: hooks/templates/cm.yaml\nkind: ConfigMap\n","version":2,"namespace":"default","apply_method":"ssa"}"#;
        let r: Release = serde_json::from_str(json).expect("decodes");
        assert_eq!(r.version, 2);
        assert_eq!(r.info.status, "deployed");
        assert_eq!(r.rest.get("apply_method"), Some(&Value::from("ssa")));
        let back = decode(encode(&r).expect("encodes").as_bytes()).expect("round trip");
        assert_eq!(back, r);
        let text = serde_json::to_string(&back).expect("json");
        assert!(text.contains(r#""future":1"#), "{text}");
        assert!(
            !text.contains(r#""hooks":"#),
            "empty hooks are omitted: {text}"
        );
    }

    #[test]
    fn decode_names_the_broken_layer() {
        assert!(decode(b"%%%").expect_err("fails").starts_with("not base64"));
        let b = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 1, 2]);
        assert!(
            decode(b.as_bytes())
                .expect_err("fails")
                .starts_with("not gzip")
        );
        let b = base64::engine::general_purpose::STANDARD.encode(b"{}");
        assert!(
            decode(b.as_bytes())
                .expect_err("fails")
                .starts_with("not a Helm release")
        );
    }

    #[test]
    fn secret_names_are_helms() {
        assert_eq!(secret_name("web", 3), "sh.helm.release.v1.web.v3");
    }
}
