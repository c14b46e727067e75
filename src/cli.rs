//! The command line as clap sees it. Nothing here is used past `config`:
//! `Config::from_args` turns these raw values into checked, plain data.
//!
//! `-h` is the short help, one 80x24 screen: the main options and three
//! examples. `--help` has every option, under six headings (Input, Output,
//! Network, Retries and resume, Display, Bench). Hidden subcommands print
//! shell completions and the man page, both generated from this definition.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum, ValueHint};

const INPUT: &str = "Input";
const OUTPUT: &str = "Output";
const NETWORK: &str = "Network";
const RETRIES: &str = "Retries and resume";
const DISPLAY: &str = "Display";
const BENCH: &str = "Bench";

/// `-h`: one 80x24 screen with the main options and three examples.
/// `--help` is clap's, from the definitions below; a test keeps every flag
/// named here real.
pub const SHORT_HELP: &str = "\
tget: download batches of URLs on a fixed pool of OS threads

Usage: tget [OPTIONS] URL...     tget [OPTIONS] -i FILE     ... | tget [OPTIONS]
       tget bench [OPTIONS]      time 1 to 16 threads on a built-in server

  -i, --input-file FILE  read URLs from FILE, one per line (\"-\" for stdin)
  -d, --dir DIR          save into DIR, created if missing [default: .]
  -t, --threads N        worker threads [default: 8, or TGET_THREADS]
  -c, --continue         also continue short files another tool left
  -0, --print0           end each path on stdout with a NUL, for xargs -0
      --json             JSON Lines on stdout: an object per job, a summary
      --progress WHEN    auto, always, plain (lines, no escape codes), never
  -q, --quiet            nothing on stderr but errors
      --compare          also time the batch on 1 thread, and compare

Examples:
  tget -t 16 -i urls.txt -d downloads        16 workers, a list, into downloads/
  tget -i urls.txt                           again: finishes what Ctrl-C stopped
  tget -0 -i urls.txt | xargs -0 sha256sum   names with spaces, safely

'tget --help' shows every option and the exit codes (0 ok, 1 some failed,
2 usage or input, 3 cannot proceed; Ctrl-C ends by its signal).
";

#[derive(Debug, Parser)]
#[command(
    name = "tget",
    version,
    about = "Download batches of URLs on a fixed pool of OS threads",
    long_about = "Download batches of URLs on a fixed pool of named OS worker threads, \
                  with one progress bar per worker and a timing report that compares the \
                  threaded run against a sequential baseline.",
    after_long_help = crate::exit::HELP,
    max_term_width = 80,
    disable_help_flag = true,
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub download: DownloadArgs,

    /// Print the main options and examples on one screen
    #[arg(short = 'h', action = ArgAction::SetTrue, help_heading = DISPLAY)]
    pub short_help: bool,

    /// Print every option
    #[arg(long = "help", action = ArgAction::HelpLong, help_heading = DISPLAY)]
    help: Option<bool>,

    /// Print the version
    #[arg(short = 'V', long, action = ArgAction::Version, help_heading = DISPLAY,
          hide_short_help = true)]
    version: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Time the same batch at several thread counts (offline by default, on a built-in loopback server)
    Bench(Box<BenchArgs>),
    /// Print a shell completion script on stdout (see the README to install it)
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout
    #[command(hide = true)]
    Man,
}

/// Writes the completion script for `shell` to `out`. Built in memory
/// first: clap_complete panics on a failed write, and `| head` is no panic.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tget", &mut script);
    out.write_all(&script)
}

/// Writes the man page, in roff, to `out`.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Where URLs come from: arguments, list files, stdin.
#[derive(Debug, Args)]
#[command(next_help_heading = INPUT)]
pub struct InputArgs {
    /// URLs to download (http or https)
    #[arg(value_name = "URL", value_hint = ValueHint::Url)]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one per line ("-" for stdin); may be repeated.
    /// Lines: `URL [out=NAME] [sha256=HEX] [dir=SUBDIR]`; blank lines and `#` comments
    /// are ignored
    #[arg(short = 'i', long = "input-file", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub input_files: Vec<PathBuf>,

