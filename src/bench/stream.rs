//! A benchmark client's byte stream: plain TCP, TLS over TCP (`--tls`),
//! or IRC over WebSocket on either (`--ws`).
//!
//! Owns: [`BenchStream`], the one stream type the generator reads and writes,
//! and [`Connector`], which opens it (TCP connect, `TCP_NODELAY`, then the TLS
//! handshake and the WebSocket handshake when asked). Over WebSocket the
//! generator still reads and writes CR LF lines: each received message is
//! read as its line plus CR LF, and each written line is sent as one text
//! message (tungstenite's client masks it, as browsers do). TLS accepts any server certificate: natter-bench
//! measures servers on this machine, usually with self-signed certificates,
//! and trusts them with nothing (handshake signatures are still checked).
//! Must never: be used for anything but load generation on loopback, be
//! shared across tasks (a TLS stream is an `Rc`: one client's receive and
//! send loops run in one task, so a single task waker serves both), or hold
//! the TLS stream borrowed across an await.
//!
//! Writes through TLS may stay inside rustls when the socket is full, so
//! every writer calls `flush` after `write_all` (a no-op for plain TCP).
//! rustls decrypts received records in place, but allocates one buffer per
//! TLS record it sends: per write of a batch of messages, not per message.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;
use smol::net::TcpStream;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_lite::Stream;
use futures_util::Sink;

use super::error::BenchError;
use crate::client::tls::{rustls_config, Trust};

/// One client's connection to the server. Cloning gives another handle to
/// the same connection (for the sender loop), never a new connection.
#[derive(Clone)]
pub(crate) enum BenchStream {
    Plain(TcpStream),
    Tls(Rc<RefCell<TlsStream<TcpStream>>>),
    Ws(Rc<RefCell<WsLines>>),
}

/// A WebSocket carrying IRC lines, read and written as a CR LF byte stream.
pub(crate) struct WsLines {
    ws: WebSocketStream<BenchStream>,
    /// Received lines (with CR LF) not yet read, from `read_at` on.
    inbound: Vec<u8>,
    read_at: usize,
    /// Written bytes not yet sent as messages: complete lines waiting for
    /// the WebSocket to take them, then at most one partial line.
    outbound: Vec<u8>,
}

impl WsLines {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // Gather what has arrived, up to what the caller can take.
        while self.inbound.len() - self.read_at < buf.len() {
            if self.read_at == self.inbound.len() {
                self.inbound.clear();
                self.read_at = 0;
            }
            match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(Message::Text(text)))) => {
                    self.inbound.extend_from_slice(text.as_bytes());
                    self.inbound.extend_from_slice(b"\r\n");
                }
                Poll::Ready(Some(Ok(Message::Binary(bytes)))) => {
                    self.inbound.extend_from_slice(&bytes);
                    self.inbound.extend_from_slice(b"\r\n");
                }
                Poll::Ready(Some(Ok(Message::Close(_)))) | Poll::Ready(None) => break,
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(io::Error::other(e))),
                Poll::Pending if self.read_at == self.inbound.len() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        let waiting = &self.inbound[self.read_at..];
        let n = waiting.len().min(buf.len());
        buf[..n].copy_from_slice(&waiting[..n]);
        self.read_at += n;
        Poll::Ready(Ok(n))
    }

    /// Sends every complete line waiting in `outbound` as a message.
    fn poll_send_lines(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut start = 0;
        let result = loop {
            let Some(end) = memchr::memchr(b'\n', &self.outbound[start..]) else {
                break Poll::Ready(Ok(()));
            };
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => break Poll::Ready(Err(io::Error::other(e))),
                Poll::Pending => break Poll::Pending,
            }
            let line = &self.outbound[start..start + end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = String::from_utf8_lossy(line).into_owned();
            if let Err(e) = Pin::new(&mut self.ws).start_send(Message::text(text)) {
                break Poll::Ready(Err(io::Error::other(e)));
            }
            start += end + 1;
        };
        self.outbound.drain(..start);
        result
    }
}

/// Only reachable if a poll re-entered another poll of the same stream,
/// which this module's callers never do; an error, not a panic.
fn busy() -> io::Error {
    io::Error::other("natter-bench bug: TLS stream polled re-entrantly")
}

