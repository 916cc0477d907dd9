//! The few bytes of IRC that natter-bench reads and writes, scanned by hand.
//!
//! Owns: splitting a receive buffer into lines in place, classifying a received
//! line (PING, ERROR, numeric, JOIN, PART, PRIVMSG with a benchmark payload) and
//! formatting the benchmark's PRIVMSG payload into a reused buffer.
//! Must never: allocate on the hot path (PRIVMSG in, PRIVMSG out), build
//! `Message` values, panic on any bytes a server sends, or do I/O.

use std::io::Write as _;

/// One received line, classified without allocating.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// `PING <token>`: answer with `PONG <token>`.
    Ping(&'a [u8]),
    /// `ERROR :<text>`: the server is closing the connection, and says why.
    Error(&'a [u8]),
    /// A three-digit reply; `params` is everything after the numeric.
    Numeric { code: u16, params: &'a [u8] },
    /// A benchmark PRIVMSG: `<sender> <seq> <send_time_ns> [<written_ns>]`
    /// in the text. `sent_ns` is what latency is measured from: a paced
    /// message's *scheduled* send time, an unpaced one's write time.
    /// `written_ns`, paced messages only, is when the sender actually wrote
    /// it (for the uncorrected latency beside the corrected one).
    Bench {
        sender: u32,
        seq: u32,
        sent_ns: u64,
        written_ns: Option<u64>,
    },
    /// `:nick!user@host JOIN <channel>` (or `JOIN :<channel>`).
    Join { nick: &'a [u8], channel: &'a [u8] },
    /// `:nick!user@host PART <channel> [:<reason>]`.
    Part { nick: &'a [u8], channel: &'a [u8] },
    /// `:nick!user@host QUIT [:<reason>]`.
    Quit { nick: &'a [u8] },
    /// Anything else (NOTICE, MODE, a PRIVMSG that is not ours, ...).
    Other,
}

/// Split off the next complete line at the front of `buf`: returns the line
/// without its CR/LF and the number of bytes it used, or `None` if no LF yet.
pub fn next_line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let lf = memchr::memchr(b'\n', buf)?;
    let mut line = &buf[..lf];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    Some((line, lf + 1))
}

fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', s) {
        Some(i) => {
            let mut rest = &s[i + 1..];
            while let [b' ', r @ ..] = rest {
                rest = r;
            }
            (&s[..i], rest)
        }
        None => (s, &[]),
    }
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// Parse the benchmark payload `<sender> <seq> <send_time_ns> [<written_ns>]`.
fn parse_payload(text: &[u8]) -> Option<(u32, u32, u64, Option<u64>)> {
    let (a, rest) = split_word(text);
    let (b, rest) = split_word(rest);
    let (c, rest) = split_word(rest);
    let (d, _) = split_word(rest);
    let sender = u32::try_from(parse_u64(a)?).ok()?;
    let seq = u32::try_from(parse_u64(b)?).ok()?;
    Some((sender, seq, parse_u64(c)?, parse_u64(d)))
}

/// Classify one line (without CR/LF). Never panics, whatever the bytes.
pub fn classify(line: &[u8]) -> Line<'_> {
    let mut rest = line;
    // IRCv3 tags are not requested, but skip them if a server sends some.
    if let [b'@', ..] = rest {
        rest = split_word(rest).1;
    }
    let mut source: &[u8] = &[];
    if let [b':', src @ ..] = rest {
        let (s, r) = split_word(src);
        source = s;
        rest = r;
    }
    let (cmd, params) = split_word(rest);
    let nick = &source[..source
        .iter()
        .position(|&b| b == b'!')
        .unwrap_or(source.len())];
    match cmd {
        b"PRIVMSG" => {
            let (_target, text) = split_word(params);
            let text = text.strip_prefix(b":").unwrap_or(text);
            match parse_payload(text) {
                Some((sender, seq, sent_ns, written_ns)) => Line::Bench {
                    sender,
                    seq,
                    sent_ns,
                    written_ns,
                },
                None => Line::Other,
            }
        }
        b"PING" => Line::Ping(params),
        b"ERROR" => Line::Error(params.strip_prefix(b":").unwrap_or(params)),
        b"JOIN" | b"PART" => {
            let (chan, _) = split_word(params.strip_prefix(b":").unwrap_or(params));
            if cmd == b"JOIN" {
                Line::Join {
                    nick,
                    channel: chan,
                }
            } else {
                Line::Part {
                    nick,
                    channel: chan,
                }
            }
        }
        b"QUIT" => Line::Quit { nick },
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Line::Numeric {
                code: u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
                params,
            }
        }
        _ => Line::Other,
    }
}

