//! ChanServ: the built-in service that keeps rooms (`/msg ChanServ …`,
//! `CHANSERV`, `CS`), as ergo builds it in and as Atheme and Anope run it.
//!
//! Owns room registration: REGISTER, DROP, the access list (AMODE, also
//! called ACCESS), INFO, OP/DEOP/VOICE/DEVOICE and HELP; keeping each
//! registered room's snapshot ([`RegisteredRoom`]) up to date when its
//! topic, modes or lists change; putting it back when the room is created
//! again; and giving operator or voice status to the founder and the
//! accounts on the access list when they join or log in. Must never give
//! anyone status in a room that is not registered, nor let anyone but the
//! founder or an operator on the access list change the registration.

use super::Server;
use crate::core::action::Action;
use crate::core::event::{ConnId, Now};
use crate::core::history::{server_time, HistoryKind};
use crate::core::log::LogEntry;
use crate::core::registered_rooms::{AccessLevel, RegisteredRoom, MAX_ACCESS_ENTRIES};
use crate::proto::{
    casefold, is_valid_channel, render_mode_changes, ChannelMode, Message, ModeChange,
};

/// The source of ChanServ's notices and modes.
const CHANSERV: &str = "ChanServ!ChanServ@services";

/// ChanServ's HELP, one line per command.
const CHANSERV_HELP: &[(&str, &str)] = &[
    ("REGISTER", "REGISTER <#room>: register a room you are an operator of to your account; its topic, modes, bans and access list then outlive it"),
    ("DROP", "DROP <#room>: the founder gives the registration up (the room itself carries on)"),
    ("AMODE", "AMODE <#room> ADD <account> <op|voice> | AMODE <#room> DEL <account> | AMODE <#room> LIST: who gets op or voice on joining (ACCESS is the same; the founder and operators on the list may change it)"),
    ("INFO", "INFO <#room>: who founded a registered room and when"),
    ("OP", "OP <#room> [nick]: ChanServ gives you (or nick) operator status, if your account may have it"),
    ("DEOP", "DEOP <#room> [nick]: ChanServ takes operator status away"),
    ("VOICE", "VOICE <#room> [nick]: ChanServ gives voice (operators on the access list may voice anyone, voiced accounts only themselves)"),
    ("DEVOICE", "DEVOICE <#room> [nick]: ChanServ takes voice away"),
    ("HELP", "HELP [command]: this help"),
];

impl Server {
    /// A notice from ChanServ to `conn`.
    fn chanserv_notice(&mut self, conn: ConnId, text: &str) {
        let nick = self.nick_of(conn).unwrap_or("*").to_string();
        let m = Message::new("NOTICE", [nick.as_str(), text]).with_source(CHANSERV);
        self.send(conn, &m);
    }

    /// `CHANSERV <command…>` and `CS <command…>`: the same as a message to
    /// ChanServ.
    pub(super) fn handle_chanserv_command(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let text = msg.params.join(" ");
        self.chanserv(conn, &text, now);
    }

    /// One message to ChanServ.
    pub(super) fn chanserv(&mut self, conn: ConnId, text: &str, now: Now) {
        let mut words = text.split(' ').filter(|w| !w.is_empty());
        let command = words.next().unwrap_or("HELP").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        match command.as_str() {
            "REGISTER" => self.cs_register(conn, &args, now),
            "DROP" => self.cs_drop(conn, &args),
            "AMODE" | "ACCESS" => self.cs_access(conn, &args, now),
            "INFO" => self.cs_info(conn, &args),
            "OP" => self.cs_status(conn, &args, ChannelMode::Op, true, now),
            "DEOP" => self.cs_status(conn, &args, ChannelMode::Op, false, now),
            "VOICE" => self.cs_status(conn, &args, ChannelMode::Voice, true, now),
            "DEVOICE" => self.cs_status(conn, &args, ChannelMode::Voice, false, now),
            "HELP" => self.cs_help(conn, args.first().copied()),
            _ => {
                let text = format!("Unknown command {command}: /msg ChanServ HELP lists them");
                self.chanserv_notice(conn, &text);
            }
        }
    }

