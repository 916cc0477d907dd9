//! Message tags and replies, as scenarios over the core: client-only tags
//! relayed on PRIVMSG, NOTICE and TAGMSG; the tag size limit;
//! labeled-response; standard replies; bot mode; STATUSMSG and TARGMAX.
mod common;
use common::{commands, member, snapshot_settings, take, user, Harness};
use natter::core::{Action, ConnId, Event, HistoryKind};
use natter::proto::Message;

/// Asks for `caps` and throws the ACK (and anything before it) away.
fn with_caps(h: &mut Harness, conn: ConnId, caps: &str) {
    h.send(conn, &format!("CAP REQ :{caps}"));
    let got = take(h, conn);
    let ack = got.last().filter(|m| m.command == "CAP");
    assert_eq!(ack.map(|m| m.param(1)), Some("ACK"), "{caps}: {got:?}");
}

/// `nick` registered with `caps` and in `rooms`, its replies thrown away.
fn joined(h: &mut Harness, id: u64, nick: &str, caps: &str, rooms: &str) -> ConnId {
    let conn = user(h, id, nick);
    if !caps.is_empty() {
        with_caps(h, conn, caps);
    }
    h.send(conn, &format!("JOIN {rooms}"));
    h.take(conn);
    conn
}

/// The lines `conn` received with their `msgid=` and `time=` values
/// replaced by `*`, for exact comparisons.
fn lines(h: &mut Harness, conn: ConnId) -> Vec<String> {
    h.take(conn)
        .into_iter()
        .map(|l| {
            let Some(rest) = l.strip_prefix('@') else {
                return l;
            };
            let (tags, message) = rest.split_once(' ').unwrap_or((rest, ""));
            let tags: Vec<String> = tags
                .split(';')
                .map(|t| match t.split_once('=') {
                    Some((k @ ("msgid" | "time"), _)) => format!("{k}=*"),
                    _ => t.to_string(),
                })
                .collect();
            format!("@{} {message}", tags.join(";"))
        })
        .collect()
}

/// Everything the core emits for one line, without the harness in between.
fn actions_for(h: &mut Harness, conn: ConnId, line: &str) -> Vec<Action> {
    h.server.handle_event(Event::Line {
        conn,
        line: line.into(),
        now: h.now,
    });
    std::iter::from_fn(|| h.server.poll_action()).collect()
}

// ---- message-tags: client-only tags relayed -------------------------------

#[test]
fn client_tags_on_a_privmsg_reach_message_tags_members_and_never_others() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    let carol = joined(&mut h, 3, "carol", "", "#room");
    h.take(alice);
    h.take(bob);
    h.send(
        alice,
        "@+draft/reply=41;+example.com/x=a\\sb PRIVMSG #room :quite right",
    );
    assert_eq!(
        lines(&mut h, bob),
        ["@msgid=*;+draft/reply=41;+example.com/x=a\\sb :alice!alice@127.0.0.1 PRIVMSG #room :quite right"]
    );
    assert_eq!(
        h.take(carol),
        [":alice!alice@127.0.0.1 PRIVMSG #room :quite right"]
    );
    assert!(h.take(alice).is_empty(), "no echo without echo-message");
}

#[test]
fn client_tags_on_a_notice_and_a_private_message_are_relayed_too() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    h.take(alice);
    h.send(alice, "@+draft/react=\\:) NOTICE #room noted");
    h.send(alice, "@+typing=done PRIVMSG bob psst");
    assert_eq!(
        lines(&mut h, bob),
        [
            "@msgid=*;+draft/react=\\:) :alice!alice@127.0.0.1 NOTICE #room noted",
            "@msgid=*;+typing=done :alice!alice@127.0.0.1 PRIVMSG bob psst",
        ]
    );
}

