//! A reference model of the chat rules, and a [`World`] that runs the real
//! core beside it and checks every step.
//!
//! The model is deliberately simple: connections (open, registered, nick),
//! rooms (member sets) and, for each operation, the lines each client should
//! see. The [`World`] feeds the same operation to the real `Server`, parses
//! every line it sends exactly as a client would (`Message::parse`), and
//! compares. Shared by the proptest (`tests/core_model.rs`) and the seeded
//! simulation (`tests/simulation.rs`).
//!
//! Only the lines that carry chat semantics are compared exactly (JOIN,
//! PART, QUIT, NICK, PRIVMSG, NOTICE from users, TOPIC, ERROR, PING, PONG
//! and the error numerics in [`TRACKED_NUMERICS`]); the rest (MOTD, NAMES,
//! ISUPPORT, …) must still parse, fit in 512 bytes and go only to open
//! connections.
#![allow(dead_code)]

use natter::core::{
    Action, ConnId, Event, Instant, LogEntry, Now, Server, ServerConfig, Timestamp,
};
use natter::proto::{
    casefold, is_valid_channel, is_valid_nick, LineError, Message, MAX_LINE, NICKLEN,
};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

/// Nicknames the proptest picks from (in random case, so they clash).
pub const NICKS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "trent",
];
/// Rooms the scripts use (in random case), plus one invalid name.
pub const ROOMS: &[&str] = &["#lobby", "#rust", "#Chat", "#x"];
/// Not a channel name: JOIN answers 403.
pub const BAD_ROOM: &str = "lobby";
/// Nicknames the server must refuse with 432.
pub const BAD_NICKS: &[&str] = &[
    "9lives",
    "-dash",
    "a*b",
    "waytoolongnicknamethatgoesonandonforever",
];

/// The numerics compared exactly: `<numeric> <target> <subject>`.
pub const TRACKED_NUMERICS: &[&str] = &[
    "001", "401", "403", "404", "431", "432", "433", "442", "451", "462", "482",
];

const SERVER_NAME: &str = "natter";
/// Connections a script never opened get ids from here up.
const UNOPENED_BASE: u64 = 1 << 40;
/// Start of every run: 2023-11-09 12:34:56 UTC.
const START_MS: u64 = 1_699_533_296_000;

/// Lines a client sends that are not chat: `(line, answered 451 before registration)`.
pub const GARBAGE: &[(&str, bool)] = &[
    ("", false),
    ("   ", false),
    ("@tag=x :only.a.source", false),
    ("FOO bar baz", true),
    ("PRIVMSG", true),
    ("PRIVMSG #lobby", true),
    ("JOIN", true),
    ("PART", true),
    ("NICK", false),
    ("\u{7}BEL", false),
    ("MODE", true),
    ("WHO #lobby", true),
    ("NAMES #lobby", true),
    ("LIST", true),
];
/// Garbage kinds past `GARBAGE.len()` are rejected lines (too long, bad UTF-8).
pub const GARBAGE_KINDS: usize = GARBAGE.len() + 2;

/// One thing a client (or the clock) does. Slots name client seats; a slot
/// whose connection is closed or was never opened still sends, to prove the
/// core ignores events for connections it does not know.
#[derive(Clone, Debug)]
pub enum Op {
    /// Open a new connection in `slot` (if its seat is free).
    Connect {
        slot: usize,
    },
    /// Connect if needed, then NICK and USER.
    Register {
        slot: usize,
        nick: String,
    },
    Nick {
        slot: usize,
        nick: String,
    },
    User {
        slot: usize,
    },
    /// `CAP LS 302` (starts negotiation before registration).
    CapLs {
        slot: usize,
    },
    /// `CAP REQ :echo-message`.
    CapReqEcho {
        slot: usize,
    },
    CapEnd {
        slot: usize,
    },
    /// `JOIN a,b,…`.
    Join {
        slot: usize,
        rooms: Vec<String>,
    },
    /// `JOIN 0`: leave every room.
    JoinZero {
        slot: usize,
    },
    Part {
        slot: usize,
        room: String,
        reason: Option<String>,
    },
    /// PRIVMSG/NOTICE to a room or a nick; the text is numbered by the world.
    Say {
        slot: usize,
        target: String,
        notice: bool,
    },
    Topic {
        slot: usize,
        room: String,
    },
    /// The client PINGs the server.
    Ping {
        slot: usize,
    },
    /// The client answers the server's PING.
    Pong {
        slot: usize,
    },
    Quit {
        slot: usize,
        reason: Option<String>,
    },
    /// Abrupt close seen by the shell (reset, EOF).
    Drop {
        slot: usize,
    },
    Garbage {
        slot: usize,
        kind: usize,
    },
    /// The clock moves on.
    Tick {
        secs: u64,
    },
    /// The server stops: every client gets ERROR and is closed.
    Shutdown,
}

