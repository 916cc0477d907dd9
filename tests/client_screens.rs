//! natter-client's full-screen interface as screens: server lines and keys
//! go into the pure [`App`], ratatui's `TestBackend` draws it, and insta
//! keeps the text of each screen in `snapshots/`. No terminal, no socket,
//! a fixed clock.

mod common;

use chrono::NaiveTime;
use common::snapshot_settings;
use natter::client::tui::{App, Key, Moment, NickColours, Palette, ViewOptions};
use natter::client::{Clock, NickRetry, Output, Session};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use std::time::{Duration, Instant};

fn at(h: u32, m: u32) -> Moment {
    Moment {
        clock: Clock::from(NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()),
        at: Instant::now(),
        today: None,
    }
}

/// An app for alice, registered with echo-message and history, in #lobby
/// with bob (an operator) and carol.
fn alice(size: (u16, u16)) -> App {
    alice_with(size, ViewOptions::default())
}

fn alice_with(size: (u16, u16), view: ViewOptions) -> App {
    let session = Session::new("alice", "#lobby", NickRetry::Ask);
    let mut app = App::new(session, view, size);
    let t = at(12, 0);
    let _ = app.start(t);
    for line in [
        ":natter CAP * LS :echo-message batch server-time message-tags draft/chathistory",
        ":natter CAP * ACK :echo-message batch server-time message-tags draft/chathistory",
        ":natter 001 alice :Welcome to the natter IRC network, alice",
        ":alice!alice@127.0.0.1 JOIN #lobby",
        ":natter 332 alice #lobby :Welcome to the \x02lobby\x02 \u{2014} be nice",
        ":natter 353 alice = #lobby :alice @bob carol",
        ":natter 366 alice #lobby :End of /NAMES list",
        ":natter 324 alice #lobby +nt",
    ] {
        let _ = app.handle_server_line(line, t);
    }
    app
}

fn server(app: &mut App, h: u32, m: u32, line: &str) -> Vec<Output> {
    app.handle_server_line(line, at(h, m))
}

fn key(app: &mut App, key: Key) -> Vec<Output> {
    app.handle_key(key, at(12, 30))
}

fn typed(app: &mut App, text: &str) -> Vec<Output> {
    let mut out = Vec::new();
    for c in text.chars() {
        out.extend(key(app, Key::Char(c)));
    }
    out.extend(key(app, Key::Enter));
    out
}

