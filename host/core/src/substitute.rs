//! Post-build variable substitution, as Flux's kustomize-controller does it
//! for `spec.postBuild` (its envsubst dialect, fluxcd/pkg `envsubst`).
//!
//! Flux prints each rendered object as YAML, runs envsubst over the text and
//! parses the result back. weir walks the object instead and substitutes in
//! every string (values and map keys), which gives the same result for the
//! manifests Flux users write, without letting a value inject YAML
//! structure. The rules, with the Flux behaviour each one follows:
//!
//! - `${var}` is replaced by the variable's value. `$var` (no braces) is
//!   left alone, so shell scripts embedded in manifests keep working; `$$`
//!   is an escape for `$`, so `$${var}` gives a literal `${var}`.
//! - Defaults: `${var:=word}` and `${var:-word}` use `word` when `var` is
//!   undefined or empty, `${var=word}` and `${var-word}` only when it is
//!   undefined. `word` may itself contain `${…}`.
//! - Bash string functions: `${#var}`, `${var^}`, `${var^^}`, `${var,}`,
//!   `${var,,}`, `${var:offset}`, `${var:offset:length}`, `${var#pat}`,
//!   `${var##pat}`, `${var%pat}`, `${var%%pat}`, `${var/pat/rep}`,
//!   `${var//pat/rep}`, `${var/#pat/rep}`, `${var/%pat/rep}`; patterns know
//!   `*` and `?`, and `\/`, `\\` escape a slash and a backslash. Flux's
//!   unsupported forms (`${var:?…}`, `${var:+…}`, `${var+…}`) are errors.
//! - An undefined variable without a default becomes the empty string;
//!   in strict mode it is an error naming the variable, the object and its
//!   file. Newlines are removed from values, as Flux does.
//! - Types: Flux re-parses the substituted YAML, so `replicas: ${replicas}`
//!   becomes the number 3. weir does the same for a string that is exactly
//!   one `${…}` expression: the result is read as a YAML 1.1 plain scalar
//!   (what Flux's parser does): an integer (decimal, `0x` hex, `0b` binary,
//!   leading-`0` octal, `_` separators), a float, a boolean (`true`,
//!   `false`, `yes`, `no`, `on`, `off`, `y`, `n` in their three casings),
//!   null (empty, `~`, `null`), else a string. A string with anything around
//!   the expression stays a string, and so do fields Kubernetes defines as
//!   strings, where a number could only be refused (Flux refuses them):
//!   labels and annotations, ConfigMap and Secret `data`, `stringData` and
//!   `binaryData`, container `env[].value`, `args` and `command`.
//! - Objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute:
//!   disabled` (or `sync.weir.dev/substitute: disabled`) are left as they
//!   are.
//!
//! Everything here is pure; reading `substituteFrom` objects from the
//! cluster is the reconcile's job.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use crate::object::Object;

/// Label or annotation that turns substitution off for one object when set
/// to `disabled`.
pub const SUBSTITUTE_ANNOTATION: &str = "sync.weir.dev/substitute";

/// Flux's spelling of [`SUBSTITUTE_ANNOTATION`].
pub const FLUX_SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// What an undefined variable without a default becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undefined {
    /// The empty string (Flux's default).
    Empty,
    /// An error (strict mode).
    Error,
    /// The expression as written, for `weir build`, which cannot read the
    /// variables that live in the cluster.
    Keep,
}

