//! [`Room`]: one channel's members and topic.
//!
//! Owns who is in a room and what its topic is. Must never decide who may
//! do what (that is [`crate::core::Server`]'s job) and never do I/O.

use super::event::{ConnId, Timestamp};
use std::collections::BTreeSet;

/// A topic and who set it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The topic text.
    pub text: String,
    /// The `nick` (or `nick!user@host`) of whoever set it.
    pub set_by: String,
    /// When it was set.
    pub set_at: Timestamp,
}

/// One channel. Members iterate in a fixed order (by connection id), so the
/// same events always produce the same actions.
///
/// ```
/// use natter::core::{ConnId, Room, Timestamp};
/// let mut room = Room::new("#lobby", Timestamp(0));
/// assert!(room.join(ConnId(1)));
/// assert!(!room.join(ConnId(1)));
/// assert_eq!(room.members().collect::<Vec<_>>(), vec![ConnId(1)]);
/// ```
#[derive(Debug, Clone)]
pub struct Room {
    name: String,
    members: BTreeSet<ConnId>,
    topic: Option<Topic>,
    created: Timestamp,
}

impl Room {
    /// An empty room named `name`, created at `now`.
    pub fn new(name: &str, now: Timestamp) -> Room {
        Room {
            name: name.to_string(),
            members: BTreeSet::new(),
            topic: None,
            created: now,
        }
    }

    /// The name as first spelled by whoever created the room.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the room was created.
    pub fn created(&self) -> Timestamp {
        self.created
    }

    /// Adds `conn`; false if it was already a member.
    pub fn join(&mut self, conn: ConnId) -> bool {
        self.members.insert(conn)
    }

    /// Removes `conn`; false if it was not a member.
    pub fn part(&mut self, conn: ConnId) -> bool {
        self.members.remove(&conn)
    }

    /// Whether `conn` is a member.
    pub fn contains(&self, conn: ConnId) -> bool {
        self.members.contains(&conn)
    }

    /// The members, in connection-id order.
    pub fn members(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.members.iter().copied()
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
}
