//! Rooms and messages, as scenarios: joining, parting, names, topics, list,
//! who, modes, nick changes, quits, private messages and echo-message.
mod common;
use common::Harness;
use natter::core::ConnId;
use natter::proto::Message;

/// Parsed lines `conn` received since last asked.
fn take(h: &mut Harness, conn: ConnId) -> Vec<Message> {
    h.take(conn)
        .iter()
        .map(|l| Message::parse(l).expect("the server sends valid lines"))
        .collect()
}

/// The commands (or numerics) of `msgs`, in order.
fn commands(msgs: &[Message]) -> Vec<&str> {
    msgs.iter().map(|m| m.command.as_str()).collect()
}

/// Registers `nick` and throws away its welcome burst.
fn user(h: &mut Harness, id: u64, nick: &str) -> ConnId {
    let conn = h.register(id, nick, 12000 + id as u16);
    h.take(conn);
    conn
}

#[test]
fn private_message_to_a_nick_still_registering_is_no_such_nick() {
    let mut h = Harness::new();
    let alice = user(&mut h, 1, "alice");
    let pending = h.connect(2, "127.0.0.1:12002");
    h.send(pending, "NICK bob");
    h.take(pending);
    h.send(alice, "PRIVMSG bob :are you there?");
    let got = take(&mut h, alice);
    assert_eq!(commands(&got), ["401"]);
    assert_eq!(got[0].params[1], "bob");
    assert!(
        h.take(pending).is_empty(),
        "an unregistered client gets no chat"
    );
}
