//! Headless output off the draining thread: JSON lines are handed over a buffer at a time to a
//! thread that writes them to stdout.
//!
//! Writing on the thread that drains the kernel ring tied capture to whoever reads stdout: a
//! pipe holds 64 KiB, less than one line with a 64 KiB body, so every line waited for the reader
//! (`wc`, `jq`, a script) to be scheduled, and a reader busy for a moment stopped the draining
//! while the ring filled and dropped records. Here the reader only stalls the writer thread; the
//! hand-over queue is bounded ([`QUEUE_BUFFERS`] buffers of about [`BUFFER_BYTES`]), and only a
//! reader slower than the traffic for longer than that queue lasts makes the draining wait (the
//! ring then fills and its drops are counted, as before).
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A buffer is handed over once it holds this much (or at the end of each drain).
pub const BUFFER_BYTES: usize = 256 << 10;
/// Buffers waiting for the writer at most: with [`BUFFER_BYTES`], ~16 MiB plus one line each.
pub const QUEUE_BUFFERS: usize = 64;
/// The stdout pipe is asked to hold this much (`F_SETPIPE_SZ`), so that a line with a large body
/// fits whole and the reader is woken once per buffer, not once per 64 KiB.
const PIPE_BYTES: libc::c_int = 1 << 20;

pub struct LineWriter {
    current: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    closed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LineWriter {
    /// Writes to this process's stdout.
    pub fn stdout() -> Self {
        grow_pipe(libc::STDOUT_FILENO);
        Self::new(std::io::stdout())
    }

    /// Writes to `out` from a thread of its own.
    pub fn new<W: Write + Send + 'static>(mut out: W) -> Self {
        let (full, todo) = sync_channel::<Vec<u8>>(QUEUE_BUFFERS);
        let (give_back, empty) = sync_channel::<Vec<u8>>(QUEUE_BUFFERS);
        let closed = Arc::new(AtomicBool::new(false));
        let gone = closed.clone();
        let thread = std::thread::Builder::new()
            .name("apitop-stdout".into())
            .spawn(move || {
                for mut buf in todo {
                    // Once the reader is gone, the rest is discarded (the capture is ending).
                    if !gone.load(Ordering::Relaxed)
                        && out.write_all(&buf).and_then(|_| out.flush()).is_err()
                    {
                        gone.store(true, Ordering::Relaxed);
                    }
                    buf.clear();
                    // A buffer that grew for one huge line is not kept.
                    if buf.capacity() <= 4 * BUFFER_BYTES {
                        let _ = give_back.try_send(buf);
                    }
                }
            })
            .ok();
        if thread.is_none() {
            // No thread: lines are never written; say so through `is_open`.
            closed.store(true, Ordering::Relaxed);
        }
        LineWriter {
            current: Vec::new(),
            full: Some(full),
            empty,
            closed,
            thread,
        }
    }

    /// The buffer to append complete lines to; call [`Self::line_done`] after each.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.current
    }

    /// Hands the buffer over once it is large enough.
    pub fn line_done(&mut self) {
        if self.current.len() >= BUFFER_BYTES {
            self.hand_over();
        }
    }

    /// Hands over whatever is buffered (the end of a drain: lines leave within one interval).
    pub fn flush(&mut self) {
        if !self.current.is_empty() {
            self.hand_over();
        }
    }

    /// False once stdout is closed (a reader that went away ends the capture quietly).
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }

    /// Writes everything handed over and waits for the writer thread to end.
    pub fn finish(mut self) {
        self.flush();
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn hand_over(&mut self) {
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUFFER_BYTES));
        let buf = std::mem::replace(&mut self.current, next);
        let Some(full) = &self.full else {
            return;
        };
        match full.try_send(buf) {
            Ok(()) => {}
            // The reader is behind by the whole queue: wait for room (the ring buffers meanwhile).
            Err(TrySendError::Full(buf)) => {
                let _ = full.send(buf);
            }
            Err(TrySendError::Disconnected(_)) => self.closed.store(true, Ordering::Relaxed),
        }
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Best effort: a pipe that cannot grow (not a pipe, or over `fs.pipe-max-size` without
/// CAP_SYS_RESOURCE) works as before.
fn grow_pipe(fd: libc::c_int) {
    // SAFETY: fcntl on a descriptor this process owns; F_SETPIPE_SZ fails harmlessly on others.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A writer that blocks until released, as a reader that is not reading.
    #[derive(Clone)]
    struct Stalled {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.got.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The producer goes on while the reader is stalled (up to the queue), and every line
    /// arrives, in order, once it reads again.
    #[test]
    fn a_stalled_reader_does_not_stall_the_producer_and_loses_nothing() {
        let w = Stalled {
            open: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
            got: Arc::new(Mutex::new(Vec::new())),
        };
        let mut lw = LineWriter::new(w.clone());
        let line = vec![b'x'; 70 << 10];
        let mut want = Vec::new();
        // Less than the queue holds: none of these may block, though nothing is being read.
        for i in 0..(QUEUE_BUFFERS - 2) * 3 {
            let b = lw.buffer();
            b.extend_from_slice(format!("{i} ").as_bytes());
            b.extend_from_slice(&line);
            b.push(b'\n');
            want.extend_from_slice(format!("{i} ").as_bytes());
            want.extend_from_slice(&line);
            want.push(b'\n');
            lw.line_done();
        }
        lw.flush();
        assert!(w.got.lock().unwrap().is_empty(), "the reader was stalled");
        let (lock, cv) = &*w.open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
        lw.finish();
        assert!(*w.got.lock().unwrap() == want, "every line, in order");
    }

    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_reader_is_reported() {
        let mut lw = LineWriter::new(Gone);
        lw.buffer().extend_from_slice(b"{}\n");
        lw.flush();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lw.is_open() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!lw.is_open());
    }
}
