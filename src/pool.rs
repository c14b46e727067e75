//! A fixed pool of named OS worker threads fed through a bounded channel.
//!
//! The input thread reads the list, names the jobs, and starts a worker for
//! each of the first N jobs (never more workers than jobs). Each worker keeps
//! its statistics in its own local `WorkerStats`, touched by no other thread;
//! the pool merges them when it joins the workers. Results flow back to the
//! calling thread, which reports them as they come.

use std::sync::{Arc, Mutex};
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ureq::Agent;

use crate::cancel::Cancel;
use crate::config::FetchConfig;
use crate::fetch::{Fetcher, Job, Outcome, Status};
use crate::input::InputError;
use crate::naming::Claims;
use crate::progress::{Progress, WorkerBar};

/// A job ready to run, or a list line that could not become one.
pub type Planned = Result<Job, InputError>;

/// What happened to one job, sent back to the reporting thread.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub url: String,
    pub path: Option<std::path::PathBuf>,
    pub origin: crate::input::Origin,
    pub outcome: Outcome,
    pub worker: Option<String>,
}

/// One worker's own tally, kept in the worker's local state and merged at join.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    pub name: String,
    pub files: u64,
    pub failed: u64,
    pub bytes: u64,
    /// Time spent running jobs.
    pub busy: Duration,
    /// Time spent waiting for the next job.
    pub idle: Duration,
}

impl WorkerStats {
    fn record(&mut self, outcome: &Outcome, busy: Duration) {
        self.busy += busy;
        self.bytes += outcome.bytes;
        match outcome.status {
            Status::Ok => self.files += 1,
            Status::Failed => self.failed += 1,
            Status::Skipped => {}
        }
    }
}

/// What a finished pool hands back.
#[derive(Debug, Clone)]
pub struct PoolRun {
    pub wall: Duration,
    pub workers: Vec<WorkerStats>,
}

pub struct Pool<'a> {
    pub threads: usize,
    pub agent: Agent,
    pub fetch: &'a FetchConfig,
    pub cancel: &'a Cancel,
    /// The names planning hands out, for names only known at download time.
    pub names: Arc<Mutex<Claims>>,
}

pub fn worker_name(index: usize) -> String {
    format!("tget-w{index:02}")
}

impl Pool<'_> {
    /// Runs every planned job and calls `on_report` on this thread for each
    /// result as it arrives.
    pub fn run(
        &self,
        jobs: impl Iterator<Item = Planned> + Send,
        progress: &Progress,
        mut on_report: impl FnMut(JobReport),
    ) -> PoolRun {
        let started = Instant::now();
        let (report_tx, report_rx) = unbounded::<JobReport>();
        let workers = thread::scope(|scope| {
            let feeder = thread::Builder::new()
                .name("tget-input".into())
                .spawn_scoped(scope, move || self.feed(scope, jobs, progress, report_tx))
                .expect("the OS refused to start the input thread");
            for report in report_rx {
                progress.job_finished();
                on_report(report);
            }
            feeder.join().expect("the input thread panicked")
        });
        PoolRun {
            wall: started.elapsed(),
            workers,
        }
    }

    /// The input thread: plans jobs, starts workers on demand, then joins them
    /// and merges nothing but their returned local stats.
    fn feed<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        jobs: impl Iterator<Item = Planned>,
        progress: &'scope Progress,
        report_tx: Sender<JobReport>,
    ) -> Vec<WorkerStats> {
        let (job_tx, job_rx) = bounded::<Job>(2 * self.threads);
        let mut handles = Vec::new();
        for planned in jobs {
            if self.cancel.draining() {
                break;
            }
            let job = match planned {
                Ok(job) => job,
                Err(error) => {
                    progress.job_queued();
                    let _ = report_tx.send(invalid_line(error));
                    continue;
                }
            };
            if handles.len() < self.threads {
                let index = handles.len();
                let bar = progress.worker_bar(index, &worker_name(index));
                handles.push(self.spawn_worker(
                    scope,
                    index,
                    bar,
                    job_rx.clone(),
                    report_tx.clone(),
                ));
            }
            progress.job_queued();
            if job_tx.send(job).is_err() {
                break;
            }
        }
        drop(job_tx);
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    }

    fn spawn_worker<'scope>(
        &'scope self,
        scope: &'scope Scope<'scope, '_>,
        index: usize,
        bar: WorkerBar,
        jobs: Receiver<Job>,
        reports: Sender<JobReport>,
    ) -> thread::ScopedJoinHandle<'scope, WorkerStats> {
        thread::Builder::new()
            .name(worker_name(index))
            .spawn_scoped(scope, move || self.work(bar, jobs, reports))
            .expect("the OS refused to start a worker thread")
    }

    fn work(&self, bar: WorkerBar, jobs: Receiver<Job>, reports: Sender<JobReport>) -> WorkerStats {
        let name = thread::current()
            .name()
            .unwrap_or("tget-worker")
            .to_string();
        let mut stats = WorkerStats {
            name: name.clone(),
            ..WorkerStats::default()
        };
        let mut fetcher = Fetcher::new(self.agent.clone(), self.fetch, self.cancel, &self.names);
        let mut waiting_since = Instant::now();
        while let Ok(job) = jobs.recv() {
            stats.idle += waiting_since.elapsed();
            if self.cancel.draining() {
                break;
            }
            let started = Instant::now();
            let outcome = fetcher.run(&job, &bar);
            stats.record(&outcome, started.elapsed());
            bar.idle();
            let report = JobReport {
                url: job.url,
                path: Some(outcome.saved_as.clone().unwrap_or(job.path)),
                origin: job.origin,
                outcome,
                worker: Some(name.clone()),
            };
            if reports.send(report).is_err() {
                break;
            }
            waiting_since = Instant::now();
        }
        bar.done();
        stats
    }
}

fn invalid_line(error: InputError) -> JobReport {
    JobReport {
        url: error.text.clone(),
        path: None,
        origin: error.origin.clone(),
        outcome: Outcome::failed(error.to_string()),
        worker: None,
    }
}
