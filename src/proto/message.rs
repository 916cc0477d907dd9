//! One IRC message: parsing a line into a [`Message`] and serializing it back.
//!
//! Owns the Modern IRC message grammar plus IRCv3 message tags (with tag value
//! escaping). Must never do I/O, never panic on any input, and never emit CR,
//! LF or NUL inside a serialized line.

use std::fmt;

/// One IRCv3 message tag: `key` or `key=value` (the value unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag key, including any `+` client prefix and vendor part.
    pub key: String,
    /// The unescaped value, or `None` for a tag without `=`.
    pub value: Option<String>,
}

/// An IRC message: `[@tags] [:source] COMMAND [params…]`.
///
/// ```
/// use natter::proto::Message;
/// let msg = Message::parse(":alice!a@host PRIVMSG #lobby :hello there").unwrap();
/// assert_eq!(msg.command, "PRIVMSG");
/// assert_eq!(msg.params, vec!["#lobby", "hello there"]);
/// assert_eq!(msg.to_string(), ":alice!a@host PRIVMSG #lobby :hello there");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// IRCv3 tags, in the order they appeared.
    pub tags: Vec<Tag>,
    /// The source (prefix) without its leading `:`.
    pub source: Option<String>,
    /// The command or three-digit numeric, as sent (callers compare case-insensitively).
    pub command: String,
    /// Parameters; the last one may contain spaces or be empty.
    pub params: Vec<String>,
}

/// Why a line is not a valid IRC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line holds nothing but spaces (or tags/source with no command).
    MissingCommand,
    /// The command contains characters other than letters or digits.
    InvalidCommand,
    /// The line contains a NUL, CR or LF byte inside it.
    ForbiddenCharacter,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingCommand => {
                write!(f, "the line has no command; send e.g. `PRIVMSG #lobby :hi`")
            }
            ParseError::InvalidCommand => {
                write!(f, "the command must be letters or a 3-digit numeric")
            }
            ParseError::ForbiddenCharacter => {
                write!(f, "the line contains a NUL, CR or LF character")
            }
        }
    }
}

impl std::error::Error for ParseError {}

impl Message {
    /// A message with a command and parameters, no tags and no source.
    ///
    /// ```
    /// use natter::proto::Message;
    /// let m = Message::new("JOIN", ["#lobby"]);
    /// assert_eq!(m.to_string(), "JOIN #lobby");
    /// ```
    pub fn new<I, S>(command: &str, params: I) -> Message
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Message {
            tags: Vec::new(),
            source: None,
            command: command.to_string(),
            params: params.into_iter().map(Into::into).collect(),
        }
    }

    /// The same message with `source` set.
    pub fn with_source(mut self, source: impl Into<String>) -> Message {
        self.source = Some(source.into());
        self
    }

    /// Parse one line (without its CR LF). Runs of spaces separate parameters.
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        // memchr tests many bytes at once: this runs for every line received.
        if memchr::memchr3(0, b'\r', b'\n', line.as_bytes()).is_some() {
            return Err(ParseError::ForbiddenCharacter);
        }
        let mut rest = line.trim_start_matches(' ');
        let mut msg = Message::default();

        if let Some(after) = rest.strip_prefix('@') {
            let (tags, remainder) = split_word(after);
            msg.tags = parse_tags(tags);
            rest = remainder;
        }
        if let Some(after) = rest.strip_prefix(':') {
            let (source, remainder) = split_word(after);
            msg.source = Some(source.to_string());
            rest = remainder;
        }
        let (command, mut rest) = split_word(rest);
        if command.is_empty() {
            return Err(ParseError::MissingCommand);
        }
        if !command.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::InvalidCommand);
        }
        msg.command = command.to_string();

        loop {
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_string());
                break;
            }
            let (param, remainder) = split_word(rest);
            msg.params.push(param.to_string());
            rest = remainder;
        }
        Ok(msg)
    }

    /// The value of the tag `key`, if present (`Some("")` for a valueless tag).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_deref().unwrap_or(""))
    }

    /// Parameter `i`, or `""` if there are fewer parameters.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }
}

