//! Private conversations kept for accounts: each account's messages with
//! each correspondent, replayable to that account and to nobody else.
//!
//! Owns which private message belongs to whom: a message is kept for the
//! sender's account and for the recipient's account (when they were logged
//! in), each under the other side's name: their account, or their nick if
//! they had none. Bounded: each conversation keeps its newest
//! `history_max_messages`, and at most [`MAX_CONVERSATIONS`] are kept in all
//! (the least recently active are forgotten first). Must never hand a
//! conversation to anyone but its owner: callers pass the owner's account
//! as the connection is logged in, never a name a client typed.

use super::event::Timestamp;
use super::history::{HistoryRecord, RoomHistory};
use crate::proto::casefold;
use std::collections::BTreeMap;

/// Most conversations kept in memory, all accounts together.
pub const MAX_CONVERSATIONS: usize = 100_000;

/// Every account's private conversations.
///
/// ```
/// use natter::core::{Conversations, HistoryKind, HistoryRecord, Timestamp};
/// let mut c = Conversations::default();
/// let r = HistoryRecord {
///     id: 1, at: Timestamp(5), kind: HistoryKind::Private,
///     target: "bob".into(), source: "alice!a@h".into(), text: "hi".into(),
///     from_account: Some("Alice".into()), to_account: None,
/// };
/// c.push(r, 100);
/// assert_eq!(c.get("alice", "BOB").map(|w| w.len()), Some(1));
/// assert!(c.get("bob", "alice").is_none(), "bob has no account: nothing is kept for him");
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Conversations {
    /// (owner account, correspondent), both case-folded → their messages.
    windows: BTreeMap<(String, String), RoomHistory>,
}

impl Conversations {
    /// Keeps `record` (a private message) for each of its accounts.
    pub fn push(&mut self, record: HistoryRecord, max: usize) {
        let sender_nick = record.source.split('!').next().unwrap_or_default();
        let recipient = record.to_account.as_deref().unwrap_or(&record.target);
        let sender = record.from_account.as_deref().unwrap_or(sender_nick);
        let mut owners = Vec::with_capacity(2);
        if let Some(from) = &record.from_account {
            owners.push((casefold(from), casefold(recipient)));
        }
        if let Some(to) = &record.to_account {
            owners.push((casefold(to), casefold(sender)));
        }
        owners.dedup();
        for key in owners {
            let window = self.windows.entry(key).or_default();
            if window.last().is_none_or(|last| last.id < record.id) {
                window.push(record.clone(), max);
            }
        }
        if self.windows.len() > MAX_CONVERSATIONS {
            self.forget_stalest();
        }
    }

    /// `owner`'s conversation with `correspondent` (account or nick).
    pub fn get(&self, owner: &str, correspondent: &str) -> Option<&RoomHistory> {
        self.windows
            .get(&(casefold(owner), casefold(correspondent)))
    }

    /// `owner`'s conversations whose latest message falls strictly between
    /// `from` and `to`: (that time, the correspondent as last shown).
    pub fn targets(&self, owner: &str, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, String)> {
        let owner = casefold(owner);
        self.windows
            .range((owner.clone(), String::new())..)
            .take_while(|((o, _), _)| *o == owner)
            .filter_map(|(_, window)| {
                let last = window.last()?;
                (last.at > from && last.at < to).then(|| (last.at, shown_name(last, &owner)))
            })
            .collect()
    }

    /// Forgets every conversation `owner` keeps (its account is dropped:
    /// whoever registers the name next must not read them). Its
    /// correspondents keep their own copies.
    pub fn forget_owner(&mut self, owner: &str) {
        let owner = casefold(owner);
        self.windows.retain(|(o, _), _| *o != owner);
    }

    /// Forgets the message `id` wherever it is kept (REDACT).
    pub fn remove(&mut self, id: u64) {
        for window in self.windows.values_mut() {
            window.remove(id);
        }
        self.windows.retain(|_, w| !w.is_empty());
    }

    /// Forgets messages older than `cutoff`.
    pub fn expire(&mut self, cutoff: Timestamp) {
        for window in self.windows.values_mut() {
            window.expire(cutoff);
        }
        self.windows.retain(|_, w| !w.is_empty());
    }

