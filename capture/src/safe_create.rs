//! Creating the recording file (`-w`) safely while running as root. The path is the user's
//! choice and may lie in a directory others can write (`/tmp`): root must not be tricked into
//! following a symlink, or into truncating a file that belongs to someone else or that other
//! names link to. Every check is made on the opened descriptor, so nothing can be swapped in
//! between the check and the write.
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Whose recording it is: who may already own the file, and who it is handed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invoker {
    /// Besides root, the one owner an existing file may have to be overwritten.
    pub uid: u32,
    /// Under sudo, the user and group the file is given to, so that `apitop -r FILE` works
    /// without root afterwards.
    pub chown_to: Option<(u32, u32)>,
}

impl Invoker {
    /// From the effective uid and the values of `SUDO_UID` and `SUDO_GID`. They are arguments,
    /// not read here, so tests need not change the process environment. Values that are not
    /// numbers are ignored (as if not under sudo): the file then stays root's, which is safe.
    pub fn from_values(euid: u32, sudo_uid: Option<&OsStr>, sudo_gid: Option<&OsStr>) -> Self {
        let number = |v: Option<&OsStr>| v?.to_str()?.parse::<u32>().ok();
        if euid != 0 {
            // Not root: sudo's variables may be stale leftovers of an outer shell.
            return Invoker {
                uid: euid,
                chown_to: None,
            };
        }
        match (number(sudo_uid), number(sudo_gid)) {
            (Some(uid), Some(gid)) if uid != 0 => Invoker {
                uid,
                chown_to: Some((uid, gid)),
            },
            _ => Invoker {
                uid: 0,
                chown_to: None,
            },
        }
    }

    /// This process's invoker.
    pub fn current() -> Self {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        Invoker::from_values(
            euid,
            std::env::var_os("SUDO_UID").as_deref(),
            std::env::var_os("SUDO_GID").as_deref(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}: is a symbolic link; apitop does not write through one (remove it or choose another path)")]
    Symlink(String),
    #[error(
        "{path}: is {kind}, not a regular file; apitop writes recordings only to regular files"
    )]
    NotRegular { path: String, kind: &'static str },
    #[error(
        "{path}: has {links} hard links; apitop does not overwrite a file that other names share"
    )]
    HardLinked { path: String, links: u64 },
    #[error("{path}: is owned by uid {owner}, not by you (uid {expected}) or root; apitop does not overwrite it")]
    Owner {
        path: String,
        owner: u32,
        expected: u32,
    },
    #[error("{path}: {action}: {source}")]
    Io {
        path: String,
        action: &'static str,
        source: io::Error,
    },
}

