//! The draft IRCv3 extensions that touch history, as scenarios over the
//! core: read markers (`draft/read-marker`, MARKREAD), message deletion
//! (`draft/message-redaction`, REDACT) and room renames
//! (`draft/channel-rename`, RENAME); and, through the real server and its
//! SQLite store, that markers, deletions and renames survive a restart.
mod common;
#[path = "common/e2e.rs"]
mod e2e;

use common::{commands, snapshot_settings, take, Harness, START};
use natter::core::{
    server_time, ConnId, Event, HistoryKind, MarkerChange, ReadMarker, ServerConfig, Timestamp,
};
use natter::net::StoreOptions;
use natter::proto::Message;

/// Registers `nick` from 127.0.0.1, enables `caps` (if any) and joins
/// `rooms` (if any), throwing the replies away.
fn person(h: &mut Harness, id: u64, nick: &str, caps: &str, rooms: &str) -> ConnId {
    let conn = h.register(id, nick, 12000 + id as u16);
    if !caps.is_empty() {
        h.send(conn, &format!("CAP REQ :{caps}"));
    }
    if !rooms.is_empty() {
        h.send(conn, &format!("JOIN {rooms}"));
    }
    h.take(conn);
    conn
}

/// The `timestamp=` reference of `at`.
fn stamp(at: Timestamp) -> String {
    format!("timestamp={}", server_time(at))
}

/// The msgid tag of the only PRIVMSG among `lines`.
fn msgid_of(lines: &[Message]) -> String {
    lines
        .iter()
        .find(|m| m.command == "PRIVMSG")
        .and_then(|m| m.tag("msgid"))
        .expect("an echoed PRIVMSG with a msgid")
        .to_string()
}

/// Someone in `room` whose client pages history in batches (so texts come
/// back as sent, without the time plain clients get in front).
fn reader(h: &mut Harness, id: u64, room: &str) -> ConnId {
    let caps = "batch server-time message-tags draft/chathistory";
    person(h, id, "reader", caps, room)
}

/// The texts of the PRIVMSGs among `lines`.
fn texts(lines: &[Message]) -> Vec<String> {
    lines
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1).to_string())
        .collect()
}

// ---------------------------------------------------------------- MARKREAD

#[test]
fn a_read_marker_only_moves_forward_and_every_answer_gives_the_stored_one() {
    let mut h = Harness::new();
    let alice = person(&mut h, 1, "alice", "draft/read-marker", "#room");
    let later = START.wall.plus_secs(60);
    let earlier = START.wall.plus_secs(30);
    h.now = h.now.later_secs(120);

    h.send(alice, "MARKREAD #room");
    assert_eq!(h.take(alice), [":natter MARKREAD #room *"], "none yet");
    h.send(alice, &format!("MARKREAD #room {}", stamp(later)));
    let expected = format!(":natter MARKREAD #room {}", stamp(later));
    assert_eq!(h.take(alice), std::slice::from_ref(&expected));
    h.send(alice, &format!("MARKREAD #room {}", stamp(earlier)));
    assert_eq!(
        h.take(alice),
        std::slice::from_ref(&expected),
        "never moves back"
    );
    h.send(alice, "MARKREAD #ROOM");
    assert_eq!(h.take(alice), [expected.replace("#room", "#ROOM")]);
    assert_eq!(
        h.saved_markers,
        [MarkerChange::Set(ReadMarker {
            owner: "alice!alice@127.0.0.1".into(),
            target: "#room".into(),
            at: later,
            set_at: h.now.wall,
        })],
        "one change to store: the one that moved it"
    );
}

#[test]
fn a_marker_ahead_of_the_servers_clock_is_held_back_to_now() {
    let mut h = Harness::new();
    let alice = person(&mut h, 1, "alice", "", "");
    let tomorrow = START.wall.plus_secs(86_400);
    h.send(alice, &format!("MARKREAD bob {}", stamp(tomorrow)));
    assert_eq!(
        h.take(alice),
        [format!(":natter MARKREAD bob {}", stamp(START.wall))]
    );
}

