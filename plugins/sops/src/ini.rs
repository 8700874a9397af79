//! The INI store (go-ini's reading and pretty writing as SOPS uses them):
//! one branch entry per section, values are strings, a comment before a
//! key is stored after it, and the metadata is a flattened `[sops]`
//! section.

use crate::Loaded;
use crate::dotenv::{unflatten, val_to_string};
use crate::tree::{Branch, Key, Value};

const DEFAULT: &str = "DEFAULT";

fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_string()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_string()
    } else {
        c.to_string()
    }
}

fn unquote(v: &str) -> String {
    for q in ["\"\"\"", "\"", "`"] {
        if v.len() >= 2 * q.len()
            && let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q))
        {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// Loads an INI document; `Ok(None)` when it has no `[sops]` section.
///
/// # Errors
/// A line that is not a section, a comment or `key = value`.
pub fn load(text: &str) -> Result<Option<Loaded>, String> {
    // (section, its comment, its entries)
    let mut sections: Vec<(String, String, Branch)> =
        vec![(DEFAULT.into(), String::new(), Vec::new())];
    let mut pending: Vec<String> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending.push(line.to_string());
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: unclosed section header", n + 1))?;
            sections.push((name.trim().to_string(), pending.join("\n"), Vec::new()));
            pending.clear();
            continue;
        }
        let Some(pos) = line.find(['=', ':']) else {
            return Err(format!(
                "line {}: not a section, comment or key = value",
                n + 1
            ));
        };
        let key = unquote(line[..pos].trim());
        let value = unquote(line[pos + 1..].trim());
        let Some((_, _, entries)) = sections.last_mut() else {
            return Err("internal: no section".into());
        };
        entries.push((Key::Str(key), Value::Str(value)));
        if !pending.is_empty() {
            entries.push((
                Key::Comment(strip_comment_char(&pending.join("\n"))),
                Value::Null,
            ));
            pending.clear();
        }
    }
    let mut branch: Branch = Vec::new();
    let mut meta = None;
    for (name, comment, entries) in sections {
        if name == "sops" {
            let pairs = entries
                .into_iter()
                .filter_map(|(k, v)| match (k, v) {
                    (Key::Str(k), Value::Str(v)) => Some((k, v.replace("\\n", "\n"))),
                    _ => None,
                })
                .collect();
            meta = Some(unflatten(pairs)?);
            continue;
        }
        let mut items = Vec::new();
        if !comment.is_empty() {
            items.push((Key::Comment(strip_comment_char(&comment)), Value::Null));
        }
        items.extend(entries);
        branch.push((Key::Str(name), Value::Map(items)));
    }
    Ok(meta.map(|sops| Loaded {
        branches: vec![branch],
        sops,
    }))
}

fn comment_lines(c: &str, out: &mut String) {
    let c = c.replace('\n', "\n; ");
    if !(c.starts_with(';') || c.starts_with('#')) {
        out.push_str("; ");
    }
    out.push_str(&c);
    out.push('\n');
}

fn quote_value(v: &str) -> String {
    if v.contains(['\n', '`']) {
        format!("\"\"\"{v}\"\"\"")
    } else if v.contains(['#', ';']) {
        format!("`{v}`")
    } else if v.trim() != v {
        format!("\"{v}\"")
    } else {
        v.to_string()
    }
}

/// Writes an INI document as go-ini's pretty format does.
///
/// # Errors
/// A section whose value is not a mapping.
pub fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    for (k, v) in branches.iter().flatten() {
        let Key::Str(section) = k else { continue };
        let Value::Map(items) = v else {
            return Err(format!("section {section:?} is not a mapping"));
        };
        let mut rest = &items[..];
        let mut section_comment = None;
        if let Some((Key::Comment(c), _)) = rest.first() {
            section_comment = Some(c.clone());
            rest = &rest[1..];
        }
        // Each key with the comment that follows it in the tree.
        let mut keys: Vec<(String, String, Option<String>)> = Vec::new();
        for (k, v) in rest {
            match k {
                Key::Comment(c) => {
                    if let Some(last) = keys.last_mut() {
                        last.2 = Some(c.clone());
                    }
                }
                Key::Str(name) => keys.push((name.clone(), val_to_string(v), None)),
            }
        }
        if section == DEFAULT && keys.is_empty() && section_comment.is_none() {
            continue;
        }
        // go-ini puts a blank line between sections, not after the last.
        if !out.is_empty() {
            out.push('\n');
        }
        if let Some(c) = &section_comment {
            comment_lines(c, &mut out);
        }
        if section != DEFAULT {
            out.push('[');
            out.push_str(section);
            out.push_str("]\n");
        }
        let width = keys
            .iter()
            .map(|(k, _, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (name, value, comment) in &keys {
            if let Some(c) = comment {
                comment_lines(c, &mut out);
            }
            out.push_str(name);
            for _ in name.chars().count()..width {
                out.push(' ');
            }
            out.push_str(" = ");
            out.push_str(&quote_value(value));
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}
