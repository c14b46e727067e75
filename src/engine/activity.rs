//! What each worker is doing right now, for whoever shows it.
//!
//! Workers write their own row as they go: a state, since when, the file (or
//! range) in hand, its length and how many of its bytes arrived. Bytes are
//! atomics, added as each read returns, so the byte path takes no lock. The
//! display reads every row on its own clock and draws what it finds; nothing
//! here is drawn or printed, and the engine never waits for the display.
//!
//! A worker also finds its own row through a thread-local (`enter`), so the
//! connector that ureq runs on the worker's thread can say "connecting"
//! without being handed anything: thread-local data in its plainest use.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// The thread was not started (yet): the pool starts workers as work comes.
    Unstarted,
    /// Waiting for a job or a range to take.
    Idle,
    /// Opening a connection (TCP, and TLS for https).
    Connecting,
    /// A request is sent; no answer yet.
    Waiting,
    /// Reading a body: a file or a range of one.
    Receiving,
    /// The thread has ended.
    Done,
}

impl State {
    fn from_u8(value: u8) -> State {
        match value {
            1 => State::Idle,
            2 => State::Connecting,
            3 => State::Waiting,
            4 => State::Receiving,
            5 => State::Done,
            _ => State::Unstarted,
        }
    }
}

/// Stands for an unknown length in `Row::length`.
const UNKNOWN: u64 = u64::MAX;

/// One worker's row.
#[derive(Debug)]
pub struct Row {
    state: AtomicU8,
    /// When the state last changed, in microseconds since the board was made.
    since: AtomicU64,
    /// Bytes of the current file or range received so far, resumed ones included.
    position: AtomicU64,
    /// Bytes this worker received in the run, every file and range together.
    received: AtomicU64,
    length: AtomicU64,
    task: Mutex<Task>,
    /// Bumped on every change of state, task or length, so a reader redraws
    /// only what changed.
    version: AtomicU64,
}

/// The file a worker has in hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Task {
    /// The file's name (not its path).
    pub name: String,
    /// For one range of a shared file: its first byte and its end.
    pub range: Option<(u64, u64)>,
}

/// A row as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowView {
    pub state: State,
    /// How long the row has been in its state.
    pub for_how_long: Duration,
    pub position: u64,
    pub length: Option<u64>,
    pub task: Task,
    pub version: u64,
}

