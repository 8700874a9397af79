//! `configMapGenerator` and `secretGenerator`, and the content hash that
//! kustomize appends to generated names.

use crate::error::Error;
use crate::fsys::Root;
use crate::resource::{Behavior, Resource};
use crate::yaml::{Map, Node, json_string};
use sha2::{Digest, Sha256};

/// Options shared by the generators of one kustomization (`generatorOptions`)
/// or given per generator (`options`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Labels for the generated objects.
    pub labels: Vec<(String, String)>,
    /// Annotations for the generated objects.
    pub annotations: Vec<(String, String)>,
    /// `disableNameSuffixHash`.
    pub disable_hash: Option<bool>,
    /// `immutable`.
    pub immutable: Option<bool>,
}

impl Options {
    /// Reads `options`/`generatorOptions` at `node`.
    pub fn read(node: Option<&Node>) -> Options {
        let Some(m) = node.and_then(Node::as_map) else {
            return Options::default();
        };
        let pairs = |k: &str| -> Vec<(String, String)> {
            m.get(k)
                .and_then(Node::as_map)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let flag = |k: &str| m.str(k).map(|v| v == "true");
        Options {
            labels: pairs("labels"),
            annotations: pairs("annotations"),
            disable_hash: flag("disableNameSuffixHash"),
            immutable: flag("immutable"),
        }
    }

    /// `self` overridden by `over` (per-generator options win).
    pub fn merged(&self, over: &Options) -> Options {
        let mut labels = self.labels.clone();
        for (k, v) in &over.labels {
            set_pair(&mut labels, k, v);
        }
        let mut annotations = self.annotations.clone();
        for (k, v) in &over.annotations {
            set_pair(&mut annotations, k, v);
        }
        Options {
            labels,
            annotations,
            // Go booleans: `false` is "unset", so either side can only turn
            // an option on.
            disable_hash: Some(over.disable_hash == Some(true) || self.disable_hash == Some(true)),
            immutable: Some(over.immutable == Some(true) || self.immutable == Some(true)),
        }
    }
}

fn set_pair(pairs: &mut Vec<(String, String)>, k: &str, v: &str) {
    match pairs.iter_mut().find(|(pk, _)| pk == k) {
        Some(p) => p.1 = v.to_string(),
        None => pairs.push((k.to_string(), v.to_string())),
    }
}

/// Which generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `configMapGenerator`.
    ConfigMap,
    /// `secretGenerator`.
    Secret,
}

