//! natter-client the program, driven through pipes: against the real
//! natter-server shell over TCP, and against fake servers that
//! misbehave on purpose. No timing assertions: waits are bounded only so a
//! broken build fails instead of hanging.

#[path = "common/client_process.rs"]
mod client_process;

use client_process::{ClientProcess as Client, CLIENT};
use natter::net::{RunningServer, ServerOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener};
use std::process::{Command, Output, Stdio};
use std::thread;

/// The real natter server shell, in-process on an ephemeral port of
/// 127.0.0.1; it stops when the returned handle is dropped.
fn start_server() -> (RunningServer, u16) {
    let server = RunningServer::start(ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..ServerOptions::default()
    })
    .expect("natter server starts on an ephemeral port");
    let port = server.local_addr().port();
    (server, port)
}

/// How a [`fake_server`] ends the conversation.
enum FakeEnd {
    /// Drops the socket right after confirming the join.
    VanishAfterJoin,
    /// Answers QUIT with ERROR, as a real server does.
    ErrorOnQuit,
}

/// A one-client fake IRC server on 127.0.0.1: welcomes `nick`, confirms its
/// JOIN #lobby followed by `after_join` (raw bytes, possibly hostile), then
/// ends as `end` says. Returns its port.
fn fake_server(nick: &str, after_join: &'static [u8], end: FakeEnd) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let nick = nick.to_string();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut writer = stream.try_clone().expect("clone");
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.starts_with("USER") {
                let _ = writer.write_all(format!(":fake 001 {nick} :Welcome\r\n").as_bytes());
            }
            if line == "JOIN #lobby" {
                let _ = writer.write_all(format!(":{nick}!a@h JOIN #lobby\r\n").as_bytes());
                let _ = writer.write_all(after_join);
                if let FakeEnd::VanishAfterJoin = end {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
            if line.starts_with("QUIT") {
                let _ = writer.write_all(b"ERROR :Closing Link\r\n");
                return;
            }
        }
    });
    port
}

fn count(lines: &[String], suffix: &str) -> usize {
    lines.iter().filter(|l| l.ends_with(suffix)).count()
}

fn run_client(args: &[&str]) -> Output {
    Command::new(CLIENT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run natter-client")
}

#[test]
fn two_piped_clients_chat_through_a_server_and_each_line_shows_once() {
    let (_server, port) = start_server();
    let mut bob = Client::start("bob", port, &[], &[]);
    bob.wait_for("bob in #lobby", |l| l == "*** You joined #lobby");

    let mut alice = Client::start("alice", port, &[], &[]);
    alice.type_line("hello bob");
    alice.type_line("/me waves");
    bob.wait_for("alice's wave", |l| l.ends_with("* alice waves"));
    bob.type_line("hi alice");
    alice.wait_for("bob's reply", |l| l.ends_with("[bob]: hi alice"));

    let (alice_exit, alice_saw) = alice.finish();
    assert!(alice_exit.status.success(), "{alice_exit:?}");
    assert!(alice_exit.stderr.is_empty(), "{alice_exit:?}");
    bob.wait_for("alice leaving", |l| l.starts_with("*** alice has quit"));
    let (bob_exit, bob_saw) = bob.finish();
    assert!(bob_exit.status.success(), "{bob_exit:?}");

    assert_eq!(
        count(&bob_saw, "*** alice joined #lobby"),
        1,
        "{bob_saw:#?}"
    );
    assert_eq!(count(&bob_saw, "] [alice]: hello bob"), 1, "{bob_saw:#?}");
    assert_eq!(count(&bob_saw, "] * alice waves"), 1, "{bob_saw:#?}");
    assert_eq!(count(&bob_saw, "] [bob]: hi alice"), 1, "{bob_saw:#?}");
    assert_eq!(
        count(&alice_saw, "] [alice]: hello bob"),
        1,
        "{alice_saw:#?}"
    );
    assert_eq!(count(&alice_saw, "] [bob]: hi alice"), 1, "{alice_saw:#?}");
    assert!(
        alice_saw
            .iter()
            .any(|l| l.starts_with("*** In #lobby:") && l.contains("bob")),
        "{alice_saw:#?}"
    );
}

#[test]
fn a_taken_nickname_in_a_pipe_exits_non_zero_with_a_clear_message() {
    let (_server, port) = start_server();
    let mut holder = Client::start("alice", port, &[], &[]);
    holder.wait_for("the first alice in #lobby", |l| {
        l == "*** You joined #lobby"
    });

    let output = run_client(&["alice", "127.0.0.1", &port.to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("\"alice\" is already in use"), "{stderr}");
    let _ = holder.finish();
}

#[test]
fn a_server_vanishing_mid_chat_is_reported_as_a_lost_connection() {
    let port = fake_server("alice", b"", FakeEnd::VanishAfterJoin);
    let mut alice = Client::start("alice", port, &[], &[]);
    alice.wait_for("the join", |l| l == "*** You joined #lobby");
    let output = alice.wait_for_exit();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("connection to 127.0.0.1:{port} lost")),
        "{stderr}"
    );
}

#[test]
fn escape_sequences_and_latin1_from_the_server_are_shown_harmlessly() {
    let port = fake_server(
        "eve",
        b":mal!m@h PRIVMSG #lobby :\x1b[2J\x1b]0;pwn\x07\xc2\x9b caf\xe9\r\n",
        FakeEnd::ErrorOnQuit,
    );
    let mut eve = Client::start("eve", port, &[], &[]);
    eve.wait_for("the message", |l| l.contains("[mal]"));
    let (output, seen) = eve.finish();
    assert!(output.status.success(), "{output:?}");
    let line = seen.iter().find(|l| l.contains("[mal]")).expect("seen");
    assert!(
        line.ends_with("[mal]: ^[[2J^[]0;pwn^G<U+009B> caf\u{fffd}"),
        "{line:?}"
    );
    assert!(!output.stdout.contains(&0x1b));
}

#[test]
fn a_refused_connection_exits_non_zero_with_a_clear_message() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let output = run_client(&["alice", "127.0.0.1", &port.to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("connection to 127.0.0.1:{port} refused")),
        "{stderr}"
    );
    assert!(stderr.contains("is natter-server running"), "{stderr}");
}

#[test]
fn an_unknown_host_exits_non_zero_with_a_clear_message() {
    let output = run_client(&["alice", "no-such-host.invalid", "6667"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("host \"no-such-host.invalid\" not found"),
        "{stderr}"
    );
}

#[test]
fn a_port_that_is_not_a_number_is_a_usage_error() {
    let output = run_client(&["alice", "127.0.0.1", "sixty"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'sixty'"), "{stderr}");
    assert!(stderr.contains("<PORT>"), "{stderr}");
}

#[test]
fn help_names_the_three_arguments() {
    let output = run_client(&["--help"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for word in ["<USERNAME>", "<HOST>", "<PORT>", "/quit", "Exit status"] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
}
