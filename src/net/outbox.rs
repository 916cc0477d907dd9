//! [`Outbox`]: one connection's queue of lines waiting to be written.
//!
//! Owns the send queue between the core task (which pushes, never waits)
//! and the connection's writer task (which takes everything waiting and
//! writes it in one go). Bounded in bytes: a push that would pass the limit
//! fails, and the shell disconnects that client for "SendQ exceeded". Holds
//! the shared `Arc<str>` lines themselves, never a copy per recipient. Must
//! never block the pusher, touch a socket, or grow past its limit.

use crate::core::OutLine;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// What the writer should do after writing the batch it was given.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Keep going: more lines may come.
    Open,
    /// Write this batch (the last), then close the connection.
    Closing,
    /// Stop what is being written; the batch holds only the error line to
    /// try once before closing.
    Aborted,
}

/// Pushing would pass the outbox's byte limit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Overflow;

#[derive(Debug)]
struct State {
    lines: VecDeque<OutLine>,
    /// Bytes queued, counting CR LF for each line.
    bytes: usize,
    phase: Phase,
    /// The writer, while it waits in [`Outbox::next_batch`].
    ready: Option<Waker>,
    /// The writer, while it waits in [`Outbox::wait_aborted`].
    aborted: Option<Waker>,
}

/// Remembers the waiting task in `slot` (without a new clone if it is the
/// same task as last time).
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A byte-bounded queue of shared lines with a wake-up for its writer.
///
/// The limit counts the lines waiting (with their CR LF); the batch the
/// writer has already taken is not counted, so a connection holds at most
/// about twice the limit in memory.
///
/// ```
/// use natter::net::outbox::{Outbox, Overflow};
/// use std::sync::Arc;
/// let outbox = Outbox::new(10);
/// assert_eq!(outbox.push(Arc::from("PING a")), Ok(())); // 6 + CR LF = 8 bytes
/// assert_eq!(outbox.push(Arc::from("PING b")), Err(Overflow));
/// ```
///
/// It has one reader, the connection's writer task, whose wakers live
/// inside the lock: an idle connection's outbox is one small allocation.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    limit: usize,
}

