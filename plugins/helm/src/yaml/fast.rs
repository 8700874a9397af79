//! A fast reader for the YAML that charts and rendered manifests are made
//! of: block mappings and sequences, one-line flow collections, plain and
//! quoted one-line scalars, literal block scalars, comments.
//!
//! It answers `None` for anything it is not sure to read exactly as the
//! general parser (serde-saphyr with Helm's YAML 1.1 options) does —
//! anchors, tags, folded or multi-line scalars, YAML 1.1 booleans such as
//! `yes`, numbers other than plain decimal integers, duplicate keys,
//! malformed input — and the caller then uses the general parser. Errors
//! therefore always come from the general parser. The general parser reads
//! 5–15 MB/s natively, this one 35–70 MB/s (five to seven times faster on
//! bench/helm.sh's values files and rendered manifests), and YAML was half
//! of a chart render's time (values files and every rendered manifest are
//! parsed). The unit tests below compare the two on every case they list
//! and on the corpus's YAML files.

use serde_json::{Map as JMap, Number, Value as J};

/// The deepest nesting read here (deeper documents go to the general
/// parser, which has its own limits).
const MAX_DEPTH: usize = 64;

/// Reads `text` (one document) when it is in the subset; `None` otherwise.
pub fn parse(text: &str) -> Option<J> {
    // Tabs, carriage returns and byte order marks (0xEF starts its UTF-8
    // form, and a few rarer characters') go to the general parser.
    if text.bytes().any(|b| matches!(b, b'\t' | b'\r' | 0xEF)) {
        return None;
    }
    let mut lines = Vec::new();
    for raw in text.split('\n') {
        if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with('%') {
            return None;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        lines.push(Line {
            indent,
            text: &raw[indent..],
            raw,
        });
    }
    let mut p = Parser {
        lines,
        i: 0,
        depth: 0,
    };
    p.skip();
    if p.i >= p.lines.len() {
        return None;
    }
    let v = p.node()?;
    p.skip();
    (p.i >= p.lines.len()).then_some(v)
}

#[derive(Clone, Copy)]
struct Line<'a> {
    /// Leading spaces.
    indent: usize,
    /// The line after them.
    text: &'a str,
    /// The whole line (for block scalars).
    raw: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    i: usize,
    depth: usize,
}

fn is_seq_item(t: &str) -> bool {
    t == "-" || t.starts_with("- ")
}

