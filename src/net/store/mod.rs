//! The durable history store: an SQLite database on its own thread.
//!
//! Owns the database file (`history.sqlite3` in the data directory): opening
//! and migrating it (`PRAGMA user_version`), WAL mode, loading what the core
//! needs at startup, committing [`HistoryRecord`]s in groups (one
//! transaction per batch of core events, never one per message), and
//! retention (`--history-max-age`, `--history-max-messages`), pruned in
//! small chunks between commits so that chat never waits long behind it.
//! WAL checkpoints (which wait on the disk) run on a second thread and
//! connection, `natter-checkpoint`, so no commit ever waits behind one. A
//! lock on the data directory keeps a second server off the database.
//!
//! Must never run on the async executor: every SQLite call happens on the
//! `natter-store` or `natter-checkpoint` thread (or, at startup, before the
//! server serves anyone).
//! Must never stop live chat: a failed commit is retried once after
//! truncating the WAL, then reported on stderr (when writes start failing,
//! not once per commit) and the held lines are released anyway.
//!
//! Durability: the database runs in WAL mode with `synchronous=NORMAL`. A
//! committed transaction is in the WAL file (in the operating system's page
//! cache) before [`Store::commit`] returns, so it survives the server
//! process being killed at any moment (`kill -9`). A power cut or kernel
//! crash may lose the commits since the last WAL checkpoint (at most
//! 200 ms ago while the disk keeps up).

mod accounts;
mod bans;
mod rooms;

pub use accounts::AccountChange;
pub use bans::ServerBanChange;
pub use rooms::RoomChange;

use crate::core::{
    Account, HistoryKind, HistoryRecord, MarkerChange, ReadMarker, RegisteredRoom, ServerBan,
    Timestamp,
};
use crate::proto::casefold;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "history.sqlite3";
/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(2);
/// How often the checkpointer thread copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// Bytes the WAL file is trimmed back to after a burst grew it.
const WAL_SIZE_LIMIT: i64 = 64 << 20;
/// Most rows one retention step deletes (one short transaction).
const PRUNE_CHUNK: usize = 5000;

/// The schema, one migration per version; `PRAGMA user_version` counts how
/// many have been applied. Append new migrations; never edit old ones.
const MIGRATIONS: &[&str] = &[
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
];

/// Where the store lives and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The directory holding [`DB_FILE`]; created if missing.
    pub data_dir: PathBuf,
    /// Most PRIVMSG/NOTICE rows kept per room.
    pub max_messages: usize,
    /// Rows older than this many seconds are deleted; 0 keeps them.
    pub max_age_secs: u64,
}

impl StoreOptions {
    /// The database file's path.
    pub fn path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }
}

/// Why the history database cannot be used.
#[derive(Debug)]
pub enum StoreError {
    /// Another process holds the database.
    Locked { path: PathBuf },
    /// The file is not an SQLite database, or is damaged.
    Corrupt { path: PathBuf, detail: String },
    /// The file or its directory cannot be created, opened or written.
    Unwritable { path: PathBuf, detail: String },
    /// A newer natter created this database.
    TooNew { path: PathBuf, version: i64 },
    /// Anything else SQLite reported.
    Other { path: PathBuf, detail: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { path } => write!(
                f,
                "the history database {} is in use by another process: stop the other \
                 natter-server, or give this one its own --data-dir",
                path.display()
            ),
            StoreError::Corrupt { path, detail } => write!(
                f,
                "the history database {} is damaged or not a database ({detail}): move it \
                 aside (natter then starts an empty one) or restore it from a backup",
                path.display()
            ),
            StoreError::Unwritable { path, detail } => write!(
                f,
                "cannot create or write the history database {} ({detail}): make its \
                 directory writable, or choose another with --data-dir",
                path.display()
            ),
            StoreError::TooNew { path, version } => write!(
                f,
                "the history database {} has schema version {version}, newer than this \
                 natter-server knows ({}): run the newer natter-server, or use another --data-dir",
                path.display(),
                MIGRATIONS.len()
            ),
            StoreError::Other { path, detail } => write!(
                f,
                "cannot use the history database {}: {detail}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    let detail = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { path, detail }
        }
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure,
        ) => StoreError::Unwritable { path, detail },
        _ => StoreError::Other { path, detail },
    }
}

