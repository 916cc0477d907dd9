//! Colours: nicks get a stable colour each, mIRC colour numbers become
//! terminal colours, and `--no-color` turns all of it off.
//!
//! Pure: no terminal, no configuration files.

use crate::client::format::{Colour, TextStyle};
use crate::proto::casefold;
use ratatui::style::{Color, Modifier, Style};

/// How nicks are coloured (`--nick-color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NickColours {
    /// Each nick its own colour, the same every time (a hash of the nick).
    Hash,
    /// Every nick in this one colour.
    One(Color),
    /// Nicks in the terminal's default colour.
    Off,
}

/// Colours readable on both dark and light terminals (no black, white,
/// or grey, which vanish on one of them).
const NICK_PALETTE: [Color; 12] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
];

/// The colour of `nick`: the same for the same nick (ignoring case) in
/// every window and every run, since it is a hash of the nick's letters
/// (FNV-1a; no per-process random seed).
///
/// ```
/// use natter::client::tui::nick_colour;
/// assert_eq!(nick_colour("Alice"), nick_colour("alice"));
/// ```
pub fn nick_colour(nick: &str) -> Color {
    let mut hash: u32 = 0x811c_9dc5;
    for b in casefold(nick).bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    NICK_PALETTE[hash as usize % NICK_PALETTE.len()]
}

/// Whether colour is shown at all, and how nicks are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// `false` with `--no-color` (or `NO_COLOR` set): no colour anywhere,
    /// mIRC colours stripped; bold, reverse and underline still mark things.
    pub colour: bool,
    pub nicks: NickColours,
}

impl Default for Palette {
    fn default() -> Palette {
        Palette {
            colour: true,
            nicks: NickColours::Hash,
        }
    }
}

impl Palette {
    /// The style of `nick`'s name.
    pub fn nick(&self, nick: &str) -> Style {
        if !self.colour {
            return Style::default();
        }
        match self.nicks {
            NickColours::Hash => Style::default().fg(nick_colour(nick)),
            NickColours::One(c) => Style::default().fg(c),
            NickColours::Off => Style::default(),
        }
    }

    /// `fg` when colour is on, else no colour.
    pub fn fg(&self, fg: Color) -> Style {
        if self.colour {
            Style::default().fg(fg)
        } else {
            Style::default()
        }
    }

    /// A message's mIRC formatting as a terminal style (colours dropped
    /// when colour is off; bold, italics and underline kept).
    pub fn text(&self, style: &TextStyle) -> Style {
        let mut out = Style::default();
        let mut add = |on: bool, m: Modifier| {
            if on {
                out = out.add_modifier(m);
            }
        };
        add(style.bold, Modifier::BOLD);
        add(style.italic, Modifier::ITALIC);
        add(style.underline, Modifier::UNDERLINED);
        add(style.strike, Modifier::CROSSED_OUT);
        add(style.reverse, Modifier::REVERSED);
        if self.colour {
            if let Some(fg) = style.fg.and_then(terminal_colour) {
                out = out.fg(fg);
            }
            if let Some(bg) = style.bg.and_then(terminal_colour) {
                out = out.bg(bg);
            }
        }
        out
    }
}

/// mIRC's 16 base colours as the terminal's 16; the extended 16–98 as the
/// nearest xterm-256 colours; hex as RGB.
fn terminal_colour(c: Colour) -> Option<Color> {
    Some(match c {
        Colour::Rgb(r, g, b) => Color::Rgb(r, g, b),
        Colour::Irc(n) => match n {
            0 => Color::White,
            1 => Color::Black,
            2 => Color::Blue,
            3 => Color::Green,
            4 => Color::LightRed,
            5 => Color::Red,
            6 => Color::Magenta,
            7 => Color::Yellow,
            8 => Color::LightYellow,
            9 => Color::LightGreen,
            10 => Color::Cyan,
            11 => Color::LightCyan,
            12 => Color::LightBlue,
            13 => Color::LightMagenta,
            14 => Color::DarkGray,
            15 => Color::Gray,
            16..=98 => Color::Indexed(EXTENDED[usize::from(n - 16)]),
            _ => return None,
        },
    })
}

/// mIRC colours 16–98 as xterm-256 indexes (the table from the modern IRC
/// formatting documentation).
const EXTENDED: [u8; 83] = [
    52, 94, 100, 58, 22, 29, 23, 24, 17, 54, 53, 89, 88, 130, 142, 64, 28, 35, 30, 25, 18, 91, 90,
    125, 124, 166, 184, 106, 34, 49, 37, 33, 19, 129, 127, 161, 196, 208, 226, 154, 46, 86, 51, 75,
    21, 171, 201, 198, 203, 215, 227, 191, 83, 122, 87, 111, 63, 177, 207, 205, 217, 223, 229, 193,
    157, 158, 159, 153, 147, 183, 219, 212, 16, 233, 235, 237, 239, 241, 244, 247, 250, 254, 231,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nick_keeps_its_colour_and_different_nicks_use_the_palette() {
        assert_eq!(nick_colour("bob"), nick_colour("BOB"));
        let names = ["alice", "bob", "carol", "dave", "eve", "mallory", "trent"];
        let colours: std::collections::BTreeSet<String> = names
            .iter()
            .map(|n| format!("{:?}", nick_colour(n)))
            .collect();
        assert!(
            colours.len() >= 4,
            "seven nicks share too few colours: {colours:?}"
        );
    }

    #[test]
    fn without_colour_nicks_and_mirc_colours_are_plain_but_bold_stays() {
        let palette = Palette {
            colour: false,
            nicks: NickColours::Hash,
        };
        assert_eq!(palette.nick("alice"), Style::default());
        let style = TextStyle {
            bold: true,
            fg: Some(Colour::Irc(4)),
            ..TextStyle::default()
        };
        assert_eq!(
            palette.text(&style),
            Style::default().add_modifier(Modifier::BOLD)
        );
        assert_eq!(
            Palette::default().text(&style),
            Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::LightRed)
        );
    }
}
