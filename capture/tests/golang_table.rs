//! `capture::golang::GoBinary` on real Go executables: the gohttps fixtures (symbols, stripped
//! PIE, cgo external link), Debian's caddy (stripped, cgo) and esbuild (Go 1.26, stripped,
//! textStart only in the module data). Addresses are checked against ground truth obtained
//! independently: the ELF symbol table, Go's own `debug/gosym`, and the machine code itself
//! (Go's stack-check prologue at the entry, the `jmp entry` that closes it and the int3 padding
//! up to the next function). Each binary is also read with its section headers removed, and a
//! PIE with its relocated pointers zeroed the way lld writes them.
mod go_support;

use std::path::{Path, PathBuf};

use capture::golang::{GoBinary, GoError, GoFunction};
use go_support::{fixtures, go_version_of, gosym, installed, CADDY, ESBUILD, ESBUILD_GO_1_17};
use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

const WRITE: &str = "crypto/tls.(*Conn).Write";
const READ: &str = "crypto/tls.(*Conn).Read";
const CLOSE: &str = "crypto/tls.(*Conn).Close";
const MEMMOVE: &str = "runtime.memmove";
const NAMES: [&str; 4] = [WRITE, READ, CLOSE, MEMMOVE];

/// Go aligns functions to 32 bytes on amd64.
const FUNC_ALIGN: u64 = 32;

