//! natter nodes as one server, end to end: three `nats-server` processes
//! (Debian's, JetStream on, a real NATS cluster on loopback) and natter
//! nodes started from the built binary with `--cluster`, with IRC clients
//! on real sockets. Rooms, private messages, WHOIS and history across
//! nodes; one owner for a nick raced a thousand times; kill -9 of a node during a fanout
//! run; a NATS server killed under load; a node with other settings
//! refused. Every wait has a deadline (the clients' read timeout).

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/nats.rs"]
mod nats;
#[path = "common/scram_client.rs"]
mod scram_client;

use e2e::{temp_dir, Client, ServerProcess};
use nats::NatsCluster;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Starts a NATS cluster, or returns from the test (printing why) when
/// nats-server is not installed (never under CI: there it must be).
macro_rules! nats {
    () => {
        match NatsCluster::start(3) {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

/// A natter node of the cluster `nats`, named `name`, with a 3 s lease.
fn node(nats: &NatsCluster, name: &str, extra: &[&str]) -> ServerProcess {
    let dir = temp_dir(&format!("cluster-{name}"));
    let log = dir.join("server.log").to_string_lossy().into_owned();
    let server_name = format!("{name}.natter");
    let mut args: Vec<String> = [
        "--node-name",
        name,
        "--server-name",
        &server_name,
        "--cluster-lease",
        "3",
        "--flood-rate",
        "0",
        "--log-file",
        &log,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Each node lists the NATS servers in its own order (failover).
    let mut urls = nats.urls();
    let shift = name.bytes().map(usize::from).sum::<usize>() % urls.len();
    urls.rotate_left(shift);
    for url in urls {
        args.push("--cluster".into());
        args.push(url);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(&args)
}

fn kill_9(node: &mut ServerProcess) {
    node.child.kill().expect("kill -9 the node");
    let _ = node.child.wait();
}

/// The text of a PRIVMSG to `target` in `line` (with or without the
/// trailing colon, which servers may leave out of a one-word text).
fn text_of<'a>(line: &'a str, target: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(&format!(" PRIVMSG {target} "))?;
    Some(rest.strip_prefix(':').unwrap_or(rest))
}

/// Reads until a PRIVMSG to `target` with the text `text`.
fn until_said(client: &mut Client, target: &str, text: &str) -> Vec<String> {
    client.read_until(|l| text_of(l, target) == Some(text))
}

/// The `msgid` tag of `line`.
fn msgid_of(line: &str) -> Option<String> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';')
        .find_map(|t| t.strip_prefix("msgid="))
        .map(String::from)
}

/// Reads until a line containing `needle`; returns every line read.
fn until(client: &mut Client, needle: &str) -> Vec<String> {
    client.read_until(|l| l.contains(needle))
}

fn welcome(addr: SocketAddr, nick: &str) -> Client {
    let mut client = Client::connect(addr, nick);
    client.send("CAP REQ :message-tags server-time batch draft/chathistory echo-message");
    client.send(&format!("NICK {nick}"));
    client.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
    client.send("CAP END");
    client.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    client
}

#[test]
fn rooms_private_messages_and_whois_span_three_nodes() {
    let nats = nats!();
    let (a, b, c) = (
        node(&nats, "a", &[]),
        node(&nats, "b", &[]),
        node(&nats, "c", &[]),
    );
    let mut alice = Client::joined(a.addr, "alice", "#lobby");
    let mut bob = Client::joined(b.addr, "bob", "#lobby");
    let mut carol = Client::joined(c.addr, "carol", "#lobby");
    until(&mut alice, ":carol!");
    alice.send("PRIVMSG #lobby :hello from node a");
    for client in [&mut bob, &mut carol] {
        let line = until(client, "hello from node a").pop().unwrap_or_default();
        assert!(line.starts_with(":alice!"), "{line}");
    }
    carol.send("PRIVMSG alice :a word in private");
    let private = until(&mut alice, "a word in private")
        .pop()
        .unwrap_or_default();
    assert!(
        private.starts_with(":carol!") && private.contains("PRIVMSG alice"),
        "{private}"
    );
    alice.send("WHOIS bob");
    let whois = until(&mut alice, " 318 ");
    assert!(
        whois.iter().any(|l| l.contains(" 311 alice bob ")),
        "{whois:?}"
    );
    assert!(
        whois.iter().any(|l| l.contains(" 312 alice bob b ")),
        "WHOIS names bob's node: {whois:?}"
    );
    alice.send("LUSERS");
    let lusers = until(&mut alice, " 266 ");
    assert!(
        lusers.iter().any(|l| l.contains("on 3 servers")),
        "{lusers:?}"
    );
    bob.send("NAMES #lobby");
    let names = until(&mut bob, " 366 ");
    let listed: BTreeSet<&str> = names
        .iter()
        .filter(|l| l.contains(" 353 "))
        .flat_map(|l| l.rsplit(':').next().unwrap_or_default().split(' '))
        .map(|n| n.trim_start_matches(['@', '+']))
        .collect();
    assert_eq!(listed, BTreeSet::from(["alice", "bob", "carol"]));
}

#[test]
fn a_fanout_spread_over_three_nodes_arrives_whole_and_in_order() {
    use natter::bench::{run_fanout, Common, FanoutConfig};
    let nats = nats!();
    let nodes = [
        node(&nats, "a", &[]),
        node(&nats, "b", &[]),
        node(&nats, "c", &[]),
    ];
    // natter-bench -s A,B,C: clients round robin over the nodes.
    let report = run_fanout(&FanoutConfig {
        common: Common {
            addr: nodes[0].addr,
            more: vec![nodes[1].addr, nodes[2].addr],
            concurrency: 10,
            timeout: std::time::Duration::from_secs(60),
            ..Common::default()
        },
        members: 30,
        senders: 6,
        messages: 200,
        rate: None,
        window: 50,
    })
    .expect("a fanout run over the cluster");
    assert_eq!(report.expected_deliveries, 6 * 200 * 29);
    assert_eq!(report.deliveries, report.expected_deliveries);
    assert_eq!(
        (
            report.lost,
            report.reordered,
            report.duplicated,
            report.misrouted
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn an_account_registered_on_one_node_logs_in_on_another() {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    let nats = nats!();
    let (a, b) = (node(&nats, "a", &[]), node(&nats, "b", &[]));
    let mut alice = Client::register(a.addr, "alice");
    alice.send("PRIVMSG NickServ :REGISTER correct-horse alice@example.org");
    let registered = until(&mut alice, " 900 ");
    assert!(registered
        .last()
        .is_some_and(|l| l.ends_with("You are now logged in as alice")));
    alice.send("QUIT :moving to node b");
    alice.read_to_end();
    // The hash was made on node a; node b checks the password against it.
    let mut again = Client::connect(b.addr, "alice");
    again.start_sasl_registration();
    again.send("AUTHENTICATE PLAIN");
    until(&mut again, "AUTHENTICATE +");
    again.send(&format!(
        "AUTHENTICATE {}",
        B64.encode("\0alice\0correct-horse")
    ));
    let answer = again.read_until(|l| l.contains(" 903 ") || l.contains(" 904 "));
    assert!(
        answer.last().is_some_and(|l| l.contains(" 903 ")),
        "{answer:?}"
    );
    again.finish_registration();
    // A wrong password is refused on any node.
    let mut intruder = Client::connect(a.addr, "mallory");
    intruder.start_sasl_registration();
    intruder.send("AUTHENTICATE PLAIN");
    until(&mut intruder, "AUTHENTICATE +");
    intruder.send(&format!("AUTHENTICATE {}", B64.encode("\0alice\0wrong")));
    let refused = intruder.read_until(|l| l.contains(" 903 ") || l.contains(" 904 "));
    assert!(
        refused.last().is_some_and(|l| l.contains(" 904 ")),
        "{refused:?}"
    );
}

#[test]
fn when_nats_is_gone_users_are_told_and_nothing_is_lost_once_it_is_back() {
    let mut nats = nats!();
    let (a, b) = (node(&nats, "a", &[]), node(&nats, "b", &[]));
    let mut alice = Client::joined(a.addr, "alice", "#outage");
    let mut bob = Client::joined(b.addr, "bob", "#outage");
    until(&mut alice, ":bob!");
    for i in 0..3 {
        nats.kill(i);
    }
    let told = until(&mut alice, "lost contact with its cluster");
    assert!(
        told.last().is_some_and(|l| l.contains(" NOTICE ")),
        "{told:?}"
    );
    // Said while NATS is gone: it waits, it is not dropped or delivered early.
    alice.send("PRIVMSG #outage :said during the outage");
    // The outage lasts longer than the nodes' 3 s lease.
    std::thread::sleep(std::time::Duration::from_secs(6));
    for i in 0..3 {
        nats.start_again(i);
    }
    nats.wait_ready();
    alice.set_read_timeout(std::time::Duration::from_secs(60));
    bob.set_read_timeout(std::time::Duration::from_secs(60));
    until(&mut alice, "back in contact with its cluster");
    let heard = until_said(&mut bob, "#outage", "said during the outage");
    // Longer than the 3 s lease, and still nobody was declared gone.
    assert!(!heard.iter().any(|l| l.contains(" QUIT ")), "{heard:?}");
    bob.send("PRIVMSG #outage :welcome back");
    let back = until_said(&mut alice, "#outage", "welcome back");
    assert!(!back.iter().any(|l| l.contains(" QUIT ")), "{back:?}");
}

#[test]
fn history_comes_from_the_log_whichever_node_served_it() {
    let nats = nats!();
    let (a, b) = (node(&nats, "a", &[]), node(&nats, "b", &[]));
    let mut alice = Client::joined(a.addr, "alice", "#history");
    for i in 0..5 {
        alice.send(&format!("PRIVMSG #history :line {i}"));
    }
    alice.sync();
    // A node started after the talk rebuilds the room from the log.
    let c = node(&nats, "c", &[]);
    let mut dave = welcome(c.addr, "dave");
    dave.send("JOIN #history");
    until(&mut dave, " 366 ");
    dave.send("CHATHISTORY LATEST #history * 10");
    let batch = until(&mut dave, "BATCH -");
    let said: Vec<&str> = batch
        .iter()
        .filter_map(|l| text_of(l, "#history"))
        .collect();
    assert_eq!(
        said,
        ["line 0", "line 1", "line 2", "line 3", "line 4"],
        "{batch:?}"
    );
    drop(b);
}

#[test]
fn a_node_started_after_the_log_was_trimmed_starts_from_a_snapshot() {
    let nats = nats!();
    let every = ["--cluster-snapshot-every", "20"];
    let (a, b) = (node(&nats, "a", &every), node(&nats, "b", &every));
    let mut alice = Client::joined(a.addr, "alice", "#snap");
    let mut bob = Client::joined(b.addr, "bob", "#snap");
    alice.sync();
    alice.send("TOPIC #snap :kept in the snapshot");
    for i in 0..100 {
        alice.send(&format!("PRIVMSG #snap :m{i}"));
        until_said(&mut bob, "#snap", &format!("m{i}"));
    }
    // Five snapshots were due: the log is trimmed behind the older of
    // the newest two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut first = nats.log_starts_at();
    while first <= 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        first = nats.log_starts_at();
    }
    assert!(first > 20, "the log was not trimmed: it starts at {first}");

    // Node c can only know the early talk from a snapshot.
    let c = node(&nats, "c", &every);
    let mut dave = welcome(c.addr, "dave");
    dave.send("NICK alice");
    until(&mut dave, " 433 ");
    dave.send("JOIN #snap");
    let joined = until(&mut dave, " 366 ");
    assert!(
        joined
            .iter()
            .any(|l| l.contains(" 332 ") && l.contains("kept in the snapshot")),
        "{joined:?}"
    );
    let names = joined.iter().find(|l| l.contains(" 353 ")).expect("NAMES");
    assert!(names.contains("alice") && names.contains("bob"), "{names}");
    until(&mut dave, "BATCH -"); // the latest lines, replayed on join
    dave.send("CHATHISTORY LATEST #snap * 100");
    let batch = until(&mut dave, "BATCH -");
    let said: Vec<&str> = batch.iter().filter_map(|l| text_of(l, "#snap")).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(said, expected, "{batch:?}");
    // And it is one of the cluster: talk flows both ways.
    dave.send("PRIVMSG #snap :hello from c");
    until_said(&mut alice, "#snap", "hello from c");
    alice.send("PRIVMSG #snap :hello c");
    until_said(&mut dave, "#snap", "hello c");
}

#[test]
fn a_nick_raced_from_two_nodes_a_thousand_times_goes_to_one_each_time() {
    let nats = nats!();
    let (a, b) = (node(&nats, "a", &[]), node(&nats, "b", &[]));
    for round in 0..1000 {
        let nick = format!("racer{round}");
        let mut clients = [
            Client::connect(a.addr, &nick),
            Client::connect(b.addr, &nick),
        ];
        for client in &mut clients {
            client.send(&format!("NICK {nick}\r\nUSER r 0 * :r"));
        }
        let outcomes: Vec<bool> = clients
            .iter_mut()
            .map(|c| {
                let last = c.read_until(|l| l.contains(" 001 ") || l.contains(" 433 "));
                last.last().is_some_and(|l| l.contains(" 001 "))
            })
            .collect();
        assert_eq!(
            outcomes.iter().filter(|won| **won).count(),
            1,
            "round {round}: one node hands out {nick} ({outcomes:?})"
        );
    }
}

#[test]
fn kill_9_of_a_node_during_fanout_loses_nothing_anyone_was_sent() {
    let nats = nats!();
    let (a, mut b, c) = (
        node(&nats, "a", &[]),
        node(&nats, "b", &[]),
        node(&nats, "c", &[]),
    );
    let mut sender = Client::joined(a.addr, "sender", "#fanout");
    let mut on_b = welcome(b.addr, "onb");
    on_b.send("JOIN #fanout");
    until(&mut on_b, " 366 ");
    let mut on_c = welcome(c.addr, "onc");
    on_c.send("JOIN #fanout");
    until(&mut on_c, " 366 ");
    until(&mut sender, ":onc!");
    const TOTAL: usize = 400;
    for i in 0..TOTAL / 2 {
        sender.send(&format!("PRIVMSG #fanout :m{i}"));
    }
    // onb has received some of it when its node dies.
    let before = until_said(&mut on_b, "#fanout", "m50");
    assert!(before.iter().filter_map(|l| text_of(l, "#fanout")).count() >= 51);
    let last_msgid = before
        .iter()
        .rev()
        .find_map(|l| msgid_of(l))
        .expect("messages carry msgids");
    kill_9(&mut b);
    for i in TOTAL / 2..TOTAL {
        sender.send(&format!("PRIVMSG #fanout :m{i}"));
    }
    // Everyone else gets everything, in order, and onb's QUIT once.
    let seen = until_said(&mut on_c, "#fanout", &format!("m{}", TOTAL - 1));
    let got: Vec<&str> = seen.iter().filter_map(|l| text_of(l, "#fanout")).collect();
    let want: Vec<String> = (0..TOTAL).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    let quit = until(&mut sender, " QUIT ");
    assert!(
        quit.last().is_some_and(|l| l.starts_with(":onb!")),
        "{quit:?}"
    );
    // onb comes back on node c and gets the gap from history.
    let mut back = welcome(c.addr, "onb");
    back.send("JOIN #fanout");
    // The replay on join (the room's latest lines) comes first; then paging.
    back.sync();
    let mut gap: Vec<String> = Vec::new();
    let mut after = last_msgid;
    loop {
        // A page at a time, as clients do (the server sends at most 100).
        back.send(&format!("CHATHISTORY AFTER #fanout msgid={after} 100"));
        let page = until(&mut back, "BATCH -");
        let said: Vec<&String> = page
            .iter()
            .filter(|l| text_of(l, "#fanout").is_some())
            .collect();
        let Some(last) = said.last() else { break };
        after = msgid_of(last).expect("history lines carry msgids");
        gap.extend(
            said.iter()
                .filter_map(|l| text_of(l, "#fanout"))
                .map(String::from),
        );
    }
    let want_gap: Vec<String> = (51..TOTAL).map(|i| format!("m{i}")).collect();
    assert_eq!(gap, want_gap, "the gap after onb's last message, exactly");
    // onc saw onb quit once, whatever node noticed first.
    on_c.send("PING :done");
    let tail = until(&mut on_c, "PONG");
    let quits = seen
        .iter()
        .chain(&tail)
        .filter(|l| l.contains(" QUIT ") && l.contains(":onb!"))
        .count();
    assert_eq!(quits, 1);
}

#[test]
fn a_nats_server_killed_under_load_pauses_and_loses_nothing() {
    let mut nats = nats!();
    let (a, b) = (node(&nats, "a", &[]), node(&nats, "b", &[]));
    let mut sender = Client::joined(a.addr, "sender", "#steady");
    let mut receiver = Client::joined(b.addr, "receiver", "#steady");
    until(&mut sender, ":receiver!");
    const TOTAL: usize = 300;
    for i in 0..TOTAL / 3 {
        sender.send(&format!("PRIVMSG #steady :n{i}"));
    }
    until_said(&mut receiver, "#steady", &format!("n{}", TOTAL / 3 - 1));
    nats.kill(0);
    let killed = std::time::Instant::now();
    for i in TOTAL / 3..TOTAL {
        sender.send(&format!("PRIVMSG #steady :n{i}"));
    }
    // A pause while NATS elects new leaders (NATS 2.9: up to ~15 s when
    // the killed server led the JetStream cluster), then everything.
    receiver.set_read_timeout(std::time::Duration::from_secs(60));
    let seen = until_said(&mut receiver, "#steady", &format!("n{}", TOTAL - 1));
    eprintln!(
        "delivery resumed {:?} after the NATS server was killed",
        killed.elapsed()
    );
    let got: Vec<&str> = seen.iter().filter_map(|l| text_of(l, "#steady")).collect();
    let want: Vec<String> = (TOTAL / 3..TOTAL).map(|i| format!("n{i}")).collect();
    assert_eq!(got, want);
}

#[test]
fn a_node_with_other_chat_settings_is_refused_with_the_reason() {
    let nats = nats!();
    let _a = node(&nats, "a", &[]);
    let b = node(&nats, "b", &["--flood-burst", "3"]);
    let (status, stderr) = wait_exit(b);
    assert!(!status.success());
    let said = stderr.join("\n");
    assert!(said.contains("other chat settings"), "{said}");
}

/// Waits (bounded) for a node to exit by itself.
fn wait_exit(mut node: ServerProcess) -> (std::process::ExitStatus, Vec<String>) {
    let deadline = std::time::Instant::now() + e2e::READ_TIMEOUT;
    loop {
        if let Some(status) = node.child.try_wait().expect("wait for the node") {
            let stderr = node.take_stderr();
            return (status, stderr);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every entry of the cluster's log, as NATS stores it (read straight from
/// the stream `NATTER_LOG`, not through natter).
fn raw_log(nats: &NatsCluster) -> Vec<Vec<u8>> {
    nats.with_jetstream(0, |js| async move {
        let mut stream = js.get_stream("NATTER_LOG").await.expect("the log exists");
        let info = stream.info().await.expect("the log's state");
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut entries = Vec::new();
        for seq in first..=last {
            let message = stream.get_raw_message(seq).await.expect("an entry");
            entries.push(message.payload.to_vec());
        }
        entries
    })
}

/// Reads `client`'s lines until one has `code` as its numeric (or holds
/// `fail`, the failure's words); asserts it was `code`.
fn answered(client: &mut Client, code: &str, fail: &str) -> Vec<String> {
    let code = format!(" {code} ");
    let lines = client.read_until(|l| l.contains(&code) || l.contains(fail));
    assert!(
        lines.last().is_some_and(|l| l.contains(&code)),
        "expected{code}: {lines:#?}"
    );
    lines
}

#[test]
fn no_password_reaches_the_nats_log_and_every_login_still_works_across_nodes() {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    let server_pw = "server-secret-e2e";
    let oper_pw = "oper-secret-e2e";
    // 295 bytes: the SASL PLAIN payload takes two AUTHENTICATE chunks.
    let account_pw = format!("account-secret-e2e-{}", "q".repeat(276));
    let oper_hash = natter::net::password::hash_password_cheaply(oper_pw).expect("hashes");
    let oper = format!("admin:{oper_hash}");
    let nats = nats!();
    let extra = ["--password", server_pw, "--oper", oper.as_str()];
    let (a, b, c) = (
        node(&nats, "a", &extra),
        node(&nats, "b", &extra),
        node(&nats, "c", &extra),
    );

    // Registered on node a with NickServ.
    let mut alice = Client::connect(a.addr, "alice");
    alice.send(&format!("PASS {server_pw}"));
    alice.send("NICK alice");
    alice.send("USER alice 0 * :alice");
    alice.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    alice.send(&format!(
        "PRIVMSG NickServ :REGISTER {account_pw} alice@example.org"
    ));
    answered(&mut alice, "900", " FAIL ");
    alice.send("QUIT :moving to node b");
    alice.read_to_end();

    // Logged in with SASL PLAIN (two chunks) on node b.
    let mut again = Client::connect(b.addr, "alice");
    again.send(&format!("PASS {server_pw}"));
    again.start_sasl_registration();
    again.send("AUTHENTICATE PLAIN");
    until(&mut again, "AUTHENTICATE +");
    let payload = format!("\0alice\0{account_pw}");
    let chunks = natter::core::sasl::chunks(payload.as_bytes());
    assert_eq!(chunks.len(), 2, "{chunks:?}");
    for chunk in &chunks {
        again.send(&format!("AUTHENTICATE {chunk}"));
    }
    answered(&mut again, "903", " 904 ");
    again.finish_registration();

    // Identified with NickServ, then an operator, on node c.
    let mut carol = Client::connect(c.addr, "carol");
    carol.send(&format!("PASS {server_pw}"));
    carol.send("NICK carol");
    carol.send("USER carol 0 * :carol");
    carol.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    carol.send(&format!("PRIVMSG NickServ :IDENTIFY alice {account_pw}"));
    answered(&mut carol, "900", "Invalid password");
    carol.send(&format!("OPER admin {oper_pw}"));
    answered(&mut carol, "381", " 464 ");

    // Logged in with SCRAM-SHA-256 on node c: the proof is checked there.
    let mut scram = Client::connect(c.addr, "alice2");
    scram.send(&format!("PASS {server_pw}"));
    scram.start_sasl_registration();
    scram.send("AUTHENTICATE SCRAM-SHA-256");
    until(&mut scram, "AUTHENTICATE +");
    let first = B64.encode(scram_client::client_first("alice", "e2eclientnonce"));
    scram.send(&format!("AUTHENTICATE {first}"));
    let server_first = until(&mut scram, "AUTHENTICATE ").pop().unwrap_or_default();
    let server_first = server_first.rsplit(' ').next().unwrap_or_default();
    let server_first = String::from_utf8(B64.decode(server_first).expect("base64")).expect("utf-8");
    let (client_final, server_final) =
        scram_client::finish("alice", &account_pw, "e2eclientnonce", &server_first);
    scram.send(&format!("AUTHENTICATE {}", B64.encode(&client_final)));
    let proved = until(&mut scram, "AUTHENTICATE ").pop().unwrap_or_default();
    assert!(
        proved.ends_with(&B64.encode(&server_final)),
        "node c proves it holds alice's keys: {proved}"
    );
    scram.send("AUTHENTICATE +");
    answered(&mut scram, "903", " 904 ");
    let proof = client_final
        .rsplit_once("p=")
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();

    // A wrong server password is refused.
    let mut mallory = Client::connect(b.addr, "mallory");
    mallory.send("PASS wrong-server-secret");
    mallory.send("NICK mallory");
    mallory.send("USER mallory 0 * :mallory");
    answered(&mut mallory, "464", " 001 ");

    // Everyone's lines are in the log by now (each answer came from it).
    let log = raw_log(&nats);
    let all: Vec<u8> = log.concat();
    let holds = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        holds("PRIVMSG NickServ :IDENTIFY alice *") && holds("c=biws,r=e2eclientnonce"),
        "the log has the sealed lines ({} entries)",
        log.len()
    );
    assert!(proof.len() >= 40, "a proof to look for: {proof}");
    for secret in [
        server_pw.to_string(),
        oper_pw.to_string(),
        "wrong-server-secret".to_string(),
        "account-secret-e2e".to_string(),
        account_pw.clone(),
        B64.encode(&account_pw),
        B64.encode(server_pw),
        B64.encode(oper_pw),
        chunks[0].clone(),
        B64.encode(&payload),
        proof.clone(),
        B64.encode(&client_final),
    ] {
        assert!(!holds(&secret), "the NATS log holds {secret:?}");
    }
}
