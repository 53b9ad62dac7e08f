//! HAR 1.2 export (`--har FILE`, and the UI's export of what it holds).
//!
//! The file is written as exchanges complete: the head (`{"log":{"version":"1.2",...,
//! "entries":[`) first, then one entry per line, then `]}}` when the capture ends. A headless
//! run that is killed leaves every entry written so far; closing the array and the two objects
//! by hand makes it whole. Exchanges arrive here already masked when masking is on (the
//! session masks everything it hands out), so the file holds what `--json` would print.
mod entry;
mod fields;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use capture::exchange::Exchange;
use capture::handoff::Handoff;
use capture::safe_create::{self, Invoker};

pub use entry::{http_version, time_ms, timings, Entry, Timings};

/// Writes a HAR document to `W` entry by entry.
pub struct HarWriter<W: Write> {
    out: W,
    entries: usize,
    buf: Vec<u8>,
}

impl<W: Write> HarWriter<W> {
    /// Writes the document's head.
    pub fn new(mut out: W) -> Result<Self> {
        let creator = serde_json::json!({
            "name": "apitop",
            "version": env!("CARGO_PKG_VERSION"),
        });
        let head = format!("{{\"log\":{{\"version\":\"1.2\",\"creator\":{creator},\"entries\":[");
        out.write_all(head.as_bytes())
            .context("writing the HAR head")?;
        Ok(HarWriter {
            out,
            entries: 0,
            buf: Vec::new(),
        })
    }

    /// Appends one exchange as an entry, on a line of its own.
    pub fn entry(&mut self, x: &Exchange) -> Result<()> {
        self.buf.clear();
        if self.entries > 0 {
            self.buf.push(b',');
        }
        self.buf.push(b'\n');
        serde_json::to_writer(&mut self.buf, &Entry::new(x)).context("serializing a HAR entry")?;
        self.out
            .write_all(&self.buf)
            .context("writing a HAR entry")?;
        self.entries += 1;
        Ok(())
    }

    /// Entries written so far.
    pub fn entries(&self) -> usize {
        self.entries
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().context("writing the HAR file")
    }

    /// Closes the entries array and the document; returns the output and the entry count.
    pub fn finish(mut self) -> Result<(W, usize)> {
        self.out
            .write_all(b"\n]}}\n")
            .and_then(|_| self.out.flush())
            .context("finishing the HAR file")?;
        Ok((self.out, self.entries))
    }
}

/// A HAR file written by a thread of its own (see [`Handoff`]): a slow disk does not hold up
/// the draining of the ring buffer, as for recordings (`-w`).
pub struct HarFile {
    out: Handoff,
    path: String,
}

impl HarFile {
    /// Creates `path` as recordings are created (mode 0600, no symlink followed, no one else's
    /// file overwritten, given to the sudo user): it holds decrypted traffic.
    pub fn create(path: &Path) -> Result<Self> {
        let file = safe_create::create(path, Invoker::current())
            .with_context(|| format!("creating the HAR file {}", path.display()))?;
        Ok(HarFile {
            out: Handoff::new("apitop-har", file),
            path: path.display().to_string(),
        })
    }

    fn failed(&self) -> std::io::Result<()> {
        match self.out.error() {
            Some((kind, text)) => Err(std::io::Error::new(kind, format!("{}: {text}", self.path))),
            None => Ok(()),
        }
    }

    /// Waits until everything is written; the first write error, if any.
    pub fn close(self) -> Result<()> {
        let path = self.path;
        self.out
            .finish()
            .with_context(|| format!("writing the HAR file {path}"))
    }
}

impl Write for HarFile {
    /// Appends to the hand-over buffer; a write error of the writer thread is reported here
    /// from then on.
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.failed()?;
        self.out.buffer().extend_from_slice(b);
        self.out.item_done();
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush();
        self.failed()
    }
}

/// `--har FILE`: the file created and its head written.
pub fn create(path: &Path) -> Result<HarWriter<HarFile>> {
    HarWriter::new(HarFile::create(path)?)
}

/// Finishes a file made by [`create`]; returns how many entries it holds.
pub fn close(w: HarWriter<HarFile>) -> Result<usize> {
    let (file, n) = w.finish()?;
    file.close()?;
    Ok(n)
}

/// Writes `exchanges` to `path` as one HAR document (created as [`HarFile::create`] does);
/// returns the number of entries.
pub fn write_har<'a>(path: &Path, exchanges: impl Iterator<Item = &'a Exchange>) -> Result<usize> {
    let file = safe_create::create(path, Invoker::current())
        .with_context(|| format!("creating the HAR file {}", path.display()))?;
    let mut w = HarWriter::new(std::io::BufWriter::new(file))?;
    for x in exchanges {
        w.entry(x)?;
    }
    let (_, n) = w.finish()?;
    Ok(n)
}
