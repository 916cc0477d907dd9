//! The checks the fuzz targets run on every input.
//!
//! Shared, by `#[path]`, between the cargo-fuzz targets (nightly, libFuzzer)
//! and `tests/fuzz_regressions.rs` (stable `cargo test`), so that every crash
//! input and seed input is replayed through exactly the same checks in CI.
//! Depends on `natter` and std only. Each check panics on a violation.
#![allow(dead_code)]

use natter::core::{
    Action, ConnId, Event, Instant, Now, Room, Server, ServerConfig, Timestamp, KEYLEN,
    MAX_LIST_ENTRIES,
};
use natter::proto::{casefold, ChannelMode, LineError, LineReader, Message, MAX_LINE, MAX_TAGS};
use std::collections::{BTreeMap, BTreeSet};

/// The most a `LineReader` may hold for an unfinished line: the longest
/// (tagged) line plus the CR of its CR LF.
pub const READER_BOUND: usize = MAX_LINE + MAX_TAGS + 1;

/// Whether `s` could break a line on the wire.
fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n', '\0'])
}

// ----- parse_message --------------------------------------------------------

/// Target `parse_message`: any bytes, as a line. Valid UTF-8 is parsed as is;
/// anything else is parsed after lossy decoding.
pub fn check_parse_message(data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(line) => check_parse_line(line),
        Err(_) => check_parse_line(&String::from_utf8_lossy(data)),
    }
}

/// Parsing never panics; a line that parses serializes without CR, LF or NUL
/// and parses back to the very same message.
pub fn check_parse_line(line: &str) {
    let Ok(msg) = Message::parse(line) else {
        return;
    };
    let wire = msg.to_string();
    assert!(!has_line_break(&wire), "serialized {msg:?} as {wire:?}");
    let back = Message::parse(&wire)
        .unwrap_or_else(|e| panic!("{line:?} parsed, but its serialization {wire:?} did not: {e}"));
    assert_eq!(back, msg, "{line:?} -> {wire:?} changed the message");
}

// ----- line_reader ----------------------------------------------------------

/// What a `LineReader` must produce for `stream`, computed the obvious way:
/// split at LF, drop one trailing CR, skip empty lines, reject lines over the
/// limit (which depends on whether the line starts with `@`; a tagged line's
/// `@tags ` section may take at most `MAX_TAGS` bytes and the rest at most
/// `MAX_LINE`) and invalid UTF-8. An unfinished last line yields nothing
/// unless it is already over its limit (+1 for a CR that may still be
/// coming), in which case it is reported at once.
pub fn reference_lines(stream: &[u8]) -> Vec<Result<String, LineError>> {
    let limit_for = |line: &[u8]| {
        if line.first() == Some(&b'@') {
            MAX_LINE + MAX_TAGS
        } else {
            MAX_LINE
        }
    };
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    // `split` always yields the part after the last LF: the unfinished line.
    let unfinished = pieces.pop().unwrap_or(&[]);
    for piece in pieces {
        let limit = limit_for(piece);
        let line = piece.strip_suffix(b"\r").unwrap_or(piece);
        if line.is_empty() {
            continue;
        }
        if line.len() > limit {
            out.push(Err(LineError::TooLong { limit }));
            continue;
        }
        if line.first() == Some(&b'@') {
            let tags = match line.iter().position(|&b| b == b' ') {
                Some(space) => space + 1,
                None => line.len(),
            };
            if tags > MAX_TAGS {
                out.push(Err(LineError::TooLong { limit: MAX_TAGS }));
                continue;
            }
            if line.len() - tags > MAX_LINE {
                out.push(Err(LineError::TooLong { limit: MAX_LINE }));
                continue;
            }
        }
        out.push(String::from_utf8(line.to_vec()).map_err(|_| LineError::InvalidUtf8));
    }
    let limit = limit_for(unfinished);
    if unfinished.len() > limit + 1 {
        out.push(Err(LineError::TooLong { limit }));
    }
    out
}

/// Target `line_reader`: feeding `stream` in the chunks that `cuts` describe
/// (each cut taken modulo the stream length) gives the same items as feeding
/// it at once, and as [`reference_lines`]; the reader never holds more than
/// [`READER_BOUND`] bytes after a push; no line is empty or holds an LF.
pub fn check_line_reader(stream: &[u8], cuts: &[u16]) {
    let expected = reference_lines(stream);

    let mut whole = LineReader::new();
    whole.push(stream);
    let at_once: Vec<_> = std::iter::from_fn(|| whole.next_line()).collect();
    assert_eq!(at_once, expected, "one push differs from the reference");

    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (stream.len() + 1))
        .collect();
    points.sort_unstable();
    let mut chunked = LineReader::new();
    let mut got = Vec::new();
    let mut start = 0;
    for end in points.into_iter().chain([stream.len()]) {
        chunked.push(&stream[start..end]);
        start = end;
        assert!(
            chunked.buffered() <= READER_BOUND,
            "reader holds {} bytes",
            chunked.buffered()
        );
        got.extend(std::iter::from_fn(|| chunked.next_line()));
    }
    assert_eq!(got, expected, "chunked pushes differ from the reference");
    for line in got.iter().flatten() {
        assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
    }
}