#[test]
fn server_tags_come_first_and_tags_without_a_plus_are_never_relayed() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags server-time", "#room");
    h.take(alice);
    h.send(
        alice,
        "@msgid=forged;time=2000-01-01T00:00:00.000Z;bot;account=x;+ok;+bad,key=1 PRIVMSG #room hi",
    );
    let got = h.take(bob);
    assert_eq!(got.len(), 1);
    let msg = Message::parse(&got[0]).unwrap();
    let keys: Vec<&str> = msg.tags.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["time", "msgid", "+ok"]);
    assert_ne!(msg.tag("msgid"), Some("forged"));
    assert_eq!(msg.tag("time"), Some("2023-11-09T12:34:56.000Z"));
}

#[test]
fn a_client_without_message_tags_cannot_send_client_tags() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    h.take(alice);
    h.send(alice, "@+typing=active PRIVMSG #room hi");
    assert_eq!(
        lines(&mut h, bob),
        ["@msgid=* :alice!alice@127.0.0.1 PRIVMSG #room hi"]
    );
}

#[test]
fn tag_values_with_spaces_semicolons_and_backslashes_arrive_unchanged() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    h.take(alice);
    let raw = "raw+:=,escaped; \\ done";
    h.send(
        alice,
        "@+example=raw+:=,escaped\\:\\s\\\\\\sdone;+trail=end\\ PRIVMSG #room hi",
    );
    let got = take(&mut h, bob);
    assert_eq!(got[0].tag("+example"), Some(raw));
    assert_eq!(
        got[0].tag("+trail"),
        Some("end"),
        "a lone trailing backslash is dropped"
    );
}

#[test]
fn a_typing_tag_reaches_the_other_member_but_not_a_client_without_message_tags() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    let carol = joined(&mut h, 3, "carol", "", "#room");
    h.take(alice);
    h.take(bob);
    h.send(alice, "@+typing=active TAGMSG #room");
    assert_eq!(
        lines(&mut h, bob),
        ["@msgid=*;+typing=active :alice!alice@127.0.0.1 TAGMSG #room"]
    );
    assert!(h.take(carol).is_empty());
    assert!(h.take(alice).is_empty(), "no echo without echo-message");
}

#[test]
fn tagmsg_comes_back_to_its_sender_with_echo_message() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags echo-message", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    h.take(alice);
    h.send(alice, "@+typing=paused TAGMSG #room,bob");
    let want = [
        "@msgid=*;+typing=paused :alice!alice@127.0.0.1 TAGMSG #room",
        "@msgid=*;+typing=paused :alice!alice@127.0.0.1 TAGMSG bob",
    ];
    assert_eq!(lines(&mut h, alice), want);
    assert_eq!(lines(&mut h, bob), want);
}

#[test]
fn tagmsg_to_a_nick_without_message_tags_is_dropped_silently() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let carol = user(&mut h, 2, "carol");
    h.send(alice, "@+typing=active TAGMSG carol");
    assert!(h.take(carol).is_empty());
    assert!(h.take(alice).is_empty(), "no error either");
}

#[test]
fn tagmsg_needs_message_tags_and_follows_the_rules_of_privmsg() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    let carol = user(&mut h, 3, "carol");
    h.send(carol, "@+typing=active TAGMSG #room");
    let got = take(&mut h, carol);
    assert_eq!(commands(&got), ["421"]);
    assert_eq!(got[0].params[1], "TAGMSG");
    h.send(alice, "MODE #room +m");
    h.take(alice);
    h.take(bob);
    h.send(bob, "@+typing=active TAGMSG #room");
    assert_eq!(commands(&take(&mut h, bob)), ["404"], "+m holds for TAGMSG");
    h.send(bob, "@+typing=active TAGMSG nobody");
    assert_eq!(commands(&take(&mut h, bob)), ["401"]);
    h.send(bob, "TAGMSG");
    assert_eq!(commands(&take(&mut h, bob)), ["411"]);
    assert!(h.take(alice).is_empty());
}

