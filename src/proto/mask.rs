//! Hostmasks: `nick!user@host` patterns with `*` and `?`, as bans use them.
//!
//! Owns turning what a user typed after `+b` into a full mask, and matching a
//! mask against a client's `nick!user@host`. Pure: must never do I/O, never
//! panic on any input and never backtrack exponentially.

use std::str::Chars;

/// Longest mask [`normalize_mask`] returns, in bytes.
pub const MASKLEN: usize = 300;

/// Longest nick, user or host part of a normalized mask, in bytes: an even
/// share of [`MASKLEN`] after the `!` and the `@`.
const PART_LEN: usize = (MASKLEN - 2) / 3;

/// The full `nick!user@host` mask for what a user typed after `+b`, `+e` or
/// `+I`, the way InspIRCd and Solanum expand it.
///
/// The rules, in order:
///
/// 1. Only the first word counts: words are separated by spaces and control
///    characters (a trailing parameter may hold spaces; CR, LF and NUL must
///    never reach a reply). No word at all is an empty mask.
/// 2. Leading `:`s are dropped (`+b :bob` means bob, and a mask starting with
///    `:` could not travel as a middle parameter), except on a bare IPv6
///    address starting with `::` (`::1`, `::ffff:192.0.2.7`), kept whole.
/// 3. The word splits like a message source: the host follows the first `@`;
///    before it, the nick precedes the first `!` and the user follows it.
///    - no `!` and no `@`: a word with a `.` or `:` is a host (nicks hold
///      neither): `1.2.3.4` → `*!*@1.2.3.4`; any other word is a nick:
///      `bob` → `bob!*@*`;
///    - `@` without `!` before it is `user@host`: `bob@host` → `*!bob@host`;
///    - `!` without `@` is `nick!user`: `bob!x` → `bob!x@*`.
/// 4. A `!` or `@` left inside the user or the host is dropped (natter's USER
///    drops them from usernames, and hosts never hold them), so the mask has
///    exactly one `!`, then exactly one `@`.
/// 5. Runs of `*` collapse into one (same meaning; equal bans compare equal).
/// 6. Each part is cut to 99 bytes at a character boundary, so the whole
///    mask never exceeds [`MASKLEN`] (300).
/// 7. An empty part becomes `*`: `!x@` → `*!x@*`.
///
/// Normalizing a normalized mask changes nothing.
///
/// Case is kept as typed: [`mask_matches`] ignores ASCII case anyway.
///
/// ```
/// use natter::proto::normalize_mask;
/// assert_eq!(normalize_mask("bob"), "bob!*@*");
/// assert_eq!(normalize_mask("bob!x"), "bob!x@*");
/// assert_eq!(normalize_mask("bob@host"), "*!bob@host");
/// assert_eq!(normalize_mask("*@192.0.2.7"), "*!*@192.0.2.7");
/// assert_eq!(normalize_mask("192.0.2.7"), "*!*@192.0.2.7");
/// assert_eq!(normalize_mask("!~al"), "*!~al@*");
/// assert_eq!(normalize_mask(":bob!**@* extra words"), "bob!*@*");
/// assert_eq!(normalize_mask(""), "*!*@*");
/// ```
pub fn normalize_mask(raw: &str) -> String {
    // Rule 1.
    let word = raw
        .split(|c: char| c == ' ' || c.is_control())
        .find(|w| !w.is_empty())
        .unwrap_or("");
    // Rule 2.
    let bare = !word.contains(['!', '@']);
    let word = if bare && word.starts_with("::") {
        word
    } else {
        word.trim_start_matches(':')
    };
    // Rule 3.
    let (nick, user, host) = match word.split_once('@') {
        Some((front, host)) => match front.split_once('!') {
            Some((nick, user)) => (nick, user, host),
            None => ("", front, host),
        },
        None => match word.split_once('!') {
            Some((nick, user)) => (nick, user, ""),
            None if word.contains(['.', ':']) => ("", "", word),
            None => (word, "", ""),
        },
    };
    let mut mask = String::with_capacity(word.len().min(MASKLEN));
    push_part(&mut mask, nick);
    mask.push('!');
    push_part(&mut mask, user);
    mask.push('@');
    push_part(&mut mask, host);
    mask
}

/// Appends one part of a mask: without `!` and `@` (rule 4), with runs of
/// `*` collapsed (rule 5), at most `PART_LEN` bytes (rule 6), and `*` if
/// nothing is left (rule 7).
fn push_part(mask: &mut String, part: &str) {
    let start = mask.len();
    for c in part.chars() {
        // `mask` ends with `!` or `@` (or is empty) where a part starts, so
        // this never merges stars across parts.
        if c == '!' || c == '@' || (c == '*' && mask.ends_with('*')) {
            continue;
        }
        if mask.len() - start + c.len_utf8() > PART_LEN {
            break;
        }
        mask.push(c);
    }
    if mask.len() == start {
        mask.push('*');
    }
}

