//! [`Session`]: the client's side of one IRC connection, sans I/O.
//!
//! Owns registration (CAP, NICK, USER), the rooms this user is in and which
//! one is current, the turning of server lines into [`DisplayLine`]s and of
//! typed input into protocol lines. Must never touch sockets, terminals,
//! clocks or threads: time arrives as an argument, and every effect leaves as
//! an [`Output`] the shell must act on in order. Never panics on any input.
//!
//! The shell's contract, in order:
//! 1. connect, then send every [`Output::Send`] from [`Session::start`];
//! 2. for each line from the server call [`Session::handle_server_line`],
//!    for each typed line [`Session::handle_input`], and at the end of input
//!    [`Session::handle_input_end`]; act on every output in order;
//! 3. on [`Output::Quit`] keep reading until the server closes (or a short
//!    grace period passes), then exit successfully; on [`Output::Fail`] close
//!    and exit with the error.

use super::command::{Command, HELP};
use super::display::{DisplayLine, LineKind};
use super::error::ClientError;
use crate::proto::{casefold, is_valid_nick, Message, MAX_LINE};
use chrono::{FixedOffset, NaiveTime, Offset, Utc};
use std::collections::BTreeMap;

/// What the shell must do, in the order given.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this IRC line (without CR LF) to the server.
    Send(String),
    /// Show this line to the person.
    Display(DisplayLine),
    /// A QUIT was sent: wait for the server to close, then exit successfully.
    Quit,
    /// The session cannot go on: close the connection and report the error.
    Fail(ClientError),
}

/// What to do when the server rejects the nickname during registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NickRetry {
    /// Ask the person: the next input line is taken as the new nickname
    /// (for an interactive terminal).
    Ask,
    /// Stop with [`ClientError::NickInUse`] (for scripts: a script that
    /// asked for `alice` should not silently become someone else).
    GiveUp,
}

/// The client's state for one connection.
///
/// ```
/// use natter::client::{Output, Session, NickRetry};
/// use chrono::NaiveTime;
/// let now = NaiveTime::from_hms_opt(12, 35, 1).unwrap();
/// let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
/// let sent: Vec<Output> = s.start();
/// assert!(sent.contains(&Output::Send("NICK John".into())));
/// let out = s.handle_server_line(":srv 001 John :Welcome to natter, John", now);
/// assert!(out.contains(&Output::Send("JOIN #lobby".into())));
/// s.handle_server_line(":John!john@host JOIN #lobby", now);
/// let out = s.handle_server_line(":Jane!jane@host PRIVMSG #lobby :Hello everyone!", now);
/// match &out[0] {
///     Output::Display(line) => assert_eq!(line.text(), "[12:35:01] [Jane]: Hello everyone!"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Session {
    /// The person's UTC offset: history times (server-time tags, in UTC)
    /// are shown in it, like the local times of live lines.
    utc_offset: FixedOffset,
    nick: String,
    default_room: String,
    retry: NickRetry,
    registered: bool,
    /// Registered and the first join settled: typed lines are acted on.
    ready: bool,
    cap_done: bool,
    cap_offered: Vec<String>,
    echo_message: bool,
    awaiting_nick: bool,
    quitting: bool,
    /// Input typed before `ready`, acted on once it is.
    pending: Vec<String>,
    end_of_input: bool,
    /// Rooms joined, in the order joined (as the server spelled them).
    rooms: Vec<String>,
    current_room: Option<String>,
    /// NAMES replies being collected, by folded room name.
    names: BTreeMap<String, Vec<String>>,
    server_error: Option<String>,
    /// The server speaks `draft/chathistory` with batches and tags for us.
    chathistory: bool,
    /// Open `chathistory` batches: reference → room.
    batches: BTreeMap<String, String>,
    /// Messages seen so far in the open batch, by reference.
    batch_counts: BTreeMap<String, usize>,
    /// The oldest msgid seen per folded room: where `/history` continues.
    oldest: BTreeMap<String, String>,
}