fn is_blank_or_comment(t: &str) -> bool {
    let t = t.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// Whether the rest of a line after a value is empty or a comment.
fn only_comment(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

impl<'a> Parser<'a> {
    /// Moves past blank and comment lines.
    fn skip(&mut self) {
        while self.i < self.lines.len() && is_blank_or_comment(self.lines[self.i].text) {
            self.i += 1;
        }
    }

    /// The node starting at the current (meaningful) line.
    fn node(&mut self) -> Option<J> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let l = self.lines[self.i];
        let v = if is_seq_item(l.text) {
            self.seq(l.indent)
        } else if split_key(l.text)?.is_some() {
            self.map(l.indent)
        } else {
            self.i += 1;
            self.inline_then(l.text, l.indent.checked_sub(1))
        };
        self.depth -= 1;
        v
    }

    /// A block mapping whose keys are at column `n`.
    fn map(&mut self, n: usize) -> Option<J> {
        let mut m = JMap::new();
        loop {
            self.skip();
            let Some(&l) = self.lines.get(self.i) else {
                break;
            };
            if l.indent < n {
                break;
            }
            if l.indent > n || is_seq_item(l.text) {
                return None;
            }
            let (key, rest) = split_key(l.text)??;
            if m.contains_key(&key) {
                return None;
            }
            self.i += 1;
            let v = self.value_after(rest, n, true)?;
            m.insert(key, v);
        }
        Some(J::Object(m))
    }

    /// A block sequence whose dashes are at column `n`.
    fn seq(&mut self, n: usize) -> Option<J> {
        let mut items = Vec::new();
        loop {
            self.skip();
            let Some(&l) = self.lines.get(self.i) else {
                break;
            };
            if l.indent < n || (l.indent == n && !is_seq_item(l.text)) {
                break;
            }
            if l.indent > n {
                return None;
            }
            let after = &l.text[1..];
            let spaces = after.len() - after.trim_start_matches(' ').len();
            let content = &after[spaces..];
            let v = if content.is_empty() || content.starts_with('#') {
                self.i += 1;
                self.value_after("", n, false)?
            } else if is_seq_item(content) {
                return None;
            } else if !content.starts_with(['{', '[']) && split_key(content)?.is_some() {
                // `- key: value`: a mapping whose keys are at the
                // content's column.
                let col = n + 1 + spaces;
                self.lines[self.i] = Line {
                    indent: col,
                    text: content,
                    raw: l.raw,
                };
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                let v = self.map(col)?;
                self.depth -= 1;
                v
            } else {
                self.i += 1;
                self.value_after(content, n, false)?
            };
            items.push(v);
        }
        Some(J::Array(items))
    }

    /// The value of a key (or sequence item) whose line is at column `n`,
    /// given the rest of its line; the current line is the next one.
    fn value_after(&mut self, rest: &str, n: usize, in_map: bool) -> Option<J> {
        let r = rest.trim_start_matches(' ');
        if r.is_empty() || (r.starts_with('#') && r.len() < rest.len()) {
            self.skip();
            if let Some(&l) = self.lines.get(self.i) {
                if l.indent > n {
                    return self.node();
                }
                // `key:` then `- item` at the key's own column.
                if in_map && l.indent == n && is_seq_item(l.text) {
                    self.depth += 1;
                    let v = self.seq(n);
                    self.depth -= 1;
                    return v;
                }
            }
            return Some(J::Null);
        }
        if let Some(header) = r.strip_prefix('|') {
            return self.literal(header, n);
        }
        self.inline_then(r, Some(n))
    }

    /// An inline value, then a check that no line continues it (a line
    /// indented past `n`, the column of the line holding it).
    fn inline_then(&mut self, r: &str, n: Option<usize>) -> Option<J> {
        let v = inline_value(r, self.depth)?;
        self.skip();
        if let Some(l) = self.lines.get(self.i) {
            match n {
                Some(n) if l.indent <= n => {}
                _ => return None,
            }
        }
        Some(v)
    }

    /// A literal block scalar (`|` or `|-`; the text after `|` is
    /// `header`) belonging to a line at column `n`.
    fn literal(&mut self, header: &str, n: usize) -> Option<J> {
        let strip = match header.as_bytes().first() {
            Some(b'-') => true,
            None | Some(b' ') => false,
            // `|+` and indentation indicators go to the general parser.
            _ => return None,
        };
        let after = if strip { &header[1..] } else { header };
        if !only_comment(after) {
            return None;
        }
        // The content's indentation is the first non-blank line's.
        let first = self.lines[self.i..]
            .iter()
            .find(|l| !l.raw.trim_start_matches(' ').is_empty())?;
        let ci = first.indent;
        if ci <= n {
            return None;
        }
        let mut body: Vec<&str> = Vec::new();
        while let Some(l) = self.lines.get(self.i) {
            if l.text.is_empty() {
                if l.raw.len() > ci {
                    return None;
                }
                body.push("");
            } else if l.indent >= ci {
                body.push(&l.raw[ci..]);
            } else {
                break;
            }
            self.i += 1;
        }
        while body.last() == Some(&"") {
            body.pop();
        }
        let mut s = body.join("\n");
        if !strip && !s.is_empty() {
            s.push('\n');
        }
        // What follows must belong to an outer level.
        self.skip();
        if self.lines.get(self.i).is_some_and(|l| l.indent > n) {
            return None;
        }
        Some(J::String(s))
    }
}

/// Splits a block mapping line into its key and the text after `:`:
/// `Some(None)` when the line is not a key line, `None` when it is one
/// this reader leaves to the general parser.
#[allow(clippy::option_option)]
fn split_key(t: &str) -> Option<Option<(String, &str)>> {
    if let Some(q) = t.strip_prefix('"') {
        let (k, used) = double_quoted(q)?;
        let rest = &q[used..];
        return Some(key_rest(rest).map(|r| (k, r)));
    }
    if let Some(q) = t.strip_prefix('\'') {
        let (k, used) = single_quoted(q)?;
        let rest = &q[used..];
        return Some(key_rest(rest).map(|r| (k, r)));
    }
    if t.starts_with(['[', '{']) {
        return Some(None);
    }
    let b = t.as_bytes();
    let mut p = None;
    for (i, c) in b.iter().enumerate() {
        if *c == b':' && (i + 1 == b.len() || b[i + 1] == b' ') {
            p = Some(i);
            break;
        }
        if *c == b'#' && i > 0 && b[i - 1] == b' ' {
            // A comment before any `: `.
            return Some(None);
        }
    }
    let Some(p) = p else {
        return Some(None);
    };
    let key = t[..p].trim_end_matches(' ');
    if key.contains(" #") {
        return None;
    }
    Some(Some((plain_key(key)?, &t[p + 1..])))
}

/// A plain mapping key as the general parser gives it: the text as
/// written (keys are strings), YAML 1.1 booleans spelled as Go prints them
/// (`yaml::yaml11_keys`).
fn plain_key(key: &str) -> Option<String> {
    if key.is_empty() || key == "<<" || starts_with_indicator(key) {
        return None;
    }
    Some(super::yaml11_key(key).unwrap_or(key).to_string())
}

/// After a quoted key: `:` then a space or the end; otherwise not a key.
fn key_rest(rest: &str) -> Option<&str> {
    let r = rest.strip_prefix(':')?;
    (r.is_empty() || r.starts_with(' ')).then_some(r)
}

/// Whether a plain scalar cannot start so (`-`, `?` and `:` can, when
/// not followed by a space).
fn starts_with_indicator(s: &str) -> bool {
    match s.as_bytes() {
        [b'-' | b'?' | b':'] | [b'-' | b'?' | b':', b' ', ..] => true,
        [b'-' | b'?' | b':', ..] => false,
        _ => s.starts_with([
            ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
        ]),
    }
}

/// A value written on one line: quoted, flow or plain.
fn inline_value(r: &str, depth: usize) -> Option<J> {
    let (v, rest) = match r.as_bytes().first()? {
        b'"' => {
            let (s, used) = double_quoted(&r[1..])?;
            (J::String(s), &r[1 + used..])
        }
        b'\'' => {
            let (s, used) = single_quoted(&r[1..])?;
            (J::String(s), &r[1 + used..])
        }
        b'[' | b'{' => {
            let mut f = Flow {
                s: r.as_bytes(),
                src: r,
                pos: 0,
                depth,
            };
            let v = f.node()?;
            (v, &r[f.pos..])
        }
        _ => {
            let end = r.find(" #").unwrap_or(r.len());
            let s = r[..end].trim_end_matches(' ');
            if s.contains(": ") || s.ends_with(':') || starts_with_indicator(s) {
                return None;
            }
            return resolve_plain(s);
        }
    };
    only_comment(rest).then_some(v)
}

/// A double-quoted scalar closed on this line (`s` starts after the
/// opening quote): the string and the bytes used, closing quote included.
fn double_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'u' => {
                        let mut code = 0u32;
                        for _ in 0..4 {
                            code = code * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// A single-quoted scalar closed on this line (`s` starts after the
/// opening quote).
fn single_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\'' {
            out.push_str(&s[start..i]);
            if b.get(i + 1) == Some(&b'\'') {
                out.push('\'');
                i += 2;
                start = i;
                continue;
            }
            return Some((out, i + 1));
        }
        i += 1;
    }
    None
}

/// A plain scalar's value: strings, `true`/`false`, `null`/`~` and plain
/// decimal integers; `None` for anything else YAML 1.1 might read as a
/// number, a boolean or a special float.
fn resolve_plain(s: &str) -> Option<J> {
    let first = *s.as_bytes().first()?;
    if s.eq_ignore_ascii_case("true") {
        return Some(J::Bool(true));
    }
    if s.eq_ignore_ascii_case("false") {
        return Some(J::Bool(false));
    }
    if s.eq_ignore_ascii_case("null") || s == "~" {
        return Some(J::Null);
    }
    // YAML 1.1 booleans: the spellings go-yaml v2 knows, as Helm reads
    // them (the unit tests check each against the general parser).
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(J::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(J::Bool(false)),
        _ => {}
    }
    const SPECIAL: &[&str] = &["yes", "no", "on", "off", "inf", "nan", "infinity"];
    if s.len() <= 8 && SPECIAL.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return None;
    }
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.is_empty()
            && digits.len() <= 18
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
            && !(s.starts_with('-') && digits == "0")
        {
            return s.parse::<i64>().ok().map(|i| J::Number(Number::from(i)));
        }
        // Versions: digits and two dots or more are no number.
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.matches('.').count() >= 2 {
            return Some(J::String(s.to_string()));
        }
        if maybe_number(s) {
            return None;
        }
    }
    Some(J::String(s.to_string()))
}

