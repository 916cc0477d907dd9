//! `server.log` records and their exact text.
//!
//! Owns the log line format, which keeps the seed's lines exactly:
//! ```text
//! [2023-11-09 12:34:56] Client John connected from 127.0.0.1:12000
//! [2023-11-09 12:35:01] [John]: Hello everyone!
//! [2023-11-09 12:37:00] [John] has left
//! [2023-11-09 12:37:02] Client John disconnected
//! ```
//! Events in the default room (`#lobby`) are written without a room name;
//! other rooms are prefixed with `[#room] `. Control characters in any text
//! that came from a client are escaped as `\xNN`, so no message can forge a
//! line. Must never read a clock or write a file: the shell does that.

use super::event::Timestamp;
use std::fmt;
use std::sync::Arc;

/// One line of `server.log`: when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// When it happened (the `now` of the event that caused it).
    pub at: Timestamp,
    /// What happened.
    pub entry: LogEntry,
}

/// What happened. `room` is `None` for the default room; room names are
/// the rooms' own, shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A client finished registering as `nick`.
    Connected { nick: String, peer: String },
    /// A registered client's connection ended (the seed's line, exactly).
    Disconnected { nick: String },
    /// Why a registered client's connection ended, when it said or had a
    /// reason (`bye` for `QUIT :bye`, `Ping timeout: 120 seconds`); written
    /// just before [`LogEntry::Disconnected`].
    QuitReason { nick: String, reason: String },
    /// A connection ended before it registered.
    ClosedUnregistered { peer: String, reason: String },
    /// The shell refused a new connection from `peer` before the core saw
    /// it (a connection limit); `reason` is what the client was told.
    Refused { peer: String, reason: String },
    /// `nick` joined a room.
    Joined {
        nick: String,
        room: Option<Arc<str>>,
    },
    /// `nick` left a room (PART, QUIT or a dropped connection): the seed's
    /// line, exactly.
    Left {
        nick: String,
        room: Option<Arc<str>>,
    },
    /// The reason `nick` gave when leaving a room by PART; written just
    /// after [`LogEntry::Left`].
    PartReason {
        nick: String,
        room: Option<Arc<str>>,
        reason: String,
    },
    /// An operator (`nick`) removed `victim` from a room.
    Kick {
        nick: String,
        room: Option<Arc<str>>,
        victim: String,
        reason: String,
    },
    /// An operator (`nick`) changed a room's modes (`+o-v alice bob`).
    Mode {
        nick: String,
        room: Option<Arc<str>>,
        modes: String,
    },
    /// A PRIVMSG to a room (`text` shared with its history record).
    Message {
        nick: String,
        room: Option<Arc<str>>,
        text: Arc<str>,
    },
    /// A NOTICE to a room (`text` shared with its history record).
    Notice {
        nick: String,
        room: Option<Arc<str>>,
        text: Arc<str>,
    },
    /// A private message; `text` only when the server is configured to log it.
    Private {
        from: String,
        to: String,
        text: Option<String>,
    },
    /// A nickname change.
    NickChange { old: String, new: String },
    /// A topic change.
    Topic {
        nick: String,
        room: Option<Arc<str>>,
        topic: String,
    },
    /// `nick` deleted a message `author` had sent to a room (REDACT);
    /// `reason` may be empty. The message's own line stays in the log.
    Redact {
        nick: String,
        room: Option<Arc<str>>,
        author: String,
        reason: String,
    },
    /// An operator (`nick`) renamed the room `room` to `new` (RENAME);
    /// `reason` may be empty.
    Rename {
        nick: String,
        room: Option<Arc<str>>,
        new: String,
        reason: String,
    },
    /// `[alice] registered the account alice`
    AccountRegistered { nick: String, account: String },
    /// `[alice] logged in as alice (SASL PLAIN)`
    LoggedIn {
        nick: String,
        account: String,
        how: String,
    },
    /// `[alice] logged out of alice`
    LoggedOut { nick: String, account: String },
    /// `[alice] dropped the account alice`
    AccountDropped { nick: String, account: String },
    /// `[alice] failed to log in as alice (SASL PLAIN)`: never the password.
    LoginFailed {
        nick: String,
        account: String,
        how: String,
    },
    /// `[alice] set a server ban on *!*@192.0.2.7 for 600 seconds: spam`
    /// (KLINE); `secs` is `None` for a permanent ban.
    ServerBanSet {
        nick: String,
        mask: String,
        secs: Option<u64>,
        reason: String,
    },
    /// `[alice] removed the server ban on *!*@192.0.2.7` (UNKLINE).
    ServerBanRemoved { nick: String, mask: String },
    /// `Server ban on *!*@192.0.2.7 expired`
    ServerBanExpired { mask: String },
    /// `Connection from 192.0.2.7:5000 as Eve refused: banned by *!*@192.0.2.7 (spam)`:
    /// a new connection matched a server ban at registration.
    ServerBanRefused {
        peer: String,
        nick: String,
        mask: String,
        reason: String,
    },
}

