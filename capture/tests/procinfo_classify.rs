//! Classifying real processes: spawn programs with known TLS stacks and check what `--list`
//! would say about them.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capture::procinfo::{format_list_line, Inspector, ProcError, ProcessInfo, TlsKind};

/// Kills and reaps the child when dropped, so failing tests leave nothing behind.
struct Guard(Child);

impl Guard {
    fn spawn(cmd: &mut Command) -> Option<Guard> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(Guard)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits until the exec has finished: `spawn` returns once the new program image replaced
    /// the old one, a moment before the kernel has set up its arguments (cmdline reads empty).
    fn started(self) -> Guard {
        let start = Instant::now();
        while capture::procinfo::comm(self.pid()).is_some()
            && std::fs::read(format!("/proc/{}/cmdline", self.pid()))
                .map(|c| c.is_empty())
                .unwrap_or(false)
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until the process is classified as `kind` (libraries load a moment after exec), then
/// returns its info; panics with the last classification after `timeout`.
fn wait_for_kind(ins: &mut Inspector, pid: u32, kind: TlsKind, timeout: Duration) -> ProcessInfo {
    let start = Instant::now();
    loop {
        let info = ins.process(pid).expect("process() on a live child");
        if info.tls.kind == kind {
            return info;
        }
        if start.elapsed() > timeout {
            panic!("pid {pid} not classified {kind:?} within {timeout:?}: {info:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn which(prog: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

const SSL_SYMBOLS: &[&str] = &["SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"];

#[test]
fn python_with_ssl_module_uses_shared_libssl() {
    if which("python3").is_none() {
        eprintln!("skipped: no python3");
        return;
    }
    let child =
        Guard::spawn(Command::new("python3").args(["-c", "import ssl, time; time.sleep(30)"]))
            .expect("spawn python3");
    let mut ins = Inspector::new();
    let info = wait_for_kind(
        &mut ins,
        child.pid(),
        TlsKind::OpenSslShared,
        Duration::from_secs(20),
    );
    assert!(info.tls.capturable);
    assert!(
        info.tls.reason.starts_with("openssl (libssl.so"),
        "reason: {}",
        info.tls.reason
    );
    assert!(
        info.cmdline.contains("import ssl"),
        "cmdline: {}",
        info.cmdline
    );
    assert!(format_list_line(&info).contains("openssl (libssl.so"));

    let objects = ins.objects_exporting(child.pid(), SSL_SYMBOLS).unwrap();
    let libssl = objects
        .iter()
        .find(|o| {
            o.path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("libssl.so")
        })
        .unwrap_or_else(|| panic!("no libssl among {objects:?}"));
    for sym in ["SSL_write", "SSL_read_ex"] {
        assert!(
            libssl.symbols.iter().any(|s| s == sym),
            "{sym} missing: {libssl:?}"
        );
    }
    assert!(libssl
        .open_path
        .starts_with(format!("/proc/{}/root/", child.pid())));
    assert!(libssl
        .open_path
        .ends_with(libssl.path.strip_prefix("/").unwrap()));
    // The path to attach to really is the mapped file.
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(&libssl.open_path).unwrap();
    assert_eq!(md.ino(), libssl.inode);
    // libcrypto is mapped too but exports no SSL_* functions.
    assert!(
        !objects
            .iter()
            .any(|o| o.path.to_string_lossy().contains("libcrypto")),
        "{objects:?}"
    );
}

#[test]
fn node_exports_openssl_from_its_executable() {
    let node = Path::new("/usr/bin/node");
    if !node.exists() {
        eprintln!("skipped: no /usr/bin/node");
        return;
    }
    // Independent check of the premise: node here has its own OpenSSL, exported.
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(node)
        .output();
    let Ok(nm) = nm else {
        eprintln!("skipped: no nm");
        return;
    };
    let exported = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .any(|l| l.ends_with(" SSL_write"));
    let child = Guard::spawn(Command::new(node).args(["-e", "setTimeout(()=>{},30000)"]))
        .expect("spawn node");
    let mut ins = Inspector::new();
    let (kind, reason) = if exported {
        (TlsKind::OpenSslInExe, "openssl (in executable)")
    } else {
        (TlsKind::OpenSslShared, "openssl (libssl.so")
    };
    let info = wait_for_kind(&mut ins, child.pid(), kind, Duration::from_secs(20));
    assert!(info.tls.reason.starts_with(reason), "{}", info.tls.reason);
    assert!(info.tls.capturable);
    assert_eq!(info.exe.as_deref(), Some(node));
    if exported {
        let objects = ins.objects_exporting(child.pid(), SSL_SYMBOLS).unwrap();
        let exe = objects
            .iter()
            .find(|o| o.path == node)
            .unwrap_or_else(|| panic!("node itself not among {objects:?}"));
        assert_eq!(exe.symbols, SSL_SYMBOLS);
    }
}

#[test]
fn sleep_has_no_tls() {
    let child = Guard::spawn(Command::new("sleep").arg("30"))
        .expect("spawn sleep")
        .started();
    let mut ins = Inspector::new();
    let info = ins.process(child.pid()).unwrap();
    assert_eq!(info.tls.kind, TlsKind::NoTls, "{info:?}");
    assert_eq!(info.tls.reason, "no TLS library");
    assert!(!info.tls.capturable);
    assert_eq!(info.comm, "sleep");
    assert_eq!(info.cmdline, "sleep 30");
    assert_eq!(info.ppid, std::process::id());
    // SAFETY: geteuid has no preconditions.
    assert_eq!(info.uid, unsafe { libc::geteuid() });
    assert!(ins
        .objects_exporting(child.pid(), SSL_SYMBOLS)
        .unwrap()
        .is_empty());
}

#[test]
fn java_is_jvm() {
    if which("java").is_none() {
        eprintln!("skipped: no java");
        return;
    }
    // Single-file source launch (Java 11+): no javac step, no class files.
    let dir = std::env::temp_dir().join(format!("apitop-java-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("Sleep.java");
    let ready = dir.join("ready");
    std::fs::write(
        &src,
        "public class Sleep { public static void main(String[] a) throws Exception {\n\
         java.nio.file.Files.writeString(java.nio.file.Path.of(a[0]), \"ready\");\n\
         Thread.sleep(30000); } }\n",
    )
    .unwrap();
    let child = Guard::spawn(Command::new("java").arg(&src).arg(&ready)).expect("spawn java");
    // Facts are read once main runs: a JVM still starting has no SIGQUIT handler yet, and is
    // rightly reported as not attachable until it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the JVM never ran main");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut ins = Inspector::new();
    let info = wait_for_kind(&mut ins, child.pid(), TlsKind::Jvm, Duration::from_secs(30));
    // A JVM's TLS is captured by loading apitop's agent (--java), which this one allows.
    let java = info.tls.java.clone().expect("a JVM has its Java facts");
    assert!(java.hotspot, "{java:?}");
    assert!(java.refusal.is_none(), "{java:?}");
    assert!(
        info.tls.reason.starts_with("Java ")
            && info.tls.reason.ends_with(": attachable (loads an agent)"),
        "{}",
        info.tls.reason
    );
    assert!(info.tls.capturable);
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A C program compiled here, so the exe-level classifications are tested independently of
/// what happens to be installed.
fn compile_c(name: &str, source: &str, extra: &[&str]) -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("apitop-cc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).ok()?;
    let exe = dir.join(name);
    let ok = Command::new("cc")
        .arg("-O0")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .args(extra)
        .status()
        .ok()?
        .success();
    ok.then_some(exe)
}

#[test]
fn compiled_programs_are_classified_by_their_executable() {
    let cases: &[(&str, &str, &[&str], TlsKind, &str)] = &[
        (
            "fakessl",
            "#include <unistd.h>\nint SSL_write(void *s, const void *b, int n) { return n; }\nint main(void) { sleep(30); return 0; }\n",
            &["-rdynamic"],
            TlsKind::OpenSslInExe,
            "openssl (in executable)",
        ),
        (
            "statictls",
            "#include <stdio.h>\n#include <unistd.h>\nconst char label[] = \"TLS_LABEL derived\";\nint main(void) { if (getpid() == 1) puts(label); sleep(30); return 0; }\n",
            &[],
            TlsKind::StaticNoSymbols,
            "static TLS without symbols (no SSL_read/SSL_write in .dynsym or .symtab) — not capturable",
        ),
        (
            "fakego",
            "#include <unistd.h>\n__attribute__((section(\".go.buildinfo\"), used)) const char bi[] = \"\\xff Go buildinf:\";\nint main(void) { sleep(30); return 0; }\n",
            &[],
            TlsKind::Go,
            // A fake: the build-info magic, but no function table to find crypto/tls in.
            "go (crypto/tls) — ",
        ),
    ];
    if which("cc").is_none() {
        eprintln!("skipped: no cc");
        return;
    }
    let mut ins = Inspector::new();
    for (name, source, extra, kind, reason) in cases {
        // Spliced in at run time so this test binary itself does not contain the marker.
        let source = source.replace("TLS_LABEL", &" 31slt".chars().rev().collect::<String>());
        let exe = compile_c(name, &source, extra).unwrap_or_else(|| panic!("cc {name} failed"));
        let child = Guard::spawn(&mut Command::new(&exe))
            .expect("spawn compiled program")
            .started();
        let info = ins.process(child.pid()).unwrap();
        assert_eq!(info.tls.kind, *kind, "{name}: {info:?}");
        if *kind == TlsKind::Go {
            assert!(info.tls.reason.starts_with(reason), "{name}: {info:?}");
        } else {
            assert_eq!(info.tls.reason, *reason);
        }
        assert_eq!(info.tls.capturable, *kind == TlsKind::OpenSslInExe);
        drop(child);
        let _ = std::fs::remove_dir_all(exe.parent().unwrap());
    }
}

#[test]
fn list_shows_user_processes_sorted_and_served_from_the_cache_again() {
    let child = Guard::spawn(Command::new("sleep").arg("30"))
        .expect("spawn sleep")
        .started();
    let mut ins = Inspector::new();
    let list = ins.list();
    let first = ins.files_analysed();
    assert!(first > 0, "the first listing analysed no file");
    assert!(list.windows(2).all(|w| w[0].pid < w[1].pid));
    let me = list
        .iter()
        .find(|p| p.pid == std::process::id())
        .expect("own process listed");
    assert_eq!(
        me.tls.kind,
        TlsKind::NoTls,
        "apitop's own binary must not look like TLS: {me:?}"
    );
    let sleep = list
        .iter()
        .find(|p| p.pid == child.pid())
        .expect("child listed");
    assert_eq!(sleep.tls.reason, "no TLS library");
    assert!(list
        .iter()
        .all(|p| !(p.cmdline.is_empty() && p.exe.is_none())));
    // A process seen once is answered from the cache: no file is read again. (How long listings
    // take is printed by `cargo bench -p capture --bench timings`.)
    let before = ins.files_analysed();
    let again = ins.process(child.pid()).expect("child still there");
    assert_eq!(again.tls.reason, "no TLS library");
    assert_eq!(
        ins.files_analysed(),
        before,
        "a cached process was analysed again"
    );
    // So is a whole listing, once no new program started in between (on a busy machine one may
    // have: a listing that analysed nothing must come within a few tries).
    let mut tries = Vec::new();
    while tries.len() < 20 {
        let before = ins.files_analysed();
        assert!(!ins.list().is_empty());
        let read = ins.files_analysed() - before;
        tries.push(read);
        if read == 0 {
            break;
        }
    }
    assert_eq!(
        tries.last(),
        Some(&0),
        "every repeated listing analysed files again (first listing: {first}, then {tries:?})"
    );
}

#[test]
fn zombies_are_exited_and_not_listed() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    let start = Instant::now();
    while capture::procinfo::is_alive(pid) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut ins = Inspector::new();
    let info = ins.process(pid).expect("zombie still has a /proc entry");
    assert_eq!(info.tls.reason, "exited");
    assert!(!ins.list().iter().any(|p| p.pid == pid));
    child.wait().unwrap();
}

#[test]
fn vanished_processes_are_errors_not_panics() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let mut ins = Inspector::new();
    assert!(matches!(ins.process(pid), Err(ProcError::NoSuchProcess(p)) if p == pid));
    assert!(matches!(
        ins.objects_exporting(pid, SSL_SYMBOLS),
        Err(ProcError::NoSuchProcess(_))
    ));
    let msg = ins.process(pid).unwrap_err().to_string();
    assert!(
        msg.contains(&pid.to_string()) && msg.contains("--list"),
        "{msg}"
    );

    // Processes coming and going while listing.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = Command::new("sh")
                    .args(["-c", "true"])
                    .stdout(Stdio::null())
                    .status();
            }
        })
    };
    for _ in 0..30 {
        let list = ins.list();
        for p in list.iter().take(5) {
            let _ = ins.objects_exporting(p.pid, SSL_SYMBOLS);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}