#[test]
fn a_read_marker_client_hears_its_marker_after_join_before_the_end_of_names() {
    let mut h = Harness::new();
    let alice = person(&mut h, 1, "alice", "draft/read-marker", "#room");
    let plain = person(&mut h, 2, "bob", "", "");
    let at = START.wall.plus_secs(5);
    h.now = h.now.later_secs(10);
    h.send(alice, &format!("MARKREAD #room {}", stamp(at)));
    h.send(alice, "PART #room");
    h.take(alice);

    h.send(alice, "JOIN #room");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["JOIN", "MARKREAD", "353", "366"]);
    assert_eq!(got[1].params, ["#room", &stamp(at)]);

    h.send(plain, "JOIN #room");
    let got = take(&mut h, plain);
    assert!(!commands(&got).contains(&"MARKREAD"), "not without the cap");
}

#[test]
fn markers_belong_to_nick_user_and_host_so_whoever_takes_the_nick_elsewhere_sees_none() {
    let mut h = Harness::new();
    let alice = person(&mut h, 1, "alice", "", "");
    h.now = h.now.later_secs(10);
    let at = START.wall.plus_secs(5);
    h.send(alice, &format!("MARKREAD #secret {}", stamp(at)));
    h.send(alice, "QUIT :bye");

    let mallory = h.connect(2, "10.6.6.6:4000");
    h.send(mallory, "NICK alice");
    h.send(mallory, "USER alice 0 * :alice");
    h.take(mallory);
    h.send(mallory, "MARKREAD #secret");
    assert_eq!(h.take(mallory), [":natter MARKREAD #secret *"]);
    h.send(mallory, "QUIT");

    let back = person(&mut h, 3, "Alice", "", "");
    h.send(back, "MARKREAD #secret");
    assert_eq!(
        h.take(back),
        [format!(":natter MARKREAD #secret {}", stamp(at))],
        "the same nick (in any case), username and host get them back"
    );
}

#[test]
fn markread_errors_are_standard_replies_that_say_what_to_send() {
    let mut h = Harness::new();
    let alice = person(&mut h, 1, "alice", "", "");
    h.send(alice, "MARKREAD");
    assert_eq!(
        h.take(alice),
        [":natter FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters"]
    );
    h.send(alice, "MARKREAD #room yesterday");
    let got = take(&mut h, alice);
    assert_eq!(
        got[0].params[..3],
        ["MARKREAD", "INVALID_PARAMS", "yesterday"]
    );
    assert!(got[0].params[3].contains("timestamp=YYYY-MM-DDThh:mm:ss.sssZ"));
    h.send(alice, "MARKREAD #room *");
    assert_eq!(take(&mut h, alice)[0].params[1], "INVALID_PARAMS");
    h.send(alice, "MARKREAD 9lives");
    assert_eq!(take(&mut h, alice)[0].params[1], "INVALID_PARAMS");
    assert!(h.saved_markers.is_empty());
}

#[test]
fn markers_restored_from_the_store_are_given_on_join() {
    let mut h = Harness::new();
    let at = Timestamp(1_600_000_000_000);
    h.event(Event::ReadMarkersRestored {
        markers: vec![ReadMarker {
            owner: "alice!alice@127.0.0.1".into(),
            target: "#room".into(),
            at,
            set_at: at,
        }],
    });
    let alice = person(&mut h, 1, "alice", "draft/read-marker", "");
    h.send(alice, "JOIN #Room");
    let got = take(&mut h, alice);
    assert_eq!(got[1].command, "MARKREAD");
    assert_eq!(got[1].params, ["#Room", &stamp(at)]);
}

// ------------------------------------------------------------------ REDACT

/// alice opens #room (its operator); bob (redaction cap, echo) and carol
/// (no caps) join. bob says one thing; returns its msgid.
fn bob_says_one_thing(h: &mut Harness) -> ([ConnId; 3], String) {
    let alice = person(
        h,
        1,
        "alice",
        "draft/message-redaction message-tags",
        "#room",
    );
    let caps = "draft/message-redaction message-tags echo-message";
    let bob = person(h, 2, "bob", caps, "#room");
    let carol = person(h, 3, "carol", "", "#room");
    h.take(alice);
    h.send(bob, "PRIVMSG #room :my password is hunter2");
    let id = msgid_of(&take(h, bob));
    h.take(alice);
    h.take(carol);
    ([alice, bob, carol], id)
}