fn sent(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn draw(app: &App, (w, h): (u16, u16)) -> Buffer {
    let mut terminal = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    if let Err(e) = terminal.draw(|f| app.draw(f)) {
        panic!("draw: {e}");
    }
    terminal.backend().buffer().clone()
}

/// The screen's text, one row a line, trailing spaces trimmed.
fn screen(app: &App, size: (u16, u16)) -> String {
    let buffer = draw(app, size);
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut row = String::new();
        let mut skip = 0;
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            if skip == 0 {
                row.push_str(cell.symbol());
            }
            skip = usize::max(skip, unicode_width::UnicodeWidthStr::width(cell.symbol()))
                .saturating_sub(1);
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

fn buffer_at(app: &App, size: (u16, u16)) -> Buffer {
    draw(app, size)
}

/// The row of the screen that contains `text`, if any.
fn row_with(buffer: &Buffer, text: &str) -> Option<u16> {
    (0..buffer.area.height).find(|&y| {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        row.contains(text)
    })
}

#[test]
fn a_room_with_history_shows_the_replayed_lines_then_live_chat_and_the_nick_list() {
    let mut app = alice((80, 20));
    for line in [
        ":natter BATCH +h1 chathistory #lobby",
        "@batch=h1;time=2026-12-05T21:10:00.000Z;msgid=7 :bob!b@h PRIVMSG #lobby :did anyone see the game?",
        "@batch=h1;time=2026-12-05T21:12:00.000Z;msgid=8 :carol!c@h PRIVMSG #lobby :\x01ACTION yawns\x01",
        ":natter BATCH -h1",
    ] {
        let _ = server(&mut app, 12, 0, line);
    }
    let _ = server(&mut app, 12, 1, ":bob!b@h PRIVMSG #lobby :morning all");
    let out = typed(&mut app, "hi bob, coffee?");
    assert_eq!(sent(&out), ["PRIVMSG #lobby :hi bob, coffee?"]);
    let _ = server(
        &mut app,
        12,
        2,
        ":alice!alice@h PRIVMSG #lobby :hi bob, \x02coffee\x02?",
    );
    let screen = screen(&app, (80, 20));
    assert_eq!(
        screen.matches("coffee").count(),
        1,
        "with echo-message your line shows once:\n{screen}"
    );
    snapshot_settings().bind(|| insta::assert_snapshot!("tui_room_with_history", screen));
}

#[test]
fn a_private_message_opens_its_own_window_and_alt_number_shows_it() {
    let mut app = alice((80, 16));
    let _ = server(&mut app, 12, 5, ":dave!d@h PRIVMSG alice :are you around?");
    assert_eq!(app.windows().list().len(), 3, "status, #lobby, dave");
    assert_eq!(
        app.windows().activity(),
        [(3, true)],
        "a private line counts as a mention"
    );
    let lobby = screen(&app, (80, 16));
    assert!(!lobby.contains("are you around"), "{lobby}");
    assert!(lobby.contains("[Act: 3!]"), "{lobby}");
    let _ = key(&mut app, Key::Alt('3'));
    let out = typed(&mut app, "yes, what's up?");
    assert_eq!(sent(&out), ["PRIVMSG dave :yes, what's up?"]);
    let _ = server(
        &mut app,
        12,
        6,
        ":alice!alice@h PRIVMSG dave :yes, what's up?",
    );
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("tui_private_window", screen(&app, (80, 16))));
}

#[test]
fn lines_in_other_windows_are_counted_and_marked_new_when_you_get_there() {
    let mut app = alice((80, 16));
    let _ = typed(&mut app, "/join #rust");
    let _ = server(&mut app, 12, 10, ":alice!alice@h JOIN #rust");
    let _ = server(&mut app, 12, 10, ":natter 353 alice = #rust :alice erin");
    let _ = server(&mut app, 12, 10, ":natter 366 alice #rust :End");
    let _ = server(
        &mut app,
        12,
        11,
        ":erin!e@h PRIVMSG #rust :the borrow checker is my friend",
    );
    assert_eq!(
        app.windows().current().name,
        "#rust",
        "joining shows the room"
    );
    for (m, text) in [
        (12, "first while you were away"),
        (13, "alice: are you there?"),
    ] {
        let _ = server(&mut app, 12, m, &format!(":bob!b@h PRIVMSG #lobby :{text}"));
    }
    let _ = server(&mut app, 12, 14, ":carol!c@h PRIVMSG #lobby :and a third");
    let in_rust = screen(&app, (80, 16));
    assert!(
        in_rust.contains("[Act: 2!]"),
        "a mention is marked:\n{in_rust}"
    );
    let _ = key(&mut app, Key::AltLeft);
    let lobby = screen(&app, (80, 16));
    snapshot_settings().bind(|| insta::assert_snapshot!("tui_unread_marker", lobby));
    let buffer = buffer_at(&app, (80, 16));
    let row = row_with(&buffer, "alice: are you there?").unwrap_or(0);
    let mentioned = (0..80).any(|x| {
        let cell = &buffer[(x, row)];
        cell.symbol() == "b" && cell.modifier.contains(Modifier::REVERSED)
    });
    assert!(mentioned, "the nick of a line that names you is reversed");
}

#[test]
fn a_long_line_wraps_at_words_under_the_text_on_narrow_and_wide_terminals() {
    let mut app = alice((80, 20));
    let long = "natter keeps every room's conversation in an SQLite database, no setup \
                needed: it is created and its schema migrated when the server starts, \
                and history pages back with CHATHISTORY BEFORE";
    let _ = server(
        &mut app,
        12,
        20,
        &format!(":carol!c@h PRIVMSG #lobby :{long}"),
    );
    let narrow = screen(&app, (40, 14));
    let wide = screen(&app, (120, 12));
    for row in narrow
        .lines()
        .filter(|l| l.contains("SQLite") || l.starts_with("       "))
    {
        assert!(!row.ends_with("SQL"), "no word is cut: {row}");
    }
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("tui_long_line_narrow", narrow);
        insta::assert_snapshot!("tui_long_line_wide", wide);
    });
}

