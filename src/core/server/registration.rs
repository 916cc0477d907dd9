//! Registration: CAP negotiation, PASS, NICK, USER, the welcome burst
//! (001–005 and the MOTD).
//!
//! Owns how a connection becomes a user and how nicknames change. Must
//! never deliver chat: a connection is not routed anything until 001.

use super::identity::NAMELEN;
use super::leaving::REASONLEN;
use super::messages::MAX_TARGETS;
use super::monitor::MONITOR_LIMIT;
use super::output::{join_in_lines, truncate};
use super::presence::AWAYLEN;
use super::queries::MAX_USERHOST;
use super::rooms::MAX_KICKS;
use super::Server;
use crate::core::accounts::is_service_name;
use crate::core::connection::{Caps, Connection, Phase};
use crate::core::event::{ConnId, Now};
use crate::core::log::LogEntry;
use crate::core::room::MAX_LIST_ENTRIES;
use crate::core::secrets::{is_server_password, Seal};
use crate::proto::numeric::*;
use crate::proto::{
    casefold, is_valid_nick, Message, CHANMODES, CHANNELLEN, MAX_LINE, MODES_PER_LINE, NICKLEN,
    PREFIX, TOPICLEN,
};

/// Capabilities this server offers in `CAP LS`.
const CAPABILITIES: &[&str] = &[
    "echo-message",
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
    "multi-prefix",
    "invite-notify",
    "away-notify",
    "labeled-response",
    "standard-replies",
    "cap-notify",
    "extended-monitor",
    "userhost-in-names",
    "extended-join",
    "setname",
    "draft/read-marker",
    "draft/message-redaction",
    "draft/channel-rename",
    "sasl",
    "account-notify",
    "account-tag",
    "draft/account-registration",
];

/// User modes, for 004: bot, invisible, operator, wallops.
const USER_MODES: &str = "Biow";
/// Channel modes, for 004: every letter of CHANMODES and PREFIX.
const CHANNEL_MODES: &str = "beIiklmnostv";
/// Channel modes that take an argument, for 004.
const CHANNEL_MODES_WITH_ARGS: &str = "beIklov";

/// The flag in `caps` that the capability called `cap` turns on, if any.
fn cap_flag<'a>(caps: &'a mut Caps, cap: &str) -> Option<&'a mut bool> {
    Some(match cap {
        "echo-message" => &mut caps.echo_message,
        "message-tags" => &mut caps.message_tags,
        "server-time" => &mut caps.server_time,
        "batch" => &mut caps.batch,
        "draft/chathistory" => &mut caps.chathistory,
        "multi-prefix" => &mut caps.multi_prefix,
        "invite-notify" => &mut caps.invite_notify,
        "away-notify" => &mut caps.away_notify,
        "labeled-response" => &mut caps.labeled_response,
        "standard-replies" => &mut caps.standard_replies,
        "cap-notify" => &mut caps.cap_notify,
        "extended-monitor" => &mut caps.extended_monitor,
        "userhost-in-names" => &mut caps.userhost_in_names,
        "extended-join" => &mut caps.extended_join,
        "setname" => &mut caps.setname,
        "draft/read-marker" => &mut caps.read_marker,
        "draft/message-redaction" => &mut caps.message_redaction,
        "draft/channel-rename" => &mut caps.channel_rename,
        "sasl" => &mut caps.sasl,
        "account-notify" => &mut caps.account_notify,
        "account-tag" => &mut caps.account_tag,
        "draft/account-registration" => &mut caps.account_registration,
        _ => return None,
    })
}

impl Server {
    pub(super) fn handle_connected(&mut self, conn: ConnId, peer: &str, now: Now) {
        let mut c = Connection::new(peer, now, self.config.password.is_some());
        c.timer = now.mono.plus_secs(self.config.registration_timeout_secs);
        self.timers.insert((c.timer, conn));
        self.connections.insert(conn, c);
    }

