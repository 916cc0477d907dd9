//! Presence and identity, as scenarios over the core: MONITOR (730–734)
//! and `extended-monitor`, capability negotiation details (`cap-notify`,
//! CAP after registration, atomic REQ, 302 values and lines),
//! `userhost-in-names`, `extended-join` and `setname`. MONITOR's
//! notifications under random scripts are checked by the reference model
//! (`common/model/presence.rs`, run by `core_model` and `simulation`).
mod common;
#[path = "common/e2e.rs"]
mod e2e;
use common::{commands, member, snapshot_settings, take, user, Harness};
use natter::core::{ConnId, Event, ServerConfig, StsPolicy};
use natter::proto::Message;

/// `(command, params after the target)` of each line, for compact asserts.
fn shapes(msgs: &[Message]) -> Vec<(String, Vec<String>)> {
    msgs.iter()
        .map(|m| {
            (
                m.command.clone(),
                m.params.iter().skip(1).cloned().collect(),
            )
        })
        .collect()
}

/// One expected line shape.
fn shape(command: &str, params: &[&str]) -> (String, Vec<String>) {
    (
        command.to_string(),
        params.iter().map(|p| p.to_string()).collect(),
    )
}

/// Sends `line` and returns the raw lines `conn` got back.
fn ask(h: &mut Harness, conn: ConnId, line: &str) -> Vec<String> {
    h.send(conn, line);
    h.take(conn)
}

// ---------------------------------------------------------------- MONITOR

#[test]
fn monitor_plus_answers_730_with_masks_of_online_nicks_and_731_with_the_others() {
    let mut h = Harness::new();
    let _alice = user(&mut h, 1, "Alice");
    let bob = user(&mut h, 2, "bob");
    h.send(bob, "MONITOR + alice,carol,ALICE");
    assert_eq!(
        h.take(bob),
        [
            ":natter 730 bob Alice!alice@127.0.0.1",
            ":natter 731 bob carol",
        ],
        "each nick answered once, online ones with their own spelling and mask"
    );
}

#[test]
fn watchers_hear_a_monitored_nick_register_change_nick_and_quit_and_nobody_else_does() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let dave = user(&mut h, 4, "dave");
    h.send(bob, "MONITOR + carol,carla");
    h.take(bob);

    let carol = user(&mut h, 3, "carol");
    assert_eq!(h.take(bob), [":natter 730 * carol!carol@127.0.0.1"]);
    h.send(carol, "NICK carla");
    assert_eq!(
        h.take(bob),
        [":natter 731 * carol", ":natter 730 * carla!carol@127.0.0.1"]
    );
    h.send(carol, "QUIT :bye");
    assert_eq!(h.take(bob), [":natter 731 * carla"]);
    assert!(h.take(dave).is_empty(), "dave monitors nobody");
}

#[test]
fn a_dropped_connection_is_told_offline_like_a_quit() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let carol = user(&mut h, 3, "carol");
    h.send(bob, "MONITOR + carol");
    h.take(bob);
    h.drop_conn(carol, "Connection reset by peer");
    assert_eq!(h.take(bob), [":natter 731 * carol"]);
}

#[test]
fn a_nick_held_while_registering_is_offline_until_registration_completes() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let carol = h.connect(3, "127.0.0.1:13000");
    h.send(carol, "CAP LS 302");
    h.send(carol, "NICK carol");
    h.send(carol, "USER carol 0 * :Carol");
    h.send(bob, "MONITOR + carol");
    assert_eq!(h.take(bob), [":natter 731 bob carol"]);
    h.send(carol, "CAP END");
    assert_eq!(h.take(bob), [":natter 730 * carol!carol@127.0.0.1"]);
}

#[test]
fn a_connection_that_leaves_while_registering_is_not_told_offline() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    h.send(bob, "MONITOR + carol");
    h.take(bob);
    let carol = h.connect(3, "127.0.0.1:13000");
    h.send(carol, "NICK carol");
    h.send(carol, "QUIT");
    assert!(h.take(bob).is_empty(), "carol was never online");
}

#[test]
fn a_change_of_case_only_is_not_an_offline_and_online() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let carol = user(&mut h, 3, "carol");
    h.send(bob, "MONITOR + carol");
    h.take(bob);
    h.send(carol, "NICK Carol");
    assert!(h.take(bob).is_empty());
    h.send(bob, "MONITOR S");
    assert_eq!(h.take(bob), [":natter 730 bob Carol!carol@127.0.0.1"]);
}

