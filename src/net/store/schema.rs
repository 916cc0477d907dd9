//! The two databases' files: opening them with the journal each suits
//! (history.sqlite3 a rollback journal, state.sqlite3 a WAL), the schema
//! and its migrations (`PRAGMA user_version` of the history file), and
//! bringing back a state file that went missing.
//!
//! Owns no thread and no data: the store opens, the worker writes. Must
//! never edit an old migration (append a new one), and never commit the
//! two files in one transaction where a crash between them could lose
//! what only one of them holds.

use super::{blocks, classify, StoreError, STATE_FILE};
use rusqlite::{params, Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Bytes a journal file of SQLite's (history's rollback journal, the
/// state database's WAL) is trimmed back to after a burst grew it.
const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

/// The schema, one migration per version; `PRAGMA user_version` counts how
/// many have been applied. Append new migrations; never edit old ones.
pub(super) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE events (
        id     INTEGER PRIMARY KEY,  -- the core's msgid
        at     INTEGER NOT NULL,     -- server time, ms since the Unix epoch
        kind   TEXT    NOT NULL,     -- privmsg notice topic join part quit private
        room   TEXT    NOT NULL,     -- case-folded target
        target TEXT    NOT NULL,     -- room as spelled, or the recipient's nick
        source TEXT    NOT NULL,     -- nick!user@host
        text   TEXT    NOT NULL
    );
    CREATE INDEX events_by_room ON events(room, id);
    CREATE INDEX events_by_time ON events(at);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('next_id', 1);
",
    "
    -- Ids follow server time, so age retention walks the oldest ids instead:
    -- one index fewer to update for every stored message.
    DROP INDEX events_by_time;
",
    "
    -- IRCv3 draft/read-marker: how far each user has read in each room or
    -- conversation. Bounded by the core (it forgets the least recently set).
    CREATE TABLE read_markers (
        owner  TEXT    NOT NULL,  -- nick!user@host (nick case-folded) until accounts exist
        target TEXT    NOT NULL,  -- case-folded room or nick
        at     INTEGER NOT NULL,  -- server time of the last message read, ms
        set_at INTEGER NOT NULL,  -- when the marker last moved, ms
        PRIMARY KEY (owner, target)
    ) WITHOUT ROWID;
",
    "
    -- Accounts (NickServ, SASL): credentials as the shell made them, never
    -- a password. certfps: space-separated SHA-256 fingerprints.
    CREATE TABLE accounts (
        name          TEXT    PRIMARY KEY,  -- case-folded
        display       TEXT    NOT NULL,     -- as registered
        password_hash TEXT    NOT NULL,     -- argon2id PHC string
        scram         TEXT    NOT NULL,     -- SCRAM-SHA-256 keys, or empty
        email         TEXT,
        registered_at INTEGER NOT NULL,     -- ms since the Unix epoch
        certfps       TEXT    NOT NULL
    ) WITHOUT ROWID;
",
    "
    -- Rooms registered with ChanServ: what survives the room emptying and a
    -- restart (founder, access list, topic, modes, ban and exception
    -- lists), as one JSON document per room.
    CREATE TABLE registered_rooms (
        name  TEXT PRIMARY KEY,  -- case-folded
        state TEXT NOT NULL      -- JSON
    ) WITHOUT ROWID;
    -- Server-wide bans (KLINE): a nick!user@host mask or an address/CIDR.
    CREATE TABLE server_bans (
        mask       TEXT    PRIMARY KEY,
        reason     TEXT    NOT NULL,
        set_by     TEXT    NOT NULL,
        set_at     INTEGER NOT NULL,  -- ms since the Unix epoch
        expires_at INTEGER            -- ms; NULL: never
    ) WITHOUT ROWID;
",
    "
    -- Private messages between accounts are replayed to their owners: the
    -- accounts logged in at each end (NULL: none).
    ALTER TABLE events ADD COLUMN from_account TEXT;
    ALTER TABLE events ADD COLUMN to_account TEXT;
",
    "
    -- The journal (history.journal-0/1) makes records durable; SQLite's
    -- rows are built behind it. Records up to this id are in SQLite; the
    -- journal's later ones are replayed at startup.
    INSERT INTO meta (key, value) SELECT 'indexed_through', COALESCE(MAX(id), 0) FROM events;
",
    // Room messages move into blocks (`blocks::CREATE`); `blocks::pack_events`
    // moves the rows in the same transaction.
    blocks::CREATE,
    "
    -- Accounts, registered rooms, server bans and read markers live in
    -- state.sqlite3 (`STATE_TABLES`), copied there by `move_to_state` in a
    -- transaction of its own just before this one.
    DROP TABLE main.read_markers;
    DROP TABLE main.accounts;
    DROP TABLE main.registered_rooms;
    DROP TABLE main.server_bans;
",
];

