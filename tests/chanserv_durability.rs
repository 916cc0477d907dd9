//! Registered rooms end to end: the real `natter-server` binary with its
//! SQLite store, accounts and a room registered over the wire, then a
//! restart: the room's topic, modes, bans and access list come back.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{temp_dir, Client, ServerProcess};
use std::net::SocketAddr;
use std::path::Path;

const PASSWORD: &str = "correct-horse-battery";

fn start_binary(dir: &Path) -> ServerProcess {
    let data = dir.display().to_string();
    let log = dir.join("server.log").display().to_string();
    ServerProcess::start(&["--data-dir", &data, "--log-file", &log, "--flood-rate", "0"])
}

/// Registers `nick` and its account with NickServ, waiting for the login.
fn with_account(addr: SocketAddr, nick: &str) -> Client {
    let mut c = Client::register(addr, nick);
    c.send(&format!("PRIVMSG NickServ :REGISTER {PASSWORD}"));
    c.read_until(|l| l.contains(" 900 "));
    c
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn a_registered_room_keeps_its_topic_modes_bans_and_operators_across_a_restart() {
    let dir = temp_dir("chanserv-restart");
    let server = start_binary(&dir);
    let mut alice = with_account(server.addr, "alice");
    let mut bob = with_account(server.addr, "bob");
    alice.send("JOIN #Keep");
    alice.read_until(|l| l.contains(" 366 "));
    alice.send("PRIVMSG ChanServ :REGISTER #keep");
    alice.send("TOPIC #keep :kept across restarts");
    alice.send("MODE #keep +m-t");
    alice.send("MODE #keep +b eve!*@*");
    alice.send("PRIVMSG ChanServ :AMODE #keep ADD bob voice");
    let got = alice.sync();
    assert!(
        has(&got, "#Keep is now registered to your account alice"),
        "{got:?}"
    );
    assert!(has(&got, "bob now gets voice in #Keep"), "{got:?}");
    bob.sync();
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status:?} {stderr:?}");

    let server = start_binary(&dir);
    let addr = server.addr;
    let mut carol = Client::register(addr, "carol");
    carol.send("JOIN #keep");
    let got = carol.read_until(|l| l.contains(" 366 "));
    assert!(
        has(&got, " 332 carol #Keep :kept across restarts"),
        "{got:?}"
    );
    assert!(
        got.iter().any(|l| l.ends_with(" 353 carol = #Keep carol")),
        "the first to come back is not an operator: {got:?}"
    );
    carol.send("MODE #keep");
    carol.send("MODE #keep +b");
    let got = carol.sync();
    assert!(has(&got, " 324 carol #Keep +mn"), "{got:?}");
    assert!(has(&got, " 367 carol #Keep eve!*@* alice "), "{got:?}");

    let mut eve = Client::register(addr, "eve");
    eve.send("JOIN #keep");
    let got = eve.read_until(|l| l.contains(" 474 "));
    assert!(has(&got, "Cannot join channel (+b)"), "{got:?}");

    // alice comes back, joins, and is given op as soon as she logs in.
    let mut alice = Client::register(addr, "alice");
    alice.send("JOIN #keep");
    alice.read_until(|l| l.contains(" 366 "));
    alice.send(&format!("PRIVMSG NickServ :IDENTIFY {PASSWORD}"));
    let got = alice.read_until(|l| l.contains("MODE #Keep"));
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #Keep +o alice"),
        "{got:?}"
    );
    // bob logs in first, then joins: voice from the restored access list.
    let mut bob = Client::register(addr, "bob");
    bob.send(&format!("PRIVMSG NickServ :IDENTIFY {PASSWORD}"));
    bob.read_until(|l| l.contains(" 900 "));
    bob.send("JOIN #keep");
    let got = bob.read_until(|l| l.contains("MODE #Keep"));
    assert!(
        has(&got, ":ChanServ!ChanServ@services MODE #Keep +v bob"),
        "{got:?}"
    );
    alice.send("PRIVMSG ChanServ :INFO #keep");
    let got = alice.read_until(|l| l.contains("Modes kept:"));
    assert!(has(&got, "Founder: alice"), "{got:?}");
    let (status, _) = server.terminate();
    assert!(status.success());
}
