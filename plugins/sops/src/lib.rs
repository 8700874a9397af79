//! weir's `sops` decryptor plugin: documents encrypted with
//! [SOPS](https://getsops.io/docs/) (YAML, JSON, dotenv, INI, binary),
//! decrypted with age or OpenPGP private keys that come with the call, to
//! exactly the bytes `sops decrypt` prints.
//!
//! Start at [`decrypt`]: it loads the document into SOPS's tree model
//! ([`tree`]) with the format's store ([`yaml`], [`json`], [`dotenv`],
//! [`ini`]), reads the `sops` metadata ([`metadata`]), unwraps the data
//! key ([`keys`], the one place master keys are used; [`shamir`] for key
//! groups), decrypts the values and checks the MAC ([`walk`]), and writes
//! the tree back in the same format. Nothing is written to disk; keys and
//! decrypted values never appear in errors or `Debug` output.
//!
//! The WebAssembly component is a thin [`weir_sdk::Decryptor`] at the
//! bottom; the logic is tested natively, including against the real `sops`
//! (`tests/corpus.rs`).

pub mod age_pq;
pub mod cipher;
pub mod dotenv;
pub mod error;
pub mod ini;
pub mod json;
pub mod keys;
pub mod metadata;
pub mod shamir;
pub mod tree;
pub mod walk;
pub mod yaml;

pub use error::Error;
pub use keys::{KeySource, LocalKeys};
use weir_sdk::{DecryptRequest, Format};

use crate::tree::{Branch, Value};

/// A document loaded by its format's store: its branches (one per YAML
/// document) without the `sops` entry, and that entry.
pub struct Loaded {
    /// The documents.
    pub branches: Vec<Branch>,
    /// The `sops` metadata value.
    pub sops: Value,
}

/// The format's name for messages.
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Yaml => "yaml",
        Format::Json => "json",
        Format::Dotenv => "dotenv",
        Format::Ini => "ini",
        Format::Binary => "binary",
    }
}

/// Decrypts a request with the keys it carries.
///
/// # Errors
/// See [`Error`]: a malformed or non-SOPS document, unusable, missing or
/// wrong keys, a tampered value or MAC.
pub fn decrypt(request: &DecryptRequest) -> Result<Vec<u8>, Error> {
    let keys = LocalKeys::parse(&request.name, &request.keys)?;
    decrypt_with(request, &keys)
}

/// Decrypts a request, unwrapping the data key with `source` (a KMS-backed
/// decryptor passes its own [`KeySource`]; `request.keys` is not read).
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_with(request: &DecryptRequest, source: &dyn KeySource) -> Result<Vec<u8>, Error> {
    let name = request.name.as_str();
    let format = request.format;
    let malformed = |reason: String| Error::Malformed {
        name: name.to_string(),
        format: format_name(format),
        reason,
    };
    let text = std::str::from_utf8(&request.data)
        .map_err(|e| malformed(format!("not UTF-8 text: {e}")))?;
    let loaded = match format {
        Format::Yaml => yaml::load(text),
        Format::Json | Format::Binary => json::load(text),
        Format::Dotenv => dotenv::load(text),
        Format::Ini => ini::load(text),
    }
    .map_err(malformed)?
    .ok_or_else(|| Error::NotSops {
        name: name.to_string(),
    })?;
    let meta = metadata::parse(name, &loaded.sops)?;
    let key = zeroize::Zeroizing::new(keys::data_key(name, &meta, source)?);
    let branches = walk::decrypt_tree(name, &loaded.branches, &meta, &key)?;
    let emit_err = |reason: String| Error::Emit {
        name: name.to_string(),
        format: format_name(format),
        reason,
    };
    match format {
        Format::Yaml => yaml::emit(&branches).map_err(emit_err),
        Format::Json => json::emit(&branches).map_err(emit_err),
        Format::Dotenv => dotenv::emit(&branches).map_err(emit_err),
        Format::Ini => ini::emit(&branches).map_err(emit_err),
        Format::Binary => json::emit_binary(&branches).map_err(emit_err),
    }
}

/// The component: `weir:plugin/decryptor` over [`decrypt`].
pub struct Sops;

impl weir_sdk::Decryptor for Sops {
    fn decrypt(request: DecryptRequest) -> Result<Vec<u8>, weir_sdk::Error> {
        decrypt(&request).map_err(Into::into)
    }
}

#[cfg(target_family = "wasm")]
weir_sdk::export_decryptor!(Sops, name: "sops");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MasterKey;
    use sha2::{Digest, Sha512};

    /// A stand-in for a KMS-backed plugin's key source: it "unwraps" the
    /// data key for `kms` master keys only.
    struct FakeKms([u8; 32]);

    impl KeySource for FakeKms {
        fn unwrap(&self, master: &MasterKey) -> Option<Vec<u8>> {
            match master {
                MasterKey::Other { kind, enc, .. } if kind == "kms" && enc == "wrapped" => {
                    Some(self.0.to_vec())
                }
                _ => None,
            }
        }
        fn key_names(&self) -> Vec<String> {
            vec!["fake-kms".into()]
        }
        fn is_empty(&self) -> bool {
            false
        }
    }

    fn document(key: &[u8; 32], mac_of: &str) -> Vec<u8> {
        let last = "2026-01-02T03:04:05Z";
        let pw = cipher::encrypt_for_test(b"hunter2", "str", key, "password:", [3; 32]);
        let n = cipher::encrypt_for_test(b"42", "int", key, "n:", [4; 32]);
        let mac: String = Sha512::digest(mac_of.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let mac = cipher::encrypt_for_test(mac.as_bytes(), "str", key, last, [5; 32]);
        format!(
            r#"{{"password": "{pw}", "n": "{n}", "sops": {{"kms": [{{"arn": "arn:aws:kms:eu:1:key/x", "enc": "wrapped", "created_at": "{last}"}}], "lastmodified": "{last}", "mac": "{mac}", "version": "3.11.0"}}}}"#
        )
        .into_bytes()
    }

    fn request(data: Vec<u8>) -> DecryptRequest {
        DecryptRequest {
            name: "kms.json".into(),
            format: Format::Json,
            data,
            keys: Vec::new(),
        }
    }

    #[test]
    fn another_key_source_reuses_the_rest_of_the_pipeline() {
        let key = [9u8; 32];
        let out =
            decrypt_with(&request(document(&key, "hunter242")), &FakeKms(key)).expect("decrypts");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\n\t\"password\": \"hunter2\",\n\t\"n\": 42\n}\n"
        );
    }

    #[test]
    fn a_mac_over_other_values_is_refused() {
        let key = [9u8; 32];
        let e = decrypt_with(&request(document(&key, "hunter243")), &FakeKms(key))
            .expect_err("refused");
        assert!(matches!(e, Error::MacMismatch { .. }), "{e}");
        assert!(e.to_string().starts_with("kms.json: "), "{e}");
    }

    #[test]
    fn local_keys_list_kms_recipients_they_cannot_open() {
        let e = decrypt(&request(document(&[9; 32], "x"))).expect_err("no keys");
        assert!(matches!(e, Error::NoKeys { .. }), "{e}");
        assert!(e.to_string().contains("kms arn:aws:kms:eu:1:key/x"), "{e}");
    }
}
