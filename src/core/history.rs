//! Message history: what the core remembers of each room, and how it is
//! queried.
//!
//! Owns [`HistoryRecord`] (one stored event, with its server time and unique
//! msgid), the bounded per-room [`RoomHistory`] window the core serves
//! history from (on JOIN and for `CHATHISTORY`), the retention rules
//! (`history_max_messages` per room, `history_max_age_secs`), the
//! `CHATHISTORY` query selectors, and the IRCv3 `time=` format.
//!
//! The design: the core keeps the retained, replayable history of every room
//! in memory (PRIVMSG and NOTICE, newest `history_max_messages` per room), so
//! every history answer is computed here, deterministically, from the events
//! the core was fed. The shell's store is the durable copy: the core emits an
//! [`crate::core::Action::Persist`] for every accepted message, topic change,
//! join, leave, private message, deletion (REDACT) and rename, and at
//! startup the shell feeds back what it kept with
//! [`crate::core::Event::HistoryRestored`].
//!
//! Must never read a clock or a file: time comes from events, ids from a
//! counter seeded by the shell.

use super::event::Timestamp;
use std::collections::VecDeque;
use std::sync::Arc;

/// What kind of event a [`HistoryRecord`] holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum HistoryKind {
    /// A PRIVMSG to a room.
    Privmsg,
    /// A NOTICE to a room.
    Notice,
    /// A topic change (`text` is the new topic).
    Topic,
    /// Someone joined the room.
    Join,
    /// Someone left by PART (`text` is the reason, maybe empty).
    Part,
    /// Someone left by QUIT or a dropped connection (`text` is the reason).
    Quit,
    /// A private PRIVMSG or NOTICE; `target` is the recipient's nick. Stored,
    /// replayed (CHATHISTORY on a nick) only to the accounts at either end.
    Private,
    /// An operator removed someone (`text` is `victim reason`).
    Kick,
    /// An operator changed the room's modes (`text` is `+o-v alice bob`).
    Mode,
    /// Someone deleted a message (IRCv3 `draft/message-redaction`): `text`
    /// is `msgid reason`. The store deletes that message; this record
    /// keeps who deleted what, without the deleted text.
    Redact,
    /// An operator renamed the room (IRCv3 `draft/channel-rename`): `target`
    /// is the old name, `text` is `#new-name reason`. The store moves the
    /// room's history to the new name.
    Rename,
}

impl HistoryKind {
    /// Every kind, for round-trip tests.
    pub const ALL: [HistoryKind; 11] = [
        HistoryKind::Privmsg,
        HistoryKind::Notice,
        HistoryKind::Topic,
        HistoryKind::Join,
        HistoryKind::Part,
        HistoryKind::Quit,
        HistoryKind::Private,
        HistoryKind::Kick,
        HistoryKind::Mode,
        HistoryKind::Redact,
        HistoryKind::Rename,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Privmsg => "privmsg",
            HistoryKind::Notice => "notice",
            HistoryKind::Topic => "topic",
            HistoryKind::Join => "join",
            HistoryKind::Part => "part",
            HistoryKind::Quit => "quit",
            HistoryKind::Private => "private",
            HistoryKind::Kick => "kick",
            HistoryKind::Mode => "mode",
            HistoryKind::Redact => "redact",
            HistoryKind::Rename => "rename",
        }
    }

    /// The kind stored as `name`, if any.
    pub fn parse(name: &str) -> Option<HistoryKind> {
        HistoryKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether history playback hands this kind back to clients (PRIVMSG and
    /// NOTICE in rooms, as `draft/chathistory` without `event-playback` asks).
    pub fn is_replayed(self) -> bool {
        matches!(self, HistoryKind::Privmsg | HistoryKind::Notice)
    }
}

/// One stored event.
///
/// ```
/// use natter::core::{HistoryKind, HistoryRecord, Timestamp};
/// let r = HistoryRecord {
///     id: 7,
///     at: Timestamp(1_699_533_301_000),
///     kind: HistoryKind::Privmsg,
///     target: "#lobby".into(),
///     source: "John!john@127.0.0.1".into(),
///     text: "Hello everyone!".into(),
///     from_account: None,
///     to_account: None,
/// };
/// assert_eq!(r.msgid(), "7");
/// assert_eq!(natter::core::server_time(r.at), "2023-11-09T12:35:01.000Z");
/// ```
///
/// The strings are shared: the core keeps a record in the room's history
/// and hands the same record to the store, without copying the text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryRecord {
    /// The unique message id: strictly increasing, also across restarts.
    pub id: u64,
    /// Server time when the core accepted it.
    pub at: Timestamp,
    /// What happened.
    pub kind: HistoryKind,
    /// The room as spelled when it was created, or the recipient's nick.
    pub target: Arc<str>,
    /// `nick!user@host` of whoever did it.
    pub source: Arc<str>,
    /// The message text, topic or leave reason; empty when there is none.
    pub text: Arc<str>,
    /// For a private message: the sender's account, if it was logged in
    /// (the conversation is then kept for that account).
    pub from_account: Option<Arc<str>>,
    /// For a private message: the recipient's account, if it was logged in.
    pub to_account: Option<Arc<str>>,
}

impl HistoryRecord {
    /// The `msgid` tag value.
    pub fn msgid(&self) -> String {
        self.id.to_string()
    }

    /// The IRC command this record replays as.
    pub fn command(&self) -> &'static str {
        match self.kind {
            HistoryKind::Notice => "NOTICE",
            _ => "PRIVMSG",
        }
    }
}

