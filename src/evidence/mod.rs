//! The evidence of an apply, for an auditor: a plan joined with the journals of the
//! apply and rollback runs made from it. Per user it holds what the audit found, what
//! was decided (and whether a reviewer overrode the rule), every step the journals
//! record, and what they add up to for each key. Pure: the files are read by the
//! shell, and `html` renders the result.
//!
//! The journals are checked as a whole before they are believed: one run per journal,
//! every line of the plan's account, no journal given twice, and no run that started
//! before the plan was written. What cannot be checked (that an apply replayed this
//! very plan file) is said in notes the report shows.

pub mod html;
mod outcome;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::facts::KeyStatus;
use crate::journal::{Entry, LeftBy, Line, Mode};
use crate::plan::{Plan, PlanUser};
use crate::rule::Decision;

/// A file the evidence was made from, as the reader named it, with its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
}

/// A journal as read, with the file it came from.
#[derive(Debug, Clone)]
pub(crate) struct JournalFile {
    pub file: SourceFile,
    pub entries: Vec<Entry>,
}

/// One apply or rollback run, from its journal's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// "apply 1", "rollback 1", ... in the order the runs started.
    pub label: String,
    pub file: SourceFile,
    pub mode: Mode,
    pub started: DateTime<Utc>,
    pub caller_arn: String,
    pub tool: String,
    /// The plan (apply) or journal (rollback) the run replayed, as its command line named it.
    pub source: String,
    /// The SHA-256 of what it replayed, when its journal records it.
    pub source_sha256: Option<String>,
}

/// One journal line about a user, with the run that wrote it (an index into `runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub run: usize,
    pub entry: Entry,
}

/// Whether IAM was seen to show a change, by re-listing the user's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Verified,
    Unverified,
    /// No verification line followed (the run ended first, or it was the lockout
    /// guard's own change).
    NotRecorded,
}

/// The last change a run made to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub to: KeyStatus,
    pub run: usize,
    pub verified: Verification,
}

/// Something a run recorded about a key after its last change (or with none) that
/// leaves the key other than the run intended, or unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// IAM answered with an error and showed the key unchanged.
    Failed {
        run: usize,
        to: KeyStatus,
        error: String,
    },
    /// No clear answer (`unknown`), or an intent with no outcome (the run ended during
    /// the call): live state decides.
    Uncertain {
        run: usize,
        to: KeyStatus,
        error: Option<String>,
    },
    /// The run left the key alone: it stopped before it (a limit, an interrupt, a
    /// journal failure), or found it drifted.
    NotReached {
        run: usize,
        by: LeftBy,
        reason: String,
    },
}

/// What the journals say about one key, at the end of the last run that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOutcome {
    pub key: String,
    pub changed: Option<Change>,
    /// A run found the key already in the status the plan asked for (and whether
    /// that run then saw the user as intended).
    pub already: Option<(KeyStatus, usize, Verification)>,
    pub problem: Option<KeyProblem>,
}

/// What the journals add up to for one user, in one word for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The plan asks for no change (hold, rotate, exempt, unreadable).
    NoChangePlanned,
    /// A change was planned, and no journal names the user.
    NotApplied,
    /// Keys were deactivated; `complete` when every key the plan names is Inactive by
    /// a change or was found so.
    Deactivated { verified: bool, complete: bool },
    /// Every key the plan names was found already Inactive.
    AlreadyDone { verified: bool },
    /// Keys were re-activated: by a rollback, or by the apply's lockout guard.
    Reactivated { by_rollback: bool },
    /// A key the apply deactivated was found Active again by a later run (a rollback
    /// that journaled it "already Active"): someone else switched it back on, not
    /// keytrim.
    FoundActive,
    /// The user was left alone: drifted, declined, skipped, not reached.
    LeftAlone { by: LeftBy, reason: String },
    /// IAM refused a change: nothing changed for that key.
    Failed,
    /// A change's outcome is unknown: live state decides.
    Uncertain,
    /// The apply's lockout guard could not give the user a key back: the user may have
    /// no active key.
    NoActiveKey { reason: String },
}

