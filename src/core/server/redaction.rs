//! Deleting messages: `REDACT` (IRCv3 `draft/message-redaction`).
//!
//! Owns who may delete which message, and what deleting does. In a room:
//! the sender may delete their own message for `redact_window_secs`, the
//! room's operators any message its history still holds; the message
//! leaves the room's history (never replayed again, on join or by
//! `CHATHISTORY`) and the members that enabled `draft/message-redaction`
//! are sent the `REDACT`. In private: the sender may delete one of their
//! latest [`MAX_SENT_PRIVATE`] messages within the same window, and the
//! recipient hears of it if it enabled the capability. Either way the store
//! is asked to delete it (a `Redact` record keeps who deleted what, not
//! the text).
//!
//! Must never tell anyone whether a message exists where they cannot see
//! it (a room they are not in, someone else's conversation), and never
//! forward `REDACT` to a client without the capability: the spec forbids
//! it, and like most servers natter sends such clients no fallback notice
//! either (they cannot hide the message; a notice would only be noise).

use super::leaving::REASONLEN;
use super::output::truncate;
use super::Server;
use crate::core::connection::{SentPrivate, MAX_SENT_PRIVATE};
use crate::core::event::{ConnId, Now, Timestamp};
use crate::core::history::{HistoryKind, HistoryRecord};
use crate::core::log::LogEntry;
use crate::proto::{casefold, Message, MAX_LINE};

/// What one accepted REDACT deletes, and how it is told.
struct Deletion<'a> {
    /// The room's name, or the nick the private message was sent to.
    target: &'a str,
    /// The deleted message's id.
    id: u64,
    /// The redacter's `nick!user@host`.
    source: &'a str,
    /// Who hears the REDACT (the redacter always does).
    to: Vec<ConnId>,
}

impl Server {
    /// `REDACT <#room|nick> <msgid> [:reason]`.
    pub(super) fn handle_redact(&mut self, conn: ConnId, msg: &Message, now: Now) {
        if msg.param(0).starts_with('#') {
            self.redact_in_room(conn, msg, now);
        } else {
            self.redact_private(conn, msg, now);
        }
    }

