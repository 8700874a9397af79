//! Sprig's `urlParse` and `urlJoin`, on a port of the parts of Go's
//! `net/url` they use (`Parse`, `Hostname`, `URL.String` and its escaping).

use crate::funcs::{R, arity, m, s, strval};
use crate::template::exec::FuncError;
use crate::template::value::{Map, Value};

/// A parsed URL, Go's `url.URL` fields.
#[derive(Default, Debug)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<String>,
    host: String,
    path: String,
    raw_query: String,
    force_query: bool,
    fragment: String,
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `unescape` (path or fragment mode: `+` stays).
fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut ix = 0;
    while ix < b.len() {
        if b[ix] == b'%' {
            let (Some(hi), Some(lo)) = (
                b.get(ix + 1).copied().and_then(unhex),
                b.get(ix + 2).copied().and_then(unhex),
            ) else {
                let end = (ix + 3).min(b.len());
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(&b[ix..end])
                ));
            };
            out.push(hi << 4 | lo);
            ix += 3;
        } else {
            out.push(b[ix]);
            ix += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Mode::Host
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Mode::Path => c == b'?',
                Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::Fragment => false,
                Mode::Host => true,
            };
        }
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if should_escape(c, mode) && !(mode == Mode::Host && c >= 0x80) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    // Bytes ≥ 0x80 kept in host mode are UTF-8 already: rebuild them.
    if mode == Mode::Host && s.bytes().any(|c| c >= 0x80) {
        let mut bytes = Vec::new();
        for &c in s.as_bytes() {
            if should_escape(c, mode) && c < 0x80 {
                bytes.extend(format!("%{c:02X}").bytes());
            } else {
                bytes.push(c);
            }
        }
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    out
}

/// Go's `getScheme`: the scheme and the rest, or an error.
fn get_scheme(raw: &str) -> Result<(String, &str), String> {
    for (ix, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if ix == 0 => return Ok((String::new(), raw)),
            b'0'..=b'9' | b'+' | b'-' | b'.' => {}
            b':' => {
                if ix == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((raw[..ix].to_string(), &raw[ix + 1..]));
            }
            _ => return Ok((String::new(), raw)),
        }
    }
    Ok((String::new(), raw))
}

/// Go's `url.Parse` (without its host validation details).
fn parse(raw: &str) -> Result<Url, String> {
    let (rest, frag) = match raw.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (raw, None),
    };
    let mut u = parse_no_fragment(rest)
        .map_err(|e| format!("parse {}: {e}", crate::template::gofmt::go_quote(raw)))?;
    if let Some(f) = frag {
        u.fragment = unescape(f)
            .map_err(|e| format!("parse {}: {e}", crate::template::gofmt::go_quote(raw)))?;
    }
    Ok(u)
}

fn parse_no_fragment(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut u = Url::default();
    if raw == "*" {
        u.path = "*".into();
        return Ok(u);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    u.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        u.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        u.raw_query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            u.opaque = rest.to_string();
            return Ok(u);
        }
        if let Some(colon) = rest.find(':')
            && rest.find('/').is_none_or(|slash| colon < slash)
        {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, r) = match after.find('/') {
            Some(ix) => (&after[..ix], &after[ix..]),
            None => (after, ""),
        };
        let (user, host) = match authority.rfind('@') {
            Some(ix) => (Some(&authority[..ix]), &authority[ix + 1..]),
            None => (None, authority),
        };
        if let Some(ui) = user {
            // Go's validUserinfo.
            if !ui
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c))
            {
                return Err("net/url: invalid userinfo".into());
            }
            let (name, pass) = match ui.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (ui, None),
            };
            let name = unescape(name)?;
            let mut s = escape(&name, Mode::UserPassword);
            if let Some(p) = pass {
                s.push(':');
                s.push_str(&escape(&unescape(p)?, Mode::UserPassword));
            }
            u.user = Some(s);
        }
        u.host = unescape_host(host)?;
        rest = r;
    }
    u.path = unescape(rest)?;
    Ok(u)
}

fn unescape_host(h: &str) -> Result<String, String> {
    unescape(h)
}

impl Url {
    /// Go's `URL.Hostname()`: the host without port or IPv6 brackets.
    fn hostname(&self) -> String {
        let h = &self.host;
        if let Some(r) = h.strip_prefix('[') {
            return r.split(']').next().unwrap_or("").to_string();
        }
        match h.rfind(':') {
            Some(ix) => h[..ix].to_string(),
            None => h.clone(),
        }
    }

    /// Go's `URL.String()`.
    fn string(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.push_str("//");
                }
                if let Some(ui) = &self.user {
                    out.push_str(ui);
                    out.push('@');
                }
                if !self.host.is_empty() {
                    out.push_str(&escape(&self.host, Mode::Host));
                }
            }
            let path = if self.path == "*" {
                "*".to_string()
            } else {
                escape(&self.path, Mode::Path)
            };
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() && path.split('/').next().is_some_and(|seg| seg.contains(':')) {
                out.push_str("./");
            }
            out.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&escape(&self.fragment, Mode::Fragment));
        }
        out
    }
}

/// `urlParse` and `urlJoin`; `None` for other names.
pub fn call(name: &str, a: &[Value]) -> Option<R> {
    Some(match name {
        "urlParse" => arity(name, a, 1).and_then(|()| url_parse(&s(&a[0])?)),
        "urlJoin" => arity(name, a, 1).and_then(|()| url_join(&m(&a[0])?.borrow())),
        _ => return None,
    })
}

fn url_parse(raw: &str) -> R {
    let u = parse(raw).map_err(|e| FuncError::Msg(format!("unable to parse url: {e}")))?;
    let mut d = Map::new();
    d.insert("scheme".into(), Value::str(u.scheme.as_str()));
    d.insert("host".into(), Value::str(u.host.as_str()));
    d.insert("hostname".into(), Value::str(u.hostname()));
    d.insert("path".into(), Value::str(u.path.as_str()));
    d.insert("query".into(), Value::str(u.raw_query.as_str()));
    d.insert("opaque".into(), Value::str(u.opaque.as_str()));
    d.insert("fragment".into(), Value::str(u.fragment.as_str()));
    d.insert(
        "userinfo".into(),
        Value::str(u.user.clone().unwrap_or_default()),
    );
    Ok(Value::map(d))
}

/// Sprig's `metaGetStr`: the key's value as a string, "" when missing.
fn get(d: &Map, k: &str) -> String {
    match d.get(k) {
        None | Some(Value::Nil) => String::new(),
        Some(v) => strval(v),
    }
}

fn url_join(d: &Map) -> R {
    let mut u = Url {
        scheme: get(d, "scheme"),
        host: get(d, "host"),
        path: get(d, "path"),
        raw_query: get(d, "query"),
        opaque: get(d, "opaque"),
        fragment: get(d, "fragment"),
        ..Url::default()
    };
    let ui = get(d, "userinfo");
    if !ui.is_empty() {
        let t = parse(&format!("proto://{ui}@host"))
            .map_err(|e| FuncError::Msg(format!("unable to parse userinfo in dict: {e}")))?;
        u.user = t.user;
    }
    Ok(Value::str(u.string()))
}
