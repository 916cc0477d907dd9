//! A deterministic simulation: one seed drives hundreds of clients through
//! thousands of steps against the real core, checked after every step against
//! the reference model in `common/model.rs` (as in FoundationDB's and
//! TigerBeetle's simulators). Every failure names its seed.
//!
//! Replay one seed: `NATTER_SIM_SEED=1234 cargo test --test simulation`.
//! Longer runs: `NATTER_SIM_STEPS=50000`.
mod common;
use common::model::{
    recase, Op, SplitMix64, Timings, World, BAD_NICKS, BAD_ROOM, GARBAGE_KINDS, ROOMS,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

const SLOTS: usize = 300;
const DEFAULT_STEPS: usize = 4000;
const DEFAULT_SEEDS: &[u64] = &[1, 2, 3, 0x5EED_CAFE];

const TIMINGS: Timings = Timings {
    ping_interval_secs: 60,
    ping_timeout_secs: 30,
    registration_timeout_secs: 60,
};

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => raw.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={raw:?} is not a number")))
}

fn random_nick(rng: &mut SplitMix64) -> String {
    if rng.chance(2) {
        return rng.pick(BAD_NICKS).to_string();
    }
    let base = format!("nick{}", rng.below(SLOTS as u64 + 100));
    let mask = if rng.chance(30) { rng.next_u64() } else { 0 };
    recase(&base, mask)
}

fn random_room(rng: &mut SplitMix64) -> String {
    if rng.chance(3) {
        return BAD_ROOM.to_string();
    }
    let mask = if rng.chance(20) { rng.next_u64() } else { 0 };
    let room: &str = rng.pick::<&str>(ROOMS);
    recase(room, mask)
}

fn random_reason(rng: &mut SplitMix64) -> Option<String> {
    match rng.below(3) {
        0 => None,
        1 => Some(String::new()),
        _ => Some("see you".into()),
    }
}

/// The next operation: state-aware so that most of them do something, with a
/// few aimed at closed or never-opened connections.
fn next_op(rng: &mut SplitMix64, world: &World) -> Op {
    if rng.chance(5) {
        let secs = if rng.chance(90) { 1 } else { 1 + rng.below(40) };
        return Op::Tick { secs };
    }
    // Half the traffic comes from a busy few, the rest from anyone.
    let slot = if rng.chance(50) {
        rng.below(30)
    } else {
        rng.below(SLOTS as u64)
    } as usize;
    if !world.is_open(slot) {
        return match rng.below(10) {
            0 => Op::Connect { slot },
            1 => Op::Say {
                slot,
                target: "#lobby".into(),
                notice: false,
            },
            2 => Op::Drop { slot },
            _ => Op::Register {
                slot,
                nick: random_nick(rng),
            },
        };
    }
    if !world.is_registered(slot) {
        return match rng.below(12) {
            0..=2 => Op::Nick {
                slot,
                nick: random_nick(rng),
            },
            3 | 4 => Op::User { slot },
            5 => Op::CapLs { slot },
            6 => Op::CapReqEcho { slot },
            7 | 8 => Op::CapEnd { slot },
            9 => Op::Join {
                slot,
                rooms: vec!["#lobby".into()],
            },
            10 => Op::Quit {
                slot,
                reason: random_reason(rng),
            },
            _ => Op::Drop { slot },
        };
    }
    match rng.below(100) {
        0..=19 => {
            let n = 1 + rng.below(2) as usize;
            Op::Join {
                slot,
                rooms: (0..n).map(|_| random_room(rng)).collect(),
            }
        }
        20..=49 => Op::Say {
            slot,
            target: random_room(rng),
            notice: rng.chance(15),
        },
        50..=57 => {
            let other = rng.below(SLOTS as u64) as usize;
            let target = match world.nick_of_slot(other) {
                Some(n) if rng.chance(80) => recase(&n, rng.next_u64() & rng.next_u64()),
                _ => random_nick(rng),
            };
            // Sometimes a room and a nick in one message.
            let target = if rng.chance(10) {
                format!("{},{target}", random_room(rng))
            } else {
                target
            };
            Op::Say {
                slot,
                target,
                notice: rng.chance(15),
            }
        }
        58..=63 => Op::Part {
            slot,
            room: random_room(rng),
            reason: random_reason(rng),
        },
        64..=65 => Op::JoinZero { slot },
        66..=70 => Op::Nick {
            slot,
            nick: random_nick(rng),
        },
        71 | 72 => Op::Topic {
            slot,
            room: random_room(rng),
        },
        73..=79 => Op::Pong { slot },
        80 | 81 => Op::Ping { slot },
        82 | 83 => Op::CapReqEcho { slot },
        84..=86 => Op::Quit {
            slot,
            reason: random_reason(rng),
        },
        87..=89 => Op::Drop { slot },
        90..=93 => Op::Garbage {
            slot,
            kind: rng.below(GARBAGE_KINDS as u64) as usize,
        },
        94 => Op::User { slot },
        _ => Op::Register {
            slot,
            nick: random_nick(rng),
        },
    }
}

