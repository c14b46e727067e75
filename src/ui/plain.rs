//! Progress as plain lines, for logs, CI and screen readers: one line per
//! finished file, and a status line every `--progress-interval`. No escape
//! codes, nothing redrawn: each line is written whole and stays.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::activity::{Board, State};
use crate::engine::job::{End, JobReport};
use crate::ui::ticker::Painter;
use crate::units::{bytes, count, rate, seconds};

/// `tget: [3/24] saved out/a.bin (586 KiB in 1.46 s)`.
pub fn finished_line(report: &JobReport, (finished, jobs): (u64, u64)) -> String {
    let path = report
        .path
        .as_ref()
        .map_or_else(|| report.url.clone(), |p| p.display().to_string());
    let outcome = &report.outcome;
    let what = match &outcome.end {
        End::Saved { bytes: size, .. } => format!(
            "saved {path} ({} in {})",
            bytes(*size),
            seconds(outcome.elapsed)
        ),
        End::Skipped => format!("skipped {path} (already present)"),
        End::Failed(_) => format!("failed {path}"),
    };
    crate::naming::escape_for_terminal(&format!("tget: [{finished}/{jobs}] {what}"))
}

/// The status line's painter: it reads the board every interval.
pub struct Status {
    board: Arc<Board>,
    interval: Duration,
    started: Instant,
}

impl Status {
    pub fn new(board: &Arc<Board>, interval: Duration) -> Status {
        Status {
            board: board.clone(),
            interval,
            started: Instant::now(),
        }
    }

    /// `tget: 12/24 files, 7.03 MiB received (1.40 MiB/s), 4 of 4 workers busy, 5.02 s`.
    fn line(&self) -> String {
        let (finished, jobs) = self.board.jobs();
        let received = self.board.received();
        let elapsed = self.started.elapsed();
        let rows = self.board.rows();
        let started = rows
            .iter()
            .filter(|r| r.state() != State::Unstarted)
            .count();
        let busy = rows
            .iter()
            .filter(|r| {
                matches!(
                    r.state(),
                    State::Connecting | State::Waiting | State::Receiving
                )
            })
            .count();
        format!(
            "tget: {finished}/{jobs} files, {} received ({}), {busy} of {} busy, {}",
            bytes(received),
            rate(received as f64 / elapsed.as_secs_f64().max(1e-9)),
            count(started as u64, "worker"),
            seconds(elapsed)
        )
    }
}

impl Painter for Status {
    fn period(&self) -> Duration {
        self.interval
    }

    fn frame(&mut self) {
        let _ = io::stderr().write_all(format!("{}\n", self.line()).as_bytes());
    }

    fn last(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::job::Outcome;
    use crate::input::Origin;

    #[test]
    fn a_status_line_says_files_bytes_and_workers() {
        let board = Arc::new(Board::new(4, true));
        board.expect_jobs(24);
        board.lane(0).start(|| "a".into(), None, 0);
        board.lane(0).advance(2048);
        board.lane(1).idle();
        let line = Status::new(&board, Duration::from_secs(10)).line();
        assert!(
            line.starts_with("tget: 0/24 files, 2.00 KiB received ("),
            "{line}"
        );
        assert!(line.contains("1 of 2 workers busy"), "{line}");
        assert!(!line.contains('\u{1b}'));
    }

    #[test]
    fn a_finished_line_names_the_file() {
        let mut outcome = Outcome::new(End::Saved {
            bytes: 600 << 10,
            path: "out/a.bin".into(),
        });
        outcome.elapsed = Duration::from_millis(1460);
        let report = JobReport {
            url: "http://h/a.bin".into(),
            listed_url: "http://h/a.bin".into(),
            path: Some("out/a.bin".into()),
            sha256: None,
            listed_dir: Vec::new(),
            origin: Origin::Argument(1),
            outcome,
            worker: Some("tget-w00".into()),
        };
        assert_eq!(
            finished_line(&report, (3, 24)),
            "tget: [3/24] saved out/a.bin (600 KiB in 1.46 s)"
        );
    }
}
