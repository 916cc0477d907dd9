//! ChanServ over the core: registering a room, what it keeps when it
//! empties, op and voice by account (on join, on login, on AMODE ADD),
//! the refusals, DROP, and what happens to a dropped founder's rooms.

mod common;

use common::{has, registered, user, Harness};
use natter::core::{AccessLevel, ConnId};

const CS: &str = ":ChanServ!ChanServ@services NOTICE";

/// `founder` (logged in) creates `room` and registers it with ChanServ.
fn registered_room(h: &mut Harness, founder: ConnId, room: &str) {
    h.send(founder, &format!("JOIN {room}"));
    h.send(founder, &format!("PRIVMSG ChanServ :REGISTER {room}"));
    let got = h.take(founder);
    assert!(has(&got, "is now registered to your account"), "{got:?}");
}

#[test]
fn a_registered_room_keeps_its_topic_modes_and_bans_when_it_empties_and_a_newcomer_is_not_op() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    registered_room(&mut h, alice, "#Rust");
    h.send(alice, "TOPIC #rust :Rust and nothing else");
    h.send(alice, "MODE #rust +ml-t 10");
    h.send(alice, "MODE #rust +b eve");
    h.take(alice);
    let saved = h.saved_rooms.last().cloned();
    let Some(Ok(saved)) = saved else {
        panic!("the room was saved: {:?}", h.saved_rooms);
    };
    assert_eq!(saved.founder, "alice");
    assert_eq!(
        saved.topic.as_ref().map(|t| t.text.as_str()),
        Some("Rust and nothing else")
    );
    assert!(saved.modes.moderated && !saved.modes.topic_lock);
    assert_eq!(saved.bans.len(), 1);

    h.send(alice, "PART #rust");
    assert!(h.server.room("#rust").is_none(), "the room itself is gone");
    assert!(h.server.registered_room("#RUST").is_some());

    let eve = user(&mut h, 3, "eve");
    h.send(eve, "JOIN #rust");
    let got = h.take(eve);
    assert!(
        has(&got, " 474 eve #Rust :Cannot join channel (+b)"),
        "{got:?}"
    );

    let bob = user(&mut h, 2, "bob");
    h.send(bob, "JOIN #RUST");
    let got = h.take(bob);
    assert!(
        has(&got, ":bob!bob@127.0.0.1 JOIN #Rust"),
        "the registered spelling: {got:?}"
    );
    assert!(
        has(&got, " 332 bob #Rust :Rust and nothing else"),
        "{got:?}"
    );
    assert!(
        got.iter().any(|l| l.ends_with(" 353 bob = #Rust bob")),
        "not an op: {got:?}"
    );
    assert!(!has(&got, "MODE"), "ChanServ gives bob nothing: {got:?}");
    h.send(bob, "MODE #rust");
    let got = h.take(bob);
    assert!(has(&got, " 324 bob #Rust +lmn 10"), "{got:?}");
    h.send(bob, "TOPIC #rust :mine now");
    assert!(
        has(&h.take(bob), ":bob!bob@127.0.0.1 TOPIC #Rust :mine now"),
        "-t was kept: bob may set the topic"
    );
}

#[test]
fn the_founder_and_accounts_on_the_access_list_get_op_and_voice_on_joining() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    let carol = registered(&mut h, 3, "carol");
    registered_room(&mut h, alice, "#rust");
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD bob op");
    h.send(alice, "CS ACCESS #rust ADD Carol voice");
    let got = h.take(alice);
    assert!(
        has(&got, "bob now gets op in #rust on joining or logging in."),
        "{got:?}"
    );
    assert!(has(&got, "carol now gets voice in #rust"), "{got:?}");
    let reg = h.server.registered_room("#rust").expect("registered");
    assert_eq!(reg.level_of("BOB"), Some(AccessLevel::Op));
    h.send(alice, "PART #rust");

    h.send(bob, "JOIN #rust");
    let got = h.take(bob);
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #rust +o bob"),
        "{got:?}"
    );
    h.send(carol, "JOIN #rust");
    let got = h.take(carol);
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #rust +v carol"),
        "{got:?}"
    );
    assert!(
        has(
            &h.take(bob),
            ":ChanServ!ChanServ@services MODE #rust +v carol"
        ),
        "the room sees it"
    );
    h.send(alice, "JOIN #rust");
    let got = h.take(alice);
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #rust +o alice"),
        "the founder: {got:?}"
    );
    let log = h.log_text();
    assert!(log.contains("ChanServ"), "{log}");

    h.send(alice, "PRIVMSG ChanServ :AMODE #rust LIST");
    let got = h.take(alice);
    assert!(
        has(&got, "Access list of #rust: alice (founder)"),
        "{got:?}"
    );
    assert!(has(&got, "bob op (added by alice on "), "{got:?}");
    assert!(has(&got, "carol voice (added by alice on "), "{got:?}");
}

