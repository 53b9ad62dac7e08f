//! JSON string escaping for the headless output, written here rather than taken from a crate.
//!
//! The body of a JSON API response is itself JSON, with a quote every few bytes. Escapers built
//! for the common case (serde_json's byte-at-a-time loop, sonic-rs's SIMD scan that falls back
//! at each byte to escape) slow to 0.5 GB/s on such text: 64 KiB bodies cost ~110-130 µs each,
//! the main reason apitop fell behind the kernel ring at full load. This one finds the bytes to
//! escape 64 at a time with SSE2 (x86-64's baseline, so no runtime detection) and copies the
//! runs between them with fixed 16-byte moves: ~30 µs for the same body. It writes exactly what
//! serde_json writes (`\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00XX` in lower-case
//! hex, everything else as is), which the tests hold it to on random and adversarial input.

/// Appends `s` as a quoted JSON string.
pub fn escape_str(out: &mut Vec<u8>, s: &str) {
    escape_bytes(out, s.as_bytes());
}

/// Appends `bytes` as a quoted JSON string and says whether they were all ASCII. They need not
/// be UTF-8: a caller that does not know (a body) learns from the answer, for free, that ASCII
/// bytes are (most JSON bodies, which then skip a separate validation pass); otherwise it must
/// check, and drop what was appended if they are not.
pub fn escape_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    out.push(b'"');
    let mut high = false;
    let mut done = blocks(out, bytes, &mut high);
    done += chunks(out, &bytes[done..], &mut high);
    // The rest (fewer than 16 bytes): runs between escapes copied whole.
    let rest = &bytes[done..];
    let mut run = 0;
    for (i, &b) in rest.iter().enumerate() {
        high |= b >= 0x80;
        if CLASS[b as usize] != 0 {
            out.extend_from_slice(&rest[run..i]);
            one(out, b);
            run = i + 1;
        }
    }
    out.extend_from_slice(&rest[run..]);
    out.push(b'"');
    !high
}

/// How each byte is written: as is (0), after a backslash (1: `"` and `\`), or as a control
/// escape (2).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 2;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t
};

/// One byte, escaped as needed.
fn one(out: &mut Vec<u8>, b: u8) {
    match CLASS[b as usize] {
        0 => out.push(b),
        1 => out.extend_from_slice(&[b'\\', b]),
        _ => control(out, b),
    }
}

fn control(out: &mut Vec<u8>, b: u8) {
    let (seq, n) = control_seq(b);
    out.extend_from_slice(&seq[..n]);
}

/// The escape of a control byte, and its length.
fn control_seq(b: u8) -> ([u8; 6], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        0x08 => b'b',
        0x0c => b'f',
        _ => {
            let u = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ];
            return (u, 6);
        }
    };
    ([b'\\', short, 0, 0, 0, 0], 2)
}

/// Bytes a block of 64 may grow to (all controls, `\u00XX`), plus the 16-byte moves' overrun.
const BLOCK_ROOM: usize = 64 * 6 + 16;

/// Escapes whole 64-byte blocks of `s` while 16 more bytes follow each (the run copies read up
/// to 15 bytes past the block); returns how many bytes it consumed. The rest is left to the
/// byte loop.
#[cfg(target_arch = "x86_64")]
fn blocks(out: &mut Vec<u8>, s: &[u8], high: &mut bool) -> usize {
    use std::arch::x86_64::*;
    let mut i = 0;
    while i + 64 + 16 <= s.len() {
        // SAFETY: SSE2 is part of x86-64. Every load is within `s`: the block is s[i..i+64] and
        // the run copies below read at most up to s[i+64+15], which the loop condition keeps
        // inside `s`. Every store is within the spare capacity reserved just before, and only
        // bytes written are counted into the length.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let last_control = _mm_set1_epi8(0x1f);
            let src = s.as_ptr().add(i);
            let mut mask = 0u64;
            let mut any = _mm_setzero_si128();
            for k in 0..4 {
                let v = _mm_loadu_si128(src.add(16 * k).cast());
                any = _mm_or_si128(any, v);
                let special = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
                // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);
                let m = _mm_movemask_epi8(_mm_or_si128(special, control)) as u32 as u64;
                mask |= m << (16 * k);
            }
            *high |= _mm_movemask_epi8(any) != 0;
            if mask == 0 {
                out.extend_from_slice(&s[i..i + 64]);
                i += 64;
                continue;
            }
            out.reserve(BLOCK_ROOM);
            let start = out.as_mut_ptr().add(out.len());
            let mut dst = start;
            // Bytes of the block before `from` are written. A quote or backslash stays in the
            // next run (after its backslash); a control byte is replaced and skipped.
            let mut from = 0usize;
            while mask != 0 {
                let p = mask.trailing_zeros() as usize;
                dst = copy_run(dst, src.add(from), p - from);
                let b = *src.add(p);
                if b >= 0x20 {
                    *dst = b'\\';
                    dst = dst.add(1);
                    from = p;
                } else {
                    let (seq, n) = control_seq(b);
                    std::ptr::copy_nonoverlapping(seq.as_ptr(), dst, n);
                    dst = dst.add(n);
                    from = p + 1;
                }
                mask &= mask - 1;
            }
            dst = copy_run(dst, src.add(from), 64 - from);
            let written = dst.offset_from(start) as usize;
            out.set_len(out.len() + written);
        }
        i += 64;
    }
    i
}

