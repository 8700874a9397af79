//! The lexer: Go `text/template` source into tokens, with `{{-`/`-}}`
//! whitespace trimming applied to the text around actions and comments
//! dropped, as Go's lexer does.

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Text outside actions (already trimmed).
    Text(String),
    /// `{{`.
    Left,
    /// `}}`.
    Right,
    /// A function name or keyword-like identifier.
    Ident(String),
    /// `.name` (one segment).
    Field(String),
    /// `$name` or `$`.
    Var(String),
    /// `.` alone.
    Dot,
    /// `true`/`false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// A number or character constant, as written.
    Number(String),
    /// A string constant, unquoted.
    Str(String),
    /// `|`.
    Pipe,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `=`.
    Assign,
    /// `:=`.
    Declare,
    /// `,`.
    Comma,
    /// A keyword: `if`, `else`, `end`, `range`, `with`, `define`,
    /// `template`, `block`, `break`, `continue`.
    Keyword(&'static str),
    /// End of input.
    Eof,
}

/// A token, its line and whether whitespace came right before it (which
/// ends a field chain: `$x .y` is two arguments, `$x.y` one).
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// 1-based line it starts on.
    pub line: u32,
    /// Whitespace precedes it.
    pub spaced: bool,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// A lexing error: line and message.
pub type LexError = (u32, String);

/// Splits `src` into tokens.
///
/// # Errors
/// Unterminated actions, strings, comments and unexpected characters, with
/// their line.
pub fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut line: u32 = 1;
    let mut trim_next_text = false;
    while i < b.len() {
        // Text up to the next "{{".
        let start = i;
        let next = src[i..].find("{{").map(|p| p + i).unwrap_or(b.len());
        let mut text = &src[start..next];
        let text_line = line;
        line += count_lines(text);
        i = next;
        let mut trim_left = false;
        if i < b.len() {
            // "{{- " trims the text before it.
            let after = &b[i + 2..];
            if after.len() >= 2 && after[0] == b'-' && is_space(after[1]) {
                trim_left = true;
            }
        }
        if trim_next_text {
            text = text.trim_start_matches(is_space_char);
        }
        if trim_left {
            text = text.trim_end_matches(is_space_char);
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                line: text_line,
                spaced: false,
            });
        }
        trim_next_text = false;
        if i >= b.len() {
            break;
        }
        // An action.
        let action_line = line;
        i += 2;
        if trim_left {
            i += 2;
        }
        // A comment: "{{/*" … "*/}}".
        let rest = &src[i..];
        if rest.starts_with("/*") {
            let Some(end) = rest.find("*/") else {
                return Err((action_line, "unclosed comment".into()));
            };
            line += count_lines(&rest[..end]);
            let mut j = i + end + 2;
            let tail = &src[j..];
            if tail.len() >= 4 && is_space(tail.as_bytes()[0]) && tail[1..].starts_with("-}}") {
                trim_next_text = true;
                j += 4;
            } else if tail.starts_with("}}") {
                j += 2;
            } else {
                return Err((line, "comment ends before closing delimiter".into()));
            }
            i = j;
            continue;
        }
        out.push(Token {
            tok: Tok::Left,
            line: action_line,
            spaced: false,
        });
        let mut spaced = true;
        let mut depth = 0i32;
        loop {
            if i >= b.len() {
                return Err((line, "unclosed action".into()));
            }
            let c = b[i];
            if is_space(c) {
                // " -}}" closes and trims what follows.
                if b[i + 1..].starts_with(b"-}}") {
                    if depth > 0 {
                        return Err((line, "unclosed left paren".into()));
                    }
                    if c == b'\n' {
                        line += 1;
                    }
                    i += 4;
                    trim_next_text = true;
                    out.push(Token {
                        tok: Tok::Right,
                        line,
                        spaced: true,
                    });
                    break;
                }
                if c == b'\n' {
                    line += 1;
                }
                i += 1;
                spaced = true;
                continue;
            }
            if b[i..].starts_with(b"}}") {
                if depth > 0 {
                    return Err((line, "unclosed left paren".into()));
                }
                i += 2;
                out.push(Token {
                    tok: Tok::Right,
                    line,
                    spaced,
                });
                break;
            }
            let tok_line = line;
            let (tok, len) = match c {
                b'|' => (Tok::Pipe, 1),
                b'(' => {
                    depth += 1;
                    (Tok::LParen, 1)
                }
                b')' => {
                    depth -= 1;
                    if depth < 0 {
                        return Err((line, "unexpected right paren".into()));
                    }
                    (Tok::RParen, 1)
                }
                b',' => (Tok::Comma, 1),
                b'=' => (Tok::Assign, 1),
                b':' => {
                    if b.get(i + 1) == Some(&b'=') {
                        (Tok::Declare, 2)
                    } else {
                        return Err((line, "expected :=".into()));
                    }
                }
                b'"' => {
                    let (s, len) = lex_quoted(&src[i..]).map_err(|m| (line, m))?;
                    (Tok::Str(s), len)
                }
                b'`' => {
                    let Some(end) = src[i + 1..].find('`') else {
                        return Err((line, "unterminated raw quoted string".into()));
                    };
                    let s = &src[i + 1..i + 1 + end];
                    line += count_lines(s);
                    (Tok::Str(s.to_string()), end + 2)
                }
                b'\'' => {
                    let (v, len) = lex_char(&src[i..]).map_err(|m| (line, m))?;
                    (Tok::Number(v.to_string()), len)
                }
                b'$' => {
                    let len = 1 + ident_len(&b[i + 1..]);
                    (Tok::Var(src[i..i + len].to_string()), len)
                }
                b'.' => {
                    if b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                        let len = number_len(&b[i..]);
                        (Tok::Number(src[i..i + len].to_string()), len)
                    } else {
                        let n = ident_len(&b[i + 1..]);
                        if n == 0 {
                            (Tok::Dot, 1)
                        } else {
                            (Tok::Field(src[i + 1..i + 1 + n].to_string()), n + 1)
                        }
                    }
                }
                b'0'..=b'9' | b'+' | b'-' => {
                    let len = number_len(&b[i..]);
                    if len == 0 || (len == 1 && !c.is_ascii_digit()) {
                        return Err((line, format!("bad character {:?}", c as char)));
                    }
                    (Tok::Number(src[i..i + len].to_string()), len)
                }
                c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                    let n = ident_len(&b[i..]);
                    let word = &src[i..i + n];
                    let tok = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(w.to_string()),
                        },
                    };
                    (tok, n.max(1))
                }
                other => {
                    return Err((line, format!("unexpected {:?} in command", other as char)));
                }
            };
            out.push(Token {
                tok,
                line: tok_line,
                spaced,
            });
            spaced = false;
            i += len;
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        spaced: true,
    });
    Ok(out)
}

