//! A cluster node's part of the core task: its inputs go to the log, the
//! log's entries come back to its core.
//!
//! Owns the node's [`Replication`] rules, its batch of inputs on their way
//! to the log, its leases on the other nodes, the connection-id counter
//! it numbers new connections from, and its [`Vault`] (its clients' lines
//! are sealed on their way to the log: no password goes into it). Must
//! never feed the core anything that did not come back from the log, and
//! never block: appends and entries go through the NATS link's queues.

use super::vault::Vault;
use super::{FromNats, NatsLink, ToNats};
use crate::cluster::{first_conn_id, tag_of, Applied, Entry, Input, Leases, Replication, Snapshot};
use crate::core::{self, ConnId, Event, Now};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Appends waiting for NATS past which the core task stops taking client
/// input until NATS catches up (backpressure instead of an unbounded queue).
pub(crate) const BACKLOG_LIMIT: usize = 4096;

/// Settings of a cluster node (`--cluster`, `--node-name`, ...).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// NATS servers to connect to (several, for failover).
    pub urls: Vec<String>,
    /// This node's name, unique in the cluster.
    pub node_name: String,
    /// Replicas of the log stream (3 in a three-server NATS cluster).
    pub replicas: usize,
    /// A node silent this long is declared down.
    pub lease_secs: u64,
    /// Log entries between two snapshots (0: none, the log kept whole).
    pub snapshot_every: u64,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            urls: vec!["nats://127.0.0.1:4222".into()],
            node_name: "natter".into(),
            replicas: 3,
            lease_secs: 10,
            snapshot_every: 100_000,
        }
    }
}

/// The cluster state the core task keeps (see the module doc).
pub(crate) struct ClusterNode {
    pub(crate) link: NatsLink,
    pub(crate) repl: Replication,
    leases: Leases,
    /// Inputs of this pass, appended as one batch by [`ClusterNode::flush`].
    inputs: Vec<Input>,
    batch: u64,
    /// Where new connections are numbered from (shared with the accept loops).
    pub(crate) ids: Arc<AtomicU64>,
    /// The core deadline a tick was appended for: not again until it moves.
    pub(crate) ticked: Option<core::Instant>,
    /// Whether NATS is reachable.
    pub(crate) reachable: bool,
    /// Log entries between two snapshots (0: none).
    snapshot_every: u64,
    /// The passwords of this node's clients, which the log only refers to.
    pub(crate) vault: Vault,
    /// The server password, for the `PASS` verdict sealed into the log.
    server_password: Option<String>,
}

/// The cluster clock for an event read now: the wall clock stands in for
/// the monotonic one, since nodes' monotonic clocks are unrelated.
pub(crate) fn cluster_now(now: Now) -> Now {
    Now {
        mono: core::Instant(now.wall.0),
        wall: now.wall,
    }
}

/// A random number for this start of the node.
fn boot_id() -> u64 {
    let secret = crate::net::password::random_secret().unwrap_or([0; 32]);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&secret[..8]);
    u64::from_le_bytes(bytes) | 1
}

impl ClusterNode {
    pub(crate) fn new(
        link: NatsLink,
        options: &ClusterOptions,
        config: &core::ServerConfig,
        ids: Arc<AtomicU64>,
    ) -> ClusterNode {
        let fingerprint = crate::cluster::config_fingerprint(config);
        ClusterNode {
            link,
            repl: Replication::new(&options.node_name, 0, fingerprint),
            leases: Leases::new(options.lease_secs.max(1) * 1000),
            inputs: Vec::new(),
            batch: 0,
            ids,
            ticked: None,
            reachable: true,
            snapshot_every: options.snapshot_every,
            vault: Vault::default(),
            server_password: config.password.clone(),
        }
    }

    /// Appends `entry` to the log under the message id `msg_id` (JetStream
    /// drops a second append with the same id).
    pub(crate) fn append(&self, msg_id: String, entry: &Entry) {
        let payload = entry.encode();
        if let Err(e) = self
            .link
            .to_nats
            .try_send(ToNats::Append { msg_id, payload })
        {
            // Never in practice: input stops at BACKLOG_LIMIT, far below
            // the queue's size. Said loudly if it ever happens.
            eprintln!("natter-server: cluster: an append was dropped: {e}");
        }
    }

    /// Whether appends are piling up: client input waits until they drain.
    pub(crate) fn backlogged(&self) -> bool {
        self.link.to_nats.len() >= BACKLOG_LIMIT
    }

    /// Appends this node's `NodeUp` (at start, and again after a `NodeDown`
    /// of its own).
    pub(crate) fn announce(&mut self) {
        // A new start: whatever connections it had are gone.
        self.vault.clear();
        let boot = boot_id();
        let entry = self.repl.node_up(boot);
        self.append(format!("up-{boot:x}"), &entry);
    }

