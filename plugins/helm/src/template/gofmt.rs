//! Go's `fmt.Sprintf` for template values: flags, width, precision and the
//! verbs charts use (`v s d q f e g x X o b t c T %`), with Go's `%!verb(type=value)`
//! markers for mismatched arguments.

use super::value::{Value, format_float_g, shortest_digits};

/// Formats `args` with `format` as Go's `fmt.Sprintf` does.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec::default();
        while i < chars.len() {
            match chars[i] {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            i += 1;
        }
        if i < chars.len() && chars[i] == '*' {
            i += 1;
            if let Some(Value::Int(w)) = args.get(argi) {
                spec.width = Some(w.unsigned_abs() as usize);
                if *w < 0 {
                    spec.minus = true;
                }
            }
            argi += 1;
        } else {
            let mut w = String::new();
            while i < chars.len() && chars[i].is_ascii_digit() {
                w.push(chars[i]);
                i += 1;
            }
            spec.width = w.parse().ok();
        }
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                i += 1;
                if let Some(Value::Int(p)) = args.get(argi) {
                    spec.prec = Some((*p).max(0) as usize);
                }
                argi += 1;
            } else {
                let mut p = String::new();
                while i < chars.len() && chars[i].is_ascii_digit() {
                    p.push(chars[i]);
                    i += 1;
                }
                spec.prec = Some(p.parse().unwrap_or(0));
            }
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let body = format_one(verb, &spec, arg);
        pad(&mut out, &body, &spec, verb, arg);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.to_go_string()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, body: &str, spec: &Spec, verb: char, arg: &Value) {
    let len = body.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && matches!(arg, Value::Int(_) | Value::Float(_)) && verb != 'v'
        || (spec.zero && matches!(verb, 'd' | 'f' | 'x' | 'X' | 'o' | 'b' | 'e' | 'g'))
    {
        let (sign, digits) = match body.strip_prefix('-') {
            Some(d) => ("-", d),
            None => match body.strip_prefix('+') {
                Some(d) => ("+", d),
                None => ("", body),
            },
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn bad(verb: char, arg: &Value) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", arg.type_name(), arg.to_go_string()),
    }
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    if let Value::Int64(i) = arg {
        return match verb {
            'T' => "int64".into(),
            'd' | 'x' | 'X' | 'o' | 'O' | 'b' | 'c' | 'U' | 'v' | 'q' => {
                format_one(verb, spec, &Value::Int(*i))
            }
            _ => format!("%!{verb}(int64={i})"),
        };
    }
    match verb {
        'v' => match arg {
            Value::Float(f) => float_verb('g', spec, *f),
            Value::Int(i) => int_verb('d', spec, *i),
            Value::Str(s) => truncate(s, spec.prec),
            other => other.to_go_string(),
        },
        'T' => arg.type_name().to_string(),
        's' => match arg {
            Value::Str(s) => truncate(s, spec.prec),
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(|x| format_one('s', spec, x)).collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Map(m) => {
                let parts: Vec<String> = m
                    .borrow()
                    .iter()
                    .map(|(k, x)| format!("{k}:{}", format_one('s', spec, x)))
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::Obj(_) => arg.to_go_string(),
            other => bad('s', other),
        },
        'q' => match arg {
            Value::Str(s) => {
                if spec.sharp && !s.contains('`') {
                    format!("`{s}`")
                } else {
                    go_quote(s)
                }
            }
            Value::Int(i) => match char::from_u32(*i as u32) {
                Some(c) => format!("'{}'", quote_inner(&c.to_string(), '\'')),
                None => bad('q', arg),
            },
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(|x| format_one('q', spec, x)).collect();
                format!("[{}]", parts.join(" "))
            }
            other => bad('q', other),
        },
        'd' | 'x' | 'X' | 'o' | 'O' | 'b' | 'c' | 'U' => match arg {
            Value::Int(i) => int_verb(verb, spec, *i),
            Value::Str(s) if matches!(verb, 'x' | 'X') => {
                let mut h = String::new();
                for b in s.bytes() {
                    h.push_str(&if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    });
                }
                h
            }
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(|x| format_one(verb, spec, x)).collect();
                format!("[{}]", parts.join(" "))
            }
            other => bad(verb, other),
        },
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match arg {
            Value::Float(f) => float_verb(verb, spec, *f),
            other => bad(verb, other),
        },
        't' => match arg {
            Value::Bool(b) => b.to_string(),
            other => bad('t', other),
        },
        _ => format!("%!{verb}({}={})", arg.type_name(), arg.to_go_string()),
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn int_verb(verb: char, spec: &Spec, i: i64) -> String {
    let sign = if i < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let a = i.unsigned_abs();
    let digits = match verb {
        'x' => format!("{}{a:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{a:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{a:o}", if spec.sharp { "0" } else { "" }),
        'O' => format!("0o{a:o}"),
        'b' => format!("{a:b}"),
        'c' => {
            return char::from_u32(i as u32)
                .map(String::from)
                .unwrap_or_default();
        }
        'U' => return format!("U+{a:04X}"),
        _ => a.to_string(),
    };
    let digits = match spec.prec {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    format!("{sign}{digits}")
}

fn float_verb(verb: char, spec: &Spec, f: f64) -> String {
    let sign = if f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative()) {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let a = f.abs();
    let body = match verb {
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        'e' | 'E' => {
            let s = exp_format(a, spec.prec.unwrap_or(6));
            if verb == 'E' { s.to_uppercase() } else { s }
        }
        _ => match spec.prec {
            None => format_float_g(a),
            Some(p) => g_with_prec(a, p.max(1)),
        },
    };
    format!("{sign}{body}")
}

/// `%.{prec}e` in Go's form (`1.500000e+06`).
fn exp_format(a: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, a);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// `%.{p}g`: `p` significant digits, `%e` form when the exponent is below -4
/// or at least `p`; trailing zeros removed.
fn g_with_prec(a: f64, p: usize) -> String {
    if a == 0.0 {
        return "0".into();
    }
    let s = format!("{:.*e}", p - 1, a);
    let (_, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = exp_format(a, p - 1);
        let (mant, ex) = m.split_once('e').unwrap_or((&m, ""));
        let mant = if mant.contains('.') {
            mant.trim_end_matches('0').trim_end_matches('.')
        } else {
            mant
        };
        format!("{mant}e{ex}")
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let f = format!("{:.*}", decimals, a);
        if f.contains('.') {
            f.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            f
        }
    }
}

/// Go's `strconv.Quote`: double quotes, with `\"`, `\\`, `\n`, `\t`, … and
/// `\x`/`\u` escapes for non-printable characters.
pub fn go_quote(s: &str) -> String {
    format!("\"{}\"", quote_inner(s, '"'))
}

fn quote_inner(s: &str, q: char) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if !is_printable(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// An approximation of Go's `unicode.IsPrint` good for chart text: control
/// characters, the C1 block, non-characters and unassigned formatting
/// characters are not printable; everything else is.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    !(u < 0x20
        || (0x7f..0xa0).contains(&u)
        || u == 0xad
        || (0x200b..=0x200f).contains(&u)
        || (0x2028..=0x202e).contains(&u)
        || (0x2060..=0x206f).contains(&u)
        || u == 0xfeff
        || (0xfff9..=0xfffb).contains(&u)
        || (0xe000..=0xf8ff).contains(&u))
}

/// Digits of `f`, as [`shortest_digits`] gives them (re-exported for JSON).
pub fn digits(f: f64) -> (bool, String, i32) {
    shortest_digits(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_verbs_match_go() {
        let s = |f: &str, a: Vec<Value>| sprintf(f, &a);
        assert_eq!(s("%s-%d", vec![Value::str("a"), Value::Int(3)]), "a-3");
        assert_eq!(
            s(
                "%05d|%-4s|%4s",
                vec![Value::Int(42), Value::str("x"), Value::str("y")]
            ),
            "00042|x   |   y"
        );
        assert_eq!(s("%.2f", vec![Value::Float(1.23456)]), "1.23");
        assert_eq!(
            s("%v %v", vec![Value::Float(1e6), Value::Nil]),
            "1e+06 <nil>"
        );
        assert_eq!(s("%q", vec![Value::str("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(s("%d", vec![Value::str("x")]), "%!d(string=x)");
        assert_eq!(s("%s", vec![Value::Float(1.5)]), "%!s(float64=1.5)");
        assert_eq!(s("%s %s", vec![Value::str("x")]), "x %!s(MISSING)");
        assert_eq!(s("%x", vec![Value::Int(255)]), "ff");
        assert_eq!(
            s("%g %e", vec![Value::Float(0.5), Value::Float(1500.0)]),
            "0.5 1.500000e+03"
        );
    }
}
