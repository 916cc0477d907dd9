//! A driver for the pure core: feeds events with a simulated clock and reads
//! what each connection received. Shared by the behaviour tests.
#![allow(dead_code)]

pub mod model;
pub mod scram_client;

use natter::core::{
    render_log_line, Account, Action, ConnId, Credentials, Event, HashPurpose, HistoryRecord,
    Instant, LogRecord, MarkerChange, Now, PasswordPurpose, RegisteredRoom, Secret, Server,
    ServerBan, ServerConfig, Timestamp,
};
use std::collections::BTreeMap;

/// 2023-11-09 12:34:56 UTC, the seed log's first timestamp, in milliseconds.
pub const SEED_START: u64 = 1_699_533_296_000;

/// The simulated clocks at the start of every test: the shell's monotonic
/// clock at 0, the wall clock at [`SEED_START`].
pub const START: Now = Now {
    mono: Instant(0),
    wall: Timestamp(SEED_START),
};

pub struct Harness {
    pub server: Server,
    pub now: Now,
    /// Everything each connection has been sent, in order.
    pub received: BTreeMap<ConnId, Vec<String>>,
    /// Connections the server closed.
    pub closed: Vec<(ConnId, String)>,
    pub log: Vec<LogRecord>,
    /// Every record the core asked to store, in order.
    pub persisted: Vec<HistoryRecord>,
    /// Every read marker change the core asked to store, in order.
    pub saved_markers: Vec<MarkerChange>,
    /// Password checks the core asked for and nobody answered yet
    /// (see [`Harness::answer_password_checks`]).
    pub password_checks: Vec<PasswordCheck>,
    /// New passwords the core asked to hash and nobody answered yet.
    pub password_hashes: Vec<(ConnId, Secret, HashPurpose)>,
    /// Every account change the core asked to store, in order: the account
    /// saved, or `Err(name)` for a deletion.
    pub saved_accounts: Vec<Result<Account, String>>,
    /// Every registered room change the core asked to store, in order: the
    /// room saved, or `Err(name)` for a deletion.
    pub saved_rooms: Vec<Result<RegisteredRoom, String>>,
    /// Every server ban change the core asked to store, in order: the ban
    /// saved, or `Err(mask)` for a deletion.
    pub saved_bans: Vec<Result<ServerBan, String>>,
}

/// One [`Action::CheckPassword`], as the harness keeps it.
#[derive(Debug, Clone)]
pub struct PasswordCheck {
    pub conn: ConnId,
    pub hash: String,
    pub password: Secret,
    pub purpose: PasswordPurpose,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Harness {
        Harness {
            server: Server::new(config),
            now: START,
            received: BTreeMap::new(),
            closed: Vec::new(),
            log: Vec::new(),
            persisted: Vec::new(),
            password_checks: Vec::new(),
            saved_markers: Vec::new(),
            password_hashes: Vec::new(),
            saved_accounts: Vec::new(),
            saved_rooms: Vec::new(),
            saved_bans: Vec::new(),
        }
    }

    /// Moves both clocks on by `secs` and runs whatever fell due, as the
    /// shell does when [`Server::poll_timeout`]'s deadline passes.
    pub fn advance_secs(&mut self, secs: u64) {
        self.now = self.now.later_secs(secs);
        self.event(Event::Timeout { now: self.now });
    }

    /// Moves both clocks on by `ms` milliseconds and runs whatever fell due.
    pub fn advance_ms(&mut self, ms: u64) {
        self.now.mono = self.now.mono.plus_ms(ms);
        self.now.wall = Timestamp(self.now.wall.0 + ms);
        self.event(Event::Timeout { now: self.now });
    }

    /// Moves both clocks to [`Server::poll_timeout`]'s deadline (never
    /// backwards) and runs it, as the shell's timer does; the deadline, or
    /// `None` when nothing is pending.
    pub fn advance_to_deadline(&mut self) -> Option<Instant> {
        let at = self.server.poll_timeout()?;
        self.advance_ms(at.0.saturating_sub(self.now.mono.0));
        Some(at)
    }

    pub fn event(&mut self, event: Event) {
        self.server.handle_event(event);
        while let Some(action) = self.server.poll_action() {
            match action {
                Action::Send { to, line } => {
                    self.received.entry(to).or_default().push(line.to_string())
                }
                Action::Broadcast { to, line } => {
                    for c in to {
                        self.received.entry(c).or_default().push(line.to_string());
                    }
                }
                Action::Close { conn, reason } => self.closed.push((conn, reason)),
                Action::Log(record) => self.log.push(record),
                Action::Persist(record) => self.persisted.push(record),
                Action::CheckPassword {
                    conn,
                    hash,
                    password,
                    purpose,
                } => self.password_checks.push(PasswordCheck {
                    conn,
                    hash,
                    password,
                    purpose,
                }),
                Action::SaveReadMarker(change) => self.saved_markers.push(change),
                Action::HashPassword {
                    conn,
                    password,
                    purpose,
                } => self.password_hashes.push((conn, password, purpose)),
                Action::SaveAccount(account) => self.saved_accounts.push(Ok(*account)),
                Action::DeleteAccount { name } => self.saved_accounts.push(Err(name)),
                Action::SaveRoom(room) => self.saved_rooms.push(Ok(*room)),
                Action::DeleteRoom { name } => self.saved_rooms.push(Err(name)),
                Action::SaveServerBan(ban) => self.saved_bans.push(Ok(*ban)),
                Action::DeleteServerBan { mask } => self.saved_bans.push(Err(mask)),
            }
        }
    }