    fn redact_in_room(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let (target, msgid) = (msg.param(0), msg.param(1));
        let Some((folded, room_name)) = self.room_of_member(conn, target) else {
            return;
        };
        let is_op = self.rooms.get(&folded).is_some_and(|r| r.is_op(conn));
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let original: Option<HistoryRecord> = msgid
            .parse::<u64>()
            .ok()
            .and_then(|id| self.history.get(&folded)?.find(id))
            .cloned();
        let Some(original) = original else {
            self.fail_unknown_msgid(conn, &room_name, msgid);
            return;
        };
        if !is_op {
            if !same_person(&original.source, &source) {
                self.fail(
                    conn,
                    "REDACT",
                    "REDACT_FORBIDDEN",
                    &[&room_name, msgid],
                    "You may delete only your own messages (room operators may delete any)",
                );
                return;
            }
            if self.window_expired(conn, &room_name, msgid, original.at, now, true) {
                return;
            }
        }
        if let Some(history) = self.history.get_mut(&folded) {
            history.remove(original.id);
        }
        let connections = &self.connections;
        let to: Vec<ConnId> = self
            .rooms
            .get(&folded)
            .map(|room| {
                room.members()
                    .filter(|m| {
                        *m == conn || connections.get(m).is_some_and(|c| c.caps.message_redaction)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let deletion = Deletion {
            target: &room_name,
            id: original.id,
            source: &source,
            to,
        };
        let reason = self.delete(&deletion, msg, now);
        let author = original.source.split('!').next().unwrap_or_default();
        let entry = LogEntry::Redact {
            nick,
            room: self.log_room(&folded),
            author: author.to_string(),
            reason,
        };
        self.log(now.wall, entry);
    }

    fn redact_private(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let (target, msgid) = (msg.param(0), msg.param(1));
        let folded = casefold(target);
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let source = c.source();
        // Only the sender's own latest messages are known: anything else,
        // someone else's conversation included, is simply unknown.
        let sent = msgid.parse::<u64>().ok().and_then(|id| {
            let s = c.sent_private.iter().find(|s| s.id == id)?;
            let now_called = self.nick_of(s.to).map(casefold);
            (casefold(&s.to_nick) == folded || now_called.as_deref() == Some(folded.as_str()))
                .then(|| s.clone())
        });
        let Some(sent) = sent else {
            self.fail_unknown_msgid(conn, target, msgid);
            return;
        };
        if self.window_expired(conn, target, msgid, sent.at, now, false) {
            return;
        }
        if let Some(c) = self.connections.get_mut(&conn) {
            c.sent_private.retain(|s| s.id != sent.id);
        }
        self.conversations.remove(sent.id);
        let recipient_hears = sent.to != conn
            && self
                .connections
                .get(&sent.to)
                .is_some_and(|c| c.caps.message_redaction);
        let mut to = vec![conn];
        if recipient_hears {
            to.push(sent.to);
        }
        to.sort_unstable();
        let deletion = Deletion {
            target: &sent.to_nick,
            id: sent.id,
            source: &source,
            to,
        };
        // Not logged: server.log keeps no more of a private conversation
        // than that a message was sent.
        self.delete(&deletion, msg, now);
    }

    /// Stores the deletion and sends the `REDACT`; returns the reason given
    /// (cut to fit), maybe empty.
    fn delete(&mut self, d: &Deletion, msg: &Message, now: Now) -> String {
        let id = d.id.to_string();
        let mut params = vec![d.target.to_string(), id.clone()];
        // Fit the relayed line into 512 bytes, as for PRIVMSG.
        let overhead = d.source.len() + d.target.len() + id.len() + 16;
        let reason = msg.params.get(2).map_or("", |r| {
            truncate(r, REASONLEN.min(MAX_LINE.saturating_sub(overhead)))
        });
        if !reason.is_empty() {
            params.push(reason.to_string());
        }
        let text = match reason {
            "" => id,
            _ => format!("{id} {reason}"),
        };
        let record = self.record(HistoryKind::Redact, d.target, d.source, text.as_str(), now);
        let m = Message::new("REDACT", params).with_source(d.source.to_string());
        self.broadcast_tagged(d.to.clone(), &m, &record);
        reason.to_string()
    }

    /// Remembers a private message `conn` sent to `to`, so it may delete it.
    pub(super) fn remember_private(&mut self, conn: ConnId, record: &HistoryRecord, to: ConnId) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.sent_private.len() >= MAX_SENT_PRIVATE {
            c.sent_private.pop_front();
        }
        c.sent_private.push_back(SentPrivate {
            id: record.id,
            to,
            to_nick: record.target.to_string(),
            at: record.at,
        });
    }

    /// Answers `REDACT_WINDOW_EXPIRED` when a message sent `at` is past the
    /// sender's window; true when it was.
    fn window_expired(
        &mut self,
        conn: ConnId,
        target: &str,
        msgid: &str,
        at: Timestamp,
        now: Now,
        in_room: bool,
    ) -> bool {
        let window = self.config.redact_window_secs;
        if window == 0 || now.wall <= at.plus_secs(window) {
            return false;
        }
        let text = format!(
            "You can no longer delete this message: your own messages can be deleted \
             for {} after sending them{}",
            describe_secs(window),
            if in_room { "; ask a room operator" } else { "" }
        );
        let shown = window.to_string();
        self.fail(
            conn,
            "REDACT",
            "REDACT_WINDOW_EXPIRED",
            &[target, msgid, &shown],
            &text,
        );
        true
    }

    fn fail_unknown_msgid(&mut self, conn: ConnId, target: &str, msgid: &str) {
        self.fail(
            conn,
            "REDACT",
            "UNKNOWN_MSGID",
            &[target, msgid],
            "This message does not exist or is too old to be deleted",
        );
    }
}

/// Whether two `nick!user@host` sources are the same person: until
/// accounts exist, the same nick (in any case), username and host.
fn same_person(a: &str, b: &str) -> bool {
    match (a.split_once('!'), b.split_once('!')) {
        (Some((nick_a, rest_a)), Some((nick_b, rest_b))) => {
            nick_a.eq_ignore_ascii_case(nick_b) && rest_a == rest_b
        }
        _ => false,
    }
}

/// `15 minutes`, `1 hour`, `90 seconds`: a window for people to read.
fn describe_secs(secs: u64) -> String {
    let (n, unit) = if secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
