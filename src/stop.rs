//! Stopping a batch early: the cancel flag every thread of a run reads, and
//! the signals that set it.
//!
//! The first Ctrl-C (or SIGTERM, SIGHUP) stops the batch cleanly: no new
//! jobs, running transfers unblocked by closing their connections, parts kept
//! for `-c`. When the cleanup is done, `main` re-raises the signal with its
//! default action (`die_by_signal`), so the parent sees a death by signal and
//! `for u in ...; do tget "$u"; done` stops too. A second signal ends the
//! process at once, by the same signal.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use ureq::Agent;

/// Two levels: `drain` stops new jobs but lets running ones finish (stdout
/// was closed, or `halt`: the disk is full); `abort` also stops running ones
/// at their next read (Ctrl-C).
#[derive(Debug, Default)]
pub struct Cancel {
    drain: AtomicBool,
    abort: AtomicBool,
    /// Why the batch stopped starting jobs, when a job said every other would fail too.
    halted: Mutex<Option<String>>,
}

impl Cancel {
    pub fn drain(&self) {
        self.drain.store(true, Ordering::Relaxed);
    }

    /// Stops new jobs because of `reason`, which the first caller gives.
    pub fn halt(&self, reason: &str) {
        lock(&self.halted).get_or_insert_with(|| reason.to_string());
        self.drain();
    }

    /// Why `halt` stopped the batch, if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
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

struct Interrupts {
    cancel: Arc<Cancel>,
    agents: Mutex<Vec<(u64, Agent)>>,
    next_id: AtomicU64,
    /// The first signal received, re-raised at the end; 0 for none.
    signal: AtomicI32,
}

static INTERRUPTS: OnceLock<Interrupts> = OnceLock::new();
/// What must be said before a second signal ends the process at once (the
/// display shows the cursor again). Set by whoever needs it; this module
/// knows nothing of what it does.
static LAST_WORDS: OnceLock<fn()> = OnceLock::new();

/// Runs `words` just before a second signal ends the process, which skips
/// every destructor. Only the first call counts.
pub fn set_last_words(words: fn()) {
    let _ = LAST_WORDS.set(words);
}

/// Routes interrupts to `cancel` for the rest of the process.
pub fn install(cancel: Arc<Cancel>) {
    let state = Interrupts {
        cancel,
        agents: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(0),
        signal: AtomicI32::new(0),
    };
    if INTERRUPTS.set(state).is_err() {
        return;
    }
    // Without a handler a signal still ends the process, just without cleanup.
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("tget-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                on_signal(signal);
            }
        });
}

/// The signal that stopped the run, if one did.
pub fn received() -> Option<i32> {
    let signal = INTERRUPTS.get()?.signal.load(Ordering::SeqCst);
    (signal != 0).then_some(signal)
}

/// Ends the process by the signal that interrupted it, with that signal's
/// default action, as if tget had never caught it. Returns only if no
/// signal was received or re-raising failed.
pub fn die_by_signal() {
    if let Some(signal) = received() {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
}

/// Lets an interrupt close this agent's connections, so that reads blocked
/// on a silent server return at once instead of after the read timeout,
/// until the returned guard is dropped (then the agent, and its idle
/// connections, can go: a long bench makes many agents).
#[must_use = "the agent is watched only while the guard lives"]
pub fn watch(agent: &Agent) -> Watched {
    let Some(state) = INTERRUPTS.get() else {
        return Watched(None);
    };
    let mut agents = lock(&state.agents);
    // An interrupt that came before this agent existed must still stop it.
    if state.cancel.aborted() {
        agent.clone().shutdown();
        return Watched(None);
    }
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    agents.push((id, agent.clone()));
    Watched(Some(id))
}

/// Keeps one agent on the interrupt list; see `watch`.
pub struct Watched(Option<u64>);

impl Drop for Watched {
    fn drop(&mut self) {
        if let (Some(id), Some(state)) = (self.0, INTERRUPTS.get()) {
            lock(&state.agents).retain(|(watched, _)| *watched != id);
        }
    }
}

fn on_signal(signal: i32) {
    let Some(state) = INTERRUPTS.get() else {
        return;
    };
    if state.signal.swap(signal, Ordering::SeqCst) != 0 {
        if let Some(words) = LAST_WORDS.get() {
            words();
        }
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        std::process::exit(128 + signal);
    }
    state.cancel.abort();
    for (_, agent) in lock(&state.agents).drain(..) {
        agent.shutdown();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
