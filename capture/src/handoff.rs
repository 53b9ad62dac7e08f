//! Output off the draining thread: what the capture writes (headless JSON lines, a recording) is
//! handed over a buffer at a time to a thread that does the writing.
//!
//! Writing on the thread that drains the kernel ring tied capture to whoever reads the output: a
//! pipe holds 64 KiB, less than one JSON line with a 64 KiB body, so every line waited for the
//! reader (`wc`, `jq`, a script) to be scheduled, and a reader or a disk busy for a moment stopped
//! the draining while the ring filled and dropped records. Here they only stall the writer
//! thread; the hand-over queue is bounded ([`QUEUE_BUFFERS`] buffers of about [`BUFFER_BYTES`]),
//! and only output slower than the traffic for longer than that queue lasts makes the draining
//! wait (the ring then fills and its drops are counted, as before).
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A buffer is handed over once it holds this much (or at the end of each drain).
pub const BUFFER_BYTES: usize = 256 << 10;
/// Buffers waiting for the writer at most: with [`BUFFER_BYTES`], ~16 MiB plus one line each.
pub const QUEUE_BUFFERS: usize = 64;
/// Writes what it is handed on a thread of its own (see the module doc).
pub struct Handoff {
    current: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    /// The first write error; nothing more is written after it.
    failed: Arc<Mutex<Option<std::io::Error>>>,
    thread: Option<JoinHandle<()>>,
}

impl Handoff {
    /// Writes to `out` from a thread named `name`.
    pub fn new<W: Write + Send + 'static>(name: &str, mut out: W) -> Self {
        let (full, todo) = sync_channel::<Vec<u8>>(QUEUE_BUFFERS);
        let (give_back, empty) = sync_channel::<Vec<u8>>(QUEUE_BUFFERS);
        let failed = Arc::new(Mutex::new(None));
        let error = failed.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for mut buf in todo {
                    // After an error (the reader gone, the disk full) the rest is discarded:
                    // the capture is being ended with that error.
                    let ok = error.lock().map(|e| e.is_none()).unwrap_or(false);
                    if ok {
                        if let Err(e) = out.write_all(&buf).and_then(|_| out.flush()) {
                            if let Ok(mut slot) = error.lock() {
                                *slot = Some(e);
                            }
                        }
                    }
                    buf.clear();
                    // A buffer that grew for one huge line is not kept.
                    if buf.capacity() <= 4 * BUFFER_BYTES {
                        let _ = give_back.try_send(buf);
                    }
                }
            });
        if let Err(e) = &thread {
            if let Ok(mut slot) = failed.lock() {
                *slot = Some(std::io::Error::new(
                    e.kind(),
                    format!("no writer thread: {e}"),
                ));
            }
        }
        Handoff {
            current: Vec::new(),
            full: Some(full),
            empty,
            failed,
            thread: thread.ok(),
        }
    }

    /// The buffer to append complete items (lines, records) to; call [`Self::item_done`] after
    /// each.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.current
    }

    /// Hands the buffer over once it is large enough.
    pub fn item_done(&mut self) {
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

    /// The first write error so far, as its kind and text (the error stays for `finish`).
    pub fn error(&self) -> Option<(std::io::ErrorKind, String)> {
        let slot = self.failed.lock().ok()?;
        slot.as_ref().map(|e| (e.kind(), e.to_string()))
    }

    /// Writes everything handed over, waits for the writer thread to end and returns the first
    /// write error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush();
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        match self.failed.lock().map(|mut e| e.take()) {
            Ok(Some(e)) => Err(e),
            _ => Ok(()),
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
            // The thread is gone, so its error (or its failure to start) is already recorded.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
        let mut lw = Handoff::new("test", w.clone());
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
            lw.item_done();
        }
        lw.flush();
        assert!(w.got.lock().unwrap().is_empty(), "the reader was stalled");
        let (lock, cv) = &*w.open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
        lw.finish().unwrap();
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
    fn a_write_error_is_reported_and_kept_for_finish() {
        let mut lw = Handoff::new("test", Gone);
        lw.buffer().extend_from_slice(b"{}\n");
        lw.flush();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lw.error().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(
            lw.error().map(|e| e.0),
            Some(std::io::ErrorKind::BrokenPipe)
        );
        let err = lw
            .finish()
            .expect_err("the error is returned at the end too");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }
}
