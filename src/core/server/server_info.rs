//! What the server says about itself: LUSERS, MOTD, VERSION, TIME, ADMIN,
//! INFO, LINKS and HELP.
//!
//! Owns the server's own replies. Must never change any state.

use super::Server;
use crate::core::event::{ConnId, Now};
use crate::proto::numeric::*;
use crate::proto::Message;

/// One help entry: the command and its lines (the first is the syntax).
struct Help {
    topic: &'static str,
    lines: &'static [&'static str],
}

/// A help text per command (HELP, HELPOP), and the index (no topic).
const HELP: &[Help] = &[
    Help { topic: "*", lines: &["natter speaks IRC. Commands: ADMIN AUTHENTICATE AWAY CAP CHANSERV CHATHISTORY CS HELP INFO INVITE ISON JOIN KICK KILL KLINE LINKS LIST LUSERS MARKREAD MODE MONITOR MOTD NAMES NICK NICKSERV NOTICE NS OPER PART PASS PING PONG PRIVMSG QUIT REDACT REGISTER RENAME SETNAME STATS TAGMSG TIME TOPIC UNKLINE USER USERHOST VERIFY VERSION WALLOPS WHO WHOIS WHOWAS", "HELP <command> explains one."] },
    Help { topic: "ADMIN", lines: &["ADMIN", "Who runs this server."] },
    Help { topic: "AWAY", lines: &["AWAY [:message]", "With a message, marks you away: people who message you or WHOIS you see it. Without one, marks you back."] },
    Help { topic: "CAP", lines: &["CAP LS [302] | LIST | REQ :caps | END", "Negotiates IRCv3 capabilities."] },
    Help { topic: "CHATHISTORY", lines: &["CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN <#room> <msgid=…|timestamp=…|*> [<ref>] <limit>", "Pages through a room's history (IRCv3 draft/chathistory)."] },
    Help { topic: "HELP", lines: &["HELP [command]", "This help."] },
    Help { topic: "INFO", lines: &["INFO", "About this server's software."] },
    Help { topic: "INVITE", lines: &["INVITE <nick> <#room>", "Lets someone into the room once, past +i, +k, +l and bans. In a +i room only operators may invite."] },
    Help { topic: "ISON", lines: &["ISON <nick> [<nick> …]", "Which of these nicks are online."] },
    Help { topic: "JOIN", lines: &["JOIN <#room>[,<#room>…] [<key>[,<key>…]]", "Joins rooms; the first person into an empty room is its operator. JOIN 0 leaves every room."] },
    Help { topic: "KICK", lines: &["KICK <#room> <nick>[,<nick>…] [:reason]", "Operators only: removes people from the room."] },
    Help { topic: "KILL", lines: &["KILL <nick> [:reason]", "Server operators only: disconnects someone from the server."] },
    Help { topic: "KLINE", lines: &["KLINE [duration] <user@host|nick!user@host|address/CIDR> [:reason]", "Server operators only: bans matching people from the whole server and disconnects those online now. The duration is minutes, or like 1h30m or 2d; none or 0 is permanent. Bans survive restarts. UNKLINE lifts one, STATS k lists them."] },
    Help { topic: "LINKS", lines: &["LINKS", "The servers of this network (natter is one server)."] },
    Help { topic: "LIST", lines: &["LIST [<#room|#mask*|!#mask*|condition>[,…]]", "The rooms, their sizes and topics (secret rooms only to their members). Conditions: >N or <N users, C>M or C<M created more or less than M minutes ago, T>M or T<M topic set more or less than M minutes ago."] },
    Help { topic: "LUSERS", lines: &["LUSERS", "How many people and rooms there are."] },
    Help { topic: "MARKREAD", lines: &["MARKREAD <#room|nick> [timestamp=…]", "Asks for, or moves forward, how far you have read (IRCv3 draft/read-marker). Markers belong to your nick!user@host."] },
    Help { topic: "MODE", lines: &["MODE <#room> [<+|-modes> [args…]] | MODE <nick> [<+|-modes>]", "Shows or changes modes. Room modes: o v b e I k l i m n s t. User modes: B (bot) i w o."] },
    Help { topic: "MONITOR", lines: &["MONITOR + <nick>[,<nick>…] | - <nick>[,…] | C | L | S", "Tells you when these nicks come online (730) or go offline (731): + adds, - removes, C clears, L lists, S shows who is online. Up to 100 nicks."] },
    Help { topic: "MOTD", lines: &["MOTD", "The message of the day."] },
    Help { topic: "NAMES", lines: &["NAMES <#room>[,<#room>…]", "Who is in a room."] },
    Help { topic: "OPER", lines: &["OPER <name> <password>", "Become a server operator (+o), as set up with natter-server --oper."] },
    Help { topic: "NICK", lines: &["NICK <nick>", "Changes your nickname."] },
    Help { topic: "NOTICE", lines: &["NOTICE <target> :text", "Like PRIVMSG, but never answered automatically."] },
    Help { topic: "PART", lines: &["PART <#room>[,<#room>…] [:reason]", "Leaves rooms."] },
    Help { topic: "PASS", lines: &["PASS <password>", "The server password, before NICK and USER."] },
    Help { topic: "PING", lines: &["PING <token>", "The server answers PONG with the same token."] },
    Help { topic: "PONG", lines: &["PONG <token>", "The answer to the server's PING."] },
    Help { topic: "PRIVMSG", lines: &["PRIVMSG <#room|@#room|+#room|nick>[,…] :text", "Sends a message to a room or a person; @#room reaches only the room's operators, +#room its voiced members and operators."] },
    Help { topic: "QUIT", lines: &["QUIT [:reason]", "Leaves the server."] },
    Help { topic: "REDACT", lines: &["REDACT <#room|nick> <msgid> [:reason]", "Deletes a message (IRCv3 draft/message-redaction): your own for a while after sending, any in a room where you are an operator."] },
    Help { topic: "AUTHENTICATE", lines: &["AUTHENTICATE <mechanism>, then AUTHENTICATE <base64>", "Logs in with SASL (PLAIN, EXTERNAL): clients do this for you when you give them an account and password."] },
    Help { topic: "REGISTER", lines: &["REGISTER <account|*> <email|*> <password>", "Registers your current nick as an account and logs you in (IRCv3 draft/account-registration). /msg NickServ REGISTER does the same."] },
    Help { topic: "VERIFY", lines: &["VERIFY <account> <code>", "Not needed here: natter sends no e-mail, so accounts work as soon as REGISTER succeeds."] },
    Help { topic: "NICKSERV", lines: &["NICKSERV <command> [arguments]", "The same as /msg NickServ <command>: REGISTER, IDENTIFY, LOGOUT, GHOST, REGAIN, DROP, SET PASSWORD, INFO, CERT, HELP."] },
    Help { topic: "NS", lines: &["NS <command> [arguments]", "Short for NICKSERV."] },
    Help { topic: "CHANSERV", lines: &["CHANSERV <command> [arguments]", "The same as /msg ChanServ <command>: REGISTER, DROP, AMODE (or ACCESS), INFO, OP, DEOP, VOICE, DEVOICE, HELP. A registered room keeps its topic, modes, bans and operators when it empties and across restarts."] },
    Help { topic: "CS", lines: &["CS <command> [arguments]", "Short for CHANSERV."] },
    Help { topic: "RENAME", lines: &["RENAME <#room> <#new-name> [:reason]", "Operators only: renames the room; members, modes, topic and history stay (IRCv3 draft/channel-rename)."] },
    Help { topic: "SETNAME", lines: &["SETNAME :<new real name>", "Changes your real name (up to 128 bytes); people in your rooms with the setname capability see it."] },
    Help { topic: "STATS", lines: &["STATS <letter>", "Server statistics. STATS k (server operators only): the server bans (KLINE) in force, K permanent, k temporary."] },
    Help { topic: "TAGMSG", lines: &["TAGMSG <#room|@#room|nick>[,…]", "Sends only tags (such as +typing) without text, to clients with the message-tags capability; needs that capability."] },
    Help { topic: "TIME", lines: &["TIME", "The server's local time."] },
    Help { topic: "TOPIC", lines: &["TOPIC <#room> [:topic]", "Shows or sets the topic (under +t, operators only)."] },
    Help { topic: "UNKLINE", lines: &["UNKLINE <mask>", "Server operators only: lifts the server ban on this mask, as given to KLINE or as STATS k shows it."] },
    Help { topic: "USER", lines: &["USER <username> 0 * :<real name>", "Registration: your username and real name."] },
    Help { topic: "USERHOST", lines: &["USERHOST <nick> [<nick> …]", "The user@host of up to five nicks."] },
    Help { topic: "VERSION", lines: &["VERSION", "This server's software version."] },
    Help { topic: "WALLOPS", lines: &["WALLOPS :text", "Server operators only: a message to everyone with user mode +w."] },
    Help { topic: "WHO", lines: &["WHO <#room|nick|mask> [o][%fields[,token]]", "Who is in a room, one person, or everyone whose nick, username, host or real name matches a mask like *.example.org, with away (G), server operator (*) and room operator (@, +) flags. o: server operators only. %fields: WHOX, any of t c u i h s n f d l a o r."] },
    Help { topic: "WHOIS", lines: &["WHOIS <nick>", "About one person: name, rooms, idle time, away message."] },
    Help { topic: "WHOWAS", lines: &["WHOWAS <nick> [<count>]", "About people who recently used a nick."] },
];

