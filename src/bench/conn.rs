//! One benchmark client's socket: connect, register, join, and read lines.
//!
//! Owns: the stream (TCP or TLS, see `stream.rs`), a fixed receive buffer
//! reused for every line, and the plain-IRC handshake (NICK/USER, wait for
//! 001, JOIN, wait for 366).
//! Must never: grow its buffer past the size it was given (over-long lines are
//! skipped), allocate per received line, or connect anywhere but the address
//! it is handed.

use std::io::Write as _;
use std::ops::Range;
use std::time::Instant;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::error::BenchError;
use super::stream::{BenchStream, Connector};
use super::wire::{classify, lossy, Line};

/// A registered (and possibly joined) client.
pub(crate) struct Conn {
    pub stream: BenchStream,
    pub idx: usize,
    /// The nick the server accepted (a 433 may have lengthened the one asked for).
    pub nick: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    skipping: bool,
    out: Vec<u8>,
    /// When the bytes now in `buf` arrived: taken once per read, not per
    /// line, so the clock is not read for every delivery (lines that came
    /// in one read arrived together).
    read_at: Instant,
}

/// What the connection's peer did instead of sending a line.
pub(crate) enum ReadEnd {
    Eof,
    Io(std::io::Error),
}

impl Conn {
    /// Read the next line, answering nothing; returns its range in the buffer.
    pub async fn read_line(&mut self) -> Result<Range<usize>, ReadEnd> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let s = self.start;
                let mut e = s + pos;
                self.start = e + 1;
                if self.skipping {
                    self.skipping = false;
                    continue;
                }
                if e > s && self.buf[e - 1] == b'\r' {
                    e -= 1;
                }
                return Ok(s..e);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                // A line longer than the buffer: drop it up to its LF.
                self.end = 0;
                self.skipping = true;
            }
            match self.stream.read(&mut self.buf[self.end..]).await {
                Ok(0) => return Err(ReadEnd::Eof),
                Ok(n) => {
                    self.end += n;
                    self.read_at = Instant::now();
                }
                Err(e) => return Err(ReadEnd::Io(e)),
            }
        }
    }

    /// When the last line returned by [`Conn::read_line`] arrived.
    pub fn read_at(&self) -> Instant {
        self.read_at
    }

    /// The bytes of a line returned by [`Conn::read_line`].
    pub fn line(&self, r: Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// Answer `PING <token>` found at `r` with `PONG <token>`.
    pub async fn pong(&mut self, r: Range<usize>) -> std::io::Result<()> {
        self.out.clear();
        self.out.extend_from_slice(b"PONG ");
        if let Line::Ping(tok) = classify(&self.buf[r]) {
            self.out.extend_from_slice(tok);
        }
        self.out.extend_from_slice(b"\r\n");
        self.send_out().await
    }

    /// Write `self.out` and push it onto the socket (TLS may hold it otherwise).
    async fn send_out(&mut self) -> std::io::Result<()> {
        self.stream.write_all(&self.out).await?;
        self.stream.flush().await
    }

    /// Turn a read failure into the error the user sees.
    pub fn read_error(&self, end: ReadEnd, phase: &'static str) -> BenchError {
        match end {
            ReadEnd::Eof => BenchError::Dropped {
                client: self.idx,
                phase,
                text: "the server closed the connection without an ERROR line".into(),
            },
            ReadEnd::Io(source) => BenchError::Io {
                client: self.idx,
                phase,
                source,
            },
        }
    }
}

/// Whether a numeric means the server refused something: any 4xx/5xx error
/// except 422 ("MOTD File is missing"), which is part of a normal welcome.
pub(crate) fn is_refusal(code: u16) -> bool {
    (400..600).contains(&code) && code != 422
}

/// Connect client `idx` (over TLS if the connector says so), register as
/// `nick`, and (if `channel`) join it. Returns the connection and the
/// connect-to-001 time (the TLS handshake included).
pub(crate) async fn handshake(
    connector: &Connector,
    idx: usize,
    nick: &str,
    channel: Option<&str>,
    bufsize: usize,
) -> Result<(Conn, std::time::Duration), BenchError> {
    let t0 = Instant::now();
    let stream = connector.connect(idx).await?;
    let mut c = Conn {
        stream,
        idx,
        nick: String::new(),
        buf: vec![0; bufsize.max(1024)],
        start: 0,
        end: 0,
        skipping: false,
        out: Vec::with_capacity(128),
        read_at: t0,
    };
    let mut nick = nick.to_string();
    let _ = write!(c.out, "NICK {nick}\r\nUSER {nick} 0 * :natter-bench\r\n");
    let io = |source, phase| BenchError::Io {
        client: idx,
        phase,
        source,
    };
    c.send_out().await.map_err(|e| io(e, "registration"))?;
    let mut registered = None;
    let mut phase = "registration";
    loop {
        let r = match c.read_line().await {
            Ok(r) => r,
            Err(end) => return Err(c.read_error(end, phase)),
        };
        match classify(c.line(r.clone())) {
            Line::Ping(_) => c.pong(r).await.map_err(|e| io(e, phase))?,
            Line::Error(text) => {
                return Err(BenchError::server_message_error(idx, phase, lossy(text)));
            }
            Line::Numeric { code: 1, .. } if registered.is_none() => {
                registered = Some(t0.elapsed());
                match channel {
                    None => break,
                    Some(ch) => {
                        phase = "join";
                        c.out.clear();
                        let _ = write!(c.out, "JOIN {ch}\r\n");
                        c.send_out().await.map_err(|e| io(e, phase))?;
                    }
                }
            }
            Line::Numeric { code: 433, .. } if registered.is_none() && nick.len() < 30 => {
                // Nick in use (a previous run's ghost): try a longer one.
                nick.push('_');
                c.out.clear();
                let _ = write!(c.out, "NICK {nick}\r\n");
                c.send_out().await.map_err(|e| io(e, phase))?;
            }
            Line::Numeric { code: 366, params } => {
                let on_channel = channel.is_some_and(|ch| {
                    params
                        .split(|&b| b == b' ')
                        .nth(1)
                        .is_some_and(|p| p.eq_ignore_ascii_case(ch.as_bytes()))
                });
                if on_channel {
                    break;
                }
            }
            Line::Numeric { code, params } if is_refusal(code) => {
                return Err(BenchError::Refused {
                    client: idx,
                    phase,
                    text: format!("{code} {}", lossy(params)),
                });
            }
            _ => {}
        }
    }
    let reg = registered.unwrap_or_else(|| t0.elapsed());
    c.nick = nick;
    Ok((c, reg))
}
