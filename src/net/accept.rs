//! Accepting connections: the plain and TLS listeners' accept loops, the
//! TLS handshake, refusals by the connection limits, and handing each
//! admitted connection its id, outbox, reader and writer.
//!
//! Owns everything between `accept()` and the core's `Input::Accepted`.
//! Must never make a chat decision, and never let a slow handshake or a
//! refused client hold up the listener (each runs in a task of its own).

use super::conn;
use super::limits::{self, Refusal, SharedLimiter};
use super::outbox::Outbox;
use super::socket::Socket;
use super::tls::TlsAcceptor;
use super::{now, Input, TlsPeer};
use crate::core::ConnId;
use async_channel::Sender;
use async_net::TcpListener;
use futures_lite::FutureExt;
use smol::lock::Semaphore;
use smol::{Executor, Timer};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a listener's connections reach the reader and writer tasks.
#[derive(Clone)]
pub(super) enum Transport {
    Plain,
    Tls {
        acceptor: Arc<TlsAcceptor>,
        handshake_timeout: Duration,
        /// One permit per handshake under way ([`TlsOptions::max_handshakes`]).
        handshakes: Arc<Semaphore>,
    },
}

/// What every accepted connection needs, whichever listener it came from.
#[derive(Clone)]
pub(super) struct Accepting {
    pub(super) ids: Arc<AtomicU64>,
    pub(super) events: Sender<Input>,
    pub(super) alive: Sender<()>,
    pub(super) sendq: usize,
    /// The write coalescing interval of its outbox.
    pub(super) coalesce: Duration,
    pub(super) limiter: SharedLimiter,
}

pub(super) async fn accept_loop(
    ex: Arc<Executor<'static>>,
    listener: TcpListener,
    transport: Transport,
    accepting: Accepting,
) {
    loop {
        // A TLS connection is accepted only once its handshake may start.
        let permit = match &transport {
            Transport::Tls { handshakes, .. } => Some(handshakes.acquire_arc().await),
            Transport::Plain => None,
        };
        let (stream, peer) = next_connection(&listener).await;
        // Decided before the core hears of the connection: a refused one
        // is told why, logged, and closed, and never becomes a connection.
        let admitted = accepting
            .limiter
            .admit(peer.ip(), std::time::Instant::now());
        match &transport {
            Transport::Plain => {
                let guard = match admitted {
                    Ok(guard) => guard,
                    Err(refusal) => {
                        let writer = stream.clone();
                        ex.spawn(refuse(
                            accepting.events.clone(),
                            peer,
                            refusal,
                            writer,
                            stream,
                        ))
                        .detach();
                        continue;
                    }
                };
                let reader = stream.clone();
                let writer = stream.clone();
                let arrival = Arrival {
                    peer,
                    tls: None,
                    guard,
                };
                if !connect(&ex, &accepting, arrival, reader, writer, stream).await {
                    return;
                }
            }
            // The handshake runs in its own task: a slow one holds up no one.
            Transport::Tls {
                acceptor,
                handshake_timeout,
                ..
            } => {
                let config = acceptor.config();
                let timeout = *handshake_timeout;
                let accepting = accepting.clone();
                let spawner = ex.clone();
                ex.spawn(async move {
                    let shaken = handshake(config, stream.clone(), peer, timeout).await;
                    drop(permit);
                    let Some(tls) = shaken else {
                        return;
                    };
                    let certfp = client_certfp(&tls);
                    // A refused TLS client is told why over TLS: a plaintext
                    // line would be noise to it.
                    let guard = match admitted {
                        Ok(guard) => guard,
                        Err(refusal) => {
                            refuse(accepting.events.clone(), peer, refusal, tls, stream).await;
                            return;
                        }
                    };
                    let (reader, writer) = futures_lite::io::split(tls);
                    let arrival = Arrival {
                        peer,
                        tls: Some(TlsPeer { certfp }),
                        guard,
                    };
                    connect(&spawner, &accepting, arrival, reader, writer, stream).await;
                })
                .detach();
            }
        }
    }
}

/// The next connection on `listener`, with Nagle off and an IPv4 peer shown
/// as IPv4. A failed accept (usually: out of file descriptors) is reported
/// and retried after a pause for some to free up.
pub(super) async fn next_connection(listener: &TcpListener) -> (Socket, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (Socket::from(stream), unmap_v4(peer));
            }
            Err(e) => {
                eprintln!("natter-server: accepting a connection failed: {e}");
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The SHA-256 fingerprint (lowercase hex) of the certificate a TLS client
/// showed, if it showed one.
pub(super) fn client_certfp(tls: &futures_rustls::server::TlsStream<Socket>) -> Option<String> {
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| hex(&crate::fingerprint::sha256(cert)))
}

