//! Channel moderation driven by a real third-party IRC client: the Python
//! `irc` package (tests/interop/irc_moderation.py) plays an operator doing
//! what irssi's /op, /deop, /kick and /ban put on the wire, against a
//! plain-socket client on an in-process natter-server.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{python_irc_client_available, read_printed, start_server, Client};
use natter::net::DEFAULT_SENDQ;
use natter::proto::Message;
use std::io::{BufReader, Read};
use std::process::{Command, Stdio};

fn parse(line: &str) -> Message {
    Message::parse(line).unwrap_or_else(|e| panic!("server sent a bad line {line:?}: {e:?}"))
}

/// The next MODE or KICK that `Mod` sent to the channel, as Rusty sees it.
fn next_moderation_by_mod(rusty: &mut Client) -> Message {
    let lines = rusty.read_until(|l| {
        let m = parse(l);
        m.source.as_deref().is_some_and(|s| s.starts_with("Mod!"))
            && (m.command.eq_ignore_ascii_case("MODE") || m.command.eq_ignore_ascii_case("KICK"))
    });
    parse(lines.last().expect("read_until returns the match"))
}

/// `message` is `COMMAND params...` (the source checked by the caller).
fn assert_sent(message: &Message, command: &str, params: &[&str]) {
    assert!(
        message.command.eq_ignore_ascii_case(command) && message.params == params,
        "expected {command} {params:?} from Mod, got {message:?}"
    );
}

#[test]
fn a_third_party_irc_client_opps_kicks_and_bans() {
    if !python_irc_client_available("the moderation interop test") {
        return;
    }
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut rusty = Client::register(addr, "Rusty");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/irc_moderation.py"
    );
    let python = Command::new("python3")
        .args([script, "127.0.0.1", &addr.port().to_string(), "Rusty"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs (the interop test needs Python 3)");
    let mut python = ChildGuard(python);
    let mut stdout = BufReader::new(python.0.stdout.take().expect("piped stdout"));
    let mut printed = Vec::new();

    // Mod created #mod, so it is its operator; only then does Rusty join.
    read_printed(&mut stdout, &mut printed, "OPPED-SELF");
    rusty.send("JOIN #mod");
    let names = rusty.read_until(|l| parse(l).command == "366");
    assert!(
        names.iter().map(|l| parse(l)).any(|m| m.command == "353"
            && m.params
                .last()
                .is_some_and(|n| n.split(' ').any(|n| n == "@Mod"))),
        "Rusty's NAMES should show @Mod: {names:#?}"
    );

    // /op, /deop, /kick, in that order, each from Mod.
    assert_sent(
        &next_moderation_by_mod(&mut rusty),
        "MODE",
        &["#mod", "+o", "Rusty"],
    );
    assert_sent(
        &next_moderation_by_mod(&mut rusty),
        "MODE",
        &["#mod", "-o", "Rusty"],
    );
    assert_sent(
        &next_moderation_by_mod(&mut rusty),
        "KICK",
        &["#mod", "Rusty", "bye now"],
    );

    // Rusty, no longer in #mod, does not see the ban: the script says when it is set.
    read_printed(&mut stdout, &mut printed, "SAW-BAN");
    rusty.send("JOIN #mod");
    let rejoin = rusty.read_until(|l| {
        let m = parse(l);
        m.command == "474" || m.command == "366" || m.command.eq_ignore_ascii_case("JOIN")
    });
    let refused = parse(rejoin.last().expect("read_until returns the match"));
    assert_eq!(
        refused.command, "474",
        "a banned JOIN must be refused: {rejoin:#?}"
    );
    assert_eq!(refused.params[..2], ["Rusty", "#mod"], "{rejoin:#?}");
    // The script lists the bans only once it hears the rejoin was refused.
    rusty.send("PRIVMSG Mod :rejoin refused");

    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    printed.extend(rest.lines().map(str::to_string));
    let status = python.0.wait().expect("wait for python");
    assert!(status.success(), "python irc client failed: {printed:#?}");
    for want in [
        "OPPED-SELF",
        "SAW-MODE +o Rusty",
        "SAW-MODE -o Rusty",
        "SAW-KICK Rusty bye now",
        "SAW-BAN",
        "BANLIST Rusty!*@*",
    ] {
        assert!(
            printed.iter().any(|l| l == want),
            "missing {want}: {printed:#?}"
        );
    }
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
