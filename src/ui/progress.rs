//! Progress bars: one per worker plus a total, drawn on stderr. While bars
//! are up this module is the only writer to stderr; everyone else goes through
//! `Progress::println`.
//!
//! The workers never touch a bar: they write their rows on the engine's
//! `Board`, and one drawing thread here reads the board on its own clock and
//! updates the bars, so drawing never slows a transfer down.

use std::io::Write;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use indicatif::{
    HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
};

use crate::config::{Bars, Display};
use crate::engine::activity::{Board, RowView, State, Task};
use crate::engine::pool::worker_name;

const TOTAL_TEMPLATE: &str = "{prefix:>9.bold} [{elapsed_precise}] [{bar:25.cyan/blue}] {pos}/{len} files  {transfer}  ETA {eta}";
const BUSY_TEMPLATE: &str =
    "{prefix:>9.dim} {wide_msg} [{bar:20}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}";
const STREAM_TEMPLATE: &str =
    "{prefix:>9.dim} {wide_msg} {spinner} {bytes:>10} {bytes_per_sec:>12}";
const IDLE_TEMPLATE: &str = "{prefix:>9.dim} {msg:.dim}";
/// Rows kept free below the bars: the total bar, the "more workers" line, the cursor.
const RESERVED_ROWS: usize = 3;
/// How often the board is read and the bars updated.
const FRAME: Duration = Duration::from_millis(100);

pub struct Progress {
    multi: MultiProgress,
    board: Arc<Board>,
    /// Dropping the sender stops the drawing thread.
    drawing: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Bars for a pool of up to `workers`, drawn as `display` says.
    pub fn new(display: Display, workers: usize) -> Progress {
        let target = match display.bars {
            Bars::Terminal => ProgressDrawTarget::stderr(),
            Bars::Forced => {
                ProgressDrawTarget::term_like(Box::new(console::Term::buffered_stderr()))
            }
            Bars::Hidden => ProgressDrawTarget::hidden(),
        };
        let live = display.bars != Bars::Hidden;
        let multi = MultiProgress::with_draw_target(target);
        let board = Arc::new(Board::new(workers, live));
        let drawing = live.then(|| start_drawing(&multi, &board));
        Progress {
            multi,
            board,
            drawing,
        }
    }

    /// What the workers write and the bars show.
    pub fn board(&self) -> &Arc<Board> {
        &self.board
    }

    /// Whether bars are drawn at all (a terminal, or `--progress always`).
    pub fn is_drawn(&self) -> bool {
        self.drawing.is_some()
    }