/// The schema version whose migration drops the tables that
/// [`move_to_state`] copied into the state database first.
pub(super) const STATE_VERSION: usize = 9;

/// The state database's tables, as the migrations above had made them in
/// the history database.
const STATE_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS state.read_markers (
        owner  TEXT    NOT NULL,  -- account, or nick!user@host (nick case-folded)
        target TEXT    NOT NULL,  -- case-folded room or nick
        at     INTEGER NOT NULL,  -- server time of the last message read, ms
        set_at INTEGER NOT NULL,  -- when the marker last moved, ms
        PRIMARY KEY (owner, target)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS state.accounts (
        name          TEXT    PRIMARY KEY,  -- case-folded
        display       TEXT    NOT NULL,     -- as registered
        password_hash TEXT    NOT NULL,     -- argon2id PHC string
        scram         TEXT    NOT NULL,     -- SCRAM-SHA-256 keys, or empty
        email         TEXT,
        registered_at INTEGER NOT NULL,     -- ms since the Unix epoch
        certfps       TEXT    NOT NULL      -- space-separated SHA-256 fingerprints
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS state.registered_rooms (
        name  TEXT PRIMARY KEY,  -- case-folded
        state TEXT NOT NULL      -- JSON
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS state.server_bans (
        mask       TEXT    PRIMARY KEY,
        reason     TEXT    NOT NULL,
        set_by     TEXT    NOT NULL,
        set_at     INTEGER NOT NULL,  -- ms since the Unix epoch
        expires_at INTEGER            -- ms; NULL: never
    ) WITHOUT ROWID;
";

/// Copies the four state tables from the history database into the state
/// database, in a transaction that writes only the state database: the
/// history database still holds them until the next migration drops them,
/// so a crash in between loses nothing (this runs again, replacing what it
/// copied; the two files are never committed together, which SQLite makes
/// atomic for neither a WAL nor a crash of the machine).
fn move_to_state(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(&format!(
        "BEGIN; {STATE_TABLES}
         INSERT OR REPLACE INTO state.read_markers SELECT * FROM main.read_markers;
         INSERT OR REPLACE INTO state.accounts SELECT * FROM main.accounts;
         INSERT OR REPLACE INTO state.registered_rooms SELECT * FROM main.registered_rooms;
         INSERT OR REPLACE INTO state.server_bans SELECT * FROM main.server_bans;
         COMMIT;"
    ))
}

/// The schema version whose migration is [`blocks::CREATE`], after which
/// [`blocks::pack_events`] runs in the same transaction.
pub(super) const BLOCKS_VERSION: usize = 8;

/// The page size of a new history database. Its blocks of up to 32 KiB
/// then take three pages, not nine, and the indexer writes a quarter as
/// many pages: its thread's CPU over `natter-bench rooms --rooms 200 -n 5
/// -m 500`, three runs each, 13/15/15 ticks with 4 KiB pages, 10/11/8 with
/// 16 KiB and 10/13/11 with 64 KiB.
pub(super) const HISTORY_PAGE_SIZE: i64 = 16 << 10;

/// Opens the history database at `path` with the state database beside
/// it attached as `state` (see [`STATE_FILE`]).
///
/// History (`main`) keeps a rollback journal (`history.sqlite3-journal`),
/// not a WAL: nothing ever waits on its commits (the journal already made
/// their records durable), which only add pages at its end; with a WAL
/// each such page was written twice (to the WAL, then by a checkpoint to
/// the database) and read once more in between. Measured over `natter-bench
/// rooms --rooms 200 -n 5 -m 500` (per-thread CPU from /proc): the store's
/// and the checkpointer's threads 17 to 24 ticks with a WAL, 9 to 11 with
/// the rollback journal. `synchronous=FULL`: a commit is on the disk when
/// it returns, so the journal file it lets go of is never needed again.
///
/// State keeps the WAL: its small commits are waited for (a reply is held
/// until its read marker or account is stored), and a WAL commit waits for
/// no disk; the checkpointer thread moves it into `state.sqlite3`.
pub(super) fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let db = open_file(path)?;
    // Takes effect only on a new file (an existing one keeps its size).
    db.pragma_update(Some("main"), "page_size", HISTORY_PAGE_SIZE)?;
    journal_mode(&db, "main", "persist")?;
    db.pragma_update(Some("main"), "synchronous", "FULL")?;
    db.pragma_update(Some("main"), "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    let state = path.with_file_name(STATE_FILE);
    db.execute(
        "ATTACH DATABASE ?1 AS state",
        params![state.to_string_lossy()],
    )?;
    state_pragmas(&db, "state")?;
    Ok(db)
}

/// Opens the state database alone, for the checkpointer.
pub(super) fn open_state(path: &Path) -> rusqlite::Result<Connection> {
    let db = open_file(&path.with_file_name(STATE_FILE))?;
    state_pragmas(&db, "main")?;
    Ok(db)
}

fn open_file(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags)?;
    db.busy_timeout(Duration::from_millis(200))?;
    Ok(db)
}

/// WAL mode for the state database `schema`, checkpointed only by the
/// checkpointer thread.
fn state_pragmas(db: &Connection, schema: &str) -> rusqlite::Result<()> {
    journal_mode(db, schema, "wal")?;
    db.pragma_update(Some(schema), "synchronous", "NORMAL")?;
    // Checkpoints belong to the checkpointer thread, never to a commit.
    db.pragma_update(Some(schema), "wal_autocheckpoint", 0)?;
    // The WAL is reused from its start after each checkpoint; this only
    // trims it back after a burst made it large.
    db.pragma_update(Some(schema), "journal_size_limit", JOURNAL_SIZE_LIMIT)
}

/// Sets `schema`'s journal mode, or says why it could not be.
fn journal_mode(db: &Connection, schema: &str, mode: &str) -> rusqlite::Result<()> {
    let set: String =
        db.pragma_update_and_check(Some(schema), "journal_mode", mode, |r| r.get(0))?;
    if set.eq_ignore_ascii_case(mode) {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("journal_mode {mode} unavailable (it is {set})")),
        ))
    }
}

