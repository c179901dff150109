//! The evidence of an apply, for an auditor: a plan joined with the journals of the
//! apply and rollback runs made from it. Per user it holds what the audit found, what
//! was decided (and whether a reviewer overrode the rule), every step the journals
//! record and the outcome they add up to. Pure: the files are read by the shell, and
//! `html` renders the result.

pub mod html;

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
    /// No verification line followed (the run ended first).
    NotRecorded,
}

/// What the journals add up to for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The plan asks for no change (hold, rotate, exempt, unreadable).
    NoChangePlanned,
    /// A change was planned, and no journal names the user.
    NotApplied,
    /// keys deactivated by an apply.
    Deactivated {
        keys: Vec<String>,
        verified: Verification,
    },
    /// keys re-activated by a rollback.
    RolledBack {
        keys: Vec<String>,
        verified: Verification,
    },
    /// keys re-activated by the apply itself, which found the user locked out.
    Restored {
        keys: Vec<String>,
        verified: Verification,
    },
    /// IAM answered the call with an error: nothing changed.
    Failed { error: String },
    /// The call got no clear answer: live state decides.
    Unknown { error: String },
    /// The user was left alone: drifted, declined, skipped (with the reason).
    LeftAlone { event: Event, reason: String },
    /// The run recorded an intent and nothing after it (it was killed).
    Interrupted,
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

/// Join a (validated) plan and its journals. A journal of another account is refused:
/// it cannot be evidence of this plan.
pub fn assemble(
    plan: Plan,
    plan_file: SourceFile,
    journals: Vec<JournalFile>,
    made: Made,
) -> Result<Evidence, Mismatch> {
    let mut runs = runs_of(&plan, &journals)?;
    // Runs in the order they started; journals given in any order.
    let mut order: Vec<usize> = (0..journals.len()).collect();
    order.sort_by_key(|&index| (runs[index].started, index));
    runs = order.iter().map(|&index| runs[index].clone()).collect();
    label_runs(&mut runs);

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
    steps.sort_by_key(|step| (step.entry.ts, step.run));

    let (users, strays) = users_and_strays(&plan, &runs, steps);
    Ok(Evidence {
        plan,
        plan_file,
        reviewed_in: made.reviewed_in,
        runs,
        users,
        strays,
        made_at: made.at,
        made_by: made.by,
    })
}

