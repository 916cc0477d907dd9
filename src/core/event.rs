//! What the shell tells the core: [`Event`]s, with connection ids and time.
//!
//! Owns the input vocabulary of the state machine and the two clocks. Must
//! never read a clock: every event carries the [`Now`] the shell read for it.

use super::accounts::{Account, Credentials};
use super::action::{HashPurpose, PasswordPurpose};
use super::bans::ServerBan;
use super::config::LiveSettings;
use super::history::HistoryRecord;
use super::read_markers::ReadMarker;
use super::registered_rooms::RegisteredRoom;
use super::secrets::Seal;
use crate::proto::LineError;

/// One connection, as numbered by the shell. Never reused within a run.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn{}", self.0)
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, read by the shell.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Whole seconds since the Unix epoch.
    pub fn secs(self) -> u64 {
        self.0 / 1000
    }

    /// This time plus `secs` seconds.
    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}

/// A point on the shell's monotonic clock, in milliseconds since the shell
/// started. Never goes backwards; timers (ping, registration, flood) use it,
/// so a wall-clock jump cannot time anyone out.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Instant(pub u64);

impl Instant {
    /// This instant plus `secs` seconds.
    pub fn plus_secs(self, secs: u64) -> Instant {
        Instant(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// This instant plus `ms` milliseconds.
    pub fn plus_ms(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }

    /// Whole seconds from `earlier` to this instant (0 if it is later).
    pub fn secs_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0) / 1000
    }
}

/// Both clocks, read by the shell once for an event: `mono` for timers,
/// `wall` only for what is recorded (history, server.log, topic times).
///
/// ```
/// use natter::core::{Instant, Now, Timestamp};
/// let now = Now { mono: Instant(5_000), wall: Timestamp(1_699_533_296_000) };
/// assert_eq!(now.later_secs(2).mono, Instant(7_000));
/// assert_eq!(now.later_secs(2).wall, Timestamp(1_699_533_298_000));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Now {
    /// The monotonic clock.
    pub mono: Instant,
    /// The wall clock.
    pub wall: Timestamp,
}

impl Now {
    /// Both clocks `secs` seconds later (for simulations and tests).
    pub fn later_secs(self, secs: u64) -> Now {
        Now {
            mono: self.mono.plus_secs(secs),
            wall: self.wall.plus_secs(secs),
        }
    }
}

/// Something that happened, for [`crate::core::Server::handle_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client connected from `peer` (e.g. `127.0.0.1:12000`).
    Connected {
        conn: ConnId,
        peer: String,
        now: Now,
    },
    /// The connection `conn` came over TLS. The shell sends this right after
    /// [`Event::Connected`], before any of the connection's lines.
    Secured {
        conn: ConnId,
        certfp: Option<String>,
    },
    /// A complete line (without CR LF) arrived from `conn`.
    Line {
        conn: ConnId,
        line: String,
        now: Now,
    },
    /// A line from `conn` with its secret taken out ([`crate::core::secrets`]):
    /// a cluster node's own client sent it, and that node keeps the secret.
    /// Runs as [`Event::Line`] does, the `seal` standing in for the secret.
    SealedLine {
        conn: ConnId,
        line: String,
        seal: Seal,
        now: Now,
    },
    /// In a cluster: `conn` (just connected) is held by the node called
    /// `node`, which WHOIS names as its server (312).
    ServedBy { conn: ConnId, node: String },
    /// In a cluster: the names of the nodes that are up now, in the order
    /// they joined (LUSERS counts them as the servers).
    ClusterNodes { names: Vec<String> },
    /// A line from `conn` was rejected by the [`crate::proto::LineReader`].
    BadLine {
        conn: ConnId,
        error: LineError,
        now: Now,
    },
    /// The connection ended without a QUIT: EOF, reset, write error, SendQ.
    /// `reason` is shown to the others, e.g. `Connection reset by peer`.
    /// Lines flood control still holds of it run first, at their times; it
    /// leaves after the last (the shell need not care: it sends nothing
    /// more for `conn`, and ignores what the core still sends to it).
    Disconnected {
        conn: ConnId,
        reason: String,
        now: Now,
    },
    /// The deadline [`crate::core::Server::poll_timeout`] gave has passed
    /// (an early one is harmless): pings, timeouts and expiry run.
    Timeout { now: Now },
    /// The server is stopping: every client is told and closed.
    Shutdown { now: Now },
    /// The answer to [`crate::core::Action::CheckPassword`]: whether the
    /// password matched. `conn` may have gone meanwhile (then it is ignored).
    PasswordChecked {
        conn: ConnId,
        purpose: PasswordPurpose,
        ok: bool,
        /// New credentials from the same password when the stored hash used
        /// older parameters (or SCRAM keys were missing): the core saves
        /// them. Only ever with `ok`.
        upgrade: Option<Box<Credentials>>,
        now: Now,
    },
    /// The answer to [`crate::core::Action::HashPassword`].
    PasswordHashed {
        conn: ConnId,
        purpose: HashPurpose,
        credentials: Box<Credentials>,
        now: Now,
    },
    /// A random secret from the shell, sent once before any client
    /// connects: SCRAM nonces and the stand-in keys for unknown accounts
    /// derive from it (the core has no randomness of its own).
    Seeded { secret: [u8; 32] },
    /// The accounts the store kept, sent once before any client connects.
    AccountsRestored { accounts: Vec<Account> },
    /// The rooms registered with ChanServ that the store kept, sent once
    /// before any client connects (after [`Event::AccountsRestored`]).
    RoomsRestored { rooms: Vec<RegisteredRoom> },
    /// The server bans (KLINE) the store kept, sent once before any client
    /// connects; expired ones are dropped the next time bans are checked.
    ServerBansRestored { bans: Vec<ServerBan> },
    /// What the store kept from earlier runs, sent once before any client
    /// connects: room records (oldest first; kinds that are not replayed
    /// are ignored) and the next unused message id.
    HistoryRestored {
        records: Vec<HistoryRecord>,
        next_id: u64,
    },
    /// The read markers the store kept from earlier runs, least recently
    /// set first, sent once before any client connects.
    ReadMarkersRestored { markers: Vec<ReadMarker> },
    /// The operator reloaded the configuration (SIGHUP): these settings
    /// apply from now on; connections, rooms and timers carry on as they
    /// are (a lowered flood rate counts from each client's next line).
    Reconfigured { settings: Box<LiveSettings> },
}
