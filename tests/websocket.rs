//! IRC over WebSocket on the web port, end to end over real sockets: the
//! IRCv3 subprotocols, the Origin check, limits on message size, SendQ for
//! a browser that stops reading, and `wss://` with the IRC certificate.
//! The client side is tungstenite's blocking client, a WebSocket
//! implementation of its own (natter's server side runs hyper's handshake).
#[path = "common/e2e.rs"]
mod e2e;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use async_tungstenite::tungstenite::{self, Message, WebSocket};
use e2e::{server_options, start_with, strip_timestamp, temp_dir, Client, READ_TIMEOUT};
use natter::net::{RunningServer, ServerOptions, TlsOptions, WebOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// A server with its web port on, adjusted by `adjust`.
fn web_server(adjust: impl FnOnce(&mut ServerOptions)) -> RunningServer {
    let mut options = server_options(natter::net::DEFAULT_SENDQ, None);
    options.web = WebOptions {
        port: Some(0),
        ..WebOptions::default()
    };
    adjust(&mut options);
    start_with(options)
}

fn web_addr(server: &RunningServer) -> SocketAddr {
    server.web_addr().expect("the web port is on")
}

/// One WebSocket client speaking IRC, one line per message.
struct WsClient<S: Read + Write> {
    nick: String,
    ws: WebSocket<S>,
}

/// Opens a WebSocket to `addr` offering `protocols` (and sending `origin`
/// when given); the handshake's answer comes back either way.
fn open(
    addr: SocketAddr,
    protocols: Option<&str>,
    origin: Option<&str>,
) -> Result<
    (
        WebSocket<TcpStream>,
        tungstenite::handshake::client::Response,
    ),
    tungstenite::Error,
> {
    let stream = TcpStream::connect(addr).expect("the web port accepts connections");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    let mut request = format!("ws://{addr}/")
        .into_client_request()
        .expect("a good URL");
    if let Some(protocols) = protocols {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocols).expect("ascii"),
        );
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).expect("ascii"));
    }
    tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => {
            panic!("a blocking handshake is never interrupted")
        }
    })
}

impl<S: Read + Write> WsClient<S> {
    fn send(&mut self, line: &str) {
        self.ws
            .send(Message::text(line))
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.nick));
    }

    /// The next IRC line (text or binary message); `None` once closed.
    fn read_line(&mut self) -> Option<String> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => return Some(text.to_string()),
                Ok(Message::Binary(bytes)) => {
                    return Some(String::from_utf8(bytes.to_vec()).expect("UTF-8 line"))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("{}: no line within {READ_TIMEOUT:?}", self.nick)
                }
                Err(_) => return None,
            }
        }
    }

    fn read_until(&mut self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .read_line()
                .unwrap_or_else(|| panic!("{}: closed while waiting; got {lines:#?}", self.nick));
            assert!(
                !line.ends_with('\n') && !line.ends_with('\r'),
                "a message carries the line without CR LF: {line:?}"
            );
            let matched = done(&line);
            lines.push(line);
            if matched {
                return lines;
            }
        }
    }

    /// Registers as `nick` and joins `room`.
    fn join(&mut self, room: &str) {
        let nick = self.nick.clone();
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
        self.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
        self.send(&format!("JOIN {room}"));
        self.read_until(|l| l.contains(" 366 "));
    }
}

fn ws_client(addr: SocketAddr, nick: &str, protocols: &str) -> WsClient<TcpStream> {
    let (ws, response) = open(addr, Some(protocols), None).expect("the handshake succeeds");
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().expect("ascii").to_string());
    let expected = protocols.split(',').next().map(|p| p.trim().to_string());
    assert_eq!(chosen, expected, "the client's first choice is taken");
    WsClient {
        nick: nick.to_string(),
        ws,
    }
}

#[test]
fn websocket_and_socket_clients_chat_in_one_room_with_one_line_per_message() {
    let server = web_server(|_| {});
    let mut irc = Client::joined(server.local_addr(), "Sock", "#lobby");
    let mut web = ws_client(web_addr(&server), "Webby", "text.ircv3.net");
    web.join("#lobby");
    irc.read_until(|l| l.starts_with(":Webby!") && l.contains(" JOIN "));

    web.send("PRIVMSG #lobby :hello from a browser");
    irc.read_until(|l| l == ":Webby!webby@127.0.0.1 PRIVMSG #lobby :hello from a browser");

    irc.send("PRIVMSG #lobby :hello from a terminal");
    let got = web.read_until(|l| l.contains("PRIVMSG #lobby"));
    assert_eq!(
        got.last().map(String::as_str),
        Some(":Sock!sock@127.0.0.1 PRIVMSG #lobby :hello from a terminal")
    );

    // A message that breaks the rule and ends in CR LF still reads as one line.
    web.send("PRIVMSG #lobby :trailing newline\r\n");
    irc.read_until(|l| l == ":Webby!webby@127.0.0.1 PRIVMSG #lobby :trailing newline");

    drop(web);
    irc.read_until(|l| l.starts_with(":Webby!") && l.contains(" QUIT "));
    server.shutdown();
}

