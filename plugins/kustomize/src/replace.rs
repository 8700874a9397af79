//! `replacements`: copy a field of one resource into fields of others.

use crate::build::Kustomization;
use crate::error::Error;
use crate::fsys::Root;
use crate::patch::Target;
use crate::resource::Resource;
use crate::yaml::{self, Map, Node};

/// One step of a field path: a key, an index, a `[key=value]` element
/// selector or `*`.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Match(String, String),
    All,
    /// `[x]` without `=`: not a valid list element selector.
    Bad(String),
}

/// Splits `a.b.[name=x].c` (dots inside brackets kept).
fn parse_path(p: &str) -> Vec<Step> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "*" {
                return Step::All;
            }
            if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                if let Some((k, v)) = inner.split_once('=') {
                    return Step::Match(k.to_string(), v.to_string());
                }
                if let Ok(i) = inner.parse::<usize>() {
                    return Step::Index(i);
                }
                return Step::Bad(inner.to_string());
            }
            // `containers[name=x]` written without a dot.
            if let Some(i) = s.find('[')
                && s.ends_with(']')
            {
                // Handled by splitting in two below.
                let _ = i;
            }
            match s.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Key(s),
            }
        })
        .flat_map(|step| match step {
            Step::Key(k) if k.contains('[') && k.ends_with(']') => {
                let (a, b) = k.split_at(k.find('[').unwrap_or(0));
                let mut v = vec![Step::Key(a.to_string())];
                v.extend(parse_path(b));
                v
            }
            s => vec![s],
        })
        .collect()
}

fn lookup<'n>(n: &'n Node, steps: &[Step]) -> Vec<&'n Node> {
    let Some((first, rest)) = steps.split_first() else {
        return vec![n];
    };
    match (first, n) {
        (Step::Key(k), Node::Map(m)) => m.get(k).map(|c| lookup(c, rest)).unwrap_or_default(),
        (Step::Index(i), Node::Seq(items)) => {
            items.get(*i).map(|c| lookup(c, rest)).unwrap_or_default()
        }
        (Step::Match(k, v), Node::Seq(items)) => items
            .iter()
            .filter(|c| c.as_map().and_then(|m| m.str(k)) == Some(v.as_str()))
            .flat_map(|c| lookup(c, rest))
            .collect(),
        (Step::All, Node::Seq(items)) => items.iter().flat_map(|c| lookup(c, rest)).collect(),
        (Step::All, Node::Map(m)) => m.iter().flat_map(|(_, c)| lookup(c, rest)).collect(),
        _ => Vec::new(),
    }
}

/// Sets every node at `steps` (creating missing mapping keys when `create`)
/// with `f`; returns how many were set.
fn set(n: &mut Node, steps: &[Step], create: bool, f: &dyn Fn(&mut Node)) -> usize {
    let Some((first, rest)) = steps.split_first() else {
        f(n);
        return 1;
    };
    match (first, n) {
        (Step::Key(k), Node::Map(m)) => {
            if m.get(k).is_none() {
                if !create {
                    return 0;
                }
                let fresh = match rest.first() {
                    Some(Step::Index(_)) | Some(Step::Match(..)) => Node::Seq(Vec::new()),
                    Some(_) => Node::Map(Map::new()),
                    None => Node::null(),
                };
                m.insert(k.clone(), fresh);
            }
            m.get_mut(k).map_or(0, |c| set(c, rest, create, f))
        }
        (Step::Index(i), Node::Seq(items)) => {
            items.get_mut(*i).map_or(0, |c| set(c, rest, create, f))
        }
        (Step::Match(k, v), Node::Seq(items)) => {
            let mut count = 0;
            for c in items.iter_mut() {
                if c.as_map().and_then(|m| m.str(k)) == Some(v.as_str()) {
                    count += set(c, rest, create, f);
                }
            }
            if count == 0 && create {
                let mut m = Map::new();
                m.insert(k.clone(), Node::str(v.clone()));
                items.push(Node::Map(m));
                if let Some(last) = items.last_mut() {
                    count += set(last, rest, create, f);
                }
            }
            count
        }
        (Step::All, Node::Seq(items)) => items.iter_mut().map(|c| set(c, rest, create, f)).sum(),
        (Step::All, Node::Map(m)) => m.0.iter_mut().map(|(_, c)| set(c, rest, create, f)).sum(),
        (_, n) if n.is_null() && create => {
            *n = match first {
                Step::Key(_) => Node::Map(Map::new()),
                _ => Node::Seq(Vec::new()),
            };
            set(n, steps, create, f)
        }
        _ => 0,
    }
}

/// Delimiter options of a source or target.
struct Delim {
    delimiter: Option<String>,
    index: i64,
    create: bool,
}

