//! [`Connection`]: what the server knows about one client connection.
//!
//! Owns registration progress, identity, capabilities, user modes,
//! liveness timers and the lines fakelag holds back ([`Fakelag`]).
//! Must never hold sockets or read clocks.

use super::event::{ConnId, Instant, Now, Timestamp};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// The capabilities a client enabled with `CAP REQ`. The tag-shaping ones
/// (`message_tags`, `server_time`, `batch`) decide how a line is serialized:
/// lines are serialized once per distinct shape among the recipients.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Caps {
    /// `message-tags`: the client accepts tags (`msgid` among them).
    pub message_tags: bool,
    /// `server-time`: lines carry `time=`.
    pub server_time: bool,
    /// `batch`: history arrives inside `BATCH +id chathistory`.
    pub batch: bool,
    /// `draft/chathistory`: the client may page with `CHATHISTORY`.
    pub chathistory: bool,
    /// `echo-message`: the sender gets its own messages back, in order.
    pub echo_message: bool,
    /// `multi-prefix`: NAMES, WHO and WHOIS show every prefix (`@+nick`).
    pub multi_prefix: bool,
    /// `invite-notify`: a room operator hears of invitations to the room.
    pub invite_notify: bool,
    /// `away-notify`: hears when people in its rooms go away or come back.
    pub away_notify: bool,
    /// `labeled-response` (used only together with `batch`): the replies to
    /// a command sent with `@label=…` carry that label.
    pub labeled_response: bool,
    /// `standard-replies`: accepts any `FAIL`/`WARN`/`NOTE`, so it is also
    /// told what other clients are not (e.g. `WARN … MESSAGE_TRUNCATED`).
    pub standard_replies: bool,
    /// `cap-notify`: may be told `CAP NEW`/`CAP DEL` (implied by `CAP LS 302`).
    pub cap_notify: bool,
    /// `extended-monitor`: hears AWAY/SETNAME of monitored nicks too, for
    /// each of those it enabled the capability of.
    pub extended_monitor: bool,
    /// `userhost-in-names`: NAMES shows `nick!user@host`.
    pub userhost_in_names: bool,
    /// `extended-join`: JOIN carries the account (`*`) and real name.
    pub extended_join: bool,
    /// `setname`: hears SETNAME from people in its rooms (and itself).
    pub setname: bool,
    /// `draft/read-marker`: hears its read marker for each room it joins
    /// and whenever a marker moves.
    pub read_marker: bool,
    /// `draft/message-redaction`: hears `REDACT` when a message is deleted.
    pub message_redaction: bool,
    /// `draft/channel-rename`: hears `RENAME` (else `PART` and `JOIN`).
    pub channel_rename: bool,
    /// `sasl`: the client may log in with `AUTHENTICATE` (SASL works with
    /// or without the capability; enabling it holds registration until
    /// `CAP END`, as any `CAP REQ` does).
    pub sasl: bool,
    /// `account-notify`: hears `ACCOUNT` when people in its rooms log in or out.
    pub account_notify: bool,
    /// `account-tag`: messages from logged-in people carry `account=`.
    pub account_tag: bool,
    /// `draft/account-registration`: may use `REGISTER` (which works anyway).
    pub account_registration: bool,
}

/// Where a connection is in registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// Before 001: registration completes once NICK and USER are in, no
    /// `CAP` negotiation is open, and the password (if any) was given.
    Registering {
        /// True between `CAP LS`/`CAP REQ` and `CAP END`.
        cap_negotiating: bool,
        /// Whether the correct PASS was given (true when none is needed).
        password_ok: bool,
    },
    /// 001 was sent: the connection is a user.
    Registered,
}

