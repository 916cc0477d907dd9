//! The cluster's replication rules, simulated: several nodes, each its own
//! core behind `natter::cluster::Replication`, over one simulated log. One
//! seed drives everything: which node's append reaches the log next (so
//! nodes' inputs interleave differently in every run), retried appends,
//! how far behind each node applies, crashes and cut-off nodes.
//!
//! The property that makes a cluster one server: every node's core makes
//! the same lines for every connection, whatever the interleaving; a node
//! that stopped has made a prefix of them. Scenarios then pin down what a
//! user sees: rooms and private messages across nodes, one owner per nick,
//! one QUIT per user of a dead node. Each node seals its clients' lines as
//! the shell does (`natter::core::secrets`), keeps their passwords in its
//! own vault and does their password work: no password is ever in the log.
//!
//! Replay one seed: `NATTER_SIM_SEED=1234 cargo test --test cluster_simulation`.
mod common;
use common::model::SplitMix64;
use natter::cluster::{first_conn_id, tag_of, Applied, Entry, Input, Replication, Snapshot};
use natter::core::secrets::Sealer;
use natter::core::{
    Action, ConnId, Credentials, Instant, Now, Secret, Server, ServerConfig, Timestamp,
};
use std::collections::{BTreeMap, VecDeque};

const EPOCH: u64 = 1_700_000_000_000;

fn at(ms: u64) -> Now {
    Now {
        mono: Instant(ms),
        wall: Timestamp(EPOCH + ms),
    }
}

/// One natter node: its core, its replication rules, and what it has not
/// yet appended to the log.
struct Node {
    name: String,
    repl: Replication,
    server: Server,
    tag: Option<u64>,
    next_conn: u64,
    batch: u64,
    boots: u64,
    /// Inputs of this pass of the core task, not yet a batch.
    inputs: Vec<Input>,
    /// Entries on their way to the log, in order.
    appends: VecDeque<Entry>,
    /// How many entries of the log it has applied.
    applied: usize,
    /// Every line its core made, per connection (its own and everyone else's).
    said: BTreeMap<ConnId, Vec<String>>,
    /// The process runs.
    up: bool,
    /// Its connections that are open.
    clients: Vec<ConnId>,
    /// Each of its connections' sealer, as the shell keeps them.
    sealers: BTreeMap<ConnId, Sealer>,
    /// Its vault: the passwords its clients sent, by connection and id.
    vault: BTreeMap<(ConnId, u64), Secret>,
    /// The last vault id handed out.
    last_secret: u64,
    /// Password work its core asked of it, for its own connections.
    work: Vec<Action>,
    /// The settings of its core.
    config: ServerConfig,
}

fn config() -> ServerConfig {
    ServerConfig {
        server_name: "natter.test".into(),
        ..ServerConfig::default()
    }
}

impl Node {
    fn with_config(name: &str, boot: u64, config: ServerConfig) -> Node {
        let fingerprint = natter::cluster::config_fingerprint(&config);
        let mut repl = Replication::new(name, boot, fingerprint);
        let up = repl.node_up(boot);
        Node {
            name: name.to_string(),
            repl,
            server: Server::new(config.clone()),
            tag: None,
            next_conn: 0,
            batch: 0,
            boots: boot,
            inputs: Vec::new(),
            appends: VecDeque::from([up]),
            applied: 0,
            said: BTreeMap::new(),
            up: true,
            clients: Vec::new(),
            sealers: BTreeMap::new(),
            vault: BTreeMap::new(),
            last_secret: 0,
            work: Vec::new(),
            config,
        }
    }

    fn end_pass(&mut self) {
        let Some(tag) = self.tag else {
            return;
        };
        if self.inputs.is_empty() {
            return;
        }
        self.batch += 1;
        let inputs = std::mem::take(&mut self.inputs);
        self.appends.push_back(Entry::Inputs {
            tag,
            batch: self.batch,
            inputs,
        });
    }

