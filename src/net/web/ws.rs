//! The two tasks of one WebSocket client: its reader and its writer.
//!
//! Owns one upgraded connection (IRCv3 WebSocket: one IRC line per
//! message, no CR LF). The reader turns each message into a line for the
//! core through the same [`LineReader`] limits as a socket (so an over-long
//! line gets the same IRC error reply); the writer drains the connection's
//! [`Outbox`] and sends each line as one message, flushing once per batch.
//! Must never make a chat decision, and never let a stalled browser hold
//! up anything but its own writer (the outbox's SendQ bounds it).

use crate::core::{ConnId, OutLine};
use crate::net::conn::{
    self, carry_on, hand_over, io_reason, report_gone, until_aborted, WriteEnd, ABORT_WRITE_TIMEOUT,
};
use crate::net::outbox::{Outbox, Phase};
use crate::net::socket::Socket;
use crate::net::Input;
use crate::proto::LineReader;
use async_channel::Sender;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt, Stream};
use futures_util::Sink;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

/// The biggest WebSocket message accepted at all. Lines past the IRC
/// limits (510 bytes, 8191 of tags) but under this get the IRC error reply
/// and the connection stays; a bigger message closes the connection, since
/// it cannot be skipped without reading it.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// How lines travel: the subprotocol the client chose.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `text.ircv3.net` (and clients that name no subprotocol).
    Text,
    /// `binary.ircv3.net`.
    Binary,
}

impl Framing {
    /// The subprotocol's name, for the handshake's answer.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Text => "text.ircv3.net",
            Framing::Binary => "binary.ircv3.net",
        }
    }

    /// The first subprotocol natter speaks in the client's list (most
    /// preferred first, as the client sent them).
    pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Framing> {
        offered
            .into_iter()
            .flat_map(|list| list.split(','))
            .find_map(|name| match name.trim() {
                "text.ircv3.net" => Some(Framing::Text),
                "binary.ircv3.net" => Some(Framing::Binary),
                _ => None,
            })
    }

    fn message(self, line: &OutLine) -> Message {
        match self {
            // Every line the core makes is a Rust string: valid UTF-8, as
            // text messages must be. (Sharing the line's bytes through
            // `Bytes::from_owner` instead of copying measured slower: the
            // owner box plus the UTF-8 check cost more than a short copy.)
            Framing::Text => Message::text(line.as_ref()),
            Framing::Binary => Message::binary(line.as_bytes().to_vec()),
        }
    }
}

/// Buffers sized for many idle connections: a small read buffer, writes
/// gathered up to a batch, and messages capped at [`MAX_MESSAGE`].
pub fn config(sendq: usize) -> WebSocketConfig {
    let write_buffer = 64 * 1024;
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(write_buffer)
        // One batch at most is ever waiting here (the outbox holds the
        // rest), and a batch is at most a SendQ.
        .max_write_buffer_size(write_buffer + 2 * sendq.max(1) + MAX_MESSAGE)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// One WebSocket shared by its reader and writer tasks. The WebSocket keeps
/// a waker for each direction, so both can wait on it at once; each poll
/// holds the lock only while it runs, and the writer takes it once per
/// batch rather than once per line (as async-tungstenite's own split
/// would, twice per line).
pub struct SharedSocket<S>(Arc<Mutex<WebSocketStream<S>>>);

impl<S> Clone for SharedSocket<S> {
    fn clone(&self) -> Self {
        SharedSocket(self.0.clone())
    }
}

impl<S> SharedSocket<S> {
    pub fn new(ws: WebSocketStream<S>) -> Self {
        SharedSocket(Arc::new(Mutex::new(ws)))
    }

    fn lock(&self) -> MutexGuard<'_, WebSocketStream<S>> {
        // A panic while sending leaves nothing half-done that matters here.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why the connection ended, as other clients see it in the QUIT.
fn ws_reason(e: &WsError) -> String {
    match e {
        WsError::Io(e) => io_reason(e),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            "Remote host closed the connection".to_string()
        }
        WsError::Capacity(_) => format!("WebSocket message over {MAX_MESSAGE} bytes"),
        WsError::Protocol(e) => format!("WebSocket protocol error: {e}"),
        WsError::Utf8(_) => "WebSocket text message was not UTF-8".to_string(),
        other => format!("WebSocket error: {other}"),
    }
}

/// Reads messages and hands their lines to the core task in order, until
/// the client closes, the connection fails, or the core task has stopped.
pub async fn reader<S>(
    conn: ConnId,
    socket: SharedSocket<S>,
    outbox: Arc<Outbox>,
    events: Sender<Input>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut lines = LineReader::new();
    loop {
        let next = poll_fn(|cx| Pin::new(&mut *socket.lock()).poll_next(cx)).await;
        let reason = match next {
            Some(Ok(Message::Text(text))) => {
                lines.push(text.as_bytes());
                lines.push(b"\r\n");
                None
            }
            Some(Ok(Message::Binary(bytes))) => {
                lines.push(&bytes);
                lines.push(b"\r\n");
                None
            }
            // Pings are answered by the WebSocket layer itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(_))) | None => {
                Some("Remote host closed the connection".to_string())
            }
            Some(Err(e)) => Some(ws_reason(&e)),
        };
        if let Some(reason) = reason {
            report_gone(conn, reason, &events).await;
            return;
        }
        // The client spoke: it may be waiting for the answer.
        outbox.heard();
        if !hand_over(conn, &mut lines, &events).await {
            return; // the core task has stopped
        }
    }
}

