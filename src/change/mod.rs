//! The change engine, shared by apply and rollback: one run in one account, from its
//! journal to its exit code. A run journals what it leaves alone, asks per user (or
//! takes `--yes`), listens for Ctrl-C, carries the changes out (`execute`) with
//! progress, and hands its summary to the reporter. Apply and rollback are siblings
//! that differ only in what they plan to change (`apply`: a plan's deactivations;
//! `rollback`: a journal's) and how they check drift (`drift`).

pub(crate) mod apply;
pub(crate) mod drift;
pub(crate) mod execute;
mod reach;
pub(crate) mod reporter;
pub(crate) mod rollback;
pub(crate) mod rotate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::aws::Clients;
use crate::bounded;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::facts::Caller;
use crate::journal::{Journal, LeftBy, Mode, RunInfo, UserLine};

pub(crate) use reach::{RunTarget, reach_and_guard};
use reporter::{Reporter, RunSummary};

use execute::{Interrupt, MaxChanges, Outcome, RunState, StopCause, UserChange, UserReport};

/// What apply and rollback were asked to do.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub yes: bool,
    pub dry_run: bool,
    /// `--concurrency` and `--max-in-flight`.
    pub concurrency: crate::aws::concurrency::Concurrency,
    pub verify_timeout: Duration,
    /// apply `--max-changes`: keys the whole run may change.
    pub max_changes: Option<usize>,
    /// `--account-concurrency`: plans (accounts) carried out at once.
    pub accounts_in_progress: usize,
}

impl RunOptions {
    /// Users in progress in one run: twice `--concurrency`, so that a user waiting out
    /// a back-off leaves its place to another; `--concurrency` itself under
    /// `--max-changes`, so that the keys its budget covers follow the plan's order as
    /// closely as `--concurrency` allows (one at a time with `--concurrency 1`).
    fn users_in_progress(&self) -> usize {
        if self.max_changes.is_some() {
            self.concurrency.per_account()
        } else {
            self.concurrency.users_in_progress()
        }
    }

    /// How many runs go side by side: one at a time under `--max-changes`, so that which
    /// keys its budget covers follows the order of the plans, as a reviewer reads them.
    fn side_by_side(&self) -> usize {
        if self.max_changes.is_some() {
            1
        } else {
            self.accounts_in_progress
        }
    }
}

/// Which way a run changes keys is the journal's `Mode`: apply turns keys from Active
/// to Inactive, rollback from Inactive back to Active. Its words for people are here.
impl Mode {
    /// "deactivate", as in "would deactivate AKIA...".
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Mode::Apply => "deactivate",
            Mode::Rollback => "reactivate",
        }
    }

    /// "deactivated", as in "deactivated AKIA..., verified".
    pub(crate) fn past(self) -> &'static str {
        match self {
            Mode::Apply => "deactivated",
            Mode::Rollback => "reactivated",
        }
    }

    /// The command, as the refusal without a terminal names it.
    fn command(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Rollback => "roll back",
        }
    }

    /// What the summary says when there was nothing at all to do.
    fn nothing_to_do(self) -> Option<&'static str> {
        match self {
            Mode::Apply => None,
            Mode::Rollback => Some("nothing to roll back: the journal shows no key deactivated"),
        }
    }
}

/// What a run is: an apply, a rollback, or a dry run of either, which changes nothing
/// and writes nothing, not even a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunMode {
    Apply,
    Rollback,
    DryRun(Mode),
}

impl RunMode {
    pub(crate) fn new(action: Mode, dry_run: bool) -> RunMode {
        match (action, dry_run) {
            (action, true) => RunMode::DryRun(action),
            (Mode::Apply, false) => RunMode::Apply,
            (Mode::Rollback, false) => RunMode::Rollback,
        }
    }

    pub(crate) fn action(self) -> Mode {
        match self {
            RunMode::Apply => Mode::Apply,
            RunMode::Rollback => Mode::Rollback,
            RunMode::DryRun(action) => action,
        }
    }

    pub(crate) fn is_dry_run(self) -> bool {
        matches!(self, RunMode::DryRun(_))
    }

    /// The run's title: `subject` is "<path> (account <id>)".
    fn title(self, subject: &str, journal: Option<&Path>) -> String {
        let journal =
            journal.map_or_else(String::new, |path| format!(", journal {}", path.display()));
        match self {
            RunMode::Apply => format!("apply {subject}{journal}"),
            RunMode::Rollback => format!("rollback of {subject}{journal}"),
            RunMode::DryRun(Mode::Apply) => {
                format!("dry run of {subject}: nothing was changed")
            }
            RunMode::DryRun(Mode::Rollback) => {
                format!("dry run of the rollback of {subject}: nothing was changed")
            }
        }
    }
}