#[test]
fn the_nick_list_shows_operators_first_and_f2_hides_it() {
    let mut app = alice((100, 14));
    let _ = server(&mut app, 12, 21, ":erin!e@h JOIN #lobby");
    let _ = server(&mut app, 12, 21, ":bob!b@h MODE #lobby +v erin");
    let _ = server(&mut app, 12, 22, ":bob!b@h MODE #lobby +m");
    let with = screen(&app, (100, 14));
    assert!(with.contains("[2:#lobby(+mnt)]"), "{with}");
    snapshot_settings().bind(|| insta::assert_snapshot!("tui_nick_list", with));
    let _ = key(&mut app, Key::F(2));
    let without = screen(&app, (100, 14));
    assert!(!without.contains("│"), "no nick list column:\n{without}");
}

#[test]
fn nick_colours_are_stable_and_no_color_turns_every_colour_off() {
    let mut app = alice((80, 12));
    let _ = server(
        &mut app,
        12,
        30,
        ":bob!b@h PRIVMSG #lobby :\x0304red\x03 text",
    );
    let buffer = buffer_at(&app, (80, 12));
    let row = row_with(&buffer, "red text").unwrap_or(0);
    let colours: Vec<Color> = (0..80).map(|x| buffer[(x, row)].fg).collect();
    assert!(colours.contains(&natter::client::tui::nick_colour("bob")));
    assert!(colours.contains(&Color::LightRed), "mIRC red");

    let plain = ViewOptions {
        palette: Palette {
            colour: false,
            nicks: NickColours::Hash,
        },
        ..ViewOptions::default()
    };
    let mut app = alice_with((80, 12), plain);
    let _ = server(
        &mut app,
        12,
        30,
        ":bob!b@h PRIVMSG #lobby :\x0304red\x03 text",
    );
    let buffer = buffer_at(&app, (80, 12));
    let coloured = buffer
        .content
        .iter()
        .any(|c| c.fg != Color::Reset || c.bg != Color::Reset);
    assert!(!coloured, "--no-color: not one coloured cell");
}

#[test]
fn ctrl_c_clears_a_typed_line_and_asks_before_quitting_on_an_empty_one() {
    let mut app = alice((80, 12));
    for c in "half a thought".chars() {
        let _ = key(&mut app, Key::Char(c));
    }
    assert!(key(&mut app, Key::Ctrl('c')).is_empty());
    assert_eq!(app.input(), "", "the line is cleared, nothing sent");
    assert!(key(&mut app, Key::Ctrl('c')).is_empty(), "asks first");
    assert!(screen(&app, (80, 12)).contains("Quit natter? [y/n]"));
    assert!(key(&mut app, Key::Char('n')).is_empty());
    assert!(!app.session().is_quitting());
    let _ = key(&mut app, Key::Ctrl('c'));
    let out = key(&mut app, Key::Char('y'));
    assert_eq!(sent(&out), ["QUIT"]);
    assert!(out.contains(&Output::Quit));
}

#[test]
fn pasting_several_lines_sends_them_as_separate_messages_after_yes() {
    let mut app = alice((80, 12));
    app.handle_paste("line one\nline two\n/not a command\n");
    assert!(screen(&app, (80, 12)).contains("Send the 3 pasted lines to #lobby as 3 messages?"));
    let out = key(&mut app, Key::Char('y'));
    assert_eq!(
        sent(&out),
        [
            "PRIVMSG #lobby :line one",
            "PRIVMSG #lobby :line two",
            "PRIVMSG #lobby :/not a command"
        ]
    );
    app.handle_paste("a\nb");
    assert!(
        sent(&key(&mut app, Key::Char('n'))).is_empty(),
        "no: nothing sent"
    );
}

