//! The history journal: what makes a message durable, at the cost of one
//! `write()` per batch.
//!
//! Owns two append-only files in the data directory, `history.journal-0`
//! and `history.journal-1`. The core task encodes each batch's
//! [`HistoryRecord`]s into a [`Frame`] as it makes them and, at the end of
//! the batch, seals it with its checksum and hands it to the kernel with a
//! single `write()` (with `--fsync`, the journal thread does, a group of
//! frames at a time, and waits for `fdatasync`); once
//! that returns, the
//! records survive the process being killed, and the lines that tell of
//! them may be sent. The SQLite rows and indexes are built behind it, in
//! large transactions, by the store's indexer thread; on start, whatever
//! the journal holds past what SQLite has (`meta.indexed_through`) is
//! replayed into SQLite before anything else happens.
//!
//! The two files take turns: once the current one has grown past
//! [`ROTATE_BYTES`] and everything in the other one is in SQLite, the
//! other one is emptied and becomes current. So the journal never holds
//! much more than what the indexer has not caught up with.
//!
//! Frame: `len: u32 LE`, `crc32(payload): u32 LE`, then `len` bytes of
//! records, each `id: u64`, `at: u64`, `kind: u8` (index in
//! [`HistoryKind::ALL`]), then `target`, `source`, `text`, `from_account`,
//! `to_account` as `u32` length + UTF-8 (length `u32::MAX`: none). A frame
//! cut short by a crash, or damaged, ends the journal there: nothing after
//! it was ever acknowledged.
//!
//! Must never block on anything but its own file; with `--fsync` (where a
//! write waits for the disk) it must never be used from the async executor
//! (the journal thread owns it then).

use crate::core::{HistoryKind, HistoryRecord, Timestamp};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The journal files' names inside the data directory.
pub const JOURNAL_FILES: [&str; 2] = ["history.journal-0", "history.journal-1"];
/// Size past which the journal moves to its other file (when that one is
/// entirely in SQLite).
const ROTATE_BYTES: u64 = 32 << 20;
/// Frame header: length and checksum.
const HEADER: usize = 8;
/// Journal bytes replayed into SQLite per transaction at startup.
const REPLAY_CHUNK_BYTES: usize = 4 << 20;
/// The fewest bytes a record takes: id, time, kind and five lengths.
pub const MIN_RECORD_BYTES: usize = 8 + 8 + 1 + 5 * 4;
/// Marks an absent optional string.
const NONE: u32 = u32::MAX;

/// The open journal (see the module documentation).
pub struct Journal {
    files: [JournalFile; 2],
    current: usize,
    fsync: bool,
    /// [`ROTATE_BYTES`], smaller in tests.
    rotate_bytes: u64,
    /// The highest record id SQLite has committed, set by the indexer.
    indexed_through: Arc<AtomicU64>,
    /// Reused for gathering a group's frames into one write.
    out: Vec<u8>,
    /// Why the last append failed: the current file takes nothing more
    /// (a full disk would otherwise take small frames and refuse large
    /// ones, flapping) until the journal can move to its other file.
    broken: Option<io::ErrorKind>,
}

struct JournalFile {
    file: File,
    path: PathBuf,
    /// Bytes of whole frames in the file.
    len: u64,
    /// The highest record id in the file (0: none).
    last_id: u64,
}

/// Where one append put its frames: bytes `start..end` of a journal file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Which of [`JOURNAL_FILES`].
    pub file: usize,
    pub start: u64,
    pub end: u64,
}

impl Span {
    /// How many bytes it covers.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether it covers nothing.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// What the journal held when it was opened.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every record of every whole frame, in id order.
    pub records: Vec<HistoryRecord>,
    /// Files whose tail was cut short or damaged, with how many bytes of it
    /// were dropped (a crash mid-write leaves such a tail; those records
    /// were never acknowledged to anyone).
    pub damaged: Vec<(PathBuf, u64)>,
}

impl Journal {
    /// Every record in the journal in `dir`, in order, with the files whose
    /// tail was damaged (see [`Journal::replay`]); for tests, as
    /// it holds them all in memory.
    #[cfg(test)]
    pub fn recover(dir: &Path) -> io::Result<Recovered> {
        let mut records = Vec::new();
        let damaged = Journal::replay(dir, 0, |frames| {
            records.extend(frames.records().map(RecordRef::to_owned));
            Ok(())
        })?;
        Ok(Recovered { records, damaged })
    }

