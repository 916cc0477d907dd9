//! The web port: natter's own web chat page over HTTP, and IRC over
//! WebSocket for it (and for any IRCv3 WebSocket client).
//!
//! Owns the HTTP side of the shell: hyper serves HTTP/1.1 on each web
//! listener (plain, or TLS with the IRC port's certificate), answers
//! `GET`/`HEAD` with the embedded page (`assets`), and upgrades
//! WebSocket requests that pass the Origin check and the connection
//! limits into an ordinary connection of the core, whose lines travel one
//! per message (`ws`). Must never make a chat decision, and never let
//! anything of the web reach the core but lines (the core cannot tell a
//! WebSocket client from a socket one).

mod assets;
mod ws;

use super::accept::{announce, client_certfp, handshake, next_connection, Accepting, Transport};
use super::{now, Input, Socket, TlsPeer};
use async_net::TcpListener;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use smol::lock::Semaphore;
use smol::{Executor, Timer};
use smol_hyper::rt::{FuturesIo, SmolTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use ws::{Framing, MAX_MESSAGE};

/// The web listeners and who may open a WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebOptions {
    /// HTTP and `ws://` on this port; `None` for none.
    pub port: Option<u16>,
    /// HTTPS and `wss://` on this port, with the IRC TLS port's
    /// certificate (so TLS must be configured); `None` for none.
    pub tls_port: Option<u16>,
    /// Origins (`https://chat.example.com`) whose pages may open a
    /// WebSocket besides the server's own page; `*` allows any.
    pub origins: Vec<String>,
}

/// HTTP connections (page loads, not WebSockets) open at once per web
/// listener; more wait in the kernel's listen queue.
const MAX_HTTP_CONNECTIONS: usize = 512;
/// How long a client gets to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP connection may stay open before it upgrades: the page
/// is a few small files, so this is only ever hit by idle keep-alives and
/// slow clients.
const HTTP_LIFETIME: Duration = Duration::from_secs(60);
/// The most bytes of a request's head hyper buffers.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// What every request on a web listener needs.
#[derive(Clone)]
pub(super) struct Site {
    pub ex: Arc<Executor<'static>>,
    pub accepting: Accepting,
    /// Allowed origins besides the page's own ([`WebOptions::origins`]).
    pub origins: Arc<[String]>,
}

/// Accepts connections on a web listener, each served by hyper in a task
/// of its own (after the TLS handshake on a TLS listener).
pub(super) async fn accept_loop(site: Site, listener: TcpListener, transport: Transport) {
    let http_slots = Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS));
    loop {
        let slot = http_slots.acquire_arc().await;
        let (socket, peer) = next_connection(&listener).await;
        let visit = Visit {
            site: site.clone(),
            peer,
            socket: socket.clone(),
            certfp: None,
            secure: false,
        };
        match &transport {
            Transport::Plain => {
                site.ex
                    .spawn(async move {
                        serve_http(visit, socket).await;
                        drop(slot);
                    })
                    .detach();
            }
            Transport::Tls {
                acceptor,
                handshake_timeout,
                handshakes,
            } => {
                let config = acceptor.config();
                let timeout = *handshake_timeout;
                let handshakes = handshakes.clone();
                site.ex
                    .spawn(async move {
                        let permit = handshakes.acquire_arc().await;
                        let shaken = handshake(config, socket, peer, timeout).await;
                        drop(permit);
                        let Some(tls) = shaken else {
                            return;
                        };
                        let certfp = client_certfp(&tls);
                        let visit = Visit {
                            certfp,
                            secure: true,
                            ..visit
                        };
                        serve_http(visit, tls).await;
                        drop(slot);
                    })
                    .detach();
            }
        }
    }
}

