//! Accounts end to end: the real `natter-server` binary over real sockets.
//! Someone registers with NickServ or `REGISTER`, then logs in again with
//! SASL PLAIN, SCRAM-SHA-256 (the client side written from RFC 5802/7677 in
//! tests/common/scram_client.rs) and EXTERNAL (a TLS client certificate
//! added with `NS CERT ADD`); registered nicks are protected; failed logins
//! are throttled; accounts survive a restart; and no password or SASL
//! payload ever reaches the log, stderr or the database.
//!
//! The per-address connection limit is proven over real sockets by
//! tests/connection_limits.rs and is not repeated here. No timing
//! assertions: waits are bounded only so a broken server fails a test
//! instead of hanging it (the one short window is the login throttle's
//! 2 seconds, against loopback round trips of microseconds).
#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/scram_client.rs"]
mod scram_client;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use e2e::{strip_timestamp, temp_dir, Client, ServerProcess};
use natter::client::tls::ClientIdentity;
use natter::proto::Message;
use rcgen::{CertificateParams, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

// ----- plumbing -------------------------------------------------------------

fn parse(line: &str) -> Message {
    Message::parse(line).unwrap_or_else(|e| panic!("server sent a bad line {line:?}: {e:?}"))
}

/// Whether `line` is the numeric `code`.
fn is(line: &str, code: &str) -> bool {
    parse(line).command == code
}

fn any(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// A data directory, and the server on it with `extra` options.
struct Setup {
    dir: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        Setup {
            dir: temp_dir(name),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn start(&self, extra: &[&str]) -> ServerProcess {
        let log = self.log();
        let mut args = vec![
            "--log-file",
            log.to_str().expect("utf-8 temp path"),
            "--data-dir",
            self.dir.to_str().expect("utf-8 temp path"),
        ];
        args.extend_from_slice(extra);
        ServerProcess::start(&args)
    }

    /// Stops `server` (SIGTERM, which flushes server.log) and returns the
    /// log's lines without their timestamps.
    fn stop_and_read_log(&self, server: ServerProcess) -> Vec<String> {
        let (status, _) = server.terminate();
        assert!(status.success(), "natter-server exited with {status}");
        self.log_lines()
    }

    /// server.log's lines without their timestamps (complete once the
    /// server has stopped: it is flushed in the background).
    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .expect("server.log exists")
            .lines()
            .map(|l| strip_timestamp(l).to_string())
            .collect()
    }
}

/// `nick` connects, registers its nick with NickServ and is logged in.
fn register_with_nickserv(addr: SocketAddr, nick: &str, password: &str) -> Client {
    let mut c = Client::register(addr, nick);
    c.send(&format!(
        "PRIVMSG NickServ :REGISTER {password} {nick}@example.org"
    ));
    let got = c.read_until(|l| is(l, "900"));
    let logged_in = got.last().expect("read_until returns the match");
    assert!(
        logged_in.ends_with(&format!(" :You are now logged in as {nick}")),
        "{got:#?}"
    );
    assert!(
        any(&got, &format!("NOTICE {nick} :Nickname {nick} registered")),
        "{got:#?}"
    );
    c
}

/// Leaves with QUIT and waits for the server to close the connection.
fn quit(mut c: Client) {
    c.send("QUIT :bye");
    c.read_to_end();
}

/// `WHOIS nick` from `asker`: the account its 330 names, if any.
fn whois_account(asker: &mut Client, nick: &str) -> Option<String> {
    asker.send(&format!("WHOIS {nick}"));
    let lines = asker.read_until(|l| is(l, "318"));
    lines
        .iter()
        .map(|l| parse(l))
        .find(|m| m.command == "330")
        .map(|m| {
            assert_eq!(m.params[1], nick, "330 names the nick asked about");
            assert_eq!(m.params[3], "is logged in as");
            m.params[2].clone()
        })
}

// ----- SASL, as a client does it --------------------------------------------

/// The decoded payload of a server's `AUTHENTICATE <base64>` line.
fn challenge(line: &str) -> String {
    let m = parse(line);
    assert_eq!(m.command, "AUTHENTICATE", "{line}");
    let bytes = B64.decode(&m.params[0]).expect("the challenge is base64");
    String::from_utf8(bytes).expect("the challenge is UTF-8")
}

/// Reads up to the server's next `AUTHENTICATE` or its final 903/904.
fn next_sasl_step(c: &mut Client) -> Vec<String> {
    c.read_until(|l| {
        let m = parse(l);
        m.command == "AUTHENTICATE" || m.command == "903" || m.command == "904"
    })
}

/// `AUTHENTICATE <mechanism>`, answered by `AUTHENTICATE +`.
fn begin(c: &mut Client, mechanism: &str) {
    c.send(&format!("AUTHENTICATE {mechanism}"));
    let got = next_sasl_step(c);
    let last = got.last().expect("read_until returns the match");
    assert_eq!(parse(last).params, ["+"], "{mechanism} refused: {got:#?}");
}

/// How one SASL exchange went: every line read, and the base64 payloads
/// sent (for the secrets scan).
struct Exchange {
    lines: Vec<String>,
    sent: Vec<String>,
}

impl Exchange {
    fn succeeded(&self) -> bool {
        self.lines.last().is_some_and(|l| is(l, "903"))
    }
}

/// SASL PLAIN for `account` with `password` (no authzid).
fn sasl_plain(c: &mut Client, account: &str, password: &str) -> Exchange {
    begin(c, "PLAIN");
    let payload = B64.encode(format!("\0{account}\0{password}"));
    c.send(&format!("AUTHENTICATE {payload}"));
    Exchange {
        lines: next_sasl_step(c),
        sent: vec![payload],
    }
}

/// SASL SCRAM-SHA-256, checking the server's signature when it proves
/// itself.
fn sasl_scram(c: &mut Client, account: &str, password: &str, nonce: &str) -> Exchange {
    begin(c, "SCRAM-SHA-256");
    let first = B64.encode(scram_client::client_first(account, nonce));
    c.send(&format!("AUTHENTICATE {first}"));
    let mut lines = next_sasl_step(c);
    let server_first = challenge(lines.last().expect("read_until returns the match"));
    let (client_final, server_final) =
        scram_client::finish(account, password, nonce, &server_first);
    let last = B64.encode(&client_final);
    c.send(&format!("AUTHENTICATE {last}"));
    let sent = vec![first, last];
    lines.extend(next_sasl_step(c));
    let reply = lines.last().expect("read_until returns the match").clone();
    if is(&reply, "904") {
        return Exchange { lines, sent };
    }
    assert_eq!(
        challenge(&reply),
        server_final,
        "the server proves it knows the account's keys"
    );
    c.send("AUTHENTICATE +");
    lines.extend(next_sasl_step(c));
    Exchange { lines, sent }
}

/// A new connection as `nick` that logs in with `login` before
/// registering, then finishes registration.
fn connect_with_sasl(
    addr: SocketAddr,
    nick: &str,
    login: impl FnOnce(&mut Client) -> Exchange,
) -> (Client, Exchange) {
    let mut c = Client::connect(addr, nick);
    c.start_sasl_registration();
    let exchange = login(&mut c);
    c.finish_registration();
    (c, exchange)
}

/// The 900 and 903 of a successful login to `account`.
fn assert_logged_in(exchange: &Exchange, nick: &str, account: &str) {
    let lines = &exchange.lines;
    assert!(exchange.succeeded(), "{lines:#?}");
    let logged_in = lines
        .iter()
        .map(|l| parse(l))
        .find(|m| m.command == "900")
        .unwrap_or_else(|| panic!("no 900 in {lines:#?}"));
    assert_eq!(logged_in.params[0], nick);
    assert!(logged_in.params[1].starts_with(&format!("{nick}!")));
    assert_eq!(logged_in.params[2], account);
    assert_eq!(
        parse(lines.last().expect("non-empty")).params[1],
        "SASL authentication successful"
    );
}

// ----- logging in again -----------------------------------------------------

#[test]
fn a_nickserv_account_logs_in_again_with_sasl_plain_and_with_scram_sha_256() {
    let setup = Setup::new("acct-sasl");
    let server = setup.start(&[]);
    let addr = server.addr;
    let mut watcher = Client::register(addr, "watcher");
    quit(register_with_nickserv(addr, "alice", "correct-horse-9"));
    assert_eq!(whois_account(&mut watcher, "alice"), None, "alice left");

    // The server offers PLAIN to loopback and SCRAM to everyone; EXTERNAL
    // is for TLS only.
    let mut probe = Client::connect(addr, "probe");
    probe.send("CAP LS 302");
    let caps = probe.read_until(|l| l.contains(" CAP * LS "));
    let ls = caps.last().expect("read_until returns the match");
    assert!(ls.contains("sasl=PLAIN,SCRAM-SHA-256"), "{ls}");
    assert!(ls.contains("account-notify") && ls.contains("draft/account-registration"));
    quit(probe);

    let (mut alice, plain) =
        connect_with_sasl(addr, "alice", |c| sasl_plain(c, "alice", "correct-horse-9"));
    assert_logged_in(&plain, "alice", "alice");
    assert_eq!(
        whois_account(&mut watcher, "alice").as_deref(),
        Some("alice")
    );
    // Logged in before the welcome: no grace-period warning about the nick.
    assert_eq!(alice.sync().len(), 0);
    quit(alice);

    // SCRAM with the account's name in another case: the account's
    // spelling comes back.
    let (_alice, scram) = connect_with_sasl(addr, "alice", |c| {
        sasl_scram(c, "ALICE", "correct-horse-9", "fyko+d2lbbFgONRv9qkxdawL")
    });
    assert_logged_in(&scram, "alice", "alice");
    assert_eq!(
        whois_account(&mut watcher, "alice").as_deref(),
        Some("alice")
    );

    let log = setup.stop_and_read_log(server);
    for wanted in [
        "[alice] registered the account alice",
        "[alice] logged in as alice (registration)",
        "[alice] logged in as alice (SASL PLAIN)",
        "[alice] logged in as alice (SASL SCRAM-SHA-256)",
    ] {
        assert!(log.iter().any(|l| l == wanted), "no {wanted:?} in {log:#?}");
    }
}

#[test]
fn sasl_with_a_wrong_password_fails_with_904_and_the_connection_stays_unidentified() {
    let setup = Setup::new("acct-sasl-wrong");
    let server = setup.start(&[]);
    let addr = server.addr;
    quit(register_with_nickserv(addr, "alice", "correct-horse-9"));
    let mut watcher = Client::register(addr, "watcher");

    let (mut bob, plain) = connect_with_sasl(addr, "bob", |c| sasl_plain(c, "alice", "not-her-pw"));
    assert_eq!(
        parse(plain.lines.last().expect("non-empty")).params[1],
        "SASL authentication failed"
    );
    assert!(!plain.lines.iter().any(|l| is(l, "900")));
    let scram = sasl_scram(&mut bob, "alice", "not-her-pw", "rOprNGfwEbeRWgbNEkqO");
    assert!(is(scram.lines.last().expect("non-empty"), "904"));
    assert_eq!(whois_account(&mut watcher, "bob"), None);
    bob.sync();

    let log = setup.stop_and_read_log(server);
    assert!(
        log.iter()
            .any(|l| l == "[bob] failed to log in as alice (SASL PLAIN)"),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l == "[bob] failed to log in as alice (SASL SCRAM-SHA-256)"),
        "{log:#?}"
    );
}

// ----- EXTERNAL over TLS ------------------------------------------------------

/// A self-signed certificate for 127.0.0.1, as PEM files in `dir`.
fn server_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().expect("a key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("valid names");
    let cert = params.self_signed(&key).expect("self-signed");
    let (cert_file, key_file) = (dir.join("server-cert.pem"), dir.join("server-key.pem"));
    std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
    std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
    (cert_file, key_file)
}

/// A client certificate (what a person makes once and gives their IRC
/// client), and its SHA-256 fingerprint as lowercase hex.
fn client_certificate() -> (Vec<u8>, Vec<u8>, String) {
    let key = KeyPair::generate().expect("a key");
    let params = CertificateParams::new(vec!["carol".to_string()]).expect("valid names");
    let cert = params.self_signed(&key).expect("self-signed");
    let fingerprint = natter::fingerprint::sha256(cert.der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (cert.der().to_vec(), key.serialize_der(), fingerprint)
}

fn identity(cert: &[u8], key: &[u8]) -> ClientIdentity {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    ClientIdentity {
        chain: vec![CertificateDer::from(cert.to_vec())],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
    }
}

#[test]
fn sasl_external_logs_in_with_a_client_certificate_added_by_cert_add() {
    let setup = Setup::new("acct-external");
    let (cert, key) = server_certificate(&setup.dir);
    let server = setup.start(&[
        "--tls-port",
        "0",
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    let tls = server.tls_addr.expect("the TLS port listens");
    let (cert_der, key_der, fingerprint) = client_certificate();
    let mut watcher = Client::register(server.addr, "watcher");

    // Carol registers over TLS with her certificate, and adds it.
    let mut carol = Client::connect_tls(tls, "carol", Some(identity(&cert_der, &key_der)));
    carol.send("NICK carol");
    carol.send("USER carol 0 * :carol");
    carol.read_until(|l| is(l, "376") || is(l, "422"));
    carol.send("PRIVMSG NickServ :REGISTER correct-horse-9");
    carol.read_until(|l| is(l, "900"));
    carol.send("NS CERT ADD");
    let added = carol.read_until(|l| l.contains(" NOTICE carol :"));
    assert!(
        added.last().expect("non-empty").ends_with(&format!(
            ":Added certificate {fingerprint}: it now logs you in with SASL EXTERNAL."
        )),
        "the server's fingerprint is the certificate's SHA-256: {added:#?}"
    );
    carol.send("NS CERT LIST");
    let listed = carol.read_until(|l| parse(l).command == "NOTICE");
    assert_eq!(
        parse(listed.last().expect("non-empty")).params,
        ["carol", fingerprint.as_str()]
    );
    quit(carol);

    // With the certificate, EXTERNAL logs her in; no password is sent.
    let mut carol = Client::connect_tls(tls, "carol", Some(identity(&cert_der, &key_der)));
    carol.send("CAP LS 302");
    let caps = carol.read_until(|l| l.contains(" CAP * LS "));
    assert!(
        caps.last()
            .expect("non-empty")
            .contains("sasl=PLAIN,EXTERNAL,SCRAM-SHA-256"),
        "{caps:#?}"
    );
    carol.start_sasl_registration();
    begin(&mut carol, "EXTERNAL");
    carol.send("AUTHENTICATE +");
    let external = Exchange {
        lines: next_sasl_step(&mut carol),
        sent: Vec::new(),
    };
    carol.finish_registration();
    assert_logged_in(&external, "carol", "carol");
    assert_eq!(
        whois_account(&mut watcher, "carol").as_deref(),
        Some("carol")
    );

    // Over TLS without a certificate, or without TLS, EXTERNAL fails.
    let mut anon = Client::connect_tls(tls, "anon", None);
    anon.start_sasl_registration();
    begin(&mut anon, "EXTERNAL");
    anon.send("AUTHENTICATE +");
    let got = next_sasl_step(&mut anon);
    assert!(is(got.last().expect("non-empty"), "904"), "{got:#?}");
    let mut plain = Client::connect(server.addr, "plain");
    plain.start_sasl_registration();
    plain.send("AUTHENTICATE EXTERNAL");
    let got = next_sasl_step(&mut plain);
    assert!(
        got.iter()
            .any(|l| is(l, "908") && parse(l).params[1] == "PLAIN,SCRAM-SHA-256"),
        "{got:#?}"
    );
    assert!(is(got.last().expect("non-empty"), "904"), "{got:#?}");

    let log = setup.stop_and_read_log(server);
    assert!(
        log.iter()
            .any(|l| l == "[carol] logged in as carol (SASL EXTERNAL)"),
        "{log:#?}"
    );
}

// ----- nick protection ------------------------------------------------------

/// `NICK` lines in `lines` that rename `from` to something: the new nicks.
fn renames_of(lines: &[String], from: &str) -> Vec<String> {
    lines
        .iter()
        .map(|l| parse(l))
        .filter(|m| {
            m.command == "NICK"
                && m.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with(&format!("{from}!")))
        })
        .map(|m| m.params[0].clone())
        .collect()
}

#[test]
fn an_imposter_on_a_registered_nick_is_renamed_to_guest1_when_the_grace_runs_out() {
    let setup = Setup::new("acct-grace");
    let server = setup.start(&["--nick-grace", "2"]);
    let addr = server.addr;
    quit(register_with_nickserv(addr, "alice", "correct-horse-9"));
    let mut watcher = Client::joined(addr, "watcher", "#lobby");

    let mut imposter = Client::register(addr, "alice");
    imposter.send("JOIN #lobby");
    let joined = imposter.read_until(|l| is(l, "366"));
    assert!(
        any(&joined, "NOTICE alice :This nickname is registered. Identify with /msg NickServ IDENTIFY <password> (or log in with SASL) within 2 seconds, or your nick will be changed."),
        "{joined:#?}"
    );
    // Nothing is sent until the grace runs out; the read timeout is far
    // longer than the 2 s grace.
    let renamed = imposter.read_until(|l| parse(l).command == "NICK");
    assert_eq!(renamed_of_last(&renamed), "Guest1");
    assert!(
        any(&renamed, "NOTICE alice :Your nick was changed to Guest1: the nick you had is registered to an account you are not logged in to."),
        "{renamed:#?}"
    );
    // The room saw it too, once.
    let seen = watcher.read_until(|l| parse(l).command == "NICK");
    assert_eq!(renames_of(&seen, "alice"), ["Guest1"]);
    imposter.send("WHOIS Guest1");
    let whois = imposter.read_until(|l| is(l, "318"));
    assert!(whois.iter().any(|l| is(l, "311")), "{whois:#?}");
    assert!(!whois.iter().any(|l| is(l, "330")), "{whois:#?}");

    // The owner now takes the nick and logs in; no rename follows.
    let mut owner = Client::register(addr, "alice_");
    owner.send("PRIVMSG NickServ :IDENTIFY alice correct-horse-9");
    let identified = owner.read_until(|l| is(l, "900"));
    assert!(
        any(&identified, "You are now identified for alice."),
        "{identified:#?}"
    );
    owner.send("NICK alice");
    let nick = owner.read_until(|l| parse(l).command == "NICK");
    assert_eq!(renamed_of_last(&nick), "alice");
    assert_eq!(
        whois_account(&mut watcher, "alice").as_deref(),
        Some("alice")
    );
}

/// The new nick of the `NICK` line that ends `lines`.
fn renamed_of_last(lines: &[String]) -> String {
    parse(lines.last().expect("non-empty")).params[0].clone()
}

#[test]
fn ghost_disconnects_an_old_connection_that_still_holds_your_nick() {
    let setup = Setup::new("acct-ghost");
    let server = setup.start(&[]);
    let addr = server.addr;
    let mut ghost = register_with_nickserv(addr, "alice", "correct-horse-9");

    let mut alice = Client::register(addr, "alice_");
    alice.send("PRIVMSG NickServ :GHOST alice");
    let refused = alice.read_until(|l| l.contains(" NOTICE alice_ :"));
    assert!(
        refused
            .last()
            .expect("non-empty")
            .ends_with(" :You must log in first: /msg NickServ IDENTIFY <password>"),
        "GHOST needs a login: {refused:#?}"
    );
    alice.send("NS IDENTIFY alice correct-horse-9");
    alice.read_until(|l| is(l, "900"));
    alice.send("NS GHOST alice");
    let done = alice.read_until(|l| l.contains(" NOTICE alice_ :"));
    assert!(
        done.last()
            .expect("non-empty")
            .ends_with(" :alice has been disconnected."),
        "{done:#?}"
    );
    let last_words = ghost.read_to_end();
    assert!(
        last_words
            .iter()
            .any(|l| l.starts_with("ERROR ") && l.contains("GHOST command used by alice_")),
        "{last_words:#?}"
    );
    alice.send("NICK alice");
    let nick = alice.read_until(|l| parse(l).command == "NICK" || is(l, "433"));
    assert_eq!(
        renamed_of_last(&nick),
        "alice",
        "the nick is free: {nick:#?}"
    );
}

// ----- the login throttle ---------------------------------------------------

#[test]
fn after_four_failed_identifies_even_the_right_password_is_refused_for_a_while() {
    let setup = Setup::new("acct-throttle");
    let server = setup.start(&[]);
    let addr = server.addr;
    quit(register_with_nickserv(addr, "alice", "correct-horse-9"));

    let mut mallory = Client::register(addr, "mallory");
    let answer = |c: &mut Client, command: &str| -> String {
        c.send(command);
        let nick = c.nick.clone();
        let got = c.read_until(|l| l.contains(&format!(" NOTICE {nick} :")));
        parse(got.last().expect("non-empty")).params[1].clone()
    };
    // Three failures are free; the fourth is still checked.
    for guess in [
        "guess-one-1",
        "guess-two-2",
        "guess-three-3",
        "guess-four-4",
    ] {
        assert_eq!(
            answer(&mut mallory, &format!("NS IDENTIFY alice {guess}")),
            "Invalid password for alice (or no such account)"
        );
    }
    // Now even the right password waits (2 s after a fourth failure).
    let refused = answer(&mut mallory, "NS IDENTIFY alice correct-horse-9");
    let wait = refused
        .strip_prefix("Too many failed logins for this account or from your address: try again in ")
        .and_then(|rest| rest.strip_suffix(" seconds"))
        .unwrap_or_else(|| panic!("not the throttle's refusal: {refused:?}"));
    assert!(matches!(wait, "1" | "2"), "{refused}");
    // The account's count holds for SASL as well, from a new connection.
    let mut c = Client::connect(addr, "alice");
    c.start_sasl_registration();
    let plain = sasl_plain(&mut c, "alice", "correct-horse-9");
    let last = parse(plain.lines.last().expect("non-empty"));
    assert_eq!(last.command, "904");
    assert!(
        last.params[1].starts_with("Too many failed logins"),
        "{last:?}"
    );

    let log = setup.stop_and_read_log(server);
    let failures = log
        .iter()
        .filter(|l| *l == "[mallory] failed to log in as alice (NickServ IDENTIFY)")
        .count();
    assert_eq!(failures, 4, "refused attempts are not checked: {log:#?}");
}

// ----- restarts ---------------------------------------------------------------

#[test]
fn accounts_survive_a_restart_on_the_same_data_dir() {
    let setup = Setup::new("acct-restart");
    let server = setup.start(&[]);
    quit(register_with_nickserv(
        server.addr,
        "alice",
        "correct-horse-9",
    ));
    // bob uses IRCv3 draft/account-registration.
    let mut bob = Client::register(server.addr, "bob");
    bob.send("REGISTER * bob@example.org battery-staple-7");
    let got = bob.read_until(|l| is(l, "900"));
    assert!(
        got.iter().any(|l| {
            let m = parse(l);
            m.command == "REGISTER" && m.params[..2] == ["SUCCESS", "bob"]
        }),
        "{got:#?}"
    );
    quit(bob);
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");

    let server = setup.start(&[]);
    let mut watcher = Client::register(server.addr, "watcher");
    let (alice, plain) = connect_with_sasl(server.addr, "alice", |c| {
        sasl_plain(c, "alice", "correct-horse-9")
    });
    assert_logged_in(&plain, "alice", "alice");
    let (bob, scram) = connect_with_sasl(server.addr, "bob", |c| {
        sasl_scram(c, "bob", "battery-staple-7", "nonce-after-restart")
    });
    assert_logged_in(&scram, "bob", "bob");
    assert_eq!(
        whois_account(&mut watcher, "alice").as_deref(),
        Some("alice")
    );
    assert_eq!(whois_account(&mut watcher, "bob").as_deref(), Some("bob"));
    quit(alice);
    quit(bob);
    // And the names stay taken.
    watcher.send("REGISTER alice * another-password");
    let refused = watcher.read_until(|l| parse(l).command == "FAIL");
    assert_eq!(
        parse(refused.last().expect("non-empty")).params[..2],
        ["REGISTER", "ACCOUNT_NAME_MUST_BE_NICK"]
    );
    let mut again = Client::register(server.addr, "alice2");
    again.send("NICK alice");
    again.read_until(|l| parse(l).command == "NICK");
    again.send("REGISTER * * another-password");
    let refused = again.read_until(|l| parse(l).command == "FAIL");
    assert_eq!(
        parse(refused.last().expect("non-empty")).params[..2],
        ["REGISTER", "ACCOUNT_EXISTS"]
    );
}

// ----- secrets ----------------------------------------------------------------

/// Where `needle` occurs in `haystack`, if anywhere.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every file of the data directory (history.sqlite3 and its journal,
/// state.sqlite3 and its -wal and -shm, the history journal, server.log),
/// read now.
fn data_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read the data dir")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read a data file");
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

fn assert_no_secret(files: &[(PathBuf, Vec<u8>)], secrets: &[String]) {
    for (path, bytes) in files {
        for secret in secrets {
            assert_eq!(
                find(bytes, secret.as_bytes()),
                None,
                "{secret:?} was written to {}",
                path.display()
            );
        }
    }
}

#[test]
fn no_password_or_sasl_payload_reaches_the_log_stderr_or_the_database() {
    let setup = Setup::new("acct-secrets");
    let server = setup.start(&[]);
    let addr = server.addr;
    let [registered, bobs, wrong_identify, wrong_plain, wrong_scram, changed] = [
        "pw-SENTINEL-alice-register",
        "pw-SENTINEL-bob-register",
        "pw-SENTINEL-wrong-identify",
        "pw-SENTINEL-wrong-plain",
        "pw-SENTINEL-wrong-scram",
        "pw-SENTINEL-alice-changed",
    ];
    let mut payloads: Vec<String> = Vec::new();

    // Registering, by NickServ and by REGISTER.
    quit(register_with_nickserv(addr, "alice", registered));
    let mut bob = Client::register(addr, "bob");
    bob.send(&format!("REGISTER * * {bobs}"));
    bob.read_until(|l| is(l, "900"));
    quit(bob);

    // Three failed logins (IDENTIFY, PLAIN, SCRAM), then the right one.
    let mut mallory = Client::register(addr, "mallory");
    mallory.send(&format!("NS IDENTIFY alice {wrong_identify}"));
    mallory.read_until(|l| l.ends_with(":Invalid password for alice (or no such account)"));
    quit(mallory);
    let (alice, plain) = connect_with_sasl(addr, "alice", |c| {
        let wrong = sasl_plain(c, "alice", wrong_plain);
        assert!(!wrong.succeeded(), "{:#?}", wrong.lines);
        payloads.extend(wrong.sent);
        let wrong = sasl_scram(c, "alice", wrong_scram, "secret-scan-nonce-1");
        assert!(!wrong.succeeded(), "{:#?}", wrong.lines);
        payloads.extend(wrong.sent);
        sasl_plain(c, "alice", registered)
    });
    assert_logged_in(&plain, "alice", "alice");
    payloads.extend(plain.sent);
    quit(alice);

    // SCRAM, then a new password, which both mechanisms then take.
    let (mut alice, scram) = connect_with_sasl(addr, "alice", |c| {
        sasl_scram(c, "alice", registered, "secret-scan-nonce-2")
    });
    assert_logged_in(&scram, "alice", "alice");
    payloads.extend(scram.sent);
    alice.send(&format!("NS SET PASSWORD {changed}"));
    alice.read_until(|l| l.ends_with(" :Your password was changed."));
    quit(alice);
    for (i, mechanism) in ["PLAIN", "SCRAM-SHA-256"].into_iter().enumerate() {
        let (alice, exchange) = connect_with_sasl(addr, "alice", |c| match mechanism {
            "PLAIN" => sasl_plain(c, "alice", changed),
            _ => sasl_scram(c, "alice", changed, &format!("secret-scan-nonce-{}", i + 3)),
        });
        assert_logged_in(&exchange, "alice", "alice");
        payloads.extend(exchange.sent);
        quit(alice);
    }

    let mut secrets: Vec<String> = payloads.clone();
    for password in [
        registered,
        bobs,
        wrong_identify,
        wrong_plain,
        wrong_scram,
        changed,
    ] {
        secrets.push(password.to_string());
        secrets.push(B64.encode(password));
    }
    assert_eq!(payloads.len(), 1 + 2 + 1 + 2 + 1 + 2, "{payloads:#?}");

    // While the server runs (state.sqlite3-wal holds the latest writes)…
    let running = data_files(&setup.dir);
    assert_no_secret(&running, &secrets);
    // …and after it has shut down and checkpointed.
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status}");
    let stopped = data_files(&setup.dir);
    assert_no_secret(&stopped, &secrets);
    let stderr = stderr.join("\n");
    for secret in &secrets {
        assert!(!stderr.contains(secret.as_str()), "{secret:?} on stderr");
    }

    // The scan looked where the accounts and the events are: the state
    // database holds both accounts' hashes, the log every login and failure.
    let database = [&running[..], &stopped[..]]
        .concat()
        .into_iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("state.sqlite3"))
        })
        .flat_map(|(_, bytes)| bytes)
        .collect::<Vec<u8>>();
    for stored in ["alice@example.org", "$argon2id$v=19$m=19456,t=2,p=1$"] {
        assert!(
            find(&database, stored.as_bytes()).is_some(),
            "no {stored:?} in the database"
        );
    }
    let log = setup.log_lines();
    for wanted in [
        "[alice] registered the account alice",
        "[bob] registered the account bob",
        "[mallory] failed to log in as alice (NickServ IDENTIFY)",
        "[alice] failed to log in as alice (SASL PLAIN)",
        "[alice] failed to log in as alice (SASL SCRAM-SHA-256)",
        "[alice] logged in as alice (SASL PLAIN)",
        "[alice] logged in as alice (SASL SCRAM-SHA-256)",
    ] {
        assert!(log.iter().any(|l| l == wanted), "no {wanted:?} in {log:#?}");
    }
}
