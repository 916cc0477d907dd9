//! [`ServerConfig`]: everything the operator can set that the chat rules use.
//!
//! Owns defaults and limits. Must never read files or the environment: the
//! shell fills it from the command line.

use std::collections::{BTreeMap, BTreeSet};

/// Settings for a [`crate::core::Server`].
///
/// ```
/// let config = natter::core::ServerConfig::default();
/// assert_eq!(config.default_room, "#lobby");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// This server's name, the source of its replies.
    pub server_name: String,
    /// The network name advertised in ISUPPORT.
    pub network: String,
    /// When the server started, human-readable, for RPL_CREATED.
    pub created: String,
    /// A password clients must send with PASS before registering.
    pub password: Option<String>,
    /// Message-of-the-day lines; empty means "no MOTD" (422).
    pub motd: Vec<String>,
    /// The room whose events are logged without a room name.
    pub default_room: String,
    /// Seconds of silence after which the server sends PING.
    pub ping_interval_secs: u64,
    /// Seconds after that PING by which the client must have said anything.
    pub ping_timeout_secs: u64,
    /// Seconds a connection may take to register.
    pub registration_timeout_secs: u64,
    /// Whether the text of private messages goes into server.log.
    pub log_private_text: bool,
    /// How many rooms one client may be in at once.
    pub max_rooms_per_client: usize,
    /// Sustained lines per second one client may send; 0 turns flood
    /// protection off. Lines past the burst are not refused but delayed
    /// (fakelag): held, in order, and run at this rate. Operators and
    /// connections marked `flood_exempt` are never delayed.
    pub flood_lines_per_sec: u64,
    /// How many lines beyond the sustained rate a client may send at once
    /// before the next are delayed (at least 1 counts).
    pub flood_burst_lines: u64,
    /// The hard limit: how many delayed lines one client may have waiting.
    /// One more closes it with "Excess Flood", and the waiting lines are
    /// dropped.
    pub flood_queue_lines: usize,
    /// The hard limit in bytes: the delayed lines of one client, all
    /// together, may not be longer; a line that would pass it closes the
    /// client with "Excess Flood".
    pub flood_queue_bytes: usize,
    /// How many of a room's latest messages a joiner is sent before live
    /// traffic (0: none).
    pub history_on_join: usize,
    /// Most messages kept per room (older ones are forgotten, here and in
    /// the store).
    pub history_max_messages: usize,
    /// Messages older than this many seconds are forgotten; 0 keeps them
    /// until `history_max_messages` pushes them out.
    pub history_max_age_secs: u64,
    /// Most messages one `CHATHISTORY` request returns (`CHATHISTORY=` in 005).
    pub chathistory_max: usize,
    /// The IRCv3 Strict Transport Security policy, when TLS is on.
    pub sts: Option<StsPolicy>,
    /// The server's time zone, seconds east of UTC: history replayed as
    /// plain text (to clients without `server-time`) shows its times in it,
    /// as server.log does. The shell reads it from the clock; the core never
    /// does.
    pub utc_offset_secs: i32,
    /// Server operators (`OPER name password`): name → argon2id PHC hash of
    /// the password. The core only passes a hash to the shell to check.
    pub opers: BTreeMap<String, String>,
    /// For how many seconds after sending it a person may delete their own
    /// room message (`REDACT`); 0 sets no limit. Room operators may delete
    /// any retained message at any time.
    pub redact_window_secs: u64,
    /// Seconds someone may hold a registered nick without logging in to
    /// its account before being renamed to a guest nick (`--nick-grace`).
    pub nick_grace_secs: u64,
    /// Whether SASL PLAIN is offered on connections that are neither TLS
    /// nor from loopback (`--sasl-plain-without-tls`). Off by default: a
    /// client that logs in at every connect must not send its password
    /// across the network in clear text. (NickServ's commands, which people
    /// type by hand, work on any connection.)
    pub sasl_plain_without_tls: bool,
    /// Accounts (case-folded names) whose users are server operators while
    /// logged in (`--oper-account`): 381 and `+o` on logging in, `-o` on
    /// logging out.
    pub oper_accounts: BTreeSet<String>,
    /// Accounts (case-folded names) whose users flood control never delays
    /// (`--flood-exempt-account`), while logged in.
    pub flood_exempt_accounts: BTreeSet<String>,
}

