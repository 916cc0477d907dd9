//! What the person typed: a slash command or plain text, parsed into [`Command`].
//!
//! Owns the command syntax (`/msg`, `/join`, …) and its usage messages. Must
//! never send anything or know about the connection: [`crate::client::Session`]
//! decides what a command means right now.

use std::fmt;

/// One line of input, understood.
///
/// ```
/// use natter::client::Command;
/// assert_eq!(
///     Command::parse("/msg jane psst"),
///     Ok(Command::Msg { target: "jane".into(), text: "psst".into() })
/// );
/// assert_eq!(Command::parse("hello"), Ok(Command::Say("hello".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Plain text for the current room (`//text` sends `/text`).
    Say(String),
    /// `/msg TARGET TEXT`: a private message, or a message to another room.
    Msg { target: String, text: String },
    /// `/query NICK [TEXT]`: open (or switch to) a private conversation
    /// with NICK, showing its history; plain text then goes to NICK.
    Query { nick: String, text: Option<String> },
    /// `/join #room`: join (or switch to) a room.
    Join(String),
    /// `/part [#room] [reason]`: leave the current room (or the one named).
    Part {
        room: Option<String>,
        reason: Option<String>,
    },
    /// `/names [#room]`: who is in the room.
    Names(Option<String>),
    /// `/who [#room|nick]`: who is in the room, with their user@host and flags.
    Who(Option<String>),
    /// `/whois NICK`: about one person.
    Whois(String),
    /// `/away [message]`: mark yourself away (with a message) or back.
    Away(Option<String>),
    /// `/list`: the rooms on the server.
    List,
    /// `/nick NEW`: change nickname.
    Nick(String),
    /// `/me ACTION`: an action in the current room.
    Me(String),
    /// `/topic [text]`: show, or set, the current room's topic.
    Topic(Option<String>),
    /// `/quit [reason]`: leave the server.
    Quit(Option<String>),
    /// `/help`.
    Help,
    /// `/quote RAW`: send a raw IRC line.
    Quote(String),
    /// `/history [N]`: fetch N (default 20) earlier messages of the current room.
    History(usize),
    /// `/notice TARGET TEXT`: a notice (no automatic replies to it).
    Notice { target: String, text: String },
    /// `/mode [TARGET] [CHANGES…]`: show or change a room's (or your) modes.
    Mode {
        target: Option<String>,
        changes: Vec<String>,
    },
    /// `/op`, `/deop`, `/voice`, `/devoice NICK…`: one mode letter for
    /// several people in the current room (`+o`, `-o`, `+v`, `-v`).
    Privilege {
        mode: &'static str,
        nicks: Vec<String>,
    },
    /// `/kick NICK [REASON]` from the current room.
    Kick {
        nick: String,
        reason: Option<String>,
    },
    /// `/ban MASK` (`/unban`): a nick alone means `nick!*@*`.
    Ban { mask: String, on: bool },
    /// `/invite NICK [#ROOM]` (default: the current room).
    Invite { nick: String, room: Option<String> },
    /// `/ignore [NICK]`: hide NICK's messages (without NICK: list them).
    Ignore(Option<String>),
    /// `/unignore NICK`.
    Unignore(String),
    /// `/win N`: switch to window N (1 is the server's window).
    Window(usize),
    /// `/close [NAME]`: close a window (leaving its room, or ending the
    /// private conversation).
    Close(Option<String>),
    /// Nothing to do (an empty line).
    Empty,
}

