//! The indexer: SQLite's rows and indexes, built behind the journal.
//!
//! Owns the `natter-store` thread's connection. It reads back the records
//! the journal already made durable and inserts them in large
//! transactions, in the pauses of the stream: once no record has come for
//! [`INDEX_IDLE`], once [`INDEX_BATCH_BYTES`] of them wait (a burst longer
//! than that pays for its indexing as it goes), and at least every
//! [`INDEX_MAX_DELAY`]. So a burst of chat is not slowed by SQLite's B-tree
//! work, which is done when the CPU would otherwise idle. It records how
//! far SQLite has got (`meta.indexed_through`) in the same transaction, and
//! runs retention in small steps between commits. Changes that are not
//! history records (read markers, accounts, registered rooms, server bans)
//! and records the journal could not write are committed at once, and
//! their [`super::Commit`] finishes only then.
//!
//! Must never hold up a journaled record's delivery (it only ever sees
//! them afterwards), and must never let the journal run more than
//! [`MAX_BACKLOG_BYTES`] ahead: the journal's writer waits beyond that.

use super::health::WriteHealth;
use super::index_queue::{Batch, IndexQueue, OwnedChanges};
use super::journal::{self, Frames, JournalReader, Span};
use super::{accounts, bans, blocks, cutoff, rooms, AccountChange, RoomChange, ServerBanChange};
use crate::core::{HistoryKind, MarkerChange};
use crate::proto::casefold;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often retention runs.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(2);
/// Most rows one retention step deletes (one short transaction).
const PRUNE_CHUNK: usize = 5000;
/// Encoded records waiting past which they are indexed without waiting
/// for a pause (about 700,000 short messages). Large, so a burst is not
/// slowed by SQLite's B-tree work (about 1.4 µs of CPU per row here), which
/// is done in the pause after it, and each SQLite page is written once
/// for many rows. A longer burst pays for its indexing as it goes.
pub(super) const INDEX_BATCH_BYTES: usize = 64 << 20;
/// Journaled records read back and committed per transaction.
const INDEX_CHUNK_BYTES: usize = 4 << 20;
/// A pause in the stream this long commits what is waiting.
pub(super) const INDEX_IDLE: Duration = Duration::from_millis(50);
/// Records never wait longer than this for SQLite.
pub(super) const INDEX_MAX_DELAY: Duration = Duration::from_secs(10);
/// Bytes of journaled records not yet in SQLite past which the journal
/// thread waits: what bounds how far the journal can grow ahead of SQLite
/// (they are on disk, not in memory: the indexer reads them back).
pub(super) const MAX_BACKLOG_BYTES: usize = 4 * INDEX_BATCH_BYTES;

pub(super) struct Worker {
    pub(super) db: Connection,
    path: PathBuf,
    max_messages: usize,
    max_age_secs: u64,
    last_prune: Option<Instant>,
    /// Stored PRIVMSG/NOTICE rows per case-folded room: counted once at
    /// start, then kept up to date, so retention never scans the table (a
    /// scan every few seconds would stall every commit behind it).
    pub(super) messages: BTreeMap<String, usize>,
    /// The highest record id committed, shared with the journal (which may
    /// empty a file once everything in it is here).
    pub(super) indexed_through: Arc<AtomicU64>,
    /// Reads back the records the journal wrote.
    journal: JournalReader,
    /// [`INDEX_CHUNK_BYTES`], smaller in tests.
    pub(super) chunk_bytes: usize,
    /// The buffer journaled records are read back into, kept between
    /// batches.
    chunk: Frames,
    health: WriteHealth,
}

