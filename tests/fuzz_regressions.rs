//! Fuzz inputs replayed on stable `cargo test`, through exactly the checks
//! the cargo-fuzz targets run (`fuzz/src/checks.rs`, shared by `#[path]`).
//!
//! Holds every crash input the fuzzers found (none so far; runs are recorded
//! in fuzz/README.md) and the seed inputs on the edges the targets probe:
//! over-long lines at and around both limits, lone CR, CR CR LF, invalid
//! UTF-8, tag escapes, events for connections that are gone. A new crash
//! input goes here as an inline value (`cargo +nightly fuzz fmt TARGET FILE`
//! prints it), with a comment saying what was wrong.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use checks::{check_line_reader, check_parse_message, check_server, Op, Summary};
use natter::proto::{MAX_LINE, MAX_TAGS};

fn repeat(byte: u8, n: usize) -> Vec<u8> {
    vec![byte; n]
}

/// A line starting with `@` of exactly `n` bytes.
fn tagged(n: usize) -> Vec<u8> {
    let mut v = repeat(b't', n);
    v[0] = b'@';
    v
}

// ----- parse_message --------------------------------------------------------

#[test]
fn parse_message_seeds_parse_without_panic_and_round_trip() {
    let long = [b"PRIVMSG #a :".as_slice(), &repeat(b'x', 4 * MAX_LINE)].concat();
    let seeds: Vec<&[u8]> = vec![
        b"",
        b" ",
        b"\r",
        b"PING\r",
        b"PRIVMSG #a :one\rtwo",
        b"PRIVMSG #a :nul\0inside",
        b"PRIVMSG #a :\xff\xfe not utf-8",
        b"\xc3",
        b":",
        b": CMD",
        b":src",
        b"@",
        b"@ CMD",
        b"@;;; CMD",
        b"@=v CMD",
        b"@a=\\ CMD",
        b"@a=\\\\ CMD",
        b"@a= CMD",
        b"@a;a=b;a CMD",
        b"@a=x=y CMD",
        b"@a=\\r\\n\\0 CMD",
        b"CMD :",
        b"CMD ::",
        b"CMD a  b   :c  d ",
        b"CMD \t :x",
        b"   CMD",
        b"C-D x",
        b"001 nick :Welcome",
        &long,
    ];
    for seed in seeds {
        check_parse_message(seed);
    }
}

// ----- line_reader ----------------------------------------------------------

#[test]
fn line_reader_seeds_frame_the_same_under_any_cut_and_stay_bounded() {
    let over = [repeat(b'a', MAX_LINE + 1), b"\r\nPING x\r\n".to_vec()].concat();
    let at_limit_cr = [repeat(b'a', MAX_LINE), b"\r".to_vec()].concat();
    let at_limit_crlf = [repeat(b'a', MAX_LINE), b"\r\n".to_vec()].concat();
    let over_by_cr = [repeat(b'a', MAX_LINE + 1), b"\r\n".to_vec()].concat();
    let tag_limit = MAX_LINE + MAX_TAGS;
    let tagged_ok = [tagged(tag_limit), b"\r\n".to_vec()].concat();
    let tagged_over = [tagged(tag_limit + 1), b"\n".to_vec()].concat();
    let tagged_unfinished = tagged(tag_limit + 2);
    let huge = [repeat(b'z', 70_000), b"\nPING y\n".to_vec()].concat();
    let streams: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r".to_vec(),
        b"\n".to_vec(),
        b"\r\n\r\n\n\n".to_vec(),
        b"\r\r\n".to_vec(),
        b"PING\rPONG\n".to_vec(),
        b"\xff\n\xc3\xa9\n\xc3\n".to_vec(),
        b"NICK a\r\nUSER a 0 * :A\r\nunfinished".to_vec(),
        over,
        at_limit_cr,
        at_limit_crlf,
        over_by_cr,
        tagged_ok,
        tagged_over,
        tagged_unfinished,
        huge,
    ];
    let cut_sets: Vec<Vec<u16>> = vec![
        vec![],
        vec![1],
        vec![511, 512],
        vec![510, 511, 512, 513],
        vec![8700, 8701, 8702, 8703],
        (0..64).map(|i| i * 7).collect(),
        vec![u16::MAX, 3, 3, 0],
    ];
    for stream in &streams {
        for cuts in &cut_sets {
            check_line_reader(stream, cuts);
        }
    }
}

