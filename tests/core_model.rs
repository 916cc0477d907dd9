//! Random scripts of up to 20 clients over a few rooms, run against the real
//! core and the reference model in `common/model/`, checked after every
//! step: what each connection receives, in order; leaves, nick changes,
//! unique nicks; operators, voice, room modes, bans, KICK and INVITE; AWAY,
//! WHO, WHOIS, NAMES and MONITOR with their notifications; no action to a
//! closed connection, no panic.
//!
//! `PROPTEST_CASES=2000 cargo test --test core_model` searches harder.
mod common;
use common::model::moderation::{expand_mask, glob};
use common::model::names::{fold, valid_channel, valid_nick};
use common::model::{
    recase, MonitorCmd, Op, Timings, World, AWAY_MESSAGES, BAD_NICKS, BAD_ROOM, GARBAGE_KINDS,
    KEYS, MODELLED_CAPS, NICKS, ROOMS,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;

const SLOTS: usize = 20;

/// One of the scripts' nicks, in random case.
fn good_nick() -> impl Strategy<Value = String> + Clone {
    (0..NICKS.len(), any::<u64>()).prop_map(|(i, mask)| recase(NICKS[i], mask))
}

fn nick() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => good_nick(),
        1 => (0..BAD_NICKS.len()).prop_map(|i| BAD_NICKS[i].to_string()),
    ]
}

fn room() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (0..ROOMS.len(), prop_oneof![3 => Just(0u64), 1 => any::<u64>()])
            .prop_map(|(i, mask)| recase(ROOMS[i], mask)),
        1 => Just(BAD_ROOM.to_string()),
    ]
}

fn target() -> impl Strategy<Value = String> {
    let nick = (0..NICKS.len(), any::<u64>()).prop_map(|(i, mask)| recase(NICKS[i], mask));
    prop_oneof![
        3 => Just("#lobby".to_string()),
        6 => room(),
        4 => nick.clone(),
        1 => (room(), nick).prop_map(|(room, nick)| format!("{room},{nick}")),
    ]
}

fn key() -> impl Strategy<Value = String> + Clone {
    prop::sample::select(KEYS).prop_map(str::to_string)
}

/// What an operator types after `+b`/`+e`/`+I`: a nick's mask, a bare nick,
/// a nick prefix (`al*`), one of the three client hosts, or everyone.
fn mask() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => good_nick().prop_map(|n| format!("{n}!*@*")),
        1 => good_nick(),
        1 => good_nick().prop_map(|n| format!("{}*", &n[..2])),
        1 => (1..4u8).prop_map(|h| format!("*!*@127.0.0.{h}")),
        1 => (1..4u8).prop_map(|h| format!("127.0.0.{h}")),
        1 => Just("*!u@*".to_string()),
    ]
}

/// A MODE line's modestring and arguments: every mode natter has, alone or
/// a few at once, list queries, an unknown letter, or nothing (a query).
fn mode_line() -> impl Strategy<Value = (String, Vec<String>)> {
    let sign = prop_oneof![Just('+'), Just('-')];
    let flag = prop::sample::select(vec!['m', 'i', 'n', 't', 's']);
    let list = prop::sample::select(vec!['b', 'b', 'b', 'e', 'I']);
    prop_oneof![
        5 => (sign.clone(), prop::sample::select(vec!['o', 'v']), good_nick())
            .prop_map(|(s, l, n)| (format!("{s}{l}"), vec![n])),
        5 => (sign.clone(), flag).prop_map(|(s, l)| (format!("{s}{l}"), vec![])),
        1 => key().prop_map(|k| ("+k".to_string(), vec![k])),
        1 => prop::option::of(key()).prop_map(|k| ("-k".to_string(), k.into_iter().collect())),
        1 => (1..4usize).prop_map(|n| ("+l".to_string(), vec![n.to_string()])),
        1 => Just(("-l".to_string(), vec![])),
        4 => (sign, list, mask()).prop_map(|(s, l, m)| (format!("{s}{l}"), vec![m])),
        1 => prop::sample::select(vec!["b", "+b", "e", "I", "bb"])
            .prop_map(|q| (q.to_string(), vec![])),
        1 => Just((String::new(), vec![])),
        1 => prop::sample::select(vec!["+x", "+mx", "-Z"]).prop_map(|u| (u.to_string(), vec![])),
        2 => (good_nick(), mask()).prop_map(|(n, m)| ("+mv-t+b".to_string(), vec![n, m])),
        1 => (good_nick(), good_nick()).prop_map(|(a, b)| ("-o+v".to_string(), vec![a, b])),
        // The list is answered while the line is read, before +b applies.
        1 => mask().prop_map(|m| ("+bb".to_string(), vec![m])),
    ]
}

