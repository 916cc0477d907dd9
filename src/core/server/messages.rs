//! Messages: PRIVMSG, NOTICE and TAGMSG, to rooms, to a room's operators
//! or voiced members (STATUSMSG: `@#room`, `+#room`) and to people.
//!
//! Owns delivery: every member of a room but the sender (the sender too
//! with `echo-message`) gets each accepted message exactly once, in the
//! order the room accepted them, with the sender's client-only tags when
//! it enabled `message-tags`. Must never answer a NOTICE with an error,
//! never deliver a TAGMSG to a client without `message-tags`, and never
//! store what not every member saw (TAGMSG, STATUSMSG) in the room's history.

use super::output::{truncate, StandardReply};
use super::tags::relayed_tags;
use super::Server;
use crate::core::accounts::is_service_name;
use crate::core::event::{ConnId, Now};
use crate::core::history::HistoryKind;
use crate::core::log::LogEntry;
use crate::core::room::{Privileges, SpeakRefusal};
use crate::proto::numeric::*;
use crate::proto::{casefold, casefold_cow, write_message, Message, MAX_LINE};
use std::borrow::Cow;
use std::sync::Arc;

/// How many comma-separated targets one PRIVMSG, NOTICE or TAGMSG may name
/// (`TARGMAX` in 005).
pub(super) const MAX_TARGETS: usize = 4;

/// The three ways to send a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Privmsg,
    /// Never answered with an error.
    Notice,
    /// Tags only, no text; only for (and only to) `message-tags` clients.
    Tagmsg,
}

impl Kind {
    fn command(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

/// Who in a room a STATUSMSG (`@#room`, `+#room`) reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// `@`: operators.
    Ops,
    /// `+`: voiced members and operators.
    Voiced,
}

impl Status {
    fn prefix(self) -> char {
        match self {
            Status::Ops => '@',
            Status::Voiced => '+',
        }
    }

    fn admits(self, p: Privileges) -> bool {
        match self {
            Status::Ops => p.op,
            Status::Voiced => p.op || p.voice,
        }
    }
}

/// Splits a STATUSMSG prefix off a room target: `@#room` → (Ops, `#room`).
/// With several prefixes the lowest rank counts, as Modern IRC says
/// (`@+#room` reaches the voiced too). Anything else is returned whole.
fn split_status(target: &str) -> (Option<Status>, &str) {
    let name = target.trim_start_matches(['@', '+']);
    if name.len() == target.len() || !name.starts_with('#') {
        return (None, target);
    }
    let prefixes = &target[..target.len() - name.len()];
    let status = if prefixes.contains('+') {
        Status::Voiced
    } else {
        Status::Ops
    };
    (Some(status), name)
}

/// What a message is and who sent it, for one delivery.
struct Delivery<'a> {
    conn: ConnId,
    /// `nick!user@host`, shared with the history records.
    source: Arc<str>,
    echo: bool,
    kind: Kind,
    /// The tags relayed to `message-tags` recipients (`bot`, client tags).
    tags: &'a str,
    /// The sender's account, if logged in (`account-tag`).
    account: Option<&'a str>,
    now: Now,
}

impl Delivery<'_> {
    /// Errors are answered for PRIVMSG and TAGMSG, never for NOTICE.
    fn answers_errors(&self) -> bool {
        self.kind != Kind::Notice
    }

    /// The sender's nick: its source up to the `!` (no nick holds one).
    fn nick(&self) -> &str {
        // A plain byte search: `split` sets up a searcher that costs more
        // than the few bytes of a nick (this runs for every message).
        let end = self.source.bytes().position(|b| b == b'!');
        &self.source[..end.unwrap_or(self.source.len())]
    }

    /// Writes the line relayed to `target` (as shown to its recipients),
    /// without tags: `:source PRIVMSG target :text`, or for TAGMSG
    /// `:source TAGMSG target`.
    fn write_line(&self, out: &mut String, target: &str, text: &str) {
        let params = [target, text];
        let count = if self.kind == Kind::Tagmsg { 1 } else { 2 };
        let command = self.kind.command();
        write_message(
            out,
            Some(&self.source),
            command,
            params.into_iter().take(count),
        );
    }
}

