//! POSIX shell words for the shell formats (curl, HTTPie): quoting is shlex's, and bytes a
//! shell argument cannot carry go through `printf` with octal escapes, which POSIX printf
//! understands.

/// The words quoted for a POSIX shell and joined by spaces.
pub fn join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| match shlex::try_quote(a) {
            Ok(q) => q.into_owned(),
            // Only NUL bytes fail to quote, and none reach here (binary goes through printf).
            Err(_) => shlex::try_quote(&a.replace('\0', ""))
                .map_or_else(|_| String::new(), |q| q.into_owned()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `printf '…' | ` feeding exactly `data` to the next command's stdin.
pub fn printf_pipe(data: &[u8]) -> String {
    format!("{} | ", join(&["printf".to_string(), printf_format(data)]))
}

/// Text that survives a shell argument unchanged: UTF-8 with no control bytes except
/// tab, CR and LF.
pub fn is_shell_safe_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok()
        && b.iter()
            .all(|&c| c >= 0x20 && c != 0x7f || matches!(c, b'\n' | b'\r' | b'\t'))
}

/// A printf format producing exactly `data`: printable ASCII as itself, everything else (and
/// `\` and `%`) as a `\ooo` octal escape. A leading `-` is escaped too (`\055`): printf would
/// take a format starting with `-` for an option (dash: "Illegal option --", bash: "invalid
/// option"), and `printf --` is not understood by every printf.
pub fn printf_format(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for (i, &b) in data.iter().enumerate() {
        let literal = (0x20..0x7f).contains(&b) && b != b'\\' && b != b'%' && (i > 0 || b != b'-');
        if literal {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    s
}
