//! Progress bars: one per worker plus a total, drawn on stderr. While bars
//! are up this module is the only writer to stderr; everyone else goes through
//! `Progress::println`.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use indicatif::{
    HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
};

use crate::config::{Bars, Display};

const TOTAL_TEMPLATE: &str = "{prefix:>9.bold} [{elapsed_precise}] [{bar:25.cyan/blue}] {pos}/{len} files  {transfer}  ETA {eta}";
const BUSY_TEMPLATE: &str =
    "{prefix:>9.dim} {wide_msg} [{bar:20}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}";
const STREAM_TEMPLATE: &str =
    "{prefix:>9.dim} {wide_msg} {spinner} {bytes:>10} {bytes_per_sec:>12}";
const IDLE_TEMPLATE: &str = "{prefix:>9.dim} {msg:.dim}";
/// Rows kept free below the bars: the total bar, the "more workers" line, the cursor.
const RESERVED_ROWS: usize = 3;

pub struct Progress {
    multi: MultiProgress,
    total: ProgressBar,
    bytes: Arc<AtomicU64>,
    visible_workers: usize,
    hidden_workers: AtomicUsize,
    overflow: OnceLock<ProgressBar>,
    styles: Styles,
    /// Bars are drawn at all; when not, styling them is skipped as wasted work.
    live: bool,
    queued: AtomicU64,
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

impl Progress {
    pub fn new(display: Display) -> Progress {
        let target = match display.bars {
            Bars::Terminal => ProgressDrawTarget::stderr(),
            Bars::Forced => {
                ProgressDrawTarget::term_like(Box::new(console::Term::buffered_stderr()))
            }
            Bars::Hidden => ProgressDrawTarget::hidden(),
        };
        let multi = MultiProgress::with_draw_target(target);
        let bytes = Arc::new(AtomicU64::new(0));
        let total = multi.add(
            ProgressBar::new(0)
                .with_style(total_style(bytes.clone()))
                .with_prefix("total"),
        );
        let live = display.bars != Bars::Hidden;
        if live {
            // A thread that redraws the rate and ETA while no byte arrives.
            total.enable_steady_tick(Duration::from_millis(100));
        }
        let rows = console::Term::stderr()
            .size_checked()
            .map_or(24, |(rows, _)| rows as usize);
        Progress {
            overflow: OnceLock::new(),
            multi,
            total,
            bytes,
            visible_workers: rows.saturating_sub(RESERVED_ROWS).max(1),
            hidden_workers: AtomicUsize::new(0),
            styles: Styles::new(),
            live,
            queued: AtomicU64::new(0),
        }
    }

    /// A bar for one worker thread, labelled with its name. Workers past the
    /// terminal's height get a hidden bar and are counted on one summary line.
    pub fn worker_bar(&self, index: usize, thread_name: &str) -> WorkerBar {
        let bar = if !self.live {
            ProgressBar::hidden()
        } else if index < self.visible_workers {
            self.multi.add(ProgressBar::new(0))
        } else {
            let hidden = self.hidden_workers.fetch_add(1, Ordering::Relaxed) + 1;
            let overflow = self.overflow.get_or_init(|| {
                self.multi
                    .add(ProgressBar::new(0).with_style(self.styles.idle.clone()))
            });
            overflow.set_message(format!("... and {hidden} more workers not shown"));
            ProgressBar::hidden()
        };
        bar.set_prefix(thread_name.to_string());
        let worker = WorkerBar {
            bar,
            bytes: self.bytes.clone(),
            counted: AtomicU64::new(0),
            styles: self.styles.clone(),
            live: self.live,
        };
        worker.idle();
        worker
    }

    /// Whether bars are drawn at all (a terminal, or `--progress always`).
    pub fn is_drawn(&self) -> bool {
        self.live
    }

    /// Sets the total ahead of time (a counted list); it still grows if
    /// more jobs come than expected.
    pub fn expect_jobs(&self, count: u64) {
        self.total.set_length(count);
    }

