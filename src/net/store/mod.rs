//! The durable history store: a journal for speed, SQLite for keeping.
//!
//! Owns the data directory's history: the journal (`history.journal-0/1`,
//! see `journal`) and two SQLite databases, one connection for both:
//! `history.sqlite3` (room messages packed in blocks, see `blocks`; other
//! records as rows), built behind the journal and kept with a rollback
//! journal, and `state.sqlite3` (accounts, registered rooms, server bans,
//! read markers; WAL mode), whose commits are waited for. Opening and
//! migrating them (`PRAGMA user_version` of the history file), replaying
//! the journal's tail and loading what the core needs at startup,
//! and retention (`--history-max-age`, `--history-max-messages`), pruned in
//! small chunks between commits so that chat never waits long behind it.
//!
//! The journal is written by whoever begins the commit, the core task,
//! with one `write()` of the batch's records to the page cache (tens of
//! microseconds): the commit is finished when [`Store::begin_commit`]
//! returns, and the held lines go out at once. Measured against a journal
//! thread, this saved a thread hop, two wake-ups and a copy per batch.
//! With `--fsync`, where each write also waits for the disk, a thread of
//! its own does it instead, so that the core goes on with the next batches
//! meanwhile. Either way everything is then handed on to the indexer, in
//! order. The indexer and the checkpointer have threads of their own, none
//! of them the async executor's:
//! - `natter-journal` (only with `--fsync`) takes each group of commits,
//!   writes their records to the journal with one `write()` and
//!   `fdatasync`, and finishes their [`Commit`]s.
//! - `natter-store` (the indexer, `worker` and `index_queue`) builds
//!   history's rows behind the journal in large transactions, and commits
//!   at once what the journal does not carry (read markers, accounts,
//!   registered rooms, server bans, to the state database), finishing
//!   their `Commit`s only then.
//! - `natter-checkpoint` moves the state database's WAL into it on its
//!   own connection, so no commit ever waits behind a checkpoint.
//!
//! A lock on the data directory keeps a second server off it.
//!
//! Must never stop live chat: a failed write is reported on stderr (when
//! writes start failing, not once per commit) and the held lines are
//! released anyway.
//!
//! Durability: a record is acknowledged once the journal's `write()` has
//! returned: it is in the operating system's page cache and survives the
//! server process being killed at any moment (`kill -9`). A power cut or
//! kernel crash may lose what the kernel had not yet written back (Linux
//! writes dirty pages back within about 30 s); `--fsync` makes every
//! journal write wait for the disk (`fdatasync`), at the cost of a disk
//! flush per group commit.

mod accounts;
mod bans;
mod blocks;
mod health;
mod index_queue;
mod journal;
mod rooms;
mod schema;
mod worker;

pub use accounts::AccountChange;
pub use bans::ServerBanChange;
pub use rooms::RoomChange;

use crate::core::{
    Account, HistoryKind, HistoryRecord, MarkerChange, ReadMarker, RegisteredRoom, ServerBan,
    Timestamp,
};
use crate::proto::casefold;
use health::WriteHealth;
use index_queue::{Index, IndexQueue, OwnedChanges};
pub use journal::Frame;
use journal::{Journal, Span};
use rusqlite::{params, Connection, ErrorCode};
use schema::{migrate, open_db, open_state, MIGRATIONS};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use worker::Worker;

/// The history database's file name inside the data directory.
pub const DB_FILE: &str = "history.sqlite3";
/// The state database's file name, beside [`DB_FILE`]: accounts,
/// registered rooms, server bans and read markers, what people set rather
/// than said. Apart from history because its commits are waited for and
/// history's are not, and each file has the journal that suits it.
pub const STATE_FILE: &str = "state.sqlite3";
/// How often the checkpointer thread copies the state database's WAL into
/// it.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// Where the store lives and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The directory holding [`DB_FILE`]; created if missing.
    pub data_dir: PathBuf,
    /// Most PRIVMSG/NOTICE rows kept per room.
    pub max_messages: usize,
    /// Rows older than this many seconds are deleted; 0 keeps them.
    pub max_age_secs: u64,
    /// Wait for the disk (`fdatasync`) after every journal write, so that
    /// acknowledged messages survive a power cut too, not only a crash of
    /// the process.
    pub fsync: bool,
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

