//! The summary at the end of a download run, as words: a headline that fits
//! 80 columns, what needs a word of its own (resumed files, shared files),
//! the workers' own statistics, and where their busy time went.
//!
//! Every number is one the run measured: bytes are those received now (a
//! resumed file's earlier bytes are counted apart, and not in the rate), an
//! interrupted run counts what its workers received, and a speedup is given
//! only where it means something.

use std::time::Duration;

use crate::engine::job::Totals;
use crate::engine::pool::WorkerStats;
use crate::timing::{self, Row, Split};
use crate::ui::layout::shorten;
use crate::units::{bytes, count, rate, seconds};

/// The widest line the summary writes, so it never wraps in a common
/// terminal; a narrower terminal gets narrower lines.
pub const WIDTH: usize = 80;
/// Up to this many workers, every one gets a row; above, the compact form.
pub const FULL_TABLE: usize = 8;

/// Files a run saved whose bytes were not all fetched by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resumed {
    pub files: u64,
    /// Bytes that were already on disk in their parts.
    pub present: u64,
}

/// Files whose bytes several workers moved, by range requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    pub files: u64,
    /// The first one, to name it.
    pub first: Option<(String, usize)>,
    pub most_workers: usize,
}

impl Shared {
    pub fn add(&mut self, name: &str, workers: usize) {
        self.files += 1;
        self.most_workers = self.most_workers.max(workers);
        self.first
            .get_or_insert_with(|| (name.to_string(), workers));
    }
}

/// Everything the summary says, gathered by the reporter.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub totals: Totals,
    pub workers: &'a [WorkerStats],
    pub wall: Duration,
    pub resumed: Resumed,
    pub shared: Shared,
    pub interrupted: bool,
    /// Why the batch stopped starting jobs early (a full disk), if it did.
    pub halted: Option<&'a str>,
    /// `--limit-rate` was set.
    pub rate_limited: bool,
    /// Measured with `--compare`: rows for 1 thread and for the run's threads.
    pub comparison: Option<&'a [Row]>,
    /// `--workers`: a row for every worker, however many.
    pub all_workers: bool,
    pub cores: usize,
    /// Columns to fit: [`WIDTH`], or the terminal's if narrower.
    pub width: usize,
}

impl Facts<'_> {
    /// Body bytes the workers received in this run, finished files or not.
    fn received(&self) -> u64 {
        self.workers.iter().map(|w| w.bytes).sum()
    }
}

/// The whole summary, each line at most `facts.width` columns: text is
/// wrapped at words, tables lose their last columns.
pub fn text(facts: &Facts) -> String {
    let totals = &facts.totals;
    let width = facts.width;
    let halted = facts.halted.map(|reason| {
        let reason = crate::naming::escape_for_terminal(reason);
        wrap(&format!("tget: stopped starting jobs: {reason}"), width)
    });
    if totals.ok == 0 && !facts.interrupted {
        return halted.unwrap_or_default() + &wrap(&nothing_downloaded(totals), width);
    }
    let mut text = String::from("\n");
    text.push_str(&halted.unwrap_or_default());
    text.push_str(&wrap(&headline(facts), width));
    for line in resumed_line(facts)
        .into_iter()
        .chain(shared_line(&facts.shared))
    {
        text.push_str(&wrap(&line, width));
    }
    if facts.received() > 0 || totals.ok > 0 {
        text.push_str(&worker_table(facts.workers, facts.all_workers, width));
        text.extend(busy_line(facts).map(|line| wrap(&line, width)));
    }
    match facts.comparison {
        Some(rows) if !facts.interrupted => {
            text.push_str(&wrap(
                "Measured against a sequential run of the same batch:",
                width,
            ));
            text.push_str(&timing::table(rows));
        }
        _ => text.extend(estimate_line(facts).map(|line| wrap(&line, width))),
    }
    text
}

