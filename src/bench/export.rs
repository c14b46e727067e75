//! Bench results for other programs: CSV with one row per thread count, and
//! one JSON object with everything.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bench::batch::BatchKind;
use crate::bench::results::{Results, RunRecord};
use crate::config::BenchConfig;
use crate::timing::Row;

/// The CSV header: the fields of `timing::Row`, in order (a test keeps them in step).
pub const CSV_FIELDS: [&str; 12] = [
    "threads",
    "runs",
    "median_s",
    "min_s",
    "max_s",
    "speedup",
    "efficiency",
    "throughput_bytes_per_s",
    "cpu_share",
    "cores_busy",
    "failures",
    "ideal_s",
];

/// Numbers only, so nothing needs quoting; an unknown ideal is an empty field.
pub fn csv(rows: &[Row]) -> String {
    let mut out = CSV_FIELDS.join(",");
    out.push('\n');
    for r in rows {
        let ideal = r.ideal_s.map(|s| s.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{ideal}",
            r.threads,
            r.runs,
            r.median_s,
            r.min_s,
            r.max_s,
            r.speedup,
            r.efficiency,
            r.throughput_bytes_per_s,
            finite(r.cpu_share),
            finite(r.cores_busy),
            r.failures,
        );
    }
    out
}

/// An empty field for a share that has no meaning (no busy time).
fn finite(value: f64) -> String {
    if value.is_finite() {
        value.to_string()
    } else {
        String::new()
    }
}

pub fn write_csv(path: &Path, rows: &[Row]) -> Result<()> {
    fs::write(path, csv(rows))
        .with_context(|| format!("cannot write the --csv file {}", path.display()))
}

/// The `--json` document. A struct rather than `json!` so the fields come out
/// in this order, rows included, instead of sorted.
#[derive(Serialize)]
struct Document<'a> {
    config: ConfigJson<'a>,
    available_parallelism: usize,
    /// False when Ctrl-C stopped the bench early.
    complete: bool,
    rows: &'a [Row],
    /// Every run's raw wall time, in the order the runs happened.
    runs: Vec<RunJson>,
    scaling_stops_at: Option<usize>,
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    batch: &'a BatchKind,
    threads: &'a [usize],
    rounds: usize,
    keep: Option<String>,
    connect_timeout_s: f64,
    timeout_s: f64,
    retries: u32,
}

#[derive(Serialize)]
struct RunJson {
    round: usize,
    threads: usize,
    wall_s: f64,
    ok: u64,
    failed: u64,
    bytes: u64,
    busy_s: f64,
    cpu_s: f64,
}

pub fn json(results: &Results, config: &BenchConfig) -> String {
    let document = Document {
        config: ConfigJson {
            batch: &results.batch,
            threads: &results.threads,
            rounds: results.rounds,
            keep: config.keep.as_ref().map(|p| p.display().to_string()),
            connect_timeout_s: config.http.connect_timeout.as_secs_f64(),
            timeout_s: config.http.read_timeout.as_secs_f64(),
            retries: config.http.retries,
        },
        available_parallelism: results.available_parallelism,
        complete: results.complete,
        rows: &results.rows,
        runs: results.runs.iter().map(run_json).collect(),
        scaling_stops_at: results.scaling_stops_at,
    };
    serde_json::to_string_pretty(&document).expect("plain data always serialises")
}

fn run_json(record: &RunRecord) -> RunJson {
    RunJson {
        round: record.round,
        threads: record.threads,
        wall_s: record.run.wall.as_secs_f64(),
        ok: record.run.ok,
        failed: record.run.failed,
        bytes: record.run.bytes,
        busy_s: record.run.busy.as_secs_f64(),
        cpu_s: record.run.cpu.as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(threads: usize, ideal_s: Option<f64>) -> Row {
        Row {
            threads,
            runs: 3,
            median_s: 0.5,
            min_s: 0.25,
            max_s: 0.75,
            speedup: 2.0,
            efficiency: 1.0,
            throughput_bytes_per_s: 1024.0,
            cpu_share: 0.25,
            cores_busy: 0.5,
            failures: 0,
            ideal_s,
        }
    }

    #[test]
    fn the_csv_header_is_the_row_fields_in_order() {
        // serde writes struct fields in declaration order.
        let text = serde_json::to_string(&row(1, None)).unwrap();
        let positions: Vec<usize> = CSV_FIELDS
            .iter()
            .map(|f| {
                text.find(&format!("\"{f}\":"))
                    .unwrap_or_else(|| panic!("{f}: {text}"))
            })
            .collect();
        assert!(positions.is_sorted(), "{text}");
        let fields = serde_json::to_value(row(1, None)).unwrap();
        assert_eq!(fields.as_object().unwrap().len(), CSV_FIELDS.len());
    }

    #[test]
    fn csv_rows_follow_the_header() {
        let text = csv(&[row(1, Some(3.2)), row(8, None)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_FIELDS.join(","));
        assert_eq!(lines[1], "1,3,0.5,0.25,0.75,2,1,1024,0.25,0.5,0,3.2");
        assert_eq!(lines[2], "8,3,0.5,0.25,0.75,2,1,1024,0.25,0.5,0,");
    }
}
