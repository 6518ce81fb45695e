//! A minimal HTTP/1.1 keep-alive client that sends exactly the request the
//! Web Connector sends (captures/http_headers.txt): the .NET headers,
//! `Expect: 100-continue` honoured by waiting for the interim response
//! before the body, and `Connection: Keep-Alive` on a connection's first
//! request only. Hand-rolled rather than reqwest so the client's own CPU
//! cost stays small beside the server on a shared machine.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The User-Agent of QBWC 2.0 on .NET 2.0, as captured.
const USER_AGENT: &str = "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 2.0.50727.1433)";

/// Longest wait for any one read: a stuck server fails the run instead of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// One keep-alive connection to the server.
pub struct Conn {
    stream: TcpStream,
    host: String,
    path: String,
    first: bool,
    buf: Vec<u8>,
}

/// A response: status and body.
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Conn {
    /// Connects to `addr` (`127.0.0.1:port`); requests go to `path`.
    pub async fn connect(addr: &str, path: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, host: addr.to_owned(), path: path.to_owned(), first: true, buf: Vec::new() })
    }

    /// POSTs one SOAP call the way QBWC does and reads the whole response.
    pub async fn soap(&mut self, method: &str, body: &[u8]) -> anyhow::Result<Response> {
        let keep_alive = if self.first { "Connection: Keep-Alive\r\n" } else { "" };
        self.first = false;
        let head = format!(
            "POST {} HTTP/1.1\r\nUser-Agent: {USER_AGENT}\r\nContent-Type: text/xml; charset=utf-8\r\n\
             SOAPAction: \"http://developer.intuit.com/{method}\"\r\nHost: {}\r\nContent-Length: {}\r\n\
             Expect: 100-continue\r\n{keep_alive}\r\n",
            self.path,
            self.host,
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await?;
        // The client waits for `100 Continue` before the body; a final
        // status instead (a refusal) ends the exchange without it.
        let interim = self.read_response(true).await?;
        if interim.status != 100 {
            return Ok(interim);
        }
        self.stream.write_all(body).await?;
        self.read_response(false).await
    }

    /// A plain GET (readiness probes).
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Response> {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.write_all(head.as_bytes()).await?;
        self.read_response(false).await
    }

    /// Reads one response (an interim `100` has no body).
    async fn read_response(&mut self, expect_interim: bool) -> anyhow::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("response head is not UTF-8")?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line: {:?}", head.lines().next()))?;
        if status == 100 {
            if !expect_interim {
                // An unexpected interim response: skip it and read on.
                self.buf.drain(..head_end);
                return Box::pin(self.read_response(false)).await;
            }
            self.buf.drain(..head_end);
            return Ok(Response { status, content_type: String::new(), body: Vec::new() });
        }
        let mut length = None;
        let mut content_type = String::new();
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("content-type") {
                    content_type = value.trim().to_owned();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("chunked responses are not expected from qbwcd");
                }
            }
        }
        let length = length.ok_or_else(|| anyhow!("response without Content-Length"))?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Response { status, content_type, body })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        self.buf.reserve(64 * 1024);
        let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read_buf(&mut self.buf))
            .await
            .map_err(|_| anyhow!("no response within {READ_TIMEOUT:?}"))??;
        if n == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
