//! Registered rooms: what ChanServ keeps of a room beyond its life.
//!
//! Owns [`RegisteredRoom`] (the founder, the access list, and a snapshot of
//! the topic, modes and ban/exception/invite-exception lists) and the
//! [`RoomRegistry`] the core looks them up in by case-folded name. A
//! registered room's snapshot is taken whenever its settings change and
//! put back when the room is created again (after it emptied, or after a
//! restart). Must never do I/O: the shell stores what
//! [`crate::core::Action::SaveRoom`] hands it (as JSON, through serde).

use super::event::Timestamp;
use super::room::{ListEntry, Room, RoomModes, Topic};
use crate::proto::{casefold, casefold_cow, ChannelMode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most entries on one room's access list.
pub const MAX_ACCESS_ENTRIES: usize = 100;

/// What an access list entry gives its account in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    /// `+o` on join or login; may use ChanServ OP/DEOP/VOICE/DEVOICE on
    /// anyone and change the access list.
    Op,
    /// `+v` on join or login; may VOICE/DEVOICE themselves.
    Voice,
}

impl AccessLevel {
    /// `op` or `voice`, as typed in `AMODE … ADD`.
    pub fn parse(word: &str) -> Option<AccessLevel> {
        match word.to_ascii_lowercase().trim_start_matches(['+', '-']) {
            "op" | "o" | "aop" => Some(AccessLevel::Op),
            "voice" | "v" | "vop" => Some(AccessLevel::Voice),
            _ => None,
        }
    }

    /// `op` or `voice`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Op => "op",
            AccessLevel::Voice => "voice",
        }
    }
}

/// One account on a room's access list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// The account name as registered.
    pub account: String,
    /// What it gets.
    pub level: AccessLevel,
    /// The account that added it.
    pub added_by: String,
    /// When.
    pub added_at: Timestamp,
}

/// A room registered with ChanServ, as stored.
///
/// ```
/// use natter::core::{AccessLevel, RegisteredRoom, Room, Timestamp};
/// let room = Room::new("#Rust", Timestamp(0));
/// let mut reg = RegisteredRoom::new(&room, "alice", Timestamp(5));
/// reg.set_access("bob", AccessLevel::Voice, "alice", Timestamp(6));
/// assert_eq!(reg.level_of("BOB"), Some(AccessLevel::Voice));
/// assert_eq!(reg.level_of("alice"), Some(AccessLevel::Op), "the founder");
/// assert_eq!(reg.level_of("carol"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredRoom {
    /// The room's name as shown (its spelling when registered or renamed).
    pub name: String,
    /// The founder's account.
    pub founder: String,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// The access list, oldest entry first (the founder is not on it).
    #[serde(default)]
    pub access: Vec<AccessEntry>,
    /// The topic, if one is set.
    #[serde(default)]
    pub topic: Option<Topic>,
    /// The flag, key and limit modes.
    #[serde(default = "RoomModes::new_room")]
    pub modes: RoomModes,
    /// `+b` masks, oldest first.
    #[serde(default)]
    pub bans: Vec<ListEntry>,
    /// `+e` masks, oldest first.
    #[serde(default)]
    pub exceptions: Vec<ListEntry>,
    /// `+I` masks, oldest first.
    #[serde(default)]
    pub invite_exceptions: Vec<ListEntry>,
}

impl RegisteredRoom {
    /// `room` registered by `founder` at `now`, with its current settings.
    pub fn new(room: &Room, founder: &str, now: Timestamp) -> RegisteredRoom {
        let mut reg = RegisteredRoom {
            name: room.name().to_string(),
            founder: founder.to_string(),
            registered_at: now,
            access: Vec::new(),
            topic: None,
            modes: RoomModes::new_room(),
            bans: Vec::new(),
            exceptions: Vec::new(),
            invite_exceptions: Vec::new(),
        };
        reg.snapshot(room);
        reg
    }

    /// Takes `room`'s name, topic, modes and lists; true if any changed.
    pub fn snapshot(&mut self, room: &Room) -> bool {
        let before = self.clone();
        self.name = room.name().to_string();
        self.topic = room.topic().cloned();
        self.modes = room.modes().clone();
        self.bans = room.list(ChannelMode::Ban).to_vec();
        self.exceptions = room.list(ChannelMode::BanException).to_vec();
        self.invite_exceptions = room.list(ChannelMode::InviteException).to_vec();
        *self != before
    }

    /// Puts the saved topic, modes and lists on `room` (created again).
    pub fn apply_to(&self, room: &mut Room) {
        room.restore_settings(
            self.topic.clone(),
            self.modes.clone(),
            [
                self.bans.clone(),
                self.exceptions.clone(),
                self.invite_exceptions.clone(),
            ],
        );
    }

    /// Whether `account` (any case) is the founder.
    pub fn is_founder(&self, account: &str) -> bool {
        casefold(account) == casefold(&self.founder)
    }

    /// What `account` (any case) gets here: the founder is an operator.
    pub fn level_of(&self, account: &str) -> Option<AccessLevel> {
        if self.is_founder(account) {
            return Some(AccessLevel::Op);
        }
        let folded = casefold(account);
        self.access
            .iter()
            .find(|e| casefold(&e.account) == folded)
            .map(|e| e.level)
    }

