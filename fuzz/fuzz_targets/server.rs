//! The whole `Server` driven by a script of connects, lines, raw bytes,
//! drops and time: no action ever targets a connection that is not open.
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
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let ops: Vec<checks::Op> = ops.into_iter().map(Into::into).collect();
    let _summary = checks::check_server(&ops);
});
