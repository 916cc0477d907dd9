//! The chat rules as a pure state machine: [`Event`]s in, [`Action`]s out.
//!
//! Owns registration, nicknames, rooms, delivery, liveness and log records.
//! Pure: must never touch sockets, clocks, files, threads or randomness.
//! Time arrives inside events; the same events always give the same actions.

mod accounts;
mod action;
mod bans;
mod config;
mod connection;
mod conversations;
mod event;
mod history;
mod log;
mod read_markers;
mod registered_rooms;
mod room;
pub mod sasl;
pub mod scram;
pub mod secrets;
mod server;

pub use accounts::{
    is_service_name, is_valid_account_name, normalize_certfp, Account, AccountBook, Credentials,
    LoginThrottle, FREE_LOGIN_FAILURES, MAX_CERTFPS, MAX_LOGIN_WAIT_SECS,
};
pub use action::{Action, HashPurpose, OutLine, PasswordPurpose, Secret, Via};
pub use bans::{
    is_too_wide, normalize_ban_mask, parse_ban_duration, ServerBan, ServerBanError, ServerBans,
    MAX_BAN_REASON, MAX_SERVER_BANS,
};
pub use config::{LiveSettings, ServerConfig, StsPolicy};
pub use connection::{
    Caps, Connection, Fakelag, Phase, RoomSet, SentPrivate, UserModes, MAX_SENT_PRIVATE,
};
pub use conversations::{Conversations, MAX_CONVERSATIONS};
pub use event::{ConnId, Event, Instant, Now, Timestamp};
pub use history::{
    parse_server_time, server_time, HistoryKind, HistoryRecord, RoomHistory, Selector,
};
pub use log::{log_stamp, render_log_line, LogEntry, LogRecord};
pub use read_markers::{owner_key, MarkerChange, ReadMarker, ReadMarkers};
pub use registered_rooms::{
    AccessEntry, AccessLevel, RegisteredRoom, RoomRegistry, MAX_ACCESS_ENTRIES,
};
pub use room::{
    JoinRefusal, ListEntry, ModeRefusal, Privileges, Room, RoomModes, SpeakRefusal, Topic, KEYLEN,
    MAX_LIST_ENTRIES,
};
pub use scram::{ScramChallenge, ScramCredentials, ScramError, ScramServer};
pub use server::{Server, VERSION};
