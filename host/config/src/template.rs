//! Message templates of `[[alert]]`s: a small, safe language over an
//! event's fields. Parsed when the config is loaded, so a typo is a config
//! error naming the alert, line and column; rendering cannot fail.
//!
//! ```text
//! {{ field }}                    the field's value ("" when it has none)
//! {{ field | filter | … }}       upper, lower, short, trunc N, default "text", json
//! {{ "literal" }}                a string ({{ "{{" }} writes two braces)
//! {{#if field}}…{{else}}…{{/if}} non-empty test; also field == "x", field != "x"
//! {{- … -}}                      trims the whitespace before / after the tag
//! ```
//!
//! Fields: `severity`, `reason`, `message`, `revision`, `kind`, `name`,
//! `namespace`, `apiVersion`, `cluster`, `timestamp`, `alert`, `provider`,
//! and `metadata.KEY`.

use std::fmt;

/// The fields a template may name (besides `metadata.KEY`).
pub const FIELDS: [&str; 12] = [
    "severity",
    "reason",
    "message",
    "revision",
    "kind",
    "name",
    "namespace",
    "apiVersion",
    "cluster",
    "timestamp",
    "alert",
    "provider",
];

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// What a template says is wrong with it, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line in the template.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "template line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

/// A value a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// One of [`FIELDS`].
    Named(&'static str),
    /// `metadata.KEY`.
    Metadata(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Named(n) => f.write_str(n),
            Field::Metadata(k) => write!(f, "metadata.{k}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Field(Field),
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Upper,
    Lower,
    Short,
    Trunc(usize),
    Default(String),
    Json,
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    NonEmpty(Value),
    Eq(Value, Value),
    Ne(Value, Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr(Value, Vec<Filter>),
    If(Cond, Vec<Node>, Vec<Node>),
}

/// An `#if` being parsed: its condition, the nodes before it, the `then`
/// branch once `else` is seen, and where it started.
type Open = (Cond, Vec<Node>, Option<Vec<Node>>, usize);

/// One `{{ … }}` tag as scanned.
struct Tag {
    body: String,
    /// Where the body starts, for messages.
    at: usize,
}

enum Piece {
    Text(String),
    Tag(Tag),
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// A [`TemplateError`] with the position of the first problem.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let pieces = scan(text)?;
        let mut stack: Vec<Open> = Vec::new();
        let mut out: Vec<Node> = Vec::new();
        let err = |at: usize, message: String| {
            let (line, column) = position(text, at);
            TemplateError {
                line,
                column,
                message,
            }
        };
        for piece in pieces {
            let tag = match piece {
                Piece::Text(t) => {
                    if !t.is_empty() {
                        out.push(Node::Text(t));
                    }
                    continue;
                }
                Piece::Tag(tag) => tag,
            };
            let body = tag.body.trim();
            if let Some(rest) = body.strip_prefix("#if") {
                if !rest.starts_with(char::is_whitespace) {
                    return Err(err(tag.at, format!("`{body}`: write `#if FIELD`")));
                }
                let cond = parse_cond(rest.trim()).map_err(|m| err(tag.at, m))?;
                stack.push((cond, std::mem::take(&mut out), None, tag.at));
            } else if body == "else" {
                match stack.last_mut() {
                    Some((_, _, els @ None, _)) => *els = Some(std::mem::take(&mut out)),
                    Some(_) => return Err(err(tag.at, "a second `else` in one `#if`".into())),
                    None => return Err(err(tag.at, "`else` outside `#if`".into())),
                }
            } else if body == "/if" {
                let Some((cond, outer, els, _)) = stack.pop() else {
                    return Err(err(tag.at, "`/if` without `#if`".into()));
                };
                let body_nodes = std::mem::replace(&mut out, outer);
                let (then, otherwise) = match els {
                    Some(then) => (then, body_nodes),
                    None => (body_nodes, Vec::new()),
                };
                out.push(Node::If(cond, then, otherwise));
            } else if body.starts_with('#') || body.starts_with('/') {
                return Err(err(
                    tag.at,
                    format!("unknown block `{body}` (blocks: #if, else, /if)"),
                ));
            } else {
                let (value, filters) = parse_expr(body).map_err(|m| err(tag.at, m))?;
                out.push(Node::Expr(value, filters));
            }
        }
        if let Some((_, _, _, at)) = stack.last() {
            return Err(err(*at, "`#if` is not closed with `{{/if}}`".into()));
        }
        Ok(Template { nodes: out })
    }

    /// Renders the template; `get` gives a field's value (`None` reads as
    /// empty).
    pub fn render(&self, get: &dyn Fn(&Field) -> Option<String>) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, get, &mut out);
        out
    }

    /// Every field the template reads.
    pub fn fields(&self) -> Vec<Field> {
        fn walk(nodes: &[Node], out: &mut Vec<Field>) {
            let value = |v: &Value, out: &mut Vec<Field>| {
                if let Value::Field(f) = v
                    && !out.contains(f)
                {
                    out.push(f.clone());
                }
            };
            for n in nodes {
                match n {
                    Node::Text(_) => {}
                    Node::Expr(v, _) => value(v, out),
                    Node::If(c, a, b) => {
                        match c {
                            Cond::NonEmpty(v) => value(v, out),
                            Cond::Eq(x, y) | Cond::Ne(x, y) => {
                                value(x, out);
                                value(y, out);
                            }
                        }
                        walk(a, out);
                        walk(b, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }
}

fn render_nodes(nodes: &[Node], get: &dyn Fn(&Field) -> Option<String>, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(v, filters) => {
                let mut s = value_of(v, get);
                for f in filters {
                    s = apply(f, s);
                }
                out.push_str(&s);
            }
            Node::If(c, then, otherwise) => {
                let yes = match c {
                    Cond::NonEmpty(v) => !value_of(v, get).is_empty(),
                    Cond::Eq(a, b) => value_of(a, get) == value_of(b, get),
                    Cond::Ne(a, b) => value_of(a, get) != value_of(b, get),
                };
                render_nodes(if yes { then } else { otherwise }, get, out);
            }
        }
    }
}

fn value_of(v: &Value, get: &dyn Fn(&Field) -> Option<String>) -> String {
    match v {
        Value::Literal(s) => s.clone(),
        Value::Field(f) => get(f).unwrap_or_default(),
    }
}

fn apply(f: &Filter, s: String) -> String {
    match f {
        Filter::Upper => s.to_uppercase(),
        Filter::Lower => s.to_lowercase(),
        Filter::Short => short_revision(&s),
        Filter::Trunc(n) => {
            if s.chars().count() <= *n {
                s
            } else {
                let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
                t.push('…');
                t
            }
        }
        Filter::Default(d) => {
            if s.is_empty() {
                d.clone()
            } else {
                s
            }
        }
        Filter::Json => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

/// `main@sha1:0123456789abcdef…` → `main@0123456`; a bare `sha1:…` or
/// `sha256:…` digest → its first 7 hex digits; anything else as it is.
pub fn short_revision(s: &str) -> String {
    let (head, digest) = match s.rsplit_once('@') {
        Some((h, d)) => (Some(h), d),
        None => (None, s),
    };
    let hex = digest
        .strip_prefix("sha1:")
        .or_else(|| digest.strip_prefix("sha256:"));
    match hex {
        Some(hex) if hex.len() > 7 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => match head {
            Some(h) => format!("{h}@{}", &hex[..7]),
            None => hex[..7].to_owned(),
        },
        _ => s.to_owned(),
    }
}

/// Splits `text` into text and tags, handling `{{-`/`-}}` trimming and
/// string literals (which may contain `}}`).
fn scan(text: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest_at = 0;
    let mut trim_next = false;
    while let Some(off) = text[rest_at..].find("{{") {
        let open = rest_at + off;
        let mut before = text[rest_at..open].to_owned();
        if trim_next {
            before = before.trim_start().to_owned();
        }
        let mut body_at = open + 2;
        if text[body_at..].starts_with('-') {
            before = before.trim_end().to_owned();
            body_at += 1;
        }
        pieces.push(Piece::Text(before));
        // The end: the first `}}` outside a string literal.
        let mut in_str = false;
        let mut escaped = false;
        let mut close = None;
        let bytes = text.as_bytes();
        let mut i = body_at;
        while i < bytes.len() {
            let b = bytes[i];
            if in_str {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_str = false;
                }
            } else if b == b'"' {
                in_str = true;
            } else if b == b'}' && bytes.get(i + 1) == Some(&b'}') {
                close = Some(i);
                break;
            }
            i += 1;
        }
        let Some(close) = close else {
            let (line, column) = position(text, open);
            return Err(TemplateError {
                line,
                column,
                message: "`{{` is not closed with `}}`".into(),
            });
        };
        let mut body_end = close;
        trim_next = false;
        if body_end > body_at && text[..body_end].ends_with('-') {
            body_end -= 1;
            trim_next = true;
        }
        pieces.push(Piece::Tag(Tag {
            body: text[body_at..body_end].to_owned(),
            at: body_at,
        }));
        rest_at = close + 2;
    }
    let mut tail = text[rest_at..].to_owned();
    if trim_next {
        tail = tail.trim_start().to_owned();
    }
    pieces.push(Piece::Text(tail));
    Ok(pieces)
}

fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_cond(s: &str) -> Result<Cond, String> {
    for (op, make) in [
        ("==", Cond::Eq as fn(Value, Value) -> Cond),
        ("!=", Cond::Ne),
    ] {
        if let Some((a, b)) = split_outside_strings(s, op) {
            return Ok(make(parse_value(a.trim())?, parse_value(b.trim())?));
        }
    }
    Ok(Cond::NonEmpty(parse_value(s)?))
}

fn parse_expr(s: &str) -> Result<(Value, Vec<Filter>), String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some((a, b)) = split_outside_strings(rest, "|") {
        parts.push(a);
        rest = b;
    }
    parts.push(rest);
    let mut parts = parts.into_iter();
    let value = parse_value(parts.next().unwrap_or("").trim())?;
    let filters = parts
        .map(|p| parse_filter(p.trim()))
        .collect::<Result<_, _>>()?;
    Ok((value, filters))
}

/// `s` split at the first `sep` that is not inside a string literal.
fn split_outside_strings<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if s[i..].starts_with(sep) {
            return Some((&s[..i], &s[i + sep.len()..]));
        }
    }
    None
}

fn parse_value(s: &str) -> Result<Value, String> {
    if s.starts_with('"') {
        return parse_literal(s).map(Value::Literal);
    }
    if s.is_empty() {
        return Err("empty expression: name a field".into());
    }
    if let Some(key) = s.strip_prefix("metadata.") {
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("`{s}`: write metadata.KEY"));
        }
        return Ok(Value::Field(Field::Metadata(key.to_owned())));
    }
    match FIELDS.iter().find(|f| **f == s) {
        Some(f) => Ok(Value::Field(Field::Named(f))),
        None => Err(format!(
            "unknown field `{s}` (fields: {}, metadata.KEY)",
            FIELDS.join(", ")
        )),
    }
}

