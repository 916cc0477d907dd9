//! A benchmark client's byte stream: plain TCP, or TLS over TCP (`--tls`).
//!
//! Owns: [`BenchStream`], the one stream type the generator reads and writes,
//! and [`Connector`], which opens it (TCP connect, `TCP_NODELAY`, then the TLS
//! handshake when asked). TLS accepts any server certificate: natter-bench
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

use super::error::BenchError;
use crate::client::tls::{rustls_config, Trust};

/// One client's connection to the server. Cloning gives another handle to
/// the same connection (for the sender loop), never a new connection.
#[derive(Clone)]
pub(crate) enum BenchStream {
    Plain(TcpStream),
    Tls(Rc<RefCell<TlsStream<TcpStream>>>),
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

impl AsyncRead for BenchStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_read(cx, buf)),
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
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_flush(cx)),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BenchStream::Plain(s) => Pin::new(s).poll_close(cx),
            BenchStream::Tls(s) => with_tls(s, |t| t.poll_close(cx)),
        }
    }
}

/// Opens client connections to one server, plain or TLS; built once per run
/// (the rustls configuration is shared by every connection).
#[derive(Clone)]
pub(crate) struct Connector {
    addr: SocketAddr,
    tls: Option<TlsConnector>,
}

impl Connector {
    /// A connector for `addr`; with `tls`, every connection does a TLS
    /// handshake that accepts any server certificate.
    pub fn new(addr: SocketAddr, tls: bool) -> Result<Connector, BenchError> {
        let tls = if tls {
            let config = rustls_config(&Trust::Insecure)
                .map_err(|e| BenchError::Config(format!("cannot set up TLS: {e}")))?;
            Some(TlsConnector::from(config))
        } else {
            None
        };
        Ok(Connector { addr, tls })
    }

    /// Connect client `idx` (and complete the TLS handshake, with `--tls`).
    pub async fn connect(&self, idx: usize) -> Result<BenchStream, BenchError> {
        let addr = self.addr;
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
