//! Word wrapping of one chat line into screen rows: breaks at spaces, splits
//! only words longer than a row, and indents every continuation row under
//! the start of the message text (past the time and the nick).
//!
//! Pure: text and a width in, ratatui [`Line`]s out.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// `prefix` (time and nick) then `body`, in rows of at most `width`
/// columns. Continuation rows start with spaces as wide as the prefix, so
/// the text forms a column; when the prefix takes more than half the row,
/// continuations are indented by two columns instead.
///
/// ```
/// use natter::client::tui::wrap;
/// use ratatui::text::Span;
/// let rows = wrap(&[Span::raw("<al> ")], &[Span::raw("one two three")], 12);
/// let text: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
/// assert_eq!(text, ["<al> one two", "     three"]);
/// ```
pub fn wrap(prefix: &[Span<'static>], body: &[Span<'static>], width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let prefix_width: usize = prefix.iter().map(Span::width).sum();
    let indent = if prefix_width * 2 > width {
        2.min(width.saturating_sub(1))
    } else {
        prefix_width
    };
    let cells: Vec<(char, Style, usize)> = body
        .iter()
        .flat_map(|span| {
            span.content
                .chars()
                .map(move |c| (c, span.style, c.width().unwrap_or(0)))
        })
        .collect();

    // Rows of cells: the first row has room for width - prefix, the others
    // width - indent.
    let mut rows: Vec<Vec<(char, Style, usize)>> = vec![Vec::new()];
    let room = |row: usize| {
        if row == 0 {
            width.saturating_sub(prefix_width).max(1)
        } else {
            width.saturating_sub(indent).max(1)
        }
    };
    let mut used = 0;
    let mut i = 0;
    while i < cells.len() {
        let is_space = cells[i].0 == ' ';
        let mut j = i;
        while j < cells.len() && (cells[j].0 == ' ') == is_space {
            j += 1;
        }
        let token = &cells[i..j];
        let token_width: usize = token.iter().map(|c| c.2).sum();
        let row = rows.len() - 1;
        if used + token_width <= room(row) {
            if !(is_space && used == 0 && row > 0) {
                rows[row].extend_from_slice(token);
                used += token_width;
            }
        } else if is_space {
            // A break: the spaces vanish at the end of the row.
            rows.push(Vec::new());
            used = 0;
        } else if token_width <= room(row + 1) && used > 0 {
            rows.push(token.to_vec());
            used = token_width;
        } else {
            // A word longer than a row: cut it where the row ends.
            for &cell in token {
                let row = rows.len() - 1;
                if used + cell.2 > room(row) && used > 0 {
                    rows.push(Vec::new());
                    used = 0;
                }
                if let Some(last) = rows.last_mut() {
                    last.push(cell);
                }
                used += cell.2;
            }
        }
        i = j;
    }
    while rows.len() > 1 && rows.last().is_some_and(Vec::is_empty) {
        rows.pop();
    }

    rows.into_iter()
        .enumerate()
        .map(|(n, row)| {
            let mut spans: Vec<Span<'static>> = if n == 0 {
                prefix.to_vec()
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            let mut trimmed = row;
            while trimmed.last().is_some_and(|c| c.0 == ' ') {
                trimmed.pop();
            }
            spans.extend(runs(&trimmed));
            Line::from(spans)
        })
        .collect()
}

/// Cells as spans, one per run of the same style.
fn runs(cells: &[(char, Style, usize)]) -> Vec<Span<'static>> {
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style: Option<Style> = None;
    for &(c, s, _) in cells {
        if style.is_some_and(|st| st != s) {
            out.push(Span::styled(
                std::mem::take(&mut text),
                style.unwrap_or_default(),
            ));
        }
        style = Some(s);
        text.push(c);
    }
    if let Some(s) = style {
        out.push(Span::styled(text, s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(prefix: &str, body: &str, width: usize) -> Vec<String> {
        wrap(
            &[Span::raw(prefix.to_string())],
            &[Span::raw(body.to_string())],
            width,
        )
        .iter()
        .map(|l| l.to_string())
        .collect()
    }

    #[test]
    fn lines_break_between_words_and_continue_under_the_text() {
        assert_eq!(
            rows(
                "12:00 <bob> ",
                "the quick brown fox jumps over the lazy dog",
                30
            ),
            [
                "12:00 <bob> the quick brown",
                "            fox jumps over the",
                "            lazy dog",
            ]
        );
    }

    #[test]
    fn a_word_longer_than_the_row_is_cut_and_no_row_overflows() {
        let out = rows(
            "> ",
            "short https://example.org/a/very/long/path/indeed end",
            20,
        );
        for row in &out {
            assert!(row.chars().count() <= 20, "{row:?} in {out:?}");
        }
        assert_eq!(
            out.concat().replace(' ', ""),
            ">shorthttps://example.org/a/very/long/path/indeedend"
        );
    }

    #[test]
    fn wide_characters_count_two_columns() {
        let out = rows("", "日本語 日本語 日本語", 8);
        assert_eq!(out, ["日本語", "日本語", "日本語"]);
    }

    #[test]
    fn a_prefix_wider_than_half_the_row_indents_continuations_by_two() {
        assert_eq!(
            rows("123456789 ", "aaa bbb ccc", 14),
            ["123456789 aaa", "  bbb ccc"]
        );
    }

    #[test]
    fn styles_survive_wrapping() {
        let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
        let out = wrap(
            &[],
            &[Span::raw("plain "), Span::styled("bold words", bold)],
            10,
        );
        assert_eq!(out.len(), 2);
        assert!(out[1]
            .spans
            .iter()
            .any(|s| s.style == bold && s.content == "words"));
    }
}
