//! Server-wide bans: `KLINE`, `UNKLINE` and `STATS k` (as solanum), and
//! keeping banned people out at registration.
//!
//! Owns when a ban is set, lifted, listed and enforced: a new ban
//! disconnects everyone it matches at once; a connection that matches one
//! when it completes registration (after NICK and USER, as a mask has nick
//! and user parts) is refused with 465. Bans expire against the wall clock
//! of the events, checked lazily whenever bans are consulted: no timer.
//! Must never read a clock or the store: bans arrive in
//! [`crate::core::Event::ServerBansRestored`] and leave as
//! [`Action::SaveServerBan`] / [`Action::DeleteServerBan`].

use super::output::truncate;
use super::Server;
use crate::core::action::Action;
use crate::core::bans::{
    is_too_wide, normalize_ban_mask, parse_ban_duration, ServerBan, ServerBanError, MAX_BAN_REASON,
};
use crate::core::event::{ConnId, Now};
use crate::core::log::LogEntry;
use crate::proto::numeric::*;
use crate::proto::Message;

impl Server {
    /// What the store kept: every server ban, before anyone connects.
    pub(super) fn restore_server_bans(&mut self, bans: Vec<ServerBan>) {
        for ban in bans {
            self.server_bans.restore(ban);
        }
    }

    /// Forgets the bans that have expired by `now` (and tells the store).
    fn sweep_server_bans(&mut self, now: Now) {
        if self.server_bans.is_empty() {
            return;
        }
        for ban in self.server_bans.expire(now.wall) {
            self.emit(Action::DeleteServerBan {
                mask: ban.mask.clone(),
            });
            self.log(now.wall, LogEntry::ServerBanExpired { mask: ban.mask });
        }
    }

    /// `KLINE [duration] <mask> [:reason]` (operators only). The duration is
    /// minutes, or `1h30m`-style; 0 or none is permanent. Everyone the mask
    /// matches is disconnected at once.
    pub(super) fn handle_kline(&mut self, conn: ConnId, msg: &Message, now: Now) {
        if !self.require_oper(conn) {
            return;
        }
        let timed = if msg.params.len() >= 2 {
            parse_ban_duration(msg.param(0))
        } else {
            None
        };
        let (secs, rest) = match timed {
            Some(secs) => (secs, &msg.params[1..]),
            None => (0, &msg.params[..]),
        };
        let raw = rest.first().map(String::as_str).unwrap_or_default();
        if raw.is_empty() {
            self.reply(
                conn,
                ERR_NEEDMOREPARAMS,
                &["KLINE", "Not enough parameters"],
            );
            return;
        }
        let reason = match rest.get(1).filter(|r| !r.is_empty()) {
            Some(r) => truncate(r, MAX_BAN_REASON).to_string(),
            None => "No reason given".to_string(),
        };
        let mask = normalize_ban_mask(raw);
        let Some(setter) = self.connections.get(&conn) else {
            return;
        };
        let setter_nick = setter.nick_or_star().to_string();
        let ban = ServerBan {
            mask: mask.clone(),
            reason: reason.clone(),
            set_by: setter_nick.clone(),
            set_at: now.wall,
            expires_at: (secs > 0).then(|| now.wall.plus_secs(secs)),
        };
        if is_too_wide(&mask) {
            let e = ServerBanError::TooWide { mask };
            self.server_notice(conn, &e.to_string());
            return;
        }
        if ban.matches(&setter.source()) {
            let text =
                format!("Not setting a K-Line on {mask}: it matches you. Give a narrower mask");
            self.server_notice(conn, &text);
            return;
        }
        self.sweep_server_bans(now);
        if let Err(e) = self.server_bans.insert(ban.clone()) {
            self.server_notice(conn, &e.to_string());
            return;
        }
        self.emit(Action::SaveServerBan(Box::new(ban.clone())));
        self.log(
            now.wall,
            LogEntry::ServerBanSet {
                nick: setter_nick,
                mask: mask.clone(),
                secs: (secs > 0).then_some(secs),
                reason: reason.clone(),
            },
        );
        let how_long = if secs > 0 {
            format!("temporary {} min. ", secs.div_ceil(60))
        } else {
            String::new()
        };
        self.server_notice(conn, &format!("Added {how_long}K-Line [{mask}]: {reason}"));
        let victims: Vec<(ConnId, String)> = self
            .connections
            .iter()
            .filter(|(_, c)| c.is_registered() && ban.matches(&c.source()))
            .map(|(&id, c)| (id, c.nick_or_star().to_string()))
            .collect();
        for (victim, nick) in victims {
            self.reply(
                victim,
                ERR_YOUREBANNEDCREEP,
                &[&format!("You are banned from this server: {reason}")],
            );
            self.remove(victim, &format!("K-Lined: {reason}"), true, now);
            self.server_notice(conn, &format!("{nick} was disconnected by the K-Line"));
        }
    }