/// One user's outcome: the verdict, each key the journals name, and the reason of
/// the last line that left the user alone or reported a lockout, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOutcome {
    pub verdict: Verdict,
    pub keys: Vec<KeyOutcome>,
    pub note: Option<String>,
}

/// One user of the plan with its evidence.
#[derive(Debug, Clone)]
pub struct UserEvidence {
    pub user: PlanUser,
    /// The rule's own decision, when a reviewer overrode it.
    pub overridden: Option<Decision>,
    pub steps: Vec<Step>,
    pub outcome: UserOutcome,
}

/// The whole evidence of one plan.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub plan: Plan,
    pub plan_file: SourceFile,
    /// The commit (or pull request) that approved the plan, as the reader gave it.
    pub reviewed_in: Option<String>,
    pub runs: Vec<Run>,
    pub users: Vec<UserEvidence>,
    /// Journal lines about users or keys that the plan does not list: the journal may
    /// be of another plan of the same account.
    pub strays: Vec<Step>,
    /// What the reader should check by hand (shown in the report and on stderr).
    pub notes: Vec<String>,
    pub made_at: DateTime<Utc>,
    pub made_by: String,
}

/// Why journals cannot be evidence of a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct Mismatch {
    /// The journal's path, as given.
    pub path: String,
    pub detail: String,
}