    fn cs_help(&mut self, conn: ConnId, topic: Option<&str>) {
        let wanted = topic.map(|t| match t.to_ascii_uppercase().as_str() {
            "ACCESS" => "AMODE".to_string(),
            other => other.to_string(),
        });
        let lines: Vec<&str> = CHANSERV_HELP
            .iter()
            .filter(|(name, _)| wanted.as_deref().is_none_or(|w| w == *name))
            .map(|(_, text)| *text)
            .collect();
        if lines.is_empty() {
            self.chanserv_notice(conn, "No such command: /msg ChanServ HELP lists them");
            return;
        }
        if wanted.is_none() {
            self.chanserv_notice(conn, "ChanServ keeps rooms: a registered room's topic, modes, bans and operators survive it emptying and a server restart.");
        }
        for line in lines {
            self.chanserv_notice(conn, line);
        }
    }

    /// The account `conn` is logged in to, or a notice saying to log in.
    fn cs_account(&mut self, conn: ConnId) -> Option<String> {
        let account = self.connections.get(&conn).and_then(|c| c.account.clone());
        if account.is_none() {
            self.chanserv_notice(
                conn,
                "You must log in first: /msg NickServ IDENTIFY <password> (or register with /msg NickServ REGISTER <password>)",
            );
        }
        account
    }

    /// The first argument as a room name, or a notice giving `syntax`.
    fn cs_room_arg(&mut self, conn: ConnId, args: &[&str], syntax: &str) -> Option<String> {
        match args.first() {
            Some(name) if is_valid_channel(name) => Some(name.to_string()),
            _ => {
                self.chanserv_notice(conn, &format!("Syntax: {syntax}"));
                None
            }
        }
    }

    /// The registration of `name`, or a notice that it has none.
    fn cs_registered(&mut self, conn: ConnId, name: &str) -> Option<RegisteredRoom> {
        let reg = self.registered.get(name).cloned();
        if reg.is_none() {
            let text = format!(
                "{name} is not registered: an operator of it can register it with /msg ChanServ REGISTER {name}"
            );
            self.chanserv_notice(conn, &text);
        }
        reg
    }

    fn cs_register(&mut self, conn: ConnId, args: &[&str], now: Now) {
        let Some(name) = self.cs_room_arg(conn, args, "REGISTER <#room>") else {
            return;
        };
        let Some(account) = self.cs_account(conn) else {
            return;
        };
        let folded = casefold(&name);
        if let Some(reg) = self.registered.get(&folded) {
            let text = format!("{} is already registered to {}.", reg.name, reg.founder);
            self.chanserv_notice(conn, &text);
            return;
        }
        let Some(room) = self.rooms.get(&folded) else {
            let text = format!(
                "{name} does not exist: join it first (you become its operator), then register it."
            );
            self.chanserv_notice(conn, &text);
            return;
        };
        if !room.is_op(conn) {
            let text = format!(
                "You must be an operator (+o) in {} to register it.",
                room.name()
            );
            self.chanserv_notice(conn, &text);
            return;
        }
        let reg = RegisteredRoom::new(room, &account, now.wall);
        let shown = reg.name.clone();
        self.registered.insert(reg.clone());
        self.emit(Action::SaveRoom(Box::new(reg)));
        let text = format!("{shown} is now registered to your account {account}: its topic, modes, bans and access list are kept when it empties and across restarts.");
        self.chanserv_notice(conn, &text);
    }

    fn cs_drop(&mut self, conn: ConnId, args: &[&str]) {
        let Some(name) = self.cs_room_arg(conn, args, "DROP <#room>") else {
            return;
        };
        let Some(account) = self.cs_account(conn) else {
            return;
        };
        let Some(reg) = self.cs_registered(conn, &name) else {
            return;
        };
        if !reg.is_founder(&account) {
            let text = format!(
                "Only the founder of {} ({}) can drop it.",
                reg.name, reg.founder
            );
            self.chanserv_notice(conn, &text);
            return;
        }
        self.registered.remove(&name);
        self.emit(Action::DeleteRoom {
            name: casefold(&name),
        });
        let text = format!(
            "{} is no longer registered: it now ends when it empties, like any room.",
            reg.name
        );
        self.chanserv_notice(conn, &text);
    }

