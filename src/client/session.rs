//! [`Session`]: the client's side of one IRC connection, sans I/O.
//!
//! Owns registration (CAP, NICK, USER, and logging in with SASL), the rooms
//! and private conversations this user has open and which one is current,
//! fetching history (a room's, a conversation's, and on connect the private
//! messages of the last day), the turning of server lines into
//! [`DisplayLine`]s and of typed input into protocol lines. Must never touch sockets, terminals,
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
use super::display::{Chat, ChatStyle, DisplayLine, LineKind};
use super::error::ClientError;
use super::scram::{ScramClient, ScramError};
use crate::proto::{casefold, is_valid_nick, Message, MAX_LINE};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use std::collections::BTreeMap;
use std::fmt;

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

/// Logging in to an account with SASL while registering.
///
/// ```
/// use natter::client::Login;
/// let login = Login {
///     account: "alice".into(),
///     password: "correct horse".into(),
///     nonce: "fyko+d2lbbFgONRv9qkxdawL".into(),
///     plain_allowed: false,
/// };
/// assert!(!format!("{login:?}").contains("horse"), "Debug never shows the password");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The account to log in to.
    pub account: String,
    /// Its password.
    pub password: String,
    /// A fresh, unpredictable SCRAM client nonce: printable ASCII without
    /// `,` (the shell draws it from the OS's random source).
    pub nonce: String,
    /// Whether SASL PLAIN, which sends the password itself, may be used
    /// when the server offers nothing better: only over TLS or to this
    /// machine. SCRAM-SHA-256 is always preferred.
    pub plain_allowed: bool,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("account", &self.account)
            .field("plain_allowed", &self.plain_allowed)
            .finish_non_exhaustive()
    }
}

/// When a line is handled: the person's local time of day (shown on live
/// lines) and, when the shell knows it, the full time (to ask the server
/// for the private messages of the last day). The shell passes
/// `chrono::Local::now()`; tests may pass a bare [`NaiveTime`].
///
/// ```
/// use natter::client::Clock;
/// use chrono::{NaiveTime, TimeZone, Utc};
/// let bare = Clock::from(NaiveTime::from_hms_opt(12, 0, 0).unwrap());
/// assert!(bare.utc.is_none());
/// let full = Clock::from(Utc.with_ymd_and_hms(2023, 11, 9, 12, 0, 0).unwrap());
/// assert_eq!(full.local, NaiveTime::from_hms_opt(12, 0, 0).unwrap());
/// assert!(full.utc.is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The local time of day.
    pub local: NaiveTime,
    /// The full time, in UTC, if known.
    pub utc: Option<DateTime<Utc>>,
}

impl From<NaiveTime> for Clock {
    fn from(local: NaiveTime) -> Clock {
        Clock { local, utc: None }
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Clock {
    fn from(at: DateTime<Tz>) -> Clock {
        Clock {
            local: at.naive_local().time(),
            utc: Some(at.with_timezone(&Utc)),
        }
    }
}

/// Where a SASL login stands.
#[derive(Debug)]
enum Sasl {
    /// Not logging in (no password, not started, or over).
    Idle,
    /// `AUTHENTICATE PLAIN` sent: waiting for `+`.
    BegunPlain,
    /// `AUTHENTICATE SCRAM-SHA-256` sent: waiting for `+`.
    BegunScram,
    /// SCRAM client-first sent: waiting for server-first.
    ScramFirst(Box<ScramClient>),
    /// SCRAM client-final sent: waiting for server-final.
    ScramFinal(Box<ScramClient>),
    /// Everything sent: waiting for 903 or 904.
    Waiting,
    /// We stopped it (`AUTHENTICATE *`) and said why: its 904/906 is quiet.
    Aborted,
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
    /// The oldest msgid seen per folded room or correspondent: where
    /// `/history` continues.
    oldest: BTreeMap<String, String>,
    /// The account to log in to with SASL, if the person gave a password.
    login: Option<Login>,
    sasl: Sasl,
    /// A server SASL message arriving in 400-byte pieces.
    sasl_partial: String,
    /// The mechanisms the server advertised (`sasl=PLAIN,SCRAM-SHA-256`).
    sasl_mechanisms: Vec<String>,
    /// The account this connection is logged in to (from 900).
    account: Option<String>,
    /// The server tags messages with their sender's account (`account-tag`).
    account_tag: bool,
    /// Private conversations open with `/query`, in the order opened.
    queries: Vec<String>,
    /// Open `draft/chathistory-targets` batches: reference → names listed.
    target_batches: BTreeMap<String, Vec<String>>,
    /// The last full time the shell passed in, if any.
    utc_now: Option<DateTime<Utc>>,
    /// Nicks whose messages are hidden (`/ignore`), as typed.
    ignored: Vec<String>,
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
            login: None,
            sasl: Sasl::Idle,
            sasl_partial: String::new(),
            sasl_mechanisms: Vec::new(),
            account: None,
            account_tag: false,
            queries: Vec::new(),
            target_batches: BTreeMap::new(),
            utc_now: None,
            ignored: Vec::new(),
        }
    }

