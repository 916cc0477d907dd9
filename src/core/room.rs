//! [`Room`]: one channel's members, their privileges, its topic and modes.
//!
//! Owns the rules that depend on one room alone: may this person join,
//! speak, set the topic, change a mode; what a mode change does; who is an
//! operator. Each rule is a method that returns a decision, so it is tested
//! on a `Room` alone. Must never look up connections, send anything or do
//! I/O: the [`crate::core::Server`] turns decisions into replies.

use super::event::{ConnId, Timestamp};
use crate::proto::{mask_matches, normalize_mask, ChannelMode, ModeChange};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Most entries in each of a room's ban, exception and invite-exception
/// lists (`MAXLIST=beI:` in 005).
pub const MAX_LIST_ENTRIES: usize = 100;

/// Longest channel key accepted.
pub const KEYLEN: usize = 23;

/// A topic and who set it when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Topic {
    /// The topic text.
    pub text: String,
    /// The `nick` (or `nick!user@host`) of whoever set it.
    pub set_by: String,
    /// When it was set.
    pub set_at: Timestamp,
}

/// What a member may do beyond speaking: the PREFIX modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Privileges {
    /// `+o`, shown as `@`: may change modes, kick, invite and set a +t topic.
    pub op: bool,
    /// `+v`, shown as `+`: may speak in a +m room.
    pub voice: bool,
}

impl Privileges {
    /// The prefixes to show before the nick: the highest only (`@`), or
    /// every one (`@+`) for clients with `multi-prefix`.
    ///
    /// ```
    /// use natter::core::Privileges;
    /// let both = Privileges { op: true, voice: true };
    /// assert_eq!(both.prefixes(false), "@");
    /// assert_eq!(both.prefixes(true), "@+");
    /// assert_eq!(Privileges::default().prefixes(true), "");
    /// ```
    pub fn prefixes(self, all: bool) -> &'static str {
        match (self.op, self.voice, all) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            (false, false, _) => "",
        }
    }
}

/// The room's own settings: the flag, key and limit modes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RoomModes {
    /// `+i`: only invited people (or those matching +I) may join.
    pub invite_only: bool,
    /// `+m`: only voiced members and operators may speak.
    pub moderated: bool,
    /// `+n`: only members may send to the room.
    pub no_external: bool,
    /// `+s`: hidden from LIST and WHOIS for people outside it.
    pub secret: bool,
    /// `+t`: only operators may change the topic.
    pub topic_lock: bool,
    /// `+k`: the key needed to join.
    pub key: Option<String>,
    /// `+l`: the most members the room takes.
    pub limit: Option<usize>,
}

impl RoomModes {
    /// The modes of a new room: `+nt`, as on most servers.
    pub fn new_room() -> RoomModes {
        RoomModes {
            no_external: true,
            topic_lock: true,
            ..RoomModes::default()
        }
    }

    /// The 324 mode string and its arguments, e.g. `("+klnt", ["sesame", "10"])`.
    /// The key is shown only when `show_key` (to members).
    pub fn describe(&self, show_key: bool) -> (String, Vec<String>) {
        let mut letters = String::from("+");
        let mut args = Vec::new();
        let flags = [
            (self.invite_only, 'i'),
            (self.key.is_some(), 'k'),
            (self.limit.is_some(), 'l'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
        ];
        for (on, letter) in flags {
            if on {
                letters.push(letter);
            }
        }
        if let Some(key) = &self.key {
            args.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = self.limit {
            args.push(limit.to_string());
        }
        (letters, args)
    }
}

/// One entry of a ban, exception or invite-exception list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListEntry {
    /// The normalized `nick!user@host` mask.
    pub mask: String,
    /// Who added it (`nick`).
    pub set_by: String,
    /// When it was added.
    pub set_at: Timestamp,
}

/// Why someone may not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// Matches a ban and no exception (474).
    Banned,
    /// The room is +i and they were not invited nor match +I (473).
    InviteOnly,
    /// The room is +k and the key was wrong or missing (475).
    BadKey,
    /// The room is +l and full (471).
    Full,
}