/// What the store kept from earlier runs, for
/// [`crate::core::Event::HistoryRestored`].
#[derive(Debug, Default)]
pub struct Restored {
    /// The newest retained PRIVMSG/NOTICE rows of every room, oldest
    /// first, then the newest private messages of accounts, oldest first.
    pub records: Vec<HistoryRecord>,
    /// The next unused message id.
    pub next_id: u64,
    /// Every read marker, least recently set first.
    pub read_markers: Vec<ReadMarker>,
    /// Every account.
    pub accounts: Vec<Account>,
    /// Every room registered with ChanServ.
    pub rooms: Vec<RegisteredRoom>,
    /// Every server ban (KLINE), expired ones included.
    pub server_bans: Vec<ServerBan>,
}

enum Request {
    Commit {
        records: Vec<HistoryRecord>,
        markers: Vec<MarkerChange>,
        accounts: Vec<AccountChange>,
        rooms: Vec<RoomChange>,
        bans: Vec<ServerBanChange>,
        /// Dropped (closing the channel) once the commit has finished:
        /// unlike a message, a closed channel stays closed, so a `Commit`
        /// reads as done however often it is asked.
        done: async_channel::Sender<()>,
    },
}

/// A handle on the store thread.
pub struct Store {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating if needed) the database, loads what the
    /// core needs, and starts the store thread.
    pub fn open(options: &StoreOptions, now: Timestamp) -> Result<(Store, Restored), StoreError> {
        let path = options.path();
        std::fs::create_dir_all(&options.data_dir).map_err(|e| StoreError::Unwritable {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let lock = lock_data_dir(&options.data_dir, &path)?;
        let db = open_db(&path).map_err(|e| classify(&path, e))?;
        migrate(&db, &path)?;
        let restored = load(&db, options, now).map_err(|e| classify(&path, e))?;
        let checkpoints = open_db(&path).map_err(|e| classify(&path, e))?;
        let (requests, inbox) = mpsc::channel();
        let worker = Worker::new(db, path.clone(), options).map_err(|e| classify(&path, e))?;
        let spawn_failed = |e: std::io::Error| StoreError::Other {
            path: path.clone(),
            detail: format!("cannot start the store threads: {e}"),
        };
        let (stop_checkpoints, stopped) = mpsc::channel();
        let checkpoint_thread = std::thread::Builder::new()
            .name("natter-checkpoint".into())
            .spawn(move || checkpointer(checkpoints, stopped))
            .map_err(spawn_failed)?;
        let thread = std::thread::Builder::new()
            .name("natter-store".into())
            .spawn(move || {
                worker.run(inbox, stop_checkpoints, checkpoint_thread);
                // Released only once the last commit is done.
                drop(lock);
            })
            .map_err(spawn_failed)?;
        Ok((
            Store {
                requests: Some(requests),
                thread: Some(thread),
                path,
            },
            restored,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits `records` in one transaction; resolves once they are durable
    /// (or once the failure has been reported: live chat goes on).
    pub async fn commit(&self, records: Vec<HistoryRecord>) {
        self.begin_commit(records).wait().await;
    }

    /// Hands `records` to the store thread to commit in one transaction
    /// (together with any other batch already waiting) and returns at once.
    /// Commits finish in the order they were begun.
    pub fn begin_commit(&self, records: Vec<HistoryRecord>) -> Commit {
        self.begin_commit_with_markers(records, Vec::new(), Vec::new(), Vec::new(), Vec::new())
    }

    /// Like [`Store::begin_commit`], with read marker, account, registered
    /// room and server ban changes in the same transaction (after the records).
    pub fn begin_commit_with_markers(
        &self,
        records: Vec<HistoryRecord>,
        markers: Vec<MarkerChange>,
        accounts: Vec<AccountChange>,
        rooms: Vec<RoomChange>,
        bans: Vec<ServerBanChange>,
    ) -> Commit {
        let (done, wait) = async_channel::bounded(1);
        if let Some(requests) = &self.requests {
            // If the thread is gone, `done` is dropped here and the commit
            // reads as finished: there is nothing left to wait for.
            let _ = requests.send(Request::Commit {
                records,
                markers,
                accounts,
                rooms,
                bans,
                done,
            });
        }
        Commit(wait)
    }
}

/// A commit the store thread is working on.
#[derive(Debug)]
pub struct Commit(async_channel::Receiver<()>);

impl Commit {
    /// Resolves once the records are durable (or their failure reported).
    pub async fn wait(&self) {
        // Nothing is ever sent: this returns when the store drops the sender.
        let _ = self.0.recv().await;
    }

    /// Whether the commit has finished (stays true once it is).
    pub fn is_done(&self) -> bool {
        self.0.is_closed()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags)?;
    db.busy_timeout(Duration::from_millis(200))?;
    let mode: String = db.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("WAL mode unavailable (journal_mode is {mode})")),
        ));
    }
    db.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints belong to the checkpointer thread, never to a commit.
    db.pragma_update(None, "wal_autocheckpoint", 0)?;
    // The WAL is reused from its start after each checkpoint; this only
    // trims it back after a burst made it large.
    db.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(db)
}

