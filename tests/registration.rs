//! Registration and the replies around it: the welcome burst (snapshotted),
//! every error numeric a client can be sent, ERROR before closing, the
//! registration timeout, and liveness (PING both ways, ping timeout).
mod common;
use common::{snapshot_settings, Harness};
use natter::core::{ConnId, ServerConfig};
use natter::proto::Message;

/// Parsed lines `conn` received since last asked.
fn take(h: &mut Harness, conn: ConnId) -> Vec<Message> {
    h.take(conn)
        .iter()
        .map(|l| Message::parse(l).expect("the server sends valid lines"))
        .collect()
}

/// Registers `nick` and throws away its welcome burst.
fn user(h: &mut Harness, id: u64, nick: &str) -> ConnId {
    let conn = h.register(id, nick, 12000 + id as u16);
    h.take(conn);
    conn
}

/// Sends `line` and returns the one reply it must get.
fn only_reply(h: &mut Harness, conn: ConnId, line: &str) -> Message {
    h.send(conn, line);
    let mut got = take(h, conn);
    assert_eq!(got.len(), 1, "{line:?} should get one reply, got {got:?}");
    got.remove(0)
}

/// Asserts `msg` is numeric `num` addressed to `target`, about `subject`
/// (the parameter after the target, when the numeric has one).
fn assert_numeric(msg: &Message, num: &str, target: &str, subject: Option<&str>) {
    assert_eq!(msg.command, num, "{msg:?}");
    assert_eq!(msg.source.as_deref(), Some("natter"), "{msg:?}");
    assert_eq!(msg.param(0), target, "{msg:?}");
    if let Some(subject) = subject {
        assert_eq!(msg.param(1), subject, "{msg:?}");
    }
    assert!(
        !msg.params.last().unwrap_or(&String::new()).is_empty(),
        "a numeric ends with human-readable text: {msg:?}"
    );
}

/// The burst as text, for a snapshot.
fn burst(h: &mut Harness, conn: ConnId) -> String {
    h.take(conn).join("\n")
}

// ----- the welcome burst ----------------------------------------------------

#[test]
fn plain_nick_and_user_get_the_welcome_burst() {
    let mut h = Harness::new();
    let conn = h.register(1, "John", 12000);
    let text = burst(&mut h, conn);
    for numeric in ["001", "002", "003", "004", "005", "422"] {
        assert!(text.contains(&format!(" {numeric} John ")), "{text}");
    }
    snapshot_settings().bind(|| insta::assert_snapshot!("registration_plain", text));
}

#[test]
fn cap_negotiation_holds_the_welcome_until_cap_end() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.send(conn, "CAP LS 302");
    h.send(conn, "NICK John");
    h.send(conn, "USER john 0 * :John Smith");
    h.send(conn, "CAP REQ :echo-message");
    let before_end = burst(&mut h, conn);
    assert!(!before_end.contains(" 001 "), "{before_end}");
    h.send(conn, "CAP END");
    let after_end = burst(&mut h, conn);
    assert!(after_end.contains(" 001 John "), "{after_end}");
    let text = format!("{before_end}\n--- CAP END ---\n{after_end}");
    snapshot_settings().bind(|| insta::assert_snapshot!("registration_with_cap", text));
}

#[test]
fn unknown_capabilities_are_refused_with_nak() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    // One unknown capability refuses the whole request.
    let reply = only_reply(&mut h, conn, "CAP REQ :echo-message draft/metadata-2");
    assert_eq!(reply.command, "CAP");
    assert_eq!(reply.params, ["*", "NAK", "echo-message draft/metadata-2"]);
}

#[test]
fn a_configured_motd_is_sent_after_the_welcome() {
    let mut h = Harness::with_config(ServerConfig {
        motd: vec!["Welcome to natter.".into(), "Be kind.".into()],
        ..ServerConfig::default()
    });
    let conn = h.register(1, "John", 12000);
    let text = burst(&mut h, conn);
    assert!(text.contains(" 372 John :- Be kind."), "{text}");
    assert!(!text.contains(" 422 "), "{text}");
    snapshot_settings().bind(|| insta::assert_snapshot!("registration_with_motd", text));
}

fn with_password() -> Harness {
    Harness::with_config(ServerConfig {
        password: Some("sesame".into()),
        ..ServerConfig::default()
    })
}

#[test]
fn the_right_server_password_registers() {
    let mut h = with_password();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.send(conn, "PASS sesame");
    h.send(conn, "NICK John");
    h.send(conn, "USER john 0 * :John");
    let text = burst(&mut h, conn);
    assert!(text.contains(" 001 John "), "{text}");
    assert!(h.closed.is_empty());
    snapshot_settings().bind(|| insta::assert_snapshot!("registration_password_right", text));
}

