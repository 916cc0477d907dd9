//! [`Outbox`]: one connection's queue of lines waiting to be written.
//!
//! Owns the send queue between the core task (which pushes, never waits)
//! and the connection's writer task (which takes everything waiting and
//! writes it in one go). Bounded in bytes: a push that would pass the limit
//! fails, and the shell disconnects that client for "SendQ exceeded". Holds
//! the shared `Arc<str>` lines themselves, never a copy per recipient. Must
//! never block the pusher or grow past its limit, and touches a socket only
//! in [`Outbox::write_or_wake`] and [`Outbox::begin_direct_write`]: a plain
//! TCP client's lines written straight from the core task, under the lock,
//! while its writer is parked.
//!
//! Also says when a line may wait a moment to go out with the next ones
//! (write coalescing, see [`Outbox::push_deferred`]): a client that is only
//! listening in a busy room gets one write per interval instead of one
//! `send()` per line, which on a small write costs the server about
//! 3 µs of kernel TCP work each. A client that has just sent something is
//! answered at once, like TCP's Nagle algorithm, which holds back small
//! writes only while the other side has not answered.
//!
//! Announcements (someone joining, leaving, quitting, changing their nick
//! or status: [`Urgency::Announcement`]) to a listening client wait longer,
//! up to [`LINGER`], for a line to go out with: nobody waits for them, and
//! where people come and go they are a good share of all lines written.
//! A line that is not an announcement never waits behind them.

use super::socket::Socket;
use crate::core::OutLine;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A write of at most this many lines lets the lines that come within the
/// coalescing interval after it wait for the end of it.
const LONE_WRITE_LINES: usize = 2;
/// A write of lines that waited keeps the next ones waiting too, unless it
/// carried more than this many: then lines are piling up faster than a
/// trickle, and waiting would only slow the burst down.
const GATHERED_WRITE_LINES: usize = 64;
/// How long after a client sent something nothing it is sent waits: the
/// core task answers well within it unless input piles up, and then no
/// line waits anyway (see [`Outbox::push_deferred`]'s `now`).
const ANSWER_WINDOW: Duration = Duration::from_millis(2);
/// How long an announcement to a listening client may wait for another
/// line to go out with (when write coalescing is on): well below what a
/// person notices on a join or a quit, and long enough that a reconnect's
/// quit and join, or a busy room's next message, usually come first. A
/// client that has sent anything within as long a while never has an
/// announcement linger: it may be waiting for its own JOIN, PART or NICK
/// to come back, which a busy core or a cluster's log can take longer
/// than [`ANSWER_WINDOW`] to send.
pub const LINGER: Duration = Duration::from_millis(100);

/// Whether lines pushed together may wait for company.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Lines a client may be waiting for: they wait at most the coalescing
    /// interval, and only when the client is only listening.
    Prompt,
    /// Only announcements of someone joining, leaving, quitting or changing
    /// their nick or status, which nobody waits for: to a listening client
    /// they may wait up to [`LINGER`] for another line.
    Announcement,
}

impl Urgency {
    /// What a line given to many clients is: an announcement if its
    /// command is one ([`Urgency::Announcement`]).
    pub fn of_broadcast(line: &str) -> Urgency {
        match crate::proto::command_of(line) {
            "JOIN" | "PART" | "QUIT" | "NICK" | "AWAY" | "ACCOUNT" | "CHGHOST" | "SETNAME" => {
                Urgency::Announcement
            }
            _ => Urgency::Prompt,
        }
    }
}

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
    /// Until when a line pushed into an empty outbox waits for the lines
    /// after it (set after a small write).
    gather_until: Option<Instant>,
    /// When the client last sent something: for [`ANSWER_WINDOW`] after
    /// it, nothing it is sent waits (it may be waiting for the answer).
    heard_at: Option<Instant>,
    /// The waiting lines were told to wait ([`Wakeup::Later`] or
    /// [`Wakeup::Linger`]).
    gathering: bool,
    /// The waiting lines are all announcements, told to wait for
    /// [`LINGER`] ([`Wakeup::Linger`]): a prompt line pushed behind them
    /// still decides when the writer is woken.
    lingering: bool,
    /// The batch the writer took last had waited.
    batch_gathered: bool,
    /// How many lines the batch the writer took last holds.
    batch_lines: usize,
    /// The writer waits in [`Outbox::next_batch`] with nothing left to
    /// write: a direct write cannot overtake it.
    parked: bool,
    /// What a direct write left unsent, for the writer to send first.
    leftover: Vec<u8>,
    /// Whether the bytes the socket took before `leftover` ended a line.
    leftover_at_line_start: bool,
}

