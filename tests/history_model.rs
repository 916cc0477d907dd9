//! Random scripts of joins, parts, messages and CHATHISTORY queries run
//! against the real core and a simple model of each room's accepted
//! messages: what a client sees of a room from its join on (history, then
//! live) is exactly the model's messages from the history window on, with
//! no gap or duplicate at the boundary, and every CHATHISTORY answer equals
//! the model's slice of the retained messages.
//!
//! `PROPTEST_CASES=2000 cargo test --test history_model` searches harder.
mod common;
use common::Harness;
use natter::core::{ConnId, ServerConfig};
use natter::proto::Message;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const CLIENTS: usize = 3;
const ROOMS: &[&str] = &["#a", "#b"];
const ON_JOIN: usize = 4;
const KEEP: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Join(usize, usize),
    Part(usize, usize),
    Say(usize, usize),
    /// BEFORE/AFTER/LATEST (0/1/2) around the k-th retained message (mod len), limit.
    Query(usize, usize, u8, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS;
    let r = 0..ROOMS.len();
    prop_oneof![
        2 => (c.clone(), r.clone()).prop_map(|(c, r)| Op::Join(c, r)),
        1 => (c.clone(), r.clone()).prop_map(|(c, r)| Op::Part(c, r)),
        6 => (c.clone(), r.clone()).prop_map(|(c, r)| Op::Say(c, r)),
        2 => (c, r, 0..3u8, 0..10usize, 0..8usize)
            .prop_map(|(c, r, kind, k, limit)| Op::Query(c, r, kind, k, limit)),
    ]
}

#[derive(Default)]
struct RoomModel {
    /// Every accepted message: (msgid, text).
    all: Vec<(u64, String)>,
    members: BTreeSet<usize>,
}

impl RoomModel {
    fn retained(&self) -> &[(u64, String)] {
        &self.all[self.all.len().saturating_sub(KEEP)..]
    }
}

fn room_texts(lines: &[String], room: &str) -> Vec<(Option<u64>, String)> {
    lines
        .iter()
        .filter_map(|l| Message::parse(l).ok())
        .filter(|m| m.command == "PRIVMSG" && m.param(0) == room)
        .map(|m| {
            let id = m.tag("msgid").and_then(|v| v.parse().ok());
            (id, m.param(1).to_string())
        })
        .collect()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::with_config(ServerConfig {
        history_on_join: ON_JOIN,
        history_max_messages: KEEP,
        ..ServerConfig::default()
    });
    let conns: Vec<ConnId> = (0..CLIENTS)
        .map(|i| {
            let conn = h.connect(i as u64 + 1, &format!("127.0.0.1:{}", 3000 + i));
            h.send(
                conn,
                "CAP REQ :message-tags server-time batch draft/chathistory echo-message",
            );
            h.send(conn, &format!("NICK c{i}"));
            h.send(conn, &format!("USER c{i} 0 * :c{i}"));
            h.send(conn, "CAP END");
            h.take(conn);
            conn
        })
        .collect();
    let mut rooms: Vec<RoomModel> = ROOMS.iter().map(|_| RoomModel::default()).collect();
    // What each client has seen of each room since joining, and what the
    // model says it should have seen.
    let mut seen: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    let mut expected: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    let mut said = 0u64;
    for op in ops {
        match op {
            Op::Join(c, r) => {
                h.send(conns[c], &format!("JOIN {}", ROOMS[r]));
                let got = room_texts(&h.take(conns[c]), ROOMS[r]);
                if rooms[r].members.insert(c) {
                    let retained = rooms[r].retained();
                    let tail = &retained[retained.len().saturating_sub(ON_JOIN)..];
                    let want: Vec<String> = tail.iter().map(|(_, t)| t.clone()).collect();
                    let got: Vec<String> = got.into_iter().map(|(_, t)| t).collect();
                    prop_assert_eq!(&got, &want, "history on join of c{} to {}", c, ROOMS[r]);
                    seen.insert((c, r), got);
                    expected.insert((c, r), want);
                } else {
                    prop_assert!(got.is_empty(), "a second JOIN replays nothing");
                }
            }
            Op::Part(c, r) => {
                h.send(conns[c], &format!("PART {}", ROOMS[r]));
                h.take(conns[c]);
                rooms[r].members.remove(&c);
                seen.remove(&(c, r));
                expected.remove(&(c, r));
            }
            Op::Say(c, r) => {
                said += 1;
                let text = format!("t{said}");
                h.send(conns[c], &format!("PRIVMSG {} :{text}", ROOMS[r]));
                if rooms[r].members.contains(&c) {
                    let id = h.persisted.last().map(|p| p.id).unwrap_or_default();
                    rooms[r].all.push((id, text.clone()));
                    for &m in &rooms[r].members {
                        expected.entry((m, r)).or_default().push(text.clone());
                    }
                }
                for (m, &conn) in conns.iter().enumerate() {
                    let got = room_texts(&h.take(conn), ROOMS[r]);
                    if let Some(s) = seen.get_mut(&(m, r)) {
                        s.extend(got.into_iter().map(|(_, t)| t));
                    } else {
                        prop_assert!(got.is_empty(), "c{} is not in {}", m, ROOMS[r]);
                    }
                }
            }
            Op::Query(c, r, kind, k, limit) => {
                let retained = rooms[r].retained().to_vec();
                let (sub, reference) = match (kind, retained.is_empty()) {
                    (2, _) | (_, true) => ("LATEST", "*".to_string()),
                    (0, false) => (
                        "BEFORE",
                        format!("msgid={}", retained[k % retained.len()].0),
                    ),
                    _ => ("AFTER", format!("msgid={}", retained[k % retained.len()].0)),
                };
                for &conn in &conns {
                    h.take(conn); // JOIN and PART lines of earlier steps
                }
                h.send(
                    conns[c],
                    &format!("CHATHISTORY {sub} {} {reference} {limit}", ROOMS[r]),
                );
                let lines = h.take(conns[c]);
                if !rooms[r].members.contains(&c) {
                    prop_assert!(lines.iter().all(|l| l.contains("FAIL CHATHISTORY")));
                    continue;
                }
                let got: Vec<String> = room_texts(&lines, ROOMS[r])
                    .into_iter()
                    .map(|(_, t)| t)
                    .collect();
                let texts: Vec<String> = retained.iter().map(|(_, t)| t.clone()).collect();
                let want: Vec<String> = match sub {
                    "LATEST" => texts[texts.len().saturating_sub(limit)..].to_vec(),
                    "BEFORE" => {
                        let i = k % texts.len();
                        texts[i.saturating_sub(limit)..i].to_vec()
                    }
                    _ => {
                        let i = k % texts.len() + 1;
                        texts[i..(i + limit).min(texts.len())].to_vec()
                    }
                };
                prop_assert_eq!(
                    got,
                    want,
                    "CHATHISTORY {} {} {} {}",
                    sub,
                    ROOMS[r],
                    reference,
                    limit
                );
            }
        }
    }
    for (key, want) in &expected {
        let got = seen.get(key).cloned().unwrap_or_default();
        prop_assert_eq!(
            &got,
            want,
            "history then live for c{} in {}",
            key.0,
            ROOMS[key.1]
        );
        let distinct: BTreeSet<&String> = got.iter().collect();
        prop_assert_eq!(distinct.len(), got.len(), "no duplicates at the boundary");
    }
    Ok(())
}

proptest! {
    #[test]
    fn history_and_live_traffic_match_the_model_of_accepted_messages(
        ops in proptest::collection::vec(op(), 1..120)
    ) {
        run(ops)?;
    }
}