/// Timings for a model run (small, so pings and timeouts happen).
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub ping_interval_secs: u64,
    pub ping_timeout_secs: u64,
    pub registration_timeout_secs: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ping_interval_secs: 20,
            ping_timeout_secs: 10,
            registration_timeout_secs: 30,
        }
    }
}

#[derive(Clone, Debug)]
struct MConn {
    nick: Option<String>,
    user: bool,
    registered: bool,
    cap_negotiating: bool,
    echo: bool,
    rooms: BTreeSet<String>,
    connected_at: u64,
    last_active: u64,
    ping_sent: Option<u64>,
}

#[derive(Clone, Debug)]
struct MRoom {
    name: String,
    members: BTreeSet<ConnId>,
    /// Members with channel-operator status (`@`).
    ops: BTreeSet<ConnId>,
}

/// What one step should produce: normalized lines per connection, and closes.
#[derive(Default, Debug)]
struct Expect {
    lines: BTreeMap<ConnId, Vec<String>>,
    closes: BTreeSet<ConnId>,
    /// Normalized server.log records (see [`log_key`]).
    logs: Vec<String>,
    /// Per (joiner, room name): the nicks its NAMES reply must list.
    names: BTreeMap<(ConnId, String), BTreeSet<String>>,
}

impl Expect {
    fn push(&mut self, conn: ConnId, line: String) {
        self.lines.entry(conn).or_default().push(line);
    }
    fn log(&mut self, record: String) {
        self.logs.push(record);
    }
    fn push_all(&mut self, conns: impl IntoIterator<Item = ConnId>, line: &str) {
        for c in conns {
            self.push(c, line.to_string());
        }
    }
}

/// The reference model: what a correct server knows.
#[derive(Debug)]
struct Model {
    timings: Timings,
    conns: BTreeMap<ConnId, MConn>,
    nicks: BTreeMap<String, ConnId>,
    rooms: BTreeMap<String, MRoom>,
}

/// PART and QUIT reasons are relayed cut to 300 bytes (so lines fit 512).
fn cut_reason(r: &str) -> &str {
    &r[..r.len().min(300)]
}

/// A room as server.log names it: `-` for the default room.
fn log_room(name: &str) -> String {
    if casefold(name) == "#lobby" {
        "-".into()
    } else {
        name.to_string()
    }
}

fn numeric(num: &str, target: &str, subject: &str) -> String {
    format!("{num} {target} {subject}")
}

impl Model {
    fn target_nick(&self, conn: ConnId) -> String {
        self.conns[&conn].nick.clone().unwrap_or_else(|| "*".into())
    }

    fn peers(&self, conn: ConnId) -> BTreeSet<ConnId> {
        let mut peers = BTreeSet::new();
        for folded in &self.conns[&conn].rooms {
            peers.extend(self.rooms[folded].members.iter().copied());
        }
        peers.remove(&conn);
        peers
    }

    fn try_register(&mut self, conn: ConnId, ex: &mut Expect) {
        let c = self.conns.get_mut(&conn).expect("open");
        if c.registered || c.cap_negotiating || c.nick.is_none() || !c.user {
            return;
        }
        c.registered = true;
        let nick = c.nick.clone().expect("checked above");
        ex.push(conn, numeric("001", &nick, ""));
        ex.log(format!("Connected {nick}"));
    }

