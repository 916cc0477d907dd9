//! Writers told to wait a moment ([`Wakeup::Later`]): the lines of a
//! client that is only listening gather for up to the coalescing interval
//! and go out in one write.
//!
//! Also decides how the lines get out ([`Delivery`]): at a trickle, a
//! parked plain TCP writer's lines are written from the core task itself
//! ([`Outbox::write_or_wake`]) instead of waking its task, every such
//! client's in one system call where io_uring is there ([`SendRing`]).
//!
//! Owns the waiting writers, in two lists (lines gathering for the
//! coalescing interval, and announcements lingering for
//! [`crate::net::outbox::LINGER`]), and the one timer that wakes them, so
//! a waiting writer costs a place in a list, not a timer of its own (a
//! timer per writer cost about what the `send()` it saved). Must never let
//! a line wait longer than its list's wait after it was queued: each list
//! is due at its first writer's moment, which is at most that wait after
//! that writer's line, and every other writer in the list was queued after
//! it; the timer fires at the earlier list's moment.

use crate::net::outbox::{Outbox, Wakeup};
use crate::net::send_ring::SendRing;
use smol::Timer;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

/// How a writer with new lines gets them out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(in crate::net) enum Delivery {
    /// Wake the writer task.
    Wake,
    /// Write a parked plain TCP writer's lines from here
    /// ([`Outbox::write_or_wake`]); for a trickle of lines, where waking
    /// and running a task per line costs about what its `send()` does.
    /// Not in a burst: there the writers share the work among the
    /// executor's threads.
    Direct,
}

/// Writers waiting for the same timer, due at the first one's moment.
#[derive(Default)]
struct Waiting {
    writers: Vec<(Arc<Outbox>, Waker)>,
    /// `None` while no writer waits.
    at: Option<Instant>,
}

impl Waiting {
    fn add(&mut self, outbox: &Arc<Outbox>, writer: Waker, at: Instant) {
        self.writers.push((outbox.clone(), writer));
        self.at.get_or_insert(at);
    }

    fn is_due(&self, now: Instant) -> bool {
        self.at.is_some_and(|at| at <= now)
    }
}

/// Writers woken at once at the end of the batch, and writers woken by
/// one timer a moment later.
pub(in crate::net) struct Wakeups {
    /// Writers with new lines, woken once the batch has queued everything
    /// ([`Wakeups::wake_now`]), so each writes its share in one go.
    now: Vec<(Arc<Outbox>, Waker)>,
    /// Writers whose lines gather for the coalescing interval.
    later: Waiting,
    /// Writers with only announcements waiting ([`Wakeup::Linger`]).
    lingering: Waiting,
    /// When `timer` fires: the earlier of the two lists' moments.
    at: Option<Instant>,
    timer: Timer,
    /// Reused for the bytes of direct writes.
    scratch: Vec<u8>,
    /// Sends a pass's direct writes in one system call (`None` where
    /// io_uring is not available: one `send()` each).
    ring: Option<SendRing>,
    /// Reused for how many bytes each of the ring's sends took.
    taken: Vec<usize>,
}

impl Wakeups {
    pub(in crate::net) fn new() -> Wakeups {
        Wakeups {
            now: Vec::new(),
            later: Waiting::default(),
            lingering: Waiting::default(),
            at: None,
            timer: Timer::never(),
            scratch: Vec::new(),
            ring: SendRing::new(),
            taken: Vec::new(),
        }
    }

    /// Takes note of whom a line pushed on `outbox` wakes, and when.
    pub(in crate::net) fn add(&mut self, outbox: &Arc<Outbox>, wakeup: Wakeup) {
        match wakeup {
            Wakeup::Nobody => {}
            Wakeup::Now(writer) => self.now.push((outbox.clone(), writer)),
            Wakeup::Later(writer, at) => {
                self.later.add(outbox, writer, at);
                self.set_timer();
            }
            Wakeup::Linger(writer, at) => {
                self.lingering.add(outbox, writer, at);
                self.set_timer();
            }
        }
    }

