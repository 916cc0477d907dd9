//! A moderated session over real sockets, as a snapshot of exactly what each
//! person's client received: op, +m, +v, kick, ban, invite.
mod common;
#[path = "common/e2e.rs"]
mod e2e;

use common::snapshot_settings;
use e2e::{start_server, Client};
use natter::net::DEFAULT_SENDQ;

/// A line with its times replaced, so runs compare: ten-digit numbers
/// (Unix times) and `[YYYY-MM-DD HH:MM:SS]` stamps of replayed history.
fn steady(line: &str) -> String {
    let line = match line.find(":[20") {
        Some(at) if line.len() >= at + 22 && line.as_bytes()[at + 21] == b']' => {
            format!("{}:[<time>]{}", &line[..at], &line[at + 22..])
        }
        _ => line.to_string(),
    };
    line.split(' ')
        .map(|w| {
            let digits = w.trim_start_matches(':');
            if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
                w.replace(digits, "<time>")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Records one step: who sent what, then what each client received (the
/// sender first).
struct Transcript {
    text: String,
}

impl Transcript {
    fn step(&mut self, people: &mut [&mut Client], who: usize, line: &str) {
        people[who].send(line);
        self.text += &format!("{}> {line}\n", people[who].nick);
        // The sender's round trip first: after it the server has applied
        // the line, so everyone else's round trip sees all it caused.
        let order = std::iter::once(who).chain((0..people.len()).filter(|&p| p != who));
        for p in order {
            let person = &mut people[p];
            for got in person.sync() {
                self.text += &format!("  {} < {}\n", person.nick, steady(&got));
            }
        }
    }
}

#[test]
fn a_moderated_session_over_the_wire() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut alice = Client::joined(addr, "alice", "#room");
    let mut bob = Client::joined(addr, "bob", "#room");
    let mut carol = Client::joined(addr, "carol", "#room");
    for person in [&mut alice, &mut bob, &mut carol] {
        person.sync();
    }
    let mut t = Transcript {
        text: String::new(),
    };
    let mut people = [&mut alice, &mut bob, &mut carol];
    for (who, line) in [
        (1, "MODE #room +m"),
        (0, "MODE #room +o bob"),
        (0, "MODE #room +m"),
        (2, "PRIVMSG #room :can anyone hear me?"),
        (1, "MODE #room +v carol"),
        (2, "PRIVMSG #room :now I have a voice"),
        (0, "MODE #room +b carol!*@*"),
        (2, "PRIVMSG #room :voiced, so still heard"),
        (0, "KICK #room carol :take a break"),
        (2, "JOIN #room"),
        (0, "MODE #room -b carol!*@*"),
        (0, "MODE #room +i"),
        (2, "JOIN #room"),
        (1, "INVITE carol #room"),
        (2, "JOIN #room"),
        (2, "NAMES #room"),
        (0, "MODE #room b"),
        (0, "MODE #room"),
    ] {
        t.step(&mut people, who, line);
    }
    snapshot_settings().bind(|| insta::assert_snapshot!("moderated_session_over_the_wire", t.text));
}
