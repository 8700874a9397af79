//! The function map: Go's builtins, Sprig as Helm ships it (without `env`
//! and `expandenv`), and Helm's own (`include`, `tpl`, `required`, `toYaml`,
//! `lookup`, …), plus the methods of `.Files` and `.Capabilities`.
//!
//! Argument types follow the Go signatures: a function declared with a
//! `string` parameter rejects an int (`wrong type for value; expected
//! string; got int`) as Go's reflection does, while `interface{}`
//! parameters convert as Sprig's `cast` helpers do.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::encode;
use crate::template::exec::{Exec, FuncError};
use crate::template::gofmt::{go_quote, sprintf};
use crate::template::value::{Map, Obj, Value};

mod crypto;
mod dates;
mod der;
pub mod gotime;
mod random;
use weir_sdk::semver;
mod tomlfmt;
mod urls;

type R = Result<Value, FuncError>;

/// Every function name a template may use. Parsing rejects the rest, as Go
/// does (`function "x" not defined`).
const NAMES: &[&str] = &[
    // Go builtins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "call",
    // Helm.
    "include",
    "tpl",
    "required",
    "fail",
    "toYaml",
    "toYamlPretty",
    "mustToYaml",
    "fromYaml",
    "fromYamlArray",
    "mustFromYaml",
    "toJson",
    "mustToJson",
    "fromJson",
    "fromJsonArray",
    "mustFromJson",
    "toToml",
    "fromToml",
    "lookup",
    // Sprig strings.
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "title",
    "untitle",
    "repeat",
    "substr",
    "nospace",
    "trunc",
    "abbrev",
    "abbrevboth",
    "initials",
    "wrap",
    "wrapWith",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "plural",
    "snakecase",
    "camelcase",
    "kebabcase",
    "swapcase",
    "shuffle",
    "toString",
    "toStrings",
    "join",
    "split",
    "splitList",
    "splitn",
    "sortAlpha",
    "trimall",
    // Conversions and defaults.
    "atoi",
    "int",
    "int64",
    "float64",
    "toDecimal",
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "ternary",
    "fromJson",
    "toPrettyJson",
    "toRawJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "kindOf",
    "kindIs",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "deepEqual",
    // Regex.
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    // Lists.
    "list",
    "tuple",
    "first",
    "mustFirst",
    "rest",
    "mustRest",
    "last",
    "mustLast",
    "initial",
    "mustInitial",
    "append",
    "mustAppend",
    "push",
    "mustPush",
    "prepend",
    "mustPrepend",
    "concat",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "compact",
    "mustCompact",
    "mustSlice",
    "chunk",
    "mustChunk",
    "until",
    "untilStep",
    "seq",
    // Dicts.
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "pluck",
    "keys",
    "values",
    "pick",
    "omit",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    "deepCopy",
    "mustDeepCopy",
    "dig",
    // Math.
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "biggest",
    "floor",
    "ceil",
    "round",
    "addf",
    "add1f",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    // Encoding and crypto.
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "sha256sum",
    "sha1sum",
    "sha512sum",
    "adler32sum",
    // Semver.
    "semver",
    "semverCompare",
    // Random, dates, crypto, URLs (src/funcs/*.rs); getHostByName is an
    // error (no network in the sandbox).
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "randBytes",
    "randInt",
    "uuidv4",
    "now",
    "date",
    "dateInZone",
    "date_in_zone",
    "dateModify",
    "date_modify",
    "mustDateModify",
    "toDate",
    "mustToDate",
    "unixEpoch",
    "ago",
    "duration",
    "durationRound",
    "htmlDate",
    "htmlDateInZone",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "encryptAES",
    "decryptAES",
    "htpasswd",
    "bcrypt",
    "getHostByName",
    "urlParse",
    "urlJoin",
    "osBase",
    "osDir",
    "osExt",
    "osClean",
    "osIsAbs",
    "base",
    "dir",
    "ext",
    "clean",
    "isAbs",
    "semverCompare",
];

/// Whether `version` satisfies the semver `constraint` (false when either
/// is malformed), as Helm's `IsCompatibleRange`.
pub fn semver_check(constraint: &str, version: &str) -> bool {
    semver::compare(constraint, version).unwrap_or(false)
}

/// Major and minor of a version string (`v1.30.2` → (1, 30)).
///
/// # Errors
/// A string that is not a version.
pub fn parse_version(v: &str) -> Result<(u64, u64), String> {
    semver::parse(v).map(|v| (v.major, v.minor))
}

/// Whether `name` is a known function.
pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

fn type_err(want: &str, v: &Value) -> FuncError {
    match v {
        Value::Nil => FuncError::Msg(format!("invalid value; expected {want}")),
        other => FuncError::Msg(format!(
            "wrong type for value; expected {want}; got {}",
            other.type_name()
        )),
    }
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() != want {
        return Err(FuncError::Msg(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() < want {
        return Err(FuncError::Msg(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// A `string` parameter.
fn s(v: &Value) -> Result<Rc<str>, FuncError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(type_err("string", other)),
    }
}

/// An `int` parameter (Go converts integer constants; floats are refused).
fn i(v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(type_err("int", other)),
    }
}

/// A `bool` parameter.
fn b(v: &Value) -> Result<bool, FuncError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(type_err("bool", other)),
    }
}

/// A `map[string]interface{}` parameter.
fn m(v: &Value) -> Result<Rc<std::cell::RefCell<Map>>, FuncError> {
    match v {
        Value::Map(m) => Ok(m.clone()),
        other => Err(type_err("map[string]interface {}", other)),
    }
}

/// Sprig's `strval`: strings as they are, anything else as `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_go_string(),
    }
}

/// Sprig's `strslice`: a list's non-nil items as strings; a single value as
/// a one-item list; nil as empty.
fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        Value::Obj(o) => match &**o {
            Obj::ApiVersions(l) => l.clone(),
            _ => vec![strval(v)],
        },
        other => vec![strval(other)],
    }
}

/// `cast.ToInt64`: numbers truncate, strings parse (`0x`, `0`-octal, a
/// `.0` tail allowed), bools are 0/1, everything else 0.
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(s).unwrap_or(0),
        _ => 0,
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    let t = s.trim();
    // cast trims a zero decimal part: "3.0" → "3".
    let t = match t.split_once('.') {
        Some((a, b)) if b.bytes().all(|c| c == b'0') => a,
        _ => t,
    };
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `cast.ToFloat64`.
pub fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `empty`: nil, false, 0, "", and empty lists and maps.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Obj(_) => false,
        other => !other.truthy(),
    }
}

