//! Making text from the network safe to print on a terminal.
//!
//! Owns the one rule every displayed character passes through: IRC formatting
//! codes (bold, colours, …) are dropped, and every other control character —
//! C0, DEL, C1, and Unicode bidirectional overrides — is shown as visible text
//! (`^[` for ESC, `<U+202E>` for RLO). Must never let a control character or an
//! escape sequence reach the terminal, never panic, and never do I/O.

/// `text` with IRC formatting removed and control characters made visible.
///
/// ```
/// use natter::client::sanitize;
/// assert_eq!(sanitize("\x02bold\x02 \x0304,01red\x03"), "bold red");
/// assert_eq!(sanitize("evil\x1b[2Jclear"), "evil^[[2Jclear");
/// assert_eq!(sanitize("tab\there"), "tab here");
/// ```
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // Bold, italics, underline, strikethrough, monospace, reverse, reset.
            '\x02' | '\x1d' | '\x1f' | '\x1e' | '\x11' | '\x16' | '\x0f' => {}
            // Colour: \x03[fg[,bg]] with one or two digits each.
            '\x03' => {
                if skip_digits(&mut chars, 2) > 0 && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        skip_digits(&mut chars, 2);
                    }
                }
            }
            // Hex colour: \x04[RRGGBB[,RRGGBB]].
            '\x04' => {
                if skip_hex(&mut chars) && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if skip_hex(&mut ahead) {
                        chars = ahead;
                    }
                }
            }
            '\t' => out.push(' '),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            '\x7f' => out.push_str("^?"),
            c if is_invisible_control(c) => {
                out.push_str(&format!("<U+{:04X}>", c as u32));
            }
            c => out.push(c),
        }
    }
    out
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

fn skip_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, max: usize) -> usize {
    let mut n = 0;
    while n < max && chars.peek().is_some_and(char::is_ascii_digit) {
        chars.next();
        n += 1;
    }
    n
}

/// Skips exactly six hex digits if they are there; leaves `chars` alone otherwise.
fn skip_hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let ahead = chars.clone();
    if ahead.take(6).filter(char::is_ascii_hexdigit).count() == 6 {
        for _ in 0..6 {
            chars.next();
        }
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_below_space_or_in_c1_survives() {
        let all: String = (0u32..0x200).filter_map(char::from_u32).collect();
        let out = sanitize(&all);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
    }

    #[test]
    fn colour_codes_without_digits_do_not_eat_text() {
        assert_eq!(sanitize("\x03,5x"), ",5x");
        assert_eq!(sanitize("\x0312,x"), ",x");
        assert_eq!(sanitize("\x04ABCDEFgo"), "go");
        assert_eq!(sanitize("\x04ABCgo"), "ABCgo");
    }
}
