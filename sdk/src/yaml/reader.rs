//! The fast reader: lines, block structure, flow collections and scalars.
//! Every function answers `None` when the general parser must decide.
//!
//! Written for wasm32 under wasmtime as much as for native code: byte loops
//! instead of `str::find`/`contains`/`split` with string patterns (each of
//! which builds a two-way searcher), one `Vec<Line>` sized by counting the
//! newlines, and strings copied once, into the value.

use serde_json::{Map, Number, Value};

use super::{Flavour, yaml11_key};

/// The deepest nesting read here (deeper documents go to the general
/// parser, which has its own limits).
const MAX_DEPTH: usize = 64;

/// One line of the text, without its `\n`.
#[derive(Clone, Copy)]
pub(super) struct Line<'a> {
    /// The whole line.
    raw: &'a str,
    /// Leading spaces: the line's content starts there.
    indent: usize,
    /// Whether the line is exactly `---`, a document separator.
    pub(super) separator: bool,
}

impl<'a> Line<'a> {
    /// The line after its indentation.
    fn text(&self) -> &'a str {
        &self.raw[self.indent..]
    }
}

/// Splits `text` into lines; `None` when it has tabs, carriage returns or a
/// byte order mark (0xEF starts its UTF-8 form, and a few rarer
/// characters'), or a line starting with `...` or `%` or with `---` and
/// more: the general parser reads those.
///
/// The text is scanned eight bytes at a time (SWAR: plain `u64`
/// arithmetic, as fast in wasm32 without SIMD as natively): once to find
/// the bytes left to the general parser and count the lines, so that the
/// `Vec` is allocated once, then to find each newline.
pub(super) fn lines(text: &str) -> Option<Vec<Line<'_>>> {
    let bytes = text.as_bytes();
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let mut newlines = 0;
    for w in words.map(word) {
        let odd = zero_bytes(w ^ splat(b'\t'))
            | zero_bytes(w ^ splat(b'\r'))
            | zero_bytes(w ^ splat(0xEF));
        if odd != 0 {
            return None;
        }
        newlines += zero_bytes(w ^ splat(b'\n')).count_ones() as usize;
    }
    for &b in tail {
        match b {
            b'\n' => newlines += 1,
            b'\t' | b'\r' | 0xEF => return None,
            _ => {}
        }
    }
    let mut lines = Vec::with_capacity(newlines + 1);
    let mut start = 0;
    let whole = bytes.len() - tail.len();
    for (k, w) in bytes[..whole].chunks_exact(8).map(word).enumerate() {
        let mut found = zero_bytes(w ^ splat(b'\n'));
        while found != 0 {
            let at = k * 8 + found.trailing_zeros() as usize / 8;
            lines.push(line(&text[start..at])?);
            start = at + 1;
            found &= found - 1;
        }
    }
    for (k, &b) in tail.iter().enumerate() {
        if b == b'\n' {
            let at = whole + k;
            lines.push(line(&text[start..at])?);
            start = at + 1;
        }
    }
    lines.push(line(&text[start..])?);
    Some(lines)
}

/// Eight bytes as one little-endian word (the first byte lowest).
fn word(chunk: &[u8]) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(chunk);
    u64::from_le_bytes(b)
}

/// `b` in each byte of a word.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// The high bit of each byte of `w` that is zero, and no other bit (exact:
/// no carry crosses bytes).
fn zero_bytes(w: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((w & LOW7) + LOW7) | w | LOW7)
}

/// One line of [`lines`].
fn line(raw: &str) -> Option<Line<'_>> {
    let separator = match raw.as_bytes() {
        b"---" => true,
        [b'-', b'-', b'-', ..] | [b'.', b'.', b'.', ..] | [b'%', ..] => return None,
        _ => false,
    };
    let indent = spaces(raw);
    Some(Line {
        raw,
        indent,
        separator,
    })
}

/// Reads the document made of `lines` (no separators among them): null
/// when it has nothing but blank and comment lines.
pub(super) fn document(lines: &mut [Line<'_>], flavour: Flavour) -> Option<Value> {
    let mut p = Parser {
        lines,
        i: 0,
        depth: 0,
        flavour,
    };
    p.skip();
    if p.i >= p.lines.len() {
        return Some(Value::Null);
    }
    let v = p.node()?;
    p.skip();
    (p.i >= p.lines.len()).then_some(v)
}

struct Parser<'p, 'a> {
    lines: &'p mut [Line<'a>],
    i: usize,
    depth: usize,
    flavour: Flavour,
}

