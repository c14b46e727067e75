//! `tget bench`: the same batch at several thread counts.
//!
//! Every run goes through `download::timed_batch`, the measurement that
//! `tget --compare` uses too, and every number is derived by `timing`, so a
//! bench table and a `--compare` table mean the same thing.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::HumanBytes;
use serde::Serialize;
use tempfile::TempDir;
use testserver::Server;

use crate::Exit;
use crate::cancel::Cancel;
use crate::config::{BenchConfig, FetchConfig, SyntheticBatch};
use crate::download::{plan, timed_batch};
use crate::input::{self, Shard, Source};
use crate::naming::Claims;
use crate::pool::JobReport;
use crate::progress::Progress;
use crate::segment::SplitPolicy;
use crate::timing::{self, Row, Run, Series};
use crate::{export, plot};

/// The batch under test, read once so that every run downloads the same list.
pub struct Batch {
    pub requests: Vec<input::Item>,
    pub kind: BatchKind,
}

/// What the batch is, for the report and the `config` part of `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BatchKind {
    /// The built-in server's synthetic batch, whose best possible time is known.
    BuiltIn {
        files: usize,
        size_bytes: u64,
        latency_ms: f64,
        bandwidth_bytes_per_s: Option<u64>,
    },
    /// The user's URLs.
    Urls { jobs: usize, sources: Vec<String> },
}

impl Batch {
    pub fn synthetic(server: &Server, shape: SyntheticBatch) -> Result<Batch> {
        let urls = batch_urls(server, &shape);
        let requests = input::open(&[Source::Arguments(urls)], None)?.collect();
        Ok(Batch {
            requests,
            kind: BatchKind::BuiltIn {
                files: shape.files,
                size_bytes: shape.size,
                latency_ms: shape.latency.as_secs_f64() * 1e3,
                bandwidth_bytes_per_s: shape.bandwidth,
            },
        })
    }

    pub fn from_sources(sources: &[Source], shard: Option<Shard>) -> Result<Batch> {
        let requests: Vec<input::Item> = input::open(sources, shard)?.collect();
        if requests.is_empty() {
            bail!("the URL lists hold no URLs: nothing to benchmark");
        }
        let sources = sources.iter().map(source_name).collect();
        Ok(Batch {
            kind: BatchKind::Urls {
                jobs: requests.len(),
                sources,
            },
            requests,
        })
    }

    /// The best time `threads` workers could reach on the built-in batch: each
    /// worker takes ceil(files / threads) files one after another, and no file
    /// can beat the server's latency plus its paced transfer. Unknown for real
    /// URLs, whose servers and links are not ours to know.
    pub fn ideal(&self, threads: usize) -> Option<Duration> {
        let BatchKind::BuiltIn {
            files,
            size_bytes,
            latency_ms,
            bandwidth_bytes_per_s,
        } = self.kind
        else {
            return None;
        };
        let transfer = bandwidth_bytes_per_s.map_or(0.0, |rate| size_bytes as f64 / rate as f64);
        let per_file = latency_ms / 1e3 + transfer;
        if per_file <= 0.0 {
            // Nothing to wait for: the bound is CPU work, which no formula here knows.
            return None;
        }
        Some(Duration::from_secs_f64(
            per_file * files.div_ceil(threads.max(1)) as f64,
        ))
    }
}

/// The built-in server's URLs for a synthetic batch: `files` files of `size` bytes each.
fn batch_urls(server: &Server, batch: &SyntheticBatch) -> Vec<String> {
    let mut query = format!("size={}&latency={}", batch.size, batch.latency.as_millis());
    if let Some(rate) = batch.bandwidth {
        query.push_str(&format!("&rate={rate}"));
    }
    (0..batch.files)
        .map(|i| server.url(&format!("/bench/file-{i:04}.bin?{query}")))
        .collect()
}

fn source_name(source: &Source) -> String {
    match source {
        Source::Arguments(_) => "arguments".into(),
        Source::File(path) => path.display().to_string(),
        Source::Stdin => "-".into(),
    }
}

/// One timed run of the whole batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunRecord {
    /// 1-based.
    pub round: usize,
    pub threads: usize,
    pub run: Run,
}