    /// `AMODE #room ADD|DEL|LIST …` (also `ACCESS`).
    fn cs_access(&mut self, conn: ConnId, args: &[&str], now: Now) {
        const SYNTAX: &str = "AMODE <#room> ADD <account> <op|voice> | AMODE <#room> DEL <account> | AMODE <#room> LIST";
        let Some(name) = self.cs_room_arg(conn, args, SYNTAX) else {
            return;
        };
        let sub = args.get(1).map(|s| s.to_ascii_uppercase());
        let sub = sub.as_deref().unwrap_or("LIST");
        if !matches!(sub, "ADD" | "DEL" | "LIST") {
            self.chanserv_notice(conn, &format!("Syntax: {SYNTAX}"));
            return;
        }
        let Some(account) = self.cs_account(conn) else {
            return;
        };
        let Some(mut reg) = self.cs_registered(conn, &name) else {
            return;
        };
        let mine = reg.level_of(&account);
        let needed = if sub == "LIST" {
            mine.is_some()
        } else {
            mine == Some(AccessLevel::Op)
        };
        if !needed {
            let text = if sub == "LIST" {
                format!("You have no access to {}: only its founder and the accounts on its access list can see the list.", reg.name)
            } else {
                format!(
                    "Only the founder of {} and operators on its access list can change the list.",
                    reg.name
                )
            };
            self.chanserv_notice(conn, &text);
            return;
        }
        match sub {
            "LIST" => {
                let mut lines = vec![format!(
                    "Access list of {}: {} (founder)",
                    reg.name, reg.founder
                )];
                for e in &reg.access {
                    lines.push(format!(
                        "{} {} (added by {} on {})",
                        e.account,
                        e.level.as_str(),
                        e.added_by,
                        server_time(e.added_at)
                    ));
                }
                lines.push(format!("End of the access list of {}.", reg.name));
                for line in lines {
                    self.chanserv_notice(conn, &line);
                }
            }
            "DEL" => {
                let Some(&target) = args.get(2) else {
                    self.chanserv_notice(conn, "Syntax: AMODE <#room> DEL <account>");
                    return;
                };
                if !reg.remove_access(target) {
                    let text = format!("{target} is not on the access list of {}.", reg.name);
                    self.chanserv_notice(conn, &text);
                    return;
                }
                let text = format!("{target} was removed from the access list of {}.", reg.name);
                self.save_registration(reg);
                self.chanserv_notice(conn, &text);
            }
            _ => {
                let (Some(&target), Some(level)) =
                    (args.get(2), args.get(3).and_then(|l| AccessLevel::parse(l)))
                else {
                    self.chanserv_notice(conn, "Syntax: AMODE <#room> ADD <account> <op|voice>");
                    return;
                };
                let Some(target) = self.accounts.get(target).map(|a| a.name.clone()) else {
                    let text = format!("There is no account called {target}: they must register with NickServ first.");
                    self.chanserv_notice(conn, &text);
                    return;
                };
                if reg.is_founder(&target) {
                    let text = format!(
                        "{target} founded {}: the founder is always an operator.",
                        reg.name
                    );
                    self.chanserv_notice(conn, &text);
                    return;
                }
                if !reg.set_access(&target, level, &account, now.wall) {
                    let text = format!("The access list of {} is full ({MAX_ACCESS_ENTRIES} accounts): remove one first.", reg.name);
                    self.chanserv_notice(conn, &text);
                    return;
                }
                let text = format!(
                    "{target} now gets {} in {} on joining or logging in.",
                    level.as_str(),
                    reg.name
                );
                let folded = casefold(&reg.name);
                self.save_registration(reg);
                self.chanserv_notice(conn, &text);
                // Whoever is logged in to it and already inside gets it now.
                let present: Vec<ConnId> = self
                    .rooms
                    .get(&folded)
                    .map(|room| room.members().collect())
                    .unwrap_or_default();
                for member in present {
                    let theirs = self
                        .connections
                        .get(&member)
                        .and_then(|c| c.account.as_deref())
                        .is_some_and(|a| casefold(a) == casefold(&target));
                    if theirs {
                        self.chanserv_greet(member, &folded, now);
                    }
                }
            }
        }
    }

