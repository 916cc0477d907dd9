//! WHO, and its WHOX extension (`WHO <mask> [o][%fields[,token]]`).
//!
//! Owns who a WHO lists and what each row shows: a room's members, one
//! exact nick, or everyone whose nick, username, host or real name matches
//! a glob. Invisible (+i) users are listed only to people who share a room
//! with them (or by exact nick), secret rooms only to their members. Must
//! never change any state, and never answer a mask with more than
//! [`MAX_WHO_MATCHES`] rows.

use super::output::{share_line, write_reply};
use super::Server;
use crate::core::action::{Action, OutLine};
use crate::core::connection::Connection;
use crate::core::event::{ConnId, Now};
use crate::core::room::{Privileges, Room};
use crate::proto::numeric::*;
use crate::proto::{casefold_cow, mask_matches, Message};
use std::borrow::Cow;

/// Most rows a mask query (`WHO *`, `WHO *.example.org`) answers; the rest
/// are cut with 416, as hybrid and solanum do. A room's WHO is never cut:
/// clients ask for it on every join.
pub(super) const MAX_WHO_MATCHES: usize = 200;

/// The WHOX fields in the order the reply must carry them: token, channel,
/// user, IP, host, server, nick, flags, hop count, idle, account, op level,
/// real name.
const WHOX_ORDER: &str = "tcuihsnfdlaor";

/// What the second parameter of WHO asked for.
#[derive(Debug, Default)]
struct WhoOptions {
    /// `o`: server operators only.
    opers_only: bool,
    /// `%fields[,token]`: a 354 (WHOX) reply with these fields.
    whox: Option<Whox>,
}

#[derive(Debug)]
struct Whox {
    /// The requested standard fields, in [`WHOX_ORDER`]; others are ignored.
    fields: String,
    /// The query token echoed by `t`: 1–3 digits, or `0` when the client
    /// gave none or a malformed one (ergo's default).
    token: String,
}

impl WhoOptions {
    /// Parses `o`, `%fields`, `o%fields,token`: flags before the `%`, WHOX
    /// fields after it.
    fn parse(param: &str) -> WhoOptions {
        let (flags, whox) = match param.split_once('%') {
            Some((flags, whox)) => (flags, Some(whox)),
            None => (param, None),
        };
        let whox = whox.map(|spec| {
            let (letters, token) = spec.split_once(',').unwrap_or((spec, ""));
            let fields = WHOX_ORDER
                .chars()
                .filter(|f| letters.contains(*f))
                .collect();
            let valid = (1..=3).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
            Whox {
                fields,
                token: if valid { token.to_string() } else { "0".into() },
            }
        });
        WhoOptions {
            opers_only: flags.contains('o'),
            whox,
        }
    }
}

/// One row to answer: a user, and the room shown with them (if any).
struct Row<'a> {
    target: ConnId,
    room: Option<&'a Room>,
}

