//! `toToml` as Helm writes it: BurntSushi/toml's encoder (sorted keys,
//! plain values before tables, two-space indentation of nested tables,
//! arrays of maps as `[[array]]` tables, maps inside other arrays inline).

use crate::template::value::{Map, Obj, Value, format_float_g};

/// `fromToml`: the document as a map (integers int64, floats float64,
/// offset date-times `time.Time`), or a map with the parse error under `Error`.
pub fn from_toml(text: &str) -> Value {
    match text.parse::<toml::Table>() {
        Ok(t) => Value::map(
            t.iter()
                .map(|(k, v)| (k.clone(), from_toml_value(v)))
                .collect(),
        ),
        Err(e) => {
            let mut m = Map::new();
            m.insert(
                "Error".into(),
                Value::str(format!("toml: {}", e.message().trim_end())),
            );
            Value::map(m)
        }
    }
}

fn from_toml_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::str(s.as_str()),
        toml::Value::Integer(i) => Value::Int64(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        // An offset date-time is a time.Time, as BurntSushi decodes it;
        // local dates and times stay strings here.
        toml::Value::Datetime(d) => {
            let s = d.to_string();
            match crate::funcs::gotime::parse("2006-01-02T15:04:05.999999999Z07:00", &s) {
                Ok(t) => Value::Obj(std::rc::Rc::new(Obj::Time(t))),
                Err(_) => Value::str(s),
            }
        }
        toml::Value::Array(a) => Value::list(a.iter().map(from_toml_value).collect()),
        toml::Value::Table(t) => Value::map(
            t.iter()
                .map(|(k, v)| (k.clone(), from_toml_value(v)))
                .collect(),
        ),
    }
}

/// Why a value cannot be written as TOML (Helm prints the error text).
type Fail = String;

