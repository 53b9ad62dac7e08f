//! HPACK Huffman code (RFC 7541 Appendix B).
//!
//! Our own small decoder rather than a crate's: `loona-hpack` exposes one but it walks a
//! `HashMap` per bit and is rebuilt per instance, which would dominate header decoding. The code
//! is canonical, so decoding needs only each length's first code and a symbol list (plus a
//! byte-wide table for the common short codes).
use std::sync::OnceLock;

/// (code, bit length) for symbols 0..=255 and EOS (256), straight from the RFC.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    (0x3fffffff, 30),
];

const EOS: u16 = 256;
const MAX_LEN: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    #[error("Huffman padding longer than 7 bits or not all ones")]
    Padding,
}

struct Tables {
    /// Top 8 bits → (symbol << 4 | length) for codes of at most 8 bits; 0 when longer.
    fast: [u16; 256],
    /// Per length: the first (smallest) code, how many codes, and where they start in `sorted`.
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    base: [u16; MAX_LEN + 1],
    /// Symbols ordered by (length, code).
    sorted: [u16; 257],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Tables {
            fast: [0; 256],
            first: [u32::MAX; MAX_LEN + 1],
            count: [0; MAX_LEN + 1],
            base: [0; MAX_LEN + 1],
            sorted: [0; 257],
        };
        let mut order: Vec<u16> = (0..257).collect();
        order.sort_by_key(|&s| (CODES[s as usize].1, CODES[s as usize].0));
        for (i, &sym) in order.iter().enumerate() {
            let (code, len) = CODES[sym as usize];
            let len = len as usize;
            if t.count[len] == 0 {
                t.first[len] = code;
                t.base[len] = i as u16;
            }
            t.count[len] += 1;
            t.sorted[i] = sym;
            if len <= 8 {
                let shift = 8 - len;
                for low in 0..(1u32 << shift) {
                    t.fast[((code << shift) | low) as usize] = (sym << 4) | len as u16;
                }
            }
        }
        t
    })
}

/// Decodes a whole Huffman-coded string, appending to `out`.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let t = tables();
    out.reserve(src.len() * 8 / 5);
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut input = src.iter();
    loop {
        while bits <= 56 {
            match input.next() {
                Some(&b) => {
                    acc = (acc << 8) | u64::from(b);
                    bits += 8;
                }
                None => break,
            }
        }
        if bits == 0 {
            return Ok(());
        }
        if bits >= 8 {
            let e = t.fast[((acc >> (bits - 8)) & 0xff) as usize];
            if e != 0 {
                out.push((e >> 4) as u8);
                bits -= u32::from(e & 0xf);
                continue;
            }
        }
        match slow_symbol(t, acc, bits) {
            Some((EOS, _)) => return Err(HuffmanError::Eos),
            Some((sym, len)) => {
                out.push(sym as u8);
                bits -= len;
            }
            // Out of input with no whole code left: what remains must be EOS-prefix padding.
            None => {
                let padding_ok = bits <= 7 && {
                    let mask = (1u64 << bits) - 1;
                    acc & mask == mask
                };
                return if padding_ok {
                    Ok(())
                } else {
                    Err(HuffmanError::Padding)
                };
            }
        }
    }
}

/// The symbol whose code starts the top `bits` of `acc`, trying lengths in order.
fn slow_symbol(t: &Tables, acc: u64, bits: u32) -> Option<(u16, u32)> {
    for len in 5..=(bits as usize).min(MAX_LEN) {
        let code = ((acc >> (bits as usize - len)) & ((1u64 << len) - 1)) as u32;
        let k = code.wrapping_sub(t.first[len]);
        if k < t.count[len] {
            return Some((t.sorted[t.base[len] as usize + k as usize], len as u32));
        }
    }
    None
}

/// Huffman-encodes `src`, appending to `out` (used by encoders in tests and benches).
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[b as usize];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        // Pad with the most significant bits of EOS (all ones).
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// Length of `src` once Huffman-encoded.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| CODES[b as usize].1 as usize).sum();
    bits.div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_canonical() {
        // The decoder relies on each length's codes being consecutive.
        let mut by_len: Vec<(u8, u32)> = CODES.iter().map(|&(c, l)| (l, c)).collect();
        by_len.sort_unstable();
        for w in by_len.windows(2) {
            let ((l0, c0), (l1, c1)) = (w[0], w[1]);
            if l0 == l1 {
                assert_eq!(c1, c0 + 1);
            } else {
                assert_eq!(c1, (c0 + 1) << (l1 - l0));
            }
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for s in [&all[..], b"www.example.com", b"", b"a"] {
            let mut enc = Vec::new();
            encode(s, &mut enc);
            assert_eq!(enc.len(), encoded_len(s));
            let mut dec = Vec::new();
            decode(&enc, &mut dec).unwrap();
            assert_eq!(dec, s);
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 7541 C.4.1: "www.example.com".
        let enc = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let mut dec = Vec::new();
        decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, b"www.example.com");
    }

    #[test]
    fn bad_padding_and_eos() {
        let mut out = Vec::new();
        // '0' is 00000: 3 zero padding bits are not EOS bits.
        assert_eq!(decode(&[0x00], &mut out), Err(HuffmanError::Padding));
        // A whole byte of padding is too long.
        assert_eq!(decode(&[0xff], &mut out), Err(HuffmanError::Padding));
        // EOS itself (30 ones), padded.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::Eos)
        );
    }
}
