//! Fuzz inputs replayed on stable `cargo test`, through exactly the checks
//! the cargo-fuzz targets run (`fuzz/src/checks.rs`, shared by `#[path]`).
//!
//! Holds every crash input the fuzzers found (none so far; runs are recorded
//! in fuzz/README.md) and the seed inputs on the edges the targets probe:
//! over-long lines at and around both limits, lone CR, CR CR LF, invalid
//! UTF-8, tag escapes, events for connections that are gone, and
//! moderation: bans, kicks, invitations, keys, limits, bad MODE lines. A new crash
//! input goes here as an inline value (`cargo +nightly fuzz fmt TARGET FILE`
//! prints it), with a comment saying what was wrong.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use checks::{
    cast, check_line_reader, check_parse_message, check_server, Arg, ModeStep, Op, Summary, Who,
};
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

// ----- server: moderation ---------------------------------------------------
//
// The same checks also compare what live JOIN, PART, KICK, MODE and INVITE
// lines announced with the rooms afterwards, so each script below shows
// the announcements are true as well as well-formed.

/// `+x` (`set`) or `-x` with `arg`, `x` being `letter` of `checks::MODE_LETTERS`.
fn step(set: bool, letter: char, arg: Arg) -> ModeStep {
    let letter = checks::MODE_LETTERS
        .iter()
        .position(|&l| l == letter)
        .expect("a letter of MODE_LETTERS") as u8;
    ModeStep { set, letter, arg }
}

fn plus(letter: char, arg: Arg) -> ModeStep {
    step(true, letter, arg)
}

fn minus(letter: char, arg: Arg) -> ModeStep {
    step(false, letter, arg)
}

fn nick(who: u8) -> Arg {
    Arg::Who(Who::Nick(who))
}

/// Index of `room` in `checks::TARGETS`.
fn target(room: &str) -> u8 {
    checks::TARGETS
        .iter()
        .position(|&r| r == room)
        .expect("a target") as u8
}

/// Asserts the run drew every numeric of `wanted`.
fn assert_drew(summary: &Summary, wanted: &[&str]) {
    for numeric in wanted {
        assert!(
            summary.numerics.contains(*numeric),
            "no {numeric}: {summary:?}"
        );
    }
}

/// Three users in #lobby: n0 (connection 0, from 127.0.0.1, the operator:
/// first in), nick0 (connection 1, from 10.0.0.2, user u2) and n1
/// (connection 2, from `unknown`, user u4).
fn three_in_the_lobby() -> Vec<Op> {
    vec![
        Op::Arrive(0, 0, 0),
        Op::Arrive(2, 2, 0),
        Op::Arrive(3, 4, 0),
    ]
}

