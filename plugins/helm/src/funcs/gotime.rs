//! Go's `time` package as far as Sprig's date functions need it: a
//! `time.Time` value (instant, zone offset and name, and the monotonic
//! reading `now` carries), layout-based `Format` and `Parse`, `Duration`'s
//! `String` and `ParseDuration`, and the zones that need no tz database.
//!
//! `Local` is UTC (the sandbox has no zone of its own, as a UTC machine).

use std::rc::Rc;
use std::sync::OnceLock;

/// A Go `time.Time`.
#[derive(Clone, Debug, PartialEq)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second.
    pub nsec: u32,
    /// Zone offset east of UTC, in seconds.
    pub offset: i32,
    /// Zone abbreviation (`UTC`, `CET`); empty for an unnamed fixed zone,
    /// which prints as its numeric offset.
    pub zone: Rc<str>,
    /// The monotonic clock reading (nanoseconds since the process started)
    /// that `now` carries and `String` prints as `m=±…`.
    pub mono: Option<i128>,
}

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero `time.Time`.
const ZERO_UNIX: i64 = -62_135_596_800;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(m: u32, y: i64) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The broken-down fields of a time in its zone.
struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    wday: usize,
    yday: u32,
}

fn process_start() -> std::time::Instant {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

impl Time {
    /// Go's zero time (`0001-01-01 00:00:00 +0000 UTC`), what `toDate`
    /// returns for input it cannot parse.
    pub fn zero() -> Time {
        Time::utc(ZERO_UNIX, 0)
    }

    /// A UTC (= Local) time.
    pub fn utc(unix: i64, nsec: u32) -> Time {
        Time {
            unix,
            nsec,
            offset: 0,
            zone: "UTC".into(),
            mono: None,
        }
    }

    /// `time.Now()`: the wall clock in Local, with a monotonic reading.
    pub fn now() -> Time {
        let start = process_start();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut t = Time::utc(wall.as_secs() as i64, wall.subsec_nanos());
        t.mono = Some(start.elapsed().as_nanos() as i128);
        t
    }

    /// `t.Add(d)`: `d` nanoseconds later (the monotonic reading moves too).
    pub fn add(&self, d: i64) -> Time {
        let total = i128::from(self.nsec) + i128::from(d);
        let secs = total.div_euclid(1_000_000_000);
        let mut t = self.clone();
        t.unix = self.unix.saturating_add(secs as i64);
        t.nsec = total.rem_euclid(1_000_000_000) as u32;
        t.mono = self.mono.map(|m| m + i128::from(d));
        t
    }

    /// Nanoseconds from `self` to `later` (saturating, as Go's `Sub`).
    pub fn until(&self, later: &Time) -> i64 {
        let d = match (self.mono, later.mono) {
            (Some(a), Some(b)) => b - a,
            _ => {
                (i128::from(later.unix) - i128::from(self.unix)) * 1_000_000_000
                    + i128::from(later.nsec)
                    - i128::from(self.nsec)
            }
        };
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The same instant in another zone (`t.In(loc)`, which drops the
    /// monotonic reading).
    pub fn in_zone(&self, zone: &Zone) -> Time {
        Time {
            unix: self.unix,
            nsec: self.nsec,
            offset: zone.offset,
            zone: zone.name.clone(),
            mono: None,
        }
    }

    fn parts(&self) -> Parts {
        let local = self.unix + i64::from(self.offset);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            wday: (days + 4).rem_euclid(7) as usize,
            yday: (days - days_from_civil(year, 1, 1)) as u32 + 1,
        }
    }

    /// Go's `Time.String()`:
    /// `2006-01-02 15:04:05.999999999 -0700 MST` and ` m=±S.NNNNNNNNN`
    /// when the time has a monotonic reading.
    pub fn go_string(&self) -> String {
        let mut out = self.format("2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            out.push_str(&format!(
                " m={sign}{}.{:09}",
                m / 1_000_000_000,
                m % 1_000_000_000
            ));
        }
        out
    }

    /// RFC 3339 with nanoseconds, as `encoding/json` marshals a time.
    pub fn rfc3339_nano(&self) -> String {
        self.format("2006-01-02T15:04:05.999999999Z07:00")
    }

    /// Go's `Time.Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        let p = self.parts();
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, chunk, suffix) = next_chunk(rest);
            out.push_str(prefix);
            let Some(chunk) = chunk else { break };
            rest = suffix;
            self.format_chunk(&mut out, &p, chunk);
        }
        out
    }

    fn format_chunk(&self, out: &mut String, p: &Parts, c: Chunk) {
        use Chunk::*;
        let pad = |out: &mut String, v: i64, w: usize| {
            if v < 0 {
                out.push('-');
            }
            out.push_str(&format!("{:0w$}", v.unsigned_abs()));
        };
        let hour12 = match p.hour % 12 {
            0 => 12,
            h => h,
        };
        match c {
            Year => pad(out, p.year.rem_euclid(100), 2),
            LongYear => pad(out, p.year, 4),
            Month => out.push_str(&MONTHS[p.month as usize - 1][..3]),
            LongMonth => out.push_str(MONTHS[p.month as usize - 1]),
            NumMonth => pad(out, p.month.into(), 0),
            ZeroMonth => pad(out, p.month.into(), 2),
            WeekDay => out.push_str(&DAYS[p.wday][..3]),
            LongWeekDay => out.push_str(DAYS[p.wday]),
            Day => pad(out, p.day.into(), 0),
            UnderDay => out.push_str(&format!("{:>2}", p.day)),
            ZeroDay => pad(out, p.day.into(), 2),
            UnderYearDay => out.push_str(&format!("{:>3}", p.yday)),
            ZeroYearDay => pad(out, p.yday.into(), 3),
            Hour => pad(out, p.hour.into(), 2),
            Hour12 => pad(out, hour12.into(), 0),
            ZeroHour12 => pad(out, hour12.into(), 2),
            Minute => pad(out, p.min.into(), 0),
            ZeroMinute => pad(out, p.min.into(), 2),
            Second => pad(out, p.sec.into(), 0),
            ZeroSecond => pad(out, p.sec.into(), 2),
            PM => out.push_str(if p.hour >= 12 { "PM" } else { "AM" }),
            Pm => out.push_str(if p.hour >= 12 { "pm" } else { "am" }),
            Tz => {
                if self.zone.is_empty() {
                    let z = self.offset / 60;
                    out.push(if z < 0 { '-' } else { '+' });
                    let z = z.unsigned_abs();
                    out.push_str(&format!("{:02}{:02}", z / 60, z % 60));
                } else {
                    out.push_str(&self.zone);
                }
            }
            Offset {
                z,
                colon,
                minutes,
                seconds,
            } => {
                if z && self.offset == 0 {
                    out.push('Z');
                    return;
                }
                let o = self.offset;
                out.push(if o < 0 { '-' } else { '+' });
                let o = o.unsigned_abs();
                out.push_str(&format!("{:02}", o / 3600));
                if minutes {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", o / 60 % 60));
                }
                if seconds {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&format!("{:02}", o % 60));
                }
            }
            Frac { sep, digits, trim } => {
                let s = format!("{:09}", self.nsec);
                let mut d = &s[..digits.min(9)];
                if trim {
                    d = d.trim_end_matches('0');
                    if d.is_empty() {
                        return;
                    }
                }
                out.push(sep);
                out.push_str(d);
            }
        }
    }
}

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Chunk {
    Year,
    LongYear,
    Month,
    LongMonth,
    NumMonth,
    ZeroMonth,
    WeekDay,
    LongWeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    PM,
    Pm,
    Tz,
    /// `Z07:00` (z: `Z` for UTC), `-0700`, `-07`, `-07:00:00`, …
    Offset {
        z: bool,
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
    /// `.000` (exactly `digits`) or `.999` (trailing zeros trimmed).
    Frac {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

/// Go's `nextStdChunk`: the literal text before the first layout element,
/// the element, and the rest.
fn next_chunk(layout: &str) -> (&str, Option<Chunk>, &str) {
    use Chunk::*;
    let b = layout.as_bytes();
    let starts = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        let found: Option<(Chunk, usize)> = match b[i] {
            b'J' if starts(i, "January") => Some((LongMonth, 7)),
            b'J' if starts(i, "Jan") => Some((Month, 3)),
            b'M' if starts(i, "Monday") => Some((LongWeekDay, 6)),
            b'M' if starts(i, "Mon") => Some((WeekDay, 3)),
            b'M' if starts(i, "MST") => Some((Tz, 3)),
            b'0' if starts(i, "002") => Some((ZeroYearDay, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                [ZeroMonth, ZeroDay, ZeroHour12, ZeroMinute, ZeroSecond, Year]
                    [(b[i + 1] - b'1') as usize],
                2,
            )),
            b'1' if starts(i, "15") => Some((Hour, 2)),
            b'1' => Some((NumMonth, 1)),
            b'2' if starts(i, "2006") => Some((LongYear, 4)),
            b'2' => Some((Day, 1)),
            b'_' if starts(i, "_2") => {
                // `_2006` is a literal `_` and a year.
                if starts(i, "_2006") {
                    return (&layout[..i + 1], Some(LongYear), &layout[i + 5..]);
                }
                Some((UnderDay, 2))
            }
            b'_' if starts(i, "__2") => Some((UnderYearDay, 3)),
            b'3' => Some((Hour12, 1)),
            b'4' => Some((Minute, 1)),
            b'5' => Some((Second, 1)),
            b'P' if starts(i, "PM") => Some((PM, 2)),
            b'p' if starts(i, "pm") => Some((Pm, 2)),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                let rest = &layout[i + 1..];
                let forms: [(&str, bool, bool, bool); 5] = [
                    ("070000", false, true, true),
                    ("07:00:00", true, true, true),
                    ("0700", false, true, false),
                    ("07:00", true, true, false),
                    ("07", false, false, false),
                ];
                forms.iter().find(|(f, ..)| rest.starts_with(f)).map(
                    |(f, colon, minutes, seconds)| {
                        (
                            Offset {
                                z,
                                colon: *colon,
                                minutes: *minutes,
                                seconds: *seconds,
                            },
                            f.len() + 1,
                        )
                    },
                )
            }
            b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((
                        Frac {
                            sep: b[i] as char,
                            digits: j - i - 1,
                            trim: ch == b'9',
                        },
                        j - i,
                    ))
                }
            }
            _ => None,
        };
        if let Some((c, len)) = found {
            return (&layout[..i], Some(c), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

/// A fixed zone: its abbreviation and offset.
#[derive(Clone, Debug)]
pub struct Zone {
    /// Abbreviation.
    pub name: Rc<str>,
    /// Seconds east of UTC.
    pub offset: i32,
}

/// `time.LoadLocation` for the zones that need no tz database: `""`,
/// `UTC`, `Local` (UTC here), `GMT`, `Etc/UTC`, `Etc/GMT` and `Etc/GMT±N`.
/// `Ok(None)` for any other name (a real zone, or a bad name).
pub fn load_zone(name: &str) -> Option<Zone> {
    let z = |n: &str, offset: i32| {
        Some(Zone {
            name: n.into(),
            offset,
        })
    };
    match name {
        "" | "UTC" | "Local" | "Etc/UTC" | "UCT" | "Etc/UCT" | "Zulu" | "Etc/Zulu"
        | "Universal" | "Etc/Universal" => z("UTC", 0),
        "GMT" | "Etc/GMT" | "Etc/GMT0" | "Etc/GMT+0" | "Etc/GMT-0" | "GMT0" | "GMT+0" | "GMT-0"
        | "Greenwich" | "Etc/Greenwich" => z("GMT", 0),
        _ => {
            let rest = name.strip_prefix("Etc/GMT")?;
            let (sign, digits) = match rest.as_bytes().first()? {
                b'+' => (-1, &rest[1..]),
                b'-' => (1, &rest[1..]),
                _ => return None,
            };
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let h: i32 = digits.parse().ok()?;
            let max = if sign < 0 { 12 } else { 14 };
            if h == 0 || h > max || digits.starts_with('0') {
                return None;
            }
            let abbr = format!("{}{:02}", if sign < 0 { '-' } else { '+' }, h);
            z(&abbr, sign * h * 3600)
        }
    }
}

/// The Local zone (UTC in the sandbox).
pub fn local() -> Zone {
    Zone {
        name: "UTC".into(),
        offset: 0,
    }
}

fn parse_err(layout: &str, value: &str, elem: &str, val_elem: &str) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        crate::template::gofmt::go_quote(value),
        crate::template::gofmt::go_quote(layout),
        crate::template::gofmt::go_quote(val_elem),
        crate::template::gofmt::go_quote(elem),
    )
}

fn range_err(value: &str, what: &str) -> String {
    format!(
        "parsing time {}: {what}",
        crate::template::gofmt::go_quote(value)
    )
}

/// Leading decimal digits: exactly `fixed` of them when given, else 1 or 2.
fn getnum(v: &str, fixed: bool) -> Option<(u32, &str)> {
    let b = v.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() < 2 || !b[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        return Some((u32::from(b[0] - b'0'), &v[1..]));
    }
    Some((
        u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'),
        &v[2..],
    ))
}

fn getnum3(v: &str, fixed: bool) -> Option<(u32, &str)> {
    let n = v.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

/// Go's `skip`: match the literal `prefix`, where a space matches any run
/// of spaces.
fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Option<&'a str> {
    while !prefix.is_empty() {
        if prefix.starts_with(' ') {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        let c = prefix.chars().next()?;
        if !value.starts_with(c) {
            return None;
        }
        prefix = &prefix[c.len_utf8()..];
        value = &value[c.len_utf8()..];
    }
    Some(value)
}

fn lookup_name<'a>(names: &[&str], v: &'a str, len: Option<usize>) -> Option<(usize, &'a str)> {
    for (ix, n) in names.iter().enumerate() {
        let n = match len {
            Some(l) => &n[..l],
            None => n,
        };
        if v.len() >= n.len() && v[..n.len()].eq_ignore_ascii_case(n) {
            return Some((ix, &v[n.len()..]));
        }
    }
    None
}

/// Go's `time.ParseInLocation(layout, value, time.Local)`.
///
/// # Errors
/// Go's `ParseError` text.
pub fn parse(layout: &str, value: &str) -> Result<Time, String> {
    use Chunk::*;
    let (alayout, avalue) = (layout, value);
    let mut rest_l = layout;
    let mut v = value;
    let (mut year, mut month, mut day) = (0i64, 1u32, 1u32);
    let (mut hour, mut min, mut sec, mut nsec) = (0u32, 0u32, 0u32, 0u32);
    let mut pm_set = None::<bool>;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;
    let mut utc = false;
    let mut day_set = false;
    loop {
        let (prefix, chunk, suffix) = next_chunk(rest_l);
        let std_str = &rest_l[prefix.len()..rest_l.len() - suffix.len()];
        v = skip(v, prefix).ok_or_else(|| parse_err(alayout, avalue, prefix, v))?;
        let Some(c) = chunk else {
            if !v.is_empty() {
                return Err(format!(
                    "parsing time {}: extra text: {}",
                    crate::template::gofmt::go_quote(avalue),
                    crate::template::gofmt::go_quote(v)
                ));
            }
            break;
        };
        rest_l = suffix;
        let hold = v;
        let bad = || parse_err(alayout, avalue, std_str, hold);
        match c {
            Year => {
                let (n, r) = getnum(v, true).ok_or_else(bad)?;
                year = i64::from(n) + if n >= 69 { 1900 } else { 2000 };
                v = r;
            }
            LongYear => {
                if v.len() < 4 || !v.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                year = v[..4].parse().map_err(|_| bad())?;
                v = &v[4..];
            }
            Month | LongMonth => {
                let len = if c == Month { Some(3) } else { None };
                let (m, r) = lookup_name(&MONTHS, v, len).ok_or_else(bad)?;
                month = m as u32 + 1;
                v = r;
            }
            NumMonth | ZeroMonth => {
                let (n, r) = getnum(v, c == ZeroMonth).ok_or_else(bad)?;
                if !(1..=12).contains(&n) {
                    return Err(range_err(avalue, "month out of range"));
                }
                month = n;
                v = r;
            }
            WeekDay | LongWeekDay => {
                let len = if c == WeekDay { Some(3) } else { None };
                let (_, r) = lookup_name(&DAYS, v, len).ok_or_else(bad)?;
                v = r;
            }
            Day | UnderDay | ZeroDay => {
                if c == UnderDay && v.starts_with(' ') {
                    v = &v[1..];
                }
                let (n, r) = getnum(v, c == ZeroDay).ok_or_else(bad)?;
                day = n;
                day_set = true;
                v = r;
            }
            UnderYearDay | ZeroYearDay => {
                let mut w = v;
                if c == UnderYearDay {
                    w = w.trim_start_matches(' ');
                }
                let (_, r) = getnum3(w, c == ZeroYearDay).ok_or_else(bad)?;
                return Err(format!(
                    "parsing time {}: day-of-year is not supported by weir's helm renderer (rest {r:?})",
                    crate::template::gofmt::go_quote(avalue)
                ));
            }
            Hour => {
                let (n, r) = getnum(v, false).ok_or_else(bad)?;
                if n >= 24 {
                    return Err(range_err(avalue, "hour out of range"));
                }
                hour = n;
                v = r;
            }
            Hour12 | ZeroHour12 => {
                let (n, r) = getnum(v, c == ZeroHour12).ok_or_else(bad)?;
                if n > 12 {
                    return Err(range_err(avalue, "hour out of range"));
                }
                hour = n;
                v = r;
            }
            Minute | ZeroMinute | Second | ZeroSecond => {
                let (n, r) = getnum(v, matches!(c, ZeroMinute | ZeroSecond)).ok_or_else(bad)?;
                if n >= 60 {
                    let what = if matches!(c, Minute | ZeroMinute) {
                        "minute out of range"
                    } else {
                        "second out of range"
                    };
                    return Err(range_err(avalue, what));
                }
                v = r;
                if matches!(c, Minute | ZeroMinute) {
                    min = n;
                } else {
                    sec = n;
                    // A fractional second the layout does not spell out.
                    let b = v.as_bytes();
                    let next_is_frac = matches!(next_chunk(rest_l), ("", Some(Frac { .. }), _));
                    if b.len() >= 2
                        && (b[0] == b'.' || b[0] == b',')
                        && b[1].is_ascii_digit()
                        && !next_is_frac
                    {
                        let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nsec = frac_nanos(&v[1..n]);
                        v = &v[n..];
                    }
                }
            }
            PM | Pm => {
                if v.len() < 2 {
                    return Err(bad());
                }
                let p = &v[..2];
                pm_set = Some(match (c, p) {
                    (PM, "PM") | (Pm, "pm") => true,
                    (PM, "AM") | (Pm, "am") => false,
                    _ => return Err(bad()),
                });
                v = &v[2..];
            }
            Offset {
                z,
                colon,
                minutes,
                seconds,
            } => {
                if z && v.starts_with('Z') {
                    v = &v[1..];
                    utc = true;
                    continue;
                }
                let b = v.as_bytes();
                let sign = match b.first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad()),
                };
                let mut w = &v[1..];
                let two = |w: &str| -> Option<(i32, usize)> {
                    let d = w.as_bytes();
                    (d.len() >= 2 && d[0].is_ascii_digit() && d[1].is_ascii_digit())
                        .then(|| (i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'), 2))
                };
                let (hh, n) = two(w).ok_or_else(bad)?;
                w = &w[n..];
                let mut mm = 0;
                let mut ss = 0;
                for (want, slot) in [(minutes, &mut mm), (seconds, &mut ss)] {
                    if !want {
                        continue;
                    }
                    if colon {
                        w = w.strip_prefix(':').ok_or_else(bad)?;
                    }
                    let (x, n) = two(w).ok_or_else(bad)?;
                    *slot = x;
                    w = &w[n..];
                }
                if hh > 24 || mm >= 60 || ss >= 60 {
                    return Err(range_err(avalue, "time zone offset out of range"));
                }
                zone_offset = Some(sign * (hh * 3600 + mm * 60 + ss));
                v = w;
            }
            Tz => {
                if v.starts_with("UTC") {
                    v = &v[3..];
                    utc = true;
                    continue;
                }
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(bad());
                }
                zone_name = Some(v[..n].to_string());
                v = &v[n..];
            }
            Frac { digits, trim, .. } => {
                let b = v.as_bytes();
                if trim {
                    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !b[1].is_ascii_digit() {
                        // Optional: absent is fine.
                        continue;
                    }
                    let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nsec = frac_nanos(&v[1..n]);
                    v = &v[n..];
                } else {
                    let n = digits + 1;
                    if b.len() < n
                        || !(b[0] == b'.' || b[0] == b',')
                        || !b[1..n].iter().all(u8::is_ascii_digit)
                    {
                        return Err(bad());
                    }
                    nsec = frac_nanos(&v[1..n]);
                    v = &v[n..];
                }
            }
        }
    }
    if let Some(p) = pm_set {
        if p && hour < 12 {
            hour += 12;
        } else if !p && hour == 12 {
            hour = 0;
        }
    }
    if day_set && (day < 1 || day > days_in(month, year)) {
        return Err(range_err(avalue, "day out of range"));
    }
    let local_secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec);
    if utc {
        return Ok(Time::utc(local_secs, nsec));
    }
    if let Some(off) = zone_offset {
        let mut t = Time::utc(local_secs - i64::from(off), nsec);
        if off != local().offset {
            t.offset = off;
            t.zone = "".into();
        }
        return Ok(t);
    }
    if let Some(name) = zone_name {
        let mut t = Time::utc(local_secs, nsec);
        if name != "UTC" {
            // An abbreviation Go cannot resolve: that name, offset 0 (or
            // the offset a `GMT+h` spelling gives).
            let off = name
                .strip_prefix("GMT")
                .and_then(|h| h.parse::<i32>().ok())
                .map_or(0, |h| h * 3600);
            t.unix -= i64::from(off);
            t.offset = off;
            t.zone = name.into();
        }
        return Ok(t);
    }
    Ok(Time::utc(local_secs, nsec))
}