/// Bytes a relayed PRIVMSG adds around the text: `:nick!user@host PRIVMSG target :`.
const RELAY_OVERHEAD: usize = 130;

impl Session {
    /// A session that will register as `nick` and join `default_room`.
    pub fn new(nick: &str, default_room: &str, retry: NickRetry) -> Session {
        Session {
            utc_offset: Utc.fix(),
            nick: nick.to_string(),
            default_room: default_room.to_string(),
            retry,
            registered: false,
            ready: false,
            cap_done: false,
            cap_offered: Vec::new(),
            echo_message: false,
            awaiting_nick: false,
            quitting: false,
            pending: Vec::new(),
            end_of_input: false,
            rooms: Vec::new(),
            current_room: None,
            names: BTreeMap::new(),
            server_error: None,
            chathistory: false,
            batches: BTreeMap::new(),
            batch_counts: BTreeMap::new(),
            oldest: BTreeMap::new(),
        }
    }

    /// Shows history times in the person's time zone, `offset` from UTC
    /// (the shell reads it from the clock; the default is UTC).
    pub fn with_utc_offset(mut self, offset: FixedOffset) -> Session {
        self.utc_offset = offset;
        self
    }

    /// The lines that open registration: `CAP LS 302`, `NICK`, `USER`.
    pub fn start(&mut self) -> Vec<Output> {
        let user: String = self
            .nick
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect::<String>()
            .to_ascii_lowercase();
        let user = if user.is_empty() {
            "natter".into()
        } else {
            user
        };
        vec![
            send(Message::new("CAP", ["LS", "302"])),
            send(Message::new("NICK", [self.nick.as_str()])),
            send(Message::new("USER", [user.as_str(), "0", "*", &self.nick])),
        ]
    }

    /// This user's nickname (as the server last confirmed it, or as requested).
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// The room plain text goes to, if any.
    pub fn current_room(&self) -> Option<&str> {
        self.current_room.as_deref()
    }

    /// Rooms this user is in, in the order joined.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// Whether the server has welcomed this user (001).
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// Whether the server echoes this user's messages back (IRCv3 echo-message).
    pub fn has_echo_message(&self) -> bool {
        self.echo_message
    }

    /// Whether the server keeps history this session can page through
    /// (`draft/chathistory` with `batch`, `server-time` and `message-tags`).
    pub fn has_chathistory(&self) -> bool {
        self.chathistory
    }

    /// Whether a QUIT has been sent.
    pub fn is_quitting(&self) -> bool {
        self.quitting
    }

