//! End to end: a ring buffer that fills while apitop is stopped loses whole exchanges, counted
//! in the summary, never splices two into one, and decoding recovers once apitop runs again.
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// A full ring drops whole calls. With apitop stopped (SIGSTOP) while a keep-alive client
/// downloads 64 KiB bodies through a 1 MiB ring, most are lost: each one apitop shows must be
/// either exactly what the server sent or marked as cut, never two responses spliced together,
/// and once apitop runs again the connection decodes whole again.
#[test]
fn a_full_ring_loses_exchanges_but_never_splices_them() {
    if !ebpf_available("full_ring") {
        return;
    }
    let (_srv, port) = https_server();
    const N: usize = 65536;
    let mut client = batch_client_keepalive_big(port, N);
    let live = apitop_start(&["--ring-size", "1M", "-p", &client.pid().to_string()]);
    run_batch(&mut client, 3);
    let signal = |sig: &str| {
        let st = Command::new("kill")
            .args([sig, &live.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill {sig}");
    };
    signal("-STOP");
    run_batch(&mut client, 60); // ~4 MiB through a 1 MiB ring nobody drains
    signal("-CONT");
    // Until apitop has drained what the ring held, new requests may still find it full: one
    // request at a time until one comes out whole, then the five that must all be whole.
    let want: String = "0123456789abcdef".repeat(N / 16);
    let deadline = Instant::now() + Duration::from_secs(60);
    let caught_up = loop {
        run_batch(&mut client, 1);
        std::thread::sleep(Duration::from_millis(50));
        let xs = live.exchanges_so_far();
        if xs.last().is_some_and(|x| body(x, "response") == want) {
            break xs.len();
        }
        assert!(
            Instant::now() < deadline,
            "apitop never caught up after SIGCONT"
        );
    };
    run_batch(&mut client, 5);
    finish_client(&mut client);
    let run = live.wait();
    run.assert_ok();
    // The ring filled: exchanges came out incomplete, and every record lost is in the
    // summary's ring-full count (read once more as the capture ends, not only every 250 ms).
    // The number after `label` in the summary line.
    let after = |label: &str| -> u64 {
        run.stderr
            .split(label)
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let ring_full = after("ring buffer full ");
    let incomplete: u64 = run
        .stderr
        .split(" incomplete")
        .next()
        .and_then(|t| t.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(incomplete > 0, "the ring must have filled: {}", run.stderr);
    // ...and they are told apart from what the programs did: lost in capture.
    let lost = after("lost in capture ");
    assert!(lost > 0, "the ring's losses are not named: {}", run.stderr);
    assert!(
        ring_full > 0,
        "losses missing from the summary: {}",
        run.stderr
    );
    let mut whole = 0;
    for x in &run.exchanges {
        let r = &x["response"];
        if r.is_null() || r["body_truncated"] == true || x.get("error").is_some() {
            continue;
        }
        assert_eq!(x["status"], 200);
        assert!(
            body(x, "response") == want,
            "a response shown whole is exactly what was sent"
        );
        whole += 1;
    }
    // The 3 before and the 5 after the stop at least, and whatever fit in the ring meanwhile.
    assert!(whole >= 8, "{whole} whole\n{}", run.stderr);
    // The five made once apitop had caught up are all there, whole. (Where both directions
    // lost data, which request a lost response belonged to is a guess: the exchanges after
    // them may include one request left unanswered.)
    let after = run.exchanges[caught_up..]
        .iter()
        .filter(|x| body(x, "response") == want)
        .count();
    assert!(
        after >= 5,
        "decoding recovered after the losses: {after} of 5\n{}",
        run.stderr
    );
}
