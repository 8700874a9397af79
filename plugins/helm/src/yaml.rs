//! Reading YAML: values files, `Chart.yaml`, `fromYaml`, and rendered
//! manifests (into JSON for the host).

use crate::template::value::Value;

pub mod fast;

/// Parses one YAML document into JSON data (an empty document is null).
///
/// # Errors
/// The parser's message.
pub fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    // Most documents are in the subset the fast reader knows; it leaves the
    // rest (and every error) to the general parser.
    if let Some(v) = fast::parse(text) {
        return Ok(v);
    }
    parse_json_general(text)
}

/// [`parse_json`] with the general parser only.
fn parse_json_general(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    // Helm reads YAML 1.1 (go-yaml v2): `0777` is octal and `yes`/`on`/`y`
    // are booleans, in keys too (where they become "true"/"false").
    let opts = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple_with_options(text, opts).map_err(|e| e.to_string())?;
    Ok(docs
        .into_iter()
        .next()
        .map(yaml11_keys)
        .unwrap_or(serde_json::Value::Null))
}

/// Parses JSON (what the host passes) or YAML text as [`parse_json`]
/// does: JSON is YAML's flow style, read here by the faster JSON reader
/// with the same YAML 1.1 key rewriting; anything that is not JSON goes to
/// [`parse_json`].
///
/// # Errors
/// The YAML parser's message.
pub fn parse_json_or_yaml(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(yaml11_keys(v)),
        Err(_) => parse_json(text),
    }
}

/// Rewrites mapping keys that YAML 1.1 reads as booleans to the strings Go
/// prints for them.
fn yaml11_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = yaml11_key(&k).map(String::from).unwrap_or(k);
                    (k, yaml11_keys(v))
                })
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(yaml11_keys).collect())
        }
        other => other,
    }
}

/// How Go spells a mapping key that YAML 1.1 reads as a boolean, if `k`
/// is one.
fn yaml11_key(k: &str) -> Option<&'static str> {
    match k {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "True" | "TRUE" => Some("true"),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "False" | "FALSE" => Some("false"),
        _ => None,
    }
}

/// Parses one YAML document into a template value, numbers as float64 as
/// Helm's YAML-through-JSON decoding gives them.
///
/// # Errors
/// The parser's message.
pub fn parse_value(text: &str) -> Result<Value, String> {
    parse_json(text).map(|j| Value::from_json(&j))
}

/// Helm 4's `SplitManifests`: leading whitespace dropped, then split on
/// the separator regex `(?:^|\s*\n)---\s*` (which also eats the whitespace
/// around each `---`), each document's leading whitespace dropped. Trailing
/// whitespace of the last document stays, as in Helm 4.
pub fn split_manifests(text: &str) -> Vec<String> {
    let t = text.trim_start();
    let b = t.as_bytes();
    let ws = |c: u8| matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
    // A hand-written scan for the regex's leftmost-first matches: a match
    // holds `\n---` (or `---` at the very start), begins at the start of
    // the whitespace run before that newline (not before the previous
    // match's end) and ends after the whitespace that follows.
    let mut docs = Vec::new();
    let mut last = 0;
    let mut pos = 0;
    loop {
        let (start, dashes) = if pos == 0 && t.starts_with("---") {
            (0, 0)
        } else {
            match t[pos..].find("\n---") {
                Some(off) => {
                    let nl = pos + off;
                    let mut start = nl;
                    while start > pos && ws(b[start - 1]) {
                        start -= 1;
                    }
                    (start, nl + 1)
                }
                None => break,
            }
        };
        let mut end = dashes + 3;
        while end < b.len() && ws(b[end]) {
            end += 1;
        }
        docs.push(&t[last..start]);
        last = end;
        pos = end;
    }
    docs.push(&t[last..]);
    docs.into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_start().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_helm() {
        assert_eq!(
            split_manifests("a: 1\n---\nb: 2\n---\n\n"),
            vec!["a: 1", "b: 2"]
        );
        assert_eq!(
            split_manifests("---\na: 1\n  \n---  \nb: 2\n\n"),
            vec!["a: 1", "b: 2\n\n"]
        );
        assert_eq!(split_manifests("a: 1\n  ---\n"), vec!["a: 1\n  ---\n"]);
        assert_eq!(split_manifests("a\n---\n\n---\nb"), vec!["a", "---\nb"]);
        assert_eq!(split_manifests("a: \"---\""), vec!["a: \"---\""]);
    }

    /// The scan agrees with Helm's separator regex on every string over a
    /// small alphabet (all strings up to length 7).
    #[test]
    fn scan_matches_the_regex() {
        let re = regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*")
            .unwrap_or_else(|e| panic!("{e}"));
        let by_regex = |text: &str| -> Vec<String> {
            re.split(text.trim_start())
                .filter(|d| !d.is_empty())
                .map(|d| d.trim_start().to_string())
                .collect()
        };
        let alphabet = ['a', '-', '\n', ' '];
        let mut checked = 0;
        for len in 0..=7u32 {
            for n in 0..4usize.pow(len) {
                let mut x = n;
                let s: String = (0..len)
                    .map(|_| {
                        let c = alphabet[x % 4];
                        x /= 4;
                        c
                    })
                    .collect();
                assert_eq!(split_manifests(&s), by_regex(&s), "{s:?}");
                checked += 1;
            }
        }
        assert!(checked > 20_000);
    }

    #[test]
    fn numbers_become_floats() {
        let v = parse_value("a: 1\nb: x").unwrap_or_default();
        assert_eq!(v.to_go_string(), "map[a:1 b:x]");
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        assert!(matches!(m.borrow().get("a"), Some(Value::Float(_))));
    }
}