    pub(super) fn handle_cap(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let sub = msg.param(0).to_ascii_uppercase();
        let nick = c.nick_or_star().to_string();
        let server = self.config.server_name.clone();
        let cap_reply = |params: Vec<String>| {
            let mut all = vec![nick.clone()];
            all.extend(params);
            Message::new("CAP", all).with_source(server.clone())
        };
        let start_negotiating = |c: &mut Connection| {
            if let Phase::Registering {
                cap_negotiating, ..
            } = &mut c.phase
            {
                *cap_negotiating = true;
            }
        };
        match sub.as_str() {
            "LS" => {
                start_negotiating(c);
                // Capability values (and so `sts`) only when this request
                // says 302; 302 once said lasts, with cap-notify, for good.
                let v302 = is_version_302(msg.param(1));
                if v302 {
                    c.cap_302 = true;
                    c.caps.cap_notify = true;
                }
                let mechanisms = super::sasl::mechanisms_for(&self.config, c).join(",");
                let mut caps: Vec<String> = CAPABILITIES
                    .iter()
                    .map(|&cap| match (v302, cap) {
                        (true, "sasl") if !mechanisms.is_empty() => format!("sasl={mechanisms}"),
                        // REGISTER works before 001 (and so before CAP END).
                        (true, "draft/account-registration") => {
                            "draft/account-registration=before-connect".to_string()
                        }
                        _ => cap.to_string(),
                    })
                    .collect();
                if let (true, Some(sts)) = (v302, &self.config.sts) {
                    caps.push(sts.capability(c.tls));
                }
                let multiline = c.cap_302;
                self.send_cap_list(conn, "LS", &caps, multiline);
            }
            "LIST" => {
                let mut caps = c.caps;
                let enabled: Vec<String> = CAPABILITIES
                    .iter()
                    .filter(|cap| cap_flag(&mut caps, cap).is_some_and(|on| *on))
                    .map(|cap| cap.to_string())
                    .collect();
                let multiline = c.cap_302;
                self.send_cap_list(conn, "LIST", &enabled, multiline);
            }
            "REQ" => {
                start_negotiating(c);
                // Each capability once, in the order asked (the spec asks
                // for each once; a repeat changes nothing).
                let mut wanted: Vec<&str> = Vec::new();
                for cap in msg.param(1).split(' ').filter(|s| !s.is_empty()) {
                    if !wanted.contains(&cap) {
                        wanted.push(cap);
                    }
                }
                let known = |cap: &str| CAPABILITIES.contains(&cap.trim_start_matches('-'));
                // cap-notify stays on for a 302 client, as the spec says:
                // turning it off is refused like any impossible change.
                let keeps_cap_notify = !(c.cap_302 && wanted.contains(&"-cap-notify"));
                // All or nothing: one unknown capability refuses the lot.
                let ok =
                    !wanted.is_empty() && wanted.iter().all(|cap| known(cap)) && keeps_cap_notify;
                if ok {
                    for cap in &wanted {
                        let (name, on) = match cap.strip_prefix('-') {
                            Some(name) => (name, false),
                            None => (*cap, true),
                        };
                        if let Some(flag) = cap_flag(&mut c.caps, name) {
                            *flag = on;
                        }
                    }
                }
                let verdict = if ok { "ACK" } else { "NAK" };
                // An ACK names each capability whole (known names, each
                // once, fit a line); a NAK of junk is cut to fit.
                let answered = if ok {
                    wanted.join(" ")
                } else {
                    let budget = MAX_LINE.saturating_sub(server.len() + nick.len() + 16);
                    truncate_words(&wanted, budget)
                };
                let m = cap_reply(vec![verdict.into(), answered]);
                self.send(conn, &m);
            }
            "END" => {
                if let Phase::Registering {
                    cap_negotiating, ..
                } = &mut c.phase
                {
                    *cap_negotiating = false;
                }
                self.try_complete_registration(conn, now);
            }
            _ => {
                let sub = if sub.is_empty() { "*".to_string() } else { sub };
                self.reply(conn, ERR_INVALIDCAPCMD, &[&sub, "Invalid CAP command"]);
            }
        }
    }

