//! The YAML store: documents load into SOPS's tree with their comments
//! (each `#` line an entry of the mapping or list it is indented into, a
//! same-line comment before the entry it ends), plain scalars typed as
//! go-yaml v3 resolves them; output is what go-yaml v3's encoder writes for
//! that tree with SOPS's settings (indent 4, sequences indented, no line
//! folding, head comments).

use std::collections::HashMap;

use granit_parser::{Event, Parser, Placement, ScalarStyle};

use crate::Loaded;
use crate::metadata::take_sops;
use crate::tree::{Branch, Key, Value, go_format_float_g};

// ---------------------------------------------------------------- timestamps

/// A parsed timestamp.
pub struct Time {
    /// Year.
    pub year: u32,
    /// Month, 1-12.
    pub month: u32,
    /// Day, 1-31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Fraction digits as written (`"1"` for `.10`, trailing zeros trimmed).
    pub fraction: String,
    /// Offset from UTC in minutes.
    pub offset: i32,
}

impl Time {
    /// The zone as Go's RFC 3339 layouts write it: `Z` or `±hh:mm`.
    pub fn zone(&self) -> String {
        if self.offset == 0 {
            "Z".into()
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let o = self.offset.abs();
            format!("{sign}{:02}:{:02}", o / 60, o % 60)
        }
    }
}

fn num(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// Parses the timestamps go-yaml v3 accepts (`2006-1-2`,
/// `2006-1-2T15:4:5.999999999Z07:00` with `T` or `t`, and
/// `2006-1-2 15:4:5.999999999` without zone); `strict` asks for RFC 3339
/// (`T`, zone required).
pub fn parse_time(s: &str, strict: bool) -> Option<Time> {
    let (year, r) = num(s, 4, 4)?;
    let r = r.strip_prefix('-')?;
    let (month, r) = num(r, if strict { 2 } else { 1 }, 2)?;
    let r = r.strip_prefix('-')?;
    let (day, r) = num(r, if strict { 2 } else { 1 }, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = Time {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        fraction: String::new(),
        offset: 0,
    };
    if r.is_empty() {
        return if strict { None } else { Some(t) };
    }
    let sep = r.as_bytes()[0];
    let zoned = match sep {
        b'T' | b't' => true,
        b' ' if !strict => false,
        _ => return None,
    };
    let r = &r[1..];
    let (hour, r) = num(r, 1, 2)?;
    let r = r.strip_prefix(':')?;
    let (minute, r) = num(r, 1, 2)?;
    let r = r.strip_prefix(':')?;
    let (second, mut r) = num(r, 1, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    t.hour = hour;
    t.minute = minute;
    t.second = second;
    if let Some(f) = r.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        t.fraction = f[..n].trim_end_matches('0').to_string();
        r = &f[n..];
    }
    if zoned {
        if r == "Z" || r == "z" {
            return Some(t);
        }
        let sign = match r.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, rr) = num(&r[1..], 2, 2)?;
        let rr = rr.strip_prefix(':')?;
        let (m, rr) = num(rr, 2, 2)?;
        if !rr.is_empty() || h > 23 || m > 59 {
            return None;
        }
        t.offset = sign * (h as i32 * 60 + m as i32);
        Some(t)
    } else if r.is_empty() {
        Some(t)
    } else {
        None
    }
}

/// Go's `time.Time.MarshalText` (RFC 3339 with nanoseconds, trailing zeros
/// trimmed) of a timestamp.
pub fn normalize_time(s: &str) -> Option<String> {
    let t = parse_time(s, false)?;
    let frac = if t.fraction.is_empty() {
        String::new()
    } else {
        format!(".{}", t.fraction)
    };
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.zone()
    ))
}

// ---------------------------------------------------------------- resolving

