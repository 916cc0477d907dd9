//! NickServ: the built-in service people type to (`/msg NickServ …`,
//! `/ns …`), as ergo builds it in rather than running a services daemon.
//!
//! Owns the service's commands (REGISTER, IDENTIFY, LOGOUT, GHOST, REGAIN,
//! DROP, SET PASSWORD, INFO, CERT, HELP) and its notices. The account rules
//! themselves live in `accounts`; passwords pass through to the shell
//! unseen. Must never echo a password back, even in an error.

use super::Server;
use crate::core::accounts::{normalize_certfp, MAX_CERTFPS};
use crate::core::action::{Action, HashPurpose, Via};
use crate::core::connection::SaslStep;
use crate::core::event::{ConnId, Now};
use crate::core::history::server_time;
use crate::core::log::LogEntry;
use crate::core::secrets::NewPassword;
use crate::proto::{casefold, Message};

/// The source of NickServ's notices.
const NICKSERV: &str = "NickServ!NickServ@services";

/// NickServ's HELP, one line per command.
const NICKSERV_HELP: &[(&str, &str)] = &[
    ("REGISTER", "REGISTER <password> [email]: register your current nick as an account (passwords of 8 to 300 characters)"),
    ("IDENTIFY", "IDENTIFY [account] <password>: log in (clients can also log in with SASL when they connect)"),
    ("LOGOUT", "LOGOUT: log out of your account"),
    ("GHOST", "GHOST <nick>: disconnect another connection that holds a nick of your account"),
    ("REGAIN", "REGAIN <nick>: take a nick of your account back from whoever holds it, and use it"),
    ("DROP", "DROP <account>: delete your account for good (name it to confirm)"),
    ("SET", "SET PASSWORD <new password>: change your password"),
    ("INFO", "INFO [nick]: when an account was registered and whether it is online"),
    ("CERT", "CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST: TLS client certificates that log in with SASL EXTERNAL (ADD alone adds the one you connected with)"),
    ("HELP", "HELP [command]: this help"),
];

impl Server {
    /// A notice from NickServ to `conn`.
    pub(super) fn nickserv_notice(&mut self, conn: ConnId, text: &str) {
        let nick = self.nick_of(conn).unwrap_or("*").to_string();
        let m = Message::new("NOTICE", [nick.as_str(), text]).with_source(NICKSERV);
        self.send(conn, &m);
    }

    /// A PRIVMSG to `service` (NickServ or ChanServ).
    pub(super) fn service_message(&mut self, conn: ConnId, service: &str, text: &str, now: Now) {
        if casefold(service) == "nickserv" {
            self.nickserv(conn, text, now);
        } else {
            self.chanserv(conn, text, now);
        }
    }

    /// `NICKSERV <command…>` and `NS <command…>`: the same as a message to
    /// NickServ (clients' `/ns` and `/nickserv` send these).
    pub(super) fn handle_nickserv_command(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let text = msg.params.join(" ");
        self.nickserv(conn, &text, now);
    }

    /// One message to NickServ.
    pub(super) fn nickserv(&mut self, conn: ConnId, text: &str, now: Now) {
        let mut words = text.split(' ').filter(|w| !w.is_empty());
        let command = words.next().unwrap_or("HELP").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        match command.as_str() {
            "REGISTER" => self.ns_register(conn, &args, now),
            "IDENTIFY" | "LOGIN" => self.ns_identify(conn, &args, now),
            "LOGOUT" => match self.connections.get(&conn).and_then(|c| c.account.clone()) {
                Some(_) => self.log_out(conn, now),
                None => self.nickserv_notice(conn, "You are not logged in."),
            },
            "GHOST" => self.ns_ghost(conn, &args, now),
            "REGAIN" | "RECOVER" => self.ns_regain(conn, &args, now),
            "DROP" => self.ns_drop(conn, &args, now),
            "SET" => self.ns_set(conn, &args),
            "INFO" => self.ns_info(conn, &args),
            "CERT" => self.ns_cert(conn, &args),
            "HELP" => self.ns_help(conn, args.first().copied()),
            _ => {
                let text = format!("Unknown command {command}: /msg NickServ HELP lists them");
                self.nickserv_notice(conn, &text);
            }
        }
    }

    fn ns_help(&mut self, conn: ConnId, topic: Option<&str>) {
        let wanted = topic.map(str::to_ascii_uppercase);
        let lines: Vec<&str> = NICKSERV_HELP
            .iter()
            .filter(|(name, _)| wanted.as_deref().is_none_or(|w| w == *name))
            .map(|(_, text)| *text)
            .collect();
        if lines.is_empty() {
            self.nickserv_notice(conn, "No such command: /msg NickServ HELP lists them");
            return;
        }
        if wanted.is_none() {
            self.nickserv_notice(conn, "NickServ keeps accounts: a registered nick is yours, and your private conversations follow you.");
        }
        for line in lines {
            self.nickserv_notice(conn, line);
        }
    }