/// Why someone may not send to the room (all answered with 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeakRefusal {
    /// +n and not a member.
    NotMember,
    /// +m and neither voiced nor an operator.
    Moderated,
    /// Matches a ban and no exception, and neither voiced nor an operator.
    Banned,
}

/// Why a mode change was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeRefusal {
    /// `+o`/`+v` for someone not in the room (441).
    NotInRoom,
    /// A key with spaces, commas or over [`KEYLEN`] bytes (525).
    InvalidKey,
    /// A limit that is not a positive number (696).
    InvalidLimit,
    /// The list already holds [`MAX_LIST_ENTRIES`] masks (478).
    ListFull,
}

/// One channel. Members iterate in a fixed order (by connection id), so the
/// same events always produce the same actions.
///
/// ```
/// use natter::core::{ConnId, Room, Timestamp};
/// let mut room = Room::new("#lobby", Timestamp(0));
/// assert!(room.join(ConnId(1)));
/// assert!(!room.join(ConnId(1)));
/// assert!(room.privileges(ConnId(1)).is_some_and(|p| p.op), "the first joiner is operator");
/// assert!(room.join(ConnId(2)));
/// assert!(room.privileges(ConnId(2)).is_some_and(|p| !p.op));
/// assert_eq!(room.members().collect::<Vec<_>>(), vec![ConnId(1), ConnId(2)]);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Room {
    /// Shared with the history records and log lines that name the room.
    name: Arc<str>,
    members: BTreeMap<ConnId, Privileges>,
    topic: Option<Topic>,
    created: Timestamp,
    modes: RoomModes,
    bans: Vec<ListEntry>,
    exceptions: Vec<ListEntry>,
    invite_exceptions: Vec<ListEntry>,
    /// Invited connections: each invitation admits once.
    invited: BTreeSet<ConnId>,
}

impl Room {
    /// An empty room named `name`, created at `now`, with modes `+nt`.
    pub fn new(name: &str, now: Timestamp) -> Room {
        Room {
            name: Arc::from(name),
            members: BTreeMap::new(),
            topic: None,
            created: now,
            modes: RoomModes::new_room(),
            bans: Vec::new(),
            exceptions: Vec::new(),
            invite_exceptions: Vec::new(),
            invited: BTreeSet::new(),
        }
    }

    /// The name as first spelled by whoever created the room.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, shared: a record or log line that names the room holds
    /// it without a copy.
    pub fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    /// Gives the room a new name (RENAME); everything else stays.
    pub fn rename(&mut self, name: &str) {
        self.name = Arc::from(name);
    }

    /// When the room was created.
    pub fn created(&self) -> Timestamp {
        self.created
    }

    /// Adds `conn`; false if it was already a member. The first member of
    /// an empty room becomes its operator. A pending invitation is used up.
    pub fn join(&mut self, conn: ConnId) -> bool {
        if self.members.contains_key(&conn) {
            return false;
        }
        let op = self.members.is_empty();
        self.members.insert(
            conn,
            Privileges {
                op,
                ..Privileges::default()
            },
        );
        self.invited.remove(&conn);
        true
    }

    /// Adds `conn` with exactly `privileges` (no operator status for being
    /// first): how a registered room is entered, where ChanServ decides
    /// who is an operator. False if it was already a member.
    pub fn join_with(&mut self, conn: ConnId, privileges: Privileges) -> bool {
        if self.members.contains_key(&conn) {
            return false;
        }
        self.members.insert(conn, privileges);
        self.invited.remove(&conn);
        true
    }

    /// Replaces the topic, modes and lists with saved ones (a registered
    /// room created again); members and invitations stay.
    pub fn restore_settings(
        &mut self,
        topic: Option<Topic>,
        modes: RoomModes,
        lists: [Vec<ListEntry>; 3],
    ) {
        self.topic = topic.filter(|t| !t.text.is_empty());
        self.modes = modes;
        let [bans, exceptions, invite_exceptions] = lists;
        self.bans = bans;
        self.exceptions = exceptions;
        self.invite_exceptions = invite_exceptions;
    }

