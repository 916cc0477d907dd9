//! Splitting a byte stream into IRC lines.
//!
//! Owns line framing: CR LF or bare LF ends a line, empty lines are skipped,
//! over-long lines and invalid UTF-8 become error items. Must never hold more
//! than the line limit in memory, never panic on any bytes, and never let the
//! way the stream was chunked change what comes out.

use std::collections::VecDeque;
use std::fmt;

/// Longest line body (without CR LF) for a line with no tags: 512 minus CR LF.
/// A tagged line may be this long after its `@tags ` section too.
pub const MAX_LINE: usize = 510;
/// Longest `@tags ` section (with its `@` and its space) a line may start
/// with: IRCv3 message-tags' combined limit. A client's own tag data is held
/// to 4094 bytes by the core, which answers 417 beyond that.
pub const MAX_TAGS: usize = 8191;

/// Why a line from the stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LineError {
    /// The line was longer than the limit; it was dropped up to its newline.
    TooLong {
        /// The limit it broke, in bytes.
        limit: usize,
    },
    /// The line was not valid UTF-8; it was dropped.
    InvalidUtf8,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => {
                write!(f, "line too long: keep each line under {limit} bytes")
            }
            LineError::InvalidUtf8 => {
                write!(f, "line is not valid UTF-8: set your client to UTF-8")
            }
        }
    }
}

impl std::error::Error for LineError {}

/// Turns chunks of bytes into complete lines.
///
/// Feed bytes with [`LineReader::push`], then take lines with
/// [`LineReader::next_line`] until it returns `None`.
///
/// ```
/// use natter::proto::LineReader;
/// let mut r = LineReader::new();
/// r.push(b"NICK al");
/// assert_eq!(r.next_line(), None);
/// r.push(b"ice\r\n\r\nJOIN #lobby\n");
/// assert_eq!(r.next_line(), Some(Ok("NICK alice".to_string())));
/// assert_eq!(r.next_line(), Some(Ok("JOIN #lobby".to_string())));
/// assert_eq!(r.next_line(), None);
/// ```
#[derive(Debug, Default)]
pub struct LineReader {
    /// The start of the line being received (never more than its limit + 1 bytes).
    partial: Vec<u8>,
    /// True while skipping the rest of an over-long line up to its newline.
    discarding: bool,
    /// Finished lines and errors, in stream order.
    ready: VecDeque<Result<String, LineError>>,
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// The limit for the line whose first byte is `first`.
    fn limit_for(first: Option<u8>) -> usize {
        if first == Some(b'@') {
            MAX_LINE + MAX_TAGS
        } else {
            MAX_LINE
        }
    }

