//! Message history in the core, as scenarios: what a joiner is replayed,
//! how it is marked for clients with and without IRCv3 capabilities, what
//! is stored (and in which order relative to the lines that carry it),
//! restoring after a restart, retention, and CHATHISTORY paging.
mod common;
use common::{snapshot_settings, Harness};
use natter::core::{Action, ConnId, Event, HistoryKind, HistoryRecord, ServerConfig, Timestamp};
use natter::proto::Message;
use std::collections::BTreeSet;

/// Registers `nick` (with `caps` requested first, if any) and throws away
/// its welcome burst.
fn user(h: &mut Harness, id: u64, nick: &str, caps: &str) -> ConnId {
    let conn = h.connect(id, &format!("127.0.0.1:{}", 12000 + id));
    if !caps.is_empty() {
        h.send(conn, "CAP LS 302");
        h.send(conn, &format!("CAP REQ :{caps}"));
    }
    h.send(conn, &format!("NICK {nick}"));
    h.send(conn, &format!("USER {} 0 * :{nick}", nick.to_lowercase()));
    if !caps.is_empty() {
        h.send(conn, "CAP END");
    }
    h.take(conn);
    conn
}

const ALL_CAPS: &str = "message-tags server-time batch draft/chathistory echo-message";

/// alice says three things in #lobby, a second apart.
fn three_messages(h: &mut Harness) -> ConnId {
    let alice = user(h, 1, "alice", "");
    h.send(alice, "JOIN #lobby");
    for text in ["good morning", "anyone here?", "coffee is ready"] {
        h.advance_secs(1);
        h.send(alice, &format!("PRIVMSG #lobby :{text}"));
    }
    h.take(alice);
    alice
}

fn texts(lines: &[String], command: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| Message::parse(l).ok())
        .filter(|m| m.command == command)
        .map(|m| m.param(1).to_string())
        .collect()
}

/// What bob, with `caps`, is sent on joining #lobby after alice's three
/// messages, on a server with `config`.
fn bob_joins_after_three_messages(config: ServerConfig, caps: &str) -> Vec<String> {
    let mut h = Harness::with_config(config);
    three_messages(&mut h);
    let bob = user(&mut h, 2, "bob", caps);
    h.send(bob, "JOIN #lobby");
    h.take(bob)
}

#[test]
fn a_plain_client_joining_gets_the_recent_messages_time_prefixed_between_notices() {
    let got = bob_joins_after_three_messages(ServerConfig::default(), "").join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("history_on_join_plain", got));
}

#[test]
fn plain_replay_shows_times_in_the_servers_zone_like_server_log() {
    let config = ServerConfig {
        utc_offset_secs: 3600,
        ..ServerConfig::default()
    };
    assert_eq!(
        texts(&bob_joins_after_three_messages(config, ""), "PRIVMSG"),
        [
            "[2023-11-09 13:34:57] good morning",
            "[2023-11-09 13:34:58] anyone here?",
            "[2023-11-09 13:34:59] coffee is ready",
        ]
    );
}

#[test]
fn plain_replay_keeps_an_action_an_action_with_its_time_inside() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice", "");
    h.send(alice, "JOIN #lobby");
    h.send(alice, "PRIVMSG #lobby :\x01ACTION waves\x01");
    h.send(alice, "PRIVMSG #lobby :\x01VERSION\x01");
    h.send(alice, "PRIVMSG #lobby :plain words");
    let bob = user(&mut h, 2, "bob", "");
    h.send(bob, "JOIN #lobby");
    assert_eq!(
        texts(&h.take(bob), "PRIVMSG"),
        [
            "\x01ACTION [2023-11-09 12:34:56] waves\x01",
            "[2023-11-09 12:34:56] plain words",
        ],
        "a CTCP query is not replayed as text"
    );
    // With server-time the action is replayed untouched.
    let carol = user(&mut h, 3, "carol", "server-time");
    h.send(carol, "JOIN #lobby");
    let got = texts(&h.take(carol), "PRIVMSG");
    assert_eq!(got[0], "\x01ACTION waves\x01");
}