    /// Keep only the jobs whose URL hash falls in shard INDEX of COUNT (0-based), e.g. 0/4
    #[arg(long, value_name = "INDEX/COUNT", hide_short_help = true)]
    pub shard: Option<String>,
}

/// How each request is made; shared by downloads and benchmarks.
#[derive(Debug, Args)]
#[command(next_help_heading = NETWORK)]
pub struct NetArgs {
    /// Give up connecting after this long (e.g. 10s, 500ms)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration,
          hide_short_help = true)]
    pub connect_timeout: Duration,

    /// Fail a transfer when no bytes arrive for this long
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration,
          hide_short_help = true)]
    pub timeout: Duration,

    /// Extra request header, "Name: value"; may be repeated
    #[arg(
        short = 'H',
        long = "header",
        value_name = "HEADER",
        hide_short_help = true
    )]
    pub headers: Vec<String>,

    /// User-Agent header [default: tget/VERSION]
    #[arg(
        short = 'A',
        long = "user-agent",
        value_name = "UA",
        hide_short_help = true
    )]
    pub user_agent: Option<String>,

    /// Follow at most this many redirects
    #[arg(long, value_name = "N", default_value_t = 10, hide_short_help = true)]
    pub max_redirects: u32,

    /// Retry a failed transfer this many times (connect errors, timeouts, resets, cut bodies,
    /// HTTP 408/429/500/502/503/504); a retry resumes where the transfer stopped
    #[arg(long, value_name = "N", default_value_t = 3, help_heading = RETRIES,
          hide_short_help = true)]
    pub retries: u32,

    /// Wait before the first retry; doubles for each further one (with jitter, at most 10s)
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = parse_duration,
          help_heading = RETRIES, hide_short_help = true)]
    pub retry_delay: Duration,

    /// Receive at most RATE bytes per second in all, every worker together (e.g. 500K, 2M,
    /// 1.5MiB; K, M and G are 1024-based)
    #[arg(long, value_name = "RATE", value_parser = parse_rate, hide_short_help = true)]
    pub limit_rate: Option<u64>,

    /// Trust exactly the certificates in this PEM bundle for https (instead of the bundled
    /// Mozilla roots, or SSL_CERT_FILE / SSL_CERT_DIR when set)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Network")]
    pub cacert: Option<PathBuf>,

    /// Trust the operating system's certificate store for https
    #[arg(long, help_heading = "Network")]
    pub ca_native: bool,

    /// Do not verify https certificates at all (a warning says so)
    #[arg(short = 'k', long, help_heading = "Network")]
    pub insecure: bool,

    /// Send every URL through this proxy: http://, https://, socks5:// or socks5h://, with
    /// optional user:pass@ ("" for none); default: http_proxy, https_proxy, all_proxy as curl
    /// reads them
    #[arg(long, value_name = "URL", help_heading = "Network")]
    pub proxy: Option<String>,

    /// Hosts that never use a proxy: comma-separated names (and the names under them), IP
    /// addresses or CIDR ranges, or "*"; default: no_proxy / NO_PROXY
    #[arg(long, value_name = "LIST", help_heading = "Network")]
    pub noproxy: Option<String>,

    /// Basic credentials for every URL (kept on redirects within the same origin only)
    #[arg(short = 'u', long, value_name = "USER:PASS", help_heading = "Network")]
    pub user: Option<String>,

    /// Take credentials for a host from ~/.netrc
    #[arg(long, help_heading = "Network")]
    pub netrc: bool,

    /// Take credentials for a host from this netrc file
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = "Network")]
    pub netrc_file: Option<PathBuf>,
}

/// How one big file is shared among workers; shared by downloads and benchmarks.
#[derive(Debug, Args)]
#[command(next_help_heading = NETWORK)]
pub struct SplitArgs {
    /// Let at most N workers share one big file by range requests [default: --threads; 1 turns it off]
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024),
          hide_short_help = true)]
    pub split: Option<usize>,

    /// Never cut a shared file into pieces smaller than this (so files under twice it are never shared)
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_piece_size,
          hide_short_help = true)]
    pub split_min: u64,
}