    /// The oldest message kept, if any.
    pub fn oldest(&self) -> Option<&HistoryRecord> {
        self.windows
            .values()
            .filter_map(|w| w.first())
            .min_by_key(|r| r.at)
    }

    fn forget_stalest(&mut self) {
        let excess = self.windows.len().saturating_sub(MAX_CONVERSATIONS);
        let mut by_age: Vec<(u64, (String, String))> = self
            .windows
            .iter()
            .map(|(k, w)| (w.last().map_or(0, |r| r.id), k.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age.into_iter().take(excess) {
            self.windows.remove(&key);
        }
    }
}

/// The correspondent's name as the conversation last showed it: the nick
/// at the end of `last` that is not `owner`'s. (Matching names instead
/// would take the owner's own nick when a nick without an account is
/// spelled like the owner's account.)
fn shown_name(last: &HistoryRecord, owner: &str) -> String {
    let sender = last.source.split('!').next().unwrap_or_default();
    let sent_by_owner = last
        .from_account
        .as_deref()
        .is_some_and(|a| casefold(a) == owner);
    if sent_by_owner {
        last.target.to_string()
    } else {
        sender.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::history::HistoryKind;

    fn message(id: u64, from: (&str, Option<&str>), to: (&str, Option<&str>)) -> HistoryRecord {
        HistoryRecord {
            id,
            at: Timestamp(id * 10),
            kind: HistoryKind::Private,
            target: to.0.into(),
            source: format!("{}!u@h", from.0).into(),
            text: format!("message {id}").into(),
            from_account: from.1.map(Into::into),
            to_account: to.1.map(Into::into),
        }
    }

    #[test]
    fn a_message_between_two_accounts_is_kept_once_for_each_under_the_other_account() {
        let mut c = Conversations::default();
        c.push(
            message(1, ("alice", Some("alice")), ("bobby", Some("bob"))),
            10,
        );
        c.push(
            message(2, ("bobby", Some("bob")), ("alice", Some("alice"))),
            10,
        );
        let alices: Vec<u64> = c
            .get("alice", "bob")
            .expect("kept")
            .latest(None, 10)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(alices, [1, 2]);
        assert_eq!(c.get("bob", "alice").map(|w| w.len()), Some(2));
        assert!(
            c.get("alice", "bobby").is_none(),
            "kept under the account, not the nick"
        );
        assert_eq!(
            c.targets("alice", Timestamp(0), Timestamp(100)),
            [(Timestamp(20), "bobby".to_string())]
        );
        c.remove(1);
        assert_eq!(c.get("bob", "alice").map(|w| w.len()), Some(1));
        c.forget_owner("ALICE");
        assert!(c.get("alice", "bob").is_none());
        assert_eq!(
            c.get("bob", "alice").map(|w| w.len()),
            Some(1),
            "bob's own copy"
        );
    }

    #[test]
    fn a_conversation_with_a_nick_spelled_like_the_owners_account_is_listed_under_that_nick() {
        // alice, logged in but using the nick carol, writes to whoever
        // holds the nick alice without an account.
        let mut c = Conversations::default();
        c.push(message(1, ("carol", Some("alice")), ("alice", None)), 10);
        assert_eq!(
            c.targets("alice", Timestamp(0), Timestamp(100)),
            [(Timestamp(10), "alice".to_string())],
            "the other end, not her own nick"
        );
        c.push(message(2, ("Alice", None), ("carol", Some("alice"))), 10);
        assert_eq!(
            c.targets("alice", Timestamp(0), Timestamp(100)),
            [(Timestamp(20), "Alice".to_string())]
        );
    }

    #[test]
    fn nothing_is_kept_for_a_side_without_an_account_and_each_window_is_bounded() {
        let mut c = Conversations::default();
        for id in 1..=5 {
            c.push(message(id, ("guest", None), ("alice", Some("alice"))), 3);
        }
        assert!(c.get("guest", "alice").is_none());
        let kept: Vec<u64> = c
            .get("alice", "guest")
            .expect("kept")
            .latest(None, 10)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(kept, [3, 4, 5]);
        c.expire(Timestamp(45));
        assert_eq!(c.get("alice", "guest").map(|w| w.len()), Some(1));
        c.push(message(9, ("x", None), ("y", None)), 3);
        assert!(c.targets("x", Timestamp(0), Timestamp(1000)).is_empty());
    }
}
