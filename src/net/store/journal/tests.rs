//! Unit tests of the journal: frames round-trip, a torn or damaged tail
//! ends the journal without losing what came before, and the two files
//! take turns only once SQLite has everything in the other one.

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn record(id: u64, kind: HistoryKind, text: &str) -> HistoryRecord {
    HistoryRecord {
        id,
        at: Timestamp(1_700_000_000_000 + id),
        kind,
        target: "#Lobby".into(),
        source: "alice!a@h".into(),
        text: text.into(),
        from_account: None,
        to_account: None,
    }
}

fn journal(dir: &Path) -> (Journal, Arc<AtomicU64>) {
    let indexed = Arc::new(AtomicU64::new(0));
    let journal = Journal::create(dir, false, indexed.clone()).expect("create");
    (journal, indexed)
}

#[test]
fn every_kind_and_both_accounts_come_back_as_written() {
    let dir = temp_dir("round-trip");
    let (mut j, _) = journal(&dir);
    let mut written: Vec<HistoryRecord> = HistoryKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &kind)| record(i as u64 + 1, kind, &format!("text {i} ünïcode")))
        .collect();
    written[6].from_account = Some("alice".into());
    written[6].to_account = Some("Bob".into());
    written[7].text = "".into();
    j.append([&mut Frame::of(&written[..4])]).expect("append");
    j.append([&mut Frame::of(&written[4..])]).expect("append");
    j.append([&mut Frame::default()])
        .expect("an empty batch writes nothing");
    let recovered = Journal::recover(&dir).expect("recover");
    assert_eq!(recovered.records, written);
    assert!(recovered.damaged.is_empty());
}

#[test]
fn a_frame_cut_short_by_a_crash_ends_the_journal_and_keeps_what_came_before() {
    let dir = temp_dir("torn");
    let (mut j, _) = journal(&dir);
    j.append([&mut Frame::of(&[record(1, HistoryKind::Privmsg, "one")])])
        .expect("append");
    j.append([&mut Frame::of(&[record(2, HistoryKind::Privmsg, "two")])])
        .expect("append");
    let path = j.path().to_path_buf();
    let len = std::fs::metadata(&path).expect("meta").len();
    drop(j);
    let file = OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(len - 3).expect("cut");
    let recovered = Journal::recover(&dir).expect("recover");
    assert_eq!(recovered.records, [record(1, HistoryKind::Privmsg, "one")]);
    assert_eq!(recovered.damaged.len(), 1);
    assert_eq!(recovered.damaged[0].0, path);
}

#[test]
fn a_damaged_frame_is_not_replayed_and_nothing_after_it_is_trusted() {
    let dir = temp_dir("damaged");
    let (mut j, _) = journal(&dir);
    for id in 1..=3 {
        j.append([&mut Frame::of(&[record(id, HistoryKind::Privmsg, "hello")])])
            .expect("append");
    }
    let path = j.path().to_path_buf();
    drop(j);
    let mut bytes = std::fs::read(&path).expect("read");
    let frame = bytes.len() / 3;
    bytes[frame + HEADER + 20] ^= 0x55;
    std::fs::write(&path, &bytes).expect("write");
    let recovered = Journal::recover(&dir).expect("recover");
    assert_eq!(
        recovered.records,
        [record(1, HistoryKind::Privmsg, "hello")]
    );
    assert_eq!(recovered.damaged, [(path, (2 * frame) as u64)]);
}

#[test]
fn garbage_in_place_of_a_journal_yields_no_records_and_no_panic() {
    let dir = temp_dir("garbage");
    for (i, junk) in [
        vec![0xff; 64],
        vec![0; 3],
        vec![0; 64],
        b"not a journal at all".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(dir.join(JOURNAL_FILES[i % 2]), &junk).expect("write");
        let recovered = Journal::recover(&dir).expect("recover");
        assert!(recovered.records.is_empty(), "{junk:?}");
    }
}

#[test]
fn the_journal_moves_to_its_other_file_only_once_sqlite_has_everything_in_it() {
    let dir = temp_dir("rotate");
    let (mut j, indexed) = journal(&dir);
    j.rotate_bytes = 100;
    let first = j.path().to_path_buf();
    let long = "x".repeat(120);
    j.append([&mut Frame::of(&[record(1, HistoryKind::Privmsg, &long)])])
        .expect("append");
    // Past the size, but the other file is empty: move over.
    j.append([&mut Frame::of(&[record(2, HistoryKind::Privmsg, &long)])])
        .expect("append");
    let second = j.path().to_path_buf();
    assert_ne!(first, second);
    // Past the size again, but SQLite has only record 1 of the first file
    // (which holds 1): the first file is free, so it is emptied and reused.
    indexed.store(1, Ordering::Release);
    j.append([&mut Frame::of(&[record(3, HistoryKind::Privmsg, &long)])])
        .expect("append");
    assert_eq!(j.path(), first);
    // Now the second file holds record 2, which SQLite lacks: stay put even
    // though the first file is past the size.
    j.append([&mut Frame::of(&[record(4, HistoryKind::Privmsg, &long)])])
        .expect("append");
    assert_eq!(j.path(), first);
    let ids: Vec<u64> = Journal::recover(&dir)
        .expect("recover")
        .records
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        [2, 3, 4],
        "record 1 went with the emptied file, 2 stayed"
    );
}

#[test]
fn with_fsync_every_append_reaches_the_disk_and_comes_back() {
    let dir = temp_dir("fsync");
    let indexed = Arc::new(AtomicU64::new(0));
    let mut j = Journal::create(&dir, true, indexed).expect("create");
    let written = [
        record(1, HistoryKind::Privmsg, "one"),
        record(2, HistoryKind::Notice, "two"),
    ];
    j.append([&mut Frame::of(&written[..1]), &mut Frame::of(&written[1..])])
        .expect("append");
    drop(j);
    assert_eq!(Journal::recover(&dir).expect("recover").records, written);
}

#[test]
fn replay_hands_over_only_records_past_sqlite_in_order_a_chunk_at_a_time() {
    let dir = temp_dir("replay-chunks");
    let (mut j, indexed) = journal(&dir);
    j.rotate_bytes = 1 << 20;
    let text = "x".repeat(200);
    for batch in 0..500u64 {
        let records: Vec<HistoryRecord> = (1..=100)
            .map(|i| record(batch * 100 + i, HistoryKind::Privmsg, &text))
            .collect();
        // SQLite keeps up with the first half, so the files take turns.
        if batch < 250 {
            indexed.store(batch * 100, Ordering::Release);
        }
        j.append([&mut Frame::of(&records)]).expect("append");
    }
    drop(j);
    let mut calls = 0;
    let mut ids = Vec::new();
    let damaged = Journal::replay(&dir, 30_000, |frames| {
        calls += 1;
        ids.extend(frames.records().map(|r| r.id));
        Ok(())
    })
    .expect("replay");
    assert!(damaged.is_empty());
    assert!(calls > 1, "more than {REPLAY_CHUNK_BYTES} bytes in one go");
    assert_eq!(ids, (30_001..=50_000).collect::<Vec<u64>>());
}
