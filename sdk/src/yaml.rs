//! A fast reader for the YAML that manifests, charts and values files are
//! made of (cargo feature `yaml`), in front of serde-saphyr.
//!
//! It reads block mappings and sequences, one-line flow collections, plain
//! and quoted one-line scalars, literal block scalars, comments and `---`
//! separator lines, and
//! answers `None` for anything it is not sure to read exactly as
//! serde-saphyr does: anchors, tags, folded or multi-line scalars, numbers
//! other than plain decimal integers, duplicate keys, directives, malformed
//! input. The caller then runs serde-saphyr, so every error message (with
//! its line and column) still comes from serde-saphyr. The fast reader is
//! several times faster than the general parser on manifests; in a wasm
//! component it is written with byte loops (no `str::find` with a string
//! pattern, which builds a two-way searcher per call).
//!
//! Two [`Flavour`]s say which serde-saphyr call the reader stands in for:
//!
//! ```
//! use weir_sdk::yaml::{self, Flavour};
//!
//! /// What `serde_saphyr::from_multiple` gives, faster when it can be.
//! fn read(text: &str) -> Result<Vec<serde_json::Value>, serde_saphyr::Error> {
//!     match yaml::documents(text, Flavour::Default) {
//!         Some(docs) => Ok(docs),
//!         None => serde_saphyr::from_multiple(text),
//!     }
//! }
//!
//! let docs = read("a: 1\n---\nb: [x, yes]\n")?;
//! assert_eq!(docs[1]["b"][1], serde_json::Value::Bool(true));
//! assert!(read("a: [1\n").is_err()); // serde-saphyr's error, with its line
//! # Ok::<(), serde_saphyr::Error>(())
//! ```
//!
//! The reader itself is in `yaml/reader.rs`; the tests (`yaml/tests.rs`)
//! compare it with serde-saphyr, in both flavours, on lists of tricky
//! scalars, keys, documents and separators, on generated documents and
//! mutated copies of them, and on every YAML file of the repository.

use serde_json::Value;

mod reader;

/// Which serde-saphyr reading the fast reader stands in for.
///
/// The two agree on values (booleans are `true`/`yes`/`y`/`on` and their
/// opposites in any case, nulls are `~`, `null`, `Null`, `NULL` and
/// nothing); they differ on what the reader leaves to the general parser
/// and on keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavour {
    /// `serde_saphyr::from_multiple` with default options into
    /// `serde_json::Value` (as [`crate::manifests::documents`] reads):
    /// keys are the text as written.
    #[default]
    Default,
    /// Helm's reading: `serde_saphyr::from_multiple_with_options` with
    /// `legacy_octal_numbers: true`, then [`yaml11_keys`] (keys that YAML
    /// 1.1 reads as booleans spelled as Go prints them).
    Helm,
}

/// Reads `text` as one YAML document when it is in the subset: the
/// document's value (null when it is empty or only comments), or `None`
/// when the general parser must read it, which includes any document
/// separator (`---`) or end marker (`...`) line.
pub fn document(text: &str, flavour: Flavour) -> Option<Value> {
    let mut lines = reader::lines(text)?;
    if lines.iter().any(|l| l.separator) {
        return None;
    }
    reader::document(&mut lines, flavour)
}

/// Reads every document of `text` when all of them are in the subset, as
/// serde-saphyr's `from_multiple` gives them: split on `---` lines, and
/// empty or null documents (nothing, comments, `~`, `null`) skipped.
/// `None` sends the whole text to the general parser, as does anything odd
/// about separators (`--- x`, `...`, `%YAML` directives).
pub fn documents(text: &str, flavour: Flavour) -> Option<Vec<Value>> {
    let mut lines = reader::lines(text)?;
    let mut docs = Vec::with_capacity(lines.iter().filter(|l| l.separator).count() + 1);
    let mut rest: &mut [reader::Line<'_>] = &mut lines;
    loop {
        let end = rest.iter().position(|l| l.separator).unwrap_or(rest.len());
        let (doc, tail) = std::mem::take(&mut rest).split_at_mut(end);
        match reader::document(doc, flavour)? {
            Value::Null => {}
            v => docs.push(v),
        }
        match tail.split_first_mut() {
            Some((_, after)) => rest = after,
            None => break,
        }
    }
    Some(docs)
}

/// How Go spells a mapping key that YAML 1.1 reads as a boolean, if `k`
/// is one (go-yaml v2, which Helm reads values and manifests with, turns
/// the key `on:` into `"true"`).
pub fn yaml11_key(k: &str) -> Option<&'static str> {
    match k {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "True" | "TRUE" => Some("true"),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "False" | "FALSE" => Some("false"),
        _ => None,
    }
}

/// Rewrites every mapping key of `v` that [`yaml11_key`] names, at any
/// depth: what [`Flavour::Helm`] does after the general parser.
pub fn yaml11_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = yaml11_key(&k).map(String::from).unwrap_or(k);
                    (k, yaml11_keys(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(yaml11_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod tests;
