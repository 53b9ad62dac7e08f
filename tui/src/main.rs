//! `apitop`: see `apitop --help`.
use std::process::ExitCode;

use clap::Parser;

/// Every exchange is many small strings (headers, bodies, JSON) made and freed at up to tens of
/// thousands a second; glibc's allocator spent a third of apitop's CPU there (free-list
/// consolidation on every drain), mimalloc a fraction of that. Measured with
/// `scripts/bench-overhead.sh`.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The child that connects to a JVM's attach socket as the JVM's user (see
    // capture::java::attach): not a command for people, so not in --help.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == capture::java::attach::HELPER_ARG)
    {
        let code = capture::java::attach::helper_main(&args[2..]);
        return ExitCode::from(code as u8);
    }
    let cli = apitop::cli::Cli::parse();
    match apitop::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole context chain; never a backtrace.
            eprintln!("apitop: {e:#}");
            ExitCode::FAILURE
        }
    }
}
