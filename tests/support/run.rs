//! A finished `apitop --json` run, and reading the exchanges and the summary it wrote.
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::APITOP;

/// Exchanges (one JSON object per stdout line) and stderr of a finished apitop run.
pub struct Run {
    pub exchanges: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub status: std::process::ExitStatus,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let exchanges = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect();
        Run {
            exchanges,
            stdout,
            stderr,
            status: out.status,
        }
    }

    /// Exchanges whose path starts with `prefix`.
    pub fn with_path(&self, prefix: &str) -> Vec<&Value> {
        self.exchanges
            .iter()
            .filter(|x| x["path"].as_str().unwrap_or("").starts_with(prefix))
            .collect()
    }

    /// Only the exchanges to or from `port` on 127.0.0.1: tests that watch a process *name* run
    /// beside other tests whose processes share that name.
    pub fn only_port(mut self, port: u16) -> Run {
        self.exchanges.retain(|x| on_port(x, port));
        self
    }

    /// The `path` of every exchange, in output order.
    pub fn paths(&self) -> Vec<&str> {
        self.exchanges
            .iter()
            .map(|x| x["path"].as_str().unwrap_or(""))
            .collect()
    }

    pub fn assert_ok(&self) {
        assert!(
            self.status.success(),
            "apitop failed ({}):\n{}",
            self.status,
            self.stderr
        );
    }
}

/// Whether an exchange is to or from `port` on 127.0.0.1 (see [`Run::only_port`]).
pub fn on_port(x: &Value, port: u16) -> bool {
    let tail = format!(":{port}");
    let hit = |v: &Value| v.as_str().is_some_and(|s| s.ends_with(&tail));
    hit(&x["host"]) || hit(&x["local_addr"]) || hit(&x["peer_addr"])
}

/// How many of `xs` have a path starting with `prefix`.
pub fn count_path(xs: &[Value], prefix: &str) -> usize {
    xs.iter()
        .filter(|x| x["path"].as_str().unwrap_or("").starts_with(prefix))
        .count()
}

/// `apitop --json <args> -- <command>`: captures the command from its first byte.
pub fn apitop_cmd(args: &[&str], command: &[&str]) -> Run {
    let out = Command::new(APITOP)
        .arg("--json")
        .args(args)
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .output()
        .expect("running apitop");
    Run::from_output(out)
}

/// The numbers of the headless summary line: (exchanges, connections, not HTTP).
pub fn summary_counts(stderr: &str) -> Option<(u64, u64, u64)> {
    let line = stderr.lines().rev().find(|l| l.contains(" exchanges, "))?;
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums.len() == 3).then(|| (nums[0], nums[1], nums[2]))
}

/// The body of `side` ("request" or "response") of an exchange, as text.
pub fn body(v: &Value, side: &str) -> String {
    v[side]["body"].as_str().unwrap_or_default().to_string()
}

/// First value of header `name` (case-insensitive) on `side` of an exchange.
pub fn header<'a>(v: &'a Value, side: &str, name: &str) -> Option<&'a str> {
    v[side]["headers"]
        .as_array()?
        .iter()
        .find_map(|h| (h[0].as_str()?.eq_ignore_ascii_case(name)).then(|| h[1].as_str())?)
}
