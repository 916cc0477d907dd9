//! Renaming rooms: `RENAME` (IRCv3 `draft/channel-rename`).
//!
//! Owns what a rename does: the room keeps everything (members, operators,
//! modes, lists, topic, invitations) under its new name, its history and
//! everyone's read markers follow it (here and, through a `Rename` record,
//! in the store), and each member is told: with `RENAME` if it enabled
//! `draft/channel-rename`, else by the fallback the spec requires (a `PART`
//! of the old name and a `JOIN` of the new one, with the topic and names
//! as after any join; nothing at all when only the case changed).
//! Must never let anyone but a room operator rename a room, nor give a
//! room a name that is in use (by a room, or by a past room's history).

use super::leaving::REASONLEN;
use super::output::truncate;
use super::Server;
use crate::core::event::{ConnId, Now};
use crate::core::history::HistoryKind;
use crate::core::log::LogEntry;
use crate::proto::numeric::*;
use crate::proto::{casefold, is_valid_channel, Message, MAX_LINE};

impl Server {
    /// `RENAME <#old> <#new> [:reason]`, room operators only.
    pub(super) fn handle_rename(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let (old, new) = (msg.param(0), msg.param(1));
        let old_folded = casefold(old);
        let Some(room) = self.rooms.get(&old_folded) else {
            self.reply(conn, ERR_NOSUCHCHANNEL, &[old, "No such channel"]);
            return;
        };
        let old_name = room.name().to_string();
        if !room.contains(conn) {
            self.reply(
                conn,
                ERR_NOTONCHANNEL,
                &[&old_name, "You're not on that channel"],
            );
            return;
        }
        if !room.is_op(conn) {
            self.reply(
                conn,
                ERR_CHANOPRIVSNEEDED,
                &[&old_name, "You're not a channel operator"],
            );
            return;
        }
        let new_folded = casefold(new);
        let refusal = if !is_valid_channel(new) {
            Some((
                "CANNOT_RENAME",
                "Room names start with # and have no spaces, commas or colons",
            ))
        } else if new == old_name {
            Some(("CANNOT_RENAME", "The room already has that name"))
        } else if new_folded != old_folded
            && (old_folded == self.default_room_folded || new_folded == self.default_room_folded)
        {
            // Every client is sent to the default room by name, and its
            // log lines are the ones without a room name.
            Some((
                "CANNOT_RENAME",
                "The server's default room keeps its name (only its case may change)",
            ))
        } else if new_folded != old_folded
            && (self.rooms.contains_key(&new_folded)
                || self.registered.contains(&new_folded)
                || self.history.get(&new_folded).is_some_and(|h| !h.is_empty()))
        {
            // A past room's history outlives it; merging two rooms'
            // histories under one name would mix two conversations.
            Some((
                "CHANNEL_NAME_IN_USE",
                "That name is taken by another room, a registered room, or a past room's history",
            ))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            self.fail(conn, "RENAME", code, &[&old_name, new], text);
            return;
        }
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let overhead = source.len() + old_name.len() + new.len() + 16;
        let reason = msg.params.get(2).map_or("", |r| {
            truncate(r, REASONLEN.min(MAX_LINE.saturating_sub(overhead)))
        });
        let text = match reason {
            "" => new.to_string(),
            _ => format!("{new} {reason}"),
        };
        let record = self.record(
            HistoryKind::Rename,
            old_name.as_str(),
            source.as_str(),
            text.as_str(),
            now,
        );
        let log_room = self.log_room(&old_folded);
        let members = self.move_room(&old_folded, &new_folded, new);
        self.chanserv_room_renamed(&old_folded, new);
        self.room_changed(&new_folded);
        let (renamed, fallback): (Vec<ConnId>, Vec<ConnId>) = members.into_iter().partition(|m| {
            self.connections
                .get(m)
                .is_some_and(|c| c.caps.channel_rename)
        });
        let m = Message::new("RENAME", [old_name.as_str(), new, reason]).with_source(source);
        self.broadcast_tagged(renamed, &m, &record);
        // The spec's fallback is not used when only the case changed: the
        // client keeps its buffer, under a name that differs in case only.
        if new_folded != old_folded {
            for member in fallback {
                self.rejoin_renamed(member, &old_name, &new_folded, new, reason);
            }
        }
        let entry = LogEntry::Rename {
            nick,
            room: log_room,
            new: new.to_string(),
            reason: reason.to_string(),
        };
        self.log(now.wall, entry);
    }

    /// Moves the room, its history, its members' and invitees' room lists
    /// and everyone's read markers from `old_folded` to `new_folded`, named
    /// `new`. Returns the members.
    fn move_room(&mut self, old_folded: &str, new_folded: &str, new: &str) -> Vec<ConnId> {
        let Some(mut room) = self.rooms.remove(old_folded) else {
            return Vec::new();
        };
        room.rename(new);
        let members: Vec<ConnId> = room.members().collect();
        let invited: Vec<ConnId> = room.invited().collect();
        self.rooms.insert(new_folded.to_string(), room);
        if let Some(mut history) = self.history.remove(old_folded) {
            history.rename(new);
            self.history.insert(new_folded.to_string(), history);
        }
        if old_folded != new_folded {
            for &id in &members {
                if let Some(c) = self.connections.get_mut(&id) {
                    c.rooms.remove(old_folded);
                    c.rooms.insert(new_folded.to_string());
                }
            }
            for id in invited {
                if let Some(c) = self.connections.get_mut(&id) {
                    if c.invites.remove(old_folded) {
                        c.invites.insert(new_folded.to_string());
                    }
                }
            }
            self.read_markers.rename_target(old_folded, new_folded);
        }
        members
    }

    /// The fallback for a member without `draft/channel-rename`: it leaves
    /// the old name and joins the new one, with the topic, names and read
    /// marker a join brings (no history: it has seen it already).
    fn rejoin_renamed(
        &mut self,
        member: ConnId,
        old_name: &str,
        new_folded: &str,
        new: &str,
        reason: &str,
    ) {
        let Some(c) = self.connections.get(&member) else {
            return;
        };
        let own = c.source();
        let mut join = vec![new.to_string()];
        if c.caps.extended_join {
            // As after any JOIN: the account (`*`: none) and real name.
            join.push(c.account.clone().unwrap_or_else(|| "*".to_string()));
            join.push(c.realname.clone());
        }
        let mut part = vec![old_name.to_string()];
        if !reason.is_empty() {
            part.push(reason.to_string());
        }
        let m = Message::new("PART", part).with_source(own.clone());
        self.send(member, &m);
        let m = Message::new("JOIN", join).with_source(own);
        self.send(member, &m);
        self.send_read_marker_on_join(member, new_folded, new);
        self.send_topic(member, new_folded, false);
        self.send_names(member, new_folded);
    }
}