/// `text` broken at spaces into lines of at most `width` columns (a word
/// longer than that keeps a line of its own), each ended by a newline.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// One line for a run that saved nothing and was not interrupted.
fn nothing_downloaded(totals: &Totals) -> String {
    let Totals {
        skipped, failed, ..
    } = *totals;
    let see = |n: u64| format!("see the error{} above", if n == 1 { "" } else { "s" });
    match (skipped, failed) {
        (0, 0) => "Nothing to download: the input held no URLs.".into(),
        (1, 0) => {
            "Nothing downloaded: the file is already present (--overwrite replaces it).".into()
        }
        (n, 0) => {
            format!("Nothing downloaded: {n} files already present (--overwrite replaces them).")
        }
        (0, n) => format!("Nothing downloaded: {} ({}).", failed_count(n), see(n)),
        (s, n) => format!(
            "Nothing downloaded: {s} already present, {} ({}).",
            failed_count(n),
            see(n)
        ),
    }
}

fn failed_count(n: u64) -> String {
    if n == 1 {
        "1 failed".into()
    } else {
        format!("all {n} failed")
    }
}

/// `24 files, 13.7 MiB in 5.89 s (2.33 MiB/s) with 4 threads, 3.98x the
/// sequential estimate`, shortened until it fits.
fn headline(facts: &Facts) -> String {
    let totals = &facts.totals;
    let started = facts.workers.len().max(1) as u64;
    let received = facts.received();
    let counts = counts(totals);
    let moved = format!(
        "{} in {} ({})",
        bytes(received),
        seconds(facts.wall),
        rate(received as f64 / facts.wall.as_secs_f64().max(1e-9))
    );
    let threads = count(started, "thread");
    if facts.interrupted {
        let after = format!("Interrupted after {}", seconds(facts.wall));
        let rate = rate(received as f64 / facts.wall.as_secs_f64().max(1e-9));
        let received = format!("{} received ({rate})", bytes(received));
        return fit(
            WIDTH,
            [
                format!("{after}: {counts}; {received} on {threads}"),
                format!("{after}: {counts}; {received}"),
                format!("Interrupted: {counts}; {received}"),
            ],
        );
    }
    let Some((speedup, against)) = speedup(facts) else {
        return fit(
            WIDTH,
            [
                format!("{counts}: {moved} on {threads}"),
                format!("{counts}: {moved}"),
            ],
        );
    };
    let speedup = format!("{speedup:.2}x sequential ({against})");
    fit(
        WIDTH,
        [
            format!("{counts}: {moved} on {threads}, {speedup}"),
            format!("{counts}: {moved}, {speedup}"),
            format!("{counts}: {moved}"),
        ],
    )
}

/// The first of `lines` that fits `width`, else the last one.
fn fit<const N: usize>(width: usize, lines: [String; N]) -> String {
    let last = lines[N - 1].clone();
    lines
        .into_iter()
        .find(|line| line.chars().count() <= width)
        .unwrap_or(last)
}

/// `24 files`, or `22 saved, 1 skipped, 1 failed` when not all were saved.
fn counts(totals: &Totals) -> String {
    if totals.skipped == 0 && totals.failed == 0 {
        return count(totals.ok, "file");
    }
    let mut parts = vec![format!("{} saved", totals.ok)];
    if totals.skipped > 0 {
        parts.push(format!("{} skipped", totals.skipped));
    }
    if totals.failed > 0 {
        parts.push(format!("{} failed", totals.failed));
    }
    parts.join(", ")
}

/// The measured speedup with `--compare`, else the estimate from per-file
/// times; none for a shared file, whose time is several workers' at once.
fn speedup(facts: &Facts) -> Option<(f64, &'static str)> {
    if let Some(rows) = facts.comparison {
        let speedup = rows.iter().find(|r| r.threads > 1).map(|r| r.speedup)?;
        return speedup
            .is_finite()
            .then_some((speedup, "measured sequential run"));
    }
    if facts.shared.files > 0 || facts.totals.job_time.is_zero() {
        return None;
    }
    let estimate = facts.totals.job_time.as_secs_f64() / facts.wall.as_secs_f64().max(1e-9);
    Some((estimate, "est."))
}

