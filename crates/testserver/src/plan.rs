//! What one response is made of. The core serves a [`Plan`] and knows
//! nothing of query keys beyond `size`, `latency` and `rate`; with the
//! `faults` feature, `faults::plan` sets the other fields. Every field's
//! default is a plain, well-behaved server.

use std::time::Duration;

use crate::body;

#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) size: u64,
    pub(crate) latency: Duration,
    /// Bytes per second for the body; unpaced when `None`.
    pub(crate) rate: Option<u64>,
    /// Answer with this short text instead of the file.
    pub(crate) reply: Option<Reply>,
    /// Picks the body's bytes: see `body::seed`.
    pub(crate) seed: u64,
    /// The validator header sent with the file, `(name, value)`, and what
    /// `If-Range` must equal: the file's `ETag` by default.
    pub(crate) validator: Option<(&'static str, String)>,
    /// More response headers for the file, each ending in CRLF.
    pub(crate) headers: String,
    pub(crate) ranges: Ranges,
    pub(crate) framing: Framing,
    /// End the body at this byte of the file, then close or reset the
    /// connection. A response that starts at or past it is sent whole.
    pub(crate) cut: Option<(u64, Cut)>,
    /// Send this many body bytes, then nothing until the server stops.
    pub(crate) stall_after: Option<u64>,
    /// The socket's send buffer, so bytes counted as sent are near those
    /// the client has read (for measuring a client's rate).
    pub(crate) send_buffer: Option<usize>,
}

/// A short `text/plain` response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    /// Each ending in CRLF.
    pub(crate) headers: String,
}

/// How a `Range` request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// 206 with the range asked for (or 416), when `If-Range` holds.
    Honour,
    /// 200 with the whole body, always.
    Ignore,
    /// 206 from byte 0, whatever was asked.
    FromZero,
}

/// How the body's end is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    ContentLength,
    /// No length: the body ends when the connection closes.
    UntilClose,
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// How a cut body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "faults"),
    expect(dead_code, reason = "only the fault keys cut a body")
)]
pub(crate) enum Cut {
    Close,
    Reset,
}

impl Plan {
    /// The plan from the keys every build knows; other keys are ignored.
    pub(crate) fn parse(path: &str, query: &str) -> Plan {
        let mut plan = Plan {
            size: 1024,
            latency: Duration::ZERO,
            rate: None,
            reply: None,
            seed: 0,
            validator: None,
            headers: String::new(),
            ranges: Ranges::Honour,
            framing: Framing::ContentLength,
            cut: None,
            stall_after: None,
            send_buffer: None,
        };
        for (key, value) in pairs(query) {
            let number = value.parse::<u64>().ok();
            match key {
                "size" => plan.size = number.unwrap_or(plan.size),
                "latency" => plan.latency = Duration::from_millis(number.unwrap_or(0)),
                "rate" => plan.rate = number.filter(|&r| r > 0),
                _ => {}
            }
        }
        plan.serve_version(path, "");
        plan
    }

    /// Serves `path` at `version`: its bytes, and its ETag as the validator.
    pub(crate) fn serve_version(&mut self, path: &str, version: &str) {
        self.seed = body::seed(path, version);
        self.validator = Some(("ETag", body::etag_of(self.seed, self.size)));
    }
}

/// The query's `key=value` pairs in order, each value percent-decoded.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (&str, String)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned();
        (key, value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_keys_parse_and_the_rest_are_ignored() {
        let plan = Plan::parse("/p", "size=10&latency=5&rate=0&status=404&fail=2&size=x");
        assert_eq!(
            (plan.size, plan.latency, plan.rate),
            (10, Duration::from_millis(5), None)
        );
        assert!(plan.reply.is_none());
        assert_eq!(plan.validator, Some(("ETag", crate::etag("/p", "", 10))));
        assert_eq!(Plan::parse("/p", "rate=300").rate, Some(300));
        assert_eq!(Plan::parse("/p", "").size, 1024);
    }
}
