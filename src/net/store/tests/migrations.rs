//! Opening the files and migrating what older natters left: schema
//! versions, the move of accounts, registered rooms, server bans and read
//! markers into state.sqlite3, and a state file that went missing.

use super::super::schema::*;
use super::*;

#[test]
fn a_new_history_database_has_large_pages_and_a_rollback_journal() {
    let (dir, options) = temp_db("fresh");
    let (store, _) = Store::open(&options, Timestamp(0)).expect("open");
    drop(store);
    let db = open_db(&options.path()).expect("reopen");
    let page_size: i64 = db
        .pragma_query_value(Some("main"), "page_size", |r| r.get(0))
        .expect("page size");
    assert_eq!(page_size, HISTORY_PAGE_SIZE);
    assert!(dir.join(STATE_FILE).exists());
    assert!(!dir.join(format!("{DB_FILE}-wal")).exists());
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_database_from_an_older_natter_is_migrated_and_keeps_its_history() {
    let (dir, options) = temp_db("migrate");
    {
        let db = open_db(&options.path()).expect("open");
        let first = format!("BEGIN; {} PRAGMA user_version = 1; COMMIT;", MIGRATIONS[0]);
        db.execute_batch(&first).expect("schema version 1");
        db.execute(
            "INSERT INTO events VALUES (7, 1000, 'privmsg', '#old', '#Old', 'a!a@h', 'kept')",
            [],
        )
        .expect("a version-1 row");
    }
    let (store, restored) = Store::open(&options, Timestamp(2000)).expect("migrates");
    drop(store);
    let texts: Vec<&str> = restored.records.iter().map(|r| &*r.text).collect();
    assert_eq!(texts, ["kept"]);
    assert_eq!(restored.next_id, 8);
    let db = open_db(&options.path()).expect("reopen");
    let version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, MIGRATIONS.len() as i64);
    let indexes: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(indexes, ["events_by_room"]);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_database_from_a_newer_natter_is_refused_naming_the_file() {
    let (dir, options) = temp_db("too-new");
    {
        let db = open_db(&options.path()).expect("open");
        db.pragma_update(None, "user_version", 99)
            .expect("set version");
    }
    let error = match Store::open(&options, Timestamp(0)) {
        Ok(_) => panic!("a schema from the future was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("history.sqlite3"), "{error}");
    assert!(error.contains("schema version 99"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn room_messages_of_a_version_7_database_move_into_blocks_and_other_rows_stay() {
    let (dir, options) = temp_db("migrate-blocks");
    {
        let db = open_db(&options.path()).expect("open");
        for (i, sql) in MIGRATIONS.iter().enumerate().take(BLOCKS_VERSION - 1) {
            db.execute_batch(&format!(
                "BEGIN; {sql} PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .expect("an older schema");
        }
        db.execute_batch(
            "INSERT INTO events (id, at, kind, room, target, source, text) VALUES
                 (1, 1000, 'privmsg', '#a', '#A', 'x!x@h', 'one'),
                 (2, 1001, 'redact', '#a', '#A', 'x!x@h', '9'),
                 (3, 1002, 'notice', '#a', '#A', 'x!x@h', 'two'),
                 (4, 1003, 'privmsg', '#b', '#b', 'y!y@h', 'three');
             UPDATE meta SET value = 4 WHERE key = 'indexed_through';",
        )
        .expect("version-7 rows");
    }
    let w = worker(&options);
    assert_eq!(texts(&w, "#a"), ["one", "9", "two"]);
    assert_eq!(w.messages.get("#a"), Some(&2));
    let rows: i64 =
        w.db.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count");
    assert_eq!(rows, 1, "only the redaction is still a row of events");
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    let texts: Vec<&str> = restored.records.iter().map(|r| &*r.text).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert_eq!(restored.next_id, 5);
    drop(w);
    let _ = std::fs::remove_dir_all(dir);
}

/// A data directory as natter left it before history and state had files
/// of their own (schema version 8): one database, in WAL mode.
fn version_8_database(options: &StoreOptions) {
    let db = Connection::open(options.path()).expect("open");
    let mode: String = db
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .expect("wal");
    assert_eq!(mode, "wal");
    for (i, sql) in MIGRATIONS.iter().enumerate().take(STATE_VERSION - 1) {
        db.execute_batch(&format!(
            "BEGIN; {sql} PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .expect("an older schema");
    }
    db.execute_batch(
        "INSERT INTO blocks VALUES (1, '#a', 1, 1000, 1000, 0, x'');
         INSERT INTO events (id, at, kind, room, target, source, text, from_account, to_account)
             VALUES (2, 1001, 'private', 'bob', 'bob', 'alice!a@h', 'hi', 'alice', 'bob');
         UPDATE meta SET value = 2 WHERE key = 'indexed_through';
         INSERT INTO read_markers VALUES ('alice', '#a', 1000, 1001);
         INSERT INTO accounts VALUES ('alice', 'Alice', '$argon2id$x', '', NULL, 5, '');
         INSERT INTO accounts VALUES ('bob', 'bob', '$argon2id$y', '', 'b@h', 6, '');
         INSERT INTO registered_rooms VALUES ('#a', '{}');
         INSERT INTO server_bans VALUES ('*!*@bad', 'spam', 'oper', 7, NULL);",
    )
    .expect("version-8 rows");
}

#[test]
fn accounts_rooms_bans_and_markers_of_a_version_8_database_move_to_the_state_file() {
    let (dir, options) = temp_db("migrate-state");
    version_8_database(&options);
    let (store, restored) = Store::open(&options, Timestamp(2000)).expect("migrates");
    drop(store);
    let names: Vec<&str> = restored.accounts.iter().map(|a| &*a.name).collect();
    assert_eq!(names, ["Alice", "bob"]);
    assert_eq!(restored.read_markers.len(), 1);
    assert_eq!(restored.server_bans.len(), 1);
    let texts: Vec<&str> = restored.records.iter().map(|r| &*r.text).collect();
    assert_eq!(texts, ["hi"], "history stays");
    // Each table is in one file only, and history keeps a rollback journal.
    let tables = |file: &str| -> Vec<String> {
        let db = Connection::open(dir.join(file)).expect("open");
        let names = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        names
    };
    assert_eq!(tables(DB_FILE), ["blocks", "events", "meta"]);
    assert_eq!(
        tables(STATE_FILE),
        [
            "accounts",
            "read_markers",
            "registered_rooms",
            "server_bans"
        ]
    );
    let db = open_db(&options.path()).expect("open");
    let mode = |schema| -> String {
        db.pragma_query_value(Some(schema), "journal_mode", |r| r.get(0))
            .expect("mode")
    };
    assert_eq!(
        (mode("main"), mode("state")),
        ("persist".into(), "wal".into())
    );
    assert!(
        !dir.join(format!("{DB_FILE}-wal")).exists(),
        "the old WAL went"
    );
    let rooms: String = Connection::open(dir.join(STATE_FILE))
        .expect("open")
        .query_row("SELECT state FROM registered_rooms", [], |r| r.get(0))
        .expect("the registered room");
    assert_eq!(rooms, "{}");
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_missing_state_file_starts_empty_and_history_is_kept() {
    let (dir, options) = temp_db("state-gone");
    version_8_database(&options);
    let (store, _) = Store::open(&options, Timestamp(2000)).expect("migrates");
    drop(store);
    std::fs::remove_file(dir.join(STATE_FILE)).expect("state file moved away");
    let (store, restored) = Store::open(&options, Timestamp(2000)).expect("starts");
    assert!(restored.accounts.is_empty());
    assert!(restored.read_markers.is_empty());
    // The private message is kept, but with its accounts gone it is
    // nobody's to replay.
    assert!(restored.records.is_empty());
    let kept: i64 = Connection::open(options.path())
        .expect("open")
        .query_row("SELECT COUNT(*) FROM events WHERE text = 'hi'", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(kept, 1);
    // And it works: what is set now is kept.
    let commit = store.begin_commit_with_markers(
        Frame::default(),
        vec![marker("carol", "#a", 9)],
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    futures_lite::future::block_on(commit.wait());
    drop(store);
    let (store, restored) = Store::open(&options, Timestamp(2000)).expect("restarts");
    drop(store);
    assert_eq!(restored.read_markers.len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}
