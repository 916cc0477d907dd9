//! Connecting to the server, for both of natter-client's shells (the line
//! mode in `terminal.rs` and the full-screen one in `tui/shell.rs`):
//! resolving, TCP, TLS, the reader thread that frames the server's bytes
//! into lines, and the session the connection starts with. Decides nothing
//! about the protocol.

use super::terminal::Options;
use super::tls;
use super::{ClientError, Login, NickRetry, Session};
use crate::proto::{LineError, MAX_LINE, MAX_TAGS};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection: the writing half (the reading half goes to a
/// [`spawn_reader`] thread) and what the session needs to know about it.
pub(crate) struct Connection {
    pub writer: Writer,
    /// `host:port`, for messages.
    pub addr: String,
    socket: TcpStream,
    /// PLAIN sends the password itself: only inside TLS or to this machine.
    plain_allowed: bool,
}

impl Connection {
    /// Connects (and does the TLS handshake) as `options` say; returns the
    /// connection and its reading half.
    pub fn open(options: &Options) -> Result<(Connection, Box<dyn Read + Send>), ClientError> {
        let addr = format!("{}:{}", options.host, options.port);
        let stream = connect(&options.host, options.port)?;
        let plain_allowed =
            options.tls.is_some() || stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
        let socket = stream.try_clone().map_err(|e| ClientError::Connect {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        let (reader, writer): (Box<dyn Read + Send>, Writer) = match &options.tls {
            Some(trust) => {
                let halves = tls::handshake(stream, &options.host, &addr, trust)?;
                (Box::new(halves.reader), Writer::Tls(halves.writer))
            }
            None => {
                let reader = stream.try_clone().map_err(|e| ClientError::Connect {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
                (Box::new(reader), Writer::Plain(stream))
            }
        };
        let connection = Connection {
            writer,
            addr,
            socket,
            plain_allowed,
        };
        Ok((connection, reader))
    }

    /// The session for this connection, logging in if `options` has an
    /// account.
    pub fn session(&self, options: &Options, retry: NickRetry) -> Result<Session, ClientError> {
        // History carries UTC times; show them in this machine's zone, as the
        // local times of live lines are.
        let mut session = Session::new(&options.nick, &options.room, retry)
            .with_utc_offset(*chrono::Local::now().offset());
        if let Some(account) = &options.account {
            session = session.with_login(Login {
                account: account.name.clone(),
                password: account.password.clone(),
                nonce: scram_nonce()?,
                plain_allowed: self.plain_allowed,
            });
        }
        Ok(session)
    }

    /// Ends the connection (TLS says goodbye first).
    pub fn close(&mut self) {
        if let Writer::Tls(tls) = &mut self.writer {
            tls.close_notify();
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// A fresh SCRAM client nonce: 18 bytes from the OS's random source, as
/// base64 (printable, no `,`).
pub(crate) fn scram_nonce() -> Result<String, ClientError> {
    use base64::Engine;
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| ClientError::NoRandomness {
        reason: e.to_string(),
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Resolves `host` and connects to the first address that answers.
pub(crate) fn connect(host: &str, port: u16) -> Result<TcpStream, ClientError> {
    let addr = format!("{host}:{port}");
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ClientError::HostNotFound {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::HostNotFound {
            host: host.to_string(),
            reason: "no addresses".to_string(),
        });
    }
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            ClientError::ConnectionRefused { addr }
        }
        Some(e) => ClientError::Connect {
            addr,
            reason: e.to_string(),
        },
        None => ClientError::Connect {
            addr,
            reason: "no address to try".to_string(),
        },
    })
}

/// Where the client's lines go: the socket, or TLS over it.
pub(crate) enum Writer {
    Plain(TcpStream),
    Tls(tls::TlsWriter),
}

impl Writer {
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Writer::Plain(stream) => stream.write_all(bytes),
            Writer::Tls(tls) => tls.write_all(bytes),
        }
    }
}

/// Frames the server's bytes into lines until EOF or an error.
/// `deliver` gets each line, then `None` at the end; it returns `false`
/// when nobody listens any more.
pub(crate) fn spawn_reader<F>(mut stream: Box<dyn Read + Send>, mut deliver: F)
where
    F: FnMut(Option<Result<String, LineError>>) -> bool + Send + 'static,
{
    thread::spawn(move || {
        let mut lines = ServerLines::default();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for line in lines.push(&buf[..n]) {
                        if !deliver(Some(line)) {
                            return;
                        }
                    }
                }
            }
        }
        let _ = deliver(None);
    });
}

/// Line framing for what the server sends. Unlike the server's strict
/// [`crate::proto::LineReader`], text that is not UTF-8 (old clients still
/// send Latin-1) is shown with replacement characters instead of dropped.
/// Holds at most one line's limit in memory.
#[derive(Default)]
struct ServerLines {
    partial: Vec<u8>,
    discarding: bool,
}

impl ServerLines {
    const LIMIT: usize = MAX_LINE + MAX_TAGS + 2;

    fn push(&mut self, chunk: &[u8]) -> Vec<Result<String, LineError>> {
        let mut out = Vec::new();
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let complete = piece.last() == Some(&b'\n');
            if !self.discarding {
                self.partial.extend_from_slice(piece);
                if self.partial.len() > Self::LIMIT {
                    self.partial.clear();
                    self.discarding = true;
                    out.push(Err(LineError::TooLong { limit: Self::LIMIT }));
                }
            }
            if complete {
                if !self.discarding {
                    let line = String::from_utf8_lossy(&self.partial);
                    let line = line.trim_end_matches(['\r', '\n']);
                    if !line.is_empty() {
                        out.push(Ok(line.to_string()));
                    }
                }
                self.partial.clear();
                self.discarding = false;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines_do_not_depend_on_how_the_stream_was_chunked() {
        let stream = b"PING :a\r\n:x PRIVMSG #l :caf\xe9\r\n\r\nPING b\n";
        let whole = ServerLines::default().push(stream);
        let mut lines = ServerLines::default();
        let bytewise: Vec<_> = stream.iter().flat_map(|b| lines.push(&[*b])).collect();
        assert_eq!(whole, bytewise);
        assert_eq!(
            whole,
            vec![
                Ok("PING :a".to_string()),
                Ok(":x PRIVMSG #l :caf\u{fffd}".to_string()),
                Ok("PING b".to_string()),
            ]
        );
    }

    #[test]
    fn an_endless_line_is_dropped_without_growing_memory() {
        let mut lines = ServerLines::default();
        let mut out = Vec::new();
        for _ in 0..100 {
            out.extend(lines.push(&[b'a'; 4096]));
            assert!(lines.partial.len() <= ServerLines::LIMIT);
        }
        out.extend(lines.push(b"\nPING c\n"));
        assert_eq!(
            out,
            vec![
                Err(LineError::TooLong {
                    limit: ServerLines::LIMIT
                }),
                Ok("PING c".to_string())
            ]
        );
    }
}