#[test]
fn a_wrong_server_password_gets_464_and_error_then_close() {
    let mut h = with_password();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.send(conn, "PASS guess");
    let text = burst(&mut h, conn);
    assert!(text.contains(" 464 "), "{text}");
    assert!(text.ends_with("ERROR :Bad password"), "{text}");
    assert_eq!(h.closed, [(conn, "Bad password".to_string())]);
    snapshot_settings().bind(|| insta::assert_snapshot!("registration_password_wrong", text));
}

#[test]
fn registering_without_the_server_password_is_refused() {
    let mut h = with_password();
    let conn = h.register(1, "John", 12000);
    let got = take(&mut h, conn);
    assert!(got.iter().all(|m| m.command != "001"), "{got:?}");
    assert_eq!(got.last().map(|m| m.command.as_str()), Some("ERROR"));
    assert_eq!(h.closed.len(), 1);
    assert_eq!(h.server.connection_count(), 0);
}

// ----- error numerics -------------------------------------------------------

#[test]
fn message_to_an_unknown_nick_is_401() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let reply = only_reply(&mut h, john, "PRIVMSG nobody :hi");
    assert_numeric(&reply, "401", "John", Some("nobody"));
}

#[test]
fn parting_or_topic_of_a_room_that_does_not_exist_is_403() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let reply = only_reply(&mut h, john, "PART #nowhere");
    assert_numeric(&reply, "403", "John", Some("#nowhere"));
    let reply = only_reply(&mut h, john, "TOPIC #nowhere");
    assert_numeric(&reply, "403", "John", Some("#nowhere"));
    let reply = only_reply(&mut h, john, "JOIN lobby");
    assert_numeric(&reply, "403", "John", Some("lobby"));
}

#[test]
fn message_to_a_room_one_is_not_in_is_404() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let jane = user(&mut h, 2, "Jane");
    h.send(jane, "JOIN #rust");
    h.take(jane);
    let reply = only_reply(&mut h, john, "PRIVMSG #rust :let me in");
    assert_numeric(&reply, "404", "John", Some("#rust"));
    assert!(h.take(jane).is_empty(), "the room hears nothing");
}

#[test]
fn privmsg_without_recipient_is_411_and_without_text_is_412() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let reply = only_reply(&mut h, john, "PRIVMSG");
    assert_numeric(&reply, "411", "John", None);
    let reply = only_reply(&mut h, john, "PRIVMSG Jane");
    assert_numeric(&reply, "412", "John", None);
    let reply = only_reply(&mut h, john, "PRIVMSG Jane :");
    assert_numeric(&reply, "412", "John", None);
}

#[test]
fn an_unknown_command_is_421() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let reply = only_reply(&mut h, john, "FROBNICATE now");
    assert_numeric(&reply, "421", "John", Some("FROBNICATE"));
}

#[test]
fn nick_without_a_name_is_431() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    let reply = only_reply(&mut h, conn, "NICK");
    assert_numeric(&reply, "431", "*", None);
}

#[test]
fn an_invalid_nick_is_432() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    for bad in ["9lives", "-dash", "a*b", "#room"] {
        let reply = only_reply(&mut h, conn, &format!("NICK {bad}"));
        assert_numeric(&reply, "432", "*", Some(bad));
    }
}

#[test]
fn a_nick_taken_in_any_case_is_433() {
    let mut h = Harness::new();
    user(&mut h, 1, "John");
    let conn = h.connect(2, "127.0.0.1:12001");
    let reply = only_reply(&mut h, conn, "NICK jOHN");
    assert_numeric(&reply, "433", "*", Some("jOHN"));
    assert_eq!(h.server.nick_of(conn), None);
}

#[test]
fn a_nick_held_by_a_client_still_registering_is_433() {
    let mut h = Harness::new();
    let first = h.connect(1, "127.0.0.1:12000");
    h.send(first, "NICK John");
    let second = h.connect(2, "127.0.0.1:12001");
    let reply = only_reply(&mut h, second, "NICK john");
    assert_numeric(&reply, "433", "*", Some("john"));
}

#[test]
fn parting_or_topic_of_a_room_one_is_not_in_is_442() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let jane = user(&mut h, 2, "Jane");
    h.send(jane, "JOIN #rust");
    let reply = only_reply(&mut h, john, "PART #rust");
    assert_numeric(&reply, "442", "John", Some("#rust"));
    let reply = only_reply(&mut h, john, "TOPIC #rust :mine now");
    assert_numeric(&reply, "442", "John", Some("#rust"));
}

#[test]
fn chat_commands_before_registering_are_451() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    for line in [
        "JOIN #lobby",
        "PRIVMSG #lobby :hi",
        "NAMES #lobby",
        "LIST",
        "WHO x",
    ] {
        let reply = only_reply(&mut h, conn, line);
        assert_numeric(&reply, "451", "*", None);
    }
}

