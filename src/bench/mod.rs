//! natter-bench: a load generator and meter for any IRC server.
//!
//! Owns: the benchmark scenarios (fanout, rooms, idle, connect, community) as
//! library calls, so both the `natter-bench` binary and the test suite can run
//! them. Clients speak plain IRC (NICK, USER, JOIN, PART, QUIT, PRIVMSG; no
//! capabilities), so the
//! same run drives natter, ngircd or InspIRCd; over TCP, or over TLS with
//! `Common::tls` (no certificate check: loopback benchmarking only). Each message carries
//! `<sender> <seq> <send_time_ns>`; every receiver checks it got each sender's
//! messages exactly once and in order (a message that arrives out of order
//! counts once, as reordered, not as lost), and records delivery latency.
//!
//! Two ways to send. Paced (`rate`): each sender follows a fixed schedule and
//! stamps each message with its *scheduled* send time, so a stall in the
//! generator or the server shows up as latency (coordinated omission
//! corrected, as wrk2 does); the latency from the actual write is kept beside
//! it as `latency_uncorrected`. Unpaced (`rate: None`): as fast as the server
//! takes messages, each sender keeping at most `window` in flight, where a
//! message stops being in flight only when *every* receiver in the room has
//! it (the slowest receiver sets the pace; a fast one cannot hide it).
//!
//! `community` (`community.rs`) is the one that looks like real use: rooms of
//! heavy-tailed sizes, a fixed total rate, clients leaving and coming back;
//! a receiver is only owed what was sent while it was in the room
//! (`membership.rs`), and history a server replays on JOIN is not counted.
//!
//! With `Common::pid`, the server's CPU is also watched after the measured
//! phase until it goes idle, so work a server puts off until the clock
//! stops is still charged to the run (`ServerStats::cpu_until_idle_s`).
//!
//! Must never: connect anywhere but the configured address (the binary only
//! accepts loopback), run without a hard deadline, use more than one thread, or
//! allocate per message on the hot path.
//!
//! ```no_run
//! use natter::bench::{run_fanout, Common, FanoutConfig};
//! let cfg = FanoutConfig {
//!     common: Common { addr: "127.0.0.1:6667".parse().unwrap(), ..Common::default() },
//!     members: 10,
//!     senders: 2,
//!     messages: 100,
//!     rate: None,
//!     window: 16,
//! };
//! let report = run_fanout(&cfg).expect("server reachable");
//! assert!(report.is_clean());
//! println!("{}", report.table());
//! ```

mod community;
mod conn;
mod engine;
mod error;
mod layout;
mod membership;
mod pace;
pub mod procstat;
mod report;
mod rng;
mod seq;
mod stream;
mod window;
pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

pub use error::BenchError;
pub use report::{CommunityStats, Latency, Report, ServerStats};

use engine::Plan;

/// Settings every scenario shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// The server to drive.
    pub addr: SocketAddr,
    /// More servers of the same network (the nodes of a natter cluster):
    /// clients are spread over `addr` and these, round robin.
    pub more: Vec<SocketAddr>,
    /// Handshakes (connect, register, join) in flight at once.
    pub concurrency: usize,
    /// Hard limit for the whole run; it always ends by then.
    pub timeout: Duration,
    /// The server's process id, to report its CPU and memory.
    pub pid: Option<u32>,
    /// Draw a progress bar on stderr (only if stderr is a terminal).
    pub progress: bool,
    /// Connect with TLS, accepting any server certificate (loopback load
    /// against self-signed servers; nothing is trusted with anything).
    pub tls: bool,
    /// Speak IRC over WebSocket (the server's web port), over TLS too with `tls`.
    pub ws: bool,
}

impl Default for Common {
    fn default() -> Common {
        Common {
            addr: SocketAddr::from(([127, 0, 0, 1], 6667)),
            more: Vec::new(),
            concurrency: 50,
            timeout: Duration::from_secs(120),
            pid: None,
            progress: false,
            tls: false,
            ws: false,
        }
    }
}

impl Common {
    /// The servers driven, as the report names them.
    pub fn servers(&self) -> String {
        std::iter::once(&self.addr)
            .chain(&self.more)
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `fanout`: `members` clients in one room; the first `senders` of them send
/// `messages` each, paced at `rate` (all senders together, per second) or as
/// fast as the server takes them with `window` unacknowledged per sender.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    pub common: Common,
    pub members: usize,
    pub senders: usize,
    pub messages: u32,
    pub rate: Option<f64>,
    pub window: u32,
}

/// `rooms`: `rooms` rooms of `members` each; every member sends `messages`.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    pub common: Common,
    pub rooms: usize,
    pub members: usize,
    pub messages: u32,
    pub rate: Option<f64>,
    pub window: u32,
}

/// `idle`: `clients` connections registered and joined (rooms of
/// `room_size`), then held for `hold`; reports server RSS per connection.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    pub common: Common,
    pub clients: usize,
    pub room_size: usize,
    pub hold: Duration,
}

/// `connect`: register `clients` connections (no JOIN) as fast as the server
/// lets them in; reports registrations per second.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    pub common: Common,
    pub clients: usize,
}