impl Server {
    pub(super) fn handle_motd(&mut self, conn: ConnId, _msg: &Message, _now: Now) {
        self.send_motd(conn);
    }

    pub(super) fn send_motd(&mut self, conn: ConnId) {
        if self.config.motd.is_empty() {
            self.reply(conn, ERR_NOMOTD, &["MOTD File is missing"]);
            return;
        }
        let name = self.config.server_name.clone();
        self.reply(
            conn,
            RPL_MOTDSTART,
            &[&format!("- {name} Message of the day - ")],
        );
        for line in self.config.motd.clone() {
            self.reply(conn, RPL_MOTD, &[&format!("- {line}")]);
        }
        self.reply(conn, RPL_ENDOFMOTD, &["End of /MOTD command."]);
    }

    pub(super) fn handle_lusers(&mut self, conn: ConnId, _msg: &Message, _now: Now) {
        self.send_lusers(conn);
    }

    /// 251–255, 265 and 266: the counts of people, operators, unregistered
    /// connections and rooms. On a single server local is global; in a
    /// cluster the servers are the nodes that are up, and "local" is the
    /// node `conn` is connected to.
    pub(super) fn send_lusers(&mut self, conn: ConnId) {
        let here = self.connections.get(&conn).and_then(|c| c.node.clone());
        let users = self.connections.values().filter(|c| c.is_registered());
        let (mut total, mut invisible, mut opers, mut local) = (0usize, 0usize, 0usize, 0usize);
        for c in users {
            total += 1;
            invisible += usize::from(c.modes.invisible);
            opers += usize::from(c.modes.oper);
            local += usize::from(c.node == here);
        }
        let unknown = self.connections.len() - total;
        self.max_users = self.max_users.max(total);
        let (rooms, max) = (self.rooms.len(), self.max_users);
        let visible = total - invisible;
        let servers = self.cluster_nodes.len().max(1);
        self.reply(
            conn,
            RPL_LUSERCLIENT,
            &[&format!(
                "There are {visible} users and {invisible} invisible on {servers} servers"
            )],
        );
        self.reply(
            conn,
            RPL_LUSEROP,
            &[&opers.to_string(), "operator(s) online"],
        );
        self.reply(
            conn,
            RPL_LUSERUNKNOWN,
            &[&unknown.to_string(), "unknown connection(s)"],
        );
        self.reply(
            conn,
            RPL_LUSERCHANNELS,
            &[&rooms.to_string(), "channels formed"],
        );
        let others = servers - 1;
        self.reply(
            conn,
            RPL_LUSERME,
            &[&format!("I have {local} clients and {others} servers")],
        );
        let (now, local, max) = (total.to_string(), local.to_string(), max.to_string());
        let local_text = format!("Current local users {local}, max {max}");
        self.reply(conn, RPL_LOCALUSERS, &[&local, &max, &local_text]);
        let global = format!("Current global users {now}, max {max}");
        self.reply(conn, RPL_GLOBALUSERS, &[&now, &max, &global]);
    }