/// Each journal's run, refusing a journal of another account.
fn runs_of(plan: &Plan, journals: &[JournalFile]) -> Result<Vec<Run>, Mismatch> {
    journals
        .iter()
        .map(|journal| {
            let first = journal.entries.first();
            let (Some(first), Some(run)) = (first, first.and_then(|f| f.run.as_ref())) else {
                return Err(Mismatch {
                    path: journal.file.path.clone(),
                    detail: "not a keytrim journal (no run line)".to_string(),
                });
            };
            if first.account_id != plan.account_id {
                return Err(Mismatch {
                    path: journal.file.path.clone(),
                    detail: format!(
                        "is a journal of account {}, but the plan is of account {}",
                        first.account_id, plan.account_id
                    ),
                });
            }
            Ok(Run {
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
            outcome: Outcome::NotApplied,
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

/// What one user's steps add up to. The latest run that changed a key decides; when
/// no run changed one, the latest run that named the user does.
pub fn outcome(user: &PlanUser, runs: &[Run], steps: &[Step]) -> Outcome {
    let planned = user.decision == Decision::Deactivate && !user.deactivate.is_empty();
    let changed = |run: usize| {
        steps
            .iter()
            .any(|step| step.run == run && step.entry.event == Event::Done)
    };
    let deciding = steps
        .iter()
        .map(|step| step.run)
        .filter(|&run| changed(run))
        .max()
        .or_else(|| steps.iter().map(|step| step.run).max());
    let any_change = steps.iter().any(|step| step.entry.event == Event::Done);
    let Some(run) = deciding.filter(|_| planned || any_change) else {
        return if planned {
            Outcome::NotApplied
        } else {
            // Held, rotated, exempt or unreadable users are journaled as skipped: the
            // plan asked for nothing, and nothing was done.
            Outcome::NoChangePlanned
        };
    };
    let in_run: Vec<&Entry> = steps
        .iter()
        .filter(|step| step.run == run)
        .map(|step| &step.entry)
        .collect();
    outcome_of_run(runs[run].mode, &in_run)
}

/// What one run did to one user, from its lines in order.
fn outcome_of_run(mode: Mode, lines: &[&Entry]) -> Outcome {
    let done: Vec<&&Entry> = lines
        .iter()
        .filter(|line| line.event == Event::Done)
        .collect();
    if let Some(last) = done.last() {
        let to = last.to;
        let keys: Vec<String> = done
            .iter()
            .filter(|line| line.to == to)
            .filter_map(|line| line.access_key_id.clone())
            .collect();
        let verified = lines
            .iter()
            .rev()
            .find_map(|line| match line.event {
                Event::Verified => Some(Verification::Verified),
                Event::Unverified => Some(Verification::Unverified),
                _ => None,
            })
            .unwrap_or(Verification::NotRecorded);
        return match (to, mode) {
            (Some(KeyStatus::Active), Mode::Rollback) => Outcome::RolledBack { keys, verified },
            (Some(KeyStatus::Active), Mode::Apply) => Outcome::Restored { keys, verified },
            _ => Outcome::Deactivated { keys, verified },
        };
    }
    let text = |line: &Entry| {
        line.error
            .clone()
            .or_else(|| line.reason.clone())
            .unwrap_or_default()
    };
    if let Some(line) = lines.iter().find(|line| line.event == Event::Unknown) {
        return Outcome::Unknown { error: text(line) };
    }
    if let Some(line) = lines.iter().find(|line| line.event == Event::Failed) {
        return Outcome::Failed { error: text(line) };
    }
    match lines.last() {
        Some(line)
            if matches!(
                line.event,
                Event::Drifted | Event::Declined | Event::Skipped
            ) =>
        {
            Outcome::LeftAlone {
                event: line.event,
                reason: text(line),
            }
        }
        _ => Outcome::Interrupted,
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
    pub rolled_back: usize,
    pub left_alone: usize,
    pub failed_or_unknown: usize,
    pub not_applied: usize,
}

impl Evidence {
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for user in &self.users {
            match &user.outcome {
                Outcome::Deactivated { verified, .. } => {
                    tally.deactivated += 1;
                    if *verified != Verification::Verified {
                        tally.unverified += 1;
                    }
                }
                Outcome::RolledBack { .. } | Outcome::Restored { .. } => tally.rolled_back += 1,
                Outcome::LeftAlone { .. } => tally.left_alone += 1,
                Outcome::Failed { .. } | Outcome::Unknown { .. } | Outcome::Interrupted => {
                    tally.failed_or_unknown += 1;
                }
                Outcome::NotApplied => tally.not_applied += 1,
                Outcome::NoChangePlanned => {}
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
    const ALICE_OLD: &str = "AKIAEXAMPLEALICE0001";

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
            source: "plan.yaml".into(),
            tool: "keytrim test".into(),
            caller_arn: "arn:aws:iam::123456789012:user/ops".into(),
        });
        let mut entries = vec![first];
        entries.extend(lines);
        JournalFile {
            file: SourceFile {
                path: format!("{started}.journal.jsonl"),
                sha256: "0".repeat(64),
            },
            entries,
        }
    }

    fn line(minute: u32, event: Event, user: &str) -> Entry {
        let mut entry = Entry::new(event, ACCOUNT, user);
        entry.ts = at(minute);
        entry
    }

    fn change(minute: u32, event: Event, key: &str, to: KeyStatus) -> Entry {
        let from = match to {
            KeyStatus::Active => KeyStatus::Inactive,
            KeyStatus::Inactive => KeyStatus::Active,
        };
        line(minute, event, "alice").key(key, from, to)
    }

    fn evidence_of(journals: Vec<JournalFile>) -> Result<Evidence, Mismatch> {
        assemble(
            every_decision_plan(),
            SourceFile {
                path: "plan.yaml".into(),
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

    fn apply_of_alice(start: u32) -> JournalFile {
        journal(
            Mode::Apply,
            start,
            vec![
                change(start + 1, Event::Intent, ALICE_OLD, KeyStatus::Inactive),
                change(start + 1, Event::Done, ALICE_OLD, KeyStatus::Inactive),
                line(start + 2, Event::Verified, "alice").reason("now Inactive"),
                line(start + 2, Event::Skipped, "hank").reason("decision hold"),
            ],
        )
    }

    #[test]
    fn without_journals_a_planned_change_is_not_applied_and_the_rest_asks_for_none() {
        let evidence = evidence_of(Vec::new()).unwrap();
        assert_eq!(outcome_of(&evidence, "alice"), Outcome::NotApplied);
        for user in ["hank", "rita", "erin"] {
            assert_eq!(
                outcome_of(&evidence, user),
                Outcome::NoChangePlanned,
                "{user}"
            );
        }
        assert_eq!(evidence.tally().not_applied, 1);
    }

    /// The apply deactivated and verified; a later rollback re-activated. Given in
    /// either order, the journals are read in the order the runs started.
    #[test]
    fn the_latest_run_that_changed_a_key_decides_whatever_order_the_journals_come_in() {
        let rollback = journal(
            Mode::Rollback,
            20,
            vec![
                change(21, Event::Intent, ALICE_OLD, KeyStatus::Active),
                change(21, Event::Done, ALICE_OLD, KeyStatus::Active),
                line(22, Event::Verified, "alice"),
            ],
        );
        let evidence = evidence_of(vec![rollback, apply_of_alice(10)]).unwrap();
        let labels: Vec<&str> = evidence.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["apply 1", "rollback 1"]);
        assert_eq!(
            outcome_of(&evidence, "alice"),
            Outcome::RolledBack {
                keys: vec![ALICE_OLD.into()],
                verified: Verification::Verified
            }
        );
        // hank's skip is listed, and the outcome is that nothing was asked for.
        assert_eq!(outcome_of(&evidence, "hank"), Outcome::NoChangePlanned);
        assert_eq!(
            evidence
                .users
                .iter()
                .find(|u| u.user.user_name == "hank")
                .unwrap()
                .steps
                .len(),
            1
        );
    }

    /// A later re-run that finds the work done (a skip) does not hide the change an
    /// earlier run made.
    #[test]
    fn a_rerun_that_changed_nothing_keeps_the_earlier_change() {
        let rerun = journal(
            Mode::Apply,
            30,
            vec![line(31, Event::Skipped, "alice").reason("already done")],
        );
        let evidence = evidence_of(vec![apply_of_alice(10), rerun]).unwrap();
        assert_eq!(
            outcome_of(&evidence, "alice"),
            Outcome::Deactivated {
                keys: vec![ALICE_OLD.into()],
                verified: Verification::Verified
            }
        );
    }

    #[test]
    fn each_ending_of_a_run_is_its_own_outcome() {
        let cases: Vec<(Vec<Entry>, Outcome)> = vec![
            (
                vec![
                    change(11, Event::Intent, ALICE_OLD, KeyStatus::Inactive),
                    change(11, Event::Done, ALICE_OLD, KeyStatus::Inactive),
                    line(12, Event::Unverified, "alice"),
                ],
                Outcome::Deactivated {
                    keys: vec![ALICE_OLD.into()],
                    verified: Verification::Unverified,
                },
            ),
            (
                vec![
                    change(11, Event::Intent, ALICE_OLD, KeyStatus::Inactive),
                    change(11, Event::Done, ALICE_OLD, KeyStatus::Inactive),
                ],
                Outcome::Deactivated {
                    keys: vec![ALICE_OLD.into()],
                    verified: Verification::NotRecorded,
                },
            ),
            (
                vec![
                    change(11, Event::Intent, ALICE_OLD, KeyStatus::Inactive),
                    change(11, Event::Done, ALICE_OLD, KeyStatus::Inactive),
                    change(12, Event::Intent, ALICE_OLD, KeyStatus::Active),
                    change(12, Event::Done, ALICE_OLD, KeyStatus::Active),
                    line(13, Event::Verified, "alice"),
                ],
                Outcome::Restored {
                    keys: vec![ALICE_OLD.into()],
                    verified: Verification::Verified,
                },
            ),
            (
                vec![
                    change(11, Event::Intent, ALICE_OLD, KeyStatus::Inactive),
                    change(11, Event::Failed, ALICE_OLD, KeyStatus::Inactive).error("AccessDenied"),
                ],
                Outcome::Failed {
                    error: "AccessDenied".into(),
                },
            ),
            (
                vec![
                    change(11, Event::Intent, ALICE_OLD, KeyStatus::Inactive),
                    change(11, Event::Unknown, ALICE_OLD, KeyStatus::Inactive).error("timed out"),
                ],
                Outcome::Unknown {
                    error: "timed out".into(),
                },
            ),
            (
                vec![change(11, Event::Intent, ALICE_OLD, KeyStatus::Inactive)],
                Outcome::Interrupted,
            ),
            (
                vec![line(11, Event::Drifted, "alice").reason("a third key")],
                Outcome::LeftAlone {
                    event: Event::Drifted,
                    reason: "a third key".into(),
                },
            ),
            (
                vec![line(11, Event::Declined, "alice").reason("declined at the prompt")],
                Outcome::LeftAlone {
                    event: Event::Declined,
                    reason: "declined at the prompt".into(),
                },
            ),
        ];
        for (lines, expected) in cases {
            let evidence = evidence_of(vec![journal(Mode::Apply, 10, lines)]).unwrap();
            assert_eq!(outcome_of(&evidence, "alice"), expected);
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
                change(12, Event::Done, "AKIAEXAMPLEOTHER0001", KeyStatus::Inactive),
            ],
        );
        let evidence = evidence_of(vec![stray]).unwrap();
        assert_eq!(evidence.strays.len(), 2);
        assert_eq!(outcome_of(&evidence, "alice"), Outcome::NotApplied);
    }

    #[test]
    fn a_journal_of_another_account_is_refused() {
        let mut other = apply_of_alice(10);
        for entry in &mut other.entries {
            entry.account_id = "210987654321".into();
        }
        let mismatch = evidence_of(vec![other]).unwrap_err();
        assert_eq!(mismatch.path, "10.journal.jsonl");
        assert!(
            mismatch
                .detail
                .contains("account 210987654321, but the plan is of account 123456789012")
        );
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
