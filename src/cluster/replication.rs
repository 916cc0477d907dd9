//! [`Replication`]: how one node turns the cluster log into its core's
//! events.
//!
//! Owns the node table (tags, which are live, each one's connections and
//! last batch), the cluster clock, and this node's own tag. Every node runs
//! these rules over the same log, so every node feeds its core the same
//! events. Must never depend on anything but the entries and their order.

use super::entry::{Entry, Input};
use super::tag_of;
use crate::core::{ConnId, Event, Now};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What applying one entry means for the node's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied; nothing for the shell to do.
    Applied,
    /// Not applied: already applied, a retried batch, or from a node that
    /// is down.
    Skipped,
    /// This node's own `NodeUp` came back: everything before it is applied
    /// (the node has caught up), and its connections are numbered from
    /// [`super::first_conn_id`]`(tag)` from now on.
    Joined { tag: u64 },
    /// This node's own `NodeUp` came back, but the live node `other` runs
    /// the chat rules with different settings: this node must stop.
    ConfigMismatch { other: String },
    /// The node with `tag` went down and its connections left; `mine` when
    /// it was this node (cut off from the cluster past its lease, or
    /// replaced by a newer start of the same name): its connections must be
    /// closed and it must start again with a new `NodeUp`.
    NodeDown { tag: u64, mine: bool },
}

/// One node as the log tells of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Node {
    name: String,
    config: u64,
    live: bool,
    last_batch: u64,
    conns: BTreeSet<ConnId>,
}

/// The replication rules for one node (see the module doc).
///
/// Its serde form (in a [`super::Snapshot`]) is what every node shares:
/// the node table, the clock and how far the log was applied; the node's
/// own name, start and tag are left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replication {
    #[serde(skip)]
    name: String,
    #[serde(skip)]
    boot: u64,
    #[serde(skip)]
    config: u64,
    #[serde(skip)]
    my_tag: Option<u64>,
    nodes: BTreeMap<u64, Node>,
    tags_issued: u64,
    seeded: bool,
    clock: Now,
    applied_seq: u64,
}

impl Replication {
    /// The rules for the node `name`, started with the random `boot`, whose
    /// settings have the fingerprint `config`.
    pub fn new(name: &str, boot: u64, config: u64) -> Replication {
        Replication {
            name: name.to_string(),
            boot,
            config,
            my_tag: None,
            nodes: BTreeMap::new(),
            tags_issued: 0,
            seeded: false,
            clock: Now::default(),
            applied_seq: 0,
        }
    }

    /// The `NodeUp` this node appends to join (again, after a `NodeDown`
    /// of its own, with a new `boot`).
    pub fn node_up(&mut self, boot: u64) -> Entry {
        self.boot = boot;
        Entry::NodeUp {
            node: self.name.clone(),
            boot,
            config: self.config,
        }
    }

    /// Continues from `shared`, the state another node's rules had at a
    /// point of the log (read from a snapshot): this node has not joined
    /// yet, and applies the log from the entry after that point.
    pub fn resume(&mut self, shared: Replication) {
        *self = Replication {
            name: std::mem::take(&mut self.name),
            boot: self.boot,
            config: self.config,
            my_tag: None,
            ..shared
        };
    }

    /// Whether this node writes a snapshot now, having applied the log up
    /// to [`Replication::applied_seq`]: once every `every` entries (never
    /// when `every` is 0), by the live node with the lowest tag.
    pub fn snapshot_due(&self, every: u64) -> bool {
        every > 0
            && self.applied_seq.is_multiple_of(every)
            && self.my_tag.is_some()
            && self.live_tags().next() == self.my_tag
    }

    /// This node's tag, once its `NodeUp` was applied (and until its `NodeDown`).
    pub fn my_tag(&self) -> Option<u64> {
        self.my_tag
    }

