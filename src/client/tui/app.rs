//! [`App`]: the full-screen client as one pure state machine. Server lines,
//! keys, pastes and clock ticks in; IRC lines out (as the session's
//! [`Output`]s) and a screen drawn from the state (see `render.rs`).
//!
//! The [`Session`] stays the one authority on where plain text goes: the
//! app switches windows by telling the session, then shows the window of
//! the session's current room or conversation. Must never do I/O: the
//! shell (`shell.rs`) passes the time in and carries the outputs out.

use super::colour::Palette;
use super::editor::{Editor, Key};
use super::roster::Roster;
use super::window::{Entry, WindowKind, Windows};
use crate::client::{ChatStyle, Clock, Command, DisplayLine, LineKind, Output, Session};
use crate::proto::{casefold, Message};
use std::time::{Duration, Instant};

/// How often the lag is measured (a PING with a token of ours).
const LAG_EVERY: Duration = Duration::from_secs(30);
/// Messages asked for at a time when scrolling past what is loaded.
const FETCH: usize = 50;

/// The time, twice: the person's clock (shown) and a monotonic instant
/// (for the lag).
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    pub clock: Clock,
    pub at: Instant,
    /// The person's date, when known: history from today is shown
    /// without its date.
    pub today: Option<chrono::NaiveDate>,
}

impl Moment {
    /// The machine's time now.
    pub fn now() -> Moment {
        let now = chrono::Local::now();
        Moment {
            clock: now.into(),
            at: Instant::now(),
            today: Some(now.date_naive()),
        }
    }
}

/// How the screen looks (`--no-color`, `--nick-color`,
/// `--timestamp-format`, and the nick list toggled with F2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOptions {
    pub palette: Palette,
    /// A chrono `strftime` format, `%H:%M` by default.
    pub timestamp: String,
    pub nick_list: bool,
}

impl Default for ViewOptions {
    fn default() -> ViewOptions {
        ViewOptions {
            palette: Palette::default(),
            timestamp: "%H:%M".to_string(),
            nick_list: true,
        }
    }
}

/// A question the input line asks before doing something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Ctrl-C on an empty line: quit?
    Quit,
    /// Several pasted lines: send each as a message?
    Paste(Vec<String>),
}

/// The full-screen client's state.
#[derive(Debug)]
pub struct App {
    pub(super) session: Session,
    pub(super) roster: Roster,
    pub(super) windows: Windows,
    pub(super) editor: Editor,
    pub(super) view: ViewOptions,
    pub(super) confirm: Option<Confirm>,
    /// Said in the input line until the next key.
    pub(super) hint: Option<String>,
    /// Columns and rows of the terminal.
    pub(super) size: (u16, u16),
    pub(super) lag: Option<Duration>,
    ping: Option<(String, Instant)>,
    last_ping: Option<Instant>,
    pings: u64,
    pub(super) now: Option<Moment>,
    /// Rooms (folded) and `*` for this user whose modes the app asked for
    /// itself, for the status line: their answers are not shown as lines.
    asked_modes: Vec<String>,
}

impl App {
    /// An app around `session`, for a terminal of `size` (columns, rows).
    pub fn new(session: Session, view: ViewOptions, size: (u16, u16)) -> App {
        App {
            session,
            roster: Roster::default(),
            windows: Windows::default(),
            editor: Editor::default(),
            view,
            confirm: None,
            hint: None,
            size,
            lag: None,
            ping: None,
            last_ping: None,
            pings: 0,
            now: None,
            asked_modes: Vec::new(),
        }
    }

    /// The session inside (whether it is quitting, the server's last error).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The windows.
    pub fn windows(&self) -> &Windows {
        &self.windows
    }

    /// The line being typed.
    pub fn input(&self) -> String {
        self.editor.text()
    }

    /// What the input line is asking, if anything.
    pub fn confirming(&self) -> Option<&Confirm> {
        self.confirm.as_ref()
    }

    /// The lines that open registration.
    pub fn start(&mut self, now: Moment) -> Vec<Output> {
        let out = self.session.start();
        self.absorb(out, &[], now)
    }

