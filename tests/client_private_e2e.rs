//! natter-client's accounts and private history, end to end: the real
//! `natter-server` binary and the real `natter-client` binary over real
//! sockets, driven through pipes. People register with NickServ, write to
//! each other, and a client that reconnects with its password (SASL
//! SCRAM-SHA-256) is shown what it missed, marked as history; `/query`
//! shows a conversation. No timing assertions: waits are bounded only so a
//! broken build fails instead of hanging.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{temp_dir, ServerProcess};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const CLIENT: &str = env!("CARGO_BIN_EXE_natter-client");
/// Upper bound on any wait, so a broken client fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

fn start_server(dir: &Path) -> ServerProcess {
    let log = dir.join("server.log");
    ServerProcess::start(&[
        "--log-file",
        log.to_str().expect("utf-8 temp path"),
        "--data-dir",
        dir.to_str().expect("utf-8 temp path"),
    ])
}

/// A natter-client child whose stdout lines arrive on a channel.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Client {
    /// `natter-client NICK 127.0.0.1 PORT EXTRA…` with `env` set.
    fn start(nick: &str, addr: SocketAddr, extra: &[&str], env: &[(&str, &str)]) -> Client {
        let mut child = Command::new(CLIENT)
            .args([nick, "127.0.0.1", &addr.port().to_string()])
            .args(extra)
            .env_remove("NATTER_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start natter-client");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to natter-client");
        stdin.flush().expect("flush natter-client stdin");
    }

    /// Reads stdout until a line satisfying `wanted` appears; returns it.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let hit = wanted(&line);
                    self.seen.push(line.clone());
                    if hit {
                        return line;
                    }
                }
                Err(_) => panic!("never saw {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// A client in #lobby that has registered its nick with NickServ.
    fn registered(nick: &str, addr: SocketAddr, password: &str) -> Client {
        let mut c = Client::start(nick, addr, &[], &[]);
        c.wait_for("the join", |l| l == "*** You joined #lobby");
        c.type_line(&format!("/msg NickServ REGISTER {password}"));
        let logged_in = format!("*** Logged in as {nick}");
        c.wait_for("the login", |l| l == logged_in);
        c
    }

    /// Closes stdin (end of input) and collects everything until exit.
    fn finish(mut self) -> (Output, Vec<String>) {
        drop(self.stdin.take());
        let output = self.child.wait_with_output().expect("natter-client exits");
        self.seen.extend(self.lines.try_iter());
        (output, self.seen)
    }
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
    let mut bob = Client::registered("bob", server.addr, "bobs-password-1");
    let mut alice = Client::registered("alice", server.addr, "alices-password-1");

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
        server.addr,
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
    let caught_up = alice.seen.clone();
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
    let bob = Client::registered("bob", server.addr, "bobs-password-1");
    let (exit, _) = bob.finish();
    assert!(exit.status.success(), "{exit:?}");

    let file = dir.join("bob.password");
    std::fs::write(&file, "not-bobs-password\n").expect("write the password file");
    let path = file.to_str().expect("utf-8 temp path");
    let mut bob = Client::start("bob", server.addr, &["--password-file", path], &[]);
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
