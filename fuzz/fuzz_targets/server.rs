//! The whole `Server` driven by a script of connects, lines, raw bytes,
//! drops and time, and of the moderation commands (JOIN with keys, MODE on
//! rooms and users, KICK, INVITE, PART, TOPIC, CAP REQ) built from parts
//! that reach their handlers past the parsers, from an empty server or from
//! a cast of users already in rooms: no action ever targets a connection
//! that is not open, and what the live lines announce is what the rooms hold.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "../src/checks.rs"]
mod checks;

/// Mirrors [`checks::Op`], which stays free of `arbitrary` so that stable
/// `cargo test` can replay inputs without this crate.
#[derive(Arbitrary, Debug)]
enum Op {
    Connect(u8),
    Line(u8, String),
    Bytes(u8, Vec<u8>),
    Register(u8, u8),
    Join(u8, u8),
    Say(u8, u8, String),
    Close(u8),
    Tick(u16),
    JoinKeys(u8, Vec<(u8, Option<u8>)>),
    RoomMode(u8, u8, Vec<ModeStep>),
    UserMode(u8, Who, Vec<ModeStep>),
    Kick(u8, u8, Vec<Who>, Option<String>),
    Invite(u8, Who, u8),
    Part(u8, u8, Option<String>),
    Topic(u8, u8, Option<String>),
    Arrive(u8, u8, u8),
    Caps(u8, u8),
}

/// Mirrors [`checks::ModeStep`].
#[derive(Arbitrary, Debug)]
struct ModeStep {
    set: bool,
    letter: u8,
    arg: Arg,
}

/// Mirrors [`checks::Arg`].
#[derive(Arbitrary, Debug)]
enum Arg {
    None,
    Who(Who),
    Mask(u8, u8),
    Key(u8),
    Limit(i64),
    Text(String),
}

/// Mirrors [`checks::Who`].
#[derive(Arbitrary, Debug)]
enum Who {
    Me,
    Conn(u8),
    Nick(u8),
    Text(String),
}

impl From<Who> for checks::Who {
    fn from(who: Who) -> checks::Who {
        match who {
            Who::Me => checks::Who::Me,
            Who::Conn(n) => checks::Who::Conn(n),
            Who::Nick(n) => checks::Who::Nick(n),
            Who::Text(text) => checks::Who::Text(text),
        }
    }
}

impl From<Arg> for checks::Arg {
    fn from(arg: Arg) -> checks::Arg {
        match arg {
            Arg::None => checks::Arg::None,
            Arg::Who(who) => checks::Arg::Who(who.into()),
            Arg::Mask(who, shape) => checks::Arg::Mask(who, shape),
            Arg::Key(k) => checks::Arg::Key(k),
            Arg::Limit(n) => checks::Arg::Limit(n),
            Arg::Text(text) => checks::Arg::Text(text),
        }
    }
}

impl From<ModeStep> for checks::ModeStep {
    fn from(step: ModeStep) -> checks::ModeStep {
        checks::ModeStep {
            set: step.set,
            letter: step.letter,
            arg: step.arg.into(),
        }
    }
}

fn steps(steps: Vec<ModeStep>) -> Vec<checks::ModeStep> {
    steps.into_iter().map(Into::into).collect()
}

impl From<Op> for checks::Op {
    fn from(op: Op) -> checks::Op {
        match op {
            Op::Connect(n) => checks::Op::Connect(n),
            Op::Line(c, line) => checks::Op::Line(c, line),
            Op::Bytes(c, bytes) => checks::Op::Bytes(c, bytes),
            Op::Register(c, who) => checks::Op::Register(c, who),
            Op::Join(c, room) => checks::Op::Join(c, room),
            Op::Say(c, room, text) => checks::Op::Say(c, room, text),
            Op::Close(c) => checks::Op::Close(c),
            Op::Tick(secs) => checks::Op::Tick(secs),
            Op::JoinKeys(c, rooms) => checks::Op::JoinKeys(c, rooms),
            Op::RoomMode(c, room, s) => checks::Op::RoomMode(c, room, steps(s)),
            Op::UserMode(c, who, s) => checks::Op::UserMode(c, who.into(), steps(s)),
            Op::Kick(c, room, whom, comment) => {
                checks::Op::Kick(c, room, whom.into_iter().map(Into::into).collect(), comment)
            }
            Op::Invite(c, who, room) => checks::Op::Invite(c, who.into(), room),
            Op::Part(c, room, reason) => checks::Op::Part(c, room, reason),
            Op::Topic(c, room, text) => checks::Op::Topic(c, room, text),
            Op::Arrive(peer, who, room) => checks::Op::Arrive(peer, who, room),
            Op::Caps(c, bits) => checks::Op::Caps(c, bits),
        }
    }
}

/// A script, run from an empty server or, when `cast`, after
/// [`checks::cast`] (four users in two rooms, each with an operator).
#[derive(Arbitrary, Debug)]
struct Input {
    cast: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let start = if input.cast {
        checks::cast()
    } else {
        Vec::new()
    };
    let ops: Vec<checks::Op> = start
        .into_iter()
        .chain(input.ops.into_iter().map(Into::into))
        .collect();
    let _summary = checks::check_server(&ops);
});
