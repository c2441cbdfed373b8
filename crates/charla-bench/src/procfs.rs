//! What the generator reads from /proc: a process's resident memory and CPU time.
//!
//! CPU times in /proc/PID/stat are in clock ticks of `USER_HZ`, which Linux fixes at 100 for
//! every user-space ABI on the platforms this runs on, so no `sysconf` call (and no unsafe code)
//! is needed.

use std::io;

/// Clock ticks per second in /proc/PID/stat (Linux's `USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Resident set size in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: f64,
}

/// Reads a process (`None`: the generator itself).
pub fn sample(pid: Option<u32>) -> io::Result<Sample> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_owned(),
    };
    let status = std::fs::read_to_string(format!("{dir}/status"))?;
    let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
    let rss_kib = parse_vmrss_kib(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in status"))?;
    let ticks = parse_stat_cpu_ticks(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad stat line"))?;
    Ok(Sample {
        rss_kib,
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
    })
}

/// Reads process `pid` and adds `also` (other nodes of one network) to it; `None` without a
/// pid, or if one cannot be read.
pub fn sample_all(pid: Option<u32>, also: &[u32]) -> Option<Sample> {
    let mut sum = sample(Some(pid?)).ok()?;
    for other in also {
        let s = sample(Some(*other)).ok()?;
        sum.rss_kib += s.rss_kib;
        sum.cpu_seconds += s.cpu_seconds;
    }
    Some(sum)
}

/// One thread of a process: its id, name (`comm`, at most 15 bytes) and CPU ticks so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadTicks {
    /// The thread id.
    pub tid: u32,
    /// Its name.
    pub name: String,
    /// User plus system CPU time in clock ticks.
    pub ticks: u64,
}

/// Every thread of process `pid` now (/proc/PID/task/*/stat); threads that end while they are
/// read are skipped.
pub fn thread_cpu(pid: u32) -> io::Result<Vec<ThreadTicks>> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let (Some(name), Some(ticks)) = (parse_stat_name(&stat), parse_stat_cpu_ticks(&stat)) {
            threads.push(ThreadTicks {
                tid,
                name: name.to_owned(),
                ticks,
            });
        }
    }
    Ok(threads)
}

/// Context switches of every thread of process `pid` so far (voluntary and involuntary, from
/// /proc/PID/task/*/status): how often its threads were put to sleep and woken. Threads that
/// end while they are read are skipped.
pub fn context_switches(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(status) = std::fs::read_to_string(entry?.path().join("status")) else {
            continue;
        };
        total += parse_context_switches(&status).unwrap_or(0);
    }
    Ok(total)
}

/// `voluntary_ctxt_switches` plus `nonvoluntary_ctxt_switches` from a status file.
pub fn parse_context_switches(status: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
    };
    Some(field("voluntary_ctxt_switches:")? + field("nonvoluntary_ctxt_switches:")?)
}

/// CPU seconds between two readings of a process's threads, added up by thread name (a thread
/// born in between counts whole; one that ended is lost), the busiest first.
pub fn thread_cpu_delta(before: &[ThreadTicks], after: &[ThreadTicks]) -> Vec<(String, f64)> {
    let mut by_name: Vec<(String, u64)> = Vec::new();
    for t in after {
        let earlier = before
            .iter()
            .find(|b| b.tid == t.tid)
            .map_or(0, |b| b.ticks);
        let ticks = t.ticks.saturating_sub(earlier);
        match by_name.iter_mut().find(|(n, _)| *n == t.name) {
            Some((_, total)) => *total += ticks,
            None => by_name.push((t.name.clone(), ticks)),
        }
    }
    by_name.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    by_name
        .into_iter()
        .map(|(name, ticks)| (name, ticks as f64 / TICKS_PER_SECOND))
        .collect()
}

/// The command name (field 2, between the first `(` and the last `)`) of a stat line.
pub fn parse_stat_name(stat: &str) -> Option<&str> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    stat.get(open + 1..close)
}

/// Whether the process still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The machine's one-minute load average (/proc/loadavg), if readable.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `VmRSS:    1234 kB` from /proc/PID/status.
pub fn parse_vmrss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15) from /proc/PID/stat. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // After ")" come fields 3 (state), 4, ...; utime is field 14, i.e. index 11 here.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrss_is_read_from_status() {
        let status = "Name:\tngircd\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t1\n";
        assert_eq!(parse_vmrss_kib(status), Some(4321));
        assert_eq!(parse_vmrss_kib("Name: x\n"), None);
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (we ird) (name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(320));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn thread_names_and_deltas() {
        let stat = "1234 (we ird) (name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 1 0";
        assert_eq!(parse_stat_name(stat), Some("we ird) (name)"));
        let t = |tid, name: &str, ticks| ThreadTicks {
            tid,
            name: name.to_owned(),
            ticks,
        };
        let before = [t(1, "main", 100), t(2, "worker", 50), t(3, "worker", 10)];
        let after = [
            t(1, "main", 110),
            t(2, "worker", 80),
            t(3, "worker", 30),
            t(4, "new", 5),
        ];
        assert_eq!(
            thread_cpu_delta(&before, &after),
            vec![
                ("worker".to_owned(), 0.5),
                ("main".to_owned(), 0.1),
                ("new".to_owned(), 0.05)
            ]
        );
        let mine = thread_cpu(std::process::id()).expect("own threads");
        assert!(!mine.is_empty());
    }

    #[test]
    fn context_switches_add_both_kinds() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t 3\n";
        assert_eq!(parse_context_switches(status), Some(123));
        assert_eq!(parse_context_switches("Name:\tx\n"), None);
        assert!(context_switches(std::process::id()).is_ok_and(|n| n > 0));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(None).expect("own /proc entry");
        assert!(me.rss_kib > 0);
        assert!(alive(std::process::id()));
        assert!(load_average().is_some_and(|l| l >= 0.0));
    }
}
