//! A fixed pool of named OS worker threads fed through a bounded channel.
//!
//! The input thread reads the list, names the jobs, and starts a worker for
//! each of the first N jobs (never more workers than there is work for). Each
//! worker keeps its statistics in its own local `WorkerStats`, touched by no
//! other thread, and hands it back when it ends; the pool merges them after
//! joining every thread. Results flow back to the calling thread, which
//! reports them as they come.
//!
//! A worker with nothing queued helps with a big transfer instead: it takes a
//! range of it nobody has started, or the second half of the largest range
//! under way (see `segment`), so one huge file never keeps the pool idle.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, SendTimeoutError, Sender, TryRecvError, bounded, select, unbounded,
};
use ureq::Agent;

use crate::cancel::Cancel;
use crate::config::FetchConfig;
use crate::fetch::{Fetcher, Job, Outcome, Sharing, Status};
use crate::input::{InputError, Origin};
use crate::naming::Claims;
use crate::progress::{Progress, WorkerBar};
use crate::segment::{SplitPolicy, Transfers};

/// A job ready to run, or a list line that could not become one.
pub type Planned = Result<Job, InputError>;

/// How often an idle worker with no more jobs to come looks at the cancel
/// flag; the normal end of a run wakes it at once (see `Shared::settle`).
const TAIL_POLL: Duration = Duration::from_millis(50);
/// How often a full queue is checked for a stop request.
const QUEUE_POLL: Duration = Duration::from_millis(50);
/// List lines planned ahead of the workers. Enough that the input thread,
/// once it has filled the queue, is not woken again for every job taken (a
/// job is about a hundred bytes, so memory stays flat however long the list).
const QUEUED_JOBS: usize = 1024;

/// What happened to one job, sent back to the reporting thread.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub url: String,
    pub path: Option<std::path::PathBuf>,
    pub origin: Origin,
    pub outcome: Outcome,
    pub worker: Option<String>,
}

impl JobReport {
    pub fn new(job: Job, outcome: Outcome, worker: &str) -> JobReport {
        JobReport {
            url: job.url,
            path: Some(outcome.saved_as.clone().unwrap_or(job.path)),
            origin: job.origin,
            outcome,
            worker: Some(worker.to_string()),
        }
    }
}

/// One worker's own tally, kept in the worker's local state and merged at join.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    pub name: String,
    pub files: u64,
    pub failed: u64,
    pub bytes: u64,
    /// Time spent running jobs or pieces of them.
    pub busy: Duration,
    /// The part of `busy` spent waiting for servers (see `Outcome::waiting`).
    pub waiting: Duration,
    /// Time spent waiting for work.
    pub idle: Duration,
}

impl WorkerStats {
    fn record(&mut self, outcome: &Outcome) {
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
    /// In thread-name order.
    pub workers: Vec<WorkerStats>,
}

pub struct Pool<'a> {
    pub threads: usize,
    pub agent: Agent,
    pub fetch: &'a FetchConfig,
    pub split: SplitPolicy,
    pub cancel: &'a Cancel,
    /// The names planning hands out, for names only known at download time.
    pub names: Arc<Mutex<Claims>>,
    /// Ctrl-C reaches this pool's connections while the pool exists.
    pub interrupts: crate::signal::Watched,
}

pub fn worker_name(index: usize) -> String {
    format!("tget-w{index:02}")
}

/// What every thread of one run shares.
struct Shared<'a> {
    pool: &'a Pool<'a>,
    progress: &'a Progress,
    /// Planned lines in list order: bad lines wait their turn like jobs, so
    /// one is reported only when a worker reaches it (never after a stop).
    jobs: Receiver<Planned>,
    transfers: Transfers,
    started: AtomicUsize,
    /// Planned lines queued or running, and not yet reported.
    in_flight: AtomicUsize,
    /// Workers running a job or a piece of one.
    busy: AtomicUsize,
    /// Worker threads the OS actually started.
    alive: AtomicUsize,
    /// Every job is queued (or the input stopped).
    input_done: AtomicBool,
    /// Dropped when the last job is done: disconnecting wakes every idle
    /// worker at once, so the pool ends without anyone polling.
    finished_tx: Mutex<Option<Sender<()>>>,
    finished: Receiver<()>,
}

impl Shared<'_> {
    /// Ends the run for idle workers once no job is queued, running or to come.
    fn settle(&self) {
        if self.input_done.load(Ordering::SeqCst) && self.in_flight.load(Ordering::SeqCst) == 0 {
            self.finished_tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
    }
}