    /// Logs in to `login.account` with SASL while registering
    /// (SCRAM-SHA-256 if the server offers it, else PLAIN where allowed).
    /// Without this the session registers without logging in.
    pub fn with_login(mut self, login: Login) -> Session {
        self.login = Some(login);
        self
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

    /// Where plain text goes, if anywhere: a room, or the nick of the
    /// private conversation opened with `/query`.
    pub fn current_room(&self) -> Option<&str> {
        self.current_room.as_deref()
    }

    /// Private conversations open with `/query`, in the order opened.
    pub fn queries(&self) -> &[String] {
        &self.queries
    }

    /// The account this connection is logged in to, if any.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
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

    /// Handle one line from the server (without CR LF); `now` is the time
    /// (see [`Clock`]): its local time is shown on chat lines. Lines that do
    /// not parse are ignored.
    pub fn handle_server_line(&mut self, line: &str, now: impl Into<Clock>) -> Vec<Output> {
        let now = self.tick(now.into());
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
            "AUTHENTICATE" => self.on_authenticate(msg.param(0), &mut out),
            "CHATHISTORY" if msg.param(0).eq_ignore_ascii_case("TARGETS") => {
                let name = msg.param(1).to_string();
                match msg
                    .tag("batch")
                    .and_then(|b| self.target_batches.get_mut(b))
                {
                    Some(names) => names.push(name),
                    None => self.catch_up(vec![name], &mut out),
                }
            }
            "FAIL" => {
                let text = msg.params.last().map(String::as_str).unwrap_or("");
                out.push(display(
                    LineKind::Error,
                    format!("*** {}: {text}", msg.param(0)),
                ));
            }
            "PRIVMSG" | "NOTICE" | "INVITE" if self.is_ignored(&from) && !self.is_me(&from) => {}
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
                out.push(display_in(LineKind::Event, line, room));
            }
            "MODE" => {
                let target = msg.param(0);
                let change = msg.params.get(1..).unwrap_or_default().join(" ");
                let line = if is_channel(target) {
                    format!("*** {from} sets mode {change} on {target}")
                } else {
                    format!("*** Your modes are now {change}")
                };
                let window = if is_channel(target) { target } else { "" };
                out.push(display_in(LineKind::Event, line, window));
            }
            "INVITE" => {
                let room = msg.param(1);
                out.push(display(
                    LineKind::Event,
                    format!("*** {from} invites you to {room} (/join {room})"),
                ));
            }
            "KICK" => {
                let (room, who, reason) = (msg.param(0), msg.param(1), msg.param(2));
                out.push(display_in(
                    LineKind::Event,
                    format!("*** {who} was kicked from {room} by {from} ({reason})"),
                    room,
                ));
                if self.is_me(who) {
                    self.left_room(room, &mut out);
                }
            }
            "PRIVMSG" | "NOTICE" => self.on_message(&command, &from, &msg, now, &mut out),
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

    fn on_join(&mut self, from: &str, room: &str, now: NaiveTime, out: &mut Vec<Output>) {
        if room.is_empty() {
            return;
        }
        if !self.is_me(from) {
            out.push(display_in(
                LineKind::Event,
                format!("*** {from} joined {room}"),
                room,
            ));
            return;
        }
        if self.in_room(room).is_none() {
            self.rooms.push(room.to_string());
        }
        self.current_room = Some(room.to_string());
        out.push(display_in(
            LineKind::Event,
            format!("*** You joined {room}"),
            room,
        ));
        self.become_ready(now, out);
    }

    fn on_part(&mut self, from: &str, room: &str, reason: Option<&String>, out: &mut Vec<Output>) {
        let reason = reason
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        if !self.is_me(from) {
            out.push(display_in(
                LineKind::Event,
                format!("*** {from} has left {room}{reason}"),
                room,
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
    pub fn handle_input(&mut self, line: &str, now: impl Into<Clock>) -> Vec<Output> {
        let now = self.tick(now.into());
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

    /// Keeps the full time, if the shell passed one; the local time of day.
    fn tick(&mut self, clock: Clock) -> NaiveTime {
        if clock.utc.is_some() {
            self.utc_now = clock.utc;
        }
        clock.local
    }
}

/// Messages of a conversation shown when `/query` opens it.
const QUERY_HISTORY: usize = 50;
/// On connect: at most this many correspondents of the last day…
const CATCH_UP_PEOPLE: usize = 10;
/// …with at most this many of their latest messages each.
const CATCH_UP_MESSAGES: usize = 20;

/// Capabilities natter-client asks for when the server offers them (and
/// `sasl` when it has a password to log in with).
const WANTED_CAPS: &[&str] = &[
    "account-tag",
    "echo-message",
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
];

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

/// A display line that belongs to `window` (a room, or a conversation's nick).
fn display_in(kind: LineKind, text: impl AsRef<str>, window: &str) -> Output {
    Output::Display(DisplayLine::new(kind, text).in_window(window))
}

mod caps;
mod commands;
mod input;
mod login;
mod messages;
mod numerics;
mod private;
#[cfg(test)]
mod tests;
