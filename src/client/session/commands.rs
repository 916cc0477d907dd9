//! The commands of rooms and people beyond talking: modes and privileges,
//! kicks and bans, invitations, notices, ignoring, closing windows. Part of
//! [`Session`], kept apart so each file reads in one sitting. Whatever the
//! server answers (including refusals such as 482) is shown with the
//! server's own words by `numerics.rs`.

use super::*;

impl Session {
    /// Runs one of the commands above; `current` is where plain text goes.
    pub(super) fn run_room_command(
        &mut self,
        command: Command,
        current: Option<String>,
        now: NaiveTime,
    ) -> Vec<Output> {
        let room = current.clone().filter(|c| is_channel(c));
        let no_room = || {
            vec![display(
                LineKind::Error,
                "*** This needs a room: switch to one (or /join #room) first",
            )]
        };
        match command {
            Command::Notice { target, text } => {
                let mut out = vec![send(Message::new("NOTICE", [target.as_str(), &text]))];
                if !self.echo_message {
                    let nick = self.nick.clone();
                    out.extend(self.render_message("NOTICE", &nick, &target, &text, false, now));
                }
                out
            }
            Command::Mode { target, changes } => {
                let Some(target) = target.or(room) else {
                    return no_room();
                };
                let mut params = vec![target];
                params.extend(changes);
                vec![send(Message::new("MODE", params))]
            }
            Command::Privilege { mode, nicks } => {
                let Some(room) = room else {
                    return no_room();
                };
                // One MODE line per three people: servers take at least three
                // mode changes per line (005 MODES), natter more.
                nicks
                    .chunks(3)
                    .map(|group| {
                        let sign = &mode[..1];
                        let letters = mode[1..].repeat(group.len());
                        let mut params = vec![room.clone(), format!("{sign}{letters}")];
                        params.extend(group.iter().cloned());
                        send(Message::new("MODE", params))
                    })
                    .collect()
            }
            Command::Kick { nick, reason } => {
                let Some(room) = room else {
                    return no_room();
                };
                let mut params = vec![room, nick];
                params.extend(reason);
                vec![send(Message::new("KICK", params))]
            }
            Command::Ban { mask, on } => {
                let Some(room) = room else {
                    return no_room();
                };
                let change = if on { "+b" } else { "-b" };
                vec![send(Message::new("MODE", [room.as_str(), change, &mask]))]
            }
            Command::Invite { nick, room: named } => match named.or(room) {
                Some(room) => vec![send(Message::new("INVITE", [nick, room]))],
                None => no_room(),
            },
            Command::Ignore(None) => {
                let line = if self.ignored.is_empty() {
                    "*** You ignore nobody".to_string()
                } else {
                    format!("*** You ignore: {}", self.ignored.join(" "))
                };
                vec![display(LineKind::Info, line)]
            }
            Command::Ignore(Some(nick)) => {
                if !self.is_ignored(&nick) {
                    self.ignored.push(nick.clone());
                }
                vec![display(
                    LineKind::Info,
                    format!("*** Ignoring {nick}: their messages are hidden (/unignore {nick})"),
                )]
            }
            Command::Unignore(nick) => {
                let before = self.ignored.len();
                self.ignored.retain(|i| casefold(i) != casefold(&nick));
                let line = if self.ignored.len() < before {
                    format!("*** No longer ignoring {nick}")
                } else {
                    format!("*** You were not ignoring {nick}")
                };
                vec![display(LineKind::Info, line)]
            }
            Command::Window(_) => vec![display(
                LineKind::Info,
                "*** Windows are in the full-screen interface; here /join #room or /query NICK \
                 switches where you talk",
            )],
            Command::Close(name) => match name.or(current) {
                Some(nick) if !is_channel(&nick) => self.close_query(&nick),
                Some(room) => vec![send(Message::new("PART", [room]))],
                None => vec![display(LineKind::Info, "*** Nothing to close here")],
            },
            _ => Vec::new(),
        }
    }

    /// Whether messages from `nick` are hidden.
    pub(super) fn is_ignored(&self, nick: &str) -> bool {
        let folded = casefold(nick);
        self.ignored.iter().any(|i| casefold(i) == folded)
    }

    /// Makes `target` (a room this user is in, or an open conversation) the
    /// place plain text goes; `None` for nowhere (the server's window).
    /// Anything else is ignored. For a windowed screen switching windows.
    pub fn switch_to(&mut self, target: Option<&str>) {
        match target {
            None => self.current_room = None,
            Some(t) => {
                let folded = casefold(t);
                let known = self
                    .rooms
                    .iter()
                    .chain(&self.queries)
                    .find(|r| casefold(r) == folded)
                    .cloned();
                if known.is_some() {
                    self.current_room = known;
                }
            }
        }
    }

    /// Counts `nick` among the open private conversations without switching
    /// to it (a windowed screen opens a window when someone writes).
    pub fn note_query(&mut self, nick: &str) {
        let folded = casefold(nick);
        if !is_channel(nick) && !self.queries.iter().any(|q| casefold(q) == folded) {
            self.queries.push(nick.to_string());
        }
    }

    /// Asks the server for `n` messages of `target` older than the oldest
    /// one seen (CHATHISTORY BEFORE); nothing when the server keeps none.
    pub fn fetch_earlier(&self, target: &str, n: usize) -> Vec<Output> {
        if !self.chathistory {
            return Vec::new();
        }
        let reference = match self.oldest.get(&casefold(target)) {
            Some(id) => format!("msgid={id}"),
            None => "timestamp=9999-12-31T23:59:59.999Z".to_string(),
        };
        let n = n.to_string();
        vec![send(Message::new(
            "CHATHISTORY",
            ["BEFORE", target, reference.as_str(), n.as_str()],
        ))]
    }
}
