//! Writers told to wait a moment ([`Wakeup::Later`]): the lines of a
//! client that is only listening gather for up to the coalescing interval
//! and go out in one write.
//!
//! Owns the waiting writers and the one timer that wakes them all, so a
//! waiting writer costs a place in a list, not a timer of its own (a timer
//! per writer cost about what the `send()` it saved). Must never let a
//! line wait more than one coalescing interval after it was queued: the
//! timer is set for the first waiting writer's moment, which is at most
//! one interval after that writer's line, and every other writer's line
//! was queued after it.

use crate::net::outbox::Wakeup;
use smol::Timer;
use std::task::Waker;
use std::time::Instant;

/// Writers woken at once at the end of the batch, and writers woken by
/// one timer a moment later.
pub(in crate::net) struct Wakeups {
    /// Writers with new lines, woken once the batch has queued everything
    /// ([`Wakeups::wake_now`]), so each writes its share in one go.
    now: Vec<Waker>,
    /// Writers whose lines gather until the timer fires.
    later: Vec<Waker>,
    /// When `timer` fires (`None` while no writer waits for it).
    at: Option<Instant>,
    timer: Timer,
}

impl Wakeups {
    pub(in crate::net) fn new() -> Wakeups {
        Wakeups {
            now: Vec::new(),
            later: Vec::new(),
            at: None,
            timer: Timer::never(),
        }
    }

    /// Takes note of whom a pushed line wakes, and when.
    pub(in crate::net) fn add(&mut self, wakeup: Wakeup) {
        match wakeup {
            Wakeup::Nobody => {}
            Wakeup::Now(writer) => self.now.push(writer),
            Wakeup::Later(writer, at) => {
                self.later.push(writer);
                if self.at.is_none() {
                    self.at = Some(at);
                    self.timer.set_at(at);
                }
            }
        }
    }

    /// Wakes every writer to be woken at the end of the batch.
    pub(in crate::net) fn wake_now(&mut self) {
        for writer in self.now.drain(..) {
            writer.wake();
        }
    }

    /// Wakes every writer, the waiting ones too (once their moment has
    /// come, or at shutdown).
    pub(in crate::net) fn wake_all(&mut self) {
        self.wake_now();
        for writer in self.later.drain(..) {
            writer.wake();
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