// ----- server ---------------------------------------------------------------
//
// Each script runs through `check_server`, which asserts after every event
// that no action targets a connection that is not open, and ends with a
// shutdown. The summary shows the script reached what it aims at.

#[test]
fn events_for_connections_never_opened_produce_no_actions() {
    let summary = check_server(&[
        Op::Line(0, "NICK ghost".into()),
        Op::Bytes(1, b"JOIN #lobby\r\n".to_vec()),
        Op::Close(3),
        Op::Tick(1),
    ]);
    assert_eq!(summary, Summary::default());
}

#[test]
fn a_dropped_member_gets_nothing_while_the_room_talks_on() {
    let summary = check_server(&[
        Op::Connect(0),
        Op::Connect(1),
        Op::Register(0, 0),
        Op::Register(1, 4),
        Op::Join(0, 0),
        Op::Join(1, 0),
        Op::Say(0, 0, "Hello everyone!".into()),
        Op::Close(1),
        Op::Say(0, 0, "anyone?".into()),
        Op::Close(1),
        Op::Line(1, "PRIVMSG #lobby :from beyond".into()),
    ]);
    assert!(summary.broadcasts >= 2, "{summary:?}");
    assert_eq!(summary.closes, 1, "only the shutdown closes: {summary:?}");
}

#[test]
fn a_quit_connection_gets_nothing_more_even_as_events_for_it_keep_coming() {
    let summary = check_server(&[
        Op::Connect(0),
        Op::Register(0, 5),
        Op::Join(0, 1),
        Op::Connect(2),
        Op::Register(1, 6),
        Op::Join(1, 1),
        Op::Line(0, "QUIT :bye".into()),
        Op::Line(0, "PRIVMSG #rust :still here?".into()),
        Op::Bytes(0, b"JOIN #x\r\n".to_vec()),
        Op::Close(0),
        Op::Say(1, 1, "gone".into()),
    ]);
    assert_eq!(
        summary.closes, 2,
        "the QUIT, then the shutdown: {summary:?}"
    );
}

#[test]
fn nicks_differing_only_in_case_collide_and_stay_unique() {
    check_server(&[
        Op::Connect(0),
        Op::Connect(1),
        Op::Register(0, 0),
        Op::Register(1, 1),
        Op::Register(1, 4),
        Op::Line(1, "NICK N0".into()),
        Op::Join(0, 0),
        Op::Join(1, 2),
        Op::Line(0, "NICK N1".into()),
        Op::Line(1, "NICK N0".into()),
        Op::Line(0, "NICK Zed".into()),
        Op::Line(1, "NICK zED".into()),
    ]);
}

#[test]
fn raw_bytes_with_over_long_lines_lone_cr_and_bad_utf8_leave_the_core_consistent() {
    let summary = check_server(&[
        Op::Connect(0),
        Op::Bytes(0, b"NICK al".to_vec()),
        Op::Bytes(0, b"ice\r\nUSER a 0 * :A\r".to_vec()),
        Op::Bytes(0, b"\nJOIN #lobby\n".to_vec()),
        Op::Bytes(0, [repeat(b'a', 3 * MAX_LINE), b"\r\n".to_vec()].concat()),
        Op::Bytes(0, tagged(MAX_LINE + MAX_TAGS + 5)),
        Op::Bytes(0, b"\r\nPRIVMSG #lobby :\xff\xfe\r\n".to_vec()),
        Op::Bytes(0, b"\r\r\n\rPING x\n".to_vec()),
        Op::Line(0, "PRIVMSG #lobby :a\r\nQUIT :forged".into()),
        Op::Line(0, "PRIVMSG #lobby :nul\0".into()),
    ]);
    assert!(summary.sends > 0, "{summary:?}");
    assert_eq!(summary.closes, 1, "nothing forged a QUIT: {summary:?}");
}