/// What the person answered at the per-user prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// y: this user.
    Yes,
    /// n: skip this user.
    No,
    /// a: this user and all the rest.
    All,
    /// q: skip this user and all the rest.
    Quit,
    /// ?: print help and ask again.
    Help,
    /// Ctrl-C, or the terminal went away: stop everything.
    Interrupted,
}

/// Where a run's journal goes.
#[derive(Debug, Clone)]
pub(crate) enum JournalTarget {
    /// `--journal PATH`: never overwritten.
    Named(PathBuf),
    /// A default name, numbered if taken.
    Numbered(PathBuf),
}

/// Everything a run needs to start.
pub(crate) struct RunSetup<'r> {
    pub mode: RunMode,
    pub clients: Clients,
    pub caller: Caller,
    pub account_id: String,
    /// The plan or journal the run replays, and the SHA-256 of what was read of it.
    pub source: PathBuf,
    pub source_sha256: String,
    pub journal: JournalTarget,
    /// Run-wide, across the plans of one apply.
    pub interrupt: Interrupt,
    pub budget: Option<Arc<MaxChanges>>,
    pub options: &'r RunOptions,
    pub reporter: &'r dyn Reporter,
}

/// One run of changes in one account: apply of one plan, or rollback of one journal.
pub(crate) struct ChangeRun<'r> {
    mode: RunMode,
    ctx: RunState,
    source: PathBuf,
    options: &'r RunOptions,
    reporter: &'r dyn Reporter,
    reports: Vec<UserReport>,
}

impl<'r> ChangeRun<'r> {
    /// Start a run: its journal, unless it is a dry run.
    pub(crate) fn start(setup: RunSetup<'r>) -> Result<ChangeRun<'r>> {
        let journal = match setup.mode {
            RunMode::DryRun(_) => None,
            RunMode::Apply | RunMode::Rollback => {
                let run = RunInfo {
                    mode: setup.mode.action(),
                    source: setup.source.display().to_string(),
                    tool: format!("keytrim {}", env!("CARGO_PKG_VERSION")),
                    caller_arn: setup.caller.arn.clone(),
                    source_sha256: Some(setup.source_sha256.clone()),
                };
                let journal = match &setup.journal {
                    JournalTarget::Named(path) => Journal::create(path, &setup.account_id, run)?,
                    JournalTarget::Numbered(path) => {
                        Journal::create_numbered(path, &setup.account_id, run)?
                    }
                };
                Some(Arc::new(journal))
            }
        };
        Ok(ChangeRun {
            mode: setup.mode,
            ctx: RunState {
                clients: setup.clients,
                account_id: setup.account_id,
                mode: setup.mode,
                journal,
                interrupt: setup.interrupt,
                verify_timeout: setup.options.verify_timeout,
                budget: setup.budget,
            },
            source: setup.source,
            options: setup.options,
            reporter: setup.reporter,
            reports: Vec::new(),
        })
    }

    /// A user the run leaves alone from the start (held, rotate, exempt): journaled
    /// with `reason`, reported as `outcome`.
    pub(crate) fn leave_alone(
        &mut self,
        user_name: &str,
        reason: String,
        outcome: Outcome,
    ) -> Result<()> {
        self.record(user_name, LeftBy::Skipped, &reason)?;
        self.reports.push(UserReport {
            user_name: user_name.to_string(),
            outcome,
        });
        Ok(())
    }

    /// Ask about `changes` (unless `--yes` or a dry run), then wait with the approved
    /// ones until every run of the command has been asked about: prompts come one at
    /// a time, run after run. `order` lists the users as the summary shows them; users
    /// not in it follow in the order they ran.
    pub(crate) fn confirm(
        mut self,
        changes: Vec<UserChange>,
        order: Vec<String>,
    ) -> Result<ConfirmedRun<'r>> {
        let approved = if self.options.yes || self.mode.is_dry_run() {
            changes
        } else {
            self.ask_per_user(changes)?
        };
        Ok(ConfirmedRun {
            run: self,
            approved,
            order: order
                .into_iter()
                .enumerate()
                .map(|(index, name)| (name, index))
                .collect(),
        })
    }

