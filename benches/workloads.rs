//! The peer benchmark's workloads, plus two it lacks, run against the
//! built-in loopback server with the release binary. `cargo bench --bench workloads`
//! (set `WORKLOADS="w1 mix"` to pick, `RUNS=5` for more runs).
//!
//! Prints one Markdown row per workload: median wall-clock, the ideal where it
//! is known, the ratio to it, and the peak RSS of the tget process (via GNU
//! time when it is installed).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testserver::Server;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

struct Workload {
    name: &'static str,
    what: &'static str,
    threads: usize,
    /// (path, query) per file.
    files: Vec<String>,
    ideal: Option<Duration>,
}

fn workloads() -> Vec<Workload> {
    let many = |prefix: &str, count: usize, query: &str| -> Vec<String> {
        (0..count)
            .map(|i| format!("/{prefix}/f{i:05}.bin?{query}"))
            .collect()
    };
    let mut mix = many("mix", 200, &format!("size={}&latency=20", 64 * KIB));
    mix.insert(
        0,
        format!("/mix/huge-a.bin?size={}&rate={}", 64 * MIB, 16 * MIB),
    );
    mix.insert(
        100,
        format!("/mix/huge-b.bin?size={}&rate={}", 64 * MIB, 16 * MIB),
    );
    vec![
        Workload {
            name: "w1",
            what: "200 x 64 KiB, 50 ms latency",
            threads: 16,
            files: many("w1", 200, &format!("size={}&latency=50", 64 * KIB)),
            ideal: Some(Duration::from_millis(13 * 50)),
        },
        Workload {
            name: "w2",
            what: "2000 x 4 KiB, no latency",
            threads: 16,
            files: many("w2", 2000, &format!("size={}", 4 * KIB)),
            ideal: None,
        },
        Workload {
            name: "w3",
            what: "8 x 128 MiB",
            threads: 8,
            files: many("w3", 8, &format!("size={}", 128 * MIB)),
            ideal: None,
        },
        Workload {
            name: "w4s",
            what: "one 64 MiB file paced at 4 MiB/s per connection",
            threads: 16,
            files: vec![format!("/w4s/big.bin?size={}&rate={}", 64 * MIB, 4 * MIB)],
            ideal: Some(Duration::from_secs(1)),
        },
        Workload {
            name: "mix",
            what: "200 x 64 KiB (20 ms) + 2 x 64 MiB paced at 16 MiB/s",
            threads: 16,
            files: mix,
            // Worker time to spend: 128 MiB at 16 MiB/s per connection (8 s) plus
            // 200 x 20 ms (4 s), shared by 16 workers: 0.75 s at best.
            ideal: Some(Duration::from_millis(750)),
        },
        Workload {
            name: "w64",
            what: "w1 on 64 workers",
            threads: 64,
            files: many("w64", 200, &format!("size={}&latency=50", 64 * KIB)),
            ideal: Some(Duration::from_millis(4 * 50)),
        },
    ]
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("tget-bench-{}", std::process::id()))
}

fn run_once(list: &Path, out: &Path, threads: usize) -> (Duration, Option<u64>) {
    let _ = fs::remove_dir_all(out);
    let tget = env!("CARGO_BIN_EXE_tget");
    let args = [
        "-q",
        "-t",
        &threads.to_string(),
        "-i",
        list.to_str().unwrap(),
        "-d",
        out.to_str().unwrap(),
    ];
    let gnu_time = Path::new("/usr/bin/time");
    let started = Instant::now();
    let output = if gnu_time.exists() {
        Command::new(gnu_time)
            .args(["-f", "%M"])
            .arg(tget)
            .args(args)
            .output()
    } else {
        Command::new(tget).args(args).output()
    }
    .expect("tget runs");
    let wall = started.elapsed();
    assert!(
        output.status.success(),
        "tget failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rss = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok());
    (wall, rss)
}

fn main() {
    let wanted: Option<Vec<String>> = std::env::var("WORKLOADS")
        .ok()
        .map(|w| w.split_whitespace().map(str::to_string).collect());
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let server = Server::start().expect("loopback server");
    let root = scratch_root();
    fs::create_dir_all(&root).unwrap();
    println!("| workload | what | threads | median | ideal | ratio | peak RSS |");
    println!("|---|---|--:|--:|--:|--:|--:|");
    for workload in workloads() {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|n| n == workload.name))
        {
            continue;
        }
        let list = root.join(format!("{}.txt", workload.name));
        let urls: String = workload
            .files
            .iter()
            .map(|f| server.url(f) + "\n")
            .collect();
        fs::write(&list, urls).unwrap();
        let out = root.join(workload.name);
        let mut walls = Vec::new();
        let mut peak = None;
        for _ in 0..runs {
            let (wall, rss) = run_once(&list, &out, workload.threads);
            walls.push(wall);
            peak = peak.max(rss);
        }
        walls.sort();
        let median = walls[walls.len() / 2];
        let ideal = workload
            .ideal
            .map_or("-".into(), |i| format!("{:.3} s", i.as_secs_f64()));
        let ratio = workload.ideal.map_or("-".into(), |i| {
            format!("{:.2}", median.as_secs_f64() / i.as_secs_f64())
        });
        let rss = peak.map_or("-".into(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0));
        println!(
            "| {} | {} | {} | {:.3} s | {ideal} | {ratio} | {rss} |",
            workload.name,
            workload.what,
            workload.threads,
            median.as_secs_f64()
        );
        let _ = fs::remove_dir_all(&out);
    }
    let _ = fs::remove_dir_all(&root);
}