impl State {
    /// Notes what the lines waiting now, about to be taken for one write,
    /// are (for [`Outbox::wrote`]'s decision), and frees their room.
    fn start_batch(&mut self) {
        self.batch_lines = self.lines.len();
        self.batch_gathered = std::mem::take(&mut self.gathering);
        self.lingering = false;
        self.bytes = 0;
    }
}

/// Whom a pushed line wakes, as [`Outbox::push_deferred`] says.
#[derive(Debug)]
pub enum Wakeup {
    /// Nobody: the writer is busy or already has lines to take.
    Nobody,
    /// The writer, once the caller has queued everything it has.
    Now(Waker),
    /// The writer, at the given moment: the client is only listening and
    /// was written to a moment ago, so the lines gather until then and go
    /// out in one write. (The writer is still woken at once by a close or
    /// an abort.)
    Later(Waker, Instant),
    /// As `Later`, for announcements only ([`Urgency::Announcement`]): a
    /// prompt line pushed before then wakes the writer sooner.
    Linger(Waker, Instant),
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
    /// The coalescing interval: how long a line to a listening client may
    /// wait for the next ones (zero: never).
    coalesce: Duration,
    /// A plain TCP client's socket, for [`Outbox::write_or_wake`].
    direct: OnceLock<Socket>,
}

impl Outbox {
    /// An empty outbox that holds at most `limit` bytes and never makes a
    /// line wait.
    pub fn new(limit: usize) -> Outbox {
        Outbox::coalescing(limit, Duration::ZERO)
    }

