//! Probe-site selection for Go's `crypto/tls` (`capture::golang::sites`) on code made up here:
//! hand-assembled prologues and arbitrary bytes. Real Go binaries are in `x86_sites_real.rs`.

use std::collections::BTreeSet;

use capture::golang::sites::{entry_site, go_tls_sites, FuncCode, GoTlsSites, Site, SiteKind};
use capture::x86::{self, Register};

const ENTRY: u64 = 0x5a_2ec0;
const ARGS: [Register; 3] = [Register::RAX, Register::RBX, Register::RCX];

// ---------------------------------------------------------------------------------------------
// Hand-assembled functions.

fn func(code: &[u8]) -> FuncCode<'_> {
    FuncCode { entry: ENTRY, code }
}

/// Appends the stack-growth tail Go puts at the end of a function (`call morestack; jmp entry`)
/// and points the conditional jump at offset `jbe_at` (`7x` or `0f 8x`, displacement still 0)
/// to it.
fn with_tail(mut code: Vec<u8>, jbe_at: Option<usize>) -> Vec<u8> {
    let tail = code.len();
    if let Some(at) = jbe_at {
        if (0x70..=0x7f).contains(&code[at]) {
            code[at + 1] = u8::try_from(tail - (at + 2)).expect("short jbe reach");
        } else {
            let rel = u32::try_from(tail - (at + 6)).expect("near jbe reach");
            code[at + 2..at + 6].copy_from_slice(&rel.to_le_bytes());
        }
    }
    let back = -(i32::try_from(tail + 10).expect("small function"));
    code.extend_from_slice(&[0xe8, 0, 0, 0, 0, 0xe9]);
    code.extend_from_slice(&back.to_le_bytes());
    code
}

const CMP_GUARD_RSP: [u8; 4] = [0x49, 0x3b, 0x66, 0x10]; // cmp 0x10(%r14),%rsp

/// Go 1.17–1.20: `cmp 0x10(%r14),%rsp; jbe <tail>; sub $0x68,%rsp; mov %rbp,0x60(%rsp);
/// lea 0x60(%rsp),%rbp; ...; add $0x68,%rsp; ret`. Returns the code and the ret's offset.
fn go119_func() -> (Vec<u8>, u64) {
    let mut c = CMP_GUARD_RSP.to_vec();
    c.extend_from_slice(&[0x0f, 0x86, 0, 0, 0, 0]); // jbe <tail>
    c.extend_from_slice(&[0x48, 0x83, 0xec, 0x68]); // sub $0x68,%rsp
    c.extend_from_slice(&[0x48, 0x89, 0x6c, 0x24, 0x60]); // mov %rbp,0x60(%rsp)
    c.extend_from_slice(&[0x48, 0x8d, 0x6c, 0x24, 0x60]); // lea 0x60(%rsp),%rbp
    c.extend_from_slice(&[0x48, 0x89, 0x4c, 0x24, 0x78]); // mov %rcx,0x78(%rsp)
    c.extend_from_slice(&[0x48, 0x83, 0xc4, 0x68]); // add $0x68,%rsp
    let ret = c.len() as u64;
    c.push(0xc3); // ret
    (with_tail(c, Some(4)), ret)
}

#[test]
fn go119_prologue_gives_the_stack_check_jbe() {
    let (code, _) = go119_func();
    let s = entry_site(&func(&code), &ARGS).expect("site");
    assert_eq!(s.addr, ENTRY + 4);
    assert_eq!(s.kind, SiteKind::SkipIfJbeTaken);
    assert!(s.what.starts_with("jbe 0x"), "{}", s.what);
    assert!(s.what.contains(" at +0x4 (emulated)"), "{}", s.what);
}

#[test]
fn go121_prologue_gives_the_push() {
    let mut c = CMP_GUARD_RSP.to_vec();
    c.extend_from_slice(&[0x76, 0]); // jbe <tail>
    c.push(0x55); // push %rbp
    c.extend_from_slice(&[0x48, 0x89, 0xe5]); // mov %rsp,%rbp
    c.extend_from_slice(&[0x5d, 0xc3]); // pop %rbp; ret
    let code = with_tail(c, Some(4));
    let s = entry_site(&func(&code), &ARGS).expect("site");
    assert_eq!(s.addr, ENTRY + 6);
    assert_eq!(s.kind, SiteKind::Unconditional);
    assert_eq!(s.what, "push %rbp at +0x6 (emulated)");
}