fn parse_literal(s: &str) -> Result<String, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| s.len() >= 2)
        .ok_or_else(|| format!("`{s}`: a string must be one \"…\" literal"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    return Err(format!(
                        "`{s}`: unknown escape \\{o} (use \\n \\t \\\" \\\\)"
                    ));
                }
                None => return Err(format!("`{s}`: a string ends with \\")),
            },
            '"' => return Err(format!("`{s}`: a string must be one \"…\" literal")),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn parse_filter(s: &str) -> Result<Filter, String> {
    let (name, arg) = match s.split_once(char::is_whitespace) {
        Some((n, a)) => (n, Some(a.trim())),
        None => (s, None),
    };
    let no_arg = |f: Filter| match arg {
        None => Ok(f),
        Some(_) => Err(format!("filter `{name}` takes no argument")),
    };
    match name {
        "upper" => no_arg(Filter::Upper),
        "lower" => no_arg(Filter::Lower),
        "short" => no_arg(Filter::Short),
        "json" => no_arg(Filter::Json),
        "trunc" => match arg.map(str::parse::<usize>) {
            Some(Ok(n)) if n > 0 => Ok(Filter::Trunc(n)),
            _ => Err("filter `trunc` needs a positive length, e.g. `trunc 80`".into()),
        },
        "default" => match arg {
            Some(a) => parse_literal(a).map(Filter::Default),
            None => Err("filter `default` needs a string, e.g. `default \"none\"`".into()),
        },
        "" => Err("empty filter after `|`".into()),
        other => Err(format!(
            "unknown filter `{other}` (filters: upper, lower, short, trunc N, default \"…\", json)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(f: &Field) -> Option<String> {
        match f {
            Field::Named("severity") => Some("error".into()),
            Field::Named("reason") => Some("HealthCheckFailed".into()),
            Field::Named("name") => Some("apps".into()),
            Field::Named("kind") => Some("Sync".into()),
            Field::Named("message") => Some("Deployment/web: \"not\" ready\nyet".into()),
            Field::Named("revision") => Some(format!("main@sha1:{}", "ab12cd34".repeat(5))),
            Field::Named("cluster") => Some("prod-eu".into()),
            Field::Metadata(k) if k == "env" => Some("prod".into()),
            _ => None,
        }
    }

    fn render(t: &str) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("{t:?}: {e}"))
            .render(&fields)
    }

    #[test]
    fn fields_filters_and_literals_render() {
        assert_eq!(
            render("[{{cluster}}] {{ kind }}/{{name}} {{reason|upper}} at {{ revision | short }}"),
            "[prod-eu] Sync/apps HEALTHCHECKFAILED at main@ab12cd3"
        );
        assert_eq!(render("{{ metadata.env }}{{metadata.none}}"), "prod");
        assert_eq!(render("{{ namespace | default \"-\" }}"), "-");
        assert_eq!(render("{{ \"{{\" }}x{{ \"}}\" }}"), "{{x}}");
        assert_eq!(render("{{ reason | lower | trunc 6 }}"), "healt…");
        assert_eq!(render("{{ name | trunc 6 }}"), "apps");
        assert_eq!(
            render("{\"text\": {{ message | json }}}"),
            r#"{"text": "Deployment/web: \"not\" ready\nyet"}"#
        );
    }

    #[test]
    fn conditions_choose_a_branch() {
        let t = "{{#if severity == \"error\"}}:red_circle:{{else}}:white_check_mark:{{/if}} {{#if namespace}}ns{{/if}}{{#if metadata.env != \"dev\"}}!{{/if}}";
        assert_eq!(render(t), ":red_circle: !");
        assert_eq!(
            render("{{#if revision}}a{{#if namespace}}b{{else}}c{{/if}}{{/if}}"),
            "ac"
        );
    }

    #[test]
    fn dashes_trim_the_whitespace_beside_a_tag() {
        assert_eq!(render("a  {{- name -}}  \n b"), "aappsb");
        assert_eq!(render("{{#if name -}}\n  yes\n{{- /if}}"), "yes");
    }

    #[test]
    fn mistakes_name_their_position_and_the_choices() {
        let e = Template::parse("ok\n  {{ nmae }}").expect_err("unknown field");
        assert_eq!((e.line, e.column), (2, 5));
        assert!(e.message.contains("unknown field `nmae`"), "{e}");
        assert!(e.message.contains("revision"), "{e}");
        let e = Template::parse("{{ name | shout }}").expect_err("filter");
        assert!(e.message.contains("unknown filter `shout`"), "{e}");
        let e = Template::parse("{{#if name}}x").expect_err("unclosed");
        assert!(e.message.contains("not closed"), "{e}");
        assert_eq!((e.line, e.column), (1, 3));
        assert!(Template::parse("{{/if}}").is_err());
        assert!(Template::parse("{{else}}").is_err());
        assert!(Template::parse("{{#if a}}{{else}}{{else}}{{/if}}").is_err());
        assert!(Template::parse("{{ name").is_err());
        assert!(Template::parse("{{ \"open }}").is_err());
        assert!(Template::parse("{{ name | trunc x }}").is_err());
        assert!(Template::parse("{{#each x}}{{/each}}").is_err());
        assert!(Template::parse("{{ }}").is_err());
    }

    #[test]
    fn short_revisions_keep_the_ref_and_seven_digits() {
        assert_eq!(short_revision("v1.2@sha1:0123456789abcdef"), "v1.2@0123456");
        assert_eq!(short_revision("sha256:0123456789abcdef"), "0123456");
        assert_eq!(short_revision("main"), "main");
        assert_eq!(short_revision("x@sha1:zz"), "x@sha1:zz");
    }

    #[test]
    fn fields_lists_what_a_template_reads() {
        let t = Template::parse("{{#if revision}}{{name}}{{/if}}{{metadata.a}}{{name}}")
            .expect("parses");
        assert_eq!(
            t.fields(),
            vec![
                Field::Named("revision"),
                Field::Named("name"),
                Field::Metadata("a".into())
            ]
        );
    }
}
