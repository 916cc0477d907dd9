//! What a benchmark run measured, for people (a table) and machines (JSON).
//!
//! Owns: `Report`, its JSON shape (stable field names that bench/report.py
//! reads) and the human table. Must never: measure anything itself or print
//! to a stream the caller did not choose.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;

use super::procstat::ProcSample;

/// Latency percentiles in milliseconds, from an HdrHistogram of microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub samples: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Summarise a histogram recorded in microseconds (`None` if empty).
    pub fn from_histogram_us(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            samples: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

/// The server's CPU and memory over a run (needs `--pid`).
///
/// A server may put work off until the measured phase is over (build
/// indexes, flush, compact): `cpu_s` alone would flatter it. After the run
/// natter-bench keeps the clients connected and watches the server's CPU
/// until it goes idle; `cpu_until_idle_s` is the measured phase plus that
/// after-work, and `cpu_us_per_delivery` is made from it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerStats {
    pub pid: u32,
    /// CPU seconds the server used during the measured phase.
    pub cpu_s: f64,
    /// CPU seconds it used after the measured phase until it went idle.
    pub cpu_after_s: f64,
    /// `cpu_s + cpu_after_s`: what the measured work cost in all.
    pub cpu_until_idle_s: f64,
    /// Seconds natter-bench waited after the measured phase for the server
    /// to go idle (less than 2 ms of CPU in 300 ms).
    pub idle_wait_s: f64,
    /// Whether it went idle; false: still busy at the 30 s cap or the
    /// `--timeout` (then `cpu_after_s` is a lower bound).
    pub went_idle: bool,
    /// `cpu_until_idle_s` per delivered message, in microseconds (runs that
    /// deliver messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_delivery: Option<f64>,
    /// CPU seconds the server used for setup and the measured phase.
    pub cpu_total_s: f64,
    /// Resident memory before the first client connected, KiB.
    pub rss_before_kib: u64,
    /// Resident memory at the end of the measured phase, KiB.
    pub rss_after_kib: u64,
    /// The server process's peak resident memory (VmHWM), KiB, by the time
    /// it went idle.
    pub peak_rss_kib: u64,
}

/// The server after the measured phase: its reading once idle (or at the
/// cap), and how long that took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AfterRun {
    pub sample: ProcSample,
    pub waited_s: f64,
    pub went_idle: bool,
}

impl ServerStats {
    /// From readings at the start, at the start and end of the measured
    /// phase, and once idle (`None`: the process could not be read then).
    pub(crate) fn from_samples(
        pid: u32,
        start: ProcSample,
        measured_start: ProcSample,
        end: ProcSample,
        after: Option<AfterRun>,
        deliveries: u64,
    ) -> ServerStats {
        let cpu_s = end.cpu_s - measured_start.cpu_s;
        let cpu_after_s = after.map_or(0.0, |a| (a.sample.cpu_s - end.cpu_s).max(0.0));
        let cpu_until_idle_s = cpu_s + cpu_after_s;
        ServerStats {
            pid,
            cpu_s,
            cpu_after_s,
            cpu_until_idle_s,
            idle_wait_s: after.map_or(0.0, |a| a.waited_s),
            went_idle: after.is_some_and(|a| a.went_idle),
            cpu_us_per_delivery: (deliveries > 0)
                .then(|| cpu_until_idle_s * 1e6 / deliveries as f64),
            cpu_total_s: end.cpu_s - start.cpu_s,
            rss_before_kib: start.rss_kib,
            rss_after_kib: end.rss_kib,
            peak_rss_kib: after.map_or(end.hwm_kib, |a| a.sample.hwm_kib.max(end.hwm_kib)),
        }
    }
}

/// What the `community` scenario adds to a report: the community's shape,
/// the churn, and the arrivals that were neither owed nor counted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommunityStats {
    /// The seed the rooms, talkers and churn were drawn from.
    pub seed: u64,
    /// Seconds of scheduled traffic and churn.
    pub duration_s: f64,
    /// Churn events offered per second (PART + re-JOIN, or QUIT + reconnect).
    pub churn_rate: f64,
    /// (client, room) pairs.
    pub memberships: usize,
    pub room_size_median: usize,
    pub room_size_p90: usize,
    pub room_size_max: usize,
    /// Rooms of 2 to 10 members.
    pub small_rooms: usize,
    pub max_rooms_per_client: usize,
    /// Receivers per message on average, rooms weighted as talkers are drawn.
    pub mean_receivers: f64,
    /// Messages the schedule offered.
    pub messages_scheduled: u64,
    /// Offered messages not sent: every member drawn to send was away.
    pub messages_skipped: u64,
    /// Churn events the schedule offered, and those skipped (every client
    /// drawn was already churning).
    pub churn_scheduled: u64,
    pub churn_skipped: u64,
    /// Completed PART + re-JOIN events (the re-JOIN confirmed).
    pub rejoins: u64,
    /// Completed QUIT + reconnect events (every room re-joined).
    pub reconnects: u64,
    /// `rejoins + reconnects`.
    pub churn_done: u64,
    /// Arrivals counted neither as deliveries nor as duplicates: history
    /// replayed on JOIN, or messages written before the receiver's JOIN was
    /// confirmed (a server may rightly deliver those or not).
    pub not_expected: u64,
    /// How long churn's announcements took to reach the other members:
    /// from when a churning client wrote its PART, QUIT or re-JOIN to when
    /// another member read the server's line telling of it (`None` when no
    /// member was told of any).
    pub announcement_latency: Option<Latency>,
}

