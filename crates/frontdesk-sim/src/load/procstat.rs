//! CPU time and resident memory of a process, from /proc (Linux).

use std::io;

/// Kernel clock ticks per second for /proc times (USER_HZ; 100 on every
/// mainstream Linux architecture).
pub const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds of `pid` (all threads), `"self"` for this process.
pub fn cpu_secs(pid: &str) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|t| t as f64 / TICKS_PER_SEC)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unreadable /proc/{pid}/stat"),
            )
        })
}

/// utime + stime from a /proc/<pid>/stat line.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of `pid` in KiB.
pub fn rss_kib(pid: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status"),
        )
    })
}

pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The one core `pid` may run on, if its affinity is a single core.
pub fn single_core(pid: &str) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_single_core(&status)
}

pub fn parse_single_core(status: &str) -> Option<usize> {
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))?;
    line.split_once(':')?.1.trim().parse().ok()
}

/// Busy and total jiffies of every core (`cpu0`, `cpu1`, ...) from /proc/stat.
pub fn core_ticks() -> io::Result<Vec<(u64, u64)>> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    Ok(parse_core_ticks(&stat))
}

pub fn parse_core_ticks(stat: &str) -> Vec<(u64, u64)> {
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest time is already in user).
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total.saturating_sub(idle), total)
        })
        .collect()
}

/// Busy share (%) of each core between two `core_ticks` readings.
pub fn core_busy_pct(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(&(b0, t0), &(b1, t1))| {
            let total = t1.saturating_sub(t0);
            if total == 0 {
                0.0
            } else {
                b1.saturating_sub(b0) as f64 * 100.0 / total as f64
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_and_status() {
        let stat = "1234 (front desk) (x)) S 1 1234 1234 0 -1 4194560 500 0 0 0 731 269 0 0 20 0 3 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(1000));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        let status = "Name:\tfrontdesk\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
        assert_eq!(parse_single_core("Cpus_allowed_list:\t1\n"), Some(1));
        assert_eq!(parse_single_core("Cpus_allowed_list:\t0-1\n"), None);
        assert!(cpu_secs("self").is_ok());
        let stat = "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 40 0 0 0 0 0 0\nintr 1 2\n";
        let before = parse_core_ticks(stat);
        assert_eq!(before, vec![(10, 50), (10, 50)]);
        let after = vec![(60, 150), (10, 150)];
        assert_eq!(core_busy_pct(&before, &after), vec![50.0, 0.0]);
        assert!(rss_kib("self").unwrap_or(0) > 0);
    }
}
