//! The command line as clap sees it. Nothing here is used past `config`:
//! `Config::from_args` turns these raw values into checked, plain data.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

#[derive(Debug, Parser)]
#[command(
    name = "tget",
    version,
    about = "Download batches of URLs on a fixed pool of OS threads",
    long_about = "Download batches of URLs on a fixed pool of named OS worker threads, \
                  with one progress bar per worker and a timing report that compares the \
                  threaded run against a sequential baseline.",
    after_help = crate::exit::HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub download: DownloadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Time the same batch at several thread counts (offline by default, on a built-in loopback server)
    Bench(BenchArgs),
}

/// Where URLs come from: arguments, list files, stdin.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// URLs to download (http or https)
    #[arg(value_name = "URL", value_hint = ValueHint::Url)]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one per line ("-" for stdin); may be repeated.
    /// Lines: `URL [out=NAME] [sha256=HEX]`; blank lines and `#` comments are ignored
    #[arg(short = 'i', long = "input-file", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub input_files: Vec<PathBuf>,

    /// Keep only the jobs whose URL hash falls in shard INDEX of COUNT (0-based), e.g. 0/4
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<String>,
}

/// How each request is made; shared by downloads and benchmarks.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// Give up connecting after this long (e.g. 10s, 500ms)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Fail a transfer when no bytes arrive for this long
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Extra request header, "Name: value"; may be repeated
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// User-Agent header [default: tget/VERSION]
    #[arg(short = 'A', long = "user-agent", value_name = "UA")]
    pub user_agent: Option<String>,

    /// Follow at most this many redirects
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: u32,

    /// Retry a failed transfer this many times (connect errors, timeouts, resets, cut bodies,
    /// HTTP 408/429/500/502/503/504); a retry resumes where the transfer stopped
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Wait before the first retry; doubles for each further one (with jitter, at most 10s)
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = parse_duration)]
    pub retry_delay: Duration,

    /// Receive at most RATE bytes per second in all, every worker together (e.g. 500K, 2M,
    /// 1.5MiB; K, M and G are 1024-based)
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
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
pub struct SplitArgs {
    /// Let at most N workers share one big file by range requests [default: --threads; 1 turns it off]
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub split: Option<usize>,

    /// Never cut a shared file into pieces smaller than this (so files under twice it are never shared)
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_piece_size)]
    pub split_min: u64,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Number of worker threads (never more than there is work for)
    #[arg(short, long, value_name = "N", default_value_t = 8, env = "TGET_THREADS",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: usize,

    /// Output directory (created if missing)
    #[arg(short = 'd', long = "dir", value_name = "DIR", default_value = ".", value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,

    /// Replace files that already exist (default: skip them)
    #[arg(long)]
    pub overwrite: bool,

    /// Also continue a short file under its final name (left by another tool), if the server
    /// says by If-Range with the file's date that it is the same version. NAME.part files are
    /// resumed with or without -c
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,

    /// Expected SHA-256 of the file (only with a single URL)
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,

    #[command(flatten)]
    pub split: SplitArgs,

    /// Name files after the server's Content-Disposition (sanitised) instead of the URL
    #[arg(long)]
    pub content_disposition: bool,

    /// Save under HOST[_PORT]/path/... inside the output directory, as the URL's directories
    #[arg(short = 'x', long)]
    pub force_directories: bool,

    /// With -x, leave out the HOST[_PORT] directory
    #[arg(long, requires = "force_directories")]
    pub no_host_directories: bool,

    /// With -x, leave out the first N directories of each URL's path
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "force_directories",
        allow_negative_numbers = true
    )]
    pub cut_dirs: usize,

    /// For a file that exists, ask the server for it only if it is newer (If-Modified-Since);
    /// a newer one replaces it
    #[arg(short = 'N', long)]
    pub timestamping: bool,

    /// Leave each file's time as it was saved instead of the server's Last-Modified
    #[arg(long)]
    pub no_remote_time: bool,

    /// At most N connections to one host (scheme, host and port) at once [default: --threads]
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub max_per_host: Option<usize>,

    /// Print what would be fetched or skipped, and where, without a single request
    #[arg(long)]
    pub dry_run: bool,

    /// When to draw progress bars on stderr
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Print nothing on stderr but errors (stdout still lists the files)
    #[arg(short, long)]
    pub quiet: bool,

    /// Print JSON Lines on stdout: one object per job, then a summary object
    #[arg(long)]
    pub json: bool,

    /// Write every job that did not end ok (failed, or not started because of Ctrl-C,
    /// a closed stdout or a full disk) to FILE as list lines, for `tget -i FILE`
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub save_failed: Option<PathBuf>,

    /// Also run the batch sequentially (into a temporary directory) and compare wall-clock times
    #[arg(long)]
    pub compare: bool,

    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Thread counts to compare; 1 (the sequential baseline) is always added
    #[arg(short, long, value_name = "N,N,...", value_delimiter = ',', num_args = 1..,
          default_value = "1,2,4,8,16",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Vec<usize>,

    /// Runs per thread count (rounds interleave the thread counts)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub rounds: usize,

    /// Keep the downloaded files of the last round in DIR instead of a removed temporary directory
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub keep: Option<PathBuf>,

    /// Built-in server: number of files in the synthetic batch
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub files: usize,

    /// Built-in server: size of each file (e.g. 256KiB, 1MiB, 4096)
    #[arg(long, value_name = "SIZE", default_value = "256KiB", value_parser = parse_size)]
    pub size: u64,

    /// Built-in server: delay before each response
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration)]
    pub latency: Duration,

    /// Built-in server: bytes per second per response (e.g. 4MiB); unlimited by default
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    pub bandwidth: Option<u64>,

    /// Write one CSV row per thread count to FILE
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Print the results as JSON on stdout
    #[arg(long)]
    pub json: bool,

    /// Draw wall-clock time and speedup against thread count into an SVG file
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// When to draw progress bars on stderr
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Print nothing on stderr but errors
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub split: SplitArgs,

    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal
    Auto,
    /// Bars even when stderr is not a terminal
    Always,
    /// No bars
    Never,
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