/// Splits off the first space-delimited word; the remainder has leading spaces removed.
fn split_word(s: &str) -> (&str, &str) {
    // A plain byte search: words are short, and `find`'s searcher costs more
    // to set up than these few bytes (this runs several times per line).
    match s.bytes().position(|b| b == b' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

fn parse_tags(raw: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = Vec::new();
    for part in raw.split(';').filter(|p| !p.is_empty()) {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k, Some(unescape_tag_value(v))),
            None => (part, None),
        };
        if key.is_empty() {
            continue;
        }
        // A repeated key keeps the last value, as IRCv3 says.
        if let Some(existing) = tags.iter_mut().find(|t| t.key == key) {
            existing.value = value;
        } else {
            tags.push(Tag {
                key: key.to_string(),
                value,
            });
        }
    }
    tags
}

fn unescape_tag_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn escape_tag_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

/// Appends `s` with CR, LF and NUL removed, so no field can split or end a line.
fn push_clean(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        out.extend(s.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')));
    } else {
        out.push_str(s);
    }
}

/// Appends `s` with CR, LF, NUL and spaces removed: for words that must stay one word.
fn push_word(out: &mut String, s: &str) {
    if s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0 | b' ')) {
        out.extend(s.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0' | ' ')));
    } else {
        out.push_str(s);
    }
}

impl Tag {
    /// A client-only tag (`+key`): a client may send it, and the server
    /// relays it as-is to recipients that enabled `message-tags`.
    pub fn is_client_only(&self) -> bool {
        self.key.starts_with('+')
    }

    /// Whether the key follows the IRCv3 grammar: `[+][vendor/]name`, the
    /// vendor a host name, the name letters, digits and hyphens.
    ///
    /// ```
    /// use natter::proto::Tag;
    /// let tag = |key: &str| Tag { key: key.into(), value: None };
    /// assert!(tag("+draft/reply").has_valid_key());
    /// assert!(tag("+example.com/foo-2").has_valid_key());
    /// assert!(!tag("+").has_valid_key());
    /// assert!(!tag("+a,b").has_valid_key());
    /// ```
    pub fn has_valid_key(&self) -> bool {
        let key = self.key.strip_prefix('+').unwrap_or(&self.key);
        let (vendor, name) = match key.rsplit_once('/') {
            Some((vendor, name)) => (Some(vendor), name),
            None => (None, key),
        };
        let vendor_ok = vendor.is_none_or(|v| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        });
        let name_ok =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        vendor_ok && name_ok
    }

    /// Writes `key` or `key=escaped value` into `out`.
    fn write_to(&self, out: &mut String) {
        push_word(out, &self.key.replace(['=', ';'], ""));
        if let Some(v) = &self.value {
            out.push('=');
            escape_tag_value(v, out);
        }
    }
}

/// The tag as it goes on the wire: `key` or `key=value`, the value escaped.
///
/// ```
/// use natter::proto::Tag;
/// let tag = Tag { key: "+draft/react".into(), value: Some("a b;c\\".into()) };
/// assert_eq!(tag.to_string(), "+draft/react=a\\sb\\:c\\\\");
/// ```
impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(self.key.len() + 16);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl Message {
    /// Serialize into `out` without CR LF. Never writes CR, LF or NUL: those are
    /// dropped from every field, and the last parameter is written as a trailing
    /// parameter (`:`) whenever it needs to be.
    pub fn write_to(&self, out: &mut String) {
        if !self.tags.is_empty() {
            out.push('@');
            for (i, tag) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                tag.write_to(out);
            }
            out.push(' ');
        }
        let params = self.params.iter().map(String::as_str);
        write_message(out, self.source.as_deref(), &self.command, params);
    }
}

/// Serializes a message without tags from its parts into `out`, without CR
/// LF: the very bytes [`Message::write_to`] writes for a [`Message`] of these
/// parts, without building one (so without an allocation per part). The
/// same rules hold: no CR, LF or NUL in any field, and the last parameter
/// trailing (`:`) whenever it needs to be.
///
/// ```
/// use natter::proto::{write_message, Message};
/// let mut line = String::new();
/// write_message(&mut line, Some("alice!a@host"), "PRIVMSG", ["#lobby", "hello there"]);
/// assert_eq!(line, ":alice!a@host PRIVMSG #lobby :hello there");
/// let msg = Message::new("PRIVMSG", ["#lobby", "hello there"]).with_source("alice!a@host");
/// assert_eq!(line, msg.to_string());
/// ```
pub fn write_message<'a>(
    out: &mut String,
    source: Option<&str>,
    command: &str,
    params: impl IntoIterator<Item = &'a str>,
) {
    if let Some(source) = source {
        out.push(':');
        push_word(out, source);
        out.push(' ');
    }
    push_word(out, command);
    let mut params = params.into_iter().peekable();
    while let Some(p) = params.next() {
        out.push(' ');
        if params.peek().is_none() {
            if p.is_empty() || p.starts_with(':') || p.contains(' ') {
                out.push(':');
            }
            push_clean(out, p);
        } else {
            // A middle parameter cannot hold spaces or start with ':'.
            let p = p.trim_start_matches(':');
            if p.is_empty() {
                out.push('*');
            } else {
                push_word(out, p);
            }
        }
    }
}

