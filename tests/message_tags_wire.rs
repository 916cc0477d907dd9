//! Message tags over real sockets: the shell's line reader lets a client's
//! full 4094 bytes of tag data through to the core, which relays them
//! whole; more tag data, or a message body past 510 bytes behind short
//! tags, is answered with 417 and the connection goes on.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{start_server, Client};
use natter::net::DEFAULT_SENDQ;
use natter::proto::Message;

/// Registers `nick` with `message-tags` and joins #room.
fn tagged_client(addr: std::net::SocketAddr, nick: &str) -> Client {
    let mut c = Client::connect(addr, nick);
    c.send("CAP REQ :message-tags");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.send("CAP END");
    c.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    c.send("JOIN #room");
    c.read_until(|l| l.contains(" 366 "));
    c
}

#[test]
fn the_largest_client_tags_cross_the_wire_whole_and_larger_ones_get_417() {
    let server = start_server(DEFAULT_SENDQ, None);
    let addr = server.local_addr();
    let mut alice = tagged_client(addr, "alice");
    let mut bob = tagged_client(addr, "bob");
    alice.sync();

    // `+a=` and 4091 bytes of value: 4094 bytes of tag data, the most allowed.
    let value = "v".repeat(4091);
    alice.send(&format!("@+a={value} TAGMSG #room"));
    assert!(alice.sync().is_empty());
    let got = bob.sync();
    assert_eq!(got.len(), 1, "{got:?}");
    let msg = Message::parse(&got[0]).expect("a valid line");
    assert_eq!(msg.command, "TAGMSG");
    assert_eq!(msg.tag("+a"), Some(value.as_str()));

    // One byte more is refused, not truncated.
    alice.send(&format!("@+a={value}v TAGMSG #room"));
    let refused = alice.sync();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains(" 417 alice "), "{refused:?}");
    // Short tags do not lend their room to an over-long message body.
    let body = format!("PRIVMSG #room :{}", "b".repeat(500));
    alice.send(&format!("@+a=1 {body}"));
    let refused = alice.sync();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains(" 417 alice "), "{refused:?}");
    assert!(bob.sync().is_empty(), "nothing refused was relayed");

    // The connection goes on.
    alice.send("@+b=2 PRIVMSG #room :still here");
    // The sender's round trip first: then the server has relayed the line.
    assert!(alice.sync().is_empty());
    let got = bob.sync();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("@msgid=") && got[0].contains(";+b=2 :alice!"));
}