    pub fn connect(&mut self, id: u64, peer: &str) -> ConnId {
        let conn = ConnId(id);
        self.event(Event::Connected {
            conn,
            peer: peer.to_string(),
            now: self.now,
        });
        conn
    }

    pub fn send(&mut self, conn: ConnId, line: &str) {
        self.event(Event::Line {
            conn,
            line: line.to_string(),
            now: self.now,
        });
    }

    pub fn drop_conn(&mut self, conn: ConnId, reason: &str) {
        self.event(Event::Disconnected {
            conn,
            reason: reason.to_string(),
            now: self.now,
        });
    }

    /// Connects and registers `nick` from 127.0.0.1:<port>.
    pub fn register(&mut self, id: u64, nick: &str, port: u16) -> ConnId {
        let conn = self.connect(id, &format!("127.0.0.1:{port}"));
        self.send(conn, &format!("NICK {nick}"));
        self.send(conn, &format!("USER {} 0 * :{nick}", nick.to_lowercase()));
        conn
    }

    /// Does what the shell does with the pending password checks and
    /// hashes: verifies each (argon2) or hashes it (at the lowest cost, for
    /// speed) and feeds the answer back, in order, until none are left.
    pub fn answer_password_checks(&mut self) {
        while !self.password_checks.is_empty() || !self.password_hashes.is_empty() {
            for check in std::mem::take(&mut self.password_checks) {
                let ok = !check.hash.is_empty()
                    && natter::net::password::verify(&check.hash, check.password.expose());
                self.event(Event::PasswordChecked {
                    conn: check.conn,
                    purpose: check.purpose,
                    ok,
                    upgrade: None,
                    now: self.now,
                });
            }
            for (conn, password, purpose) in std::mem::take(&mut self.password_hashes) {
                let hash = natter::net::password::hash_password_cheaply(password.expose())
                    .expect("hashes");
                self.event(Event::PasswordHashed {
                    conn,
                    purpose,
                    credentials: Box::new(Credentials {
                        password_hash: hash,
                        // Few iterations: the exchange is the same, faster.
                        scram: natter::core::scram::ScramCredentials::derive(
                            password.expose(),
                            b"test salt",
                            16,
                        )
                        .to_storage_string(),
                    }),
                    now: self.now,
                });
            }
        }
    }

    /// Takes (and clears) what `conn` has received so far.
    pub fn take(&mut self, conn: ConnId) -> Vec<String> {
        self.received.remove(&conn).unwrap_or_default()
    }

    /// server.log as text, timestamps rendered in UTC.
    pub fn log_text(&self) -> String {
        self.log
            .iter()
            .map(|r| {
                let at = chrono::DateTime::from_timestamp_millis(r.at.0 as i64)
                    .expect("test timestamps are in range")
                    .naive_utc();
                render_log_line(&r.entry, at) + "\n"
            })
            .collect()
    }
}

/// Parsed lines `conn` received since last asked.
pub fn take(h: &mut Harness, conn: ConnId) -> Vec<natter::proto::Message> {
    h.take(conn)
        .iter()
        .map(|l| natter::proto::Message::parse(l).expect("the server sends valid lines"))
        .collect()
}

/// The commands (or numerics) of `msgs`, in order.
pub fn commands(msgs: &[natter::proto::Message]) -> Vec<&str> {
    msgs.iter().map(|m| m.command.as_str()).collect()
}

/// Registers `nick` and throws away its welcome burst.
pub fn user(h: &mut Harness, id: u64, nick: &str) -> ConnId {
    let conn = h.register(id, nick, 12000 + id as u16);
    h.take(conn);
    conn
}

/// Whether any of `lines` contains `needle`.
pub fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// The password of every account [`registered`] makes.
pub const PASSWORD: &str = "correct-horse";

/// Registers `nick` and its account with NickServ (password [`PASSWORD`]),
/// logged in, replies thrown away.
pub fn registered(h: &mut Harness, id: u64, nick: &str) -> ConnId {
    let conn = user(h, id, nick);
    h.send(conn, &format!("PRIVMSG NickServ :REGISTER {PASSWORD}"));
    h.answer_password_checks();
    h.take(conn);
    conn
}

/// Registers `nick` and joins it to `rooms`, throwing away the replies.
pub fn member(h: &mut Harness, id: u64, nick: &str, rooms: &str) -> ConnId {
    let conn = user(h, id, nick);
    h.send(conn, &format!("JOIN {rooms}"));
    h.take(conn);
    conn
}

/// insta settings that keep snapshots in the crate's top-level snapshots/.
pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}