/// Sends `batch` as one message per line, then flushes: the socket usually
/// sees one write per batch. Cancel-safe in the same way as a socket
/// writer: a dropped send loses only lines of an aborted connection.
async fn send_batch<S>(
    socket: &SharedSocket<S>,
    batch: &mut VecDeque<OutLine>,
    framing: Framing,
) -> WriteEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sent = poll_fn(|cx| poll_send(&mut socket.lock(), cx, batch, framing)).await;
    match sent {
        Ok(()) => WriteEnd::Done,
        Err(WsError::Io(e)) => WriteEnd::Failed(e),
        Err(e) => WriteEnd::Failed(std::io::Error::other(ws_reason(&e))),
    }
}

fn poll_send<S>(
    ws: &mut WebSocketStream<S>,
    cx: &mut Context<'_>,
    batch: &mut VecDeque<OutLine>,
    framing: Framing,
) -> Poll<Result<(), WsError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ws = Pin::new(ws);
    while let Some(line) = batch.front() {
        match ws.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let message = framing.message(line);
        batch.pop_front();
        ws.as_mut().start_send(message)?;
    }
    ws.poll_flush(cx)
}

/// Drains `outbox` into the WebSocket until the outbox closes or the
/// connection fails; then says goodbye (a Close message) and shuts
/// `socket` down, which also ends the reader. `_alive` is held so the
/// server can wait for every writer at shutdown.
pub async fn writer<S>(
    conn: ConnId,
    out: SharedSocket<S>,
    framing: Framing,
    socket: Socket,
    outbox: Arc<Outbox>,
    events: Sender<Input>,
    _alive: Sender<()>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = VecDeque::new();
    loop {
        let phase = outbox.next_batch(&mut batch).await;
        if phase != Phase::Open {
            let limit = match phase {
                Phase::Aborted => ABORT_WRITE_TIMEOUT,
                _ => conn::CLOSE_FLUSH_TIMEOUT,
            };
            let _ = Box::pin(send_batch(&out, &mut batch, framing))
                .or(conn::timeout(limit))
                .await;
            break;
        }
        let end = until_aborted(&outbox, send_batch(&out, &mut batch, framing)).await;
        if !carry_on(conn, end, &mut batch, &events).await {
            break;
        }
    }
    let _ = Box::pin(async {
        let _ = poll_fn(|cx| Pin::new(&mut *out.lock()).poll_close(cx)).await;
        WriteEnd::Done
    })
    .or(conn::timeout(ABORT_WRITE_TIMEOUT))
    .await;
    let _ = socket.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_first_supported_subprotocol_wins() {
        assert_eq!(
            Framing::choose(["binary.ircv3.net, text.ircv3.net"]),
            Some(Framing::Binary)
        );
        assert_eq!(
            Framing::choose(["chat", "text.ircv3.net", "binary.ircv3.net"]),
            Some(Framing::Text)
        );
        assert_eq!(Framing::choose(["chat, superchat"]), None);
        assert_eq!(Framing::choose([]), None);
    }
}
