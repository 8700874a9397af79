//! The JSON store (and the binary store, which is JSON with one `data`
//! string): objects keep their key order and duplicates, numbers read as
//! floats (Go's `encoding/json` tokens), and output is what SOPS writes —
//! Go's `json.Marshal` per value, re-indented with a tab, plus a newline.

use crate::Loaded;
use crate::metadata::take_sops;
use crate::tree::{Branch, Key, Value, go_json_float};

/// Loads a JSON document; `Ok(None)` when it has no `sops` entry.
///
/// # Errors
/// A message saying where the JSON is malformed.
pub fn load(text: &str) -> Result<Option<Loaded>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(format!(
            "expected a JSON object at byte {}, found {}",
            p.at,
            p.describe()
        ));
    }
    let mut branch = match p.value(0)? {
        Value::Map(b) => b,
        _ => return Err("expected a JSON object".into()),
    };
    p.ws();
    // Go's decoder reads one value and ignores what follows it; SOPS does
    // the same, but trailing data in an encrypted file means truncation or
    // concatenation, which deserves an error.
    if p.at != p.s.len() {
        return Err(format!(
            "unexpected data after the JSON object at byte {}",
            p.at
        ));
    }
    Ok(take_sops(&mut branch).map(|sops| Loaded {
        branches: vec![branch],
        sops,
    }))
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the input (truncated?)".into(),
            Some(c) => format!("{:?}", c as char),
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at byte {}, found {}",
                c as char,
                self.at,
                self.describe()
            ))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 512 {
            return Err("nesting deeper than 512 levels".into());
        }
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut b: Branch = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Value::Map(b));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(format!(
                            "expected an object key at byte {}, found {}",
                            self.at,
                            self.describe()
                        ));
                    }
                    let k = self.string()?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    b.push((Key::Str(k), v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Value::Map(b));
                        }
                        _ => {
                            return Err(format!(
                                "expected ',' or '}}' at byte {}, found {}",
                                self.at,
                                self.describe()
                            ));
                        }
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Value::Seq(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::Seq(items));
                        }
                        _ => {
                            return Err(format!(
                                "expected ',' or ']' at byte {}, found {}",
                                self.at,
                                self.describe()
                            ));
                        }
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(format!(
                "expected a JSON value at byte {}, found {}",
                self.at,
                self.describe()
            )),
        }
    }

    fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.s[self.at..].starts_with(w.as_bytes()) {
            self.at += w.len();
            Ok(v)
        } else {
            Err(format!("invalid literal at byte {}", self.at))
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).map_err(|e| e.to_string())?;
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float)
            .ok_or_else(|| format!("invalid number {text:?} at byte {start}"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.at..self.at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("invalid \\u escape at byte {}", self.at))?;
        self.at += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!("unterminated string starting at byte {start}"));
            };
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(format!("unterminated string starting at byte {start}"));
                    };
                    self.at += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.at..].starts_with(b"\\u")
                            {
                                let save = self.at;
                                self.at += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.at = save;
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(format!("invalid escape at byte {}", self.at - 1)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => {
                    return Err(format!(
                        "control character in string at byte {}",
                        self.at - 1
                    ));
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

/// Go's `json.Marshal` of a string (HTML-safe escaping).
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push('\t');
    }
}

fn write_value(v: &Value, depth: usize, out: &mut String) -> Result<(), String> {
    use base64::Engine as _;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(format!(
                    "json: unsupported value: {}",
                    crate::tree::go_format_float_f(*f)
                ));
            }
            out.push_str(&go_json_float(*f));
        }
        Value::Str(s) | Value::Time(s) => quote(s, out),
        Value::Bytes(b) => quote(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Value::Comment(_) => {}
        Value::Seq(items) => {
            let items: Vec<&Value> = items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_value(item, depth + 1, out)?;
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Map(b) => write_map(b, depth, out)?,
    }
    Ok(())
}

fn write_map(b: &Branch, depth: usize, out: &mut String) -> Result<(), String> {
    let entries: Vec<(&String, &Value)> = b
        .iter()
        .filter_map(|(k, v)| match k {
            Key::Str(s) => Some((s, v)),
            Key::Comment(_) => None,
        })
        .collect();
    if entries.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        indent(out, depth + 1);
        quote(k, out);
        out.push_str(": ");
        write_value(v, depth + 1, out)?;
    }
    indent(out, depth);
    out.push('}');
    Ok(())
}

/// Writes the (single) document as SOPS's JSON store does.
///
/// # Errors
/// When a value has no JSON form (NaN, infinities).
pub fn emit(branches: &[Branch]) -> Result<Vec<u8>, String> {
    let empty = Vec::new();
    let b = branches.first().unwrap_or(&empty);
    let mut out = String::new();
    write_map(b, 0, &mut out)?;
    out.push('\n');
    Ok(out.into_bytes())
}

/// The binary store's output: the `data` string's bytes.
///
/// # Errors
/// When there is no string `data` entry.
pub fn emit_binary(branches: &[Branch]) -> Result<Vec<u8>, String> {
    if branches.len() != 1 {
        return Err("there must be exactly one document".into());
    }
    match crate::tree::get(&branches[0], "data") {
        Some(Value::Str(s)) => Ok(s.clone().into_bytes()),
        Some(Value::Bytes(b)) => Ok(b.clone()),
        Some(_) => Err("its data entry is not a string".into()),
        None => Err("it has no data entry (not an encrypted binary file?)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_order_and_duplicates() {
        let l = load(r#"{"b": 1, "a": [true, null, "x\u00e9"], "b": {}, "sops": {}}"#)
            .expect("parses")
            .expect("has sops");
        let out = String::from_utf8(emit(&l.branches).expect("emits")).expect("utf8");
        assert_eq!(
            out,
            "{\n\t\"b\": 1,\n\t\"a\": [\n\t\ttrue,\n\t\tnull,\n\t\t\"xé\"\n\t],\n\t\"b\": {}\n}\n"
        );
    }

    #[test]
    fn strings_escape_as_go_does() {
        let mut s = String::new();
        quote("<a&b>\u{1}\t\"\u{2028}", &mut s);
        assert_eq!(s, r#""\u003ca\u0026b\u003e\u0001\t\"\u2028""#);
    }

    #[test]
    fn truncated_json_is_an_error() {
        assert!(load(r#"{"a": "x"#).is_err());
        assert!(load(r#"{"a": 1"#).is_err());
        assert!(load("[1]").is_err());
        assert!(matches!(load(r#"{"a": 1}"#), Ok(None)));
    }
}
