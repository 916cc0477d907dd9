//! Server operators: OPER, operator accounts, KILL and WALLOPS.
//!
//! Owns who becomes an operator and what only operators may do, and the
//! privileges an account brings (`--oper-account`, `--flood-exempt-account`).
//! The password is checked by the shell ([`Action::CheckPassword`],
//! answered by [`crate::core::Event::PasswordChecked`]): must never hash,
//! compare, log or echo a password here, and never grant `+o` any other
//! way than a checked OPER or a login to a configured operator account.

use super::output::truncate;
use super::Server;
use crate::core::action::{Action, PasswordPurpose};
use crate::core::event::{ConnId, Now};
use crate::proto::numeric::*;
use crate::proto::{casefold, Message, MAX_LINE};

/// Wrong OPER passwords one connection may send before it is closed: a
/// guesser has to reconnect (and register) every few tries.
pub(super) const MAX_OPER_FAILURES: u8 = 3;

impl Server {
    /// `OPER <name> <password>`: 491 for an unknown name; otherwise the
    /// shell checks the password and [`Server::handle_password_checked`]
    /// answers 381 (and `MODE +o`) or 464.
    pub(super) fn handle_oper(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        let name = msg.param(0).to_string();
        let Some(hash) = self.config.opers.get(&name).cloned() else {
            self.reply(
                conn,
                ERR_NOOPERHOST,
                &["No such operator: check the name given to OPER"],
            );
            return;
        };
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.oper_pending.is_some() {
            // One check at a time per client: each one costs the server
            // real memory and CPU on purpose.
            let m = self.server_message(
                "FAIL",
                [
                    "OPER",
                    "TEMPORARILY_UNAVAILABLE",
                    "Your previous OPER is still being checked; wait for its answer",
                ],
            );
            self.send(conn, &m);
            return;
        }
        c.oper_pending = Some(name.clone());
        self.emit(Action::CheckPassword {
            conn,
            hash,
            password: self.password_arg(msg.param(1)).secret,
            purpose: PasswordPurpose::Oper { name },
        });
    }

