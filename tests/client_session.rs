//! The client session as scenarios: server lines in, display lines and IRC
//! lines out, with no sockets and a fixed clock.

mod common;

use chrono::NaiveTime;
use common::{snapshot_settings, Harness};
use natter::client::{ClientError, LineKind, NickRetry, Output, Session};
use proptest::prelude::*;

fn at(h: u32, m: u32, s: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, s).unwrap_or_default()
}

fn noon() -> NaiveTime {
    at(12, 0, 0)
}

fn sent(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn shown(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Display(line) => Some(line.text().to_string()),
            _ => None,
        })
        .collect()
}

/// A session for John that has registered (without echo-message) and joined #lobby.
fn joined(nick: &str) -> Session {
    let mut s = Session::new(nick, "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let _ = s.handle_server_line(":natter CAP * LS :", noon());
    let _ = s.handle_server_line(&format!(":natter 001 {nick} :Welcome, {nick}"), noon());
    let _ = s.handle_server_line(&format!(":{nick}!u@h JOIN #lobby"), noon());
    s
}

fn server(s: &mut Session, line: &str) -> Vec<String> {
    shown(&s.handle_server_line(line, at(12, 35, 1)))
}

fn input(s: &mut Session, line: &str) -> Vec<Output> {
    s.handle_input(line, at(12, 35, 1))
}

#[test]
fn registration_negotiates_echo_message_then_ends_cap() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    assert_eq!(
        sent(&s.start()),
        ["CAP LS 302", "NICK John", "USER john 0 * John"]
    );
    let out = s.handle_server_line(":natter CAP * LS :echo-message", noon());
    assert_eq!(sent(&out), ["CAP REQ echo-message"]);
    let out = s.handle_server_line(":natter CAP * ACK echo-message", noon());
    assert_eq!(sent(&out), ["CAP END"]);
    assert!(s.has_echo_message());
}

#[test]
fn registration_ends_cap_at_once_when_echo_message_is_not_offered() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let out = s.handle_server_line(":irc CAP * LS * :multi-prefix sasl=PLAIN", noon());
    assert!(sent(&out).is_empty(), "waits for the last LS line");
    let out = s.handle_server_line(":irc CAP * LS :away-notify", noon());
    assert_eq!(sent(&out), ["CAP END"]);
    assert!(!s.has_echo_message());
}

#[test]
fn a_server_without_cap_is_not_an_error() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let out = s.handle_server_line(":old 421 * CAP :Unknown command", noon());
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn welcome_joins_the_lobby_and_shows_welcome_and_motd_briefly() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let out = s.handle_server_line(
        ":natter 001 John :Welcome to the natter IRC network",
        noon(),
    );
    assert_eq!(sent(&out), ["JOIN #lobby"]);
    assert_eq!(shown(&out), ["*** Welcome to the natter IRC network"]);
    assert!(s.is_registered());
    assert!(server(&mut s, ":natter 002 John :Your host is natter").is_empty());
    assert!(server(&mut s, ":natter 005 John CHANTYPES=# :are supported").is_empty());
    assert!(server(&mut s, ":natter 375 John :- natter Message of the day -").is_empty());
    assert_eq!(
        server(&mut s, ":natter 372 John :- Be kind."),
        ["*** Be kind."]
    );
    assert!(server(&mut s, ":natter 376 John :End of /MOTD command.").is_empty());
    assert_eq!(
        server(&mut s, ":John!john@h JOIN #lobby"),
        ["*** You joined #lobby"]
    );
    assert_eq!(s.current_room(), Some("#lobby"));
}

#[test]
fn ping_is_answered_with_pong_carrying_the_same_token() {
    let mut s = joined("John");
    let out = s.handle_server_line("PING :natter", noon());
    assert_eq!(sent(&out), ["PONG natter"]);
    assert!(shown(&out).is_empty());
}

#[test]
fn a_room_message_reads_with_time_and_nick() {
    let mut s = joined("John");
    assert_eq!(
        server(&mut s, ":Jane!jane@h PRIVMSG #lobby :Hello everyone!"),
        ["[12:35:01] [Jane]: Hello everyone!"]
    );
}

