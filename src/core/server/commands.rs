//! The command table: every IRC verb the server knows, its handler, how
//! many parameters it needs and whether it needs registration.
//!
//! Owns dispatch, and the answers that are the same for every command:
//! 421 (unknown command), 451 (not registered), 461 (not enough
//! parameters), 417 (too many tags), parse errors, and
//! labeling the replies of a `@label=…` command (labeled-response). Must
//! never hold a command's own rules: those live in the handler, in its
//! feature's file. Lines reach [`Server::run_line`] through flood control
//! (`flood`), which may hold them back.

use super::output::{truncate, StandardReply};
use super::tags::{tag_data_len, MAX_CLIENT_TAG_DATA};
use super::Server;
use crate::core::event::{ConnId, Now};
use crate::core::secrets::Seal;
use crate::proto::numeric::*;
use crate::proto::{LineError, Message, ParseError};

/// One row of the command table.
pub(super) struct Command {
    /// The verb, in upper case.
    pub name: &'static str,
    /// The handler; it runs only when the checks below passed.
    pub run: fn(&mut Server, ConnId, &Message, Now),
    /// How many parameters it needs; fewer (or an empty one among them)
    /// is answered with 461 before the handler runs.
    pub min_params: usize,
    /// Whether it may be used before registration completes (else 451).
    pub before_registration: bool,
}

/// Shorthand for a table row.
const fn row(
    name: &'static str,
    run: fn(&mut Server, ConnId, &Message, Now),
    min_params: usize,
    before_registration: bool,
) -> Command {
    Command {
        name,
        run,
        min_params,
        before_registration,
    }
}

/// Every command, the busiest first (dispatch scans in this order).
pub(super) const COMMANDS: &[Command] = &[
    row("PRIVMSG", Server::handle_privmsg, 0, false),
    row("NOTICE", Server::handle_notice, 0, false),
    row("TAGMSG", Server::handle_tagmsg, 0, false),
    row("PING", Server::handle_ping, 0, true),
    row("PONG", Server::handle_pong, 0, true),
    row("JOIN", Server::handle_join, 1, false),
    row("PART", Server::handle_part, 1, false),
    row("QUIT", Server::handle_quit, 0, true),
    row("NICK", Server::handle_nick, 0, true),
    row("USER", Server::handle_user, 4, true),
    row("PASS", Server::handle_pass, 1, true),
    row("CAP", Server::handle_cap, 0, true),
    row("MODE", Server::handle_mode, 1, false),
    row("TOPIC", Server::handle_topic, 1, false),
    row("KICK", Server::handle_kick, 2, false),
    row("INVITE", Server::handle_invite, 2, false),
    row("NAMES", Server::handle_names, 0, false),
    row("LIST", Server::handle_list, 0, false),
    row("WHO", Server::handle_who, 0, false),
    row("WHOIS", Server::handle_whois, 0, false),
    row("MOTD", Server::handle_motd, 0, false),
    row("AWAY", Server::handle_away, 0, false),
    row("USERHOST", Server::handle_userhost, 1, false),
    row("ISON", Server::handle_ison, 1, false),
    row("WHOWAS", Server::handle_whowas, 1, false),
    row("LUSERS", Server::handle_lusers, 0, false),
    row("VERSION", Server::handle_version, 0, false),
    row("TIME", Server::handle_time, 0, false),
    row("ADMIN", Server::handle_admin, 0, false),
    row("INFO", Server::handle_info, 0, false),
    row("LINKS", Server::handle_links, 0, false),
    row("HELP", Server::handle_help, 0, false),
    row("HELPOP", Server::handle_help, 0, false),
    row("CHATHISTORY", Server::handle_chathistory, 0, false),
    row("OPER", Server::handle_oper, 2, false),
    row("KILL", Server::handle_kill, 1, false),
    row("WALLOPS", Server::handle_wallops, 1, false),
    row("KLINE", Server::handle_kline, 1, false),
    row("UNKLINE", Server::handle_unkline, 1, false),
    row("STATS", Server::handle_stats, 1, false),
    row("MONITOR", Server::handle_monitor, 1, false),
    row("SETNAME", Server::handle_setname, 0, false),
    row("MARKREAD", Server::handle_markread, 0, false),
    row("REDACT", Server::handle_redact, 2, false),
    row("RENAME", Server::handle_rename, 2, false),
    row("AUTHENTICATE", Server::handle_authenticate, 1, true),
    row("REGISTER", Server::handle_register, 2, true),
    row("VERIFY", Server::handle_verify, 2, true),
    row("NICKSERV", Server::handle_nickserv_command, 0, false),
    row("NS", Server::handle_nickserv_command, 0, false),
    row("CHANSERV", Server::handle_chanserv_command, 0, false),
    row("CS", Server::handle_chanserv_command, 0, false),
];

