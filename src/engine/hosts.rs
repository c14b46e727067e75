//! `--max-per-host N`: at most N connections to one host (scheme, host and
//! port) at once, whole files and shared ranges together.
//!
//! A job takes its host's slot when the input thread queues it, and gives it
//! back when it ends; a range of a shared file takes one when an idle worker
//! takes the range. A job whose host is full waits in the input thread's
//! window (see `pool`) while jobs for other hosts go ahead of it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender, bounded};
use ureq::http::Uri;

/// The slots of every host of one run.
#[derive(Debug)]
pub struct Hosts {
    /// `None`: no limit but the thread count, and no bookkeeping at all.
    limit: Option<usize>,
    busy: Mutex<HashMap<String, usize>>,
    /// Wakes the input thread when a slot comes free.
    freed: Sender<()>,
}

impl Hosts {
    /// The hosts of a run, and the input thread's end of the "a slot is
    /// free" line.
    pub fn new(limit: Option<usize>) -> (Hosts, Receiver<()>) {
        let (freed, wake) = bounded(1);
        let hosts = Hosts {
            limit,
            busy: Mutex::new(HashMap::new()),
            freed,
        };
        (hosts, wake)
    }

    /// Takes a slot of `url`'s host if it has one free.
    pub fn try_take(&self, url: &str) -> Option<Slot> {
        let Some(limit) = self.limit else {
            return Some(Slot(None));
        };
        let key = host_key(url);
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = busy.entry(key.clone()).or_default();
        if *taken >= limit {
            return None;
        }
        *taken += 1;
        Some(Slot(Some(key)))
    }

    /// Whether `url`'s host has a slot free now (it may be gone by the time
    /// one is asked for).
    pub fn has_room(&self, url: &str) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.get(&host_key(url)).is_none_or(|&taken| taken < limit)
    }

    /// Gives a slot back, and tells the input thread.
    pub fn give_back(&self, slot: Slot) {
        let Some(key) = slot.0 else { return };
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(taken) = busy.get_mut(&key) {
            *taken -= 1;
            if *taken == 0 {
                // Kept only while in use: a million hosts cost nothing after.
                busy.remove(&key);
            }
        }
        let _ = self.freed.try_send(());
    }
}

/// One connection's claim on its host; give it back with `Hosts::give_back`.
#[derive(Debug)]
#[must_use = "a slot not given back keeps its host one connection short"]
pub struct Slot(Option<String>);

impl Slot {
    /// No claim: for what takes no connection (a list line that is not a job).
    pub fn none() -> Slot {
        Slot(None)
    }
}

/// `scheme://host:port`, the port made explicit, so `http://h/` and
/// `http://h:80/` are one host and `http://h:8080/` another.
pub fn host_key(url: &str) -> String {
    let Ok(uri) = url.parse::<Uri>() else {
        return url.to_string();
    };
    let scheme = uri.scheme_str().unwrap_or("http");
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    format!(
        "{scheme}://{}:{port}",
        uri.host().unwrap_or_default().to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_scheme_host_and_port() {
        assert_eq!(host_key("http://H/x"), host_key("http://h:80/y"));
        assert_ne!(host_key("http://h/x"), host_key("http://h:8080/x"));
        assert_ne!(host_key("http://h/x"), host_key("https://h/x"));
    }

    #[test]
    fn a_full_host_gives_no_slot_until_one_comes_back() {
        let (hosts, wake) = Hosts::new(Some(2));
        let a = hosts.try_take("http://a/1").unwrap();
        let _a2 = hosts.try_take("http://a/2").unwrap();
        assert!(hosts.try_take("http://a/3").is_none());
        assert!(
            hosts.try_take("http://b/1").is_some(),
            "other hosts go ahead"
        );
        hosts.give_back(a);
        assert!(wake.try_recv().is_ok(), "the input thread is told");
        assert!(hosts.try_take("http://a/3").is_some());
    }

    #[test]
    fn without_a_limit_every_slot_is_free_and_nothing_is_kept() {
        let (hosts, _) = Hosts::new(None);
        let slots: Vec<Slot> = (0..100)
            .map(|_| hosts.try_take("http://a/").unwrap())
            .collect();
        assert!(hosts.busy.lock().unwrap().is_empty());
        for slot in slots {
            hosts.give_back(slot);
        }
    }
}
