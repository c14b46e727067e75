//! Progress on stderr: bars (one per worker and a total), or plain lines, or
//! nothing. While bars are up this module is the only writer to stderr, and
//! to stdout too when stdout is the same terminal: everyone else hands it
//! whole lines (`println`, `print_stdout`), which it prints above the bars.
//!
//! The workers never touch the display: they write their rows on the
//! engine's `Board`, and one drawing thread here reads the board on its own
//! clock, at most 15 times a second, so drawing never slows a transfer down.
//! Each frame it reads the terminal's size, lays the lines out for that
//! width (`layout`), erases the block it drew last and draws the new one,
//! after any lines waiting to go above it: one write, no torn lines.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::config::{Bars, Display};
use crate::engine::activity::{Board, State};
use crate::engine::job::{JobReport, Status};
use crate::engine::pool::worker_name;
use crate::ui::layout::{self, TotalLine, WorkerLine};
use crate::ui::plain;
use crate::ui::terminal;
use crate::ui::ticker::{Painter, start};

/// At most 15 frames a second: smooth enough to read, cheap to draw.
const FRAME: Duration = Duration::from_millis(1000 / 15);
/// Rates are taken over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Which stream a line waiting for the next frame goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// What the caller's thread and the drawing thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Lines to print above the bars, in order.
    pending: Mutex<Vec<(Stream, String)>>,
    /// Bytes of the files already finished, for the total by bytes.
    finished_bytes: AtomicU64,
}

pub struct Progress {
    bars: Bars,
    owns_stdout: bool,
    board: Arc<Board>,
    shared: Arc<Shared>,
    /// Dropping the sender stops the drawing (or status) thread.
    drawing: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Progress for a pool of up to `workers`, shown as `display` says.
    pub fn new(display: Display, workers: usize) -> Progress {
        let bars = display.bars;
        let watched = bars != Bars::Hidden;
        let board = Arc::new(Board::new(workers, watched));
        let shared = Arc::new(Shared::default());
        let drawing = match bars {
            Bars::Terminal | Bars::Forced => Some(start(Drawer::new(&board, &shared))),
            Bars::Plain => Some(start(plain::Status::new(&board, display.interval))),
            Bars::Hidden => None,
        };
        Progress {
            owns_stdout: display.shared_screen && bars == Bars::Terminal,
            bars,
            board,
            shared,
            drawing,
        }
    }

    /// What the workers write and the display shows.
    pub fn board(&self) -> &Arc<Board> {
        &self.board
    }

    /// Whether anyone reads the board (bars or plain lines).
    pub fn is_drawn(&self) -> bool {
        self.bars != Bars::Hidden
    }

    fn live_bars(&self) -> bool {
        self.drawing.is_some() && matches!(self.bars, Bars::Terminal | Bars::Forced)
    }

    /// Whether stdout's lines must come through here: stdout is the
    /// terminal the bars are drawn on.
    pub fn owns_stdout(&self) -> bool {
        self.owns_stdout && self.live_bars()
    }

