//! MODE, on rooms and on users.
//!
//! Owns reading and changing modes: parsing the mode string (one parser,
//! [`crate::proto::parse_channel_modes`]), asking the [`crate::core::Room`]
//! to apply each change, and announcing what changed. Must never let
//! anyone but a room operator change a room's modes, or anyone change
//! another user's.

use super::output::truncate;
use super::Server;
use crate::core::event::{ConnId, Now};
use crate::core::history::HistoryKind;
use crate::core::log::LogEntry;
use crate::core::room::ModeRefusal;
use crate::proto::numeric::*;
use crate::proto::{
    casefold, parse_channel_modes, render_mode_changes, ChannelMode, Message, ModeChange, ModeItem,
    MAX_LINE,
};

/// What `MODE` does to a room, in the order the line asked.
struct Outcome {
    applied: Vec<ModeChange>,
    refused: Vec<(ModeChange, ModeRefusal)>,
}

impl Server {
    pub(super) fn handle_mode(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let target = msg.param(0).to_string();
        if target.starts_with('#') {
            self.room_mode(conn, &target, msg, now);
        } else {
            self.user_mode(conn, &target, msg, now);
        }
    }

    fn room_mode(&mut self, conn: ConnId, target: &str, msg: &Message, now: Now) {
        let folded = casefold(target);
        let Some(room) = self.rooms.get(&folded) else {
            self.reply(conn, ERR_NOSUCHCHANNEL, &[target, "No such channel"]);
            return;
        };
        let name = room.name().to_string();
        let Some(modestring) = msg.params.get(1) else {
            let (letters, args) = room.modes().describe(room.contains(conn));
            let created = room.created().secs().to_string();
            let mut params = vec![name.as_str(), letters.as_str()];
            params.extend(args.iter().map(String::as_str));
            self.reply(conn, RPL_CHANNELMODEIS, &params);
            self.reply(conn, RPL_CREATIONTIME, &[&name, &created]);
            return;
        };
        let args: Vec<&str> = msg.params[2..].iter().map(String::as_str).collect();
        let items = parse_channel_modes(modestring, &args);
        let is_op = room.is_op(conn);
        let mut changes = Vec::new();
        for item in items {
            match item {
                ModeItem::ListQuery(mode) => self.send_list(conn, &folded, mode),
                ModeItem::Unknown(letter) => {
                    let shown = letter.to_string();
                    self.reply(
                        conn,
                        ERR_UNKNOWNMODE,
                        &[&shown, "is an unknown mode char to me"],
                    );
                }
                ModeItem::MissingParam { mode, .. } => {
                    let shown = format!("MODE {}", mode.letter());
                    self.reply(conn, ERR_NEEDMOREPARAMS, &[&shown, "Not enough parameters"]);
                }
                ModeItem::Change(change) => changes.push(change),
            }
        }
        if changes.is_empty() {
            return;
        }
        if !is_op {
            self.reply(
                conn,
                ERR_CHANOPRIVSNEEDED,
                &[&name, "You're not a channel operator"],
            );
            return;
        }
        let outcome = self.apply_room_modes(conn, &folded, changes, now);
        self.room_changed(&folded);
        for (change, refusal) in outcome.refused {
            self.explain_refusal(conn, &name, &change, refusal);
        }
        self.announce_modes(conn, &folded, &outcome.applied, now);
    }

    /// Applies each change in turn; a nick is looked up for `+o`/`+v`.
    fn apply_room_modes(
        &mut self,
        conn: ConnId,
        folded: &str,
        changes: Vec<ModeChange>,
        now: Now,
    ) -> Outcome {
        let by = self.nick_of(conn).unwrap_or("*").to_string();
        let mut outcome = Outcome {
            applied: Vec::new(),
            refused: Vec::new(),
        };
        for mut change in changes {
            let member = match change.mode {
                ChannelMode::Op | ChannelMode::Voice => {
                    let nick = change.arg.as_deref().unwrap_or_default();
                    let member = self.user(nick);
                    if member.is_none() {
                        let shown = truncate(nick, 64).to_string();
                        self.reply(conn, ERR_NOSUCHNICK, &[&shown, "No such nick/channel"]);
                        continue;
                    }
                    // Announce the nick as its owner spells it.
                    change.arg = member.and_then(|m| self.nick_of(m)).map(str::to_string);
                    member
                }
                _ => None,
            };
            let Some(room) = self.rooms.get_mut(folded) else {
                break;
            };
            match room.apply(&change, member, &by, now.wall) {
                Ok(Some(applied)) => outcome.applied.push(applied),
                Ok(None) => {}
                Err(refusal) => outcome.refused.push((change, refusal)),
            }
        }
        outcome
    }

