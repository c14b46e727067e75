//! A fixed pool of named OS worker threads fed through a bounded channel.
//!
//! The input thread reads the list, names the jobs, and starts a worker for
//! each of the first N jobs (never more workers than there is work for). Each
//! worker keeps its statistics in its own local `WorkerStats`, touched by no
//! other thread, and hands it back when it ends; the pool merges them after
//! joining every thread. Its CPU time comes from the per-thread CPU clock,
//! read on the worker's own thread around each job. Results flow back to the calling thread, which
//! reports them as they come.
//!
//! A worker with nothing queued helps with a big transfer instead: it takes a
//! range of it nobody has started, or the second half of the largest range
//! under way (see `split`), so one huge file never keeps the pool idle. A
//! shared download that wants more workers than are running sends the number
//! to the input thread, which starts them.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded, select, unbounded};
use ureq::Agent;

use crate::config::FetchConfig;
use crate::engine::activity::{self, Board, Lane};
use crate::engine::fetch::Fetcher;
use crate::engine::hosts::{Hosts, Slot, Waiting, host_key};
use crate::engine::job::{FailureKind, Job, JobReport, Outcome, Planned, Status};
use crate::engine::outdir::Dir;
use crate::engine::split::{Crew, Transfers};
use crate::engine::throttle::Throttle;
use crate::engine::transport::{self, Transport};
use crate::input::InputError;
use crate::naming::Claims;
use crate::stop::{self, Cancel};

/// How often an idle worker with no more jobs to come looks at the cancel
/// flag; the normal end of a run wakes it at once (see `Shared::settle`).
const TAIL_POLL: Duration = Duration::from_millis(50);
/// How often a full queue is checked for a stop request.
const QUEUE_POLL: Duration = Duration::from_millis(50);
/// Lines the input thread reads ahead to find jobs for hosts below
/// `--max-per-host` while the next ones wait for theirs.
const WINDOW: usize = 1024;
/// List lines planned ahead of the workers. Enough that the input thread,
/// once it has filled the queue, is not woken again for every job taken (a
/// job is about a hundred bytes, so memory stays flat however long the list).
const QUEUED_JOBS: usize = 1024;

/// One worker's own tally, kept in the worker's local state and merged at join.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    pub name: String,
    pub files: u64,
    pub failed: u64,
    /// Body bytes this worker read from the network.
    pub bytes: u64,
    /// Time spent running jobs or pieces of them.
    pub busy: Duration,
    /// The part of `busy` spent waiting for servers (see `Outcome::waiting`).
    pub waiting: Duration,
    /// The part of `busy` this thread spent on a CPU (user and system time, by
    /// the per-thread CPU clock); the rest of `busy` it was blocked: on the
    /// network, the disk, or a CPU that another thread had.
    pub cpu: Duration,
    /// Time spent waiting for work.
    pub idle: Duration,
}

impl WorkerStats {
    fn record(&mut self, outcome: &Outcome) {
        match outcome.status() {
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

pub fn worker_name(index: usize) -> String {
    format!("tget-w{index:02}")
}

/// The workers of one run and what they share: the agent, the settings, the
/// cancel flag and the batch's names.
pub struct Pool<'a> {
    threads: usize,
    agent: Agent,
    fetch: &'a FetchConfig,
    cancel: &'a Cancel,
    /// The names planning hands out, for names only known at download time.
    names: Arc<Mutex<Claims>>,
    /// `-d`, opened once.
    out: Dir,
    /// `--limit-rate`, for every worker together.
    throttle: Option<Throttle>,
    /// Ctrl-C reaches this pool's connections while the pool exists.
    _interrupts: stop::Watched,
}

/// What every thread of one run shares.
struct Shared<'a> {
    pool: &'a Pool<'a>,
    board: &'a Arc<Board>,
    /// Planned lines in list order: bad lines wait their turn like jobs, so
    /// one is reported only when a worker reaches it (never after a stop).
    jobs: Receiver<Queued>,
    transfers: Transfers,
    /// Lines read from the list that wait for a slot of their host.
    held: Mutex<Waiting<Planned>>,
    /// Tells the input thread a worker took a held line: there is room to read more.
    room_tx: Sender<()>,
    started: AtomicUsize,
    /// Planned lines queued or running, and not yet reported.
    in_flight: AtomicUsize,
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

/// The input thread's side of a run: where jobs go, and where shared
/// downloads ask for helpers.
struct Feed<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    shared: &'scope Shared<'scope>,
    outbox: Outbox,
    /// Told when a worker takes a held line.
    room: Receiver<()>,
    calls: Receiver<usize>,
}

impl<'a> Pool<'a> {
    pub fn new(
        fetch: &'a FetchConfig,
        threads: usize,
        cancel: &'a Cancel,
        names: Arc<Mutex<Claims>>,
        out: Dir,
    ) -> Pool<'a> {
        let agent = transport::agent(&fetch.http, threads, fetch.max_per_host);
        Pool {
            _interrupts: stop::watch(&agent),
            threads,
            agent,
            fetch,
            cancel,
            names,
            out,
            throttle: fetch.http.limit_rate.map(Throttle::new),
        }
    }