#[test]
fn the_sender_deletes_a_message_and_only_members_with_the_cap_hear_redact() {
    let mut h = Harness::new();
    let ([alice, bob, carol], id) = bob_says_one_thing(&mut h);
    h.send(bob, &format!("REDACT #room {id} :oops"));
    let to_bob = take(&mut h, bob);
    assert_eq!(commands(&to_bob), ["REDACT"]);
    assert_eq!(to_bob[0].params, ["#room", id.as_str(), "oops"]);
    assert_eq!(to_bob[0].source.as_deref(), Some("bob!bob@127.0.0.1"));
    let redact_id = to_bob[0]
        .tag("msgid")
        .expect("the REDACT has its own msgid");
    assert_ne!(redact_id, id);
    assert_eq!(
        take(&mut h, alice)[0].params,
        ["#room", id.as_str(), "oops"]
    );
    assert!(
        h.take(carol).is_empty(),
        "no REDACT (and no fallback notice) without the cap"
    );
    let last = h.persisted.last().expect("the redaction is stored");
    assert_eq!(last.kind, HistoryKind::Redact);
    assert_eq!(&*last.text, format!("{id} oops"));
    assert!(h
        .log_text()
        .ends_with("[#room] [bob] deleted a message from [bob]: oops\n"));
}

#[test]
fn a_deleted_message_is_never_replayed_on_join_nor_by_chathistory() {
    let mut h = Harness::new();
    let ([alice, bob, _], id) = bob_says_one_thing(&mut h);
    h.send(bob, "PRIVMSG #room :the weather is nice");
    h.send(bob, &format!("REDACT #room {id}"));
    h.take(bob);
    h.take(alice);

    let dave = person(&mut h, 4, "dave", "", "");
    h.send(dave, "JOIN #room");
    let replay = h.take(dave).join("\n");
    assert!(replay.contains("the weather is nice"), "{replay}");
    assert!(!replay.contains("hunter2"), "{replay}");

    let reader = reader(&mut h, 9, "#room");
    h.send(reader, "CHATHISTORY LATEST #room * 10");
    assert_eq!(texts(&take(&mut h, reader)), ["the weather is nice"]);
    h.send(reader, &format!("CHATHISTORY AROUND #room msgid={id} 10"));
    assert_eq!(texts(&take(&mut h, reader)), ["the weather is nice"]);
}

#[test]
fn others_cannot_delete_your_message_but_room_operators_can() {
    let mut h = Harness::new();
    let ([alice, bob, carol], id) = bob_says_one_thing(&mut h);
    h.send(carol, &format!("REDACT #room {id} :mine now"));
    let got = take(&mut h, carol);
    assert_eq!(
        got[0].params[..4],
        ["REDACT", "REDACT_FORBIDDEN", "#room", id.as_str()]
    );
    assert!(h.take(bob).is_empty(), "nothing happened");

    h.send(alice, &format!("REDACT #room {id} :spam"));
    assert_eq!(take(&mut h, alice)[0].command, "REDACT");
    let to_bob = take(&mut h, bob);
    assert_eq!(to_bob[0].source.as_deref(), Some("alice!alice@127.0.0.1"));
    assert_eq!(to_bob[0].params, ["#room", id.as_str(), "spam"]);
}

#[test]
fn after_the_window_only_operators_may_delete_a_message() {
    let mut h = Harness::with_config(ServerConfig {
        redact_window_secs: 600,
        ..ServerConfig::default()
    });
    let ([alice, bob, _], id) = bob_says_one_thing(&mut h);
    h.advance_secs(601);
    h.take(bob);
    h.send(bob, &format!("REDACT #room {id}"));
    let got = take(&mut h, bob);
    assert_eq!(
        got[0].params[..5],
        [
            "REDACT",
            "REDACT_WINDOW_EXPIRED",
            "#room",
            id.as_str(),
            "600"
        ]
    );
    assert!(got[0].params[5].contains("for 10 minutes"), "{:?}", got[0]);
    h.take(alice);
    h.send(alice, &format!("REDACT #room {id}"));
    assert_eq!(commands(&take(&mut h, alice)), ["REDACT"]);
}

