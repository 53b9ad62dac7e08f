//! The stripped-BoringSSL finder on real objects: gRPC's wheel from PyPI (installed by
//! scripts/test-deps.sh, pinned to 1.85.3), copies of it altered where the finder must refuse,
//! and OpenSSL, which is not BoringSSL.

use std::path::PathBuf;
use std::time::Instant;

use capture::signature::boringssl::{self, Image};
use capture::x86;

/// gRPC's extension module, or None (with the reason printed) when the test programs are not
/// installed; `APITOP_REQUIRE_EBPF=1` (CI) makes that a failure.
fn cygrpc() -> Option<PathBuf> {
    let p = PathBuf::from(
        "/opt/apitop-test-tools/grpcio/grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so",
    );
    if p.exists() {
        return Some(p);
    }
    let why = format!("{} missing: run scripts/test-deps.sh", p.display());
    assert!(
        std::env::var("APITOP_REQUIRE_EBPF").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// File offset of virtual address `addr` in `data` (through the section that holds it).
fn offset_of(data: &[u8], addr: u64) -> usize {
    use object::{Object, ObjectSection};
    let elf = object::File::parse(data).unwrap();
    let s = elf
        .sections()
        .find(|s| addr >= s.address() && addr < s.address() + s.size())
        .unwrap();
    (s.file_range().unwrap().0 + (addr - s.address())) as usize
}

/// Replaces the only occurrence of `from` in `data[range]` by `to` (same length).
fn patch(data: &mut [u8], start: usize, end: usize, from: &[u8], to: &[u8]) {
    let hits: Vec<usize> = memchr::memmem::find_iter(&data[start..end], from).collect();
    assert_eq!(hits.len(), 1, "pattern {from:02x?} should occur once");
    let at = start + hits[0];
    data[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn finds_ssl_read_and_ssl_write_in_grpc_wheel() {
    let Some(path) = cygrpc() else { return };
    let data = std::fs::read(&path).unwrap();
    let t = Instant::now();
    let found = boringssl::find(&Image::from_elf(&data).unwrap()).unwrap();
    eprintln!(
        "scan of {} ({} MB): {:?}; {}",
        path.display(),
        data.len() >> 20,
        t.elapsed(),
        found.evidence
    );
    // The functions objdump shows for grpcio 1.85.3 (SSL_read at 0xbb5380 calls ssl_read_impl and
    // then consumes; SSL_peek at 0xbb5120 does not; SSL_write at 0xbb35a0).
    assert_eq!(found.ssl_read.start, 0xbb5380, "{found:?}");
    assert_eq!(found.ssl_write.start, 0xbb35a0, "{found:?}");
    assert!(found.evidence.contains("SSL_write 4"), "{}", found.evidence);
    // Both begin with a push: a probe there is emulated, not single-stepped.
    for (name, r) in [("SSL_read", found.ssl_read), ("SSL_write", found.ssl_write)] {
        let at = offset_of(&data, r.start);
        let code = &data[at..at + 16];
        let first = x86::decode(code, r.start)[0];
        assert_eq!(
            x86::emulation(&first, code),
            x86::Emulation::Emulated,
            "{name} begins {}",
            x86::gas(&first)
        );
    }
    // What apitop pays the first time it meets the file: the streaming search for the file
    // name, reading the file, and the analysis.
    let t = Instant::now();
    let scanned = capture::signature::scan(&path);
    eprintln!("whole scan from the file: {:?}", t.elapsed());
    assert_eq!(scanned, Ok(found.clone()));
    // An object without BoringSSL costs only the streaming search (libcrypto, 4.5 MB).
    let t = Instant::now();
    let not = capture::signature::scan(std::path::Path::new(
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    ));
    eprintln!("libcrypto.so.3 (not BoringSSL): {:?}", t.elapsed());
    assert!(not
        .unwrap_err()
        .starts_with(capture::signature::NOT_BORINGSSL));
    // The cached scan gives the same answer, the second time without reading the file.
    let a = capture::signature::cached(&path);
    let t = Instant::now();
    let b = capture::signature::cached(&path);
    eprintln!("cached lookup: {:?}", t.elapsed());
    assert_eq!(*a, Ok(found.clone()));
    assert_eq!(*b, Ok(found));
}

#[test]
fn refuses_altered_copies_with_the_reason() {
    let Some(path) = cygrpc() else { return };
    let data = std::fs::read(&path).unwrap();
    let found = boringssl::find(&Image::from_elf(&data).unwrap()).unwrap();
    let range = |r: boringssl::Found, write: bool| {
        let r = if write { r.ssl_write } else { r.ssl_read };
        (offset_of(&data, r.start), offset_of(&data, r.end - 1) + 1)
    };

    // SSL_write's BAD_LENGTH report turned into another reason: nothing matches SSL_write.
    let mut d = data.clone();
    let (s, e) = range(found.clone(), true);
    patch(&mut d, s, e, &[0xba, 0x6f, 0, 0, 0], &[0xba, 0x70, 0, 0, 0]);
    let err = boringssl::find(&Image::from_elf(&d).unwrap()).unwrap_err();
    assert_eq!(err, "no SSL_write signature");

    // SSL_read no longer stores what it consumed (`add %rcx,0x80(%rax)` and
    // `mov %rdx,0x88(%rax)` made loads of the same length): it looks like SSL_peek, and two peeks
    // and no reader is refused.
    let mut d = data.clone();
    let (s, e) = range(found.clone(), false);
    patch(
        &mut d,
        s,
        e,
        &[0x48, 0x01, 0x88, 0x80, 0, 0, 0],
        &[0x48, 0x03, 0x88, 0x80, 0, 0, 0],
    );
    patch(
        &mut d,
        s,
        e,
        &[0x48, 0x89, 0x90, 0x88, 0, 0, 0],
        &[0x48, 0x8b, 0x90, 0x88, 0, 0, 0],
    );
    let err = boringssl::find(&Image::from_elf(&d).unwrap()).unwrap_err();
    assert_eq!(err, "no SSL_read signature");

    // A second BoringSSL file name: which copy is which cannot be told.
    let mut d = data.clone();
    let at = memchr::memmem::find(&d, b"ssl/ssl_lib.cc\0").unwrap();
    // `…/ssl/ssl_x509.cc` rewritten in place as `…/ssl/ssl_lib.cc`.
    let other = memchr::memmem::find(&d, b"ssl/ssl_x509.cc\0").expect("ssl_x509.cc string");
    assert_ne!(other, at);
    d[other..other + 15].copy_from_slice(b"ssl/ssl_lib.cc\0");
    let err = boringssl::find(&Image::from_elf(&d).unwrap()).unwrap_err();
    assert_eq!(
        err,
        "2 different ssl_lib.cc strings (several boringssl copies?)"
    );
}

#[test]
fn openssl_is_not_boringssl() {
    let p = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    let data = std::fs::read(p).unwrap();
    let err = boringssl::find(&Image::from_elf(&data).unwrap()).unwrap_err();
    assert!(
        err.starts_with("no boringssl ssl_lib.cc error strings"),
        "{err}"
    );
    // Not an ELF object at all.
    let err = boringssl::find(&Image::from_elf(b"#!/bin/sh\n").unwrap_or_default()).unwrap_err();
    assert!(err.contains("ssl_lib.cc"), "{err}");
    assert!(Image::from_elf(b"#!/bin/sh\n").is_err());
}
