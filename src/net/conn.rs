//! The two tasks of one client connection: its reader and its writer.
//!
//! Owns the socket of one connection. The reader turns bytes into
//! [`Event`]s through a [`LineReader`] and reports how the connection ended;
//! the writer drains the connection's [`Outbox`], coalescing every waiting
//! line into one write. Must never make a chat decision (the core does),
//! never hold a buffer of its own while idle (reads and writes go through a
//! per-thread scratch buffer), never more than one line of input, and never let
//! a stalled peer hold up anything but its own writer.

use super::outbox::{serialize, Outbox, Phase};
use super::socket::Socket;
use super::{now, Input};
use crate::core::{ConnId, Event, OutLine};
use crate::proto::{LineError, LineReader};
use async_channel::{Sender, TrySendError};
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// Line slots a writer's queue keeps between batches.
const IDLE_QUEUE_SLOTS: usize = 8;
/// How long a closing connection gets to take its last lines.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a client cut off for SendQ gets to take the ERROR line.
pub(super) const ABORT_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// The text other clients see when a connection ends on its own.
pub fn disconnect_reason(result: &io::Result<usize>) -> String {
    match result {
        Ok(_) => "Remote host closed the connection".to_string(),
        Err(e) => io_reason(e),
    }
}

pub(super) fn io_reason(e: &io::Error) -> String {
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

/// Bytes read from the socket at a time, into the thread's scratch buffer.
const SCRATCH: usize = 16 * 1024;
/// Most lines in one input to the core.
pub(crate) const LINES_PER_INPUT: usize = 32;
/// An input to the core is cut once its lines pass this many bytes, so it
/// holds at most this plus one line (and [`LINES_PER_INPUT`] line headers):
/// with [`super::EVENT_QUEUE`] inputs, the queue's memory stays bounded
/// however the clients split their lines.
pub(crate) const INPUT_BYTES: usize = 2048;

type Finished = VecDeque<Result<String, LineError>>;

/// Cuts what one read finished into inputs for the core, in order: each at
/// most [`LINES_PER_INPUT`] lines, cut once it passes [`INPUT_BYTES`]. The
/// usual read (a few lines) stays one input, without a copy.
fn split_for_core(mut finished: Finished) -> Vec<Finished> {
    let cost = |item: &Result<String, LineError>| item.as_ref().map_or(0, String::len);
    let bytes: usize = finished.iter().map(cost).sum();
    if finished.len() <= LINES_PER_INPUT && bytes <= INPUT_BYTES {
        return vec![finished];
    }
    let mut inputs = Vec::new();
    let mut current = VecDeque::new();
    let mut current_bytes = 0;
    while let Some(item) = finished.pop_front() {
        current_bytes += cost(&item);
        current.push_back(item);
        if current.len() == LINES_PER_INPUT || current_bytes >= INPUT_BYTES {
            inputs.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
    }
    if !current.is_empty() {
        inputs.push(current);
    }
    inputs
}

thread_local! {
    /// One scratch buffer per executor thread, borrowed only inside a single
    /// `poll`: an idle connection holds no read or write buffer of its own.
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// Reads once from `stream` through the thread's scratch buffer, straight
/// into `lines`. Returns the byte count (0 at end of stream).
async fn read_into<S: AsyncRead + Unpin>(
    stream: &mut S,
    lines: &mut LineReader,
) -> io::Result<usize> {
    poll_fn(|cx| {
        SCRATCH_BUF.with_borrow_mut(|buf| {
            buf.resize(SCRATCH, 0);
            match Pin::new(&mut *stream).poll_read(cx, buf) {
                Poll::Ready(Ok(n)) => {
                    lines.push(&buf[..n.min(buf.len())]);
                    Poll::Ready(Ok(n))
                }
                other => other,
            }
        })
    })
    .await
}

/// Reads lines from `stream` (a socket, or the read half of a TLS stream)
/// and hands them to the core task in order, until the peer closes, the
/// socket fails, or the core task has stopped.
pub async fn reader<R: AsyncRead + Unpin>(
    conn: ConnId,
    mut stream: R,
    outbox: Arc<Outbox>,
    events: Sender<Input>,
) {
    let mut lines = LineReader::new();
    loop {
        let result = read_into(&mut stream, &mut lines).await;
        if !matches!(result, Ok(n) if n > 0) {
            report_gone(conn, disconnect_reason(&result), &events).await;
            return;
        }
        // The client spoke: it may be waiting for the answer.
        outbox.heard();
        if !hand_over(conn, &mut lines, &events).await {
            return; // the core task has stopped
        }
    }
}

/// Hands every line `lines` has finished to the core task, in order: in a
/// few inputs (one, in practice), so one queue operation and at most one
/// wait per read, not per line. False when the core task has stopped.
pub(super) async fn hand_over(
    conn: ConnId,
    lines: &mut LineReader,
    events: &Sender<Input>,
) -> bool {
    let finished = lines.take_lines();
    if finished.is_empty() {
        return true;
    }
    let now = now();
    for lines in split_for_core(finished) {
        let input = Input::Lines { conn, lines, now };
        let taken = match offer(events, input) {
            Offer::Taken => true,
            Offer::Wait(send) => send.await.is_ok(),
            Offer::Closed => false,
        };
        if !taken {
            return false;
        }
    }
    true
}

/// Tells the core task that `conn` ended, and why.
pub(super) async fn report_gone(conn: ConnId, reason: String, events: &Sender<Input>) {
    let now = now();
    let gone = Input::Event(Event::Disconnected { conn, reason, now });
    if let Offer::Wait(send) = offer(events, gone) {
        let _ = send.await;
    }
}

/// How handing an event to the core task went.
enum Offer<'a> {
    Taken,
    /// The queue is full: await this to wait for room. Rare, so the wait
    /// lives in a box of its own while it lasts, not in every connection's
    /// task.
    Wait(Pin<Box<async_channel::Send<'a, Input>>>),
    /// The core task has stopped.
    Closed,
}

fn offer(events: &Sender<Input>, input: Input) -> Offer<'_> {
    match events.try_send(input) {
        Ok(()) => Offer::Taken,
        Err(TrySendError::Full(input)) => Offer::Wait(Box::pin(events.send(input))),
        Err(TrySendError::Closed(_)) => Offer::Closed,
    }
}

/// How one write attempt ended.
pub(super) enum WriteEnd {
    Done,
    Failed(io::Error),
    Interrupted,
}

/// What a connection's writer still owes its socket: the part of a batch the
/// socket did not take at once. Empty (and unallocated) whenever the writer
/// keeps up, so an idle connection holds no write buffer.
struct Unsent {
    bytes: Vec<u8>,
    /// Whether the last byte the socket took ended a line.
    at_line_start: bool,
}

impl Unsent {
    /// Nothing owed, at the start of a line.
    fn new() -> Unsent {
        Unsent {
            bytes: Vec::new(),
            at_line_start: true,
        }
    }

    fn note_written(&mut self, written: &[u8]) {
        if let Some(&last) = written.last() {
            self.at_line_start = last == b'\n';
        }
    }
}

/// Writes `batch` (each line plus CR LF) after whatever was left unsent
/// before it. The batch is serialized into the thread's scratch buffer and
/// written from there; only bytes the socket does not take at once are
/// copied into `unsent`. Cancel-safe: the first poll drains `batch`, and
/// anything not yet written is in `unsent` whenever this future is dropped.
async fn write_batch<S: AsyncWrite + Unpin>(
    stream: &mut S,
    batch: &mut VecDeque<OutLine>,
    unsent: &mut Unsent,
) -> WriteEnd {
    let written = poll_fn(|cx| loop {
        if unsent.bytes.is_empty() {
            if batch.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let result = SCRATCH_BUF.with_borrow_mut(|buf| {
                buf.clear();
                serialize(batch, buf);
                let result = Pin::new(&mut *stream).poll_write(cx, buf);
                let taken = match &result {
                    Poll::Ready(Ok(n)) => (*n).min(buf.len()),
                    _ => 0,
                };
                unsent.note_written(&buf[..taken]);
                unsent.bytes.extend_from_slice(&buf[taken..]);
                result
            });
            match result {
                Poll::Ready(Ok(0)) if !unsent.bytes.is_empty() => {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero)))
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Behind already: keep order by appending the batch to what is owed.
        serialize(batch, &mut unsent.bytes);
        match Pin::new(&mut *stream).poll_write(cx, &unsent.bytes) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero)))
            }
            Poll::Ready(Ok(n)) => {
                let n = n.min(unsent.bytes.len());
                let last = unsent.bytes[n - 1];
                unsent.at_line_start = last == b'\n';
                unsent.bytes.drain(..n);
                if unsent.bytes.is_empty() {
                    // Caught up: give the memory back.
                    unsent.bytes = Vec::new();
                }
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    if let Err(e) = written {
        return WriteEnd::Failed(e);
    }
    match stream.flush().await {
        Ok(()) => WriteEnd::Done,
        Err(e) => WriteEnd::Failed(e),
    }
}

/// Drains `outbox` into `stream` (a socket, or the write half of a TLS
/// stream) until the outbox closes or the socket fails, then shuts `socket`
/// down (which also ends the reader). `_alive` is held so the server can
/// wait for every writer to finish at shutdown.
///
/// Only the loop of an open connection (wait for lines, write them) lives
/// in the task itself; the last steps of a connection (its final batch, the
/// ERROR of a SendQ abort, reporting a failed write, the goodbye) run in
/// boxes of their own, so every idle connection's task stays small.
pub async fn writer<W: AsyncWrite + Unpin>(
    conn: ConnId,
    mut stream: W,
    socket: Socket,
    outbox: Arc<Outbox>,
    events: Sender<Input>,
    _alive: Sender<()>,
) {
    let mut batch = VecDeque::new();
    let mut unsent = Unsent::new();
    loop {
        let phase = outbox.next_batch(&mut batch).await;
        // What a direct write (Outbox::write_or_wake) left goes first.
        if let Some(at_line_start) = outbox.take_leftover(&mut unsent.bytes) {
            unsent.at_line_start = at_line_start;
        }
        if phase != Phase::Open {
            Box::pin(last_batch(phase, &mut stream, &mut batch, &mut unsent)).await;
            break;
        }
        let end = until_aborted(&outbox, write_batch(&mut stream, &mut batch, &mut unsent)).await;
        if !carry_on(conn, end, &mut batch, &events).await {
            break;
        }
    }
    Box::pin(goodbye(stream, socket)).await;
}

/// Runs a batch's write `write` unless the outbox is aborted first (a
/// SendQ overflow must not wait for a stalled socket); a finished write is
/// reported to the outbox ([`Outbox::wrote`]).
pub(super) async fn until_aborted(
    outbox: &Outbox,
    write: impl std::future::Future<Output = WriteEnd>,
) -> WriteEnd {
    let end = write
        .or(async {
            outbox.wait_aborted().await;
            WriteEnd::Interrupted
        })
        .await;
    if matches!(end, WriteEnd::Done) {
        outbox.wrote();
    }
    end
}

/// What a writer does once a batch's write has ended: true to go on with
/// the next batch; false (after telling the core why) when the write failed.
pub(super) async fn carry_on(
    conn: ConnId,
    end: WriteEnd,
    batch: &mut VecDeque<OutLine>,
    events: &Sender<Input>,
) -> bool {
    match end {
        WriteEnd::Done | WriteEnd::Interrupted => {
            // A burst (the welcome, a long NAMES) grew the queue; give
            // back all but a few slots so an idle connection stays small.
            // (The outbox gets this queue back at the next swap.)
            if batch.capacity() > IDLE_QUEUE_SLOTS {
                batch.shrink_to(IDLE_QUEUE_SLOTS);
            }
            true
        }
        WriteEnd::Failed(e) => {
            report_gone(conn, io_reason(&e), events).await;
            false
        }
    }
}

/// Writes a closing connection's last batch: everything queued before the
/// close (given [`CLOSE_FLUSH_TIMEOUT`]), or after an abort only the ERROR
/// line, on a line of its own (given [`ABORT_WRITE_TIMEOUT`]).
async fn last_batch<W: AsyncWrite + Unpin>(
    phase: Phase,
    stream: &mut W,
    batch: &mut VecDeque<OutLine>,
    unsent: &mut Unsent,
) {
    let limit = if phase == Phase::Aborted {
        // Drop what is owed; end a half-written line so the ERROR line
        // (the only thing in the batch) arrives on a line of its own.
        unsent.bytes.clear();
        if !unsent.at_line_start {
            unsent.bytes.extend_from_slice(b"\r\n");
        }
        ABORT_WRITE_TIMEOUT
    } else {
        CLOSE_FLUSH_TIMEOUT
    };
    let _ = write_batch(stream, batch, unsent).or(timeout(limit)).await;
}

/// TLS says goodbye (close_notify) if the peer still listens; then the
/// socket goes, whether it did or not.
async fn goodbye<W: AsyncWrite + Unpin>(mut stream: W, socket: Socket) {
    let _ = async {
        let _ = stream.close().await;
        WriteEnd::Done
    }
    .or(timeout(ABORT_WRITE_TIMEOUT))
    .await;
    let _ = socket.shutdown(Shutdown::Both);
}

pub(super) async fn timeout(after: Duration) -> WriteEnd {
    smol::Timer::after(after).await;
    WriteEnd::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_cut_into_inputs_in_order_within_the_line_and_byte_limits() {
        let few: Finished = (0..3).map(|i| Ok(format!("l{i}"))).collect();
        assert_eq!(split_for_core(few.clone()), vec![few]);

        let many: Finished = (0..100)
            .map(|i| {
                if i == 50 {
                    Err(LineError::InvalidUtf8)
                } else {
                    Ok(format!("PRIVMSG #r :{i}"))
                }
            })
            .chain(std::iter::once(Ok("x".repeat(5000))))
            .collect();
        let inputs = split_for_core(many.clone());
        assert!(inputs.len() > 1);
        for input in &inputs {
            assert!(!input.is_empty() && input.len() <= LINES_PER_INPUT);
            let bytes: usize = input.iter().flatten().map(String::len).sum();
            let largest = input.iter().flatten().map(String::len).max().unwrap_or(0);
            assert!(bytes < INPUT_BYTES + largest, "{bytes} bytes in one input");
        }
        let rejoined: Finished = inputs.into_iter().flatten().collect();
        assert_eq!(rejoined, many);
    }

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