/// `community`: `clients` connections in `rooms` rooms whose sizes follow
/// Zipf's law (drawn from `seed`; most of 2–10 members, a few of hundreds),
/// for `duration`: `rate` messages per second over all talkers on a fixed
/// schedule (big rooms busier), while `churn` events per second make a
/// client PART a room and re-JOIN it, or QUIT and reconnect.
///
/// ```no_run
/// use natter::bench::{run_community, Common, CommunityConfig};
/// use std::time::Duration;
/// let report = run_community(&CommunityConfig {
///     common: Common::default(),
///     clients: 200,
///     rooms: 30,
///     duration: Duration::from_secs(10),
///     rate: 500.0,
///     churn: 10.0,
///     seed: 1,
/// })
/// .expect("server reachable");
/// assert!(report.is_clean());
/// ```
#[derive(Debug, Clone)]
pub struct CommunityConfig {
    pub common: Common,
    pub clients: usize,
    pub rooms: usize,
    pub duration: Duration,
    pub rate: f64,
    pub churn: f64,
    pub seed: u64,
}

/// Receive buffer per client for scenarios that carry traffic.
const ACTIVE_BUF: usize = 16 * 1024;
/// Receive buffer per client for scenarios that only hold connections.
const IDLE_BUF: usize = 2 * 1024;

fn check(ok: bool, why: &str) -> Result<(), BenchError> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::Config(why.to_string()))
    }
}

fn check_rate(rate: Option<f64>) -> Result<(), BenchError> {
    check(
        rate.is_none_or(|r| r.is_finite() && r > 0.0),
        "--rate must be a positive number of messages per second",
    )
}

/// Run the fanout scenario.
pub fn run_fanout(cfg: &FanoutConfig) -> Result<Report, BenchError> {
    check(cfg.members >= 2, "--members must be at least 2")?;
    check(
        (1..=cfg.members).contains(&cfg.senders),
        "--senders must be between 1 and --members",
    )?;
    check(cfg.messages >= 1, "--messages must be at least 1")?;
    check_rate(cfg.rate)?;
    engine::run(Plan {
        scenario: "fanout",
        common: cfg.common.clone(),
        clients: cfg.members,
        rooms: 1,
        members: cfg.members,
        senders: cfg.senders,
        messages: cfg.messages,
        rate: cfg.rate,
        window: cfg.window,
        join: true,
        hold: Duration::ZERO,
        bufsize: ACTIVE_BUF,
    })
}

/// Run the rooms scenario.
pub fn run_rooms(cfg: &RoomsConfig) -> Result<Report, BenchError> {
    check(cfg.rooms >= 1, "--rooms must be at least 1")?;
    check(cfg.members >= 2, "--members must be at least 2")?;
    check(cfg.messages >= 1, "--messages must be at least 1")?;
    check_rate(cfg.rate)?;
    engine::run(Plan {
        scenario: "rooms",
        common: cfg.common.clone(),
        clients: cfg.rooms * cfg.members,
        rooms: cfg.rooms,
        members: cfg.members,
        senders: cfg.members,
        messages: cfg.messages,
        rate: cfg.rate,
        window: cfg.window,
        join: true,
        hold: Duration::ZERO,
        bufsize: ACTIVE_BUF,
    })
}

/// Run the idle scenario.
pub fn run_idle(cfg: &IdleConfig) -> Result<Report, BenchError> {
    check(cfg.clients >= 1, "--clients must be at least 1")?;
    check(cfg.room_size >= 1, "--room-size must be at least 1")?;
    engine::run(Plan {
        scenario: "idle",
        common: cfg.common.clone(),
        clients: cfg.clients,
        rooms: cfg.clients.div_ceil(cfg.room_size),
        members: cfg.room_size,
        senders: 0,
        messages: 0,
        rate: None,
        window: 0,
        join: true,
        hold: cfg.hold,
        bufsize: IDLE_BUF,
    })
}

/// Run the connect scenario.
pub fn run_connect(cfg: &ConnectConfig) -> Result<Report, BenchError> {
    check(cfg.clients >= 1, "--clients must be at least 1")?;
    engine::run(Plan {
        scenario: "connect",
        common: cfg.common.clone(),
        clients: cfg.clients,
        rooms: 0,
        members: 0,
        senders: 0,
        messages: 0,
        rate: None,
        window: 0,
        join: false,
        hold: Duration::ZERO,
        bufsize: IDLE_BUF,
    })
}

/// Run the community scenario.
pub fn run_community(cfg: &CommunityConfig) -> Result<Report, BenchError> {
    check(cfg.clients >= 2, "--clients must be at least 2")?;
    check(cfg.rooms >= 1, "--rooms must be at least 1")?;
    check(
        !cfg.duration.is_zero() && cfg.duration <= Duration::from_secs(24 * 3600),
        "--duration must be a positive number of seconds (at most a day)",
    )?;
    check_rate(Some(cfg.rate))?;
    check(
        cfg.churn.is_finite() && cfg.churn >= 0.0,
        "--churn must be a number of events per second, 0 or more",
    )?;
    community::run(cfg.clone())
}
