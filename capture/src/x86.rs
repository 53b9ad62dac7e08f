//! The one x86-64 decoder module: every probe-placement decision decodes machine code here.
//!
//! # Why one module
//! A uprobe replaces the first byte of an instruction with `int3`. An address that is not the
//! start of an instruction corrupts the target process, so every address we probe must come from
//! decoding, and all decoding (Go's `crypto/tls` today, OpenSSL/BoringSSL later) goes through this
//! one place, built on `iced-x86`, so the rules below are written and tested once. Nothing here
//! knows about Go or any other runtime.
//!
//! # Which instructions the kernel emulates
//! After the `int3` hit, the kernel must execute the displaced instruction. Linux
//! (`arch/x86/kernel/uprobes.c`) either *emulates* it in the kernel (~0.6 µs per hit here) or
//! *single-steps* a copy out of line, with a trap on each side (~10–15 µs per hit). Emulated:
//! - `branch_setup_xol_ops`: `call rel32` (`e8`), `jmp rel32` (`e9`), `jmp rel8` (`eb`),
//!   `jcc rel8` (`70`–`7f`), `jcc rel32` (`0f 80`–`0f 8f`), and `nop` (`90`);
//! - `push_setup_xol_ops`: `push reg` (`50`–`57`, with the single REX prefix `41` for r8–r15).
//!
//! Everything else (`sub`, `mov`, `lea`, `cmp`, `test`, `ret`, `endbr64`, indirect jumps and
//! calls, ...) is single-stepped. The kernel refuses to emulate some prefixed branches (`66`, the
//! operand-size override, whose meaning Intel and AMD disagree on); we go further and call *any*
//! prefixed branch or nop single-stepped, and accept only the plain `41` REX on a push. Either
//! misjudgement would cost only speed, never correctness (the kernel decides, we only predict),
//! and erring toward "single-stepped" keeps the prediction true across kernel versions. For the
//! same reason the multi-byte nops (`0f 1f ...`, `66 90`), which only recent kernels emulate,
//! count as single-stepped. A push on a kernel too old to have `push_setup_xol_ops` is
//! single-stepped too, which we cannot see from here: such a probe is still correct, only slower.
//!
//! The classification looks at the raw bytes, as the kernel does, not at iced's idea of the
//! instruction: `48 55` is `push %rbp` to iced but a push the kernel does not emulate (only a
//! one-byte push or `41` plus one byte is).

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Formatter, GasFormatter, InstructionInfoFactory,
    Mnemonic, OpAccess,
};
pub use iced_x86::{Instruction, Register};

/// How the kernel executes the instruction a uprobe displaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    /// Emulated in the kernel: cheap.
    Emulated,
    /// Copied out of line and single-stepped: an order of magnitude dearer per hit.
    SingleStepped,
}

impl Emulation {
    /// Lower-case word for logs and site descriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            Emulation::Emulated => "emulated",
            Emulation::SingleStepped => "single-stepped",
        }
    }
}

/// Decodes `code` (64-bit mode), whose first byte is at address `ip`, linearly from its start.
/// Stops before the first invalid instruction (including one cut off by the end of `code`), so
/// every returned instruction starts at an instruction boundary of this linear decode.
pub fn decode(code: &[u8], ip: u64) -> Vec<Instruction> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut out = Vec::new();
    while decoder.can_decode() {
        let i = decoder.decode();
        if i.is_invalid() {
            break;
        }
        out.push(i);
    }
    out
}

/// The bytes of `i` inside `code` (which starts at address `code_ip`); empty when `i` does not
/// lie inside `code`. Pass the result to [`emulation`].
pub fn insn_bytes<'a>(code: &'a [u8], code_ip: u64, i: &Instruction) -> &'a [u8] {
    let Some(start) = i.ip().checked_sub(code_ip) else {
        return &[];
    };
    let Ok(start) = usize::try_from(start) else {
        return &[];
    };
    start
        .checked_add(i.len())
        .and_then(|end| code.get(start..end))
        .unwrap_or(&[])
}

/// Whether the kernel emulates `i` or single-steps it, judged from `raw`, the instruction's bytes
/// (at least `i.len()` of them, starting at its first byte; more are ignored). Fewer bytes than
/// the instruction, or an invalid instruction, count as single-stepped: the safe guess.
pub fn emulation(i: &Instruction, raw: &[u8]) -> Emulation {
    if i.is_invalid() {
        return Emulation::SingleStepped;
    }
    let Some(bytes) = raw.get(..i.len()) else {
        return Emulation::SingleStepped;
    };
    // Whole-instruction patterns: a byte pattern of the right length leaves no room for prefixes,
    // which is the point (see the module doc).
    let emulated = matches!(
        bytes,
        [0x50..=0x57]
            | [0x41, 0x50..=0x57]
            | [0x90]
            | [0xe8, _, _, _, _]
            | [0xe9, _, _, _, _]
            | [0xeb, _]
            | [0x70..=0x7f, _]
            | [0x0f, 0x80..=0x8f, _, _, _, _]
    );
    if emulated {
        Emulation::Emulated
    } else {
        Emulation::SingleStepped
    }
}

