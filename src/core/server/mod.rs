//! [`Server`]: the chat rules for every connection and room.
//!
//! Owns registration, nicknames, rooms, message delivery, liveness and the
//! log records. Pure: must never touch sockets, clocks, files, threads or
//! randomness, and never panic on any input a client can send.
//!
//! The code is split by feature, one file per family of commands:
//!
//! | file | what it owns |
//! |---|---|
//! | [`commands`] | the command table: verb → handler, 451 and 461 answered once for all |
//! | `registration` | CAP, PASS, NICK, USER, the welcome burst, 005 |
//! | `liveness` | PING/PONG, registration and ping timeouts, the timer queue behind [`Server::poll_timeout`] |
//! | `flood` | flood control: fakelag (lines over the rate held and run later), Excess Flood |
//! | `leaving` | QUIT, dropped connections, shutdown |
//! | `rooms` | JOIN, PART, TOPIC, NAMES, KICK, INVITE |
//! | `modes` | MODE on rooms and users |
//! | `messages` | PRIVMSG, NOTICE and TAGMSG, STATUSMSG |
//! | `tags` | client tags relayed, the tag size limit, labeled-response |
//! | `queries` | WHOIS, WHOWAS, USERHOST, ISON |
//! | `who` | WHO and WHOX |
//! | `list` | LIST and its ELIST filters |
//! | `oper` | OPER (the password checked by the shell), operator accounts, KILL, WALLOPS |
//! | `kline` | KLINE, UNKLINE, STATS k: server-wide bans, refused registrations |
//! | `presence` | AWAY and away-notify |
//! | `monitor` | MONITOR, 730/731 notifications, extended-monitor |
//! | `identity` | SETNAME, who hears of identity changes |
//! | `server_info` | LUSERS, MOTD, VERSION, TIME, ADMIN, INFO, LINKS, HELP |
//! | `history` | history records, replay on join, CHATHISTORY |
//! | `markread` | MARKREAD: read markers (`draft/read-marker`) |
//! | `redaction` | REDACT: deleting messages (`draft/message-redaction`) |
//! | `rename` | RENAME: renaming rooms (`draft/channel-rename`) |
//! | `accounts` | REGISTER/VERIFY, logging in and out, the login throttle, registered nicks |
//! | `sasl` | AUTHENTICATE: SASL PLAIN and EXTERNAL |
//! | `services` | NickServ (`/msg NickServ`, `NICKSERV`, `NS`) |
//! | `chanserv` | ChanServ (`/msg ChanServ`, `CHANSERV`, `CS`): registered rooms, their access lists, op/voice by account |
//! | `output` | how replies, broadcasts and tagged lines are built |
//!
//! **Adding a command** is three steps:
//! 1. write `pub(super) fn handle_verb(&mut self, conn: ConnId, msg: &Message,
//!    now: Now)` in the file of its feature (or a new file, listed above);
//!    it may assume the connection is registered (unless its row says
//!    otherwise) and that `msg` has at least the row's parameters;
//! 2. add one row to [`commands::COMMANDS`];
//! 3. add its tests: a scenario in `tests/` over the core, and the reference
//!    model in `tests/common/model/` if it changes who receives what.
//!
//! Numerics are named constants from [`crate::proto::numeric`]; never write
//! a number as a string in a handler.

mod accounts;
mod chanserv;
mod commands;
mod flood;
mod history;
mod identity;
mod kline;
mod leaving;
mod list;
mod liveness;
mod markread;
mod messages;
mod modes;
mod monitor;
mod oper;
mod output;
mod presence;
mod queries;
mod redaction;
mod registration;
mod rename;
mod rooms;
mod sasl;
mod server_info;
mod services;
mod tags;
mod who;

use super::accounts::{AccountBook, LoginThrottle};
use super::action::{Action, PasswordPurpose};
use super::bans::ServerBans;
use super::config::ServerConfig;
use super::connection::Connection;
use super::conversations::Conversations;
use super::event::{ConnId, Event, Instant};
use super::history::RoomHistory;
use super::read_markers::ReadMarkers;
use super::registered_rooms::RoomRegistry;
use super::room::Room;
use crate::proto::casefold;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The version string shown in 002 and 004.
pub const VERSION: &str = concat!("natter-", env!("CARGO_PKG_VERSION"));