#[test]
fn a_listening_browser_gets_gathered_lines_once_in_order() {
    // A long coalescing interval: what Webby gets after the first line
    // waits for the core task's timer.
    let server = web_server(|o| o.coalesce = std::time::Duration::from_millis(300));
    let mut irc = Client::joined(server.local_addr(), "Sock", "#lobby");
    let mut web = ws_client(web_addr(&server), "Webby", "text.ircv3.net");
    web.join("#lobby");
    irc.read_until(|l| l.starts_with(":Webby!") && l.contains(" JOIN "));

    let sent: Vec<String> = (0..20).map(|i| format!("trickle {i}")).collect();
    for text in &sent {
        irc.send(&format!("PRIVMSG #lobby :{text}"));
        irc.sync();
    }
    let got: Vec<String> = web
        .read_until(|l| l.ends_with(":trickle 19"))
        .into_iter()
        .filter_map(|l| {
            l.strip_prefix(":Sock!sock@127.0.0.1 PRIVMSG #lobby :")
                .map(str::to_string)
        })
        .collect();
    assert_eq!(got, sent);

    // Webby speaks, and is answered at once: its own PING.
    web.send("PING are-you-there");
    let pong = web.read_until(|l| l.contains(" PONG "));
    assert!(
        pong.last().is_some_and(|l| l.ends_with("are-you-there")),
        "{pong:?}"
    );
    server.shutdown();
}

#[test]
fn the_binary_subprotocol_carries_lines_as_binary_messages() {
    let server = web_server(|_| {});
    let mut web = ws_client(web_addr(&server), "Bin", "binary.ircv3.net, text.ircv3.net");
    web.send("NICK Bin");
    web.send("USER bin 0 * :Bin");
    let welcome = loop {
        match web.ws.read().expect("the welcome arrives") {
            Message::Binary(bytes) => break String::from_utf8(bytes.to_vec()).expect("UTF-8"),
            Message::Text(text) => panic!("a text message on a binary connection: {text}"),
            _ => continue,
        }
    };
    assert!(welcome.contains(" 001 Bin "), "{welcome}");
    // Binary messages from the client are lines too.
    web.ws
        .send(Message::binary(b"PING binary-ping".to_vec()))
        .expect("send");
    web.read_until(|l| l.contains("PONG") && l.ends_with("binary-ping"));
    server.shutdown();
}

#[test]
fn pages_from_other_sites_are_refused_unless_the_operator_allows_them() {
    let server = web_server(|o| o.web.origins = vec!["https://friends.example".to_string()]);
    let addr = web_addr(&server);
    match open(addr, Some("text.ircv3.net"), Some("http://evil.example")) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            let body =
                String::from_utf8(response.body().clone().unwrap_or_default()).expect("UTF-8 body");
            assert!(body.contains("--web-origin http://evil.example"), "{body}");
        }
        other => panic!(
            "a foreign page got in: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    // The server's own page, an allowed site, and non-browser clients get in.
    for origin in [
        Some(format!("http://{addr}")),
        Some("https://friends.example".to_string()),
        None,
    ] {
        let (mut ws, _) = open(addr, Some("text.ircv3.net"), origin.as_deref())
            .unwrap_or_else(|e| panic!("{origin:?} refused: {e}"));
        ws.send(Message::text("PING allowed")).expect("send");
        let mut client = WsClient {
            nick: format!("{origin:?}"),
            ws,
        };
        client.read_until(|l| l.contains("PONG") && l.ends_with("allowed"));
    }
    server.shutdown();
}

#[test]
fn an_over_long_line_gets_the_irc_error_and_a_huge_message_closes_only_its_connection() {
    let server = web_server(|_| {});
    let addr = web_addr(&server);
    let mut irc = Client::joined(server.local_addr(), "Sock", "#lobby");
    let mut web = ws_client(addr, "Long", "text.ircv3.net");
    web.join("#lobby");

    // Over IRC's 512 bytes: the same 417 a socket client gets, and the
    // connection carries on.
    web.send(&format!("PRIVMSG #lobby :{}", "x".repeat(1000)));
    web.read_until(|l| l.contains(" 417 "));
    web.send("PRIVMSG #lobby :still here");
    irc.read_until(|l| l == ":Long!long@127.0.0.1 PRIVMSG #lobby :still here");

    // Past what a WebSocket message may be at all: that connection ends,
    // cleanly announced, and nobody else notices.
    let huge = "y".repeat(natter::net::web::MAX_MESSAGE + 1);
    let _ = web
        .ws
        .send(Message::text(format!("PRIVMSG #lobby :{huge}")));
    while web.read_line().is_some() {}
    let quit = irc.read_until(|l| l.starts_with(":Long!") && l.contains(" QUIT "));
    assert!(
        quit.last()
            .is_some_and(|l| l.contains("WebSocket message over")),
        "{quit:?}"
    );
    irc.send("PRIVMSG #lobby :the room goes on");
    irc.sync();
    server.shutdown();
}