/// What the IRCv3 `sts` capability tells clients: plaintext clients are sent
/// to the TLS `port`; TLS clients are asked to use TLS for `duration_secs`.
///
/// ```
/// let sts = natter::core::StsPolicy { port: 6697, duration_secs: 300 };
/// assert_eq!(sts.capability(false), "sts=port=6697");
/// assert_eq!(sts.capability(true), "sts=duration=300");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsPolicy {
    /// The TLS port plaintext clients must reconnect to.
    pub port: u16,
    /// How long a client that connected securely must keep using TLS.
    pub duration_secs: u64,
}

impl StsPolicy {
    /// The `CAP LS` token for a connection that is (`tls`) or is not secure:
    /// an upgrade policy on plaintext, a persistence policy over TLS.
    pub fn capability(&self, tls: bool) -> String {
        if tls {
            format!("sts=duration={}", self.duration_secs)
        } else {
            format!("sts=port={}", self.port)
        }
    }
}

/// The settings that may change while the server runs (a SIGHUP reload),
/// carried by [`crate::core::Event::Reconfigured`]. Everything else in
/// [`ServerConfig`] stays as it was at start.
///
/// ```
/// use natter::core::{LiveSettings, ServerConfig};
/// let mut config = ServerConfig::default();
/// config.apply(LiveSettings { motd: vec!["Hello".into()], ..LiveSettings::from(&config) });
/// assert_eq!(config.motd, ["Hello"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSettings {
    /// New message-of-the-day lines (shown from the next MOTD on).
    pub motd: Vec<String>,
    /// Server operators: name → argon2id hash (checked from the next OPER).
    pub opers: BTreeMap<String, String>,
    /// Flood protection's sustained rate (0: off), from the next line on.
    pub flood_lines_per_sec: u64,
    /// Flood protection's burst.
    pub flood_burst_lines: u64,
    /// Operator accounts (case-folded): applied at once to those logged in.
    pub oper_accounts: BTreeSet<String>,
    /// Flood-exempt accounts (case-folded): applied at once to those
    /// logged in.
    pub flood_exempt_accounts: BTreeSet<String>,
}

impl From<&ServerConfig> for LiveSettings {
    fn from(config: &ServerConfig) -> LiveSettings {
        LiveSettings {
            motd: config.motd.clone(),
            opers: config.opers.clone(),
            flood_lines_per_sec: config.flood_lines_per_sec,
            flood_burst_lines: config.flood_burst_lines,
            oper_accounts: config.oper_accounts.clone(),
            flood_exempt_accounts: config.flood_exempt_accounts.clone(),
        }
    }
}

impl ServerConfig {
    /// Takes on `live`; every other setting stays.
    pub fn apply(&mut self, live: LiveSettings) {
        self.motd = live.motd;
        self.opers = live.opers;
        self.flood_lines_per_sec = live.flood_lines_per_sec;
        self.flood_burst_lines = live.flood_burst_lines;
        self.oper_accounts = live.oper_accounts;
        self.flood_exempt_accounts = live.flood_exempt_accounts;
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_name: "natter".to_string(),
            network: "natter".to_string(),
            created: "today".to_string(),
            password: None,
            motd: Vec::new(),
            default_room: "#lobby".to_string(),
            ping_interval_secs: 120,
            ping_timeout_secs: 60,
            registration_timeout_secs: 60,
            log_private_text: false,
            max_rooms_per_client: 50,
            flood_lines_per_sec: 100,
            flood_burst_lines: 500,
            // One more burst's worth: 5 s of lines at the default rate.
            flood_queue_lines: 500,
            flood_queue_bytes: 256 * 1024,
            sts: None,
            history_on_join: 20,
            history_max_messages: 10_000,
            history_max_age_secs: 0,
            chathistory_max: 100,
            utc_offset_secs: 0,
            opers: BTreeMap::new(),
            redact_window_secs: 900,
            nick_grace_secs: 30,
            sasl_plain_without_tls: false,
            oper_accounts: BTreeSet::new(),
            flood_exempt_accounts: BTreeSet::new(),
        }
    }
}