/// Opens `path` for writing a recording: created with mode 0600 if absent; an existing file is
/// emptied only if it is a regular file with one link, owned by root or by `who.uid`. Under
/// sudo the file is then given to the invoking user.
pub fn create(path: &Path, who: Invoker) -> Result<File, CreateError> {
    let shown = path.display().to_string();
    let io_err = |action, source| CreateError::Io {
        path: shown.clone(),
        action,
        source,
    };
    // No O_TRUNC: whether the file may be emptied is decided after looking at it. O_NONBLOCK
    // keeps a FIFO planted at the path from blocking the open (regular files ignore the flag);
    // O_NOCTTY keeps a terminal device from becoming ours. std adds O_CLOEXEC.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            let symlink = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            // O_NOFOLLOW reports a symlink as ELOOP; the lstat only picks the message.
            if e.raw_os_error() == Some(libc::ELOOP) && symlink {
                CreateError::Symlink(shown.clone())
            } else {
                io_err("opening for writing", e)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| io_err("reading its status", e))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(CreateError::NotRegular {
            path: shown,
            kind: describe(&kind),
        });
    }
    if meta.nlink() != 1 {
        return Err(CreateError::HardLinked {
            path: shown,
            links: meta.nlink(),
        });
    }
    if meta.uid() != 0 && meta.uid() != who.uid {
        return Err(CreateError::Owner {
            path: shown,
            owner: meta.uid(),
            expected: who.uid,
        });
    }
    file.set_len(0).map_err(|e| io_err("emptying it", e))?;
    // An existing file keeps its mode on open: it holds decrypted traffic, so tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err("setting its mode to 0600", e))?;
    if let Some((uid, gid)) = who.chown_to {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| io_err("giving it to the user who ran sudo", e))?;
    }
    Ok(file)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("apitop-safe-create-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn me() -> Invoker {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        Invoker {
            uid,
            chown_to: None,
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn symlink_is_refused_and_its_target_untouched() {
        let d = dir("symlink");
        let target = d.join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let link = d.join("trace.apitop");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = create(&link, me()).unwrap_err();
        assert!(matches!(err, CreateError::Symlink(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}: ", link.display())), "{msg}");
        assert!(msg.contains("symbolic link"), "{msg}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        // A dangling symlink must not create its target either.
        let dangling = d.join("dangling");
        std::os::unix::fs::symlink(d.join("made-by-root"), &dangling).unwrap();
        assert!(matches!(
            create(&dangling, me()),
            Err(CreateError::Symlink(_))
        ));
        assert!(!d.join("made-by-root").exists());
    }

    #[test]
    fn hard_linked_file_is_refused() {
        let d = dir("hardlink");
        let other = d.join("other");
        std::fs::write(&other, "shared").unwrap();
        let path = d.join("trace.apitop");
        std::fs::hard_link(&other, &path).unwrap();
        let err = create(&path, me()).unwrap_err();
        assert!(
            matches!(err, CreateError::HardLinked { links: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("2 hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "shared");
    }

    #[test]
    fn own_file_is_emptied_rewritten_and_made_0600() {
        use std::io::Write;
        let d = dir("own");
        let path = d.join("trace.apitop");
        std::fs::write(&path, "an older, longer recording").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = create(&path, me()).unwrap();
        f.write_all(b"new").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }

    #[test]
    fn new_file_is_created_0600() {
        let d = dir("new");
        let path = d.join("trace.apitop");
        create(&path, me()).unwrap();
        let m = std::fs::metadata(&path).unwrap();
        assert!(m.is_file());
        assert_eq!(m.permissions().mode() & 0o7777, 0o600);
    }

    #[test]
    fn special_files_are_refused() {
        let err = create(Path::new("/dev/null"), me()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/dev/null: is a character device, not a regular file"),
            "{err}"
        );
        let d = dir("special");
        assert!(create(&d, me()).is_err(), "a directory was opened");
    }

    /// Needs root to give a file to another user; as root (how apitop records) it runs.
    #[test]
    fn file_of_another_user_is_refused_untouched() {
        if !is_root() {
            eprintln!("SKIPPED file_of_another_user_is_refused_untouched: not root");
            return;
        }
        let d = dir("owner");
        let path = d.join("trace.apitop");
        std::fs::write(&path, "theirs").unwrap();
        std::os::unix::fs::chown(&path, Some(4242), Some(4242)).unwrap();
        let sudo = Invoker {
            uid: 1000,
            chown_to: Some((1000, 1000)),
        };
        let err = create(&path, sudo).unwrap_err();
        assert!(
            matches!(
                err,
                CreateError::Owner {
                    owner: 4242,
                    expected: 1000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), 4242);
        // The same file is the invoking user's own when 4242 ran sudo.
        let owner = Invoker {
            uid: 4242,
            chown_to: Some((4242, 4242)),
        };
        create(&path, owner).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn under_sudo_the_file_goes_to_the_invoking_user() {
        if !is_root() {
            eprintln!("SKIPPED under_sudo_the_file_goes_to_the_invoking_user: not root");
            return;
        }
        let d = dir("sudo");
        let path = d.join("trace.apitop");
        let who = Invoker::from_values(0, Some(OsStr::new("1234")), Some(OsStr::new("5678")));
        create(&path, who).unwrap();
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
        // A root-owned leftover (an older apitop's) is taken over and handed over too.
        let old = d.join("old.apitop");
        std::fs::write(&old, "old").unwrap();
        create(&old, who).unwrap();
        let m = std::fs::metadata(&old).unwrap();
        assert_eq!((m.uid(), m.gid(), m.len()), (1234, 5678, 0));
    }

    #[test]
    fn invoker_from_sudo_variables() {
        let v = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            Invoker::from_values(0, v("1000"), v("1001")),
            Invoker {
                uid: 1000,
                chown_to: Some((1000, 1001))
            }
        );
        let root = Invoker {
            uid: 0,
            chown_to: None,
        };
        assert_eq!(Invoker::from_values(0, None, None), root);
        assert_eq!(Invoker::from_values(0, v("1000"), None), root);
        assert_eq!(Invoker::from_values(0, v("alice"), v("1001")), root);
        assert_eq!(Invoker::from_values(0, v("1000"), v("-1")), root);
        assert_eq!(Invoker::from_values(0, v("0"), v("0")), root);
        // Not root: the variables are someone else's leftovers.
        assert_eq!(
            Invoker::from_values(1000, v("2000"), v("2000")),
            Invoker {
                uid: 1000,
                chown_to: None
            }
        );
    }
}
