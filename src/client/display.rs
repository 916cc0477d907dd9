//! [`DisplayLine`]: one line the client shows the person, already made safe.
//!
//! Owns the only way to build a displayable line, so that every line passes
//! through [`crate::client::sanitize`]. Must never hold a control character
//! or an escape sequence, and never write to the terminal itself.

use super::format::{self, Piece};
use super::sanitize::sanitize;
use chrono::{NaiveDate, NaiveTime};
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
    window: Option<String>,
    chat: Option<Chat>,
}

/// How a chat line was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatStyle {
    /// A PRIVMSG.
    Message,
    /// `/me` (CTCP ACTION).
    Action,
    /// A NOTICE.
    Notice,
}

/// The parts of a chat line, for a screen that lays them out itself
/// (coloured nick, formatted text, its own timestamp format). The plain
/// [`DisplayLine::text`] says the same in one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// When it was said, in the person's time zone.
    pub time: NaiveTime,
    /// The day, for lines replayed from history.
    pub date: Option<NaiveDate>,
    /// Who said it.
    pub nick: String,
    /// What was said, with its mIRC formatting, made safe.
    pub body: Vec<Piece>,
    /// Message, action or notice.
    pub style: ChatStyle,
    /// Said by this user (here or from another session of the account).
    pub own: bool,
}

impl Chat {
    /// A chat line's parts; `body` is parsed for formatting and made safe.
    pub fn new(time: NaiveTime, nick: &str, body: &str, style: ChatStyle, own: bool) -> Chat {
        Chat {
            time,
            date: None,
            nick: sanitize(nick),
            body: format::parse(body),
            style,
            own,
        }
    }

    /// The body without formatting.
    pub fn plain_body(&self) -> String {
        format::plain(&self.body)
    }
}

impl DisplayLine {
    /// A line of `kind` showing `text`, sanitized.
    pub fn new(kind: LineKind, text: impl AsRef<str>) -> DisplayLine {
        DisplayLine {
            kind,
            text: sanitize(text.as_ref()),
            window: None,
            chat: None,
        }
    }

    /// The same line, belonging to the window of `name` (a room, or the
    /// nick of a private conversation).
    pub fn in_window(mut self, name: &str) -> DisplayLine {
        self.window = (!name.is_empty()).then(|| name.to_string());
        self
    }

    /// The same line, with its chat parts.
    pub fn with_chat(mut self, chat: Chat) -> DisplayLine {
        self.chat = Some(chat);
        self
    }

    /// The same line as another kind (e.g. [`LineKind::History`]).
    pub fn with_kind(mut self, kind: LineKind) -> DisplayLine {
        self.kind = kind;
        self
    }

    /// The room or private conversation this line belongs to; `None` for
    /// lines about the connection or answers to commands, which a windowed
    /// screen shows wherever the person is looking.
    pub fn window(&self) -> Option<&str> {
        self.window.as_deref()
    }

    /// The chat parts, for messages, actions and notices.
    pub fn chat(&self) -> Option<&Chat> {
        self.chat.as_ref()
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