    /// The shell's answer to an OPER's password check.
    pub(super) fn finish_oper(&mut self, conn: ConnId, name: &str, ok: bool, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return; // gone while the shell was checking
        };
        if c.oper_pending.as_deref() != Some(name) {
            return; // not the check this client is waiting for
        }
        c.oper_pending = None;
        if !ok {
            c.oper_failures = c.oper_failures.saturating_add(1);
            let failures = c.oper_failures;
            self.reply(conn, ERR_PASSWDMISMATCH, &["Password incorrect"]);
            if failures >= MAX_OPER_FAILURES {
                self.close_with_error(conn, "Too many wrong OPER passwords", now);
            }
            return;
        }
        let newly = !c.modes.oper;
        c.modes.oper = true;
        // Now an operator by password: logging out keeps it.
        c.oper_via_account = false;
        let nick = c.nick_or_star().to_string();
        self.reply(conn, RPL_YOUREOPER, &["You are now an IRC operator"]);
        if newly {
            let m = Message::new("MODE", [nick.as_str(), "+o"]).with_source(nick.clone());
            self.send(conn, &m);
        }
        // Operators are exempt from flood control: what fakelag still
        // holds of theirs runs now.
        self.run_held(conn, now);
    }

    /// Gives or takes what `conn`'s account brings: flood exemption
    /// (`--flood-exempt-account`) at once, and once registered, `+o` with
    /// 381 (`--oper-account`), or `-o` when it had `+o` from an account it
    /// is no longer logged in to (or that is no longer configured). An
    /// operator by OPER keeps `+o` whatever the account does.
    pub(super) fn apply_account_privileges(&mut self, conn: ConnId, now: Option<Now>) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let account = c.account.as_deref().map(casefold);
        let listed = |set: &std::collections::BTreeSet<String>| {
            account.as_ref().is_some_and(|a| set.contains(a))
        };
        let exempt = listed(&self.config.flood_exempt_accounts);
        let oper = listed(&self.config.oper_accounts);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let was_exempt = c.is_flood_exempt();
        c.flood_exempt = exempt;
        let registered = c.is_registered();
        let nick = c.nick_or_star().to_string();
        let mode = if !registered {
            None
        } else if oper && !c.modes.oper && !c.oper_via_account {
            c.modes.oper = true;
            c.oper_via_account = true;
            Some("+o")
        } else if !oper && c.oper_via_account {
            c.oper_via_account = false;
            let had = std::mem::take(&mut c.modes.oper);
            had.then_some("-o")
        } else {
            None
        };
        if mode == Some("+o") {
            self.reply(conn, RPL_YOUREOPER, &["You are now an IRC operator"]);
        }
        if let Some(mode) = mode {
            let m = Message::new("MODE", [nick.as_str(), mode]).with_source(nick.clone());
            self.send(conn, &m);
        }
        let now_exempt = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.is_flood_exempt());
        if let (Some(now), false, true) = (now, was_exempt, now_exempt) {
            // What fakelag still holds of theirs runs now (as after OPER).
            self.run_held(conn, now);
        }
    }

    /// After a reload: every logged-in connection gets what its account
    /// brings under the new settings. (Lines still held for one that became
    /// exempt run at their flood deadline, all at once.)
    pub(super) fn reapply_account_privileges(&mut self) {
        let logged_in: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.account.is_some() || c.flood_exempt || c.oper_via_account)
            .map(|(&id, _)| id)
            .collect();
        for conn in logged_in {
            self.apply_account_privileges(conn, None);
        }
    }

    /// Whether `conn` is a server operator; answers 481 when it is not.
    pub(super) fn require_oper(&mut self, conn: ConnId) -> bool {
        let oper = self.connections.get(&conn).is_some_and(|c| c.modes.oper);
        if !oper {
            self.reply(
                conn,
                ERR_NOPRIVILEGES,
                &["Permission Denied- You're not an IRC operator"],
            );
        }
        oper
    }

    /// `KILL <nick> [:reason]` (operators only): the victim is sent the KILL
    /// and an ERROR and is closed; its rooms see one QUIT
    /// `Killed (<oper> (<reason>))`, as most servers word it.
    pub(super) fn handle_kill(&mut self, conn: ConnId, msg: &Message, now: Now) {
        if !self.require_oper(conn) {
            return;
        }
        let target = msg.param(0);
        let Some(victim) = self.user(target) else {
            self.reply(conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            return;
        };
        let Some(killer) = self.connections.get(&conn) else {
            return;
        };
        let killer_nick = killer.nick_or_star().to_string();
        let source = killer.source();
        // Most servers fill in a reason when the operator gave none.
        let reason = match msg.params.get(1).filter(|r| !r.is_empty()) {
            Some(r) => truncate(r, super::leaving::REASONLEN).to_string(),
            None => "No reason given".to_string(),
        };
        let Some(victim_nick) = self.nick_of(victim).map(str::to_string) else {
            return;
        };
        let quit = format!("Killed ({killer_nick} ({reason}))");
        let server = self.config.server_name.clone();
        let kill =
            Message::new("KILL", [victim_nick.as_str(), reason.as_str()]).with_source(source);
        self.send(victim, &kill);
        let closing = format!("Closing Link: {server} ({quit})");
        let error = Message::new("ERROR", [truncate(&closing, MAX_LINE - 8)]);
        self.send(victim, &error);
        self.emit(Action::Close {
            conn: victim,
            reason: quit.clone(),
        });
        self.remove(victim, &quit, false, now);
        if victim != conn {
            // The operator hears it done even when sharing no room with them.
            self.server_notice(conn, &format!("{victim_nick} was disconnected: {quit}"));
        }
    }

    /// `WALLOPS :text` (operators only): to every user with `+w`, the
    /// sender included when it has `+w`.
    pub(super) fn handle_wallops(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        if !self.require_oper(conn) {
            return;
        }
        let Some(source) = self.connections.get(&conn).map(|c| c.source()) else {
            return;
        };
        let budget = MAX_LINE.saturating_sub(source.len() + "WALLOPS".len() + 5);
        let text = truncate(msg.param(0), budget);
        let to: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.is_registered() && c.modes.wallops)
            .map(|(&id, _)| id)
            .collect();
        let m = Message::new("WALLOPS", [text]).with_source(source);
        self.broadcast(to, &m);
    }
}