    pub(super) fn handle_version(&mut self, conn: ConnId, _msg: &Message, _now: Now) {
        let name = self.config.server_name.clone();
        let version = format!("{}.", super::VERSION);
        self.reply(conn, RPL_VERSION, &[&version, &name, "natter IRC server"]);
        self.send_isupport(conn);
    }

    /// 391 with the server's local time, as a person reads it.
    pub(super) fn handle_time(&mut self, conn: ConnId, _msg: &Message, now: Now) {
        let zone = chrono::FixedOffset::east_opt(self.config.utc_offset_secs)
            .unwrap_or(chrono::Offset::fix(&chrono::Utc));
        let text = chrono::DateTime::from_timestamp_millis(now.wall.0 as i64)
            .map(|t| {
                t.with_timezone(&zone)
                    .format("%A %B %-d %Y -- %H:%M:%S %:z")
                    .to_string()
            })
            .unwrap_or_default();
        let name = self.config.server_name.clone();
        self.reply(conn, RPL_TIME, &[&name, &text]);
    }

    pub(super) fn handle_admin(&mut self, conn: ConnId, _msg: &Message, _now: Now) {
        let name = self.config.server_name.clone();
        self.reply(conn, RPL_ADMINME, &[&name, "Administrative info"]);
        self.reply(
            conn,
            RPL_ADMINLOC1,
            &[&format!("{} on the {} network", name, self.config.network)],
        );
        self.reply(conn, RPL_ADMINLOC2, &["Run with natter-server"]);
        self.reply(
            conn,
            RPL_ADMINEMAIL,
            &["No administrator address configured"],
        );
    }

