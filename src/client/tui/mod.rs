//! natter-client's full-screen interface: windows per room and private
//! conversation, colours, completion, scrollback with the server's history.
//!
//! Everything here but `shell` is pure and tested with keys in and screens
//! out: [`App`] (the whole client's state: a [`crate::client::Session`],
//! the windows, the input line, the roster), [`Editor`] (the input line),
//! [`Windows`], [`Roster`], [`wrap`] and the colours. `render` draws an
//! `App` with ratatui; `shell` is the only part that touches the terminal
//! (crossterm) and the socket.

mod app;
mod colour;
mod editor;
mod render;
mod roster;
pub mod shell;
mod window;
mod wrap;

pub use app::{App, Confirm, Moment, ViewOptions};
pub use colour::{nick_colour, NickColours, Palette};
pub use editor::{Editor, Key};
pub use roster::{RoomState, Roster};
pub use window::{Entry, Window, WindowKind, Windows, SCROLLBACK};
pub use wrap::wrap;