impl Server {
    /// Every connection logged in to `account` (none for `None`).
    pub(super) fn sessions_of(&self, account: Option<&str>) -> Vec<ConnId> {
        account
            .and_then(|a| self.sessions.get(&casefold(a)))
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(super) fn handle_privmsg(&mut self, conn: ConnId, msg: &Message, now: Now) {
        self.handle_message(conn, msg, Kind::Privmsg, now);
    }

    pub(super) fn handle_notice(&mut self, conn: ConnId, msg: &Message, now: Now) {
        self.handle_message(conn, msg, Kind::Notice, now);
    }

    /// `TAGMSG <target>[,…]`: tags without text (typing notifications,
    /// reactions), delivered like PRIVMSG but only to `message-tags` clients.
    pub(super) fn handle_tagmsg(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let enabled = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.caps.message_tags);
        if !enabled {
            // Most servers ignore TAGMSG from such a client; an answer it
            // can act on is kinder than silence.
            self.reply(
                conn,
                ERR_UNKNOWNCOMMAND,
                &[
                    "TAGMSG",
                    "Unknown command (enable the message-tags capability first)",
                ],
            );
            return;
        }
        self.handle_message(conn, msg, Kind::Tagmsg, now);
    }

    fn handle_message(&mut self, conn: ConnId, msg: &Message, kind: Kind, now: Now) {
        let command = kind.command();
        if msg.params.is_empty() || msg.param(0).is_empty() {
            if kind != Kind::Notice {
                self.reply(
                    conn,
                    ERR_NORECIPIENT,
                    &[&format!("No recipient given ({command})")],
                );
            }
            return;
        }
        let text = match msg.params.get(1).filter(|t| !t.is_empty()) {
            Some(text) => text.as_str(),
            None if kind == Kind::Tagmsg => "",
            None => {
                if kind == Kind::Privmsg {
                    self.reply(conn, ERR_NOTEXTTOSEND, &["No text to send"]);
                }
                return;
            }
        };
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if kind != Kind::Tagmsg {
            // Typing notifications are not speaking: idle time stays.
            c.last_spoke = now.mono;
        }
        let source = c.shared_source();
        let tags = relayed_tags(msg, c.caps.message_tags, c.modes.bot);
        let account = c.account.clone();
        let delivery = Delivery {
            conn,
            source: source.clone(),
            echo: c.caps.echo_message,
            kind,
            tags: &tags,
            account: account.as_deref(),
            now,
        };
        let warn_cut = c.caps.standard_replies && kind == Kind::Privmsg;
        let mut cut_to = None;
        let targets = msg.param(0).split(',').filter(|t| !t.is_empty());
        for target in targets.take(MAX_TARGETS) {
            if is_service_name(target) {
                // Services answer PRIVMSG only. What is said to them (often
                // a password) is never relayed, stored, logged or echoed.
                if kind == Kind::Privmsg {
                    self.service_message(conn, target, text, now);
                }
                continue;
            }
            let (status, name) = split_status(target);
            // A STATUSMSG is relayed with one prefix, the one that counted.
            let shown: Cow<str> = match status {
                Some(s) => format!("{}{name}", s.prefix()).into(),
                None => target.into(),
            };
            // Fit the relayed line into 512 bytes, as IRC servers do.
            let overhead = source.len() + command.len() + shown.len() + 6;
            let cut = truncate(text, MAX_LINE.saturating_sub(overhead));
            if cut.len() < text.len() {
                cut_to = Some(cut.len());
            }
            if name.starts_with('#') {
                self.message_room(&delivery, name, status, &shown, cut);
            } else {
                self.message_user(&delivery, target, &shown, cut);
            }
        }
        if let (true, Some(bytes)) = (warn_cut, cut_to) {
            let text = format!(
                "Your message was cut to {bytes} bytes to fit one IRC line; send long text as several messages"
            );
            self.standard_reply(
                conn,
                StandardReply::Warn,
                command,
                "MESSAGE_TRUNCATED",
                &[],
                &text,
            );
        }
    }