#[test]
fn large_frame_prologue_compares_r12() {
    let mut c = vec![0x4c, 0x8d, 0x64, 0x24, 0x98]; // lea -0x68(%rsp),%r12
    c.extend_from_slice(&[0x4d, 0x3b, 0x66, 0x10]); // cmp 0x10(%r14),%r12
    c.extend_from_slice(&[0x0f, 0x86, 0, 0, 0, 0]); // jbe <tail>
    c.extend_from_slice(&[0x48, 0x81, 0xec, 0xe8, 0, 0, 0]); // sub $0xe8,%rsp
    c.push(0xc3);
    let code = with_tail(c, Some(9));
    let s = entry_site(&func(&code), &ARGS).expect("site");
    assert_eq!(s.addr, ENTRY + 9);
    assert_eq!(s.kind, SiteKind::SkipIfJbeTaken);
    // Go ≥ 1.21 with a large frame: the push after the jbe wins.
    let mut c = vec![
        0x4c, 0x8d, 0x64, 0x24, 0x98, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0,
    ];
    c.extend_from_slice(&[0x55, 0xc3]);
    let code = with_tail(c, Some(9));
    let s = entry_site(&func(&code), &ARGS).expect("site");
    assert_eq!((s.addr, s.kind), (ENTRY + 11, SiteKind::Unconditional));
}

#[test]
fn refuses_when_an_argument_is_written_first() {
    let c = [0x48, 0xc7, 0xc3, 0x01, 0, 0, 0, 0x55, 0xc3]; // mov $1,%rbx; push %rbp; ret
    let e = entry_site(&func(&c), &ARGS).expect_err("must refuse");
    assert!(
        e.starts_with("no emulated instruction before the arguments are used"),
        "{e}"
    );
    assert!(e.contains("writes RBX"), "{e}");
    // The same code is fine when %rbx is not an argument.
    let s = entry_site(&func(&c), &[Register::RAX]).expect("site");
    assert_eq!(s.addr, ENTRY + 7);
    // A 32-bit write clears the upper half: it counts.
    let c = [0x31, 0xc9, 0x55, 0xc3]; // xor %ecx,%ecx; push %rbp; ret
    assert!(entry_site(&func(&c), &ARGS).is_err());
    // ... and so does a write to a sub-register.
    let c = [0xb0, 0x01, 0x55, 0xc3]; // mov $1,%al; push %rbp; ret
    assert!(entry_site(&func(&c), &ARGS).is_err());
    // Writing a register that is not an argument is fine.
    let c = [0x31, 0xd2, 0x55, 0xc3]; // xor %edx,%edx; push %rbp; ret
    assert_eq!(entry_site(&func(&c), &ARGS).map(|s| s.addr), Ok(ENTRY + 2));
}

#[test]
fn refuses_a_jbe_without_the_stack_guard_cmp() {
    // cmp 0x18(%r14),%rsp: not the guard.
    let c = with_tail(vec![0x49, 0x3b, 0x66, 0x18, 0x76, 0, 0xc3], Some(4));
    let e = entry_site(&func(&c), &ARGS).expect_err("must refuse");
    assert!(e.contains("jbe") && e.contains("transfers control"), "{e}");
    // cmp 0x10(%r13),%rsp: the right offset from the wrong register.
    let c = with_tail(vec![0x49, 0x3b, 0x65, 0x10, 0x76, 0, 0xc3], Some(4));
    assert!(entry_site(&func(&c), &ARGS).is_err());
    // test %rax,%rax; jbe: not a cmp.
    let c = with_tail(vec![0x48, 0x85, 0xc0, 0x76, 0, 0xc3], Some(3));
    assert!(entry_site(&func(&c), &ARGS).is_err());
    // The guard cmp, but not right before the jbe.
    let c = with_tail(vec![0x49, 0x3b, 0x66, 0x10, 0x90, 0x76, 0, 0xc3], Some(5));
    assert!(entry_site(&func(&c), &ARGS).is_err());
    // A jb after the guard cmp: not the stack check.
    let c = with_tail(vec![0x49, 0x3b, 0x66, 0x10, 0x72, 0, 0xc3], Some(4));
    assert!(entry_site(&func(&c), &ARGS).is_err());
}

