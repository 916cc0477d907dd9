//! Read markers (IRCv3 `draft/read-marker`): how far each user has read in
//! each room or private conversation.
//!
//! Owns the bounded, in-memory set of every user's markers and the rules
//! for changing one: a marker only ever moves forward, and the bounds
//! ([`MAX_PER_OWNER`] targets per user, [`MAX_TOTAL`] markers in all) are
//! kept by forgetting the least recently set ones. Every change it makes is
//! returned as [`MarkerChange`]s for the durable store, which feeds the
//! markers back at startup ([`crate::core::Event::ReadMarkersRestored`]).
//!
//! Who owns a marker: a logged-in user's account (`account:alice`: every
//! session of the account shares them); otherwise the `nick!user@host`
//! that set it (nick case-folded), see [`owner_key`]. The same person
//! coming back from the same place with the same nick and username gets
//! their markers back, across reconnects and restarts; someone else who
//! takes the nick from elsewhere does not see them (the spec forbids
//! showing one user's markers to another).
//!
//! Must never read a clock or do I/O: times come from the caller.

use super::event::Timestamp;
use crate::proto::casefold;
use std::collections::{BTreeMap, BTreeSet};

/// Most targets one owner keeps a marker for: beyond it, the one set
/// longest ago is forgotten. (A client is in at most
/// `max_rooms_per_client` rooms, 50 by default, plus its conversations.)
pub const MAX_PER_OWNER: usize = 128;
/// Most markers kept in all: beyond it, the owner who set one longest ago
/// loses all of theirs. About 100 bytes each, so ~10 MB at most.
pub const MAX_TOTAL: usize = 100_000;

/// One owner's marker for one target, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMarker {
    /// Whose marker ([`owner_key`]).
    pub owner: String,
    /// The case-folded room or nick it is about.
    pub target: String,
    /// The server time of the last message the owner read.
    pub at: Timestamp,
    /// When the marker was last moved (server time): after a restart the
    /// markers are ranked by it, to forget the least recently set first.
    pub set_at: Timestamp,
}

/// A change for the durable store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerChange {
    /// Store this marker, replacing the owner's marker for its target.
    Set(ReadMarker),
    /// Forget the owner's marker for the (case-folded) target.
    Forget { owner: String, target: String },
}

