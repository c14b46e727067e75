//! The batch a bench times: the built-in server's synthetic files, whose
//! best possible time is known, or the user's URLs, read once so every run
//! downloads the same list.

use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::HumanBytes;
use serde::Serialize;
use testserver::Server;

use crate::config::{Shard, Source, SyntheticBatch};
use crate::input;

/// The batch under test, read once so that every run downloads the same list.
pub struct Batch {
    pub requests: Vec<input::Item>,
    pub kind: BatchKind,
}

/// What the batch is, for the report and the `config` part of `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BatchKind {
    /// The built-in server's synthetic batch, whose best possible time is known.
    BuiltIn {
        files: usize,
        size_bytes: u64,
        latency_ms: f64,
        bandwidth_bytes_per_s: Option<u64>,
    },
    /// The user's URLs.
    Urls { jobs: usize, sources: Vec<String> },
}

impl Batch {
    pub fn synthetic(server: &Server, shape: SyntheticBatch) -> Result<Batch> {
        let urls = synthetic_urls(server, &shape);
        let requests = input::open(&[Source::Arguments(urls)], None)?.collect();
        Ok(Batch {
            requests,
            kind: BatchKind::BuiltIn {
                files: shape.files,
                size_bytes: shape.size,
                latency_ms: shape.latency.as_secs_f64() * 1e3,
                bandwidth_bytes_per_s: shape.bandwidth,
            },
        })
    }

    pub fn from_sources(sources: &[Source], shard: Option<Shard>) -> Result<Batch> {
        let requests: Vec<input::Item> = input::open(sources, shard)?.collect();
        if requests.is_empty() {
            bail!("the URL lists hold no URLs: nothing to benchmark");
        }
        let sources = sources.iter().map(source_name).collect();
        Ok(Batch {
            kind: BatchKind::Urls {
                jobs: requests.len(),
                sources,
            },
            requests,
        })
    }

    /// The best time `threads` workers could reach on the built-in batch: each
    /// worker takes ceil(files / threads) files one after another, and no file
    /// can beat the server's latency plus its paced transfer. Unknown for real
    /// URLs, whose servers and links are not ours to know.
    pub fn ideal(&self, threads: usize) -> Option<Duration> {
        let BatchKind::BuiltIn {
            files,
            size_bytes,
            latency_ms,
            bandwidth_bytes_per_s,
        } = self.kind
        else {
            return None;
        };
        let transfer = bandwidth_bytes_per_s.map_or(0.0, |rate| size_bytes as f64 / rate as f64);
        let per_file = latency_ms / 1e3 + transfer;
        if per_file <= 0.0 {
            // Nothing to wait for: the bound is CPU work, which no formula here knows.
            return None;
        }
        Some(Duration::from_secs_f64(
            per_file * files.div_ceil(threads.max(1)) as f64,
        ))
    }
}

fn source_name(source: &Source) -> String {
    match source {
        Source::Arguments(_) => "arguments".into(),
        Source::File(path) => path.display().to_string(),
        Source::Stdin => "-".into(),
    }
}

/// The URLs of a synthetic batch on the built-in server: `files` files of
/// `size` bytes, each answered after `latency` and paced at `bandwidth`.
fn synthetic_urls(server: &Server, batch: &SyntheticBatch) -> Vec<String> {
    let mut query = format!("size={}&latency={}", batch.size, batch.latency.as_millis());
    if let Some(rate) = batch.bandwidth {
        query.push_str(&format!("&rate={rate}"));
    }
    (0..batch.files)
        .map(|i| server.url(&format!("/bench/file-{i:04}.bin?{query}")))
        .collect()
}

/// "64 files x 256.00 KiB from the built-in server (50 ms latency)".
pub fn title(batch: &BatchKind) -> String {
    match batch {
        BatchKind::BuiltIn {
            files,
            size_bytes,
            latency_ms,
            bandwidth_bytes_per_s,
        } => {
            let pacing = bandwidth_bytes_per_s
                .map(|rate| format!(", {}/s per connection", HumanBytes(rate)))
                .unwrap_or_default();
            format!(
                "{files} files x {} from the built-in server ({latency_ms} ms latency{pacing})",
                HumanBytes(*size_bytes)
            )
        }
        BatchKind::Urls { jobs, sources } => {
            format!("{jobs} URLs from {}", sources.join(", "))
        }
    }
}

pub fn jobs(batch: &BatchKind) -> usize {
    match batch {
        BatchKind::BuiltIn { files, .. } => *files,
        BatchKind::Urls { jobs, .. } => *jobs,
    }
}

/// A built-in batch of `files` of 1 MiB, for tests.
#[cfg(test)]
pub(crate) fn built_in(files: usize, latency_ms: f64, bandwidth: Option<u64>) -> Batch {
    Batch {
        requests: Vec::new(),
        kind: BatchKind::BuiltIn {
            files,
            size_bytes: 1 << 20,
            latency_ms,
            bandwidth_bytes_per_s: bandwidth,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ideal_is_whole_files_per_thread_times_latency() {
        let batch = built_in(64, 50.0, None);
        assert_eq!(batch.ideal(1), Some(Duration::from_millis(3200)));
        assert_eq!(batch.ideal(3), Some(Duration::from_millis(22 * 50)));
        assert_eq!(batch.ideal(128), Some(Duration::from_millis(50)));
    }

    #[test]
    fn paced_transfers_add_to_the_ideal() {
        // 1 MiB at 4 MiB/s is 250 ms on top of the 50 ms latency.
        let batch = built_in(8, 50.0, Some(4 << 20));
        assert_eq!(batch.ideal(4), Some(Duration::from_millis(600)));
    }

    #[test]
    fn real_urls_have_no_ideal() {
        let batch = Batch {
            requests: Vec::new(),
            kind: BatchKind::Urls {
                jobs: 3,
                sources: vec!["urls.txt".into()],
            },
        };
        assert_eq!(batch.ideal(4), None);
    }

    #[test]
    fn no_latency_and_no_pacing_has_no_ideal() {
        assert_eq!(built_in(8, 0.0, None).ideal(2), None);
    }
}