    /// The reason from the server's last `ERROR` line, if it sent one.
    pub fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }

    fn is_me(&self, nick: &str) -> bool {
        casefold(nick) == casefold(&self.nick)
    }

    fn in_room(&self, room: &str) -> Option<usize> {
        let folded = casefold(room);
        self.rooms.iter().position(|r| casefold(r) == folded)
    }

    fn is_current(&self, room: &str) -> bool {
        self.current_room
            .as_deref()
            .is_some_and(|c| casefold(c) == casefold(room))
    }

    // ----- from the server --------------------------------------------------

    /// Handle one line from the server (without CR LF); `now` is the local
    /// time shown on chat lines. Lines that do not parse are ignored.
    pub fn handle_server_line(&mut self, line: &str, now: NaiveTime) -> Vec<Output> {
        let Ok(msg) = Message::parse(line) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let from = msg
            .source
            .as_deref()
            .map(|s| s.split('!').next().unwrap_or(s))
            .unwrap_or("")
            .to_string();
        let command = msg.command.to_ascii_uppercase();
        match command.as_str() {
            "PING" => out.push(send(Message::new("PONG", msg.params.clone()))),
            "BATCH" => self.on_batch(&msg, &mut out),
            "CAP" => self.on_cap(&msg, &mut out),
            "JOIN" => self.on_join(&from, msg.param(0), now, &mut out),
            "PART" => self.on_part(&from, msg.param(0), msg.params.get(1), &mut out),
            "QUIT" if !self.is_me(&from) => {
                let reason = msg.param(0);
                let text = if reason.is_empty() {
                    format!("*** {from} has quit")
                } else {
                    format!("*** {from} has quit ({reason})")
                };
                out.push(display(LineKind::Event, text));
            }
            "NICK" => {
                let new = msg.param(0);
                if self.is_me(&from) {
                    self.nick = new.to_string();
                    out.push(display(
                        LineKind::Event,
                        format!("*** You are now known as {new}"),
                    ));
                } else {
                    out.push(display(
                        LineKind::Event,
                        format!("*** {from} is now known as {new}"),
                    ));
                }
            }
            "TOPIC" => {
                let (room, text) = (msg.param(0), msg.param(1));
                let line = if text.is_empty() {
                    format!("*** {from} cleared the topic of {room}")
                } else {
                    format!("*** {from} changed the topic of {room} to: {text}")
                };
                out.push(display(LineKind::Event, line));
            }
            "KICK" => {
                let (room, who, reason) = (msg.param(0), msg.param(1), msg.param(2));
                out.push(display(
                    LineKind::Event,
                    format!("*** {who} was kicked from {room} by {from} ({reason})"),
                ));
                if self.is_me(who) {
                    self.left_room(room, &mut out);
                }
            }
            "PRIVMSG" | "NOTICE" => {
                let server_notice = !msg.source.as_deref().unwrap_or("").contains('!');
                let target = msg.param(0);
                if let Some(id) = msg.tag("msgid").filter(|_| is_channel(target)) {
                    let folded = casefold(target);
                    let older = self.oldest.get(&folded).is_none_or_older(id);
                    if older {
                        self.oldest.insert(folded, id.to_string());
                    }
                }
                let in_history = msg
                    .tag("batch")
                    .is_some_and(|b| self.batches.contains_key(b));
                if command == "NOTICE" && server_notice {
                    out.push(display(LineKind::Event, format!("*** {}", msg.param(1))));
                } else if in_history {
                    if let Some(count) = msg.tag("batch").and_then(|b| self.batch_counts.get_mut(b))
                    {
                        *count += 1;
                    }
                    let when = msg
                        .tag("time")
                        .map(|t| history_time(t, self.utc_offset))
                        .unwrap_or_default();
                    let line = self.render_message(&command, &from, target, msg.param(1), now);
                    if let Some(Output::Display(line)) = line {
                        let text = line.text();
                        // `[12:35:01] ` → `[history 2023-11-09 12:35] `
                        let body = text.split_once("] ").map_or(text, |(_, rest)| rest);
                        out.push(display(
                            LineKind::History,
                            format!("[history {when}] {body}"),
                        ));
                    }
                } else {
                    let line =
                        self.render_message(&command, &from, msg.param(0), msg.param(1), now);
                    out.extend(line);
                }
            }
            "ERROR" => {
                let reason = msg.param(0).to_string();
                if !self.quitting {
                    out.push(display(
                        LineKind::Error,
                        format!("*** The server closed the connection: {reason}"),
                    ));
                }
                self.server_error = Some(reason);
            }
            c if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
                self.on_numeric(c, &msg, now, &mut out);
            }
            _ => {}
        }
        out
    }

    fn on_cap(&mut self, msg: &Message, out: &mut Vec<Output>) {
        if self.cap_done {
            return;
        }
        match msg.param(1).to_ascii_uppercase().as_str() {
            "LS" => {
                // `CAP * LS * :caps…` means more lines follow.
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                let caps = msg.params.last().map(String::as_str).unwrap_or("");
                self.cap_offered.extend(
                    caps.split(' ')
                        .filter(|c| !c.is_empty())
                        .map(|c| c.split('=').next().unwrap_or(c).to_string()),
                );
                if more {
                    return;
                }
                let wanted: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|w| self.cap_offered.iter().any(|c| c == w))
                    .collect();
                if wanted.is_empty() {
                    self.end_cap(out);
                } else {
                    out.push(send(Message::new("CAP", ["REQ", &wanted.join(" ")])));
                }
            }
            "ACK" => {
                let acked: Vec<&str> = msg
                    .params
                    .last()
                    .map(|caps| caps.split(' ').collect())
                    .unwrap_or_default();
                self.echo_message = acked.contains(&"echo-message");
                self.chathistory = ["draft/chathistory", "batch", "server-time", "message-tags"]
                    .iter()
                    .all(|c| acked.contains(c));
                self.end_cap(out);
            }
            "NAK" => self.end_cap(out),
            _ => {}
        }
    }

    fn on_batch(&mut self, msg: &Message, out: &mut Vec<Output>) {
        let reference = msg.param(0);
        if let Some(id) = reference.strip_prefix('+') {
            if msg.param(1) == "chathistory" {
                let room = msg.param(2).to_string();
                self.batches.insert(id.to_string(), room);
                self.batch_counts.insert(id.to_string(), 0);
            }
        } else if let Some(id) = reference.strip_prefix('-') {
            if let Some(room) = self.batches.remove(id) {
                let count = self.batch_counts.remove(id).unwrap_or(0);
                let line = if count == 0 {
                    format!("*** No earlier messages in {room}")
                } else {
                    format!("*** End of {count} history messages of {room}")
                };
                out.push(display(LineKind::Info, line));
            }
        }
    }

    fn end_cap(&mut self, out: &mut Vec<Output>) {
        self.cap_done = true;
        out.push(send(Message::new("CAP", ["END"])));
    }

    fn on_join(&mut self, from: &str, room: &str, now: NaiveTime, out: &mut Vec<Output>) {
        if room.is_empty() {
            return;
        }
        if !self.is_me(from) {
            out.push(display(
                LineKind::Event,
                format!("*** {from} joined {room}"),
            ));
            return;
        }
        if self.in_room(room).is_none() {
            self.rooms.push(room.to_string());
        }
        self.current_room = Some(room.to_string());
        out.push(display(LineKind::Event, format!("*** You joined {room}")));
        self.become_ready(now, out);
    }

    fn on_part(&mut self, from: &str, room: &str, reason: Option<&String>, out: &mut Vec<Output>) {
        let reason = reason
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        if !self.is_me(from) {
            out.push(display(
                LineKind::Event,
                format!("*** {from} has left {room}{reason}"),
            ));
            return;
        }
        out.push(display(LineKind::Event, format!("*** You left {room}")));
        self.left_room(room, out);
    }

    fn left_room(&mut self, room: &str, out: &mut Vec<Output>) {
        if let Some(i) = self.in_room(room) {
            self.rooms.remove(i);
        }
        if self.is_current(room) {
            self.current_room = self.rooms.last().cloned();
            let hint = match &self.current_room {
                Some(next) => format!("*** Now talking in {next}"),
                None => "*** You are in no room now: /join #room to talk".to_string(),
            };
            out.push(display(LineKind::Info, hint));
        }
    }

    /// Chat lines: room messages, actions, private messages, notices.
    fn render_message(
        &self,
        command: &str,
        from: &str,
        target: &str,
        text: &str,
        now: NaiveTime,
    ) -> Option<Output> {
        let time = now.format("%H:%M:%S");
        let ctcp = text
            .strip_prefix('\x01')
            .map(|t| t.strip_suffix('\x01').unwrap_or(t));
        let body = match ctcp {
            Some(inner) => match inner.split_once(' ') {
                Some((verb, action)) if verb.eq_ignore_ascii_case("ACTION") => Body::Action(action),
                None if inner.eq_ignore_ascii_case("ACTION") => Body::Action(""),
                _ if command == "NOTICE" => return None,
                _ => {
                    let verb = inner.split(' ').next().unwrap_or("");
                    return Some(display(
                        LineKind::Info,
                        format!("*** {from} sent a CTCP {verb} request (ignored)"),
                    ));
                }
            },
            None if command == "NOTICE" => Body::Notice(text),
            None => Body::Text(text),
        };
        if is_channel(target) {
            let room = if self.is_current(target) {
                String::new()
            } else {
                format!("{target} ")
            };
            let line = match body {
                Body::Text(t) => format!("[{time}] {room}[{from}]: {t}"),
                Body::Action(a) => format!("[{time}] {room}* {from} {a}"),
                Body::Notice(t) => format!("[{time}] {room}-{from}- {t}"),
            };
            return Some(display(LineKind::Chat, line));
        }
        let shown = match body {
            Body::Text(t) => t.to_string(),
            Body::Action(a) => format!("* {from} {a}"),
            Body::Notice(t) => format!("(notice) {t}"),
        };
        let line = if self.is_me(from) && !self.is_me(target) {
            format!("[{time}] -> *{target}*: {shown}")
        } else {
            format!("[{time}] *{from}* -> you: {shown}")
        };
        Some(display(LineKind::Private, line))
    }

    fn on_numeric(&mut self, code: &str, msg: &Message, now: NaiveTime, out: &mut Vec<Output>) {
        // params[0] is always our own nick (or `*`); the subject comes next.
        let subject = msg.param(1);
        let last = if msg.params.len() > 1 {
            msg.params.last().map(String::as_str).unwrap_or("")
        } else {
            ""
        };
        let error = |text: String| display(LineKind::Error, text);
        match code {
            "001" => {
                self.registered = true;
                if !msg.param(0).is_empty() && msg.param(0) != "*" {
                    self.nick = msg.param(0).to_string();
                }
                self.cap_done = true;
                out.push(display(LineKind::Event, format!("*** {last}")));
                out.push(send(Message::new("JOIN", [self.default_room.as_str()])));
            }
            "372" => {
                let text = last.strip_prefix("- ").unwrap_or(last);
                out.push(display(LineKind::Event, format!("*** {text}")));
            }
            "332" => out.push(display(
                LineKind::Event,
                format!("*** Topic of {subject}: {last}"),
            )),
            "331" => out.push(display(
                LineKind::Event,
                format!("*** {subject} has no topic"),
            )),
            "353" => {
                let room = msg.param(2);
                self.names
                    .entry(casefold(room))
                    .or_default()
                    .extend(last.split(' ').filter(|n| !n.is_empty()).map(String::from));
            }
            "366" => {
                let names = self.names.remove(&casefold(subject)).unwrap_or_default();
                let line = if names.is_empty() {
                    format!("*** Nobody is in {subject}")
                } else {
                    format!("*** In {subject}: {}", names.join(" "))
                };
                out.push(display(LineKind::Event, line));
            }
            "433" | "432" if !self.registered => {
                let taken = code == "433";
                match self.retry {
                    NickRetry::Ask => {
                        self.awaiting_nick = true;
                        let why = if taken {
                            "is already in use"
                        } else {
                            "is not a valid nickname"
                        };
                        out.push(error(format!(
                            "*** The nickname {subject} {why}. Type another nickname (or /quit):"
                        )));
                    }
                    NickRetry::GiveUp => {
                        let nick = subject.to_string();
                        out.push(Output::Fail(if taken {
                            ClientError::NickInUse { nick }
                        } else {
                            ClientError::NickInvalid { nick }
                        }));
                    }
                }
            }
            "433" => out.push(error(format!(
                "*** The nickname {subject} is already in use: pick another with /nick"
            ))),
            "432" => out.push(error(format!(
                "*** {subject} is not a valid nickname: use letters, digits and []\\`_^{{|}}-"
            ))),
            "401" => out.push(error(format!("*** No such nick or room: {subject}"))),
            "403" => out.push(error(format!(
                "*** No such room: {subject} (room names start with #)"
            ))),
            "405" => out.push(error(format!(
                "*** You cannot join {subject}: you are in too many rooms; /part one first"
            ))),
            "442" => out.push(error(format!("*** You are not in {subject}"))),
            "421" if subject.eq_ignore_ascii_case("CAP") => {
                // A server without capability negotiation: register without it.
                self.cap_done = true;
            }
            "421" => out.push(error(format!(
                "*** The server does not know the command {subject}"
            ))),
            // The server's own words say why (a locked topic, a mode, a kick…).
            "482" | "404" => out.push(error(format!("*** {subject}: {last}"))),
            "311" => {
                let (user, host, name) = (msg.param(2), msg.param(3), last);
                out.push(display(
                    LineKind::Event,
                    format!("*** {subject} is {user}@{host} ({name})"),
                ));
            }
            "319" => out.push(display(
                LineKind::Event,
                format!("*** {subject} is in {last}"),
            )),
            "312" => out.push(display(
                LineKind::Event,
                format!("*** {subject} is on {}", msg.param(2)),
            )),
            "301" => out.push(display(
                LineKind::Event,
                format!("*** {subject} is away: {last}"),
            )),
            "317" => {
                let idle = msg.param(2).parse::<u64>().unwrap_or(0);
                out.push(display(
                    LineKind::Event,
                    format!("*** {subject} has been idle {}", idle_text(idle)),
                ));
            }
            "313" | "671" => out.push(display(LineKind::Event, format!("*** {subject} {last}"))),
            "305" => out.push(display(
                LineKind::Event,
                "*** You are no longer marked as away",
            )),
            "306" => out.push(display(LineKind::Event, "*** You are marked as away")),
            "352" => {
                // `<room> <user> <host> <server> <nick> <flags> :<hops> <realname>`
                let (room, user, host) = (msg.param(1), msg.param(2), msg.param(3));
                let (nick, flags) = (msg.param(5), msg.param(6));
                let name = last.split_once(' ').map_or("", |(_, n)| n);
                out.push(display(
                    LineKind::Event,
                    format!("*** {room} {nick} ({user}@{host}) {flags} {name}"),
                ));
            }
            "322" => {
                let topic = if msg.params.len() > 3 { last } else { "" };
                out.push(display(
                    LineKind::Event,
                    format!("*** {subject} ({} people) {topic}", msg.param(2)),
                ));
            }
            "323" => out.push(display(LineKind::Event, "*** End of the room list")),
            "315" | "318" | "321" => {}
            // Registration chatter, counters and end markers: not worth a line.
            "002" | "003" | "004" | "005" | "250" | "251" | "252" | "253" | "254" | "255"
            | "265" | "266" | "329" | "333" | "375" | "376" | "422" | "396" => {}
            c if c.starts_with('4') || c.starts_with('5') => {
                let rest = msg.params.get(1..).unwrap_or_default().join(" ");
                out.push(error(format!("*** Error: {rest}")));
            }
            _ => {
                let rest = msg.params.get(1..).unwrap_or_default().join(" ");
                if !rest.is_empty() {
                    out.push(display(LineKind::Event, format!("*** {rest}")));
                }
            }
        }
        // A first join the server refused must not hold typed lines forever.
        let join_refused = matches!(
            code,
            "403" | "405" | "437" | "471" | "473" | "474" | "475" | "476" | "477" | "479"
        );
        if self.registered && !self.ready && join_refused {
            self.become_ready(now, out);
        }
    }

    fn become_ready(&mut self, now: NaiveTime, out: &mut Vec<Output>) {
        if self.ready {
            return;
        }
        self.ready = true;
        for line in std::mem::take(&mut self.pending) {
            out.extend(self.run_input(&line, now));
        }
        if self.end_of_input {
            out.extend(self.quit(None));
        }
    }

    // ----- from the person --------------------------------------------------

    /// Handle one typed line (without its newline). Lines typed before the
    /// session is registered and in its first room are held and acted on then.
    pub fn handle_input(&mut self, line: &str, now: NaiveTime) -> Vec<Output> {
        if self.quitting {
            return Vec::new();
        }
        if self.awaiting_nick {
            return self.retry_nick(line.trim());
        }
        if !self.ready {
            self.pending.push(line.to_string());
            return Vec::new();
        }
        self.run_input(line, now)
    }

    /// The input ended (Ctrl-D, or the end of piped stdin): quit once
    /// everything typed so far has been sent.
    pub fn handle_input_end(&mut self) -> Vec<Output> {
        if self.quitting {
            return Vec::new();
        }
        if self.awaiting_nick {
            return vec![Output::Fail(ClientError::NickInUse {
                nick: self.nick.clone(),
            })];
        }
        if !self.ready {
            self.end_of_input = true;
            return Vec::new();
        }
        self.quit(None)
    }

    fn retry_nick(&mut self, nick: &str) -> Vec<Output> {
        if matches!(Command::parse(nick), Ok(Command::Quit(_))) {
            return self.quit(None);
        }
        if !is_valid_nick(nick) {
            return vec![display(
                LineKind::Error,
                format!(
                    "*** {nick:?} is not a valid nickname: use letters, digits and []\\`_^{{|}}-, \
                     not starting with a digit. Type another (or /quit):"
                ),
            )];
        }
        self.awaiting_nick = false;
        self.nick = nick.to_string();
        vec![
            send(Message::new("NICK", [nick])),
            display(LineKind::Info, format!("*** Trying the nickname {nick}…")),
        ]
    }

    fn quit(&mut self, reason: Option<String>) -> Vec<Output> {
        self.quitting = true;
        let msg = match reason {
            Some(r) => Message::new("QUIT", [r]),
            None => Message::new("QUIT", Vec::<String>::new()),
        };
        vec![send(msg), Output::Quit]
    }

    fn run_input(&mut self, line: &str, now: NaiveTime) -> Vec<Output> {
        let command = match Command::parse(line) {
            Ok(c) => c,
            Err(e) => return vec![display(LineKind::Error, format!("*** {e}"))],
        };
        let no_room = || {
            vec![display(
                LineKind::Error,
                "*** You are not in a room: /join #lobby first",
            )]
        };
        let current = self.current_room.clone();
        match command {
            Command::Empty => Vec::new(),
            Command::Say(text) => match current {
                Some(room) => self.send_text(&room, &text, false, now),
                None => no_room(),
            },
            Command::Msg { target, text } => self.send_text(&target, &text, false, now),
            Command::Me(action) => match current {
                Some(room) => self.send_text(&room, &action, true, now),
                None => no_room(),
            },
            Command::Join(room) => match self.in_room(&room).and_then(|i| self.rooms.get(i)) {
                Some(joined) => {
                    let room = joined.clone();
                    self.current_room = Some(room.clone());
                    vec![display(
                        LineKind::Info,
                        format!("*** Now talking in {room}"),
                    )]
                }
                None => vec![send(Message::new("JOIN", [room]))],
            },
            Command::Part { room, reason } => match room.or(current) {
                Some(room) => {
                    let mut params = vec![room];
                    params.extend(reason);
                    vec![send(Message::new("PART", params))]
                }
                None => no_room(),
            },
            Command::Names(room) => match room.or(current) {
                Some(room) => vec![send(Message::new("NAMES", [room]))],
                None => no_room(),
            },
            Command::Who(target) => match target.or(current) {
                Some(target) => vec![send(Message::new("WHO", [target]))],
                None => no_room(),
            },
            Command::Whois(nick) => vec![send(Message::new("WHOIS", [nick]))],
            Command::Away(message) => vec![send(Message::new("AWAY", message))],
            Command::List => vec![send(Message::new("LIST", Vec::<String>::new()))],
            Command::Nick(nick) => {
                if is_valid_nick(&nick) {
                    vec![send(Message::new("NICK", [nick]))]
                } else {
                    vec![display(
                        LineKind::Error,
                        format!("*** {nick:?} is not a valid nickname: use letters, digits and []\\`_^{{|}}-, not starting with a digit"),
                    )]
                }
            }
            Command::Topic(text) => match current {
                Some(room) => {
                    let mut params = vec![room];
                    params.extend(text);
                    vec![send(Message::new("TOPIC", params))]
                }
                None => no_room(),
            },
            Command::Quit(reason) => self.quit(reason),
            Command::History(n) => match current {
                Some(_) if !self.chathistory => vec![display(
                    LineKind::Error,
                    "*** This server keeps no history this client can page through",
                )],
                Some(room) => {
                    let reference = match self.oldest.get(&casefold(&room)) {
                        Some(id) => format!("msgid={id}"),
                        None => "timestamp=9999-12-31T23:59:59.999Z".to_string(),
                    };
                    let n = n.to_string();
                    vec![send(Message::new(
                        "CHATHISTORY",
                        ["BEFORE", room.as_str(), reference.as_str(), n.as_str()],
                    ))]
                }
                None => no_room(),
            },
            Command::Help => HELP.iter().map(|l| display(LineKind::Info, *l)).collect(),
            Command::Quote(raw) => {
                let raw: String = raw
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                    .collect();
                vec![Output::Send(raw)]
            }
        }
    }

    /// PRIVMSGs carrying `text` to `target`, split to fit the line limit;
    /// shown locally unless the server will echo them.
    fn send_text(&mut self, target: &str, text: &str, action: bool, now: NaiveTime) -> Vec<Output> {
        let mut out = Vec::new();
        let budget = MAX_LINE
            .saturating_sub(RELAY_OVERHEAD + target.len() + if action { 9 } else { 0 })
            .max(32);
        for chunk in split_at_budget(text, budget) {
            let body = if action {
                format!("\x01ACTION {chunk}\x01")
            } else {
                chunk.to_string()
            };
            out.push(send(Message::new("PRIVMSG", [target, body.as_str()])));
            if !self.echo_message {
                let nick = self.nick.clone();
                out.extend(self.render_message("PRIVMSG", &nick, target, &body, now));
            }
        }
        out
    }
}