    fn apply(&mut self, log: &[Entry], upto: usize) {
        while self.applied < upto.min(log.len()) {
            let seq = self.applied as u64 + 1;
            let entry = log[self.applied].clone();
            self.applied += 1;
            let Node {
                repl,
                server,
                said,
                work,
                tag,
                ..
            } = self;
            let applied = repl.apply(seq, entry, &mut |event| {
                server.handle_event(event);
                while let Some(action) = server.poll_action() {
                    match action {
                        Action::CheckPassword { conn, .. } | Action::HashPassword { conn, .. }
                            if Some(tag_of(conn)) == *tag =>
                        {
                            work.push(action)
                        }
                        Action::Send { to, line } => {
                            said.entry(to).or_default().push(line.to_string())
                        }
                        Action::Broadcast { to, line } => {
                            for c in to {
                                said.entry(c).or_default().push(line.to_string());
                            }
                        }
                        _ => {}
                    }
                }
            });
            match applied {
                Applied::Joined { tag } => {
                    self.tag = Some(tag);
                    self.next_conn = first_conn_id(tag);
                    self.batch = 0;
                }
                Applied::NodeDown { mine: true, .. } => {
                    // Cut off past the lease: everyone it held is gone.
                    self.clients.clear();
                    self.sealers.clear();
                    self.vault.clear();
                    self.work.clear();
                    self.tag = None;
                    self.inputs.clear();
                    self.appends.clear();
                    self.boots += 1000;
                    let up = self.repl.node_up(self.boots);
                    self.appends.push_back(up);
                }
                Applied::ConfigMismatch { other } => panic!("{} differs from {other}", self.name),
                _ => {}
            }
            self.do_password_work();
        }
    }

    fn connect(&mut self, now: Now) -> Option<ConnId> {
        self.tag?;
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.clients.push(conn);
        self.inputs.push(Input::Connected {
            conn,
            peer: format!("10.0.0.{}:4000", conn.0 % 250),
            now,
        });
        Some(conn)
    }

    /// A line from one of its clients, sealed on its way to the log as the
    /// shell does (the secret into the vault).
    fn line(&mut self, conn: ConnId, line: &str, now: Now) {
        if !self.clients.contains(&conn) {
            return;
        }
        let id = self.last_secret + 1;
        let password = self.config.password.as_deref();
        let sealer = self.sealers.entry(conn).or_default();
        let server = &self.server;
        let mut prove = |bytes: &[u8]| server.scram_proof_holds(conn, bytes);
        let Some(sealed) = sealer.seal(line, password, id, &mut prove) else {
            let line = line.to_string();
            self.inputs.push(Input::Line { conn, line, now });
            return;
        };
        if let Some(secret) = sealed.secret {
            self.last_secret = id;
            self.vault.insert((conn, id), secret);
        }
        let line = sealed.line;
        self.inputs.push(match sealed.seal {
            Some(seal) => Input::SealedLine {
                conn,
                line,
                seal,
                now,
            },
            None => Input::Line { conn, line, now },
        });
    }

    /// Carries out the password work for its own connections, with the
    /// passwords from its vault, and appends the answers (argon2 at its
    /// lowest cost: the exchange is the same, faster).
    fn do_password_work(&mut self) {
        let now = self.repl.clock();
        for action in std::mem::take(&mut self.work) {
            let mut take = |conn: ConnId, secret: Secret| match secret.vault_id() {
                Some(id) => self.vault.remove(&(conn, id)),
                None => Some(secret),
            };
            match action {
                Action::CheckPassword {
                    conn,
                    hash,
                    password,
                    purpose,
                } => {
                    let ok = take(conn, password).is_some_and(|p| {
                        !hash.is_empty() && natter::net::password::verify(&hash, p.expose())
                    });
                    self.inputs.push(Input::PasswordChecked {
                        conn,
                        purpose,
                        ok,
                        upgrade: None,
                        now,
                    });
                }
                Action::HashPassword {
                    conn,
                    password,
                    purpose,
                } => {
                    let Some(password) = take(conn, password) else {
                        continue;
                    };
                    let credentials = Credentials {
                        password_hash: natter::net::password::hash_password_cheaply(
                            password.expose(),
                        )
                        .expect("hashes"),
                        scram: natter::core::scram::ScramCredentials::derive(
                            password.expose(),
                            b"sim salt",
                            16,
                        )
                        .to_storage_string(),
                    };
                    self.inputs.push(Input::PasswordHashed {
                        conn,
                        purpose,
                        credentials: Box::new(credentials),
                        now,
                    });
                }
                _ => {}
            }
        }
    }