#[test]
fn a_message_in_a_room_other_than_the_current_one_names_the_room() {
    let mut s = joined("John");
    let _ = server(&mut s, ":John!j@h JOIN #dev");
    assert_eq!(
        server(&mut s, ":Jane!j@h PRIVMSG #lobby :over here"),
        ["[12:35:01] #lobby [Jane]: over here"]
    );
}

#[test]
fn joins_parts_quits_and_nick_changes_read_as_events() {
    let mut s = joined("John");
    assert_eq!(
        server(&mut s, ":Jane!j@h JOIN #lobby"),
        ["*** Jane joined #lobby"]
    );
    assert_eq!(
        server(&mut s, ":Jane!j@h PART #lobby :lunch"),
        ["*** Jane has left #lobby (lunch)"]
    );
    assert_eq!(
        server(&mut s, ":Bob!b@h PART #lobby"),
        ["*** Bob has left #lobby"]
    );
    assert_eq!(
        server(&mut s, ":Ann!a@h QUIT :Quit: bye"),
        ["*** Ann has quit (Quit: bye)"]
    );
    assert_eq!(
        server(&mut s, ":Zed!z@h NICK Zeddy"),
        ["*** Zed is now known as Zeddy"]
    );
    assert_eq!(
        server(&mut s, ":John!j@h NICK Johnny"),
        ["*** You are now known as Johnny"]
    );
    assert_eq!(s.nick(), "Johnny");
}

#[test]
fn topics_are_shown_when_joining_and_when_changed() {
    let mut s = joined("John");
    assert_eq!(
        server(&mut s, ":natter 332 John #lobby :Be nice"),
        ["*** Topic of #lobby: Be nice"]
    );
    assert!(server(&mut s, ":natter 333 John #lobby Jane 1700000000").is_empty());
    assert_eq!(
        server(&mut s, ":Jane!j@h TOPIC #lobby :Rust only"),
        ["*** Jane changed the topic of #lobby to: Rust only"]
    );
    assert_eq!(
        server(&mut s, ":natter 331 John #lobby :No topic is set"),
        ["*** #lobby has no topic"]
    );
}

#[test]
fn names_replies_are_gathered_into_one_line() {
    let mut s = joined("John");
    assert!(server(&mut s, ":natter 353 John = #lobby :alice bob").is_empty());
    assert!(server(&mut s, ":natter 353 John = #lobby :carol").is_empty());
    assert_eq!(
        server(&mut s, ":natter 366 John #lobby :End of /NAMES list"),
        ["*** In #lobby: alice bob carol"]
    );
    assert_eq!(
        server(&mut s, ":natter 366 John #empty :End of /NAMES list"),
        ["*** Nobody is in #empty"]
    );
}

#[test]
fn me_is_sent_as_a_ctcp_action_and_actions_read_as_stars() {
    let mut s = joined("John");
    let out = input(&mut s, "/me waves");
    assert_eq!(sent(&out), ["PRIVMSG #lobby :\u{1}ACTION waves\u{1}"]);
    assert_eq!(shown(&out), ["[12:35:01] * John waves"]);
    assert_eq!(
        server(
            &mut s,
            ":Jane!j@h PRIVMSG #lobby :\u{1}ACTION waves back\u{1}"
        ),
        ["[12:35:01] * Jane waves back"]
    );
}

#[test]
fn private_messages_stand_out_both_ways() {
    let mut s = joined("John");
    let line = s.handle_server_line(":Jane!j@h PRIVMSG John :psst", at(12, 0, 0));
    match &line[..] {
        [Output::Display(l)] => {
            assert_eq!(l.text(), "[12:00:00] *Jane* -> you: psst");
            assert_eq!(l.kind(), LineKind::Private);
        }
        other => panic!("expected one display line, got {other:?}"),
    }
    let out = input(&mut s, "/msg Jane psst back");
    assert_eq!(sent(&out), ["PRIVMSG Jane :psst back"]);
    assert_eq!(shown(&out), ["[12:35:01] -> *Jane*: psst back"]);
}

