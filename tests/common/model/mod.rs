//! A reference model of the chat rules, and a [`World`] that runs the real
//! core beside it and checks every step.
//!
//! The model is deliberately simple: connections (open, registered, nick,
//! host, capabilities, +i, away message, watch list, when they last
//! spoke), rooms (members, operators, voiced members, modes, ban and
//! exception lists, invitations) and, for each operation, the lines each
//! client should see, in order. The [`World`] feeds the same operation to
//! the real `Server`, parses every line it sends exactly as a client would
//! (`Message::parse`), and compares each connection's lines in order.
//! Shared by the proptest (`tests/core_model.rs`) and the seeded simulation
//! (`tests/simulation.rs`).
//!
//! The model keeps its own rules: name folding and validity
//! ([`names`]), masks, modes, KICK and INVITE ([`moderation`]), AWAY and
//! MONITOR (`presence`), NAMES, WHO and WHOIS (`queries`); it never calls
//! natter's `Room`, mode parser, mask matcher or name checks. Where the
//! core and the model disagree, Modern IRC and the IRCv3 specifications
//! decide.
//!
//! Compared exactly, per connection and in order:
//! - JOIN, PART, QUIT, NICK, PRIVMSG, NOTICE, TOPIC, MODE, KICK, INVITE and
//!   AWAY (`away-notify`) from users, a user's own MODE ±i, ERROR, PING
//!   and PONG;
//! - the numerics in [`TRACKED_NUMERICS`] (numeric, target, subject);
//! - with all their parameters: 301 (away message, to who PRIVMSGs an
//!   away user and in WHOIS), 311, 312 (server), 317 (idle, signon), 352
//!   (every WHO row: room, user, host, server, nick, H/G and prefixes, real
//!   name), 324 and the list entries 346/348/367 (but the time);
//! - item by item, however the core packs them into lines: 353 (NAMES on
//!   JOIN and explicit, with the `=`/`@` symbol), 319 (WHOIS rooms with
//!   prefixes), 730/731 (MONITOR replies and the notifications to `*`
//!   when a watched nick registers, changes nick, quits or is dropped)
//!   and 732.
//!
//! The rest (MOTD, ISUPPORT, topic on join, CAP, 734, …) must still parse,
//! fit in 512 bytes and go only to open connections. Not modelled: server
//! operators (no OPER in the scripts, so no `*` flag or 313), bots, WHOX,
//! WHO masks with `!`/`@`, `extended-monitor`, and a watch list reaching
//! its limit (the model follows the rule, but no script gets there).
#![allow(dead_code)]

pub mod moderation;
pub mod names;
mod presence;
mod queries;
mod world;

// Not every test binary that includes `common` uses the world.
#[allow(unused_imports)]
pub use world::{RoomView, World};

use moderation::{MaskEntry, Modes};
use names::{fold, valid_channel, valid_nick, NICKLEN};
use natter::core::ConnId;
use std::collections::{BTreeMap, BTreeSet};

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

/// Channel keys the scripts set and try (`+k`, `JOIN #room key`).
pub const KEYS: &[&str] = &["sesame", "hunter2"];