/// A scratch file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str, bytes: &[u8]) -> Scratch {
        // One directory per file: tests run in parallel, and a shared one could be removed by
        // another test's drop between this one's create_dir_all and its write.
        let dir =
            std::env::temp_dir().join(format!("apitop-golang-table-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the scratch directory");
        let path = dir.join(tag);
        std::fs::write(&path, bytes).expect("writing a scratch file");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn open(path: &Path) -> GoBinary {
    GoBinary::open(path, &NAMES).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ELF header with e_shoff, e_shnum and e_shstrndx zeroed: no section headers.
fn without_section_headers(mut elf: Vec<u8>) -> Vec<u8> {
    elf[0x28..0x30].fill(0);
    elf[0x3c..0x40].fill(0);
    elf
}

/// File offset of `vaddr` by the file's segments, computed with `object`.
fn file_offset_by_object(file: &object::File, vaddr: u64) -> Option<u64> {
    file.segments().find_map(|seg| {
        let (off, size) = seg.file_range();
        let rel = vaddr.checked_sub(seg.address())?;
        (rel < size).then_some(off + rel)
    })
}

/// Checks that `f`'s code is one whole Go function: for Go code, the stack-check prologue at
/// the entry and the `jmp entry` that ends the morestack tail, then only int3 padding up to the
/// next function, which starts at `end` (aligned, not padding).
fn check_code(bin: &GoBinary, f: &GoFunction) {
    let what = format!("{} in {}", f.name, bin.path().display());
    assert!(f.entry < f.end, "{what}: empty range");
    assert_eq!(
        f.end % FUNC_ALIGN,
        0,
        "{what}: end {:#x} not aligned",
        f.end
    );
    let code = bin.code(f).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(code.len() as u64, f.end - f.entry);
    let go_code = f.name != MEMMOVE;
    if go_code {
        let plain = code.starts_with(&[0x49, 0x3b, 0x66, 0x10]);
        // lea r12, [rsp-N] (disp8 or disp32) then cmp r12, [r14+0x10].
        let big_frame = (code.starts_with(&[0x4c, 0x8d, 0x64, 0x24])
            && code[5..].starts_with(&[0x4d, 0x3b, 0x66, 0x10]))
            || (code.starts_with(&[0x4c, 0x8d, 0xa4, 0x24])
                && code[8..].starts_with(&[0x4d, 0x3b, 0x66, 0x10]));
        assert!(
            plain || big_frame,
            "{what}: no stack-check prologue at {:#x}: {:02x?}",
            f.entry,
            &code[..12]
        );
    } else {
        // ABIInternal memmove moves its register arguments first: mov rdi,rax; mov rsi,rbx;
        // mov rbx,rcx (the ABI0 wrapper would start with a frame instead).
        assert!(
            code.starts_with(&[0x48, 0x89, 0xc7, 0x48, 0x89, 0xde, 0x48, 0x89, 0xcb]),
            "{what}: not ABIInternal memmove: {:02x?}",
            &code[..12]
        );
    }
    let padding = code.iter().rev().take_while(|&&b| b == 0xcc).count();
    assert!(
        padding < FUNC_ALIGN as usize,
        "{what}: {padding} bytes of padding"
    );
    let body = &code[..code.len() - padding];
    let mut decoder = Decoder::with_ip(64, body, f.entry, DecoderOptions::NONE);
    let mut last = None;
    for instr in &mut decoder {
        assert!(
            !instr.is_invalid(),
            "{what}: invalid instruction at {:#x}",
            instr.ip()
        );
        last = Some(instr);
    }
    let last = last.unwrap_or_else(|| panic!("{what}: no instructions"));
    if go_code {
        assert!(
            last.mnemonic() == Mnemonic::Jmp && last.near_branch_target() == f.entry,
            "{what}: does not end with the morestack tail's jmp to the entry: {last}"
        );
    } else {
        assert!(
            matches!(
                last.flow_control(),
                FlowControl::Return
                    | FlowControl::UnconditionalBranch
                    | FlowControl::IndirectBranch
            ),
            "{what}: ends with {last}"
        );
    }
    // The next function starts at `end`.
    let next = GoFunction {
        name: "next".into(),
        entry: f.end,
        end: f.end + 1,
    };
    let first = bin
        .code(&next)
        .unwrap_or_else(|e| panic!("{what}: after end: {e}"));
    assert_ne!(
        first,
        [0xcc],
        "{what}: padding continues past end {:#x}",
        f.end
    );
}

/// What is known independently about a binary.
struct Expect {
    /// `go version` can read it; else this literal version.
    version: Option<&'static str>,
    /// Has `.symtab`: compare with it.
    symbols: bool,
    /// Internally linked: the code base is `.text`'s address.
    base_is_text: bool,
}

/// All the checks on one binary, then the same with its section headers removed.
fn check_binary(path: &Path, expect: &Expect) -> GoBinary {
    let bin = open(path);
    let shown = path.display();
    let bytes = std::fs::read(path).expect("reading the binary");
    let file = object::File::parse(&*bytes).expect("parsing with object");

    for name in NAMES {
        assert!(bin.function(name).is_some(), "{shown}: {name} not found");
    }
    let names: Vec<_> = bin.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, NAMES, "{shown}: request order");

    // Version: Go's own reader when it can, else the known value.
    let version = bin.version.clone().unwrap_or_default();
    match expect.version {
        None => {
            let go = go_version_of(path).expect("go version reads this binary");
            assert_eq!(version, go, "{shown}: version");
        }
        Some(v) => assert_eq!(version, v, "{shown}: version"),
    }
    let parsed = capture::golang::buildinfo::version_number(&version);
    assert_eq!(bin.version_num, parsed);

    // The code base.
    let text = file.section_by_name(".text").expect(".text").address();
    if expect.base_is_text {
        assert_eq!(
            bin.text_start, text,
            "{shown}: internal link: base is .text"
        );
    } else {
        assert_ne!(
            bin.text_start, text,
            "{shown}: external link: base is not .text"
        );
    }
    assert!(bin.module_data.is_some(), "{shown}: module data not found");

    // Symbols, when there are any.
    if expect.symbols {
        let sym = |name: &str| {
            file.symbols()
                .find(|s| s.name() == Ok(name))
                .unwrap_or_else(|| panic!("{shown}: no symbol {name}"))
                .address()
        };
        assert_eq!(bin.text_start, sym("runtime.text"), "{shown}: runtime.text");
        assert_eq!(bin.module_data, Some(sym("runtime.firstmoduledata")));
        let mut funcs: Vec<u64> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
            .map(|s| s.address())
            .collect();
        funcs.sort_unstable();
        for f in &bin.functions {
            let addrs: Vec<u64> = file
                .symbols()
                .filter(|s| s.kind() == SymbolKind::Text && s.name() == Ok(f.name.as_str()))
                .map(|s| s.address())
                .collect();
            assert!(
                addrs.contains(&f.entry),
                "{shown}: {} at {:#x}, symtab {addrs:x?}",
                f.name,
                f.entry
            );
            let next = funcs.iter().find(|&&a| a > f.entry).copied();
            assert_eq!(Some(f.end), next, "{shown}: {} end", f.name);
        }
    }

    // Go's own reader of the table, when the local toolchain knows the layout. It takes the
    // code base from its caller (it would be wrong with `.text` for external links): this
    // checks the table decoding; the base is checked by the symbols and the code.
    if let Some(truth) = gosym(path, bin.text_start, &NAMES) {
        for f in &bin.functions {
            let same: Vec<_> = truth.iter().filter(|t| t.name == f.name).collect();
            assert!(
                same.iter().any(|t| (t.entry, t.end) == (f.entry, f.end)),
                "{shown}: {} {:#x}..{:#x}, debug/gosym says {same:x?}",
                f.name,
                f.entry,
                f.end
            );
        }
    } else {
        eprintln!("note: the local Go toolchain cannot read {shown}'s table; not compared");
    }

    for f in &bin.functions {
        check_code(&bin, f);
        assert_eq!(
            bin.file_offset(f.entry),
            file_offset_by_object(&file, f.entry),
            "{shown}: file offset of {}",
            f.name
        );
    }

    // Section headers removed: the same answers, by scanning.
    let tag = format!(
        "noshdr-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("bin")
    );
    let copy = Scratch::new(&tag, &without_section_headers(bytes));
    let bare = open(&copy.0);
    assert_eq!(bare.table_source, "file scan (no section headers)");
    assert_eq!(
        bare.functions, bin.functions,
        "{shown} without section headers"
    );
    assert_eq!(bare.text_start, bin.text_start);
    assert_eq!(bare.module_data, bin.module_data);
    assert_eq!(bare.version, bin.version);
    bin
}

#[test]
fn gohttps_with_symbols() {
    let Some(dir) = fixtures("gohttps_with_symbols") else {
        return;
    };
    let expect = Expect {
        version: None,
        symbols: true,
        base_is_text: true,
    };
    let bin = check_binary(&dir.join("gohttps"), &expect);
    assert_eq!(bin.table_source, ".gopclntab");
    assert_eq!(bin.text_start_source, "pclntab header");
}

#[test]
fn gohttps_stripped_pie() {
    let Some(dir) = fixtures("gohttps_stripped_pie") else {
        return;
    };
    let expect = Expect {
        version: None,
        symbols: false,
        base_is_text: true,
    };
    let bin = check_binary(&dir.join("gohttps-stripped"), &expect);
    assert_eq!(bin.table_source, ".data.rel.ro.gopclntab");
}

#[test]
fn gohttps_external_link() {
    let Some(dir) = fixtures("gohttps_external_link") else {
        return;
    };
    let expect = Expect {
        version: None,
        symbols: true,
        base_is_text: false,
    };
    let bin = check_binary(&dir.join("gohttps-extld"), &expect);
    assert_eq!(bin.text_start_source, "pclntab header");
}

#[test]
fn caddy_stripped_cgo() {
    if !go_support::have_go_or_skip("caddy_stripped_cgo") {
        return;
    }
    let Some(path) = installed("caddy_stripped_cgo", CADDY) else {
        return;
    };
    let expect = Expect {
        version: None,
        symbols: false,
        base_is_text: false,
    };
    let bin = check_binary(&path, &expect);
    assert_eq!(bin.table_source, ".gopclntab");
}

#[test]
fn esbuild_go_1_26() {
    let Some(path) = installed("esbuild_go_1_26", ESBUILD) else {
        return;
    };
    let expect = Expect {
        version: Some("go1.26.5"),
        symbols: false,
        base_is_text: true,
    };
    let bin = check_binary(&path, &expect);
    assert_eq!(bin.text_start_source, "moduledata (.go.module)");
    assert_eq!(bin.version_num, Some((1, 26)));
}

/// Go 1.17 (table magic 0xfffffffa: absolute u64 entries, and a functab whose last entry has
/// no funcoff, the first `_func` record starting right after it). Stripped: the truth is Go's
/// `debug/gosym` (which reads this layout) when `go` is installed, and always the machine code.
#[test]
fn esbuild_go_1_17() {
    let Some(path) = installed("esbuild_go_1_17", ESBUILD_GO_1_17) else {
        return;
    };
    let expect = Expect {
        version: Some("go1.17.6"),
        symbols: false,
        base_is_text: true,
    };
    let bin = check_binary(&path, &expect);
    assert_eq!(bin.table_magic, capture::golang::pclntab::MAGIC_GO116);
    assert_eq!(bin.table_source, ".gopclntab");
    assert_eq!(bin.version_num, Some((1, 17)));
    assert_eq!(bin.text_start_source, "moduledata (scan)");
    // Compared with debug/gosym whenever `go` is installed, not only when check_binary can.
    if go_support::have_go_or_skip("esbuild_go_1_17 (debug/gosym comparison)") {
        let truth = gosym(&path, bin.text_start, &NAMES).expect("debug/gosym reads Go 1.17 tables");
        for f in &bin.functions {
            assert!(
                truth
                    .iter()
                    .any(|t| (t.name.as_str(), t.entry, t.end) == (f.name.as_str(), f.entry, f.end)),
                "{}: {f:x?}, debug/gosym says {truth:x?}",
                path.display()
            );
        }
    }
}

/// The probe plan of the Go 1.17 binary: write and read probed at the stack-check `jbe`, read
/// completed by its one `call runtime.memmove`.
#[test]
fn esbuild_go_1_17_plan() {
    let Some(path) = installed("esbuild_go_1_17_plan", ESBUILD_GO_1_17) else {
        return;
    };
    let bin = open(&path);
    let plan = capture::golang::plan::plan(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.version, "go1.17.6");
    assert_eq!(plan.short_version(), "go 1.17");
    let func = |name: &str| bin.function(name).expect("found").clone();
    for (site, name) in [(&plan.write, WRITE), (&plan.read, READ)] {
        let f = func(name);
        assert!(site.jbe, "{name}: {site:?}");
        assert!(site.what.starts_with("jbe 0x"), "{name}: {}", site.what);
        assert!(
            f.entry < site.vaddr && site.vaddr < f.end,
            "{name}: site {:#x} outside {:#x}..{:#x}",
            site.vaddr,
            f.entry,
            f.end
        );
        assert_eq!(bin.file_offset(site.vaddr), Some(site.offset), "{name}");
    }
    let copy = plan
        .read_copy
        .as_ref()
        .expect("Read's call runtime.memmove");
    let read = func(READ);
    assert!(read.entry < copy.vaddr && copy.vaddr < read.end, "{copy:?}");
    let memmove = func(MEMMOVE);
    assert!(
        copy.what.starts_with(&format!("call {:#x}", memmove.entry)),
        "{}",
        copy.what
    );
}

/// lld leaves R_X86_64_RELATIVE targets 0 in the file: the values are only in the addends.
/// The stripped PIE with every such target zeroed must read the same, with or without
/// section headers.
#[test]
fn pie_with_relocated_pointers_left_zero() {
    let Some(dir) = fixtures("pie_with_relocated_pointers_left_zero") else {
        return;
    };
    let path = dir.join("gohttps-stripped");
    let bin = open(&path);
    let mut bytes = std::fs::read(&path).expect("reading the binary");
    let targets: Vec<u64> = {
        let file = object::File::parse(&*bytes).expect("parsing with object");
        let relocs = file
            .dynamic_relocations()
            .expect("a PIE has dynamic relocations");
        relocs
            .filter(|(_, r)| {
                r.flags()
                    == object::RelocationFlags::Elf {
                        r_type: object::elf::R_X86_64_RELATIVE,
                    }
            })
            .map(|(at, _)| file_offset_by_object(&file, at).expect("relocation target in the file"))
            .collect()
    };
    assert!(targets.len() > 1000, "{} relocations", targets.len());
    for off in targets {
        bytes[off as usize..off as usize + 8].fill(0);
    }
    let zeroed = Scratch::new("pie-zeroed", &bytes);
    let z = open(&zeroed.0);
    assert_eq!(z.functions, bin.functions);
    assert_eq!(
        (z.text_start, z.text_start_source),
        (bin.text_start, "pclntab header")
    );
    assert_eq!(z.module_data, bin.module_data);
    assert_eq!(z.version, bin.version);

    let bare = Scratch::new("pie-zeroed-noshdr", &without_section_headers(bytes));
    let b = open(&bare.0);
    assert_eq!(b.functions, bin.functions);
    assert_eq!(b.text_start, bin.text_start);
    assert_eq!(b.module_data, bin.module_data);
}

#[test]
fn node_is_not_go_from_its_section_headers_alone() {
    let Some(path) = installed(
        "node_is_not_go_from_its_section_headers_alone",
        "/usr/bin/node",
    ) else {
        return;
    };
    // Quick because decided from the section names alone: not one byte of node's ~100 MB past
    // its headers is read (a scan for the table would read them). The time is printed by
    // `cargo bench -p capture --bench timings`.
    let before = capture::golang::bytes_read_past_headers();
    let err = GoBinary::open(&path, &NAMES).expect_err("node is not Go");
    assert!(matches!(err, GoError::NotGo), "{err}");
    assert_eq!(
        capture::golang::bytes_read_past_headers() - before,
        0,
        "node was read past its headers to tell it is not Go"
    );
}

#[test]
fn non_elf_and_garbage_are_errors() {
    let cases: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("text", b"#!/bin/sh\necho hi\n".to_vec()),
        ("elf-magic-only", b"\x7fELF\x02\x01\x01".to_vec()),
        ("elf-header-then-garbage", {
            let mut b = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
            b.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            b
        }),
    ];
    for (tag, bytes) in cases {
        let f = Scratch::new(tag, &bytes);
        let err = GoBinary::open(&f.0, &NAMES).expect_err(tag);
        assert!(!err.to_string().contains('\n'), "{tag}: one line: {err}");
    }
    let err = GoBinary::open(Path::new("/nonexistent/apitop"), &NAMES).expect_err("missing");
    assert!(matches!(err, GoError::Io(_)), "{err}");
}

