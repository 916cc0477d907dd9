//! Rooms and messages, as scenarios: joining, parting, names, topics, list,
//! who, modes, nick changes, quits, private messages and echo-message.
mod common;
use common::{commands, member, take, user, Harness};
use natter::core::ConnId;
use natter::proto::Message;

#[test]
fn private_message_to_a_nick_still_registering_is_no_such_nick() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let pending = h.connect(2, "127.0.0.1:12002");
    h.send(pending, "NICK bob");
    h.take(pending);
    h.send(alice, "PRIVMSG bob :are you there?");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["401"]);
    assert_eq!(got[0].params[1], "bob");
    assert!(
        h.take(pending).is_empty(),
        "an unregistered client gets no chat"
    );
}

fn nick_of_source(msg: &Message) -> &str {
    let source = msg.source.as_deref().unwrap_or("");
    source.split('!').next().unwrap_or(source)
}

/// The `command` lines in `msgs`, as `(nick, params)`.
fn lines_of<'m>(msgs: &'m [Message], command: &str) -> Vec<(&'m str, Vec<&'m str>)> {
    msgs.iter()
        .filter(|m| m.command == command)
        .map(|m| {
            (
                nick_of_source(m),
                m.params.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

// ----- joining and leaving --------------------------------------------------

#[test]
fn two_clients_join_one_sends_the_other_receives_once() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    h.take(john);
    h.send(john, "PRIVMSG #lobby :Hello everyone!");
    let got = take(&mut h, jane);
    assert_eq!(
        lines_of(&got, "PRIVMSG"),
        [("John", vec!["#lobby", "Hello everyone!"])]
    );
    assert!(h.take(john).is_empty(), "no echo without echo-message");
}

#[test]
fn join_with_a_comma_list_joins_each_room_and_each_room_sees_it_once() {
    let mut h = Harness::new();
    let jane = member(&mut h, 2, "Jane", "#a,#b");
    let john = user(&mut h, 1, "John");
    h.send(john, "JOIN #a,#b,#c");
    let got = take(&mut h, john);
    assert_eq!(
        lines_of(&got, "JOIN"),
        [
            ("John", vec!["#a"]),
            ("John", vec!["#b"]),
            ("John", vec!["#c"])
        ]
    );
    assert_eq!(commands(&got).iter().filter(|c| **c == "366").count(), 3);
    let seen = take(&mut h, jane);
    assert_eq!(
        lines_of(&seen, "JOIN"),
        [("John", vec!["#a"]), ("John", vec!["#b"])]
    );
    // Joining again changes nothing and tells nobody.
    h.send(john, "JOIN #A");
    assert!(h.take(john).is_empty());
    assert!(h.take(jane).is_empty());
}

#[test]
fn join_zero_parts_every_room() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#a,#b");
    let jane = member(&mut h, 2, "Jane", "#a,#b");
    h.send(john, "JOIN 0");
    let got = take(&mut h, john);
    assert_eq!(
        lines_of(&got, "PART"),
        [("John", vec!["#a"]), ("John", vec!["#b"])]
    );
    let seen = take(&mut h, jane);
    assert_eq!(
        lines_of(&seen, "PART"),
        [("John", vec!["#a"]), ("John", vec!["#b"])]
    );
    assert!(!h.server.room("#a").unwrap().contains(john));
}

#[test]
fn part_with_a_reason_is_seen_by_everyone_in_the_room_with_the_reason() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    let outsider = member(&mut h, 3, "Olga", "#other");
    h.take(john);
    h.send(john, "PART #lobby :off to lunch");
    for conn in [john, jane] {
        let got = take(&mut h, conn);
        assert_eq!(
            lines_of(&got, "PART"),
            [("John", vec!["#lobby", "off to lunch"])]
        );
    }
    assert!(h.take(outsider).is_empty());
    h.send(jane, "PRIVMSG #lobby :anyone?");
    assert!(
        h.take(john).is_empty(),
        "a parted member hears nothing more"
    );
}

#[test]
fn an_empty_room_disappears() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#tmp");
    h.send(john, "PART #tmp");
    assert!(h.server.room("#tmp").is_none());
}

