//! The resolved configuration: plain, checked data. Clap types stop here.
//! The network's settings (proxies, trust, netrc) are resolved in the
//! submodules, from the flags and the environment, once per run.

pub mod netrc;
pub mod proxies;
pub mod trust;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ureq::http::{HeaderName, HeaderValue};

use crate::cli::{
    BenchArgs, DisplayArgs, DownloadArgs, InputArgs, NetArgs, ProgressMode, SplitArgs,
};
use crate::userinfo::Credentials;
use netrc::Netrc;
use proxies::Proxies;
use trust::{Trust, TrustFlags};

/// A named source of URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Arguments(Vec<String>),
    File(PathBuf),
    Stdin,
}

/// Keeps the jobs whose URL hash lands in `index` of `count` shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard> {
        let parsed = text.split_once('/').and_then(|(index, count)| {
            Some(Shard {
                index: index.trim().parse().ok()?,
                count: count.trim().parse().ok()?,
            })
        });
        match parsed {
            Some(shard) if shard.count > 0 && shard.index < shard.count => Ok(shard),
            _ => bail!("--shard `{text}`: expected INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/4"),
        }
    }

    pub fn keeps(&self, url: &str) -> bool {
        stable_hash(url.as_bytes()) % self.count == self.index
    }
}

/// FNV-1a: fixed forever, so every machine of a sharded run agrees on the split.
fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Which directories below `-d` a file goes in (`-x`, `--no-host-directories`,
/// `--cut-dirs`; a list's `dir=` comes on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `-x`: the URL's host and path directories.
    pub force_directories: bool,
    /// With `-x`, the host as the first directory (off with `--no-host-directories`).
    pub host_directories: bool,
    /// With `-x`, path directories left out from the start.
    pub cut_dirs: usize,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            force_directories: false,
            host_directories: true,
            cut_dirs: 0,
        }
    }
}

/// `--split` and `--split-min` as given, before a thread count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitLimits {
    /// `None`: every worker of the pool may join.
    pub max_pieces: Option<usize>,
    pub min_piece: u64,
}

impl From<&SplitArgs> for SplitLimits {
    fn from(args: &SplitArgs) -> SplitLimits {
        SplitLimits {
            max_pieces: args.split,
            min_piece: args.split_min,
        }
    }
}

/// When a file is worth sharing among workers and how far it may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPolicy {
    /// Most workers on one file at once; 1 turns splitting off.
    pub max_pieces: usize,
    /// No piece is cut smaller than this, so a file is shared only from twice this size.
    pub min_piece: u64,
}

impl SplitPolicy {
    pub const OFF: SplitPolicy = SplitPolicy {
        max_pieces: 1,
        min_piece: u64::MAX,
    };

    /// `--split` and `--split-min` for a pool of `threads` workers.
    pub fn for_threads(split: SplitLimits, threads: usize) -> SplitPolicy {
        SplitPolicy {
            max_pieces: split.max_pieces.unwrap_or(threads),
            min_piece: split.min_piece,
        }
    }

    /// How many equal ranges to cut `length` into for `workers` workers:
    /// never more than the piece limit, never ranges under the minimum.
    pub fn ways(&self, length: u64, workers: usize) -> usize {
        let by_size = length / self.min_piece.max(1);
        let ways = workers.min(self.max_pieces).max(1) as u64;
        ways.min(by_size).max(1) as usize
    }

    pub fn allows(&self, length: u64) -> bool {
        self.max_pieces > 1 && length >= self.min_piece.saturating_mul(2)
    }
}

/// How each request is made.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (a stall detector, not a total budget).
    pub read_timeout: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub user_agent: String,
    pub max_redirects: u32,
    pub retries: u32,
    pub retry_delay: Duration,
    /// `--limit-rate`: bytes per second for every worker together.
    pub limit_rate: Option<u64>,
    /// Which certificates https servers may present.
    pub trust: Trust,
    /// Which proxy each URL goes through.
    pub proxies: Proxies,
    /// `-u`: Basic credentials for every URL.
    pub user: Option<Credentials>,
    /// `--netrc` / `--netrc-file`: credentials by host.
    pub netrc: Option<Netrc>,
}

/// How progress is shown on stderr, decided once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bars {
    /// Bars on stderr, a terminal that can draw them.
    Terminal,
    /// Bars on stderr whatever it is (`--progress always`).
    Forced,
    /// A line per finished file and a status line now and then, with no
    /// escape codes: `--progress plain`, or a terminal that cannot draw
    /// (`TERM=dumb`).
    Plain,
    Hidden,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Display {
    pub bars: Bars,
    /// No summary or notices, only errors.
    pub quiet: bool,
    /// How often plain progress prints a status line.
    pub interval: Duration,
    /// `--workers`: a summary row for every worker, however many.
    pub all_workers: bool,
    /// stdout is the terminal the bars are drawn on, so its lines must be
    /// printed above the bars by whoever draws them.
    pub shared_screen: bool,
}