// ----- server ---------------------------------------------------------------

/// One step of a fuzzed run of the whole `Server`. Connection numbers pick
/// among every connection opened so far (modulo their count), closed ones
/// included: the core must ignore events for connections it has forgotten.
#[derive(Debug, Clone)]
pub enum Op {
    /// Open a new connection; the number varies its peer address.
    Connect(u8),
    /// One complete line, given to the core as is (it may hold CR, LF, NUL).
    Line(u8, String),
    /// Raw bytes through that connection's own `LineReader`.
    Bytes(u8, Vec<u8>),
    /// Register with `NICK`/`USER` (the nick is [`nick_for`] the number).
    Register(u8, u8),
    /// `JOIN` one of a few rooms.
    Join(u8, u8),
    /// `PRIVMSG` one of a few rooms.
    Say(u8, u8, String),
    /// The connection drops without QUIT (EOF, reset).
    Close(u8),
    /// Time passes.
    Tick(u16),
    /// `JOIN #a,#b,… key,,key…`: several of [`TARGETS`], each with one of
    /// [`KEYS`] or no key.
    JoinKeys(u8, Vec<(u8, Option<u8>)>),
    /// `MODE <target> <changes> <args…>` on one of [`TARGETS`] (rooms, one
    /// that never exists, one that is not a room name): every change and
    /// argument in one line; no change at all asks for the modes (324).
    RoomMode(u8, u8, Vec<ModeStep>),
    /// `MODE <nick> <changes>`: user modes, of oneself or of someone else.
    UserMode(u8, Who, Vec<ModeStep>),
    /// `KICK <room> <nick>,<nick>… [:comment]` on one of [`TARGETS`].
    Kick(u8, u8, Vec<Who>, Option<String>),
    /// `INVITE <nick> <room>`, the room one of [`TARGETS`].
    Invite(u8, Who, u8),
    /// `PART <room> [:reason]`, the room one of [`TARGETS`].
    Part(u8, u8, Option<String>),
    /// `TOPIC <room> [:text]`, the room one of [`TARGETS`]: asks, or sets.
    Topic(u8, u8, Option<String>),
    /// A new connection (peer shape as for [`Op::Connect`]) registers as
    /// [`nick_for`] the second number and joins one of a few rooms: three
    /// steps in one, so short inputs reach rooms with several members.
    Arrive(u8, u8, u8),
    /// `CAP REQ :…` of the capabilities the low 7 bits pick among
    /// [`CAPS`] (multi-prefix, invite-notify, tags…); bit 7 asks to
    /// remove them instead.
    Caps(u8, u8),
}

/// One letter of a fuzzed MODE line and the argument it brings.
#[derive(Debug, Clone)]
pub struct ModeStep {
    /// `+` (true) or `-`.
    pub set: bool,
    /// An index (modulo) into [`MODE_LETTERS`].
    pub letter: u8,
    /// Its argument; [`Arg::None`] adds none.
    pub arg: Arg,
}

/// An argument of a fuzzed MODE line. Arguments are written in the order
/// of their letters, whatever the letters take, so they may be missing,
/// surplus, or meant for another letter.
#[derive(Debug, Clone)]
pub enum Arg {
    /// No argument: a missing parameter, a list query, `-k`/`-l` alone.
    None,
    /// A nick.
    Who(Who),
    /// A hostmask: the shape (see [`mask_for`]) filled in with the nick,
    /// user name and host of the connection the first number picks.
    Mask(u8, u8),
    /// One of [`KEYS`].
    Key(u8),
    /// A limit: any number, zero, negative and huge included.
    Limit(i64),
    /// Any text (line breaks removed).
    Text(String),
}

/// Whom a KICK, INVITE, MODE +o/+v or user MODE names.
#[derive(Debug, Clone)]
pub enum Who {
    /// The sender's own nick (`*` before it has one).
    Me,
    /// The nick of the connection this number picks (as an `Op`'s
    /// connection number does), `*` if it has none: someone who exists.
    Conn(u8),
    /// The nick [`Op::Register`] gives this number (maybe nobody's).
    Nick(u8),
    /// Any text (line breaks removed).
    Text(String),
}

const ROOMS: [&str; 4] = ["#lobby", "#rust", "#LOBBY", "#x"];

/// Targets of the moderation commands: the rooms of [`ROOMS`], a room
/// nobody ever joins (unless a line does) and a name that is not a room.
pub const TARGETS: [&str; 6] = ["#lobby", "#rust", "#LOBBY", "#x", "#nowhere", "lobby"];

/// Channel and user mode letters: every one natter implements (`o v b e I
/// k l i m n s t`, user `i w o`), then some it does not (→ 472 / 501).
pub const MODE_LETTERS: [char; 20] = [
    'o', 'v', 'b', 'e', 'I', 'k', 'l', 'i', 'm', 'n', 's', 't', 'w', 'q', 'h', 'a', 'x', 'B', 'Z',
    'é',
];