    /// The sequence of the last entry applied.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    /// The tags of the nodes that are up, lowest first.
    pub fn live_tags(&self) -> impl Iterator<Item = u64> + '_ {
        self.nodes.iter().filter(|(_, n)| n.live).map(|(t, _)| *t)
    }

    /// The name of the node with `tag`.
    pub fn node_name(&self, tag: u64) -> Option<&str> {
        self.nodes.get(&tag).map(|n| n.name.as_str())
    }

    /// How many connections the node with `tag` holds, as the log tells.
    pub fn connections_of(&self, tag: u64) -> usize {
        self.nodes.get(&tag).map_or(0, |n| n.conns.len())
    }

    /// The latest time applied: the cluster clock.
    pub fn clock(&self) -> Now {
        self.clock
    }

    /// Applies the entry with sequence `seq`, handing the events it makes
    /// to `feed` (which feeds the core), in order.
    pub fn apply(&mut self, seq: u64, entry: Entry, feed: &mut impl FnMut(Event)) -> Applied {
        if seq <= self.applied_seq {
            return Applied::Skipped;
        }
        self.applied_seq = seq;
        match entry {
            Entry::Seeded { secret } => {
                if self.seeded {
                    return Applied::Skipped;
                }
                self.seeded = true;
                feed(Event::Seeded { secret });
                Applied::Applied
            }
            Entry::NodeUp { node, boot, config } => self.node_up_applied(node, boot, config, feed),
            Entry::NodeDown { tag, reason, now } => self.node_down(tag, &reason, now, feed),
            Entry::Inputs { tag, batch, inputs } => {
                let Some(node) = self.nodes.get_mut(&tag).filter(|n| n.live) else {
                    return Applied::Skipped;
                };
                if batch <= node.last_batch {
                    return Applied::Skipped;
                }
                node.last_batch = batch;
                for mut input in inputs {
                    // A node speaks only for its own connections.
                    if input.conn().is_some_and(|c| tag_of(c) != tag) {
                        continue;
                    }
                    match &input {
                        Input::Connected { conn, .. } => {
                            node.conns.insert(*conn);
                        }
                        Input::Disconnected { conn, .. } => {
                            node.conns.remove(conn);
                        }
                        _ => {}
                    }
                    if let Some(now) = input.now_mut() {
                        stamp(&mut self.clock, now);
                    }
                    let served = match &input {
                        Input::Connected { conn, .. } => Some(*conn),
                        _ => None,
                    };
                    feed(input.into_event());
                    if let Some(conn) = served {
                        let node = node.name.clone();
                        feed(Event::ServedBy { conn, node });
                    }
                }
                Applied::Applied
            }
        }
    }

    fn node_up_applied(
        &mut self,
        name: String,
        boot: u64,
        config: u64,
        feed: &mut impl FnMut(Event),
    ) -> Applied {
        self.tags_issued += 1;
        let tag = self.tags_issued;
        // An earlier start of the same node is over: its people are gone.
        let replaced: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.live && n.name == name)
            .map(|(t, _)| *t)
            .collect();
        let mut mine_replaced = false;
        for old in replaced {
            let reason = format!("Node {name} restarted");
            let now = self.clock;
            if let Applied::NodeDown { mine: true, .. } = self.node_down(old, &reason, now, feed) {
                mine_replaced = true;
            }
        }
        let mismatch = self
            .nodes
            .values()
            .find(|n| n.live && n.config != config)
            .map(|n| n.name.clone());
        self.nodes.insert(
            tag,
            Node {
                name: name.clone(),
                config,
                live: true,
                last_batch: 0,
                conns: BTreeSet::new(),
            },
        );
        self.tell_nodes(feed);
        if name != self.name {
            return Applied::Applied;
        }
        if boot != self.boot {
            // Another process under this node's name took over.
            if mine_replaced {
                return Applied::NodeDown {
                    tag: self.my_tag.take().unwrap_or(tag),
                    mine: true,
                };
            }
            return Applied::Applied;
        }
        self.my_tag = Some(tag);
        match mismatch {
            Some(other) => Applied::ConfigMismatch { other },
            None => Applied::Joined { tag },
        }
    }

    fn node_down(
        &mut self,
        tag: u64,
        reason: &str,
        mut now: Now,
        feed: &mut impl FnMut(Event),
    ) -> Applied {
        let Some(node) = self.nodes.get_mut(&tag).filter(|n| n.live) else {
            return Applied::Skipped;
        };
        node.live = false;
        stamp(&mut self.clock, &mut now);
        for conn in std::mem::take(&mut node.conns) {
            let reason = reason.to_string();
            feed(Event::Disconnected { conn, reason, now });
        }
        let mine = self.my_tag == Some(tag);
        if mine {
            self.my_tag = None;
        }
        self.tell_nodes(feed);
        Applied::NodeDown { tag, mine }
    }

    /// Tells the core which nodes are up (LUSERS counts them).
    fn tell_nodes(&self, feed: &mut impl FnMut(Event)) {
        let names = self
            .nodes
            .values()
            .filter(|n| n.live)
            .map(|n| n.name.clone())
            .collect();
        feed(Event::ClusterNodes { names });
    }
}