    fn disconnect(&mut self, conn: ConnId, now: Now) {
        if let Some(i) = self.clients.iter().position(|c| *c == conn) {
            self.clients.remove(i);
            self.sealers.remove(&conn);
            self.vault.retain(|(c, _), _| *c != conn);
            let reason = "Connection reset by peer".to_string();
            self.inputs.push(Input::Disconnected { conn, reason, now });
        }
    }

    /// Its core's timer fell due: the node appends a tick, as the shell does.
    fn tick(&mut self, now: Now) {
        if self
            .server
            .poll_timeout()
            .is_some_and(|due| due <= now.mono)
        {
            self.inputs.push(Input::Timeout { now });
        }
    }
}

/// Several nodes over one log.
struct Cluster {
    log: Vec<Entry>,
    nodes: Vec<Node>,
    rng: SplitMix64,
    now_ms: u64,
    /// Lines of each connection already taken by a scenario.
    taken: BTreeMap<ConnId, usize>,
}

impl Cluster {
    fn new(names: &[&str], seed: u64) -> Cluster {
        Cluster::with_config(names, seed, config())
    }

    fn with_config(names: &[&str], seed: u64, config: ServerConfig) -> Cluster {
        let nodes = names
            .iter()
            .enumerate()
            .map(|(i, n)| Node::with_config(n, i as u64 + 1, config.clone()))
            .collect();
        let mut cluster = Cluster {
            log: vec![Entry::Seeded { secret: [7; 32] }],
            nodes,
            rng: SplitMix64(seed),
            now_ms: 1_000,
            taken: BTreeMap::new(),
        };
        cluster.settle();
        cluster
    }

    fn now(&self) -> Now {
        at(self.now_ms)
    }

    /// One node's oldest append reaches the log (sometimes twice: a retry
    /// after a lost acknowledgement that the duplicate window missed).
    fn deliver(&mut self, n: usize) {
        if !self.nodes[n].up {
            return;
        }
        if let Some(entry) = self.nodes[n].appends.pop_front() {
            if self.rng.chance(3) {
                self.log.push(entry.clone());
            }
            self.log.push(entry);
        }
    }

    /// Every node ends its pass; every append reaches the log, in a random
    /// interleaving; every running node applies everything. Repeats until
    /// quiet (a node that applied its own `NodeDown` joins again).
    fn settle(&mut self) {
        for _ in 0..10 {
            for node in &mut self.nodes {
                node.end_pass();
            }
            while self.nodes.iter().any(|n| n.up && !n.appends.is_empty()) {
                let n = self.rng.below(self.nodes.len() as u64) as usize;
                self.deliver(n);
            }
            let len = self.log.len();
            for node in self.nodes.iter_mut().filter(|n| n.up) {
                node.apply(&self.log, len);
            }
            // Answers to password work wait for the next pass.
            if self
                .nodes
                .iter()
                .all(|n| !n.up || (n.appends.is_empty() && n.inputs.is_empty()))
            {
                return;
            }
        }
    }

    fn owner(&self, conn: ConnId) -> usize {
        self.nodes
            .iter()
            .position(|n| n.clients.contains(&conn))
            .unwrap_or_else(|| panic!("{conn} is not open on any node"))
    }