    pub(super) fn handle_info(&mut self, conn: ConnId, _msg: &Message, _now: Now) {
        let lines = [
            format!("{} — a small, fast IRC chat server", super::VERSION),
            "Written in Rust; a pure chat core inside a thin smol shell.".to_string(),
            format!("This server was created {}", self.config.created),
        ];
        for line in &lines {
            self.reply(conn, RPL_INFO, &[line]);
        }
        self.reply(conn, RPL_ENDOFINFO, &["End of INFO list"]);
    }

    /// One server, no links: itself at hop count 0.
    pub(super) fn handle_links(&mut self, conn: ConnId, _msg: &Message, _now: Now) {
        let name = self.config.server_name.clone();
        self.reply(conn, RPL_LINKS, &[&name, &name, "0 natter IRC server"]);
        self.reply(conn, RPL_ENDOFLINKS, &["*", "End of /LINKS list"]);
    }

    /// `HELP [topic]` (also HELPOP): 704, 705…, 706, or 524 for no such topic.
    pub(super) fn handle_help(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let asked = msg.param(0).to_ascii_uppercase();
        let topic = if asked.is_empty() {
            "*"
        } else {
            asked.as_str()
        };
        let Some(help) = HELP.iter().find(|h| h.topic == topic) else {
            self.reply(
                conn,
                ERR_HELPNOTFOUND,
                &[topic, "No help available on this topic"],
            );
            return;
        };
        let shown = if topic == "*" { "index" } else { help.topic };
        let (first, rest) = help.lines.split_first().unwrap_or((&"", &[]));
        self.reply(conn, RPL_HELPSTART, &[shown, first]);
        for line in rest {
            self.reply(conn, RPL_HELPTXT, &[shown, line]);
        }
        self.reply(conn, RPL_ENDOFHELP, &[shown, "End of /HELP"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_in_the_table_has_a_help_text() {
        for command in super::super::commands::COMMANDS {
            let covered =
                HELP.iter().any(|h| h.topic == command.name) || ["HELPOP"].contains(&command.name);
            assert!(covered, "HELP has no text for {}", command.name);
        }
    }
}
