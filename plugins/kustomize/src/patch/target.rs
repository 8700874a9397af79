//! Patch and replacement target selectors.

use crate::error::Error;
use crate::resource::Resource;
use crate::yaml::Node;
use regex::Regex;

/// A selector: group, version, kind, name and namespace (anchored regular
/// expressions), label and annotation selectors.
#[derive(Debug, Clone, Default)]
pub struct Target {
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

/// One term of a label selector.
#[derive(Debug, Clone)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn anchored(file: &str, field: &str, pattern: &str) -> Result<Regex, Error> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| Error::invalid(file, field, format!("invalid regular expression: {e}")))
}

impl Target {
    /// Reads a selector mapping.
    ///
    /// # Errors
    /// A field that is not a string, a bad regular expression or selector.
    pub fn read(file: &str, field: &str, n: &Node) -> Result<Target, Error> {
        let m = n
            .as_map()
            .ok_or_else(|| Error::invalid(file, field, "expected a mapping"))?;
        let s = |k: &str| m.str(k).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Target {
            group: s("group"),
            version: s("version"),
            kind: s("kind"),
            name: s("name")
                .map(|p| anchored(file, &format!("{field}.name"), &p))
                .transpose()?,
            namespace: s("namespace")
                .map(|p| anchored(file, &format!("{field}.namespace"), &p))
                .transpose()?,
            labels: match s("labelSelector") {
                Some(sel) => parse_selector(&sel)
                    .map_err(|e| Error::invalid(file, format!("{field}.labelSelector"), e))?,
                None => Vec::new(),
            },
            annotations: match s("annotationSelector") {
                Some(sel) => parse_selector(&sel)
                    .map_err(|e| Error::invalid(file, format!("{field}.annotationSelector"), e))?,
                None => Vec::new(),
            },
        })
    }

    /// Whether `r` is selected. Names match the current name or any earlier
    /// one (a base's patch target written before an overlay's prefix).
    pub fn matches(&self, r: &Resource) -> bool {
        let gvk = r.gvk();
        if self.group.as_ref().is_some_and(|g| *g != gvk.group)
            || self.version.as_ref().is_some_and(|v| *v != gvk.version)
            || self.kind.as_ref().is_some_and(|k| *k != gvk.kind)
        {
            return false;
        }
        if let Some(re) = &self.name
            && !re.is_match(r.name())
            && !r.prev.iter().any(|(n, _)| re.is_match(n))
        {
            return false;
        }
        if let Some(re) = &self.namespace
            && !re.is_match(r.namespace())
        {
            return false;
        }
        if !self.labels.is_empty() && !selects(&self.labels, &r.labels()) {
            return false;
        }
        if !self.annotations.is_empty() && !selects(&self.annotations, &r.annotations()) {
            return false;
        }
        true
    }
}

fn selects(reqs: &[Requirement], pairs: &[(String, String)]) -> bool {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    };
    reqs.iter().all(|r| match r {
        Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
        Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
    })
}

/// Parses a Kubernetes label selector (`a=b,c!=d,e in (f,g),!h,i`).
fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    // Split on commas outside parentheses.
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    terms.push(cur);
    for t in terms {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("invalid selector term {t:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        if let Some(k) = t.strip_prefix('!') {
            out.push(Requirement::NotExists(k.trim().to_string()));
        } else if let Some((k, v)) = t.split_once("!=") {
            out.push(Requirement::NotEq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once("==") {
            out.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once('=') {
            out.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = t.split_once(" notin ") {
            out.push(Requirement::NotIn(k.trim().into(), set(rest)?));
        } else if let Some((k, rest)) = t.split_once(" in ") {
            out.push(Requirement::In(k.trim().into(), set(rest)?));
        } else {
            out.push(Requirement::Exists(t.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_based_selectors() {
        let r = parse_selector("a=b, c in (d, e),!f,g").expect("parses");
        assert_eq!(r.len(), 4);
        let pairs = vec![
            ("a".into(), "b".into()),
            ("c".into(), "e".into()),
            ("g".into(), String::new()),
        ];
        assert!(selects(&r, &pairs));
        let pairs = vec![("a".into(), "b".into()), ("c".into(), "x".into())];
        assert!(!selects(&r, &pairs));
    }
}