/// Builds the resource for generator entry `at` (`configMapGenerator[2]`)
/// in kustomization `file` (whose directory is `dir`).
///
/// # Errors
/// Missing files, malformed literals or env lines, duplicate keys.
pub fn generate(
    root: &Root,
    file: &str,
    dir: &str,
    at: &str,
    entry: &Node,
    kind: Kind,
    global: &Options,
) -> Result<Resource, Error> {
    let m = entry
        .as_map()
        .ok_or_else(|| Error::invalid(file, at, "expected a mapping"))?;
    let name = m.str("name").unwrap_or("").to_string();
    let namespace = m.str("namespace").map(str::to_string);
    let behavior = match m.str("behavior").unwrap_or("create") {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        // kustomize treats an unknown behavior as unspecified: create.
        _ => Behavior::Create,
    };
    let opts = global.merged(&Options::read(m.get("options")));
    let mut data: Vec<(String, String)> = Vec::new();
    let mut binary: Vec<(String, Vec<u8>)> = Vec::new();
    let add = |data: &mut Vec<(String, String)>, k: String, v: String, field: &str| {
        if data.iter().any(|(dk, _)| *dk == k) {
            return Err(Error::invalid(
                file,
                field,
                format!("key {k:?} already exists in the data"),
            ));
        }
        data.push((k, v));
        Ok(())
    };
    // kustomize reads env files, then literals, then files.
    let mut envs: Vec<String> = strings(m.get("envs"));
    if let Some(e) = m.str("env") {
        envs.push(e.to_string());
    }
    for (i, env) in envs.iter().enumerate() {
        let rel = root.join(dir, env).ok_or_else(|| Error::OutsideRoot {
            file: file.into(),
            field: format!("{at}.envs[{i}]"),
            path: env.clone(),
            root: root.dir().to_path_buf(),
        })?;
        let bytes = root.read(&rel).map_err(|_| Error::NotFound {
            file: file.into(),
            field: format!("{at}.envs[{i}]"),
            path: rel.clone(),
        })?;
        let text = String::from_utf8_lossy(&bytes);
        for (ln, line) in text.lines().enumerate() {
            let line = line.trim_start_matches('\u{feff}');
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (k, v) = match line.split_once('=') {
                Some((k, v)) => (k.trim_start().to_string(), v.to_string()),
                None => {
                    return Err(Error::invalid(
                        &rel,
                        format!("line {}", ln + 1),
                        format!("invalid env line {line:?}: expected KEY=VALUE"),
                    ));
                }
            };
            if k.contains(' ') {
                return Err(Error::invalid(
                    &rel,
                    format!("line {}", ln + 1),
                    format!("invalid key {k:?}: a key may not contain spaces"),
                ));
            }
            add(&mut data, k, v, &format!("{at}.envs[{i}]"))?;
        }
    }
    for (i, lit) in strings(m.get("literals")).into_iter().enumerate() {
        let f = format!("{at}.literals[{i}]");
        let Some((k, v)) = lit.split_once('=') else {
            return Err(Error::invalid(
                file,
                f,
                format!("invalid literal {lit:?}: expected KEY=VALUE"),
            ));
        };
        let v = unquote(v);
        add(&mut data, k.to_string(), v, &f)?;
    }
    for (i, spec) in strings(m.get("files")).into_iter().enumerate() {
        let f = format!("{at}.files[{i}]");
        let (key, path) = match spec.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (
                spec.rsplit('/').next().unwrap_or(&spec).to_string(),
                spec.clone(),
            ),
        };
        let rel = root.join(dir, &path).ok_or_else(|| Error::OutsideRoot {
            file: file.into(),
            field: f.clone(),
            path: path.clone(),
            root: root.dir().to_path_buf(),
        })?;
        if root.is_dir(&rel) {
            return Err(Error::invalid(
                file,
                f,
                format!("{rel} is a directory, not a file"),
            ));
        }
        let bytes = root.read(&rel).map_err(|_| Error::NotFound {
            file: file.into(),
            field: f.clone(),
            path: rel.clone(),
        })?;
        if data.iter().any(|(k, _)| *k == key) || binary.iter().any(|(k, _)| *k == key) {
            return Err(Error::invalid(
                file,
                f,
                format!("key {key:?} already exists in the data"),
            ));
        }
        match String::from_utf8(bytes) {
            Ok(s) => data.push((key, s)),
            Err(e) => binary.push((key, e.into_bytes())),
        }
    }

    let mut obj = Map::new();
    obj.insert("apiVersion", Node::str("v1"));
    obj.insert(
        "kind",
        Node::str(match kind {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }),
    );
    let mut meta = Map::new();
    meta.insert("name", Node::str(name.clone()));
    if let Some(ns) = &namespace {
        meta.insert("namespace", Node::str(ns.clone()));
    }
    if !opts.labels.is_empty() {
        meta.insert("labels", pairs_node(&opts.labels));
    }
    if !opts.annotations.is_empty() {
        meta.insert("annotations", pairs_node(&opts.annotations));
    }
    obj.insert("metadata", Node::Map(meta));
    match kind {
        Kind::ConfigMap => {
            if !data.is_empty() {
                obj.insert("data", pairs_node(&data));
            }
            if !binary.is_empty() {
                let b: Vec<(String, String)> = binary
                    .into_iter()
                    .map(|(k, v)| (k, base64_lines(&v)))
                    .collect();
                obj.insert("binaryData", pairs_node(&b));
            }
        }
        Kind::Secret => {
            let mut all: Vec<(String, String)> = data
                .into_iter()
                .map(|(k, v)| (k, base64_lines(v.as_bytes())))
                .collect();
            all.extend(binary.into_iter().map(|(k, v)| (k, base64_lines(&v))));
            if !all.is_empty() {
                obj.insert("data", pairs_node(&all));
            }
            obj.insert("type", Node::str(m.str("type").unwrap_or("Opaque")));
        }
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable", Node::plain("true"));
    }
    let mut r = Resource::new(Node::Map(obj), file.to_string());
    r.hash_suffix = opts.disable_hash != Some(true);
    r.behavior = Some(behavior);
    r.generated_by = Some(match kind {
        Kind::ConfigMap => "ConfigMapGenerator",
        Kind::Secret => "SecretGenerator",
    });
    Ok(r)
}