/// One batch of the core's changes, with the sender whose closing tells
/// its [`Commit`] the batch is durable.
struct Request {
    changes: OwnedChanges,
    /// Dropped (closing the channel) once the commit has finished: unlike
    /// a message, a closed channel stays closed, so a `Commit` reads as
    /// done however often it is asked.
    done: async_channel::Sender<()>,
}

/// Buffers of frames the journal has written, handed back to the core task
/// for its next batches: a batch's frame is neither allocated nor grown a
/// doubling at a time.
#[derive(Default)]
struct FramePool(std::sync::Mutex<Vec<Vec<u8>>>);

/// Most buffers [`FramePool`] keeps.
const POOLED_FRAMES: usize = 8;
/// Largest buffer [`FramePool`] keeps (a burst's are given back).
const MAX_POOLED_FRAME: usize = 1 << 20;

impl FramePool {
    fn take(&self) -> Frame {
        let buffer = self.lock().pop().unwrap_or_default();
        Frame::reusing(buffer)
    }

    fn give(&self, frames: impl IntoIterator<Item = Frame>) {
        let mut pool = self.lock();
        for frame in frames {
            let buffer = frame.into_buffer();
            if pool.len() < POOLED_FRAMES && buffer.capacity() <= MAX_POOLED_FRAME {
                pool.push(buffer);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Who writes the journal: the caller of [`Store::begin_commit`], or (with
/// `--fsync`) the `natter-journal` thread.
enum JournalWriter {
    Direct(std::sync::Mutex<OpenJournal>),
    Thread {
        requests: mpsc::Sender<Request>,
        thread: JoinHandle<()>,
    },
}

/// The journal with what writing it takes: whether writes are failing,
/// the indexer's queue it hands everything on to, and the pool its
/// written frames' buffers go back to. Held by whoever writes it.
struct OpenJournal {
    journal: Journal,
    health: WriteHealth,
    queue: Arc<IndexQueue>,
    pool: Arc<FramePool>,
}

/// A handle on the store's threads.
pub struct Store {
    journal: Option<JournalWriter>,
    /// Written frames' buffers, for [`Store::fresh_frame`].
    pool: Arc<FramePool>,
    index_thread: Option<JoinHandle<()>>,
    path: PathBuf,
    /// Released only once both threads are done.
    _lock: Option<std::fs::File>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database, replays the
    /// journal's records SQLite lacks, loads what the core needs, and
    /// starts the store's threads.
    pub fn open(options: &StoreOptions, now: Timestamp) -> Result<(Store, Restored), StoreError> {
        let path = options.path();
        std::fs::create_dir_all(&options.data_dir).map_err(|e| StoreError::Unwritable {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let lock = lock_data_dir(&options.data_dir, &path)?;
        let db = open_db(&path).map_err(|e| classify(&path, e))?;
        migrate(&db, &path)?;
        let mut worker = Worker::new(db, path.clone(), options).map_err(|e| classify(&path, e))?;
        let journal_error = |e: std::io::Error| StoreError::Unwritable {
            path: options.data_dir.join(journal::JOURNAL_FILES[0]),
            detail: e.to_string(),
        };
        let indexed = worker.indexed_through.load(Ordering::Acquire);
        let mut replay_failed = None;
        let damaged = Journal::replay(&options.data_dir, indexed, |frames| {
            worker.write_all(frames, Default::default()).map_err(|e| {
                replay_failed = Some(e);
                std::io::Error::other("the journal replay failed")
            })
        });
        if let Some(e) = replay_failed {
            return Err(classify(&path, e));
        }
        for (file, bytes) in damaged.map_err(journal_error)? {
            eprintln!(
                "natter-server: the last {bytes} bytes of {} were cut short or damaged (a crash \
                 in the middle of a write leaves this); what came before them is kept",
                file.display()
            );
        }
        let journal = Journal::create(
            &options.data_dir,
            options.fsync,
            worker.indexed_through.clone(),
        )
        .map_err(journal_error)?;
        let restored = load(&worker.db, options, now).map_err(|e| classify(&path, e))?;
        let checkpoints =
            open_state(&path).map_err(|e| classify(&path.with_file_name(STATE_FILE), e))?;
        let spawn_failed = |e: std::io::Error| StoreError::Other {
            path: path.clone(),
            detail: format!("cannot start the store threads: {e}"),
        };
        let (stop_checkpoints, stopped) = mpsc::channel();
        let checkpoint_thread = std::thread::Builder::new()
            .name("natter-checkpoint".into())
            .spawn(move || checkpointer(checkpoints, stopped))
            .map_err(spawn_failed)?;
        let queue = Arc::new(IndexQueue::default());
        let index_queue = queue.clone();
        let index_thread = std::thread::Builder::new()
            .name("natter-store".into())
            .spawn(move || worker.run(index_queue, stop_checkpoints, checkpoint_thread))
            .map_err(spawn_failed)?;
        let pool = Arc::new(FramePool::default());
        let open = OpenJournal {
            journal,
            health: WriteHealth::default(),
            queue,
            pool: pool.clone(),
        };
        let writer = if options.fsync {
            let (requests, inbox) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name("natter-journal".into())
                .spawn(move || write_journal(open, inbox))
                .map_err(spawn_failed)?;
            JournalWriter::Thread { requests, thread }
        } else {
            JournalWriter::Direct(std::sync::Mutex::new(open))
        };
        Ok((
            Store {
                journal: Some(writer),
                pool,
                index_thread: Some(index_thread),
                path,
                _lock: lock,
            },
            restored,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An empty frame for the next batch's records, reusing the buffer of
    /// one the journal has written when there is one.
    pub fn fresh_frame(&self) -> Frame {
        self.pool.take()
    }

    /// Commits `records`; resolves once they are durable (or once the
    /// failure has been reported: live chat goes on).
    pub async fn commit(&self, records: Vec<HistoryRecord>) {
        self.begin_commit(records).wait().await;
    }

    /// Hands `records` to the store to make durable (together with any
    /// other batch already waiting) and returns; without `--fsync` the
    /// records are in the journal by then, and a commit that carries
    /// nothing else is already done. Commits finish in the order they were
    /// begun.
    pub fn begin_commit(&self, records: Vec<HistoryRecord>) -> Commit {
        self.begin_commit_with_markers(
            Frame::of(&records),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        )
    }

    /// Like [`Store::begin_commit`], with the records already encoded and
    /// with read marker, account, registered room and server ban changes
    /// (stored after the records, and committed to SQLite before the
    /// `Commit` finishes).
    pub fn begin_commit_with_markers(
        &self,
        records: Frame,
        markers: Vec<MarkerChange>,
        accounts: Vec<AccountChange>,
        rooms: Vec<RoomChange>,
        bans: Vec<ServerBanChange>,
    ) -> Commit {
        let (done, wait) = async_channel::bounded(1);
        let request = Request {
            changes: OwnedChanges {
                records: vec![records],
                markers,
                accounts,
                rooms,
                bans,
            },
            done,
        };
        // If the journal is gone, `done` is dropped here and the commit
        // reads as finished: there is nothing left to wait for.
        match &self.journal {
            Some(JournalWriter::Direct(open)) => {
                let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
                open.write(vec![request]);
            }
            Some(JournalWriter::Thread { requests, .. }) => {
                let _ = requests.send(request);
            }
            None => {}
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
        // The journal closes first, and with it the indexer's queue; the
        // indexer then commits what it still holds and ends.
        match self.journal.take() {
            Some(JournalWriter::Direct(open)) => {
                let open = open.into_inner().unwrap_or_else(|e| e.into_inner());
                open.queue.close();
            }
            Some(JournalWriter::Thread { requests, thread }) => {
                drop(requests);
                let _ = thread.join();
            }
            None => {}
        }
        if let Some(thread) = self.index_thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `natter-journal` thread (with `--fsync`): writes each group of
/// waiting commits to the journal at once (see [`OpenJournal::write`]).
/// Ends when every [`Store`] handle is gone, closing the indexer's queue.
fn write_journal(mut open: OpenJournal, inbox: mpsc::Receiver<Request>) {
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        group.extend(inbox.try_iter());
        open.write(group);
    }
    open.queue.close();
}

impl OpenJournal {
    /// Writes the records of a group of commits to the journal with one
    /// `write()`, finishes the commits that carry only records, and hands
    /// everything to the indexer in order.
    fn write(&mut self, mut group: Vec<Request>) {
        let OpenJournal {
            journal,
            health,
            queue,
            pool,
        } = self;
        let count = group.iter().map(|r| r.changes.record_count()).sum();
        let frames = group.iter_mut().flat_map(|r| r.changes.records.iter_mut());
        let written = journal.append(frames);
        // Where the next request's frames start; `None` when nothing was
        // journaled (a failed write, or no records at all).
        let mut start = written.as_ref().ok().copied().flatten();
        if let Some(report) =
            health.record(written.map(drop), count, journal.path(), Instant::now())
        {
            eprintln!("{report}");
        }
        for Request { mut changes, done } in group {
            // Each request's own part of the write, so that the indexer
            // keeps every change in order with the records around it.
            let bytes: u64 = changes.records.iter().map(|f| f.byte_len() as u64).sum();
            let mine = start.map(|span| Span {
                end: span.start + bytes,
                ..span
            });
            start = start.map(|span| Span {
                start: span.start + bytes,
                ..span
            });
            let mut items = Vec::with_capacity(2);
            match mine {
                // Durable now: the indexer reads the records back.
                Some(span) => {
                    pool.give(changes.records.drain(..));
                    if !span.is_empty() {
                        items.push(Index::Journaled(span));
                    }
                    if changes.has_other_changes() {
                        items.push(Index::Now(Box::new(changes), done));
                    } else {
                        // The held lines go out.
                        drop(done);
                    }
                }
                None => items.push(Index::Now(Box::new(changes), done)),
            }
            if !items.is_empty() {
                queue.push(items);
            }
        }
    }
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

/// Moves committed pages from the state database's WAL into it every
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

fn load(db: &Connection, options: &StoreOptions, now: Timestamp) -> rusqlite::Result<Restored> {
    let cutoff = cutoff(options.max_age_secs, now);
    let mut records = blocks::load_room_messages(db, cutoff, options.max_messages)?;
    let accounts = accounts::load_accounts(db)?;
    records.extend(owned_by(load_private(db, cutoff)?, &accounts));
    let next_id: i64 = db.query_row("SELECT value FROM meta WHERE key = 'next_id'", [], |r| {
        r.get(0)
    })?;
    let max_id: i64 = db.query_row(
        "SELECT MAX((SELECT COALESCE(MAX(id), 0) FROM events),
                    (SELECT COALESCE(MAX(last_id), 0) FROM blocks),
                    (SELECT value FROM meta WHERE key = 'indexed_through'))",
        [],
        |r| r.get(0),
    )?;
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
        accounts,
        rooms: rooms::load_rooms(db, &options.path().with_file_name(STATE_FILE))?,
        server_bans: bans::load_server_bans(db)?,
    })
}

/// `private` without the ends whose account no longer exists, and without
/// the messages that leaves nobody's. Deleting an account orphans its
/// messages in the same transaction, but that one writes both files,
/// which SQLite does not commit atomically when one of them is in WAL
/// mode: a crash between the two must not hand a dropped account's
/// conversations to whoever registers the name next.
fn owned_by(private: Vec<HistoryRecord>, accounts: &[Account]) -> Vec<HistoryRecord> {
    let names: std::collections::HashSet<String> =
        accounts.iter().map(|a| casefold(&a.name)).collect();
    let exists = |account: &Option<std::sync::Arc<str>>| {
        account
            .as_deref()
            .is_some_and(|name| names.contains(&casefold(name)))
    };
    private
        .into_iter()
        .filter_map(|mut r| {
            if !exists(&r.from_account) {
                r.from_account = None;
            }
            if !exists(&r.to_account) {
                r.to_account = None;
            }
            (r.from_account.is_some() || r.to_account.is_some()).then_some(r)
        })
        .collect()
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

#[cfg(test)]
mod tests;
