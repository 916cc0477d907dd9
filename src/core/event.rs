//! What the shell tells the core: [`Event`]s, with connection ids and time.
//!
//! Owns the input vocabulary of the state machine. Must never read a clock:
//! every event carries the `now` the shell read for it.

use super::history::HistoryRecord;
use crate::proto::LineError;

/// One connection, as numbered by the shell. Never reused within a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn{}", self.0)
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, read by the shell.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
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

/// Something that happened, for [`crate::core::Server::handle_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client connected from `peer` (e.g. `127.0.0.1:12000`).
    Connected {
        conn: ConnId,
        peer: String,
        now: Timestamp,
    },
    /// The connection `conn` came over TLS. The shell sends this right after
    /// [`Event::Connected`], before any of the connection's lines.
    Secured { conn: ConnId },
    /// A complete line (without CR LF) arrived from `conn`.
    Line {
        conn: ConnId,
        line: String,
        now: Timestamp,
    },
    /// A line from `conn` was rejected by the [`crate::proto::LineReader`].
    BadLine {
        conn: ConnId,
        error: LineError,
        now: Timestamp,
    },
    /// The connection ended without a QUIT: EOF, reset, write error, SendQ.
    /// `reason` is shown to the others, e.g. `Connection reset by peer`.
    Disconnected {
        conn: ConnId,
        reason: String,
        now: Timestamp,
    },
    /// Time passed. The shell sends one at least once a second so that
    /// pings and timeouts run.
    Tick { now: Timestamp },
    /// The server is stopping: every client is told and closed.
    Shutdown { now: Timestamp },
    /// What the store kept from earlier runs, sent once before any client
    /// connects: room records (oldest first; kinds that are not replayed
    /// are ignored) and the next unused message id.
    HistoryRestored {
        records: Vec<HistoryRecord>,
        next_id: u64,
    },
}
