//! The resolved configuration: plain, checked data. Clap types stop here.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ureq::http::{HeaderName, HeaderValue};

use crate::cli::{BenchArgs, DownloadArgs, InputArgs, NetArgs, ProgressMode};
use crate::input::{self, Shard, Source};
use crate::segment::SplitPolicy;

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
}

/// Where human output goes, decided once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bars {
    /// Draw on stderr when it is a terminal.
    Terminal,
    /// Draw on stderr whatever it is (`--progress always`).
    Forced,
    Hidden,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Display {
    pub bars: Bars,
    /// No summary or notices, only errors.
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One saved path per line.
    Paths,
    /// JSON Lines: one object per job, then a summary.
    Json,
}

/// What a worker needs to run a job.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub out_dir: PathBuf,
    pub overwrite: bool,
    pub resume: bool,
    pub content_disposition: bool,
    pub split: SplitPolicy,
    pub http: HttpConfig,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub sources: Vec<Source>,
    pub shard: Option<Shard>,
    pub threads: usize,
    pub fetch: FetchConfig,
    /// Applies to the single URL given (checked here).
    pub sha256: Option<[u8; 32]>,
    pub display: Display,
    pub output: Output,
    pub compare: bool,
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
    pub http: HttpConfig,
}

impl Config {
    pub fn from_args(args: DownloadArgs) -> Result<Config> {
        let sources = download_sources(&args.input);
        let sha256 = match &args.sha256 {
            None => None,
            Some(_) if !matches!(sources.as_slice(), [Source::Arguments(urls)] if urls.len() == 1) =>
            {
                bail!(
                    "--sha256 needs exactly one URL argument; give checksums in a list with sha256=HEX"
                )
            }
            Some(hex) => {
                Some(input::parse_sha256(hex).map_err(|e| anyhow::anyhow!("--sha256: {e}"))?)
            }
        };
        Ok(Config {
            shard: shard(&args.input)?,
            sources,
            threads: args.threads,
            fetch: FetchConfig {
                out_dir: args.dir,
                overwrite: args.overwrite,
                resume: args.resume,
                content_disposition: args.content_disposition,
                split: SplitPolicy {
                    max_pieces: args.split.unwrap_or(args.threads),
                    min_piece: args.split_min,
                },
                http: HttpConfig::from_args(&args.net)?,
            },
            sha256,
            display: display(args.progress, args.quiet),
            output: if args.json {
                Output::Json
            } else {
                Output::Paths
            },
            compare: args.compare,
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
            display: display(args.progress, args.quiet),
            http: HttpConfig::from_args(&args.net)?,
        })
    }
}

impl HttpConfig {
    fn from_args(net: &NetArgs) -> Result<HttpConfig> {
        let headers = net
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_>>()?;
        Ok(HttpConfig {
            connect_timeout: net.connect_timeout,
            read_timeout: net.timeout,
            headers,
            user_agent: net.user_agent.clone().unwrap_or_else(default_user_agent),
            max_redirects: net.max_redirects,
            retries: net.retries,
            retry_delay: net.retry_delay,
        })
    }
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

/// With no URLs and no lists, a piped stdin is the list (`cat urls | tget`).
fn download_sources(input: &InputArgs) -> Vec<Source> {
    let sources = explicit_sources(input);
    if sources.is_empty() && !std::io::stdin().is_terminal() {
        return vec![Source::Stdin];
    }
    sources
}

fn display(mode: ProgressMode, quiet: bool) -> Display {
    let bars = match mode {
        _ if quiet => Bars::Hidden,
        ProgressMode::Never => Bars::Hidden,
        ProgressMode::Always => Bars::Forced,
        ProgressMode::Auto => Bars::Terminal,
    };
    Display { bars, quiet }
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
}