/// The variables of one sync, merged in Flux's precedence order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the data of one `substituteFrom` object, named `source` in
    /// errors. Call in list order: later sources override earlier ones.
    ///
    /// # Errors
    /// A key that is not a valid variable name (Flux refuses those too).
    pub fn add_source(
        &mut self,
        source: &str,
        data: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), String> {
        for (k, v) in data {
            if !weir_config::is_variable_name(&k) {
                return Err(format!(
                    "{source}: key {k:?} is not a valid variable name: use letters, digits and '_', not starting with a digit"
                ));
            }
            self.set(k, &v);
        }
        Ok(())
    }

    /// Adds inline variables (`postBuild.substitute`); call last, as they
    /// override every source.
    pub fn add_inline(&mut self, vars: &BTreeMap<String, String>) {
        for (k, v) in vars {
            self.set(k.clone(), v);
        }
    }

    fn set(&mut self, k: String, v: &str) {
        // Flux drops newlines from values, so a multi-line value cannot
        // break the YAML it lands in.
        self.values.insert(k, v.replace('\n', ""));
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether no variable is defined.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Substitution failed for one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {object}: {message}")]
pub struct SubstituteError {
    /// Where the object came from (`file` or `file#doc`).
    pub origin: String,
    /// The object, `Kind/namespace/name` or `Kind/name`.
    pub object: String,
    /// What went wrong, naming the variable and field.
    pub message: String,
}

/// Whether substitution is disabled for `o` by label or annotation.
pub fn is_disabled(o: &Object) -> bool {
    let meta = o.data.get("metadata");
    ["labels", "annotations"].iter().any(|field| {
        let map = meta.and_then(|m| m.get(*field));
        [SUBSTITUTE_ANNOTATION, FLUX_SUBSTITUTE_ANNOTATION]
            .iter()
            .any(|k| {
                map.and_then(|m| m.get(*k))
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
            })
    })
}

/// Substitutes variables in every object that does not disable it.
///
/// # Errors
/// One [`SubstituteError`] per object that failed; nothing is returned then.
pub fn substitute_objects(
    mut objects: Vec<Object>,
    vars: &Variables,
    undefined: Undefined,
) -> Result<Vec<Object>, Vec<SubstituteError>> {
    let errors: Vec<SubstituteError> = objects
        .iter_mut()
        .filter_map(|o| substitute_object(o, vars, undefined).err())
        .collect();
    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

/// Substitutes variables in one object (unless it disables substitution).
///
/// # Errors
/// A malformed or unsupported `${…}` expression; an undefined variable in
/// [`Undefined::Error`] mode; an object that lost its identity
/// (`apiVersion`, `kind`, `metadata.name`) to an empty value. The object is
/// left unchanged then.
pub fn substitute_object(
    object: &mut Object,
    vars: &Variables,
    undefined: Undefined,
) -> Result<(), SubstituteError> {
    if is_disabled(object) {
        return Ok(());
    }
    let err = |o: &Object, message: String| SubstituteError {
        origin: o.origin.clone(),
        object: o.key().to_string(),
        message,
    };
    let is_data_kind =
        object.api_version() == "v1" && matches!(object.kind(), "ConfigMap" | "Secret");
    let mut walker = Walker {
        vars,
        undefined,
        missing: BTreeMap::new(),
        is_data_kind,
    };
    let mut data = Value::Object(object.data.clone());
    walker
        .walk(&mut data, &mut Vec::new())
        .map_err(|m| err(object, m))?;
    if !walker.missing.is_empty() {
        let list: Vec<String> = walker
            .missing
            .iter()
            .map(|(name, at)| format!("{name:?} (at {at})"))
            .collect();
        let first = walker.missing.keys().next().map_or("var", String::as_str);
        return Err(err(
            object,
            format!(
                "undefined variable{} {} and postBuild.strict is on: define it in postBuild.substitute or substituteFrom, or give a default with ${{{first}:=value}}",
                if list.len() > 1 { "s" } else { "" },
                list.join(", ")
            ),
        ));
    }
    let Value::Object(map) = data else {
        return Err(err(
            object,
            "substitution made the object a non-object".into(),
        ));
    };
    let substituted = Object {
        data: map,
        origin: object.origin.clone(),
    };
    for (field, value) in [
        ("apiVersion", substituted.api_version()),
        ("kind", substituted.kind()),
        ("metadata.name", substituted.name()),
    ] {
        if value.is_empty() {
            return Err(err(object, format!("{field} is empty after substitution")));
        }
    }
    *object = substituted;
    Ok(())
}

/// One step of the path to a value, for messages and for the fields that
/// must stay strings.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    if out.is_empty() {
        "the object".into()
    } else {
        out
    }
}

struct Walker<'a> {
    vars: &'a Variables,
    undefined: Undefined,
    /// Undefined variables (strict mode) and where each was first used.
    missing: BTreeMap<String, String>,
    /// A core ConfigMap or Secret, whose data maps hold strings only.
    is_data_kind: bool,
}