// ----- NAMES, TOPIC, LIST, WHO, MODE ----------------------------------------

#[test]
fn names_lists_every_member_then_366() {
    let mut h = Harness::new();
    member(&mut h, 1, "John", "#lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    h.send(jane, "NAMES #lobby");
    let got = take(&mut h, jane);
    assert_eq!(commands(&got), ["353", "366"]);
    assert_eq!(got[0].params[..3], ["Jane", "=", "#lobby"]);
    let mut nicks: Vec<&str> = got[0].params[3].split(' ').collect();
    nicks.sort();
    assert_eq!(nicks, ["@John", "Jane"], "John opened the room: operator");
    assert_eq!(got[1].params[1], "#lobby");
}

#[test]
fn names_of_a_big_room_is_split_into_lines_under_512_bytes() {
    let mut h = Harness::new();
    let mut expected = Vec::new();
    for i in 0..120 {
        let nick = format!("user{i:03}_with_a_long_nickname");
        assert!(nick.len() <= 30);
        member(&mut h, i + 1, &nick, "#big");
        expected.push(nick);
    }
    let last = ConnId(120);
    h.send(last, "NAMES #big");
    let raw = h.take(last);
    assert!(
        raw.iter().all(|l| l.len() + 2 <= 512),
        "every line fits in 512 bytes"
    );
    let got: Vec<Message> = raw.iter().map(|l| Message::parse(l).unwrap()).collect();
    let names: Vec<&Message> = got.iter().filter(|m| m.command == "353").collect();
    assert!(names.len() > 1, "120 long nicks need several 353 lines");
    let mut listed: Vec<String> = names
        .iter()
        .flat_map(|m| m.params[3].split(' ').map(str::to_string))
        .map(|n| n.trim_start_matches('@').to_string())
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "each member listed exactly once");
    assert_eq!(got.last().unwrap().command, "366");
}

#[test]
fn names_of_an_unknown_room_is_just_366() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    h.send(john, "NAMES #nowhere");
    assert_eq!(commands(&take(&mut h, john)), ["366"]);
}

#[test]
fn topic_is_unset_then_set_for_everyone_then_shown_with_setter_and_time() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#rust");
    let jane = member(&mut h, 2, "Jane", "#rust");
    h.take(john);
    h.send(jane, "TOPIC #rust");
    let got = take(&mut h, jane);
    assert_eq!(commands(&got), ["331"]);
    h.send(john, "TOPIC #rust :All about crabs");
    for conn in [john, jane] {
        let got = take(&mut h, conn);
        assert_eq!(
            lines_of(&got, "TOPIC"),
            [("John", vec!["#rust", "All about crabs"])]
        );
    }
    h.send(jane, "TOPIC #rust");
    let got = take(&mut h, jane);
    assert_eq!(commands(&got), ["332", "333"]);
    assert_eq!(got[0].params[1..], ["#rust", "All about crabs"]);
    assert_eq!(got[1].params[1..3], ["#rust", "John"]);
    assert_eq!(got[1].params[3], h.now.wall.secs().to_string());
    // A newcomer gets the topic on joining.
    let olga = user(&mut h, 3, "Olga");
    h.send(olga, "JOIN #rust");
    let got = take(&mut h, olga);
    assert_eq!(commands(&got), ["JOIN", "332", "333", "353", "366"]);
}

#[test]
fn list_shows_each_room_with_its_size_and_topic() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby,#rust");
    member(&mut h, 2, "Jane", "#rust");
    h.send(john, "TOPIC #rust :crabs");
    h.take(john);
    h.send(john, "LIST");
    let got = take(&mut h, john);
    assert_eq!(commands(&got), ["321", "322", "322", "323"]);
    assert_eq!(got[1].params[1..], ["#lobby", "1", ""]);
    assert_eq!(got[2].params[1..], ["#rust", "2", "crabs"]);
}

