//! `capture::golang::GoBinary` on real Go executables: the gohttps fixtures (symbols, stripped
//! PIE, cgo external link), Debian's caddy (stripped, cgo) and esbuild (Go 1.26, stripped,
//! textStart only in the module data). Addresses are checked against ground truth obtained
//! independently: the ELF symbol table, Go's own `debug/gosym`, and the machine code itself
//! (Go's stack-check prologue at the entry, the `jmp entry` that closes it and the int3 padding
//! up to the next function). Each binary is also read with its section headers removed. Edited
//! copies and what is not Go are in `golang_table_edited.rs`.
mod go_support;
mod golang_table_support;

use std::path::Path;

use capture::golang::{GoBinary, GoFunction};
use go_support::{fixtures, go_version_of, gosym, installed, CADDY, ESBUILD, ESBUILD_GO_1_17};
use golang_table_support::{
    file_offset_by_object, open, without_section_headers, Scratch, MEMMOVE, NAMES, READ, WRITE,
};
use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// Go aligns functions to 32 bytes on amd64.
const FUNC_ALIGN: u64 = 32;

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