/// The numerics compared as `<numeric> <target> <subject>` (the subject
/// is the second parameter when there are three or more). The numerics
/// compared with more of their parameters, or item by item, are listed in
/// the module documentation and in `world::normalize`.
pub const TRACKED_NUMERICS: &[&str] = &[
    "001", "305", "306", "315", "318", "324", "341", "346", "347", "348", "349", "366", "367",
    "368", "401", "403", "404", "431", "432", "433", "435", "441", "442", "443", "451", "462",
    "471", "472", "473", "474", "475", "482", "733",
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
    /// `CAP REQ :invite-notify`.
    CapReqInviteNotify {
        slot: usize,
    },
    /// `CAP REQ :<cap>` for one of [`MODELLED_CAPS`].
    CapReq {
        slot: usize,
        cap: String,
    },
    CapEnd {
        slot: usize,
    },
    /// `AWAY :message` (away), or `AWAY` / `AWAY :` (back).
    Away {
        slot: usize,
        message: Option<String>,
    },
    /// `MODE <own nick> +i` or `-i`.
    UserMode {
        slot: usize,
        invisible: bool,
    },
    /// `WHO <#room|nick>`.
    Who {
        slot: usize,
        target: String,
    },
    /// `WHOIS <nick>`.
    Whois {
        slot: usize,
        nick: String,
    },
    /// `NAMES <room[,room…]>`.
    Names {
        slot: usize,
        rooms: String,
    },
    /// `MONITOR + a,b`, `- a`, `C`, `L` or `S`.
    Monitor {
        slot: usize,
        cmd: MonitorCmd,
    },
    /// `JOIN a,b,… [key,key,…]` (keys pair with rooms in order).
    Join {
        slot: usize,
        rooms: Vec<String>,
        keys: Vec<String>,
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
    /// `MODE room [modes [args…]]`; empty `modes` asks for the room's modes.
    Mode {
        slot: usize,
        room: String,
        modes: String,
        args: Vec<String>,
    },
    /// `KICK room nick[,nick…] [:comment]`.
    Kick {
        slot: usize,
        room: String,
        nicks: Vec<String>,
        comment: Option<String>,
    },
    /// `INVITE nick room`.
    Invite {
        slot: usize,
        nick: String,
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

/// What a `MONITOR` line asks for.
#[derive(Clone, Debug)]
pub enum MonitorCmd {
    Add(Vec<String>),
    Remove(Vec<String>),
    Clear,
    List,
    Status,
}

/// Capabilities the scripts request with [`Op::CapReq`] (echo-message and
/// invite-notify have ops of their own).
pub const MODELLED_CAPS: &[&str] = &["away-notify", "multi-prefix"];

/// Away messages the scripts set (an empty one means "back").
pub const AWAY_MESSAGES: &[&str] = &["gone fishing", "brb", ""];

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
    invite_notify: bool,
    away_notify: bool,
    multi_prefix: bool,
    /// User mode +i.
    invisible: bool,
    /// The away message, while away.
    away: Option<String>,
    /// Case-folded nick → the nick as the client first spelled it (MONITOR).
    monitoring: BTreeMap<String, String>,
    /// The host in its `nick!user@host` (from the peer address).
    host: String,
    rooms: BTreeSet<String>,
    connected_at: u64,
    last_active: u64,
    /// The last PRIVMSG or NOTICE it sent (WHOIS idle time).
    last_spoke: u64,
    ping_sent: Option<u64>,
}

#[derive(Clone, Debug)]
struct MRoom {
    name: String,
    members: BTreeSet<ConnId>,
    /// Members with channel-operator status (`@`, `+o`).
    ops: BTreeSet<ConnId>,
    /// Members with voice (`+`, `+v`).
    voiced: BTreeSet<ConnId>,
    modes: Modes,
    bans: Vec<MaskEntry>,
    excepts: Vec<MaskEntry>,
    invex: Vec<MaskEntry>,
    /// Pending invitations: each admits its connection once.
    invited: BTreeSet<ConnId>,
}

impl MRoom {
    fn new(name: &str) -> MRoom {
        MRoom {
            name: name.to_string(),
            members: BTreeSet::new(),
            ops: BTreeSet::new(),
            voiced: BTreeSet::new(),
            modes: Modes::new_room(),
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
            invited: BTreeSet::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// The model's state
// ---------------------------------------------------------------------------

/// What one step should produce: each connection's normalized lines in the
/// order it must receive them, server.log records in order, and closes.
#[derive(Default, Debug)]
struct Expect {
    lines: BTreeMap<ConnId, Vec<String>>,
    closes: BTreeSet<ConnId>,
    /// Normalized server.log records (see `world::log_key`).
    logs: Vec<String>,
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
    /// The wall clock in milliseconds, as the world last set it.
    now: u64,
    conns: BTreeMap<ConnId, MConn>,
    nicks: BTreeMap<String, ConnId>,
    rooms: BTreeMap<String, MRoom>,
    /// How often each rule decided a step (`JOIN refused (474)`, …): with
    /// the core agreeing at every step, proof that a run exercised it.
    rules: BTreeMap<String, u64>,
}

/// PART and QUIT reasons are relayed cut to 300 bytes (so lines fit 512).
fn cut_reason(r: &str) -> &str {
    &r[..r.len().min(300)]
}

/// A room as server.log names it: `-` for the default room.
fn log_room(name: &str) -> String {
    if fold(name) == "#lobby" {
        "-".into()
    } else {
        name.to_string()
    }
}

fn numeric(num: &str, target: &str, subject: &str) -> String {
    format!("{num} {target} {subject}")
}

// ---------------------------------------------------------------------------
// Connections: registration, leaving
// ---------------------------------------------------------------------------

impl Model {
    /// Counts one decision by the rule named `rule`.
    fn hit(&mut self, rule: &str) {
        *self.rules.entry(rule.to_string()).or_default() += 1;
    }

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
        // After the welcome burst: whoever MONITORs the nick hears it is on.
        self.monitor_online(conn, ex);
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
            self.nicks.remove(&fold(nick));
        }
        match c.nick.as_ref().filter(|_| c.registered) {
            Some(nick) => {
                ex.push_all(peers, &format!("QUIT {nick} {reason}"));
                // Its own watch list went with it; its watchers hear 731.
                self.monitor_offline(nick, ex);
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
        for room in self.rooms.values_mut() {
            room.invited.remove(&conn);
        }
    }

    /// Takes `conn` out of a room (not out of its own room set).
    fn drop_member(&mut self, conn: ConnId, folded: &str) {
        let room = self.rooms.get_mut(folded).expect("member's room exists");
        room.members.remove(&conn);
        room.ops.remove(&conn);
        room.voiced.remove(&conn);
        // An emptied room goes, with its modes, lists and invitations.
        if room.members.is_empty() {
            self.rooms.remove(folded);
        }
    }

    // -----------------------------------------------------------------------
    // Rooms: PART and JOIN (JOIN through the moderation gate)
    // -----------------------------------------------------------------------

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

    fn join(&mut self, conn: ConnId, name: &str, key: Option<&str>, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        if !valid_channel(name) {
            ex.push(conn, numeric("403", &nick, name));
            return;
        }
        let folded = fold(name);
        if self.conns[&conn].rooms.contains(&folded) {
            return;
        }
        // Bans, +i, +k and +l (an invitation admits past them once).
        if let Some(refusal) = self.join_gate(conn, &folded, key) {
            ex.push(conn, numeric(refusal, &nick, &self.rooms[&folded].name));
            return;
        }
        let c = self.conns.get_mut(&conn).expect("open");
        c.rooms.insert(folded.clone());
        let room = self.rooms.entry(folded).or_insert_with(|| MRoom::new(name));
        // Whoever opens an empty room becomes its operator.
        if room.members.is_empty() {
            room.ops.insert(conn);
        }
        room.members.insert(conn);
        room.invited.remove(&conn);
        let line = format!("JOIN {nick} {}", room.name);
        ex.push_all(room.members.iter().copied(), &line);
        ex.log(format!("Joined {nick} {}", log_room(&room.name)));
        let folded = fold(name);
        self.away_on_join(conn, &folded, ex);
        // The joiner gets the member list (topic lines are not tracked).
        self.send_names(conn, &folded, ex);
    }

    // -----------------------------------------------------------------------
    // Nicknames
    // -----------------------------------------------------------------------

    fn nick(&mut self, conn: ConnId, wanted: &str, ex: &mut Expect) {
        let target = self.target_nick(conn);
        if wanted.is_empty() {
            ex.push(conn, numeric("431", &target, ""));
            return;
        }
        if !valid_nick(wanted) {
            // The reply quotes the refused nick cut to NICKLEN + 1 characters.
            let shown: String = wanted.chars().take(NICKLEN + 1).collect();
            ex.push(conn, numeric("432", &target, &shown));
            return;
        }
        let folded = fold(wanted);
        if self.nicks.get(&folded).is_some_and(|&o| o != conn) {
            ex.push(conn, numeric("433", &target, wanted));
            return;
        }
        // Not a nick that is banned in one of its rooms (unless voiced or
        // operator there). Checked before "same nick, nothing to do", as
        // natter does.
        if self.nick_gate(conn, wanted).is_some() {
            ex.push(conn, numeric("435", &target, wanted));
            return;
        }
        let c = self.conns.get_mut(&conn).expect("open");
        if c.nick.as_deref() == Some(wanted) {
            return;
        }
        if let Some(old) = c.nick.replace(wanted.to_string()) {
            self.nicks.remove(&fold(&old));
        }
        self.nicks.insert(folded, conn);
        if !self.conns[&conn].registered {
            self.try_register(conn, ex);
            return;
        }
        let mut to = self.peers(conn);
        to.insert(conn);
        ex.push_all(to, &format!("NICK {target} {wanted}"));
        // A change of case only keeps the same nick online.
        if fold(&target) != fold(wanted) {
            self.monitor_offline(&target, ex);
            self.monitor_online(conn, ex);
        }
        ex.log(format!("NickChange {target} {wanted}"));
    }

    // -----------------------------------------------------------------------
    // PRIVMSG, NOTICE and TOPIC (through the moderation gate)
    // -----------------------------------------------------------------------

    /// A message to one room or nick.
    fn say(&mut self, conn: ConnId, target: &str, text: &str, notice: bool, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        let cmd = if notice { "NOTICE" } else { "PRIVMSG" };
        let line = format!("{cmd} {nick} {target}|{text}");
        let echo = self.conns[&conn].echo;
        let folded = fold(target);
        if target.starts_with('#') {
            let Some(room) = self.rooms.get(&folded) else {
                if !notice {
                    ex.push(conn, numeric("401", &nick, target));
                }
                return;
            };
            let name = room.name.clone();
            // +n, +m and bans; NOTICE never gets an error back.
            if self.speak_gate(conn, &folded).is_some() {
                if !notice {
                    ex.push(conn, numeric("404", &nick, &name));
                }
                return;
            }
            let room = &self.rooms[&folded];
            let member = room.members.contains(&conn);
            let to = room.members.iter().copied().filter(|&m| echo || m != conn);
            ex.push_all(to, &line);
            if !member {
                self.hit("message to a -n room from outside");
                // echo-message: the sender gets its message back, member or
                // not.
                if echo {
                    ex.push(conn, line.clone());
                }
            }
            let kind = if notice { "Notice" } else { "Message" };
            ex.log(format!("{kind} {nick} {} {text}", log_room(&name)));
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
        // PRIVMSG to someone away is answered with their away message;
        // NOTICE never is (no automatic replies to a NOTICE).
        if !notice {
            self.tell_if_away(conn, to, ex);
        }
        ex.push(to, line.clone());
        if echo && to != conn {
            ex.push(conn, line);
        }
        let to_nick = self.conns[&to].nick.clone().unwrap_or_default();
        ex.log(format!("Private {nick} {to_nick}"));
    }

    fn topic(&mut self, conn: ConnId, name: &str, text: &str, ex: &mut Expect) {
        let nick = self.target_nick(conn);
        let folded = fold(name);
        let Some(room) = self.rooms.get(&folded) else {
            ex.push(conn, numeric("403", &nick, name));
            return;
        };
        if !room.members.contains(&conn) {
            ex.push(conn, numeric("442", &nick, name));
            return;
        }
        let name = room.name.clone();
        // Under +t (as rooms start) only operators set the topic.
        match (room.modes.topic_lock, room.ops.contains(&conn)) {
            (true, false) => {
                ex.push(conn, numeric("482", &nick, &name));
                self.hit("TOPIC refused: +t and not an operator (482)");
                return;
            }
            (false, false) => self.hit("TOPIC by a non-operator in a -t room"),
            _ => {}
        }
        let room = &self.rooms[&folded];
        let line = format!("TOPIC {nick} {}|{text}", room.name);
        ex.push_all(room.members.iter().copied(), &line);
        ex.log(format!("Topic {nick} {} {text}", log_room(&room.name)));
    }

    // -----------------------------------------------------------------------
    // Liveness: PING and timeouts
    // -----------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Randomness for the generators
// ---------------------------------------------------------------------------

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
