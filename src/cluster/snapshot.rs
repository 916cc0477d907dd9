//! [`Snapshot`]: the whole replicated state at one point of the log, so a
//! node can start from it instead of from the log's first entry, and the
//! log can be trimmed behind it.
//!
//! Every node's core is fed the same events, so at a given sequence every
//! node holds the same state: any node may write it (the live node with the
//! lowest tag does, every so many entries: [`Replication::snapshot_due`]),
//! and a node that reads it and then applies the entries after it is in
//! the same state as one that applied the whole log. A snapshot holds the
//! core's state and the replication's shared part; never a node's own
//! settings (each node restores under its own) nor anything not yet
//! carried out (it is taken between entries, with no actions pending).
//! Pure: encoding and decoding only.

use super::entry::DecodeError;
use super::Replication;
use crate::core::{Server, ServerConfig};
use serde::{Deserialize, Serialize};

/// The snapshot layout's version: a node refuses a snapshot of another.
const FORMAT: u32 = 1;

/// What is written (borrowed: the core is not copied to be encoded).
#[derive(Serialize)]
struct Written<'a> {
    format: u32,
    seq: u64,
    replication: &'a Replication,
    core: &'a Server,
}

/// A snapshot read back.
#[derive(Debug, Deserialize)]
pub struct Snapshot {
    format: u32,
    /// The log sequence it was taken at: the entries after it follow.
    pub seq: u64,
    replication: Replication,
    core: Server,
}

impl Snapshot {
    /// The wire form of the state of `replication` and `core`, at
    /// `replication`'s last applied sequence. `None` while the core has
    /// actions not yet carried out (try again after the next entry).
    pub fn encode(replication: &Replication, core: &Server) -> Option<Vec<u8>> {
        if core.has_pending_actions() {
            return None;
        }
        let written = Written {
            format: FORMAT,
            seq: replication.applied_seq(),
            replication,
            core,
        };
        postcard::to_stdvec(&written).ok()
    }

    /// The snapshot `bytes` hold.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        let snapshot: Snapshot =
            postcard::from_bytes(bytes).map_err(|e| DecodeError::new(format!("snapshot: {e}")))?;
        if snapshot.format != FORMAT {
            return Err(DecodeError::new(format!(
                "snapshot format {} (this natter reads {FORMAT})",
                snapshot.format
            )));
        }
        Ok(snapshot)
    }

    /// Continues `replication` from this snapshot, and returns the core it
    /// holds, running under this node's own `config`.
    pub fn restore(self, replication: &mut Replication, config: ServerConfig) -> Server {
        replication.resume(self.replication);
        self.core.with_config(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_of_an_empty_cluster_reads_back_under_the_readers_settings() {
        let repl = Replication::new("a", 1, 7);
        let core = Server::new(ServerConfig::default());
        let bytes = Snapshot::encode(&repl, &core).expect("nothing pending");
        let snapshot = Snapshot::decode(&bytes).expect("reads back");
        assert_eq!(snapshot.seq, 0);
        let mut mine = Replication::new("b", 2, 7);
        let config = ServerConfig {
            server_name: "b.natter".into(),
            ..ServerConfig::default()
        };
        let core = snapshot.restore(&mut mine, config);
        assert_eq!(core.config().server_name, "b.natter");
        assert_eq!(mine.my_tag(), None);
    }

    #[test]
    fn a_restored_core_keeps_the_rooms_history() {
        use crate::core::{ConnId, Event, Now};
        let mut core = Server::new(ServerConfig::default());
        let now = Now::default();
        let conn = ConnId(1);
        core.handle_event(Event::Connected {
            conn,
            peer: "127.0.0.1:1".into(),
            now,
        });
        for line in [
            "NICK a",
            "USER a 0 * :a",
            "JOIN #x",
            "PRIVMSG #x :one",
            "PRIVMSG #x :two",
        ] {
            core.handle_event(Event::Line {
                conn,
                line: line.into(),
                now,
            });
        }
        while core.poll_action().is_some() {}
        assert_eq!(core.history("#x").map(|h| h.len()), Some(2));
        let bytes = Snapshot::encode(&Replication::new("a", 1, 7), &core).expect("nothing pending");
        let mut repl = Replication::new("b", 2, 7);
        let restored = Snapshot::decode(&bytes)
            .expect("reads back")
            .restore(&mut repl, ServerConfig::default());
        assert_eq!(restored.history("#x").map(|h| h.len()), Some(2));
    }

    #[test]
    fn garbage_or_another_format_is_an_error_not_a_panic() {
        assert!(Snapshot::decode(&[]).is_err());
        assert!(Snapshot::decode(&[0xff; 9]).is_err());
        let repl = Replication::new("a", 1, 7);
        let core = Server::new(ServerConfig::default());
        let mut bytes = Snapshot::encode(&repl, &core).expect("nothing pending");
        bytes[0] = 2; // the format number (a one-byte varint)
        let err = Snapshot::decode(&bytes).expect_err("format 2 is refused");
        assert!(err.to_string().contains("format 2"), "{err}");
    }
}