impl Row {
    fn new() -> Row {
        Row {
            state: AtomicU8::new(State::Unstarted as u8),
            since: AtomicU64::new(0),
            position: AtomicU64::new(0),
            received: AtomicU64::new(0),
            length: AtomicU64::new(UNKNOWN),
            task: Mutex::new(Task::default()),
            version: AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn position(&self) -> u64 {
        self.position.load(Ordering::Relaxed)
    }

    /// Bytes this worker received in the run so far: the display's rate.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The whole row at one moment, on `board`'s clock.
    pub fn view(&self, board: &Board) -> RowView {
        let version = self.version();
        let since = Duration::from_micros(self.since.load(Ordering::Relaxed));
        RowView {
            for_how_long: board.started.elapsed().saturating_sub(since),
            state: self.state(),
            position: self.position(),
            length: Some(self.length.load(Ordering::Relaxed)).filter(|&n| n != UNKNOWN),
            task: self
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            version,
        }
    }
}

/// Every worker's row, and the run's own counters.
#[derive(Debug)]
pub struct Board {
    started: Instant,
    rows: Box<[Row]>,
    /// Task names cost a lock and an allocation per job: skipped when nobody looks.
    watched: bool,
    received: AtomicU64,
    queued: AtomicU64,
    finished: AtomicU64,
    expected: AtomicU64,
    counted: AtomicBool,
}

impl Board {
    /// A board for a pool of up to `workers`; `watched` when a display reads it.
    pub fn new(workers: usize, watched: bool) -> Board {
        Board {
            started: Instant::now(),
            rows: (0..workers).map(|_| Row::new()).collect(),
            watched,
            received: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            counted: AtomicBool::new(false),
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row of worker `index`, as that worker writes it.
    pub fn lane(&self, index: usize) -> Lane<'_> {
        Lane {
            board: self,
            row: &self.rows[index],
        }
    }

    /// Bytes received by every worker of this run.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Sets the job total ahead of time (a counted list).
    pub fn expect_jobs(&self, count: u64) {
        self.expected.store(count, Ordering::Relaxed);
        self.counted.store(true, Ordering::Relaxed);
    }

    /// Whether the job total was counted ahead, so no job can still come.
    pub fn counted(&self) -> bool {
        self.counted.load(Ordering::Relaxed)
    }

    pub fn job_queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub fn job_finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Jobs finished, and how many there are as far as is known: the
    /// counted total, or more if more came.
    pub fn jobs(&self) -> (u64, u64) {
        let queued = self.queued.load(Ordering::Relaxed);
        let expected = self.expected.load(Ordering::Relaxed);
        (self.finished.load(Ordering::Relaxed), queued.max(expected))
    }
}

/// One worker's pen on the board.
#[derive(Debug, Clone, Copy)]
pub struct Lane<'a> {
    board: &'a Board,
    row: &'a Row,
}

impl Lane<'_> {
    /// Starts a whole file, `position` bytes of which are already there
    /// (resumed). `name` is built only if someone looks.
    pub fn start(&self, name: impl FnOnce() -> String, length: Option<u64>, position: u64) {
        self.row.position.store(position, Ordering::Relaxed);
        self.set_task(name, None, length);
        self.set_state(State::Receiving);
    }

    /// Starts the range `start..end` of a shared file.
    pub fn start_range(&self, name: impl FnOnce() -> String, (start, end): (u64, u64)) {
        self.row.position.store(0, Ordering::Relaxed);
        self.set_task(name, Some((start, end)), Some(end - start));
        self.set_state(State::Receiving);
    }

    /// Another worker took the tail of this worker's range: it now ends at `end`.
    pub fn shrink(&self, end: u64) {
        let mut task = self.task();
        if let Some((start, _)) = task.range {
            task.range = Some((start, end));
            self.row.length.store(end - start, Ordering::Relaxed);
        }
        drop(task);
        self.row.version.fetch_add(1, Ordering::Release);
    }

    /// Bytes just read from the network.
    pub fn advance(&self, bytes: u64) {
        self.row.position.fetch_add(bytes, Ordering::Relaxed);
        self.row.received.fetch_add(bytes, Ordering::Relaxed);
        self.board.received.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn idle(&self) {
        self.set_state(State::Idle);
    }

    /// A request is on its way; the answer has not come.
    pub fn waiting(&self) {
        self.set_state(State::Waiting);
    }

    pub fn done(&self) {
        self.set_state(State::Done);
    }

    fn set_task(
        &self,
        name: impl FnOnce() -> String,
        range: Option<(u64, u64)>,
        length: Option<u64>,
    ) {
        self.row
            .length
            .store(length.unwrap_or(UNKNOWN), Ordering::Relaxed);
        if self.board.watched {
            *self.task() = Task {
                name: name(),
                range,
            };
        }
    }

    fn task(&self) -> std::sync::MutexGuard<'_, Task> {
        self.row.task.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_state(&self, state: State) {
        let now = self.board.started.elapsed().as_micros() as u64;
        self.row.since.store(now, Ordering::Relaxed);
        self.row.state.store(state as u8, Ordering::Relaxed);
        self.row.version.fetch_add(1, Ordering::Release);
    }
}

thread_local! {
    /// The board and row of the worker running on this thread, if any.
    static HERE: RefCell<Option<(Arc<Board>, usize)>> = const { RefCell::new(None) };
}

/// Makes `index` this thread's row on `board`, for `connecting_here`.
pub fn enter(board: &Arc<Board>, index: usize) {
    HERE.with(|here| *here.borrow_mut() = Some((board.clone(), index)));
}

/// Marks this thread's worker as connecting until the returned guard is
/// dropped, when it is waiting for an answer again. Nothing happens on a
/// thread that is not a worker's.
pub fn connecting_here() -> Connecting {
    let entered = HERE.with(|here| {
        here.borrow().as_ref().map(|(board, index)| {
            board.lane(*index).set_state(State::Connecting);
            (board.clone(), *index)
        })
    });
    Connecting(entered)
}

/// See `connecting_here`.
pub struct Connecting(Option<(Arc<Board>, usize)>);

impl Drop for Connecting {
    fn drop(&mut self) {
        if let Some((board, index)) = &self.0 {
            board.lane(*index).waiting();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_writes_its_row_and_the_run_total() {
        let board = Board::new(2, true);
        let lane = board.lane(1);
        assert_eq!(board.rows()[1].state(), State::Unstarted);
        lane.start(|| "a.bin".into(), Some(100), 40);
        lane.advance(10);
        board.lane(0).advance(5);
        let view = board.rows()[1].view(&board);
        assert_eq!(
            (
                view.state,
                view.position,
                view.length,
                view.task.name.as_str()
            ),
            (State::Receiving, 50, Some(100), "a.bin")
        );
        assert_eq!(board.received(), 15, "resumed bytes are not received ones");
        assert_eq!(board.rows()[1].received(), 10);
        let before = view.version;
        lane.idle();
        assert!(board.rows()[1].version() > before);
    }

    #[test]
    fn a_range_shrinks_when_its_tail_is_taken() {
        let board = Board::new(1, true);
        let lane = board.lane(0);
        lane.start_range(|| "big.iso".into(), (100, 300));
        lane.shrink(200);
        let view = board.rows()[0].view(&board);
        assert_eq!(
            (view.task.range, view.length),
            (Some((100, 200)), Some(100))
        );
    }

    #[test]
    fn a_worker_thread_finds_its_row_for_the_connector() {
        let board = Arc::new(Board::new(2, false));
        // Not a worker's thread: nothing to mark.
        drop(connecting_here());
        assert_eq!(board.rows()[1].state(), State::Unstarted);
        let seen = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    enter(&board, 1);
                    board.lane(1).waiting();
                    let connecting = connecting_here();
                    let during = board.rows()[1].state();
                    drop(connecting);
                    (during, board.rows()[1].state())
                })
                .join()
                .unwrap()
        });
        assert_eq!(seen, (State::Connecting, State::Waiting));
        assert_eq!(
            board.rows()[0].state(),
            State::Unstarted,
            "other rows untouched"
        );
    }

    #[test]
    fn unwatched_boards_build_no_labels() {
        let board = Board::new(1, false);
        board
            .lane(0)
            .start(|| unreachable!("nobody reads it"), None, 0);
        assert_eq!(board.rows()[0].view(&board).length, None);
    }

    #[test]
    fn the_job_total_grows_past_the_count() {
        let board = Board::new(1, false);
        board.expect_jobs(2);
        board.job_queued();
        assert_eq!(board.jobs(), (0, 2));
        for _ in 0..2 {
            board.job_queued();
        }
        board.job_finished();
        assert_eq!(board.jobs(), (1, 3));
    }
}