fn comment() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(String::new())),
        2 => Just(Some("behave".to_string())),
    ]
}

fn reason() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some("bye now".to_string())),
        Just(Some("long ".repeat(80))),
    ]
}

/// `AWAY :message` (an empty message means back) or a bare `AWAY`.
fn away_message() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => prop::sample::select(AWAY_MESSAGES).prop_map(|m| Some(m.to_string())),
        1 => Just(None),
    ]
}

/// A MONITOR line: mostly adding a few nicks (sometimes one that is not a
/// nick, which is skipped), or removing, clearing, listing, asking status.
fn monitor_cmd() -> impl Strategy<Value = MonitorCmd> {
    prop_oneof![
        5 => prop::collection::vec(nick(), 1..4).prop_map(MonitorCmd::Add),
        1 => prop::collection::vec(good_nick(), 1..3).prop_map(MonitorCmd::Remove),
        1 => Just(MonitorCmd::Clear),
        2 => Just(MonitorCmd::List),
        2 => Just(MonitorCmd::Status),
    ]
}

/// Mostly a few busy clients, sometimes any of the twenty.
fn slot() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![3 => 0..6usize, 1 => 0..SLOTS]
}

/// Who moderates: mostly slot 0, which the prelude makes the first joiner
/// (and so the operator) of `#lobby`, or another busy slot.
fn moderator() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![2 => Just(0usize), 1 => 0..6usize, 1 => 0..SLOTS]
}

/// Where moderation happens: mostly `#lobby`, where the prelude gathers
/// everyone.
fn moderated_room() -> impl Strategy<Value = String> + Clone {
    prop_oneof![2 => Just("#lobby".to_string()), 1 => room()]
}

/// A populated start, so that moderation has a room, an operator and
/// members to work on: up to six clients register and join `#lobby` (slot
/// 0 first, so it is the operator) and maybe another room. Sometimes the
/// operator also voices itself and asks for `multi-prefix`, so that `@+`
/// has someone to show.
fn prelude() -> impl Strategy<Value = Vec<Op>> {
    let joiner = (nick(), prop::option::of(room()));
    let clients = prop::collection::vec(joiner, 0..7);
    (clients, prop::bool::weighted(0.3)).prop_map(|(clients, voiced_operator)| {
        let mut ops = Vec::new();
        if let Some((nick, _)) = clients.first().filter(|_| voiced_operator) {
            ops.push(Op::Register {
                slot: 0,
                nick: nick.clone(),
            });
            ops.push(Op::CapReq {
                slot: 0,
                cap: "multi-prefix".into(),
            });
            ops.push(Op::Join {
                slot: 0,
                rooms: vec!["#lobby".into()],
                keys: Vec::new(),
            });
            ops.push(Op::Mode {
                slot: 0,
                room: "#lobby".into(),
                modes: "+v".into(),
                args: vec![nick.clone()],
            });
        }
        for (slot, (nick, other)) in clients.into_iter().enumerate() {
            ops.push(Op::Register { slot, nick });
            let rooms = std::iter::once("#lobby".to_string()).chain(other).collect();
            ops.push(Op::Join {
                slot,
                rooms,
                keys: Vec::new(),
            });
        }
        ops
    })
}

/// A whole script: the prelude, then random operations.
fn script() -> impl Strategy<Value = Vec<Op>> {
    (prelude(), prop::collection::vec(op(), 1..200)).prop_map(|(mut ops, more)| {
        ops.extend(more);
        ops
    })
}

