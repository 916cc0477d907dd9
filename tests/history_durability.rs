//! Durable history end to end: the real server with its SQLite store.
//! Messages come back after a restart; every message any client was sent
//! survives `kill -9` of the server binary; a locked or damaged database
//! stops the server at startup with an error naming the file; a disk that
//! fills up while the server runs is reported and chat goes on.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{server_options, start_with, temp_dir, Client, ServerProcess};
use natter::net::{RunningServer, StoreOptions};
use natter::proto::Message;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn store(dir: &Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_path_buf(),
        max_messages: 100_000,
        max_age_secs: 0,
        fsync: false,
    }
}

fn start_persistent(dir: &Path) -> RunningServer {
    let mut options = server_options(natter::net::DEFAULT_SENDQ, None);
    options.store = Some(store(dir));
    options.config.flood_lines_per_sec = 0;
    start_with(options)
}

/// Registers with every history capability and joins `room`.
fn history_client(addr: SocketAddr, nick: &str, room: &str) -> Client {
    let mut c = Client::connect(addr, nick);
    c.send("CAP REQ :message-tags server-time batch draft/chathistory");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("CAP END");
    c.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    c.send(&format!("JOIN {room}"));
    c.read_until(|l| l.contains(" 366 "));
    c.sync();
    c
}

/// Every PRIVMSG text in `room`'s history, paging back with CHATHISTORY.
fn all_history(c: &mut Client, room: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    let mut query = format!("CHATHISTORY LATEST {room} * 100");
    loop {
        c.send(&query);
        let lines = c.read_until(|l| l.contains(" BATCH -") || l.contains("FAIL "));
        let page: Vec<Message> = lines
            .iter()
            .filter_map(|l| Message::parse(l).ok())
            .filter(|m| m.command == "PRIVMSG")
            .collect();
        let Some(oldest) = page
            .first()
            .and_then(|m| m.tag("msgid"))
            .map(str::to_string)
        else {
            return all;
        };
        let texts: Vec<String> = page.iter().map(|m| m.param(1).to_string()).collect();
        all.splice(0..0, texts);
        query = format!("CHATHISTORY BEFORE {room} msgid={oldest} 100");
    }
}

#[test]
fn a_client_sends_disconnects_reconnects_and_gets_its_messages_back() {
    let dir = temp_dir("history-reconnect");
    let server = start_persistent(&dir);
    let mut alice = Client::joined(server.local_addr(), "alice", "#lobby");
    alice.send("PRIVMSG #lobby :remember the milk");
    alice.send("PRIVMSG #lobby :and the eggs");
    alice.sync();
    alice.vanish();
    server.shutdown();

    let server = start_persistent(&dir);
    let mut alice = Client::register(server.local_addr(), "alice");
    alice.send("JOIN #lobby");
    let lines = alice.read_until(|l| l.contains("End of history"));
    let texts: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains(" PRIVMSG #lobby :"))
        .map(|l| l.rsplit("] ").next().unwrap_or(""))
        .collect();
    assert_eq!(texts, ["remember the milk", "and the eggs"]);
    server.shutdown();
}