/// What stdout carries for each job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One saved path per line.
    Paths,
    /// JSON Lines: one object per job, then a summary.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    /// `-0`: each line ends with a NUL instead of a newline, for `xargs -0`.
    pub print0: bool,
}

/// What a worker needs to run a job.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub overwrite: bool,
    pub resume: bool,
    /// `-N`: an existing file is asked for again only if the server's is newer.
    pub timestamping: bool,
    /// Give saved files the server's Last-Modified time.
    pub remote_time: bool,
    pub content_disposition: bool,
    pub split: SplitPolicy,
    /// At most this many connections to one host at once; `None`: no limit.
    pub max_per_host: Option<usize>,
    pub http: HttpConfig,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub sources: Vec<Source>,
    pub shard: Option<Shard>,
    pub threads: usize,
    /// Where files are saved (`-d`).
    pub out_dir: PathBuf,
    /// Which directories below it a file goes in.
    pub layout: Layout,
    pub fetch: FetchConfig,
    /// Applies to the single URL given (checked here).
    pub sha256: Option<[u8; 32]>,
    pub display: Display,
    pub output: Output,
    /// `--save-failed`: where to list the jobs that did not end ok.
    pub save_failed: Option<PathBuf>,
    pub compare: bool,
    /// `--dry-run`: the plan, without a request.
    pub dry_run: bool,
}

/// The synthetic batch the built-in server serves when `bench` gets no URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticBatch {
    pub files: usize,
    pub size: u64,
    pub latency: Duration,
    pub bandwidth: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Empty: benchmark the built-in server's synthetic batch.
    pub sources: Vec<Source>,
    pub shard: Option<Shard>,
    pub synthetic: SyntheticBatch,
    /// Sorted, without duplicates, always starting with 1.
    pub threads: Vec<usize>,
    pub rounds: usize,
    pub keep: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub json: bool,
    pub plot: Option<PathBuf>,
    pub display: Display,
    /// Each run shares big files among its own thread count by default.
    pub split: SplitLimits,
    pub http: HttpConfig,
}

impl Config {
    pub fn from_args(args: DownloadArgs) -> Result<Config> {
        let sources = download_sources(&args.input);
        if sources.is_empty() {
            bail!("{NO_INPUT}");
        }
        let sha256 = match &args.sha256 {
            None => None,
            Some(_) if !matches!(sources.as_slice(), [Source::Arguments(urls)] if urls.len() == 1) =>
            {
                bail!(
                    "--sha256 needs exactly one URL argument; give checksums in a list with sha256=HEX"
                )
            }
            Some(hex) => Some(parse_sha256(hex).map_err(|e| anyhow::anyhow!("--sha256: {e}"))?),
        };
        Ok(Config {
            shard: shard(&args.input)?,
            sources,
            threads: args.threads,
            out_dir: args.dir,
            layout: Layout {
                force_directories: args.force_directories,
                host_directories: !args.no_host_directories,
                cut_dirs: args.cut_dirs,
            },
            fetch: FetchConfig {
                overwrite: args.overwrite,
                resume: args.resume,
                timestamping: args.timestamping,
                remote_time: !args.no_remote_time,
                content_disposition: args.content_disposition,
                split: SplitPolicy::for_threads(split_limits(&args.split, &args.net), args.threads),
                max_per_host: args.max_per_host,
                http: HttpConfig::from_args(&args.net)?,
            },
            sha256,
            display: Display {
                all_workers: args.workers,
                ..display(&args.display)
            },
            output: Output {
                format: if args.json {
                    Format::Json
                } else {
                    Format::Paths
                },
                print0: args.print0,
            },
            save_failed: args.save_failed,
            compare: args.compare,
            dry_run: args.dry_run,
        })
    }
}

impl BenchConfig {
    pub fn from_args(args: BenchArgs) -> Result<BenchConfig> {
        let mut threads = args.threads.clone();
        threads.push(1);
        threads.sort_unstable();
        threads.dedup();
        if args.files == 0 {
            bail!("--files must be at least 1");
        }
        Ok(BenchConfig {
            sources: explicit_sources(&args.input),
            shard: shard(&args.input)?,
            synthetic: SyntheticBatch {
                files: args.files,
                size: args.size,
                latency: args.latency,
                bandwidth: args.bandwidth,
            },
            threads,
            rounds: args.rounds,
            keep: args.keep,
            csv: args.csv,
            json: args.json,
            plot: args.plot,
            display: display(&args.display),
            split: split_limits(&args.split, &args.net),
            http: HttpConfig::from_args(&args.net)?,
        })
    }