/// The chat server state machine.
///
/// The shell's run loop, in order:
/// 1. Feed each [`Event`] to [`Server::handle_event`] in the order they happened.
/// 2. After every event (or a batch of them), drain [`Server::poll_action`]
///    until it returns `None`, carrying out each [`Action`] in order.
/// 3. Ask [`Server::poll_timeout`] when the core next needs to run, sleep
///    until then (or until the next event), and feed [`Event::Timeout`]
///    when that moment has passed; then drain the actions again.
///
/// ```
/// use natter::core::{Action, ConnId, Event, Instant, Now, Server, ServerConfig, Timestamp};
/// let mut server = Server::new(ServerConfig::default());
/// let now = Now { mono: Instant(0), wall: Timestamp(1_699_533_296_000) };
/// server.handle_event(Event::Connected { conn: ConnId(1), peer: "127.0.0.1:5000".into(), now });
/// for line in ["NICK John", "USER john 0 * :John", "JOIN #lobby"] {
///     server.handle_event(Event::Line { conn: ConnId(1), line: line.into(), now });
/// }
/// let actions: Vec<Action> = std::iter::from_fn(|| server.poll_action()).collect();
/// assert!(actions.iter().any(|a| matches!(a, Action::Send { line, .. } if line.contains(" 001 John "))));
/// // John must answer a PING within the ping interval (120 s by default).
/// assert_eq!(server.poll_timeout(), Some(Instant(120_000)));
/// ```
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Server {
    /// Each node's own (a snapshot is restored under the reader's settings).
    #[serde(skip)]
    config: ServerConfig,
    /// The default room's name case-folded, to tell its log lines apart.
    #[serde(skip)]
    default_room_folded: String,
    /// Written sorted (as `history` below).
    #[serde(serialize_with = "sorted")]
    connections: FxHashMap<ConnId, Connection>,
    /// Case-folded nickname → its connection.
    nicks: BTreeMap<String, ConnId>,
    /// Case-folded room name → room.
    #[serde(serialize_with = "sorted")]
    rooms: FxHashMap<String, Room>,
    /// Case-folded room name → its retained history (outlives the room).
    /// Looked up for every room message, never listed in order (a sweep
    /// treats each room alone): hashed, not a B-tree of string compares.
    /// Written sorted, so every node's snapshot of the same state is the
    /// same bytes.
    #[serde(serialize_with = "sorted")]
    history: FxHashMap<String, RoomHistory>,
    /// Liveness deadlines, one per connection (its `Connection::timer`).
    timers: BTreeSet<(Instant, ConnId)>,
    /// When each connection with held lines (fakelag) may run the oldest:
    /// one entry per such connection (its `Fakelag::due`).
    flood_timers: BTreeSet<(Instant, ConnId)>,
    /// When the next history-age sweep is due, if any history can expire.
    next_sweep: Option<Instant>,
    /// The next message id; seeded by [`Event::HistoryRestored`].
    next_id: u64,
    /// The next `BATCH` reference number.
    next_batch: u64,
    /// The most users registered at once (265/266).
    max_users: usize,
    /// In a cluster, the names of the nodes that are up
    /// ([`Event::ClusterNodes`]); empty on a single server.
    cluster_nodes: Vec<String>,
    /// Who recently used which nick, newest last (WHOWAS), bounded.
    whowas: VecDeque<queries::WasUser>,
    /// Case-folded nick → the connections that MONITOR it.
    watchers: BTreeMap<String, BTreeSet<ConnId>>,
    /// Everyone's read markers (`MARKREAD`), bounded.
    read_markers: ReadMarkers,
    /// Private conversations kept for their accounts (CHATHISTORY on a nick).
    conversations: Conversations,
    /// Registered accounts; seeded by [`Event::AccountsRestored`].
    accounts: AccountBook,
    /// Case-folded account → the connections logged in to it.
    sessions: BTreeMap<String, BTreeSet<ConnId>>,
    /// Rooms registered with ChanServ, by case-folded name (they outlive
    /// the room); seeded by [`Event::RoomsRestored`].
    registered: RoomRegistry,
    /// Failed logins and registrations, per account and address.
    login_throttle: LoginThrottle,
    /// Server-wide bans (KLINE); seeded by [`Event::ServerBansRestored`].
    server_bans: ServerBans,
    /// When people holding a registered nick without logging in are renamed.
    nick_deadlines: BTreeSet<(Instant, ConnId)>,
    /// The number of the next `GuestN` nick.
    next_guest: u64,
    /// The shell's random secret ([`Event::Seeded`]).
    secret: [u8; 32],
    /// How many SCRAM nonces were made from it.
    nonces: u64,
    #[serde(skip)]
    outbox: VecDeque<Action>,
    /// The seal of the line running now, when it was sealed
    /// ([`crate::core::secrets`]): what its handler reads in place of the
    /// secret the line no longer carries.
    sealed: Option<Box<super::secrets::Seal>>,
    /// Where outgoing lines are serialized before they are shared
    /// (`output::share_line`): reused, so a line costs one allocation.
    #[serde(skip)]
    scratch: String,
}

