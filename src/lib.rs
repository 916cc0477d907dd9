//! natter: a small, fast IRC chat server and terminal chat client.
//!
//! - [`proto`]: the IRC wire format (pure).
//! - [`core`]: the chat rules as a state machine (pure).
//! - [`bench`]: natter-bench, a load generator for any IRC server.
pub mod bench;
pub mod core;
pub mod proto;