#[test]
fn a_second_server_on_the_same_data_dir_fails_at_startup_naming_the_file() {
    let dir = temp_dir("history-locked");
    let _first = start_persistent(&dir);
    let mut options = server_options(natter::net::DEFAULT_SENDQ, None);
    options.store = Some(store(&dir));
    let error = match RunningServer::start(options) {
        Ok(_) => panic!("two servers must not share one history database"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("history.sqlite3"), "{error}");
    assert!(error.contains("in use by another process"), "{error}");
}

#[test]
fn a_damaged_database_fails_at_startup_naming_the_file_and_what_to_do() {
    let dir = temp_dir("history-corrupt");
    std::fs::write(
        dir.join("history.sqlite3"),
        b"this is not sqlite at all".repeat(200),
    )
    .expect("write file");
    let mut options = server_options(natter::net::DEFAULT_SENDQ, None);
    options.store = Some(store(&dir));
    let error = match RunningServer::start(options) {
        Ok(_) => panic!("a damaged database must stop the server"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("history.sqlite3"), "{error}");
    assert!(error.contains("move it aside"), "{error}");
}

fn binary_args(dir: &Path) -> Vec<String> {
    vec![
        "--log-file".into(),
        dir.join("server.log").display().to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--flood-rate".into(),
        "0".into(),
        "--history-max-messages".into(),
        "1000000".into(),
    ]
}

fn start_binary(dir: &Path, fsync: bool) -> ServerProcess {
    let mut args = binary_args(dir);
    if fsync {
        args.push("--fsync".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(&args)
}

/// One SIGKILL run: a sender floods #fan while three listeners read; the
/// server (with `--fsync` or without) is killed a seeded delay after the
/// first listener received a message (a slow disk under `--fsync` must not
/// let the kill come before anything was delivered).
/// Returns (messages received by some listener, messages in history after
/// a restart, messages SQLite held at the kill).
fn kill_run(seed: u64, dir: &Path, fsync: bool) -> (BTreeSet<String>, BTreeSet<String>, usize) {
    let mut server = start_binary(dir, fsync);
    let addr = server.addr;
    let first_delivered = Arc::new(AtomicBool::new(false));
    let listeners: Vec<_> = (0..3)
        .map(|i| {
            let mut c = Client::joined(addr, &format!("ear{seed}x{i}"), "#fan");
            c.sync();
            let first_delivered = first_delivered.clone();
            std::thread::spawn(move || {
                let mut got = BTreeSet::new();
                while let Some(line) = c.read_line() {
                    let Ok(msg) = Message::parse(&line) else {
                        continue;
                    };
                    if msg.command == "PRIVMSG" && msg.param(1).starts_with('s') {
                        got.insert(msg.param(1).to_string());
                        first_delivered.store(true, Ordering::Relaxed);
                    }
                }
                got
            })
        })
        .collect();
    let mut mouth = Client::joined(addr, &format!("mouth{seed}"), "#fan");
    let sender = std::thread::spawn(move || {
        for i in 0..20_000 {
            let line = format!("PRIVMSG #fan :s{seed}-{i}\r\n");
            if mouth.try_send_raw(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !first_delivered.load(Ordering::Relaxed) {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: no listener got a message within a minute"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // A seeded "random" moment during the fanout (SplitMix64 of the seed).
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    std::thread::sleep(Duration::from_millis((z ^ (z >> 31)) % 40));
    server.child.kill().expect("SIGKILL the server");
    let _ = server.child.wait();
    let _ = sender.join();
    let mut received = BTreeSet::new();
    for l in listeners {
        received.extend(l.join().expect("listener thread"));
    }
    drop(server);
    // What SQLite itself held at the kill; the rest must come back from
    // the journal.
    let in_sqlite = sqlite_messages(dir);
    let server = start_binary(dir, false);
    let mut reader = history_client(server.addr, &format!("reader{seed}"), "#fan");
    let history: BTreeSet<String> = all_history(&mut reader, "#fan")
        .into_iter()
        .filter(|t| t.starts_with(&format!("s{seed}-")))
        .collect();
    (received, history, in_sqlite)
}

/// How many room messages the history database holds, read straight from
/// the file (no server running).
fn sqlite_messages(dir: &Path) -> usize {
    let db = rusqlite::Connection::open(dir.join("history.sqlite3")).expect("open the database");
    db.query_row("SELECT COALESCE(SUM(count), 0) FROM blocks", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as usize)
    .unwrap_or(0)
}

#[test]
fn every_message_a_client_received_survives_kill_9_of_the_server() {
    let seeds: Vec<u64> = match std::env::var("NATTER_KILL_SEED") {
        Ok(s) => vec![s.parse().expect("NATTER_KILL_SEED is a number")],
        Err(_) => vec![1, 2, 3, 4, 5],
    };
    let mut checked = 0;
    let mut replayed = 0;
    for &seed in &seeds {
        let dir = temp_dir(&format!("history-kill-{seed}"));
        let (received, history, in_sqlite) = kill_run(seed, &dir, false);
        let lost: Vec<&String> = received.difference(&history).collect();
        assert!(
            lost.is_empty(),
            "seed {seed} (replay: NATTER_KILL_SEED={seed}): {} of {} received messages \
             are missing from history after kill -9, e.g. {:?}",
            lost.len(),
            received.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
        checked += received.len();
        replayed += history.len().saturating_sub(in_sqlite);
        eprintln!(
            "seed {seed}: {} messages received before SIGKILL, all in history ({} stored, \
             {in_sqlite} of them in SQLite at the kill, the rest replayed from the journal)",
            received.len(),
            history.len()
        );
    }
    eprintln!("{} kills, {checked} received messages checked", seeds.len());
    assert!(checked > 0, "no client received anything before the kills");
    assert!(
        replayed > 0,
        "every message was already in SQLite at the kill: the journal replay went untested"
    );
}

/// With `--fsync` the journal has a thread of its own (the core task
/// writes it otherwise): the promise holds the same.
#[test]
fn with_fsync_every_message_a_client_received_survives_kill_9_of_the_server() {
    let mut checked = 0;
    for seed in [11, 13] {
        let dir = temp_dir(&format!("history-kill-fsync-{seed}"));
        let (received, history, _) = kill_run(seed, &dir, true);
        let lost: Vec<&String> = received.difference(&history).collect();
        assert!(
            lost.is_empty(),
            "seed {seed}, --fsync: {} of {} received messages are missing from history \
             after kill -9, e.g. {:?}",
            lost.len(),
            received.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
        checked += received.len();
        eprintln!(
            "seed {seed}, --fsync: {} messages received before SIGKILL, all in history",
            received.len()
        );
    }
    assert!(checked > 0, "no client received anything before the kills");
}

/// A disk that fills up mid-chat, made real with a file-size limit: every
/// file the server writes is capped at 256 KiB (RLIMIT_FSIZE, set by
/// util-linux's `prlimit`; a new history.sqlite3, with its 16 KiB pages,
/// starts at about 192 KiB), so the journal and the databases each stop
/// growing. Each group of ten messages is delivered before the next is
/// sent, so each is its own commit and dozens of commits fail.
#[test]
fn a_disk_that_fills_up_is_reported_once_and_live_chat_goes_on() {
    const LIMIT: &str = "--fsize=262144";
    let dir = temp_dir("history-disk-full");
    let args = binary_args(&dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start_under(&["prlimit", LIMIT, "--"], &args);
    let mut ear = Client::joined(server.addr, "ear", "#full");
    ear.sync();
    let mut mouth = Client::joined(server.addr, "mouth", "#full");
    mouth.sync();
    // Short texts: server.log (also capped) holds each in ~40 bytes, the
    // database in well over 100 with its indexes, so the database fills first.
    let sent: Vec<String> = (0..5000).map(|i| format!("m{i}")).collect();
    let mut heard = Vec::new();
    for group in sent.chunks(10) {
        for text in group {
            mouth.send(&format!("PRIVMSG #full :{text}"));
        }
        let last = &group[group.len() - 1];
        let lines = ear.read_until(|l| Message::parse(l).is_ok_and(|m| m.param(1) == last));
        heard.extend(
            lines
                .iter()
                .filter_map(|l| Message::parse(l).ok())
                .filter(|m| m.command == "PRIVMSG")
                .map(|m| m.param(1).to_string()),
        );
    }
    assert_eq!(heard, sent, "live chat lost or reordered messages");
    drop((ear, mouth));
    let (status, stderr) = server.terminate();
    assert!(status.success(), "exit {status:?}; stderr: {stderr:#?}");
    let reports: Vec<&String> = stderr.iter().filter(|l| l.contains("history")).collect();
    assert!(
        reports
            .iter()
            .any(|l| l.contains("cannot store history in") && l.contains("history.sqlite3")),
        "no report naming the database; stderr: {stderr:#?}"
    );
    assert!(
        reports.len() <= 4,
        "the failure is reported once, not per commit: {reports:#?}"
    );

    // Without the limit, the database opens and holds an in-order part of
    // the conversation: what was committed before the disk filled up.
    let server = start_binary(&dir, false);
    let mut reader = history_client(server.addr, "reader", "#full");
    let history = all_history(&mut reader, "#full");
    eprintln!(
        "{} of {} messages stored before the disk filled up; reports: {reports:#?}",
        history.len(),
        sent.len()
    );
    let mut rest = sent.iter();
    assert!(
        history.iter().all(|h| rest.any(|s| s == h)),
        "history is not an in-order part of what was sent: {history:?}"
    );
    assert!(
        history.len() >= 10 && history.len() < sent.len() - 100,
        "expected the first messages stored and many after the limit lost, \
         got {} of {}",
        history.len(),
        sent.len()
    );
}