    /// An empty outbox that holds at most `limit` bytes, whose lines to a
    /// listening client may wait up to `interval` to go out together.
    pub fn coalescing(limit: usize, interval: Duration) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                lines: VecDeque::new(),
                bytes: 0,
                phase: Phase::Open,
                ready: None,
                aborted: None,
                gather_until: None,
                heard_at: None,
                gathering: false,
                lingering: false,
                batch_gathered: false,
                batch_lines: 0,
                parked: false,
                leftover: Vec::new(),
                leftover_at_line_start: true,
            }),
            limit,
            coalesce: interval,
            direct: OnceLock::new(),
        }
    }

    /// Lets [`Outbox::write_or_wake`] write to `socket` itself (a plain
    /// TCP client's, which its writer writes to unwrapped).
    pub fn write_directly_to(&self, socket: Socket) {
        let _ = self.direct.set(socket);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across code that can panic; if it ever were,
        // the queue itself is still consistent, so keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line`, or fails if it would pass the byte limit. Lines pushed
    /// after [`Outbox::close`] or [`Outbox::abort`] are dropped.
    pub fn push(&self, line: OutLine) -> Result<(), Overflow> {
        match self.push_deferred(line, None)? {
            Wakeup::Nobody => {}
            Wakeup::Now(writer) | Wakeup::Later(writer, _) | Wakeup::Linger(writer, _) => {
                writer.wake()
            }
        }
        Ok(())
    }

    /// As [`Outbox::push`], but instead of waking the writer, says whom to
    /// wake and when (the writer, when this line is the first one waiting
    /// for it), for the caller to do once it has queued everything it has.
    /// The writer then takes all of it in one write instead of starting on
    /// the first line while the rest are still being queued.
    ///
    /// The writer is to be woken later ([`Wakeup::Later`]) when, at `now`,
    /// the client was written a small batch less than the coalescing
    /// interval ago and has not sent anything since, nor in the last
    /// [`ANSWER_WINDOW`]. `now` is `None` for a line that must not wait
    /// (the caller is in a burst).
    pub fn push_deferred(&self, line: OutLine, now: Option<Instant>) -> Result<Wakeup, Overflow> {
        let cost = line.len() + 2;
        self.queue(cost, now, Urgency::Prompt, |queue| queue.push_back(line))
    }

    /// As [`Outbox::push_deferred`] for every line in `lines`, in order,
    /// under one lock (the core task queues a batch's lines for a client
    /// together): `lines` is emptied, and its lines are all queued or, if
    /// together they would pass the byte limit, none is. `urgency` says
    /// what they are: announcements may wait longer
    /// ([`Urgency::Announcement`]).
    pub fn push_all_deferred(
        &self,
        lines: &mut Vec<OutLine>,
        now: Option<Instant>,
        urgency: Urgency,
    ) -> Result<Wakeup, Overflow> {
        if lines.is_empty() {
            return Ok(Wakeup::Nobody);
        }
        let cost = lines.iter().map(|line| line.len() + 2).sum();
        let queued = self.queue(cost, now, urgency, |queue| queue.extend(lines.drain(..)));
        lines.clear();
        queued
    }

    /// Queues what `add` adds (`cost` bytes) if the outbox is open and has
    /// room, and says whom to wake ([`Outbox::push_deferred`]).
    fn queue(
        &self,
        cost: usize,
        now: Option<Instant>,
        urgency: Urgency,
        add: impl FnOnce(&mut VecDeque<OutLine>),
    ) -> Result<Wakeup, Overflow> {
        let mut s = self.state();
        if s.phase != Phase::Open {
            return Ok(Wakeup::Nobody);
        }
        if s.bytes + cost > self.limit {
            return Err(Overflow);
        }
        let was_empty = s.lines.is_empty();
        let was_lingering = s.lingering;
        s.bytes += cost;
        add(&mut s.lines);
        // Only the first line wakes the writer (it takes the rest with it),
        // or the first prompt one behind lingering announcements.
        if !was_empty && !was_lingering {
            return Ok(Wakeup::Nobody);
        }
        if let (Some(now), Some(writer)) = (now, &s.ready) {
            let heard_within = |window| s.heard_at.is_some_and(|heard| now < heard + window);
            let answering = heard_within(ANSWER_WINDOW);
            // In both waits the waker stays, so a close or an abort still
            // wakes the writer at once.
            if urgency == Urgency::Announcement && !heard_within(LINGER) && !self.coalesce.is_zero()
            {
                if was_lingering {
                    // Its wake-up is already set.
                    return Ok(Wakeup::Nobody);
                }
                let writer = writer.clone();
                s.lingering = true;
                s.gathering = true;
                return Ok(Wakeup::Linger(writer, now + LINGER));
            }
            if let Some(until) = s.gather_until.filter(|&until| until > now && !answering) {
                let writer = writer.clone();
                s.lingering = false;
                s.gathering = true;
                return Ok(Wakeup::Later(writer, until));
            }
        }
        s.lingering = false;
        Ok(s.ready.take().map_or(Wakeup::Nobody, Wakeup::Now))
    }

    /// The writer wrote the batch it took last: if it was small (or had
    /// waited and was still not large), the lines of the coalescing
    /// interval after it wait to go out together.
    pub fn wrote(&self) {
        if self.coalesce.is_zero() {
            return;
        }
        self.note_written(&mut self.state(), Instant::now());
    }

    /// Notes a write made at `at` ([`Outbox::wrote`]).
    fn note_written(&self, s: &mut State, at: Instant) {
        if self.coalesce.is_zero() {
            return;
        }
        let lines = s.batch_lines;
        let trickle =
            lines <= LONE_WRITE_LINES || (s.batch_gathered && lines <= GATHERED_WRITE_LINES);
        s.gather_until = trickle.then(|| at + self.coalesce);
    }

    /// Wakes `writer` (the waker a push handed back) to write what waits,
    /// or, for a plain TCP client whose writer is parked, writes it to the
    /// socket right here: the writer task is then neither woken nor run,
    /// which at a trickle of lines cost about as much as the `send()`
    /// itself. Only what the socket takes at once is written; the rest
    /// (all of it when the socket is full or failed) goes to the writer,
    /// which sends it before anything queued later. `scratch` is reused
    /// for the bytes.
    pub fn write_or_wake(&self, writer: Waker, scratch: &mut Vec<u8>) {
        scratch.clear();
        if let Some(write) = self.begin_direct_write(writer, scratch) {
            let taken = write.socket().try_write(scratch).unwrap_or(0);
            write.finish(scratch, taken, Instant::now());
        }
    }

    /// The first half of [`Outbox::write_or_wake`], for a caller that
    /// sends many clients' bytes at once: appends what waits to `into` and
    /// returns the write, which holds the outbox's lock until
    /// [`DirectWrite::finish`] (so the writer cannot overtake it). `None`
    /// when the lines are not for a direct write: then the writer was
    /// woken, or stays parked if nothing waits.
    pub fn begin_direct_write<'a>(
        &'a self,
        writer: Waker,
        into: &mut Vec<u8>,
    ) -> Option<DirectWrite<'a>> {
        let Some(socket) = self.direct.get() else {
            writer.wake();
            return None;
        };
        // Never waits: a lock held elsewhere (the writer, busy on another
        // thread, or this caller's own earlier write to the same client)
        // means the writer is the one to send.
        let mut s = match self.state.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(held)) => held.into_inner(),
            Err(TryLockError::WouldBlock) => {
                writer.wake();
                return None;
            }
        };
        if !s.parked || s.phase != Phase::Open || !s.leftover.is_empty() {
            drop(s);
            writer.wake();
            return None;
        }
        if s.lines.is_empty() {
            // Nothing to write: the writer stays parked, as it was.
            s.ready.get_or_insert(writer);
            return None;
        }
        let start = into.len();
        s.start_batch();
        serialize(&mut s.lines, into);
        Some(DirectWrite {
            state: s,
            outbox: self,
            socket,
            writer,
            bytes: start..into.len(),
        })
    }

    /// Moves what a direct write left unsent into `into` (empty) and says
    /// whether the bytes already sent ended a line; `None` when nothing was
    /// left. The writer calls it after each [`Outbox::next_batch`] and
    /// writes these bytes before the batch.
    pub fn take_leftover(&self, into: &mut Vec<u8>) -> Option<bool> {
        let mut s = self.state();
        if s.leftover.is_empty() {
            return None;
        }
        std::mem::swap(&mut s.leftover, into);
        let at_line_start = s.leftover_at_line_start;
        s.leftover_at_line_start = true;
        Some(at_line_start)
    }

    /// The client sent something: what it is sent next, and within
    /// [`ANSWER_WINDOW`], goes out at once (it may be waiting for the
    /// answer, which the core has not made yet, while a line for it from
    /// someone else is written first and would start a moment of
    /// gathering).
    pub fn heard(&self) {
        if self.coalesce.is_zero() {
            return;
        }
        let mut s = self.state();
        s.heard_at = Some(Instant::now());
        s.gather_until = None;
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
        if s.lines.is_empty() && s.leftover.is_empty() && s.phase == Phase::Open {
            register(&mut s.ready, cx);
            s.parked = true;
            return Poll::Pending;
        }
        // Not waiting any more: pushes while the batch is written wake no
        // one, and nothing is written past the writer.
        s.ready = None;
        s.parked = false;
        s.start_batch();
        std::mem::swap(&mut s.lines, batch);
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

/// A direct write under way ([`Outbox::begin_direct_write`]): the
/// outbox stays locked, and its parked writer's waker is kept, until the
/// caller says how much of the bytes the socket took.
pub struct DirectWrite<'a> {
    state: MutexGuard<'a, State>,
    outbox: &'a Outbox,
    socket: &'a Socket,
    writer: Waker,
    /// Where this write's bytes are in the caller's buffer.
    bytes: std::ops::Range<usize>,
}

