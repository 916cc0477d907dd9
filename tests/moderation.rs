//! Moderated rooms, as scenarios over the core: operators, each channel
//! mode and where it is enforced, KICK, INVITE, bans and exceptions, user
//! modes, and what the log and history keep of it.
mod common;
use common::{commands, member, take, user, Harness};
use natter::core::{HistoryKind, ServerConfig};
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

/// The numerics (3-digit commands) of `msgs`.
fn numerics(msgs: &[Message]) -> Vec<&str> {
    commands(msgs)
        .into_iter()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

/// alice opens #room (so she is its operator), then bob and carol join.
fn room_of_three(h: &mut Harness) -> [natter::core::ConnId; 3] {
    let alice = member(h, 1, "alice", "#room");
    let bob = member(h, 2, "bob", "#room");
    let carol = member(h, 3, "carol", "#room");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    [alice, bob, carol]
}

#[test]
fn the_first_person_into_an_empty_room_is_its_operator_and_names_show_it() {
    let mut h = Harness::new();
    let [_alice, bob, _] = room_of_three(&mut h);
    h.send(bob, "NAMES #room");
    let got = take(&mut h, bob);
    assert_eq!(got[0].params[3], "@alice bob carol");
    // Rooms start +nt, as on most servers.
    h.send(bob, "MODE #room");
    assert_eq!(take(&mut h, bob)[0].params[1..], ["#room", "+nt"]);
}

#[test]
fn multi_prefix_shows_every_prefix_in_names_and_who() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    h.send(alice, "MODE #room +v alice");
    h.send(bob, "CAP REQ :multi-prefix");
    h.take(bob);
    h.take(alice);
    h.send(bob, "NAMES #room");
    assert_eq!(take(&mut h, bob)[0].params[3], "@+alice bob carol");
    h.send(bob, "WHO #room");
    let who = take(&mut h, bob);
    assert_eq!(who[0].params[6], "H@+", "alice's WHO flags");
    // Without multi-prefix only the highest prefix shows.
    h.send(alice, "NAMES #room");
    assert_eq!(take(&mut h, alice)[0].params[3], "@alice bob carol");
}

#[test]
fn only_operators_change_modes_and_everyone_sees_each_change_once() {
    let mut h = Harness::new();
    let [alice, bob, carol] = room_of_three(&mut h);
    h.send(bob, "MODE #room +m");
    let refused = take(&mut h, bob);
    assert_eq!(numerics(&refused), ["482"]);
    assert!(h.take(carol).is_empty(), "nothing changed, nobody told");

    h.send(alice, "MODE #room +ov-t bob carol");
    for conn in [alice, bob, carol] {
        let got = take(&mut h, conn);
        assert_eq!(
            shapes(&got),
            [(
                "MODE".into(),
                vec!["+ov-t".into(), "bob".into(), "carol".into()]
            )],
            "{conn}"
        );
        assert_eq!(got[0].source.as_deref(), Some("alice!alice@127.0.0.1"));
    }
    // Setting what is already set announces nothing.
    h.send(alice, "MODE #room +o bob");
    assert!(h.take(alice).is_empty() && h.take(carol).is_empty());
    // bob is an operator now: he may change modes too.
    h.send(bob, "MODE #room -o alice");
    assert_eq!(take(&mut h, carol)[0].params[1..], ["-o", "alice"]);
}

#[test]
fn unknown_mode_letters_get_472_and_missing_arguments_461() {
    let mut h = Harness::new();
    let [alice, ..] = room_of_three(&mut h);
    h.send(alice, "MODE #room +xZ");
    let got = take(&mut h, alice);
    assert_eq!(numerics(&got), ["472", "472"]);
    assert_eq!(got[0].params[1], "x");
    h.send(alice, "MODE #room +o");
    assert_eq!(numerics(&take(&mut h, alice)), ["461"]);
    h.send(alice, "MODE #room +o nobody");
    assert_eq!(numerics(&take(&mut h, alice)), ["401"]);
    let outsider = user(&mut h, 9, "dave");
    h.send(alice, "MODE #room +v dave");
    assert_eq!(numerics(&take(&mut h, alice)), ["441"]);
    h.take(outsider);
}

