//! Unit tests of the parent module (kept apart so it reads in one sitting).

use super::messages::history_time;
use super::*;

fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()
}

/// 2023-11-09 12:00:00 UTC, with the date.
fn noon_on_the_9th() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 11, 9, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn sent(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn shown(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Display(line) => Some(line.text().to_string()),
            _ => None,
        })
        .collect()
}

/// RFC 7677's user: `user` with password `pencil` and its client nonce.
fn rfc_login(plain_allowed: bool) -> Login {
    Login {
        account: "user".into(),
        password: "pencil".into(),
        nonce: "rOprNGfwEbeRWgbNEkqO".into(),
        plain_allowed,
    }
}

fn b64(text: &str) -> String {
    B64.encode(text)
}

/// A session that asked for `sasl` (offered as `mechanisms`) and had it acknowledged.
fn sasl_acked(login: Login, mechanisms: &str) -> (Session, Vec<Output>) {
    let mut s = Session::new("user", "#lobby", NickRetry::GiveUp).with_login(login);
    let _ = s.start();
    let ls = format!(":natter CAP * LS :echo-message sasl={mechanisms}");
    let out = s.handle_server_line(&ls, noon());
    assert_eq!(sent(&out), ["CAP REQ :echo-message sasl"]);
    let out = s.handle_server_line(":natter CAP * ACK :echo-message sasl", noon());
    (s, out)
}

#[test]
fn scram_login_follows_rfc_7677_and_registration_ends_after_903() {
    let (mut s, out) = sasl_acked(rfc_login(true), "PLAIN,SCRAM-SHA-256");
    assert_eq!(
        sent(&out),
        ["AUTHENTICATE SCRAM-SHA-256"],
        "SCRAM preferred"
    );
    let out = s.handle_server_line("AUTHENTICATE +", noon());
    assert_eq!(
        sent(&out),
        [format!(
            "AUTHENTICATE {}",
            b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        )]
    );
    let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                        s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let out = s.handle_server_line(&format!("AUTHENTICATE {}", b64(server_first)), noon());
    let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                        p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    assert_eq!(sent(&out), [format!("AUTHENTICATE {}", b64(client_final))]);
    let server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    let out = s.handle_server_line(&format!("AUTHENTICATE {}", b64(server_final)), noon());
    assert_eq!(sent(&out), ["AUTHENTICATE +"]);
    let out = s.handle_server_line(
        ":natter 900 user user!user@host user :You are now logged in as user",
        noon(),
    );
    assert_eq!(shown(&out), ["*** Logged in as user"]);
    assert!(sent(&out).is_empty(), "CAP END waits for 903");
    let out = s.handle_server_line(":natter 903 user :SASL authentication successful", noon());
    assert_eq!(sent(&out), ["CAP END"]);
    assert!(shown(&out).is_empty());
    assert_eq!(s.account(), Some("user"));
}

#[test]
fn plain_is_used_only_where_allowed_when_scram_is_not_offered() {
    let (mut s, out) = sasl_acked(rfc_login(true), "PLAIN,EXTERNAL");
    assert_eq!(sent(&out), ["AUTHENTICATE PLAIN"]);
    let out = s.handle_server_line("AUTHENTICATE +", noon());
    assert_eq!(
        sent(&out),
        [format!("AUTHENTICATE {}", b64("\0user\0pencil"))]
    );

    let (_, out) = sasl_acked(rfc_login(false), "PLAIN");
    assert_eq!(sent(&out), ["CAP END"], "no password sent in the clear");
    let said = shown(&out).join("\n");
    assert!(said.contains("only SASL PLAIN"), "{said}");
    assert!(said.contains("--tls"), "{said}");

    let (_, out) = sasl_acked(rfc_login(true), "EXTERNAL");
    assert_eq!(sent(&out), ["CAP END"]);
    assert!(shown(&out).join("").contains("only EXTERNAL"), "{out:?}");
}

#[test]
fn a_failed_login_says_what_to_do_and_registration_goes_on() {
    let (mut s, _) = sasl_acked(rfc_login(true), "SCRAM-SHA-256");
    let _ = s.handle_server_line("AUTHENTICATE +", noon());
    let out = s.handle_server_line(":natter 904 user :SASL authentication failed", noon());
    assert_eq!(sent(&out), ["CAP END"]);
    assert_eq!(
        shown(&out),
        [
            "*** Login as user failed: SASL authentication failed. Check the account name \
          (--account) and the password (--password-file or NATTER_PASSWORD); carrying on \
          without logging in."
        ]
    );
    assert_eq!(s.account(), None);
    let out = s.handle_server_line(":natter 001 user :Welcome", noon());
    assert_eq!(
        sent(&out),
        ["JOIN #lobby"],
        "no history asked for without an account"
    );
}

