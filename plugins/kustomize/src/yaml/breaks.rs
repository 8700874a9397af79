//! The YAML 1.1 line breaks yaml.v3 reads and YAML 1.2 does not: U+0085
//! (NEL), U+2028 (line separator) and U+2029 (paragraph separator).
//!
//! yaml.v3 ends a line at any of them, so they shape the document (a plain
//! scalar or a comment stops there; the next text starts a new line). In
//! values, a NEL reads as `\n`, while a line or paragraph separator is kept
//! as itself where a break is kept: in literal blocks, and in folded,
//! quoted or plain scalars, where a break (or run of breaks) that starts
//! with one is not folded into a space. The parser reads a copy of the
//! text with each of them made `\n` ([`normalize`]: same structure as
//! yaml.v3 sees), then [`flow`], [`literal`] and [`folded`] put the
//! separators back into the values.

/// Whether `c` is a line break for yaml.v3.
fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Whether `text` has any of the three.
pub fn has_v1_1_breaks(text: &str) -> bool {
    text.contains(['\u{85}', '\u{2028}', '\u{2029}'])
}

/// Whether `text` has a line or paragraph separator (the breaks that
/// reading a [`normalize`]d copy gets wrong in values; a NEL reads as
/// `\n` anyway).
pub fn has_separators(text: &str) -> bool {
    text.contains(['\u{2028}', '\u{2029}'])
}

/// `text` with the three made `\n`: one character for one, so positions
/// (in characters) are the same in both.
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
                '\n'
            } else {
                c
            }
        })
        .collect()
}

/// How a flow scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Unquoted.
    Plain,
    /// In `'…'`.
    Single,
    /// In `"…"`, with escapes.
    Double,
}

/// A line break as yaml.v3 copies it into a value: CR LF, CR, LF and NEL
/// as `\n`; the separators as themselves. Advances past it.
fn read_line(chars: &[char], i: &mut usize, out: &mut String) {
    match chars[*i] {
        '\r' if chars.get(*i + 1) == Some(&'\n') => {
            *i += 2;
            out.push('\n');
        }
        '\r' | '\n' | '\u{85}' => {
            *i += 1;
            out.push('\n');
        }
        c => {
            *i += 1;
            out.push(c);
        }
    }
}

/// The value of the flow scalar written as `raw` (quotes included), read
/// as yaml.v3 reads it.
///
/// # Errors
/// A message for an escape yaml.v3 refuses.
pub fn flow(raw: &str, style: Flow) -> Result<String, String> {
    let chars: Vec<char> = raw.chars().collect();
    let quote = match style {
        Flow::Plain => None,
        Flow::Single => Some('\''),
        Flow::Double => Some('"'),
    };
    let mut i = usize::from(quote.is_some());
    let end = chars.len() - usize::from(quote.is_some() && chars.len() > 1);
    let mut s = String::new();
    while i < end {
        let mut leading_blanks = false;
        while i < end && !is_blank(chars[i]) && !is_break(chars[i]) {
            let c = chars[i];
            if style == Flow::Single && c == '\'' && chars.get(i + 1) == Some(&'\'') {
                s.push('\'');
                i += 2;
            } else if style == Flow::Double && c == '\\' {
                match chars.get(i + 1) {
                    Some(&b) if is_break(b) => {
                        // An escaped line break: the lines join.
                        i += 1;
                        let mut skipped = String::new();
                        read_line(&chars, &mut i, &mut skipped);
                        leading_blanks = true;
                        break;
                    }
                    Some(&e) => {
                        i += 2;
                        s.push(escape(e, &chars, &mut i)?);
                    }
                    None => return Err("a backslash ends the string".into()),
                }
            } else {
                s.push(c);
                i += 1;
            }
        }
        let mut whitespaces = String::new();
        let mut leading_break = String::new();
        let mut trailing_breaks = String::new();
        while i < end && (is_blank(chars[i]) || is_break(chars[i])) {
            if is_blank(chars[i]) {
                if !leading_blanks {
                    whitespaces.push(chars[i]);
                }
                i += 1;
            } else if !leading_blanks {
                whitespaces.clear();
                read_line(&chars, &mut i, &mut leading_break);
                leading_blanks = true;
            } else {
                read_line(&chars, &mut i, &mut trailing_breaks);
            }
        }
        if leading_blanks {
            if leading_break.starts_with('\n') {
                if trailing_breaks.is_empty() {
                    s.push(' ');
                } else {
                    s.push_str(&trailing_breaks);
                }
            } else {
                s.push_str(&leading_break);
                s.push_str(&trailing_breaks);
            }
        } else {
            s.push_str(&whitespaces);
        }
    }
    Ok(s)
}