#[test]
fn who_on_a_room_lists_each_member_then_315() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    member(&mut h, 2, "Jane", "#lobby");
    h.take(john);
    h.send(john, "WHO #lobby");
    let got = take(&mut h, john);
    assert_eq!(commands(&got), ["352", "352", "315"]);
    let who: Vec<&str> = got[..2].iter().map(|m| m.param(5)).collect();
    assert_eq!(who, ["John", "Jane"]);
    assert_eq!(
        got[0].params[1..5],
        ["#lobby", "john", "127.0.0.1", "natter"]
    );
    assert_eq!(got[2].params[1], "#lobby");
    h.send(john, "WHO jane");
    let got = take(&mut h, john);
    assert_eq!(commands(&got), ["352", "315"]);
    assert_eq!(got[0].param(5), "Jane");
}

#[test]
fn mode_queries_are_answered_so_clients_do_not_complain() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    user(&mut h, 2, "Jane");
    h.send(john, "MODE #lobby");
    let got = take(&mut h, john);
    assert_eq!(commands(&got), ["324", "329"]);
    assert_eq!(got[0].params[1..], ["#lobby", "+nt"]);
    h.send(john, "MODE #lobby b");
    assert_eq!(commands(&take(&mut h, john)), ["368"]);
    h.send(john, "MODE John");
    let got = take(&mut h, john);
    assert_eq!(commands(&got), ["221"]);
    h.send(john, "MODE John +i");
    let got = take(&mut h, john);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].command.as_str(), got[0].param(1)), ("MODE", "+i"));
    h.send(john, "MODE John");
    assert_eq!(take(&mut h, john)[0].params[1..], ["+i"]);
    h.send(john, "MODE Jane");
    assert_eq!(commands(&take(&mut h, john)), ["502"]);
    h.send(john, "MODE #nowhere");
    assert_eq!(commands(&take(&mut h, john)), ["403"]);
}

// ----- nick changes and quits -----------------------------------------------

#[test]
fn nick_change_is_announced_once_to_each_user_sharing_a_room() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#a,#b");
    let jane = member(&mut h, 2, "Jane", "#a,#b");
    let olga = member(&mut h, 3, "Olga", "#b");
    let stranger = member(&mut h, 4, "Stranger", "#c");
    h.take(john);
    h.take(jane);
    h.send(john, "NICK Johnny");
    for conn in [john, jane, olga] {
        let got = take(&mut h, conn);
        assert_eq!(lines_of(&got, "NICK"), [("John", vec!["Johnny"])], "{conn}");
    }
    assert!(h.take(stranger).is_empty());
    assert_eq!(h.server.nick_of(john), Some("Johnny"));
    // The old nick is free, the new one taken.
    let newcomer = h.register(5, "john", 12005);
    assert_eq!(h.server.nick_of(newcomer), Some("john"));
}

#[test]
fn changing_only_the_case_of_ones_nick_is_allowed_and_announced() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#a");
    let jane = member(&mut h, 2, "Jane", "#a");
    h.take(john);
    h.send(john, "NICK JOHN");
    assert_eq!(
        lines_of(&take(&mut h, jane), "NICK"),
        [("John", vec!["JOHN"])]
    );
    h.send(john, "NICK JOHN");
    assert!(
        h.take(jane).is_empty(),
        "the same nick again is not a change"
    );
}

#[test]
fn quit_is_announced_once_to_each_user_sharing_any_room() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#a,#b");
    let jane = member(&mut h, 2, "Jane", "#a,#b");
    let olga = member(&mut h, 3, "Olga", "#b");
    let stranger = member(&mut h, 4, "Stranger", "#c");
    h.take(jane);
    h.send(john, "QUIT :bye all");
    for conn in [jane, olga] {
        let got = take(&mut h, conn);
        assert_eq!(
            lines_of(&got, "QUIT"),
            [("John", vec!["Quit: bye all"])],
            "{conn}"
        );
    }
    assert!(h.take(stranger).is_empty());
    assert!(!h.server.room("#a").unwrap().contains(john));
    assert!(!h.server.room("#b").unwrap().contains(john));
}