#[test]
fn without_echo_message_own_lines_are_shown_locally() {
    let mut s = joined("John");
    let out = input(&mut s, "Hello everyone!");
    assert_eq!(sent(&out), ["PRIVMSG #lobby :Hello everyone!"]);
    assert_eq!(shown(&out), ["[12:35:01] [John]: Hello everyone!"]);
}

#[test]
fn with_echo_message_own_lines_are_shown_once_when_the_server_echoes_them() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let _ = s.handle_server_line(":n CAP * LS :echo-message", noon());
    let _ = s.handle_server_line(":n CAP * ACK :echo-message", noon());
    let _ = s.handle_server_line(":n 001 John :Welcome", noon());
    let _ = s.handle_server_line(":John!j@h JOIN #lobby", noon());
    let out = input(&mut s, "hi");
    assert_eq!(sent(&out), ["PRIVMSG #lobby hi"]);
    assert!(shown(&out).is_empty());
    assert_eq!(
        server(&mut s, ":John!j@h PRIVMSG #lobby hi"),
        ["[12:35:01] [John]: hi"]
    );
}

#[test]
fn lines_typed_before_the_first_join_are_sent_after_it() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    assert!(input(&mut s, "early bird").is_empty());
    assert!(s.handle_input_end().is_empty(), "quits only after sending");
    let _ = s.handle_server_line(":n 001 John :Welcome", noon());
    let out = s.handle_server_line(":John!j@h JOIN #lobby", noon());
    assert_eq!(sent(&out), ["PRIVMSG #lobby :early bird", "QUIT"]);
    assert_eq!(out.last(), Some(&Output::Quit));
}

#[test]
fn a_refused_first_join_does_not_hold_typed_lines_forever() {
    let mut s = Session::new("John", "#bad", NickRetry::GiveUp);
    let _ = s.start();
    let _ = input(&mut s, "/join #good");
    let _ = s.handle_server_line(":n 001 John :Welcome", noon());
    let out = s.handle_server_line(":n 403 John #bad :No such channel", noon());
    assert_eq!(sent(&out), ["JOIN #good"]);
}

#[test]
fn nick_in_use_while_scripted_stops_with_a_clear_error() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let out = s.handle_server_line(":n 433 * John :Nickname is already in use", noon());
    let err = ClientError::NickInUse {
        nick: "John".into(),
    };
    assert_eq!(out, [Output::Fail(err.clone())]);
    assert!(err.to_string().contains("already in use"));
}

#[test]
fn nick_in_use_at_a_terminal_asks_for_another_and_uses_the_answer() {
    let mut s = Session::new("John", "#lobby", NickRetry::Ask);
    let _ = s.start();
    let out = s.handle_server_line(":n 433 * John :Nickname is already in use", noon());
    assert_eq!(
        shown(&out),
        ["*** The nickname John is already in use. Type another nickname (or /quit):"]
    );
    let out = input(&mut s, "9bad");
    assert!(sent(&out).is_empty());
    assert!(shown(&out)[0].contains("not a valid nickname"));
    let out = input(&mut s, "Johnny");
    assert_eq!(sent(&out), ["NICK Johnny"]);
    let out = s.handle_server_line(":n 001 Johnny :Welcome", noon());
    assert_eq!(sent(&out), ["JOIN #lobby"]);
    assert_eq!(s.nick(), "Johnny");
}

#[test]
fn nick_in_use_after_registration_is_only_a_message() {
    let mut s = joined("John");
    assert_eq!(
        server(&mut s, ":n 433 John Jane :Nickname is already in use"),
        ["*** The nickname Jane is already in use: pick another with /nick"]
    );
}

#[test]
fn error_replies_read_as_sentences() {
    let mut s = joined("John");
    assert_eq!(
        server(&mut s, ":n 401 John Ghost :No such nick/channel"),
        ["*** No such nick or room: Ghost"]
    );
    // 404 and 482 have many causes: the server's own words say which.
    assert_eq!(
        server(
            &mut s,
            ":n 404 John #dev :Cannot send to channel (+m: you need voice)"
        ),
        ["*** #dev: Cannot send to channel (+m: you need voice)"]
    );
    assert_eq!(
        server(&mut s, ":n 482 John #dev :You're not a channel operator"),
        ["*** #dev: You're not a channel operator"]
    );
    assert_eq!(
        server(&mut s, ":n 499 John x :Something odd"),
        ["*** Error: x Something odd"]
    );
}

