//! Server-wide bans (KLINE, UNKLINE, STATS k), operators by account
//! (`--oper-account`) and flood-exempt accounts (`--flood-exempt-account`),
//! as scenarios over the core.
mod common;
use common::{commands, take, user, Harness};
use natter::core::{ConnId, Event, LiveSettings, ServerBan, ServerConfig, Timestamp};
use natter::proto::Message;

/// A server with one operator, `root`, whose password is `letmein` (a
/// cheap test hash).
fn config_with_oper() -> ServerConfig {
    let hash = natter::net::password::hash_password_cheaply("letmein").expect("hashes");
    let mut config = ServerConfig::default();
    config.opers.insert("root".into(), hash);
    config
}

/// An operator, `Root`, registered from 127.0.0.1, replies thrown away.
fn oper(h: &mut Harness, id: u64) -> ConnId {
    let conn = user(h, id, "Root");
    h.send(conn, "OPER root letmein");
    h.answer_password_checks();
    h.take(conn);
    conn
}

/// Connects from `ip` and sends NICK and USER (`user` lower-cased nick).
fn arrive(h: &mut Harness, id: u64, nick: &str, ip: &str) -> ConnId {
    let conn = h.connect(id, &format!("{ip}:40000"));
    h.send(conn, &format!("NICK {nick}"));
    h.send(conn, &format!("USER {} 0 * :{nick}", nick.to_lowercase()));
    conn
}

/// Arrives and joins #lobby, replies thrown away.
fn in_lobby(h: &mut Harness, id: u64, nick: &str, ip: &str) -> ConnId {
    let conn = arrive(h, id, nick, ip);
    h.send(conn, "JOIN #lobby");
    h.take(conn);
    conn
}

fn was_closed(h: &Harness, conn: ConnId) -> bool {
    h.closed.iter().any(|(c, _)| *c == conn)
}

/// Whether `conn` was welcomed (001).
fn welcomed(msgs: &[Message]) -> bool {
    commands(msgs).contains(&"001")
}

/// A new connection from `ip` as `nick`: whether it was let in.
fn admitted(h: &mut Harness, id: u64, nick: &str, ip: &str) -> bool {
    let conn = arrive(h, id, nick, ip);
    let got = take(h, conn);
    welcomed(&got) && !was_closed(h, conn)
}

#[test]
fn a_kline_disconnects_matching_users_at_once_and_their_rooms_see_them_quit() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    let eve = in_lobby(&mut h, 2, "Eve", "192.0.2.7");
    let bob = in_lobby(&mut h, 3, "Bob", "198.51.100.9");
    h.take(eve);
    h.take(bob);
    h.send(root, "KLINE *@192.0.2.0/24 :spamming the lobby");
    let got = take(&mut h, eve);
    assert_eq!(commands(&got), ["465", "ERROR"], "{got:?}");
    assert_eq!(
        got[1].param(0),
        "Closing Link: 192.0.2.7 (K-Lined: spamming the lobby)"
    );
    assert!(was_closed(&h, eve));
    let seen = h.take(bob);
    assert_eq!(
        seen,
        [":Eve!eve@192.0.2.7 QUIT :K-Lined: spamming the lobby"],
        "Bob sees Eve quit once"
    );
    assert!(!was_closed(&h, bob), "Bob does not match");
    let notices = h.take(root).join("\n");
    assert!(
        notices.contains("Added K-Line [*!*@192.0.2.0/24]"),
        "{notices}"
    );
    assert!(notices.contains("Eve was disconnected"), "{notices}");
    match h.saved_bans.as_slice() {
        [Ok(ban)] => {
            assert_eq!(ban.mask, "*!*@192.0.2.0/24");
            assert_eq!(ban.reason, "spamming the lobby");
            assert_eq!(ban.set_by, "Root");
            assert_eq!(ban.expires_at, None);
        }
        other => panic!("one ban saved, got {other:?}"),
    }
    let log = h.log_text();
    assert!(
        log.contains("[Root] set a server ban on *!*@192.0.2.0/24 permanently: spamming the lobby"),
        "{log}"
    );
    assert!(log.contains("Client Eve disconnected"), "{log}");
}

#[test]
fn a_matching_new_connection_is_refused_at_registration_with_465() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    h.send(root, "KLINE Eve!*@* :go away");
    let eve = arrive(&mut h, 2, "Eve", "203.0.113.5");
    let got = take(&mut h, eve);
    assert_eq!(commands(&got), ["465", "ERROR"], "{got:?}");
    assert_eq!(got[0].param(1), "You are banned from this server: go away");
    assert_eq!(
        got[1].param(0),
        "Closing Link: 203.0.113.5 (K-Lined: go away)"
    );
    assert!(was_closed(&h, eve));
    assert!(h
        .log_text()
        .contains("Connection from 203.0.113.5:40000 as Eve refused: banned by eve!*@* (go away)"));
    assert!(
        admitted(&mut h, 3, "Steve", "203.0.113.5"),
        "another nick from the same address is not banned"
    );
}

