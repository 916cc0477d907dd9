//! What the cluster log holds: [`Entry`] and the node inputs inside it,
//! and their wire form (postcard).
//!
//! Must never hold anything a core is not fed: an entry is exactly the
//! node's input, so applying it is the same on every node. Must never hold
//! a password either: a node logs its clients' lines sealed
//! ([`crate::core::secrets`]), and a sealed line carries a vault reference
//! and verdicts, never the secret.

use crate::core::secrets::Seal;
use crate::core::{ConnId, Credentials, Event, HashPurpose, Now, PasswordPurpose};
use crate::proto::LineError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One entry of the cluster log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// The core's random secret (SCRAM nonces derive from it). The first
    /// one in the log counts; later ones are ignored.
    Seeded { secret: [u8; 32] },
    /// A node starts (or starts again after it was declared down). Its tag
    /// is the number of `NodeUp` entries up to and including this one.
    NodeUp {
        /// The node's name (`--node-name`).
        node: String,
        /// A random number the node picked at start, to know its own entry.
        boot: u64,
        /// [`super::config_fingerprint`] of its settings.
        config: u64,
    },
    /// The node with `tag` is gone: its connections leave with `reason`,
    /// and its later entries are ignored.
    NodeDown { tag: u64, reason: String, now: Now },
    /// A batch of one node's inputs, in the order they happened there.
    /// `batch` counts up from 1 per tag: a batch at or below the last one
    /// applied for its tag is a retried append, and is skipped.
    Inputs {
        tag: u64,
        batch: u64,
        inputs: Vec<Input>,
    },
}

/// One node input: the events of [`Event`] that come from a node's clients,
/// timers and password checks (startup restores are not inputs: a cluster
/// node rebuilds everything from the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// [`Event::Connected`].
    Connected {
        conn: ConnId,
        peer: String,
        now: Now,
    },
    /// [`Event::Secured`].
    Secured {
        conn: ConnId,
        certfp: Option<String>,
    },
    /// [`Event::Line`].
    Line {
        conn: ConnId,
        line: String,
        now: Now,
    },
    /// [`Event::BadLine`].
    BadLine {
        conn: ConnId,
        error: LineError,
        now: Now,
    },
    /// [`Event::Disconnected`].
    Disconnected {
        conn: ConnId,
        reason: String,
        now: Now,
    },
    /// [`Event::Timeout`].
    Timeout { now: Now },
    /// [`Event::PasswordChecked`].
    PasswordChecked {
        conn: ConnId,
        purpose: PasswordPurpose,
        ok: bool,
        upgrade: Option<Box<Credentials>>,
        now: Now,
    },
    /// [`Event::PasswordHashed`].
    PasswordHashed {
        conn: ConnId,
        purpose: HashPurpose,
        credentials: Box<Credentials>,
        now: Now,
    },
    /// [`Event::SealedLine`]: a line whose secret stayed with the node
    /// that holds `conn` (last, so entries written before it still decode).
    SealedLine {
        conn: ConnId,
        line: String,
        seal: Seal,
        now: Now,
    },
}

impl Input {
    /// The input for `event`, or `None` for events that are not node inputs
    /// (restores, `Seeded`, `Shutdown`, `Reconfigured`).
    pub fn from_event(event: Event) -> Option<Input> {
        Some(match event {
            Event::Connected { conn, peer, now } => Input::Connected { conn, peer, now },
            Event::Secured { conn, certfp } => Input::Secured { conn, certfp },
            Event::Line { conn, line, now } => Input::Line { conn, line, now },
            Event::SealedLine {
                conn,
                line,
                seal,
                now,
            } => Input::SealedLine {
                conn,
                line,
                seal,
                now,
            },
            Event::BadLine { conn, error, now } => Input::BadLine { conn, error, now },
            Event::Disconnected { conn, reason, now } => Input::Disconnected { conn, reason, now },
            Event::Timeout { now } => Input::Timeout { now },
            Event::PasswordChecked {
                conn,
                purpose,
                ok,
                upgrade,
                now,
            } => Input::PasswordChecked {
                conn,
                purpose,
                ok,
                upgrade,
                now,
            },
            Event::PasswordHashed {
                conn,
                purpose,
                credentials,
                now,
            } => Input::PasswordHashed {
                conn,
                purpose,
                credentials,
                now,
            },
            _ => return None,
        })
    }