    /// Runs every planned job and calls `on_report` on this thread for each
    /// result as it arrives. `board` gets every worker's row as it goes.
    /// What a stop (Ctrl-C, a closed stdout, a full disk) left unstarted
    /// comes back as `Unstarted`, in list order, for whoever wants to list it.
    pub fn run<I: Iterator<Item = Planned> + Send>(
        &self,
        jobs: I,
        board: &Arc<Board>,
        mut on_report: impl FnMut(JobReport),
    ) -> (PoolRun, Unstarted<I>) {
        let started = Instant::now();
        let (job_tx, job_rx) = bounded::<Queued>(QUEUED_JOBS.max(2 * self.threads));
        let (report_tx, report_rx) = unbounded();
        let (stats_tx, stats_rx) = unbounded();
        let (finished_tx, finished) = bounded::<()>(0);
        let (crew, calls) = Crew::new(self.threads);
        let hosts = Hosts::new(self.fetch.max_per_host);
        let (room_tx, room) = bounded(1);
        let shared = Shared {
            pool: self,
            board,
            jobs: job_rx,
            transfers: Transfers::new(self.fetch.split, crew, hosts),
            held: Mutex::new(Waiting::default()),
            room_tx,
            started: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            input_done: AtomicBool::new(false),
            finished_tx: Mutex::new(Some(finished_tx)),
            finished,
        };
        let outbox = Outbox {
            reports: report_tx,
            stats: stats_tx,
        };
        let left = thread::scope(|scope| {
            let feed = Feed {
                scope,
                shared: &shared,
                outbox,
                calls,
                room,
            };
            let input = thread::Builder::new()
                .name("tget-input".into())
                .spawn_scoped(scope, move || feed.run(jobs, job_tx))
                .expect("the OS refused to start the input thread");
            // Ends when the input thread and every worker have dropped their senders.
            for report in report_rx {
                board.job_finished();
                on_report(report);
            }
            input.join().expect("the input thread does not panic")
        });
        let mut workers: Vec<(usize, WorkerStats)> = stats_rx.into_iter().collect();
        workers.sort_by_key(|(index, _)| *index);
        let run = PoolRun {
            wall: started.elapsed(),
            workers: workers.into_iter().map(|(_, stats)| stats).collect(),
        };
        let queued: Vec<Planned> = shared.jobs.try_iter().map(|(planned, _)| planned).collect();
        (run, Unstarted::new(queued, left))
    }
}

