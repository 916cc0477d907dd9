//! The paced sender's schedule: when each message is due, and which are due now.
//!
//! Owns: the fixed-rate schedule of one sender (message `seq` is due at
//! `first_ns + seq × interval_ns`) and the send time each message carries.
//! The time stamped into a paced message is its *scheduled* time, never the
//! time the sender woke to write it: a stall in natter-bench or the server
//! then shows up as latency instead of dropping out of the measurement
//! (coordinated omission; wrk2 and HdrHistogram's corrected recording do the
//! same).
//! Must never: read a clock (times come in as nanoseconds since the run's
//! base), drift (each time is computed from `seq`, not accumulated), or do I/O.

use std::ops::Range;

/// One sender's schedule at a fixed rate.
///
/// ```ignore
/// let mut p = Pacer::new(1_000, 500.0, 4); // due at 1000, 1500, 2000, 2500 ns
/// assert_eq!(p.due(2_100), 0..3);          // woke late: three are due
/// assert_eq!(p.scheduled_ns(2), 2_000);    // each stamped with its own time
/// ```
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    first_ns: u64,
    interval_ns: f64,
    total: u32,
    next: u32,
}

impl Pacer {
    /// `total` messages, the first due at `first_ns`, then one every
    /// `interval_ns` nanoseconds.
    pub fn new(first_ns: u64, interval_ns: f64, total: u32) -> Pacer {
        Pacer {
            first_ns,
            interval_ns: if interval_ns.is_finite() && interval_ns > 0.0 {
                interval_ns
            } else {
                0.0
            },
            total,
            next: 0,
        }
    }

    /// When message `seq` is due (and the send time it carries).
    pub fn scheduled_ns(&self, seq: u32) -> u64 {
        // Saturating float-to-int cast: a schedule past u64::MAX ns stays there.
        self.first_ns
            .saturating_add((f64::from(seq) * self.interval_ns).round() as u64)
    }

    /// When the next unsent message is due, or `None` when all are sent.
    pub fn next_due_ns(&self) -> Option<u64> {
        (self.next < self.total).then(|| self.scheduled_ns(self.next))
    }

    /// Every message due by `now_ns` that is not yet handed out (possibly
    /// several after a late wake-up, possibly none after an early one).
    pub fn due(&mut self, now_ns: u64) -> Range<u32> {
        let start = self.next;
        while self.next < self.total && self.scheduled_ns(self.next) <= now_ns {
            self.next += 1;
        }
        start..self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_times_are_first_plus_seq_times_interval() {
        let p = Pacer::new(1_000, 250.0, 10);
        let times: Vec<u64> = (0..5).map(|s| p.scheduled_ns(s)).collect();
        assert_eq!(times, [1_000, 1_250, 1_500, 1_750, 2_000]);
    }

    #[test]
    fn a_late_wake_up_hands_out_every_overdue_message_each_with_its_own_time() {
        let mut p = Pacer::new(0, 1_000.0, 10);
        assert_eq!(p.due(0), 0..1);
        // The sender stalls for 3.5 intervals: three more are overdue, and
        // each keeps the time it was due, not the time of the wake-up.
        let due = p.due(3_500);
        assert_eq!(due, 1..4);
        let stamps: Vec<u64> = due.map(|s| p.scheduled_ns(s)).collect();
        assert_eq!(stamps, [1_000, 2_000, 3_000]);
        assert_eq!(p.next_due_ns(), Some(4_000));
    }

    #[test]
    fn an_early_wake_up_hands_out_nothing() {
        let mut p = Pacer::new(5_000, 1_000.0, 3);
        assert_eq!(p.due(4_999), 0..0);
        assert_eq!(p.next_due_ns(), Some(5_000));
    }

    #[test]
    fn the_schedule_ends_after_total_messages() {
        let mut p = Pacer::new(0, 10.0, 3);
        assert_eq!(p.due(u64::MAX), 0..3);
        assert_eq!(p.next_due_ns(), None);
        assert_eq!(p.due(u64::MAX), 3..3);
    }

    #[test]
    fn the_schedule_does_not_drift_over_many_messages() {
        // 1/3 ms intervals: accumulating a rounded interval would drift.
        let p = Pacer::new(0, 1e6 / 3.0, 3_000_001);
        assert_eq!(p.scheduled_ns(3_000_000), 1_000_000_000_000);
    }
}
