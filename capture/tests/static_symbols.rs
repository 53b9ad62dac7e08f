//! OpenSSL found through `.symtab` and through `/proc/PID/map_files/`, on real files: a client
//! statically linked against Debian's libssl.a (built here), the same after `strip`, the system's
//! libssl.so.3, and a process running a copy of libssl.so.3 it unlinked after `dlopen`.
//!
//! Skips with a printed reason when gcc or libssl-dev is missing (or, for map_files, when not
//! root), unless `APITOP_REQUIRE_EBPF=1`.
#[path = "../../tests/support/tls_build.rs"]
mod tls_build;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use capture::placement::plan_object;
use capture::procinfo::{
    elf_defines, elf_exports, static_tls_library, static_tls_marker, Inspector, SymTable, TlsKind,
};
use tls_build::*;

const DATA: [&str; 4] = ["SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex"];

fn skip(test: &str, why: &str) -> bool {
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {why}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {why}");
    true
}

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A fresh directory for one test's builds.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("apitop-static-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Function symbol → address, from `nm` (an independent reading of the same table).
fn nm(path: &Path, dynamic: bool) -> Vec<(String, u64)> {
    let mut cmd = Command::new("nm");
    if dynamic {
        cmd.arg("-D");
    }
    let out = cmd.arg("--defined-only").arg(path).output().expect("nm");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            // `nm -D` prints versioned names: `SSL_read@@OPENSSL_3.0.0`.
            let name = f.next()?.split('@').next()?;
            (kind == "T" || kind == "t").then(|| (name.to_string(), addr))
        })
        .collect()
}

