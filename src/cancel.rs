//! Stopping a batch early, shared by every thread of a run.

use std::sync::atomic::{AtomicBool, Ordering};

/// Two levels: `drain` stops new jobs but lets running ones finish (stdout
/// was closed); `abort` also stops running ones at their next chunk (Ctrl-C).
#[derive(Debug, Default)]
pub struct Cancel {
    drain: AtomicBool,
    abort: AtomicBool,
}

impl Cancel {
    pub fn drain(&self) {
        self.drain.store(true, Ordering::Relaxed);
    }

    pub fn abort(&self) {
        self.drain();
        self.abort.store(true, Ordering::Relaxed);
    }

    /// No new job should start.
    pub fn draining(&self) -> bool {
        self.drain.load(Ordering::Relaxed)
    }

    /// Running jobs should stop now.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}
