//! natter-client's room and people commands as session scenarios: typed
//! lines in, IRC lines out, and the server's refusals shown in its own
//! words. No sockets, a fixed clock.

use chrono::NaiveTime;
use natter::client::{Command, CommandError, NickRetry, Output, Session, HELP};

fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()
}

fn sent(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn shown(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Display(line) => Some(line.text().to_string()),
            _ => None,
        })
        .collect()
}

/// alice, registered with echo-message, in #lobby.
fn alice() -> Session {
    let mut s = Session::new("alice", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let _ = s.handle_server_line(":n CAP * LS :echo-message", noon());
    let _ = s.handle_server_line(":n CAP * ACK :echo-message", noon());
    let _ = s.handle_server_line(":n 001 alice :Welcome", noon());
    let _ = s.handle_server_line(":alice!a@h JOIN #lobby", noon());
    s
}

fn typed(s: &mut Session, line: &str) -> Vec<String> {
    sent(&s.handle_input(line, noon()))
}

#[test]
fn moderation_commands_act_on_the_current_room() {
    let mut s = alice();
    assert_eq!(
        typed(&mut s, "/op bob carol"),
        ["MODE #lobby +oo bob carol"]
    );
    assert_eq!(typed(&mut s, "/deop bob"), ["MODE #lobby -o bob"]);
    assert_eq!(
        typed(&mut s, "/voice a b c d"),
        ["MODE #lobby +vvv a b c", "MODE #lobby +v d"],
        "three changes per line, which every server accepts"
    );
    assert_eq!(typed(&mut s, "/devoice a"), ["MODE #lobby -v a"]);
    assert_eq!(
        typed(&mut s, "/kick bob spamming links"),
        ["KICK #lobby bob :spamming links"]
    );
    assert_eq!(typed(&mut s, "/ban bob"), ["MODE #lobby +b bob!*@*"]);
    assert_eq!(
        typed(&mut s, "/unban *!*@evil.example"),
        ["MODE #lobby -b *!*@evil.example"]
    );
    assert_eq!(typed(&mut s, "/mode +m"), ["MODE #lobby +m"]);
    assert_eq!(typed(&mut s, "/mode"), ["MODE #lobby"]);
    assert_eq!(typed(&mut s, "/mode alice +i"), ["MODE alice +i"]);
    assert_eq!(typed(&mut s, "/invite dave"), ["INVITE dave #lobby"]);
    assert_eq!(typed(&mut s, "/invite dave #rust"), ["INVITE dave #rust"]);
    assert_eq!(
        typed(&mut s, "/notice bob no reply please"),
        ["NOTICE bob :no reply please"]
    );
}

#[test]
fn room_commands_outside_a_room_say_so_instead_of_sending() {
    let mut s = alice();
    let _ = s.handle_input("/query bob", noon());
    let out = s.handle_input("/kick carol", noon());
    assert!(sent(&out).is_empty());
    assert_eq!(
        shown(&out),
        ["*** This needs a room: switch to one (or /join #room) first"]
    );
}

#[test]
fn the_servers_refusal_is_shown_in_its_own_words() {
    let mut s = alice();
    let _ = s.handle_input("/op carol", noon());
    let out = s.handle_server_line(
        ":n 482 alice #lobby :You're not a room operator: ask an operator (/who #lobby shows them with @)",
        noon(),
    );
    assert_eq!(
        shown(&out),
        ["*** #lobby: You're not a room operator: ask an operator (/who #lobby shows them with @)"]
    );
}

#[test]
fn ignored_people_are_hidden_until_unignored() {
    let mut s = alice();
    let out = s.handle_input("/ignore Troll", noon());
    assert_eq!(
        shown(&out),
        ["*** Ignoring Troll: their messages are hidden (/unignore Troll)"]
    );
    assert!(s
        .handle_server_line(":troll!t@h PRIVMSG #lobby :buy now", noon())
        .is_empty());
    assert!(s
        .handle_server_line(":troll!t@h PRIVMSG alice :psst", noon())
        .is_empty());
    assert_eq!(
        shown(&s.handle_input("/ignore", noon())),
        ["*** You ignore: Troll"]
    );
    let _ = s.handle_input("/unignore troll", noon());
    assert_eq!(
        shown(&s.handle_server_line(":troll!t@h PRIVMSG #lobby :sorry", noon())),
        ["[12:00:00] [troll]: sorry"]
    );
}

#[test]
fn mode_changes_and_invitations_are_shown() {
    let mut s = alice();
    assert_eq!(
        shown(&s.handle_server_line(":bob!b@h MODE #lobby +o alice", noon())),
        ["*** bob sets mode +o alice on #lobby"]
    );
    assert_eq!(
        shown(&s.handle_server_line(":bob!b@h INVITE alice #secret", noon())),
        ["*** bob invites you to #secret (/join #secret)"]
    );
}

#[test]
fn every_command_is_in_help_and_usage_errors_say_how() {
    for name in natter::client::COMMANDS {
        assert!(
            HELP.iter().any(|l| l.contains(&format!("/{name}"))),
            "/{name} missing from /help"
        );
    }
    assert_eq!(
        Command::parse("/kick"),
        Err(CommandError::Usage("/kick NICK [REASON]"))
    );
    assert_eq!(Command::parse("/op"), Err(CommandError::Usage("/op NICK…")));
    assert_eq!(
        Command::parse("/win x"),
        Err(CommandError::Usage(
            "/win N, N the window's number (1 and up)"
        ))
    );
}
