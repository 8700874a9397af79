//! Semver ranges over tags, written the way Flux users write them.
//!
//! Flux's `ref.semver` takes a constraint in the syntax of the Go library
//! Masterminds/semver (v3), documented in its README: comparators `=`, `!=`,
//! `>`, `>=`, `<`, `<=` joined by spaces or commas (AND) and `||` (OR);
//! hyphen ranges (`1.2 - 1.4.5`); wildcards (`1.2.x`, `*`); tilde (`~1.2.3`
//! = `>=1.2.3 <1.3.0`) and caret (`^1.2.3` = `>=1.2.3 <2.0.0`, with the
//! usual special cases below 1.0.0). Versions are read leniently, as Flux
//! reads tags: an optional `v`, and missing minor or patch numbers are 0.
//!
//! Pre-releases follow that library's rule: a pre-release version satisfies
//! a comparator only when the comparator itself names a pre-release, so
//! `>=1.0.0` never selects `1.1.0-rc.1` but `>=1.1.0-0` does.

use std::cmp::Ordering;
use std::fmt;

use semver::Prerelease;

/// A parsed version: numbers plus an optional pre-release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Prerelease,
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| self.pre.cmp(&other.pre))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

impl Version {
    fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: Prerelease::EMPTY,
        }
    }

    /// Reads a tag as a version: `v1.2.3`, `1.2`, `1.2.3-rc.1+build`.
    /// `None` when it is not one (such tags are ignored, as Flux does).
    pub(crate) fn parse_tag(tag: &str) -> Option<Self> {
        match parse_partial(tag)? {
            Partial {
                major: Some(major),
                minor,
                patch,
                pre,
            } => Some(Version {
                major,
                minor: minor.unwrap_or(0),
                patch: patch.unwrap_or(0),
                pre,
            }),
            _ => None,
        }
    }
}

/// A version as written in a constraint: parts may be missing or wildcards
/// (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Prerelease,
}

fn parse_partial(s: &str) -> Option<Partial> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(v, _build)| v);
    let (nums, pre) = match s.split_once('-') {
        Some((n, p)) => (n, Prerelease::new(p).ok()?),
        None => (s, Prerelease::EMPTY),
    };
    let mut parts = nums.split('.');
    let mut next = |required: bool| -> Option<Option<u64>> {
        match parts.next() {
            None if required => None,
            None => Some(None),
            Some("x" | "X" | "*") => Some(None),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().map(Some)
            }
            Some(_) => None,
        }
    };
    let major = next(true)?;
    let minor = next(false)?;
    let patch = next(false)?;
    if parts.next().is_some() {
        return None;
    }
    // Nothing may follow a wildcard ("1.x.3" is not a version).
    if (major.is_none() && (minor.is_some() || patch.is_some()))
        || (minor.is_none() && patch.is_some())
    {
        return None;
    }
    Some(Partial {
        major,
        minor,
        patch,
        pre,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.version.pre.is_empty() {
            return false;
        }
        let o = v.cmp(&self.version);
        match self.op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
        }
    }
}

/// A parsed constraint: alternatives (`||`) of conjunctions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    any_of: Vec<Vec<Comparator>>,
}

impl Range {
    /// Parses a Masterminds-style constraint.
    ///
    /// # Errors
    /// A message naming the part that is not understood.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bad = |part: &str| format!("semver range {text:?}: cannot read {part:?}");
        let mut any_of = Vec::new();
        for alt in text.split("||") {
            let tokens = tokenize(alt);
            if tokens.is_empty() {
                return Err(bad(alt.trim()));
            }
            let mut all = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range: A - B.
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let lo = tokens.get(i).ok_or_else(|| bad(alt))?;
                    let hi = tokens.get(i + 2).ok_or_else(|| bad(alt))?;
                    let lo_p = parse_partial(lo).ok_or_else(|| bad(lo))?;
                    let hi_p = parse_partial(hi).ok_or_else(|| bad(hi))?;
                    all.extend(expand(Op::Ge, &lo_p));
                    all.extend(expand(Op::Le, &hi_p));
                    i += 3;
                    continue;
                }
                let tok = &tokens[i];
                all.extend(comparators(tok).ok_or_else(|| bad(tok))?);
                i += 1;
            }
            any_of.push(all);
        }
        Ok(Range { any_of })
    }

    /// Whether `v` satisfies the range.
    pub(crate) fn matches(&self, v: &Version) -> bool {
        self.any_of
            .iter()
            .any(|all| all.iter().all(|c| c.matches(v)))
    }

    /// The tag with the highest version that satisfies the range, among
    /// `tags`; tags that are not versions are ignored. When two tags name
    /// the same version (`v1.2.0` and `1.2.0`), the first listed wins.
    pub(crate) fn best<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        let mut best: Option<(Version, &str)> = None;
        for tag in tags {
            let Some(v) = Version::parse_tag(tag) else {
                continue;
            };
            if !self.matches(&v) {
                continue;
            }
            if best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, tag));
            }
        }
        best.map(|(_, t)| t)
    }
}