    /// The terminal changed size.
    pub fn resize(&mut self, columns: u16, rows: u16) {
        self.size = (columns, rows);
    }

    /// Shows a line from the shell itself (a lost connection, say) in the
    /// window being looked at.
    pub fn show(&mut self, line: DisplayLine, now: Moment) {
        let i = self.windows.active();
        self.windows.push(
            i,
            Entry {
                time: now.clock.local,
                date: None,
                line,
                mention: false,
            },
        );
    }

    /// One line from the server.
    pub fn handle_server_line(&mut self, line: &str, now: Moment) -> Vec<Output> {
        self.now = Some(now);
        let mut fanout = Vec::new();
        if let Ok(msg) = Message::parse(line) {
            let command = msg.command.to_ascii_uppercase();
            if command == "PONG" {
                if let Some((token, sent)) = &self.ping {
                    if msg.params.last() == Some(token) {
                        self.lag = Some(now.at.saturating_duration_since(*sent));
                        self.ping = None;
                        return Vec::new();
                    }
                }
            }
            if command == "QUIT" || command == "NICK" {
                // Shown in every room the person was in, and in a private
                // conversation with them.
                let nick = msg
                    .source
                    .as_deref()
                    .and_then(|s| s.split('!').next())
                    .unwrap_or("");
                fanout = self.roster.rooms_of(nick);
                if self.windows.find(nick).is_some() {
                    fanout.push(nick.to_string());
                }
            }
            let me = self.session.nick().to_string();
            self.roster.handle(&msg, &me);
            let mut out = self.session.handle_server_line(line, now.clock);
            if self.answers_asked_modes(&msg, &command) {
                out.retain(|o| !matches!(o, Output::Display(_)));
            }
            out.extend(self.ask_modes(&msg, &command));
            return self.absorb(out, &fanout, now);
        }
        let out = self.session.handle_server_line(line, now.clock);
        self.absorb(out, &fanout, now)
    }

    /// After registering, and after joining a room, asks for the modes the
    /// status line shows (irssi does the same).
    fn ask_modes(&mut self, msg: &Message, command: &str) -> Vec<Output> {
        let me = self.session.nick().to_string();
        let target = match command {
            "001" => me.clone(),
            "JOIN" => {
                let from = msg.source.as_deref().and_then(|s| s.split('!').next());
                if from.is_none_or(|f| casefold(f) != casefold(&me)) {
                    return Vec::new();
                }
                msg.param(0).to_string()
            }
            _ => return Vec::new(),
        };
        if target.is_empty() || target.contains(',') {
            return Vec::new();
        }
        let key = if command == "001" {
            "*".to_string()
        } else {
            casefold(&target)
        };
        self.asked_modes.push(key);
        vec![Output::Send(Message::new("MODE", [target]).to_string())]
    }

    /// Whether `msg` answers a mode question of [`App::ask_modes`].
    fn answers_asked_modes(&mut self, msg: &Message, command: &str) -> bool {
        let key = match command {
            "221" => "*".to_string(),
            "324" => casefold(msg.param(1)),
            _ => return false,
        };
        match self.asked_modes.iter().position(|k| *k == key) {
            Some(i) => {
                self.asked_modes.remove(i);
                true
            }
            None => false,
        }
    }

    /// A second passed: measures the lag now and then.
    pub fn handle_tick(&mut self, now: Moment) -> Vec<Output> {
        self.now = Some(now);
        if !self.session.is_registered() || self.session.is_quitting() || self.ping.is_some() {
            return Vec::new();
        }
        if self
            .last_ping
            .is_some_and(|last| now.at.saturating_duration_since(last) < LAG_EVERY)
        {
            return Vec::new();
        }
        self.pings += 1;
        let token = format!("natter-lag-{}", self.pings);
        self.ping = Some((token.clone(), now.at));
        self.last_ping = Some(now.at);
        vec![Output::Send(Message::new("PING", [token]).to_string())]
    }

