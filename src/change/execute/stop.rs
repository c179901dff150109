//! What stops a run from starting changes: Ctrl-C, a journal that cannot be written,
//! and the staged rollout's budget (`--max-changes`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C: no new call starts once it is set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interrupt {
    flag: Arc<AtomicBool>,
    listening: Arc<AtomicBool>,
}

impl Interrupt {
    /// Catch Ctrl-C from now on (once; later calls do nothing).
    pub(crate) fn listen(&self) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let flag = Arc::clone(&self.flag);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("interrupted: finishing the calls in flight, starting no new ones");
                flag.store(true, Ordering::SeqCst);
            }
        });
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
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
pub(crate) struct ChangeBudget {
    pub(super) max: usize,
    taken: std::sync::atomic::AtomicUsize,
}

impl ChangeBudget {
    pub(crate) fn new(max: usize) -> ChangeBudget {
        ChangeBudget {
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