/// Escapes `s` 16 bytes at a time while 16 remain (short strings, block tails: header names
/// and values mostly), finding the next byte to escape with SSE2; returns how many bytes it
/// consumed.
#[cfg(target_arch = "x86_64")]
fn chunks(out: &mut Vec<u8>, s: &[u8], high: &mut bool) -> usize {
    use std::arch::x86_64::*;
    let mut i = 0;
    while i + 16 <= s.len() {
        // SAFETY: SSE2 is part of x86-64; the load reads s[i..i+16], inside `s`.
        let mask = unsafe {
            let v = _mm_loadu_si128(s.as_ptr().add(i).cast());
            let special = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            );
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            *high |= _mm_movemask_epi8(v) != 0;
            _mm_movemask_epi8(_mm_or_si128(special, control)) as u32
        };
        if mask == 0 {
            out.extend_from_slice(&s[i..i + 16]);
            i += 16;
        } else {
            let p = mask.trailing_zeros() as usize;
            out.extend_from_slice(&s[i..i + p]);
            one(out, s[i + p]);
            i += p + 1;
        }
    }
    i
}

/// Copies `n` bytes with 16-byte moves, writing (and reading) up to 15 bytes more than `n`;
/// returns the end of the `n` bytes written.
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` rounded up to a multiple of 16 (at least
/// 16) bytes, and the two must not overlap.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn copy_run(mut dst: *mut u8, mut src: *const u8, mut n: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe {
        loop {
            std::ptr::copy_nonoverlapping(src, dst, 16);
            if n <= 16 {
                return dst.add(n);
            }
            src = src.add(16);
            dst = dst.add(16);
            n -= 16;
        }
    }
}

/// Elsewhere every byte goes through the byte loop.
#[cfg(not(target_arch = "x86_64"))]
fn blocks(_out: &mut Vec<u8>, _s: &[u8], _high: &mut bool) -> usize {
    0
}

#[cfg(not(target_arch = "x86_64"))]
fn chunks(_out: &mut Vec<u8>, _s: &[u8], _high: &mut bool) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut v = Vec::new();
        escape_str(&mut v, s);
        String::from_utf8(v).expect("escaping keeps UTF-8")
    }

    #[test]
    fn every_byte_class_is_serde_jsons() {
        // Every ASCII byte and some multi-byte characters, at every offset in and around the
        // 64-byte blocks (the block path runs only with 16 bytes to spare after a block).
        let alphabet: Vec<char> = (0u8..0x80)
            .map(char::from)
            .chain(['é', '→', '😀', '\u{7f}', '\u{2028}'])
            .collect();
        for len in [0, 1, 63, 64, 79, 80, 81, 143, 144, 200, 1000] {
            for (k, c) in alphabet.iter().enumerate() {
                let s: String = (0..len)
                    .map(|i| if i % 7 == k % 7 { *c } else { 'a' })
                    .collect();
                assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{len} {c:?}");
            }
        }
    }

    /// The ASCII answer holds wherever the first non-ASCII byte is: in a 64-byte block, a
    /// 16-byte chunk or the tail.
    #[test]
    fn ascii_is_reported_exactly() {
        for len in [0usize, 5, 16, 40, 80, 95, 200] {
            let ascii: Vec<u8> = (0..len).map(|i| b' ' + (i % 95) as u8).collect();
            assert!(escape_bytes(&mut Vec::new(), &ascii), "{len}");
            for at in 0..len {
                let mut b = ascii.clone();
                b[at] = 0x80 | (at as u8 & 0x3f);
                assert!(!escape_bytes(&mut Vec::new(), &b), "{len} {at}");
            }
        }
    }

    #[test]
    fn dense_and_random_text_is_serde_jsons() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pool = [
            '"', '\\', '\n', '\u{1}', '\u{1f}', ' ', 'a', '{', ':', 'ß', '😀',
        ];
        for round in 0..2000 {
            let len = (next() % 600) as usize;
            let s: String = (0..len)
                .map(|_| {
                    let r = next();
                    // Mostly plain text some rounds, mostly specials in others.
                    if r % 10 < (round % 11) as u64 {
                        pool[(r >> 8) as usize % pool.len()]
                    } else {
                        char::from(b' ' + (r >> 16) as u8 % 95)
                    }
                })
                .collect();
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
        }
        // A JSON body, the case the block path was written for.
        let body: String = (0..2000)
            .map(|i| format!("{{\"id\":{i},\"name\":\"item-{i:05}\",\"tags\":[\"a\",\"b\"]}},"))
            .collect();
        assert_eq!(ours(&body), serde_json::to_string(&body).unwrap());
    }
}
