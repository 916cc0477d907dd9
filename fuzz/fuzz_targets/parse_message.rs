//! Any bytes as one line: parsing never panics, and a parsed message
//! serializes without CR/LF/NUL and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_parse_message(data));