#[test]
fn refuses_a_jbe_leaving_the_function() {
    // jbe backwards to the entry, and jbe past the end.
    let back = [0x49, 0x3b, 0x66, 0x10, 0x76, 0xfa, 0xc3];
    assert!(entry_site(&func(&back), &ARGS).is_err());
    let out = [0x49, 0x3b, 0x66, 0x10, 0x76, 0x10, 0xc3];
    assert!(entry_site(&func(&out), &ARGS).is_err());
}

#[test]
fn refuses_a_prefixed_jbe() {
    // ds jbe: whether the kernel emulates prefixed branches varies; we call it single-stepped.
    let c = with_tail(vec![0x49, 0x3b, 0x66, 0x10, 0x3e, 0x76, 0, 0xc3], None);
    assert!(entry_site(&func(&c), &ARGS).is_err());
}

#[test]
fn the_walk_ends_after_64_bytes() {
    let mut c = CMP_GUARD_RSP.to_vec();
    for _ in 0..12 {
        c.extend_from_slice(&[0x48, 0x8d, 0x54, 0x24, 0x08]); // lea 0x8(%rsp),%rdx
    }
    c.push(0x55); // at +64
    let e = entry_site(&func(&c), &ARGS).expect_err("too far");
    assert!(e.contains("first 64 bytes"), "{e}");
    c.truncate(c.len() - 6);
    c.push(0x55); // at +59
    assert_eq!(entry_site(&func(&c), &ARGS).map(|s| s.addr), Ok(ENTRY + 59));
}

#[test]
fn other_control_transfers_stop_the_walk() {
    for c in [
        &[0xff, 0xd2, 0x55][..],               // call *%rdx; push %rbp
        &[0xeb, 0x00, 0x55],                   // jmp +0; push %rbp
        &[0xe8, 0, 0, 0, 0, 0x55],             // call; push %rbp
        &[0xf3, 0x0f, 0x1e, 0xfa, 0xc3, 0x55], // endbr64; ret; push %rbp
        &[0xcc, 0x55],                         // int3; push %rbp
        &[],
        &[0x06, 0x55], // invalid
    ] {
        assert!(entry_site(&func(c), &ARGS).is_err(), "{c:02x?}");
    }
    // endbr64 alone is no obstacle (single-stepped, but it writes nothing).
    let c = [0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x57, 0xc3];
    let s = entry_site(&func(&c), &ARGS).expect("site");
    assert_eq!(s.what, "push %r15 at +0x4 (emulated)");
}

/// `call rel32` at the end of `code` to `target`.
fn push_call(code: &mut Vec<u8>, target: u64) {
    let next = ENTRY + code.len() as u64 + 5;
    let rel = i32::try_from(target as i64 - next as i64).expect("call reach");
    code.push(0xe8);
    code.extend_from_slice(&rel.to_le_bytes());
}

#[test]
fn read_copy_and_rets() {
    let memmove = 0x46_0000;
    let (write, _) = go119_func();
    let (mut read, ret1) = go119_func();
    let call_at = read.len() as u64;
    push_call(&mut read, memmove);
    push_call(&mut read, memmove + 0x10); // some other function
    read.push(0xc3);
    read.extend_from_slice(&[0xcc; 7]); // padding after the end
    let sites = go_tls_sites(&func(&write), &func(&read), None, memmove).expect("sites");
    let copy = sites.read_copy.expect("one memmove call");
    assert_eq!(copy.addr, ENTRY + call_at);
    assert_eq!(copy.kind, SiteKind::Unconditional);
    assert_eq!(
        copy.what,
        format!("call {memmove:#x} at +{call_at:#x} (emulated)")
    );
    let rets: Vec<u64> = sites.read_rets.iter().map(|s| s.addr - ENTRY).collect();
    assert_eq!(rets, vec![ret1, call_at + 10]);
    assert!(sites
        .read_rets
        .iter()
        .all(|s| s.kind == SiteKind::Unconditional && s.what.ends_with("(single-stepped)")));
    assert_eq!(sites.close_entry, None);

    // Two memmove calls: no copy site; the rets remain the way to complete reads.
    read.truncate(read.len() - 7);
    push_call(&mut read, memmove);
    let sites = go_tls_sites(&func(&write), &func(&read), None, memmove).expect("sites");
    assert_eq!(sites.read_copy, None);
    assert_eq!(sites.read_rets.len(), 2);
    // None at all.
    let sites = go_tls_sites(&func(&write), &func(&write), None, memmove).expect("sites");
    assert_eq!(sites.read_copy, None);
}

