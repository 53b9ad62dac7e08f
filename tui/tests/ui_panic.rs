//! A panic off the UI thread (the capture thread, a background job) stops the UI with the
//! message and a restored terminal, instead of the UI drawing on over it. Runs the UI inside
//! tmux, as `ui_runtime.rs` does.
#[path = "../../tests/support/tmux.rs"]
mod tmux;
mod ui_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use apitop::ui::runtime::{run_blocking, Control, UiInput};
use capture::output::Output;
use tmux::Tmux;
use ui_support::*;

const CHILD: &str = "APITOP_UI_PANIC_CHILD";

/// The UI side, only inside tmux: a "capture thread" sends exchanges, then panics.
#[test]
fn panicking_child() {
    let Some(out) = std::env::var_os(CHILD) else {
        return;
    };
    let out = PathBuf::from(out);
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let (ctl_tx, _ctl_rx) = tokio::sync::mpsc::channel::<Control>(16);
    std::thread::spawn(move || {
        for e in sample() {
            let _ = tx.blocking_send(UiInput::Output(Output::Exchange(Box::new(e))));
        }
        std::thread::sleep(Duration::from_millis(1500));
        panic!("capture thread fell over");
    });
    let result = run_blocking(config(), rx, ctl_tx);
    let status = match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    std::fs::write(out, status).expect("write result");
}

#[test]
fn a_panic_on_another_thread_stops_the_ui_cleanly() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("APITOP_REQUIRE_EBPF").is_none(),
            "tmux is missing, and CI (APITOP_REQUIRE_EBPF=1) must run this test"
        );
        eprintln!("tmux not installed: skipping the real-terminal test");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let dir = std::env::temp_dir().join(format!("apitop-ui-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let result = dir.join("result");
    let child = format!(
        "env -u DISPLAY -u WAYLAND_DISPLAY RUST_BACKTRACE=0 {CHILD}={} TERM=xterm-256color {} --exact panicking_child --nocapture --test-threads 1; echo UI-EXITED; sleep 30",
        result.display(),
        exe.display()
    );
    let tmux = Tmux::start("apitop-ui-panic", 140, 36, &child);
    tmux.wait_for("/oauth/token");
    let r = tmux::wait_file(&result, "the UI kept running after the panic");
    assert!(
        r.starts_with("error: internal error, apitop stopped: capture thread fell over"),
        "{r}"
    );
    // Back on the normal screen: the shell's own output, the panic message, no UI frame.
    let s = tmux.wait_for("UI-EXITED");
    assert!(s.contains("capture thread fell over"), "{s}");
    assert!(
        !s.contains("/oauth/token"),
        "the UI is still on screen: {s}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
