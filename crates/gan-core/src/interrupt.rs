//! A request to stop a run early and cleanly (Ctrl-C, SIGTERM): the binary's signal handler
//! sets it, the trainer checks it after every step, saves a resumable checkpoint and returns.
//! A flag, not a signal handler of its own, so that a library user decides how a stop is asked.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Asks running training to checkpoint and return at the end of its current step.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop has been asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Withdraws a stop request (tests, and programs that train several runs in turn).
pub fn clear_stop() {
    STOP.store(false, Ordering::SeqCst);
}