#[test]
fn whois_who_away_and_list_are_commands_and_their_replies_read_as_sentences() {
    let mut s = joined("John");
    assert_eq!(sent(&input(&mut s, "/whois Jane")), ["WHOIS Jane"]);
    assert_eq!(sent(&input(&mut s, "/who")), ["WHO #lobby"]);
    assert_eq!(
        sent(&input(&mut s, "/away lunch break")),
        ["AWAY :lunch break"]
    );
    assert_eq!(sent(&input(&mut s, "/away")), ["AWAY"]);
    assert_eq!(sent(&input(&mut s, "/list")), ["LIST"]);
    assert_eq!(
        server(&mut s, ":n 311 John Jane jane 10.0.0.2 * :Jane Doe"),
        ["*** Jane is jane@10.0.0.2 (Jane Doe)"]
    );
    assert_eq!(
        server(&mut s, ":n 319 John Jane :@#lobby"),
        ["*** Jane is in @#lobby"]
    );
    assert_eq!(
        server(&mut s, ":n 301 John Jane :lunch"),
        ["*** Jane is away: lunch"]
    );
    assert_eq!(
        server(
            &mut s,
            ":n 317 John Jane 3725 1699533296 :seconds idle, signon time"
        ),
        ["*** Jane has been idle 1h 2m"]
    );
    assert!(server(&mut s, ":n 318 John Jane :End of /WHOIS list").is_empty());
    assert_eq!(
        server(
            &mut s,
            ":n 352 John #lobby jane 10.0.0.2 n Jane G@ :0 Jane Doe"
        ),
        ["*** #lobby Jane (jane@10.0.0.2) G@ Jane Doe"]
    );
    assert_eq!(
        server(&mut s, ":n 306 John :You have been marked as being away"),
        ["*** You are marked as away"]
    );
    assert_eq!(
        server(&mut s, ":n 322 John #rust 3 :All about crabs"),
        ["*** #rust (3 people) All about crabs"]
    );
}

#[test]
fn join_switches_the_current_room_and_part_returns_to_the_previous() {
    let mut s = joined("John");
    assert_eq!(sent(&input(&mut s, "/join dev")), ["JOIN #dev"]);
    let _ = server(&mut s, ":John!j@h JOIN #dev");
    assert_eq!(s.current_room(), Some("#dev"));
    assert_eq!(sent(&input(&mut s, "hi dev")), ["PRIVMSG #dev :hi dev"]);
    assert_eq!(
        sent(&input(&mut s, "/part done here")),
        ["PART #dev :done here"]
    );
    assert_eq!(
        server(&mut s, ":John!j@h PART #dev :done here"),
        ["*** You left #dev", "*** Now talking in #lobby"]
    );
    assert_eq!(s.current_room(), Some("#lobby"));
    assert_eq!(sent(&input(&mut s, "/join #lobby")), Vec::<String>::new());
}

#[test]
fn commands_become_the_right_irc_lines() {
    let mut s = joined("John");
    assert_eq!(sent(&input(&mut s, "/names")), ["NAMES #lobby"]);
    assert_eq!(sent(&input(&mut s, "/nick Johnny")), ["NICK Johnny"]);
    assert_eq!(sent(&input(&mut s, "/topic")), ["TOPIC #lobby"]);
    assert_eq!(
        sent(&input(&mut s, "/topic Rust and tea")),
        ["TOPIC #lobby :Rust and tea"]
    );
    assert_eq!(sent(&input(&mut s, "//slash")), ["PRIVMSG #lobby /slash"]);
    let out = input(&mut s, "/quit see you");
    assert_eq!(sent(&out), ["QUIT :see you"]);
    assert_eq!(out.last(), Some(&Output::Quit));
    assert!(s.is_quitting());
    assert!(input(&mut s, "too late").is_empty());
}

