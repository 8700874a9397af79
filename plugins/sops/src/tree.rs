//! The document tree every format loads into and emits from: SOPS's own
//! model (`sops.TreeBranch`), where comments are entries of the branch or
//! list they sit in, and leaves keep the type SOPS gives them (the type
//! decides how a value is written and what the MAC hashes).

/// One value of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (never encrypted, never part of the MAC).
    Null,
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, kept as Go's RFC 3339 text (`time.Time.MarshalText`).
    Time(String),
    /// Bytes (SOPS's `bytes` type).
    Bytes(Vec<u8>),
    /// A comment standing as a list element.
    Comment(String),
    /// A mapping, in document order.
    Map(Branch),
    /// A sequence.
    Seq(Vec<Value>),
}

/// A key of a mapping entry: a string, or a comment standing between
/// entries (its value is then [`Value::Null`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A mapping key.
    Str(String),
    /// A comment line, without its `#`.
    Comment(String),
}

/// A mapping: entries in document order, duplicates kept.
pub type Branch = Vec<(Key, Value)>;

impl Value {
    /// The bytes SOPS feeds the MAC for this leaf (`sops.ToBytes`).
    pub fn mac_bytes(&self) -> Option<Vec<u8>> {
        Some(match self {
            Value::Str(s) => s.as_bytes().to_vec(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Float(f) => go_format_float_f(*f).into_bytes(),
            Value::Bool(true) => b"True".to_vec(),
            Value::Bool(false) => b"False".to_vec(),
            Value::Time(t) => t.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
            Value::Null | Value::Comment(_) | Value::Map(_) | Value::Seq(_) => return None,
        })
    }
}

/// The entry `key` of a branch.
pub fn get<'a>(branch: &'a Branch, key: &str) -> Option<&'a Value> {
    branch.iter().find_map(|(k, v)| match k {
        Key::Str(s) if s == key => Some(v),
        _ => None,
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest digits that
/// round-trip, never an exponent.
pub fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // Rust's Display is the shortest round-trip form without exponent.
        format!("{f}")
    }
}

/// The shortest round-trip decimal digits of a finite, non-zero `f` and its
/// decimal point position (`0.d1d2… × 10^dp`), as Go's `strconv` computes
/// them.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (what YAML writes for a
/// float): `%e` form when the decimal exponent is below -4 or at least 6
/// (Go decides with precision 6 when asked for the shortest digits), plain
/// decimals otherwise.
pub fn go_format_float_g(f: f64) -> String {
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
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let mant = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    } else {
        format!("{sign}{}", go_format_float_f(f.abs()))
    }
}

/// Go's `encoding/json` float form: `'f'` unless the exponent is below -6
/// or at least 21, then `'e'` with a one-digit negative exponent kept
/// short (`1e-7`, not `1e-07`).
pub fn go_json_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        return go_format_float_f(f);
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    let (first, rest) = digits.split_at(1);
    let mant = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    let sign = if f < 0.0 { "-" } else { "" };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mant}e{esign}{:02}", exp.abs())
        .replace("e-0", "e-")
        .replace("e+0", "e+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_as_go_does() {
        assert_eq!(go_format_float_f(1.0), "1");
        assert_eq!(go_format_float_f(0.1), "0.1");
        assert_eq!(go_format_float_f(1e21), "1000000000000000000000");
        assert_eq!(go_format_float_g(1.0), "1");
        assert_eq!(go_format_float_g(1e21), "1e+21");
        assert_eq!(go_format_float_g(1e-7), "1e-07");
        assert_eq!(go_format_float_g(123456789.125), "1.23456789125e+08");
        assert_eq!(go_format_float_g(100000.0), "100000");
        assert_eq!(go_format_float_g(1e6), "1e+06");
        assert_eq!(go_format_float_g(0.0001), "0.0001");
        assert_eq!(go_format_float_g(-2.5), "-2.5");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(
            go_json_float(12345678901234567890.0),
            "12345678901234567000"
        );
        assert_eq!(go_json_float(1000.0), "1000");
    }
}