/// One client connection's state inside the [`crate::core::Server`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    /// The peer address as given by the shell (`ip:port`).
    pub peer: String,
    /// In a cluster, the name of the node it is connected to
    /// ([`crate::core::Event::ServedBy`]); `None` on a single server.
    pub node: Option<std::sync::Arc<str>>,
    /// The host part shown in `nick!user@host`.
    pub host: String,
    /// Nickname, once one was accepted.
    pub nick: Option<String>,
    /// Username from USER.
    pub user: Option<String>,
    /// Real name from USER.
    pub realname: String,
    /// Registration progress.
    pub phase: Phase,
    /// Whether the connection came over TLS.
    pub tls: bool,
    /// The IRCv3 capabilities it enabled.
    pub caps: Caps,
    /// Its user modes (`+i`, `+w`, `+o`).
    pub modes: UserModes,
    /// The away message, while it is away.
    pub away: Option<String>,
    /// Case-folded names of the rooms this client is in.
    pub rooms: RoomSet,
    /// Case-folded names of the rooms it has a pending invitation to.
    pub invites: RoomSet,
    /// When the connection opened (monotonic).
    pub connected_at: Instant,
    /// When the connection opened (wall clock, shown as the signon time).
    pub signon: Timestamp,
    /// When the client last sent anything.
    pub last_active: Instant,
    /// When it last sent a PRIVMSG or NOTICE (WHOIS shows the idle time).
    pub last_spoke: Instant,
    /// When the server sent a PING still unanswered.
    pub ping_sent: Option<Instant>,
    /// Flood control: the time by which this client's lines would have been
    /// paid for at the sustained rate (runs ahead of `now` during a burst).
    pub flood_clock: Instant,
    /// Whether flood control leaves this client alone although it is not an
    /// operator (operators always are): the accounts work sets it for
    /// accounts with the flag. See [`Connection::is_flood_exempt`].
    pub flood_exempt: bool,
    /// Whether its `+o` came from logging in to an operator account
    /// (`--oper-account`), so logging out takes it away again.
    pub oper_via_account: bool,
    /// The lines flood control is holding back, and when the next may run.
    pub fakelag: Fakelag,
    /// The liveness deadline this connection has in the server's timer
    /// queue (registration timeout, next PING, or PING timeout).
    pub timer: Instant,
    /// The operator name whose password the shell is checking for this
    /// client's OPER, if any (one check at a time).
    pub oper_pending: Option<String>,
    /// Wrong OPER passwords so far on this connection.
    pub oper_failures: u8,
    /// Whether it ever said `CAP LS 302` (or higher): it gets capability
    /// values, multiline CAP replies and `cap-notify` for good.
    pub cap_302: bool,
    /// The account it is logged in to (its name as registered).
    pub account: Option<String>,
    /// The SHA-256 fingerprint of its TLS client certificate, if it showed
    /// one (SASL EXTERNAL, `NickServ CERT ADD`).
    pub certfp: Option<String>,
    /// A SASL exchange in progress (`AUTHENTICATE`), if any (boxed: rare,
    /// and every connection carries the field).
    pub sasl: Option<Box<SaslExchange>>,
    /// Whether the shell is checking or hashing a password for it (one at a
    /// time: each check costs the server real memory and CPU on purpose).
    pub password_pending: bool,
    /// The account (case-folded) the pending login or password change is
    /// for. DROP clears it, so an answer that comes after the account was
    /// dropped (and maybe registered again by someone else) changes nothing.
    pub password_account: Option<String>,
    /// When it will be renamed to a guest nick unless it logs in: set while
    /// it holds a registered nick it is not logged in to.
    pub nick_deadline: Option<Instant>,
    /// The nicks it MONITORs: case-folded nick → the spelling it gave, at
    /// most 100 of them (`MONITOR=100` in 005).
    pub monitoring: BTreeMap<String, String>,
    /// The private messages it sent lately, oldest first, at most
    /// [`MAX_SENT_PRIVATE`]: what it may still delete (REDACT). The core
    /// keeps no private history to look them up in.
    pub sent_private: VecDeque<SentPrivate>,
    /// The last [`Connection::shared_source`], reused while it still spells
    /// this connection's `nick!user@host`.
    source_cache: Option<Arc<str>>,
}

/// A SASL exchange: the mechanism chosen and what was gathered so far.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SaslExchange {
    /// The mechanism `AUTHENTICATE <mechanism>` chose.
    pub mechanism: crate::core::sasl::Mechanism,
    /// The payload being gathered.
    pub payload: crate::core::sasl::Payload,
    /// Where a multi-step mechanism (SCRAM) is.
    pub step: SaslStep,
}

