//! natter-client's accounts and private history, end to end: the real
//! `natter-server` binary and the real `natter-client` binary over real
//! sockets, driven through pipes. People register with NickServ, write to
//! each other, and a client that reconnects with its password (SASL
//! SCRAM-SHA-256) is shown what it missed, marked as history; `/query`
//! shows a conversation. No timing assertions: waits are bounded only so a
//! broken build fails instead of hanging.
#[path = "common/e2e.rs"]
mod e2e;

#[path = "common/client_process.rs"]
mod client_process;

use client_process::{ClientProcess as Client, CLIENT};
use e2e::{temp_dir, ServerProcess};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

fn start_server(dir: &Path) -> ServerProcess {
    let log = dir.join("server.log");
    ServerProcess::start(&[
        "--log-file",
        log.to_str().expect("utf-8 temp path"),
        "--data-dir",
        dir.to_str().expect("utf-8 temp path"),
    ])
}

/// A client in #lobby that has registered its nick with NickServ.
fn registered(nick: &str, addr: SocketAddr, password: &str) -> Client {
    let mut c = Client::start(nick, addr.port(), &[], &[]);
    c.wait_for("the join", |l| l == "*** You joined #lobby");
    c.type_line(&format!("/msg NickServ REGISTER {password}"));
    let logged_in = format!("*** Logged in as {nick}");
    c.wait_for("the login", |l| l == logged_in);
    c
}

fn count(lines: &[String], pattern: impl Fn(&str) -> bool) -> usize {
    lines.iter().filter(|l| pattern(l)).count()
}

/// `[history 2023-11-09 12:35] BODY`: a history line ending in `body`.
fn history(line: &str, body: &str) -> bool {
    line.starts_with("[history ") && line.ends_with(&format!("] {body}"))
}

#[test]
fn reconnecting_with_a_password_shows_missed_private_messages_and_query_shows_the_conversation() {
    let dir = temp_dir("client-private");
    let server = start_server(&dir);
    let mut bob = registered("bob", server.addr, "bobs-password-1");
    let mut alice = registered("alice", server.addr, "alices-password-1");

    alice.type_line("/msg bob hi bob, it's alice");
    bob.wait_for("alice's message", |l| {
        l.ends_with("*alice* -> you: hi bob, it's alice")
    });
    bob.type_line("/msg alice hello alice, from bob");
    alice.wait_for("bob's answer", |l| {
        l.ends_with("*bob* -> you: hello alice, from bob")
    });
    let (exit, _) = alice.finish();
    assert!(exit.status.success(), "{exit:?}");
    bob.wait_for("alice leaving", |l| l.starts_with("*** alice has quit"));

    // Alice comes back with her password in the environment.
    let mut alice = Client::start(
        "alice",
        server.addr.port(),
        &[],
        &[("NATTER_PASSWORD", "alices-password-1")],
    );
    alice.wait_for("the login", |l| l == "*** Logged in as alice");
    alice.wait_for("the catch-up", |l| {
        l == "*** Private messages of the last day, with bob (history follows; /query NICK to reply)"
    });
    alice.wait_for("the history's end", |l| {
        l == "*** End of 2 history messages with bob"
    });
    let caught_up = alice.seen().to_vec();
    let at = |body: &str| caught_up.iter().position(|l| history(l, body));
    let (mine, theirs) = (
        at("-> *bob*: hi bob, it's alice"),
        at("*bob* -> you: hello alice, from bob"),
    );
    assert!(
        mine.is_some() && mine < theirs,
        "both directions, in order: {caught_up:#?}"
    );
    assert!(
        caught_up
            .iter()
            .any(|l| l == "*** History of your private conversation with bob:"),
        "{caught_up:#?}"
    );

    alice.type_line("/query bob");
    alice.wait_for("the conversation", |l| {
        l == "*** Now talking privately with bob (/part to close)"
    });
    alice.wait_for("its history", |l| {
        l == "*** End of 2 history messages with bob"
    });
    alice.type_line("yes, back now");
    bob.wait_for("alice's reply", |l| {
        l.ends_with("*alice* -> you: yes, back now")
    });

    let (exit, saw) = alice.finish();
    assert!(exit.status.success(), "{exit:?}");
    assert!(exit.stderr.is_empty(), "{exit:?}");
    assert_eq!(
        count(&saw, |l| history(l, "*bob* -> you: hello alice, from bob")),
        2,
        "once on connect, once for /query: {saw:#?}"
    );
    assert_eq!(
        count(&saw, |l| l.ends_with("] -> *bob*: yes, back now")),
        1,
        "her own line, shown as sent by her: {saw:#?}"
    );
    let (exit, _) = bob.finish();
    assert!(exit.status.success(), "{exit:?}");
}

#[test]
fn a_wrong_password_file_says_what_to_do_and_the_client_chats_without_logging_in() {
    let dir = temp_dir("client-wrong-password");
    let server = start_server(&dir);
    let bob = registered("bob", server.addr, "bobs-password-1");
    let (exit, _) = bob.finish();
    assert!(exit.status.success(), "{exit:?}");

    let file = dir.join("bob.password");
    std::fs::write(&file, "not-bobs-password\n").expect("write the password file");
    let path = file.to_str().expect("utf-8 temp path");
    let mut bob = Client::start("bob", server.addr.port(), &["--password-file", path], &[]);
    let failed = bob.wait_for("the failure", |l| l.starts_with("*** Login as bob failed"));
    assert!(
        failed.contains("--password-file or NATTER_PASSWORD"),
        "{failed}"
    );
    bob.wait_for("the join", |l| l == "*** You joined #lobby");
    let (exit, saw) = bob.finish();
    assert!(exit.status.success(), "{exit:?}");
    assert!(!saw.iter().any(|l| l.contains("Logged in")), "{saw:#?}");
}

#[test]
fn an_account_without_a_password_is_a_usage_error_that_explains_itself() {
    let output = Command::new(CLIENT)
        .args(["alice", "127.0.0.1", "6667", "--account", "alice"])
        .env_remove("NATTER_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("run natter-client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--password-file FILE"), "{stderr}");
    assert!(stderr.contains("NATTER_PASSWORD"), "{stderr}");

    let help = Command::new(CLIENT)
        .arg("--help")
        .output()
        .expect("run natter-client --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for word in [
        "--account",
        "--password-file",
        "NATTER_PASSWORD",
        "`ps`",
        "/query",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}