    /// Removes `conn`; false if it was not a member.
    pub fn part(&mut self, conn: ConnId) -> bool {
        self.members.remove(&conn).is_some()
    }

    /// Whether `conn` is a member.
    pub fn contains(&self, conn: ConnId) -> bool {
        self.members.contains_key(&conn)
    }

    /// The member's privileges, or `None` if not a member.
    pub fn privileges(&self, conn: ConnId) -> Option<Privileges> {
        self.members.get(&conn).copied()
    }

    /// Whether `conn` is a member with `+o`.
    pub fn is_op(&self, conn: ConnId) -> bool {
        self.privileges(conn).is_some_and(|p| p.op)
    }

    /// The members, in connection-id order.
    pub fn members(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.members.keys().copied()
    }

    /// The members with their privileges, in connection-id order.
    pub fn members_with_privileges(&self) -> impl Iterator<Item = (ConnId, Privileges)> + '_ {
        self.members.iter().map(|(&c, &p)| (c, p))
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The topic, if one is set.
    pub fn topic(&self) -> Option<&Topic> {
        self.topic.as_ref()
    }

    /// Sets the topic, or clears it when `topic.text` is empty.
    pub fn set_topic(&mut self, topic: Topic) {
        self.topic = if topic.text.is_empty() {
            None
        } else {
            Some(topic)
        };
    }

    /// The room's flag, key and limit modes.
    pub fn modes(&self) -> &RoomModes {
        &self.modes
    }

    /// Whether `conn` has a pending invitation.
    pub fn is_invited(&self, conn: ConnId) -> bool {
        self.invited.contains(&conn)
    }

    /// The connections with a pending invitation, in id order.
    pub fn invited(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.invited.iter().copied()
    }

    /// Withdraws `conn`'s invitation, if any.
    pub fn uninvite(&mut self, conn: ConnId) {
        self.invited.remove(&conn);
    }

    /// Records an invitation for `conn` (admits once, past +i, +k, +l, +b).
    pub fn invite(&mut self, conn: ConnId) {
        self.invited.insert(conn);
    }

    /// The entries of the list mode `mode` (`b`, `e` or `I`), oldest first.
    pub fn list(&self, mode: ChannelMode) -> &[ListEntry] {
        match mode {
            ChannelMode::Ban => &self.bans,
            ChannelMode::BanException => &self.exceptions,
            ChannelMode::InviteException => &self.invite_exceptions,
            _ => &[],
        }
    }

    fn list_mut(&mut self, mode: ChannelMode) -> Option<&mut Vec<ListEntry>> {
        match mode {
            ChannelMode::Ban => Some(&mut self.bans),
            ChannelMode::BanException => Some(&mut self.exceptions),
            ChannelMode::InviteException => Some(&mut self.invite_exceptions),
            _ => None,
        }
    }

    fn any_matches(list: &[ListEntry], subject: &str) -> bool {
        list.iter().any(|e| mask_matches(&e.mask, subject))
    }

    /// Whether `subject` (`nick!user@host`) is banned: matches a ban and no
    /// exception.
    pub fn is_banned(&self, subject: &str) -> bool {
        Self::any_matches(&self.bans, subject) && !Self::any_matches(&self.exceptions, subject)
    }

    /// May `conn`, known as `subject`, join with `key`? An invitation
    /// admits past every mode; otherwise bans, +i (unless +I matches), +k
    /// and +l are checked in that order.
    pub fn may_join(
        &self,
        conn: ConnId,
        subject: &str,
        key: Option<&str>,
    ) -> Result<(), JoinRefusal> {
        if self.invited.contains(&conn) {
            return Ok(());
        }
        if self.is_banned(subject) {
            return Err(JoinRefusal::Banned);
        }
        if self.modes.invite_only && !Self::any_matches(&self.invite_exceptions, subject) {
            return Err(JoinRefusal::InviteOnly);
        }
        if let Some(wanted) = &self.modes.key {
            if key != Some(wanted.as_str()) {
                return Err(JoinRefusal::BadKey);
            }
        }
        if self
            .modes
            .limit
            .is_some_and(|limit| self.members.len() >= limit)
        {
            return Err(JoinRefusal::Full);
        }
        Ok(())
    }

