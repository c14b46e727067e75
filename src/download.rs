//! `tget URL...`: one batch, reported as it goes, optionally timed against a
//! sequential run of the same batch (`--compare`).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};

use crate::config::{Config, Display, FetchConfig, Source, SplitPolicy};
use crate::engine::job::{self, JobReport, Planning, Status};
use crate::engine::outdir::Dir;
use crate::engine::pool::{Pool, PoolRun};
use crate::exit::{Exit, Fatal, OrExit};
use crate::input;
use crate::naming::Claims;
use crate::stop::Cancel;
use crate::timing::{self, Run, Series};
use crate::ui::failed::FailedList;
use crate::ui::progress::Progress;
use crate::ui::report::{Reporter, Summary};

pub fn run(config: &Config, cancel: &Cancel) -> Result<Exit, Fatal> {
    // A list that cannot be read leaves no directory behind.
    let requests = input::open(&config.sources, config.shard).or_exit(Exit::Usage)?;
    let out = open_out_dir(&config.out_dir).or_exit(Exit::Usage)?;
    let failed = open_failed_list(config).or_exit(Exit::Usage)?;
    // Not locked for the run: the bars' thread prints stdout's lines when both share a terminal.
    let mut reporter = Reporter::new(io::stdout(), config.output, failed);
    let batch = Batch {
        config,
        out: &out,
        cancel,
    };
    if !config.compare {
        let pool_run = batch.download(requests, &mut reporter, |_| {});
        return Ok(finish(config, &mut reporter, &pool_run, None, cancel));
    }
    // Both runs need the same list, and stdin can be read only once.
    let requests: Vec<input::Item> = requests.collect();
    let mut skipped = HashSet::new();
    let pool_run = batch.download(requests.clone().into_iter(), &mut reporter, |report| {
        if report.outcome.status() == Status::Skipped {
            skipped.insert(report.origin.to_string());
        }
    });
    // Files skipped as already present cost the threaded run nothing, so
    // the sequential run leaves them out too: both time the same work.
    let fetched: Vec<input::Item> = requests
        .into_iter()
        .filter(|item| {
            !item
                .as_ref()
                .is_ok_and(|r| skipped.contains(&r.origin.to_string()))
        })
        .collect();
    let nothing_fetched = fetched.is_empty();
    if nothing_fetched && !config.display.quiet {
        eprintln!("tget: --compare: every file was already present, so there is nothing to time");
    }
    let sequential = (!cancel.draining() && !nothing_fetched)
        .then(|| measure_sequential(config, fetched, cancel))
        .transpose()
        .or_exit(Exit::CannotProceed)?;
    Ok(finish(config, &mut reporter, &pool_run, sequential, cancel))
}

/// Opens the output directory, which must exist (it is made) and take
/// files, or nothing is requested: every job would fail the same way.
fn open_out_dir(path: &Path) -> anyhow::Result<Dir> {
    let dir = Dir::open(path)
        .with_context(|| format!("cannot create the output directory {}", path.display()))?;
    let (probe, _) = dir
        .temp_file("tget-check-")
        .with_context(|| format!("cannot write in the output directory {}", path.display()))?;
    let _ = dir.remove(&probe);
    Ok(dir)
}

/// `--save-failed`, emptied for this run; never one of the lists being read.
fn open_failed_list(config: &Config) -> anyhow::Result<Option<FailedList>> {
    let Some(path) = &config.save_failed else {
        return Ok(None);
    };
    for source in &config.sources {
        if let Source::File(list) = source
            && same_file(list, path)
        {
            bail!(
                "--save-failed {} is also a list to read (-i): write it elsewhere",
                path.display()
            );
        }
    }
    FailedList::create(path).map(Some)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// What a download run needs besides its list and its outputs.
struct Batch<'a> {
    config: &'a Config,
    out: &'a Dir,
    cancel: &'a Cancel,
}