    /// The lag: the last PING's round trip, or how long the outstanding
    /// one has waited if that is longer.
    pub fn lag(&self) -> Option<Duration> {
        let waiting = match (&self.ping, self.now) {
            (Some((_, sent)), Some(now)) => Some(now.at.saturating_duration_since(*sent)),
            _ => None,
        };
        match (self.lag, waiting) {
            (Some(l), Some(w)) => Some(l.max(w)),
            (l, w) => l.or(w.filter(|w| *w > Duration::from_secs(5))),
        }
    }

    /// Text pasted at once: one line goes into the input line; several
    /// are sent as separate messages once the person says yes.
    pub fn handle_paste(&mut self, text: &str) {
        let lines: Vec<String> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .filter(|l| !l.trim().is_empty())
            .collect();
        match lines.len() {
            0 => {}
            1 => self.editor.insert(&lines[0]),
            _ => self.confirm = Some(Confirm::Paste(lines)),
        }
    }

    /// One key press.
    pub fn handle_key(&mut self, key: Key, now: Moment) -> Vec<Output> {
        self.now = Some(now);
        self.hint = None;
        if let Some(confirm) = self.confirm.take() {
            return self.answer(confirm, &key, now);
        }
        match key {
            Key::Ctrl('c') | Key::Ctrl('d') if !self.editor.is_empty() => {
                if key == Key::Ctrl('c') {
                    self.editor.clear();
                    self.hint = Some("Line cleared (Ctrl-C on an empty line quits)".into());
                } else {
                    self.editor.handle_key(&key, &[]);
                }
            }
            Key::Ctrl('c') | Key::Ctrl('d') => self.confirm = Some(Confirm::Quit),
            Key::Alt(d) if d.is_ascii_digit() => {
                let n = d.to_digit(10).unwrap_or(0) as usize;
                self.switch(if n == 0 { 9 } else { n - 1 });
            }
            Key::AltRight | Key::Ctrl('n') => self.switch(self.windows.next()),
            Key::AltLeft | Key::Ctrl('p') => self.switch(self.windows.previous()),
            Key::PageUp => return self.scroll_up(),
            Key::PageDown => self.scroll_down(),
            Key::F(2) => self.view.nick_list = !self.view.nick_list,
            // Back to the newest lines.
            Key::Esc => self.windows.current_mut().scroll = 0,
            key => {
                let nicks = self.completion_nicks();
                if let Some(line) = self.editor.handle_key(&key, &nicks) {
                    return self.submit(&line, now);
                }
            }
        }
        Vec::new()
    }

    fn answer(&mut self, confirm: Confirm, key: &Key, now: Moment) -> Vec<Output> {
        let yes = matches!(key, Key::Char('y' | 'Y') | Key::Enter);
        match confirm {
            Confirm::Quit if yes || *key == Key::Ctrl('c') => self.submit("/quit", now),
            Confirm::Quit => {
                self.hint = Some("Not quitting".into());
                Vec::new()
            }
            Confirm::Paste(lines) if yes => {
                let mut out = Vec::new();
                for line in lines {
                    // `/` at the start of a pasted line is text, not a command.
                    let line = if line.starts_with('/') {
                        format!("/{line}")
                    } else {
                        line
                    };
                    out.extend(self.submit(&line, now));
                }
                out
            }
            Confirm::Paste(_) => {
                self.hint = Some("Paste not sent".into());
                Vec::new()
            }
        }
    }

    /// A typed line: `/win N` switches here; everything else is the
    /// session's.
    fn submit(&mut self, line: &str, now: Moment) -> Vec<Output> {
        if let Ok(Command::Window(n)) = Command::parse(line) {
            if n > self.windows.list().len() {
                self.hint = Some(format!(
                    "There is no window {n} (there are {})",
                    self.windows.list().len()
                ));
            } else {
                self.switch(n - 1);
            }
            return Vec::new();
        }
        if let Ok(Command::History(n)) = Command::parse(line) {
            // `/history` pages like PageUp: above what is loaded.
            let w = self.windows.current_mut();
            if w.kind != WindowKind::Status && !w.fetching && self.session.has_chathistory() {
                w.begin_page(n);
            }
        }
        let out = self.session.handle_input(line, now.clock);
        self.absorb(out, &[], now)
    }

