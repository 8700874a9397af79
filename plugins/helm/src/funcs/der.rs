//! Just enough DER and PEM for Sprig's certificate functions: writing the
//! structures Go's `crypto/x509` writes, and reading keys and certificates
//! back (tag-length-value walking).

use crate::funcs::{base64_decode, base64_encode};

/// Universal tags used here.
pub const INTEGER: u8 = 0x02;
/// BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// NULL.
pub const NULL: u8 = 0x05;
/// OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// SET.
pub const SET: u8 = 0x31;

/// One TLV with the given tag around `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already-encoded parts.
pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// An unsigned big-endian integer (a leading zero added when the top bit
/// is set, leading zeros trimmed).
pub fn uint(be: &[u8]) -> Vec<u8> {
    let mut b: &[u8] = be;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    if b.is_empty() {
        return tlv(INTEGER, &[0]);
    }
    if b[0] & 0x80 != 0 {
        let mut v = vec![0];
        v.extend_from_slice(b);
        return tlv(INTEGER, &v);
    }
    tlv(INTEGER, b)
}

/// A small non-negative integer.
pub fn small(n: u64) -> Vec<u8> {
    uint(&n.to_be_bytes())
}

/// An OBJECT IDENTIFIER from its dotted form (a constant of this module).
pub fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut body = Vec::new();
    if arcs.len() >= 2 {
        body.push((arcs[0] * 40 + arcs[1]) as u8);
    }
    for &a in arcs.iter().skip(2) {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut x = a >> 7;
        while x > 0 {
            chunk.push((x & 0x7f) as u8 | 0x80);
            x >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(OID, &body)
}

/// A BIT STRING with no unused bits.
pub fn bits(b: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(b);
    tlv(BIT_STRING, &v)
}

/// Context-specific constructed (EXPLICIT) tag `n` around `inner`.
pub fn explicit(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, inner)
}

/// One element read from DER: its tag, its content, and its full encoding.
#[derive(Clone, Copy, Debug)]
pub struct Elem<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
    /// Tag, length and content.
    pub raw: &'a [u8],
}

/// Reads the first element of `b`; `None` when malformed.
pub fn read(b: &[u8]) -> Option<(Elem<'_>, &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for ix in 0..n {
            len = len << 8 | usize::from(*b.get(2 + ix)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    Some((
        Elem {
            tag,
            content: &b[head..end],
            raw: &b[..end],
        },
        &b[end..],
    ))
}

/// The elements inside a constructed element's content.
pub fn children(mut b: &[u8]) -> Option<Vec<Elem<'_>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (e, rest) = read(b)?;
        out.push(e);
        b = rest;
    }
    Some(out)
}

/// A PEM block as Go's `pem.Encode` writes it (64-column base64).
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first PEM block of `text`: its label and bytes (Go's `pem.Decode`,
/// without headers).
pub fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body = &rest[label_end + 5..];
    let end = body.find(&format!("-----END {label}-----"))?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    Some((label, base64_decode_strict(&b64)?))
}

/// Base64 with padding required where it belongs.
pub fn base64_decode_strict(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    base64_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_der() {
        assert_eq!(
            oid("1.2.840.113549.1.1.11"),
            [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]
        );
        assert_eq!(uint(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(uint(&[0, 0, 5]), [2, 1, 5]);
        assert_eq!(tlv(OCTET_STRING, &[0; 200])[..3], [4, 0x81, 200]);
        let s = seq(&[small(1), bits(&[0xff])]);
        let (e, rest) = read(&s).unwrap_or_else(|| panic!("unreadable"));
        assert!(rest.is_empty());
        assert_eq!(children(e.content).map(|c| c.len()), Some(2));
    }

    #[test]
    fn pem_round_trips() {
        let der: Vec<u8> = (0..100).collect();
        let p = pem("TEST", &der);
        assert!(p.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_decode(&p), Some(("TEST".into(), der)));
    }
}