#[test]
fn logging_in_while_in_the_room_or_being_added_gives_the_status_at_once() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    registered_room(&mut h, alice, "#rust");
    h.send(bob, "JOIN #rust");
    h.take(bob);
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD bob voice");
    let got = h.take(bob);
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #rust +v bob"),
        "added while inside: {got:?}"
    );
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD bob op");
    assert!(has(
        &h.take(bob),
        ":ChanServ!ChanServ@services MODE #rust +o bob"
    ));
    h.send(bob, "PRIVMSG NickServ :LOGOUT");
    h.send(bob, "PART #rust");
    h.send(bob, "JOIN #rust");
    let got = h.take(bob);
    assert!(!has(&got, "+o bob"), "logged out, no op: {got:?}");
    h.send(bob, "PRIVMSG NickServ :IDENTIFY correct-horse");
    h.answer_password_checks();
    let got = h.take(bob);
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #rust +o bob"),
        "on login: {got:?}"
    );
}

#[test]
fn chanserv_explains_every_refusal() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    let guest = user(&mut h, 3, "guest");

    h.send(guest, "JOIN #open");
    h.send(guest, "PRIVMSG ChanServ :REGISTER #open");
    let got = h.take(guest);
    assert!(
        has(&got, &format!("{CS} guest :You must log in first")),
        "{got:?}"
    );

    h.send(bob, "JOIN #open");
    h.send(bob, "PRIVMSG ChanServ :REGISTER #open");
    let got = h.take(bob);
    assert!(
        has(
            &got,
            "You must be an operator (+o) in #open to register it."
        ),
        "{got:?}"
    );

    h.send(bob, "PRIVMSG ChanServ :REGISTER #nowhere");
    assert!(has(&h.take(bob), "#nowhere does not exist: join it first"));

    h.send(bob, "PRIVMSG ChanServ :INFO #open");
    assert!(has(&h.take(bob), "#open is not registered"));

    h.send(bob, "PRIVMSG ChanServ :REGISTER rust");
    assert!(has(&h.take(bob), "Syntax: REGISTER <#room>"));

    registered_room(&mut h, alice, "#rust");
    h.send(bob, "JOIN #rust");
    h.take(bob);
    h.send(alice, "PRIVMSG ChanServ :REGISTER #rust");
    assert!(has(&h.take(alice), "#rust is already registered to alice."));

    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD nobody op");
    assert!(has(
        &h.take(alice),
        "There is no account called nobody: they must register with NickServ first."
    ));
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD bob owner");
    assert!(has(&h.take(alice), "Syntax: AMODE <#room> ADD"));
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD alice op");
    assert!(has(&h.take(alice), "the founder is always an operator"));
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust DEL bob");
    assert!(has(
        &h.take(alice),
        "bob is not on the access list of #rust."
    ));

    h.send(bob, "PRIVMSG ChanServ :AMODE #rust ADD bob op");
    assert!(has(
        &h.take(bob),
        "Only the founder of #rust and operators on its access list can change the list."
    ));
    h.send(bob, "PRIVMSG ChanServ :AMODE #rust LIST");
    assert!(has(&h.take(bob), "You have no access to #rust"));
    h.send(bob, "PRIVMSG ChanServ :OP #rust");
    assert!(has(
        &h.take(bob),
        "You need operator access to #rust to use OP."
    ));

    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD bob voice");
    h.take(bob);
    h.send(bob, "PRIVMSG ChanServ :VOICE #rust alice");
    assert!(has(&h.take(bob), "voice access: on yourself only"));
    h.send(bob, "PRIVMSG ChanServ :DEVOICE #rust");
    assert!(has(
        &h.take(bob),
        ":ChanServ!ChanServ@services MODE #rust -v bob"
    ));

    h.send(bob, "PRIVMSG ChanServ :DROP #rust");
    assert!(has(
        &h.take(bob),
        "Only the founder of #rust (alice) can drop it."
    ));
    h.send(bob, "PRIVMSG ChanServ :FROB");
    assert!(has(&h.take(bob), "Unknown command FROB"));
    assert!(
        h.server.registered_room("#open").is_none(),
        "nothing was registered by a refused REGISTER"
    );
}

