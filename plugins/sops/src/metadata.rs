//! The `sops` metadata block: key groups, encryption rules, MAC (the
//! SOPS `stores.Metadata` layout; the same fields in every format).

use crate::error::Error;
use crate::tree::{Branch, Key, Value, get};

/// A master key that wraps the data key (or, with several key groups, one
/// Shamir share of it).
#[derive(Clone, PartialEq)]
pub enum MasterKey {
    /// An age recipient.
    Age {
        /// `age1…`.
        recipient: String,
        /// The armored age file holding the data key.
        enc: String,
    },
    /// An OpenPGP key.
    Pgp {
        /// Its fingerprint, as SOPS wrote it.
        fingerprint: String,
        /// The armored OpenPGP message holding the data key.
        enc: String,
    },
    /// A cloud KMS or Vault key: listed in messages, unwrapped only by a
    /// plugin that speaks to that service.
    Other {
        /// The metadata field (`kms`, `gcp_kms`, `azure_kv`, `hc_vault`).
        kind: String,
        /// Its identifier (ARN, resource id, URL).
        id: String,
        /// The wrapped data key.
        enc: String,
    },
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The wrapped data key is not secret, but it is long and useless here.
        f.write_str(&self.public_id())
    }
}

impl MasterKey {
    /// How messages name it: its public identifier.
    pub fn public_id(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => format!("age {recipient}"),
            MasterKey::Pgp { fingerprint, .. } => format!("pgp {fingerprint}"),
            MasterKey::Other { kind, id, .. } => format!("{kind} {id}"),
        }
    }
}

/// Which values a document encrypts (at most one rule is set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// Keys ending with this stay plaintext (the default: `_unencrypted`).
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending with this are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Keys matching this stay plaintext.
    pub unencrypted_regex: Option<String>,
    /// Only keys matching this are encrypted.
    pub encrypted_regex: Option<String>,
    /// Values after a comment matching this stay plaintext.
    pub unencrypted_comment_regex: Option<String>,
    /// Only values after a comment matching this are encrypted.
    pub encrypted_comment_regex: Option<String>,
    /// The MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

/// A document's SOPS metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Key groups; with more than one, each holds a Shamir share.
    pub key_groups: Vec<Vec<MasterKey>>,
    /// Shares needed to rebuild the data key.
    pub shamir_threshold: usize,
    /// `lastmodified`, re-formatted as Go's RFC 3339 (the MAC's additional data).
    pub last_modified: String,
    /// The encrypted MAC.
    pub mac: String,
    /// The encryption rules.
    pub rules: Rules,
}

impl Metadata {
    /// Every recipient of the document, by public id.
    pub fn recipients(&self) -> Vec<String> {
        self.key_groups
            .iter()
            .flatten()
            .map(MasterKey::public_id)
            .collect()
    }
}

fn bad(name: &str, field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Metadata {
        name: name.to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// A string field (`None` when absent or empty).
fn string(name: &str, map: &Branch, field: &str, at: &str) -> Result<Option<String>, Error> {
    match get(map, field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) if s.is_empty() => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        // Written unquoted, YAML may read a timestamp or a number.
        Some(Value::Time(t)) => Ok(Some(t.clone())),
        Some(other) => Err(bad(
            name,
            format!("{at}{field}"),
            format!("expected a string, found {}", kind_of(other)),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Str(_) => "a string",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Time(_) => "a timestamp",
        Value::Bytes(_) => "bytes",
        Value::Comment(_) => "a comment",
        Value::Map(_) => "a mapping",
        Value::Seq(_) => "a list",
    }
}

fn list<'a>(name: &str, map: &'a Branch, field: &str, at: &str) -> Result<Vec<&'a Branch>, Error> {
    match get(map, field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Seq(items)) => items
            .iter()
            .filter(|v| !matches!(v, Value::Comment(_)))
            .enumerate()
            .map(|(i, v)| match v {
                Value::Map(m) => Ok(m),
                other => Err(bad(
                    name,
                    format!("{at}{field}[{i}]"),
                    format!("expected a mapping, found {}", kind_of(other)),
                )),
            })
            .collect(),
        Some(other) => Err(bad(
            name,
            format!("{at}{field}"),
            format!("expected a list, found {}", kind_of(other)),
        )),
    }
}

fn required(name: &str, map: &Branch, field: &str, at: &str) -> Result<String, Error> {
    string(name, map, field, at)?.ok_or_else(|| bad(name, format!("{at}{field}"), "missing"))
}

