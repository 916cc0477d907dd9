//! [`DisplayLine`]: one line the client shows the person, already made safe.
//!
//! Owns the only way to build a displayable line, so that every line passes
//! through [`crate::client::sanitize`]. Must never hold a control character
//! or an escape sequence, and never write to the terminal itself.

use super::sanitize::sanitize;
use std::fmt;

/// What a display line is about, so a terminal may colour or mark it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A message or action in a room.
    Chat,
    /// A private message, to or from this user.
    Private,
    /// Joins, parts, quits, nick and topic changes, names, the welcome.
    Event,
    /// Something went wrong (an error reply, a bad command).
    Error,
    /// The client's own help and hints.
    Info,
    /// A message replayed from the room's history (marked `[history …]`).
    History,
}

/// A line of text to show, with every control character neutralized.
///
/// ```
/// use natter::client::{DisplayLine, LineKind};
/// let line = DisplayLine::new(LineKind::Chat, "[12:00:00] [eve]: \x1b]0;pwned\x07");
/// assert_eq!(line.text(), "[12:00:00] [eve]: ^[]0;pwned^G");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayLine {
    kind: LineKind,
    text: String,
}

impl DisplayLine {
    /// A line of `kind` showing `text`, sanitized.
    pub fn new(kind: LineKind, text: impl AsRef<str>) -> DisplayLine {
        DisplayLine {
            kind,
            text: sanitize(text.as_ref()),
        }
    }

    /// What the line is about.
    pub fn kind(&self) -> LineKind {
        self.kind
    }

    /// The safe text, without a newline.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for DisplayLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
