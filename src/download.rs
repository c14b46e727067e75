//! `tget URL...`: one batch, reported as it goes, optionally timed against a
//! sequential run of the same batch (`--compare`).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};

use crate::cancel::Cancel;
use crate::config::{Config, Display, FetchConfig};
use crate::fetch::{Job, Status};
use crate::input::{self, Request};
use crate::naming::{self, Claims};
use crate::pool::{JobReport, Planned, Pool, PoolRun};
use crate::progress::Progress;
use crate::report::{Reporter, Summary, Totals};
use crate::segment::SplitPolicy;
use crate::timing::{self, Run, Series};
use crate::{Exit, http, signal};

pub fn run(config: &Config, cancel: &Cancel) -> Result<Exit> {
    let requests = input::open(&config.sources, config.shard)?;
    let mut reporter = Reporter::new(io::stdout().lock(), config.output);
    if config.compare {
        // Both runs need the same list, and stdin can be read only once.
        let requests: Vec<input::Item> = requests.collect();
        let mut skipped = HashSet::new();
        let pool_run = download(
            config,
            requests.clone().into_iter(),
            &mut reporter,
            cancel,
            |report| {
                if report.outcome.status == Status::Skipped {
                    skipped.insert(report.origin.to_string());
                }
            },
        );
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
            eprintln!(
                "tget: --compare: every file was already present, so there is nothing to time"
            );
        }
        let sequential = (!cancel.draining() && !nothing_fetched)
            .then(|| measure_sequential(config, fetched, cancel))
            .transpose()?;
        return finish(config, &mut reporter, &pool_run, sequential, cancel);
    }
    let pool_run = download(config, requests, &mut reporter, cancel, |_| {});
    finish(config, &mut reporter, &pool_run, None, cancel)
}

fn download(
    config: &Config,
    requests: impl Iterator<Item = input::Item> + Send,
    reporter: &mut Reporter<impl io::Write>,
    cancel: &Cancel,
    mut also: impl FnMut(&JobReport),
) -> PoolRun {
    let progress = Progress::new(config.display);
    // Counting reads each list file an extra time: only a drawn bar needs it.
    if progress.is_drawn()
        && let Some(count) = input::count_jobs(&config.sources, config.shard)
    {
        progress.expect_jobs(count);
    }
    let names = Arc::new(Mutex::new(Claims::default()));
    let pool = pool(&config.fetch, config.threads, cancel, names.clone());
    let jobs = plan(requests, &config.fetch.out_dir, config.sha256, names);
    let pool_run = pool.run(jobs, &progress, |report| {
        also(&report);
        if !reporter.record(&report, &progress) {
            cancel.drain();
        }
    });
    progress.finish();
    // Unless a sequential run follows (which should not find these connections
    // still open on the server), the process ends soon: the OS then closes the
    // idle keep-alive connections and frees their buffers at once, where dropping
    // the agent does it one by one (0.7 ms of a 11 ms run of 32 files).
    if !config.compare {
        std::mem::forget(pool);
    }
    pool_run
}

fn pool<'a>(
    fetch: &'a FetchConfig,
    threads: usize,
    cancel: &'a Cancel,
    names: Arc<Mutex<Claims>>,
) -> Pool<'a> {
    let agent = http::agent(&fetch.http, threads);
    Pool {
        interrupts: signal::watch(&agent),
        threads,
        agent,
        fetch,
        split: fetch.split,
        cancel,
        names,
    }
}

/// Names every job in list order (so names are deterministic) inside `dir`.
/// `names` is shared with the workers, which claim server-suggested names in it.
pub fn plan(
    requests: impl Iterator<Item = input::Item> + Send,
    dir: &Path,
    sha256: Option<[u8; 32]>,
    names: Arc<Mutex<Claims>>,
) -> impl Iterator<Item = Planned> + Send {
    let dir = dir.to_path_buf();
    requests.map(move |item| {
        item.map(|request: Request| {
            let wanted = match &request.out {
                Some(out) => naming::sanitize(out),
                None => naming::name_from_url(&request.url),
            };
            let name = names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .claim(&wanted);
            Job {
                // `-d .` (the default) lists bare names, as a user would type them.
                path: if dir == Path::new(".") {
                    name.into()
                } else {
                    dir.join(name)
                },
                sha256: request.sha256.or(sha256),
                url: request.url,
                origin: request.origin,
            }
        })
    })
}

/// Runs the same batch on one worker into a temporary directory (removed
/// afterwards) and returns its timing.
fn measure_sequential(config: &Config, requests: Vec<input::Item>, cancel: &Cancel) -> Result<Run> {
    let out_dir = &config.fetch.out_dir;
    fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".tget-compare-")
        .tempdir_in(&config.fetch.out_dir)
        .with_context(|| {
            format!(
                "cannot create a scratch directory in {}",
                config.fetch.out_dir.display()
            )
        })?;
    let fetch = FetchConfig {
        out_dir: scratch.path().to_path_buf(),
        overwrite: true,
        // The baseline is one connection at a time.
        split: SplitPolicy::OFF,
        ..config.fetch.clone()
    };
    let progress = Progress::new(Display {
        bars: config.display.bars,
        quiet: true,
    });
    if !config.display.quiet {
        progress.println("tget: --compare: running the same batch sequentially (1 thread)...");
    }
    let names = Arc::new(Mutex::new(Claims::default()));
    let jobs = plan(
        requests.into_iter(),
        scratch.path(),
        config.sha256,
        names.clone(),
    );
    let run = timed_batch(&fetch, 1, jobs, names, &progress, cancel, |_| {});
    progress.finish();
    Ok(run)
}

/// Runs planned jobs on `threads` workers and times them, counting results
/// instead of listing them: the one measurement that `--compare` and
/// `tget bench` share, so their numbers mean the same thing.
pub fn timed_batch(
    fetch: &FetchConfig,
    threads: usize,
    jobs: impl Iterator<Item = Planned> + Send,
    names: Arc<Mutex<Claims>>,
    progress: &Progress,
    cancel: &Cancel,
    mut on_report: impl FnMut(&JobReport),
) -> Run {
    let mut totals = Totals::default();
    let pool_run = pool(fetch, threads, cancel, names).run(jobs, progress, |report| {
        totals.add(&report);
        on_report(&report);
    });
    timed(&pool_run, &totals)
}

pub fn timed(pool_run: &PoolRun, totals: &Totals) -> Run {
    Run {
        wall: pool_run.wall,
        ok: totals.ok + totals.skipped,
        failed: totals.failed,
        bytes: totals.bytes,
    }
}

fn finish(
    config: &Config,
    reporter: &mut Reporter<impl io::Write>,
    pool_run: &PoolRun,
    sequential: Option<Run>,
    cancel: &Cancel,
) -> Result<Exit> {
    let totals = reporter.totals;
    if totals == Totals::default() && !config.display.quiet {
        eprintln!("tget: no URLs to download");
    }
    let comparison = sequential.map(|sequential| {
        let threaded = timed(pool_run, &totals);
        timing::rows(
            &[
                Series {
                    threads: 1,
                    runs: vec![sequential],
                },
                Series {
                    threads: config.threads,
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
    };
    reporter.finish(&summary, config.display.quiet)?;
    Ok(if cancel.aborted() {
        Exit::Interrupted
    } else if totals.failed > 0 {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}
