//! [`Server`]: the chat rules for every connection and room.
//!
//! Owns registration, nicknames, rooms, message delivery, liveness and the
//! log records. Pure: must never touch sockets, clocks, files, threads or
//! randomness, and never panic on any input a client can send.

use super::action::{Action, OutLine};
use super::config::ServerConfig;
use super::connection::{Caps, Connection};
use super::event::{ConnId, Event, Timestamp};
use super::history::{server_time, HistoryKind, HistoryRecord, RoomHistory, Selector};
use super::log::{LogEntry, LogRecord};
use super::room::{Room, Topic};
use crate::proto::numeric::*;
use crate::proto::{
    casefold, is_valid_channel, is_valid_nick, LineError, Message, ParseError, CHANNELLEN,
    MAX_LINE, NICKLEN, TOPICLEN,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The version string shown in 002 and 004.
pub const VERSION: &str = concat!("natter-", env!("CARGO_PKG_VERSION"));

/// Longest PART or QUIT reason relayed: with the longest source and room
/// name the relayed line still fits in 512 bytes.
const REASONLEN: usize = 300;

/// Longest middle parameter of a numeric reply (names are at most
/// CHANNELLEN): keeps replies that echo a client's words inside 512 bytes.
const TOKENLEN: usize = 64;

/// Capabilities this server offers in `CAP LS`.
const CAPABILITIES: &[&str] = &[
    "echo-message",
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
];

/// The chat server state machine.
///
/// The shell's run loop, in order:
/// 1. Feed each [`Event`] to [`Server::handle_event`] in the order they happened.
/// 2. After every event (or a batch of them), drain [`Server::poll_action`]
///    until it returns `None`, carrying out each [`Action`] in order.
/// 3. Send [`Event::Tick`] at least once a second so pings and timeouts run.
///
/// ```
/// use natter::core::{Action, ConnId, Event, Server, ServerConfig, Timestamp};
/// let mut server = Server::new(ServerConfig::default());
/// let now = Timestamp(0);
/// server.handle_event(Event::Connected { conn: ConnId(1), peer: "127.0.0.1:5000".into(), now });
/// for line in ["NICK John", "USER john 0 * :John", "JOIN #lobby"] {
///     server.handle_event(Event::Line { conn: ConnId(1), line: line.into(), now });
/// }
/// let actions: Vec<Action> = std::iter::from_fn(|| server.poll_action()).collect();
/// assert!(actions.iter().any(|a| matches!(a, Action::Send { line, .. } if line.contains(" 001 John "))));
/// ```
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    /// The default room's name case-folded, to tell its log lines apart.
    default_room_folded: String,
    connections: BTreeMap<ConnId, Connection>,
    /// Case-folded nickname → its connection.
    nicks: BTreeMap<String, ConnId>,
    /// Case-folded room name → room.
    rooms: BTreeMap<String, Room>,
    /// Case-folded room name → its retained history (outlives the room).
    history: BTreeMap<String, RoomHistory>,
    /// The next message id; seeded by [`Event::HistoryRestored`].
    next_id: u64,
    /// The next `BATCH` reference number.
    next_batch: u64,
    outbox: VecDeque<Action>,
}