/// The table row for `verb` (any case).
pub(super) fn find(verb: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(verb))
}

impl Server {
    pub(super) fn handle_bad_line(&mut self, conn: ConnId, error: LineError, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.last_active = now.mono;
        c.ping_sent = None;
        match error {
            LineError::TooLong { .. } => {
                self.reply(conn, ERR_INPUTTOOLONG, &["Input line was too long"])
            }
            // UTF8ONLY (005): the line is never relayed. The spec's
            // INVALID_UTF8 standard reply goes to every client, as ergo
            // sends it; the command is `*` because the reader drops the
            // undecodable line whole, command word included.
            LineError::InvalidUtf8 => self.standard_reply(
                conn,
                StandardReply::Fail,
                "*",
                "INVALID_UTF8",
                &[],
                "Your line was not valid UTF-8 and was dropped: this server is UTF-8 only, set your client's encoding to UTF-8",
            ),
        }
    }

    /// A line flood control let through, with its seal (if it was sealed)
    /// standing in for its secret while it runs (a line may run another's
    /// held lines: each sees its own seal).
    pub(super) fn run_sealed_line(
        &mut self,
        conn: ConnId,
        line: &str,
        seal: Option<Box<Seal>>,
        now: Now,
    ) {
        let outer = std::mem::replace(&mut self.sealed, seal);
        self.run_line(conn, line, now);
        self.sealed = outer;
    }

    /// One line from a client that flood control let through: parsing,
    /// then its command.
    fn run_line(&mut self, conn: ConnId, line: &str, now: Now) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let registered = c.is_registered();
        if tag_data_len(line) > MAX_CLIENT_TAG_DATA {
            // message-tags: reject, never truncate, a client's tags.
            self.reply(conn, ERR_INPUTTOOLONG, &["Input line was too long"]);
            return;
        }
        let msg = match Message::parse(line) {
            Ok(msg) => msg,
            Err(ParseError::MissingCommand) => return,
            Err(ParseError::InvalidCommand | ParseError::ForbiddenCharacter) => {
                let word = line
                    .split(' ')
                    .find(|w| !w.starts_with(['@', ':']) && !w.is_empty());
                let word: String = word.unwrap_or("?").chars().take(32).collect();
                self.reply(conn, ERR_UNKNOWNCOMMAND, &[&word, "Unknown command"]);
                return;
            }
        };
        match self.label_of(conn, &msg) {
            None => self.dispatch(conn, &msg, registered, now),
            Some(label) => {
                let from = self.outbox.len();
                self.dispatch(conn, &msg, registered, now);
                self.label_replies(conn, from, &label);
            }
        }
    }

    /// Runs `msg`'s command, or answers 421, 451 or 461 for it.
    fn dispatch(&mut self, conn: ConnId, msg: &Message, registered: bool, now: Now) {
        let Some(command) = find(&msg.command) else {
            if registered {
                let word = truncate(&msg.command, 32).to_string();
                self.reply(conn, ERR_UNKNOWNCOMMAND, &[&word, "Unknown command"]);
            } else {
                self.reply(conn, ERR_NOTREGISTERED, &["You have not registered"]);
            }
            return;
        };
        if !registered && !command.before_registration {
            self.reply(conn, ERR_NOTREGISTERED, &["You have not registered"]);
            return;
        }
        let given = msg.params.iter().take_while(|p| !p.is_empty()).count();
        if given < command.min_params {
            self.reply(
                conn,
                ERR_NEEDMOREPARAMS,
                &[command.name, "Not enough parameters"],
            );
            return;
        }
        (command.run)(self, conn, msg, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_is_in_the_table_once_and_in_upper_case() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(
                COMMANDS[i + 1..].iter().all(|d| d.name != c.name),
                "{} twice",
                c.name
            );
        }
        assert_eq!(find("privmsg").map(|c| c.name), Some("PRIVMSG"));
        assert!(find("FROBNICATE").is_none());
    }
}
