//! The [`World`]: the real core and the model side by side. Each operation
//! goes to both; every line the core sends is parsed as a client would
//! parse it, normalized, and compared with the model's prediction for that
//! connection, in order; then server.log records, closes and
//! each room's moderation state (operators, voice, modes, lists,
//! invitations) are compared too.

use super::moderation::{glob, MaskEntry};
use super::names::fold;
use super::{
    cut_reason, numeric, Expect, MConn, MRoom, Model, MonitorCmd, Op, Timings, BAD_ROOM, GARBAGE,
    ROOMS, SERVER_NAME, START_MS, TRACKED_NUMERICS, UNOPENED_BASE,
};
use natter::core::{
    Action, ConnId, Event, Instant, LogEntry, Now, Server, ServerConfig, Timestamp,
};
use natter::proto::{ChannelMode, LineError, Message, MAX_LINE};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// A room as the model sees it, for generators that aim their operations.
#[derive(Clone, Debug)]
pub struct RoomView {
    pub name: String,
    pub members: Vec<String>,
    pub ops: Vec<String>,
    pub voiced: Vec<String>,
    pub invite_only: bool,
    pub moderated: bool,
    pub no_external: bool,
    pub topic_lock: bool,
    pub key: Option<String>,
    pub limit: Option<usize>,
    pub bans: Vec<String>,
    pub excepts: Vec<String>,
    /// Members that match a ban (exceptions aside), with their hosts.
    pub banned_members: Vec<(String, String)>,
}

/// Both simulated clocks at `ms` on the wall clock: the monotonic clock
/// starts at 0 when the wall clock reads `START_MS`.
fn clock(ms: u64) -> Now {
    Now {
        mono: Instant(ms - START_MS),
        wall: Timestamp(ms),
    }
}

/// The real core and the model side by side, checked after every step.
pub struct World {
    pub server: Server,
    model: Model,
    /// The connection each slot last opened (maybe closed since).
    slot_conn: Vec<Option<ConnId>>,
    next_id: u64,
    now: u64,
    next_text: u64,
    /// Per (recipient, folded room): the last room-message number seen.
    seen: BTreeMap<(ConnId, String), u64>,
    /// Connections open when the current step began.
    open_before: BTreeSet<ConnId>,
    digest: std::collections::hash_map::DefaultHasher,
    actions: u64,
    /// Steps applied so far (one per event).
    pub steps: u64,
    /// How many tracked lines of each kind (`PRIVMSG`, `QUIT`, `433`, …)
    /// were delivered, and `Close` actions: proof a run exercised the rules.
    pub delivered: BTreeMap<String, u64>,
}

impl World {
    pub fn new(slots: usize, timings: Timings) -> World {
        let config = ServerConfig {
            server_name: SERVER_NAME.into(),
            ping_interval_secs: timings.ping_interval_secs,
            ping_timeout_secs: timings.ping_timeout_secs,
            registration_timeout_secs: timings.registration_timeout_secs,
            // This model checks live delivery; history on join (and its
            // boundary with live traffic) is checked by tests/history_model.rs.
            history_on_join: 0,
            ..ServerConfig::default()
        };
        World {
            server: Server::new(config),
            model: Model {
                timings,
                now: START_MS,
                conns: BTreeMap::new(),
                nicks: BTreeMap::new(),
                rooms: BTreeMap::new(),
                rules: BTreeMap::new(),
            },
            slot_conn: vec![None; slots],
            next_id: 1,
            now: START_MS,
            next_text: 0,
            seen: BTreeMap::new(),
            open_before: BTreeSet::new(),
            digest: Default::default(),
            actions: 0,
            steps: 0,
            delivered: BTreeMap::new(),
        }
    }

    /// How many slots there are.
    pub fn slots(&self) -> usize {
        self.slot_conn.len()
    }

    /// Whether `slot` holds an open connection.
    pub fn is_open(&self, slot: usize) -> bool {
        self.slot_conn[slot].is_some_and(|c| self.model.conns.contains_key(&c))
    }

    /// Whether `slot` holds a registered connection.
    pub fn is_registered(&self, slot: usize) -> bool {
        self.slot_conn[slot]
            .and_then(|c| self.model.conns.get(&c))
            .is_some_and(|c| c.registered)
    }

    /// The nick the model says `slot` has.
    pub fn nick_of_slot(&self, slot: usize) -> Option<String> {
        self.model.conns.get(&self.slot_conn[slot]?)?.nick.clone()
    }

    /// How many connections the model says are open.
    pub fn open_count(&self) -> usize {
        self.model.conns.len()
    }