#[test]
fn an_operator_bans_kicks_invites_back_and_locks_the_room_down() {
    let lobby = target("#lobby");
    let mut ops = three_in_the_lobby();
    ops.extend([
        // nick0!*@* (from connection 1) matches nick0: it may not speak, and once kicked may
        // not come back ...
        Op::RoomMode(0, lobby, vec![plus('b', Arg::Mask(1, 1))]),
        Op::Say(1, 0, "am I banned?".into()),
        Op::Kick(
            0,
            lobby,
            vec![Who::Conn(1), Who::Nick(4), Who::Text("nobody".into())],
            Some("out you go".into()),
        ),
        Op::Join(1, 0),
        // ... unless invited: the invitation admits once, past the ban.
        Op::Invite(0, Who::Conn(1), lobby),
        Op::Join(1, 0),
        Op::Part(1, lobby, Some("brb".into())),
        Op::Join(1, 0),
        // +iklm: n1 needs an invite exception (*!u4@*), the key, and room.
        Op::RoomMode(
            0,
            lobby,
            vec![
                plus('i', Arg::None),
                plus('k', Arg::Key(0)),
                plus('l', Arg::Limit(1)),
                plus('m', Arg::None),
                minus('t', Arg::None),
            ],
        ),
        Op::JoinKeys(2, vec![(lobby, None)]),
        Op::RoomMode(0, lobby, vec![plus('I', Arg::Mask(2, 2))]),
        Op::JoinKeys(2, vec![(lobby, Some(1))]),
        Op::JoinKeys(2, vec![(lobby, Some(0))]),
        Op::RoomMode(0, lobby, vec![plus('l', Arg::Limit(3))]),
        Op::JoinKeys(2, vec![(lobby, Some(0)), (target("#rust"), None)]),
        // +m: only the voiced and operators speak.
        Op::Say(2, 0, "moderated?".into()),
        Op::RoomMode(
            0,
            lobby,
            vec![
                plus('v', nick(4)),
                plus('o', nick(4)),
                minus('o', nick(4)),
                plus('e', Arg::Mask(2, 0)),
            ],
        ),
        Op::Say(2, 0, "voiced".into()),
        Op::Topic(2, lobby, Some("unlocked".into())),
        Op::RoomMode(0, lobby, vec![plus('t', Arg::None)]),
        Op::Topic(2, lobby, Some("locked?".into())),
        Op::Topic(2, lobby, None),
        // Modes, then every list.
        Op::RoomMode(2, lobby, vec![]),
        Op::RoomMode(
            0,
            lobby,
            vec![
                plus('b', Arg::None),
                plus('e', Arg::None),
                plus('I', Arg::None),
            ],
        ),
        Op::RoomMode(
            0,
            lobby,
            vec![
                minus('b', Arg::Mask(1, 1)),
                minus('I', Arg::Mask(2, 2)),
                minus('k', Arg::None),
                minus('l', Arg::None),
                minus('i', Arg::None),
                minus('m', Arg::None),
            ],
        ),
    ]);
    let summary = check_server(&ops);
    assert_drew(
        &summary,
        &[
            "404", "401", "474", "341", "473", "475", "471", "324", "329", "367", "368", "348",
            "349", "346", "347", "482", "332",
        ],
    );
    assert!(summary.kick_lines >= 2, "{summary:?}");
    assert!(summary.mode_lines >= 6, "{summary:?}");
    assert_eq!(summary.invite_lines, 1, "{summary:?}");
}

