//! Encoders with the exact output of the Go libraries Helm uses:
//! `encoding/json` (for `toJson`) and `sigs.k8s.io/yaml` over go-yaml v2
//! (for `toYaml`): key order, number forms, string quoting styles, literal
//! blocks and the 80-column folding of long strings.

use crate::template::value::{Value, shortest_digits};

/// Go's `json.Marshal` (`html` escapes `<`, `>`, `&` as Go does by default;
/// `toRawJson` turns it off), or `json.MarshalIndent(v, "", indent)`.
pub fn to_json(v: &Value, html: bool, indent: Option<&str>) -> String {
    let mut out = String::new();
    write_json(&mut out, v, html, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<&str>, level: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

fn write_json(out: &mut String, v: &Value, html: bool, indent: Option<&str>, level: usize) {
    let json = v.to_json_shape();
    match json {
        Shape::Null => out.push_str("null"),
        Shape::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Shape::Int(i) => out.push_str(&i.to_string()),
        Shape::Float(f) => out.push_str(&json_float(f)),
        Shape::Str(s) => json_string(out, &s, html),
        Shape::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_json(out, x, html, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Shape::Map(items) => {
            if items.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, x)) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                json_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(out, x, html, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

/// A value seen as JSON data.
enum Shape {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    fn to_json_shape(&self) -> Shape {
        match self {
            Value::Nil => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Int(i) | Value::Int64(i) => Shape::Int(*i),
            Value::Float(f) => Shape::Float(*f),
            Value::Str(s) => Shape::Str(s.to_string()),
            Value::List(l) => Shape::List(l.to_vec()),
            Value::Map(m) => Shape::Map(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            Value::Obj(_) => match Value::from_json(&self.to_json()) {
                Value::Map(m) => Shape::Map(
                    m.borrow()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                Value::List(l) => Shape::List(l.to_vec()),
                Value::Str(s) => Shape::Str(s.to_string()),
                _ => Shape::Null,
            },
        }
    }
}

/// Go's JSON float form: `%f`-like shortest digits, `%e` below 1e-6 or from
/// 1e21 on, with the exponent's leading zero dropped (`1e-07` → `1e-7`).
pub fn json_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let a = f.abs();
    let (neg, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(1e-6..1e21).contains(&a) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&exp.abs().to_string());
        // Go writes at least two exponent digits, then drops a leading zero
        // of a negative one: e-07 → e-7, but e+06 stays … as e+06? No: only
        // `e-0N` is cleaned, and `e+0N` cannot occur from 1e21 on.
        return out;
    }
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ------------------------------------------------------------------ YAML

/// The column past which go-yaml folds long strings at a space.
const BEST_WIDTH: usize = 80;

/// `sigs.k8s.io/yaml.Marshal`: the value through JSON, then go-yaml v2.
/// Ends with a newline, as go-yaml's output does.
pub fn to_yaml(v: &Value) -> String {
    // Through JSON first, as sigs.k8s.io/yaml does: numbers become ints
    // when integral, objects become maps.
    let data = json_roundtrip(v);
    let mut e = Emitter {
        out: String::new(),
        column: 0,
    };
    match &data {
        Y::Map(m) if !m.is_empty() => e.block_map(m, 0),
        Y::List(l) if !l.is_empty() => e.block_list(l, 0),
        scalar => {
            e.scalar(scalar, 0, false);
            e.out.push('\n');
        }
    }
    e.out
}

/// YAML data after the JSON round trip.
#[derive(Debug, Clone)]
enum Y {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Y>),
    Map(Vec<(String, Y)>),
}

fn json_roundtrip(v: &Value) -> Y {
    match v.to_json_shape() {
        Shape::Null => Y::Null,
        Shape::Bool(b) => Y::Bool(b),
        Shape::Int(i) => Y::Int(i),
        Shape::Float(f) => {
            // JSON prints integral floats without a point, and go-yaml reads
            // those back as ints.
            let s = json_float(f);
            if s.contains(['.', 'e']) {
                Y::Float(f)
            } else {
                s.parse().map(Y::Int).unwrap_or(Y::Float(f))
            }
        }
        Shape::Str(s) => Y::Str(s),
        Shape::List(l) => Y::List(l.iter().map(json_roundtrip).collect()),
        Shape::Map(m) => {
            let mut items: Vec<(String, Y)> = m
                .iter()
                .map(|(k, v)| (k.clone(), json_roundtrip(v)))
                .collect();
            items.sort_by(|a, b| weir_sdk::goyaml::key_order(&a.0, &b.0));
            Y::Map(items)
        }
    }
}

struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn write(&mut self, s: &str) {
        match s.rfind('\n') {
            Some(p) => self.column = s[p + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
        self.out.push_str(s);
    }

    fn indent(&mut self, n: usize) {
        self.out.push('\n');
        for _ in 0..n {
            self.out.push(' ');
        }
        self.column = n;
    }

    fn spaces(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
        self.column += n;
    }

    /// A block mapping whose keys sit at column `ind`; the cursor is at
    /// column `ind` already (or after `- `).
    fn block_map(&mut self, m: &[(String, Y)], ind: usize) {
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.spaces(ind);
            }
            self.key(k);
            self.write(":");
            self.value(v, ind);
        }
    }

    fn value(&mut self, v: &Y, ind: usize) {
        match v {
            Y::Map(m) if !m.is_empty() => {
                self.out.push('\n');
                self.column = 0;
                self.spaces(ind + 2);
                self.block_map(m, ind + 2);
            }
            Y::List(l) if !l.is_empty() => {
                // go-yaml writes sequences in mappings without indenting them.
                self.out.push('\n');
                self.column = 0;
                self.spaces(ind);
                self.block_list(l, ind);
            }
            scalar => {
                self.write(" ");
                self.scalar(scalar, ind + 2, false);
                self.out.push('\n');
                self.column = 0;
            }
        }
    }

    fn block_list(&mut self, l: &[Y], ind: usize) {
        for (i, v) in l.iter().enumerate() {
            if i > 0 {
                self.spaces(ind);
            }
            self.write("-");
            match v {
                Y::Map(m) if !m.is_empty() => {
                    self.write(" ");
                    self.block_map(m, ind + 2);
                }
                Y::List(inner) if !inner.is_empty() => {
                    self.write(" ");
                    self.block_list(inner, ind + 2);
                }
                scalar => {
                    self.write(" ");
                    self.scalar(scalar, ind + 2, false);
                    self.out.push('\n');
                    self.column = 0;
                }
            }
        }
    }

    fn key(&mut self, k: &str) {
        self.string(k, 0, true);
    }

    /// A scalar (or empty collection) at the cursor; `ind` is the indentation
    /// of continuation lines.
    fn scalar(&mut self, v: &Y, ind: usize, _key: bool) {
        match v {
            Y::Null => self.write("null"),
            Y::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Y::Int(i) => self.write(&i.to_string()),
            Y::Float(f) => self.write(&yaml_float(*f)),
            Y::Str(s) => self.string(s, ind, false),
            Y::List(_) => self.write("[]"),
            Y::Map(_) => self.write("{}"),
        }
    }

    fn string(&mut self, s: &str, ind: usize, simple_key: bool) {
        let a = analyze(s);
        let can_plain = !resolves_to_non_string(s) && !is_base60_float(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if can_plain {
            Style::Plain
        } else {
            Style::Double
        };
        if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.plain(s, ind, !simple_key),
            Style::Single => self.single(s, ind, !simple_key),
            Style::Double => self.double(s),
            Style::Literal => self.literal(s, ind),
        }
    }

    fn plain(&mut self, s: &str, ind: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.indent(ind);
                } else {
                    self.out.push(c);
                    self.column += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                self.column += 1;
                spaces = false;
            }
        }
    }

    fn single(&mut self, s: &str, ind: usize, allow_breaks: bool) {
        self.write("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.indent(ind);
                } else {
                    self.out.push(c);
                    self.column += 1;
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                    self.column += 1;
                }
                self.out.push(c);
                self.column += 1;
                spaces = false;
            }
        }
        self.write("'");
    }

    fn double(&mut self, s: &str) {
        let mut o = String::from("\"");
        for c in s.chars() {
            match c {
                '\0' => o.push_str("\\0"),
                '\x07' => o.push_str("\\a"),
                '\x08' => o.push_str("\\b"),
                '\t' => o.push_str("\\t"),
                '\n' => o.push_str("\\n"),
                '\x0b' => o.push_str("\\v"),
                '\x0c' => o.push_str("\\f"),
                '\r' => o.push_str("\\r"),
                '\x1b' => o.push_str("\\e"),
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\u{85}' => o.push_str("\\N"),
                '\u{a0}' => o.push_str("\\_"),
                '\u{2028}' => o.push_str("\\L"),
                '\u{2029}' => o.push_str("\\P"),
                c if !yaml_printable(c) || c == '\u{feff}' => {
                    let u = c as u32;
                    if u <= 0xff {
                        o.push_str(&format!("\\x{u:02X}"));
                    } else if u <= 0xffff {
                        o.push_str(&format!("\\u{u:04X}"));
                    } else {
                        o.push_str(&format!("\\U{u:08X}"));
                    }
                }
                c => o.push(c),
            }
        }
        o.push('"');
        self.write(&o);
    }

    fn literal(&mut self, s: &str, ind: usize) {
        let mut head = String::from("|");
        if s.starts_with(' ') || s.starts_with('\n') {
            head.push('2');
        }
        if !s.ends_with('\n') {
            head.push('-');
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            head.push('+');
        }
        self.write(&head);
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                for _ in 0..ind {
                    self.out.push(' ');
                }
                self.out.push_str(line);
            }
        }
        if s.ends_with('\n') && s.len() > 1 && s[..s.len() - 1].ends_with('\n') {
            // `|+` keeps the trailing empty lines, written as such.
        }
        self.column = 0;
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml's float form: `strconv.FormatFloat(f, 'g', -1, 64)` and `.inf`/`.nan`.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    crate::template::value::format_float_g(f)
}