    /// How often each of the model's rules decided a step (`JOIN refused
    /// (474)`, `404 +m: not voiced`, `MODE +b applied`, …).
    pub fn rules(&self) -> &BTreeMap<String, u64> {
        &self.model.rules
    }

    /// The rooms `slot` is in (as named by their creators), each with
    /// whether `slot` is an operator there.
    pub fn rooms_of_slot(&self, slot: usize) -> Vec<(String, bool)> {
        let Some(conn) = self.slot_conn[slot] else {
            return Vec::new();
        };
        let Some(c) = self.model.conns.get(&conn) else {
            return Vec::new();
        };
        c.rooms
            .iter()
            .map(|f| {
                let room = &self.model.rooms[f];
                (room.name.clone(), room.ops.contains(&conn))
            })
            .collect()
    }

    /// The slots whose connection is an operator in at least one room.
    pub fn operator_slots(&self) -> Vec<usize> {
        let ops: BTreeSet<ConnId> = self
            .model
            .rooms
            .values()
            .flat_map(|r| r.ops.iter().copied())
            .collect();
        (0..self.slot_conn.len())
            .filter(|&s| self.slot_conn[s].is_some_and(|c| ops.contains(&c)))
            .collect()
    }

    /// The rooms `slot` holds a pending invitation to.
    pub fn invitations_of_slot(&self, slot: usize) -> Vec<String> {
        let Some(conn) = self.slot_conn[slot] else {
            return Vec::new();
        };
        let rooms = self.model.rooms.values();
        rooms
            .filter(|r| r.invited.contains(&conn))
            .map(|r| r.name.clone())
            .collect()
    }

    /// What a client could know of the room called `name` (any case).
    pub fn room_view(&self, name: &str) -> Option<RoomView> {
        let room = self.model.rooms.get(&fold(name))?;
        let nick = |c: &ConnId| self.model.conns[c].nick.clone().unwrap_or_default();
        Some(RoomView {
            name: room.name.clone(),
            members: room.members.iter().map(nick).collect(),
            ops: room.ops.iter().map(nick).collect(),
            voiced: room.voiced.iter().map(nick).collect(),
            invite_only: room.modes.invite_only,
            moderated: room.modes.moderated,
            no_external: room.modes.no_external,
            topic_lock: room.modes.topic_lock,
            key: room.modes.key.clone(),
            limit: room.modes.limit,
            bans: room.bans.iter().map(|e| e.mask.clone()).collect(),
            excepts: room.excepts.iter().map(|e| e.mask.clone()).collect(),
            banned_members: room
                .members
                .iter()
                .filter(|&&m| {
                    let subject = self.model.subject_as(m, &nick(&m));
                    room.bans.iter().any(|e| glob(&e.mask, &subject))
                })
                .map(|m| (nick(m), self.model.conns[m].host.clone()))
                .collect(),
        })
    }

    /// A fingerprint of every action the core emitted, in order.
    pub fn fingerprint(&self) -> (u64, u64) {
        (self.actions, self.digest.finish())
    }

    /// The connection a slot's events go to: its open (or last closed)
    /// connection, or an id the shell never opened.
    fn conn(&self, slot: usize) -> ConnId {
        self.slot_conn[slot].unwrap_or(ConnId(UNOPENED_BASE + slot as u64))
    }

