//! Semantic versions and version ranges with the constraint syntax of the
//! Masterminds semver v3 library that Helm, Sprig and Flux use (feature
//! `semver`): for plugins that pick versions (chart versions, image tags)
//! as Flux users write them: `=`, `!=`, `>`, `<`, `>=`,
//! `<=`, `~`, `^`, `x`/`*` wildcards, `a - b` ranges, `,` or space for
//! AND, `||` for OR; a prerelease version only satisfies constraints that
//! themselves carry a prerelease (`>=1.19-0`).

use std::cmp::Ordering;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Prerelease (after `-`).
    pub pre: String,
    /// Build metadata (after `+`).
    pub meta: String,
}

/// Parses a version leniently (`v1`, `1.2`, `1.2.3-rc.1+b`).
///
/// # Errors
/// `Invalid Semantic Version` for anything else.
pub fn parse(s: &str) -> Result<Version, String> {
    let bad = || "Invalid Semantic Version".to_string();
    let t = s.trim();
    let t = t.strip_prefix('v').unwrap_or(t);
    let (t, meta) = match t.split_once('+') {
        Some((a, m)) => (a, m.to_string()),
        None => (t, String::new()),
    };
    let (core, pre) = match t.split_once('-') {
        Some((a, p)) => (a, p.to_string()),
        None => (t, String::new()),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(bad());
    }
    let num = |p: Option<&&str>| -> Result<u64, String> {
        match p {
            None => Ok(0),
            Some(x) if !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit()) => {
                x.parse().map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    };
    Ok(Version {
        major: num(parts.first())?,
        minor: num(parts.get(1))?,
        patch: num(parts.get(2))?,
        pre,
        meta,
    })
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

/// Semver precedence of two versions (build metadata ignored).
pub fn precedence(a: &Version, b: &Version) -> Ordering {
    cmp(a, b)
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| cmp_pre(&a.pre, &b.pre))
}

/// A constraint's version with how much of it was given (wildcards).
struct Bound {
    v: Version,
    /// Number of components given before a wildcard or the end (0–3).
    given: u8,
}

fn parse_bound(s: &str) -> Result<Bound, String> {
    let t = s.trim().strip_prefix('v').unwrap_or(s.trim());
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let mut given = 0u8;
    let mut nums = Vec::new();
    for p in core.split('.') {
        if matches!(p, "x" | "X" | "*") || p.is_empty() {
            break;
        }
        nums.push(p);
        given += 1;
    }
    while nums.len() < 3 {
        nums.push("0");
    }
    let v = parse(&format!("{}{}", nums[..3].join("."), rest))
        .map_err(|_| format!("improper constraint: {s}"))?;
    Ok(Bound { v, given })
}

fn next(v: &Version, level: u8) -> Version {
    let mut n = Version {
        major: v.major,
        minor: v.minor,
        patch: v.patch,
        pre: String::new(),
        meta: String::new(),
    };
    match level {
        0 => {
            n.major += 1;
            n.minor = 0;
            n.patch = 0;
        }
        1 => {
            n.minor += 1;
            n.patch = 0;
        }
        _ => n.patch += 1,
    }
    n
}

fn check_one(op: &str, b: &Bound, v: &Version) -> bool {
    // A prerelease version only matches constraints that mention one.
    if !v.pre.is_empty() && b.v.pre.is_empty() {
        return false;
    }
    let c = &b.v;
    let lt_upper = |lvl: u8| cmp(v, &next(c, lvl)) == Ordering::Less;
    match op {
        "" | "=" => {
            if b.given >= 3 {
                cmp(v, c) == Ordering::Equal
            } else if b.given == 0 {
                true
            } else {
                cmp(v, c) != Ordering::Less && lt_upper(b.given - 1)
            }
        }
        "!=" => {
            if b.given >= 3 {
                cmp(v, c) != Ordering::Equal
            } else if b.given == 0 {
                false
            } else {
                !(cmp(v, c) != Ordering::Less && lt_upper(b.given - 1))
            }
        }
        ">" => {
            if b.given >= 3 {
                cmp(v, c) == Ordering::Greater
            } else if b.given == 0 {
                false
            } else {
                !lt_upper(b.given - 1)
            }
        }
        ">=" | "=>" => cmp(v, c) != Ordering::Less,
        "<" => cmp(v, c) == Ordering::Less,
        "<=" | "=<" => {
            if b.given >= 3 || b.given == 0 {
                b.given == 0 || cmp(v, c) != Ordering::Greater
            } else {
                lt_upper(b.given - 1)
            }
        }
        "~" | "~>" => {
            let lvl = if b.given <= 1 { 0 } else { 1 };
            cmp(v, c) != Ordering::Less && lt_upper(lvl)
        }
        "^" => {
            let lvl = if c.major > 0 || b.given <= 1 {
                0
            } else if c.minor > 0 || b.given == 2 {
                1
            } else {
                2
            };
            cmp(v, c) != Ordering::Less && lt_upper(lvl)
        }
        _ => false,
    }
}

/// Whether `version` satisfies `constraint`.
///
/// # Errors
/// A malformed constraint or version, worded as Masterminds semver does.
pub fn compare(constraint: &str, version: &str) -> Result<bool, String> {
    let v = parse(version)?;
    for group in constraint.split("||") {
        let mut ok = true;
        let mut any = false;
        let toks = tokens(group);
        let mut i = 0;
        while i < toks.len() {
            // Hyphen range: `a - b`.
            if toks.get(i + 1).map(String::as_str) == Some("-") && i + 2 < toks.len() {
                let lo = parse_bound(&toks[i])?;
                let hi = parse_bound(&toks[i + 2])?;
                ok &= check_one(">=", &lo, &v) && check_one("<=", &hi, &v);
                any = true;
                i += 3;
                continue;
            }
            let t = &toks[i];
            let op_len = t
                .chars()
                .take_while(|c| matches!(c, '=' | '!' | '<' | '>' | '~' | '^'))
                .count();
            let (op, ver) = t.split_at(op_len);
            let b = parse_bound(ver)?;
            ok &= check_one(op, &b, &v);
            any = true;
            i += 1;
        }
        if !any {
            return Err(format!("improper constraint: {constraint}"));
        }
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Splits an AND group on commas and spaces, keeping an operator attached
/// to the version after it (`>= 1.2` is one constraint).
fn tokens(group: &str) -> Vec<String> {
    let raw: Vec<&str> = group.split([',', ' ']).filter(|t| !t.is_empty()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for t in raw {
        if t.chars()
            .all(|c| matches!(c, '=' | '!' | '<' | '>' | '~' | '^'))
            && t != "-"
        {
            pending.push_str(t);
            continue;
        }
        out.push(format!("{pending}{t}"));
        pending.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_version_checks_behave_as_in_charts() {
        assert_eq!(compare(">=1.19-0", "v1.36.0"), Ok(true));
        assert_eq!(compare(">=1.19-0", "v1.18.5-gke.1"), Ok(false));
        assert_eq!(compare(">=1.19-0", "v1.20.5-gke.1"), Ok(true));
        assert_eq!(compare(">=1.19", "v1.20.5-gke.1"), Ok(false));
        assert_eq!(compare("<1.22.0-0", "1.21.3"), Ok(true));
        assert_eq!(compare("~1.2.3", "1.2.9"), Ok(true));
        assert_eq!(compare("~1.2.3", "1.3.0"), Ok(false));
        assert_eq!(compare("^0.2.3", "0.2.9"), Ok(true));
        assert_eq!(compare("^0.2.3", "0.3.0"), Ok(false));
        assert_eq!(compare("1.2.x", "1.2.7"), Ok(true));
        assert_eq!(compare(">= 1.2, < 1.4 || 2.x", "2.1.0"), Ok(true));
        assert_eq!(compare("1.0 - 1.5", "1.5.0"), Ok(true));
    }
}
