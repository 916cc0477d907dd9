//! The model's own name rules: case folding, valid nicknames, valid channel
//! names. Written from natter's documented rules and its 005 tokens
//! (`CASEMAPPING=ascii`, `NICKLEN=30`, `CHANNELLEN=50`), never by calling
//! `natter::proto`, so a regression there shows up as a disagreement.

/// `NICKLEN` in 005.
pub const NICKLEN: usize = 30;
/// `CHANNELLEN` in 005.
pub const CHANNELLEN: usize = 50;

/// `CASEMAPPING=ascii`: only `A`–`Z` fold, to `a`–`z`.
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                ((c as u8) + 32) as char
            } else {
                c
            }
        })
        .collect()
}

/// A nickname: 1 to NICKLEN bytes of letters, digits and `[]\`_^{|}-`, not
/// starting with a digit or `-`.
pub fn valid_nick(nick: &str) -> bool {
    const SPECIAL: &str = "[]\\`_^{|}-";
    let Some(first) = nick.chars().next() else {
        return false;
    };
    nick.len() <= NICKLEN
        && !first.is_ascii_digit()
        && first != '-'
        && nick
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(c))
}

/// A channel name: `#` and at least one more byte, at most CHANNELLEN bytes,
/// none of them space, comma, colon, BEL, NUL, CR or LF.
pub fn valid_channel(name: &str) -> bool {
    const FORBIDDEN: &[char] = &[' ', ',', ':', '\u{7}', '\0', '\r', '\n'];
    name.starts_with('#') && (2..=CHANNELLEN).contains(&name.len()) && !name.contains(FORBIDDEN)
}