/// Everything a bench found: what the table, the exports and the chart show.
#[derive(Debug, Clone)]
pub struct Results {
    pub batch: BatchKind,
    pub threads: Vec<usize>,
    pub rounds: usize,
    /// In the order they ran.
    pub runs: Vec<RunRecord>,
    pub rows: Vec<Row>,
    pub scaling_stops_at: Option<usize>,
    pub available_parallelism: usize,
    /// False when Ctrl-C stopped the bench before its last run.
    pub complete: bool,
}

impl Results {
    fn new(batch: &Batch, config: &BenchConfig, runs: Vec<RunRecord>) -> Results {
        let series: Vec<Series> = config
            .threads
            .iter()
            .map(|&threads| Series {
                threads,
                runs: runs
                    .iter()
                    .filter(|r| r.threads == threads)
                    .map(|r| r.run)
                    .collect(),
            })
            .filter(|s| !s.runs.is_empty())
            .collect();
        let rows = timing::rows(&series, |threads| batch.ideal(threads));
        Results {
            batch: batch.kind.clone(),
            threads: config.threads.clone(),
            rounds: config.rounds,
            complete: runs.len() == config.threads.len() * config.rounds,
            runs,
            scaling_stops_at: timing::scaling_stops_at(&rows),
            rows,
            available_parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    pub fn failures(&self) -> u64 {
        self.runs.iter().map(|r| r.run.failed).sum()
    }
}

/// `tget bench`: measure, report, export.
pub fn run(config: &BenchConfig, cancel: &Cancel) -> Result<Exit> {
    // Started only for the synthetic batch, and kept alive until every run is done.
    let server = if config.sources.is_empty() {
        Some(Server::start().context("cannot start the built-in server on 127.0.0.1")?)
    } else {
        None
    };
    let batch = match &server {
        Some(server) => Batch::synthetic(server, config.synthetic)?,
        None => Batch::from_sources(&config.sources, config.shard)?,
    };
    let results = measure(&batch, config, cancel)?;
    print_report(&results, config)?;
    if !results.complete {
        return Ok(Exit::Interrupted);
    }
    write_exports(&results, config)?;
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
        let run = runner.run(round, threads, &dir);
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
    fn run(&mut self, round: usize, threads: usize, dir: &Path) -> Run {
        let progress = Progress::new(self.config.display);
        if !self.config.display.quiet {
            let plural = if threads == 1 { "" } else { "s" };
            progress.println(&format!(
                "tget bench: round {round}/{}, {threads} thread{plural}",
                self.config.rounds
            ));
        }
        let fetch = FetchConfig {
            out_dir: dir.to_path_buf(),
            overwrite: true,
            resume: false,
            content_disposition: false,
            // As a plain download would: big files are shared by idle workers.
            split: SplitPolicy::sharing_among(threads),
            http: self.config.http.clone(),
        };
        let names = Arc::new(Mutex::new(Claims::default()));
        let jobs = plan(
            self.batch.requests.clone().into_iter(),
            dir,
            None,
            names.clone(),
        );
        let errors = &mut self.errors;
        let run = timed_batch(
            &fetch,
            threads,
            jobs,
            names,
            &progress,
            self.cancel,
            |report| {
                errors.note(report, &progress);
            },
        );
        progress.finish();
        run
    }
}

/// Prints each failing URL's first error. The same URL failing again in a
/// later run only adds to the table's failure count: one line per run would
/// bury the table.
#[derive(Default)]
struct FirstErrors(HashSet<String>);

impl FirstErrors {
    fn note(&mut self, report: &JobReport, progress: &Progress) {
        if let Some(error) = &report.outcome.error
            && self.0.insert(report.url.clone())
        {
            progress.println(&crate::report::error_line(report, error));
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
    let text = report(results);
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

/// Exports are written after the report, so a bad path never costs the results.
fn write_exports(results: &Results, config: &BenchConfig) -> Result<()> {
    if let Some(path) = &config.csv {
        export::write_csv(path, &results.rows)?;
    }
    if let Some(path) = &config.plot {
        plot::write_svg(path, &results.rows, &title(&results.batch))?;
    }
    Ok(())
}

/// The table, then what it means: the ideal next to the measured time, and
/// where scaling stopped.
pub fn report(results: &Results) -> String {
    let mut text = format!(
        "\n{}; {} round{} interleaved; {} CPU{} available\n",
        title(&results.batch),
        results.rounds,
        if results.rounds == 1 { "" } else { "s" },
        results.available_parallelism,
        if results.available_parallelism == 1 {
            ""
        } else {
            "s"
        },
    );
    if !results.complete {
        text.push_str(&format!(
            "Interrupted after {} of {} runs: the results so far (no files exported).\n",
            results.runs.len(),
            results.threads.len() * results.rounds
        ));
    }
    text.push('\n');
    text.push_str(&timing::table(&results.rows));
    text.push('\n');
    if let Some(line) = ideal_line(results) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&scaling_line(
        &results.rows,
        &results.batch,
        results.available_parallelism,
    ));
    text.push('\n');
    text
}

/// "64 files x 256.00 KiB from the built-in server (50 ms latency)".
pub fn title(batch: &BatchKind) -> String {
    match batch {
        BatchKind::BuiltIn {
            files,
            size_bytes,
            latency_ms,
            bandwidth_bytes_per_s,
        } => {
            let pacing = bandwidth_bytes_per_s
                .map(|rate| format!(", {}/s per connection", HumanBytes(rate)))
                .unwrap_or_default();
            format!(
                "{files} files x {} from the built-in server ({latency_ms} ms latency{pacing})",
                HumanBytes(*size_bytes)
            )
        }
        BatchKind::Urls { jobs, sources } => {
            format!("{jobs} URLs from {}", sources.join(", "))
        }
    }
}

fn jobs(batch: &BatchKind) -> usize {
    match batch {
        BatchKind::BuiltIn { files, .. } => *files,
        BatchKind::Urls { jobs, .. } => *jobs,
    }
}

/// The latency-bound ideal, named by its formula, against the fastest run.
fn ideal_line(results: &Results) -> Option<String> {
    let BatchKind::BuiltIn {
        files,
        size_bytes,
        latency_ms,
        bandwidth_bytes_per_s,
    } = &results.batch
    else {
        return None;
    };
    let best = results
        .rows
        .iter()
        .min_by(|a, b| a.median_s.total_cmp(&b.median_s))?;
    let per_file = match bandwidth_bytes_per_s {
        Some(rate) => format!(
            "({latency_ms} ms latency + {:.0} ms transfer)",
            *size_bytes as f64 / *rate as f64 * 1e3
        ),
        None => format!("{latency_ms} ms"),
    };
    let ideal = best.ideal_s?;
    Some(format!(
        "Ideal (latency-bound): ceil({files} / threads) x {per_file}. Fastest: {} threads, \
         median {} against an ideal of {} ({:.0}% of ideal).",
        best.threads,
        timing::seconds(best.median_s),
        timing::seconds(ideal),
        ideal / best.median_s * 100.0
    ))
}

/// Where more threads stopped paying (`timing::scaling_stops_at`), and the
/// likeliest reason, in one line.
pub fn scaling_line(rows: &[Row], batch: &BatchKind, cores: usize) -> String {
    if rows.len() < 2 {
        return "Scaling: it takes two thread counts to tell.".into();
    }
    let Some(stop) = timing::scaling_stops_at(rows) else {
        return "Scaling: every step still helped (each cut the median by 10% or more).".into();
    };
    let (Some(at), Some(next)) = (
        rows.iter().find(|r| r.threads == stop),
        rows.iter().find(|r| r.threads > stop),
    ) else {
        return String::new();
    };
    format!(
        "Scaling: more than {stop} thread{} stopped helping ({} threads: median {} against {}): {}.",
        if stop == 1 { "" } else { "s" },
        next.threads,
        timing::seconds(next.median_s),
        timing::seconds(at.median_s),
        stop_reason(at, next, batch, cores)
    )
}

fn stop_reason(at: &Row, next: &Row, batch: &BatchKind, cores: usize) -> String {
    let cpus = format!("{cores} CPU{}", if cores == 1 { "" } else { "s" });
    let jobs = jobs(batch);
    if at.threads >= jobs {
        return format!("there are only {jobs} files, so the extra threads have nothing to do");
    }
    if let (Some(a), Some(b)) = (at.ideal_s, next.ideal_s)
        && b > a * 0.9
    {
        return "the ideal does not drop either: ceil(files / threads) stays the same".into();
    }
    match (batch, next.ideal_s) {
        (BatchKind::BuiltIn { .. }, ideal) => format!(
            "waiting is no longer the limit{}; fixed costs (starting threads, connecting) \
             and CPU work (making, copying and writing the bytes, on both ends of the \
             loopback) on {cpus} are",
            ideal
                .map(|b| format!(" (the ideal is {})", timing::seconds(b)))
                .unwrap_or_default()
        ),
        (BatchKind::Urls { .. }, _) => format!(
            "waiting on responses is no longer the limit; the link, the servers or the {cpus} are"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_in(files: usize, latency_ms: f64, bandwidth: Option<u64>) -> Batch {
        Batch {
            requests: Vec::new(),
            kind: BatchKind::BuiltIn {
                files,
                size_bytes: 1 << 20,
                latency_ms,
                bandwidth_bytes_per_s: bandwidth,
            },
        }
    }

    fn row(threads: usize, median_s: f64, ideal_s: Option<f64>) -> Row {
        Row {
            threads,
            runs: 1,
            median_s,
            min_s: median_s,
            max_s: median_s,
            speedup: 1.0,
            efficiency: 1.0,
            throughput_bytes_per_s: 0.0,
            failures: 0,
            ideal_s,
        }
    }

    #[test]
    fn the_ideal_is_whole_files_per_thread_times_latency() {
        let batch = built_in(64, 50.0, None);
        assert_eq!(batch.ideal(1), Some(Duration::from_millis(3200)));
        assert_eq!(batch.ideal(3), Some(Duration::from_millis(22 * 50)));
        assert_eq!(batch.ideal(128), Some(Duration::from_millis(50)));
    }

    #[test]
    fn paced_transfers_add_to_the_ideal() {
        // 1 MiB at 4 MiB/s is 250 ms on top of the 50 ms latency.
        let batch = built_in(8, 50.0, Some(4 << 20));
        assert_eq!(batch.ideal(4), Some(Duration::from_millis(600)));
    }

    #[test]
    fn real_urls_have_no_ideal() {
        let batch = Batch {
            requests: Vec::new(),
            kind: BatchKind::Urls {
                jobs: 3,
                sources: vec!["urls.txt".into()],
            },
        };
        assert_eq!(batch.ideal(4), None);
    }

    #[test]
    fn scaling_lines_name_the_stop_and_a_reason() {
        let built_in = built_in(64, 50.0, None).kind;
        let rows = [row(1, 3.2, Some(3.2)), row(2, 1.6, Some(1.6))];
        assert!(scaling_line(&rows, &built_in, 2).contains("every step still helped"));

        let rows = [row(4, 0.8, Some(0.8)), row(8, 0.78, Some(0.4))];
        let line = scaling_line(&rows, &built_in, 2);
        assert!(line.starts_with("Scaling: more than 4 threads"), "{line}");
        assert!(line.contains("(the ideal is 0.400 s)"), "{line}");
        assert!(line.contains("on 2 CPUs"), "{line}");

        let rows = [row(64, 0.1, Some(0.05)), row(128, 0.1, Some(0.05))];
        assert!(scaling_line(&rows, &built_in, 2).contains("only 64 files"));

        let urls = BatchKind::Urls {
            jobs: 10,
            sources: vec!["urls.txt".into()],
        };
        let rows = [row(1, 1.0, None), row(2, 1.0, None)];
        assert!(scaling_line(&rows, &urls, 2).contains("the link, the servers"));
        assert!(scaling_line(&rows[..1], &urls, 2).contains("two thread counts"));
    }

    #[test]
    fn no_latency_and_no_pacing_has_no_ideal() {
        assert_eq!(built_in(8, 0.0, None).ideal(2), None);
    }
}