/// A double-quoted escape `\e` (the letter read; `i` past it, and past
/// the hex digits it reads).
fn escape(e: char, chars: &[char], i: &mut usize) -> Result<char, String> {
    let digits = match e {
        '0' => return Ok('\0'),
        'a' => return Ok('\u{7}'),
        'b' => return Ok('\u{8}'),
        't' | '\t' => return Ok('\t'),
        'n' => return Ok('\n'),
        'v' => return Ok('\u{b}'),
        'f' => return Ok('\u{c}'),
        'r' => return Ok('\r'),
        'e' => return Ok('\u{1b}'),
        ' ' | '"' | '/' | '\\' => return Ok(e),
        'N' => return Ok('\u{85}'),
        '_' => return Ok('\u{a0}'),
        'L' => return Ok('\u{2028}'),
        'P' => return Ok('\u{2029}'),
        'x' => 2,
        'u' => 4,
        'U' => 8,
        _ => return Err(format!("unknown escape \\{e}")),
    };
    let hex: String = chars.iter().skip(*i).take(digits).collect();
    *i += digits;
    u32::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == digits)
        .and_then(char::from_u32)
        .ok_or_else(|| format!("bad escape \\{e}{hex}"))
}

/// A literal block scalar's `value` as read from the normalized text, with
/// its line breaks made the ones written: `source` is the original text
/// (as characters) and `start` where the scalar's content starts. A
/// literal block keeps its breaks in order (chomping drops only trailing
/// ones), so the value's `\n`s are the first breaks after the header line.
pub fn literal(value: &str, source: &[char], start: usize) -> String {
    // Back over the indentation and empty lines to the header line.
    let mut h = start.min(source.len());
    while h > 0 && (is_blank(source[h - 1]) || is_break(source[h - 1])) {
        h -= 1;
    }
    let mut i = h;
    while i < source.len() && !is_break(source[i]) {
        i += 1;
    }
    let mut header = String::new();
    if i < source.len() {
        read_line(source, &mut i, &mut header);
    }
    let mut written = Vec::new();
    while i < source.len() {
        if is_break(source[i]) {
            let mut b = String::new();
            read_line(source, &mut i, &mut b);
            written.push(b);
        } else {
            i += 1;
        }
    }
    let mut breaks = written.into_iter();
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\n' {
            match breaks.next() {
                Some(b) => out.push_str(&b),
                None => out.push('\n'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A folded block scalar read as yaml.v3 reads it, from the original text
/// (`source`, as characters; `start` where its content starts): lines end
/// at any break, and a line break folds into a space only when it is a
/// `\n` (a separator stays). `None` when the header gives an indentation
/// indicator or no content line is found (the caller keeps its value).
pub fn folded(source: &[char], start: usize) -> Option<String> {
    let mut h = start.min(source.len());
    while h > 0 && (is_blank(source[h - 1]) || is_break(source[h - 1])) {
        h -= 1;
    }
    let line_start = source[..h]
        .iter()
        .rposition(|&c| is_break(c))
        .map_or(0, |i| i + 1);
    let header: String = source[line_start..h].iter().collect();
    let header = header.split(" #").next().unwrap_or("").trim_end();
    let hints = header.trim_end_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
    let hints = &header[hints.len()..];
    if hints.contains(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let chomp = hints.chars().find(|&c| c == '+' || c == '-');
    // The lines after the header: (leading spaces, text, break).
    let mut i = h;
    while i < source.len() && !is_break(source[i]) {
        i += 1;
    }
    if i < source.len() {
        read_line(source, &mut i, &mut String::new());
    }
    let mut lines: Vec<(usize, String, String)> = Vec::new();
    while i < source.len() {
        let mut spaces = 0;
        while i < source.len() && source[i] == ' ' {
            spaces += 1;
            i += 1;
        }
        let mut text = String::new();
        while i < source.len() && !is_break(source[i]) {
            text.push(source[i]);
            i += 1;
        }
        let mut brk = String::new();
        if i < source.len() {
            read_line(source, &mut i, &mut brk);
        }
        lines.push((spaces, text, brk));
    }
    let mut max_empty = 0;
    let mut indent = None;
    for (spaces, text, _) in &lines {
        if text.is_empty() {
            max_empty = max_empty.max(*spaces);
        } else {
            indent = Some(max_empty.max(*spaces).max(1));
            break;
        }
    }
    let indent = indent?;
    let mut s = String::new();
    let mut leading_break = String::new();
    let mut trailing_breaks = String::new();
    let mut leading_blank = false;
    let mut started = false;
    for (spaces, text, brk) in &lines {
        // Past the indentation, a line's extra spaces are its text.
        let body: String = " ".repeat(spaces.saturating_sub(indent)) + text;
        if *spaces < indent && !text.is_empty() {
            break;
        }
        if body.is_empty() {
            trailing_breaks.push_str(brk);
            continue;
        }
        if *spaces < indent {
            break;
        }
        let trailing_blank = body.starts_with([' ', '\t']);
        if started && leading_break.starts_with('\n') && !leading_blank && !trailing_blank {
            if trailing_breaks.is_empty() {
                s.push(' ');
            }
        } else {
            s.push_str(&leading_break);
        }
        s.push_str(&trailing_breaks);
        trailing_breaks.clear();
        leading_blank = trailing_blank;
        s.push_str(&body);
        leading_break = brk.clone();
        started = true;
    }
    if chomp != Some('-') {
        s.push_str(&leading_break);
    }
    if chomp == Some('+') {
        s.push_str(&trailing_breaks);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_separator_starting_a_break_run_is_kept_not_folded() {
        let flow1 = |raw: &str, style| flow(raw, style).expect("reads");
        assert_eq!(flow1("'a\u{2028}\n    b'", Flow::Single), "a\u{2028}\nb");
        assert_eq!(flow1("'a \u{2028}  b'", Flow::Single), "a\u{2028}b");
        assert_eq!(flow1("'a\n  \u{2029}b'", Flow::Single), "a\u{2029}b");
        assert_eq!(
            flow1("\"a\u{2028}\\tb\\u00e9\"", Flow::Double),
            "a\u{2028}\tb\u{e9}"
        );
        assert_eq!(flow1("\"a\\\n  \u{2028} b\"", Flow::Double), "a\u{2028}b");
        assert_eq!(flow1("a\u{2028}  b", Flow::Plain), "a\u{2028}b");
        assert_eq!(flow1("'it''s \u{2028}'", Flow::Single), "it's\u{2028}");
    }

    #[test]
    fn plain_folding_is_as_before() {
        let flow1 = |raw: &str, style| flow(raw, style).expect("reads");
        assert_eq!(flow1("'a\n   b\n\n  c '", Flow::Single), "a b\nc ");
        assert_eq!(flow1("a\n  b", Flow::Plain), "a b");
    }

    #[test]
    fn folded_blocks_fold_only_newlines() {
        let read = |t: &str| {
            let src: Vec<char> = t.chars().collect();
            let start = t.find('x').map(|b| t[..b].chars().count()).unwrap_or(0);
            folded(&src, start)
        };
        assert_eq!(
            read("v: >\n  x\u{2028}\n  y\n").as_deref(),
            Some("x\u{2028}\ny\n")
        );
        assert_eq!(
            read("v: >\n  x\n  y\u{2029}\n").as_deref(),
            Some("x y\u{2029}")
        );
        assert_eq!(
            read("v: >+\n  x\u{2028}\n\n").as_deref(),
            Some("x\u{2028}\n\n")
        );
        assert_eq!(
            read("v: >\n  x\n   y\n\n  z\n").as_deref(),
            Some("x\n y\n\nz\n")
        );
        assert_eq!(read("v: >2\n   x\n").as_deref(), None);
    }

    #[test]
    fn literal_blocks_keep_the_separators_written() {
        let src: Vec<char> = "v: |\n  a\u{2028}\n  b\u{2029}\n".chars().collect();
        assert_eq!(literal("a\n\nb\n", &src, 7), "a\u{2028}\nb\u{2029}");
    }
}
