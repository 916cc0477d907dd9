//! Accounts over the core: registering (NickServ and REGISTER), logging in
//! (IDENTIFY, SASL PLAIN and EXTERNAL), account-notify, WHOIS, the login
//! throttle, and the protection of registered nicks.

mod common;

use common::{has, member, registered, scram_client, user, Harness};
use natter::core::{ConnId, Event, ServerConfig};

/// Every line `conn` received since last asked, as text.
fn lines(h: &mut Harness, conn: ConnId) -> Vec<String> {
    h.take(conn)
}

/// `AUTHENTICATE PLAIN` with `account` and `password`, before registration.
fn sasl_plain(h: &mut Harness, conn: ConnId, account: &str, password: &str) {
    use base64::Engine;
    let payload = format!("\0{account}\0{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
    h.send(conn, "AUTHENTICATE PLAIN");
    h.send(conn, &format!("AUTHENTICATE {encoded}"));
    h.answer_password_checks();
}

#[test]
fn registering_with_nickserv_logs_you_in_and_stores_the_account_without_the_password() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    h.send(
        alice,
        "PRIVMSG NickServ :REGISTER correct-horse alice@example.org",
    );
    assert!(
        h.take(alice).is_empty(),
        "nothing until the password is hashed"
    );
    h.answer_password_checks();
    let got = lines(&mut h, alice);
    assert!(
        has(
            &got,
            ":NickServ!NickServ@services NOTICE alice :Nickname alice registered"
        ),
        "{got:?}"
    );
    assert!(
        has(
            &got,
            " 900 alice alice!alice@127.0.0.1 alice :You are now logged in as alice"
        ),
        "{got:?}"
    );
    let [Ok(saved)] = h.saved_accounts.as_slice() else {
        panic!("one account saved: {:?}", h.saved_accounts);
    };
    assert_eq!(saved.name, "alice");
    assert_eq!(saved.email.as_deref(), Some("alice@example.org"));
    assert!(saved.password_hash.starts_with("$argon2id$"));
    let log = h.log_text();
    assert!(
        log.contains("[alice] registered the account alice"),
        "{log}"
    );
    assert!(!log.contains("correct-horse"), "{log}");
    // What was said to NickServ went nowhere else.
    assert!(h
        .persisted
        .iter()
        .all(|r| !r.text.contains("correct-horse")));
}

#[test]
fn the_register_command_answers_in_standard_replies() {
    let mut h = Harness::new();
    let alice = h.connect(1, "127.0.0.1:5000");
    h.send(alice, "CAP LS 302");
    let ls = lines(&mut h, alice).join("\n");
    assert!(
        ls.contains("draft/account-registration=before-connect"),
        "{ls}"
    );
    assert!(ls.contains("sasl=PLAIN"), "{ls}");
    h.send(alice, "NICK alice");
    h.send(alice, "REGISTER * * short");
    assert!(has(
        &lines(&mut h, alice),
        "FAIL REGISTER WEAK_PASSWORD alice :"
    ));
    h.send(alice, "REGISTER bob * long-enough-password");
    assert!(has(
        &lines(&mut h, alice),
        "FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK bob :"
    ));
    h.send(alice, "REGISTER * not-an-email long-enough-password");
    assert!(has(
        &lines(&mut h, alice),
        "FAIL REGISTER INVALID_EMAIL alice :"
    ));
    // Before registration completes, as before-connect promises.
    h.send(alice, "REGISTER * * long-enough-password");
    h.answer_password_checks();
    let got = lines(&mut h, alice);
    assert!(has(&got, "REGISTER SUCCESS alice :"), "{got:?}");
    assert!(has(&got, " 900 alice "), "{got:?}");
    h.send(alice, "USER alice 0 * :Alice");
    h.send(alice, "CAP END");
    assert!(has(&lines(&mut h, alice), " 001 alice "));
    // Taken now.
    let other = user(&mut h, 2, "alice_");
    h.send(other, "NICK Alice");
    let got = lines(&mut h, other);
    assert!(has(&got, " 433 "), "the nick is in use: {got:?}");
    h.send(other, "REGISTER alice * another-long-password");
    assert!(has(
        &lines(&mut h, other),
        "FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK"
    ));
    h.send(other, "VERIFY alice 12345");
    assert!(has(
        &lines(&mut h, other),
        "FAIL VERIFY INVALID_CODE alice :This server does not verify accounts by e-mail"
    ));
}

