//! `tget bench`: the same batch at several thread counts.
//!
//! Every run goes through `timing::timed_batch`, the measurement that
//! `tget --compare` uses too, and every number is derived by `timing`, so a
//! bench table and a `--compare` table mean the same thing.

pub mod batch;
pub mod export;
pub mod plot;
pub mod results;
pub mod summary;

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tempfile::TempDir;
use testserver::Server;

use crate::bench::batch::Batch;
use crate::bench::results::{Results, RunRecord};
use crate::config::BenchConfig;
use crate::config::Layout;
use crate::engine::job::{self, JobReport, Planning};
use crate::engine::outdir::Dir;
use crate::engine::pool::Pool;
use crate::exit::{Exit, Fatal, OrExit};
use crate::naming::Claims;
use crate::stop::Cancel;
use crate::timing::{self, Run};
use crate::ui::progress::Progress;
use crate::ui::report::error_line;

/// `tget bench`: measure, report, export.
pub fn run(config: &BenchConfig, cancel: &Cancel) -> Result<Exit, Fatal> {
    // Started only for the synthetic batch, and kept alive until every run is done.
    let server = if config.sources.is_empty() {
        let server = Server::start().context("cannot start the built-in server on 127.0.0.1");
        Some(server.or_exit(Exit::CannotProceed)?)
    } else {
        None
    };
    let batch = match &server {
        Some(server) => Batch::synthetic(server, config.synthetic),
        None => Batch::from_sources(&config.sources, config.shard),
    }
    .or_exit(Exit::Usage)?;
    check_export_dirs(config).or_exit(Exit::Usage)?;
    let results = measure(&batch, config, cancel).or_exit(Exit::CannotProceed)?;
    print_report(&results, config).or_exit(Exit::CannotProceed)?;
    if !results.complete {
        return Ok(Exit::Interrupted);
    }
    write_exports(&results, config).or_exit(Exit::CannotProceed)?;
    Ok(if results.failures() > 0 {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}

/// Runs the batch once per round at every thread count. Rounds interleave the
/// thread counts (1, 2, 4, ... then 1, 2, 4, ... again) so that drift, such as
/// a warming cache or a busy neighbour, lands on every column alike. Stops
/// between runs on Ctrl-C; a run that Ctrl-C cut short is not counted.
pub fn measure(batch: &Batch, config: &BenchConfig, cancel: &Cancel) -> Result<Results> {
    let schedule: Vec<(usize, usize)> = (1..=config.rounds)
        .flat_map(|round| config.threads.iter().map(move |&threads| (round, threads)))
        .collect();
    let scratch = Scratch::new(config.keep.as_deref())?;
    let mut runner = Runner {
        batch,
        config,
        cancel,
        errors: FirstErrors::default(),
    };
    let mut runs = Vec::with_capacity(schedule.len());
    for (index, &(round, threads)) in schedule.iter().enumerate() {
        if cancel.aborted() {
            break;
        }
        let dir = scratch.run_dir(index)?;
        let run = runner.run(round, threads, &dir)?;
        if cancel.aborted() {
            break;
        }
        scratch.finish_run(&dir, index + 1 == schedule.len())?;
        runs.push(RunRecord {
            round,
            threads,
            run,
        });
    }
    scratch.close()?;
    Ok(Results::new(batch, config, runs))
}

struct Runner<'a> {
    batch: &'a Batch,
    config: &'a BenchConfig,
    cancel: &'a Cancel,
    errors: FirstErrors,
}

impl Runner<'_> {
    /// One run into its own empty directory, with progress bars as in a download.
    fn run(&mut self, round: usize, threads: usize, dir: &Path) -> Result<Run> {
        let mut progress = Progress::new(self.config.display, threads);
        if !self.config.display.quiet {
            let plural = if threads == 1 { "" } else { "s" };
            progress.println(&format!(
                "tget bench: round {round}/{}, {threads} thread{plural}",
                self.config.rounds
            ));
        }
        let fetch = self.config.fetch(threads);
        let names = Arc::new(Mutex::new(Claims::default()));
        let out = Dir::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
        let pool = Pool::new(&fetch, threads, self.cancel, names.clone(), out);
        let planning = Planning {
            out_dir: dir.to_path_buf(),
            layout: Layout::default(),
            sha256: None,
        };
        let jobs = job::plan(self.batch.requests.clone().into_iter(), planning, names);
        let errors = &mut self.errors;
        let run = timing::timed_batch(&pool, jobs, progress.board(), |report| {
            errors.note(report, &progress);
        });
        progress.finish();
        Ok(run)
    }
}

