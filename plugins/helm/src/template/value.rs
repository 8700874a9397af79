//! Template values: what Go's `interface{}` holds in a Helm render.
//!
//! Maps are shared and mutable (`Rc<RefCell<…>>`) because Go maps are
//! reference types: Sprig's `set`/`unset`/`merge` change a map every holder
//! sees, and charts rely on it (`{{ $_ := set $ctx "k" "v" }}`). Lists are
//! immutable, as Sprig's list functions return new slices.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

thread_local! {
    /// Maps that templates see as Helm's named `common.Values` type rather
    /// than a plain `map[string]interface{}` (`.Values` of each chart): Sprig
    /// functions that type-assert a plain map (`dig`) refuse them, and
    /// `typeOf` names them. Keyed by the map's address; cleared per render.
    static VALUES_MAPS: RefCell<std::collections::HashSet<usize>> = RefCell::new(std::collections::HashSet::new());
}

/// Forgets every map marked with [`mark_values`].
pub fn clear_values_marks() {
    VALUES_MAPS.with(|s| s.borrow_mut().clear());
}

/// Marks `v` (a map) as a `common.Values`.
pub fn mark_values(v: &Value) {
    if let Value::Map(m) = v {
        VALUES_MAPS.with(|s| s.borrow_mut().insert(Rc::as_ptr(m) as usize));
    }
}

/// Whether `v` is a map marked as `common.Values`.
pub fn is_values(v: &Value) -> bool {
    match v {
        Value::Map(m) => VALUES_MAPS.with(|s| s.borrow().contains(&(Rc::as_ptr(m) as usize))),
        _ => false,
    }
}

/// `s` without Helm's `<no value>` markers (what a missing key prints), as
/// Helm strips them from every rendered file and `tpl` result; `s` itself
/// when it has none.
pub fn strip_no_value(s: String) -> String {
    if s.contains("<no value>") {
        s.replace("<no value>", "")
    } else {
        s
    }
}

/// A map with Go's key order for printing and `range` (sorted).
pub type Map = BTreeMap<String, Value>;

/// A template value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's nil interface (a missing key, `nil`).
    #[default]
    Nil,
    /// A bool.
    Bool(bool),
    /// A Go `int` (constants, `len`, `int`, `atoi`).
    Int(i64),
    /// A Go `int64` (Sprig's integer math, `int64`): the same number, but
    /// `typeOf` tells it apart. Functions receive it as [`Value::Int`].
    Int64(i64),
    /// A float64 (every number that comes from values, as Helm decodes them).
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A slice.
    List(Rc<Vec<Value>>),
    /// A map, shared by reference like a Go map.
    Map(Rc<RefCell<Map>>),
    /// A Helm object with methods (`.Files`, `.Capabilities`).
    Obj(Rc<Obj>),
}

/// Helm's objects that have methods or a custom string form.
#[derive(Debug)]
pub enum Obj {
    /// `.Capabilities`.
    Capabilities {
        /// `.KubeVersion`.
        kube_version: Value,
        /// `.APIVersions`.
        api_versions: Value,
        /// `.HelmVersion`.
        helm_version: Value,
    },
    /// `.Capabilities.KubeVersion`: prints as its `Version`.
    KubeVersion {
        /// `v1.36.0`.
        version: String,
        /// `1`.
        major: String,
        /// `36`.
        minor: String,
    },
    /// `.Capabilities.APIVersions` with its `Has` method.
    ApiVersions(Vec<String>),
    /// `.Files`, or what `.Files.Glob` returns: path → content.
    Files(BTreeMap<String, Rc<[u8]>>),
    /// A Go `time.Time` (`now`, `toDate`, `dateModify`).
    Time(crate::funcs::gotime::Time),
    /// Sprig's `certificate` (`genCA`, `genSignedCert`, …): `.Cert` and
    /// `.Key`, PEM.
    Cert {
        /// The certificate, PEM.
        cert: String,
        /// Its private key, PEM.
        key: String,
    },
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// A new map value.
    pub fn map(m: Map) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    /// A new list value.
    pub fn list(l: Vec<Value>) -> Value {
        Value::List(Rc::new(l))
    }

