//! apitop: the CLI, capture sessions, headless output and the terminal UI.
pub mod cli;
pub mod har;
pub mod headless;
pub mod interactive;
pub mod json;
pub mod otlp;
pub mod session;
#[cfg(feature = "live")]
pub mod spawn;
pub mod ui;

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Result;

/// Everything `main` does, as a library call (so tests and benches can drive it).
pub fn run(cli: cli::Cli) -> Result<()> {
    if cli.list {
        return headless::list(cli.json);
    }
    let limits = cli.limits();
    // `--otlp` alone, with no terminal to draw on (a service, a pipe): headless, summary only.
    let headless =
        cli.json || cli.har.is_some() || (cli.otlp.is_some() && !std::io::stdout().is_terminal());
    if headless {
        // A bad --otlp URL fails before the HAR file is made.
        let otlp = otlp_exporter(&cli)?;
        // The HAR file is made first, so that a path it cannot be written to fails before any
        // capture starts (a `--` command is started with the session).
        let har = cli.har.as_deref().map(har::create).transpose()?;
        let session = match &cli.read {
            Some(path) => session::Session::replay(path, limits),
            None => live_session(&cli, limits, false),
        };
        let session = match session {
            Ok(s) => s.with_mask(cli.masking()),
            Err(e) => {
                // Left a valid, empty HAR rather than a head without its end.
                if let Some(h) = har {
                    let _ = har::close(h);
                }
                return Err(e);
            }
        };
        let session = match &otlp {
            Some(e) => session.with_otlp(e.clone()),
            None => session,
        };
        let sinks = headless::Sinks::new(cli.json, har).with_otlp(otlp);
        return headless::run(session, &cli.names, sinks);
    }
    // Everything that can fail is checked before the terminal is taken over.
    let theme = ui::theme::Theme::load(&cli.theme)?;
    let (session, source) = match &cli.read {
        Some(path) => (
            session::Session::replay(path, limits)?.with_mask(cli.masking()),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        None => (
            live_session(&cli, limits, true)?.with_mask(cli.masking()),
            "live".to_string(),
        ),
    };
    let otlp = otlp_exporter(&cli)?;
    let session = match &otlp {
        Some(e) => session.with_otlp(e.clone()),
        None => session,
    };
    let config = ui::Config {
        theme,
        max_exchanges: cli.max_exchanges.max(1),
        max_memory: cli.max_memory,
        max_tree_nodes: cli.max_tree_nodes.max(1),
        open_picker: cli.read.is_none() && !cli.has_targets(),
        max_body: Some(cli.max_body as u64),
        targets: cli
            .pids
            .iter()
            .map(|&p| (p, capture::procinfo::comm(p).unwrap_or_default()))
            .collect(),
        source,
        ..ui::Config::default()
    };
    interactive::run(session, config, otlp)
}

/// Sets up `--otlp` export, if asked for (the session is then given it to feed).
fn otlp_exporter(cli: &cli::Cli) -> Result<Option<Arc<otlp::Exporter>>> {
    cli.otlp
        .as_deref()
        .map(|url| otlp::Exporter::new(url, cli.otlp_queue).map(Arc::new))
        .transpose()
}

#[cfg(feature = "live")]
fn live_session(
    cli: &cli::Cli,
    limits: capture::event::Limits,
    interactive: bool,
) -> Result<session::Session> {
    if cli.java && !cli.has_targets() {
        anyhow::bail!("--java needs targets: give -p PID, -n NAME or -- COMMAND with it");
    }
    if !interactive && !cli.has_targets() {
        anyhow::bail!("nothing to capture: give -p PID, -n NAME or -- COMMAND (or run in a terminal without --json, --har and --otlp to pick processes)");
    }
    let targets = session::Targets {
        pids: cli.pids.clone(),
        names: cli.names.clone(),
        command: cli.command.clone(),
        no_plain: cli.no_plain,
        ring_mib: Some((cli.ring_size >> 20) as u32),
        java: cli.java,
    };
    session::Session::live(&targets, cli.write.as_ref(), limits, interactive)
}

#[cfg(not(feature = "live"))]
fn live_session(_: &cli::Cli, _: capture::event::Limits, _: bool) -> Result<session::Session> {
    anyhow::bail!("this apitop was built without live capture (feature \"live\"); use -r FILE")
}