#[test]
fn win_query_and_close_open_and_close_windows() {
    let mut app = alice((80, 12));
    let _ = typed(&mut app, "/query frank");
    assert_eq!(app.windows().current().name, "frank");
    let _ = typed(&mut app, "/win 1");
    assert_eq!(app.windows().current().name, "status");
    let _ = typed(&mut app, "/win 3");
    let _ = typed(&mut app, "/close");
    assert_eq!(app.windows().list().len(), 2);
    let _ = key(&mut app, Key::Alt('2'));
    let out = typed(&mut app, "/close");
    assert_eq!(sent(&out), ["PART #lobby"]);
    let _ = server(&mut app, 12, 40, ":alice!alice@h PART #lobby");
    assert_eq!(app.windows().list().len(), 1);
    assert!(
        screen(&app, (80, 12)).contains("You left #lobby"),
        "said in the window you land in"
    );
}

#[test]
fn scrolling_past_the_loaded_lines_asks_the_server_for_earlier_history() {
    let mut app = alice((60, 10));
    for i in 0..12 {
        let _ = server(
            &mut app,
            12,
            i,
            &format!(
                "@msgid={};time=2026-12-06T12:{i:02}:00.000Z :bob!b@h PRIVMSG #lobby :message {i}",
                100 + i
            ),
        );
    }
    let mut fetch = Vec::new();
    for _ in 0..4 {
        fetch.extend(sent(&key(&mut app, Key::PageUp)));
    }
    assert_eq!(fetch, ["CHATHISTORY BEFORE #lobby msgid=100 50"]);
    for line in [
        ":natter BATCH +p chathistory #lobby",
        "@batch=p;time=2026-12-06T11:58:00.000Z;msgid=98 :carol!c@h PRIVMSG #lobby :older one",
        "@batch=p;time=2026-12-06T11:59:00.000Z;msgid=99 :carol!c@h PRIVMSG #lobby :older two",
        ":natter BATCH -p",
    ] {
        let _ = server(&mut app, 12, 50, line);
    }
    let top = screen(&app, (60, 10));
    assert!(
        !top.contains("End of 2 history"),
        "the page's end is not a line:\n{top}"
    );
    let _ = key(&mut app, Key::PageUp);
    let top = screen(&app, (60, 10));
    assert!(top.contains("older one"), "{top}");
    assert!(
        sent(&key(&mut app, Key::PageUp)).is_empty(),
        "fewer than asked: no more history"
    );
    for _ in 0..10 {
        let _ = key(&mut app, Key::PageDown);
    }
    assert!(screen(&app, (60, 10)).contains("message 11"));
}

#[test]
fn the_lag_is_measured_with_a_ping_of_our_own() {
    let mut app = alice((80, 12));
    let start = at(12, 0);
    let out = app.handle_tick(start);
    assert_eq!(sent(&out), ["PING natter-lag-1"]);
    let later = Moment {
        at: start.at + Duration::from_millis(250),
        ..start
    };
    let shown = app.handle_server_line(":natter PONG natter :natter-lag-1", later);
    assert!(shown.is_empty());
    assert_eq!(app.lag(), Some(Duration::from_millis(250)));
    assert!(
        screen(&app, (80, 12)).contains("[Lag: 0.2s]")
            || screen(&app, (80, 12)).contains("[Lag: 0.3s]")
    );
}

#[test]
fn a_refusal_is_shown_in_the_servers_words_in_the_rooms_window() {
    let mut app = alice((80, 12));
    let out = typed(&mut app, "/op carol");
    assert_eq!(sent(&out), ["MODE #lobby +o carol"]);
    let _ = server(
        &mut app,
        12,
        45,
        ":natter 482 alice #lobby :You're not a room operator: ask an operator (/who #lobby shows them with @)",
    );
    let s = screen(&app, (80, 12));
    assert!(
        s.contains("#lobby: You're not a room operator: ask an operator"),
        "{s}"
    );
}