#[test]
fn unknown_foreign_and_private_msgids_are_refused_without_revealing_anything() {
    let mut h = Harness::new();
    let ([alice, bob, _], id) = bob_says_one_thing(&mut h);
    let outsider = person(&mut h, 5, "eve", "message-tags echo-message", "#other");
    h.send(outsider, "PRIVMSG #other :elsewhere");
    let other_id = msgid_of(&take(&mut h, outsider));

    let unknown = |h: &mut Harness, conn: ConnId, line: &str| {
        h.send(conn, line);
        let got = take(h, conn);
        assert_eq!(got[0].params[..2], ["REDACT", "UNKNOWN_MSGID"], "{line}");
    };
    unknown(&mut h, alice, "REDACT #room 99999");
    unknown(&mut h, alice, "REDACT #room not-a-number");
    unknown(&mut h, alice, &format!("REDACT #room {other_id}"));
    h.send(bob, &format!("REDACT #room {id}"));
    h.take(bob);
    h.take(alice);
    unknown(&mut h, alice, &format!("REDACT #room {id}"));

    h.send(outsider, &format!("REDACT #room {id}"));
    assert_eq!(commands(&take(&mut h, outsider)), ["442"]);
    h.send(outsider, "REDACT #nowhere 1");
    assert_eq!(commands(&take(&mut h, outsider)), ["403"]);
    h.send(outsider, &format!("REDACT bob {id}"));
    assert_eq!(take(&mut h, outsider)[0].params[1], "UNKNOWN_MSGID");
    h.send(outsider, "REDACT #room");
    assert_eq!(commands(&take(&mut h, outsider)), ["461"]);
}

#[test]
fn the_sender_deletes_a_private_message_and_a_recipient_with_the_cap_hears_it() {
    let mut h = Harness::new();
    let caps = "draft/message-redaction message-tags echo-message";
    let alice = person(&mut h, 1, "alice", caps, "");
    let bob = person(&mut h, 2, "bob", "draft/message-redaction", "");
    let carol = person(&mut h, 3, "carol", "", "");
    h.send(alice, "PRIVMSG bob :meet me at 5, the code is 1234");
    let id = msgid_of(&take(&mut h, alice));
    h.take(bob);

    h.send(bob, &format!("REDACT bob {id}"));
    assert_eq!(
        take(&mut h, bob)[0].params[..2],
        ["REDACT", "UNKNOWN_MSGID"],
        "the recipient cannot delete what it was sent"
    );
    h.send(carol, &format!("REDACT bob {id}"));
    assert_eq!(take(&mut h, carol)[0].params[1], "UNKNOWN_MSGID");

    h.send(alice, &format!("REDACT Bob {id} :wrong person"));
    let line = format!(":alice!alice@127.0.0.1 REDACT bob {id} :wrong person");
    assert_eq!(h.take(bob), [line]);
    let to_alice = take(&mut h, alice);
    assert_eq!(to_alice[0].params, ["bob", id.as_str(), "wrong person"]);
    let last = h.persisted.last().expect("stored");
    assert_eq!((last.kind, &*last.target), (HistoryKind::Redact, "bob"));
    h.send(alice, &format!("REDACT bob {id}"));
    assert_eq!(
        take(&mut h, alice)[0].params[1],
        "UNKNOWN_MSGID",
        "deleted once"
    );

    // A recipient without the capability is not told.
    h.send(alice, "PRIVMSG carol :hi carol");
    let id = msgid_of(&take(&mut h, alice));
    h.take(carol);
    h.send(alice, &format!("REDACT carol {id}"));
    assert_eq!(commands(&take(&mut h, alice)), ["REDACT"]);
    assert!(h.take(carol).is_empty());
}

