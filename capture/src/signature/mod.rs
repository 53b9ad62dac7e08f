//! TLS libraries found by their machine code when the object has no symbols for them.
//!
//! Static BoringSSL (gRPC's Python wheel, Envoy, netty-tcnative builds) is usually stripped:
//! `SSL_read`/`SSL_write` have no name. [`boringssl`] finds them from the error-reporting calls
//! BoringSSL keeps in every build, [`functions`] bounds functions by the unwind table. The result
//! of a scan is cached by file identity ([`cached`]), since the picker classifies processes
//! every second and a scan reads the whole object (17 MB for gRPC's `cygrpc`).

pub mod boringssl;
pub mod functions;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Scans kept (a result is a few hundred bytes at most, so ~1 MiB in all): more distinct large
/// objects than every process of a busy host maps, so the picker's listing every second never
/// reads a file twice.
const CACHE_ENTRIES: usize = 4096;

/// A file's identity: a rewritten or replaced file gets a new scan.
type FileId = (u64, u64, u64, i64, i64);

fn file_id(path: &Path) -> std::io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

/// A scan's outcome, shared between the cache and its callers.
pub type Scan = Arc<Result<boringssl::Found, String>>;

/// The BoringSSL scan of the object at `path`, from the cache when this file was scanned before.
pub fn cached(path: &Path) -> Scan {
    static CACHE: OnceLock<Mutex<HashMap<FileId, Scan>>> = OnceLock::new();
    let id = match file_id(path) {
        Ok(id) => id,
        Err(e) => return Arc::new(Err(format!("{}: {e}", path.display()))),
    };
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return hit.clone();
    }
    let result = Arc::new(scan(path));
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CACHE_ENTRIES {
        // Full: forget half (arbitrary ones), not all, so a large working set is not re-read.
        let drop: Vec<FileId> = map.keys().take(CACHE_ENTRIES / 2).copied().collect();
        for k in drop {
            map.remove(&k);
        }
    }
    map.insert(id, result.clone());
    result
}

/// BoringSSL's source file of `SSL_read`/`SSL_write` as its error calls name it, NUL included,
/// stored reversed: apitop's own binary must not contain the name, or apitop would find
/// "BoringSSL" in itself (the static-TLS markers of `procinfo::elf` are kept the same way).
const SSL_LIB_FILE_REVERSED: &[u8] = b"\0cc.bil_lss/lss";

/// `ssl/ssl_lib.cc` and its NUL, the right way round.
pub(crate) fn ssl_lib_file() -> &'static [u8] {
    static NAME: OnceLock<Vec<u8>> = OnceLock::new();
    NAME.get_or_init(|| SSL_LIB_FILE_REVERSED.iter().rev().copied().collect())
}

/// Objects larger than this are not scanned (the scan holds the whole file in memory).
pub const MAX_SCAN_BYTES: u64 = 512 << 20;
/// What [`scan`] says of an object without BoringSSL's file name: not an error to show.
pub const NOT_BORINGSSL: &str = "no boringssl ssl_lib.cc error strings";

/// Reads and scans the object at `path` (no cache). Objects without BoringSSL's `ssl_lib.cc`
/// string are told apart by a streaming search first, in 4 MiB pieces: most objects a process
/// maps are not BoringSSL, and they are never held in memory whole.
pub fn scan(path: &Path) -> Result<boringssl::Found, String> {
    let shown = || path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", shown()))?
        .len();
    if !contains(path, ssl_lib_file()).map_err(|e| format!("{}: {e}", shown()))? {
        return Err(format!(
            "{NOT_BORINGSSL} (not boringssl, or built without them)"
        ));
    }
    if len > MAX_SCAN_BYTES {
        return Err(format!(
            "{} MiB, more than the {} MiB apitop scans",
            len >> 20,
            MAX_SCAN_BYTES >> 20
        ));
    }
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", shown()))?;
    let image = boringssl::Image::from_elf(&data)?;
    boringssl::find(&image)
}

/// Whether the file at `path` contains `needle`, read in pieces.
fn contains(path: &Path, needle: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    const PIECE: usize = 4 << 20;
    let mut f = std::fs::File::open(path)?;
    let finder = memchr::memmem::Finder::new(needle);
    let keep = needle.len() - 1;
    let mut buf = vec![0u8; PIECE + keep];
    // Bytes carried over from the previous piece (a match may straddle two).
    let mut carried = 0;
    loop {
        let n = f.read(&mut buf[carried..])?;
        if n == 0 {
            return Ok(false);
        }
        let have = carried + n;
        if finder.find(&buf[..have]).is_some() {
            return Ok(true);
        }
        carried = keep.min(have);
        buf.copy_within(have - carried..have, 0);
    }
}
