//! Message tags between two instances of a real third-party IRC client:
//! the Python `irc` package (tests/interop/irc_typing.py). One says it is
//! typing (`+typing` on a TAGMSG) and then sends a tagged message; the
//! other must receive both tags as sent, while a plain-socket client
//! without `message-tags` in the same room gets the message untagged and
//! no TAGMSG at all. All on an in-process natter-server.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{python_irc_client_available, read_printed, start_server, Client};
use natter::net::DEFAULT_SENDQ;
use natter::proto::Message;
use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Starts tests/interop/irc_typing.py as `nick` in `role`, with `peer`.
fn python_client(addr: SocketAddr, nick: &str, role: &str, peer: &str) -> ChildGuard {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/irc_typing.py");
    let child = Command::new("python3")
        .args([
            script,
            "127.0.0.1",
            &addr.port().to_string(),
            nick,
            role,
            peer,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs (the interop test needs Python 3)");
    ChildGuard(child)
}

/// Waits for the script to end; everything it printed, and whether it succeeded.
fn finish(mut child: ChildGuard, stdout: Option<BufReader<ChildStdout>>) -> (bool, Vec<String>) {
    let mut rest = String::new();
    match stdout {
        Some(mut out) => {
            let _ = out.read_to_string(&mut rest);
        }
        None => {
            if let Some(mut out) = child.0.stdout.take() {
                let _ = out.read_to_string(&mut rest);
            }
        }
    }
    let status = child.0.wait().expect("wait for python");
    (status.success(), rest.lines().map(str::to_string).collect())
}

#[test]
fn a_typing_tag_is_relayed_between_two_third_party_clients() {
    if !python_irc_client_available("the message-tags interop test") {
        return;
    }
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut plain = Client::joined(addr, "Plain", "#lobby");

    let mut listener = python_client(addr, "Listener", "listener", "Typist");
    let mut listener_out = BufReader::new(listener.0.stdout.take().expect("piped stdout"));
    let mut heard = Vec::new();
    read_printed(&mut listener_out, &mut heard, "JOINED");

    let typist = python_client(addr, "Typist", "typist", "Listener");
    let (typist_ok, typed) = finish(typist, None);
    assert!(typist_ok, "the typist failed: {typed:#?}");
    assert!(typed.iter().any(|l| l == "SENT"), "{typed:#?}");

    let (listener_ok, rest) = finish(listener, Some(listener_out));
    heard.extend(rest);
    assert!(listener_ok, "the listener failed: {heard:#?}");
    for want in [
        "CAP-ACK message-tags",
        "GOT-TYPING Typist active",
        "GOT-MSG Typist hello +typing=done +example.com/note=a b",
    ] {
        assert!(
            heard.iter().any(|l| l == want),
            "missing {want}: {heard:#?}"
        );
    }

    // Plain never enabled message-tags: the message without tags, no TAGMSG.
    let seen = plain.sync();
    let message = seen
        .iter()
        .filter_map(|l| Message::parse(l).ok())
        .find(|m| m.command == "PRIVMSG")
        .unwrap_or_else(|| panic!("Plain never got the message: {seen:#?}"));
    assert!(message.tags.is_empty(), "{message:?}");
    assert!(message
        .source
        .as_deref()
        .is_some_and(|s| s.starts_with("Typist!")));
    assert_eq!(message.params, ["#lobby", "hello"]);
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("TAGMSG") || l.starts_with('@')),
        "{seen:#?}"
    );
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