    /// Feed the next chunk of the stream.
    pub fn push(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let newline = memchr::memchr(b'\n', chunk);
            let (segment, rest) = match newline {
                Some(i) => (&chunk[..i], &chunk[i + 1..]),
                None => (chunk, &[][..]),
            };
            if !self.discarding {
                let first = self.partial.first().or(segment.first()).copied();
                let limit = Self::limit_for(first);
                // +1: the CR of a CR LF ending may still be in the buffer.
                // Checked before copying, so a huge chunk is never copied in
                // (and never leaves a huge allocation behind).
                if self.partial.len() + segment.len() > limit + 1 {
                    self.partial.clear();
                    self.discarding = true;
                    self.ready.push_back(Err(LineError::TooLong { limit }));
                } else {
                    self.partial.extend_from_slice(segment);
                }
            }
            if newline.is_some() {
                if self.discarding {
                    self.discarding = false;
                } else {
                    self.finish_line();
                }
            }
            chunk = rest;
        }
    }

    fn finish_line(&mut self) {
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            return;
        }
        let limit = Self::limit_for(line.first().copied());
        if line.len() > limit {
            self.ready.push_back(Err(LineError::TooLong { limit }));
            return;
        }
        // The tags and the message have separate limits: many tags must not
        // buy a message body past 510 bytes.
        if line.first() == Some(&b'@') {
            let tags = line
                .iter()
                .position(|&b| b == b' ')
                .map_or(line.len(), |i| i + 1);
            if tags > MAX_TAGS {
                self.ready
                    .push_back(Err(LineError::TooLong { limit: MAX_TAGS }));
                return;
            }
            if line.len() - tags > MAX_LINE {
                self.ready
                    .push_back(Err(LineError::TooLong { limit: MAX_LINE }));
                return;
            }
        }
        match String::from_utf8(line) {
            Ok(s) => self.ready.push_back(Ok(s)),
            Err(_) => self.ready.push_back(Err(LineError::InvalidUtf8)),
        }
    }

    /// The next finished line or error, if any.
    pub fn next_line(&mut self) -> Option<Result<String, LineError>> {
        self.ready.pop_front()
    }

    /// Takes every finished line and error, in order, leaving none (and no
    /// queue memory) behind: a reader that then waits, perhaps for hours,
    /// between lines holds nothing.
    pub fn take_lines(&mut self) -> VecDeque<Result<String, LineError>> {
        std::mem::take(&mut self.ready)
    }

    /// Bytes held for the unfinished line (bounded by the line limit).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut LineReader) -> Vec<Result<String, LineError>> {
        std::iter::from_fn(|| r.next_line()).collect()
    }

    #[test]
    fn over_long_line_is_reported_once_and_reader_resynchronizes() {
        let mut r = LineReader::new();
        r.push(&vec![b'a'; 5000]);
        assert!(r.buffered() <= MAX_LINE + 1);
        r.push(&vec![b'a'; 5000]);
        r.push(b"\r\nPING x\r\n");
        assert_eq!(
            all(&mut r),
            vec![
                Err(LineError::TooLong { limit: MAX_LINE }),
                Ok("PING x".into())
            ]
        );
    }

    #[test]
    fn one_huge_chunk_without_newline_never_grows_the_buffer_past_the_limit() {
        // Regression: the reader used to copy the whole chunk into its buffer
        // before checking the limit, so one 1 MiB read left a 1 MiB
        // allocation behind for the life of the connection.
        let mut r = LineReader::new();
        r.push(&vec![b'@'; 1 << 20]);
        assert_eq!(r.buffered(), 0);
        assert!(
            r.partial.capacity() <= 2 * (MAX_LINE + MAX_TAGS + 1),
            "buffer capacity {}",
            r.partial.capacity()
        );
        r.push(b"\nPING z\n");
        assert_eq!(
            all(&mut r),
            vec![
                Err(LineError::TooLong {
                    limit: MAX_LINE + MAX_TAGS
                }),
                Ok("PING z".into())
            ]
        );
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut r = LineReader::new();
        let body = "a".repeat(MAX_LINE);
        r.push(format!("{body}\r\n").as_bytes());
        assert_eq!(all(&mut r), vec![Ok(body)]);
    }

    #[test]
    fn a_tagged_line_gets_the_full_tag_room_but_no_longer_a_message() {
        let mut r = LineReader::new();
        let tags = format!("@+a={} ", "t".repeat(MAX_TAGS - 5));
        let body = format!("PRIVMSG #a :{}", "b".repeat(MAX_LINE - 12));
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(body.len(), MAX_LINE);
        r.push(format!("{tags}{body}\r\n").as_bytes());
        assert_eq!(all(&mut r), vec![Ok(format!("{tags}{body}"))]);
        // Short tags do not lend their unused room to the message.
        r.push(format!("@+a=b {body}b\r\nPING x\r\n").as_bytes());
        assert_eq!(
            all(&mut r),
            vec![
                Err(LineError::TooLong { limit: MAX_LINE }),
                Ok("PING x".into())
            ]
        );
        r.push(format!("@+a={}t PING x\n", "t".repeat(MAX_TAGS - 5)).as_bytes());
        assert_eq!(
            all(&mut r),
            vec![Err(LineError::TooLong { limit: MAX_TAGS })]
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_item() {
        let mut r = LineReader::new();
        r.push(b"PRIVMSG #a :\xff\xfe\nPING y\n");
        assert_eq!(
            all(&mut r),
            vec![Err(LineError::InvalidUtf8), Ok("PING y".into())]
        );
    }
}
