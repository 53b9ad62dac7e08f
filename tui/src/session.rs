//! One capture session: where events come from (live probes or a recording), the recording
//! being written, and the decoding pipeline. Headless output and the UI both drive it.
use std::path::Path;
#[cfg(feature = "live")]
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use capture::event::{Event, Limits};
use capture::output::{CaptureStats, Output};
use capture::pipeline::Pipeline;
use capture::record::{Reader, Writer};

/// What to capture.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub pids: Vec<u32>,
    pub names: Vec<String>,
    pub command: Vec<String>,
    /// Capture only TLS plaintext, not plain (non-TLS) HTTP on the targets' TCP sockets.
    pub no_plain: bool,
    /// Kernel ring buffer size in MiB; None: the default.
    pub ring_mib: Option<u32>,
    /// `--java`: load apitop's agent into JVM targets to capture their TLS.
    pub java: bool,
}

/// Why a session ended by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The spawned command exited.
    CommandExited(String),
    /// Every target process exited and nothing more can match.
    NoTargetsLeft,
    /// The recording was read to its end.
    EndOfRecording,
}

/// Set by SIGINT/SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM ask the session to stop cleanly (flush, summary, exit 0).
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

enum Source {
    #[cfg(feature = "live")]
    Live(Box<capture::live::LiveCapture>),
    Replay(Reader<std::io::BufReader<std::fs::File>>),
}

// Without the `live` feature only replays exist: the live-only fields are never read.
#[cfg_attr(not(feature = "live"), allow(dead_code))]
pub struct Session {
    source: Source,
    pipeline: Pipeline,
    writer: Option<Writer>,
    child: Option<Child>,
    /// With only `-p` targets, the session ends when they have all exited.
    end_without_targets: bool,
    events: Vec<Event>,
    /// Outputs produced while setting up, handed out by the first `step`.
    pending: Vec<Output>,
    /// Events taken in by the last `step`.
    last_batch: usize,
    /// Mask secret header values in the exchanges handed out (`--mask`, the default).
    mask: bool,
    /// `--otlp`: where exchanges also go as spans.
    otlp: Option<Arc<crate::otlp::Exporter>>,
    last_ts: u64,
    /// `--java`: the agents' receiver and the thread attaching them.
    #[cfg(feature = "live")]
    java: Option<capture::java::JavaAgents>,
    /// Targets already handed to `java` (new ones are looked for every second).
    #[cfg(feature = "live")]
    java_seen: std::collections::HashSet<u32>,
    /// `--java`: every target gets the agent; otherwise only the JVMs the user confirmed in
    /// the picker ([`Session::attach_java`]).
    #[cfg(feature = "live")]
    java_all: bool,
    #[cfg(feature = "live")]
    java_scan: std::time::Instant,
}

impl Session {
    /// Reads a recording made with `-w`.
    pub fn replay(path: &Path, limits: Limits) -> Result<Self> {
        let reader = Reader::open(path)?;
        Ok(Session {
            source: Source::Replay(reader),
            pipeline: Pipeline::new(limits),
            writer: None,
            child: None,
            end_without_targets: false,
            events: Vec::new(),
            pending: Vec::new(),
            last_batch: 0,
            last_ts: 0,
            mask: true,
            otlp: None,
            #[cfg(feature = "live")]
            java: None,
            #[cfg(feature = "live")]
            java_seen: Default::default(),
            #[cfg(feature = "live")]
            java_all: false,
            #[cfg(feature = "live")]
            java_scan: std::time::Instant::now(),
        })
    }

