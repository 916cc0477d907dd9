//! [`ServerLog`]: writes the core's [`LogRecord`]s to `server.log`.
//!
//! Owns the log file: each record is rendered with
//! [`crate::core::render_log_line`] at its time converted to local time, and
//! written as-is (no prefix) through flexi_logger's file writer, buffered and
//! flushed in the background, optionally rotated by size. The lines of one
//! batch of the core are gathered and handed to the writer together
//! ([`ServerLog::hand_over`]): the writer's lock and formatting per line cost
//! about as much as rendering the line. Must never decide what is logged
//! (the core does), and never block the core task for long: writes land in a
//! memory buffer that a flexi_logger thread flushes.

use crate::core::{log_stamp, LogRecord};
use chrono::TimeZone;
use flexi_logger::writers::{FileLogWriter, LogWriter};
use flexi_logger::{Cleanup, Criterion, DeferredNow, FileSpec, Naming, WriteMode};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// Where and how `server.log` is written.
///
/// ```
/// let options = natter::net::LogOptions::file("server.log");
/// assert_eq!(options.rotate_size, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// The log file. Appended to if it exists.
    pub path: PathBuf,
    /// Rotate when the file passes this many bytes. With rotation, flexi_logger
    /// writes to `<stem>_rCURRENT.<ext>` and keeps older files as
    /// `<stem>_r00000.<ext>`, `<stem>_r00001.<ext>`, …
    pub rotate_size: Option<u64>,
    /// How many rotated files to keep.
    pub keep_files: usize,
}

impl LogOptions {
    /// Log to `path`, without rotation.
    pub fn file(path: impl Into<PathBuf>) -> LogOptions {
        LogOptions {
            path: path.into(),
            rotate_size: None,
            keep_files: 5,
        }
    }
}

/// Why the log file could not be opened.
#[derive(Debug)]
pub enum LogError {
    /// The path names a directory.
    IsADirectory { path: PathBuf },
    /// flexi_logger could not create or open the file.
    Open { path: PathBuf, detail: String },
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::IsADirectory { path } => write!(
                f,
                "cannot write the log file {}: it is a directory; \
                 give a file path with --log-file, e.g. --log-file {}",
                path.display(),
                path.join("server.log").display()
            ),
            LogError::Open { path, detail } => write!(
                f,
                "cannot write the log file {}: {detail}; \
                 choose a writable path with --log-file",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LogError {}

/// The open `server.log`, or nowhere.
pub struct ServerLog {
    writer: Option<FileLogWriter>,
    /// The timestamp prefix of the last second logged, rendered once and
    /// reused for every line in that second.
    stamp: RefCell<(Option<u64>, String)>,
    /// Lines rendered and not yet handed to the writer, each but the last
    /// ended by a newline (a rendered line never holds one).
    pending: RefCell<String>,
    /// Pending bytes past which [`ServerLog::write`] hands them over at once.
    hand_over_at: usize,
}

/// Most bytes of lines gathered before they are handed to the writer.
const HAND_OVER_BYTES: usize = 16 << 10;

/// Writes the message only: the core's rendered line already has its timestamp.
fn bare_line(
    w: &mut dyn std::io::Write,
    _now: &mut DeferredNow,
    record: &log::Record,
) -> std::io::Result<()> {
    write!(w, "{}", record.args())
}

impl ServerLog {
    /// A log that writes nothing.
    pub fn disabled() -> ServerLog {
        ServerLog {
            writer: None,
            stamp: RefCell::default(),
            pending: RefCell::default(),
            hand_over_at: HAND_OVER_BYTES,
        }
    }

    /// Opens (appending) the file described by `options`.
    pub fn open(options: &LogOptions) -> Result<ServerLog, LogError> {
        if options.path.is_dir() {
            return Err(LogError::IsADirectory {
                path: options.path.clone(),
            });
        }
        let error = |detail: String| LogError::Open {
            path: options.path.clone(),
            detail,
        };
        let spec = FileSpec::try_from(absolute(&options.path)).map_err(|e| error(e.to_string()))?;
        let rotation = options.rotate_size.map(|size| {
            (
                Criterion::Size(size),
                Naming::Numbers,
                Cleanup::KeepLogFiles(options.keep_files),
            )
        });
        let writer = FileLogWriter::builder(spec)
            .format(bare_line)
            .append()
            .o_rotate(rotation)
            // Rotation is rare; deleting an old file inline keeps it simple
            // and leaves no thread behind.
            .cleanup_in_background_thread(false)
            .write_mode(WriteMode::BufferAndFlush)
            .try_build()
            .map_err(|e| error(e.to_string()))?;
        Ok(ServerLog {
            writer: Some(writer),
            stamp: RefCell::default(),
            pending: RefCell::default(),
            // Rotation by size is checked after each hand-over: a few lines
            // at a time keep each file near its size.
            hand_over_at: options.rotate_size.map_or(HAND_OVER_BYTES, |size| {
                (size as usize / 8).min(HAND_OVER_BYTES)
            }),
        })
    }

    /// Appends the line for `record`: gathered with the others of this
    /// batch until [`ServerLog::hand_over`] (or until they are many).
    pub fn write(&self, record: &LogRecord) {
        if self.writer.is_none() {
            return;
        }
        let mut stamp = self.stamp.borrow_mut();
        let secs = record.at.secs();
        if stamp.0 != Some(secs) {
            let local = chrono::Local
                .timestamp_millis_opt(record.at.0 as i64)
                .single()
                .map(|t| t.naive_local())
                .unwrap_or_default();
            *stamp = (Some(secs), log_stamp(local));
        }
        let mut pending = self.pending.borrow_mut();
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&stamp.1);
        record.entry.render_into(&mut pending);
        if pending.len() >= self.hand_over_at {
            drop(pending);
            self.hand_over();
        }
    }

    /// Hands the gathered lines to the writer as one record (the writer
    /// ends it with the last line's newline). The core task calls it at
    /// the end of each batch.
    pub fn hand_over(&self) {
        let Some(writer) = &self.writer else {
            return;
        };
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return;
        }
        let mut now = DeferredNow::new();
        let result = writer.write(
            &mut now,
            &log::Record::builder()
                .args(format_args!("{}", pending.as_str()))
                .level(log::Level::Info)
                .target("server_log")
                .build(),
        );
        if let Err(e) = result {
            eprintln!("natter-server: could not write server.log: {e}");
        }
        pending.clear();
        if pending.capacity() > 4 * HAND_OVER_BYTES {
            pending.shrink_to(HAND_OVER_BYTES);
        }
    }

