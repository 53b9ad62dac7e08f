//! Where apitop probes a Go executable's `crypto/tls`, next to the functions' first instructions
//! (where other tools probe), as `key value` lines for scripts/bench-go.sh:
//!
//! ```text
//! version go1.19.8
//! entry.write vaddr=0x5a1b20 offset=0x1a1b20 end=0x5a1f00    crypto/tls.(*Conn).Write
//! site.write vaddr=0x5a1b3c offset=0x1a1b3c jbe=1            <the instruction and why>
//! site.read_ret.0 ...
//! ```
//!
//! `cargo run --release -p capture --example go_sites -- PATH`. Exits 1 with the reason when
//! apitop would not probe the program.
use std::path::Path;
use std::process::ExitCode;

use capture::golang::plan::{plan, ProbeAt};
use capture::golang::GoBinary;

const FUNCS: [(&str, &str); 4] = [
    ("write", "crypto/tls.(*Conn).Write"),
    ("read", "crypto/tls.(*Conn).Read"),
    ("close", "crypto/tls.(*Conn).Close"),
    ("memmove", "runtime.memmove"),
];

fn site(key: &str, p: &ProbeAt) {
    println!(
        "site.{key} vaddr={:#x} offset={:#x} jbe={} {}",
        p.vaddr,
        p.offset,
        u8::from(p.jbe),
        p.what
    );
}

fn main() -> ExitCode {
    let Some(arg) = std::env::args_os().nth(1) else {
        eprintln!("usage: go_sites GO-EXECUTABLE");
        return ExitCode::from(2);
    };
    let path = Path::new(&arg);
    let names: Vec<&str> = FUNCS.iter().map(|(_, n)| *n).collect();
    let bin = match GoBinary::open(path, &names) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(v) = &bin.version {
        println!("version {v}");
    }
    for (key, name) in FUNCS {
        let Some(f) = bin.functions.iter().find(|f| f.name == name) else {
            continue;
        };
        let offset = bin
            .file_offset(f.entry)
            .map_or_else(|| "none".to_string(), |o| format!("{o:#x}"));
        println!(
            "entry.{key} vaddr={:#x} offset={offset} end={:#x} {name}",
            f.entry, f.end
        );
    }
    match plan(path) {
        Ok(p) => {
            site("write", &p.write);
            site("read", &p.read);
            if let Some(c) = &p.read_copy {
                site("read_copy", c);
            }
            for (i, r) in p.read_rets.iter().enumerate() {
                site(&format!("read_ret.{i}"), r);
            }
            if let Some(c) = &p.close {
                site("close", c);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("refused {e}");
            ExitCode::FAILURE
        }
    }
}