/// Channel keys: good ones, one just too long, and ones no key may be.
pub const KEYS: [&str; 10] = [
    "sesame",
    "Sesame",
    "k",
    "xxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxy",
    "a,b",
    "*",
    "clé",
    ":",
    "-",
];

/// The capabilities a client may ask for.
pub const CAPS: [&str; 7] = [
    "echo-message",
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
    "multi-prefix",
    "invite-notify",
];

/// Where the `server` target starts when its input asks to (rather than
/// from an empty server), so that short inputs reach the moderation
/// handlers: n0 (connection 0, from 127.0.0.1), nick0 (1, 10.0.0.2, user
/// u2) and n1 (2, unknown host, user u4) in #lobby, n0 its operator, and
/// nick1 (3, ::1, user u6) in #rust, its operator.
pub fn cast() -> Vec<Op> {
    vec![
        Op::Arrive(0, 0, 0),
        Op::Arrive(2, 2, 0),
        Op::Arrive(3, 4, 0),
        Op::Arrive(1, 6, 1),
    ]
}

/// The nick [`Op::Register`] takes for `who`: four spellings, two of them
/// colliding case-insensitively with the other two.
pub fn nick_for(who: u8) -> String {
    format!(
        "{}{}",
        ["n", "N", "nick", "Nick"][usize::from(who % 4)],
        who / 4
    )
}

/// A hostmask of one of several shapes for `nick!user@host`: exact,
/// wildcards, case changes, bare nicks and hosts, a mask too long to keep,
/// and, past the named shapes, masks that differ by number only, enough to
/// fill a list.
pub fn mask_for(nick: &str, user: &str, host: &str, shape: u8) -> String {
    let first: String = nick.chars().take(1).collect();
    let rest: String = nick.chars().skip(1).collect();
    match shape {
        0 => "*!*@*".into(),
        1 => format!("{nick}!*@*"),
        2 => format!("*!{user}@*"),
        3 => format!("{nick}!{user}@{host}"),
        4 => "*".into(),
        5 => nick.into(),
        6 => format!("*!*@{host}"),
        7 => "*!*@10.0.0.*".into(),
        8 => format!("{first}*"),
        9 => "*!*@unknown".into(),
        10 => format!("?{rest}!*@*"),
        11 => format!("{}!*@*", "a".repeat(400)),
        12 => "*!*@*!*@*".into(),
        13 => "**!**@**".into(),
        14 => format!("{}!{}@*", nick.to_uppercase(), user.to_uppercase()),
        15 => format!("{user}@{host}"),
        n => format!("*!*@h{n}"),
    }
}

fn without_line_breaks(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

/// The words of `args` as the end of a line: each one as is, so a space
/// splits it and a leading `:` swallows the rest, but the last one is sent
/// as a trailing parameter when it needs to be (empty, spaces, a `:`).
fn push_args(line: &mut String, args: &[String]) {
    for (i, arg) in args.iter().enumerate() {
        line.push(' ');
        let last = i + 1 == args.len();
        if last && (arg.is_empty() || arg.contains(' ') || arg.starts_with(':')) {
            line.push(':');
        }
        line.push_str(arg);
    }
}

/// What the live lines of one event said happened to rooms, checked
/// against the rooms once the event is handled. Keys are case-folded.
#[derive(Debug, Default)]
struct Announced {
    /// (room, nick) → a member now (JOIN) or not (PART, KICK).
    member: BTreeMap<(String, String), bool>,
    /// (room, nick) of a JOIN, PART or KICK → who heard it: that person
    /// always does.
    heard: BTreeMap<(String, String), BTreeSet<ConnId>>,
    /// (room, nick, o|v) → the privilege is on or off.
    privilege: BTreeMap<(String, String, char), bool>,
    /// (room, letter) → the flag mode is on or off.
    flag: BTreeMap<(String, char), bool>,
    /// room → the key, or no key.
    key: BTreeMap<String, Option<String>>,
    /// room → the limit, or none.
    limit: BTreeMap<String, Option<String>>,
    /// (room, b|e|I, mask) → on the list or not.
    listed: BTreeMap<(String, char, String), bool>,
    /// (nick, room) of an INVITE sent to that nick.
    invited: BTreeSet<(String, String)>,
}

/// What a run did, so replayed seeds can show they reached the paths they aim at.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `Send` actions.
    pub sends: usize,
    /// `Broadcast` actions.
    pub broadcasts: usize,
    /// `Close` actions (the core closing a connection), shutdown included.
    pub closes: usize,
    /// `Log` actions.
    pub logs: usize,
    /// Live room MODE lines (broadcasts).
    pub mode_lines: usize,
    /// Live KICK lines (broadcasts).
    pub kick_lines: usize,
    /// INVITE lines sent to the invited.
    pub invite_lines: usize,
    /// Every numeric reply the run drew, once each.
    pub numerics: BTreeSet<String>,
}

