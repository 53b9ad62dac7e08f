//! Which kernel programs go where, and loading and attaching them (aya).
use std::path::Path;

use aya::programs::uprobe::{UProbeAttachLocation, UProbeScope};
use aya::programs::{BtfTracePoint, TracePoint, UProbe};
use aya::{Btf, Ebpf};

use super::LiveError;
use crate::placement::CallAbi;

/// The programs for data calls, by (write side, ABI at the site): the sites themselves come from
/// [`crate::placement::plan_object`], which decodes each object to find the cheapest sound one.
pub(super) fn data_program(write: bool, abi: CallAbi) -> &'static str {
    match (write, abi) {
        (true, CallAbi::CountReturned) => "ssl_write",
        (true, CallAbi::CountThroughPointer) => "ssl_write_ex",
        (false, CallAbi::CountReturned) => "ssl_read",
        (false, CallAbi::CountThroughPointer) => "ssl_read_ex",
    }
}
/// Uprobe programs on per-connection functions, by exported name (a few calls per connection:
/// their entries are probed wherever they are).
pub(super) const CONTROL_PROBES: &[(&str, &str)] = &[
    ("ssl_set_fd", "SSL_set_fd"),
    ("ssl_free", "SSL_free"),
    // `gnutls_deinit` ends a session as `SSL_free` does.
    ("ssl_free", "gnutls_deinit"),
];
/// Every entry program: loaded once at start.
pub(super) const ENTRY_PROGRAMS: &[&str] = &[
    "ssl_write",
    "ssl_write_ex",
    "ssl_read",
    "ssl_read_ex",
    "ssl_set_fd",
    "ssl_free",
];
/// Any of these marks an object as a TLS library worth attaching to (OpenSSL or GnuTLS).
pub const TLS_SYMBOLS: &[&str] = &[
    "SSL_write",
    "SSL_read",
    "SSL_write_ex",
    "SSL_read_ex",
    "gnutls_record_send",
    "gnutls_record_recv",
];
/// The system call programs (BTF tracepoints on every call's entry and exit, filtering by call
/// number in the kernel): plain capture on, or only the fd of in-flight SSL calls.
pub(super) const SYSCALLS_PLAIN: &[&str] = &["sys_enter", "sys_exit"];
pub(super) const SYSCALLS_FD_ONLY: &[&str] = &["sys_enter_fd"];

pub(super) fn load_uprobe(ebpf: &mut Ebpf, prog: &str) -> Result<(), LiveError> {
    let p: &mut UProbe = program(ebpf, prog)?;
    p.load()
        .map_err(|e| LiveError::Load(format!("{prog}: {}", verifier_detail(&e))))
}

pub(super) fn attach_uprobe_at(
    ebpf: &mut Ebpf,
    prog: &str,
    at: UProbeAttachLocation,
    what: &str,
    path: &Path,
    shown: &Path,
) -> Result<(), LiveError> {
    let p: &mut UProbe = program(ebpf, prog)?;
    p.attach(at, path, UProbeScope::AllProcesses)
        .map(|_| ())
        .map_err(|e| LiveError::Attach {
            what: if path == shown {
                format!("{prog} to {what} in {}", shown.display())
            } else {
                format!(
                    "{prog} to {what} in {} (opened as {})",
                    shown.display(),
                    path.display()
                )
            },
            detail: error_chain(&e),
        })
}

pub(super) fn attach_tracepoint(
    ebpf: &mut Ebpf,
    prog: &str,
    points: &[(&str, &str)],
) -> Result<(), LiveError> {
    let p: &mut TracePoint = program(ebpf, prog)?;
    p.load()
        .map_err(|e| LiveError::Load(format!("{prog}: {}", verifier_detail(&e))))?;
    for (category, name) in points {
        p.attach(category, name).map_err(|e| LiveError::Attach {
            what: format!("tracepoint {category}/{name}"),
            detail: error_chain(&e),
        })?;
    }
    Ok(())
}

/// Loads and attaches BTF tracepoint programs, each on the tracepoint it names (`sys_enter`,
/// `sys_exit`).
pub(super) fn attach_btf_tracepoints(ebpf: &mut Ebpf, progs: &[&str]) -> Result<(), LiveError> {
    let btf = Btf::from_sys_fs().map_err(|e| LiveError::Load(format!("kernel BTF: {e}")))?;
    for prog in progs {
        let p: &mut BtfTracePoint = program(ebpf, prog)?;
        let point = if prog.starts_with("sys_exit") {
            "sys_exit"
        } else {
            "sys_enter"
        };
        p.load(point, &btf)
            .map_err(|e| LiveError::Load(format!("{prog}: {}", verifier_detail(&e))))?;
        p.attach().map_err(|e| LiveError::Attach {
            what: format!("BTF tracepoint {point}"),
            detail: error_chain(&e),
        })?;
    }
    Ok(())
}

pub(crate) fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, LiveError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program>,
{
    ebpf.program_mut(name)
        .ok_or_else(|| LiveError::Load(format!("program {name} missing from the object")))?
        .try_into()
        .map_err(|_| LiveError::Load(format!("program {name} has an unexpected type")))
}

/// The verifier's log is long; its last lines say why.
pub(super) fn verifier_detail(e: &aya::programs::ProgramError) -> String {
    let text = format!("{e:#}");
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines.len().saturating_sub(6);
    lines[tail..].join(" | ")
}

/// Tracepoints are found through tracefs, which a minimal system may not have mounted.
pub(super) fn ensure_tracefs() {
    let dir = Path::new("/sys/kernel/tracing");
    let populated = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if populated {
        return;
    }
    let cstr = |s: &str| std::ffi::CString::new(s).ok();
    if let (Some(src), Some(target), Some(fstype)) = (
        cstr("tracefs"),
        cstr("/sys/kernel/tracing"),
        cstr("tracefs"),
    ) {
        // SAFETY: valid NUL-terminated strings; a failure leaves the attach error to explain.
        unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
}

/// An error and its sources on one line: aya's errors name the failing call ("`perf_event_open`
/// failed") and keep the errno in the source, which `{:#}` does not print.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let more = c.to_string();
        if !s.contains(&more) {
            s.push_str(": ");
            s.push_str(&more);
        }
        cur = c.source();
    }
    s
}
