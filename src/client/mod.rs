//! natter-client: the client half, a pure session inside a thin terminal shell.
//!
//! Owns everything the person sees and types: [`Session`] (server lines →
//! [`DisplayLine`]s, typed input → IRC lines; pure), [`Command`] parsing,
//! [`sanitize`] (no control character reaches the terminal), and
//! [`terminal`] (sockets, threads, the line editor) with [`tls`] (certificate
//! checks and TLS streams). Only `terminal` and `tls` may do I/O; nothing here may panic on anything the network sends.

mod command;
mod display;
mod error;
mod sanitize;
mod session;
pub mod terminal;
pub mod tls;

pub use command::{Command, CommandError, HELP};
pub use display::{DisplayLine, LineKind};
pub use error::ClientError;
pub use sanitize::sanitize;
pub use session::{NickRetry, Output, Session};