    /// Report the run with what its changes came to, and return its exit status.
    fn finish(
        mut self,
        done: Vec<UserReport>,
        order: &HashMap<String, usize>,
    ) -> Result<ExitStatus> {
        self.reports.extend(done);
        self.reports
            .sort_by_key(|report| order.get(&report.user_name).copied());
        let subject = format!(
            "{} (account {})",
            self.source.display(),
            self.ctx.account_id
        );
        let journal_path = self.ctx.journal.as_ref().map(|journal| journal.path());
        let action = self.mode.action();
        self.reporter.run_finished(&RunSummary {
            title: self.mode.title(&subject, journal_path),
            action,
            reports: &self.reports,
            nothing_to_do: action.nothing_to_do(),
        });
        journal_failure(&self.ctx)?;
        Ok(exit_status(&self.reports, self.ctx.interrupt.is_set()))
    }

    /// Ask per user; returns the changes approved, and records the declined ones. On
    /// Ctrl-C at a prompt, sets the interrupt and approves nothing; after Ctrl-C at an
    /// earlier run's prompt, asks nothing.
    fn ask_per_user(&mut self, changes: Vec<UserChange>) -> Result<Vec<UserChange>> {
        let mut approved = Vec::new();
        let stopped_before = self.ctx.interrupt.is_set();
        let mut answer_rest: Option<Answer> = stopped_before.then_some(Answer::Interrupted);
        let interrupted_reason = if stopped_before {
            "not asked: interrupted at an earlier prompt"
        } else {
            "interrupted at the prompt"
        };
        for work in changes {
            let answer = match answer_rest {
                // Nothing to ask: reading changes nothing, whatever the answer to the
                // rest (but Ctrl-C, which stops everything).
                Some(answer) if answer != Answer::Interrupted && work.only_reads() => Answer::Yes,
                None if work.only_reads() => Answer::Yes,
                Some(answer) => answer,
                None => {
                    let reporter = self.reporter;
                    let answer = tokio::task::block_in_place(|| reporter.ask(&work));
                    if matches!(answer, Answer::All | Answer::Quit | Answer::Interrupted) {
                        answer_rest = Some(answer);
                    }
                    answer
                }
            };
            let name = work.user_name().to_string();
            let (outcome, by, reason) = match answer {
                Answer::Yes | Answer::All => {
                    approved.push(work);
                    continue;
                }
                Answer::Interrupted => (interrupted(), LeftBy::Skipped, interrupted_reason),
                _ => (
                    Outcome::Declined,
                    LeftBy::Declined,
                    "declined at the prompt",
                ),
            };
            self.record(&name, by, reason)?;
            self.reports.push(UserReport {
                user_name: name,
                outcome,
            });
        }
        if answer_rest == Some(Answer::Interrupted) {
            self.ctx.interrupt.set();
            for work in approved.drain(..) {
                let name = work.user_name().to_string();
                self.record(&name, LeftBy::Skipped, interrupted_reason)?;
                self.reports.push(UserReport {
                    user_name: name,
                    outcome: interrupted(),
                });
            }
        }
        Ok(approved)
    }

    /// Journal that the run left `user_name` alone, by what and why.
    fn record(&self, user_name: &str, by: LeftBy, reason: &str) -> Result<()> {
        let line = UserLine::LeftAlone { by, reason }.entry(&self.ctx.account_id, user_name);
        match &self.ctx.journal {
            Some(journal) => journal.record(&line),
            None => Ok(()),
        }
    }
}

/// A run whose users have been asked about: its changes wait to be carried out.
pub(crate) struct ConfirmedRun<'r> {
    run: ChangeRun<'r>,
    approved: Vec<UserChange>,
    /// Each user's place in the summary.
    order: HashMap<String, usize>,
}

