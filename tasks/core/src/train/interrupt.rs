//! A stop request (Ctrl-C) that training honours at the next step boundary.
//!
//! The binary registers `flag()` with its SIGINT handler; `TrainRun::run` checks it after every
//! step and, when set, writes a checkpoint and returns `Interrupted`. A library never installs a
//! handler itself: the flag stays false in tests and in programs that did not ask for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process-wide stop request, for a signal handler to set.
pub fn flag() -> Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Whether `stop` asks training to stop.
pub(crate) fn requested(stop: &AtomicBool) -> bool {
    stop.load(Ordering::SeqCst)
}

/// The message of a run stopped by a request: the step whose checkpoint was written and how to
/// go on.
pub fn interrupted_message(name: &str, step: usize) -> String {
    format!("{name}: interrupted at step {step}; rerun the same command to resume")
}
