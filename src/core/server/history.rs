//! History inside the server: giving each stored event its id, replaying a
//! room's latest messages on join, and answering `CHATHISTORY`.
//!
//! Owns what a client is handed back from [`crate::core::RoomHistory`].
//! Must never hand anyone history of a room they are not in, nor private
//! messages of any account but the one the connection is logged in to.

use super::output::{share_line, truncate, write_tags, StandardReply, Tags};
use super::Server;
use crate::core::action::Action;
use crate::core::event::{ConnId, Now, Timestamp};
use crate::core::history::{server_time, HistoryKind, HistoryRecord, RoomHistory, Selector};
use crate::proto::{casefold, casefold_cow, write_message, Message, MAX_LINE};
use std::sync::Arc;

impl Server {
    /// Like [`Server::record`], for a message that is delivered but never
    /// stored (TAGMSG, STATUSMSG): it gets a msgid and a time, no Persist.
    /// Its id is unique while the server runs; the store only remembers
    /// stored ids, so after a restart a new message may take it again
    /// (harmless: nothing can look an unstored message up).
    pub(super) fn unstored_record(
        &mut self,
        kind: HistoryKind,
        target: impl Into<Arc<str>>,
        source: impl Into<Arc<str>>,
        text: impl Into<Arc<str>>,
        now: Now,
    ) -> HistoryRecord {
        let record = HistoryRecord {
            id: self.next_id,
            at: now.wall,
            kind,
            target: target.into(),
            source: source.into(),
            text: text.into(),
            from_account: None,
            to_account: None,
        };
        self.next_id += 1;
        record
    }

    /// Gives `kind` the next message id and server time `now`, and asks the
    /// shell to store it. Call before emitting any line that carries it.
    /// (Strings the caller already shares, such as [`crate::core::Room::shared_name`],
    /// are kept without a copy.)
    pub(super) fn record(
        &mut self,
        kind: HistoryKind,
        target: impl Into<Arc<str>>,
        source: impl Into<Arc<str>>,
        text: impl Into<Arc<str>>,
        now: Now,
    ) -> HistoryRecord {
        let record = self.unstored_record(kind, target, source, text, now);
        if kind.is_replayed() {
            let max = self.config.history_max_messages;
            let folded = casefold_cow(&record.target);
            match self.history.get_mut(folded.as_ref()) {
                Some(window) => window.push(record.clone(), max),
                None => {
                    let mut window = RoomHistory::default();
                    window.push(record.clone(), max);
                    self.history.insert(folded.into_owned(), window);
                }
            }
            self.schedule_sweep(now);
        }
        self.emit(Action::Persist(record.clone()));
        record
    }

    /// Records a private message (stored, and kept for the accounts at
    /// either end so they can read the conversation back).
    pub(super) fn record_private(
        &mut self,
        to_nick: &str,
        source: Arc<str>,
        text: &str,
        accounts: (Option<&str>, Option<&str>),
        now: Now,
    ) -> HistoryRecord {
        let mut record = self.unstored_record(HistoryKind::Private, to_nick, source, text, now);
        record.from_account = accounts.0.map(Arc::from);
        record.to_account = accounts.1.map(Arc::from);
        if record.from_account.is_some() || record.to_account.is_some() {
            let max = self.config.history_max_messages;
            self.conversations.push(record.clone(), max);
            self.schedule_sweep(now);
        }
        self.emit(Action::Persist(record.clone()));
        record
    }

    /// Takes what the store kept from earlier runs.
    pub(super) fn restore(&mut self, records: Vec<HistoryRecord>, next_id: u64) {
        let max = self.config.history_max_messages;
        for record in records {
            self.next_id = self.next_id.max(record.id.saturating_add(1));
            if record.kind == HistoryKind::Private {
                self.conversations.push(record, max);
                continue;
            }
            if record.kind.is_replayed() && record.target.starts_with('#') {
                let folded = casefold(&record.target);
                let window = self.history.entry(folded).or_default();
                if window.last().is_none_or(|last| last.id < record.id) {
                    window.push(record, max);
                }
            }
        }
        self.next_id = self.next_id.max(next_id);
        let any = !self.history.is_empty() || self.conversations.oldest().is_some();
        if self.config.history_max_age_secs > 0 && any {
            // Sweep what came of age while the server was down at once.
            self.next_sweep = Some(Default::default());
        }
    }

    /// Sends a joiner the room's latest `history_on_join` messages.
    pub(super) fn replay_on_join(&mut self, conn: ConnId, folded: &str, room_name: &str) {
        let wanted = self.config.history_on_join;
        if wanted == 0 {
            return;
        }
        let records = self
            .history
            .get(folded)
            .map(|h| h.latest(None, wanted))
            .unwrap_or_default();
        if !records.is_empty() {
            self.replay(conn, room_name, &records, true);
        }
    }

