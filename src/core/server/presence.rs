//! Presence: AWAY, and `away-notify` for the people who share a room
//! (also when an away user joins one of their rooms) and, with
//! `extended-monitor`, for those who MONITOR the user.
//!
//! Owns whether a user is away and who hears of it. Must never change
//! anything but the away state.

use super::output::truncate;
use super::Server;
use crate::core::event::{ConnId, Now};
use crate::proto::numeric::*;
use crate::proto::Message;

/// Longest away message kept (`AWAYLEN` in 005).
pub(super) const AWAYLEN: usize = 200;

impl Server {
    /// `AWAY :message` marks the user away (306); `AWAY` alone marks them
    /// back (305). People in their rooms with `away-notify` hear it.
    pub(super) fn handle_away(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let message = msg
            .params
            .first()
            .filter(|m| !m.is_empty())
            .map(|m| truncate(m, AWAYLEN).to_string());
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.away == message {
            // Nothing changed: confirm, but tell nobody else.
            let (numeric, text) = away_reply(message.is_some());
            self.reply(conn, numeric, &[text]);
            return;
        }
        c.away = message.clone();
        let source = c.source();
        let (numeric, text) = away_reply(message.is_some());
        self.reply(conn, numeric, &[text]);
        // Room peers, and `extended-monitor` watchers, with away-notify.
        let listeners = self.identity_listeners(conn, |caps| caps.away_notify, false);
        let m = Message::new("AWAY", message).with_source(source);
        self.broadcast(listeners, &m);
    }

    /// `conn` just joined the room `folded`: if it is away, the other
    /// members with `away-notify` hear its AWAY right after the JOIN, as
    /// the away-notify spec asks ("as well as when a user joins and has an
    /// away message set"), so their view of the room is complete without
    /// a WHO.
    pub(super) fn announce_away_on_join(&mut self, conn: ConnId, folded: &str) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let Some(away) = c.away.clone() else {
            return;
        };
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let listeners: Vec<ConnId> = room
            .members()
            .filter(|&m| m != conn)
            .filter(|m| {
                self.connections
                    .get(m)
                    .is_some_and(|other| other.caps.away_notify)
            })
            .collect();
        let m = Message::new("AWAY", [away]).with_source(c.source());
        self.broadcast(listeners, &m);
    }

    /// 301 to `asker` when `target` is away.
    pub(super) fn tell_if_away(&mut self, asker: ConnId, target: ConnId) {
        let Some(t) = self.connections.get(&target) else {
            return;
        };
        if let Some(away) = t.away.clone() {
            let nick = t.nick_or_star().to_string();
            self.reply(asker, RPL_AWAY, &[&nick, &away]);
        }
    }
}

fn away_reply(away: bool) -> (&'static str, &'static str) {
    if away {
        (RPL_NOWAWAY, "You have been marked as being away")
    } else {
        (RPL_UNAWAY, "You are no longer marked as being away")
    }
}
