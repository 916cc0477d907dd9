//! Unit tests of the parent module (kept apart so it reads in one sitting):
//! history here, what the store keeps besides history in `kept`.

use super::health::{WriteHealth, REPORT_FAILING_EVERY};
use super::journal::Frames;
use super::schema::*;
use super::worker::Changes;
use super::*;

fn temp_db(name: &str) -> (PathBuf, StoreOptions) {
    let dir = std::env::temp_dir().join(format!("natter-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let options = StoreOptions {
        data_dir: dir.clone(),
        max_messages: 3,
        max_age_secs: 0,
        fsync: false,
    };
    (dir, options)
}

fn worker(options: &StoreOptions) -> Worker {
    let path = options.path();
    let db = open_db(&path).expect("open");
    migrate(&db, &path).expect("migrate");
    Worker::new(db, path, options).expect("worker")
}

fn record(id: u64, kind: HistoryKind, room: &str, text: &str) -> HistoryRecord {
    HistoryRecord {
        id,
        at: Timestamp(1_000_000 + id),
        kind,
        target: room.into(),
        source: "alice!a@h".into(),
        text: text.into(),
        from_account: None,
        to_account: None,
    }
}

/// What SQLite holds of `room` (its messages, in their blocks, and its
/// other rows), oldest first.
fn texts(w: &Worker, room: &str) -> Vec<String> {
    let mut stmt =
        w.db.prepare("SELECT id, text FROM events WHERE room = ?1 ORDER BY id")
            .expect("prepare");
    let rows = stmt
        .query_map(params![room], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })
        .expect("query");
    let mut all: Vec<(u64, String)> = rows.collect::<rusqlite::Result<_>>().expect("rows");
    all.extend(blocks::texts(&w.db, room));
    all.sort();
    all.into_iter().map(|(_, text)| text).collect()
}

/// How many records SQLite holds: messages in blocks and other rows.
fn stored(db: &Connection) -> i64 {
    db.query_row(
        "SELECT (SELECT COUNT(*) FROM events) + (SELECT COALESCE(SUM(count), 0) FROM blocks)",
        [],
        |r| r.get(0),
    )
    .expect("count")
}

#[test]
fn retention_keeps_each_rooms_newest_messages_and_drops_what_came_before() {
    let (_dir, options) = temp_db("count");
    let mut w = worker(&options);
    let mut batch = vec![record(1, HistoryKind::Join, "#Lobby", "")];
    for i in 2..=6 {
        batch.push(record(i, HistoryKind::Privmsg, "#Lobby", &format!("m{i}")));
    }
    batch.push(record(7, HistoryKind::Privmsg, "#other", "alone"));
    w.write(&batch).expect("write");
    w.prune_step().expect("prune");
    assert_eq!(texts(&w, "#lobby"), ["m4", "m5", "m6"]);
    assert_eq!(texts(&w, "#other"), ["alone"]);
    assert_eq!(w.messages.get("#lobby"), Some(&3));
    // Later messages push the oldest out again.
    w.write(&[record(8, HistoryKind::Notice, "#lobby", "n8")])
        .expect("write");
    w.prune_step().expect("prune");
    assert_eq!(texts(&w, "#lobby"), ["m5", "m6", "n8"]);
}

#[test]
fn message_counts_survive_a_restart_so_retention_still_applies() {
    let (_dir, options) = temp_db("restart");
    {
        let mut w = worker(&options);
        // One at a time: a single batch of five would store only the three
        // that retention keeps.
        for i in 1..=5 {
            let r = record(i, HistoryKind::Privmsg, "#lobby", &format!("m{i}"));
            w.write(&[r]).expect("write");
        }
    }
    let mut w = worker(&options);
    assert_eq!(w.messages.get("#lobby"), Some(&5));
    w.prune_step().expect("prune");
    assert_eq!(texts(&w, "#lobby"), ["m3", "m4", "m5"]);
}

