//! What the user reads: one stdout line per finished job (a path, or a JSON
//! object), errors as they happen, and the summary (worded in `summary`).
//!
//! When stdout is the terminal the bars are on, its lines go through the
//! bars' owner, which prints them above the bars; elsewhere they are
//! written here, as they come.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::config::{Display, Format, Output};
use crate::engine::job::{JobReport, Planned, Status, Totals};
use crate::engine::pool::PoolRun;
use crate::naming;
use crate::timing::Row;
use crate::ui::failed::FailedList;
use crate::ui::progress::Progress;
use crate::ui::summary::{self, Facts, Resumed, Shared};
use crate::ui::terminal;

pub struct Reporter<W: Write> {
    out: W,
    output: Output,
    out_open: bool,
    /// `--save-failed`, when asked for.
    failed: Option<FailedList>,
    pub totals: Totals,
    resumed: Resumed,
    shared: Shared,
}

/// The end of a run, for the summary.
pub struct Summary<'a> {
    pub totals: Totals,
    pub pool: &'a PoolRun,
    pub threads: usize,
    /// Measured with `--compare`: rows for 1 thread and for `threads`.
    pub comparison: Option<Vec<Row>>,
    /// Ctrl-C (or a signal like it) stopped the run.
    pub interrupted: bool,
    /// Why the batch stopped starting jobs early (a full disk), if it did.
    pub halted: Option<String>,
    /// `--limit-rate` was set: the limit, not the threads, set the pace.
    pub rate_limited: bool,
}

impl<W: Write> Reporter<W> {
    pub fn new(out: W, output: Output, failed: Option<FailedList>) -> Self {
        Reporter {
            out,
            output,
            out_open: true,
            failed,
            totals: Totals::default(),
            resumed: Resumed::default(),
            shared: Shared::default(),
        }
    }

    /// Whether jobs a stop left unstarted are worth reading the list for.
    pub fn lists_unstarted(&self) -> bool {
        self.failed.is_some()
    }

    /// Lists, with `--save-failed`, jobs a stop left unstarted.
    pub fn unstarted(&mut self, jobs: impl Iterator<Item = Planned>, why: &str) {
        let Some(failed) = self.failed.as_mut() else {
            return;
        };
        for planned in jobs {
            failed.unstarted(&planned, why);
        }
    }

    /// Whether the `--save-failed` list lacks jobs it should hold: a retry
    /// of it would not be the rest of the batch.
    pub fn failed_list_broken(&self) -> bool {
        self.failed.as_ref().is_some_and(|f| f.problem().is_some())
    }

    /// Records one job and prints its stdout line (and its error on stderr).
    /// Returns false once stdout is closed (`| head -1`): the caller then
    /// stops starting new jobs.
    pub fn record(&mut self, report: &JobReport, progress: &Progress) -> bool {
        self.totals.add(report);
        if let Some(failed) = self.failed.as_mut() {
            failed.record(report);
        }
        self.tally(report);
        if let Some(error) = report.outcome.error() {
            progress.println(&error_line(report, error));
        }
        progress.finished(report);
        let line = match self.output.format {
            Format::Json => Some(job_json(report).to_string()),
            Format::Paths if report.outcome.status() != Status::Failed => {
                report.path.as_ref().map(|p| p.display().to_string())
            }
            Format::Paths => None,
        };
        if let Some(line) = line {
            self.write_line(&line, Some(progress));
        }
        self.out_open
    }

    /// Resumed and shared files, which the summary tells apart.
    fn tally(&mut self, report: &JobReport) {
        let outcome = &report.outcome;
        if outcome.status() != Status::Ok {
            return;
        }
        if outcome.workers > 1 {
            let name = report.path.as_ref().and_then(|p| p.file_name());
            let name =
                name.map_or_else(|| report.url.clone(), |n| n.to_string_lossy().into_owned());
            self.shared.add(&name, outcome.workers);
        }
        // A shared file can have been resumed too: its ranges on disk count.
        if outcome.present > 0 {
            self.resumed.files += 1;
            self.resumed.present += outcome.present;
        }
    }

    /// One line of stdout, ended by a newline, or a NUL with `--print0`.
    fn write_line(&mut self, line: &str, progress: Option<&Progress>) {
        let end = if self.output.print0 { '\0' } else { '\n' };
        if let Some(progress) = progress.filter(|p| p.owns_stdout()) {
            progress.print_stdout(format!("{line}{end}"));
            return;
        }
        if self.out_open
            && write!(self.out, "{line}{end}")
                .and_then(|()| self.out.flush())
                .is_err()
        {
            // Closed or failing stdout: the downloads still matter, the listing no longer does.
            self.out_open = false;
        }
    }

