//! mIRC formatting codes: text from the network as styled, safe pieces.
//!
//! Owns the one parser of IRC formatting (bold `^B`, italics `^]`, underline
//! `^_`, strikethrough `^^`, monospace `^Q`, reverse `^V`, reset `^O`,
//! colours `^Cfg[,bg]` and hex colours `^DRRGGBB[,RRGGBB]`). Every other
//! control character is made visible exactly as [`crate::client::sanitize`]
//! does (that function is this parser with the styles thrown away). Must
//! never let a control character through, never panic, never do I/O.

/// A colour from a formatting code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// One of mIRC's 99 numbered colours (0 white … 15 light grey; 16–98
    /// the extended palette).
    Irc(u8),
    /// `^D` hex colour.
    Rgb(u8, u8, u8),
}

/// How a piece of text is styled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStyle {
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub strike: bool,
    pub monospace: bool,
    pub reverse: bool,
    pub fg: Option<Colour>,
    pub bg: Option<Colour>,
}

/// A run of text with one style; the text holds no control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub style: TextStyle,
    pub text: String,
}

/// `text` split into styled pieces, formatting codes consumed and every
/// other control character shown as visible text.
///
/// ```
/// use natter::client::format::{parse, Colour};
/// let pieces = parse("hi \x02there\x02 \x0304red");
/// assert_eq!(pieces.len(), 4);
/// assert!(pieces[1].style.bold);
/// assert_eq!(pieces[3].style.fg, Some(Colour::Irc(4)));
/// assert_eq!(pieces[3].text, "red");
/// ```
pub fn parse(text: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut style = TextStyle::default();
    let mut chars = text.chars().peekable();
    let mut push = |style: TextStyle, s: &str| match out.last_mut() {
        Some(last) if last.style == style => last.text.push_str(s),
        _ if s.is_empty() => {}
        _ => out.push(Piece {
            style,
            text: s.to_string(),
        }),
    };
    while let Some(c) = chars.next() {
        match c {
            '\x02' => style.bold = !style.bold,
            '\x1d' => style.italic = !style.italic,
            '\x1f' => style.underline = !style.underline,
            '\x1e' => style.strike = !style.strike,
            '\x11' => style.monospace = !style.monospace,
            '\x16' => style.reverse = !style.reverse,
            '\x0f' => style = TextStyle::default(),
            '\x03' => {
                let fg = take_digits(&mut chars);
                let mut bg = None;
                if fg.is_some() && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        bg = take_digits(&mut chars);
                    }
                }
                match fg {
                    // A bare ^C resets both colours.
                    None => (style.fg, style.bg) = (None, None),
                    Some(fg) => {
                        style.fg = irc_colour(fg);
                        if let Some(bg) = bg {
                            style.bg = irc_colour(bg);
                        }
                    }
                }
            }
            '\x04' => match take_hex(&mut chars) {
                None => (style.fg, style.bg) = (None, None),
                Some(fg) => {
                    style.fg = Some(fg);
                    if chars.peek() == Some(&',') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        if let Some(bg) = take_hex(&mut ahead) {
                            chars = ahead;
                            style.bg = Some(bg);
                        }
                    }
                }
            },
            '\t' => push(style, " "),
            c if (c as u32) < 0x20 => {
                let shown = [b'^', b'@' + c as u8];
                push(style, std::str::from_utf8(&shown).unwrap_or("^?"));
            }
            '\x7f' => push(style, "^?"),
            c if is_invisible_control(c) => push(style, &format!("<U+{:04X}>", c as u32)),
            c => push(style, c.encode_utf8(&mut [0; 4])),
        }
    }
    out
}

/// The text of `pieces` without styles.
pub fn plain(pieces: &[Piece]) -> String {
    pieces.iter().map(|p| p.text.as_str()).collect()
}

/// 99 means "default colour" in mIRC's extended palette.
fn irc_colour(n: u8) -> Option<Colour> {
    (n < 99).then_some(Colour::Irc(n))
}

/// C1 controls (CSI is U+009B), and the Unicode format characters that can
/// reorder or hide what follows them on the line.
fn is_invisible_control(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f
        | 0x200e | 0x200f          // LRM, RLM
        | 0x202a..=0x202e          // LRE, RLE, PDF, LRO, RLO
        | 0x2066..=0x2069          // LRI, RLI, FSI, PDI
        | 0x2028 | 0x2029          // line and paragraph separators
        | 0xfeff)
}

/// One or two decimal digits, if there.
fn take_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<u8> {
    let mut value: Option<u8> = None;
    for _ in 0..2 {
        match chars.peek().and_then(|c| c.to_digit(10)) {
            Some(d) => {
                chars.next();
                value = Some(value.unwrap_or(0) * 10 + d as u8);
            }
            None => break,
        }
    }
    value
}

/// Exactly six hex digits if they are there; leaves `chars` alone otherwise.
fn take_hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Colour> {
    let six: String = chars.clone().take(6).collect();
    if six.len() != 6 || !six.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let value = u32::from_str_radix(&six, 16).ok()?;
    for _ in 0..6 {
        chars.next();
    }
    let [_, r, g, b] = value.to_be_bytes();
    Some(Colour::Rgb(r, g, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styles(text: &str) -> Vec<(String, TextStyle)> {
        parse(text).into_iter().map(|p| (p.text, p.style)).collect()
    }

    #[test]
    fn bold_italic_and_underline_toggle_and_reset_clears_everything() {
        let s = styles("a\x02b\x1dc\x1fd\x0fe");
        assert_eq!(s.len(), 5);
        assert!(s[1].1.bold && !s[1].1.italic);
        assert!(s[2].1.bold && s[2].1.italic);
        assert!(s[3].1.bold && s[3].1.italic && s[3].1.underline);
        assert_eq!(s[4].1, TextStyle::default());
    }

    #[test]
    fn colours_take_a_background_only_after_a_comma_and_a_digit() {
        let s = styles("\x0304,12on blue\x03plain");
        assert_eq!(s[0].1.fg, Some(Colour::Irc(4)));
        assert_eq!(s[0].1.bg, Some(Colour::Irc(12)));
        assert_eq!(s[1], ("plain".to_string(), TextStyle::default()));
        assert_eq!(plain(&parse("\x034,x")), ",x");
    }

    #[test]
    fn hex_colours_are_read_as_rgb() {
        let s = styles("\x04FF8000orange");
        assert_eq!(s[0].1.fg, Some(Colour::Rgb(255, 128, 0)));
        assert_eq!(s[0].0, "orange");
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(plain(&parse("\x1b[2J\u{202e}x")), "^[[2J<U+202E>x");
    }
}
