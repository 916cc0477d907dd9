//! A deterministic simulation: one seed drives hundreds of clients through
//! thousands of steps against the real core, checked after every step against
//! the reference model in `common/model/` (as in FoundationDB's and
//! TigerBeetle's simulators). Every failure names its seed.
//!
//! Most traffic is chat; about one step in ten is moderation, aimed by what
//! the model knows: operators change modes, ban, kick and invite in their
//! rooms, others try to and are refused, invited clients come in. About
//! one in ten is presence and queries: AWAY, +i, WHO, WHOIS, NAMES and
//! MONITOR of people who are (mostly) around.
//!
//! Replay one seed: `NATTER_SIM_SEED=1234 cargo test --test simulation`.
//! Longer runs: `NATTER_SIM_STEPS=50000`.
mod common;
use common::model::{
    recase, MonitorCmd, Op, SplitMix64, Timings, World, AWAY_MESSAGES, BAD_NICKS, BAD_ROOM,
    GARBAGE_KINDS, KEYS, MODELLED_CAPS, ROOMS,
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
    // Operators moderate their rooms.
    if rng.chance(6) {
        let ops = world.operator_slots();
        if !ops.is_empty() {
            let slot = *rng.pick(&ops);
            return moderation_op(rng, world, slot);
        }
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
                keys: Vec::new(),
            },
            10 => Op::Quit {
                slot,
                reason: random_reason(rng),
            },
            _ => Op::Drop { slot },
        };
    }
    // Anyone may try (and is refused unless an operator).
    if rng.chance(3) {
        return moderation_op(rng, world, slot);
    }
    // Members leave rooms that lost every operator, as people cycle a room
    // on a network without services: the first to come back is operator.
    if rng.chance(10) {
        let orphaned = world
            .rooms_of_slot(slot)
            .into_iter()
            .find(|(room, _)| world.room_view(room).is_some_and(|v| v.ops.is_empty()));
        if let Some((room, _)) = orphaned {
            return Op::Part {
                slot,
                room,
                reason: Some("no operators".into()),
            };
        }
    }
    let op = registered_op(rng, world, slot);
    // Operators mostly stay, so that rooms keep someone to lift their modes.
    let leaves = matches!(
        op,
        Op::Part { .. } | Op::JoinZero { .. } | Op::Quit { .. } | Op::Drop { .. }
    );
    if leaves && rng.chance(90) && world.operator_slots().contains(&slot) {
        return Op::Say {
            slot,
            target: random_room(rng),
            notice: false,
        };
    }
    op
}

