//! Getting the data key: unwrap it (or one Shamir share per key group)
//! with a [`KeySource`], recombine the shares. This is the one place where
//! master keys are used; a KMS-backed decryptor plugin implements
//! [`KeySource`] for its service and reuses everything else.

use std::io::Read as _;

use crate::error::Error;
use crate::metadata::{MasterKey, Metadata};
use crate::shamir;

/// Something that can unwrap data keys wrapped for some master keys.
pub trait KeySource {
    /// The data key (or share) wrapped for `master`, or `None` when this
    /// source holds no key that opens it.
    fn unwrap(&self, master: &MasterKey) -> Option<Vec<u8>>;
    /// The names of the keys it holds, for messages.
    fn key_names(&self) -> Vec<String>;
    /// True when it holds no keys at all.
    fn is_empty(&self) -> bool;
}

/// Keys handed to the plugin with the call: age X25519 identities and
/// OpenPGP secret keys (unprotected). Its `Debug` output shows only names.
pub struct LocalKeys {
    age: Vec<age::x25519::Identity>,
    age_pq: Vec<crate::age_pq::HybridIdentity>,
    pgp: Vec<pgp::composed::SignedSecretKey>,
    names: Vec<String>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("names", &self.names)
            .field("material", &"<redacted>")
            .finish()
    }
}

impl LocalKeys {
    /// Parses the keys of a request. `kind` is `age` (an age identity file:
    /// `AGE-SECRET-KEY-1…` lines, `#` comments) or `pgp` (one or more
    /// armored or binary OpenPGP secret keys).
    ///
    /// # Errors
    /// [`Error::BadKey`] naming the key (never showing its material).
    pub fn parse(doc: &str, keys: &[weir_sdk::Key]) -> Result<Self, Error> {
        let mut out = LocalKeys {
            age: Vec::new(),
            age_pq: Vec::new(),
            pgp: Vec::new(),
            names: Vec::new(),
        };
        for key in keys {
            let bad = |reason: String| Error::BadKey {
                name: doc.to_string(),
                key: key.name.clone(),
                kind: key.kind.clone(),
                reason,
            };
            match key.kind.as_str() {
                "age" => {
                    let text = std::str::from_utf8(&key.material)
                        .map_err(|_| bad("not UTF-8 text".into()))?;
                    let mut found = 0;
                    for (i, line) in text.lines().enumerate() {
                        let line = line.trim();
                        if line.is_empty() || line.starts_with('#') {
                            continue;
                        }
                        // Never echo the line: it is the private key.
                        if let Some(pq) = crate::age_pq::HybridIdentity::parse(line) {
                            let id = pq.map_err(|reason| {
                                bad(format!(
                                    "line {} is not an age post-quantum identity: {reason}",
                                    i + 1
                                ))
                            })?;
                            out.age_pq.push(id);
                            found += 1;
                            continue;
                        }
                        let id = line.parse::<age::x25519::Identity>().map_err(|_| {
                            bad(format!(
                                "line {} is not an age identity (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)",
                                i + 1
                            ))
                        })?;
                        out.age.push(id);
                        found += 1;
                    }
                    if found == 0 {
                        return Err(bad("no AGE-SECRET-KEY-… line".into()));
                    }
                }
                "pgp" => {
                    let parsed = parse_pgp(&key.material).map_err(bad)?;
                    out.pgp.extend(parsed);
                }
                other => {
                    return Err(bad(format!(
                        "unknown key kind {other:?}: this plugin takes age and pgp keys"
                    )));
                }
            }
            out.names.push(key.name.clone());
        }
        Ok(out)
    }
}

fn parse_pgp(material: &[u8]) -> Result<Vec<pgp::composed::SignedSecretKey>, String> {
    use pgp::composed::{Deserializable, SignedSecretKey};
    const BEGIN: &[u8] = b"-----BEGIN PGP PRIVATE KEY BLOCK-----";
    let mut keys: Vec<SignedSecretKey> = Vec::new();
    let starts: Vec<usize> = material
        .windows(BEGIN.len())
        .enumerate()
        .filter(|(_, w)| *w == BEGIN)
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() {
        for key in SignedSecretKey::from_bytes_many(material)
            .map_err(|e| format!("not an OpenPGP secret key: {e}"))?
        {
            keys.push(key.map_err(|e| format!("not an OpenPGP secret key: {e}"))?);
        }
    } else {
        // One armored block after another (a keyring exported key by key).
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(material.len());
            let (iter, _) =
                SignedSecretKey::from_armor_many(&material[start..end]).map_err(|e| {
                    format!("armored block {} is not an OpenPGP secret key: {e}", n + 1)
                })?;
            for key in iter {
                keys.push(key.map_err(|e| {
                    format!("armored block {} is not an OpenPGP secret key: {e}", n + 1)
                })?);
            }
        }
    }
    if keys.is_empty() {
        return Err("no OpenPGP secret key in it".into());
    }
    Ok(keys)
}

