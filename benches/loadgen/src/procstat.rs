//! CPU seconds and peak RSS of the servers under test (and of this
//! process), read from Linux's /proc around each phase. The peak is VmHWM,
//! reset at the start of a phase by writing 5 to /proc/PID/clear_refs, so
//! it is the phase's own peak (it cannot go below what the process held
//! when the phase started).

use std::fs;

/// Linux reports CPU times in USER_HZ ticks, 100 per second on every
/// architecture it supports.
const TICKS_PER_SEC: f64 = 100.0;

/// A named group of processes whose costs are added up (e.g. nginx's
/// master and workers), given as `label=PID[,PID...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub label: String,
    pub pids: Vec<u32>,
}

impl std::str::FromStr for Watch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (label, pids) = s
            .split_once('=')
            .ok_or_else(|| format!("{s}: expected LABEL=PID[,PID...]"))?;
        let pids = pids
            .split(',')
            .map(|p| p.trim().parse::<u32>().map_err(|e| format!("{s}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if label.is_empty() || pids.is_empty() {
            return Err(format!("{s}: expected LABEL=PID[,PID...]"));
        }
        Ok(Watch {
            label: label.to_owned(),
            pids,
        })
    }
}

/// utime + stime in seconds from the text of /proc/PID/stat.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: the
    // fields after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// VmHWM in MiB from the text of /proc/PID/status.
pub fn peak_rss_mib_from_status(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn cpu_seconds(pid: &str) -> Option<f64> {
    cpu_seconds_from_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process's CPU seconds so far.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds("self").unwrap_or(0.0)
}

impl Watch {
    /// Summed CPU seconds of the group (processes that are gone count 0).
    pub fn cpu_seconds(&self) -> f64 {
        self.pids
            .iter()
            .filter_map(|p| cpu_seconds(&p.to_string()))
            .sum()
    }

    /// Summed peak RSS of the group since the last reset, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.pids
            .iter()
            .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
            .filter_map(|s| peak_rss_mib_from_status(&s))
            .sum()
    }

    /// Restart the peak RSS from the current RSS (needs the right to write
    /// the process's clear_refs: same user or root). Best effort.
    pub fn reset_peak(&self) {
        for pid in &self.pids {
            let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Whether every process of the group still runs.
    pub fn alive(&self) -> bool {
        self.pids
            .iter()
            .all(|p| fs::metadata(format!("/proc/{p}/stat")).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_an_odd_name() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_seconds_from_stat(stat), Some(3.25));
    }

    #[test]
    fn vmhwm() {
        let status = "Name:\tx\nVmPeak:\t 9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(peak_rss_mib_from_status(status), Some(2.0));
    }

    #[test]
    fn watch_parses() {
        let w: Watch = "nginx=10,11".parse().unwrap();
        assert_eq!(w.label, "nginx");
        assert_eq!(w.pids, vec![10, 11]);
        assert!("nginx".parse::<Watch>().is_err());
        assert!("=1".parse::<Watch>().is_err());
        assert!("a=x".parse::<Watch>().is_err());
    }

    #[test]
    fn own_cpu_is_readable() {
        assert!(own_cpu_seconds() >= 0.0);
        assert!(cpu_seconds("self").is_some());
    }
}
