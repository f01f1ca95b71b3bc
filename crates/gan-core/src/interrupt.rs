//! A request to stop a run early and cleanly (Ctrl-C): the binary's signal handler sets it, the
//! trainer checks it after every step, saves a resumable checkpoint and returns. A flag, not a
//! signal handler of its own, so that a library user decides how a stop is asked; the handler
//! asks [`training`] whether a trainer is there to honour it (outside training a stop can be
//! immediate).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static TRAINING: AtomicUsize = AtomicUsize::new(0);

/// Marks a trainer's run as under way while it lives.
pub(crate) struct Training(());

impl Training {
    pub(crate) fn start() -> Self {
        TRAINING.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for Training {
    fn drop(&mut self) {
        TRAINING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a trainer is running (and checks for a stop after every step).
pub fn training() -> bool {
    TRAINING.load(Ordering::SeqCst) > 0
}

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
