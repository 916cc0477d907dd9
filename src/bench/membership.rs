//! Which messages a receiver that comes and goes should have got.
//!
//! Owns: the membership intervals of one client in one room (from the
//! server's confirmation of its JOIN to its PART, QUIT or the end of the
//! run), classifying each arriving message against the interval it arrives
//! in, and, when an interval closes, counting what the receiver was owed in
//! it. Also each stream's send log: when its sender wrote each message, and
//! when any receiver first got it.
//! Must never: count a message as owed that a correct server may rightly
//! not deliver, count replayed history as a duplicate, read a clock (times
//! come in as nanoseconds since the run's base), or do I/O.
//!
//! The rules, for a receiver R in room r and a message m from another member:
//!
//! 1. R is in r from `since` (when R *received* the server's 366 for its
//!    JOIN). m written after `since` reached the server after the JOIN did,
//!    so it is owed to R (until R leaves). m written at or before `since`
//!    may have been handled before or after R's JOIN: it is never owed, and
//!    if it arrives (a live message racing the JOIN, or history the server
//!    replays on JOIN) it is *not expected*: neither a delivery nor a
//!    duplicate. Arrivals while R's JOIN is unconfirmed are not expected.
//! 2. A server handles one sender's messages in order, so within one
//!    interval every message between the first owed one and the last one R
//!    got is owed: a hole there is a loss.
//! 3. After the last one R got, a message is owed only if the server must
//!    have handled it before R left: on PART, if some receiver had it
//!    before R even *wrote* its PART; on QUIT, never (a server may drop
//!    a quitting client's unsent lines); at the end of the run (everyone
//!    stays), always.
//! 4. Between R's confirmed PART and its next JOIN, any message of r that
//!    arrives is misrouted (the server sent it to a non-member).

use super::seq::{Arrival, SeqTracker};

/// One stream's messages (one member's messages to one room) as written.
///
/// ```ignore
/// let mut log = StreamLog::default();
/// assert_eq!(log.write(1_000), 0);   // seq 0 written at t = 1000 ns
/// log.seen(0, 1_500);                // first received at 1500
/// ```
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamLog {
    /// When each message was written, by seq (never decreasing).
    written: Vec<u64>,
    /// When any receiver first got each message (`u64::MAX`: nobody yet).
    first_seen: Vec<u64>,
}

impl StreamLog {
    /// Log the next message, written at `at_ns`; returns its seq.
    pub fn write(&mut self, at_ns: u64) -> u32 {
        let at = self.written.last().map_or(at_ns, |&l| l.max(at_ns));
        self.written.push(at);
        self.first_seen.push(u64::MAX);
        u32::try_from(self.written.len() - 1).unwrap_or(u32::MAX)
    }

    /// Messages written so far.
    pub fn sent(&self) -> u32 {
        u32::try_from(self.written.len()).unwrap_or(u32::MAX)
    }

    /// When message `seq` was written, or `None` if it never was.
    pub fn written(&self, seq: u32) -> Option<u64> {
        self.written.get(seq as usize).copied()
    }

    /// Some receiver got message `seq` at `at_ns`.
    pub fn seen(&mut self, seq: u32, at_ns: u64) {
        if let Some(t) = self.first_seen.get_mut(seq as usize) {
            *t = (*t).min(at_ns);
        }
    }

    /// The first message written after `ns`.
    fn first_after(&self, ns: u64) -> u32 {
        u32::try_from(self.written.partition_point(|&w| w <= ns)).unwrap_or(u32::MAX)
    }

    /// One past the highest message some receiver got before `ns` (0: none).
    fn seen_before(&self, ns: u64) -> u32 {
        self.first_seen
            .iter()
            .rposition(|&t| t < ns)
            .map_or(0, |q| u32::try_from(q + 1).unwrap_or(u32::MAX))
    }
}

/// Where a client stands in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Not in the room: before its first JOIN, or after a confirmed PART.
    Out,
    /// JOIN written, the server's 366 not yet received.
    Joining,
    /// In the room since `since_ns` (when the 366 arrived).
    In { since_ns: u64 },
    /// In the room, but leaving (PART or QUIT decided): it sends nothing
    /// more there. `part_ns`: when its PART was written (once it is).
    Leaving { since_ns: u64, part_ns: Option<u64> },
}

