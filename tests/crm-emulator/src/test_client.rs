//! A bare HTTP/1.1 client for the emulators' own tests: one request a connection
//! (`Connection: close`), the answer read to the end. It keeps the crate free of an HTTP client
//! dependency (and so `Cargo.lock` unchanged); the node's tests use the node's own client.

use std::fmt::Write as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer: its status, headers (names lower-cased) and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("a JSON body ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `method target` (a path with its query) to `base` (`http://127.0.0.1:PORT`, as
/// `serve` gives it) with `headers` and `body`.
pub(crate) async fn send(base: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let address = base.strip_prefix("http://").expect("an http:// base URL");
    let mut stream = TcpStream::connect(address).await.expect("the emulator accepts a connection");
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if !body.is_empty() || method != "GET" {
        let _ = write!(request, "Content-Length: {}\r\n", body.len());
    }
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    stream.write_all(body).await.expect("the body is sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("the answer is read");
    parse(&raw)
}

/// An HTTP/1.1 answer: status line, headers, and a body of `Content-Length` bytes or chunks.
fn parse(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an answer with headers");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    Reply { status, headers, body }
}

/// A chunked body's bytes.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or_default().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        body.extend_from_slice(&rest[start..start + size]);
        rest = &rest[(start + size + 2).min(rest.len())..];
    }
    body
}