impl Outbox {
    /// An empty outbox that holds at most `limit` bytes.
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                lines: VecDeque::new(),
                bytes: 0,
                phase: Phase::Open,
                ready: None,
                aborted: None,
            }),
            limit,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic; if it ever were,
        // the queue itself is still consistent, so keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line`, or fails if it would pass the byte limit. Lines pushed
    /// after [`Outbox::close`] or [`Outbox::abort`] are dropped.
    pub fn push(&self, line: OutLine) -> Result<(), Overflow> {
        let waiting = self.push_deferred(line)?;
        wake(waiting);
        Ok(())
    }

    /// As [`Outbox::push`], but instead of waking the writer, hands back its
    /// waker (when this line is the first one waiting for it) for the caller
    /// to wake once it has queued everything it has. The writer then takes
    /// all of it in one write instead of starting on the first line while
    /// the rest are still being queued.
    pub fn push_deferred(&self, line: OutLine) -> Result<Option<Waker>, Overflow> {
        let mut s = self.state();
        if s.phase != Phase::Open {
            return Ok(None);
        }
        let cost = line.len() + 2;
        if s.bytes + cost > self.limit {
            return Err(Overflow);
        }
        let was_empty = s.lines.is_empty();
        s.bytes += cost;
        s.lines.push_back(line);
        // Only the first line wakes the writer; it takes the rest with it.
        Ok(if was_empty { s.ready.take() } else { None })
    }

    /// Lets the writer send what is queued, then close the connection.
    pub fn close(&self) {
        let mut s = self.state();
        if s.phase == Phase::Open {
            s.phase = Phase::Closing;
        }
        let waiting = s.ready.take();
        drop(s);
        wake(waiting);
    }

    /// Drops what is queued, interrupts the write in progress, and leaves
    /// only `last` (if any) to try before closing.
    pub fn abort(&self, last: Option<OutLine>) {
        let mut s = self.state();
        if s.phase == Phase::Aborted {
            return;
        }
        s.phase = Phase::Aborted;
        s.lines.clear();
        s.bytes = 0;
        s.lines.extend(last);
        let waiting = (s.ready.take(), s.aborted.take());
        drop(s);
        wake(waiting.0);
        wake(waiting.1);
    }

    /// Whether [`Outbox::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.state().phase == Phase::Aborted
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued_bytes(&self) -> usize {
        self.state().bytes
    }

    /// Waits until there are lines or the phase is no longer open, then moves
    /// every waiting line into `batch` (which should be empty) and returns
    /// the phase.
    pub async fn next_batch(&self, batch: &mut VecDeque<OutLine>) -> Phase {
        poll_fn(|cx| self.poll_next_batch(cx, batch)).await
    }

    fn poll_next_batch(&self, cx: &Context<'_>, batch: &mut VecDeque<OutLine>) -> Poll<Phase> {
        let mut s = self.state();
        if s.lines.is_empty() && s.phase == Phase::Open {
            register(&mut s.ready, cx);
            return Poll::Pending;
        }
        // Not waiting any more: pushes while the batch is written wake no one.
        s.ready = None;
        std::mem::swap(&mut s.lines, batch);
        s.bytes = 0;
        Poll::Ready(s.phase)
    }

    /// Resolves once [`Outbox::abort`] has been called.
    pub async fn wait_aborted(&self) {
        poll_fn(|cx| {
            let mut s = self.state();
            if s.phase == Phase::Aborted {
                return Poll::Ready(());
            }
            register(&mut s.aborted, cx);
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn line(s: &str) -> OutLine {
        Arc::from(s)
    }

    #[test]
    fn writer_takes_every_waiting_line_in_one_batch_in_order() {
        let outbox = Outbox::new(1024);
        for text in ["a", "b", "c"] {
            assert_eq!(outbox.push(line(text)), Ok(()));
        }
        let mut batch = VecDeque::new();
        let phase = futures_lite::future::block_on(outbox.next_batch(&mut batch));
        assert_eq!(phase, Phase::Open);
        assert_eq!(batch, [line("a"), line("b"), line("c")]);
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[test]
    fn push_past_the_byte_limit_overflows_and_taking_frees_room() {
        let outbox = Outbox::new(8);
        assert_eq!(outbox.push(line("123456")), Ok(()));
        assert_eq!(outbox.push(line("x")), Err(Overflow));
        let mut batch = VecDeque::new();
        futures_lite::future::block_on(outbox.next_batch(&mut batch));
        assert_eq!(outbox.push(line("x")), Ok(()));
    }

    #[test]
    fn the_same_shared_line_is_queued_without_copying() {
        let outbox = Outbox::new(1024);
        let shared = line("PRIVMSG #lobby :hi");
        assert_eq!(outbox.push(shared.clone()), Ok(()));
        let mut batch = VecDeque::new();
        futures_lite::future::block_on(outbox.next_batch(&mut batch));
        assert!(Arc::ptr_eq(&batch[0], &shared));
    }

    #[test]
    fn closing_hands_over_the_rest_then_says_close() {
        let outbox = Outbox::new(1024);
        assert_eq!(outbox.push(line("last words")), Ok(()));
        outbox.close();
        assert_eq!(outbox.push(line("too late")), Ok(()));
        let mut batch = VecDeque::new();
        let phase = futures_lite::future::block_on(outbox.next_batch(&mut batch));
        assert_eq!(phase, Phase::Closing);
        assert_eq!(batch, [line("last words")]);
    }

    #[test]
    fn a_waiting_writer_is_woken_by_the_first_line_and_by_abort() {
        let outbox = Arc::new(Outbox::new(1024));
        let waiting = outbox.clone();
        let writer = std::thread::spawn(move || {
            let mut batch = VecDeque::new();
            let phase = futures_lite::future::block_on(waiting.next_batch(&mut batch));
            futures_lite::future::block_on(waiting.wait_aborted());
            (phase, batch)
        });
        assert_eq!(outbox.push(line("hello")), Ok(()));
        outbox.abort(None);
        let (phase, batch) = writer.join().expect("writer thread");
        // Either it took "hello" before the abort, or it saw the abort first.
        match phase {
            Phase::Open => assert_eq!(batch, [line("hello")]),
            Phase::Aborted => assert!(batch.is_empty()),
            Phase::Closing => panic!("nobody closed the outbox"),
        }
    }

    #[test]
    fn a_deferred_push_hands_back_the_waiting_writer_once() {
        let outbox = Arc::new(Outbox::new(1024));
        let waiting = outbox.clone();
        let (parked, is_parked) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            let mut batch = VecDeque::new();
            let mut told = false;
            futures_lite::future::block_on(poll_fn(|cx| {
                let polled = waiting.poll_next_batch(cx, &mut batch);
                if polled.is_pending() && !told {
                    told = true;
                    let _ = parked.send(());
                }
                polled
            }));
            batch
        });
        is_parked.recv().expect("the writer waits");
        let waker = outbox.push_deferred(line("one")).expect("room");
        assert!(waker.is_some(), "the first line hands back the writer");
        assert!(
            matches!(outbox.push_deferred(line("two")), Ok(None)),
            "later lines hand back no one"
        );
        wake(waker);
        assert_eq!(writer.join().expect("writer"), [line("one"), line("two")]);
    }

    #[test]
    fn abort_discards_the_queue_and_keeps_only_the_error_line() {
        let outbox = Outbox::new(1024);
        assert_eq!(outbox.push(line("stale")), Ok(()));
        outbox.abort(Some(line("ERROR :SendQ exceeded")));
        let mut batch = VecDeque::new();
        let phase = futures_lite::future::block_on(outbox.next_batch(&mut batch));
        assert_eq!(phase, Phase::Aborted);
        assert_eq!(batch, [line("ERROR :SendQ exceeded")]);
        futures_lite::future::block_on(outbox.wait_aborted());
    }
}
