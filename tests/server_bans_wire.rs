//! Server bans end to end: the real `natter-server` binary with its SQLite
//! store, over real sockets. A KLINE set by an operator (an operator by
//! account, `--oper-account`) survives a restart; so does its UNKLINE.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{temp_dir, Client, ServerProcess};
use std::path::Path;

fn start(dir: &Path) -> ServerProcess {
    let log = dir.join("server.log").display().to_string();
    let data = dir.display().to_string();
    ServerProcess::start(&[
        "--log-file",
        &log,
        "--data-dir",
        &data,
        "--oper-account",
        "Boss",
    ])
}

/// Connects as `nick` and sends NICK and USER; the lines up to the end of
/// the welcome (376/422) or the ERROR that refuses it.
fn arrive(server: &ServerProcess, nick: &str) -> Vec<String> {
    let mut c = Client::connect(server.addr, nick);
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
    c.read_until(|l| l.contains(" 376 ") || l.contains(" 422 ") || l.starts_with("ERROR "))
}

#[test]
fn a_kline_survives_a_restart_and_so_does_its_unkline() {
    let dir = temp_dir("kline-restart");
    let server = start(&dir);
    let mut boss = Client::register(server.addr, "boss");
    boss.send("PRIVMSG NickServ :REGISTER correct-horse");
    let got = boss.read_until(|l| l.contains(" MODE boss +o"));
    assert!(got.iter().any(|l| l.contains(" 381 boss ")), "{got:?}");
    boss.send("KLINE eve!*@* :persisted");
    boss.read_until(|l| l.contains("Added K-Line [eve!*@*]"));
    boss.sync();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr:?}");

    let server = start(&dir);
    let refused = arrive(&server, "Eve");
    assert!(
        refused
            .iter()
            .any(|l| l == ":natter 465 Eve :You are banned from this server: persisted"),
        "{refused:?}"
    );
    assert_eq!(
        refused.last().map(String::as_str),
        Some("ERROR :Closing Link: 127.0.0.1 (K-Lined: persisted)")
    );
    let bob = arrive(&server, "Bob");
    assert!(bob.iter().any(|l| l.contains(" 001 Bob ")), "{bob:?}");
    // The operator account survives too: logging in makes an operator.
    let mut boss = Client::register(server.addr, "boss");
    boss.send("PRIVMSG NickServ :IDENTIFY correct-horse");
    boss.read_until(|l| l.contains(" MODE boss +o"));
    boss.send("STATS k");
    let listed = boss.read_until(|l| l.contains(" 219 "));
    assert_eq!(
        listed,
        [
            ":natter 216 boss K * * eve!* :persisted (set by boss)",
            ":natter 219 boss k :End of /STATS report"
        ]
    );
    boss.send("UNKLINE eve!*@*");
    boss.read_until(|l| l.contains("Removed K-Line"));
    boss.sync();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr:?}");

    let server = start(&dir);
    let eve = arrive(&server, "Eve");
    assert!(eve.iter().any(|l| l.contains(" 001 Eve ")), "{eve:?}");
    let (_, _) = server.terminate();
    let log = std::fs::read_to_string(dir.join("server.log")).expect("server.log");
    assert!(
        log.contains("[boss] set a server ban on eve!*@* permanently: persisted"),
        "{log}"
    );
    assert!(
        log.contains("Connection from 127.0.0.1:")
            && log.contains(" as Eve refused: banned by eve!*@* (persisted)"),
        "{log}"
    );
    assert!(
        log.contains("[boss] removed the server ban on eve!*@*"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
