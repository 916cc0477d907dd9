//! The source (prefix) of a message: `nick!user@host`, split and joined.
//!
//! Owns the userhost grammar only. Borrows from the text it splits, never
//! validates names (see `names` for that), never allocates and never panics.

use std::fmt;

/// A message source split into its parts: `nick[!user][@host]`.
///
/// A server name (`irc.example.com`) parses as a bare `nick`; callers that
/// care can tell them apart by context (a server source is the server's name).
///
/// ```
/// use natter::proto::Source;
/// let s = Source::parse("alice!~al@127.0.0.1");
/// assert_eq!((s.nick, s.user, s.host), ("alice", Some("~al"), Some("127.0.0.1")));
/// assert_eq!(s.to_string(), "alice!~al@127.0.0.1");
///
/// let bare = Source::parse("alice");
/// assert_eq!((bare.user, bare.host), (None, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source<'a> {
    /// Everything before the first `!` or `@` (the whole source if neither).
    pub nick: &'a str,
    /// What follows `!`, up to the `@` of the host, if there is a `!`.
    pub user: Option<&'a str>,
    /// What follows the first `@` (after any `!user`), if there is one.
    pub host: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// Splits `source` (without its leading `:`) into nick, user and host.
    ///
    /// Never fails: any text splits into some nick, possibly empty.
    pub fn parse(source: &'a str) -> Source<'a> {
        let (rest, host) = match source.split_once('@') {
            Some((rest, host)) => (rest, Some(host)),
            None => (source, None),
        };
        let (nick, user) = match rest.split_once('!') {
            Some((nick, user)) => (nick, Some(user)),
            None => (rest, None),
        };
        Source { nick, user, host }
    }
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.nick)?;
        if let Some(user) = self.user {
            write!(f, "!{user}")?;
        }
        if let Some(host) = self.host {
            write!(f, "@{host}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_user_and_user_without_host_split_apart() {
        let s = Source::parse("nick@host");
        assert_eq!((s.nick, s.user, s.host), ("nick", None, Some("host")));
        let s = Source::parse("nick!user");
        assert_eq!((s.nick, s.user, s.host), ("nick", Some("user"), None));
    }

    #[test]
    fn any_text_splits_and_joins_back_unchanged() {
        for text in ["", "!", "@", "!@", "a!b@c@d", "a@b!c", "x!!y@@z"] {
            assert_eq!(Source::parse(text).to_string(), text, "{text:?}");
        }
    }
}
