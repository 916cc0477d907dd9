//! Flood control that slows a client down before it disconnects it
//! (fakelag, as ergo and InspIRCd do).
//!
//! Owns the gate every client line passes before its command runs, the
//! lines held back ([`crate::core::Fakelag`] on each connection), and the
//! second timer queue (`Server::flood_timers`) that says when the oldest
//! held line of each connection may run.
//!
//! The rules:
//! - Each line costs `1000 / flood_lines_per_sec` ms of a token bucket
//!   (`Connection::flood_clock`) that allows `flood_burst_lines` at once.
//! - A line within the budget runs at once. A line over it is held, behind
//!   any earlier held lines, and runs when the budget allows: at the
//!   sustained rate, in the order sent, before any later line of the same
//!   client. Nothing is dropped and nothing is reordered.
//! - Past the hard limit (`flood_queue_lines` held lines, or
//!   `flood_queue_bytes` of them) the client is closed with "Excess Flood"
//!   and what it had waiting is dropped.
//! - PING and PONG are never held: they jump the queue, so a client with a
//!   long queue still answers the server's PING and hears its own PONG in
//!   time, and is not timed out by its own backlog. They are still charged
//!   (delaying the held lines a little), and a client that keeps sending
//!   them past the hard limit is closed like any other.
//! - Operators and connections with `flood_exempt` are never held: on
//!   becoming exempt, whatever was held runs at once.
//! - A client that hangs up with lines held has them run at their times
//!   anyway (what it sent before leaving still counts, as with ergo, which
//!   reads a socket only as fast as its fakelag allows), and leaves after
//!   the last of them.
//! - Lines the reader rejected (too long, not UTF-8) are answered at once
//!   and cost nothing, as before fakelag; they carry no command to delay.
//!
//! Must never read a clock (time arrives in [`Now`]) and never run a held
//! line early or out of order.

use super::Server;
use crate::core::event::{ConnId, Instant, Now};
use crate::core::secrets::Seal;

/// The flood budget, as the configuration sets it.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// What one line costs, in milliseconds.
    cost_ms: u64,
    /// How many lines may run at once (at least 1).
    burst: u64,
}

impl Pace {
    /// The budget for `rate` lines per second and `burst`; `None` when flood
    /// control is off (`rate` 0).
    fn new(rate: u64, burst: u64) -> Option<Pace> {
        (rate > 0).then(|| Pace {
            cost_ms: (1000 / rate).max(1),
            burst: burst.max(1),
        })
    }

    /// Charges one line at `now` to the bucket whose clock is `clock`,
    /// unless that takes it past the burst (then leaves it as it is).
    fn try_charge(self, clock: &mut Instant, now: Instant) -> bool {
        let next = clock.0.max(now.0).saturating_add(self.cost_ms);
        let fits = next
            <= now
                .0
                .saturating_add(self.burst.saturating_mul(self.cost_ms));
        if fits {
            *clock = Instant(next);
        }
        fits
    }

    /// Charges one line whatever the budget says (PING and PONG).
    fn charge(self, clock: &mut Instant, now: Instant) {
        *clock = Instant(clock.0.max(now.0).saturating_add(self.cost_ms));
    }

    /// The first moment a line fits the bucket whose clock is `clock`: when
    /// it has run down to `burst - 1` lines ahead.
    fn ready_at(self, clock: Instant) -> Instant {
        Instant(
            clock
                .0
                .saturating_sub((self.burst - 1).saturating_mul(self.cost_ms)),
        )
    }

    /// How many lines ahead of `now` the bucket whose clock is `clock` is.
    fn lines_ahead(self, clock: Instant, now: Instant) -> u64 {
        clock.0.saturating_sub(now.0).div_ceil(self.cost_ms)
    }
}

/// Whether `line`'s command is PING or PONG (skipping tags and a source).
fn is_ping_or_pong(line: &str) -> bool {
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let mut verb = words.next().unwrap_or("");
    if verb.starts_with('@') {
        verb = words.next().unwrap_or("");
    }
    if verb.starts_with(':') {
        verb = words.next().unwrap_or("");
    }
    verb.eq_ignore_ascii_case("PING") || verb.eq_ignore_ascii_case("PONG")
}