    /// Removes `conn`; `error` when the server closes it (ERROR + Close).
    fn remove(&mut self, conn: ConnId, reason: &str, error: bool, ex: &mut Expect) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let peers = self.peers(conn);
        let c = self.conns.remove(&conn).expect("checked above");
        if error {
            ex.push(conn, "ERROR".into());
            ex.closes.insert(conn);
        }
        if let Some(nick) = &c.nick {
            self.nicks.remove(&casefold(nick));
        }
        match c.nick.as_ref().filter(|_| c.registered) {
            Some(nick) => {
                ex.push_all(peers, &format!("QUIT {nick} {reason}"));
                for folded in &c.rooms {
                    ex.log(format!(
                        "Left {nick} {}",
                        log_room(&self.rooms[folded].name)
                    ));
                }
                // The seed's line exactly; a reason gets a line of its own.
                let said = reason.strip_prefix("Quit: ").unwrap_or(reason);
                if said != "Quit" {
                    ex.log(format!("QuitReason {nick} {said}"));
                }
                ex.log(format!("Disconnected {nick}"));
            }
            None => ex.log("ClosedUnregistered".into()),
        }
        for folded in &c.rooms {
            self.drop_member(conn, folded);
        }
    }

    fn drop_member(&mut self, conn: ConnId, folded: &str) {
        let room = self.rooms.get_mut(folded).expect("member's room exists");
        room.members.remove(&conn);
        room.ops.remove(&conn);
        if room.members.is_empty() {
            self.rooms.remove(folded);
        }
    }

    fn leave(&mut self, conn: ConnId, folded: &str, reason: Option<&str>, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        let room = &self.rooms[folded];
        let mut params = room.name.clone();
        if let Some(r) = reason {
            params = format!("{params}|{r}");
        }
        ex.push_all(
            room.members.iter().copied(),
            &format!("PART {nick} {params}"),
        );
        ex.log(format!("Left {nick} {}", log_room(&room.name)));
        if let Some(r) = reason {
            ex.log(format!("PartReason {nick} {} {r}", log_room(&room.name)));
        }
        self.conns
            .get_mut(&conn)
            .expect("open")
            .rooms
            .remove(folded);
        self.drop_member(conn, folded);
    }

    fn join(&mut self, conn: ConnId, name: &str, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        if !is_valid_channel(name) {
            ex.push(conn, numeric("403", &nick, name));
            return;
        }
        let folded = casefold(name);
        let c = self.conns.get_mut(&conn).expect("open");
        if !c.rooms.insert(folded.clone()) {
            return;
        }
        let room = self.rooms.entry(folded).or_insert_with(|| MRoom {
            name: name.to_string(),
            members: BTreeSet::new(),
            ops: BTreeSet::new(),
        });
        // Whoever opens an empty room becomes its operator.
        if room.members.is_empty() {
            room.ops.insert(conn);
        }
        room.members.insert(conn);
        let line = format!("JOIN {nick} {}", room.name);
        ex.push_all(room.members.iter().copied(), &line);
        ex.log(format!("Joined {nick} {}", log_room(&room.name)));
        let names = room
            .members
            .iter()
            .filter_map(|m| {
                let prefix = if room.ops.contains(m) { "@" } else { "" };
                Some(format!("{prefix}{}", self.conns[m].nick.as_ref()?))
            })
            .collect();
        ex.names.insert((conn, room.name.clone()), names);
    }

    fn nick(&mut self, conn: ConnId, wanted: &str, ex: &mut Expect) {
        let target = self.target_nick(conn);
        if wanted.is_empty() {
            ex.push(conn, numeric("431", &target, ""));
            return;
        }
        if !is_valid_nick(wanted) {
            // The reply quotes the refused nick cut to NICKLEN + 1 characters.
            let shown: String = wanted.chars().take(NICKLEN + 1).collect();
            ex.push(conn, numeric("432", &target, &shown));
            return;
        }
        let folded = casefold(wanted);
        if self.nicks.get(&folded).is_some_and(|&o| o != conn) {
            ex.push(conn, numeric("433", &target, wanted));
            return;
        }
        let c = self.conns.get_mut(&conn).expect("open");
        if c.nick.as_deref() == Some(wanted) {
            return;
        }
        if let Some(old) = c.nick.replace(wanted.to_string()) {
            self.nicks.remove(&casefold(&old));
        }
        self.nicks.insert(folded, conn);
        if !self.conns[&conn].registered {
            self.try_register(conn, ex);
            return;
        }
        let mut to = self.peers(conn);
        to.insert(conn);
        ex.push_all(to, &format!("NICK {target} {wanted}"));
        ex.log(format!("NickChange {target} {wanted}"));
    }

    /// A message to one room or nick.
    fn say(&mut self, conn: ConnId, target: &str, text: &str, notice: bool, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        let cmd = if notice { "NOTICE" } else { "PRIVMSG" };
        let line = format!("{cmd} {nick} {target}|{text}");
        let echo = self.conns[&conn].echo;
        let folded = casefold(target);
        if target.starts_with('#') {
            let Some(room) = self.rooms.get(&folded) else {
                if !notice {
                    ex.push(conn, numeric("401", &nick, target));
                }
                return;
            };
            if !room.members.contains(&conn) {
                if !notice {
                    ex.push(conn, numeric("404", &nick, &room.name));
                }
                return;
            }
            let to = room.members.iter().copied().filter(|&m| echo || m != conn);
            ex.push_all(to, &line);
            let kind = if notice { "Notice" } else { "Message" };
            ex.log(format!("{kind} {nick} {} {text}", log_room(&room.name)));
            return;
        }
        // Only registered users can be messaged.
        let to = self
            .nicks
            .get(&folded)
            .copied()
            .filter(|t| self.conns[t].registered);
        let Some(to) = to else {
            if !notice {
                ex.push(conn, numeric("401", &nick, target));
            }
            return;
        };
        ex.push(to, line.clone());
        if echo && to != conn {
            ex.push(conn, line);
        }
        let to_nick = self.conns[&to].nick.clone().unwrap_or_default();
        ex.log(format!("Private {nick} {to_nick}"));
    }

    fn topic(&mut self, conn: ConnId, name: &str, text: &str, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        let folded = casefold(name);
        let Some(room) = self.rooms.get(&folded) else {
            ex.push(conn, numeric("403", &nick, name));
            return;
        };
        if !room.members.contains(&conn) {
            ex.push(conn, numeric("442", &nick, name));
            return;
        }
        // Rooms start +t: only operators set the topic.
        if !room.ops.contains(&conn) {
            ex.push(conn, numeric("482", &nick, &room.name));
            return;
        }
        let line = format!("TOPIC {nick} {}|{text}", room.name);
        ex.push_all(room.members.iter().copied(), &line);
        ex.log(format!("Topic {nick} {} {text}", log_room(&room.name)));
    }

    fn tick(&mut self, now: u64, ex: &mut Expect) {
        let t = self.timings;
        let mut expired = Vec::new();
        let mut to_ping = Vec::new();
        for (&id, c) in &self.conns {
            if !c.registered {
                if now >= c.connected_at + t.registration_timeout_secs * 1000 {
                    expired.push((id, "Registration timed out".to_string()));
                }
            } else if let Some(sent) = c.ping_sent {
                if now >= sent + t.ping_timeout_secs * 1000 {
                    let secs = (now - c.last_active) / 1000;
                    expired.push((id, format!("Ping timeout: {secs} seconds")));
                }
            } else if now >= c.last_active + t.ping_interval_secs * 1000 {
                to_ping.push(id);
            }
        }
        for id in to_ping {
            self.conns.get_mut(&id).expect("open").ping_sent = Some(now);
            ex.push(id, format!("PING {SERVER_NAME}"));
        }
        for (id, reason) in expired {
            self.remove(id, &reason, true, ex);
        }
    }
}

