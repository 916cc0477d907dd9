//! WHO with masks and WHOX, LIST with ELIST filters, NAMES, UTF8ONLY, and
//! server operators (OPER, KILL, WALLOPS), as scenarios over the core.
mod common;
use common::{commands, member, snapshot_settings, take, user, Harness};
use natter::core::{ConnId, Event, PasswordPurpose, ServerConfig};
use natter::proto::LineError;

/// The nicks of the 352 rows in `msgs`, in order.
fn who_nicks(msgs: &[natter::proto::Message]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.command == "352")
        .map(|m| m.param(5).to_string())
        .collect()
}

/// A server with one operator, `root`, whose password is `letmein` (a
/// cheap test hash, so checks take microseconds).
fn with_oper() -> Harness {
    let hash = natter::net::password::hash_password_cheaply("letmein").expect("hashes");
    let mut config = ServerConfig::default();
    config.opers.insert("root".into(), hash);
    Harness::with_config(config)
}

/// Makes `conn` a server operator and throws the replies away.
fn oper_up(h: &mut Harness, conn: ConnId) {
    h.send(conn, "OPER root letmein");
    h.answer_password_checks();
    h.take(conn);
}

#[test]
fn who_with_a_mask_matches_nick_user_host_or_real_name() {
    let mut h = Harness::new();
    let asker = user(&mut h, 1, "asker");
    let alice = h.connect(2, "192.0.2.7:5000");
    h.send(alice, "NICK alice");
    h.send(alice, "USER al 0 * :Alice Liddell");
    let bob = h.connect(3, "198.51.100.9:5000");
    h.send(bob, "NICK bob");
    h.send(bob, "USER bobby 0 * :Bob Ross");
    h.take(alice);
    h.take(bob);
    for (mask, expected) in [
        ("a*", vec!["asker", "alice"]),
        ("bobby", vec!["bob"]),
        ("192.0.2.*", vec!["alice"]),
        ("*ross", vec!["bob"]),
        ("*!al@*", vec!["alice"]),
        ("*", vec!["asker", "alice", "bob"]),
        ("0", vec!["asker", "alice", "bob"]),
        ("nobody*", vec![]),
    ] {
        h.send(asker, &format!("WHO {mask}"));
        let got = take(&mut h, asker);
        assert_eq!(who_nicks(&got), expected, "WHO {mask}");
        let end = got.last().expect("a 315 at least");
        assert_eq!((end.command.as_str(), end.param(1)), ("315", mask));
    }
}

#[test]
fn invisible_users_are_listed_by_mask_only_to_people_sharing_a_room() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    let stranger = user(&mut h, 3, "stranger");
    h.send(alice, "MODE alice +i");
    h.take(alice);
    h.send(stranger, "WHO *");
    assert_eq!(who_nicks(&take(&mut h, stranger)), ["bob", "stranger"]);
    h.send(bob, "WHO *");
    assert_eq!(who_nicks(&take(&mut h, bob)), ["alice", "bob", "stranger"]);
    h.send(stranger, "WHO #room");
    assert_eq!(who_nicks(&take(&mut h, stranger)), ["bob"]);
    // Asked for by exact nick, she is answered (Modern IRC), without the
    // rooms a stranger may not learn of.
    h.send(stranger, "WHO alice");
    let got = take(&mut h, stranger);
    assert_eq!(who_nicks(&got), ["alice"]);
    assert_eq!(got[0].param(1), "*");
}

#[test]
fn who_about_one_person_shows_a_room_they_share_with_their_prefix() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#a,#b");
    let bob = member(&mut h, 2, "bob", "#b");
    h.take(alice);
    h.send(bob, "WHO alice");
    let got = take(&mut h, bob);
    assert_eq!(
        got[0].params[1..8],
        [
            "#b",
            "alice",
            "127.0.0.1",
            "natter",
            "alice",
            "H@",
            "0 alice"
        ]
    );
    let carol = user(&mut h, 3, "carol");
    h.send(carol, "WHO alice");
    assert_eq!(
        take(&mut h, carol)[0].param(1),
        "#a",
        "the first public room"
    );
    h.send(alice, "MODE #a +s");
    h.send(carol, "WHO alice");
    let got = take(&mut h, carol);
    assert_eq!(got[0].param(1), "#b", "never the secret #a to an outsider");
}

#[test]
fn who_o_lists_only_server_operators() {
    let mut h = with_oper();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    oper_up(&mut h, alice);
    h.send(bob, "WHO #room o");
    let got = take(&mut h, bob);
    assert_eq!(who_nicks(&got), ["alice"]);
    assert_eq!(
        got[0].param(6),
        "H*@",
        "here, a server operator, a room operator"
    );
    h.send(bob, "WHO * o");
    assert_eq!(who_nicks(&take(&mut h, bob)), ["alice"]);
    h.send(bob, "WHO bob o");
    assert_eq!(commands(&take(&mut h, bob)), ["315"]);
}

