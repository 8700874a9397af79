//! Turning gix's error trees (and ssh's stderr) into [`SourceError`]s that
//! name the URL, say what went wrong in plain words, say whether a retry may
//! help, and never carry a secret.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::io::ErrorKind;
use std::path::Path;

use weir_core::source::SourceError;

/// What the classifier knows about the fetch that failed.
pub(crate) struct Context<'a> {
    /// The URL as shown to users (no userinfo).
    pub(crate) url: &'a str,
    /// Secrets to scrub from any text.
    pub(crate) secrets: &'a [String],
    /// What `ssh` wrote to stderr, for ssh URLs.
    pub(crate) ssh_stderr: Option<String>,
    /// `auth.knownHostsFile`.
    pub(crate) known_hosts: Option<&'a Path>,
    /// `auth.identityFile`.
    pub(crate) identity_file: Option<&'a Path>,
    /// `auth.identityPassphraseFile`.
    pub(crate) passphrase_file: Option<&'a Path>,
    /// `auth.caFile`.
    pub(crate) ca_file: Option<&'a Path>,
    /// Whether HTTP credentials are configured.
    pub(crate) has_credentials: bool,
    /// `auth.certFile` (a TLS client certificate).
    pub(crate) cert_file: Option<&'a Path>,
    /// Whether the URL is `https://`.
    pub(crate) https: bool,
    /// The proxy's address (it holds no credentials).
    pub(crate) proxy: Option<&'a str>,
    /// Whether proxy credentials are configured.
    pub(crate) has_proxy_credentials: bool,
}

/// A non-transient error (bad config, bad credentials, missing ref).
pub(crate) fn terminal(message: String) -> SourceError {
    SourceError {
        message,
        transient: false,
    }
}

/// A transient error (network, server trouble).
pub(crate) fn transient(message: String) -> SourceError {
    SourceError {
        message,
        transient: true,
    }
}

/// `url` without userinfo: `https://user:pw@host/r.git` → `https://host/r.git`.
pub(crate) fn strip_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Removes userinfo from every URL in `text` and replaces every secret
/// with `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        out.push_str(&rest[..pos + 3]);
        rest = &rest[pos + 3..];
        let authority_end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || c == ')' || c == '"' || c == '\'')
            .unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// Every error in `err`'s tree: gix's breadth-first view, plus the payloads
