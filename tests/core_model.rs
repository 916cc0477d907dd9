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