    /// What each run of `threads` workers fetches with: always afresh, and
    /// big files shared as in a plain download.
    pub fn fetch(&self, threads: usize) -> FetchConfig {
        FetchConfig {
            overwrite: true,
            resume: false,
            timestamping: false,
            remote_time: false,
            content_disposition: false,
            split: SplitPolicy::for_threads(self.split, threads),
            max_per_host: None,
            http: self.http.clone(),
        }
    }
}

impl HttpConfig {
    pub fn from_args(net: &NetArgs) -> Result<HttpConfig> {
        let env = |name: &str| std::env::var(name).ok();
        let headers = net
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_>>()?;
        let trust_flags = TrustFlags {
            cacert: net.cacert.clone(),
            native: net.ca_native,
            insecure: net.insecure,
        };
        Ok(HttpConfig {
            connect_timeout: net.connect_timeout,
            read_timeout: net.timeout,
            headers,
            user_agent: net.user_agent.clone().unwrap_or_else(default_user_agent),
            max_redirects: net.max_redirects,
            retries: net.retries,
            retry_delay: net.retry_delay,
            limit_rate: net.limit_rate,
            trust: Trust::resolve(&trust_flags, &env).map_err(|e| anyhow!(e))?,
            proxies: Proxies::resolve(net.proxy.as_deref(), net.noproxy.as_deref(), &env)
                .map_err(|e| anyhow!(e))?,
            user: net
                .user
                .as_deref()
                .map(Credentials::parse)
                .transpose()
                .map_err(|e| anyhow!(e))?,
            netrc: read_netrc(net)?,
        })
    }

    /// What the user is told once, before anything is fetched.
    pub fn warnings(&self) -> impl Iterator<Item = &'static str> {
        self.trust.warning().into_iter()
    }
}

/// `--netrc-file FILE`, or `~/.netrc` with `--netrc` (where a missing file,
/// as in curl, means no credentials).
fn read_netrc(net: &NetArgs) -> Result<Option<Netrc>> {
    let (path, must_exist) = match (&net.netrc_file, net.netrc) {
        (Some(file), _) => (file.clone(), true),
        (None, true) => match netrc::default_path(std::env::var_os("HOME").map(PathBuf::from)) {
            Some(path) => (path, false),
            None => bail!("--netrc: HOME is not set, so there is no ~/.netrc"),
        },
        (None, false) => return Ok(None),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read netrc file {}: {e}", path.display()),
    };
    Netrc::parse(&text, &path)
        .map(Some)
        .map_err(|e| anyhow!("netrc: {e}"))
}

pub fn default_user_agent() -> String {
    format!("tget/{}", env!("CARGO_PKG_VERSION"))
}

/// `Name: value`, checked as HTTP allows.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue)> {
    let (name, value) = text
        .split_once(':')
        .with_context(|| format!("header `{text}`: expected \"Name: value\""))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).with_context(|| {
        format!(
            "header `{text}`: `{}` is not a valid header name",
            name.trim()
        )
    })?;
    let value = HeaderValue::from_str(value.trim()).with_context(|| {
        format!("header `{text}`: the value has characters HTTP does not allow")
    })?;
    Ok((name, value))
}

/// `--split` as given; under `--limit-rate` a file is not shared unless
/// asked: the limit, not one connection, is what holds a download back then,
/// and every range's new connection would fill its socket buffers at once,
/// a burst past the limit.
fn split_limits(split: &SplitArgs, net: &NetArgs) -> SplitLimits {
    let limits = SplitLimits::from(split);
    match (limits.max_pieces, net.limit_rate) {
        (None, Some(_)) => SplitLimits {
            max_pieces: Some(1),
            ..limits
        },
        _ => limits,
    }
}

/// 64 hexadecimal digits, as `--sha256` and a list's `sha256=` give them.
pub fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let bad = || format!("sha256 `{hex}` must be 64 hexadecimal digits");
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(digest)
}

fn shard(input: &InputArgs) -> Result<Option<Shard>> {
    input.shard.as_deref().map(Shard::parse).transpose()
}

fn explicit_sources(input: &InputArgs) -> Vec<Source> {
    let mut sources = Vec::new();
    if !input.urls.is_empty() {
        sources.push(Source::Arguments(input.urls.clone()));
    }
    for path in &input.input_files {
        sources.push(if path.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(path.clone())
        });
    }
    sources
}