/// Where a SASL exchange is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum SaslStep {
    /// Waiting for the client's (first) message.
    Start,
    /// The password is being checked by the shell.
    Checking,
    /// SCRAM: the server-first message was sent; waiting for client-final.
    /// `account` is the account's name as registered, `None` when there is
    /// no such account (the exchange runs on stand-in keys and fails).
    ScramFinal {
        challenge: Box<crate::core::scram::ScramChallenge>,
        account: Option<String>,
    },
    /// SCRAM: the server-final message was sent; the client's empty
    /// answer completes the login to `account`.
    ScramDone { account: String },
}

/// Lines a client sent faster than the flood rate allows, held back to run
/// later at that rate (fakelag), in the order they came.
///
/// ```
/// let lag = natter::core::Fakelag::default();
/// assert!(lag.lines.is_empty() && lag.due.is_none() && lag.hangup.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fakelag {
    /// The held lines, oldest first, each with its seal if it was sealed
    /// ([`crate::core::secrets`]).
    pub lines: VecDeque<(String, Option<Box<crate::core::secrets::Seal>>)>,
    /// Their length in bytes, all together.
    pub bytes: usize,
    /// When the oldest may run: this connection's entry in the server's
    /// flood timer queue (`None` while nothing is held).
    pub due: Option<Instant>,
    /// The connection ended while lines were held: the reason it gave,
    /// applied once the last of them has run.
    pub hangup: Option<String>,
}

/// How many of its latest private messages a client may still delete.
pub const MAX_SENT_PRIVATE: usize = 16;

/// A private message a client sent, for deleting it (REDACT).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SentPrivate {
    /// Its msgid.
    pub id: u64,
    /// The recipient's connection.
    pub to: ConnId,
    /// The nick it was sent to, as the recipient's client saw it.
    pub to_nick: String,
    /// When it was sent.
    pub at: Timestamp,
}

/// A user's own modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserModes {
    /// `+i`: hidden from WHO of people who share no room with them.
    pub invisible: bool,
    /// `+w`: receives WALLOPS.
    pub wallops: bool,
    /// `+o`: a server operator (only through OPER).
    pub oper: bool,
    /// `+B`: a bot (IRCv3 bot mode): shown in WHOIS (335) and WHO (`B`), and
    /// its messages carry the `bot` tag.
    pub bot: bool,
}

impl UserModes {
    /// The mode string for 221, e.g. `+iw` (or `+` with none).
    ///
    /// ```
    /// let modes = natter::core::UserModes { invisible: true, wallops: true, ..Default::default() };
    /// assert_eq!(modes.to_mode_string(), "+iw");
    /// ```
    pub fn to_mode_string(self) -> String {
        let mut s = String::from("+");
        let letters = [
            (self.bot, 'B'),
            (self.invisible, 'i'),
            (self.oper, 'o'),
            (self.wallops, 'w'),
        ];
        for (on, letter) in letters {
            if on {
                s.push(letter);
            }
        }
        s
    }
}

impl Connection {
    /// A fresh, unregistered connection from `peer` at `now`.
    pub fn new(peer: &str, now: Now, password_needed: bool) -> Connection {
        let host = match peer.rsplit_once(':') {
            Some((ip, _port)) => ip.trim_start_matches('[').trim_end_matches(']'),
            None => peer,
        };
        Connection {
            node: None,
            peer: peer.to_string(),
            host: if host.is_empty() {
                "unknown".into()
            } else {
                host.to_string()
            },
            nick: None,
            user: None,
            realname: String::new(),
            phase: Phase::Registering {
                cap_negotiating: false,
                password_ok: !password_needed,
            },
            tls: false,
            caps: Caps::default(),
            modes: UserModes::default(),
            away: None,
            rooms: RoomSet::default(),
            invites: RoomSet::default(),
            connected_at: now.mono,
            signon: now.wall,
            last_active: now.mono,
            last_spoke: now.mono,
            ping_sent: None,
            flood_clock: now.mono,
            flood_exempt: false,
            oper_via_account: false,
            fakelag: Fakelag::default(),
            timer: now.mono,
            oper_pending: None,
            oper_failures: 0,
            cap_302: false,
            account: None,
            certfp: None,
            sasl: None,
            password_pending: false,
            password_account: None,
            nick_deadline: None,
            monitoring: BTreeMap::new(),
            sent_private: VecDeque::new(),
            source_cache: None,
        }
    }

