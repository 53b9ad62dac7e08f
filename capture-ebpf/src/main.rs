//! apitop's kernel programs: uprobes on OpenSSL's read/write entry points copy plaintext into a
//! ring buffer for target processes only; sched tracepoints follow targets across fork/exec/exit.
//! The kernel side stays small: copy bytes out, count what cannot be delivered, nothing clever.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(not(target_arch = "bpf"))]
fn main() {}

#[cfg(target_arch = "bpf")]
mod go;
#[cfg(target_arch = "bpf")]
mod plain;
#[cfg(target_arch = "bpf")]
mod probes;