    fn ns_register(&mut self, conn: ConnId, args: &[&str], now: Now) {
        let Some(&password) = args.first() else {
            self.nickserv_notice(conn, "Syntax: REGISTER <password> [email]");
            return;
        };
        let Some(nick) = self.nick_of(conn).map(str::to_string) else {
            return;
        };
        let email = args.get(1).copied();
        let password = self.password_arg(password);
        self.start_registration(conn, &nick, email, password, Via::NickServ, now);
    }

    fn ns_identify(&mut self, conn: ConnId, args: &[&str], now: Now) {
        let (account, password) = match args {
            [password] => (self.nick_of(conn).unwrap_or("*").to_string(), *password),
            [account, password, ..] => (account.to_string(), *password),
            [] => {
                self.nickserv_notice(conn, "Syntax: IDENTIFY [account] <password>");
                return;
            }
        };
        if let Some(current) = self.connections.get(&conn).and_then(|c| c.account.clone()) {
            let text = format!("You are already logged in as {current}.");
            self.nickserv_notice(conn, &text);
            return;
        }
        let password = self.password_arg(password).secret;
        self.begin_login(conn, &account, password, Via::NickServ, now);
    }

    /// The account `conn` is logged in to, or a notice saying to log in.
    fn logged_in_account(&mut self, conn: ConnId) -> Option<String> {
        let account = self.connections.get(&conn).and_then(|c| c.account.clone());
        if account.is_none() {
            self.nickserv_notice(
                conn,
                "You must log in first: /msg NickServ IDENTIFY <password>",
            );
        }
        account
    }

    /// The connection holding `nick`, which must belong to `conn`'s account;
    /// `None` (after a notice saying why) otherwise.
    fn own_nick_holder(&mut self, conn: ConnId, nick: &str) -> Option<(String, Option<ConnId>)> {
        let account = self.logged_in_account(conn)?;
        if casefold(nick) != casefold(&account) {
            let text = format!("{nick} is not a nick of your account {account}.");
            self.nickserv_notice(conn, &text);
            return None;
        }
        let holder = self.nicks.get(&casefold(nick)).copied();
        Some((account, holder))
    }

    fn ns_ghost(&mut self, conn: ConnId, args: &[&str], now: Now) {
        let Some(&nick) = args.first() else {
            self.nickserv_notice(conn, "Syntax: GHOST <nick>");
            return;
        };
        let Some((_, holder)) = self.own_nick_holder(conn, nick) else {
            return;
        };
        match holder {
            Some(other) if other != conn => {
                let by = self.nick_of(conn).unwrap_or("*").to_string();
                let reason = format!("GHOST command used by {by}");
                self.close_with_error(other, &reason, now);
                self.nickserv_notice(conn, &format!("{nick} has been disconnected."));
            }
            Some(_) => {
                self.nickserv_notice(conn, "That is you: GHOST disconnects another connection.")
            }
            None => self.nickserv_notice(conn, &format!("Nobody is using {nick}.")),
        }
    }

    fn ns_regain(&mut self, conn: ConnId, args: &[&str], now: Now) {
        let account = self.connections.get(&conn).and_then(|c| c.account.clone());
        let nick = args
            .first()
            .map(|n| n.to_string())
            .or(account)
            .unwrap_or_default();
        let Some((account, holder)) = self.own_nick_holder(conn, &nick) else {
            return;
        };
        if let Some(other) = holder.filter(|&o| o != conn) {
            self.rename_to_guest(other, now);
        }
        if holder != Some(conn) {
            // The account's own spelling.
            self.change_nick(conn, &account, now);
        }
        self.nickserv_notice(conn, &format!("You have regained {account}."));
    }

    fn ns_drop(&mut self, conn: ConnId, args: &[&str], now: Now) {
        let Some(account) = self.logged_in_account(conn) else {
            return;
        };
        if args
            .first()
            .is_none_or(|named| casefold(named) != casefold(&account))
        {
            let text = format!("To delete your account for good, confirm with: DROP {account}");
            self.nickserv_notice(conn, &text);
            return;
        }
        self.accounts.remove(&account);
        // Its private conversations go with it: whoever registers the
        // name next is someone else.
        self.conversations.forget_owner(&account);
        self.void_logins_in_flight(&account);
        self.emit(Action::DeleteAccount {
            name: casefold(&account),
        });
        self.chanserv_account_dropped(&account);
        let nick = self.nick_of(conn).unwrap_or("*").to_string();
        let entry = LogEntry::AccountDropped {
            nick,
            account: account.clone(),
        };
        self.log(now.wall, entry);
        let sessions = self.sessions_of(Some(&account));
        for session in sessions {
            self.log_out(session, now);
        }
        self.nickserv_notice(conn, &format!("The account {account} has been deleted."));
    }

