//! What the core asks the shell to do: [`Action`]s.
//!
//! Owns the output vocabulary of the state machine. Must never perform the
//! action itself.

use super::accounts::Account;
use super::bans::ServerBan;
use super::event::ConnId;
use super::history::HistoryRecord;
use super::log::LogRecord;
use super::read_markers::MarkerChange;
use super::registered_rooms::RegisteredRoom;
use std::sync::Arc;

/// One serialized IRC line without its CR LF, shared by every recipient.
pub type OutLine = Arc<str>;

/// Something the shell must do, in the order the core emitted it.
///
/// Rare, large payloads (accounts, rooms, bans) are boxed: every action
/// is moved through the outbox, so the enum stays as small as its common
/// variants (`Send`, `Broadcast`, `Persist`).
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue `line` on one connection's outbox.
    Send { to: ConnId, line: OutLine },
    /// Queue the same `line` on each of these connections' outboxes.
    Broadcast { to: Vec<ConnId>, line: OutLine },
    /// Flush what is queued for `conn`, then close it. The core has already
    /// forgotten it: send no further events for `conn`.
    Close { conn: ConnId, reason: String },
    /// Append a record to `server.log`.
    Log(LogRecord),
    /// Store `record` durably. Every line emitted after this action may
    /// carry the record to someone, so a shell that promises durability
    /// holds those lines until the record is committed.
    Persist(HistoryRecord),
    /// Store a change to someone's read markers durably (like
    /// [`Action::Persist`]: lines emitted after it may tell of it).
    SaveReadMarker(MarkerChange),
    /// Check `password` against the PHC string `hash` (argon2id) away from
    /// the core (it is slow on purpose), then feed back
    /// [`crate::core::Event::PasswordChecked`] with the same `conn` and
    /// `purpose`. The core never hashes. Never log or show `password`.
    CheckPassword {
        conn: ConnId,
        hash: String,
        password: Secret,
        purpose: PasswordPurpose,
    },
    /// Make credentials (an argon2id hash and SCRAM-SHA-256 keys) from
    /// `password` away from the core, then feed back
    /// [`crate::core::Event::PasswordHashed`] with the same `conn` and
    /// `purpose`. Never log or show `password`.
    HashPassword {
        conn: ConnId,
        password: Secret,
        purpose: HashPurpose,
    },
    /// Store `account` durably (added or changed), replacing any account of
    /// the same case-folded name.
    SaveAccount(Box<Account>),
    /// Delete the account called `name` (case-folded) from the store.
    DeleteAccount { name: String },
    /// Store a room registered with ChanServ durably (registered, or its
    /// founder, access list, topic, modes or lists changed), replacing any
    /// room of the same case-folded name. Like accounts, lines emitted
    /// after it may tell of it.
    SaveRoom(Box<RegisteredRoom>),
    /// Delete the registration of the room called `name` (case-folded)
    /// from the store (ChanServ DROP, or its founder's account dropped
    /// with no successor, or renamed away from `name`).
    DeleteRoom { name: String },
    /// Store a server ban (KLINE) durably, replacing any with the same
    /// mask. Like [`Action::SaveAccount`]: lines after it may tell of it.
    SaveServerBan(Box<ServerBan>),
    /// Delete the server ban on `mask` (normalized) from the store
    /// (UNKLINE, or it expired).
    DeleteServerBan { mask: String },
}

/// What new credentials are for, handed back unchanged with them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HashPurpose {
    /// Registering the account `account` (`REGISTER`, `NickServ REGISTER`).
    Register {
        account: String,
        email: Option<String>,
        via: Via,
    },
    /// `NickServ SET PASSWORD`: a new password for `account`.
    SetPassword { account: String },
}

/// Which command asked, so the answer comes in the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Via {
    /// IRCv3 `REGISTER` (draft/account-registration): `FAIL`/`REGISTER SUCCESS`.
    RegisterCommand,
    /// A message to NickServ: notices from NickServ.
    NickServ,
    /// SASL `AUTHENTICATE`: 900/903/904.
    Sasl,
}

/// What a password check is for, handed back unchanged with its answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PasswordPurpose {
    /// `OPER name password`: becoming the server operator `name`.
    Oper { name: String },
    /// Logging in to `account` (`NickServ IDENTIFY`, SASL PLAIN). An empty
    /// hash means the account does not exist: the shell still spends the
    /// time of a real check, so the answer's timing does not tell.
    Login { account: String, via: Via },
}

/// A password a client sent: kept out of `Debug` output, so it never lands
/// in a log, a panic message or a failed test's printout.
///
/// In a cluster, the password itself stays with the node that holds the
/// connection (in its vault), and the core only ever sees a reference to
/// it ([`Secret::vaulted`]): that node swaps it back before the check.
///
/// ```
/// let secret = natter::core::Secret::new("hunter2");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert_eq!(secret.expose(), "hunter2");
/// let kept = natter::core::Secret::vaulted(7);
/// assert_eq!((kept.vault_id(), kept.expose()), (Some(7), ""));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Kept);

/// Where a [`Secret`] is.
#[derive(Clone, PartialEq, Eq)]
enum Kept {
    /// Here, as the client sent it.
    Text(String),
    /// In the vault of the node holding the connection, under this id.
    Vaulted(u64),
}

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(Kept::Text(text.into()))
    }

    /// A reference to a password kept under `id` in the vault of the node
    /// that holds the connection.
    pub fn vaulted(id: u64) -> Secret {
        Secret(Kept::Vaulted(id))
    }

    /// The vault id, when this is a reference rather than the password.
    pub fn vault_id(&self) -> Option<u64> {
        match self.0 {
            Kept::Text(_) => None,
            Kept::Vaulted(id) => Some(id),
        }
    }

    /// The password itself, for the one place that checks it (empty for a
    /// vault reference: swap it for the password from the vault first).
    pub fn expose(&self) -> &str {
        match &self.0 {
            Kept::Text(text) => text,
            Kept::Vaulted(_) => "",
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Kept::Text(_) => f.write_str("Secret(<redacted>)"),
            Kept::Vaulted(id) => write!(f, "Secret(vault #{id})"),
        }
    }
}
