//! The whole decoding pipeline (events → connections → exchanges) over recorded captures, one
//! core: the real HTTP/1.1 capture in assets/sample.apitop and the recorded h2load connection
//! (100 requests, 10 concurrent streams) in tests/fixtures/http2. Prints events/s and MB/s.
use std::path::Path;
use std::time::{Duration, Instant};

use capture::event::{ConnKey, Direction, Event, Limits};
use capture::output::Output;
use capture::pipeline::Pipeline;
use capture::record::Reader;

fn sample() -> Vec<Event> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.apitop");
    Reader::open(&path)
        .expect("assets/sample.apitop")
        .collect::<Result<_, _>>()
        .expect("readable recording")
}

/// A relay transcript (`W <hex>` / `R <hex>` per line) as the events a client-side capture gives.
fn transcript(name: &str) -> Vec<Event> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/http2")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let key = ConnKey { pid: 1, conn: 1 };
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let (d, hex) = l.split_once(' ')?;
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|j| u8::from_str_radix(&hex[2 * j..2 * j + 2], 16).ok())
                .collect();
            let dir = if d == "W" {
                Direction::Write
            } else {
                Direction::Read
            };
            Some(Event::Data {
                ts: i as u64,
                key,
                tid: 1,
                fd: 3,
                dir,
                total: bytes.len() as u32,
                offset: 0,
                bytes,
                tls: true,
            })
        })
        .collect()
}

fn bench(name: &str, events: &[Event]) {
    let bytes: usize = events
        .iter()
        .map(|e| match e {
            Event::Data { bytes, .. } => bytes.len(),
            _ => 0,
        })
        .sum();
    let min = Duration::from_millis(1500);
    let start = Instant::now();
    let (mut reps, mut exchanges) = (0u64, 0usize);
    while start.elapsed() < min {
        let mut p = Pipeline::new(Limits::default());
        let mut out = Vec::new();
        for ev in events.iter().cloned() {
            p.push(ev, &mut out);
        }
        p.finish(u64::MAX, &mut out);
        exchanges = out
            .iter()
            .filter(|o| matches!(o, Output::Exchange(_)))
            .count();
        reps += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<34} {:>9.0} events/s {:>8.1} MB/s {:>9.0} exchanges/s   ({} events, {:.2} MB, {} exchanges per pass)",
        events.len() as f64 * reps as f64 / secs,
        bytes as f64 * reps as f64 / secs / 1e6,
        exchanges as f64 * reps as f64 / secs,
        events.len(),
        bytes as f64 / 1e6,
        exchanges
    );
}

fn main() {
    bench("HTTP/1.1 sample.apitop (live capture)", &sample());
    bench(
        "HTTP/2 h2load_100.rec (recorded)",
        &transcript("h2load_100.rec"),
    );
    bench(
        "HTTP/2 nghttp_h2c.rec (recorded)",
        &transcript("nghttp_h2c.rec"),
    );
}
