//! Identity: SETNAME, and who hears of a change to someone's identity.
//!
//! Owns the real name after registration and the rule for identity
//! notifications: people sharing a room who enabled the capability, the
//! user itself if it did, and `extended-monitor` watchers who did. Must
//! never tell a client a notification its capabilities did not ask for.

use super::Server;
use crate::core::connection::Caps;
use crate::core::event::{ConnId, Now};
use crate::proto::Message;

/// Longest real name, in bytes (`NAMELEN` in 005, as `setname` asks).
pub(super) const NAMELEN: usize = 128;

impl Server {
    /// `SETNAME :new real name` (IRCv3 `setname`). Accepted changes reach
    /// everyone with the capability who shares a room, and the user itself;
    /// without the capability the change is made silently, as the spec asks.
    pub(super) fn handle_setname(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let realname = msg.param(0);
        if realname.is_empty() || realname.len() > NAMELEN {
            let text = format!("Realname is not valid: it must be 1 to {NAMELEN} bytes long");
            let m = self.server_message("FAIL", ["SETNAME", "INVALID_REALNAME", text.as_str()]);
            self.send(conn, &m);
            return;
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.realname = realname.to_string();
        let source = c.source();
        let m = Message::new("SETNAME", [realname]).with_source(source);
        let to = self.identity_listeners(conn, |caps| caps.setname, true);
        self.broadcast(to, &m);
    }

    /// Who hears of a change to `conn`'s identity: room peers and
    /// `extended-monitor` watchers for whom `wants` holds, and `conn` itself
    /// (when `include_self` and `wants` holds for it), once each, sorted.
    pub(super) fn identity_listeners(
        &self,
        conn: ConnId,
        wants: fn(&Caps) -> bool,
        include_self: bool,
    ) -> Vec<ConnId> {
        let has = |id: &ConnId| self.connections.get(id).is_some_and(|c| wants(&c.caps));
        let mut to: Vec<ConnId> = self.room_peers(conn).into_iter().filter(has).collect();
        to.extend(self.extended_watchers(conn, wants));
        if include_self && has(&conn) {
            to.push(conn);
        }
        to.sort_unstable();
        to.dedup();
        to
    }
}
