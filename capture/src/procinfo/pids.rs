//! Processes by pid, from their `/proc/PID` files (`stat`, `status`, `comm`, `cmdline`, `maps`,
//! the `exe` link): the process list, a process's state, and finding processes by name.
use std::fs;
use std::io;
use std::path::PathBuf;

use super::maps::{self, Mapping};
use super::ProcError;

/// What `/proc/PID/stat` and `status` say.
pub(super) struct Stat {
    pub(super) state: char,
    pub(super) ppid: u32,
    pub(super) uid: u32,
    pub(super) kernel_thread: bool,
}

const PF_KTHREAD: u64 = 0x0020_0000;

pub(super) fn all_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

pub(super) fn read_proc(pid: u32, file: &str) -> Result<String, ProcError> {
    let path = format!("/proc/{pid}/{file}");
    let bytes = fs::read(&path).map_err(|e| ProcError::from_io(pid, &path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub(super) fn read_maps(pid: u32) -> Result<Vec<Mapping>, ProcError> {
    let text = read_proc(pid, "maps")?;
    Ok(maps::parse_unique(&text))
}

pub(super) fn read_stat(pid: u32) -> Result<Stat, ProcError> {
    if pid == 0 {
        return Err(ProcError::NoSuchProcess(0));
    }
    let stat = read_proc(pid, "stat")?;
    let status = read_proc(pid, "status")?;
    let bad = || ProcError::Io {
        pid,
        path: PathBuf::from(format!("/proc/{pid}/stat")),
        source: io::Error::new(io::ErrorKind::InvalidData, "unexpected format"),
    };
    // "pid (comm) state ppid pgrp session tty_nr tpgid flags ..."; comm may contain ") ".
    let after = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let ppid = fields.get(1).and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let flags: u64 = fields.get(6).and_then(|f| f.parse().ok()).ok_or_else(bad)?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_ascii_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .ok_or_else(bad)?;
    let state = fields
        .first()
        .and_then(|f| f.chars().next())
        .ok_or_else(bad)?;
    Ok(Stat {
        state,
        ppid,
        uid,
        kernel_thread: flags & PF_KTHREAD != 0,
    })
}

/// State letter from `/proc/PID/stat`.
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

pub(super) fn read_cmdline(pid: u32) -> Result<String, ProcError> {
    let raw = read_proc(pid, "cmdline")?;
    Ok(raw
        .trim_end_matches('\0')
        .split('\0')
        .collect::<Vec<_>>()
        .join(" "))
}

fn argv0(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = raw.split(|&b| b == 0).next()?;
    (!first.is_empty()).then(|| String::from_utf8_lossy(first).into_owned())
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `/proc/PID/comm` without the newline.
pub fn comm(pid: u32) -> Option<String> {
    let c = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(c.trim_end_matches('\n').to_string())
}

/// Pids whose comm is exactly `name`, or whose executable's or argv\[0\]'s file name is `name`.
/// Sorted; zombies excluded.
pub fn pids_named(name: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            let matches = comm(pid).as_deref() == Some(name)
                || fs::read_link(format!("/proc/{pid}/exe"))
                    .ok()
                    .and_then(|p| {
                        let s = p.to_str()?;
                        let s = s.strip_suffix(" (deleted)").unwrap_or(s);
                        Some(base_name(s) == name)
                    })
                    .unwrap_or(false)
                || argv0(pid).is_some_and(|a| base_name(&a) == name);
            matches && is_alive(pid)
        })
        .collect()
}

/// Whether `pid` exists and has not exited (zombies count as exited).
pub fn is_alive(pid: u32) -> bool {
    pid != 0 && matches!(proc_state(pid), Some(s) if s != 'Z' && s != 'X' && s != 'x')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_zombie_and_gone() {
        assert!(is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie until wait().
        for _ in 0..200 {
            if !is_alive(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!is_alive(pid), "an exited, unreaped child is not alive");
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }
}