impl LogEntry {
    /// Appends the entry's line to `out`, as its `Display` writes it; room
    /// messages and notices (nearly every line a busy server logs) are
    /// put together directly, without the formatting machinery.
    ///
    /// ```
    /// use natter::core::LogEntry;
    /// let entry = LogEntry::Message {
    ///     nick: "John".into(),
    ///     room: None,
    ///     text: "Hello\u{7}".into(),
    /// };
    /// let mut line = String::new();
    /// entry.render_into(&mut line);
    /// assert_eq!(line, entry.to_string());
    /// assert_eq!(line, "[John]: Hello\\x07");
    /// ```
    pub fn render_into(&self, out: &mut String) {
        let (nick, room, text, notice) = match self {
            LogEntry::Message { nick, room, text } => (nick, room, text, false),
            LogEntry::Notice { nick, room, text } => (nick, room, text, true),
            other => {
                use std::fmt::Write;
                let _ = write!(out, "{other}");
                return;
            }
        };
        if let Some(room) = room {
            out.push('[');
            push_escaped(out, room);
            out.push_str("] ");
        }
        out.push('[');
        push_escaped(out, nick);
        out.push_str(if notice { "] (notice): " } else { "]: " });
        push_escaped(out, text);
    }
}

/// Appends `text` to `out` as [`Escaped`] writes it.
fn push_escaped(out: &mut String, text: &str) {
    if needs_no_escape(text) {
        out.push_str(text);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{}", Escaped(text));
    }
}

/// Whether `text` has no control character to escape: control characters
/// are C0 and DEL bytes, or C1 (U+0080–U+009F, which UTF-8 starts with
/// 0xC2); without those bytes, nothing is escaped.
fn needs_no_escape(text: &str) -> bool {
    !text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2)
}

/// Writes `text` with control characters (C0, DEL, C1) escaped as `\xNN`.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Write runs of ordinary text whole; only control characters are
        // written one by one (this runs for every logged chat line).
        let text = self.0;
        if needs_no_escape(text) {
            return f.write_str(text);
        }
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c.is_control() {
                f.write_str(&text[start..i])?;
                write!(f, "\\x{:02x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        f.write_str(&text[start..])
    }
}

struct RoomPrefix<'a>(&'a Option<Arc<str>>);