#[test]
fn a_client_with_batch_and_server_time_gets_a_chathistory_batch() {
    let got = bob_joins_after_three_messages(ServerConfig::default(), ALL_CAPS).join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("history_on_join_batch", got));
}

#[test]
fn server_time_without_batch_gets_history_between_notices_with_original_times() {
    // irssi enables server-time but not batch: its history must still read
    // as history, framed by notices, each line at its own time.
    let got = bob_joins_after_three_messages(ServerConfig::default(), "server-time");
    let notices = texts(&got, "NOTICE");
    assert_eq!(
        notices,
        ["Replaying the last 3 messages of #lobby", "End of history"]
    );
    let replayed: Vec<&String> = got.iter().filter(|l| l.contains(" PRIVMSG ")).collect();
    assert_eq!(replayed.len(), 3);
    assert!(
        replayed[0].starts_with("@time=2023-11-09T12:34:57.000Z ")
            && replayed[0].ends_with(" :good morning"),
        "{replayed:?}"
    );
}

#[test]
fn history_on_join_is_limited_to_the_configured_number() {
    let config = ServerConfig {
        history_on_join: 2,
        ..ServerConfig::default()
    };
    let got = texts(
        &bob_joins_after_three_messages(config, "server-time"),
        "PRIVMSG",
    );
    assert_eq!(got, ["anyone here?", "coffee is ready"]);
}

#[test]
fn with_history_on_join_zero_a_joiner_gets_no_history() {
    let mut h = Harness::with_config(ServerConfig {
        history_on_join: 0,
        ..ServerConfig::default()
    });
    three_messages(&mut h);
    let bob = user(&mut h, 2, "bob", "");
    h.send(bob, "JOIN #lobby");
    assert!(texts(&h.take(bob), "PRIVMSG").is_empty());
}

#[test]
fn live_lines_are_serialized_once_per_distinct_capability_set_not_per_recipient() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice", "");
    h.send(alice, "JOIN #lobby");
    let caps = [
        "",
        "",
        "server-time",
        "server-time",
        "message-tags server-time",
    ];
    for (id, caps) in (2..).zip(caps) {
        let c = user(&mut h, id, &format!("u{id}"), caps);
        h.send(c, "JOIN #lobby");
    }
    h.server.handle_event(Event::Line {
        conn: alice,
        line: "PRIVMSG #lobby :hello all".into(),
        now: h.now,
    });
    let actions: Vec<Action> = std::iter::from_fn(|| h.server.poll_action()).collect();
    let lines: Vec<(Vec<ConnId>, String)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Broadcast { to, line } => Some((to.clone(), line.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 3, "one line per capability set: {lines:#?}");
    let recipients: usize = lines.iter().map(|(to, _)| to.len()).sum();
    assert_eq!(recipients, 5);
    assert!(lines[0].1.starts_with(":alice!"));
    assert!(lines[1].1.starts_with("@time="));
    assert!(lines[2].1.starts_with("@time=") && lines[2].1.contains(";msgid="));
}

#[test]
fn every_accepted_room_event_is_persisted_before_any_line_that_carries_it() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice", "");
    let bob = user(&mut h, 2, "bob", "");
    let mut kinds = Vec::new();
    let steps = [
        (alice, "JOIN #lobby"),
        (bob, "JOIN #lobby"),
        (alice, "PRIVMSG #lobby :hi"),
        (bob, "NOTICE #lobby :a notice"),
        (alice, "TOPIC #lobby :coffee"),
        (alice, "PRIVMSG bob :psst"),
        (bob, "PART #lobby :later"),
        (alice, "QUIT :bye"),
    ];
    for (conn, line) in steps {
        h.server.handle_event(Event::Line {
            conn,
            line: line.into(),
            now: h.now,
        });
        let mut persisted = false;
        while let Some(action) = h.server.poll_action() {
            match action {
                Action::Persist(r) => {
                    persisted = true;
                    kinds.push(r.kind);
                }
                Action::Broadcast { .. } => {
                    assert!(persisted, "{line}: a line went out before its record")
                }
                _ => {}
            }
        }
    }
    use HistoryKind::*;
    assert_eq!(
        kinds,
        [Join, Join, Privmsg, Notice, Topic, Private, Part, Quit]
    );
}

