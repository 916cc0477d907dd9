//! Writers told to wait a moment ([`Wakeup::Later`]): the lines of a
//! client that is only listening gather for up to the coalescing interval
//! and go out in one write.
//!
//! Also decides how the lines get out ([`Delivery`]): at a trickle, a
//! parked plain TCP writer's lines are written from the core task itself
//! ([`Outbox::write_or_wake`]) instead of waking its task.
//!
//! Owns the waiting writers and the one timer that wakes them all, so a
//! waiting writer costs a place in a list, not a timer of its own (a timer
//! per writer cost about what the `send()` it saved). Must never let a
//! line wait more than one coalescing interval after it was queued: the
//! timer is set for the first waiting writer's moment, which is at most
//! one interval after that writer's line, and every other writer's line
//! was queued after it.

use crate::net::outbox::{Outbox, Wakeup};
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
}

impl Wakeups {
    pub(in crate::net) fn new() -> Wakeups {
        Wakeups {
            now: Vec::new(),
            later: Vec::new(),
            at: None,
            timer: Timer::never(),
            scratch: Vec::new(),
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
        for (outbox, writer) in self.now.drain(..) {
            deliver(&outbox, writer, how, &mut self.scratch);
        }
        // A burst's bytes are not kept for the trickle after it.
        if self.scratch.capacity() > 64 << 10 {
            self.scratch = Vec::new();
        }
    }

    /// Gets out the lines of every writer, the waiting ones too (once their
    /// moment has come, or at shutdown).
    pub(in crate::net) fn wake_all(&mut self, how: Delivery) {
        self.wake_now(how);
        for (outbox, writer) in self.later.drain(..) {
            deliver(&outbox, writer, how, &mut self.scratch);
        }
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
}

fn deliver(outbox: &Outbox, writer: Waker, how: Delivery, scratch: &mut Vec<u8>) {
    match how {
        Delivery::Wake => writer.wake(),
        Delivery::Direct => outbox.write_or_wake(writer, scratch),
    }
}
