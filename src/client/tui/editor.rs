//! The input line: editing, history, and Tab completion, as a pure state
//! machine. Keys in ([`Key`]), a submitted line or nothing out; the screen
//! reads [`Editor::text`] and [`Editor::cursor`].
//!
//! Must never touch the terminal: the shell turns terminal events into
//! [`Key`]s, so the same keys drive the tests.

use crate::client::COMMANDS;

/// A key press, as the interface understands it (independent of the
/// terminal library).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    Tab,
    PageUp,
    PageDown,
    Esc,
    /// Ctrl with a letter (lowercase), e.g. `Ctrl('c')`.
    Ctrl(char),
    /// Alt with a character, e.g. `Alt('1')`.
    Alt(char),
    AltLeft,
    AltRight,
    /// A function key, F1–F12.
    F(u8),
}

/// Lines kept for Up/Down.
const HISTORY: usize = 500;

/// Tab completion in progress: the word being completed and the choices.
#[derive(Debug, Clone)]
struct Completion {
    /// Where the completed word starts (in chars).
    start: usize,
    choices: Vec<String>,
    index: usize,
}

/// The line being typed.
///
/// ```
/// use natter::client::tui::{Editor, Key};
/// let mut e = Editor::default();
/// for c in "hi al".chars() {
///     e.handle_key(&Key::Char(c), &[]);
/// }
/// e.handle_key(&Key::Tab, &["alice".to_string(), "bob".to_string()]);
/// assert_eq!(e.text(), "hi alice ");
/// assert_eq!(e.handle_key(&Key::Enter, &[]), Some("hi alice ".to_string()));
/// assert_eq!(e.text(), "");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Editor {
    chars: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Where Up/Down is in the history (None: at the line being typed).
    browsing: Option<usize>,
    /// The line being typed before Up was pressed.
    draft: String,
    completion: Option<Completion>,
}

impl Editor {
    /// What is typed.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The cursor's position, in chars from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Empties the line (Ctrl-C).
    pub fn clear(&mut self) {
        self.chars.clear();
        self.cursor = 0;
        self.browsing = None;
        self.completion = None;
    }

    /// Puts `text` at the cursor (a one-line paste).
    pub fn insert(&mut self, text: &str) {
        for c in text.chars().filter(|c| !c.is_control()) {
            self.chars.insert(self.cursor, c);
            self.cursor += 1;
        }
        self.completion = None;
    }