impl fmt::Display for RoomPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(room) => write!(f, "[{}] ", Escaped(room)),
            None => Ok(()),
        }
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LogEntry::*;
        match self {
            Connected { nick, peer } => {
                write!(
                    f,
                    "Client {} connected from {}",
                    Escaped(nick),
                    Escaped(peer)
                )
            }
            Disconnected { nick } => write!(f, "Client {} disconnected", Escaped(nick)),
            QuitReason { nick, reason } => {
                write!(f, "Client {} quit: {}", Escaped(nick), Escaped(reason))
            }
            ClosedUnregistered { peer, reason } => write!(
                f,
                "Connection from {} closed before registering ({})",
                Escaped(peer),
                Escaped(reason)
            ),
            Refused { peer, reason } => write!(
                f,
                "Connection from {} refused ({})",
                Escaped(peer),
                Escaped(reason)
            ),
            Joined { nick, room } => {
                write!(f, "{}[{}] has joined", RoomPrefix(room), Escaped(nick))
            }
            Left { nick, room } => write!(f, "{}[{}] has left", RoomPrefix(room), Escaped(nick)),
            PartReason { nick, room, reason } => write!(
                f,
                "{}[{}] left saying: {}",
                RoomPrefix(room),
                Escaped(nick),
                Escaped(reason)
            ),
            Kick {
                nick,
                room,
                victim,
                reason,
            } => write!(
                f,
                "{}[{}] kicked [{}]: {}",
                RoomPrefix(room),
                Escaped(nick),
                Escaped(victim),
                Escaped(reason)
            ),
            Mode { nick, room, modes } => write!(
                f,
                "{}[{}] set mode {}",
                RoomPrefix(room),
                Escaped(nick),
                Escaped(modes)
            ),
            Message { nick, room, text } => write!(
                f,
                "{}[{}]: {}",
                RoomPrefix(room),
                Escaped(nick),
                Escaped(text)
            ),
            Notice { nick, room, text } => write!(
                f,
                "{}[{}] (notice): {}",
                RoomPrefix(room),
                Escaped(nick),
                Escaped(text)
            ),
            Private { from, to, text } => match text {
                Some(t) => write!(
                    f,
                    "[{}] -> [{}]: {}",
                    Escaped(from),
                    Escaped(to),
                    Escaped(t)
                ),
                None => write!(
                    f,
                    "[{}] -> [{}]: (private message)",
                    Escaped(from),
                    Escaped(to)
                ),
            },
            NickChange { old, new } => {
                write!(f, "[{}] is now known as [{}]", Escaped(old), Escaped(new))
            }
            Topic { nick, room, topic } => write!(
                f,
                "{}[{}] set the topic: {}",
                RoomPrefix(room),
                Escaped(nick),
                Escaped(topic)
            ),
            Redact {
                nick,
                room,
                author,
                reason,
            } => {
                write!(
                    f,
                    "{}[{}] deleted a message from [{}]",
                    RoomPrefix(room),
                    Escaped(nick),
                    Escaped(author)
                )?;
                if !reason.is_empty() {
                    write!(f, ": {}", Escaped(reason))?;
                }
                Ok(())
            }
            AccountRegistered { nick, account } => write!(
                f,
                "[{}] registered the account {}",
                Escaped(nick),
                Escaped(account)
            ),
            LoggedIn { nick, account, how } => write!(
                f,
                "[{}] logged in as {} ({})",
                Escaped(nick),
                Escaped(account),
                Escaped(how)
            ),
            LoggedOut { nick, account } => {
                write!(f, "[{}] logged out of {}", Escaped(nick), Escaped(account))
            }
            AccountDropped { nick, account } => write!(
                f,
                "[{}] dropped the account {}",
                Escaped(nick),
                Escaped(account)
            ),
            LoginFailed { nick, account, how } => write!(
                f,
                "[{}] failed to log in as {} ({})",
                Escaped(nick),
                Escaped(account),
                Escaped(how)
            ),
            ServerBanSet {
                nick,
                mask,
                secs,
                reason,
            } => {
                write!(
                    f,
                    "[{}] set a server ban on {} ",
                    Escaped(nick),
                    Escaped(mask)
                )?;
                match secs {
                    Some(secs) => write!(f, "for {secs} seconds")?,
                    None => f.write_str("permanently")?,
                }
                write!(f, ": {}", Escaped(reason))
            }
            ServerBanRemoved { nick, mask } => write!(
                f,
                "[{}] removed the server ban on {}",
                Escaped(nick),
                Escaped(mask)
            ),
            ServerBanExpired { mask } => write!(f, "Server ban on {} expired", Escaped(mask)),
            ServerBanRefused {
                peer,
                nick,
                mask,
                reason,
            } => write!(
                f,
                "Connection from {} as {} refused: banned by {} ({})",
                Escaped(peer),
                Escaped(nick),
                Escaped(mask),
                Escaped(reason)
            ),
            Rename {
                nick,
                room,
                new,
                reason,
            } => {
                write!(
                    f,
                    "{}[{}] renamed the room to {}",
                    RoomPrefix(room),
                    Escaped(nick),
                    Escaped(new)
                )?;
                if !reason.is_empty() {
                    write!(f, ": {}", Escaped(reason))?;
                }
                Ok(())
            }
        }
    }
}