impl<'scope> Feed<'scope, '_> {
    /// Queues planned lines and starts a worker per job until the pool is
    /// full (a bad line needs only some worker to report it); then starts
    /// the helpers shared downloads ask for until the run ends. A job whose
    /// host is at `--max-per-host` waits in a window of `WINDOW` lines
    /// while the lines after it go ahead.
    fn run<I: Iterator<Item = Planned>>(self, mut jobs: I, job_tx: Sender<Queued>) -> Left<I> {
        let shared = self.shared;
        let mut unsent = None;
        loop {
            if shared.pool.cancel.draining() {
                break;
            }
            let (planned, slot) = match shared.next_ready(&mut jobs) {
                Ok(ready) => ready,
                Err(NotReady::Wait) => {
                    self.wait_for_room();
                    continue;
                }
                Err(NotReady::Done) => break,
            };
            let needs_worker = planned.is_ok() || shared.started.load(Ordering::SeqCst) == 0;
            if needs_worker
                && let Err(error) = self.start_worker()
                && shared.alive.load(Ordering::SeqCst) == 0
            {
                shared.transfers.hosts().give_back(slot);
                let _ = self.outbox.reports.send(unstarted(planned, &error));
                continue;
            }
            // Counted before it is queued, so idle workers never see zero
            // while a job is on its way to one of them.
            shared.in_flight.fetch_add(1, Ordering::SeqCst);
            shared.transfers.crew().job_queued();
            if let Some((back, slot)) = self.queue(&job_tx, (planned, slot)) {
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                shared.transfers.crew().job_taken();
                shared.transfers.hosts().give_back(slot);
                unsent = Some(back);
                break;
            }
        }
        shared.input_done.store(true, Ordering::SeqCst);
        shared.settle();
        drop(job_tx);
        self.answer_calls();
        let mut held: Vec<Planned> = unsent.into_iter().collect();
        held.extend(
            shared
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(),
        );
        Left { held, rest: jobs }
    }

    /// Waits for room in the queue, starting helpers meanwhile, but not past
    /// a stop: workers that stop taking jobs would otherwise leave the input
    /// thread blocked for good. Gives the job back if it could not be queued.
    fn queue(&self, job_tx: &Sender<Queued>, job: Queued) -> Option<Queued> {
        loop {
            select! {
                send(job_tx, job) -> sent => return sent.err().map(|unsent| unsent.into_inner()),
                recv(self.calls) -> helpers => self.start_workers(helpers.unwrap_or(0)),
                default(QUEUE_POLL) => if self.shared.pool.cancel.draining() {
                    return Some(job);
                },
            }
        }
    }

    /// The window of held lines is full (or the list is done and lines
    /// still wait): wait until a worker takes one (or a stop, or a shared
    /// download asking for helpers).
    fn wait_for_room(&self) {
        select! {
            recv(self.room) -> _ => {},
            recv(self.calls) -> helpers => self.start_workers(helpers.unwrap_or(0)),
            default(QUEUE_POLL) => {},
        }
    }

    /// After the last job is queued, a running one may still open a big file to share.
    fn answer_calls(&self) {
        loop {
            select! {
                recv(self.calls) -> helpers => self.start_workers(helpers.unwrap_or(0)),
                recv(self.shared.finished) -> _ => return,
                default(TAIL_POLL) => if self.shared.pool.cancel.draining() {
                    return;
                },
            }
        }
    }

    /// Starts up to `count` more workers, as the pool has room.
    fn start_workers(&self, count: usize) {
        for _ in 0..count {
            if self.start_worker().is_err() {
                break;
            }
        }
    }

    /// Starts one more worker unless the pool is full. A thread the OS refuses
    /// (a process or memory limit) leaves the pool smaller, not the run dead.
    fn start_worker(&self) -> std::io::Result<()> {
        let shared = self.shared;
        let claimed = shared
            .started
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < shared.pool.threads).then_some(n + 1)
            });
        let Ok(index) = claimed else {
            return Err(std::io::Error::other("the pool is full"));
        };
        let outbox = self.outbox.clone();
        thread::Builder::new()
            .name(worker_name(index))
            .spawn_scoped(self.scope, move || {
                let stats = Worker::new(shared, index, &outbox).work();
                let _ = outbox.stats.send((index, stats));
            })?;
        shared.alive.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A planned line on its way to a worker, with its host's slot.
type Queued = (Planned, Slot);

/// Why the input thread has nothing to queue now.
enum NotReady {
    /// Every line in reach waits for a host; the list may have more.
    Wait,
    /// The list is done and nothing waits.
    Done,
}