/// of `std::io::Error`s (which `source()` skips) and their own sources.
fn all_errors(err: &gix::Error) -> Vec<&(dyn StdError + 'static)> {
    let mut out: Vec<&(dyn StdError + 'static)> = Vec::new();
    let mut queue: VecDeque<&(dyn StdError + 'static)> = err.iter_errors().collect();
    while let Some(e) = queue.pop_front() {
        if out.len() >= 64 {
            break;
        }
        if out
            .iter()
            .any(|seen| std::ptr::addr_eq(*seen as *const dyn StdError, e as *const dyn StdError))
        {
            continue;
        }
        out.push(e);
        if let Some(nested) = e.downcast_ref::<gix::Error>() {
            queue.extend(nested.iter_errors());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            queue.push_back(inner);
        }
        if let Some(s) = e.source() {
            queue.push_back(s);
        }
    }
    out
}

fn messages(errors: &[&(dyn StdError + 'static)]) -> Vec<String> {
    let mut msgs: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        let m = m.trim();
        if !m.is_empty() && !msgs.iter().any(|x| x == m) {
            msgs.push(m.to_owned());
        }
    }
    msgs
}

/// gix's whole error chain as one line (`outer: inner: …`), for logs and
/// messages where no finer classification applies.
pub(crate) fn chain_text(err: &gix::Error) -> String {
    messages(&all_errors(err)).join(": ")
}

fn http_status(errors: &[&(dyn StdError + 'static)], msgs: &[String]) -> Option<u16> {
    errors
        .iter()
        .find_map(|e| {
            e.downcast_ref::<reqwest::Error>()
                .and_then(reqwest::Error::status)
        })
        .map(|s| s.as_u16())
        .or_else(|| {
            msgs.iter().find_map(|m| {
                let rest = m.split("Received HTTP status ").nth(1)?;
                rest.get(..3)?.parse().ok()
            })
        })
}

const UNREACHABLE_KINDS: &[ErrorKind] = &[
    ErrorKind::ConnectionRefused,
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionAborted,
    ErrorKind::NotConnected,
    ErrorKind::AddrNotAvailable,
    ErrorKind::TimedOut,
    ErrorKind::HostUnreachable,
    ErrorKind::NetworkUnreachable,
    ErrorKind::NetworkDown,
];

const SSH_HOST_KEY: &[&str] = &[
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "host key is known for",
    "Host key for",
];
const SSH_UNREACHABLE: &[&str] = &[
    "Connection refused",
    "Connection timed out",
    "No route to host",
    "Network is unreachable",
    "Could not resolve hostname",
    "Connection reset",
    "Connection closed by",
    "Operation timed out",
];
const NOT_A_REPOSITORY: &[&str] = &[
    "does not appear to be a git repository",
    "not exported",
    "no such repository",
    "repository not found",
];

/// A failure that the source's proxy reported: it wants (other)
/// credentials, or could not open the tunnel to the server.
fn proxy_error(
    errors: &[&(dyn StdError + 'static)],
    msgs: &[String],
    unauthenticated: bool,
    cx: &Context<'_>,
) -> Option<SourceError> {
    let proxy = cx.proxy?;
    let url = cx.url;
    let has = |needle: &str| msgs.iter().any(|m| m.contains(needle));
    let status = http_status(errors, msgs);
    if status == Some(407) || has("proxy authorization required") {
        let why = if cx.has_proxy_credentials {
            "it rejected proxy.username and the proxy password"
        } else {
            "it requires credentials and none are configured (proxy.username and proxy.passwordFile)"
        };
        return Some(terminal(format!(
            "proxy {proxy} refused to forward to {url} (HTTP 407): {why}"
        )));
    }
    // Any other answer to CONNECT than 200 or 407: some proxies (tinyproxy)
    // answer wrong credentials with 401, others refuse destinations.
    if has("tunnel error: unsuccessful") || has("unsuccessful tunnel") {
        let why = if cx.has_proxy_credentials {
            "check proxy.username and the proxy password, and that the proxy allows this destination"
        } else {
            "check that the proxy allows this destination without credentials"
        };
        return Some(terminal(format!(
            "proxy {proxy} refused to open a tunnel (CONNECT) to {url}: {why}"
        )));
    }
    // A forwarded plain-http request answered 401: from the server, or from
    // a proxy that answers wrong credentials so.
    if (status == Some(401) || unauthenticated) && !cx.https {
        return Some(terminal(format!(
            "authentication failed for {url} through proxy {proxy} (HTTP 401): the server wants other credentials than configured, or the proxy rejected proxy.username and the proxy password (some proxies answer 401 rather than 407)"
        )));
    }
    None
}

/// Explains a failed network operation (ls-remote or fetch) against the
/// source's URL.
pub(crate) fn classify(err: &gix::Error, cx: &Context<'_>) -> SourceError {
    let errors = all_errors(err);
    let msgs = messages(&errors);
    let url = cx.url;
    let clean = |s: &str| scrub(s, cx.secrets);
    let deepest = msgs.last().map(|m| clean(m)).unwrap_or_default();

    if let Some(stderr) = cx.ssh_stderr.as_deref().filter(|s| !s.trim().is_empty()) {
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
            .collect();
        let has = |pats: &[&str]| {
            lines
                .iter()
                .find(|l| pats.iter().any(|p| l.contains(p)))
                .map(|l| clean(l))
        };
        if has(SSH_HOST_KEY).is_some() {
            let kh = cx
                .known_hosts
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".to_owned());
            let why = if stderr.contains("IDENTIFICATION HAS CHANGED") {
                format!(
                    "the server's host key does not match the key for this host in auth.knownHostsFile {kh}"
                )
            } else {
                format!("the server's host key is not in auth.knownHostsFile {kh}")
            };
            return terminal(format!("host key verification failed for {url}: {why}"));
        }
        if let Some(line) = has(&["Permission denied"]) {
            let key = match (cx.identity_file, cx.passphrase_file) {
                (Some(k), Some(p)) => format!(
                    "the key in auth.identityFile {}, unlocked with auth.identityPassphraseFile {}",
                    k.display(),
                    p.display()
                ),
                (Some(k), None) => format!("the key in auth.identityFile {}", k.display()),
                (None, _) => "no auth.identityFile is set".to_owned(),
            };
            return terminal(format!(
                "authentication failed for {url}: the server refused the ssh login ({key}): {line}"
            ));
        }
        if let Some(line) = has(SSH_UNREACHABLE) {
            return transient(format!("cannot reach {url}: {line}"));
        }
        if let Some(line) = has(NOT_A_REPOSITORY) {
            return terminal(format!("repository not found at {url}: {line}"));
        }
        let text = clean(&lines.join("; "));
        if !text.is_empty() {
            return transient(format!("fetching from {url} failed: ssh: {text}"));
        }
    }

    if let Some(e) = proxy_error(&errors, &msgs, err.is_unauthenticated(), cx) {
        return e;
    }

    let tls = errors
        .iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>());
    // An alert from the server during the handshake: it did not accept the
    // client's certificate (or the lack of one).
    if let Some(rustls::Error::AlertReceived(alert)) = tls {
        use rustls::AlertDescription as A;
        if matches!(
            alert,
            A::CertificateRequired
                | A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::CertificateExpired
                | A::CertificateRevoked
                | A::UnsupportedCertificate
                | A::AccessDenied
                | A::HandshakeFailure
        ) {
            let why = match cx.cert_file {
                Some(f) => format!(
                    "it did not accept the TLS client certificate in auth.certFile {}",
                    f.display()
                ),
                None => "it requires a TLS client certificate and none is configured; set auth.certFile and auth.keyFile".to_owned(),
            };
            return terminal(format!(
                "TLS handshake with {url} failed ({alert:?} alert from the server): {why}"
            ));
        }
    }
    let tls_text = msgs
        .iter()
        .find(|m| m.to_ascii_lowercase().contains("certificate"));
    if let Some(detail) = tls.map(ToString::to_string).or_else(|| tls_text.cloned()) {
        let hint = match cx.ca_file {
            Some(ca) => format!(
                "it is signed by neither auth.caFile {} nor a system root; set auth.caFile to the CA certificate that signed it",
                ca.display()
            ),
            None => "set auth.caFile to the CA certificate (PEM) that signed it".to_owned(),
        };
        return terminal(format!(
            "TLS certificate of {url} is not trusted ({}); {hint}",
            clean(&detail)
        ));
    }

    let status = http_status(&errors, &msgs);
    if err.is_unauthenticated() || status == Some(401) {
        let why = if cx.has_credentials {
            "the server rejected the configured credentials"
        } else {
            "the server requires credentials and none are configured (auth.username/password or auth.bearerToken)"
        };
        return terminal(format!("authentication failed for {url}: {why}"));
    }
    if status == Some(403) {
        return terminal(format!(
            "authentication failed for {url}: access denied (HTTP 403)"
        ));
    }
    if status == Some(404) {
        return terminal(format!("repository not found at {url} (HTTP 404)"));
    }
    if status == Some(400) && cx.https {
        // nginx (and others) finish the handshake without a client
        // certificate they require, then answer 400.
        let why = match cx.cert_file {
            Some(f) => format!(
                "the server refused the request; a server that requires a TLS client certificate answers so when it does not accept the one in auth.certFile {}",
                f.display()
            ),
            None => "the server refused the request; a server that requires a TLS client certificate answers so when none is sent: set auth.certFile and auth.keyFile".to_owned(),
        };
        return terminal(format!("HTTP 400 from {url}: {why}"));
    }
    if let Some(s) = status.filter(|s| *s >= 500) {
        return transient(format!("server error from {url}: HTTP {s}"));
    }

    let unreachable = errors.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| UNREACHABLE_KINDS.contains(&io.kind()))
            || e.downcast_ref::<reqwest::Error>()
                .is_some_and(|r| r.is_connect() || r.is_timeout())
    });
    if unreachable {
        if let Some(p) = cx.proxy {
            return transient(format!("cannot reach proxy {p} (for {url}): {deepest}"));
        }
        return transient(format!("cannot reach {url}: {deepest}"));
    }
    if let Some(m) = msgs
        .iter()
        .find(|m| NOT_A_REPOSITORY.iter().any(|p| m.contains(p)))
    {
        return terminal(format!("repository not found at {url}: {}", clean(m)));
    }
    transient(format!(
        "fetching from {url} failed: {}",
        clean(&msgs.join(": "))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_stripped_from_urls() {
        assert_eq!(
            strip_userinfo("https://u:p@h:1/a/b.git"),
            "https://h:1/a/b.git"
        );
        assert_eq!(strip_userinfo("ssh://git@h/x@y"), "ssh://h/x@y");
        assert_eq!(strip_userinfo("git://h/x"), "git://h/x");
    }

    #[test]
    fn scrub_removes_userinfo_and_secrets_anywhere() {
        let s = scrub(
            "error for url (https://u:hunter2@h/r.git/info/refs) with token abc123",
            &["abc123".to_owned()],
        );
        assert_eq!(
            s,
            "error for url (https://h/r.git/info/refs) with token ***"
        );
    }

    #[test]
    fn connection_refused_is_transient_and_names_the_url() {
        let err = gix::Error::from_error(std::io::Error::new(
            ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        let cx = Context {
            url: "git://127.0.0.1:1/x.git",
            secrets: &[],
            ssh_stderr: None,
            known_hosts: None,
            identity_file: None,
            passphrase_file: None,
            ca_file: None,
            has_credentials: false,
            cert_file: None,
            https: false,
            proxy: None,
            has_proxy_credentials: false,
        };
        let e = classify(&err, &cx);
        assert!(e.transient);
        assert!(
            e.message
                .starts_with("cannot reach git://127.0.0.1:1/x.git: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn ssh_host_key_mismatch_names_known_hosts() {
        let err = gix::Error::from_error(std::io::Error::other("unexpected end of stream"));
        let cx = Context {
            url: "ssh://h:22/r.git",
            secrets: &[],
            ssh_stderr: Some("@@@@\nHost key verification failed.\n".to_owned()),
            known_hosts: Some(Path::new("/k/known_hosts")),
            identity_file: None,
            passphrase_file: None,
            ca_file: None,
            has_credentials: false,
            cert_file: None,
            https: false,
            proxy: None,
            has_proxy_credentials: false,
        };
        let e = classify(&err, &cx);
        assert!(!e.transient);
        assert!(e.message.contains("/k/known_hosts"), "{}", e.message);
        assert!(e.message.contains("host key"), "{}", e.message);
    }
}