/// The command word of a line as written ([`write_message`]): after its
/// tags (`@...`) and its source (`:...`), without parsing the rest. `""`
/// when there is none. For a sender that only needs to know what kind of
/// line it holds.
///
/// ```
/// use natter::proto::command_of;
/// assert_eq!(command_of("@time=2026-12-07T10:00:00.000Z :bob!b@host JOIN #lobby"), "JOIN");
/// assert_eq!(command_of("PING :x"), "PING");
/// assert_eq!(command_of(":only-a-source"), "");
/// ```
pub fn command_of(line: &str) -> &str {
    let mut rest = line.trim_start_matches(' ');
    for prefix in ['@', ':'] {
        if rest.starts_with(prefix) {
            rest = rest
                .split_once(' ')
                .map_or("", |(_, after)| after.trim_start_matches(' '));
        }
    }
    rest.split(' ').next().unwrap_or("")
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_parameter_with_spaces_round_trips() {
        let m = Message::parse("PRIVMSG #a :hello  world ").unwrap();
        assert_eq!(m.params, vec!["#a", "hello  world "]);
        assert_eq!(Message::parse(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn tags_are_unescaped_and_escaped_back() {
        let m = Message::parse("@a=x\\sy\\:z;b :src CMD").unwrap();
        assert_eq!(m.tag("a"), Some("x y;z"));
        assert_eq!(m.tag("b"), Some(""));
        assert_eq!(m.to_string(), "@a=x\\sy\\:z;b :src CMD");
    }

    #[test]
    fn every_escape_round_trips_and_a_lone_trailing_backslash_is_dropped() {
        let raw = "raw+:=,escaped; \\ and\r\nlines";
        let tag = Tag {
            key: "+example".into(),
            value: Some(raw.into()),
        };
        let line = format!("@{tag} TAGMSG #a");
        assert!(!line.contains(['\r', '\n']), "{line:?}");
        let back = Message::parse(&line).unwrap();
        assert_eq!(back.tag("+example"), Some(raw));
        assert_eq!(back.to_string(), line);
        let m = Message::parse("@+a=test\\ TAGMSG #a").unwrap();
        assert_eq!(m.tag("+a"), Some("test"));
        let m = Message::parse("@+a=b\\x TAGMSG #a").unwrap();
        assert_eq!(
            m.tag("+a"),
            Some("bx"),
            "an unknown escape is the character itself"
        );
    }

    #[test]
    fn serializer_never_emits_line_breaks() {
        let m = Message::new("PRIVMSG", ["#a\r\n", "evil\r\nQUIT :x\0"]).with_source("n\nick");
        let s = m.to_string();
        assert!(!s.contains(['\r', '\n', '\0']), "{s:?}");
    }

    #[test]
    fn command_of_skips_tags_and_source_and_never_panics() {
        assert_eq!(command_of("@a=b;c :n!u@h QUIT :bye"), "QUIT");
        assert_eq!(command_of(":n!u@h PART #a"), "PART");
        assert_eq!(command_of("@a=b PRIVMSG #a :hi"), "PRIVMSG");
        for odd in ["", " ", "@", ":", "@a ", "@a :", ":x  "] {
            assert_eq!(command_of(odd), "", "{odd:?}");
        }
        let line = "@time=x :a!b@c JOIN #r";
        assert_eq!(
            command_of(line),
            Message::parse(line).unwrap().command,
            "the same word the parser finds"
        );
    }

    #[test]
    fn empty_line_is_an_error_not_a_panic() {
        assert_eq!(Message::parse("   "), Err(ParseError::MissingCommand));
        assert_eq!(Message::parse("@a=b"), Err(ParseError::MissingCommand));
        assert_eq!(Message::parse(":src"), Err(ParseError::MissingCommand));
    }
}