#[test]
fn static_openssl_is_found_in_symtab_and_placed() {
    if let Some(why) = missing_prerequisite() {
        skip("static_openssl_is_found_in_symtab_and_placed", &why);
        return;
    }
    let d = dir("placed");
    let exe = build_static(&d);
    for name in DATA {
        assert_eq!(elf_defines(&exe, name), Some(SymTable::Symtab), "{name}");
        // Not exported: a lookup in .dynsym alone (what apitop did before) finds nothing.
        assert!(!elf_exports(&exe, name), "{name}");
    }
    let syms = nm(&exe, false);
    let addr = |n: &str| syms.iter().find(|(s, _)| s == n).map(|(_, a)| *a).unwrap();
    let pairs = plan_object(&exe).expect("placing probes in the static client");
    // Both directions, each placed by the same rules as in libssl.so.3.
    assert!(pairs.iter().any(|p| p.write), "{pairs:?}");
    assert!(pairs.iter().any(|p| !p.write), "{pairs:?}");
    let system = plan_object(Path::new(LIBSSL_SO)).expect("placing probes in libssl.so.3");
    assert_eq!(pairs.len(), system.len(), "{pairs:?}\n{system:?}");
    eprintln!("static: {}", capture::placement::describe(&pairs));
    eprintln!("libssl.so.3: {}", capture::placement::describe(&system));
    for (p, s) in pairs.iter().zip(&system) {
        assert_eq!((p.write, p.placement.abi), (s.write, s.placement.abi));
        // The same instruction chosen, by the same rule (only the addresses differ).
        assert_eq!(
            without_addrs(&p.placement.what),
            without_addrs(&s.placement.what),
            "{p:?} vs {s:?}"
        );
        // Wherever the site is, it is a function of the symbol table: an entry (SSL_write+0,
        // or after endbr64), or the internal function both wrappers call (`callee@0x…`).
        let what = &p.placement.what;
        let func = match what.strip_prefix("callee@0x") {
            Some(rest) => {
                let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                u64::from_str_radix(&hex, 16).unwrap()
            }
            None => addr(what.split('+').next().unwrap()),
        };
        let name = syms
            .iter()
            .find(|(_, a)| *a == func)
            .map(|(n, _)| n.as_str());
        assert!(name.is_some(), "{what}: no function at {func:#x}");
        assert!(
            p.placement.addr >= func && p.placement.addr < func + 16,
            "{p:?}"
        );
        eprintln!("{what}: {}", name.unwrap_or("?"));
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn stripped_static_openssl_has_no_symbols_and_says_so() {
    if let Some(why) = missing_prerequisite() {
        skip("stripped_static_openssl_has_no_symbols_and_says_so", &why);
        return;
    }
    let d = dir("stripped");
    let exe = strip_copy(&build_static(&d), &d);
    for name in DATA {
        assert_eq!(elf_defines(&exe, name), None, "{name}");
    }
    assert_eq!(plan_object(&exe).unwrap(), vec![]);
    let marker = static_tls_marker(&exe)
        .unwrap()
        .expect("a static TLS marker");
    assert_eq!(
        static_tls_library(marker),
        Some("openssl/boringssl"),
        "{marker}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn shared_libssl_is_found_in_dynsym() {
    if !Path::new(LIBSSL_SO).exists() {
        skip("shared_libssl_is_found_in_dynsym", "no libssl.so.3");
        return;
    }
    let so = Path::new(LIBSSL_SO);
    let exported = nm(so, true);
    for name in DATA {
        let expected = exported.iter().any(|(s, _)| s == name);
        assert_eq!(
            elf_defines(so, name) == Some(SymTable::Dynsym),
            expected,
            "{name}"
        );
    }
    assert_eq!(elf_defines(so, "no_such_function_here"), None);
}

/// `s` with every `0x…` number replaced by `0x_`.
fn without_addrs(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i + 2]);
        out.push('_');
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out + rest
}

/// `pid` classified afresh (the clients print READY once their libraries are mapped).
fn classify(ins: &mut Inspector, pid: u32) -> capture::procinfo::ProcessInfo {
    ins.clear_cache();
    ins.process(pid).expect("inspecting the client")
}

#[test]
fn running_static_and_stripped_clients_are_classified() {
    if let Some(why) = missing_prerequisite() {
        skip("running_static_and_stripped_clients_are_classified", &why);
        return;
    }
    let d = dir("classified");
    let exe = build_static(&d);
    let stripped = strip_copy(&exe, &d);
    let mut ins = Inspector::new();

    let client = WaitingClient::start(&exe, &["--wait", "1", "/", "1"]);
    let info = classify(&mut ins, client.pid());
    assert_eq!(info.tls.kind, TlsKind::OpenSslInExe, "{info:?}");
    assert!(info.tls.capturable);
    assert_eq!(
        info.tls.reason,
        format!(
            "openssl (static in {}, .symtab: SSL_read, SSL_write, SSL_read_ex, SSL_write_ex)",
            exe.display()
        )
    );
    let probes = info.tls.probes.as_deref().unwrap_or("");
    assert!(probes.contains("SSL_"), "{probes}");
    let objects = ins.objects_exporting(client.pid(), &DATA).unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0].path, exe);
    assert_eq!(objects[0].symbols, DATA);
    assert_eq!(objects[0].tables, vec![SymTable::Symtab; 4]);
    drop(client);

    let client = WaitingClient::start(&stripped, &["--wait", "1", "/", "1"]);
    let info = classify(&mut ins, client.pid());
    assert_eq!(info.tls.kind, TlsKind::StaticNoSymbols, "{info:?}");
    assert!(!info.tls.capturable);
    assert_eq!(
        info.tls.reason,
        format!(
            "openssl/boringssl static in {}, stripped (no SSL_read/SSL_write in .dynsym or \
             .symtab) — not capturable: no symbols, and not boringssl (whose code apitop finds without them)",
            stripped.display()
        )
    );
    assert!(ins
        .objects_exporting(client.pid(), &DATA)
        .unwrap()
        .is_empty());
    drop(client);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn deleted_libssl_is_read_through_map_files() {
    if let Some(why) = missing_prerequisite() {
        skip("deleted_libssl_is_read_through_map_files", &why);
        return;
    }
    if !root() {
        // /proc/PID/map_files/ needs CAP_SYS_ADMIN.
        skip("deleted_libssl_is_read_through_map_files", "not root");
        return;
    }
    let d = dir("deleted");
    let exe = build_dlopen(&d);
    let (crypto, ssl) = library_copies(&d);
    let (c, s) = (crypto.to_str().unwrap(), ssl.to_str().unwrap());
    let client = WaitingClient::start(&exe, &["--dlopen", c, s, "--wait", "1", "/", "1"]);
    assert!(
        !ssl.exists() && !crypto.exists(),
        "the client unlinks its libraries"
    );
    let mut ins = Inspector::new();
    let info = classify(&mut ins, client.pid());
    assert_eq!(info.tls.kind, TlsKind::OpenSslShared, "{info:?}");
    assert_eq!(
        info.tls.reason,
        "openssl (deleted libssl.so.3 via map_files)"
    );
    // The probe sites were computed from the deleted file: as in the system's copy.
    let system = plan_object(Path::new(LIBSSL_SO)).unwrap();
    assert_eq!(
        info.tls.probes.as_deref(),
        Some(capture::placement::describe(&system).as_str())
    );
    let objects = ins.objects_exporting(client.pid(), &DATA).unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let o = &objects[0];
    assert_eq!(o.path, ssl);
    assert!(o.deleted);
    let map_files = format!("/proc/{}/map_files/", client.pid());
    assert!(o.open_path.starts_with(&map_files), "{o:?}");
    assert_eq!(std::fs::metadata(&o.open_path).unwrap().ino(), o.inode);
    assert_eq!(o.tables, vec![SymTable::Dynsym; o.symbols.len()]);
    drop(client);
    let _ = std::fs::remove_dir_all(&d);
}

