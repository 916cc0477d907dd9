//! The two tasks of one client connection: its reader and its writer.
//!
//! Owns the socket of one connection. The reader turns bytes into
//! [`Event`]s through a [`LineReader`] and reports how the connection ended;
//! the writer drains the connection's [`Outbox`], coalescing every waiting
//! line into one write. Must never make a chat decision (the core does),
//! never hold more than one read buffer and one line of input, and never let
//! a stalled peer hold up anything but its own writer.

use super::outbox::{Outbox, Phase};
use super::{now, Input};
use crate::core::{ConnId, Event, OutLine};
use crate::proto::LineReader;
use async_channel::Sender;
use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// How long a closing connection gets to take its last lines.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client cut off for SendQ gets to take the ERROR line.
const ABORT_WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// Write buffer capacity a writer keeps between batches.
const KEEP_BUFFER: usize = 64 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// The text other clients see when a connection ends on its own.
pub fn disconnect_reason(result: &io::Result<usize>) -> String {
    match result {
        Ok(_) => "Remote host closed the connection".to_string(),
        Err(e) => io_reason(e),
    }
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "Connection reset by peer".to_string(),
        io::ErrorKind::ConnectionAborted => "Connection aborted".to_string(),
        io::ErrorKind::BrokenPipe => "Broken pipe".to_string(),
        io::ErrorKind::TimedOut => "Connection timed out".to_string(),
        // A TLS peer that hung up without close_notify.
        io::ErrorKind::UnexpectedEof => "Remote host closed the connection".to_string(),
        _ => format!("Connection error: {e}"),
    }
}

/// Reads lines from `stream` (a socket, or the read half of a TLS stream)
/// and hands them to the core task in order, until the peer closes, the
/// socket fails, or the core task has stopped.
pub async fn reader<R: AsyncRead + Unpin>(conn: ConnId, mut stream: R, events: Sender<Input>) {
    let mut lines = LineReader::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let result = stream.read(&mut buf).await;
        let n = match result {
            Ok(n) if n > 0 => n,
            _ => {
                let reason = disconnect_reason(&result);
                let now = now();
                let _ = events
                    .send(Input::Event(Event::Disconnected { conn, reason, now }))
                    .await;
                return;
            }
        };
        lines.push(&buf[..n]);
        let now = now();
        while let Some(item) = lines.next_line() {
            let event = match item {
                Ok(line) => Event::Line { conn, line, now },
                Err(error) => Event::BadLine { conn, error, now },
            };
            if events.send(Input::Event(event)).await.is_err() {
                return; // the core task has stopped
            }
        }
    }
}

/// How one write attempt ended.
enum WriteEnd {
    Done,
    Failed(io::Error),
    Interrupted,
}

/// Writes `buf` from `*written` on, counting progress in `written`, so an
/// interrupted write leaves behind how far it got.
async fn write_counted<W: AsyncWrite + Unpin>(
    stream: &mut W,
    buf: &[u8],
    written: &mut usize,
) -> WriteEnd {
    while *written < buf.len() {
        match stream.write(&buf[*written..]).await {
            Ok(0) => return WriteEnd::Failed(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) => return WriteEnd::Failed(e),
        }
    }
    match stream.flush().await {
        Ok(()) => WriteEnd::Done,
        Err(e) => WriteEnd::Failed(e),
    }
}

fn fill(buf: &mut Vec<u8>, batch: &mut VecDeque<OutLine>) {
    buf.clear();
    for line in batch.drain(..) {
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
}

/// Drains `outbox` into `stream` (a socket, or the write half of a TLS
/// stream) until the outbox closes or the socket fails, then shuts `socket`
/// down (which also ends the reader). `_alive` is held so the server can
/// wait for every writer to finish at shutdown.
pub async fn writer<W: AsyncWrite + Unpin>(
    conn: ConnId,
    mut stream: W,
    socket: TcpStream,
    outbox: Arc<Outbox>,
    events: Sender<Input>,
    _alive: Sender<()>,
) {
    let mut batch = VecDeque::new();
    let mut buf = Vec::with_capacity(READ_CHUNK);
    // True when the last write stopped in the middle of a line.
    let mut mid_line = false;
    loop {
        let phase = outbox.next_batch(&mut batch).await;
        if phase == Phase::Aborted {
            fill(&mut buf, &mut batch);
            if mid_line {
                buf.splice(0..0, *b"\r\n");
            }
            let mut written = 0;
            let _ = write_counted(&mut stream, &buf, &mut written)
                .or(timeout(ABORT_WRITE_TIMEOUT))
                .await;
            break;
        }
        fill(&mut buf, &mut batch);
        let mut written = 0;
        let end = if phase == Phase::Closing {
            write_counted(&mut stream, &buf, &mut written)
                .or(timeout(CLOSE_FLUSH_TIMEOUT))
                .await
        } else {
            write_counted(&mut stream, &buf, &mut written)
                .or(async {
                    outbox.wait_aborted().await;
                    WriteEnd::Interrupted
                })
                .await
        };
        match end {
            WriteEnd::Done if phase == Phase::Closing => break,
            // Keep the buffer for the next batch, but give back what one
            // rare big burst made it grow to.
            WriteEnd::Done => {
                buf.clear();
                buf.shrink_to(KEEP_BUFFER);
            }
            WriteEnd::Interrupted => {
                mid_line = written > 0 && buf.get(written - 1) != Some(&b'\n');
            }
            WriteEnd::Failed(e) => {
                if phase == Phase::Open {
                    let reason = io_reason(&e);
                    let now = now();
                    let _ = events
                        .send(Input::Event(Event::Disconnected { conn, reason, now }))
                        .await;
                }
                break;
            }
        }
    }
    // TLS says goodbye (close_notify) if the peer still listens; then the
    // socket goes, whether it did or not.
    let _ = async {
        let _ = stream.close().await;
        WriteEnd::Done
    }
    .or(timeout(ABORT_WRITE_TIMEOUT))
    .await;
    let _ = socket.shutdown(Shutdown::Both);
}

async fn timeout(after: Duration) -> WriteEnd {
    smol::Timer::after(after).await;
    WriteEnd::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_stream_and_resets_read_as_irc_servers_say_them() {
        assert_eq!(
            disconnect_reason(&Ok(0)),
            "Remote host closed the connection"
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(disconnect_reason(&Err(reset)), "Connection reset by peer");
    }
}
