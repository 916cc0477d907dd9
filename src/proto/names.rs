//! Nicknames and channel names: validity and case-insensitive comparison.
//!
//! Owns the rules a name must follow and the server's CASEMAPPING (`ascii`).
//! Must never allocate more than the name itself or do any I/O.

/// Longest nickname accepted (advertised as NICKLEN).
pub const NICKLEN: usize = 30;
/// Longest channel name accepted, `#` included (advertised as CHANNELLEN).
pub const CHANNELLEN: usize = 50;
/// Longest topic accepted (advertised as TOPICLEN).
pub const TOPICLEN: usize = 390;

/// The case-folded form of a nick or channel name under CASEMAPPING=ascii.
///
/// ```
/// assert_eq!(natter::proto::casefold("JoHn"), "john");
/// ```
pub fn casefold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Like [`casefold`], but borrows `name` when it is case-folded already
/// (as most names people type are): for looking names up, where a copy
/// would be thrown away at once.
///
/// ```
/// use natter::proto::casefold_cow;
/// assert!(matches!(casefold_cow("#lobby"), std::borrow::Cow::Borrowed("#lobby")));
/// assert_eq!(casefold_cow("#Lobby"), "#lobby");
/// ```
pub fn casefold_cow(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(casefold(name))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Whether `nick` may be used as a nickname: 1..=NICKLEN bytes, not starting
/// with a digit, `-`, `#`, `&`, `:` or `$`, made of letters, digits and
/// `[]\`_^{|}-`.
///
/// ```
/// use natter::proto::is_valid_nick;
/// assert!(is_valid_nick("John"));
/// assert!(is_valid_nick("[away]_x"));
/// assert!(!is_valid_nick("9lives"));
/// assert!(!is_valid_nick("no spaces"));
/// ```
pub fn is_valid_nick(nick: &str) -> bool {
    let bytes = nick.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if bytes.len() > NICKLEN || first.is_ascii_digit() || first == b'-' {
        return false;
    }
    bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"[]\\`_^{|}-".contains(&b))
}

/// Whether `name` is a valid channel name: `#` then 1..CHANNELLEN bytes with
/// no space, comma, BELL, NUL, CR or LF.
///
/// ```
/// use natter::proto::is_valid_channel;
/// assert!(is_valid_channel("#lobby"));
/// assert!(!is_valid_channel("lobby"));
/// assert!(!is_valid_channel("#a,b"));
/// ```
pub fn is_valid_channel(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= CHANNELLEN
        && name.starts_with('#')
        && !name
            .bytes()
            .any(|b| matches!(b, b' ' | b',' | 7 | 0 | b'\r' | b'\n' | b':'))
}
