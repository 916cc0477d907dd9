//! Queries about people: WHOIS, WHOWAS, USERHOST and ISON (WHO is in
//! `who`).
//!
//! Owns what others may learn about a user: invisible (+i) users and
//! secret (+s) rooms are shown only to people who share them. Must never
//! change any state.

use super::Server;
use crate::core::connection::Connection;
use crate::core::event::{ConnId, Now, Timestamp};
use crate::proto::numeric::*;
use crate::proto::{casefold, Message};

/// How many past users WHOWAS remembers, all nicks together.
const WHOWAS_KEPT: usize = 1000;
/// Most nicks one ISON or USERHOST asks about.
const MAX_QUERY_NICKS: usize = 20;
/// Most nicks one USERHOST asks about (`USERHOST:5` in TARGMAX).
pub(super) const MAX_USERHOST: usize = 5;

/// Someone who used a nick: what WHOWAS shows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct WasUser {
    nick: String,
    user: String,
    host: String,
    realname: String,
    until: Timestamp,
}

impl Server {
    /// Remembers who `c` was (on a nick change or when it leaves); the
    /// oldest memory goes once [`WHOWAS_KEPT`] are kept.
    pub(super) fn remember_whowas(&mut self, c: &Connection, now: Now) {
        let Some(nick) = c.nick.clone() else {
            return;
        };
        if self.whowas.len() >= WHOWAS_KEPT {
            self.whowas.pop_front();
        }
        self.whowas.push_back(WasUser {
            nick,
            user: c.user.clone().unwrap_or_default(),
            host: c.host.clone(),
            realname: c.realname.clone(),
            until: now.wall,
        });
    }

    /// `WHOWAS nick [count]`: the newest `count` (all when absent or not
    /// positive) users of that nick, 314 and 312 each, then 369; 406 when
    /// nobody used it.
    pub(super) fn handle_whowas(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let wanted = msg
            .param(0)
            .split(',')
            .next()
            .unwrap_or_default()
            .to_string();
        let count = msg
            .param(1)
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(usize::MAX);
        let folded = casefold(&wanted);
        let found: Vec<WasUser> = self
            .whowas
            .iter()
            .rev()
            .filter(|w| casefold(&w.nick) == folded)
            .take(count)
            .cloned()
            .collect();
        if found.is_empty() {
            self.reply(
                conn,
                ERR_WASNOSUCHNICK,
                &[&wanted, "There was no such nickname"],
            );
        }
        let server = self.config.server_name.clone();
        for w in found {
            self.reply(
                conn,
                RPL_WHOWASUSER,
                &[&w.nick, &w.user, &w.host, "*", &w.realname],
            );
            let when = chrono::DateTime::from_timestamp_millis(w.until.0 as i64)
                .map(|t| t.format("%a %b %-d %H:%M:%S %Y UTC").to_string())
                .unwrap_or_default();
            self.reply(conn, RPL_WHOISSERVER, &[&w.nick, &server, &when]);
        }
        self.reply(conn, RPL_ENDOFWHOWAS, &[&wanted, "End of WHOWAS"]);
    }

    /// `ISON nick…`: which of them are online, in one 303.
    pub(super) fn handle_ison(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let online: Vec<String> = msg
            .params
            .iter()
            .flat_map(|p| p.split(' '))
            .filter(|n| !n.is_empty())
            .take(MAX_QUERY_NICKS)
            .filter_map(|n| {
                self.user(n)
                    .and_then(|id| self.nick_of(id))
                    .map(str::to_string)
            })
            .collect();
        self.reply(conn, RPL_ISON, &[&online.join(" ")]);
    }

    /// `USERHOST nick…` (up to five): `nick[*]=[+|-]user@host` each, `*` for
    /// operators and `-` for away.
    pub(super) fn handle_userhost(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let found: Vec<String> = msg
            .params
            .iter()
            .take(MAX_USERHOST)
            .filter_map(|n| self.user(n).and_then(|id| self.connections.get(&id)))
            .map(|c| {
                let oper = if c.modes.oper { "*" } else { "" };
                let away = if c.away.is_some() { '-' } else { '+' };
                let user = c.user.as_deref().unwrap_or("unknown");
                format!("{}{oper}={away}{user}@{}", c.nick_or_star(), c.host)
            })
            .collect();
        self.reply(conn, RPL_USERHOST, &[&found.join(" ")]);
    }

    /// Whether `asker` shares a room with `other`.
    pub(super) fn shares_room(&self, asker: ConnId, other: &Connection) -> bool {
        other
            .rooms
            .iter()
            .any(|f| self.rooms.get(f).is_some_and(|r| r.contains(asker)))
    }

    pub(super) fn handle_whois(&mut self, conn: ConnId, msg: &Message, now: Now) {
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
        // In a cluster, the node the user is connected to.
        let server = match &c.node {
            Some(node) => node.to_string(),
            None => self.config.server_name.clone(),
        };
        let network = self.config.network.clone();
        self.reply(conn, RPL_WHOISSERVER, &[&nick, &server, &network]);
        if let Some(account) = &c.account {
            self.reply(conn, RPL_WHOISACCOUNT, &[&nick, account, "is logged in as"]);
        }
        if let Some(away) = &c.away {
            self.reply(conn, RPL_AWAY, &[&nick, away]);
        }
        // 276: the certificate fingerprint, only to the user and operators.
        let asker_is_oper = self.connections.get(&conn).is_some_and(|a| a.modes.oper);
        if let (Some(fp), true) = (&c.certfp, conn == id || asker_is_oper) {
            let text = format!("has client certificate fingerprint {fp}");
            self.reply(conn, RPL_WHOISCERTFP, &[&nick, &text]);
        }
        if c.modes.oper {
            self.reply(conn, RPL_WHOISOPERATOR, &[&nick, "is an IRC operator"]);
        }
        if c.modes.bot {
            let text = format!("is a bot on {}", self.config.network);
            self.reply(conn, RPL_WHOISBOT, &[&nick, &text]);
        }
        if c.tls {
            self.reply(
                conn,
                RPL_WHOISSECURE,
                &[&nick, "is using a secure connection"],
            );
        }
        // 317: seconds since the last message, and the signon time.
        let idle = now.mono.secs_since(c.last_spoke).to_string();
        let signon = c.signon.secs().to_string();
        self.reply(
            conn,
            RPL_WHOISIDLE,
            &[&nick, &idle, &signon, "seconds idle, signon time"],
        );
        self.reply(conn, RPL_ENDOFWHOIS, &[&nick, "End of /WHOIS list"]);
    }
}
