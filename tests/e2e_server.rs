//! natter-server end to end over real TCP on 127.0.0.1: the smol shell
//! (in-process on an ephemeral port, or the built binary) with plain
//! blocking socket clients.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{
    count, python_irc_client_available, start_server, strip_timestamp, temp_dir, Client,
    ServerProcess,
};
use natter::net::DEFAULT_SENDQ;
use natter::proto::Message;

fn parse(line: &str) -> Message {
    Message::parse(line).unwrap_or_else(|e| panic!("server sent a bad line {line:?}: {e:?}"))
}

/// John, then Jane, in #lobby; John has seen Jane join.
fn john_and_jane(addr: std::net::SocketAddr) -> (Client, Client) {
    let mut john = Client::joined(addr, "John", "#lobby");
    let jane = Client::joined(addr, "Jane", "#lobby");
    john.read_until(|l| l.starts_with(":Jane!") && l.contains(" JOIN "));
    (john, jane)
}

/// The texts of the PRIVMSGs among `lines`, in order.
fn privmsg_texts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| parse(l))
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1).to_string())
        .collect()
}

#[test]
fn two_clients_chat_and_each_sees_the_others_lines_exactly_once() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let (mut john, mut jane) = john_and_jane(addr);

    for i in 0..3 {
        john.send(&format!("PRIVMSG #lobby :from John {i}"));
        jane.send(&format!("PRIVMSG #lobby :from Jane {i}"));
    }
    let mut seen_by_john = john.read_until(|l| l.ends_with("from Jane 2"));
    let mut seen_by_jane = jane.read_until(|l| l.ends_with("from John 2"));
    // Both have sent everything; a PING round trip each collects any duplicate.
    seen_by_john.extend(john.sync());
    seen_by_jane.extend(jane.sync());

    for i in 0..3 {
        let jane_line = format!(":Jane!jane@127.0.0.1 PRIVMSG #lobby :from Jane {i}");
        let john_line = format!(":John!john@127.0.0.1 PRIVMSG #lobby :from John {i}");
        assert_eq!(count(&seen_by_john, &jane_line), 1, "{seen_by_john:#?}");
        assert_eq!(count(&seen_by_jane, &john_line), 1, "{seen_by_jane:#?}");
    }
    assert_eq!(
        count(&seen_by_john, "from John"),
        0,
        "no echo without echo-message"
    );
    assert_eq!(
        count(&seen_by_jane, "from Jane"),
        0,
        "no echo without echo-message"
    );
}

#[test]
fn members_see_joins_parts_and_quits_with_their_reasons() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut john = Client::joined(addr, "John", "#lobby");
    let mut jane = Client::joined(addr, "Jane", "#lobby");
    let joined = john.read_until(|l| l.contains(" JOIN "));
    assert_eq!(
        joined.last().map(String::as_str),
        Some(":Jane!jane@127.0.0.1 JOIN #lobby")
    );

    jane.send("PART #lobby :brb");
    let parted = john.read_until(|l| l.contains(" PART "));
    let part = parse(parted.last().expect("read_until returns the match"));
    assert_eq!(part.source.as_deref(), Some("Jane!jane@127.0.0.1"));
    assert_eq!(part.params, ["#lobby", "brb"]);

    jane.send("JOIN #lobby");
    john.read_until(|l| l.starts_with(":Jane!") && l.contains(" JOIN "));
    jane.send("QUIT :bye");
    let quit = john.read_until(|l| l.contains(" QUIT "));
    let quit = parse(quit.last().expect("read_until returns the match"));
    assert_eq!(quit.source.as_deref(), Some("Jane!jane@127.0.0.1"));
    assert_eq!(quit.params, ["Quit: bye"]);
    let rest = jane.read_to_end();
    assert!(
        rest.iter().any(|l| l.starts_with("ERROR :Closing Link")),
        "Jane is told her link is closed: {rest:#?}"
    );
}

#[test]
fn abrupt_disconnect_mid_line_is_announced_once_and_the_server_keeps_serving() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut john = Client::joined(addr, "John", "#lobby");
    let mut jane = Client::joined(addr, "Jane", "#lobby");
    let mut bob = Client::joined(addr, "Bob", "#lobby");
    bob.send_raw(b"PRIVMSG #lobby :half a li");
    bob.vanish();

    let mut seen = john.read_until(|l| l.starts_with(":Bob!") && l.contains(" QUIT "));
    jane.read_until(|l| l.starts_with(":Bob!") && l.contains(" QUIT "));
    jane.send("PRIVMSG #lobby :still here");
    seen.extend(john.read_until(|l| l.ends_with(":still here")));
    seen.extend(john.sync());
    assert_eq!(count(&seen, ":Bob!bob@127.0.0.1 QUIT "), 1, "{seen:#?}");
    assert_eq!(
        count(&seen, "half a li"),
        0,
        "a half line is never delivered"
    );

    let mut carol = Client::joined(addr, "Carol", "#lobby");
    carol.send("PRIVMSG #lobby :hello after the drop");
    john.read_until(|l| l == ":Carol!carol@127.0.0.1 PRIVMSG #lobby :hello after the drop");
}