#[test]
fn identify_logs_in_with_the_right_password_only_and_peers_with_account_notify_hear_it() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    let bob = member(&mut h, 2, "bob", "#lobby");
    h.send(bob, "CAP REQ account-notify");
    let carol = member(&mut h, 3, "carol", "#lobby");
    h.take(bob);
    let alice = member(&mut h, 4, "alice", "#lobby");
    h.take(bob);
    h.take(carol);
    h.send(alice, "PRIVMSG NickServ :IDENTIFY wrong-password");
    h.answer_password_checks();
    let got = lines(&mut h, alice);
    assert!(
        has(&got, "NOTICE alice :Invalid password for alice"),
        "{got:?}"
    );
    assert!(h.take(bob).is_empty());
    h.send(alice, "NS IDENTIFY alice correct-horse");
    h.answer_password_checks();
    let got = lines(&mut h, alice);
    assert!(has(&got, "You are now identified for alice"), "{got:?}");
    assert!(has(&got, " 900 alice "), "{got:?}");
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 ACCOUNT alice"]);
    assert!(
        h.take(carol).is_empty(),
        "carol did not ask for account-notify"
    );
    h.send(bob, "WHOIS alice");
    let got = lines(&mut h, bob);
    assert!(
        has(&got, " 330 bob alice alice :is logged in as"),
        "{got:?}"
    );
    h.send(alice, "NS LOGOUT");
    assert!(has(&lines(&mut h, alice), " 901 alice "));
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 ACCOUNT *"]);
    let log = h.log_text();
    assert!(
        log.contains("[alice] failed to log in as alice (NickServ IDENTIFY)"),
        "{log}"
    );
    assert!(
        log.contains("[alice] logged in as alice (NickServ IDENTIFY)"),
        "{log}"
    );
    assert!(!log.contains("wrong-password") && !log.contains("correct-horse"));
}

#[test]
fn sasl_plain_logs_in_before_registration_with_903_and_fails_with_904() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    let c = h.connect(2, "127.0.0.1:5001");
    h.send(c, "CAP REQ sasl");
    h.send(c, "NICK alice");
    h.send(c, "USER alice 0 * :Alice");
    sasl_plain(&mut h, c, "alice", "nope-nope-nope");
    let got = lines(&mut h, c);
    assert!(has(&got, "AUTHENTICATE +"), "{got:?}");
    assert!(
        has(&got, " 904 alice :SASL authentication failed"),
        "{got:?}"
    );
    sasl_plain(&mut h, c, "alice", "correct-horse");
    let got = lines(&mut h, c);
    assert!(
        has(&got, " 900 alice alice!alice@127.0.0.1 alice :"),
        "{got:?}"
    );
    assert!(
        has(&got, " 903 alice :SASL authentication successful"),
        "{got:?}"
    );
    h.send(c, "AUTHENTICATE PLAIN");
    assert!(has(&lines(&mut h, c), " 907 alice :"));
    h.send(c, "CAP END");
    let got = lines(&mut h, c);
    assert!(has(&got, " 001 alice "), "{got:?}");
    assert!(
        !has(&got, "This nickname is registered"),
        "logged in: no warning"
    );
}

#[test]
fn sasl_refuses_unknown_mechanisms_aborts_and_overlong_chunks_exactly() {
    let mut h = Harness::with_config(ServerConfig::default());
    let c = h.connect(1, "192.0.2.7:5000");
    h.send(c, "CAP LS 302");
    let ls = lines(&mut h, c).join("\n");
    assert!(
        ls.contains(" sasl=SCRAM-SHA-256 ") && !ls.contains("PLAIN"),
        "no PLAIN over plaintext from afar: {ls}"
    );
    h.send(c, "AUTHENTICATE PLAIN");
    let got = lines(&mut h, c);
    assert!(has(&got, " 908 * "), "{got:?}");
    assert!(has(&got, " 904 * :SASL authentication failed"), "{got:?}");
    let mut h = Harness::new();
    let c = h.connect(1, "127.0.0.1:5000");
    h.send(c, "AUTHENTICATE PLAIN");
    h.send(c, "AUTHENTICATE *");
    assert!(has(
        &lines(&mut h, c),
        " 906 * :SASL authentication aborted"
    ));
    h.send(c, "AUTHENTICATE PLAIN");
    h.send(c, &format!("AUTHENTICATE {}", "A".repeat(401)));
    assert!(has(&lines(&mut h, c), " 905 * :SASL message too long"));
    h.send(c, "AUTHENTICATE PLAIN");
    h.send(c, "AUTHENTICATE !!!notbase64");
    assert!(has(&lines(&mut h, c), " 904 * "));
}

