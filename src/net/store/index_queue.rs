//! The hand-off from the journal's writer (the core task, or the journal
//! thread with `--fsync`) to the indexer: what it is handed
//! ([`Index`]), what piles up between two commits ([`Batch`]), and the
//! queue between the two threads ([`IndexQueue`]) with its back-pressure.
//!
//! Owns no file and no database: the journal's writer pushes, the indexer
//! takes. Must never let the journal run more than [`MAX_BACKLOG_BYTES`]
//! ahead of SQLite, and never wake the indexer once per record group.

use super::journal::{Frame, Span};
use super::worker::{
    Changes, INDEX_BATCH_BYTES, INDEX_IDLE, INDEX_MAX_DELAY, MAX_BACKLOG_BYTES, PRUNE_EVERY,
};
use super::{AccountChange, RoomChange, ServerBanChange};
use crate::core::MarkerChange;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// What the journal's writer hands the indexer, in journal order.
pub(super) enum Index {
    /// Records now durable in the journal, where it wrote them.
    Journaled(Span),
    /// A commit that finishes only once SQLite has it.
    Now(Box<OwnedChanges>, async_channel::Sender<()>),
}

/// What the indexer has been handed since its last commit.
#[derive(Default)]
pub(super) struct Batch {
    /// Where the journal wrote the records, in order.
    pub(super) spans: Vec<Span>,
    /// Records the journal could not write, and the other changes.
    pub(super) now: OwnedChanges,
    /// The commits waiting for this one.
    pub(super) waiting: Vec<async_channel::Sender<()>>,
    /// Bytes of records in it (journaled or not).
    pub(super) bytes: usize,
}

impl Batch {
    pub(super) fn add(&mut self, item: Index) {
        match item {
            Index::Journaled(span) => {
                self.bytes += span.len() as usize;
                self.spans.push(span);
            }
            Index::Now(changes, done) => {
                self.bytes += changes.record_bytes();
                self.now.append(*changes);
                self.waiting.push(done);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.now.is_empty() && self.waiting.is_empty()
    }
}

/// Records and other changes to commit together, owned.
#[derive(Debug, Default)]
pub(super) struct OwnedChanges {
    /// The records, each group as the core task encoded it (only those the
    /// journal could not write reach the indexer this way).
    pub records: Vec<Frame>,
    pub markers: Vec<MarkerChange>,
    pub accounts: Vec<AccountChange>,
    pub rooms: Vec<RoomChange>,
    pub bans: Vec<ServerBanChange>,
}

impl OwnedChanges {
    /// Whether anything besides records is in it.
    pub(super) fn has_other_changes(&self) -> bool {
        !(self.markers.is_empty()
            && self.accounts.is_empty()
            && self.rooms.is_empty()
            && self.bans.is_empty())
    }

    pub(super) fn append(&mut self, mut more: OwnedChanges) {
        self.records.append(&mut more.records);
        self.markers.append(&mut more.markers);
        self.accounts.append(&mut more.accounts);
        self.rooms.append(&mut more.rooms);
        self.bans.append(&mut more.bans);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.records.is_empty() && !self.has_other_changes()
    }

    /// Whether it deletes an account.
    pub(super) fn deletes_an_account(&self) -> bool {
        self.accounts
            .iter()
            .any(|a| matches!(a, AccountChange::Delete(_)))
    }

    /// How many records it holds.
    pub(super) fn record_count(&self) -> usize {
        self.records.iter().map(Frame::len).sum()
    }

    /// How many bytes its records take, encoded.
    pub(super) fn record_bytes(&self) -> usize {
        self.records.iter().map(Frame::byte_len).sum()
    }

    pub(super) fn borrowed(&self) -> Changes<'_> {
        Changes {
            markers: &self.markers,
            accounts: &self.accounts,
            rooms: &self.rooms,
            bans: &self.bans,
        }
    }
}

/// What the journal's writer hands the indexer: a [`Batch`] it adds to and
/// the indexer takes whole. The writer wakes the indexer when a
/// batch gets its first item (so that the pause after a burst is noticed
/// within [`INDEX_IDLE`]) and when it must act at once (someone waits for
/// a commit, or a batch is full); otherwise the indexer looks every
/// [`INDEX_IDLE`], so a stream of records costs no thread wake-up per
/// record group.
#[derive(Default)]
pub(super) struct IndexQueue {
    state: Mutex<QueueState>,
    /// Tells the indexer to look now.
    urgent: Condvar,
    /// Tells a waiting writer the backlog shrank.
    shrunk: Condvar,
}

#[derive(Default)]
struct QueueState {
    batch: Batch,
    /// When the batch got its first and its latest item.
    oldest: Option<Instant>,
    latest: Option<Instant>,
    /// Bytes of records the indexer took and has not committed yet.
    indexing: usize,
    /// The journal is closed: index what is left and stop.
    closed: bool,
}

impl IndexQueue {
    /// Adds `items` in order, first waiting while more than
    /// [`MAX_BACKLOG_BYTES`] of records are not yet in SQLite.
    pub(super) fn push(&self, items: Vec<Index>) {
        let mut state = self.lock();
        while state.batch.bytes + state.indexing >= MAX_BACKLOG_BYTES {
            state = self.shrunk.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let now = Instant::now();
        let first = state.oldest.is_none();
        state.oldest.get_or_insert(now);
        state.latest = Some(now);
        for item in items {
            state.batch.add(item);
        }
        // The first item of a batch starts the indexer's watch for a pause
        // (it would otherwise sleep on until its next retention round, up
        // to PRUNE_EVERY, before noticing the batch); later ones wake it
        // only when it must act at once.
        if first || !state.batch.waiting.is_empty() || state.batch.bytes >= INDEX_BATCH_BYTES {
            self.urgent.notify_one();
        }
    }

    /// No more items will come.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.urgent.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the batch is due and takes it; `None` once closed and
    /// empty, or when it is time to prune (after [`PRUNE_EVERY`] with
    /// nothing to do).
    pub(super) fn take(&self) -> Option<Batch> {
        let mut state = self.lock();
        loop {
            let due = state.closed
                || !state.batch.waiting.is_empty()
                || state.batch.bytes >= INDEX_BATCH_BYTES
                || state.latest.is_some_and(|t| t.elapsed() >= INDEX_IDLE)
                || state.oldest.is_some_and(|t| t.elapsed() >= INDEX_MAX_DELAY);
            if due && !state.batch.is_empty() {
                state.oldest = None;
                state.latest = None;
                state.indexing = state.batch.bytes;
                return Some(std::mem::take(&mut state.batch));
            }
            if state.closed {
                return None;
            }
            let wait = if state.batch.is_empty() {
                PRUNE_EVERY
            } else {
                INDEX_IDLE
            };
            let (next, timeout) = self
                .urgent
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            if timeout.timed_out() && state.batch.is_empty() {
                return Some(Batch::default());
            }
        }
    }

    /// The batch taken last is in SQLite (or its failure reported).
    pub(super) fn indexed(&self) {
        self.lock().indexing = 0;
        self.shrunk.notify_all();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}
