//! Debugging aid: attach to the given pids and print raw capture events.
//! `cargo run -p capture --example dump_events -- PID...`
fn main() -> anyhow::Result<()> {
    let mut live = capture::live::LiveCapture::new()?;
    for a in std::env::args().skip(1) {
        println!("{:?}", live.add_pid(a.parse()?)?);
    }
    let mut out = Vec::new();
    loop {
        live.poll(&mut out);
        for ev in out.drain(..) {
            match ev {
                capture::event::Event::Data {
                    key,
                    dir,
                    total,
                    offset,
                    bytes,
                    fd,
                    ..
                } => println!(
                    "data {key:?} fd={fd} {dir:?} total={total} off={offset} {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
                ),
                other => println!("{other:?}"),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
