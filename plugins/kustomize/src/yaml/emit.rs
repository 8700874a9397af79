//! Prints nodes as kubectl kustomize does: JSON typing of every scalar, then
//! yaml.v2's emitter (a port of libyaml): sorted keys, indentless sequences
//! inside mappings, 80-column folding of long scalars, and its quoting rules.

use super::resolve::{go_parse_float, go_parse_int, parse_timestamp, v2_needs_quotes};
use super::{Map, Node, Scalar, Tag};

const BEST_WIDTH: usize = 80;

/// A scalar as JSON sees it.
enum Value<'a> {
    Null,
    Bool(bool),
    /// A number, already formatted as yaml.v2 prints it.
    Num(String),
    Str(std::borrow::Cow<'a, str>),
}

fn value(s: &Scalar) -> Value<'_> {
    match s.tag {
        Tag::Null => Value::Null,
        Tag::Bool => Value::Bool(s.value.eq_ignore_ascii_case("true")),
        Tag::Str => Value::Str(s.value.as_str().into()),
        Tag::Timestamp => match parse_timestamp(&s.value) {
            Some(t) => Value::Str(t.rfc3339().into()),
            None => Value::Str(s.value.as_str().into()),
        },
        Tag::Int => {
            let plain: String = s.value.chars().filter(|&c| c != '_').collect();
            match go_parse_int(&plain) {
                Some(i) => Value::Num(i),
                None => match go_parse_float(&plain) {
                    Some(f) => Value::Num(format_float(f)),
                    None => Value::Str(s.value.as_str().into()),
                },
            }
        }
        Tag::Float => {
            let plain: String = s.value.chars().filter(|&c| c != '_').collect();
            let f = match plain.to_ascii_lowercase().as_str() {
                ".nan" => f64::NAN,
                ".inf" | "+.inf" => f64::INFINITY,
                "-.inf" => f64::NEG_INFINITY,
                _ => match go_parse_float(&plain) {
                    Some(f) => f,
                    None => return Value::Str(s.value.as_str().into()),
                },
            };
            Value::Num(format_float(f))
        }
    }
}

/// A float64 after Go's `json.Marshal` and yaml.v2's re-read and print:
/// integral values under 1e21 become integers when they fit 64 bits, the rest
/// use `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Go's 'f' with shortest precision: the shortest digits, zero-padded.
        let s = shortest_fixed(f);
        if go_parse_int(&s).is_some() {
            return s;
        }
    }
    format_g(f)
}

/// Shortest round-trip digits and decimal exponent of `f` (non-zero, finite).
fn digits(f: f64) -> (bool, String, i32) {
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (f < 0.0, digits, exp.parse().unwrap_or(0))
}

fn shortest_fixed(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let (neg, d, exp) = digits(f);
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    // exp >= 0 here (integral, non-zero).
    let int_len = (exp + 1) as usize;
    s.push_str(&d);
    while s.len() - usize::from(neg) < int_len {
        s.push('0');
    }
    s
}

fn format_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (neg, d, exp) = digits(f);
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if !(-4..6).contains(&exp) {
        s.push_str(&d[..1]);
        if d.len() > 1 {
            s.push('.');
            s.push_str(&d[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.abs()));
    } else if exp < 0 {
        s.push_str("0.");
        for _ in 0..(-exp - 1) {
            s.push('0');
        }
        s.push_str(&d);
    } else {
        let int_len = (exp + 1) as usize;
        if d.len() <= int_len {
            s.push_str(&d);
            for _ in d.len()..int_len {
                s.push('0');
            }
        } else {
            s.push_str(&d[..int_len]);
            s.push('.');
            s.push_str(&d[int_len..]);
        }
    }
    s
}

/// Appends one document (without the `---` separator) to `out`.
pub fn emit(node: &Node, out: &mut String) {
    let mut e = Emitter {
        out,
        column: 0,
        whitespace: true,
        indention: true,
    };
    match node {
        Node::Map(m) if !m.is_empty() => e.map(m, 0),
        Node::Seq(s) if !s.is_empty() => e.seq(s, 0),
        Node::Map(_) => e.raw("{}"),
        Node::Seq(_) => e.raw("[]"),
        Node::Scalar(s) => e.scalar(s, 0, false),
    }
    if !(e.indention && e.column == 0) {
        e.newline();
    }
}

