//! SASL on the wire: `AUTHENTICATE` payloads reassembled from their
//! 400-byte chunks and decoded, and the PLAIN message split into its parts
//! (IRCv3 `sasl` 3.1/3.2, RFC 4616).
//!
//! Owns the framing only. Must never decide whether a login succeeds (the
//! server's `sasl` handler does, through the shell's password check) and
//! never keep a payload longer than one exchange.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The longest `AUTHENTICATE` parameter: a full chunk means more follow.
pub const CHUNK: usize = 400;
/// The longest whole payload (base64) accepted: plenty for PLAIN and SCRAM,
/// and what bounds one client's memory here.
pub const MAX_PAYLOAD: usize = 4 * CHUNK;

/// The mechanisms natter knows, in the order `CAP LS` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mechanism {
    /// RFC 4616: authzid, authcid and password in one message.
    Plain,
    /// RFC 4422 appendix A: the TLS client certificate proves who it is.
    External,
    /// RFC 7677: a challenge and response that never sends the password.
    ScramSha256,
}

impl Mechanism {
    /// Every mechanism.
    pub const ALL: [Mechanism; 3] = [
        Mechanism::Plain,
        Mechanism::External,
        Mechanism::ScramSha256,
    ];

    /// Its IANA name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::External => "EXTERNAL",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// The mechanism called `name` (any case).
    pub fn parse(name: &str) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// What one `AUTHENTICATE` chunk did to the payload being gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A full chunk: more follow.
    More,
    /// The payload is complete: here it is, decoded.
    Done(Vec<u8>),
    /// A chunk longer than 400 bytes, or a payload past [`MAX_PAYLOAD`]: 905.
    TooLong,
    /// Not base64: the exchange fails (904).
    Invalid,
}

/// A payload being gathered from `AUTHENTICATE` chunks.
///
/// ```
/// use natter::core::sasl::{Chunk, Payload};
/// let mut p = Payload::default();
/// assert_eq!(p.push("aGVsbG8="), Chunk::Done(b"hello".to_vec()));
/// assert_eq!(p.push("+"), Chunk::Done(Vec::new()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Payload {
    base64: String,
}

impl Payload {
    /// Adds one chunk (`+` is an empty one).
    pub fn push(&mut self, chunk: &str) -> Chunk {
        if chunk.len() > CHUNK {
            self.base64.clear();
            return Chunk::TooLong;
        }
        if chunk != "+" {
            self.base64.push_str(chunk);
        }
        if self.base64.len() > MAX_PAYLOAD {
            self.base64.clear();
            return Chunk::TooLong;
        }
        if chunk.len() == CHUNK {
            return Chunk::More;
        }
        let text = std::mem::take(&mut self.base64);
        match STANDARD.decode(text.as_bytes()) {
            Ok(bytes) => Chunk::Done(bytes),
            Err(_) => Chunk::Invalid,
        }
    }
}

/// `bytes` as `AUTHENTICATE` lines: base64 in 400-byte chunks, `+` after a
/// last full chunk (and for an empty message).
///
/// ```
/// assert_eq!(natter::core::sasl::chunks(b""), vec!["+".to_string()]);
/// assert_eq!(natter::core::sasl::chunks(b"hi"), vec!["aGk=".to_string()]);
/// ```
pub fn chunks(bytes: &[u8]) -> Vec<String> {
    let text = STANDARD.encode(bytes);
    let mut out: Vec<String> = text
        .as_bytes()
        .chunks(CHUNK)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    if out.last().is_none_or(|c| c.len() == CHUNK) {
        out.push("+".to_string());
    }
    out
}

/// A PLAIN message (RFC 4616): `authzid NUL authcid NUL password`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainLogin {
    /// Who to act as; empty means the same as `authcid`.
    pub authzid: String,
    /// The account whose password this is.
    pub authcid: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for PlainLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainLogin")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl PlainLogin {
    /// Splits a decoded PLAIN message; `None` unless it has exactly three
    /// UTF-8 parts, a non-empty authcid and password.
    ///
    /// ```
    /// use natter::core::sasl::PlainLogin;
    /// let p = PlainLogin::parse(b"\0alice\0pw").unwrap();
    /// assert_eq!((p.authzid.as_str(), p.authcid.as_str(), p.password.as_str()), ("", "alice", "pw"));
    /// assert!(PlainLogin::parse(b"alice\0pw").is_none());
    /// ```
    pub fn parse(bytes: &[u8]) -> Option<PlainLogin> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split('\0');
        let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || authcid.is_empty() || password.is_empty() {
            return None;
        }
        Some(PlainLogin {
            authzid: authzid.to_string(),
            authcid: authcid.to_string(),
            password: password.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_in_several_chunks_is_joined_and_a_full_last_chunk_ends_with_a_plus() {
        let message = vec![b'x'; 600]; // 800 bytes of base64: two full chunks
        let lines = chunks(&message);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "+");
        let mut p = Payload::default();
        assert_eq!(p.push(&lines[0]), Chunk::More);
        assert_eq!(p.push(&lines[1]), Chunk::More);
        assert_eq!(p.push(&lines[2]), Chunk::Done(message));
    }

    #[test]
    fn too_long_chunks_payloads_and_bad_base64_are_refused_not_kept() {
        let mut p = Payload::default();
        assert_eq!(p.push(&"A".repeat(401)), Chunk::TooLong);
        for _ in 0..4 {
            assert_eq!(p.push(&"A".repeat(400)), Chunk::More);
        }
        assert_eq!(p.push(&"A".repeat(400)), Chunk::TooLong);
        assert_eq!(p, Payload::default(), "nothing kept after a refusal");
        assert_eq!(p.push("!!!"), Chunk::Invalid);
    }

    #[test]
    fn plain_needs_three_parts_and_never_shows_the_password_in_debug() {
        let p = PlainLogin::parse(b"bob\0alice\0s3cret").expect("parses");
        assert_eq!(p.authzid, "bob");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert!(PlainLogin::parse(b"\0\0pw").is_none());
        assert!(PlainLogin::parse(b"\0a\0").is_none());
        assert!(PlainLogin::parse(b"\0a\0b\0c").is_none());
        assert!(PlainLogin::parse(&[0, b'a', 0, 0xff]).is_none());
    }

    #[test]
    fn mechanisms_are_named_as_iana_lists_them() {
        assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
        assert_eq!(
            Mechanism::parse("SCRAM-SHA-256"),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(Mechanism::parse("DIGEST-MD5"), None);
    }
}
