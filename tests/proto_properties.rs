//! Properties of the wire format, checked on random inputs with proptest:
//! round trips, no line breaks from the serializer, chunking-independent and
//! bounded line framing, and a parser that never panics.

use natter::proto::{LineReader, Message, Tag, MAX_LINE, MAX_TAGS};
use proptest::collection::vec;
use proptest::prelude::*;

// ----- generators -----------------------------------------------------------

/// An IRCv3 tag key: optional client `+`, optional vendor, then the name.
fn tag_key() -> impl Strategy<Value = String> {
    "\\+?([a-z0-9.-]{1,8}/)?[A-Za-z0-9-]{1,10}"
}

/// Any tag value except NUL (which IRCv3 cannot carry): spaces, `;`, `\`,
/// CR and LF included, since the serializer escapes them.
fn tag_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof!["[^\0]{0,12}", "[ ;\\\\\r\nsa:=]{0,8}",])
}

/// Tags with distinct keys (a repeated key collapses into one on parsing).
fn tags() -> impl Strategy<Value = Vec<Tag>> {
    vec((tag_key(), tag_value()), 0..4).prop_map(|pairs| {
        let mut tags: Vec<Tag> = Vec::new();
        for (key, value) in pairs {
            if tags.iter().all(|t| t.key != key) {
                tags.push(Tag { key, value });
            }
        }
        tags
    })
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z]{1,10}", "[0-9]{3}"]
}

/// A source: one word without spaces or line breaks (it may hold `!`, `@`,
/// `:` and control codes, as real sources do).
fn source() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[^\0\r\n ]{1,20}")
}

/// Middle parameters: non-empty, no spaces, not starting with `:`. The last
/// parameter: anything without CR, LF or NUL — spaces, colons, or empty.
fn params() -> impl Strategy<Value = Vec<String>> {
    (
        vec("[^\0\r\n :][^\0\r\n ]{0,10}", 0..6),
        prop::option::of(prop_oneof![
            "[^\0\r\n]{0,30}",
            "[: ]{0,5}",
            "[^\0\r\n :][^\0\r\n ]{0,10}",
        ]),
    )
        .prop_map(|(mut middle, last)| {
            middle.extend(last);
            middle
        })
}

fn valid_message() -> impl Strategy<Value = Message> {
    (tags(), source(), command(), params()).prop_map(|(tags, source, command, params)| Message {
        tags,
        source,
        command,
        params,
    })
}

/// Any message at all: every field any string, line breaks and NULs included.
fn any_message() -> impl Strategy<Value = Message> {
    (
        vec((any::<String>(), any::<Option<String>>()), 0..4),
        any::<Option<String>>(),
        any::<String>(),
        vec(any::<String>(), 0..6),
    )
        .prop_map(|(tags, source, command, params)| Message {
            tags: tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
            source,
            command,
            params,
        })
}

/// A byte stream built from pieces that stress framing: long runs (over
/// both limits), tagged lines, lone CR, lone LF, CR LF, invalid UTF-8.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => vec(any::<u8>(), 0..40),
        2 => "[ -~]{0,60}".prop_map(String::into_bytes),
        1 => (0usize..=2 * (MAX_LINE + MAX_TAGS)).prop_map(|n| vec![b'a'; n]),
        1 => (MAX_LINE - 2..=MAX_LINE + 3).prop_map(|n| vec![b'x'; n]),
        1 => (MAX_LINE + MAX_TAGS - 3..=MAX_LINE + MAX_TAGS + 3).prop_map(|n| {
            let mut v = vec![b't'; n];
            v[0] = b'@';
            v
        }),
        // Short tags, then a body around its own limit.
        1 => (MAX_LINE - 2..=MAX_LINE + 3).prop_map(|n| {
            let mut v = b"@t=1 ".to_vec();
            v.resize(v.len() + n, b'b');
            v
        }),
        3 => Just(b"\r\n".to_vec()),
        2 => Just(b"\n".to_vec()),
        2 => Just(b"\r".to_vec()),
        1 => Just(b"@".to_vec()),
        1 => Just(vec![0xff, 0xc3]),
    ];
    vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

// ----- helpers --------------------------------------------------------------

