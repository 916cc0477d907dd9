//! [`Leases`]: which nodes have stopped sending heartbeats.
//!
//! Owns, for each live node tag, when this node last heard its heartbeat.
//! Must never decide alone that a node is down: it only names the overdue
//! tags; the node appends a `NodeDown` for them, and the log decides.

use std::collections::BTreeMap;

/// Heartbeat bookkeeping, on the node's own monotonic clock (milliseconds).
#[derive(Debug, Clone)]
pub struct Leases {
    lease_ms: u64,
    last_heard: BTreeMap<u64, u64>,
}

impl Leases {
    /// A node is overdue after `lease_ms` without a heartbeat.
    pub fn new(lease_ms: u64) -> Leases {
        Leases {
            lease_ms,
            last_heard: BTreeMap::new(),
        }
    }

    /// A heartbeat from `tag` was heard at `at_ms`.
    pub fn heard(&mut self, tag: u64, at_ms: u64) {
        let last = self.last_heard.entry(tag).or_insert(at_ms);
        *last = (*last).max(at_ms);
    }

    /// Every node is given a whole lease from `at_ms`: after this node was
    /// cut off from NATS itself, silence meant nothing about the others.
    pub fn renew_all(&mut self, at_ms: u64) {
        for last in self.last_heard.values_mut() {
            *last = (*last).max(at_ms);
        }
    }

    /// The tags among `live` (other than `mine`) not heard from for a whole
    /// lease at `at_ms`. A tag first asked about gets a whole lease from
    /// then: a node that just started has heard nobody yet.
    pub fn overdue(
        &mut self,
        live: impl Iterator<Item = u64>,
        mine: Option<u64>,
        at_ms: u64,
    ) -> Vec<u64> {
        let live: Vec<u64> = live.filter(|t| Some(*t) != mine).collect();
        self.last_heard.retain(|t, _| live.contains(t));
        live.into_iter()
            .filter(|t| {
                let last = *self.last_heard.entry(*t).or_insert(at_ms);
                at_ms.saturating_sub(last) >= self.lease_ms
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_node_is_overdue_after_a_whole_lease_and_not_before() {
        let mut leases = Leases::new(10_000);
        leases.heard(1, 0);
        leases.heard(2, 0);
        leases.heard(2, 9_000);
        assert!(leases.overdue([1, 2].into_iter(), None, 9_999).is_empty());
        assert_eq!(leases.overdue([1, 2].into_iter(), None, 10_000), vec![1]);
    }

    #[test]
    fn a_node_never_heard_gets_a_lease_from_when_it_is_first_seen_live() {
        let mut leases = Leases::new(10_000);
        assert!(leases.overdue([5].into_iter(), None, 50_000).is_empty());
        assert_eq!(leases.overdue([5].into_iter(), None, 60_000), vec![5]);
    }

    #[test]
    fn after_this_node_was_cut_off_everyone_gets_a_fresh_lease() {
        let mut leases = Leases::new(10_000);
        leases.heard(1, 0);
        leases.renew_all(30_000);
        assert!(leases.overdue([1].into_iter(), None, 39_999).is_empty());
        assert_eq!(leases.overdue([1].into_iter(), None, 40_000), vec![1]);
    }

    #[test]
    fn this_node_is_never_overdue_to_itself() {
        let mut leases = Leases::new(10);
        assert!(leases.overdue([1].into_iter(), Some(1), 0).is_empty());
        assert!(leases.overdue([1].into_iter(), Some(1), 1_000).is_empty());
    }
}
