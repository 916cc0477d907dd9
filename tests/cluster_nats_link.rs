//! The cluster's NATS link against a real three-server NATS cluster
//! (Debian's `nats-server`, JetStream on, started by each test): one
//! order for everyone, each entry once, retries stored once, late nodes
//! catching up, a NATS server killed under load, heartbeats, and a clear
//! error when nothing listens. Every wait has a deadline.

#[path = "common/nats.rs"]
mod nats;

use nats::{NatsCluster, PlainNats};
use natter::net::cluster::{connect, FromNats, LinkConfig, NatsLink, ToNats};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Generous: only there so that a broken link fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

/// Starts a cluster, or returns from the test (printing why) when
/// nats-server is not installed.
macro_rules! cluster {
    () => {
        match NatsCluster::start(3) {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

/// One natter node's view of the link: what it has received so far.
struct Node {
    link: NatsLink,
    started: Option<u64>,
    entries: Vec<(u64, Vec<u8>)>,
    heartbeats: BTreeSet<u64>,
    downs: usize,
    ups: usize,
    failures: Vec<String>,
    /// The snapshot `Started` brought, if any.
    snapshot: Option<(u64, Vec<u8>)>,
    /// `Behind { applied, first }`, if it came.
    behind: Option<(u64, u64)>,
}

impl Node {
    fn connect(urls: Vec<String>) -> Node {
        Node::with(LinkConfig {
            urls,
            ..LinkConfig::default()
        })
    }

    fn with(config: LinkConfig) -> Node {
        let link = connect(config).unwrap_or_else(|err| panic!("the link starts: {err}"));
        Node {
            link,
            snapshot: None,
            behind: None,
            started: None,
            entries: Vec::new(),
            heartbeats: BTreeSet::new(),
            downs: 0,
            ups: 0,
            failures: Vec::new(),
        }
    }

    fn append(&self, msg_id: &str, payload: &str) {
        self.link
            .to_nats
            .send_blocking(ToNats::Append {
                msg_id: msg_id.into(),
                payload: payload.as_bytes().to_vec(),
            })
            .expect("the link is running");
    }

    fn send(&self, command: ToNats) {
        self.link
            .to_nats
            .send_blocking(command)
            .expect("the link is running");
    }

    /// The link's next report, `Some(Err(_))` when it ended, or `None` when
    /// nothing came before `deadline`.
    fn next_before(&self, deadline: Instant) -> Option<Result<FromNats, async_channel::RecvError>> {
        let left = deadline.saturating_duration_since(Instant::now());
        smol::block_on(futures_lite::future::or(
            async { Some(self.link.from_nats.recv().await) },
            async {
                smol::Timer::after(left).await;
                None
            },
        ))
    }

    /// Takes what the link reports until `done` holds; panics after
    /// [`PATIENCE`] with what was seen.
    fn until(&mut self, what: &str, done: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            let event = self.next_before(deadline);
            match event {
                None => panic!(
                    "waited {PATIENCE:?} for {what}; got {} entries, heartbeats {:?}, \
                     {} downs, {} ups, failures {:?}",
                    self.entries.len(),
                    self.heartbeats,
                    self.downs,
                    self.ups,
                    self.failures
                ),
                Some(Err(_)) => panic!("the link ended while waiting for {what}"),
                Some(Ok(event)) => self.take(event),
            }
        }
    }

    /// Takes what the link reports until its queue closes (the link's
    /// thread ended); panics after [`PATIENCE`].
    fn until_closed(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let event = self.next_before(deadline);
            match event {
                None => panic!("the link did not end within {PATIENCE:?}"),
                Some(Err(_)) => return,
                Some(Ok(event)) => self.take(event),
            }
        }
    }

    fn take(&mut self, event: FromNats) {
        match event {
            FromNats::Started { last_seq, snapshot } => {
                assert!(self.started.is_none(), "Started comes once");
                assert!(self.entries.is_empty(), "Started comes first");
                self.started = Some(last_seq);
                self.snapshot = snapshot;
            }
            FromNats::Entry { seq, payload } => {
                assert!(self.started.is_some(), "Started comes first");
                assert!(self.behind.is_none(), "nothing follows Behind");
                let after = self.snapshot.as_ref().map_or(0, |(seq, _)| *seq);
                let expected = after + self.entries.len() as u64 + 1;
                assert_eq!(seq, expected, "entries come in order, without gaps");
                self.entries.push((seq, payload));
            }
            FromNats::Heartbeat { tag } => {
                self.heartbeats.insert(tag);
            }
            FromNats::Down => self.downs += 1,
            FromNats::Up => self.ups += 1,
            FromNats::Failed(why) => self.failures.push(why),
            FromNats::Behind { applied, first } => self.behind = Some((applied, first)),
        }
    }

    fn until_entries(&mut self, count: usize) {
        self.until(&format!("{count} entries"), |node| {
            node.entries.len() >= count
        });
    }

    fn payloads(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(_, payload)| String::from_utf8_lossy(payload).into_owned())
            .collect()
    }
}

