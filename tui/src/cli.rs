//! Command-line interface.
use std::path::PathBuf;

use clap::Parser;

const ABOUT: &str =
    "htop for live API traffic: HTTP requests and responses from the processes you pick, \
read from TLS libraries and from plain TCP sockets with eBPF (no proxy, no certificates).";

const AFTER: &str = "\
Examples:
  sudo apitop                          pick processes in the terminal UI
  sudo apitop --list                   processes and whether their TLS can be captured
  sudo apitop --json -p 1234 -p 5678   one JSON object per HTTP exchange on stdout
  sudo apitop --json -n nginx          every process named nginx, now and later
  sudo apitop -- curl https://...      start a command and capture it from its first byte
  sudo apitop --java -p 4321           a running JVM, its TLS too (loads apitop's agent into it)
  sudo apitop -w trace.apitop -p 1234  also record raw capture events (mode 0600, yours under sudo)
  apitop -r trace.apitop               decode a recording again, no root needed
  apitop --no-mask -r trace.apitop     the same, with secret header values shown
  sudo apitop --har out.har -p 1234    headless: a HAR file, written as exchanges complete
  apitop -r trace.apitop --har out.har convert a recording to HAR (no root needed)
  sudo apitop -n nginx --otlp http://collector:4318
                                       each exchange as an OpenTelemetry span (to .../v1/traces)

Secret header values (credentials, cookies, API keys, tokens) are masked by default wherever
exchanges are shown, copied or printed. A recording keeps the raw captured bytes, so treat the
file as secret; it is masked again whenever it is read with -r, unless --no-mask is given.

Live capture needs root (CAP_BPF, CAP_PERFMON) and Linux 5.17 or newer with BTF
(CONFIG_DEBUG_INFO_BTF); it is tested on 6.18 and on Debian 12's 6.1.";

#[derive(Debug, Parser)]
#[command(name = "apitop", version, about = ABOUT, after_help = AFTER)]
pub struct Cli {
    /// List processes with their TLS capture status and exit.
    #[arg(long, conflicts_with_all = ["pids", "names", "read", "write", "command", "har", "otlp", "java"])]
    pub list: bool,

    /// Capture this process (repeatable).
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,

    /// Capture every process with this name, including ones started later (repeatable).
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub names: Vec<String>,

    /// Capture only TLS plaintext: leave out plain (non-TLS) HTTP/1.1 and cleartext HTTP/2, which
    /// are otherwise read from the targets' TCP socket syscalls.
    #[arg(long, conflicts_with = "read")]
    pub no_plain: bool,

    /// Capture the TLS of JVM targets (-p, -n or --) by loading apitop's agent into each one
    /// through HotSpot's attach mechanism: intrusive (code is loaded into the JVM, which keeps
    /// running; the agent goes idle when apitop exits), so only on this explicit request.
    /// Without it, a JVM is captured as plain HTTP only.
    #[arg(long)]
    pub java: bool,

    /// Headless: print one JSON object per exchange on stdout instead of the terminal UI.
    #[arg(long)]
    pub json: bool,

    /// Headless: write the exchanges to FILE as a HAR 1.2 archive (the format browsers' developer
    /// tools import), each entry as it completes; the document is closed when the capture ends
    /// (SIGINT/SIGTERM, the end of a -- command or of a -r recording). Alone, nothing is printed
    /// on stdout; with --json, the JSON lines go to stdout as well. The file is created as -w
    /// creates recordings (mode 0600, yours under sudo, no symlinks) and is masked as --json is.
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,

    /// Export each exchange as an OpenTelemetry span (HTTP semantic conventions) over OTLP/HTTP
    /// protobuf to URL, a Collector's base URL: http://collector:4318 sends to
    /// http://collector:4318/v1/traces (a URL ending in /v1/traces is used as given). Works with
    /// the UI, with --json, and alone when stdout is not a terminal (then only the summary is
    /// printed). Export runs in the background; on exit it gets 5 s to send what is queued, and
    /// the summary says how many spans were exported and dropped. OTEL_SERVICE_NAME and the
    /// OTEL_EXPORTER_OTLP_HEADERS/TIMEOUT variables apply.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,

    /// Spans queued for export (--otlp); while the queue is full (a slow or unreachable
    /// collector), new spans are dropped and counted, and capture never waits for export.
    #[arg(long, value_name = "N", default_value_t = crate::otlp::DEFAULT_QUEUE)]
    pub otlp_queue: usize,

    /// Mask secrets (the default): the values of Authorization, Proxy-Authorization, Cookie,
    /// Set-Cookie and API-key, token, secret and password headers are shown as *** (keeping the
    /// auth scheme, cookie names and Set-Cookie attributes) in the UI, copied curl commands,
    /// --json lines and HAR files. Recordings (-w) keep the raw bytes; they are masked when read
    /// with -r.
    #[arg(long, overrides_with = "no_mask")]
    pub mask: bool,

    /// Show secret header values as captured (see --mask).
    #[arg(long, overrides_with = "mask")]
    pub no_mask: bool,

    /// Also write the raw capture events to FILE: created with mode 0600 and, under sudo, owned
    /// by the invoking user; never written through a symlink, nor over a file with other links
    /// or another owner.
    #[arg(
        short = 'w',
        long = "write",
        value_name = "FILE",
        conflicts_with = "read"
    )]
    pub write: Option<PathBuf>,

    /// Decode a recording made with -w instead of capturing live (no root needed).
    #[arg(short = 'r', long = "read", value_name = "FILE", conflicts_with_all = ["pids", "names", "command"])]
    pub read: Option<PathBuf>,

    /// Body bytes kept per request or response, after decompression; the rest is counted and
    /// marked truncated. Accepts K/M/G suffixes (powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = parse_size)]
    pub max_body: usize,

    /// Kernel ring buffer the probes write into (a power of two, 1M to 1G; locked kernel memory).
    /// Records wait there between drains; when it is full, records are dropped and counted.
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_ring_size)]
    pub ring_size: usize,

    /// Memory for the UI's store of exchanges (estimated heap bytes: bodies, headers, URLs).
    /// Past it, bodies are evicted first, oldest first (the exchange stays listed, its body
    /// marked evicted), then whole exchanges, oldest first. Accepts K/M/G suffixes; at least 1M.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_memory)]
    pub max_memory: usize,

    /// Exchanges kept in the UI's store, a second cap besides --max-memory; the oldest are
    /// evicted past it.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_exchanges: usize,

    /// Nodes in the UI's endpoint tree, hosts and path segments together; past it, new ones are
    /// counted in their level's "(other)" node. Nodes go when the store evicts their exchanges.
    #[arg(long, value_name = "N", default_value_t = crate::ui::endpoints::DEFAULT_MAX_NODES)]
    pub max_tree_nodes: usize,

    /// Connections tracked at once; the least recently active is dropped past it (and counted).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,

    /// Bytes buffered per connection and direction while waiting for a complete header block.
    #[arg(long, value_name = "BYTES", default_value = "256K", value_parser = parse_size)]
    pub max_header: usize,

    /// UI theme: "dark", "light", or a theme file that overrides only the fields it names.
    #[arg(long, value_name = "NAME|FILE", default_value = "dark")]
    pub theme: String,

    /// A command to start and capture from its first byte (run as the invoking user under sudo).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl Cli {
    pub fn limits(&self) -> capture::event::Limits {
        capture::event::Limits {
            max_body: self.max_body,
            max_header_buffer: self.max_header,
            max_connections: self.max_connections.max(1),
        }
    }

    /// Whether secrets are masked: on unless the last of `--mask`/`--no-mask` was `--no-mask`.
    pub fn masking(&self) -> bool {
        !self.no_mask
    }

    pub fn has_targets(&self) -> bool {
        !self.pids.is_empty() || !self.names.is_empty() || !self.command.is_empty()
    }
}

