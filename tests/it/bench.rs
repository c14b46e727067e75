//! `tget bench`: the same batch at several thread counts, on the built-in
//! server (in the child process) or on URLs from this test's server.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::*;

/// The fields of a table row, as the README documents them for `--csv` and `--json`.
const ROW_FIELDS: [&str; 12] = [
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

/// `tget bench` with its temporary files confined to `tmp`.
fn bench(dir: &Path, tmp: &Path) -> Tget {
    let mut cmd = tget(dir);
    cmd.arg("bench").env("TMPDIR", tmp);
    cmd
}

fn run(cmd: &mut Tget) -> Output {
    let output = cmd.output();
    assert!(
        output.status.success(),
        "{:?}\n{}",
        output.status,
        stderr(&output)
    );
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// What `scaling_stops_at` may be for these rows: the first thread count
/// whose next row improves the median by less than 10%, or null when every
/// step helps. A step within rounding of exactly 10% may count either way
/// (the medians went through JSON), so it allows both answers.
fn scaling_stops(rows: &Value) -> Vec<Value> {
    let mut allowed = Vec::new();
    for pair in rows.as_array().unwrap().windows(2) {
        let threshold = pair[0]["median_s"].as_f64().unwrap() * 0.9;
        let next = pair[1]["median_s"].as_f64().unwrap();
        let tie = (next - threshold).abs() <= threshold * 1e-12;
        if tie || next > threshold {
            allowed.push(pair[0]["threads"].clone());
        }
        if !tie && next > threshold {
            return allowed;
        }
    }
    allowed.push(Value::Null);
    allowed
}

fn column(rows: &Value, field: &str) -> Vec<u64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_u64().unwrap())
        .collect()
}

#[test]
fn eight_threads_beat_one_on_the_built_in_server() {
    let (dir, tmp) = (tempdir(), tempdir());
    let output = run(bench(dir.path(), tmp.path()).args([
        "--files",
        "16",
        "--latency",
        "60ms",
        "--size",
        "4KiB",
        "--threads",
        "8",
        "--rounds",
        "1",
        "--json",
    ]));
    let doc = json(&output);
    let rows = &doc["rows"];
    assert_eq!(column(rows, "threads"), [1, 8], "1 is always added");
    // The ideal ratio is 8 (16 x 60 ms against 2 x 60 ms); ask for well under half.
    let speedup = rows[1]["speedup"].as_f64().unwrap();
    assert!(speedup > 3.0, "8 threads were only {speedup:.2}x faster");
    assert_eq!(rows[0]["ideal_s"].as_f64(), Some(0.96));
    assert_eq!(rows[1]["ideal_s"].as_f64(), Some(0.12));
    assert_eq!(column(rows, "failures"), [0, 0]);
}

#[test]
fn the_table_has_every_requested_thread_count_and_one() {
    let (dir, tmp) = (tempdir(), tempdir());
    let output = run(bench(dir.path(), tmp.path()).args([
        "--files",
        "8",
        "--latency",
        "5ms",
        "--size",
        "1KiB",
        "--threads",
        "4,2,16,2",
        "--rounds",
        "1",
    ]));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let threads: Vec<u64> = text
        .lines()
        .skip_while(|line| !line.starts_with("threads"))
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(threads, [1, 2, 4, 16], "{text}");
    assert!(text.contains("threads    median"), "{text}");
    assert!(
        text.contains("Ideal (latency-bound): ceil(8 / threads) x 5 ms"),
        "{text}"
    );
    assert!(text.contains("\nScaling: "), "{text}");
    assert!(
        text.lines().all(|l| l.chars().count() <= 80),
        "fits 80 columns: {text}"
    );
    let progress = stderr(&output);
    assert!(
        progress.contains("round 1/1, 1 thread\n") && progress.contains("round 1/1, 16 threads"),
        "{progress}"
    );
}

