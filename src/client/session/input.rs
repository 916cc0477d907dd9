//! What the person types: `/commands` and plain lines, split to fit one IRC
//! line each. Part of [`Session`], kept apart so each file reads in one
//! sitting.

use super::*;

impl Session {
    pub(super) fn retry_nick(&mut self, nick: &str) -> Vec<Output> {
        if matches!(Command::parse(nick), Ok(Command::Quit(_))) {
            return self.quit(None);
        }
        if !is_valid_nick(nick) {
            return vec![display(
                LineKind::Error,
                format!(
                    "*** {nick:?} is not a valid nickname: use letters, digits and []\\`_^{{|}}-, \
                     not starting with a digit. Type another (or /quit):"
                ),
            )];
        }
        self.awaiting_nick = false;
        self.nick = nick.to_string();
        vec![
            send(Message::new("NICK", [nick])),
            display(LineKind::Info, format!("*** Trying the nickname {nick}…")),
        ]
    }

    pub(super) fn quit(&mut self, reason: Option<String>) -> Vec<Output> {
        self.quitting = true;
        let msg = match reason {
            Some(r) => Message::new("QUIT", [r]),
            None => Message::new("QUIT", Vec::<String>::new()),
        };
        vec![send(msg), Output::Quit]
    }

    pub(super) fn run_input(&mut self, line: &str, now: NaiveTime) -> Vec<Output> {
        let command = match Command::parse(line) {
            Ok(c) => c,
            Err(e) => return vec![display(LineKind::Error, format!("*** {e}"))],
        };
        let no_room = || {
            vec![display(
                LineKind::Error,
                "*** You are not in a room: /join #lobby first",
            )]
        };
        let current = self.current_room.clone();
        match command {
            Command::Empty => Vec::new(),
            Command::Say(text) => match current {
                Some(room) => self.send_text(&room, &text, false, now),
                None => no_room(),
            },
            Command::Msg { target, text } => self.send_text(&target, &text, false, now),
            Command::Query { nick, text } => {
                let mut out = self.open_query(&nick);
                if let (Some(text), Some(current)) = (text, self.current_room.clone()) {
                    if casefold(&current) == casefold(&nick) {
                        out.extend(self.send_text(&current, &text, false, now));
                    }
                }
                out
            }
            Command::Me(action) => match current {
                Some(room) => self.send_text(&room, &action, true, now),
                None => no_room(),
            },
            Command::Join(room) => match self.in_room(&room).and_then(|i| self.rooms.get(i)) {
                Some(joined) => {
                    let room = joined.clone();
                    self.current_room = Some(room.clone());
                    vec![display(
                        LineKind::Info,
                        format!("*** Now talking in {room}"),
                    )]
                }
                None => vec![send(Message::new("JOIN", [room]))],
            },
            Command::Part { room, reason } => match room.or(current) {
                Some(nick) if !is_channel(&nick) => self.close_query(&nick),
                Some(room) => {
                    let mut params = vec![room];
                    params.extend(reason);
                    vec![send(Message::new("PART", params))]
                }
                None => no_room(),
            },
            Command::Names(room) => match room.or(current) {
                Some(room) => vec![send(Message::new("NAMES", [room]))],
                None => no_room(),
            },
            Command::Who(target) => match target.or(current) {
                Some(target) => vec![send(Message::new("WHO", [target]))],
                None => no_room(),
            },
            Command::Whois(nick) => vec![send(Message::new("WHOIS", [nick]))],
            Command::Away(message) => vec![send(Message::new("AWAY", message))],
            Command::List => vec![send(Message::new("LIST", Vec::<String>::new()))],
            Command::Nick(nick) => {
                if is_valid_nick(&nick) {
                    vec![send(Message::new("NICK", [nick]))]
                } else {
                    vec![display(
                        LineKind::Error,
                        format!("*** {nick:?} is not a valid nickname: use letters, digits and []\\`_^{{|}}-, not starting with a digit"),
                    )]
                }
            }
            Command::Topic(text) => match current {
                Some(room) => {
                    let mut params = vec![room];
                    params.extend(text);
                    vec![send(Message::new("TOPIC", params))]
                }
                None => no_room(),
            },
            Command::Quit(reason) => self.quit(reason),
            Command::History(n) => match current {
                Some(_) if !self.chathistory => vec![display(
                    LineKind::Error,
                    "*** This server keeps no history this client can page through",
                )],
                Some(room) => {
                    let reference = match self.oldest.get(&casefold(&room)) {
                        Some(id) => format!("msgid={id}"),
                        None => "timestamp=9999-12-31T23:59:59.999Z".to_string(),
                    };
                    let n = n.to_string();
                    vec![send(Message::new(
                        "CHATHISTORY",
                        ["BEFORE", room.as_str(), reference.as_str(), n.as_str()],
                    ))]
                }
                None => no_room(),
            },
            Command::Help => HELP.iter().map(|l| display(LineKind::Info, *l)).collect(),
            command @ (Command::Notice { .. }
            | Command::Mode { .. }
            | Command::Privilege { .. }
            | Command::Kick { .. }
            | Command::Ban { .. }
            | Command::Invite { .. }
            | Command::Ignore(_)
            | Command::Unignore(_)
            | Command::Window(_)
            | Command::Close(_)) => self.run_room_command(command, current, now),
            Command::Quote(raw) => {
                let raw: String = raw
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                    .collect();
                vec![Output::Send(raw)]
            }
        }
    }

    /// PRIVMSGs carrying `text` to `target`, split to fit the line limit;
    /// shown locally unless the server will echo them.
    pub(super) fn send_text(
        &mut self,
        target: &str,
        text: &str,
        action: bool,
        now: NaiveTime,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let budget = MAX_LINE
            .saturating_sub(RELAY_OVERHEAD + target.len() + if action { 9 } else { 0 })
            .max(32);
        for chunk in split_at_budget(text, budget) {
            let body = if action {
                format!("\x01ACTION {chunk}\x01")
            } else {
                chunk.to_string()
            };
            out.push(send(Message::new("PRIVMSG", [target, body.as_str()])));
            if !self.echo_message {
                let nick = self.nick.clone();
                out.extend(self.render_message("PRIVMSG", &nick, target, &body, false, now));
            }
        }
        out
    }
}

/// `text` cut into pieces of at most `budget` bytes, at char boundaries,
/// preferring to break after a space.
pub(super) fn split_at_budget(text: &str, budget: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > budget {
        let mut end = budget;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(space) = rest[..end].rfind(' ').filter(|&i| i > budget / 2) {
            end = space + 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}