#[test]
fn sasl_external_logs_in_with_a_certificate_the_account_added() {
    let mut h = Harness::new();
    let alice = h.connect(1, "192.0.2.1:5000");
    h.event(Event::Secured {
        conn: alice,
        certfp: Some("AB:CD:EF".into()),
    });
    h.send(alice, "NICK alice");
    h.send(alice, "USER alice 0 * :Alice");
    h.send(alice, "PRIVMSG NickServ :REGISTER correct-horse");
    h.answer_password_checks();
    h.send(alice, "NS CERT ADD");
    assert!(has(&lines(&mut h, alice), "Added certificate abcdef"));
    let Some(Ok(saved)) = h.saved_accounts.last() else {
        panic!("the certificate is stored");
    };
    assert_eq!(saved.certfps, ["abcdef"]);
    h.send(alice, "QUIT");
    let again = h.connect(2, "192.0.2.1:5001");
    h.event(Event::Secured {
        conn: again,
        certfp: Some("abcdef".into()),
    });
    h.send(again, "CAP LS 302");
    assert!(has(&lines(&mut h, again), "sasl=PLAIN,EXTERNAL"));
    h.send(again, "AUTHENTICATE EXTERNAL");
    h.send(again, "AUTHENTICATE +");
    let got = lines(&mut h, again);
    assert!(has(&got, " 900 * "), "{got:?}");
    assert!(has(&got, " 903 * "), "{got:?}");
    // Another certificate logs in to nothing.
    let stranger = h.connect(3, "192.0.2.2:5000");
    h.event(Event::Secured {
        conn: stranger,
        certfp: Some("0123".into()),
    });
    h.send(stranger, "AUTHENTICATE EXTERNAL");
    h.send(stranger, "AUTHENTICATE +");
    assert!(has(&lines(&mut h, stranger), " 904 * "));
}

#[test]
fn repeated_failed_logins_are_refused_for_a_while_then_allowed_again() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    let mallory = user(&mut h, 2, "mallory");
    for _ in 0..4 {
        h.send(mallory, "NS IDENTIFY alice guess-guess");
        h.answer_password_checks();
    }
    h.take(mallory);
    h.send(mallory, "NS IDENTIFY alice correct-horse");
    assert!(h.password_checks.is_empty(), "not even checked");
    let got = lines(&mut h, mallory);
    assert!(
        has(
            &got,
            "Too many failed logins for this account or from your address: try again in 2 seconds"
        ),
        "{got:?}"
    );
    h.advance_secs(2);
    h.send(mallory, "NS IDENTIFY alice correct-horse");
    h.answer_password_checks();
    assert!(has(
        &lines(&mut h, mallory),
        "You are now identified for alice"
    ));
}

#[test]
fn a_registered_nick_held_without_logging_in_is_renamed_after_the_grace_period() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    let bob = member(&mut h, 2, "bob", "#lobby");
    let imposter = member(&mut h, 3, "alice", "#lobby");
    h.take(bob);
    let got = lines(&mut h, imposter);
    assert!(
        got.is_empty(),
        "the warning came with registration: {got:?}"
    );
    h.advance_secs(29);
    assert!(h.take(imposter).is_empty());
    h.advance_secs(1);
    let got = lines(&mut h, imposter);
    assert!(has(&got, "Your nick was changed to Guest1"), "{got:?}");
    assert!(has(&got, ":alice!alice@127.0.0.1 NICK Guest1"), "{got:?}");
    assert_eq!(h.take(bob), [":alice!alice@127.0.0.1 NICK Guest1"]);
    assert_eq!(h.server.nick_of(imposter), Some("Guest1"));
}