/// Why a line of input is not a command the client can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// `/something` the client does not know.
    Unknown(String),
    /// A known command with missing arguments; holds its usage line.
    Usage(&'static str),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unknown(name) => write!(
                f,
                "unknown command /{name}: type /help for the list (start a line with // to send a slash)"
            ),
            CommandError::Usage(usage) => write!(f, "usage: {usage}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// The help text, one entry per line.
pub const HELP: &[&str] = &[
    "Commands:",
    "  /msg NICK TEXT     send a private message (or TEXT to another #room)",
    "  /query NICK        talk privately with NICK (shows your history with them)",
    "  /join #ROOM        join a room and talk there",
    "  /part [REASON]     leave the current room (or close the conversation)",
    "  /win N             switch to window N (1 is the server's; also Alt-1..9)",
    "  /close [NAME]      close a window: leave its room or end the conversation",
    "  /names             who is in the current room",
    "  /who [#ROOM|NICK]  who is here, with user@host and away/operator flags",
    "  /whois NICK        about one person (rooms, idle time, away message)",
    "  /away [MESSAGE]    mark yourself away with a message, or back without one",
    "  /list              the rooms on the server, their sizes and topics",
    "  /nick NEWNICK      change your nickname",
    "  /me ACTION         describe an action, e.g. /me waves",
    "  /notice NICK TEXT  send a notice (clients never answer notices automatically)",
    "  /topic [TEXT]      show the room's topic, or set it",
    "  /mode [T] [+m…]    show or change the modes of the room (or of T)",
    "  /op /deop NICK…    give or take a room operator's rights (+o/-o)",
    "  /voice /devoice N… let someone speak in a moderated room, or not (+v/-v)",
    "  /kick NICK [WHY]   put someone out of the current room",
    "  /ban /unban MASK   ban or unban a nick or nick!user@host mask (+b/-b)",
    "  /invite NICK [#R]  invite someone to the current room (or #R)",
    "  /ignore [NICK]     hide NICK's messages (alone: list who is ignored)",
    "  /unignore NICK     show NICK's messages again",
    "  /quit [REASON]     leave the server",
    "  /quote LINE        send a raw IRC line (e.g. /quote MODE #room +m)",
    "  /history [N]       show N earlier messages of the current room (default 20)",
    "  /help              this list",
    "Anything else is said in the current room.",
    "Full-screen keys: Alt-1..9 (or Ctrl-N/P, Alt-Left/Right) switch windows, PageUp/PageDown",
    "  scroll (and load older history), F2 shows or hides the nick list, Tab completes nicks",
    "  and commands, Up/Down recall your lines, Ctrl-B/Ctrl-_/Ctrl-O type bold/underline/plain,",
    "  Ctrl-C clears the line (twice: quit).",
];

/// Every command name /help lists, for Tab completion.
pub const COMMANDS: &[&str] = &[
    "away", "ban", "close", "deop", "devoice", "help", "history", "ignore", "invite", "join",
    "kick", "list", "me", "mode", "msg", "names", "nick", "notice", "op", "part", "query", "quit",
    "quote", "topic", "unban", "unignore", "voice", "who", "whois", "win",
];

impl Command {
    /// Parse one line of input (without its newline).
    pub fn parse(line: &str) -> Result<Command, CommandError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(Command::Empty);
        }
        let Some(body) = line.strip_prefix('/') else {
            return Ok(Command::Say(line.to_string()));
        };
        if body.starts_with('/') {
            return Ok(Command::Say(body.to_string()));
        }
        let (name, rest) = match body.split_once(char::is_whitespace) {
            Some((name, rest)) => (name, rest.trim()),
            None => (body, ""),
        };
        let rest_opt = (!rest.is_empty()).then(|| rest.to_string());
        let (first, after_first) = match rest.split_once(char::is_whitespace) {
            Some((a, b)) => (a, b.trim()),
            None => (rest, ""),
        };
        match name.to_ascii_lowercase().as_str() {
            "query" | "q" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/query NICK [TEXT]"));
                }
                Ok(Command::Query {
                    nick: first.to_string(),
                    text: (!after_first.is_empty()).then(|| after_first.to_string()),
                })
            }
            "msg" | "m" => {
                if first.is_empty() || after_first.is_empty() {
                    return Err(CommandError::Usage("/msg NICK TEXT"));
                }
                Ok(Command::Msg {
                    target: first.to_string(),
                    text: after_first.to_string(),
                })
            }
            "join" | "j" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/join #ROOM"));
                }
                let room = if first.starts_with('#') {
                    first.to_string()
                } else {
                    format!("#{first}")
                };
                Ok(Command::Join(room))
            }
            "part" | "leave" => {
                if first.starts_with('#') {
                    let reason = (!after_first.is_empty()).then(|| after_first.to_string());
                    Ok(Command::Part {
                        room: Some(first.to_string()),
                        reason,
                    })
                } else {
                    Ok(Command::Part {
                        room: None,
                        reason: rest_opt,
                    })
                }
            }
            "names" => Ok(Command::Names(
                (!first.is_empty()).then(|| first.to_string()),
            )),
            "who" => Ok(Command::Who((!first.is_empty()).then(|| first.to_string()))),
            "whois" | "wi" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/whois NICK"));
                }
                Ok(Command::Whois(first.to_string()))
            }
            "away" => Ok(Command::Away(rest_opt)),
            "list" => Ok(Command::List),
            "nick" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/nick NEWNICK"));
                }
                Ok(Command::Nick(first.to_string()))
            }
            "me" => match rest_opt {
                Some(action) => Ok(Command::Me(action)),
                None => Err(CommandError::Usage("/me ACTION")),
            },
            "topic" => Ok(Command::Topic(rest_opt)),
            "quit" | "exit" | "bye" => Ok(Command::Quit(rest_opt)),
            "help" | "?" => Ok(Command::Help),
            "history" | "hist" => match first {
                "" => Ok(Command::History(20)),
                n => match n.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Command::History(n)),
                    _ => Err(CommandError::Usage("/history [N], N a number above 0")),
                },
            },
            "quote" | "raw" => match rest_opt {
                Some(raw) => Ok(Command::Quote(raw)),
                None => Err(CommandError::Usage("/quote IRC-LINE")),
            },
            "notice" => {
                if first.is_empty() || after_first.is_empty() {
                    return Err(CommandError::Usage("/notice NICK TEXT"));
                }
                Ok(Command::Notice {
                    target: first.to_string(),
                    text: after_first.to_string(),
                })
            }
            "mode" => {
                let mut words: Vec<String> = rest.split_whitespace().map(String::from).collect();
                let target = match words.first() {
                    Some(w) if !w.starts_with(['+', '-']) => Some(words.remove(0)),
                    _ => None,
                };
                Ok(Command::Mode {
                    target,
                    changes: words,
                })
            }
            verb @ ("op" | "deop" | "voice" | "devoice") => {
                let (mode, usage) = match verb {
                    "op" => ("+o", "/op NICK…"),
                    "deop" => ("-o", "/deop NICK…"),
                    "voice" => ("+v", "/voice NICK…"),
                    _ => ("-v", "/devoice NICK…"),
                };
                let nicks: Vec<String> = rest.split_whitespace().map(String::from).collect();
                if nicks.is_empty() {
                    return Err(CommandError::Usage(usage));
                }
                Ok(Command::Privilege { mode, nicks })
            }
            "kick" | "k" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/kick NICK [REASON]"));
                }
                Ok(Command::Kick {
                    nick: first.to_string(),
                    reason: (!after_first.is_empty()).then(|| after_first.to_string()),
                })
            }
            verb @ ("ban" | "unban") => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/ban NICK or /ban NICK!USER@HOST"));
                }
                let mask = if first.contains(['!', '@']) {
                    first.to_string()
                } else {
                    format!("{first}!*@*")
                };
                Ok(Command::Ban {
                    mask,
                    on: verb == "ban",
                })
            }
            "invite" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/invite NICK [#ROOM]"));
                }
                Ok(Command::Invite {
                    nick: first.to_string(),
                    room: (!after_first.is_empty()).then(|| after_first.to_string()),
                })
            }
            "ignore" => Ok(Command::Ignore(
                (!first.is_empty()).then(|| first.to_string()),
            )),
            "unignore" => {
                if first.is_empty() {
                    return Err(CommandError::Usage("/unignore NICK"));
                }
                Ok(Command::Unignore(first.to_string()))
            }
            "win" | "window" | "w" => match first.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Command::Window(n)),
                _ => Err(CommandError::Usage(
                    "/win N, N the window's number (1 and up)",
                )),
            },
            "close" | "wc" => Ok(Command::Close(
                (!first.is_empty()).then(|| first.to_string()),
            )),
            _ => Err(CommandError::Unknown(name.chars().take(32).collect())),
        }
    }
}