/// The real core and the model side by side, checked after every step.
/// Both simulated clocks at `ms` on the wall clock: the monotonic clock
/// starts at 0 when the wall clock reads `START_MS`.
fn clock(ms: u64) -> Now {
    Now {
        mono: Instant(ms - START_MS),
        wall: Timestamp(ms),
    }
}

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
                conns: BTreeMap::new(),
                nicks: BTreeMap::new(),
                rooms: BTreeMap::new(),
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
                self.model.conns.insert(
                    conn,
                    MConn {
                        nick: None,
                        user: false,
                        registered: false,
                        cap_negotiating: false,
                        echo: false,
                        rooms: BTreeSet::new(),
                        connected_at: now,
                        last_active: now,
                        ping_sent: None,
                    },
                );
                let event = Event::Connected {
                    conn,
                    peer: format!("127.0.0.1:{}", 10000 + conn.0 % 50000),
                    now: clock(now),
                };
                self.open_before.insert(conn);
                self.run(event, Expect::default(), op)
            }
            Op::Tick { secs } => {
                self.now += secs * 1000;
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
            | Op::CapEnd { slot }
            | Op::Join { slot, .. }
            | Op::JoinZero { slot }
            | Op::Part { slot, .. }
            | Op::Say { slot, .. }
            | Op::Topic { slot, .. }
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
            Op::CapEnd { .. } => "CAP END".into(),
            Op::Join { rooms, .. } => format!("JOIN {}", rooms.join(",")),
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
            Op::CapEnd { .. } => {
                m.conns.get_mut(&conn).expect("open").cap_negotiating = false;
                m.try_register(conn, ex);
            }
            Op::Join { rooms, .. } => {
                for name in rooms.iter().filter(|n| !n.is_empty()) {
                    m.join(conn, name, ex);
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
                let folded = casefold(room);
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
                // Up to four comma-separated targets, each handled in turn.
                for one in target.split(',').filter(|t| !t.is_empty()).take(4) {
                    m.say(conn, one, text, *notice, ex);
                }
            }
            Op::Topic { room, .. } => m.topic(conn, room, text, ex),
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
            Op::Garbage { kind, .. } => {
                if GARBAGE[*kind].0 == "NICK" {
                    ex.push(conn, numeric("431", &m.target_nick(conn), ""));
                }
            }
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
        let mut names: BTreeMap<(ConnId, String), Vec<String>> = BTreeMap::new();
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
                Action::Persist(_) => continue,
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
            if msg.command == "353" {
                let listed = msg.param(3).split(' ').filter(|n| !n.is_empty());
                let entry = names.entry((targets[0], msg.param(2).to_string()));
                entry.or_default().extend(listed.map(str::to_string));
            }
            let Some(key) = normalize(&msg) else { continue };
            if matches!(msg.command.as_str(), "PRIVMSG" | "NOTICE") && msg.param(0).starts_with('#')
            {
                let folded = casefold(msg.param(0));
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
                actual.entry(to).or_default().push(key.clone());
            }
        }

        let mut expected = expect.lines;
        for lines in expected.values_mut().chain(actual.values_mut()) {
            lines.sort();
        }
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
        for ((conn, room), want) in &expect.names {
            let mut got = names.remove(&(*conn, room.clone())).unwrap_or_default();
            got.sort();
            let want: Vec<String> = want.iter().cloned().collect();
            if got != want {
                return Err(format!(
                    "{describe}: {conn} joined {room}; NAMES listed {got:?}, members are {want:?}"
                ));
            }
        }
        let mut want_logs = expect.logs;
        want_logs.sort();
        logs.sort();
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
                if !folded_nicks.insert(casefold(n)) {
                    return Err(format!(
                        "{describe}: nick {n} is held twice (case-insensitively)"
                    ));
                }
            }
        }
        for name in ROOMS.iter().chain([&BAD_ROOM]) {
            let folded = casefold(name);
            let core: Option<BTreeSet<ConnId>> =
                self.server.room(name).map(|r| r.members().collect());
            let model = self.model.rooms.get(&folded).map(|r| r.members.clone());
            if core != model {
                return Err(format!(
                    "{describe}: room {name} members: core {core:?}, model {model:?}"
                ));
            }
        }
        Ok(())
    }
}