/// How an interval ended (see rule 3 in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The server confirmed our PART.
    Part,
    /// The server closed the connection after our QUIT.
    Quit,
    /// The run is over; every message has had time to arrive.
    RunOver,
}

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The first arrival of an owed message; `reordered` if it came after
    /// a later message of the same stream.
    Delivered { reordered: bool },
    /// An owed message that had already arrived in this interval.
    Duplicate,
    /// Written before this interval began (replayed history, or a message
    /// racing the JOIN), or our own message: not counted either way.
    NotExpected,
    /// Arrived while the client was out of the room, or names a message
    /// that was never written.
    Misrouted,
}

/// What a closed interval owed, and what of it arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub expected: u64,
    pub delivered: u64,
}

impl Tally {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
}

/// One client's view of one room.
///
/// ```ignore
/// let mut v = RoomView::new(0, 2);          // we are slot 0 of 2
/// v.presence = Presence::Joining;
/// v.joined(100);                             // 366 arrived at t = 100
/// let mut logs = vec![StreamLog::default(); 2];
/// logs[1].write(150);                        // slot 1 talks
/// assert_eq!(v.arrive(1, 0, &logs[1]), Verdict::Delivered { reordered: false });
/// assert_eq!(v.close(End::RunOver, &logs).lost(), 0);
/// ```
#[derive(Debug, Clone)]
pub(crate) struct RoomView {
    pub presence: Presence,
    own: usize,
    size: usize,
    /// What arrived from each slot's stream in the current interval
    /// (allocated at the first arrival; empty while out of the room).
    got: Vec<Option<SeqTracker>>,
}

impl RoomView {
    /// The view of a client in slot `own` of a room of `size` members.
    pub fn new(own: usize, size: usize) -> RoomView {
        RoomView {
            presence: Presence::Out,
            own,
            size,
            got: Vec::new(),
        }
    }

    /// The server confirmed our JOIN at `at_ns`: a new interval begins.
    /// Returns false (and changes nothing) if no JOIN was pending.
    pub fn joined(&mut self, at_ns: u64) -> bool {
        if self.presence != Presence::Joining {
            return false;
        }
        self.presence = Presence::In { since_ns: at_ns };
        self.got.iter_mut().for_each(|g| *g = None);
        true
    }

    fn since(&self) -> Option<u64> {
        match self.presence {
            Presence::In { since_ns } | Presence::Leaving { since_ns, .. } => Some(since_ns),
            Presence::Out | Presence::Joining => None,
        }
    }

    /// Message `seq` from slot `slot` arrived; `log` is that slot's stream.
    pub fn arrive(&mut self, slot: usize, seq: u32, log: &StreamLog) -> Verdict {
        let Some(written) = log.written(seq) else {
            return Verdict::Misrouted;
        };
        if slot >= self.size {
            return Verdict::Misrouted;
        }
        if slot == self.own {
            return Verdict::NotExpected;
        }
        let since = match self.presence {
            Presence::Out => return Verdict::Misrouted,
            Presence::Joining => return Verdict::NotExpected,
            Presence::In { since_ns } | Presence::Leaving { since_ns, .. } => since_ns,
        };
        if written <= since {
            return Verdict::NotExpected;
        }
        if self.got.len() != self.size {
            self.got = vec![None; self.size];
        }
        let tracker =
            self.got[slot].get_or_insert_with(|| SeqTracker::starting_at(log.first_after(since)));
        match tracker.record(seq) {
            Arrival::Duplicate => Verdict::Duplicate,
            Arrival::Late => Verdict::Delivered { reordered: true },
            Arrival::InOrder | Arrival::Ahead => Verdict::Delivered { reordered: false },
        }
    }