/// Runs one seed; returns the world for its fingerprint and counters.
fn simulate(seed: u64, steps: usize) -> World {
    let mut rng = SplitMix64(seed);
    let mut world = World::new(SLOTS, TIMINGS);
    for i in 0..steps {
        let op = next_op(&mut rng, &world);
        if let Err(failure) = world.apply(&op) {
            panic!("seed {seed} (replay: NATTER_SIM_SEED={seed}), op {i}: {failure}");
        }
    }
    world
}

/// Runs `seed`, turning any panic (the core's included) into one that names it.
fn simulate_reporting_seed(seed: u64, steps: usize) -> World {
    match catch_unwind(AssertUnwindSafe(|| simulate(seed, steps))) {
        Ok(world) => world,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("simulation failed with seed {seed} (replay: NATTER_SIM_SEED={seed}): {what}");
        }
    }
}

fn seeds() -> Vec<u64> {
    match env_u64("NATTER_SIM_SEED") {
        Some(seed) => vec![seed],
        None => DEFAULT_SEEDS.to_vec(),
    }
}

fn steps() -> usize {
    env_u64("NATTER_SIM_STEPS").map_or(DEFAULT_STEPS, |s| s as usize)
}

#[test]
fn hundreds_of_clients_over_thousands_of_steps_match_the_model() {
    for seed in seeds() {
        let mut world = simulate_reporting_seed(seed, steps());
        let d = &world.delivered;
        let count = |k: &str| d.get(k).copied().unwrap_or(0);
        eprintln!(
            "seed {seed}: {} events, {} actions, {} open at the end, delivered {d:?}",
            world.steps,
            world.fingerprint().0,
            world.open_count()
        );
        // The run exercised what it claims to check.
        for kind in [
            "001", "JOIN", "PRIVMSG", "PART", "QUIT", "NICK", "PING", "Close",
        ] {
            assert!(
                count(kind) > 0,
                "seed {seed}: no {kind} in the whole run: {d:?}"
            );
        }
        assert!(
            world.open_count() >= 50,
            "seed {seed}: only {} clients were connected at the end",
            world.open_count()
        );
        // Then the server stops, with everyone still connected.
        if let Err(failure) = world.apply(&Op::Shutdown) {
            panic!("seed {seed} (replay: NATTER_SIM_SEED={seed}), shutdown: {failure}");
        }
        assert_eq!(world.open_count(), 0);
        assert_eq!(world.server.connection_count(), 0);
    }
}

#[test]
fn the_same_seed_gives_the_same_action_stream() {
    let seed = seeds()[0];
    let steps = steps() / 2;
    let first = simulate_reporting_seed(seed, steps).fingerprint();
    let second = simulate_reporting_seed(seed, steps).fingerprint();
    assert_eq!(
        first, second,
        "seed {seed}: two runs emitted different actions"
    );
}