fn list_of(v: &Value, fname: &str) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        Value::Nil => Ok(Vec::new()),
        Value::Obj(o) => match &**o {
            Obj::ApiVersions(l) => Ok(l.iter().map(|s| Value::str(s.as_str())).collect()),
            _ => Err(FuncError::Msg(format!(
                "Cannot {fname} on type {}",
                v.type_name()
            ))),
        },
        other => Err(FuncError::Msg(format!(
            "Cannot {fname} on type {}",
            other.type_name()
        ))),
    }
}

/// Go's `eq` on two basic values: `Some(bool)`, or the error message.
fn basic_eq(a: &Value, b: &Value) -> Result<bool, FuncError> {
    Ok(match (a, b) {
        (Value::Nil, _) | (_, Value::Nil) => {
            matches!((a, b), (Value::Nil, Value::Nil))
        }
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(_) | Value::Map(_), Value::List(_) | Value::Map(_)) => {
            return Err("non-comparable type".into());
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, FuncError> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Equal)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Nil, _)
        | (_, Value::Nil)
        | (Value::Bool(_), _)
        | (Value::List(_), _)
        | (Value::Map(_), _) => Err("invalid type for comparison".into()),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn regex(pat: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pat).map_err(|e| FuncError::Msg(format!("error parsing regexp: {e}")))
}