    /// Shows window `i` by making its room or conversation the session's
    /// current one.
    fn switch(&mut self, i: usize) {
        let Some(w) = self.windows.list().get(i) else {
            return;
        };
        match w.kind {
            WindowKind::Status => self.session.switch_to(None),
            _ => {
                let name = w.name.clone();
                self.session.switch_to(Some(&name));
            }
        }
        self.sync_windows();
    }

    /// The nicks Tab completes in the current window: in a room, those
    /// who spoke most recently first (as irssi does), then everyone else
    /// in alphabetical order; never this user.
    fn completion_nicks(&self) -> Vec<String> {
        let w = self.windows.current();
        match w.kind {
            WindowKind::Room => {
                let me = casefold(self.session.nick());
                let mut members = self
                    .roster
                    .room(&w.name)
                    .map(|r| r.nicks())
                    .unwrap_or_default();
                members.sort_by_key(|n| n.to_lowercase());
                let mut ordered: Vec<String> = Vec::new();
                for entry in w.entries().iter().rev() {
                    let Some(chat) = entry.line.chat() else {
                        continue;
                    };
                    let folded = casefold(&chat.nick);
                    let present = members.iter().any(|m| casefold(m) == folded);
                    let listed = ordered.iter().any(|o| casefold(o) == folded);
                    if present && !listed && folded != me {
                        ordered.push(chat.nick.clone());
                    }
                }
                for m in members {
                    let folded = casefold(&m);
                    if folded != me && !ordered.iter().any(|o| casefold(o) == folded) {
                        ordered.push(m);
                    }
                }
                ordered
            }
            WindowKind::Query => vec![w.name.clone()],
            WindowKind::Status => Vec::new(),
        }
    }

    fn scroll_up(&mut self) -> Vec<Output> {
        let (width, height) = self.message_area();
        let total = self.rows(self.windows.current(), width).len();
        let max = total.saturating_sub(height);
        let w = self.windows.current_mut();
        w.scroll = (w.scroll + height.saturating_sub(1).max(1)).min(max);
        let at_top = w.scroll >= max;
        let can_fetch = match w.kind {
            WindowKind::Room => true,
            WindowKind::Query => self.session.account().is_some(),
            WindowKind::Status => false,
        };
        if at_top && can_fetch && !w.fetching && !w.exhausted && self.session.has_chathistory() {
            w.begin_page(FETCH);
            let name = w.name.clone();
            return self.session.fetch_earlier(&name, FETCH);
        }
        Vec::new()
    }

    fn scroll_down(&mut self) {
        let (_, height) = self.message_area();
        let w = self.windows.current_mut();
        w.scroll = w.scroll.saturating_sub(height.saturating_sub(1).max(1));
    }

    /// Puts the session's display lines into their windows; returns the
    /// other outputs, for the shell. `fanout`: the windows a line about a
    /// person (a quit, a nick change) belongs in.
    fn absorb(&mut self, outputs: Vec<Output>, fanout: &[String], now: Moment) -> Vec<Output> {
        self.sync_windows();
        let mut rest = Vec::new();
        for output in outputs {
            match output {
                Output::Display(line) => self.place(line, fanout, now),
                other => rest.push(other),
            }
        }
        self.sync_windows();
        rest
    }