    /// For each other slot: the first owed seq, one past the last owed
    /// seq under `end`'s rule, and how many owed ones arrived.
    fn owed(&self, end: End, logs: &[StreamLog]) -> Tally {
        let Some(since) = self.since() else {
            return Tally::default();
        };
        let part_ns = match (end, self.presence) {
            (End::Part, Presence::Leaving { part_ns, .. }) => part_ns,
            _ => None,
        };
        let mut t = Tally::default();
        for (slot, log) in logs.iter().enumerate().take(self.size) {
            if slot == self.own {
                continue;
            }
            let first = log.first_after(since);
            let got = self.got.get(slot).and_then(Option::as_ref);
            let reached = got.map_or(first, |g| g.next().max(first));
            let end_excl = match end {
                End::RunOver => log.sent(),
                End::Quit => reached,
                End::Part => match part_ns {
                    Some(p) => reached.max(log.seen_before(p)),
                    None => reached,
                },
            };
            t.expected += u64::from(end_excl.saturating_sub(first));
            if let Some(g) = got {
                t.delivered += u64::from(g.next().saturating_sub(first)) - g.missing();
            }
        }
        t
    }

    /// Owed but not (yet) arrived if the run ended now: what the end of
    /// the run waits for.
    pub fn outstanding(&self, logs: &[StreamLog]) -> u64 {
        self.owed(End::RunOver, logs).lost()
    }