struct Emitter<'o> {
    out: &'o mut String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || is_break(c) || c == '\0',
    }
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) =
        (false, false, false, false);
    let (mut line_breaks, mut special) = (false, false);
    let mut preceded_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' if followed_ws => block_ind = true,
                '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_ind = true,
                '#' if preceded_ws => block_ind = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_blankz(Some(c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

impl Emitter<'_> {
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
        self.whitespace = false;
        self.indention = false;
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.newline();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// An indicator such as `-`, `:`, `|`, `"`: a space first when needed.
    fn indicator(&mut self, s: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in s.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn map(&mut self, m: &Map, indent: usize) {
        let mut entries: Vec<&(String, Node)> = m.0.iter().collect();
        entries.sort_by(|a, b| weir_sdk::goyaml::key_order(&a.0, &b.0));
        for (k, v) in entries {
            self.write_indent(indent);
            self.string(k, indent, true);
            self.indicator(":", false, false, false);
            self.value(v, indent, true);
        }
    }

    fn seq(&mut self, items: &[Node], indent: usize) {
        for item in items {
            self.write_indent(indent);
            self.indicator("-", true, false, true);
            self.value(item, indent, false);
        }
    }

    /// A value in a mapping (at the mapping's indent) or a sequence item.
    fn value(&mut self, v: &Node, indent: usize, in_map: bool) {
        match v {
            Node::Scalar(s) => self.scalar(s, indent + 2, false),
            Node::Map(m) if m.is_empty() => {
                self.indicator("{", true, true, false);
                self.indicator("}", false, false, false);
            }
            Node::Seq(s) if s.is_empty() => {
                self.indicator("[", true, true, false);
                self.indicator("]", false, false, false);
            }
            Node::Map(m) => self.map(m, indent + 2),
            Node::Seq(s) => self.seq(s, if in_map { indent } else { indent + 2 }),
        }
    }

    fn scalar(&mut self, s: &Scalar, indent: usize, key: bool) {
        match value(s) {
            Value::Null => self.plain("null", indent, key),
            Value::Bool(b) => self.plain(if b { "true" } else { "false" }, indent, key),
            Value::Num(n) => self.plain(&n, indent, key),
            Value::Str(s) => self.string(&s, indent, key),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, key: bool) {
        let _ = key;
        if !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(s);
        self.column += s.chars().count();
        self.whitespace = false;
        self.indention = false;
        let _ = indent;
    }

    /// A string, in the style yaml.v2 picks for it.
    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let folded = json_to_v2(s);
        let s = folded.as_deref().unwrap_or(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if v2_needs_quotes(s) {
            Style::Double
        } else {
            Style::Plain
        };
        let a = analyze(s);
        if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || key) {
            style = Style::Double;
        }
        let allow_breaks = !key;
        match style {
            Style::Plain => self.write_plain(s, indent, allow_breaks),
            Style::Single => self.write_single(s, indent, allow_breaks),
            Style::Double => self.write_double(s, indent, allow_breaks),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != n - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.newline();
                }
                self.out.push(c);
                self.column = 0;
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                breaks = false;
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.indicator("'", false, false, false);
    }

    fn write_double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let escape_all = s.starts_with('\u{FEFF}');
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            // yaml.v2 tests for a byte order mark at the start of the string
            // instead of at each character: one leading BOM escapes it all.
            if escape_all
                || !is_printable(c)
                || c == '\u{FEFF}'
                || is_break(c)
                || c == '"'
                || c == '\\'
            {
                self.put('\\');
                let v = c as u32;
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let hex = if v <= 0xFF {
                            format!("x{v:02X}")
                        } else if v <= 0xFFFF {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        for h in hex.chars() {
                            self.put(h);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i < n - 1 {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.indicator("|", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.indicator("2", false, false, false);
        }
        let chomp = match chars.len() {
            0 => Some("-"),
            n if !is_break(chars[n - 1]) => Some("-"),
            1 => Some("+"),
            n if is_break(chars[n - 2]) => Some("+"),
            _ => None,
        };
        if let Some(c) = chomp {
            self.indicator(c, false, false, false);
        }
        self.newline();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                // yaml.v2 writes a line or paragraph separator as itself:
                // a line break for readers, but no `\n`.
                if c == '\n' {
                    self.newline();
                } else {
                    self.out.push(c);
                    self.column = 0;
                }
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// Writes `node` as JSON, scalars typed as in the YAML output.
pub fn json(node: &Node, out: &mut String) {
    json_with(node, out, false);
}

/// Writes `node` as JSON with the values kubectl prints: like [`json`],
/// with strings as yaml.v2 reads them back from kustomize's JSON (a NEL
/// folds), so the objects are the ones of the YAML output.
pub fn json_printed(node: &Node, out: &mut String) {
    json_with(node, out, true);
}

fn json_with(node: &Node, out: &mut String, printed: bool) {
    match node {
        Node::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_with(v, out, printed);
            }
            out.push('}');
        }
        Node::Seq(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_with(v, out, printed);
            }
            out.push(']');
        }
        Node::Scalar(s) => match value(s) {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Num(n)
                if !n.starts_with(['.', '-', '+']) || n.as_bytes()[1].is_ascii_digit() =>
            {
                out.push_str(&n)
            }
            Value::Num(n) => json_string(&n, out),
            Value::Str(s) => match json_to_v2(&s).filter(|_| printed) {
                Some(f) => json_string(&f, out),
                None => json_string(&s, out),
            },
        },
    }
}

/// A one-line string as yaml.v3 writes it as a block mapping value (as
/// kustomize writes the paths in its origin annotations): plain when it
/// reads back as the same string and nothing in it needs quotes, else
/// single-quoted, else double-quoted.
pub fn v3_string(s: &str) -> String {
    let old_bool = matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    );
    let can_use_plain = super::resolve::resolve_v3(s) == super::Tag::Str
        && !old_bool
        && !super::resolve::is_base60_float(s);
    let a = analyze(s);
    if can_use_plain && a.block_plain {
        s.to_string()
    } else if can_use_plain && a.single {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if is_printable(c) && !is_break(c) => out.push(c),
                c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
                c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
                c => out.push_str(&format!("\\U{:08X}", c as u32)),
            }
        }
        out.push('"');
        out
    }
}

/// The string yaml.v2 reads back from the JSON kustomize prints it
/// through, when that differs: Go's `json.Marshal` writes U+0085 (NEL) as
/// itself, and yaml.v2 takes it for a line break inside the quoted JSON
/// string, which folds: the spaces around a run of them go, one becomes a
/// space, `n` become `n - 1` newlines.
fn json_to_v2(s: &str) -> Option<String> {
    if !s.contains('\u{85}') {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut spaces = String::new();
    while let Some(c) = chars.next() {
        match c {
            ' ' => spaces.push(' '),
            '\u{85}' => {
                let mut breaks = 1;
                while let Some(&n) = chars.peek() {
                    match n {
                        ' ' => {}
                        '\u{85}' => breaks += 1,
                        _ => break,
                    }
                    chars.next();
                }
                spaces.clear();
                if breaks == 1 {
                    out.push(' ');
                } else {
                    out.extend(std::iter::repeat_n('\n', breaks - 1));
                }
            }
            c => {
                out.push_str(&spaces);
                spaces.clear();
                out.push(c);
            }
        }
    }
    out.push_str(&spaces);
    Some(out)
}

/// A JSON string as Go's `json.Marshal` writes it (HTML characters escaped).
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them_after_a_json_round_trip() {
        assert_eq!(format_float(1000.0), "1000");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1.5e-7), "1.5e-07");
        assert_eq!(format_float(1e23), "1e+23");
        assert_eq!(format_float(1234567.5), "1.2345675e+06");
        assert_eq!(
            format_float(1.2345678901234569e23),
            "1.2345678901234569e+23"
        );
    }

    #[test]
    fn paths_are_quoted_as_yaml_v3_quotes_them() {
        assert_eq!(v3_string("base/cm.yaml"), "base/cm.yaml");
        assert_eq!(v3_string("yes"), "\"yes\"");
        assert_eq!(v3_string("1.5"), "\"1.5\"");
        assert_eq!(v3_string("a: b"), "'a: b'");
        assert_eq!(v3_string("#x"), "'#x'");
        assert_eq!(v3_string("it's: \"q\""), "'it''s: \"q\"'");
    }

    #[test]
    fn next_lines_fold_as_yaml_v2_reads_them_from_json() {
        assert_eq!(json_to_v2("a"), None);
        assert_eq!(json_to_v2("a\u{85}b").as_deref(), Some("a b"));
        assert_eq!(json_to_v2("a \u{85} \u{85}  b").as_deref(), Some("a\nb"));
        assert_eq!(json_to_v2("\u{85}a  ").as_deref(), Some(" a  "));
    }

    #[test]
    fn keys_sort_with_numbers_compared_by_value() {
        // The order kubectl kustomize prints these keys in.
        let mut keys = vec![
            "a10", "a9", "b", "B", "a-b", "ab", "_x", "1", "a01", "a1", "a001", "10", "9", "02",
            "2",
        ];
        keys.sort_by(|a, b| weir_sdk::goyaml::key_order(a, b));
        assert_eq!(
            keys,
            vec![
                "_x", "1", "2", "02", "9", "10", "B", "a-b", "a1", "a01", "a001", "a9", "a10",
                "ab", "b"
            ]
        );
    }
}