#[test]
fn a_batch_stores_only_the_messages_retention_keeps_and_no_rows_nobody_reads() {
    let (dir, options) = temp_db("coalesce");
    let mut w = worker(&options);
    let mut batch = vec![record(1, HistoryKind::Join, "#lobby", "")];
    for i in 2..=7 {
        batch.push(record(i, HistoryKind::Privmsg, "#Lobby", &format!("m{i}")));
    }
    batch.push(record(8, HistoryKind::Privmsg, "#other", "alone"));
    batch.push(record(9, HistoryKind::Part, "#lobby", "bye"));
    w.write(&batch).expect("write");
    // Only the newest three of #lobby (max_messages is 3) were inserted,
    // and neither the join nor the part.
    assert_eq!(texts(&w, "#lobby"), ["m5", "m6", "m7"]);
    assert_eq!(texts(&w, "#other"), ["alone"]);
    assert_eq!(w.messages.get("#lobby"), Some(&3));
    assert_eq!(w.indexed_through.load(Ordering::Acquire), 9);
    drop(w);
    // The part's id is never handed out again.
    let (_, restored) = Store::open(&options, Timestamp(0)).expect("open");
    assert_eq!(restored.next_id, 10);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn age_retention_deletes_old_rows_and_keeps_the_counts_true() {
    let (_dir, mut options) = temp_db("age");
    options.max_messages = 100;
    options.max_age_secs = 60;
    let mut w = worker(&options);
    let now = crate::net::wall_now();
    let mut old = record(1, HistoryKind::Privmsg, "#lobby", "old");
    old.at = Timestamp(now.0 - 3_600_000);
    let fresh = HistoryRecord {
        at: now,
        ..record(2, HistoryKind::Privmsg, "#lobby", "fresh")
    };
    w.write(&[old, fresh]).expect("write");
    w.prune_step().expect("prune");
    assert_eq!(texts(&w, "#lobby"), ["fresh"]);
    assert_eq!(w.messages.get("#lobby"), Some(&1));
}

#[test]
fn ids_are_never_reused_even_after_retention_deleted_every_row() {
    let (_dir, mut options) = temp_db("ids");
    options.max_age_secs = 60;
    let mut w = worker(&options);
    let long_ago = Timestamp(crate::net::wall_now().0 - 3_600_000);
    let old: Vec<_> = (1..=5)
        .map(|i| HistoryRecord {
            at: long_ago,
            ..record(i, HistoryKind::Privmsg, "#lobby", "old")
        })
        .collect();
    w.write(&old).expect("write");
    w.prune_step().expect("prune");
    assert!(texts(&w, "#lobby").is_empty(), "everything expired");
    let restored = load(&w.db, &options, crate::net::wall_now()).expect("load");
    assert!(restored.records.is_empty());
    assert_eq!(restored.next_id, 6);
}

#[test]
fn commits_finish_in_the_order_begun_and_what_they_hold_is_restored() {
    commits_finish_in_order_and_are_restored(false);
}

#[test]
fn with_fsync_commits_finish_in_the_order_begun_and_what_they_hold_is_restored() {
    commits_finish_in_order_and_are_restored(true);
}

#[test]
fn without_fsync_a_commit_of_records_is_in_the_journal_when_it_is_begun() {
    let (dir, options) = temp_db("direct");
    let (store, _) = Store::open(&options, Timestamp(0)).expect("open");
    let commit = store.begin_commit(vec![record(1, HistoryKind::Privmsg, "#a", "one")]);
    assert!(commit.is_done(), "nothing to wait for once written");
    let journaled = Journal::recover(&dir).expect("recover").records;
    assert_eq!(journaled, [record(1, HistoryKind::Privmsg, "#a", "one")]);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

fn commits_finish_in_order_and_are_restored(fsync: bool) {
    let (dir, mut options) = temp_db(if fsync {
        "pipelined-fsync"
    } else {
        "pipelined"
    });
    options.fsync = fsync;
    let (store, _) = Store::open(&options, Timestamp(0)).expect("open");
    let first = store.begin_commit(vec![record(1, HistoryKind::Privmsg, "#a", "one")]);
    let second = store.begin_commit(vec![record(2, HistoryKind::Privmsg, "#a", "two")]);
    futures_lite::future::block_on(second.wait());
    assert!(
        first.is_done(),
        "a later commit finished before an earlier one"
    );
    assert!(second.is_done());
    drop(store);
    let (_, restored) = Store::open(&options, Timestamp(0)).expect("reopen");
    let texts: Vec<&str> = restored.records.iter().map(|r| &*r.text).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(restored.next_id, 3);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn journaled_records_sqlite_lacks_are_replayed_at_startup_once() {
    let (dir, options) = temp_db("replay");
    // SQLite has records 1 and 2 (indexed through 2) ...
    let mut w = worker(&options);
    w.write(&[
        record(1, HistoryKind::Privmsg, "#a", "one"),
        record(2, HistoryKind::Privmsg, "#a", "two"),
    ])
    .expect("write");
    drop(w);
    // ... and the journal, as a kill -9 left it, holds 1 to 4: 3 and 4 were
    // acknowledged but never reached SQLite.
    let indexed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut j = Journal::create(&dir, false, indexed).expect("journal");
    j.append([&mut Frame::of(&[
        record(1, HistoryKind::Privmsg, "#a", "one"),
        record(2, HistoryKind::Privmsg, "#a", "two"),
    ])])
    .expect("append");
    j.append([&mut Frame::of(&[
        record(3, HistoryKind::Privmsg, "#a", "three"),
        record(4, HistoryKind::Redact, "#a", "2 oops"),
    ])])
    .expect("append");
    drop(j);
    let (store, restored) = Store::open(&options, Timestamp(0)).expect("open replays");
    let texts: Vec<&str> = restored.records.iter().map(|r| &*r.text).collect();
    assert_eq!(texts, ["one", "three"], "3 replayed, the redaction applied");
    assert_eq!(restored.next_id, 5);
    drop(store);
    // Opening again replays nothing twice (a second insert of id 3 would
    // fail) and the journal starts empty.
    let (_, again) = Store::open(&options, Timestamp(0)).expect("reopen");
    assert_eq!(again.records, restored.records);
    for name in journal::JOURNAL_FILES {
        assert_eq!(std::fs::metadata(dir.join(name)).expect("journal").len(), 0);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_record_is_acknowledged_by_the_journal_before_sqlite_has_it() {
    let (dir, options) = temp_db("ack");
    let (store, _) = Store::open(&options, Timestamp(0)).expect("open");
    let commit = store.begin_commit(vec![record(1, HistoryKind::Privmsg, "#a", "one")]);
    futures_lite::future::block_on(commit.wait());
    // Done means durable: it is in the journal now, whatever SQLite has.
    let journaled = Journal::recover(&dir).expect("recover").records;
    assert_eq!(journaled, [record(1, HistoryKind::Privmsg, "#a", "one")]);
    // A read marker is not journaled: its commit waits for SQLite (the
    // state database), though not for the records before it.
    let marker = store.begin_commit_with_markers(
        Frame::of(&[record(2, HistoryKind::Privmsg, "#a", "two")]),
        vec![MarkerChange::Set(ReadMarker {
            owner: "alice".into(),
            target: "#a".into(),
            at: Timestamp(5),
            set_at: Timestamp(6),
        })],
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    futures_lite::future::block_on(marker.wait());
    let count = |what: &str| -> i64 {
        let db = open_db(&options.path()).expect("db");
        db.query_row(what, [], |r| r.get(0)).expect("count")
    };
    assert_eq!(count("SELECT COUNT(*) FROM state.read_markers"), 1);
    drop(store);
    assert_eq!(
        count("SELECT (SELECT COUNT(*) FROM events) + (SELECT SUM(count) FROM blocks)"),
        2,
        "both records are in SQLite once the store has stopped"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failing_store_is_reported_when_it_starts_failing_now_and_then_and_when_it_recovers() {
    let path = Path::new("/data/history.sqlite3");
    let full = || {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ))
    };
    let t0 = Instant::now();
    let mut health = WriteHealth::default();
    assert_eq!(health.record(Ok::<(), String>(()), 5, path, t0), None);
    let first = health.record(full(), 3, path, t0).expect("first failure");
    assert!(first.contains("cannot store history in /data/history.sqlite3"));
    assert!(first.contains("database or disk is full"), "{first}");
    for i in 1..=100 {
        let at = t0 + Duration::from_millis(i * 100);
        assert_eq!(
            health.record(full(), 2, path, at),
            None,
            "reported per commit"
        );
    }
    let reminder = health
        .record(full(), 1, path, t0 + REPORT_FAILING_EVERY)
        .expect("a reminder after a minute");
    assert!(
        reminder.contains("still cannot store history"),
        "{reminder}"
    );
    assert!(reminder.contains("204 records not stored"), "{reminder}");
    let t1 = t0 + REPORT_FAILING_EVERY + Duration::from_secs(30);
    let recovered = health
        .record(Ok::<(), String>(()), 4, path, t1)
        .expect("recovery");
    assert!(
        recovered.contains("204 records from the last 90 s were not stored"),
        "{recovered}"
    );
    assert_eq!(health.record(Ok::<(), String>(()), 4, path, t1), None);
}

fn marker(owner: &str, target: &str, at: u64) -> MarkerChange {
    MarkerChange::Set(ReadMarker {
        owner: owner.into(),
        target: target.into(),
        at: Timestamp(at),
        set_at: Timestamp(at),
    })
}

#[test]
fn a_redaction_deletes_the_message_keeps_its_own_record_and_the_count_true() {
    let (_dir, options) = temp_db("redact");
    let mut w = worker(&options);
    let batch = vec![
        record(1, HistoryKind::Privmsg, "#lobby", "keep"),
        record(2, HistoryKind::Privmsg, "#lobby", "secret"),
        record(3, HistoryKind::Redact, "#Lobby", "2 oops"),
        // A redaction never reaches into another room.
        record(4, HistoryKind::Redact, "#other", "1"),
        record(5, HistoryKind::Private, "Bob", "psst"),
        record(6, HistoryKind::Redact, "bob", "5"),
    ];
    w.write(&batch).expect("write");
    assert_eq!(texts(&w, "#lobby"), ["keep", "2 oops"]);
    assert_eq!(texts(&w, "bob"), ["5"], "the private message is gone too");
    assert_eq!(w.messages.get("#lobby"), Some(&1));
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    let kept: Vec<&str> = restored.records.iter().map(|r| &*r.text).collect();
    assert_eq!(kept, ["keep"]);
}

#[test]
fn a_rename_moves_the_rooms_rows_counts_and_read_markers_but_not_earlier_renames() {
    let (_dir, options) = temp_db("rename");
    let mut w = worker(&options);
    w.write_all(
        &Frames::of(&[
            record(1, HistoryKind::Privmsg, "#a", "one"),
            record(2, HistoryKind::Rename, "#a", "#b"),
            record(3, HistoryKind::Privmsg, "#b", "two"),
        ]),
        Changes {
            markers: &[
                marker("x", "#b", 5),
                marker("y", "#b", 5),
                marker("y", "#c", 9),
            ],
            ..Changes::default()
        },
    )
    .expect("write");
    w.write(&[record(4, HistoryKind::Rename, "#b", "#C moving on")])
        .expect("rename again");
    assert_eq!(texts(&w, "#a"), ["#b"], "the first rename stays at #a");
    assert_eq!(texts(&w, "#b"), ["#C moving on"]);
    assert_eq!(texts(&w, "#c"), ["one", "two"]);
    assert_eq!(w.messages.get("#c"), Some(&2));
    assert_eq!(w.messages.get("#b"), None);
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    let targets: Vec<&str> = restored.records.iter().map(|r| &*r.target).collect();
    assert_eq!(targets, ["#C", "#C"]);
    let markers: Vec<(&str, &str, u64)> = restored
        .read_markers
        .iter()
        .map(|m| (m.owner.as_str(), m.target.as_str(), m.at.0))
        .collect();
    assert_eq!(
        markers,
        [("x", "#c", 5), ("y", "#c", 9)],
        "the later one stays"
    );
}

#[test]
fn the_journal_thread_waits_while_sqlite_lags_too_far_and_goes_on_once_it_caught_up() {
    let queue = Arc::new(index_queue::IndexQueue::default());
    let span = |start: u64, len: usize| journal::Span {
        file: 0,
        start,
        end: start + len as u64,
    };
    queue.push(vec![index_queue::Index::Journaled(span(
        0,
        worker::MAX_BACKLOG_BYTES,
    ))]);
    let (added, was_added) = mpsc::channel();
    let waiter = {
        let queue = queue.clone();
        std::thread::spawn(move || {
            queue.push(vec![index_queue::Index::Journaled(span(1 << 40, 10))]);
            let _ = added.send(());
        })
    };
    assert!(
        was_added.recv_timeout(Duration::from_millis(200)).is_err(),
        "added past the limit without waiting"
    );
    // Taken by the indexer but not yet committed: still too far behind.
    let batch = queue.take().expect("a full batch is due at once");
    assert!(was_added.recv_timeout(Duration::from_millis(200)).is_err());
    drop(batch);
    queue.indexed();
    was_added
        .recv_timeout(Duration::from_secs(10))
        .expect("still waiting after the indexer committed");
    waiter.join().expect("waiter");
}

#[test]
fn a_burst_indexed_in_several_transactions_stores_only_what_retention_keeps_of_it_all() {
    let (dir, options) = temp_db("burst");
    let mut w = worker(&options);
    // Every group commit is its own transaction: the count must span them.
    w.chunk_bytes = 1;
    let mut journal = Journal::create(&dir, false, w.indexed_through.clone()).expect("journal");
    let queue = index_queue::IndexQueue::default();
    let mut id = 0;
    let mut next = |kind, room: &str, text: &str| {
        id += 1;
        record(id, kind, room, text)
    };
    let groups = [
        vec![
            next(HistoryKind::Join, "#lobby", ""),
            next(HistoryKind::Privmsg, "#lobby", "m1"),
            next(HistoryKind::Privmsg, "#Lobby", "m2"),
        ],
        vec![
            next(HistoryKind::Privmsg, "#lobby", "m3"),
            next(HistoryKind::Privmsg, "#other", "alone"),
            next(HistoryKind::Privmsg, "#lobby", "m4"),
        ],
        vec![next(HistoryKind::Privmsg, "#lobby", "m5")],
    ];
    for group in &groups {
        let span = journal
            .append([&mut Frame::of(group)])
            .expect("append")
            .expect("written");
        queue.push(vec![index_queue::Index::Journaled(span)]);
    }
    queue.close();
    let batch = queue.take().expect("due once closed");
    w.index(batch);
    // Only the newest three of #lobby (max_messages is 3) were inserted.
    assert_eq!(stored(&w.db), 4, "m1 and m2 and the join are not stored");
    assert_eq!(texts(&w, "#lobby"), ["m3", "m4", "m5"]);
    assert_eq!(texts(&w, "#other"), ["alone"]);
    assert_eq!(w.messages.get("#lobby"), Some(&3));
    assert_eq!(w.indexed_through.load(Ordering::Acquire), 7);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_rooms_messages_take_a_row_per_block_and_count_retention_drops_whole_blocks_first() {
    let (_dir, mut options) = temp_db("blocks");
    options.max_messages = 1000;
    let mut w = worker(&options);
    let padding = "x".repeat(200);
    let mut id = 0;
    for _ in 0..4 {
        let mut batch = Vec::new();
        for _ in 0..500 {
            id += 1;
            batch.push(record(
                id,
                HistoryKind::Privmsg,
                "#Big",
                &format!("{id} {padding}"),
            ));
            id += 1;
            batch.push(record(id, HistoryKind::Notice, "#small", &format!("{id}")));
        }
        w.write(&batch).expect("write");
    }
    let rows: i64 =
        w.db.query_row("SELECT COUNT(*) FROM blocks WHERE room = '#big'", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert!(
        rows < 40,
        "2,000 messages of about 230 bytes took {rows} rows, not one per 32 KiB block"
    );
    assert_eq!(w.messages.get("#big"), Some(&2000));
    w.prune_step().expect("prune");
    let big = texts(&w, "#big");
    assert_eq!(big.len(), 1000);
    assert!(
        big[0].starts_with("2001 "),
        "the newest 1,000 stay: {}",
        &big[0][..8]
    );
    assert_eq!(w.messages.get("#big"), Some(&1000));
    assert_eq!(w.messages.get("#small"), Some(&1000));
    assert_eq!(texts(&w, "#small").len(), 1000);
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    assert_eq!(restored.records.len(), 2000);
    assert!(restored.records.windows(2).all(|p| p[0].id < p[1].id));
    assert_eq!(
        (restored.records[0].id, &*restored.records[0].target),
        (2001, "#Big"),
        "the oldest kept, spelled as sent"
    );
    assert_eq!(
        (restored.records[1].id, &*restored.records[1].target),
        (2002, "#small")
    );
}

#[test]
fn age_retention_empties_the_expired_blocks_of_every_room_in_one_round() {
    let (_dir, mut options) = temp_db("age-blocks");
    options.max_messages = 100;
    options.max_age_secs = 60;
    let mut w = worker(&options);
    let now = crate::net::wall_now();
    // One small block per room and transaction, as a quiet server makes them.
    for room in 0..300 {
        let mut old = record(room + 1, HistoryKind::Privmsg, &format!("#r{room}"), "old");
        old.at = Timestamp(now.0 - 3_600_000);
        w.write(&[old]).expect("write");
    }
    let fresh = HistoryRecord {
        at: now,
        ..record(1000, HistoryKind::Privmsg, "#r7", "fresh")
    };
    w.write(&[fresh]).expect("write");
    w.prune_step().expect("prune");
    let left: i64 =
        w.db.query_row("SELECT COUNT(*) FROM blocks", [], |r| r.get(0))
            .expect("count");
    assert_eq!(left, 1, "only the fresh message's block is left");
    assert_eq!(texts(&w, "#r7"), ["fresh"]);
    assert_eq!(w.messages.get("#r7"), Some(&1));
    assert_eq!(w.messages.get("#r8"), Some(&0));
}

mod kept;
mod migrations;