    /// Adds `account` at `level`, or changes its level. False when the
    /// list is full ([`MAX_ACCESS_ENTRIES`]) and it was not on it.
    pub fn set_access(
        &mut self,
        account: &str,
        level: AccessLevel,
        by: &str,
        now: Timestamp,
    ) -> bool {
        let folded = casefold(account);
        if let Some(e) = self
            .access
            .iter_mut()
            .find(|e| casefold(&e.account) == folded)
        {
            e.level = level;
            return true;
        }
        if self.access.len() >= MAX_ACCESS_ENTRIES {
            return false;
        }
        self.access.push(AccessEntry {
            account: account.to_string(),
            level,
            added_by: by.to_string(),
            added_at: now,
        });
        true
    }

    /// Takes `account` (any case) off the access list; false if it was not on it.
    pub fn remove_access(&mut self, account: &str) -> bool {
        let folded = casefold(account);
        let before = self.access.len();
        self.access.retain(|e| casefold(&e.account) != folded);
        self.access.len() != before
    }

    /// Who takes over when the founder's account is dropped: the oldest
    /// operator on the access list whose account `exists`, as Atheme picks
    /// a successor (`None`: nobody, and the registration goes).
    pub fn successor(&self, exists: impl Fn(&str) -> bool) -> Option<String> {
        self.access
            .iter()
            .filter(|e| e.level == AccessLevel::Op && !self.is_founder(&e.account))
            .find(|e| exists(&e.account))
            .map(|e| e.account.clone())
    }
}

/// Every registered room, by case-folded name.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RoomRegistry {
    rooms: BTreeMap<String, RegisteredRoom>,
}

impl RoomRegistry {
    /// The registration of the room called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&RegisteredRoom> {
        self.rooms.get(casefold_cow(name).as_ref())
    }

    /// The registration of the room called `name` (any case), to change it.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut RegisteredRoom> {
        self.rooms.get_mut(casefold_cow(name).as_ref())
    }

    /// Adds or replaces `room`.
    pub fn insert(&mut self, room: RegisteredRoom) {
        self.rooms.insert(casefold(&room.name), room);
    }

    /// Forgets the room called `name` (any case); returns it if there was one.
    pub fn remove(&mut self, name: &str) -> Option<RegisteredRoom> {
        self.rooms.remove(casefold_cow(name).as_ref())
    }

    /// Whether the room called `name` (any case) is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.rooms.contains_key(casefold_cow(name).as_ref())
    }

    /// Every registration, in case-folded name order.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredRoom> + '_ {
        self.rooms.values()
    }

    /// How many rooms are registered.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::ConnId;
    use crate::proto::ModeChange;

    #[test]
    fn a_snapshot_put_back_on_a_new_room_restores_its_topic_modes_and_lists() {
        let mut room = Room::new("#r", Timestamp(0));
        room.join(ConnId(1));
        room.set_topic(Topic {
            text: "hello".into(),
            set_by: "alice".into(),
            set_at: Timestamp(3),
        });
        for (mode, arg) in [
            (ChannelMode::Moderated, None),
            (ChannelMode::Key, Some("sesame")),
            (ChannelMode::Ban, Some("eve")),
        ] {
            let change = ModeChange {
                set: true,
                mode,
                arg: arg.map(str::to_string),
            };
            assert!(room.apply(&change, None, "alice", Timestamp(4)).is_ok());
        }
        let reg = RegisteredRoom::new(&room, "alice", Timestamp(5));
        let mut again = Room::new("#R", Timestamp(9));
        reg.apply_to(&mut again);
        assert_eq!(again.topic(), room.topic());
        assert_eq!(again.modes(), room.modes());
        assert_eq!(
            again.list(ChannelMode::Ban),
            room.list(ChannelMode::Ban),
            "bans are back"
        );
        let mut reg2 = reg.clone();
        assert!(!reg2.snapshot(&room), "nothing changed");
    }

    #[test]
    fn the_successor_is_the_oldest_operator_whose_account_still_exists() {
        let room = Room::new("#r", Timestamp(0));
        let mut reg = RegisteredRoom::new(&room, "alice", Timestamp(0));
        reg.set_access("vic", AccessLevel::Voice, "alice", Timestamp(1));
        reg.set_access("gone", AccessLevel::Op, "alice", Timestamp(2));
        reg.set_access("bob", AccessLevel::Op, "alice", Timestamp(3));
        assert_eq!(reg.successor(|a| a != "gone").as_deref(), Some("bob"));
        assert!(reg.remove_access("BOB"));
        assert_eq!(reg.successor(|a| a != "gone"), None);
    }

    #[test]
    fn access_levels_are_read_in_the_words_services_use() {
        assert_eq!(AccessLevel::parse("OP"), Some(AccessLevel::Op));
        assert_eq!(AccessLevel::parse("+v"), Some(AccessLevel::Voice));
        assert_eq!(AccessLevel::parse("founder"), None);
    }
}