fn drain(reader: &mut LineReader) -> Vec<Result<String, natter::proto::LineError>> {
    std::iter::from_fn(|| reader.next_line()).collect()
}

fn one_push(bytes: &[u8]) -> Vec<Result<String, natter::proto::LineError>> {
    let mut reader = LineReader::new();
    reader.push(bytes);
    drain(&mut reader)
}

/// `bytes` cut at `cuts` (each taken modulo the length), in order.
fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut start = 0;
    points
        .into_iter()
        .map(|end| {
            let chunk = &bytes[start..end];
            start = end;
            chunk
        })
        .collect()
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n', '\0'])
}

// ----- properties -----------------------------------------------------------

proptest! {
    #[test]
    fn a_valid_message_parses_back_from_its_serialization(msg in valid_message()) {
        let wire = msg.to_string();
        prop_assert_eq!(Message::parse(&wire), Ok(msg), "wire: {:?}", wire);
    }

    #[test]
    fn the_serializer_never_emits_cr_lf_or_nul_whatever_the_fields_hold(msg in any_message()) {
        let wire = msg.to_string();
        prop_assert!(!has_line_break(&wire), "{:?} serialized as {:?}", msg, wire);
    }

    #[test]
    fn parsing_never_panics_and_whatever_parses_survives_a_round_trip(
        line in prop_oneof![any::<String>(), "[@:;= \\\\a-zA-Z0-9\r\n\0]{0,40}"]
    ) {
        if let Ok(msg) = Message::parse(&line) {
            let wire = msg.to_string();
            prop_assert!(!has_line_break(&wire));
            prop_assert_eq!(Message::parse(&wire), Ok(msg), "{:?} -> {:?}", line, wire);
        }
    }

    #[test]
    fn line_reader_output_is_the_same_under_every_chunking(
        bytes in stream(),
        cuts in vec(any::<usize>(), 0..32),
    ) {
        let expected = one_push(&bytes);
        let mut reader = LineReader::new();
        let mut got = Vec::new();
        for chunk in chunks(&bytes, &cuts) {
            reader.push(chunk);
            // Draining between pushes must not matter either.
            got.extend(drain(&mut reader));
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn line_reader_fed_one_byte_at_a_time_matches_one_push(bytes in stream()) {
        let mut reader = LineReader::new();
        for b in &bytes {
            reader.push(std::slice::from_ref(b));
        }
        prop_assert_eq!(drain(&mut reader), one_push(&bytes));
    }

    #[test]
    fn line_reader_never_buffers_more_than_the_limit_plus_one(
        pushes in vec(prop_oneof![stream(), vec(any::<u8>(), 0..20_000)], 1..8),
    ) {
        let mut reader = LineReader::new();
        for bytes in &pushes {
            reader.push(bytes);
            prop_assert!(reader.buffered() <= MAX_LINE + MAX_TAGS + 1, "{}", reader.buffered());
        }
        // Lines are drained only now: what is buffered must not depend on it.
        // (A line may still hold a CR: "\r\r\n" gives "\r", which the parser
        // then rejects as ForbiddenCharacter.)
        for item in drain(&mut reader).into_iter().flatten() {
            prop_assert!(!item.is_empty() && !item.contains('\n'), "{:?}", item);
        }
    }

    #[test]
    fn line_reader_holds_at_most_the_untagged_limit_for_untagged_lines(
        pushes in vec(stream(), 1..8),
    ) {
        let mut reader = LineReader::new();
        for bytes in &pushes {
            let untagged: Vec<u8> = bytes.iter().map(|&b| if b == b'@' { b'a' } else { b }).collect();
            reader.push(&untagged);
            prop_assert!(reader.buffered() <= MAX_LINE + 1, "{}", reader.buffered());
        }
    }
}

#[test]
fn an_over_long_line_split_across_many_reads_is_reported_once() {
    let mut line = vec![b'a'; 3 * MAX_LINE];
    line.extend_from_slice(b"\r\nPING x\r\n");
    let mut reader = LineReader::new();
    for chunk in line.chunks(7) {
        reader.push(chunk);
    }
    assert_eq!(
        drain(&mut reader),
        vec![
            Err(natter::proto::LineError::TooLong { limit: MAX_LINE }),
            Ok("PING x".to_string())
        ]
    );
}