/// Everything one scenario run measured. Fields that do not apply to a
/// scenario are `None` (and left out of the JSON).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[must_use]
pub struct Report {
    /// `fanout`, `rooms`, `idle`, `connect` or `community`.
    pub scenario: &'static str,
    /// The address that was benchmarked.
    pub server: String,
    /// Whether the clients spoke TLS (`--tls`) rather than plain TCP.
    pub tls: bool,
    /// Whether the clients spoke IRC over WebSocket (`--ws`).
    pub ws: bool,
    /// Connections opened.
    pub clients: usize,
    pub rooms: usize,
    /// Members of each room (0 for `community`, whose rooms differ: see
    /// `community`).
    pub members_per_room: usize,
    pub senders: usize,
    pub messages_per_sender: u32,
    /// Offered load in messages per second (all senders together), if paced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// In-flight window per sender, if not paced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Seconds to connect, register (and join) every client.
    pub setup_s: f64,
    /// Clients registered per second during setup.
    pub registrations_per_sec: f64,
    /// Connect-to-001 latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_latency: Option<Latency>,
    /// Seconds from the first send to the last delivery (or the timeout).
    pub run_s: f64,
    /// First arrivals of a message at a receiver (duplicates not counted).
    pub deliveries: u64,
    pub expected_deliveries: u64,
    /// Deliveries per second over `run_s`: messages in per second × (room
    /// size − 1), since every message goes to every other member.
    pub deliveries_per_sec: f64,
    /// Messages in per second through the server: `deliveries_per_sec ÷
    /// (members_per_room − 1)`, over the same `run_s`. For `community`,
    /// messages written per second over the send schedule.
    pub messages_per_sec: f64,
    /// Messages the senders wrote per second, from the start to their last
    /// write (the offered load actually achieved; not a server measurement).
    pub sends_per_sec: f64,
    /// What `latency` is measured from: `"scheduled"` (paced: each
    /// message's scheduled send time, so a stall counts as latency) or
    /// `"written"` (unpaced: when the sender wrote it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_from: Option<&'static str>,
    /// Send-to-delivery latency, from the time `latency_from` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Paced only: latency from when the sender actually wrote each message
    /// (hides generator and server stalls; for comparison, not for claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_uncorrected: Option<Latency>,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Messages that arrived after a later message from the same sender
    /// (each counted once, as reordered, and not as lost).
    pub reordered: u64,
    /// Messages that arrived again at the same receiver.
    pub duplicated: u64,
    /// Benchmark lines naming a sender that is not in the receiver's room.
    pub misrouted: u64,
    /// The hard timeout ended the run before every delivery arrived.
    pub timed_out: bool,
    /// Server RSS growth per connection (idle), KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_connection_kib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_stats: Option<ServerStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityStats>,
    /// natter-bench's own CPU seconds for the whole run (every thread).
    pub bench_cpu_s: f64,
    /// natter-bench's own CPU seconds during the measured phase.
    pub bench_cpu_measured_s: f64,
}