/// Lowercase hex, as the core stores fingerprints.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the TLS handshake; on failure or timeout logs a line and drops the
/// connection (the core never hears of it).
pub(super) async fn handshake(
    config: Arc<rustls::ServerConfig>,
    stream: Socket,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<futures_rustls::server::TlsStream<Socket>> {
    let acceptor = futures_rustls::TlsAcceptor::from(config);
    let result = async { Some(acceptor.accept(stream.clone()).await) }
        .or(async {
            Timer::after(timeout).await;
            None
        })
        .await;
    match result {
        Some(Ok(tls)) => Some(tls),
        Some(Err(e)) => {
            eprintln!("natter-server: TLS handshake with {peer} failed: {e}; connection closed");
            let _ = stream.shutdown(std::net::Shutdown::Both);
            None
        }
        None => {
            eprintln!(
                "natter-server: TLS handshake with {peer} did not finish within {timeout:?}; \
                 connection closed"
            );
            let _ = stream.shutdown(std::net::Shutdown::Both);
            None
        }
    }
}

/// How long a refused client gets to take its ERROR line.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends a refused client its one ERROR line (through `writer`, the socket
/// or its TLS stream), closes the connection, and has the core task log it.
async fn refuse<W>(
    events: Sender<Input>,
    peer: SocketAddr,
    refusal: Refusal,
    writer: W,
    socket: Socket,
) where
    W: futures_lite::AsyncWrite + Unpin,
{
    use futures_lite::AsyncWriteExt;
    let line = format!("{}\r\n", refusal.error_line(peer.ip()));
    let mut writer = writer;
    let _ = async {
        let _ = writer.write_all(line.as_bytes()).await;
        let _ = writer.flush().await;
        let _ = writer.close().await;
    }
    .or(async {
        Timer::after(REFUSAL_WRITE_TIMEOUT).await;
    })
    .await;
    let _ = socket.shutdown(std::net::Shutdown::Both);
    let refused = Input::Refused {
        peer,
        reason: refusal.to_string(),
        now: now(),
    };
    let _ = events.send(refused).await;
}

/// Gives the connection an id and an outbox, tells the core, and starts its
/// reader and writer; the writer holds the connection's limit `guard` and
/// so gives its slot back when the connection ends. False when the core
/// has stopped.
#[allow(clippy::too_many_arguments)]
pub(super) async fn connect<R, W>(
    ex: &Executor<'static>,
    accepting: &Accepting,
    arrival: Arrival,
    reader: R,
    writer: W,
    socket: Socket,
) -> bool
where
    R: futures_lite::AsyncRead + Unpin + Send + 'static,
    W: futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let Arrival { peer, tls, guard } = arrival;
    let plain = tls.is_none();
    let Some((conn, outbox)) = announce(accepting, peer, tls).await else {
        return false;
    };
    if plain {
        // The writer writes to the socket itself: so may the core task.
        outbox.write_directly_to(socket.clone());
    }
    ex.spawn(conn::reader(
        conn,
        reader,
        outbox.clone(),
        accepting.events.clone(),
    ))
    .detach();
    let writer = conn::writer(
        conn,
        writer,
        socket,
        outbox,
        accepting.events.clone(),
        accepting.alive.clone(),
    );
    ex.spawn(async move {
        writer.await;
        drop(guard);
    })
    .detach();
    true
}

/// Gives an arriving connection an id and an outbox and tells the core,
/// whatever carries its lines (a socket, TLS, a WebSocket). None when the
/// core has stopped.
pub(super) async fn announce(
    accepting: &Accepting,
    peer: SocketAddr,
    tls: Option<TlsPeer>,
) -> Option<(ConnId, Arc<Outbox>)> {
    let conn = ConnId(accepting.ids.fetch_add(1, Ordering::Relaxed));
    let outbox = Arc::new(Outbox::coalescing(accepting.sendq, accepting.coalesce));
    let accepted = Input::Accepted {
        conn,
        peer,
        outbox: outbox.clone(),
        now: now(),
        tls,
    };
    accepting.events.send(accepted).await.ok()?;
    Some((conn, outbox))
}

/// Who came in: the address, what TLS told of it, and its slot under the
/// connection limits (held until the connection ends).
pub(super) struct Arrival {
    peer: SocketAddr,
    tls: Option<TlsPeer>,
    guard: limits::Guard,
}

/// `::ffff:1.2.3.4` (an IPv4 client of a `::` listener) shown as `1.2.3.4`.
pub(super) fn unmap_v4(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), peer.port()),
            None => peer,
        },
        IpAddr::V4(_) => peer,
    }
}