    /// Hands `apply` the journal's records with ids above `after`, in
    /// order, [`REPLAY_CHUNK_BYTES`] at a time, reading the files as it
    /// goes (oldest file first: each holds a run of ids, and a file is
    /// only reused once emptied). Returns the files whose tail was cut
    /// short or damaged, with how many bytes of it were dropped. A missing
    /// file is an empty one.
    pub fn replay(
        dir: &Path,
        after: u64,
        mut apply: impl FnMut(&Frames) -> io::Result<()>,
    ) -> io::Result<Vec<(PathBuf, u64)>> {
        let mut files = Vec::new();
        for name in JOURNAL_FILES {
            let path = dir.join(name);
            match File::open(&path) {
                Ok(file) => files.push((first_id(&file)?, path, file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        files.sort_by_key(|(first, _, _)| *first);
        let mut damaged = Vec::new();
        let mut chunk = Frame::default();
        for (_, path, file) in files {
            let len = file.metadata()?.len();
            let mut reader = io::BufReader::new(file);
            let mut whole = 0;
            let mut payload = Vec::new();
            while let Some(frame_len) = next_frame(&mut reader, len - whole, &mut payload)? {
                let Some(records) = decode_records(&payload) else {
                    break;
                };
                for r in records.iter().filter(|r| r.id > after) {
                    chunk.push_ref(r);
                }
                whole += frame_len;
                if chunk.byte_len() >= REPLAY_CHUNK_BYTES {
                    apply(&Frames::join(vec![std::mem::take(&mut chunk)]))?;
                }
            }
            if whole < len {
                damaged.push((path, len - whole));
            }
        }
        if !chunk.is_empty() {
            apply(&Frames::join(vec![chunk]))?;
        }
        Ok(damaged)
    }

    /// Opens the journal in `dir` empty (both files truncated): call once
    /// what [`Journal::recover`] returned is safely in SQLite.
    pub fn create(dir: &Path, fsync: bool, indexed_through: Arc<AtomicU64>) -> io::Result<Journal> {
        let open = |name: &str| -> io::Result<JournalFile> {
            let path = dir.join(name);
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            file.set_len(0)?;
            if fsync {
                file.sync_all()?;
            }
            Ok(JournalFile {
                file,
                path,
                len: 0,
                last_id: 0,
            })
        };
        Ok(Journal {
            files: [open(JOURNAL_FILES[0])?, open(JOURNAL_FILES[1])?],
            current: 0,
            fsync,
            rotate_bytes: ROTATE_BYTES,
            indexed_through,
            out: Vec::new(),
            broken: None,
        })
    }

    /// The file appends go to now.
    pub fn path(&self) -> &Path {
        &self.files[self.current].path
    }

    /// Appends `frames` (sealing each) with one `write()`; once this
    /// returns `Ok`, their records survive the process being killed (and,
    /// with `--fsync`, a power cut). Returns where they went, `None` when
    /// there was nothing to write. On failure the file is cut back to its
    /// last whole frame.
    pub fn append<'a>(
        &mut self,
        frames: impl IntoIterator<Item = &'a mut Frame>,
    ) -> io::Result<Option<Span>> {
        self.out.clear();
        let mut last_id = None;
        for frame in frames.into_iter().filter(|f| !f.is_empty()) {
            frame.seal_into(&mut self.out);
            last_id = last_id.max(frame.last_id);
        }
        let Some(last_id) = last_id else {
            return Ok(None);
        };
        if let Some(kind) = self.broken {
            if !self.rotate(0) {
                return Err(io::Error::from(kind));
            }
            self.broken = None;
        }
        self.rotate(self.rotate_bytes);
        let fsync = self.fsync;
        let current = &mut self.files[self.current];
        let written = current.file.write_all(&self.out).and_then(|()| {
            if fsync {
                current.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // A partial frame would end the journal there on replay, hiding
            // every later frame: drop it.
            let _ = current.file.set_len(current.len);
            self.broken = Some(e.kind());
            return Err(e);
        }
        let span = Span {
            file: self.current,
            start: current.len,
            end: current.len + self.out.len() as u64,
        };
        current.len = span.end;
        current.last_id = current.last_id.max(last_id);
        Ok(Some(span))
    }

    /// Moves to the other file, emptied, when the current one holds at
    /// least `min_len` bytes and the other one nothing SQLite lacks;
    /// whether it moved.
    fn rotate(&mut self, min_len: u64) -> bool {
        let other = 1 - self.current;
        let indexed = self.indexed_through.load(Ordering::Acquire);
        if self.files[self.current].len < min_len || self.files[other].last_id > indexed {
            return false;
        }
        let next = &mut self.files[other];
        if next.file.set_len(0).is_err() {
            return false;
        }
        next.len = 0;
        next.last_id = 0;
        self.current = other;
        true
    }
}

/// History records encoded as one journal frame, built by the core task
/// as the records are made (so the records themselves never leave it) and
/// sealed with its length and checksum when it is written.
#[derive(Debug, Default)]
pub struct Frame {
    bytes: Vec<u8>,
    records: usize,
    last_id: Option<u64>,
}

impl Frame {
    /// A frame holding `records`, in order.
    pub fn of(records: &[HistoryRecord]) -> Frame {
        let mut frame = Frame::default();
        for r in records {
            frame.push(r);
        }
        frame
    }

    /// An empty frame writing into `buffer` (emptied first), for reusing
    /// the buffer of a frame already written ([`Frame::into_buffer`]).
    pub fn reusing(mut buffer: Vec<u8>) -> Frame {
        buffer.clear();
        Frame {
            bytes: buffer,
            ..Frame::default()
        }
    }

    /// Its bytes' buffer, for [`Frame::reusing`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends one record.
    pub fn push(&mut self, r: &HistoryRecord) {
        self.push_ref(&RecordRef::from(r));
    }

    /// Appends one record, borrowed.
    pub fn push_ref(&mut self, r: &RecordRef) {
        if self.bytes.is_empty() {
            self.bytes.extend_from_slice(&[0; HEADER]);
        }
        encode_record(&mut self.bytes, r);
        self.records += 1;
        self.last_id = self.last_id.max(Some(r.id));
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records
    }

    /// How many bytes it takes.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Writes the length and checksum into the header and appends the
    /// whole frame to `out`.
    fn seal_into(&mut self, out: &mut Vec<u8>) {
        self.seal();
        out.extend_from_slice(&self.bytes);
    }

    /// Writes the length and checksum into the header.
    fn seal(&mut self) {
        let Some(payload) = self.bytes.get(HEADER..) else {
            return;
        };
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let crc = crc32fast::hash(payload);
        self.bytes[..4].copy_from_slice(&len.to_le_bytes());
        self.bytes[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    }
}

/// One journaled record, borrowing its strings from a [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub id: u64,
    pub at: Timestamp,
    pub kind: HistoryKind,
    pub target: &'a str,
    pub source: &'a str,
    pub text: &'a str,
    pub from_account: Option<&'a str>,
    pub to_account: Option<&'a str>,
}

impl<'a> From<&'a HistoryRecord> for RecordRef<'a> {
    fn from(r: &'a HistoryRecord) -> RecordRef<'a> {
        RecordRef {
            id: r.id,
            at: r.at,
            kind: r.kind,
            target: &r.target,
            source: &r.source,
            text: &r.text,
            from_account: r.from_account.as_deref(),
            to_account: r.to_account.as_deref(),
        }
    }
}

#[cfg(test)]
impl RecordRef<'_> {
    fn to_owned(self) -> HistoryRecord {
        HistoryRecord {
            id: self.id,
            at: self.at,
            kind: self.kind,
            target: self.target.into(),
            source: self.source.into(),
            text: self.text.into(),
            from_account: self.from_account.map(Into::into),
            to_account: self.to_account.map(Into::into),
        }
    }
}

/// Sealed frames one after another, as a journal file holds them: what
/// the indexer reads back and inserts.
#[derive(Debug, Default)]
pub struct Frames {
    bytes: Vec<u8>,
}

impl Frames {
    /// `records` as one sealed frame.
    #[cfg(test)]
    pub fn of(records: &[HistoryRecord]) -> Frames {
        Frames::join(vec![Frame::of(records)])
    }

    /// `frames`, sealed, one after another.
    pub fn join(frames: Vec<Frame>) -> Frames {
        let mut bytes = Vec::new();
        for mut frame in frames.into_iter().filter(|f| !f.is_empty()) {
            frame.seal_into(&mut bytes);
        }
        Frames { bytes }
    }

    /// Whether it holds no frame.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many bytes it takes.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Moves `more`'s frames after its own.
    pub fn append(&mut self, mut more: Frames) {
        self.bytes.append(&mut more.bytes);
    }

    /// How many bytes it has room for.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Empties it, keeping its buffer.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Every record of every frame, in order, decoded as it goes; stops at
    /// a frame that is cut short or malformed.
    pub fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        let mut rest = &self.bytes[..];
        std::iter::from_fn(move || {
            let (header, tail) = rest.split_first_chunk::<HEADER>()?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let (payload, tail) = tail.split_at_checked(len)?;
            rest = tail;
            Some(Records::new(payload))
        })
        .flatten()
    }

    /// Every record of every frame, in order, skimmed: its id, kind and
    /// target, without decoding (or validating) the rest until asked
    /// ([`Skimmed::decode`]); at a fraction of [`Frames::records`]'s cost
    /// for records that are then passed over. Stops at a frame that is cut
    /// short or malformed.
    pub fn skim(&self) -> impl Iterator<Item = Skimmed<'_>> + '_ {
        let mut rest = &self.bytes[..];
        let mut payload: &[u8] = &[];
        std::iter::from_fn(move || loop {
            if !payload.is_empty() {
                let skimmed = skim_record(&mut payload);
                if skimmed.is_none() {
                    payload = &[];
                }
                return skimmed;
            }
            let (header, tail) = rest.split_first_chunk::<HEADER>()?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let (frame, tail) = tail.split_at_checked(len)?;
            rest = tail;
            payload = frame;
        })
    }
}

/// One journaled record as [`Frames::skim`] found it.
#[derive(Debug, Clone, Copy)]
pub struct Skimmed<'a> {
    pub id: u64,
    pub at: Timestamp,
    pub kind: HistoryKind,
    /// The target's bytes, not checked to be UTF-8.
    pub target: &'a [u8],
    /// The whole record, for [`Skimmed::decode`].
    record: &'a [u8],
}

impl<'a> Skimmed<'a> {
    /// The whole record; `None` if a string in it is not UTF-8.
    pub fn decode(&self) -> Option<RecordRef<'a>> {
        let mut record = self.record;
        take_record(&mut record)
    }

    /// The whole record, encoded as [`encode_record`] does.
    pub fn bytes(&self) -> &'a [u8] {
        self.record
    }
}

