//! Queries about people: WHO and WHOIS.
//!
//! Owns what others may learn about a user. Must never change any state.

use super::Server;
use crate::core::connection::Connection;
use crate::core::event::{ConnId, Now};
use crate::proto::numeric::*;
use crate::proto::{casefold, Message};

impl Server {
    fn who_row(&self, c: &Connection, channel: &str) -> Vec<String> {
        vec![
            channel.to_string(),
            c.user.clone().unwrap_or_default(),
            c.host.clone(),
            self.config.server_name.clone(),
            c.nick_or_star().to_string(),
            "H".to_string(),
            format!("0 {}", c.realname),
        ]
    }

    pub(super) fn handle_who(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let mask = msg.param(0).to_string();
        let folded = casefold(&mask);
        let mut rows = Vec::new();
        if let Some(room) = self.rooms.get(&folded) {
            for m in room.members() {
                if let Some(c) = self.connections.get(&m) {
                    rows.push(self.who_row(c, room.name()));
                }
            }
        } else if let Some(c) = self.user(&mask).and_then(|id| self.connections.get(&id)) {
            rows.push(self.who_row(c, "*"));
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
            .and_then(|id| self.connections.get(&id))
            .cloned();
        let Some(c) = found else {
            self.reply(conn, ERR_NOSUCHNICK, &[&target, "No such nick/channel"]);
            self.reply(conn, RPL_ENDOFWHOIS, &[&target, "End of /WHOIS list"]);
            return;
        };
        let nick = c.nick_or_star().to_string();
        let user = c.user.clone().unwrap_or_default();
        self.reply(
            conn,
            RPL_WHOISUSER,
            &[&nick, &user, &c.host, "*", &c.realname],
        );
        let rooms: Vec<String> = c
            .rooms
            .iter()
            .filter_map(|f| self.rooms.get(f).map(|r| r.name().to_string()))
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
        self.reply(conn, RPL_ENDOFWHOIS, &[&nick, "End of /WHOIS list"]);
    }
}
