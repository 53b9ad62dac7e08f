//! What to probe in one Go executable — or exactly why not. The table reader finds the
//! functions, [`super::sites`] picks the instructions, and this turns both into file offsets the
//! kernel attaches uprobes by. Everything that is not certain is refused here: a probe on a
//! wrong address corrupts the target's code.
use std::path::Path;

use super::sites::{self, FuncCode, Site, SiteKind};
use super::GoBinary;

const WRITE: &str = "crypto/tls.(*Conn).Write";
const READ: &str = "crypto/tls.(*Conn).Read";
const CLOSE: &str = "crypto/tls.(*Conn).Close";
const MEMMOVE: &str = "runtime.memmove";

/// The oldest Go whose functions take their arguments in registers (ABIInternal on amd64).
pub const MIN_GO: (u32, u32) = (1, 17);

/// One probe: where, and which program variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeAt {
    /// File offset of the instruction (what uprobes attach by).
    pub offset: u64,
    pub vaddr: u64,
    /// The site is the stack-check `jbe`: the program must ignore taken hits.
    pub jbe: bool,
    /// The instruction and why, for `--list --json` and messages.
    pub what: String,
}

/// How apitop captures one Go executable's `crypto/tls`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoPlan {
    /// `go1.19.8`.
    pub version: String,
    pub write: ProbeAt,
    pub read: ProbeAt,
    /// The single `call runtime.memmove` in Read, or None: then `read_rets` complete reads.
    pub read_copy: Option<ProbeAt>,
    pub read_rets: Vec<ProbeAt>,
    pub close: Option<ProbeAt>,
}

impl GoPlan {
    /// `go 1.19` as the picker shows it.
    pub fn short_version(&self) -> String {
        short(&self.version)
    }

    /// One line on where the probes sit.
    pub fn describe(&self) -> String {
        let read_done = match &self.read_copy {
            Some(p) => format!("read copy {}", p.what),
            None => format!("read {} ret probes (single-stepped)", self.read_rets.len()),
        };
        format!(
            "write {}; read {}; {read_done}",
            self.write.what, self.read.what
        )
    }
}

fn short(version: &str) -> String {
    let v = version.strip_prefix("go").unwrap_or(version);
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("go {a}.{b}"),
        _ => format!("go {v}"),
    }
}

/// Reads the Go executable at `path` and decides where to probe it. `Err` is the reason, one
/// line, as the process list shows it.
pub fn plan(path: &Path) -> Result<GoPlan, String> {
    let unknown = |why: String| format!("go (crypto/tls) — {why}");
    check_x86_64(path).map_err(unknown)?;
    let bin =
        GoBinary::open(path, &[WRITE, READ, CLOSE, MEMMOVE]).map_err(|e| unknown(e.to_string()))?;
    let version = bin
        .version
        .clone()
        .ok_or_else(|| unknown("Go version unknown (no build info)".into()))?;
    let label = short(&version);
    match bin.version_num {
        Some(v) if v >= MIN_GO => {}
        Some(_) => {
            return Err(format!(
                "{label} (crypto/tls) — before Go 1.17's register ABI"
            ))
        }
        None => return Err(unknown(format!("Go version {version:?} not understood"))),
    }
    let func = |name: &str| {
        bin.function(name)
            .ok_or_else(|| format!("{label} — {name} not linked in (no TLS in this program)"))
    };
    let (write, read, memmove) = (func(WRITE)?, func(READ)?, func(MEMMOVE)?);
    let code = |f| {
        bin.code(f)
            .map_err(|e| format!("{label} — reading machine code: {e}"))
    };
    let (write_code, read_code) = (code(write)?, code(read)?);
    let close_code = match bin.function(CLOSE) {
        Some(f) => Some((f.entry, code(f)?)),
        None => None,
    };
    let close_fc = close_code.as_ref().map(|(entry, c)| FuncCode {
        entry: *entry,
        code: c,
    });
    let found = sites::go_tls_sites(
        &FuncCode {
            entry: write.entry,
            code: &write_code,
        },
        &FuncCode {
            entry: read.entry,
            code: &read_code,
        },
        close_fc.as_ref(),
        memmove.entry,
    )
    .map_err(|e| format!("{label} (crypto/tls) — no safe probe site: {e}"))?;
    let at = |s: &Site| -> Result<ProbeAt, String> {
        let offset = bin
            .file_offset(s.addr)
            .ok_or_else(|| format!("{label} — {:#x} is not in an executable segment", s.addr))?;
        Ok(ProbeAt {
            offset,
            vaddr: s.addr,
            jbe: matches!(s.kind, SiteKind::SkipIfJbeTaken),
            what: s.what.clone(),
        })
    };
    if found.read_copy.is_none() && found.read_rets.is_empty() {
        return Err(format!(
            "{label} (crypto/tls) — Read has neither one copy call nor a ret to probe"
        ));
    }
    Ok(GoPlan {
        version,
        write: at(&found.write_entry)?,
        read: at(&found.read_entry)?,
        read_copy: found.read_copy.as_ref().map(at).transpose()?,
        read_rets: found.read_rets.iter().map(at).collect::<Result<_, _>>()?,
        close: found.close_entry.as_ref().map(at).transpose()?,
    })
}

/// Sites are chosen by decoding x86-64: any other machine's code must not get that far.
fn check_x86_64(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut head = [0u8; 20];
    file.read_exact_at(&mut head, 0)
        .map_err(|_| "not an ELF file".to_string())?;
    let machine = u16::from_le_bytes([head[18], head[19]]);
    if head[..4] != *b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    if machine != object::elf::EM_X86_64 {
        return Err(format!(
            "Go on machine {machine} — only x86-64 is supported"
        ));
    }
    Ok(())
}