    /// The event a core is fed for this input.
    pub fn into_event(self) -> Event {
        match self {
            Input::Connected { conn, peer, now } => Event::Connected { conn, peer, now },
            Input::Secured { conn, certfp } => Event::Secured { conn, certfp },
            Input::Line { conn, line, now } => Event::Line { conn, line, now },
            Input::SealedLine {
                conn,
                line,
                seal,
                now,
            } => Event::SealedLine {
                conn,
                line,
                seal,
                now,
            },
            Input::BadLine { conn, error, now } => Event::BadLine { conn, error, now },
            Input::Disconnected { conn, reason, now } => Event::Disconnected { conn, reason, now },
            Input::Timeout { now } => Event::Timeout { now },
            Input::PasswordChecked {
                conn,
                purpose,
                ok,
                upgrade,
                now,
            } => Event::PasswordChecked {
                conn,
                purpose,
                ok,
                upgrade,
                now,
            },
            Input::PasswordHashed {
                conn,
                purpose,
                credentials,
                now,
            } => Event::PasswordHashed {
                conn,
                purpose,
                credentials,
                now,
            },
        }
    }

    /// The connection this input is about (`None` for a timer).
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Input::Connected { conn, .. }
            | Input::Secured { conn, .. }
            | Input::Line { conn, .. }
            | Input::SealedLine { conn, .. }
            | Input::BadLine { conn, .. }
            | Input::Disconnected { conn, .. }
            | Input::PasswordChecked { conn, .. }
            | Input::PasswordHashed { conn, .. } => Some(*conn),
            Input::Timeout { .. } => None,
        }
    }

    /// The time the input carries, to be kept in log order.
    pub fn now_mut(&mut self) -> Option<&mut Now> {
        match self {
            Input::Connected { now, .. }
            | Input::Line { now, .. }
            | Input::SealedLine { now, .. }
            | Input::BadLine { now, .. }
            | Input::Disconnected { now, .. }
            | Input::Timeout { now }
            | Input::PasswordChecked { now, .. }
            | Input::PasswordHashed { now, .. } => Some(now),
            Input::Secured { .. } => None,
        }
    }
}

/// An entry that does not decode: written by a different natter version,
/// or damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a cluster log entry does not decode ({}): every node must run the same natter version",
            self.0
        )
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    pub(super) fn new(why: String) -> DecodeError {
        DecodeError(why)
    }
}

impl Entry {
    /// The entry's wire form.
    pub fn encode(&self) -> Vec<u8> {
        // Encoding plain data into a Vec cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// The entry `bytes` hold.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Instant, Timestamp};

    #[test]
    fn an_entry_reads_back_as_written() {
        let now = Now {
            mono: Instant(5),
            wall: Timestamp(1_700_000_000_000),
        };
        let entry = Entry::Inputs {
            tag: 3,
            batch: 9,
            inputs: vec![
                Input::Connected {
                    conn: ConnId(super::super::first_conn_id(3)),
                    peer: "127.0.0.1:5000".into(),
                    now,
                },
                Input::Line {
                    conn: ConnId(super::super::first_conn_id(3)),
                    line: "PRIVMSG #lobby :héllo".into(),
                    now,
                },
                Input::BadLine {
                    conn: ConnId(1),
                    error: LineError::TooLong { limit: 512 },
                    now,
                },
                Input::Timeout { now },
            ],
        };
        assert_eq!(Entry::decode(&entry.encode()), Ok(entry));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Entry::decode(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(Entry::decode(&[]).is_err());
    }

    #[test]
    fn every_node_input_event_round_trips_through_input() {
        let now = Now::default();
        let event = Event::Disconnected {
            conn: ConnId(4),
            reason: "Connection reset by peer".into(),
            now,
        };
        let input = Input::from_event(event.clone()).expect("an input");
        assert_eq!(input.conn(), Some(ConnId(4)));
        assert_eq!(input.into_event(), event);
        assert_eq!(Input::from_event(Event::Shutdown { now }), None);
    }
}
