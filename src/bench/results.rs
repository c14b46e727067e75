//! What a bench found: every run in the order it ran, and the table rows
//! derived from them, for the report, the exports and the chart.

use crate::bench::batch::{Batch, BatchKind};
use crate::config::BenchConfig;
use crate::timing::{self, Row, Run, Series};

/// One timed run of the whole batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunRecord {
    /// 1-based.
    pub round: usize,
    pub threads: usize,
    pub run: Run,
}

/// Everything a bench found: what the table, the exports and the chart show.
#[derive(Debug, Clone)]
pub struct Results {
    pub batch: BatchKind,
    pub threads: Vec<usize>,
    pub rounds: usize,
    /// In the order they ran.
    pub runs: Vec<RunRecord>,
    pub rows: Vec<Row>,
    pub scaling_stops_at: Option<usize>,
    pub available_parallelism: usize,
    /// False when Ctrl-C stopped the bench before its last run.
    pub complete: bool,
}

impl Results {
    pub fn new(batch: &Batch, config: &BenchConfig, runs: Vec<RunRecord>) -> Results {
        let series: Vec<Series> = config
            .threads
            .iter()
            .map(|&threads| Series {
                threads,
                runs: runs
                    .iter()
                    .filter(|r| r.threads == threads)
                    .map(|r| r.run)
                    .collect(),
            })
            .filter(|s| !s.runs.is_empty())
            .collect();
        let rows = timing::rows(&series, |threads| batch.ideal(threads));
        Results {
            batch: batch.kind.clone(),
            threads: config.threads.clone(),
            rounds: config.rounds,
            complete: runs.len() == config.threads.len() * config.rounds,
            runs,
            scaling_stops_at: timing::scaling_stops_at(&rows),
            rows,
            available_parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    pub fn failures(&self) -> u64 {
        self.runs.iter().map(|r| r.run.failed).sum()
    }
}