#[test]
fn commands_missing_parameters_are_461() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    for command in ["JOIN", "PART", "TOPIC", "MODE", "PING"] {
        let reply = only_reply(&mut h, john, command);
        assert_numeric(&reply, "461", "John", Some(command));
    }
    let conn = h.connect(2, "127.0.0.1:12001");
    let reply = only_reply(&mut h, conn, "USER onlyone");
    assert_numeric(&reply, "461", "*", Some("USER"));
}

#[test]
fn user_or_pass_again_after_registering_is_462() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let reply = only_reply(&mut h, john, "USER john 0 * :John");
    assert_numeric(&reply, "462", "John", None);
    let reply = only_reply(&mut h, john, "PASS sesame");
    assert_numeric(&reply, "462", "John", None);
}

#[test]
fn quit_sends_error_before_closing() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    h.send(john, "QUIT :gone fishing");
    let got = take(&mut h, john);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].command, "ERROR");
    assert!(got[0].param(0).contains("gone fishing"), "{got:?}");
    assert_eq!(h.closed, [(john, "Quit: gone fishing".to_string())]);
    assert_eq!(h.server.nick_of(john), None);
}

#[test]
fn shutdown_sends_every_client_error_then_closes_it() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let pending = h.connect(2, "127.0.0.1:12001");
    h.event(natter::core::Event::Shutdown { now: h.now });
    for conn in [john, pending] {
        let got = take(&mut h, conn);
        assert_eq!(
            got.last().map(|m| m.command.as_str()),
            Some("ERROR"),
            "{got:?}"
        );
    }
    assert_eq!(h.closed.len(), 2);
    assert_eq!(h.server.connection_count(), 0);
}

// ----- time -----------------------------------------------------------------

#[test]
fn a_client_that_never_registers_is_closed_after_the_registration_timeout() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.send(conn, "NICK John");
    h.advance_secs(59);
    assert!(h.closed.is_empty(), "not before the timeout");
    h.advance_secs(1);
    let got = take(&mut h, conn);
    assert_eq!(got.last().map(|m| m.command.as_str()), Some("ERROR"));
    assert_eq!(h.closed, [(conn, "Registration timed out".to_string())]);
    // The nick is free again.
    let other = h.register(2, "John", 12001);
    assert_eq!(h.server.nick_of(other), Some("John"));
}

#[test]
fn a_silent_client_is_pinged_and_stays_when_it_answers() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    h.advance_secs(119);
    assert!(h.take(john).is_empty());
    h.advance_secs(1);
    let got = take(&mut h, john);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].command, "PING");
    h.send(john, &format!("PONG :{}", got[0].param(0)));
    h.advance_secs(60);
    assert!(h.closed.is_empty(), "an answered PING keeps the client");
    assert!(
        h.take(john).is_empty(),
        "no second PING before the interval"
    );
}

#[test]
fn a_client_that_does_not_answer_the_ping_times_out_and_its_rooms_hear_it() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let jane = user(&mut h, 2, "Jane");
    h.send(john, "JOIN #lobby");
    h.send(jane, "JOIN #lobby");
    h.advance_secs(100);
    h.send(jane, "PRIVMSG #lobby :still here");
    h.take(john);
    h.take(jane);
    h.advance_secs(20); // John silent for 120 s: pinged.
    assert_eq!(commands(&take(&mut h, john)), ["PING"]);
    h.advance_secs(59);
    assert!(h.closed.is_empty());
    h.advance_secs(1);
    let got = take(&mut h, john);
    assert_eq!(got.last().map(|m| m.command.as_str()), Some("ERROR"));
    assert_eq!(h.closed, [(john, "Ping timeout: 180 seconds".to_string())]);
    let seen = take(&mut h, jane);
    let quits: Vec<&Message> = seen.iter().filter(|m| m.command == "QUIT").collect();
    assert_eq!(quits.len(), 1, "{seen:?}");
    assert!(quits[0]
        .source
        .as_deref()
        .unwrap_or("")
        .starts_with("John!"));
    assert_eq!(quits[0].param(0), "Ping timeout: 180 seconds");
}

#[test]
fn client_ping_is_answered_with_pong_carrying_its_token() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    let reply = only_reply(&mut h, john, "PING :abc 123");
    assert_eq!(reply.command, "PONG");
    assert_eq!(reply.params, ["natter", "abc 123"]);
    let pending = h.connect(2, "127.0.0.1:12001");
    let reply = only_reply(&mut h, pending, "PING token");
    assert_eq!(reply.command, "PONG", "PING works before registering too");
}

fn commands(msgs: &[Message]) -> Vec<&str> {
    msgs.iter().map(|m| m.command.as_str()).collect()
}