fn yaml_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
        || (0x10000..=0x10ffff).contains(&u)
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar`, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let mut line_breaks = false;
    let mut special = false;
    let mut preceded_by_ws = true;
    let is_blankz = |c: Option<&char>| {
        matches!(
            c,
            None | Some(' ' | '\t' | '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
        )
    };
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws = is_blankz(chars.get(i + 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !yaml_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}') {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_blankz(Some(&c));
    }
    let mut block_plain = true;
    let mut single = true;
    let mut block = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain = false;
    }
    if trailing_space {
        block = false;
    }
    if break_space {
        block_plain = false;
        single = false;
    }
    if space_break || special {
        block_plain = false;
        single = false;
        block = false;
    }
    if line_breaks {
        block_plain = false;
    }
    if block_indicators {
        block_plain = false;
    }
    Analysis {
        block_plain_allowed: block_plain,
        single_quoted_allowed: single,
        block_allowed: block,
    }
}

/// Whether go-yaml v2 would read `s`, unquoted, as something other than a
/// string (null, bool — YAML 1.1's `yes`/`on` too —, int, float, timestamp,
/// merge key).
pub fn resolves_to_non_string(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    const SPECIAL: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        return go_parse_float(s);
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return false;
    }
    if is_timestamp(s) {
        return true;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if go_parse_int(&plain) {
        return true;
    }
    let float_re = |p: &str| {
        let b = p.strip_prefix(['-', '+']).unwrap_or(p);
        let (mant, exp) = match b.find(['e', 'E']) {
            Some(i) => (&b[..i], Some(&b[i + 1..])),
            None => (b, None),
        };
        let mant_ok = if let Some(frac) = mant.strip_prefix('.') {
            !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit())
        } else {
            let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
            !int.is_empty()
                && int.bytes().all(|c| c.is_ascii_digit())
                && frac.bytes().all(|c| c.is_ascii_digit())
        };
        let exp_ok = match exp {
            None => true,
            Some(e) => {
                let e = e.strip_prefix(['-', '+']).unwrap_or(e);
                !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
            }
        };
        mant_ok && exp_ok
    };
    if float_re(&plain) {
        return true;
    }
    if let Some(b) = plain
        .strip_prefix("0b")
        .or_else(|| plain.strip_prefix("-0b"))
    {
        return !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1');
    }
    false
}

/// `strconv.ParseInt(s, 0, 64)` (or ParseUint) succeeds.
fn go_parse_int(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    if b.is_empty() {
        return false;
    }
    let lower = b.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h.to_string(), 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (o.to_string(), 8)
    } else if let Some(bb) = lower.strip_prefix("0b") {
        (bb.to_string(), 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (lower[1..].to_string(), 8)
    } else {
        (lower, 10)
    };
    !digits.is_empty() && u64::from_str_radix(&digits, radix).is_ok()
}

/// `strconv.ParseFloat` succeeds on a string starting with `.`.
fn go_parse_float(s: &str) -> bool {
    s.len() > 1 && s.parse::<f64>().is_ok() && !s.contains(['i', 'I', 'n', 'N'])
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, frac) = b.split_once('.').unwrap_or((b, ""));
    if !frac.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return false;
    }
    let mut parts = main.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        let ok = match p.len() {
            1 => p.as_bytes()[0].is_ascii_digit(),
            2 => (b'0'..=b'5').contains(&p.as_bytes()[0]) && p.as_bytes()[1].is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    n > 0
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut dp = date.split('-');
    let ok_num = |x: Option<&str>| {
        x.is_some_and(|x| (1..=2).contains(&x.len()) && x.bytes().all(|c| c.is_ascii_digit()))
    };
    if !(ok_num(dp.next()) && ok_num(dp.next()) && dp.next().is_none()) {
        return false;
    }
    match time {
        None => true,
        Some(t) => {
            let t = t.trim_end_matches('Z');
            let core = t.split(['+', '-']).next().unwrap_or("");
            let core = core.split('.').next().unwrap_or("");
            let mut tp = core.split(':');
            ok_num(tp.next()) && ok_num(tp.next()) && ok_num(tp.next()) && tp.next().is_none()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::Map;

    fn m(pairs: Vec<(&str, Value)>) -> Value {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k.to_string(), v);
        }
        Value::map(map)
    }

    #[test]
    fn yaml_quotes_what_go_yaml_quotes() {
        let v = m(vec![
            ("a", Value::str("true")),
            ("b", Value::str("1.5")),
            ("c", Value::str("x: y")),
            ("d", Value::str("")),
            ("e", Value::str("line1\nline2\n")),
            ("f", Value::str("*star")),
            ("g", Value::str("plain text")),
            ("h", Value::str("a\tb")),
            ("i", Value::Float(3.0)),
            (
                "j",
                Value::list(vec![Value::Int(1), m(vec![("k", Value::Nil)])]),
            ),
            ("k", Value::map(Map::new())),
        ]);
        assert_eq!(
            to_yaml(&v),
            "a: \"true\"\nb: \"1.5\"\nc: 'x: y'\nd: \"\"\ne: |\n  line1\n  line2\nf: '*star'\ng: plain text\nh: \"a\\tb\"\ni: 3\nj:\n- 1\n- k: null\nk: {}\n"
        );
    }

    #[test]
    fn json_matches_go() {
        let v = m(vec![("b", Value::Float(1e6)), ("a", Value::str("<x>"))]);
        assert_eq!(
            to_json(&v, true, None),
            "{\"a\":\"\\u003cx\\u003e\",\"b\":1000000}"
        );
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(0.5), "0.5");
        assert_eq!(
            to_json(&v, false, Some("  ")),
            "{\n  \"a\": \"<x>\",\n  \"b\": 1000000\n}"
        );
    }
}
