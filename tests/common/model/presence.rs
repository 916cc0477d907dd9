//! Presence in the model: AWAY (305/306, 301 to who messages an away
//! user, `away-notify`) and MONITOR (730–733, and the notifications when a
//! watched nick comes online or goes offline).
//!
//! Written from Modern IRC (`AWAY`, `RPL_AWAY`), the IRCv3 `away-notify`
//! and `monitor` specifications and natter's documented choices
//! (`src/core/server/presence.rs`, `monitor.rs`): a watch list holds at
//! most [`MONITOR_LIMIT`] nicks, names that are not nicks are skipped, and
//! notifications name the watcher `*` (one line for every watcher, as the
//! spec allows).

use super::names::{fold, valid_nick};
use super::{numeric, Expect, Model, MonitorCmd};
use natter::core::ConnId;
use std::collections::BTreeSet;

/// `MONITOR=` in 005: the most nicks one client may watch.
pub const MONITOR_LIMIT: usize = 100;

impl Model {
    /// `nick!user@host` of `conn` as others see it.
    pub(super) fn source(&self, conn: ConnId) -> String {
        self.subject_as(conn, &self.target_nick(conn))
    }

    // -----------------------------------------------------------------------
    // AWAY
    // -----------------------------------------------------------------------

    /// `AWAY [:message]`: 306 (away) or 305 (back) to the user, always;
    /// room peers with `away-notify` hear `AWAY` only when the state changed.
    pub(super) fn away(&mut self, conn: ConnId, message: Option<&str>, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let message = message.filter(|m| !m.is_empty()).map(str::to_string);
        let reply = if message.is_some() { "306" } else { "305" };
        ex.push(conn, numeric(reply, &me, ""));
        self.hit(if message.is_some() {
            "AWAY set (306)"
        } else {
            "AWAY unset (305)"
        });
        let c = self.conns.get_mut(&conn).expect("open");
        if c.away == message {
            self.hit("AWAY unchanged: nobody told");
            return;
        }
        c.away = message.clone();
        let listeners: Vec<ConnId> = self
            .peers(conn)
            .into_iter()
            .filter(|p| self.conns[p].away_notify)
            .collect();
        if !listeners.is_empty() {
            self.hit("AWAY seen by away-notify peers");
        }
        let line = format!("AWAY {me} {}", message.unwrap_or_default());
        ex.push_all(listeners, &line);
    }

    /// `conn` just joined `folded`: if away, the room's other members with
    /// `away-notify` hear its AWAY (the spec: "as well as when a user joins
    /// and has an away message set").
    pub(super) fn away_on_join(&mut self, conn: ConnId, folded: &str, ex: &mut Expect) {
        let Some(away) = self.conns[&conn].away.clone() else {
            return;
        };
        let me = self.target_nick(conn);
        let listeners: Vec<ConnId> = self.rooms[folded]
            .members
            .iter()
            .copied()
            .filter(|&m| m != conn && self.conns[&m].away_notify)
            .collect();
        if !listeners.is_empty() {
            self.hit("AWAY of a joiner seen by away-notify members");
        }
        ex.push_all(listeners, &format!("AWAY {me} {away}"));
    }

    /// 301 `<nick> :<away message>` to `asker` when `target` is away.
    pub(super) fn tell_if_away(&mut self, asker: ConnId, target: ConnId, ex: &mut Expect) {
        let Some(away) = self.conns[&target].away.clone() else {
            return;
        };
        let me = self.target_nick(asker);
        let nick = self.target_nick(target);
        ex.push(asker, numeric("301", &me, &format!("{nick}|{away}")));
        self.hit("AWAY: 301 to the sender of a PRIVMSG");
    }

    // -----------------------------------------------------------------------
    // MONITOR
    // -----------------------------------------------------------------------