impl Server {
    /// A server with no connections.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            default_room_folded: casefold(&config.default_room),
            config,
            connections: BTreeMap::new(),
            nicks: BTreeMap::new(),
            rooms: BTreeMap::new(),
            history: BTreeMap::new(),
            next_id: 1,
            next_batch: 1,
            outbox: VecDeque::new(),
        }
    }

    /// The configuration this server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Apply one event. Its actions are queued for [`Server::poll_action`].
    pub fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected { conn, peer, now } => {
                let c = Connection::new(&peer, now, self.config.password.is_some());
                self.connections.insert(conn, c);
            }
            Event::Secured { conn } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.tls = true;
                }
            }
            Event::Line { conn, line, now } => self.handle_line(conn, &line, now),
            Event::BadLine { conn, error, now } => self.handle_bad_line(conn, error, now),
            Event::Disconnected { conn, reason, now } => self.remove(conn, &reason, false, now),
            Event::Tick { now } => self.handle_tick(now),
            Event::HistoryRestored { records, next_id } => self.restore(records, next_id),
            Event::Shutdown { now } => {
                let all: Vec<ConnId> = self.connections.keys().copied().collect();
                for conn in all {
                    self.close_with_error(conn, "Server shutting down", now);
                }
            }
        }
    }

    /// The next action for the shell, in order; `None` when there are none.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.outbox.pop_front()
    }

    /// How many connections are open (registered or not).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// The connection's nickname, if it has one.
    pub fn nick_of(&self, conn: ConnId) -> Option<&str> {
        self.connections.get(&conn)?.nick.as_deref()
    }

    /// The room called `name` (any case), if it exists.
    pub fn room(&self, name: &str) -> Option<&Room> {
        self.rooms.get(&casefold(name))
    }

    /// The retained history of the room called `name` (any case), oldest first.
    pub fn history(&self, name: &str) -> Option<&RoomHistory> {
        self.history.get(&casefold(name))
    }

    /// The registered user called `nick` (any case). A nick held by a
    /// connection still registering is reserved, but is not a user yet:
    /// nothing is routed to it and WHO/WHOIS/MODE do not show it.
    fn user(&self, nick: &str) -> Option<ConnId> {
        let id = *self.nicks.get(&casefold(nick))?;
        self.connections.get(&id)?.registered.then_some(id)
    }

    // ----- output helpers -------------------------------------------------

    fn emit(&mut self, action: Action) {
        self.outbox.push_back(action);
    }

    fn line(msg: &Message) -> OutLine {
        Arc::from(msg.to_string())
    }

    fn send(&mut self, to: ConnId, msg: &Message) {
        self.emit(Action::Send {
            to,
            line: Self::line(msg),
        });
    }

    fn broadcast(&mut self, to: Vec<ConnId>, msg: &Message) {
        if !to.is_empty() {
            self.emit(Action::Broadcast {
                to,
                line: Self::line(msg),
            });
        }
    }

    /// Like [`Server::broadcast`], tagged with `record`'s time and msgid for
    /// the recipients that enabled them: one shared line per distinct set
    /// of tag capabilities among the recipients, never one per recipient.
    fn broadcast_tagged(&mut self, mut to: Vec<ConnId>, msg: &Message, record: &HistoryRecord) {
        // Only message-tags and server-time change a live line, so there are
        // four shapes at most, indexed `2 * message_tags + server_time` (the
        // order of `Caps`). The plain shape keeps `to` itself: in a room of
        // clients without tags nothing is regrouped or reallocated.
        let mut tagged_groups: [Vec<ConnId>; 4] = Default::default();
        let connections = &self.connections;
        to.retain(|conn| {
            let shape = connections.get(conn).map_or(0, |c| {
                2 * usize::from(c.caps.message_tags) + usize::from(c.caps.server_time)
            });
            if shape != 0 {
                tagged_groups[shape].push(*conn);
            }
            shape == 0
        });
        tagged_groups[0] = to;
        for (shape, to) in tagged_groups.into_iter().enumerate() {
            if to.is_empty() {
                continue;
            }
            let caps = Caps {
                message_tags: shape & 2 != 0,
                server_time: shape & 1 != 0,
                ..Caps::default()
            };
            let line: OutLine = Arc::from(tagged(msg, caps, Some(record), None));
            self.emit(Action::Broadcast { to, line });
        }
    }

    /// Gives `kind` the next message id and server time `now`, and asks the
    /// shell to store it. Call before emitting any line that carries it.
    fn record(
        &mut self,
        kind: HistoryKind,
        target: &str,
        source: &str,
        text: &str,
        now: Timestamp,
    ) -> HistoryRecord {
        let record = HistoryRecord {
            id: self.next_id,
            at: now,
            kind,
            target: target.into(),
            source: source.into(),
            text: text.into(),
        };
        self.next_id += 1;
        if kind.is_replayed() {
            let max = self.config.history_max_messages;
            self.history
                .entry(casefold(target))
                .or_default()
                .push(record.clone(), max);
        }
        self.emit(Action::Persist(record.clone()));
        record
    }

    /// Takes what the store kept from earlier runs.
    fn restore(&mut self, records: Vec<HistoryRecord>, next_id: u64) {
        let max = self.config.history_max_messages;
        for record in records {
            self.next_id = self.next_id.max(record.id.saturating_add(1));
            if record.kind.is_replayed() && record.target.starts_with('#') {
                let folded = casefold(&record.target);
                let window = self.history.entry(folded).or_default();
                if window.last().is_none_or(|last| last.id < record.id) {
                    window.push(record, max);
                }
            }
        }
        self.next_id = self.next_id.max(next_id);
    }

    /// Sends `records` of `room` to `conn` as history: inside a
    /// `chathistory` batch with their own time and msgid for clients that
    /// enabled `batch`/`server-time`/`message-tags`; for other clients each
    /// text is prefixed with its time (as bouncers such as ZNC replay a
    /// buffer), between two server notices when `announce` is set.
    fn replay(&mut self, conn: ConnId, room: &str, records: &[HistoryRecord], announce: bool) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let caps = c.caps;
        let server = self.config.server_name.clone();
        let batch = caps.batch.then(|| {
            let id = format!("h{}", self.next_batch);
            self.next_batch += 1;
            id
        });
        let plain = !caps.batch && !caps.server_time;
        let zone = chrono::FixedOffset::east_opt(self.config.utc_offset_secs)
            .unwrap_or(chrono::Offset::fix(&chrono::Utc));
        if let Some(id) = &batch {
            let open = Message::new(
                "BATCH",
                [format!("+{id}"), "chathistory".into(), room.into()],
            )
            .with_source(server.clone());
            self.send(conn, &open);
        } else if plain && announce {
            if records.is_empty() {
                return;
            }
            let text = format!("Replaying the last {} messages of {room}", records.len());
            let m = Message::new("NOTICE", [room, &text]).with_source(server.clone());
            self.send(conn, &m);
        }
        for r in records {
            let text = if plain {
                let at = chrono::DateTime::from_timestamp_millis(r.at.0 as i64)
                    .map(|t| t.with_timezone(&zone))
                    .map(|t| t.format("[%Y-%m-%d %H:%M:%S] ").to_string())
                    .unwrap_or_default();
                let budget = MAX_LINE.saturating_sub(r.source.len() + room.len() + 20);
                format!("{at}{}", truncate(&r.text, budget.saturating_sub(at.len())))
            } else {
                r.text.to_string()
            };
            let m = Message::new(r.command(), [room, &text]).with_source(r.source.to_string());
            let line: OutLine = Arc::from(tagged(&m, caps, Some(r), batch.as_deref()));
            self.emit(Action::Send { to: conn, line });
        }
        if let Some(id) = &batch {
            let close = Message::new("BATCH", [format!("-{id}")]).with_source(server);
            self.send(conn, &close);
        } else if plain && announce {
            let m = Message::new("NOTICE", [room, "End of history"]).with_source(server);
            self.send(conn, &m);
        }
    }

    fn log(&mut self, at: Timestamp, entry: LogEntry) {
        self.emit(Action::Log(LogRecord { at, entry }));
    }

    /// Sends a numeric reply `:<server> <numeric> <nick|*> <params…>`.
    fn reply(&mut self, conn: ConnId, numeric: &str, params: &[&str]) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(c.nick_or_star().to_string());
        let last = params.len().saturating_sub(1);
        for (i, p) in params.iter().enumerate() {
            all.push(if i < last { token(p) } else { p.to_string() });
        }
        let msg = Message::new(numeric, all).with_source(self.config.server_name.clone());
        self.send(conn, &msg);
    }

    fn server_notice(&mut self, conn: ConnId, text: &str) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let msg = Message::new("NOTICE", [c.nick_or_star(), text])
            .with_source(self.config.server_name.clone());
        self.send(conn, &msg);
    }

    /// The room name as logged: `None` for the default room.
    fn log_room(&self, folded: &str) -> Option<String> {
        if self.default_room_folded == folded {
            None
        } else {
            self.rooms.get(folded).map(|r| r.name().to_string())
        }
    }

    // ----- input ----------------------------------------------------------

    fn handle_bad_line(&mut self, conn: ConnId, error: LineError, now: Timestamp) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.last_active = now;
        c.ping_sent = None;
        match error {
            LineError::TooLong { .. } => {
                self.reply(conn, ERR_INPUTTOOLONG, &["Input line was too long"])
            }
            LineError::InvalidUtf8 => self.server_notice(
                conn,
                "Your line was not valid UTF-8 and was dropped; set your client to UTF-8",
            ),
        }
    }

    fn handle_line(&mut self, conn: ConnId, line: &str, now: Timestamp) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.last_active = now;
        c.ping_sent = None;
        let registered = c.registered;
        let (rate, burst) = (
            self.config.flood_lines_per_sec,
            self.config.flood_burst_lines,
        );
        if !c.charge_line(now, rate, burst) {
            self.close_with_error(conn, "Excess Flood", now);
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
        let command = msg.command.to_ascii_uppercase();
        match command.as_str() {
            "CAP" => self.handle_cap(conn, &msg, now),
            "PASS" => self.handle_pass(conn, &msg, now),
            "NICK" => self.handle_nick(conn, &msg, now),
            "USER" => self.handle_user(conn, &msg, now),
            "PING" => self.handle_ping(conn, &msg),
            "PONG" => {}
            "QUIT" => {
                let reason = match msg.params.first() {
                    Some(r) if !r.is_empty() => format!("Quit: {}", truncate(r, REASONLEN)),
                    _ => "Quit".to_string(),
                };
                self.remove(conn, &reason, true, now);
            }
            _ if !registered => self.reply(conn, ERR_NOTREGISTERED, &["You have not registered"]),
            "JOIN" => self.handle_join(conn, &msg, now),
            "PART" => self.handle_part(conn, &msg, now),
            "PRIVMSG" | "NOTICE" => self.handle_message(conn, &msg, &command, now),
            "NAMES" => self.handle_names(conn, &msg),
            "TOPIC" => self.handle_topic(conn, &msg, now),
            "LIST" => self.handle_list(conn),
            "WHO" => self.handle_who(conn, &msg),
            "WHOIS" => self.handle_whois(conn, &msg),
            "MODE" => self.handle_mode(conn, &msg),
            "MOTD" => self.send_motd(conn),
            "CHATHISTORY" => self.handle_chathistory(conn, &msg),
            _ => {
                let word: String = msg.command.chars().take(32).collect();
                self.reply(conn, ERR_UNKNOWNCOMMAND, &[&word, "Unknown command"]);
            }
        }
    }

    // ----- registration ---------------------------------------------------

    fn handle_cap(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
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
        match sub.as_str() {
            "LS" => {
                if !c.registered {
                    c.cap_negotiating = true;
                }
                let mut caps = CAPABILITIES.join(" ");
                // Capability values (and so `sts`) only for `CAP LS 302` clients.
                let v302 = msg.param(1).parse::<u32>().is_ok_and(|v| v >= 302);
                if let (true, Some(sts)) = (v302, &self.config.sts) {
                    caps.push(' ');
                    caps.push_str(&sts.capability(c.tls));
                }
                let m = cap_reply(vec!["LS".into(), caps]);
                self.send(conn, &m);
            }
            "LIST" => {
                let enabled: Vec<&str> = CAPABILITIES
                    .iter()
                    .copied()
                    .filter(|cap| cap_enabled(c, cap))
                    .collect();
                let m = cap_reply(vec!["LIST".into(), enabled.join(" ")]);
                self.send(conn, &m);
            }
            "REQ" => {
                if !c.registered {
                    c.cap_negotiating = true;
                }
                let requested = msg.param(1).to_string();
                let wanted: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
                let known = |cap: &str| CAPABILITIES.contains(&cap.trim_start_matches('-'));
                let ok = !wanted.is_empty() && wanted.iter().all(|cap| known(cap));
                if ok {
                    for cap in &wanted {
                        match cap.strip_prefix('-') {
                            Some(cap) => set_cap(c, cap, false),
                            None => set_cap(c, cap, true),
                        }
                    }
                }
                let verdict = if ok { "ACK" } else { "NAK" };
                let m = cap_reply(vec![verdict.into(), requested]);
                self.send(conn, &m);
            }
            "END" => {
                c.cap_negotiating = false;
                self.try_complete_registration(conn, now);
            }
            _ => {
                let sub = if sub.is_empty() { "*".to_string() } else { sub };
                self.reply(conn, ERR_INVALIDCAPCMD, &[&sub, "Invalid CAP command"]);
            }
        }
    }

    fn handle_pass(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.registered {
            self.reply(conn, ERR_ALREADYREGISTERED, &["You may not reregister"]);
            return;
        }
        if msg.params.is_empty() {
            self.reply(conn, ERR_NEEDMOREPARAMS, &["PASS", "Not enough parameters"]);
            return;
        }
        match &self.config.password {
            Some(password) if password == msg.param(0) => c.password_ok = true,
            Some(_) => {
                self.reply(conn, ERR_PASSWDMISMATCH, &["Password incorrect"]);
                self.close_with_error(conn, "Bad password", now);
            }
            None => {}
        }
    }

    fn handle_user(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.registered || c.user.is_some() {
            self.reply(conn, ERR_ALREADYREGISTERED, &["You may not reregister"]);
            return;
        }
        if msg.params.len() < 4 || msg.param(0).is_empty() {
            self.reply(conn, ERR_NEEDMOREPARAMS, &["USER", "Not enough parameters"]);
            return;
        }
        let user: String = msg
            .param(0)
            .chars()
            .filter(|ch| !ch.is_control() && *ch != '@' && *ch != '!')
            .take(16)
            .collect();
        c.user = Some(if user.is_empty() { "user".into() } else { user });
        c.realname = msg.param(3).chars().take(64).collect();
        self.try_complete_registration(conn, now);
    }

    fn handle_nick(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
        let Some(wanted) = msg.params.first().filter(|n| !n.is_empty()).cloned() else {
            self.reply(conn, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
            return;
        };
        if !is_valid_nick(&wanted) {
            let shown: String = wanted.chars().take(NICKLEN + 1).collect();
            self.reply(conn, ERR_ERRONEUSNICKNAME, &[&shown, "Erroneous nickname"]);
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
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.nick.as_deref() == Some(wanted.as_str()) {
            return;
        }
        let old_source = c.source();
        let old = c.nick.replace(wanted.clone());
        if let Some(old) = &old {
            self.nicks.remove(&casefold(old));
        }
        self.nicks.insert(folded, conn);
        if !c.registered {
            self.try_complete_registration(conn, now);
            return;
        }
        let old = old.unwrap_or_default();
        let mut to = self.room_peers(conn);
        to.push(conn);
        to.sort_unstable();
        let m = Message::new("NICK", [wanted.as_str()]).with_source(old_source);
        self.broadcast(to, &m);
        self.log(now, LogEntry::NickChange { old, new: wanted });
    }

    fn try_complete_registration(&mut self, conn: ConnId, now: Timestamp) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.registered || c.cap_negotiating || c.nick.is_none() || c.user.is_none() {
            return;
        }
        if !c.password_ok {
            self.reply(
                conn,
                ERR_PASSWDMISMATCH,
                &["Password required: send PASS first"],
            );
            self.close_with_error(conn, "Password required", now);
            return;
        }
        c.registered = true;
        let nick = c.nick_or_star().to_string();
        let source = c.source();
        let peer = c.peer.clone();
        let name = self.config.server_name.clone();
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
            &[&format!("Your host is {name}, running version {VERSION}")],
        );
        self.reply(
            conn,
            RPL_CREATED,
            &[&format!("This server was created {}", self.config.created)],
        );
        self.reply(conn, RPL_MYINFO, &[&name, VERSION, "i", "nt"]);
        let isupport = [
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".to_string(),
            format!("CHANNELLEN={CHANNELLEN}"),
            format!("NICKLEN={NICKLEN}"),
            format!("TOPICLEN={TOPICLEN}"),
            format!("CHANLIMIT=#:{}", self.config.max_rooms_per_client),
            "CHANMODES=,,,nt".to_string(),
            "PREFIX=".to_string(),
            format!("NETWORK={}", self.config.network),
            format!("CHATHISTORY={}", self.config.chathistory_max),
            "MSGREFTYPES=msgid,timestamp".to_string(),
        ];
        let mut params: Vec<&str> = isupport.iter().map(String::as_str).collect();
        params.push("are supported by this server");
        self.reply(conn, RPL_ISUPPORT, &params);
        self.send_motd(conn);
        self.log(now, LogEntry::Connected { nick, peer });
    }

    fn send_motd(&mut self, conn: ConnId) {
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

    fn handle_ping(&mut self, conn: ConnId, msg: &Message) {
        if msg.params.is_empty() {
            self.reply(conn, ERR_NEEDMOREPARAMS, &["PING", "Not enough parameters"]);
            return;
        }
        let name = self.config.server_name.clone();
        // `:name PONG name :token` within 512 bytes, however long the token.
        let token = truncate(msg.param(0), MAX_LINE.saturating_sub(2 * name.len() + 10));
        let m = Message::new("PONG", [name.as_str(), token]).with_source(name.clone());
        self.send(conn, &m);
    }

    // ----- rooms ----------------------------------------------------------

    /// Everyone sharing at least one room with `conn`, once each, without `conn`.
    fn room_peers(&self, conn: ConnId) -> Vec<ConnId> {
        let Some(c) = self.connections.get(&conn) else {
            return Vec::new();
        };
        let mut peers = BTreeSet::new();
        for folded in &c.rooms {
            if let Some(room) = self.rooms.get(folded) {
                peers.extend(room.members().filter(|&m| m != conn));
            }
        }
        peers.into_iter().collect()
    }

    fn handle_join(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
        if msg.params.is_empty() || msg.param(0).is_empty() {
            self.reply(conn, ERR_NEEDMOREPARAMS, &["JOIN", "Not enough parameters"]);
            return;
        }
        if msg.param(0) == "0" {
            let rooms: Vec<String> = match self.connections.get(&conn) {
                Some(c) => c.rooms.iter().cloned().collect(),
                None => return,
            };
            for folded in rooms {
                self.leave_room(conn, &folded, None, now);
            }
            return;
        }
        for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
            self.join_room(conn, name, now);
        }
    }

    fn join_room(&mut self, conn: ConnId, name: &str, now: Timestamp) {
        if !is_valid_channel(name) {
            let shown: String = name.chars().take(CHANNELLEN + 1).collect();
            self.reply(
                conn,
                ERR_NOSUCHCHANNEL,
                &[&shown, "No such channel (names start with #)"],
            );
            return;
        }
        let folded = casefold(name);
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        if c.rooms.contains(&folded) {
            return;
        }
        if c.rooms.len() >= self.config.max_rooms_per_client {
            self.reply(
                conn,
                ERR_TOOMANYCHANNELS,
                &[name, "You have joined too many channels"],
            );
            return;
        }
        c.rooms.insert(folded.clone());
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let room = self
            .rooms
            .entry(folded.clone())
            .or_insert_with(|| Room::new(name, now));
        room.join(conn);
        let room_name = room.name().to_string();
        let members: Vec<ConnId> = room.members().collect();
        let record = self.record(HistoryKind::Join, &room_name, &source, "", now);
        let m = Message::new("JOIN", [room_name.as_str()]).with_source(source);
        self.broadcast_tagged(members, &m, &record);
        self.send_topic(conn, &folded, false);
        self.send_names(conn, &folded);
        let wanted = self.config.history_on_join;
        if wanted > 0 {
            let records = self
                .history
                .get(&folded)
                .map(|h| h.latest(None, wanted))
                .unwrap_or_default();
            if !records.is_empty() {
                self.replay(conn, &room_name, &records, true);
            }
        }
        let room = self.log_room(&folded);
        self.log(now, LogEntry::Joined { nick, room });
    }

    fn handle_part(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
        if msg.params.is_empty() || msg.param(0).is_empty() {
            self.reply(conn, ERR_NEEDMOREPARAMS, &["PART", "Not enough parameters"]);
            return;
        }
        let reason = msg
            .params
            .get(1)
            .filter(|r| !r.is_empty())
            .map(|r| truncate(r, REASONLEN).to_string());
        for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
            let folded = casefold(name);
            if !self.rooms.contains_key(&folded) {
                self.reply(conn, ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
                continue;
            }
            let member = self
                .connections
                .get(&conn)
                .is_some_and(|c| c.rooms.contains(&folded));
            if !member {
                self.reply(
                    conn,
                    ERR_NOTONCHANNEL,
                    &[name, "You're not on that channel"],
                );
                continue;
            }
            self.leave_room(conn, &folded, reason.clone(), now);
        }
    }

    /// `conn` leaves the room by PART: everyone in it (the leaver too) is told.
    fn leave_room(&mut self, conn: ConnId, folded: &str, reason: Option<String>, now: Timestamp) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.rooms.remove(folded);
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let members: Vec<ConnId> = room.members().collect();
        let mut params = vec![room.name().to_string()];
        // Fit the relayed line into 512 bytes, as for PRIVMSG.
        let overhead = source.len() + room.name().len() + 10;
        params.extend(
            reason
                .as_deref()
                .map(|r| truncate(r, MAX_LINE.saturating_sub(overhead)).to_string()),
        );
        let room_name = room.name().to_string();
        let text = reason.clone().unwrap_or_default();
        let record = self.record(HistoryKind::Part, &room_name, &source, &text, now);
        let m = Message::new("PART", params).with_source(source);
        self.broadcast_tagged(members, &m, &record);
        let log_room = self.log_room(folded);
        self.drop_member(conn, folded);
        self.log(
            now,
            LogEntry::Left {
                nick,
                room: log_room,
                reason,
            },
        );
    }

    /// Removes `conn` from the room, deleting the room when it empties.
    fn drop_member(&mut self, conn: ConnId, folded: &str) {
        if let Some(room) = self.rooms.get_mut(folded) {
            room.part(conn);
            if room.is_empty() {
                self.rooms.remove(folded);
            }
        }
    }

    fn send_topic(&mut self, conn: ConnId, folded: &str, reply_when_unset: bool) {
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let name = room.name().to_string();
        match room.topic().cloned() {
            Some(topic) => {
                self.reply(conn, RPL_TOPIC, &[&name, &topic.text]);
                let at = topic.set_at.secs().to_string();
                self.reply(conn, RPL_TOPICWHOTIME, &[&name, &topic.set_by, &at]);
            }
            None if reply_when_unset => self.reply(conn, RPL_NOTOPIC, &[&name, "No topic is set"]),
            None => {}
        }
    }

    fn send_names(&mut self, conn: ConnId, folded: &str) {
        let Some(room) = self.rooms.get(folded) else {
            return;
        };
        let name = room.name().to_string();
        let nicks: Vec<String> = room
            .members()
            .filter_map(|m| self.connections.get(&m)?.nick.clone())
            .collect();
        // Keep each 353 line comfortably inside the 512-byte limit.
        let budget =
            MAX_LINE.saturating_sub(self.config.server_name.len() + name.len() + NICKLEN + 16);
        let mut chunk = String::new();
        for nick in nicks {
            if !chunk.is_empty() && chunk.len() + 1 + nick.len() > budget {
                self.reply(conn, RPL_NAMREPLY, &["=", &name, &chunk]);
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(' ');
            }
            chunk.push_str(&nick);
        }
        if !chunk.is_empty() {
            self.reply(conn, RPL_NAMREPLY, &["=", &name, &chunk]);
        }
        self.reply(conn, RPL_ENDOFNAMES, &[&name, "End of /NAMES list"]);
    }

    fn handle_names(&mut self, conn: ConnId, msg: &Message) {
        if msg.params.is_empty() {
            self.reply(conn, RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
            return;
        }
        for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
            let folded = casefold(name);
            if self.rooms.contains_key(&folded) {
                self.send_names(conn, &folded);
            } else {
                self.reply(conn, RPL_ENDOFNAMES, &[name, "End of /NAMES list"]);
            }
        }
    }

    fn handle_topic(&mut self, conn: ConnId, msg: &Message, now: Timestamp) {
        if msg.params.is_empty() {
            self.reply(
                conn,
                ERR_NEEDMOREPARAMS,
                &["TOPIC", "Not enough parameters"],
            );
            return;
        }
        let name = msg.param(0);
        let folded = casefold(name);
        if !self.rooms.contains_key(&folded) {
            self.reply(conn, ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
            return;
        }
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        if !c.rooms.contains(&folded) {
            self.reply(
                conn,
                ERR_NOTONCHANNEL,
                &[name, "You're not on that channel"],
            );
            return;
        }
        let Some(text) = msg.params.get(1) else {
            self.send_topic(conn, &folded, true);
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let Some(room) = self.rooms.get_mut(&folded) else {
            return;
        };
        // TOPICLEN, or less when a long source and room name would push the
        // relayed `:source TOPIC #room :text` past 512 bytes.
        let overhead = source.len() + "TOPIC".len() + room.name().len() + 6;
        let text = truncate(text, TOPICLEN.min(MAX_LINE.saturating_sub(overhead))).to_string();
        room.set_topic(Topic {
            text: text.clone(),
            set_by: nick.clone(),
            set_at: now,
        });
        let room_name = room.name().to_string();
        let members: Vec<ConnId> = room.members().collect();
        let record = self.record(HistoryKind::Topic, &room_name, &source, &text, now);
        let m = Message::new("TOPIC", [room_name.as_str(), text.as_str()]).with_source(source);
        self.broadcast_tagged(members, &m, &record);
        let room = self.log_room(&folded);
        self.log(
            now,
            LogEntry::Topic {
                nick,
                room,
                topic: text,
            },
        );
    }

    fn handle_list(&mut self, conn: ConnId) {
        self.reply(conn, RPL_LISTSTART, &["Channel", "Users  Name"]);
        let rows: Vec<(String, String, String)> = self
            .rooms
            .values()
            .map(|r| {
                let topic = r.topic().map(|t| t.text.clone()).unwrap_or_default();
                (r.name().to_string(), r.len().to_string(), topic)
            })
            .collect();
        for (name, count, topic) in rows {
            self.reply(conn, RPL_LIST, &[&name, &count, &topic]);
        }
        self.reply(conn, RPL_LISTEND, &["End of /LIST"]);
    }

    fn who_row(&self, c: &Connection, channel: &str) -> Vec<String> {
        vec![
            channel.to_string(),
            c.user.clone().unwrap_or_default(),
            c.host.clone(),
            self.config.server_name.clone(),
            c.nick_or_star().to_string(),
            "H".to_string(),
            format!("0 {}", c.realname),
        ]
    }

    fn handle_who(&mut self, conn: ConnId, msg: &Message) {
        let mask = msg.param(0).to_string();
        let folded = casefold(&mask);
        let mut rows = Vec::new();
        if let Some(room) = self.rooms.get(&folded) {
            for m in room.members() {
                if let Some(c) = self.connections.get(&m) {
                    rows.push(self.who_row(c, room.name()));
                }
            }
        } else if let Some(c) = self.user(&mask).and_then(|id| self.connections.get(&id)) {
            rows.push(self.who_row(c, "*"));
        }
        for row in rows {
            let params: Vec<&str> = row.iter().map(String::as_str).collect();
            self.reply(conn, RPL_WHOREPLY, &params);
        }
        let shown = if mask.is_empty() { "*" } else { mask.as_str() };
        self.reply(conn, RPL_ENDOFWHO, &[shown, "End of WHO list"]);
    }

    fn handle_whois(&mut self, conn: ConnId, msg: &Message) {
        // WHOIS [server] nick: the nick is the last parameter.
        let Some(target) = msg.params.last().cloned() else {
            self.reply(conn, ERR_NONICKNAMEGIVEN, &["No nickname given"]);
            return;
        };
        let found = self
            .user(&target)
            .and_then(|id| self.connections.get(&id))
            .cloned();
        let Some(c) = found else {
            self.reply(conn, ERR_NOSUCHNICK, &[&target, "No such nick/channel"]);
            self.reply(conn, RPL_ENDOFWHOIS, &[&target, "End of /WHOIS list"]);
            return;
        };
        let nick = c.nick_or_star().to_string();
        let user = c.user.clone().unwrap_or_default();
        self.reply(
            conn,
            RPL_WHOISUSER,
            &[&nick, &user, &c.host, "*", &c.realname],
        );
        let rooms: Vec<String> = c
            .rooms
            .iter()
            .filter_map(|f| self.rooms.get(f).map(|r| r.name().to_string()))
            .collect();
        // One 319 line per ~400 bytes of room names, as for NAMES.
        let mut chunk = String::new();
        for room in rooms {
            if !chunk.is_empty() && chunk.len() + 1 + room.len() > 400 {
                self.reply(conn, RPL_WHOISCHANNELS, &[&nick, &chunk]);
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(' ');
            }
            chunk.push_str(&room);
        }
        if !chunk.is_empty() {
            self.reply(conn, RPL_WHOISCHANNELS, &[&nick, &chunk]);
        }
        let server = self.config.server_name.clone();
        let network = self.config.network.clone();
        self.reply(conn, RPL_WHOISSERVER, &[&nick, &server, &network]);
        self.reply(conn, RPL_ENDOFWHOIS, &[&nick, "End of /WHOIS list"]);
    }

    fn handle_mode(&mut self, conn: ConnId, msg: &Message) {
        if msg.params.is_empty() {
            self.reply(conn, ERR_NEEDMOREPARAMS, &["MODE", "Not enough parameters"]);
            return;
        }
        let target = msg.param(0).to_string();
        if target.starts_with('#') {
            let folded = casefold(&target);
            let Some(room) = self.rooms.get(&folded) else {
                self.reply(conn, ERR_NOSUCHCHANNEL, &[&target, "No such channel"]);
                return;
            };
            let name = room.name().to_string();
            let created = room.created().secs().to_string();
            match msg.params.get(1).map(String::as_str) {
                None => {
                    self.reply(conn, RPL_CHANNELMODEIS, &[&name, "+nt"]);
                    self.reply(conn, RPL_CREATIONTIME, &[&name, &created]);
                }
                // A ban-list query (`MODE #room b`, sent by many clients on join).
                Some("b") | Some("+b") => {
                    self.reply(conn, "368", &[&name, "End of channel ban list"])
                }
                Some(_) => self.reply(
                    conn,
                    ERR_CHANOPRIVSNEEDED,
                    &[&name, "Channel modes cannot be changed on this server"],
                ),
            }
            return;
        }
        let own = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.nick.as_deref().map(casefold) == Some(casefold(&target)));
        if !own {
            if self.user(&target).is_some() {
                self.reply(
                    conn,
                    ERR_USERSDONTMATCH,
                    &["Can't change mode for other users"],
                );
            } else {
                self.reply(conn, ERR_NOSUCHNICK, &[&target, "No such nick/channel"]);
            }
            return;
        }
        match msg.params.get(1) {
            None => self.reply(conn, RPL_UMODEIS, &["+"]),
            // Clients set +i on connect; there are no user modes to keep, so accept silently.
            Some(modes) if modes.trim_start_matches(['+', '-']) == "i" => {}
            Some(_) => self.reply(conn, ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]),
        }
    }

    // ----- messages -------------------------------------------------------

    fn handle_message(&mut self, conn: ConnId, msg: &Message, command: &str, now: Timestamp) {
        let is_notice = command == "NOTICE";
        if msg.params.is_empty() || msg.param(0).is_empty() {
            if !is_notice {
                self.reply(
                    conn,
                    ERR_NORECIPIENT,
                    &[&format!("No recipient given ({command})")],
                );
            }
            return;
        }
        let Some(text) = msg.params.get(1).filter(|t| !t.is_empty()) else {
            if !is_notice {
                self.reply(conn, ERR_NOTEXTTOSEND, &["No text to send"]);
            }
            return;
        };
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let source = c.source();
        let nick = c.nick_or_star().to_string();
        let echo = c.echo_message;
        for target in msg.param(0).split(',').filter(|t| !t.is_empty()).take(4) {
            // Fit the relayed line into 512 bytes, as IRC servers do.
            let overhead = source.len() + command.len() + target.len() + 6;
            let text = truncate(text, MAX_LINE.saturating_sub(overhead));
            let line = Message::new(command, [target, text]).with_source(source.clone());
            if target.starts_with('#') {
                self.message_room(conn, target, &line, echo, is_notice, &nick, now);
            } else {
                self.message_user(conn, target, &line, echo, is_notice, &nick, now);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn message_room(
        &mut self,
        conn: ConnId,
        target: &str,
        line: &Message,
        echo: bool,
        is_notice: bool,
        nick: &str,
        now: Timestamp,
    ) {
        let folded = casefold(target);
        let Some(room) = self.rooms.get(&folded) else {
            if !is_notice {
                self.reply(conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        };
        if !room.contains(conn) {
            if !is_notice {
                let name = room.name().to_string();
                self.reply(
                    conn,
                    ERR_CANNOTSENDTOCHAN,
                    &[&name, "Cannot send to channel (join it first)"],
                );
            }
            return;
        }
        let to: Vec<ConnId> = room.members().filter(|&m| echo || m != conn).collect();
        let kind = if is_notice {
            HistoryKind::Notice
        } else {
            HistoryKind::Privmsg
        };
        let room_name = room.name().to_string();
        let source = line.source.clone().unwrap_or_default();
        let record = self.record(kind, &room_name, &source, line.param(1), now);
        if !to.is_empty() {
            self.broadcast_tagged(to, line, &record);
        }
        let room = self.log_room(&folded);
        let nick = nick.to_string();
        let text = line.param(1).to_string();
        let entry = if is_notice {
            LogEntry::Notice { nick, room, text }
        } else {
            LogEntry::Message { nick, room, text }
        };
        self.log(now, entry);
    }

    #[allow(clippy::too_many_arguments)]
    fn message_user(
        &mut self,
        conn: ConnId,
        target: &str,
        line: &Message,
        echo: bool,
        is_notice: bool,
        nick: &str,
        now: Timestamp,
    ) {
        let Some(to) = self.user(target) else {
            if !is_notice {
                self.reply(conn, ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
            }
            return;
        };
        let mut recipients = vec![to];
        if echo && to != conn {
            recipients.push(conn);
        }
        recipients.sort_unstable();
        let to_nick = self.nick_of(to).unwrap_or(target).to_string();
        let source = line.source.clone().unwrap_or_default();
        let record = self.record(HistoryKind::Private, &to_nick, &source, line.param(1), now);
        self.broadcast_tagged(recipients, line, &record);
        let text = self
            .config
            .log_private_text
            .then(|| line.param(1).to_string());
        self.log(
            now,
            LogEntry::Private {
                from: nick.to_string(),
                to: to_nick,
                text,
            },
        );
    }

    // ----- history --------------------------------------------------------

    /// `FAIL CHATHISTORY <code> <context…> :<text>` (IRCv3 standard replies).
    fn fail_chathistory(&mut self, conn: ConnId, code: &str, context: &[&str], text: &str) {
        let mut params = vec!["CHATHISTORY".to_string(), code.to_string()];
        params.extend(context.iter().map(|p| token(p)));
        params.push(text.to_string());
        let m = Message::new("FAIL", params).with_source(self.config.server_name.clone());
        self.send(conn, &m);
    }

    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS …`
    /// (IRCv3 `draft/chathistory`), answered from the retained history.
    fn handle_chathistory(&mut self, conn: ConnId, msg: &Message) {
        let sub = msg.param(0).to_ascii_uppercase();
        let needed = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
            "BETWEEN" => 5,
            _ => {
                let shown = if sub.is_empty() { "*" } else { sub.as_str() };
                self.fail_chathistory(conn, "INVALID_PARAMS", &[shown], "Unknown subcommand");
                return;
            }
        };
        if msg.params.len() < needed {
            self.fail_chathistory(conn, "INVALID_PARAMS", &[&sub], "Not enough parameters");
            return;
        }
        let limit = match msg.param(needed - 1).parse::<usize>() {
            Ok(n) => n.min(self.config.chathistory_max),
            Err(_) => {
                self.fail_chathistory(conn, "INVALID_PARAMS", &[&sub], "Invalid limit");
                return;
            }
        };
        if sub == "TARGETS" {
            let (Some(Selector::Time(a)), Some(Selector::Time(b))) =
                (Selector::parse(msg.param(1)), Selector::parse(msg.param(2)))
            else {
                self.fail_chathistory(conn, "INVALID_PARAMS", &[&sub], "Invalid timestamp");
                return;
            };
            self.send_targets(conn, a.min(b), a.max(b), limit);
            return;
        }
        let target = msg.param(1).to_string();
        let folded = casefold(&target);
        let member = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.rooms.contains(&folded));
        if target.starts_with('#') && !member {
            self.fail_chathistory(
                conn,
                "INVALID_TARGET",
                &[&sub, &target],
                "Join the room to read its history",
            );
            return;
        }
        let selector = |i: usize| Selector::parse(msg.param(i));
        let window = self.history.get(&folded).cloned().unwrap_or_default();
        let records = if !member {
            // Private history is never replayed until accounts exist.
            Vec::new()
        } else {
            let result = match sub.as_str() {
                "LATEST" if msg.param(2) == "*" => Some(window.latest(None, limit)),
                "LATEST" => selector(2).map(|s| window.latest(Some(s), limit)),
                "BEFORE" => selector(2).map(|s| window.before(s, limit)),
                "AFTER" => selector(2).map(|s| window.after(s, limit)),
                "AROUND" => selector(2).map(|s| window.around(s, limit)),
                _ => selector(2)
                    .zip(selector(3))
                    .map(|(a, b)| window.between(a, b, limit)),
            };
            match result {
                Some(records) => records,
                None => {
                    self.fail_chathistory(
                        conn,
                        "INVALID_PARAMS",
                        &[&sub],
                        "Invalid message reference (use msgid=… or timestamp=…)",
                    );
                    return;
                }
            }
        };
        let shown = self
            .rooms
            .get(&folded)
            .map(|r| r.name().to_string())
            .unwrap_or(target);
        self.replay(conn, &shown, &records, false);
    }

    /// `CHATHISTORY TARGETS`: the rooms `conn` is in whose latest message
    /// falls between `from` and `to`, oldest first.
    fn send_targets(&mut self, conn: ConnId, from: Timestamp, to: Timestamp, limit: usize) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let batch = c.caps.batch;
        let mut found: Vec<(Timestamp, Arc<str>)> = c
            .rooms
            .iter()
            .filter_map(|folded| {
                let last = self.history.get(folded)?.last()?;
                (last.at > from && last.at < to).then(|| (last.at, last.target.clone()))
            })
            .collect();
        found.sort();
        found.truncate(limit);
        let server = self.config.server_name.clone();
        let id = format!("h{}", self.next_batch);
        self.next_batch += 1;
        if batch {
            let open = Message::new(
                "BATCH",
                [format!("+{id}"), "draft/chathistory-targets".into()],
            )
            .with_source(server.clone());
            self.send(conn, &open);
        }
        for (at, room) in found {
            let m = Message::new(
                "CHATHISTORY",
                [
                    "TARGETS".to_string(),
                    room.to_string(),
                    format!("timestamp={}", server_time(at)),
                ],
            )
            .with_source(server.clone());
            let line = if batch {
                format!("@batch={id} {m}")
            } else {
                m.to_string()
            };
            self.emit(Action::Send {
                to: conn,
                line: Arc::from(line),
            });
        }
        if batch {
            let close = Message::new("BATCH", [format!("-{id}")]).with_source(server);
            self.send(conn, &close);
        }
    }

    // ----- leaving --------------------------------------------------------

    /// Removes a connection: QUIT (`quit` true), or a dropped connection.
    /// Everyone sharing a room hears it once; the log records it.
    fn remove(&mut self, conn: ConnId, reason: &str, quit: bool, now: Timestamp) {
        let peers = self.room_peers(conn);
        let Some(c) = self.connections.remove(&conn) else {
            return;
        };
        if quit {
            let shown = truncate(reason, MAX_LINE.saturating_sub(c.host.len() + 24));
            let m = Message::new("ERROR", [format!("Closing Link: {} ({shown})", c.host)]);
            self.send(conn, &m);
            self.emit(Action::Close {
                conn,
                reason: reason.to_string(),
            });
        }
        let Some(nick) = c.nick.clone() else {
            self.log(
                now,
                LogEntry::ClosedUnregistered {
                    peer: c.peer,
                    reason: reason.to_string(),
                },
            );
            return;
        };
        self.nicks.remove(&casefold(&nick));
        if !c.registered {
            self.log(
                now,
                LogEntry::ClosedUnregistered {
                    peer: c.peer,
                    reason: reason.to_string(),
                },
            );
            return;
        }
        let source = c.source();
        let shown = truncate(reason, MAX_LINE.saturating_sub(source.len() + 8));
        let mut last = None;
        for folded in &c.rooms {
            if let Some(name) = self.rooms.get(folded).map(|r| r.name().to_string()) {
                last = Some(self.record(HistoryKind::Quit, &name, &source, shown, now));
            }
        }
        let m = Message::new("QUIT", [shown]).with_source(source);
        match last {
            Some(record) if !peers.is_empty() => self.broadcast_tagged(peers, &m, &record),
            _ => self.broadcast(peers, &m),
        }
        let logged_reason = if reason == "Quit" {
            None
        } else {
            Some(reason.to_string())
        };
        for folded in &c.rooms {
            let room = self.log_room(folded);
            self.drop_member(conn, folded);
            self.log(
                now,
                LogEntry::Left {
                    nick: nick.clone(),
                    room,
                    reason: None,
                },
            );
        }
        self.log(
            now,
            LogEntry::Disconnected {
                nick,
                reason: logged_reason,
            },
        );
    }

    /// Sends `ERROR :reason`, closes the connection, tells its rooms.
    fn close_with_error(&mut self, conn: ConnId, reason: &str, now: Timestamp) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        let m = Message::new("ERROR", [reason]);
        self.send(conn, &m);
        self.emit(Action::Close {
            conn,
            reason: reason.to_string(),
        });
        self.remove(conn, reason, false, now);
    }

    // ----- time -----------------------------------------------------------

    fn handle_tick(&mut self, now: Timestamp) {
        let max_age = self.config.history_max_age_secs;
        if max_age > 0 {
            let cutoff = Timestamp(now.0.saturating_sub(max_age.saturating_mul(1000)));
            for window in self.history.values_mut() {
                window.expire(cutoff);
            }
            self.history.retain(|_, window| !window.is_empty());
        }
        let mut expired = Vec::new();
        let mut to_ping = Vec::new();
        for (&id, c) in &self.connections {
            if !c.registered {
                if now
                    >= c.connected_at
                        .plus_secs(self.config.registration_timeout_secs)
                {
                    expired.push((id, "Registration timed out".to_string()));
                }
            } else if let Some(sent) = c.ping_sent {
                if now >= sent.plus_secs(self.config.ping_timeout_secs) {
                    let secs = (now.0.saturating_sub(c.last_active.0)) / 1000;
                    expired.push((id, format!("Ping timeout: {secs} seconds")));
                }
            } else if now >= c.last_active.plus_secs(self.config.ping_interval_secs) {
                to_ping.push(id);
            }
        }
        let name = self.config.server_name.clone();
        for id in to_ping {
            if let Some(c) = self.connections.get_mut(&id) {
                c.ping_sent = Some(now);
            }
            let m = Message::new("PING", [name.as_str()]);
            self.send(id, &m);
        }
        for (id, reason) in expired {
            self.close_with_error(id, &reason, now);
        }
    }
}

/// Whether `c` has enabled the capability called `cap`.
fn cap_enabled(c: &Connection, cap: &str) -> bool {
    match cap {
        "echo-message" => c.echo_message,
        "message-tags" => c.caps.message_tags,
        "server-time" => c.caps.server_time,
        "batch" => c.caps.batch,
        "draft/chathistory" => c.caps.chathistory,
        _ => false,
    }
}

/// Enables or disables the capability called `cap` (one of [`CAPABILITIES`]).
fn set_cap(c: &mut Connection, cap: &str, on: bool) {
    match cap {
        "echo-message" => c.echo_message = on,
        "message-tags" => c.caps.message_tags = on,
        "server-time" => c.caps.server_time = on,
        "batch" => c.caps.batch = on,
        "draft/chathistory" => c.caps.chathistory = on,
        _ => {}
    }
}

/// `msg` as `caps` wants it: `batch=`, `time=` and `msgid=` tags from
/// `record` where the client enabled them.
fn tagged(
    msg: &Message,
    caps: Caps,
    record: Option<&HistoryRecord>,
    batch: Option<&str>,
) -> String {
    let mut tags = Vec::new();
    if let (Some(batch), true) = (batch, caps.batch) {
        tags.push(format!("batch={batch}"));
    }
    if let Some(r) = record {
        if caps.server_time {
            tags.push(format!("time={}", server_time(r.at)));
        }
        if caps.message_tags {
            tags.push(format!("msgid={}", r.msgid()));
        }
    }
    // Tag values here never need escaping: ids, times and batch refs are
    // plain ASCII without spaces, semicolons or backslashes.
    if tags.is_empty() {
        msg.to_string()
    } else {
        format!("@{} {msg}", tags.join(";"))
    }
}

/// A middle parameter of a reply: often a name echoed from the client, so it
/// is cut at its first space and to [`TOKENLEN`] bytes, and never empty or
/// starting with `:` (either would shift the parameters a client parses).
fn token(p: &str) -> String {
    let word = truncate(p.split(' ').next().unwrap_or_default(), TOKENLEN);
    if word.is_empty() || word.starts_with(':') {
        "*".to_string()
    } else {
        word.to_string()
    }
}

/// The longest prefix of `s` of at most `max` bytes, cut at a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