    /// A client of node `n` connects and registers as `nick`.
    fn user(&mut self, n: usize, nick: &str) -> ConnId {
        let now = self.now();
        let node = &mut self.nodes[n];
        let conn = node.connect(now).expect("the node has joined");
        node.line(conn, &format!("NICK {nick}"), now);
        node.line(conn, &format!("USER u{} 0 * :{nick}", conn.0), now);
        conn
    }

    fn say(&mut self, conn: ConnId, line: &str) {
        let now = self.now();
        let n = self.owner(conn);
        self.nodes[n].line(conn, line, now);
    }

    /// New lines `conn` was sent by its own node since last asked.
    fn take(&mut self, conn: ConnId) -> Vec<String> {
        let n = self
            .nodes
            .iter()
            .position(|n| n.tag == Some(tag_of(conn)) || n.clients.contains(&conn))
            .unwrap_or(0);
        let all = self.nodes[n].said.get(&conn).cloned().unwrap_or_default();
        let from = self.taken.insert(conn, all.len()).unwrap_or(0);
        all[from.min(all.len())..].to_vec()
    }

    fn crash(&mut self, n: usize) {
        self.nodes[n].up = false;
    }

    /// A surviving node notices `dead`'s lease ran out and appends its
    /// `NodeDown`, as the shell does.
    fn declare_down(&mut self, by: usize, dead: usize) {
        let tag = self.nodes[dead].tag.expect("the dead node had joined");
        let now = self.now();
        let reason = format!("Connection to node {} lost", self.nodes[dead].name);
        self.nodes[by]
            .appends
            .push_back(Entry::NodeDown { tag, reason, now });
    }