    /// Prints the summary: human text on stderr (unless quiet), and with
    /// `--json` a final summary object on stdout.
    pub fn finish(&mut self, summary: &Summary, display: Display) {
        if !display.quiet && self.totals.odd_dates > 0 {
            let files = match self.totals.odd_dates {
                1 => "1 file".to_string(),
                n => format!("{n} files"),
            };
            eprintln!(
                "tget: note: the server dated {files} before 1980 or in the future; \
                 {} the time of saving instead",
                if self.totals.odd_dates == 1 {
                    "it keeps"
                } else {
                    "they keep"
                }
            );
        }
        if let Some(problem) = self.failed.as_ref().and_then(FailedList::problem) {
            eprintln!("tget: {problem}");
        }
        if !display.quiet {
            let facts = self.facts(summary, display);
            // A closed stderr is no reason to lose the exit code of the downloads.
            let _ = io::stderr()
                .lock()
                .write_all(summary::text(&facts).as_bytes());
        }
        if self.output.format == Format::Json {
            self.write_line(&summary_json(summary).to_string(), None);
        }
    }

    fn facts<'a>(&self, summary: &'a Summary, display: Display) -> Facts<'a> {
        Facts {
            totals: summary.totals,
            workers: &summary.pool.workers,
            wall: summary.pool.wall,
            resumed: self.resumed,
            shared: self.shared.clone(),
            interrupted: summary.interrupted,
            halted: summary.halted.as_deref(),
            rate_limited: summary.rate_limited,
            comparison: summary.comparison.as_deref(),
            all_workers: display.all_workers,
            cores: cores(),
            width: summary_width(),
        }
    }
}

/// 80 columns, or fewer when the summary goes to a narrower terminal.
fn summary_width() -> usize {
    if io::stderr().is_terminal() {
        summary::WIDTH.min(terminal::size().1.max(20))
    } else {
        summary::WIDTH
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `tget: URL: reason after N attempts (list.txt:3)`, safe to print: the URL,
/// the reason and the list name may hold anything, escape sequences included.
pub fn error_line(report: &JobReport, error: &str) -> String {
    let attempts = match report.outcome.attempts {
        0 | 1 => String::new(),
        n => format!(" after {n} attempts"),
    };
    let origin = report.origin.to_string();
    // A list line that could not become a job already says where it is.
    let line = if error.starts_with(&origin) {
        format!("tget: {error}")
    } else {
        format!("tget: {}: {error}{attempts} ({origin})", report.url)
    };
    naming::escape_for_terminal(&line)
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

fn job_json(report: &JobReport) -> serde_json::Value {
    let outcome = &report.outcome;
    json!({
        "type": "job",
        "url": report.url,
        "path": report.path.as_ref().map(|p| p.display().to_string()),
        "status": outcome.status(),
        "bytes": outcome.bytes(),
        "http_status": outcome.http_status,
        "elapsed_ms": ms(outcome.elapsed),
        "waiting_ms": ms(outcome.waiting),
        "attempts": outcome.attempts,
        "shared_by": outcome.workers,
        "worker": report.worker,
        "source": report.origin.to_string(),
        "error": outcome.error(),
    })
}

#[derive(Serialize)]
struct WorkerJson<'a> {
    name: &'a str,
    files: u64,
    failed: u64,
    bytes: u64,
    busy_ms: f64,
    waiting_ms: f64,
    cpu_ms: f64,
    idle_ms: f64,
}

fn summary_json(summary: &Summary) -> serde_json::Value {
    let totals = &summary.totals;
    let wall = summary.pool.wall;
    let workers: Vec<WorkerJson> = summary
        .pool
        .workers
        .iter()
        .map(|w| WorkerJson {
            name: &w.name,
            files: w.files,
            failed: w.failed,
            bytes: w.bytes,
            busy_ms: ms(w.busy),
            waiting_ms: ms(w.waiting),
            cpu_ms: ms(w.cpu),
            idle_ms: ms(w.idle),
        })
        .collect();
    json!({
        "type": "summary",
        "ok": totals.ok,
        "skipped": totals.skipped,
        "failed": totals.failed,
        "bytes": totals.bytes,
        "received_bytes": summary.pool.workers.iter().map(|w| w.bytes).sum::<u64>(),
        "interrupted": summary.interrupted,
        "wall_ms": ms(wall),
        "threads": summary.threads,
        "workers_started": summary.pool.workers.len(),
        "throughput_bytes_per_s": totals.bytes as f64 / wall.as_secs_f64().max(1e-9),
        "sequential_estimate_ms": ms(totals.job_time),
        "speedup_estimate": speedup_estimate(totals, wall),
        "workers": workers,
        "comparison": summary.comparison,
    })
}

fn speedup_estimate(totals: &Totals, wall: Duration) -> f64 {
    totals.job_time.as_secs_f64() / wall.as_secs_f64().max(1e-9)
}