/// Calls function `name` with evaluated `args`.
///
/// # Errors
/// Wrong argument counts or types, and each function's own failures.
pub fn call(ex: &mut Exec<'_>, name: &str, args: Vec<Value>) -> R {
    // Functions see an int64 as an int, except those that tell types apart.
    let args: Vec<Value> = match name {
        "typeOf" | "kindOf" | "typeIs" | "typeIsLike" | "kindIs" | "printf" | "deepEqual"
        | "list" | "tuple" | "dict" | "set" | "default" | "coalesce" | "ternary" | "first"
        | "last" | "append" | "push" | "prepend" | "duration" | "durationRound" => args,
        _ => args.into_iter().map(Value::normalized).collect(),
    };
    let a = &args;
    let n = a.len();
    Ok(match name {
        // ---------------------------------------------------- Go builtins
        "not" => {
            arity(name, a, 1)?;
            Value::Bool(!a[0].truthy())
        }
        "len" => {
            arity(name, a, 1)?;
            match a[0].go_len() {
                Some(l) => Value::Int(l as i64),
                None => {
                    return Err(match &a[0] {
                        Value::Nil => "len of nil pointer".into(),
                        other => format!("len of type {}", other.type_name()).into(),
                    });
                }
            }
        }
        "index" => {
            at_least(name, a, 1)?;
            let mut cur = a[0].clone();
            for k in &a[1..] {
                cur = match (&cur, k) {
                    (Value::Map(mm), Value::Str(key)) => {
                        mm.borrow().get(&**key).cloned().unwrap_or_default()
                    }
                    (Value::Map(_), other) => return Err(type_err("string", other)),
                    (Value::List(l), Value::Int(ix)) => {
                        if *ix < 0 || *ix as usize >= l.len() {
                            return Err(format!("index out of range: {ix}").into());
                        }
                        l[*ix as usize].clone()
                    }
                    (Value::Str(s), Value::Int(ix)) => {
                        let bytes = s.as_bytes();
                        if *ix < 0 || *ix as usize >= bytes.len() {
                            return Err(format!("index out of range: {ix}").into());
                        }
                        Value::Int(i64::from(bytes[*ix as usize]))
                    }
                    (Value::List(_), other) => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            other.type_name()
                        )
                        .into());
                    }
                    (Value::Nil, _) => return Err("index of untyped nil".into()),
                    (other, _) => {
                        return Err(
                            format!("can't index item of type {}", other.type_name()).into()
                        );
                    }
                };
            }
            cur
        }
        "slice" | "mustSlice" => {
            at_least(name, a, 1)?;
            let idx: Vec<i64> = a[1..].iter().map(to_i64).collect();
            // Sprig's `slice` replaces Go's builtin: lists only.
            match &a[0] {
                Value::List(l) => {
                    let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                    let hi = idx
                        .get(1)
                        .copied()
                        .map(|h| h.max(0) as usize)
                        .unwrap_or(l.len());
                    if lo > hi || hi > l.len() {
                        return Err(format!("slice index out of range: {lo}:{hi}").into());
                    }
                    Value::list(l[lo..hi].to_vec())
                }
                other => {
                    return Err(format!(
                        "list should be type of slice or array but {}",
                        other.kind_name()
                    )
                    .into());
                }
            }
        }
        "print" => Value::str(go_print(a)),
        "println" => {
            let parts: Vec<String> = a.iter().map(Value::to_go_string).collect();
            Value::str(parts.join(" ") + "\n")
        }
        "printf" => {
            at_least(name, a, 1)?;
            Value::str(sprintf(&s(&a[0])?, &a[1..]))
        }
        "eq" => {
            at_least(name, a, 2)?;
            let mut t = false;
            for x in &a[1..] {
                if basic_eq(&a[0], x)? {
                    t = true;
                    break;
                }
            }
            Value::Bool(t)
        }
        "ne" => {
            arity(name, a, 2)?;
            Value::Bool(!basic_eq(&a[0], &a[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, a, 2)?;
            use std::cmp::Ordering::*;
            let o = compare(&a[0], &a[1])?;
            Value::Bool(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "html" => Value::str(html_escape(&go_print(a))),
        "js" => Value::str(js_escape(&go_print(a))),
        "urlquery" => Value::str(url_query_escape(&go_print(a))),
        "call" => return Err("call of non-function".into()),

        // ---------------------------------------------------------- Helm
        "include" => {
            arity(name, a, 2)?;
            let t = s(&a[0])?;
            Value::str(ex.include(&t, &a[1])?)
        }
        "tpl" => {
            arity(name, a, 2)?;
            let text = s(&a[0])?;
            if !matches!(a[1], Value::Map(_)) {
                return Err(type_err("chartutil.Values", &a[1]));
            }
            let tname = match &a[1] {
                Value::Map(mm) => match mm.borrow().get("Template") {
                    Some(Value::Map(t)) => t.borrow().get("Name").map(strval),
                    _ => None,
                },
                _ => None,
            };
            let tname = tname.unwrap_or_else(|| ex.current_name().to_string());
            Value::str(ex.tpl(&tname, &text, &a[1]).map_err(|e| match e {
                FuncError::Nested(inner) => FuncError::Msg(format!(
                    "error during tpl function execution for {:?}: {inner}",
                    &*text
                )),
                other => other,
            })?)
        }
        "required" => {
            arity(name, a, 2)?;
            let warn = s(&a[0])?;
            match &a[1] {
                Value::Nil => return Err(FuncError::Fail(warn.to_string())),
                Value::Str(x) if x.is_empty() => return Err(FuncError::Fail(warn.to_string())),
                v => v.clone(),
            }
        }
        "fail" => {
            arity(name, a, 1)?;
            return Err(FuncError::Fail(s(&a[0])?.to_string()));
        }
        "toYaml" | "mustToYaml" | "toYamlPretty" => {
            arity(name, a, 1)?;
            let y = encode::to_yaml(&a[0]);
            Value::str(y.strip_suffix('\n').unwrap_or(&y))
        }
        "fromYaml" | "mustFromYaml" => {
            arity(name, a, 1)?;
            match crate::yaml::parse_value(&s(&a[0])?) {
                Ok(v @ Value::Map(_)) => v,
                Ok(Value::Nil) => Value::map(Map::new()),
                Ok(_) => error_map(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}",
                ),
                Err(e) => error_map(&e),
            }
        }
        "fromYamlArray" => {
            arity(name, a, 1)?;
            match crate::yaml::parse_value(&s(&a[0])?) {
                Ok(v @ Value::List(_)) => v,
                Ok(Value::Nil) => Value::list(Vec::new()),
                Ok(_) => Value::list(vec![Value::str(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}",
                )]),
                Err(e) => Value::list(vec![Value::str(e)]),
            }
        }
        "toJson" | "mustToJson" => {
            arity(name, a, 1)?;
            Value::str(encode::to_json(&a[0], true, None))
        }
        "toRawJson" | "mustToRawJson" => {
            arity(name, a, 1)?;
            Value::str(encode::to_json(&a[0], false, None))
        }
        "toPrettyJson" | "mustToPrettyJson" => {
            arity(name, a, 1)?;
            Value::str(encode::to_json(&a[0], true, Some("  ")))
        }
        "fromJson" | "mustFromJson" => {
            arity(name, a, 1)?;
            match serde_json::from_str::<serde_json::Value>(&s(&a[0])?) {
                Ok(j @ serde_json::Value::Object(_)) => Value::from_json(&j),
                Ok(_) => error_map(
                    "json: cannot unmarshal into Go value of type map[string]interface {}",
                ),
                Err(e) => error_map(&e.to_string()),
            }
        }
        "fromJsonArray" => {
            arity(name, a, 1)?;
            match serde_json::from_str::<serde_json::Value>(&s(&a[0])?) {
                Ok(j @ serde_json::Value::Array(_)) => Value::from_json(&j),
                Ok(_) => Value::list(vec![Value::str(
                    "json: cannot unmarshal object into Go value of type []interface {}",
                )]),
                Err(e) => Value::list(vec![Value::str(e.to_string())]),
            }
        }
        "toToml" => {
            arity(name, a, 1)?;
            Value::str(tomlfmt::to_toml(&a[0])?)
        }
        "fromToml" => {
            arity(name, a, 1)?;
            tomlfmt::from_toml(&s(&a[0])?)
        }
        "lookup" => {
            arity(name, a, 4)?;
            // As in `helm template`: no cluster, so nothing is found.
            Value::map(Map::new())
        }

        // ------------------------------------------------ Sprig strings
        "trim" => Value::str(s(&one(name, a)?)?.trim()),
        "trimAll" | "trimall" => {
            arity(name, a, 2)?;
            let cut: Vec<char> = s(&a[0])?.chars().collect();
            Value::str(s(&a[1])?.trim_matches(|c| cut.contains(&c)))
        }
        "trimPrefix" => {
            arity(name, a, 2)?;
            let (p, x) = (s(&a[0])?, s(&a[1])?);
            match x.strip_prefix(&*p) {
                Some(r) => Value::str(r),
                None => Value::Str(x),
            }
        }
        "trimSuffix" => {
            arity(name, a, 2)?;
            let (p, x) = (s(&a[0])?, s(&a[1])?);
            match x.strip_suffix(&*p) {
                Some(r) => Value::str(r),
                None => Value::Str(x),
            }
        }
        "upper" => Value::str(s(&one(name, a)?)?.to_uppercase()),
        "lower" => Value::str(s(&one(name, a)?)?.to_lowercase()),
        "title" => Value::str(title(&s(&one(name, a)?)?)),
        "untitle" => Value::str(untitle(&s(&one(name, a)?)?)),
        "swapcase" => Value::str(
            s(&one(name, a)?)?
                .chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        ),
        "repeat" => {
            arity(name, a, 2)?;
            let c = i(&a[0])?;
            if c < 0 {
                return Err("strings: negative Repeat count".into());
            }
            Value::str(s(&a[1])?.repeat(c as usize))
        }
        "substr" => {
            arity(name, a, 3)?;
            let (start, end, x) = (i(&a[0])?, i(&a[1])?, s(&a[2])?);
            let len = x.len() as i64;
            let r = if start < 0 {
                &x[..(end.clamp(0, len)) as usize]
            } else if end < 0 || end > len {
                &x[(start.min(len)) as usize..]
            } else if start > end {
                ""
            } else {
                &x[start as usize..end as usize]
            };
            Value::str(r)
        }
        "nospace" => Value::str(
            s(&one(name, a)?)?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        ),
        "trunc" => {
            arity(name, a, 2)?;
            let (c, x) = (i(&a[0])?, s(&a[1])?);
            let len = x.len() as i64;
            if c < 0 && len + c > 0 {
                Value::str(&x[(len + c) as usize..])
            } else if c >= 0 && len > c {
                Value::str(&x[..c as usize])
            } else {
                Value::Str(x)
            }
        }
        "abbrev" => {
            arity(name, a, 2)?;
            let (w, x) = (i(&a[0])?, s(&a[1])?);
            if w < 4 || x.len() as i64 <= w {
                Value::Str(x)
            } else {
                Value::str(format!("{}...", &x[..(w - 3) as usize]))
            }
        }
        "initials" => Value::str(
            s(&one(name, a)?)?
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ),
        "contains" => {
            arity(name, a, 2)?;
            Value::Bool(s(&a[1])?.contains(&*s(&a[0])?))
        }
        "hasPrefix" => {
            arity(name, a, 2)?;
            Value::Bool(s(&a[1])?.starts_with(&*s(&a[0])?))
        }
        "hasSuffix" => {
            arity(name, a, 2)?;
            Value::Bool(s(&a[1])?.ends_with(&*s(&a[0])?))
        }
        "quote" => {
            let parts: Vec<String> = a
                .iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(|x| go_quote(&strval(x)))
                .collect();
            Value::str(parts.join(" "))
        }
        "squote" => {
            let parts: Vec<String> = a
                .iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(|x| format!("'{}'", strval(x)))
                .collect();
            Value::str(parts.join(" "))
        }
        "cat" => {
            let parts: Vec<String> = a
                .iter()
                .filter(|x| !matches!(x, Value::Nil))
                .map(Value::to_go_string)
                .collect();
            Value::str(parts.join(" "))
        }
        "indent" | "nindent" => {
            arity(name, a, 2)?;
            let (c, x) = (i(&a[0])?, s(&a[1])?);
            let pad = c.max(0) as usize;
            // One string: the newline (`nindent`), then each line padded.
            let lines = x.bytes().filter(|b| *b == b'\n').count() + 1;
            let mut out = String::with_capacity(x.len() + lines * pad + 1);
            if name == "nindent" {
                out.push('\n');
            }
            for (n, line) in x.split('\n').enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(line);
            }
            Value::str(out)
        }
        "replace" => {
            arity(name, a, 3)?;
            let (old, new, src) = (s(&a[0])?, s(&a[1])?, s(&a[2])?);
            Value::str(go_replace(&src, &old, &new))
        }
        "plural" => {
            arity(name, a, 3)?;
            let (one_, many, c) = (s(&a[0])?, s(&a[1])?, i(&a[2])?);
            Value::Str(if c == 1 { one_ } else { many })
        }
        "snakecase" => Value::str(snake(&s(&one(name, a)?)?, '_')),
        "kebabcase" => Value::str(snake(&s(&one(name, a)?)?, '-')),
        "camelcase" => Value::str(camel(&s(&one(name, a)?)?)),
        "wrap" => {
            arity(name, a, 2)?;
            Value::str(wrap(&s(&a[1])?, i(&a[0])?.max(1) as usize, "\n", false))
        }
        "wrapWith" => {
            arity(name, a, 3)?;
            Value::str(wrap(
                &s(&a[2])?,
                i(&a[0])?.max(1) as usize,
                &s(&a[1])?,
                true,
            ))
        }
        "toString" => Value::str(strval(&one(name, a)?)),
        "toStrings" => Value::list(
            strslice(&one(name, a)?)
                .into_iter()
                .map(Value::str)
                .collect(),
        ),
        "join" => {
            arity(name, a, 2)?;
            Value::str(strslice(&a[1]).join(&s(&a[0])?))
        }
        "splitList" => {
            arity(name, a, 2)?;
            let (sep, x) = (s(&a[0])?, s(&a[1])?);
            Value::list(go_split(&x, &sep).into_iter().map(Value::str).collect())
        }
        "split" => {
            arity(name, a, 2)?;
            let (sep, x) = (s(&a[0])?, s(&a[1])?);
            let mut mm = Map::new();
            for (ix, p) in go_split(&x, &sep).into_iter().enumerate() {
                mm.insert(format!("_{ix}"), Value::str(p));
            }
            Value::map(mm)
        }
        "splitn" => {
            arity(name, a, 3)?;
            let (sep, c, x) = (s(&a[0])?, i(&a[1])?, s(&a[2])?);
            let mut mm = Map::new();
            let parts: Vec<&str> = if c < 0 {
                x.split(&*sep).collect()
            } else {
                x.splitn(c as usize, &*sep).collect()
            };
            for (ix, p) in parts.into_iter().enumerate() {
                mm.insert(format!("_{ix}"), Value::str(p));
            }
            Value::map(mm)
        }
        "sortAlpha" => {
            let mut l = strslice(&one(name, a)?);
            l.sort();
            Value::list(l.into_iter().map(Value::str).collect())
        }

        // ------------------------------------- conversions and defaults
        "atoi" => Value::Int(s(&one(name, a)?)?.trim().parse().unwrap_or(0)),
        "int" => Value::Int(to_i64(&one(name, a)?)),
        "int64" => Value::Int64(to_i64(&one(name, a)?)),
        "float64" => Value::Float(to_f64(&one(name, a)?)),
        "toDecimal" => {
            let v = one(name, a)?;
            Value::Int64(i64::from_str_radix(&strval(&v), 8).unwrap_or(0))
        }
        "default" => {
            at_least(name, a, 1)?;
            match a.get(1) {
                Some(given) if !is_empty(given) => given.clone(),
                _ => a[0].clone(),
            }
        }
        "empty" => Value::Bool(is_empty(&one(name, a)?)),
        "coalesce" => a.iter().find(|x| !is_empty(x)).cloned().unwrap_or_default(),
        "all" => Value::Bool(a.iter().all(|x| !is_empty(x))),
        "any" => Value::Bool(a.iter().any(|x| !is_empty(x))),
        "ternary" => {
            arity(name, a, 3)?;
            if b(&a[2])? {
                a[0].clone()
            } else {
                a[1].clone()
            }
        }
        "kindOf" => Value::str(one(name, a)?.kind_name()),
        "typeOf" => Value::str(one(name, a)?.type_name()),
        "kindIs" => {
            arity(name, a, 2)?;
            Value::Bool(*s(&a[0])? == *a[1].kind_name())
        }
        "typeIs" | "typeIsLike" => {
            arity(name, a, 2)?;
            let want = s(&a[0])?;
            let t = a[1].type_name();
            Value::Bool(*want == *t || (name == "typeIsLike" && *want == format!("*{t}")))
        }
        "deepEqual" => {
            arity(name, a, 2)?;
            Value::Bool(a[0].to_json() == a[1].to_json() && a[0].type_name() == a[1].type_name())
        }

        // ---------------------------------------------------------- regex
        "regexMatch" | "mustRegexMatch" => {
            arity(name, a, 2)?;
            Value::Bool(regex(&s(&a[0])?)?.is_match(&s(&a[1])?))
        }
        "regexFind" | "mustRegexFind" => {
            arity(name, a, 2)?;
            let x = s(&a[1])?;
            Value::str(
                regex(&s(&a[0])?)?
                    .find(&x)
                    .map(|m| m.as_str())
                    .unwrap_or(""),
            )
        }
        "regexFindAll" | "mustRegexFindAll" => {
            arity(name, a, 3)?;
            let x = s(&a[1])?;
            let c = i(&a[2])?;
            let re = regex(&s(&a[0])?)?;
            let it = re.find_iter(&x).map(|m| Value::str(m.as_str()));
            Value::list(if c < 0 {
                it.collect()
            } else {
                it.take(c as usize).collect()
            })
        }
        "regexReplaceAll" | "mustRegexReplaceAll" => {
            arity(name, a, 3)?;
            let (x, repl) = (s(&a[1])?, s(&a[2])?);
            Value::str(regex(&s(&a[0])?)?.replace_all(&x, &*repl).into_owned())
        }
        "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => {
            arity(name, a, 3)?;
            let (x, repl) = (s(&a[1])?, s(&a[2])?);
            Value::str(
                regex(&s(&a[0])?)?
                    .replace_all(&x, regex::NoExpand(&repl))
                    .into_owned(),
            )
        }
        "regexSplit" | "mustRegexSplit" => {
            arity(name, a, 3)?;
            let x = s(&a[1])?;
            let c = i(&a[2])?;
            let re = regex(&s(&a[0])?)?;
            let parts: Vec<Value> = if c < 0 {
                re.split(&x).map(Value::str).collect()
            } else if c == 0 {
                Vec::new()
            } else {
                re.splitn(&x, c as usize).map(Value::str).collect()
            };
            Value::list(parts)
        }
        "regexQuoteMeta" => Value::str(regex::escape(&s(&one(name, a)?)?)),

        // ---------------------------------------------------------- lists
        "list" | "tuple" => Value::list(a.clone()),
        "first" | "mustFirst" => list_of(&one(name, a)?, "find first")?
            .first()
            .cloned()
            .unwrap_or_default(),
        "last" | "mustLast" => list_of(&one(name, a)?, "find last")?
            .last()
            .cloned()
            .unwrap_or_default(),
        "rest" | "mustRest" => {
            let l = list_of(&one(name, a)?, "find rest")?;
            if l.is_empty() {
                Value::Nil
            } else {
                Value::list(l[1..].to_vec())
            }
        }
        "initial" | "mustInitial" => {
            let l = list_of(&one(name, a)?, "find initial")?;
            if l.is_empty() {
                Value::Nil
            } else {
                Value::list(l[..l.len() - 1].to_vec())
            }
        }
        "append" | "mustAppend" | "push" | "mustPush" => {
            arity(name, a, 2)?;
            let mut l = list_of(&a[0], "push")?;
            l.push(a[1].clone());
            Value::list(l)
        }
        "prepend" | "mustPrepend" => {
            arity(name, a, 2)?;
            let mut l = list_of(&a[0], "prepend")?;
            l.insert(0, a[1].clone());
            Value::list(l)
        }
        "concat" => {
            let mut out = Vec::new();
            for x in a {
                out.extend(list_of(x, "concat")?);
            }
            Value::list(out)
        }
        "reverse" | "mustReverse" => {
            let mut l = list_of(&one(name, a)?, "reverse")?;
            l.reverse();
            Value::list(l)
        }
        "uniq" | "mustUniq" => {
            let mut out: Vec<Value> = Vec::new();
            for x in list_of(&one(name, a)?, "uniq")? {
                if !out
                    .iter()
                    .any(|y| y.to_json() == x.to_json() && y.type_name() == x.type_name())
                {
                    out.push(x);
                }
            }
            Value::list(out)
        }
        "without" | "mustWithout" => {
            at_least(name, a, 1)?;
            let l = list_of(&a[0], "without")?;
            Value::list(
                l.into_iter()
                    .filter(|x| {
                        !a[1..]
                            .iter()
                            .any(|y| y.to_json() == x.to_json() && y.type_name() == x.type_name())
                    })
                    .collect(),
            )
        }
        "has" | "mustHas" => {
            arity(name, a, 2)?;
            let l = list_of(&a[1], "has")?;
            Value::Bool(
                l.iter()
                    .any(|x| x.to_json() == a[0].to_json() && x.type_name() == a[0].type_name()),
            )
        }
        "compact" | "mustCompact" => Value::list(
            list_of(&one(name, a)?, "compact")?
                .into_iter()
                .filter(|x| !is_empty(x))
                .collect(),
        ),
        "chunk" | "mustChunk" => {
            arity(name, a, 2)?;
            let size = i(&a[0])?.max(1) as usize;
            let l = list_of(&a[1], "chunk")?;
            Value::list(l.chunks(size).map(|c| Value::list(c.to_vec())).collect())
        }
        "until" => {
            let c = i(&one(name, a)?)?;
            let v: Vec<Value> = if c >= 0 {
                (0..c).map(Value::Int).collect()
            } else {
                (c + 1..=0).rev().map(Value::Int).collect()
            };
            Value::list(v)
        }
        "untilStep" => {
            arity(name, a, 3)?;
            let (start, stop, step) = (i(&a[0])?, i(&a[1])?, i(&a[2])?);
            let mut v = Vec::new();
            if step > 0 {
                let mut x = start;
                while x < stop {
                    v.push(Value::Int(x));
                    x += step;
                }
            } else if step < 0 {
                let mut x = start;
                while x > stop {
                    v.push(Value::Int(x));
                    x += step;
                }
            }
            Value::list(v)
        }
        "seq" => {
            let p: Vec<i64> = a.iter().map(to_i64).collect();
            let (start, step, end) = match p.as_slice() {
                [] => return Ok(Value::str("")),
                [e] => (1, if *e >= 1 { 1 } else { -1 }, *e),
                [s0, e] => (*s0, if e >= s0 { 1 } else { -1 }, *e),
                [s0, st, e, ..] => (*s0, *st, *e),
            };
            let mut out = Vec::new();
            if step != 0 {
                let mut x = start;
                while (step > 0 && x <= end) || (step < 0 && x >= end) {
                    out.push(x.to_string());
                    x += step;
                }
            }
            Value::str(out.join(" "))
        }

        // ---------------------------------------------------------- dicts
        "dict" => {
            let mut mm = Map::new();
            let mut it = a.iter();
            while let Some(k) = it.next() {
                // An odd count leaves the last key with an empty string.
                let v = it.next().cloned().unwrap_or_else(|| Value::str(""));
                mm.insert(strval(k), v);
            }
            Value::map(mm)
        }
        "get" => {
            arity(name, a, 2)?;
            let d = m(&a[0])?;
            let k = s(&a[1])?;
            let v = d.borrow().get(&*k).cloned();
            v.unwrap_or_else(|| Value::str(""))
        }
        "set" => {
            arity(name, a, 3)?;
            let d = m(&a[0])?;
            d.borrow_mut().insert(s(&a[1])?.to_string(), a[2].clone());
            a[0].clone()
        }
        "unset" => {
            arity(name, a, 2)?;
            let d = m(&a[0])?;
            d.borrow_mut().remove(&*s(&a[1])?);
            a[0].clone()
        }
        "hasKey" => {
            arity(name, a, 2)?;
            Value::Bool(m(&a[0])?.borrow().contains_key(&*s(&a[1])?))
        }
        "pluck" => {
            at_least(name, a, 1)?;
            let k = s(&a[0])?;
            let mut out = Vec::new();
            for d in &a[1..] {
                if let Some(v) = m(d)?.borrow().get(&*k) {
                    out.push(v.clone());
                }
            }
            Value::list(out)
        }
        "keys" => {
            let mut out = Vec::new();
            for d in a {
                out.extend(m(d)?.borrow().keys().map(|k| Value::str(k.as_str())));
            }
            Value::list(out)
        }
        "values" => {
            let d = m(&one(name, a)?)?;
            let v: Vec<Value> = d.borrow().values().cloned().collect();
            Value::list(v)
        }
        "pick" | "omit" => {
            at_least(name, a, 1)?;
            let d = m(&a[0])?;
            let ks: Vec<String> = a[1..]
                .iter()
                .map(|k| s(k).map(|x| x.to_string()))
                .collect::<Result<_, _>>()?;
            let out: Map = d
                .borrow()
                .iter()
                .filter(|(k, _)| ks.contains(k) == (name == "pick"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::map(out)
        }
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            at_least(name, a, 1)?;
            let dst = m(&a[0])?;
            let overwrite = name.ends_with("Overwrite");
            for src in &a[1..] {
                let src = m(src)?;
                let src = src.borrow().clone();
                merge_into(&dst, &src, overwrite);
            }
            a[0].clone()
        }
        "deepCopy" | "mustDeepCopy" => one(name, a)?.deep_copy(),
        "dig" => {
            at_least(name, a, 3)?;
            if crate::template::value::is_values(&a[n - 1]) {
                return Err("interface conversion: interface {} is common.Values, not map[string]interface {}".into());
            }
            let d = m(&a[n - 1])?;
            let default = a[n - 2].clone();
            let mut cur = Value::Map(d);
            for k in &a[..n - 2] {
                let k = s(k)?;
                let next = match &cur {
                    Value::Map(mm) => mm.borrow().get(&*k).cloned(),
                    _ => None,
                };
                match next {
                    Some(v) => cur = v,
                    None => return Ok(default),
                }
            }
            cur
        }

        // ----------------------------------------------------------- math
        "add" => Value::Int64(a.iter().map(to_i64).fold(0i64, i64::wrapping_add)),
        "add1" => Value::Int64(to_i64(&one(name, a)?).wrapping_add(1)),
        "sub" => {
            arity(name, a, 2)?;
            Value::Int64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1])))
        }
        "mul" => {
            at_least(name, a, 1)?;
            Value::Int64(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul))
        }
        "div" | "mod" => {
            arity(name, a, 2)?;
            let (x, y) = (to_i64(&a[0]), to_i64(&a[1]));
            if y == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Value::Int64(if name == "div" {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            })
        }
        "max" | "biggest" => {
            at_least(name, a, 1)?;
            Value::Int64(a.iter().map(to_i64).max().unwrap_or(0))
        }
        "min" => {
            at_least(name, a, 1)?;
            Value::Int64(a.iter().map(to_i64).min().unwrap_or(0))
        }
        "addf" => Value::Float(a.iter().map(to_f64).sum()),
        "add1f" => Value::Float(to_f64(&one(name, a)?) + 1.0),
        "subf" => {
            at_least(name, a, 1)?;
            Value::Float(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), |x, y| x - y))
        }
        "mulf" => Value::Float(a.iter().map(to_f64).product()),
        "divf" => {
            at_least(name, a, 1)?;
            Value::Float(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), |x, y| x / y))
        }
        "maxf" => Value::Float(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max)),
        "minf" => Value::Float(a.iter().map(to_f64).fold(f64::INFINITY, f64::min)),
        "floor" => Value::Float(to_f64(&one(name, a)?).floor()),
        "ceil" => Value::Float(to_f64(&one(name, a)?).ceil()),
        "round" => {
            at_least(name, a, 2)?;
            let x = to_f64(&a[0]);
            let p = i(&a[1])?;
            let r = a.get(2).map(to_f64).unwrap_or(0.5);
            let pow = 10f64.powi(p as i32);
            let digit = pow * x;
            let (int, frac) = (digit.trunc(), digit.fract());
            let rounded = if frac >= r { int + 1.0 } else { int };
            Value::Float(rounded / pow)
        }

        // ------------------------------------------- encoding and crypto
        "b64enc" => Value::str(base64_encode(s(&one(name, a)?)?.as_bytes())),
        "b64dec" => match base64_decode(&s(&one(name, a)?)?) {
            Some(bytes) => Value::str(String::from_utf8_lossy(&bytes)),
            None => Value::str("illegal base64 data at input byte 0"),
        },
        "sha256sum" => {
            use sha2::Digest;
            let d = sha2::Sha256::digest(s(&one(name, a)?)?.as_bytes());
            Value::str(hex(&d))
        }
        "sha1sum" => {
            use sha1::Digest;
            let d = sha1::Sha1::digest(s(&one(name, a)?)?.as_bytes());
            Value::str(hex(&d))
        }
        "sha512sum" => {
            use sha2::Digest;
            let d = sha2::Sha512::digest(s(&one(name, a)?)?.as_bytes());
            Value::str(hex(&d))
        }
        "adler32sum" => {
            let x = s(&one(name, a)?)?;
            let (mut p, mut q) = (1u32, 0u32);
            for byte in x.bytes() {
                p = (p + u32::from(byte)) % 65521;
                q = (q + p) % 65521;
            }
            Value::str(((q << 16) | p).to_string())
        }

        // --------------------------------------------------------- semver
        "semverCompare" => {
            arity(name, a, 2)?;
            Value::Bool(semver::compare(&s(&a[0])?, &s(&a[1])?).map_err(FuncError::Msg)?)
        }
        "semver" => {
            let v = semver::parse(&s(&one(name, a)?)?).map_err(FuncError::Msg)?;
            let mut mm = Map::new();
            mm.insert("Major".into(), Value::Int(v.major as i64));
            mm.insert("Minor".into(), Value::Int(v.minor as i64));
            mm.insert("Patch".into(), Value::Int(v.patch as i64));
            mm.insert("Prerelease".into(), Value::str(v.pre.as_str()));
            mm.insert("Metadata".into(), Value::str(v.meta.as_str()));
            Value::map(mm)
        }

        // ----------------------------------------- paths (path package)
        "base" | "osBase" => Value::str(path_base(&s(&one(name, a)?)?)),
        "dir" | "osDir" => Value::str(path_dir(&s(&one(name, a)?)?)),
        "ext" | "osExt" => {
            let x = s(&one(name, a)?)?;
            let b = path_base(&x);
            Value::str(b.rfind('.').map(|p| b[p..].to_string()).unwrap_or_default())
        }
        "isAbs" | "osIsAbs" => Value::Bool(s(&one(name, a)?)?.starts_with('/')),

        other => {
            if let Some(r) = random::call(other, a)
                .or_else(|| dates::call(other, a))
                .or_else(|| urls::call(other, a))
                .or_else(|| crypto::call(other, a))
            {
                return r;
            }
            return Err(FuncError::Msg(format!(
                "function {other:?} is not supported by weir's helm renderer (the sandbox has no network); see plugins/helm/README.md"
            )));
        }
    })
}