#[test]
fn kline_unkline_and_stats_k_need_operator_privileges() {
    let mut h = Harness::with_config(config_with_oper());
    let alice = user(&mut h, 1, "alice");
    for line in ["KLINE eve@* :x", "UNKLINE eve@*", "STATS k"] {
        h.send(alice, line);
        let got = take(&mut h, alice);
        assert_eq!(commands(&got), ["481"], "{line}: {got:?}");
    }
    assert!(h.saved_bans.is_empty());
    h.send(alice, "STATS u");
    assert_eq!(commands(&take(&mut h, alice)), ["219"]);
}

#[test]
fn a_timed_kline_keeps_people_out_until_it_expires() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    h.send(root, "KLINE 1 *@192.0.2.7 :cool off");
    match h.saved_bans.as_slice() {
        [Ok(ban)] => assert_eq!(ban.expires_at, Some(h.now.wall.plus_secs(60))),
        other => panic!("one ban saved, got {other:?}"),
    }
    h.advance_secs(30);
    assert!(!admitted(&mut h, 2, "Eve", "192.0.2.7"));
    h.advance_secs(31);
    assert!(admitted(&mut h, 3, "Eve", "192.0.2.7"));
    assert_eq!(
        h.saved_bans.last(),
        Some(&Err("*!*@192.0.2.7".to_string())),
        "the store forgets it too"
    );
    assert!(h.log_text().contains("Server ban on *!*@192.0.2.7 expired"));
}

#[test]
fn durations_take_units_as_inspircd_and_minutes_as_solanum() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    h.send(root, "KLINE 2h eve@* :x");
    h.send(root, "KLINE 0 mallory@* :forever");
    h.send(root, "KLINE 1d12h trudy@*");
    let expiries: Vec<Option<u64>> = h
        .saved_bans
        .iter()
        .map(|b| {
            let ban = b.as_ref().expect("saved");
            ban.expires_at.map(|at| (at.0 - h.now.wall.0) / 1000)
        })
        .collect();
    assert_eq!(expiries, [Some(7200), None, Some(129_600)]);
    let reasons: Vec<&str> = h
        .saved_bans
        .iter()
        .filter_map(|b| b.as_ref().ok())
        .map(|b| b.reason.as_str())
        .collect();
    assert_eq!(reasons, ["x", "forever", "No reason given"]);
}

#[test]
fn unkline_lifts_the_ban_and_says_so_when_there_is_none() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    h.send(root, "KLINE eve@192.0.2.7 :x");
    assert!(!admitted(&mut h, 2, "Eve", "192.0.2.7"));
    h.take(root);
    // As typed, or in its full form: the same ban.
    h.send(root, "UNKLINE *!EVE@192.0.2.7");
    let notice = h.take(root).join("\n");
    assert!(
        notice.contains("Removed K-Line for [*!eve@192.0.2.7]"),
        "{notice}"
    );
    assert_eq!(
        h.saved_bans.last(),
        Some(&Err("*!eve@192.0.2.7".to_string()))
    );
    assert!(admitted(&mut h, 3, "Eve", "192.0.2.7"));
    h.send(root, "UNKLINE eve@192.0.2.7");
    let notice = h.take(root).join("\n");
    assert!(notice.contains("No K-Line for *!eve@192.0.2.7"), "{notice}");
    assert!(h
        .log_text()
        .contains("[Root] removed the server ban on *!eve@192.0.2.7"));
}

#[test]
fn stats_k_lists_every_ban_permanent_and_temporary_then_219() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    h.send(root, "KLINE eve@*.example.org :spam");
    h.send(root, "KLINE 10 Mallory!*@* :flooding");
    h.take(root);
    h.send(root, "STATS k");
    let got = take(&mut h, root);
    assert_eq!(commands(&got), ["216", "216", "219"], "{got:?}");
    let rows: Vec<Vec<&str>> = got[..2]
        .iter()
        .map(|m| m.params[1..].iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["K", "*.example.org", "*", "eve", "spam (set by Root)"],
            vec![
                "k",
                "*",
                "*",
                "mallory!*",
                "flooding (set by Root, expires in 10 min.)"
            ],
        ]
    );
    assert_eq!(got[2].param(1), "k");
}

