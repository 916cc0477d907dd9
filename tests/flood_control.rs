//! Flood control (fakelag): lines past the burst are delayed to the
//! sustained rate, never dropped or reordered; only past the hard limit is
//! a client closed for "Excess Flood". Operators are never delayed, and a
//! client with a backlog still answers PING at once.
mod common;
use common::Harness;
use natter::core::{ConnId, Instant, ServerConfig};
use natter::proto::Message;

/// 10 lines a second (100 ms a line), 5 at once, 20 held at most.
fn paced() -> ServerConfig {
    ServerConfig {
        flood_lines_per_sec: 10,
        flood_burst_lines: 5,
        flood_queue_lines: 20,
        ..ServerConfig::default()
    }
}

/// The PRIVMSG texts `conn` has received since last asked.
fn texts(h: &mut Harness, conn: ConnId) -> Vec<String> {
    privmsg_texts(&h.take(conn))
}

/// The texts of the PRIVMSGs among `lines`.
fn privmsg_texts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| Message::parse(l).ok())
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1).to_string())
        .collect()
}

/// `flooder` and `calm` in #lobby, with a full flood budget again.
fn two_in_lobby(h: &mut Harness) -> (ConnId, ConnId) {
    let flooder = h.register(1, "Flood", 12000);
    let calm = h.register(2, "Calm", 12001);
    h.send(flooder, "JOIN #lobby");
    h.send(calm, "JOIN #lobby");
    h.advance_secs(10);
    h.take(flooder);
    h.take(calm);
    (flooder, calm)
}

#[test]
fn a_burst_past_the_allowance_is_delayed_and_every_line_arrives_in_order_at_the_paced_times() {
    let mut h = Harness::with_config(paced());
    let (flooder, calm) = two_in_lobby(&mut h);
    let start = h.now.mono;
    for i in 0..15 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    let mut seen = texts(&mut h, calm);
    assert_eq!(seen.len(), 5, "the burst runs at once: {seen:?}");
    // The rest run one every 100 ms, the first 100 ms after the burst.
    for k in 1..=10u64 {
        assert_eq!(h.server.poll_timeout(), Some(Instant(start.0 + 100 * k)));
        h.advance_to_deadline();
        let now = texts(&mut h, calm);
        assert_eq!(now, [format!("line {}", 4 + k)], "at +{} ms", 100 * k);
        seen.extend(now);
    }
    let expected: Vec<String> = (0..15).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    // Nothing left: the next deadline is the PING's again.
    assert!(h.server.poll_timeout() > Some(Instant(start.0 + 10_000)));
}

#[test]
fn a_late_timeout_runs_every_line_that_came_due_at_once_in_order() {
    let mut h = Harness::with_config(paced());
    let (flooder, calm) = two_in_lobby(&mut h);
    for i in 0..12 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 5);
    // The shell was busy: its Timeout comes 350 ms late, then 1 s later.
    h.advance_ms(450);
    assert_eq!(
        texts(&mut h, calm),
        ["line 5", "line 6", "line 7", "line 8"]
    );
    h.advance_secs(1);
    assert_eq!(texts(&mut h, calm), ["line 9", "line 10", "line 11"]);
}

#[test]
fn a_later_line_waits_behind_the_held_ones() {
    let mut h = Harness::with_config(paced());
    let (flooder, calm) = two_in_lobby(&mut h);
    for i in 0..7 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 5);
    // 150 ms on, before the shell's Timeout for the held lines arrives,
    // another line: the one held line that is due runs first, the new one
    // waits its turn behind the other.
    h.now.mono = h.now.mono.plus_ms(150);
    h.send(flooder, "PRIVMSG #lobby :late");
    assert_eq!(texts(&mut h, calm), ["line 5"]);
    h.advance_to_deadline();
    assert_eq!(texts(&mut h, calm), ["line 6"]);
    h.advance_to_deadline();
    assert_eq!(texts(&mut h, calm), ["late"]);
}