#[test]
fn private_messages_are_stored_but_never_replayed() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice", "");
    let bob = user(&mut h, 2, "bob", ALL_CAPS);
    h.send(alice, "PRIVMSG bob :a secret");
    assert_eq!(
        h.persisted.last().map(|r| r.kind),
        Some(HistoryKind::Private)
    );
    h.take(bob);
    h.send(bob, "CHATHISTORY LATEST alice * 50");
    let got = h.take(bob);
    assert_eq!(got.len(), 2, "an empty batch: {got:#?}");
    assert!(got[0].contains("BATCH +") && got[1].contains("BATCH -"));
    let carol = user(&mut h, 3, "carol", "");
    h.send(carol, "JOIN #lobby");
    assert!(!h.take(carol).iter().any(|l| l.contains("secret")));
}

#[test]
fn history_restored_from_the_store_is_replayed_and_new_ids_continue_after_it() {
    let mut h = Harness::new();
    let old = |id: u64, text: &str| HistoryRecord {
        id,
        at: Timestamp(common::SEED_START - 60_000),
        kind: HistoryKind::Privmsg,
        target: "#Lobby".into(),
        source: "zed!zed@10.0.0.1".into(),
        text: text.into(),
        from_account: None,
        to_account: None,
    };
    h.event(Event::HistoryRestored {
        records: vec![old(40, "before the restart"), old(41, "still here")],
        next_id: 45,
    });
    let bob = user(&mut h, 2, "bob", "message-tags server-time");
    h.send(bob, "JOIN #lobby");
    h.send(bob, "PRIVMSG #lobby :after the restart");
    let got = texts(&h.take(bob), "PRIVMSG");
    assert_eq!(got, ["before the restart", "still here"]);
    let ids: Vec<u64> = h.persisted.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [45, 46],
        "join then message, numbered after the store's ids"
    );
}

#[test]
fn retention_forgets_messages_beyond_the_per_room_maximum_and_the_maximum_age() {
    let mut h = Harness::with_config(ServerConfig {
        history_max_messages: 3,
        history_max_age_secs: 60,
        ..ServerConfig::default()
    });
    let alice = user(&mut h, 1, "alice", "");
    h.send(alice, "JOIN #lobby");
    for i in 0..5 {
        h.send(alice, &format!("PRIVMSG #lobby :m{i}"));
    }
    let kept: Vec<String> = h.server.history("#lobby").map_or(Vec::new(), |w| {
        w.latest(None, 100)
            .into_iter()
            .map(|r| r.text.to_string())
            .collect()
    });
    assert_eq!(kept, ["m2", "m3", "m4"]);
    h.advance_secs(30);
    h.send(alice, "PRIVMSG #lobby :fresh");
    h.advance_secs(40);
    let kept: Vec<String> = h.server.history("#lobby").map_or(Vec::new(), |w| {
        w.latest(None, 100)
            .into_iter()
            .map(|r| r.text.to_string())
            .collect()
    });
    assert_eq!(kept, ["fresh"]);
}

#[test]
fn chathistory_for_a_room_one_is_not_in_fails_with_invalid_target() {
    let mut h = Harness::new();
    three_messages(&mut h);
    let bob = user(&mut h, 2, "bob", ALL_CAPS);
    h.send(bob, "CHATHISTORY LATEST #lobby * 10");
    let got = h.take(bob);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains("FAIL CHATHISTORY INVALID_TARGET LATEST #lobby"),
        "{got:?}"
    );
    h.send(bob, "CHATHISTORY SIDEWAYS #lobby * 10");
    assert!(h.take(bob)[0].contains("FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS"));
    h.send(bob, "JOIN #lobby");
    h.take(bob);
    h.send(bob, "CHATHISTORY BEFORE #lobby yesterday 10");
    assert!(h.take(bob)[0].contains("FAIL CHATHISTORY INVALID_PARAMS BEFORE"));
}