#[test]
fn an_abrupt_disconnect_is_announced_once_with_its_reason() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#a,#b");
    let jane = member(&mut h, 2, "Jane", "#a,#b");
    h.take(john);
    h.take(jane);
    h.drop_conn(john, "Connection reset by peer");
    let got = take(&mut h, jane);
    assert_eq!(
        lines_of(&got, "QUIT"),
        [("John", vec!["Connection reset by peer"])]
    );
    assert!(
        h.take(john).is_empty(),
        "nothing is sent to a dropped connection"
    );
    assert!(h.closed.is_empty(), "the shell already closed it");
}

// ----- private messages, notices, echo-message ------------------------------

#[test]
fn private_privmsg_and_notice_reach_only_their_target_in_any_case() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    let olga = member(&mut h, 3, "Olga", "#lobby");
    h.take(john);
    h.take(jane);
    h.send(john, "PRIVMSG jANE :psst");
    h.send(john, "NOTICE jane :a notice");
    let got = take(&mut h, jane);
    assert_eq!(lines_of(&got, "PRIVMSG"), [("John", vec!["jANE", "psst"])]);
    assert_eq!(
        lines_of(&got, "NOTICE"),
        [("John", vec!["jane", "a notice"])]
    );
    assert!(h.take(olga).is_empty());
    assert!(h.take(john).is_empty());
}

#[test]
fn notice_never_gets_an_error_reply() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    member(&mut h, 2, "Jane", "#closed");
    for line in [
        "NOTICE nobody :hi",
        "NOTICE #nowhere :hi",
        "NOTICE #closed :let me in",
        "NOTICE Jane",
        "NOTICE Jane :",
        "NOTICE",
    ] {
        h.send(john, line);
        assert!(h.take(john).is_empty(), "{line:?} got a reply");
    }
}

#[test]
fn a_message_to_several_targets_reaches_each() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    let olga = user(&mut h, 3, "Olga");
    h.take(john);
    h.send(john, "PRIVMSG #lobby,Olga :hi both");
    assert_eq!(lines_of(&take(&mut h, jane), "PRIVMSG").len(), 1);
    assert_eq!(
        lines_of(&take(&mut h, olga), "PRIVMSG"),
        [("John", vec!["Olga", "hi both"])]
    );
}