/// The driver: the server plus a model of which connections are open.
struct Run {
    server: Server,
    now: Now,
    /// Every connection ever opened, in order.
    opened: Vec<ConnId>,
    /// Connections open now: opened, not dropped by us, not closed by the core.
    open: BTreeSet<ConnId>,
    readers: BTreeMap<ConnId, LineReader>,
    /// Each connection's host as the core shows it (from the peer address
    /// we gave it) and its user name (from [`Op::Register`]), for masks.
    idents: BTreeMap<ConnId, (String, String)>,
    summary: Summary,
    /// The last msgid the core asked to store.
    last_persisted: u64,
    /// Every room a JOIN was ever broadcast for (case-folded): every room
    /// that may exist.
    rooms_seen: BTreeSet<String>,
    /// What the current event's live lines announced.
    announced: Announced,
}

impl Run {
    fn pick(&self, n: u8) -> Option<ConnId> {
        if self.opened.is_empty() {
            return None;
        }
        Some(self.opened[usize::from(n) % self.opened.len()])
    }

    fn event(&mut self, event: Event) {
        let what = format!("{event:?}");
        self.announced = Announced::default();
        self.server.handle_event(event);
        while let Some(action) = self.server.poll_action() {
            self.check_action(&action, &what);
        }
        self.check_state(&what);
        self.check_announced(&what);
    }

    fn check_action(&mut self, action: &Action, after: &str) {
        match action {
            Action::Send { to, line } => {
                self.summary.sends += 1;
                assert!(self.open.contains(to), "{action:?} after {after}");
                let msg = check_out_line(line, action, after);
                if msg.command.len() == 3 && msg.command.bytes().all(|b| b.is_ascii_digit()) {
                    if !self.summary.numerics.contains(&msg.command) {
                        self.summary.numerics.insert(msg.command.clone());
                    }
                } else if msg.command == "INVITE" {
                    self.summary.invite_lines += 1;
                    let nick = casefold(msg.param(0));
                    assert_eq!(
                        self.server.nick_of(*to).map(casefold).as_ref(),
                        Some(&nick),
                        "an INVITE for someone else: {action:?} after {after}"
                    );
                    let room = casefold(msg.param(1));
                    self.announced.invited.insert((nick, room));
                }
            }
            Action::Broadcast { to, line } => {
                self.summary.broadcasts += 1;
                assert!(!to.is_empty(), "empty {action:?} after {after}");
                let unique: BTreeSet<_> = to.iter().collect();
                assert_eq!(unique.len(), to.len(), "{action:?} after {after}");
                for c in to {
                    assert!(self.open.contains(c), "{action:?} after {after}");
                }
                let msg = check_out_line(line, action, after);
                self.note_live(&msg, to, action, after);
            }
            Action::Close { conn, .. } => {
                self.summary.closes += 1;
                assert!(self.open.remove(conn), "{action:?} after {after}");
            }
            Action::Log(record) => {
                self.summary.logs += 1;
                let text = record.entry.to_string();
                assert!(!has_line_break(&text), "log {text:?} after {after}");
            }
            Action::Persist(record) => {
                assert!(
                    record.id > self.last_persisted,
                    "msgids must grow: {action:?} after {after}"
                );
                self.last_persisted = record.id;
            }
            // No operators are configured in the fuzzed server.
            Action::CheckPassword { .. } => {}
            Action::SaveReadMarker(_) => {}
            // The fuzzer never answers password work, so no account is
            // ever created or changed; REGISTER and IDENTIFY still run.
            Action::HashPassword { .. } => {}
            // No operator is configured, so no KLINE is ever set; an
            // expiry sweep never finds anything either.
            Action::SaveServerBan(_) | Action::DeleteServerBan { .. } => {
                panic!("a server ban changed with no operator: {action:?} after {after}")
            }
            Action::SaveAccount(_) | Action::DeleteAccount { .. } => {
                panic!("an account changed with no password ever hashed: {action:?} after {after}")
            }
            // Registering a room needs an account, and no account is ever
            // created here (see above).
            Action::SaveRoom(_) | Action::DeleteRoom { .. } => {
                panic!("a room registered with no account ever created: {action:?} after {after}")
            }
        }
    }