    pub(super) fn monitor(&mut self, conn: ConnId, cmd: &MonitorCmd, ex: &mut Expect) {
        let me = self.target_nick(conn);
        match cmd {
            MonitorCmd::Add(targets) => {
                let mut online = Vec::new();
                let mut offline = Vec::new();
                let mut refused = 0;
                let mut seen = BTreeSet::new();
                // Names that are not nicks are skipped; a nick named twice
                // (in any case) counts once.
                for target in targets.iter().filter(|t| valid_nick(t)) {
                    let folded = fold(target);
                    if !seen.insert(folded.clone()) {
                        continue;
                    }
                    // Once one is refused, the rest are too.
                    if refused > 0 {
                        refused += 1;
                        continue;
                    }
                    let list = &mut self.conns.get_mut(&conn).expect("open").monitoring;
                    if !list.contains_key(&folded) {
                        if list.len() >= MONITOR_LIMIT {
                            refused += 1;
                            continue;
                        }
                        list.insert(folded, target.clone());
                    }
                    match self.user(target) {
                        Some(id) => online.push(self.source(id)),
                        None => offline.push(target.clone()),
                    }
                }
                if refused > 0 {
                    // 734 (not tracked) names them.
                    self.hit("MONITOR list full (734)");
                }
                self.monitor_reply(conn, &me, online, offline, ex);
            }
            MonitorCmd::Remove(targets) => {
                let list = &mut self.conns.get_mut(&conn).expect("open").monitoring;
                for target in targets {
                    list.remove(&fold(target));
                }
            }
            MonitorCmd::Clear => self.conns.get_mut(&conn).expect("open").monitoring.clear(),
            MonitorCmd::List => {
                // As the client first spelled them, in case-folded order.
                for name in self.conns[&conn].monitoring.values() {
                    ex.push(conn, numeric("732", &me, name));
                }
                ex.push(conn, numeric("733", &me, ""));
                self.hit("MONITOR L (732/733)");
            }
            MonitorCmd::Status => {
                let mut online = Vec::new();
                let mut offline = Vec::new();
                for name in self.conns[&conn].monitoring.values() {
                    match self.user(name) {
                        Some(id) => online.push(self.source(id)),
                        None => offline.push(name.clone()),
                    }
                }
                if !online.is_empty() && !offline.is_empty() {
                    self.hit("MONITOR S: some online, some offline");
                }
                self.monitor_reply(conn, &me, online, offline, ex);
            }
        }
    }

    /// 730 for each online target (`nick!user@host`), then 731 for each
    /// offline one (the world splits the comma lists into items).
    fn monitor_reply(
        &mut self,
        conn: ConnId,
        me: &str,
        online: Vec<String>,
        offline: Vec<String>,
        ex: &mut Expect,
    ) {
        for o in online {
            ex.push(conn, numeric("730", me, &o));
        }
        for o in offline {
            ex.push(conn, numeric("731", me, &o));
        }
    }

    /// The open connections watching `nick` (any case).
    fn watchers(&self, nick: &str) -> Vec<ConnId> {
        let folded = fold(nick);
        let conns = self.conns.iter();
        conns
            .filter(|(_, c)| c.monitoring.contains_key(&folded))
            .map(|(&id, _)| id)
            .collect()
    }

    /// `conn` is now online under its nick: its watchers get
    /// `730 * nick!user@host`.
    pub(super) fn monitor_online(&mut self, conn: ConnId, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        let watchers = self.watchers(&nick);
        if !watchers.is_empty() {
            self.hit("MONITOR online notification (730)");
        }
        ex.push_all(watchers, &numeric("730", "*", &self.source(conn)));
    }

    /// Nobody is online as `nick` any more: its watchers get `731 * nick`.
    pub(super) fn monitor_offline(&mut self, nick: &str, ex: &mut Expect) {
        let watchers = self.watchers(nick);
        if !watchers.is_empty() {
            self.hit("MONITOR offline notification (731)");
        }
        ex.push_all(watchers, &numeric("731", "*", nick));
    }
}