#[test]
fn tagmsg_and_client_tags_are_not_stored_in_history() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let stored = h.persisted.len();
    h.send(alice, "@+typing=active TAGMSG #room");
    assert_eq!(h.persisted.len(), stored, "a TAGMSG is not stored");
    h.send(alice, "@+draft/reply=1 PRIVMSG #room :the text is kept");
    assert_eq!(h.persisted.len(), stored + 1);
    let dave = joined(
        &mut h,
        4,
        "dave",
        "message-tags batch server-time",
        "#lobby",
    );
    h.send(dave, "JOIN #room");
    let replay = h.take(dave);
    let privmsgs: Vec<&String> = replay.iter().filter(|l| l.contains(" PRIVMSG ")).collect();
    assert_eq!(privmsgs.len(), 1, "{replay:#?}");
    assert!(!privmsgs[0].contains("+draft/reply"), "{}", privmsgs[0]);
    assert!(!replay.iter().any(|l| l.contains("TAGMSG")));
}

#[test]
fn a_tagged_message_is_serialized_once_per_tag_shape_not_per_recipient() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let caps = [
        "",
        "",
        "server-time",
        "message-tags",
        "message-tags",
        "message-tags server-time",
        "message-tags server-time",
    ];
    for (id, caps) in (2..).zip(caps) {
        joined(&mut h, id, &format!("u{id}"), caps, "#room");
    }
    let actions = actions_for(&mut h, alice, "@+typing=active PRIVMSG #room :hello all");
    let broadcasts: Vec<(usize, String)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Broadcast { to, line } => Some((to.len(), line.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(broadcasts.len(), 4, "one line per shape: {broadcasts:#?}");
    assert_eq!(broadcasts.iter().map(|(n, _)| n).sum::<usize>(), 7);
    for (_, line) in &broadcasts {
        assert_eq!(
            line.contains("+typing=active"),
            line.contains("msgid="),
            "client tags exactly where message-tags is: {line}"
        );
    }
    // A TAGMSG goes only to the message-tags shapes.
    let actions = actions_for(&mut h, alice, "@+typing=active TAGMSG #room");
    let recipients: Vec<usize> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Broadcast { to, .. } => Some(to.len()),
            _ => None,
        })
        .collect();
    assert_eq!(recipients, [2, 2]);
}

#[test]
fn more_than_4094_bytes_of_tag_data_is_refused_with_417_and_not_relayed() {
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    let bob = joined(&mut h, 2, "bob", "message-tags", "#room");
    h.take(alice);
    // `+a=` and the value: exactly 4094 bytes of tag data pass.
    let fits = format!("@+a={} PRIVMSG #room :fits", "x".repeat(4091));
    h.send(alice, &fits);
    assert_eq!(take(&mut h, bob)[0].params[1], "fits");
    assert!(h.take(alice).is_empty());
    let over = format!("@+a={} PRIVMSG #room :too much", "x".repeat(4092));
    h.send(alice, &over);
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["417"]);
    assert_eq!(got[0].params, ["alice", "Input line was too long"]);
    assert!(h.take(bob).is_empty(), "never truncated, never relayed");
}

// ---- labeled-response -------------------------------------------------------

#[test]
fn a_labeled_command_with_one_reply_gets_that_reply_labeled() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    with_caps(&mut h, alice, "labeled-response batch");
    h.send(alice, "@label=pQ1 PING token");
    assert_eq!(h.take(alice), ["@label=pQ1 :natter PONG natter token"]);
    h.send(alice, "@label=x\\sy PRIVMSG nobody hi");
    assert_eq!(
        h.take(alice),
        ["@label=x\\sy :natter 401 alice nobody :No such nick/channel"],
        "the label is escaped as it came"
    );
}

