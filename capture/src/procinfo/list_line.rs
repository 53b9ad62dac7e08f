//! The `--list` output: a header and one aligned line per process, long names clipped.
use super::ProcessInfo;

/// Column header matching [`format_list_line`].
pub fn format_list_header() -> String {
    format!("{:>7}  {:<12} {:<16} {}", "PID", "USER", "NAME", "TLS")
}

/// One aligned `--list` line: `PID USER NAME TLS-REASON`.
pub fn format_list_line(p: &ProcessInfo) -> String {
    format!(
        "{:>7}  {:<12} {:<16} {}",
        p.pid,
        clip(&p.user, 12),
        clip(&p.comm, 16),
        p.tls.reason
    )
}

/// `s` cut to `width` characters, the last one replaced by `+` when cut.
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('+');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procinfo::TlsStatus;

    #[test]
    fn list_line_is_aligned_and_clipped() {
        let p = ProcessInfo {
            pid: 42,
            ppid: 1,
            uid: 1000,
            user: "averyveryverylongname".into(),
            comm: "python3".into(),
            cmdline: "python3 -c pass".into(),
            exe: None,
            tls: TlsStatus::openssl_shared("libssl.so.3"),
        };
        let line = format_list_line(&p);
        assert_eq!(
            line,
            "     42  averyveryve+ python3          openssl (libssl.so.3)"
        );
        let header = format_list_header();
        assert_eq!(header.find("USER"), line.find("averyvery"));
        assert_eq!(header.find("TLS"), line.find("openssl"));
    }
}
