//! CPU time and memory of a process, read from Linux's /proc.
//!
//! Owns: reading `/proc/PID/stat` (utime + stime) and `/proc/PID/status`
//! (VmRSS, VmHWM) for the server under test and for natter-bench itself;
//! a finer CPU clock from `/proc/PID/task/*/sched`; and [`IdleWatch`], which
//! says when a process has stopped working (a server may put work off until
//! after the measured phase: building indexes, flushing, compacting).
//! Must never: fail a benchmark because /proc is unreadable (it returns `None`),
//! or touch any process other than the one it is asked about.
//!
//! `/proc/PID/stat`'s utime and stime are the whole process's: every thread,
//! live or exited (per-thread figures are under `/proc/PID/task/TID/stat`),
//! so natter-bench's own CPU from `/proc/self/stat` counts all its threads.
//! They tick at USER_HZ (10 ms); too coarse to tell 2 ms of work from none.

use std::collections::VecDeque;

use serde::Serialize;

/// Clock ticks per second for /proc/PID/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process's CPU and memory.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ProcSample {
    /// User + system CPU seconds used so far.
    pub cpu_s: f64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory so far, KiB.
    pub hwm_kib: u64,
}

/// Read `pid`'s CPU and memory (`None` for `/proc/self`), or `None` if gone.
pub fn sample(pid: Option<u32>) -> Option<ProcSample> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; index 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_s: (utime + stime) as f64 / TICKS_PER_SEC,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// This process's CPU seconds so far, all threads (0 if /proc is unreadable).
pub fn own_cpu_s() -> f64 {
    sample(None).map(|s| s.cpu_s).unwrap_or(0.0)
}

/// CPU time of `pid`'s live threads in nanoseconds, from the scheduler's
/// `se.sum_exec_runtime` (milliseconds with six decimals) in
/// `/proc/PID/task/*/sched`: nanosecond resolution where `stat` has 10 ms.
/// `None` where the kernel does not provide it (then use [`sample`]).
/// Threads that have exited drop out of the sum: for telling busy from
/// idle, not for totals.
pub fn precise_cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let sched = std::fs::read_to_string(task.ok()?.path().join("sched")).ok()?;
        let ms: f64 = sched
            .lines()
            .find(|l| l.starts_with("se.sum_exec_runtime"))?
            .split(':')
            .nth(1)?
            .trim()
            .parse()
            .ok()?;
        total += (ms * 1e6) as u64;
    }
    Some(total)
}

/// Says when a process has gone idle, from CPU readings taken every so
/// often: idle once its CPU time advanced by less than `threshold_ns` over
/// the last `window_ns` (between the newest reading and the newest one at
/// least a window older).
///
/// ```
/// use natter::bench::procstat::IdleWatch;
/// let mut w = IdleWatch::new(300, 2); // < 2 ns of CPU in 300 ns
/// assert!(!w.push(0, 1_000));
/// assert!(!w.push(300, 1_010));       // 10 ns in the window: busy
/// assert!(w.push(600, 1_011));        // 1 ns in 300: idle
/// ```
#[derive(Debug, Clone)]
pub struct IdleWatch {
    window_ns: u64,
    threshold_ns: u64,
    /// (time, CPU) readings, oldest first; the front is the newest one at
    /// least a window older than the back, once there is one.
    readings: VecDeque<(u64, u64)>,
}

impl IdleWatch {
    pub fn new(window_ns: u64, threshold_ns: u64) -> IdleWatch {
        IdleWatch {
            window_ns,
            threshold_ns,
            readings: VecDeque::new(),
        }
    }

    /// Add a reading (`cpu_ns` used by `at_ns`); returns whether the
    /// process is idle now.
    pub fn push(&mut self, at_ns: u64, cpu_ns: u64) -> bool {
        self.readings.push_back((at_ns, cpu_ns));
        while self
            .readings
            .get(1)
            .is_some_and(|&(t, _)| at_ns.saturating_sub(t) >= self.window_ns)
        {
            self.readings.pop_front();
        }
        match self.readings.front() {
            Some(&(t, cpu)) if at_ns.saturating_sub(t) >= self.window_ns => {
                cpu_ns.saturating_sub(cpu) < self.threshold_ns
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let s = sample(None).expect("/proc/self is readable on Linux");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }

    /// CPU seconds of the calling thread alone (its own stat file).
    fn this_thread_cpu_s() -> f64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("thread stat");
        let after = &stat[stat.rfind(')').expect("comm") + 1..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 =
            f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
        ticks as f64 / TICKS_PER_SEC
    }

    #[test]
    fn own_cpu_counts_every_thread_not_only_the_calling_one() {
        let before = own_cpu_s();
        // A second thread burns 0.3 s of its own CPU; the main thread idles.
        let burnt = std::thread::spawn(|| {
            let mut x = 0u64;
            while this_thread_cpu_s() < 0.3 {
                for i in 0..100_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
            this_thread_cpu_s()
        })
        .join()
        .expect("burner thread");
        let used = own_cpu_s() - before;
        assert!(
            used >= burnt - 0.02,
            "the process's CPU ({used} s) misses the other thread's {burnt} s"
        );
    }

    #[test]
    fn the_precise_clock_reads_itself_and_advances_with_work() {
        let Some(a) = precise_cpu_ns(std::process::id()) else {
            return; // kernel without /proc/PID/task/*/sched
        };
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let b = precise_cpu_ns(std::process::id()).expect("still readable");
        assert!(b > a, "{a} -> {b}");
    }

    #[test]
    fn idle_means_less_than_the_threshold_over_a_whole_window() {
        let mut w = IdleWatch::new(300, 2);
        assert!(!w.push(0, 0), "one reading spans no window");
        assert!(!w.push(100, 0));
        assert!(!w.push(200, 0), "200 of the 300 covered");
        assert!(w.push(300, 1), "1 ns of CPU over 300 ns");
        let mut w = IdleWatch::new(300, 2);
        for (t, cpu) in [(0, 0), (100, 50), (200, 100), (300, 150), (400, 151)] {
            assert!(!w.push(t, cpu), "busy at {t}");
        }
        assert!(!w.push(500, 151), "51 ns since t = 200");
        assert!(w.push(600, 151), "1 ns since t = 300");
    }
}
