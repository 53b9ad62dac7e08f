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
        self.record_and_decode(vec![ev], out)
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

    pub fn is_replay(&self) -> bool {
        matches!(self.source, Source::Replay(_))
    }
}
