//! tget: download batches of URLs on a fixed pool of OS worker threads.
//!
//! Data flows one way:
//! `cli` (flags) -> `config` (checked plain data) -> `input` (URL lists) ->
//! `naming` (file names) -> `pool` (worker threads) -> `fetch` (one job) ->
//! `report` (stdout, summary), with `progress` owning stderr meanwhile and
//! `timing` comparing runs at different thread counts.

pub mod bench;
pub mod cancel;
pub mod cli;
pub mod config;
pub mod content_disposition;
pub mod download;
pub mod export;
pub mod fetch;
pub mod http;
pub mod input;
pub mod naming;
pub mod part;
pub mod plot;
pub mod pool;
pub mod progress;
pub mod report;
pub mod segment;
pub mod signal;
pub mod timing;

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::config::{BenchConfig, Config};

/// How a run ended, as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    SomeFailed,
    Interrupted,
}

pub const EXIT_USAGE: u8 = 2;

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::SomeFailed => ExitCode::from(1),
            Exit::Interrupted => ExitCode::from(signal::EXIT_INTERRUPTED),
        }
    }
}

/// Runs the command line. An `Err` means the run could not start or finish
/// (bad input, unwritable export file); job failures are an `Exit` instead.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let cancel = Arc::new(cancel::Cancel::default());
    signal::install(cancel.clone());
    match cli.command {
        Some(Command::Bench(args)) => bench::run(&BenchConfig::from_args(args)?, &cancel),
        None => download::run(&Config::from_args(cli.download)?, &cancel),
    }
}
