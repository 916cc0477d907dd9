//! Writers told to wait a moment ([`Wakeup::Later`]): the lines of a
//! client that is only listening gather for up to the coalescing interval
//! and go out in one write.
//!
//! Also decides how the lines get out ([`Delivery`]): at a trickle, a
//! parked plain TCP writer's lines are written from the core task itself
//! ([`Outbox::write_or_wake`]) instead of waking its task, every such
//! client's in one system call where io_uring is there ([`SendRing`]).
//!
//! Owns the waiting writers and the one timer that wakes them all, so a
//! waiting writer costs a place in a list, not a timer of its own (a timer
//! per writer cost about what the `send()` it saved). Must never let a
//! line wait more than one coalescing interval after it was queued: the
//! timer is set for the first waiting writer's moment, which is at most
//! one interval after that writer's line, and every other writer's line
//! was queued after it.

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

/// Writers woken at once at the end of the batch, and writers woken by
/// one timer a moment later.
pub(in crate::net) struct Wakeups {
    /// Writers with new lines, woken once the batch has queued everything
    /// ([`Wakeups::wake_now`]), so each writes its share in one go.
    now: Vec<(Arc<Outbox>, Waker)>,
    /// Writers whose lines gather until the timer fires.
    later: Vec<(Arc<Outbox>, Waker)>,
    /// When `timer` fires (`None` while no writer waits for it).
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
            later: Vec::new(),
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
                self.later.push((outbox.clone(), writer));
                if self.at.is_none() {
                    self.at = Some(at);
                    self.timer.set_at(at);
                }
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

    /// Gets out the lines of every writer, the waiting ones too (once their
    /// moment has come, or at shutdown).
    pub(in crate::net) fn wake_all(&mut self, how: Delivery) {
        self.wake_now(how);
        let mut later = std::mem::take(&mut self.later);
        self.deliver_all(&mut later, how);
        self.later = later;
        self.at = None;
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
