//! Room messages in SQLite, packed: one row per block of a room's messages.
//!
//! Owns the `blocks` table. Each row holds up to [`BLOCK_BYTES`] of one
//! room's PRIVMSG and NOTICE records, one after another in the journal's
//! record encoding ([`journal::encode_record`]), in id order, with the
//! room's case-folded name, the lowest and highest id it may hold
//! (`first_id`, its key, and `last_id`), its earliest and latest server
//! time and how many records it holds (indexed by room and by first
//! time). The indexer fills one block per room per transaction
//! ([`Builder`]) and inserts it with one statement: an `INSERT` per block
//! instead of one per message, which was the largest part of durable
//! natter's CPU (about 10,000 instructions per message, nine tenths of
//! them in SQLite's B-tree inserts and binding). Startup ([`load_room_messages`]), redaction ([`redact`]),
//! renames ([`rename`]) and retention ([`drop_oldest`], [`expire`]) read
//! and rewrite the few blocks they touch.
//!
//! Must never hold records of two rooms in one block, nor any record that
//! is not a room message (private messages, redactions and renames stay
//! rows of `events`); must never let two blocks of one room overlap in ids
//! (the builder keeps one block per case-folded room, flushed in order);
//! and is used only by the store's threads, never by the chat core, which
//! keeps its own copy of recent history.

use super::journal::{self, RecordRef, Skimmed};
use super::worker::Count;
use crate::core::{HistoryRecord, Timestamp};
use crate::proto::casefold;
use rusqlite::{params, Connection, Transaction};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::rc::Rc;

/// Encoded records past which a block is stored and a new one begun: big
/// enough that a block costs SQLite one B-tree insert for a few hundred
/// short messages, small enough that a redaction or a retention trim
/// rewrites little.
pub(super) const BLOCK_BYTES: usize = 32 << 10;
/// Most blocks one age-retention step deletes or trims (one short
/// transaction).
const EXPIRE_BLOCKS: i64 = 5000;

/// The schema migration that creates the table (see `MIGRATIONS`); the
/// rows of `events` it replaces are moved into it by [`pack_events`].
pub(super) const CREATE: &str = "
    -- Room messages (PRIVMSG, NOTICE) packed by room: one row per block of
    -- up to 32 KiB of records in the journal's encoding, in id order.
    CREATE TABLE blocks (
        first_id INTEGER PRIMARY KEY,  -- no record in it has a lower id
        room     TEXT    NOT NULL,     -- case-folded room
        last_id  INTEGER NOT NULL,     -- no record in it has a higher id
        first_at INTEGER NOT NULL,     -- its earliest server time, ms
        last_at  INTEGER NOT NULL,     -- its latest server time, ms
        count    INTEGER NOT NULL,     -- how many records it holds
        records  BLOB    NOT NULL
    );
    -- Covers a room's blocks in order with their counts (retention by
    -- count, redaction) without reading the blocks themselves.
    CREATE INDEX blocks_by_room ON blocks(room, first_id, last_id, count);
    -- Age retention finds the expired blocks without a scan (one entry per
    -- block, not per message).
    CREATE INDEX blocks_by_time ON blocks(first_at);
";

/// One room's block being filled.
struct Block {
    room: Rc<str>,
    first_id: u64,
    last_id: u64,
    first_at: u64,
    last_at: u64,
    count: usize,
    records: Vec<u8>,
}

impl Block {
    fn new(room: Rc<str>) -> Block {
        Block {
            room,
            first_id: 0,
            last_id: 0,
            first_at: 0,
            last_at: 0,
            count: 0,
            records: Vec::new(),
        }
    }

    fn push(&mut self, id: u64, at: u64, bytes: &[u8]) {
        if self.count == 0 {
            (self.first_id, self.last_id, self.first_at, self.last_at) = (id, id, at, at);
        } else {
            self.first_id = self.first_id.min(id);
            self.last_id = self.last_id.max(id);
            self.first_at = self.first_at.min(at);
            self.last_at = self.last_at.max(at);
        }
        self.records.extend_from_slice(bytes);
        self.count += 1;
    }