    /// Applies one operation, checking the core against the model.
    pub fn apply(&mut self, op: &Op) -> Result<(), String> {
        // Connections the core may address during this step.
        self.open_before = self.model.conns.keys().copied().collect();
        match op {
            Op::Register { slot, nick } => {
                self.apply(&Op::Connect { slot: *slot })?;
                self.apply(&Op::Nick {
                    slot: *slot,
                    nick: nick.clone(),
                })?;
                self.apply(&Op::User { slot: *slot })
            }
            Op::Connect { slot } => {
                if self.is_open(*slot) {
                    return Ok(());
                }
                let conn = ConnId(self.next_id);
                self.next_id += 1;
                self.slot_conn[*slot] = Some(conn);
                let now = self.now;
                // Three hosts, so that host bans match some clients only.
                let host = format!("127.0.0.{}", 1 + conn.0 % 3);
                self.model.conns.insert(
                    conn,
                    MConn {
                        nick: None,
                        user: false,
                        registered: false,
                        cap_negotiating: false,
                        echo: false,
                        invite_notify: false,
                        away_notify: false,
                        multi_prefix: false,
                        invisible: false,
                        away: None,
                        monitoring: BTreeMap::new(),
                        host: host.clone(),
                        rooms: BTreeSet::new(),
                        connected_at: now,
                        last_active: now,
                        last_spoke: now,
                        ping_sent: None,
                    },
                );
                let event = Event::Connected {
                    conn,
                    peer: format!("{host}:{}", 10000 + conn.0 % 50000),
                    now: clock(now),
                };
                self.open_before.insert(conn);
                self.run(event, Expect::default(), op)
            }
            Op::Tick { secs } => {
                self.now += secs * 1000;
                self.model.now = self.now;
                let mut ex = Expect::default();
                self.model.tick(self.now, &mut ex);
                self.run(
                    Event::Timeout {
                        now: clock(self.now),
                    },
                    ex,
                    op,
                )
            }
            Op::Shutdown => {
                let mut ex = Expect::default();
                let all: Vec<ConnId> = self.model.conns.keys().copied().collect();
                for conn in all {
                    self.model
                        .remove(conn, "Server shutting down", true, &mut ex);
                }
                let event = Event::Shutdown {
                    now: clock(self.now),
                };
                self.run(event, ex, op)
            }
            Op::Drop { slot } => {
                let conn = self.conn(*slot);
                let reason = "Connection reset by peer";
                // The shell already closed it: nothing may be sent to it now.
                self.open_before.remove(&conn);
                let mut ex = Expect::default();
                self.model.remove(conn, reason, false, &mut ex);
                let event = Event::Disconnected {
                    conn,
                    reason: reason.into(),
                    now: clock(self.now),
                };
                self.run(event, ex, op)
            }
            Op::Garbage { slot, kind } if *kind >= GARBAGE.len() => {
                let conn = self.conn(*slot);
                self.touch(conn);
                let error = if *kind == GARBAGE.len() {
                    LineError::TooLong { limit: MAX_LINE }
                } else {
                    LineError::InvalidUtf8
                };
                let event = Event::BadLine {
                    conn,
                    error,
                    now: clock(self.now),
                };
                self.run(event, Expect::default(), op)
            }
            _ => self.apply_line(op),
        }
    }

    /// Marks activity on an open connection (any line resets the ping timer).
    fn touch(&mut self, conn: ConnId) {
        if let Some(c) = self.model.conns.get_mut(&conn) {
            c.last_active = self.now;
            c.ping_sent = None;
        }
    }