pub(super) fn migrate(db: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            version,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let step = || -> rusqlite::Result<()> {
            if i + 1 == STATE_VERSION {
                move_to_state(db)?;
            }
            db.execute_batch(&format!("BEGIN; {sql}"))?;
            if i + 1 == BLOCKS_VERSION {
                blocks::pack_events(db)?;
            }
            db.execute_batch(&format!("PRAGMA user_version = {}; COMMIT;", i + 1))
        };
        if let Err(e) = step() {
            let _ = db.execute_batch("ROLLBACK;");
            return Err(classify(path, e));
        }
    }
    if version >= STATE_VERSION as i64 {
        restore_missing_state(db, path).map_err(|e| classify(path, e))?;
    }
    Ok(())
}

/// A history database whose state database has gone (moved away, or left
/// out of a backup) starts an empty one, and says so.
fn restore_missing_state(db: &Connection, path: &Path) -> rusqlite::Result<()> {
    let tables: i64 = db.query_row(
        "SELECT COUNT(*) FROM state.sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if tables == 0 {
        eprintln!(
            "natter-server: {} was missing, so accounts, registered rooms, server bans and read \
             markers start empty; restore it from a backup (it belongs with {}) to get them back",
            path.with_file_name(STATE_FILE).display(),
            path.display()
        );
        db.execute_batch(&format!("BEGIN; {STATE_TABLES} COMMIT;"))?;
    }
    Ok(())
}
