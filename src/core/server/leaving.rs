//! Leaving the server: QUIT, dropped connections, and shutdown.
//!
//! Owns forgetting a connection: its nick, its rooms, its timer, its
//! MONITOR list. Everyone who shared a room hears it exactly once, and
//! those who monitor its nick get 731. Must never send anything to a
//! connection after its `Close` action.

use super::output::truncate;
use super::Server;
use crate::core::action::Action;
use crate::core::event::{ConnId, Now};
use crate::core::history::HistoryKind;
use crate::core::log::LogEntry;
use crate::proto::{casefold, Message, MAX_LINE};

/// Longest PART, QUIT or KICK reason relayed: with the longest source and
/// room name the relayed line still fits in 512 bytes.
pub(super) const REASONLEN: usize = 300;

impl Server {
    pub(super) fn handle_quit(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let reason = match msg.params.first() {
            Some(r) if !r.is_empty() => format!("Quit: {}", truncate(r, REASONLEN)),
            _ => "Quit".to_string(),
        };
        self.remove(conn, &reason, true, now);
    }

    pub(super) fn handle_shutdown(&mut self, now: Now) {
        // In the order they connected, whatever the map's order.
        let mut all: Vec<ConnId> = self.connections.keys().copied().collect();
        all.sort_unstable();
        for conn in all {
            self.close_with_error(conn, "Server shutting down", now);
        }
    }

    /// Removes a connection: QUIT (`quit` true), or a dropped connection.
    /// Everyone sharing a room hears it once; the log records it.
    pub(super) fn remove(&mut self, conn: ConnId, reason: &str, quit: bool, now: Now) {
        let peers = self.room_peers(conn);
        self.clear_timer(conn);
        // Its own watch list goes first: nothing reaches it after Close.
        self.forget_monitors(conn);
        let Some(c) = self.connections.remove(&conn) else {
            return;
        };
        if let Some(at) = c.nick_deadline {
            self.nick_deadlines.remove(&(at, conn));
        }
        if let Some(account) = &c.account {
            self.forget_session(conn, account);
        }
        if quit {
            let shown = truncate(reason, MAX_LINE.saturating_sub(c.host.len() + 24));
            let m = Message::new("ERROR", [format!("Closing Link: {} ({shown})", c.host)]);
            self.send(conn, &m);
            self.emit(Action::Close {
                conn,
                reason: reason.to_string(),
            });
        }
        let Some(nick) = c.nick.clone() else {
            self.log(
                now.wall,
                LogEntry::ClosedUnregistered {
                    peer: c.peer,
                    reason: reason.to_string(),
                },
            );
            return;
        };
        self.nicks.remove(&casefold(&nick));
        if !c.is_registered() {
            self.log(
                now.wall,
                LogEntry::ClosedUnregistered {
                    peer: c.peer,
                    reason: reason.to_string(),
                },
            );
            return;
        }
        self.remember_whowas(&c, now);
        let source = c.source();
        let shown = truncate(reason, MAX_LINE.saturating_sub(source.len() + 8));
        let mut last = None;
        for folded in &c.rooms {
            if let Some(name) = self.rooms.get(folded).map(|r| r.shared_name()) {
                last = Some(self.record(HistoryKind::Quit, name, source.as_str(), shown, now));
            }
        }
        let m = Message::new("QUIT", [shown]).with_source(source);
        match last {
            Some(record) if !peers.is_empty() => self.broadcast_tagged(peers, &m, &record),
            _ => self.broadcast(peers, &m),
        }
        self.monitor_offline(&nick);
        for folded in &c.rooms {
            let room = self.log_room(folded);
            self.drop_member(conn, folded);
            self.log(
                now.wall,
                LogEntry::Left {
                    nick: nick.clone(),
                    room,
                },
            );
        }
        for folded in &c.invites {
            if let Some(room) = self.rooms.get_mut(folded) {
                room.uninvite(conn);
            }
        }
        // A plain QUIT has no reason; `QUIT :bye` logs `bye`.
        let said = reason.strip_prefix("Quit: ").unwrap_or(reason);
        if said != "Quit" {
            let reason = said.to_string();
            let entry = LogEntry::QuitReason {
                nick: nick.clone(),
                reason,
            };
            self.log(now.wall, entry);
        }
        self.log(now.wall, LogEntry::Disconnected { nick });
    }

    /// Sends `ERROR :reason`, closes the connection, tells its rooms.
    pub(super) fn close_with_error(&mut self, conn: ConnId, reason: &str, now: Now) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        let m = Message::new("ERROR", [reason]);
        self.send(conn, &m);
        self.emit(Action::Close {
            conn,
            reason: reason.to_string(),
        });
        self.remove(conn, reason, false, now);
    }
}