    fn apply_line(&mut self, op: &Op) -> Result<(), String> {
        let slot = match op {
            Op::Nick { slot, .. }
            | Op::User { slot }
            | Op::CapLs { slot }
            | Op::CapReqEcho { slot }
            | Op::CapReqInviteNotify { slot }
            | Op::CapReq { slot, .. }
            | Op::CapEnd { slot }
            | Op::Away { slot, .. }
            | Op::UserMode { slot, .. }
            | Op::Who { slot, .. }
            | Op::Whois { slot, .. }
            | Op::Names { slot, .. }
            | Op::Monitor { slot, .. }
            | Op::Join { slot, .. }
            | Op::JoinZero { slot }
            | Op::Part { slot, .. }
            | Op::Say { slot, .. }
            | Op::Topic { slot, .. }
            | Op::Mode { slot, .. }
            | Op::Kick { slot, .. }
            | Op::Invite { slot, .. }
            | Op::Ping { slot }
            | Op::Pong { slot }
            | Op::Quit { slot, .. }
            | Op::Garbage { slot, .. } => *slot,
            Op::Connect { .. }
            | Op::Register { .. }
            | Op::Drop { .. }
            | Op::Tick { .. }
            | Op::Shutdown => {
                unreachable!("handled in apply")
            }
        };
        let conn = self.conn(slot);
        self.next_text += 1;
        let text = format!("m{} hello there", self.next_text);
        let line = match op {
            Op::Nick { nick, .. } => format!("NICK {nick}"),
            Op::User { .. } => "USER u 0 * :Real Name".into(),
            Op::CapLs { .. } => "CAP LS 302".into(),
            Op::CapReqEcho { .. } => "CAP REQ :echo-message".into(),
            Op::CapReqInviteNotify { .. } => "CAP REQ :invite-notify".into(),
            Op::CapReq { cap, .. } => format!("CAP REQ :{cap}"),
            Op::CapEnd { .. } => "CAP END".into(),
            Op::Away { message, .. } => match message {
                Some(m) => format!("AWAY :{m}"),
                None => "AWAY".into(),
            },
            Op::UserMode { invisible, .. } => {
                let nick = self.model.conns.get(&conn).and_then(|c| c.nick.clone());
                let sign = if *invisible { '+' } else { '-' };
                format!("MODE {} {sign}i", nick.as_deref().unwrap_or("*"))
            }
            Op::Who { target, .. } => format!("WHO {target}"),
            Op::Whois { nick, .. } => format!("WHOIS {nick}"),
            Op::Names { rooms, .. } => format!("NAMES {rooms}"),
            Op::Monitor { cmd, .. } => match cmd {
                MonitorCmd::Add(nicks) => format!("MONITOR + {}", nicks.join(",")),
                MonitorCmd::Remove(nicks) => format!("MONITOR - {}", nicks.join(",")),
                MonitorCmd::Clear => "MONITOR C".into(),
                MonitorCmd::List => "MONITOR L".into(),
                MonitorCmd::Status => "MONITOR S".into(),
            },
            Op::Join { rooms, keys, .. } if keys.is_empty() => format!("JOIN {}", rooms.join(",")),
            Op::Join { rooms, keys, .. } => {
                format!("JOIN {} {}", rooms.join(","), keys.join(","))
            }
            Op::JoinZero { .. } => "JOIN 0".into(),
            Op::Part { room, reason, .. } => match reason {
                Some(r) => format!("PART {room} :{r}"),
                None => format!("PART {room}"),
            },
            Op::Say { target, notice, .. } => {
                let cmd = if *notice { "NOTICE" } else { "PRIVMSG" };
                format!("{cmd} {target} :{text}")
            }
            Op::Topic { room, .. } => format!("TOPIC {room} :{text}"),
            Op::Mode {
                room, modes, args, ..
            } => std::iter::once(format!("MODE {room}"))
                .chain((!modes.is_empty()).then(|| modes.clone()))
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
            Op::Kick {
                room,
                nicks,
                comment,
                ..
            } => match comment {
                Some(c) => format!("KICK {room} {} :{c}", nicks.join(",")),
                None => format!("KICK {room} {}", nicks.join(",")),
            },
            Op::Invite { nick, room, .. } => format!("INVITE {nick} {room}"),
            Op::Ping { .. } => format!("PING tok{}", self.next_text),
            Op::Pong { .. } => format!("PONG {SERVER_NAME}"),
            Op::Quit { reason, .. } => match reason {
                Some(r) => format!("QUIT :{r}"),
                None => "QUIT".into(),
            },
            Op::Garbage { kind, .. } => GARBAGE[*kind].0.to_string(),
            _ => unreachable!("handled in apply"),
        };
        let event = Event::Line {
            conn,
            line,
            now: clock(self.now),
        };
        let mut ex = Expect::default();
        if self.model.conns.contains_key(&conn) {
            self.touch(conn);
            self.model_line(conn, op, &text, &mut ex);
        }
        self.run(event, ex, op)
    }

