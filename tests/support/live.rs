//! A running `apitop --json`, started and then stopped with SIGINT once its output holds what
//! a test waits for.
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{work_dir, Run, APITOP};

/// A running `apitop --json <args>` to be stopped with SIGINT. Its stdout is read all along, as
/// a consumer would: apitop must never block on a full pipe.
pub struct Live {
    child: Child,
    stderr_path: PathBuf,
    /// stdout so far, appended to by the reader thread.
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    stdout: Option<std::thread::JoinHandle<()>>,
}

/// Waits until `cond` holds, polling; fails naming `what` if it does not within `timeout`. For
/// waiting on an outcome (output written, a process started) instead of sleeping a fixed time.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a live test waits for output it expects before stopping apitop anyway (and letting
/// its assertions say what is missing).
pub const OUTPUT_TIMEOUT: Duration = Duration::from_secs(20);

/// The exchanges in complete stdout lines so far (a line still being written is left out).
fn exchanges_in(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
    complete
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Starts apitop and waits until it has attached (its "capturing" line on stderr).
pub fn apitop_start(args: &[&str]) -> Live {
    apitop_start_until(args, "capturing pid")
}

/// As [`apitop_start`], with extra environment variables for apitop.
pub fn apitop_start_env(args: &[&str], env: &[(&str, &str)]) -> Live {
    apitop_start_until_env(args, "capturing pid", env)
}

/// Starts apitop with `-n` names that may match nothing yet: waits until the probes are loaded.
pub fn apitop_start_watching(args: &[&str]) -> Live {
    apitop_start_until(args, "watching")
}

/// As [`apitop_start_watching`], with extra environment variables for apitop.
pub fn apitop_start_watching_env(args: &[&str], env: &[(&str, &str)]) -> Live {
    apitop_start_until_env(args, "watching", env)
}

fn apitop_start_until(args: &[&str], ready: &str) -> Live {
    apitop_start_until_env(args, ready, &[])
}

fn apitop_start_until_env(args: &[&str], ready: &str, env: &[(&str, &str)]) -> Live {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let stderr_path = work_dir().join(format!("apitop-stderr-{n}.txt"));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let child = Command::new(APITOP)
        .arg("--json")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("running apitop");
    let mut child = child;
    let mut pipe = child.stdout.take().expect("piped");
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    let stdout = Some(std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .expect("stdout buffer")
                    .extend_from_slice(&buf[..n]),
            }
        }
    }));
    let live = Live {
        child,
        stderr_path,
        out,
        stdout,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let err = live.stderr();
        if err.contains(ready) {
            return live;
        }
        // Lines about a target (`apitop: pid N (comm): ...`, e.g. a JVM's agent) are not
        // errors; any other line before the ready one is.
        let other = err
            .lines()
            .any(|l| l.starts_with("apitop: ") && !l.starts_with("apitop: pid "));
        if other && !err.contains("capturing") && !err.contains("watching") {
            panic!("apitop did not start: {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("apitop did not attach within 30 s: {}", live.stderr());
}

impl Live {
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exchanges apitop has written so far.
    pub fn exchanges_so_far(&self) -> Vec<Value> {
        exchanges_in(&self.out.lock().expect("stdout buffer"))
    }

    /// Waits until the exchanges written so far satisfy `done` (at most [`OUTPUT_TIMEOUT`]),
    /// then sends SIGINT and collects the output: a test waits for what it needs, not a fixed
    /// time. On timeout it stops anyway; the test's assertions then say what is missing.
    pub fn stop_when(self, done: impl Fn(&[Value]) -> bool) -> Run {
        let deadline = Instant::now() + OUTPUT_TIMEOUT;
        while !done(&self.exchanges_so_far()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop_now()
    }

    /// Sends SIGINT and collects the output.
    pub fn stop(self) -> Run {
        // Let the last events reach the ring buffer reader.
        std::thread::sleep(Duration::from_millis(300));
        self.stop_now()
    }

    /// Sends SIGINT at once: what is still queued must be drained, not lost.
    pub fn stop_now(self) -> Run {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.wait()
    }

    /// Waits for apitop to end by itself (with a timeout).
    pub fn wait(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(30);
        let reader = self.stdout.take().expect("read once");
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("waiting for apitop") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("apitop did not exit within 30 s: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        reader.join().expect("stdout reader");
        let stdout = std::mem::take(&mut *self.out.lock().expect("stdout buffer"));
        Run::from_output(Output {
            status,
            stdout,
            stderr: std::fs::read(&self.stderr_path).unwrap_or_default(),
        })
    }
}
