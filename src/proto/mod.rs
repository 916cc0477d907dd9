//! The IRC wire format: messages, line framing, numerics and names.
//!
//! Owns bytes-to-messages and messages-to-text. Pure: must never touch
//! sockets, clocks, files, threads or randomness, and never panic on any input.

mod line_reader;
mod message;
mod names;
pub mod numeric;
mod source;

pub use line_reader::{LineError, LineReader, MAX_LINE, MAX_TAGS};
pub use message::{Message, ParseError, Tag};
pub use names::{casefold, is_valid_channel, is_valid_nick, CHANNELLEN, NICKLEN, TOPICLEN};
pub use source::Source;
