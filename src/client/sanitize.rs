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
    super::format::plain(&super::format::parse(text))
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
