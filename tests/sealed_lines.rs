//! A sealed line does what the line itself does: a core fed a client's
//! lines sealed (as a cluster node logs them, `natter::core::secrets`),
//! with the password work done from a vault, sends every client exactly
//! what a single server fed the raw lines sends. PASS right and wrong,
//! accounts registered and refused (weak, spaced), IDENTIFY right and
//! wrong, SET PASSWORD, OPER right and wrong, SASL PLAIN in one chunk and
//! in two, refused for acting as someone else, malformed, not base64,
//! aborted. If a verdict moved out of the core gave another answer than
//! the core's own rule, the two runs would differ.

use natter::core::secrets::Sealer;
use natter::core::{
    Action, ConnId, Credentials, Event, Instant, Now, Secret, Server, ServerConfig, Timestamp,
};
use std::collections::BTreeMap;

fn config() -> ServerConfig {
    let mut config = ServerConfig {
        server_name: "natter.test".into(),
        password: Some("server-pw".into()),
        sasl_plain_without_tls: true,
        ..ServerConfig::default()
    };
    let hash = natter::net::password::hash_password_cheaply("oper-pw-1").expect("hashes");
    config.opers.insert("admin".into(), hash);
    config
}

/// Runs `script` (connection number, line) through one core; with
/// `sealed`, each line is sealed first and passwords come from a vault.
/// Returns every line each connection was sent, and how many lines went
/// in sealed.
fn run(script: &[(u64, String)], sealed: bool) -> (BTreeMap<ConnId, Vec<String>>, usize) {
    let mut sealed_lines = 0;
    let mut server = Server::new(config());
    let mut sealers: BTreeMap<ConnId, Sealer> = BTreeMap::new();
    let mut vault: BTreeMap<u64, Secret> = BTreeMap::new();
    let mut sent: BTreeMap<ConnId, Vec<String>> = BTreeMap::new();
    let mut ms = 0;
    let mut now = || {
        ms += 10;
        Now {
            mono: Instant(ms),
            wall: Timestamp(1_700_000_000_000 + ms),
        }
    };
    server.handle_event(Event::Seeded { secret: [3; 32] });
    for (n, line) in script {
        let conn = ConnId(*n);
        if let std::collections::btree_map::Entry::Vacant(first) = sealers.entry(conn) {
            first.insert(Sealer::default());
            let peer = format!("10.0.0.{n}:5000");
            server.handle_event(Event::Connected {
                conn,
                peer,
                now: now(),
            });
        }
        let event = match sealers.get_mut(&conn) {
            Some(sealer) if sealed => {
                let id = vault.len() as u64 + 1;
                let no_scram = &mut |_: &[u8]| false;
                match sealer.seal(line, Some("server-pw"), id, no_scram) {
                    None => Event::Line {
                        conn,
                        line: line.clone(),
                        now: now(),
                    },
                    Some(s) => {
                        sealed_lines += 1;
                        if let Some(secret) = s.secret {
                            vault.insert(id, secret);
                        }
                        match s.seal {
                            Some(seal) => Event::SealedLine {
                                conn,
                                line: s.line,
                                seal,
                                now: now(),
                            },
                            None => Event::Line {
                                conn,
                                line: s.line,
                                now: now(),
                            },
                        }
                    }
                }
            }
            _ => Event::Line {
                conn,
                line: line.clone(),
                now: now(),
            },
        };
        let mut events = vec![event];
        while let Some(event) = events.pop() {
            server.handle_event(event);
            while let Some(action) = server.poll_action() {
                let unseal = |secret: Secret| match secret.vault_id() {
                    Some(id) => vault.get(&id).cloned().expect("kept in the vault"),
                    None => secret,
                };
                match action {
                    Action::Send { to, line } => sent.entry(to).or_default().push(line.to_string()),
                    Action::Broadcast { to, line } => {
                        for c in to {
                            sent.entry(c).or_default().push(line.to_string());
                        }
                    }
                    Action::CheckPassword {
                        conn,
                        hash,
                        password,
                        purpose,
                    } => {
                        let password = unseal(password);
                        let ok = !hash.is_empty()
                            && natter::net::password::verify(&hash, password.expose());
                        events.push(Event::PasswordChecked {
                            conn,
                            purpose,
                            ok,
                            upgrade: None,
                            now: now(),
                        });
                    }
                    Action::HashPassword {
                        conn,
                        password,
                        purpose,
                    } => {
                        let password = unseal(password);
                        let credentials = Credentials {
                            password_hash: natter::net::password::hash_password_cheaply(
                                password.expose(),
                            )
                            .expect("hashes"),
                            scram: String::new(),
                        };
                        events.push(Event::PasswordHashed {
                            conn,
                            purpose,
                            credentials: Box::new(credentials),
                            now: now(),
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    (sent, sealed_lines)
}

fn script() -> Vec<(u64, String)> {
    let plain = |message: &[u8]| {
        natter::core::sasl::chunks(message)
            .into_iter()
            .map(|c| format!("AUTHENTICATE {c}"))
            .collect::<Vec<_>>()
    };
    // 295 bytes each: a PLAIN payload of either takes two chunks.
    let long_pw = format!("long-account-pw-{}", "z".repeat(279));
    let new_pw = format!("new-account-pw-{}", "y".repeat(280));
    let mut lines: Vec<(u64, String)> = Vec::new();
    let mut say = |n: u64, line: &str| lines.push((n, line.to_string()));
    // 1: a wrong server password; 2: the right one, then an account.
    say(1, "PASS not-the-server-pw");
    say(1, "NICK mallory");
    say(2, "PASS server-pw");
    say(2, "NICK alice");
    say(2, "USER alice 0 * :Alice");
    say(2, "PRIVMSG NickServ :REGISTER short");
    say(2, "REGISTER alice * :two words");
    say(
        2,
        &format!("PRIVMSG NickServ :REGISTER {long_pw} alice@example.org"),
    );
    say(2, "PRIVMSG NickServ :SET PASSWORD tiny");
    say(2, "OPER admin wrong-oper-pw");
    say(2, "OPER admin oper-pw-1");
    say(2, "QUIT :bye");
    // 3: IDENTIFY wrong, then right; SET PASSWORD; NOTICE to NickServ.
    say(3, "PASS server-pw");
    say(3, "NICK carol");
    say(3, "USER carol 0 * :Carol");
    say(3, "PRIVMSG NickServ :IDENTIFY alice wrong-account-pw");
    say(3, &format!("NS IDENTIFY alice {long_pw}"));
    say(3, "NOTICE NickServ :IDENTIFY alice whatever-pw");
    say(3, &format!("PRIVMSG NickServ :SET PASSWORD {new_pw}"));
    say(3, "PRIVMSG NickServ :LOGOUT");
    say(3, &format!("PRIVMSG NickServ :IDENTIFY alice {new_pw}"));
    // 4: SASL PLAIN: someone else, malformed, not base64, aborted, then
    // a two-chunk login with the long password (changed since: refused),
    // then the new password.
    say(4, "PASS server-pw");
    say(4, "CAP LS 302");
    say(4, "NICK dave");
    say(4, "USER dave 0 * :Dave");
    say(4, "AUTHENTICATE PLAIN");
    let other = plain(b"bob\0alice\0new-account-pw");
    say(4, &other[0]);
    say(4, "AUTHENTICATE PLAIN");
    say(4, &plain(b"alice\0new-account-pw")[0]);
    say(4, "AUTHENTICATE PLAIN");
    say(4, "AUTHENTICATE !!!!");
    say(4, "AUTHENTICATE PLAIN");
    say(4, "AUTHENTICATE *");
    say(4, "AUTHENTICATE PLAIN");
    for line in plain(format!("\0alice\0{long_pw}").as_bytes()) {
        say(4, &line);
    }
    say(4, "AUTHENTICATE PLAIN");
    let two_chunks = plain(format!("\0alice\0{new_pw}").as_bytes());
    assert_eq!(two_chunks.len(), 2);
    for line in two_chunks {
        say(4, &line);
    }
    say(4, "CAP END");
    say(4, "AUTHENTICATE PLAIN");
    lines
}

#[test]
fn a_core_fed_sealed_lines_sends_what_a_single_server_fed_the_lines_sends() {
    let script = script();
    let (raw, none) = run(&script, false);
    let (sealed, sealed_lines) = run(&script, true);
    assert_eq!(none, 0);
    // 4 PASS, 3 REGISTER, 2 SET PASSWORD, 2 OPER, 4 IDENTIFY (one a NOTICE),
    // 7 PLAIN chunks.
    assert_eq!(sealed_lines, 22);
    let all: Vec<&String> = raw.values().flatten().collect();
    // Not a vacuous comparison: each verdict was reached both ways.
    for needle in [
        " 464 ",
        "UNACCEPTABLE_PASSWORD",
        "Choose a password of at least",
        "Choose a password of 8 to 300",
        "registered",
        " 381 ",
        " 900 ",
        " 904 ",
        " 906 ",
        " 903 ",
        " 907 ",
        "Invalid password",
        "Your password was changed",
    ] {
        assert!(
            all.iter().any(|l| l.contains(needle)),
            "no {needle:?} in {all:#?}"
        );
    }
    assert_eq!(raw, sealed);
}