#[test]
fn silent_clients_are_closed_once_by_registration_and_ping_timeouts() {
    let summary = check_server(&[
        Op::Connect(0),
        Op::Connect(1),
        Op::Register(1, 9),
        Op::Join(1, 3),
        Op::Tick(59),
        Op::Tick(1),
        Op::Tick(120),
        Op::Tick(30),
        Op::Tick(30),
        Op::Line(1, "PONG natter".into()),
        Op::Tick(u16::MAX),
    ]);
    assert_eq!(
        summary.closes, 2,
        "both timed out before shutdown: {summary:?}"
    );
}

#[test]
fn every_peer_shape_and_command_keeps_actions_on_open_connections() {
    let summary = check_server(&[
        Op::Connect(0),
        Op::Connect(1),
        Op::Connect(2),
        Op::Connect(3),
        Op::Line(0, "JOIN #lobby".into()),
        Op::Line(1, "CAP LS 302".into()),
        Op::Line(1, "CAP REQ :echo-message".into()),
        Op::Register(1, 1),
        Op::Line(1, "CAP END".into()),
        Op::Line(2, "USER".into()),
        Op::Line(2, "NICK".into()),
        Op::Line(3, "PASS secret".into()),
        Op::Register(3, 3),
        Op::Register(2, 2),
        Op::Join(2, 0),
        Op::Join(1, 0),
        Op::Say(1, 0, "echoed".into()),
        Op::Line(2, "JOIN 0".into()),
        Op::Line(2, "JOIN #a,#b,#a".into()),
        Op::Line(2, "PART #a :bye".into()),
        Op::Line(2, "TOPIC #b :new\ttopic".into()),
        Op::Line(2, "WHO #b".into()),
        Op::Line(2, "NAMES".into()),
        Op::Line(2, "LIST".into()),
        Op::Line(2, "MODE #b".into()),
        Op::Line(1, "PRIVMSG nick0 :private".into()),
        Op::Line(1, "PRIVMSG nobody :private".into()),
        Op::Line(1, "NOTICE #b :".into()),
        Op::Line(1, "WHOIS nick0".into()),
        Op::Line(1, "@+typing=active TAGMSG #lobby".into()),
    ]);
    assert_eq!(summary.closes, 4, "shutdown closes all four: {summary:?}");
}

#[test]
fn long_texts_from_clients_are_relayed_within_the_512_byte_line_limit() {
    let long_nick = "N".repeat(30);
    let text = |n: usize| "x".repeat(n);
    let summary = check_server(&[
        Op::Connect(0),
        Op::Connect(1),
        Op::Line(0, format!("NICK {long_nick}")),
        Op::Line(0, format!("USER {} 0 * :{}", text(16), text(64))),
        Op::Register(1, 4),
        Op::Join(0, 1),
        Op::Join(1, 1),
        Op::Say(0, 1, text(490)),
        Op::Say(0, 1, text(600)),
        Op::Line(0, format!("NOTICE #rust :{}", text(495))),
        Op::Line(0, format!("PRIVMSG n1 :{}", text(495))),
        Op::Line(0, format!("TOPIC #rust :{}", text(495))),
        Op::Line(1, "TOPIC #rust".into()),
        Op::Line(0, format!("PART #rust :{}", text(495))),
        Op::Join(0, 1),
        Op::Line(0, format!("NICK {}", "M".repeat(30))),
        Op::Line(0, format!("QUIT :{}", text(495))),
    ]);
    assert!(summary.broadcasts >= 5, "{summary:?}");
}
