//! `w`: writing exchanges from the UI to a file, by its extension. Runs off the UI thread.
use std::path::Path;

use capture::exchange::Exchange;

/// Writes `exchanges` to `path`; the text says what was written, or why nothing was.
pub fn write(path: &Path, exchanges: &[Exchange]) -> Result<String, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("har") => Err(format!(
            "{}: HAR writing is not built in yet ({} exchanges)",
            path.display(),
            exchanges.len()
        )),
        _ => Err(format!(
            "{}: unknown kind of file: name it .har (a recording of everything: -w FILE)",
            path.display()
        )),
    }
}