#[test]
fn mode_lines_with_unknown_letters_missing_and_bad_arguments_are_answered_not_obeyed() {
    let lobby = target("#lobby");
    let mut ops = three_in_the_lobby();
    ops.extend([
        // Not an operator: 482, and nothing changes.
        Op::RoomMode(1, lobby, vec![plus('m', Arg::None), plus('o', nick(2))]),
        // Unknown letters (472), missing arguments (461), a key no key may
        // be (525), limits out of range (696), a nick not there (401) or
        // not in the room (441), and good changes among them.
        Op::RoomMode(
            0,
            lobby,
            vec![
                plus('x', Arg::None),
                plus('é', Arg::None),
                plus('k', Arg::Key(5)),
                plus('k', Arg::Key(4)),
                plus('l', Arg::Limit(0)),
                plus('l', Arg::Limit(-5)),
                plus('l', Arg::Limit(i64::MAX)),
                plus('l', Arg::Text("ten".into())),
                plus('o', Arg::Text("nobody".into())),
                plus('s', Arg::None),
                plus('k', Arg::Key(3)),
                minus('n', Arg::None),
                plus('v', Arg::None),
                // ":" as the last argument: sent as "::".
                plus('k', Arg::Key(8)),
            ],
        ),
        Op::Connect(1),
        Op::Register(3, 6),
        Op::RoomMode(0, lobby, vec![plus('o', nick(6))]),
        // More than MODES=20 changes, arguments for flags, masks of every
        // shape (one too long to keep whole), and text with spaces.
        Op::RoomMode(
            0,
            lobby,
            (0..30)
                .map(|i| plus('b', Arg::Mask(i, i)))
                .chain([plus('t', Arg::Text("a b :c".into()))])
                .collect(),
        ),
        Op::RoomMode(
            0,
            lobby,
            vec![
                minus('b', Arg::Mask(0, 11)),
                plus('b', Arg::Text(String::new())),
                plus('b', Arg::Text(":::".into())),
                plus('e', Arg::Text("!@".into())),
                minus('k', Arg::Text("wrong".into())),
            ],
        ),
        // DEL and C1 controls are not spaces or commas: a key may hold
        // them (found by the fuzzer, once the invariant was too strict).
        Op::RoomMode(
            0,
            lobby,
            vec![plus('k', Arg::Text("\u{7f}\u{85}\u{7f}".into()))],
        ),
        Op::JoinKeys(2, vec![(lobby, Some(0))]),
        // Rooms that do not exist, targets that are not rooms.
        Op::RoomMode(0, target("#nowhere"), vec![plus('i', Arg::None)]),
        Op::RoomMode(0, target("lobby"), vec![plus('i', Arg::None)]),
        Op::Line(0, "MODE".into()),
        Op::Line(0, "MODE #lobby +".into()),
        Op::Line(0, "MODE #lobby -".into()),
        Op::Line(0, "MODE #lobby +-+-".into()),
        Op::Line(0, "MODE #lobby bb".into()),
        Op::Line(0, "MODE #lobby :+k".into()),
        // User modes: own, someone else's, unknown letters, +o not
        // granted, a 221 query.
        Op::UserMode(1, Who::Me, vec![plus('i', Arg::None), plus('w', Arg::None)]),
        Op::UserMode(1, Who::Me, vec![plus('o', Arg::None), plus('q', Arg::None)]),
        Op::UserMode(
            1,
            Who::Me,
            vec![minus('o', Arg::None), minus('i', Arg::None)],
        ),
        Op::UserMode(1, Who::Me, vec![]),
        Op::UserMode(1, Who::Nick(0), vec![plus('i', Arg::None)]),
        Op::UserMode(1, Who::Text("nobody".into()), vec![]),
        Op::UserMode(2, Who::Me, vec![plus('i', Arg::None)]),
        Op::Line(1, "NAMES #lobby".into()),
        Op::Line(1, "WHO #lobby".into()),
        Op::Line(1, "WHOIS n1".into()),
        Op::Line(1, "LIST".into()),
    ]);
    let summary = check_server(&ops);
    assert_drew(
        &summary,
        &[
            "482", "472", "461", "525", "696", "401", "441", "403", "221", "501", "502",
        ],
    );
    assert!(summary.mode_lines >= 3, "{summary:?}");
}