    pub fn job_queued(&self) {
        let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if queued > self.total.length().unwrap_or(0) {
            self.total.set_length(queued);
        }
    }

    pub fn job_finished(&self) {
        self.total.inc(1);
    }

    /// Prints a whole line on stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        self.multi.suspend(|| {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{line}");
        });
    }

    /// Removes the bars so the summary starts on a clean screen.
    pub fn finish(&self) {
        self.total.disable_steady_tick();
        let _ = self.multi.clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// "12.5 MiB @ 3.1 MiB/s" from the shared byte counter, updated on every draw.
fn total_style(bytes: Arc<AtomicU64>) -> ProgressStyle {
    style(TOTAL_TEMPLATE).progress_chars("=> ").with_key(
        "transfer",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let done = bytes.load(Ordering::Relaxed);
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

/// `big.iso [2.00 MiB..4.00 MiB]`, from the final path or its `.part`.
fn piece_label(path: &Path, start: u64, end: u64) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = name
        .strip_suffix(crate::naming::PART_SUFFIX)
        .unwrap_or(&name);
    format!("{name} [{}..{}]", HumanBytes(start), HumanBytes(end))
}

/// The bar of one worker thread.
pub struct WorkerBar {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
    /// Bytes this worker received since the last `take_counted`.
    counted: AtomicU64,
    styles: Styles,
    live: bool,
}

impl WorkerBar {
    pub fn start(&self, path: &Path, length: Option<u64>) {
        if !self.live {
            self.bar.set_position(0);
            return;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.bar.reset();
        match length {
            Some(length) => {
                self.bar.set_style(self.styles.busy.clone());
                self.bar.set_length(length);
            }
            None => {
                self.bar.set_style(self.styles.streaming.clone());
                self.bar.unset_length();
            }
        }
        self.bar.set_message(name);
    }

    /// One piece of a shared file: the bar shows the piece's own range.
    pub fn start_piece(&self, path: &Path, start: u64, end: u64) {
        if !self.live {
            self.bar.set_position(0);
            return;
        }
        self.start(path, Some(end - start));
        self.bar.set_message(piece_label(path, start, end));
    }

    /// Another worker took the tail of this worker's range: show what is left of it.
    pub fn piece_shrunk(&self, path: &Path, start: u64, end: u64) {
        if self.live {
            self.bar.set_length(end - start);
            self.bar.set_message(piece_label(path, start, end));
        }
    }

    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.counted.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A resumed transfer starts where its part ends. Those bytes came
    /// earlier, so they move the bar but not the total.
    pub fn resume_at(&self, offset: u64) {
        self.bar.set_position(offset);
    }

    /// The bytes received since the last call: the worker's own share.
    pub fn take_counted(&self) -> u64 {
        self.counted.swap(0, Ordering::Relaxed)
    }

    pub fn idle(&self) {
        if !self.live {
            return;
        }
        self.bar.set_style(self.styles.idle.clone());
        self.bar.set_message("idle, waiting for a job");
    }

    pub fn done(&self) {
        if !self.live {
            return;
        }
        self.bar.set_style(self.styles.idle.clone());
        self.bar.set_message("done");
    }
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
        let mut progress = Progress::new(Display {
            bars: Bars::Hidden,
            quiet: false,
        });
        // Laid out as on a 5-row terminal, drawn nowhere.
        progress.live = true;
        progress.visible_workers = 2;
        let bars: Vec<WorkerBar> = (0..5)
            .map(|i| progress.worker_bar(i, &format!("tget-w{i:02}")))
            .collect();
        assert_eq!(progress.hidden_workers.load(Ordering::Relaxed), 3);
        assert_eq!(
            progress.overflow.get().unwrap().message(),
            "... and 3 more workers not shown"
        );
        bars[4].advance(10);
        bars[0].advance(5);
        assert_eq!(progress.bytes.load(Ordering::Relaxed), 15);
    }
}
