//! CPU time and memory of a process, read from Linux's /proc.
//!
//! Owns: reading `/proc/PID/stat` (utime + stime) and `/proc/PID/status`
//! (VmRSS, VmHWM) for the server under test and for natter-bench itself.
//! Must never: fail a benchmark because /proc is unreadable (it returns `None`),
//! or touch any process other than the one it is asked about.

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

/// This process's CPU seconds so far (0 if /proc is unreadable).
pub fn own_cpu_s() -> f64 {
    sample(None).map(|s| s.cpu_s).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_itself() {
        let s = super::sample(None).expect("/proc/self is readable on Linux");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }
}
