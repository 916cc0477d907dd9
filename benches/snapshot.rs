//! What a cluster snapshot costs: the time to encode and to restore the
//! whole state of a community, and its size.
//!
//! Run with `cargo bench --bench snapshot` (release build). It builds one
//! core the way a cluster's would be: `USERS` registered people in rooms of
//! ten, every room with `HISTORY` messages of history, then encodes it as
//! the writer node does (`cluster::Snapshot::encode`, on its core task) and
//! restores it as a starting node does, and prints the times and bytes.

use natter::cluster::{Replication, Snapshot};
use natter::core::{ConnId, Event, Instant, Now, Server, ServerConfig, Timestamp};
use std::time::Instant as Clock;

const USERS: u64 = 10_000;
const ROOM_SIZE: u64 = 10;
const HISTORY: u64 = 200;

fn main() {
    let config = ServerConfig {
        flood_lines_per_sec: 0,
        history_on_join: 0,
        ..ServerConfig::default()
    };
    let mut core = Server::new(config.clone());
    let now = Now {
        mono: Instant(0),
        wall: Timestamp(1_699_533_296_000),
    };
    let feed = |core: &mut Server, conn: u64, line: String| {
        let conn = ConnId(conn);
        core.handle_event(Event::Line { conn, line, now });
        while core.poll_action().is_some() {}
    };
    for id in 1..=USERS {
        let peer = format!("10.0.{}.{}:5000", id / 250, id % 250);
        core.handle_event(Event::Connected {
            conn: ConnId(id),
            peer,
            now,
        });
        feed(&mut core, id, format!("NICK user{id}"));
        feed(&mut core, id, format!("USER u{id} 0 * :User {id}"));
        feed(&mut core, id, format!("JOIN #room{}", id / ROOM_SIZE));
    }
    let rooms = USERS / ROOM_SIZE + 1;
    for n in 0..HISTORY {
        for room in 0..rooms {
            let speaker = (room * ROOM_SIZE + n % ROOM_SIZE).clamp(1, USERS);
            let line =
                format!("PRIVMSG #room{room} :message {n} of a typical length, about sixty bytes");
            feed(&mut core, speaker, line);
        }
    }
    let replication = Replication::new("a", 1, natter::cluster::config_fingerprint(&config));

    let started = Clock::now();
    let bytes = Snapshot::encode(&replication, &core).expect("no actions pending");
    let encoded = started.elapsed();

    let started = Clock::now();
    let snapshot = Snapshot::decode(&bytes).expect("it reads back");
    let mut theirs = Replication::new("b", 2, natter::cluster::config_fingerprint(&config));
    let restored = snapshot.restore(&mut theirs, config);
    let decoded = started.elapsed();
    assert_eq!(restored.connection_count() as u64, USERS);

    println!(
        "{USERS} users, {rooms} rooms of {ROOM_SIZE}, {} history records: \
         snapshot {:.1} MiB, encode {:.0} ms, decode + restore {:.0} ms",
        HISTORY * rooms,
        bytes.len() as f64 / (1 << 20) as f64,
        encoded.as_secs_f64() * 1e3,
        decoded.as_secs_f64() * 1e3
    );
}
