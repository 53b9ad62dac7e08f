//! Probe-site selection for Go's `crypto/tls` (`capture::golang::sites`) on real Go binaries,
//! checked against GNU objdump's disassembly. The hand-assembled cases are in
//! `x86_sites_synthetic.rs`.
//!
//! These tests build `target/go-fixtures` with `scripts/go-fixtures.sh` and skip with a printed
//! reason when `go` (or `objdump`) is missing, unless `APITOP_REQUIRE_EBPF=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use capture::golang::sites::{go_tls_sites, FuncCode, Site, SiteKind};
use capture::x86;

/// Skips (returns) with a printed reason, or fails under `APITOP_REQUIRE_EBPF=1`.
fn skip(test: &str, reason: &str) {
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("capture sits in the workspace")
}

/// `target/go-fixtures`, built once per test process; `None` (skipped) without `go`/`objdump`.
fn go_fixtures(test: &str) -> Option<PathBuf> {
    enum Built {
        Dir(PathBuf),
        Missing(String),
        Failed(String),
    }
    static BUILT: OnceLock<Built> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        for tool in ["go", "objdump"] {
            let arg = if tool == "go" { "version" } else { "--version" };
            let ok = Command::new(tool)
                .arg(arg)
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                return Built::Missing(format!("`{tool}` is not installed"));
            }
        }
        let out = Command::new("bash")
            .arg(root().join("scripts/go-fixtures.sh"))
            .output();
        match out {
            Ok(o) if o.status.success() => Built::Dir(root().join("target/go-fixtures")),
            Ok(o) => Built::Failed(format!(
                "scripts/go-fixtures.sh failed: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Built::Failed(format!("running scripts/go-fixtures.sh: {e}")),
        }
    });
    match built {
        Built::Dir(d) => Some(d.clone()),
        Built::Missing(reason) => {
            skip(test, reason);
            None
        }
        Built::Failed(msg) => panic!("{test}: {msg}"),
    }
}

/// One function of a binary: `[entry, end)`.
#[derive(Clone, Copy, Debug)]
struct Func {
    entry: u64,
    end: u64,
}

/// The functions a test needs, with their machine code.
struct Funcs {
    write: (Func, Vec<u8>),
    read: (Func, Vec<u8>),
    close: (Func, Vec<u8>),
    memmove: u64,
}

const WRITE: &str = "crypto/tls.(*Conn).Write";
const READ: &str = "crypto/tls.(*Conn).Read";
const CLOSE: &str = "crypto/tls.(*Conn).Close";
const MEMMOVE: &str = "runtime.memmove";

/// Ground truth from `.symtab` (entry, st_size) and the section holding the bytes.
fn funcs_from_symtab(path: &Path) -> Funcs {
    use object::{Object, ObjectSection, ObjectSymbol};
    let data = std::fs::read(path).expect("reading the binary");
    let file = object::File::parse(&*data).expect("parsing the ELF file");
    let find = |name: &str| -> (Func, Vec<u8>) {
        let sym = file
            .symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("{name} not in .symtab of {}", path.display()));
        let f = Func {
            entry: sym.address(),
            end: sym.address() + sym.size(),
        };
        assert!(sym.size() > 0, "{name} has no size");
        let code = file
            .sections()
            .find_map(|s| s.data_range(f.entry, sym.size()).ok().flatten())
            .unwrap_or_else(|| panic!("{name}'s bytes not in any section"));
        (f, code.to_vec())
    };
    Funcs {
        write: find(WRITE),
        read: find(READ),
        close: find(CLOSE),
        memmove: find(MEMMOVE).0.entry,
    }
}

/// The function table recovered from a (possibly stripped) Go binary by `GoBinary`.
fn funcs_from_gobinary(path: &Path) -> (Funcs, Option<(u32, u32)>) {
    use capture::golang::GoBinary;
    let bin = GoBinary::open(path, &[WRITE, READ, CLOSE, MEMMOVE])
        .unwrap_or_else(|e| panic!("GoBinary::open({}): {e}", path.display()));
    let find = |name: &str| -> (Func, Vec<u8>) {
        let f = bin
            .function(name)
            .unwrap_or_else(|| panic!("{name} not found in {}", path.display()));
        let code = bin.code(f).expect("reading the machine code");
        (
            Func {
                entry: f.entry,
                end: f.end,
            },
            code,
        )
    };
    let funcs = Funcs {
        write: find(WRITE),
        read: find(READ),
        close: find(CLOSE),
        memmove: find(MEMMOVE).0.entry,
    };
    (funcs, bin.version_num)
}