/// Prints each failing URL's first error. The same URL failing again in a
/// later run only adds to the table's failure count: one line per run would
/// bury the table.
#[derive(Default)]
struct FirstErrors(HashSet<String>);

impl FirstErrors {
    fn note(&mut self, report: &JobReport, progress: &Progress) {
        if let Some(error) = report.outcome.error()
            && self.0.insert(report.url.clone())
        {
            progress.println(&error_line(report, error));
        }
    }
}

/// Where runs download. Without `--keep` it is a temporary directory in the
/// system's; with it, it sits inside the `--keep` directory, so every run
/// writes to the same file system and the last run's files move into place by
/// rename. Dropping it removes whatever is left.
struct Scratch {
    dir: TempDir,
    keep: Option<PathBuf>,
}

impl Scratch {
    fn new(keep: Option<&Path>) -> Result<Scratch> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(".tget-bench-");
        let dir = match keep {
            Some(keep) => {
                fs::create_dir_all(keep).with_context(|| {
                    format!("cannot create --keep directory {}", keep.display())
                })?;
                builder.tempdir_in(keep).with_context(|| {
                    format!("cannot create a scratch directory in {}", keep.display())
                })?
            }
            None => builder.tempdir().with_context(|| {
                format!(
                    "cannot create a temporary directory in {}",
                    std::env::temp_dir().display()
                )
            })?,
        };
        Ok(Scratch {
            dir,
            keep: keep.map(Path::to_path_buf),
        })
    }

    fn run_dir(&self, index: usize) -> Result<PathBuf> {
        let dir = self.dir.path().join(format!("run-{index:04}"));
        fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// Deletes a run's files right away, so a long bench never holds more
    /// than one run on disk; the last run's go to `--keep` instead.
    fn finish_run(&self, dir: &Path, last: bool) -> Result<()> {
        if let (true, Some(keep)) = (last, &self.keep) {
            move_files(dir, keep)?;
        }
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))
    }

    fn close(self) -> Result<()> {
        let path = self.dir.path().to_path_buf();
        self.dir
            .close()
            .with_context(|| format!("cannot remove {}", path.display()))
    }
}

/// Moves every file of `from` into `to`, replacing files of the same name.
fn move_files(from: &Path, to: &Path) -> Result<()> {
    let entries = fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", from.display()))?;
        let target = to.join(entry.file_name());
        fs::rename(entry.path(), &target).with_context(|| {
            format!(
                "cannot move {} to {}",
                entry.path().display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

/// The human report goes to stdout, where the result of a command belongs,
/// unless `--json` owns stdout: then it goes to stderr, and `-q` silences it.
fn print_report(results: &Results, config: &BenchConfig) -> Result<()> {
    let text = summary::report(results);
    if config.json {
        if !config.display.quiet {
            io::stderr().lock().write_all(text.as_bytes())?;
        }
        writeln!(io::stdout().lock(), "{}", export::json(results, config))?;
    } else {
        io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(())
}

/// An export whose directory is missing is an input error before a
/// minute of measuring, not after it; other failures (a full disk) can
/// only show when the file is written.
fn check_export_dirs(config: &BenchConfig) -> Result<()> {
    let exports = [("--csv", &config.csv), ("--plot", &config.plot)];
    for (flag, path) in exports {
        let Some(path) = path else { continue };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            anyhow::bail!(
                "{flag} {}: {} is not a directory that exists",
                path.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Exports are written after the report, so a bad path never costs the results.
fn write_exports(results: &Results, config: &BenchConfig) -> Result<()> {
    let mut written = Vec::new();
    if let Some(path) = &config.csv {
        export::write_csv(path, &results.rows)?;
        written.push(path);
    }
    if let Some(path) = &config.plot {
        plot::write_svg(path, &results.rows, &batch::title(&results.batch))?;
        written.push(path);
    }
    // Files written are named, so a user finds them without guessing paths.
    if !config.display.quiet {
        for path in written {
            eprintln!("tget bench: wrote {}", path.display());
        }
    }
    Ok(())
}