/// Ask about every started run in turn with `confirm` (prompts one at a time, run after
/// run), then carry them all out. A run that fails while asked about stops the
/// command before any change.
pub(crate) async fn confirm_and_carry_out<'r, T>(
    started: Vec<(ChangeRun<'r>, T)>,
    mut confirm: impl FnMut(ChangeRun<'r>, T) -> Result<ConfirmedRun<'r>>,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<ExitStatus> {
    let mut confirmed = Vec::with_capacity(started.len());
    for (run, what) in started {
        match confirm(run, what) {
            Ok(ready) => confirmed.push(ready),
            Err(err) => return abandon(confirmed, err),
        }
    }
    carry_out(confirmed, options.side_by_side(), reporter).await
}

/// Journal that the approved changes of `runs` were never started, because `cause`
/// stopped the command before any change; then return `cause`. Best effort: the
/// journal's own failure may be what `cause` is.
fn abandon<T>(runs: Vec<ConfirmedRun<'_>>, cause: Error) -> Result<T> {
    let reason = format!("not started: {cause}");
    for confirmed in runs {
        for work in &confirmed.approved {
            let _ = confirmed
                .run
                .record(work.user_name(), LeftBy::Skipped, &reason);
        }
    }
    Err(cause)
}

/// Carry out the changes of every run, `side_by_side` runs (accounts) at once (one at a
/// time when two runs share an account), each with its own journal and within the
/// run's budget of calls in flight; then report every run in the order given. The exit
/// status is the worst of them; a journal that failed is an error (exit 1) once every
/// run has been reported: each run stops itself, and the others go on.
async fn carry_out(
    runs: Vec<ConfirmedRun<'_>>,
    side_by_side: usize,
    reporter: &dyn Reporter,
) -> Result<ExitStatus> {
    let Some(first) = runs.first() else {
        return Ok(ExitStatus::Ok);
    };
    let (interrupt, in_progress) = (
        first.run.ctx.interrupt.clone(),
        first.run.options.users_in_progress(),
    );
    // Two runs in one account go one after the other, as a person would run them:
    // side by side, each would check its keys before the other changed them.
    let mut accounts: Vec<&str> = runs
        .iter()
        .map(|run| run.run.ctx.account_id.as_str())
        .collect();
    accounts.sort_unstable();
    let side_by_side = if accounts.windows(2).any(|pair| pair[0] == pair[1]) {
        1
    } else {
        side_by_side
    };
    // Ctrl-C is caught from here on; at a prompt it was read as an answer.
    interrupt.listen();
    let progress = reporter.progress("users");
    progress.set_total(runs.iter().map(|run| run.approved.len() as u64).sum());
    let mut waiting = Vec::with_capacity(runs.len());
    let mut work = Vec::with_capacity(runs.len());
    for confirmed in runs {
        work.push((confirmed.run.ctx.clone(), confirmed.approved));
        waiting.push((confirmed.run, confirmed.order));
    }
    let tick = progress.clone();
    let done = bounded::map(work, side_by_side, move |(ctx, approved)| {
        let tick = tick.clone();
        async move { execute::run_all(&ctx, approved, in_progress, &tick).await }
    })
    .await;
    progress.finish();
    let mut worst = ExitStatus::Ok;
    let mut first_failure = None;
    for ((run, order), done) in waiting.into_iter().zip(done) {
        match run.finish(done, &order) {
            Ok(status) => worst = worst.max(status),
            // Reported once every run has printed its summary.
            Err(err) => {
                first_failure.get_or_insert(err);
            }
        }
    }
    match first_failure {
        Some(err) => Err(err),
        None => Ok(worst),
    }
}

/// A user not reached because of Ctrl-C.
fn interrupted() -> Outcome {
    Outcome::Stopped {
        changed: Vec::new(),
        cause: StopCause::Interrupted,
    }
}

/// How much one user's outcome weighs in the run's exit status: interrupted over
/// error over partial over ok. Every outcome is named, so a new one cannot fall
/// through to ok unseen.
fn exit_weight(outcome: &Outcome) -> ExitStatus {
    match outcome {
        Outcome::Stopped {
            cause: StopCause::Interrupted,
            ..
        } => ExitStatus::Interrupted,
        Outcome::Failed { .. }
        | Outcome::Unknown { .. }
        | Outcome::JournalFailed { .. }
        | Outcome::LockoutAverted { .. }
        | Outcome::Stopped { .. } => ExitStatus::Error,
        Outcome::Declined
        | Outcome::Held { .. }
        | Outcome::Drifted { .. }
        | Outcome::PartlyDrifted { .. }
        | Outcome::Unverified { .. }
        | Outcome::Limited { .. } => ExitStatus::Partial,
        Outcome::Verified { .. }
        | Outcome::WouldChange { .. }
        | Outcome::Skipped { .. }
        | Outcome::HandedOff { .. }
        | Outcome::WouldHandOff { .. }
        | Outcome::Restored { .. }
        | Outcome::WouldRestore { .. } => ExitStatus::Ok,
    }
}

/// The exit status of a run's reports: the heaviest outcome's (`ExitStatus` is
/// ordered so), or interrupted when the run was.
pub(crate) fn exit_status(reports: &[UserReport], interrupted: bool) -> ExitStatus {
    if interrupted {
        return ExitStatus::Interrupted;
    }
    reports
        .iter()
        .map(|report| exit_weight(&report.outcome))
        .max()
        .unwrap_or(ExitStatus::Ok)
}

/// After the summary: a journal that failed is an error of the whole run.
fn journal_failure(ctx: &RunState) -> Result<()> {
    match ctx.journal.as_ref().and_then(|journal| {
        journal
            .failure()
            .map(|detail| (journal.path().to_path_buf(), detail))
    }) {
        Some((path, detail)) => Err(Error::JournalIncomplete { path, detail }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
