//! Wall-clock measurements at several thread counts and what they mean:
//! speedup over the sequential run, parallel efficiency, throughput. Shared by
//! `tget --compare` and `tget bench`, so both measure and report the same way.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::engine::activity::Board;
use crate::engine::job::{JobReport, Planned, Totals};
use crate::engine::pool::{Pool, PoolRun, WorkerStats};

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
    /// The workers' busy time, added up.
    pub busy: Duration,
    /// The part of `busy` the workers spent on a CPU.
    pub cpu: Duration,
}

impl Run {
    /// A pool's run as a timing: skipped files count as done.
    pub fn of(pool_run: &PoolRun, totals: &Totals) -> Run {
        let (busy, cpu) = busy_and_cpu(&pool_run.workers);
        Run {
            wall: pool_run.wall,
            ok: totals.ok + totals.skipped,
            failed: totals.failed,
            bytes: totals.bytes,
            busy,
            cpu,
        }
    }
}

/// The workers' busy time and the part of it on a CPU, added up.
pub fn busy_and_cpu(workers: &[WorkerStats]) -> (Duration, Duration) {
    let busy = workers.iter().map(|w| w.busy).sum();
    let cpu: Duration = workers.iter().map(|w| w.cpu).sum();
    (busy, cpu.min(busy))
}

/// Where the workers' busy time went, and what follows for more threads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// The share of busy time on a CPU, 0 to 1.
    pub cpu_share: f64,
    /// CPU cores the workers kept busy on average over the run.
    pub cores_busy: f64,
    pub cores: usize,
}

/// Above this share of busy time on a CPU, or this share of every core kept
/// busy, the batch is bound by the CPU rather than by waiting.
const CPU_BOUND_SHARE: f64 = 0.5;
const CORES_SATURATED: f64 = 0.75;

impl Split {
    /// `None` when the workers were never busy (every file skipped).
    pub fn of(busy: Duration, cpu: Duration, wall: Duration, cores: usize) -> Option<Split> {
        if busy.is_zero() {
            return None;
        }
        Some(Split {
            cpu_share: cpu.as_secs_f64() / busy.as_secs_f64(),
            cores_busy: cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            cores: cores.max(1),
        })
    }

    /// A thread waiting for a core is off the CPU too, so with more threads
    /// than cores a CPU-bound batch shows a small share per thread: the cores
    /// the workers kept busy tell it apart.
    pub fn cpu_bound(&self) -> bool {
        self.cpu_share >= CPU_BOUND_SHARE || self.cores_busy >= CORES_SATURATED * self.cores as f64
    }

