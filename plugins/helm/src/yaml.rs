//! Reading YAML: values files, `Chart.yaml`, `fromYaml`, and rendered
//! manifests (into JSON for the host).

use crate::template::value::Value;

/// Parses one YAML document into JSON data (an empty document is null).
///
/// # Errors
/// The parser's message.
pub fn parse_json(text: &str) -> Result<serde_json::Value, String> {
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

/// Rewrites mapping keys that YAML 1.1 reads as booleans to the strings Go
/// prints for them.
fn yaml11_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "True"
                        | "TRUE" => "true".to_string(),
                        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "False"
                        | "FALSE" => "false".to_string(),
                        _ => k,
                    };
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
    static SEP: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let sep =
        SEP.get_or_init(|| regex::Regex::new(r"(?:^|[\t\n\x0c\r ]*\n)---[\t\n\x0c\r ]*").ok());
    let t = text.trim_start();
    let Some(sep) = sep else {
        return vec![t.to_string()];
    };
    sep.split(t)
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
