//! The cluster's link to NATS JetStream (issue 16, `docs/cluster.md`).
//!
//! natter nodes form a cluster by replicating the whole pure core over one
//! totally ordered log: a JetStream stream. This module owns the NATS side
//! of that, and nothing else: it connects, makes sure the stream exists,
//! appends a node's entries to it strictly in order, hands every entry of
//! the stream back in stream order, exactly once and without gaps, and
//! carries the nodes' heartbeats and the connection's ups and downs.
//!
//! async-nats runs on tokio; the link gives it an OS thread of its own with
//! a current-thread tokio runtime (see `nats.rs`), and the rest of natter
//! talks to that thread only through the two [`async_channel`] queues of a
//! [`NatsLink`], which work from smol and tokio alike.
//!
//! Must never make a chat decision (entries are opaque bytes here), never
//! block the smol executor (only [`connect`] blocks, and it says so), and
//! never reorder, drop or duplicate an entry on its way in or out: a retry
//! of an append reuses its `Nats-Msg-Id`, so JetStream's duplicate window
//! drops the copy, and the next append waits for the previous one's
//! acknowledgement.
//!
//! ```no_run
//! use natter::net::cluster::{connect, FromNats, LinkConfig, ToNats};
//! let link = connect(LinkConfig {
//!     urls: vec!["nats://127.0.0.1:4222".into()],
//!     ..LinkConfig::default()
//! })?;
//! smol::block_on(async {
//!     link.to_nats.send(ToNats::BeatAs { tag: 7 }).await.ok();
//!     link.to_nats
//!         .send(ToNats::Append { msg_id: "7-1".into(), payload: b"hello".to_vec() })
//!         .await
//!         .ok();
//!     while let Ok(event) = link.from_nats.recv().await {
//!         match event {
//!             FromNats::Started { last_seq, .. } => println!("caught up at {last_seq}"),
//!             FromNats::Entry { seq, payload } => println!("{seq}: {payload:?}"),
//!             FromNats::Heartbeat { tag } => println!("node {tag} is alive"),
//!             FromNats::Down | FromNats::Up => {}
//!             FromNats::Failed(why) => eprintln!("{why}"),
//!             FromNats::Behind { applied, first } => eprintln!("{applied} < {first}"),
//!         }
//!     }
//! });
//! # Ok::<(), natter::net::cluster::ClusterError>(())
//! ```

mod nats;
mod node;
mod reader;
mod snapshots;
mod vault;

pub use node::ClusterOptions;
pub(crate) use node::{cluster_now, ClusterNode};

/// The NATS link's queues for a natter node: deep enough that the core
/// task never waits on them in practice (it stops taking client input
/// when appends pile up past [`node::BACKLOG_LIMIT`]).
pub(crate) const NODE_QUEUE: usize = 1 << 16;

use std::fmt;
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest a failing append is retried, from its first attempt. It
/// must stay below the stream's duplicate window
/// ([`DUPLICATE_WINDOW`]): a retry after the window could store a second
/// copy of an entry whose first publish was stored but not acknowledged.
pub const MAX_RETRY_FOR: Duration = Duration::from_secs(100);