/// Takes an exclusive lock on the data directory, held for as long as the
/// returned file is open: one natter-server per database. A file system
/// without locks (some network mounts) gets a warning, not a refusal.
fn lock_data_dir(dir: &Path, path: &Path) -> Result<Option<std::fs::File>, StoreError> {
    let handle = std::fs::File::open(dir).map_err(|e| StoreError::Unwritable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    match handle.try_lock() {
        Ok(()) => Ok(Some(handle)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            eprintln!(
                "natter-server: cannot lock {} ({e}); make sure no other natter-server \
                 uses this --data-dir",
                dir.display()
            );
            Ok(None)
        }
    }
}

/// Moves committed pages from the WAL into the database every
/// [`CHECKPOINT_EVERY`], on its own connection and thread, until `stop`
/// closes. A checkpoint waits on the disk (fsync); done by a commit, as
/// SQLite's automatic checkpoint does it, that wait stalled every message
/// behind it. Errors are left for the next round: the pages stay safe in
/// the WAL meanwhile, and the store reports write errors itself.
fn checkpointer(db: Connection, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let _ = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

fn migrate(db: &Connection, path: &Path) -> Result<(), StoreError> {
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
        let step = format!("BEGIN; {sql} PRAGMA user_version = {}; COMMIT;", i + 1);
        if let Err(e) = db.execute_batch(&step) {
            let _ = db.execute_batch("ROLLBACK;");
            return Err(classify(path, e));
        }
    }
    Ok(())
}

fn load(db: &Connection, options: &StoreOptions, now: Timestamp) -> rusqlite::Result<Restored> {
    let cutoff = cutoff(options.max_age_secs, now);
    let mut stmt = db.prepare(
        "SELECT id, at, kind, target, source, text FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY room ORDER BY id DESC) AS rn
             FROM events
             WHERE kind IN ('privmsg', 'notice') AND at >= ?1
         ) WHERE rn <= ?2 ORDER BY id",
    )?;
    let max = i64::try_from(options.max_messages).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![cutoff as i64, max], |r| {
        let kind: String = r.get(2)?;
        Ok(HistoryRecord {
            id: r.get::<_, i64>(0)? as u64,
            at: Timestamp(r.get::<_, i64>(1)? as u64),
            kind: HistoryKind::parse(&kind).unwrap_or(HistoryKind::Privmsg),
            target: r.get(3)?,
            source: r.get(4)?,
            text: r.get(5)?,
            from_account: None,
            to_account: None,
        })
    })?;
    let mut records = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    records.extend(load_private(db, cutoff)?);
    let next_id: i64 = db.query_row("SELECT value FROM meta WHERE key = 'next_id'", [], |r| {
        r.get(0)
    })?;
    let max_id: i64 = db.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    let read_markers = db
        .prepare(
            "SELECT owner, target, at, set_at FROM read_markers ORDER BY set_at, owner, target",
        )?
        .query_map([], |r| {
            Ok(ReadMarker {
                owner: r.get(0)?,
                target: r.get(1)?,
                at: Timestamp(r.get::<_, i64>(2)?.max(0) as u64),
                set_at: Timestamp(r.get::<_, i64>(3)?.max(0) as u64),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Restored {
        records,
        next_id: (next_id.max(max_id + 1)).max(1) as u64,
        read_markers,
        accounts: accounts::load_accounts(db)?,
        rooms: rooms::load_rooms(db, &options.path())?,
        server_bans: bans::load_server_bans(db)?,
    })
}

/// Most private messages restored at startup (newest first): what bounds
/// the memory the replayable private history takes after a restart.
const MAX_PRIVATE_RESTORED: i64 = 100_000;

/// The newest private messages that belong to an account (at either end),
/// oldest first.
fn load_private(db: &Connection, cutoff: u64) -> rusqlite::Result<Vec<HistoryRecord>> {
    let mut stmt = db.prepare(
        "SELECT id, at, target, source, text, from_account, to_account FROM events
         WHERE kind = 'private' AND at >= ?1
           AND (from_account IS NOT NULL OR to_account IS NOT NULL)
         ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![cutoff as i64, MAX_PRIVATE_RESTORED], |r| {
        Ok(HistoryRecord {
            id: r.get::<_, i64>(0)? as u64,
            at: Timestamp(r.get::<_, i64>(1)? as u64),
            kind: HistoryKind::Private,
            target: r.get(2)?,
            source: r.get(3)?,
            text: r.get(4)?,
            from_account: r.get(5)?,
            to_account: r.get(6)?,
        })
    })?;
    let mut records = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    records.reverse();
    Ok(records)
}

/// Rows before this time are expired (0: none are).
fn cutoff(max_age_secs: u64, now: Timestamp) -> u64 {
    if max_age_secs == 0 {
        0
    } else {
        now.0.saturating_sub(max_age_secs.saturating_mul(1000))
    }
}

struct Worker {
    db: Connection,
    path: PathBuf,
    max_messages: usize,
    max_age_secs: u64,
    last_prune: Option<Instant>,
    /// Stored PRIVMSG/NOTICE rows per case-folded room: counted once at
    /// start, then kept up to date, so retention never scans the table (a
    /// scan every few seconds would stall every commit behind it).
    messages: BTreeMap<String, usize>,
    health: WriteHealth,
}

impl Worker {
    fn new(db: Connection, path: PathBuf, options: &StoreOptions) -> rusqlite::Result<Worker> {
        let messages = {
            let mut stmt = db.prepare(
                "SELECT room, COUNT(*) FROM events WHERE kind IN ('privmsg', 'notice') GROUP BY room",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            rows.map(|row| row.map(|(room, n)| (room, usize::try_from(n).unwrap_or(0))))
                .collect::<rusqlite::Result<_>>()?
        };
        Ok(Worker {
            db,
            path,
            max_messages: options.max_messages,
            max_age_secs: options.max_age_secs,
            last_prune: None,
            messages,
            health: WriteHealth::default(),
        })
    }

    /// Commits and prunes until every [`Store`] handle is gone; then stops
    /// the checkpointer and leaves the WAL checkpointed and truncated.
    fn run(
        mut self,
        inbox: mpsc::Receiver<Request>,
        stop_checkpoints: mpsc::Sender<()>,
        checkpoint_thread: JoinHandle<()>,
    ) {
        self.serve(inbox);
        drop(stop_checkpoints);
        let _ = checkpoint_thread.join();
        self.shrink_wal();
    }

    fn serve(&mut self, inbox: mpsc::Receiver<Request>) {
        loop {
            match inbox.recv_timeout(PRUNE_EVERY) {
                Ok(Request::Commit {
                    records,
                    markers,
                    accounts,
                    rooms,
                    bans,
                    done,
                }) => {
                    // Group commit: whatever else is already waiting joins
                    // this transaction.
                    let (mut records, mut markers, mut accounts, mut rooms, mut bans) =
                        (records, markers, accounts, rooms, bans);
                    let mut waiting = vec![done];
                    while let Ok(Request::Commit {
                        records: more,
                        markers: more_markers,
                        accounts: more_accounts,
                        rooms: more_rooms,
                        bans: more_bans,
                        done,
                    }) = inbox.try_recv()
                    {
                        records.extend(more);
                        markers.extend(more_markers);
                        accounts.extend(more_accounts);
                        rooms.extend(more_rooms);
                        bans.extend(more_bans);
                        waiting.push(done);
                    }
                    let changes = Changes {
                        markers: &markers,
                        accounts: &accounts,
                        rooms: &rooms,
                        bans: &bans,
                    };
                    let outcome = self.write_all(&records, changes).or_else(|_| {
                        // A full disk or a file-size limit often leaves room
                        // once the WAL is checkpointed and truncated: try once more.
                        self.shrink_wal();
                        self.write_all(&records, changes)
                    });
                    let now = Instant::now();
                    if let Some(report) =
                        self.health.record(outcome, records.len(), &self.path, now)
                    {
                        eprintln!("{report}");
                    }
                    // Closing each channel tells its `Commit` it is done.
                    drop(waiting);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if self.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                self.last_prune = Some(Instant::now());
                if let Err(e) = self.prune_step() {
                    eprintln!(
                        "natter-server: history retention failed in {}: {e}",
                        self.path.display()
                    );
                }
            }
        }
    }

    #[cfg(test)]
    fn write(&mut self, records: &[HistoryRecord]) -> rusqlite::Result<()> {
        self.write_all(records, Changes::default())
    }

    /// Stores `records` and then the other `changes` in one transaction. A
    /// `Redact` record deletes the message it names; a `Rename` record moves
    /// its room's rows (all but earlier renames, which stay at the name they
    /// left) and read markers to the new name.
    fn write_all(&mut self, records: &[HistoryRecord], changes: Changes) -> rusqlite::Result<()> {
        let Changes {
            markers,
            accounts,
            rooms,
            bans,
        } = changes;
        // Changes to the per-room message counts, in record order, applied
        // only once the transaction has committed.
        let mut counts: Vec<Count> = Vec::with_capacity(records.len());
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events
                     (id, at, kind, room, target, source, text, from_account, to_account)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for r in records {
                let room = casefold(&r.target);
                insert.execute(params![
                    r.id as i64,
                    r.at.0 as i64,
                    r.kind.as_str(),
                    room,
                    r.target,
                    r.source,
                    r.text,
                    r.from_account,
                    r.to_account
                ])?;
                match r.kind {
                    HistoryKind::Redact => {
                        let fewer = redact(&tx, &room, &r.text)?;
                        counts.extend(fewer.then_some(Count::Less(room)));
                    }
                    HistoryKind::Rename => {
                        let moved = rename(&tx, &room, &r.text)?;
                        counts.extend(moved.map(|new| Count::Moved(room, new)));
                    }
                    kind if kind.is_replayed() => counts.push(Count::More(room)),
                    _ => {}
                }
            }
        }
        if !markers.is_empty() {
            save_markers(&tx, markers)?;
        }
        if !accounts.is_empty() {
            accounts::save_accounts(&tx, accounts)?;
        }
        if !rooms.is_empty() {
            rooms::save_rooms(&tx, rooms)?;
        }
        if !bans.is_empty() {
            bans::save_server_bans(&tx, bans)?;
        }
        tx.commit()?;
        for count in counts {
            match count {
                Count::More(room) => *self.messages.entry(room).or_default() += 1,
                Count::Less(room) => {
                    if let Some(n) = self.messages.get_mut(&room) {
                        *n = n.saturating_sub(1);
                    }
                }
                Count::Moved(old, new) => {
                    if let Some(n) = self.messages.remove(&old) {
                        *self.messages.entry(new).or_default() += n;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checkpoints the WAL into the database and truncates it, giving its
    /// space back to the file system. Failure is fine: the retry then fails
    /// too, and that is what gets reported.
    fn shrink_wal(&self) {
        let _ = self
            .db
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// One round of retention. Age: the expired rows among the
    /// [`PRUNE_CHUNK`] oldest ids (ids follow server time, so these are the
    /// oldest rows; a row stamped earlier than an older id, after the clock
    /// was set back, waits until that one expires too). Count: for each room past the
    /// maximum, by the kept counts, everything before its oldest message that
    /// stays (through the index on `(room, id)`). Never scans the table.
    fn prune_step(&mut self) -> rusqlite::Result<()> {
        // The next id is the largest stored one plus one (see `load`); before
        // retention may delete the newest rows, remember it in `meta`, so ids
        // are never reused even if every row goes. (Kept here rather than in
        // every commit: one page fewer to write per commit.)
        self.db.execute(
            "UPDATE meta SET value = MAX(value, (SELECT COALESCE(MAX(id), 0) + 1 FROM events))
             WHERE key = 'next_id'",
            [],
        )?;
        let cutoff = cutoff(self.max_age_secs, crate::net::wall_now());
        if cutoff > 0 {
            let removed: Vec<(String, String)> = self
                .db
                .prepare_cached(
                    "DELETE FROM events WHERE id IN
                         (SELECT id FROM (SELECT id, at FROM events ORDER BY id LIMIT ?2)
                          WHERE at < ?1)
                     RETURNING room, kind",
                )?
                .query_map(params![cutoff as i64, PRUNE_CHUNK as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (room, kind) in removed {
                if HistoryKind::parse(&kind).is_some_and(HistoryKind::is_replayed) {
                    if let Some(n) = self.messages.get_mut(&room) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
        }
        let max = self.max_messages;
        let over: Vec<(String, usize)> = self
            .messages
            .iter()
            .filter(|(_, &n)| n > max)
            .map(|(room, &n)| (room.clone(), n - max))
            .collect();
        for (room, excess) in over {
            // The oldest message that stays; everything of the room before it goes.
            let keep_from: Option<i64> = self
                .db
                .query_row(
                    "SELECT id FROM events WHERE room = ?1 AND kind IN ('privmsg', 'notice')
                     ORDER BY id LIMIT 1 OFFSET ?2",
                    params![room, excess as i64],
                    |r| r.get(0),
                )
                .optional()?;
            let left = match keep_from {
                Some(keep_from) => {
                    self.db.execute(
                        "DELETE FROM events WHERE room = ?1 AND id < ?2",
                        params![room, keep_from],
                    )?;
                    max
                }
                // Fewer rows than counted: count this one room again.
                None => usize::try_from(self.db.query_row(
                    "SELECT COUNT(*) FROM events WHERE room = ?1 AND kind IN ('privmsg', 'notice')",
                    params![room],
                    |r| r.get::<_, i64>(0),
                )?)
                .unwrap_or(0),
            };
            self.messages.insert(room, left);
        }
        Ok(())
    }
}

/// What a commit changes besides history records, stored after them.
#[derive(Debug, Clone, Copy, Default)]
struct Changes<'a> {
    markers: &'a [MarkerChange],
    accounts: &'a [AccountChange],
    rooms: &'a [RoomChange],
    bans: &'a [ServerBanChange],
}

/// A change to [`Worker::messages`] made by one stored record.
enum Count {
    /// A message was stored in the room.
    More(String),
    /// A message of the room was deleted (redacted).
    Less(String),
    /// The room (old, new) was renamed: its messages moved.
    Moved(String, String),
}

/// Deletes the message a `Redact` record of `room` (a room, or the nick a
/// private message went to) names (`text` is `msgid reason`); true when it
/// was a room message (one fewer to count).
fn redact(tx: &rusqlite::Transaction, room: &str, text: &str) -> rusqlite::Result<bool> {
    let Some(id) = text.split(' ').next().and_then(|id| id.parse::<i64>().ok()) else {
        return Ok(false);
    };
    let kind: Option<String> = tx
        .prepare_cached(
            "DELETE FROM events
             WHERE id = ?1 AND room = ?2 AND kind IN ('privmsg', 'notice', 'private')
             RETURNING kind",
        )?
        .query_row(params![id, room], |r| r.get(0))
        .optional()?;
    Ok(kind
        .and_then(|k| HistoryKind::parse(&k))
        .is_some_and(HistoryKind::is_replayed))
}

/// Moves `room`'s rows and read markers to the new name a `Rename` record
/// gives (`text` is `#new reason`); returns the new case-folded name.
fn rename(tx: &rusqlite::Transaction, room: &str, text: &str) -> rusqlite::Result<Option<String>> {
    let Some(new) = text.split(' ').next().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let folded = casefold(new);
    // Rename records stay where they are: each old name keeps the record
    // of where its room went.
    tx.prepare_cached(
        "UPDATE events SET room = ?1, target = ?2 WHERE room = ?3 AND kind != 'rename'",
    )?
    .execute(params![folded, new, room])?;
    if folded != room {
        // Where someone has a marker for both names, the later one stays
        // (as in the core).
        tx.prepare_cached(
            "INSERT INTO read_markers (owner, target, at, set_at)
                 SELECT owner, ?1, at, set_at FROM read_markers WHERE target = ?2
             ON CONFLICT (owner, target) DO UPDATE SET
                 set_at = CASE WHEN excluded.at > at THEN excluded.set_at ELSE set_at END,
                 at = MAX(at, excluded.at)",
        )?
        .execute(params![folded, room])?;
        tx.prepare_cached("DELETE FROM read_markers WHERE target = ?1")?
            .execute(params![room])?;
    }
    Ok(Some(folded))
}

/// Applies read marker changes, in order.
fn save_markers(tx: &rusqlite::Transaction, markers: &[MarkerChange]) -> rusqlite::Result<()> {
    let mut set = tx.prepare_cached(
        "INSERT INTO read_markers (owner, target, at, set_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (owner, target) DO UPDATE SET at = excluded.at, set_at = excluded.set_at",
    )?;
    let mut forget =
        tx.prepare_cached("DELETE FROM read_markers WHERE owner = ?1 AND target = ?2")?;
    for change in markers {
        match change {
            MarkerChange::Set(m) => {
                set.execute(params![m.owner, m.target, m.at.0 as i64, m.set_at.0 as i64])?;
            }
            MarkerChange::Forget { owner, target } => {
                forget.execute(params![owner, target])?;
            }
        }
    }
    Ok(())
}

/// How often a history store that keeps failing is reported again.
const REPORT_FAILING_EVERY: Duration = Duration::from_secs(60);

/// Whether history commits are failing. Operators hear about it on stderr
/// once when writes start failing, at most once a minute while they keep
/// failing, and once when they work again, never once per commit (a full
/// disk under a busy room would otherwise flood the terminal).
#[derive(Debug, Default)]
struct WriteHealth {
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    since: Instant,
    last_report: Instant,
    /// Records not stored since writes started failing.
    lost: usize,
}

impl WriteHealth {
    /// Notes how a commit of `records` went at `now`; returns what to tell
    /// the operator, if anything.
    fn record(
        &mut self,
        outcome: rusqlite::Result<()>,
        records: usize,
        path: &Path,
        now: Instant,
    ) -> Option<String> {
        match (outcome, &mut self.failing) {
            (Ok(()), None) => None,
            (Ok(()), Some(failing)) => {
                let report = format!(
                    "natter-server: history is being stored in {} again; {} records from the \
                     last {} s were not stored and will be missing from history after a restart",
                    path.display(),
                    failing.lost,
                    now.duration_since(failing.since).as_secs()
                );
                self.failing = None;
                Some(report)
            }
            (Err(e), None) => {
                self.failing = Some(Failing {
                    since: now,
                    last_report: now,
                    lost: records,
                });
                Some(format!(
                    "natter-server: cannot store history in {}: {e}. Live chat goes on, but \
                     messages are missing from history after a restart until this is fixed \
                     (free disk space, or check the file and its permissions); every new \
                     message retries",
                    path.display()
                ))
            }
            (Err(e), Some(failing)) => {
                failing.lost += records;
                if now.duration_since(failing.last_report) < REPORT_FAILING_EVERY {
                    return None;
                }
                failing.last_report = now;
                Some(format!(
                    "natter-server: still cannot store history in {}: {e} ({} records not \
                     stored in the last {} s)",
                    path.display(),
                    failing.lost,
                    now.duration_since(failing.since).as_secs()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