    /// Every running node's core made the same lines for every connection;
    /// a stopped node made a prefix of them.
    fn assert_cores_agree(&self, seed: u64) {
        let running: Vec<&Node> = self.nodes.iter().filter(|n| n.up).collect();
        let reference = &running[0].said;
        for node in &running[1..] {
            for (conn, lines) in reference {
                let theirs = node.said.get(conn).map(Vec::as_slice).unwrap_or_default();
                assert_eq!(
                    lines.as_slice(),
                    theirs,
                    "seed {seed}: {} and {} disagree about what {conn} was sent",
                    running[0].name,
                    node.name
                );
            }
            assert_eq!(reference.len(), node.said.len(), "seed {seed}");
        }
        for stopped in self.nodes.iter().filter(|n| !n.up) {
            for (conn, lines) in &stopped.said {
                let full = reference.get(conn).map(Vec::as_slice).unwrap_or_default();
                assert!(
                    full.starts_with(lines),
                    "seed {seed}: stopped node {} made lines for {conn} the others did not",
                    stopped.name
                );
            }
        }
    }
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

#[test]
fn people_on_different_nodes_share_a_room() {
    let mut c = Cluster::new(&["a", "b", "c"], 1);
    let alice = c.user(0, "alice");
    let bob = c.user(1, "bob");
    let carol = c.user(2, "carol");
    c.settle();
    for conn in [alice, bob, carol] {
        c.say(conn, "JOIN #lobby");
        c.settle();
    }
    c.say(alice, "PRIVMSG #lobby :hello from a");
    c.settle();
    for conn in [bob, carol] {
        let lines = c.take(conn);
        assert!(has(&lines, ":alice!"), "{lines:?}");
        assert!(has(&lines, "PRIVMSG #lobby :hello from a"), "{lines:?}");
    }
    c.say(carol, "NAMES #lobby");
    c.settle();
    let names: Vec<String> = c
        .take(carol)
        .into_iter()
        .filter(|l| l.contains(" 353 "))
        .collect();
    for nick in ["alice", "bob", "carol"] {
        assert!(
            has(&names, nick),
            "NAMES shows {nick} from another node: {names:?}"
        );
    }
    c.assert_cores_agree(1);
}

#[test]
fn a_private_message_and_whois_reach_across_nodes() {
    let mut c = Cluster::new(&["a", "b"], 2);
    let alice = c.user(0, "alice");
    let bob = c.user(1, "bob");
    c.settle();
    c.take(bob);
    c.say(alice, "PRIVMSG bob :psst");
    c.say(alice, "WHOIS bob");
    c.settle();
    let to_bob = c.take(bob);
    assert!(has(&to_bob, "PRIVMSG bob psst"), "{to_bob:?}");
    let whois = c.take(alice);
    assert!(has(&whois, " 311 alice bob "), "{whois:?}");
    assert!(
        has(&whois, " 312 alice bob b "),
        "bob's server is node b: {whois:?}"
    );
    c.say(alice, "WHOIS alice");
    c.say(alice, "LUSERS");
    c.settle();
    let lines = c.take(alice);
    assert!(has(&lines, " 312 alice alice a "), "{lines:?}");
    assert!(
        has(&lines, "There are 2 users and 0 invisible on 2 servers"),
        "{lines:?}"
    );
    assert!(has(&lines, "I have 1 clients and 1 servers"), "{lines:?}");
    assert!(has(&lines, "Current local users 1, max 2"), "{lines:?}");
    c.assert_cores_agree(2);
}

/// A client of node `n` connects, gives the server password and registers.
fn user_with_pass(c: &mut Cluster, n: usize, nick: &str, pass: &str) -> ConnId {
    let now = c.now();
    let node = &mut c.nodes[n];
    let conn = node.connect(now).expect("the node has joined");
    node.line(conn, &format!("PASS {pass}"), now);
    node.line(conn, &format!("NICK {nick}"), now);
    node.line(conn, &format!("USER u{} 0 * :{nick}", conn.0), now);
    conn
}

#[test]
fn passwords_stay_with_the_node_holding_the_connection_and_logins_work_across_nodes() {
    let mut config = config();
    config.password = Some("server-secret-1".into());
    config.sasl_plain_without_tls = true;
    let oper_hash = natter::net::password::hash_password_cheaply("oper-secret-2").expect("hashes");
    config.opers.insert("admin".into(), oper_hash);
    let mut c = Cluster::with_config(&["a", "b", "c"], 9, config);
    // Registered on node a, with NickServ.
    let alice = user_with_pass(&mut c, 0, "alice", "server-secret-1");
    c.settle();
    c.say(
        alice,
        "PRIVMSG NickServ :REGISTER account-secret-3 alice@example.org",
    );
    c.settle();
    let lines = c.take(alice);
    assert!(has(&lines, "registered"), "{lines:?}");
    // Logged in with SASL PLAIN on node b (before registering).
    let now = c.now();
    let b = &mut c.nodes[1];
    let sasl = b.connect(now).expect("joined");
    for line in [
        "PASS server-secret-1".to_string(),
        "AUTHENTICATE PLAIN".to_string(),
        format!(
            "AUTHENTICATE {}",
            natter::core::sasl::chunks(b"\0alice\0account-secret-3").remove(0)
        ),
    ] {
        b.line(sasl, &line, now);
    }
    c.settle();
    let lines = c.take(sasl);
    assert!(
        has(&lines, " 903 "),
        "SASL PLAIN succeeds on node b: {lines:?}"
    );
    // Identified with NickServ and made an operator on node c.
    let carol = user_with_pass(&mut c, 2, "carol", "server-secret-1");
    c.settle();
    c.say(carol, "PRIVMSG NickServ :IDENTIFY alice account-secret-3");
    c.say(carol, "OPER admin oper-secret-2");
    c.settle();
    let lines = c.take(carol);
    assert!(
        has(&lines, " 900 "),
        "IDENTIFY succeeds on node c: {lines:?}"
    );
    assert!(has(&lines, " 381 "), "OPER succeeds on node c: {lines:?}");
    // A wrong server password is refused the same everywhere.
    let wrong = user_with_pass(&mut c, 1, "mallory", "not-the-server-secret");
    c.settle();
    let lines = c.take(wrong);
    assert!(has(&lines, " 464 "), "{lines:?}");
    c.assert_cores_agree(9);
    let plain = natter::core::sasl::chunks(b"\0alice\0account-secret-3").remove(0);
    for secret in [
        "server-secret-1",
        "oper-secret-2",
        "account-secret-3",
        "not-the-server-secret",
        plain.trim_end_matches('='),
    ] {
        assert!(!log_holds(&c.log, secret), "the log holds {secret}");
    }
}

#[test]
fn two_nodes_racing_for_one_nick_a_thousand_times_give_it_to_one() {
    let mut c = Cluster::new(&["a", "b"], 3);
    for round in 0..1000 {
        let first = c.user(0, "racer");
        let second = c.user(1, "racer");
        c.settle();
        let won: Vec<bool> = [first, second]
            .iter()
            .map(|&conn| has(&c.take(conn), " 001 racer "))
            .collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one node hands out the nick ({won:?})"
        );
        c.say(first, "QUIT");
        c.say(second, "QUIT");
        let now = c.now();
        for n in 0..2 {
            for conn in [first, second] {
                c.nodes[n].disconnect(conn, now);
            }
        }
        c.settle();
    }
    c.assert_cores_agree(3);
}