#[test]
fn a_websocket_that_stops_reading_is_dropped_by_sendq_and_stalls_no_one() {
    const LINES: usize = 20_000;
    let dir = temp_dir("ws-sendq");
    let log = dir.join("server.log");
    let server = web_server(|o| {
        o.sendq_bytes = 64 * 1024;
        // Floods on purpose: flood protection would pace Sender instead.
        o.config.flood_lines_per_sec = 0;
        o.log = Some(natter::net::LogOptions::file(log.clone()));
    });
    let mut stuck = ws_client(web_addr(&server), "Stuck", "text.ircv3.net");
    stuck.join("#lobby");
    let mut reader = Client::joined(server.local_addr(), "Reader", "#lobby");
    let mut sender = Client::joined(server.local_addr(), "Sender", "#lobby");
    let text = |i: usize| format!("{i:05} {}", "z".repeat(400));

    // Stuck never reads again; Reader reads everything as it comes.
    let mut got = 0;
    let mut stuck_quit = Vec::new();
    for chunk in 0..LINES / 100 {
        let burst: String = (chunk * 100..(chunk + 1) * 100)
            .map(|i| format!("PRIVMSG #lobby :{}\r\n", text(i)))
            .collect();
        sender.send_raw(burst.as_bytes());
        while got < (chunk + 1) * 100 {
            let line = reader.read_line().expect("Reader stays connected");
            if let Some(body) = line.strip_prefix(":Sender!sender@127.0.0.1 PRIVMSG #lobby :") {
                assert_eq!(body, text(got), "in order, nothing missing");
                got += 1;
            } else if line.starts_with(":Stuck!") && line.contains(" QUIT ") {
                stuck_quit.push(line);
            }
        }
    }
    for line in reader.sync() {
        if line.starts_with(":Stuck!") && line.contains(" QUIT ") {
            stuck_quit.push(line);
        }
    }
    assert_eq!(got, LINES);
    assert_eq!(stuck_quit, [":Stuck!stuck@127.0.0.1 QUIT :SendQ exceeded"]);
    server.shutdown();
    let log = std::fs::read_to_string(&log).expect("server.log");
    assert_eq!(
        log.lines()
            .filter(|l| strip_timestamp(l) == "Client Stuck quit: SendQ exceeded")
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn the_page_is_served_with_its_type_and_a_content_security_policy() {
    let server = web_server(|_| {});
    let mut http = TcpStream::connect(web_addr(&server)).expect("connect");
    http.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    http.write_all(b"GET / HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    http.read_to_string(&mut answer).expect("an answer");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 ok\r\n"), "{answer}");
    assert!(lower.contains("content-type: text/html; charset=utf-8\r\n"));
    assert!(lower.contains("content-security-policy: default-src 'none'; script-src 'self'"));
    assert!(lower.contains("x-content-type-options: nosniff\r\n"));
    assert!(answer.contains("<script type=\"module\""), "{answer}");
    server.shutdown();
}

#[test]
fn wss_on_the_web_tls_port_uses_the_irc_certificate() {
    let dir = temp_dir("ws-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    natter::net::tls::write_self_signed("localhost", &cert, &key).expect("certificate");
    let server = web_server(|o| {
        o.tls = Some(TlsOptions {
            port: 0,
            ..TlsOptions::new(&cert, &key)
        });
        o.web.tls_port = Some(0);
    });
    let addr = server.web_tls_addr().expect("the TLS web port is on");
    let config = natter::client::tls::rustls_config(&natter::client::tls::Trust::Insecure)
        .expect("client config");
    let name = "localhost".try_into().expect("a server name");
    let tls = rustls::ClientConnection::new(config, name).expect("TLS client");
    let socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    let stream = rustls::StreamOwned::new(tls, socket);
    let mut request = format!("wss://localhost:{}/", addr.port())
        .into_client_request()
        .expect("a good URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("text.ircv3.net"),
    );
    let (ws, _) = tungstenite::client(request, stream).expect("the wss handshake succeeds");
    let mut web = WsClient {
        nick: "Secure".to_string(),
        ws,
    };
    web.join("#lobby");
    web.send("WHOIS Secure");
    let whois = web.read_until(|l| l.contains(" 318 "));
    assert!(
        whois.iter().any(|l| l.contains(" 671 ")),
        "a wss client is marked as on a secure connection: {whois:#?}"
    );
    server.shutdown();
}
