//! Reading CPU and memory of processes from `/proc`, for the benchmark drivers.
//!
//! Owns only reads of `/proc`; it never signals or stops a process. Used by `examples/bench_driver.rs`
//! (per-refresh CPU of this process and of the test fleet's sshd processes) and by
//! `tests/bench_smoke.rs` through `benches/common/warm.rs`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

/// Kernel clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn clock_ticks_per_second() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// The fields of `/proc/PID/stat` after the `(comm)` field, 0-based from `state`.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// utime + stime + cutime + cstime of `pid` in clock ticks: its own CPU and that of every child it
/// has reaped.
pub fn cpu_ticks_with_reaped(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // After "(comm)": state=0 ppid=1 … utime=11 stime=12 cutime=13 cstime=14.
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(n(11)? + n(12)? + n(13)? + n(14)?)
}

/// CPU time used so far by each live thread of this process, nanoseconds, by thread id.
///
/// From `/proc/self/task/*/schedstat` (nanosecond resolution: a refresh of a few hosts takes a
/// few milliseconds of CPU, below the 10 ms tick of `/proc/self/stat`). Compare two snapshots
/// with [`cpu_delta_ns`]: a plain sum would go down when a thread exits in between.
pub fn self_cpu_snapshot() -> HashMap<u32, u64> {
    let mut threads = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ns) = fs::read_to_string(e.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            {
                threads.insert(tid, ns);
            }
        }
    }
    threads
}

/// CPU the threads of `after` used since `before`: a thread born in between counts whole, one
/// that ended in between is missing (its last moments are not counted, never subtracted).
pub fn cpu_delta_ns(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(tid, &ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

/// A field of `/proc/self/status` in kB (`VmHWM`, `VmRSS`).
pub fn self_status_kb(field: &str) -> Option<u64> {
    status_kb(Path::new("/proc/self/status"), field)
}

fn status_kb(path: &Path, field: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Every live process as pid → parent pid.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(f) = stat_fields(pid)
                && f.first().map(String::as_str) != Some("Z")
                && let Some(ppid) = f.get(1).and_then(|v| v.parse().ok())
            {
                map.insert(pid, ppid);
            }
        }
    }
    map
}

/// CPU ticks (own + reaped children) of `roots` and of every live descendant of them, and how
/// many processes that was.
///
/// Read before and after some work, the difference is what the work cost these process trees,
/// provided every process that ended in between was reaped by one of them: true of sshd, whose
/// listener reaps its per-connection processes and those reap the session shells.
pub fn tree_cpu_ticks(roots: &[u32]) -> (u64, usize) {
    let parents = parents();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut total = 0;
    let mut count = 0;
    let mut stack: Vec<u32> = roots.to_vec();
    while let Some(pid) = stack.pop() {
        if let Some(t) = cpu_ticks_with_reaped(pid) {
            total += t;
            count += 1;
        }
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    (total, count)
}

/// The sshd listener PIDs of a `scripts/test-fleet` directory (`DIR/pids`: `PID KIND NAME PORT`).
pub fn fleet_sshd_pids(pids_file: &Path) -> Result<Vec<u32>, String> {
    let text = fs::read_to_string(pids_file)
        .map_err(|e| format!("cannot read {}: {e}", pids_file.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"sshd"))
                .then(|| f.first()?.parse().ok())
                .flatten()
        })
        .collect())
}
