//! Queries in the model: NAMES (explicit, and on JOIN), WHO of a room or a
//! nick, WHOIS, and the user mode +i that hides people from them.
//!
//! Written from Modern IRC (`NAMES`, `WHO`, `WHOIS`, the invisible user
//! mode and the secret channel mode) and natter's documented choices
//! (`src/core/server/who.rs`, `queries.rs`, `rooms.rs`): someone outside
//! a room sees none of its invisible members and nothing of it when it is
//! secret; an exact nick is answered even when invisible; the WHO row of a
//! nick shows the first room (in case-folded order) the asker shares with
//! them, else their first non-secret one unless they are invisible to the
//! asker. Nobody in the model is a server operator or a bot, so flags are
//! `H`/`G` and the room prefixes (`@+` together only for `multi-prefix`).

use super::moderation::glob;
use super::names::fold;
use super::{numeric, Expect, MRoom, Model, SERVER_NAME};
use natter::core::ConnId;

/// The user name and real name every script registers with (`USER u 0 * :Real Name`).
const USER: &str = "u";
const REALNAME: &str = "Real Name";

impl Model {
    /// `member`'s prefixes in `room`: the highest, or all of them for
    /// `multi-prefix` clients.
    fn prefixes(room: &MRoom, member: ConnId, all: bool) -> &'static str {
        match (
            room.ops.contains(&member),
            room.voiced.contains(&member),
            all,
        ) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            (false, false, _) => "",
        }
    }

    /// Whether `asker` shares a room with `other`.
    fn shares_room(&self, asker: ConnId, other: ConnId) -> bool {
        let rooms = &self.conns[&other].rooms;
        rooms.iter().any(|f| self.rooms[f].members.contains(&asker))
    }

    /// `MODE <own nick> ±i`: the change is echoed to the user when it is one.
    pub(super) fn user_mode(&mut self, conn: ConnId, invisible: bool, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let c = self.conns.get_mut(&conn).expect("open");
        if c.invisible == invisible {
            return;
        }
        c.invisible = invisible;
        let change = if invisible { "+i" } else { "-i" };
        ex.push(conn, format!("MODE {me} {me}|{change}"));
        self.hit(if invisible {
            "user MODE +i applied"
        } else {
            "user MODE -i applied"
        });
    }

    // -----------------------------------------------------------------------
    // NAMES
    // -----------------------------------------------------------------------

    /// `NAMES a,b`: each room in turn; 366 alone for a room that does not
    /// exist (named as asked).
    pub(super) fn names(&mut self, conn: ConnId, list: &str, ex: &mut Expect) {
        let me = self.target_nick(conn);
        for name in list.split(',').filter(|n| !n.is_empty()) {
            let folded = fold(name);
            if self.rooms.contains_key(&folded) {
                self.hit("NAMES explicit");
                self.send_names(conn, &folded, ex);
            } else {
                ex.push(conn, numeric("366", &me, name));
                self.hit("NAMES of no such room: 366 alone");
            }
        }
    }

    /// 353 (`=`, or `@` for a secret room) with every member the asker may
    /// see, prefixed, in the order they came to the server (the world
    /// splits the lines into items), then 366.
    pub(super) fn send_names(&mut self, conn: ConnId, folded: &str, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let all = self.conns[&conn].multi_prefix;
        let room = &self.rooms[folded];
        let inside = room.members.contains(&conn);
        let symbol = if room.modes.secret { "@" } else { "=" };
        let mut rules = Vec::new();
        if inside || !room.modes.secret {
            for &m in &room.members {
                let c = &self.conns[&m];
                if !inside && c.invisible {
                    rules.push("NAMES: invisible member hidden from an outsider");
                    continue;
                }
                let prefix = Self::prefixes(room, m, all);
                if prefix == "@+" {
                    rules.push("multi-prefix: @+ shown");
                }
                let item = format!("{symbol}|{}|{prefix}{}", room.name, self.target_nick(m));
                ex.push(conn, numeric("353", &me, &item));
            }
        } else {
            rules.push("NAMES of a secret room from outside: 366 alone");
        }
        ex.push(conn, numeric("366", &me, &room.name));
        for rule in rules {
            self.hit(rule);
        }
    }

    // -----------------------------------------------------------------------
    // WHO
    // -----------------------------------------------------------------------

    /// The room a WHO row about `target` shows: the first `asker` is in
    /// too, else (unless `target` is invisible to `asker`) the first one
    /// that is not secret.
    fn room_shown_with(&self, asker: ConnId, target: ConnId) -> Option<String> {
        let c = &self.conns[&target];
        if let Some(shared) = c
            .rooms
            .iter()
            .find(|f| self.rooms[*f].members.contains(&asker))
        {
            return Some(shared.clone());
        }
        if asker == target || !c.invisible {
            return c
                .rooms
                .iter()
                .find(|f| !self.rooms[*f].modes.secret)
                .cloned();
        }
        None
    }

    /// `WHO <#room|nick|mask>`: one 352 row per user shown, then 315.
    pub(super) fn who(&mut self, conn: ConnId, mask: &str, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let mut rows: Vec<(ConnId, Option<String>)> = Vec::new();
        let mut rules = Vec::new();
        if mask.starts_with('#') {
            let folded = fold(mask);
            if let Some(room) = self.rooms.get(&folded) {
                let inside = room.members.contains(&conn);
                if !inside && room.modes.secret {
                    rules.push("WHO of a secret room from outside: 315 alone");
                } else {
                    for &m in &room.members {
                        if !inside && self.conns[&m].invisible {
                            rules.push("WHO #room: invisible member hidden from an outsider");
                            continue;
                        }
                        rows.push((m, Some(folded.clone())));
                    }
                }
            }
        } else if let Some(target) = self.user(mask) {
            // An exact nick is answered even when invisible.
            if target != conn && self.conns[&target].invisible && !self.shares_room(conn, target) {
                rules.push("WHO nick: an invisible stranger is still shown");
            }
            rows.push((target, self.room_shown_with(conn, target)));
        } else {
            // A mask over nick, user name, host and real name, of those
            // the asker may see (the scripts' masks are nicks nobody holds).
            for (&id, c) in &self.conns {
                let visible = id == conn || !c.invisible || self.shares_room(conn, id);
                if !c.registered || !visible {
                    continue;
                }
                let nick = c.nick.clone().unwrap_or_default();
                if [nick.as_str(), USER, &c.host, REALNAME]
                    .iter()
                    .any(|f| glob(mask, f))
                {
                    rows.push((id, self.room_shown_with(conn, id)));
                }
            }
        }
        let all = self.conns[&conn].multi_prefix;
        for (target, room) in rows {
            let c = &self.conns[&target];
            let (channel, prefix) = match room.as_ref().map(|f| &self.rooms[f]) {
                Some(r) => (r.name.as_str(), Self::prefixes(r, target, all)),
                None => ("*", ""),
            };
            let here = if c.away.is_some() { "G" } else { "H" };
            if here == "G" {
                rules.push("WHO row with G flag");
            }
            if !prefix.is_empty() {
                rules.push("WHO row with a prefix");
            }
            if prefix == "@+" {
                rules.push("multi-prefix: @+ shown");
            }
            if room.is_none() {
                rules.push("WHO row with no room (*)");
            }
            let nick = self.target_nick(target);
            let row = format!(
                "{channel}|{USER}|{}|{SERVER_NAME}|{nick}|{here}{prefix}|0 {REALNAME}",
                c.host
            );
            ex.push(conn, numeric("352", &me, &row));
        }
        ex.push(conn, numeric("315", &me, mask));
        for rule in rules {
            self.hit(rule);
        }
    }

    // -----------------------------------------------------------------------
    // WHOIS
    // -----------------------------------------------------------------------

    /// `WHOIS nick`: 311, 319 (one item per room shown), 312, 301 when
    /// away, 317 (idle since the last PRIVMSG/NOTICE, signon at connect),
    /// 318; 401 and 318 for nobody.
    pub(super) fn whois(&mut self, conn: ConnId, target: &str, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let Some(id) = self.user(target) else {
            ex.push(conn, numeric("401", &me, target));
            ex.push(conn, numeric("318", &me, target));
            self.hit("WHOIS of nobody (401)");
            return;
        };
        let nick = self.target_nick(id);
        let c = &self.conns[&id];
        let all = self.conns[&conn].multi_prefix;
        let mut rules = Vec::new();
        ex.push(
            conn,
            numeric(
                "311",
                &me,
                &format!("{nick}|{USER}|{}|*|{REALNAME}", c.host),
            ),
        );
        // Secret rooms (and every room of an invisible user) only for
        // those who are in them too.
        let shown_to_anyone = !c.invisible || self.shares_room(conn, id);
        for folded in &c.rooms {
            let room = &self.rooms[folded];
            if room.members.contains(&conn) || (shown_to_anyone && !room.modes.secret) {
                let prefix = Self::prefixes(room, id, all);
                if !prefix.is_empty() {
                    rules.push("WHOIS 319 with prefixes");
                }
                if prefix == "@+" {
                    rules.push("multi-prefix: @+ shown");
                }
                let item = format!("{nick}|{prefix}{}", room.name);
                ex.push(conn, numeric("319", &me, &item));
            } else {
                rules.push("WHOIS 319: a room hidden from the asker");
            }
        }
        ex.push(conn, numeric("312", &me, &format!("{nick}|{SERVER_NAME}")));
        if let Some(away) = &c.away {
            ex.push(conn, numeric("301", &me, &format!("{nick}|{away}")));
            rules.push("WHOIS 301");
        }
        let idle = (self.now - c.last_spoke) / 1000;
        let signon = c.connected_at / 1000;
        if idle > 0 && c.last_spoke > c.connected_at {
            rules.push("WHOIS 317 idle since a message");
        }
        ex.push(
            conn,
            numeric("317", &me, &format!("{nick}|{idle}|{signon}")),
        );
        ex.push(conn, numeric("318", &me, &nick));
        for rule in rules {
            self.hit(rule);
        }
    }
}