#[test]
fn a_list_stops_at_maxlist_and_long_masks_are_announced_within_512_bytes() {
    let long_room = format!("#{}", "r".repeat(49));
    let long_nick = "L".repeat(30);
    let masks = |from: u8, to: u8| -> String {
        (from..to)
            .map(|i| format!("{}{i}!*@*", "m".repeat(40)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut ops = vec![
        Op::Connect(0),
        Op::Line(0, format!("NICK {long_nick}")),
        Op::Line(0, format!("USER {} 0 * :Long", "u".repeat(16))),
        Op::Line(0, format!("JOIN {long_room}")),
        Op::Connect(1),
        Op::Register(1, 0),
        Op::Join(1, 0),
    ];
    // 20 long masks a line, past the 100 a list may hold.
    for start in (0..120).step_by(20) {
        let line = format!(
            "MODE {long_room} +{} {}",
            "b".repeat(20),
            masks(start, start + 20)
        );
        ops.push(Op::Line(0, line));
    }
    ops.push(Op::Line(
        0,
        format!("MODE {long_room} +e {}", "e".repeat(600)),
    ));
    ops.push(Op::Line(0, format!("MODE {long_room} b")));
    ops.push(Op::Line(
        0,
        format!("MODE {long_room} -bbbbb {}", masks(0, 5)),
    ));
    ops.push(Op::Line(
        0,
        format!("MODE {long_room} +bb {}", masks(120, 122)),
    ));
    // n0 fills #lobby's ban list with masks that differ by number only.
    for start in (16..=216).step_by(20) {
        let steps = (start..start + 20)
            .map(|shape| plus('b', Arg::Mask(0, shape)))
            .collect();
        ops.push(Op::RoomMode(1, target("#lobby"), steps));
    }
    let summary = check_server(&ops);
    assert_drew(&summary, &["478", "367", "368"]);
    assert!(summary.mode_lines >= 10, "{summary:?}");
}

#[test]
fn kicks_and_invitations_at_their_edges_leave_rooms_consistent() {
    let lobby = target("#lobby");
    let rust = target("#rust");
    let mut ops = three_in_the_lobby();
    ops.extend([
        // invite-notify and multi-prefix for the operator; n1 becomes an
        // operator too, so it hears invitations.
        Op::Caps(2, 0b0110_0000),
        Op::Caps(0, 0b0010_0110),
        Op::RoomMode(0, lobby, vec![plus('o', nick(4)), plus('v', nick(4))]),
        Op::Line(2, "NAMES #lobby".into()),
        // Not a member (442), not an operator (482), no such room (403),
        // too few parameters (461).
        Op::Kick(0, rust, vec![Who::Nick(2)], None),
        Op::Kick(1, lobby, vec![Who::Nick(0)], None),
        Op::Kick(0, target("#nowhere"), vec![Who::Nick(2)], None),
        Op::Kick(0, lobby, vec![], None),
        // Already there (443), then out and invited, twice; the invitee
        // quits with the invitation pending.
        Op::Invite(0, Who::Nick(2), lobby),
        Op::Kick(0, lobby, vec![Who::Nick(2); 3], Some("x".repeat(600))),
        Op::Invite(0, Who::Nick(2), lobby),
        Op::Invite(2, Who::Nick(2), lobby),
        Op::Invite(0, Who::Nick(9), lobby),
        Op::Invite(0, Who::Nick(2), target("#nowhere")),
        Op::Line(1, "QUIT :bye".into()),
        // +i: only operators invite; a room emptied by its last member
        // kicking itself is gone, invitations with it.
        Op::Join(1, 1),
        Op::Connect(0),
        Op::Register(3, 8),
        Op::Join(3, 1),
        Op::RoomMode(3, rust, vec![plus('i', Arg::None)]),
        Op::Invite(3, Who::Nick(0), rust),
        Op::Kick(3, rust, vec![Who::Me], Some(String::new())),
        Op::Join(0, 1),
        // Many nicks at once, past the most one KICK takes.
        Op::Connect(0),
        Op::Connect(0),
        Op::Register(4, 12),
        Op::Register(5, 16),
        Op::Join(4, 0),
        Op::Join(5, 0),
        Op::Kick(
            0,
            lobby,
            (0..30).map(|i| Who::Nick(4 * i)).collect(),
            Some("everyone".into()),
        ),
        Op::Join(2, 0),
        Op::Kick(0, lobby, vec![Who::Me, Who::Nick(4)], None),
    ]);
    let summary = check_server(&ops);
    assert_drew(&summary, &["442", "482", "403", "461", "443", "341", "401"]);
    assert!(summary.kick_lines >= 4, "{summary:?}");
    assert!(summary.invite_lines >= 3, "{summary:?}");
}

#[test]
fn the_cast_the_server_target_may_start_from_is_two_rooms_with_operators() {
    let rust = target("#rust");
    let mut ops = cast();
    ops.extend([
        // Both operators act at once on their own rooms; nick1 is no
        // operator of #lobby, n0 none of #rust.
        Op::RoomMode(0, target("#LOBBY"), vec![plus('s', Arg::None)]),
        Op::RoomMode(
            3,
            rust,
            vec![plus('i', Arg::None), plus('b', Arg::Mask(0, 6))],
        ),
        Op::RoomMode(3, target("#lobby"), vec![plus('m', Arg::None)]),
        Op::Invite(3, Who::Conn(1), rust),
        Op::Invite(3, Who::Conn(0), rust),
        Op::JoinKeys(1, vec![(rust, None)]),
        Op::JoinKeys(0, vec![(rust, None)]),
        Op::JoinKeys(2, vec![(rust, None)]),
        Op::Kick(3, rust, vec![Who::Conn(1), Who::Conn(0)], None),
    ]);
    let summary = check_server(&ops);
    assert_drew(&summary, &["482", "341", "473"]);
    assert_eq!(summary.invite_lines, 2, "{summary:?}");
    assert_eq!(summary.kick_lines, 2, "{summary:?}");
}