/// Nanoseconds of a decimal fraction's digits (`5` → 500000000).
fn frac_nanos(digits: &str) -> u32 {
    let mut n: u32 = 0;
    for (ix, c) in digits.bytes().take(9).enumerate() {
        n += u32::from(c - b'0') * 10u32.pow(8 - ix as u32);
    }
    n
}

/// Go's `time.ParseDuration`: nanoseconds.
///
/// # Errors
/// `time: invalid duration "…"` and its siblings, as Go words them.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let q = crate::template::gofmt::go_quote(s);
    let invalid = || format!("time: invalid duration {q}");
    let mut d = s;
    let mut neg = false;
    if let Some(r) = d.strip_prefix('-') {
        neg = true;
        d = r;
    } else if let Some(r) = d.strip_prefix('+') {
        d = r;
    }
    if d == "0" {
        return Ok(0);
    }
    if d.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !d.is_empty() {
        let int_len = d.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &d[..int_len];
        d = &d[int_len..];
        let mut frac_part = "";
        if let Some(r) = d.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            d = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = d
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(d.len(), |(ix, _)| ix);
        let unit = &d[..unit_len];
        d = &d[unit_len..];
        let scale: u128 = match unit {
            "" => return Err(format!("time: missing unit in duration {q}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {q}",
                    crate::template::gofmt::go_quote(unit)
                ));
            }
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut v = int.checked_mul(scale).ok_or_else(invalid)?;
        let mut f = scale;
        for c in frac_part.bytes() {
            f /= 10;
            if f == 0 {
                break;
            }
            v += u128::from(c - b'0') * f;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 + u128::from(neg) {
            return Err(invalid());
        }
    }
    Ok(if neg {
        (-(total as i128)) as i64
    } else {
        total as i64
    })
}

