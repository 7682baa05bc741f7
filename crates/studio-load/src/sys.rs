//! What the load tool asks of the operating system: a file-descriptor limit high enough for
//! thousands of sockets, and the resident memory and CPU time of a process (the server under
//! test, or the tool itself) from Linux `/proc`.

use anyhow::Context as _;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (every socket is a descriptor; the usual
/// soft default of 1024 stops an idle run long before the server does). Returns the soft limit
/// now in force, `None` when unlimited.
pub fn raise_fd_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// Resident set size of process `pid` in bytes (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_status_kib(&status, "VmRSS:")
        .map(|kib| kib * 1024)
        .with_context(|| format!("no VmRSS line in {path}"))
}

/// Peak resident set size of process `pid` so far, in bytes (`VmHWM` in `/proc/<pid>/status`).
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_status_kib(&status, "VmHWM:")
        .map(|kib| kib * 1024)
        .with_context(|| format!("no VmHWM line in {path}"))
}

/// The command name of process `pid` (`/proc/<pid>/comm`), for labelling reports.
pub fn command_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|name| name.trim().to_owned())
}

/// CPU time (user plus system) process `pid` has used so far, in seconds
/// (`/proc/<pid>/stat` fields 14 and 15).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let ticks = parse_stat_ticks(&stat).with_context(|| format!("unexpected format of {path}"))?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// utime + stime, in clock ticks, from a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted after its closing `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The value of a `Name:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn parse_status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vmrss_from_status() {
        let status = "Name:\tnode\nVmHWM:\t  90000 kB\nVmRSS:\t   81234 kB\nThreads:\t7\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(81234));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn reads_cpu_ticks_from_stat() {
        let stat = "4242 (node server) S 1 4242 4242 0 -1 4194560 9000 0 0 0 592 77 0 0 20 0 7 0";
        assert_eq!(parse_stat_ticks(stat), Some(592 + 77));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert!(cpu_seconds(std::process::id()).expect("own stat") >= 0.0);
    }

    #[test]
    fn reads_own_rss() {
        let rss = rss_bytes(std::process::id()).expect("own /proc status");
        assert!(rss > 0);
        let peak = peak_rss_bytes(std::process::id()).expect("own /proc status");
        assert!(peak >= rss);
        assert!(command_name(std::process::id()).is_some());
    }
}
