//! Outbound HTTP for notifier and source plugins, over `wasi:http`.
//!
//! The host lets a plugin reach only the hosts that its manifest asks for
//! (`http_hosts`) *and* the host config grants; anything else fails with
//! an error of kind [`ErrorKind::Denied`]. Errors name the method and host,
//! never the URL's path or query (webhook URLs are secrets).
//!
//! ```ignore
//! let response = weir_sdk::http::Request::post(&url)
//!     .header("content-type", "application/json")
//!     .body(payload.into_bytes())
//!     .send()?
//!     .error_for_status()?;
//! ```

use std::time::Duration;

use crate::{Error, ErrorKind};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// An outgoing request.
#[derive(Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

impl std::fmt::Debug for Request {
    /// Shows the method and host only: URLs and headers may carry secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = parse_url(&self.url)
            .map(|u| u.authority)
            .unwrap_or_default();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("host", &host)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// `METHOD host`, for messages.
    target: String,
}

/// The default time a request may take to connect and to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

impl Request {
    /// A request with `method` to `url` (`http://` or `https://`).
    pub fn new(method: Method, url: &str) -> Self {
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A GET request.
    pub fn get(url: &str) -> Self {
        Request::new(Method::Get, url)
    }

    /// A POST request.
    pub fn post(url: &str) -> Self {
        Request::new(Method::Post, url)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    #[must_use]
    pub fn json(self, body: &str) -> Self {
        self.header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
    }

    /// Sets how long connecting and waiting for the answer may each take
    /// (the host's per-call deadline still applies).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `METHOD host` of this request, safe to show.
    pub fn target(&self) -> String {
        let host = parse_url(&self.url)
            .map(|u| u.authority.to_owned())
            .unwrap_or_else(|_| "<invalid url>".into());
        format!("{} {host}", self.method.as_str())
    }

    /// Sends the request and reads the whole response.
    ///
    /// # Errors
    /// [`ErrorKind::Denied`] when the host does not let the plugin reach
    /// this host; [`ErrorKind::Transient`] for connection problems and
    /// timeouts; [`ErrorKind::InvalidInput`] for a malformed URL.
    pub fn send(self) -> Result<Response, Error> {
        let url = parse_url(&self.url)?;
        let target = self.target();
        let (status, headers, body) = transport::send(&self, &url)
            .map_err(|(kind, why)| Error::new(kind, format!("{target}: {why}")))?;
        Ok(Response {
            status,
            headers,
            body,
            target,
        })
    }
}

impl Response {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The response when its status is 2xx; otherwise an error: 5xx, 408
    /// and 429 are [`ErrorKind::Transient`] (worth a retry), other codes
    /// [`ErrorKind::InvalidInput`]. The message has the status and the
    /// start of the body.
    ///
    /// # Errors
    /// As described.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let kind = if self.status >= 500 || self.status == 408 || self.status == 429 {
            ErrorKind::Transient
        } else {
            ErrorKind::InvalidInput
        };
        let text = self.text();
        let mut snippet: String = text.trim().chars().take(200).collect();
        if snippet.len() < text.trim().len() {
            snippet.push('…');
        }
        Err(Error::new(
            kind,
            format!("{}: answered {}: {snippet}", self.target, self.status),
        ))
    }
}

/// The parts of a URL a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    pub(crate) https: bool,
    pub(crate) authority: &'a str,
    pub(crate) path_and_query: &'a str,
}

pub(crate) fn parse_url(url: &str) -> Result<Url<'_>, Error> {
    let bad = |why: &str| Error::new(ErrorKind::InvalidInput, format!("invalid URL: {why}"));
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad("it must start with http:// or https://"));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("it needs a host (and no user info)"));
    }
    let mut path_and_query = &rest[end..];
    if let Some(i) = path_and_query.find('#') {
        path_and_query = &path_and_query[..i];
    }
    Ok(Url {
        https,
        authority,
        path_and_query: if path_and_query.is_empty() {
            "/"
        } else {
            path_and_query
        },
    })
}

type Sent = (u16, Vec<(String, String)>, Vec<u8>);

