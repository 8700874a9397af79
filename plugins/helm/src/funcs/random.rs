//! Sprig's random functions (`randAlphaNum`, `randInt`, `uuidv4`,
//! `shuffle`, …), drawing from the system's secure random source (WASI
//! `random` in the component). Their output cannot match Helm's; tests check
//! its shape.

use crate::funcs::{R, arity, base64_encode, i, s};
use crate::template::exec::FuncError;
use crate::template::value::Value;

/// Fills `buf` with secure random bytes.
///
/// # Errors
/// The system has no random source.
pub fn fill(buf: &mut [u8]) -> Result<(), FuncError> {
    getrandom::fill(buf).map_err(|e| FuncError::Msg(format!("no random source: {e}")))
}

/// A random integer in `0..n` (`n > 0`), without modulo bias.
pub fn below(n: u64) -> Result<u64, FuncError> {
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let mut b = [0u8; 8];
        fill(&mut b)?;
        let x = u64::from_le_bytes(b);
        if x < zone {
            return Ok(x % n);
        }
    }
}

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DIGITS: &[u8] = b"0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `count` characters drawn uniformly from `alphabet`, as goutils'
/// `CryptoRandom*` (Sprig drops its error: a negative count gives "").
fn string_from(alphabet: &[u8], count: i64) -> R {
    let mut out = String::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        out.push(alphabet[below(alphabet.len() as u64)? as usize] as char);
    }
    Ok(Value::str(out))
}

/// Sprig's random functions; `None` when `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    Some(match name {
        "randAlphaNum" => one_int(name, a).and_then(|n| string_from(ALNUM, n)),
        "randAlpha" => one_int(name, a).and_then(|n| string_from(LETTERS, n)),
        "randNumeric" => one_int(name, a).and_then(|n| string_from(DIGITS, n)),
        "randAscii" => one_int(name, a).and_then(|n| {
            let printable: Vec<u8> = (32u8..127).collect();
            string_from(&printable, n)
        }),
        "randBytes" => one_int(name, a).and_then(|n| {
            let n = usize::try_from(n)
                .map_err(|_| FuncError::Msg("randBytes: makeslice: len out of range".into()))?;
            let mut buf = vec![0u8; n];
            fill(&mut buf)?;
            Ok(Value::str(base64_encode(&buf)))
        }),
        "randInt" => rand_int(a),
        "uuidv4" => arity(name, a, 0).and_then(|()| uuidv4().map(Value::str)),
        "shuffle" => arity(name, a, 1).and_then(|()| shuffle(&s(&a[0])?).map(Value::str)),
        _ => return None,
    })
}

fn one_int(name: &str, a: &[Value]) -> Result<i64, FuncError> {
    arity(name, a, 1)?;
    i(&a[0])
}

/// `randInt MIN MAX`: `rand.Intn(max-min) + min`, which panics in Go when
/// the range is empty.
fn rand_int(a: &[Value]) -> R {
    arity("randInt", a, 2)?;
    let (lo, hi) = (i(&a[0])?, i(&a[1])?);
    let span = hi.checked_sub(lo).filter(|d| *d > 0).ok_or_else(|| {
        FuncError::Msg(format!(
            "randInt: invalid argument to Intn (max {hi} must be greater than min {lo})"
        ))
    })?;
    Ok(Value::Int(lo + below(span as u64)? as i64))
}

/// A random (version 4, RFC 4122 variant) UUID, lowercase hex.
pub fn uuidv4() -> Result<String, FuncError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::funcs::hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// xstrings' `Shuffle`: the string's characters in a random order
/// (Fisher–Yates).
fn shuffle(x: &str) -> Result<String, FuncError> {
    let mut chars: Vec<char> = x.chars().collect();
    for ix in (1..chars.len()).rev() {
        let j = below(ix as u64 + 1)? as usize;
        chars.swap(ix, j);
    }
    Ok(chars.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: &[Value]) -> String {
        match call(name, args) {
            Some(Ok(v)) => v.to_go_string(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn strings_have_the_length_and_alphabet_asked() {
        let n = Value::Int(200);
        let s = run("randAlphaNum", std::slice::from_ref(&n));
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric()));
        // 200 draws from 62 symbols: both letters and digits show up.
        assert!(
            s.bytes().any(|c| c.is_ascii_digit()) && s.bytes().any(|c| c.is_ascii_alphabetic())
        );
        let s = run("randAlpha", std::slice::from_ref(&n));
        assert!(s.len() == 200 && s.bytes().all(|c| c.is_ascii_alphabetic()));
        let s = run("randNumeric", std::slice::from_ref(&n));
        assert!(s.len() == 200 && s.bytes().all(|c| c.is_ascii_digit()));
        let s = run("randAscii", std::slice::from_ref(&n));
        assert!(s.len() == 200 && s.bytes().all(|c| (32..127).contains(&c)));
        assert_eq!(run("randAlphaNum", &[Value::Int(0)]), "");
        // Two draws differ (62^200 possibilities).
        assert_ne!(
            run("randAlphaNum", std::slice::from_ref(&n)),
            run("randAlphaNum", &[n])
        );
    }

    #[test]
    fn wrong_argument_types_fail_as_go_does() {
        assert!(matches!(
            call("randAlpha", &[Value::Float(3.0)]),
            Some(Err(_))
        ));
        assert_eq!(run("randAlpha", &[Value::Int(-1)]), "");
        assert!(matches!(call("randBytes", &[Value::Int(-1)]), Some(Err(_))));
        assert!(matches!(
            call("randInt", &[Value::Int(5), Value::Int(5)]),
            Some(Err(_))
        ));
    }

    #[test]
    fn rand_bytes_is_base64_of_that_many_bytes() {
        let s = run("randBytes", &[Value::Int(32)]);
        assert_eq!(s.len(), 44);
        assert_eq!(crate::funcs::base64_decode(&s).map(|b| b.len()), Some(32));
    }

    #[test]
    fn rand_int_stays_in_range_and_covers_it() {
        let mut seen = [false; 5];
        for _ in 0..500 {
            let v = run("randInt", &[Value::Int(-2), Value::Int(3)]);
            let v: i64 = v.parse().unwrap_or(99);
            assert!((-2..3).contains(&v), "{v}");
            seen[(v + 2) as usize] = true;
        }
        assert!(seen.iter().all(|x| *x));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = run("uuidv4", &[]);
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(
            u.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(u, run("uuidv4", &[]));
    }

    #[test]
    fn shuffle_permutes_the_characters() {
        let input: String = ('a'..='z').chain('A'..='Z').collect();
        let out = run("shuffle", &[Value::str(input.as_str())]);
        assert_ne!(
            out, input,
            "52! orders: the identity is (almost) impossible"
        );
        let mut x: Vec<char> = out.chars().collect();
        let mut y: Vec<char> = input.chars().collect();
        x.sort_unstable();
        y.sort_unstable();
        assert_eq!(x, y);
        assert_eq!(run("shuffle", &[Value::str("é")]), "é");
    }
}