fn op() -> impl Strategy<Value = Op> {
    let slot = slot();
    let moderator = moderator();
    prop_oneof![
        8 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Register { slot, nick }),
        2 => slot.clone().prop_map(|slot| Op::Connect { slot }),
        3 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Nick { slot, nick }),
        1 => slot.clone().prop_map(|slot| Op::User { slot }),
        1 => slot.clone().prop_map(|slot| Op::CapLs { slot }),
        2 => slot.clone().prop_map(|slot| Op::CapReqEcho { slot }),
        1 => slot.clone().prop_map(|slot| Op::CapReqInviteNotify { slot }),
        1 => slot.clone().prop_map(|slot| Op::CapEnd { slot }),
        2 => (slot.clone(), prop::sample::select(MODELLED_CAPS))
            .prop_map(|(slot, cap)| Op::CapReq { slot, cap: cap.to_string() }),
        3 => (slot.clone(), away_message()).prop_map(|(slot, message)| Op::Away { slot, message }),
        1 => (slot.clone(), prop::bool::weighted(0.7))
            .prop_map(|(slot, invisible)| Op::UserMode { slot, invisible }),
        3 => (slot.clone(), prop_oneof![room(), good_nick()])
            .prop_map(|(slot, target)| Op::Who { slot, target }),
        3 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Whois { slot, nick }),
        2 => (slot.clone(), prop_oneof![
                3 => room(),
                1 => (room(), room()).prop_map(|(a, b)| format!("{a},{b}")),
            ])
            .prop_map(|(slot, rooms)| Op::Names { slot, rooms }),
        4 => (slot.clone(), monitor_cmd()).prop_map(|(slot, cmd)| Op::Monitor { slot, cmd }),
        10 => (slot.clone(), prop::collection::vec(room(), 1..3), prop_oneof![
                3 => Just(vec![]),
                1 => prop::collection::vec(key(), 1..3),
            ])
            .prop_map(|(slot, rooms, keys)| Op::Join { slot, rooms, keys }),
        1 => slot.clone().prop_map(|slot| Op::JoinZero { slot }),
        3 => (slot.clone(), room(), reason())
            .prop_map(|(slot, room, reason)| Op::Part { slot, room, reason }),
        14 => (slot.clone(), target(), prop::bool::weighted(0.2))
            .prop_map(|(slot, target, notice)| Op::Say { slot, target, notice }),
        1 => (slot.clone(), room()).prop_map(|(slot, room)| Op::Topic { slot, room }),
        6 => (moderator.clone(), moderated_room(), mode_line())
            .prop_map(|(slot, room, (modes, args))| Op::Mode { slot, room, modes, args }),
        2 => (moderator.clone(), moderated_room(), prop::collection::vec(good_nick(), 1..3), comment())
            .prop_map(|(slot, room, nicks, comment)| Op::Kick { slot, room, nicks, comment }),
        2 => (moderator, good_nick(), moderated_room())
            .prop_map(|(slot, nick, room)| Op::Invite { slot, nick, room }),
        1 => slot.clone().prop_map(|slot| Op::Ping { slot }),
        2 => slot.clone().prop_map(|slot| Op::Pong { slot }),
        2 => (slot.clone(), reason()).prop_map(|(slot, reason)| Op::Quit { slot, reason }),
        2 => slot.clone().prop_map(|slot| Op::Drop { slot }),
        2 => (slot.clone(), 0..GARBAGE_KINDS).prop_map(|(slot, kind)| Op::Garbage { slot, kind }),
        4 => prop_oneof![Just(1u64), Just(5), Just(12), Just(31)].prop_map(|secs| Op::Tick { secs }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_scripts_match_the_reference_model(
        ops in script(),
        shutdown_at_the_end in prop::bool::weighted(0.25),
    ) {
        let mut world = World::new(SLOTS, Timings::default());
        let end = shutdown_at_the_end.then_some(Op::Shutdown);
        for op in ops.iter().chain(&end) {
            if let Err(failure) = world.apply(op) {
                prop_assert!(false, "{}", failure);
            }
        }
    }
}