#[test]
fn json_and_csv_have_the_documented_fields() {
    let (dir, tmp) = (tempdir(), tempdir());
    let output = run(bench(dir.path(), tmp.path()).args([
        "--files",
        "4",
        "--latency",
        "5ms",
        "--size",
        "1KiB",
        "--threads",
        "2,4",
        "--rounds",
        "2",
        "--json",
        "--csv",
        "out.csv",
    ]));
    let doc = json(&output);
    assert_eq!(doc["config"]["batch"]["kind"], "built-in");
    assert_eq!(doc["config"]["batch"]["files"], 4);
    assert_eq!(doc["config"]["threads"], serde_json::json!([1, 2, 4]));
    assert!(doc["available_parallelism"].as_u64().unwrap() >= 1);
    let stop = doc
        .get("scaling_stops_at")
        .expect("always written: null or a thread count");
    assert!(
        scaling_stops(&doc["rows"]).contains(stop),
        "scaling_stops_at {stop} for rows {}",
        doc["rows"]
    );
    for row in doc["rows"].as_array().unwrap() {
        let fields: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(fields.len(), ROW_FIELDS.len(), "{row}");
        assert!(ROW_FIELDS.iter().all(|f| row.get(*f).is_some()), "{row}");
        assert_eq!(row["runs"], 2);
    }
    // Rounds interleave the thread counts.
    let runs = &doc["runs"];
    assert_eq!(column(runs, "threads"), [1, 2, 4, 1, 2, 4]);
    assert_eq!(column(runs, "round"), [1, 1, 1, 2, 2, 2]);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["wall_s"].as_f64().unwrap() > 0.0 && r["ok"] == 4)
    );

    let csv = fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(ROW_FIELDS.join(",").as_str()));
    let rows: Vec<Vec<f64>> = lines
        .map(|line| {
            line.split(',')
                .map(|v| v.parse().unwrap_or_else(|_| panic!("{v} in {line}")))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().all(|r| r.len() == ROW_FIELDS.len()), "{csv}");
    assert_eq!(
        rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
        [1.0, 2.0, 4.0]
    );
    // The share of busy time on a CPU is a share.
    assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r[8])), "{csv}");
    assert!(
        stderr(&output).contains("tget bench: wrote out.csv"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_plot_is_an_svg_with_a_point_per_thread_count_in_each_series() {
    let (dir, tmp) = (tempdir(), tempdir());
    run(bench(dir.path(), tmp.path()).args([
        "--files",
        "8",
        "--latency",
        "5ms",
        "--size",
        "1KiB",
        "--threads",
        "2,4,8",
        "--rounds",
        "1",
        "--plot",
        "chart.svg",
    ]));
    let text = fs::read_to_string(dir.path().join("chart.svg")).unwrap();
    let svg = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(svg.root_element().tag_name().name(), "svg");
    let mut circles_by_series: HashMap<&str, usize> = HashMap::new();
    for circle in svg.descendants().filter(|n| n.has_tag_name("circle")) {
        *circles_by_series
            .entry(circle.attribute("fill").unwrap_or("none"))
            .or_default() += 1;
    }
    // Time and speedup: one marker per thread count (1, 2, 4, 8) in each.
    assert_eq!(circles_by_series.len(), 2, "{circles_by_series:?}");
    assert!(
        circles_by_series.values().all(|&n| n == 4),
        "{circles_by_series:?}"
    );
    let labels: String = svg
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        labels.contains("threads") && labels.contains("ideal"),
        "{labels}"
    );
}

#[test]
fn the_temporary_directory_is_gone_afterwards() {
    let (dir, tmp) = (tempdir(), tempdir());
    run(bench(dir.path(), tmp.path()).args([
        "--files",
        "6",
        "--latency",
        "1ms",
        "--size",
        "1KiB",
        "--threads",
        "3",
        "--rounds",
        "2",
        "-q",
    ]));
    assert_eq!(listing(tmp.path()), Vec::<String>::new());
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn keep_holds_the_files_of_the_last_run() {
    let (dir, tmp) = (tempdir(), tempdir());
    run(bench(dir.path(), tmp.path()).args([
        "--files",
        "5",
        "--latency",
        "1ms",
        "--size",
        "3000",
        "--threads",
        "2",
        "--rounds",
        "2",
        "--keep",
        "kept",
        "-q",
    ]));
    let kept = dir.path().join("kept");
    let expected: Vec<String> = (0..5).map(|i| format!("file-{i:04}.bin")).collect();
    assert_eq!(listing(&kept), expected, "no scratch directory left");
    for name in &expected {
        assert_served(&kept.join(name), &format!("/bench/{name}"), 3000);
    }
    assert_eq!(listing(tmp.path()), Vec::<String>::new());
}

#[test]
fn user_urls_are_benchmarked_without_an_ideal_and_failures_count() {
    let server = Server::start().unwrap();
    let (dir, tmp) = (tempdir(), tempdir());
    let list = format!(
        "{}\n{}\n{}\n",
        server.url("/u/a.bin?size=100&latency=5"),
        server.url("/u/b.bin?size=200&latency=5"),
        server.url("/u/gone.bin?status=404"),
    );
    fs::write(dir.path().join("urls.txt"), list).unwrap();
    let output = bench(dir.path(), tmp.path())
        .args([
            "-i",
            "urls.txt",
            "--threads",
            "2",
            "--rounds",
            "2",
            "--json",
        ])
        .output();
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed job fails the bench"
    );
    let doc = json(&output);
    assert_eq!(doc["config"]["batch"]["kind"], "urls");
    assert_eq!(doc["config"]["batch"]["jobs"], 3);
    let rows = &doc["rows"];
    assert_eq!(column(rows, "threads"), [1, 2]);
    assert_eq!(column(rows, "failures"), [2, 2]);
    assert!(rows[0]["ideal_s"].is_null());
    assert_eq!(server.hits("/u/a.bin"), 4, "2 thread counts x 2 rounds");
    let text = stderr(&output);
    assert_eq!(
        text.matches("gone.bin").count(),
        1,
        "one error line: {text}"
    );
    assert!(text.contains("HTTP 404"), "{text}");
}

#[test]
fn an_export_into_a_missing_directory_is_refused_before_measuring() {
    let (dir, tmp) = (tempdir(), tempdir());
    let output = bench(dir.path(), tmp.path())
        .args(["--files", "2", "--latency", "1ms", "--size", "10"])
        .args([
            "--threads",
            "2",
            "--rounds",
            "1",
            "--csv",
            "missing/out.csv",
        ])
        .output();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--csv missing/out.csv: missing is not a directory"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty(), "nothing was measured");
}

#[test]
fn an_unwritable_export_is_an_error_naming_the_path_after_the_table() {
    let (dir, tmp) = (tempdir(), tempdir());
    // The directory is there, but the name is a directory: only writing finds out.
    fs::create_dir(dir.path().join("taken.csv")).unwrap();
    let output = bench(dir.path(), tmp.path())
        .args(["--files", "2", "--latency", "1ms", "--size", "10"])
        .args(["--threads", "2", "--rounds", "1", "--csv", "taken.csv"])
        .output();
    // Not a usage error: the run was fine, the export could not be written.
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("taken.csv"), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("speedup"));
}

#[test]
fn an_empty_list_is_a_usage_error() {
    let (dir, tmp) = (tempdir(), tempdir());
    fs::write(dir.path().join("empty.txt"), "# nothing\n").unwrap();
    let output = bench(dir.path(), tmp.path())
        .args(["-i", "empty.txt"])
        .output();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nothing to benchmark"));
}