#[test]
fn a_dead_nodes_users_quit_once_for_everyone() {
    let mut c = Cluster::new(&["a", "b", "c"], 4);
    let alice = c.user(0, "alice");
    let bob = c.user(1, "bob");
    let carol = c.user(2, "carol");
    c.settle();
    for conn in [alice, bob, carol] {
        c.say(conn, "JOIN #lobby");
    }
    c.settle();
    c.take(bob);
    c.take(carol);
    c.crash(0);
    // Both survivors notice; the log applies the first NodeDown only.
    c.declare_down(1, 0);
    c.declare_down(2, 0);
    c.settle();
    for conn in [bob, carol] {
        let quits: Vec<String> = c
            .take(conn)
            .into_iter()
            .filter(|l| l.contains(" QUIT "))
            .collect();
        assert_eq!(quits.len(), 1, "{quits:?}");
        assert!(quits[0].starts_with(":alice!"), "{quits:?}");
        assert!(quits[0].contains("Connection to node a lost"), "{quits:?}");
    }
    // The nick is free again, on any node.
    let again = c.user(1, "alice");
    c.settle();
    assert!(has(&c.take(again), " 001 alice "));
    c.assert_cores_agree(4);
}

#[test]
fn a_node_cut_off_past_its_lease_drops_its_people_and_joins_again() {
    let mut c = Cluster::new(&["a", "b"], 5);
    let alice = c.user(0, "alice");
    let bob = c.user(1, "bob");
    c.settle();
    c.say(alice, "JOIN #lobby");
    c.say(bob, "JOIN #lobby");
    c.settle();
    c.take(bob);
    // a is cut off: what alice says does not reach the log in time...
    c.nodes[0].up = false;
    c.say(alice, "PRIVMSG #lobby :are you there?");
    c.nodes[0].end_pass();
    c.declare_down(1, 0);
    c.settle();
    // ...then a is back: its late batch comes after its NodeDown.
    c.nodes[0].up = true;
    c.settle();
    let seen = c.take(bob);
    assert!(!has(&seen, "are you there?"), "{seen:?}");
    assert_eq!(seen.iter().filter(|l| l.contains(" QUIT ")).count(), 1);
    assert!(
        c.nodes[0].tag.is_some_and(|t| t == 3),
        "a joined again with a new tag"
    );
    let dave = c.user(0, "dave");
    c.settle();
    assert!(has(&c.take(dave), " 001 dave "));
    c.assert_cores_agree(5);
}

