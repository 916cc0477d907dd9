//! The IRC wire format: messages, line framing, numerics, names, channel
//! mode strings and hostmasks.
//!
//! Owns bytes-to-messages, messages-to-text and the grammar of names, mode
//! strings and masks. Pure: must never touch sockets, clocks, files, threads
//! or randomness, and never panic on any input.

mod line_reader;
mod mask;
mod message;
mod mode;
mod names;
pub mod numeric;
mod source;

pub use line_reader::{LineError, LineReader, MAX_LINE, MAX_TAGS};
pub use mask::{mask_matches, normalize_mask, MASKLEN};
pub use message::{command_of, write_message, Message, ParseError, Tag};
pub use mode::{
    parse_channel_modes, render_mode_changes, ChannelMode, ModeChange, ModeItem, ModeKind,
    CHANMODES, MAX_MODE_ITEMS, MODES_PER_LINE, PREFIX,
};
pub use names::{
    casefold, casefold_cow, is_valid_channel, is_valid_nick, CHANNELLEN, NICKLEN, TOPICLEN,
};
pub use source::Source;
