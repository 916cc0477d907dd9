//! The load generator: many clients on one single-threaded smol executor.
//!
//! Owns: ramping connections in with a bounded number of handshakes in flight,
//! the send loops (paced on a schedule, `pace.rs`; or windowed on the slowest
//! receiver, `window.rs`), per-receiver exactly-once/in-order checks
//! (`seq.rs`), the latency histograms, the hard deadline and the progress bar;
//! and, after the measured phase, watching the server's CPU until it goes
//! idle ([`until_idle`], shared with `community.rs`).
//! Must never: spawn threads, block on anything but the executor, allocate per
//! message on the send or receive path, run without a deadline, or connect to
//! any address but the one configured.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use event_listener::Event;
use futures_lite::{future, AsyncWriteExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smol::lock::Semaphore;
use smol::{LocalExecutor, Timer};

use super::conn::{handshake, is_refusal, Conn};
use super::error::BenchError;
use super::pace::Pacer;
use super::procstat::{own_cpu_s, precise_cpu_ns, sample, IdleWatch};
use super::report::{AfterRun, Latency, Report, ServerStats};
use super::seq::{Arrival, SeqTracker};
use super::stream::{BenchStream, Connector};
use super::window::SlowestReceiver;
use super::wire::{classify, lossy, push_privmsg, Line};
use super::Common;

/// One run's shape, built from a scenario's config.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub scenario: &'static str,
    pub common: Common,
    /// Connections to open (`rooms * members` for chat scenarios).
    pub clients: usize,
    pub rooms: usize,
    pub members: usize,
    /// Senders per room: members `0..senders` of each room send.
    pub senders: usize,
    pub messages: u32,
    /// Offered load, all senders together (messages per second).
    pub rate: Option<f64>,
    pub window: u32,
    /// JOIN a room during setup.
    pub join: bool,
    /// Hold the clients this long after setup (idle).
    pub hold: Duration,
    pub bufsize: usize,
}

/// What every task of a run uses to say "something changed" and "the run
/// failed" (the first error wins; the orchestrator returns it).
pub(crate) struct Signals {
    pub changed: Event,
    pub error: RefCell<Option<BenchError>>,
}

impl Signals {
    pub fn new() -> Signals {
        Signals {
            changed: Event::new(),
            error: RefCell::new(None),
        }
    }

    /// Record `e` (unless an error is already recorded) and wake the waiter.
    pub fn fail(&self, e: BenchError) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        self.changed.notify(usize::MAX);
    }
}

struct Shared {
    plan: Plan,
    connector: Connector,
    tag: String,
    channels: Vec<String>,
    base: Instant,
    sem: Semaphore,
    sig: Signals,
    ready: Cell<usize>,
    go: Cell<bool>,
    go_ev: Event,
    go_ns: Cell<u64>,
    /// Per sender (unpaced only): its window over every receiver in its room.
    windows: Vec<RefCell<SlowestReceiver>>,
    ack_ev: Vec<Event>,
    /// From the time each message carries: scheduled (paced) or written.
    lat: RefCell<Histogram<u64>>,
    /// Paced only: from when the sender actually wrote each message.
    lat_written: RefCell<Histogram<u64>>,
    reg_lat: RefCell<Histogram<u64>>,
    /// First arrivals of each message at each receiver.
    delivered: Cell<u64>,
    reordered: Cell<u64>,
    duplicated: Cell<u64>,
    misrouted: Cell<u64>,
    done: Cell<usize>,
    sent: Cell<u64>,
    last_send_ns: Cell<u64>,
    last_delivery_ns: Cell<u64>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// `at` as nanoseconds since the run's base instant.
    fn ns_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn fail(&self, e: BenchError) {
        self.sig.fail(e);
    }

    fn nick(&self, idx: usize) -> String {
        format!("b{}{idx}", self.tag)
    }
}

impl AsRef<Signals> for Shared {
    fn as_ref(&self) -> &Signals {
        &self.sig
    }
}

pub(crate) fn histogram() -> Result<Histogram<u64>, BenchError> {
    // 1 µs .. 1 h at 3 significant figures.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| BenchError::Config(format!("latency histogram: {e}")))
}

/// A short tag that keeps this run's nicks and rooms apart from a previous
/// run's leftovers on the same server.
pub(crate) fn run_tag() -> String {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    let digits = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut n = seed % (26 * 36 * 36);
    let mut tag = String::new();
    tag.push(digits[(n % 26) as usize] as char);
    n /= 26;
    tag.push(digits[(n % 36) as usize] as char);
    n /= 36;
    tag.push(digits[(n % 36) as usize] as char);
    tag
}