impl Shared<'_> {
    /// The first line held back for its host that can go now, with its
    /// slot. A worker that takes one counts it in flight at once, under the
    /// lock the input thread's last look takes too, so the run never ends
    /// with a job on its way.
    fn take_held(&self, by_worker: bool) -> Option<Queued> {
        let hosts = self.transfers.hosts();
        if !hosts.limited() {
            return None;
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let ready = held.take(hosts)?;
        if by_worker {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let _ = self.room_tx.try_send(());
        }
        Some(ready)
    }

    /// The next line the input thread can queue: one held back, else the
    /// next of the list, those for full hosts held back (up to `WINDOW`).
    fn next_ready(&self, jobs: &mut impl Iterator<Item = Planned>) -> Result<Queued, NotReady> {
        if let Some(ready) = self.take_held(false) {
            return Ok(ready);
        }
        let hosts = self.transfers.hosts();
        loop {
            if self.held_count() >= WINDOW {
                return Err(NotReady::Wait);
            }
            // Read without the lock: a list on a pipe may keep this waiting.
            let Some(planned) = jobs.next() else {
                let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                if !held.is_empty() {
                    return Err(NotReady::Wait);
                }
                self.input_done.store(true, Ordering::SeqCst);
                return Err(NotReady::Done);
            };
            self.board.job_queued();
            match take_slot(hosts, &planned) {
                Some(slot) => return Ok((planned, slot)),
                None => {
                    let key = host_key(planned_url(&planned));
                    let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                    held.push(key, planned);
                }
            }
        }
    }

    fn held_count(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The URL whose host a planned line needs; a bad line needs none.
fn planned_url(planned: &Planned) -> &str {
    planned.as_ref().map_or("", |job| job.url.as_str())
}

/// A slot of the job's host; a bad line needs none.
fn take_slot(hosts: &Hosts, planned: &Planned) -> Option<Slot> {
    match planned {
        Ok(job) => hosts.try_take(&job.url),
        Err(_) => Some(Slot::none()),
    }
}

/// What the input thread had not queued when the run stopped.
struct Left<I> {
    /// Read from the list, then held back: by a full host, or by the stop.
    held: Vec<Planned>,
    rest: I,
}

/// The planned lines a stopped run never started: those left in the queue,
/// those waiting for their host, then the rest of the list, read on demand.
pub struct Unstarted<I> {
    queued: std::vec::IntoIter<Planned>,
    held: std::vec::IntoIter<Planned>,
    rest: I,
}

impl<I> Unstarted<I> {
    fn new(queued: Vec<Planned>, left: Left<I>) -> Unstarted<I> {
        Unstarted {
            queued: queued.into_iter(),
            held: left.held.into_iter(),
            rest: left.rest,
        }
    }
}

impl<I: Iterator<Item = Planned>> Iterator for Unstarted<I> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        self.queued
            .next()
            .or_else(|| self.held.next())
            .or_else(|| self.rest.next())
    }
}

/// The report for a line no worker could be started for.
fn unstarted(planned: Planned, error: &std::io::Error) -> JobReport {
    match planned {
        Ok(job) => {
            let outcome = Outcome::failed(format!("cannot start a worker thread: {error}"));
            JobReport::new(job, outcome, "tget-input")
        }
        Err(bad_line) => JobReport::invalid_line(bad_line),
    }
}