/// JetStream's duplicate window on the stream the link creates: a publish
/// whose `Nats-Msg-Id` was stored less than this long ago is dropped.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Where the log lives and how the link behaves.
///
/// ```
/// use natter::net::cluster::LinkConfig;
/// let config = LinkConfig {
///     urls: vec!["nats://10.0.0.1:4222".into(), "nats://10.0.0.2:4222".into()],
///     ..LinkConfig::default()
/// };
/// assert_eq!(config.stream, "NATTER_LOG");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// NATS servers to connect to (`nats://host:port`; more are learnt
    /// from the cluster). The client reconnects among them by itself.
    pub urls: Vec<String>,
    /// Replicas of the stream when the link creates it (1 to 5; 3 keeps
    /// the log through the loss of any one NATS server).
    pub replicas: usize,
    /// The stream that holds the log.
    pub stream: String,
    /// The subject entries are published on (the stream's only subject).
    pub subject: String,
    /// The JetStream object store that holds snapshots of the replicated
    /// state (`core-<sequence>`), the newest two kept.
    pub snapshots: String,
    /// Heartbeats go to `<prefix>.<tag>` on core NATS.
    pub heartbeat_subject_prefix: String,
    /// How often a heartbeat is sent once [`ToNats::BeatAs`] was asked.
    pub heartbeat_every: Duration,
    /// The connection's name, shown by `nats server report connections`.
    pub client_name: String,
    /// How long [`connect`] waits for JetStream to be ready (a fresh NATS
    /// cluster needs a few seconds to elect its JetStream leader) before it
    /// gives up with [`ClusterError::NoJetStream`].
    pub startup_timeout: Duration,
    /// How long one JetStream request (an append's acknowledgement, a
    /// stream lookup) may take before it is retried.
    pub request_timeout: Duration,
    /// How long an append is retried before [`FromNats::Failed`] reports
    /// it; at most [`MAX_RETRY_FOR`].
    pub retry_for: Duration,
    /// How long [`ToNats::Close`] waits for pending appends.
    pub close_timeout: Duration,
    /// Appends waiting for NATS (beyond this, sending [`ToNats::Append`]
    /// waits), and entries waiting for the core on [`NatsLink::from_nats`].
    pub queue_capacity: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            urls: vec!["nats://127.0.0.1:4222".into()],
            replicas: 3,
            stream: "NATTER_LOG".into(),
            subject: "natter.log".into(),
            snapshots: "NATTER_SNAPSHOTS".into(),
            heartbeat_subject_prefix: "natter.heartbeat".into(),
            heartbeat_every: Duration::from_secs(1),
            client_name: "natter".into(),
            startup_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(3),
            retry_for: Duration::from_secs(90),
            close_timeout: Duration::from_secs(5),
            queue_capacity: 4096,
        }
    }
}

/// A running link: send it [`ToNats`], receive [`FromNats`].
///
/// Both queues are bounded ([`LinkConfig::queue_capacity`]) and work from
/// any executor. The link's thread ends after [`ToNats::Close`] or once
/// every `to_nats` sender is dropped; `from_nats` then reports closed.
/// Dropping a `NatsLink` never blocks: the thread winds down on its own.
#[derive(Debug)]
pub struct NatsLink {
    /// Appends, heartbeat tag, close.
    pub to_nats: async_channel::Sender<ToNats>,
    /// `Started` first, then entries, heartbeats and connection changes.
    pub from_nats: async_channel::Receiver<FromNats>,
    thread: Option<JoinHandle<()>>,
}

impl NatsLink {
    /// Sends [`ToNats::Close`] and waits (blocking this thread: never call
    /// it on the smol executor) until the link's thread has ended, which
    /// is at most about [`LinkConfig::close_timeout`] plus a second.
    pub fn close_and_join(mut self) {
        let _ = self.to_nats.force_send(ToNats::Close);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the NATS link's thread panicked");
            }
        }
    }
}

/// What the rest of natter asks of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToNats {
    /// Append `payload` to the log. Appends are published strictly in
    /// order, one at a time: the next only after JetStream acknowledged the
    /// previous (so a node's own entries can never be reordered by a
    /// retry). Each is published with header `Nats-Msg-Id: msg_id` and
    /// retried with the same id until acknowledged (JetStream's duplicate
    /// window, 2 minutes on the stream, drops a retry that had in fact been
    /// stored), for at most [`LinkConfig::retry_for`]; then
    /// [`FromNats::Failed`] says so. `msg_id` must be unique in the
    /// cluster for at least the duplicate window (e.g. `<boot id>-<n>`).
    Append { msg_id: String, payload: Vec<u8> },
    /// From now on, publish a heartbeat on `<prefix>.<tag>` (core NATS,
    /// not JetStream) every [`LinkConfig::heartbeat_every`], the first at
    /// once.
    BeatAs { tag: u64 },
    /// Store `payload`, a snapshot of the replicated state after the entry
    /// `seq`, as the newest snapshot; then delete all but the newest two
    /// and trim the log up to the older of those (a node that applied at
    /// least that far still finds every entry it needs). A snapshot still
    /// waiting when a newer one comes is replaced by it; one that cannot
    /// be stored is logged and skipped (the log is then trimmed later).
    Snapshot { seq: u64, payload: Vec<u8> },
    /// Stop: finish pending appends (waiting at most
    /// [`LinkConfig::close_timeout`]), close the connection, end the thread.
    Close,
}