impl DirectWrite<'_> {
    /// The client's socket.
    pub fn socket(&self) -> &Socket {
        self.socket
    }

    /// This write's bytes in `buffer` (the one given to
    /// [`Outbox::begin_direct_write`]).
    pub fn bytes<'b>(&self, buffer: &'b [u8]) -> &'b [u8] {
        &buffer[self.bytes.clone()]
    }

    /// Finishes the write: the socket took `taken` of its bytes in
    /// `buffer` (the one given to [`Outbox::begin_direct_write`]), `at`
    /// (the moment a batch of writes began: the next lines' coalescing
    /// interval counts from there, so a long batch does not stretch it).
    /// What the socket did not take goes to the writer, which is woken to
    /// send it (and report a failure from its own write); a whole write
    /// leaves the writer parked.
    pub fn finish(self, buffer: &[u8], taken: usize, at: Instant) {
        let bytes = self.bytes(buffer);
        let DirectWrite {
            mut state,
            outbox,
            writer,
            ..
        } = self;
        let taken = taken.min(bytes.len());
        if taken == bytes.len() {
            outbox.note_written(&mut state, at);
            // Still parked: it must be woken by the next line.
            state.ready.get_or_insert(writer);
            return;
        }
        if let Some(&last) = bytes[..taken].last() {
            state.leftover_at_line_start = last == b'\n';
        }
        state.leftover.extend_from_slice(&bytes[taken..]);
        state.ready = None;
        drop(state);
        writer.wake();
    }
}

/// Appends each line of `batch` and its CR LF to `into`, emptying `batch`.
pub(super) fn serialize(batch: &mut VecDeque<OutLine>, into: &mut Vec<u8>) {
    for line in batch.drain(..) {
        into.extend_from_slice(line.as_bytes());
        into.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests;