    /// Inserts it (when it holds anything), notes its messages in
    /// `counts`, and empties it for the next records of its room.
    fn store(&mut self, tx: &Transaction, counts: &mut Vec<Count>) -> rusqlite::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        tx.prepare_cached(
            "INSERT OR FAIL INTO blocks (first_id, room, last_id, first_at, last_at, count, records)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            self.first_id as i64,
            &*self.room,
            self.last_id as i64,
            self.first_at as i64,
            self.last_at as i64,
            self.count as i64,
            &self.records[..],
        ])?;
        match counts.last_mut() {
            Some(Count::More(room, n)) if **room == *self.room => *n += self.count,
            _ => counts.push(Count::More(self.room.to_string(), self.count)),
        }
        self.count = 0;
        self.records.clear();
        Ok(())
    }
}

/// The blocks of one transaction being filled, one per case-folded room.
/// Each record's target is folded once per spelling, not once per record.
#[derive(Default)]
pub(super) struct Builder<'f> {
    /// A target as spelled in the records → its block.
    by_target: FxHashMap<&'f [u8], usize>,
    /// A case-folded room → its block.
    by_room: FxHashMap<Rc<str>, usize>,
    blocks: Vec<Block>,
}

impl<'f> Builder<'f> {
    /// The block for records to `target`; `None` if it is not UTF-8.
    pub(super) fn slot(&mut self, target: &'f [u8]) -> Option<usize> {
        if let Some(&slot) = self.by_target.get(target) {
            return Some(slot);
        }
        let folded: Rc<str> = casefold(std::str::from_utf8(target).ok()?).into();
        let slot = match self.by_room.get(&folded) {
            Some(&slot) => slot,
            None => {
                self.blocks.push(Block::new(folded.clone()));
                self.by_room.insert(folded, self.blocks.len() - 1);
                self.blocks.len() - 1
            }
        };
        self.by_target.insert(target, slot);
        Some(slot)
    }

    /// The case-folded room of a block.
    pub(super) fn room(&self, slot: usize) -> &str {
        &self.blocks[slot].room
    }

    /// Adds a room message to its block, storing the block once full.
    pub(super) fn push(
        &mut self,
        tx: &Transaction,
        slot: usize,
        record: &Skimmed,
        counts: &mut Vec<Count>,
    ) -> rusqlite::Result<()> {
        let block = &mut self.blocks[slot];
        block.push(record.id, record.at.0, record.bytes());
        if block.records.len() >= BLOCK_BYTES {
            block.store(tx, counts)?;
        }
        Ok(())
    }

    /// Stores every block that holds anything.
    pub(super) fn store_all(
        &mut self,
        tx: &Transaction,
        counts: &mut Vec<Count>,
    ) -> rusqlite::Result<()> {
        for block in &mut self.blocks {
            block.store(tx, counts)?;
        }
        Ok(())
    }
}

/// `records` encoded one after another.
fn encode(records: &[RecordRef]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for r in records {
        journal::encode_record(&mut bytes, r);
    }
    bytes
}

/// Replaces the block keyed `first_id` with `records` (deleting it when
/// none are left): its key stays, the other bounds follow the records.
fn rewrite(tx: &Connection, first_id: i64, records: &[RecordRef]) -> rusqlite::Result<()> {
    if records.is_empty() {
        tx.prepare_cached("DELETE FROM blocks WHERE first_id = ?1")?
            .execute(params![first_id])?;
        return Ok(());
    }
    let last_id = records.iter().map(|r| r.id).max().unwrap_or(0);
    let first_at = records.iter().map(|r| r.at.0).min().unwrap_or(0);
    let last_at = records.iter().map(|r| r.at.0).max().unwrap_or(0);
    tx.prepare_cached(
        "UPDATE blocks SET last_id = ?2, first_at = ?3, last_at = ?4, count = ?5, records = ?6
         WHERE first_id = ?1",
    )?
    .execute(params![
        first_id,
        last_id as i64,
        first_at as i64,
        last_at as i64,
        records.len() as i64,
        encode(records),
    ])?;
    Ok(())
}

/// The blocks of `room` (key and bytes), oldest first.
fn blocks_of(db: &Connection, room: &str) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    db.prepare_cached("SELECT first_id, records FROM blocks WHERE room = ?1 ORDER BY first_id")?
        .query_map(params![room], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// A block's records, in id order.
fn decoded(bytes: &[u8]) -> Vec<RecordRef<'_>> {
    let mut records: Vec<RecordRef> = journal::decode_records_in(bytes).collect();
    records.sort_by_key(|r| r.id);
    records
}