#[test]
fn a_labeled_command_with_several_replies_gets_a_labeled_response_batch() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    with_caps(&mut h, alice, "labeled-response batch");
    let bob = user(&mut h, 2, "bob");
    h.send(bob, "JOIN #room");
    h.take(alice);
    h.send(alice, "@label=mGhe WHOIS bob");
    let got = h.take(alice).join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("labeled_whois", got));
}

#[test]
fn a_labeled_command_with_no_reply_gets_a_labeled_ack() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    with_caps(&mut h, alice, "labeled-response batch");
    h.take(bob);
    h.send(alice, "@label=abc PRIVMSG #room hi");
    assert_eq!(h.take(alice), ["@label=abc :natter ACK"]);
    assert_eq!(
        h.take(bob),
        [":alice!alice@127.0.0.1 PRIVMSG #room hi"],
        "others get the message untouched"
    );
    h.send(alice, "@label=def PONG :natter");
    assert_eq!(h.take(alice), ["@label=def :natter ACK"]);
}

#[test]
fn the_echo_is_the_labeled_reply_and_the_others_copies_stay_unlabeled() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    with_caps(
        &mut h,
        alice,
        "labeled-response batch echo-message message-tags",
    );
    with_caps(&mut h, bob, "message-tags");
    h.take(alice);
    h.take(bob);
    h.take(carol);
    h.send(alice, "@label=123;+example=v TAGMSG #room");
    assert_eq!(
        lines(&mut h, alice),
        ["@label=123;msgid=*;+example=v :alice!alice@127.0.0.1 TAGMSG #room"]
    );
    assert_eq!(
        lines(&mut h, bob),
        ["@msgid=*;+example=v :alice!alice@127.0.0.1 TAGMSG #room"]
    );
    assert!(h.take(carol).is_empty());
}

#[test]
fn a_message_to_oneself_without_echo_is_delivered_unlabeled_and_acked() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    with_caps(&mut h, alice, "labeled-response batch");
    h.send(alice, "@label=me PRIVMSG alice :note to self");
    assert_eq!(
        h.take(alice),
        [
            ":alice!alice@127.0.0.1 PRIVMSG alice :note to self",
            "@label=me :natter ACK",
        ]
    );
    with_caps(&mut h, alice, "echo-message");
    h.send(alice, "@label=me2 PRIVMSG alice again");
    assert_eq!(
        h.take(alice),
        ["@label=me2 :alice!alice@127.0.0.1 PRIVMSG alice again"],
        "with echo-message the one copy is the echo, so it is labeled"
    );
}

#[test]
fn a_labeled_join_wraps_its_replies_and_nests_the_history_batch() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    h.send(alice, "PRIVMSG #room :before you came");
    let bob = user(&mut h, 2, "bob");
    with_caps(&mut h, bob, "labeled-response batch server-time");
    h.send(bob, "@label=j1 JOIN #room");
    let got = h.take(bob).join("\n");
    snapshot_settings().bind(|| insta::assert_snapshot!("labeled_join", got));
}

#[test]
fn a_labeled_chathistory_labels_its_own_batch() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    h.send(alice, "PRIVMSG #room :one");
    h.send(alice, "PRIVMSG #room :two");
    with_caps(&mut h, alice, "labeled-response batch draft/chathistory");
    h.take(alice);
    h.send(alice, "@label=h CHATHISTORY LATEST #room * 10");
    let got = h.take(alice);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(
        got[0].starts_with("@label=h :natter BATCH +") && got[0].ends_with(" chathistory #room"),
        "{got:#?}"
    );
    assert!(got[1].starts_with("@batch=") && got[2].starts_with("@batch="));
    assert!(got[3].starts_with(":natter BATCH -"));
}

