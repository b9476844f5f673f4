//! CLI dispatch only.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

use clap::Parser;

use cachetop::cli::{Cli, Command};
use cachetop::cmd::{self, Exit, UsageError};
use cachetop::config::{self, Env};
use cachetop::terminal_text::{escape, escape_lines};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    // The screen draws while the worker lists, scans and deletes: give it threads.
    let mut builder = if cli.command.is_none() {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cachetop: error: cannot start the async runtime: {e}");
            return Exit::Runtime.into();
        }
    };
    let result = runtime.block_on(run(cli));
    // Content scans may still run on blocking threads: do not wait for them.
    runtime.shutdown_background();
    // No credential helper outlives cachetop, whatever was still running.
    cachetop::children::kill_all();
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<config::ConfigError>().is_some();
            eprintln!("cachetop: error: {}", escape(&error_line(&e)));
            if usage {
                Exit::Usage.into()
            } else {
                Exit::Runtime.into()
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    // lint reads only the files it names: no settings, no sources.
    // Neither do completions and the man page: they come from the CLI definition.
    match &cli.command {
        Some(Command::Lint(args)) => return cmd::lint::run(args),
        Some(Command::Completions(args)) => return cmd::shell::completions(args),
        Some(Command::Man(args)) => return cmd::shell::man(args),
        _ => {}
    }
    let settings = config::load(&cli.global, &Env::from_process())?;
    match &cli.command {
        Some(Command::Report(args)) => cmd::report::run(&settings, args).await,
        Some(Command::Prune(args)) => cmd::prune::run(&settings, args).await,
        Some(Command::Repair(args)) => cmd::repair::run(&settings, args).await,
        Some(Command::Lint(args)) => cmd::lint::run(args),
        Some(Command::Completions(args)) => cmd::shell::completions(args),
        Some(Command::Man(args)) => cmd::shell::man(args),
        None => cmd::screen::run(&settings).await,
    }
}

/// Help and version as clap prints them; a usage error as plain text with every line
/// escaped, since clap repeats the values it was given.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    if e.use_stderr() {
        eprint!("{}", escape_lines(&text));
    } else {
        print!("{}", escape_lines(&text));
    }
    ExitCode::from(e.exit_code().clamp(0, 255) as u8)
}

/// An error and its causes on one line, each cause once: a message that already
/// quotes its cause (`cannot read X: Is a directory (os error 21)`) is not followed by
/// that cause again.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read config file /x: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let e = anyhow::Error::new(Quoting(io));
        let line = error_line(&e);
        assert_eq!(line.matches("os error 21").count(), 1, "{line}");
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(2)).context("reading /y");
        assert_eq!(
            error_line(&e),
            format!("reading /y: {}", std::io::Error::from_raw_os_error(2))
        );
    }
}
