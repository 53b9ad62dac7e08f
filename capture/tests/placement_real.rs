//! Probe placement for OpenSSL-compatible and GnuTLS objects (`capture::placement`):
//! hand-assembled wrappers, arbitrary bytes, and the real libraries on this machine checked
//! against GNU objdump's disassembly.
//!
//! The real-binary tests skip with a printed reason when a library (or `objdump`) is missing,
//! unless `APITOP_REQUIRE_EBPF=1`.

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

// ---------------------------------------------------------------------------------------------
// Hand-assembled wrappers, shaped like Debian's OpenSSL 3.0.

const PLAIN: u64 = 0x3_5980;
const EX: u64 = 0x3_5a10;
const CALLEE: u64 = 0x3_55a0;
const OTHER: u64 = 0x3_5290;

const SUB_18_RSP: [u8; 4] = [0x48, 0x83, 0xec, 0x18]; // sub $0x18,%rsp
const SUB_8_RSP: [u8; 4] = [0x48, 0x83, 0xec, 0x08]; // sub $0x8,%rsp
const MOV_RSP_RCX: [u8; 3] = [0x48, 0x89, 0xe1]; // mov %rsp,%rcx
const MOVSLQ_EDX: [u8; 3] = [0x48, 0x63, 0xd2]; // movslq %edx,%rdx
const MOV_RBX_RSI: [u8; 3] = [0x48, 0x89, 0xde]; // mov %rbx,%rsi
const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
const PUSH_R14: [u8; 2] = [0x41, 0x56];

/// Appends `op` (`e8` call or `e9` jmp) to `target`, `code` starting at `entry`.
fn rel32(code: &mut Vec<u8>, entry: u64, op: u8, target: u64) {
    let next = entry + code.len() as u64 + 5;
    let rel = i32::try_from(target as i64 - next as i64).expect("near");
    code.push(op);
    code.extend_from_slice(&rel.to_le_bytes());
}

/// `SSL_write`: `<prefix>; sub $0x18,%rsp; test %edx,%edx; js err; <before>; call target;
/// <the count from the local>; ret; err: mov $-1,%eax; add; ret`.
fn plain_prefixed(prefix: &[u8], before: &[&[u8]], target: u64) -> Vec<u8> {
    let mut c = prefix.to_vec();
    c.extend_from_slice(&SUB_18_RSP);
    c.extend_from_slice(&[0x85, 0xd2]); // test %edx,%edx
    let js = c.len();
    c.extend_from_slice(&[0x78, 0]); // js err (patched below)
    for b in before {
        c.extend_from_slice(b);
    }
    rel32(&mut c, PLAIN, 0xe8, target);
    c.extend_from_slice(&[0x85, 0xc0, 0x7e, 0x03]); // test %eax,%eax; jle +3
    c.extend_from_slice(&[0x8b, 0x04, 0x24]); // mov (%rsp),%eax
    c.extend_from_slice(&[0x48, 0x83, 0xc4, 0x18, 0xc3]); // add $0x18,%rsp; ret
    c[js + 1] = u8::try_from(c.len() - (js + 2)).expect("short");
    c.extend_from_slice(&[0xb8, 0xff, 0xff, 0xff, 0xff]); // mov $-1,%eax
    c.extend_from_slice(&[0x48, 0x83, 0xc4, 0x18, 0xc3]); // add $0x18,%rsp; ret
    c
}

fn plain_with(before: &[&[u8]], target: u64) -> Vec<u8> {
    plain_prefixed(&[], before, target)
}

fn plain_debian() -> Vec<u8> {
    plain_with(&[&MOV_RSP_RCX, &MOVSLQ_EDX], CALLEE)
}

/// `SSL_write_ex`: `<before>; call target; add; ret`.
fn ex_calling(before: &[&[u8]], target: u64) -> Vec<u8> {
    let mut c = Vec::new();
    for b in before {
        c.extend_from_slice(b);
    }
    rel32(&mut c, EX, 0xe8, target);
    c.extend_from_slice(&[0x48, 0x83, 0xc4, 0x08, 0xc3]); // add $0x8,%rsp; ret
    c
}

fn ex_debian() -> Vec<u8> {
    ex_calling(&[&SUB_8_RSP], CALLEE)
}

