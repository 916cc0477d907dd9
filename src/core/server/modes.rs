//! MODE, on rooms and on users.
//!
//! Owns reading and changing modes. Must never let anyone but a room
//! operator change a room's modes, or anyone change another user's.

use super::Server;
use crate::core::event::{ConnId, Now};
use crate::proto::numeric::*;
use crate::proto::{casefold, Message};

impl Server {
    pub(super) fn handle_mode(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let target = msg.param(0).to_string();
        if target.starts_with('#') {
            let folded = casefold(&target);
            let Some(room) = self.rooms.get(&folded) else {
                self.reply(conn, ERR_NOSUCHCHANNEL, &[&target, "No such channel"]);
                return;
            };
            let name = room.name().to_string();
            let created = room.created().secs().to_string();
            match msg.params.get(1).map(String::as_str) {
                None => {
                    self.reply(conn, RPL_CHANNELMODEIS, &[&name, "+nt"]);
                    self.reply(conn, RPL_CREATIONTIME, &[&name, &created]);
                }
                // A ban-list query (`MODE #room b`, sent by many clients on join).
                Some("b") | Some("+b") => {
                    self.reply(conn, RPL_ENDOFBANLIST, &[&name, "End of channel ban list"])
                }
                Some(_) => self.reply(
                    conn,
                    ERR_CHANOPRIVSNEEDED,
                    &[&name, "Channel modes cannot be changed on this server"],
                ),
            }
            return;
        }
        let own = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.nick.as_deref().map(casefold) == Some(casefold(&target)));
        if !own {
            if self.user(&target).is_some() {
                self.reply(
                    conn,
                    ERR_USERSDONTMATCH,
                    &["Can't change mode for other users"],
                );
            } else {
                self.reply(conn, ERR_NOSUCHNICK, &[&target, "No such nick/channel"]);
            }
            return;
        }
        match msg.params.get(1) {
            None => self.reply(conn, RPL_UMODEIS, &["+"]),
            // Clients set +i on connect; there are no user modes to keep, so accept silently.
            Some(modes) if modes.trim_start_matches(['+', '-']) == "i" => {}
            Some(_) => self.reply(conn, ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]),
        }
    }
}
