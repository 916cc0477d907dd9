//! MONITOR: telling a client when the nicks it watches come online or go
//! offline (730/731), and with `extended-monitor` what they do meanwhile.
//!
//! Owns each client's watch list and the reverse index (case-folded nick →
//! watchers), so telling the watchers of a nick costs O(watchers), never
//! O(clients). Must never let a list grow past [`MONITOR_LIMIT`], never keep
//! an entry for a connection that is gone, and never reveal more than ISON
//! and USERHOST already do (`nick!user@host` of people who are online).

use super::output::join_in_lines;
use super::Server;
use crate::core::connection::Caps;
use crate::core::event::{ConnId, Now};
use crate::proto::numeric::*;
use crate::proto::{casefold, is_valid_nick, Message, MAX_LINE, NICKLEN};
use std::collections::BTreeSet;

/// Most nicks one client may monitor (`MONITOR=` in 005).
pub(super) const MONITOR_LIMIT: usize = 100;

impl Server {
    /// `MONITOR + nicks`, `- nicks`, `C`, `L` or `S` (IRCv3 monitor).
    pub(super) fn handle_monitor(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let modifier = msg.param(0).to_ascii_uppercase();
        let targets = msg.param(1);
        match modifier.as_str() {
            "+" | "-" if targets.is_empty() => self.reply(
                conn,
                ERR_NEEDMOREPARAMS,
                &["MONITOR", "Not enough parameters"],
            ),
            "+" => self.monitor_add(conn, targets),
            "-" => self.monitor_remove(conn, targets),
            "C" => self.forget_monitors(conn),
            "L" => self.monitor_list(conn),
            "S" => self.monitor_status(conn),
            _ => self.reply(
                conn,
                ERR_UNKNOWNERROR,
                &[
                    "MONITOR",
                    &modifier,
                    "Unknown MONITOR modifier: use + - C L or S",
                ],
            ),
        }
    }

    /// Adds each valid nick (a nick already watched is not added twice) and
    /// answers with the state of every one named: 730 for those online,
    /// 731 for the others. Past the limit, 734 names the ones not added.
    fn monitor_add(&mut self, conn: ConnId, targets: &str) {
        let mut online = Vec::new();
        let mut offline = Vec::new();
        let mut refused = Vec::new();
        let mut seen = BTreeSet::new();
        // Names that are not nicks can never come online: skipped, as ergo
        // and solanum do (a 432 would read as a failed NICK to clients).
        for target in targets.split(',').filter(|t| is_valid_nick(t)) {
            let folded = casefold(target);
            if !seen.insert(folded.clone()) {
                continue;
            }
            let Some(c) = self.connections.get_mut(&conn) else {
                return;
            };
            if !refused.is_empty() {
                refused.push(target.to_string());
                continue;
            }
            if !c.monitoring.contains_key(&folded) {
                if c.monitoring.len() >= MONITOR_LIMIT {
                    refused.push(target.to_string());
                    continue;
                }
                c.monitoring.insert(folded.clone(), target.to_string());
                self.watchers
                    .entry(folded.clone())
                    .or_default()
                    .insert(conn);
            }
            match self.user(target).and_then(|id| self.connections.get(&id)) {
                Some(them) => online.push(them.source()),
                None => offline.push(target.to_string()),
            }
        }
        self.reply_in_lines(conn, RPL_MONONLINE, &online);
        self.reply_in_lines(conn, RPL_MONOFFLINE, &offline);
        if !refused.is_empty() {
            // As solanum does: what fitted is answered above, the rest here.
            let limit = MONITOR_LIMIT.to_string();
            let rest = join_in_lines(&refused, ',', 300)
                .into_iter()
                .next()
                .unwrap_or_default();
            self.reply_whole(
                conn,
                ERR_MONLISTFULL,
                &[&limit, &rest, "Monitor list is full."],
            );
        }
    }