/// Truncated and corrupted copies of a real binary give errors (or, where the damage misses
/// what is read, the right answer), never a panic.
#[test]
fn damaged_binaries_never_panic() {
    let Some(dir) = fixtures("damaged_binaries_never_panic") else {
        return;
    };
    let path = dir.join("gohttps");
    let bin = open(&path);
    let bytes = std::fs::read(&path).expect("reading the binary");
    let file = object::File::parse(&*bytes).expect("parsing with object");
    let pcln = file
        .section_by_name(".gopclntab")
        .expect(".gopclntab")
        .file_range()
        .expect("in file");
    let (pcln, pcln_len) = (pcln.0 as usize, pcln.1 as usize);

    for len in [
        16,
        63,
        64,
        200,
        4096,
        pcln,
        pcln + 100,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let f = Scratch::new("truncated", &bytes[..len]);
        match GoBinary::open(&f.0, &NAMES) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(b) => assert_eq!(b.functions, bin.functions, "truncated to {len}"),
        }
    }

    // Corrupt bytes where the reader looks: ELF, program and section headers, the table header
    // and functab, and random spots in the table; also with section headers removed.
    let mut seed = std::env::var("GOLANG_TABLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // pclnOffset, the header's last word (Go 1.18+ layout), locates the functab.
    let pcln_offset = u64::from_le_bytes(bytes[pcln + 64..pcln + 72].try_into().expect("8 bytes"));
    let functab = pcln + pcln_offset as usize;
    // The section header table (e_shoff), at the end of the file.
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().expect("8 bytes")) as usize;
    let rounds = std::env::var("GOLANG_TABLE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    for round in 0..rounds {
        let mut b = if round % 2 == 0 {
            bytes.clone()
        } else {
            without_section_headers(bytes.clone())
        };
        for _ in 0..1 + next() % 6 {
            let r = next();
            let at = match r % 5 {
                0 => (r >> 8) as usize % 0x200,
                1 => pcln + (r >> 8) as usize % 0x80,
                2 => functab + (r >> 8) as usize % 0x1000,
                3 => shoff + (r >> 8) as usize % (bytes.len() - shoff),
                _ => pcln + (r >> 8) as usize % pcln_len,
            };
            b[at] = (r >> 40) as u8;
        }
        let f = Scratch::new("mutated", &b);
        if let Ok(got) = GoBinary::open(&f.0, &NAMES) {
            // What the checks let through is right: damage can hide a name, not move it.
            for g in &got.functions {
                assert_eq!(Some(g), bin.function(&g.name), "round {round}");
            }
        }
    }
}