#[test]
fn only_the_latest_private_messages_within_the_window_can_be_deleted() {
    let mut h = Harness::new();
    let alice = person(&mut h, 1, "alice", "message-tags echo-message", "");
    let bob = person(&mut h, 2, "bob", "", "");
    let mut ids = Vec::new();
    for i in 0..=natter::core::MAX_SENT_PRIVATE {
        h.send(alice, &format!("PRIVMSG bob :message {i}"));
        ids.push(msgid_of(&take(&mut h, alice)));
    }
    h.take(bob);
    h.send(alice, &format!("REDACT bob {}", ids[0]));
    assert_eq!(take(&mut h, alice)[0].params[1], "UNKNOWN_MSGID", "too old");
    h.advance_secs(901);
    h.take(alice);
    h.send(alice, &format!("REDACT bob {}", ids[1]));
    let got = take(&mut h, alice);
    assert_eq!(got[0].params[1], "REDACT_WINDOW_EXPIRED");
    assert!(got[0].params[5].contains("for 15 minutes"), "{:?}", got[0]);
}

// ------------------------------------------------------------------ RENAME

/// alice opens #old (operator, rename cap); bob (rename and read-marker
/// caps) and carol (no caps) join. alice sets a topic and says hello.
fn three_in_old(h: &mut Harness) -> [ConnId; 3] {
    let alice = person(h, 1, "alice", "draft/channel-rename", "#old");
    let bob = person(
        h,
        2,
        "bob",
        "draft/channel-rename draft/read-marker",
        "#old",
    );
    let carol = person(h, 3, "carol", "", "#old");
    h.send(alice, "TOPIC #old :all about old things");
    h.send(alice, "PRIVMSG #old :hello from before the rename");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    [alice, bob, carol]
}

#[test]
fn an_operator_renames_a_room_cap_clients_hear_rename_others_leave_and_rejoin() {
    let mut h = Harness::new();
    let [alice, bob, carol] = three_in_old(&mut h);
    h.send(alice, "RENAME #old #new :a better name");
    let expected = ":alice!alice@127.0.0.1 RENAME #old #new :a better name";
    assert_eq!(h.take(alice), [expected]);
    assert_eq!(h.take(bob), [expected]);
    let fallback = h.take(carol).join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("rename_fallback", fallback));
    let rename = h.persisted.last().expect("the rename is stored");
    assert_eq!(rename.kind, HistoryKind::Rename);
    assert_eq!(
        (&*rename.target, &*rename.text),
        ("#old", "#new a better name")
    );
    assert!(h
        .log_text()
        .ends_with("[#old] [alice] renamed the room to #new: a better name\n"));
}

#[test]
fn an_extended_join_client_gets_its_fallback_join_with_account_and_real_name() {
    let mut h = Harness::new();
    let [alice, _, _] = three_in_old(&mut h);
    let dave = person(&mut h, 4, "dave", "extended-join", "#old");
    h.send(alice, "RENAME #old #new");
    let got = h.take(dave);
    assert_eq!(
        got[..2],
        [
            ":dave!dave@127.0.0.1 PART #old",
            ":dave!dave@127.0.0.1 JOIN #new * dave",
        ]
    );
}

#[test]
fn a_rename_without_a_reason_still_sends_an_empty_one() {
    let mut h = Harness::new();
    let [alice, bob, _] = three_in_old(&mut h);
    h.send(alice, "RENAME #old #new");
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 RENAME #old #new :"]);
}

