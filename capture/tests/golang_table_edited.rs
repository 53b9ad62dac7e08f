//! `capture::golang::GoBinary` on edited copies of the gohttps fixtures and on what is not Go: a
//! PIE with its relocated pointers zeroed the way lld writes them, truncated and corrupted copies,
//! other Go versions' table magics, a code base missing or contradicted, node, and garbage. Each
//! gives the right answer or an error, never a panic or a guess. Real, unedited executables are
//! in `golang_table_real.rs`.
mod go_support;
mod golang_table_support;

use std::path::Path;

use capture::golang::{GoBinary, GoError};
use go_support::{fixtures, installed};
use golang_table_support::{file_offset_by_object, open, without_section_headers, Scratch, NAMES};
use object::{Object, ObjectSection};

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