#[test]
fn monitor_minus_c_l_and_s_edit_and_show_the_list() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let _carol = user(&mut h, 3, "carol");
    assert_eq!(
        ask(&mut h, bob, "MONITOR + Carol,dave,erin"),
        [
            ":natter 730 bob carol!carol@127.0.0.1",
            ":natter 731 bob dave,erin",
        ]
    );
    assert_eq!(
        ask(&mut h, bob, "MONITOR L"),
        [
            ":natter 732 bob Carol,dave,erin",
            ":natter 733 bob :End of MONITOR list",
        ],
        "the list keeps the spelling the client gave"
    );
    assert!(ask(&mut h, bob, "MONITOR - DAVE,nobody").is_empty());
    assert_eq!(
        ask(&mut h, bob, "MONITOR s"),
        [
            ":natter 730 bob carol!carol@127.0.0.1",
            ":natter 731 bob erin",
        ]
    );
    assert!(ask(&mut h, bob, "MONITOR C").is_empty());
    assert_eq!(
        ask(&mut h, bob, "MONITOR L"),
        [":natter 733 bob :End of MONITOR list"]
    );
    assert!(ask(&mut h, bob, "MONITOR S").is_empty());
    let dave = user(&mut h, 4, "dave");
    h.send(dave, "QUIT");
    assert!(h.take(bob).is_empty(), "a removed nick is not watched");
}

#[test]
fn monitor_mistakes_are_answered_with_numerics_that_say_what_to_do() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let got = take(&mut h, bob);
    assert!(got.is_empty());
    h.send(bob, "MONITOR");
    h.send(bob, "MONITOR +");
    h.send(bob, "MONITOR - :");
    h.send(bob, "MONITOR X carol");
    let got = take(&mut h, bob);
    assert_eq!(
        shapes(&got),
        [
            shape("461", &["MONITOR", "Not enough parameters"]),
            shape("461", &["MONITOR", "Not enough parameters"]),
            shape("461", &["MONITOR", "Not enough parameters"]),
            shape(
                "400",
                &["MONITOR", "X", "Unknown MONITOR modifier: use + - C L or S"]
            ),
        ]
    );
    // Names that can never be nicks are skipped, not added.
    assert_eq!(
        ask(&mut h, bob, "MONITOR + #room,9lives,,carol"),
        [":natter 731 bob carol"]
    );
    assert_eq!(ask(&mut h, bob, "MONITOR L")[0], ":natter 732 bob carol");
    let c = h.connect(9, "127.0.0.1:5999");
    h.send(c, "MONITOR + bob");
    assert_eq!(commands(&take(&mut h, c)), ["451"]);
}

#[test]
fn the_list_holds_100_nicks_and_734_names_those_that_did_not_fit() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let _carol = user(&mut h, 3, "carol");
    for chunk in 0..10 {
        let nicks: Vec<String> = (0..10).map(|i| format!("n{}", chunk * 10 + i)).collect();
        h.send(bob, &format!("MONITOR + {}", nicks.join(",")));
    }
    // Re-adding a watched nick costs nothing.
    h.send(bob, "MONITOR + n0");
    h.take(bob);
    assert_eq!(
        ask(&mut h, bob, "MONITOR + carol,zed"),
        [":natter 734 bob 100 carol,zed :Monitor list is full."]
    );
    h.send(bob, "MONITOR - n0,n1");
    assert_eq!(
        ask(&mut h, bob, "MONITOR + n5,carol,yan,zed,xi"),
        [
            ":natter 730 bob carol!carol@127.0.0.1",
            ":natter 731 bob n5,yan",
            ":natter 734 bob 100 zed,xi :Monitor list is full.",
        ],
        "what fits is added and answered, the rest is named in 734"
    );
    let list = ask(&mut h, bob, "MONITOR L");
    let listed: usize = list
        .iter()
        .filter(|l| l.contains(" 732 "))
        .map(|l| l.rsplit(' ').next().unwrap_or("").split(',').count())
        .sum();
    assert_eq!(listed, 100);
    assert!(list.iter().all(|l| l.len() <= 510), "{list:?}");
}

