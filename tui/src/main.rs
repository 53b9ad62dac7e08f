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
