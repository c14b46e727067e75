//! Wall-clock measurements at several thread counts and what they mean:
//! speedup over the sequential run, parallel efficiency, throughput. Shared by
//! `tget --compare` and `tget bench`, so both measure and report the same way.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::engine::activity::Board;
use crate::engine::job::{JobReport, Planned, Totals};
use crate::engine::pool::{Pool, PoolRun};

/// Runs planned jobs on `pool` and times them, counting results instead of
/// listing them: the one measurement that `--compare` and `tget bench`
/// share, so their numbers mean the same thing.
pub fn timed_batch(
    pool: &Pool,
    jobs: impl Iterator<Item = Planned> + Send,
    board: &Arc<Board>,
    mut on_report: impl FnMut(&JobReport),
) -> Run {
    let mut totals = Totals::default();
    let (pool_run, _) = pool.run(jobs, board, |report| {
        totals.add(&report);
        on_report(&report);
    });
    Run::of(&pool_run, &totals)
}

/// One timed run of a whole batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub wall: Duration,
    pub ok: u64,
    pub failed: u64,
    pub bytes: u64,
}

impl Run {
    /// A pool's run as a timing: skipped files count as done.
    pub fn of(pool_run: &PoolRun, totals: &Totals) -> Run {
        Run {
            wall: pool_run.wall,
            ok: totals.ok + totals.skipped,
            failed: totals.failed,
            bytes: totals.bytes,
        }
    }
}

/// Every run at one thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub threads: usize,
    pub runs: Vec<Run>,
}

/// One line of the comparison table (and of the CSV and JSON exports).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub threads: usize,
    pub runs: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    /// Sequential median / this median.
    pub speedup: f64,
    /// Speedup per thread: 1.0 means every thread pulled its full weight.
    pub efficiency: f64,
    pub throughput_bytes_per_s: f64,
    pub failures: u64,
    /// The best this thread count could do, when the batch's shape is known.
    pub ideal_s: Option<f64>,
}

impl Series {
    fn seconds(&self) -> Vec<f64> {
        let mut seconds: Vec<f64> = self.runs.iter().map(|r| r.wall.as_secs_f64()).collect();
        seconds.sort_by(f64::total_cmp);
        seconds
    }

    pub fn median(&self) -> f64 {
        let seconds = self.seconds();
        match seconds.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => seconds[n / 2],
            n => (seconds[n / 2 - 1] + seconds[n / 2]) / 2.0,
        }
    }
}

/// Rows in thread order; speedups are against the 1-thread series.
pub fn rows(series: &[Series], ideal: impl Fn(usize) -> Option<Duration>) -> Vec<Row> {
    let baseline = series.iter().find(|s| s.threads == 1).map(Series::median);
    let mut rows: Vec<Row> = series
        .iter()
        .map(|s| {
            let seconds = s.seconds();
            let median = s.median();
            let speedup = baseline.map_or(f64::NAN, |b| b / median);
            let bytes: u64 = s.runs.iter().map(|r| r.bytes).sum();
            let total_time: f64 = seconds.iter().sum();
            Row {
                threads: s.threads,
                runs: s.runs.len(),
                median_s: median,
                min_s: seconds.first().copied().unwrap_or(f64::NAN),
                max_s: seconds.last().copied().unwrap_or(f64::NAN),
                speedup,
                efficiency: speedup / s.threads as f64,
                throughput_bytes_per_s: bytes as f64 / total_time.max(1e-9),
                failures: s.runs.iter().map(|r| r.failed).sum(),
                ideal_s: ideal(s.threads).map(|d| d.as_secs_f64()),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.threads);
    rows
}

/// The thread count after which more threads stopped paying: the first row
/// whose next row improves the median by less than 10%. `None` while every
/// step still helps.
pub fn scaling_stops_at(rows: &[Row]) -> Option<usize> {
    rows.windows(2)
        .find(|pair| pair[1].median_s > pair[0].median_s * 0.9)
        .map(|pair| pair[0].threads)
}

pub fn table(rows: &[Row]) -> String {
    let with_ideal = rows.iter().any(|r| r.ideal_s.is_some());
    let mut out = format!(
        "{:>7} {:>9} {:>9} {:>9} {:>8} {:>10} {:>12} {:>8}{}\n",
        "threads",
        "median",
        "min",
        "max",
        "speedup",
        "efficiency",
        "throughput",
        "failures",
        if with_ideal {
            format!(" {:>9}", "ideal")
        } else {
            String::new()
        }
    );
    for r in rows {
        let ideal = match (with_ideal, r.ideal_s) {
            (true, Some(ideal)) => format!(" {:>9}", seconds(ideal)),
            (true, None) => format!(" {:>9}", "-"),
            (false, _) => String::new(),
        };
        out.push_str(&format!(
            "{:>7} {:>9} {:>9} {:>9} {:>7.2}x {:>9.0}% {:>10}/s {:>8}{ideal}\n",
            r.threads,
            seconds(r.median_s),
            seconds(r.min_s),
            seconds(r.max_s),
            r.speedup,
            r.efficiency * 100.0,
            indicatif::HumanBytes(r.throughput_bytes_per_s as u64).to_string(),
            r.failures,
        ));
    }
    out
}

pub fn seconds(value: f64) -> String {
    format!("{value:.3} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(threads: usize, millis: &[u64]) -> Series {
        let runs = millis
            .iter()
            .map(|&ms| Run {
                wall: Duration::from_millis(ms),
                ok: 10,
                failed: 0,
                bytes: 1000,
            })
            .collect();
        Series { threads, runs }
    }

    #[test]
    fn speedup_and_efficiency_against_one_thread() {
        let rows = rows(
            &[series(4, &[300, 250, 260]), series(1, &[1000, 1100, 900])],
            |_| None,
        );
        assert_eq!(rows.iter().map(|r| r.threads).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(rows[1].median_s, 0.26);
        assert!((rows[1].speedup - 1.0 / 0.26).abs() < 1e-9);
        assert!((rows[1].efficiency - rows[1].speedup / 4.0).abs() < 1e-9);
        assert_eq!((rows[0].min_s, rows[0].max_s), (0.9, 1.1));
    }

    #[test]
    fn median_of_an_even_count_is_the_middle_mean() {
        assert_eq!(series(1, &[1000, 3000]).median(), 2.0);
    }

    #[test]
    fn scaling_stops_where_the_gain_falls_under_ten_percent() {
        let rows = rows(
            &[
                series(1, &[1000]),
                series(2, &[500]),
                series(4, &[260]),
                series(8, &[250]),
                series(16, &[240]),
            ],
            |_| None,
        );
        assert_eq!(scaling_stops_at(&rows), Some(4));
        assert_eq!(scaling_stops_at(&rows[..3]), None);
    }

    #[test]
    fn table_has_a_line_per_thread_count() {
        let rows = rows(&[series(1, &[1000]), series(8, &[150])], |t| {
            Some(Duration::from_millis(1000 / t as u64))
        });
        let text = table(&rows);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.lines().nth(2).unwrap().trim_start().starts_with("8 "),
            "{text}"
        );
        assert!(text.contains("6.67x") && text.contains("0.125 s"), "{text}");
    }
}