/// Go's `strconv.ParseInt(s, 0, 64)` (sign, `0x`/`0o`/`0b`/leading-`0`
/// prefixes); `None` also when out of range.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// What a plain scalar means to go-yaml v3 (its `resolve` with no tag).
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let Some(&first) = s.as_bytes().first() else {
        return Value::Null;
    };
    match first {
        b'.' => {
            if let Some(f) = crate::cipher::go_parse_float(s) {
                return Value::Float(f);
            }
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(t) = normalize_time(s) {
                return Value::Time(t);
            }
            let plain = s.replace('_', "");
            if let Some(i) = go_parse_int(&plain) {
                return Value::Int(i);
            }
            if yaml_style_float(&plain)
                && let Some(f) = crate::cipher::go_parse_float(&plain)
            {
                return Value::Float(f);
            }
        }
        _ => {}
    }
    Value::Str(s.to_string())
}

/// True when `s` written plain would not read back as the same string.
fn needs_quotes(s: &str) -> bool {
    if s == "<<" || !matches!(resolve_plain(s), Value::Str(_)) {
        return true;
    }
    // go-yaml still quotes YAML 1.1 booleans and base-60 floats.
    matches!(
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
    ) || is_base60_float(s)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------- loading

/// An open collection while loading.
enum Frame {
    Map {
        branch: Branch,
        key: Option<String>,
        /// Column of its keys (block mappings), once the first key is seen.
        col: Option<usize>,
        /// Line where the entry being read started.
        entry_line: usize,
        /// Comments that go before the entry being read.
        before: Vec<String>,
        /// Comments that follow the entry being read.
        after: Vec<String>,
        anchor: usize,
    },
    Seq {
        items: Vec<Value>,
        col: Option<usize>,
        entry_line: usize,
        before: Vec<String>,
        after: Vec<String>,
        anchor: usize,
    },
}

impl Frame {
    fn col(&self) -> Option<usize> {
        match self {
            Frame::Map { col, .. } | Frame::Seq { col, .. } => *col,
        }
    }
}

struct Loader {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    /// Comments seen before the document's root collection opened.
    doc_comments: Vec<String>,
    /// Comments for a collection about to open (indented under a key).
    upcoming: Vec<String>,
    docs: Vec<Branch>,
    root: Option<Value>,
}

impl Loader {
    fn comment(&mut self, text: &str, line: usize, col: usize, placement: Placement) {
        let text = text.to_string();
        if self.stack.is_empty() {
            self.doc_comments.push(text);
            return;
        }
        if placement == Placement::Right {
            // A same-line comment goes before the entry on that line.
            if let Some(frame) = self.stack.iter_mut().rev().find(|f| match f {
                Frame::Map { entry_line, .. } | Frame::Seq { entry_line, .. } => {
                    *entry_line == line
                }
            }) {
                match frame {
                    Frame::Map { before, .. } | Frame::Seq { before, .. } => before.push(text),
                }
                return;
            }
        }
        // An own-line comment belongs to the innermost collection whose
        // entries are indented no deeper than it.
        let n = self.stack.len();
        let mut target = 0;
        for (i, f) in self.stack.iter().enumerate().rev() {
            match f.col() {
                Some(c) if c <= col => {
                    target = i;
                    break;
                }
                None if i == n - 1 => {
                    target = i;
                    break;
                }
                _ => {}
            }
        }
        let top = target == n - 1;
        match &mut self.stack[target] {
            Frame::Map {
                key,
                col: c,
                after,
                before,
                ..
            } => {
                if top && key.is_some() && c.is_some_and(|c| col > c) {
                    // Indented under a key whose value has not started: the
                    // value's collection will hold it.
                    self.upcoming.push(text);
                } else if top && key.is_none() {
                    before.push(text);
                } else {
                    after.push(text);
                }
            }
            Frame::Seq {
                after,
                before,
                items,
                ..
            } => {
                let _ = items;
                if top {
                    before.push(text);
                } else {
                    after.push(text);
                }
            }
        }
    }

    /// Adds a finished value to the innermost collection (or makes it the
    /// document's root).
    fn push(&mut self, v: Value, line: usize) -> Result<(), String> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(v);
            return Ok(());
        };
        match frame {
            Frame::Map {
                branch,
                key,
                before,
                after,
                entry_line,
                col,
                ..
            } => match key.take() {
                None => {
                    let k = match v {
                        Value::Str(s) => s,
                        other => {
                            return Err(format!(
                                "line {line}: mapping key {other:?} is not a string (SOPS supports only string keys)"
                            ));
                        }
                    };
                    *key = Some(k);
                    *entry_line = line;
                    let _ = col;
                }
                Some(k) => {
                    branch.extend(before.drain(..).map(|c| (Key::Comment(c), Value::Null)));
                    branch.push((Key::Str(k), v));
                    branch.extend(after.drain(..).map(|c| (Key::Comment(c), Value::Null)));
                }
            },
            Frame::Seq {
                items,
                before,
                after,
                ..
            } => {
                items.extend(before.drain(..).map(Value::Comment));
                items.push(v);
                items.extend(after.drain(..).map(Value::Comment));
            }
        }
        Ok(())
    }

    /// Records where the innermost collection's current entry starts.
    /// `dash_col` is the column of the `- ` before the entry, when there
    /// is one: a block sequence's column is its dashes', not its content's.
    fn note_entry(&mut self, line: usize, col: usize, dash_col: Option<usize>) {
        match self.stack.last_mut() {
            Some(Frame::Map {
                key: None,
                col: c,
                entry_line,
                ..
            }) => {
                c.get_or_insert(col);
                *entry_line = line;
            }
            Some(Frame::Seq {
                col: c, entry_line, ..
            }) => {
                c.get_or_insert(dash_col.unwrap_or(col));
                *entry_line = line;
            }
            _ => {}
        }
    }
}