#[test]
fn a_mask_query_is_cut_at_two_hundred_rows_with_416() {
    let mut h = Harness::new();
    for i in 0..205 {
        user(&mut h, 10 + i, &format!("u{i}"));
    }
    let asker = ConnId(10);
    h.send(asker, "WHO u*");
    let got = take(&mut h, asker);
    assert_eq!(who_nicks(&got).len(), 200);
    assert_eq!(commands(&got[200..]), ["416", "315"]);
    assert!(
        got[200].param(2).contains("narrow the mask"),
        "{:?}",
        got[200]
    );
    // A room is never cut: clients ask for it on every join.
    for i in 0..205 {
        h.send(ConnId(10 + i), "JOIN #big");
        h.take(ConnId(10 + i));
    }
    h.send(asker, "WHO #big");
    assert_eq!(who_nicks(&take(&mut h, asker)).len(), 205);
}

#[test]
fn whox_answers_354_with_exactly_the_fields_asked_in_the_standard_order() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.send(alice, "AWAY :lunch");
    h.take(alice);
    h.send(bob, "WHO #room %rnfct,42");
    let got = take(&mut h, bob);
    assert_eq!(commands(&got), ["354", "354", "315"]);
    assert_eq!(
        got[0].params,
        ["bob", "42", "#room", "alice", "G@", "alice"]
    );
    assert_eq!(got[1].params, ["bob", "42", "#room", "bob", "H", "bob"]);
    // Every field; the IP is hidden from others but shown to oneself.
    h.send(bob, "WHO alice %tcuihsnfdlaor,7");
    let got = take(&mut h, bob);
    assert_eq!(
        got[0].params,
        [
            "bob",
            "7",
            "#room",
            "alice",
            "255.255.255.255",
            "127.0.0.1",
            "natter",
            "alice",
            "G@",
            "0",
            "0",
            "0",
            "999",
            "alice"
        ]
    );
    h.send(bob, "WHO bob %in");
    assert_eq!(take(&mut h, bob)[0].params, ["bob", "127.0.0.1", "bob"]);
    // Fields natter does not know are ignored; a malformed token is 0.
    h.send(bob, "WHO bob %tnXYZ,abcd");
    assert_eq!(take(&mut h, bob)[0].params, ["bob", "0", "bob"]);
}

#[test]
fn a_whox_reply_in_full() {
    let mut h = with_oper();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    oper_up(&mut h, carol);
    h.send(alice, "MODE #room +v bob");
    h.send(bob, "AWAY :back soon");
    h.send(bob, "CAP REQ multi-prefix");
    h.send(alice, "MODE #room +v alice");
    h.advance_secs(90);
    h.send(carol, "PRIVMSG #room :still here");
    for c in [alice, bob, carol] {
        h.take(c);
    }
    h.send(bob, "WHO #room %tcuihsnfdlaor,123");
    let transcript = h.take(bob).join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("whox_reply", transcript));
}

#[test]
fn list_filters_by_users_masks_and_times() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#rust,#rules,#lobby");
    h.advance_secs(10 * 60);
    let bob = member(&mut h, 2, "bob", "#rust,#new");
    member(&mut h, 3, "carol", "#rust,#new");
    h.send(alice, "TOPIC #rules :be kind");
    h.advance_secs(5 * 60);
    h.send(bob, "TOPIC #new :fresh");
    h.take(alice);
    h.take(bob);
    let listed = |h: &mut Harness, line: &str| -> Vec<String> {
        h.send(alice, line);
        let got = take(h, alice);
        assert_eq!(
            got.first().map(|m| m.command.as_str()),
            Some("321"),
            "{line}"
        );
        assert_eq!(
            got.last().map(|m| m.command.as_str()),
            Some("323"),
            "{line}"
        );
        got.iter()
            .filter(|m| m.command == "322")
            .map(|m| m.param(1).to_string())
            .collect()
    };
    assert_eq!(
        listed(&mut h, "LIST"),
        ["#lobby", "#new", "#rules", "#rust"]
    );
    // #rust has 3 people, #new 2, the others 1.
    assert_eq!(listed(&mut h, "LIST >1"), ["#new", "#rust"]);
    assert_eq!(listed(&mut h, "LIST <2"), ["#lobby", "#rules"]);
    assert_eq!(listed(&mut h, "LIST >1,<3"), ["#new"]);
    assert_eq!(listed(&mut h, "LIST #r*"), ["#rules", "#rust"]);
    assert_eq!(listed(&mut h, "LIST !#r*"), ["#lobby", "#new"]);
    assert_eq!(listed(&mut h, "LIST #RUST,#lobby"), ["#lobby", "#rust"]);
    assert_eq!(listed(&mut h, "LIST #r* >2"), ["#rust"]);
    // Created 15 minutes ago (#lobby, #rules, #rust) or 5 (#new).
    assert_eq!(listed(&mut h, "LIST C>10"), ["#lobby", "#rules", "#rust"]);
    assert_eq!(listed(&mut h, "LIST C<10"), ["#new"]);
    // Topics: #rules set 5 minutes ago, #new just now; the others have none.
    assert_eq!(listed(&mut h, "LIST T<3"), ["#new"]);
    assert_eq!(listed(&mut h, "LIST T>3"), ["#rules"]);
    // A malformed condition is ignored, as most servers do.
    assert_eq!(
        listed(&mut h, "LIST >lots"),
        ["#lobby", "#new", "#rules", "#rust"]
    );
}