#[test]
fn a_moderated_room_hears_only_voiced_members_and_operators() {
    let mut h = Harness::new();
    let [alice, bob, carol] = room_of_three(&mut h);
    h.send(alice, "MODE #room +mv carol");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    h.send(bob, "PRIVMSG #room :can anyone hear me?");
    let refused = take(&mut h, bob);
    assert_eq!(numerics(&refused), ["404"]);
    assert!(refused[0].params[2].contains("+m"), "{:?}", refused[0]);
    assert!(h.take(alice).is_empty() && h.take(carol).is_empty());
    h.send(bob, "NOTICE #room :a notice");
    assert!(h.take(bob).is_empty(), "NOTICE never gets an error");
    assert!(h.take(alice).is_empty(), "…and is not delivered either");
    h.send(carol, "PRIVMSG #room :voiced, so heard");
    h.send(alice, "PRIVMSG #room :operator, so heard");
    let heard: Vec<String> = take(&mut h, bob)
        .iter()
        .map(|m| m.params[1].clone())
        .collect();
    assert_eq!(heard, ["voiced, so heard", "operator, so heard"]);
}

#[test]
fn no_external_messages_unless_the_room_is_minus_n() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    let outsider = user(&mut h, 9, "dave");
    h.send(outsider, "PRIVMSG #room :from outside");
    assert_eq!(numerics(&take(&mut h, outsider)), ["404"]);
    h.send(alice, "MODE #room -n");
    h.take(bob);
    h.send(outsider, "PRIVMSG #room :from outside");
    assert!(h.take(outsider).is_empty());
    let got = take(&mut h, bob);
    assert_eq!(
        got.last().map(|m| m.params[1].as_str()),
        Some("from outside")
    );
}

#[test]
fn a_locked_topic_is_for_operators_and_minus_t_opens_it() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    h.send(bob, "TOPIC #room :bob's topic");
    assert_eq!(numerics(&take(&mut h, bob)), ["482"]);
    h.send(alice, "MODE #room -t");
    h.take(bob);
    h.send(bob, "TOPIC #room :bob's topic");
    assert_eq!(take(&mut h, bob)[0].params[1], "bob's topic");
}

#[test]
fn a_ban_keeps_people_out_silences_members_and_an_exception_lets_them_in() {
    let mut h = Harness::new();
    let [alice, bob, carol] = room_of_three(&mut h);
    // `bob` is normalised to bob!*@* and matched case-insensitively.
    h.send(alice, "MODE #room +b BOB");
    assert_eq!(take(&mut h, carol)[0].params[1..], ["+b", "BOB!*@*"]);
    h.take(bob);
    h.send(bob, "PRIVMSG #room :am I heard?");
    assert_eq!(numerics(&take(&mut h, bob)), ["404"]);
    h.send(bob, "NICK bob2");
    assert!(
        numerics(&take(&mut h, bob)).is_empty(),
        "bob2 is not banned"
    );
    // A member who is not voiced cannot take a banned nick.
    h.send(bob, "NICK bob");
    let refused = take(&mut h, bob);
    assert_eq!(numerics(&refused), ["435"]);
    assert_eq!(refused[0].params[1..3], ["bob", "#room"]);
    h.send(alice, "KICK #room bob2");
    h.send(bob, "NICK bob");
    h.take(bob);
    h.send(bob, "JOIN #room");
    let refused = take(&mut h, bob);
    assert_eq!(numerics(&refused), ["474"]);
    h.send(alice, "MODE #room +e *!*@127.0.0.1");
    h.send(bob, "JOIN #room");
    assert_eq!(
        commands(&take(&mut h, bob))[0],
        "JOIN",
        "the exception lets bob in"
    );
}

#[test]
fn ban_exception_and_invite_exception_lists_are_listed_with_setter_and_time() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    h.send(alice, "MODE #room +beI eve *!*@10.0.0.1 friend!*@*");
    h.take(alice);
    h.take(bob);
    for (query, item, end) in [
        ("+b", "367", "368"),
        ("e", "348", "349"),
        ("I", "346", "347"),
    ] {
        h.send(bob, &format!("MODE #room {query}"));
        let got = take(&mut h, bob);
        assert_eq!(commands(&got), [item, end], "{query}");
        assert_eq!(got[0].params[3], "alice");
        assert_eq!(got[0].params[4], h.now.wall.secs().to_string());
    }
    h.send(bob, "MODE #room b");
    assert_eq!(take(&mut h, bob)[0].params[2], "eve!*@*");
}