impl Worker {
    pub(super) fn new(
        db: Connection,
        path: PathBuf,
        options: &super::StoreOptions,
    ) -> rusqlite::Result<Worker> {
        let messages = blocks::counts(&db)?.into_iter().collect();
        let indexed_through: i64 = db.query_row(
            "SELECT value FROM meta WHERE key = 'indexed_through'",
            [],
            |r| r.get(0),
        )?;
        let indexed_through = u64::try_from(indexed_through).unwrap_or(0);
        Ok(Worker {
            db,
            path,
            max_messages: options.max_messages,
            max_age_secs: options.max_age_secs,
            last_prune: None,
            messages,
            indexed_through: Arc::new(AtomicU64::new(indexed_through)),
            journal: JournalReader::new(&options.data_dir),
            chunk_bytes: INDEX_CHUNK_BYTES,
            chunk: Frames::default(),
            health: WriteHealth::default(),
        })
    }

    /// Indexes and prunes until the journal is closed; then stops the
    /// checkpointer and leaves the WAL checkpointed and truncated.
    pub(super) fn run(
        mut self,
        queue: Arc<IndexQueue>,
        stop_checkpoints: mpsc::Sender<()>,
        checkpoint_thread: JoinHandle<()>,
    ) {
        self.serve(&queue);
        drop(stop_checkpoints);
        let _ = checkpoint_thread.join();
        self.shrink_wal();
    }