#[cfg(target_arch = "wasm32")]
mod transport {
    use super::{Request, Sent, Url};
    use crate::ErrorKind;
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, Method as WasiMethod, OutgoingBody, OutgoingRequest, RequestOptions,
        Scheme,
    };
    use wasi::io::streams::StreamError;

    fn code(e: &ErrorCode) -> (ErrorKind, String) {
        match e {
            ErrorCode::HttpRequestDenied => (
                ErrorKind::Denied,
                "the host does not let this plugin reach that host (it must be in the plugin's manifest and granted in host.plugins.<name>.allowedHosts)".into(),
            ),
            ErrorCode::ConnectionRefused => (ErrorKind::Transient, "connection refused".into()),
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout => (ErrorKind::Transient, "timed out".into()),
            ErrorCode::DnsTimeout | ErrorCode::DnsError(_) => {
                (ErrorKind::Transient, "cannot resolve the host".into())
            }
            other => (ErrorKind::Transient, format!("{other:?}")),
        }
    }

    fn internal(what: &str) -> (ErrorKind, String) {
        (ErrorKind::Internal, format!("wasi:http: {what}"))
    }

    pub(super) fn send(req: &Request, url: &Url<'_>) -> Result<Sent, (ErrorKind, String)> {
        let mut entries: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        if !entries.iter().any(|(k, _)| k == "content-length") {
            entries.push((
                "content-length".into(),
                req.body.len().to_string().into_bytes(),
            ));
        }
        let headers = Fields::from_list(&entries)
            .map_err(|e| (ErrorKind::InvalidInput, format!("invalid header: {e:?}")))?;
        let out = OutgoingRequest::new(headers);
        let method = match req.method {
            super::Method::Get => WasiMethod::Get,
            super::Method::Post => WasiMethod::Post,
            super::Method::Put => WasiMethod::Put,
            super::Method::Patch => WasiMethod::Patch,
            super::Method::Delete => WasiMethod::Delete,
        };
        out.set_method(&method).map_err(|()| internal("method"))?;
        let scheme = if url.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        out.set_scheme(Some(&scheme))
            .map_err(|()| internal("scheme"))?;
        out.set_authority(Some(url.authority))
            .map_err(|()| (ErrorKind::InvalidInput, "invalid host".into()))?;
        out.set_path_with_query(Some(url.path_and_query))
            .map_err(|()| (ErrorKind::InvalidInput, "invalid path".into()))?;
        let body = out.body().map_err(|()| internal("body"))?;
        let options = RequestOptions::new();
        let nanos = u64::try_from(req.timeout.as_nanos()).unwrap_or(u64::MAX);
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        // Hand the request over first, then stream the body: the host reads
        // it while sending.
        let future = outgoing_handler::handle(out, Some(options)).map_err(|e| code(&e))?;
        {
            let stream = body.write().map_err(|()| internal("body stream"))?;
            for chunk in req.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|_| (ErrorKind::Transient, "sending the body failed".into()))?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| code(&e))?;
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => return Err(code(&e)),
            Some(Err(())) | None => return Err(internal("response")),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| internal("response body"))?;
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| internal("response stream"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(_)) => {
                        return Err((ErrorKind::Transient, "reading the answer failed".into()));
                    }
                }
            }
        }
        Ok((status, headers, body))
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod transport {
    use super::{Request, Sent, Url};
    use crate::ErrorKind;

    /// Outside a component there is no `wasi:http` to call.
    pub(super) fn send(_: &Request, _: &Url<'_>) -> Result<Sent, (ErrorKind, String)> {
        Err((
            ErrorKind::Unsupported,
            "HTTP is only available inside a weir plugin (wasm32-wasip2)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        let u = parse_url("https://hooks.slack.com/services/T/B/X?a=1#f").expect("ok");
        assert!(u.https);
        assert_eq!(u.authority, "hooks.slack.com");
        assert_eq!(u.path_and_query, "/services/T/B/X?a=1");
        let u = parse_url("http://127.0.0.1:8080").expect("ok");
        assert_eq!((u.authority, u.path_and_query), ("127.0.0.1:8080", "/"));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("https://user:pw@x/").is_err());
    }

    #[test]
    fn messages_and_debug_output_hide_the_path() {
        let r = Request::post("https://hooks.example.com/secret-token")
            .header("authorization", "t0ken");
        assert_eq!(r.target(), "POST hooks.example.com");
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("secret-token") && !shown.contains("t0ken"),
            "{shown}"
        );
    }

    #[test]
    fn statuses_classify_for_retries() {
        let resp = |status| Response {
            status,
            headers: Vec::new(),
            body: b"nope".to_vec(),
            target: "POST h".into(),
        };
        assert!(resp(204).error_for_status().is_ok());
        assert_eq!(
            resp(503).error_for_status().expect_err("5xx").kind,
            ErrorKind::Transient
        );
        assert_eq!(
            resp(429).error_for_status().expect_err("429").kind,
            ErrorKind::Transient
        );
        let e = resp(404).error_for_status().expect_err("404");
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert_eq!(e.message, "POST h: answered 404: nope");
    }
}