#[test]
fn unknown_commands_and_missing_arguments_get_helpful_local_messages() {
    let mut s = joined("John");
    let out = input(&mut s, "/frobnicate now");
    assert!(sent(&out).is_empty());
    assert_eq!(
        shown(&out),
        ["*** unknown command /frobnicate: type /help for the list (start a line with // to send a slash)"]
    );
    assert_eq!(
        shown(&input(&mut s, "/msg Jane")),
        ["*** usage: /msg NICK TEXT"]
    );
    assert!(shown(&input(&mut s, "/nick 9lives"))[0].contains("not a valid nickname"));
    let help = shown(&input(&mut s, "/help"));
    for command in [
        "/msg", "/join", "/part", "/names", "/nick", "/me", "/topic", "/quit",
    ] {
        assert!(
            help.iter().any(|l| l.contains(command)),
            "{command} missing"
        );
    }
}

#[test]
fn long_messages_are_split_to_fit_the_line_limit() {
    let mut s = joined("John");
    let text = "word ".repeat(300);
    let lines = sent(&input(&mut s, &text));
    assert!(lines.len() > 1);
    assert!(lines.iter().all(|l| l.len() <= 400), "{lines:?}");
    let rejoined: String = lines
        .iter()
        .map(|l| l.split_once(" :").map(|(_, t)| t).unwrap_or(""))
        .collect();
    assert_eq!(rejoined, text, "nothing lost or added at the seams");
}

#[test]
fn escape_sequences_from_the_network_are_shown_harmlessly() {
    let mut s = joined("John");
    let lines = server(
        &mut s,
        ":Ev\u{1b}il!e@h PRIVMSG #lobby :\u{1b}[2J\u{1b}]0;owned\u{7} \u{2}bold\u{2} \u{3}4red\u{3} \u{9b}31m",
    );
    assert_eq!(
        lines,
        ["[12:35:01] [Ev^[il]: ^[[2J^[]0;owned^G bold red <U+009B>31m"]
    );
}

#[test]
fn the_server_closing_the_link_is_explained() {
    let mut s = joined("John");
    assert_eq!(
        server(&mut s, "ERROR :Ping timeout: 180 seconds"),
        ["*** The server closed the connection: Ping timeout: 180 seconds"]
    );
    assert_eq!(s.server_error(), Some("Ping timeout: 180 seconds"));
}

#[test]
fn a_scripted_session_reads_naturally() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let mut transcript = Vec::new();
    let mut record = |outs: Vec<Output>| {
        for o in outs {
            transcript.push(match o {
                Output::Send(l) => format!(">> {l}"),
                Output::Display(l) => l.text().to_string(),
                Output::Quit => "(quit)".to_string(),
                Output::Fail(e) => format!("(fail: {e})"),
            });
        }
    };
    record(s.start());
    let script = [
        ":natter CAP * LS :echo-message",
        ":natter CAP John ACK :echo-message",
        ":natter 001 John :Welcome to the natter IRC network, John!john@127.0.0.1",
        ":natter 422 John :MOTD File is missing",
        ":John!john@127.0.0.1 JOIN #lobby",
        ":natter 332 John #lobby :Say hi",
        ":natter 353 John = #lobby :Jane John",
        ":natter 366 John #lobby :End of /NAMES list",
        ":John!john@127.0.0.1 PRIVMSG #lobby :Hello everyone!",
        ":Jane!jane@127.0.0.1 PRIVMSG #lobby :Hi John",
        ":Jane!jane@127.0.0.1 PRIVMSG John :\u{1}ACTION winks\u{1}",
        ":Bob!bob@127.0.0.1 JOIN #lobby",
        ":Bob!bob@127.0.0.1 NICK Bobby",
        ":Bobby!bob@127.0.0.1 QUIT :Quit: bye",
        "PING :natter",
    ];
    for (i, line) in script.iter().enumerate() {
        if i == 8 {
            record(s.handle_input("Hello everyone!", at(12, 35, 1)));
        }
        record(s.handle_server_line(line, at(12, 35, i as u32)));
    }
    record(s.handle_input("/quit bye", at(12, 37, 0)));
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("client_scripted_session", transcript.join("\n")));
}