impl Batch<'_> {
    fn download(
        &self,
        requests: impl Iterator<Item = input::Item> + Send,
        reporter: &mut Reporter<impl io::Write>,
        mut also: impl FnMut(&JobReport),
    ) -> PoolRun {
        let (config, cancel) = (self.config, self.cancel);
        let mut progress = Progress::new(config.display, config.threads);
        // Counting reads each list file an extra time: only a drawn bar needs it.
        if progress.is_drawn()
            && let Some(count) = input::count_jobs(&config.sources, config.shard)
        {
            progress.board().expect_jobs(count);
        }
        let names = Arc::new(Mutex::new(Claims::default()));
        let pool = Pool::new(
            &config.fetch,
            config.threads,
            cancel,
            names.clone(),
            self.out.clone(),
        );
        let jobs = job::plan(requests, planning(config, &config.out_dir), names);
        let (pool_run, unstarted) = pool.run(jobs, progress.board(), |report| {
            also(&report);
            if !reporter.record(&report, &progress) {
                cancel.drain();
            }
        });
        progress.finish();
        // Read to the end of the list, so a retry has every line the run skipped.
        if reporter.lists_unstarted() {
            reporter.unstarted(unstarted, &stop_reason(cancel));
        }
        pool_run
    }
}

/// How this run names its jobs, in `out_dir`.
fn planning(config: &Config, out_dir: &Path) -> Planning {
    Planning {
        out_dir: out_dir.to_path_buf(),
        layout: config.layout,
        sha256: config.sha256,
    }
}

/// Why a run stopped before the end of its list, in a few words.
fn stop_reason(cancel: &Cancel) -> String {
    match cancel.halted() {
        _ if cancel.aborted() => "interrupted".into(),
        Some(reason) => reason,
        None => "stdout was closed".into(),
    }
}

/// Runs the same batch on one worker into a temporary directory (removed
/// afterwards) and returns its timing.
fn measure_sequential(
    config: &Config,
    requests: Vec<input::Item>,
    cancel: &Cancel,
) -> anyhow::Result<Run> {
    let out_dir = &config.out_dir;
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".tget-compare-")
        .tempdir_in(out_dir)
        .with_context(|| format!("cannot create a scratch directory in {}", out_dir.display()))?;
    let fetch = FetchConfig {
        overwrite: true,
        // The baseline is one connection at a time.
        split: SplitPolicy::OFF,
        ..config.fetch.clone()
    };
    let mut progress = Progress::new(
        Display {
            quiet: true,
            ..config.display
        },
        1,
    );
    if !config.display.quiet {
        progress.println("tget: --compare: running the same batch sequentially (1 thread)...");
    }
    let out = Dir::open(scratch.path())?;
    let names = Arc::new(Mutex::new(Claims::default()));
    let pool = Pool::new(&fetch, 1, cancel, names.clone(), out);
    let jobs = job::plan(
        requests.into_iter(),
        planning(config, scratch.path()),
        names,
    );
    let run = timing::timed_batch(&pool, jobs, progress.board(), |_| {});
    progress.finish();
    Ok(run)
}

fn finish(
    config: &Config,
    reporter: &mut Reporter<impl io::Write>,
    pool_run: &PoolRun,
    sequential: Option<Run>,
    cancel: &Cancel,
) -> Exit {
    let totals = reporter.totals;
    let comparison = sequential.map(|sequential| {
        let threaded = Run::of(pool_run, &totals);
        timing::rows(
            &[
                Series {
                    threads: 1,
                    runs: vec![sequential],
                },
                // The threads that ran: fewer than `-t` for a short list.
                Series {
                    threads: pool_run.workers.len().max(1),
                    runs: vec![threaded],
                },
            ],
            |_| None,
        )
    });
    let summary = Summary {
        totals,
        pool: pool_run,
        threads: config.threads,
        comparison,
        halted: cancel.halted(),
        interrupted: cancel.aborted(),
        rate_limited: config.fetch.http.limit_rate.is_some(),
    };
    reporter.finish(&summary, config.display);
    let batch = if cancel.aborted() {
        Exit::Interrupted
    } else if totals.failed > 0 {
        Exit::SomeFailed
    } else {
        Exit::Success
    };
    if reporter.failed_list_broken() {
        return batch.worst(Exit::CannotProceed);
    }
    batch
}
