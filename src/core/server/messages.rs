//! Messages: PRIVMSG and NOTICE, to rooms and to people.
//!
//! Owns delivery: every member of a room but the sender (the sender too
//! with `echo-message`) gets each accepted message exactly once, in the
//! order the room accepted them. Must never answer a NOTICE with an error.

use super::output::truncate;
use super::Server;
use crate::core::event::{ConnId, Now};
use crate::core::history::HistoryKind;
use crate::core::log::LogEntry;
use crate::core::room::SpeakRefusal;
use crate::proto::numeric::*;
use crate::proto::{casefold, Message, MAX_LINE};

/// How many comma-separated targets one PRIVMSG or NOTICE may name.
const MAX_TARGETS: usize = 4;

/// What a message is and who sent it, for one delivery.
struct Delivery<'a> {
    conn: ConnId,
    nick: &'a str,
    source: &'a str,
    echo: bool,
    is_notice: bool,
    now: Now,
}

impl Server {
    pub(super) fn handle_privmsg(&mut self, conn: ConnId, msg: &Message, now: Now) {
        self.handle_message(conn, msg, "PRIVMSG", now);
    }

    pub(super) fn handle_notice(&mut self, conn: ConnId, msg: &Message, now: Now) {
        self.handle_message(conn, msg, "NOTICE", now);
    }

    fn handle_message(&mut self, conn: ConnId, msg: &Message, command: &str, now: Now) {
        let is_notice = command == "NOTICE";
        if msg.params.is_empty() || msg.param(0).is_empty() {
            if !is_notice {
                self.reply(
                    conn,
                    ERR_NORECIPIENT,
                    &[&format!("No recipient given ({command})")],
                );
            }
            return;
        }
        let Some(text) = msg.params.get(1).filter(|t| !t.is_empty()) else {
            if !is_notice {
                self.reply(conn, ERR_NOTEXTTOSEND, &["No text to send"]);
            }
            return;
        };
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.last_spoke = now.mono;
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let delivery = Delivery {
            conn,
            nick: &nick,
            source: &source,
            echo: c.caps.echo_message,
            is_notice,
            now,
        };
        let targets = msg.param(0).split(',').filter(|t| !t.is_empty());
        for target in targets.take(MAX_TARGETS) {
            // Fit the relayed line into 512 bytes, as IRC servers do.
            let overhead = source.len() + command.len() + target.len() + 6;
            let text = truncate(text, MAX_LINE.saturating_sub(overhead));
            let line = Message::new(command, [target, text]).with_source(source.clone());
            if target.starts_with('#') {
                self.message_room(&delivery, target, &line);
            } else {
                self.message_user(&delivery, target, &line);
            }
        }
    }

    fn message_room(&mut self, d: &Delivery, target: &str, line: &Message) {
        let folded = casefold(target);
        let Some(room) = self.rooms.get(&folded) else {
            if !d.is_notice {
                self.reply(d.conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        };
        if let Err(refusal) = room.may_speak(d.conn, d.source) {
            if !d.is_notice {
                let why = match refusal {
                    SpeakRefusal::NotMember => "Cannot send to channel (join it first: +n)",
                    SpeakRefusal::Moderated => "Cannot send to channel (+m: you need voice)",
                    SpeakRefusal::Banned => "Cannot send to channel (you are banned: +b)",
                };
                let name = room.name().to_string();
                self.reply(d.conn, ERR_CANNOTSENDTOCHAN, &[&name, why]);
            }
            return;
        }
        let mut to: Vec<ConnId> = room.members().filter(|&m| d.echo || m != d.conn).collect();
        if d.echo && !room.contains(d.conn) {
            // echo-message: an outsider speaking to a -n room gets its echo too.
            to.push(d.conn);
            to.sort_unstable();
        }
        let kind = if d.is_notice {
            HistoryKind::Notice
        } else {
            HistoryKind::Privmsg
        };
        let room_name = room.name().to_string();
        let source = line.source.clone().unwrap_or_default();
        let record = self.record(kind, &room_name, &source, line.param(1), d.now);
        if !to.is_empty() {
            self.broadcast_tagged(to, line, &record);
        }
        let room = self.log_room(&folded);
        let nick = d.nick.to_string();
        let text = line.param(1).to_string();
        let entry = if d.is_notice {
            LogEntry::Notice { nick, room, text }
        } else {
            LogEntry::Message { nick, room, text }
        };
        self.log(d.now.wall, entry);
    }

    fn message_user(&mut self, d: &Delivery, target: &str, line: &Message) {
        let Some(to) = self.user(target) else {
            if !d.is_notice {
                self.reply(d.conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        };
        if !d.is_notice {
            self.tell_if_away(d.conn, to);
        }
        let mut recipients = vec![to];
        if d.echo && to != d.conn {
            recipients.push(d.conn);
        }
        recipients.sort_unstable();
        let to_nick = self.nick_of(to).unwrap_or(target).to_string();
        let source = line.source.clone().unwrap_or_default();
        let record = self.record(
            HistoryKind::Private,
            &to_nick,
            &source,
            line.param(1),
            d.now,
        );
        self.broadcast_tagged(recipients, line, &record);
        self.remember_private(d.conn, &record, to);
        let text = self
            .config
            .log_private_text
            .then(|| line.param(1).to_string());
        self.log(
            d.now.wall,
            LogEntry::Private {
                from: d.nick.to_string(),
                to: to_nick,
                text,
            },
        );
    }
}
