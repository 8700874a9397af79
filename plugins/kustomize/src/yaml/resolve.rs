//! How yaml.v3 types plain scalars on input, and how yaml.v2 decides whether
//! a string must be quoted on output (a plain string that would read back as
//! something else is double-quoted).

use super::Tag;

/// The tag yaml.v3 gives the plain scalar `s`.
pub fn resolve_v3(s: &str) -> Tag {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Tag::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return Tag::Bool,
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Tag::Float,
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if go_parse_float(s).is_some() {
                Tag::Float
            } else {
                Tag::Str
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return Tag::Timestamp;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if go_parse_int(&plain).is_some() {
                Tag::Int
            } else if is_yaml_float(&plain) && go_parse_float(&plain).is_some() {
                Tag::Float
            } else {
                Tag::Str
            }
        }
        _ => Tag::Str,
    }
}

/// Whether yaml.v2 would read the plain scalar `s` as something other than a
/// string (so it must be quoted).
pub fn v2_needs_quotes(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On"
        | "ON" | "true" | "True" | "TRUE" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off"
        | "OFF" | "false" | "False" | "FALSE" | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf"
        | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" => return true,
        _ => {}
    }
    let first = s.as_bytes()[0];
    let non_str = match first {
        b'.' => go_parse_float(s).is_some(),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                true
            } else {
                let plain: String = s.chars().filter(|&c| c != '_').collect();
                go_parse_int(&plain).is_some()
                    || (is_yaml_float(&plain) && go_parse_float(&plain).is_some())
                    || plain
                        .strip_prefix("-0b")
                        .is_some_and(|b| i64::from_str_radix(b, 2).is_ok())
            }
        }
        _ => false,
    };
    non_str || is_base60_float(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint`: the value
/// as a decimal string.
pub fn go_parse_int(s: &str) -> Option<String> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if v <= (i64::MAX as u128) + 1 {
            Some(if v == 0 {
                "0".to_string()
            } else {
                format!("-{v}")
            })
        } else {
            None
        }
    } else if v <= u64::MAX as u128 {
        Some(v.to_string())
    } else {
        None
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms YAML can produce.
pub fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// yaml's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// yaml.v2's sexagesimal float check: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
pub(crate) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let n = i - start;
        if n == 0 || (n == 2 && b[start] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// A parsed timestamp: date and optional time of day (UTC after offset).
#[derive(Debug, Clone, PartialEq)]
pub struct Timestamp {
    year: i64,
    month: u32,
    day: u32,
    secs: i64,
    nanos: u32,
    /// Minutes east of UTC, `None` for no zone.
    offset: Option<i64>,
}

/// Whether `s` is a YAML timestamp yaml would decode (`2006-1-2`,
/// `2006-1-2T15:4:5.999999999Z07:00`, `2006-1-2 15:4:5.999999999`).
pub fn is_timestamp(s: &str) -> bool {
    parse_timestamp(s).is_some()
}

/// Parses a timestamp in one of the formats yaml accepts.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut i = 5;
    let num = |i: &mut usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        s[start..*i].parse().ok()
    };
    let year: i64 = s[..4].parse().ok()?;
    let month = num(&mut i, 2)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = num(&mut i, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ts = Timestamp {
        year,
        month,
        day,
        secs: 0,
        nanos: 0,
        offset: Some(0),
    };
    if i == b.len() {
        return Some(ts);
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    i += 1;
    let h = num(&mut i, 2)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let m = num(&mut i, 2)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    let sec = num(&mut i, 2)?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    ts.secs = i64::from(h * 3600 + m * 60 + sec);
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        ts.nanos = format!("{frac:0<9}").parse().ok()?;
    }
    if sep == b' ' {
        ts.offset = None;
        return (i == b.len()).then_some(ts);
    }
    match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => Some(ts),
        Some(&c @ (b'+' | b'-')) => {
            if b.len() != i + 6 || b[i + 3] != b':' {
                return None;
            }
            let oh: i64 = s[i + 1..i + 3].parse().ok()?;
            let om: i64 = s[i + 4..i + 6].parse().ok()?;
            let off = oh * 60 + om;
            ts.offset = Some(if c == b'-' { -off } else { off });
            Some(ts)
        }
        _ => None,
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Timestamp {
    /// Go's `time.Time` JSON form (RFC 3339 with nanoseconds, trailing zeros cut).
    pub fn rfc3339(&self) -> String {
        let h = self.secs / 3600;
        let m = (self.secs / 60) % 60;
        let s = self.secs % 60;
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, h, m, s
        );
        if self.nanos > 0 {
            let f = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
        match self.offset {
            None | Some(0) => out.push('Z'),
            Some(o) => {
                let sign = if o < 0 { '-' } else { '+' };
                out.push_str(&format!("{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_types_plain_scalars_like_go() {
        assert_eq!(resolve_v3("012"), Tag::Int);
        assert_eq!(resolve_v3("yes"), Tag::Str);
        assert_eq!(resolve_v3("1_000"), Tag::Int);
        assert_eq!(resolve_v3("1e3"), Tag::Float);
        assert_eq!(resolve_v3("2020-01-01"), Tag::Timestamp);
        assert_eq!(resolve_v3("0x1G"), Tag::Str);
        assert_eq!(resolve_v3("-"), Tag::Str);
    }

    #[test]
    fn v2_quotes_what_would_read_back_as_another_type() {
        for s in [
            "yes",
            "on",
            "0644",
            "1e3",
            ".5",
            "1_000",
            "12:30",
            "1:20:30",
            "0b101",
            "+1",
            "1.",
            "",
            "2020-01-01",
            "n",
            "09",
        ] {
            assert!(v2_needs_quotes(s), "{s}");
        }
        for s in ["0x1G", "<<", "a", "-", "1.2.3", "12:60"] {
            assert!(!v2_needs_quotes(s), "{s}");
        }
    }
}
