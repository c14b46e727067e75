//! `--max-per-host N`: at most N connections to one host (scheme, host and
//! port) at once, whole files and shared ranges together.
//!
//! A job takes its host's slot when it is queued for a worker, and gives it
//! back when it ends; a range of a shared file takes one when an idle worker
//! takes the range. A job whose host is full waits (`Waiting`) while jobs
//! for other hosts go ahead of it, and a worker that finishes takes it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use ureq::http::Uri;

/// The slots of every host of one run.
#[derive(Debug)]
pub struct Hosts {
    /// `None`: no limit but the thread count, and no bookkeeping at all.
    limit: Option<usize>,
    busy: Mutex<HashMap<String, usize>>,
}

impl Hosts {
    pub fn new(limit: Option<usize>) -> Hosts {
        Hosts {
            limit,
            busy: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a host can ever be full: without a limit nothing waits.
    pub fn limited(&self) -> bool {
        self.limit.is_some()
    }

    /// Takes a slot of `url`'s host if it has one free.
    pub fn try_take(&self, url: &str) -> Option<Slot> {
        match self.limit {
            None => Some(Slot(None)),
            Some(_) => self.try_take_key(host_key(url)),
        }
    }

    /// Takes a slot of the host `key` (see `host_key`) if it has one free.
    pub fn try_take_key(&self, key: String) -> Option<Slot> {
        let Some(limit) = self.limit else {
            return Some(Slot(None));
        };
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
        self.limit.is_none() || self.has_room_for(&host_key(url))
    }

    /// Whether the host `key` (see `host_key`) has a free slot.
    pub fn has_room_for(&self, key: &str) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.get(key).is_none_or(|&taken| taken < limit)
    }

    /// Gives a slot back.
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

/// Jobs waiting for a slot of their host, queued per host, so that finding
/// one that can go costs a look at each host, not at each job. The oldest
/// (in list order) of those whose host has room goes first.
#[derive(Debug)]
pub struct Waiting<T> {
    by_host: HashMap<String, VecDeque<(u64, T)>>,
    len: usize,
    next: u64,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Waiting {
            by_host: HashMap::new(),
            len: 0,
            next: 0,
        }
    }
}

impl<T> Waiting<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, key: String, item: T) {
        self.by_host
            .entry(key)
            .or_default()
            .push_back((self.next, item));
        self.next += 1;
        self.len += 1;
    }

    /// The oldest item whose host `hosts` has a slot for, with the slot.
    pub fn take(&mut self, hosts: &Hosts) -> Option<(T, Slot)> {
        let mut keys: Vec<(u64, &String)> = self
            .by_host
            .iter()
            .filter_map(|(key, queue)| queue.front().map(|(seq, _)| (*seq, key)))
            .collect();
        keys.sort_unstable();
        let (slot, key) = keys
            .into_iter()
            .find_map(|(_, key)| Some((hosts.try_take_key(key.clone())?, key.clone())))?;
        let queue = self.by_host.get_mut(&key).expect("a key just seen");
        let (_, item) = queue.pop_front().expect("a queue with a front");
        if queue.is_empty() {
            self.by_host.remove(&key);
        }
        self.len -= 1;
        Some((item, slot))
    }

    /// Every item, oldest first.
    pub fn drain(&mut self) -> Vec<T> {
        let mut all: Vec<(u64, T)> = self.by_host.drain().flat_map(|(_, q)| q).collect();
        all.sort_unstable_by_key(|(seq, _)| *seq);
        self.len = 0;
        all.into_iter().map(|(_, item)| item).collect()
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
        // As in a sidecar's URL, whose password is hidden.
        assert_eq!(host_key("http://u:***@H:8/x"), host_key("http://h:8/"));
    }

    #[test]
    fn a_full_host_gives_no_slot_until_one_comes_back() {
        let hosts = Hosts::new(Some(2));
        let a = hosts.try_take("http://a/1").unwrap();
        let _a2 = hosts.try_take("http://a/2").unwrap();
        assert!(hosts.try_take("http://a/3").is_none());
        assert!(
            hosts.try_take("http://b/1").is_some(),
            "other hosts go ahead"
        );
        hosts.give_back(a);
        assert!(hosts.try_take("http://a/3").is_some());
    }

    #[test]
    fn the_oldest_job_whose_host_has_room_goes_first() {
        let hosts = Hosts::new(Some(1));
        let mut waiting = Waiting::default();
        for (host, job) in [("a", 1), ("a", 2), ("b", 3), ("a", 4)] {
            waiting.push(host_key(&format!("http://{host}/")), job);
        }
        let busy_a = hosts.try_take("http://a/").unwrap();
        let (job, slot_b) = waiting.take(&hosts).unwrap();
        assert_eq!(job, 3, "a is full, so b's job goes though it is later");
        assert!(waiting.take(&hosts).is_none(), "both hosts full now");
        hosts.give_back(busy_a);
        assert_eq!(waiting.take(&hosts).unwrap().0, 1);
        hosts.give_back(slot_b);
        assert_eq!(waiting.drain(), [2, 4]);
        assert!(waiting.is_empty());
    }

    #[test]
    fn without_a_limit_every_slot_is_free_and_nothing_is_kept() {
        let hosts = Hosts::new(None);
        let slots: Vec<Slot> = (0..100)
            .map(|_| hosts.try_take("http://a/").unwrap())
            .collect();
        assert!(hosts.busy.lock().unwrap().is_empty());
        for slot in slots {
            hosts.give_back(slot);
        }
    }
}