/// Whether `i` writes `reg` or any register overlapping it (writing `%eax`, `%ax` or `%al` writes
/// `%rax`; a 32-bit write also clears the upper half). Conditional writes (`cmov`) count.
pub fn writes_reg(i: &Instruction, reg: Register) -> bool {
    let full = reg.full_register();
    let mut factory = InstructionInfoFactory::new();
    factory.info(i).used_registers().iter().any(|u| {
        u.register().full_register() == full
            && matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            )
    })
}

/// The target of a direct near call (`call rel32`), else `None`.
pub fn call_target(i: &Instruction) -> Option<u64> {
    i.is_call_near().then(|| i.near_branch_target())
}

/// The target of a direct jump or conditional jump (`jmp`/`jcc` rel8/rel32), else `None`.
pub fn branch_target(i: &Instruction) -> Option<u64> {
    (i.is_jmp_short_or_near() || i.is_jcc_short_or_near()).then(|| i.near_branch_target())
}

/// A near return (`ret`, `ret $imm16`).
pub fn is_ret(i: &Instruction) -> bool {
    i.mnemonic() == Mnemonic::Ret
}

/// Whether `i` may transfer control anywhere but the next instruction: branches, calls, returns,
/// interrupts (`int3`), `ud2` and the like.
pub fn is_control_transfer(i: &Instruction) -> bool {
    i.flow_control() != FlowControl::Next
}

/// The address `i` computes or reads relative to `%rip` (`lea 0x2776b9(%rip),%rcx` gives the
/// absolute address), else `None`.
pub fn rip_relative_target(i: &Instruction) -> Option<u64> {
    (i.memory_base() == Register::RIP).then(|| i.memory_displacement64())
}

/// `(register, value)` when `i` sets a general register to a constant: `mov $imm,%reg`, or the
/// zeroing idioms `xor %reg,%reg` / `sub %reg,%reg`. The register is the full 64-bit one.
pub fn constant_to_reg(i: &Instruction) -> Option<(Register, u64)> {
    use iced_x86::OpKind;
    if i.op_count() != 2 || i.op_kind(0) != OpKind::Register {
        return None;
    }
    let dst = i.op_register(0);
    match i.mnemonic() {
        Mnemonic::Mov => match i.op_kind(1) {
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate32to64
            | OpKind::Immediate64 => Some((dst.full_register(), i.immediate(1))),
            _ => None,
        },
        Mnemonic::Xor | Mnemonic::Sub
            if i.op_kind(1) == OpKind::Register && i.op_register(1) == dst =>
        {
            Some((dst.full_register(), 0))
        }
        _ => None,
    }
}

/// Whether `i` stores to memory addressed by anything but the stack pointer (a store into the
/// heap or an object, not a spill, a `push` or a call's return address).
pub fn writes_non_stack_memory(i: &Instruction) -> bool {
    let mut factory = InstructionInfoFactory::new();
    factory.info(i).used_memory().iter().any(|m| {
        matches!(
            m.access(),
            OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
        ) && m.base().full_register() != Register::RSP
    })
}