/// A worker's ends of the result channels; cloned for every thread it starts.
#[derive(Clone)]
struct Outbox {
    reports: Sender<JobReport>,
    stats: Sender<(usize, WorkerStats)>,
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
        let (job_tx, job_rx) = bounded::<Planned>(QUEUED_JOBS.max(2 * self.threads));
        let (report_tx, report_rx) = unbounded();
        let (stats_tx, stats_rx) = unbounded();
        let (finished_tx, finished) = bounded::<()>(0);
        let shared = Shared {
            pool: self,
            progress,
            jobs: job_rx,
            transfers: Transfers::new(self.split),
            started: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            input_done: AtomicBool::new(false),
            finished_tx: Mutex::new(Some(finished_tx)),
            finished,
        };
        let outbox = Outbox {
            reports: report_tx,
            stats: stats_tx,
        };
        thread::scope(|scope| {
            let shared = &shared;
            thread::Builder::new()
                .name("tget-input".into())
                .spawn_scoped(scope, move || feed(scope, shared, jobs, job_tx, outbox))
                .expect("the OS refused to start the input thread");
            // Ends when the input thread and every worker have dropped their senders.
            for report in report_rx {
                progress.job_finished();
                on_report(report);
            }
        });
        let mut workers: Vec<(usize, WorkerStats)> = stats_rx.into_iter().collect();
        workers.sort_by_key(|(index, _)| *index);
        PoolRun {
            wall: started.elapsed(),
            workers: workers.into_iter().map(|(_, stats)| stats).collect(),
        }
    }
}

/// The input thread: queues planned lines and starts a worker per job until
/// the pool is full (a bad line needs only some worker to report it).
fn feed<'scope>(
    scope: &'scope Scope<'scope, '_>,
    shared: &'scope Shared<'scope>,
    jobs: impl Iterator<Item = Planned>,
    job_tx: Sender<Planned>,
    outbox: Outbox,
) {
    for planned in jobs {
        if shared.pool.cancel.draining() {
            break;
        }
        shared.progress.job_queued();
        let needs_worker = planned.is_ok() || shared.started.load(Ordering::SeqCst) == 0;
        if needs_worker
            && let Err(error) = start_worker(scope, shared, &outbox)
            && shared.alive.load(Ordering::SeqCst) == 0
        {
            let _ = outbox.reports.send(unstarted(planned, &error));
            continue;
        }
        // Counted before it is queued, so idle workers never see zero
        // while a job is on its way to one of them.
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        if !queue(&job_tx, planned, shared.pool.cancel) {
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            break;
        }
    }
    shared.input_done.store(true, Ordering::SeqCst);
    shared.settle();
}

/// The report for a line no worker could be started for.
fn unstarted(planned: Planned, error: &std::io::Error) -> JobReport {
    match planned {
        Ok(job) => {
            let outcome = Outcome::failed(format!("cannot start a worker thread: {error}"));
            JobReport::new(job, outcome, "tget-input")
        }
        Err(bad_line) => invalid_line(bad_line),
    }
}

/// Waits for room in the queue, but not past a stop: workers that stop
/// taking jobs would otherwise leave the input thread blocked for good.
fn queue(job_tx: &Sender<Planned>, mut planned: Planned, cancel: &Cancel) -> bool {
    loop {
        match job_tx.send_timeout(planned, QUEUE_POLL) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(back)) if !cancel.draining() => planned = back,
            Err(_) => return false,
        }
    }
}

/// Starts up to `count` more workers, as the pool has room.
fn start_workers<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    shared: &'scope Shared<'scope>,
    outbox: &Outbox,
    count: usize,
) {
    for _ in 0..count {
        if start_worker(scope, shared, outbox).is_err() {
            break;
        }
    }
}

/// Starts one more worker unless the pool is full. A thread the OS refuses
/// (a process or memory limit) leaves the pool smaller, not the run dead.
fn start_worker<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    shared: &'scope Shared<'scope>,
    outbox: &Outbox,
) -> std::io::Result<()> {
    let claimed = shared
        .started
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < shared.pool.threads).then_some(n + 1)
        });
    let Ok(index) = claimed else {
        return Err(std::io::Error::other("the pool is full"));
    };
    let bar = shared.progress.worker_bar(index, &worker_name(index));
    let outbox = outbox.clone();
    thread::Builder::new()
        .name(worker_name(index))
        .spawn_scoped(scope, move || {
            let call_for_help = |count| start_workers(scope, shared, &outbox, count);
            // Queued jobs will claim workers soon: they are not spare.
            let spare_workers = || {
                let claimed = shared.busy.load(Ordering::SeqCst) + shared.jobs.len();
                shared.pool.threads.saturating_sub(claimed)
            };
            let pool = shared.pool;
            let fetcher = Fetcher::new(pool.agent.clone(), pool.fetch, pool.cancel, &pool.names)
                .with_sharing(Sharing {
                    transfers: &shared.transfers,
                    call_for_help: &call_for_help,
                    spare_workers: &spare_workers,
                });
            let name = worker_name(index);
            let worker = Worker {
                shared,
                bar,
                outbox: &outbox,
                fetcher,
                stats: WorkerStats {
                    name,
                    ..WorkerStats::default()
                },
            };
            let stats = worker.work();
            let _ = outbox.stats.send((index, stats));
        })?;
    shared.alive.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