    /// Whether `typed` (the line's `PASS` parameter) is the server
    /// password, or what the seal says of it when the line was sealed.
    fn is_server_password(&self, typed: &str) -> bool {
        match self.sealed.as_deref() {
            Some(Seal::ServerPassword { matches }) => *matches,
            Some(_) => false,
            None => is_server_password(self.config.password.as_deref(), typed),
        }
    }

    pub(super) fn handle_pass(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let given = self.is_server_password(msg.param(0));
        let has_password = self.config.password.is_some();
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let Phase::Registering { password_ok, .. } = &mut c.phase else {
            self.reply(conn, ERR_ALREADYREGISTERED, &["You may not reregister"]);
            return;
        };
        match (has_password, given) {
            (true, true) => *password_ok = true,
            (true, false) => {
                self.reply(conn, ERR_PASSWDMISMATCH, &["Password incorrect"]);
                self.close_with_error(conn, "Bad password", now);
            }
            (false, _) => {}
        }
    }

    pub(super) fn handle_user(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.is_registered() || c.user.is_some() {
            self.reply(conn, ERR_ALREADYREGISTERED, &["You may not reregister"]);
            return;
        }
        let user: String = msg
            .param(0)
            .chars()
            .filter(|ch| !ch.is_control() && *ch != '@' && *ch != '!')
            .take(16)
            .collect();
        c.user = Some(if user.is_empty() { "user".into() } else { user });
        c.realname = truncate(msg.param(3), NAMELEN).to_string();
        self.try_complete_registration(conn, now);
    }