#[test]
fn long_monitor_replies_are_split_into_lines_that_fit_512_bytes() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let long: Vec<String> = (0..40)
        .map(|i| format!("{}{i:02}", "x".repeat(28)))
        .collect();
    h.send(bob, &format!("MONITOR + {}", long[..15].join(",")));
    h.send(bob, &format!("MONITOR + {}", long[15..30].join(",")));
    h.send(bob, &format!("MONITOR + {}", long[30..].join(",")));
    h.take(bob);
    let got = ask(&mut h, bob, "MONITOR S");
    assert!(got.len() >= 3, "{got:?}");
    assert!(got.iter().all(|l| l.len() <= 510 && l.contains(" 731 ")));
    let named: usize = got
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap_or("").split(',').count())
        .sum();
    assert_eq!(named, 40, "every nick once");
}

#[test]
fn a_watcher_that_leaves_hears_nothing_more_and_others_still_do() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let dave = user(&mut h, 4, "dave");
    h.send(bob, "MONITOR + carol,bob");
    h.send(dave, "MONITOR + carol");
    h.send(bob, "QUIT");
    h.take(bob);
    h.take(dave);
    let _carol = user(&mut h, 3, "carol");
    assert!(!h.received.contains_key(&bob), "nothing after bob's Close");
    assert_eq!(h.take(dave), [":natter 730 * carol!carol@127.0.0.1"]);
}

#[test]
fn a_monitor_session_in_full() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let _alice = user(&mut h, 1, "alice");
    let mut transcript = Vec::new();
    let step = |h: &mut Harness, transcript: &mut Vec<String>, line: &str| {
        transcript.push(format!("> {line}"));
        for got in ask(h, bob, line) {
            transcript.push(format!("< {got}"));
        }
    };
    step(&mut h, &mut transcript, "MONITOR + alice,carol,dave");
    step(&mut h, &mut transcript, "MONITOR L");
    step(&mut h, &mut transcript, "MONITOR S");
    let carol = user(&mut h, 3, "carol");
    transcript.push("(carol registers, changes nick to carla, quits)".into());
    h.send(carol, "NICK carla");
    h.send(carol, "QUIT");
    transcript.extend(h.take(bob).into_iter().map(|l| format!("< {l}")));
    step(&mut h, &mut transcript, "MONITOR - alice");
    step(&mut h, &mut transcript, "MONITOR S");
    step(&mut h, &mut transcript, "HELP MONITOR");
    let text = transcript.join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("monitor_session", text));
}

#[test]
fn isupport_advertises_the_monitor_limit_and_the_realname_length() {
    let mut h = Harness::new();
    let conn = h.register(1, "John", 12000);
    let burst = h.take(conn).join("\n");
    assert!(burst.contains(" MONITOR=100 "), "{burst}");
    assert!(burst.contains(" NAMELEN=128 "), "{burst}");
}

// ------------------------------------------------------- extended-monitor

#[test]
fn extended_monitor_brings_away_of_a_monitored_nick_to_watchers_with_away_notify() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let both = user(&mut h, 2, "bob");
    let away_only = user(&mut h, 3, "carol");
    let extended_only = user(&mut h, 4, "dave");
    let roommate = member(&mut h, 5, "erin", "#room");
    h.send(both, "CAP REQ :extended-monitor away-notify");
    h.send(away_only, "CAP REQ :away-notify");
    h.send(extended_only, "CAP REQ :extended-monitor");
    h.send(roommate, "CAP REQ :extended-monitor away-notify");
    for c in [both, away_only, extended_only, roommate] {
        h.send(c, "MONITOR + alice");
        h.take(c);
    }
    h.take(alice);
    h.send(alice, "AWAY :lunch");
    assert_eq!(h.take(both), [":alice!alice@127.0.0.1 AWAY lunch"]);
    assert!(h.take(away_only).is_empty(), "no extended-monitor");
    assert!(h.take(extended_only).is_empty(), "no away-notify");
    assert_eq!(
        h.take(roommate),
        [":alice!alice@127.0.0.1 AWAY lunch"],
        "once, though erin both shares a room and monitors"
    );
    assert_eq!(commands(&take(&mut h, alice)), ["306"]);
}

#[test]
fn extended_monitor_brings_setname_of_a_monitored_nick_to_watchers_with_setname() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let bob = user(&mut h, 2, "bob");
    let carol = user(&mut h, 3, "carol");
    h.send(bob, "CAP REQ :extended-monitor setname");
    h.send(carol, "CAP REQ :setname");
    h.send(bob, "MONITOR + alice");
    h.send(carol, "MONITOR + alice");
    h.take(bob);
    h.take(carol);
    h.send(alice, "SETNAME :Alice Liddell");
    assert_eq!(
        h.take(bob),
        [":alice!alice@127.0.0.1 SETNAME :Alice Liddell"]
    );
    assert!(h.take(carol).is_empty(), "carol has no extended-monitor");
}