    fn serve(&mut self, queue: &IndexQueue) {
        loop {
            match queue.take() {
                Some(batch) if !batch.is_empty() => {
                    self.index(batch);
                    queue.indexed();
                }
                Some(_) => {}
                None if queue.is_closed() => return,
                None => {}
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

    /// Commits `batch`: the journaled records read back from the journal
    /// [`INDEX_CHUNK_BYTES`] at a time, one transaction each, the last one
    /// with the records and changes that came in memory; then finishes the
    /// commits waiting for it. A room's messages that count retention
    /// would delete at once (more than `--history-max-messages` newer ones
    /// of the room are in the batch) are never inserted: the batch is
    /// skimmed for its rooms' counts first.
    pub(super) fn index(&mut self, batch: Batch) {
        let Batch {
            spans,
            mut now,
            waiting,
            bytes,
        } = batch;
        let mut waiting = Some(waiting);
        // What someone waits for (read markers, accounts, registered rooms,
        // server bans) is committed first and on its own where it can be:
        // it is in the state database, whose commits wait for no disk, so
        // a reply held for it does not wait for the records before it to
        // be indexed too. Not when records the journal could not write
        // came with it, or an account was deleted (its stored private
        // messages, some perhaps among these records, lose their owner in
        // the same transaction): then it follows the records, as it came.
        // (A rename among the records moves read markers too; the marker
        // at the later message stays whichever comes first.)
        if now.records.is_empty() && now.has_other_changes() && !now.deletes_an_account() {
            self.commit(&Frames::default(), now.borrowed(), &mut Outdated::new());
            now = OwnedChanges::default();
            drop(waiting.take());
        }
        // Appends that follow one another are read back together, a few
        // to a chunk; one buffer holds a chunk at a time for both passes.
        let spans = coalesce(spans, self.chunk_bytes / 4);
        // Reused from one batch to the next: a fresh 4 MiB buffer per batch
        // cost the kernel a page fault and a zeroed page per 4 KiB read.
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        let mut outdated = if bytes / journal::MIN_RECORD_BYTES > self.max_messages {
            self.outdated_in(&spans, &mut chunk)
        } else {
            Outdated::new()
        };
        chunk.clear();
        for span in spans {
            if !chunk.is_empty() && chunk.byte_len() + span.len() as usize > self.chunk_bytes {
                self.commit(&chunk, Changes::default(), &mut outdated);
                chunk.clear();
            }
            if let Err(e) = self.journal.read(span, &mut chunk) {
                self.report(Err::<(), _>(e), 0);
            }
        }
        chunk.append(Frames::join(std::mem::take(&mut now.records)));
        if !chunk.is_empty() || now.has_other_changes() {
            self.commit(&chunk, now.borrowed(), &mut outdated);
        }
        if chunk.capacity() <= 2 * INDEX_CHUNK_BYTES {
            chunk.clear();
            self.chunk = chunk;
        }
        // Closing each channel tells its `Commit` it is done.
        drop(waiting);
    }

    /// What count retention would delete at once of the records `spans`
    /// hold (see [`Worker::write_skipping`]), skimmed once for their rooms.
    /// None when a room is renamed among them (rows then change rooms
    /// mid-batch) or the journal cannot be read. (Records the journal could
    /// not write are not counted: too few counted only means fewer are
    /// skipped.)
    fn outdated_in(&mut self, spans: &[Span], chunk: &mut Frames) -> Outdated {
        let mut per_room: rustc_hash::FxHashMap<Vec<u8>, usize> = Default::default();
        let mut count = |frames: &Frames| {
            for skimmed in frames.skim() {
                let (kind, target) = (skimmed.kind, skimmed.target);
                if kind == HistoryKind::Rename {
                    return false;
                }
                if kind.is_replayed() {
                    match per_room.get_mut(target) {
                        Some(n) => *n += 1,
                        None => {
                            per_room.insert(target.to_vec(), 1);
                        }
                    }
                }
            }
            true
        };
        for span in spans {
            chunk.clear();
            if self.journal.read(*span, chunk).is_err() || !count(chunk) {
                return Outdated::new();
            }
        }
        // Counted by the target as spelled; retention counts rooms.
        let mut outdated = Outdated::new();
        for (room, n) in per_room {
            if let Ok(room) = std::str::from_utf8(&room) {
                *outdated.entry(casefold(room)).or_default() += n;
            }
        }
        outdated.retain(|_, n| *n > self.max_messages);
        for n in outdated.values_mut() {
            *n -= self.max_messages;
        }
        outdated
    }

    /// Commits `frames` and `changes` in one transaction (retried once
    /// after truncating the state database's WAL), reporting failures
    /// through [`WriteHealth`].
    pub(super) fn commit(&mut self, frames: &Frames, changes: Changes, outdated: &mut Outdated) {
        let before = outdated.clone();
        let outcome = self.write_skipping(frames, changes, outdated).or_else(|_| {
            // A full disk or a file-size limit often leaves room once the
            // state database's WAL is checkpointed and truncated: try once
            // more.
            self.shrink_wal();
            *outdated = before;
            self.write_skipping(frames, changes, outdated)
        });
        let records = if outcome.is_ok() {
            0
        } else {
            frames.records().count()
        };
        self.report(outcome, records);
    }

    fn report<E: std::fmt::Display>(&mut self, outcome: Result<(), E>, records: usize) {
        if let Some(report) = self
            .health
            .record(outcome, records, &self.path, Instant::now())
        {
            eprintln!("{report}");
        }
    }

    #[cfg(test)]
    pub(super) fn write(&mut self, records: &[crate::core::HistoryRecord]) -> rusqlite::Result<()> {
        self.write_all(&Frames::of(records), Changes::default())
    }

    /// Stores `records` and then the other `changes` in one transaction. A
    /// `Redact` record deletes the message it names; a `Rename` record moves
    /// its room's rows (all but earlier renames, which stay at the name they
    /// left) and read markers to the new name.
    ///
    /// Only records something reads back get a row ([`gets_a_row`]), and a
    /// room's messages that count retention would delete as soon as they
    /// were in (more than `--history-max-messages` newer ones of the room
    /// are in the same batch) are never inserted. `meta.indexed_through`
    /// covers every record of the batch all the same.
    pub(super) fn write_all(&mut self, frames: &Frames, changes: Changes) -> rusqlite::Result<()> {
        let mut outdated = self.outdated_at_once(frames);
        self.write_skipping(frames, changes, &mut outdated)
    }

    /// As [`Worker::write_all`], skipping the oldest messages of each
    /// room as many as `outdated` says (and counting them off it): a batch
    /// committed in several transactions shares one count.
    pub(super) fn write_skipping(
        &mut self,
        frames: &Frames,
        changes: Changes,
        outdated: &mut Outdated,
    ) -> rusqlite::Result<()> {
        let Changes {
            markers,
            accounts,
            rooms,
            bans,
        } = changes;
        // Changes to the per-room message counts, in record order, applied
        // only once the transaction has committed.
        let mut counts: Vec<Count> = Vec::new();
        let mut last = None;
        let tx = self.db.transaction()?;
        {
            // Room messages go into one block per room (see `blocks`).
            let mut blocks = blocks::Builder::default();
            // Other rows wait here to be inserted [`ROWS_PER_INSERT`] at a
            // time. Each row shares its room's folded name (one per run of
            // a room).
            let mut rows: Vec<(journal::RecordRef, Rc<str>)> = Vec::with_capacity(ROWS_PER_INSERT);
            // Kept for the whole transaction: no trip through the cache
            // (which clears every binding) per statement run.
            let mut many = None;
            let mut last_room: Option<(&[u8], Rc<str>)> = None;
            for skimmed in frames.skim() {
                last = last.max(Some(skimmed.id));
                if !gets_a_row(skimmed.kind) {
                    continue;
                }
                if skimmed.kind.is_replayed() {
                    let Some(slot) = blocks.slot(skimmed.target) else {
                        continue;
                    };
                    if !outdated.is_empty() {
                        if let Some(n) = outdated.get_mut(blocks.room(slot)).filter(|n| **n > 0) {
                            *n -= 1;
                            continue;
                        }
                    }
                    // Copied as the journal holds it, not decoded: skimming
                    // found its bounds, and readers pass over a record whose
                    // text is not UTF-8 (never one the core encoded).
                    blocks.push(&tx, slot, &skimmed, &mut counts)?;
                    continue;
                }
                // Runs of records to one room are the rule: fold it once.
                let room = match &last_room {
                    Some((target, folded)) if *target == skimmed.target => folded.clone(),
                    _ => {
                        let Ok(target) = std::str::from_utf8(skimmed.target) else {
                            continue;
                        };
                        let folded: Rc<str> = casefold(target).into();
                        last_room = Some((skimmed.target, folded.clone()));
                        folded
                    }
                };
                let Some(r) = skimmed.decode() else {
                    continue;
                };
                match r.kind {
                    HistoryKind::Redact => {
                        // The message may still wait in its block.
                        blocks.store_all(&tx, &mut counts)?;
                        rows.push((r, room.clone()));
                        insert_rows(&tx, &mut many, &mut rows)?;
                        let fewer = redact(&tx, &room, r.text)?;
                        counts.extend(fewer.then(|| Count::Less(room.to_string())));
                    }
                    HistoryKind::Rename => {
                        blocks.store_all(&tx, &mut counts)?;
                        rows.push((r, room.clone()));
                        insert_rows(&tx, &mut many, &mut rows)?;
                        let moved = rename(&tx, &room, r.text)?;
                        counts.extend(moved.map(|new| Count::Moved(room.to_string(), new)));
                    }
                    _ => {
                        rows.push((r, room));
                        if rows.len() == ROWS_PER_INSERT {
                            insert_rows(&tx, &mut many, &mut rows)?;
                        }
                    }
                }
            }
            insert_rows(&tx, &mut many, &mut rows)?;
            blocks.store_all(&tx, &mut counts)?;
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
        if let Some(last) = last {
            tx.prepare_cached(
                "UPDATE meta SET value = MAX(value, ?1) WHERE key = 'indexed_through'",
            )?
            .execute(params![last as i64])?;
        }
        tx.commit()?;
        if let Some(last) = last {
            self.indexed_through.fetch_max(last, Ordering::AcqRel);
        }
        for count in counts {
            match count {
                Count::More(room, n) => *self.messages.entry(room).or_default() += n,
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

    /// For each room with more than `--history-max-messages` messages in
    /// `records`, how many of its oldest ones there count retention would
    /// delete right away. None when the batch renames a room (rows then
    /// change rooms mid-batch).
    fn outdated_at_once(&self, frames: &Frames) -> Outdated {
        let mut outdated = BTreeMap::new();
        // Too few bytes for more messages than retention keeps.
        if frames.byte_len() / journal::MIN_RECORD_BYTES <= self.max_messages {
            return outdated;
        }
        let mut per_room: BTreeMap<&str, usize> = BTreeMap::new();
        for r in frames.records() {
            if r.kind == HistoryKind::Rename {
                return outdated;
            }
            if r.kind.is_replayed() {
                *per_room.entry(r.target).or_default() += 1;
            }
        }
        for (room, n) in per_room {
            if n > self.max_messages {
                *outdated.entry(casefold(room)).or_default() += n - self.max_messages;
            }
        }
        outdated
    }

    /// Checkpoints the state database's WAL into it and truncates it,
    /// giving its space back to the file system. Failure is fine: the
    /// retry then fails too, and that is what gets reported.
    pub(super) fn shrink_wal(&self) {
        let _ = self
            .db
            .query_row("PRAGMA state.wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// One round of retention, in one transaction. Age: the expired
    /// messages of the blocks that hold any (through the index on their
    /// first time, a few thousand blocks a round), and the expired rows
    /// among the [`PRUNE_CHUNK`] oldest other rows (ids follow server time). Count: for each room past the maximum, by the kept
    /// counts, its oldest blocks, the oldest records of the block that
    /// straddles the line, and its other rows before the oldest message
    /// that stays (through the indexes on `(room, id)`). Never scans a
    /// table.
    pub(super) fn prune_step(&mut self) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        // The next id is the largest stored one plus one (see `load`); before
        // retention may delete the newest rows, remember it in `meta`, so ids
        // are never reused even if every row goes. (Kept here rather than in
        // every commit: one page fewer to write per commit.)
        tx.execute(
            "UPDATE meta SET value = MAX(value,
                 (SELECT COALESCE(MAX(id), 0) + 1 FROM events),
                 (SELECT value + 1 FROM meta WHERE key = 'indexed_through'))
             WHERE key = 'next_id'",
            [],
        )?;
        let cutoff = cutoff(self.max_age_secs, crate::net::wall_now());
        let mut fewer: Vec<(String, usize)> = Vec::new();
        if cutoff > 0 {
            fewer = blocks::expire(&tx, cutoff)?;
            tx.prepare_cached(
                "DELETE FROM events WHERE id IN
                     (SELECT id FROM (SELECT id, at FROM events ORDER BY id LIMIT ?2)
                      WHERE at < ?1)",
            )?
            .execute(params![cutoff as i64, PRUNE_CHUNK as i64])?;
        }
        let max = self.max_messages;
        let over: Vec<(String, usize)> = self
            .messages
            .iter()
            .filter(|(_, &n)| n > max)
            .map(|(room, &n)| (room.clone(), n))
            .collect();
        let mut counted: Vec<(String, usize)> = Vec::new();
        for (room, _) in over {
            // Counted again from the blocks (a cheap sum over a few rows),
            // so a count that drifted never deletes too much.
            let stored = blocks::count(&tx, &room)?;
            if stored > max {
                if let Some(keep_from) = blocks::drop_oldest(&tx, &room, stored - max)? {
                    tx.prepare_cached("DELETE FROM events WHERE room = ?1 AND id < ?2")?
                        .execute(params![room, keep_from])?;
                }
            }
            counted.push((room, stored.min(max)));
        }
        tx.commit()?;
        for (room, n) in fewer {
            if let Some(left) = self.messages.get_mut(&room) {
                *left = left.saturating_sub(n);
            }
        }
        for (room, n) in counted {
            self.messages.insert(room, n);
        }
        Ok(())
    }
}

/// `spans` with those that follow one another in a file joined, up to
/// `max` bytes each: appends are read back with one read per chunk, not one
/// per group commit.
fn coalesce(spans: Vec<Span>, max: usize) -> Vec<Span> {
    let mut joined: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match joined.last_mut() {
            Some(last)
                if last.file == span.file
                    && last.end == span.start
                    && (span.end - last.start) as usize <= max =>
            {
                last.end = span.end;
            }
            _ => joined.push(span),
        }
    }
    joined
}

/// Whether records of `kind` are stored as rows: those history replays
/// (room messages, private messages) and those that change them
/// (redactions, renames). Joins, parts, quits, topics, kicks and mode
/// changes are never read back (the core restores only messages); their
/// ids stay unique across restarts through `meta.indexed_through`.
fn gets_a_row(kind: HistoryKind) -> bool {
    kind.is_replayed()
        || matches!(
            kind,
            HistoryKind::Private | HistoryKind::Redact | HistoryKind::Rename
        )
}

/// What a commit changes besides history records, stored after them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Changes<'a> {
    pub(super) markers: &'a [MarkerChange],
    pub(super) accounts: &'a [AccountChange],
    pub(super) rooms: &'a [RoomChange],
    pub(super) bans: &'a [ServerBanChange],
}

/// Rows one `INSERT` statement takes: fewer statements to run (and one
/// cursor on the table for them all) per row stored.
const ROWS_PER_INSERT: usize = 32;

/// The columns of `events` a row is inserted with, in order.
///
/// `OR FAIL`: an error ends the transaction anyway (it is rolled back and
/// retried whole), so no statement journal is kept to undo one statement's
/// earlier rows.
const INSERT_INTO: &str =
    "INSERT OR FAIL INTO events (id, at, kind, room, target, source, text, from_account, to_account) VALUES ";
/// One row's placeholders.
const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Inserts `rows` (each record with its case-folded room), in order,
/// [`ROWS_PER_INSERT`] per statement (`many`, prepared on first use), and
/// empties it.
fn insert_rows<'t>(
    tx: &'t rusqlite::Transaction,
    many: &mut Option<rusqlite::CachedStatement<'t>>,
    rows: &mut Vec<(journal::RecordRef, Rc<str>)>,
) -> rusqlite::Result<()> {
    static MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let rows = vec![ROW; ROWS_PER_INSERT];
        format!("{INSERT_INTO}{}", rows.join(", "))
    });
    static ONE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{INSERT_INTO}{ROW}"));
    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
    for chunk in chunks.by_ref() {
        let insert = match many {
            Some(insert) => insert,
            None => many.insert(tx.prepare_cached(&MANY)?),
        };
        for (i, row) in chunk.iter().enumerate() {
            bind_row(insert, i * 9, row)?;
        }
        insert.raw_execute()?;
    }
    for row in chunks.remainder() {
        let mut insert = tx.prepare_cached(&ONE)?;
        bind_row(&mut insert, 0, row)?;
        insert.raw_execute()?;
    }
    rows.clear();
    Ok(())
}

/// Binds one row's nine values after the `before` already bound.
fn bind_row(
    insert: &mut rusqlite::Statement,
    before: usize,
    (r, room): &(journal::RecordRef, Rc<str>),
) -> rusqlite::Result<()> {
    insert.raw_bind_parameter(before + 1, r.id as i64)?;
    insert.raw_bind_parameter(before + 2, r.at.0 as i64)?;
    insert.raw_bind_parameter(before + 3, r.kind.as_str())?;
    insert.raw_bind_parameter(before + 4, &**room)?;
    insert.raw_bind_parameter(before + 5, r.target)?;
    insert.raw_bind_parameter(before + 6, r.source)?;
    insert.raw_bind_parameter(before + 7, r.text)?;
    insert.raw_bind_parameter(before + 8, r.from_account)?;
    insert.raw_bind_parameter(before + 9, r.to_account)
}

/// Per case-folded room, how many of its oldest messages still to come
/// are not to be inserted (count retention would delete them at once).
pub(super) type Outdated = BTreeMap<String, usize>;

/// A change to [`Worker::messages`] made by one stored record.
pub(super) enum Count {
    /// Messages (how many) were stored in the room.
    More(String, usize),
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
    if blocks::redact(tx, room, id)? {
        return Ok(true);
    }
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
    blocks::rename(tx, room, &folded, new)?;
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
