//! Probe placement for OpenSSL-compatible and GnuTLS objects (`capture::placement`) on the real
//! libraries of this machine, checked against GNU objdump's disassembly. The hand-assembled
//! cases are in `placement_synthetic.rs`.
//!
//! These tests skip with a printed reason when a library (or `objdump`) is missing, unless
//! `APITOP_REQUIRE_EBPF=1`.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use capture::placement::{
    gnutls_function, openssl_family, shared_callee, CallAbi, Exported, FuncCode, Placement,
};
use object::read::ReadCache;
use object::{Object, ObjectSegment, ObjectSymbol, SegmentFlags};

/// Skips (returns) with a printed reason, or fails under `APITOP_REQUIRE_EBPF=1`.
fn skip(test: &str, reason: &str) {
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

fn have_objdump() -> bool {
    Command::new("objdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The parts of an ELF file the placement needs, read lazily: node's executable is ~100 MB.
struct Elf {
    path: PathBuf,
    file: File,
    /// Defined functions of `.dynsym`: name → (address, size).
    functions: BTreeMap<String, (u64, u64)>,
    /// Executable `PT_LOAD` segments: (address, file offset, file size).
    exec: Vec<(u64, u64, u64)>,
}

impl Elf {
    fn open(path: &Path) -> Elf {
        let cache = ReadCache::new(File::open(path).expect("open"));
        let obj = object::File::parse(&cache).expect("ELF");
        let functions = obj
            .dynamic_symbols()
            .filter(|s| s.is_definition() && s.kind() == object::SymbolKind::Text)
            .filter_map(|s| Some((s.name().ok()?.to_string(), (s.address(), s.size()))))
            .collect();
        let exec = obj
            .segments()
            .filter(|s| matches!(s.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0))
            .map(|s| {
                let (off, len) = s.file_range();
                (s.address(), off, len)
            })
            .collect();
        drop(obj);
        Elf {
            path: path.to_owned(),
            file: cache.into_inner(),
            functions,
            exec,
        }
    }

    /// Up to `len` bytes of code at `addr`, `None` outside the executable segments.
    fn code(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        let &(seg, off, size) = self
            .exec
            .iter()
            .find(|(seg, _, size)| addr.checked_sub(*seg).is_some_and(|d| d < *size))?;
        let len = len.min(seg + size - addr);
        let mut buf = vec![0; usize::try_from(len).ok()?];
        self.file.read_exact_at(&mut buf, off + (addr - seg)).ok()?;
        Some(buf)
    }

    /// `name`'s address and code (its whole symbol extent).
    fn function(&self, name: &str) -> (u64, Vec<u8>) {
        let &(addr, size) = self
            .functions
            .get(name)
            .unwrap_or_else(|| panic!("{} does not export {name}", self.path.display()));
        let code = self
            .code(addr, size)
            .expect("code in an executable segment");
        assert_eq!(code.len() as u64, size, "{name} lies in one segment");
        (addr, code)
    }

    fn callee_code(&self) -> impl Fn(u64) -> Option<Vec<u8>> + '_ {
        |addr| self.code(addr, 256)
    }

    /// objdump's instructions in `[start, stop)`: address → (raw bytes, text).
    fn objdump(&self, start: u64, stop: u64) -> BTreeMap<u64, (Vec<u8>, String)> {
        let out = Command::new("objdump")
            .args(["-d", "--insn-width=16"])
            .arg(format!("--start-address={start:#x}"))
            .arg(format!("--stop-address={stop:#x}"))
            .arg(&self.path)
            .output()
            .expect("objdump");
        assert!(out.status.success(), "objdump failed");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut insns = BTreeMap::new();
        for line in text.lines() {
            // "   35980:\t48 83 ec 18          \tsub    $0x18,%rsp"
            let mut fields = line.split('\t');
            let (Some(addr), Some(bytes)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some(addr) = addr.trim().strip_suffix(':') else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            let raw: Vec<u8> = bytes
                .split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
                .collect();
            let text = fields
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            insns.insert(addr, (raw, text));
        }
        insns
    }
}

/// The first `call`/`jmp` target objdump shows in `name` (`call   355a0 <...>`).
fn first_direct_transfer(elf: &Elf, name: &str) -> Option<(String, u64)> {
    let (addr, code) = elf.function(name);
    let insns = elf.objdump(addr, addr + code.len() as u64);
    insns.values().find_map(|(_, text)| {
        let mut words = text.split(' ');
        let op = words.next()?;
        if op != "call" && op != "jmp" {
            return None;
        }
        let target = u64::from_str_radix(words.next()?, 16).ok()?;
        Some((op.to_string(), target))
    })
}

/// Whether objdump's raw bytes are an instruction the kernel emulates (an independent restatement
/// of `capture::x86::emulation`'s table).
fn emulated_bytes(raw: &[u8]) -> bool {
    matches!(
        raw,
        [0x50..=0x57]
            | [0x41, 0x50..=0x57]
            | [0x90]
            | [0xe8 | 0xe9, _, _, _, _]
            | [0xeb | 0x70..=0x7f, _]
            | [0x0f, 0x80..=0x8f, _, _, _, _]
    )
}

/// `p` is sound against objdump: `p.addr` is `start` or, after an `endbr64` at `start`, the next
/// instruction (the return address still at `(%rsp)`), and `p.emulated` agrees with its bytes.
fn assert_sound(elf: &Elf, start: u64, p: &Placement) {
    let insns = elf.objdump(start, start + 32);
    let (raw, text) = insns
        .get(&p.addr)
        .unwrap_or_else(|| panic!("{p:?}: not an instruction start in {insns:#x?}"));
    if p.addr != start {
        assert_eq!(insns.get(&start).map(|i| i.1.as_str()), Some("endbr64"));
        assert_eq!(p.addr, start + 4, "{p:?}");
        assert!(p.emulated, "{p:?}");
    }
    assert_eq!(emulated_bytes(raw), p.emulated, "{p:?}: {raw:02x?} {text}");
    let mnemonic = text.split(' ').next().unwrap_or_default();
    assert!(p.what.contains(mnemonic), "{p:?} vs objdump {text}");
}

/// One OpenSSL family of a real object: the placements, each checked sound against objdump. A
/// placement at neither exported entry must be the first direct call (or `_ex`'s tail jump)
/// target of both, as objdump sees it.
fn real_family(elf: &Elf, plain_name: &str, ex_name: &str) -> Vec<Placement> {
    let (p_addr, p_code) = elf.function(plain_name);
    let (e_addr, e_code) = elf.function(ex_name);
    let p = Exported {
        name: plain_name,
        code: FuncCode {
            entry: p_addr,
            code: &p_code,
        },
    };
    let e = Exported {
        name: ex_name,
        code: FuncCode {
            entry: e_addr,
            code: &e_code,
        },
    };
    let placements = openssl_family(&p, Some(&e), &elf.callee_code());
    eprintln!("{} {plain_name}/{ex_name}:", elf.path.display());
    for pl in &placements {
        eprintln!("  {:#x} {:?} {}", pl.addr, pl.abi, pl.what);
    }
    if let Err(why) = shared_callee(&p, &e, &elf.callee_code()) {
        eprintln!("  (no shared callee: {why})");
    }
    for pl in &placements {
        let start = if [p_addr, p_addr + 4].contains(&pl.addr) {
            assert!(pl.addr == p_addr || pl.emulated);
            p_addr
        } else if [e_addr, e_addr + 4].contains(&pl.addr) {
            e_addr
        } else {
            let from_plain = first_direct_transfer(elf, plain_name).expect("plain calls");
            let from_ex = first_direct_transfer(elf, ex_name).expect("ex calls");
            assert_eq!(from_plain.0, "call");
            assert_eq!(from_plain.1, from_ex.1, "{from_plain:?} {from_ex:?}");
            assert!(pl.emulated && pl.abi == CallAbi::CountThroughPointer);
            from_plain.1
        };
        assert_sound(elf, start, pl);
    }
    placements
}

/// The callers objdump finds of `addr` in the whole object (for the log).
fn callers(elf: &Elf, addr: u64) -> usize {
    let out = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(&elf.path)
        .output()
        .expect("objdump");
    let needle = format!("{addr:x} <");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| (l.contains("\tcall ") || l.contains("\tjmp ")) && l.contains(&needle))
        .count()
}

fn real(test: &str, path: &str) -> Option<Elf> {
    if !Path::new(path).exists() {
        skip(test, &format!("{path} is missing"));
        return None;
    }
    if !have_objdump() {
        skip(test, "objdump is missing");
        return None;
    }
    Some(Elf::open(Path::new(path)))
}

#[test]
fn debian_libssl3_uses_the_internal_functions() {
    let Some(elf) = real(
        "debian_libssl3_uses_the_internal_functions",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    ) else {
        return;
    };
    for (plain, ex) in [("SSL_write", "SSL_write_ex"), ("SSL_read", "SSL_read_ex")] {
        let placements = real_family(&elf, plain, ex);
        assert_eq!(placements.len(), 1, "{placements:#?}");
        let pl = &placements[0];
        assert!(pl.emulated);
        assert_eq!(pl.abi, CallAbi::CountThroughPointer);
        assert!(pl.what.contains(" push %r"), "{}", pl.what);
        for name in [plain, ex] {
            let (entry, code) = elf.function(name);
            assert!(
                pl.addr.wrapping_sub(entry) >= code.len() as u64,
                "inside {name}"
            );
        }
        eprintln!("  objdump finds {} direct callers", callers(&elf, pl.addr));
    }
}

#[test]
fn node_bundled_openssl() {
    let Some(elf) = real("node_bundled_openssl", "/usr/bin/node") else {
        return;
    };
    if !elf.functions.contains_key("SSL_write_ex") {
        skip("node_bundled_openssl", "node does not export SSL_write_ex");
        return;
    }
    for (plain, ex) in [("SSL_write", "SSL_write_ex"), ("SSL_read", "SSL_read_ex")] {
        let placements = real_family(&elf, plain, ex);
        assert!(!placements.is_empty() && placements.len() <= 2);
    }
}

#[test]
fn gnutls_record_functions() {
    let Some(elf) = real(
        "gnutls_record_functions",
        "/usr/lib/x86_64-linux-gnu/libgnutls.so.30",
    ) else {
        return;
    };
    for name in ["gnutls_record_send", "gnutls_record_recv"] {
        let (entry, code) = elf.function(name);
        let p = gnutls_function(&Exported {
            name,
            code: FuncCode { entry, code: &code },
        });
        eprintln!("{name}: {:#x} {}", p.addr, p.what);
        assert_eq!(p.abi, CallAbi::CountReturned);
        assert_sound(&elf, entry, &p);
    }
}