    /// What a correct server does with `op`'s line from open connection `conn`.
    fn model_line(&mut self, conn: ConnId, op: &Op, text: &str, ex: &mut Expect) {
        let m = &mut self.model;
        let registered = m.conns[&conn].registered;
        let needs_registration = matches!(
            op,
            Op::Join { .. }
                | Op::JoinZero { .. }
                | Op::Part { .. }
                | Op::Say { .. }
                | Op::Topic { .. }
                | Op::Mode { .. }
                | Op::Kick { .. }
                | Op::Invite { .. }
                | Op::Away { .. }
                | Op::UserMode { .. }
                | Op::Who { .. }
                | Op::Whois { .. }
                | Op::Names { .. }
                | Op::Monitor { .. }
        ) || matches!(op, Op::Garbage { kind, .. } if GARBAGE[*kind].1);
        if needs_registration && !registered {
            ex.push(conn, numeric("451", &m.target_nick(conn), ""));
            return;
        }
        match op {
            Op::Nick { nick, .. } => m.nick(conn, nick, ex),
            Op::User { .. } => {
                let c = m.conns.get_mut(&conn).expect("open");
                if c.registered || c.user {
                    ex.push(conn, numeric("462", &m.target_nick(conn), ""));
                } else {
                    c.user = true;
                    m.try_register(conn, ex);
                }
            }
            Op::CapLs { .. } => {
                let c = m.conns.get_mut(&conn).expect("open");
                if !c.registered {
                    c.cap_negotiating = true;
                }
            }
            Op::CapReqEcho { .. } => {
                let c = m.conns.get_mut(&conn).expect("open");
                if !c.registered {
                    c.cap_negotiating = true;
                }
                c.echo = true;
            }
            Op::CapReqInviteNotify { .. } => {
                let c = m.conns.get_mut(&conn).expect("open");
                if !c.registered {
                    c.cap_negotiating = true;
                }
                c.invite_notify = true;
            }
            Op::CapReq { cap, .. } => {
                let c = m.conns.get_mut(&conn).expect("open");
                if !c.registered {
                    c.cap_negotiating = true;
                }
                match cap.as_str() {
                    "away-notify" => c.away_notify = true,
                    "multi-prefix" => c.multi_prefix = true,
                    other => unreachable!("{other} is not in MODELLED_CAPS"),
                }
            }
            Op::Away { message, .. } => m.away(conn, message.as_deref(), ex),
            Op::UserMode { invisible, .. } => m.user_mode(conn, *invisible, ex),
            Op::Who { target, .. } => m.who(conn, target, ex),
            Op::Whois { nick, .. } => m.whois(conn, nick, ex),
            Op::Names { rooms, .. } => m.names(conn, rooms, ex),
            Op::Monitor { cmd, .. } => m.monitor(conn, cmd, ex),
            Op::CapEnd { .. } => {
                m.conns.get_mut(&conn).expect("open").cap_negotiating = false;
                m.try_register(conn, ex);
            }
            Op::Join { rooms, keys, .. } => {
                // The n-th key goes with the n-th room; an empty key is none.
                for (i, name) in rooms.iter().enumerate() {
                    let key = keys.get(i).map(String::as_str).filter(|k| !k.is_empty());
                    if !name.is_empty() {
                        m.join(conn, name, key, ex);
                    }
                }
            }
            Op::JoinZero { .. } => {
                let rooms: Vec<String> = m.conns[&conn].rooms.iter().cloned().collect();
                for folded in rooms {
                    m.leave(conn, &folded, None, ex);
                }
            }
            Op::Part { room, reason, .. } => {
                let nick = m.target_nick(conn);
                let folded = fold(room);
                let reason = reason.as_deref().filter(|r| !r.is_empty()).map(cut_reason);
                if !m.rooms.contains_key(&folded) {
                    ex.push(conn, numeric("403", &nick, room));
                } else if !m.conns[&conn].rooms.contains(&folded) {
                    ex.push(conn, numeric("442", &nick, room));
                } else {
                    m.leave(conn, &folded, reason, ex);
                }
            }
            Op::Say { target, notice, .. } => {
                // Idle time (WHOIS 317) counts from the last PRIVMSG/NOTICE,
                // whether or not its targets exist.
                m.conns.get_mut(&conn).expect("open").last_spoke = m.now;
                // Up to four comma-separated targets, each handled in turn.
                for one in target.split(',').filter(|t| !t.is_empty()).take(4) {
                    m.say(conn, one, text, *notice, ex);
                }
            }
            Op::Topic { room, .. } => m.topic(conn, room, text, ex),
            Op::Mode {
                room, modes, args, ..
            } => m.mode(conn, room, modes, args, ex),
            Op::Kick {
                room,
                nicks,
                comment,
                ..
            } => m.kick(conn, room, &nicks.join(","), comment.as_deref(), ex),
            Op::Invite { nick, room, .. } => m.invite(conn, nick, room, ex),
            Op::Ping { .. } => {
                let token = format!("tok{}", self.next_text);
                ex.push(conn, format!("PONG {SERVER_NAME}|{token}"));
            }
            Op::Pong { .. } => {}
            Op::Quit { reason, .. } => {
                let reason = match reason.as_deref() {
                    Some(r) if !r.is_empty() => format!("Quit: {}", cut_reason(r)),
                    _ => "Quit".to_string(),
                };
                m.remove(conn, &reason, true, ex);
            }
            Op::Garbage { kind, .. } => match GARBAGE[*kind].0 {
                "NICK" => ex.push(conn, numeric("431", &m.target_nick(conn), "")),
                "WHO #lobby" => m.who(conn, "#lobby", ex),
                "NAMES #lobby" => m.names(conn, "#lobby", ex),
                _ => {}
            },
            _ => unreachable!("not a line"),
        }
    }

