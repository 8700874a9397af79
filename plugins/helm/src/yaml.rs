//! Reading YAML: values files, `Chart.yaml`, `fromYaml`, and rendered
//! manifests (into JSON for the host).

use weir_sdk::yaml::{Flavour, yaml11_keys};

use crate::template::value::Value;

/// Parses one YAML document into JSON data (an empty document is null).
///
/// # Errors
/// The parser's message.
pub fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    // Most documents are in the subset the SDK's fast reader knows; it
    // leaves the rest (and every error) to the general parser below, whose
    // options and key rewriting `Flavour::Helm` stands for.
    if let Some(v) = weir_sdk::yaml::document(text, Flavour::Helm) {
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
    // are booleans, in keys too (where they become "true"/"false",
    // `weir_sdk::yaml::yaml11_key`).
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
            match newline_dashes(b, pos) {
                Some(nl) => {
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

/// The first `\n---` in `b` at or after `from`: a byte scan for the
/// newline (`str::find` with a string pattern builds a two-way searcher per
/// call, which showed in wasm profiles).
fn newline_dashes(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let nl = at + b.get(at..)?.iter().position(|&c| c == b'\n')?;
        if b[nl + 1..].starts_with(b"---") {
            return Some(nl);
        }
        at = nl + 1;
    }
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

    /// Every YAML document of the corpus (values, Chart.yaml, plain
    /// templates), split as Helm splits manifests: where the SDK's fast
    /// reader answers, this plugin's own general-parser call gives the same
    /// (the SDK's tests compare the reader with a copy of that call), and it
    /// answers for most of them.
    #[test]
    fn the_fast_reader_agrees_with_the_general_parser_on_the_corpus() {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")];
        let (mut read, mut fast) = (0, 0);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Some(text) = yaml.then(|| std::fs::read_to_string(&path).ok()).flatten() else {
                    continue;
                };
                for doc in split_manifests(&text) {
                    let general = parse_json_general(&doc);
                    let fast_read = weir_sdk::yaml::document(&doc, Flavour::Helm);
                    if let Some(v) = &fast_read {
                        // Errors (templates with actions) are the general
                        // parser's to report.
                        assert_eq!(Ok(v), general.as_ref(), "{}: {doc:?}", path.display());
                        fast += 1;
                    }
                    read += usize::from(general.is_ok());
                }
            }
        }
        assert!(read > 100, "only {read} documents read");
        assert!(
            fast * 2 > read,
            "the fast reader took only {fast} of {read} documents"
        );
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
