//! `apitop`: see `apitop --help`.
use std::process::ExitCode;

use clap::Parser;

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