/// What the gate decided for one line.
enum Gate {
    /// Run it now.
    Run,
    /// Run what is held first, then it (the client became exempt).
    DrainThenRun,
    /// Hold it; schedule the queue when it was empty.
    Hold,
    /// Past the hard limit.
    Close,
}

impl Server {
    fn pace(&self) -> Option<Pace> {
        Pace::new(
            self.config.flood_lines_per_sec,
            self.config.flood_burst_lines,
        )
    }

    /// One line from a client: any line is a sign of life; then it runs
    /// now, is held for later, or closes the client (see the module docs).
    pub(super) fn handle_line(
        &mut self,
        conn: ConnId,
        line: &str,
        seal: Option<Box<Seal>>,
        now: Now,
    ) {
        // Held lines that are due go first, even if the Timeout that runs
        // them has not come yet (the shell may deliver it after this line).
        let due = self.connections.get(&conn).and_then(|c| c.fakelag.due);
        if due.is_some_and(|at| at <= now.mono) {
            self.run_held(conn, now);
        }
        let pace = self.pace();
        let (max_lines, max_bytes) = (self.config.flood_queue_lines, self.config.flood_queue_bytes);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.last_active = now.mono;
        c.ping_sent = None;
        let held = &c.fakelag;
        let gate = match pace {
            None if held.lines.is_empty() => Gate::Run,
            None => Gate::DrainThenRun,
            Some(_) if c.is_flood_exempt() && held.lines.is_empty() => Gate::Run,
            Some(_) if c.is_flood_exempt() => Gate::DrainThenRun,
            Some(pace) if is_ping_or_pong(line) => {
                pace.charge(&mut c.flood_clock, now.mono);
                let ahead = pace.lines_ahead(c.flood_clock, now.mono);
                let held = u64::try_from(c.fakelag.lines.len()).unwrap_or(u64::MAX);
                let limit = pace
                    .burst
                    .saturating_add(u64::try_from(max_lines).unwrap_or(u64::MAX));
                if ahead.saturating_add(held) > limit {
                    Gate::Close
                } else {
                    Gate::Run
                }
            }
            Some(pace)
                if held.lines.is_empty() && pace.try_charge(&mut c.flood_clock, now.mono) =>
            {
                Gate::Run
            }
            Some(_) if held.lines.len() >= max_lines => Gate::Close,
            Some(_) if held.bytes.saturating_add(line.len()) > max_bytes => Gate::Close,
            Some(_) => Gate::Hold,
        };
        match gate {
            Gate::Run => self.run_sealed_line(conn, line, seal, now),
            Gate::DrainThenRun => {
                self.run_held(conn, now);
                if self.connections.contains_key(&conn) {
                    self.run_sealed_line(conn, line, seal, now);
                }
            }
            Gate::Close => self.close_with_error(conn, "Excess Flood", now),
            Gate::Hold => {
                c.fakelag.lines.push_back((line.to_string(), seal));
                c.fakelag.bytes += line.len();
                if c.fakelag.due.is_none() {
                    if let Some(pace) = pace {
                        let at = pace.ready_at(c.flood_clock);
                        self.set_flood_timer(conn, at);
                    }
                }
            }
        }
    }

    /// Runs the held lines of every connection whose turn has come, in
    /// deadline order (then connection order).
    pub(super) fn handle_flood_timeouts(&mut self, now: Now) {
        let mut due = Vec::new();
        while let Some(&(at, conn)) = self.flood_timers.first() {
            if at > now.mono {
                break;
            }
            self.flood_timers.pop_first();
            due.push(conn);
        }
        for conn in due {
            if let Some(c) = self.connections.get_mut(&conn) {
                c.fakelag.due = None;
            }
            self.run_held(conn, now);
        }
    }