impl KeySource for LocalKeys {
    fn unwrap(&self, master: &MasterKey) -> Option<Vec<u8>> {
        match master {
            MasterKey::Age { enc, .. } => {
                if self.age.is_empty() && self.age_pq.is_empty() {
                    return None;
                }
                let reader = age::armor::ArmoredReader::new(enc.as_bytes());
                let decryptor = age::Decryptor::new(reader).ok()?;
                let ids = self
                    .age
                    .iter()
                    .map(|i| i as &dyn age::Identity)
                    .chain(self.age_pq.iter().map(|i| i as &dyn age::Identity));
                let mut out = Vec::new();
                decryptor.decrypt(ids).ok()?.read_to_end(&mut out).ok()?;
                Some(out)
            }
            MasterKey::Pgp { enc, .. } => {
                if self.pgp.is_empty() {
                    return None;
                }
                // One key at a time: the message is a stream, read afresh.
                self.pgp.iter().find_map(|key| {
                    let (msg, _) = pgp::composed::Message::from_armor(enc.as_bytes()).ok()?;
                    let msg = msg.decrypt(&pgp::types::Password::empty(), key).ok()?;
                    let mut msg = if msg.is_compressed() {
                        msg.decompress().ok()?
                    } else {
                        msg
                    };
                    msg.as_data_vec().ok()
                })
            }
            MasterKey::Other { .. } => None,
        }
    }

    fn key_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn is_empty(&self) -> bool {
        self.age.is_empty() && self.age_pq.is_empty() && self.pgp.is_empty()
    }
}

/// The document's 32-byte data key, unwrapped with `source`: one key of
/// the single group, or one key of at least `shamir_threshold` groups whose
/// shares are then recombined (SOPS's `GetDataKeyWithKeyServices`).
///
/// # Errors
/// [`Error::NoKeys`] when `source` is empty, [`Error::WrongKey`] when too
/// few groups open, [`Error::Metadata`] when the shares do not combine.
pub fn data_key(doc: &str, meta: &Metadata, source: &dyn KeySource) -> Result<[u8; 32], Error> {
    if source.is_empty() {
        return Err(Error::NoKeys {
            name: doc.to_string(),
            recipients: meta.recipients(),
        });
    }
    let parts: Vec<zeroize::Zeroizing<Vec<u8>>> = meta
        .key_groups
        .iter()
        .filter_map(|group| group.iter().find_map(|m| source.unwrap(m)))
        .map(zeroize::Zeroizing::new)
        .collect();
    let groups = meta.key_groups.len();
    let wrong = |note: String| Error::WrongKey {
        name: doc.to_string(),
        keys: source.key_names(),
        recipients: meta.recipients(),
        groups_note: note,
    };
    let key = if groups > 1 {
        let needed = meta.shamir_threshold.max(1);
        if parts.len() < needed {
            return Err(wrong(format!(
                " of enough key groups (opened {} of {groups}, {needed} needed)",
                parts.len()
            )));
        }
        let shares: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        shamir::combine(&shares).map_err(|e| Error::Metadata {
            name: doc.to_string(),
            field: "sops.key_groups".into(),
            reason: format!("the key groups' shares do not combine: {e}"),
        })?
    } else {
        match parts.first() {
            Some(k) => k.to_vec(),
            None => return Err(wrong(String::new())),
        }
    };
    let key = zeroize::Zeroizing::new(key);
    <[u8; 32]>::try_from(key.as_slice()).map_err(|_| Error::Metadata {
        name: doc.to_string(),
        field: "sops".into(),
        reason: format!("the data key is {} bytes, not 32", key.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, name: &str, material: &[u8]) -> weir_sdk::Key {
        weir_sdk::Key {
            kind: kind.into(),
            name: name.into(),
            material: material.to_vec(),
        }
    }

    #[test]
    fn debug_output_shows_names_not_material() {
        use age::secrecy::ExposeSecret as _;
        let fresh = age::x25519::Identity::generate();
        let secret = fresh.to_string().expose_secret().to_string();
        let id = format!("# comment\n{secret}\n");
        let keys = LocalKeys::parse("doc", &[key("age", "identity.agekey", id.as_bytes())])
            .expect("parses");
        let shown = format!("{keys:?}");
        assert!(shown.contains("identity.agekey"), "{shown}");
        assert!(
            !shown.contains("AGE-SECRET") && !shown.contains(&secret[20..]),
            "{shown}"
        );
    }

    #[test]
    fn unusable_keys_are_named_without_their_material() {
        let e = LocalKeys::parse(
            "doc",
            &[key("age", "a.agekey", b"AGE-SECRET-KEY-1SECRETSTUFF")],
        )
        .expect_err("bad");
        let msg = e.to_string();
        assert!(
            msg.contains("a.agekey") && !msg.contains("SECRETSTUFF"),
            "{msg}"
        );
        let e = LocalKeys::parse(
            "doc",
            &[key(
                "pgp",
                "k.asc",
                b"-----BEGIN PGP PRIVATE KEY BLOCK-----\nSECRETSTUFF\n",
            )],
        )
        .expect_err("bad");
        let msg = e.to_string();
        assert!(
            msg.contains("k.asc") && !msg.contains("SECRETSTUFF"),
            "{msg}"
        );
        let e = LocalKeys::parse("doc", &[key("kms", "x", b"")]).expect_err("unknown kind");
        assert!(e.to_string().contains("unknown key kind"), "{e}");
    }
}