    /// Writes everything buffered to the file.
    pub fn flush(&self) {
        self.hand_over();
        if let Some(writer) = &self.writer {
            if let Err(e) = writer.flush() {
                eprintln!("natter-server: could not flush server.log: {e}");
            }
        }
    }
}

impl Drop for ServerLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `path` made absolute against the working directory, so that a bare
/// `server.log` has a parent directory for flexi_logger.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{render_log_line, LogEntry, Timestamp};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("natter-server-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        dir
    }

    fn said(i: usize) -> LogRecord {
        LogRecord {
            at: Timestamp(1_699_533_301_000),
            entry: LogEntry::Message {
                nick: "John".into(),
                room: None,
                text: format!("Hello everyone! {i}").into(),
            },
        }
    }

    /// The line the shell should write for `said(i)`, in this machine's time zone.
    fn expected(i: usize) -> String {
        let local = chrono::Local
            .timestamp_millis_opt(1_699_533_301_000)
            .single()
            .expect("a valid instant")
            .naive_local();
        render_log_line(&said(i).entry, local)
    }

    #[test]
    fn records_are_appended_as_the_seed_lines_with_nothing_added() {
        let dir = temp_dir("plain");
        let path = dir.join("server.log");
        std::fs::write(&path, "an older line\n").expect("seed the file");
        let log = ServerLog::open(&LogOptions::file(&path)).expect("open log");
        log.write(&said(1));
        log.write(&said(2));
        log.flush();
        let text = std::fs::read_to_string(&path).expect("read log");
        assert_eq!(
            text,
            format!("an older line\n{}\n{}\n", expected(1), expected(2))
        );
    }

    #[test]
    fn a_batch_longer_than_one_hand_over_is_written_whole_and_in_order() {
        let dir = temp_dir("long-batch");
        let path = dir.join("server.log");
        let log = ServerLog::open(&LogOptions::file(&path)).expect("open log");
        let lines = 3 * HAND_OVER_BYTES / expected(0).len();
        for i in 0..lines {
            log.write(&said(i));
        }
        log.hand_over();
        log.write(&said(lines));
        log.flush();
        let text = std::fs::read_to_string(&path).expect("read log");
        let want: String = (0..=lines).map(|i| expected(i) + "\n").collect();
        assert_eq!(text, want);
    }

    #[test]
    fn each_line_carries_its_own_second_though_the_stamp_is_reused() {
        let dir = temp_dir("stamps");
        let path = dir.join("server.log");
        let log = ServerLog::open(&LogOptions::file(&path)).expect("open log");
        let mut later = said(2);
        later.at = Timestamp(said(1).at.0 + 61_000);
        log.write(&said(1));
        log.write(&said(1));
        log.write(&later);
        log.flush();
        let text = std::fs::read_to_string(&path).expect("read log");
        let local = |at: Timestamp| {
            chrono::Local
                .timestamp_millis_opt(at.0 as i64)
                .single()
                .expect("a valid instant")
                .naive_local()
        };
        let want = format!(
            "{}\n{}\n{}\n",
            expected(1),
            expected(1),
            render_log_line(&later.entry, local(later.at))
        );
        assert_eq!(text, want);
    }

    #[test]
    fn rotation_by_size_keeps_only_the_newest_files() {
        let dir = temp_dir("rotate");
        let options = LogOptions {
            path: dir.join("server.log"),
            rotate_size: Some(200),
            keep_files: 2,
        };
        let log = ServerLog::open(&options).expect("open log");
        for i in 0..40 {
            log.write(&said(i));
        }
        log.flush();
        drop(log);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("list dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        assert_eq!(
            names.len(),
            3,
            "current file plus two kept rotations: {names:?}"
        );
        assert!(
            names.contains(&"server_rCURRENT.log".to_string()),
            "{names:?}"
        );
        let current =
            std::fs::read_to_string(dir.join("server_rCURRENT.log")).expect("read current");
        assert!(
            current.ends_with(&format!("{}\n", expected(39))),
            "{current}"
        );
    }

    #[test]
    fn a_directory_is_refused_with_advice() {
        let dir = temp_dir("is-a-dir");
        let error = ServerLog::open(&LogOptions::file(&dir))
            .err()
            .expect("a directory is not a log file");
        assert!(error.to_string().contains("--log-file"), "{error}");
    }
}