/// The `.gopclntab` file offset and the module data's file offset of `gohttps`.
fn table_and_module_data(bytes: &[u8], bin: &GoBinary) -> (usize, usize) {
    let file = object::File::parse(bytes).expect("parsing with object");
    let pcln = file
        .section_by_name(".gopclntab")
        .expect(".gopclntab")
        .file_range()
        .expect("in file")
        .0;
    let md = bin.module_data.expect("module data found");
    let md = file_offset_by_object(&file, md).expect("module data in the file");
    (pcln as usize, md as usize)
}

/// Tables of other Go versions are refused with their magic in the reason, with or without
/// section headers.
#[test]
fn unsupported_magics_are_named() {
    let Some(dir) = fixtures("unsupported_magics_are_named") else {
        return;
    };
    let path = dir.join("gohttps");
    let bin = open(&path);
    let bytes = std::fs::read(&path).expect("reading the binary");
    let (pcln, _) = table_and_module_data(&bytes, &bin);
    for magic in [0xffff_fffbu32, 0xffff_fff2] {
        let mut b = bytes.clone();
        b[pcln..pcln + 4].copy_from_slice(&magic.to_le_bytes());
        for (tag, b) in [
            ("magic", b.clone()),
            ("magic-noshdr", without_section_headers(b)),
        ] {
            let f = Scratch::new(tag, &b);
            let err = GoBinary::open(&f.0, &NAMES).expect_err("unsupported magic");
            let want = format!("Go function table magic {magic:#010x}");
            assert!(
                matches!(err, GoError::Unsupported(_)) && err.to_string().contains(&want),
                "{tag}: {err}"
            );
        }
    }
}

