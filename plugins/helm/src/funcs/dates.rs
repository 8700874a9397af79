//! Sprig's date functions (`now`, `date`, `toDate`, `dateModify`, `ago`,
//! `duration`, …) over [`gotime`]. `Local` is UTC; named zones other than
//! UTC/GMT/`Etc/GMT±N` need a tz database the sandbox does not have, so
//! they are an error naming the zone.

use std::rc::Rc;

use crate::funcs::gotime::{self, Time};
use crate::funcs::{R, arity, s, type_err};
use crate::template::exec::FuncError;
use crate::template::value::{Obj, Value};

fn time_value(t: Time) -> Value {
    Value::Obj(Rc::new(Obj::Time(t)))
}

/// A `time.Time` parameter.
fn time_param(v: &Value) -> Result<Time, FuncError> {
    match v {
        Value::Obj(o) => match &**o {
            Obj::Time(t) => Ok(t.clone()),
            _ => Err(type_err("time.Time", v)),
        },
        other => Err(type_err("time.Time", other)),
    }
}

/// Sprig's `interface{}` date argument: a time, or integer Unix seconds;
/// anything else means now.
fn date_arg(v: &Value) -> Time {
    match v {
        Value::Obj(o) => match &**o {
            Obj::Time(t) => t.clone(),
            _ => Time::now(),
        },
        Value::Int(n) | Value::Int64(n) => Time::utc(*n, 0),
        _ => Time::now(),
    }
}

fn zone(name: &str) -> Result<gotime::Zone, FuncError> {
    gotime::load_zone(name).ok_or_else(|| {
        FuncError::Msg(format!(
            "time zone {name:?} is not available: weir's helm renderer has no tz database (UTC, Local = UTC, GMT and Etc/GMT±N are)"
        ))
    })
}

fn in_zone(layout: &str, date: &Value, z: &str) -> R {
    Ok(Value::str(date_arg(date).in_zone(&zone(z)?).format(layout)))
}

const NAMES: &[&str] = &[
    "now",
    "date",
    "dateInZone",
    "date_in_zone",
    "htmlDate",
    "htmlDateInZone",
    "dateModify",
    "date_modify",
    "mustDateModify",
    "toDate",
    "mustToDate",
    "unixEpoch",
    "ago",
    "duration",
    "durationRound",
];

/// Sprig's date functions; `None` when `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    NAMES.contains(&name).then(|| run(name, a))
}

fn run(name: &str, a: &[Value]) -> R {
    match name {
        "now" => {
            arity(name, a, 0)?;
            Ok(time_value(Time::now()))
        }
        "date" => {
            arity(name, a, 2)?;
            in_zone(&s(&a[0])?, &a[1], "Local")
        }
        "dateInZone" | "date_in_zone" => {
            arity(name, a, 3)?;
            in_zone(&s(&a[0])?, &a[1], &s(&a[2])?)
        }
        "htmlDate" => {
            arity(name, a, 1)?;
            in_zone("2006-01-02", &a[0], "Local")
        }
        "htmlDateInZone" => {
            arity(name, a, 2)?;
            in_zone("2006-01-02", &a[0], &s(&a[1])?)
        }
        "dateModify" | "date_modify" | "mustDateModify" => {
            arity(name, a, 2)?;
            let (d, t) = (s(&a[0])?, time_param(&a[1])?);
            match gotime::parse_duration(&d) {
                Ok(ns) => Ok(time_value(t.add(ns))),
                Err(e) if name == "mustDateModify" => Err(FuncError::Msg(e)),
                Err(_) => Ok(time_value(t)),
            }
        }
        "toDate" | "mustToDate" => {
            arity(name, a, 2)?;
            match gotime::parse(&s(&a[0])?, &s(&a[1])?) {
                Ok(t) => Ok(time_value(t)),
                Err(e) if name == "mustToDate" => Err(FuncError::Msg(e)),
                Err(_) => Ok(time_value(Time::zero())),
            }
        }
        "unixEpoch" => {
            arity(name, a, 1)?;
            Ok(Value::str(time_param(&a[0])?.unix.to_string()))
        }
        "ago" => {
            arity(name, a, 1)?;
            let d = date_arg(&a[0]).until(&Time::now());
            Ok(Value::str(gotime::duration_string(gotime::duration_round(
                d,
                1_000_000_000,
            ))))
        }
        "duration" => {
            arity(name, a, 1)?;
            // Only a string or an int64 count: an `int` is 0 in Sprig.
            let n: i64 = match &a[0] {
                Value::Str(x) => x.parse().unwrap_or(0),
                Value::Int64(n) => *n,
                _ => 0,
            };
            Ok(Value::str(gotime::duration_string(
                n.saturating_mul(1_000_000_000),
            )))
        }
        "durationRound" => {
            arity(name, a, 1)?;
            let d: i64 = match &a[0] {
                Value::Str(x) => gotime::parse_duration(x).unwrap_or(0),
                Value::Int64(n) => *n,
                Value::Obj(o) => match &**o {
                    Obj::Time(t) => t.until(&Time::now()),
                    _ => 0,
                },
                _ => 0,
            };
            Ok(Value::str(duration_round(d)))
        }
        other => Err(FuncError::Msg(format!("{other} is not a date function"))),
    }
}

/// Sprig's `durationRound`: the largest whole unit (y = 365 days, mo = 30
/// days, d, h, m, s) that the magnitude exceeds.
fn duration_round(d: i64) -> String {
    let u = d.unsigned_abs();
    const S: u64 = 1_000_000_000;
    for (unit, size) in [
        ("y", S * 3600 * 24 * 365),
        ("mo", S * 3600 * 24 * 30),
        ("d", S * 3600 * 24),
        ("h", S * 3600),
        ("m", S * 60),
        ("s", S),
    ] {
        if u > size {
            return format!("{}{unit}", u / size);
        }
    }
    "0s".into()
}
