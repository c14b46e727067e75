//! The fault keys (listed in the crate docs) and the per-path history they
//! need: turns them into the fields of a [`Plan`] that the core serves.
//! Compiled only with the `faults` feature.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::body::changed_version;
use crate::plan::{Cut, Framing, Plan, Ranges, Reply, pairs};
use crate::serve::RequestHead;

/// Requests so far per path (without query): all of them, and the range
/// requests among those that `fail` let through.
#[derive(Default)]
pub(crate) struct History {
    hits: Mutex<HashMap<String, u64>>,
    range_hits: Mutex<HashMap<String, u64>>,
}

impl History {
    /// Counts one more for `path`; returns its number (1-based).
    fn count(counts: &Mutex<HashMap<String, u64>>, path: &str) -> u64 {
        let mut counts = counts.lock().expect("poisoned");
        let count = counts.entry(path.to_string()).or_default();
        *count += 1;
        *count
    }

    /// Requests for `path` so far.
    pub(crate) fn hits(&self, path: &str) -> u64 {
        let hits = self.hits.lock().expect("poisoned");
        hits.get(path).copied().unwrap_or(0)
    }
}

/// The fault keys of one request.
#[derive(Debug, Default)]
struct Faults {
    status: Option<u16>,
    fail: u64,
    fail_ranges: u64,
    fail_status: Option<u16>,
    retry_after: Option<String>,
    redirect: Option<String>,
    redirect_status: Option<u16>,
    redirects: u64,
    content_disposition: Option<String>,
    stall_after: Option<u64>,
    version: String,
    chunked: bool,
    transfer_chunked: bool,
    cut_at: Option<(u64, Cut)>,
    faults: Option<u64>,
    validator: Validator,
    change_after: Option<u64>,
    ignore_range: bool,
    bad_range: bool,
    last_modified: Option<String>,
    send_buffer: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Validator {
    #[default]
    ETag,
    Date,
    None,
}

impl Faults {
    fn parse(query: &str) -> Faults {
        let mut faults = Faults::default();
        for (key, value) in pairs(query) {
            faults.set(key, value);
        }
        faults
    }

    fn set(&mut self, key: &str, value: String) {
        let number = value.parse::<u64>().ok();
        let status = number.and_then(|n| u16::try_from(n).ok());
        match key {
            "status" => self.status = status,
            "fail" => self.fail = number.unwrap_or(0),
            "fail_status" => self.fail_status = status,
            "fail_ranges" => self.fail_ranges = number.unwrap_or(0),
            "retry_after" => self.retry_after = Some(value),
            "redirect" => self.redirect = Some(value),
            "redirect_status" => self.redirect_status = status,
            "redirects" => self.redirects = number.unwrap_or(0),
            "cd" => self.content_disposition = Some(value),
            "stall_after" => self.stall_after = number,
            "version" => self.version = value,
            "chunked" => self.chunked = value == "1",
            "te" => self.transfer_chunked = value == "chunked",
            "truncate_at" => self.cut_at = number.map(|n| (n, Cut::Close)),
            "reset_after" => self.cut_at = number.map(|n| (n, Cut::Reset)),
            "faults" => self.faults = number,
            "validator" => {
                self.validator = match value.as_str() {
                    "date" => Validator::Date,
                    "none" => Validator::None,
                    _ => Validator::ETag,
                }
            }
            "change_after" => self.change_after = number,
            "ignore_range" => self.ignore_range = value == "1",
            "bad_range" => self.bad_range = value == "1",
            "last_modified" => self.last_modified = Some(value),
            "sndbuf" => self.send_buffer = number.and_then(|n| usize::try_from(n).ok()),
            _ => {}
        }
    }
}

/// The plan for one request: the core keys, then the fault keys, which may
/// depend on how many requests this path has had.
pub(crate) fn plan(head: &RequestHead, path: &str, query: &str, history: &History) -> Plan {
    let mut plan = Plan::parse(path, query);
    let faults = Faults::parse(query);
    let hit = History::count(&history.hits, path);
    let ranged = head.header("Range").is_some();
    if hit <= faults.fail
        || (ranged && History::count(&history.range_hits, path) <= faults.fail_ranges)
    {
        let headers = faults
            .retry_after
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default();
        let status = faults.fail_status.unwrap_or(503);
        plan.reply = Some(reply(status, "try again later", headers));
        return plan;
    }
    if let Some(status) = faults.status {
        plan.reply = Some(reply(status, &format!("status {status}"), String::new()));
        return plan;
    }
    if let Some(target) = &faults.redirect {
        let status = faults.redirect_status.unwrap_or(302);
        plan.reply = Some(reply(status, "moved", format!("Location: {target}\r\n")));
        return plan;
    }
    if faults.redirects > 0 {
        let next = query.replace(
            &format!("redirects={}", faults.redirects),
            &format!("redirects={}", faults.redirects - 1),
        );
        plan.reply = Some(reply(302, "moved", format!("Location: {path}?{next}\r\n")));
        return plan;
    }
    let version = if faults.change_after.is_some_and(|k| hit > k) {
        changed_version(&faults.version)
    } else {
        faults.version.clone()
    };
    plan.serve_version(path, &version);
    match (&faults.last_modified, faults.validator) {
        (Some(date), _) => plan.validator = Some(("Last-Modified", date.clone())),
        (None, Validator::ETag) => {}
        (None, Validator::Date) => plan.validator = Some(("Last-Modified", date_of(plan.seed))),
        (None, Validator::None) => plan.validator = None,
    }
    plan.send_buffer = faults.send_buffer;
    if let Some(value) = &faults.content_disposition {
        plan.headers
            .push_str(&format!("Content-Disposition: {value}\r\n"));
    }
    plan.ranges = if faults.ignore_range {
        Ranges::Ignore
    } else if faults.bad_range {
        Ranges::FromZero
    } else {
        Ranges::Honour
    };
    plan.framing = if faults.chunked {
        Framing::UntilClose
    } else if faults.transfer_chunked {
        Framing::Chunked
    } else {
        Framing::ContentLength
    };
    plan.cut = faults
        .cut_at
        .filter(|_| faults.faults.is_none_or(|k| hit <= k));
    plan.stall_after = faults.stall_after;
    plan
}

fn reply(status: u16, body: &str, headers: String) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        headers,
    }
}