// ------------------------------------------------------ CAP negotiation

#[test]
fn cap_ls_302_turns_cap_notify_on_for_good() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.send(conn, "CAP LS 302");
    h.send(conn, "CAP LIST");
    let got = take(&mut h, conn);
    assert_eq!(got[1].params[1..], ["LIST", "cap-notify"]);
    h.send(conn, "CAP REQ :-cap-notify");
    h.send(conn, "CAP LS");
    h.send(conn, "CAP LIST");
    let got = take(&mut h, conn);
    assert_eq!(
        shapes(&got)[0],
        shape("CAP", &["NAK", "-cap-notify"]),
        "a 302 client cannot turn it off"
    );
    assert_eq!(got[2].params[1..], ["LIST", "cap-notify"]);
    // It may still ask for it, and is answered ACK with no side effect.
    assert_eq!(
        shapes(&take_after(&mut h, conn, "CAP REQ cap-notify")),
        [shape("CAP", &["ACK", "cap-notify"])]
    );
}

#[test]
fn a_client_before_302_may_turn_cap_notify_on_and_off() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.send(conn, "CAP LS");
    h.send(conn, "CAP LIST");
    assert_eq!(take(&mut h, conn)[1].params[1..], ["LIST", ""]);
    assert_eq!(
        shapes(&take_after(&mut h, conn, "CAP REQ cap-notify")),
        [shape("CAP", &["ACK", "cap-notify"])]
    );
    assert_eq!(
        shapes(&take_after(&mut h, conn, "CAP REQ -cap-notify")),
        [shape("CAP", &["ACK", "-cap-notify"])]
    );
}

/// Sends `line` and returns the parsed lines `conn` got back.
fn take_after(h: &mut Harness, conn: ConnId, line: &str) -> Vec<Message> {
    h.send(conn, line);
    take(h, conn)
}

#[test]
fn cap_works_after_registration_and_cap_end_then_changes_nothing() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let got = take_after(&mut h, alice, "CAP LS 302");
    assert_eq!(got[0].params[..2], ["alice", "LS"]);
    assert!(got[0].params[2].contains("setname"), "{:?}", got[0]);
    assert_eq!(
        shapes(&take_after(
            &mut h,
            alice,
            "CAP REQ :setname userhost-in-names"
        )),
        [shape("CAP", &["ACK", "setname userhost-in-names"])]
    );
    assert!(
        take_after(&mut h, alice, "CAP END").is_empty(),
        "no second welcome"
    );
    let got = take_after(&mut h, alice, "CAP LIST");
    assert_eq!(
        got[0].params[1..],
        ["LIST", "cap-notify userhost-in-names setname"]
    );
    // And the capability works at once.
    h.send(alice, "JOIN #room");
    h.take(alice);
    let got = take_after(&mut h, alice, "NAMES #room");
    assert_eq!(got[0].params[3], "@alice!alice@127.0.0.1");
}

#[test]
fn cap_req_is_all_or_nothing() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    assert_eq!(
        shapes(&take_after(
            &mut h,
            alice,
            "CAP REQ :setname extended-join draft/metadata-2"
        )),
        [shape(
            "CAP",
            &["NAK", "setname extended-join draft/metadata-2"]
        )]
    );
    assert_eq!(
        take_after(&mut h, alice, "CAP LIST")[0].params[1..],
        ["LIST", ""],
        "nothing of a refused request is enabled"
    );
    assert_eq!(
        shapes(&take_after(&mut h, alice, "CAP REQ :SETNAME")),
        [shape("CAP", &["NAK", "SETNAME"])],
        "capability names are case-sensitive"
    );
    assert_eq!(
        shapes(&take_after(
            &mut h,
            alice,
            "CAP REQ :setname  setname -setname "
        )),
        [shape("CAP", &["ACK", "setname -setname"])],
        "each named once, applied left to right"
    );
    assert_eq!(take_after(&mut h, alice, "CAP LIST")[0].params[2], "");
}

