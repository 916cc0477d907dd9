//! Server operators through the real shell: the password is checked with
//! argon2 off the core task (the core only asks), KILL over real sockets,
//! and the `natter-server --hash-password` / `--oper NAME:HASH` options.
mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{count, run_server_expecting_exit, server_options, start_with, Client, ServerProcess};
use natter::net::{password, DEFAULT_SENDQ};

/// A server whose operator `root` has the password `correct-horse`, hashed
/// at argon2's real (default) cost.
fn server_with_oper() -> natter::net::RunningServer {
    let mut options = server_options(DEFAULT_SENDQ, None);
    let hash = password::hash_password("correct-horse").expect("hashes");
    options.config.opers.insert("root".into(), hash);
    start_with(options)
}

#[test]
fn oper_over_the_wire_checks_the_argon2_hash_and_a_wrong_password_gets_464() {
    let server = server_with_oper();
    let mut alice = Client::register(server.local_addr(), "alice");
    alice.send("OPER root battery-staple");
    let got = alice.read_until(|l| l.contains(" 464 "));
    assert_eq!(got, [":natter 464 alice :Password incorrect"]);
    alice.send("OPER nobody correct-horse");
    assert_eq!(
        alice.read_line().as_deref(),
        Some(":natter 491 alice :No such operator: check the name given to OPER")
    );
    alice.send("OPER root correct-horse");
    let got = alice.read_until(|l| l.contains(" MODE "));
    assert_eq!(
        got,
        [
            ":natter 381 alice :You are now an IRC operator",
            ":alice MODE alice +o"
        ]
    );
    alice.send("MODE alice");
    assert_eq!(alice.read_line().as_deref(), Some(":natter 221 alice +o"));
}

#[test]
fn chat_goes_on_while_passwords_are_being_checked() {
    let server = server_with_oper();
    let addr = server.local_addr();
    let mut alice = Client::joined(addr, "alice", "#room");
    let mut bob = Client::joined(addr, "bob", "#room");
    alice.read_until(|l| l.contains(" JOIN "));
    // Several checks queue up (two run at a time, off the core task);
    // bob's message is not held behind them, and each guesser gets its 464.
    let mut guessers: Vec<Client> = (0..3)
        .map(|i| Client::register(addr, &format!("guess{i}")))
        .collect();
    for guesser in &mut guessers {
        guesser.send("OPER root wrong");
    }
    bob.send("PRIVMSG #room :still chatting");
    let got = alice.read_until(|l| l.ends_with("still chatting"));
    assert_eq!(count(&got, "PRIVMSG"), 1);
    for guesser in &mut guessers {
        guesser.read_until(|l| l.contains(" 464 "));
    }
}

#[test]
fn kill_over_the_wire_closes_the_victim_and_tells_its_room_once() {
    let server = server_with_oper();
    let addr = server.local_addr();
    let mut alice = Client::joined(addr, "alice", "#room");
    let mut bob = Client::joined(addr, "bob", "#room");
    let mut carol = Client::joined(addr, "carol", "#room");
    alice.send("OPER root correct-horse");
    alice.read_until(|l| l.contains(" MODE alice +o"));
    alice.sync();
    bob.sync();
    carol.sync();
    alice.send("KILL bob :enough");
    let got = bob.read_to_end();
    assert_eq!(
        got,
        [
            ":alice!alice@127.0.0.1 KILL bob enough",
            "ERROR :Closing Link: natter (Killed (alice (enough)))"
        ]
    );
    let quit = ":bob!bob@127.0.0.1 QUIT :Killed (alice (enough))";
    let seen = carol.read_until(|l| l.contains(" QUIT "));
    assert_eq!(seen.last().map(String::as_str), Some(quit));
    assert_eq!(count(&carol.sync(), " QUIT "), 0, "once");
}

#[test]
fn hash_password_prints_a_hash_that_oper_accepts_in_the_real_binary() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_natter-server"))
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natter-server starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"open sesame\n")
        .expect("write the password");
    let out = child.wait_with_output().expect("natter-server exits");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        !stdout.contains("open sesame"),
        "the password is never printed"
    );
    let hash = stdout.trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(password::verify(&hash, "open sesame"));

    let oper = format!("admin:{hash}");
    let server =
        ServerProcess::start(&["--log-file", "/dev/null", "--no-persist", "--oper", &oper]);
    let mut alice = Client::register(server.addr, "alice");
    alice.send("OPER admin :open sesame");
    let got = alice.read_until(|l| l.contains(" 381 ") || l.contains(" 464 "));
    assert!(got.last().is_some_and(|l| l.contains(" 381 ")), "{got:?}");
}

#[test]
fn a_bad_oper_option_stops_the_server_with_advice() {
    for (arg, says) in [
        ("root:hunter2", "--hash-password"),
        ("root", "NAME:HASH"),
        (
            "two words:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "one word",
        ),
    ] {
        let (status, stderr) = run_server_expecting_exit(&["0", "--oper", arg]);
        assert!(!status.success(), "--oper {arg} must be refused");
        assert!(stderr.contains(says), "--oper {arg}: {stderr}");
    }
    let (status, stderr) = run_server_expecting_exit(&["--hash-password"]);
    assert!(!status.success());
    assert!(stderr.contains("no password on standard input"), "{stderr}");
}