fn delim(m: Option<&Map>) -> Delim {
    let o = m.and_then(|m| m.get("options")).and_then(Node::as_map);
    Delim {
        delimiter: o.and_then(|o| o.str("delimiter")).map(str::to_string),
        index: o
            .and_then(|o| o.str("index"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        create: o.and_then(|o| o.str("create")) == Some("true"),
    }
}

/// `replacements`.
///
/// # Errors
/// A source that selects no or several resources, a missing source field,
/// a malformed entry.
pub fn replacements(root: &Root, k: &Kustomization, res: &mut [Resource]) -> Result<(), Error> {
    let mut entries: Vec<(String, Node)> = Vec::new();
    for (i, n) in k.list("replacements")?.iter().enumerate() {
        let field = format!("replacements[{i}]");
        if let Some(p) = n.as_map().and_then(|m| m.str("path")) {
            let rel = root.join(&k.dir, p).ok_or_else(|| Error::OutsideRoot {
                file: k.file.clone(),
                field: format!("{field}.path"),
                path: p.to_string(),
                root: root.dir().to_path_buf(),
            })?;
            let bytes = root.read(&rel).map_err(|_| Error::NotFound {
                file: k.file.clone(),
                field: format!("{field}.path"),
                path: rel.clone(),
            })?;
            let docs = yaml::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| Error::Yaml {
                path: rel.clone(),
                source: e,
            })?;
            for d in docs {
                match d {
                    Node::Seq(items) => {
                        entries.extend(items.into_iter().map(|n| (field.clone(), n)))
                    }
                    Node::Map(_) => entries.push((field.clone(), d)),
                    _ => {}
                }
            }
        } else {
            entries.push((field, n.clone()));
        }
    }
    for (field, n) in entries {
        apply(&k.file, &field, &n, res)?;
    }
    Ok(())
}

fn apply(file: &str, field: &str, n: &Node, res: &mut [Resource]) -> Result<(), Error> {
    let m = n
        .as_map()
        .ok_or_else(|| Error::invalid(file, field, "expected a mapping"))?;
    let src = m
        .get("source")
        .and_then(Node::as_map)
        .ok_or_else(|| Error::invalid(file, format!("{field}.source"), "missing"))?;
    let sel = Target::read(file, &format!("{field}.source"), &Node::Map(src.clone()))?;
    let found: Vec<&Resource> = res.iter().filter(|r| sel.matches(r)).collect();
    let source = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::invalid(
                file,
                format!("{field}.source"),
                "nothing selected by the source",
            ));
        }
        _ => {
            return Err(Error::invalid(
                file,
                format!("{field}.source"),
                format!(
                    "multiple matches for the source ({}): narrow it",
                    found.len()
                ),
            ));
        }
    };
    let path = src.str("fieldPath").unwrap_or("metadata.name");
    let vals = lookup(&source.node, &parse_path(path));
    let mut value = match vals.first() {
        Some(v) => (*v).clone(),
        None => {
            return Err(Error::invalid(
                file,
                format!("{field}.source.fieldPath"),
                format!("{path:?} not found in {}", source.describe()),
            ));
        }
    };
    let sd = delim(Some(src));
    if let (Some(d), Some(s)) = (&sd.delimiter, value.as_str()) {
        let parts: Vec<&str> = s.split(d.as_str()).collect();
        let idx = usize::try_from(sd.index).ok().filter(|i| *i < parts.len());
        let Some(i) = idx else {
            return Err(Error::invalid(
                file,
                format!("{field}.source.options.index"),
                format!("index {} is out of range", sd.index),
            ));
        };
        value = Node::plain(parts[i]);
    }
    let targets = m
        .get("targets")
        .and_then(Node::as_seq)
        .cloned()
        .unwrap_or_default();
    for (ti, t) in targets.iter().enumerate() {
        let tf = format!("{field}.targets[{ti}]");
        let tm = t
            .as_map()
            .ok_or_else(|| Error::invalid(file, &tf, "expected a mapping"))?;
        let select = match tm.get("select") {
            Some(s) => Target::read(file, &format!("{tf}.select"), s)?,
            None => return Err(Error::invalid(file, format!("{tf}.select"), "missing")),
        };
        let mut rejects = Vec::new();
        if let Some(Node::Seq(rs)) = tm.get("reject") {
            for (ri, r) in rs.iter().enumerate() {
                rejects.push(Target::read(file, &format!("{tf}.reject[{ri}]"), r)?);
            }
        }
        let paths: Vec<String> = tm
            .get("fieldPaths")
            .and_then(Node::as_seq)
            .map(|s| {
                s.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let td = delim(Some(tm));
        for r in res.iter_mut() {
            if !select.matches(r) || rejects.iter().any(|x| x.matches(r)) {
                continue;
            }
            for p in &paths {
                let steps = parse_path(p);
                if steps.iter().any(|s| matches!(s, Step::Bad(_))) {
                    return Err(Error::invalid(
                        file,
                        format!("{tf}.fieldPaths"),
                        format!(
                            "unable to find or create field {p:?}: a list element selector must be [fieldName=fieldValue]"
                        ),
                    ));
                }
                let v = value.clone();
                let setter = |n: &mut Node| match (&td.delimiter, n.as_str(), v.as_str()) {
                    (Some(d), Some(cur), Some(new)) => {
                        let mut parts: Vec<String> =
                            cur.split(d.as_str()).map(str::to_string).collect();
                        match usize::try_from(td.index) {
                            Ok(i) if i < parts.len() => parts[i] = new.to_string(),
                            Ok(_) => parts.push(new.to_string()),
                            Err(_) => parts.insert(0, new.to_string()),
                        }
                        *n = Node::plain(&parts.join(d));
                    }
                    _ => *n = v.clone(),
                };
                let count = set(&mut r.node, &steps, td.create, &setter);
                if count == 0 && !td.create {
                    return Err(Error::invalid(
                        file,
                        format!("{tf}.fieldPaths"),
                        format!(
                            "unable to find field {p:?} in replacement target {}",
                            r.describe()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Looks up `path` (replacement syntax) below `n`: for vars.
pub fn find<'n>(n: &'n Node, path: &str) -> Option<&'n Node> {
    lookup(n, &parse_path(path)).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_field_paths_with_selectors() {
        assert_eq!(
            parse_path("spec.containers.[name=a].image"),
            vec![
                Step::Key("spec".into()),
                Step::Key("containers".into()),
                Step::Match("name".into(), "a".into()),
                Step::Key("image".into())
            ]
        );
        assert_eq!(parse_path("a.0.b")[1], Step::Index(0));
    }
}
