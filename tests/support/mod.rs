//! Shared pieces of the end-to-end tests: root-aware skipping, a throw-away certificate, real
//! TLS servers on 127.0.0.1, and running the `apitop` binary. By what they hold:
//! - `servers`: the Python test server, nginx, the certificate, ports;
//! - `clients`: Python clients looping or making requests in batches, and curl;
//! - `run`: a finished `apitop --json` run and reading its output;
//! - `live`: a running apitop, stopped once its output holds what a test waits for;
//! - `guard`: child processes killed when dropped;
//! - `har`: validating HAR files.
//!
//! Here: whether eBPF tests can run, this run's directory, what is installed. Test files have
//! `use support::*`, so each module's public items are re-exported here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

mod clients;
mod guard;
mod har;
mod live;
mod run;
mod servers;
pub mod tls_build;

// Each test binary uses only some of these: the rest would be unused imports there.
#[allow(unused_imports)]
pub use self::{clients::*, guard::*, har::*, live::*, run::*, servers::*};

pub const APITOP: &str = env!("CARGO_BIN_EXE_apitop");

/// True when eBPF tests can run. Without root they skip with a printed reason, unless
/// `APITOP_REQUIRE_EBPF=1` (CI), where skipping would hide a broken capture path.
pub fn ebpf_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    let reason = "not root: live eBPF capture needs CAP_BPF and CAP_PERFMON";
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// A directory for this test run's files. A test process cannot remove its own when it ends
/// (statics are not dropped), so each run first removes those of test processes gone: copies
/// of Go servers made them up to ~170 MB each, and they filled CI machines' disks.
pub fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("apitop-e2e-"));
            if let Some(pid) = pid.filter(|p| p.parse::<u32>().is_ok()) {
                if !Path::new("/proc").join(pid).exists() {
                    // Best effort: another run may be removing it too.
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let d = tmp.join(format!("apitop-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("creating the test directory");
        d
    })
}

/// The JDKs to test with: Debian's `java` on PATH, and the first JDK 21+ under /usr/lib/jvm
/// when one is present (its `release` file names the version).
pub fn javas() -> Vec<PathBuf> {
    let mut v = vec![capture::procinfo::on_path("java").expect("java on PATH")];
    for e in std::fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .flatten()
    {
        let bin = e.path().join("bin/java");
        let release = std::fs::read_to_string(e.path().join("release")).unwrap_or_default();
        let feature = capture::java::inspect::release_version(&release)
            .and_then(|v| capture::java::inspect::feature_version(&v));
        if bin.exists() && feature.is_some_and(|f| f >= 21) && !e.path().is_symlink() {
            v.push(bin);
            break;
        }
    }
    v
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
