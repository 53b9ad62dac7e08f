//! A small deterministic mutational fuzzer that runs on stable Rust inside `cargo test`.
//!
//! Each target runs its corpus (`fuzz/corpus/<target>/`) as is, then mutated inputs: bit flips,
//! byte inserts and deletes, interesting values, length-field tweaks (u8/u16/u32, both byte
//! orders), block duplication and splices between corpus files, from a seeded PRNG, so a run
//! is repeatable. A panic is caught per input; the input is printed as hex and saved under
//! `target/fuzz-crashes/<target>/`, and the test fails. An input that runs longer than the hang
//! cap (`APITOP_FUZZ_HANG_SECS`, 20 s) ends the process with the input saved the same way;
//! slow inputs (over 1 s) are only reported.
//!
//! Budget: `APITOP_FUZZ_ITERS` mutated inputs per target (default: each target's own count,
//! sized so that all targets together take well under a minute in a debug build);
//! `APITOP_FUZZ_SEED` changes the PRNG seed.
#![allow(dead_code)]

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// splitmix64: small, fast, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Record container shared by targets that need several pieces from one input:
/// `flags: u8, len: u16 LE, bytes[len]` repeated; a short last record takes what is left.
pub fn records(input: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let flags = rest[0];
        let len = match rest.get(1..3) {
            Some(l) => usize::from(u16::from_le_bytes([l[0], l[1]])),
            None => rest.len(),
        };
        let body = rest.get(3..).unwrap_or(&[]);
        let n = len.min(body.len());
        out.push((flags, &body[..n]));
        rest = &body[n..];
    }
    out
}

/// The inverse of [`records`], for building inputs in tests.
pub fn encode_records(recs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (flags, bytes) in recs {
        out.push(*flags);
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn repo_root() -> PathBuf {
    // Both test crates sit one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn crash_dir(target: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    base.join("fuzz-crashes").join(target)
}

/// The seed files of `target`, sorted by name.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo_root().join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("seed"))
        })
        .collect()
}

const INTERESTING_8: [u8; 9] = [0, 1, 0x7f, 0x80, 0xff, b'\r', b'\n', b':', b'0'];
const INTERESTING_32: [u32; 8] = [0, 1, 0x7f, 0x80, 0xffff, 0x7fff_ffff, 0xffff_ffff, 16384];