    pub(super) fn handle_nick(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let Some(wanted) = msg.params.first().filter(|n| !n.is_empty()).cloned() else {
            self.reply(conn, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
            return;
        };
        if !is_valid_nick(&wanted) {
            let shown: String = wanted.chars().take(NICKLEN + 1).collect();
            self.reply(conn, ERR_ERRONEUSNICKNAME, &[&shown, "Erroneous nickname"]);
            return;
        }
        if is_service_name(&wanted) {
            let text = "Erroneous nickname (reserved for a service)";
            self.reply(conn, ERR_ERRONEUSNICKNAME, &[&wanted, text]);
            return;
        }
        let folded = casefold(&wanted);
        if let Some(&owner) = self.nicks.get(&folded) {
            if owner != conn {
                self.reply(
                    conn,
                    ERR_NICKNAMEINUSE,
                    &[&wanted, "Nickname is already in use"],
                );
                return;
            }
        }
        if let Some(room) = self.banned_room_for_nick(conn, &wanted) {
            self.reply(
                conn,
                ERR_BANONCHAN,
                &[
                    &wanted,
                    &room,
                    "Cannot change nickname while banned on channel",
                ],
            );
            return;
        }
        self.change_nick(conn, &wanted, now);
    }

    /// Gives `conn` the free nick `wanted` (already checked): registration
    /// may complete; a user's rooms and watchers hear of it.
    pub(super) fn change_nick(&mut self, conn: ConnId, wanted: &str, now: Now) {
        let wanted = wanted.to_string();
        let folded = casefold(&wanted);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.nick.as_deref() == Some(wanted.as_str()) {
            return;
        }
        let old_source = c.source();
        let was = c.is_registered().then(|| c.clone());
        let old = c.nick.replace(wanted.clone());
        if let Some(old) = &old {
            self.nicks.remove(&casefold(old));
        }
        self.nicks.insert(folded, conn);
        if !c.is_registered() {
            self.try_complete_registration(conn, now);
            return;
        }
        if let Some(was) = was {
            self.remember_whowas(&was, now);
        }
        let old = old.unwrap_or_default();
        let mut to = self.room_peers(conn);
        to.push(conn);
        to.sort_unstable();
        let m = Message::new("NICK", [wanted.as_str()]).with_source(old_source);
        self.broadcast(to, &m);
        // A change of case only keeps the same nick online (as solanum).
        if casefold(&old) != casefold(&wanted) {
            self.monitor_offline(&old);
            self.monitor_online(conn);
        }
        self.log(now.wall, LogEntry::NickChange { old, new: wanted });
        self.protect_nick(conn, now);
    }

    /// The first room `conn` is in where `nick` would be banned (and it is
    /// neither voiced nor an operator there), if any.
    fn banned_room_for_nick(&self, conn: ConnId, nick: &str) -> Option<String> {
        let c = self.connections.get(&conn)?;
        let subject = format!(
            "{nick}!{}@{}",
            c.user.as_deref().unwrap_or("unknown"),
            c.host
        );
        c.rooms
            .iter()
            .filter_map(|folded| self.rooms.get(folded))
            .find(|room| !room.may_change_nick(conn, &subject))
            .map(|room| room.name().to_string())
    }

    fn try_complete_registration(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let Phase::Registering {
            cap_negotiating,
            password_ok,
        } = c.phase
        else {
            return;
        };
        if cap_negotiating || c.nick.is_none() || c.user.is_none() {
            return;
        }
        if !password_ok {
            self.reply(
                conn,
                ERR_PASSWDMISMATCH,
                &["Password required: send PASS first"],
            );
            self.close_with_error(conn, "Password required", now);
            return;
        }
        if self.refuse_if_banned(conn, now) {
            return;
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.phase = Phase::Registered;
        let quiet_until = c.last_active.plus_secs(self.config.ping_interval_secs);
        let nick = c.nick_or_star().to_string();
        let source = c.source();
        let peer = c.peer.clone();
        let name = self.config.server_name.clone();
        // From now on the deadline is the next PING, not registration's.
        self.set_timer(conn, quiet_until);
        self.reply(
            conn,
            RPL_WELCOME,
            &[&format!(
                "Welcome to the {} IRC network, {source}",
                self.config.network
            )],
        );
        self.reply(
            conn,
            RPL_YOURHOST,
            &[&format!(
                "Your host is {name}, running version {}",
                super::VERSION
            )],
        );
        self.reply(
            conn,
            RPL_CREATED,
            &[&format!("This server was created {}", self.config.created)],
        );
        let myinfo = [
            name.as_str(),
            super::VERSION,
            USER_MODES,
            CHANNEL_MODES,
            CHANNEL_MODES_WITH_ARGS,
        ];
        self.reply(conn, RPL_MYINFO, &myinfo);
        self.send_isupport(conn);
        self.send_lusers(conn);
        self.send_motd(conn);
        self.monitor_online(conn);
        self.log(now.wall, LogEntry::Connected { nick, peer });
        self.protect_nick(conn, now);
        // Logged in (SASL) before registering: `+o` waited for 001.
        self.apply_account_privileges(conn, Some(now));
    }

    /// 005 lines: what this server implements, exactly, at most 12 tokens
    /// a line.
    pub(super) fn send_isupport(&mut self, conn: ConnId) {
        for chunk in self.isupport().chunks(12) {
            let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
            params.push("are supported by this server");
            // Whole: a token (TARGMAX) may be longer than a reply's word.
            self.reply_whole(conn, RPL_ISUPPORT, &params);
        }
    }

    /// The 005 tokens: what this server implements, exactly.
    fn isupport(&self) -> Vec<String> {
        vec![
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".to_string(),
            format!("CHANNELLEN={CHANNELLEN}"),
            format!("NICKLEN={NICKLEN}"),
            format!("TOPICLEN={TOPICLEN}"),
            format!("CHANLIMIT=#:{}", self.config.max_rooms_per_client),
            format!("CHANMODES={CHANMODES}"),
            format!("PREFIX={PREFIX}"),
            format!("MODES={MODES_PER_LINE}"),
            format!("MAXLIST=beI:{MAX_LIST_ENTRIES}"),
            "EXCEPTS=e".to_string(),
            "INVEX=I".to_string(),
            format!("KICKLEN={REASONLEN}"),
            format!("AWAYLEN={AWAYLEN}"),
            format!("LINELEN={}", MAX_LINE + 2),
            format!("NETWORK={}", self.config.network),
            format!("CHATHISTORY={}", self.config.chathistory_max),
            "MSGREFTYPES=msgid,timestamp".to_string(),
            format!("ELIST={}", super::list::ELIST),
            // Lines that are not UTF-8 are refused (FAIL INVALID_UTF8),
            // never relayed.
            "UTF8ONLY".to_string(),
            "WHOX".to_string(),
            "BOT=B".to_string(),
            "STATUSMSG=@+".to_string(),
            // Only what is enforced: an empty limit is no limit (JOIN is
            // bounded by CHANLIMIT instead); WHOIS takes one nick.
            format!(
                "TARGMAX=JOIN:,KICK:{MAX_KICKS},NAMES:,NOTICE:{MAX_TARGETS},PART:,\
                 PRIVMSG:{MAX_TARGETS},TAGMSG:{MAX_TARGETS},USERHOST:{MAX_USERHOST},WHOIS:1"
            ),
            format!("MONITOR={MONITOR_LIMIT}"),
            format!("NAMELEN={NAMELEN}"),
        ]
    }

    /// `CAP <nick> LS|LIST :caps`, split over lines `CAP <nick> LS * :…`
    /// when too long for one and the client speaks 302 (an older client
    /// gets one line: it cannot read the split).
    fn send_cap_list(&mut self, conn: ConnId, sub: &str, caps: &[String], multiline: bool) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let nick = c.nick_or_star().to_string();
        let server = self.config.server_name.clone();
        let budget = MAX_LINE.saturating_sub(server.len() + nick.len() + sub.len() + 12);
        let lines = if multiline {
            join_in_lines(caps, ' ', budget)
        } else {
            vec![caps.join(" ")]
        };
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.into_iter().enumerate() {
            let mut params = vec![nick.clone(), sub.to_string()];
            if i < last {
                params.push("*".to_string());
            }
            params.push(line);
            let m = Message::new("CAP", params).with_source(server.clone());
            self.send(conn, &m);
        }
    }
}

/// Whether a `CAP LS` version parameter is 302 or more (any number of
/// digits: a client from the future still gets what 302 offers).
fn is_version_302(version: &str) -> bool {
    let digits = version.trim_start_matches('0');
    !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() > 3 || digits.parse::<u32>().is_ok_and(|v| v >= 302))
}

/// The words joined by spaces, as many whole ones as fit in `budget` bytes.
fn truncate_words(words: &[&str], budget: usize) -> String {
    let mut out = String::new();
    for word in words {
        if out.len() + 1 + word.len() > budget {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_fits_one_line_for_clients_before_302() {
        // Older clients get `CAP * LS` on one line: it must stay inside 512
        // bytes with the longest nick and a long server name.
        let line = format!(
            ":{} CAP {} LS :{}",
            "irc.a-rather-long-server-name.example.org",
            "n".repeat(NICKLEN),
            CAPABILITIES.join(" ")
        );
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    }

    #[test]
    fn cap_ls_versions_from_302_up_count_as_302() {
        for v in ["302", "303", "0302", "99999999999999999999"] {
            assert!(is_version_302(v), "{v}");
        }
        for v in ["", "301", "3o2", "-302", "30"] {
            assert!(!is_version_302(v), "{v}");
        }
    }

    #[test]
    fn every_advertised_capability_has_a_flag() {
        for cap in CAPABILITIES {
            assert!(cap_flag(&mut Caps::default(), cap).is_some(), "{cap}");
        }
    }
}