#[test]
fn the_renamed_room_keeps_members_operators_modes_topic_and_history() {
    let mut h = Harness::new();
    let [alice, bob, carol] = three_in_old(&mut h);
    h.send(alice, "MODE #old +m");
    h.send(alice, "RENAME #old #new");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    h.send(bob, "NAMES #new");
    assert_eq!(take(&mut h, bob)[0].params[3], "@alice bob carol");
    h.send(bob, "MODE #new");
    assert_eq!(take(&mut h, bob)[0].params[1..], ["#new", "+mnt"]);
    h.send(bob, "TOPIC #new");
    assert_eq!(take(&mut h, bob)[0].params[2], "all about old things");
    h.send(bob, "PRIVMSG #new :can I speak?");
    assert_eq!(commands(&take(&mut h, bob)), ["404"], "still +m");

    let dave = person(&mut h, 4, "dave", "", "");
    h.send(dave, "JOIN #new");
    let replay = h.take(dave).join("\n");
    assert!(replay.contains("hello from before the rename"), "{replay}");
    h.send(dave, "JOIN #old");
    let fresh = take(&mut h, dave);
    assert_eq!(
        commands(&fresh),
        ["JOIN", "353", "366"],
        "a new, empty room"
    );
    assert_eq!(fresh[1].params[3], "@dave");
    let reader = reader(&mut h, 9, "#new");
    h.send(reader, "CHATHISTORY LATEST #new * 10");
    assert_eq!(
        texts(&take(&mut h, reader)),
        ["hello from before the rename"]
    );
}

#[test]
fn only_operators_rename_and_taken_or_bad_names_are_refused() {
    let mut h = Harness::new();
    let [alice, bob, _] = three_in_old(&mut h);
    let eve = person(&mut h, 5, "eve", "", "#busy");
    h.send(eve, "PRIVMSG #busy :history of its own");
    h.send(eve, "PART #busy");
    h.take(eve);
    person(&mut h, 6, "frank", "", "#taken");

    h.send(bob, "RENAME #old #new");
    assert_eq!(commands(&take(&mut h, bob)), ["482"]);
    h.send(eve, "RENAME #old #new");
    assert_eq!(commands(&take(&mut h, eve)), ["442"]);
    h.send(eve, "RENAME #nowhere #new");
    assert_eq!(commands(&take(&mut h, eve)), ["403"]);

    let refused = |h: &mut Harness, line: &str, code: &str| {
        h.send(alice, line);
        let got = take(h, alice);
        assert_eq!(got[0].command, "FAIL", "{line}");
        assert_eq!(got[0].params[..2], ["RENAME", code], "{line}");
    };
    refused(&mut h, "RENAME #old #taken", "CHANNEL_NAME_IN_USE");
    refused(&mut h, "RENAME #old #busy", "CHANNEL_NAME_IN_USE");
    refused(&mut h, "RENAME #old nohash", "CANNOT_RENAME");
    refused(&mut h, "RENAME #old #old", "CANNOT_RENAME");
    refused(&mut h, "RENAME #old #lobby", "CANNOT_RENAME");
    h.send(alice, "RENAME #old");
    assert_eq!(commands(&take(&mut h, alice)), ["461"]);
    assert!(h.server.room("#old").is_some(), "nothing changed");
}

#[test]
fn a_case_only_rename_tells_cap_clients_and_spares_the_others_the_fallback() {
    let mut h = Harness::new();
    let [alice, bob, carol] = three_in_old(&mut h);
    h.send(alice, "RENAME #old #OLD :shout");
    assert_eq!(
        h.take(bob),
        [":alice!alice@127.0.0.1 RENAME #old #OLD shout"]
    );
    assert!(h.take(carol).is_empty());
    h.send(carol, "NAMES #old");
    assert_eq!(take(&mut h, carol)[0].params[2], "#OLD");
}

#[test]
fn read_markers_and_invitations_follow_the_renamed_room() {
    let mut h = Harness::new();
    let [alice, bob, carol] = three_in_old(&mut h);
    let at = START.wall;
    h.send(bob, &format!("MARKREAD #old {}", stamp(at)));
    h.send(alice, "MODE #old +i");
    let dave = person(&mut h, 4, "dave", "", "");
    h.send(alice, "INVITE dave #old");
    h.send(alice, "RENAME #old #new");
    for c in [alice, bob, carol, dave] {
        h.take(c);
    }
    h.send(bob, "MARKREAD #new");
    assert_eq!(
        h.take(bob),
        [format!(":natter MARKREAD #new {}", stamp(at))]
    );
    h.send(dave, "JOIN #new");
    assert_eq!(
        take(&mut h, dave)[0].command,
        "JOIN",
        "the invitation holds"
    );
}

