//! The cluster's replication rules: several nodes, one log, identical cores.
//!
//! natter nodes form a cluster by feeding every node's [`crate::core::Server`]
//! the same inputs in the same order: each node appends its local inputs to
//! one shared log (a JetStream stream, in `net::cluster`), and applies every
//! entry of the log, in its order, to its own core. `docs/cluster.md` has
//! the whole design.
//!
//! This module owns what the log holds ([`Entry`], [`Input`], their wire
//! form), node tags and the connection ids they number, the rules that turn
//! the log into the events a core is fed ([`Replication`]: which entries
//! count, the cluster clock, a dead node's users leaving once), node
//! leases ([`Leases`]) and snapshots of the whole state ([`Snapshot`]).
//!
//! Pure, like the core: must never touch sockets, NATS, clocks, threads or
//! randomness, and never panic on an entry read from the log (one that does
//! not decode is skipped by the caller, and counted).

mod entry;
mod leases;
mod replication;
mod snapshot;

pub use entry::{DecodeError, Entry, Input};
pub use leases::Leases;
pub use replication::{Applied, Replication};
pub use snapshot::Snapshot;

use crate::core::{ConnId, ServerConfig};

/// Bits of a connection id that number connections within one node tag;
/// the bits above them are the tag.
pub const CONN_BITS: u32 = 40;

/// The first connection id a node with `tag` hands out (ids count up from
/// it; `1 << 40` connections per tag is more than any node will see).
pub fn first_conn_id(tag: u64) -> u64 {
    (tag << CONN_BITS) | 1
}

/// The tag of the node that holds `conn`.
pub fn tag_of(conn: ConnId) -> u64 {
    conn.0 >> CONN_BITS
}

/// A fingerprint of the settings that decide the chat rules: every node of
/// a cluster must run its core with the same ones, or the cores drift
/// apart. The server's name and start time are per node and left out, and
/// so is the server password itself (only whether there is one counts):
/// the node holding a connection judges `PASS` and logs the verdict, and
/// the fingerprint is in the log, where no password goes.
pub fn config_fingerprint(config: &ServerConfig) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut shared = config.clone();
    shared.server_name.clear();
    shared.created.clear();
    if let Some(password) = &mut shared.password {
        password.clear();
    }
    let mut hasher = rustc_hash::FxHasher::default();
    format!("{shared:?}").hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_id_carries_its_node_tag() {
        let conn = ConnId(first_conn_id(7) + 41);
        assert_eq!(tag_of(conn), 7);
        assert_eq!(tag_of(ConnId(first_conn_id(1))), 1);
    }

    #[test]
    fn the_fingerprint_ignores_the_server_name_but_not_the_rules() {
        let a = ServerConfig::default();
        let mut b = a.clone();
        b.server_name = "b.natter".into();
        b.created = "another day".into();
        assert_eq!(config_fingerprint(&a), config_fingerprint(&b));
        b.max_rooms_per_client += 1;
        assert_ne!(config_fingerprint(&a), config_fingerprint(&b));
    }

    #[test]
    fn the_fingerprint_tells_whether_there_is_a_server_password_but_not_which() {
        let a = ServerConfig::default();
        let mut b = a.clone();
        b.password = Some("hunter2".into());
        let mut c = a.clone();
        c.password = Some("another".into());
        assert_ne!(config_fingerprint(&a), config_fingerprint(&b));
        assert_eq!(config_fingerprint(&b), config_fingerprint(&c));
    }
}