impl Report {
    /// True when nothing was lost, reordered, duplicated or misrouted and the
    /// run finished in time.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.reordered == 0
            && self.duplicated == 0
            && self.misrouted == 0
            && !self.timed_out
    }

    /// A human-readable table, one measurement per line.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(t, "  {k:<28} {v}");
        };
        row(
            "scenario",
            format!(
                "{} against {}{}",
                self.scenario,
                self.server,
                match (self.ws, self.tls) {
                    (true, true) => " over WebSocket (wss)",
                    (true, false) => " over WebSocket",
                    (false, true) => " over TLS",
                    (false, false) => "",
                }
            ),
        );
        if let Some(c) = &self.community {
            row(
                "clients",
                format!(
                    "{} in {} rooms ({} memberships; room size median {}, p90 {}, max {}; \
                     {} rooms of 2-10; seed {})",
                    self.clients,
                    self.rooms,
                    c.memberships,
                    c.room_size_median,
                    c.room_size_p90,
                    c.room_size_max,
                    c.small_rooms,
                    c.seed
                ),
            );
            row(
                "schedule",
                format!(
                    "{:.0} s; churn {:.1} events/s offered",
                    c.duration_s, c.churn_rate
                ),
            );
        } else {
            row(
                "clients",
                format!(
                    "{} ({} room(s) x {} members, {} sender(s) x {} msgs)",
                    self.clients,
                    self.rooms,
                    self.members_per_room,
                    self.senders,
                    self.messages_per_sender
                ),
            );
        }
        if let Some(r) = self.rate {
            row("offered load", format!("{r:.0} msg/s"));
        }
        if let Some(w) = self.window {
            row("window per sender", format!("{w} msgs in flight"));
        }
        row(
            "setup",
            format!(
                "{:.2} s ({:.0} registrations/s)",
                self.setup_s, self.registrations_per_sec
            ),
        );
        if let Some(l) = &self.registration_latency {
            row(
                "connect->001 latency",
                format!(
                    "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                    l.p50_ms, l.p99_ms, l.max_ms
                ),
            );
        }
        if self.expected_deliveries > 0 {
            row("run", format!("{:.2} s", self.run_s));
            row(
                "deliveries",
                format!("{} of {}", self.deliveries, self.expected_deliveries),
            );
            if let Some(c) = &self.community {
                row(
                    "deliveries/s",
                    format!(
                        "{:.0} ({:.0} messages in/s, {:.1} receivers per message expected)",
                        self.deliveries_per_sec, self.messages_per_sec, c.mean_receivers
                    ),
                );
            } else {
                row(
                    "deliveries/s",
                    format!(
                        "{:.0} = {:.0} messages in/s x {} receivers (room size - 1)",
                        self.deliveries_per_sec,
                        self.messages_per_sec,
                        self.members_per_room.saturating_sub(1)
                    ),
                );
            }
            row(
                "sends/s",
                format!("{:.0} written by the senders", self.sends_per_sec),
            );
            let pct = |l: &Latency| {
                format!(
                    "p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
                    l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
                )
            };
            if let Some(l) = &self.latency {
                let label = match self.latency_from {
                    Some("scheduled") => "latency (from schedule)",
                    _ => "latency (from write)",
                };
                row(label, pct(l));
            }
            if let Some(l) = &self.latency_uncorrected {
                row("latency uncorrected", pct(l));
            }
            row(
                "lost / reordered / dup",
                format!(
                    "{} / {} / {}{}",
                    self.lost,
                    self.reordered,
                    self.duplicated,
                    if self.misrouted > 0 {
                        format!(" / misrouted {}", self.misrouted)
                    } else {
                        String::new()
                    }
                ),
            );
        }
        if let Some(c) = &self.community {
            if let Some(l) = &c.announcement_latency {
                row(
                    "announcement latency",
                    format!(
                        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} JOIN/PART/QUIT lines)",
                        l.p50_ms, l.p99_ms, l.max_ms, l.samples
                    ),
                );
            }
            row(
                "churn done",
                format!(
                    "{} ({} PART+JOIN, {} QUIT+reconnect; {} offered, {} skipped)",
                    c.churn_done, c.rejoins, c.reconnects, c.churn_scheduled, c.churn_skipped
                ),
            );
            row(
                "not expected",
                format!(
                    "{} arrivals written before the receiver's JOIN completed \
                     (history replay), not counted",
                    c.not_expected
                ),
            );
            if c.messages_skipped > 0 {
                row(
                    "messages skipped",
                    format!(
                        "{} of {} scheduled (every member drawn was away)",
                        c.messages_skipped, c.messages_scheduled
                    ),
                );
            }
        }
        if let Some(k) = self.rss_per_connection_kib {
            row("server RSS per connection", format!("{k:.1} KiB"));
        }
        if let Some(s) = &self.server_stats {
            row(
                "server CPU",
                format!(
                    "{:.2} s measured phase, {:.2} s setup + measured (pid {})",
                    s.cpu_s, s.cpu_total_s, s.pid
                ),
            );
            row(
                "server CPU until idle",
                format!(
                    "{:.2} s = {:.2} s measured + {:.2} s after it ({} after {:.1} s)",
                    s.cpu_until_idle_s,
                    s.cpu_s,
                    s.cpu_after_s,
                    if s.went_idle {
                        "went idle"
                    } else {
                        "STILL BUSY"
                    },
                    s.idle_wait_s
                ),
            );
            if let Some(us) = s.cpu_us_per_delivery {
                row(
                    "server CPU per delivery",
                    format!("{us:.3} us (until idle)"),
                );
            }
            row(
                "server memory",
                format!(
                    "RSS {} -> {} KiB, peak {} KiB",
                    s.rss_before_kib, s.rss_after_kib, s.peak_rss_kib
                ),
            );
        }
        row(
            "natter-bench CPU",
            format!(
                "{:.2} s measured phase, {:.2} s whole run (all threads)",
                self.bench_cpu_measured_s, self.bench_cpu_s
            ),
        );
        if self.timed_out {
            row("TIMED OUT", "the run hit --timeout; see lost".to_string());
        }
        t
    }
}