/// `SSL_write_ex` as a tail call: `<before>; jmp target`.
fn ex_jumping(before: &[&[u8]], target: u64) -> Vec<u8> {
    let mut c = Vec::new();
    for b in before {
        c.extend_from_slice(b);
    }
    rel32(&mut c, EX, 0xe9, target);
    c
}

/// `push %r14; push %r13; sub $0x30,%rsp; ...`: `ssl_write_internal`'s prologue.
fn internal() -> Vec<u8> {
    let mut c = PUSH_R14.to_vec();
    c.extend_from_slice(&[0x41, 0x55, 0x48, 0x83, 0xec, 0x30, 0x31, 0xc0, 0xc3]);
    c
}

fn plain(code: &[u8]) -> Exported<'_> {
    Exported {
        name: "SSL_write",
        code: FuncCode { entry: PLAIN, code },
    }
}

fn ex(code: &[u8]) -> Exported<'_> {
    Exported {
        name: "SSL_write_ex",
        code: FuncCode { entry: EX, code },
    }
}

/// A `callee_code` serving `CALLEE` and `OTHER` (with `callee` and `other`) and nothing else.
fn memory(callee: Vec<u8>, other: Vec<u8>) -> impl Fn(u64) -> Option<Vec<u8>> {
    move |addr| match addr {
        CALLEE => Some(callee.clone()),
        OTHER => Some(other.clone()),
        _ => None,
    }
}

fn internals() -> impl Fn(u64) -> Option<Vec<u8>> {
    memory(internal(), internal())
}

/// The two entries, plain (single-stepped) first.
fn assert_entries(p: &[Placement]) {
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!((p[0].addr, p[0].abi), (PLAIN, CallAbi::CountReturned));
    assert_eq!((p[1].addr, p[1].abi), (EX, CallAbi::CountThroughPointer));
    assert!(!p[0].emulated, "{p:#?}");
}

fn refusal(plain_code: &[u8], ex_code: &[u8], mem: &dyn Fn(u64) -> Option<Vec<u8>>) -> String {
    let (p, e) = (plain(plain_code), ex(ex_code));
    assert_entries(&openssl_family(&p, Some(&e), mem));
    shared_callee(&p, &e, mem).expect_err("refused")
}

#[test]
fn debian_shape_gives_the_shared_callee() {
    let (p, e) = (plain_debian(), ex_debian());
    let placements = openssl_family(&plain(&p), Some(&ex(&e)), &internals());
    assert_eq!(
        placements,
        vec![Placement {
            addr: CALLEE,
            abi: CallAbi::CountThroughPointer,
            what: "callee@0x355a0+0 push %r14 (emulated; called by SSL_write and SSL_write_ex)"
                .into(),
            emulated: true,
        }]
    );
}

#[test]
fn ex_as_a_tail_jump_gives_the_shared_callee() {
    let p = plain_debian();
    let e = ex_jumping(&[], CALLEE);
    let placements = openssl_family(&plain(&p), Some(&ex(&e)), &internals());
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].addr, CALLEE);
    // After `endbr64` the jump is still a tail call.
    let e = ex_jumping(&[&ENDBR64], CALLEE);
    let placements = openssl_family(&plain(&p), Some(&ex(&e)), &internals());
    assert_eq!(placements[0].addr, CALLEE, "{placements:#?}");
}

#[test]
fn other_widenings_and_local_addresses_are_accepted() {
    let lea_8_rsp_rcx: &[u8] = &[0x48, 0x8d, 0x4c, 0x24, 0x08];
    let mov_edx_edx: &[u8] = &[0x89, 0xd2];
    for before in [
        vec![lea_8_rsp_rcx, mov_edx_edx],
        vec![lea_8_rsp_rcx],
        vec![&MOVSLQ_EDX[..], &MOV_RSP_RCX[..]],
        // %rcx written twice: the last write counts.
        vec![&[0x31, 0xc9][..], &MOV_RSP_RCX[..]],
    ] {
        let p = plain_with(&before, CALLEE);
        let e = ex_debian();
        let placements = openssl_family(&plain(&p), Some(&ex(&e)), &internals());
        assert_eq!(placements.len(), 1, "{before:02x?}");
    }
}