/// Reads back what the journal wrote, for the indexer (its own handles on
/// the files; the journal keeps being written meanwhile).
pub struct JournalReader {
    paths: [PathBuf; 2],
    open: [Option<File>; 2],
}

impl JournalReader {
    pub fn new(dir: &Path) -> JournalReader {
        JournalReader {
            paths: JOURNAL_FILES.map(|name| dir.join(name)),
            open: [None, None],
        }
    }

    /// Appends the bytes `span` covers to `into`. A file is only emptied
    /// once SQLite has everything in it, so a span not yet indexed is
    /// always still there.
    pub fn read(&mut self, span: Span, into: &mut Frames) -> io::Result<()> {
        let file = match &mut self.open[span.file] {
            Some(file) => file,
            slot => slot.insert(File::open(&self.paths[span.file])?),
        };
        file.seek(io::SeekFrom::Start(span.start))?;
        // Read into the spare capacity (no zeroing first).
        let want = span.len() as usize;
        into.bytes.reserve(want);
        let got = file.take(span.len()).read_to_end(&mut into.bytes)?;
        if got < want {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// Appends one record in the journal's encoding (see the module
/// documentation), without a frame header: also how the store's blocks
/// hold room messages.
pub fn encode_record(bytes: &mut Vec<u8>, r: &RecordRef) {
    bytes.extend_from_slice(&r.id.to_le_bytes());
    bytes.extend_from_slice(&r.at.0.to_le_bytes());
    let kind = HistoryKind::ALL
        .iter()
        .position(|k| *k == r.kind)
        .unwrap_or(0);
    bytes.push(kind as u8);
    for text in [r.target, r.source, r.text] {
        put_text(bytes, Some(text));
    }
    put_text(bytes, r.from_account);
    put_text(bytes, r.to_account);
}

/// The records [`encode_record`] put one after another into `bytes`, in
/// order. One whose text is not UTF-8 is passed over; a record cut short
/// ends it.
pub fn decode_records_in(mut bytes: &[u8]) -> impl Iterator<Item = RecordRef<'_>> {
    std::iter::from_fn(move || skim_record(&mut bytes)).filter_map(|skimmed| skimmed.decode())
}

fn put_text(frame: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(t) => {
            frame.extend_from_slice(&(t.len() as u32).to_le_bytes());
            frame.extend_from_slice(t.as_bytes());
        }
        None => frame.extend_from_slice(&NONE.to_le_bytes()),
    }
}

/// The id of the first record of a journal file (`None` when it has none),
/// read without moving the file's cursor.
fn first_id(file: &File) -> io::Result<Option<u64>> {
    let mut start = [0; HEADER + 8];
    let mut file = file;
    let read = file.read_exact(&mut start);
    file.seek(io::SeekFrom::Start(0))?;
    match read {
        Ok(()) => {
            let [_, _, _, _, _, _, _, _, id @ ..] = start;
            Ok(Some(u64::from_le_bytes(id)))
        }
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the next whole, intact frame's payload into `payload`; returns
/// its size with the header, or `None` at the end of the file or at a
/// frame cut short (`left` bytes remain in the file) or damaged.
fn next_frame(reader: &mut impl Read, left: u64, payload: &mut Vec<u8>) -> io::Result<Option<u64>> {
    let mut header = [0; HEADER];
    if left < HEADER as u64 || reader.read_exact(&mut header).is_err() {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if u64::from(len) > left - HEADER as u64 {
        return Ok(None);
    }
    payload.resize(len as usize, 0);
    reader.read_exact(payload)?;
    if crc32fast::hash(payload) != crc {
        return Ok(None);
    }
    Ok(Some(HEADER as u64 + u64::from(len)))
}

/// The records of a frame's payload, in order, borrowed from it.
pub struct Records<'a> {
    payload: &'a [u8],
    /// Set when the payload stopped making sense before its end.
    malformed: bool,
}

impl<'a> Records<'a> {
    fn new(payload: &'a [u8]) -> Records<'a> {
        Records {
            payload,
            malformed: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    fn next(&mut self) -> Option<RecordRef<'a>> {
        if self.payload.is_empty() {
            return None;
        }
        let record = take_record(&mut self.payload);
        if record.is_none() {
            self.malformed = true;
            self.payload = &[];
        }
        record
    }
}

/// Every record of `payload`, or `None` if any part of it is malformed.
fn decode_records(payload: &[u8]) -> Option<Vec<RecordRef<'_>>> {
    let mut records = Records::new(payload);
    let decoded: Vec<RecordRef> = records.by_ref().collect();
    (!records.malformed).then_some(decoded)
}

fn take_record<'a>(payload: &mut &'a [u8]) -> Option<RecordRef<'a>> {
    let id = take_u64(payload)?;
    let at = take_u64(payload)?;
    let (&kind, rest) = payload.split_first()?;
    *payload = rest;
    let kind = *HistoryKind::ALL.get(usize::from(kind))?;
    let target = take_text(payload)??;
    let source = take_text(payload)??;
    let text = take_text(payload)??;
    let from_account = take_text(payload)?;
    let to_account = take_text(payload)?;
    Some(RecordRef {
        id,
        at: Timestamp(at),
        kind,
        target,
        source,
        text,
        from_account,
        to_account,
    })
}

/// The next record's id, kind and target (unvalidated), skipping the rest.
fn skim_record<'a>(payload: &mut &'a [u8]) -> Option<Skimmed<'a>> {
    let record = *payload;
    let id = take_u64(payload)?;
    let at = take_u64(payload)?;
    let (&kind, rest) = payload.split_first()?;
    *payload = rest;
    let kind = *HistoryKind::ALL.get(usize::from(kind))?;
    let target = take_raw(payload)??;
    for _ in 0..4 {
        take_raw(payload)?;
    }
    let record = record.get(..record.len() - payload.len())?;
    Some(Skimmed {
        id,
        at: Timestamp(at),
        kind,
        target,
        record,
    })
}

/// The next optional string's bytes: `None` when cut short, `Some(None)`
/// when absent.
fn take_raw<'a>(payload: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let (len, rest) = payload.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len);
    if len == NONE {
        *payload = rest;
        return Some(None);
    }
    let (text, rest) = rest.split_at_checked(len as usize)?;
    *payload = rest;
    Some(Some(text))
}

fn take_u64(payload: &mut &[u8]) -> Option<u64> {
    let (bytes, rest) = payload.split_first_chunk::<8>()?;
    *payload = rest;
    Some(u64::from_le_bytes(*bytes))
}

/// The next optional string: `None` when malformed, `Some(None)` when absent.
fn take_text<'a>(payload: &mut &'a [u8]) -> Option<Option<&'a str>> {
    match take_raw(payload)? {
        None => Some(None),
        Some(text) => std::str::from_utf8(text).ok().map(Some),
    }
}

#[cfg(test)]
mod tests;