#[test]
fn labels_need_batch_too_and_at_most_64_bytes() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    with_caps(&mut h, alice, "labeled-response");
    h.send(alice, "@label=a PING x");
    assert_eq!(h.take(alice), [":natter PONG natter x"]);
    with_caps(&mut h, alice, "batch");
    let long = "l".repeat(65);
    h.send(alice, &format!("@label={long} PING x"));
    assert_eq!(h.take(alice), [":natter PONG natter x"]);
    let longest = "l".repeat(64);
    h.send(alice, &format!("@label={longest} PING x"));
    assert_eq!(
        h.take(alice),
        [format!("@label={longest} :natter PONG natter x")]
    );
}

#[test]
fn a_labeled_quit_gets_no_ack_and_does_not_disturb_the_others() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    with_caps(&mut h, alice, "labeled-response batch");
    h.take(bob);
    h.send(alice, "@label=q QUIT :bye");
    assert!(!h.take(alice).iter().any(|l| l.contains("ACK")));
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 QUIT :Quit: bye"]);
}

// ---- standard replies -------------------------------------------------------

#[test]
fn a_message_cut_to_fit_one_line_is_warned_about_with_standard_replies() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    with_caps(&mut h, alice, "standard-replies");
    let long = "y".repeat(480);
    h.send(alice, &format!("PRIVMSG #room :{long}"));
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["WARN"]);
    assert_eq!(got[0].params[..2], ["PRIVMSG", "MESSAGE_TRUNCATED"]);
    let delivered = take(&mut h, bob);
    let kept = delivered[0].params[1].len();
    assert!(kept < 480);
    assert!(got[0].params[2].contains(&format!("cut to {kept} bytes")));
    h.send(alice, "PRIVMSG #room :short");
    assert!(h.take(alice).is_empty());
}

// ---- bot mode ---------------------------------------------------------------