#[test]
fn a_server_that_cannot_prove_it_knows_the_password_is_refused() {
    let (mut s, _) = sasl_acked(rfc_login(true), "SCRAM-SHA-256");
    let _ = s.handle_server_line("AUTHENTICATE +", noon());
    let first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                 s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let _ = s.handle_server_line(&format!("AUTHENTICATE {}", b64(first)), noon());
    let forged = format!("v={}", B64.encode([0u8; 32]));
    let out = s.handle_server_line(&format!("AUTHENTICATE {}", b64(&forged)), noon());
    assert_eq!(sent(&out), ["AUTHENTICATE *"]);
    let said = shown(&out).join("");
    assert!(said.contains("could not prove"), "{said}");
    let out = s.handle_server_line(":natter 906 user :SASL authentication aborted", noon());
    assert_eq!(sent(&out), ["CAP END"]);
    assert!(shown(&out).is_empty(), "said once already: {out:?}");
}

#[test]
fn without_a_password_nothing_about_logging_in_happens() {
    let mut s = Session::new("John", "#lobby", NickRetry::GiveUp);
    let _ = s.start();
    let out = s.handle_server_line(":natter CAP * LS :sasl=SCRAM-SHA-256 echo-message", noon());
    assert_eq!(sent(&out), ["CAP REQ echo-message"]);
    assert!(shown(&out).is_empty());
}

/// A session logged in as alice, registered, in #lobby, with history caps.
fn alice_logged_in() -> (Session, Vec<Output>) {
    let login = Login {
        account: "alice".into(),
        password: "secret-password".into(),
        nonce: "n0nce".into(),
        plain_allowed: true,
    };
    let mut s = Session::new("alice", "#lobby", NickRetry::GiveUp).with_login(login);
    let _ = s.start();
    let caps = "account-tag batch draft/chathistory echo-message message-tags sasl server-time";
    let _ = s.handle_server_line(&format!(":n CAP * LS :{caps}"), noon());
    let _ = s.handle_server_line(&format!(":n CAP * ACK :{caps}"), noon());
    let _ = s.handle_server_line(
        ":n 900 alice alice!a@h alice :You are now logged in as alice",
        noon(),
    );
    let _ = s.handle_server_line(":n 903 alice :SASL authentication successful", noon());
    let out = s.handle_server_line(":n 001 alice :Welcome", noon_on_the_9th());
    let _ = s.handle_server_line(":alice!a@h JOIN #lobby", noon());
    (s, out)
}

#[test]
fn on_connect_the_private_messages_of_the_last_day_are_fetched_and_shown_as_history() {
    let (mut s, out) = alice_logged_in();
    assert_eq!(
        sent(&out),
        [
            "JOIN #lobby",
            "CHATHISTORY TARGETS timestamp=2023-11-08T12:00:00.000Z \
             timestamp=2023-11-09T12:10:00.000Z 50"
        ]
    );
    let mut out = Vec::new();
    for line in [
        ":n BATCH +t1 draft/chathistory-targets",
        "@batch=t1 :n CHATHISTORY TARGETS #lobby timestamp=2023-11-09T10:00:00.000Z",
        "@batch=t1 :n CHATHISTORY TARGETS bob timestamp=2023-11-09T11:00:00.000Z",
        "@batch=t1 :n CHATHISTORY TARGETS carol timestamp=2023-11-09T11:30:00.000Z",
        ":n BATCH -t1",
    ] {
        out.extend(s.handle_server_line(line, noon()));
    }
    assert_eq!(
        sent(&out),
        [
            "CHATHISTORY LATEST bob * 20",
            "CHATHISTORY LATEST carol * 20"
        ],
        "rooms are left to the join"
    );
    assert_eq!(
        shown(&out),
        [
            "*** Private messages of the last day, with bob, carol (history follows; \
          /query NICK to reply)"
        ]
    );
    let mut out = Vec::new();
    for line in [
        ":n BATCH +h2 chathistory bob",
        "@batch=h2;time=2023-11-09T10:58:00.000Z;msgid=7 :alice!a@h PRIVMSG bob :lunch?",
        "@batch=h2;time=2023-11-09T11:00:00.000Z;msgid=8 :bob!b@h PRIVMSG alice :yes, at one",
        "@batch=h2;time=2023-11-09T11:01:00.000Z;msgid=9 :bob!b@h PRIVMSG alice :\x01ACTION waves\x01",
        ":n BATCH -h2",
    ] {
        out.extend(s.handle_server_line(line, noon()));
    }
    assert_eq!(
        shown(&out),
        [
            "*** History of your private conversation with bob:",
            "[history 2023-11-09 10:58] -> *bob*: lunch?",
            "[history 2023-11-09 11:00] *bob* -> you: yes, at one",
            "[history 2023-11-09 11:01] *bob* -> you: * bob waves",
            "*** End of 3 history messages with bob",
        ]
    );
}

