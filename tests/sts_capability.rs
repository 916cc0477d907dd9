//! The IRCv3 `sts` capability, decided by the pure core: plaintext clients
//! are told where the TLS port is, TLS clients how long to stay on TLS, and
//! nobody may request it.

mod common;

use common::Harness;
use natter::core::{ConnId, Event, ServerConfig, StsPolicy};

fn harness_with_sts() -> Harness {
    Harness::with_config(ServerConfig {
        sts: Some(StsPolicy {
            port: 6697,
            duration_secs: 300,
        }),
        ..ServerConfig::default()
    })
}

fn cap_ls(h: &mut Harness, conn: ConnId, line: &str) -> String {
    let before = h.received.get(&conn).map_or(0, Vec::len);
    h.event(Event::Line {
        conn,
        line: line.into(),
        now: h.now,
    });
    let got = &h.received[&conn][before..];
    assert_eq!(got.len(), 1, "{got:?}");
    got[0].clone()
}

/// The `sts` tokens of a `CAP LS` reply's capability list.
fn sts_tokens(reply: &str) -> Vec<String> {
    let list = reply.rsplit_once(" LS ").map_or("", |(_, caps)| caps);
    list.trim_start_matches(':')
        .split(' ')
        .filter(|cap| cap.starts_with("sts"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_plaintext_client_is_told_the_tls_port_to_upgrade_to() {
    let mut h = harness_with_sts();
    let conn = h.connect(1, "127.0.0.1:12000");
    let reply = cap_ls(&mut h, conn, "CAP LS 302");
    assert_eq!(sts_tokens(&reply), vec!["sts=port=6697"], "{reply}");
}

#[test]
fn a_tls_client_is_given_the_persistence_policy_duration() {
    let mut h = harness_with_sts();
    let conn = h.connect(1, "127.0.0.1:12000");
    h.event(Event::Secured { conn, certfp: None });
    let reply = cap_ls(&mut h, conn, "CAP LS 302");
    assert_eq!(sts_tokens(&reply), vec!["sts=duration=300"], "{reply}");
}

#[test]
fn clients_without_cap_302_never_see_capability_values() {
    let mut h = harness_with_sts();
    let conn = h.connect(1, "127.0.0.1:12000");
    let reply = cap_ls(&mut h, conn, "CAP LS");
    assert!(reply.contains(" LS "), "{reply}");
    assert!(
        !reply.contains('='),
        "no capability values without 302: {reply}"
    );
    assert!(sts_tokens(&reply).is_empty(), "{reply}");
}

#[test]
fn without_tls_there_is_no_sts_policy() {
    let mut h = Harness::new();
    let conn = h.connect(1, "127.0.0.1:12000");
    let reply = cap_ls(&mut h, conn, "CAP LS 302");
    assert!(!reply.contains("sts"), "{reply}");
}

#[test]
fn requesting_sts_is_refused_as_the_spec_allows() {
    let mut h = harness_with_sts();
    let conn = h.connect(1, "127.0.0.1:12000");
    let reply = cap_ls(&mut h, conn, "CAP REQ :sts");
    assert!(reply.contains(" NAK "), "{reply}");
}
