//! A real terminal for UI tests: a private tmux server, keys in with `send-keys`, screens out
//! with `capture-pane`, OSC 52 copies into its buffer (`set-clipboard on`).
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// The result file a UI child run inside tmux writes when its UI has exited; panics with `what`
/// if none comes within 15 s.
pub fn wait_file(p: &std::path::Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(s) = std::fs::read_to_string(p) {
            if !s.is_empty() {
                return s;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}");
}

/// True when `tmux` runs. Without it the test skips with a printed reason, unless
/// `APITOP_REQUIRE_EBPF=1` (CI, where scripts/test-deps.sh installs tmux): there a missing tmux
/// fails the test, as a missing eBPF or tool does everywhere else, instead of passing silently.
pub fn available(test: &str) -> bool {
    match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => return true,
        Ok(out) => {
            let reason = format!("`tmux -V` failed: {}", String::from_utf8_lossy(&out.stderr));
            skip(test, &reason);
        }
        Err(e) => skip(
            test,
            &format!("tmux not runnable ({e}); scripts/test-deps.sh installs it"),
        ),
    }
    false
}

fn skip(test: &str, reason: &str) {
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` in a detached `width`x`height` session on a tmux server of its own.
    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("{name}-{}", std::process::id()),
        };
        let (w, h) = (width.to_string(), height.to_string());
        tmux.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            &w,
            "-y",
            &h,
            command,
        ]);
        tmux.cmd(&["set", "-g", "set-clipboard", "on"]);
        tmux
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux (installed by scripts/test-deps.sh)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "ui"])
    }

    /// Waits until the screen contains `needle`, returning it.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {needle:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen no longer contains `needle` (a popup closed), returning it. A key
    /// sent before the last one took effect can arrive in the same read: Escape then `?` reads
    /// as Alt-?.
    pub fn wait_gone(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if !s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen kept showing {needle:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends keys in order. An Escape is sent on its own and followed by a pause: an ESC byte
    /// that arrives together with the next key reads as Alt+key (the terminal's own rule).
    pub fn keys(&self, keys: &[&str]) {
        for group in keys.split_inclusive(|k| *k == "Escape") {
            let mut args = vec!["send-keys", "-t", "ui"];
            args.extend_from_slice(group);
            self.cmd(&args);
            if group.last() == Some(&"Escape") {
                std::thread::sleep(Duration::from_millis(150));
            }
        }
    }

    /// What the last OSC 52 copy put in tmux's buffer.
    pub fn buffer(&self) -> String {
        self.cmd(&["show-buffer"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