/// Splits one alternative into tokens: operators stay glued to their
/// version (`>= 1.2` becomes `>=1.2`), commas separate like spaces, and a
/// lone `-` between two versions marks a hyphen range.
fn tokenize(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for word in s.split([' ', ',', '\t']).filter(|w| !w.is_empty()) {
        if word.chars().all(|c| "<>=!~^".contains(c)) {
            pending_op.push_str(word);
            continue;
        }
        out.push(format!("{}{word}", std::mem::take(&mut pending_op)));
    }
    if !pending_op.is_empty() {
        out.push(pending_op);
    }
    out
}

/// One token (operator + partial version) as plain comparators.
fn comparators(tok: &str) -> Option<Vec<Comparator>> {
    let (op, rest) = [
        ("!=", "!="),
        (">=", ">="),
        ("=>", ">="),
        ("<=", "<="),
        ("=<", "<="),
        (">", ">"),
        ("<", "<"),
        ("==", "="),
        ("=", "="),
        ("~>", "~"),
        ("~", "~"),
        ("^", "^"),
    ]
    .iter()
    .find_map(|(prefix, op)| tok.strip_prefix(prefix).map(|r| (*op, r)))
    .unwrap_or(("", tok));
    let p = parse_partial(rest)?;
    let cmp = |op, version| Comparator { op, version };
    Some(match op {
        "" | "=" => expand(Op::Eq, &p),
        "!=" => match (p.major, p.minor, p.patch) {
            (Some(a), Some(b), Some(c)) => vec![cmp(Op::Ne, with_pre(a, b, c, &p))],
            // "!= 1.2.x": outside [1.2.0, 1.3.0) is not a conjunction; the
            // library treats it as "< 1.2.0 || >= 1.3.0", which cannot be
            // expressed inside an AND group, so refuse it.
            _ => return None,
        },
        ">" => match (p.major, p.minor, p.patch) {
            (None, _, _) => vec![cmp(Op::Lt, Version::new(0, 0, 0))], // nothing
            (Some(a), None, _) => vec![cmp(Op::Ge, Version::new(a + 1, 0, 0))],
            (Some(a), Some(b), None) => vec![cmp(Op::Ge, Version::new(a, b + 1, 0))],
            (Some(a), Some(b), Some(c)) => vec![cmp(Op::Gt, with_pre(a, b, c, &p))],
        },
        ">=" => expand(Op::Ge, &p),
        "<" => match (p.major, p.minor, p.patch) {
            (None, _, _) => vec![cmp(Op::Lt, Version::new(0, 0, 0))],
            (Some(a), minor, patch) => vec![cmp(
                Op::Lt,
                with_pre(a, minor.unwrap_or(0), patch.unwrap_or(0), &p),
            )],
        },
        "<=" => expand(Op::Le, &p),
        "~" => {
            let a = p.major?;
            let (lo, hi) = match (p.minor, p.patch) {
                (None, _) => (Version::new(a, 0, 0), Version::new(a + 1, 0, 0)),
                (Some(b), c) => (
                    with_pre(a, b, c.unwrap_or(0), &p),
                    Version::new(a, b + 1, 0),
                ),
            };
            vec![cmp(Op::Ge, lo), cmp(Op::Lt, hi)]
        }
        "^" => {
            let a = p.major?;
            let lo = with_pre(a, p.minor.unwrap_or(0), p.patch.unwrap_or(0), &p);
            let hi = match (a, p.minor, p.patch) {
                (0, None, _) => Version::new(1, 0, 0),
                (0, Some(0), None) => Version::new(0, 1, 0),
                (0, Some(0), Some(c)) => Version::new(0, 0, c + 1),
                (0, Some(b), _) => Version::new(0, b + 1, 0),
                (a, _, _) => Version::new(a + 1, 0, 0),
            };
            vec![cmp(Op::Ge, lo), cmp(Op::Lt, hi)]
        }
        _ => return None,
    })
}

fn with_pre(a: u64, b: u64, c: u64, p: &Partial) -> Version {
    Version {
        pre: p.pre.clone(),
        ..Version::new(a, b, c)
    }
}

