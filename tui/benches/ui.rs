//! UI figures: frame render time with 100k and 1M exchanges in the store, re-filter time over
//! 1M, ingest rate and memory, the stats view over 100k and a HAR export of 100k. `cargo bench -p apitop --no-default-features --bench ui`.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apitop::ui::app::{App, Config, Msg};
use apitop::ui::theme::Theme;
use apitop::ui::views;
use capture::exchange::{Body, Exchange, Protocol, Request, Response, Role};
use capture::output::Output;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Counts live heap bytes, so memory is measured rather than estimated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const HOSTS: [&str; 5] = [
    "api.example.com",
    "auth.example.org",
    "cdn.example.net",
    "billing.internal",
    "search.example.com",
];
const PATHS: [&str; 6] = [
    "/v1/users/{}",
    "/v1/users/{}/orders",
    "/v1/items?page={}",
    "/oauth/token",
    "/static/app.js",
    "/search?q=term{}",
];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "DELETE"];
const STATUS: [u16; 8] = [200, 200, 200, 201, 304, 404, 500, 503];

fn exchange(i: u64) -> Exchange {
    let n = i as usize;
    let path = PATHS[n % PATHS.len()].replace("{}", &(i % 997).to_string());
    let body = |s: &[u8]| Body {
        raw_len: s.len() as u64,
        data: s.to_vec(),
        ..Body::default()
    };
    Exchange {
        id: i,
        pid: 1000 + (i % 3) as u32,
        comm: "python3".into(),
        protocol: if i.is_multiple_of(4) {
            Protocol::Http2
        } else {
            Protocol::Http1
        },
        tls: true,
        role: Role::Client,
        conn_id: i / 10,
        local_addr: None,
        peer_addr: None,
        stream_id: None,
        request: Request {
            method: METHODS[n % METHODS.len()].into(),
            target: path,
            version: "HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), HOSTS[n % HOSTS.len()].into()),
                ("User-Agent".into(), "python-requests/2.31".into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: Body::default(),
        },
        response: Some(Response {
            status: STATUS[n % STATUS.len()],
            reason: String::new(),
            version: "HTTP/1.1".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body(br#"{"ok":true,"id":12345,"items":[1,2,3]}"#),
            trailers: vec![],
        }),
        start: 1_700_000_000_000_000_000 + i * 1_000_000,
        end: Some(1_700_000_000_000_000_000 + i * 1_000_000 + (i * 7919 % 900 + 1) * 1_000_000),
        request_end: None,
        response_start: None,
        error: None,
    }
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn key(app: &mut App, c: KeyCode) {
    app.handle(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

/// Mean and worst of `frames` draws into a 200x50 TestBackend.
fn frames(app: &mut App, term: &mut Terminal<TestBackend>, frames: usize) -> (f64, f64) {
    let mut total = Duration::ZERO;
    let mut worst = Duration::ZERO;
    for i in 0..frames {
        // Move a little each frame so the window and the detail change.
        key(
            app,
            if i % 2 == 0 {
                KeyCode::Down
            } else {
                KeyCode::PageUp
            },
        );
        app.handle(Msg::Tick(0));
        let t = Instant::now();
        let _ = term.draw(|f| views::draw(f, app));
        let d = t.elapsed();
        total += d;
        worst = worst.max(d);
    }
    (ms(total) / frames as f64, ms(worst))
}

/// An app holding up to `n` exchanges in a 200x50 terminal, at a fixed time.
fn bench_app(n: u64) -> App {
    let mut app = App::new(Config {
        theme: Theme::builtin("dark").expect("dark theme"),
        max_exchanges: n as usize,
        utc_offset: Some(0),
        fixed_now: Some(1_700_000_000_000_000_000),
        ..Config::default()
    });
    app.handle(Msg::Resize(200, 50));
    app
}

fn run(n: u64, refilter: bool) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut app = bench_app(n);
    let t = Instant::now();
    for i in 0..n {
        app.handle(Msg::Capture(Output::Exchange(Box::new(exchange(i)))));
    }
    app.handle(Msg::Tick(0));
    let ingest = t.elapsed();
    let used = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "{n:>8} exchanges: ingest {:.0} ms ({:.2} M/s), heap {:.1} MiB ({} B/exchange)",
        ms(ingest),
        n as f64 / ingest.as_secs_f64() / 1e6,
        mib(used),
        used / n as usize
    );
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    let (mean, worst) = frames(&mut app, &mut term, 200);
    println!(
        "          frame (200x50, follow off, moving): mean {mean:.3} ms, worst {worst:.3} ms"
    );
    // Keep ingesting between frames with follow on: the live case.
    key(&mut app, KeyCode::Char('F'));
    let mut total = Duration::ZERO;
    for round in 0..50u64 {
        for j in 0..200 {
            app.handle(Msg::Capture(Output::Exchange(Box::new(exchange(
                n + round * 200 + j,
            )))));
        }
        let t = Instant::now();
        app.handle(Msg::Tick(0));
        let _ = term.draw(|f| views::draw(f, &app));
        total += t.elapsed();
    }
    println!(
        "          frame while 200 exchanges/frame arrive (follow, evicting): mean {:.3} ms",
        ms(total) / 50.0
    );
    // A frame under the duration sort, where arrivals are merged into the view.
    key(&mut app, KeyCode::Char('o'));
    let mut total = Duration::ZERO;
    for round in 0..20u64 {
        for j in 0..200 {
            app.handle(Msg::Capture(Output::Exchange(Box::new(exchange(
                2 * n + round * 200 + j,
            )))));
        }
        let t = Instant::now();
        app.handle(Msg::Tick(0));
        let _ = term.draw(|f| views::draw(f, &app));
        total += t.elapsed();
    }
    println!(
        "          frame while 200 exchanges/frame arrive (sorted by duration): mean {:.3} ms",
        ms(total) / 20.0
    );
    key(&mut app, KeyCode::Char('o'));
    key(&mut app, KeyCode::Char('o'));
    key(&mut app, KeyCode::Char('o'));
    if refilter {
        for expr in [
            "~c 5xx",
            "~m POST & ~d api",
            "users/\\d+",
            "~h python",
            "~b items",
            "",
        ] {
            let t = Instant::now();
            app.set_filter(expr.to_string());
            let d = t.elapsed();
            println!(
                "          re-filter {:<22} {:>8.1} ms -> {} match",
                format!("{expr:?}"),
                ms(d),
                app.view_len()
            );
        }
        let t = Instant::now();
        key(&mut app, KeyCode::Char('o'));
        println!(
            "          re-sort by duration            {:>8.1} ms",
            ms(t.elapsed())
        );
    }
    drop(term);
    drop(app);
}

/// The stats view over `n` exchanges: opening it (one pass over the store) and a refresh,
/// with the heap it takes at its peak.
fn stats_view(n: u64) {
    let mut app = bench_app(n);
    for i in 0..n {
        app.handle(Msg::Capture(Output::Exchange(Box::new(exchange(i)))));
    }
    app.handle(Msg::Tick(0));
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    key(&mut app, KeyCode::Char('s'));
    let open = t.elapsed();
    let rows = app.stats_view().map_or(0, |v| v.rows.len());
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let t = Instant::now();
    key(&mut app, KeyCode::Char('S'));
    let resort = t.elapsed();
    println!(
        "{n:>8} exchanges: stats view open {:.1} ms ({rows} endpoints, peak +{:.0} KiB), re-sort {:.3} ms",
        ms(open),
        peak as f64 / 1024.0,
        ms(resort)
    );
}

/// HAR export of `n` exchanges (what `w` and `--har` write) to a file: time, size and the heap
/// it takes at its peak beyond the exchanges themselves.
fn har_export(n: u64) {
    let xs: Vec<Exchange> = (0..n).map(exchange).collect();
    let path = std::env::temp_dir().join(format!("apitop-bench-{}.har", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    let written = apitop::har::write_har(&path, xs.iter()).expect("writing the HAR");
    let took = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&path);
    println!(
        "{written:>8} exchanges: HAR export {:.0} ms ({:.0} k/s, {:.1} MiB file, peak +{:.0} KiB)",
        ms(took),
        n as f64 / took.as_secs_f64() / 1e3,
        size as f64 / (1 << 20) as f64,
        peak as f64 / 1024.0
    );
}

fn main() {
    println!("apitop UI bench (release, one thread)");
    stats_view(100_000);
    har_export(100_000);
    run(100_000, false);
    run(1_000_000, true);
    println!("peak heap {:.1} MiB", mib(PEAK.load(Ordering::Relaxed)));
}
