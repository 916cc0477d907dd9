//! The everyday commands, as scenarios over the core: AWAY, WHOIS in full,
//! WHO flags, WHOWAS, ISON, USERHOST, LUSERS, VERSION, TIME, ADMIN, INFO,
//! LINKS, HELP and the PING edge cases. Numerics and parameters exactly.
mod common;
use common::{commands, member, snapshot_settings, take, user, Harness};

/// The lines `conn` received, with the (changing) signon time hidden.
fn transcript(h: &mut Harness, conn: natter::core::ConnId) -> String {
    h.take(conn).join("\n")
}

#[test]
fn away_is_confirmed_shown_to_people_who_message_and_ends_with_away_alone() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.take(alice);
    h.send(alice, "AWAY :gone fishing");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["306"]);
    h.send(bob, "PRIVMSG alice :are you there?");
    let got = take(&mut h, bob);
    assert_eq!(commands(&got), ["301"]);
    assert_eq!(got[0].params[1..], ["alice", "gone fishing"]);
    assert_eq!(
        take(&mut h, alice)[0].params[1],
        "are you there?",
        "delivered anyway"
    );
    h.send(bob, "NOTICE alice :a notice gets no 301");
    assert!(h.take(bob).is_empty());
    h.send(bob, "WHO #room");
    let who = take(&mut h, bob);
    assert_eq!(who[0].params[6], "G@", "alice is gone and an operator");
    assert_eq!(who[1].params[6], "H");
    h.take(alice);
    h.send(alice, "AWAY");
    assert_eq!(commands(&take(&mut h, alice)), ["305"]);
}

#[test]
fn away_notify_tells_people_sharing_a_room_who_asked_for_it() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    let stranger = member(&mut h, 4, "dave", "#elsewhere");
    h.send(bob, "CAP REQ away-notify");
    h.send(stranger, "CAP REQ away-notify");
    for c in [alice, bob, carol, stranger] {
        h.take(c);
    }
    h.send(alice, "AWAY :lunch");
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 AWAY lunch"]);
    assert!(
        h.take(carol).is_empty(),
        "carol did not ask for away-notify"
    );
    assert!(h.take(stranger).is_empty(), "dave shares no room");
    h.send(alice, "AWAY");
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 AWAY"]);
}

/// IRCv3 away-notify: clients with the capability get AWAY "when a user
/// sharing a channel with them sets, changes or removes their away state,
/// as well as when a user joins and has an away message set".
#[test]
fn away_notify_tells_the_room_when_an_away_user_joins() {
    let mut h = Harness::new();
    let bob = member(&mut h, 2, "bob", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    let alice = user(&mut h, 1, "alice");
    h.send(bob, "CAP REQ away-notify");
    h.send(alice, "AWAY :lunch");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    h.send(alice, "JOIN #room");
    assert_eq!(
        h.take(bob),
        [
            ":alice!alice@127.0.0.1 JOIN #room",
            ":alice!alice@127.0.0.1 AWAY lunch"
        ]
    );
    assert_eq!(
        h.take(carol),
        [":alice!alice@127.0.0.1 JOIN #room"],
        "carol did not ask for away-notify"
    );
    h.send(alice, "AWAY");
    h.send(alice, "PART #room");
    h.take(bob);
    h.send(alice, "JOIN #room");
    assert_eq!(
        h.take(bob),
        [":alice!alice@127.0.0.1 JOIN #room"],
        "no AWAY for a joiner who is here"
    );
}

#[test]
fn whois_shows_rooms_with_prefixes_away_idle_and_signon() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room,#other");
    let bob = member(&mut h, 2, "bob", "#room");
    h.send(alice, "PRIVMSG #room :hello");
    h.send(alice, "AWAY :back soon");
    h.take(alice);
    h.advance_secs(42);
    h.take(bob);
    h.send(bob, "WHOIS alice");
    let got = take(&mut h, bob);
    assert_eq!(commands(&got), ["311", "319", "312", "301", "317", "318"]);
    assert_eq!(got[1].params[2], "@#other @#room");
    assert_eq!(got[4].params[2], "42", "idle since her last message");
    assert_eq!(got[4].params[3], common::START.wall.secs().to_string());
}

