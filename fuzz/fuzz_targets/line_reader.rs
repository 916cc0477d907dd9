//! Any byte stream cut at any points: the LineReader gives the same items as
//! one push and as the reference splitter, and stays within its bound.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "../src/checks.rs"]
mod checks;

#[derive(Arbitrary, Debug)]
struct Input {
    cuts: Vec<u16>,
    stream: Vec<u8>,
}

fuzz_target!(|input: Input| checks::check_line_reader(&input.stream, &input.cuts));