    /// The sentence a summary ends on, under 80 columns: "Blocked (network,
    /// disk) 97% of the busy time: IO-bound, more threads help."
    pub fn verdict(&self) -> String {
        let cores = crate::units::count(self.cores as u64, "core");
        let cpu = 100.0 * self.cpu_share;
        if self.cpu_share >= CPU_BOUND_SHARE {
            format!(
                "On the CPU {cpu:.0}% of the busy time: more threads than the {cores} will not help."
            )
        } else if self.cpu_bound() {
            format!(
                "The {cores} were {:.0}% busy (CPU-bound): more threads will not help.",
                100.0 * self.cores_busy / self.cores as f64
            )
        } else {
            format!(
                "Blocked (network, disk) {:.0}% of the busy time: IO-bound, more threads help.",
                100.0 - cpu
            )
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
    /// The share of the workers' busy time spent on a CPU (the rest was
    /// blocked: network, disk, or waiting for a core).
    pub cpu_share: f64,
    /// CPU cores the workers kept busy, on average over the runs.
    pub cores_busy: f64,
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
            let busy: Duration = s.runs.iter().map(|r| r.busy).sum();
            let cpu: Duration = s.runs.iter().map(|r| r.cpu).sum();
            Row {
                threads: s.threads,
                runs: s.runs.len(),
                median_s: median,
                min_s: seconds.first().copied().unwrap_or(f64::NAN),
                max_s: seconds.last().copied().unwrap_or(f64::NAN),
                speedup,
                efficiency: speedup / s.threads as f64,
                throughput_bytes_per_s: bytes as f64 / total_time.max(1e-9),
                cpu_share: cpu.as_secs_f64() / busy.as_secs_f64(),
                cores_busy: cpu.as_secs_f64() / total_time.max(1e-9),
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

/// The table, 80 columns at most: medians with their spread (half the
/// min-max range, against the median) rather than three time columns.
pub fn table(rows: &[Row]) -> String {
    let with_ideal = rows.iter().any(|r| r.ideal_s.is_some());
    let mut out = format!(
        "{:>7} {:>9} {:>6} {:>7} {:>6} {:>10} {:>6} {:>5} {:>6}{}\n",
        "threads",
        "median",
        "spread",
        "speedup",
        "effic.",
        "throughput",
        "on CPU",
        "cores",
        "failed",
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
            "{:>7} {:>9} {:>6} {:>7} {:>6} {:>10} {:>6} {:>5} {:>6}{ideal}\n",
            r.threads,
            seconds(r.median_s),
            spread(r),
            speedup(r.speedup),
            percent(r.efficiency),
            crate::units::rate(r.throughput_bytes_per_s),
            percent(r.cpu_share),
            if r.cores_busy.is_finite() {
                format!("{:.2}", r.cores_busy)
            } else {
                "-".into()
            },
            r.failures,
        ));
    }
    out
}

/// `7.56x`, `1012.3x`: seven characters up to 9999x.
fn speedup(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.2}x")
    } else {
        format!("{value:.1}x")
    }
}

/// `±3%`: half the range of the runs, against their median.
fn spread(row: &Row) -> String {
    let half = (row.max_s - row.min_s) / 2.0 / row.median_s;
    if half.is_finite() {
        format!("±{:.0}%", 100.0 * half)
    } else {
        "-".into()
    }
}

fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", 100.0 * share)
    } else {
        "-".into()
    }
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
                busy: Duration::from_millis(ms * threads as u64),
                cpu: Duration::from_millis(ms / 10),
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

    #[test]
    fn the_table_fits_80_columns_at_its_widest() {
        let mut rows = rows(
            &[series(1, &[999_000, 1]), series(1024, &[1, 999_000])],
            |_| Some(Duration::from_secs(999)),
        );
        rows[1].speedup = 1023.9;
        rows[1].failures = 999_999;
        rows[1].throughput_bytes_per_s = 1e30;
        for line in table(&rows).lines() {
            assert!(
                line.chars().count() <= 80,
                "{} wide: {line}",
                line.chars().count()
            );
        }
        assert!(table(&rows).contains("on CPU"));
    }

    #[test]
    fn the_cpu_split_tells_waiting_from_computing() {
        let second = Duration::from_secs(1);
        let split = |busy: u32, cpu: u32, wall: u32, cores| {
            Split::of(busy * second, cpu * second, wall * second, cores)
        };
        // 4 threads, 25 s each, 3 s of it on a CPU.
        let waiting = split(100, 3, 25, 2).unwrap();
        assert!(!waiting.cpu_bound());
        assert_eq!(
            waiting.verdict(),
            "Blocked (network, disk) 97% of the busy time: IO-bound, more threads help."
        );
        let computing = split(10, 6, 10, 8).unwrap();
        assert_eq!(
            computing.verdict(),
            "On the CPU 60% of the busy time: more threads than the 8 cores will not help."
        );
        // 64 threads sharing 2 saturated cores: a small share each, yet CPU-bound.
        let crowded = split(64, 2, 1, 2).unwrap();
        assert!(crowded.cpu_bound(), "{}", crowded.verdict());
        assert!(
            crowded
                .verdict()
                .starts_with("The 2 cores were 100% busy (CPU-bound)")
        );
        assert_eq!(Split::of(Duration::ZERO, Duration::ZERO, second, 2), None);
    }
}