#[test]
fn whowas_remembers_nick_changes_and_leavers_newest_first() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let bob = user(&mut h, 2, "bob");
    h.send(alice, "NICK alicia");
    let old_alice = user(&mut h, 3, "alice");
    h.send(old_alice, "QUIT :bye");
    h.send(bob, "WHOWAS alice");
    let got = take(&mut h, bob);
    assert_eq!(commands(&got), ["314", "312", "314", "312", "369"]);
    assert_eq!(got[0].params[1..5], ["alice", "alice", "127.0.0.1", "*"]);
    h.send(bob, "WHOWAS alice 1");
    assert_eq!(commands(&take(&mut h, bob)), ["314", "312", "369"]);
    h.send(bob, "WHOWAS nobody");
    assert_eq!(commands(&take(&mut h, bob)), ["406", "369"]);
}

#[test]
fn ison_and_userhost_answer_for_online_people_only() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let bob = user(&mut h, 2, "Bob");
    h.send(bob, "AWAY :out");
    h.take(bob);
    h.send(alice, "ISON bob carol ALICE");
    assert_eq!(take(&mut h, alice)[0].params[1], "Bob alice");
    h.send(alice, "USERHOST bob alice nobody");
    assert_eq!(
        take(&mut h, alice)[0].params[1],
        "Bob=-bob@127.0.0.1 alice=+alice@127.0.0.1"
    );
    h.send(alice, "ISON");
    assert_eq!(commands(&take(&mut h, alice)), ["461"]);
}

#[test]
fn lusers_version_time_admin_info_links_answer_with_their_numerics() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    h.connect(9, "127.0.0.1:5999");
    for (command, numerics) in [
        (
            "LUSERS",
            vec!["251", "252", "253", "254", "255", "265", "266"],
        ),
        ("TIME", vec!["391"]),
        ("ADMIN", vec!["256", "257", "258", "259"]),
        ("INFO", vec!["371", "371", "371", "374"]),
        ("LINKS", vec!["364", "365"]),
    ] {
        h.send(alice, command);
        assert_eq!(commands(&take(&mut h, alice)), numerics, "{command}");
    }
    h.send(alice, "LUSERS");
    let got = take(&mut h, alice);
    assert_eq!(got[2].params[1], "1", "one connection still registering");
    assert_eq!(got[3].params[1], "1", "one room");
    h.send(alice, "VERSION");
    let got = take(&mut h, alice);
    assert_eq!(got[0].command, "351");
    assert!(got[1..].iter().all(|m| m.command == "005"));
    h.send(alice, "TIME");
    assert_eq!(
        take(&mut h, alice)[0].params[2],
        "Thursday November 9 2023 -- 12:34:56 +00:00"
    );
}

#[test]
fn help_has_a_text_for_each_command_and_524_for_others() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    h.send(alice, "HELP kick");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["704", "705", "706"]);
    assert_eq!(
        got[0].params[1..],
        ["KICK", "KICK <#room> <nick>[,<nick>…] [:reason]"]
    );
    h.send(alice, "HELPOP frobnicate");
    assert_eq!(commands(&take(&mut h, alice)), ["524"]);
    h.send(alice, "HELP");
    let index = transcript(&mut h, alice);
    snapshot_settings().bind(|| insta::assert_snapshot!("help_index", index));
}

#[test]
fn ping_without_a_token_is_461_and_with_an_empty_one_409() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    h.send(alice, "PING");
    assert_eq!(commands(&take(&mut h, alice)), ["461"]);
    h.send(alice, "PING :");
    assert_eq!(commands(&take(&mut h, alice)), ["409"]);
    h.send(alice, "PING :x y");
    assert_eq!(take(&mut h, alice)[0].params, ["natter", "x y"]);
}

#[test]
fn an_empty_realname_is_461_and_does_not_register() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:5000");
    h.send(conn, "NICK alice");
    h.send(conn, "USER alice 0 * :");
    assert_eq!(commands(&take(&mut h, conn)), ["461"]);
    h.send(conn, "USER alice 0 * :Alice");
    assert_eq!(commands(&take(&mut h, conn))[0], "001");
}

#[test]
fn whois_of_a_busy_user_in_full() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room,#quiet");
    h.send(alice, "MODE #room +v bob");
    h.send(bob, "AWAY :in a meeting");
    h.take(bob);
    h.take(alice);
    h.advance_secs(5);
    h.send(alice, "WHOIS bob");
    let got = transcript(&mut h, alice);
    snapshot_settings().bind(|| insta::assert_snapshot!("whois_in_full", got));
}