    /// Whether the connection is safe for a password in clear text: TLS, or
    /// from this machine (loopback never crosses a network).
    pub fn is_secure(&self) -> bool {
        self.tls
            || self
                .host
                .parse::<core::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether 001 has been sent.
    pub fn is_registered(&self) -> bool {
        self.phase == Phase::Registered
    }

    /// The nickname, or `*` before one is set (as numerics expect).
    pub fn nick_or_star(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    /// Whether flood control leaves this client alone: server operators,
    /// and connections given [`Connection::flood_exempt`].
    pub fn is_flood_exempt(&self) -> bool {
        self.modes.oper || self.flood_exempt
    }

    /// `nick!user@host`, the source of this client's messages.
    pub fn source(&self) -> String {
        // One allocation of the exact size (`format!` grows its String).
        self.source_parts().concat()
    }

    /// [`Connection::source`], shared: made again only when the nick or
    /// username changed since it was last made, so a client that talks
    /// costs no allocation for it per message.
    ///
    /// ```
    /// use natter::core::{Connection, Now};
    /// let mut c = Connection::new("127.0.0.1:5000", Now::default(), false);
    /// c.nick = Some("alice".into());
    /// c.user = Some("a".into());
    /// let first = c.shared_source();
    /// assert_eq!(&*first, "alice!a@127.0.0.1");
    /// assert!(std::sync::Arc::ptr_eq(&first, &c.shared_source()), "made once");
    /// c.nick = Some("bob".into());
    /// assert_eq!(&*c.shared_source(), "bob!a@127.0.0.1");
    /// ```
    pub fn shared_source(&mut self) -> Arc<str> {
        match &self.source_cache {
            Some(cached) if self.is_source(cached) => cached.clone(),
            _ => {
                let source: Arc<str> = self.source().into();
                self.source_cache = Some(source.clone());
                source
            }
        }
    }

    fn source_parts(&self) -> [&str; 5] {
        [
            self.nick_or_star(),
            "!",
            self.user.as_deref().unwrap_or("unknown"),
            "@",
            &self.host,
        ]
    }

    /// Whether `s` spells this connection's source as it is now.
    fn is_source(&self, s: &str) -> bool {
        let mut rest = s;
        for part in self.source_parts() {
            match rest.strip_prefix(part) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

/// The case-folded names of the rooms one client is in, kept sorted so they
/// iterate in the same fixed order a `BTreeSet` would. A client is usually
/// in one or two rooms: a sorted `Vec` holds them in a few dozen bytes where
/// a B-tree node takes hundreds, for every connection.
///
/// ```
/// use natter::core::RoomSet;
/// let mut rooms = RoomSet::default();
/// assert!(rooms.insert("#rust".into()));
/// assert!(rooms.insert("#lobby".into()));
/// assert!(!rooms.insert("#lobby".into()));
/// assert_eq!(rooms.iter().collect::<Vec<_>>(), ["#lobby", "#rust"]);
/// assert!(rooms.remove("#rust") && !rooms.contains("#rust"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomSet(Vec<String>);

impl RoomSet {
    /// Adds `room`; false if it was already there.
    pub fn insert(&mut self, room: String) -> bool {
        match self.0.binary_search(&room) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, room);
                true
            }
        }
    }

    /// Removes `room`; false if it was not there.
    pub fn remove(&mut self, room: &str) -> bool {
        match self.0.binary_search_by(|r| r.as_str().cmp(room)) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `room` is in the set.
    pub fn contains(&self, room: &str) -> bool {
        self.0.binary_search_by(|r| r.as_str().cmp(room)).is_ok()
    }

    /// How many rooms.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when in no room.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rooms in sorted order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a RoomSet {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
