//! The bench's report: the table, then what it means: the ideal next to the
//! measured time, and where more threads stopped helping, and why.

use crate::bench::batch::{BatchKind, jobs, title};
use crate::bench::results::Results;
use crate::timing::{self, Row};
use crate::ui::summary::{WIDTH, wrap};
use crate::units;

/// The table, then what it means: the ideal next to the measured time, and
/// where scaling stopped.
pub fn report(results: &Results) -> String {
    let heading = format!(
        "{}; {} interleaved; {} available",
        title(&results.batch),
        units::count(results.rounds as u64, "round"),
        units::count(results.available_parallelism as u64, "CPU"),
    );
    let mut text = format!("\n{}", wrap(&heading, WIDTH));
    if !results.complete {
        let interrupted = format!(
            "Interrupted after {} of {} runs: the results so far (no files exported).",
            results.runs.len(),
            results.threads.len() * results.rounds
        );
        text.push_str(&wrap(&interrupted, WIDTH));
    }
    text.push('\n');
    text.push_str(&timing::table(&results.rows));
    text.push('\n');
    if let Some(line) = ideal_line(results) {
        text.push_str(&wrap(&line, WIDTH));
    }
    let scaling = scaling_line(&results.rows, &results.batch, results.available_parallelism);
    text.push_str(&wrap(&scaling, WIDTH));
    text
}

/// The latency-bound ideal, named by its formula, against the fastest run.
fn ideal_line(results: &Results) -> Option<String> {
    let BatchKind::BuiltIn {
        files,
        size_bytes,
        latency_ms,
        bandwidth_bytes_per_s,
    } = &results.batch
    else {
        return None;
    };
    let best = results
        .rows
        .iter()
        .min_by(|a, b| a.median_s.total_cmp(&b.median_s))?;
    let per_file = match bandwidth_bytes_per_s {
        Some(rate) => format!(
            "({latency_ms} ms latency + {:.0} ms transfer)",
            *size_bytes as f64 / *rate as f64 * 1e3
        ),
        None => format!("{latency_ms} ms"),
    };
    let ideal = best.ideal_s?;
    Some(format!(
        "Ideal (latency-bound): ceil({files} / threads) x {per_file}. Fastest: {} threads, \
         median {} against an ideal of {} ({:.0}% of ideal).",
        best.threads,
        timing::seconds(best.median_s),
        timing::seconds(ideal),
        ideal / best.median_s * 100.0
    ))
}

/// Where more threads stopped paying (`timing::scaling_stops_at`), and the
/// likeliest reason, in one line.
pub fn scaling_line(rows: &[Row], batch: &BatchKind, cores: usize) -> String {
    if rows.len() < 2 {
        return "Scaling: it takes two thread counts to tell.".into();
    }
    let Some(stop) = timing::scaling_stops_at(rows) else {
        return "Scaling: every step still helped (each cut the median by 10% or more).".into();
    };
    let (Some(at), Some(next)) = (
        rows.iter().find(|r| r.threads == stop),
        rows.iter().find(|r| r.threads > stop),
    ) else {
        return String::new();
    };
    format!(
        "Scaling: more than {stop} thread{} stopped helping ({} threads: median {} against {}): {}.",
        if stop == 1 { "" } else { "s" },
        next.threads,
        timing::seconds(next.median_s),
        timing::seconds(at.median_s),
        stop_reason(at, next, batch, cores)
    )
}

fn stop_reason(at: &Row, next: &Row, batch: &BatchKind, cores: usize) -> String {
    let jobs = jobs(batch);
    if at.threads >= jobs {
        return format!("there are only {jobs} files, so the extra threads have nothing to do");
    }
    if let (Some(a), Some(b)) = (at.ideal_s, next.ideal_s)
        && b > a * 0.9
    {
        return "the ideal does not drop either: ceil(files / threads) stays the same".into();
    }
    let cpu = cpu_finding(next, batch, cores);
    match (batch, next.ideal_s) {
        (BatchKind::BuiltIn { .. }, ideal) => format!(
            "waiting is no longer the limit{}; {cpu}",
            ideal
                .map(|b| format!(" (the ideal is {})", timing::seconds(b)))
                .unwrap_or_default()
        ),
        (BatchKind::Urls { .. }, _) => {
            format!("waiting on responses is no longer the limit; {cpu}")
        }
    }
}

/// What the workers' CPU time says at the thread count that stopped helping.
fn cpu_finding(row: &Row, batch: &BatchKind, cores: usize) -> String {
    let cpus = format!("{cores} CPU{}", if cores == 1 { "" } else { "s" });
    let split = timing::Split {
        cpu_share: row.cpu_share,
        cores_busy: row.cores_busy,
        cores,
    };
    if !row.cpu_share.is_finite() {
        return format!("fixed costs or the {cpus} are");
    }
    let measured = format!(
        "at {} threads the workers were on the CPU {:.0}% of their busy time and kept {:.2} of the {cpus} busy",
        row.threads,
        100.0 * row.cpu_share,
        row.cores_busy
    );
    if split.cpu_bound() {
        format!(
            "{measured}: CPU-bound (making, copying and writing the bytes, on both ends of the loopback)"
        )
    } else {
        let server = match batch {
            // It runs in this process, on the same cores.
            BatchKind::BuiltIn { .. } => format!("the built-in server, which shares the {cpus}"),
            BatchKind::Urls { .. } => "the servers or the link".into(),
        };
        format!("{measured}, so the limit is elsewhere: fixed costs per request, or {server}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::batch::built_in;

    fn row(threads: usize, median_s: f64, ideal_s: Option<f64>) -> Row {
        Row {
            threads,
            runs: 1,
            median_s,
            min_s: median_s,
            max_s: median_s,
            speedup: 1.0,
            efficiency: 1.0,
            throughput_bytes_per_s: 0.0,
            cpu_share: 0.1,
            cores_busy: 0.2,
            failures: 0,
            ideal_s,
        }
    }

    #[test]
    fn scaling_lines_name_the_stop_and_a_reason() {
        let built_in = built_in(64, 50.0, None).kind;
        let rows = [row(1, 3.2, Some(3.2)), row(2, 1.6, Some(1.6))];
        assert!(scaling_line(&rows, &built_in, 2).contains("every step still helped"));

        let rows = [row(4, 0.8, Some(0.8)), row(8, 0.78, Some(0.4))];
        let line = scaling_line(&rows, &built_in, 2);
        assert!(line.starts_with("Scaling: more than 4 threads"), "{line}");
        assert!(line.contains("(the ideal is 0.400 s)"), "{line}");
        assert!(line.contains("kept 0.20 of the 2 CPUs busy"), "{line}");
        assert!(line.contains("the limit is elsewhere"), "{line}");
        assert!(
            line.ends_with("the built-in server, which shares the 2 CPUs."),
            "{line}"
        );
        let mut saturated = rows.clone();
        saturated[1].cores_busy = 1.9;
        let line = scaling_line(&saturated, &built_in, 2);
        assert!(line.contains("CPU-bound"), "{line}");

        let rows = [row(64, 0.1, Some(0.05)), row(128, 0.1, Some(0.05))];
        assert!(scaling_line(&rows, &built_in, 2).contains("only 64 files"));

        let urls = BatchKind::Urls {
            jobs: 10,
            sources: vec!["urls.txt".into()],
        };
        let rows = [row(1, 1.0, None), row(2, 1.0, None)];
        assert!(scaling_line(&rows, &urls, 2).contains("waiting on responses"));
        assert!(scaling_line(&rows[..1], &urls, 2).contains("two thread counts"));
    }
}