#[test]
fn with_echo_message_the_sender_sees_its_own_messages_in_room_order() {
    let mut h = Harness::new();
    let john = user(&mut h, 1, "John");
    h.send(john, "CAP REQ :echo-message");
    h.send(john, "JOIN #lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    h.take(john);
    h.send(john, "PRIVMSG #lobby :one");
    h.send(jane, "PRIVMSG #lobby :two");
    h.send(john, "PRIVMSG #lobby :three");
    let texts = |msgs: &[Message]| -> Vec<String> {
        lines_of(msgs, "PRIVMSG")
            .into_iter()
            .map(|(nick, p)| format!("{nick}: {}", p[1]))
            .collect()
    };
    assert_eq!(
        texts(&take(&mut h, john)),
        ["John: one", "Jane: two", "John: three"]
    );
    assert_eq!(texts(&take(&mut h, jane)), ["John: one", "John: three"]);
    h.send(john, "PRIVMSG Jane :private");
    assert_eq!(texts(&take(&mut h, john)), ["John: private"]);
    assert_eq!(texts(&take(&mut h, jane)), ["John: private"]);
}

#[test]
fn a_long_message_is_cut_so_the_relayed_line_still_fits_512_bytes() {
    let mut h = Harness::new();
    let john = member(&mut h, 1, "John", "#lobby");
    let jane = member(&mut h, 2, "Jane", "#lobby");
    h.take(john);
    let prefix = "PRIVMSG #lobby :";
    let text: String = "é".repeat((510 - prefix.len()) / 2);
    h.send(john, &format!("{prefix}{text}"));
    let raw = h.take(jane);
    assert_eq!(raw.len(), 1);
    assert!(raw[0].len() + 2 <= 512, "{} bytes", raw[0].len());
    let msg = Message::parse(&raw[0]).unwrap();
    assert!(
        text.starts_with(msg.param(1)),
        "cut at a character boundary"
    );
    assert!(msg.param(1).len() > 400);
}

#[test]
fn long_part_and_quit_reasons_are_cut_so_relayed_lines_fit_512_bytes() {
    let mut h = Harness::new();
    let long_nick = "n".repeat(30);
    let john = member(
        &mut h,
        1,
        &long_nick,
        "#a_rather_long_room_name_for_this_test",
    );
    let jane = member(&mut h, 2, "Jane", "#a_rather_long_room_name_for_this_test");
    h.take(john);
    let part = "PART #a_rather_long_room_name_for_this_test :";
    h.send(john, &format!("{part}{}", "r".repeat(510 - part.len())));
    h.send(john, "JOIN #a_rather_long_room_name_for_this_test");
    h.send(john, &format!("QUIT :{}", "q".repeat(504)));
    let seen = h.take(jane);
    let said = h.take(john);
    assert!(seen.iter().any(|l| l.contains(" PART ")));
    assert!(seen.iter().any(|l| l.contains(" QUIT ")));
    for line in seen.iter().chain(&said) {
        assert!(line.len() + 2 <= 512, "{} bytes: {line}", line.len());
    }
}

#[test]
fn a_full_length_topic_from_an_ipv6_client_still_relays_within_512_bytes() {
    let mut h = Harness::new();
    let room = format!("#{}", "r".repeat(49));
    let conn = h.connect(1, "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:50000");
    let nick = "n".repeat(30);
    h.send(conn, &format!("NICK {nick}"));
    h.send(conn, &format!("USER {} 0 * :x", "u".repeat(16)));
    h.send(conn, &format!("JOIN {room}"));
    let jane = member(&mut h, 2, "Jane", &room);
    h.take(conn);
    h.send(conn, &format!("TOPIC {room} :{}", "t".repeat(390)));
    let seen = h.take(jane);
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].len() + 2 <= 512,
        "{} bytes: {}",
        seen[0].len(),
        seen[0]
    );
    h.send(jane, &format!("TOPIC {room}"));
    let shown = take(&mut h, jane);
    let relayed = Message::parse(&seen[0]).unwrap();
    assert_eq!(
        shown[0].param(2),
        relayed.param(1),
        "everyone sees one topic"
    );
}

#[test]
fn whois_of_a_member_of_many_long_rooms_lists_them_within_512_byte_lines() {
    let mut h = Harness::new();
    let rooms: Vec<String> = (0..20)
        .map(|i| format!("#{i:02}{}", "r".repeat(47)))
        .collect();
    let john = member(&mut h, 1, "John", &rooms.join(","));
    let jane = user(&mut h, 2, "Jane");
    h.take(john);
    h.send(jane, "WHOIS John");
    let raw = h.take(jane);
    for line in &raw {
        assert!(line.len() + 2 <= 512, "{} bytes: {line}", line.len());
    }
    let got: Vec<Message> = raw.iter().map(|l| Message::parse(l).unwrap()).collect();
    let mut listed: Vec<&str> = got
        .iter()
        .filter(|m| m.command == "319")
        .flat_map(|m| m.param(2).split(' '))
        .map(|r| r.trim_start_matches('@'))
        .collect();
    listed.sort();
    assert_eq!(listed, rooms.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(got.last().unwrap().command, "318");
}

#[test]
fn who_whois_and_mode_do_not_show_a_nick_still_registering() {
    let mut h = Harness::new();
    let alice = h.register(1, "alice", 12000);
    let pending = h.connect(2, "127.0.0.1:12001");
    h.send(pending, "NICK halfway");
    h.take(alice);
    h.send(alice, "WHO halfway");
    h.send(alice, "WHOIS halfway");
    h.send(alice, "MODE halfway");
    let got = h.take(alice);
    assert!(
        !got.iter()
            .any(|l| l.contains(" 352 ") || l.contains(" 311 ")),
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .filter(|l| l.contains(" 401 alice halfway "))
            .count(),
        2,
        "{got:?}"
    );
}