    /// Voids every login and password change still being worked on for
    /// `account` (dropped): a password check answered later, or a SCRAM
    /// exchange begun on its keys, must not log anyone in to whoever
    /// registers the name next.
    fn void_logins_in_flight(&mut self, account: &str) {
        let folded = casefold(account);
        for c in self.connections.values_mut() {
            if c.password_account.as_deref() == Some(folded.as_str()) {
                c.password_account = None;
            }
            let Some(exchange) = c.sasl.as_mut() else {
                continue;
            };
            match &mut exchange.step {
                SaslStep::ScramFinal {
                    account: named @ Some(_),
                    ..
                } if named.as_deref().map(casefold).as_deref() == Some(folded.as_str()) => {
                    // The proof is checked, and fails, as for no account.
                    *named = None;
                }
                SaslStep::ScramDone { account: named } if casefold(named) == folded => {
                    c.sasl = None;
                }
                _ => {}
            }
        }
    }

    fn ns_set(&mut self, conn: ConnId, args: &[&str]) {
        let (Some(what), Some(&password)) = (args.first(), args.get(1)) else {
            self.nickserv_notice(conn, "Syntax: SET PASSWORD <new password>");
            return;
        };
        if !what.eq_ignore_ascii_case("PASSWORD") {
            self.nickserv_notice(conn, "Only SET PASSWORD is supported.");
            return;
        }
        let Some(account) = self.logged_in_account(conn) else {
            return;
        };
        let password = self.password_arg(password);
        if password.verdict != NewPassword::Acceptable {
            let text = format!(
                "Choose a password of {} to {} characters.",
                super::accounts::MIN_PASSWORD,
                super::accounts::MAX_PASSWORD
            );
            self.nickserv_notice(conn, &text);
            return;
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.password_pending {
            self.nickserv_notice(
                conn,
                "Your previous password is still being checked; wait for its answer.",
            );
            return;
        }
        c.password_pending = true;
        c.password_account = Some(casefold(&account));
        self.emit(Action::HashPassword {
            conn,
            password: password.secret,
            purpose: HashPurpose::SetPassword { account },
        });
    }

    fn ns_info(&mut self, conn: ConnId, args: &[&str]) {
        let mine = self.connections.get(&conn).and_then(|c| c.account.clone());
        let Some(name) = args.first().map(|s| s.to_string()).or(mine.clone()) else {
            self.nickserv_notice(conn, "Syntax: INFO <nick>");
            return;
        };
        let Some(account) = self.accounts.get(&name).cloned() else {
            self.nickserv_notice(conn, &format!("{name} is not registered."));
            return;
        };
        let online = self.sessions_of(Some(&account.name)).len();
        let mut lines = vec![
            format!("Account: {}", account.name),
            format!("Registered: {}", server_time(account.registered_at)),
            format!(
                "Online: {}",
                if online > 0 {
                    format!("yes ({online} connections)")
                } else {
                    "no".into()
                }
            ),
        ];
        let own = mine.is_some_and(|m| casefold(&m) == casefold(&account.name));
        if own {
            lines.push(format!(
                "E-mail: {}",
                account.email.as_deref().unwrap_or("(none)")
            ));
            lines.push(format!("Certificates: {}", account.certfps.len()));
        }
        for line in lines {
            self.nickserv_notice(conn, &line);
        }
    }

    fn ns_cert(&mut self, conn: ConnId, args: &[&str]) {
        let Some(account) = self.logged_in_account(conn) else {
            return;
        };
        let sub = args
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let given = args.get(1).copied();
        let Some(record) = self.accounts.get(&account).cloned() else {
            return;
        };
        let mut record = record;
        let text = match sub.as_str() {
            "LIST" => {
                let fps = record.certfps.clone();
                if fps.is_empty() {
                    self.nickserv_notice(
                        conn,
                        "No certificates: add the one you connected with by CERT ADD.",
                    );
                }
                for fp in fps {
                    self.nickserv_notice(conn, &fp);
                }
                return;
            }
            "ADD" => {
                let own = self.connections.get(&conn).and_then(|c| c.certfp.clone());
                match given.map(normalize_certfp).unwrap_or(own) {
                    None => "No certificate: connect with a TLS client certificate, or give its SHA-256 fingerprint.".to_string(),
                    Some(fp) if self.accounts.by_certfp(&fp).is_some() => "That certificate already logs in to an account.".to_string(),
                    Some(_) if record.certfps.len() >= MAX_CERTFPS => format!("An account holds at most {MAX_CERTFPS} certificates: CERT DEL one first."),
                    Some(fp) => {
                        record.certfps.push(fp.clone());
                        format!("Added certificate {fp}: it now logs you in with SASL EXTERNAL.")
                    }
                }
            }
            "DEL" => match given.and_then(normalize_certfp) {
                Some(fp) if record.certfps.contains(&fp) => {
                    record.certfps.retain(|f| *f != fp);
                    format!("Removed certificate {fp}.")
                }
                _ => "Syntax: CERT DEL <fingerprint> (one that CERT LIST shows)".to_string(),
            },
            _ => "Syntax: CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST".to_string(),
        };
        let changed = self.accounts.get(&account).is_some_and(|a| *a != record);
        if changed {
            self.accounts.insert(record.clone());
            self.emit(Action::SaveAccount(Box::new(record)));
        }
        self.nickserv_notice(conn, &text);
    }
}