// ---------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------

const LINES: &[&str] = &[
    "JOIN #a",
    "JOIN #b",
    "JOIN #a,#b",
    "PART #a :bye",
    "PRIVMSG #a :hello",
    "PRIVMSG #a :how are you",
    "PRIVMSG #a,#b :both",
    "PRIVMSG #b :hi there",
    "NOTICE #a :note",
    "TOPIC #a :what we talk about",
    "MODE #a +m",
    "MODE #a -m",
    "MODE #a +v n1",
    "MODE #a +o n2",
    "KICK #a n3 :out",
    "WHOIS n0",
    "WHO #a",
    "NAMES #b",
    "LIST",
    "AWAY :lunch",
    "AWAY",
    "NICK n4",
    "NICK n5",
    "PRIVMSG n1 :psst",
    "PING :x",
    "CHATHISTORY LATEST #a * 10",
    "PRIVMSG NickServ :REGISTER sim-secret-1",
    "PRIVMSG NickServ :IDENTIFY sim-secret-1",
    "AUTHENTICATE PLAIN",
    // "\0n1\0sim-secret-2"
    "AUTHENTICATE AG4xAHNpbS1zZWNyZXQtMg==",
    "QUIT :done",
];

/// A node that starts from node `from`'s snapshot (taken now) instead of
/// the log's first entry, and what `from` had said to each connection by
/// then. It only follows the log (it never joins).
fn start_from_snapshot(c: &Cluster, from: usize) -> (Node, BTreeMap<ConnId, usize>) {
    let source = &c.nodes[from];
    let bytes = Snapshot::encode(&source.repl, &source.server).expect("no actions pending");
    let snapshot = Snapshot::decode(&bytes).expect("a snapshot reads back");
    assert_eq!(snapshot.seq, source.applied as u64);
    let mut late = Node::with_config("late", 99, config());
    late.appends.clear();
    late.up = false;
    late.applied = snapshot.seq as usize;
    late.server = snapshot.restore(&mut late.repl, config());
    let mark = source.said.iter().map(|(c, l)| (*c, l.len())).collect();
    (late, mark)
}

/// The passwords in [`LINES`] (and the PLAIN payload's base64 and its
/// password's), which no entry of the log may hold.
const SIM_SECRETS: &[&str] = &[
    "sim-secret-1",
    "sim-secret-2",
    "AG4xAHNpbS1zZWNyZXQtMg",
    "c2ltLXNlY3JldC0x",
    "c2ltLXNlY3JldC0y",
];

/// Whether any entry of `log`, as it goes over the wire, holds `secret`.
fn log_holds(log: &[Entry], secret: &str) -> bool {
    log.iter().any(|entry| {
        entry
            .encode()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    })
}

