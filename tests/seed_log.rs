//! The seed's own server.log scenario, and other logged events, with a fixed clock.
mod common;
use common::{snapshot_settings, Harness};

#[test]
fn seed_scenario_writes_the_seed_log_lines() {
    let mut h = Harness::new();
    let john = h.register(1, "John", 12000);
    h.send(john, "JOIN #lobby");
    h.advance_secs(5);
    h.send(john, "PRIVMSG #lobby :Hello everyone!");
    h.advance_secs(30);
    let jane = h.register(2, "Jane", 12001);
    h.send(jane, "JOIN #lobby");
    h.advance_secs(20);
    h.send(jane, "PRIVMSG #lobby :Hi John!");
    h.advance_secs(69);
    h.send(john, "PART #lobby");
    h.advance_secs(2);
    h.send(john, "QUIT");
    let log = h.log_text();
    for expected in [
        "[2023-11-09 12:34:56] Client John connected from 127.0.0.1:12000\n",
        "[2023-11-09 12:35:01] [John]: Hello everyone!\n",
        "[2023-11-09 12:37:00] [John] has left\n",
        "[2023-11-09 12:37:02] Client John disconnected\n",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in\n{log}");
    }
    snapshot_settings().bind(|| insta::assert_snapshot!("seed_scenario_log", log));
}

#[test]
fn other_rooms_nick_changes_topics_and_drops_are_logged_in_the_same_style() {
    let mut h = Harness::new();
    let john = h.register(1, "John", 12000);
    let jane = h.register(2, "Jane", 12001);
    h.send(john, "JOIN #lobby,#rust");
    h.send(jane, "JOIN #rust");
    h.send(john, "TOPIC #rust :All about\x1b[31m crabs");
    h.send(jane, "PRIVMSG #rust :crab talk");
    h.send(jane, "NOTICE #rust :a notice");
    h.send(jane, "PRIVMSG John :psst, secret");
    h.send(john, "NICK Johnny");
    h.send(jane, "PART #rust :enough crabs");
    h.advance_secs(1);
    h.drop_conn(john, "Connection reset by peer");
    let log = h.log_text();
    assert!(
        !log.contains("psst"),
        "private text must not be logged by default:\n{log}"
    );
    snapshot_settings().bind(|| insta::assert_snapshot!("rooms_nicks_topics_drops_log", log));
}

#[test]
fn private_text_is_logged_only_when_configured() {
    let config = natter::core::ServerConfig {
        log_private_text: true,
        ..Default::default()
    };
    let mut h = Harness::with_config(config);
    let john = h.register(1, "John", 12000);
    h.register(2, "Jane", 12001);
    h.send(john, "PRIVMSG jane :psst");
    assert!(
        h.log_text().contains("[John] -> [Jane]: psst"),
        "{}",
        h.log_text()
    );
}
