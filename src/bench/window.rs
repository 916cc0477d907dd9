//! Flow control for the unpaced (max-throughput) mode: a sender's window
//! advances only as the *slowest* receiver in its room gets its messages.
//!
//! Owns: one sender's acknowledged position, counted from every receiver's
//! progress. Acknowledging through one neighbour would let a fast receiver
//! hide a slow one (the sender would run ahead while a lagging member's
//! backlog grew in the server); here message `seq` is acknowledged only when
//! every receiver has seen it or something later.
//! Must never: allocate after construction (a ring of `window` counters), do
//! I/O, or panic on any progress a receiver reports.

/// One sender's window over `receivers` receivers.
///
/// ```ignore
/// let mut w = SlowestReceiver::new(2, 4);
/// w.reach(0, 3);              // receiver A has messages 0..3
/// assert_eq!(w.acked(), 0);   // receiver B has nothing yet
/// w.reach(0, 1);              // B has message 0
/// assert_eq!(w.acked(), 1);
/// ```
#[derive(Debug, Clone)]
pub(crate) struct SlowestReceiver {
    receivers: u32,
    /// Every receiver has reached every message below this.
    acked: u32,
    /// `reached[seq % window]`: receivers that have reached `seq`, for `seq`
    /// in `acked .. acked + window` (the sender never has more in flight).
    reached: Vec<u32>,
}

impl SlowestReceiver {
    pub fn new(receivers: u32, window: u32) -> SlowestReceiver {
        SlowestReceiver {
            receivers: receivers.max(1),
            acked: 0,
            reached: vec![0; window.max(1) as usize],
        }
    }

    /// Messages below this have reached every receiver: the sender may have
    /// up to `window` more in flight.
    pub fn acked(&self) -> u32 {
        self.acked
    }

    /// One receiver's progress moved from `from` to `to` (it has now seen
    /// message `to - 1` or later, so it has reached `from .. to`). Each
    /// receiver reports each message at most once, as its progress only
    /// grows. Returns whether `acked` advanced.
    pub fn reach(&mut self, from: u32, to: u32) -> bool {
        let w = self.reached.len() as u32;
        // Progress the sender cannot have caused (past its window) is a
        // server's invention: ignore it rather than corrupt the ring.
        let hi = to.min(self.acked.saturating_add(w));
        for seq in from.max(self.acked)..hi {
            self.reached[(seq % w) as usize] += 1;
        }
        let before = self.acked;
        while self.reached[(self.acked % w) as usize] >= self.receivers {
            self.reached[(self.acked % w) as usize] = 0;
            self.acked += 1;
        }
        self.acked != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_waits_for_the_slowest_receiver_not_the_fastest() {
        let mut w = SlowestReceiver::new(3, 10);
        assert!(!w.reach(0, 10), "one fast receiver has everything");
        assert!(!w.reach(0, 10), "a second one too");
        assert_eq!(w.acked(), 0, "the third has nothing: nothing is acked");
        assert!(w.reach(0, 2));
        assert_eq!(w.acked(), 2, "acked is the slowest receiver's progress");
        assert!(w.reach(2, 7));
        assert_eq!(w.acked(), 7);
    }

    #[test]
    fn acked_is_the_minimum_progress_whatever_order_receivers_report_in() {
        let mut w = SlowestReceiver::new(2, 8);
        w.reach(0, 1); // A: 1
        w.reach(0, 3); // B: 3
        assert_eq!(w.acked(), 1);
        w.reach(1, 5); // A: 5
        assert_eq!(w.acked(), 3);
        w.reach(3, 4); // B: 4
        assert_eq!(w.acked(), 4);
    }

    #[test]
    fn the_ring_is_reused_as_the_window_slides() {
        let mut w = SlowestReceiver::new(2, 3);
        for k in 0..100u32 {
            w.reach(k, k + 1);
            assert_eq!(w.acked(), k);
            assert!(w.reach(k, k + 1));
            assert_eq!(w.acked(), k + 1);
        }
    }

    #[test]
    fn progress_past_the_window_is_ignored() {
        let mut w = SlowestReceiver::new(1, 4);
        assert!(w.reach(0, 1_000));
        assert_eq!(w.acked(), 4, "at most one window acked per report");
        assert!(w.reach(4, 6));
        assert_eq!(w.acked(), 6);
    }

    #[test]
    fn a_single_receiver_acks_as_it_goes() {
        let mut w = SlowestReceiver::new(1, 1);
        assert!(w.reach(0, 1));
        assert!(!w.reach(1, 1), "no progress, no change");
        assert_eq!(w.acked(), 1);
    }
}