    /// Feeds `event` to the core, drains its actions and checks them.
    fn run(&mut self, event: Event, expect: Expect, op: &Op) -> Result<(), String> {
        self.steps += 1;
        let describe = format!("step {} {op:?} -> {event:?}", self.steps);
        let open_before = std::mem::take(&mut self.open_before);
        self.server.handle_event(event);
        let mut actual: BTreeMap<ConnId, Vec<String>> = BTreeMap::new();
        let mut closes = BTreeSet::new();
        let mut last_line: BTreeMap<ConnId, String> = BTreeMap::new();
        let mut closed_now: BTreeSet<ConnId> = BTreeSet::new();
        let mut logs = Vec::new();
        while let Some(action) = self.server.poll_action() {
            self.actions += 1;
            format!("{action:?}").hash(&mut self.digest);
            let (targets, line): (Vec<ConnId>, Option<String>) = match &action {
                Action::Send { to, line } => (vec![*to], Some(line.to_string())),
                Action::Broadcast { to, line } => (to.clone(), Some(line.to_string())),
                Action::Close { conn, .. } => (vec![*conn], None),
                Action::Log(record) => {
                    logs.push(log_key(&record.entry));
                    continue;
                }
                Action::Persist(_)
                | Action::CheckPassword { .. }
                | Action::SaveReadMarker(_)
                | Action::HashPassword { .. }
                | Action::SaveAccount(_)
                | Action::DeleteAccount { .. }
                | Action::SaveRoom(_)
                | Action::DeleteRoom { .. }
                | Action::SaveServerBan(_)
                | Action::DeleteServerBan { .. } => continue,
            };
            for &to in &targets {
                if !open_before.contains(&to) || closed_now.contains(&to) {
                    return Err(format!(
                        "{describe}: action {action:?} targets {to}, which is not open"
                    ));
                }
            }
            if let Action::Broadcast { to, .. } = &action {
                let distinct: BTreeSet<_> = to.iter().collect();
                if distinct.len() != to.len() {
                    return Err(format!(
                        "{describe}: broadcast names a connection twice: {action:?}"
                    ));
                }
            }
            let Some(line) = line else {
                let conn = targets[0];
                if !last_line.get(&conn).is_some_and(|l| l.starts_with("ERROR")) {
                    return Err(format!(
                        "{describe}: {conn} closed without an ERROR line first (last: {:?})",
                        last_line.get(&conn)
                    ));
                }
                closed_now.insert(conn);
                closes.insert(conn);
                *self.delivered.entry("Close".into()).or_default() += 1;
                continue;
            };
            if line.len() > MAX_LINE || line.contains(['\r', '\n', '\0']) {
                return Err(format!(
                    "{describe}: line breaks the 512-byte framing: {line:?}"
                ));
            }
            let msg = Message::parse(&line)
                .map_err(|e| format!("{describe}: server sent unparsable line {line:?}: {e}"))?;
            for &to in &targets {
                last_line.insert(to, line.clone());
            }
            let keys = normalize(&msg);
            let Some(key) = keys.first() else { continue };
            if matches!(msg.command.as_str(), "PRIVMSG" | "NOTICE") && msg.param(0).starts_with('#')
            {
                let folded = fold(msg.param(0));
                let number: u64 = msg
                    .param(1)
                    .split(' ')
                    .next()
                    .and_then(|w| w.strip_prefix('m'))
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{describe}: unexpected room text {line:?}"))?;
                for &to in &targets {
                    let last = self.seen.entry((to, folded.clone())).or_insert(0);
                    if number <= *last {
                        return Err(format!(
                            "{describe}: {to} saw room message m{number} after m{last}: rooms must keep one order"
                        ));
                    }
                    *last = number;
                }
            }
            let kind = key.split(' ').next().unwrap_or_default().to_string();
            *self.delivered.entry(kind).or_default() += targets.len() as u64;
            for &to in &targets {
                actual.entry(to).or_default().extend(keys.iter().cloned());
            }
        }

        // Each connection's lines, in the order it received them.
        let expected = expect.lines;
        if expected != actual {
            let mut diff = String::new();
            let conns: BTreeSet<_> = expected.keys().chain(actual.keys()).collect();
            for c in conns {
                let e = expected.get(c).cloned().unwrap_or_default();
                let a = actual.get(c).cloned().unwrap_or_default();
                if e != a {
                    diff += &format!("\n  {c}: expected {e:?}\n  {c}:   actual {a:?}");
                }
            }
            return Err(format!(
                "{describe}: deliveries differ from the model:{diff}"
            ));
        }
        // server.log records, in order.
        let want_logs = expect.logs;
        if want_logs != logs {
            return Err(format!(
                "{describe}: server.log records differ:\n  expected {want_logs:?}\n    actual {logs:?}"
            ));
        }
        if expect.closes != closes {
            return Err(format!(
                "{describe}: closes differ: expected {:?}, actual {closes:?}",
                expect.closes
            ));
        }
        self.check_state(&describe)
    }