/// The scripts the proptest draws really exercise the moderation, presence
/// and query rules: a fixed sample of them (the same on every run) must
/// deliver each kind of line and take each decision at least once, or the
/// property above would pass on zero samples. (Rules that need several aimed steps in a row,
/// such as an invitation admitting someone into a +i room, are the
/// simulation's to prove: its generator knows the state.)
#[test]
fn the_generated_scripts_exercise_every_moderation_rule() {
    const SAMPLE_SCRIPTS: usize = 1000;
    let mut runner = TestRunner::deterministic();
    let scripts = script();
    let mut delivered: BTreeMap<String, u64> = BTreeMap::new();
    let mut rules: BTreeMap<String, u64> = BTreeMap::new();
    for case in 0..SAMPLE_SCRIPTS {
        let ops = scripts.new_tree(&mut runner).expect("a script").current();
        let mut world = World::new(SLOTS, Timings::default());
        for op in &ops {
            if let Err(failure) = world.apply(op) {
                panic!("sample script {case}: {failure}");
            }
        }
        for (k, n) in &world.delivered {
            *delivered.entry(k.clone()).or_default() += n;
        }
        for (k, n) in world.rules() {
            *rules.entry(k.clone()).or_default() += n;
        }
    }
    eprintln!("delivered {delivered:?}\nrules {rules:#?}");
    for kind in [
        "MODE", "KICK", "INVITE", "324", "341", "367", "368", "401", "404", "435", "441", "443",
        "471", "472", "473", "474", "475", "482", "AWAY", "301", "305", "306", "311", "312", "315",
        "317", "318", "319", "352", "353", "366", "730", "731", "732", "733",
    ] {
        let n = delivered.get(kind).copied().unwrap_or(0);
        assert!(n > 0, "no {kind} delivered in the sample: {delivered:?}");
    }
    for rule in [
        "404 +m: not voiced",
        "404 +b: banned",
        "404 +n: not a member",
        "JOIN refused (474)",
        "JOIN refused (473)",
        "JOIN refused (475)",
        "JOIN refused (471)",
        "NICK refused: banned (435)",
        "MODE refused: not an operator (482)",
        "MODE +o/+v: not in the room (441)",
        "MODE +b applied",
        "MODE +e applied",
        "MODE +I applied",
        "MODE +v applied",
        "MODE -o applied",
        "MODE +k applied",
        "MODE +l applied",
        "MODE -n applied",
        "MODE -t applied",
        "KICK",
        "KICK refused: not an operator (482)",
        "INVITE",
        "message to a -n room from outside",
        // Presence and queries.
        "AWAY set (306)",
        "AWAY unset (305)",
        "AWAY: 301 to the sender of a PRIVMSG",
        "AWAY seen by away-notify peers",
        "AWAY of a joiner seen by away-notify members",
        "WHO row with G flag",
        "WHO row with a prefix",
        "WHOIS 319 with prefixes",
        "WHOIS 301",
        "WHOIS of nobody (401)",
        "NAMES explicit",
        "multi-prefix: @+ shown",
        "user MODE +i applied",
        "MONITOR online notification (730)",
        "MONITOR offline notification (731)",
        "MONITOR L (732/733)",
        "MONITOR S: some online, some offline",
    ] {
        let n = rules.get(rule).copied().unwrap_or(0);
        assert!(n > 0, "rule {rule:?} never decided a step: {rules:#?}");
    }
}

/// The model's own name and mask rules, written from natter's documented
/// rules and Modern IRC (they never call natter's).
#[test]
fn the_models_own_rules() {
    assert_eq!(fold("NiCk[]"), "nick[]");
    assert!(valid_nick("alice") && valid_nick("[away]_x") && valid_nick("a-9"));
    assert!(!valid_nick("9lives") && !valid_nick("-dash") && !valid_nick("a*b"));
    assert!(!valid_nick("") && !valid_nick(&"n".repeat(31)));
    assert!(valid_channel("#x") && !valid_channel("#") && !valid_channel("lobby"));
    assert!(!valid_channel("#a,b") && !valid_channel("#a b"));
    for (typed, full) in [
        ("bob", "bob!*@*"),
        ("al*", "al*!*@*"),
        ("bob!*@*", "bob!*@*"),
        ("127.0.0.1", "*!*@127.0.0.1"),
        ("*!*@127.0.0.1", "*!*@127.0.0.1"),
        ("u@h", "*!u@h"),
        ("bob!u", "bob!u@*"),
        ("b**b!**@*", "b*b!*@*"),
    ] {
        assert_eq!(expand_mask(typed), full, "{typed}");
    }
    assert!(glob("*!*@127.0.0.1", "Alice!u@127.0.0.1"));
    assert!(glob("ALICE!?@*", "alice!u@127.0.0.2"));
    assert!(glob("al*!*@*", "alice!u@h") && !glob("al*!*@*", "bob!u@h"));
    assert!(!glob("alice!*@*", "alice2!u@h"));
    assert!(glob("*", "") && !glob("?", "") && glob("a*b*c", "aXbYc"));
}