    /// Records what a live (broadcast) JOIN, PART, KICK or MODE line says
    /// happened, to be compared with the room once the event is handled.
    /// History replays are `Send`s, so they never come here.
    fn note_live(&mut self, msg: &Message, to: &[ConnId], action: &Action, after: &str) {
        let source_nick = || {
            let source = msg.source.as_deref().unwrap_or_default();
            casefold(source.split('!').next().unwrap_or_default())
        };
        let room = casefold(msg.param(0));
        let a = &mut self.announced;
        match msg.command.as_str() {
            "JOIN" | "PART" => {
                let key = (room.clone(), source_nick());
                a.member.insert(key.clone(), msg.command == "JOIN");
                a.heard.entry(key).or_default().extend(to);
                if msg.command == "JOIN" {
                    self.rooms_seen.insert(room);
                }
            }
            "KICK" => {
                self.summary.kick_lines += 1;
                let key = (room, casefold(msg.param(1)));
                a.member.insert(key.clone(), false);
                a.heard.entry(key).or_default().extend(to);
            }
            "MODE" if msg.param(0).starts_with('#') => {
                self.summary.mode_lines += 1;
                let changes =
                    parse_announced_modes(msg.param(1), &msg.params[2.min(msg.params.len())..])
                        .unwrap_or_else(|e| panic!("{e}: {action:?} after {after}"));
                for (set, letter, arg) in changes {
                    let arg = arg.map(str::to_string);
                    match letter {
                        'o' | 'v' => {
                            let nick = casefold(&arg.unwrap_or_default());
                            a.privilege.insert((room.clone(), nick, letter), set);
                        }
                        'b' | 'e' | 'I' => {
                            let mask = casefold(&arg.unwrap_or_default());
                            a.listed.insert((room.clone(), letter, mask), set);
                        }
                        'k' => {
                            a.key.insert(room.clone(), arg.filter(|_| set));
                        }
                        'l' => {
                            a.limit.insert(room.clone(), arg.filter(|_| set));
                        }
                        _ => {
                            a.flag.insert((room.clone(), letter), set);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The open connection called `nick` (case-folded), if any.
    fn conn_of(&self, nick: &str) -> Option<ConnId> {
        self.open
            .iter()
            .copied()
            .find(|&c| self.server.nick_of(c).map(casefold).as_deref() == Some(nick))
    }

    /// The rooms are as the event's live lines said: joiners are in,
    /// leavers and the kicked are out and heard it themselves, announced
    /// modes are the room's modes, invitations are pending.
    fn check_announced(&self, after: &str) {
        let a = &self.announced;
        for ((room, nick), &inside) in &a.member {
            let conn = self.conn_of(nick);
            let Some(conn) = conn else {
                panic!("{nick} announced in {room} is nobody after {after}");
            };
            let is_in = self.server.room(room).is_some_and(|r| r.contains(conn));
            assert_eq!(is_in, inside, "{nick} in {room}? after {after}");
            assert!(
                a.heard[&(room.clone(), nick.clone())].contains(&conn),
                "{nick} was not told of their own join/part/kick in {room} after {after}"
            );
        }
        let room_of = |room: &str| {
            self.server.room(room).unwrap_or_else(|| {
                panic!("MODE announced for {room}, which is gone, after {after}")
            })
        };
        for ((room, nick, letter), &on) in &a.privilege {
            let conn = self.conn_of(nick);
            let p = conn.and_then(|c| room_of(room).privileges(c));
            let Some(p) = p else {
                panic!("+{letter} {nick} announced in {room}, not a member, after {after}");
            };
            let has = if *letter == 'o' { p.op } else { p.voice };
            assert_eq!(has, on, "{letter} of {nick} in {room} after {after}");
        }
        for ((room, letter), &on) in &a.flag {
            let m = room_of(room).modes();
            let has = match letter {
                'i' => m.invite_only,
                'm' => m.moderated,
                'n' => m.no_external,
                's' => m.secret,
                't' => m.topic_lock,
                _ => unreachable!("checked when parsed"),
            };
            assert_eq!(has, on, "{letter} in {room} after {after}");
        }
        for (room, key) in &a.key {
            assert_eq!(
                &room_of(room).modes().key,
                key,
                "key of {room} after {after}"
            );
        }
        for (room, limit) in &a.limit {
            let has = room_of(room).modes().limit.map(|l| l.to_string());
            assert_eq!(&has, limit, "limit of {room} after {after}");
        }
        for ((room, letter, mask), &on) in &a.listed {
            let mode = list_mode(*letter);
            let has = room_of(room)
                .list(mode)
                .iter()
                .any(|e| casefold(&e.mask) == *mask);
            assert_eq!(has, on, "{mask} on {room}'s {letter} list after {after}");
        }
        for (nick, room) in &a.invited {
            let conn = self.conn_of(nick);
            let pending = conn
                .zip(self.server.room(room))
                .is_some_and(|(c, r)| r.is_invited(c));
            assert!(
                pending,
                "{nick} invited to {room}, not pending after {after}"
            );
        }
    }

    /// The core knows exactly the open connections, and nicks are unique
    /// case-insensitively. Every room that exists has members, all of
    /// them open and named; its invitations are for open connections
    /// outside it; its lists hold at most MAXLIST well-formed masks, each
    /// once; its key could be given in a JOIN; its limit is not 0.
    fn check_state(&self, after: &str) {
        assert_eq!(
            self.server.connection_count(),
            self.open.len(),
            "connection count after {after}"
        );
        let mut nicks = BTreeSet::new();
        for &c in &self.open {
            if let Some(nick) = self.server.nick_of(c) {
                assert!(nicks.insert(casefold(nick)), "{nick} twice after {after}");
            }
        }
        for name in &self.rooms_seen {
            if let Some(room) = self.server.room(name) {
                check_room(room, &self.open, &self.server, after);
            }
        }
    }

    fn line(&mut self, conn: ConnId, line: String) {
        let now = self.now;
        self.event(Event::Line { conn, line, now });
    }

    fn register(&mut self, conn: ConnId, who: u8) {
        if let Some((user, _)) = self.idents.get_mut(&conn) {
            if user == "*" {
                *user = format!("u{who}");
            }
        }
        self.line(conn, format!("NICK {}", nick_for(who)));
        self.line(conn, format!("USER u{who} 0 * :Real {who}"));
    }

    fn join(&mut self, conn: ConnId, room: u8) {
        let room = ROOMS[usize::from(room % 4)];
        self.line(conn, format!("JOIN {room}"));
    }

    fn who(&self, conn: ConnId, who: &Who) -> String {
        match who {
            Who::Me => self.server.nick_of(conn).unwrap_or("*").to_string(),
            Who::Conn(n) => self.nick_of_pick(*n),
            Who::Nick(n) => nick_for(*n),
            Who::Text(text) => without_line_breaks(text),
        }
    }

    /// The nick of the connection `n` picks, `*` if none.
    fn nick_of_pick(&self, n: u8) -> String {
        self.pick(n)
            .and_then(|c| self.server.nick_of(c))
            .unwrap_or("*")
            .to_string()
    }

    /// [`mask_for`] the connection `n` picks.
    fn mask(&self, n: u8, shape: u8) -> String {
        let nick = self.nick_of_pick(n);
        let (user, host) = self
            .pick(n)
            .and_then(|c| self.idents.get(&c))
            .map_or(("*", "*"), |(u, h)| (u.as_str(), h.as_str()));
        mask_for(&nick, user, host, shape)
    }

    /// `<target> <letters> <args…>` of a MODE line.
    fn mode_line(&self, conn: ConnId, target: &str, steps: &[ModeStep]) -> String {
        let mut letters = String::new();
        let mut args = Vec::new();
        let mut direction = None;
        for step in steps {
            if direction != Some(step.set) {
                letters.push(if step.set { '+' } else { '-' });
                direction = Some(step.set);
            }
            letters.push(MODE_LETTERS[usize::from(step.letter) % MODE_LETTERS.len()]);
            match &step.arg {
                Arg::None => {}
                Arg::Who(who) => args.push(self.who(conn, who)),
                Arg::Mask(n, shape) => args.push(self.mask(*n, *shape)),
                Arg::Key(k) => args.push(KEYS[usize::from(*k) % KEYS.len()].to_string()),
                Arg::Limit(n) => args.push(n.to_string()),
                Arg::Text(text) => args.push(without_line_breaks(text)),
            }
        }
        let mut line = format!("MODE {target}");
        if !steps.is_empty() {
            line.push(' ');
            line.push_str(&letters);
            push_args(&mut line, &args);
        }
        line
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Connect(n) => {
                let conn = ConnId(self.opened.len() as u64 + 1);
                let (peer, host) = match n % 4 {
                    0 => (
                        format!("127.0.0.1:{}", 1000 + u16::from(*n)),
                        "127.0.0.1".into(),
                    ),
                    1 => (format!("[::1]:{n}"), "::1".into()),
                    2 => (format!("10.0.0.{n}"), format!("10.0.0.{n}")),
                    _ => (String::new(), "unknown".into()),
                };
                self.idents.insert(conn, ("*".into(), host));
                self.opened.push(conn);
                self.open.insert(conn);
                self.readers.insert(conn, LineReader::new());
                let now = self.now;
                self.event(Event::Connected { conn, peer, now });
            }
            Op::Line(n, line) => {
                if let Some(conn) = self.pick(*n) {
                    self.line(conn, line.clone());
                }
            }
            Op::Bytes(n, bytes) => {
                let Some(conn) = self.pick(*n) else { return };
                let Some(reader) = self.readers.get_mut(&conn) else {
                    return;
                };
                reader.push(bytes);
                assert!(reader.buffered() <= READER_BOUND);
                let items: Vec<_> = std::iter::from_fn(|| reader.next_line()).collect();
                for item in items {
                    let now = self.now;
                    match item {
                        Ok(line) => self.event(Event::Line { conn, line, now }),
                        Err(error) => self.event(Event::BadLine { conn, error, now }),
                    }
                }
            }
            Op::Register(n, who) => {
                if let Some(conn) = self.pick(*n) {
                    self.register(conn, *who);
                }
            }
            Op::Join(n, room) => {
                if let Some(conn) = self.pick(*n) {
                    self.join(conn, *room);
                }
            }
            Op::Say(n, room, text) => {
                if let Some(conn) = self.pick(*n) {
                    let room = ROOMS[usize::from(room % 4)];
                    let text = without_line_breaks(text);
                    self.line(conn, format!("PRIVMSG {room} :{text}"));
                }
            }
            Op::Close(n) => {
                if let Some(conn) = self.pick(*n) {
                    // Also sent for connections already gone: a shell's reader
                    // may see EOF after the core closed the connection.
                    self.open.remove(&conn);
                    self.readers.remove(&conn);
                    let now = self.now;
                    self.event(Event::Disconnected {
                        conn,
                        reason: "Connection reset by peer".into(),
                        now,
                    });
                }
            }
            Op::Tick(secs) => {
                self.now = self.now.later_secs(u64::from(*secs));
                let now = self.now;
                self.event(Event::Timeout { now });
            }
            Op::JoinKeys(n, rooms) => {
                let Some(conn) = self.pick(*n) else { return };
                let names: Vec<&str> = rooms
                    .iter()
                    .map(|(r, _)| TARGETS[usize::from(*r) % TARGETS.len()])
                    .collect();
                let mut keys: Vec<&str> = rooms
                    .iter()
                    .map(|(_, k)| k.map_or("", |k| KEYS[usize::from(k) % KEYS.len()]))
                    .collect();
                while keys.last() == Some(&"") {
                    keys.pop();
                }
                let mut line = String::from("JOIN");
                let mut args = vec![names.join(",")];
                if !keys.is_empty() {
                    args.push(keys.join(","));
                }
                push_args(&mut line, &args);
                self.line(conn, line);
            }
            Op::RoomMode(n, target, steps) => {
                let Some(conn) = self.pick(*n) else { return };
                let target = TARGETS[usize::from(*target) % TARGETS.len()];
                let line = self.mode_line(conn, target, steps);
                self.line(conn, line);
            }
            Op::UserMode(n, who, steps) => {
                let Some(conn) = self.pick(*n) else { return };
                let target = self.who(conn, who);
                let line = self.mode_line(conn, &target, steps);
                self.line(conn, line);
            }
            Op::Kick(n, room, whom, comment) => {
                let Some(conn) = self.pick(*n) else { return };
                let room = TARGETS[usize::from(*room) % TARGETS.len()];
                let nicks: Vec<String> = whom.iter().map(|w| self.who(conn, w)).collect();
                let mut line = format!("KICK {room}");
                if !nicks.is_empty() {
                    line.push(' ');
                    line.push_str(&nicks.join(","));
                }
                if let Some(comment) = comment {
                    line.push_str(" :");
                    line.push_str(&without_line_breaks(comment));
                }
                self.line(conn, line);
            }
            Op::Invite(n, who, room) => {
                let Some(conn) = self.pick(*n) else { return };
                let room = TARGETS[usize::from(*room) % TARGETS.len()];
                let mut line = String::from("INVITE");
                push_args(&mut line, &[self.who(conn, who), room.to_string()]);
                self.line(conn, line);
            }
            Op::Part(n, room, reason) | Op::Topic(n, room, reason) => {
                let Some(conn) = self.pick(*n) else { return };
                let verb = if matches!(op, Op::Part(..)) {
                    "PART"
                } else {
                    "TOPIC"
                };
                let room = TARGETS[usize::from(*room) % TARGETS.len()];
                let mut line = format!("{verb} {room}");
                if let Some(reason) = reason {
                    line.push_str(" :");
                    line.push_str(&without_line_breaks(reason));
                }
                self.line(conn, line);
            }
            Op::Arrive(peer, who, room) => {
                self.apply(&Op::Connect(*peer));
                if let Some(&conn) = self.opened.last() {
                    self.register(conn, *who);
                    self.join(conn, *room);
                }
            }
            Op::Caps(n, bits) => {
                let Some(conn) = self.pick(*n) else { return };
                let sign = if bits & 0x80 != 0 { "-" } else { "" };
                let caps: Vec<String> = CAPS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, cap)| format!("{sign}{cap}"))
                    .collect();
                self.line(conn, format!("CAP REQ :{}", caps.join(" ")));
            }
        }
    }
}

/// The list mode for `b`, `e` or `I`.
fn list_mode(letter: char) -> ChannelMode {
    match letter {
        'b' => ChannelMode::Ban,
        'e' => ChannelMode::BanException,
        _ => ChannelMode::InviteException,
    }
}

/// One change a live MODE line announces: `+` or `-`, the letter, its argument.
type Announcement<'a> = (bool, char, Option<&'a str>);

/// The changes a live MODE line announces, read by CHANMODES=beI,k,l,imnst
/// and PREFIX=(ov) as the server advertises them: every letter is one of
/// those, and each gets the argument its type needs. Written here, apart
/// from the server's own parser, so that a fault there cannot hide here.
fn parse_announced_modes<'a>(
    letters: &str,
    args: &'a [String],
) -> Result<Vec<Announcement<'a>>, String> {
    let mut changes = Vec::new();
    let mut args = args.iter();
    let mut set = None;
    for letter in letters.chars() {
        match letter {
            '+' | '-' => set = Some(letter == '+'),
            'o' | 'v' | 'b' | 'e' | 'I' | 'k' | 'l' | 'i' | 'm' | 'n' | 's' | 't' => {
                let set = set.ok_or("a MODE line without + or - first")?;
                let takes =
                    matches!(letter, 'o' | 'v' | 'b' | 'e' | 'I' | 'k') || letter == 'l' && set;
                let arg = if takes {
                    let arg = args
                        .next()
                        .ok_or(format!("{letter} without its argument"))?;
                    Some(arg.as_str())
                } else {
                    None
                };
                changes.push((set, letter, arg));
            }
            other => return Err(format!("mode {other:?} announced")),
        }
    }
    if changes.is_empty() {
        return Err("a MODE line that changes nothing".into());
    }
    if args.next().is_some() {
        return Err("a MODE line with arguments left over".into());
    }
    Ok(changes)
}