/// The code base: a header without textStart (as Go 1.26 writes it) falls back to the module
/// data; without either, or when they disagree (the `.text`-instead-of-`runtime.text` trap),
/// the answer is an error, not a guess.
#[test]
fn code_base_is_certain_or_refused() {
    let Some(dir) = fixtures("code_base_is_certain_or_refused") else {
        return;
    };
    let path = dir.join("gohttps-extld");
    let bin = open(&path);
    let bytes = std::fs::read(&path).expect("reading the binary");
    let (pcln, md) = table_and_module_data(&bytes, &bin);
    let text_start = pcln + 24;

    // textStart 0: the module data supplies it.
    let mut no_start = bytes.clone();
    no_start[text_start..text_start + 8].fill(0);
    for (tag, b) in [
        ("no-textstart", no_start.clone()),
        (
            "no-textstart-noshdr",
            without_section_headers(no_start.clone()),
        ),
    ] {
        let f = Scratch::new(tag, &b);
        let got = open(&f.0);
        assert_eq!(got.functions, bin.functions, "{tag}");
        assert_eq!(
            (got.text_start, got.text_start_source),
            (bin.text_start, "moduledata (scan)")
        );
    }

    // textStart 0 and the module data no longer pointing at the table: refused.
    let mut neither = no_start.clone();
    neither[md..md + 8].fill(0);
    let f = Scratch::new("neither", &neither);
    let err = GoBinary::open(&f.0, &NAMES).expect_err("no code base");
    assert!(matches!(err, GoError::BaseUnknown(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "code base unknown (textStart 0 and no module data): refusing to probe"
    );

    // The header says `.text` (0x100 below runtime.text here), the module data disagrees.
    let text = object::File::parse(&*bytes)
        .expect("parsing with object")
        .section_by_name(".text")
        .expect(".text")
        .address();
    assert_ne!(text, bin.text_start);
    let mut wrong = bytes.clone();
    wrong[text_start..text_start + 8].copy_from_slice(&text.to_le_bytes());
    let f = Scratch::new("wrong-textstart", &wrong);
    let err = GoBinary::open(&f.0, &NAMES).expect_err("contradiction");
    assert!(matches!(err, GoError::BaseUnknown(_)), "{err}");
    assert!(err.to_string().contains("refusing to probe"), "{err}");
}