/// Runs `f` on the TLS stream, borrowed for this one poll only.
fn with_tls<T>(
    s: &RefCell<TlsStream<TcpStream>>,
    f: impl FnOnce(Pin<&mut TlsStream<TcpStream>>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match s.try_borrow_mut() {
        Ok(mut tls) => f(Pin::new(&mut *tls)),
        Err(_) => Poll::Ready(Err(busy())),
    }
}

/// Runs `f` on the WebSocket, borrowed for this one poll only.
fn with_ws<T>(
    s: &RefCell<WsLines>,
    f: impl FnOnce(&mut WsLines) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    match s.try_borrow_mut() {
        Ok(mut ws) => f(&mut ws),
        Err(_) => Poll::Ready(Err(busy())),
    }
}

impl AsyncRead for BenchStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_read(cx, buf)),
            BenchStream::Ws(s) => with_ws(s, |w| w.poll_read(cx, buf)),
        }
    }
}

impl AsyncWrite for BenchStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_write(cx, buf)),
            BenchStream::Ws(s) => with_ws(s, |w| {
                // Taken whole; sent as messages now or by the next flush.
                w.outbound.extend_from_slice(buf);
                match w.poll_send_lines(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    _ => Poll::Ready(Ok(buf.len())),
                }
            }),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_flush(cx)),
            BenchStream::Ws(s) => with_ws(s, |w| {
                std::task::ready!(w.poll_send_lines(cx))?;
                Pin::new(&mut w.ws).poll_flush(cx).map_err(io::Error::other)
            }),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_close(cx),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_close(cx)),
            BenchStream::Ws(s) => with_ws(s, |w| {
                Pin::new(&mut w.ws).poll_close(cx).map_err(io::Error::other)
            }),
        }
    }
}

/// Opens client connections to one server, plain or TLS; built once per run
/// (the rustls configuration is shared by every connection).
#[derive(Clone)]
pub(crate) struct Connector {
    /// The servers; client `idx` connects to `addrs[idx % len]`.
    addrs: Vec<SocketAddr>,
    tls: Option<TlsConnector>,
    /// Speak IRC over WebSocket (`text.ircv3.net`) on the connection.
    ws: bool,
}

impl Connector {
    /// A connector for `addr` (and `more` servers, round robin); with
    /// `tls`, every connection does a TLS handshake that accepts any
    /// server certificate.
    pub fn new(
        addr: SocketAddr,
        more: &[SocketAddr],
        tls: bool,
        ws: bool,
    ) -> Result<Connector, BenchError> {
        let tls = if tls {
            let config = rustls_config(&Trust::Insecure)
                .map_err(|e| BenchError::Config(format!("cannot set up TLS: {e}")))?;
            Some(TlsConnector::from(config))
        } else {
            None
        };
        let addrs = std::iter::once(addr).chain(more.iter().copied()).collect();
        Ok(Connector { addrs, tls, ws })
    }

    /// Connect client `idx` (and complete the TLS handshake, with `--tls`,
    /// and the WebSocket handshake, with `--ws`).
    pub async fn connect(&self, idx: usize) -> Result<BenchStream, BenchError> {
        let stream = self.connect_stream(idx).await?;
        if !self.ws {
            return Ok(stream);
        }
        let addr = self.addr_of(idx);
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        let failed = |e: &dyn std::fmt::Display| BenchError::WebSocket {
            client: idx,
            addr,
            reason: e.to_string(),
        };
        let mut request = format!("{scheme}://{addr}/")
            .into_client_request()
            .map_err(|e| failed(&e))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("text.ircv3.net"),
        );
        // Small buffers: thousands of clients share this process.
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(16 * 1024);
        let (ws, _) = async_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| failed(&e))?;
        Ok(BenchStream::Ws(Rc::new(RefCell::new(WsLines {
            ws,
            inbound: Vec::new(),
            read_at: 0,
            outbound: Vec::new(),
        }))))
    }

    /// The server client `idx` connects to.
    fn addr_of(&self, idx: usize) -> SocketAddr {
        self.addrs[idx % self.addrs.len()]
    }

    async fn connect_stream(&self, idx: usize) -> Result<BenchStream, BenchError> {
        let addr = self.addr_of(idx);
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| BenchError::Connect { addr, source })?;
        // Our side never waits on delayed ACKs; the server's side is its own choice.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(BenchStream::Plain(tcp)),
            Some(connector) => {
                // An IP address as the name: no SNI is sent, and the
                // certificate is not checked against it (see the module doc).
                let name = ServerName::IpAddress(addr.ip().into());
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|source| BenchError::Tls {
                        client: idx,
                        addr,
                        source,
                    })?;
                Ok(BenchStream::Tls(Rc::new(RefCell::new(tls))))
            }
        }
    }
}