enum Body<'a> {
    Text(&'a str),
    Action(&'a str),
    Notice(&'a str),
}

/// Capabilities natter-client asks for when the server offers them.
const WANTED_CAPS: &[&str] = &[
    "echo-message",
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
];

/// `2023-11-09T12:35:01.000Z` → `2023-11-09 12:35` at UTC offset 0, or
/// `2023-11-09 13:35` at +01:00: the person's own time, as live lines show.
fn history_time(tag: &str, offset: FixedOffset) -> String {
    match chrono::DateTime::parse_from_rfc3339(tag) {
        Ok(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// Whether msgid `id` is older than the one kept: natter's msgids are
/// numbers; other servers' opaque ids are compared as text.
trait OlderExt {
    fn is_none_or_older(&self, id: &str) -> bool;
}

impl OlderExt for Option<&String> {
    fn is_none_or_older(&self, id: &str) -> bool {
        match self {
            None => true,
            Some(kept) => match (kept.parse::<u64>(), id.parse::<u64>()) {
                (Ok(kept), Ok(id)) => id < kept,
                _ => false,
            },
        }
    }
}

/// `3h 5m`, `12m 4s` or `42s`.
fn idle_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    }
}

fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&'])
}

fn send(msg: Message) -> Output {
    Output::Send(msg.to_string())
}

fn display(kind: LineKind, text: impl AsRef<str>) -> Output {
    Output::Display(DisplayLine::new(kind, text))
}

/// `text` cut into pieces of at most `budget` bytes, at char boundaries,
/// preferring to break after a space.
fn split_at_budget(text: &str, budget: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > budget {
        let mut end = budget;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(space) = rest[..end].rfind(' ').filter(|&i| i > budget / 2) {
            end = space + 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_times_are_shown_in_the_persons_own_time_zone() {
        let at = |hours: i32| FixedOffset::east_opt(hours * 3600).expect("a valid offset");
        let tag = "2023-11-09T12:35:01.000Z";
        assert_eq!(history_time(tag, Utc.fix()), "2023-11-09 12:35");
        assert_eq!(history_time(tag, at(1)), "2023-11-09 13:35");
        assert_eq!(history_time(tag, at(-5)), "2023-11-09 07:35");
        assert_eq!(
            history_time("2023-11-09T23:30:00.000Z", at(2)),
            "2023-11-10 01:30",
            "past midnight the date moves too"
        );
        assert_eq!(history_time("not a time", at(1)), "");
    }
}