/// What the evidence is made from, besides the plan and the journals.
#[derive(Debug, Clone)]
pub struct Made {
    pub reviewed_in: Option<String>,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// Join a (validated) plan and its journals. A journal that cannot be evidence of this
/// plan is refused (see the module's doc).
pub(crate) fn assemble(
    plan: Plan,
    plan_file: SourceFile,
    journals: Vec<JournalFile>,
    made: Made,
) -> Result<Evidence, Mismatch> {
    check_journals(&plan, &plan_file, &journals)?;
    let mut runs = runs_of(&journals);
    // Runs in the order they started; journals given in any order.
    let mut order: Vec<usize> = (0..journals.len()).collect();
    order.sort_by_key(|&index| (runs[index].started, index));
    runs = order.iter().map(|&index| runs[index].clone()).collect();
    label_runs(&mut runs);
    let notes = notes_on(&runs);

    let steps: Vec<Step> = order
        .iter()
        .enumerate()
        .flat_map(|(run, &index)| {
            journals[index]
                .entries
                .iter()
                .filter(|entry| !matches!(entry.typed(), Line::Run(_)))
                .map(move |entry| Step {
                    run,
                    entry: entry.clone(),
                })
        })
        .collect();
    // Runs in the order they started, each run's lines in the order it wrote them
    // (not by their stamps: a clock stepped back inside a run must not reorder them).

    let (users, strays) = outcome::users_and_strays(&plan, &runs, steps);
    Ok(Evidence {
        plan,
        plan_file,
        reviewed_in: made.reviewed_in,
        runs,
        users,
        strays,
        notes,
        made_at: made.at,
        made_by: made.by,
    })
}

/// Each journal is one run of this plan (`check_journal`), and given once: not the
/// same file twice, nor two copies of one run (a copy whose line endings changed has
/// another SHA-256 but the same run line).
fn check_journals(
    plan: &Plan,
    plan_file: &SourceFile,
    journals: &[JournalFile],
) -> Result<(), Mismatch> {
    let mut files: HashMap<&str, &str> = HashMap::new();
    let mut runs: HashMap<String, &str> = HashMap::new();
    for journal in journals {
        let refuse = |detail: String| Mismatch {
            path: journal.file.path.clone(),
            detail,
        };
        if let Some(first) = files.insert(&journal.file.sha256, &journal.file.path) {
            return Err(refuse(format!(
                "is the same journal as {first} (same SHA-256): give each run's journal once"
            )));
        }
        check_journal(plan, plan_file, journal).map_err(refuse)?;
        let run_line = journal.entries.first().map(|first| (first.ts, &first.run));
        if let Some(other) = runs.insert(format!("{run_line:?}"), &journal.file.path) {
            return Err(refuse(format!(
                "records the same run as {other} (same start, caller and source): give each run's journal once"
            )));
        }
    }
    Ok(())
}

/// One journal is one run of this plan's account, started after the plan was written
/// (within the clock skew apply allows), and, for an apply that names the plan it
/// replayed by its SHA-256, of this very plan.
fn check_journal(plan: &Plan, plan_file: &SourceFile, journal: &JournalFile) -> Result<(), String> {
    let runs = journal
        .entries
        .iter()
        .filter(|entry| matches!(entry.typed(), Line::Run(_)))
        .count();
    let first = journal.entries.first();
    let (Some(first), Some(run), 1) = (first, first.and_then(|f| f.run.as_ref()), runs) else {
        return Err(format!(
            "holds {runs} runs; a journal is one run's (were journals joined together?)"
        ));
    };
    if let Some((number, other)) = journal
        .entries
        .iter()
        .enumerate()
        .find(|(_, entry)| entry.account_id != plan.account_id)
    {
        return Err(format!(
            "line {}: is a journal of account {}, but the plan is of account {}",
            number + 1,
            other.account_id,
            plan.account_id
        ));
    }
    let skew = chrono::Duration::seconds(crate::plan::load::CLOCK_SKEW_SECONDS);
    if first.ts + skew < plan.generated_at {
        return Err(format!(
            "its run started at {}, before the plan was generated ({}): it is not a run of this plan",
            first.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            plan.generated_at.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    match run.source_sha256.as_deref() {
        // Every keytrim release writes it (it came before the first): a run line
        // without it was edited, or is not keytrim's, and cannot be told apart from
        // another plan's run.
        None => Err(
            "its run line does not record the SHA-256 of the file it replayed, which every keytrim release writes: the journal was edited, or is not keytrim's".to_string(),
        ),
        Some(digest) if run.mode == Mode::Apply && digest != plan_file.sha256 => Err(format!(
            "its apply replayed a plan with SHA-256 {digest}, not this plan ({}): it is not a run of this plan",
            plan_file.sha256
        )),
        Some(_) => Ok(()),
    }
}

/// Each (checked) journal's run.
fn runs_of(journals: &[JournalFile]) -> Vec<Run> {
    journals
        .iter()
        .filter_map(|journal| {
            let first = journal.entries.first()?;
            let run = first.run.as_ref()?;
            Some(Run {
                label: String::new(),
                file: journal.file.clone(),
                mode: run.mode,
                started: first.ts,
                caller_arn: run.caller_arn.clone(),
                tool: run.tool.clone(),
                source: run.source.clone(),
                source_sha256: run.source_sha256.clone(),
            })
        })
        .collect()
}

fn label_runs(runs: &mut [Run]) {
    let (mut applies, mut rollbacks) = (0, 0);
    for run in runs {
        let (name, count) = match run.mode {
            Mode::Apply => ("apply", &mut applies),
            Mode::Rollback => ("rollback", &mut rollbacks),
        };
        *count += 1;
        run.label = format!("{name} {count}");
    }
}

/// The file name of a path as a command line named it.
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// What cannot be proved from the files. An apply of this plan names it by its SHA-256
/// (checked in `check_journals`). A rollback names the journal it undid, which may not
/// be given.
fn notes_on(runs: &[Run]) -> Vec<String> {
    let mut notes = Vec::new();
    let given: Vec<&str> = runs.iter().map(|run| run.file.sha256.as_str()).collect();
    for run in runs {
        let source = file_name(&run.source);
        // Every run names what it replayed by SHA-256 (`check_journals` refuses one
        // that does not).
        if let (Mode::Rollback, Some(digest)) = (run.mode, run.source_sha256.as_deref())
            && !given.contains(&digest)
        {
            notes.push(format!(
                "{} undid the journal `{source}`, which is not among the journals given: the apply it undid is not in this report",
                run.label
            ));
        }
    }
    notes
}

/// Counts of outcomes, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub deactivated: usize,
    pub unverified: usize,
    pub already_done: usize,
    pub reactivated: usize,
    /// Found Active again by a later run: switched on by someone else.
    pub found_active: usize,
    pub left_alone: usize,
    pub failed_or_unknown: usize,
    pub not_applied: usize,
}

/// Where the account stands after the runs, in the plan's users: those the runs
/// brought to one active key, and those still not compliant, by why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndState {
    /// Deactivations done (or found done) and seen so, every planned key Inactive.
    pub brought_into_line: usize,
    /// The apply's lockout guard could not give a key back: the user may have none.
    pub no_active_key: usize,
    /// Users whose kept key is over the maximum age (CIS 1.14), whatever happened.
    pub rotation_due: usize,
    /// Still two or more active keys: held for review.
    pub held: usize,
    /// Exempt: never acted on.
    pub exempt: usize,
    /// IAM refused to show them: not known to be compliant.
    pub unreadable: usize,
    /// `rotate`: no fresh key to keep under the plan's reading.
    pub rotation_pending: usize,
    /// Deactivated (or found so) but never seen so by a verifying listing.
    pub not_verified: usize,
    /// A deactivation planned and not (or not wholly) carried out: not applied,
    /// declined, drifted, failed, unknown, or undone.
    pub not_applied: usize,
}

impl EndState {
    /// Users not known to comply with CIS 1.13 after the runs.
    pub(crate) fn not_compliant(&self) -> usize {
        self.no_active_key
            + self.held
            + self.exempt
            + self.unreadable
            + self.rotation_pending
            + self.not_verified
            + self.not_applied
    }
}

impl Verdict {
    /// The runs brought the user to one active key and a listing saw it so: every
    /// planned key deactivated (or found so), verified.
    pub(crate) fn brought_into_line(&self) -> bool {
        matches!(
            self,
            Verdict::Deactivated {
                complete: true,
                verified: true,
            } | Verdict::AlreadyDone { verified: true }
        )
    }
}

impl Evidence {
    /// Where the account stands after the runs (the plan's users only; the users the
    /// audit found compliant stay so unless someone else acted). Only what a journal
    /// shows verified counts as done.
    pub(crate) fn end_state(&self) -> EndState {
        let mut state = EndState::default();
        for user in &self.users {
            if user.user.rotation_due {
                state.rotation_due += 1;
            }
            let bucket = match (&user.outcome.verdict, user.user.decision) {
                (Verdict::NoActiveKey { .. }, _) => &mut state.no_active_key,
                (verdict, _) if verdict.brought_into_line() => &mut state.brought_into_line,
                (Verdict::Deactivated { complete: true, .. } | Verdict::AlreadyDone { .. }, _) => {
                    &mut state.not_verified
                }
                (_, Decision::Hold) => &mut state.held,
                (_, Decision::Exempt) => &mut state.exempt,
                (_, Decision::Unreadable) => &mut state.unreadable,
                (_, Decision::Rotate) => &mut state.rotation_pending,
                (_, Decision::Deactivate | Decision::Compliant) => &mut state.not_applied,
            };
            *bucket += 1;
        }
        state
    }

    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for user in &self.users {
            match &user.outcome.verdict {
                Verdict::Deactivated { verified, .. } => {
                    tally.deactivated += 1;
                    if !verified {
                        tally.unverified += 1;
                    }
                }
                Verdict::AlreadyDone { .. } => tally.already_done += 1,
                Verdict::Reactivated { .. } => tally.reactivated += 1,
                Verdict::FoundActive => tally.found_active += 1,
                Verdict::LeftAlone { .. } => tally.left_alone += 1,
                Verdict::Failed | Verdict::Uncertain | Verdict::NoActiveKey { .. } => {
                    tally.failed_or_unknown += 1;
                }
                Verdict::NotApplied => tally.not_applied += 1,
                Verdict::NoChangePlanned => {}
            }
        }
        tally
    }
}

#[cfg(test)]
mod tests;
