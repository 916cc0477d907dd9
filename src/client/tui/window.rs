//! Windows: one for the server, one per room, one per private
//! conversation, each with its own scrollback, unread and mention counts,
//! and a marker where the unread lines begin. Pure state.

use crate::client::{DisplayLine, LineKind};
use crate::proto::casefold;
use chrono::{NaiveDate, NaiveTime};
use std::collections::VecDeque;

/// Lines kept per window; older ones are dropped (the server's history
/// brings them back when scrolled to).
pub const SCROLLBACK: usize = 2000;

/// What a window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The server's window: the welcome, errors, answers to commands.
    Status,
    Room,
    /// A private conversation with one person.
    Query,
}

/// One line in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it arrived (or, for history, when it was said).
    pub time: NaiveTime,
    pub date: Option<NaiveDate>,
    pub line: DisplayLine,
    /// Someone else's line that names this user, or writes privately.
    pub mention: bool,
}

/// A window and its scrollback.
#[derive(Debug, Clone)]
pub struct Window {
    pub name: String,
    pub kind: WindowKind,
    entries: VecDeque<Entry>,
    /// Lines that arrived while the window was not shown.
    pub unread: usize,
    /// Of those, how many name this user or were private.
    pub mentions: usize,
    /// Index of the first line not yet seen (where the marker goes).
    pub marker: Option<usize>,
    /// Rows scrolled up from the bottom (0: following new lines).
    pub scroll: usize,
    /// Earlier history was asked for and has not arrived yet.
    pub fetching: bool,
    /// The server has no earlier history for this window.
    pub exhausted: bool,
    /// While a page of earlier history arrives: where its next line goes
    /// (above every message already loaded).
    page_at: Option<usize>,
    /// How many messages the page asked for.
    pub page_size: usize,
}

impl Window {
    fn new(name: &str, kind: WindowKind) -> Window {
        Window {
            name: name.to_string(),
            kind,
            entries: VecDeque::new(),
            unread: 0,
            mentions: 0,
            marker: None,
            scroll: 0,
            fetching: false,
            exhausted: false,
            page_at: None,
            page_size: 0,
        }
    }

    /// The lines, oldest first.
    pub fn entries(&self) -> &VecDeque<Entry> {
        &self.entries
    }

    /// Adds `entry`: at the end, or for history, in time order among the
    /// history already shown (earlier pages arrive after later ones).
    /// `shown`: the person is looking at this window.
    /// Earlier history was asked for (`size` messages): its lines go above
    /// every message loaded so far, in the order they arrive.
    pub fn begin_page(&mut self, size: usize) {
        self.fetching = true;
        self.page_size = size;
        let first = self.entries.iter().position(|e| e.line.chat().is_some());
        self.page_at = Some(first.unwrap_or(self.entries.len()));
    }

    /// The page of earlier history is complete; `more`: the server may have
    /// still earlier messages.
    pub fn end_page(&mut self, more: bool) {
        self.fetching = false;
        self.page_at = None;
        self.exhausted = !more;
    }

    /// Returns where the entry went.
    fn push(&mut self, entry: Entry, shown: bool) -> usize {
        let paged = self
            .page_at
            .filter(|_| entry.line.kind() == LineKind::History);
        let at = if let Some(at) = paged {
            self.page_at = Some(at + 1);
            at.min(self.entries.len())
        } else if entry.line.kind() == LineKind::History && entry.date.is_some() {
            let key = (entry.date, entry.time);
            self.entries
                .iter()
                .position(|e| e.line.kind() == LineKind::History && (e.date, e.time) > key)
                .unwrap_or(self.entries.len())
        } else {
            self.entries.len()
        };
        let counts = !shown && matches!(entry.line.kind(), LineKind::Chat | LineKind::Private);
        if counts {
            self.unread += 1;
            if entry.mention {
                self.mentions += 1;
            }
            self.marker.get_or_insert(at);
        }
        if let Some(m) = self.marker.as_mut() {
            if at < *m {
                *m += 1;
            }
        }
        self.entries.insert(at, entry);
        let mut at = at;
        if self.entries.len() > SCROLLBACK {
            // A page of earlier history makes room at the other end.
            if paged.is_some() {
                self.entries.pop_back();
            } else {
                self.entries.pop_front();
                self.marker = self.marker.and_then(|m| m.checked_sub(1));
                self.page_at = self.page_at.map(|p| p.saturating_sub(1));
                at = at.saturating_sub(1);
            }
        }
        at
    }

    /// Whether entry `i` is the newest.
    pub fn is_last(&self, i: usize) -> bool {
        i + 1 == self.entries.len()
    }
}

/// All windows; the first is the server's.
#[derive(Debug, Clone)]
pub struct Windows {
    list: Vec<Window>,
    active: usize,
}

impl Default for Windows {
    fn default() -> Windows {
        Windows {
            list: vec![Window::new("status", WindowKind::Status)],
            active: 0,
        }
    }
}

impl Windows {
    /// The windows in order (window 1 is index 0).
    pub fn list(&self) -> &[Window] {
        &self.list
    }

    /// The index of the window being shown.
    pub fn active(&self) -> usize {
        self.active
    }