#[test]
fn logging_in_within_the_grace_period_keeps_the_nick() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    let c = h.register(2, "alice", 5000);
    let got = lines(&mut h, c);
    assert!(has(&got, "This nickname is registered. Identify with /msg NickServ IDENTIFY <password> (or log in with SASL) within 30 seconds"), "{got:?}");
    h.advance_secs(10);
    h.send(c, "NS IDENTIFY correct-horse");
    h.answer_password_checks();
    h.advance_secs(60);
    assert_eq!(h.server.nick_of(c), Some("alice"));
    // Taking a registered nick later starts the clock again.
    h.send(c, "NS LOGOUT");
    h.take(c);
    h.advance_secs(30);
    assert_eq!(h.server.nick_of(c), Some("Guest1"));
}

#[test]
fn the_owner_reclaims_a_nick_with_regain_or_disconnects_it_with_ghost() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "NICK alice_away");
    let imposter = user(&mut h, 2, "alice");
    h.take(alice);
    h.send(alice, "NS REGAIN alice");
    let got = lines(&mut h, alice);
    assert!(
        has(&got, ":alice_away!alice@127.0.0.1 NICK alice"),
        "{got:?}"
    );
    assert!(has(&got, "You have regained alice"), "{got:?}");
    assert_eq!(h.server.nick_of(imposter), Some("Guest1"));
    // A second connection of hers holds the nick: GHOST closes it.
    h.send(alice, "NICK alice_phone");
    let old = user(&mut h, 3, "alice");
    h.send(alice, "NS GHOST alice");
    assert!(h
        .closed
        .iter()
        .any(|(c, r)| *c == old && r == "GHOST command used by alice_phone"));
    // Not hers: refused.
    h.send(imposter, "NS GHOST alice_phone");
    assert!(has(&lines(&mut h, imposter), "You must log in first"));
}

#[test]
fn dropping_an_account_needs_its_name_and_logs_every_session_out() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "NS DROP");
    assert!(has(&lines(&mut h, alice), "confirm with: DROP alice"));
    h.send(alice, "NS DROP alice");
    let got = lines(&mut h, alice);
    assert!(has(&got, " 901 alice "), "{got:?}");
    assert!(has(&got, "The account alice has been deleted"), "{got:?}");
    assert_eq!(h.saved_accounts.last(), Some(&Err("alice".to_string())));
    h.send(alice, "NS INFO alice");
    assert!(has(&lines(&mut h, alice), "alice is not registered"));
}

#[test]
fn nobody_can_take_a_service_nick() {
    let mut h = Harness::new();
    let c = user(&mut h, 1, "alice");
    h.send(c, "NICK NickServ");
    assert!(has(
        &lines(&mut h, c),
        " 432 alice NickServ :Erroneous nickname (reserved for a service)"
    ));
}

/// The decoded payload of the last `AUTHENTICATE` line in `got`.
fn challenge(got: &[String]) -> String {
    use base64::Engine;
    let line = got
        .iter()
        .rev()
        .find(|l| l.contains("AUTHENTICATE "))
        .expect("a challenge");
    let b64 = line.rsplit(' ').next().expect("payload");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn sasl_scram_sha_256_logs_in_without_the_password_crossing_the_wire() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    let c = h.connect(2, "192.0.2.9:5000");
    h.send(c, "CAP LS 302");
    assert!(has(&lines(&mut h, c), "sasl=SCRAM-SHA-256"));
    h.send(c, "AUTHENTICATE SCRAM-SHA-256");
    h.send(
        c,
        &format!("AUTHENTICATE {}", b64("n,,n=alice,r=clientnonce123")),
    );
    let server_first = challenge(&lines(&mut h, c));
    assert!(
        server_first.starts_with("r=clientnonce123"),
        "{server_first}"
    );
    let (client_final, server_final) =
        scram_client::finish("alice", "correct-horse", "clientnonce123", &server_first);
    h.send(c, &format!("AUTHENTICATE {}", b64(&client_final)));
    assert_eq!(
        challenge(&lines(&mut h, c)),
        server_final,
        "the server proves it knows the keys"
    );
    h.send(c, "AUTHENTICATE +");
    let got = lines(&mut h, c);
    assert!(has(&got, " 900 * "), "{got:?}");
    assert!(
        has(&got, " 903 * :SASL authentication successful"),
        "{got:?}"
    );
    assert!(
        h.password_checks.is_empty(),
        "SCRAM needs no password check by the shell"
    );
}