/// AT&T syntax as GNU objdump prints it (`push %rbp`, `cmp 0x10(%r14),%rsp`, `jbe 0x4012a0`), for
/// logs and tests.
pub fn gas(i: &Instruction) -> String {
    let mut f = GasFormatter::new();
    f.options_mut().set_uppercase_hex(false);
    f.options_mut().set_branch_leading_zeros(false);
    // objdump writes every number in hex (`$0x8`, `0x8(%rsp)`), iced small ones in decimal.
    f.options_mut().set_small_hex_numbers_in_decimal(false);
    let mut s = String::new();
    f.format(i, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: u64 = 0x40_1000;

    /// The single instruction `bytes` encodes (panics if they are not exactly one instruction:
    /// a broken test vector).
    fn one(bytes: &[u8]) -> Instruction {
        let v = decode(bytes, IP);
        assert_eq!(v.len(), 1, "{bytes:02x?} should be one instruction");
        assert_eq!(v[0].len(), bytes.len(), "{bytes:02x?} length");
        v[0]
    }

    fn emu(bytes: &[u8]) -> Emulation {
        emulation(&one(bytes), bytes)
    }

    #[test]
    fn emulated_classes() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x55], "push %rbp"),
            (&[0x50], "push %rax"),
            (&[0x41, 0x56], "push %r14"),
            (&[0x41, 0x57], "push %r15"),
            (&[0xe8, 0x00, 0x01, 0x00, 0x00], "call 0x401105"),
            (&[0xe9, 0xfb, 0xff, 0xff, 0xff], "jmp 0x401000"),
            (&[0xeb, 0x10], "jmp 0x401012"),
            (&[0x76, 0x05], "jbe 0x401007"),
            (&[0x74, 0xfe], "je 0x401000"),
            (&[0x0f, 0x86, 0x10, 0x00, 0x00, 0x00], "jbe 0x401016"),
            (&[0x0f, 0x85, 0x00, 0x00, 0x00, 0x00], "jne 0x401006"),
            (&[0x90], "nop"),
        ];
        for (bytes, text) in cases {
            let i = one(bytes);
            assert_eq!(gas(&i), *text, "{bytes:02x?}");
            assert_eq!(emulation(&i, bytes), Emulation::Emulated, "{text}");
        }
    }

    #[test]
    fn single_stepped_classes() {
        let cases: &[&[u8]] = &[
            &[0x48, 0x83, 0xec, 0x68],             // sub $0x68,%rsp
            &[0x48, 0x89, 0xe5],                   // mov %rsp,%rbp
            &[0x4c, 0x8d, 0x64, 0x24, 0x98],       // lea -0x68(%rsp),%r12
            &[0x49, 0x3b, 0x66, 0x10],             // cmp 0x10(%r14),%rsp
            &[0x48, 0x85, 0xc0],                   // test %rax,%rax
            &[0xc3],                               // ret
            &[0xf3, 0x0f, 0x1e, 0xfa],             // endbr64
            &[0xff, 0xd0],                         // call *%rax
            &[0xff, 0xe0],                         // jmp *%rax
            &[0x41, 0xff, 0xd3],                   // call *%r11
            &[0x48, 0x55],                         // push %rbp with REX.W: not emulated
            &[0x66, 0x55],                         // push %bp
            &[0x41, 0x90],                         // xchg %eax,%r8d: prefixed 90
            &[0x66, 0x90],                         // prefixed nop
            &[0x0f, 0x1f, 0x44, 0x00, 0x00],       // multi-byte nop (recent kernels only)
            &[0x3e, 0x76, 0x05],                   // prefixed jbe
            &[0x66, 0xe9, 0, 0, 0, 0],             // operand-size jmp: the kernel refuses it
            &[0x48, 0xe8, 0x00, 0x00, 0x00, 0x00], // REX call
            &[0x6a, 0x01],                         // push $1: not push reg
            &[0xff, 0x75, 0x08],                   // push 0x8(%rbp)
            &[0xcc],                               // int3
        ];
        for bytes in cases {
            assert_eq!(emu(bytes), Emulation::SingleStepped, "{bytes:02x?}");
        }
    }

    #[test]
    fn emulation_needs_the_whole_instruction() {
        let i = one(&[0xe8, 0, 0, 0, 0]);
        assert_eq!(emulation(&i, &[0xe8, 0, 0]), Emulation::SingleStepped);
        assert_eq!(emulation(&i, &[]), Emulation::SingleStepped);
        // Extra trailing bytes are ignored.
        assert_eq!(
            emulation(&i, &[0xe8, 0, 0, 0, 0, 0xcc]),
            Emulation::Emulated
        );
        assert_eq!(
            emulation(&Instruction::default(), &[0x90]),
            Emulation::SingleStepped
        );
    }

    #[test]
    fn writes_reg_aliases_full_registers() {
        let xor_eax = one(&[0x31, 0xc0]); // xor %eax,%eax
        assert!(writes_reg(&xor_eax, Register::RAX));
        assert!(writes_reg(&xor_eax, Register::EAX));
        assert!(writes_reg(&xor_eax, Register::AL));
        assert!(!writes_reg(&xor_eax, Register::RCX));

        let mov_ecx = one(&[0x89, 0xc9]); // mov %ecx,%ecx: clears the upper half of %rcx
        assert!(writes_reg(&mov_ecx, Register::RCX));
        assert!(!writes_reg(&mov_ecx, Register::RAX));

        let mov_al = one(&[0x88, 0xd8]); // mov %bl,%al
        assert!(writes_reg(&mov_al, Register::RAX));
        assert!(!writes_reg(&mov_al, Register::RBX));

        let mov_rbx = one(&[0x48, 0xc7, 0xc3, 0x01, 0x00, 0x00, 0x00]); // mov $1,%rbx
        assert!(writes_reg(&mov_rbx, Register::RBX));

        let cmov = one(&[0x48, 0x0f, 0x44, 0xc8]); // cmove %rax,%rcx: a conditional write
        assert!(writes_reg(&cmov, Register::RCX));
        assert!(!writes_reg(&cmov, Register::RAX));

        let store = one(&[0x48, 0x89, 0x44, 0x24, 0x08]); // mov %rax,0x8(%rsp): reads only
        assert!(!writes_reg(&store, Register::RAX));
        let cmp = one(&[0x49, 0x3b, 0x66, 0x10]); // cmp 0x10(%r14),%rsp
        assert!(!writes_reg(&cmp, Register::RSP));
        assert!(!writes_reg(&cmp, Register::R14));

        let push = one(&[0x55]);
        assert!(writes_reg(&push, Register::RSP));
        assert!(!writes_reg(&push, Register::RBP));

        let syscall = one(&[0x0f, 0x05]); // writes %rcx and %r11
        assert!(writes_reg(&syscall, Register::RCX));
    }

    #[test]
    fn targets_and_rets() {
        let call = one(&[0xe8, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(call_target(&call), Some(IP + 5 + 0x100));
        assert_eq!(branch_target(&call), None);
        let ind = one(&[0xff, 0xd0]);
        assert_eq!(call_target(&ind), None);
        assert!(is_control_transfer(&ind));

        let jbe = one(&[0x0f, 0x86, 0x10, 0x00, 0x00, 0x00]);
        assert_eq!(branch_target(&jbe), Some(IP + 6 + 0x10));
        let jmp8 = one(&[0xeb, 0xfe]);
        assert_eq!(branch_target(&jmp8), Some(IP));
        assert_eq!(branch_target(&one(&[0xff, 0xe0])), None);

        assert!(is_ret(&one(&[0xc3])));
        assert!(is_ret(&one(&[0xc2, 0x08, 0x00])));
        assert!(!is_ret(&one(&[0x90])));
        assert!(!is_control_transfer(&one(&[0x90])));
        assert!(is_control_transfer(&one(&[0xcc])));
    }

    #[test]
    fn gas_text() {
        assert_eq!(gas(&one(&[0x49, 0x3b, 0x66, 0x10])), "cmp 0x10(%r14),%rsp");
        assert_eq!(gas(&one(&[0x48, 0x83, 0xec, 0x68])), "sub $0x68,%rsp");
        assert_eq!(gas(&one(&[0xc3])), "ret");
        // Small numbers in hex too, as objdump prints them.
        assert_eq!(gas(&one(&[0x48, 0x83, 0xec, 0x08])), "sub $0x8,%rsp");
        assert_eq!(
            gas(&one(&[0x48, 0x89, 0x44, 0x24, 0x08])),
            "mov %rax,0x8(%rsp)"
        );
        assert_eq!(gas(&one(&[0x48, 0x8d, 0x4d, 0xf8])), "lea -0x8(%rbp),%rcx");
        assert_eq!(gas(&one(&[0xc2, 0x00, 0x00])), "ret $0x0");
    }

    #[test]
    fn decode_stops_at_invalid_or_truncated() {
        // push %rbp; mov %rsp,%rbp; then a truncated call.
        let v = decode(&[0x55, 0x48, 0x89, 0xe5, 0xe8, 0x00], IP);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].ip(), IP + 1);
        // nop; (invalid in 64-bit mode) 0x06 push %es; nop
        assert_eq!(decode(&[0x90, 0x06, 0x90], IP).len(), 1);
        assert!(decode(&[], IP).is_empty());
    }

    #[test]
    fn insn_bytes_bounds() {
        let code = [0x55, 0xc3];
        let v = decode(&code, IP);
        assert_eq!(insn_bytes(&code, IP, &v[1]), &[0xc3]);
        assert!(insn_bytes(&code, IP + 1, &v[0]).is_empty());
        assert!(insn_bytes(&code[..1], IP, &v[1]).is_empty());
        assert!(insn_bytes(&code, u64::MAX, &v[0]).is_empty());
    }

    /// Arbitrary bytes never panic any function here, and decoding always yields contiguous
    /// instruction starts.
    #[test]
    fn random_bytes_do_not_panic() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2000 {
            let len = (next() % 200) as usize;
            let code: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let ip = if round % 3 == 0 {
                u64::MAX - 50
            } else {
                next()
            };
            let mut at = ip;
            for i in decode(&code, ip) {
                assert_eq!(i.ip(), at);
                at = i.next_ip();
                let raw = insn_bytes(&code, ip, &i);
                let _ = emulation(&i, raw);
                let _ = writes_reg(&i, Register::RAX);
                let _ = call_target(&i);
                let _ = branch_target(&i);
                let _ = is_ret(&i);
                let _ = gas(&i);
            }
        }
    }
}