    /// The window being shown.
    pub fn current(&self) -> &Window {
        &self.list[self.active.min(self.list.len() - 1)]
    }

    /// The window being shown, to scroll it.
    pub fn current_mut(&mut self) -> &mut Window {
        let i = self.active.min(self.list.len() - 1);
        &mut self.list[i]
    }

    /// The index of the window named `name` (rooms and nicks ignore case).
    pub fn find(&self, name: &str) -> Option<usize> {
        let folded = casefold(name);
        self.list
            .iter()
            .position(|w| w.kind != WindowKind::Status && casefold(&w.name) == folded)
    }

    /// The window named `name`, to change it.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Window> {
        let i = self.find(name)?;
        self.list.get_mut(i)
    }

    /// Opens a window for `name` (a room or a nick) unless there is one;
    /// returns its index.
    pub fn open(&mut self, name: &str) -> usize {
        if let Some(i) = self.find(name) {
            return i;
        }
        let kind = if name.starts_with(['#', '&']) {
            WindowKind::Room
        } else {
            WindowKind::Query
        };
        self.list.push(Window::new(name, kind));
        self.list.len() - 1
    }

    /// Closes the window named `name` (never the server's).
    pub fn close(&mut self, name: &str) {
        if let Some(i) = self.find(name) {
            self.list.remove(i);
            if self.active >= i && self.active > 0 {
                self.active -= 1;
            }
        }
    }

    /// Shows window `i` (out of range: nothing happens): clears its unread
    /// counts, keeps its marker until the person leaves it again.
    pub fn show(&mut self, i: usize) {
        if i >= self.list.len() || i == self.active {
            return;
        }
        if let Some(old) = self.list.get_mut(self.active) {
            old.marker = None;
        }
        self.active = i;
        let w = &mut self.list[i];
        w.unread = 0;
        w.mentions = 0;
    }

    /// The next window (wrapping), for Alt-→ and Ctrl-N.
    pub fn next(&self) -> usize {
        (self.active + 1) % self.list.len()
    }

    /// The previous window (wrapping), for Alt-← and Ctrl-P.
    pub fn previous(&self) -> usize {
        (self.active + self.list.len() - 1) % self.list.len()
    }

    /// Adds a line to window `i`; returns where in the window it went.
    pub fn push(&mut self, i: usize, entry: Entry) -> Option<usize> {
        let shown = i == self.active;
        self.list.get_mut(i).map(|w| w.push(entry, shown))
    }

    /// Windows other than the shown one with unread lines: (number, has
    /// a mention), in window order.
    pub fn activity(&self) -> Vec<(usize, bool)> {
        self.list
            .iter()
            .enumerate()
            .filter(|(i, w)| *i != self.active && w.unread > 0)
            .map(|(i, w)| (i + 1, w.mentions > 0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: LineKind, text: &str, mention: bool) -> Entry {
        Entry {
            time: NaiveTime::MIN,
            date: None,
            line: DisplayLine::new(kind, text),
            mention,
        }
    }

    #[test]
    fn lines_in_hidden_windows_count_as_unread_until_shown() {
        let mut w = Windows::default();
        let lobby = w.open("#lobby");
        let bob = w.open("bob");
        w.push(lobby, entry(LineKind::Chat, "hi", false));
        w.push(lobby, entry(LineKind::Event, "carol joined", false));
        w.push(bob, entry(LineKind::Private, "psst", true));
        assert_eq!(w.activity(), [(2, false), (3, true)]);
        w.show(bob);
        assert_eq!(w.activity(), [(2, false)]);
        assert_eq!(w.current().marker, Some(0), "the marker stays while shown");
        w.show(lobby);
        assert_eq!(w.list()[bob].marker, None, "leaving clears the marker");
    }

    #[test]
    fn history_is_placed_in_time_order_before_later_history() {
        let mut w = Windows::default();
        let lobby = w.open("#lobby");
        let day = NaiveDate::from_ymd_opt(2026, 12, 6);
        let hist = |h: u32, text: &str| Entry {
            time: NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default(),
            date: day,
            line: DisplayLine::new(LineKind::History, text),
            mention: false,
        };
        w.push(lobby, entry(LineKind::Event, "You joined #lobby", false));
        w.push(lobby, hist(10, "ten"));
        w.push(lobby, hist(11, "eleven"));
        w.push(lobby, entry(LineKind::Chat, "live", false));
        w.push(lobby, hist(8, "eight"));
        w.push(lobby, hist(9, "nine"));
        let texts: Vec<&str> = w.list()[lobby]
            .entries()
            .iter()
            .map(|e| e.line.text())
            .collect();
        assert_eq!(
            texts,
            [
                "You joined #lobby",
                "eight",
                "nine",
                "ten",
                "eleven",
                "live"
            ]
        );
    }

    #[test]
    fn next_and_previous_wrap_around_and_closing_keeps_a_valid_window() {
        let mut w = Windows::default();
        w.open("#a");
        let b = w.open("#b");
        w.show(b);
        assert_eq!(w.next(), 0);
        assert_eq!(w.previous(), 1);
        w.close("#b");
        assert_eq!(w.current().name, "#a");
    }
}