/// Deletes the message `id` from `room`'s blocks; whether it was there.
pub(super) fn redact(tx: &Transaction, room: &str, id: i64) -> rusqlite::Result<bool> {
    let candidates: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT first_id, records FROM blocks
             WHERE room = ?1 AND first_id <= ?2 AND last_id >= ?2",
        )?
        .query_map(params![room, id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (first_id, bytes) in candidates {
        let mut records = decoded(&bytes);
        if let Some(at) = records.iter().position(|r| r.id as i64 == id) {
            records.remove(at);
            rewrite(tx, first_id, &records)?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Moves `room`'s messages to the room `folded` (spelled `new`): its
/// blocks change rooms and their records' target.
pub(super) fn rename(
    tx: &Transaction,
    room: &str,
    folded: &str,
    new: &str,
) -> rusqlite::Result<()> {
    for (first_id, bytes) in blocks_of(tx, room)? {
        let records: Vec<RecordRef> = decoded(&bytes)
            .into_iter()
            .map(|r| RecordRef { target: new, ..r })
            .collect();
        tx.prepare_cached("UPDATE blocks SET room = ?2, records = ?3 WHERE first_id = ?1")?
            .execute(params![first_id, folded, encode(&records)])?;
    }
    Ok(())
}

/// How many messages `room`'s blocks hold.
pub(super) fn count(db: &Connection, room: &str) -> rusqlite::Result<usize> {
    let n: i64 = db
        .prepare_cached("SELECT COALESCE(SUM(count), 0) FROM blocks WHERE room = ?1")?
        .query_row(params![room], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Messages per room, for the indexer's counts at startup.
pub(super) fn counts(db: &Connection) -> rusqlite::Result<Vec<(String, usize)>> {
    db.prepare("SELECT room, SUM(count) FROM blocks GROUP BY room")?
        .query_map([], |r| {
            Ok((r.get(0)?, usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
        })?
        .collect()
}

/// Deletes `room`'s oldest `excess` messages (whole blocks, and the oldest
/// records of the block that straddles the line); returns the id below
/// which nothing of the room is kept, if anything is.
pub(super) fn drop_oldest(
    tx: &Transaction,
    room: &str,
    mut excess: usize,
) -> rusqlite::Result<Option<i64>> {
    let sizes: Vec<(i64, usize)> = tx
        .prepare_cached("SELECT first_id, count FROM blocks WHERE room = ?1 ORDER BY first_id")?
        .query_map(params![room], |r| {
            Ok((r.get(0)?, usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (first_id, count) in sizes {
        if excess >= count {
            excess -= count;
            rewrite(tx, first_id, &[])?;
            continue;
        }
        if excess == 0 {
            return Ok(Some(first_id));
        }
        let bytes: Vec<u8> = tx
            .prepare_cached("SELECT records FROM blocks WHERE first_id = ?1")?
            .query_row(params![first_id], |r| r.get(0))?;
        let records = decoded(&bytes);
        let kept = records.get(excess.min(records.len())..).unwrap_or_default();
        rewrite(tx, first_id, kept)?;
        return Ok(kept.first().map(|r| r.id as i64));
    }
    Ok(None)
}

/// Deletes the messages older than `cutoff` from up to [`EXPIRE_BLOCKS`]
/// blocks that hold any (through the index on `first_at`); returns how
/// many went, per room.
pub(super) fn expire(tx: &Transaction, cutoff: u64) -> rusqlite::Result<Vec<(String, usize)>> {
    let oldest: Vec<(i64, String, usize, i64, i64)> = tx
        .prepare_cached(
            "SELECT first_id, room, count, first_at, last_at FROM blocks
             WHERE first_at < ?1 ORDER BY first_at LIMIT ?2",
        )?
        .query_map(params![cutoff as i64, EXPIRE_BLOCKS], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                usize::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                r.get(3)?,
                r.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let cutoff = cutoff as i64;
    let mut removed = Vec::new();
    for (first_id, room, count, first_at, last_at) in oldest {
        if first_at >= cutoff {
            continue;
        }
        if last_at < cutoff {
            rewrite(tx, first_id, &[])?;
            removed.push((room, count));
            continue;
        }
        let bytes: Vec<u8> = tx
            .prepare_cached("SELECT records FROM blocks WHERE first_id = ?1")?
            .query_row(params![first_id], |r| r.get(0))?;
        let kept: Vec<RecordRef> = decoded(&bytes)
            .into_iter()
            .filter(|r| r.at.0 as i64 >= cutoff)
            .collect();
        rewrite(tx, first_id, &kept)?;
        removed.push((room, count.saturating_sub(kept.len())));
    }
    Ok(removed)
}

/// The newest `max` messages of every room at or after `cutoff`, oldest
/// first (by id over all rooms).
pub(super) fn load_room_messages(
    db: &Connection,
    cutoff: u64,
    max: usize,
) -> rusqlite::Result<Vec<HistoryRecord>> {
    let mut stmt =
        db.prepare("SELECT room, records FROM blocks WHERE last_at >= ?1 ORDER BY first_id")?;
    let mut rows = stmt.query(params![cutoff as i64])?;
    let mut per_room: HashMap<String, Vec<HistoryRecord>> = HashMap::new();
    while let Some(row) = rows.next()? {
        let room: String = row.get(0)?;
        let bytes = row.get_ref(1)?.as_blob()?;
        let kept = per_room.entry(room).or_default();
        for r in journal::decode_records_in(bytes) {
            if r.at.0 >= cutoff && r.kind.is_replayed() {
                kept.push(HistoryRecord {
                    id: r.id,
                    at: Timestamp(r.at.0),
                    kind: r.kind,
                    target: r.target.into(),
                    source: r.source.into(),
                    text: r.text.into(),
                    from_account: None,
                    to_account: None,
                });
            }
        }
    }
    let mut records = Vec::new();
    for mut kept in per_room.into_values() {
        kept.sort_by_key(|r| r.id);
        let newest = kept.len().saturating_sub(max);
        records.extend(kept.drain(newest..));
    }
    records.sort_by_key(|r| r.id);
    Ok(records)
}

/// Moves the room messages an older schema kept as rows of `events` into
/// blocks (part of the migration that creates the table).
pub(super) fn pack_events(tx: &Connection) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare(
        "SELECT id, at, kind, room, target, source, text FROM events
         WHERE kind IN ('privmsg', 'notice') ORDER BY room, id",
    )?;
    let mut rows = stmt.query([])?;
    let mut block: Option<Block> = None;
    let mut insert = tx.prepare(
        "INSERT INTO blocks (first_id, room, last_id, first_at, last_at, count, records)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut store = |block: &mut Block| -> rusqlite::Result<()> {
        if block.count > 0 {
            insert.execute(params![
                block.first_id as i64,
                &*block.room,
                block.last_id as i64,
                block.first_at as i64,
                block.last_at as i64,
                block.count as i64,
                &block.records[..],
            ])?;
        }
        block.count = 0;
        block.records.clear();
        Ok(())
    };
    let mut bytes = Vec::new();
    while let Some(row) = rows.next()? {
        let (id, at, kind, room, target, source, text): (
            i64,
            i64,
            String,
            String,
            String,
            String,
            String,
        ) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
        );
        let Some(kind) = crate::core::HistoryKind::parse(&kind) else {
            continue;
        };
        if let Some(b) = block.as_mut().filter(|b| *b.room != *room) {
            store(b)?;
            block = None;
        }
        let current = block.get_or_insert_with(|| Block::new(room.into()));
        bytes.clear();
        journal::encode_record(
            &mut bytes,
            &RecordRef {
                id: id as u64,
                at: Timestamp(at as u64),
                kind,
                target: &target,
                source: &source,
                text: &text,
                from_account: None,
                to_account: None,
            },
        );
        current.push(id as u64, at as u64, &bytes);
        if current.records.len() >= BLOCK_BYTES {
            store(current)?;
        }
    }
    if let Some(b) = &mut block {
        store(b)?;
    }
    drop(rows);
    tx.execute("DELETE FROM events WHERE kind IN ('privmsg', 'notice')", [])?;
    Ok(())
}

/// Every message of `room` with its id and text, for tests.
#[cfg(test)]
pub(super) fn texts(db: &Connection, room: &str) -> Vec<(u64, String)> {
    let blocks = blocks_of(db, room).expect("blocks");
    blocks
        .iter()
        .flat_map(|(_, bytes)| decoded(bytes))
        .map(|r| (r.id, r.text.to_string()))
        .collect()
}
