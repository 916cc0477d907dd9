//! natter: a small, fast IRC chat server and terminal chat client.
//!
//! - [`proto`]: the IRC wire format (pure).
//! - [`core`]: the chat rules as a state machine (pure).
//! - [`net`]: the smol shell that runs the core over TCP.
//! - [`cluster`]: the replication rules that make several nodes one server (pure).
//! - [`client`]: natter-client's session (pure) and terminal shell.
//! - [`fingerprint`]: SHA-256 certificate fingerprints for TLS pinning (pure).
//! - [`bench`](mod@bench): natter-bench, a load generator for any IRC server.
//! - [`settings`]: the `--config natter.toml` file, merged under the command line.
pub mod bench;
pub mod client;
pub mod cluster;
pub mod core;
pub mod fingerprint;
pub mod net;
pub mod proto;
pub mod settings;