/// Pages back from the newest message with BEFORE until nothing is left.
fn page_back(h: &mut Harness, conn: ConnId, page: usize) -> Vec<String> {
    h.take(conn);
    h.send(conn, &format!("CHATHISTORY LATEST #lobby * {page}"));
    let mut all: Vec<(u64, String)> = Vec::new();
    let mut batch = h.take(conn);
    loop {
        let msgs: Vec<(u64, String)> = batch
            .iter()
            .filter_map(|l| Message::parse(l).ok())
            .filter(|m| m.command == "PRIVMSG")
            .map(|m| {
                let id = m.tag("msgid").and_then(|v| v.parse().ok()).expect("msgid");
                (id, m.param(1).to_string())
            })
            .collect();
        let Some(&(oldest, _)) = msgs.first() else {
            break;
        };
        all.splice(0..0, msgs);
        h.send(
            conn,
            &format!("CHATHISTORY BEFORE #lobby msgid={oldest} {page}"),
        );
        batch = h.take(conn);
    }
    all.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn chathistory_pages_back_through_thousands_of_messages_without_gap_or_duplicate() {
    let mut h = Harness::with_config(ServerConfig {
        flood_lines_per_sec: 0,
        ..ServerConfig::default()
    });
    let alice = user(&mut h, 1, "alice", ALL_CAPS);
    h.send(alice, "JOIN #lobby");
    let sent: Vec<String> = (0..3000).map(|i| format!("message {i}")).collect();
    for (i, text) in sent.iter().enumerate() {
        if i % 7 == 0 {
            h.advance_secs(1);
        }
        h.send(alice, &format!("PRIVMSG #lobby :{text}"));
    }
    let got = page_back(&mut h, alice, 100);
    assert_eq!(got.len(), sent.len());
    assert_eq!(got, sent);
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), sent.len());
}

#[test]
fn chathistory_after_between_around_and_targets_answer_from_the_room_history() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice", ALL_CAPS);
    h.send(alice, "JOIN #lobby");
    for i in 0..10 {
        h.advance_secs(1);
        h.send(alice, &format!("PRIVMSG #lobby :m{i}"));
    }
    let ids: Vec<u64> = h
        .persisted
        .iter()
        .filter(|r| r.kind == HistoryKind::Privmsg)
        .map(|r| r.id)
        .collect();
    h.take(alice);
    let mut ask = |q: String| {
        texts(
            &{
                h.send(alice, &q);
                h.take(alice)
            },
            "PRIVMSG",
        )
    };
    assert_eq!(
        ask(format!("CHATHISTORY AFTER #lobby msgid={} 3", ids[2])),
        ["m3", "m4", "m5"]
    );
    assert_eq!(
        ask(format!(
            "CHATHISTORY BETWEEN #lobby msgid={} msgid={} 100",
            ids[2], ids[6]
        )),
        ["m3", "m4", "m5"]
    );
    assert_eq!(
        ask(format!(
            "CHATHISTORY BETWEEN #lobby msgid={} msgid={} 2",
            ids[6], ids[2]
        )),
        ["m4", "m5"]
    );
    assert_eq!(
        ask(format!("CHATHISTORY AROUND #lobby msgid={} 4", ids[5])),
        ["m3", "m4", "m5", "m6"]
    );
    assert_eq!(
        ask(format!("CHATHISTORY LATEST #lobby msgid={} 100", ids[7])),
        ["m8", "m9"]
    );
    assert_eq!(
        ask("CHATHISTORY BEFORE #lobby timestamp=2023-11-09T12:35:00.000Z 2".into()),
        ["m1", "m2"],
        "m3 was sent at 12:35:00 itself, so it is not before it"
    );
    h.send(
        alice,
        "CHATHISTORY TARGETS timestamp=2023-11-09T00:00:00.000Z timestamp=2023-11-10T00:00:00.000Z 10",
    );
    let got = h.take(alice);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(
        got[1].ends_with("CHATHISTORY TARGETS #lobby timestamp=2023-11-09T12:35:06.000Z"),
        "{got:#?}"
    );
}
