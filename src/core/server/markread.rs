//! Read markers: `MARKREAD` (IRCv3 `draft/read-marker`).
//!
//! Owns answering `MARKREAD`, telling a `draft/read-marker` client its
//! marker for each room it joins, and asking the store to keep every
//! change. Must never tell anyone a marker that is not their own: markers
//! belong to the `nick!user@host` that set them until accounts exist (see
//! [`crate::core::ReadMarkers`]).

use super::Server;
use crate::core::action::Action;
use crate::core::event::{ConnId, Now, Timestamp};
use crate::core::history::{parse_server_time, server_time};
use crate::core::read_markers::owner_key;
use crate::proto::{casefold, is_valid_channel, is_valid_nick, Message};

impl Server {
    /// `MARKREAD <target>` asks for the marker; `MARKREAD <target>
    /// timestamp=…` moves it forward. Both are answered with the marker as
    /// it stands (`*` when there is none).
    pub(super) fn handle_markread(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let target = msg.param(0);
        if target.is_empty() {
            self.fail(
                conn,
                "MARKREAD",
                "NEED_MORE_PARAMS",
                &[],
                "Missing parameters",
            );
            return;
        }
        if !is_valid_channel(target) && !is_valid_nick(target) {
            self.fail(
                conn,
                "MARKREAD",
                "INVALID_PARAMS",
                &[target],
                "The target must be a room or a nickname",
            );
            return;
        }
        let Some(owner) = self.marker_owner(conn) else {
            return;
        };
        let folded = casefold(target);
        let stored = match msg.params.get(1) {
            None => self.read_markers.get(&owner, &folded),
            Some(given) => {
                let Some(at) = given.strip_prefix("timestamp=").and_then(parse_server_time) else {
                    self.fail(
                        conn,
                        "MARKREAD",
                        "INVALID_PARAMS",
                        &[given],
                        "Give the time tag of the last message read, as \
                         timestamp=YYYY-MM-DDThh:mm:ss.sssZ",
                    );
                    return;
                };
                // Never ahead of the server's clock: the spec asks servers
                // to clamp between the stored marker and now.
                let at = at.min(now.wall);
                let (stored, changes) = self.read_markers.advance(&owner, &folded, at, now.wall);
                for change in changes {
                    self.emit(Action::SaveReadMarker(change));
                }
                Some(stored)
            }
        };
        self.send_read_marker(conn, target, stored);
    }

    /// After a JOIN (before 366), a `draft/read-marker` client is told its
    /// marker for the room, as the spec requires.
    pub(super) fn send_read_marker_on_join(&mut self, conn: ConnId, folded: &str, name: &str) {
        if !self
            .connections
            .get(&conn)
            .is_some_and(|c| c.caps.read_marker)
        {
            return;
        }
        let Some(owner) = self.marker_owner(conn) else {
            return;
        };
        let stored = self.read_markers.get(&owner, folded);
        self.send_read_marker(conn, name, stored);
    }

    /// Whose markers `conn` reads and sets: its account's when it is
    /// logged in (every session shares them), else its `nick!user@host`.
    fn marker_owner(&self, conn: ConnId) -> Option<String> {
        let c = self.connections.get(&conn)?;
        if let Some(account) = &c.account {
            // No `!`: never the same key as a `nick!user@host` owner.
            return Some(format!("account:{}", crate::proto::casefold(account)));
        }
        Some(owner_key(
            c.nick.as_deref()?,
            c.user.as_deref().unwrap_or("unknown"),
            &c.host,
        ))
    }

    /// `:server MARKREAD <target> timestamp=…` (or `*`).
    fn send_read_marker(&mut self, conn: ConnId, target: &str, stored: Option<Timestamp>) {
        let value = match stored {
            Some(at) => format!("timestamp={}", server_time(at)),
            None => "*".to_string(),
        };
        let m = self.server_message("MARKREAD", [target, value.as_str()]);
        self.send(conn, &m);
    }
}