    fn place(&mut self, line: DisplayLine, fanout: &[String], now: Moment) {
        if self.ends_a_fetch(&line) {
            return;
        }
        let me = self.session.nick().to_string();
        let mention = line.chat().is_some_and(|c| {
            !c.own && (line.kind() == LineKind::Private || names(&c.plain_body(), &me))
        });
        let (time, date) = match line.chat() {
            Some(c) => (c.time, c.date),
            None => (now.clock.local, None),
        };
        let current = self
            .session
            .current_room()
            .and_then(|c| self.windows.find(c))
            .unwrap_or(0);
        let mut targets: Vec<usize> = match line.window() {
            Some(name) if name.starts_with(['#', '&']) => {
                let joined = self
                    .session
                    .rooms()
                    .iter()
                    .any(|r| casefold(r) == casefold(name));
                match self.windows.find(name) {
                    Some(i) if joined => vec![i],
                    _ => vec![current],
                }
            }
            // A conversation's window opens when someone writes to you;
            // your own `/msg` and notices (NickServ's answers, say) show
            // where you are unless the conversation has a window already.
            Some(nick) => match self.windows.find(nick) {
                Some(i) => vec![i],
                None if line
                    .chat()
                    .is_some_and(|c| c.own || c.style == ChatStyle::Notice) =>
                {
                    vec![current]
                }
                None => {
                    self.session.note_query(nick);
                    vec![self.windows.open(nick)]
                }
            },
            None if !fanout.is_empty() => {
                fanout.iter().filter_map(|n| self.windows.find(n)).collect()
            }
            None => vec![current],
        };
        if targets.is_empty() {
            targets.push(current);
        }
        let (width, _) = self.message_area();
        for i in targets {
            let entry = Entry {
                time,
                date,
                line: line.clone(),
                mention,
            };
            // Someone reading further up keeps seeing the same lines.
            let reading = i == self.windows.active() && self.windows.current().scroll > 0;
            let rows = if reading {
                self.entry_rows(&entry, width).len()
            } else {
                0
            };
            let at = self.windows.push(i, entry);
            if reading && at.is_some_and(|at| self.windows.current().is_last(at)) {
                self.windows.current_mut().scroll += rows;
            }
        }
    }

    /// The end of a page of earlier history: not shown (unless there was
    /// none), but it says whether there is more.
    fn ends_a_fetch(&mut self, line: &DisplayLine) -> bool {
        if line.kind() == LineKind::Error && line.text().starts_with("*** CHATHISTORY") {
            // The server refused a page: stop asking, and say why.
            for w in 0..self.windows.list().len() {
                let name = self.windows.list()[w].name.clone();
                if let Some(w) = self.windows.get_mut(&name).filter(|w| w.fetching) {
                    w.end_page(false);
                }
            }
            return false;
        }
        if line.kind() != LineKind::Info {
            return false;
        }
        let text = line.text();
        let none = text.starts_with("*** No earlier messages");
        if !none && !text.starts_with("*** End of ") {
            return false;
        }
        let Some(name) = text.rsplit(' ').next() else {
            return false;
        };
        match self.windows.get_mut(name) {
            Some(w) if w.fetching => {
                let count = text
                    .strip_prefix("*** End of ")
                    .and_then(|t| t.split(' ').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0);
                let size = w.page_size;
                w.end_page(!none && count >= size);
                // "No earlier messages" is worth saying; a page's end is not.
                !none
            }
            _ => false,
        }
    }

    /// Windows follow the session: one per room and conversation, and the
    /// session's current one shown.
    fn sync_windows(&mut self) {
        let open: Vec<String> = self
            .session
            .rooms()
            .iter()
            .chain(self.session.queries())
            .cloned()
            .collect();
        for name in &open {
            self.windows.open(name);
        }
        let gone: Vec<String> = self
            .windows
            .list()
            .iter()
            .filter(|w| w.kind != WindowKind::Status)
            .filter(|w| !open.iter().any(|o| casefold(o) == casefold(&w.name)))
            .map(|w| w.name.clone())
            .collect();
        for name in gone {
            self.windows.close(&name);
        }
        let shown = self
            .session
            .current_room()
            .and_then(|c| self.windows.find(c))
            .unwrap_or(0);
        self.windows.show(shown);
    }
}

/// Whether `text` names `nick` as a word (any case).
pub(super) fn names(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    let nick = nick.to_lowercase();
    let is_word =
        |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || "[]\\`_^{|}-".contains(c)));
    lower.match_indices(&nick).any(|(i, _)| {
        is_word(lower[..i].chars().next_back()) && is_word(lower[i + nick.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nick_is_named_only_as_a_whole_word() {
        assert!(names("hey alice, lunch?", "Alice"));
        assert!(names("alice: hi", "alice"));
        assert!(!names("malice aforethought", "alice"));
        assert!(!names("alice_ is another", "alice"));
    }
}
