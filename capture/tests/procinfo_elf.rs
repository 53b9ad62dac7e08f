//! ELF-level checks on synthetic files: exported symbols, Go markers and the static-TLS string
//! heuristic (which must look only at `.rodata`).
use std::path::{Path, PathBuf};

use capture::procinfo::{
    elf_exports, elf_is_go, static_tls_marker, static_tls_markers, system_libssl, Inspector,
};

/// A minimal ELF64 little-endian file with the given sections (name, type, contents) plus
/// `.shstrtab`, and, if `dynsyms` is not empty, `.dynsym`/`.dynstr` defining (true) or
/// importing (false) those function names.
fn build_elf(sections: &[(&str, u32, Vec<u8>)], dynsyms: &[(&str, bool)]) -> Vec<u8> {
    const SHT_PROGBITS: u32 = 1;
    const SHT_STRTAB: u32 = 3;
    const SHT_DYNSYM: u32 = 11;
    let mut secs: Vec<(String, u32, Vec<u8>, u32, u64)> = sections
        .iter()
        .map(|(n, t, d)| (n.to_string(), *t, d.clone(), 0, 0))
        .collect();
    if secs.is_empty() || !dynsyms.is_empty() {
        secs.push((".text".into(), SHT_PROGBITS, vec![0xc3; 16], 0, 0));
    }
    let text_index = secs.len() as u16; // index after the null section
    if !dynsyms.is_empty() {
        let mut dynstr = vec![0u8];
        let mut dynsym = vec![0u8; 24];
        for (name, defined) in dynsyms {
            let off = dynstr.len() as u32;
            dynstr.extend_from_slice(name.as_bytes());
            dynstr.push(0);
            dynsym.extend_from_slice(&off.to_le_bytes());
            dynsym.push(0x12); // STB_GLOBAL, STT_FUNC
            dynsym.push(0);
            let shndx = if *defined { text_index } else { 0 };
            dynsym.extend_from_slice(&shndx.to_le_bytes());
            dynsym.extend_from_slice(&(if *defined { 0x1000u64 } else { 0 }).to_le_bytes());
            dynsym.extend_from_slice(&16u64.to_le_bytes());
        }
        let dynstr_index = secs.len() as u32 + 2; // null + existing + dynsym
        secs.push((".dynsym".into(), SHT_DYNSYM, dynsym, dynstr_index, 24));
        secs.push((".dynstr".into(), SHT_STRTAB, dynstr, 0, 0));
    }
    let mut shstrtab = vec![0u8];
    let mut name_offs = Vec::new();
    for s in secs
        .iter()
        .map(|s| s.0.clone())
        .chain([".shstrtab".to_string()])
    {
        name_offs.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(s.as_bytes());
        shstrtab.push(0);
    }
    secs.push((".shstrtab".into(), SHT_STRTAB, shstrtab, 0, 0));

    let mut out = vec![0u8; 64];
    let mut offsets = Vec::new();
    for s in &secs {
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        offsets.push(out.len() as u64);
        out.extend_from_slice(&s.2);
    }
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    out.extend_from_slice(&[0u8; 64]); // null section header
    for (i, s) in secs.iter().enumerate() {
        let mut sh = Vec::with_capacity(64);
        sh.extend_from_slice(&name_offs[i].to_le_bytes());
        sh.extend_from_slice(&s.1.to_le_bytes());
        sh.extend_from_slice(&2u64.to_le_bytes()); // SHF_ALLOC
        sh.extend_from_slice(&0u64.to_le_bytes());
        sh.extend_from_slice(&offsets[i].to_le_bytes());
        sh.extend_from_slice(&(s.2.len() as u64).to_le_bytes());
        sh.extend_from_slice(&s.3.to_le_bytes());
        sh.extend_from_slice(&(if s.1 == SHT_DYNSYM { 1u32 } else { 0 }).to_le_bytes());
        sh.extend_from_slice(&8u64.to_le_bytes());
        sh.extend_from_slice(&s.4.to_le_bytes());
        out.extend_from_slice(&sh);
    }
    let shnum = secs.len() as u16 + 1;
    let hdr = &mut out[..64];
    hdr[..16].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    hdr[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    hdr[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    hdr[20..24].copy_from_slice(&1u32.to_le_bytes());
    hdr[40..48].copy_from_slice(&shoff.to_le_bytes());
    hdr[52..54].copy_from_slice(&64u16.to_le_bytes());
    hdr[54..56].copy_from_slice(&56u16.to_le_bytes());
    hdr[58..60].copy_from_slice(&64u16.to_le_bytes());
    hdr[60..62].copy_from_slice(&shnum.to_le_bytes());
    hdr[62..64].copy_from_slice(&(shnum - 1).to_le_bytes());
    out
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("apitop-elf-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Marker strings are assembled at run time so this test binary does not contain them.
fn rev(s: &str) -> String {
    s.chars().rev().collect()
}

fn rodata(text: &str) -> (&'static str, u32, Vec<u8>) {
    let mut data = b"\0usage: frobnicate [options]\0".to_vec();
    data.extend_from_slice(text.as_bytes());
    data.extend_from_slice(b"\0done\0");
    (".rodata", 1, data)
}

#[test]
fn static_tls_strings_in_rodata_are_found() {
    let cases = [
        (rev(" 31slt") + "derived", rev(" 31slt")),
        (rev("3.1 SLT"), rev("3.1 SLT")),
        (rev("LSSgniroB"), rev("LSSgniroB")),
        (rev(".3 LSSnepO") + "0.13 30 Jan 2024", rev(".3 LSSnepO")),
        (rev(".1 LSSnepO") + "1.1w", rev(".1 LSSnepO")),
        (rev("c.bil_lss/lss/.."), rev("c.bil_lss/lss")),
        // The most telling marker wins, wherever it is: a library's name over the TLS 1.3
        // label every stack has.
        (
            rev(" 31slt") + "derived\0" + &rev("c.bil_lss/lss/.."),
            rev("c.bil_lss/lss"),
        ),
    ];
    for (i, (text, marker)) in cases.iter().enumerate() {
        let f = TempFile::new(&format!("static{i}"), &build_elf(&[rodata(text)], &[]));
        assert_eq!(
            static_tls_marker(&f.0).unwrap().map(str::to_string),
            Some(marker.clone()),
            "{text}"
        );
        assert!(!elf_exports(&f.0, "SSL_write"));
        assert!(!elf_is_go(&f.0));
    }
    assert_eq!(static_tls_markers().len(), 6);
}

#[test]
fn strings_outside_rodata_do_not_count() {
    let comment = (".comment", 1, rev(" 31slt").into_bytes());
    let f = TempFile::new(
        "outside",
        &build_elf(&[rodata("hello world"), comment], &[]),
    );
    assert_eq!(static_tls_marker(&f.0).unwrap(), None);
}

#[test]
fn dynamic_exports_are_defined_functions_only() {
    let f = TempFile::new(
        "dynsym",
        &build_elf(
            &[rodata("x")],
            &[
                ("SSL_write", true),
                ("SSL_read_ex", true),
                ("SSL_read", false),
            ],
        ),
    );
    assert!(elf_exports(&f.0, "SSL_write"));
    assert!(elf_exports(&f.0, "SSL_read_ex"));
    assert!(!elf_exports(&f.0, "SSL_read"), "imported, not exported");
    assert!(!elf_exports(&f.0, "SSL_writ"));
    let mut ins = Inspector::new();
    assert!(ins.elf_defines(&f.0, "SSL_write"));
    assert!(!ins.elf_defines(&f.0, "SSL_read"));
    assert!(ins.elf_defines(&f.0, "SSL_read_ex"));
}

#[test]
fn go_sections_mark_go() {
    for section in [".go.buildinfo", ".gopclntab"] {
        let f = TempFile::new(
            section,
            &build_elf(
                &[rodata("x"), (section, 1, b"\xff Go buildinf:".to_vec())],
                &[],
            ),
        );
        assert!(elf_is_go(&f.0), "{section}");
    }
    let f = TempFile::new("notgo", &build_elf(&[rodata("x")], &[]));
    assert!(!elf_is_go(&f.0));
}

#[test]
fn non_elf_and_missing_files_are_harmless() {
    let f = TempFile::new(
        "script",
        format!("#!/bin/sh\necho {}\n", rev(" 31slt")).as_bytes(),
    );
    assert_eq!(static_tls_marker(&f.0).unwrap(), None);
    assert!(!elf_exports(&f.0, "SSL_write"));
    let truncated = build_elf(&[rodata("x")], &[("SSL_write", true)]);
    let f = TempFile::new("truncated", &truncated[..100]);
    assert!(!elf_exports(&f.0, "SSL_write"));
    assert!(!elf_exports(Path::new("/nonexistent/apitop"), "SSL_write"));
    assert!(static_tls_marker(Path::new("/nonexistent/apitop")).is_err());
    assert!(!elf_exports(Path::new("/dev/null"), "SSL_write"));
}

#[test]
fn inspector_cache_notices_a_file_replaced_in_place() {
    let mut ins = Inspector::new();
    let f = TempFile::new(
        "replaced",
        &build_elf(&[rodata("x")], &[("SSL_write", true)]),
    );
    assert!(ins.elf_defines(&f.0, "SSL_write"));
    // Same path, same inode, new contents (an in-place rewrite).
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&f.0, build_elf(&[rodata("xy")], &[("SSL_read", true)])).unwrap();
    assert!(!ins.elf_defines(&f.0, "SSL_write"));
    assert!(ins.elf_defines(&f.0, "SSL_read"));
}

#[test]
fn system_libssl_is_real_openssl() {
    let libs = system_libssl();
    eprintln!("system libssl: {libs:?}");
    for lib in &libs {
        let name = lib.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("libssl.so"), "{name}");
        assert!(lib.is_absolute() && lib == &std::fs::canonicalize(lib).unwrap());
        assert!(elf_exports(lib, "SSL_write"));
    }
    use std::os::unix::fs::MetadataExt;
    let mut inodes: Vec<u64> = libs
        .iter()
        .map(|l| std::fs::metadata(l).unwrap().ino())
        .collect();
    inodes.sort();
    inodes.dedup();
    assert_eq!(inodes.len(), libs.len(), "deduplicated by inode");
    // Where the package manager put OpenSSL 3, it must be found.
    let debian = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
    if cfg!(target_arch = "x86_64") && debian.exists() {
        assert!(libs.iter().any(|l| l == debian), "{libs:?}");
    }
}
