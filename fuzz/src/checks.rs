//! The checks the fuzz targets run on every input.
//!
//! Shared, by `#[path]`, between the cargo-fuzz targets (nightly, libFuzzer)
//! and `tests/fuzz_regressions.rs` (stable `cargo test`), so that every crash
//! input and seed input is replayed through exactly the same checks in CI.
//! Depends on `natter` and std only. Each check panics on a violation.
#![allow(dead_code)]

use natter::core::{Action, ConnId, Event, Instant, Now, Server, ServerConfig, Timestamp};
use natter::proto::{casefold, LineError, LineReader, Message, MAX_LINE, MAX_TAGS};
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
/// limit (which depends on whether the line starts with `@`) and invalid
/// UTF-8. An unfinished last line yields nothing unless it is already over
/// its limit (+1 for a CR that may still be coming), in which case it is
/// reported at once.
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
    /// Register with `NICK`/`USER` (the nick derived from the number).
    Register(u8, u8),
    /// `JOIN` one of a few rooms.
    Join(u8, u8),
    /// `PRIVMSG` one of a few rooms.
    Say(u8, u8, String),
    /// The connection drops without QUIT (EOF, reset).
    Close(u8),
    /// Time passes.
    Tick(u16),
}

const ROOMS: [&str; 4] = ["#lobby", "#rust", "#LOBBY", "#x"];

/// What a run did, so replayed seeds can show they reached the paths they aim at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// `Send` actions.
    pub sends: usize,
    /// `Broadcast` actions.
    pub broadcasts: usize,
    /// `Close` actions (the core closing a connection), shutdown included.
    pub closes: usize,
    /// `Log` actions.
    pub logs: usize,
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
    summary: Summary,
    /// The last msgid the core asked to store.
    last_persisted: u64,
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
        self.server.handle_event(event);
        while let Some(action) = self.server.poll_action() {
            self.check_action(&action, &what);
        }
        self.check_state(&what);
    }

    fn check_action(&mut self, action: &Action, after: &str) {
        match action {
            Action::Send { to, line } => {
                self.summary.sends += 1;
                assert!(self.open.contains(to), "{action:?} after {after}");
                check_out_line(line, action, after);
            }
            Action::Broadcast { to, line } => {
                self.summary.broadcasts += 1;
                assert!(!to.is_empty(), "empty {action:?} after {after}");
                let unique: BTreeSet<_> = to.iter().collect();
                assert_eq!(unique.len(), to.len(), "{action:?} after {after}");
                for c in to {
                    assert!(self.open.contains(c), "{action:?} after {after}");
                }
                check_out_line(line, action, after);
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
        }
    }

    /// The core knows exactly the open connections, and nicks are unique
    /// case-insensitively.
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
    }

    fn line(&mut self, conn: ConnId, line: String) {
        let now = self.now;
        self.event(Event::Line { conn, line, now });
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Connect(n) => {
                let conn = ConnId(self.opened.len() as u64 + 1);
                let peer = match n % 4 {
                    0 => format!("127.0.0.1:{}", 1000 + u16::from(*n)),
                    1 => format!("[::1]:{n}"),
                    2 => format!("10.0.0.{n}"),
                    _ => String::new(),
                };
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
                    let nick = format!(
                        "{}{}",
                        ["n", "N", "nick", "Nick"][usize::from(who % 4)],
                        who / 4
                    );
                    self.line(conn, format!("NICK {nick}"));
                    self.line(conn, format!("USER u{who} 0 * :Real {who}"));
                }
            }
            Op::Join(n, room) => {
                if let Some(conn) = self.pick(*n) {
                    let room = ROOMS[usize::from(room % 4)];
                    self.line(conn, format!("JOIN {room}"));
                }
            }
            Op::Say(n, room, text) => {
                if let Some(conn) = self.pick(*n) {
                    let room = ROOMS[usize::from(room % 4)];
                    let text: String = text
                        .chars()
                        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                        .collect();
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
        }
    }
}

/// A line the core sends must fit on one line of the wire, within the 512
/// bytes (CR LF included) that every IRC client accepts, and be a message.
fn check_out_line(line: &str, action: &Action, after: &str) {
    assert!(!has_line_break(line), "{action:?} after {after}");
    assert!(
        line.starts_with('@') || line.len() <= MAX_LINE,
        "{} bytes: {action:?} after {after}",
        line.len()
    );
    assert!(
        Message::parse(line).is_ok(),
        "unparsable {action:?} after {after}"
    );
}

/// Target `server`: runs `ops` against a fresh `Server`, checking after every
/// event that no action targets a connection never opened or already closed
/// (by the peer or by the core), that broadcasts name each recipient once,
/// that every sent line is one parsable line, that log text cannot forge a
/// line, that the core tracks exactly the open connections, and that nicks
/// stay unique. Ends with a shutdown, which must close every open connection.
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
        summary: Summary::default(),
        last_persisted: 0,
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