/// Append `PRIVMSG <channel> :<sender> <seq> <sent_ns>[ <written_ns>]\r\n`
/// to `out`. Writing into a `Vec` cannot fail; it only grows the reused buffer.
pub fn push_privmsg(
    out: &mut Vec<u8>,
    channel: &str,
    sender: u32,
    seq: u32,
    sent_ns: u64,
    written_ns: Option<u64>,
) {
    out.extend_from_slice(b"PRIVMSG ");
    out.extend_from_slice(channel.as_bytes());
    // io::Write for Vec<u8> never returns an error.
    let _ = write!(out, " :{sender} {seq} {sent_ns}");
    if let Some(w) = written_ns {
        let _ = write!(out, " {w}");
    }
    out.extend_from_slice(b"\r\n");
}

/// The server's text, made printable for an error message.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_crlf_and_lf_lines() {
        let buf = b"PING :x\r\nPING y\npartial";
        let (l, n) = next_line(buf).unwrap();
        assert_eq!((l, n), (&b"PING :x"[..], 9));
        let (l, n2) = next_line(&buf[n..]).unwrap();
        assert_eq!(l, b"PING y");
        assert!(next_line(&buf[n + n2..]).is_none());
    }

    #[test]
    fn classifies_a_benchmark_privmsg() {
        let l = classify(b":n1!u@127.0.0.1 PRIVMSG #bench :3 17 123456789");
        assert_eq!(
            l,
            Line::Bench {
                sender: 3,
                seq: 17,
                sent_ns: 123456789,
                written_ns: None,
            }
        );
    }

    #[test]
    fn formats_what_it_parses() {
        let mut out = Vec::new();
        push_privmsg(&mut out, "#r1", 4, 9, 1000, None);
        assert_eq!(out, b"PRIVMSG #r1 :4 9 1000\r\n");
        let (line, _) = next_line(&out).unwrap();
        assert_eq!(
            classify(line),
            Line::Bench {
                sender: 4,
                seq: 9,
                sent_ns: 1000,
                written_ns: None,
            }
        );
    }

    #[test]
    fn a_paced_message_carries_its_scheduled_and_its_written_time() {
        let mut out = Vec::new();
        push_privmsg(&mut out, "#r1", 4, 9, 1000, Some(1750));
        assert_eq!(out, b"PRIVMSG #r1 :4 9 1000 1750\r\n");
        let (line, _) = next_line(&out).unwrap();
        assert_eq!(
            classify(line),
            Line::Bench {
                sender: 4,
                seq: 9,
                sent_ns: 1000,
                written_ns: Some(1750),
            }
        );
    }

    #[test]
    fn classifies_control_lines() {
        assert_eq!(classify(b"PING :abc"), Line::Ping(b":abc"));
        assert_eq!(
            classify(b"ERROR :Closing Link: Excess Flood"),
            Line::Error(b"Closing Link: Excess Flood")
        );
        assert_eq!(
            classify(b":srv 001 me :Welcome"),
            Line::Numeric {
                code: 1,
                params: b"me :Welcome"
            }
        );
        assert_eq!(
            classify(b":me!u@h JOIN :#bench"),
            Line::Join {
                nick: b"me",
                channel: b"#bench"
            }
        );
        assert_eq!(
            classify(b":me!u@h PART #bench :see you"),
            Line::Part {
                nick: b"me",
                channel: b"#bench"
            }
        );
        assert_eq!(
            classify(b":me!u@h PART :#bench"),
            Line::Part {
                nick: b"me",
                channel: b"#bench"
            }
        );
        assert_eq!(
            classify(b"@time=x :me!u@h QUIT :Quit: bye"),
            Line::Quit { nick: b"me" }
        );
        assert_eq!(classify(b":a!b@c PRIVMSG #x :hello there"), Line::Other);
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            &b""[..],
            b":",
            b"@",
            b"@ :",
            b": PRIVMSG",
            b"PRIVMSG",
            b"999",
            b"\xff\xfe",
        ] {
            let _ = classify(junk);
        }
    }
}