impl Walker<'_> {
    fn walk(&mut self, v: &mut Value, path: &mut Vec<Seg>) -> Result<(), String> {
        match v {
            Value::String(s) => {
                if !s.contains('$') {
                    return Ok(());
                }
                let (text, whole) = self.expand(s, path)?;
                *v = match whole {
                    true if !self.must_stay_string(path) => yaml_scalar(text),
                    _ => Value::String(text),
                };
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    let r = self.walk(item, path);
                    path.pop();
                    r?;
                }
            }
            Value::Object(map) => {
                let old = std::mem::take(map);
                let mut new = Map::new();
                for (k, mut val) in old {
                    let key = if k.contains('$') {
                        path.push(Seg::Key(k.clone()));
                        let r = self.expand(&k, path);
                        path.pop();
                        r?.0
                    } else {
                        k
                    };
                    path.push(Seg::Key(key.clone()));
                    let r = self.walk(&mut val, path);
                    path.pop();
                    r?;
                    new.insert(key, val);
                }
                *map = new;
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    /// Expands `s`; also says whether it was exactly one resolved `${…}`
    /// expression (whose result is then read as a YAML scalar).
    fn expand(&mut self, s: &str, path: &[Seg]) -> Result<(String, bool), String> {
        let at = |m: String| format!("{}: {m}", path_string(path));
        let nodes = parse(s).map_err(at)?;
        let mut eval = Eval {
            vars: self.vars,
            undefined: self.undefined,
            missing: Vec::new(),
            kept: false,
        };
        let text = eval.nodes(&nodes).map_err(at)?;
        for name in eval.missing {
            self.missing
                .entry(name)
                .or_insert_with(|| path_string(path));
        }
        let whole = matches!(nodes.as_slice(), [Node::Expr { .. }]) && !eval.kept;
        Ok((text, whole))
    }

    /// Fields Kubernetes types as strings: a number there is always refused.
    fn must_stay_string(&self, path: &[Seg]) -> bool {
        let key = |i: usize| match path.get(i) {
            Some(Seg::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let n = path.len();
        let last_is_index = matches!(path.last(), Some(Seg::Index(_)));
        let parent = n.checked_sub(2).and_then(key);
        let grandparent = n.checked_sub(3).and_then(key);
        let in_metadata_map =
            grandparent == Some("metadata") && matches!(parent, Some("labels" | "annotations"));
        let in_data = self.is_data_kind
            && n == 2
            && matches!(key(0), Some("data" | "stringData" | "binaryData"));
        let env_value = n >= 3
            && key(n - 1) == Some("value")
            && matches!(path.get(n - 2), Some(Seg::Index(_)))
            && key(n - 3) == Some("env");
        let arg = last_is_index && matches!(parent, Some("args" | "command"));
        in_metadata_map || in_data || env_value || arg
    }
}

/// A parsed string: literal text and `${…}` expressions.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr {
        var: String,
        op: Op,
        /// The expression as written, for [`Undefined::Keep`].
        source: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Value,
    Length,
    UpperFirst,
    UpperAll,
    LowerFirst,
    LowerAll,
    /// `:=`/`:-` (also when empty) or `=`/`-` (only when undefined).
    Default {
        if_empty: bool,
        word: Vec<Node>,
    },
    Substring {
        offset: i64,
        length: Option<i64>,
    },
    TrimPrefix {
        pattern: String,
        longest: bool,
    },
    TrimSuffix {
        pattern: String,
        longest: bool,
    },
    Replace {
        pattern: String,
        with: String,
        mode: ReplaceMode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplaceMode {
    First,
    All,
    Prefix,
    Suffix,
}

fn parse(s: &str) -> Result<Vec<Node>, String> {
    let chars: Vec<char> = s.chars().collect();
    let (nodes, end) = parse_text(&chars, 0, false)?;
    debug_assert_eq!(end, chars.len());
    Ok(nodes)
}

/// Parses text up to the end, or (in a default's word) up to the `}` that
/// closes the enclosing expression; returns the nodes and where it stopped.
fn parse_text(c: &[char], mut i: usize, in_word: bool) -> Result<(Vec<Node>, usize), String> {
    let mut nodes = Vec::new();
    let mut text = String::new();
    while i < c.len() {
        match (c[i], c.get(i + 1)) {
            ('$', Some('$')) => {
                text.push('$');
                i += 2;
            }
            ('$', Some('{')) => {
                if !text.is_empty() {
                    nodes.push(Node::Text(std::mem::take(&mut text)));
                }
                let (node, next) = parse_expr(c, i)?;
                nodes.push(node);
                i = next;
            }
            ('}', _) if in_word => {
                if !text.is_empty() {
                    nodes.push(Node::Text(text));
                }
                return Ok((nodes, i));
            }
            (ch, _) => {
                text.push(ch);
                i += 1;
            }
        }
    }
    if in_word {
        return Err("unterminated \"${\": a default value has no closing '}'".into());
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    Ok((nodes, i))
}

fn is_ident_char(ch: char) -> bool {
    ch == '_' || ch.is_alphanumeric()
}

/// Parses the expression starting at `c[start] == '$'`, `c[start+1] == '{'`.
fn parse_expr(c: &[char], start: usize) -> Result<(Node, usize), String> {
    let snippet = |end: usize| c[start..end.min(c.len())].iter().collect::<String>();
    let unterminated = || {
        format!(
            "unterminated {:?}: add the closing '}}', or write \"$${{\" for a literal \"${{\"",
            snippet(start + 12)
        )
    };
    let mut i = start + 2;
    let length = c.get(i) == Some(&'#');
    if length {
        i += 1;
    }
    let name_start = i;
    while i < c.len() && is_ident_char(c[i]) {
        i += 1;
    }
    let var: String = c[name_start..i].iter().collect();
    if var.is_empty() {
        if i >= c.len() {
            return Err(unterminated());
        }
        return Err(format!(
            "invalid expression {:?}: \"${{\" must be followed by a variable name; write \"$${{\" for a literal \"${{\"",
            snippet(i + 1)
        ));
    }
    // Finds the closing brace of a literal part (patterns, numbers).
    let close_from = |from: usize| -> Result<usize, String> {
        let mut j = from;
        while j < c.len() {
            match c[j] {
                '\\' if matches!(c.get(j + 1), Some('/' | '\\' | '}')) => j += 2,
                '}' => return Ok(j),
                _ => j += 1,
            }
        }
        Err(unterminated())
    };
    let unescape = |s: &[char]| -> String {
        let mut out = String::new();
        let mut k = 0;
        while k < s.len() {
            if s[k] == '\\' && matches!(s.get(k + 1), Some('/' | '\\' | '}')) {
                k += 1;
            }
            out.push(s[k]);
            k += 1;
        }
        out
    };
    let done = |op: Op, end: usize| -> (Node, usize) {
        (
            Node::Expr {
                var: var.clone(),
                op,
                source: snippet(end + 1),
            },
            end + 1,
        )
    };
    let Some(&next) = c.get(i) else {
        return Err(unterminated());
    };
    if length {
        return if next == '}' {
            Ok(done(Op::Length, i))
        } else {
            Err(format!(
                "invalid expression {:?}: ${{#var}} takes nothing after the name",
                snippet(close_from(i).map_or(i + 1, |e| e + 1))
            ))
        };
    }
    let unsupported = |end: usize| {
        format!(
            "unsupported expression {:?} (Flux does not support it either); use ${{{var}:=default}} or ${{{var}:-default}}",
            snippet(end + 1)
        )
    };
    let after = c.get(i + 1).copied();
    match (next, after) {
        ('}', _) => Ok(done(Op::Value, i)),
        ('^', Some('^')) if c.get(i + 2) == Some(&'}') => Ok(done(Op::UpperAll, i + 2)),
        ('^', Some('}')) => Ok(done(Op::UpperFirst, i + 1)),
        (',', Some(',')) if c.get(i + 2) == Some(&'}') => Ok(done(Op::LowerAll, i + 2)),
        (',', Some('}')) => Ok(done(Op::LowerFirst, i + 1)),
        (':', Some('=' | '-')) | ('=' | '-', _) => {
            let if_empty = next == ':';
            let word_start = if if_empty { i + 2 } else { i + 1 };
            let (word, end) = parse_text(c, word_start, true).map_err(|_| unterminated())?;
            Ok(done(Op::Default { if_empty, word }, end))
        }
        (':', Some('?' | '+')) | ('+' | '?', _) => Err(unsupported(close_from(i)?)),
        (':', _) => {
            let end = close_from(i + 1)?;
            let body: String = c[i + 1..end].iter().collect();
            let mut parts = body.splitn(2, ':');
            let num = |s: Option<&str>| s.map(|s| s.trim().parse::<i64>());
            match (num(parts.next()), num(parts.next())) {
                (Some(Ok(offset)), None) => Ok(done(
                    Op::Substring {
                        offset,
                        length: None,
                    },
                    end,
                )),
                (Some(Ok(offset)), Some(Ok(length))) => Ok(done(
                    Op::Substring {
                        offset,
                        length: Some(length),
                    },
                    end,
                )),
                _ => Err(format!(
                    "invalid expression {:?}: ${{{var}:offset}} and ${{{var}:offset:length}} take integers",
                    snippet(end + 1)
                )),
            }
        }
        ('#' | '%', _) => {
            let longest = after == Some(next);
            let pat_start = if longest { i + 2 } else { i + 1 };
            let end = close_from(pat_start)?;
            let pattern = unescape(&c[pat_start..end]);
            let op = if next == '#' {
                Op::TrimPrefix { pattern, longest }
            } else {
                Op::TrimSuffix { pattern, longest }
            };
            Ok(done(op, end))
        }
        ('/', _) => {
            let (mode, pat_start) = match after {
                Some('/') => (ReplaceMode::All, i + 2),
                Some('#') => (ReplaceMode::Prefix, i + 2),
                Some('%') => (ReplaceMode::Suffix, i + 2),
                _ => (ReplaceMode::First, i + 1),
            };
            let end = close_from(pat_start)?;
            // The pattern ends at the first unescaped '/'.
            let mut j = pat_start;
            while j < end && c[j] != '/' {
                j += if c[j] == '\\' && j + 1 < end { 2 } else { 1 };
            }
            let pattern = unescape(&c[pat_start..j.min(end)]);
            let with = if j < end {
                unescape(&c[j + 1..end])
            } else {
                String::new()
            };
            Ok(done(
                Op::Replace {
                    pattern,
                    with,
                    mode,
                },
                end,
            ))
        }
        _ => {
            let end = close_from(i)?;
            Err(format!(
                "invalid expression {:?}: a variable name may hold only letters, digits and '_'; write \"$${{\" for a literal \"${{\"",
                snippet(end + 1)
            ))
        }
    }
}

struct Eval<'a> {
    vars: &'a Variables,
    undefined: Undefined,
    /// Undefined variables met in [`Undefined::Error`] mode.
    missing: Vec<String>,
    /// Whether an expression was kept as written ([`Undefined::Keep`]).
    kept: bool,
}

impl Eval<'_> {
    fn nodes(&mut self, nodes: &[Node]) -> Result<String, String> {
        let mut out = String::new();
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Expr { var, op, source } => out.push_str(&self.expr(var, op, source)?),
            }
        }
        Ok(out)
    }

    fn expr(&mut self, var: &str, op: &Op, source: &str) -> Result<String, String> {
        let value = self.vars.get(var);
        if let Op::Default { if_empty, word } = op {
            return match value {
                Some(v) if !(*if_empty && v.is_empty()) => Ok(v.to_owned()),
                _ => self.nodes(word),
            };
        }
        let value = match (value, self.undefined) {
            (Some(v), _) => v,
            (None, Undefined::Empty) => "",
            (None, Undefined::Error) => {
                self.missing.push(var.to_owned());
                ""
            }
            (None, Undefined::Keep) => {
                self.kept = true;
                return Ok(source.to_owned());
            }
        };
        Ok(apply(op, value))
    }
}

fn apply(op: &Op, v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let n = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let clamp = |i: i64| usize::try_from(i.clamp(0, n)).unwrap_or(0);
    match op {
        Op::Value | Op::Default { .. } => v.to_owned(),
        Op::Length => chars.len().to_string(),
        Op::UpperAll => v.to_uppercase(),
        Op::LowerAll => v.to_lowercase(),
        Op::UpperFirst | Op::LowerFirst => {
            let mut it = v.chars();
            match it.next() {
                Some(first) if matches!(op, Op::UpperFirst) => {
                    first.to_uppercase().chain(it).collect()
                }
                Some(first) => first.to_lowercase().chain(it).collect(),
                None => String::new(),
            }
        }
        Op::Substring { offset, length } => {
            // Bash: a negative offset counts from the end; a negative
            // length is an end position counted from the end.
            let start = if *offset < 0 { n + offset } else { *offset };
            let start = clamp(start);
            let end = match length {
                None => chars.len(),
                Some(l) if *l < 0 => clamp(n + l),
                Some(l) => clamp(i64::try_from(start).unwrap_or(0).saturating_add(*l)),
            };
            if end <= start {
                String::new()
            } else {
                chars[start..end].iter().collect()
            }
        }
        Op::TrimPrefix { pattern, longest } => {
            let p: Vec<char> = pattern.chars().collect();
            let mut ends: Vec<usize> = (0..=chars.len()).collect();
            if *longest {
                ends.reverse();
            }
            ends.into_iter()
                .find(|&e| glob(&p, &chars[..e]))
                .map_or_else(|| v.to_owned(), |e| chars[e..].iter().collect())
        }
        Op::TrimSuffix { pattern, longest } => {
            let p: Vec<char> = pattern.chars().collect();
            let mut starts: Vec<usize> = (0..=chars.len()).collect();
            if !*longest {
                starts.reverse();
            }
            starts
                .into_iter()
                .find(|&s| glob(&p, &chars[s..]))
                .map_or_else(|| v.to_owned(), |s| chars[..s].iter().collect())
        }
        Op::Replace {
            pattern,
            with,
            mode,
        } => replace(&chars, pattern, with, *mode),
    }
}

fn replace(chars: &[char], pattern: &str, with: &str, mode: ReplaceMode) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let s: String = chars.iter().collect();
    match mode {
        ReplaceMode::Prefix => (0..=chars.len())
            .rev()
            .find(|&e| glob(&p, &chars[..e]))
            .map_or(s, |e| {
                format!("{with}{}", chars[e..].iter().collect::<String>())
            }),
        ReplaceMode::Suffix => (0..=chars.len())
            .find(|&b| glob(&p, &chars[b..]))
            .map_or(s, |b| {
                format!("{}{with}", chars[..b].iter().collect::<String>())
            }),
        ReplaceMode::First | ReplaceMode::All => {
            if p.is_empty() {
                return s;
            }
            let mut out = String::new();
            let mut i = 0;
            let mut replaced = false;
            while i < chars.len() {
                let m = if replaced && mode == ReplaceMode::First {
                    None
                } else {
                    // Bash takes the longest match at the leftmost position.
                    (i + 1..=chars.len())
                        .rev()
                        .find(|&e| glob(&p, &chars[i..e]))
                };
                match m {
                    Some(e) => {
                        out.push_str(with);
                        i = e;
                        replaced = true;
                    }
                    None => {
                        out.push(chars[i]);
                        i += 1;
                    }
                }
            }
            out
        }
    }
}