fn count_lines(s: &str) -> u32 {
    s.bytes().filter(|&c| c == b'\n').count() as u32
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn ident_len(b: &[u8]) -> usize {
    b.iter()
        .take_while(|&&c| c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80)
        .count()
}

/// Length of a Go number literal at the start of `b` (sign included).
fn number_len(b: &[u8]) -> usize {
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut hex = false;
    if b.len() > i + 1 && b[i] == b'0' && matches!(b[i + 1], b'x' | b'X') {
        hex = true;
        i += 2;
    }
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_digit()
            || c == b'_'
            || c == b'.'
            || (hex && c.is_ascii_hexdigit())
            || (!hex && matches!(c, b'o' | b'O' | b'b' | b'B') && i > 0);
        if ok {
            i += 1;
            continue;
        }
        if (!hex && matches!(c, b'e' | b'E')) || (hex && matches!(c, b'p' | b'P')) {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            continue;
        }
        break;
    }
    i
}

/// Unquotes a Go interpreted string literal at the start of `s`; returns it
/// and the length consumed.
fn lex_quoted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("unterminated quoted string".into()),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    break;
                };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            let Some((_, h)) = chars.next() else {
                                return Err("unterminated quoted string".into());
                            };
                            v = v * 16 + h.to_digit(16).ok_or("invalid syntax")?;
                        }
                        if e == 'x' {
                            // A byte; charts use it for ASCII.
                            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        } else {
                            out.push(char::from_u32(v).ok_or("invalid syntax")?);
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let Some((_, o)) = chars.next() else {
                                return Err("unterminated quoted string".into());
                            };
                            v = v * 8 + o.to_digit(8).ok_or("invalid syntax")?;
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    _ => return Err("invalid syntax".into()),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

/// A Go character constant at the start of `s`: its code point and length.
fn lex_char(s: &str) -> Result<(u32, usize), String> {
    let mut it = s.char_indices().skip(1);
    let (_, c) = it.next().ok_or("unterminated character constant")?;
    let v = if c == '\\' {
        let (_, e) = it.next().ok_or("unterminated character constant")?;
        match e {
            'n' => '\n' as u32,
            't' => '\t' as u32,
            'r' => '\r' as u32,
            '\\' => '\\' as u32,
            '\'' => '\'' as u32,
            '0' => 0,
            _ => return Err("invalid character constant".into()),
        }
    } else {
        c as u32
    };
    match it.next() {
        Some((i, '\'')) => Ok((v, i + 1)),
        _ => Err("unterminated character constant".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s)
            .map(|t| t.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn trim_markers_eat_surrounding_space() {
        assert_eq!(
            toks("a \n {{- 3 -}} \n b"),
            vec![
                Tok::Text("a".into()),
                Tok::Left,
                Tok::Number("3".into()),
                Tok::Right,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_vanish_and_still_trim() {
        assert_eq!(
            toks("a {{- /* x\ny */ -}} b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into()), Tok::Eof]
        );
    }

    #[test]
    fn negative_numbers_are_not_trim_markers() {
        assert_eq!(
            toks("{{-3}}"),
            vec![Tok::Left, Tok::Number("-3".into()), Tok::Right, Tok::Eof]
        );
    }

    #[test]
    fn fields_and_variables_chain() {
        assert_eq!(
            toks("{{$x.a .b}}"),
            vec![
                Tok::Left,
                Tok::Var("$x".into()),
                Tok::Field("a".into()),
                Tok::Field("b".into()),
                Tok::Right,
                Tok::Eof
            ]
        );
    }
}
