//! Decrypting a tree: which values the document's rules encrypt, each
//! value opened with its key path as additional data, and the MAC over the
//! plaintext values computed on the way (SOPS's `Tree.Decrypt`).

use regex_lite::Regex;
use sha2::{Digest, Sha512};

use crate::cipher::{self, ValueError};
use crate::error::Error;
use crate::metadata::{Metadata, Rules};
use crate::tree::{Branch, Key, Value};

/// The rules, compiled.
struct Compiled {
    rules: Rules,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    unencrypted_comment_regex: Option<Regex>,
    encrypted_comment_regex: Option<Regex>,
}

fn compile(doc: &str, field: &str, re: &Option<String>) -> Result<Option<Regex>, Error> {
    re.as_deref()
        .map(|r| {
            Regex::new(r).map_err(|e| Error::Metadata {
                name: doc.to_string(),
                field: format!("sops.{field}"),
                reason: format!("not a regular expression: {e}"),
            })
        })
        .transpose()
}

impl Compiled {
    fn new(doc: &str, rules: &Rules) -> Result<Self, Error> {
        Ok(Compiled {
            unencrypted_regex: compile(doc, "unencrypted_regex", &rules.unencrypted_regex)?,
            encrypted_regex: compile(doc, "encrypted_regex", &rules.encrypted_regex)?,
            unencrypted_comment_regex: compile(
                doc,
                "unencrypted_comment_regex",
                &rules.unencrypted_comment_regex,
            )?,
            encrypted_comment_regex: compile(
                doc,
                "encrypted_comment_regex",
                &rules.encrypted_comment_regex,
            )?,
            rules: rules.clone(),
        })
    }

    /// SOPS's `shouldBeEncrypted`: `comments` holds, per open branch or
    /// list, the comments seen since its last value.
    fn encrypts(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        let mut encrypted = true;
        if let Some(sfx) = &self.rules.unencrypted_suffix
            && path.iter().any(|p| p.ends_with(sfx.as_str()))
        {
            encrypted = false;
        }
        if let Some(sfx) = &self.rules.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(sfx.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|p| re.is_match(p))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        if let Some(re) = &self.unencrypted_comment_regex
            && comments.iter().flatten().any(|c| re.is_match(c))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_comment_regex {
            encrypted = false;
            let last_stack = comments.len().saturating_sub(1);
            let last_len = comments.last().map_or(0, Vec::len);
            'outer: for (i, cs) in comments.iter().enumerate() {
                for (j, c) in cs.iter().enumerate() {
                    // The comment that matches is itself not encrypted.
                    if is_comment && i == last_stack && j + 1 == last_len {
                        continue;
                    }
                    if re.is_match(c) {
                        encrypted = true;
                        break 'outer;
                    }
                }
            }
        }
        encrypted
    }
}

struct Walker<'a> {
    doc: &'a str,
    key: &'a [u8; 32],
    rules: Compiled,
    hash: Sha512,
}

