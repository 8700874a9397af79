//! A recording HTTP/1.1 server on 127.0.0.1 standing in for Slack, Teams,
//! GitHub, GitLab or any webhook: it records every request (method, path,
//! headers, body) and answers from a script (status, delay, body), then
//! with `200 ok`. Real sockets, real HTTP: what a notifier plugin sends
//! through the host's `wasi:http` is exactly what arrives here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `POST`, ….
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked bodies decoded).
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// How long to wait before answering.
    pub delay: Duration,
    /// The body.
    pub body: String,
}

impl Reply {
    /// Answer `status` at once with a short body.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            delay: Duration::ZERO,
            body: format!("status {status}"),
        }
    }

    /// Answer 200 after `delay`.
    pub fn slow(delay: Duration) -> Self {
        Reply {
            status: 200,
            delay,
            body: "ok".into(),
        }
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<Recorded>,
    script: std::collections::VecDeque<Reply>,
}

/// The server. It runs until the process ends.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Sink {
    /// A server that answers 200 to everything.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn start() -> Sink {
        Sink::scripted(Vec::new())
    }

    /// A server that answers with `script` in order, then 200.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn scripted(script: Vec<Reply>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Mutex::new(Shared {
            requests: Vec::new(),
            script: script.into(),
        }));
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let _ = serve(stream, &s);
                });
            }
        });
        Sink { addr, shared }
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .requests
            .clone()
    }

    /// Waits (up to `timeout`) until at least `n` requests arrived, and
    /// returns all of them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(stream: TcpStream, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let reply = {
        let mut s = shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.requests.push(Recorded {
            method,
            path,
            headers,
            body,
        });
        s.script.pop_front()
    }
    .unwrap_or(Reply {
        status: 200,
        delay: Duration::ZERO,
        body: "ok".into(),
    });
    std::thread::sleep(reply.delay);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    )?;
    stream.flush()
}
