//! apitop: the CLI, capture sessions, headless output and the terminal UI.
pub mod cli;
pub mod headless;
pub mod json;
pub mod session;
#[cfg(feature = "live")]
pub mod spawn;
pub mod ui;

use anyhow::Result;

/// Everything `main` does, as a library call (so tests and benches can drive it).
pub fn run(cli: cli::Cli) -> Result<()> {
    if cli.list {
        return headless::list(cli.json);
    }
    let limits = cli.limits();
    let session = match &cli.read {
        Some(path) => session::Session::replay(path, limits)?,
        None => live_session(&cli, limits)?,
    };
    if !cli.json {
        eprintln!("apitop: the terminal UI is not built yet; printing JSON lines (as --json)");
    }
    headless::run(session, &cli.names)
}

#[cfg(feature = "live")]
fn live_session(cli: &cli::Cli, limits: capture::event::Limits) -> Result<session::Session> {
    if !cli.has_targets() {
        anyhow::bail!("nothing to capture: give -p PID, -n NAME or -- COMMAND (the process picker comes with the terminal UI)");
    }
    let targets = session::Targets {
        pids: cli.pids.clone(),
        names: cli.names.clone(),
        command: cli.command.clone(),
    };
    session::Session::live(&targets, cli.write.as_ref(), limits, false)
}

#[cfg(not(feature = "live"))]
fn live_session(_: &cli::Cli, _: capture::event::Limits) -> Result<session::Session> {
    anyhow::bail!("this apitop was built without live capture (feature \"live\"); use -r FILE")
}