    fn explain_refusal(&mut self, conn: ConnId, room: &str, change: &ModeChange, why: ModeRefusal) {
        let arg = change.arg.clone().unwrap_or_default();
        let letter = change.mode.letter().to_string();
        match why {
            ModeRefusal::NotInRoom => self.reply(
                conn,
                ERR_USERNOTINCHANNEL,
                &[&arg, room, "They aren't on that channel"],
            ),
            ModeRefusal::InvalidKey => self.reply(
                conn,
                ERR_INVALIDKEY,
                &[
                    room,
                    "Key is not well-formed (1-23 characters, no spaces or commas)",
                ],
            ),
            ModeRefusal::InvalidLimit => self.reply(
                conn,
                ERR_INVALIDMODEPARAM,
                &[
                    room,
                    &letter,
                    &arg,
                    "Limit must be a number from 1 to 100000",
                ],
            ),
            ModeRefusal::ListFull => {
                self.reply(conn, ERR_BANLISTFULL, &[room, &arg, "Channel list is full"])
            }
        }
    }

    /// Tells the room what changed, in lines that fit 512 bytes, stores it
    /// in history and logs it.
    fn announce_modes(&mut self, conn: ConnId, folded: &str, applied: &[ModeChange], now: Now) {
        if applied.is_empty() {
            return;
        }
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let room_name = room.name().to_string();
        let members: Vec<ConnId> = room.members().collect();
        let budget = MAX_LINE.saturating_sub(source.len() + room_name.len() + 12);
        for chunk in chunks_within(applied, budget) {
            let (letters, args) = render_mode_changes(chunk);
            let text = std::iter::once(letters.clone())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
            let record = self.record(
                HistoryKind::Mode,
                room_name.as_str(),
                source.as_str(),
                text.as_str(),
                now,
            );
            let mut params = vec![room_name.clone(), letters];
            params.extend(args);
            let m = Message::new("MODE", params).with_source(source.clone());
            self.broadcast_tagged(members.clone(), &m, &record);
            let log_room = self.log_room(folded);
            self.log(
                now.wall,
                LogEntry::Mode {
                    nick: nick.clone(),
                    room: log_room,
                    modes: text,
                },
            );
        }
    }

    /// 367/368 (bans), 348/349 (exceptions) or 346/347 (invite exceptions).
    fn send_list(&mut self, conn: ConnId, folded: &str, mode: ChannelMode) {
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let name = room.name().to_string();
        let entries = room.list(mode).to_vec();
        let (item, end, end_text) = match mode {
            ChannelMode::BanException => (
                RPL_EXCEPTLIST,
                RPL_ENDOFEXCEPTLIST,
                "End of channel exception list",
            ),
            ChannelMode::InviteException => (
                RPL_INVITELIST,
                RPL_ENDOFINVITELIST,
                "End of channel invite list",
            ),
            _ => (RPL_BANLIST, RPL_ENDOFBANLIST, "End of channel ban list"),
        };
        for e in entries {
            let at = e.set_at.secs().to_string();
            // The mask may be long: it is the one parameter not cut short.
            let params = [
                name.as_str(),
                e.mask.as_str(),
                e.set_by.as_str(),
                at.as_str(),
            ];
            self.reply_whole(conn, item, &params);
        }
        self.reply(conn, end, &[&name, end_text]);
    }

    fn user_mode(&mut self, conn: ConnId, target: &str, msg: &Message, _now: Now) {
        let own = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.nick.as_deref().map(casefold) == Some(casefold(target)));
        if !own {
            if self.user(target).is_some() {
                self.reply(
                    conn,
                    ERR_USERSDONTMATCH,
                    &["Can't change mode for other users"],
                );
            } else {
                self.reply(conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let Some(modestring) = msg.params.get(1) else {
            let modes = c.modes.to_mode_string();
            self.reply(conn, RPL_UMODEIS, &[&modes]);
            return;
        };
        let before = c.modes;
        let mut set = true;
        let mut unknown = false;
        for letter in modestring.chars() {
            match letter {
                '+' | '-' => set = letter == '+',
                'i' => c.modes.invisible = set,
                'w' => c.modes.wallops = set,
                'B' => c.modes.bot = set,
                // +o comes only from OPER; anyone may drop it.
                'o' if !set => c.modes.oper = false,
                'o' => {}
                _ => unknown = true,
            }
        }
        let after = c.modes;
        let nick = c.nick_or_star().to_string();
        if unknown {
            self.reply(conn, ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]);
        }
        let mut change = String::new();
        let mut direction = None;
        for (was, is, letter) in [
            (before.bot, after.bot, 'B'),
            (before.invisible, after.invisible, 'i'),
            (before.oper, after.oper, 'o'),
            (before.wallops, after.wallops, 'w'),
        ] {
            if was != is {
                if direction != Some(is) {
                    change.push(if is { '+' } else { '-' });
                    direction = Some(is);
                }
                change.push(letter);
            }
        }
        if !change.is_empty() {
            let m =
                Message::new("MODE", [nick.as_str(), change.as_str()]).with_source(nick.clone());
            self.send(conn, &m);
        }
    }
}

/// `changes` cut into runs whose rendered MODE arguments fit `budget` bytes.
fn chunks_within(changes: &[ModeChange], budget: usize) -> Vec<&[ModeChange]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, change) in changes.iter().enumerate() {
        let cost = 3 + change.arg.as_deref().map_or(0, |a| a.len() + 1);
        if i > start && used + cost > budget {
            chunks.push(&changes[start..i]);
            start = i;
            used = 0;
        }
        used += cost;
    }
    if start < changes.len() {
        chunks.push(&changes[start..]);
    }
    chunks
}
