//! Loss, reordering and duplication accounting for one sender's messages at
//! one receiver.
//!
//! Owns: classifying each arriving sequence number as in order, ahead (a gap
//! opened before it), late (it fills an earlier gap: reordered) or a
//! duplicate. A message that arrives out of order counts once, as reordered,
//! and not also as lost: loss is what is still missing at the end.
//! Must never: allocate except when a gap opens (the in-order path is two
//! comparisons), or panic on any sequence number a server sends.

use std::ops::Range;

/// How one arrival relates to what came before from the same sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The next expected message.
    InOrder,
    /// Later than expected: the messages in between are missing for now.
    Ahead,
    /// A message that was missing, arriving after a later one: reordered.
    Late,
    /// Already received: not a delivery.
    Duplicate,
}

impl Arrival {
    /// A first arrival of this message (counts as a delivery).
    pub fn is_delivery(self) -> bool {
        self != Arrival::Duplicate
    }
}

/// One sender's sequence numbers as seen by one receiver.
///
/// ```ignore
/// let mut t = SeqTracker::default();
/// for seq in [0, 1, 3, 2, 4] { t.record(seq); }
/// assert_eq!(t.missing(), 0); // 2 came late: reordered, not lost
/// ```
#[derive(Debug, Clone, Default)]
pub(crate) struct SeqTracker {
    /// One past the highest sequence number seen (u64: one past u32::MAX).
    next: u64,
    /// Gaps below `next` not yet filled, in ascending order.
    gaps: Vec<Range<u32>>,
}

impl SeqTracker {
    /// Record one arrival.
    pub fn record(&mut self, seq: u32) -> Arrival {
        let s = u64::from(seq);
        if s == self.next {
            self.next = s + 1;
            return Arrival::InOrder;
        }
        if s > self.next {
            // self.next < seq here, so it fits in a u32.
            self.gaps.push(self.next as u32..seq);
            self.next = s + 1;
            return Arrival::Ahead;
        }
        let Some(i) = self.gaps.iter().position(|g| g.contains(&seq)) else {
            return Arrival::Duplicate;
        };
        let g = self.gaps[i].clone();
        match (g.start == seq, g.end == seq + 1) {
            (true, true) => {
                self.gaps.remove(i);
            }
            (true, false) => self.gaps[i].start = seq + 1,
            (false, true) => self.gaps[i].end = seq,
            (false, false) => {
                self.gaps[i].end = seq;
                self.gaps.insert(i + 1, seq + 1..g.end);
            }
        }
        Arrival::Late
    }

    /// One past the highest sequence number seen: how far this receiver has
    /// got in the sender's stream (what flow control waits on).
    pub fn next(&self) -> u32 {
        u32::try_from(self.next).unwrap_or(u32::MAX)
    }

    /// A tracker for a receiver that can only expect messages from `first`
    /// on (it joined the room after the earlier ones were sent).
    pub fn starting_at(first: u32) -> SeqTracker {
        SeqTracker {
            next: u64::from(first),
            gaps: Vec::new(),
        }
    }

    /// Messages below the highest seen that have not arrived (yet).
    pub fn missing(&self) -> u64 {
        self.gaps.iter().map(|g| u64::from(g.end - g.start)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Arrival::*;

    fn run(seqs: &[u32]) -> (Vec<Arrival>, SeqTracker) {
        let mut t = SeqTracker::default();
        let a = seqs.iter().map(|&s| t.record(s)).collect();
        (a, t)
    }

    #[test]
    fn a_swapped_pair_counts_once_as_reordered_and_not_as_lost() {
        // The issue's 1,2,4,3,5 (sequence numbers start at 0 on the wire).
        let (a, t) = run(&[1, 2, 4, 3, 5].map(|s| s - 1));
        assert_eq!(a, [InOrder, InOrder, Ahead, Late, InOrder]);
        assert_eq!(a.iter().filter(|a| a.is_delivery()).count(), 5);
        assert_eq!(a.iter().filter(|&&a| a == Late).count(), 1);
        assert_eq!(t.missing(), 0);
        assert_eq!(t.next(), 5);
    }

    #[test]
    fn a_message_that_never_comes_is_missing_not_reordered() {
        let (a, t) = run(&[0, 1, 3, 4]);
        assert_eq!(a, [InOrder, InOrder, Ahead, InOrder]);
        assert_eq!(t.missing(), 1);
    }

    #[test]
    fn a_repeat_is_a_duplicate_and_not_a_delivery() {
        let (a, t) = run(&[0, 1, 1, 0, 2]);
        assert_eq!(a, [InOrder, InOrder, Duplicate, Duplicate, InOrder]);
        assert!(!Duplicate.is_delivery());
        assert_eq!(t.missing(), 0);
    }

    #[test]
    fn a_late_message_filling_a_gap_twice_is_a_duplicate_the_second_time() {
        let (a, _) = run(&[0, 2, 1, 1]);
        assert_eq!(a, [InOrder, Ahead, Late, Duplicate]);
    }

    #[test]
    fn late_messages_split_a_wide_gap_from_the_middle_and_both_ends() {
        let (a, t) = run(&[0, 6, 3, 1, 5, 2, 4]);
        assert_eq!(a, [InOrder, Ahead, Late, Late, Late, Late, Late]);
        assert_eq!(t.missing(), 0);
        let (_, t) = run(&[0, 9, 4]);
        assert_eq!(t.missing(), 7);
    }

    #[test]
    fn a_tracker_that_starts_later_treats_earlier_numbers_as_already_seen() {
        let mut t = SeqTracker::starting_at(5);
        assert_eq!(t.record(3), Duplicate);
        assert_eq!(t.record(5), InOrder);
        assert_eq!(t.record(7), Ahead);
        assert_eq!((t.next(), t.missing()), (8, 1));
    }

    #[test]
    fn the_highest_sequence_number_never_overflows() {
        let (a, t) = run(&[u32::MAX, u32::MAX]);
        assert_eq!(a, [Ahead, Duplicate]);
        assert_eq!(t.next(), u32::MAX);
    }
}