pub(crate) fn progress(show: bool, len: u64, msg: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>11} [{bar:30}] {pos}/{len} {per_sec} {elapsed}")
    {
        pb.set_style(style);
    }
    pb.set_message(msg);
    pb
}

/// Wait until `met` holds, an error is recorded, or `until` passes.
/// Returns `Ok(true)` when met, `Ok(false)` at `until`.
pub(crate) async fn wait_until<S: AsRef<Signals>>(
    sh: &S,
    until: Instant,
    bar: &ProgressBar,
    met: impl Fn(&S) -> bool,
    pos: impl Fn(&S) -> u64,
) -> Result<bool, BenchError> {
    let sig = sh.as_ref();
    loop {
        if let Some(e) = sig.error.borrow_mut().take() {
            return Err(e);
        }
        bar.set_position(pos(sh));
        if met(sh) {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        let listener = sig.changed.listen();
        if met(sh) || sig.error.borrow().is_some() {
            continue;
        }
        let tick = (until - now).min(Duration::from_millis(200));
        future::race(listener, async {
            Timer::after(tick).await;
        })
        .await;
    }
}

/// Longest natter-bench waits after the measured phase for the server to go idle.
const IDLE_CAP: Duration = Duration::from_secs(30);
/// How often the server's CPU is read while waiting for it to go idle.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Idle: less than `IDLE_CPU` of CPU time over `IDLE_WINDOW`.
const IDLE_WINDOW: Duration = Duration::from_millis(300);
const IDLE_CPU: Duration = Duration::from_millis(2);

/// After the measured phase: read the server's CPU every 100 ms, the
/// clients still connected, until it used less than 2 ms in 300 ms, for at
/// most 30 s (and never past `deadline`). `None` if it cannot be read.
pub(crate) async fn until_idle(pid: u32, deadline: Instant) -> Option<AfterRun> {
    let t0 = Instant::now();
    let until = (t0 + IDLE_CAP).min(deadline);
    // The scheduler's nanosecond clock where the kernel has it; otherwise
    // stat's 10 ms ticks (then "idle" means not one tick in the window).
    let precise = precise_cpu_ns(pid).is_some();
    let cpu_ns = || {
        if precise {
            precise_cpu_ns(pid)
        } else {
            sample(Some(pid)).map(|s| (s.cpu_s * 1e9) as u64)
        }
    };
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let mut watch = IdleWatch::new(ns(IDLE_WINDOW), ns(IDLE_CPU));
    let mut went_idle = false;
    while let Some(cpu) = cpu_ns() {
        if watch.push(ns(t0.elapsed()), cpu) {
            went_idle = true;
            break;
        }
        if Instant::now() + IDLE_POLL > until {
            break;
        }
        Timer::after(IDLE_POLL).await;
    }
    Some(AfterRun {
        sample: sample(Some(pid))?,
        waited_s: t0.elapsed().as_secs_f64(),
        went_idle,
    })
}

/// Run a plan to completion (or its deadline) and report.
pub(crate) fn run(plan: Plan) -> Result<Report, BenchError> {
    // More open files than the default 1024: as many as the hard limit allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(orchestrate(&ex, plan)))
}

async fn orchestrate(ex: &LocalExecutor<'_>, plan: Plan) -> Result<Report, BenchError> {
    let bench_cpu0 = own_cpu_s();
    let pid = plan.common.pid;
    let srv_start = pid.and_then(|p| sample(Some(p)));
    let t_start = Instant::now();
    let deadline = t_start + plan.common.timeout;
    let show = plan.common.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let tag = run_tag();
    let channels = (0..plan.rooms).map(|r| format!("#b{tag}-{r}")).collect();
    let nsend = plan.rooms * plan.senders;
    let connector = Connector::new(
        plan.common.addr,
        &plan.common.more,
        plan.common.tls,
        plan.common.ws,
    )?;
    let sh = Rc::new(Shared {
        connector,
        tag,
        channels,
        base: t_start,
        sem: Semaphore::new(plan.common.concurrency.max(1)),
        sig: Signals::new(),
        ready: Cell::new(0),
        go: Cell::new(false),
        go_ev: Event::new(),
        go_ns: Cell::new(0),
        windows: (0..nsend)
            .map(|_| {
                let receivers = plan.members.saturating_sub(1) as u32;
                RefCell::new(SlowestReceiver::new(receivers, plan.window))
            })
            .collect(),
        ack_ev: (0..nsend).map(|_| Event::new()).collect(),
        lat: RefCell::new(histogram()?),
        lat_written: RefCell::new(histogram()?),
        reg_lat: RefCell::new(histogram()?),
        delivered: Cell::new(0),
        reordered: Cell::new(0),
        duplicated: Cell::new(0),
        misrouted: Cell::new(0),
        done: Cell::new(0),
        sent: Cell::new(0),
        last_send_ns: Cell::new(0),
        last_delivery_ns: Cell::new(0),
        plan,
    });
    let plan = &sh.plan;
    let n = plan.clients;
    for idx in 0..n {
        ex.spawn(member(sh.clone(), idx)).detach();
    }

    // Setup: every client connected, registered (and joined).
    let bar = progress(show, n as u64, "connecting");
    let all_in = wait_until(
        &*sh,
        deadline,
        &bar,
        |s| s.ready.get() == n,
        |s| s.ready.get() as u64,
    )
    .await?;
    bar.finish_and_clear();
    if !all_in {
        return Err(BenchError::Timeout {
            phase: if plan.join {
                "registration and JOIN"
            } else {
                "registration"
            },
            done: sh.ready.get(),
            wanted: n,
            secs: plan.common.timeout.as_secs_f64(),
        });
    }
    let setup_s = t_start.elapsed().as_secs_f64();
    let srv_mid = pid.and_then(|p| sample(Some(p)));
    let bench_cpu_mid = own_cpu_s();

    // Measured phase.
    let expected = expected_total(plan);
    let mut timed_out = false;
    let mut run_s = 0.0;
    if expected > 0 {
        sh.go_ns.set(sh.now_ns());
        sh.go.set(true);
        sh.go_ev.notify(usize::MAX);
        let bar = progress(show, expected, "delivering");
        let met = wait_until(
            &*sh,
            deadline,
            &bar,
            |s| s.done.get() == n,
            |s| s.delivered.get(),
        )
        .await?;
        bar.finish_and_clear();
        timed_out = !met;
        let end_ns = if met {
            sh.last_delivery_ns.get()
        } else {
            sh.now_ns()
        };
        run_s = end_ns.saturating_sub(sh.go_ns.get()) as f64 / 1e9;
    } else if !plan.hold.is_zero() {
        let until = deadline.min(Instant::now() + plan.hold);
        let bar = ProgressBar::hidden();
        wait_until(&*sh, until, &bar, |_| false, |_| 0).await?;
    }
    let srv_end = pid.and_then(|p| sample(Some(p)));
    let after = match pid {
        Some(p) if srv_end.is_some() => until_idle(p, deadline).await,
        _ => None,
    };

    let delivered = sh.delivered.get();
    let sent = sh.sent.get();
    let send_s = sh.last_send_ns.get().saturating_sub(sh.go_ns.get()) as f64 / 1e9;
    let per_sec = |count: u64, secs: f64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let server_stats = match (pid, srv_start, srv_mid, srv_end) {
        (Some(p), Some(a), Some(b), Some(c)) => {
            Some(ServerStats::from_samples(p, a, b, c, after, delivered))
        }
        _ => None,
    };
    let rss_per_connection_kib = match (plan.scenario, &server_stats) {
        ("idle", Some(s)) if n > 0 => {
            Some((s.rss_after_kib as f64 - s.rss_before_kib as f64) / n as f64)
        }
        _ => None,
    };
    let reg_lat = Latency::from_histogram_us(&sh.reg_lat.borrow());
    let lat = Latency::from_histogram_us(&sh.lat.borrow());
    let lat_written = Latency::from_histogram_us(&sh.lat_written.borrow());
    let paced = nsend > 0 && plan.rate.is_some();
    let receivers = plan.members.saturating_sub(1);
    // One reading for both figures: two could disagree by a tick, and the
    // measured phase would then seem to cost more than the whole run.
    let bench_cpu_end = own_cpu_s();
    Ok(Report {
        scenario: plan.scenario,
        server: plan.common.servers(),
        tls: plan.common.tls,
        ws: plan.common.ws,
        clients: n,
        rooms: plan.rooms,
        members_per_room: plan.members,
        senders: nsend,
        messages_per_sender: plan.messages,
        rate: if nsend > 0 { plan.rate } else { None },
        window: if nsend > 0 && plan.rate.is_none() {
            Some(plan.window)
        } else {
            None
        },
        setup_s,
        registrations_per_sec: per_sec(n as u64, setup_s),
        registration_latency: reg_lat,
        run_s,
        deliveries: delivered,
        expected_deliveries: expected,
        deliveries_per_sec: per_sec(delivered, run_s),
        messages_per_sec: if receivers > 0 {
            per_sec(delivered, run_s) / receivers as f64
        } else {
            0.0
        },
        sends_per_sec: per_sec(sent, send_s),
        latency_from: (nsend > 0).then_some(if paced { "scheduled" } else { "written" }),
        latency: lat,
        latency_uncorrected: if paced { lat_written } else { None },
        lost: expected.saturating_sub(delivered),
        reordered: sh.reordered.get(),
        duplicated: sh.duplicated.get(),
        misrouted: sh.misrouted.get(),
        timed_out,
        rss_per_connection_kib,
        server_stats,
        community: None,
        bench_cpu_s: bench_cpu_end - bench_cpu0,
        bench_cpu_measured_s: bench_cpu_end - bench_cpu_mid,
    })
}

/// Deliveries every receiver should see: each message from every sender in
/// its room except itself.
fn expected_total(plan: &Plan) -> u64 {
    if plan.senders == 0 {
        return 0;
    }
    let m = u64::from(plan.messages);
    // Each sender's messages reach every other member of its room.
    (plan.rooms * plan.senders) as u64 * (plan.members as u64 - 1) * m
}

/// Write `out` and push it onto the socket: TLS may keep written bytes in
/// rustls when the socket is full, and a sender then waits for acks of
/// messages the server never got. (For plain TCP the flush does nothing.)
pub(crate) async fn write_out(stream: &mut BenchStream, out: &[u8]) -> std::io::Result<()> {
    stream.write_all(out).await?;
    stream.flush().await
}

/// One client: join in (bounded handshakes in flight), then read and check
/// until the run ends; a sender also sends, from a clone of its stream
/// (the same task, so the two loops share one waker; see `stream.rs`).
async fn member(sh: Rc<Shared>, idx: usize) {
    let plan = &sh.plan;
    let room = idx.checked_div(plan.members).unwrap_or(0);
    let m = idx.checked_rem(plan.members).unwrap_or(0);
    let channel = if plan.join {
        sh.channels.get(room).map(String::as_str)
    } else {
        None
    };
    let permit = sh.sem.acquire().await;
    let nick = sh.nick(idx);
    let res = handshake(&sh.connector, idx, &nick, channel, plan.bufsize).await;
    drop(permit);
    let (conn, reg) = match res {
        Ok(ok) => ok,
        Err(e) => return sh.fail(e),
    };
    sh.reg_lat
        .borrow_mut()
        .saturating_record((reg.as_micros() as u64).max(1));
    sh.ready.set(sh.ready.get() + 1);
    sh.sig.changed.notify(usize::MAX);

    let is_sender = m < plan.senders;
    if is_sender {
        let writer = conn.stream.clone();
        future::zip(receive(&sh, conn, room, m), send(&sh, writer, idx, room, m)).await;
    } else {
        receive(&sh, conn, room, m).await;
    }
}

async fn receive(sh: &Shared, mut conn: Conn, room: usize, m: usize) {
    let plan = &sh.plan;
    let senders = plan.senders;
    let is_sender = m < senders;
    let expected = if senders == 0 {
        0
    } else {
        u64::from(plan.messages) * (senders - usize::from(is_sender)) as u64
    };
    let mut seen = vec![SeqTracker::default(); senders];
    let mut delivered = 0u64;
    let paced = plan.rate.is_some();
    if expected == 0 {
        sh.done.set(sh.done.get() + 1);
    }
    loop {
        let r = match conn.read_line().await {
            Ok(r) => r,
            Err(end) => return sh.fail(conn.read_error(end, "the run")),
        };
        match classify(conn.line(r.clone())) {
            Line::Bench {
                sender,
                seq,
                sent_ns,
                written_ns,
            } => {
                let now = sh.ns_at(conn.read_at());
                let s = sender as usize;
                if senders == 0 || s / senders != room {
                    sh.misrouted.set(sh.misrouted.get() + 1);
                    continue;
                }
                let local = s % senders;
                if is_sender && local == m {
                    continue; // our own message echoed back: not a delivery
                }
                let tracker = &mut seen[local];
                let before = tracker.next();
                let arrival = tracker.record(seq);
                if !arrival.is_delivery() {
                    sh.duplicated.set(sh.duplicated.get() + 1);
                    continue;
                }
                if arrival == Arrival::Late {
                    sh.reordered.set(sh.reordered.get() + 1);
                }
                let us = |from: u64| (now.saturating_sub(from) / 1000).max(1);
                sh.lat.borrow_mut().saturating_record(us(sent_ns));
                if let Some(w) = written_ns {
                    sh.lat_written.borrow_mut().saturating_record(us(w));
                }
                sh.last_delivery_ns.set(now);
                delivered += 1;
                sh.delivered.set(sh.delivered.get() + 1);
                if delivered == expected {
                    sh.done.set(sh.done.get() + 1);
                    sh.sig.changed.notify(usize::MAX);
                }
                // Unpaced: the sender's window moves when the slowest of
                // its receivers has got this far.
                let after = tracker.next();
                if !paced && after > before && sh.windows[s].borrow_mut().reach(before, after) {
                    sh.ack_ev[s].notify(1);
                }
            }
            Line::Ping(_) => {
                if let Err(source) = conn.pong(r).await {
                    return sh.fail(BenchError::Io {
                        client: conn.idx,
                        phase: "the run",
                        source,
                    });
                }
            }
            Line::Error(text) => {
                return sh.fail(BenchError::server_message_error(
                    conn.idx,
                    "the run",
                    lossy(text),
                ));
            }
            Line::Numeric { code, params } if is_refusal(code) => {
                return sh.fail(BenchError::Refused {
                    client: conn.idx,
                    phase: "the run",
                    text: format!("{code} {}", lossy(params)),
                });
            }
            _ => {}
        }
    }
}

async fn send(sh: &Shared, mut stream: BenchStream, idx: usize, room: usize, m: usize) {
    let plan = &sh.plan;
    loop {
        if sh.go.get() {
            break;
        }
        let l = sh.go_ev.listen();
        if sh.go.get() {
            break;
        }
        l.await;
    }
    let me = room * plan.senders + m;
    let chan = &sh.channels[room];
    let total = plan.messages;
    let mut out: Vec<u8> = Vec::with_capacity(64 * 64);
    let mut seq: u32 = 0;
    let fail = |source| {
        sh.fail(BenchError::Io {
            client: idx,
            phase: "the run",
            source,
        })
    };
    match plan.rate {
        Some(rate) if rate > 0.0 => {
            let nsend = (plan.rooms * plan.senders) as f64;
            let interval_ns = 1e9 * nsend / rate;
            // One schedule from the start signal, senders staggered evenly
            // across one interval; each message carries the time it was due.
            let first = sh.go_ns.get() + (interval_ns * me as f64 / nsend) as u64;
            let mut pacer = Pacer::new(first, interval_ns, total);
            while let Some(due_ns) = pacer.next_due_ns() {
                Timer::at(sh.base + Duration::from_nanos(due_ns)).await;
                let now = sh.now_ns();
                out.clear();
                let due = pacer.due(now);
                let count = due.len() as u64;
                for seq in due {
                    push_privmsg(
                        &mut out,
                        chan,
                        me as u32,
                        seq,
                        pacer.scheduled_ns(seq),
                        Some(now),
                    );
                }
                if count == 0 {
                    continue;
                }
                if let Err(e) = write_out(&mut stream, &out).await {
                    return fail(e);
                }
                sh.last_send_ns.set(sh.now_ns());
                sh.sent.set(sh.sent.get() + count);
            }
        }
        _ => {
            let window = plan.window.max(1);
            let acked = |seq: u32| sh.windows[me].borrow().acked().min(seq);
            while seq < total {
                loop {
                    if seq - acked(seq) < window {
                        break;
                    }
                    let l = sh.ack_ev[me].listen();
                    if seq - acked(seq) < window {
                        break;
                    }
                    l.await;
                }
                let room_left = window - (seq - acked(seq));
                let batch = room_left.min(total - seq);
                let ns = sh.now_ns();
                out.clear();
                for _ in 0..batch {
                    push_privmsg(&mut out, chan, me as u32, seq, ns, None);
                    seq += 1;
                }
                if let Err(e) = write_out(&mut stream, &out).await {
                    return fail(e);
                }
                sh.last_send_ns.set(sh.now_ns());
                sh.sent.set(sh.sent.get() + u64::from(batch));
            }
        }
    }
}
