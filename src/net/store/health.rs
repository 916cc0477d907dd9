//! Whether history writes are failing, and what to tell the operator.
//!
//! Owns the rule that a failing disk is reported once when writes start
//! failing, at most once a minute while they keep failing, and once when
//! they work again. Must never print anything itself: it returns the
//! report and the caller writes it.

use std::fmt::Display;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a history store that keeps failing is reported again.
pub(super) const REPORT_FAILING_EVERY: Duration = Duration::from_secs(60);

/// Whether history commits are failing. Operators hear about it on stderr
/// once when writes start failing, at most once a minute while they keep
/// failing, and once when they work again, never once per commit (a full
/// disk under a busy room would otherwise flood the terminal).
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
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
    pub(super) fn record<E: Display>(
        &mut self,
        outcome: Result<(), E>,
        records: usize,
        path: &Path,
        now: Instant,
    ) -> Option<String> {
        match (outcome, &mut self.failing) {
            (Ok(()), None) => None,
            (Ok(()), Some(failing)) => {
                let report = format!(
                    "natter-server: history is being stored in {} again; {} records from the \
                     last {} s were not stored and may be missing from history after a restart",
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
                     messages may be missing from history after a restart until this is fixed \
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
