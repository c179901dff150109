//! What stops a run from starting changes: Ctrl-C, a journal that cannot be written,
//! and the staged rollout's budget (`--max-changes`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit code of a run ended by Ctrl-C (128 + SIGINT), as `ExitStatus::Interrupted`.
const EXIT_INTERRUPTED: i32 = 130;

/// Set by Ctrl-C: no new call starts once it is set (but the read-backs a change
/// already sent needs). A second Ctrl-C ends the process at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interrupt {
    flag: Arc<AtomicBool>,
    listening: Arc<AtomicBool>,
    /// Wakes the reads that give way to an interrupt (`stopped`).
    raised: Arc<tokio::sync::Notify>,
}

impl Interrupt {
    /// Catch Ctrl-C from now on (once; later calls do nothing).
    pub(crate) fn listen(&self) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let interrupt = self.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!(
                    "interrupted: finishing the calls in flight, starting no new ones (Ctrl-C again to stop at once)"
                );
                interrupt.set();
            }
            // A second Ctrl-C ends the run at once, as a kill would: every journal
            // line is on disk when written, and an intent without an outcome is what
            // rollback and report read live state for.
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!(
                    "interrupted again: stopping now; an intent without an outcome in the journal is settled by rollback from live state"
                );
                std::process::exit(EXIT_INTERRUPTED);
            }
        });
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.raised.notify_waiters();
    }

    /// Ready once the run is interrupted.
    pub(crate) async fn stopped(&self) {
        let raised = self.raised.notified();
        if self.is_set() {
            return;
        }
        raised.await;
    }
}

/// Why a run stops starting changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// Ctrl-C.
    Interrupted,
    /// A journal write failed: no change may start that could not be recorded.
    JournalFailed,
}

impl StopCause {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            StopCause::Interrupted => "interrupted",
            StopCause::JournalFailed => "not started: the journal could not be written",
        }
    }
}

/// How many keys a run may still change (`--max-changes`), shared by its users.
#[derive(Debug)]
pub(crate) struct MaxChanges {
    pub(super) max: usize,
    taken: std::sync::atomic::AtomicUsize,
}

impl MaxChanges {
    pub(crate) fn new(max: usize) -> MaxChanges {
        MaxChanges {
            max,
            taken: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Take `keys` changes for one user, all or none, so that no user is left half
    /// done by the limit. False when they do not fit.
    pub(crate) fn take(&self, keys: usize) -> bool {
        self.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |taken| {
                (taken + keys <= self.max).then_some(taken + keys)
            })
            .is_ok()
    }
}