/// What a registered client does: mostly chat.
fn registered_op(rng: &mut SplitMix64, world: &World, slot: usize) -> Op {
    if rng.chance(10) {
        return presence_op(rng, world, slot);
    }
    match rng.below(100) {
        0..=19 => join_op(rng, world, slot),
        // Mostly in a room of one's own.
        20..=49 => {
            let mine = world.rooms_of_slot(slot);
            let target = match mine.is_empty() {
                false if rng.chance(70) => rng.pick(&mine).0.clone(),
                _ => random_room(rng),
            };
            Op::Say {
                slot,
                target,
                notice: rng.chance(15),
            }
        }
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

/// A nick of someone around (one of the busy clients, mostly), or any.
fn someone_around(rng: &mut SplitMix64, world: &World) -> String {
    let busy = rng.below(30) as usize;
    match world.nick_of_slot(busy) {
        Some(nick) if rng.chance(80) => recase(&nick, rng.next_u64() & rng.next_u64()),
        _ => random_nick(rng),
    }
}

/// A room `slot` is in (mostly), or any.
fn some_room(rng: &mut SplitMix64, world: &World, slot: usize) -> String {
    let mine = world.rooms_of_slot(slot);
    match mine.is_empty() {
        false if rng.chance(60) => rng.pick(&mine).0.clone(),
        _ => random_room(rng),
    }
}

/// Presence and queries: AWAY, capabilities, +i, WHO, WHOIS, NAMES, MONITOR.
fn presence_op(rng: &mut SplitMix64, world: &World, slot: usize) -> Op {
    match rng.below(20) {
        0..=2 => {
            let message = match rng.chance(20) {
                true => None,
                false => Some(rng.pick(AWAY_MESSAGES).to_string()),
            };
            Op::Away { slot, message }
        }
        3 => Op::CapReq {
            slot,
            cap: rng.pick(MODELLED_CAPS).to_string(),
        },
        4 => Op::UserMode {
            slot,
            invisible: rng.chance(60),
        },
        5..=7 => {
            let target = match rng.chance(60) {
                true => some_room(rng, world, slot),
                false => someone_around(rng, world),
            };
            Op::Who { slot, target }
        }
        8..=10 => Op::Whois {
            slot,
            nick: someone_around(rng, world),
        },
        11 | 12 => Op::Names {
            slot,
            rooms: some_room(rng, world, slot),
        },
        13..=15 => {
            let n = 1 + rng.below(3);
            let nicks = (0..n).map(|_| someone_around(rng, world)).collect();
            Op::Monitor {
                slot,
                cmd: MonitorCmd::Add(nicks),
            }
        }
        16 => Op::Monitor {
            slot,
            cmd: MonitorCmd::Remove(vec![someone_around(rng, world)]),
        },
        17 => Op::Monitor {
            slot,
            cmd: if rng.chance(20) {
                MonitorCmd::Clear
            } else {
                MonitorCmd::List
            },
        },
        _ => Op::Monitor {
            slot,
            cmd: MonitorCmd::Status,
        },
    }
}

/// A JOIN: sometimes to a room `slot` was invited to; with the right key
/// (mostly) when the room has one.
fn join_op(rng: &mut SplitMix64, world: &World, slot: usize) -> Op {
    let invited = world.invitations_of_slot(slot);
    let n = 1 + rng.below(2) as usize;
    let rooms: Vec<String> = if !invited.is_empty() && rng.chance(60) {
        vec![rng.pick(&invited).clone()]
    } else {
        (0..n).map(|_| random_room(rng)).collect()
    };
    let keys = rooms
        .iter()
        .map(|r| match world.room_view(r).and_then(|v| v.key) {
            Some(key) if rng.chance(60) => key,
            _ if rng.chance(20) => rng.pick(KEYS).to_string(),
            _ => String::new(),
        })
        .collect::<Vec<_>>();
    let keys = if keys.iter().all(String::is_empty) {
        Vec::new()
    } else {
        keys
    };
    Op::Join { slot, rooms, keys }
}

/// Someone's nick, to aim at: a member of `members` or anyone registered.
fn someone(rng: &mut SplitMix64, world: &World, members: &[String]) -> String {
    if !members.is_empty() && rng.chance(75) {
        return rng.pick(members).clone();
    }
    let other = rng.below(SLOTS as u64) as usize;
    world
        .nick_of_slot(other)
        .unwrap_or_else(|| random_nick(rng))
}

/// A mask for `+b`/`+e`/`+I` aimed at `nick`: their nick, a prefix of it
/// (`nick1*`), or one of the three client hosts.
fn mask_for(rng: &mut SplitMix64, nick: &str) -> String {
    match rng.below(10) {
        0..=3 => format!("{nick}!*@*"),
        4 => nick.to_string(),
        5 | 6 => format!("{}*", &nick[..nick.len().min(5)]),
        _ => format!("*!*@127.0.0.{}", 1 + rng.below(3)),
    }
}

/// An operator's MODE for the room in `view`: restrictive modes are lifted
/// more often than set, so rooms stay lively.
fn operator_mode(rng: &mut SplitMix64, world: &World, room: &str) -> (String, Vec<String>) {
    let Some(view) = world.room_view(room) else {
        return (String::new(), Vec::new());
    };
    let member = someone(rng, world, &view.members);
    let flip = |on: bool, letter: char, rng: &mut SplitMix64, lift: u64| {
        let set = if on {
            !rng.chance(lift)
        } else {
            rng.chance(100 - lift)
        };
        format!("{}{letter}", if set { '+' } else { '-' })
    };
    match rng.below(26) {
        0..=2 => {
            let set = !view.voiced.contains(&member) || rng.chance(20);
            (format!("{}v", if set { '+' } else { '-' }), vec![member])
        }
        // Rooms keep operators: +o is given more often than taken.
        3..=5 => {
            let set = !view.ops.contains(&member) || rng.chance(70);
            (format!("{}o", if set { '+' } else { '-' }), vec![member])
        }
        6 | 7 => (flip(view.moderated, 'm', rng, 70), vec![]),
        8..=10 => (flip(view.invite_only, 'i', rng, 60), vec![]),
        11 => match &view.key {
            Some(key) if rng.chance(80) => ("-k".into(), vec![key.clone()]),
            _ => ("+k".into(), vec![rng.pick(KEYS).to_string()]),
        },
        12 => match view.limit {
            Some(_) if rng.chance(80) => ("-l".into(), vec![]),
            _ => {
                let n = view.members.len() as u64 + rng.below(3);
                ("+l".into(), vec![n.max(1).to_string()])
            }
        },
        13 => (flip(view.no_external, 'n', rng, 50), vec![]),
        14 => (flip(view.topic_lock, 't', rng, 50), vec![]),
        15..=18 => match view.bans.is_empty() {
            false if rng.chance(50) => ("-b".into(), vec![rng.pick(&view.bans).clone()]),
            _ => ("+b".into(), vec![mask_for(rng, &member)]),
        },
        19 => match view.excepts.is_empty() {
            false if rng.chance(50) => ("-e".into(), vec![rng.pick(&view.excepts).clone()]),
            // Mostly for someone a ban hits: by nick, or their whole host.
            _ => match view.banned_members.is_empty() {
                false if rng.chance(80) => {
                    let (nick, host) = rng.pick(&view.banned_members).clone();
                    let mask = match rng.chance(50) {
                        true => format!("{nick}!*@*"),
                        false => format!("*!*@{host}"),
                    };
                    ("+e".into(), vec![mask])
                }
                _ => ("+e".into(), vec![format!("{member}!*@*")]),
            },
        },
        // Exceptions for someone who may be under a host ban; +I for anyone.
        20 => {
            let anyone = someone(rng, world, &[]);
            ("+I".into(), vec![mask_for(rng, &anyone)])
        }
        21 => (rng.pick(&["b", "e", "I"]).to_string(), vec![]),
        22 => (String::new(), vec![]),
        23 => (rng.pick(&["+x", "+mZ"]).to_string(), vec![]),
        _ => ("+v-m".into(), vec![member]),
    }
}

/// A moderation step for registered `slot`: an operator acts in one of its
/// rooms; anyone else tries and is (mostly) refused.
fn moderation_op(rng: &mut SplitMix64, world: &World, slot: usize) -> Op {
    let mine = world.rooms_of_slot(slot);
    let op_rooms: Vec<String> = mine
        .iter()
        .filter(|(_, op)| *op)
        .map(|(r, _)| r.clone())
        .collect();
    let room = match (op_rooms.is_empty(), mine.is_empty()) {
        (false, _) if rng.chance(85) => rng.pick(&op_rooms).clone(),
        (_, false) if rng.chance(80) => rng.pick(&mine).0.clone(),
        _ => random_room(rng),
    };
    let view = world.room_view(&room);
    let members = view.as_ref().map(|v| v.members.clone()).unwrap_or_default();
    // Operators are rarely kicked: rooms need someone to lift their modes.
    let ops = view.map(|v| v.ops).unwrap_or_default();
    let mut victims: Vec<String> = members
        .iter()
        .filter(|m| !ops.contains(m))
        .cloned()
        .collect();
    if victims.is_empty() || rng.chance(5) {
        victims = members.clone();
    }
    match rng.below(10) {
        0..=5 => {
            let (modes, args) = operator_mode(rng, world, &room);
            Op::Mode {
                slot,
                room,
                modes,
                args,
            }
        }
        6 | 7 => {
            let mut nicks = vec![someone(rng, world, &victims)];
            if rng.chance(20) {
                nicks.push(someone(rng, world, &victims));
            }
            let comment = match rng.below(3) {
                0 => None,
                1 => Some(String::new()),
                _ => Some("behave".into()),
            };
            Op::Kick {
                slot,
                room,
                nicks,
                comment,
            }
        }
        // Invite someone busy enough to come soon.
        8 => {
            let busy = rng.below(30) as usize;
            let nick = match world.nick_of_slot(busy) {
                Some(nick) if rng.chance(70) => nick,
                _ => someone(rng, world, &[]),
            };
            Op::Invite { slot, nick, room }
        }
        _ => Op::CapReqInviteNotify { slot },
    }
}

/// Runs one seed; returns the world for its fingerprint and counters.
/// Kinds of lines every run must deliver: what the model checks.
const MUST_DELIVER: &[&str] = &[
    "001", "JOIN", "PRIVMSG", "PART", "QUIT", "NICK", "PING", "Close", "MODE", "KICK", "INVITE",
    "341", "404", "435", "441", "471", "472", "473", "474", "475", "482", "AWAY", "301", "305",
    "306", "315", "317", "319", "352", "353", "366", "730", "731", "732", "733",
];

/// Decisions of the model every run must take (see `World::rules`).
const MUST_DECIDE: &[&str] = &[
    "404 +m: not voiced",
    "404 +b: banned",
    "404 +n: not a member",
    "JOIN refused (471)",
    "JOIN refused (473)",
    "JOIN refused (474)",
    "JOIN refused (475)",
    "NICK refused: banned (435)",
    "MODE refused: not an operator (482)",
    "MODE +o applied",
    "MODE +v applied",
    "MODE +m applied",
    "MODE -m applied",
    "MODE +i applied",
    "MODE -i applied",
    "MODE +k applied",
    "MODE -k applied",
    "MODE +l applied",
    "MODE -l applied",
    "MODE +b applied",
    "MODE -b applied",
    "MODE +e applied",
    "MODE +I applied",
    "+e exempted a banned client",
    "JOIN: +I admitted past +i",
    "JOIN by invitation past a refusal",
    "MODE list query (367/368)",
    "KICK",
    "INVITE into a +i room",
    "INVITE seen by invite-notify operators",
    "AWAY set (306)",
    "AWAY unset (305)",
    "AWAY: 301 to the sender of a PRIVMSG",
    "AWAY seen by away-notify peers",
    "AWAY of a joiner seen by away-notify members",
    "WHO row with G flag",
    "WHO #room: invisible member hidden from an outsider",
    "WHOIS 319 with prefixes",
    "WHOIS 301",
    "NAMES explicit",
    "NAMES: invisible member hidden from an outsider",
    "MONITOR online notification (730)",
    "MONITOR offline notification (731)",
    "MONITOR S: some online, some offline",
];

/// What a run has not exercised yet.
fn missing_coverage(world: &World) -> Vec<&'static str> {
    let delivered = |k: &str| world.delivered.get(k).copied().unwrap_or(0) > 0;
    let decided = |r: &str| world.rules().get(r).copied().unwrap_or(0) > 0;
    let lines = MUST_DELIVER.iter().filter(|k| !delivered(k));
    let rules = MUST_DECIDE.iter().filter(|r| !decided(r));
    lines.chain(rules).copied().collect()
}

/// One seed's run: the world, and how many operations of each sort it took.
struct Run {
    world: World,
    ops: usize,
    chat_ops: usize,
    moderation_ops: usize,
}

/// Runs one seed for `steps` operations; with `until_covered`, goes on (up
/// to three times as long) until the run has exercised every rule in
/// [`MUST_DELIVER`] and [`MUST_DECIDE`]. Deterministic either way.
fn simulate(seed: u64, steps: usize, until_covered: bool) -> Run {
    let mut rng = SplitMix64(seed);
    let mut run = Run {
        world: World::new(SLOTS, TIMINGS),
        ops: 0,
        chat_ops: 0,
        moderation_ops: 0,
    };
    for i in 0.. {
        let covered = || !until_covered || missing_coverage(&run.world).is_empty();
        if i >= steps && (i >= 3 * steps || covered()) {
            break;
        }
        let op = next_op(&mut rng, &run.world);
        run.ops += 1;
        match op {
            Op::Say { .. } => run.chat_ops += 1,
            Op::Mode { .. } | Op::Kick { .. } | Op::Invite { .. } => run.moderation_ops += 1,
            _ => {}
        }
        if let Err(failure) = run.world.apply(&op) {
            panic!("seed {seed} (replay: NATTER_SIM_SEED={seed}), op {i}: {failure}");
        }
    }
    run
}

/// Runs `seed`, turning any panic (the core's included) into one that names it.
fn simulate_reporting_seed(seed: u64, steps: usize, until_covered: bool) -> Run {
    match catch_unwind(AssertUnwindSafe(|| simulate(seed, steps, until_covered))) {
        Ok(run) => run,
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
        let run = simulate_reporting_seed(seed, steps(), true);
        let mut world = run.world;
        let d = &world.delivered;
        eprintln!(
            "seed {seed}: {} operations ({} chat, {} moderation), {} events, {} actions, \
             {} open at the end, delivered {d:?}",
            run.ops,
            run.chat_ops,
            run.moderation_ops,
            world.steps,
            world.fingerprint().0,
            world.open_count()
        );
        eprintln!("seed {seed}: rules {:?}", world.rules());
        // The run exercised what it claims to check (a check that passes on
        // zero samples proves nothing).
        let missing = missing_coverage(&world);
        assert!(
            missing.is_empty(),
            "seed {seed}: never exercised {missing:?} in {} operations: delivered {d:?}, rules {:?}",
            run.ops,
            world.rules()
        );
        // Chat is still most of the traffic.
        assert!(
            run.chat_ops > 3 * run.moderation_ops,
            "seed {seed}: moderation crowded out chat: {} chat, {} moderation operations",
            run.chat_ops,
            run.moderation_ops
        );
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
    let first = simulate_reporting_seed(seed, steps, false)
        .world
        .fingerprint();
    let second = simulate_reporting_seed(seed, steps, false)
        .world
        .fingerprint();
    assert_eq!(
        first, second,
        "seed {seed}: two runs emitted different actions"
    );
}