/// One worker thread's state: everything in it is the thread's own.
struct Worker<'a> {
    shared: &'a Shared<'a>,
    lane: Lane<'a>,
    outbox: &'a Outbox,
    fetcher: Fetcher<'a>,
    stats: WorkerStats,
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared<'a>, index: usize, outbox: &'a Outbox) -> Worker<'a> {
        let pool = shared.pool;
        activity::enter(shared.board, index);
        let lane = shared.board.lane(index);
        let shared_transport = transport::Shared {
            http: &pool.fetch.http,
            cancel: pool.cancel,
            throttle: pool.throttle.as_ref(),
        };
        let transport = Transport::new(pool.agent.clone(), shared_transport, lane);
        let fetcher = Fetcher::new(
            transport,
            pool.fetch,
            &pool.names,
            Some(&shared.transfers),
            pool.out.clone(),
        );
        Worker {
            shared,
            lane,
            outbox,
            fetcher,
            stats: WorkerStats {
                name: worker_name(index),
                ..WorkerStats::default()
            },
        }
    }

    fn work(mut self) -> WorkerStats {
        self.lane.idle();
        let mut waiting_since = Instant::now();
        let mut no_more_jobs = false;
        while !self.shared.pool.cancel.draining() {
            match self.next_work(&mut no_more_jobs) {
                Next::Job(job, slot) => {
                    self.stats.idle += waiting_since.elapsed();
                    self.run_job(job, slot);
                }
                Next::BadLine(error) => {
                    self.pass_on(JobReport::invalid_line(error));
                    continue;
                }
                Next::Help => {
                    self.stats.idle += waiting_since.elapsed();
                    self.help();
                }
                Next::Wait => continue,
                Next::Stop => break,
            }
            self.lane.idle();
            waiting_since = Instant::now();
        }
        self.stats.idle += waiting_since.elapsed();
        self.lane.done();
        self.stats
    }

    /// New jobs first (a small file should not wait behind a big one), then a
    /// piece of a big transfer, then wait for either.
    fn next_work(&self, no_more_jobs: &mut bool) -> Next {
        let shared = self.shared;
        // A job that waited for its host goes first: the one just finished may
        // have made room, and this saves waking the input thread for it.
        if let Some((planned, slot)) = shared.take_held(true) {
            return match planned {
                Ok(job) => Next::Job(job, slot),
                Err(bad_line) => Next::BadLine(bad_line),
            };
        }
        if !*no_more_jobs {
            match shared.jobs.try_recv() {
                Ok(planned) => return self.taken(planned),
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
                Ok(planned) => self.taken(planned),
                Err(_) => { *no_more_jobs = true; Next::Wait }
            },
            recv(shared.transfers.offers()) -> _ => Next::Wait,
        }
    }

    fn taken(&self, (planned, slot): Queued) -> Next {
        self.shared.transfers.crew().job_taken();
        match planned {
            Ok(job) => Next::Job(job, slot),
            Err(bad_line) => Next::BadLine(bad_line),
        }
    }

    fn run_job(&mut self, job: Job, slot: Slot) {
        let _busy = self.shared.transfers.crew().busy();
        let started = Busy::start();
        // A bug in one job must not hang the run: the pool counts on every
        // job it handed out coming back as a report.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.fetcher.run(&job)))
            .unwrap_or_else(|panic| Outcome::failed(format!("internal error: {}", why(&panic))));
        // The connection is back in the pool: the host may take another job.
        self.shared.transfers.hosts().give_back(slot);
        if outcome.failure_kind() == Some(FailureKind::StopsBatch) {
            self.shared
                .pool
                .cancel
                .halt(outcome.error().unwrap_or_default());
        }
        started.add_to(&mut self.stats);
        self.stats.waiting += outcome.waiting;
        self.stats.bytes += outcome.received;
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
        let transfers = &self.shared.transfers;
        let Some(piece) = transfers.take_offer() else {
            return;
        };
        let _busy = transfers.crew().busy();
        let started = Busy::start();
        // A bug in a range fails its file (the range's guard tells the
        // owner) and leaves this worker working.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            self.fetcher.run_piece(transfers, piece)
        }));
        started.add_to(&mut self.stats);
        let clock = self.fetcher.take_clock();
        self.stats.waiting += clock.waiting;
        self.stats.bytes += clock.received;
    }
}

/// A panic's message, as the default hook has already printed it.
fn why(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or(panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a worker panicked")
}

/// The start of a stretch of work, on the wall clock and on this thread's CPU clock.
struct Busy {
    wall: Instant,
    cpu: Duration,
}

impl Busy {
    fn start() -> Busy {
        Busy {
            wall: Instant::now(),
            cpu: thread_cpu_time(),
        }
    }

    fn add_to(self, stats: &mut WorkerStats) {
        stats.busy += self.wall.elapsed();
        stats.cpu += thread_cpu_time().saturating_sub(self.cpu);
    }
}

/// CPU time the calling thread has used so far (user and system). Read on
/// the worker's own thread only, so it needs no sharing; zero if the clock
/// is missing, which leaves the summary saying nothing it cannot know.
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

enum Next {
    Job(Job, Slot),
    BadLine(InputError),
    Help,
    Wait,
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_clock_counts_work_not_sleep() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu_time() - before;
        assert!(slept < Duration::from_millis(10), "{slept:?}");
        // Spinning moves the clock; bounded, in case it never does.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut x = 0u64;
        while thread_cpu_time() - before < Duration::from_millis(20) {
            assert!(
                Instant::now() < deadline,
                "the thread CPU clock does not move"
            );
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}