    /// Loads the probes and attaches to the targets. With `keep_open`, the session goes on with
    /// no targets (the UI's picker adds them later).
    #[cfg(feature = "live")]
    pub fn live(
        targets: &Targets,
        write: Option<&PathBuf>,
        limits: Limits,
        keep_open: bool,
    ) -> Result<Self> {
        use capture::live::{LiveCapture, LiveOptions};
        let defaults = LiveOptions::default();
        let mut live = LiveCapture::with_options(LiveOptions {
            plain: !targets.no_plain,
            ring_mib: targets.ring_mib.unwrap_or(defaults.ring_mib),
        })?;
        let mut writer = match write {
            Some(p) => Some(Writer::create(p)?),
            None => None,
        };
        let mut events = Vec::new();
        for &pid in &targets.pids {
            events.push(live.add_pid(pid)?);
        }
        for name in &targets.names {
            events.extend(live.watch_name(name)?);
        }
        let mut child = None;
        if !targets.command.is_empty() {
            // The UI owns the terminal; headless keeps stdout for JSON lines.
            let output = if keep_open {
                crate::spawn::ChildOutput::Discard
            } else {
                crate::spawn::ChildOutput::Stderr
            };
            let paused = crate::spawn::spawn_paused(&targets.command, output)?;
            let comm: String = paused
                .exe
                .file_name()
                .map(|n| n.to_string_lossy().chars().take(15).collect())
                .unwrap_or_default();
            events.push(live.add_spawned(paused.pid, &paused.exe.clone(), &comm)?);
            child = Some(paused.release()?);
        }
        let targets_now: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::Process { pid, .. } => Some(*pid),
                _ => None,
            })
            .collect();
        let java = java_start(targets, &targets_now)?;
        if let Some(w) = writer.as_mut() {
            for ev in &events {
                w.write(ev)?;
            }
        }
        let mut pipeline = Pipeline::new(limits);
        let mut outputs = Vec::new();
        for ev in events {
            pipeline.push(ev, &mut outputs);
        }
        let s = Session {
            source: Source::Live(Box::new(live)),
            pipeline,
            writer,
            child,
            end_without_targets: !keep_open
                && targets.names.is_empty()
                && targets.command.is_empty(),
            events: Vec::new(),
            pending: outputs,
            last_batch: 0,
            last_ts: 0,
            mask: true,
            otlp: None,
            java_seen: targets_now.into_iter().collect(),
            java_all: java.is_some(),
            java,
            java_scan: std::time::Instant::now(),
        };
        Ok(s)
    }

    /// Whether secret header values are masked in the exchanges this session hands out (on
    /// unless asked otherwise). The recording being written keeps the raw bytes.
    pub fn with_mask(mut self, mask: bool) -> Self {
        self.mask = mask;
        self
    }

    /// Also exports every exchange handed out as a span (after masking).
    pub fn with_otlp(mut self, exporter: Arc<crate::otlp::Exporter>) -> Self {
        self.otlp = Some(exporter);
        self
    }

    /// Attaches to one more process while the capture runs (the UI's picker).
    #[cfg(feature = "live")]
    pub fn attach(&mut self, pid: u32, out: &mut Vec<Output>) -> Result<()> {
        let Source::Live(live) = &mut self.source else {
            anyhow::bail!("a recording is being replayed: nothing to attach to");
        };
        let ev = live.add_pid(pid)?;
        if let Some(j) = self.java.as_ref().filter(|_| self.java_all) {
            self.java_seen.insert(pid);
            j.request(pid);
        }
        self.record_and_decode(vec![ev], out)
    }

    /// Loads apitop's Java agent into the JVM `pid` (the user confirmed it in the picker),
    /// starting the agents' receiver on first use. The outcome comes as a note
    /// ([`Self::java_notes`]).
    #[cfg(feature = "live")]
    pub fn attach_java(&mut self, pid: u32) -> Result<()> {
        if !matches!(self.source, Source::Live(_)) {
            anyhow::bail!("a recording is being replayed: nothing to attach to");
        }
        if self.java.is_none() {
            let jar = capture::java::find_agent_jar()?;
            self.java = Some(capture::java::JavaAgents::start(
                jar,
                PathBuf::from("/proc/self/exe"),
            )?);
        }
        if let Some(j) = &self.java {
            self.java_seen.insert(pid);
            j.request(pid);
        }
        Ok(())
    }

    /// Stops capturing one process.
    #[cfg(feature = "live")]
    pub fn detach(&mut self, pid: u32, out: &mut Vec<Output>) -> Result<()> {
        if let Source::Live(live) = &mut self.source {
            live.remove_pid(pid);
            let ev = Event::Exit {
                ts: capture::live::now(),
                pid,
            };
            self.record_and_decode(vec![ev], out)?;
        }
        Ok(())
    }

    /// Takes in what has arrived since the last call; Some when the session has ended by itself.
    pub fn step(&mut self, out: &mut Vec<Output>) -> Result<Option<Ended>> {
        let first = out.len();
        out.append(&mut self.pending);
        self.masked(out, first);
        let mut events = std::mem::take(&mut self.events);
        let ended = match &mut self.source {
            #[cfg(feature = "live")]
            Source::Live(live) => {
                live.poll(&mut events);
                if let Some(j) = &self.java {
                    // Bounded like a ring drain: the rest waits for the next step.
                    j.drain(&mut events, 4096);
                    // Targets that appeared since (a -n match, a -- command's JVM, a child).
                    if self.java_all
                        && self.java_scan.elapsed() >= std::time::Duration::from_secs(1)
                    {
                        self.java_scan = std::time::Instant::now();
                        for pid in live.targets() {
                            if self.java_seen.insert(pid) {
                                j.request(pid);
                            }
                        }
                    }
                }
                let mut ended = None;
                if let Some(child) = self.child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        // Whatever the command did last is already in the ring buffer.
                        live.poll(&mut events);
                        ended = Some(Ended::CommandExited(status.to_string()));
                    }
                }
                if ended.is_none() && self.end_without_targets && live.targets().next().is_none() {
                    live.poll(&mut events);
                    ended = Some(Ended::NoTargetsLeft);
                }
                ended
            }
            Source::Replay(reader) => {
                // A bounded batch per step keeps the UI responsive on large recordings.
                let mut ended = None;
                for _ in 0..4096 {
                    match reader.next() {
                        Some(Ok(ev)) => events.push(ev),
                        Some(Err(e)) => {
                            self.decode(&mut events, out)?;
                            return Err(e.into());
                        }
                        None => {
                            ended = Some(Ended::EndOfRecording);
                            break;
                        }
                    }
                }
                ended
            }
        };
        self.decode(&mut events, out)?;
        self.events = events;
        Ok(ended)
    }

    /// Waits up to `timeout` for more to take in: until the kernel wakes the reader (live), or
    /// just the time (replay, where the caller paces itself).
    pub fn wait(&self, timeout: std::time::Duration) {
        match &self.source {
            #[cfg(feature = "live")]
            Source::Live(live) => live.wait(timeout),
            Source::Replay(_) => std::thread::sleep(timeout),
        }
    }

    /// How many events the last [`Self::step`] took in: 0 once a live backlog is drained.
    pub fn last_batch(&self) -> usize {
        self.last_batch
    }

    fn decode(&mut self, events: &mut Vec<Event>, out: &mut Vec<Output>) -> Result<()> {
        let batch = std::mem::take(events);
        self.last_batch = batch.len();
        self.record_and_decode(batch, out)
    }

    fn record_and_decode(&mut self, batch: Vec<Event>, out: &mut Vec<Output>) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            for ev in &batch {
                w.write(ev)?;
            }
            if !batch.is_empty() {
                w.flush()?;
            }
        }
        let first = out.len();
        for ev in batch {
            self.last_ts = self.last_ts.max(ev.ts());
            self.pipeline.push(ev, out);
        }
        self.masked(out, first);
        Ok(())
    }

    /// The one place exchanges leave the session: everything downstream (the UI, its curl
    /// copies, the JSON lines, the OTLP spans) sees them masked, and each is exported once, here,
    /// whichever consumer reads `out`. `out[first..]` is what the pipeline just added.
    fn masked(&self, out: &mut [Output], first: usize) {
        if !self.mask && self.otlp.is_none() {
            return;
        }
        for o in out.iter_mut().skip(first) {
            if let Output::Exchange(x) = o {
                if self.mask {
                    capture::mask::mask_exchange(x);
                }
                if let Some(e) = &self.otlp {
                    e.export(x);
                }
            }
        }
    }

    /// Completes what every open connection holds (the capture's end, as seen by the decoder).
    pub fn complete_open(&mut self, out: &mut Vec<Output>) {
        let first = out.len();
        self.pipeline.finish(self.last_ts, out);
        self.masked(out, first);
    }

    /// Ends the capture: detaches (dropping the probes), completes open connections, closes the
    /// recording.
    pub fn finish(mut self, out: &mut Vec<Output>) -> Result<CaptureStats> {
        #[cfg(feature = "live")]
        if let Source::Live(live) = &mut self.source {
            let mut events = Vec::new();
            live.poll_final(&mut events);
            if let Some(j) = &self.java {
                j.drain(&mut events, usize::MAX);
            }
            self.record_and_decode(events, out)?;
        }
        let ts = self.last_ts;
        let first = out.len();
        self.pipeline.finish(ts, out);
        self.masked(out, first);
        if let Some(w) = self.writer.take() {
            w.finish().context("finishing the recording")?;
        }
        Ok(self.pipeline.stats())
    }

    pub fn stats(&self) -> CaptureStats {
        self.pipeline.stats()
    }

    /// Whether this session reads a recording rather than live probes.
    /// Called on the thread that will step a live session (and so drain the ring): gives it
    /// the drain's nice value. Best effort: without it the ring only has less slack under load.
    pub fn favour_this_thread(&self) {
        #[cfg(feature = "live")]
        if !self.is_replay() {
            let _ = capture::live::favour_this_thread();
        }
    }

    /// One line per JVM target dealt with since the last call (agent loaded, or why not).
    pub fn java_notes(&self) -> Vec<String> {
        #[cfg(feature = "live")]
        if let Some(j) = &self.java {
            return j.take_notes().into_iter().map(|n| n.text).collect();
        }
        Vec::new()
    }

    /// With Java agents: how many connected, and the connections refused or cut for bad
    /// frames (counted, never fatal). None without them.
    pub fn java_summary(&self) -> Option<String> {
        #[cfg(feature = "live")]
        if let Some(j) = &self.java {
            use std::sync::atomic::Ordering::Relaxed;
            let s = j.stats();
            return Some(format!(
                "apitop: java agents: {} connected, {} frames, {} plaintext bytes; {} connections refused (wrong peer or token), {} closed on a malformed frame",
                s.agents.load(Relaxed),
                s.frames.load(Relaxed),
                s.bytes.load(Relaxed),
                s.rejected.load(Relaxed),
                s.bad_frames.load(Relaxed),
            ));
        }
        None
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.source, Source::Replay(_))
    }
}