fn estimate_line(facts: &Facts) -> Option<String> {
    if facts.interrupted || facts.shared.files > 0 || facts.totals.job_time.is_zero() {
        return None;
    }
    Some(format!(
        "Sequential estimate: {}, the sum of per-file times; --compare measures it.",
        seconds(facts.totals.job_time)
    ))
}

fn resumed_line(facts: &Facts) -> Option<String> {
    let Resumed { files, present } = facts.resumed;
    (files > 0).then(|| {
        format!(
            "{} resumed: {} were already on disk, not counted above.",
            count(files, "file"),
            bytes(present)
        )
    })
}

fn shared_line(shared: &Shared) -> Option<String> {
    let (name, workers) = shared.first.as_ref()?;
    let name = shorten(name, 40);
    Some(if shared.files == 1 {
        format!("{name} was shared by {workers} workers (range requests).")
    } else {
        format!(
            "{} files were shared by up to {} workers (range requests), {name} first.",
            shared.files, shared.most_workers
        )
    })
}

/// Where the workers' busy time went, and what follows for more threads.
/// Waiting that more threads cannot overlap is said as such: a rate limit,
/// or a measured speedup that stayed small (the server or the link).
fn busy_line(facts: &Facts) -> Option<String> {
    let (busy, cpu) = timing::busy_and_cpu(facts.workers);
    let split = Split::of(busy, cpu, facts.wall, facts.cores)?;
    if split.cpu_bound() {
        return Some(split.verdict());
    }
    let blocked = 100.0 * (1.0 - split.cpu_share);
    if facts.rate_limited {
        return Some(format!(
            "Blocked {blocked:.0}% of the busy time, held back by --limit-rate: \
             the limit sets the pace, not the threads."
        ));
    }
    let measured = facts.comparison.and_then(|rows| rows.last());
    if let Some(row) =
        measured.filter(|row| row.threads > 1 && row.speedup < small_gain(row.threads))
    {
        return Some(format!(
            "Blocked {blocked:.0}% of the busy time, yet {} gained only {:.2}x: \
             the server or the link is the limit, not the threads.",
            crate::units::count(row.threads as u64, "thread"),
            row.speedup
        ));
    }
    Some(split.verdict())
}

/// A measured speedup under this says more threads did not help: a quarter
/// of each added thread's share, and at most 1.5x.
fn small_gain(threads: usize) -> f64 {
    (1.0 + 0.25 * (threads as f64 - 1.0)).min(1.5)
}

/// A row per worker up to [`FULL_TABLE`] (or with `--workers`), else the
/// fewest, median and most of each column, naming the workers.
fn worker_table(workers: &[WorkerStats], all: bool, width: usize) -> String {
    if workers.is_empty() {
        return String::new();
    }
    if all || workers.len() <= FULL_TABLE {
        return table(&full_columns(workers), width);
    }
    let caption = format!(
        "{} (fewest, median, most of each; every row with --workers):",
        count(workers.len() as u64, "worker")
    );
    wrap(&caption, width) + &table(&compact_columns(workers), width)
}

/// Columns in the order they are given up when the width is short: the
/// last first, the first (the row names) never.
fn full_columns(workers: &[WorkerStats]) -> Vec<Vec<String>> {
    let column = |header: &str, cell: &dyn Fn(&WorkerStats) -> String| {
        let mut cells = vec![header.to_string()];
        cells.extend(workers.iter().map(cell));
        cells
    };
    vec![
        column("worker", &|w| shorten(&w.name, 9)),
        column("files", &|w| w.files.to_string()),
        column("bytes", &|w| bytes(w.bytes)),
        column("busy", &|w| seconds(w.busy)),
        column("on CPU", &|w| seconds(w.cpu)),
        column("waiting", &|w| seconds(w.waiting)),
        column("idle", &|w| seconds(w.idle)),
        column("failed", &|w| w.failed.to_string()),
    ]
}