#[test]
fn history_lines_sent_from_an_earlier_nick_still_read_as_yours() {
    let (mut s, _) = alice_logged_in();
    let mut out = Vec::new();
    for line in [
        ":n BATCH +h chathistory bob",
        "@batch=h;time=2023-11-09T10:58:00.000Z :alice_away!a@h PRIVMSG bob :back soon",
        "@batch=h;time=2023-11-09T10:59:00.000Z :bob!b@h PRIVMSG alice_away :ok",
        ":n BATCH -h",
    ] {
        out.extend(s.handle_server_line(line, noon()));
    }
    assert_eq!(
        shown(&out)[1..3],
        [
            "[history 2023-11-09 10:58] -> *bob*: back soon",
            "[history 2023-11-09 10:59] *bob* -> you: ok",
        ]
    );
}

#[test]
fn no_private_messages_in_the_last_day_is_said_once() {
    let (mut s, _) = alice_logged_in();
    let mut out = s.handle_server_line(":n BATCH +t draft/chathistory-targets", noon());
    out.extend(s.handle_server_line(":n BATCH -t", noon()));
    assert!(sent(&out).is_empty());
    assert_eq!(shown(&out), ["*** No new private messages in the last day"]);
}

#[test]
fn query_opens_a_conversation_with_its_history_and_plain_text_goes_there() {
    let (mut s, _) = alice_logged_in();
    let out = s.handle_input("/query bob", noon());
    assert_eq!(sent(&out), ["CHATHISTORY LATEST bob * 50"]);
    assert_eq!(
        shown(&out),
        ["*** Now talking privately with bob (/part to close)"]
    );
    assert_eq!(s.current_room(), Some("bob"));
    let out = s.handle_input("are you there?", noon());
    assert_eq!(sent(&out), ["PRIVMSG bob :are you there?"]);
    // Echoed back (echo-message): shown as sent by you.
    let out = s.handle_server_line(":alice!a@h PRIVMSG bob :are you there?", noon());
    assert_eq!(shown(&out), ["[12:00:00] -> *bob*: are you there?"]);
    let out = s.handle_input("/query BOB", noon());
    assert!(sent(&out).is_empty(), "already open: no second fetch");
    // A later catch-up leaves an open conversation alone.
    let mut out = s.handle_server_line(":n BATCH +t draft/chathistory-targets", noon());
    out.extend(s.handle_server_line("@batch=t :n CHATHISTORY TARGETS bob timestamp=x", noon()));
    out.extend(s.handle_server_line(":n BATCH -t", noon()));
    assert!(sent(&out).is_empty(), "{out:?}");
    let out = s.handle_input("/part", noon());
    assert!(sent(&out).is_empty(), "no PART for a conversation");
    assert_eq!(
        shown(&out),
        [
            "*** Closed the conversation with bob",
            "*** Now talking in #lobby"
        ]
    );
    let out = s.handle_input("/query bob hello again", noon());
    assert_eq!(
        sent(&out),
        ["CHATHISTORY LATEST bob * 50", "PRIVMSG bob :hello again"]
    );
}

#[test]
fn messages_from_another_session_of_your_account_say_so() {
    let (mut s, _) = alice_logged_in();
    let mine = "@account=alice :alice2!a@h PRIVMSG bob :from my phone";
    assert_eq!(
        shown(&s.handle_server_line(mine, noon())),
        ["[12:00:00] you (from another session) -> *bob*: from my phone"]
    );
    let to_other = "@account=bob :bob!b@h PRIVMSG alice2 :hi phone";
    assert_eq!(
        shown(&s.handle_server_line(to_other, noon())),
        ["[12:00:00] *bob* -> you: hi phone"]
    );
    let anonymous = ":eve!e@h PRIVMSG alice2 :psst";
    assert_eq!(
        shown(&s.handle_server_line(anonymous, noon())),
        ["[12:00:00] *eve* -> you: psst"],
        "with account-tag on, an untagged sender is not logged in"
    );
}

#[test]
fn without_account_tags_a_line_between_two_others_is_from_another_session() {
    let mut s = Session::new("alice", "#lobby", NickRetry::GiveUp);
    let _ = s.handle_server_line(":n 001 alice :Welcome", noon());
    let out = s.handle_server_line(":alice2!a@h PRIVMSG bob :hi", noon());
    assert_eq!(
        shown(&out),
        ["[12:00:00] you (from another session) -> *bob*: hi"]
    );
    let out = s.handle_server_line(":bob!b@h PRIVMSG #lobby :hi all", noon());
    assert_eq!(shown(&out), ["[12:00:00] #lobby [bob]: hi all"]);
}

#[test]
fn history_times_are_shown_in_the_persons_own_time_zone() {
    let at = |hours: i32| FixedOffset::east_opt(hours * 3600).expect("a valid offset");
    let tag = "2023-11-09T12:35:01.000Z";
    assert_eq!(history_time(tag, Utc.fix()), "2023-11-09 12:35");
    assert_eq!(history_time(tag, at(1)), "2023-11-09 13:35");
    assert_eq!(history_time(tag, at(-5)), "2023-11-09 07:35");
    assert_eq!(
        history_time("2023-11-09T23:30:00.000Z", at(2)),
        "2023-11-10 01:30",
        "past midnight the date moves too"
    );
    assert_eq!(history_time("not a time", at(1)), "");
}