/// One existing room's invariants (see [`Run::check_state`]).
fn check_room(room: &Room, open: &BTreeSet<ConnId>, server: &Server, after: &str) {
    let name = room.name();
    assert!(!room.is_empty(), "empty room {name} kept after {after}");
    for m in room.members() {
        assert!(
            open.contains(&m),
            "{m:?}, gone, still in {name} after {after}"
        );
        assert!(
            server.nick_of(m).is_some(),
            "nameless {m:?} in {name} after {after}"
        );
    }
    for m in room.invited() {
        assert!(
            open.contains(&m),
            "{m:?}, gone, invited to {name} after {after}"
        );
        assert!(
            !room.contains(m),
            "{m:?} in {name} and invited after {after}"
        );
    }
    for mode in [
        ChannelMode::Ban,
        ChannelMode::BanException,
        ChannelMode::InviteException,
    ] {
        let list = room.list(mode);
        assert!(
            list.len() <= MAX_LIST_ENTRIES,
            "{} entries on {name}'s {} list after {after}",
            list.len(),
            mode.letter()
        );
        let mut seen = BTreeSet::new();
        for entry in list {
            let mask = &entry.mask;
            let shaped = mask.split_once('!').is_some_and(|(nick, rest)| {
                !nick.is_empty()
                    && rest
                        .split_once('@')
                        .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
            });
            assert!(
                shaped && !mask.contains(|c: char| c == ' ' || c.is_control()),
                "mask {mask:?} on {name} after {after}"
            );
            assert!(
                seen.insert(casefold(mask)),
                "{mask} twice on {name} after {after}"
            );
        }
    }
    let modes = room.modes();
    // RFC 2812 allows control characters and DEL in keys; a space or comma
    // would split the JOIN that gives the key, CR, LF or NUL the line.
    if let Some(key) = &modes.key {
        let ok =
            !key.is_empty() && key.len() <= KEYLEN && !key.contains([' ', ',', '\r', '\n', '\0']);
        assert!(ok, "key {key:?} on {name} after {after}");
    }
    assert_ne!(modes.limit, Some(0), "limit 0 on {name} after {after}");
}