/// Whether `subject` (a client's `nick!user@host`) matches `mask`.
///
/// `*` matches any run of characters, the empty run included, and `?`
/// matches exactly one character; letters compare under CASEMAPPING=ascii
/// (see [`casefold`](crate::proto::casefold)). Every other character,
/// `\` and `[` included, is literal: `\`, `[` and `]` are legal in nicks, and
/// the ircdocs mask-match vectors require `cool[guy]` to match itself.
///
/// Runs in O(mask × subject) time at worst, with no allocation: a mismatch
/// only ever lets the most recent `*` swallow one more character.
///
/// ```
/// use natter::proto::mask_matches;
/// assert!(mask_matches("*!*@192.0.2.*", "Alice!al@192.0.2.7"));
/// assert!(mask_matches("ALICE!?l@*", "alice!al@example.org"));
/// assert!(!mask_matches("alice!*@*", "alice2!al@example.org"));
/// ```
pub fn mask_matches(mask: &str, subject: &str) -> bool {
    let mut m = mask.chars();
    let mut s = subject.chars();
    // After the last `*` seen: the mask just past it, and the subject where
    // the star's run currently ends.
    let mut star: Option<(Chars, Chars)> = None;
    loop {
        let mut m_next = m.clone();
        let mut s_next = s.clone();
        match (m_next.next(), s_next.next()) {
            (None, None) => return true,
            (Some('*'), _) => {
                star = Some((m_next.clone(), s.clone()));
                m = m_next;
            }
            (Some(mc), Some(sc)) if mc == '?' || mc.eq_ignore_ascii_case(&sc) => {
                m = m_next;
                s = s_next;
            }
            _ => {
                // Mismatch: the last star swallows one more character.
                let Some((star_m, star_s)) = star.as_mut() else {
                    return false;
                };
                if star_s.next().is_none() {
                    return false;
                }
                m = star_m.clone();
                s = star_s.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_masks_expand_like_established_servers() {
        for (typed, full) in [
            ("bob", "bob!*@*"),
            ("bob!x", "bob!x@*"),
            ("bob!x@", "bob!x@*"),
            ("*@host", "*!*@host"),
            ("user@host", "*!user@host"),
            ("bob@host", "*!bob@host"),
            ("!user", "*!user@*"),
            ("!", "*!*@*"),
            ("@", "*!*@*"),
            ("!@", "*!*@*"),
            ("@host", "*!*@host"),
            ("nick!@host", "nick!*@host"),
            ("example.org", "*!*@example.org"),
            ("*.example.org", "*!*@*.example.org"),
            ("2001:db8::1", "*!*@2001:db8::1"),
            ("::1", "*!*@::1"),
            ("::ffff:192.0.2.7", "*!*@::ffff:192.0.2.7"),
            (":bob", "bob!*@*"),
            ("::bob!x@y", "bob!x@y"),
            (":", "*!*@*"),
            ("a!b!c@d", "a!bc@d"),
            ("a@b@c!d", "*!a@bcd"),
            ("bob!*@* and more", "bob!*@*"),
            ("bob\r\nQUIT", "bob!*@*"),
            ("b**b!***@**", "b*b!*@*"),
            ("  bob  ", "bob!*@*"),
            (" ", "*!*@*"),
        ] {
            assert_eq!(normalize_mask(typed), full, "{typed:?}");
        }
    }

    #[test]
    fn long_parts_are_cut_at_a_character_boundary() {
        let mask = normalize_mask(&"é".repeat(400));
        assert_eq!(mask, format!("{}!*@*", "é".repeat(PART_LEN / 2)));
        let long = "x".repeat(400);
        let mask = normalize_mask(&format!("{long}!{long}@{long}"));
        assert_eq!(mask.len(), 3 * PART_LEN + 2);
        assert!(mask.len() <= MASKLEN);
        assert_eq!(normalize_mask(&mask), mask);
    }

    #[test]
    fn stars_and_question_marks_match_runs_and_single_characters() {
        assert!(mask_matches("", ""));
        assert!(!mask_matches("", "a"));
        assert!(mask_matches("*", ""));
        assert!(mask_matches("**", "anything"));
        assert!(mask_matches("?", "é"));
        assert!(!mask_matches("?", ""));
        assert!(!mask_matches("??", "é"));
        assert!(mask_matches("a*b*c", "aXXbYYc"));
        assert!(!mask_matches("a*b*c", "aXXbYYcd"));
        assert!(mask_matches("*c", "ccc"));
        assert!(mask_matches("a\\b", "A\\B"));
        assert!(mask_matches("a\\*", "a\\xyz"));
    }

    #[test]
    fn case_folds_ascii_only() {
        assert!(mask_matches("[AWAY]", "[away]"));
        assert!(!mask_matches("É", "é"));
    }
}
