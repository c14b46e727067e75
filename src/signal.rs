//! Ctrl-C and SIGTERM: the first one stops the batch cleanly (no new jobs,
//! running transfers unblocked, `.part` files kept); a second one exits at once.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ureq::Agent;

use crate::cancel::Cancel;

pub const EXIT_INTERRUPTED: u8 = 130;

struct Interrupts {
    cancel: Arc<Cancel>,
    agents: Mutex<Vec<(u64, Agent)>>,
    next_id: AtomicU64,
    count: AtomicU32,
}

static INTERRUPTS: OnceLock<Interrupts> = OnceLock::new();

/// Routes interrupts to `cancel` for the rest of the process.
pub fn install(cancel: Arc<Cancel>) {
    let state = Interrupts {
        cancel,
        agents: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(0),
        count: AtomicU32::new(0),
    };
    if INTERRUPTS.set(state).is_err() {
        return;
    }
    // Without a handler Ctrl-C still ends the process, just without the summary.
    let _ = ctrlc::set_handler(on_interrupt);
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
    let mut agents = state.agents.lock().unwrap_or_else(PoisonError::into_inner);
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
            let mut agents = state.agents.lock().unwrap_or_else(PoisonError::into_inner);
            agents.retain(|(watched, _)| *watched != id);
        }
    }
}

fn on_interrupt() {
    let Some(state) = INTERRUPTS.get() else {
        return;
    };
    if state.count.fetch_add(1, Ordering::SeqCst) > 0 {
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    }
    state.cancel.abort();
    let mut agents = state.agents.lock().unwrap_or_else(PoisonError::into_inner);
    for (_, agent) in agents.drain(..) {
        agent.shutdown();
    }
}