/// Checks that `payloads` holds each of `sent` exactly once, in the order
/// they were sent (a node's own appends never overtake each other).
fn each_once_in_sent_order(payloads: &[String], sent: &[String]) {
    let positions: Vec<usize> = sent
        .iter()
        .map(|entry| {
            let found: Vec<usize> = payloads
                .iter()
                .enumerate()
                .filter(|(_, p)| *p == entry)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(found.len(), 1, "{entry} is in the log exactly once");
            found[0]
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "a node's appends are in the log in the order it sent them"
    );
}

fn named(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn two_nodes_appending_interleaved_both_see_one_order_with_each_entry_once() {
    let before = Instant::now();
    let cluster = cluster!();
    eprintln!("three NATS servers ready in {:?}", before.elapsed());
    let before = Instant::now();
    let mut a = Node::connect(vec![cluster.url(0)]);
    eprintln!(
        "the first link (creating the stream) started in {:?}",
        before.elapsed()
    );
    let before = Instant::now();
    let mut b = Node::connect(vec![cluster.url(1)]);
    eprintln!("the second link started in {:?}", before.elapsed());
    let (from_a, from_b) = (named("a", 0..60), named("b", 0..60));
    for (x, y) in from_a.iter().zip(&from_b) {
        a.append(x, x);
        b.append(y, y);
    }
    a.until_entries(120);
    b.until_entries(120);

    assert_eq!(a.started, Some(0), "the stream was empty");
    assert_eq!(a.entries, b.entries, "both nodes see one order");
    assert_eq!(a.entries.len(), 120);
    each_once_in_sent_order(&a.payloads(), &from_a);
    each_once_in_sent_order(&a.payloads(), &from_b);
    assert!(a.failures.is_empty() && b.failures.is_empty());
}

#[test]
fn an_append_retried_with_the_same_msg_id_is_stored_once() {
    let cluster = cluster!();
    let mut a = Node::connect(cluster.urls());
    a.append("node-a-1", "first");
    a.append("node-a-1", "first"); // a retry of the same entry
    a.append("node-a-2", "second");
    a.until(r#"the entry "second""#, |node| {
        node.payloads().contains(&"second".to_string())
    });
    assert_eq!(a.payloads(), ["first", "second"]);

    // A second node that retries the same id is deduplicated as well.
    let mut b = Node::connect(cluster.urls());
    b.append("node-a-2", "second");
    b.append("node-b-1", "third");
    b.until_entries(3);
    assert_eq!(b.payloads(), ["first", "second", "third"]);
}

#[test]
fn a_late_node_catches_up_to_the_same_order_from_started_last_seq() {
    let cluster = cluster!();
    let mut a = Node::connect(vec![cluster.url(0)]);
    let mut b = Node::connect(vec![cluster.url(1)]);
    for i in 0..25 {
        a.append(&format!("a-{i}"), &format!("a-{i}"));
        b.append(&format!("b-{i}"), &format!("b-{i}"));
    }
    a.until_entries(50);

    let mut late = Node::connect(vec![cluster.url(2)]);
    late.until("Started", |node| node.started.is_some());
    assert_eq!(late.started, Some(50), "Started names the last entry");
    late.until_entries(50);
    assert_eq!(
        late.entries, a.entries,
        "the late node replays the one order"
    );

    // And it follows the log from there, as the others do.
    a.append("a-last", "a-last");
    late.append("late-1", "late-1");
    for node in [&mut a, &mut b, &mut late] {
        node.until_entries(52);
    }
    assert_eq!(late.entries, a.entries);
    assert_eq!(late.entries, b.entries);
}

#[test]
fn entries_keep_flowing_and_appends_complete_after_a_nats_server_is_killed() {
    let mut cluster = cluster!();
    // `a` is given server 0 only: it must find the others by itself.
    let mut a = Node::connect(vec![cluster.url(0)]);
    let mut b = Node::connect(vec![cluster.url(1), cluster.url(2)]);
    for i in 0..20 {
        a.append(&format!("a-{i}"), &format!("a-{i}"));
        b.append(&format!("b-{i}"), &format!("b-{i}"));
    }
    a.until_entries(40);

    let killed = Instant::now();
    cluster.kill(0);
    for i in 20..40 {
        a.append(&format!("a-{i}"), &format!("a-{i}"));
        b.append(&format!("b-{i}"), &format!("b-{i}"));
    }
    a.until("contact lost and back", |node| node.ups >= 1);
    a.until_entries(80);
    b.until_entries(80);
    eprintln!(
        "40 appends after the kill were read back in {:?}",
        killed.elapsed()
    );
    assert_eq!(a.downs, 1, "a's server died: one Down");
    assert_eq!(a.entries, b.entries, "one order, through the loss");
    each_once_in_sent_order(&a.payloads(), &named("a", 0..40));
    each_once_in_sent_order(&a.payloads(), &named("b", 0..40));

    // The killed server comes back and catches up; the log goes on.
    cluster.restart(0);
    a.append("a-after", "a-after");
    b.append("b-after", "b-after");
    a.until_entries(82);
    b.until_entries(82);
    assert_eq!(a.entries, b.entries);
    assert!(a.failures.is_empty() && b.failures.is_empty());
}

#[test]
fn heartbeats_from_each_beat_as_tag_arrive_at_every_node() {
    let cluster = cluster!();
    let mut a = Node::connect(vec![cluster.url(0)]);
    let mut b = Node::connect(vec![cluster.url(2)]);
    a.send(ToNats::BeatAs { tag: 11 });
    b.send(ToNats::BeatAs { tag: 22 });
    let both = |node: &Node| node.heartbeats.contains(&11) && node.heartbeats.contains(&22);
    a.until("heartbeats from 11 and 22", both);
    b.until("heartbeats from 11 and 22", both);
    assert_eq!(a.heartbeats, BTreeSet::from([11, 22]));

    // They keep coming, once a second.
    a.heartbeats.clear();
    a.until("the next heartbeats", both);
}

#[test]
fn close_publishes_the_pending_appends_before_the_link_ends() {
    let cluster = cluster!();
    let mut a = Node::connect(cluster.urls());
    for i in 0..30 {
        a.append(&format!("a-{i}"), &format!("a-{i}"));
    }
    a.send(ToNats::Close);
    // The link ends by itself: its queue closes once the thread is done.
    a.until_closed();

    let mut b = Node::connect(cluster.urls());
    b.until("Started", |node| node.started.is_some());
    assert_eq!(b.started, Some(30), "every append was stored before Close");
    b.until_entries(30);
    assert_eq!(b.payloads(), named("a", 0..30));
}

#[test]
fn a_link_to_a_port_with_nothing_listening_fails_quickly_with_a_helpful_message() {
    let url = format!("nats://127.0.0.1:{}", nats::free_port());
    let started = Instant::now();
    let err = connect(LinkConfig {
        urls: vec![url.clone()],
        ..LinkConfig::default()
    })
    .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failing took {:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot reach NATS at {url}")),
        "{message}"
    );
    assert!(
        message.ends_with("is nats-server running with JetStream (-js)?"),
        "{message}"
    );
}

#[test]
fn a_link_to_nats_without_jetstream_fails_at_once_saying_to_turn_it_on() {
    let Some(server) = PlainNats::start() else {
        return;
    };
    let started = Instant::now();
    let err = connect(LinkConfig {
        urls: vec![server.url()],
        ..LinkConfig::default()
    })
    .expect_err("JetStream is off");
    assert!(started.elapsed() < Duration::from_secs(5));
    let message = err.to_string();
    assert!(message.contains("JetStream"), "{message}");
    assert!(message.contains("-js"), "{message}");
}

#[test]
fn appends_fail_with_the_reason_once_the_stream_is_deleted() {
    let cluster = cluster!();
    let mut a = Node::connect(cluster.urls());
    a.append("a-1", "a-1");
    a.until_entries(1);

    // An operator deletes the log behind natter's back.
    cluster.with_jetstream(1, |js| async move {
        js.delete_stream("NATTER_LOG")
            .await
            .expect("the stream is deleted");
    });

    a.append("a-2", "a-2");
    a.until("the failed append", |node| {
        node.failures.iter().any(|why| why.contains("a-2"))
    });
    let why = a.failures.iter().find(|why| why.contains("a-2")).unwrap();
    assert!(why.contains("NATTER_LOG no longer exists"), "{why}");
    assert_eq!(a.payloads(), ["a-1"]);
}

/// Waits (bounded) until the log starts at `first` or later, taking what
/// `node`'s link reports meanwhile (a failure to store a snapshot comes
/// there, and is shown if the log is never trimmed).
fn until_trimmed(cluster: &NatsCluster, node: &mut Node, first: u64) {
    let deadline = Instant::now() + PATIENCE;
    while cluster.log_starts_at() < first {
        assert!(
            Instant::now() < deadline,
            "the log was not trimmed to {first}; the link reported failures {:?}",
            node.failures
        );
        if let Some(Ok(event)) = node.next_before(Instant::now() + Duration::from_millis(50)) {
            node.take(event);
        }
    }
}

#[test]
fn snapshots_trim_the_log_and_a_late_link_starts_from_the_newest() {
    let cluster = cluster!();
    let mut a = Node::connect(cluster.urls());
    let sent = named("e", 0..30);
    for (i, payload) in sent.iter().enumerate() {
        a.append(&format!("a-{i}"), payload);
    }
    a.until_entries(30);
    // One snapshot trims nothing: a node may be reading from just before it.
    a.send(ToNats::Snapshot {
        seq: 10,
        payload: b"at 10".to_vec(),
    });
    until_snapshot_stored(&cluster);
    assert_eq!(cluster.log_starts_at(), 1);
    a.send(ToNats::Snapshot {
        seq: 20,
        payload: b"at 20".to_vec(),
    });
    // The second trims the log up to the first.
    until_trimmed(&cluster, &mut a, 11);
    assert_eq!(cluster.log_starts_at(), 11);

    let mut b = Node::connect(cluster.urls());
    b.until("the entries after the newest snapshot", |n| {
        n.entries.len() >= 10
    });
    assert_eq!(b.snapshot, Some((20, b"at 20".to_vec())));
    assert_eq!(b.started, Some(30));
    assert_eq!(b.payloads(), sent[20..].to_vec());
}

#[test]
fn a_snapshot_handed_over_while_nats_has_no_quorum_is_stored_once_it_is_back() {
    let mut cluster = cluster!();
    // `a` keeps server 0, which stays up throughout.
    let mut a = Node::connect(vec![cluster.url(0)]);
    for i in 0..30 {
        a.append(&format!("a-{i}"), &format!("e{i}"));
    }
    a.until_entries(30);
    a.send(ToNats::Snapshot {
        seq: 10,
        payload: b"at 10".to_vec(),
    });
    until_snapshot_stored(&cluster);

    // Two of three servers die: JetStream cannot store anything now.
    cluster.kill(1);
    cluster.kill(2);
    a.send(ToNats::Snapshot {
        seq: 20,
        payload: b"at 20".to_vec(),
    });
    // Long enough for a try or two to time out (3 s each).
    std::thread::sleep(Duration::from_secs(8));
    cluster.start_again(1);
    cluster.start_again(2);
    cluster.wait_ready();

    until_trimmed(&cluster, &mut a, 11);
    assert!(a.failures.is_empty(), "{:?}", a.failures);
}

#[test]
fn a_link_that_fell_behind_the_trimmed_log_says_so_and_stops() {
    let cluster = cluster!();
    let mut a = Node::connect(cluster.urls());
    // A slow node: it takes nothing from its queue for now.
    let mut slow = Node::with(LinkConfig {
        urls: cluster.urls(),
        queue_capacity: 4,
        ..LinkConfig::default()
    });
    slow.until("Started", |n| n.started.is_some());
    let count = 3000;
    for i in 0..count {
        a.append(&format!("a-{i}"), &format!("e{i}"));
    }
    a.until_entries(count);
    a.send(ToNats::Snapshot {
        seq: 1000,
        payload: b"at 1000".to_vec(),
    });
    until_snapshot_stored(&cluster);
    a.send(ToNats::Snapshot {
        seq: 2500,
        payload: b"at 2500".to_vec(),
    });
    until_trimmed(&cluster, &mut a, 1001);

    slow.until("Behind", |n| n.behind.is_some());
    let (applied, first) = slow.behind.expect("Behind came");
    assert_eq!(applied, slow.entries.len() as u64);
    assert!(
        applied < 1000,
        "it had {applied} entries before falling behind"
    );
    assert_eq!(first, 1001);
}

/// Waits (bounded) until the snapshot store holds a snapshot.
fn until_snapshot_stored(cluster: &NatsCluster) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let late = Node::connect(cluster.urls());
        let mut late = late;
        late.until("Started", |n| n.started.is_some());
        if late.snapshot.is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "no snapshot was stored");
        std::thread::sleep(Duration::from_millis(50));
    }
}