/// How progress and the summary are shown; shared by downloads and benchmarks.
#[derive(Debug, Args)]
#[command(next_help_heading = DISPLAY)]
pub struct DisplayArgs {
    /// How to show progress on stderr: bars on a terminal that can draw them (auto), bars
    /// anywhere (always), lines without escape codes for logs and screen readers (plain), none
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// With plain progress, print a status line this often
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_interval,
          hide_short_help = true)]
    pub progress_interval: Duration,

    /// Print nothing on stderr but errors (stdout still lists the files)
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Expected SHA-256 of the file (only with a single URL)
    #[arg(long, value_name = "HEX", help_heading = INPUT, hide_short_help = true)]
    pub sha256: Option<String>,

    /// Output directory (created if missing)
    #[arg(short = 'd', long = "dir", value_name = "DIR", default_value = ".",
          value_hint = ValueHint::DirPath, help_heading = OUTPUT)]
    pub dir: PathBuf,

    /// Replace files that already exist (default: skip them)
    #[arg(long, help_heading = OUTPUT, hide_short_help = true)]
    pub overwrite: bool,

    /// Name files after the server's Content-Disposition (sanitised) instead of the URL
    #[arg(long, help_heading = OUTPUT, hide_short_help = true)]
    pub content_disposition: bool,

    /// Save under HOST[_PORT]/path/... inside the output directory, as the URL's directories
    #[arg(short = 'x', long, help_heading = OUTPUT, hide_short_help = true)]
    pub force_directories: bool,

    /// With -x, leave out the HOST[_PORT] directory
    #[arg(long, requires = "force_directories", help_heading = OUTPUT, hide_short_help = true)]
    pub no_host_directories: bool,

    /// With -x, leave out the first N directories of each URL's path
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "force_directories",
        allow_negative_numbers = true,
        help_heading = OUTPUT,
        hide_short_help = true
    )]
    pub cut_dirs: usize,

    /// For a file that exists, ask the server for it only if it is newer (If-Modified-Since);
    /// a newer one replaces it
    #[arg(short = 'N', long, help_heading = OUTPUT, hide_short_help = true)]
    pub timestamping: bool,

    /// Leave each file's time as it was saved instead of the server's Last-Modified
    #[arg(long, help_heading = OUTPUT, hide_short_help = true)]
    pub no_remote_time: bool,

    /// Print what would be fetched or skipped, and where, without a single request
    #[arg(long, help_heading = OUTPUT, hide_short_help = true)]
    pub dry_run: bool,

    /// Print JSON Lines on stdout: one object per job, then a summary object
    #[arg(long, help_heading = OUTPUT)]
    pub json: bool,

    /// End each path on stdout with a NUL instead of a newline, for `xargs -0`
    #[arg(short = '0', long, help_heading = OUTPUT, conflicts_with = "json")]
    pub print0: bool,

    /// Number of worker threads (never more than there is work for)
    #[arg(short, long, value_name = "N", default_value_t = 8, env = "TGET_THREADS",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024),
          help_heading = NETWORK)]
    pub threads: usize,

    /// At most N connections to one host (scheme, host and port) at once [default: --threads]
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024),
          help_heading = NETWORK, hide_short_help = true)]
    pub max_per_host: Option<usize>,

    #[command(flatten)]
    pub split: SplitArgs,

    #[command(flatten)]
    pub net: NetArgs,

    /// Also continue a short file under its final name (left by another tool), if the server
    /// says by If-Range with the file's date that it is the same version. NAME.part files are
    /// resumed with or without -c
    #[arg(short = 'c', long = "continue", help_heading = RETRIES)]
    pub resume: bool,

    /// Write every job that did not end ok (failed, or not started because of Ctrl-C,
    /// a closed stdout or a full disk) to FILE as list lines, for `tget -i FILE`
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, help_heading = RETRIES,
          hide_short_help = true)]
    pub save_failed: Option<PathBuf>,

    #[command(flatten)]
    pub display: DisplayArgs,

    /// In the summary, a row for every worker (by default more than 8 are summed up)
    #[arg(long, help_heading = DISPLAY, hide_short_help = true)]
    pub workers: bool,

    /// Also run the batch sequentially (into a temporary directory) and compare wall-clock times
    #[arg(long, help_heading = BENCH)]
    pub compare: bool,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Thread counts to compare; 1 (the sequential baseline) is always added
    #[arg(short, long, value_name = "N,N,...", value_delimiter = ',', num_args = 1..,
          default_value = "1,2,4,8,16",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024),
          help_heading = BENCH)]
    pub threads: Vec<usize>,

    /// Runs per thread count (rounds interleave the thread counts)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000),
          help_heading = BENCH)]
    pub rounds: usize,

    /// Keep the downloaded files of the last round in DIR instead of a removed temporary directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, help_heading = OUTPUT)]
    pub keep: Option<PathBuf>,

    /// Built-in server: number of files in the synthetic batch
    #[arg(long, value_name = "N", default_value_t = 64, help_heading = BENCH)]
    pub files: usize,

    /// Built-in server: size of each file (e.g. 256KiB, 1MiB, 4096)
    #[arg(long, value_name = "SIZE", default_value = "256KiB", value_parser = parse_size,
          help_heading = BENCH)]
    pub size: u64,

    /// Built-in server: delay before each response
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration,
          help_heading = BENCH)]
    pub latency: Duration,

    /// Built-in server: bytes per second per response (e.g. 4MiB); unlimited by default
    #[arg(long, value_name = "RATE", value_parser = parse_size, help_heading = BENCH)]
    pub bandwidth: Option<u64>,

    /// Write one CSV row per thread count to FILE
    #[arg(long, value_name = "FILE", help_heading = OUTPUT)]
    pub csv: Option<PathBuf>,

    /// Print the results as JSON on stdout
    #[arg(long, help_heading = OUTPUT)]
    pub json: bool,

    /// Draw wall-clock time (log scale) and speedup against thread count into an SVG file
    #[arg(long, value_name = "FILE.svg", help_heading = OUTPUT)]
    pub plot: Option<PathBuf>,

    #[command(flatten)]
    pub display: DisplayArgs,

    /// Print help
    #[arg(short = 'h', long, action = ArgAction::Help, help_heading = DISPLAY)]
    help: Option<bool>,

    #[command(flatten)]
    pub split: SplitArgs,

    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal that can draw them, plain lines on one that cannot (TERM=dumb),
    /// nothing when stderr is not a terminal
    Auto,
    /// Bars even when stderr is not a terminal
    Always,
    /// A line per finished file and a status line every --progress-interval, no escape codes
    Plain,
    /// No progress
    Never,
}

