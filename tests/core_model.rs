//! Random scripts of up to 20 clients over a few rooms, run against the real
//! core and the reference model in `common/model.rs`, checked after every
//! step: deliveries, order, leaves, nick changes, unique nicks, no action to
//! a closed connection, no panic.
//!
//! `PROPTEST_CASES=2000 cargo test --test core_model` searches harder.
mod common;
use common::model::{recase, Op, Timings, World, BAD_NICKS, BAD_ROOM, GARBAGE_KINDS, NICKS, ROOMS};
use proptest::prelude::*;

const SLOTS: usize = 20;

fn nick() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (0..NICKS.len(), any::<u64>()).prop_map(|(i, mask)| recase(NICKS[i], mask)),
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
        6 => room(),
        4 => nick.clone(),
        1 => (room(), nick).prop_map(|(room, nick)| format!("{room},{nick}")),
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

/// Mostly a few busy clients, sometimes any of the twenty.
fn slot() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![3 => 0..6usize, 1 => 0..SLOTS]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = slot();
    prop_oneof![
        8 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Register { slot, nick }),
        2 => slot.clone().prop_map(|slot| Op::Connect { slot }),
        3 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Nick { slot, nick }),
        1 => slot.clone().prop_map(|slot| Op::User { slot }),
        1 => slot.clone().prop_map(|slot| Op::CapLs { slot }),
        2 => slot.clone().prop_map(|slot| Op::CapReqEcho { slot }),
        1 => slot.clone().prop_map(|slot| Op::CapEnd { slot }),
        10 => (slot.clone(), prop::collection::vec(room(), 1..3))
            .prop_map(|(slot, rooms)| Op::Join { slot, rooms }),
        1 => slot.clone().prop_map(|slot| Op::JoinZero { slot }),
        3 => (slot.clone(), room(), reason())
            .prop_map(|(slot, room, reason)| Op::Part { slot, room, reason }),
        14 => (slot.clone(), target(), prop::bool::weighted(0.2))
            .prop_map(|(slot, target, notice)| Op::Say { slot, target, notice }),
        1 => (slot.clone(), room()).prop_map(|(slot, room)| Op::Topic { slot, room }),
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
        ops in prop::collection::vec(op(), 1..200),
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