    fn cs_info(&mut self, conn: ConnId, args: &[&str]) {
        let Some(name) = self.cs_room_arg(conn, args, "INFO <#room>") else {
            return;
        };
        let Some(reg) = self.cs_registered(conn, &name) else {
            return;
        };
        let (letters, _) = reg.modes.describe(false);
        let lines = [
            format!("Room: {}", reg.name),
            format!("Founder: {}", reg.founder),
            format!("Registered: {}", server_time(reg.registered_at)),
            format!("Access list: {} accounts", reg.access.len()),
            format!("Modes kept: {letters}"),
        ];
        for line in lines {
            self.chanserv_notice(conn, &line);
        }
    }

    /// `OP`/`DEOP`/`VOICE`/`DEVOICE #room [nick]`.
    fn cs_status(&mut self, conn: ConnId, args: &[&str], mode: ChannelMode, set: bool, now: Now) {
        let verb = match (mode, set) {
            (ChannelMode::Op, true) => "OP",
            (ChannelMode::Op, false) => "DEOP",
            (_, true) => "VOICE",
            (_, false) => "DEVOICE",
        };
        let Some(name) = self.cs_room_arg(conn, args, &format!("{verb} <#room> [nick]")) else {
            return;
        };
        let Some(account) = self.cs_account(conn) else {
            return;
        };
        let Some(reg) = self.cs_registered(conn, &name) else {
            return;
        };
        let folded = casefold(&name);
        let own_nick = self.nick_of(conn).unwrap_or("*").to_string();
        let nick = args.get(1).copied().unwrap_or(&own_nick).to_string();
        let target = self.user(&nick);
        let on_self = target == Some(conn);
        let allowed = match reg.level_of(&account) {
            Some(AccessLevel::Op) => true,
            Some(AccessLevel::Voice) => mode == ChannelMode::Voice && on_self,
            None => false,
        };
        if !allowed {
            let text = match mode {
                ChannelMode::Op => format!("You need operator access to {} to use {verb}.", reg.name),
                _ => format!("You need operator access to {} to use {verb} (voice access: on yourself only).", reg.name),
            };
            self.chanserv_notice(conn, &text);
            return;
        }
        let in_room = target.filter(|&t| self.rooms.get(&folded).is_some_and(|r| r.contains(t)));
        let Some(target) = in_room else {
            let text = format!("{nick} is not in {}.", reg.name);
            self.chanserv_notice(conn, &text);
            return;
        };
        if !self.chanserv_mode(target, &folded, mode, set, now) {
            let shown = self.nick_of(target).unwrap_or(&nick).to_string();
            let state = match (mode, set) {
                (ChannelMode::Op, true) => "is already an operator",
                (ChannelMode::Op, false) => "is not an operator",
                (_, true) => "already has voice",
                (_, false) => "has no voice",
            };
            self.chanserv_notice(conn, &format!("{shown} {state} in {}.", reg.name));
        }
    }

    /// ChanServ sets `+o`/`+v` (or takes it away) on `target` in the room
    /// `folded`: the room is told with a MODE from ChanServ, as services
    /// do. False when it changed nothing.
    fn chanserv_mode(
        &mut self,
        target: ConnId,
        folded: &str,
        mode: ChannelMode,
        set: bool,
        now: Now,
    ) -> bool {
        let Some(nick) = self.nick_of(target).map(str::to_string) else {
            return false;
        };
        let change = ModeChange {
            set,
            mode,
            arg: Some(nick),
        };
        let Some(room) = self.rooms.get_mut(folded) else {
            return false;
        };
        let Ok(Some(applied)) = room.apply(&change, Some(target), "ChanServ", now.wall) else {
            return false;
        };
        let room_name = room.name().to_string();
        let members: Vec<ConnId> = room.members().collect();
        let (letters, args) = render_mode_changes(std::slice::from_ref(&applied));
        let text = std::iter::once(letters.clone())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let record = self.record(
            HistoryKind::Mode,
            room_name.as_str(),
            CHANSERV,
            text.as_str(),
            now,
        );
        let mut params = vec![room_name, letters];
        params.extend(args);
        let m = Message::new("MODE", params).with_source(CHANSERV);
        self.broadcast_tagged(members, &m, &record);
        let room = self.log_room(folded);
        let entry = LogEntry::Mode {
            nick: "ChanServ".into(),
            room,
            modes: text,
        };
        self.log(now.wall, entry);
        true
    }