#[test]
fn sasl_scram_with_a_wrong_password_or_no_such_account_fails_alike() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "QUIT");
    for (user, password) in [("alice", "wrong-horse"), ("nobody", "correct-horse")] {
        let c = h.connect(2, "192.0.2.9:5000");
        h.send(c, "AUTHENTICATE SCRAM-SHA-256");
        h.send(
            c,
            &format!("AUTHENTICATE {}", b64(&format!("n,,n={user},r=abc"))),
        );
        let server_first = challenge(&lines(&mut h, c));
        assert!(
            server_first.contains(",s=") && server_first.contains(",i="),
            "{server_first}"
        );
        let (client_final, _) = scram_client::finish(user, password, "abc", &server_first);
        h.send(c, &format!("AUTHENTICATE {}", b64(&client_final)));
        let got = lines(&mut h, c);
        assert!(
            has(&got, " 904 * :SASL authentication failed"),
            "{user}: {got:?}"
        );
        h.send(c, "QUIT");
    }
    assert!(h
        .log_text()
        .contains("failed to log in as an unknown account (SASL SCRAM-SHA-256)"));
}

/// Logs `nick` in (it registered earlier with the test password).
fn identify(h: &mut Harness, conn: ConnId) {
    h.send(conn, "NS IDENTIFY correct-horse");
    h.answer_password_checks();
    h.take(conn);
}

#[test]
fn private_history_is_replayed_to_its_owner_and_to_nobody_else() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    h.send(alice, "PRIVMSG bob :hello bob");
    h.send(bob, "PRIVMSG alice :hi alice");
    h.take(alice);
    h.take(bob);
    h.send(alice, "QUIT");
    h.send(bob, "QUIT");
    // alice comes back on another connection and logs in.
    let again = user(&mut h, 3, "alice");
    h.send(again, "CAP REQ batch");
    h.take(again);
    h.send(again, "CHATHISTORY LATEST bob * 10");
    let got = lines(&mut h, again);
    assert!(
        got.iter().all(|l| !l.contains("hello bob")),
        "not logged in yet: {got:?}"
    );
    identify(&mut h, again);
    h.send(again, "CHATHISTORY LATEST bob * 10");
    let got = lines(&mut h, again);
    let texts: Vec<&String> = got.iter().filter(|l| l.contains(" PRIVMSG ")).collect();
    assert_eq!(texts.len(), 2, "{got:?}");
    assert!(
        texts[0].ends_with(":alice!alice@127.0.0.1 PRIVMSG bob :hello bob"),
        "{got:?}"
    );
    assert!(
        texts[1].ends_with(":bob!bob@127.0.0.1 PRIVMSG alice :hi alice"),
        "{got:?}"
    );
    h.send(again, "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10");
    let got = lines(&mut h, again);
    assert!(has(&got, "CHATHISTORY TARGETS bob timestamp="), "{got:?}");
    // carol, logged in to her own account, never sees alice's conversation.
    let carol = registered(&mut h, 4, "carol");
    h.send(carol, "CHATHISTORY LATEST bob * 10");
    h.send(carol, "CHATHISTORY LATEST alice * 10");
    let got = lines(&mut h, carol);
    assert!(
        got.iter()
            .all(|l| !l.contains("hello bob") && !l.contains("hi alice")),
        "{got:?}"
    );
    // The records carry both accounts, for the store.
    let stored = h
        .persisted
        .iter()
        .find(|r| &*r.text == "hello bob")
        .expect("stored");
    assert_eq!(stored.from_account.as_deref(), Some("alice"));
    assert_eq!(stored.to_account.as_deref(), Some("bob"));
}

#[test]
fn every_session_of_an_account_sees_the_same_private_conversation() {
    let mut h = Harness::new();
    let laptop = registered(&mut h, 1, "alice");
    let phone = user(&mut h, 2, "alice_phone");
    h.send(phone, "NS IDENTIFY alice correct-horse");
    h.answer_password_checks();
    h.take(phone);
    let bob = user(&mut h, 3, "bob");
    h.send(bob, "PRIVMSG alice :are you there?");
    assert_eq!(
        h.take(laptop),
        [":bob!bob@127.0.0.1 PRIVMSG alice :are you there?"]
    );
    assert_eq!(
        h.take(phone),
        [":bob!bob@127.0.0.1 PRIVMSG alice :are you there?"]
    );
    h.send(phone, "PRIVMSG bob :yes, on my phone");
    assert_eq!(
        h.take(bob),
        [":alice_phone!alice_phone@127.0.0.1 PRIVMSG bob :yes, on my phone"]
    );
    assert_eq!(
        h.take(laptop),
        [":alice_phone!alice_phone@127.0.0.1 PRIVMSG bob :yes, on my phone"]
    );
    assert!(h.take(phone).is_empty(), "no echo without echo-message");
}

