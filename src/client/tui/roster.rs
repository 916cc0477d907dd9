//! Who is in each room, its topic and modes, and this user's own modes, as
//! the server's lines say (NAMES, JOIN, PART, QUIT, NICK, KICK, MODE,
//! TOPIC, 221/324/332). Pure: feeds on parsed [`Message`]s.
//!
//! The session decides what to show; the roster only keeps the lists a
//! full-screen client draws (the nick list, the status line) and knows
//! which rooms a quitting person was in, so their quit shows there.

use crate::proto::{casefold, Message};
use std::collections::BTreeMap;

/// Prefixes in rank order: founder, protected, operator, half-op, voice.
const PREFIXES: &str = "~&@%+";
/// Mode letters of those prefixes.
const PREFIX_MODES: &str = "qaohv";

/// One room as this client knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomState {
    /// Members: nick → prefix characters (`@`, `+`, …; empty for none).
    members: BTreeMap<String, (String, String)>,
    /// NAMES replies being collected.
    incoming: Vec<String>,
    pub topic: String,
    /// Room modes without their arguments, e.g. `+nt`.
    pub modes: String,
}

impl RoomState {
    /// Members as shown in a nick list: operators first, then voiced, then
    /// the rest, each group in alphabetical order; prefixed by their
    /// highest rank (`@alice`).
    pub fn members(&self) -> Vec<String> {
        let mut list: Vec<(usize, String, String)> = self
            .members
            .values()
            .map(|(nick, prefixes)| {
                let top = prefixes.chars().next();
                let rank = top.and_then(|p| PREFIXES.find(p)).unwrap_or(PREFIXES.len());
                let shown = match top {
                    Some(p) => format!("{p}{nick}"),
                    None => nick.clone(),
                };
                (rank, casefold(nick), shown)
            })
            .collect();
        list.sort();
        list.into_iter().map(|(_, _, shown)| shown).collect()
    }

    /// Members' nicks without prefixes.
    pub fn nicks(&self) -> Vec<String> {
        self.members.values().map(|(n, _)| n.clone()).collect()
    }

    fn add(&mut self, entry: &str) {
        let nick = entry.trim_start_matches(|c| PREFIXES.contains(c));
        // userhost-in-names: `nick!user@host`.
        let nick = nick.split('!').next().unwrap_or(nick);
        let prefixes = entry
            [..entry.len() - entry.trim_start_matches(|c| PREFIXES.contains(c)).len()]
            .to_string();
        if !nick.is_empty() {
            self.members
                .insert(casefold(nick), (nick.to_string(), prefixes));
        }
    }
}

/// Rooms and modes, from the server's lines.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    rooms: BTreeMap<String, RoomState>,
    /// This user's modes, e.g. `+i`.
    pub user_modes: String,
}

impl Roster {
    /// The room, if this user is in it.
    pub fn room(&self, name: &str) -> Option<&RoomState> {
        self.rooms.get(&casefold(name))
    }