    /// Sends `records` of `room` to `conn` as history: inside a
    /// `chathistory` batch for clients that enabled `batch`. Clients without
    /// `batch` get them between two server notices when `announce` is set
    /// (as ZNC frames a buffer playback), so history never reads as live
    /// chat: with `server-time` (irssi asks for it without `batch`) each
    /// line carries its original `time=`, and otherwise each text starts
    /// with its time.
    fn replay(&mut self, conn: ConnId, room: &str, records: &[HistoryRecord], announce: bool) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let caps = c.caps;
        let batch = caps.batch.then(|| {
            let id = format!("h{}", self.next_batch);
            self.next_batch += 1;
            id
        });
        let plain = !caps.batch && !caps.server_time;
        // Plain replay puts the time into the text, which would break a
        // CTCP: an ACTION carries its time inside, and other CTCPs (queries
        // a client would answer again) are not replayed as plain text.
        let kept: Vec<HistoryRecord>;
        let records = if plain {
            kept = records
                .iter()
                .filter(|r| !is_ctcp(&r.text) || action_body(&r.text).is_some())
                .cloned()
                .collect();
            &kept[..]
        } else {
            records
        };
        let zone = chrono::FixedOffset::east_opt(self.config.utc_offset_secs)
            .unwrap_or(chrono::Offset::fix(&chrono::Utc));
        if let Some(id) = &batch {
            let open = self.server_message(
                "BATCH",
                [format!("+{id}"), "chathistory".into(), room.into()],
            );
            self.send(conn, &open);
        } else if announce {
            if records.is_empty() {
                return;
            }
            let text = format!("Replaying the last {} messages of {room}", records.len());
            let m = self.server_message("NOTICE", [room, &text]);
            self.send(conn, &m);
        }
        for r in records {
            let text = if plain {
                let at = chrono::DateTime::from_timestamp_millis(r.at.0 as i64)
                    .map(|t| t.with_timezone(&zone))
                    .map(|t| t.format("[%Y-%m-%d %H:%M:%S] ").to_string())
                    .unwrap_or_default();
                let budget = MAX_LINE.saturating_sub(r.source.len() + room.len() + 20);
                match action_body(&r.text) {
                    Some(body) => {
                        let budget = budget.saturating_sub(at.len() + 9);
                        format!("\x01ACTION {at}{}\x01", truncate(body, budget))
                    }
                    None => format!("{at}{}", truncate(&r.text, budget.saturating_sub(at.len()))),
                }
            } else {
                r.text.to_string()
            };
            // A conversation's lines go to whoever each was sent to.
            let target = if r.kind == HistoryKind::Private {
                &r.target
            } else {
                room
            };
            let line = share_line(&mut self.scratch, |out| {
                write_tags(out, caps, Some(r), batch.as_deref(), Tags::default());
                write_message(out, Some(&r.source), r.command(), [target, text.as_str()]);
            });
            self.emit(Action::Send { to: conn, line });
        }
        if let Some(id) = &batch {
            let close = self.server_message("BATCH", [format!("-{id}")]);
            self.send(conn, &close);
        } else if announce {
            let m = self.server_message("NOTICE", [room, "End of history"]);
            self.send(conn, &m);
        }
    }

    /// `FAIL CHATHISTORY <code> <context…> :<text>` (IRCv3 standard replies).
    fn fail_chathistory(&mut self, conn: ConnId, code: &str, context: &[&str], text: &str) {
        self.standard_reply(
            conn,
            StandardReply::Fail,
            "CHATHISTORY",
            code,
            context,
            text,
        );
    }

    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS …`
    /// (IRCv3 `draft/chathistory`), answered from the retained history.
    pub(super) fn handle_chathistory(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let sub = msg.param(0).to_ascii_uppercase();
        let needed = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
            "BETWEEN" => 5,
            _ => {
                let shown = if sub.is_empty() { "*" } else { sub.as_str() };
                self.fail_chathistory(conn, "INVALID_PARAMS", &[shown], "Unknown subcommand");
                return;
            }
        };
        if msg.params.len() < needed {
            self.fail_chathistory(conn, "INVALID_PARAMS", &[&sub], "Not enough parameters");
            return;
        }
        let limit = match msg.param(needed - 1).parse::<usize>() {
            Ok(n) => n.min(self.config.chathistory_max),
            Err(_) => {
                self.fail_chathistory(conn, "INVALID_PARAMS", &[&sub], "Invalid limit");
                return;
            }
        };
        if sub == "TARGETS" {
            let (Some(Selector::Time(a)), Some(Selector::Time(b))) =
                (Selector::parse(msg.param(1)), Selector::parse(msg.param(2)))
            else {
                self.fail_chathistory(conn, "INVALID_PARAMS", &[&sub], "Invalid timestamp");
                return;
            };
            self.send_targets(conn, a.min(b), a.max(b), limit);
            return;
        }
        let target = msg.param(1).to_string();
        let folded = casefold(&target);
        let member = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.rooms.contains(&folded));
        if target.starts_with('#') && !member {
            self.fail_chathistory(
                conn,
                "INVALID_TARGET",
                &[&sub, &target],
                "Join the room to read its history",
            );
            return;
        }
        let selector = |i: usize| Selector::parse(msg.param(i));
        let window = if target.starts_with('#') {
            self.history.get(&folded).cloned()
        } else {
            self.conversation_with(conn, &target)
        };
        let readable = window.is_some() && (member || !target.starts_with('#'));
        let window = window.unwrap_or_default();
        let records = if !readable {
            // Nothing to read: no such conversation, or not logged in.
            Vec::new()
        } else {
            let result = match sub.as_str() {
                "LATEST" if msg.param(2) == "*" => Some(window.latest(None, limit)),
                "LATEST" => selector(2).map(|s| window.latest(Some(s), limit)),
                "BEFORE" => selector(2).map(|s| window.before(s, limit)),
                "AFTER" => selector(2).map(|s| window.after(s, limit)),
                "AROUND" => selector(2).map(|s| window.around(s, limit)),
                _ => selector(2)
                    .zip(selector(3))
                    .map(|(a, b)| window.between(a, b, limit)),
            };
            match result {
                Some(records) => records,
                None => {
                    self.fail_chathistory(
                        conn,
                        "INVALID_PARAMS",
                        &[&sub],
                        "Invalid message reference (use msgid=… or timestamp=…)",
                    );
                    return;
                }
            }
        };
        let shown = self
            .rooms
            .get(&folded)
            .map(|r| r.name().to_string())
            .unwrap_or(target);
        self.replay(conn, &shown, &records, false);
    }

    /// The private conversation of `conn`'s account with `nick` (by the
    /// account `nick` is logged in to now, or else by the nick itself);
    /// `None` when `conn` is not logged in or there is none.
    fn conversation_with(&self, conn: ConnId, nick: &str) -> Option<crate::core::RoomHistory> {
        let owner = self.connections.get(&conn)?.account.as_deref()?;
        let online_account = self
            .user(nick)
            .and_then(|id| self.connections.get(&id)?.account.as_deref());
        online_account
            .and_then(|a| self.conversations.get(owner, a))
            .or_else(|| self.conversations.get(owner, nick))
            .cloned()
    }

    /// `CHATHISTORY TARGETS`: the rooms `conn` is in and the private
    /// conversations of its account whose latest message falls between
    /// `from` and `to`, oldest first.
    fn send_targets(&mut self, conn: ConnId, from: Timestamp, to: Timestamp, limit: usize) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let batch = c.caps.batch;
        let mut found: Vec<(Timestamp, Arc<str>)> = c
            .rooms
            .iter()
            .filter_map(|folded| {
                let last = self.history.get(folded)?.last()?;
                (last.at > from && last.at < to).then(|| (last.at, last.target.clone()))
            })
            .collect();
        if let Some(owner) = &c.account {
            let private = self.conversations.targets(owner, from, to);
            found.extend(private.into_iter().map(|(at, name)| (at, Arc::from(name))));
        }
        found.sort();
        found.truncate(limit);
        let id = format!("h{}", self.next_batch);
        self.next_batch += 1;
        if batch {
            let open = self.server_message(
                "BATCH",
                [format!("+{id}"), "draft/chathistory-targets".into()],
            );
            self.send(conn, &open);
        }
        for (at, room) in found {
            let m = self.server_message(
                "CHATHISTORY",
                [
                    "TARGETS".to_string(),
                    room.to_string(),
                    format!("timestamp={}", server_time(at)),
                ],
            );
            let line = if batch {
                format!("@batch={id} {m}")
            } else {
                m.to_string()
            };
            self.emit(Action::Send {
                to: conn,
                line: Arc::from(line),
            });
        }
        if batch {
            let close = self.server_message("BATCH", [format!("-{id}")]);
            self.send(conn, &close);
        }
    }
}

/// Whether `text` is a CTCP message (`\x01VERB …\x01`).
fn is_ctcp(text: &str) -> bool {
    text.starts_with('\x01')
}

/// The text of a CTCP ACTION (`/me waves` is `\x01ACTION waves\x01`).
fn action_body(text: &str) -> Option<&str> {
    let body = text.strip_prefix("\x01ACTION ")?;
    Some(body.strip_suffix('\x01').unwrap_or(body))
}