impl Server {
    /// `WHO <#room|nick|mask> [o][%fields[,token]]`: 352 rows (354 with
    /// WHOX), then 315.
    pub(super) fn handle_who(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let mask = msg.param(0);
        let options = WhoOptions::parse(msg.param(1));
        let numeric = match options.whox {
            Some(_) => RPL_WHOSPCRPL,
            None => RPL_WHOREPLY,
        };
        // Each row is written as `reply` would, straight from the names
        // it shows, into the one buffer, then shared as its line.
        let mut scratch = std::mem::take(&mut self.scratch);
        let (rows, truncated) = self.who_rows(conn, mask, options.opers_only);
        let server = &self.config.server_name;
        let asker = self
            .connections
            .get(&conn)
            .map_or("*", |c| c.nick_or_star());
        let mut lines: Vec<OutLine> = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(params) = self.who_params(conn, row, options.whox.as_ref(), now) else {
                continue;
            };
            let write = |out: &mut String| write_reply(out, server, asker, numeric, &params);
            lines.push(share_line(&mut scratch, write));
        }
        self.scratch = scratch;
        for line in lines {
            self.emit(Action::Send { to: conn, line });
        }
        let shown = if mask.is_empty() { "*" } else { mask };
        if truncated {
            let text = format!(
                "Too many matches: only the first {MAX_WHO_MATCHES} are shown; narrow the mask"
            );
            self.reply(conn, ERR_TOOMANYMATCHES, &[shown, &text]);
        }
        self.reply(conn, RPL_ENDOFWHO, &[shown, "End of WHO list"]);
    }

    /// Who `mask` lists for `asker` (only server operators with
    /// `opers_only`), and whether the list was cut short.
    fn who_rows(&self, asker: ConnId, mask: &str, opers_only: bool) -> (Vec<Row<'_>>, bool) {
        let wanted = |c: &Connection| !opers_only || c.modes.oper;
        if mask.starts_with('#') {
            let Some(room) = self.rooms.get(casefold_cow(mask).as_ref()) else {
                return (Vec::new(), false);
            };
            let inside = room.contains(asker);
            if !inside && room.modes().secret {
                return (Vec::new(), false);
            }
            let shown = room.members().filter(|m| {
                self.connections
                    .get(m)
                    .is_some_and(|c| wanted(c) && (inside || !c.modes.invisible))
            });
            let mut rows = Vec::with_capacity(room.len());
            rows.extend(shown.map(|target| Row {
                target,
                room: Some(room),
            }));
            return (rows, false);
        }
        // An exact nick is answered even when the user is invisible, as
        // Modern IRC describes (and most servers do).
        if let Some(target) = self.user(mask) {
            let Some(c) = self.connections.get(&target).filter(|c| wanted(c)) else {
                return (Vec::new(), false);
            };
            let room = self.room_shown_with(asker, target, c);
            return (vec![Row { target, room }], false);
        }
        // A glob over nick, username, host and real name (and the whole
        // `nick!user@host` when the mask has `!` or `@`); empty, `*` and `0`
        // mean everyone.
        let everyone = matches!(mask, "" | "*" | "0");
        let mut rows = Vec::new();
        // In the order they connected (which rows a long answer keeps must
        // not depend on the map's order).
        let mut ids: Vec<ConnId> = self.connections.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(c) = self.connections.get(&id) else {
                continue;
            };
            if !c.is_registered() || !wanted(c) || !self.visible_to(asker, id, c) {
                continue;
            }
            if !everyone && !who_mask_matches(mask, c) {
                continue;
            }
            if rows.len() == MAX_WHO_MATCHES {
                return (rows, true);
            }
            let room = self.room_shown_with(asker, id, c);
            rows.push(Row { target: id, room });
        }
        (rows, false)
    }

    /// Whether a mask query of `asker` may list `target`: not invisible, or
    /// sharing a room with them, or themselves.
    fn visible_to(&self, asker: ConnId, target: ConnId, c: &Connection) -> bool {
        asker == target || !c.modes.invisible || self.shares_room(asker, c)
    }

    /// The room a WHO row about `target` shows (solanum and Libera show
    /// one): the first one `asker` is in too, else the first public one,
    /// unless `target` is invisible to `asker` (as for WHOIS's room list).
    fn room_shown_with(&self, asker: ConnId, target: ConnId, c: &Connection) -> Option<&Room> {
        let rooms = || c.rooms.iter().filter_map(|f| self.rooms.get(f));
        if let Some(shared) = rooms().find(|r| r.contains(asker)) {
            return Some(shared);
        }
        if asker == target || !c.modes.invisible {
            return rooms().find(|r| !r.modes().secret);
        }
        None
    }

    /// The parameters of one 352 (or, with `whox`, 354) row.
    fn who_params<'a>(
        &'a self,
        asker: ConnId,
        row: &Row<'a>,
        whox: Option<&'a Whox>,
        now: Now,
    ) -> Option<Vec<Cow<'a, str>>> {
        let a = self.connections.get(&asker)?;
        let c = self.connections.get(&row.target)?;
        let privileges = row
            .room
            .and_then(|r| r.privileges(row.target))
            .unwrap_or_default();
        let channel = row.room.map_or("*", |r| r.name());
        let flags = who_flags(c, privileges, a.caps.multi_prefix);
        let user = c.user.as_deref().unwrap_or_default();
        let server = self.config.server_name.as_str();
        let nick = c.nick_or_star();
        let params = match whox {
            None => vec![
                channel.into(),
                user.into(),
                c.host.as_str().into(),
                server.into(),
                nick.into(),
                flags.into(),
                ["0 ", &c.realname].concat().into(),
            ],
            Some(whox) => whox
                .fields
                .chars()
                .map(|field| match field {
                    't' => whox.token.as_str().into(),
                    'c' => channel.into(),
                    'u' => user.into(),
                    // The IP only to the user themselves and to operators, as
                    // ergo does; 255.255.255.255 is WHOX's "not disclosed".
                    'i' if asker == row.target || a.modes.oper => peer_ip(&c.peer).into(),
                    'i' => "255.255.255.255".into(),
                    'h' => c.host.as_str().into(),
                    's' => server.into(),
                    'n' => nick.into(),
                    'f' => flags.clone().into(),
                    'd' => "0".into(),
                    'l' => now.mono.secs_since(c.last_spoke).to_string().into(),
                    // `0` is WHOX's "logged out".
                    'a' => c.account.as_deref().unwrap_or("0").into(),
                    // No op levels: solanum's 999 for room operators, n/a else.
                    'o' if privileges.op => "999".into(),
                    'o' => "n/a".into(),
                    _ => c.realname.as_str().into(),
                })
                .collect(),
        };
        Some(params)
    }
}