    /// The core's visible state agrees with the model; nicks are unique.
    fn check_state(&self, describe: &str) -> Result<(), String> {
        if self.server.connection_count() != self.model.conns.len() {
            return Err(format!(
                "{describe}: core has {} connections, model {}",
                self.server.connection_count(),
                self.model.conns.len()
            ));
        }
        let mut folded_nicks = BTreeSet::new();
        for (&conn, c) in &self.model.conns {
            let nick = self.server.nick_of(conn);
            if nick != c.nick.as_deref() {
                return Err(format!(
                    "{describe}: {conn} has nick {nick:?} in the core, {:?} in the model",
                    c.nick
                ));
            }
            if let Some(n) = nick {
                if !folded_nicks.insert(fold(n)) {
                    return Err(format!(
                        "{describe}: nick {n} is held twice (case-insensitively)"
                    ));
                }
            }
        }
        for name in ROOMS.iter().chain([&BAD_ROOM]) {
            let folded = fold(name);
            let core: Option<BTreeSet<ConnId>> =
                self.server.room(name).map(|r| r.members().collect());
            let model = self.model.rooms.get(&folded).map(|r| r.members.clone());
            if core != model {
                return Err(format!(
                    "{describe}: room {name} members: core {core:?}, model {model:?}"
                ));
            }
            let core = self.server.room(name).map(core_room_state);
            let model = self.model.rooms.get(&folded).map(model_room_state);
            if core != model {
                return Err(format!(
                    "{describe}: room {name} state differs:\n  core  {core:?}\n  model {model:?}"
                ));
            }
        }
        Ok(())
    }
}

/// A room's moderation state, comparable between the core and the model:
/// operators, voiced members, modes as 324 shows them to members, the
/// three mask lists (`mask by nick`) and the pending invitations.
#[derive(Debug, PartialEq, Eq)]
struct RoomState {
    ops: BTreeSet<ConnId>,
    voiced: BTreeSet<ConnId>,
    modes: (bool, bool, bool, bool, bool, Option<String>, Option<usize>),
    lists: [Vec<String>; 3],
    invited: BTreeSet<ConnId>,
}

/// What the core's `Room` holds, read through its public accessors.
fn core_room_state(room: &natter::core::Room) -> RoomState {
    let with = |want: fn(&natter::core::Privileges) -> bool| {
        room.members_with_privileges()
            .filter(|(_, p)| want(p))
            .map(|(c, _)| c)
            .collect()
    };
    let m = room.modes();
    let list = |mode| {
        room.list(mode)
            .iter()
            .map(|e| format!("{} by {}", e.mask, e.set_by))
            .collect()
    };
    RoomState {
        ops: with(|p| p.op),
        voiced: with(|p| p.voice),
        modes: (
            m.invite_only,
            m.moderated,
            m.no_external,
            m.secret,
            m.topic_lock,
            m.key.clone(),
            m.limit,
        ),
        lists: [
            list(ChannelMode::Ban),
            list(ChannelMode::BanException),
            list(ChannelMode::InviteException),
        ],
        invited: room.invited().collect(),
    }
}

fn model_room_state(room: &MRoom) -> RoomState {
    let m = &room.modes;
    let list = |l: &[MaskEntry]| {
        l.iter()
            .map(|e| format!("{} by {}", e.mask, e.set_by))
            .collect()
    };
    RoomState {
        ops: room.ops.clone(),
        voiced: room.voiced.clone(),
        modes: (
            m.invite_only,
            m.moderated,
            m.no_external,
            m.secret,
            m.topic_lock,
            m.key.clone(),
            m.limit,
        ),
        lists: [list(&room.bans), list(&room.excepts), list(&room.invex)],
        invited: room.invited.clone(),
    }
}

