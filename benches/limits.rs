//! `cargo bench --bench limits`: what `--max-per-host` and `--limit-rate`
//! cost and how exactly they hold, on the built-in loopback server, with the
//! release binary. Compared runs are interleaved, so drift lands on both.
//!
//! 1. One host, 2,000 files of 4 KiB: `-t 8 --max-per-host 4` against `-t 4`
//!    (the same four connections; the limit's bookkeeping should cost nothing).
//! 2. Two hosts, 1,000 files each: `-t 8 --max-per-host 4` against `-t 8`
//!    (four connections each way either way).
//! 3. `--limit-rate 4M` on one 64 MiB file: the rate the server measured, and
//!    its worst 2-second window, over the whole transfer and after its first
//!    second (before that, the kernel's socket buffers fill at once).
//!
//! `RUNS=N` for more runs of 1 and 2 (default 7).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use testserver::Server;

const MIB: u64 = 1 << 20;

fn scratch() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let root = base.join(format!("tget-limits-{}", std::process::id()));
    fs::create_dir_all(&root).unwrap();
    root
}

/// One run of tget over `list` with `args`, into a fresh `out`.
fn run(list: &Path, out: &Path, args: &[&str]) -> Duration {
    let _ = fs::remove_dir_all(out);
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_tget"))
        .args([
            "-q",
            "-i",
            list.to_str().unwrap(),
            "-d",
            out.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .expect("tget runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

fn median(mut walls: Vec<Duration>) -> (f64, f64, f64) {
    walls.sort();
    let s = |d: Duration| d.as_secs_f64();
    (
        s(walls[walls.len() / 2]),
        s(walls[0]),
        s(walls[walls.len() - 1]),
    )
}

/// Runs the `a` and `b` arguments in turn, `runs` times each, and prints both.
fn compare(name: &str, list: &Path, out: &Path, a: &[&str], b: &[&str], runs: usize) {
    let (mut walls_a, mut walls_b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        walls_a.push(run(list, out, a));
        walls_b.push(run(list, out, b));
    }
    for (args, walls) in [(a, walls_a), (b, walls_b)] {
        let (median, min, max) = median(walls);
        println!(
            "| {name} | `{}` | {median:.3} s | {min:.3}-{max:.3} s |",
            args.join(" ")
        );
    }
}

fn list_of(path: &Path, urls: impl Iterator<Item = String>) {
    let text: String = urls.map(|u| u + "\n").collect();
    fs::write(path, text).unwrap();
}

fn per_host(root: &Path, runs: usize) {
    let (a, b) = (Server::start().unwrap(), Server::start().unwrap());
    let one = root.join("one.txt");
    list_of(
        &one,
        (0..2000).map(|i| a.url(&format!("/one/{i:04}.bin?size=4096"))),
    );
    let two = root.join("two.txt");
    list_of(
        &two,
        (0..1000).flat_map(|i| {
            [
                a.url(&format!("/two/a{i:04}.bin?size=4096")),
                b.url(&format!("/two/b{i:04}.bin?size=4096")),
            ]
        }),
    );
    let out = root.join("out");
    println!("| batch | flags | median | min-max |");
    println!("|---|---|--:|--:|");
    compare(
        "one host, 2000 x 4 KiB",
        &one,
        &out,
        &["-t", "8", "--max-per-host", "4"],
        &["-t", "4"],
        runs,
    );
    compare(
        "two hosts, 2 x 1000 x 4 KiB",
        &two,
        &out,
        &["-t", "8", "--max-per-host", "4"],
        &["-t", "8"],
        runs,
    );
    let _ = fs::remove_dir_all(&out);
}

/// The most bytes the server sent in any `window` that starts `after` the
/// first sample.
fn worst(samples: &[(Instant, u64)], window: Duration, after: Duration) -> u64 {
    let first = samples[0].0;
    samples
        .iter()
        .filter(|(at, _)| at.duration_since(first) >= after)
        .map(|&(start, sent)| {
            let end = samples
                .iter()
                .take_while(|(at, _)| at.duration_since(start) <= window)
                .last()
                .map_or(sent, |&(_, s)| s);
            end - sent
        })
        .max()
        .unwrap_or(0)
}

fn rate_limit(root: &Path) {
    let server = Arc::new(Server::start().unwrap());
    let size = 64 * MIB;
    let rate = 4 * MIB;
    let list = root.join("rate.txt");
    list_of(
        &list,
        std::iter::once(server.url(&format!("/rate/big.bin?size={size}&sndbuf=65536"))),
    );
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (server, running) = (server.clone(), running.clone());
        thread::spawn(move || {
            let mut samples = Vec::new();
            while running.load(Ordering::Relaxed) {
                samples.push((Instant::now(), server.body_bytes()));
                thread::sleep(Duration::from_millis(10));
            }
            samples
        })
    };
    let out = root.join("out");
    let wall = run(&list, &out, &["-t", "8", "--limit-rate", "4M"]);
    running.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let two = Duration::from_secs(2);
    let whole = worst(&samples, two, Duration::ZERO) as f64 / 2.0;
    let steady = worst(&samples, two, Duration::from_secs(1)) as f64 / 2.0;
    let mib = |bytes: f64| bytes / MIB as f64;
    println!();
    println!("| `--limit-rate 4M`, one 64 MiB file, -t 8 | value |");
    println!("|---|--:|");
    println!(
        "| wall | {:.2} s (ideal {:.2} s) |",
        wall.as_secs_f64(),
        (size / rate) as f64
    );
    println!(
        "| mean rate | {:.3} MiB/s |",
        mib(size as f64 / wall.as_secs_f64())
    );
    println!(
        "| worst 2 s window | {:.3} MiB/s ({:+.1}%) |",
        mib(whole),
        (whole / rate as f64 - 1.0) * 100.0
    );
    println!(
        "| worst 2 s window after the first second | {:.3} MiB/s ({:+.1}%) |",
        mib(steady),
        (steady / rate as f64 - 1.0) * 100.0
    );
    let _ = fs::remove_dir_all(&out);
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let root = scratch();
    per_host(&root, runs);
    rate_limit(&root);
    let _ = fs::remove_dir_all(&root);
}
