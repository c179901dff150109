//! Progress over work whose total may grow as it is found (users, as ListUsers pages
//! arrive): the seam through which the audit and the change engine report how far
//! they are, without drawing anything. The shell draws it (`shell::progress`).

use std::sync::Arc;

/// Progress over items ("users") whose total may grow as they are found.
pub(crate) trait Progress: Send + Sync + std::fmt::Debug {
    fn set_total(&self, total: u64);
    fn add_to_total(&self, more: u64);
    fn advance(&self);
    /// Done: whatever was shown goes away.
    fn finish(&self);
}

/// Progress nobody sees: several accounts at once, or no terminal.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _: u64) {}
    fn add_to_total(&self, _: u64) {}
    fn advance(&self) {}
    fn finish(&self) {}
}

/// Progress shared by the tasks of a run.
pub(crate) type SharedProgress = Arc<dyn Progress>;