struct Worker<'a> {
    shared: &'a Shared<'a>,
    bar: WorkerBar,
    outbox: &'a Outbox,
    fetcher: Fetcher<'a>,
    stats: WorkerStats,
}

impl Worker<'_> {
    fn work(mut self) -> WorkerStats {
        let mut waiting_since = Instant::now();
        let mut no_more_jobs = false;
        while !self.shared.pool.cancel.draining() {
            match self.next_work(&mut no_more_jobs) {
                Next::Job(job) => {
                    self.stats.idle += waiting_since.elapsed();
                    self.shared.busy.fetch_add(1, Ordering::SeqCst);
                    self.run_job(job);
                    self.shared.busy.fetch_sub(1, Ordering::SeqCst);
                }
                Next::BadLine(error) => {
                    self.pass_on(invalid_line(error));
                    continue;
                }
                Next::Help => {
                    self.stats.idle += waiting_since.elapsed();
                    self.shared.busy.fetch_add(1, Ordering::SeqCst);
                    self.help();
                    self.shared.busy.fetch_sub(1, Ordering::SeqCst);
                }
                Next::Wait => continue,
                Next::Stop => break,
            }
            self.bar.idle();
            waiting_since = Instant::now();
        }
        self.stats.idle += waiting_since.elapsed();
        self.bar.done();
        self.stats
    }

    /// New jobs first (a small file should not wait behind a big one), then a
    /// piece of a big transfer, then wait for either.
    fn next_work(&self, no_more_jobs: &mut bool) -> Next {
        let shared = self.shared;
        if !*no_more_jobs {
            match shared.jobs.try_recv() {
                Ok(planned) => return Next::from(planned),
                Err(TryRecvError::Disconnected) => *no_more_jobs = true,
                Err(TryRecvError::Empty) => {}
            }
        }
        if shared.transfers.has_offer() {
            return Next::Help;
        }
        if *no_more_jobs {
            // A running job may still open a big file to share: stay until none runs.
            if shared.in_flight.load(Ordering::SeqCst) == 0 {
                return Next::Stop;
            }
            return select! {
                recv(shared.finished) -> _ => Next::Stop,
                recv(shared.transfers.offers()) -> _ => Next::Wait,
                default(TAIL_POLL) => Next::Wait,
            };
        }
        select! {
            recv(shared.jobs) -> planned => match planned {
                Ok(planned) => Next::from(planned),
                Err(_) => { *no_more_jobs = true; Next::Wait }
            },
            recv(shared.transfers.offers()) -> _ => Next::Wait,
        }
    }

    fn run_job(&mut self, job: Job) {
        let started = Instant::now();
        let outcome = self.fetcher.run(&job, &self.bar);
        self.stats.busy += started.elapsed();
        self.stats.waiting += outcome.waiting;
        self.stats.bytes += self.bar.take_counted();
        self.stats.record(&outcome);
        let report = JobReport::new(job, outcome, &self.stats.name);
        self.pass_on(report);
    }

    /// Sends a line's report; the run may end with it.
    fn pass_on(&self, report: JobReport) {
        let _ = self.outbox.reports.send(report);
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.shared.settle();
    }

    fn help(&mut self) {
        let Some(piece) = self.shared.transfers.take_offer() else {
            return;
        };
        let started = Instant::now();
        self.fetcher
            .run_piece(piece, &self.bar, &self.shared.transfers);
        self.stats.busy += started.elapsed();
        self.stats.waiting += self.fetcher.take_waiting();
        self.stats.bytes += self.bar.take_counted();
    }
}

enum Next {
    Job(Job),
    BadLine(InputError),
    Help,
    Wait,
    Stop,
}

impl From<Planned> for Next {
    fn from(planned: Planned) -> Next {
        match planned {
            Ok(job) => Next::Job(job),
            Err(bad_line) => Next::BadLine(bad_line),
        }
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
