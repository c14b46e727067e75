//! tget: download batches of URLs on a fixed pool of OS worker threads.
//!
//! Data flows one way, and modules import only from those before them:
//! `cli` (flags) -> `config` (checked plain data) -> `input` (URL lists) ->
//! `naming` (file names) -> `engine` (jobs, transport, worker pool) ->
//! `timing` (wall-clock comparisons) -> `ui` (bars on stderr, results on
//! stdout) -> the commands, `download` and `bench`. `exit` and `stop` are
//! plumbing every layer may use. `docs/design.md` maps every module.

pub mod bench;
pub mod cli;
pub mod config;
pub mod download;
pub mod dry_run;
pub mod engine;
pub mod exit;
pub mod input;
pub mod naming;
pub mod stop;
pub mod timing;
pub mod ui;
pub mod units;
pub mod userinfo;

use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::config::{BenchConfig, Config};
use crate::exit::{Exit, Fatal, OrExit};

/// Runs the command line. An `Err` means the run could not start or go on
/// (bad input, an unwritable export file); job failures are an `Exit` instead.
pub fn run(cli: Cli) -> Result<Exit, Fatal> {
    if cli.short_help {
        print!("{}", cli::SHORT_HELP);
        return Ok(Exit::Success);
    }
    let cancel = Arc::new(stop::Cancel::default());
    stop::install(cancel.clone());
    match cli.command {
        Some(Command::Completions { shell }) => {
            cli::completions(shell, &mut std::io::stdout()).or_exit(Exit::CannotProceed)?;
            Ok(Exit::Success)
        }
        Some(Command::Man) => {
            cli::man(&mut std::io::stdout()).or_exit(Exit::CannotProceed)?;
            Ok(Exit::Success)
        }
        Some(Command::Bench(args)) => {
            let config = BenchConfig::from_args(*args).or_exit(Exit::Usage)?;
            warn(&config.http);
            bench::run(&config, &cancel)
        }
        None => {
            let config = Config::from_args(cli.download).or_exit(Exit::Usage)?;
            if config.dry_run {
                return dry_run::run(&config);
            }
            warn(&config.fetch.http);
            download::run(&config, &cancel)
        }
    }
}

/// Settings that weaken security are said once, before anything is fetched
/// and before any bar is drawn, even with `-q`.
fn warn(http: &config::HttpConfig) {
    for warning in http.warnings() {
        eprintln!("tget: warning: {warning}");
    }
}