#[test]
fn over_long_line_gets_417_and_the_connection_keeps_working() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let (mut john, mut jane) = john_and_jane(addr);

    jane.send(&format!("PRIVMSG #lobby :{}", "x".repeat(5000)));
    let reply = jane.read_until(|l| l.contains(" 417 "));
    assert_eq!(
        reply.last().map(String::as_str),
        Some(":natter 417 Jane :Input line was too long")
    );
    jane.send("PRIVMSG #lobby :short and sweet");
    let seen = john.read_until(|l| l.ends_with(":short and sweet"));
    assert_eq!(
        count(&seen, "xxxx"),
        0,
        "the over-long line is not delivered"
    );
}

#[test]
fn bad_lines_inside_one_write_are_refused_in_place_and_the_good_ones_around_them_go_out_in_order() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let (mut john, mut jane) = john_and_jane(addr);

    // One write, so the server reads these together.
    let mut burst = Vec::new();
    burst.extend_from_slice(b"PRIVMSG #lobby :first\r\n");
    burst.extend_from_slice(format!("PRIVMSG #lobby :{}\r\n", "x".repeat(5000)).as_bytes());
    burst.extend_from_slice(b"PRIVMSG #lobby :second\r\n");
    burst.extend_from_slice(b"PRIVMSG #lobby :\xff\xfe not utf-8\r\n");
    burst.extend_from_slice(b"PRIVMSG #lobby :third\r\n");
    jane.send_raw(&burst);

    let replies = jane.read_until(|l| l.contains("not valid UTF-8"));
    assert_eq!(count(&replies, " 417 Jane "), 1, "{replies:?}");
    let seen = privmsg_texts(&john.read_until(|l| parse(l).param(1) == "third"));
    assert_eq!(seen, ["first", "second", "third"]);
}

#[test]
fn hundreds_of_lines_in_one_write_reach_the_room_in_order() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let (mut john, mut jane) = john_and_jane(addr);

    // Within the flood burst (500 lines), and far more than one input to
    // the core holds, so the server splits them and must keep the order.
    let sent: Vec<String> = (0..400).map(|i| format!("n{i}")).collect();
    let burst: String = sent
        .iter()
        .map(|t| format!("PRIVMSG #lobby :{t}\r\n"))
        .collect();
    jane.send_raw(burst.as_bytes());
    let seen = privmsg_texts(&john.read_until(|l| parse(l).param(1) == "n399"));
    assert_eq!(seen, sent);
}

#[test]
fn a_listeners_lines_that_gather_all_arrive_in_order_while_the_talker_is_answered_at_once() {
    // A long coalescing interval: every line John gets after the first
    // waits for the one timer that wakes gathering writers.
    let server = e2e::start_with(natter::net::ServerOptions {
        coalesce: std::time::Duration::from_millis(300),
        ..e2e::server_options(DEFAULT_SENDQ, None)
    });
    let addr = server.local_addr();
    let (mut john, mut jane) = john_and_jane(addr);

    // Jane talks one line at a time and waits for the server's answer to
    // each (her PING): she has spoken, so she is never kept waiting.
    let sent: Vec<String> = (0..30).map(|i| format!("trickle {i}")).collect();
    for text in &sent {
        jane.send(&format!("PRIVMSG #lobby :{text}"));
        jane.sync();
    }
    let seen = privmsg_texts(&john.read_until(|l| parse(l).param(1) == "trickle 29"));
    assert_eq!(
        seen, sent,
        "John, only listening, gets every line once, in order"
    );

    // John speaks: what he is sent next is not held for his old trickle.
    john.send("PRIVMSG #lobby :I am here");
    john.sync();
    let heard = privmsg_texts(&jane.read_until(|l| parse(l).param(1) == "I am here"));
    assert_eq!(heard, ["I am here"]);
    server.shutdown();
}