/// Runs one seed; returns how many room messages node a delivered.
fn run(seed: u64, steps: usize) -> usize {
    let mut c = Cluster::new(&["a", "b", "c"], seed);
    let mut crashed = false;
    let mut late = None;
    for step in 0..steps {
        if step == steps / 2 {
            late = Some(start_from_snapshot(&c, 0));
        }
        c.now_ms += c.rng.below(400);
        let now = c.now();
        let n = c.rng.below(3) as usize;
        match c.rng.below(100) {
            0..=9 => {
                if c.nodes[n].up && c.nodes[n].tag.is_some() {
                    let nick = format!("n{}", c.rng.below(30));
                    let conn = c.user(n, &nick);
                    c.say(conn, "JOIN #a");
                }
            }
            10..=49 => {
                let open = c.nodes[n].clients.len() as u64;
                if open > 0 {
                    let conn = c.nodes[n].clients[c.rng.below(open) as usize];
                    let line = *c.rng.pick(LINES);
                    c.nodes[n].line(conn, line, now);
                }
            }
            50..=52 => {
                let node = &mut c.nodes[n];
                if let Some(&conn) = node.clients.first() {
                    node.disconnect(conn, now);
                }
            }
            53..=62 => c.nodes[n].end_pass(),
            63..=84 => c.deliver(n),
            85..=94 => {
                if c.nodes[n].up {
                    let upto = c.nodes[n].applied + c.rng.below(8) as usize;
                    let log = std::mem::take(&mut c.log);
                    c.nodes[n].apply(&log, upto);
                    c.log = log;
                }
            }
            95..=98 => c.nodes[n].tick(now),
            _ => {
                if !crashed && n != 0 && c.nodes[n].tag.is_some() {
                    crashed = true;
                    c.crash(n);
                    c.declare_down(0, n);
                }
            }
        }
    }
    c.settle();
    c.assert_cores_agree(seed);
    // The node that started from a snapshot made, from then on, exactly the
    // lines node a made; and every node's state is the same bytes.
    let (mut late, mark) = late.expect("a snapshot was taken half-way");
    late.apply(&c.log, c.log.len());
    let late_lines: usize = late.said.values().map(Vec::len).sum();
    assert!(
        late_lines >= 20,
        "seed {seed}: the late node made only {late_lines} lines"
    );
    for (conn, lines) in &c.nodes[0].said {
        let since = &lines[mark.get(conn).copied().unwrap_or(0)..];
        let theirs = late.said.get(conn).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            since, theirs,
            "seed {seed}: the late node disagrees about {conn}"
        );
    }
    let state = |n: &Node| Snapshot::encode(&n.repl, &n.server).expect("no actions pending");
    for node in c.nodes.iter().filter(|n| n.up) {
        assert!(
            state(node) == state(&late),
            "seed {seed}: node {}'s state differs from the late node's",
            node.name
        );
    }
    for secret in SIM_SECRETS {
        assert!(
            !log_holds(&c.log, secret),
            "seed {seed}: the log holds {secret}"
        );
    }
    // The run did something worth agreeing about.
    let said = &c.nodes[0].said;
    let welcomed = said
        .values()
        .flatten()
        .filter(|l| l.contains(" 001 "))
        .count();
    let chatted = said
        .values()
        .flatten()
        .filter(|l| l.contains(" PRIVMSG #"))
        .count();
    if std::env::var("SIM_DEBUG").is_ok() {
        let mut kinds = BTreeMap::new();
        for l in said.values().flatten() {
            let k: String = l.split(' ').nth(1).unwrap_or("").to_string();
            *kinds.entry(k).or_insert(0) += 1;
        }
        eprintln!("{kinds:?}");
    }
    assert!(welcomed >= 5, "seed {seed}: only {welcomed} welcomed");
    // Nobody saw anyone quit twice.
    let survivor = c.nodes.iter().find(|n| n.up).expect("node a never crashes");
    for (conn, lines) in &survivor.said {
        let mut quits = BTreeMap::new();
        for line in lines.iter().filter(|l| l.contains(" QUIT ")) {
            let source = line.split(' ').next().unwrap_or_default().to_string();
            *quits.entry(source).or_insert(0) += 1;
        }
        for (source, count) in quits {
            assert!(
                count <= 1,
                "seed {seed}: {conn} saw {source} quit {count} times"
            );
        }
    }
    chatted
}

#[test]
fn every_node_makes_the_same_lines_whatever_the_interleaving() {
    let seeds: Vec<u64> = match std::env::var("NATTER_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("NATTER_SIM_SEED is a number")],
        Err(_) => (1..=40).collect(),
    };
    let runs = seeds.len();
    let chatted: usize = seeds.into_iter().map(|seed| run(seed, 1500)).sum();
    // Not a vacuous agreement: the rooms were busy.
    assert!(
        chatted >= 100 * runs,
        "only {chatted} room messages in {runs} runs"
    );
}