    /// Handles one key; returns the line when Enter submits it. `nicks`
    /// are the names Tab completes (the current room's people), in the
    /// order Tab offers them.
    pub fn handle_key(&mut self, key: &Key, nicks: &[String]) -> Option<String> {
        if *key != Key::Tab {
            self.completion = None;
        }
        match key {
            Key::Char(c) if !c.is_control() => {
                self.chars.insert(self.cursor, *c);
                self.cursor += 1;
            }
            Key::Enter => return self.submit(),
            Key::Backspace | Key::Ctrl('h') if self.cursor > 0 => {
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            Key::Delete | Key::Ctrl('d') if self.cursor < self.chars.len() => {
                self.chars.remove(self.cursor);
            }
            // mIRC formatting, as irssi types it: Ctrl-B bold, Ctrl-_
            // underline (some terminals send Ctrl-7), Ctrl-O plain again.
            Key::Ctrl(c @ ('b' | '_' | '7' | 'o')) => {
                let code = match c {
                    'b' => '\x02',
                    'o' => '\x0f',
                    _ => '\x1f',
                };
                self.chars.insert(self.cursor, code);
                self.cursor += 1;
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right | Key::Ctrl('f') => self.cursor = (self.cursor + 1).min(self.chars.len()),
            Key::Home | Key::Ctrl('a') => self.cursor = 0,
            Key::End | Key::Ctrl('e') => self.cursor = self.chars.len(),
            Key::Ctrl('u') => {
                self.chars.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::Ctrl('k') => self.chars.truncate(self.cursor),
            Key::Ctrl('w') => {
                let mut start = self.cursor;
                while start > 0 && self.chars[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.chars[start - 1] != ' ' {
                    start -= 1;
                }
                self.chars.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Up => self.older(),
            Key::Down => self.newer(),
            Key::Tab => self.complete(nicks),
            _ => {}
        }
        None
    }

    fn submit(&mut self) -> Option<String> {
        let line = self.text();
        self.clear();
        self.draft.clear();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        Some(line)
    }

    fn set(&mut self, text: &str) {
        self.chars = text.chars().collect();
        self.cursor = self.chars.len();
    }

    fn older(&mut self) {
        let next = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.text();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        if let Some(line) = self.history.get(next).cloned() {
            self.set(&line);
        }
    }

    fn newer(&mut self) {
        let Some(i) = self.browsing else {
            return;
        };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            if let Some(line) = self.history.get(i + 1).cloned() {
                self.set(&line);
            }
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set(&draft);
        }
    }

    /// Completes the word before the cursor: `/com` to a command at the
    /// start of the line, anything else to a nick (`nick: ` at the start of
    /// the line). Tab again cycles through the other choices.
    fn complete(&mut self, nicks: &[String]) {
        if let Some(mut c) = self.completion.take() {
            if c.choices.len() > 1 {
                c.index = (c.index + 1) % c.choices.len();
                let choice = c.choices[c.index].clone();
                self.replace_word(c.start, &choice);
            }
            self.completion = Some(c);
            return;
        }
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        let word: String = self.chars[start..self.cursor].iter().collect();
        let lower = word.to_lowercase();
        let choices: Vec<String> = if start == 0 && word.starts_with('/') {
            COMMANDS
                .iter()
                .filter(|c| c.starts_with(&lower[1..]))
                .map(|c| format!("/{c} "))
                .collect()
        } else if word.is_empty() {
            Vec::new()
        } else {
            let found: Vec<String> = nicks
                .iter()
                .filter(|n| n.to_lowercase().starts_with(&lower))
                .map(|n| {
                    if start == 0 {
                        format!("{n}: ")
                    } else {
                        format!("{n} ")
                    }
                })
                .collect();
            found
        };
        let Some(first) = choices.first().cloned() else {
            return;
        };
        self.replace_word(start, &first);
        self.completion = Some(Completion {
            start,
            choices,
            index: 0,
        });
    }

    /// Replaces from `start` to the cursor with `text`.
    fn replace_word(&mut self, start: usize, text: &str) {
        self.chars.drain(start..self.cursor);
        let new: Vec<char> = text.chars().collect();
        let n = new.len();
        self.chars.splice(start..start, new);
        self.cursor = start + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(e: &mut Editor, text: &str) {
        for c in text.chars() {
            e.handle_key(&Key::Char(c), &[]);
        }
    }

    fn nicks() -> Vec<String> {
        ["alice", "Albert", "bob"].map(String::from).to_vec()
    }

    #[test]
    fn up_and_down_walk_the_history_and_come_back_to_the_draft() {
        let mut e = Editor::default();
        typed(&mut e, "first");
        e.handle_key(&Key::Enter, &[]);
        typed(&mut e, "second");
        e.handle_key(&Key::Enter, &[]);
        typed(&mut e, "draft");
        e.handle_key(&Key::Up, &[]);
        assert_eq!(e.text(), "second");
        e.handle_key(&Key::Up, &[]);
        assert_eq!(e.text(), "first");
        e.handle_key(&Key::Up, &[]);
        assert_eq!(e.text(), "first", "stops at the oldest");
        e.handle_key(&Key::Down, &[]);
        e.handle_key(&Key::Down, &[]);
        assert_eq!(e.text(), "draft");
    }

    #[test]
    fn tab_completes_a_nick_at_the_start_with_a_colon_and_cycles() {
        let mut e = Editor::default();
        typed(&mut e, "al");
        e.handle_key(&Key::Tab, &nicks());
        assert_eq!(e.text(), "alice: ", "in the order given");
        e.handle_key(&Key::Tab, &nicks());
        assert_eq!(e.text(), "Albert: ");
        e.handle_key(&Key::Tab, &nicks());
        assert_eq!(e.text(), "alice: ");
    }

    #[test]
    fn tab_completes_a_nick_inside_the_line_and_commands_at_the_start() {
        let mut e = Editor::default();
        typed(&mut e, "hi bo");
        e.handle_key(&Key::Tab, &nicks());
        assert_eq!(e.text(), "hi bob ");
        let mut e = Editor::default();
        typed(&mut e, "/wh");
        e.handle_key(&Key::Tab, &nicks());
        assert_eq!(e.text(), "/who ");
        e.handle_key(&Key::Tab, &nicks());
        assert_eq!(e.text(), "/whois ");
    }

    #[test]
    fn ctrl_b_and_ctrl_o_type_bold_and_plain_formatting_codes() {
        let mut e = Editor::default();
        e.handle_key(&Key::Ctrl('b'), &[]);
        typed(&mut e, "loud");
        e.handle_key(&Key::Ctrl('o'), &[]);
        typed(&mut e, " quiet");
        assert_eq!(
            e.handle_key(&Key::Enter, &[]),
            Some("\x02loud\x0f quiet".to_string())
        );
    }

    #[test]
    fn editing_keys_move_and_delete_where_the_cursor_is() {
        let mut e = Editor::default();
        typed(&mut e, "helo world");
        for _ in 0..7 {
            e.handle_key(&Key::Left, &[]);
        }
        e.handle_key(&Key::Char('l'), &[]);
        assert_eq!(e.text(), "hello world");
        e.handle_key(&Key::End, &[]);
        e.handle_key(&Key::Ctrl('w'), &[]);
        assert_eq!(e.text(), "hello ");
        e.handle_key(&Key::Home, &[]);
        e.handle_key(&Key::Delete, &[]);
        assert_eq!(e.text(), "ello ");
        e.handle_key(&Key::Ctrl('k'), &[]);
        assert_eq!(e.text(), "");
    }
}