fn compact_columns(workers: &[WorkerStats]) -> Vec<Vec<String>> {
    let values: [(&str, Column); 4] = [
        ("files", Box::new(|w| (w.files as f64, w.files.to_string()))),
        ("bytes", Box::new(|w| (w.bytes as f64, bytes(w.bytes)))),
        (
            "busy",
            Box::new(|w| (w.busy.as_secs_f64(), seconds(w.busy))),
        ),
        (
            "on CPU",
            Box::new(|w| (w.cpu.as_secs_f64(), seconds(w.cpu))),
        ),
    ];
    let mut columns = vec![vec![
        String::new(),
        "fewest".into(),
        "median".into(),
        "most".into(),
    ]];
    for (header, value) in &values {
        let mut cells = vec![header.to_string()];
        cells.extend(fewest_median_most(workers, value));
        columns.push(cells);
    }
    columns
}

/// The columns as lines: the first left-aligned, the others right-aligned,
/// as many as fit in `width`.
fn table(columns: &[Vec<String>], width: usize) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .map(|cells| cells.iter().map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut shown = columns.len();
    while shown > 1 && widths[..shown].iter().sum::<usize>() + shown - 1 > width {
        shown -= 1;
    }
    let rows = columns.first().map_or(0, Vec::len);
    let mut text = String::new();
    for row in 0..rows {
        let mut line = format!("{:<w$}", columns[0][row], w = widths[0]);
        for (cells, w) in columns[1..shown].iter().zip(&widths[1..shown]) {
            line.push_str(&format!(" {:>w$}", cells[row]));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

type Column = Box<dyn Fn(&WorkerStats) -> (f64, String)>;

/// The worker with the least, the median and the most of one column, as
/// `512 KiB (w07)`.
fn fewest_median_most(workers: &[WorkerStats], value: &Column) -> [String; 3] {
    let mut sorted: Vec<(f64, String, &str)> = workers
        .iter()
        .map(|w| {
            let (key, shown) = value(w);
            (key, shown, short_name(&w.name))
        })
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pick = |index: usize| {
        let (_, shown, name) = &sorted[index];
        format!("{shown} ({name})")
    };
    [
        pick(0),
        pick((sorted.len() - 1) / 2),
        pick(sorted.len() - 1),
    ]
}

/// `tget-w07` is `w07` where space is short.
fn short_name(name: &str) -> &str {
    name.strip_prefix("tget-").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(index: usize, files: u64, bytes: u64, busy_ms: u64, cpu_ms: u64) -> WorkerStats {
        WorkerStats {
            name: format!("tget-w{index:02}"),
            files,
            failed: 0,
            bytes,
            busy: Duration::from_millis(busy_ms),
            waiting: Duration::from_millis(busy_ms / 2),
            cpu: Duration::from_millis(cpu_ms),
            idle: Duration::from_millis(5),
        }
    }

    fn facts(totals: Totals, workers: &[WorkerStats]) -> Facts<'_> {
        Facts {
            totals,
            workers,
            wall: Duration::from_millis(1000),
            resumed: Resumed::default(),
            shared: Shared::default(),
            interrupted: false,
            halted: None,
            rate_limited: false,
            comparison: None,
            all_workers: false,
            cores: 2,
            width: WIDTH,
        }
    }

    fn totals(ok: u64, skipped: u64, failed: u64) -> Totals {
        Totals {
            ok,
            skipped,
            failed,
            bytes: ok * 1000,
            job_time: Duration::from_millis(400 * ok + 10 * failed),
            ..Totals::default()
        }
    }

    fn assert_fits(text: &str) {
        for line in text.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} wide: {line}",
                line.chars().count()
            );
        }
    }

    #[test]
    fn a_halted_batch_says_why_first() {
        let workers = [worker(0, 0, 1000, 10, 1)];
        let mut facts = facts(totals(0, 0, 1), &workers);
        facts.halted = Some("cannot write a.part: No space left on device");
        assert_eq!(
            text(&facts),
            "tget: stopped starting jobs: cannot write a.part: No space left on device\n\
             Nothing downloaded: 1 failed (see the error above).\n"
        );
    }

    #[test]
    fn nothing_to_download_is_one_line() {
        let text = text(&facts(totals(0, 0, 0), &[]));
        assert_eq!(text, "Nothing to download: the input held no URLs.\n");
    }

    #[test]
    fn all_skipped_is_one_line_without_a_speedup() {
        let text = text(&facts(totals(0, 24, 0), &[]));
        assert_eq!(
            text,
            "Nothing downloaded: 24 files already present (--overwrite replaces them).\n"
        );
        assert_fits(&text);
    }

    #[test]
    fn one_failure_is_one_line() {
        let workers = [worker(0, 0, 0, 10, 1)];
        let text = text(&facts(totals(0, 0, 1), &workers));
        assert_eq!(
            text,
            "Nothing downloaded: 1 failed (see the error above).\n"
        );
        assert!(!text.contains("speedup") && !text.contains("threads"));
    }

    #[test]
    fn a_plain_run_has_a_headline_a_table_and_the_busy_split() {
        let workers: Vec<WorkerStats> = (0..4).map(|i| worker(i, 6, 600_000, 950, 20)).collect();
        let text = text(&facts(totals(24, 0, 0), &workers));
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines[0],
            "24 files: 2.29 MiB in 1.00 s (2.29 MiB/s) on 4 threads, 9.60x sequential (est.)",
            "{text}"
        );
        assert!(
            lines[1].starts_with("worker") && lines[5].starts_with("tget-w03"),
            "{text}"
        );
        assert_eq!(
            lines[6],
            "Blocked (network, disk) 98% of the busy time: IO-bound, more threads help."
        );
        assert!(
            lines[7].starts_with("Sequential estimate: 9.60 s"),
            "{text}"
        );
        assert_fits(&text);
    }

    #[test]
    fn waiting_more_threads_cannot_overlap_is_said_as_such() {
        let workers: Vec<WorkerStats> = (0..4).map(|i| worker(i, 6, 600_000, 950, 20)).collect();
        let mut limited = facts(totals(24, 0, 0), &workers);
        limited.rate_limited = true;
        let said = text(&limited);
        assert!(said.contains("held back by --limit-rate"), "{said}");
        assert!(!said.contains("more threads help"), "{said}");

        let run = |threads: usize, ms: u64| timing::Series {
            threads,
            runs: vec![timing::Run {
                wall: Duration::from_millis(ms),
                ok: 24,
                failed: 0,
                bytes: 1000,
                busy: Duration::from_millis(ms * threads as u64),
                cpu: Duration::from_millis(10),
            }],
        };
        let small = timing::rows(&[run(1, 1070), run(8, 1000)], |_| None);
        let mut compared = facts(totals(24, 0, 0), &workers);
        compared.comparison = Some(&small);
        let said = text(&compared);
        assert!(said.contains("8 threads gained only 1.07x"), "{said}");
        assert_fits(&said);
        // Two threads are held to less: 1.3x of a possible 2x is a gain.
        let two = timing::rows(&[run(1, 1300), run(2, 1000)], |_| None);
        compared.comparison = Some(&two);
        assert!(!text(&compared).contains("gained only"));
        let large = timing::rows(&[run(1, 4000), run(8, 1000)], |_| None);
        compared.comparison = Some(&large);
        assert!(text(&compared).contains("IO-bound, more threads help"));
    }

    #[test]
    fn one_thread_is_singular() {
        let workers = [worker(0, 1, 1000, 400, 1)];
        let text = text(&facts(totals(1, 0, 0), &workers));
        assert!(
            text.contains("on 1 thread,") && !text.contains("1 threads"),
            "{text}"
        );
        assert!(text.contains("1 file:"), "{text}");
    }

    #[test]
    fn an_interrupted_run_counts_what_its_workers_received() {
        let workers = [
            worker(0, 0, 3_500_000, 900, 10),
            worker(1, 1, 100_000, 900, 10),
        ];
        let mut facts = facts(totals(1, 0, 1), &workers);
        facts.interrupted = true;
        let text = text(&facts);
        let headline = text.lines().nth(1).unwrap();
        assert_eq!(
            headline,
            "Interrupted after 1.00 s: 1 saved, 1 failed; 3.43 MiB received (3.43 MiB/s)"
        );
        assert!(!text.contains("estimate"), "{text}");
        assert_fits(&text);
    }

    #[test]
    fn resumed_bytes_are_told_apart_from_fetched_ones() {
        let workers = [worker(0, 1, 1_000_000, 900, 10)];
        let mut facts = facts(totals(1, 0, 0), &workers);
        facts.resumed = Resumed {
            files: 1,
            present: 3_000_000,
        };
        let text = text(&facts);
        // The rate counts what was fetched now: 1 MB in 1 s.
        assert!(text.contains("977 KiB in 1.00 s (977 KiB/s)"), "{text}");
        assert!(
            text.contains("1 file resumed: 2.86 MiB were already on disk, not counted above."),
            "{text}"
        );
    }

    #[test]
    fn a_shared_file_is_named_and_gets_no_estimate() {
        let workers: Vec<WorkerStats> = (0..4)
            .map(|i| worker(i, (i == 0) as u64, 16 << 20, 990, 30))
            .collect();
        let mut facts = facts(totals(1, 0, 0), &workers);
        facts.shared.add("big.iso", 4);
        let text = text(&facts);
        assert!(
            text.contains("big.iso was shared by 4 workers (range requests)."),
            "{text}"
        );
        assert!(
            !text.contains("estimate") && !text.contains("1.00x"),
            "{text}"
        );
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("1 file: 64.0 MiB in 1.00 s"),
            "{text}"
        );
    }

    #[test]
    fn sixty_four_workers_fit_in_a_few_lines() {
        let workers: Vec<WorkerStats> = (0..64)
            .map(|i| {
                worker(
                    i,
                    1 + (i as u64 % 3),
                    1000 * i as u64,
                    900 + i as u64,
                    10 + i as u64,
                )
            })
            .collect();
        let text = text(&facts(totals(128, 0, 0), &workers));
        assert_fits(&text);
        assert!(text.lines().count() <= 10, "{text}");
        assert!(text.contains("64 workers (fewest, median, most"), "{text}");
        let fewest = text.lines().find(|l| l.starts_with("fewest")).unwrap();
        assert!(
            fewest.contains("0 B (w00)") && fewest.contains("0.900 s (w00)"),
            "{fewest}"
        );
        let most = text.lines().find(|l| l.starts_with("most")).unwrap();
        assert!(most.contains("(w63)"), "{most}");

        let mut all = facts(totals(128, 0, 0), &workers);
        all.all_workers = true;
        assert_eq!(
            super::text(&all)
                .lines()
                .filter(|l| l.starts_with("tget-w"))
                .count(),
            64
        );
    }

    #[test]
    fn a_narrow_terminal_gets_narrow_lines() {
        let workers: Vec<WorkerStats> = (0..4).map(|i| worker(i, 6, 600_000, 950, 20)).collect();
        let mut facts = facts(totals(24, 0, 0), &workers);
        facts.width = 60;
        let text = text(&facts);
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        assert!(text.contains("worker   files   bytes"), "{text}");
        assert!(
            !text.contains("failed"),
            "the last columns go first: {text}"
        );
        assert!(
            text.contains("9.60x"),
            "a headline wraps rather than lose words: {text}"
        );
    }

    #[test]
    fn a_headline_sheds_words_before_it_wraps() {
        let workers: Vec<WorkerStats> = (0..1000)
            .map(|i| worker(i, 1000, u64::MAX / 2000, 1, 0))
            .collect();
        let mut facts = facts(totals(999_999, 999_999, 999_999), &workers);
        facts.wall = Duration::from_secs(99_999);
        assert!(
            headline(&facts).chars().count() <= WIDTH,
            "{}",
            headline(&facts)
        );
    }
}