/// What the link tells the rest of natter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromNats {
    /// Sent once, first: the stream's last sequence when the link started
    /// (0 if empty), and the newest snapshot with the sequence it was taken
    /// at, if any. A node has caught up once it applied `last_seq`.
    Started {
        last_seq: u64,
        snapshot: Option<(u64, Vec<u8>)>,
    },
    /// Every entry of the stream after the snapshot (from sequence 1 if
    /// there is none), each exactly once, in sequence order, with no gaps.
    Entry { seq: u64, payload: Vec<u8> },
    /// The entries after `applied` were trimmed away before this node read
    /// them (it fell more than a snapshot behind): it cannot go on, and
    /// must start again from the newest snapshot. Nothing follows.
    Behind { applied: u64, first: u64 },
    /// A heartbeat seen from a node's tag (including our own).
    Heartbeat { tag: u64 },
    /// Lost contact with NATS (async-nats reconnects by itself).
    Down,
    /// Contact with NATS is back.
    Up,
    /// Something retrying cannot fix, with what to do: an append that was
    /// not stored (its message names its `msg_id`), a stream that
    /// disappeared, or a snapshot that was not stored.
    Failed(String),
}

/// Why the link could not start. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// [`LinkConfig::urls`] is empty.
    NoUrls,
    /// A URL that is not a NATS server address.
    BadUrl { url: String, reason: String },
    /// A setting NATS would refuse, or that breaks the link's promises.
    BadConfig(String),
    /// No NATS server answered at any of the URLs.
    Unreachable { urls: String, reason: String },
    /// NATS answered but refused the connection (credentials).
    Refused { urls: String, reason: String },
    /// NATS answered, but JetStream is off or did not answer in time.
    NoJetStream { urls: String, reason: String },
    /// The stream could not be looked up or created.
    Stream { stream: String, reason: String },
    /// The stream exists but cannot hold the log as the link needs.
    StreamMismatch { stream: String, reason: String },
    /// The link's thread or its tokio runtime could not start.
    Thread(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::NoUrls => f.write_str(
                "no NATS server given: name at least one, e.g. nats://127.0.0.1:4222",
            ),
            ClusterError::BadUrl { url, reason } => write!(
                f,
                "{url:?} is not a NATS server address ({reason}): write it as nats://host:port"
            ),
            ClusterError::BadConfig(why) => write!(f, "invalid cluster settings: {why}"),
            ClusterError::Unreachable { urls, reason } => write!(
                f,
                "cannot reach NATS at {urls} ({reason}): is nats-server running with JetStream (-js)?"
            ),
            ClusterError::Refused { urls, reason } => write!(
                f,
                "NATS at {urls} refused the connection ({reason}): check the user and password \
                 (nats://user:password@host:port)"
            ),
            ClusterError::NoJetStream { urls, reason } => write!(
                f,
                "NATS at {urls} answered but JetStream did not ({reason}): start every \
                 nats-server with JetStream (-js, or a jetstream block in its config); a new \
                 NATS cluster needs all its servers up to elect a JetStream leader"
            ),
            ClusterError::Stream { stream, reason } => write!(
                f,
                "cannot create or look up the JetStream stream {stream} ({reason}): check that \
                 enough NATS servers with JetStream are up for its replicas, and that the NATS \
                 account may create streams"
            ),
            ClusterError::StreamMismatch { stream, reason } => write!(
                f,
                "the JetStream stream {stream} exists but cannot hold natter's log ({reason}): \
                 delete it (nats stream rm {stream}) or choose another stream name"
            ),
            ClusterError::Thread(why) => write!(
                f,
                "cannot start the NATS link's thread ({why}): the system is out of threads or memory"
            ),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Starts the link and blocks the calling thread until it is connected and
/// the stream exists (creating it if missing: file storage,
/// [`LinkConfig::replicas`], [`LinkConfig::subject`], a 2-minute duplicate
/// window, no size or age limits), or fails with a clear error. A server
/// that is not listening fails at once; JetStream that is not ready yet is
/// waited for up to [`LinkConfig::startup_timeout`]. Never call it on the
/// smol executor: use [`connect_async`] there.
pub fn connect(config: LinkConfig) -> Result<NatsLink, ClusterError> {
    futures_lite::future::block_on(connect_async(config))
}

/// [`connect`] as a future: waits without blocking the executor it runs on.
pub async fn connect_async(config: LinkConfig) -> Result<NatsLink, ClusterError> {
    let addrs = check(&config)?;
    let (to_tx, to_rx) = async_channel::bounded(config.queue_capacity);
    let (from_tx, from_rx) = async_channel::bounded(config.queue_capacity);
    let (ready_tx, ready_rx) = async_channel::bounded(1);
    let thread = nats::spawn(config, addrs, to_rx, from_tx, ready_tx)
        .map_err(|err| ClusterError::Thread(err.to_string()))?;
    match ready_rx.recv().await {
        Ok(Ok(())) => Ok(NatsLink {
            to_nats: to_tx,
            from_nats: from_rx,
            thread: Some(thread),
        }),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(ClusterError::Thread(
            "it ended before it was ready; see the log".into(),
        )),
    }
}

/// The configuration's mistakes, before any thread starts; the parsed URLs.
fn check(config: &LinkConfig) -> Result<Vec<async_nats::ServerAddr>, ClusterError> {
    if config.urls.is_empty() {
        return Err(ClusterError::NoUrls);
    }
    let addrs = config
        .urls
        .iter()
        .map(|url| {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|err| ClusterError::BadUrl {
                    url: url.clone(),
                    reason: err.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bad = |why: String| Err(ClusterError::BadConfig(why));
    if !(1..=5).contains(&config.replicas) {
        return bad(format!(
            "{} stream replicas: JetStream allows 1 to 5 (3 is usual)",
            config.replicas
        ));
    }
    if !is_name(&config.stream) {
        return bad(format!(
            "{:?} cannot name a stream: use letters, digits, - and _",
            config.stream
        ));
    }
    for (what, subject) in [
        ("log subject", &config.subject),
        ("heartbeat subject prefix", &config.heartbeat_subject_prefix),
    ] {
        if !is_plain_subject(subject) {
            return bad(format!(
                "{subject:?} cannot be the {what}: use dot-separated words without spaces, * or >"
            ));
        }
    }
    if config.retry_for > MAX_RETRY_FOR {
        return bad(format!(
            "appends retried for {:?}: at most {MAX_RETRY_FOR:?}, below the stream's \
             {DUPLICATE_WINDOW:?} duplicate window",
            config.retry_for
        ));
    }
    if config.queue_capacity == 0 {
        return bad("a queue capacity of 0: use at least 1".into());
    }
    if config.heartbeat_every.is_zero() || config.request_timeout.is_zero() {
        return bad("a zero heartbeat period or request timeout".into());
    }
    Ok(addrs)
}

/// A JetStream stream name: no whitespace, `.`, `*`, `>`, path separators.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A subject with no wildcards, empty tokens or whitespace.
fn is_plain_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty()
                && token != "*"
                && token != ">"
                && !token.chars().any(|c| c.is_whitespace())
        })
}

/// Whether the NATS subject `pattern` (with `*` and `>`) covers `subject`.
fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (token, Some(word)) if token == word => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_nats_would_refuse_are_caught_before_connecting() {
        let with = |change: fn(&mut LinkConfig)| {
            let mut config = LinkConfig::default();
            change(&mut config);
            check(&config).err()
        };
        assert_eq!(with(|_| {}), None);
        assert_eq!(with(|c| c.urls.clear()), Some(ClusterError::NoUrls));
        assert!(matches!(
            with(|c| c.urls = vec!["nats://host:port".into()]),
            Some(ClusterError::BadUrl { .. })
        ));
        assert!(matches!(
            with(|c| c.replicas = 0),
            Some(ClusterError::BadConfig(_))
        ));
        assert!(matches!(
            with(|c| c.stream = "natter.log".into()),
            Some(ClusterError::BadConfig(_))
        ));
        assert!(matches!(
            with(|c| c.subject = "natter.*".into()),
            Some(ClusterError::BadConfig(_))
        ));
        assert!(matches!(
            with(|c| c.retry_for = Duration::from_secs(150)),
            Some(ClusterError::BadConfig(_))
        ));
    }

    #[test]
    fn subject_patterns_match_as_nats_does() {
        assert!(subject_matches("natter.log", "natter.log"));
        assert!(subject_matches("natter.*", "natter.log"));
        assert!(subject_matches("natter.>", "natter.log"));
        assert!(subject_matches(">", "natter.log"));
        assert!(!subject_matches("natter.*", "natter.log.x"));
        assert!(!subject_matches("natter.log.x", "natter.log"));
        assert!(!subject_matches("natter", "natter.log"));
    }
}
