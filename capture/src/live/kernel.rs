//! What differs between the kernels apitop runs on, learned at start instead of assumed.
//!
//! The sched tracepoints' field offsets are not stable: `sched_process_fork`'s `child_pid` is at
//! 20 on kernels whose comm fields are `__data_loc` strings (6.18) and at 44 where they are
//! `char[16]` arrays (Debian 12's 6.1); `sched_process_exit` gained `group_dead` only recently.
//! Reading them at fixed offsets silently broke following children and exits on older kernels,
//! so the offsets come from each tracepoint's `format` file and are handed to the kernel programs
//! as load-time globals. Where a field is missing, the caller falls back (polling /proc for
//! exits) and says so.
use std::path::Path;

/// Oldest kernel apitop runs on: `bpf_loop` (5.17) copies call data in chunks; ring buffers
/// (5.8), BTF and uretprobes come before it.
pub const MIN_KERNEL: (u32, u32) = (5, 17);

/// `major.minor` of a kernel release string such as `6.1.0-27-amd64` or `6.18.44-fc`.
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The running kernel's release (`uname -r`).
pub fn running_release() -> Option<String> {
    // SAFETY: uname fills the zeroed struct; the fields are NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return None;
        }
        let s = std::ffi::CStr::from_ptr(u.release.as_ptr());
        Some(s.to_string_lossy().into_owned())
    }
}

/// A field of a tracepoint's `format` file: offset and size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u32,
    pub size: u32,
}

/// Finds `name` in a tracepoint `format` file's text. Lines look like
/// `\tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;`; the name is the last word of the
/// declaration, before any array suffix.
pub fn format_field(format: &str, name: &str) -> Option<Field> {
    for line in format.lines() {
        let Some(decl) = line.trim().strip_prefix("field:") else {
            continue;
        };
        let mut parts = decl.split(';').map(str::trim);
        let Some(ty_and_name) = parts.next() else {
            continue;
        };
        let last = ty_and_name.rsplit(' ').next().unwrap_or("");
        let field_name = last.split('[').next().unwrap_or("");
        if field_name != name {
            continue;
        }
        let mut offset = None;
        let mut size = None;
        for p in parts {
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            }
        }
        return Some(Field {
            offset: offset?,
            size: size?,
        });
    }
    None
}

/// Offsets of the sched tracepoint fields the kernel programs read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedLayout {
    /// `sched_process_fork.child_pid` (4 bytes).
    pub fork_child_pid: u32,
    /// `sched_process_exit.group_dead` (1 byte); None on kernels without it.
    pub exit_group_dead: Option<u32>,
}

/// Why the sched tracepoints cannot be used as they are.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read {path}: {err} (is tracefs mounted at /sys/kernel/tracing?)")]
    Read { path: String, err: std::io::Error },
    #[error("{path} has no 4-byte child_pid field: this kernel's sched_process_fork is not one apitop knows")]
    NoChildPid { path: String },
}

impl SchedLayout {
    /// Reads the layout from tracefs (`/sys/kernel/tracing`, or the older debugfs location).
    pub fn read() -> Result<Self, LayoutError> {
        let root = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
            .into_iter()
            .find(|r| Path::new(r).join("events/sched").is_dir())
            .unwrap_or("/sys/kernel/tracing");
        let read = |event: &str| {
            let path = format!("{root}/events/sched/{event}/format");
            std::fs::read_to_string(&path)
                .map(|text| (path.clone(), text))
                .map_err(|err| LayoutError::Read { path, err })
        };
        let (fork_path, fork) = read("sched_process_fork")?;
        let (_, exit) = read("sched_process_exit")?;
        Self::from_formats(&fork, &exit).ok_or(LayoutError::NoChildPid { path: fork_path })
    }

    /// The layout from the two `format` files' text; None when `child_pid` is missing.
    pub fn from_formats(fork: &str, exit: &str) -> Option<Self> {
        let child = format_field(fork, "child_pid").filter(|f| f.size == 4)?;
        let group_dead = format_field(exit, "group_dead")
            .filter(|f| f.size == 1)
            .map(|f| f.offset);
        Some(SchedLayout {
            fork_child_pid: child.offset,
            exit_group_dead: group_dead,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sched_process_fork` and `sched_process_exit` as Linux 6.1 (Debian 12) prints them.
    const FORK_6_1: &str = "name: sched_process_fork\nID: 312\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
        \tfield:char parent_comm[16];\toffset:8;\tsize:16;\tsigned:1;\n\
        \tfield:pid_t parent_pid;\toffset:24;\tsize:4;\tsigned:1;\n\
        \tfield:char child_comm[16];\toffset:28;\tsize:16;\tsigned:1;\n\
        \tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;\n\n\
        print fmt: \"comm=%s pid=%d child_comm=%s child_pid=%d\", REC->parent_comm, ...\n";
    const EXIT_6_1: &str = "name: sched_process_exit\nID: 315\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:1;\n\
        \tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\
        \tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n";
    /// The same on 6.18 (this machine's kernel).
    const FORK_6_18: &str = "format:\n\
        \tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n\
        \tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n\
        \tfield:__data_loc char[] child_comm;\toffset:16;\tsize:4;\tsigned:0;\n\
        \tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n";
    const EXIT_6_18: &str = "format:\n\
        \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
        \tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n\
        \tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n\
        \tfield:bool group_dead;\toffset:32;\tsize:1;\tsigned:0;\n";

    #[test]
    fn offsets_follow_the_kernel() {
        assert_eq!(
            SchedLayout::from_formats(FORK_6_1, EXIT_6_1),
            Some(SchedLayout {
                fork_child_pid: 44,
                exit_group_dead: None
            })
        );
        assert_eq!(
            SchedLayout::from_formats(FORK_6_18, EXIT_6_18),
            Some(SchedLayout {
                fork_child_pid: 20,
                exit_group_dead: Some(32)
            })
        );
    }

    #[test]
    fn array_fields_and_missing_ones() {
        assert_eq!(
            format_field(FORK_6_1, "parent_comm"),
            Some(Field {
                offset: 8,
                size: 16
            })
        );
        assert_eq!(format_field(FORK_6_1, "comm"), None);
        assert_eq!(SchedLayout::from_formats(EXIT_6_1, EXIT_6_1), None);
    }

    /// The running kernel's own files parse, and agree with what the kernel programs need.
    #[test]
    fn this_kernels_format_files() {
        if !Path::new("/sys/kernel/tracing/events/sched").is_dir() {
            eprintln!("skipped: no tracefs at /sys/kernel/tracing (not root?)");
            return;
        }
        let l = SchedLayout::read().expect("sched tracepoint formats");
        assert!(l.fork_child_pid >= 8, "{l:?}");
    }

    #[test]
    fn releases() {
        assert_eq!(parse_release("6.1.0-27-amd64"), Some((6, 1)));
        assert_eq!(parse_release("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(parse_release("5.4.0"), Some((5, 4)));
        assert_eq!(parse_release("garbage"), None);
        assert!(parse_release("5.15.0").unwrap() < MIN_KERNEL);
        assert!(parse_release("6.1.0").unwrap() >= MIN_KERNEL);
        assert!(running_release().and_then(|r| parse_release(&r)).is_some());
    }
}