#[test]
fn capability_values_go_only_to_clients_asking_302_and_the_list_fits_one_line() {
    let mut h = Harness::with_config(ServerConfig {
        sts: Some(StsPolicy {
            port: 6697,
            duration_secs: 300,
        }),
        ..ServerConfig::default()
    });
    let conn = h.connect(1, "127.0.0.1:12000");
    let ls302 = ask(&mut h, conn, "CAP LS 302");
    assert_eq!(ls302.len(), 1, "one line, no `*` continuation: {ls302:?}");
    let plain = ask(&mut h, conn, "CAP LS");
    assert!(ls302[0].ends_with(" sts=port=6697"), "{ls302:?}");
    assert!(!plain[0].contains("sts"), "{plain:?}");
    let text = format!("> CAP LS 302\n< {}\n> CAP LS\n< {}", ls302[0], plain[0]);
    snapshot_settings().bind(|| insta::assert_snapshot!("cap_ls_302_and_plain", text));
}

#[test]
fn a_capability_list_too_long_for_a_line_is_split_with_a_star_for_302_clients() {
    // Only a very long server name makes today's list too long for a line.
    let server_name = format!("irc.{}.example", "x".repeat(400));
    let mut h = Harness::with_config(ServerConfig {
        server_name,
        ..ServerConfig::default()
    });
    let conn = h.connect(1, "127.0.0.1:12000");
    let got = take_after(&mut h, conn, "CAP LS 302");
    assert!(got.len() > 1, "{got:?}");
    let (last, more) = got.split_last().expect("several lines");
    for m in more {
        assert_eq!(m.params[..3], ["*", "LS", "*"], "{m:?}");
    }
    assert_eq!(last.params[..2], ["*", "LS"]);
    assert_eq!(last.params.len(), 3, "the last line has no star: {last:?}");
    let all: Vec<&str> = got
        .iter()
        .flat_map(|m| m.params.last().map_or("", String::as_str).split(' '))
        .collect();
    assert!(all.contains(&"echo-message") && all.contains(&"setname"));
    assert!(h.take(conn).is_empty());
    h.send(conn, "CAP REQ :echo-message message-tags server-time batch");
    h.send(
        conn,
        "CAP REQ :multi-prefix invite-notify away-notify extended-monitor",
    );
    h.send(
        conn,
        "CAP REQ :userhost-in-names extended-join setname draft/chathistory",
    );
    assert_eq!(commands(&take(&mut h, conn)), ["CAP", "CAP", "CAP"]);
    let got = take_after(&mut h, conn, "CAP LIST");
    assert!(got.len() > 1, "CAP LIST splits the same way: {got:?}");
    assert_eq!(got[0].params[..3], ["*", "LIST", "*"]);
}

// ------------------------------------------- userhost-in-names, extended-join

#[test]
fn userhost_in_names_shows_nick_user_host_with_prefixes() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.send(alice, "MODE #room +v alice");
    h.send(bob, "CAP REQ :userhost-in-names multi-prefix");
    h.take(alice);
    h.take(bob);
    let got = take_after(&mut h, bob, "NAMES #room");
    assert_eq!(
        got[0].params[1..],
        ["=", "#room", "@+alice!alice@127.0.0.1 bob!bob@127.0.0.1"]
    );
    let got = take_after(&mut h, alice, "NAMES #room");
    assert_eq!(got[0].params[3], "@alice bob", "alice did not ask for it");
}

#[test]
fn extended_join_shows_account_star_and_real_name_to_those_who_asked() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.send(bob, "CAP REQ extended-join");
    h.take(bob);
    h.take(alice);
    let carol = h.connect(3, "127.0.0.1:13000");
    h.send(carol, "CAP REQ extended-join");
    h.send(carol, "NICK carol");
    h.send(carol, "USER carol 0 * :Carol Kennedy");
    h.send(carol, "CAP END");
    h.take(carol);
    h.send(carol, "JOIN #room");
    assert_eq!(h.take(alice), [":carol!carol@127.0.0.1 JOIN #room"]);
    assert_eq!(
        h.take(bob),
        [":carol!carol@127.0.0.1 JOIN #room * :Carol Kennedy"]
    );
    assert_eq!(
        h.take(carol)[0],
        ":carol!carol@127.0.0.1 JOIN #room * :Carol Kennedy",
        "the joiner too"
    );
}

#[test]
fn extended_join_keeps_the_tags_a_client_asked_for() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    h.send(alice, "CAP REQ :extended-join server-time");
    h.take(alice);
    let _bob = member(&mut h, 2, "bob", "#room");
    let got = take(&mut h, alice);
    assert!(got[0].tag("time").is_some(), "{got:?}");
    assert_eq!(got[0].params, ["#room", "*", "bob"]);
}

