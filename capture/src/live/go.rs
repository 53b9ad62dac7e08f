//! Attaching the Go `crypto/tls` programs at the sites [`crate::golang::plan`] chose. Like the
//! OpenSSL uprobes, they are attached once per executable (by inode) for every process and
//! filtered by tgid in the kernel, so a forked or later-started Go program is covered from its
//! first call.
use std::path::Path;

use aya::programs::uprobe::{UProbeAttachLocation, UProbeScope};
use aya::programs::UProbe;
use aya::Ebpf;

use super::programs::error_chain;
use super::{program, LiveError};
use crate::golang::plan::{GoPlan, ProbeAt};

/// Every Go program, loaded once.
pub(super) const PROGRAMS: &[&str] = &[
    "go_write",
    "go_write_jbe",
    "go_read",
    "go_read_jbe",
    "go_read_copy",
    "go_read_ret",
    "go_close",
    "go_close_jbe",
];

/// Attaches `plan`'s probes to the executable at `path` (`shown` in messages).
pub(super) fn attach(
    ebpf: &mut Ebpf,
    plan: &GoPlan,
    path: &Path,
    shown: &Path,
) -> Result<(), LiveError> {
    let pick = |base: &'static str, p: &ProbeAt| -> (&'static str, u64) {
        let prog = match (base, p.jbe) {
            ("go_write", true) => "go_write_jbe",
            ("go_read", true) => "go_read_jbe",
            ("go_close", true) => "go_close_jbe",
            _ => base,
        };
        (prog, p.offset)
    };
    let mut probes = vec![pick("go_write", &plan.write), pick("go_read", &plan.read)];
    match &plan.read_copy {
        Some(c) => probes.push(("go_read_copy", c.offset)),
        None => probes.extend(plan.read_rets.iter().map(|r| ("go_read_ret", r.offset))),
    }
    if let Some(c) = &plan.close {
        probes.push(pick("go_close", c));
    }
    for (prog, offset) in probes {
        let p: &mut UProbe = program(ebpf, prog)?;
        p.attach(
            UProbeAttachLocation::AbsoluteOffset(offset),
            path,
            UProbeScope::AllProcesses,
        )
        .map_err(|e| LiveError::Attach {
            what: format!("{prog} at file offset {offset:#x} of {}", shown.display()),
            detail: error_chain(&e),
        })?;
    }
    Ok(())
}