#[test]
fn list_never_shows_a_secret_room_to_an_outsider_whatever_the_filter() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#hidden");
    let bob = user(&mut h, 2, "bob");
    h.send(alice, "MODE #hidden +s");
    h.take(alice);
    for line in ["LIST", "LIST #hidden", "LIST #h*", "LIST >0", "LIST C<60"] {
        h.send(bob, line);
        assert_eq!(commands(&take(&mut h, bob)), ["321", "323"], "{line}");
        h.send(alice, line);
        assert_eq!(
            commands(&take(&mut h, alice)),
            ["321", "322", "323"],
            "{line}"
        );
    }
}

#[test]
fn names_answers_each_room_asked_and_366_star_when_none_is() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#a,#b");
    h.send(alice, "NAMES #a,#nowhere,#b");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["353", "366", "366", "353", "366"]);
    assert_eq!(got[2].param(1), "#nowhere");
    h.send(alice, "NAMES");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["366"]);
    assert_eq!(got[0].param(1), "*");
}

#[test]
fn isupport_advertises_whox_elist_and_utf8only() {
    let mut h = Harness::new();
    let conn = h.register(1, "alice", 12001);
    let tokens: Vec<String> = take(&mut h, conn)
        .into_iter()
        .filter(|m| m.command == "005")
        .flat_map(|m| m.params)
        .collect();
    for token in ["WHOX", "ELIST=CMNTU", "UTF8ONLY"] {
        assert!(tokens.iter().any(|t| t == token), "{token} in {tokens:?}");
    }
}

#[test]
fn a_line_that_is_not_utf8_is_refused_with_fail_invalid_utf8_and_never_relayed() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.take(alice);
    h.event(Event::BadLine {
        conn: alice,
        error: LineError::InvalidUtf8,
        now: h.now,
    });
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["FAIL"]);
    assert_eq!(got[0].params[..2], ["*", "INVALID_UTF8"]);
    assert!(got[0].params[2].contains("UTF-8"));
    assert!(h.take(bob).is_empty());
}

#[test]
fn oper_with_the_right_password_grants_plus_o_after_the_shell_checks_it() {
    let mut h = with_oper();
    let alice = user(&mut h, 1, "alice");
    h.send(alice, "OPER root letmein");
    assert!(
        h.take(alice).is_empty(),
        "nothing until the password is checked"
    );
    assert_eq!(h.password_checks.len(), 1);
    let check = &h.password_checks[0];
    assert_eq!(
        check.purpose,
        PasswordPurpose::Oper {
            name: "root".into()
        }
    );
    assert!(check.hash.starts_with("$argon2id$"));
    assert!(
        !format!("{check:?}").contains("letmein"),
        "the password is never printed"
    );
    h.answer_password_checks();
    assert_eq!(
        h.take(alice),
        [
            ":natter 381 alice :You are now an IRC operator",
            ":alice MODE alice +o"
        ]
    );
    h.send(alice, "MODE alice");
    assert_eq!(take(&mut h, alice)[0].param(1), "+o");
    let bob = user(&mut h, 2, "bob");
    h.send(bob, "WHOIS alice");
    assert!(commands(&take(&mut h, bob)).contains(&"313"));
}

#[test]
fn oper_answers_491_for_an_unknown_name_and_464_for_a_wrong_password() {
    let mut h = with_oper();
    let alice = user(&mut h, 1, "alice");
    h.send(alice, "OPER nobody letmein");
    assert_eq!(commands(&take(&mut h, alice)), ["491"]);
    assert!(h.password_checks.is_empty(), "no check for an unknown name");
    h.send(alice, "OPER root guess");
    h.answer_password_checks();
    assert_eq!(h.take(alice), [":natter 464 alice :Password incorrect"]);
    h.send(alice, "MODE alice");
    assert_eq!(take(&mut h, alice)[0].param(1), "+");
    h.send(alice, "OPER root");
    assert_eq!(commands(&take(&mut h, alice)), ["461"]);
}

