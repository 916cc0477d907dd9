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
use super::display::{DisplayLine, LineKind};
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
                // The conversation a history line belongs to: its batch's.
                let partner = msg
                    .tag("batch")
                    .and_then(|b| self.batches.get(b))
                    .filter(|t| !is_channel(t))
                    .cloned();
                let kept_as = match &partner {
                    Some(p) => Some(p.as_str()),
                    None => is_channel(target).then_some(target),
                };
                if let Some((id, key)) = msg.tag("msgid").zip(kept_as) {
                    let folded = casefold(key);
                    let older = self.oldest.get(&folded).is_none_or_older(id);
                    if older {
                        self.oldest.insert(folded, id.to_string());
                    }
                }
                let in_history = msg
                    .tag("batch")
                    .is_some_and(|b| self.batches.contains_key(b));
                let elsewhere = self.sent_by_my_other_session(&from, target, msg.tag("account"));
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
                    // A conversation's history: lines to the partner are
                    // this account's own (whichever nick sent them then).
                    let nick = self.nick.clone();
                    let (from, target, elsewhere) = match &partner {
                        Some(p) if casefold(p) == casefold(target) => {
                            (nick.as_str(), p.as_str(), false)
                        }
                        Some(_) => (from.as_str(), nick.as_str(), false),
                        None => (from.as_str(), target, elsewhere),
                    };
                    let line =
                        self.render_message(&command, from, target, msg.param(1), elsewhere, now);
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
                    let line = self.render_message(
                        &command,
                        &from,
                        msg.param(0),
                        msg.param(1),
                        elsewhere,
                        now,
                    );
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
                for cap in caps.split(' ').filter(|c| !c.is_empty()) {
                    let (name, value) = cap.split_once('=').unwrap_or((cap, ""));
                    if name == "sasl" {
                        self.sasl_mechanisms = value
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(str::to_ascii_uppercase)
                            .collect();
                    }
                    self.cap_offered.push(name.to_string());
                }
                if more {
                    return;
                }
                let login = self.login.is_some();
                let mut wanted: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|w| self.cap_offered.iter().any(|c| c == w))
                    .collect();
                if login && self.cap_offered.iter().any(|c| c == "sasl") {
                    wanted.push("sasl");
                } else if login {
                    self.no_login("this server does not offer SASL", out);
                }
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
                self.account_tag = acked.contains(&"account-tag");
                self.chathistory = ["draft/chathistory", "batch", "server-time", "message-tags"]
                    .iter()
                    .all(|c| acked.contains(c));
                let sasl = acked.contains(&"sasl");
                if sasl && self.begin_sasl(out) {
                    // CAP END waits for the login's 903 or 904.
                    return;
                }
                if !sasl && self.login.is_some() {
                    self.no_login("the server refused the sasl capability", out);
                }
                self.end_cap(out);
            }
            "NAK" => {
                if self.login.is_some() {
                    self.no_login("the server refused the sasl capability", out);
                }
                self.end_cap(out);
            }
            _ => {}
        }
    }

    fn on_batch(&mut self, msg: &Message, out: &mut Vec<Output>) {
        let reference = msg.param(0);
        if let Some(id) = reference.strip_prefix('+') {
            if msg.param(1) == "chathistory" {
                let room = msg.param(2).to_string();
                if !is_channel(&room) {
                    out.push(display(
                        LineKind::Info,
                        format!("*** History of your private conversation with {room}:"),
                    ));
                }
                self.batches.insert(id.to_string(), room);
                self.batch_counts.insert(id.to_string(), 0);
            } else if msg.param(1) == "draft/chathistory-targets" {
                self.target_batches.insert(id.to_string(), Vec::new());
            }
        } else if let Some(id) = reference.strip_prefix('-') {
            if let Some(room) = self.batches.remove(id) {
                let count = self.batch_counts.remove(id).unwrap_or(0);
                let line = match (count, is_channel(&room)) {
                    (0, true) => format!("*** No earlier messages in {room}"),
                    (_, true) => format!("*** End of {count} history messages of {room}"),
                    (0, false) => format!("*** No earlier messages with {room}"),
                    (_, false) => format!("*** End of {count} history messages with {room}"),
                };
                out.push(display(LineKind::Info, line));
            } else if let Some(names) = self.target_batches.remove(id) {
                self.catch_up(names, out);
            }
        }
    }

    /// `CHATHISTORY TARGETS` answered with `names`: fetch the latest
    /// messages of each private correspondent (not of rooms: joining shows
    /// those), unless a `/query` already did.
    fn catch_up(&mut self, names: Vec<String>, out: &mut Vec<Output>) {
        let mut people: Vec<String> = Vec::new();
        for name in names {
            let open = self.queries.iter().any(|q| casefold(q) == casefold(&name));
            let seen = people.iter().any(|p| casefold(p) == casefold(&name));
            if !is_channel(&name) && !self.is_me(&name) && !open && !seen {
                people.push(name);
            }
        }
        // The server lists the oldest first: keep the most recent.
        let skip = people.len().saturating_sub(CATCH_UP_PEOPLE);
        let people = &people[skip..];
        if people.is_empty() {
            out.push(display(
                LineKind::Info,
                "*** No new private messages in the last day",
            ));
            return;
        }
        out.push(display(
            LineKind::Info,
            format!(
                "*** Private messages of the last day, with {} (history follows; /query NICK to reply)",
                people.join(", ")
            ),
        ));
        let n = CATCH_UP_MESSAGES.to_string();
        for person in people {
            out.push(send(Message::new(
                "CHATHISTORY",
                ["LATEST", person.as_str(), "*", n.as_str()],
            )));
        }
    }

    /// Asks which conversations had messages in the last day (from the
    /// last full time the shell passed in; without one, nothing is asked).
    fn ask_targets(&self, out: &mut Vec<Output>) {
        let Some(now) = self.utc_now else {
            return;
        };
        let stamp = |t: DateTime<Utc>| format!("timestamp={}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        // A little into the future: the server's clock may run ahead of ours.
        let from = stamp(now - TimeDelta::hours(24));
        let to = stamp(now + TimeDelta::minutes(10));
        out.push(send(Message::new(
            "CHATHISTORY",
            ["TARGETS", from.as_str(), to.as_str(), "50"],
        )));
    }

    /// Starts the SASL exchange the server just agreed to; `false` (after
    /// saying why) when there is no mechanism this session may use.
    fn begin_sasl(&mut self, out: &mut Vec<Output>) -> bool {
        let Some(login) = &self.login else {
            return false;
        };
        let offered = |m: &str| self.sasl_mechanisms.iter().any(|o| o == m);
        // No list (a `sasl` without a value) means: try, and hear 908 if not.
        if self.sasl_mechanisms.is_empty() || offered("SCRAM-SHA-256") {
            self.sasl = Sasl::BegunScram;
            out.push(send(Message::new("AUTHENTICATE", ["SCRAM-SHA-256"])));
            return true;
        }
        if offered("PLAIN") && login.plain_allowed {
            self.sasl = Sasl::BegunPlain;
            out.push(send(Message::new("AUTHENTICATE", ["PLAIN"])));
            return true;
        }
        let why = if offered("PLAIN") {
            "the server offers only SASL PLAIN, which would send your password \
             readable on an unencrypted connection (connect with --tls)"
                .to_string()
        } else {
            format!(
                "the server offers no password login (only {})",
                self.sasl_mechanisms.join(", ")
            )
        };
        self.no_login(&why, out);
        false
    }

    /// Says that the session carries on without logging in, and why.
    fn no_login(&mut self, why: &str, out: &mut Vec<Output>) {
        self.sasl = Sasl::Idle;
        let account = self.login.as_ref().map_or("", |l| l.account.as_str());
        out.push(display(
            LineKind::Error,
            format!("*** Not logged in as {account}: {why}. Carrying on without logging in."),
        ));
    }

    /// One `AUTHENTICATE` line from the server: a piece of its next SASL
    /// message (`+` is an empty one; a 400-byte piece means more follow).
    fn on_authenticate(&mut self, piece: &str, out: &mut Vec<Output>) {
        if piece != "+" {
            self.sasl_partial.push_str(piece);
            if piece.len() == 400 && self.sasl_partial.len() < 64 * 1024 {
                return;
            }
        }
        let encoded = std::mem::take(&mut self.sasl_partial);
        let message = match B64.decode(encoded.as_bytes()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) if encoded.is_empty() => String::new(),
            Err(_) => {
                self.abort_sasl("the server sent a SASL message that is not base64", out);
                return;
            }
        };
        let Some(login) = self.login.clone() else {
            return;
        };
        match std::mem::replace(&mut self.sasl, Sasl::Waiting) {
            Sasl::BegunPlain => {
                let payload = format!("\0{}\0{}", login.account, login.password);
                out.extend(authenticate(payload.as_bytes()));
            }
            Sasl::BegunScram => {
                let client = ScramClient::new(&login.account, &login.password, &login.nonce);
                out.extend(authenticate(client.client_first().as_bytes()));
                self.sasl = Sasl::ScramFirst(Box::new(client));
            }
            Sasl::ScramFirst(mut client) => match client.client_final(&message) {
                Ok(last) => {
                    out.extend(authenticate(last.as_bytes()));
                    self.sasl = Sasl::ScramFinal(client);
                }
                Err(e) => self.abort_sasl(&scram_why(&e), out),
            },
            Sasl::ScramFinal(client) => match client.verify_server_final(&message) {
                Ok(()) => out.push(send(Message::new("AUTHENTICATE", ["+"]))),
                Err(e) => self.abort_sasl(&scram_why(&e), out),
            },
            other => self.sasl = other,
        }
    }

    /// Stops the SASL exchange (`AUTHENTICATE *`) and says why; the
    /// server's 906 then ends CAP negotiation.
    fn abort_sasl(&mut self, why: &str, out: &mut Vec<Output>) {
        self.no_login(why, out);
        self.sasl = Sasl::Aborted;
        out.push(send(Message::new("AUTHENTICATE", ["*"])));
    }

    /// The end of a SASL exchange (903…907): registration goes on.
    fn sasl_over(&mut self, out: &mut Vec<Output>) {
        self.sasl = Sasl::Idle;
        self.sasl_partial.clear();
        if !self.cap_done {
            self.end_cap(out);
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
    /// `elsewhere`: sent by another session of this account (see
    /// [`Session::sent_by_my_other_session`]).
    fn render_message(
        &self,
        command: &str,
        from: &str,
        target: &str,
        text: &str,
        elsewhere: bool,
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
        let line = if elsewhere {
            format!("[{time}] you (from another session) -> *{target}*: {shown}")
        } else if self.is_me(from) && !self.is_me(target) {
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
                if self.account.is_some() && self.chathistory {
                    self.ask_targets(out);
                }
            }
            "900" => {
                // `<nick> <nick!user@host> <account> :You are now logged in as <account>`
                let account = msg.param(2).to_string();
                out.push(display(
                    LineKind::Event,
                    format!("*** Logged in as {account}"),
                ));
                self.account = Some(account);
            }
            "901" => {
                self.account = None;
                out.push(display(LineKind::Event, "*** You are now logged out"));
            }
            "903" | "907" => self.sasl_over(out),
            "902" | "904" | "905" | "906" => {
                if !matches!(self.sasl, Sasl::Aborted) {
                    let account = self.login.as_ref().map_or("", |l| l.account.as_str());
                    out.push(error(format!(
                        "*** Login as {account} failed: {last}. Check the account name \
                         (--account) and the password (--password-file or NATTER_PASSWORD); \
                         carrying on without logging in."
                    )));
                }
                self.sasl_over(out);
            }
            "908" => {}
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
                if self.login.is_some() {
                    self.no_login("this server does not offer SASL", out);
                }
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

    /// Whether a private message between two others (`from` → `target`,
    /// neither this session's nick) was sent by another session of this
    /// account: by its `account` tag when the server sends them; else by the
    /// account's name; else yes (the server sends such a line only to the
    /// accounts at its two ends).
    fn sent_by_my_other_session(&self, from: &str, target: &str, tag: Option<&str>) -> bool {
        if !is_valid_nick(target) || self.is_me(from) || self.is_me(target) {
            return false;
        }
        let mine = |name: &str| {
            self.account
                .as_deref()
                .is_some_and(|a| casefold(a) == casefold(name))
        };
        match tag {
            Some(account) => mine(account),
            // With account-tag on, an untagged sender is logged in to nothing.
            None if self.account_tag => false,
            None => !mine(target),
        }
    }

    /// `/query NICK`: opens (or switches to) the private conversation with
    /// `nick`, showing its history when the account keeps one.
    fn open_query(&mut self, nick: &str) -> Vec<Output> {
        if is_channel(nick) {
            return vec![display(
                LineKind::Error,
                format!("*** {nick} is a room: /join {nick}"),
            )];
        }
        if !is_valid_nick(nick) {
            return vec![display(
                LineKind::Error,
                format!("*** {nick:?} is not a valid nickname"),
            )];
        }
        let known = self
            .queries
            .iter()
            .find(|q| casefold(q) == casefold(nick))
            .cloned();
        let name = known.clone().unwrap_or_else(|| nick.to_string());
        self.current_room = Some(name.clone());
        let mut out = vec![display(
            LineKind::Info,
            format!("*** Now talking privately with {name} (/part to close)"),
        )];
        if known.is_some() {
            return out;
        }
        self.queries.push(name.clone());
        if self.chathistory && self.account.is_some() {
            let n = QUERY_HISTORY.to_string();
            out.push(send(Message::new(
                "CHATHISTORY",
                ["LATEST", name.as_str(), "*", n.as_str()],
            )));
        } else if self.chathistory {
            out.push(display(
                LineKind::Info,
                "*** Log in (--password-file or NATTER_PASSWORD) to see your earlier messages",
            ));
        }
        out
    }

    /// `/part` in a private conversation: closes it.
    fn close_query(&mut self, nick: &str) -> Vec<Output> {
        let folded = casefold(nick);
        self.queries.retain(|q| casefold(q) != folded);
        let mut out = vec![display(
            LineKind::Info,
            format!("*** Closed the conversation with {nick}"),
        )];
        if self.is_current(nick) {
            self.current_room = self.rooms.last().or(self.queries.last()).cloned();
            let hint = match &self.current_room {
                Some(next) => format!("*** Now talking in {next}"),
                None => "*** You are in no room now: /join #room to talk".to_string(),
            };
            out.push(display(LineKind::Info, hint));
        }
        out
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
            Command::Query { nick, text } => {
                let mut out = self.open_query(&nick);
                if let (Some(text), Some(current)) = (text, self.current_room.clone()) {
                    if casefold(&current) == casefold(&nick) {
                        out.extend(self.send_text(&current, &text, false, now));
                    }
                }
                out
            }
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
                Some(nick) if !is_channel(&nick) => self.close_query(&nick),
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
                out.extend(self.render_message("PRIVMSG", &nick, target, &body, false, now));
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

/// `AUTHENTICATE` lines carrying one SASL message: base64 in 400-byte
/// pieces, `+` for an empty one or after a last piece of exactly 400.
fn authenticate(message: &[u8]) -> Vec<Output> {
    let encoded = B64.encode(message);
    let mut out: Vec<Output> = encoded
        .as_bytes()
        .chunks(400)
        .map(|piece| {
            send(Message::new(
                "AUTHENTICATE",
                [String::from_utf8_lossy(piece)],
            ))
        })
        .collect();
    if encoded.len().is_multiple_of(400) {
        out.push(send(Message::new("AUTHENTICATE", ["+"])));
    }
    out
}

/// Why a SCRAM login stopped, for the person.
fn scram_why(e: &ScramError) -> String {
    format!("SCRAM-SHA-256 login stopped: {e}")
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
mod tests;
