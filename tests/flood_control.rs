//! Flood protection: a client past its burst is closed; a steady talker never is.
mod common;
use common::Harness;

#[test]
fn a_flooding_client_is_closed_and_the_room_hears_it_once() {
    let mut h = Harness::new();
    let flooder = h.register(1, "Flood", 12000);
    let calm = h.register(2, "Calm", 12001);
    h.send(flooder, "JOIN #lobby");
    h.send(calm, "JOIN #lobby");
    h.take(calm);
    for i in 0..2000 {
        h.send(flooder, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert_eq!(h.closed, vec![(flooder, "Excess Flood".to_string())]);
    let seen = h.take(calm);
    let quits: Vec<_> = seen.iter().filter(|l| l.contains(" QUIT ")).collect();
    assert_eq!(quits, vec![":Flood!flood@127.0.0.1 QUIT :Excess Flood"]);
    let delivered = seen.iter().filter(|l| l.contains("PRIVMSG")).count();
    // The burst is 500 lines, and NICK, USER and JOIN were three of them.
    assert_eq!(delivered, 497);
    let log = h.log_text();
    assert!(log.contains("] Client Flood quit: Excess Flood\n"), "{log}");
    assert!(log.contains("] Client Flood disconnected\n"), "{log}");
}

#[test]
fn a_steady_talker_within_the_rate_is_never_cut_off() {
    let mut h = Harness::new();
    let talker = h.register(1, "Talker", 12000);
    h.send(talker, "JOIN #lobby");
    for i in 0..5000 {
        if i % 50 == 0 {
            h.advance_secs(1);
        }
        h.send(talker, &format!("PRIVMSG #lobby :line {i}"));
    }
    assert!(h.closed.is_empty(), "{:?}", h.closed);
}