#[test]
fn messages_from_a_logged_in_sender_carry_its_account_to_account_tag_clients() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "JOIN #lobby");
    let bob = member(&mut h, 2, "bob", "#lobby");
    h.send(bob, "CAP REQ account-tag");
    let carol = member(&mut h, 3, "carol", "#lobby");
    h.take(alice);
    h.take(bob);
    h.send(alice, "PRIVMSG #lobby :tagged message");
    assert_eq!(
        h.take(bob),
        ["@account=alice :alice!alice@127.0.0.1 PRIVMSG #lobby :tagged message"]
    );
    assert_eq!(
        h.take(carol),
        [":alice!alice@127.0.0.1 PRIVMSG #lobby :tagged message"]
    );
    h.send(carol, "PRIVMSG #lobby :no account");
    assert_eq!(
        h.take(bob),
        [":carol!carol@127.0.0.1 PRIVMSG #lobby :no account"]
    );
}

#[test]
fn a_password_typed_where_the_account_name_belongs_never_reaches_the_log() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    h.send(alice, "NS LOGOUT");
    h.send(alice, "NS IDENTIFY correct-horse-typo correct-horse-typo");
    h.answer_password_checks();
    let log = h.log_text();
    assert!(
        log.contains("[alice] failed to log in as an unknown account (NickServ IDENTIFY)"),
        "{log}"
    );
    assert!(!log.contains("correct-horse-typo"), "{log}");
}

#[test]
fn read_markers_belong_to_the_account_so_every_session_shares_them() {
    let mut h = Harness::new();
    let laptop = registered(&mut h, 1, "alice");
    h.send(laptop, "CAP REQ draft/read-marker");
    h.send(laptop, "JOIN #lobby");
    h.send(laptop, "MARKREAD #lobby timestamp=2023-11-09T12:30:00.000Z");
    h.take(laptop);
    let phone = user(&mut h, 2, "alice_phone");
    h.send(phone, "CAP REQ draft/read-marker");
    h.send(phone, "NS IDENTIFY alice correct-horse");
    h.answer_password_checks();
    h.take(phone);
    h.send(phone, "MARKREAD #lobby");
    assert!(has(
        &lines(&mut h, phone),
        "MARKREAD #lobby timestamp=2023-11-09T12:30:00.000Z"
    ));
    // Someone else on the same host, not logged in, has none.
    let other = user(&mut h, 3, "mallory");
    h.send(other, "CAP REQ draft/read-marker");
    h.send(other, "MARKREAD #lobby");
    assert!(has(&lines(&mut h, other), "MARKREAD #lobby *"));
}

#[test]
fn a_late_password_answer_does_not_log_a_connection_in_a_second_time() {
    let mut h = Harness::new();
    let alice = registered(&mut h, 1, "alice");
    let bob = registered(&mut h, 2, "bob");
    h.send(alice, "QUIT");
    h.send(bob, "QUIT");
    let c = user(&mut h, 3, "carol");
    // IDENTIFY to bob is being checked while SCRAM logs in to alice.
    h.send(c, "NS IDENTIFY bob correct-horse");
    h.send(c, "AUTHENTICATE SCRAM-SHA-256");
    h.send(c, &format!("AUTHENTICATE {}", b64("n,,n=alice,r=abc")));
    let server_first = challenge(&lines(&mut h, c));
    let (client_final, _) = scram_client::finish("alice", "correct-horse", "abc", &server_first);
    h.send(c, &format!("AUTHENTICATE {}", b64(&client_final)));
    h.send(c, "AUTHENTICATE +");
    assert!(has(&lines(&mut h, c), " 900 carol "));
    h.answer_password_checks();
    let got = lines(&mut h, c);
    assert!(!has(&got, " 900 "), "{got:?}");
    assert!(has(&got, "You are already logged in as alice"), "{got:?}");
    h.send(c, "WHOIS carol");
    assert!(has(&lines(&mut h, c), " 330 carol carol alice "));
}
