//! Drawing an [`App`] with ratatui: the title (topic), the window's lines
//! with the nick list beside them, the status line, and the input line.
//! Pure: reads the state, writes a ratatui buffer (a real terminal, or the
//! `TestBackend` of the snapshot tests).

use super::app::{names, App, Confirm};
use super::window::{Entry, Window, WindowKind};
use super::wrap::wrap;
use crate::client::{ChatStyle, LineKind};
use chrono::{NaiveDate, NaiveTime};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::fmt::Write as _;
use unicode_width::UnicodeWidthChar;

/// Input rows at most; longer input scrolls within them.
const INPUT_ROWS: usize = 3;
/// The nick list only appears on terminals at least this wide.
const NICK_LIST_MIN_COLUMNS: u16 = 60;

impl App {
    /// Draws the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.height < 4 || area.width < 10 {
            frame.render_widget(Paragraph::new("natter: the terminal is too small"), area);
            return;
        }
        let (input, cursor) = self.input_rows(area.width as usize);
        let input_height = input.len() as u16;
        let messages_height = area.height.saturating_sub(2 + input_height);
        let list_width = self.nick_list_width(area.width);
        let title = Rect::new(area.x, area.y, area.width, 1);
        let messages = Rect::new(area.x, area.y + 1, area.width - list_width, messages_height);
        let list = Rect::new(
            area.x + area.width - list_width,
            area.y + 1,
            list_width,
            messages_height,
        );
        let status = Rect::new(area.x, area.y + 1 + messages_height, area.width, 1);
        let input_area = Rect::new(area.x, status.y + 1, area.width, input_height);

        let bar = self.bar_style();
        frame.render_widget(Paragraph::new(self.title()).style(bar), title);
        let window = self.windows.current();
        let height = messages.height as usize;
        let rows = self.tail_rows(window, messages.width as usize, window.scroll + height);
        let scroll = window.scroll.min(rows.len().saturating_sub(height));
        let end = rows.len() - scroll;
        let start = end.saturating_sub(height);
        let visible: Vec<Line> = rows[start..end].to_vec();
        frame.render_widget(Paragraph::new(visible), messages);
        if list_width > 0 {
            frame.render_widget(Paragraph::new(self.nick_list(height)), list);
        }
        frame.render_widget(
            Paragraph::new(self.status_line(scroll > 0)).style(bar),
            status,
        );
        frame.render_widget(Paragraph::new(input), input_area);
        frame.set_cursor_position(Position::new(
            input_area.x + cursor.0 as u16,
            input_area.y + cursor.1 as u16,
        ));
    }

    /// The columns and rows chat lines have.
    pub(super) fn message_area(&self) -> (usize, usize) {
        let (columns, rows) = self.size;
        let (input, _) = self.input_rows(columns as usize);
        let height = (rows as usize).saturating_sub(2 + input.len());
        let width = columns.saturating_sub(self.nick_list_width(columns)) as usize;
        (width.max(1), height.max(1))
    }

    fn bar_style(&self) -> Style {
        if self.view.palette.colour {
            Style::default().bg(Color::Blue).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    fn nick_list_width(&self, columns: u16) -> u16 {
        let w = self.windows.current();
        if !self.view.nick_list || w.kind != WindowKind::Room || columns < NICK_LIST_MIN_COLUMNS {
            return 0;
        }
        let longest = self
            .roster
            .room(&w.name)
            .map(|r| {
                r.members()
                    .iter()
                    .map(|m| m.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        (longest as u16 + 2).clamp(10, 18)
    }

    fn title(&self) -> Line<'static> {
        let w = self.windows.current();
        let text = match w.kind {
            WindowKind::Status => {
                "natter-client · /help lists the commands · Alt-1…9 or Ctrl-N/P switch windows · F2 nick list".to_string()
            }
            WindowKind::Query => format!("Private conversation with {}", w.name),
            WindowKind::Room => match self.roster.room(&w.name) {
                Some(r) if !r.topic.is_empty() => crate::client::sanitize(&r.topic),
                _ => format!("{} (no topic)", w.name),
            },
        };
        Line::from(format!(" {text}"))
    }

    fn nick_list(&self, height: usize) -> Vec<Line<'static>> {
        let w = self.windows.current();
        let members = self
            .roster
            .room(&w.name)
            .map(|r| r.members())
            .unwrap_or_default();
        let border = self.view.palette.fg(Color::DarkGray);
        let count = format!("{} people", members.len());
        let mut lines = vec![Line::from(vec![
            Span::styled("│", border),
            Span::styled(count, border),
        ])];
        for m in members.iter().take(height.saturating_sub(1)) {
            let nick = m.trim_start_matches(['~', '&', '@', '%', '+']);
            let prefix = &m[..m.len() - nick.len()];
            let mut style = self.view.palette.nick(nick);
            if crate::proto::casefold(nick) == crate::proto::casefold(self.session.nick()) {
                style = style.add_modifier(Modifier::BOLD);
            }
            lines.push(Line::from(vec![
                Span::styled("│", border),
                Span::raw(prefix.to_string()),
                Span::styled(nick.to_string(), style),
            ]));
        }
        while lines.len() < height {
            lines.push(Line::from(Span::styled("│", border)));
        }
        lines
    }

    fn status_line(&self, scrolled: bool) -> Line<'static> {
        let mut spans = Vec::new();
        if let Some(now) = self.now {
            spans.push(Span::raw(format!(" {} ", now.clock.local.format("%H:%M"))));
        } else {
            spans.push(Span::raw(" "));
        }
        let modes = &self.roster.user_modes;
        spans.push(Span::raw(format!(
            "[{}{}] ",
            self.session.nick(),
            paren(modes)
        )));
        let w = self.windows.current();
        let room_modes = self
            .roster
            .room(&w.name)
            .map(|r| r.modes.clone())
            .unwrap_or_default();
        spans.push(Span::raw(format!(
            "[{}:{}{}] ",
            self.windows.active() + 1,
            w.name,
            paren(&room_modes)
        )));
        let activity = self.windows.activity();
        if !activity.is_empty() {
            spans.push(Span::raw("[Act: "));
            for (n, (window, mention)) in activity.iter().enumerate() {
                if n > 0 {
                    spans.push(Span::raw(" "));
                }
                let style = if *mention {
                    Style::default()
                        .add_modifier(Modifier::BOLD)
                        .patch(self.view.palette.fg(Color::LightMagenta))
                } else {
                    Style::default()
                };
                let mark = if *mention { "!" } else { "" };
                spans.push(Span::styled(format!("{window}{mark}"), style));
            }
            spans.push(Span::raw("] "));
        }
        if let Some(lag) = self.lag() {
            spans.push(Span::raw(format!("[Lag: {:.1}s] ", lag.as_secs_f64())));
        }
        if scrolled {
            spans.push(Span::styled(
                "-- more below (PageDown) --",
                Style::default().add_modifier(Modifier::BOLD),
            ));
        } else if w.fetching {
            spans.push(Span::raw("(loading history…)"));
        }
        Line::from(spans)
    }

    /// Every row of `window` at `width` columns, oldest first.
    pub(super) fn rows(&self, window: &Window, width: usize) -> Vec<Line<'static>> {
        self.tail_rows(window, width, usize::MAX)
    }

    /// The last `want` rows (or a few more) of `window`: only the lines on
    /// screen are wrapped, however long the scrollback.
    fn tail_rows(&self, window: &Window, width: usize, want: usize) -> Vec<Line<'static>> {
        let shown = std::ptr::eq(window, self.windows.current());
        let mut rows = Vec::new();
        for (i, entry) in window.entries().iter().enumerate().rev() {
            rows.extend(self.entry_rows(entry, width).into_iter().rev());
            if shown && window.marker == Some(i) {
                let label = " new ";
                let dashes = width.saturating_sub(label.len()) / 2;
                let text = format!("{}{label}{}", "─".repeat(dashes), "─".repeat(dashes));
                rows.push(Line::from(Span::styled(
                    text,
                    self.view.palette.fg(Color::LightRed),
                )));
            }
            if rows.len() >= want {
                break;
            }
        }
        rows.reverse();
        rows
    }

    pub(super) fn entry_rows(&self, entry: &Entry, width: usize) -> Vec<Line<'static>> {
        let p = &self.view.palette;
        let history = entry.line.kind() == LineKind::History;
        let today = self.now.and_then(|n| n.today);
        let day = entry.date.filter(|d| history && Some(*d) != today);
        let stamp = stamp(entry.time, day, &self.view.timestamp);
        let mut stamp_style = p.fg(Color::DarkGray);
        if history {
            stamp_style = stamp_style.add_modifier(Modifier::ITALIC);
        }
        let mut prefix = vec![Span::styled(format!("{stamp} "), stamp_style)];
        let me = self.session.nick();
        let body: Vec<Span<'static>> = match entry.line.chat() {
            Some(chat) => {
                let mut nick = p.nick(&chat.nick);
                if chat.own {
                    nick = nick.add_modifier(Modifier::BOLD);
                }
                if entry.mention {
                    nick = nick.add_modifier(Modifier::REVERSED);
                }
                let name = Span::styled(chat.nick.clone(), nick);
                match chat.style {
                    ChatStyle::Message => {
                        prefix.extend([Span::raw("<"), name, Span::raw("> ")]);
                    }
                    ChatStyle::Action => prefix.extend([Span::raw(" * "), name, Span::raw(" ")]),
                    ChatStyle::Notice => prefix.extend([Span::raw("-"), name, Span::raw("- ")]),
                }
                let highlight = Style::default()
                    .add_modifier(Modifier::BOLD)
                    .patch(p.fg(Color::Yellow));
                chat.body
                    .iter()
                    .flat_map(|piece| {
                        let base = p.text(&piece.style);
                        if chat.own {
                            vec![Span::styled(piece.text.clone(), base)]
                        } else {
                            highlight_nick(&piece.text, me, base, base.patch(highlight))
                        }
                    })
                    .collect()
            }
            None => {
                let text = entry.line.text();
                let text = text.strip_prefix("*** ").unwrap_or(text).to_string();
                let (mark, style) = match entry.line.kind() {
                    LineKind::Error => ("!!! ", p.fg(Color::LightRed)),
                    LineKind::Info => ("-!- ", p.fg(Color::Cyan)),
                    _ => ("-!- ", Style::default()),
                };
                prefix.push(Span::styled(mark, p.fg(Color::Cyan)));
                vec![Span::styled(text, style)]
            }
        };
        wrap(&prefix, &body, width)
    }

    /// The input line (or the question being asked), wrapped into at most
    /// [`INPUT_ROWS`] rows around the cursor; and where the cursor is.
    fn input_rows(&self, width: usize) -> (Vec<Line<'static>>, (usize, usize)) {
        let width = width.max(2);
        let prompt_style = Style::default().add_modifier(Modifier::BOLD);
        if let Some(confirm) = &self.confirm {
            let question = match confirm {
                Confirm::Quit => "Quit natter? [y/n] ".to_string(),
                Confirm::Paste(lines) => format!(
                    "Send the {} pasted lines to {} as {} messages? [y/n] ",
                    lines.len(),
                    self.windows.current().name,
                    lines.len()
                ),
            };
            let w: usize = question.chars().filter_map(|c| c.width()).sum();
            return (
                vec![Line::from(Span::styled(question, prompt_style))],
                (w.min(width - 1), 0),
            );
        }
        let prompt = format!("[{}] ", self.windows.current().name);
        let mut cells: Vec<(char, Style)> = prompt.chars().map(|c| (c, prompt_style)).collect();
        let typed_from = cells.len();
        // Formatting codes show as a reversed letter (B, U, O), as in irssi.
        let code = Style::default().add_modifier(Modifier::REVERSED);
        cells.extend(self.editor.text().chars().map(|c| match c {
            '\x02' => ('B', code),
            '\x1f' => ('U', code),
            '\x0f' => ('O', code),
            c => (c, Style::default()),
        }));
        if self.editor.is_empty() {
            if let Some(hint) = &self.hint {
                let dim = self.view.palette.fg(Color::DarkGray);
                let line = Line::from(vec![
                    Span::styled(prompt.clone(), prompt_style),
                    Span::styled(hint.clone(), dim),
                ]);
                let w: usize = prompt.chars().filter_map(|c| c.width()).sum();
                return (vec![line], (w.min(width - 1), 0));
            }
        }
        let cursor_at = typed_from + self.editor.cursor();
        let mut rows: Vec<Vec<(char, Style)>> = vec![Vec::new()];
        let mut used = 0;
        let mut cursor = (0, 0);
        for (i, &(c, style)) in cells.iter().enumerate() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width {
                rows.push(Vec::new());
                used = 0;
            }
            if i == cursor_at {
                cursor = (used, rows.len() - 1);
            }
            if let Some(row) = rows.last_mut() {
                row.push((c, style));
            }
            used += cw;
        }
        if cursor_at >= cells.len() {
            if used >= width {
                rows.push(Vec::new());
                used = 0;
            }
            cursor = (used, rows.len() - 1);
        }
        let first = (cursor.1 + 1).saturating_sub(INPUT_ROWS);
        let lines = rows
            .into_iter()
            .skip(first)
            .take(INPUT_ROWS)
            .map(|row| {
                Line::from(
                    row.into_iter()
                        .map(|(c, s)| Span::styled(c.to_string(), s))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        (lines, (cursor.0, cursor.1 - first))
    }
}

/// `(+nt)` for `+nt`, nothing for no modes.
fn paren(modes: &str) -> String {
    if modes.is_empty() {
        String::new()
    } else {
        format!("({modes})")
    }
}

/// The time as `format` says (falling back to `%H:%M` if the format cannot
/// be written), with the day first for history.
fn stamp(time: NaiveTime, date: Option<NaiveDate>, format: &str) -> String {
    let mut out = String::new();
    if let Some(date) = date {
        let _ = write!(out, "{} ", date.format("%b %d"));
    }
    let mut shown = String::new();
    if write!(shown, "{}", time.format(format)).is_err() {
        shown = time.format("%H:%M").to_string();
    }
    out + &shown
}

/// `text` as spans, with each whole-word occurrence of `nick` in `strong`.
fn highlight_nick(text: &str, nick: &str, base: Style, strong: Style) -> Vec<Span<'static>> {
    if nick.is_empty() || !names(text, nick) {
        return vec![Span::styled(text.to_string(), base)];
    }
    let mut spans = Vec::new();
    let lower = text.to_lowercase();
    let n = nick.to_lowercase();
    let mut last = 0;
    // Lowercasing keeps byte offsets for the ASCII letters nicks are made of.
    if lower.len() != text.len() {
        return vec![Span::styled(text.to_string(), base)];
    }
    for (i, _) in lower.match_indices(&n) {
        let end = i + n.len();
        if i < last {
            continue;
        }
        let before_ok = lower[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || "[]\\`_^{|}-".contains(c)));
        let after_ok = lower[end..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || "[]\\`_^{|}-".contains(c)));
        if !(before_ok && after_ok) {
            continue;
        }
        let (Some(before), Some(name)) = (text.get(last..i), text.get(i..end)) else {
            return vec![Span::styled(text.to_string(), base)];
        };
        if !before.is_empty() {
            spans.push(Span::styled(before.to_string(), base));
        }
        spans.push(Span::styled(name.to_string(), strong));
        last = end;
    }
    if let Some(rest) = text.get(last..).filter(|r| !r.is_empty()) {
        spans.push(Span::styled(rest.to_string(), base));
    }
    spans
}