#[test]
fn plain_writing_rsi_falls_back_to_the_entries() {
    let p = plain_with(&[&MOV_RSP_RCX, &MOV_RBX_RSI], CALLEE);
    let e = ex_debian();
    let placements = openssl_family(&plain(&p), Some(&ex(&e)), &internals());
    assert_entries(&placements);
    assert!(!placements[1].emulated);
    assert_eq!(
        placements[0].what,
        "SSL_write+0 sub $0x18,%rsp (single-stepped)"
    );
    assert_eq!(
        placements[1].what,
        "SSL_write_ex+0 sub $0x8,%rsp (single-stepped)"
    );
    let why = refusal(&p, &e, &internals());
    assert_eq!(why, "SSL_write+0xb mov %rbx,%rsi: writes RSI");
}

#[test]
fn arguments_changed_before_the_call_fall_back() {
    let xor_edx: &[u8] = &[0x31, 0xd2];
    let mov_ecx_edx: &[u8] = &[0x89, 0xca];
    let mov_rbx_rdi: &[u8] = &[0x48, 0x89, 0xdf];
    // plain: %rdx replaced, %rdi replaced.
    for bad in [xor_edx, mov_ecx_edx, mov_rbx_rdi] {
        let p = plain_with(&[&MOV_RSP_RCX, bad], CALLEE);
        refusal(&p, &ex_debian(), &internals());
    }
    // ex: any of the four.
    let mov_rsp_rcx: &[u8] = &MOV_RSP_RCX;
    for bad in [xor_edx, mov_rbx_rdi, mov_rsp_rcx, &MOVSLQ_EDX[..]] {
        let e = ex_calling(&[&SUB_8_RSP, bad], CALLEE);
        let why = refusal(&plain_debian(), &e, &internals());
        assert!(why.starts_with("SSL_write_ex+0x4 "), "{why}");
    }
}

#[test]
fn plain_without_a_local_out_pointer_falls_back() {
    // Nothing in %rcx: the callee is not a four-argument function fed by both.
    let p = plain_with(&[&MOVSLQ_EDX], CALLEE);
    let why = refusal(&p, &ex_debian(), &internals());
    assert!(why.contains("%rcx is not a local's address"), "{why}");
    // %rcx from a register or the heap.
    for before in [&[0x48, 0x89, 0xd9][..], &[0x48, 0x8d, 0x4b, 0x08]] {
        let p = plain_with(&[before], CALLEE);
        refusal(&p, &ex_debian(), &internals());
    }
    // A local's address, then overwritten.
    let p = plain_with(&[&MOV_RSP_RCX, &[0x48, 0x89, 0xd9]], CALLEE);
    refusal(&p, &ex_debian(), &internals());
}

#[test]
fn two_different_callees_fall_back() {
    let why = refusal(
        &plain_debian(),
        &ex_calling(&[&SUB_8_RSP], OTHER),
        &internals(),
    );
    assert_eq!(why, "SSL_write reaches 0x355a0 but SSL_write_ex 0x35290");
}

#[test]
fn callee_not_beginning_with_a_push_falls_back() {
    let sub = [0x48, 0x83, 0xec, 0x18, 0xc3].to_vec();
    let why = refusal(&plain_debian(), &ex_debian(), &memory(sub, internal()));
    assert_eq!(
        why,
        "0x355a0 begins sub $0x18,%rsp (single-stepped), not an emulated push"
    );
    // endbr64 then sub: still no.
    let mut c = ENDBR64.to_vec();
    c.extend_from_slice(&[0x48, 0x83, 0xec, 0x18]);
    refusal(&plain_debian(), &ex_debian(), &memory(c, internal()));
    // A jump (emulated, but a thunk, not a function with a frame): no.
    let jmp = vec![0xe9, 0, 0, 0, 0];
    let why = refusal(&plain_debian(), &ex_debian(), &memory(jmp, internal()));
    assert!(why.ends_with("(emulated), not an emulated push"), "{why}");
    // A push the kernel does not emulate (REX.W).
    refusal(
        &plain_debian(),
        &ex_debian(),
        &memory(vec![0x48, 0x55], internal()),
    );
    // Unreadable or undecodable.
    let why = refusal(
        &plain_debian(),
        &ex_debian(),
        &memory(vec![0x06], internal()),
    );
    assert_eq!(why, "the code at 0x355a0 does not decode");
    let e = ex_calling(&[], 0x9999);
    let p = plain_with(&[&MOV_RSP_RCX], 0x9999);
    let why = refusal(&p, &e, &internals());
    assert_eq!(why, "no code at 0x9999");
}