#[test]
fn a_kline_on_everyone_or_on_the_operator_is_refused() {
    let mut h = Harness::with_config(config_with_oper());
    let root = oper(&mut h, 1);
    let bob = user(&mut h, 2, "bob");
    for mask in ["*@*", "*", "*!*@*", "*@127.0.0.1", "root"] {
        h.send(root, &format!("KLINE {mask} :oops"));
    }
    assert!(h.saved_bans.is_empty(), "{:?}", h.saved_bans);
    assert!(
        h.closed.is_empty(),
        "nobody was disconnected: {:?}",
        h.closed
    );
    let notices = h.take(root).join("\n");
    assert!(notices.contains("would ban everyone"), "{notices}");
    assert!(notices.contains("it matches you"), "{notices}");
    h.take(bob);
}

#[test]
fn bans_restored_from_the_store_keep_people_out_and_expired_ones_are_dropped() {
    let mut h = Harness::with_config(config_with_oper());
    let ban = |mask: &str, expires_at: Option<Timestamp>| ServerBan {
        mask: mask.into(),
        reason: "old news".into(),
        set_by: "Root".into(),
        set_at: Timestamp(0),
        expires_at,
    };
    h.event(Event::ServerBansRestored {
        bans: vec![
            ban("*!*@192.0.2.7", None),
            ban("*!*@198.51.100.9", Some(Timestamp(1_000))),
        ],
    });
    assert!(!admitted(&mut h, 1, "Eve", "192.0.2.7"));
    assert!(admitted(&mut h, 2, "Bob", "198.51.100.9"));
    assert_eq!(h.saved_bans, [Err("*!*@198.51.100.9".to_string())]);
}

#[test]
fn the_ban_list_is_bounded() {
    let mut h = Harness::with_config(config_with_oper());
    let bans: Vec<ServerBan> = (0..natter::core::MAX_SERVER_BANS)
        .map(|i| ServerBan {
            mask: format!("*!u{i}@*"),
            reason: "r".into(),
            set_by: "Root".into(),
            set_at: Timestamp(0),
            expires_at: None,
        })
        .collect();
    h.event(Event::ServerBansRestored { bans });
    let root = oper(&mut h, 1);
    h.send(root, "KLINE one@more :x");
    let notice = h.take(root).join("\n");
    assert!(
        notice.contains("The server ban list is full (10000 bans)"),
        "{notice}"
    );
    assert!(h.saved_bans.is_empty());
}

// ----- operators by account ------------------------------------------------

fn config_with_accounts(opers: &[&str], exempt: &[&str]) -> ServerConfig {
    let mut config = config_with_oper();
    config.oper_accounts = opers.iter().map(|a| a.to_lowercase()).collect();
    config.flood_exempt_accounts = exempt.iter().map(|a| a.to_lowercase()).collect();
    config
}

/// Registers `nick` and registers the account of the same name with
/// NickServ (which logs in); returns what the connection got for it.
fn with_account(h: &mut Harness, id: u64, nick: &str) -> (ConnId, Vec<Message>) {
    let conn = user(h, id, nick);
    h.send(conn, "PRIVMSG NickServ :REGISTER correct-horse");
    h.answer_password_checks();
    let got = take(h, conn);
    (conn, got)
}

#[test]
fn logging_in_to_an_operator_account_makes_an_operator_and_logging_out_unmakes_one() {
    let mut h = Harness::with_config(config_with_accounts(&["Alice"], &[]));
    let (alice, got) = with_account(&mut h, 1, "alice");
    let mode = got.iter().find(|m| m.command == "MODE").expect("MODE +o");
    assert_eq!((mode.param(0), mode.param(1)), ("alice", "+o"));
    assert!(commands(&got).contains(&"381"), "{got:?}");
    h.send(alice, "STATS k");
    assert_eq!(commands(&take(&mut h, alice)), ["219"], "an operator now");
    h.send(alice, "NS LOGOUT");
    let got = take(&mut h, alice);
    let mode = got.iter().find(|m| m.command == "MODE").expect("MODE -o");
    assert_eq!((mode.param(0), mode.param(1)), ("alice", "-o"));
    h.send(alice, "KLINE eve@* :x");
    assert_eq!(commands(&take(&mut h, alice)), ["481"]);
    // Identifying again (any way in) makes her one again.
    h.send(alice, "NS IDENTIFY correct-horse");
    h.answer_password_checks();
    assert!(commands(&take(&mut h, alice)).contains(&"381"));
}

#[test]
fn other_accounts_are_not_operators() {
    let mut h = Harness::with_config(config_with_accounts(&["alice"], &[]));
    let (bob, got) = with_account(&mut h, 1, "bob");
    assert!(!commands(&got).contains(&"381"), "{got:?}");
    h.send(bob, "STATS k");
    assert_eq!(commands(&take(&mut h, bob)), ["481"]);
}