    /// The interval ends (`logs`: the room's streams, by slot): returns
    /// what it owed and what of it arrived, and leaves the room.
    pub fn close(&mut self, end: End, logs: &[StreamLog]) -> Tally {
        let t = self.owed(end, logs);
        self.presence = Presence::Out;
        self.got.iter_mut().for_each(|g| *g = None);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVERED: Verdict = Verdict::Delivered { reordered: false };

    /// We are slot 0 of a room of 3; slots 1 and 2 talk.
    fn view() -> (RoomView, Vec<StreamLog>) {
        (RoomView::new(0, 3), vec![StreamLog::default(); 3])
    }

    fn join(v: &mut RoomView, at: u64) {
        v.presence = Presence::Joining;
        assert!(v.joined(at));
    }

    fn part(v: &mut RoomView, part_ns: u64) {
        let Presence::In { since_ns } = v.presence else {
            panic!("not in the room: {:?}", v.presence);
        };
        v.presence = Presence::Leaving {
            since_ns,
            part_ns: Some(part_ns),
        };
    }

    #[test]
    fn a_message_sent_while_the_receiver_was_away_is_not_expected() {
        let (mut v, mut logs) = view();
        for t in [10, 20, 30, 40, 50] {
            logs[1].write(t);
        }
        join(&mut v, 5);
        assert_eq!(v.arrive(1, 0, &logs[1]), DELIVERED);
        assert_eq!(v.arrive(1, 1, &logs[1]), DELIVERED);
        part(&mut v, 25);
        // Nobody else had seq 2 (written at 30) before our PART at 25.
        let first = v.close(End::Part, &logs);
        assert_eq!(
            first,
            Tally {
                expected: 2,
                delivered: 2
            }
        );
        // Seqs 2 and 3 were written while we were away; we rejoin at 45.
        join(&mut v, 45);
        assert_eq!(v.arrive(1, 4, &logs[1]), DELIVERED);
        let second = v.close(End::RunOver, &logs);
        assert_eq!(
            second,
            Tally {
                expected: 1,
                delivered: 1
            }
        );
    }

    #[test]
    fn replayed_history_is_not_a_duplicate() {
        let (mut v, mut logs) = view();
        for t in [10, 20, 60] {
            logs[1].write(t);
        }
        join(&mut v, 5);
        assert_eq!(v.arrive(1, 0, &logs[1]), DELIVERED);
        assert_eq!(v.arrive(1, 1, &logs[1]), DELIVERED);
        part(&mut v, 30);
        assert_eq!(v.close(End::Part, &logs).lost(), 0);
        // Rejoin: the server replays 0 and 1 while the JOIN is pending and
        // again just after the 366; then seq 2 arrives live.
        v.presence = Presence::Joining;
        assert_eq!(v.arrive(1, 0, &logs[1]), Verdict::NotExpected);
        assert!(v.joined(50));
        assert_eq!(v.arrive(1, 0, &logs[1]), Verdict::NotExpected);
        assert_eq!(v.arrive(1, 1, &logs[1]), Verdict::NotExpected);
        assert_eq!(v.arrive(1, 2, &logs[1]), DELIVERED);
        assert_eq!(
            v.arrive(1, 2, &logs[1]),
            Verdict::Duplicate,
            "a live repeat is"
        );
        assert_eq!(
            v.close(End::RunOver, &logs),
            Tally {
                expected: 1,
                delivered: 1
            }
        );
    }

    #[test]
    fn a_hole_inside_an_interval_is_lost_and_the_end_of_the_run_owes_everything_since_the_join() {
        let (mut v, mut logs) = view();
        join(&mut v, 0);
        for t in [10, 20, 30, 40] {
            logs[2].write(t);
        }
        logs[1].write(15);
        assert_eq!(v.arrive(2, 0, &logs[2]), DELIVERED);
        assert_eq!(v.arrive(2, 2, &logs[2]), DELIVERED);
        assert_eq!(
            v.outstanding(&logs),
            3,
            "seq 1 and 3 of slot 2, seq 0 of slot 1"
        );
        let t = v.close(End::RunOver, &logs);
        assert_eq!(
            t,
            Tally {
                expected: 5,
                delivered: 2
            }
        );
        assert_eq!(t.lost(), 3);
    }

    #[test]
    fn after_a_part_only_what_someone_else_had_before_it_was_written_is_owed() {
        let (mut v, mut logs) = view();
        join(&mut v, 0);
        for t in [10, 20, 30] {
            logs[1].write(t);
        }
        logs[1].seen(0, 12);
        logs[1].seen(1, 22); // before our PART at 25: the server had it
        logs[1].seen(2, 32); // after: it may rightly have come after the PART
        assert_eq!(v.arrive(1, 0, &logs[1]), DELIVERED);
        part(&mut v, 25);
        let t = v.close(End::Part, &logs);
        assert_eq!(
            t,
            Tally {
                expected: 2,
                delivered: 1
            },
            "seq 1 is lost"
        );
    }

    #[test]
    fn after_a_quit_the_tail_is_not_owed_but_holes_are() {
        let (mut v, mut logs) = view();
        join(&mut v, 0);
        for t in [10, 20, 30, 40] {
            logs[1].write(t);
        }
        for q in 0..4 {
            logs[1].seen(q, 1);
        }
        assert_eq!(v.arrive(1, 0, &logs[1]), DELIVERED);
        assert_eq!(v.arrive(1, 2, &logs[1]), DELIVERED);
        let since_ns = 0;
        v.presence = Presence::Leaving {
            since_ns,
            part_ns: None,
        };
        assert_eq!(
            v.close(End::Quit, &logs),
            Tally {
                expected: 3,
                delivered: 2
            }
        );
    }

    #[test]
    fn arrivals_out_of_the_room_are_misrouted_and_unsent_messages_too() {
        let (mut v, mut logs) = view();
        logs[1].write(10);
        assert_eq!(v.arrive(1, 0, &logs[1]), Verdict::Misrouted, "never joined");
        join(&mut v, 0);
        assert_eq!(
            v.arrive(1, 7, &logs[1]),
            Verdict::Misrouted,
            "never written"
        );
        assert_eq!(v.arrive(9, 0, &logs[1]), Verdict::Misrouted, "no such slot");
        logs[0].write(20);
        assert_eq!(v.arrive(0, 0, &logs[0]), Verdict::NotExpected, "our own");
        part(&mut v, 30);
        let _ = v.close(End::Part, &logs);
        assert_eq!(
            v.arrive(1, 0, &logs[1]),
            Verdict::Misrouted,
            "after our PART"
        );
    }

    #[test]
    fn a_message_that_overtakes_another_is_reordered_once_not_lost() {
        let (mut v, mut logs) = view();
        join(&mut v, 0);
        for t in [10, 20] {
            logs[1].write(t);
        }
        assert_eq!(v.arrive(1, 1, &logs[1]), DELIVERED);
        assert_eq!(
            v.arrive(1, 0, &logs[1]),
            Verdict::Delivered { reordered: true }
        );
        assert_eq!(v.close(End::RunOver, &logs).lost(), 0);
    }

    #[test]
    fn a_write_log_never_goes_back_in_time() {
        let mut log = StreamLog::default();
        assert_eq!(log.write(50), 0);
        assert_eq!(log.write(40), 1);
        assert_eq!(log.written(1), Some(50));
        assert_eq!(log.first_after(49), 0);
        assert_eq!(log.first_after(50), 2);
        assert_eq!(log.seen_before(u64::MAX), 0, "nobody saw anything");
    }
}