    /// `UNKLINE <mask>` (operators only): lifts the ban on that mask (as
    /// typed for KLINE, or as `STATS k` shows it).
    pub(super) fn handle_unkline(&mut self, conn: ConnId, msg: &Message, now: Now) {
        if !self.require_oper(conn) {
            return;
        }
        self.sweep_server_bans(now);
        let mask = normalize_ban_mask(msg.param(0));
        if self.server_bans.remove(&mask).is_none() {
            self.server_notice(
                conn,
                &format!("No K-Line for {mask}: STATS k lists the K-Lines in force"),
            );
            return;
        }
        let nick = self.nick_of(conn).unwrap_or("*").to_string();
        self.emit(Action::DeleteServerBan { mask: mask.clone() });
        self.log(
            now.wall,
            LogEntry::ServerBanRemoved {
                nick,
                mask: mask.clone(),
            },
        );
        self.server_notice(conn, &format!("Removed K-Line for [{mask}]"));
    }

    /// `STATS <letter>`: `k`/`K` lists the server bans to operators (216
    /// each, as solanum: `K` permanent, `k` temporary; then 219). Other
    /// letters have no report here: 219 alone.
    pub(super) fn handle_stats(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let letter: String = msg.param(0).chars().take(1).collect();
        if letter.eq_ignore_ascii_case("k") {
            if !self.require_oper(conn) {
                return;
            }
            self.sweep_server_bans(now);
            let rows: Vec<[String; 5]> = self
                .server_bans
                .iter()
                .map(|ban| stats_row(ban, now))
                .collect();
            for row in rows {
                let row: Vec<&str> = row.iter().map(String::as_str).collect();
                self.reply(conn, RPL_STATSKLINE, &row);
            }
        }
        self.reply(conn, RPL_ENDOFSTATS, &[&letter, "End of /STATS report"]);
    }

    /// Whether `conn`, completing registration, matches a server ban: then
    /// it is told (465, ERROR), logged, and closed.
    pub(super) fn refuse_if_banned(&mut self, conn: ConnId, now: Now) -> bool {
        if self.server_bans.is_empty() {
            return false;
        }
        self.sweep_server_bans(now);
        let Some(c) = self.connections.get(&conn) else {
            return false;
        };
        let Some(ban) = self.server_bans.matching(&c.source(), now.wall) else {
            return false;
        };
        let (mask, reason) = (ban.mask.clone(), ban.reason.clone());
        let entry = LogEntry::ServerBanRefused {
            peer: c.peer.clone(),
            nick: c.nick_or_star().to_string(),
            mask,
            reason: reason.clone(),
        };
        self.reply(
            conn,
            ERR_YOUREBANNEDCREEP,
            &[&format!("You are banned from this server: {reason}")],
        );
        self.log(now.wall, entry);
        self.remove(conn, &format!("K-Lined: {reason}"), true, now);
        true
    }
}

/// One 216 line's parameters after the nick: `K|k <host> * <[nick!]user>
/// :<reason> (set by …, expires in …)`.
fn stats_row(ban: &ServerBan, now: Now) -> [String; 5] {
    let (front, host) = ban.mask.rsplit_once('@').unwrap_or(("*!*", &ban.mask));
    let user = match front.split_once('!') {
        Some(("*", user)) => user.to_string(),
        _ => front.to_string(),
    };
    let kind = if ban.expires_at.is_some() { "k" } else { "K" };
    let expiry = match ban.expires_at {
        Some(at) => format!(
            ", expires in {} min.",
            at.0.saturating_sub(now.wall.0).div_ceil(60_000)
        ),
        None => String::new(),
    };
    let text = format!("{} (set by {}{expiry})", ban.reason, ban.set_by);
    [
        kind.to_string(),
        host.to_string(),
        "*".to_string(),
        user,
        text,
    ]
}
