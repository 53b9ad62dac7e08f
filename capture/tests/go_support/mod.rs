//! Go executables for the tests: the `tests/go/gohttps` fixtures (built once per test process
//! by `scripts/go-fixtures.sh`), the machine's caddy and esbuild, and a small Go program that
//! dumps function addresses with Go's own `debug/gosym`, as ground truth for stripped binaries.
//!
//! A missing tool skips the test with a printed reason, unless `APITOP_REQUIRE_EBPF=1` (CI).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const CADDY: &str = "/usr/bin/caddy";
pub const ESBUILD: &str = "/opt/apitop-test-tools/node_modules/@esbuild/linux-x64/bin/esbuild";
/// esbuild 0.14.20: Go 1.17.6, stripped, function table magic 0xfffffffa (Go 1.16–1.17).
pub const ESBUILD_GO_1_17: &str =
    "/opt/apitop-test-tools/esbuild-0.14.20/node_modules/esbuild-linux-64/bin/esbuild";

/// Skips with a printed reason, or fails under `APITOP_REQUIRE_EBPF=1`.
pub fn skip(test: &str, reason: &str) {
    if std::env::var("APITOP_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!("{test}: {reason}, and APITOP_REQUIRE_EBPF=1 forbids skipping");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("capture sits in the workspace")
}

fn fixture_dir() -> PathBuf {
    root().join("target/go-fixtures")
}

/// Environment for the Go toolchain, as the fixture script sets it.
fn go_command(dir: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOCACHE", dir.join(".gocache"))
        .env("GOPATH", dir.join(".gopath"));
    cmd
}

fn have_go() -> bool {
    Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `target/go-fixtures`, built once per test process; `None` (skipped) without `go`.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        if !have_go() {
            return Err("`go` is not installed".into());
        }
        let dir = fixture_dir();
        let out = Command::new("bash")
            .arg(root().join("scripts/go-fixtures.sh"))
            .arg(&dir)
            .output()
            .expect("running scripts/go-fixtures.sh");
        assert!(
            out.status.success(),
            "scripts/go-fixtures.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(dir)
    });
    match built {
        Ok(dir) => Some(dir.clone()),
        Err(why) => {
            skip(test, why);
            None
        }
    }
}

/// A binary of the machine (caddy, esbuild); `None` (skipped) when absent.
pub fn installed(test: &str, path: &str) -> Option<PathBuf> {
    if Path::new(path).is_file() {
        Some(PathBuf::from(path))
    } else {
        skip(test, &format!("{path} is not installed"));
        None
    }
}

/// One function as Go's `debug/gosym` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GosymFunc {
    pub name: String,
    pub entry: u64,
    pub end: u64,
}

const GOSYMDUMP: &str = r#"// gosymdump BINARY TEXTSTART NAME...: prints "name entry end" for each function of BINARY whose
// name is requested, as Go's debug/gosym reads the function table with code base TEXTSTART
// (debug/gosym takes the base from its caller, not from the table header).
package main

import (
	"debug/elf"
	"debug/gosym"
	"fmt"
	"os"
	"strconv"
)

func main() {
	f, err := elf.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var data []byte
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil {
			if data, err = s.Data(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			break
		}
	}
	if data == nil {
		fmt.Fprintln(os.Stderr, "no function table section")
		os.Exit(2)
	}
	text, err := strconv.ParseUint(os.Args[2], 0, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	want := map[string]bool{}
	for _, n := range os.Args[3:] {
		want[n] = true
	}
	for _, fn := range tab.Funcs {
		if want[fn.Name] {
			fmt.Printf("%s %d %d\n", fn.Name, fn.Entry, fn.End)
		}
	}
}
"#;

/// The `gosymdump` helper, built once; `None` without `go`.
fn gosymdump() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !have_go() {
                return None;
            }
            let dir = fixture_dir();
            let src = dir.join("gosymdump");
            std::fs::create_dir_all(&src).expect("creating the gosymdump directory");
            std::fs::write(src.join("go.mod"), "module gosymdump\n\ngo 1.16\n")
                .expect("writing go.mod");
            std::fs::write(src.join("main.go"), GOSYMDUMP).expect("writing main.go");
            let bin = src.join("gosymdump");
            let out = go_command(&dir)
                .current_dir(&src)
                .env("CGO_ENABLED", "0")
                .args(["build", "-o"])
                .arg(&bin)
                .arg(".")
                .output()
                .expect("running go build");
            assert!(
                out.status.success(),
                "building gosymdump failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(bin)
        })
        .clone()
}

/// The functions named `names` in `binary` per Go's `debug/gosym`, with code base `text`.
/// `None` when the toolchain cannot read this binary's table (e.g. a newer layout than the
/// local Go knows).
pub fn gosym(binary: &Path, text: u64, names: &[&str]) -> Option<Vec<GosymFunc>> {
    let out = Command::new(gosymdump()?)
        .arg(binary)
        .arg(text.to_string())
        .args(names)
        .output()
        .expect("running gosymdump");
    if !out.status.success() {
        return None;
    }
    let funcs: Vec<GosymFunc> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.rsplitn(3, ' ');
            let end = parts.next()?.parse().ok()?;
            let entry = parts.next()?.parse().ok()?;
            let name = parts.next()?.to_owned();
            Some(GosymFunc { name, entry, end })
        })
        .collect();
    (!funcs.is_empty()).then_some(funcs)
}

/// `go version <binary>` (Go's own build-info reader); `None` when it cannot tell.
pub fn go_version_of(binary: &Path) -> Option<String> {
    let out = Command::new("go")
        .arg("version")
        .arg(binary)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // "<path>: go1.19.8"
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.trim().rsplit(": ").next()?.to_owned())
}

/// Whether `go` is installed; skips (or fails under `APITOP_REQUIRE_EBPF=1`) when not.
pub fn have_go_or_skip(test: &str) -> bool {
    let ok = have_go();
    if !ok {
        skip(test, "`go` is not installed");
    }
    ok
}