#[test]
fn reading_further_up_is_not_disturbed_by_new_lines() {
    let mut app = alice((60, 10));
    for i in 0..20 {
        let _ = server(
            &mut app,
            12,
            i,
            &format!(":bob!b@h PRIVMSG #lobby :line {i}"),
        );
    }
    let _ = key(&mut app, Key::PageUp);
    let before = screen(&app, (60, 10));
    let _ = server(&mut app, 12, 30, ":carol!c@h PRIVMSG #lobby :something new");
    let _ = server(&mut app, 12, 31, ":carol!c@h PRIVMSG #lobby :and more");
    let after = screen(&app, (60, 10));
    let chat = |s: &str| {
        s.lines()
            .skip(1)
            .take(6)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(chat(&before), chat(&after), "the same lines stay on screen");
    for _ in 0..5 {
        let _ = key(&mut app, Key::PageDown);
    }
    assert!(screen(&app, (60, 10)).contains("and more"));
}

#[test]
fn a_long_input_line_wraps_in_the_input_area() {
    let mut app = alice((40, 12));
    let text = "a long thought that does not fit on one row of a narrow terminal";
    for c in text.chars() {
        let _ = key(&mut app, Key::Char(c));
    }
    let s = screen(&app, (40, 12));
    let input: Vec<&str> = s.lines().rev().take(2).collect();
    assert!(input[1].starts_with("[#lobby] a long thought"), "{s}");
    assert!(input[0].ends_with("terminal"), "{s}");
}

#[test]
fn history_from_today_has_no_date_and_older_history_has_one() {
    let mut app = alice((80, 12));
    let today = Moment {
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 6),
        ..at(12, 0)
    };
    for line in [
        ":natter BATCH +h chathistory #lobby",
        "@batch=h;time=2026-12-05T21:10:00.000Z;msgid=7 :bob!b@h PRIVMSG #lobby :yesterday",
        "@batch=h;time=2026-12-06T08:10:00.000Z;msgid=8 :bob!b@h PRIVMSG #lobby :this morning",
        ":natter BATCH -h",
    ] {
        let _ = app.handle_server_line(line, today);
    }
    let s = screen(&app, (80, 12));
    assert!(s.contains("Dec 05 21:10 <bob> yesterday"), "{s}");
    assert!(s.contains("\n08:10 <bob> this morning"), "{s}");
}

#[test]
fn a_refused_history_page_stops_the_asking_and_says_why() {
    let mut app = alice((60, 10));
    for i in 0..12 {
        let _ = server(
            &mut app,
            12,
            i,
            &format!(":bob!b@h PRIVMSG #lobby :message {i}"),
        );
    }
    let mut asked = Vec::new();
    for _ in 0..4 {
        asked.extend(sent(&key(&mut app, Key::PageUp)));
    }
    assert_eq!(asked.len(), 1, "{asked:?}");
    let _ = server(
        &mut app,
        12,
        50,
        ":natter FAIL CHATHISTORY MESSAGE_ERROR BEFORE :Messages could not be retrieved",
    );
    assert!(
        sent(&key(&mut app, Key::PageUp)).is_empty(),
        "no second request"
    );
    for _ in 0..5 {
        let _ = key(&mut app, Key::PageDown);
    }
    let s = screen(&app, (60, 10));
    assert!(s.contains("CHATHISTORY: Messages could not be"), "{s}");
}

#[test]
fn your_own_msg_and_a_services_notice_show_where_you_are_without_a_new_window() {
    let mut app = alice((80, 12));
    let out = typed(&mut app, "/msg NickServ REGISTER hunter2");
    assert_eq!(sent(&out), ["PRIVMSG NickServ :REGISTER hunter2"]);
    let _ = server(
        &mut app,
        12,
        31,
        ":alice!a@h PRIVMSG NickServ :REGISTER hunter2",
    );
    let _ = server(
        &mut app,
        12,
        31,
        ":NickServ!services@natter NOTICE alice :Account alice registered",
    );
    assert_eq!(app.windows().list().len(), 2, "status and #lobby only");
    let s = screen(&app, (80, 12));
    assert!(s.contains("-NickServ- Account alice registered"), "{s}");
    // A private message from a person does open a window.
    let _ = server(&mut app, 12, 32, ":bob!b@h PRIVMSG alice :hi");
    assert_eq!(app.windows().list().len(), 3);
}