/// Go's `Duration.String()` (`1h2m3.5s`, `150ms`, `0s`).
pub fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    // Digits after the point of `v / 10^prec`, trailing zeros trimmed.
    let frac = |v: u64, prec: u32| -> (String, u64) {
        let p = 10u64.pow(prec);
        let f = v % p;
        let s = if f == 0 {
            String::new()
        } else {
            let digits = format!("{f:0w$}", w = prec as usize);
            format!(".{}", digits.trim_end_matches('0'))
        };
        (s, v / p)
    };
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (f, whole) = frac(u, prec);
        out = format!("{whole}{f}{unit}");
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        out.insert_str(0, &format!("{}{f}s", u % 60));
        u /= 60;
        if u > 0 {
            out.insert_str(0, &format!("{}m", u % 60));
            u /= 60;
            if u > 0 {
                out.insert_str(0, &format!("{u}h"));
            }
        }
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Go's `Duration.Round(m)`: halves away from zero.
pub fn duration_round(d: i64, m: i64) -> i64 {
    let r = d % m;
    if d < 0 {
        let r = -r;
        if r + r < m {
            d + r
        } else {
            d.saturating_sub(m - r)
        }
    } else if r + r < m {
        d - r
    } else {
        d.saturating_add(m - r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(layout: &str, v: &str) -> Time {
        match parse(layout, v) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_162, -1, 0, 1, 11_016, 18_320, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(18_325), (2020, 3, 4));
        assert_eq!(Time::zero().go_string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn formats_as_go() {
        let x = t("2006-01-02 15:04:05.999", "2020-03-04 17:06:07.5");
        assert_eq!(
            x.format("Mon Jan _2 2006 3:04PM .000 .999 MST -07:00 Z07:00"),
            "Wed Mar  4 2020 5:06PM .500 .5 UTC +00:00 Z"
        );
        let y = t("2006-01-02 15:04:05.999", "2020-03-04 07:06:07.05");
        assert_eq!(
            y.format("Monday January 2 06 03 4 5 pm -0700 Z0700 -07 __2 002 .9 ,000"),
            "Wednesday March 4 20 07 6 7 am +0000 Z +00  64 064  ,050"
        );
        let z = t("2006-01-02T15:04:05Z07:00", "2020-03-04T05:06:07+02:00");
        assert_eq!(z.go_string(), "2020-03-04 05:06:07 +0200 +0200");
        assert_eq!(z.rfc3339_nano(), "2020-03-04T05:06:07+02:00");
    }

    #[test]
    fn parse_errors_read_as_go() {
        let e = |l: &str, v: &str| parse(l, v).err().unwrap_or_default();
        assert_eq!(
            e("2006-01-02", "2020-1-04"),
            r#"parsing time "2020-1-04" as "2006-01-02": cannot parse "1-04" as "01""#
        );
        assert_eq!(
            e("2006-01-02", "2020-13-04"),
            r#"parsing time "2020-13-04": month out of range"#
        );
        assert_eq!(
            e("2006-01-02", "2020-02-30"),
            r#"parsing time "2020-02-30": day out of range"#
        );
        assert_eq!(
            e("2006-01-02", "2020-01-04x"),
            r#"parsing time "2020-01-04x": extra text: "x""#
        );
        assert_eq!(
            e("2006-01-02 15:04:05.000", "2020-01-02 03:04:05.12"),
            r#"parsing time "2020-01-02 03:04:05.12" as "2006-01-02 15:04:05.000": cannot parse ".12" as ".000""#
        );
        assert_eq!(
            t("Jan _2", "Mar  4").go_string(),
            "0000-03-04 00:00:00 +0000 UTC"
        );
        assert_eq!(
            t("3:04PM", "3:04AM").go_string(),
            "0000-01-01 03:04:00 +0000 UTC"
        );
        assert_eq!(
            t("2006-01-02 MST", "2020-03-04 CET").go_string(),
            "2020-03-04 00:00:00 +0000 CET"
        );
    }

    #[test]
    fn durations_as_go() {
        assert_eq!(duration_string(3_661_000_000_000), "1h1m1s");
        assert_eq!(duration_string(90_000_000_000), "1m30s");
        assert_eq!(duration_string(1_500_000_000), "1.5s");
        assert_eq!(duration_string(1_000), "1µs");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-5), "-5ns");
        assert_eq!(duration_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(parse_duration("1h2m3.5s"), Ok(3_723_500_000_000));
        assert_eq!(parse_duration("-1.5h"), Ok(-5_400_000_000_000));
        assert_eq!(parse_duration("1us"), Ok(1_000));
        assert_eq!(
            parse_duration("bad"),
            Err(r#"time: invalid duration "bad""#.into())
        );
        assert_eq!(
            parse_duration("5"),
            Err(r#"time: missing unit in duration "5""#.into())
        );
        assert_eq!(duration_round(1_499_999_999, 1_000_000_000), 1_000_000_000);
        assert_eq!(
            duration_round(-1_500_000_000, 1_000_000_000),
            -2_000_000_000
        );
    }

    #[test]
    fn zones_without_a_database() {
        assert_eq!(
            load_zone("Etc/GMT+5").map(|z| (z.name.to_string(), z.offset)),
            Some(("-05".into(), -18_000))
        );
        assert_eq!(load_zone("GMT").map(|z| z.offset), Some(0));
        assert!(load_zone("Europe/Paris").is_none());
        let x = Time::utc(0, 0).in_zone(&load_zone("Etc/GMT+5").unwrap_or_else(local));
        assert_eq!(x.format("2006-01-02 15:04 MST"), "1969-12-31 19:00 -05");
    }

    #[test]
    fn now_carries_a_monotonic_reading() {
        let n = Time::now();
        let s = n.go_string();
        assert!(s.contains(" +0000 UTC m=+"), "{s}");
        assert!(n.unix > 1_700_000_000);
        assert!(n.until(&Time::now()) >= 0);
    }
}