#[test]
fn one_oper_check_at_a_time_and_three_wrong_passwords_close_the_connection() {
    let mut h = with_oper();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    h.take(alice);
    h.send(alice, "OPER root one");
    h.send(alice, "OPER root two");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["FAIL"]);
    assert_eq!(got[0].params[..2], ["OPER", "TEMPORARILY_UNAVAILABLE"]);
    assert_eq!(h.password_checks.len(), 1);
    h.answer_password_checks();
    for guess in ["three", "four"] {
        h.send(alice, &format!("OPER root {guess}"));
        h.answer_password_checks();
    }
    let got = h.take(alice);
    assert_eq!(got.iter().filter(|l| l.contains(" 464 ")).count(), 3);
    assert_eq!(
        got.last().map(String::as_str),
        Some("ERROR :Too many wrong OPER passwords")
    );
    assert_eq!(
        h.closed,
        [(alice, "Too many wrong OPER passwords".to_string())]
    );
    assert_eq!(
        h.take(bob),
        [":alice!alice@127.0.0.1 QUIT :Too many wrong OPER passwords"]
    );
}

#[test]
fn an_answer_for_a_client_that_left_is_ignored() {
    let mut h = with_oper();
    let alice = user(&mut h, 1, "alice");
    h.send(alice, "OPER root letmein");
    h.drop_conn(alice, "Connection reset by peer");
    h.answer_password_checks();
    assert!(h.take(alice).is_empty());
    // A stray answer nobody asked for grants nothing either.
    let bob = user(&mut h, 2, "bob");
    h.event(Event::PasswordChecked {
        conn: bob,
        purpose: PasswordPurpose::Oper {
            name: "root".into(),
        },
        ok: true,
        upgrade: None,
        now: h.now,
    });
    assert!(h.take(bob).is_empty());
    h.send(bob, "MODE bob");
    assert_eq!(take(&mut h, bob)[0].param(1), "+");
}

#[test]
fn kill_disconnects_the_victim_and_its_rooms_see_one_quit() {
    let mut h = with_oper();
    let alice = member(&mut h, 1, "alice", "#a,#b");
    let bob = member(&mut h, 2, "bob", "#a,#b");
    let carol = member(&mut h, 3, "carol", "#b");
    oper_up(&mut h, alice);
    for c in [alice, bob, carol] {
        h.take(c);
    }
    h.send(bob, "KILL carol :nope");
    assert_eq!(
        commands(&take(&mut h, bob)),
        ["481"],
        "only operators may KILL"
    );
    h.send(alice, "KILL nobody :x");
    assert_eq!(commands(&take(&mut h, alice)), ["401"]);
    h.send(alice, "KILL bob :spamming");
    assert_eq!(
        h.take(bob),
        [
            ":alice!alice@127.0.0.1 KILL bob spamming",
            "ERROR :Closing Link: natter (Killed (alice (spamming)))"
        ]
    );
    assert_eq!(h.closed, [(bob, "Killed (alice (spamming))".to_string())]);
    let quit = ":bob!bob@127.0.0.1 QUIT :Killed (alice (spamming))";
    assert_eq!(
        h.take(alice),
        [
            quit,
            ":natter NOTICE alice :bob was disconnected: Killed (alice (spamming))"
        ],
        "the QUIT once, though they shared two rooms"
    );
    assert_eq!(h.take(carol), [quit]);
    assert!(h.server.nick_of(bob).is_none());
    h.send(alice, "KILL carol");
    assert_eq!(
        h.take(carol)[0],
        ":alice!alice@127.0.0.1 KILL carol :No reason given"
    );
}

#[test]
fn wallops_reaches_everyone_with_plus_w_and_only_operators_send_it() {
    let mut h = with_oper();
    let alice = user(&mut h, 1, "alice");
    let bob = user(&mut h, 2, "bob");
    let carol = user(&mut h, 3, "carol");
    oper_up(&mut h, alice);
    h.send(bob, "MODE bob +w");
    h.send(alice, "MODE alice +w");
    h.take(bob);
    h.take(alice);
    h.send(bob, "WALLOPS :hello all");
    assert_eq!(commands(&take(&mut h, bob)), ["481"]);
    h.send(alice, "WALLOPS :maintenance at noon");
    let line = ":alice!alice@127.0.0.1 WALLOPS :maintenance at noon";
    assert_eq!(h.take(bob), [line]);
    assert_eq!(h.take(alice), [line], "the sender has +w too");
    assert!(h.take(carol).is_empty(), "carol has no +w");
}

#[test]
fn help_explains_the_operator_commands() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    for topic in ["OPER", "KILL", "WALLOPS"] {
        h.send(alice, &format!("HELP {topic}"));
        let got = take(&mut h, alice);
        assert_eq!(commands(&got)[0], "704", "HELP {topic}");
    }
}
