//! Rooms: JOIN, PART, TOPIC, NAMES, KICK and INVITE (LIST is in `list`).
//!
//! Owns who enters and leaves a room and what they are told when they do.
//! Must never hold a room's own rules (those are [`crate::core::Room`]'s)
//! and never tell anyone a join or leave twice.

use super::leaving::REASONLEN;
use super::output::truncate;
use super::Server;
use crate::core::event::{ConnId, Now};
use crate::core::history::HistoryKind;
use crate::core::log::LogEntry;
use crate::core::room::{JoinRefusal, Privileges, Room, Topic};
use crate::proto::numeric::*;
use crate::proto::{
    casefold, casefold_cow, is_valid_channel, write_message, Message, CHANNELLEN, MAX_LINE,
    NICKLEN, TOPICLEN,
};
use std::collections::BTreeSet;

impl Server {
    /// Everyone sharing at least one room with `conn`, once each, without `conn`.
    pub(super) fn room_peers(&self, conn: ConnId) -> Vec<ConnId> {
        let Some(c) = self.connections.get(&conn) else {
            return Vec::new();
        };
        let mut peers = BTreeSet::new();
        for folded in &c.rooms {
            if let Some(room) = self.rooms.get(folded) {
                peers.extend(room.members().filter(|&m| m != conn));
            }
        }
        peers.into_iter().collect()
    }

    pub(super) fn handle_join(&mut self, conn: ConnId, msg: &Message, now: Now) {
        if msg.param(0) == "0" {
            let rooms: Vec<String> = match self.connections.get(&conn) {
                Some(c) => c.rooms.iter().cloned().collect(),
                None => return,
            };
            for folded in rooms {
                self.leave_room(conn, &folded, None, now);
            }
            return;
        }
        let mut keys = msg.param(1).split(',');
        for name in msg.param(0).split(',') {
            let key = keys.next().filter(|k| !k.is_empty());
            if !name.is_empty() {
                self.join_room(conn, name, key, now);
            }
        }
    }

