//! Accounts on the wire: `REGISTER` and `VERIFY` (IRCv3
//! `draft/account-registration`), logging in and out (900/901,
//! `account-notify`), the login throttle, and the protection of registered
//! nicknames (renamed to a guest nick after the grace period).
//!
//! Owns when a connection is logged in and to what. Passwords only pass
//! through, wrapped in [`Secret`], to the shell that checks or hashes them
//! (in a cluster, as references to the vault of the node holding the
//! connection, with the verdicts of `core::secrets` in the line's seal):
//! must never compare, hash, log or echo a password here.

use super::Server;
use crate::core::accounts::{is_valid_account_name, Account, Credentials};
use crate::core::action::{Action, HashPurpose, PasswordPurpose, Secret, Via};
use crate::core::event::{ConnId, Instant, Now};
use crate::core::log::LogEntry;
use crate::core::secrets::{new_password_verdict, NewPassword, Seal};
use crate::proto::numeric::*;
use crate::proto::{casefold, Message};

pub(super) use crate::core::secrets::{MAX_PASSWORD, MIN_PASSWORD};
/// Longest e-mail address kept.
const MAX_EMAIL: usize = 254;

/// A password a command carries: the secret (typed, or a vault reference
/// when the line was sealed) and what the rules for new passwords say of it.
pub(super) struct Password {
    pub secret: Secret,
    pub verdict: NewPassword,
}

impl Server {
    /// The password a handler finds at `typed` in its line: the one the
    /// line's seal stands for when it was sealed, else `typed` itself. A
    /// sealed line whose seal is no password gives one that never matches
    /// (vault ids start at 1).
    pub(super) fn password_arg(&self, typed: &str) -> Password {
        match self.sealed.as_deref() {
            Some(Seal::Password { id, verdict }) => Password {
                secret: Secret::vaulted(*id),
                verdict: *verdict,
            },
            Some(_) => Password {
                secret: Secret::vaulted(0),
                verdict: NewPassword::Unacceptable,
            },
            None => Password {
                secret: Secret::new(typed),
                verdict: new_password_verdict(typed),
            },
        }
    }

    /// What the store kept: every account, before anyone connects.
    pub(super) fn restore_accounts(&mut self, accounts: Vec<Account>) {
        for account in accounts {
            self.accounts.insert(account);
        }
    }

    /// `REGISTER <account> <email|*> <password>` (draft/account-registration;
    /// the older two-parameter form `REGISTER <email|*> <password>` too).
    /// The account is named for the current nick: `*` or that nick.
    pub(super) fn handle_register(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let (account, email, password) = match msg.params.len() {
            2 => ("*", msg.param(0), msg.param(1)),
            _ => (msg.param(0), msg.param(1), msg.param(2)),
        };
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let Some(nick) = c.nick.clone() else {
            self.register_fail(
                conn,
                "NEED_NICK",
                "*",
                "Send NICK first: an account is named for your nick",
            );
            return;
        };
        let account = if account == "*" {
            nick.clone()
        } else {
            account.to_string()
        };
        if casefold(&account) != casefold(&nick) {
            self.register_fail(
                conn,
                "ACCOUNT_NAME_MUST_BE_NICK",
                &account,
                "An account is named for your current nick: change nick first, or use *",
            );
            return;
        }
        let email = (email != "*").then_some(email);
        let password = self.password_arg(password);
        self.start_registration(conn, &account, email, password, Via::RegisterCommand, now);
    }

    /// `VERIFY <account> <code>`: natter sends no e-mail, so there is never
    /// a code to give; accounts work as soon as `REGISTER` succeeds.
    pub(super) fn handle_verify(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let account = super::output::token(msg.param(0)).to_string();
        let logged_in = self.connections.get(&conn).and_then(|c| c.account.clone());
        let (code, account, text) = match logged_in {
            Some(a) => ("ALREADY_REGISTERED", a, "You are already logged in to an account"),
            None => (
                "INVALID_CODE",
                account,
                "This server does not verify accounts by e-mail and sends no codes: an account works as soon as REGISTER succeeds",
            ),
        };
        let m = self.server_message("FAIL", ["VERIFY", code, account.as_str(), text]);
        self.send(conn, &m);
    }

