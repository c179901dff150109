//! What the core tells the person running keytrim, and asks them, without printing:
//! progress over users, the per-user confirmation, and each change run's summary. The
//! core calls these traits; the shell (`app`, with `progress`, `prompt` and `summary`)
//! implements them with indicatif and dialoguer on stderr.

use std::sync::Arc;

use crate::change::{Action, Answer, execute::UserReport};

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

/// One change run's result, for its summary.
#[derive(Debug)]
pub(crate) struct RunSummary<'a> {
    /// What ran: "apply plans/x.yaml (account ...), journal ...", or the dry run's title.
    pub title: String,
    pub action: Action,
    pub reports: &'a [UserReport],
    /// Said instead of an empty list, when there was nothing to do.
    pub nothing_to_do: Option<&'static str>,
}

/// The person at the other end of a change run.
pub(crate) trait Reporter: Send + Sync {
    /// Progress over `what` ("users").
    fn progress(&self, what: &'static str) -> SharedProgress;
    /// Show `what`, then ask `question [y,n,a,q,?]` until answered.
    fn ask(&self, what: &str, question: &str) -> Answer;
    /// A run ended.
    fn run_finished(&self, run: &RunSummary<'_>);
}