    /// Sets the timer for the earlier list's moment, if it changed.
    fn set_timer(&mut self) {
        let at = match (self.later.at, self.lingering.at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if at != self.at {
            self.at = at;
            if let Some(at) = at {
                self.timer.set_at(at);
            }
        }
    }

    /// Gets out the lines of every writer to be woken at the end of the
    /// batch.
    pub(in crate::net) fn wake_now(&mut self, how: Delivery) {
        let mut now = std::mem::take(&mut self.now);
        self.deliver_all(&mut now, how);
        self.now = now;
        // A burst's bytes are not kept for the trickle after it.
        if self.scratch.capacity() > 64 << 10 {
            self.scratch = Vec::new();
        }
    }

    /// Gets out the lines of every writer, the waiting ones too (at
    /// shutdown).
    pub(in crate::net) fn wake_all(&mut self, how: Delivery) {
        self.wake_due(how, None);
    }

    /// Gets out the lines of every writer to be woken now, and of the
    /// waiting writers whose moment has come by `now` (all of them when
    /// `now` is `None`).
    pub(in crate::net) fn wake_due(&mut self, how: Delivery, now: Option<Instant>) {
        self.wake_now(how);
        let mut lists = [
            std::mem::take(&mut self.later),
            std::mem::take(&mut self.lingering),
        ];
        for list in &mut lists {
            if now.is_none_or(|now| list.is_due(now)) {
                list.at = None;
                self.deliver_all(&mut list.writers, how);
            }
        }
        [self.later, self.lingering] = lists;
        // The timer may have fired: set it again for any list still waiting.
        self.at = None;
        self.set_timer();
    }

    /// Resolves when the waiting writers' moment has come (never while none
    /// waits).
    pub(in crate::net) async fn due(&mut self) {
        if self.at.is_none() {
            return std::future::pending().await;
        }
        (&mut self.timer).await;
    }

    /// Gets out the lines of every writer in `writers` (emptied), `how`
    /// says; direct writes to two or more clients go in one system call
    /// when there is a ring.
    fn deliver_all(&mut self, writers: &mut Vec<(Arc<Outbox>, Waker)>, how: Delivery) {
        let Some(ring) = self
            .ring
            .as_mut()
            .filter(|_| how == Delivery::Direct && writers.len() > 1)
        else {
            for (outbox, writer) in writers.drain(..) {
                deliver(&outbox, writer, how, &mut self.scratch);
            }
            return;
        };
        let scratch = &mut self.scratch;
        scratch.clear();
        // Each write holds its client's outbox until it is finished.
        let mut writes = Vec::with_capacity(writers.len());
        for (outbox, writer) in writers.iter_mut() {
            let writer = std::mem::replace(writer, Waker::noop().clone());
            if let Some(write) = outbox.begin_direct_write(writer, scratch) {
                writes.push(write);
            }
        }
        let sends: Vec<_> = writes
            .iter()
            .map(|write| (write.socket(), write.bytes(scratch)))
            .collect();
        let sent_at = Instant::now();
        let sent = ring.send_all(&sends, &mut self.taken);
        drop(sends);
        for (write, &taken) in writes.into_iter().zip(&self.taken) {
            write.finish(scratch, taken, sent_at);
        }
        if let Err(why) = sent {
            eprintln!("natter-server: batched sends stopped ({why}); sending one by one");
            self.ring = None;
            // A send the failed ring still holds must never find its bytes
            // reused: this buffer is left to it.
            std::mem::forget(std::mem::take(scratch));
        }
        writers.clear();
    }
}

fn deliver(outbox: &Outbox, writer: Waker, how: Delivery, scratch: &mut Vec<u8>) {
    match how {
        Delivery::Wake => writer.wake(),
        Delivery::Direct => outbox.write_or_wake(writer, scratch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::outbox::{Urgency, LINGER};
    use std::collections::VecDeque;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};
    use std::time::Duration;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// An outbox (coalescing for `interval`) whose writer is parked, and
    /// how often that writer has been woken.
    fn parked(interval: Duration) -> (Arc<Outbox>, Arc<CountingWaker>) {
        let outbox = Arc::new(Outbox::coalescing(1024, interval));
        let woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut batch = VecDeque::new();
        let mut cx = Context::from_waker(&waker);
        let waiting = std::pin::pin!(outbox.next_batch(&mut batch)).poll(&mut cx);
        assert!(waiting.is_pending());
        (outbox, woken)
    }

    fn wakes(woken: &CountingWaker) -> usize {
        woken.0.load(Ordering::SeqCst)
    }

    #[test]
    fn gathering_lines_are_not_kept_waiting_by_lingering_announcements() {
        let mut wakeups = Wakeups::new();
        let now = Instant::now();
        // An announcement lingers first...
        let (announced, announced_woken) = parked(Duration::from_millis(8));
        let mut lines = vec![Arc::from(":bob!b@h JOIN #lobby")];
        let wakeup = announced
            .push_all_deferred(&mut lines, Some(now), Urgency::Announcement)
            .expect("room");
        assert!(matches!(wakeup, Wakeup::Linger(..)));
        wakeups.add(&announced, wakeup);
        assert_eq!(wakeups.at, Some(now + LINGER));
        // ...then another client's line gathers for a shorter while.
        let (gathering, gathering_woken) = parked(Duration::from_millis(8));
        let soon = now + Duration::from_millis(8);
        wakeups.add(
            &gathering,
            Wakeup::Later(Waker::from(gathering_woken.clone()), soon),
        );
        assert_eq!(wakeups.at, Some(soon), "the timer fires for the sooner one");

        wakeups.wake_due(Delivery::Wake, Some(soon));
        assert_eq!(wakes(&gathering_woken), 1, "the gathered lines went out");
        assert_eq!(wakes(&announced_woken), 0, "the announcement still lingers");
        assert_eq!(wakeups.at, Some(now + LINGER), "and the timer waits for it");

        wakeups.wake_due(Delivery::Wake, Some(now + LINGER));
        assert_eq!(wakes(&announced_woken), 1);
        assert_eq!(wakeups.at, None, "nobody waits any more");
    }

    #[test]
    fn at_shutdown_every_waiting_writer_is_woken() {
        let mut wakeups = Wakeups::new();
        let now = Instant::now();
        let (a, a_woken) = parked(Duration::from_millis(8));
        let (b, b_woken) = parked(Duration::from_millis(8));
        wakeups.add(
            &a,
            Wakeup::Later(Waker::from(a_woken.clone()), now + LINGER),
        );
        wakeups.add(
            &b,
            Wakeup::Linger(Waker::from(b_woken.clone()), now + LINGER),
        );
        wakeups.wake_all(Delivery::Wake);
        assert_eq!((wakes(&a_woken), wakes(&b_woken)), (1, 1));
        assert_eq!(wakeups.at, None);
    }
}