// ----------------------------------------------------------------- setname

#[test]
fn setname_reaches_room_peers_and_the_sender_with_the_capability() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    let dave = user(&mut h, 4, "dave");
    for c in [alice, bob, dave] {
        h.send(c, "CAP REQ setname");
    }
    for c in [alice, bob, carol, dave] {
        h.take(c);
    }
    h.send(alice, "SETNAME :Alice P. Liddell");
    let line = ":alice!alice@127.0.0.1 SETNAME :Alice P. Liddell";
    assert_eq!(h.take(alice), [line], "the sender's confirmation");
    assert_eq!(h.take(bob), [line]);
    assert!(h.take(carol).is_empty(), "carol did not ask for setname");
    assert!(h.take(dave).is_empty(), "dave shares no room");
    let got = take_after(&mut h, carol, "WHOIS alice");
    assert_eq!(got[0].params[5], "Alice P. Liddell");
}

#[test]
fn setname_without_the_capability_changes_the_name_silently() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.send(bob, "CAP REQ setname");
    h.take(bob);
    h.take(alice);
    assert!(take_after(&mut h, alice, "SETNAME Alice").is_empty());
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 SETNAME Alice"]);
    let got = take_after(&mut h, bob, "WHO alice");
    assert_eq!(got[0].params[7], "0 Alice");
}

#[test]
fn an_empty_or_too_long_real_name_is_refused_with_fail_invalid_realname() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    h.send(alice, "CAP REQ setname");
    h.take(alice);
    let too_long = "x".repeat(129);
    for line in [
        "SETNAME".to_string(),
        "SETNAME :".to_string(),
        format!("SETNAME :{too_long}"),
    ] {
        let got = take_after(&mut h, alice, &line);
        assert_eq!(
            got.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            [":natter FAIL SETNAME INVALID_REALNAME :Realname is not valid: it must be 1 to 128 bytes long"],
            "{line}"
        );
    }
    let longest = "é".repeat(64);
    let got = take_after(&mut h, alice, &format!("SETNAME :{longest}"));
    assert_eq!(got[0].command, "SETNAME", "128 bytes fit");
}

#[test]
fn a_real_name_from_user_is_cut_to_namelen_bytes() {
    let mut h = Harness::new();
    let alice = h.connect(1, "127.0.0.1:12000");
    h.send(alice, "NICK alice");
    h.send(alice, &format!("USER alice 0 * :{}", "ab".repeat(100)));
    h.take(alice);
    let got = take_after(&mut h, alice, "WHOIS alice");
    assert_eq!(got[0].params[5], "ab".repeat(64));
}

#[test]
fn shutdown_tells_no_watcher_after_its_own_close() {
    let mut h = Harness::new();
    let bob = user(&mut h, 2, "bob");
    let carol = user(&mut h, 3, "carol");
    h.send(bob, "MONITOR + carol");
    h.send(carol, "MONITOR + bob");
    h.take(bob);
    h.take(carol);
    let now = h.now;
    h.server.handle_event(Event::Shutdown { now });
    let mut closed = std::collections::BTreeSet::new();
    while let Some(action) = h.server.poll_action() {
        match action {
            natter::core::Action::Close { conn, .. } => {
                closed.insert(conn);
            }
            natter::core::Action::Send { to, .. } => assert!(!closed.contains(&to)),
            natter::core::Action::Broadcast { to, .. } => {
                assert!(to.iter().all(|c| !closed.contains(c)), "{to:?}")
            }
            _ => {}
        }
    }
    assert_eq!(closed.len(), 2);
}

#[test]
fn over_the_wire_a_watcher_hears_a_friend_arrive_and_vanish() {
    let server = e2e::start_server(natter::net::DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut bob = e2e::Client::register(addr, "bob");
    bob.send("MONITOR + carol");
    assert_eq!(bob.sync(), [":natter 731 bob carol"]);
    let carol = e2e::Client::register(addr, "carol");
    let got = bob.read_until(|l| l.contains(" 730 "));
    assert_eq!(got, [":natter 730 * carol!carol@127.0.0.1"]);
    carol.vanish();
    let got = bob.read_until(|l| l.contains(" 731 "));
    assert_eq!(got, [":natter 731 * carol"]);
}
