//! A minimal HTTP/1.1 client over a stream opened *from* a host ([`BoxStream`]).
//!
//! Probes reach an HTTP service or a chain node's JSON-RPC port through the host's SSH
//! connection (a direct-tcpip channel) or a local socket; there is no TCP connect of our own
//! and no TLS, so a general-purpose client (reqwest) does not fit. This module owns URL
//! splitting, one hyper `http1` connection per [`HttpConnection`], and a capped body read.
//! It must not dial (callers hand it a stream), apply timeouts (callers wrap it), or know about
//! JSON-RPC.
//!
//! Callers: [`super::chain`] (JSON-RPC POSTs) and [`super`] (`http` service checks).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::transport::BoxStream;

/// An HTTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Body, at most `max_body` bytes.
    pub body: Vec<u8>,
    /// Whether the body was longer than `max_body` (the rest was not read).
    pub truncated: bool,
}

/// Why an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL could not be understood.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP method is not a valid token.
    #[error("invalid HTTP method {0:?}")]
    InvalidMethod(String),
    /// The HTTP/1.1 handshake over the stream failed.
    #[error("HTTP handshake failed: {0}")]
    Handshake(#[source] hyper::Error),
    /// Sending the request or reading the response failed (includes a closed connection).
    #[error("HTTP exchange failed: {0}")]
    Exchange(#[source] hyper::Error),
    /// The request could not be built.
    #[error("cannot build HTTP request: {0}")]
    Build(String),
}

/// Where a plain `http://` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// Host name or address to dial (from the host), without brackets for IPv6.
    pub host: String,
    /// TCP port, 80 unless given.
    pub port: u16,
    /// Value of the `Host` header (`host[:port]` as written in the URL).
    pub authority: String,
    /// Request target: path and query, `/` when empty.
    pub path_and_query: String,
}

