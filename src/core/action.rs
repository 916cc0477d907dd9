//! What the core asks the shell to do: [`Action`]s.
//!
//! Owns the output vocabulary of the state machine. Must never perform the
//! action itself.

use super::event::ConnId;
use super::history::HistoryRecord;
use super::log::LogRecord;
use super::read_markers::MarkerChange;
use std::sync::Arc;

/// One serialized IRC line without its CR LF, shared by every recipient.
pub type OutLine = Arc<str>;

/// Something the shell must do, in the order the core emitted it.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue `line` on one connection's outbox.
    Send { to: ConnId, line: OutLine },
    /// Queue the same `line` on each of these connections' outboxes.
    Broadcast { to: Vec<ConnId>, line: OutLine },
    /// Flush what is queued for `conn`, then close it. The core has already
    /// forgotten it: send no further events for `conn`.
    Close { conn: ConnId, reason: String },
    /// Append a record to `server.log`.
    Log(LogRecord),
    /// Store `record` durably. Every line emitted after this action may
    /// carry the record to someone, so a shell that promises durability
    /// holds those lines until the record is committed.
    Persist(HistoryRecord),
    /// Store a change to someone's read markers durably (like
    /// [`Action::Persist`]: lines emitted after it may tell of it).
    SaveReadMarker(MarkerChange),
    /// Check `password` against the PHC string `hash` (argon2id) away from
    /// the core (it is slow on purpose), then feed back
    /// [`crate::core::Event::PasswordChecked`] with the same `conn` and
    /// `purpose`. The core never hashes. Never log or show `password`.
    CheckPassword {
        conn: ConnId,
        hash: String,
        password: Secret,
        purpose: PasswordPurpose,
    },
}

/// What a password check is for, handed back unchanged with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordPurpose {
    /// `OPER name password`: becoming the server operator `name`.
    Oper { name: String },
}

/// A password a client sent: kept out of `Debug` output, so it never lands
/// in a log, a panic message or a failed test's printout.
///
/// ```
/// let secret = natter::core::Secret::new("hunter2");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert_eq!(secret.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The password itself, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
