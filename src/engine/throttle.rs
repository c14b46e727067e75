//! `--limit-rate`: one limit for the whole run, shared by every worker.
//!
//! A worker pays for the bytes of each read as it returns: the limit keeps
//! one clock, the moment the next byte may arrive, and every read moves it
//! on by its size over the rate, sleeping the reader until then. So all
//! workers together never get ahead of the rate by more than one read each,
//! however many there are; TCP's flow control then slows the senders. Reads
//! are kept small under a limit (a hundredth of a second's worth), so no
//! single read is a burst. What the kernel buffers before the first read
//! (some 100 KiB a connection) is the one burst a limit cannot prevent.
//!
//! The clock may run a little behind now (`SLACK`): a reader wakes late
//! from its sleep and then spends time in the read itself, and a clock that
//! restarted from now at every read would lose that time on every read
//! (at 100 MiB/s a whole fifth of the rate). A longer pause earns no more
//! credit than that, so a burst after it stays small.

use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::stop::Cancel;

/// How often a throttled worker looks at the cancel flag while it sleeps.
const SLEEP_STEP: Duration = Duration::from_millis(50);
/// The largest read under a limit, and the smallest.
const MAX_READ: usize = 256 * 1024;
const MIN_READ: usize = 4 * 1024;
/// How far the clock may lag behind now: two reads' worth of time.
const SLACK: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub struct Throttle {
    bytes_per_second: f64,
    /// When the next byte may be received: moved on by every read.
    next: Mutex<Instant>,
}

impl Throttle {
    pub fn new(bytes_per_second: u64) -> Throttle {
        Throttle {
            bytes_per_second: bytes_per_second as f64,
            next: Mutex::new(Instant::now()),
        }
    }

    /// How much one read may ask for: a hundredth of a second's worth.
    pub fn read_size(&self) -> usize {
        ((self.bytes_per_second / 100.0) as usize).clamp(MIN_READ, MAX_READ)
    }

    /// Accounts for `bytes` just received, and sleeps until the rate allows
    /// them. A pause in the run earns at most `SLACK` of credit.
    pub fn pay(&self, bytes: usize, cancel: &Cancel) {
        let due = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let start = (*next).max(now.checked_sub(SLACK).unwrap_or(now));
            *next = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
            *next
        };
        while !cancel.aborted() {
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            thread::sleep(left.min(SLEEP_STEP));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_together_keep_to_the_rate() {
        let throttle = Throttle::new(400_000);
        let cancel = Cancel::default();
        let started = Instant::now();
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        throttle.pay(10_000, &cancel);
                    }
                });
            }
        });
        // 400 KB at 400 KB/s: a second, give or take the last read.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }

    #[test]
    fn time_spent_reading_is_not_taken_from_the_rate() {
        // 100 reads of a hundredth of a second's worth, each taking 2 ms
        // to arrive: the rate, not the reads, sets the pace (a second).
        let throttle = Throttle::new(20 << 20);
        let cancel = Cancel::default();
        let started = Instant::now();
        for _ in 0..100 {
            thread::sleep(Duration::from_millis(2));
            throttle.pay(throttle.read_size(), &cancel);
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
        // A clock that lost the 2 ms of every read took 1.2 s or more.
        assert!(elapsed < Duration::from_millis(1180), "{elapsed:?}");
    }

    #[test]
    fn reads_are_a_hundredth_of_a_second_within_bounds() {
        assert_eq!(Throttle::new(1 << 20).read_size(), (1 << 20) / 100);
        assert_eq!(Throttle::new(100).read_size(), MIN_READ);
        assert_eq!(Throttle::new(1 << 40).read_size(), MAX_READ);
    }

    #[test]
    fn ctrl_c_ends_a_throttled_sleep() {
        let throttle = Throttle::new(1);
        let cancel = Cancel::default();
        cancel.abort();
        let started = Instant::now();
        throttle.pay(1_000_000, &cancel);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