/// `--progress-interval`: a duration, but never zero (a status line per
/// instant would be a flood).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        interval if interval < Duration::from_millis(100) => {
            Err(format!("`{text}` is too short: at least 100ms"))
        }
        interval => Ok(interval),
    }
}

/// `2.5MiB` as (2.5, `MiB`): the number that starts `text` and the unit
/// after it; `what` says what was expected when there is no number.
fn number_and_unit<'t>(text: &'t str, what: &str) -> Result<(f64, &'t str), String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value = number
        .parse()
        .map_err(|_| format!("`{text}` is not {what}"))?;
    Ok((value, unit.trim()))
}

/// Accepts `250ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text, "a duration (try 500ms, 10s, 2m)")?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown duration unit `{other}` (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `--limit-rate`: bytes per second, with K, M and G (or KiB, MiB, GiB)
/// 1024-based as in curl and wget, and fractions (`1.5M`).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text, "a rate (try 500K, 2M, 1.5MiB)")?;
    let multiplier: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" | "kb" => 1024.0,
        "m" | "mib" | "mb" => 1024.0 * 1024.0,
        "g" | "gib" | "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown rate unit `{unit}` (use K, M or G, e.g. 500K, 2M)"
            ));
        }
    };
    let rate = value * multiplier;
    if !(1.0..=u64::MAX as f64).contains(&rate) {
        return Err(format!(
            "`{text}` is not a rate tget can keep to (at least 1 byte/s)"
        ));
    }
    Ok(rate as u64)
}