    /// Prints a whole line on stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        if self.live_bars() {
            self.queue(Stream::Stderr, format!("{line}\n"));
        } else {
            let _ = io::stderr().write_all(format!("{line}\n").as_bytes());
        }
    }

    /// Prints `text` (whole lines, terminators included) on stdout above
    /// the bars, at the next frame.
    pub fn print_stdout(&self, text: String) {
        if self.owns_stdout() {
            self.queue(Stream::Stdout, text);
        } else {
            let mut out = io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }

    fn queue(&self, stream: Stream, text: String) {
        lock(&self.shared.pending).push((stream, text));
    }

    /// One job ended: the bars count its bytes, plain progress says so.
    pub fn finished(&self, report: &JobReport) {
        self.shared
            .finished_bytes
            .fetch_add(report.outcome.bytes(), Ordering::Relaxed);
        if self.bars == Bars::Plain && report.outcome.status() != Status::Failed {
            let line = plain::finished_line(report, self.board.jobs());
            let _ = io::stderr().write_all(format!("{line}\n").as_bytes());
        }
    }

    /// Removes the bars, prints what was waiting, and shows the cursor, so
    /// the summary starts on a clean screen.
    pub fn finish(&mut self) {
        if let Some((stop, thread)) = self.drawing.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Recent bytes per second from a growing count.
#[derive(Debug, Default)]
struct Meter {
    samples: VecDeque<(Instant, u64)>,
}

impl Meter {
    fn rate(&mut self, now: Instant, count: u64) -> f64 {
        self.samples.push_back((now, count));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let (first_at, first) = self.samples[0];
        let span = now.duration_since(first_at).as_secs_f64();
        if span < 0.2 {
            return 0.0;
        }
        count.saturating_sub(first) as f64 / span
    }
}

/// The drawing thread's state: what it drew, and the rates it keeps.
struct Drawer {
    board: Arc<Board>,
    shared: Arc<Shared>,
    started: Instant,
    /// Lines of the block on screen now; the cursor is at the end of the last.
    drawn: usize,
    last: Vec<String>,
    total_rate: Meter,
    rates: Vec<Meter>,
    label_width: usize,
}

impl Drawer {
    fn new(board: &Arc<Board>, shared: &Arc<Shared>) -> Drawer {
        let workers = board.rows().len();
        Drawer {
            board: board.clone(),
            shared: shared.clone(),
            started: Instant::now(),
            drawn: 0,
            last: Vec::new(),
            total_rate: Meter::default(),
            rates: (0..workers).map(|_| Meter::default()).collect(),
            label_width: worker_name(workers.saturating_sub(1)).len(),
        }
    }

    /// The block for a terminal of `rows` x `cols`: the total, then as many
    /// workers as fit in half the rows (so halving the window's height
    /// never pushes a bar into the scrollback), then how many are hidden.
    fn lines(&mut self, rows: usize, cols: usize) -> Vec<String> {
        let now = Instant::now();
        let width = cols.saturating_sub(1);
        let label = format!("{:<w$}", "total", w = self.label_width);
        let mut lines = vec![layout::total_line(&self.total(now), &label, width)];
        let started: Vec<usize> = (0..self.board.rows().len())
            .filter(|&i| self.board.rows()[i].state() != State::Unstarted)
            .collect();
        let room = (rows / 2).max(2) - 1;
        let shown = if started.len() <= room {
            started.len()
        } else {
            room - 1
        };
        for &index in &started[..shown] {
            let line = self.worker(index, now);
            let label = format!("{:<w$}", line.name, w = self.label_width);
            lines.push(layout::worker_line(&line, &label, width));
        }
        if shown < started.len() {
            lines.push(layout::overflow_line(started.len() - shown, width));
        }
        lines
    }

    fn worker(&mut self, index: usize, now: Instant) -> WorkerLine {
        let row = &self.board.rows()[index];
        let view = row.view(&self.board);
        let file = match view.task.range {
            Some((start, end)) => format!(
                "{} [{}..{}]",
                view.task.name,
                crate::units::bytes(start),
                crate::units::bytes(end)
            ),
            None => view.task.name.clone(),
        };
        WorkerLine {
            name: worker_name(index),
            state: view.state,
            file,
            position: view.position,
            length: view.length,
            rate: self.rates[index].rate(now, row.received()),
            since: view.for_how_long,
        }
    }

    fn total(&mut self, now: Instant) -> TotalLine {
        let (finished, jobs) = self.board.jobs();
        let received = self.board.received();
        let rate = self.total_rate.rate(now, received);
        let elapsed = self.started.elapsed();
        let sized = self.sized(finished, jobs);
        let eta = match sized {
            Some((done, all)) if rate > 0.0 => {
                Some(Duration::from_secs_f64((all - done) as f64 / rate))
            }
            Some(_) => None,
            None if finished > 0 => {
                Some(elapsed.mul_f64((jobs - finished) as f64 / finished as f64))
            }
            None => None,
        };
        TotalLine {
            finished,
            jobs,
            received,
            rate,
            elapsed,
            sized,
            eta,
        }
    }

    /// Bytes done and expected, once every file has started with a known
    /// length: then the total is a byte count, and its ETA one of bytes.
    fn sized(&self, finished: u64, jobs: u64) -> Option<(u64, u64)> {
        let mut running = 0;
        let (mut done, mut all) = (self.shared.finished_bytes.load(Ordering::Relaxed), 0);
        all += done;
        for row in self.board.rows() {
            let view = row.view(&self.board);
            if view.state == State::Receiving {
                running += 1;
                done += view.position;
                all += view.length?;
            }
        }
        (jobs > 0 && finished + running >= jobs && self.board.counted()).then_some((done, all))
    }

    fn draw(&mut self, lines: Vec<String>) {
        let pending = std::mem::take(&mut *lock(&self.shared.pending));
        if pending.is_empty() && lines == self.last {
            return;
        }
        let mut err = String::new();
        if self.drawn == 0 && !lines.is_empty() {
            terminal::hide_cursor(&mut err);
        }
        terminal::erase(self.drawn, &mut err);
        for (stream, text) in pending {
            match stream {
                Stream::Stderr => err.push_str(&text),
                Stream::Stdout => {
                    // Stdout's lines land on the same screen, in their turn.
                    write_stderr(&mut err);
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                }
            }
        }
        if !lines.is_empty() {
            err.push_str(terminal::NO_WRAP);
            err.push_str(&lines.join("\n"));
            err.push_str(terminal::WRAP);
        }
        self.drawn = lines.len();
        self.last = lines;
        write_stderr(&mut err);
    }
}

impl Painter for Drawer {
    fn period(&self) -> Duration {
        FRAME
    }

    fn frame(&mut self) {
        let (rows, cols) = terminal::size();
        let lines = self.lines(rows, cols);
        self.draw(lines);
    }

    /// Erases the block and prints what was waiting; shows the cursor if
    /// a frame hid it.
    fn last(&mut self) {
        let hid = self.drawn > 0 || !self.last.is_empty();
        self.draw(Vec::new());
        if hid {
            let mut err = String::from(terminal::SHOW_CURSOR);
            terminal::cursor_shown();
            write_stderr(&mut err);
        }
    }
}

fn write_stderr(text: &mut String) {
    if !text.is_empty() {
        let _ = io::stderr().lock().write_all(text.as_bytes());
        text.clear();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawer(workers: usize) -> (Arc<Board>, Drawer) {
        let board = Arc::new(Board::new(workers, true));
        let shared = Arc::new(Shared::default());
        let drawer = Drawer::new(&board, &shared);
        (board, drawer)
    }

    #[test]
    fn workers_past_half_the_screen_are_counted_not_drawn() {
        let (board, mut drawer) = drawer(8);
        for index in 0..8 {
            board.lane(index).idle();
        }
        board.lane(0).start(|| "a.bin".into(), Some(100), 0);
        board.lane(0).advance(5);
        let lines = drawer.lines(10, 80);
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(lines[0].starts_with("total"), "{lines:?}");
        assert!(lines[1].starts_with("tget-w00 a.bin ["), "{lines:?}");
        assert_eq!(lines[4], "+ 5 more workers, not shown");
        assert!(lines.iter().all(|l| l.chars().count() < 80));
    }

    #[test]
    fn unstarted_workers_get_no_row() {
        let (board, mut drawer) = drawer(4);
        board.lane(1).waiting();
        let lines = drawer.lines(24, 80);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].starts_with("tget-w01 waiting for the server"),
            "{lines:?}"
        );
    }

    #[test]
    fn the_total_counts_bytes_only_when_every_size_is_known() {
        let (board, mut drawer) = drawer(2);
        board.expect_jobs(2);
        board.job_queued();
        board.job_queued();
        board.lane(0).start(|| "a".into(), Some(100), 0);
        board.lane(0).advance(50);
        board.lane(1).waiting();
        assert_eq!(drawer.total(Instant::now()).sized, None, "one size unknown");
        board.lane(1).start(|| "b".into(), Some(300), 100);
        assert_eq!(drawer.total(Instant::now()).sized, Some((150, 400)));
    }

    #[test]
    fn a_meter_measures_over_its_window() {
        let mut meter = Meter::default();
        let start = Instant::now();
        assert_eq!(meter.rate(start, 0), 0.0);
        let rate = meter.rate(start + Duration::from_secs(1), 1000);
        assert!((rate - 1000.0).abs() < 1e-6, "{rate}");
    }
}
