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

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::facts::KeyStatus;
use crate::journal::{Entry, Event, Mode};
use crate::plan::{Plan, PlanUser, standing};
use crate::rule::Decision;

/// A file the evidence was made from, as the reader named it, with its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
}

/// A journal as read, with the file it came from.
#[derive(Debug, Clone)]
pub struct JournalFile {
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
    /// The run stopped before this key (a limit, an interrupt, a journal failure).
    NotReached { run: usize, reason: String },
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
    /// The user was left alone: drifted, declined, skipped, not reached.
    LeftAlone { event: Event, reason: String },
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
pub struct Outcome {
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
    pub outcome: Outcome,
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
pub struct Mismatch {
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
pub fn assemble(
    plan: Plan,
    plan_file: SourceFile,
    journals: Vec<JournalFile>,
    made: Made,
) -> Result<Evidence, Mismatch> {
    check_journals(&plan, &journals)?;
    let mut runs = runs_of(&journals);
    // Runs in the order they started; journals given in any order.
    let mut order: Vec<usize> = (0..journals.len()).collect();
    order.sort_by_key(|&index| (runs[index].started, index));
    runs = order.iter().map(|&index| runs[index].clone()).collect();
    label_runs(&mut runs);
    let notes = notes_on(&plan_file, &runs);

    let mut steps: Vec<Step> = order
        .iter()
        .enumerate()
        .flat_map(|(run, &index)| {
            journals[index]
                .entries
                .iter()
                .filter(|entry| entry.event != Event::Run)
                .map(move |entry| Step {
                    run,
                    entry: entry.clone(),
                })
        })
        .collect();
    // Stable: lines of one run in the same millisecond keep their order.
    steps.sort_by_key(|step| (step.entry.ts, step.run));

    let (users, strays) = users_and_strays(&plan, &runs, steps);
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

/// Each journal is one run of this plan's account, started after the plan was
/// written, and given once.
fn check_journals(plan: &Plan, journals: &[JournalFile]) -> Result<(), Mismatch> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for journal in journals {
        let refuse = |detail: String| Mismatch {
            path: journal.file.path.clone(),
            detail,
        };
        if let Some(first) = seen.insert(&journal.file.sha256, &journal.file.path) {
            return Err(refuse(format!(
                "is the same journal as {first} (same SHA-256): give each run's journal once"
            )));
        }
        let runs = journal
            .entries
            .iter()
            .filter(|entry| entry.event == Event::Run)
            .count();
        let first = journal.entries.first().filter(|first| first.run.is_some());
        let Some(first) = first.filter(|_| runs == 1) else {
            return Err(refuse(format!(
                "holds {runs} runs; a journal is one run's (were journals joined together?)"
            )));
        };
        if let Some((number, other)) = journal
            .entries
            .iter()
            .enumerate()
            .find(|(_, entry)| entry.account_id != plan.account_id)
        {
            return Err(refuse(format!(
                "line {}: is a journal of account {}, but the plan is of account {}",
                number + 1,
                other.account_id,
                plan.account_id
            )));
        }
        if first.ts < plan.generated_at {
            return Err(refuse(format!(
                "its run started at {}, before the plan was generated ({}): it is not a run of this plan",
                first.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                plan.generated_at.format("%Y-%m-%dT%H:%M:%SZ")
            )));
        }
    }
    Ok(())
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

/// What cannot be proved from the files: an apply names the plan it replayed only by
/// the path on its command line, and a rollback the journal it undid.
fn notes_on(plan_file: &SourceFile, runs: &[Run]) -> Vec<String> {
    let mut notes = Vec::new();
    let given: Vec<&str> = runs.iter().map(|run| file_name(&run.file.path)).collect();
    for run in runs {
        let source = file_name(&run.source);
        match run.mode {
            Mode::Apply if source != file_name(&plan_file.path) => notes.push(format!(
                "{} replayed a plan file named `{source}`, not `{}`: check that it is this plan",
                run.label,
                file_name(&plan_file.path)
            )),
            Mode::Rollback if !given.contains(&source) => notes.push(format!(
                "{} undid the journal `{source}`, which is not among the journals given: the apply it undid is not in this report",
                run.label
            )),
            _ => {}
        }
    }
    notes
}

/// Each plan user with its steps, and the steps that name a user or key the plan
/// does not list.
fn users_and_strays(plan: &Plan, runs: &[Run], steps: Vec<Step>) -> (Vec<UserEvidence>, Vec<Step>) {
    let mut users: Vec<UserEvidence> = plan
        .users
        .iter()
        .map(|user| UserEvidence {
            user: user.clone(),
            overridden: match standing::standing(plan, user) {
                Ok(standing::Standing::Override { rule }) => Some(rule),
                _ => None,
            },
            steps: Vec::new(),
            outcome: Outcome {
                verdict: Verdict::NotApplied,
                keys: Vec::new(),
                note: None,
            },
        })
        .collect();
    let mut strays = Vec::new();
    for step in steps {
        let user = users.iter_mut().find(|evidence| {
            step.entry.user_name.as_deref() == Some(evidence.user.user_name.as_str())
        });
        let key_listed = |user: &UserEvidence| {
            step.entry.access_key_id.as_deref().is_none_or(|key| {
                user.user
                    .keys
                    .iter()
                    .any(|planned| planned.access_key_id == key)
            })
        };
        match user {
            Some(user) if key_listed(user) => user.steps.push(step),
            _ => strays.push(step),
        }
    }
    for user in &mut users {
        user.outcome = outcome(&user.user, runs, &user.steps);
    }
    (users, strays)
}

/// The key's record, created on first mention.
fn key_record<'k>(keys: &'k mut Vec<KeyOutcome>, key: &str) -> &'k mut KeyOutcome {
    let index = keys.iter().position(|k| k.key == key).unwrap_or_else(|| {
        keys.push(KeyOutcome {
            key: key.to_string(),
            changed: None,
            already: None,
            problem: None,
        });
        keys.len() - 1
    });
    &mut keys[index]
}

/// Fold one run's lines about a user into the keys' records. Returns the last line
/// that was about the user as a whole and left it alone (drifted, declined, skipped).
fn fold_run<'s>(keys: &mut Vec<KeyOutcome>, run: usize, lines: &[&'s Entry]) -> Option<&'s Entry> {
    let mut pending: Vec<(String, KeyStatus)> = Vec::new();
    let mut left_alone = None;
    for line in lines {
        let text = || line.error.clone().or_else(|| line.reason.clone());
        let (Some(key), Some(to)) = (line.access_key_id.as_deref(), line.to) else {
            match line.event {
                Event::Verified | Event::Unverified => {
                    let verified = if line.event == Event::Verified {
                        Verification::Verified
                    } else {
                        Verification::Unverified
                    };
                    for record in keys.iter_mut() {
                        if let Some(change) = record.changed.as_mut().filter(|c| c.run == run) {
                            change.verified = verified;
                        }
                        if let Some(already) = record.already.as_mut().filter(|a| a.1 == run) {
                            already.2 = verified;
                        }
                    }
                }
                Event::Drifted | Event::Declined | Event::Skipped => left_alone = Some(*line),
                _ => {}
            }
            continue;
        };
        pending.retain(|(pending_key, _)| pending_key != key);
        let record = key_record(keys, key);
        match line.event {
            Event::Intent => pending.push((key.to_string(), to)),
            Event::Done => {
                record.changed = Some(Change {
                    to,
                    run,
                    verified: Verification::NotRecorded,
                });
                record.already = None;
                record.problem = None;
            }
            Event::Failed => {
                record.problem = Some(KeyProblem::Failed {
                    run,
                    to,
                    error: text().unwrap_or_default(),
                });
            }
            Event::Unknown => {
                record.problem = Some(KeyProblem::Uncertain {
                    run,
                    to,
                    error: text(),
                });
            }
            Event::Skipped if line.from == Some(to) => {
                record.already = Some((to, run, Verification::NotRecorded));
                record.problem = None;
            }
            Event::Skipped | Event::Drifted | Event::Declined => {
                record.problem = Some(KeyProblem::NotReached {
                    run,
                    reason: text().unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
    // An intent with no outcome: the run ended during the call.
    for (key, to) in pending {
        key_record(keys, &key).problem = Some(KeyProblem::Uncertain {
            run,
            to,
            error: None,
        });
    }
    left_alone
}

/// What one user's journal lines add up to, run by run in the order the runs started.
pub fn outcome(user: &PlanUser, runs: &[Run], steps: &[Step]) -> Outcome {
    let mut keys: Vec<KeyOutcome> = Vec::new();
    let mut left_alone: Option<&Entry> = None;
    for run in 0..runs.len() {
        let lines: Vec<&Entry> = steps
            .iter()
            .filter(|step| step.run == run)
            .map(|step| &step.entry)
            .collect();
        if let Some(line) = fold_run(&mut keys, run, &lines) {
            left_alone = Some(line);
        }
    }
    let note = left_alone.and_then(|line| line.reason.clone());
    let verdict = verdict_of(user, runs, &keys, left_alone);
    Outcome {
        verdict,
        keys,
        note,
    }
}

fn verdict_of(
    user: &PlanUser,
    runs: &[Run],
    keys: &[KeyOutcome],
    left_alone: Option<&Entry>,
) -> Verdict {
    let reason = || {
        left_alone
            .and_then(|line| line.reason.clone())
            .unwrap_or_default()
    };
    let problems = || keys.iter().filter_map(|k| k.problem.as_ref());
    // The apply's lockout guard tried to give a key back and did not succeed.
    let failed_restore = problems().any(|problem| match problem {
        KeyProblem::Failed { run, to, .. } | KeyProblem::Uncertain { run, to, .. } => {
            *to == KeyStatus::Active && runs[*run].mode == Mode::Apply
        }
        KeyProblem::NotReached { .. } => false,
    });
    if failed_restore {
        return Verdict::NoActiveKey { reason: reason() };
    }
    if problems().any(|p| matches!(p, KeyProblem::Uncertain { .. })) {
        return Verdict::Uncertain;
    }
    if problems().any(|p| matches!(p, KeyProblem::Failed { .. })) {
        return Verdict::Failed;
    }
    let changed: Vec<&Change> = keys.iter().filter_map(|k| k.changed.as_ref()).collect();
    if let Some(change) = changed.iter().find(|c| c.to == KeyStatus::Active) {
        return Verdict::Reactivated {
            by_rollback: runs[change.run].mode == Mode::Rollback,
        };
    }
    let inactive = |id: &String| {
        keys.iter().any(|k| {
            &k.key == id
                && (k
                    .changed
                    .as_ref()
                    .is_some_and(|c| c.to == KeyStatus::Inactive)
                    || k.already.is_some_and(|a| a.0 == KeyStatus::Inactive))
        })
    };
    let complete = !user.deactivate.is_empty() && user.deactivate.iter().all(inactive);
    if !changed.is_empty() {
        return Verdict::Deactivated {
            verified: changed.iter().all(|c| c.verified == Verification::Verified),
            complete,
        };
    }
    let already: Vec<Verification> = keys.iter().filter_map(|k| k.already.map(|a| a.2)).collect();
    if !already.is_empty() && complete {
        return Verdict::AlreadyDone {
            verified: already.iter().all(|v| *v == Verification::Verified),
        };
    }
    if let Some(KeyProblem::NotReached { reason, .. }) = problems().next() {
        return Verdict::LeftAlone {
            event: Event::Skipped,
            reason: reason.clone(),
        };
    }
    let planned = user.decision == Decision::Deactivate && !user.deactivate.is_empty();
    match left_alone {
        // Held, rotated, exempt or unreadable users are journaled as skipped: the plan
        // asked for nothing, and nothing was done.
        _ if !planned => Verdict::NoChangePlanned,
        Some(line) => Verdict::LeftAlone {
            event: line.event,
            reason: reason(),
        },
        None => Verdict::NotApplied,
    }
}

/// A file's SHA-256 in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Counts of outcomes, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub deactivated: usize,
    pub unverified: usize,
    pub already_done: usize,
    pub reactivated: usize,
    pub left_alone: usize,
    pub failed_or_unknown: usize,
    pub not_applied: usize,
}

impl Evidence {
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
mod tests {
    use super::*;
    use crate::journal::RunInfo;
    use crate::plan::render::tests::every_decision_plan;

    const ACCOUNT: &str = "123456789012";
    /// alice's key to deactivate, and the one she keeps, in `every_decision_plan`.
    const ALICE_OLD: &str = "AKIAEXAMPLEALICE0001";
    const ALICE_NEW: &str = "AKIAEXAMPLEALICE0002";

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-29T13:{minute:02}:00Z"))
            .unwrap()
            .to_utc()
    }

    fn journal(mode: Mode, started: u32, lines: Vec<Entry>) -> JournalFile {
        let mut first = Entry::new(Event::Run, ACCOUNT, "");
        first.user_name = None;
        first.ts = at(started);
        first.run = Some(RunInfo {
            mode,
            source: match mode {
                Mode::Apply => "plans/123456789012.yaml".into(),
                Mode::Rollback => "10.journal.jsonl".into(),
            },
            tool: "keytrim test".into(),
            caller_arn: "arn:aws:iam::123456789012:user/ops".into(),
        });
        let mut entries = vec![first];
        entries.extend(lines);
        JournalFile {
            file: SourceFile {
                path: format!("{started}.journal.jsonl"),
                sha256: format!("{started:064}"),
            },
            entries,
        }
    }

    fn line(minute: u32, event: Event, user: &str) -> Entry {
        let mut entry = Entry::new(event, ACCOUNT, user);
        entry.ts = at(minute);
        entry
    }

    /// A line about one of alice's keys going `from` → `to`, as execute writes it.
    fn key_line(minute: u32, event: Event, key: &str, from: KeyStatus, to: KeyStatus) -> Entry {
        line(minute, event, "alice").key(key, from, to)
    }

    fn off(minute: u32, event: Event, key: &str) -> Entry {
        key_line(minute, event, key, KeyStatus::Active, KeyStatus::Inactive)
    }

    fn on(minute: u32, event: Event, key: &str) -> Entry {
        key_line(minute, event, key, KeyStatus::Inactive, KeyStatus::Active)
    }

    fn evidence_of(journals: Vec<JournalFile>) -> Result<Evidence, Mismatch> {
        assemble(
            every_decision_plan(),
            SourceFile {
                path: "plans/123456789012.yaml".into(),
                sha256: "1".repeat(64),
            },
            journals,
            Made {
                reviewed_in: None,
                at: at(59),
                by: "keytrim test".into(),
            },
        )
    }

    fn outcome_of(evidence: &Evidence, user: &str) -> Outcome {
        evidence
            .users
            .iter()
            .find(|u| u.user.user_name == user)
            .unwrap()
            .outcome
            .clone()
    }

    fn verdict_of_alice(lines: Vec<Entry>) -> Verdict {
        let evidence = evidence_of(vec![journal(Mode::Apply, 10, lines)]).unwrap();
        outcome_of(&evidence, "alice").verdict
    }

    /// An apply as keytrim writes it: alice's old key deactivated and verified, hank
    /// skipped as held.
    fn apply_of_alice(start: u32) -> JournalFile {
        journal(
            Mode::Apply,
            start,
            vec![
                line(start, Event::Skipped, "hank").reason("decision hold: used 2 days ago"),
                off(start + 1, Event::Intent, ALICE_OLD),
                off(start + 1, Event::Done, ALICE_OLD),
                line(start + 2, Event::Verified, "alice")
                    .reason(format!("{ALICE_OLD} now Inactive")),
            ],
        )
    }

    fn rollback_of_alice(start: u32, lines: Vec<Entry>) -> JournalFile {
        journal(Mode::Rollback, start, lines)
    }

    #[test]
    fn without_journals_a_planned_change_is_not_applied_and_the_rest_asks_for_none() {
        let evidence = evidence_of(Vec::new()).unwrap();
        assert_eq!(outcome_of(&evidence, "alice").verdict, Verdict::NotApplied);
        for user in ["hank", "rita", "erin"] {
            assert_eq!(
                outcome_of(&evidence, user).verdict,
                Verdict::NoChangePlanned,
                "{user}"
            );
        }
        assert_eq!(evidence.tally().not_applied, 1);
    }

    #[test]
    fn a_verified_deactivation_is_complete_and_a_held_user_asked_for_nothing() {
        let evidence = evidence_of(vec![apply_of_alice(10)]).unwrap();
        let alice = outcome_of(&evidence, "alice");
        assert_eq!(
            alice.verdict,
            Verdict::Deactivated {
                verified: true,
                complete: true
            }
        );
        assert_eq!(alice.keys.len(), 1);
        assert_eq!(alice.keys[0].key, ALICE_OLD);
        assert_eq!(
            outcome_of(&evidence, "hank").verdict,
            Verdict::NoChangePlanned
        );
        let hank_steps = &evidence
            .users
            .iter()
            .find(|u| u.user.user_name == "hank")
            .unwrap()
            .steps;
        assert_eq!(hank_steps.len(), 1, "the skip is listed all the same");
    }

    /// A re-run writes what a real re-run writes: the key skipped as already Inactive,
    /// then "verified: already in the intended state". Given alone, it says so; given
    /// after the first apply, the first apply's change still shows.
    #[test]
    fn a_rerun_reads_as_already_done_and_never_as_interrupted() {
        let rerun = || {
            journal(
                Mode::Apply,
                30,
                vec![
                    key_line(
                        31,
                        Event::Skipped,
                        ALICE_OLD,
                        KeyStatus::Inactive,
                        KeyStatus::Inactive,
                    )
                    .reason("already Inactive"),
                    line(31, Event::Verified, "alice").reason("already in the intended state"),
                ],
            )
        };
        let alone = evidence_of(vec![rerun()]).unwrap();
        assert_eq!(
            outcome_of(&alone, "alice").verdict,
            Verdict::AlreadyDone { verified: true }
        );
        assert_eq!(alone.tally().already_done, 1);
        let both = evidence_of(vec![rerun(), apply_of_alice(10)]).unwrap();
        let alice = outcome_of(&both, "alice");
        assert_eq!(
            alice.verdict,
            Verdict::Deactivated {
                verified: true,
                complete: true
            }
        );
        let labels: Vec<&str> = both.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["apply 1", "apply 2"]);
    }

    /// The apply deactivated and verified; a later rollback re-activated. Given in
    /// either order, the journals are read in the order the runs started.
    #[test]
    fn a_rollback_after_the_apply_decides_whatever_order_the_journals_come_in() {
        let rollback = rollback_of_alice(
            20,
            vec![
                on(21, Event::Intent, ALICE_OLD),
                on(21, Event::Done, ALICE_OLD),
                line(22, Event::Verified, "alice").reason(format!("{ALICE_OLD} now Active")),
            ],
        );
        let evidence = evidence_of(vec![rollback, apply_of_alice(10)]).unwrap();
        let alice = outcome_of(&evidence, "alice");
        assert_eq!(alice.verdict, Verdict::Reactivated { by_rollback: true });
        assert_eq!(
            alice.keys[0].changed,
            Some(Change {
                to: KeyStatus::Active,
                run: 1,
                verified: Verification::Verified
            })
        );
        assert!(evidence.notes.is_empty(), "{:?}", evidence.notes);
    }

    /// A rollback whose call got no clear answer may have re-activated the key: it
    /// must not read as the apply's verified deactivation.
    #[test]
    fn a_rollback_that_may_have_landed_is_unknown_not_deactivated() {
        for ending in [
            vec![
                on(21, Event::Intent, ALICE_OLD),
                on(21, Event::Unknown, ALICE_OLD).error("timed out"),
            ],
            vec![on(21, Event::Intent, ALICE_OLD)],
        ] {
            let evidence =
                evidence_of(vec![apply_of_alice(10), rollback_of_alice(20, ending)]).unwrap();
            assert_eq!(outcome_of(&evidence, "alice").verdict, Verdict::Uncertain);
            assert_eq!(evidence.tally().failed_or_unknown, 1);
        }
    }

    /// One key deactivated and another refused: the refusal is the verdict, and the
    /// changed key is still listed.
    #[test]
    fn one_keys_success_does_not_hide_another_keys_failure() {
        let mut plan_keys = every_decision_plan();
        let alice = plan_keys
            .users
            .iter_mut()
            .find(|u| u.user_name == "alice")
            .unwrap();
        assert!(alice.keys.iter().any(|k| k.access_key_id == ALICE_NEW));
        let verdict = verdict_of_alice(vec![
            off(11, Event::Intent, ALICE_OLD),
            off(11, Event::Done, ALICE_OLD),
            off(12, Event::Intent, ALICE_NEW),
            off(12, Event::Failed, ALICE_NEW).error("AccessDenied"),
        ]);
        assert_eq!(verdict, Verdict::Failed);
    }

    /// The lockout guard: keytrim's change left no active key, so the apply re-activated
    /// the key. Restored, it says so; not restored, it says the user may have none.
    #[test]
    fn the_lockout_guard_is_reported_and_a_failed_restore_is_the_worst_verdict() {
        let lockout = |restore: Vec<Entry>, reason: &str| {
            let mut lines = vec![
                off(11, Event::Intent, ALICE_OLD),
                off(11, Event::Done, ALICE_OLD),
                on(12, Event::Intent, ALICE_OLD)
                    .reason("re-activating: the user has no active key"),
            ];
            lines.extend(restore);
            lines.push(line(13, Event::Drifted, "alice").reason(reason));
            lines
        };
        assert_eq!(
            verdict_of_alice(lockout(
                vec![on(12, Event::Done, ALICE_OLD)],
                "no active key after deactivating it; re-activated it"
            )),
            Verdict::Reactivated { by_rollback: false }
        );
        let reason =
            "no active key after deactivating it; re-activating failed, the user HAS NO ACTIVE KEY";
        assert_eq!(
            verdict_of_alice(lockout(
                vec![on(12, Event::Failed, ALICE_OLD).error("AccessDenied")],
                reason
            )),
            Verdict::NoActiveKey {
                reason: reason.into()
            }
        );
    }

    #[test]
    fn each_other_ending_of_a_run_is_its_own_verdict() {
        let cases: Vec<(Vec<Entry>, Verdict)> = vec![
            (
                vec![
                    off(11, Event::Intent, ALICE_OLD),
                    off(11, Event::Done, ALICE_OLD),
                    line(12, Event::Unverified, "alice").reason("not seen in 30 s"),
                ],
                Verdict::Deactivated {
                    verified: false,
                    complete: true,
                },
            ),
            (
                vec![
                    off(11, Event::Intent, ALICE_OLD),
                    off(11, Event::Done, ALICE_OLD),
                ],
                Verdict::Deactivated {
                    verified: false,
                    complete: true,
                },
            ),
            (
                vec![
                    off(11, Event::Intent, ALICE_OLD),
                    off(11, Event::Failed, ALICE_OLD).error("AccessDenied"),
                ],
                Verdict::Failed,
            ),
            (
                vec![
                    off(11, Event::Intent, ALICE_OLD),
                    off(11, Event::Unknown, ALICE_OLD).error("timed out"),
                ],
                Verdict::Uncertain,
            ),
            (vec![off(11, Event::Intent, ALICE_OLD)], Verdict::Uncertain),
            (
                vec![off(11, Event::Skipped, ALICE_OLD).reason("limit before this key")],
                Verdict::LeftAlone {
                    event: Event::Skipped,
                    reason: "limit before this key".into(),
                },
            ),
            (
                vec![line(11, Event::Drifted, "alice").reason("a third key")],
                Verdict::LeftAlone {
                    event: Event::Drifted,
                    reason: "a third key".into(),
                },
            ),
            (
                vec![line(11, Event::Declined, "alice").reason("declined at the prompt")],
                Verdict::LeftAlone {
                    event: Event::Declined,
                    reason: "declined at the prompt".into(),
                },
            ),
        ];
        for (lines, expected) in cases {
            assert_eq!(verdict_of_alice(lines.clone()), expected, "{lines:?}");
        }
    }

    /// Lines about a user or key the plan does not list are kept apart, never folded
    /// into a listed user's outcome.
    #[test]
    fn lines_about_users_or_keys_outside_the_plan_are_strays() {
        let stray = journal(
            Mode::Apply,
            10,
            vec![
                line(11, Event::Skipped, "zed"),
                off(12, Event::Done, "AKIAEXAMPLEOTHER0001"),
            ],
        );
        let evidence = evidence_of(vec![stray]).unwrap();
        assert_eq!(evidence.strays.len(), 2);
        assert_eq!(outcome_of(&evidence, "alice").verdict, Verdict::NotApplied);
    }

    /// Journals that cannot be evidence of this plan are refused, each with its reason.
    #[test]
    fn journals_that_cannot_be_of_this_plan_are_refused() {
        let mut other_account = apply_of_alice(10);
        other_account.entries[2].account_id = "210987654321".into();
        let mut earlier = journal(Mode::Apply, 10, Vec::new());
        earlier.entries[0].ts = every_decision_plan().generated_at - chrono::Duration::minutes(1);
        let mut joined = apply_of_alice(10);
        joined
            .entries
            .extend(rollback_of_alice(20, Vec::new()).entries);
        let cases = vec![
            (
                vec![other_account],
                "line 3: is a journal of account 210987654321, but the plan is of account 123456789012",
            ),
            (vec![joined], "holds 2 runs"),
            (
                vec![apply_of_alice(10), apply_of_alice(10)],
                "is the same journal as 10.journal.jsonl",
            ),
            // every_decision_plan was generated at 12:00; this run started at 11:59.
            (vec![earlier], "before the plan was generated"),
        ];
        for (journals, expected) in cases {
            let mismatch = evidence_of(journals).unwrap_err();
            assert!(mismatch.detail.contains(expected), "{mismatch:?}");
        }
    }

    /// What the files cannot prove is said: an apply of a plan file with another name,
    /// a rollback whose apply journal is not given.
    #[test]
    fn an_apply_of_another_file_and_a_rollback_without_its_apply_are_noted() {
        let mut apply = apply_of_alice(10);
        apply.entries[0].run.as_mut().unwrap().source = "plans/old.yaml".into();
        let rollback = rollback_of_alice(20, Vec::new());
        let mut orphan = rollback.clone();
        orphan.entries[0].run.as_mut().unwrap().source = "plans/lost.journal.jsonl".into();
        let evidence = evidence_of(vec![apply, orphan]).unwrap();
        assert_eq!(evidence.notes.len(), 2, "{:?}", evidence.notes);
        assert!(evidence.notes[0].contains("apply 1 replayed a plan file named `old.yaml`"));
        assert!(evidence.notes[1].contains("rollback 1 undid the journal `lost.journal.jsonl`"));
    }

    /// Every string a plan, a journal or the reader can set, hostile, in one document:
    /// none becomes markup, and hidden controls are written out.
    #[test]
    fn every_string_from_outside_is_escaped() {
        let hostile = "<b id=x>\"'&\u{202e}";
        let mut plan = every_decision_plan();
        plan.generated_by = hostile.into();
        for user in &mut plan.users {
            user.reason = hostile.into();
            user.error = Some(hostile.into());
            for key in &mut user.keys {
                key.description = Some(hostile.into());
                key.last_used_service = Some(hostile.into());
                key.last_used_region = Some(hostile.into());
            }
        }
        let mut journal = apply_of_alice(10);
        for entry in &mut journal.entries {
            entry.reason = Some(hostile.into());
            entry.error = Some(hostile.into());
            if let Some(run) = &mut entry.run {
                run.tool = hostile.into();
                run.source = hostile.into();
                run.caller_arn = hostile.into();
            }
        }
        journal.file.path = hostile.into();
        journal
            .entries
            .push(line(40, Event::Skipped, "zed").reason(hostile));
        let evidence = assemble(
            plan,
            SourceFile {
                path: hostile.into(),
                sha256: "1".repeat(64),
            },
            vec![journal],
            Made {
                reviewed_in: Some(hostile.into()),
                at: at(59),
                by: "keytrim test".into(),
            },
        )
        .unwrap();
        let document = html::render(&evidence);
        assert!(!document.contains("<b id"), "{document}");
        assert!(!document.contains('\u{202e}'), "{document}");
        let shown = document
            .matches("&lt;b id=x&gt;&quot;'&amp;\\u{202e}")
            .count();
        assert!(shown > 20, "{shown}: {document}");
    }
}