#[test]
fn a_fallback_client_with_read_markers_gets_its_marker_in_the_rejoin() {
    let mut h = Harness::new();
    let [alice, _, _] = three_in_old(&mut h);
    let erin = person(&mut h, 5, "erin", "draft/read-marker", "#old");
    h.send(erin, &format!("MARKREAD #old {}", stamp(START.wall)));
    h.take(erin);
    h.send(alice, "RENAME #old #new");
    let got = take(&mut h, erin);
    assert_eq!(commands(&got)[..3], ["PART", "JOIN", "MARKREAD"]);
    assert_eq!(got[2].params, ["#new", &stamp(START.wall)]);
}

// --------------------------------------------------- through the real store

fn start_persistent(dir: &std::path::Path) -> natter::net::RunningServer {
    let mut options = e2e::server_options(natter::net::DEFAULT_SENDQ, None);
    options.store = Some(StoreOptions {
        data_dir: dir.to_path_buf(),
        max_messages: 1000,
        max_age_secs: 0,
        fsync: false,
    });
    options.config.flood_lines_per_sec = 0;
    e2e::start_with(options)
}

/// Registers with the history and draft capabilities.
fn modern(addr: std::net::SocketAddr, nick: &str) -> e2e::Client {
    let mut c = e2e::Client::connect(addr, nick);
    c.send(
        "CAP REQ :message-tags server-time batch draft/chathistory echo-message \
         draft/read-marker draft/message-redaction draft/channel-rename",
    );
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("CAP END");
    c.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    c
}

fn parsed(lines: &[String]) -> Vec<Message> {
    lines
        .iter()
        .filter_map(|l| Message::parse(l).ok())
        .collect()
}