#[test]
fn your_nick_is_highlighted_where_others_write_it() {
    let mut app = alice((80, 12));
    let _ = server(
        &mut app,
        12,
        33,
        ":bob!b@h PRIVMSG #lobby :thanks Alice, see you",
    );
    let buffer = buffer_at(&app, (80, 12));
    let row = row_with(&buffer, "thanks Alice").unwrap_or(0);
    let cells: Vec<_> = (0..80).map(|x| &buffer[(x, row)]).collect();
    let text: String = cells.iter().map(|c| c.symbol()).collect();
    let at = text.find("Alice").unwrap_or(0);
    assert!(cells[at].modifier.contains(Modifier::BOLD), "{text}");
    assert_eq!(cells[at].fg, Color::Yellow);
    let see = text.find("see").unwrap_or(0);
    assert!(!cells[see].modifier.contains(Modifier::BOLD));
}

#[test]
fn tab_offers_the_latest_speaker_first_then_everyone_else() {
    let mut app = alice((80, 12));
    let _ = server(&mut app, 12, 34, ":carolyn!c@h JOIN #lobby");
    let _ = server(&mut app, 12, 35, ":carolyn!c@h PRIVMSG #lobby :anyone?");
    let _ = key(&mut app, Key::Char('c'));
    let _ = key(&mut app, Key::Tab);
    assert_eq!(app.input(), "carolyn: ", "carolyn spoke last");
    let _ = key(&mut app, Key::Tab);
    assert_eq!(app.input(), "carol: ");
}

#[test]
fn any_terminal_size_draws_without_panicking() {
    let mut app = alice((80, 24));
    let _ = server(
        &mut app,
        12,
        40,
        &format!(":bob!b@h PRIVMSG #lobby :{}", "wide 日本語 ".repeat(20)),
    );
    for c in "a long line being typed into a tiny terminal window, longer than it".chars() {
        let _ = key(&mut app, Key::Char(c));
    }
    for columns in [1, 2, 5, 9, 10, 11, 20, 59, 60, 61, 200] {
        for rows in [1, 2, 3, 4, 5, 6, 8, 30] {
            app.resize(columns, rows);
            let _ = key(&mut app, Key::PageUp);
            let _ = screen(&app, (columns, rows));
        }
    }
}

#[test]
fn slash_history_puts_the_earlier_messages_above_the_loaded_ones() {
    let mut app = alice((80, 14));
    let _ = server(
        &mut app,
        12,
        41,
        "@msgid=50;time=2026-12-06T12:41:00.000Z :bob!b@h PRIVMSG #lobby :live one",
    );
    let out = typed(&mut app, "/history 5");
    assert_eq!(sent(&out), ["CHATHISTORY BEFORE #lobby msgid=50 5"]);
    for line in [
        ":natter BATCH +q chathistory #lobby",
        "@batch=q;time=2026-12-06T09:00:00.000Z;msgid=40 :carol!c@h PRIVMSG #lobby :from this morning",
        ":natter BATCH -q",
    ] {
        let _ = server(&mut app, 12, 42, line);
    }
    let s = screen(&app, (80, 14));
    let morning = s.find("from this morning").unwrap_or(usize::MAX);
    let live = s.find("live one").unwrap_or(0);
    assert!(morning < live, "{s}");
}

#[test]
fn joining_asks_for_the_rooms_modes_for_the_status_line_without_a_line_about_it() {
    let mut app = alice((80, 12));
    let out = server(&mut app, 12, 50, ":alice!alice@h JOIN #rust");
    assert_eq!(sent(&out), ["MODE #rust"]);
    let _ = server(&mut app, 12, 50, ":natter 324 alice #rust +nt");
    let s = screen(&app, (80, 12));
    assert!(s.contains("[3:#rust(+nt)]"), "{s}");
    assert!(!s.contains("Modes of #rust"), "{s}");
    // Asked by the person, the answer is shown.
    let out = typed(&mut app, "/mode");
    assert_eq!(sent(&out), ["MODE #rust"]);
    let _ = server(&mut app, 12, 51, ":natter 324 alice #rust +nt");
    assert!(screen(&app, (80, 12)).contains("Modes of #rust: +nt"));
}