/// With `--java`: starts the agents' receiver and asks for each JVM among `pids`, waiting (up
/// to the attach timeouts) so that what became of them is printed before the capture starts.
/// Without it: one line for each JVM target saying how to get its TLS.
#[cfg(feature = "live")]
fn java_start(targets: &Targets, pids: &[u32]) -> Result<Option<capture::java::JavaAgents>> {
    let mut inspector = capture::procinfo::Inspector::new();
    let jvms: Vec<(u32, String, capture::java::JavaStatus)> = pids
        .iter()
        .filter_map(|&pid| {
            let info = inspector.process(pid).ok()?;
            Some((pid, info.comm, info.tls.java?))
        })
        .collect();
    if !targets.java {
        for (pid, comm, status) in &jvms {
            eprintln!(
                "apitop: pid {pid} ({comm}) is a JVM ({}): only its plain HTTP is captured; add --java to capture its TLS (loads apitop's agent into it)",
                status.describe()
            );
        }
        return Ok(None);
    }
    let jar = capture::java::find_agent_jar()?;
    let agents = capture::java::JavaAgents::start(jar, PathBuf::from("/proc/self/exe"))?;
    let asked: Vec<u32> = jvms.iter().map(|(pid, ..)| *pid).collect();
    for &pid in pids {
        agents.request(pid);
    }
    let wait = capture::java::attach::SOCKET_WAIT + capture::java::attach::COMMAND_TIMEOUT;
    for note in agents.wait_notes(&asked, wait * asked.len().max(1) as u32) {
        eprintln!("apitop: {}", note.text);
    }
    Ok(Some(agents))
}
