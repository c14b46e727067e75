//! Ctrl-C and SIGTERM: the first one stops the batch cleanly (no new jobs,
//! running transfers unblocked, `.part` files kept); a second one exits at once.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ureq::Agent;

use crate::cancel::Cancel;

pub const EXIT_INTERRUPTED: u8 = 130;

struct Interrupts {
    cancel: Arc<Cancel>,
    agents: Mutex<Vec<Agent>>,
    count: AtomicU32,
}

static INTERRUPTS: OnceLock<Interrupts> = OnceLock::new();

/// Routes interrupts to `cancel` for the rest of the process.
pub fn install(cancel: Arc<Cancel>) {
    let state = Interrupts {
        cancel,
        agents: Mutex::new(Vec::new()),
        count: AtomicU32::new(0),
    };
    if INTERRUPTS.set(state).is_err() {
        return;
    }
    // Without a handler Ctrl-C still ends the process, just without the summary.
    let _ = ctrlc::set_handler(on_interrupt);
}

/// Lets an interrupt close this agent's connections, so that reads blocked
/// on a silent server return at once instead of after the read timeout.
pub fn watch(agent: &Agent) {
    let Some(state) = INTERRUPTS.get() else {
        return;
    };
    let mut agents = state.agents.lock().unwrap_or_else(PoisonError::into_inner);
    // An interrupt that came before this agent existed must still stop it.
    if state.cancel.aborted() {
        agent.clone().shutdown();
    } else {
        agents.push(agent.clone());
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
    for agent in agents.drain(..) {
        agent.clone().shutdown();
    }
}