/// Serves HTTP/1.1 on one connection until it closes, upgrades to a
/// WebSocket (which then lives on in tasks of its own), or has been open
/// [`HTTP_LIFETIME`].
async fn serve_http<S>(visit: Visit, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let answer = visit.respond::<S>(request);
        async move { Ok::<_, Infallible>(answer) }
    });
    let connection = http1::Builder::new()
        .timer(SmolTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(FuturesIo::new(stream), service)
        .with_upgrades();
    let _ = async { connection.await.is_ok() }
        .or(async {
            Timer::after(HTTP_LIFETIME).await;
            false
        })
        .await;
}

/// One HTTP connection: who it is from, and over what.
#[derive(Clone)]
struct Visit {
    site: Site,
    peer: SocketAddr,
    /// The TCP socket under it (for shutting an upgraded connection down).
    socket: Socket,
    /// The client certificate's fingerprint, on TLS.
    certfp: Option<String>,
    secure: bool,
}

impl Visit {
    /// Answers one request: a WebSocket upgrade, or a file of the page.
    fn respond<S>(&self, request: Request<Incoming>) -> Response<Full<Bytes>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if wants_websocket(request.headers()) {
            return self.upgrade::<S>(request);
        }
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut refused =
                    assets::plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD here\n");
                refused
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return refused;
            }
        };
        let if_none_match = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        assets::serve(request.uri().path(), if_none_match, head)
    }

    /// Checks a WebSocket request and, if it may become a connection,
    /// answers 101 and hands the upgraded stream to a task that connects
    /// it to the core.
    fn upgrade<S>(&self, mut request: Request<Incoming>) -> Response<Full<Bytes>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let headers = request.headers();
        if request.method() != Method::GET {
            return assets::plain(StatusCode::BAD_REQUEST, "a WebSocket opens with GET\n");
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v != "13")
        {
            let mut refused = assets::plain(
                StatusCode::UPGRADE_REQUIRED,
                "natter speaks WebSocket version 13 (RFC 6455)\n",
            );
            refused.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return refused;
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return assets::plain(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing\n");
        };
        let accept = derive_accept_key(key.as_bytes());
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if !origin_allowed(origin, host, self.secure, &self.site.origins) {
            let shown = origin.unwrap_or("?");
            eprintln!(
                "natter-server: refused a WebSocket from {} for origin {shown}",
                self.peer
            );
            return assets::plain(
                StatusCode::FORBIDDEN,
                &format!(
                    "pages from {shown} may not connect here; the server's operator can \
                     allow them with `natter-server --web-origin {shown}`\n"
                ),
            );
        }
        let framing = Framing::choose(
            headers
                .get_all(header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let offered_any = headers.contains_key(header::SEC_WEBSOCKET_PROTOCOL);
        let accepting = self.site.accepting.clone();
        let guard = match accepting
            .limiter
            .admit(self.peer.ip(), std::time::Instant::now())
        {
            Ok(guard) => guard,
            Err(refusal) => {
                let text = format!("{}\n", refusal.error_line(self.peer.ip()));
                let refused = Input::Refused {
                    peer: self.peer,
                    reason: refusal.to_string(),
                    now: now(),
                };
                let _ = accepting.events.try_send(refused);
                return assets::plain(StatusCode::TOO_MANY_REQUESTS, &text);
            }
        };
        let upgrading = hyper::upgrade::on(&mut request);
        let visit = self.clone();
        self.site
            .ex
            .spawn(async move {
                let upgraded = match upgrading.await {
                    Ok(upgraded) => upgraded,
                    Err(e) => {
                        eprintln!(
                            "natter-server: WebSocket upgrade from {} failed: {e}",
                            visit.peer
                        );
                        return;
                    }
                };
                // The stream is ours again, with whatever the client sent
                // after its request.
                let Ok(parts) = upgraded.downcast::<FuturesIo<S>>() else {
                    eprintln!("natter-server: WebSocket upgrade lost its stream; closed");
                    return;
                };
                let stream = WebSocketStream::from_partially_read(
                    parts.io.into_inner(),
                    parts.read_buf.to_vec(),
                    Role::Server,
                    Some(ws::config(accepting.sendq)),
                )
                .await;
                let tls = visit.secure.then(|| TlsPeer {
                    certfp: visit.certfp.clone(),
                });
                let Some((conn, outbox)) = announce(&accepting, visit.peer, tls).await else {
                    return;
                };
                let shared = ws::SharedSocket::new(stream);
                let framing = framing.unwrap_or(Framing::Text);
                let ex = &visit.site.ex;
                ex.spawn(ws::reader(
                    conn,
                    shared.clone(),
                    outbox.clone(),
                    accepting.events.clone(),
                ))
                .detach();
                let writer = ws::writer(
                    conn,
                    shared,
                    framing,
                    visit.socket.clone(),
                    outbox,
                    accepting.events.clone(),
                    accepting.alive.clone(),
                );
                ex.spawn(async move {
                    writer.await;
                    drop(guard);
                })
                .detach();
            })
            .detach();
        let mut switching = Response::new(Full::new(Bytes::new()));
        *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = switching.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        // Named only when the client offered subprotocols: a client that
        // offered none must not be answered with one.
        if let (Some(framing), true) = (framing, offered_any) {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(framing.name()),
            );
        }
        switching
    }
}