impl Walker<'_> {
    /// One leaf (a value or a comment): decrypt it when the rules say so
    /// and feed the MAC.
    fn leaf(
        &mut self,
        v: &Value,
        path: &[String],
        comments: &[Vec<String>],
    ) -> Result<Value, Error> {
        let is_comment = matches!(v, Value::Comment(_));
        let encrypted = self.rules.encrypts(path, comments, is_comment);
        let out = if encrypted {
            let aad = format!("{}:", path.join(":"));
            let shown = || {
                if path.is_empty() {
                    "the top level".to_string()
                } else {
                    path.join(":")
                }
            };
            match v {
                Value::Comment(c) => match cipher::decrypt_value(c, self.key, &aad) {
                    Ok(Value::Comment(plain)) => Value::Comment(plain),
                    Ok(Value::Str(plain)) if c.is_empty() => Value::Comment(plain),
                    // SOPS keeps comments it cannot decrypt as they are
                    // (written by older versions, in the clear).
                    Ok(_) | Err(_) => v.clone(),
                },
                Value::Str(s) => match cipher::decrypt_value(s, self.key, &aad) {
                    Ok(plain) => plain,
                    Err(ValueError::Authentication) => {
                        return Err(Error::TamperedValue {
                            name: self.doc.to_string(),
                            path: shown(),
                        });
                    }
                    Err(ValueError::NotEnc(reason)) | Err(ValueError::BadPlaintext(reason)) => {
                        return Err(Error::NotEncrypted {
                            name: self.doc.to_string(),
                            path: shown(),
                            reason,
                        });
                    }
                },
                _ => {
                    return Err(Error::NotEncrypted {
                        name: self.doc.to_string(),
                        path: shown(),
                        reason: "found a plain non-string value".into(),
                    });
                }
            }
        } else {
            v.clone()
        };
        if (!self.rules.rules.mac_only_encrypted || encrypted)
            && let Some(bytes) = out.mac_bytes()
        {
            self.hash.update(&bytes);
        }
        Ok(out)
    }

    fn value(
        &mut self,
        v: &Value,
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
    ) -> Result<Value, Error> {
        match v {
            Value::Map(b) => Ok(Value::Map(self.branch(b, path, comments)?)),
            Value::Seq(items) => {
                comments.push(Vec::new());
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let is_comment = if let Value::Comment(c) = item {
                        if let Some(top) = comments.last_mut() {
                            top.push(c.clone());
                        }
                        true
                    } else {
                        // A comment encrypted inside a list is stored as a
                        // plain string element by SOPS; it reads back here.
                        false
                    };
                    out.push(self.value(item, path, comments)?);
                    if !is_comment && let Some(top) = comments.last_mut() {
                        top.clear();
                    }
                }
                comments.pop();
                Ok(Value::Seq(out))
            }
            Value::Null => Ok(Value::Null),
            leaf => self.leaf(leaf, path, comments),
        }
    }

    fn branch(
        &mut self,
        b: &Branch,
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
    ) -> Result<Branch, Error> {
        comments.push(Vec::new());
        let mut out = Vec::with_capacity(b.len());
        for (k, v) in b {
            match k {
                Key::Comment(c) => {
                    if let Some(top) = comments.last_mut() {
                        top.push(c.clone());
                    }
                    let plain = match self.leaf(&Value::Comment(c.clone()), path, comments)? {
                        Value::Comment(p) => p,
                        _ => c.clone(),
                    };
                    out.push((Key::Comment(plain), Value::Null));
                }
                Key::Str(name) => {
                    path.push(name.clone());
                    let value = self.value(v, path, comments);
                    path.pop();
                    out.push((k.clone(), value?));
                    if let Some(top) = comments.last_mut() {
                        top.clear();
                    }
                }
            }
        }
        comments.pop();
        Ok(out)
    }
}

/// Decrypts every branch (document) and checks the MAC.
///
/// # Errors
/// [`Error::TamperedValue`], [`Error::NotEncrypted`] or
/// [`Error::MacMismatch`]; nothing decrypted is returned then.
pub fn decrypt_tree(
    doc: &str,
    branches: &[Branch],
    meta: &Metadata,
    key: &[u8; 32],
) -> Result<Vec<Branch>, Error> {
    let mut w = Walker {
        doc,
        key,
        rules: Compiled::new(doc, &meta.rules)?,
        hash: Sha512::new(),
    };
    if meta.rules.mac_only_encrypted {
        // SOPS starts such a MAC with sha256("sops"), so that it never
        // equals the MAC over all values.
        w.hash.update(sha2::Sha256::digest(b"sops"));
    }
    let mut out = Vec::with_capacity(branches.len());
    for b in branches {
        out.push(w.branch(b, &mut Vec::new(), &mut Vec::new())?);
    }
    let computed: String = w
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let mismatch = |reason: &str| Error::MacMismatch {
        name: doc.to_string(),
        reason: reason.to_string(),
    };
    if meta.mac.is_empty() {
        return Err(mismatch("the document has no MAC"));
    }
    match cipher::decrypt_value(&meta.mac, key, &meta.last_modified) {
        Ok(Value::Str(stored)) if stored == computed => Ok(out),
        Ok(_) => Err(mismatch("the values do not match the stored MAC")),
        Err(_) => Err(mismatch(
            "the stored MAC does not authenticate (sops.mac or sops.lastmodified changed)",
        )),
    }
}
