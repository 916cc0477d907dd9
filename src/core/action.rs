//! What the core asks the shell to do: [`Action`]s.
//!
//! Owns the output vocabulary of the state machine. Must never perform the
//! action itself.

use super::event::ConnId;
use super::history::HistoryRecord;
use super::log::LogRecord;
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
}