#[test]
fn a_bot_is_shown_in_whois_and_who_and_its_messages_carry_the_bot_tag() {
    let mut h = Harness::new();
    let robo = member(&mut h, 1, "robo", "#room");
    let alice = joined(&mut h, 2, "alice", "message-tags", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    h.take(robo);
    h.send(robo, "MODE robo +B");
    assert_eq!(h.take(robo), [":robo MODE robo +B"]);
    h.send(robo, "MODE robo");
    assert_eq!(take(&mut h, robo)[0].params[1], "+B");
    h.send(alice, "WHOIS robo");
    let whois = take(&mut h, alice);
    let bot = whois.iter().find(|m| m.command == "335").expect("335");
    assert_eq!(bot.params, ["alice", "robo", "is a bot on natter"]);
    h.send(alice, "WHO #room");
    let who = take(&mut h, alice);
    assert_eq!(who[0].params[5], "robo");
    assert_eq!(who[0].params[6], "HB@", "here, bot, operator");
    h.take(carol);
    h.send(robo, "@+draft/reply=1 PRIVMSG #room beep");
    assert_eq!(
        lines(&mut h, alice),
        ["@msgid=*;bot :robo!robo@127.0.0.1 PRIVMSG #room beep"],
        "bot, but not its client tags: robo did not enable message-tags"
    );
    assert_eq!(h.take(carol), [":robo!robo@127.0.0.1 PRIVMSG #room beep"]);
    h.send(robo, "MODE robo -B");
    h.take(robo);
    h.send(robo, "PRIVMSG #room :human again");
    assert_eq!(
        lines(&mut h, alice),
        ["@msgid=* :robo!robo@127.0.0.1 PRIVMSG #room :human again"]
    );
}

// ---- STATUSMSG and TARGMAX --------------------------------------------------

/// The value of 005 token `name` as `conn` was told at registration.
fn isupport(h: &mut Harness, conn: ConnId, name: &str) -> Option<String> {
    h.send(conn, "VERSION");
    take(h, conn)
        .iter()
        .filter(|m| m.command == "005")
        .flat_map(|m| m.params.clone())
        .find_map(|t| {
            t.strip_prefix(&format!("{name}="))
                .map(str::to_string)
                .or((t == name).then(String::new))
        })
}

#[test]
fn statusmsg_reaches_only_operators_or_voiced_members_and_is_not_stored() {
    let mut h = Harness::new();
    let alice = member(&mut h, 1, "alice", "#room");
    let bob = member(&mut h, 2, "bob", "#room");
    let carol = member(&mut h, 3, "carol", "#room");
    let dave = joined(&mut h, 4, "dave", "echo-message", "#room");
    assert_eq!(isupport(&mut h, alice, "STATUSMSG").as_deref(), Some("@+"));
    h.send(alice, "MODE #room +v bob");
    for c in [alice, bob, carol, dave] {
        h.take(c);
    }
    let stored = h.persisted.len();
    h.send(dave, "PRIVMSG @#room :ops, a word?");
    let to_ops = ":dave!dave@127.0.0.1 PRIVMSG @#room :ops, a word?";
    assert_eq!(h.take(alice), [to_ops]);
    assert_eq!(h.take(dave), [to_ops], "echo-message echoes it");
    assert!(h.take(bob).is_empty() && h.take(carol).is_empty());
    h.send(carol, "NOTICE +#room :voices and ops");
    let to_voiced = ":carol!carol@127.0.0.1 NOTICE +#room :voices and ops";
    assert_eq!(h.take(alice), [to_voiced]);
    assert_eq!(h.take(bob), [to_voiced]);
    assert!(h.take(dave).is_empty() && h.take(carol).is_empty());
    h.send(alice, "PRIVMSG @+#room :lowest prefix counts");
    assert_eq!(
        h.take(bob),
        [":alice!alice@127.0.0.1 PRIVMSG +#room :lowest prefix counts"]
    );
    assert_eq!(h.persisted.len(), stored, "STATUSMSG is not in history");
    let eve = user(&mut h, 5, "eve");
    h.send(alice, "MODE #room -n");
    h.take(alice);
    h.send(eve, "PRIVMSG #room :outsiders may speak in -n");
    assert_eq!(commands(&take(&mut h, alice)), ["PRIVMSG"]);
    h.send(eve, "PRIVMSG @#room :but not to the ops");
    let got = take(&mut h, eve);
    assert_eq!(commands(&got), ["404"]);
    assert!(h.take(alice).is_empty());
}

#[test]
fn targmax_says_what_is_enforced() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let targmax = isupport(&mut h, alice, "TARGMAX").expect("TARGMAX in 005");
    let limit = |cmd: &str| {
        targmax
            .split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{cmd}:")))
            .map(str::to_string)
    };
    assert_eq!(limit("PRIVMSG").as_deref(), Some("4"));
    assert_eq!(limit("NOTICE").as_deref(), Some("4"));
    assert_eq!(limit("TAGMSG").as_deref(), Some("4"));
    assert_eq!(limit("KICK").as_deref(), Some("20"));
    assert_eq!(limit("WHOIS").as_deref(), Some("1"));
    assert_eq!(isupport(&mut h, alice, "BOT").as_deref(), Some("B"));
    let others: Vec<ConnId> = (2..=6).map(|i| user(&mut h, i, &format!("u{i}"))).collect();
    h.send(alice, "PRIVMSG u2,u3,u4,u5,u6 :hello");
    let reached: Vec<bool> = others.iter().map(|&c| !h.take(c).is_empty()).collect();
    assert_eq!(reached, [true, true, true, true, false]);
}

#[test]
fn history_kinds_are_unchanged_by_tags() {
    // Client tags never add a kind of stored record: the store keeps
    // the same rows whether or not messages carried tags.
    let mut h = Harness::new();
    let alice = joined(&mut h, 1, "alice", "message-tags", "#room");
    h.send(alice, "@+a=1 PRIVMSG #room :x");
    h.send(alice, "@+a=1 PRIVMSG alice :y");
    let kinds: Vec<HistoryKind> = h.persisted.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            HistoryKind::Join,
            HistoryKind::Privmsg,
            HistoryKind::Private
        ]
    );
}