    fn join_room(&mut self, conn: ConnId, name: &str, key: Option<&str>, now: Now) {
        if !is_valid_channel(name) {
            let shown: String = name.chars().take(CHANNELLEN + 1).collect();
            self.reply(
                conn,
                ERR_NOSUCHCHANNEL,
                &[&shown, "No such channel (names start with #)"],
            );
            return;
        }
        let folded = casefold(name);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.rooms.contains(&folded) {
            return;
        }
        if c.rooms.len() >= self.config.max_rooms_per_client {
            self.reply(
                conn,
                ERR_TOOMANYCHANNELS,
                &[name, "You have joined too many channels"],
            );
            return;
        }
        let source = c.shared_source();
        // A registered room that does not exist now is created with its
        // saved topic, modes and lists, which apply to this very join.
        let restored = self.registered_room_to_create(&folded, now);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if let Some(room) = self.rooms.get(&folded).or(restored.as_ref()) {
            if let Err(refusal) = room.may_join(conn, &source, key) {
                let (numeric, text) = match refusal {
                    JoinRefusal::Banned => (ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"),
                    JoinRefusal::InviteOnly => (ERR_INVITEONLYCHAN, "Cannot join channel (+i)"),
                    JoinRefusal::BadKey => (ERR_BADCHANNELKEY, "Cannot join channel (+k)"),
                    JoinRefusal::Full => (ERR_CHANNELISFULL, "Cannot join channel (+l)"),
                };
                let shown = room.name().to_string();
                self.reply(conn, numeric, &[&shown, text]);
                return;
            }
        }
        c.rooms.insert(folded.clone());
        c.invites.remove(&folded);
        let nick = c.nick_or_star().to_string();
        let registered = self.registered.contains(&folded);
        let room = self
            .rooms
            .entry(folded.clone())
            .or_insert_with(|| restored.unwrap_or_else(|| Room::new(name, now.wall)));
        if registered {
            // ChanServ, not being first, decides who is an operator here.
            room.join_with(conn, Privileges::default());
        } else {
            room.join(conn);
        }
        let room_name = room.shared_name();
        // extended-join clients hear the joiner's account and real name too.
        let mut plain = Vec::with_capacity(room.len());
        let mut extended = Vec::new();
        for m in room.members() {
            match self.connections.get(&m) {
                Some(c) if c.caps.extended_join => extended.push(m),
                _ => plain.push(m),
            }
        }
        let record = self.record(
            HistoryKind::Join,
            room_name.clone(),
            source.clone(),
            "",
            now,
        );
        let line = |out: &mut String| write_message(out, Some(&source), "JOIN", [&*room_name]);
        self.broadcast_relayed(plain, line, &record, "", None);
        if let Some(c) = self.connections.get(&conn).filter(|_| !extended.is_empty()) {
            // The account, or `*` for "not logged in".
            let account = c.account.clone().unwrap_or_else(|| "*".to_string());
            let params = [room_name.to_string(), account, c.realname.clone()];
            let m = Message::new("JOIN", params).with_source(source.to_string());
            self.broadcast_tagged(extended, &m, &record);
        }
        self.announce_away_on_join(conn, &folded);
        self.send_read_marker_on_join(conn, &folded, &room_name);
        self.send_topic(conn, &folded, false);
        self.send_names(conn, &folded);
        self.replay_on_join(conn, &folded, &room_name);
        let room = self.log_room(&folded);
        self.log(now.wall, LogEntry::Joined { nick, room });
        self.chanserv_greet(conn, &folded, now);
    }

    pub(super) fn handle_part(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let reason = msg
            .params
            .get(1)
            .filter(|r| !r.is_empty())
            .map(|r| truncate(r, REASONLEN).to_string());
        for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
            let folded = casefold_cow(name);
            if !self.rooms.contains_key(folded.as_ref()) {
                self.reply(conn, ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
                continue;
            }
            let member = self
                .connections
                .get(&conn)
                .is_some_and(|c| c.rooms.contains(&folded));
            if !member {
                self.reply(
                    conn,
                    ERR_NOTONCHANNEL,
                    &[name, "You're not on that channel"],
                );
                continue;
            }
            self.leave_room(conn, &folded, reason.clone(), now);
        }
    }

    /// `conn` leaves the room by PART: everyone in it (the leaver too) is told.
    fn leave_room(&mut self, conn: ConnId, folded: &str, reason: Option<String>, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.rooms.remove(folded);
        let source = c.shared_source();
        let nick = c.nick_or_star().to_string();
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let members: Vec<ConnId> = room.members().collect();
        let room_name = room.shared_name();
        // Fit the relayed line into 512 bytes, as for PRIVMSG.
        let overhead = source.len() + room_name.len() + 10;
        let shown = reason
            .as_deref()
            .map(|r| truncate(r, MAX_LINE.saturating_sub(overhead)));
        let text = reason.as_deref().unwrap_or_default();
        let record = self.record(
            HistoryKind::Part,
            room_name.clone(),
            source.clone(),
            text,
            now,
        );
        let line = |out: &mut String| {
            let params = std::iter::once(&*room_name).chain(shown);
            write_message(out, Some(&source), "PART", params);
        };
        self.broadcast_relayed(members, line, &record, "", None);
        let log_room = self.log_room(folded);
        self.drop_member(conn, folded);
        self.log(
            now.wall,
            LogEntry::Left {
                nick: nick.clone(),
                room: log_room.clone(),
            },
        );
        if let Some(reason) = reason {
            let entry = LogEntry::PartReason {
                nick,
                room: log_room,
                reason,
            };
            self.log(now.wall, entry);
        }
    }

    /// Removes `conn` from the room, deleting the room (with its modes,
    /// lists and invitations) when it empties.
    pub(super) fn drop_member(&mut self, conn: ConnId, folded: &str) {
        let Some(room) = self.rooms.get_mut(folded) else {
            return;
        };
        room.part(conn);
        if !room.is_empty() {
            return;
        }
        let invited: Vec<ConnId> = room.invited().collect();
        self.rooms.remove(folded);
        for id in invited {
            if let Some(c) = self.connections.get_mut(&id) {
                c.invites.remove(folded);
            }
        }
    }

    pub(super) fn send_topic(&mut self, conn: ConnId, folded: &str, reply_when_unset: bool) {
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let name = room.shared_name();
        match room.topic().cloned() {
            Some(topic) => {
                self.reply(conn, RPL_TOPIC, &[&name, &topic.text]);
                let at = topic.set_at.secs().to_string();
                self.reply(conn, RPL_TOPICWHOTIME, &[&name, &topic.set_by, &at]);
            }
            None if reply_when_unset => self.reply(conn, RPL_NOTOPIC, &[&name, "No topic is set"]),
            None => {}
        }
    }

    /// 353 lines and 366 for the room: every member with their prefixes
    /// (all of them for `multi-prefix` clients), as `nick!user@host` for
    /// `userhost-in-names` clients. Someone outside the room
    /// sees no invisible (+i) members, and nothing of a secret (+s) room.
    pub(super) fn send_names(&mut self, conn: ConnId, folded: &str) {
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let Some(asker) = self.connections.get(&conn) else {
            return;
        };
        let all_prefixes = asker.caps.multi_prefix;
        let userhost = asker.caps.userhost_in_names;
        let name = room.shared_name();
        let inside = room.contains(conn);
        let symbol = if room.modes().secret { "@" } else { "=" };
        // Keep each 353 line comfortably inside the 512-byte limit.
        let budget =
            MAX_LINE.saturating_sub(self.config.server_name.len() + name.len() + NICKLEN + 18);
        // The names, space-separated, cut into lines of at most `budget`
        // bytes, each written straight into its line.
        let mut lines = Vec::new();
        let mut line = String::with_capacity(budget);
        if inside || !room.modes().secret {
            for (m, p) in room.members_with_privileges() {
                let Some(c) = self.connections.get(&m) else {
                    continue;
                };
                if !inside && c.modes.invisible {
                    continue;
                }
                let source;
                let shown = if userhost {
                    source = c.source();
                    &source
                } else {
                    let Some(nick) = &c.nick else {
                        continue;
                    };
                    nick
                };
                let prefixes = p.prefixes(all_prefixes);
                let len = prefixes.len() + shown.len();
                if !line.is_empty() && line.len() + 1 + len > budget {
                    lines.push(std::mem::replace(&mut line, String::with_capacity(budget)));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(prefixes);
                line.push_str(shown);
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        for line in lines {
            self.reply(conn, RPL_NAMREPLY, &[symbol, &name, &line]);
        }
        self.reply(conn, RPL_ENDOFNAMES, &[&name, "End of /NAMES list"]);
    }

    pub(super) fn handle_names(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        if msg.params.is_empty() {
            self.reply(conn, RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
            return;
        }
        for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
            let folded = casefold(name);
            if self.rooms.contains_key(&folded) {
                self.send_names(conn, &folded);
            } else {
                self.reply(conn, RPL_ENDOFNAMES, &[name, "End of /NAMES list"]);
            }
        }
    }

    pub(super) fn handle_topic(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let name = msg.param(0);
        let folded = casefold(name);
        if !self.rooms.contains_key(&folded) {
            self.reply(conn, ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
            return;
        }
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        if !c.rooms.contains(&folded) {
            self.reply(
                conn,
                ERR_NOTONCHANNEL,
                &[name, "You're not on that channel"],
            );
            return;
        }
        let Some(text) = msg.params.get(1) else {
            self.send_topic(conn, &folded, true);
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let Some(room) = self.rooms.get_mut(&folded) else {
            return;
        };
        if !room.may_set_topic(conn) {
            let shown = room.name().to_string();
            self.reply(
                conn,
                ERR_CHANOPRIVSNEEDED,
                &[
                    &shown,
                    "You're not a channel operator (the topic is locked: +t)",
                ],
            );
            return;
        }
        // TOPICLEN, or less when a long source and room name would push the
        // relayed `:source TOPIC #room :text` past 512 bytes.
        let overhead = source.len() + "TOPIC".len() + room.name().len() + 6;
        let text = truncate(text, TOPICLEN.min(MAX_LINE.saturating_sub(overhead))).to_string();
        room.set_topic(Topic {
            text: text.clone(),
            set_by: nick.clone(),
            set_at: now.wall,
        });
        let room_name = room.name().to_string();
        let members: Vec<ConnId> = room.members().collect();
        self.room_changed(&folded);
        let record = self.record(
            HistoryKind::Topic,
            room_name.as_str(),
            source.as_str(),
            text.as_str(),
            now,
        );
        let m = Message::new("TOPIC", [room_name.as_str(), text.as_str()]).with_source(source);
        self.broadcast_tagged(members, &m, &record);
        let room = self.log_room(&folded);
        self.log(
            now.wall,
            LogEntry::Topic {
                nick,
                room,
                topic: text,
            },
        );
    }
}

impl Server {
    /// The room called `name` if `conn` is in it, as `(folded, shown
    /// name)`; otherwise answers 403 (no such room) or 442 (not in it).
    pub(super) fn room_of_member(&mut self, conn: ConnId, name: &str) -> Option<(String, String)> {
        let folded = casefold(name);
        let Some(room) = self.rooms.get(&folded) else {
            self.reply(conn, ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
            return None;
        };
        let room_name = room.name().to_string();
        if !room.contains(conn) {
            self.reply(
                conn,
                ERR_NOTONCHANNEL,
                &[&room_name, "You're not on that channel"],
            );
            return None;
        }
        Some((folded, room_name))
    }

    /// `KICK #room nick[,nick…] [:comment]`: an operator removes members.
    /// Everyone in the room (the kicked too) sees each KICK once.
    pub(super) fn handle_kick(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let Some((folded, room_name)) = self.room_of_member(conn, msg.param(0)) else {
            return;
        };
        if !self.rooms.get(&folded).is_some_and(|r| r.is_op(conn)) {
            self.reply(
                conn,
                ERR_CHANOPRIVSNEEDED,
                &[&room_name, "You're not a channel operator"],
            );
            return;
        }
        let Some(kicker) = self.connections.get(&conn) else {
            return;
        };
        let source = kicker.source();
        let kicker_nick = kicker.nick_or_star().to_string();
        // The default comment is the kicker's nick, as on most servers.
        let comment = match msg.params.get(2).filter(|c| !c.is_empty()) {
            Some(c) => truncate(c, REASONLEN).to_string(),
            None => kicker_nick.clone(),
        };
        for target in msg
            .param(1)
            .split(',')
            .filter(|t| !t.is_empty())
            .take(MAX_KICKS)
        {
            let victim = self.user(target);
            let in_room =
                victim.is_some_and(|v| self.rooms.get(&folded).is_some_and(|r| r.contains(v)));
            let (Some(victim), true) = (victim, in_room) else {
                if victim.is_none() {
                    self.reply(conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
                } else {
                    self.reply(
                        conn,
                        ERR_USERNOTINCHANNEL,
                        &[target, &room_name, "They aren't on that channel"],
                    );
                }
                continue;
            };
            self.kick(victim, &folded, &source, &kicker_nick, &comment, now);
        }
    }

    fn kick(
        &mut self,
        victim: ConnId,
        folded: &str,
        source: &str,
        kicker_nick: &str,
        comment: &str,
        now: Now,
    ) {
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let room_name = room.name().to_string();
        let members: Vec<ConnId> = room.members().collect();
        let victim_nick = self.nick_of(victim).unwrap_or("*").to_string();
        let overhead = source.len() + room_name.len() + victim_nick.len() + 12;
        let comment = truncate(comment, MAX_LINE.saturating_sub(overhead)).to_string();
        let text = format!("{victim_nick} {comment}");
        let record = self.record(
            HistoryKind::Kick,
            room_name.as_str(),
            source,
            text.as_str(),
            now,
        );
        let m = Message::new("KICK", [room_name.as_str(), &victim_nick, &comment])
            .with_source(source.to_string());
        self.broadcast_tagged(members, &m, &record);
        if let Some(c) = self.connections.get_mut(&victim) {
            c.rooms.remove(folded);
        }
        let log_room = self.log_room(folded);
        self.drop_member(victim, folded);
        self.log(
            now.wall,
            LogEntry::Kick {
                nick: kicker_nick.to_string(),
                room: log_room,
                victim: victim_nick,
                reason: comment,
            },
        );
    }

    /// `INVITE nick #room`: a member (an operator, when the room is +i)
    /// invites someone; the invitation admits them once.
    pub(super) fn handle_invite(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let (target, name) = (msg.param(0), msg.param(1));
        let Some(invitee) = self.user(target) else {
            self.reply(conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            return;
        };
        let Some((folded, room_name)) = self.room_of_member(conn, name) else {
            return;
        };
        let Some(room) = self.rooms.get(&folded) else {
            return;
        };
        if room.modes().invite_only && !room.is_op(conn) {
            self.reply(
                conn,
                ERR_CHANOPRIVSNEEDED,
                &[&room_name, "You're not a channel operator"],
            );
            return;
        }
        let invitee_nick = self.nick_of(invitee).unwrap_or(target).to_string();
        if room.contains(invitee) {
            self.reply(
                conn,
                ERR_USERONCHANNEL,
                &[&invitee_nick, &room_name, "is already on channel"],
            );
            return;
        }
        // invite-notify: the room's other operators that asked for it.
        let notified: Vec<ConnId> = room
            .members_with_privileges()
            .filter(|&(m, p)| p.op && m != conn)
            .filter(|(m, _)| {
                self.connections
                    .get(m)
                    .is_some_and(|c| c.caps.invite_notify)
            })
            .map(|(m, _)| m)
            .collect();
        if let Some(room) = self.rooms.get_mut(&folded) {
            room.invite(invitee);
        }
        if let Some(c) = self.connections.get_mut(&invitee) {
            c.invites.insert(folded);
        }
        let Some(source) = self.connections.get(&conn).map(|c| c.source()) else {
            return;
        };
        self.reply(conn, RPL_INVITING, &[&invitee_nick, &room_name]);
        let m =
            Message::new("INVITE", [invitee_nick.as_str(), room_name.as_str()]).with_source(source);
        self.send(invitee, &m);
        self.broadcast(notified, &m);
    }
}

/// Most nicks one KICK removes (`KICK:20` in TARGMAX).
pub(super) const MAX_KICKS: usize = 20;