/// The column of the `-` that starts the block sequence entry whose
/// content begins at byte `at` (column `col`), if there is one.
fn dash_col(text: &str, at: Option<usize>, col: usize) -> Option<usize> {
    let before = text.get(..at?)?;
    let trimmed = before.trim_end_matches(' ');
    let spaces = before.len() - trimmed.len();
    if trimmed.ends_with('-') && spaces > 0 {
        col.checked_sub(spaces + 1)
    } else {
        None
    }
}

fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<&granit_parser::Tag>,
) -> Result<Value, String> {
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema() {
            match tag.suffix() {
                "str" => return Ok(Value::Str(text.to_string())),
                "binary" => {
                    use base64::Engine as _;
                    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    return base64::engine::general_purpose::STANDARD
                        .decode(clean)
                        .map(|b| match String::from_utf8(b) {
                            Ok(s) => Value::Str(s),
                            Err(e) => Value::Bytes(e.into_bytes()),
                        })
                        .map_err(|e| format!("!!binary value is not base64: {e}"));
                }
                _ => return Ok(resolve_plain(text)),
            }
        }
        return Ok(Value::Str(text.to_string()));
    }
    Ok(match style {
        ScalarStyle::Plain => resolve_plain(text),
        _ => Value::Str(text.to_string()),
    })
}

