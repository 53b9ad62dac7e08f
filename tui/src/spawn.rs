//! `apitop -- COMMAND`: start the command held just before `exec`, so it becomes a target
//! before it runs a single instruction of its own.
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// A child stopped in `pre_exec`, waiting for [`Paused::release`].
pub struct Paused {
    pub pid: u32,
    /// The program that will be exec'd, resolved through PATH.
    pub exe: PathBuf,
    release: std::fs::File,
    spawner: std::thread::JoinHandle<std::io::Result<Child>>,
}

impl Paused {
    /// Lets the command exec and run.
    pub fn release(mut self) -> Result<Child> {
        let _ = self.release.write_all(b"g");
        drop(self.release);
        let child = self
            .spawner
            .join()
            .map_err(|_| anyhow::anyhow!("the thread starting the command panicked"))?;
        child.with_context(|| format!("starting {}", self.exe.display()))
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Finds `program` in PATH the way a shell would.
pub fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The user who ran sudo, if we are root because of sudo: (uid, gid, name, home).
fn sudo_user() -> Option<(u32, u32, String, Option<String>)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let uid: u32 = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    let gid: u32 = std::env::var("SUDO_GID").ok()?.parse().ok()?;
    if uid == 0 {
        return None;
    }
    let name = std::env::var("SUDO_USER").unwrap_or_default();
    let home = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 5 && f[2] == uid.to_string()).then(|| f[5].to_string())
        })
    });
    Some((uid, gid, name, home))
}

/// Where the command's own output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildOutput {
    /// To apitop's stderr, keeping stdout for JSON lines (headless).
    Stderr,
    /// Nowhere: the terminal belongs to the UI.
    Discard,
}

/// Starts `argv` held before exec. Under sudo the command runs as the invoking user.
pub fn spawn_paused(argv: &[String], output: ChildOutput) -> Result<Paused> {
    let Some(program) = argv.first() else {
        bail!("no command given after --");
    };
    let exe = resolve(program).with_context(|| format!("{program}: command not found"))?;
    let (gate_r, gate_w) = pipe()?;
    let (pid_r, pid_w) = pipe()?;
    let mut cmd = Command::new(&exe);
    cmd.arg0(program).args(&argv[1..]);
    match output {
        ChildOutput::Stderr => {
            let err = std::io::stderr().as_fd().try_clone_to_owned()?;
            cmd.stdout(err);
        }
        ChildOutput::Discard => {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
    }
    if let Some((uid, gid, name, home)) = sudo_user() {
        cmd.uid(uid)
            .gid(gid)
            .env("USER", &name)
            .env("LOGNAME", &name);
        if let Some(h) = home {
            cmd.env("HOME", h);
        }
    }
    let gate = gate_r.as_raw_fd();
    let report = pid_w.as_raw_fd();
    let gate_parent_end = gate_w.as_raw_fd();
    // SAFETY: the closure runs in the forked child and only calls async-signal-safe functions
    // (close, getpid, write, read) on fds it owns; both pipes are close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            // Without the parent's end, the gate reads EOF if apitop dies: never hang.
            libc::close(gate_parent_end);
            let pid = libc::getpid().to_le_bytes();
            libc::write(report, pid.as_ptr().cast(), pid.len());
            let mut b = [0u8; 1];
            loop {
                let n = libc::read(gate, b.as_mut_ptr().cast(), 1);
                if n >= 0 || *libc::__errno_location() != libc::EINTR {
                    break;
                }
            }
            Ok(())
        });
    }
    // std's spawn returns only once the child has exec'd, which it will not do until released,
    // so spawn on a thread and learn the pid through the pipe.
    // The thread holds the child's ends of the pipes until spawn returns: the fork must
    // inherit them, and a spawn that fails before forking then shows as EOF on the pid pipe.
    let spawner = std::thread::spawn(move || {
        let r = cmd.spawn();
        drop((gate_r, pid_w));
        r
    });
    let mut pid_file = std::fs::File::from(pid_r);
    let mut buf = [0u8; 4];
    let release = std::fs::File::from(gate_w);
    if pid_file.read_exact(&mut buf).is_err() {
        drop(release);
        return match spawner.join() {
            Ok(Err(e)) => Err(e).with_context(|| format!("starting {}", exe.display())),
            _ => bail!("starting {}: the child did not report back", exe.display()),
        };
    }
    Ok(Paused {
        pid: i32::from_le_bytes(buf) as u32,
        exe,
        release,
        spawner,
    })
}