/// A Last-Modified date that differs between versions (the weekday is not checked).
fn date_of(seed: u64) -> String {
    let second = seed % 86_400;
    format!(
        "Mon, 01 Jan 2024 {:02}:{:02}:{:02} GMT",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Server;
    use crate::tests::get;

    #[test]
    fn query_parsing() {
        let query = "size=10&latency=5&fail=2&cd=attachment%3B%20filename%3Dx&unknown=1";
        let (plan, faults) = (Plan::parse("/q", query), Faults::parse(query));
        assert_eq!(
            (plan.size, plan.latency, faults.fail),
            (10, Duration::from_millis(5), 2)
        );
        assert_eq!(
            faults.content_disposition.as_deref(),
            Some("attachment; filename=x")
        );
    }

    #[test]
    fn fail_counts_requests_per_path_and_then_serves_the_file() {
        let server = Server::start().unwrap();
        let url = "/f.bin?size=4&fail=2&retry_after=7";
        for _ in 0..2 {
            let response = get(&server, url, "");
            assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
            assert!(response.contains("Retry-After: 7\r\n"), "{response}");
        }
        assert!(get(&server, url, "").starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!((server.hits("/f.bin"), server.hits("/other")), (3, 0));
    }

    #[test]
    fn a_redirect_chain_counts_down() {
        let server = Server::start().unwrap();
        let response = get(&server, "/c.bin?redirects=2&size=3", "");
        assert!(response.starts_with("HTTP/1.1 302 Found\r\n"), "{response}");
        assert!(
            response.contains("Location: /c.bin?redirects=1&size=3\r\n"),
            "{response}"
        );
    }

    #[test]
    fn validators_and_changed_files() {
        let server = Server::start().unwrap();
        let dated = get(&server, "/v.bin?validator=date", "");
        assert!(
            dated.contains("Last-Modified: Mon, 01 Jan 2024 "),
            "{dated}"
        );
        assert!(!dated.contains("ETag"), "{dated}");
        assert!(!get(&server, "/n.bin?validator=none", "").contains("ETag"));
        let url = "/x.bin?size=8&change_after=1";
        let first = crate::etag("/x.bin", "", 8);
        let changed = crate::etag("/x.bin", &changed_version(""), 8);
        assert!(get(&server, url, "").contains(&format!("ETag: {first}\r\n")));
        assert!(get(&server, url, "").contains(&format!("ETag: {changed}\r\n")));
    }
}