    /// Gives `conn` the status its account has in the registered room
    /// `folded` (op or voice), if it is in it and lacks it: on joining,
    /// on logging in, and when its account is added to the access list.
    pub(super) fn chanserv_greet(&mut self, conn: ConnId, folded: &str, now: Now) {
        let Some(account) = self
            .connections
            .get(&conn)
            .and_then(|c| c.account.as_deref())
        else {
            return;
        };
        let Some(level) = self
            .registered
            .get(folded)
            .and_then(|r| r.level_of(account))
        else {
            return;
        };
        let mode = match level {
            AccessLevel::Op => ChannelMode::Op,
            AccessLevel::Voice => ChannelMode::Voice,
        };
        self.chanserv_mode(conn, folded, mode, true, now);
    }

    /// After `conn` logged in: its status in every registered room it is in.
    pub(super) fn chanserv_on_login(&mut self, conn: ConnId, now: Now) {
        let rooms: Vec<String> = match self.connections.get(&conn) {
            Some(c) => c.rooms.iter().cloned().collect(),
            None => return,
        };
        for folded in rooms {
            self.chanserv_greet(conn, &folded, now);
        }
    }

    /// Re-snapshots the registered room `folded` after its topic, modes or
    /// lists changed, and has it stored if anything did. Call it after
    /// every such change; it does nothing for a room that is not registered.
    pub(super) fn room_changed(&mut self, folded: &str) {
        let (Some(reg), Some(room)) = (self.registered.get_mut(folded), self.rooms.get(folded))
        else {
            return;
        };
        if reg.snapshot(room) {
            let saved = reg.clone();
            self.emit(Action::SaveRoom(Box::new(saved)));
        }
    }

    /// Keeps `reg` (changed founder or access list) and has it stored.
    fn save_registration(&mut self, reg: RegisteredRoom) {
        self.registered.insert(reg.clone());
        self.emit(Action::SaveRoom(Box::new(reg)));
    }

    /// The registered room `folded` as a fresh, empty [`crate::core::Room`]
    /// with its saved settings, when it is registered and does not exist.
    pub(super) fn registered_room_to_create(
        &self,
        folded: &str,
        now: Now,
    ) -> Option<crate::core::room::Room> {
        if self.rooms.contains_key(folded) {
            return None;
        }
        let reg = self.registered.get(folded)?;
        let mut room = crate::core::room::Room::new(&reg.name, now.wall);
        reg.apply_to(&mut room);
        Some(room)
    }

    /// What the store kept: every registered room, before anyone connects.
    pub(super) fn restore_rooms(&mut self, rooms: Vec<RegisteredRoom>) {
        for reg in rooms {
            let folded = casefold(&reg.name);
            if let Some(room) = self.rooms.get_mut(&folded) {
                reg.apply_to(room);
            }
            self.registered.insert(reg);
        }
    }

    /// The account `account` was dropped (NickServ DROP). As Atheme does,
    /// each room it founded passes to a successor (the oldest operator on
    /// its access list whose account still exists), or, with none, is
    /// dropped too; and the account leaves every access list.
    pub(super) fn chanserv_account_dropped(&mut self, account: &str) {
        let touched: Vec<RegisteredRoom> = self
            .registered
            .iter()
            .filter(|r| r.is_founder(account) || r.level_of(account).is_some())
            .cloned()
            .collect();
        for mut reg in touched {
            if reg.is_founder(account) {
                let successor = reg.successor(|a| {
                    casefold(a) != casefold(account) && self.accounts.get(a).is_some()
                });
                match successor {
                    Some(next) => {
                        reg.remove_access(&next);
                        reg.founder = next;
                    }
                    None => {
                        self.registered.remove(&reg.name);
                        self.emit(Action::DeleteRoom {
                            name: casefold(&reg.name),
                        });
                        continue;
                    }
                }
            }
            reg.remove_access(account);
            self.save_registration(reg);
        }
    }

    /// RENAME moved the room `old_folded` to `new`: its registration, if
    /// any, follows under the new name.
    pub(super) fn chanserv_room_renamed(&mut self, old_folded: &str, new: &str) {
        let Some(mut reg) = self.registered.remove(old_folded) else {
            return;
        };
        if casefold(new) != old_folded {
            self.emit(Action::DeleteRoom {
                name: old_folded.to_string(),
            });
        }
        reg.name = new.to_string();
        self.save_registration(reg);
    }
}