    /// May `conn`, known as `subject`, send PRIVMSG or NOTICE here?
    /// Operators and voiced members always may.
    pub fn may_speak(&self, conn: ConnId, subject: &str) -> Result<(), SpeakRefusal> {
        match self.members.get(&conn) {
            None if self.modes.no_external => Err(SpeakRefusal::NotMember),
            Some(p) if p.op || p.voice => Ok(()),
            _ if self.modes.moderated => Err(SpeakRefusal::Moderated),
            _ if self.is_banned(subject) => Err(SpeakRefusal::Banned),
            _ => Ok(()),
        }
    }

    /// May member `conn` change the topic? Under +t only operators may.
    pub fn may_set_topic(&self, conn: ConnId) -> bool {
        !self.modes.topic_lock || self.is_op(conn)
    }

    /// May member `conn` take the nick that makes it `new_subject`? Not
    /// when that is banned here, unless voiced or an operator.
    pub fn may_change_nick(&self, conn: ConnId, new_subject: &str) -> bool {
        match self.members.get(&conn) {
            Some(p) => p.op || p.voice || !self.is_banned(new_subject),
            None => true,
        }
    }

    /// Applies one change made by `by` at `now`. `target` is the member a
    /// `+o`/`+v` names (`None` when that nick is not in the room). Returns
    /// the change as it should be announced, `Ok(None)` when it changed
    /// nothing (setting what is already set), or why it was refused.
    pub fn apply(
        &mut self,
        change: &ModeChange,
        target: Option<ConnId>,
        by: &str,
        now: Timestamp,
    ) -> Result<Option<ModeChange>, ModeRefusal> {
        let set = change.set;
        let arg = change.arg.as_deref().unwrap_or_default();
        let unchanged = Ok(None);
        let announced = |arg: Option<String>| {
            Ok(Some(ModeChange {
                set,
                mode: change.mode,
                arg,
            }))
        };
        if let Some(on) = flag_of(&mut self.modes, change.mode) {
            if *on == set {
                return unchanged;
            }
            *on = set;
            return announced(None);
        }
        match change.mode {
            ChannelMode::Op | ChannelMode::Voice => {
                let Some(p) = target.and_then(|t| self.members.get_mut(&t)) else {
                    return Err(ModeRefusal::NotInRoom);
                };
                let slot = if change.mode == ChannelMode::Op {
                    &mut p.op
                } else {
                    &mut p.voice
                };
                if *slot == set {
                    return unchanged;
                }
                *slot = set;
                announced(change.arg.clone())
            }
            ChannelMode::Key if set => {
                let valid = !arg.is_empty()
                    && arg.len() <= KEYLEN
                    && !arg.bytes().any(|b| b <= b' ' || b == b',' || b == b':');
                if !valid {
                    return Err(ModeRefusal::InvalidKey);
                }
                if self.modes.key.as_deref() == Some(arg) {
                    return unchanged;
                }
                self.modes.key = Some(arg.to_string());
                announced(Some(arg.to_string()))
            }
            ChannelMode::Key => match self.modes.key.take() {
                Some(old) => announced(Some(old)),
                None => unchanged,
            },
            ChannelMode::Limit if set => {
                let limit = arg.parse::<usize>().ok().filter(|&n| n > 0 && n <= 100_000);
                let Some(limit) = limit else {
                    return Err(ModeRefusal::InvalidLimit);
                };
                if self.modes.limit == Some(limit) {
                    return unchanged;
                }
                self.modes.limit = Some(limit);
                announced(Some(limit.to_string()))
            }
            ChannelMode::Limit => match self.modes.limit.take() {
                Some(_) => announced(None),
                None => unchanged,
            },
            ChannelMode::Ban | ChannelMode::BanException | ChannelMode::InviteException => {
                let mask = normalize_mask(arg);
                let Some(list) = self.list_mut(change.mode) else {
                    return unchanged;
                };
                let at = list.iter().position(|e| e.mask.eq_ignore_ascii_case(&mask));
                match (set, at) {
                    (true, Some(_)) | (false, None) => unchanged,
                    (true, None) if list.len() >= MAX_LIST_ENTRIES => Err(ModeRefusal::ListFull),
                    (true, None) => {
                        list.push(ListEntry {
                            mask: mask.clone(),
                            set_by: by.to_string(),
                            set_at: now,
                        });
                        announced(Some(mask))
                    }
                    (false, Some(i)) => {
                        let removed = list.remove(i);
                        announced(Some(removed.mask))
                    }
                }
            }
            _ => unchanged,
        }
    }
}