    /// Prints a whole line on stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        self.multi.suspend(|| {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{line}");
        });
    }

    /// Removes the bars so the summary starts on a clean screen.
    pub fn finish(&mut self) {
        if let Some((stop, thread)) = self.drawing.take() {
            drop(stop);
            let _ = thread.join();
        }
        let _ = self.multi.clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn start_drawing(multi: &MultiProgress, board: &Arc<Board>) -> (Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = bounded::<()>(0);
    let rows = console::Term::stderr()
        .size_checked()
        .map_or(24, |(rows, _)| rows as usize);
    let mut drawing = Drawing::new(multi.clone(), board.clone(), rows);
    let thread = std::thread::Builder::new()
        .name("tget-progress".into())
        .spawn(move || {
            // Ends when `finish` drops the sender.
            while stopped.recv_timeout(FRAME).is_err_and(|e| e.is_timeout()) {
                drawing.sync();
            }
            drawing.sync();
        })
        .expect("the OS refused to start the progress thread");
    (stop, thread)
}

#[derive(Clone)]
struct Styles {
    busy: ProgressStyle,
    streaming: ProgressStyle,
    idle: ProgressStyle,
}

impl Styles {
    fn new() -> Styles {
        Styles {
            busy: style(BUSY_TEMPLATE).progress_chars("=> "),
            streaming: style(STREAM_TEMPLATE),
            idle: style(IDLE_TEMPLATE),
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("templates are checked by a unit test")
}

/// A worker's bar and what it last showed.
struct WorkerBar {
    bar: ProgressBar,
    version: u64,
    task: Option<Task>,
}

/// The drawing thread's state: the bars, and what they show of the board.
struct Drawing {
    multi: MultiProgress,
    board: Arc<Board>,
    total: ProgressBar,
    bars: Vec<Option<WorkerBar>>,
    visible_workers: usize,
    overflow: Option<ProgressBar>,
    styles: Styles,
}

impl Drawing {
    fn new(multi: MultiProgress, board: Arc<Board>, terminal_rows: usize) -> Drawing {
        let total = multi.add(
            ProgressBar::new(0)
                .with_style(total_style(board.clone()))
                .with_prefix("total"),
        );
        Drawing {
            bars: board.rows().iter().map(|_| None).collect(),
            visible_workers: terminal_rows.saturating_sub(RESERVED_ROWS).max(1),
            multi,
            board,
            total,
            overflow: None,
            styles: Styles::new(),
        }
    }

    /// Brings every bar up to date with the board. Workers past the
    /// terminal's height get no bar and are counted on one line.
    fn sync(&mut self) {
        let (finished, jobs) = self.board.jobs();
        self.total.set_length(jobs);
        self.total.set_position(finished);
        // Elapsed time and the rate move on even while no job ends.
        self.total.tick();
        let mut hidden = 0;
        for index in 0..self.bars.len() {
            let row = &self.board.rows()[index];
            if row.state() == State::Unstarted {
                continue;
            }
            if index >= self.visible_workers {
                hidden += 1;
                continue;
            }
            let version = row.version();
            let shown = self.bars[index].get_or_insert_with(|| WorkerBar {
                bar: self
                    .multi
                    .add(ProgressBar::new(0).with_prefix(worker_name(index))),
                version: u64::MAX,
                task: None,
            });
            // A wait's length changes with every frame, not just with the row.
            if shown.version != version || row.state() == State::Waiting {
                shown.version = version;
                show(shown, &row.view(&self.board), &self.styles);
            }
            shown.bar.set_position(row.position());
        }
        if hidden > 0 {
            let overflow = self.overflow.get_or_insert_with(|| {
                self.multi
                    .add(ProgressBar::new(0).with_style(self.styles.idle.clone()))
            });
            overflow.set_message(format!("... and {hidden} more workers not shown"));
        }
    }
}

/// Restyles a worker's bar for what its row says now.
fn show(shown: &mut WorkerBar, view: &RowView, styles: &Styles) {
    let bar = &shown.bar;
    match view.state {
        State::Receiving => {
            // A new file or range restarts the rate and ETA; a shrunk range does not.
            let same_start = shown.task.as_ref().is_some_and(|task| {
                task.name == view.task.name
                    && task.range.map(|r| r.0) == view.task.range.map(|r| r.0)
            });
            if !same_start {
                bar.reset();
            }
            match view.length {
                Some(length) => {
                    bar.set_style(styles.busy.clone());
                    bar.set_length(length);
                }
                None => {
                    bar.set_style(styles.streaming.clone());
                    bar.unset_length();
                }
            }
            bar.set_message(label(&view.task));
            shown.task = Some(view.task.clone());
        }
        State::Connecting | State::Waiting => {
            bar.set_style(styles.idle.clone());
            bar.set_message(if view.state == State::Connecting {
                "connecting".to_string()
            } else {
                format!(
                    "waiting for the server ({:.1} s)",
                    view.for_how_long.as_secs_f64()
                )
            });
        }
        State::Idle | State::Unstarted | State::Done => {
            bar.set_style(styles.idle.clone());
            bar.set_message(if view.state == State::Done {
                "done"
            } else {
                "idle, waiting for a job"
            });
            shown.task = None;
        }
    }
}

/// `big.iso [2.00 MiB..4.00 MiB]` for a range, the name alone for a file.
fn label(task: &Task) -> String {
    match task.range {
        Some((start, end)) => format!("{} [{}..{}]", task.name, HumanBytes(start), HumanBytes(end)),
        None => task.name.clone(),
    }
}

/// "12.5 MiB @ 3.1 MiB/s" from the board's byte counter, updated on every draw.
fn total_style(board: Arc<Board>) -> ProgressStyle {
    style(TOTAL_TEMPLATE).progress_chars("=> ").with_key(
        "transfer",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let done = board.received();
            let seconds = state.elapsed().as_secs_f64().max(1e-3);
            let _ = write!(
                w,
                "{} @ {}/s",
                HumanBytes(done),
                HumanBytes((done as f64 / seconds) as u64)
            );
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for template in [
            TOTAL_TEMPLATE,
            BUSY_TEMPLATE,
            STREAM_TEMPLATE,
            IDLE_TEMPLATE,
        ] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn workers_past_the_screen_are_counted_not_drawn() {
        let board = Arc::new(Board::new(5, true));
        // Laid out as on a 5-row terminal, drawn nowhere.
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let mut drawing = Drawing::new(multi, board.clone(), 5);
        for index in 0..5 {
            board.lane(index).idle();
        }
        board.lane(4).advance(10);
        board.lane(0).start(|| "a.bin".into(), Some(100), 0);
        board.lane(0).advance(5);
        drawing.sync();
        assert_eq!(drawing.bars.iter().filter(|b| b.is_some()).count(), 2);
        assert_eq!(
            drawing.overflow.as_ref().unwrap().message(),
            "... and 3 more workers not shown"
        );
        let first = drawing.bars[0].as_ref().unwrap();
        assert_eq!(
            (first.bar.position(), first.bar.message()),
            (5, "a.bin".into())
        );
        assert_eq!(board.received(), 15);
    }

    #[test]
    fn ranges_are_labelled_with_their_bounds() {
        let task = Task {
            name: "big.iso".into(),
            range: Some((2 << 20, 4 << 20)),
        };
        assert_eq!(label(&task), "big.iso [2.00 MiB..4.00 MiB]");
    }
}
