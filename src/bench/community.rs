//! The `community` scenario: a few thousand clients in hundreds of rooms of
//! heavy-tailed sizes, talking at a fixed total rate for a fixed time while
//! some leave and rejoin rooms and some disconnect and reconnect.
//!
//! Owns: one task per client (connect, register, JOIN its rooms, then read
//! and act: send, PART and re-JOIN, QUIT and reconnect), the scheduler that
//! offers messages and churn on a fixed schedule ([`Pacer`]), the drain at
//! the end, and the report. The community's shape comes from `layout.rs`;
//! what each receiver was owed, from `membership.rs`.
//! Must never: spawn threads, run without a deadline, connect anywhere but
//! the configured address, count a message a server may rightly not deliver
//! (see `membership.rs`), or allocate per message on the receive path (the
//! send log grows by 16 bytes per message sent).
//!
//! Every message is due at a time on one schedule (`rate` per second over
//! all talkers) and carries that time, so latency is measured from it
//! (coordinated omission corrected, as in `fanout --rate`). The talker is
//! drawn when the message is due: a room by √size, a member of it by
//! 1 / (slot + 1); if the member drawn is away, another is drawn. Churn is
//! a second schedule (`churn` per second): a client drawn among those in
//! all their rooms either PARTs one room and re-JOINs it 50–500 ms later,
//! or QUITs, waits as long, reconnects with the same nick and re-JOINs
//! every room. The shape and both schedules follow from the seed; who is
//! away at a given moment depends on how fast the server answers.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_listener::Event;
use futures_lite::future;
use hdrhistogram::Histogram;
use smol::lock::{Semaphore, SemaphoreGuardArc};
use smol::{LocalExecutor, Timer};

use super::conn::{handshake, is_refusal, Conn};
use super::engine::{histogram, progress, run_tag, until_idle, wait_until, write_out, Signals};
use super::error::BenchError;
use super::layout::{Layout, MIN_ROOM};
use super::membership::{End, Presence, RoomView, StreamLog, Tally, Verdict};
use super::pace::Pacer;
use super::procstat::{own_cpu_s, sample};
use super::report::{CommunityStats, Latency, Report, ServerStats};
use super::rng::Rng;
use super::stream::{BenchStream, Connector};
use super::wire::{classify, lossy, push_privmsg, Line};
use super::{CommunityConfig, ACTIVE_BUF};

/// Shortest and longest time a churning client stays away.
const AWAY_MIN_NS: f64 = 50e6;
const AWAY_MAX_NS: f64 = 500e6;
/// Draws before an offered message or churn event is skipped because every
/// client drawn was away (or already churning).
const DRAWS: usize = 8;
/// Seeds of the talker and churn draws, apart from the layout's.
const TALK_SALT: u64 = 0x7a1c_5eed_0000_0001;
const CHURN_SALT: u64 = 0xc4d2_5eed_0000_0002;