/// Shuttles lines between sessions and the pure core server until quiet.
fn pump(h: &mut Harness, clients: &mut [(u64, Session, Vec<String>)]) {
    loop {
        let mut quiet = true;
        for (id, session, screen) in clients.iter_mut() {
            let conn = natter::core::ConnId(*id);
            for line in h.take(conn) {
                quiet = false;
                for out in session.handle_server_line(&line, noon()) {
                    match out {
                        Output::Send(l) => h.send(conn, &l),
                        Output::Display(d) => screen.push(d.text().to_string()),
                        Output::Quit | Output::Fail(_) => {}
                    }
                }
            }
        }
        if quiet {
            return;
        }
    }
}

fn type_line(h: &mut Harness, client: &mut (u64, Session, Vec<String>), line: &str) {
    let conn = natter::core::ConnId(client.0);
    for out in client.1.handle_input(line, noon()) {
        match out {
            Output::Send(l) => h.send(conn, &l),
            Output::Display(d) => client.2.push(d.text().to_string()),
            Output::Quit | Output::Fail(_) => {}
        }
    }
}

#[test]
fn two_sessions_chat_through_the_natter_core_and_each_line_shows_once() {
    let mut h = Harness::new();
    let mut clients = Vec::new();
    for (id, nick) in [(1u64, "alice"), (2, "bob")] {
        let conn = h.connect(id, &format!("127.0.0.1:{}", 40000 + id));
        let mut session = Session::new(nick, "#lobby", NickRetry::GiveUp);
        for out in session.start() {
            if let Output::Send(l) = out {
                h.send(conn, &l);
            }
        }
        clients.push((id, session, Vec::new()));
        pump(&mut h, &mut clients);
    }
    type_line(&mut h, &mut clients[0], "hi bob");
    pump(&mut h, &mut clients);
    type_line(&mut h, &mut clients[1], "/me waves");
    type_line(&mut h, &mut clients[1], "/msg alice psst");
    pump(&mut h, &mut clients);
    type_line(&mut h, &mut clients[1], "/quit bye");
    pump(&mut h, &mut clients);

    let count = |screen: &[String], text: &str| screen.iter().filter(|l| *l == text).count();
    let (alice, bob) = (&clients[0].2, &clients[1].2);
    assert!(clients[0].1.has_echo_message());
    assert_eq!(count(bob, "*** alice joined #lobby"), 0, "bob came later");
    assert_eq!(count(alice, "*** bob joined #lobby"), 1);
    assert_eq!(count(alice, "[12:00:00] [alice]: hi bob"), 1);
    assert_eq!(count(bob, "[12:00:00] [alice]: hi bob"), 1);
    assert_eq!(count(alice, "[12:00:00] * bob waves"), 1);
    assert_eq!(count(alice, "[12:00:00] *bob* -> you: psst"), 1);
    assert_eq!(count(bob, "[12:00:00] -> *alice*: psst"), 1);
    assert_eq!(count(alice, "*** bob has quit (Quit: bye)"), 1);
    assert!(
        bob.iter().any(|l| l == "*** In #lobby: @alice bob"),
        "{bob:?}"
    );
}

proptest! {
    #[test]
    fn no_server_line_panics_or_puts_a_control_character_on_screen(line in "\\PC{0,40}|[\\x00-\\x7f\\u{80}-\\u{a0}\\u{202e}]{0,60}") {
        let mut s = joined("John");
        for prefix in ["", ":Jane!j@h PRIVMSG #lobby :", ":Jane!j@h PRIVMSG John :", ":n 401 John "] {
            for out in s.handle_server_line(&format!("{prefix}{line}"), noon()) {
                if let Output::Display(d) = out {
                    prop_assert!(!d.text().chars().any(|c| c.is_control()), "{:?}", d.text());
                    prop_assert!(!d.text().contains('\u{202e}'), "bidi override shown: {:?}", d.text());
                }
            }
        }
    }
}