    /// Takes a local event for the log. `Err(conn)` when the event is of a
    /// connection numbered under a tag this node no longer has (it was
    /// declared down meanwhile): that connection must be closed.
    /// `prove` checks a SCRAM proof of one of its clients against the
    /// node's core (the proof is sealed out of the log).
    pub(crate) fn local(
        &mut self,
        event: Event,
        prove: &mut dyn FnMut(ConnId, &[u8]) -> bool,
    ) -> Result<(), ConnId> {
        let Some(input) = Input::from_event(event) else {
            return Ok(());
        };
        if let Some(conn) = input.conn().filter(|c| !self.is_local(*c)) {
            return Err(conn);
        }
        let mut input = self
            .vault
            .seal(input, self.server_password.as_deref(), prove);
        if let Some(now) = input.now_mut() {
            *now = cluster_now(*now);
        }
        self.inputs.push(input);
        Ok(())
    }

    /// Appends the inputs of this pass as one batch.
    pub(crate) fn flush(&mut self) {
        let Some(tag) = self.repl.my_tag() else {
            self.inputs.clear();
            return;
        };
        if self.inputs.is_empty() {
            return;
        }
        self.batch += 1;
        let entry = Entry::Inputs {
            tag,
            batch: self.batch,
            inputs: std::mem::take(&mut self.inputs),
        };
        self.append(format!("{tag}-{}", self.batch), &entry);
    }

    /// Applies one entry of the log; the events it makes go to `feed`.
    pub(crate) fn apply(
        &mut self,
        seq: u64,
        payload: &[u8],
        feed: &mut impl FnMut(Event),
    ) -> Applied {
        let entry = match Entry::decode(payload) {
            Ok(entry) => entry,
            Err(e) => {
                eprintln!("natter-server: skipping cluster log entry {seq}: {e}");
                return Applied::Skipped;
            }
        };
        let applied = self.repl.apply(seq, entry, feed);
        if let Applied::Joined { tag } = applied {
            self.ids.store(first_conn_id(tag), Ordering::Relaxed);
            self.batch = 0;
            let _ = self.link.to_nats.try_send(ToNats::BeatAs { tag });
        }
        applied
    }

    /// Starts from the newest snapshot (taken after the entry `seq`): the
    /// core it holds replaces `core`, and the log is applied from the entry
    /// after it. An error says what the operator must do.
    pub(crate) fn start_from(
        &mut self,
        seq: u64,
        bytes: &[u8],
        core: &mut core::Server,
    ) -> Result<(), String> {
        let snapshot = Snapshot::decode(bytes).map_err(|e| {
            format!(
                "the cluster's newest snapshot (at entry {seq}) cannot be read ({e}): every                  node must run the same natter version"
            )
        })?;
        let config = core.config().clone();
        *core = snapshot.restore(&mut self.repl, config);
        Ok(())
    }

    /// Hands a snapshot of `core` to the link when one is due (after the
    /// entry just applied; see [`Replication::snapshot_due`]).
    pub(crate) fn snapshot_if_due(&self, core: &core::Server) {
        if !self.repl.snapshot_due(self.snapshot_every) {
            return;
        }
        if let Some(payload) = Snapshot::encode(&self.repl, core) {
            let seq = self.repl.applied_seq();
            let _ = self
                .link
                .to_nats
                .try_send(ToNats::Snapshot { seq, payload });
        }
    }

    /// A heartbeat arrived from `tag`.
    pub(crate) fn heard(&mut self, tag: u64, at_ms: u64) {
        self.leases.heard(tag, at_ms);
    }

    /// NATS is back: the other nodes' silence while it was gone (for this
    /// node) says nothing, so each gets a whole lease from now.
    pub(crate) fn reconnected(&mut self, at_ms: u64) {
        self.reachable = true;
        self.leases.renew_all(at_ms);
    }

    /// Appends a `NodeDown` for every node whose lease ran out (never while
    /// this node itself cannot reach NATS: then it hears nobody).
    /// `now` is read once: its monotonic part times the leases, its wall
    /// part stamps the `NodeDown`.
    pub(crate) fn check_leases(&mut self, now: Now) {
        if !self.reachable {
            return;
        }
        let mine = self.repl.my_tag();
        let overdue = self.leases.overdue(self.repl.live_tags(), mine, now.mono.0);
        for tag in overdue {
            let name = self.repl.node_name(tag).unwrap_or("?").to_string();
            let entry = Entry::NodeDown {
                tag,
                reason: format!("Connection to node {name} lost"),
                now: cluster_now(now),
            };
            self.append(format!("down-{tag}"), &entry);
        }
    }

    /// Whether `conn` is one of this node's own connections.
    pub(crate) fn is_local(&self, conn: ConnId) -> bool {
        Some(tag_of(conn)) == self.repl.my_tag()
    }

    /// The next message from the link.
    pub(crate) async fn next(&self) -> Option<FromNats> {
        self.link.from_nats.recv().await.ok()
    }
}