/// IRCv3 echo-message: servers MUST send a message back to the client that
/// sent it, also when it is not a member of the (-n) room it sent to. The
/// model found natter missing this echo.
#[test]
fn a_non_member_with_echo_message_gets_its_message_to_a_minus_n_room_back() {
    use natter::core::{Action, ConnId, Event, Now, Server, ServerConfig};
    let mut server = Server::new(ServerConfig::default());
    let now = Now::default();
    let (alice, bob) = (ConnId(1), ConnId(2));
    let lines: &[(ConnId, &str)] = &[
        (alice, "NICK alice"),
        (alice, "USER u 0 * :A"),
        (alice, "JOIN #open"),
        (alice, "MODE #open -n"),
        (bob, "CAP REQ :echo-message"),
        (bob, "NICK bob"),
        (bob, "USER u 0 * :B"),
        (bob, "CAP END"),
    ];
    for id in [alice, bob] {
        let peer = format!("127.0.0.1:{}", 5000 + id.0);
        server.handle_event(Event::Connected {
            conn: id,
            peer,
            now,
        });
    }
    for &(conn, line) in lines {
        server.handle_event(Event::Line {
            conn,
            line: line.into(),
            now,
        });
    }
    while server.poll_action().is_some() {}
    let line = "PRIVMSG #open :hello from outside".to_string();
    server.handle_event(Event::Line {
        conn: bob,
        line,
        now,
    });
    let mut to_bob = Vec::new();
    while let Some(action) = server.poll_action() {
        match action {
            Action::Send { to, line } if to == bob => to_bob.push(line.to_string()),
            Action::Broadcast { to, line } if to.contains(&bob) => to_bob.push(line.to_string()),
            _ => {}
        }
    }
    assert!(
        to_bob
            .iter()
            .any(|l| l.contains("PRIVMSG #open :hello from outside")),
        "bob (echo-message) got no echo: {to_bob:?}"
    );
}

/// A client line built from a real command and parameters of any length.
fn wild_line() -> impl Strategy<Value = String> {
    let command = prop::sample::select(vec![
        "PRIVMSG", "NOTICE", "JOIN", "PART", "TOPIC", "NAMES", "WHO", "WHOIS", "MODE", "NICK",
        "USER", "PING", "QUIT", "CAP", "LIST", "PASS", "FOO",
    ]);
    let word = prop_oneof![
        Just("#lobby".to_string()),
        Just("alice".to_string()),
        "[#a-z,]{1,8}",
        (1usize..500).prop_map(|n| format!("#{}", "x".repeat(n))),
        (1usize..500).prop_map(|n| "y".repeat(n)),
    ];
    (
        command,
        prop::collection::vec(word, 0..4),
        prop::option::of("[ -~]{0,500}"),
    )
        .prop_map(|(command, words, trailing)| {
            let mut line = command.to_string();
            for w in words {
                line.push(' ');
                line.push_str(&w);
            }
            if let Some(t) = trailing {
                line.push_str(" :");
                line.push_str(&t);
            }
            // What a LineReader lets through: at most 510 bytes.
            let mut end = line.len().min(510);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn whatever_clients_send_every_server_line_parses_and_fits_512_bytes(
        lines in prop::collection::vec((0..3u64, wild_line()), 1..40),
    ) {
        use natter::core::{Action, ConnId, Event, Server, ServerConfig, Now};
        let mut server = Server::new(ServerConfig::default());
        let now = Now::default();
        for id in 0..3 {
            let conn = ConnId(id);
            server.handle_event(Event::Connected { conn, peer: format!("10.0.0.{id}:4000"), now });
            for line in [format!("NICK {}", "n".repeat(29) + &id.to_string()), "USER u 0 * :u".into()] {
                server.handle_event(Event::Line { conn, line, now });
            }
        }
        for (id, line) in lines {
            server.handle_event(Event::Line { conn: ConnId(id), line: line.clone(), now });
            while let Some(action) = server.poll_action() {
                let out = match &action {
                    Action::Send { line, .. } | Action::Broadcast { line, .. } => line.to_string(),
                    _ => continue,
                };
                prop_assert!(out.len() <= 510, "{} bytes after {:?}: {}", out.len(), line, out);
                prop_assert!(natter::proto::Message::parse(&out).is_ok(), "{}", out);
            }
        }
    }
}