/// `2023-11-09T12:35:01.000Z`: the IRCv3 `server-time` format (UTC, ms).
pub fn server_time(at: Timestamp) -> String {
    let ms = i64::try_from(at.0).unwrap_or(i64::MAX);
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Parses a `server-time` value back to a [`Timestamp`].
pub fn parse_server_time(text: &str) -> Option<Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(t.timestamp_millis()).ok().map(Timestamp)
}

/// A point in a room's history named by a `CHATHISTORY` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// `msgid=N`: the message with that id.
    MsgId(u64),
    /// `timestamp=…`: that instant.
    Time(Timestamp),
}

impl Selector {
    /// Parses `msgid=…` or `timestamp=…`.
    pub fn parse(text: &str) -> Option<Selector> {
        if let Some(id) = text.strip_prefix("msgid=") {
            return id.parse().ok().map(Selector::MsgId);
        }
        text.strip_prefix("timestamp=")
            .and_then(parse_server_time)
            .map(Selector::Time)
    }
}

/// The retained, replayable history of one room, oldest first.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RoomHistory {
    records: VecDeque<HistoryRecord>,
}

impl RoomHistory {
    /// Appends `record` (ids only ever grow) and drops the oldest beyond `max`.
    pub fn push(&mut self, record: HistoryRecord, max: usize) {
        self.records.push_back(record);
        while self.records.len() > max {
            self.records.pop_front();
        }
    }

    /// The record with message id `id`, if it is kept.
    pub fn find(&self, id: u64) -> Option<&HistoryRecord> {
        let at = self.records.partition_point(|r| r.id < id);
        self.records.get(at).filter(|r| r.id == id)
    }

    /// Forgets the record with message id `id` (a deleted message); returns it.
    pub fn remove(&mut self, id: u64) -> Option<HistoryRecord> {
        let at = self.records.partition_point(|r| r.id < id);
        if self.records.get(at).is_some_and(|r| r.id == id) {
            self.records.remove(at)
        } else {
            None
        }
    }

    /// Gives every record the room's new name (after a rename), so answers
    /// such as `CHATHISTORY TARGETS` name the room as it is now called.
    pub fn rename(&mut self, name: &str) {
        let name: Arc<str> = Arc::from(name);
        for r in &mut self.records {
            r.target = name.clone();
        }
    }

    /// Drops records older than `cutoff`.
    pub fn expire(&mut self, cutoff: Timestamp) {
        while self.records.front().is_some_and(|r| r.at < cutoff) {
            self.records.pop_front();
        }
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The oldest record, if any.
    pub fn first(&self) -> Option<&HistoryRecord> {
        self.records.front()
    }

    /// The newest record, if any.
    pub fn last(&self) -> Option<&HistoryRecord> {
        self.records.back()
    }

    /// Index of the first record strictly after `sel`: after that message
    /// (msgid), or strictly later than that instant (timestamp).
    fn after_index(&self, sel: Selector) -> usize {
        match sel {
            Selector::MsgId(id) => self.records.partition_point(|r| r.id <= id),
            Selector::Time(t) => self.records.partition_point(|r| r.at <= t),
        }
    }

    /// Index of the first record not strictly before `sel`.
    fn before_index(&self, sel: Selector) -> usize {
        match sel {
            Selector::MsgId(id) => self.records.partition_point(|r| r.id < id),
            Selector::Time(t) => self.records.partition_point(|r| r.at < t),
        }
    }

    fn slice(&self, from: usize, to: usize) -> Vec<HistoryRecord> {
        self.records.range(from..to.max(from)).cloned().collect()
    }

    /// The newest `limit` records, only those after `since` when given.
    pub fn latest(&self, since: Option<Selector>, limit: usize) -> Vec<HistoryRecord> {
        let floor = since.map_or(0, |s| self.after_index(s));
        let end = self.records.len();
        self.slice(end.saturating_sub(limit).max(floor), end)
    }

    /// The `limit` records just before `sel`, oldest first.
    pub fn before(&self, sel: Selector, limit: usize) -> Vec<HistoryRecord> {
        let end = self.before_index(sel);
        self.slice(end.saturating_sub(limit), end)
    }

    /// The `limit` records just after `sel`, oldest first.
    pub fn after(&self, sel: Selector, limit: usize) -> Vec<HistoryRecord> {
        let start = self.after_index(sel);
        self.slice(start, start.saturating_add(limit).min(self.records.len()))
    }

    /// Up to `limit` records around `sel`: about half before it, the rest
    /// from it on (the selected message itself included), oldest first.
    pub fn around(&self, sel: Selector, limit: usize) -> Vec<HistoryRecord> {
        let mid = self.before_index(sel);
        let before = limit / 2;
        let start = mid.saturating_sub(before);
        let end = start.saturating_add(limit).min(self.records.len());
        self.slice(start, end)
    }

    /// Up to `limit` records strictly between `a` and `b`, oldest first: the
    /// earliest ones after `a` when `a` is the older bound, else the latest
    /// ones before `a`.
    pub fn between(&self, a: Selector, b: Selector, limit: usize) -> Vec<HistoryRecord> {
        let (a_after, b_after) = (self.after_index(a), self.after_index(b));
        let (a_before, b_before) = (self.before_index(a), self.before_index(b));
        if a_before <= b_before {
            let end = b_before.min(a_after.saturating_add(limit));
            self.slice(a_after, end)
        } else {
            let start = b_after.max(a_before.saturating_sub(limit));
            self.slice(start, a_before)
        }
    }
}