/// The switch in `modes` that the flag mode `mode` turns on or off.
fn flag_of(modes: &mut RoomModes, mode: ChannelMode) -> Option<&mut bool> {
    Some(match mode {
        ChannelMode::InviteOnly => &mut modes.invite_only,
        ChannelMode::Moderated => &mut modes.moderated,
        ChannelMode::NoExternal => &mut modes.no_external,
        ChannelMode::Secret => &mut modes.secret,
        ChannelMode::TopicLock => &mut modes.topic_lock,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp(0);

    fn change(set: bool, mode: ChannelMode, arg: Option<&str>) -> ModeChange {
        ModeChange {
            set,
            mode,
            arg: arg.map(str::to_string),
        }
    }

    fn room_with(members: &[u64]) -> Room {
        let mut room = Room::new("#r", T);
        for &m in members {
            room.join(ConnId(m));
        }
        room
    }

    #[test]
    fn a_ban_keeps_out_unless_excepted_or_invited() {
        let mut room = room_with(&[1]);
        let ban = change(true, ChannelMode::Ban, Some("eve"));
        assert_eq!(
            room.apply(&ban, None, "op", T),
            Ok(Some(change(true, ChannelMode::Ban, Some("eve!*@*"))))
        );
        assert_eq!(room.apply(&ban, None, "op", T), Ok(None), "already banned");
        assert_eq!(
            room.may_join(ConnId(2), "EVE!e@10.0.0.1", None),
            Err(JoinRefusal::Banned)
        );
        let except = change(true, ChannelMode::BanException, Some("*!*@10.0.0.1"));
        assert!(room.apply(&except, None, "op", T).is_ok());
        assert_eq!(room.may_join(ConnId(2), "eve!e@10.0.0.1", None), Ok(()));
        assert_eq!(
            room.may_join(ConnId(2), "eve!e@10.0.0.2", None),
            Err(JoinRefusal::Banned)
        );
        room.invite(ConnId(2));
        assert_eq!(room.may_join(ConnId(2), "eve!e@10.0.0.2", None), Ok(()));
        assert!(room.join(ConnId(2)));
        assert!(!room.is_invited(ConnId(2)), "an invitation admits once");
    }

    #[test]
    fn invite_only_key_and_limit_are_checked_in_order() {
        let mut room = room_with(&[1]);
        for c in [
            change(true, ChannelMode::InviteOnly, None),
            change(true, ChannelMode::Key, Some("sesame")),
            change(true, ChannelMode::Limit, Some("1")),
        ] {
            assert!(matches!(room.apply(&c, None, "op", T), Ok(Some(_))));
        }
        let who = "bob!b@h";
        assert_eq!(
            room.may_join(ConnId(2), who, None),
            Err(JoinRefusal::InviteOnly)
        );
        let invex = change(true, ChannelMode::InviteException, Some("bob"));
        assert!(room.apply(&invex, None, "op", T).is_ok());
        assert_eq!(
            room.may_join(ConnId(2), who, Some("nope")),
            Err(JoinRefusal::BadKey)
        );
        assert_eq!(
            room.may_join(ConnId(2), who, Some("sesame")),
            Err(JoinRefusal::Full)
        );
        assert!(room
            .apply(&change(false, ChannelMode::Limit, None), None, "op", T)
            .is_ok());
        assert_eq!(room.may_join(ConnId(2), who, Some("sesame")), Ok(()));
        assert_eq!(
            room.modes().describe(true),
            ("+iknt".into(), vec!["sesame".into()])
        );
        assert_eq!(room.modes().describe(false).1, ["*"]);
    }

    #[test]
    fn moderated_rooms_hear_only_voiced_members_and_operators() {
        let mut room = room_with(&[1, 2, 3]);
        assert!(room
            .apply(&change(true, ChannelMode::Moderated, None), None, "op", T)
            .is_ok());
        assert!(room
            .apply(
                &change(true, ChannelMode::Voice, Some("c")),
                Some(ConnId(3)),
                "op",
                T
            )
            .is_ok());
        assert_eq!(room.may_speak(ConnId(1), "a!a@h"), Ok(()));
        assert_eq!(
            room.may_speak(ConnId(2), "b!b@h"),
            Err(SpeakRefusal::Moderated)
        );
        assert_eq!(room.may_speak(ConnId(3), "c!c@h"), Ok(()));
        assert_eq!(
            room.may_speak(ConnId(9), "x!x@h"),
            Err(SpeakRefusal::NotMember)
        );
        assert!(room
            .apply(&change(false, ChannelMode::NoExternal, None), None, "op", T)
            .is_ok());
        assert_eq!(
            room.may_speak(ConnId(9), "x!x@h"),
            Err(SpeakRefusal::Moderated)
        );
    }

    #[test]
    fn op_and_voice_need_a_member_and_report_no_change_twice() {
        let mut room = room_with(&[1, 2]);
        let op = change(true, ChannelMode::Op, Some("b"));
        assert_eq!(room.apply(&op, None, "a", T), Err(ModeRefusal::NotInRoom));
        assert_eq!(
            room.apply(&op, Some(ConnId(2)), "a", T),
            Ok(Some(op.clone()))
        );
        assert_eq!(room.apply(&op, Some(ConnId(2)), "a", T), Ok(None));
        assert!(room.is_op(ConnId(2)));
        assert!(!room.may_set_topic(ConnId(3)));
    }

    #[test]
    fn bad_keys_and_limits_are_refused() {
        let mut room = room_with(&[1]);
        for key in ["", "has space", "a,b", &"k".repeat(KEYLEN + 1)] {
            let c = change(true, ChannelMode::Key, Some(key));
            assert_eq!(
                room.apply(&c, None, "a", T),
                Err(ModeRefusal::InvalidKey),
                "{key:?}"
            );
        }
        for limit in ["0", "-1", "ten", ""] {
            let c = change(true, ChannelMode::Limit, Some(limit));
            assert_eq!(room.apply(&c, None, "a", T), Err(ModeRefusal::InvalidLimit));
        }
    }

    #[test]
    fn a_full_ban_list_refuses_more() {
        let mut room = room_with(&[1]);
        for i in 0..MAX_LIST_ENTRIES {
            let c = change(true, ChannelMode::Ban, Some(&format!("n{i}")));
            assert!(matches!(room.apply(&c, None, "a", T), Ok(Some(_))));
        }
        let c = change(true, ChannelMode::Ban, Some("one-more"));
        assert_eq!(room.apply(&c, None, "a", T), Err(ModeRefusal::ListFull));
        let unban = change(false, ChannelMode::Ban, Some("N0!*@*"));
        assert!(matches!(room.apply(&unban, None, "a", T), Ok(Some(_))));
        assert_eq!(room.list(ChannelMode::Ban).len(), MAX_LIST_ENTRIES - 1);
    }
}