    /// The rooms `nick` is in, as this user knows.
    pub fn rooms_of(&self, nick: &str) -> Vec<String> {
        let folded = casefold(nick);
        self.rooms
            .iter()
            .filter(|(_, r)| r.members.contains_key(&folded))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Takes note of one server line; `me` is this user's nick.
    pub fn handle(&mut self, msg: &Message, me: &str) {
        let from = msg
            .source
            .as_deref()
            .map(|s| s.split('!').next().unwrap_or(s))
            .unwrap_or("");
        let is_me = |n: &str| casefold(n) == casefold(me);
        let room = casefold(msg.param(0));
        match msg.command.to_ascii_uppercase().as_str() {
            "JOIN" => {
                let state = self.rooms.entry(room).or_default();
                if is_me(from) {
                    state.members.clear();
                }
                state.add(from);
            }
            "PART" if is_me(from) => {
                self.rooms.remove(&room);
            }
            "PART" => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.members.remove(&casefold(from));
                }
            }
            "KICK" if is_me(msg.param(1)) => {
                self.rooms.remove(&room);
            }
            "KICK" => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.members.remove(&casefold(msg.param(1)));
                }
            }
            "QUIT" => {
                for r in self.rooms.values_mut() {
                    r.members.remove(&casefold(from));
                }
            }
            "NICK" => {
                let new = msg.param(0);
                for r in self.rooms.values_mut() {
                    if let Some((_, prefixes)) = r.members.remove(&casefold(from)) {
                        r.members.insert(casefold(new), (new.to_string(), prefixes));
                    }
                }
            }
            "TOPIC" => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.topic = msg.param(1).to_string();
                }
            }
            "MODE" if is_me(msg.param(0)) => {
                self.user_modes = apply_flags(&self.user_modes, msg.param(1));
            }
            "MODE" => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    apply_room_modes(r, &msg.params[1.min(msg.params.len())..]);
                }
            }
            // `+` alone (no modes) shows as nothing.
            "221" => self.user_modes = apply_flags("", msg.param(1)),
            "324" => {
                if let Some(r) = self.rooms.get_mut(&casefold(msg.param(1))) {
                    r.modes = String::new();
                    apply_room_modes(r, &msg.params[2.min(msg.params.len())..]);
                }
            }
            "332" => {
                if let Some(r) = self.rooms.get_mut(&casefold(msg.param(1))) {
                    r.topic = msg.params.last().cloned().unwrap_or_default();
                }
            }
            "353" => {
                if let Some(r) = self.rooms.get_mut(&casefold(msg.param(2))) {
                    let names = msg.params.last().map(String::as_str).unwrap_or("");
                    r.incoming
                        .extend(names.split(' ').filter(|n| !n.is_empty()).map(String::from));
                }
            }
            "366" => {
                if let Some(r) = self.rooms.get_mut(&casefold(msg.param(1))) {
                    r.members.clear();
                    for entry in std::mem::take(&mut r.incoming) {
                        r.add(&entry);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `+i` with `-i+w` applied: `+w`. Letters only (no arguments).
fn apply_flags(current: &str, change: &str) -> String {
    let mut letters: Vec<char> = current
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    let mut adding = true;
    for c in change.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            c if adding && !letters.contains(&c) => letters.push(c),
            c if !adding => letters.retain(|l| *l != c),
            _ => {}
        }
    }
    letters.sort_unstable();
    if letters.is_empty() {
        String::new()
    } else {
        format!("+{}", letters.iter().collect::<String>())
    }
}

/// Applies `+ov-k alice bob key` to a room: privileges change members'
/// prefixes; modes with arguments (k, l, b, e, I) take theirs; the rest are
/// flags shown in the status line.
fn apply_room_modes(room: &mut RoomState, params: &[String]) {
    let Some((change, args)) = params.split_first() else {
        return;
    };
    let mut args = args.iter();
    let mut adding = true;
    let mut flags = String::new();
    for c in change.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            c if PREFIX_MODES.contains(c) => {
                let Some(nick) = args.next() else { continue };
                let prefix = PREFIX_MODES
                    .find(c)
                    .and_then(|i| PREFIXES.chars().nth(i))
                    .unwrap_or('+');
                if let Some((_, prefixes)) = room.members.get_mut(&casefold(nick)) {
                    prefixes.retain(|p| p != prefix);
                    if adding {
                        prefixes.push(prefix);
                        let mut sorted: Vec<char> = prefixes.chars().collect();
                        sorted.sort_by_key(|p| PREFIXES.find(*p));
                        *prefixes = sorted.into_iter().collect();
                    }
                }
            }
            'b' | 'e' | 'I' => {
                args.next();
            }
            'k' => {
                args.next();
                flags.push_str(if adding { "+k" } else { "-k" });
            }
            'l' => {
                if adding {
                    args.next();
                }
                flags.push_str(if adding { "+l" } else { "-l" });
            }
            c => {
                flags.push(if adding { '+' } else { '-' });
                flags.push(c);
            }
        }
    }
    room.modes = apply_flags(&room.modes, &flags);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Roster, line: &str) {
        if let Ok(msg) = Message::parse(line) {
            r.handle(&msg, "me");
        }
    }

    #[test]
    fn names_joins_parts_quits_and_nick_changes_keep_the_member_list() {
        let mut r = Roster::default();
        feed(&mut r, ":me!u@h JOIN #lobby");
        feed(&mut r, ":srv 353 me = #lobby :me @alice +bob");
        feed(&mut r, ":srv 366 me #lobby :End of /NAMES list");
        assert_eq!(
            r.room("#lobby").map(RoomState::members).unwrap_or_default(),
            ["@alice", "+bob", "me"]
        );
        feed(&mut r, ":carol!u@h JOIN #lobby");
        feed(&mut r, ":bob!u@h NICK robert");
        feed(&mut r, ":alice!u@h QUIT :bye");
        assert_eq!(
            r.room("#lobby").map(RoomState::members).unwrap_or_default(),
            ["+robert", "carol", "me"]
        );
        assert_eq!(r.rooms_of("carol"), ["#lobby"]);
        feed(&mut r, ":me!u@h PART #lobby");
        assert!(r.room("#lobby").is_none());
    }

    #[test]
    fn mode_changes_move_prefixes_and_flags_and_skip_arguments() {
        let mut r = Roster::default();
        feed(&mut r, ":me!u@h JOIN #r");
        feed(&mut r, ":srv 353 me = #r :@me alice");
        feed(&mut r, ":srv 366 me #r :End");
        feed(&mut r, ":srv 324 me #r +nt");
        feed(&mut r, ":me!u@h MODE #r +mob-t alice x!*@*");
        let room = r.room("#r").cloned().unwrap_or_default();
        assert_eq!(room.members(), ["@alice", "@me"]);
        assert_eq!(room.modes, "+mn");
        feed(&mut r, ":me!u@h MODE me +i");
        assert_eq!(r.user_modes, "+i");
        feed(&mut r, ":srv 221 me +");
        assert_eq!(r.user_modes, "");
    }
}