fn one(name: &str, a: &[Value]) -> Result<Value, FuncError> {
    arity(name, a, 1)?;
    Ok(a[0].clone())
}

fn error_map(msg: &str) -> Value {
    let mut mm = Map::new();
    mm.insert("Error".into(), Value::str(msg));
    Value::map(mm)
}

/// mergo's Merge (fill missing or empty keys, recursing into maps) and,
/// with `overwrite`, WithOverride (non-empty source values win).
fn merge_into(dst: &Rc<std::cell::RefCell<Map>>, src: &Map, overwrite: bool) {
    for (k, sv) in src {
        let existing = dst.borrow().get(k).cloned();
        match existing {
            Some(Value::Map(dm)) if matches!(sv, Value::Map(_)) => {
                if let Value::Map(sm) = sv
                    && !Rc::ptr_eq(&dm, sm)
                {
                    let sm = sm.borrow().clone();
                    merge_into(&dm, &sm, overwrite);
                }
            }
            Some(dv) => {
                if (overwrite && !is_empty(sv)) || (is_empty(&dv) && !matches!(dv, Value::Map(_))) {
                    dst.borrow_mut().insert(k.clone(), sv.clone());
                }
            }
            None => {
                dst.borrow_mut().insert(k.clone(), sv.clone());
            }
        }
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_print(a: &[Value]) -> String {
    let mut out = String::new();
    for (ix, v) in a.iter().enumerate() {
        if ix > 0 && !matches!(v, Value::Str(_)) && !matches!(a[ix - 1], Value::Str(_)) {
            out.push(' ');
        }
        v.write_go(&mut out);
    }
    out
}

/// Go's `strings.Split` (an empty separator splits into characters).
fn go_split(x: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return x.chars().map(String::from).collect();
    }
    x.split(sep).map(String::from).collect()
}

/// Go's `strings.Replace(s, old, new, -1)` (an empty `old` inserts `new`
/// between characters).
fn go_replace(src: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in src.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    src.replace(old, new)
}

/// Go's deprecated `strings.Title`: upper-cases letters that start words.
fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut prev_sep = true;
    for c in x.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

fn untitle(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut prev_space = true;
    for c in x.chars() {
        if prev_space {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    out
}

/// xstrings' ToSnakeCase/ToKebabCase (as Sprig uses them).
fn snake(x: &str, sep: char) -> String {
    let chars: Vec<char> = x.chars().collect();
    let mut out = String::new();
    for (ix, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !out.is_empty() && !out.ends_with(sep) {
                out.push(sep);
            }
            continue;
        }
        if c.is_uppercase() {
            let prev = ix.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(ix + 1);
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if boundary && !out.is_empty() && !out.ends_with(sep) {
                out.push(sep);
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out.trim_end_matches(sep).to_string()
}

/// xstrings' ToCamelCase: `_`-separated words joined, each capitalised.
fn camel(x: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    for c in x.chars() {
        if c == '_' {
            up = true;
            continue;
        }
        if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// goutils' `WrapCustom(str, width, nl, long)`: breaks at the last space
/// that fits; words longer than `width` are cut at `width` bytes when
/// `long`, else kept whole up to the next space. Existing newlines are
/// ordinary characters (goutils counts bytes, not characters).
fn wrap(x: &str, width: usize, nl: &str, long: bool) -> String {
    if x.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let b = x.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len() + b.len() / width.max(1));
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = width + offset + 1;
        match b[offset..end].iter().rposition(|&c| c == b' ') {
            Some(p) => {
                out.extend_from_slice(&b[offset..offset + p]);
                out.extend_from_slice(nl.as_bytes());
                offset += p + 1;
            }
            None if long => {
                out.extend_from_slice(&b[offset..offset + width]);
                out.extend_from_slice(nl.as_bytes());
                offset += width;
            }
            None => match b[offset + width..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = b.len();
                }
                Some(p) => {
                    let at = offset + width + p;
                    out.extend_from_slice(&b[offset..at]);
                    out.extend_from_slice(nl.as_bytes());
                    offset = at + 1;
                }
            },
        }
    }
    out.extend_from_slice(&b[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

fn html_escape(x: &str) -> String {
    let mut out = String::new();
    for c in x.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(x: &str) -> String {
    let mut out = String::new();
    for c in x.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn url_query_escape(x: &str) -> String {
    let mut out = String::new();
    for byte in x.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(ix) => p[..ix].to_string(),
        None => ".".into(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = match chunk.len() {
            3 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]),
            2 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8),
            _ => u32::from(chunk[0]) << 16,
        };
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

pub fn base64_decode(x: &str) -> Option<Vec<u8>> {
    let x = x.trim_end_matches('=');
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in x.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// The methods of Helm's `common.Values` (`.Values`) that templates can
/// call; Go looks methods up before map keys.
pub const VALUES_METHODS: &[&str] = &["AsMap", "YAML", "Table", "PathValue"];

/// Calls method `name` (one of [`VALUES_METHODS`]) of a `common.Values`.
///
/// # Errors
/// Wrong arguments, and `Table`/`PathValue` on a missing path (Helm's
/// words).
pub fn values_method(v: &Value, name: &str, args: Vec<Value>) -> Result<Value, String> {
    let want = usize::from(matches!(name, "Table" | "PathValue"));
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    let path = |ix: usize| -> Result<String, String> {
        match &args[ix] {
            Value::Str(x) => Ok(x.to_string()),
            other => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
        }
    };
    // Helm's tableLookup along a dotted path.
    let table = |p: &str| -> Result<Value, String> {
        let mut cur = v.clone();
        for part in p.split('.') {
            let next = match &cur {
                Value::Map(m) => m.borrow().get(part).cloned(),
                _ => None,
            };
            cur = match next {
                Some(t @ Value::Map(_)) => t,
                _ => return Err(format!("{} is not a table", go_quote(part))),
            };
        }
        Ok(cur)
    };
    match name {
        "AsMap" => Ok(match v {
            Value::Map(m) => Value::map(m.borrow().clone()),
            other => other.clone(),
        }),
        "YAML" => Ok(Value::str(encode::to_yaml(v))),
        "Table" => {
            let t = table(&path(0)?)?;
            crate::template::value::mark_values(&t);
            Ok(t)
        }
        _ => {
            let p = path(0)?;
            if p.is_empty() {
                return Err("YAML path cannot be empty".into());
            }
            let (parent, key) = match p.rsplit_once('.') {
                Some((parent, key)) => (table(parent).ok(), key),
                None => (Some(v.clone()), p.as_str()),
            };
            let found = match parent {
                Some(Value::Map(m)) => m.borrow().get(key).cloned(),
                _ => None,
            };
            match found {
                Some(x) if !matches!(x, Value::Map(_)) => Ok(x),
                _ => Err(format!("{} is not a value", go_quote(key))),
            }
        }
    }
}

/// Calls method `name` of a Helm object; `None` when it has none (nor a
/// field of that name).
pub fn method(o: &Obj, name: &str, args: Vec<Value>) -> Option<Result<Value, String>> {
    let arg_str = |ix: usize| -> Result<String, String> {
        match args.get(ix) {
            Some(Value::Str(x)) => Ok(x.to_string()),
            Some(other) => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
            None => Err(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            )),
        }
    };
    Some(match (o, name) {
        (Obj::Capabilities { kube_version, .. }, "KubeVersion") => Ok(kube_version.clone()),
        (Obj::Capabilities { api_versions, .. }, "APIVersions") => Ok(api_versions.clone()),
        (Obj::Capabilities { helm_version, .. }, "HelmVersion") => Ok(helm_version.clone()),
        (Obj::KubeVersion { version, .. }, "Version" | "GitVersion" | "String") => {
            Ok(Value::str(version.as_str()))
        }
        (Obj::Cert { cert, .. }, "Cert") => Ok(Value::str(cert.as_str())),
        (Obj::Cert { key, .. }, "Key") => Ok(Value::str(key.as_str())),
        (Obj::KubeVersion { major, .. }, "Major") => Ok(Value::str(major.as_str())),
        (Obj::KubeVersion { minor, .. }, "Minor") => Ok(Value::str(minor.as_str())),
        (Obj::ApiVersions(v), "Has") => arg_str(0).map(|x| Value::Bool(v.contains(&x))),
        (Obj::Files(f), "Get") => arg_str(0).map(|p| {
            Value::str(
                f.get(&p)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            )
        }),
        (Obj::Files(f), "GetBytes") => arg_str(0).map(|p| {
            Value::str(
                f.get(&p)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            )
        }),
        (Obj::Files(f), "Lines") => arg_str(0).map(|p| match f.get(&p) {
            Some(b) => {
                let text = String::from_utf8_lossy(b);
                Value::list(text.split('\n').map(Value::str).collect())
            }
            None => Value::list(Vec::new()),
        }),
        (Obj::Files(f), "Glob") => arg_str(0).map(|pat| {
            let sel: BTreeMap<String, Rc<[u8]>> = f
                .iter()
                .filter(|(k, _)| crate::chart::glob_match(&pat, k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Obj(Rc::new(Obj::Files(sel)))
        }),
        (Obj::Files(f), "AsConfig") => {
            let mut mm = Map::new();
            for (k, v) in f {
                mm.insert(path_base(k), Value::str(String::from_utf8_lossy(v)));
            }
            let y = encode::to_yaml(&Value::map(mm));
            Ok(Value::str(if f.is_empty() {
                String::new()
            } else {
                y.trim_end_matches('\n').to_string()
            }))
        }
        (Obj::Files(f), "AsSecrets") => {
            let mut mm = Map::new();
            for (k, v) in f {
                mm.insert(path_base(k), Value::str(base64_encode(v)));
            }
            let y = encode::to_yaml(&Value::map(mm));
            Ok(Value::str(if f.is_empty() {
                String::new()
            } else {
                y.trim_end_matches('\n').to_string()
            }))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("aGVsbG8=").unwrap_or_default(), b"hello");
    }

    #[test]
    fn case_helpers_follow_xstrings() {
        assert_eq!(snake("FirstName", '_'), "first_name");
        assert_eq!(snake("HTTPServer", '_'), "http_server");
        assert_eq!(camel("http_server"), "HttpServer");
        assert_eq!(title("hello world-x"), "Hello World-X");
    }

    #[test]
    fn go_casts() {
        assert_eq!(to_i64(&Value::str("0x10")), 16);
        assert_eq!(to_i64(&Value::str("3.0")), 3);
        assert_eq!(to_i64(&Value::Float(2.9)), 2);
    }
}