#[test]
fn lines_past_the_flood_burst_are_delayed_by_the_shells_timer_and_all_arrive_in_order() {
    // 100 lines a second, 10 at once: 200 lines in one write take about
    // 1.9 s, paced by Server::poll_timeout's deadlines (fakelag), and none
    // is dropped.
    let mut options = e2e::server_options(DEFAULT_SENDQ, None);
    options.config.flood_lines_per_sec = 100;
    options.config.flood_burst_lines = 10;
    let server = e2e::start_with(options);
    let addr = server.local_addr();
    let (mut john, mut jane) = john_and_jane(addr);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sent: Vec<String> = (0..200).map(|i| format!("p{i}")).collect();
    let burst: String = sent
        .iter()
        .map(|t| format!("PRIVMSG #lobby :{t}\r\n"))
        .collect();
    let started = std::time::Instant::now();
    jane.send_raw(burst.as_bytes());
    let seen = privmsg_texts(&john.read_until(|l| parse(l).param(1) == "p199"));
    assert_eq!(seen, sent);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "paced, not all at once: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_that_never_reads_is_cut_off_for_sendq_while_everyone_else_gets_every_line_in_order() {
    // About 8 MB in all: twice what Linux's socket buffers can hold for a
    // client that never reads (up to 4 MB with send-buffer autotuning), so
    // the server's own SendQ must fill.
    const LINES: usize = 20_000;
    // The sender waits for the healthy readers after each chunk, so they are
    // never more than a chunk (~100 KB) behind: well inside their SendQ.
    const CHUNK: usize = 250;
    const SENDQ: usize = 256 * 1024;
    let dir = temp_dir("sendq");
    let log = dir.join("server.log");
    let mut options = e2e::server_options(SENDQ, Some(log.clone()));
    // This test floods on purpose: the core's flood protection would
    // (rightly) cut the sender off first.
    options.config.flood_lines_per_sec = 0;
    let server = e2e::start_with(options);
    let addr = server.local_addr();
    let slow = Client::joined(addr, "Slow", "#lobby");
    let padding = "p".repeat(360);
    let text = move |i: usize| format!("line {i:05} {padding}");
    let (progress, chunks_read) = std::sync::mpsc::channel::<(String, usize)>();
    let readers: Vec<_> = ["Ann", "Ben"]
        .into_iter()
        .map(|nick| {
            let mut client = Client::joined(addr, nick, "#lobby");
            let progress = progress.clone();
            std::thread::spawn(move || {
                let mut got: Vec<String> = Vec::new();
                let mut slow_quits = Vec::new();
                while got.len() < LINES {
                    let line = client.read_line().expect("healthy reader stays connected");
                    if let Some(text) =
                        line.strip_prefix(":Sender!sender@127.0.0.1 PRIVMSG #lobby :")
                    {
                        got.push(text.to_string());
                        if got.len().is_multiple_of(CHUNK) {
                            let _ = progress.send((client.nick.clone(), got.len()));
                        }
                    } else if line.starts_with(":Slow!") && line.contains(" QUIT ") {
                        slow_quits.push(line);
                    }
                }
                for line in client.sync() {
                    if line.starts_with(":Slow!") && line.contains(" QUIT ") {
                        slow_quits.push(line);
                    }
                }
                (got, slow_quits)
            })
        })
        .collect();
    drop(progress);
    let mut sender = Client::joined(addr, "Sender", "#lobby");

    for chunk in 0..LINES / CHUNK {
        let mut burst = String::new();
        for i in chunk * CHUNK..(chunk + 1) * CHUNK {
            burst.push_str(&format!("PRIVMSG #lobby :{}\r\n", text(i)));
        }
        sender.send_raw(burst.as_bytes());
        for _ in 0..readers.len() {
            let (nick, count) = chunks_read
                .recv_timeout(e2e::READ_TIMEOUT)
                .expect("healthy readers keep up with each chunk");
            assert_eq!(count, (chunk + 1) * CHUNK, "{nick} is in step");
        }
    }

    let expected: Vec<String> = (0..LINES).map(text).collect();

    for reader in readers {
        let (got, slow_quits) = reader.join().expect("reader thread");
        assert!(
            got == expected,
            "a healthy reader missed or reordered lines"
        );
        assert_eq!(
            slow_quits,
            [":Slow!slow@127.0.0.1 QUIT :SendQ exceeded"],
            "the slow reader's exit is announced once"
        );
    }
    // The slow client's connection ends once it reads what the kernel held.
    let mut slow = slow;
    let leftover = slow.read_to_end();
    assert!(
        count(&leftover, "PRIVMSG") < LINES,
        "the slow client was cut off before it got every line"
    );

    server.shutdown();
    let log = std::fs::read_to_string(&log).expect("server.log written");
    assert_eq!(
        log.lines()
            .filter(|l| strip_timestamp(l) == "Client Slow quit: SendQ exceeded")
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn the_seed_scenario_writes_the_seed_server_log_lines() {
    let dir = temp_dir("seed");
    let log = dir.join("server.log");
    let server = ServerProcess::start(&["--log-file", log.to_str().expect("utf-8 temp path")]);
    let mut john = Client::joined(server.addr, "John", "#lobby");
    john.send("PRIVMSG #lobby :Hello everyone!");
    john.sync();
    let mut jane = Client::joined(server.addr, "Jane", "#lobby");
    john.read_until(|l| l.starts_with(":Jane!") && l.contains(" JOIN "));
    jane.send("PRIVMSG #lobby :Hi John!");
    john.read_until(|l| l.ends_with(":Hi John!"));
    john.send("PART #lobby");
    john.sync();
    john.send("QUIT");
    john.read_to_end();
    jane.read_until(|l| l.starts_with(":John!") && l.contains(" PART "));
    jane.sync();
    let john_port = "JOHN_PORT";
    let jane_port = "JANE_PORT";

    let (status, _) = server.terminate();
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&log).expect("server.log written");
    let lines: Vec<String> = log
        .lines()
        .map(|l| {
            let text = strip_timestamp(l);
            // Client ports are ephemeral: name them.
            match text.rsplit_once("127.0.0.1:") {
                Some((head, _)) if head.contains("John") => format!("{head}127.0.0.1:{john_port}"),
                Some((head, _)) => format!("{head}127.0.0.1:{jane_port}"),
                None => text.to_string(),
            }
        })
        .collect();
    assert_eq!(
        lines,
        [
            "Client John connected from 127.0.0.1:JOHN_PORT",
            "[John] has joined",
            "[John]: Hello everyone!",
            "Client Jane connected from 127.0.0.1:JANE_PORT",
            "[Jane] has joined",
            "[Jane]: Hi John!",
            "[John] has left",
            "Client John disconnected",
            "[Jane] has left",
            "Client Jane quit: Server shutting down",
            "Client Jane disconnected",
        ]
    );
}

#[test]
fn sigterm_tells_every_client_the_server_is_shutting_down_and_exits_zero() {
    let dir = temp_dir("sigterm");
    let log = dir.join("server.log");
    let server = ServerProcess::start(&["--log-file", log.to_str().expect("utf-8 temp path")]);
    let mut john = Client::joined(server.addr, "John", "#lobby");
    let mut jane = Client::register(server.addr, "Jane");
    let mut idle = Client::connect(server.addr, "idle");
    idle.send("NICK idle");
    idle.sync();
    john.sync();
    jane.sync();

    let (status, stderr) = server.terminate();
    assert!(status.success(), "exit status {status}, stderr {stderr:#?}");
    for client in [&mut john, &mut jane] {
        let rest = client.read_to_end();
        assert_eq!(
            count(&rest, "ERROR :Server shutting down"),
            1,
            "{}: {rest:#?}",
            client.nick
        );
    }
    let rest = idle.read_to_end();
    assert_eq!(count(&rest, "ERROR :Server shutting down"), 1, "{rest:#?}");
    let log = std::fs::read_to_string(&log).expect("server.log flushed at exit");
    assert!(
        log.contains("] Client John quit: Server shutting down\n")
            && log.contains("] Client John disconnected\n"),
        "{log}"
    );
}

#[test]
fn the_server_delivers_in_order_on_one_thread_or_several_and_refuses_zero() {
    for threads in ["1", "3"] {
        let server = ServerProcess::start(&[
            "--threads",
            threads,
            "--log-file",
            "/dev/null",
            "--no-persist",
        ]);
        let mut ann = Client::joined(server.addr, "ann", "#t");
        ann.sync();
        let mut bob = Client::joined(server.addr, "bob", "#t");
        bob.sync();
        let sent: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        for text in &sent {
            ann.send(&format!("PRIVMSG #t :{text}"));
        }
        let heard = privmsg_texts(&bob.read_until(|l| parse(l).param(1) == "m199"));
        assert_eq!(heard, sent, "with --threads {threads}");
        let (status, _) = server.terminate();
        assert!(status.success(), "--threads {threads}");
    }
    let (status, stderr) = e2e::run_server_expecting_exit(&["--threads", "0"]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("'--threads <N>'"), "{stderr}");
}

#[test]
fn a_port_already_in_use_is_refused_with_a_message_that_says_what_to_do() {
    let first = ServerProcess::start(&["--log-file", "/dev/null", "--no-persist"]);
    let port = first.addr.port().to_string();
    let (status, stderr) = e2e::run_server_expecting_exit(&[
        &port,
        "--bind",
        "127.0.0.1",
        "--log-file",
        "/dev/null",
        "--no-persist",
    ]);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "port {port} is already in use: pick another with `natter-server "
        )),
        "{stderr}"
    );
    let (status, _) = first.terminate();
    assert!(status.success());
}