    /// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Obj(o) => match &**o {
                Obj::ApiVersions(v) => !v.is_empty(),
                Obj::Files(f) => !f.is_empty(),
                _ => true,
            },
        }
    }

    /// Go's type name, as `typeOf` prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) if is_values(self) => "common.Values",
            Value::Map(_) => "map[string]interface {}",
            Value::Obj(o) => match &**o {
                Obj::Capabilities { .. } => "*common.Capabilities",
                Obj::KubeVersion { .. } => "common.KubeVersion",
                Obj::ApiVersions(_) => "common.VersionSet",
                Obj::Files(_) => "engine.files",
                Obj::Time(_) => "time.Time",
                Obj::Cert { .. } => "sprig.certificate",
            },
        }
    }

    /// Go's reflect kind name, as `kindOf` prints it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Obj(o) => match &**o {
                Obj::ApiVersions(_) => "slice",
                Obj::Files(_) => "map",
                _ => "struct",
            },
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The length Go's `len` gives, if the value has one.
    pub fn go_len(&self) -> Option<usize> {
        match self {
            Value::Str(s) => Some(s.len()),
            Value::List(l) => Some(l.len()),
            Value::Map(m) => Some(m.borrow().len()),
            Value::Obj(o) => match &**o {
                Obj::ApiVersions(v) => Some(v.len()),
                Obj::Files(f) => Some(f.len()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value as functions receive it: an `int64` becomes a plain int.
    pub fn normalized(self) -> Value {
        match self {
            Value::Int64(i) => Value::Int(i),
            other => other,
        }
    }

    /// A deep copy: new maps all the way down.
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::Map(m) => Value::map(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect(),
            ),
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            other => other.clone(),
        }
    }

    /// Go's `%v`; `nil` prints as `<nil>` (the top-level `<no value>` is the
    /// executor's business).
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }

    /// Appends Go's `%v` of the value to `out`.
    pub fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_g(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => write_list(out, l.iter()),
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Obj(o) => match &**o {
                Obj::KubeVersion { version, .. } => out.push_str(version),
                Obj::ApiVersions(v) => write_list(
                    out,
                    v.iter()
                        .map(|s| Value::str(s.as_str()))
                        .collect::<Vec<_>>()
                        .iter(),
                ),
                Obj::Files(f) => {
                    out.push_str("map[");
                    for (i, (k, v)) in f.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        out.push_str(k);
                        out.push_str(":[");
                        for (j, b) in v.iter().enumerate() {
                            if j > 0 {
                                out.push(' ');
                            }
                            let _ = write!(out, "{b}");
                        }
                        out.push(']');
                    }
                    out.push(']');
                }
                Obj::Time(t) => out.push_str(&t.go_string()),
                Obj::Cert { cert, key } => {
                    out.push('{');
                    out.push_str(cert);
                    out.push(' ');
                    out.push_str(key);
                    out.push('}');
                }
                Obj::Capabilities {
                    kube_version,
                    api_versions,
                    helm_version,
                } => {
                    out.push('{');
                    kube_version.write_go(out);
                    out.push(' ');
                    api_versions.write_go(out);
                    out.push(' ');
                    helm_version.write_go(out);
                    out.push('}');
                }
            },
        }
    }

    /// Converts JSON into a template value; numbers become float64 as Helm's
    /// JSON decoding of values makes them.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON the way Go's `encoding/json` marshals the value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::Int64(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    serde_json::Value::from(*f as i64)
                } else {
                    serde_json::Number::from_f64(*f)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null)
                }
            }
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Obj(o) => match &**o {
                Obj::ApiVersions(v) => {
                    serde_json::Value::Array(v.iter().map(|s| s.as_str().into()).collect())
                }
                Obj::KubeVersion {
                    version,
                    major,
                    minor,
                } => serde_json::json!({"Version": version, "Major": major, "Minor": minor}),
                Obj::Files(f) => serde_json::Value::Object(
                    f.keys()
                        .map(|k| (k.clone(), serde_json::Value::Null))
                        .collect(),
                ),
                Obj::Time(t) => serde_json::Value::String(t.rfc3339_nano()),
                Obj::Cert { cert, key } => serde_json::json!({"Cert": cert, "Key": key}),
                Obj::Capabilities {
                    kube_version,
                    api_versions,
                    helm_version,
                } => serde_json::json!({
                    "KubeVersion": kube_version.to_json(),
                    "APIVersions": api_versions.to_json(),
                    "HelmVersion": helm_version.to_json(),
                }),
            },
        }
    }
}

fn write_list<'a>(out: &mut String, items: impl Iterator<Item = &'a Value>) {
    out.push('[');
    for (i, v) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        v.write_go(out);
    }
    out.push(']');
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses: the shortest
/// digits that round-trip, in `%e` form when the exponent is below -4 or at
/// least 6 (or at least the digit count, for `%g` with a precision).
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        write_exp(&mut out, &digits, exp);
    } else {
        write_fixed(&mut out, &digits, exp);
    }
    out
}

/// Sign, significant decimal digits and decimal exponent (of the first
/// digit) of the shortest round-trip representation of `f`.
pub fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (f < 0.0, digits.to_string(), exp.parse().unwrap_or(0))
}

fn write_exp(out: &mut String, digits: &str, exp: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
}

fn write_fixed(out: &mut String, digits: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        assert_eq!(format_float_g(1.0), "1");
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(1000000.0), "1e+06");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(-2.25), "-2.25");
    }

    #[test]
    fn maps_print_sorted_like_go() {
        let mut m = Map::new();
        m.insert("z".into(), Value::Int(2));
        m.insert("a".into(), Value::list(vec![Value::Nil, Value::str("x")]));
        assert_eq!(Value::map(m).to_go_string(), "map[a:[<nil> x] z:2]");
    }
}
