//! Shared by the `golang_table_*` tests: the functions they look up, `GoBinary::open` on them,
//! scratch copies of binaries, and the ELF edits and file offsets both files need.

use std::path::{Path, PathBuf};

use capture::golang::GoBinary;
use object::{Object, ObjectSegment};

pub const WRITE: &str = "crypto/tls.(*Conn).Write";
pub const READ: &str = "crypto/tls.(*Conn).Read";
pub const CLOSE: &str = "crypto/tls.(*Conn).Close";
pub const MEMMOVE: &str = "runtime.memmove";
pub const NAMES: [&str; 4] = [WRITE, READ, CLOSE, MEMMOVE];

/// A scratch file, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str, bytes: &[u8]) -> Scratch {
        // One directory per file: tests run in parallel, and a shared one could be removed by
        // another test's drop between this one's create_dir_all and its write.
        let dir =
            std::env::temp_dir().join(format!("apitop-golang-table-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the scratch directory");
        let path = dir.join(tag);
        std::fs::write(&path, bytes).expect("writing a scratch file");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

pub fn open(path: &Path) -> GoBinary {
    GoBinary::open(path, &NAMES).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ELF header with e_shoff, e_shnum and e_shstrndx zeroed: no section headers.
pub fn without_section_headers(mut elf: Vec<u8>) -> Vec<u8> {
    elf[0x28..0x30].fill(0);
    elf[0x3c..0x40].fill(0);
    elf
}

/// File offset of `vaddr` by the file's segments, computed with `object`.
pub fn file_offset_by_object(file: &object::File, vaddr: u64) -> Option<u64> {
    file.segments().find_map(|seg| {
        let (off, size) = seg.file_range();
        let rel = vaddr.checked_sub(seg.address())?;
        (rel < size).then_some(off + rel)
    })
}