/// Whether a request asks to become a WebSocket.
fn wants_websocket(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

/// Whether a page from `origin` may open a WebSocket to this server,
/// reached as `host`: clients that are not browsers send no Origin and
/// may; a page may if it came from this server itself (same scheme, host
/// and port) or from an origin the operator allowed (`*` for any).
fn origin_allowed(
    origin: Option<&str>,
    host: Option<&str>,
    secure: bool,
    allowed: &[String],
) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let (scheme, default_port) = if secure { ("https", 443) } else { ("http", 80) };
    let Some(authority) = origin
        .split_once("://")
        .filter(|(s, _)| s.eq_ignore_ascii_case(scheme))
        .map(|(_, rest)| rest)
    else {
        return false;
    };
    let Some(host) = host else {
        return false;
    };
    let normal = |authority: &str| {
        let authority = authority.to_ascii_lowercase();
        match authority.strip_suffix(&format!(":{default_port}")) {
            Some(bare) => bare.to_string(),
            None => authority,
        }
    };
    normal(authority) == normal(host.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_without_an_origin_and_the_servers_own_page_may_connect() {
        assert!(origin_allowed(None, Some("chat.example:8080"), false, &[]));
        assert!(origin_allowed(
            Some("http://chat.example:8080"),
            Some("chat.example:8080"),
            false,
            &[]
        ));
        assert!(origin_allowed(
            Some("https://Chat.Example"),
            Some("chat.example:443"),
            true,
            &[]
        ));
    }

    #[test]
    fn pages_from_elsewhere_need_the_operators_leave() {
        let none: &[String] = &[];
        assert!(!origin_allowed(
            Some("http://evil.example"),
            Some("chat.example:8080"),
            false,
            none
        ));
        // Same host, other port or scheme: another origin.
        assert!(!origin_allowed(
            Some("http://chat.example:9090"),
            Some("chat.example:8080"),
            false,
            none
        ));
        assert!(!origin_allowed(
            Some("http://chat.example"),
            Some("chat.example"),
            true,
            none
        ));
        assert!(!origin_allowed(
            Some("null"),
            Some("chat.example"),
            false,
            none
        ));
        let allowed = vec!["https://friends.example/".to_string()];
        assert!(origin_allowed(
            Some("https://friends.example"),
            Some("chat.example:8080"),
            false,
            &allowed
        ));
        assert!(origin_allowed(
            Some("http://anything.example"),
            Some("chat.example"),
            false,
            &["*".to_string()]
        ));
    }

    #[test]
    fn only_a_connection_upgrade_to_websocket_is_a_websocket_request() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!wants_websocket(&headers));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(wants_websocket(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!wants_websocket(&headers));
    }
}
