//! The outbound-HTTP gate: `wasi:http` requests leave the sandbox only to
//! hosts that the plugin's manifest asks for *and* the host config grants,
//! and never wait longer than the plugin's deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::manifest::host_matches;

/// One store's gate.
pub(crate) struct Gate {
    /// The plugin's name, for messages.
    pub(crate) plugin: String,
    /// What its manifest asks for.
    pub(crate) asked: Arc<[String]>,
    /// What the host config grants (`host.plugins.NAME.allowedHosts`).
    pub(crate) granted: Arc<[String]>,
    /// Longest a connect or a wait for an answer may take.
    pub(crate) cap: Duration,
    /// Requests refused during the call, for the error message.
    pub(crate) denials: Arc<Mutex<Vec<String>>>,
}

impl Gate {
    /// Why `host:port` may not be reached, if it may not.
    pub(crate) fn refusal(&self, host: &str, port: u16) -> Option<String> {
        if !self.asked.iter().any(|p| host_matches(p, host, port)) {
            return Some(format!(
                "HTTP to {host}:{port} refused: the plugin's manifest does not ask for that host"
            ));
        }
        if !self.granted.iter().any(|p| host_matches(p, host, port)) {
            return Some(format!(
                "HTTP to {host}:{port} refused: the host config does not grant it (host.plugins.{}.allowedHosts)",
                self.plugin
            ));
        }
        None
    }
}

type Answer = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Gate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Answer {
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if let Some(why) = self.refusal(&host, port) {
            tracing::warn!(plugin = %self.plugin, "{why}");
            self.denials
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(why);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let cap = |d: Option<Duration>| Some(d.map_or(self.cap, |d| d.min(self.cap)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