/// Two C files, each with `SSL_write` as a `static` function, and a third one with a global one
/// or not: a global definition wins over locals of the same name; locals alone at different
/// addresses are ambiguous, and refused rather than guessed.
#[test]
fn symtab_duplicates_global_wins_locals_alone_refused() {
    if let Some(why) = missing_prerequisite() {
        skip("symtab_duplicates_global_wins_locals_alone_refused", &why);
        return;
    }
    let d = dir("duplicates");
    let local = |n: u32| {
        format!(
            "__attribute__((noinline, used)) static int SSL_write(void *s, const void *b, int n) \
             {{ return n + {n}; }}\nint caller{n}(void) {{ return SSL_write(0, 0, {n}); }}\n"
        )
    };
    let global = "int SSL_write(void *s, const void *b, int n) { return n; }\n";
    let main =
        "int caller1(void); int caller2(void);\nint main(void) { return caller1() + caller2(); }\n";
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (a, b) = (write("a.c", &local(1)), write("b.c", &local(2)));
    let m = write("main.c", main);
    let g = write("g.c", global);
    let build = |out: &str, files: &[&PathBuf]| {
        let exe = d.join(out);
        let st = Command::new("gcc")
            .arg("-O1")
            .arg("-o")
            .arg(&exe)
            .args(files)
            .status()
            .unwrap();
        assert!(st.success(), "gcc {out}");
        exe
    };
    let locals = build("locals", &[&a, &b, &m]);
    assert_eq!(elf_defines(&locals, "SSL_write"), Some(SymTable::Symtab));
    let err = plan_object(&locals).unwrap_err();
    assert_eq!(err, "SSL_write: 2 definitions in .symtab");

    let mixed = build("mixed", &[&a, &b, &m, &g]);
    let pairs = plan_object(&mixed).expect("the global one is placed");
    let globals = nm(&mixed, false);
    let global_addr = Command::new("nm")
        .arg("--defined-only")
        .arg(&mixed)
        .output()
        .unwrap();
    let global_addr = String::from_utf8_lossy(&global_addr.stdout)
        .lines()
        .find(|l| l.ends_with(" T SSL_write"))
        .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
        .expect("a global SSL_write");
    assert_eq!(globals.iter().filter(|(n, _)| n == "SSL_write").count(), 3);
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert!(pairs[0].write);
    assert!(
        pairs[0].placement.addr >= global_addr && pairs[0].placement.addr < global_addr + 8,
        "{pairs:?} vs {global_addr:#x}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