fn is_seq_item(t: &str) -> bool {
    matches!(t.as_bytes(), [b'-'] | [b'-', b' ', ..])
}

/// The number of leading spaces.
fn spaces(t: &str) -> usize {
    t.bytes().take_while(|&b| b == b' ').count()
}

/// Whether the rest of a line after a value is empty or a comment.
fn only_comment(rest: &str) -> bool {
    let n = spaces(rest);
    n == rest.len() || (n > 0 && rest.as_bytes()[n] == b'#')
}

/// The first `" #"` (a comment after a plain scalar) in `s`.
fn comment_start(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b" #")
}

impl<'a> Parser<'_, 'a> {
    /// Moves past blank and comment lines.
    fn skip(&mut self) {
        while let Some(l) = self.lines.get(self.i) {
            let t = l.text();
            if !(t.is_empty() || t.starts_with('#')) {
                break;
            }
            self.i += 1;
        }
    }

    /// The node starting at the current (meaningful) line.
    fn node(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let l = self.lines[self.i];
        let v = if is_seq_item(l.text()) {
            self.seq(l.indent)
        } else if let Some(first) = self.split_key(l.text())? {
            self.map(l.indent, first)
        } else {
            self.i += 1;
            self.inline_then(l.text(), l.indent.checked_sub(1))
        };
        self.depth -= 1;
        v
    }

    /// A block mapping whose keys are at column `n`; the current line holds
    /// its `first` key (already split, so that it is not split twice).
    fn map(&mut self, n: usize, first: (String, &'a str)) -> Option<Value> {
        let mut m = Map::new();
        let mut next = Some(first);
        loop {
            let (key, rest) = match next.take() {
                Some(entry) => entry,
                None => {
                    self.skip();
                    let Some(&l) = self.lines.get(self.i) else {
                        break;
                    };
                    if l.indent < n {
                        break;
                    }
                    if l.indent > n || is_seq_item(l.text()) {
                        return None;
                    }
                    self.split_key(l.text())??
                }
            };
            self.i += 1;
            let v = self.value_after(rest, n, true)?;
            // Duplicate keys are the general parser's to report.
            if m.insert(key, v).is_some() {
                return None;
            }
        }
        Some(Value::Object(m))
    }

    /// A block sequence whose dashes are at column `n`.
    fn seq(&mut self, n: usize) -> Option<Value> {
        let mut items = Vec::new();
        loop {
            self.skip();
            let Some(&l) = self.lines.get(self.i) else {
                break;
            };
            if l.indent < n || (l.indent == n && !is_seq_item(l.text())) {
                break;
            }
            if l.indent > n {
                return None;
            }
            let after = &l.text()[1..];
            let gap = spaces(after);
            let content = &after[gap..];
            let v = if content.is_empty() || content.starts_with('#') {
                self.i += 1;
                self.value_after("", n, false)?
            } else if is_seq_item(content) {
                return None;
            } else if let Some(first) = match content.as_bytes()[0] {
                b'{' | b'[' => None,
                _ => self.split_key(content)?,
            } {
                // `- key: value`: a mapping whose keys are at the
                // content's column.
                let col = n + 1 + gap;
                self.lines[self.i] = Line { indent: col, ..l };
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                let v = self.map(col, first)?;
                self.depth -= 1;
                v
            } else {
                self.i += 1;
                self.value_after(content, n, false)?
            };
            items.push(v);
        }
        Some(Value::Array(items))
    }

    /// The value of a key (or sequence item) whose line is at column `n`,
    /// given the rest of its line; the current line is the next one.
    fn value_after(&mut self, rest: &str, n: usize, in_map: bool) -> Option<Value> {
        let r = &rest[spaces(rest)..];
        if r.is_empty() || (r.starts_with('#') && r.len() < rest.len()) {
            self.skip();
            if let Some(&l) = self.lines.get(self.i) {
                if l.indent > n {
                    return self.node();
                }
                // `key:` then `- item` at the key's own column.
                if in_map && l.indent == n && is_seq_item(l.text()) {
                    self.depth += 1;
                    let v = self.seq(n);
                    self.depth -= 1;
                    return v;
                }
            }
            return Some(Value::Null);
        }
        if let Some(header) = r.strip_prefix('|') {
            return self.literal(header, n);
        }
        self.inline_then(r, Some(n))
    }

    /// An inline value, then a check that no line continues it (a line
    /// indented past `n`, the column of the line holding it).
    fn inline_then(&mut self, r: &str, n: Option<usize>) -> Option<Value> {
        let v = self.inline_value(r)?;
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
    fn literal(&mut self, header: &str, n: usize) -> Option<Value> {
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
        let first = self.lines[self.i..].iter().find(|l| !l.text().is_empty())?;
        let ci = first.indent;
        if ci <= n {
            return None;
        }
        let start = self.i;
        let mut end = start;
        let mut len = 0;
        while let Some(l) = self.lines.get(self.i) {
            if l.text().is_empty() {
                // A blank line with spaces past the indentation is content
                // the general parser keeps.
                if l.raw.len() > ci {
                    return None;
                }
            } else if l.indent >= ci {
                end = self.i + 1;
                len += l.raw.len() - ci + 1;
            } else {
                break;
            }
            self.i += 1;
        }
        // Trailing blank lines are dropped (clip and strip both).
        let mut s = String::with_capacity(len);
        for (k, l) in self.lines[start..end].iter().enumerate() {
            if k > 0 {
                s.push('\n');
            }
            if !l.text().is_empty() {
                s.push_str(&l.raw[ci..]);
            }
        }
        if !strip && !s.is_empty() {
            s.push('\n');
        }
        // What follows must belong to an outer level.
        self.skip();
        if self.lines.get(self.i).is_some_and(|l| l.indent > n) {
            return None;
        }
        Some(Value::String(s))
    }

    /// Splits a block mapping line into its key and the text after `:`:
    /// `Some(None)` when the line is not a key line, `None` when it is one
    /// this reader leaves to the general parser.
    #[allow(clippy::option_option)]
    fn split_key<'t>(&self, t: &'t str) -> Option<Option<(String, &'t str)>> {
        let b = t.as_bytes();
        match b.first() {
            Some(b'"') => {
                let (k, used) = double_quoted(&t[1..])?;
                return self.quoted_key(key_rest(&t[1 + used..]).map(|r| (k, r)));
            }
            Some(b'\'') => {
                let (k, used) = single_quoted(&t[1..])?;
                return self.quoted_key(key_rest(&t[1 + used..]).map(|r| (k, r)));
            }
            Some(b'[' | b'{') => return Some(None),
            _ => {}
        }
        let mut colon = None;
        for (i, &c) in b.iter().enumerate() {
            if c == b':' && (i + 1 == b.len() || b[i + 1] == b' ') {
                colon = Some(i);
                break;
            }
            if c == b'#' && i > 0 && b[i - 1] == b' ' {
                // A comment before any `: `.
                return Some(None);
            }
        }
        let Some(p) = colon else {
            return Some(None);
        };
        let key = t[..p].trim_end_matches(' ');
        Some(Some((self.plain_key(key)?, &t[p + 1..])))
    }

    /// A quoted key as the general parser gives it: as written, except
    /// that Helm's reading rewrites YAML 1.1 boolean spellings even when
    /// quoted (left to the general parser: go-yaml would not).
    #[allow(clippy::option_option)]
    fn quoted_key<'t>(&self, kr: Option<(String, &'t str)>) -> Option<Option<(String, &'t str)>> {
        match &kr {
            Some((k, _)) if self.flavour == Flavour::Helm && yaml11_key(k).is_some() => None,
            _ => Some(kr),
        }
    }

    /// A plain mapping key as the general parser gives it: the text as
    /// written (keys are strings), YAML 1.1 boolean spellings rewritten in
    /// Helm's reading; null keys (which the general parser refuses) and
    /// merge keys are left to it.
    fn plain_key(&self, key: &str) -> Option<String> {
        if key.is_empty()
            || matches!(key, "<<" | "~" | "null" | "Null" | "NULL")
            || starts_with_indicator(key)
        {
            return None;
        }
        let key = match self.flavour {
            Flavour::Default => key,
            Flavour::Helm => yaml11_key(key).unwrap_or(key),
        };
        Some(key.to_owned())
    }

    /// A value written on one line: quoted, flow or plain.
    fn inline_value(&self, r: &str) -> Option<Value> {
        let (v, rest) = match r.as_bytes().first()? {
            b'"' => {
                let (s, used) = double_quoted(&r[1..])?;
                (Value::String(s), &r[1 + used..])
            }
            b'\'' => {
                let (s, used) = single_quoted(&r[1..])?;
                (Value::String(s), &r[1 + used..])
            }
            b'[' | b'{' => {
                let mut f = Flow {
                    s: r.as_bytes(),
                    src: r,
                    pos: 0,
                    depth: self.depth,
                    parser: self,
                };
                let v = f.node()?;
                (v, &r[f.pos..])
            }
            _ => {
                let b = r.as_bytes();
                let end = comment_start(b).unwrap_or(b.len());
                let s = r[..end].trim_end_matches(' ');
                let sb = s.as_bytes();
                if sb.windows(2).any(|w| w == b": ")
                    || sb.last() == Some(&b':')
                    || starts_with_indicator(s)
                {
                    return None;
                }
                return resolve_plain(s);
            }
        };
        only_comment(rest).then_some(v)
    }
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
        [
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`',
            ..,
        ] => true,
        _ => false,
    }
}

/// A double-quoted scalar closed on this line (`s` starts after the
/// opening quote): the string and the bytes used, closing quote included.
/// Escapes other than the common ones go to the general parser.
fn double_quoted(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let stop = b.iter().position(|&c| c == b'"' || c == b'\\')?;
    if b[stop] == b'"' {
        return Some((s[..stop].to_owned(), stop + 1));
    }
    let mut out = String::with_capacity(s.len());
    let mut start = 0;
    let mut i = stop;
    while i < b.len() {
        match b[i] {
            b'"' => {
                out.push_str(&s[start..i]);
                return Some((out, i + 1));
            }
            b'\\' => {
                out.push_str(&s[start..i]);
                let e = *b.get(i + 1)?;
                i += 2;
                match e {
                    b'\\' => out.push('\\'),
                    b'"' => out.push('"'),
                    b'/' => out.push('/'),
                    b'n' => out.push('\n'),
                    b't' => out.push('\t'),
                    b'r' => out.push('\r'),
                    b'0' => out.push('\0'),
                    b'u' => {
                        let hex = s.get(i..i + 4)?;
                        if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                            return None;
                        }
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        out.push(char::from_u32(code)?);
                        i += 4;
                    }
                    _ => return None,
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    None
}

/// A single-quoted scalar closed on this line (`s` starts after the
/// opening quote).
fn single_quoted(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let close = b.iter().position(|&c| c == b'\'')?;
    // Most quoted scalars have no `''` in them: one copy.
    if b.get(close + 1) != Some(&b'\'') {
        return Some((s[..close].to_owned(), close + 1));
    }
    let mut out = String::with_capacity(s.len());
    let mut start = 0;
    let mut i = close;
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

/// A plain scalar's value, the same in both flavours: strings, booleans
/// (`true`, `yes`, `y`, `on` and their opposites, in any case), nulls
/// (`~`, `null`, `Null`, `NULL`) and plain decimal integers; `None` for
/// anything else the general parser might read as a number.
fn resolve_plain(s: &str) -> Option<Value> {
    let b = s.as_bytes();
    let first = *b.first()?;
    // Every boolean and null spelling has at most five letters.
    if b.len() <= 5
        && let Some(v) = bool_or_null(s)
    {
        return Some(v);
    }
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
        if !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && !(first == b'-' && digits == b"0")
        {
            return s
                .parse::<i64>()
                .ok()
                .map(|i| Value::Number(Number::from(i)));
        }
        // Versions: digits and two dots or more are no number.
        if b.iter().all(|&c| c.is_ascii_digit() || c == b'.')
            && b.iter().filter(|&&c| c == b'.').count() >= 2
        {
            return Some(Value::String(s.to_owned()));
        }
        if maybe_number(s) {
            return None;
        }
    } else if b.len() <= 8 && maybe_special_float(s) {
        return None;
    }
    Some(Value::String(s.to_owned()))
}

/// serde-saphyr's booleans (YAML 1.1 spellings, any case) and nulls.
fn bool_or_null(s: &str) -> Option<Value> {
    if matches!(s, "~" | "null" | "Null" | "NULL") {
        return Some(Value::Null);
    }
    const TRUE: [&str; 4] = ["true", "yes", "y", "on"];
    const FALSE: [&str; 4] = ["false", "no", "n", "off"];
    if TRUE.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return Some(Value::Bool(true));
    }
    if FALSE.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return Some(Value::Bool(false));
    }
    None
}

/// Whether `s` (no sign) spells a special float in some parser's eyes.
fn maybe_special_float(s: &str) -> bool {
    ["inf", "nan", "infinity"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// Whether `s` might be read as a number in some YAML schema (a superset:
/// sign, then hex/octal/binary prefixes, digits with `_`, `.` and `:`,
/// an exponent, or the special floats).
fn maybe_number(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if maybe_special_float(t) || maybe_special_float(t.strip_prefix('.').unwrap_or(t)) {
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

/// The first flow indicator (or `:`/`#`) in `s`.
fn flow_stop(s: &[u8]) -> Option<usize> {
    s.iter()
        .position(|c| matches!(c, b',' | b'[' | b']' | b'{' | b'}' | b':' | b'#'))
}

/// A one-line flow collection.
struct Flow<'s, 'p, 'q, 'a> {
    s: &'s [u8],
    src: &'s str,
    pos: usize,
    depth: usize,
    parser: &'q Parser<'p, 'a>,
}

impl Flow<'_, '_, '_, '_> {
    fn spaces(&mut self) {
        while self.s.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn node(&mut self) -> Option<Value> {
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
                Value::Array(items)
            }
            b'{' => {
                self.pos += 1;
                let mut m = Map::new();
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
                        b',' | b'}' => Value::Null,
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
                Value::Object(m)
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
            let k = match self.scalar()? {
                Value::String(s) => s,
                _ => return None,
            };
            return self
                .parser
                .quoted_key(Some((k, "")))
                .flatten()
                .map(|kr| kr.0);
        }
        let b = rest.as_bytes();
        let end = flow_stop(b)?;
        // `a:b` is one plain scalar to YAML: left to the general parser.
        if b[end] != b':' || b.get(end + 1) != Some(&b' ') {
            return None;
        }
        let k = self.parser.plain_key(rest[..end].trim_end_matches(' '))?;
        self.pos += end;
        Some(k)
    }

    /// A quoted or plain scalar inside a flow collection.
    fn scalar(&mut self) -> Option<Value> {
        let rest = &self.src[self.pos..];
        if let Some(q) = rest.strip_prefix('"') {
            let (s, used) = double_quoted(q)?;
            self.pos += 1 + used;
            return Some(Value::String(s));
        }
        if let Some(q) = rest.strip_prefix('\'') {
            let (s, used) = single_quoted(q)?;
            self.pos += 1 + used;
            return Some(Value::String(s));
        }
        let b = rest.as_bytes();
        let end = flow_stop(b).unwrap_or(b.len());
        let s = rest[..end].trim_end_matches(' ');
        // A `:` or `#` inside a plain flow scalar is left to the general
        // parser, as are indicators it starts with.
        if s.is_empty()
            || starts_with_indicator(s)
            || b.get(end) == Some(&b'#')
            || (b.get(end) == Some(&b':')
                && !matches!(b.get(end + 1), Some(b' ' | b',' | b'}') | None))
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

    /// The word trick flags exactly the bytes equal to the one looked for,
    /// whatever their neighbours (no borrow or carry leaks into them).
    #[test]
    fn zero_bytes_flags_exactly_the_matching_bytes() {
        for fill in 0..=255u8 {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut bytes = [fill; 8];
                    bytes[at] = b;
                    let w = u64::from_le_bytes(bytes);
                    for c in [b'\n', b'\t', b'\r', 0xEF, 0, 0x80, fill, b] {
                        let want = (0..8)
                            .filter(|&k| bytes[k] == c)
                            .fold(0u64, |m, k| m | 0x80 << (8 * k));
                        assert_eq!(zero_bytes(w ^ splat(c)), want, "{bytes:?} {c}");
                    }
                }
            }
        }
    }

    /// Lines are what `split('\n')` gives, wherever the newlines fall
    /// relative to the eight-byte words, and any tab, carriage return or
    /// 0xEF byte sends the text to the general parser.
    #[test]
    fn lines_split_as_str_split_does() {
        let mut checked = 0;
        for len in 0..40usize {
            for step in 1..12usize {
                for offset in 0..step {
                    let text: String = (0..len)
                        .map(|i| if i % step == offset { '\n' } else { 'a' })
                        .collect();
                    let got: Option<Vec<&str>> =
                        lines(&text).map(|ls| ls.iter().map(|l| l.raw).collect());
                    let want: Vec<&str> = text.split('\n').collect();
                    assert_eq!(got, Some(want), "{text:?}");
                    checked += 1;
                }
            }
            for odd in ["\t", "\r", "\u{feff}", "\u{f000}"] {
                for at in 0..len {
                    let text = format!("{}{odd}{}", "a\n".repeat(at / 2), "b".repeat(len - at));
                    assert!(lines(&text).is_none(), "{text:?}");
                }
            }
        }
        assert!(checked > 1000);
        let ls = lines("  a: 1\n---\n    - x").unwrap_or_default();
        let shape: Vec<(usize, &str, bool)> = ls
            .iter()
            .map(|l| (l.indent, l.text(), l.separator))
            .collect();
        assert_eq!(
            shape,
            [(2, "a: 1", false), (0, "---", true), (4, "- x", false)]
        );
    }
}
