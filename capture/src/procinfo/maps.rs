//! `/proc/PID/maps`: the files a process has mapped, and the paths to open them through from
//! here (`/proc/PID/root/…`, or `/proc/PID/map_files/…` for a file deleted since).
use std::collections::HashSet;
use std::path::PathBuf;

/// One file-backed mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub start: u64,
    pub end: u64,
    /// `st_dev`-style device number (`makedev(major, minor)`).
    pub dev: u64,
    pub inode: u64,
    /// The path as the kernel prints it, without a trailing ` (deleted)`.
    pub path: String,
    /// The file was unlinked (or replaced) after it was mapped.
    pub deleted: bool,
}

impl Mapping {
    pub fn key(&self) -> (u64, u64) {
        (self.dev, self.inode)
    }

    /// The last path component (`libssl.so.3`).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Parses maps text into file-backed mappings, one per distinct (dev, inode), in order of first
/// appearance.
pub(crate) fn parse_unique(text: &str) -> Vec<Mapping> {
    let mut seen = HashSet::new();
    text.lines()
        .filter_map(parse_line)
        .filter(|m| seen.insert(m.key()))
        .collect()
}

fn parse_line(line: &str) -> Option<Mapping> {
    // 7f12-7f34 r-xp 00000000 fd:01 1234      /usr/lib/x86_64-linux-gnu/libssl.so.3
    let mut rest = line;
    let mut fields = [""; 5];
    for field in fields.iter_mut() {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let path = rest.trim_start_matches(' ');
    if !path.starts_with('/') {
        return None;
    }
    let inode: u64 = fields[4].parse().ok()?;
    if inode == 0 {
        return None;
    }
    let (start, end) = fields[0].split_once('-')?;
    let (major, minor) = fields[3].split_once(':')?;
    let dev = libc::makedev(
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let (path, deleted) = match path.strip_suffix(" (deleted)") {
        Some(p) => (p, true),
        None => (path, false),
    };
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        dev,
        inode,
        path: path.to_string(),
        deleted,
    })
}

/// Paths to try, in order, to open a mapped file from this process's point of view.
pub(super) fn candidates(pid: u32, m: &Mapping) -> Vec<PathBuf> {
    let root = root_path(pid, &m.path);
    let mapped = PathBuf::from(format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end));
    if m.deleted {
        vec![mapped, root]
    } else {
        vec![root, mapped]
    }
}

pub(super) fn open_path(pid: u32, m: &Mapping) -> PathBuf {
    candidates(pid, m).swap_remove(0)
}

fn root_path(pid: u32, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_mappings_and_dedups() {
        let text = "\
55d0c0a00000-55d0c0a28000 r--p 00000000 fd:01 393265                     /usr/bin/python3.11
7f00-7f10 r--p 00000000 fd:01 12345  /usr/lib/x86_64-linux-gnu/libssl.so.3
7f10-7f20 r-xp 00010000 fd:01 12345  /usr/lib/x86_64-linux-gnu/libssl.so.3
7f20-7f30 rw-p 00000000 00:00 0
7ffd-7ffe r--p 00000000 00:00 0                          [vvar]
7f30-7f40 r-xp 00000000 00:05 777  /tmp/my lib.so (deleted)
";
        let maps = parse_unique(text);
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[1].file_name(), "libssl.so.3");
        assert_eq!(maps[1].dev, libc::makedev(0xfd, 1));
        assert_eq!(maps[1].start, 0x7f00);
        assert_eq!(maps[2].path, "/tmp/my lib.so");
        assert!(maps[2].deleted);
    }
}