/// Something a client's task is asked to write.
#[derive(Debug)]
enum Action {
    /// A message to its `ix`-th room, due at `due_ns`.
    Send { ix: usize, due_ns: u64 },
    /// PART its `ix`-th room; re-JOIN `away_ns` after writing the PART.
    Part { ix: usize, away_ns: u64 },
    /// QUIT (then reconnect once the server has closed the connection).
    Quit,
    /// Answer a PING (through the same writer as everything else, so lines
    /// never interleave).
    Pong(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Churn {
    Rejoin,
    Reconnect,
}

/// One client's state, shared by its reader, its writer and the scheduler.
struct Client {
    /// Its view of each of its rooms, in `Layout::rooms_of` order.
    rooms: Vec<RoomView>,
    mailbox: VecDeque<Action>,
    /// Rooms (by index) to re-JOIN, and when.
    rejoin: Vec<(usize, u64)>,
    /// A QUIT is decided; `quit_sent`: and written.
    quitting: bool,
    quit_sent: bool,
    /// How long to stay away after the QUIT.
    away_ns: u64,
    /// The churn event in progress, if any.
    churn: Option<Churn>,
    /// In all its rooms at least once (counted as set up).
    ready: bool,
    /// Its handshake slot, held until it is in all its rooms.
    permit: Option<SemaphoreGuardArc>,
    /// The nick of the current connection.
    nick: String,
    /// When it last wrote a churn JOIN, PART and QUIT (0: not yet), for
    /// the announcements' latency.
    announced: Announced,
}

/// When a churning client last wrote each kind of line the server tells
/// the other members of (nanoseconds since the run's base; 0: never).
#[derive(Debug, Default, Clone, Copy)]
struct Announced {
    join_ns: u64,
    part_ns: u64,
    quit_ns: u64,
}

/// Which announcement a member read.
#[derive(Debug, Clone, Copy)]
enum Announcement {
    Join,
    Part,
    Quit,
}

impl Client {
    fn all_in(&self) -> bool {
        self.rooms
            .iter()
            .all(|v| matches!(v.presence, Presence::In { .. }))
    }

    /// In all its rooms with nothing in progress: may start churning.
    fn settled(&self) -> bool {
        self.churn.is_none() && !self.quitting && self.all_in()
    }

    /// Whether there is something to write now, and otherwise when the
    /// next re-JOIN falls due (only rooms whose PART is confirmed).
    fn work(&self, now: u64) -> (bool, Option<u64>) {
        let rejoins = self
            .rejoin
            .iter()
            .filter(|&&(ix, _)| self.rooms[ix].presence == Presence::Out)
            .map(|&(_, at)| at);
        let next = rejoins.min();
        (
            !self.mailbox.is_empty() || next.is_some_and(|at| at <= now),
            next,
        )
    }
}

#[derive(Default)]
struct Counters {
    delivered: Cell<u64>,
    duplicated: Cell<u64>,
    reordered: Cell<u64>,
    misrouted: Cell<u64>,
    not_expected: Cell<u64>,
    expected: Cell<u64>,
    lost: Cell<u64>,
    sent: Cell<u64>,
    scheduled: Cell<u64>,
    skipped: Cell<u64>,
    churn_scheduled: Cell<u64>,
    churn_skipped: Cell<u64>,
    rejoins: Cell<u64>,
    reconnects: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

struct World {
    cfg: CommunityConfig,
    layout: Layout,
    connector: Connector,
    tag: String,
    channels: Vec<String>,
    /// `#b<tag>-`: channel names are this and the room number.
    prefix: String,
    base: Instant,
    sem: Arc<Semaphore>,
    sig: Signals,
    clients: Vec<RefCell<Client>>,
    wake: Vec<Event>,
    /// One log per stream (`Layout::stream`).
    logs: RefCell<Vec<StreamLog>>,
    /// From each message's scheduled send time.
    lat: RefCell<Histogram<u64>>,
    /// From when its sender actually wrote it.
    lat_written: RefCell<Histogram<u64>>,
    reg_lat: RefCell<Histogram<u64>>,
    /// From when a churning client wrote a JOIN, PART or QUIT to when
    /// another member read the server's announcement of it.
    announce_lat: RefCell<Histogram<u64>>,
    n: Counters,
    ready: Cell<usize>,
    go_ns: Cell<u64>,
    schedule_done: Cell<bool>,
    last_send_ns: Cell<u64>,
    last_delivery_ns: Cell<u64>,
}

impl AsRef<Signals> for World {
    fn as_ref(&self) -> &Signals {
        &self.sig
    }
}

impl World {
    fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    fn ns_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn nick(&self, idx: usize) -> String {
        format!("b{}{idx}", self.tag)
    }

    /// The index of `room` among client `idx`'s rooms.
    fn room_ix(&self, idx: usize, room: usize) -> Option<usize> {
        self.layout.rooms_of[idx]
            .iter()
            .position(|&(r, _)| r as usize == room)
    }

    /// The client a nick from the server is ([`World::nick`]), if ours.
    fn client_of_nick(&self, nick: &[u8]) -> Option<usize> {
        let tag = self.tag.as_bytes();
        let digits = match nick {
            [b'b' | b'B', rest @ ..] if rest.len() > tag.len() => {
                let (t, digits) = rest.split_at(tag.len());
                t.eq_ignore_ascii_case(tag).then_some(digits)?
            }
            _ => return None,
        };
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let idx: usize = std::str::from_utf8(&digits[..end]).ok()?.parse().ok()?;
        (idx < self.clients.len()).then_some(idx)
    }

    /// Client `reader` read, at `at`, the server's announcement that
    /// `nick` joined, left or quit: if that was a churning client's line,
    /// its latency counts (from the last such line the client wrote).
    fn announcement(&self, reader: usize, nick: &[u8], kind: Announcement, at: u64) {
        let Some(idx) = self.client_of_nick(nick).filter(|&idx| idx != reader) else {
            return;
        };
        let a = self.clients[idx].borrow().announced;
        let written = match kind {
            Announcement::Join => a.join_ns,
            Announcement::Part => a.part_ns,
            Announcement::Quit => a.quit_ns,
        };
        if written > 0 && written <= at {
            let us = ((at - written) / 1000).max(1);
            self.announce_lat.borrow_mut().saturating_record(us);
        }
    }

    /// The room a channel name from the server names, if it is one of ours.
    fn room_of_channel(&self, channel: &[u8]) -> Option<usize> {
        let p = self.prefix.as_bytes();
        if channel.len() <= p.len() || !channel[..p.len()].eq_ignore_ascii_case(p) {
            return None;
        }
        let digits = std::str::from_utf8(&channel[p.len()..]).ok()?;
        let room: usize = digits.parse().ok()?;
        (room < self.channels.len()).then_some(room)
    }

    fn room_streams(&self, room: usize) -> std::ops::Range<usize> {
        let first = self.layout.stream(room, 0) as usize;
        first..first + self.layout.members[room].len()
    }

    fn tally(&self, t: Tally) {
        let n = &self.n;
        n.expected.set(n.expected.get() + t.expected);
        n.lost.set(n.lost.get() + t.lost());
    }

    /// A benchmark message arrived at client `idx` at `at`.
    fn arrive(
        &self,
        idx: usize,
        stream: u32,
        seq: u32,
        sent_ns: u64,
        written: Option<u64>,
        at: u64,
    ) {
        let n = &self.n;
        let Some((room, slot)) = self.layout.stream_room(stream) else {
            return bump(&n.misrouted);
        };
        let Some(ix) = self.room_ix(idx, room) else {
            return bump(&n.misrouted);
        };
        let mut c = self.clients[idx].borrow_mut();
        let mut logs = self.logs.borrow_mut();
        let log = &mut logs[stream as usize];
        log.seen(seq, at);
        match c.rooms[ix].arrive(slot, seq, log) {
            Verdict::Delivered { reordered } => {
                if reordered {
                    bump(&n.reordered);
                }
                let us = |from: u64| (at.saturating_sub(from) / 1000).max(1);
                self.lat.borrow_mut().saturating_record(us(sent_ns));
                if let Some(w) = written {
                    self.lat_written.borrow_mut().saturating_record(us(w));
                }
                bump(&n.delivered);
                self.last_delivery_ns.set(at);
            }
            Verdict::Duplicate => bump(&n.duplicated),
            Verdict::NotExpected => bump(&n.not_expected),
            Verdict::Misrouted => bump(&n.misrouted),
        }
    }

    /// The server confirmed client `idx`'s JOIN of `room` (366) at `at`.
    fn joined(&self, idx: usize, room: usize, at: u64) {
        let Some(ix) = self.room_ix(idx, room) else {
            return;
        };
        let mut c = self.clients[idx].borrow_mut();
        if !c.rooms[ix].joined(at) || !c.all_in() {
            return;
        }
        if !c.ready {
            c.ready = true;
            c.permit = None;
            self.ready.set(self.ready.get() + 1);
            self.sig.changed.notify(usize::MAX);
        }
        match c.churn.take() {
            Some(Churn::Rejoin) => bump(&self.n.rejoins),
            Some(Churn::Reconnect) => bump(&self.n.reconnects),
            None => {}
        }
    }

    /// The server confirmed client `idx`'s PART of `room`.
    fn parted(&self, idx: usize, room: usize) {
        let Some(ix) = self.room_ix(idx, room) else {
            return;
        };
        let mut c = self.clients[idx].borrow_mut();
        if !matches!(c.rooms[ix].presence, Presence::Leaving { .. }) {
            return;
        }
        let logs = self.logs.borrow();
        let t = c.rooms[ix].close(End::Part, &logs[self.room_streams(room)]);
        self.tally(t);
        self.wake[idx].notify(1);
    }

    /// The server closed client `idx`'s connection after its QUIT.
    fn quit_closed(&self, idx: usize) {
        let mut c = self.clients[idx].borrow_mut();
        let logs = self.logs.borrow();
        for (ix, &(room, _)) in self.layout.rooms_of[idx].iter().enumerate() {
            let t = c.rooms[ix].close(End::Quit, &logs[self.room_streams(room as usize)]);
            self.tally(t);
        }
        c.quit_sent = false;
        c.mailbox.clear();
        c.rejoin.clear();
    }

    /// Offer message due at `due_ns` to a talker drawn from the layout.
    fn offer_message(&self, rng: &mut Rng, due_ns: u64) {
        bump(&self.n.scheduled);
        for _ in 0..DRAWS {
            let (room, slot) = self.layout.pick_talker(rng);
            let idx = self.layout.members[room][slot] as usize;
            let Some(ix) = self.room_ix(idx, room) else {
                continue;
            };
            let mut c = self.clients[idx].borrow_mut();
            if !c.quitting && matches!(c.rooms[ix].presence, Presence::In { .. }) {
                c.mailbox.push_back(Action::Send { ix, due_ns });
                self.wake[idx].notify(1);
                return;
            }
        }
        bump(&self.n.skipped);
    }

    /// Start a churn event on a client drawn among the settled ones.
    fn offer_churn(&self, rng: &mut Rng) {
        bump(&self.n.churn_scheduled);
        let away_ns = (AWAY_MIN_NS + rng.unit() * (AWAY_MAX_NS - AWAY_MIN_NS)) as u64;
        let reconnect = rng.below(2) == 1;
        for _ in 0..DRAWS {
            let idx = rng.below(self.clients.len());
            let mut c = self.clients[idx].borrow_mut();
            if !c.settled() {
                continue;
            }
            let leave = |v: &mut RoomView| {
                if let Presence::In { since_ns } = v.presence {
                    v.presence = Presence::Leaving {
                        since_ns,
                        part_ns: None,
                    };
                }
            };
            if reconnect {
                c.rooms.iter_mut().for_each(leave);
                c.quitting = true;
                c.away_ns = away_ns;
                c.churn = Some(Churn::Reconnect);
                c.mailbox.push_back(Action::Quit);
            } else {
                let ix = rng.below(c.rooms.len());
                leave(&mut c.rooms[ix]);
                c.churn = Some(Churn::Rejoin);
                c.mailbox.push_back(Action::Part { ix, away_ns });
            }
            self.wake[idx].notify(1);
            return;
        }
        bump(&self.n.churn_skipped);
    }

    /// Put everything client `idx` has to write into `out`; returns the
    /// messages among it and whether it ends with a QUIT.
    fn fill(&self, idx: usize, out: &mut Vec<u8>, now: u64) -> (u64, bool) {
        let mut c = self.clients[idx].borrow_mut();
        let c = &mut *c;
        let mut logs = self.logs.borrow_mut();
        let rooms = &self.layout.rooms_of[idx];
        let mut sent = 0;
        while let Some(a) = c.mailbox.pop_front() {
            match a {
                Action::Send { ix, due_ns } => {
                    let (room, slot) = rooms[ix];
                    let stream = self.layout.stream(room as usize, slot as usize);
                    let seq = logs[stream as usize].write(now);
                    let chan = &self.channels[room as usize];
                    push_privmsg(out, chan, stream, seq, due_ns, Some(now));
                    sent += 1;
                }
                Action::Part { ix, away_ns } => {
                    if let Presence::Leaving { since_ns, .. } = c.rooms[ix].presence {
                        c.rooms[ix].presence = Presence::Leaving {
                            since_ns,
                            part_ns: Some(now),
                        };
                    }
                    push_line(out, "PART ", &self.channels[rooms[ix].0 as usize]);
                    c.announced.part_ns = now;
                    c.rejoin.push((ix, now + away_ns));
                }
                Action::Quit => {
                    out.extend_from_slice(b"QUIT :natter-bench churn\r\n");
                    c.announced.quit_ns = now;
                    c.quit_sent = true;
                    return (sent, true);
                }
                Action::Pong(token) => {
                    out.extend_from_slice(b"PONG ");
                    out.extend_from_slice(&token);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        let mut i = 0;
        while i < c.rejoin.len() {
            let (ix, at) = c.rejoin[i];
            if at <= now && c.rooms[ix].presence == Presence::Out {
                push_line(out, "JOIN ", &self.channels[rooms[ix].0 as usize]);
                c.announced.join_ns = now;
                c.rooms[ix].presence = Presence::Joining;
                c.rejoin.swap_remove(i);
            } else {
                i += 1;
            }
        }
        (sent, false)
    }

    /// Everything settled and every owed message arrived: the run may end.
    fn drained(&self) -> bool {
        let logs = self.logs.borrow();
        self.clients.iter().enumerate().all(|(idx, c)| {
            let c = c.borrow();
            c.settled()
                && c.mailbox.is_empty()
                && self.layout.rooms_of[idx]
                    .iter()
                    .zip(&c.rooms)
                    .all(|(&(room, _), v)| {
                        v.outstanding(&logs[self.room_streams(room as usize)]) == 0
                    })
        })
    }

    /// Close every interval still open: the run is over.
    fn close_all(&self) {
        let logs = self.logs.borrow();
        for (idx, c) in self.clients.iter().enumerate() {
            let mut c = c.borrow_mut();
            for (ix, &(room, _)) in self.layout.rooms_of[idx].iter().enumerate() {
                let end = match c.rooms[ix].presence {
                    Presence::In { .. } => End::RunOver,
                    Presence::Leaving {
                        part_ns: Some(_), ..
                    } => End::Part,
                    Presence::Leaving { part_ns: None, .. } => End::Quit,
                    Presence::Out | Presence::Joining => continue,
                };
                let t = c.rooms[ix].close(end, &logs[self.room_streams(room as usize)]);
                self.tally(t);
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, command: &str, channel: &str) {
    out.extend_from_slice(command.as_bytes());
    out.extend_from_slice(channel.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Run the community scenario (the config is checked by the caller).
pub(crate) fn run(cfg: CommunityConfig) -> Result<Report, BenchError> {
    let layout = Layout::generate(cfg.clients, cfg.rooms, cfg.seed).map_err(BenchError::Config)?;
    // More open files than the default 1024: as many as the hard limit allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(orchestrate(&ex, cfg, layout)))
}

async fn orchestrate(
    ex: &LocalExecutor<'_>,
    cfg: CommunityConfig,
    layout: Layout,
) -> Result<Report, BenchError> {
    let bench_cpu0 = own_cpu_s();
    let pid = cfg.common.pid;
    let srv_start = pid.and_then(|p| sample(Some(p)));
    let t_start = Instant::now();
    let deadline = t_start + cfg.common.timeout;
    let show = cfg.common.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let tag = run_tag();
    let prefix = format!("#b{tag}-");
    let channels: Vec<String> = (0..cfg.rooms).map(|r| format!("{prefix}{r}")).collect();
    let clients = layout
        .rooms_of
        .iter()
        .map(|rs| {
            let rooms = rs
                .iter()
                .map(|&(r, slot)| RoomView::new(slot as usize, layout.members[r as usize].len()))
                .collect();
            RefCell::new(Client {
                rooms,
                mailbox: VecDeque::new(),
                rejoin: Vec::new(),
                quitting: false,
                quit_sent: false,
                away_ns: 0,
                churn: None,
                ready: false,
                permit: None,
                nick: String::new(),
                announced: Announced::default(),
            })
        })
        .collect();
    let n = cfg.clients;
    let w = Rc::new(World {
        connector: Connector::new(
            cfg.common.addr,
            &cfg.common.more,
            cfg.common.tls,
            cfg.common.ws,
        )?,
        tag,
        channels,
        prefix,
        base: t_start,
        sem: Arc::new(Semaphore::new(cfg.common.concurrency.max(1))),
        sig: Signals::new(),
        clients,
        wake: (0..n).map(|_| Event::new()).collect(),
        logs: RefCell::new(vec![StreamLog::default(); layout.streams()]),
        lat: RefCell::new(histogram()?),
        lat_written: RefCell::new(histogram()?),
        reg_lat: RefCell::new(histogram()?),
        announce_lat: RefCell::new(histogram()?),
        n: Counters::default(),
        ready: Cell::new(0),
        go_ns: Cell::new(0),
        schedule_done: Cell::new(false),
        last_send_ns: Cell::new(0),
        last_delivery_ns: Cell::new(0),
        layout,
        cfg,
    });
    for idx in 0..n {
        ex.spawn(client(w.clone(), idx)).detach();
    }

    // Setup: every client connected, registered and in all its rooms.
    let bar = progress(show, n as u64, "connecting");
    let all_in = wait_until(
        &*w,
        deadline,
        &bar,
        |w| w.ready.get() == n,
        |w| w.ready.get() as u64,
    )
    .await?;
    bar.finish_and_clear();
    if !all_in {
        return Err(BenchError::Timeout {
            phase: "registration and JOIN",
            done: w.ready.get(),
            wanted: n,
            secs: w.cfg.common.timeout.as_secs_f64(),
        });
    }
    let setup_s = t_start.elapsed().as_secs_f64();
    let srv_mid = pid.and_then(|p| sample(Some(p)));
    let bench_cpu_mid = own_cpu_s();

    // Measured phase: the schedule, then the drain.
    let go = w.now_ns();
    w.go_ns.set(go);
    ex.spawn(schedule(w.clone())).detach();
    let secs = w.cfg.duration.as_secs().max(1);
    let bar = progress(show, secs, "running");
    let finished = wait_until(
        &*w,
        deadline,
        &bar,
        |w| w.schedule_done.get(),
        |w| (w.now_ns().saturating_sub(go) / 1_000_000_000).min(secs),
    )
    .await?;
    bar.finish_and_clear();
    let drained = finished
        && wait_until(
            &*w,
            deadline,
            &indicatif::ProgressBar::hidden(),
            |w| w.drained(),
            |_| 0,
        )
        .await?;
    w.close_all();
    let end_ns = if drained {
        w.last_delivery_ns.get().max(go)
    } else {
        w.now_ns()
    };
    let run_s = end_ns.saturating_sub(go) as f64 / 1e9;
    let srv_end = pid.and_then(|p| sample(Some(p)));
    let after = match pid {
        Some(p) if srv_end.is_some() => until_idle(p, deadline).await,
        _ => None,
    };

    let c = &w.n;
    let delivered = c.delivered.get();
    let sent = c.sent.get();
    let send_s = w.last_send_ns.get().saturating_sub(go) as f64 / 1e9;
    let per_sec = |count: u64, secs: f64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let server_stats = match (pid, srv_start, srv_mid, srv_end) {
        (Some(p), Some(a), Some(b), Some(e)) => {
            Some(ServerStats::from_samples(p, a, b, e, after, delivered))
        }
        _ => None,
    };
    let layout = &w.layout;
    let mut sizes: Vec<usize> = layout.members.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let pct = |q: f64| sizes[((sizes.len() as f64 * q).ceil() as usize).clamp(1, sizes.len()) - 1];
    let senders = w.logs.borrow().iter().filter(|l| l.sent() > 0).count();
    let registration_latency = Latency::from_histogram_us(&w.reg_lat.borrow());
    let latency = Latency::from_histogram_us(&w.lat.borrow());
    let latency_uncorrected = Latency::from_histogram_us(&w.lat_written.borrow());
    let community = CommunityStats {
        seed: w.cfg.seed,
        duration_s: w.cfg.duration.as_secs_f64(),
        churn_rate: w.cfg.churn,
        memberships: layout.streams(),
        room_size_median: pct(0.5),
        room_size_p90: pct(0.9),
        room_size_max: pct(1.0),
        small_rooms: sizes
            .iter()
            .filter(|&&s| (MIN_ROOM..=10).contains(&s))
            .count(),
        max_rooms_per_client: layout.rooms_of.iter().map(Vec::len).max().unwrap_or(0),
        mean_receivers: layout.mean_receivers(),
        messages_scheduled: c.scheduled.get(),
        messages_skipped: c.skipped.get(),
        churn_scheduled: c.churn_scheduled.get(),
        churn_skipped: c.churn_skipped.get(),
        rejoins: c.rejoins.get(),
        reconnects: c.reconnects.get(),
        churn_done: c.rejoins.get() + c.reconnects.get(),
        not_expected: c.not_expected.get(),
        announcement_latency: Latency::from_histogram_us(&w.announce_lat.borrow()),
    };
    // One reading for both figures: two could disagree by a tick, and the
    // measured phase would then seem to cost more than the whole run.
    let bench_cpu_end = own_cpu_s();
    Ok(Report {
        scenario: "community",
        server: w.cfg.common.servers(),
        tls: w.cfg.common.tls,
        ws: w.cfg.common.ws,
        clients: n,
        rooms: w.cfg.rooms,
        members_per_room: 0,
        senders,
        messages_per_sender: 0,
        rate: Some(w.cfg.rate),
        window: None,
        setup_s,
        registrations_per_sec: per_sec(n as u64, setup_s),
        registration_latency,
        run_s,
        deliveries: delivered,
        expected_deliveries: c.expected.get(),
        deliveries_per_sec: per_sec(delivered, run_s),
        messages_per_sec: per_sec(sent, send_s),
        sends_per_sec: per_sec(sent, send_s),
        latency_from: Some("scheduled"),
        latency,
        latency_uncorrected,
        lost: c.lost.get(),
        reordered: c.reordered.get(),
        duplicated: c.duplicated.get(),
        misrouted: c.misrouted.get(),
        timed_out: !drained,
        rss_per_connection_kib: None,
        server_stats,
        community: Some(community),
        bench_cpu_s: bench_cpu_end - bench_cpu0,
        bench_cpu_measured_s: bench_cpu_end - bench_cpu_mid,
    })
}

/// Offer messages and churn on their schedules until the duration is up.
async fn schedule(w: Rc<World>) {
    let go = w.go_ns.get();
    let cfg = &w.cfg;
    let secs = cfg.duration.as_secs_f64();
    let count = |per_sec: f64| (per_sec * secs).round().clamp(0.0, f64::from(u32::MAX)) as u32;
    let mut talk = Rng::new(cfg.seed ^ TALK_SALT);
    let mut churn_rng = Rng::new(cfg.seed ^ CHURN_SALT);
    let mut msgs = Pacer::new(go, 1e9 / cfg.rate, count(cfg.rate));
    let churn_ns = if cfg.churn > 0.0 {
        1e9 / cfg.churn
    } else {
        0.0
    };
    // Churn half an interval after the messages start, then evenly.
    let mut churns = Pacer::new(go + (churn_ns / 2.0) as u64, churn_ns, count(cfg.churn));
    loop {
        let next = match (msgs.next_due_ns(), churns.next_due_ns()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        Timer::at(w.base + Duration::from_nanos(next)).await;
        let now = w.now_ns();
        for j in msgs.due(now) {
            w.offer_message(&mut talk, msgs.scheduled_ns(j));
        }
        for _ in churns.due(now) {
            w.offer_churn(&mut churn_rng);
        }
    }
    let end = go.saturating_add(u64::try_from(cfg.duration.as_nanos()).unwrap_or(u64::MAX));
    Timer::at(w.base + Duration::from_nanos(end)).await;
    w.schedule_done.set(true);
    w.sig.changed.notify(usize::MAX);
}

/// One client, for the whole run: connect (bounded handshakes in flight
/// until it is in all its rooms), JOIN, read and act; after a QUIT, stay
/// away, then do it all again.
async fn client(w: Rc<World>, idx: usize) {
    let permit = w.sem.acquire_arc().await;
    w.clients[idx].borrow_mut().permit = Some(permit);
    let mut first = true;
    loop {
        let nick = w.nick(idx);
        let (conn, reg) = match handshake(&w.connector, idx, &nick, None, ACTIVE_BUF).await {
            Ok(ok) => ok,
            Err(e) => return w.sig.fail(e),
        };
        if first {
            first = false;
            w.reg_lat
                .borrow_mut()
                .saturating_record((reg.as_micros() as u64).max(1));
        }
        let mut out = Vec::new();
        {
            let mut c = w.clients[idx].borrow_mut();
            c.nick.clone_from(&conn.nick);
            c.quitting = false;
            for (v, &(room, _)) in c.rooms.iter_mut().zip(&w.layout.rooms_of[idx]) {
                v.presence = Presence::Joining;
                push_line(&mut out, "JOIN ", &w.channels[room as usize]);
            }
            if c.churn.is_some() {
                c.announced.join_ns = w.now_ns();
            }
        }
        let mut writer = conn.stream.clone();
        if let Err(source) = write_out(&mut writer, &out).await {
            return w.sig.fail(BenchError::Io {
                client: idx,
                phase: "join",
                source,
            });
        }
        let (closed, _) = future::zip(receive(&w, conn), act(&w, writer, idx)).await;
        if !closed {
            return;
        }
        let away = w.clients[idx].borrow().away_ns;
        Timer::after(Duration::from_nanos(away)).await;
    }
}

/// Read one connection until the server closes it after our QUIT (true) or
/// the run fails (false).
async fn receive(w: &World, mut conn: Conn) -> bool {
    let idx = conn.idx;
    loop {
        let r = match conn.read_line().await {
            Ok(r) => r,
            Err(end) => {
                if w.clients[idx].borrow().quit_sent {
                    w.quit_closed(idx);
                    return true;
                }
                w.sig.fail(conn.read_error(end, "the run"));
                return false;
            }
        };
        let at = w.ns_at(conn.read_at());
        match classify(conn.line(r.clone())) {
            Line::Bench {
                sender,
                seq,
                sent_ns,
                written_ns,
            } => w.arrive(idx, sender, seq, sent_ns, written_ns, at),
            Line::Numeric { code: 366, params } => {
                let channel = params.split(|&b| b == b' ').nth(1).unwrap_or_default();
                if let Some(room) = w.room_of_channel(channel) {
                    w.joined(idx, room, at);
                }
            }
            Line::Part { nick, channel } => {
                let ours = nick.eq_ignore_ascii_case(w.clients[idx].borrow().nick.as_bytes());
                if let (true, Some(room)) = (ours, w.room_of_channel(channel)) {
                    w.parted(idx, room);
                } else if !ours {
                    w.announcement(idx, nick, Announcement::Part, at);
                }
            }
            Line::Join { nick, .. } => w.announcement(idx, nick, Announcement::Join, at),
            Line::Quit { nick } => w.announcement(idx, nick, Announcement::Quit, at),
            Line::Ping(token) => {
                let mut c = w.clients[idx].borrow_mut();
                c.mailbox.push_back(Action::Pong(token.to_vec()));
                w.wake[idx].notify(1);
            }
            Line::Error(text) if !w.clients[idx].borrow().quit_sent => {
                let e = BenchError::server_message_error(idx, "the run", lossy(text));
                w.sig.fail(e);
                return false;
            }
            Line::Numeric { code, params } if is_refusal(code) => {
                w.sig.fail(BenchError::Refused {
                    client: idx,
                    phase: "the run",
                    text: format!("{code} {}", lossy(params)),
                });
                return false;
            }
            _ => {}
        }
    }
}

/// Write what client `idx` is asked to, until it has written its QUIT.
async fn act(w: &World, mut stream: BenchStream, idx: usize) {
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        loop {
            let listener = w.wake[idx].listen();
            let (work, next_rejoin) = w.clients[idx].borrow().work(w.now_ns());
            if work {
                break;
            }
            match next_rejoin {
                Some(at) => {
                    let due = w.base + Duration::from_nanos(at);
                    future::race(listener, async {
                        Timer::at(due).await;
                    })
                    .await;
                }
                None => listener.await,
            }
        }
        out.clear();
        let (sent, quit) = w.fill(idx, &mut out, w.now_ns());
        if !out.is_empty() {
            if let Err(source) = write_out(&mut stream, &out).await {
                return w.sig.fail(BenchError::Io {
                    client: idx,
                    phase: "the run",
                    source,
                });
            }
        }
        if sent > 0 {
            w.n.sent.set(w.n.sent.get() + sent);
            w.last_send_ns.set(w.now_ns());
        }
        if quit {
            return;
        }
    }
}