/// Whether `s` might be read as a number in some YAML schema (a superset:
/// sign, then hex/octal/binary prefixes, digits with `_`, `.` and `:`,
/// an exponent, or the special floats).
fn maybe_number(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if [".inf", ".nan", "inf", "nan", "infinity"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
    {
        return true;
    }
    let b = t.as_bytes();
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
        return true;
    }
    let end = b
        .iter()
        .position(|c| !(c.is_ascii_digit() || matches!(c, b'_' | b'.' | b':')))
        .unwrap_or(b.len());
    if end == 0 {
        return false;
    }
    match &b[end..] {
        [] => true,
        [b'e' | b'E', exp @ ..] => {
            let exp = exp
                .strip_prefix(b"+")
                .or(exp.strip_prefix(b"-"))
                .unwrap_or(exp);
            exp.iter().all(|c| c.is_ascii_digit() || *c == b'_')
        }
        _ => false,
    }
}

/// A one-line flow collection.
struct Flow<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Flow<'_> {
    fn spaces(&mut self) {
        while self.s.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn node(&mut self) -> Option<J> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.spaces();
        let v = match self.s.get(self.pos)? {
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.spaces();
                    if self.s.get(self.pos)? == &b']' {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.node()?);
                    self.spaces();
                    match self.s.get(self.pos)? {
                        b',' => self.pos += 1,
                        b']' => {}
                        _ => return None,
                    }
                }
                J::Array(items)
            }
            b'{' => {
                self.pos += 1;
                let mut m = JMap::new();
                loop {
                    self.spaces();
                    if self.s.get(self.pos)? == &b'}' {
                        self.pos += 1;
                        break;
                    }
                    let k = self.key()?;
                    self.spaces();
                    if self.s.get(self.pos)? != &b':' {
                        return None;
                    }
                    self.pos += 1;
                    self.spaces();
                    let v = match self.s.get(self.pos)? {
                        b',' | b'}' => J::Null,
                        _ => self.node()?,
                    };
                    if m.insert(k, v).is_some() {
                        return None;
                    }
                    self.spaces();
                    match self.s.get(self.pos)? {
                        b',' => self.pos += 1,
                        b'}' => {}
                        _ => return None,
                    }
                }
                J::Object(m)
            }
            _ => self.scalar()?,
        };
        self.depth -= 1;
        Some(v)
    }

    /// A key inside a flow mapping.
    fn key(&mut self) -> Option<String> {
        let rest = &self.src[self.pos..];
        if rest.starts_with(['"', '\'']) {
            return match self.scalar()? {
                J::String(s) => Some(s),
                _ => None,
            };
        }
        let end = rest.find([',', '[', ']', '{', '}', ':', '#'])?;
        // `a:b` is one plain scalar to YAML: left to the general parser.
        if rest.as_bytes()[end] != b':' || rest.as_bytes().get(end + 1) != Some(&b' ') {
            return None;
        }
        let k = plain_key(rest[..end].trim_end_matches(' '))?;
        self.pos += end;
        Some(k)
    }

    /// A quoted or plain scalar inside a flow collection.
    fn scalar(&mut self) -> Option<J> {
        let rest = &self.src[self.pos..];
        if let Some(q) = rest.strip_prefix('"') {
            let (s, used) = double_quoted(q)?;
            self.pos += 1 + used;
            return Some(J::String(s));
        }
        if let Some(q) = rest.strip_prefix('\'') {
            let (s, used) = single_quoted(q)?;
            self.pos += 1 + used;
            return Some(J::String(s));
        }
        let end = rest
            .find([',', '[', ']', '{', '}', ':', '#'])
            .unwrap_or(rest.len());
        let s = rest[..end].trim_end_matches(' ');
        // A `:` or `#` inside a plain flow scalar is left to the general
        // parser, as are indicators it starts with.
        if s.is_empty()
            || starts_with_indicator(s)
            || (end < rest.len() && rest.as_bytes()[end] == b'#')
            || (end < rest.len()
                && rest.as_bytes()[end] == b':'
                && !matches!(
                    rest.as_bytes().get(end + 1),
                    Some(b' ' | b',' | b'}') | None
                ))
        {
            return None;
        }
        self.pos += end;
        resolve_plain(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general parser, as `yaml::parse_json` calls it.
    fn general(text: &str) -> Option<J> {
        crate::yaml::parse_json_general(text).ok()
    }

    /// Wherever the fast reader answers, it answers as the general parser.
    fn agrees(text: &str) -> bool {
        match parse(text) {
            None => true,
            Some(v) => {
                assert_eq!(Some(&v), general(text).as_ref(), "{text:?}");
                true
            }
        }
    }

    #[test]
    fn reads_scalars_as_the_general_parser_does() {
        let handled = [
            "x",
            "x y",
            "80",
            "-1",
            "0",
            "true",
            "True",
            "FALSE",
            "tRue",
            "null",
            "Null",
            "~",
            "100m",
            "128Mi",
            "1.0.0",
            "0.1.0",
            "v1",
            "x:y",
            "http://a/b#c",
            "-web",
            "a-1",
            "'it''s'",
            "\"\\u00e9\\n\\t\\\"\\/\\\\\"",
            "\"a: b\"",
            "'x'  # c",
            "x # c",
            "\"\"",
            "''",
            "[]",
            "{}",
            "y",
            "Y",
            "yes",
            "Yes",
            "YES",
            "on",
            "On",
            "ON",
            "n",
            "N",
            "no",
            "No",
            "NO",
            "off",
            "Off",
            "OFF",
            "{x: y}",
            "1079ca2e3b",
            "1-2-x",
            "0.1.0",
            "1..2",
            "2001-01-01",
            "-x",
            "+x",
            "[1, b, \"c\", {x: 1}]",
            "{a: 1, b: [2, 3], c: {d: e}}",
            "[a,b]",
            "{a: }",
            "[a, ]",
            "{\"a\":1,\"b\":\"c\"}",
            "9223372036854775",
            "nginx:1.25",
        ];
        for s in handled {
            let text = format!("k: {s}");
            assert!(
                parse(&text).is_some(),
                "{text:?} left to the general parser"
            );
            assert!(agrees(&text));
        }
        let general_only = [
            "yEs",
            "oN",
            "007",
            "08",
            "-0",
            "+1",
            "1_000",
            "1e3",
            "0x1F",
            ".5",
            "1.",
            "1.0",
            "12:30",
            ".inf",
            "-.Inf",
            ".NaN",
            "inf",
            "Infinity",
            "18446744073709551616",
            "-9223372036854775809",
            "&a x",
            "*a",
            "!!str 1",
            "@x",
            "`x",
            "%x",
            "- x",
            "? x",
            "\"\\x41\"",
            "\"\\e\"",
            "\"open",
            "'open",
            ">\n  x",
            "|+\n  x\n",
            "|2\n   x",
            "[a: b]",
            "1e5",
            "1E-3",
            "0b1",
            "1:2",
            "{a:b}",
            "[a#b]",
        ];
        for s in general_only {
            let text = format!("k: {s}");
            assert!(parse(&text).is_none(), "{text:?} read by the fast reader");
        }
    }

    #[test]
    fn reads_documents_as_the_general_parser_does() {
        let docs = [
            "a: |\n  x\n  y",
            "a: |\n  x\n  y\n",
            "a: |-\n  x\n\n",
            "a: |\n  x\n\n  y\n\n\nb: 1",
            "a: |\n    x\n\n  ",
            "a: |\n\n  x\n",
            "a: |\n  # not a comment\n  x\n# a comment\nb: 2",
            "a:\n- 1\n- b: 2\n  c: 3\n-   d: 4\n    e: 5",
            "a:\n  - x\n  -\n  - z\n",
            "a:\n  -\n    b: 1\n",
            "a:\nb:\n  c:\n",
            "# c\na: 1 # c\n\n  # indented comment\nb:\n  # c\n  c: d\n",
            "\"k\": 1\n'j': 2",
            "a: b\na: c",
            "a: b\n  c",
            "a:\n  b: 1\n c: 2",
            "- a\n- b: c\n  d:\n  - e\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: x\ndata:\n  a.yaml: |\n    k: v\n    l:\n      - 1\n  b: \"2\"\n",
            "spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: \"nginx:1.25\"\n          ports:\n            - name: http\n              containerPort: 80\n          resources:\n            limits:\n              cpu: 100m\n",
            "x",
            "a:\n  - - z\n",
            "x\ny",
            "- x\n  y",
            "key:value",
            "a: [1,\n  2]",
            "<<: {a: 1}",
            "1: a",
            "a: b: c",
            "y: 1\nYes: 2\nOFF: 3\ntrue: 4\ntRue: 5\nnull: 6\n~: 7\n1.0: 8\n0x1F: 9\n-1: 10\n\"on\": 11",
            "a: {y: 1, n: [2], 'on': 3, True: 4}",
        ];
        for d in docs {
            assert!(agrees(d));
        }
        // Duplicate keys and bad indentation are the general parser's to
        // report; the rest of the first twenty are read here.
        for d in &docs[..20] {
            let general_only = ["a: b\na: c", "a: b\n  c", "a:\n  b: 1\n c: 2"];
            if !general_only.contains(d) {
                assert!(parse(d).is_some(), "{d:?} left to the general parser");
            }
        }
    }

    /// Every YAML file of the corpus (values, Chart.yaml, plain templates):
    /// where the fast reader answers, the general parser agrees.
    #[test]
    fn agrees_with_the_general_parser_on_the_corpus() {
        let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")];
        let (mut read, mut fast) = (0, 0);
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                    && let Ok(text) = std::fs::read_to_string(&p)
                {
                    for doc in crate::yaml::split_manifests(&text) {
                        if general(&doc).is_none() {
                            continue;
                        }
                        read += 1;
                        if parse(&doc).is_some() {
                            fast += 1;
                        }
                        assert!(agrees(&doc), "{}", p.display());
                    }
                }
            }
        }
        assert!(read > 50, "only {read} documents found");
        assert!(
            fast * 2 > read,
            "the fast reader took only {fast} of {read}"
        );
    }
}
