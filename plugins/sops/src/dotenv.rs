//! The dotenv store: `KEY=value` lines (`\n` escaped as `\\n`), `#`
//! comment lines, and the metadata flattened into `sops_…` keys
//! (`sops_age__list_0__map_enc`).

use crate::Loaded;
use crate::tree::{Branch, Key, Value};

/// Loads a dotenv document; `Ok(None)` when it has no `sops_` keys.
///
/// # Errors
/// The first line that is neither a comment nor `KEY=value`.
pub fn load(text: &str) -> Result<Option<Loaded>, String> {
    let mut branch: Branch = Vec::new();
    let mut meta = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            branch.push((Key::Comment(c.to_string()), Value::Null));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: not KEY=value", n + 1));
        };
        let v = v.replace("\\n", "\n");
        match k.strip_prefix("sops_") {
            Some(md) => meta.push((md.to_string(), v)),
            None => branch.push((Key::Str(k.to_string()), Value::Str(v))),
        }
    }
    if meta.is_empty() {
        return Ok(None);
    }
    Ok(Some(Loaded {
        branches: vec![branch],
        sops: unflatten(meta)?,
    }))
}

/// One step of a flattened path.
enum Step {
    Map(String),
    List(usize),
}

fn tokenize(path: &str) -> Result<(String, Vec<Step>), String> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let next = |s: &str| {
        [s.find(MAP), s.find(LIST)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(s.len())
    };
    let end = next(path);
    let first = path[..end].to_string();
    let mut rest = &path[end..];
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let (is_map, body) = if let Some(b) = rest.strip_prefix(MAP) {
            (true, b)
        } else if let Some(b) = rest.strip_prefix(LIST) {
            (false, b)
        } else {
            return Err(format!("bad flattened metadata key {path:?}"));
        };
        let end = next(body);
        let tok = &body[..end];
        steps.push(if is_map {
            Step::Map(tok.to_string())
        } else {
            Step::List(
                tok.parse()
                    .map_err(|_| format!("bad list index in metadata key {path:?}"))?,
            )
        });
        rest = &body[end..];
    }
    Ok((first, steps))
}

fn insert(node: &mut Value, steps: &[Step], value: Value) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        *node = value;
        return Ok(());
    };
    match step {
        Step::Map(k) => {
            if !matches!(node, Value::Map(_)) {
                *node = Value::Map(Vec::new());
            }
            let Value::Map(b) = node else {
                return Err("internal: not a map".into());
            };
            let pos = match b
                .iter()
                .position(|(key, _)| matches!(key, Key::Str(s) if s == k))
            {
                Some(p) => p,
                None => {
                    b.push((Key::Str(k.clone()), Value::Null));
                    b.len() - 1
                }
            };
            insert(&mut b[pos].1, rest, value)
        }
        Step::List(i) => {
            if *i > 10_000 {
                return Err("list index too large in metadata".into());
            }
            if !matches!(node, Value::Seq(_)) {
                *node = Value::Seq(Vec::new());
            }
            let Value::Seq(items) = node else {
                return Err("internal: not a list".into());
            };
            while items.len() <= *i {
                items.push(Value::Null);
            }
            insert(&mut items[*i], rest, value)
        }
    }
}

/// Rebuilds the metadata tree from flattened `key → value` pairs (SOPS's
/// `UnflattenMetadata`; `mac_only_encrypted` and `shamir_threshold` read
/// back as a boolean and a number).
///
/// # Errors
/// A malformed flattened key.
pub fn unflatten(pairs: Vec<(String, String)>) -> Result<Value, String> {
    let mut root = Value::Map(Vec::new());
    for (k, v) in pairs {
        let (first, mut steps) = tokenize(&k)?;
        let value = match first.as_str() {
            "mac_only_encrypted" => Value::Bool(v == "true"),
            "shamir_threshold" => Value::Int(
                v.trim()
                    .parse()
                    .map_err(|_| format!("shamir_threshold {v:?} is not an integer"))?,
            ),
            _ => Value::Str(v),
        };
        steps.insert(0, Step::Map(first));
        insert(&mut root, &steps, value)?;
    }
    Ok(root)
}

/// Go's `fmt` of a non-string leaf, as SOPS's `ValToString` writes it.
pub fn val_to_string(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => {
            let g = crate::tree::go_format_float_g(*f).to_uppercase();
            if g.contains('.') || g.contains('E') || !f.is_finite() {
                g
            } else {
                format!("{f:.1}")
            }
        }
        Value::Null => "<nil>".into(),
        Value::Bytes(b) => format!("{b:?}"),
        Value::Map(_) | Value::Seq(_) => String::new(),
    }
}

/// Writes a dotenv document.
///
/// # Errors
/// A nested value (dotenv holds only flat values).
pub fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    for (k, v) in branches.first().into_iter().flatten() {
        match k {
            Key::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Key::Str(k) => {
                if matches!(v, Value::Map(_) | Value::Seq(_)) {
                    return Err(format!(
                        "cannot use complex value in dotenv file; offending key {k}"
                    ));
                }
                let value = match v {
                    Value::Str(s) => s.replace('\n', "\\n"),
                    other => val_to_string(other),
                };
                out.push_str(k);
                out.push('=');
                out.push_str(&value);
                out.push('\n');
            }
        }
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::get;

    #[test]
    fn flattened_metadata_unflattens() {
        let v = unflatten(vec![
            ("age__list_0__map_recipient".into(), "age1x".into()),
            ("age__list_0__map_enc".into(), "E".into()),
            (
                "key_groups__list_1__map_pgp__list_0__map_fp".into(),
                "F".into(),
            ),
            ("shamir_threshold".into(), "2".into()),
        ])
        .expect("unflattens");
        let Value::Map(m) = v else { panic!("map") };
        let Some(Value::Seq(age)) = get(&m, "age") else {
            panic!("age list")
        };
        assert_eq!(age.len(), 1);
        assert_eq!(get(&m, "shamir_threshold"), Some(&Value::Int(2)));
        let Some(Value::Seq(groups)) = get(&m, "key_groups") else {
            panic!("groups")
        };
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn lines_without_equals_are_malformed() {
        assert!(load("A=1\nnonsense\n").is_err());
        assert!(matches!(load("A=1\n#c\n"), Ok(None)));
    }
}