#[test]
fn invite_only_admits_the_invited_once_and_tells_operators_who_asked() {
    let mut h = Harness::new();
    let [alice, bob, carol] = room_of_three(&mut h);
    h.send(alice, "MODE #room +io carol");
    h.send(alice, "CAP REQ invite-notify");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    let dave = user(&mut h, 4, "dave");
    h.send(dave, "JOIN #room");
    assert_eq!(numerics(&take(&mut h, dave)), ["473"]);
    h.send(bob, "INVITE dave #room");
    assert_eq!(
        numerics(&take(&mut h, bob)),
        ["482"],
        "only operators invite into +i"
    );
    h.send(carol, "INVITE dave #room");
    assert_eq!(
        shapes(&take(&mut h, carol)),
        [("341".into(), vec!["dave".into(), "#room".into()])]
    );
    let invite = take(&mut h, dave);
    assert_eq!(invite[0].command, "INVITE");
    assert_eq!(invite[0].params, ["dave", "#room"]);
    let notified = take(&mut h, alice);
    assert_eq!(
        commands(&notified),
        ["INVITE"],
        "alice asked for invite-notify"
    );
    assert!(h.take(bob).is_empty(), "bob is no operator");
    h.send(dave, "JOIN #room");
    assert_eq!(commands(&take(&mut h, dave))[0], "JOIN");
    h.send(carol, "INVITE dave #room");
    assert_eq!(numerics(&take(&mut h, carol)), ["443"]);
    h.send(dave, "PART #room");
    h.send(dave, "JOIN #room");
    assert_eq!(
        numerics(&take(&mut h, dave)),
        ["473"],
        "an invitation admits once"
    );
}

#[test]
fn a_key_and_a_limit_are_checked_on_join() {
    let mut h = Harness::new();
    let [alice, ..] = room_of_three(&mut h);
    h.send(alice, "MODE #room +kl sesame 4");
    h.take(alice);
    let dave = user(&mut h, 4, "dave");
    h.send(dave, "JOIN #room");
    assert_eq!(numerics(&take(&mut h, dave)), ["475"]);
    h.send(dave, "JOIN #room wrong");
    assert_eq!(numerics(&take(&mut h, dave)), ["475"]);
    h.send(dave, "JOIN #other,#room x,sesame");
    assert_eq!(
        commands(&take(&mut h, dave))
            .iter()
            .filter(|c| **c == "JOIN")
            .count(),
        2
    );
    let erin = user(&mut h, 5, "erin");
    h.send(erin, "JOIN #room sesame");
    assert_eq!(numerics(&take(&mut h, erin)), ["471"]);
    h.send(dave, "MODE #room");
    assert_eq!(
        take(&mut h, dave)[0].params[1..],
        ["#room", "+klnt", "sesame", "4"]
    );
    h.send(erin, "MODE #room");
    assert_eq!(
        take(&mut h, erin)[0].params[1..],
        ["#room", "+klnt", "*", "4"],
        "the key is for members only"
    );
    h.send(alice, "MODE #room +k has,comma");
    assert_eq!(numerics(&take(&mut h, alice)), ["525"]);
    h.send(alice, "MODE #room +l lots");
    assert_eq!(numerics(&take(&mut h, alice)), ["696"]);
}

#[test]
fn kick_removes_each_named_member_and_everyone_sees_it_once() {
    let mut h = Harness::new();
    let [alice, bob, carol] = room_of_three(&mut h);
    let dave = member(&mut h, 4, "dave", "#room");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    h.send(bob, "KICK #room carol");
    assert_eq!(numerics(&take(&mut h, bob)), ["482"]);
    h.send(alice, "KICK #room carol,dave,nobody :behave");
    let seen = take(&mut h, bob);
    assert_eq!(
        shapes(&seen),
        [
            ("KICK".into(), vec!["carol".into(), "behave".into()]),
            ("KICK".into(), vec!["dave".into(), "behave".into()]),
        ]
    );
    assert_eq!(numerics(&take(&mut h, alice)), ["401"]);
    assert_eq!(
        commands(&take(&mut h, carol)),
        ["KICK"],
        "the kicked see it once"
    );
    assert_eq!(commands(&take(&mut h, dave)), ["KICK", "KICK"]);
    h.send(alice, "KICK #room carol");
    assert_eq!(numerics(&take(&mut h, alice)), ["441"]);
    // The default comment is the kicker's nick.
    h.send(alice, "KICK #room bob");
    assert_eq!(take(&mut h, bob)[0].params[2], "alice");
    assert_eq!(h.server.room("#room").map(|r| r.len()), Some(1));
    // The kicked may come back.
    h.send(carol, "JOIN #room");
    assert_eq!(commands(&take(&mut h, carol))[0], "JOIN");
}