/// Keeps the cluster clock monotonic in log order: `now` becomes at least
/// the latest time applied, and the clock moves to it.
fn stamp(clock: &mut Now, now: &mut Now) {
    now.mono = now.mono.max(clock.mono);
    now.wall = now.wall.max(clock.wall);
    *clock = *now;
}

#[cfg(test)]
mod tests {
    use super::super::first_conn_id;
    use super::*;
    use crate::core::{Instant, Timestamp};

    fn at(ms: u64) -> Now {
        Now {
            mono: Instant(ms),
            wall: Timestamp(ms),
        }
    }

    fn apply_all(r: &mut Replication, entries: Vec<Entry>) -> (Vec<Applied>, Vec<Event>) {
        let mut events = Vec::new();
        let applied = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| r.apply(i as u64 + 1, e, &mut |ev| events.push(ev)))
            .collect();
        // Which node serves whom and which are up: a test of its own.
        events.retain(|ev| !matches!(ev, Event::ServedBy { .. } | Event::ClusterNodes { .. }));
        (applied, events)
    }

    #[test]
    fn the_core_learns_which_node_serves_each_connection_and_which_nodes_are_up() {
        let mut r = Replication::new("a", 1, 1);
        let conn = ConnId(first_conn_id(2));
        let connected = Entry::Inputs {
            tag: 2,
            batch: 1,
            inputs: vec![Input::Connected {
                conn,
                peer: "127.0.0.1:1".into(),
                now: at(1),
            }],
        };
        let down = Entry::NodeDown {
            tag: 1,
            reason: "gone".into(),
            now: at(2),
        };
        let entries = vec![up("a", 1), up("b", 2), connected, down];
        let mut events = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let _ = r.apply(i as u64 + 1, e, &mut |ev| events.push(ev));
        }
        let nodes = |names: &[&str]| Event::ClusterNodes {
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        let told: Vec<&Event> = events
            .iter()
            .filter(|ev| matches!(ev, Event::ServedBy { .. } | Event::ClusterNodes { .. }))
            .collect();
        let served = Event::ServedBy {
            conn,
            node: "b".into(),
        };
        assert_eq!(
            told,
            vec![&nodes(&["a"]), &nodes(&["a", "b"]), &served, &nodes(&["b"])]
        );
    }

    fn up(node: &str, boot: u64) -> Entry {
        Entry::NodeUp {
            node: node.into(),
            boot,
            config: 1,
        }
    }

    #[test]
    fn tags_follow_the_order_of_node_ups_and_a_node_knows_its_own() {
        let mut r = Replication::new("b", 22, 1);
        let (applied, _) = apply_all(&mut r, vec![up("a", 11), up("b", 22)]);
        assert_eq!(applied, vec![Applied::Applied, Applied::Joined { tag: 2 }]);
        assert_eq!(r.my_tag(), Some(2));
        assert_eq!(r.live_tags().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn a_node_down_makes_each_of_its_connections_leave_once() {
        let mut r = Replication::new("b", 22, 1);
        let conn = ConnId(first_conn_id(1));
        let connected = Entry::Inputs {
            tag: 1,
            batch: 1,
            inputs: vec![Input::Connected {
                conn,
                peer: "p".into(),
                now: at(10),
            }],
        };
        let down = Entry::NodeDown {
            tag: 1,
            reason: "Node a lost".into(),
            now: at(5),
        };
        let (applied, events) = apply_all(&mut r, vec![up("a", 11), connected, down.clone(), down]);
        assert_eq!(
            applied[2],
            Applied::NodeDown {
                tag: 1,
                mine: false
            }
        );
        assert_eq!(applied[3], Applied::Skipped);
        let quits: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e, Event::Disconnected { .. }))
            .collect();
        // Once, and never earlier than what was applied before it.
        assert_eq!(
            quits,
            vec![&Event::Disconnected {
                conn,
                reason: "Node a lost".into(),
                now: at(10)
            }]
        );
    }

    #[test]
    fn a_retried_batch_and_a_dead_nodes_late_batch_are_skipped() {
        let mut r = Replication::new("b", 22, 1);
        let conn = ConnId(first_conn_id(1));
        let batch = |n| Entry::Inputs {
            tag: 1,
            batch: n,
            inputs: vec![Input::Line {
                conn,
                line: format!("PING {n}"),
                now: at(n),
            }],
        };
        let down = Entry::NodeDown {
            tag: 1,
            reason: "gone".into(),
            now: at(9),
        };
        let (applied, events) =
            apply_all(&mut r, vec![up("a", 1), batch(1), batch(1), down, batch(2)]);
        assert_eq!(
            applied,
            vec![
                Applied::Applied,
                Applied::Applied,
                Applied::Skipped,
                Applied::NodeDown {
                    tag: 1,
                    mine: false
                },
                Applied::Skipped
            ]
        );
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn a_node_cannot_speak_for_another_nodes_connection() {
        let mut r = Replication::new("c", 3, 1);
        let theirs = ConnId(first_conn_id(2));
        let forged = Entry::Inputs {
            tag: 1,
            batch: 1,
            inputs: vec![Input::Line {
                conn: theirs,
                line: "QUIT".into(),
                now: at(1),
            }],
        };
        let (_, events) = apply_all(&mut r, vec![up("a", 1), up("b", 2), forged]);
        assert!(events.is_empty());
    }

    #[test]
    fn the_clock_never_goes_back_in_log_order() {
        let mut r = Replication::new("b", 22, 1);
        let ticks = Entry::Inputs {
            tag: 1,
            batch: 1,
            inputs: vec![
                Input::Timeout { now: at(100) },
                Input::Timeout { now: at(40) },
            ],
        };
        let (_, events) = apply_all(&mut r, vec![up("a", 1), ticks]);
        assert_eq!(
            events,
            vec![
                Event::Timeout { now: at(100) },
                Event::Timeout { now: at(100) }
            ]
        );
    }

    #[test]
    fn a_restart_under_the_same_name_ends_the_old_start() {
        let mut r = Replication::new("b", 22, 1);
        let conn = ConnId(first_conn_id(1));
        let connected = Entry::Inputs {
            tag: 1,
            batch: 1,
            inputs: vec![Input::Connected {
                conn,
                peer: "p".into(),
                now: at(1),
            }],
        };
        let (applied, events) = apply_all(&mut r, vec![up("a", 1), connected, up("a", 2)]);
        assert_eq!(applied[2], Applied::Applied);
        assert!(matches!(events.last(), Some(Event::Disconnected { conn: c, .. }) if *c == conn));
        assert_eq!(r.live_tags().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn a_node_with_other_settings_is_told_to_stop() {
        let mut r = Replication::new("b", 22, 2);
        let mine = Entry::NodeUp {
            node: "b".into(),
            boot: 22,
            config: 2,
        };
        let (applied, _) = apply_all(&mut r, vec![up("a", 1), mine]);
        assert_eq!(applied[1], Applied::ConfigMismatch { other: "a".into() });
    }

    #[test]
    fn only_the_first_secret_counts() {
        let mut r = Replication::new("a", 1, 1);
        let (applied, events) = apply_all(
            &mut r,
            vec![
                Entry::Seeded { secret: [1; 32] },
                Entry::Seeded { secret: [2; 32] },
            ],
        );
        assert_eq!(applied, vec![Applied::Applied, Applied::Skipped]);
        assert_eq!(events, vec![Event::Seeded { secret: [1; 32] }]);
    }
}
