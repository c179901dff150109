//! What a change run tells the person running it, and asks them, without printing:
//! progress over users, the per-user confirmation, and the run's summary. The change
//! engine calls this trait; the shell implements it (`shell::terminal`).

use crate::progress::SharedProgress;

use super::Answer;
use super::execute::{UserChange, UserReport};
use crate::journal::Mode;

/// One change run's result, for its summary.
#[derive(Debug)]
pub(crate) struct RunSummary<'a> {
    /// What ran: "apply plans/x.yaml (account ...), journal ...", or the dry run's title.
    pub title: String,
    pub action: Mode,
    pub reports: &'a [UserReport],
    /// Said instead of an empty list, when there was nothing to do.
    pub nothing_to_do: Option<&'static str>,
}

/// The person at the other end of a change run.
pub(crate) trait Reporter: Send + Sync {
    /// Progress over `what` ("users").
    fn progress(&self, what: &'static str) -> SharedProgress;
    /// Whether anyone can answer `ask` (a terminal on standard input).
    fn can_ask(&self) -> bool;
    /// Show what `work` would change, then ask whether to, until answered.
    fn ask(&self, work: &UserChange) -> Answer;
    /// A run ended.
    fn run_finished(&self, run: &RunSummary<'_>);
}