/// `H` (here) or `G` (gone: away), `*` for a server operator, `B` for a
/// bot (`BOT=B`), then the prefixes in the room shown (every one with
/// `multi-prefix`).
fn who_flags(c: &Connection, privileges: Privileges, all_prefixes: bool) -> String {
    // At most `G*B@+`: one allocation, never grown.
    let mut flags = String::with_capacity(5);
    flags.push(if c.away.is_some() { 'G' } else { 'H' });
    if c.modes.oper {
        flags.push('*');
    }
    if c.modes.bot {
        flags.push('B');
    }
    flags.push_str(privileges.prefixes(all_prefixes));
    flags
}

/// Whether a WHO glob matches `c`'s nick, username, host or real name, or
/// (for a mask with `!` or `@`) its whole `nick!user@host`.
fn who_mask_matches(mask: &str, c: &Connection) -> bool {
    if mask.contains(['!', '@']) {
        return mask_matches(mask, &c.source());
    }
    let user = c.user.as_deref().unwrap_or_default();
    [c.nick_or_star(), user, &c.host, &c.realname]
        .iter()
        .any(|field| mask_matches(mask, field))
}

/// The IP address of a `ip:port` (or `[v6]:port`) peer.
fn peer_ip(peer: &str) -> &str {
    let ip = match peer.rsplit_once(':') {
        Some((ip, _port)) => ip,
        None => peer,
    };
    ip.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whox_fields_come_back_in_the_standard_order_with_a_valid_token_only() {
        let o = WhoOptions::parse("%rnatc,42");
        let whox = o.whox.expect("a WHOX query");
        assert_eq!(whox.fields, "tcnar");
        assert_eq!(whox.token, "42");
        assert!(!o.opers_only);
        for bad in ["%t,1234", "%t,ab", "%t,", "%t"] {
            assert_eq!(
                WhoOptions::parse(bad).whox.map(|w| w.token).as_deref(),
                Some("0")
            );
        }
        let o = WhoOptions::parse("o%nxyz");
        assert!(o.opers_only);
        assert_eq!(o.whox.map(|w| w.fields).as_deref(), Some("n"));
        assert!(WhoOptions::parse("o").opers_only && WhoOptions::parse("o").whox.is_none());
    }

    #[test]
    fn peer_ips_lose_their_port_and_brackets() {
        assert_eq!(peer_ip("192.0.2.7:6667"), "192.0.2.7");
        assert_eq!(peer_ip("[2001:db8::1]:6667"), "2001:db8::1");
        assert_eq!(peer_ip("unix"), "unix");
    }
}