/// One to four stacked mutations of a corpus entry (or a splice of two).
pub fn mutate(rng: &mut Rng, seeds: &[(String, Vec<u8>)], max_len: usize) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].1.clone();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = d.len();
        match rng.below(11) {
            // Flip a bit.
            0 | 1 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            // Replace a byte with a random or interesting one.
            2 if len > 0 => {
                let i = rng.below(len);
                d[i] = if rng.chance(2) {
                    rng.next() as u8
                } else {
                    INTERESTING_8[rng.below(INTERESTING_8.len())]
                };
            }
            // Insert bytes.
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let b = rng.next() as u8;
                let fill: Vec<u8> = (0..n)
                    .map(|_| if rng.chance(2) { b } else { rng.next() as u8 })
                    .collect();
                d.splice(i..i, fill);
            }
            // Delete a run.
            4 if len > 0 => {
                let i = rng.below(len);
                let n = (1 + rng.below(16)).min(len - i);
                d.drain(i..i + n);
            }
            // Tweak a length field: a u8/u16/u32 at a random place, either byte order, by a
            // small delta or to an interesting value.
            5 | 6 if len >= 4 => {
                let width = [1usize, 2, 4][rng.below(3)];
                let i = rng.below(len - width + 1);
                let be = rng.chance(2);
                let mut v: u64 = 0;
                for k in 0..width {
                    let b = if be { d[i + k] } else { d[i + width - 1 - k] };
                    v = v << 8 | u64::from(b);
                }
                let v = if rng.chance(2) {
                    let delta = 1 + rng.below(16) as u64;
                    if rng.chance(2) {
                        v.wrapping_add(delta)
                    } else {
                        v.wrapping_sub(delta)
                    }
                } else {
                    u64::from(INTERESTING_32[rng.below(INTERESTING_32.len())])
                };
                for k in 0..width {
                    let b = (v >> (8 * (width - 1 - k))) as u8;
                    if be {
                        d[i + k] = b;
                    } else {
                        d[i + width - 1 - k] = b;
                    }
                }
            }
            // Duplicate a block in place.
            7 if len > 0 => {
                let i = rng.below(len);
                let n = (1 + rng.below(64)).min(len - i);
                let block = d[i..i + n].to_vec();
                let at = rng.below(len + 1);
                d.splice(at..at, block);
            }
            // Splice: our head, another seed's tail.
            8 | 9 => {
                let other = &seeds[rng.below(seeds.len())].1;
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            // Truncate.
            _ if len > 0 => {
                d.truncate(rng.below(len));
            }
            _ => d.push(rng.next() as u8),
        }
    }
    d.truncate(max_len);
    d
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn save(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = crash_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{:016x}.bin", fnv(input)));
    let _ = std::fs::write(&path, input);
    path
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// What a target's run did.
#[derive(Debug)]
pub struct Report {
    pub executions: usize,
    pub elapsed: Duration,
    pub slowest: Duration,
}

/// Runs `f` on the corpus and on `default_iters` mutated inputs (or `APITOP_FUZZ_ITERS`).
/// Panics at the end if any input panicked.
pub fn fuzz(target: &str, default_iters: usize, max_len: usize, f: impl Fn(&[u8])) -> Report {
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let iters = env_usize("APITOP_FUZZ_ITERS").unwrap_or(default_iters);
    let seed = env_usize("APITOP_FUZZ_SEED").unwrap_or(0) as u64;
    let hang_cap = Duration::from_secs(env_usize("APITOP_FUZZ_HANG_SECS").unwrap_or(20) as u64);
    let slow = Duration::from_secs(1);

    // The watchdog: an input still running after the hang cap cannot be interrupted, so the
    // process ends with the input saved.
    let current: Arc<Mutex<(Instant, Vec<u8>)>> =
        Arc::new(Mutex::new((Instant::now(), Vec::new())));
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let current = Arc::clone(&current);
        let finished = Arc::clone(&finished);
        let target = target.to_string();
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let cur = current.lock().unwrap_or_else(|p| p.into_inner());
                if cur.0.elapsed() > hang_cap && !finished.load(Ordering::Relaxed) {
                    let path = save(&target, "hang", &cur.1);
                    eprintln!(
                        "fuzz {target}: input ran over {hang_cap:?} (hang); saved to {}\n{}",
                        path.display(),
                        hex(&cur.1)
                    );
                    std::process::exit(101);
                }
            }
        })
    };

    let mut rng = Rng::new(0x6170_6974_6f70 ^ seed ^ fnv(target.as_bytes()));
    let mut crashes: Vec<(PathBuf, String)> = Vec::new();
    let mut executions = 0;
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    let total = seeds.len() + iters;
    for n in 0..total {
        let input = if n < seeds.len() {
            seeds[n].1.clone()
        } else {
            mutate(&mut rng, &seeds, max_len)
        };
        {
            let mut cur = current.lock().unwrap_or_else(|p| p.into_inner());
            *cur = (Instant::now(), input.clone());
        }
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| f(&input)));
        let took = t.elapsed();
        executions += 1;
        slowest = slowest.max(took);
        if took > slow {
            eprintln!(
                "fuzz {target}: slow input ({took:?}), saved to {}",
                save(target, "slow", &input).display()
            );
        }
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let path = save(target, "crash", &input);
            eprintln!(
                "fuzz {target}: panic on input #{n}: {msg}\nsaved to {}\ninput ({} bytes): {}",
                path.display(),
                input.len(),
                hex(&input)
            );
            crashes.push((path, msg));
            if crashes.len() >= 5 {
                break;
            }
        }
    }
    finished.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let report = Report {
        executions,
        elapsed: start.elapsed(),
        slowest,
    };
    // Straight to stderr, past the test harness's capture: the counts show in every run.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {target}: {} executions ({} seeds + {} mutated) in {:.2?}, slowest input {:.2?}",
        report.executions,
        seeds.len(),
        report.executions.saturating_sub(seeds.len()),
        report.elapsed,
        report.slowest
    );
    assert!(
        crashes.is_empty(),
        "fuzz {target}: {} panicking inputs: {crashes:#?}",
        crashes.len()
    );
    report
}
