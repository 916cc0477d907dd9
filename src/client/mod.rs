//! natter-client: the client half, a pure session inside a thin terminal shell.
//!
//! Owns everything the person sees and types: [`Session`] (server lines →
//! [`DisplayLine`]s, typed input → IRC lines, SASL login and history
//! fetching; pure), [`ScramClient`] (SCRAM-SHA-256's client side; pure),
//! [`Command`] parsing,
//! [`sanitize`] (no control character reaches the terminal), and
//! [`terminal`] (sockets, threads, the line editor) with [`tls`] (certificate
//! checks and TLS streams). Only `terminal` and `tls` may do I/O; nothing here may panic on anything the network sends.

mod command;
pub mod config;
mod connection;
mod display;
mod error;
pub mod format;
mod sanitize;
mod scram;
mod session;
pub mod terminal;
pub mod tls;

pub use command::{Command, CommandError, COMMANDS, HELP};
pub use display::{Chat, ChatStyle, DisplayLine, LineKind};
pub use error::ClientError;
pub use sanitize::sanitize;
pub use scram::{ScramClient, ScramError};
pub use session::{Clock, Login, NickRetry, Output, Session};
pub mod tui;