/// `1048576`, `512K`, `1M`, `2MiB`, `1G`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1usize << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (examples: 65536, 512K, 1M)"))
}

/// `--ring-size`: a size as [`parse_size`] reads it, a power of two from 1 MiB to 1 GiB (the
/// kernel's ring buffers are a power-of-two number of pages).
pub fn parse_ring_size(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if (1 << 20..=1 << 30).contains(&n) && n.is_power_of_two() {
        Ok(n)
    } else {
        Err(format!(
            "{s:?}: the ring buffer must be a power of two from 1M to 1G (1M, 2M, 4M, ... 1G)"
        ))
    }
}

/// `--max-memory`: a size, and one that can hold a few exchanges with bodies.
pub fn parse_memory(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n < 1 << 20 {
        return Err(format!(
            "{s:?} is too small for the store (at least 1M; examples: 256M, 2G)"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes() {
        assert_eq!(parse_ring_size("64M"), Ok(64 << 20));
        assert_eq!(parse_ring_size("1G"), Ok(1 << 30));
        assert!(parse_ring_size("3M").is_err());
        assert!(parse_ring_size("512K").is_err());
        assert!(parse_ring_size("2G").is_err());
        assert!(parse_ring_size("lots").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn masking_is_on_unless_the_last_word_is_no_mask() {
        let masking = |args: &[&str]| {
            let mut argv = vec!["apitop", "-r", "x"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).unwrap().masking()
        };
        assert!(masking(&[]));
        assert!(masking(&["--mask"]));
        assert!(!masking(&["--no-mask"]));
        assert!(masking(&["--no-mask", "--mask"]));
        assert!(!masking(&["--mask", "--no-mask"]));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512M"), Ok(512 << 20));
        assert_eq!(parse_memory("2G"), Ok(2 << 30));
        assert_eq!(parse_memory("100000K"), Ok(100_000 << 10));
        assert_eq!(parse_memory("1073741824"), Ok(1 << 30));
        assert!(parse_memory("12X").unwrap_err().contains("is not a size"));
        assert!(parse_memory("4K").unwrap_err().contains("at least 1M"));
    }
}
