//! Probe placement for OpenSSL-compatible and GnuTLS objects (`capture::placement`) on code made
//! up here: hand-assembled wrappers and arbitrary bytes. The real libraries on this machine are
//! in `placement_real.rs`.

use capture::placement::{
    gnutls_function, openssl_family, shared_callee, CallAbi, Exported, FuncCode, Placement,
};

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