/// A log record in the model's terms.
fn log_key(entry: &LogEntry) -> String {
    let room = |r: &Option<String>| r.clone().unwrap_or_else(|| "-".into());
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
    }
}

/// The chat-relevant content of a server line, or `None` for lines the model
/// does not track.
fn normalize(msg: &Message) -> Option<String> {
    let cmd = msg.command.as_str();
    let from_user = msg
        .source
        .as_deref()
        .and_then(|s| s.split_once('!'))
        .map(|(n, _)| n);
    match (cmd, from_user) {
        ("JOIN" | "PART" | "QUIT" | "NICK" | "PRIVMSG" | "NOTICE" | "TOPIC", Some(nick)) => {
            Some(format!("{cmd} {nick} {}", msg.params.join("|")))
        }
        ("ERROR", _) => Some("ERROR".into()),
        ("PING", None) => Some(format!("PING {}", msg.params.join("|"))),
        ("PONG", None) => Some(format!("PONG {}", msg.params.join("|"))),
        _ if TRACKED_NUMERICS.contains(&cmd) => {
            let subject = if msg.params.len() >= 3 {
                msg.param(1)
            } else {
                ""
            };
            Some(numeric(cmd, msg.param(0), subject))
        }
        _ => None,
    }
}

/// SplitMix64: a tiny seeded PRNG, so runs replay exactly from their seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `name` with each ASCII letter's case flipped where `mask` has a 1 bit.
pub fn recase(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, ch)| {
            if mask >> (i % 64) & 1 == 1 {
                if ch.is_ascii_lowercase() {
                    ch.to_ascii_uppercase()
                } else {
                    ch.to_ascii_lowercase()
                }
            } else {
                ch
            }
        })
        .collect()
}