/// The master keys of one group (the top level of `sops`, or one entry of
/// `key_groups`), in SOPS's order: KMS kinds, then pgp, then age.
fn group(name: &str, map: &Branch, at: &str) -> Result<Vec<MasterKey>, Error> {
    let mut keys = Vec::new();
    for (kind, id_field) in [
        ("kms", "arn"),
        ("gcp_kms", "resource_id"),
        ("azure_kv", "vault_url"),
        ("hc_vault", "vault_address"),
    ] {
        for (i, entry) in list(name, map, kind, at)?.into_iter().enumerate() {
            let here = format!("{at}{kind}[{i}].");
            keys.push(MasterKey::Other {
                kind: kind.to_string(),
                id: string(name, entry, id_field, &here)?.unwrap_or_default(),
                enc: string(name, entry, "enc", &here)?.unwrap_or_default(),
            });
        }
    }
    for (i, entry) in list(name, map, "pgp", at)?.into_iter().enumerate() {
        let here = format!("{at}pgp[{i}].");
        keys.push(MasterKey::Pgp {
            fingerprint: required(name, entry, "fp", &here)?,
            enc: required(name, entry, "enc", &here)?,
        });
    }
    for (i, entry) in list(name, map, "age", at)?.into_iter().enumerate() {
        let here = format!("{at}age[{i}].");
        keys.push(MasterKey::Age {
            recipient: required(name, entry, "recipient", &here)?,
            enc: required(name, entry, "enc", &here)?,
        });
    }
    Ok(keys)
}

/// Reads the `sops` block.
///
/// # Errors
/// [`Error::Metadata`] naming the field that is missing or wrong.
pub fn parse(name: &str, sops: &Value) -> Result<Metadata, Error> {
    let Value::Map(map) = sops else {
        return Err(bad(
            name,
            "sops",
            format!("expected a mapping, found {}", kind_of(sops)),
        ));
    };
    let at = "sops.";
    let top = group(name, map, at)?;
    let key_groups = if !top.is_empty() {
        vec![top]
    } else {
        let groups = list(name, map, "key_groups", at)?;
        let mut out = Vec::new();
        for (i, g) in groups.into_iter().enumerate() {
            out.push(group(name, g, &format!("{at}key_groups[{i}]."))?);
        }
        out
    };
    if key_groups.is_empty() || key_groups.iter().all(Vec::is_empty) {
        return Err(bad(name, "sops", "no keys found in the metadata"));
    }
    let shamir_threshold = match get(map, "shamir_threshold") {
        None | Some(Value::Null) => 0,
        Some(Value::Int(n)) if *n >= 0 => *n as usize,
        Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
        Some(Value::Str(s)) if s.parse::<usize>().is_ok() => s.parse().unwrap_or(0),
        Some(other) => {
            return Err(bad(
                name,
                "sops.shamir_threshold",
                format!("expected a count, found {}", kind_of(other)),
            ));
        }
    };
    // Every SOPS version writes `version` last; without it the metadata
    // (and so the document) is cut short.
    if string(name, map, "version", at)?.is_none() {
        return Err(bad(
            name,
            "sops.version",
            "missing (is the document truncated?)",
        ));
    }
    let last = required(name, map, "lastmodified", at)?;
    let last_modified = go_rfc3339(&last).ok_or_else(|| {
        bad(
            name,
            "sops.lastmodified",
            format!("{last:?} is not an RFC 3339 time"),
        )
    })?;
    let mac = string(name, map, "mac", at)?.unwrap_or_default();
    let mut rules = Rules {
        unencrypted_suffix: string(name, map, "unencrypted_suffix", at)?,
        encrypted_suffix: string(name, map, "encrypted_suffix", at)?,
        unencrypted_regex: string(name, map, "unencrypted_regex", at)?,
        encrypted_regex: string(name, map, "encrypted_regex", at)?,
        unencrypted_comment_regex: string(name, map, "unencrypted_comment_regex", at)?,
        encrypted_comment_regex: string(name, map, "encrypted_comment_regex", at)?,
        mac_only_encrypted: match get(map, "mac_only_encrypted") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) => s == "true",
            _ => false,
        },
    };
    let set = [
        &rules.unencrypted_suffix,
        &rules.encrypted_suffix,
        &rules.unencrypted_regex,
        &rules.encrypted_regex,
        &rules.unencrypted_comment_regex,
        &rules.encrypted_comment_regex,
    ]
    .iter()
    .filter(|r| r.is_some())
    .count();
    if set > 1 {
        return Err(bad(
            name,
            "sops",
            "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex",
        ));
    }
    if set == 0 {
        rules.unencrypted_suffix = Some("_unencrypted".into());
    }
    Ok(Metadata {
        key_groups,
        shamir_threshold,
        last_modified,
        mac,
        rules,
    })
}

/// Splits off the `sops` entries of a branch.
pub fn take_sops(branch: &mut Branch) -> Option<Value> {
    let mut found = None;
    branch.retain(|(k, v)| {
        if matches!(k, Key::Str(s) if s == "sops") {
            found = Some(v.clone());
            false
        } else {
            true
        }
    });
    found
}

/// Parses an RFC 3339 time and formats it as Go's `time.RFC3339` does
/// (seconds precision, `Z` for UTC): the MAC's additional data is
/// `LastModified.Format(time.RFC3339)`, not the text as written.
pub fn go_rfc3339(s: &str) -> Option<String> {
    let t = crate::yaml::parse_time(s, true)?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.zone()
    ))
}
