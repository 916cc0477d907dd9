//! [`Connection`]: what the server knows about one client connection.
//!
//! Owns registration progress, identity, capabilities and liveness timers.
//! Must never hold sockets or read clocks.

use super::event::Timestamp;

/// The capabilities that change what a line looks like for one client.
/// Lines are serialized once per distinct `Caps` among the recipients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Caps {
    /// `message-tags`: the client accepts tags (`msgid` among them).
    pub message_tags: bool,
    /// `server-time`: lines carry `time=`.
    pub server_time: bool,
    /// `batch`: history arrives inside `BATCH +id chathistory`.
    pub batch: bool,
    /// `draft/chathistory`: the client may page with `CHATHISTORY`.
    pub chathistory: bool,
}

/// One client connection's state inside the [`crate::core::Server`].
#[derive(Debug, Clone)]
pub struct Connection {
    /// The peer address as given by the shell (`ip:port`).
    pub peer: String,
    /// The host part shown in `nick!user@host`.
    pub host: String,
    /// Nickname, once one was accepted.
    pub nick: Option<String>,
    /// Username from USER.
    pub user: Option<String>,
    /// Real name from USER.
    pub realname: String,
    /// Whether 001 has been sent.
    pub registered: bool,
    /// True between `CAP LS`/`CAP REQ` and `CAP END` before registration.
    pub cap_negotiating: bool,
    /// Whether the correct PASS was given (true when no password is set).
    pub password_ok: bool,
    /// Whether the connection came over TLS.
    pub tls: bool,
    /// Whether the client enabled `echo-message`.
    pub echo_message: bool,
    /// The IRCv3 capabilities that change how lines are tagged for it.
    pub caps: Caps,
    /// Case-folded names of the rooms this client is in.
    pub rooms: RoomSet,
    /// When the connection opened.
    pub connected_at: Timestamp,
    /// When the client last sent anything.
    pub last_active: Timestamp,
    /// When the server sent a PING still unanswered.
    pub ping_sent: Option<Timestamp>,
    /// Flood control: the time by which this client's lines would have been
    /// paid for at the sustained rate (runs ahead of `now` during a burst).
    pub flood_clock: Timestamp,
}

impl Connection {
    /// A fresh, unregistered connection from `peer` at `now`.
    pub fn new(peer: &str, now: Timestamp, password_needed: bool) -> Connection {
        let host = match peer.rsplit_once(':') {
            Some((ip, _port)) => ip.trim_start_matches('[').trim_end_matches(']'),
            None => peer,
        };
        Connection {
            peer: peer.to_string(),
            host: if host.is_empty() {
                "unknown".into()
            } else {
                host.to_string()
            },
            nick: None,
            user: None,
            realname: String::new(),
            registered: false,
            cap_negotiating: false,
            password_ok: !password_needed,
            tls: false,
            echo_message: false,
            caps: Caps::default(),
            rooms: RoomSet::default(),
            connected_at: now,
            last_active: now,
            ping_sent: None,
            flood_clock: now,
        }
    }

    /// The nickname, or `*` before one is set (as numerics expect).
    pub fn nick_or_star(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    /// Charges one line to the flood budget; false when the client has run
    /// past its burst (`lines_per_sec` 0 means unlimited).
    pub fn charge_line(&mut self, now: Timestamp, lines_per_sec: u64, burst: u64) -> bool {
        if lines_per_sec == 0 {
            return true;
        }
        let cost_ms = (1000 / lines_per_sec).max(1);
        self.flood_clock = Timestamp(self.flood_clock.0.max(now.0) + cost_ms);
        self.flood_clock.0 <= now.0 + burst.saturating_mul(cost_ms)
    }

    /// `nick!user@host`, the source of this client's messages.
    pub fn source(&self) -> String {
        format!(
            "{}!{}@{}",
            self.nick_or_star(),
            self.user.as_deref().unwrap_or("unknown"),
            self.host
        )
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