/// Shell glob match of the whole of `s`: `*` any run, `?` any character.
fn glob(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == '?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Reads a substituted value as YAML 1.1 reads a plain scalar, which is
/// what Flux's re-parse does with `key: ${var}`.
fn yaml_scalar(s: String) -> Value {
    match s.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            return Value::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    if let Some(n) = yaml_int(&s) {
        return Value::Number(n);
    }
    if is_yaml_float(&s)
        && let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(s)
}

fn yaml_int(s: &str) -> Option<Number> {
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    if digits.is_empty() || s.starts_with('_') {
        return None;
    }
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(b) = digits.strip_prefix("0b") {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let m = i64::try_from(magnitude).ok()?;
        Some(Number::from(-m))
    } else {
        Some(Number::from(magnitude))
    }
}

fn is_yaml_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    // A bare integer was handled by `yaml_int`; a float needs a '.' or an
    // exponent.
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        let mut v = Variables::new();
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        v.add_inline(&map);
        v
    }

    fn expand(s: &str, v: &Variables) -> Result<String, String> {
        let nodes = parse(s)?;
        Eval {
            vars: v,
            undefined: Undefined::Empty,
            missing: Vec::new(),
            kept: false,
        }
        .nodes(&nodes)
    }

    fn object(v: Value) -> Object {
        let Value::Object(data) = v else {
            panic!("not an object")
        };
        Object {
            data,
            origin: "deploy/app.yaml".into(),
        }
    }

    fn deployment(replicas: &str) -> Object {
        object(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"cluster": "${cluster}"}},
            "spec": {"replicas": replicas}
        }))
    }

    #[test]
    fn braced_references_are_replaced_and_bare_ones_are_not() {
        let v = vars(&[("name", "world"), ("n", "3")]);
        assert_eq!(expand("hello ${name}!", &v).as_deref(), Ok("hello world!"));
        assert_eq!(expand("$name and $n", &v).as_deref(), Ok("$name and $n"));
        assert_eq!(expand("${name}${n}", &v).as_deref(), Ok("world3"));
        assert_eq!(expand("cost: 5$", &v).as_deref(), Ok("cost: 5$"));
    }

    #[test]
    fn double_dollar_escapes_a_reference() {
        let v = vars(&[("var01", "abc")]);
        assert_eq!(expand("$${var01}", &v).as_deref(), Ok("${var01}"));
        assert_eq!(
            expand("some ${var01}$${var$${var01}$var01${var01}", &v).as_deref(),
            Ok("some abc${var${var01}$var01abc")
        );
        assert_eq!(expand("echo $$", &v).as_deref(), Ok("echo $"));
    }

    #[test]
    fn defaults_apply_to_undefined_and_with_a_colon_to_empty_variables() {
        let v = vars(&[("empty", ""), ("set", "x"), ("d", "foo")]);
        assert_eq!(expand("${nope:=2}", &v).as_deref(), Ok("2"));
        assert_eq!(expand("${nope:-2}", &v).as_deref(), Ok("2"));
        assert_eq!(expand("${nope=2}", &v).as_deref(), Ok("2"));
        assert_eq!(expand("${nope-2}", &v).as_deref(), Ok("2"));
        assert_eq!(expand("${empty:=2}", &v).as_deref(), Ok("2"));
        assert_eq!(expand("${empty=2}", &v).as_deref(), Ok(""));
        assert_eq!(expand("${set:=2}", &v).as_deref(), Ok("x"));
        assert_eq!(
            expand("${nope=prefix${d}-suffix}", &v).as_deref(),
            Ok("prefixfoo-suffix")
        );
        assert_eq!(expand("${nope:=}", &v).as_deref(), Ok(""));
        assert_eq!(expand("${nope:=a b: c}", &v).as_deref(), Ok("a b: c"));
    }

    #[test]
    fn bash_string_functions_work_as_in_flux() {
        let v = vars(&[
            ("s", "abcdEFGH28ij"),
            ("p", "/home/bozo/ideas/thoughts.for.today"),
            ("z", "abcABC123ABCabc"),
            ("f", "bash.string.txt"),
            ("u", "ABC"),
            ("path", "foo/bar/baz"),
        ]);
        let cases = [
            ("${#s}", "12"),
            ("${s^}", "AbcdEFGH28ij"),
            ("${s^^}", "ABCDEFGH28IJ"),
            ("${u,}", "aBC"),
            ("${u,,}", "abc"),
            ("${p:11}", "ideas/thoughts.for.today"),
            ("${p:11:5}", "ideas"),
            // A default, as in bash, not a negative offset: p is set.
            ("${p:-5}", "/home/bozo/ideas/thoughts.for.today"),
            ("${z/%abc/XYZ}", "abcABC123ABCXYZ"),
            ("${z/#abc/XYZ}", "XYZABC123ABCabc"),
            ("${z//abc/xyz}", "xyzABC123ABCxyz"),
            ("${z/abc/xyz}", "xyzABC123ABCabc"),
            ("${z/#/pre-}", "pre-abcABC123ABCabc"),
            ("${z/%/-post}", "abcABC123ABCabc-post"),
            ("${f#*.}", "string.txt"),
            ("${f##*.}", "txt"),
            ("${f%.*}", "bash.string"),
            ("${f%%.*}", "bash"),
            ("${path//\\//-}", "foo-bar-baz"),
            ("${path/\\//-}", "foo-bar/baz"),
            ("${f/./}", "bashstring.txt"),
            ("${f/s?r/S_R}", "bash.S_Ring.txt"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &v).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn malformed_and_unsupported_expressions_are_errors_that_say_what_to_write() {
        let v = vars(&[("a", "1")]);
        let err = expand("x ${a", &v).expect_err("unterminated");
        assert!(err.contains("unterminated") && err.contains("$${"), "{err}");
        let err = expand("${}", &v).expect_err("empty name");
        assert!(err.contains("variable name"), "{err}");
        let err = expand("${a:+x}", &v).expect_err("unsupported");
        assert!(err.contains("unsupported expression \"${a:+x}\""), "{err}");
        let err = expand("${a:x}", &v).expect_err("bad offset");
        assert!(err.contains("integers"), "{err}");
        let err = expand("${a.b}", &v).expect_err("dotted");
        assert!(err.contains("letters, digits and '_'"), "{err}");
        assert!(expand("${a:=${b}", &v).is_err());
    }

    #[test]
    fn a_whole_reference_becomes_the_yaml_type_of_its_value() {
        let v = vars(&[("cluster", "eu")]);
        let mut o = deployment("${replicas:=2}");
        substitute_object(&mut o, &v, Undefined::Empty).expect("substitutes");
        assert_eq!(o.data["spec"]["replicas"], json!(2));
        assert_eq!(o.data["metadata"]["labels"]["cluster"], json!("eu"));

        let cases = [
            ("3", json!(3)),
            ("-7", json!(-7)),
            ("0x1F", json!(31)),
            ("0755", json!(493)),
            ("1_000", json!(1000)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            ("true", json!(true)),
            ("off", json!(false)),
            ("Yes", json!(true)),
            ("~", Value::Null),
            ("", Value::Null),
            ("3a", json!("3a")),
            ("1.2.3", json!("1.2.3")),
            ("[1, 2]", json!("[1, 2]")),
            ("a: b", json!("a: b")),
            (".inf", json!(".inf")),
        ];
        for (value, want) in cases {
            assert_eq!(yaml_scalar(value.to_owned()), want, "{value:?}");
        }
    }

    #[test]
    fn text_around_a_reference_keeps_the_value_a_string() {
        let v = vars(&[("n", "3"), ("cluster", "eu")]);
        let mut o = deployment("${n} ");
        substitute_object(&mut o, &v, Undefined::Empty).expect("substitutes");
        assert_eq!(o.data["spec"]["replicas"], json!("3 "));
        let mut o = deployment("${n}${n}");
        substitute_object(&mut o, &v, Undefined::Empty).expect("substitutes");
        assert_eq!(o.data["spec"]["replicas"], json!("33"));
    }

    #[test]
    fn string_only_fields_keep_numbers_as_strings() {
        let v = vars(&[("n", "3"), ("b", "true")]);
        let mut o = object(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "c",
                "labels": {"n": "${n}"},
                "annotations": {"b": "${b}"}
            },
            "data": {"n": "${n}"}
        }));
        substitute_object(&mut o, &v, Undefined::Empty).expect("substitutes");
        assert_eq!(o.data["metadata"]["labels"]["n"], json!("3"));
        assert_eq!(o.data["metadata"]["annotations"]["b"], json!("true"));
        assert_eq!(o.data["data"]["n"], json!("3"));

        let mut d = object(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": "${n}",
                "template": {
                    "metadata": {"labels": {"n": "${n}"}},
                    "spec": {"containers": [{
                        "name": "app",
                        "args": ["${n}"],
                        "command": ["${b}"],
                        "env": [{"name": "N", "value": "${n}"}],
                        "ports": [{"containerPort": "${n}"}]
                    }]}
                }
            }
        }));
        substitute_object(&mut d, &v, Undefined::Empty).expect("substitutes");
        let spec = &d.data["spec"];
        assert_eq!(spec["replicas"], json!(3));
        assert_eq!(spec["template"]["metadata"]["labels"]["n"], json!("3"));
        let c = &spec["template"]["spec"]["containers"][0];
        assert_eq!(c["args"][0], json!("3"));
        assert_eq!(c["command"][0], json!("true"));
        assert_eq!(c["env"][0]["value"], json!("3"));
        assert_eq!(c["ports"][0]["containerPort"], json!(3));
    }

    #[test]
    fn map_keys_are_substituted_too() {
        let v = vars(&[("k", "region")]);
        let mut o = object(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {"${k}": "x"}
        }));
        substitute_object(&mut o, &v, Undefined::Empty).expect("substitutes");
        assert_eq!(o.data["data"], json!({"region": "x"}));
    }

    #[test]
    fn undefined_variables_become_empty_unless_strict() {
        let v = vars(&[]);
        let mut o = deployment("${replicas:=2}");
        substitute_object(&mut o, &v, Undefined::Empty).expect("substitutes");
        assert_eq!(o.data["metadata"]["labels"]["cluster"], json!(""));

        let mut o = deployment("${replicas}");
        let before = o.clone();
        let err = substitute_object(&mut o, &v, Undefined::Error).expect_err("strict");
        assert_eq!(o, before, "a failed object is left unchanged");
        let msg = err.to_string();
        assert!(
            msg.starts_with("deploy/app.yaml: Deployment/shop/web: "),
            "{msg}"
        );
        assert!(
            msg.contains("\"cluster\" (at metadata.labels.cluster)"),
            "{msg}"
        );
        assert!(msg.contains("\"replicas\" (at spec.replicas)"), "{msg}");
        assert!(msg.contains("postBuild.strict"), "{msg}");
    }

    #[test]
    fn strict_mode_accepts_defaults_and_errors_on_functions_of_undefined_variables() {
        let v = vars(&[("cluster", "eu")]);
        let mut o = deployment("${replicas:-2}");
        substitute_object(&mut o, &v, Undefined::Error).expect("default is fine");
        let mut o = deployment("${replicas^^}");
        let err = substitute_object(&mut o, &v, Undefined::Error).expect_err("strict");
        assert!(err.message.contains("\"replicas\""), "{err}");
    }

    #[test]
    fn keep_mode_leaves_undefined_references_as_written() {
        let v = vars(&[("a", "1")]);
        let mut o = deployment("${replicas}");
        substitute_object(&mut o, &v, Undefined::Keep).expect("keeps");
        assert_eq!(o.data["spec"]["replicas"], json!("${replicas}"));
        assert_eq!(o.data["metadata"]["labels"]["cluster"], json!("${cluster}"));
        let mut o = deployment("${replicas:=4}");
        substitute_object(&mut o, &v, Undefined::Keep).expect("keeps");
        assert_eq!(o.data["spec"]["replicas"], json!(4));
    }

    #[test]
    fn objects_with_substitution_disabled_are_left_alone() {
        let v = vars(&[("x", "1")]);
        for (field, key, value) in [
            ("annotations", FLUX_SUBSTITUTE_ANNOTATION, "disabled"),
            ("labels", FLUX_SUBSTITUTE_ANNOTATION, "disabled"),
            ("annotations", SUBSTITUTE_ANNOTATION, "Disabled"),
        ] {
            let mut o = object(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", field: {key: value}},
                "data": {"script": "${x} ${"}
            }));
            let before = o.clone();
            let objects =
                substitute_objects(vec![o.clone()], &v, Undefined::Error).expect("skipped");
            assert_eq!(objects[0], before, "{field} {key}");
            substitute_object(&mut o, &v, Undefined::Error).expect("skipped");
        }
    }

    #[test]
    fn every_failing_object_is_reported() {
        let v = vars(&[("cluster", "eu")]);
        let objects = vec![deployment("${a}"), deployment("1"), deployment("${b}")];
        let errors = substitute_objects(objects, &v, Undefined::Error).expect_err("two fail");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].message.contains("\"a\""), "{errors:?}");
        assert!(errors[1].message.contains("\"b\""), "{errors:?}");
        assert_eq!(errors[1].object, "Deployment/shop/web");
    }

    #[test]
    fn an_object_that_loses_its_name_is_an_error() {
        let v = vars(&[]);
        let mut o = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${name}"}
        }));
        let err = substitute_object(&mut o, &v, Undefined::Empty).expect_err("no name");
        assert!(err.message.contains("metadata.name is empty"), "{err}");
    }

    #[test]
    fn inline_variables_override_sources_and_later_sources_override_earlier_ones() {
        let mut v = Variables::new();
        let data = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        v.add_source(
            "ConfigMap/a/one",
            data(&[("x", "1"), ("y", "1"), ("z", "1")]),
        )
        .expect("valid");
        v.add_source("Secret/a/two", data(&[("y", "2"), ("z", "2\nline")]))
            .expect("valid");
        v.add_inline(&[("z".to_owned(), "3".to_owned())].into_iter().collect());
        assert_eq!(v.get("x"), Some("1"));
        assert_eq!(v.get("y"), Some("2"));
        assert_eq!(v.get("z"), Some("3"));
        v.add_source("Secret/a/three", data(&[("w", "multi\nline\n")]))
            .expect("valid");
        assert_eq!(v.get("w"), Some("multiline"), "newlines are dropped");
        let err = v
            .add_source("ConfigMap/a/bad", data(&[("my.key", "1")]))
            .expect_err("bad key");
        assert!(err.contains("ConfigMap/a/bad: key \"my.key\""), "{err}");
    }
}