/// The whole `server.log` line for `entry` at the local time `local`.
///
/// ```
/// use natter::core::{render_log_line, LogEntry};
/// let at = chrono::NaiveDate::from_ymd_opt(2023, 11, 9).unwrap().and_hms_opt(12, 35, 1).unwrap();
/// let entry = LogEntry::Message { nick: "John".into(), room: None, text: "Hello everyone!".into() };
/// assert_eq!(render_log_line(&entry, at), "[2023-11-09 12:35:01] [John]: Hello everyone!");
/// ```
pub fn render_log_line(entry: &LogEntry, local: chrono::NaiveDateTime) -> String {
    format!("{}{}", log_stamp(local), entry)
}

/// The `[YYYY-MM-DD HH:MM:SS] ` prefix of a log line at the local time
/// `local`; a writer may compute it once per second and reuse it.
///
/// ```
/// let at = chrono::NaiveDate::from_ymd_opt(2023, 11, 9).unwrap().and_hms_opt(12, 34, 56).unwrap();
/// assert_eq!(natter::core::log_stamp(at), "[2023-11-09 12:34:56] ");
/// ```
pub fn log_stamp(local: chrono::NaiveDateTime) -> String {
    format!("[{}] ", local.format("%Y-%m-%d %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_has_a_line_of_its_own() {
        let entry = LogEntry::Refused {
            peer: "192.0.2.7:40000".into(),
            reason: "Too many connections from your IP address: at most 3; try again later".into(),
        };
        assert_eq!(
            entry.to_string(),
            "Connection from 192.0.2.7:40000 refused (Too many connections from your IP \
             address: at most 3; try again later)"
        );
    }

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        let entry = LogEntry::Message {
            nick: "Eve".into(),
            room: None,
            text: "hi\n[2023-11-09 12:00:00] Client Bob disconnected\x1b[31m".into(),
        };
        let text = entry.to_string();
        assert!(!text.contains('\n') && !text.contains('\x1b'), "{text}");
        assert_eq!(
            text,
            "[Eve]: hi\\x0a[2023-11-09 12:00:00] Client Bob disconnected\\x1b[31m"
        );
    }

    #[test]
    fn a_control_character_is_found_wherever_it_sits_in_a_long_line() {
        // Every position of lines of several lengths: none is written
        // unescaped, and text without one is left whole.
        for len in [1, 15, 16, 17, 31, 32, 33, 40] {
            for at in 0..len {
                for control in ['\n', '\x7f', '\u{85}'] {
                    let mut text: Vec<char> = std::iter::repeat_n('a', len).collect();
                    text[at] = control;
                    let text: String = text.into_iter().collect();
                    assert!(!needs_no_escape(&text), "{len} {at} {control:?}");
                    let mut out = String::new();
                    push_escaped(&mut out, &text);
                    assert!(!out.contains(control), "{out:?}");
                }
            }
            assert!(needs_no_escape(&"é".repeat(len)), "{len}");
        }
    }

    #[test]
    fn del_and_c1_controls_are_escaped_and_other_text_is_written_whole() {
        let escaped = |text: &str| Escaped(text).to_string();
        assert_eq!(escaped("a\x7fb\u{85}c\u{9f}"), "a\\x7fb\\x85c\\x9f");
        // U+00A0 and £ start with the same byte as C1 controls; é and 中 do not.
        assert_eq!(escaped("\u{a0}£ é 中"), "\u{a0}£ é 中");
        assert_eq!(escaped("plain words"), "plain words");
    }
}