/// Loads a YAML stream; `Ok(None)` when no document has a `sops` entry.
///
/// # Errors
/// A message with the line of the first syntax error.
pub fn load(source: &str) -> Result<Option<Loaded>, String> {
    let mut l = Loader {
        stack: Vec::new(),
        anchors: HashMap::new(),
        doc_comments: Vec::new(),
        upcoming: Vec::new(),
        docs: Vec::new(),
        root: None,
    };
    for ev in Parser::new_from_str(source) {
        let (ev, span) = ev.map_err(|e| e.to_string())?;
        let line = span.start.line();
        let col = span.start.col();
        match ev {
            Event::Comment(c, placement) => l.comment(&c, line, col, placement),
            Event::DocumentStart(..) => {
                l.root = None;
                l.anchors.clear();
            }
            Event::DocumentEnd => {
                let mut branch: Branch = l
                    .doc_comments
                    .drain(..)
                    .map(|c| (Key::Comment(c), Value::Null))
                    .collect();
                match l.root.take() {
                    Some(Value::Map(b)) => branch.extend(b),
                    None | Some(Value::Null) => {}
                    Some(_) => {
                        return Err(
                            "a YAML document that is not a mapping (SOPS needs a mapping)".into(),
                        );
                    }
                }
                l.docs.push(branch);
            }
            Event::MappingStart(_, anchor, _) | Event::SequenceStart(_, anchor, _) => {
                l.note_entry(line, col, dash_col(source, span.start.byte_offset(), col));
                let before: Vec<String> = l.upcoming.drain(..).collect();
                let frame = if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        branch: Vec::new(),
                        key: None,
                        col: None,
                        entry_line: line,
                        before,
                        after: Vec::new(),
                        anchor,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        col: None,
                        entry_line: line,
                        before,
                        after: Vec::new(),
                        anchor,
                    }
                };
                l.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = l.stack.pop() else {
                    return Err("unbalanced collection end".into());
                };
                let (v, anchor) = match frame {
                    Frame::Map {
                        mut branch,
                        before,
                        after,
                        anchor,
                        key,
                        ..
                    } => {
                        if key.is_some() {
                            return Err(format!("line {line}: mapping key without value"));
                        }
                        branch.extend(
                            before
                                .into_iter()
                                .chain(after)
                                .map(|c| (Key::Comment(c), Value::Null)),
                        );
                        (Value::Map(branch), anchor)
                    }
                    Frame::Seq {
                        mut items,
                        before,
                        after,
                        anchor,
                        ..
                    } => {
                        items.extend(before.into_iter().chain(after).map(Value::Comment));
                        (Value::Seq(items), anchor)
                    }
                };
                if anchor != 0 {
                    l.anchors.insert(anchor, v.clone());
                }
                l.push(v, line)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                l.note_entry(line, col, dash_col(source, span.start.byte_offset(), col));
                let v = scalar_value(&text, style, tag.as_deref())?;
                if anchor != 0 {
                    l.anchors.insert(anchor, v.clone());
                }
                if !l.upcoming.is_empty() {
                    // Comments indented under a key holding a scalar: SOPS
                    // keeps them before the entry.
                    let up: Vec<String> = l.upcoming.drain(..).collect();
                    if let Some(Frame::Map { before, .. }) = l.stack.last_mut() {
                        before.extend(up);
                    }
                }
                l.push(v, line)?;
            }
            Event::Alias(id) => {
                l.note_entry(line, col, dash_col(source, span.start.byte_offset(), col));
                let v = l
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("line {line}: alias to an unknown anchor"))?;
                l.push(v, line)?;
            }
            _ => {}
        }
    }
    let mut sops = None;
    for doc in &mut l.docs {
        if let Some(s) = take_sops(doc) {
            sops.get_or_insert(s);
        }
    }
    Ok(sops.map(|sops| Loaded {
        branches: l.docs,
        sops,
    }))
}

// ---------------------------------------------------------------- emitting

#[derive(Clone, Copy, PartialEq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

