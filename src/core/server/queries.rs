//! Queries about people: WHO and WHOIS.
//!
//! Owns what others may learn about a user: invisible (+i) users and
//! secret (+s) rooms are shown only to people who share them. Must never
//! change any state.

use super::Server;
use crate::core::connection::Connection;
use crate::core::event::{ConnId, Now};
use crate::core::room::Privileges;
use crate::proto::numeric::*;
use crate::proto::{casefold, Message};

impl Server {
    /// One 352 row: `H` (here), `*` for a server operator, then the
    /// member's prefixes in `channel` (all of them with `multi-prefix`).
    fn who_row(
        &self,
        c: &Connection,
        channel: &str,
        privileges: Privileges,
        all: bool,
    ) -> Vec<String> {
        let mut flags = String::from("H");
        if c.modes.oper {
            flags.push('*');
        }
        flags.push_str(privileges.prefixes(all));
        vec![
            channel.to_string(),
            c.user.clone().unwrap_or_default(),
            c.host.clone(),
            self.config.server_name.clone(),
            c.nick_or_star().to_string(),
            flags,
            format!("0 {}", c.realname),
        ]
    }

    /// Whether `asker` shares a room with `other`.
    fn shares_room(&self, asker: ConnId, other: &Connection) -> bool {
        other
            .rooms
            .iter()
            .any(|f| self.rooms.get(f).is_some_and(|r| r.contains(asker)))
    }

    pub(super) fn handle_who(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let mask = msg.param(0).to_string();
        let folded = casefold(&mask);
        let all = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.caps.multi_prefix);
        let mut rows = Vec::new();
        if let Some(room) = self.rooms.get(&folded) {
            let inside = room.contains(conn);
            if inside || !room.modes().secret {
                for (m, p) in room.members_with_privileges() {
                    match self.connections.get(&m) {
                        Some(c) if inside || !c.modes.invisible => {
                            rows.push(self.who_row(c, room.name(), p, all))
                        }
                        _ => {}
                    }
                }
            }
        } else if let Some(c) = self.user(&mask).and_then(|id| self.connections.get(&id)) {
            rows.push(self.who_row(c, "*", Privileges::default(), all));
        }
        for row in rows {
            let params: Vec<&str> = row.iter().map(String::as_str).collect();
            self.reply(conn, RPL_WHOREPLY, &params);
        }
        let shown = if mask.is_empty() { "*" } else { mask.as_str() };
        self.reply(conn, RPL_ENDOFWHO, &[shown, "End of WHO list"]);
    }

    pub(super) fn handle_whois(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        // WHOIS [server] nick: the nick is the last parameter.
        let Some(target) = msg.params.last().cloned() else {
            self.reply(conn, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
            return;
        };
        let found = self
            .user(&target)
            .and_then(|id| Some((id, self.connections.get(&id)?.clone())));
        let Some((id, c)) = found else {
            self.reply(conn, ERR_NOSUCHNICK, &[&target, "No such nick/channel"]);
            self.reply(conn, RPL_ENDOFWHOIS, &[&target, "End of /WHOIS list"]);
            return;
        };
        let all = self
            .connections
            .get(&conn)
            .is_some_and(|a| a.caps.multi_prefix);
        let nick = c.nick_or_star().to_string();
        let user = c.user.clone().unwrap_or_default();
        self.reply(
            conn,
            RPL_WHOISUSER,
            &[&nick, &user, &c.host, "*", &c.realname],
        );
        // Secret rooms (and every room of an invisible user) only for
        // those who are in them too.
        let shown_to_anyone = !c.modes.invisible || self.shares_room(conn, &c);
        let rooms: Vec<String> = c
            .rooms
            .iter()
            .filter_map(|f| self.rooms.get(f))
            .filter(|r| r.contains(conn) || (shown_to_anyone && !r.modes().secret))
            .filter_map(|r| {
                let p = r.privileges(id)?;
                Some(format!("{}{}", p.prefixes(all), r.name()))
            })
            .collect();
        // One 319 line per ~400 bytes of room names, as for NAMES.
        let mut chunk = String::new();
        for room in rooms {
            if !chunk.is_empty() && chunk.len() + 1 + room.len() > 400 {
                self.reply(conn, RPL_WHOISCHANNELS, &[&nick, &chunk]);
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(' ');
            }
            chunk.push_str(&room);
        }
        if !chunk.is_empty() {
            self.reply(conn, RPL_WHOISCHANNELS, &[&nick, &chunk]);
        }
        let server = self.config.server_name.clone();
        let network = self.config.network.clone();
        self.reply(conn, RPL_WHOISSERVER, &[&nick, &server, &network]);
        if c.modes.oper {
            self.reply(conn, RPL_WHOISOPERATOR, &[&nick, "is an IRC operator"]);
        }
        self.reply(conn, RPL_ENDOFWHOIS, &[&nick, "End of /WHOIS list"]);
    }
}