/// `toToml`: the TOML document, or the encoder's error text (which Helm
/// returns as the result).
///
/// # Errors
/// A nil value, which makes the encoder panic in Helm (the message is
/// Go's).
pub fn to_toml(v: &Value) -> Result<String, String> {
    if matches!(v, Value::Nil) {
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    let mut e = Enc {
        out: String::new(),
        written: false,
    };
    Ok(match e.encode(&[], &plain(v)) {
        Ok(()) => e.out,
        Err(msg) => msg,
    })
}

/// Helm objects other than times (`.Files`, certificates) as the JSON they
/// marshal to.
fn plain(v: &Value) -> Value {
    match v {
        Value::Obj(o) if !matches!(&**o, Obj::Time(_)) => Value::from_json(&v.to_json()),
        other => other.clone(),
    }
}

#[derive(PartialEq)]
enum Kind {
    Plain,
    Table,
    TableArray,
}

fn kind(v: &Value) -> Result<Kind, Fail> {
    Ok(match v {
        Value::Map(_) => Kind::Table,
        Value::Obj(o) if matches!(&**o, Obj::Time(_)) => Kind::Plain,
        Value::Obj(_) => kind(&plain(v))?,
        Value::List(l) if !l.is_empty() => {
            let mut all_maps = true;
            for x in l.iter() {
                match x {
                    Value::Nil => return Err("toml: cannot encode array with nil element".into()),
                    Value::Map(_) => {}
                    _ => all_maps = false,
                }
            }
            if all_maps {
                Kind::TableArray
            } else {
                Kind::Plain
            }
        }
        _ => Kind::Plain,
    })
}

fn bare(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn key_str(k: &str, out: &mut String) {
    if bare(k) {
        out.push_str(k);
    } else {
        quote(k, out);
    }
}

struct Enc {
    out: String,
    written: bool,
}

impl Enc {
    fn newline(&mut self) {
        if self.written {
            self.out.push('\n');
        }
    }

    fn indent(&mut self, key: &[&str]) {
        for _ in 1..key.len() {
            self.out.push_str("  ");
        }
    }

    fn header(&mut self, key: &[&str], array: bool) {
        self.indent(key);
        self.out.push_str(if array { "[[" } else { "[" });
        for (ix, k) in key.iter().enumerate() {
            if ix > 0 {
                self.out.push('.');
            }
            key_str(k, &mut self.out);
        }
        self.out.push_str(if array { "]]" } else { "]" });
        self.written = true;
        self.newline();
    }

    fn encode(&mut self, key: &[&str], v: &Value) -> Result<(), Fail> {
        match (v, kind(v)?) {
            (Value::Nil, _) => Ok(()),
            (Value::Map(m), _) => {
                if key.len() == 1 {
                    self.newline();
                }
                if !key.is_empty() {
                    self.header(key, false);
                }
                let m = m.borrow().clone();
                self.map(key, &m)
            }
            (Value::List(l), Kind::TableArray) => {
                for x in l.iter() {
                    if let Value::Map(m) = x {
                        self.newline();
                        self.header(key, true);
                        let m = m.borrow().clone();
                        self.map(key, &m)?;
                    }
                }
                Ok(())
            }
            _ => self.key_value(key, v, false),
        }
    }

    fn key_value(&mut self, key: &[&str], v: &Value, inline: bool) -> Result<(), Fail> {
        if let Some(last) = key.last() {
            if !inline {
                self.indent(key);
            }
            key_str(last, &mut self.out);
            self.out.push_str(" = ");
        }
        self.element(v)?;
        self.written = true;
        if !inline && !key.is_empty() {
            self.newline();
        }
        Ok(())
    }

    /// The map's plain keys then its tables, each sorted; `inline` writes
    /// `{k = v, …}` (a map inside an array).
    fn map_with(&mut self, key: &[&str], m: &Map, inline: bool) -> Result<(), Fail> {
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, v) in m {
            if kind(v)? == Kind::Plain {
                direct.push((k, v));
            } else {
                sub.push((k, v));
            }
        }
        if inline {
            self.out.push('{');
        }
        let has_sub = !sub.is_empty();
        for (group, trail) in [(direct, has_sub), (sub, false)] {
            let n = group.len();
            for (ix, (k, v)) in group.into_iter().enumerate() {
                if matches!(v, Value::Nil) {
                    continue;
                }
                if inline {
                    self.key_value(&[k.as_str()], v, true)?;
                    if trail || ix + 1 != n {
                        self.out.push_str(", ");
                    }
                } else {
                    let mut sub_key = key.to_vec();
                    sub_key.push(k.as_str());
                    self.encode(&sub_key, v)?;
                }
            }
        }
        if inline {
            self.out.push('}');
        }
        Ok(())
    }

    fn map(&mut self, key: &[&str], m: &Map) -> Result<(), Fail> {
        self.map_with(key, m, false)
    }

    fn element(&mut self, v: &Value) -> Result<(), Fail> {
        match v {
            Value::Nil => return Err("toml: cannot encode a nil value".into()),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => {
                if f.is_nan() {
                    self.out.push_str("nan");
                } else if f.is_infinite() {
                    self.out.push_str(if *f > 0.0 { "inf" } else { "-inf" });
                } else {
                    let s = format_float_g(*f);
                    let needs_point = !s.contains(['.', 'e']);
                    self.out.push_str(&s);
                    if needs_point {
                        self.out.push_str(".0");
                    }
                }
            }
            Value::Str(s) => quote(s, &mut self.out),
            Value::List(l) => {
                self.out.push('[');
                for (ix, x) in l.iter().enumerate() {
                    if ix > 0 {
                        self.out.push_str(", ");
                    }
                    if matches!(x, Value::Nil) {
                        return Err("toml: cannot encode array with nil element".into());
                    }
                    self.element(x)?;
                }
                self.out.push(']');
            }
            Value::Map(m) => {
                let m = m.borrow().clone();
                self.map_with(&[], &m, true)?;
            }
            Value::Obj(o) => match &**o {
                // A TOML offset date-time, unquoted.
                Obj::Time(t) => self.out.push_str(&t.rfc3339_nano()),
                _ => self.element(&plain(v))?,
            },
        }
        Ok(())
    }
}