/// Go's minor version of a binary, from `go version FILE` (`FILE: go1.19.8`).
fn go_minor(path: &Path) -> u32 {
    let out = Command::new("go")
        .arg("version")
        .arg(path)
        .output()
        .expect("go version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .rsplit(' ')
        .next()
        .and_then(|v| v.trim().strip_prefix("go1."))
        .unwrap_or_else(|| panic!("no version in {text:?}"));
    v.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no minor version in {text:?}"))
}

/// GNU objdump's instructions in `[f.entry, f.end)`: (address, text with single spaces).
fn objdump(path: &Path, f: Func) -> Vec<(u64, String)> {
    let out = Command::new("objdump")
        .args(["-d", "-w", "--no-show-raw-insn"])
        .arg(format!("--start-address={:#x}", f.entry))
        .arg(format!("--stop-address={:#x}", f.end))
        .arg(path)
        .output()
        .expect("running objdump");
    assert!(out.status.success(), "objdump failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (addr, text) = line.split_once(":\t")?;
            let addr = u64::from_str_radix(addr.trim(), 16).ok()?;
            Some((addr, text.split_whitespace().collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

/// The direct call target objdump shows (`call 464dc0 <runtime.memmove>`).
fn objdump_call_target(text: &str) -> Option<u64> {
    let mut words = text.split(' ');
    if words.next()? != "call" {
        return None;
    }
    let t = words.next()?;
    u64::from_str_radix(t.trim_start_matches("0x"), 16).ok()
}

/// Checks an entry site against objdump: the push (Go ≥ 1.21) or the stack-check jbe.
fn check_entry(name: &str, site: &Site, f: Func, code: &[u8], dis: &[(u64, String)], minor: u32) {
    let at = dis
        .iter()
        .position(|(a, _)| *a == site.addr)
        .unwrap_or_else(|| panic!("{name}: {site:?} is not an instruction objdump shows"));
    let text = &dis[at].1;
    let off = usize::try_from(site.addr - f.entry).expect("offset");
    let bytes = &code[off..];
    if minor >= 21 {
        assert_eq!(site.kind, SiteKind::Unconditional, "{name}: {site:?}");
        assert!(text.starts_with("push %rbp"), "{name}: objdump says {text}");
        assert_eq!(bytes[0], 0x55, "{name}");
    } else {
        assert_eq!(site.kind, SiteKind::SkipIfJbeTaken, "{name}: {site:?}");
        assert!(text.starts_with("jbe "), "{name}: objdump says {text}");
        assert!(
            bytes[0] == 0x76 || bytes[..2] == [0x0f, 0x86],
            "{name}: {:02x?}",
            &bytes[..2]
        );
        assert!(at > 0, "{name}: the jbe is the first instruction");
        let prev = &dis[at - 1].1;
        assert!(
            prev == "cmp 0x10(%r14),%rsp" || prev == "cmp 0x10(%r14),%r12",
            "{name}: the jbe follows {prev}"
        );
    }
    assert!(site.what.contains("(emulated)"), "{name}: {}", site.what);
}

/// Runs `go_tls_sites` on `funcs` and checks every site against objdump's disassembly.
fn check_binary(label: &str, path: &Path, funcs: &Funcs, minor: u32) {
    fn fc((f, code): &(Func, Vec<u8>)) -> FuncCode<'_> {
        FuncCode {
            entry: f.entry,
            code,
        }
    }
    let sites = go_tls_sites(
        &fc(&funcs.write),
        &fc(&funcs.read),
        Some(&fc(&funcs.close)),
        funcs.memmove,
    )
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    eprintln!("{label} (go1.{minor}):");
    eprintln!(
        "  write entry {:#x}: {}",
        sites.write_entry.addr, sites.write_entry.what
    );
    eprintln!(
        "  read entry  {:#x}: {}",
        sites.read_entry.addr, sites.read_entry.what
    );
    match &sites.read_copy {
        Some(s) => eprintln!("  read copy   {:#x}: {}", s.addr, s.what),
        None => eprintln!("  read copy   none"),
    }
    eprintln!("  read rets   {}", sites.read_rets.len());
    match &sites.close_entry {
        Some(s) => eprintln!("  close entry {:#x}: {}", s.addr, s.what),
        None => eprintln!("  close entry none"),
    }

    for (name, (f, code), site) in [
        ("Write", &funcs.write, Some(&sites.write_entry)),
        ("Read", &funcs.read, Some(&sites.read_entry)),
        ("Close", &funcs.close, sites.close_entry.as_ref()),
    ] {
        let dis = objdump(path, *f);
        // iced and objdump agree on every instruction boundary of the function.
        let ours: Vec<u64> = x86::decode(code, f.entry).iter().map(|i| i.ip()).collect();
        let theirs: Vec<u64> = dis.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            ours, theirs,
            "{label} {name}: instruction boundaries differ"
        );
        let site = site.unwrap_or_else(|| panic!("{label}: no {name} entry site"));
        check_entry(&format!("{label} {name}"), site, *f, code, &dis, minor);
    }

    let dis = objdump(path, funcs.read.0);
    let copies: Vec<u64> = dis
        .iter()
        .filter(|(_, t)| objdump_call_target(t) == Some(funcs.memmove))
        .map(|(a, _)| *a)
        .collect();
    assert_eq!(copies.len(), 1, "{label}: Read's memmove calls per objdump");
    let copy = sites.read_copy.as_ref().expect("read copy site");
    assert_eq!(copy.addr, copies[0], "{label}");
    assert_eq!(copy.kind, SiteKind::Unconditional);
    assert!(copy.what.starts_with("call ") && copy.what.ends_with("(emulated)"));
    let rets: Vec<u64> = dis
        .iter()
        .filter(|(_, t)| t == "ret" || t == "retq")
        .map(|(a, _)| *a)
        .collect();
    let ours: Vec<u64> = sites.read_rets.iter().map(|s| s.addr).collect();
    assert!(!rets.is_empty(), "{label}: Read has rets");
    assert_eq!(ours, rets, "{label}: Read's rets");
}

#[test]
fn go_fixtures_with_symbols() {
    let test = "go_fixtures_with_symbols";
    let Some(dir) = go_fixtures(test) else {
        return;
    };
    for name in ["gohttps", "gohttps-extld"] {
        let path = dir.join(name);
        let funcs = funcs_from_symtab(&path);
        check_binary(name, &path, &funcs, go_minor(&path));
    }
}

/// The stripped PIE, through the function table `GoBinary` recovers.
#[test]
fn go_fixture_stripped() {
    let test = "go_fixture_stripped";
    let Some(dir) = go_fixtures(test) else {
        return;
    };
    let path = dir.join("gohttps-stripped");
    let (funcs, version) = funcs_from_gobinary(&path);
    let minor = go_minor(&path);
    assert_eq!(version, Some((1, minor)));
    for (f, code) in [&funcs.write, &funcs.read, &funcs.close] {
        assert_eq!(code.len() as u64, f.end - f.entry);
    }
    check_binary("gohttps-stripped", &path, &funcs, minor);
}

/// esbuild: Go 1.26, stripped, real-world size. Its prologues push %rbp after the stack check.
#[test]
fn esbuild_go126() {
    let test = "esbuild_go126";
    let path = Path::new("/opt/apitop-test-tools/node_modules/@esbuild/linux-x64/bin/esbuild");
    if !path.exists() {
        skip(
            test,
            "esbuild not installed (scripts/test-deps.sh installs it)",
        );
        return;
    }
    let ok = Command::new("objdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(test, "`objdump` is not installed");
        return;
    }
    let (funcs, version) = funcs_from_gobinary(path);
    let (major, minor) = version.expect("esbuild's Go version");
    assert_eq!(major, 1);
    assert!(minor >= 21, "esbuild is built with Go 1.{minor}");
    check_binary("esbuild", path, &funcs, minor);
}