#[test]
fn endbr64_then_push_gives_the_push() {
    let mut c = ENDBR64.to_vec();
    c.extend_from_slice(&internal());
    let placements = openssl_family(
        &plain(&plain_debian()),
        Some(&ex(&ex_debian())),
        &memory(c, internal()),
    );
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].addr, CALLEE + 4);
    assert_eq!(
        placements[0].what,
        "callee@0x355a0+0x4 push %r14 (emulated; called by SSL_write and SSL_write_ex)"
    );
}

#[test]
fn entries_that_are_already_pushes_are_kept() {
    let push_rbp: &[u8] = &[0x55];
    let push_r15: &[u8] = &[0x41, 0x57];
    let p = plain_prefixed(push_rbp, &[&MOV_RSP_RCX, &MOVSLQ_EDX], CALLEE);
    let e = ex_calling(&[push_r15, &SUB_8_RSP], CALLEE);
    let placements = openssl_family(&plain(&p), Some(&ex(&e)), &internals());
    assert_eq!(placements.len(), 2, "{placements:#?}");
    assert_eq!(placements[0].addr, PLAIN);
    assert_eq!(placements[0].abi, CallAbi::CountReturned);
    assert_eq!(placements[0].what, "SSL_write+0 push %rbp (emulated)");
    assert_eq!(placements[1].addr, EX);
    assert_eq!(placements[1].abi, CallAbi::CountThroughPointer);
    assert!(placements.iter().all(|p| p.emulated));

    // endbr64 + push at both entries: the pushes.
    let p2 = plain_prefixed(
        &[&ENDBR64[..], push_rbp].concat(),
        &[&MOV_RSP_RCX, &MOVSLQ_EDX],
        CALLEE,
    );
    let e2 = ex_calling(&[&ENDBR64, push_r15, &SUB_8_RSP], CALLEE);
    let placements = openssl_family(&plain(&p2), Some(&ex(&e2)), &internals());
    let addrs: Vec<u64> = placements.iter().map(|p| p.addr).collect();
    assert_eq!(addrs, [PLAIN + 4, EX + 4]);
    assert_eq!(placements[0].what, "SSL_write+0x4 push %rbp (emulated)");

    // Only one emulated entry: the shared callee serves both for one emulated probe per call.
    // (The push in front of the plain function makes it move %rsp: a call is still fine.)
    let placements = openssl_family(&plain(&p), Some(&ex(&ex_debian())), &internals());
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].addr, CALLEE);
}

#[test]
fn branches_and_other_transfers_before_the_call_fall_back() {
    // A backward branch (a loop) before the call.
    let back: &[u8] = &[0x75, 0xfe]; // jne .
    let p = plain_with(&[&MOV_RSP_RCX, back], CALLEE);
    let why = refusal(&p, &ex_debian(), &internals());
    assert!(why.ends_with(": a backward branch"), "{why}");
    // An indirect call, a ret.
    for bad in [&[0xff, 0xd0][..], &[0xc3]] {
        let p = plain_with(&[&MOV_RSP_RCX, bad], CALLEE);
        let why = refusal(&p, &ex_debian(), &internals());
        assert!(why.ends_with(": transfers control"), "{why}");
    }
    // The plain function must call: a tail jump hands the callee's 1 back as a count.
    let mut p = MOV_RSP_RCX.to_vec();
    rel32(&mut p, PLAIN, 0xe9, CALLEE);
    let why = refusal(&p, &ex_debian(), &internals());
    assert!(why.ends_with(": a jump before any call"), "{why}");
    // ex: a jump after moving %rsp is not a tail call; a jump within the function is no call.
    let e = ex_jumping(&[&SUB_8_RSP], CALLEE);
    let why = refusal(&plain_debian(), &e, &internals());
    assert!(why.ends_with("%rsp moved, no tail call"), "{why}");
    let mut e = vec![0xeb, 0x00]; // jmp to the next instruction
    e.extend_from_slice(&ex_debian());
    let why = refusal(&plain_debian(), &e, &internals());
    assert!(why.ends_with(": jumps within"), "{why}");
    // No call at all.
    let why = refusal(&plain_debian(), &[0x90, 0x90], &internals());
    assert_eq!(why, "SSL_write_ex: no call before the end of the code");
}