/// A literal's value: one pair of surrounding quotes is removed.
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

fn strings(n: Option<&Node>) -> Vec<String> {
    n.and_then(Node::as_seq)
        .map(|s| {
            s.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A mapping of string pairs.
pub fn pairs_node(pairs: &[(String, String)]) -> Node {
    Node::Map(Map(pairs
        .iter()
        .map(|(k, v)| (k.clone(), Node::str(v.clone())))
        .collect()))
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Base64 as kustomize writes generated data: when the encoding is 70
/// characters or longer, it is cut into 70-character lines, each ending in a
/// newline (kyaml's `encodeBase64`).
pub fn base64_lines(data: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = base64(data);
    if enc.len() < LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out
}

/// kustomize's content hash of a ConfigMap or Secret: SHA-256 over the JSON
/// of `{data, kind, name: "", type?, binaryData?}` (keys sorted), the first
/// ten hex digits with `0 1 3 a e` swapped for `g h k m t` (no vowels, no
/// look-alikes).
pub fn content_hash(r: &Resource) -> String {
    let m = r.map();
    let kind = r.kind();
    let mut j = String::from("{");
    let mut first = true;
    let mut field = |j: &mut String, k: &str, v: &str| {
        if !first {
            j.push(',');
        }
        first = false;
        json_string(k, j);
        j.push(':');
        j.push_str(v);
    };
    let sorted_map = |n: Option<&Node>| -> Option<String> {
        let mm = n?.as_map()?;
        let mut entries: Vec<(&String, &Node)> = mm.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut s = String::from("{");
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_string(k, &mut s);
            s.push(':');
            json_string(v.as_str().unwrap_or(""), &mut s);
        }
        s.push('}');
        Some(s)
    };
    if kind == "ConfigMap"
        && let Some(b) = sorted_map(m.get("binaryData"))
    {
        field(&mut j, "binaryData", &b);
    }
    field(
        &mut j,
        "data",
        &sorted_map(m.get("data")).unwrap_or_else(|| "{}".into()),
    );
    field(&mut j, "kind", &format!("\"{kind}\""));
    field(&mut j, "name", "\"\"");
    if kind == "Secret" {
        let mut t = String::new();
        json_string(m.str("type").unwrap_or(""), &mut t);
        field(&mut j, "type", &t);
    }
    j.push('}');
    let digest = Sha256::digest(j.as_bytes());
    let mut out = String::with_capacity(10);
    for b in digest.iter().take(5) {
        for nib in [b >> 4, b & 15] {
            out.push(match nib {
                0 => 'g',
                1 => 'h',
                3 => 'k',
                10 => 'm',
                14 => 't',
                n => char::from_digit(u32::from(n), 16).unwrap_or('x'),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn hashes_a_config_map_as_kustomize_does() {
        let mut m = Map::new();
        m.insert("apiVersion", Node::str("v1"));
        m.insert("kind", Node::str("ConfigMap"));
        m.insert("data", pairs_node(&[("a".into(), "b".into())]));
        let r = Resource::new(Node::Map(m), String::new());
        // kubectl kustomize names `literals: [a=b]` cm-4h2mbtbbt6.
        assert_eq!(content_hash(&r), "4h2mbtbbt6");
    }
}