#[test]
fn read_that_does_not_decode_to_its_end_is_refused() {
    let (write, _) = go119_func();
    let (mut read, _) = go119_func();
    read.extend_from_slice(&[0x06, 0xc3]); // invalid in 64-bit mode, then a ret
    let e = go_tls_sites(&func(&write), &func(&read), None, 0).expect_err("refused");
    assert!(e.contains("Read: linear decoding stopped"), "{e}");
}

#[test]
fn write_or_read_without_a_site_is_an_error_close_is_optional() {
    let (good, _) = go119_func();
    let bad = [0x48, 0x31, 0xc0, 0x55, 0xc3]; // xor %rax,%rax; push %rbp; ret
    let e = go_tls_sites(&func(&bad), &func(&good), None, 0).expect_err("write");
    assert!(e.starts_with("Write: "), "{e}");
    let e = go_tls_sites(&func(&good), &func(&bad), None, 0).expect_err("read");
    assert!(e.starts_with("Read: "), "{e}");
    let sites = go_tls_sites(&func(&good), &func(&good), Some(&func(&bad)), 0).expect("sites");
    assert_eq!(sites.close_entry, None);
    // Close only needs %rax: writing %rbx first is fine.
    let close = [0x31, 0xdb, 0x55, 0xc3]; // xor %ebx,%ebx; push %rbp; ret
    let sites = go_tls_sites(&func(&good), &func(&good), Some(&func(&close)), 0).expect("sites");
    assert_eq!(sites.close_entry.map(|s| s.addr), Some(ENTRY + 2));
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes.

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn all_sites(s: &GoTlsSites) -> Vec<&Site> {
    let mut v = vec![&s.write_entry, &s.read_entry];
    v.extend(&s.read_copy);
    v.extend(&s.read_rets);
    v.extend(&s.close_entry);
    v
}

/// Arbitrary bytes (and arbitrary bytes behind a real prologue) never panic, and every site
/// returned is an instruction start of the linear decode of its function.
#[test]
fn arbitrary_bytes_never_panic_and_sites_are_boundaries() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let prologues: [&[u8]; 4] = [
        &[],
        &[0x49, 0x3b, 0x66, 0x10, 0x76, 0x20],
        &[0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x30, 0, 0, 0, 0x55],
        &[0x55],
    ];
    let mut found = 0;
    for round in 0..3000u64 {
        let mut fns: Vec<(u64, Vec<u8>)> = Vec::new();
        for k in 0..3u64 {
            let mut code = prologues[(rng.next() % 4) as usize].to_vec();
            let len = (rng.next() % 160) as usize;
            code.extend((0..len).map(|_| rng.next() as u8));
            let entry = match round % 4 {
                0 => u64::MAX - (rng.next() % 64), // wraps around mid-function
                1 => k * 0x1000,
                _ => rng.next(),
            };
            fns.push((entry, code));
        }
        let fc: Vec<FuncCode> = fns
            .iter()
            .map(|(entry, code)| FuncCode {
                entry: *entry,
                code,
            })
            .collect();
        let starts = |f: &FuncCode| -> BTreeSet<u64> {
            x86::decode(f.code, f.entry)
                .iter()
                .map(|i| i.ip())
                .collect()
        };
        if let Ok(s) = entry_site(&fc[0], &ARGS) {
            assert!(starts(&fc[0]).contains(&s.addr), "{s:?}");
            found += 1;
        }
        let memmove = if round % 2 == 0 { rng.next() } else { 0 };
        if let Ok(s) = go_tls_sites(&fc[0], &fc[1], Some(&fc[2]), memmove) {
            for site in all_sites(&s) {
                let owner = [&fc[0], &fc[1], &fc[2]]
                    .into_iter()
                    .any(|f| starts(f).contains(&site.addr));
                assert!(owner, "{site:?} is not an instruction start");
            }
        }
    }
    assert!(
        found > 100,
        "the prologues should give sites now and then ({found})"
    );
}
