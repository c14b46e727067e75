//! `cargo bench --bench scaling`: wall-clock time of the built-in server's
//! batch (the `tget bench` defaults: 64 files x 256 KiB, 50 ms latency) at 1
//! to 64 threads, measured by the same runner as `tget bench`. Prints the
//! table and writes `target/bench-scaling.svg`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use testserver::Server;
use tget::bench::batch::{self, Batch};
use tget::bench::{self, plot, summary};
use tget::cli::{Cli, Command};
use tget::config::BenchConfig;
use tget::stop::Cancel;

const THREADS: &str = "1,2,4,8,16,32,64";

fn main() -> Result<()> {
    let config = config()?;
    let server = Server::start()?;
    let batch = Batch::synthetic(&server, config.synthetic)?;
    let results = bench::measure(&batch, &config, &Cancel::default())?;
    print!("{}", summary::report(&results));
    let chart = target_dir().join("bench-scaling.svg");
    plot::write_svg(&chart, &results.rows, &batch::title(&results.batch))?;
    println!("\nChart: {}", chart.display());
    Ok(())
}

/// Parsed like the command line, so the bench gets exactly `tget bench`'s defaults.
fn config() -> Result<BenchConfig> {
    let cli = Cli::try_parse_from(["tget", "bench", "--threads", THREADS, "--progress", "never"])?;
    let Some(Command::Bench(args)) = cli.command else {
        bail!("`tget bench` did not parse as the bench command");
    };
    BenchConfig::from_args(*args)
}

/// Cargo tells benches where its temporary directory is: `<target>/tmp`,
/// wherever CARGO_TARGET_DIR puts the target directory.
fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map_or(tmp.clone(), PathBuf::from)
}
