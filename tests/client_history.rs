//! natter-client's history, as scenarios against the real core: a client
//! joining a room with earlier messages sees them marked as history before
//! live chat, and `/history N` pages further back until nothing is left.
mod common;

use chrono::NaiveTime;
use common::Harness;
use natter::client::{LineKind, NickRetry, Output, Session};
use natter::core::ConnId;

fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()
}

/// A session wired to the core: what one sends, the other receives.
struct Wired {
    session: Session,
    conn: ConnId,
    shown: Vec<(LineKind, String)>,
}

impl Wired {
    fn connect(h: &mut Harness, id: u64, nick: &str) -> Wired {
        let conn = h.connect(id, &format!("127.0.0.1:{}", 20000 + id));
        let mut w = Wired {
            session: Session::new(nick, "#lobby", NickRetry::GiveUp),
            conn,
            shown: Vec::new(),
        };
        let start = w.session.start();
        w.act(h, start);
        w
    }

    fn act(&mut self, h: &mut Harness, outputs: Vec<Output>) {
        let mut queue = outputs;
        loop {
            for output in std::mem::take(&mut queue) {
                match output {
                    Output::Send(line) => h.send(self.conn, &line),
                    Output::Display(line) => self.shown.push((line.kind(), line.text().into())),
                    Output::Quit | Output::Fail(_) => {}
                }
            }
            for line in h.take(self.conn) {
                queue.extend(self.session.handle_server_line(&line, noon()));
            }
            if queue.is_empty() {
                return;
            }
        }
    }

    fn type_line(&mut self, h: &mut Harness, line: &str) {
        let out = self.session.handle_input(line, noon());
        self.act(h, out);
    }

    fn take_shown(&mut self) -> Vec<(LineKind, String)> {
        std::mem::take(&mut self.shown)
    }
}

#[test]
fn joining_shows_earlier_messages_marked_as_history_then_history_pages_further_back() {
    let mut h = Harness::new();
    let mut alice = Wired::connect(&mut h, 1, "alice");
    for i in 0..30 {
        alice.type_line(&mut h, &format!("line {i}"));
    }
    let mut bob = Wired::connect(&mut h, 2, "bob");
    assert!(bob.session.has_chathistory());
    let shown = bob.take_shown();
    let history: Vec<&str> = shown
        .iter()
        .filter(|(k, _)| *k == LineKind::History)
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(history.len(), 20, "the server's default: {shown:#?}");
    assert_eq!(history[0], "[history 2023-11-09 12:34] [alice]: line 10");
    assert_eq!(history[19], "[history 2023-11-09 12:34] [alice]: line 29");
    assert!(shown
        .iter()
        .any(|(_, t)| t == "*** End of 20 history messages of #lobby"));

    alice.type_line(&mut h, "live now");
    bob.act(&mut h, Vec::new());
    let live = bob.take_shown();
    assert_eq!(live.len(), 1);
    assert_eq!(
        live[0],
        (LineKind::Chat, "[12:00:00] [alice]: live now".into())
    );

    bob.type_line(&mut h, "/history 8");
    let more: Vec<String> = bob.take_shown().into_iter().map(|(_, t)| t).collect();
    assert_eq!(more.len(), 9);
    assert_eq!(more[0], "[history 2023-11-09 12:34] [alice]: line 2");
    assert_eq!(more[7], "[history 2023-11-09 12:34] [alice]: line 9");

    bob.type_line(&mut h, "/history");
    let rest: Vec<String> = bob.take_shown().into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        rest.first().map(String::as_str),
        Some("[history 2023-11-09 12:34] [alice]: line 0")
    );
    assert_eq!(rest.len(), 3);

    bob.type_line(&mut h, "/history");
    let none: Vec<String> = bob.take_shown().into_iter().map(|(_, t)| t).collect();
    assert_eq!(none, ["*** No earlier messages in #lobby"]);
}