/// Splits a plain `http://` URL into what to dial and what to request. `https://` and other
/// schemes are refused: there is no TLS over the forwarded stream.
pub fn parse_url(url: &str) -> Result<HttpTarget, HttpError> {
    let bad = |reason: &str| HttpError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(bad(&format!("scheme {other} is not supported, only http"))),
        None => return Err(bad("no scheme (expected http://)")),
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("credentials in URLs are not supported"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(HttpTarget {
        host: host.to_string(),
        port: authority.port_u16().unwrap_or(80),
        authority: authority.as_str().to_string(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string()),
    })
}

/// One HTTP/1.1 connection over a host stream; requests on it run one after another
/// (keep-alive). Dropping it closes the stream.
pub struct HttpConnection {
    sender: SendRequest<Full<Bytes>>,
    /// The task driving hyper's connection state machine; aborted on drop so a caller's
    /// timeout never leaves a connection (and its SSH channel) behind.
    driver: JoinHandle<()>,
}

impl Drop for HttpConnection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl HttpConnection {
    /// Performs the (trivial) HTTP/1.1 handshake over `stream`.
    pub async fn handshake(stream: BoxStream) -> Result<Self, HttpError> {
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(HttpError::Handshake)?;
        let driver = tokio::spawn(async move {
            // Errors surface on the request side as well; nothing more to do with them here.
            let _ = conn.await;
        });
        Ok(HttpConnection { sender, driver })
    }

    /// Whether the peer closed the connection (a new one is needed for the next request).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and reads the reply, keeping at most `max_body` bytes of the body.
    /// A truncated body leaves the connection unusable for another request.
    pub async fn request(
        &mut self,
        method: &str,
        url: &str,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
        max_body: usize,
    ) -> Result<HttpReply, HttpError> {
        let target = parse_url(url)?;
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| HttpError::InvalidMethod(method.to_string()))?;
        let mut builder = Request::builder()
            .method(method)
            .uri(target.path_and_query.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(
                header::USER_AGENT,
                concat!("fleetdeck/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::ACCEPT, "*/*");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let req = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| HttpError::Build(e.to_string()))?;
        self.sender.ready().await.map_err(HttpError::Exchange)?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(HttpError::Exchange)?;
        let status = resp.status().as_u16();
        let mut incoming = resp.into_body();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(HttpError::Exchange)?;
            if let Ok(data) = frame.into_data() {
                let room = max_body - body.len();
                if data.len() > room {
                    body.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&data);
            }
        }
        Ok(HttpReply {
            status,
            body,
            truncated,
        })
    }
}

/// One request on a fresh connection over `stream`: `method url`, optional body and content
/// type, body kept up to `max_body` bytes (0: the body is not read, only the status). The
/// caller applies the timeout.
pub async fn request(
    stream: BoxStream,
    method: &str,
    url: &str,
    body: Option<Vec<u8>>,
    content_type: Option<&str>,
    max_body: usize,
) -> Result<HttpReply, HttpError> {
    let mut conn = HttpConnection::handshake(stream).await?;
    conn.request(method, url, body, content_type, max_body)
        .await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:8545").unwrap();
        assert_eq!(
            t,
            HttpTarget {
                host: "127.0.0.1".into(),
                port: 8545,
                authority: "127.0.0.1:8545".into(),
                path_and_query: "/".into()
            }
        );
        let t = parse_url("http://localhost/health?full=1").unwrap();
        assert_eq!((t.port, t.path_and_query.as_str()), (80, "/health?full=1"));
        let t = parse_url("http://[::1]:9000/x").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 9000, "[::1]:9000")
        );
        assert!(parse_url("https://example.org").is_err());
        assert!(parse_url("127.0.0.1:8545").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("http://user:pw@host/").is_err());
        assert!(parse_url("not a url").is_err());
    }

    /// A one-shot HTTP server on 127.0.0.1 answering every connection with `reply`; returns the
    /// port and a channel receiving the raw requests it saw.
    async fn serve(reply: &'static [u8]) -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    // Read until the end of the headers (and a small body, if any).
                    loop {
                        let n = sock.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length: "))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let _ = tx.send(seen);
                    let _ = sock.write_all(reply).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (port, rx)
    }

    async fn dial(port: u16) -> BoxStream {
        Box::pin(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn posts_and_reads_the_reply() {
        let (port, mut seen) = serve(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 39\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\"}",
        )
        .await;
        let url = format!("http://127.0.0.1:{port}/rpc");
        let reply = request(
            dial(port).await,
            "POST",
            &url,
            Some(b"{}".to_vec()),
            Some("application/json"),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\"}"
        );
        assert!(!reply.truncated);
        let req = String::from_utf8(seen.recv().await.unwrap())
            .unwrap()
            .to_lowercase();
        assert!(req.starts_with("post /rpc http/1.1\r\n"), "{req}");
        assert!(
            req.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{req}"
        );
        assert!(req.contains("content-type: application/json\r\n"), "{req}");
        assert!(req.ends_with("\r\n\r\n{}"), "{req}");
    }

    #[tokio::test]
    async fn caps_the_body_and_reports_status_only_when_asked() {
        let (port, _seen) =
            serve(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 10\r\n\r\n0123456789")
                .await;
        let url = format!("http://127.0.0.1:{port}/");
        let reply = request(dial(port).await, "GET", &url, None, None, 4)
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.body.as_slice(), reply.truncated),
            (503, &b"0123"[..], true)
        );
        let reply = request(dial(port).await, "GET", &url, None, None, 0)
            .await
            .unwrap();
        assert_eq!(reply.status, 503);
        assert!(reply.body.is_empty());
    }

    #[tokio::test]
    async fn garbage_from_the_peer_is_an_error_not_a_panic() {
        let (port, _seen) = serve(b"SSH-2.0-OpenSSH_9.2p1\r\n").await;
        let url = format!("http://127.0.0.1:{port}/");
        let err = request(dial(port).await, "GET", &url, None, None, 100)
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Exchange(_)), "{err:?}");
        let err = request(dial(port).await, "G ET", &url, None, None, 100)
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::InvalidMethod(_)), "{err:?}");
    }
}
