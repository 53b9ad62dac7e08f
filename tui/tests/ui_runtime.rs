//! The runtime in a real terminal: this test binary re-runs itself inside tmux as the UI, keys
//! go in with `send-keys`, screens come out with `capture-pane`, and the copy lands in tmux's
//! buffer through OSC 52 (`set-clipboard on`; there is no display, so arboard is not used).
#[path = "../../tests/support/tmux.rs"]
mod tmux;
mod ui_support;

use std::path::PathBuf;

use apitop::ui::runtime::{run_blocking, Control, UiInput};
use capture::output::{CaptureStats, Output};
use tmux::Tmux;
use ui_support::*;

const CHILD: &str = "APITOP_UI_RUNTIME_CHILD";

/// The UI side: runs only inside tmux, started by `ui_in_tmux` (with `--ignored`). Ignored so a
/// plain run lists it as ignored instead of counting an empty pass.
#[test]
#[ignore = "the UI side of ui_in_tmux, which runs it inside tmux"]
fn runtime_child() {
    let Some(out) = std::env::var_os(CHILD) else {
        panic!("runtime_child is started by ui_in_tmux (it needs {CHILD}); run ui_in_tmux");
    };
    let out = PathBuf::from(out);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::channel::<Control>(16);
    std::thread::spawn(move || {
        for e in sample() {
            let _ = tx.blocking_send(UiInput::Output(Output::Exchange(Box::new(e))));
        }
        let _ = tx.blocking_send(UiInput::Stats(CaptureStats {
            exchanges: 8,
            dropped_events: 3,
            ..CaptureStats::default()
        }));
        // Dropping the sender: the source has ended; the UI keeps running.
    });
    let cfg = apitop::ui::Config {
        utc_offset: Some(0),
        ..config()
    };
    let result = run_blocking(cfg, rx, ctl_tx);
    let mut controls = Vec::new();
    while let Ok(c) = ctl_rx.try_recv() {
        controls.push(format!("{c:?}"));
    }
    let status = match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    std::fs::write(out, format!("{status}\n{}", controls.join("\n"))).expect("write result");
}

#[test]
fn ui_in_tmux() {
    if std::env::var_os(CHILD).is_some() {
        // Inside tmux only runtime_child is run (--exact); this guards a filter that matches both.
        return;
    }
    if !tmux::available("ui_in_tmux") {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let dir = std::env::temp_dir().join(format!("apitop-ui-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let result = dir.join("result");
    let child = format!(
        "env -u DISPLAY -u WAYLAND_DISPLAY {CHILD}={} TERM=xterm-256color {} --exact runtime_child --ignored --nocapture --test-threads 1",
        result.display(),
        exe.display()
    );
    let tmux = Tmux::start("apitop-ui-test", 140, 36, &child);
    let s = tmux.wait_for("/oauth/token");
    assert!(s.contains("Requests 8"), "{s}");
    assert!(s.contains("drops 3"), "drops are shown: {s}");
    assert!(
        s.contains("capture ended"),
        "the end of the source is said: {s}"
    );
    // Filter as you type.
    tmux.keys(&["/", "~c 5xx", "Enter"]);
    let s = tmux.wait_for("Requests 2");
    assert!(s.contains("/users/44") && !s.contains("/users/42 "), "{s}");
    // Copy the selected request (the 503 to auth.example.org): OSC 52 into tmux's buffer.
    tmux.keys(&["c"]);
    tmux.wait_for("Copy as…");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("OSC 52");
    assert!(s.contains("curl: "), "{s}");
    let buffer = tmux.buffer();
    let argv = shlex::split(&buffer).expect("shell words");
    assert_eq!(argv.first().map(String::as_str), Some("curl"));
    assert_eq!(
        argv.last().map(String::as_str),
        Some("https://auth.example.org/oauth/token?grant=refresh")
    );
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Copy as…");
    // Help, generated from the keymap.
    tmux.keys(&["?"]);
    tmux.wait_for("copy request as… curl");
    tmux.keys(&["Escape"]);
    tmux.wait_gone("copy request as… curl");
    // The picker opens with `p` (listing this machine's processes) and closes with Esc.
    tmux.keys(&["p"]);
    tmux.wait_for("Pick processes");
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Pick processes");
    tmux.wait_for("Requests 2");
    tmux.keys(&["q"]);
    let r = tmux::wait_file(&result, "the UI never exited");
    assert!(r.starts_with("ok"), "{r}");
    std::fs::remove_dir_all(&dir).ok();
}