/// A line the core sends must fit on one line of the wire, within the 512
/// bytes (CR LF included) that every IRC client accepts (after its tags,
/// which fit their own 8191 bytes), and be a message. Returns the message.
fn check_out_line(line: &str, action: &Action, after: &str) -> Message {
    assert!(!has_line_break(line), "{action:?} after {after}");
    let (tags, rest) = match line.strip_prefix('@') {
        Some(tagged) => tagged.split_once(' ').unwrap_or((tagged, "")),
        None => ("", line),
    };
    assert!(
        rest.len() <= MAX_LINE,
        "{} bytes after the tags: {action:?} after {after}",
        rest.len()
    );
    // The tag section counts its `@` and the space after it.
    assert!(
        !line.starts_with('@') || tags.len() + 2 <= MAX_TAGS,
        "{} bytes of tags: {action:?} after {after}",
        tags.len() + 2
    );
    Message::parse(line).unwrap_or_else(|e| panic!("unparsable ({e}) {action:?} after {after}"))
}

/// Target `server`: runs `ops` against a fresh `Server`, checking after every
/// event that no action targets a connection never opened or already closed
/// (by the peer or by the core), that broadcasts name each recipient once,
/// that every sent line is one parsable line within the length limits, that
/// log text cannot forge a line, that the core tracks exactly the open
/// connections, that nicks stay unique, that every room is consistent (see
/// [`Run::check_state`]) and that what live JOIN, PART, KICK, MODE and
/// INVITE lines announced is what the rooms now hold. Ends with a shutdown,
/// which must close every open connection.
pub fn check_server(ops: &[Op]) -> Summary {
    let mut run = Run {
        server: Server::new(ServerConfig::default()),
        now: Now {
            mono: Instant(0),
            wall: Timestamp(1_699_533_296_000),
        },
        opened: Vec::new(),
        open: BTreeSet::new(),
        readers: BTreeMap::new(),
        idents: BTreeMap::new(),
        summary: Summary::default(),
        last_persisted: 0,
        rooms_seen: BTreeSet::new(),
        announced: Announced::default(),
    };
    for op in ops {
        run.apply(op);
    }
    let now = run.now;
    run.event(Event::Shutdown { now });
    assert!(
        run.open.is_empty(),
        "still open after shutdown: {:?}",
        run.open
    );
    run.summary
}
