//! Generated bodies: byte `i` of a path's file is a pure function of
//! (seed, i), with the seed taken from the path and its version. Nothing is
//! stored, so any size costs no memory, and tests can compute what they
//! should have received.

use std::io::{self, Read};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The exact bytes the server sends for `path` (without query) at `size`.
pub fn body(path: &str, size: u64) -> Vec<u8> {
    body_version(path, "", size)
}

/// Like [`body`], for a `version=` variant.
pub fn body_version(path: &str, version: &str, size: u64) -> Vec<u8> {
    let mut out = vec![0; size as usize];
    fill(seed(path, version), 0, &mut out);
    out
}

/// The ETag of `path` at `version` and `size`, as the server sends it.
pub fn etag(path: &str, version: &str, size: u64) -> String {
    etag_of(seed(path, version), size)
}

/// The version a `change_after` path switches to.
pub fn changed_version(version: &str) -> String {
    format!("{version}~changed")
}

pub(crate) fn etag_of(seed: u64, size: u64) -> String {
    format!("\"{seed:016x}-{size}\"")
}

pub(crate) fn seed(path: &str, version: &str) -> u64 {
    let mixed = path
        .bytes()
        .chain(version.bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    splitmix(mixed)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fill(seed: u64, offset: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        let position = offset + i as u64;
        let word = splitmix(seed ^ (position / 8));
        *byte = (word >> ((position % 8) * 8)) as u8;
    }
}

pub(crate) fn sleep_unless_stopping(duration: Duration, stopping: &AtomicBool) {
    sleep_unless(duration, stopping, None);
}

/// Sleeps until `duration` has passed, the server stops, or the client at
/// `peer` hangs up; false for a hang-up. Noticing it at once keeps the
/// count of open connections true while a paced body waits.
fn sleep_unless(duration: Duration, stopping: &AtomicBool, peer: Option<RawFd>) -> bool {
    let deadline = Instant::now() + duration;
    while !stopping.load(Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let step = left.min(Duration::from_millis(20));
        match peer {
            Some(fd) if hung_up(fd, step) => return false,
            Some(_) => {}
            None => thread::sleep(step),
        }
    }
    true
}

/// Waits up to `wait` for the peer at `fd` to close its end.
pub(crate) fn hung_up(fd: RawFd, wait: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    let timeout = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, for the duration of the call.
    let ready = unsafe { libc::poll(&mut poll, 1, timeout) };
    ready > 0 && poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}

/// One response's body bytes, `position..end` of the file, made on the fly.
pub(crate) struct Body<'a> {
    pub(crate) seed: u64,
    pub(crate) position: u64,
    pub(crate) end: u64,
    pub(crate) rate: Option<u64>,
    pub(crate) stall_at: Option<u64>,
    pub(crate) started: Instant,
    pub(crate) sent: u64,
    pub(crate) stopping: &'a AtomicBool,
    /// The client's socket, to stop pacing the moment it hangs up.
    pub(crate) peer: Option<RawFd>,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stall_at.is_some_and(|at| self.position >= at) {
            sleep_unless_stopping(Duration::from_secs(120), self.stopping);
            return Err(io::Error::other("stalled body given up"));
        }
        if self.position >= self.end {
            return Ok(0);
        }
        let mut limit = (self.end - self.position).min(buf.len() as u64);
        if let Some(at) = self.stall_at {
            limit = limit.min(at - self.position);
        }
        if let Some(rate) = self.rate {
            limit = limit.min((rate / 20).max(1));
            // A chunk leaves once the rate has paid for it, so the last byte
            // arrives at size / rate and no pause follows it: a pause after
            // the last byte would hold up the next request on a keep-alive
            // connection and make reused connections look slow.
            let due = Duration::from_secs_f64((self.sent + limit) as f64 / rate as f64);
            let wait = due.saturating_sub(self.started.elapsed());
            if !sleep_unless(wait, self.stopping, self.peer) {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
        }
        let n = limit as usize;
        fill(self.seed, self.position, &mut buf[..n]);
        self.position += limit;
        self.sent += limit;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_deterministic_and_path_specific() {
        assert_eq!(body("/a", 100), body("/a", 100));
        assert_ne!(body("/a", 100), body("/b", 100));
        assert_ne!(body("/a", 100), body_version("/a", "2", 100));
        let whole = body("/a", 1000);
        let mut tail = vec![0; 300];
        fill(seed("/a", ""), 700, &mut tail);
        assert_eq!(&whole[700..], &tail[..]);
    }

    #[test]
    fn a_paced_body_ends_at_size_over_rate_with_no_pause_after() {
        let stopping = AtomicBool::new(false);
        // 2000 bytes at 20 kB/s: two 1000-byte chunks, the last one due at 100 ms.
        let mut body = Body {
            seed: 1,
            position: 0,
            end: 2000,
            rate: Some(20_000),
            stall_at: None,
            started: Instant::now(),
            sent: 0,
            stopping: &stopping,
            peer: None,
        };
        let mut buf = vec![0; 4096];
        let mut total = 0;
        while total < 2000 {
            total += body.read(&mut buf).unwrap();
        }
        assert!(body.started.elapsed() >= Duration::from_millis(100));
        let end = Instant::now();
        assert_eq!(body.read(&mut buf).unwrap(), 0);
        // The old pacing slept a whole chunk period (50 ms) here.
        assert!(
            end.elapsed() < Duration::from_millis(25),
            "{:?}",
            end.elapsed()
        );
    }
}