/// `=`, `>=` and `<=` with a partial version: the wildcard parts become a
/// range (`=1.2` is `>=1.2.0 <1.3.0`, `<=1.2` is `<1.3.0`, `>=1.2` is
/// `>=1.2.0`).
fn expand(op: Op, p: &Partial) -> Vec<Comparator> {
    let cmp = |op, version| Comparator { op, version };
    let (lo, hi) = match (p.major, p.minor, p.patch) {
        (None, _, _) => (Version::new(0, 0, 0), None),
        (Some(a), None, _) => (Version::new(a, 0, 0), Some(Version::new(a + 1, 0, 0))),
        (Some(a), Some(b), None) => (Version::new(a, b, 0), Some(Version::new(a, b + 1, 0))),
        (Some(a), Some(b), Some(c)) => {
            let v = with_pre(a, b, c, p);
            return vec![cmp(op, v)];
        }
    };
    match op {
        Op::Eq => {
            let mut v = vec![cmp(Op::Ge, lo)];
            v.extend(hi.map(|h| cmp(Op::Lt, h)));
            v
        }
        Op::Ge => vec![cmp(Op::Ge, lo)],
        Op::Le => match hi {
            Some(h) => vec![cmp(Op::Lt, h)],
            None => vec![cmp(Op::Ge, Version::new(0, 0, 0))],
        },
        other => vec![cmp(other, lo)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best<'a>(range: &str, tags: &[&'a str]) -> Option<&'a str> {
        Range::parse(range)
            .unwrap_or_else(|e| panic!("{e}"))
            .best(tags.iter().copied())
    }

    const TAGS: &[&str] = &[
        "v0.1.0",
        "v0.2.3",
        "v0.2.9",
        "v1.0.0",
        "v1.2.0",
        "v1.2.7",
        "v1.3.0",
        "v1.10.0",
        "v2.0.0-rc.1",
        "v2.0.0",
        "v2.4.1",
        "latest",
        "v3.0.0-beta.2",
    ];

    #[test]
    fn picks_the_highest_tag_in_a_space_separated_range_flux_users_write() {
        assert_eq!(best(">=1.2.0 <2.0.0", TAGS), Some("v1.10.0"));
        assert_eq!(best(">= 1.2.0, < 2.0.0", TAGS), Some("v1.10.0"));
        assert_eq!(best(">=1.0.0", TAGS), Some("v2.4.1"));
        assert_eq!(best("*", TAGS), Some("v2.4.1"));
    }

    #[test]
    fn tilde_and_caret_follow_the_library_including_below_one() {
        assert_eq!(best("~1.2", TAGS), Some("v1.2.7"));
        assert_eq!(best("~1.2.3", TAGS), Some("v1.2.7"));
        assert_eq!(best("~1", TAGS), Some("v1.10.0"));
        assert_eq!(best("^1.2", TAGS), Some("v1.10.0"));
        assert_eq!(best("^2", TAGS), Some("v2.4.1"));
        assert_eq!(best("^0.2.3", TAGS), Some("v0.2.9"));
        assert_eq!(best("^0.0.3", TAGS), None);
        assert_eq!(best("^0", TAGS), Some("v0.2.9"));
    }

    #[test]
    fn wildcards_hyphens_and_alternatives() {
        assert_eq!(best("1.2.x", TAGS), Some("v1.2.7"));
        assert_eq!(best("1.x", TAGS), Some("v1.10.0"));
        assert_eq!(best("<=1.2", TAGS), Some("v1.2.7"));
        assert_eq!(best("1.0 - 1.3", TAGS), Some("v1.3.0"));
        assert_eq!(best("1.0.0 - 1.2.0", TAGS), Some("v1.2.0"));
        assert_eq!(best("~0.1 || ~1.2", TAGS), Some("v1.2.7"));
        assert_eq!(best(">1.2", TAGS), Some("v2.4.1"));
        assert_eq!(best(">1.2 <2", TAGS), Some("v1.10.0"));
        assert_eq!(best("!=2.4.1 >=2", TAGS), Some("v2.0.0"));
        assert_eq!(best("=1.2.7", TAGS), Some("v1.2.7"));
    }

    #[test]
    fn prereleases_only_when_the_constraint_names_one() {
        assert_eq!(best(">=2.0.0-0 <=2.0.0-zzz", TAGS), Some("v2.0.0-rc.1"));
        assert_eq!(best(">=3.0.0-0", TAGS), Some("v3.0.0-beta.2"));
        assert_eq!(best(">=2.5", TAGS), None);
    }

    #[test]
    fn versions_order_numerically_not_as_text() {
        let a = Version::parse_tag("v1.10.0").expect("version");
        let b = Version::parse_tag("1.9").expect("version");
        assert!(a > b);
        assert!(Version::parse_tag("release-1").is_none());
        assert!(Version::parse_tag("1.2.3.4").is_none());
    }

    #[test]
    fn nonsense_is_refused_naming_the_part() {
        let err = Range::parse(">=1.2 <banana").expect_err("bad");
        assert!(err.contains("\"<banana\""), "{err}");
        assert!(Range::parse("").is_err());
        assert!(Range::parse("1.2 ||").is_err());
        assert!(Range::parse("!=1.x").is_err());
    }
}