/// What `tget` alone prints, on a terminal with nothing piped in: how to
/// give it URLs, and where the help is.
const NO_INPUT: &str = "no URLs to download

Usage: tget [OPTIONS] URL...      (or: tget -i urls.txt, or: cat urls.txt | tget)
Try 'tget -h' for the main options and examples, 'tget --help' for all.";

/// With no URLs and no lists, a piped stdin is the list (`cat urls | tget`).
fn download_sources(input: &InputArgs) -> Vec<Source> {
    let sources = explicit_sources(input);
    if sources.is_empty() && !std::io::stdin().is_terminal() {
        return vec![Source::Stdin];
    }
    sources
}

fn display(args: &DisplayArgs) -> Display {
    let (mode, quiet, interval) = (args.progress, args.quiet, args.progress_interval);
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let dumb = std::env::var_os("TERM").is_none_or(|term| term == "dumb" || term.is_empty());
    let bars = bars(mode, quiet, stderr_is_terminal, dumb);
    Display {
        bars,
        quiet,
        interval,
        all_workers: false,
        shared_screen: bars == Bars::Terminal && stdout_is_the_stderr_terminal(),
    }
}

/// `auto` draws bars on a terminal that can, prints plain lines on one that
/// cannot (`TERM=dumb` or unset), and nothing when stderr is not a terminal.
fn bars(mode: ProgressMode, quiet: bool, stderr_is_terminal: bool, dumb: bool) -> Bars {
    match mode {
        _ if quiet => Bars::Hidden,
        ProgressMode::Never => Bars::Hidden,
        ProgressMode::Always => Bars::Forced,
        ProgressMode::Plain => Bars::Plain,
        ProgressMode::Auto if !stderr_is_terminal => Bars::Hidden,
        ProgressMode::Auto if dumb => Bars::Plain,
        ProgressMode::Auto => Bars::Terminal,
    }
}

/// Both are terminals and the same device (one `st_rdev`): then a line on
/// stdout lands on the screen the bars are on. Two terminals, or stdout on a
/// pipe or file, are not.
fn stdout_is_the_stderr_terminal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let device = |fd: &str| std::fs::metadata(fd).map(|m| m.rdev()).ok();
    std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && device("/dev/stdout").is_some_and(|out| device("/dev/stderr") == Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked() {
        let (name, value) = parse_header("X-Token:  abc ").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-token", "abc"));
        assert!(format!("{:#}", parse_header("NoColon").unwrap_err()).contains("header `NoColon`"));
        assert!(
            format!("{:#}", parse_header("Bad Name: x").unwrap_err())
                .contains("not a valid header name")
        );
        assert!(
            format!("{:#}", parse_header("X: a\u{7}b").unwrap_err()).contains("does not allow")
        );
    }

    fn config(args: &[&str]) -> Config {
        use clap::Parser;
        let mut argv = vec!["tget"];
        argv.extend_from_slice(args);
        argv.push("http://h/x");
        Config::from_args(crate::cli::Cli::try_parse_from(argv).unwrap().download).unwrap()
    }

    #[test]
    fn a_rate_limit_shares_no_file_unless_asked() {
        assert_eq!(config(&["-t", "8"]).fetch.split.max_pieces, 8);
        assert_eq!(config(&["--limit-rate", "2M"]).fetch.split.max_pieces, 1);
        let asked = config(&["--limit-rate", "2M", "--split", "4"]);
        assert_eq!(asked.fetch.split.max_pieces, 4);
    }

    #[test]
    fn auto_progress_follows_the_terminal() {
        use ProgressMode::*;
        assert_eq!(bars(Auto, false, true, false), Bars::Terminal);
        assert_eq!(bars(Auto, false, true, true), Bars::Plain, "TERM=dumb");
        assert_eq!(bars(Auto, false, false, false), Bars::Hidden);
        assert_eq!(bars(Always, false, false, true), Bars::Forced);
        assert_eq!(bars(Plain, false, true, false), Bars::Plain);
        assert_eq!(bars(Always, true, true, false), Bars::Hidden, "-q wins");
    }

    #[test]
    fn shard_syntax() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        assert!(Shard::parse("5/5").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("a/b").is_err());
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let urls: Vec<String> = (0..500).map(|i| format!("http://h/{i}")).collect();
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        for url in &urls {
            assert_eq!(shards.iter().filter(|s| s.keeps(url)).count(), 1, "{url}");
        }
        assert!(
            shards
                .iter()
                .all(|s| urls.iter().filter(|u| s.keeps(u)).count() > 80)
        );
    }
}
