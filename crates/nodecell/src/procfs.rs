//! What the host reads about a sandbox's processes from /proc: the process tree, CPU time,
//! memory, and the protections in force (for backends that do not report them themselves).

use std::fs;

/// The children of `pid` (forked by any of its threads).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// The process `depth` generations below `pid`, following first children.
pub fn descendant(pid: i32, depth: usize) -> Option<i32> {
    let mut p = pid;
    for _ in 0..depth {
        p = *children(p).iter().min()?;
    }
    Some(p)
}

/// `pid` and every process below it.
pub fn tree(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let more = children(out[i]);
        out.extend(more);
        i += 1;
    }
    out
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(") ")
            .is_some_and(|i| !s[i + 2..].starts_with(['Z', 'X']))
    })
}

/// SIGKILLs every live process below `pid` (not `pid` itself), again until none is left.
/// While `pid` is alive and a child subreaper (the launcher), whatever a killed process
/// leaves is re-parented to it, so nothing below it can get away by detaching; a process
/// that forks meanwhile is found in the next round. At most `rounds` rounds.
pub fn kill_below(pid: i32, rounds: usize) {
    use nix::sys::signal::{kill, Signal};
    for _ in 0..rounds {
        let below: Vec<i32> = tree(pid)
            .into_iter()
            .skip(1)
            .filter(|&p| alive(p))
            .collect();
        if below.is_empty() {
            return;
        }
        for p in below {
            let _ = kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

/// Fields of /proc/<pid>/stat after the command name (field 3 is index 0).
fn stat_fields(pid: i32) -> Option<Vec<u64>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

fn clock_ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64)
}

/// CPU time of `pid` (all its threads) and of the children it has reaped, in nanoseconds.
pub fn cpu_ns(pid: i32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // utime, stime, cutime, cstime are fields 14-17.
    let ticks: u64 = f.get(10..14)?.iter().sum();
    Some(ticks * 1_000_000_000 / clock_ticks_per_second())
}

/// Number of threads of `pid`.
pub fn threads(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(16).copied()
}

/// Resident memory of `pid`, in bytes.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64)
}

/// A `kB` field of /proc/<pid>/status (VmData, VmHWM, ...), in bytes.
pub fn status_kib_field(pid: i32, key: &str) -> Option<u64> {
    status_field(pid, key)?
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// A field of /proc/<pid>/status, as text.
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Namespaces `pid` does not share with this process.
pub fn own_namespaces(pid: i32) -> Vec<String> {
    [
        ("user", "user"),
        ("pid", "pid"),
        ("mnt", "mount"),
        ("net", "network"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("cgroup", "cgroup"),
    ]
    .into_iter()
    .filter(|(file, _)| {
        let theirs = fs::read_link(format!("/proc/{pid}/ns/{file}"));
        let ours = fs::read_link(format!("/proc/self/ns/{file}"));
        matches!((theirs, ours), (Ok(a), Ok(b)) if a != b)
    })
    .map(|(_, name)| name.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        assert!(rss_bytes(me).unwrap() > 0);
        assert!(threads(me).unwrap() >= 1);
        assert!(cpu_ns(me).is_some());
        assert!(status_kib_field(me, "VmData").unwrap() > 0);
        assert!(own_namespaces(me).is_empty());
        assert_eq!(tree(me)[0], me);
    }
}