#[test]
fn operators_keep_their_status_across_a_nick_change_until_they_leave() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    h.send(alice, "NICK alicia");
    h.send(alice, "MODE #room +v bob");
    assert_eq!(
        take(&mut h, bob).last().map(|m| m.command.as_str()),
        Some("MODE")
    );
    h.send(alice, "PART #room");
    h.send(alice, "JOIN #room");
    h.take(alice);
    h.send(alice, "MODE #room +m");
    assert_eq!(
        numerics(&take(&mut h, alice)),
        ["482"],
        "rejoining is not being first"
    );
}

#[test]
fn a_room_that_empties_forgets_its_modes_bans_and_topic() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    h.send(alice, "MODE #room +ikb sesame eve");
    h.send(alice, "TOPIC #room :kept while anyone is here");
    h.send(alice, "PART #room");
    let bob = user(&mut h, 2, "bob");
    h.send(bob, "JOIN #room");
    let got = take(&mut h, bob);
    assert_eq!(commands(&got), ["JOIN", "353", "366"], "no topic, no key");
    assert_eq!(got[1].params[3], "@bob");
}

#[test]
fn invisible_users_and_secret_rooms_are_hidden_from_people_outside() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    h.send(bob, "MODE bob +i");
    assert_eq!(take(&mut h, bob)[0].params, ["bob", "+i"]);
    let dave = user(&mut h, 4, "dave");
    h.send(dave, "NAMES #room");
    assert_eq!(take(&mut h, dave)[0].params[3], "@alice carol");
    h.send(dave, "WHOIS bob");
    assert!(!commands(&take(&mut h, dave)).contains(&"319"));
    h.send(alice, "MODE #room +s");
    for (query, hidden) in [
        ("LIST", "322"),
        ("NAMES #room", "353"),
        ("WHO #room", "352"),
    ] {
        h.send(dave, query);
        assert!(!commands(&take(&mut h, dave)).contains(&hidden), "{query}");
    }
    h.send(bob, "LIST");
    assert!(
        commands(&take(&mut h, bob)).contains(&"322"),
        "members see it"
    );
    h.send(bob, "MODE bob +o");
    assert!(h.take(bob).is_empty(), "+o comes only from OPER");
    h.send(bob, "MODE bob");
    assert_eq!(take(&mut h, bob)[0].params[1], "+i");
}

#[test]
fn a_long_mode_change_is_announced_in_lines_under_512_bytes() {
    let mut h = Harness::new();
    let [alice, bob, _] = room_of_three(&mut h);
    let masks: Vec<String> = (0..20)
        .map(|i| format!("{i:02}{}", "x".repeat(60)))
        .collect();
    let line = format!("MODE #room +{} {}", "b".repeat(20), masks.join(" "));
    h.send(alice, &line);
    let raw = h.take(bob);
    assert!(raw.len() > 1, "20 long masks need several lines");
    assert!(raw.iter().all(|l| l.len() + 2 <= 512));
    let banned: usize = raw
        .iter()
        .map(|l| Message::parse(l).map_or(0, |m| m.params.len() - 2))
        .sum();
    assert_eq!(banned, 20, "every ban announced once");
}

#[test]
fn kicks_and_mode_changes_are_logged_on_lines_of_their_own_and_stored_in_history() {
    let mut h = Harness::with_config(ServerConfig::default());
    let alice = member(&mut h, 1, "alice", "#lobby");
    let bob = member(&mut h, 2, "bob", "#lobby,#rust");
    h.send(alice, "MODE #lobby +v bob");
    h.send(alice, "KICK #lobby bob :spam\x1b[31m");
    h.take(bob);
    let log = h.log_text();
    assert!(log.contains("] [alice] set mode +v bob\n"), "{log}");
    assert!(
        log.contains("] [alice] kicked [bob]: spam\\x1b[31m\n"),
        "{log}"
    );
    let kinds: Vec<HistoryKind> = h.persisted.iter().map(|r| r.kind).collect();
    assert!(
        kinds.ends_with(&[HistoryKind::Mode, HistoryKind::Kick]),
        "{kinds:?}"
    );
    let kick = h.persisted.last().expect("stored");
    assert_eq!((&*kick.target, &*kick.text), ("#lobby", "bob spam\x1b[31m"));
}