impl Server {
    /// A server with no connections.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            default_room_folded: casefold(&config.default_room),
            config,
            connections: FxHashMap::default(),
            nicks: BTreeMap::new(),
            rooms: FxHashMap::default(),
            history: FxHashMap::default(),
            timers: BTreeSet::new(),
            flood_timers: BTreeSet::new(),
            next_sweep: None,
            next_id: 1,
            next_batch: 1,
            max_users: 0,
            cluster_nodes: Vec::new(),
            whowas: VecDeque::new(),
            watchers: BTreeMap::new(),
            read_markers: ReadMarkers::default(),
            conversations: Conversations::default(),
            accounts: AccountBook::default(),
            registered: RoomRegistry::default(),
            login_throttle: LoginThrottle::default(),
            sessions: BTreeMap::new(),
            server_bans: ServerBans::default(),
            nick_deadlines: BTreeSet::new(),
            next_guest: 1,
            secret: [0; 32],
            nonces: 0,
            outbox: VecDeque::new(),
            sealed: None,
            scratch: String::new(),
        }
    }

    /// This server, read from a snapshot (a cluster node's core, written
    /// with serde), under `config`: a snapshot holds the whole state but
    /// the settings, which are each node's own, and the actions not yet
    /// polled (a snapshot is taken between events, with none pending).
    pub fn with_config(mut self, config: ServerConfig) -> Server {
        self.default_room_folded = casefold(&config.default_room);
        self.config = config;
        self
    }

    /// Whether actions are waiting for [`Server::poll_action`] (a snapshot
    /// must not be taken while some are).
    pub fn has_pending_actions(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The configuration this server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Apply one event. Its actions are queued for [`Server::poll_action`].
    pub fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connected { conn, peer, now } => self.handle_connected(conn, &peer, now),
            Event::Secured { conn, certfp } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.tls = true;
                    c.certfp = certfp
                        .as_deref()
                        .and_then(super::accounts::normalize_certfp);
                }
            }
            Event::Line { conn, line, now } => self.handle_line(conn, &line, None, now),
            Event::SealedLine {
                conn,
                line,
                seal,
                now,
            } => self.handle_line(conn, &line, Some(Box::new(seal)), now),
            Event::BadLine { conn, error, now } => self.handle_bad_line(conn, error, now),
            Event::ServedBy { conn, node } => {
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.node = Some(Arc::from(node));
                }
            }
            Event::ClusterNodes { names } => self.cluster_nodes = names,
            Event::Disconnected { conn, reason, now } => {
                self.handle_disconnected(conn, &reason, now)
            }
            Event::Timeout { now } => self.handle_timeout(now),
            Event::HistoryRestored { records, next_id } => self.restore(records, next_id),
            Event::Shutdown { now } => self.handle_shutdown(now),
            Event::PasswordChecked {
                conn,
                purpose,
                ok,
                upgrade,
                now,
            } => match purpose {
                PasswordPurpose::Oper { name } => self.finish_oper(conn, &name, ok, now),
                PasswordPurpose::Login { account, via } => {
                    self.finish_login(conn, &account, via, ok, upgrade, now)
                }
            },
            Event::PasswordHashed {
                conn,
                purpose,
                credentials,
                now,
            } => self.handle_password_hashed(conn, purpose, *credentials, now),
            Event::AccountsRestored { accounts } => self.restore_accounts(accounts),
            Event::RoomsRestored { rooms } => self.restore_rooms(rooms),
            Event::ServerBansRestored { bans } => self.restore_server_bans(bans),
            Event::Seeded { secret } => self.secret = secret,
            Event::Reconfigured { settings } => {
                self.config.apply(*settings);
                self.reapply_account_privileges();
            }
            Event::ReadMarkersRestored { markers } => {
                for change in self.read_markers.restore(markers) {
                    self.emit(Action::SaveReadMarker(change));
                }
            }
        }
    }

    /// The next action for the shell, in order; `None` when there are none.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.outbox.pop_front()
    }

    /// When the core next needs [`Event::Timeout`] (on the monotonic
    /// clock), or `None` when nothing is pending. Call it after every batch
    /// of events: each event may bring the deadline closer.
    /// The deadline may already have passed (held lines that are due): the
    /// shell then feeds [`Event::Timeout`] at once.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|&(at, _)| at);
        let flood = self.flood_timers.first().map(|&(at, _)| at);
        let grace = self.nick_deadlines.first().map(|&(at, _)| at);
        [timer, flood, self.next_sweep, grace]
            .into_iter()
            .flatten()
            .min()
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

    /// The ChanServ registration of the room called `name` (any case), if
    /// it is registered (whether or not anyone is in it).
    pub fn registered_room(&self, name: &str) -> Option<&super::registered_rooms::RegisteredRoom> {
        self.registered.get(name)
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
        self.connections.get(&id)?.is_registered().then_some(id)
    }

    /// The room name as logged: `None` for the default room.
    fn log_room(&self, folded: &str) -> Option<Arc<str>> {
        if self.default_room_folded == folded {
            None
        } else {
            self.rooms.get(folded).map(Room::shared_name)
        }
    }
}

/// Writes a hashed map in key order (snapshots of equal states are equal).
fn sorted<S: serde::Serializer, K: Ord + serde::Serialize, V: serde::Serialize>(
    map: &FxHashMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter().collect::<BTreeMap<_, _>>())
}