#[test]
fn read_markers_deletions_and_renames_survive_a_restart_of_the_real_server() {
    let dir = e2e::temp_dir("history-drafts");
    let server = start_persistent(&dir);
    let mut alice = modern(server.local_addr(), "alice");
    alice.send("JOIN #room");
    alice.read_until(|l| l.contains(" 366 "));
    let mut sent = Vec::new();
    for text in ["first", "oops, wrong window", "third"] {
        alice.send(&format!("PRIVMSG #room :{text}"));
        let echo = parsed(&alice.read_until(|l| l.contains(" PRIVMSG ")));
        let m = echo.last().expect("the echo").clone();
        sent.push((
            m.tag("msgid").expect("msgid").to_string(),
            m.tag("time").expect("time").to_string(),
        ));
    }
    alice.send(&format!("REDACT #room {} :wrong window", sent[1].0));
    alice.read_until(|l| l.contains(" REDACT "));
    alice.send(&format!("MARKREAD #room timestamp={}", sent[2].1));
    alice.read_until(|l| l.contains(" MARKREAD "));
    alice.send("RENAME #room #den :moving");
    alice.read_until(|l| l.contains(" RENAME "));
    alice.send("QUIT :restarting");
    alice.read_to_end();
    server.shutdown();

    let server = start_persistent(&dir);
    let mut alice = modern(server.local_addr(), "alice");
    alice.send("JOIN #den");
    let joined = parsed(&alice.read_until(|l| l.contains(" BATCH -")));
    let cmds = commands(&joined);
    let marker = cmds
        .iter()
        .position(|c| *c == "MARKREAD")
        .expect("MARKREAD");
    let end_of_names = cmds.iter().position(|c| *c == "366").expect("366");
    assert!(marker < end_of_names, "{cmds:?}");
    assert_eq!(
        joined[marker].params,
        ["#den", &format!("timestamp={}", sent[2].1)]
    );
    assert_eq!(
        texts(&joined),
        ["first", "third"],
        "renamed and without the deleted one"
    );
    alice.send("CHATHISTORY LATEST #den * 10");
    let page = parsed(&alice.read_until(|l| l.contains(" BATCH -")));
    assert_eq!(texts(&page), ["first", "third"]);
    alice.send("JOIN #room");
    let mut fresh = parsed(&alice.read_until(|l| l.contains(" 366 ")));
    fresh.extend(parsed(&alice.sync()));
    assert!(texts(&fresh).is_empty(), "the old name has no history left");
    // Ids go on after the restart: a new message gets a fresh one.
    alice.send("PRIVMSG #den :after");
    let echo = parsed(&alice.read_until(|l| l.contains(" PRIVMSG ")));
    let new_id: u64 = echo[echo.len() - 1]
        .tag("msgid")
        .and_then(|id| id.parse().ok())
        .expect("numeric msgid");
    assert!(sent
        .iter()
        .all(|(id, _)| id.parse::<u64>().unwrap_or(0) < new_id));
    server.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

// ------------------------------------------------------- any input at all

mod robustness {
    use super::*;
    use proptest::prelude::*;

    const ROOMS: [&str; 4] = ["#a", "#B", "#c", "#lobby"];

    fn line() -> impl Strategy<Value = String> {
        let room = (0..ROOMS.len()).prop_map(|i| ROOMS[i].to_string());
        let id = prop_oneof![
            (0u64..60).prop_map(|n| n.to_string()),
            Just("-1".to_string()),
            Just("x".repeat(70)),
        ];
        let at = prop_oneof![
            (0u64..200).prop_map(|s| stamp(START.wall.plus_secs(s))),
            Just("timestamp=".to_string()),
            Just("*".to_string()),
        ];
        let text = prop_oneof![Just(String::new()), Just("r".repeat(600))];
        prop_oneof![
            4 => room.clone().prop_map(|r| format!("JOIN {r}")),
            1 => room.clone().prop_map(|r| format!("PART {r}")),
            4 => room.clone().prop_map(|r| format!("PRIVMSG {r} :hi")),
            1 => Just("PRIVMSG u1 :psst".to_string()),
            3 => (room.clone(), id.clone(), text.clone())
                .prop_map(|(r, id, t)| format!("REDACT {r} {id} :{t}")),
            1 => (id, text.clone()).prop_map(|(id, t)| format!("REDACT u1 {id} :{t}")),
            2 => (room.clone(), room.clone(), text)
                .prop_map(|(a, b, t)| format!("RENAME {a} {b} :{t}")),
            2 => (room.clone(), at).prop_map(|(r, at)| format!("MARKREAD {r} {at}")),
            1 => room.prop_map(|r| format!("MARKREAD {r}")),
            1 => Just("NICK u9".to_string()),
        ]
    }

    proptest! {
        /// Whatever three clients send, the core never panics, every line
        /// it sends parses and fits 512 bytes with its CR LF, every room is found under
        /// its own name and its history names it as it is called now.
        #[test]
        fn draft_commands_never_break_the_core(
            steps in prop::collection::vec((0..3usize, line(), 0u64..400), 1..60)
        ) {
            let mut h = Harness::new();
            let caps = "draft/read-marker draft/message-redaction draft/channel-rename \
                        message-tags echo-message";
            let conns: Vec<ConnId> = (0..3)
                .map(|i| person(&mut h, i + 1, &format!("u{i}"), if i == 2 { "" } else { caps }, ""))
                .collect();
            for (who, line, secs) in steps {
                h.now = h.now.later_secs(secs);
                h.send(conns[who], &line);
                for c in &conns {
                    for sent in h.take(*c) {
                        // Tags have their own allowance; the rest is IRC's 512.
                        let body = match sent.strip_prefix('@') {
                            Some(tagged) => tagged.split_once(' ').map_or("", |(_, b)| b),
                            None => &sent,
                        };
                        prop_assert!(body.len() + 2 <= 512, "{} bytes: {}", body.len(), sent);
                        prop_assert!(Message::parse(&sent).is_ok(), "{}", sent);
                    }
                }
                for name in ROOMS.iter().chain(&["#A", "#b", "#C"]) {
                    if let Some(room) = h.server.room(name) {
                        prop_assert!(room.name().eq_ignore_ascii_case(name));
                        prop_assert!(!room.is_empty());
                    }
                    if let Some(history) = h.server.history(name) {
                        let first = history.first().map(|r| r.target.to_string());
                        if let (Some(target), Some(room)) = (first, h.server.room(name)) {
                            prop_assert_eq!(target, room.name());
                        }
                    }
                }
            }
        }
    }
}