#[test]
fn an_operator_on_the_access_list_uses_op_and_deop_on_others() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    registered_room(&mut h, alice, "#rust");
    h.send(alice, "PRIVMSG ChanServ :AMODE #rust ADD bob op");
    h.send(bob, "JOIN #rust");
    h.send(bob, "CHANSERV DEOP #rust alice");
    let got = h.take(alice);
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #rust -o alice"),
        "{got:?}"
    );
    h.send(alice, "PRIVMSG ChanServ :OP #rust");
    assert!(has(
        &h.take(alice),
        ":ChanServ!ChanServ@services MODE #rust +o alice"
    ));
    h.send(alice, "PRIVMSG ChanServ :OP #rust");
    assert!(has(
        &h.take(alice),
        "alice is already an operator in #rust."
    ));
    h.send(alice, "PRIVMSG ChanServ :OP #rust nobody");
    assert!(has(&h.take(alice), "nobody is not in #rust."));
}

#[test]
fn a_dropped_registration_leaves_an_ordinary_room_that_ends_when_it_empties() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    registered_room(&mut h, alice, "#rust");
    h.send(alice, "TOPIC #rust :kept?");
    h.send(alice, "PRIVMSG ChanServ :DROP #rust");
    let got = h.take(alice);
    assert!(has(&got, "#rust is no longer registered"), "{got:?}");
    assert_eq!(h.saved_rooms.last(), Some(&Err("#rust".to_string())));
    h.send(alice, "PART #rust");
    let bob = user(&mut h, 2, "bob");
    h.send(bob, "JOIN #rust");
    let got = h.take(bob);
    assert!(
        got.iter().any(|l| l.ends_with(" 353 bob = #rust @bob")),
        "first joiner is op again: {got:?}"
    );
    assert!(!has(&got, " 332 "), "no topic: {got:?}");
}

#[test]
fn a_dropped_founders_room_passes_to_the_oldest_operator_or_is_dropped() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    let carol = registered(&mut h, 3, "carol");
    registered_room(&mut h, alice, "#kept");
    registered_room(&mut h, alice, "#lost");
    h.send(alice, "PRIVMSG ChanServ :AMODE #kept ADD carol voice");
    h.send(alice, "PRIVMSG ChanServ :AMODE #kept ADD bob op");
    h.send(alice, "PRIVMSG ChanServ :AMODE #lost ADD carol voice");
    h.send(alice, "PRIVMSG NickServ :DROP alice");
    let kept = h.server.registered_room("#kept").expect("passed on");
    assert_eq!(kept.founder, "bob");
    assert_eq!(kept.level_of("bob"), Some(AccessLevel::Op));
    assert!(
        kept.access.iter().all(|e| e.account != "bob"),
        "the founder is not also on the list"
    );
    assert!(
        h.server.registered_room("#lost").is_none(),
        "no operator to take it"
    );
    assert!(h.saved_rooms.contains(&Err("#lost".to_string())));
    let _ = (bob, carol);
}

#[test]
fn a_renamed_registered_room_keeps_its_registration_under_the_new_name() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    registered_room(&mut h, alice, "#old");
    h.send(alice, "RENAME #old #new");
    assert!(h.server.registered_room("#old").is_none());
    assert_eq!(
        h.server.registered_room("#new").map(|r| r.name.as_str()),
        Some("#new")
    );
    assert!(h.saved_rooms.contains(&Err("#old".to_string())));
    let bob = registered(&mut h, 2, "bob");
    registered_room(&mut h, bob, "#other");
    h.send(bob, "PART #other");
    h.send(alice, "RENAME #new #other");
    let got = h.take(alice);
    assert!(has(&got, "FAIL RENAME CHANNEL_NAME_IN_USE"), "{got:?}");
}

#[test]
fn chanserv_help_lists_its_commands() {
    let mut h = Harness::new();
    let bob = user(&mut h, 1, "bob");
    h.send(bob, "CS HELP");
    let got = h.take(bob);
    for command in [
        "REGISTER", "DROP", "AMODE", "INFO", "OP", "DEOP", "VOICE", "DEVOICE",
    ] {
        assert!(
            has(&got, &format!("{CS} bob :{command} <#room>")),
            "{command}: {got:?}"
        );
    }
    h.send(bob, "PRIVMSG ChanServ :HELP access");
    assert!(has(&h.take(bob), "AMODE <#room> ADD <account> <op|voice>"));
}
