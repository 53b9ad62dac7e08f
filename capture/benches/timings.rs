//! The speed figures tests used to assert (they now check the behaviour behind them): listing
//! processes first and again from the cache, telling node is not Go, and decoding a gzip bomb up
//! to the body cap; address lookups for new connections, one at a time (as the draining
//! thread did per connection) against one batch; and the signature scan of gRPC's stripped
//! `cygrpc` (17 MB of static BoringSSL), first and from the cache the picker uses every second.
//! Prints times; asserts nothing about them.
//!
//! Run: `cargo bench -p capture --bench timings`
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use capture::body::BodyBuilder;
use capture::golang::GoBinary;
use capture::procinfo::{AddrLookup, AddrSource, Inspector};

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

/// Address lookups of `n` connections' server ends with 1,000 sockets open in this process:
/// a fresh [`AddrLookup`] per connection (what each new connection cost before: a full read of
/// the TCP tables on the fallback path) against one per batch.
fn address_lookups() {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let at = listener.local_addr().expect("bound");
    // 500 connections: 1,000 sockets (both ends), plus the listener.
    let pairs: Vec<(TcpStream, TcpStream)> = (0..500)
        .map(|_| {
            let c = TcpStream::connect(at).expect("connect");
            let (s, _) = listener.accept().expect("accept");
            (c, s)
        })
        .collect();
    let me = std::process::id();
    let fds: Vec<i32> = pairs.iter().map(|(_, s)| s.as_raw_fd()).collect();
    for batch in [10usize, 100] {
        for source in [AddrSource::Tables, AddrSource::Pidfd] {
            let (per_conn, _) = best(5, || {
                fds[..batch]
                    .iter()
                    .filter(|&&fd| AddrLookup::new(source).get(me, fd).is_some())
                    .count()
            });
            let (per_batch, found) = best(5, || {
                let mut l = AddrLookup::new(source);
                let n = fds[..batch]
                    .iter()
                    .filter(|&&fd| l.get(me, fd).is_some())
                    .count();
                (n, l.stats())
            });
            println!(
                "address lookups, {batch} new connections, 1,000 sockets open, {source:?}: \
                 per connection {per_conn:.2?}, per batch {per_batch:.2?} \
                 ({} found, {} table reads, {} pidfd opens; best of 5)",
                found.0, found.1.table_reads, found.1.pidfd_opens
            );
        }
    }
}

/// The object gRPC's wheel installs (scripts/test-deps.sh), if it is there.
fn cygrpc() -> Option<std::path::PathBuf> {
    let dir = Path::new("/opt/apitop-test-tools/grpcio/grpc/_cython");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cygrpc.") && n.ends_with(".so"))
        })
}

/// A full scan of the stripped `cygrpc` for `SSL_read`/`SSL_write` by their code, then the
/// lookups the picker makes each second once it is cached (a `stat` per object).
fn cygrpc_scan() {
    let Some(path) = cygrpc() else {
        println!("cygrpc signature scan: skipped, the grpcio wheel is not installed (scripts/test-deps.sh)");
        return;
    };
    let mb = std::fs::metadata(&path)
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0);
    let (scan, found) = best(5, || capture::signature::scan(&path));
    let first = Instant::now();
    let _ = capture::signature::cached(&path);
    let first = first.elapsed();
    let (cached, _) = best(5, || capture::signature::cached(&path));
    println!(
        "cygrpc signature scan ({mb:.1} MB): {scan:.2?} uncached (best of 5; {}), \
         first through the cache {first:.2?}, cached {cached:.2?} (best of 5)",
        match found {
            Ok(_) => "SSL_read/SSL_write found".to_string(),
            Err(e) => format!("refused: {e}"),
        }
    );
}

fn main() {
    address_lookups();

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

    cygrpc_scan();

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
