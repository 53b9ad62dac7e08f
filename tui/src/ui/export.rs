//! `w` and `b`: writing exchanges (HAR or a recording, by the file's extension) or a body
//! from the UI to a file. Runs off the UI thread.
//! Files are created the way recordings are (`capture::safe_create`): never through a symlink,
//! never over another user's file, and under sudo owned by the invoking user.
use std::io::Write;
use std::path::Path;

use capture::exchange::Exchange;

/// Writes `exchanges` to `path`; the text says what was written, or why nothing was.
pub fn write(path: &Path, exchanges: &[Exchange]) -> Result<String, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("har") => crate::har::write_har(path, exchanges.iter())
            .map(|n| format!("wrote {n} exchanges to {}", path.display()))
            .map_err(|e| format!("{e:#}")),
        Some("apitop") => match super::recording_out::write_recording(path, exchanges) {
            Ok((n, 0)) => Ok(format!("wrote {n} exchanges to {}", path.display())),
            Ok((n, left)) => Ok(format!(
                "wrote {n} exchanges to {} ({left} without a request line left out)",
                path.display()
            )),
            Err(e) => Err(format!("{e:#}")),
        },
        _ => Err(format!(
            "{}: unknown kind of file: name it .har (HAR 1.2) or .apitop (a recording for -r)",
            path.display()
        )),
    }
}

/// Saves a body's bytes (as displayed: content-decoded) to `path`.
pub fn save_body(path: &Path, bytes: &[u8]) -> Result<String, String> {
    let shown = path.display();
    let mut f = capture::safe_create::create(path, capture::safe_create::Invoker::current())
        .map_err(|e| e.to_string())?;
    f.write_all(bytes)
        .and_then(|()| f.flush())
        .map_err(|e| format!("{shown}: {e}"))?;
    Ok(format!("saved {} bytes to {shown}", bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_saved_as_its_bytes_and_never_through_a_symlink() {
        let dir = std::env::temp_dir().join(format!("apitop-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("body.bin");
        let bytes = [0u8, 0xff, b'{', b'\n'];
        let said = save_body(&path, &bytes).unwrap();
        assert!(said.contains("4 bytes"), "{said}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = save_body(&link, b"x").unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "target untouched");
        let err = write(&dir.join("out.txt"), &[]).unwrap_err();
        assert!(err.contains(".har") && err.contains(".apitop"), "{err}");
        let x = *crate::ui::testing::ex(7, "api.test", "/a", 10, 0);
        let said = write(&dir.join("two.HAR"), &[x.clone(), x]).unwrap();
        assert!(said.starts_with("wrote 2 exchanges"), "{said}");
        let har: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("two.HAR")).unwrap()).unwrap();
        assert_eq!(har["log"]["entries"].as_array().map(Vec::len), Some(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