#[test]
fn past_the_hard_limit_a_flooding_client_is_closed_and_the_room_hears_it_once() {
    let mut h = Harness::new();
    let flooder = h.register(1, "Flood", 12000);
    let calm = h.register(2, "Calm", 12001);
    h.send(flooder, "JOIN #lobby");
    h.send(calm, "JOIN #lobby");
    h.take(calm);
    for i in 0..2000 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(h.closed, vec![(flooder, "Excess Flood".to_string())]);
    let sent = h.take(flooder);
    assert_eq!(sent.last().map(String::as_str), Some("ERROR :Excess Flood"));
    let seen = h.take(calm);
    let quits: Vec<_> = seen.iter().filter(|l| l.contains(" QUIT ")).collect();
    assert_eq!(quits, vec![":Flood!flood@127.0.0.1 QUIT :Excess Flood"]);
    let delivered = seen.iter().filter(|l| l.contains("PRIVMSG")).count();
    // The burst is 500 lines, and NICK, USER and JOIN were three of them;
    // the next 500 were held (the hard limit), and the one after closed it.
    // What was held is dropped with the client.
    assert_eq!(delivered, 497);
    assert_eq!(h.server.connection_count(), 1);
    h.advance_secs(30);
    assert!(h.take(calm).iter().all(|l| !l.contains("PRIVMSG")));
    let log = h.log_text();
    assert!(log.contains("] Client Flood quit: Excess Flood\n"), "{log}");
    assert!(log.contains("] Client Flood disconnected\n"), "{log}");
}

#[test]
fn past_the_byte_limit_of_held_lines_a_client_is_closed() {
    let mut h = Harness::with_config(ServerConfig {
        flood_queue_bytes: 1000,
        ..paced()
    });
    let (flooder, calm) = two_in_lobby(&mut h);
    let long = "x".repeat(300);
    for _ in 0..8 {
        h.send(flooder, &format!("PRIVMSG #lobby :{long}"));
    }
    // 5 ran, 3 held lines of 316 bytes fit in 1000; a fourth would not.
    assert!(h.closed.is_empty());
    h.send(flooder, &format!("PRIVMSG #lobby :{long}"));
    assert_eq!(h.closed, vec![(flooder, "Excess Flood".to_string())]);
    assert_eq!(texts(&mut h, calm).len(), 5);
}