#[test]
fn a_callee_inside_an_exported_function_is_refused() {
    // Both call into the plain function's own code.
    let target = PLAIN + 2;
    let p = plain_with(&[&MOV_RSP_RCX], target);
    let e = ex_calling(&[], target);
    let mem = |_: u64| Some(internal());
    let why = refusal(&p, &e, &mem);
    assert_eq!(why, "0x35982 lies inside SSL_write");
}

#[test]
fn without_ex_the_entry_is_kept() {
    let p = plain_debian();
    let placements = openssl_family(&plain(&p), None, &internals());
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].addr, PLAIN);
    assert_eq!(placements[0].abi, CallAbi::CountReturned);
    assert!(!placements[0].emulated);
}

#[test]
fn gnutls_entries() {
    let f = |code: &'static [u8]| {
        gnutls_function(&Exported {
            name: "gnutls_record_send",
            code: FuncCode { entry: PLAIN, code },
        })
    };
    let p = f(&[0x45, 0x31, 0xc0, 0x31, 0xc9, 0xe9, 0, 0, 0, 0]); // xor %r8d,%r8d; ...
    assert_eq!((p.addr, p.emulated), (PLAIN, false));
    assert_eq!(p.abi, CallAbi::CountReturned);
    assert_eq!(
        p.what,
        "gnutls_record_send+0 xor %r8d,%r8d (single-stepped)"
    );
    let p = f(&[0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0xc3]);
    assert_eq!((p.addr, p.emulated), (PLAIN + 4, true));
    let p = f(&[0x41, 0x54, 0xc3]);
    assert_eq!((p.addr, p.emulated), (PLAIN, true));
    assert_eq!(p.what, "gnutls_record_send+0 push %r12 (emulated)");
    let p = f(&[]);
    assert_eq!((p.addr, p.emulated), (PLAIN, false));
}

/// Arbitrary bytes (alone and behind the real wrappers' first instructions) never panic, and
/// every placement is an exported entry, an entry + 4 after `endbr64`, or a direct target both
/// functions reach whose code begins with (`endbr64` and) an emulated push.
#[test]
fn arbitrary_bytes_never_panic_and_sites_are_entries() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let prefixes: [&[u8]; 4] = [&[], &SUB_18_RSP, &ENDBR64, &MOV_RSP_RCX];
    let mut shared = 0;
    for round in 0..5000 {
        let mut make = |entry: u64| {
            let mut c = prefixes[(next() % 4) as usize].to_vec();
            if round % 2 == 0 {
                // Give the walk something to find now and then.
                rel32(&mut c, entry, 0xe8, CALLEE);
            }
            let len = (next() % 64) as usize;
            c.extend((0..len).map(|_| next() as u8));
            c
        };
        let (p, e) = (make(PLAIN), make(EX));
        let callee: Vec<u8> = (0..(next() % 40)).map(|_| next() as u8).collect();
        let mem = memory(callee.clone(), callee.clone());
        for pl in openssl_family(&plain(&p), Some(&ex(&e)), &mem) {
            let ok = [PLAIN, EX].contains(&pl.addr)
                || ([PLAIN + 4, EX + 4].contains(&pl.addr) && pl.emulated)
                || (pl.addr == CALLEE && pl.emulated)
                || (pl.addr == CALLEE + 4 && pl.emulated && callee.starts_with(&ENDBR64));
            assert!(ok, "{pl:?}");
            shared += usize::from(pl.addr == CALLEE || pl.addr == CALLEE + 4);
        }
    }
    assert!(shared > 0, "some rounds should find the shared callee");
}

// ---------------------------------------------------------------------------------------------
// Real libraries.

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
