//! The speed figures tests used to assert (they now check the behaviour behind them): listing
//! processes first and again from the cache, telling node is not Go, and decoding a gzip bomb up
//! to the body cap. Prints times; asserts nothing about them.
//!
//! Run: `cargo bench -p capture --bench timings`
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use capture::body::BodyBuilder;
use capture::golang::GoBinary;
use capture::procinfo::Inspector;

/// The best of `reps` runs of `f`.
fn best<T>(reps: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("reps > 0"))
}

fn main() {
    let mut ins = Inspector::new();
    let t = Instant::now();
    let n = ins.list().len();
    let first = t.elapsed();
    let (cached, _) = best(5, || ins.list());
    println!("process list: {n} processes, first {first:.2?}, cached {cached:.2?} (best of 5)");

    let node = Path::new("/usr/bin/node");
    if node.exists() {
        let (t, r) = best(5, || GoBinary::open(node, &["crypto/tls.(*Conn).Write"]));
        println!(
            "node is not Go: {t:.2?} (best of 5; {})",
            match r {
                Ok(_) => "opened as Go?".to_string(),
                Err(e) => e.to_string(),
            }
        );
    } else {
        println!("node is not Go: skipped, /usr/bin/node not installed");
    }

    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        e.write_all(&zeros).expect("in memory");
    }
    let bomb = e.finish().expect("in memory");
    let (t, body) = best(5, || {
        let mut b = BodyBuilder::new(1 << 20, Some("gzip"));
        b.push(&bomb);
        b.finish()
    });
    println!(
        "gzip bomb (200 MB of zeros, {} KB) to a 1 MiB cap: {t:.2?} (best of 5; {} bytes out)",
        bomb.len() / 1024,
        body.data.len()
    );
}