    /// Checks a new account's name, e-mail and password, then asks the
    /// shell to hash the password; [`Server::handle_password_hashed`]
    /// creates the account.
    pub(super) fn start_registration(
        &mut self,
        conn: ConnId,
        account: &str,
        email: Option<&str>,
        password: Password,
        via: Via,
        now: Now,
    ) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        // Every registration counts against its address: a few are free,
        // a stream of them is slowed like failed logins.
        let register_key = [format!("register:{}", c.host)];
        let refusal = if let Some(current) = &c.account {
            Some((
                "ALREADY_REGISTERED",
                format!("You are already logged in as {current}"),
            ))
        } else if c.password_pending {
            Some((
                "TEMPORARILY_UNAVAILABLE",
                "Your previous password is still being checked; wait for its answer".to_string(),
            ))
        } else if matches!(
            c.phase,
            crate::core::Phase::Registering {
                password_ok: false,
                ..
            }
        ) {
            Some((
                "TEMPORARILY_UNAVAILABLE",
                "Send the server password (PASS) first".to_string(),
            ))
        } else if !is_valid_account_name(account) {
            Some((
                "BAD_ACCOUNT_NAME",
                "That name cannot be an account: use a valid nickname".to_string(),
            ))
        } else if self.accounts.get(account).is_some() {
            Some(("ACCOUNT_EXISTS", format!("{account} is already registered: log in with its password, or choose another nick")))
        } else if password.verdict == NewPassword::Unacceptable {
            Some((
                "UNACCEPTABLE_PASSWORD",
                format!("A password is one word of at most {MAX_PASSWORD} bytes"),
            ))
        } else if password.verdict == NewPassword::Weak {
            Some((
                "WEAK_PASSWORD",
                format!("Choose a password of at least {MIN_PASSWORD} characters"),
            ))
        } else if email.is_some_and(|e| !plausible_email(e)) {
            Some((
                "INVALID_EMAIL",
                "That is not an e-mail address (or give * for none)".to_string(),
            ))
        } else {
            let wait = self.login_throttle.wait_secs(&register_key, now.mono);
            (wait > 0).then(|| ("TEMPORARILY_UNAVAILABLE", format!("Too many accounts registered from your address: try again in {wait} seconds")))
        };
        if let Some((code, text)) = refusal {
            self.account_reply_fail(conn, via, code, account, &text);
            return;
        }
        self.login_throttle.failed(&register_key, now.mono);
        if let Some(c) = self.connections.get_mut(&conn) {
            c.password_pending = true;
        }
        self.emit(Action::HashPassword {
            conn,
            password: password.secret,
            purpose: HashPurpose::Register {
                account: account.to_string(),
                email: email.map(str::to_string),
                via,
            },
        });
    }

    /// The shell's answer to [`Action::HashPassword`].
    pub(super) fn handle_password_hashed(
        &mut self,
        conn: ConnId,
        purpose: HashPurpose,
        credentials: Credentials,
        now: Now,
    ) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return; // gone while the shell was hashing
        };
        c.password_pending = false;
        let asked_for = c.password_account.take();
        match purpose {
            HashPurpose::Register {
                account,
                email,
                via,
            } => {
                if self.accounts.get(&account).is_some() {
                    let text = format!("{account} was registered by someone else meanwhile");
                    self.account_reply_fail(conn, via, "ACCOUNT_EXISTS", &account, &text);
                    return;
                }
                let current = self.connections.get(&conn).and_then(|c| c.account.clone());
                if let Some(current) = current {
                    let text = format!("You logged in as {current} meanwhile");
                    self.account_reply_fail(conn, via, "ALREADY_REGISTERED", &account, &text);
                    return;
                }
                let record = Account {
                    name: account.clone(),
                    password_hash: credentials.password_hash,
                    scram: credentials.scram,
                    email,
                    registered_at: now.wall,
                    certfps: Vec::new(),
                };
                self.accounts.insert(record.clone());
                self.emit(Action::SaveAccount(Box::new(record)));
                let nick = self.nick_of(conn).unwrap_or("*").to_string();
                self.log(
                    now.wall,
                    LogEntry::AccountRegistered {
                        nick,
                        account: account.clone(),
                    },
                );
                match via {
                    Via::RegisterCommand => {
                        let text =
                            format!("Account {account} registered: you are now logged in to it");
                        let m = self.server_message(
                            "REGISTER",
                            ["SUCCESS", account.as_str(), text.as_str()],
                        );
                        self.send(conn, &m);
                    }
                    _ => {
                        let text = format!(
                            "Nickname {account} registered: you are now logged in. Next time, log in with SASL or /msg NickServ IDENTIFY <password>"
                        );
                        self.nickserv_notice(conn, &text);
                    }
                }
                self.log_in(conn, &account, "registration", now);
                // The registrant may have changed nick while the password
                // was hashed, and someone else taken the name: their grace
                // period starts now.
                if let Some(&holder) = self.nicks.get(&casefold(&account)) {
                    if holder != conn {
                        self.protect_nick(holder, now);
                    }
                }
            }
            HashPurpose::SetPassword { account } => {
                // Dropped meanwhile (and perhaps registered again by
                // someone else): not this connection's account any more.
                let record = self.accounts.get_mut(&account);
                let Some(record) = record.filter(|_| asked_for == Some(casefold(&account))) else {
                    self.nickserv_notice(
                        conn,
                        "Your password was not changed: the account was dropped.",
                    );
                    return;
                };
                record.password_hash = credentials.password_hash;
                record.scram = credentials.scram;
                let record = record.clone();
                self.emit(Action::SaveAccount(Box::new(record)));
                self.nickserv_notice(conn, "Your password was changed.");
            }
        }
    }

    /// Asks the shell to check `password` for `account` (IDENTIFY, SASL
    /// PLAIN), unless the throttle says to wait. An unknown account is
    /// checked against nothing, taking as long as a real check.
    pub(super) fn begin_login(
        &mut self,
        conn: ConnId,
        account: &str,
        password: Secret,
        via: Via,
        now: Now,
    ) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        if c.password_pending {
            self.login_failed_reply(
                conn,
                via,
                "Your previous login is still being checked; wait for its answer",
            );
            return;
        }
        let keys = throttle_keys(account, &c.host);
        let wait = self.login_throttle.wait_secs(&keys, now.mono);
        if wait > 0 {
            let text = format!("Too many failed logins for this account or from your address: try again in {wait} seconds");
            self.login_failed_reply(conn, via, &text);
            return;
        }
        let hash = self
            .accounts
            .get(account)
            .map(|a| a.password_hash.clone())
            .unwrap_or_default();
        if let Some(c) = self.connections.get_mut(&conn) {
            c.password_pending = true;
            c.password_account = Some(casefold(account));
        }
        self.emit(Action::CheckPassword {
            conn,
            hash,
            password,
            purpose: PasswordPurpose::Login {
                account: account.to_string(),
                via,
            },
        });
    }

    /// The shell's answer to a login's password check.
    pub(super) fn finish_login(
        &mut self,
        conn: ConnId,
        account: &str,
        via: Via,
        ok: bool,
        upgrade: Option<Box<Credentials>>,
        now: Now,
    ) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.password_pending = false;
        // Checked against the account as it was when asked: if it was
        // dropped since, the answer is about an account that is gone.
        let still_there = c.password_account.take() == Some(casefold(account));
        let ok = ok && still_there;
        if via == Via::Sasl {
            c.sasl = None;
        }
        if let Some(current) = c.account.clone() {
            // Logged in some other way while this was checked: one account
            // per connection, so the late answer changes nothing.
            let text = format!("You are already logged in as {current}");
            self.login_failed_reply(conn, via, &text);
            return;
        }
        let host = c.host.clone();
        let nick = c.nick_or_star().to_string();
        let keys = throttle_keys(account, &host);
        let name = self.accounts.get(account).map(|a| a.name.clone());
        let how = match via {
            Via::Sasl => "SASL PLAIN",
            _ => "NickServ IDENTIFY",
        };
        let Some(name) = name.filter(|_| ok) else {
            self.login_throttle.failed(&keys, now.mono);
            let entry = LogEntry::LoginFailed {
                nick,
                account: self.logged_name(account),
                how: how.to_string(),
            };
            self.log(now.wall, entry);
            let text = match via {
                Via::Sasl => "SASL authentication failed".to_string(),
                _ => format!("Invalid password for {account} (or no such account)"),
            };
            self.login_failed_reply(conn, via, &text);
            return;
        };
        self.login_throttle.succeeded(&keys);
        if let (Some(new), Some(record)) = (upgrade, self.accounts.get_mut(&name)) {
            record.password_hash = new.password_hash;
            record.scram = new.scram;
            let record = record.clone();
            self.emit(Action::SaveAccount(Box::new(record)));
        }
        if via == Via::NickServ {
            self.nickserv_notice(conn, &format!("You are now identified for {name}."));
        }
        self.log_in(conn, &name, how, now);
        if via == Via::Sasl {
            self.reply(conn, RPL_SASLSUCCESS, &["SASL authentication successful"]);
        }
    }

    /// Logs `conn` in to `account`: 900, `ACCOUNT` to those with
    /// `account-notify`, and the nick, if it is the account's, is safe.
    pub(super) fn log_in(&mut self, conn: ConnId, account: &str, how: &str, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.account = Some(account.to_string());
        self.sessions
            .entry(casefold(account))
            .or_default()
            .insert(conn);
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let registered = c.is_registered();
        let text = format!("You are now logged in as {account}");
        self.reply_whole(conn, RPL_LOGGEDIN, &[&source, account, &text]);
        if registered {
            let m = Message::new("ACCOUNT", [account]).with_source(source);
            let to = self.identity_listeners(conn, |caps| caps.account_notify, true);
            self.broadcast(to, &m);
        }
        self.protect_nick(conn, now);
        let entry = LogEntry::LoggedIn {
            nick,
            account: account.to_string(),
            how: how.to_string(),
        };
        self.log(now.wall, entry);
        // ChanServ: op or voice in the registered rooms it is already in.
        self.chanserv_on_login(conn, now);
        self.apply_account_privileges(conn, Some(now));
    }

    /// Logs `conn` out of its account (901, `ACCOUNT *`); its nick, if
    /// registered, must then be identified for again.
    pub(super) fn log_out(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let Some(account) = c.account.take() else {
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        self.forget_session(conn, &account);
        self.reply_whole(conn, RPL_LOGGEDOUT, &[&source, "You are now logged out"]);
        let m = Message::new("ACCOUNT", ["*"]).with_source(source);
        let to = self.identity_listeners(conn, |caps| caps.account_notify, true);
        self.broadcast(to, &m);
        self.log(now.wall, LogEntry::LoggedOut { nick, account });
        self.protect_nick(conn, now);
        self.apply_account_privileges(conn, Some(now));
    }

    /// How a failed login's account is logged: its name if it exists, else
    /// a stand-in, so a password typed where a name belongs (`IDENTIFY pw
    /// pw`) never reaches server.log.
    pub(super) fn logged_name(&self, typed: &str) -> String {
        match self.accounts.get(typed) {
            Some(account) => account.name.clone(),
            None => "an unknown account".to_string(),
        }
    }

    /// `conn` is no longer logged in to `account`.
    pub(super) fn forget_session(&mut self, conn: ConnId, account: &str) {
        let folded = casefold(account);
        if let Some(set) = self.sessions.get_mut(&folded) {
            set.remove(&conn);
            if set.is_empty() {
                self.sessions.remove(&folded);
            }
        }
    }

    /// Starts or stops the grace period of `conn`'s nick: running while it
    /// holds a registered nick it is not logged in to.
    pub(super) fn protect_nick(&mut self, conn: ConnId, now: Now) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let owner = c.nick.as_deref().and_then(|n| self.accounts.get(n));
        let exposed = c.is_registered()
            && owner.is_some_and(|a| {
                c.account
                    .as_deref()
                    .is_none_or(|mine| casefold(mine) != casefold(&a.name))
            });
        match (exposed, c.nick_deadline) {
            (true, None) => {
                let at = now.mono.plus_secs(self.config.nick_grace_secs);
                let grace = self.config.nick_grace_secs;
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.nick_deadline = Some(at);
                }
                self.nick_deadlines.insert((at, conn));
                let text = format!(
                    "This nickname is registered. Identify with /msg NickServ IDENTIFY <password> (or log in with SASL) within {grace} seconds, or your nick will be changed."
                );
                self.nickserv_notice(conn, &text);
            }
            (false, Some(at)) => self.clear_nick_deadline(conn, at),
            _ => {}
        }
    }

    /// Forgets `conn`'s grace period that ends `at`.
    pub(super) fn clear_nick_deadline(&mut self, conn: ConnId, at: Instant) {
        self.nick_deadlines.remove(&(at, conn));
        if let Some(c) = self.connections.get_mut(&conn) {
            c.nick_deadline = None;
        }
    }

    /// Renames everyone whose grace period has run out.
    pub(super) fn expire_nick_grace(&mut self, now: Now) {
        while let Some(&(at, conn)) = self.nick_deadlines.first() {
            if at > now.mono {
                break;
            }
            self.clear_nick_deadline(conn, at);
            self.rename_to_guest(conn, now);
        }
    }

    /// Gives `conn` a free `GuestN` nick (it held a registered nick without
    /// logging in, or its owner took it back).
    pub(super) fn rename_to_guest(&mut self, conn: ConnId, now: Now) {
        let guest = loop {
            let candidate = format!("Guest{}", self.next_guest);
            self.next_guest += 1;
            if !self.nicks.contains_key(&casefold(&candidate))
                && self.accounts.get(&candidate).is_none()
            {
                break candidate;
            }
        };
        let text = format!("Your nick was changed to {guest}: the nick you had is registered to an account you are not logged in to.");
        self.nickserv_notice(conn, &text);
        self.change_nick(conn, &guest, now);
    }

    /// `FAIL REGISTER` (or NickServ's notice) with `code` and `text`.
    fn register_fail(&mut self, conn: ConnId, code: &str, account: &str, text: &str) {
        let m = self.server_message("FAIL", ["REGISTER", code, account, text]);
        self.send(conn, &m);
    }

    /// A refused registration or password change, in the words of `via`.
    fn account_reply_fail(
        &mut self,
        conn: ConnId,
        via: Via,
        code: &str,
        account: &str,
        text: &str,
    ) {
        match via {
            Via::RegisterCommand => self.register_fail(conn, code, account, text),
            Via::NickServ => self.nickserv_notice(conn, text),
            Via::Sasl => self.reply(conn, ERR_SASLFAIL, &[text]),
        }
    }

    /// A refused login, in the words of `via`.
    fn login_failed_reply(&mut self, conn: ConnId, via: Via, text: &str) {
        match via {
            Via::Sasl => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.sasl = None;
                }
                self.reply(conn, ERR_SASLFAIL, &[text]);
            }
            _ => self.nickserv_notice(conn, text),
        }
    }
}

/// The throttle's keys for a login to `account` from `host`.
pub(super) fn throttle_keys(account: &str, host: &str) -> [String; 2] {
    [
        format!("account:{}", casefold(account)),
        format!("ip:{host}"),
    ]
}

/// Whether `email` looks like an address: one `@` with text on both sides,
/// a dot in the domain, no spaces or controls. (natter never sends mail.)
fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_needs_a_local_part_and_a_dotted_domain() {
        assert!(plausible_email("alice@example.org"));
        assert!(!plausible_email("alice"));
        assert!(!plausible_email("@example.org"));
        assert!(!plausible_email("alice@localhost"));
        assert!(!plausible_email("a b@example.org"));
        assert!(!plausible_email("a@b@example.org"));
    }
}
