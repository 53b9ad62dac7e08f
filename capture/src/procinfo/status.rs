//! What `--list` and the picker say about a process's TLS: its kind, whether apitop captures it,
//! and why.
use serde::Serialize;

use crate::golang::plan::GoPlan;
use crate::java::JavaStatus;

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
    /// Stripped static BoringSSL whose `SSL_read`/`SSL_write` were found by their code.
    #[serde(rename = "boringssl_signature")]
    BoringSslSignature,
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
    /// A JVM: its version, whether apitop's agent can be loaded (or why not) and whether it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub java: Option<JavaStatus>,
}

impl TlsStatus {
    pub(super) fn new(kind: TlsKind, capturable: bool, reason: impl Into<String>) -> Self {
        TlsStatus {
            kind,
            capturable,
            reason: reason.into(),
            probes: None,
            java: None,
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

    /// `openssl (deleted libssl.so.3 via map_files)`: the file was unlinked after it was mapped;
    /// apitop reads and probes it through `/proc/PID/map_files/`.
    pub fn openssl_shared_deleted(file_name: &str) -> Self {
        Self::new(
            TlsKind::OpenSslShared,
            true,
            format!("openssl (deleted {file_name} via map_files)"),
        )
    }

    /// `openssl (static in /srv/app, .symtab: SSL_read, SSL_write)`: OpenSSL linked into the
    /// object at `path`, found through its symbol table.
    pub fn openssl_static(kind: TlsKind, path: &str, deleted: bool, symtab: &[&str]) -> Self {
        let place = if deleted {
            format!("deleted {path} via map_files")
        } else {
            path.to_string()
        };
        Self::new(
            kind,
            true,
            format!(
                "openssl (static in {place}, .symtab: {})",
                symtab.join(", ")
            ),
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

    /// TLS linked into the executable at `path` (its `.rodata` has `marker`, see
    /// [`super::static_tls_markers`]) with no `SSL_*` symbol in `.dynsym` or `.symtab`.
    pub fn static_no_symbols(marker: &str, path: &str) -> Self {
        let reason = match super::elf::static_tls_library(marker) {
            Some(library) => format!(
                "{library} static in {path}, stripped (no SSL_read/SSL_write in .dynsym or \
                 .symtab) — not capturable: no symbols, and not boringssl (whose code apitop finds without them)"
            ),
            None => "static TLS without symbols (no SSL_read/SSL_write in .dynsym or .symtab) \
                     — not capturable"
                .to_string(),
        };
        Self::new(TlsKind::StaticNoSymbols, false, reason)
    }

    /// A JVM: its TLS is captured by loading apitop's agent into it (`--java`), which needs
    /// HotSpot's attach mechanism; capturable when that can be done (or was).
    pub fn jvm(java: JavaStatus) -> Self {
        Self {
            java: Some(java.clone()),
            ..Self::new(TlsKind::Jvm, java.attachable(), java.describe())
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_serializes_snake_case() {
        let s = serde_json::to_string(&TlsStatus::openssl_in_exe()).unwrap();
        assert_eq!(
            s,
            r#"{"kind":"openssl_in_exe","capturable":true,"reason":"openssl (in executable)"}"#
        );
        assert_eq!(
            serde_json::to_string(&TlsKind::StaticNoSymbols).unwrap(),
            r#""static_no_symbols""#
        );
    }
}