#[test]
fn the_motd_file_greets_each_client_and_an_unreadable_one_stops_the_server_with_a_clear_error() {
    let dir = temp_dir("motd");
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, "Welcome to natter!\nBe kind.\n").expect("write motd");
    let motd = motd.to_str().expect("utf-8 temp path");
    let log = dir.join("server.log");
    let log = log.to_str().expect("utf-8 temp path");

    let server = ServerProcess::start(&["--log-file", log, "--motd", motd]);
    let mut john = Client::connect(server.addr, "John");
    john.send("NICK John");
    john.send("USER john 0 * :John");
    let welcome = john.read_until(|l| l.contains(" 376 "));
    let motd_lines: Vec<&str> = welcome
        .iter()
        .filter(|l| l.contains(" 372 John "))
        .map(|l| l.rsplit_once(":- ").map_or("", |(_, text)| text))
        .collect();
    assert_eq!(motd_lines, ["Welcome to natter!", "Be kind."]);
    let (status, _) = server.terminate();
    assert!(status.success());

    let missing = dir.join("no-such-motd.txt");
    let missing = missing.to_str().expect("utf-8 temp path");
    let (status, stderr) = e2e::run_server_expecting_exit(&[
        "0",
        "--bind",
        "127.0.0.1",
        "--log-file",
        "/dev/null",
        "--no-persist",
        "--motd",
        missing,
    ]);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read the MOTD file {missing}")),
        "{stderr}"
    );
}