    /// Removes each named nick from the list; no reply (as the spec says).
    fn monitor_remove(&mut self, conn: ConnId, targets: &str) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            let folded = casefold(target);
            if c.monitoring.remove(&folded).is_some() {
                unwatch(&mut self.watchers, &folded, conn);
            }
        }
    }

    /// Empties `conn`'s list (`MONITOR C`, and when it leaves), releasing
    /// its entries in the index.
    pub(super) fn forget_monitors(&mut self, conn: ConnId) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        for folded in std::mem::take(&mut c.monitoring).into_keys() {
            unwatch(&mut self.watchers, &folded, conn);
        }
    }

    /// 732 lines with every watched nick as the client spelled it, then 733.
    fn monitor_list(&mut self, conn: ConnId) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let names: Vec<String> = c.monitoring.values().cloned().collect();
        self.reply_in_lines(conn, RPL_MONLIST, &names);
        self.reply(conn, RPL_ENDOFMONLIST, &["End of MONITOR list"]);
    }

    /// 730 for every watched nick that is online, 731 for the others.
    fn monitor_status(&mut self, conn: ConnId) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let mut online = Vec::new();
        let mut offline = Vec::new();
        for name in c.monitoring.values() {
            match self.user(name).and_then(|id| self.connections.get(&id)) {
                Some(them) => online.push(them.source()),
                None => offline.push(name.clone()),
            }
        }
        self.reply_in_lines(conn, RPL_MONONLINE, &online);
        self.reply_in_lines(conn, RPL_MONOFFLINE, &offline);
    }

    /// `conn` is now online under its nick (it registered, or took the
    /// nick): its watchers get 730 with its `nick!user@host`.
    pub(super) fn monitor_online(&mut self, conn: ConnId) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let Some(nick) = &c.nick else {
            return;
        };
        let watchers = self.watchers_of(&casefold(nick));
        // One line for all: the spec allows `*` in place of each watcher's
        // nick for exactly this, and solanum sends it so.
        let m = self.server_message(RPL_MONONLINE, ["*".to_string(), c.source()]);
        self.broadcast(watchers, &m);
    }

    /// Nobody is online as `nick` any more (its user left or changed
    /// nick): its watchers get 731.
    pub(super) fn monitor_offline(&mut self, nick: &str) {
        let watchers = self.watchers_of(&casefold(nick));
        let m = self.server_message(RPL_MONOFFLINE, ["*", nick]);
        self.broadcast(watchers, &m);
    }

    /// The `extended-monitor` clients watching `conn`'s nick that enabled
    /// what `wants` checks (e.g. `away-notify`), without `conn` itself.
    pub(super) fn extended_watchers(&self, conn: ConnId, wants: fn(&Caps) -> bool) -> Vec<ConnId> {
        let Some(nick) = self.connections.get(&conn).and_then(|c| c.nick.as_deref()) else {
            return Vec::new();
        };
        let Some(watchers) = self.watchers.get(&casefold(nick)) else {
            return Vec::new();
        };
        watchers
            .iter()
            .copied()
            .filter(|&w| w != conn)
            .filter(|w| {
                self.connections
                    .get(w)
                    .is_some_and(|c| c.caps.extended_monitor && wants(&c.caps))
            })
            .collect()
    }

    fn watchers_of(&self, folded: &str) -> Vec<ConnId> {
        self.watchers
            .get(folded)
            .map(|w| w.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `numeric` with `items` joined by commas, in as many lines as the
    /// 512-byte limit needs (none when there are no items).
    fn reply_in_lines(&mut self, conn: ConnId, numeric: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        let budget = MAX_LINE.saturating_sub(self.config.server_name.len() + NICKLEN + 12);
        for line in join_in_lines(items, ',', budget) {
            self.reply(conn, numeric, &[&line]);
        }
    }
}

/// Drops `conn` from the watchers of `folded`, and the entry once empty.
fn unwatch(
    watchers: &mut std::collections::BTreeMap<String, BTreeSet<ConnId>>,
    folded: &str,
    conn: ConnId,
) {
    if let Some(set) = watchers.get_mut(folded) {
        set.remove(&conn);
        if set.is_empty() {
            watchers.remove(folded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ServerConfig;
    use crate::core::event::Event;

    fn line(server: &mut Server, id: u64, line: &str) {
        let now = Now::default();
        let conn = ConnId(id);
        server.handle_event(Event::Line {
            conn,
            line: line.into(),
            now,
        });
    }

    /// A server with `bob` (1) and `carol` (2) registered.
    fn two_users() -> Server {
        let mut server = Server::new(ServerConfig::default());
        for (id, nick) in [(1, "bob"), (2, "carol")] {
            let peer = format!("127.0.0.1:{}", 5000 + id);
            let now = Now::default();
            let conn = ConnId(id);
            server.handle_event(Event::Connected { conn, peer, now });
            line(&mut server, id, &format!("NICK {nick}"));
            line(&mut server, id, &format!("USER {nick} 0 * :{nick}"));
        }
        server
    }

    #[test]
    fn the_index_keeps_no_entry_once_nobody_watches_a_nick() {
        let mut server = two_users();
        line(&mut server, 1, "MONITOR + carol,dave,erin");
        line(&mut server, 2, "MONITOR + dave");
        assert_eq!(server.watchers.len(), 3);
        line(&mut server, 1, "MONITOR - erin");
        assert_eq!(server.watchers.len(), 2);
        line(&mut server, 1, "MONITOR C");
        assert_eq!(server.watchers.keys().collect::<Vec<_>>(), ["dave"]);
        line(&mut server, 1, "MONITOR + carol");
        let now = Now::default();
        let reason = "gone".to_string();
        server.handle_event(Event::Disconnected {
            conn: ConnId(1),
            reason,
            now,
        });
        line(&mut server, 2, "QUIT");
        assert!(server.watchers.is_empty(), "{:?}", server.watchers);
    }
}
