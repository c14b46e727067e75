//! What the user reads: one stdout line per finished job (a path, or a JSON
//! object), errors as they happen, and a summary with the timing comparison.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::HumanBytes;
use serde::Serialize;
use serde_json::json;

use crate::config::Output;
use crate::engine::job::{JobReport, Planned, Status, Totals};
use crate::engine::pool::{PoolRun, WorkerStats};
use crate::naming;
use crate::timing::{self, Row};
use crate::ui::failed::FailedList;
use crate::ui::progress::Progress;

pub struct Reporter<W: Write> {
    out: W,
    output: Output,
    out_open: bool,
    /// `--save-failed`, when asked for.
    failed: Option<FailedList>,
    pub totals: Totals,
}

/// The end of a run, for the summary.
pub struct Summary<'a> {
    pub totals: Totals,
    pub pool: &'a PoolRun,
    pub threads: usize,
    /// Measured with `--compare`: rows for 1 thread and for `threads`.
    pub comparison: Option<Vec<Row>>,
    /// Why the batch stopped starting jobs early (a full disk), if it did.
    pub halted: Option<String>,
}

impl<W: Write> Reporter<W> {
    pub fn new(out: W, output: Output, failed: Option<FailedList>) -> Self {
        Reporter {
            out,
            output,
            out_open: true,
            failed,
            totals: Totals::default(),
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
        if let Some(error) = report.outcome.error() {
            progress.println(&error_line(report, error));
        }
        let line = match self.output {
            Output::Json => Some(job_json(report).to_string()),
            Output::Paths if report.outcome.status() != Status::Failed => {
                report.path.as_ref().map(|p| p.display().to_string())
            }
            Output::Paths => None,
        };
        if let Some(line) = line {
            self.write_line(&line);
        }
        self.out_open
    }

    fn write_line(&mut self, line: &str) {
        if self.out_open
            && writeln!(self.out, "{line}")
                .and_then(|()| self.out.flush())
                .is_err()
        {
            // Closed or failing stdout: the downloads still matter, the listing no longer does.
            self.out_open = false;
        }
    }

    /// Prints the summary: human text on stderr (unless quiet), and with
    /// `--json` a final summary object on stdout.
    pub fn finish(&mut self, summary: &Summary, quiet: bool) {
        if !quiet && self.totals.odd_dates > 0 {
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
        if !quiet {
            // A closed stderr is no reason to lose the exit code of the downloads.
            let _ = io::stderr()
                .lock()
                .write_all(human_summary(summary).as_bytes());
        }
        if self.output == Output::Json {
            self.write_line(&summary_json(summary).to_string());
        }
    }
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
            idle_ms: ms(w.idle),
        })
        .collect();
    json!({
        "type": "summary",
        "halted": summary.halted,
        "ok": totals.ok,
        "skipped": totals.skipped,
        "failed": totals.failed,
        "bytes": totals.bytes,
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

pub fn human_summary(summary: &Summary) -> String {
    let totals = &summary.totals;
    let wall = summary.pool.wall;
    let rate = totals.bytes as f64 / wall.as_secs_f64().max(1e-9);
    let mut text = match &summary.halted {
        Some(reason) => format!(
            "\ntget: stopped starting jobs: {}\n",
            naming::escape_for_terminal(reason)
        ),
        None => String::new(),
    };
    text += &format!(
        "\n{} ok, {} skipped, {} failed; {} in {} ({}/s) with {} threads ({} started)\n",
        totals.ok,
        totals.skipped,
        totals.failed,
        HumanBytes(totals.bytes),
        timing::seconds(wall.as_secs_f64()),
        HumanBytes(rate as u64),
        summary.threads,
        summary.pool.workers.len(),
    );
    if !summary.pool.workers.is_empty() {
        text.push('\n');
        text.push_str(&worker_table(&summary.pool.workers));
        text.push_str(&waiting_share(&summary.pool.workers));
    }
    text.push('\n');
    match &summary.comparison {
        Some(rows) => {
            text.push_str("Measured comparison (same batch, sequential run into a temporary directory):\n");
            text.push_str(&timing::table(rows));
        }
        None => text.push_str(&format!(
            "Sequential estimate (sum of per-file times, not measured): {}, a speedup of {:.2}x from {} threads.\n\
             Run with --compare to measure the sequential time.\n",
            timing::seconds(totals.job_time.as_secs_f64()),
            speedup_estimate(totals, wall),
            summary.pool.workers.len().max(1),
        )),
    }
    text
}

/// One row per worker from its own local stats: who did what, how much of
/// that was waiting for servers to answer, and how long each one sat
/// waiting for work.
fn worker_table(workers: &[WorkerStats]) -> String {
    let mut text = format!(
        "{:<9} {:>6} {:>6} {:>11} {:>10} {:>10} {:>10}\n",
        "worker", "files", "failed", "bytes", "busy", "waiting", "idle"
    );
    for w in workers {
        text.push_str(&format!(
            "{:<9} {:>6} {:>6} {:>11} {:>10} {:>10} {:>10}\n",
            w.name,
            w.files,
            w.failed,
            HumanBytes(w.bytes).to_string(),
            timing::seconds(w.busy.as_secs_f64()),
            timing::seconds(w.waiting.as_secs_f64()),
            timing::seconds(w.idle.as_secs_f64()),
        ));
    }
    text
}

/// The IO-bound lesson in one line: how much of the workers' busy time went
/// to waiting for servers, which is what threads overlap. Said only when a
/// request was made (a run of skipped files waited for nothing).
fn waiting_share(workers: &[WorkerStats]) -> String {
    let busy: Duration = workers.iter().map(|w| w.busy).sum();
    let waiting: Duration = workers.iter().map(|w| w.waiting).sum();
    if waiting.is_zero() || busy.is_zero() {
        return String::new();
    }
    format!(
        "Waiting for servers took {:.0}% of the workers' busy time; \
         that waiting is what threads overlap.\n",
        100.0 * waiting.as_secs_f64() / busy.as_secs_f64()
    )
}