#[test]
fn a_third_party_irc_client_chats_with_a_plain_socket_client() {
    use std::process::{Command, Stdio};
    if !python_irc_client_available("the interop test") {
        return;
    }
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut john = Client::joined(addr, "John", "#lobby");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/irc_client.py");
    let python = Command::new("python3")
        .args([script, "127.0.0.1", &addr.port().to_string(), "Pyth"])
        .args(["hello from python", "hello from rust"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs (the interop test needs Python 3)");
    let mut python = ChildGuard(python);

    john.read_until(|l| l.starts_with(":Pyth!") && l.contains(" JOIN "));
    john.read_until(|l| l.starts_with(":Pyth!") && l.ends_with(" :hello from python"));
    john.send("PRIVMSG #lobby :hello from rust");
    let quit = john.read_until(|l| l.starts_with(":Pyth!") && l.contains(" QUIT "));
    assert!(
        quit.last().is_some_and(|l| l.ends_with("Quit: done")),
        "{quit:#?}"
    );

    let status = python.0.wait().expect("wait for python");
    let mut out = String::new();
    if let Some(mut stdout) = python.0.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut out);
    }
    assert!(status.success(), "python irc client failed: {out}");
    assert!(out.contains("GOT John hello from rust"), "{out}");
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_shell_wakes_for_the_cores_deadlines_a_silent_client_is_pinged_then_dropped() {
    // No ticker: the shell sleeps until Server::poll_timeout's deadline.
    let mut options = e2e::server_options(DEFAULT_SENDQ, None);
    options.config.ping_interval_secs = 1;
    options.config.ping_timeout_secs = 1;
    let server = e2e::start_with(options);
    let addr = server.local_addr();
    let mut john = Client::joined(addr, "John", "#lobby");
    let mut silent = Client::joined(addr, "Silent", "#lobby");
    let pinged = silent.read_until(|l| l.starts_with("PING "));
    assert!(
        pinged.last().is_some_and(|l| l == "PING natter"),
        "{pinged:?}"
    );
    // John answers his PINGs; Silent does not, and is dropped.
    let quit = loop {
        let line = john.read_line().expect("John stays connected");
        if line.starts_with("PING ") {
            john.send("PONG natter");
        } else if line.starts_with(":Silent!") && line.contains(" QUIT ") {
            break line;
        }
    };
    assert!(quit.contains(" QUIT :Ping timeout: "), "{quit}");
    let rest = silent.read_to_end();
    assert!(
        rest.iter().any(|l| l.starts_with("ERROR :Ping timeout")),
        "{rest:?}"
    );
}
