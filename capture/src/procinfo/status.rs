//! What `--list` and the picker say about a process's TLS: its kind, whether apitop captures it,
//! and why.
use serde::Serialize;

use crate::golang::plan::GoPlan;

/// Which TLS implementation a process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TlsKind {
    /// OpenSSL-compatible shared library (`libssl.so.*`, or another mapped object exporting
    /// `SSL_write`).
    #[serde(rename = "openssl_shared")]
    OpenSslShared,
    /// The executable itself exports `SSL_write` (node, statically linked builds).
    #[serde(rename = "openssl_in_exe")]
    OpenSslInExe,
    #[serde(rename = "go")]
    Go,
    #[serde(rename = "gnutls")]
    GnuTls,
    #[serde(rename = "nss")]
    Nss,
    /// TLS code linked in without exported symbols (rustls, stripped static OpenSSL/BoringSSL).
    #[serde(rename = "static_no_symbols")]
    StaticNoSymbols,
    #[serde(rename = "jvm")]
    Jvm,
    #[serde(rename = "no_tls")]
    NoTls,
    /// The process could not be inspected.
    #[serde(rename = "unknown")]
    Unknown,
}

/// A [`TlsKind`] plus whether apitop can capture it and a one-line reason for `--list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsStatus {
    pub kind: TlsKind,
    pub capturable: bool,
    pub reason: String,
    /// Where the probes go, when that was a choice (Go: the decoded probe sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<String>,
}

impl TlsStatus {
    pub(super) fn new(kind: TlsKind, capturable: bool, reason: impl Into<String>) -> Self {
        TlsStatus {
            kind,
            capturable,
            reason: reason.into(),
            probes: None,
        }
    }

    /// `openssl (libssl.so.3)`: an OpenSSL-compatible shared object named `file_name`.
    pub fn openssl_shared(file_name: &str) -> Self {
        Self::new(
            TlsKind::OpenSslShared,
            true,
            format!("openssl ({file_name})"),
        )
    }

    pub fn openssl_in_exe() -> Self {
        Self::new(TlsKind::OpenSslInExe, true, "openssl (in executable)")
    }

    /// A Go program whose `crypto/tls` apitop can probe: `go 1.19 (crypto/tls)`.
    pub fn go(version: &str) -> Self {
        Self::new(TlsKind::Go, true, format!("{version} (crypto/tls)"))
    }

    /// A Go program apitop will not probe, and why (the whole line, e.g. `go 1.16 (crypto/tls)
    /// — older than Go 1.17: no register ABI to read`).
    pub fn go_refused(reason: impl Into<String>) -> Self {
        Self::new(TlsKind::Go, false, reason)
    }

    pub(super) fn go_plan(plan: &Result<GoPlan, String>) -> Self {
        match plan {
            Ok(p) => Self {
                probes: Some(p.describe()),
                ..Self::go(&p.short_version())
            },
            Err(why) => Self::go_refused(why.clone()),
        }
    }

    pub fn gnutls(file_name: &str) -> Self {
        Self::new(TlsKind::GnuTls, true, format!("gnutls ({file_name})"))
    }

    pub fn nss(file_name: &str) -> Self {
        Self::new(
            TlsKind::Nss,
            false,
            format!("nss ({file_name}) — not yet supported"),
        )
    }

    pub fn static_no_symbols() -> Self {
        Self::new(
            TlsKind::StaticNoSymbols,
            false,
            "static TLS without symbols — not capturable",
        )
    }

    pub fn jvm() -> Self {
        Self::new(TlsKind::Jvm, false, "jvm — TLS not capturable")
    }

    pub fn no_tls() -> Self {
        Self::new(TlsKind::NoTls, false, "no TLS library")
    }

    pub(super) fn kernel_thread() -> Self {
        Self::new(TlsKind::NoTls, false, "kernel thread — not capturable")
    }

    pub(super) fn cannot_inspect(why: &str) -> Self {
        Self::new(TlsKind::Unknown, false, format!("cannot inspect: {why}"))
    }
}