/// `--split-min`: tiny ranges would cost a request each for a few bytes.
pub fn parse_piece_size(text: &str) -> Result<u64, String> {
    const SMALLEST: u64 = 64 * 1024;
    match parse_size(text)? {
        size if size < SMALLEST => Err(format!("`{text}` is below the smallest range, 64KiB")),
        size => Ok(size),
    }
}

/// Accepts a byte count with an optional binary or decimal unit: `4096`, `256KiB`, `1MiB`, `2MB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 4096, 256KiB, 1MiB)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_short_help_fits_one_screen_and_names_real_flags() {
        assert!(
            SHORT_HELP.lines().count() <= 23,
            "the prompt needs the 24th line"
        );
        assert!(
            SHORT_HELP.lines().all(|l| l.chars().count() <= 80),
            "{SHORT_HELP}"
        );
        assert_eq!(SHORT_HELP.matches("\n  tget ").count(), 3, "three examples");
        let command = Cli::command();
        let longs: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for word in SHORT_HELP.split_whitespace() {
            let flag = word.trim_end_matches(',');
            if let Some(long) = flag
                .strip_prefix("--")
                .filter(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            {
                assert!(longs.iter().any(|l| l == long), "--{long} is not a flag");
            }
        }
    }

    #[test]
    fn long_help_groups_every_option_under_the_six_headings() {
        let help = Cli::command().render_long_help().to_string();
        let headings: Vec<&str> = help
            .lines()
            .filter(|l| !l.starts_with(' ') && l.ends_with(':') && !l.is_empty())
            .collect();
        assert_eq!(
            headings,
            [
                "Commands:",
                "Input:",
                "Output:",
                "Network:",
                "Retries and resume:",
                "Display:",
                "Bench:",
                "Exit codes:"
            ],
            "{help}"
        );
        assert!(help.lines().all(|l| l.chars().count() <= 80), "{help}");
    }

    #[test]
    fn threads_out_of_range_is_rejected() {
        let err = Cli::try_parse_from(["tget", "-t", "0", "http://x/"]).unwrap_err();
        assert!(err.to_string().contains("0 is not in 1..=1024"), "{err}");
    }

    #[test]
    fn bench_thread_list_splits_on_commas() {
        let cli = Cli::try_parse_from(["tget", "bench", "-t", "2,4,8"]).unwrap();
        let Some(Command::Bench(bench)) = cli.command else {
            panic!("not bench")
        };
        assert_eq!(bench.threads, vec![2, 4, 8]);
    }

    #[test]
    fn urls_and_repeated_inputs() {
        let cli = Cli::try_parse_from(["tget", "-i", "a.txt", "-i", "-", "http://h/x"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.download.input.urls, vec!["http://h/x"]);
        assert_eq!(cli.download.input.input_files.len(), 2);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn ranges_have_a_floor() {
        assert_eq!(parse_piece_size("64KiB"), Ok(65536));
        assert!(parse_piece_size("0").unwrap_err().contains("64KiB"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("2M"), Ok(2 << 20));
        assert_eq!(parse_rate("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert!(
            parse_rate("5X")
                .unwrap_err()
                .contains("unknown rate unit `X`")
        );
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }

    #[test]
    fn zero_connections_per_host_is_refused() {
        let err = Cli::try_parse_from(["tget", "--max-per-host", "0", "http://h/"]).unwrap_err();
        assert!(err.to_string().contains("0 is not in 1..=1024"), "{err}");
        let err = Cli::try_parse_from(["tget", "-x", "--cut-dirs", "-1", "http://h/"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid value '-1' for '--cut-dirs"),
            "{err}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("256KiB"), Ok(256 * 1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}