    /// Runs `conn`'s held lines, oldest first, while the budget allows (all
    /// of them when it is exempt or flood control is off); then schedules
    /// the rest, or, when none is left and the client had hung up, lets it
    /// leave.
    pub(super) fn run_held(&mut self, conn: ConnId, now: Now) {
        let pace = self.pace();
        loop {
            let Some(c) = self.connections.get_mut(&conn) else {
                return; // the last line was QUIT, or it was closed meanwhile
            };
            if c.fakelag.lines.is_empty() {
                let hangup = c.fakelag.hangup.take();
                self.clear_flood_timer(conn);
                if let Some(reason) = hangup {
                    self.remove(conn, &reason, false, now);
                }
                return;
            }
            if let Some(pace) = pace.filter(|_| !c.is_flood_exempt()) {
                if !pace.try_charge(&mut c.flood_clock, now.mono) {
                    let at = pace.ready_at(c.flood_clock);
                    self.set_flood_timer(conn, at);
                    return;
                }
            }
            let Some((line, seal)) = c.fakelag.lines.pop_front() else {
                return; // never: it was not empty just above
            };
            c.fakelag.bytes = c.fakelag.bytes.saturating_sub(line.len());
            self.run_sealed_line(conn, &line, seal, now);
        }
    }

    /// The connection ended (EOF, reset, SendQ): it leaves now, or, with
    /// lines still held, once they have run.
    pub(super) fn handle_disconnected(&mut self, conn: ConnId, reason: &str, now: Now) {
        if let Some(c) = self.connections.get_mut(&conn) {
            // Held lines always have a deadline; the check keeps a
            // connection from lingering forever if that ever broke.
            if !c.fakelag.lines.is_empty() && c.fakelag.due.is_some() {
                c.fakelag.hangup = Some(reason.to_string());
                return;
            }
        }
        self.remove(conn, reason, false, now);
    }

    /// Moves `conn`'s flood deadline to `at`.
    fn set_flood_timer(&mut self, conn: ConnId, at: Instant) {
        if let Some(c) = self.connections.get_mut(&conn) {
            if let Some(old) = c.fakelag.due.replace(at) {
                self.flood_timers.remove(&(old, conn));
            }
            self.flood_timers.insert((at, conn));
        }
    }

    /// Forgets `conn`'s flood deadline (it is closing).
    pub(super) fn clear_flood_timer(&mut self, conn: ConnId) {
        if let Some(due) = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.fakelag.due.take())
        {
            self.flood_timers.remove(&(due, conn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_the_burst_then_one_line_per_cost() {
        let pace = Pace::new(10, 3).expect("on");
        let mut clock = Instant(0);
        let now = Instant(1_000);
        for _ in 0..3 {
            assert!(pace.try_charge(&mut clock, now));
        }
        assert!(!pace.try_charge(&mut clock, now));
        assert_eq!(clock, Instant(1_300), "a refused line costs nothing");
        assert_eq!(pace.ready_at(clock), Instant(1_100));
        assert!(!pace.try_charge(&mut clock, Instant(1_099)));
        assert!(pace.try_charge(&mut clock, Instant(1_100)));
        assert_eq!(pace.lines_ahead(clock, Instant(1_100)), 3);
    }

    #[test]
    fn a_burst_of_zero_still_lets_one_line_through_at_the_rate() {
        let pace = Pace::new(1, 0).expect("on");
        let mut clock = Instant(0);
        assert!(pace.try_charge(&mut clock, Instant(0)));
        assert!(!pace.try_charge(&mut clock, Instant(999)));
        assert_eq!(pace.ready_at(clock), Instant(1_000));
        assert!(pace.try_charge(&mut clock, Instant(1_000)));
        assert!(Pace::new(0, 10).is_none(), "rate 0 is off");
    }

    #[test]
    fn ping_and_pong_are_told_apart_behind_tags_and_a_source() {
        assert!(is_ping_or_pong("PING x"));
        assert!(is_ping_or_pong("pong :x"));
        assert!(is_ping_or_pong("@label=1 :me PONG x"));
        assert!(!is_ping_or_pong("PRIVMSG #a :PING"));
        assert!(!is_ping_or_pong("PINGS"));
        assert!(!is_ping_or_pong(""));
    }
}