/// The owner of the markers set by `nick!user@host` (see the module docs).
///
/// ```
/// assert_eq!(natter::core::owner_key("Alice", "alice", "10.0.0.1"), "alice!alice@10.0.0.1");
/// ```
pub fn owner_key(nick: &str, user: &str, host: &str) -> String {
    format!("{}!{user}@{host}", casefold(nick))
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Owner {
    /// Recency of this owner's latest change (a key of `ReadMarkers::recency`).
    seq: u64,
    /// Case-folded target → its marker.
    targets: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Entry {
    /// Read up to.
    at: Timestamp,
    /// Recency of its last change.
    seq: u64,
}

/// Every owner's markers, bounded (see the module docs).
///
/// ```
/// use natter::core::{ReadMarkers, Timestamp};
/// let mut markers = ReadMarkers::default();
/// let (stored, _) = markers.advance("alice!a@h", "#lobby", Timestamp(2_000), Timestamp(9_000));
/// assert_eq!(stored, Timestamp(2_000));
/// // An older time never moves a marker back.
/// let (stored, changes) = markers.advance("alice!a@h", "#lobby", Timestamp(1_000), Timestamp(9_000));
/// assert_eq!(stored, Timestamp(2_000));
/// assert!(changes.is_empty());
/// assert_eq!(markers.get("alice!a@h", "#lobby"), Some(Timestamp(2_000)));
/// assert_eq!(markers.get("mallory!m@elsewhere", "#lobby"), None);
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ReadMarkers {
    owners: BTreeMap<String, Owner>,
    /// (recency, owner) for every owner: the first is the least recent.
    recency: BTreeSet<(u64, String)>,
    total: usize,
    next_seq: u64,
}

impl ReadMarkers {
    /// The owner's marker for the case-folded `target`, if any.
    pub fn get(&self, owner: &str, target: &str) -> Option<Timestamp> {
        Some(self.owners.get(owner)?.targets.get(target)?.at)
    }

    /// How many markers are kept in all.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when no marker is kept.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Moves the owner's marker for `target` forward to `at` (never back).
    /// Returns the marker as it now stands and the changes to store: none
    /// when `at` is not newer than the stored marker; else the new marker,
    /// and whatever the bounds made it forget.
    pub fn advance(
        &mut self,
        owner: &str,
        target: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> (Timestamp, Vec<MarkerChange>) {
        if let Some(stored) = self.get(owner, target).filter(|&stored| stored >= at) {
            return (stored, Vec::new());
        }
        let seq = self.bump();
        self.insert(owner, target, Entry { at, seq });
        let mut changes = vec![MarkerChange::Set(ReadMarker {
            owner: owner.to_string(),
            target: target.to_string(),
            at,
            set_at: now,
        })];
        self.enforce_bounds(owner, &mut changes);
        (at, changes)
    }

    /// Takes the markers the store kept, least recently set first (as the
    /// store returns them), keeping the bounds. Returns what to forget in
    /// the store: nothing, unless the bounds were lowered since.
    pub fn restore(&mut self, markers: Vec<ReadMarker>) -> Vec<MarkerChange> {
        let mut changes = Vec::new();
        for m in markers {
            let seq = self.bump();
            self.insert(&m.owner, &m.target, Entry { at: m.at, seq });
            self.enforce_bounds(&m.owner, &mut changes);
        }
        changes
    }

    /// Every owner's marker for the case-folded `old` room now belongs to
    /// `new` (a renamed room). Where an owner had both, the later one stays.
    /// Returns nothing to store: the store moves them itself with the
    /// room's history.
    pub fn rename_target(&mut self, old: &str, new: &str) {
        if old == new {
            return;
        }
        let mut merged = 0;
        for owner in self.owners.values_mut() {
            let Some(moved) = owner.targets.remove(old) else {
                continue;
            };
            match owner.targets.get_mut(new) {
                Some(kept) => {
                    merged += 1;
                    if moved.at > kept.at {
                        *kept = moved;
                    }
                }
                None => {
                    owner.targets.insert(new.to_string(), moved);
                }
            }
        }
        self.total -= merged;
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn insert(&mut self, owner: &str, target: &str, entry: Entry) {
        if !self.owners.contains_key(owner) {
            self.owners.insert(owner.to_string(), Owner::default());
        }
        let Some(o) = self.owners.get_mut(owner) else {
            return;
        };
        self.recency.remove(&(o.seq, owner.to_string()));
        o.seq = entry.seq;
        self.recency.insert((o.seq, owner.to_string()));
        if o.targets.insert(target.to_string(), entry).is_none() {
            self.total += 1;
        }
    }

    /// Forgets the owner's least recently set target past
    /// [`MAX_PER_OWNER`], then other owners, least recently active first,
    /// past [`MAX_TOTAL`]; each forgotten marker goes into `changes`.
    fn enforce_bounds(&mut self, owner: &str, changes: &mut Vec<MarkerChange>) {
        if let Some(o) = self.owners.get_mut(owner) {
            while o.targets.len() > MAX_PER_OWNER {
                let oldest = o
                    .targets
                    .iter()
                    .min_by_key(|(_, e)| e.seq)
                    .map(|(t, _)| t.clone());
                let Some(target) = oldest else { break };
                o.targets.remove(&target);
                self.total -= 1;
                changes.push(MarkerChange::Forget {
                    owner: owner.to_string(),
                    target,
                });
            }
        }
        while self.total > MAX_TOTAL {
            let Some((seq, victim)) = self.recency.iter().find(|(_, o)| o != owner).cloned() else {
                break;
            };
            self.recency.remove(&(seq, victim.clone()));
            let Some(gone) = self.owners.remove(&victim) else {
                continue;
            };
            self.total -= gone.targets.len();
            for target in gone.targets.into_keys() {
                changes.push(MarkerChange::Forget {
                    owner: victim.clone(),
                    target,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_past_its_bound_forgets_the_target_it_set_longest_ago() {
        let mut m = ReadMarkers::default();
        for i in 0..MAX_PER_OWNER {
            let (_, changes) = m.advance("a", &format!("#r{i}"), Timestamp(1), Timestamp(1));
            assert_eq!(changes.len(), 1);
        }
        // #r0 is refreshed, so #r1 is now the one set longest ago.
        let _ = m.advance("a", "#r0", Timestamp(2), Timestamp(2));
        let (_, changes) = m.advance("a", "#new", Timestamp(3), Timestamp(3));
        assert_eq!(
            changes[1],
            MarkerChange::Forget {
                owner: "a".into(),
                target: "#r1".into()
            }
        );
        assert_eq!(m.len(), MAX_PER_OWNER);
        assert_eq!(m.get("a", "#r0"), Some(Timestamp(2)));
        assert_eq!(m.get("a", "#r1"), None);
    }

    #[test]
    fn past_the_total_bound_the_least_recently_active_owner_is_forgotten() {
        let mut m = ReadMarkers::default();
        let owners = MAX_TOTAL / MAX_PER_OWNER + 1;
        for o in 0..owners {
            for t in 0..MAX_PER_OWNER {
                let _ = m.advance(
                    &format!("o{o}"),
                    &format!("#{t}"),
                    Timestamp(1),
                    Timestamp(1),
                );
            }
        }
        assert!(m.len() <= MAX_TOTAL);
        assert_eq!(m.get("o0", "#0"), None, "the first owner went first");
        assert!(m.get(&format!("o{}", owners - 1), "#0").is_some());
    }

    #[test]
    fn a_renamed_room_keeps_everyones_markers_and_the_later_of_two_wins() {
        let mut m = ReadMarkers::default();
        let _ = m.advance("a", "#old", Timestamp(5), Timestamp(5));
        let _ = m.advance("b", "#old", Timestamp(5), Timestamp(5));
        let _ = m.advance("b", "#new", Timestamp(9), Timestamp(9));
        m.rename_target("#old", "#new");
        assert_eq!(m.get("a", "#new"), Some(Timestamp(5)));
        assert_eq!(m.get("b", "#new"), Some(Timestamp(9)));
        assert_eq!(m.get("a", "#old"), None);
        assert_eq!(m.len(), 2);
    }
}