    /// Delivers `text` (already cut to fit) to the room `target`, shown
    /// to its members as sent to `shown`.
    fn message_room(
        &mut self,
        d: &Delivery,
        target: &str,
        status: Option<Status>,
        shown: &str,
        text: &str,
    ) {
        let folded = casefold_cow(target);
        let Some(room) = self.rooms.get(folded.as_ref()) else {
            if d.answers_errors() {
                self.reply(d.conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        };
        // Only members may address part of a room, even in a -n room.
        let allowed = match room.may_speak(d.conn, &d.source) {
            Ok(()) if status.is_some() && !room.contains(d.conn) => Err(SpeakRefusal::NotMember),
            other => other,
        };
        if let Err(refusal) = allowed {
            if d.answers_errors() {
                let why = match refusal {
                    SpeakRefusal::NotMember => "Cannot send to channel (join it first: +n)",
                    SpeakRefusal::Moderated => "Cannot send to channel (+m: you need voice)",
                    SpeakRefusal::Banned => "Cannot send to channel (you are banned: +b)",
                };
                let name = room.shared_name();
                self.reply(d.conn, ERR_CANNOTSENDTOCHAN, &[&name, why]);
            }
            return;
        }
        let connections = &self.connections;
        let reached = room.members_with_privileges().filter(|&(m, p)| {
            if m == d.conn {
                return d.echo;
            }
            let reached = status.is_none_or(|s| s.admits(p));
            let tags_ok =
                d.kind != Kind::Tagmsg || connections.get(&m).is_some_and(|c| c.caps.message_tags);
            reached && tags_ok
        });
        // Room for everyone (and an outsider's echo): never grown.
        let mut to = Vec::with_capacity(room.len() + 1);
        to.extend(reached.map(|(m, _)| m));
        if d.echo && !room.contains(d.conn) {
            // echo-message: an outsider speaking to a -n room gets its echo too.
            to.push(d.conn);
            to.sort_unstable();
        }
        let room_name = room.shared_name();
        // History replays a room to everyone who joins: what only part of
        // the room saw (STATUSMSG), or what has no text (TAGMSG), stays out
        // of it and out of the log. Client tags are never stored: history
        // replays the text alone (a replayed `+draft/reply` would need a
        // place in the durable store; without it the reply reads as a
        // plain message, which clients must handle anyway).
        let stored = status.is_none() && d.kind != Kind::Tagmsg;
        let kind = if d.kind == Kind::Notice {
            HistoryKind::Notice
        } else {
            HistoryKind::Privmsg
        };
        // The room as the log names it (the default room not at all),
        // from the room already found: no second lookup by name.
        let log_room = (self.default_room_folded != folded.as_ref()).then(|| room_name.clone());
        let source = d.source.clone();
        let record = if stored {
            self.record(kind, room_name, source, text, d.now)
        } else {
            self.unstored_record(kind, room_name, source, text, d.now)
        };
        let line = |out: &mut String| d.write_line(out, shown, text);
        self.broadcast_relayed(to, line, &record, d.tags, d.account);
        if !stored {
            return;
        }
        let room = log_room;
        let nick = d.nick().to_string();
        // The log line shares the record's text.
        let text = record.text;
        let entry = if d.kind == Kind::Notice {
            LogEntry::Notice { nick, room, text }
        } else {
            LogEntry::Message { nick, room, text }
        };
        self.log(d.now.wall, entry);
    }

    /// Delivers `text` (already cut to fit) to the user `target`, shown
    /// to them as sent to `shown`.
    fn message_user(&mut self, d: &Delivery, target: &str, shown: &str, text: &str) {
        let Some(to) = self.user(target) else {
            if d.answers_errors() {
                self.reply(d.conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        };
        if d.kind == Kind::Privmsg {
            self.tell_if_away(d.conn, to);
        }
        // Every session of the recipient's account hears it, and every
        // other session of the sender's: one account, one conversation.
        let to_account = self.connections.get(&to).and_then(|c| c.account.clone());
        let from_account = self
            .connections
            .get(&d.conn)
            .and_then(|c| c.account.clone());
        let mut recipients = Vec::with_capacity(2);
        recipients.push(to);
        recipients.extend(self.sessions_of(to_account.as_deref()));
        recipients.extend(self.sessions_of(from_account.as_deref()));
        recipients.retain(|&r| r != d.conn);
        if d.echo || to == d.conn {
            recipients.push(d.conn);
        }
        if d.kind == Kind::Tagmsg {
            let connections = &self.connections;
            recipients.retain(|r| connections.get(r).is_some_and(|c| c.caps.message_tags));
        }
        recipients.sort_unstable();
        recipients.dedup();
        let to_nick = self.nick_of(to).unwrap_or(target).to_string();
        let source = d.source.clone();
        let line = |out: &mut String| d.write_line(out, shown, text);
        if d.kind == Kind::Tagmsg {
            let record =
                self.unstored_record(HistoryKind::Private, to_nick.as_str(), source, "", d.now);
            self.broadcast_relayed(recipients, line, &record, d.tags, d.account);
            return;
        }
        let accounts = (from_account.as_deref(), to_account.as_deref());
        let record = self.record_private(&to_nick, source, text, accounts, d.now);
        self.broadcast_relayed(recipients, line, &record, d.tags, d.account);
        self.remember_private(d.conn, &record, to);
        let text = self.config.log_private_text.then(|| text.to_string());
        self.log(
            d.now.wall,
            LogEntry::Private {
                from: d.nick().to_string(),
                to: to_nick,
                text,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_prefix_is_split_off_a_room_and_the_lowest_rank_counts() {
        assert_eq!(split_status("@#room"), (Some(Status::Ops), "#room"));
        assert_eq!(split_status("+#room"), (Some(Status::Voiced), "#room"));
        assert_eq!(split_status("@+#room"), (Some(Status::Voiced), "#room"));
        assert_eq!(split_status("#room"), (None, "#room"));
        assert_eq!(split_status("@nick"), (None, "@nick"));
        assert_eq!(split_status("@"), (None, "@"));
    }
}