#[test]
fn a_sasl_login_to_an_operator_account_gives_plus_o_after_the_welcome() {
    use base64::Engine;
    let mut h = Harness::with_config(config_with_accounts(&["alice"], &[]));
    let (first, _) = with_account(&mut h, 1, "alice");
    h.send(first, "QUIT");
    let conn = h.connect(2, "127.0.0.1:5000");
    h.send(conn, "CAP LS 302");
    h.send(conn, "CAP REQ sasl");
    h.send(conn, "NICK alice");
    h.send(conn, "USER alice 0 * :Alice");
    h.send(conn, "AUTHENTICATE PLAIN");
    let payload = base64::engine::general_purpose::STANDARD.encode("\0alice\0correct-horse");
    h.send(conn, &format!("AUTHENTICATE {payload}"));
    h.answer_password_checks();
    h.send(conn, "CAP END");
    let got = take(&mut h, conn);
    let order = commands(&got);
    let welcome = order.iter().position(|c| *c == "001").expect("welcomed");
    let youreoper = order.iter().position(|c| *c == "381").expect("381");
    assert!(welcome < youreoper, "{order:?}");
    assert!(got
        .iter()
        .any(|m| m.command == "MODE" && m.param(1) == "+o"));
}

#[test]
fn an_operator_by_password_stays_one_after_logging_out() {
    let mut h = Harness::with_config(config_with_accounts(&["alice"], &[]));
    let (alice, _) = with_account(&mut h, 1, "alice");
    h.send(alice, "OPER root letmein");
    h.answer_password_checks();
    h.send(alice, "NS LOGOUT");
    let got = take(&mut h, alice);
    assert!(!got.iter().any(|m| m.command == "MODE"), "{got:?}");
    h.send(alice, "STATS k");
    assert_eq!(commands(&take(&mut h, alice)), ["219"]);
}

#[test]
fn a_reload_takes_operator_status_from_an_account_no_longer_listed() {
    let mut h = Harness::with_config(config_with_accounts(&["alice"], &[]));
    let (alice, _) = with_account(&mut h, 1, "alice");
    let mut live = LiveSettings::from(h.server.config());
    live.oper_accounts.clear();
    h.event(Event::Reconfigured {
        settings: Box::new(live),
    });
    let got = take(&mut h, alice);
    assert!(got
        .iter()
        .any(|m| m.command == "MODE" && m.param(1) == "-o"));
    h.send(alice, "STATS k");
    assert_eq!(commands(&take(&mut h, alice)), ["481"]);
}

// ----- flood-exempt accounts -----------------------------------------------

/// 10 lines a second, 5 at once, 20 held at most; `exempt` accounts.
fn paced(exempt: &[&str]) -> ServerConfig {
    ServerConfig {
        flood_lines_per_sec: 10,
        flood_burst_lines: 5,
        flood_queue_lines: 20,
        ..config_with_accounts(&[], exempt)
    }
}

/// The PRIVMSG texts `conn` has received since last asked.
fn texts(h: &mut Harness, conn: ConnId) -> Vec<String> {
    take(h, conn)
        .into_iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1).to_string())
        .collect()
}

/// `bot` logged in to its account, and `calm`, both in #lobby, with a
/// full flood budget.
fn bot_and_listener(h: &mut Harness) -> (ConnId, ConnId) {
    let (bot, _) = with_account(h, 1, "relaybot");
    let calm = user(h, 2, "calm");
    h.send(bot, "JOIN #lobby");
    h.send(calm, "JOIN #lobby");
    h.advance_secs(10);
    h.take(bot);
    h.take(calm);
    (bot, calm)
}

#[test]
fn a_flood_exempt_account_is_never_delayed_and_logging_out_puts_the_limit_back() {
    let mut h = Harness::with_config(paced(&["RelayBot"]));
    let (bot, calm) = bot_and_listener(&mut h);
    for i in 0..200 {
        h.send(bot, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 200, "all at once");
    assert!(h.closed.is_empty(), "{:?}", h.closed);
    h.send(bot, "NS LOGOUT");
    h.advance_secs(10);
    h.take(bot);
    for i in 0..10 {
        h.send(bot, &format!("PRIVMSG #lobby :again {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 5, "the burst, then held");
}

#[test]
fn an_account_without_the_flag_is_delayed() {
    let mut h = Harness::with_config(paced(&["someoneelse"]));
    let (bot, calm) = bot_and_listener(&mut h);
    for i in 0..10 {
        h.send(bot, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 5);
}

#[test]
fn a_reload_that_flags_an_account_exempts_those_already_logged_in() {
    let mut h = Harness::with_config(paced(&[]));
    let (bot, calm) = bot_and_listener(&mut h);
    let mut live = LiveSettings::from(h.server.config());
    live.flood_exempt_accounts.insert("relaybot".into());
    h.event(Event::Reconfigured {
        settings: Box::new(live),
    });
    for i in 0..50 {
        h.send(bot, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(texts(&mut h, calm).len(), 50);
}