/// The style go-yaml picks for a string value: its encoder's choice, then
/// the emitter's analysis (`yaml_emitter_analyze_scalar` and
/// `select_scalar_style`).
fn string_style(s: &str) -> Style {
    let wanted = if s.contains('\n') {
        Style::Literal
    } else if needs_quotes(s) {
        Style::Double
    } else {
        Style::Plain
    };
    if s.is_empty() {
        return if wanted == Style::Plain {
            Style::Plain
        } else {
            Style::Double
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = false;
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
    }
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = chars
            .get(i + 1)
            .is_none_or(|n| matches!(n, ' ' | '\t') || is_break(*n));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_by_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_ind = true,
                '#' if preceded_by_ws => block_ind = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
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
            if i + 1 == chars.len() {
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
        preceded_by_ws = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut plain_ok = true;
    let mut single_ok = true;
    let mut block_ok = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        plain_ok = false;
    }
    if trailing_space {
        block_ok = false;
    }
    if break_space {
        plain_ok = false;
        single_ok = false;
    }
    if space_break || tabs || special {
        plain_ok = false;
        single_ok = false;
    }
    if space_break || special {
        block_ok = false;
    }
    if line_breaks || block_ind {
        plain_ok = false;
    }
    let mut style = wanted;
    if style == Style::Plain && !plain_ok {
        style = Style::Single;
    }
    if style == Style::Single && !single_ok {
        style = Style::Double;
    }
    if style == Style::Literal && !block_ok {
        style = Style::Double;
    }
    style
}

fn write_double(s: &str, out: &mut String) {
    // go-yaml checks for a byte-order mark at the start of the value, not
    // at each character, so one leading BOM escapes the whole value.
    let bom = s.starts_with('\u{FEFF}');
    out.push('"');
    for c in s.chars() {
        if bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
            out.push('\\');
            match c {
                '\0' => out.push('0'),
                '\u{7}' => out.push('a'),
                '\u{8}' => out.push('b'),
                '\t' => out.push('t'),
                '\n' => out.push('n'),
                '\u{b}' => out.push('v'),
                '\u{c}' => out.push('f'),
                '\r' => out.push('r'),
                '\u{1b}' => out.push('e'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '\u{85}' => out.push('N'),
                '\u{a0}' => out.push('_'),
                '\u{2028}' => out.push('L'),
                '\u{2029}' => out.push('P'),
                c if (c as u32) <= 0xFF => out.push_str(&format!("x{:02X}", c as u32)),
                c if (c as u32) <= 0xFFFF => out.push_str(&format!("u{:04X}", c as u32)),
                c => out.push_str(&format!("U{:08X}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

/// A single-quoted scalar; a line break in it (only U+2028/U+2029 get
/// here) continues at `indent`, as go-yaml writes it.
fn write_single(s: &str, indent: usize, out: &mut String) {
    out.push('\'');
    let mut breaks = false;
    for c in s.chars() {
        if is_break(c) {
            if !breaks && c == '\n' {
                out.push('\n');
            }
            out.push(c);
            breaks = true;
        } else {
            if breaks {
                out.extend(std::iter::repeat_n(' ', indent));
            }
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
            breaks = false;
        }
    }
    out.push('\'');
}

fn write_literal(s: &str, indent: usize, out: &mut String) {
    out.push('|');
    if s.starts_with(' ') || s.starts_with(is_break) {
        out.push_str(&BEST_INDENT.to_string());
    }
    let mut rev = s.chars().rev();
    let last = rev.next();
    let before_last = rev.next();
    match (last, before_last) {
        (Some(l), _) if !is_break(l) => out.push('-'),
        (Some(_), None) => out.push('+'),
        (Some(_), Some(b)) if is_break(b) => out.push('+'),
        (None, _) => out.push('-'),
        _ => {}
    }
    out.push('\n');
    let mut breaks = true;
    for c in s.chars() {
        if is_break(c) {
            out.push(c);
            breaks = true;
        } else {
            if breaks {
                for _ in 0..indent {
                    out.push(' ');
                }
            }
            out.push(c);
            breaks = false;
        }
    }
    if !breaks {
        out.push('\n');
    }
}

const BEST_INDENT: usize = 4;

/// go-yaml v3's indentation of a nested block: inside a sequence entry it
/// skips the `- `; elsewhere it goes to the next multiple of the indent.
fn child_indent(indent: usize, in_seq: bool) -> usize {
    if in_seq {
        indent + 2
    } else {
        BEST_INDENT * ((indent + BEST_INDENT) / BEST_INDENT)
    }
}

/// A mapping or list written in block style (not `{}` / `[]`).
fn is_block_collection(v: &Value) -> bool {
    match v {
        Value::Map(b) => b.iter().any(|(k, _)| matches!(k, Key::Str(_))),
        Value::Seq(items) => items.iter().any(|i| !matches!(i, Value::Comment(_))),
        _ => false,
    }
}

struct Emitter {
    out: String,
    /// go-yaml's pending foot comment: trailing comments of a list whose
    /// last entry is a block collection ride on that collection's end event
    /// and are written after the next entry's value starts, at that
    /// entry's collection indent (`yaml_emitter_process_foot_comment`).
    pending_foot: Vec<String>,
    /// Where the last foot comment was written: the next line at the same
    /// indent is preceded by a blank line (go-yaml's `foot_indent`).
    foot_indent: Option<usize>,
}

impl Emitter {
    /// Starts a new line at `indent` unless the output is already at the
    /// start of a line (then only the spaces).
    fn line(&mut self, indent: usize) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        if self.foot_indent.take() == Some(indent) {
            self.out.push('\n');
        }
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    fn comment(&mut self, c: &str, indent: usize) {
        self.line(indent);
        self.out.push('#');
        self.out.push_str(c);
        self.out.push('\n');
    }

    /// Writes a leaf after `key:` or `-` (the separating space included);
    /// `indent` is where a literal block's lines go.
    fn leaf(&mut self, v: &Value, indent: usize) -> Result<(), String> {
        self.out.push(' ');
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&match go_format_float_g(*f).as_str() {
                "+Inf" => ".inf".to_string(),
                "-Inf" => "-.inf".to_string(),
                "NaN" => ".nan".to_string(),
                s => s.to_string(),
            }),
            Value::Time(t) => self.out.push_str(t),
            Value::Bytes(b) => {
                use base64::Engine as _;
                self.out.push_str("!!binary ");
                self.out
                    .push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            }
            Value::Str(s) => self.string(s, indent),
            Value::Comment(_) | Value::Map(_) | Value::Seq(_) => {
                return Err("internal: not a leaf".into());
            }
        }
        Ok(())
    }

    fn string(&mut self, s: &str, indent: usize) {
        if s == "<<" {
            self.out.push_str("!!merge <<");
            return;
        }
        match string_style(s) {
            Style::Plain => self.out.push_str(s),
            Style::Single => write_single(s, indent, &mut self.out),
            Style::Double => write_double(s, &mut self.out),
            Style::Literal => write_literal(s, indent, &mut self.out),
        }
    }

    /// Writes a mapping key and its `:`; a key go-yaml cannot write as a
    /// simple key (multi-line, or longer than 128 bytes) becomes a complex
    /// `? key` / `: value` pair.
    fn key(&mut self, k: &str, indent: usize) {
        if k == "<<" {
            // go-yaml writes the merge key with its tag.
            self.out.push_str("!!merge <<:");
            return;
        }
        let style = string_style(k);
        if style == Style::Literal || k.len() > 128 {
            self.out.push_str("? ");
            self.string(k, child_indent(indent, false));
            self.line(indent);
            self.out.push(':');
            return;
        }
        match style {
            Style::Plain => self.out.push_str(k),
            Style::Single => write_single(k, indent, &mut self.out),
            Style::Double | Style::Literal => write_double(k, &mut self.out),
        }
        self.out.push(':');
    }

    /// A value after `key:` (in a mapping at `indent`) or after `-` (in a
    /// sequence at `indent`).
    /// Writes the pending foot comment at `indent`.
    fn flush_foot(&mut self, indent: usize) {
        if self.pending_foot.is_empty() {
            return;
        }
        for c in std::mem::take(&mut self.pending_foot) {
            self.comment(&c, indent);
        }
        self.foot_indent = Some(indent);
    }

    fn value(&mut self, v: &Value, indent: usize, in_seq: bool) -> Result<(), String> {
        let result = self.value_inner(v, indent, in_seq);
        if !is_block_collection(v) {
            self.flush_foot(indent);
        }
        result
    }

    fn value_inner(&mut self, v: &Value, indent: usize, in_seq: bool) -> Result<(), String> {
        let child = child_indent(indent, in_seq);
        if is_block_collection(v) {
            // go-yaml processes the foot comment right after a collection
            // starts, before its content.
            self.flush_foot(indent);
        }
        match v {
            Value::Map(b) if b.iter().any(|(k, _)| matches!(k, Key::Str(_))) => {
                if in_seq {
                    self.out.push(' ');
                    self.map(b, child, true)
                } else {
                    self.map(b, child, false)
                }
            }
            Value::Seq(items) if items.iter().any(|i| !matches!(i, Value::Comment(_))) => {
                if in_seq {
                    self.out.push(' ');
                    self.seq(items, child, true)
                } else {
                    self.seq(items, child, false)
                }
            }
            Value::Map(_) => {
                self.out.push_str(" {}");
                Ok(())
            }
            Value::Seq(_) => {
                self.out.push_str(" []");
                Ok(())
            }
            leaf => self.leaf(leaf, child),
        }
    }

    fn map(&mut self, b: &Branch, indent: usize, inline_first: bool) -> Result<(), String> {
        let mut first = true;
        for (k, v) in b {
            match k {
                Key::Comment(c) => self.comment(c, indent),
                Key::Str(k) => {
                    if !(first && inline_first) {
                        self.line(indent);
                    }
                    first = false;
                    self.key(k, indent);
                    self.value(v, indent, false)?;
                }
            }
        }
        Ok(())
    }

    fn seq(&mut self, items: &[Value], indent: usize, inline_first: bool) -> Result<(), String> {
        let mut first = true;
        let last_entry = items.iter().rposition(|i| !matches!(i, Value::Comment(_)));
        let trailing_after_collection = last_entry.is_some_and(|l| is_block_collection(&items[l]));
        for (i, item) in items.iter().enumerate() {
            if let Value::Comment(c) = item {
                if trailing_after_collection && last_entry.is_some_and(|l| i > l) {
                    self.pending_foot.push(c.clone());
                } else {
                    self.comment(c, indent);
                }
                continue;
            }
            if !(first && inline_first) {
                self.line(indent);
            }
            first = false;
            self.out.push('-');
            self.value(item, indent, true)?;
        }
        Ok(())
    }
}

/// Writes the documents as SOPS's YAML store does.
///
/// # Errors
/// Internal inconsistencies only.
pub fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let mut e = Emitter {
        out: String::new(),
        pending_foot: Vec::new(),
        foot_indent: None,
    };
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            e.line(0);
            e.out.push_str("---\n");
        }
        if !b.iter().any(|(k, _)| matches!(k, Key::Str(_))) {
            for (k, _) in b {
                if let Key::Comment(c) = k {
                    e.comment(c, 0);
                }
            }
            e.line(0);
            e.out.push_str("{}\n");
            continue;
        }
        e.map(b, 0, false)?;
        // A foot comment still pending goes out with the document's end.
        e.flush_foot(0);
    }
    if !e.out.is_empty() && !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    Ok(e.out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_go_yaml_does() {
        assert_eq!(resolve_plain("42"), Value::Int(42));
        assert_eq!(resolve_plain("0x1F"), Value::Int(31));
        assert_eq!(resolve_plain("017"), Value::Int(15));
        assert_eq!(resolve_plain("1_000"), Value::Int(1000));
        assert_eq!(resolve_plain("1e3"), Value::Float(1000.0));
        assert_eq!(resolve_plain("yes"), Value::Str("yes".into()));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(
            resolve_plain("2001-12-14"),
            Value::Time("2001-12-14T00:00:00Z".into())
        );
        assert_eq!(resolve_plain("12:30"), Value::Str("12:30".into()));
    }

    #[test]
    fn strings_pick_go_yaml_styles() {
        assert_eq!(string_style("hello"), Style::Plain);
        assert_eq!(string_style("yes"), Style::Double);
        assert_eq!(string_style("12:30"), Style::Double);
        assert_eq!(string_style(" lead"), Style::Single);
        assert_eq!(string_style("a: b"), Style::Single);
        assert_eq!(string_style("x\ty"), Style::Double);
        assert_eq!(string_style("a\nb"), Style::Literal);
        assert_eq!(string_style("a \nb"), Style::Double);
        assert_eq!(string_style(""), Style::Double);
        assert_eq!(string_style("a,b"), Style::Plain);
    }

    #[test]
    fn comments_land_in_the_collection_they_are_indented_into() {
        let l =
            load("# top\na:\n    # in a\n    b: 1\n    # foot of a\n# before c\nc: 2\nsops: {}\n")
                .expect("loads")
                .expect("sops");
        let out = String::from_utf8(emit(&l.branches).expect("emits")).expect("utf8");
        assert_eq!(
            out,
            "# top\na:\n    # in a\n    b: 1\n    # foot of a\n# before c\nc: 2\n"
        );
    }
}