#[test]
fn an_operator_is_never_delayed() {
    let hash = natter::net::password::hash_password_cheaply("letmein").expect("hashes");
    let mut config = paced();
    config.opers.insert("root".into(), hash);
    let mut h = Harness::with_config(config);
    let (oper, calm) = two_in_lobby(&mut h);
    h.send(oper, "OPER root letmein");
    h.answer_password_checks();
    assert!(h.take(oper).iter().any(|l| l.contains(" 381 ")));
    for i in 0..500 {
        h.send(oper, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 500);
    assert!(h.closed.is_empty(), "{:?}", h.closed);
}

#[test]
fn lines_held_before_becoming_an_operator_run_as_soon_as_it_is_one() {
    let hash = natter::net::password::hash_password_cheaply("letmein").expect("hashes");
    let mut config = paced();
    config.opers.insert("root".into(), hash);
    let mut h = Harness::with_config(config);
    let (oper, calm) = two_in_lobby(&mut h);
    // OPER runs within the burst; the 10 lines after it are partly held.
    h.send(oper, "OPER root letmein");
    for i in 0..10 {
        h.send(oper, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 4);
    h.answer_password_checks();
    let expected: Vec<String> = (4..10).map(|i| format!("line {i}")).collect();
    assert_eq!(texts(&mut h, calm), expected);
}

#[test]
fn a_client_under_fakelag_still_answers_ping_and_is_never_timed_out_by_its_backlog() {
    let mut h = Harness::with_config(ServerConfig {
        flood_lines_per_sec: 1,
        flood_burst_lines: 5,
        flood_queue_lines: 500,
        ..ServerConfig::default()
    });
    let (flooder, calm) = two_in_lobby(&mut h);
    for i in 0..300 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    // Its own PING jumps the 295 held lines.
    h.take(flooder);
    h.send(flooder, "PING :are-you-there");
    let replies = h.take(flooder);
    assert_eq!(replies, [":natter PONG natter are-you-there"]);
    // Five minutes of draining at one line a second: past the ping interval
    // (120 s) and the ping timeout (60 s). It answers the server's PINGs.
    let mut seen = texts(&mut h, calm);
    let mut pings = 0;
    for _ in 0..400 {
        h.advance_secs(1);
        let to_calm = h.take(calm);
        if to_calm.iter().any(|l| l.starts_with("PING ")) {
            h.send(calm, "PONG :natter");
        }
        seen.extend(privmsg_texts(&to_calm));
        if h.take(flooder).iter().any(|l| l.starts_with("PING ")) {
            pings += 1;
            h.send(flooder, "PONG :natter");
        }
    }
    assert!(pings >= 1, "the server pinged the quiet client");
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    let expected: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_client_that_hangs_up_with_lines_held_has_them_delivered_then_leaves() {
    let mut h = Harness::with_config(paced());
    let (flooder, calm) = two_in_lobby(&mut h);
    for i in 0..8 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    h.send(flooder, "QUIT :bye");
    h.drop_conn(flooder, "Connection closed");
    assert_eq!(texts(&mut h, calm).len(), 5);
    for _ in 0..4 {
        h.advance_to_deadline();
    }
    let seen = h.take(calm);
    let texts: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(
        texts,
        [
            ":Flood!flood@127.0.0.1 PRIVMSG #lobby :line 5",
            ":Flood!flood@127.0.0.1 PRIVMSG #lobby :line 6",
            ":Flood!flood@127.0.0.1 PRIVMSG #lobby :line 7",
            ":Flood!flood@127.0.0.1 QUIT :Quit: bye",
        ]
    );
    assert_eq!(h.server.connection_count(), 1);
}

#[test]
fn a_hang_up_without_quit_leaves_once_the_held_lines_ran() {
    let mut h = Harness::with_config(paced());
    let (flooder, calm) = two_in_lobby(&mut h);
    for i in 0..7 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    h.drop_conn(flooder, "Connection reset by peer");
    h.take(calm);
    h.advance_secs(1);
    let seen = h.take(calm);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen[2],
        ":Flood!flood@127.0.0.1 QUIT :Connection reset by peer"
    );
    assert_eq!(h.server.connection_count(), 1);
}

#[test]
fn a_steady_talker_within_the_rate_is_never_cut_off() {
    let mut h = Harness::new();
    let talker = h.register(1, "Talker", 12000);
    h.send(talker, "JOIN #lobby");
    for i in 0..5000 {
        if i % 50 == 0 {
            h.advance_secs(1);
        }
        h.send(talker, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert!(h.closed.is_empty(), "{:?}", h.closed);
}

#[test]
fn with_flood_control_off_nothing_is_ever_delayed() {
    let mut h = Harness::with_config(ServerConfig {
        flood_lines_per_sec: 0,
        ..paced()
    });
    let (flooder, calm) = two_in_lobby(&mut h);
    for i in 0..1000 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 1000);
    assert!(h.closed.is_empty());
}

#[test]
fn a_client_flooding_ping_is_closed_past_the_hard_limit_too() {
    let mut h = Harness::with_config(paced());
    let (flooder, _calm) = two_in_lobby(&mut h);
    // PINGs are never held, but they are charged: past the burst (5) and
    // the held-line limit (20) the client is closed like any flooder.
    for i in 0..25 {
        h.send(flooder, &format!("PING :{i}"));
    }
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    assert_eq!(h.take(flooder).len(), 25, "each PING answered at once");
    h.send(flooder, "PING :one too many");
    assert_eq!(h.closed, vec![(flooder, "Excess Flood".to_string())]);
}
