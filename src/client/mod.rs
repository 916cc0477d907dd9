//! natter-client: the client half, a pure session inside thin shells.
//!
//! Owns everything the person sees and types: [`Session`] (server lines →
//! [`DisplayLine`]s tagged with their window and chat parts, typed input →
//! IRC lines, SASL login and history fetching; pure), [`ScramClient`]
//! (SCRAM-SHA-256's client side; pure), [`Command`] parsing, [`format`]
//! (mIRC formatting as styled pieces) and [`sanitize`] (no control character
//! reaches the terminal), [`config`] (the configuration file), and two
//! shells over one `connection` (sockets, TLS via [`tls`], the reader
//! thread): [`terminal`], the line mode for pipes and scripts, and [`tui`],
//! the full-screen interface (a pure `App` drawn with ratatui; only
//! `tui::shell` touches the terminal). Only `connection`, `terminal`,
//! `tls` and `tui::shell` may do I/O; nothing here may panic on anything
//! the network sends.

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