/// A log record in the model's terms.
fn log_key(entry: &LogEntry) -> String {
    let room = |r: &Option<std::sync::Arc<str>>| r.as_deref().unwrap_or("-").to_string();
    match entry {
        LogEntry::Connected { nick, .. } => format!("Connected {nick}"),
        LogEntry::Disconnected { nick } => format!("Disconnected {nick}"),
        LogEntry::QuitReason { nick, reason } => format!("QuitReason {nick} {reason}"),
        LogEntry::PartReason {
            nick,
            room: r,
            reason,
        } => format!("PartReason {nick} {} {reason}", room(r)),
        LogEntry::Kick {
            nick,
            room: r,
            victim,
            reason,
        } => format!("Kick {nick} {} {victim} {reason}", room(r)),
        LogEntry::Mode {
            nick,
            room: r,
            modes,
        } => format!("Mode {nick} {} {modes}", room(r)),
        LogEntry::ClosedUnregistered { .. } => "ClosedUnregistered".into(),
        // The shell's own line: the core never writes it.
        LogEntry::Refused { peer, .. } => format!("Refused {peer}"),
        LogEntry::Joined { nick, room: r } => format!("Joined {nick} {}", room(r)),
        LogEntry::Left { nick, room: r, .. } => format!("Left {nick} {}", room(r)),
        LogEntry::Message {
            nick,
            room: r,
            text,
        } => format!("Message {nick} {} {text}", room(r)),
        LogEntry::Notice {
            nick,
            room: r,
            text,
        } => format!("Notice {nick} {} {text}", room(r)),
        LogEntry::Private { from, to, .. } => format!("Private {from} {to}"),
        LogEntry::NickChange { old, new } => format!("NickChange {old} {new}"),
        LogEntry::Topic {
            nick,
            room: r,
            topic,
        } => format!("Topic {nick} {} {topic}", room(r)),
        LogEntry::Redact {
            nick,
            room: r,
            author,
            ..
        } => format!("Redact {nick} {} {author}", room(r)),
        LogEntry::Rename {
            nick, room: r, new, ..
        } => format!("Rename {nick} {} {new}", room(r)),
        // The model has no accounts: any account line is a mismatch.
        other => format!("{other:?}"),
    }
}

/// The chat-relevant content of a server line: one key, or one per item
/// for the numerics that list items (353, 319, 730, 731, 732), so that
/// how the core packs items into 512-byte lines does not matter, only
/// which items come in which order; none for lines the model does not
/// track.
fn normalize(msg: &Message) -> Vec<String> {
    let cmd = msg.command.as_str();
    let from_user = msg
        .source
        .as_deref()
        .and_then(|s| s.split_once('!'))
        .map(|(n, _)| n);
    let p = |i: usize| msg.param(i);
    let joined = |from: usize, to: usize| {
        let shown: Vec<&str> = (from..=to).map(|i| msg.param(i)).collect();
        shown.join("|")
    };
    let items = |list: &str, sep: char, prefix: String| -> Vec<String> {
        list.split(sep)
            .filter(|i| !i.is_empty())
            .map(|i| numeric(cmd, p(0), &format!("{prefix}{i}")))
            .collect()
    };
    let one = |key: String| vec![key];
    match (cmd, from_user) {
        (
            "JOIN" | "PART" | "QUIT" | "NICK" | "PRIVMSG" | "NOTICE" | "TOPIC" | "MODE" | "KICK"
            | "INVITE" | "AWAY",
            Some(nick),
        ) => one(format!("{cmd} {nick} {}", msg.params.join("|"))),
        // A user mode change, echoed from the bare nick to the user.
        ("MODE", None) if msg.source.as_deref() == Some(p(0)) => {
            one(format!("MODE {} {}", p(0), msg.params.join("|")))
        }
        // The room's modes and list entries, all but the time they were set.
        ("324" | "346" | "348" | "367", _) => {
            let shown = msg.params.iter().skip(1);
            let shown: Vec<&str> = match cmd {
                "324" => shown.map(String::as_str).collect(),
                _ => shown.take(3).map(String::as_str).collect(),
            };
            one(numeric(cmd, p(0), &shown.join("|")))
        }
        // Away message; WHOIS user, server (not the network), idle and
        // signon; WHO rows whole.
        ("301", _) => one(numeric(cmd, p(0), &joined(1, 2))),
        ("311", _) => one(numeric(cmd, p(0), &joined(1, 5))),
        ("312", _) => one(numeric(cmd, p(0), &joined(1, 2))),
        ("317", _) => one(numeric(cmd, p(0), &joined(1, 3))),
        ("352", _) => one(numeric(cmd, p(0), &joined(1, 7))),
        // Lists: one key per item.
        ("319", _) => items(p(2), ' ', format!("{}|", p(1))),
        ("353", _) => items(p(3), ' ', format!("{}|{}|", p(1), p(2))),
        ("730" | "731" | "732", _) => items(p(1), ',', String::new()),
        ("ERROR", _) => one("ERROR".into()),
        ("PING", None) => one(format!("PING {}", msg.params.join("|"))),
        ("PONG", None) => one(format!("PONG {}", msg.params.join("|"))),
        _ if TRACKED_NUMERICS.contains(&cmd) => {
            let subject = if msg.params.len() >= 3 { p(1) } else { "" };
            one(numeric(cmd, p(0), subject))
        }
        _ => Vec::new(),
    }
}
