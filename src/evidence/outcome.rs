//! What the journal lines add up to, per user of the plan and per key: each run's
//! typed lines folded in the order the runs started, the key's latest state replacing
//! what came before, and one verdict per user for counting. Lines come typed from the
//! journal module; a call the run was making when it ended comes from the key's
//! history there.

use super::{
    Change, KeyOutcome, KeyProblem, Run, Step, UserEvidence, UserOutcome, Verdict, Verification,
};
use crate::facts::KeyStatus;
use crate::journal::{self, Entry, KeyLine, LeftBy, Line, Mode, UserLine};
use crate::plan::{Plan, PlanUser, standing};
use crate::rule::Decision;

/// Each plan user with its steps, and the steps that name a user or key the plan
/// does not list.
pub(super) fn users_and_strays(
    plan: &Plan,
    runs: &[Run],
    steps: Vec<Step>,
) -> (Vec<UserEvidence>, Vec<Step>) {
    let mut users: Vec<UserEvidence> = plan
        .users
        .iter()
        .map(|user| UserEvidence {
            user: user.clone(),
            overridden: standing::override_of(plan, user),
            steps: Vec::new(),
            outcome: UserOutcome {
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

/// A run's verification line: it re-listed the user's keys after what it changed (or
/// found already so) and saw them as intended, or not.
fn mark_verified(keys: &mut [KeyOutcome], run: usize, verified: Verification) {
    for record in keys {
        if let Some(change) = record.changed.as_mut().filter(|c| c.run == run) {
            change.verified = verified;
        }
        if let Some(already) = record.already.as_mut().filter(|a| a.1 == run) {
            already.2 = verified;
        }
    }
}

/// What one run said about a user as a whole (not about one key).
#[derive(Debug, Default)]
struct UserLines<'s> {
    /// The last line that left the user alone (drifted, declined, skipped): why.
    left_alone: Option<(LeftBy, &'s str)>,
    /// A failure about the user, e.g. its keys could not be listed; `true` when a
    /// call's effect is unknown.
    failed: Option<(&'s str, bool)>,
    /// The run changed a key, or found one already as intended.
    settled_a_key: bool,
}

/// Fold one run's lines about a user into the keys' records; what the run said about
/// the user as a whole is returned.
fn fold_run<'s>(keys: &mut Vec<KeyOutcome>, run: usize, lines: &[&'s Entry]) -> UserLines<'s> {
    let mut user = UserLines::default();
    for line in lines {
        let (key, to, what) = match line.typed() {
            Line::Key {
                key, change, what, ..
            } => (key, change.to, what),
            Line::User { what, .. } => {
                match what {
                    UserLine::Verified => mark_verified(keys, run, Verification::Verified),
                    UserLine::Unverified => mark_verified(keys, run, Verification::Unverified),
                    UserLine::LeftAlone { by, reason } => user.left_alone = Some((by, reason)),
                    UserLine::Failed { error, unknown } => user.failed = Some((error, unknown)),
                }
                continue;
            }
            // A rotation's steps are shown in the journal's timeline; what they leave
            // is the secret's and the new key's, which the key verdicts do not cover.
            Line::Run(_) | Line::Rotation { .. } | Line::Nothing => continue,
        };
        let record = key_record(keys, key);
        match what {
            // What came of it is the next line about the key, or the run's end.
            KeyLine::Intent => {}
            // The key's latest state replaces what came before: a change, or a run that
            // found it already so.
            KeyLine::Done => {
                user.settled_a_key = true;
                record.changed = Some(Change {
                    to,
                    run,
                    verified: Verification::NotRecorded,
                });
                record.already = None;
                record.problem = None;
            }
            KeyLine::Refused { error } => {
                record.problem = Some(KeyProblem::Failed {
                    run,
                    to,
                    error: error.to_string(),
                });
            }
            KeyLine::Unknown { error } => {
                record.problem = Some(KeyProblem::Uncertain {
                    run,
                    to,
                    error: error.map(str::to_string),
                });
            }
            // Found already as intended: the key's latest state, unless an earlier
            // change left it so (that change still stands, and says more).
            KeyLine::AlreadySo => {
                user.settled_a_key = true;
                record.problem = None;
                if record.changed.as_ref().is_none_or(|change| change.to != to) {
                    record.already = Some((to, run, Verification::NotRecorded));
                    record.changed = None;
                }
            }
            KeyLine::LeftAlone { by, reason } => {
                record.problem = Some(KeyProblem::NotReached {
                    run,
                    by,
                    reason: reason.to_string(),
                });
            }
        }
    }
    // The run ended during a call: its effect is unknown.
    for history in journal::key_histories(lines.iter().copied()) {
        if let Some(change) = history.cut_off() {
            key_record(keys, history.key).problem = Some(KeyProblem::Uncertain {
                run,
                to: change.to,
                error: None,
            });
        }
    }
    user
}

/// What one user's journal lines add up to, run by run in the order the runs started.
/// The last run that named the user says why it was left alone (if it was); a failure
/// about the user stands until a later run settles one of its keys.
pub(super) fn outcome(user: &PlanUser, runs: &[Run], steps: &[Step]) -> UserOutcome {
    let mut keys: Vec<KeyOutcome> = Vec::new();
    let mut left_alone: Option<(LeftBy, &str)> = None;
    let mut failed: Option<(&str, bool)> = None;
    for run in 0..runs.len() {
        let lines: Vec<&Entry> = steps
            .iter()
            .filter(|step| step.run == run)
            .map(|step| &step.entry)
            .collect();
        if lines.is_empty() {
            continue;
        }
        let said = fold_run(&mut keys, run, &lines);
        left_alone = said.left_alone;
        if said.settled_a_key {
            failed = None;
        }
        if said.failed.is_some() {
            failed = said.failed;
        }
    }
    let note = failed
        .map(|(error, _)| error)
        .or(left_alone.map(|(_, reason)| reason))
        .filter(|text| !text.is_empty())
        .map(str::to_string);
    let verdict = match failed {
        Some((_, true)) => Verdict::Uncertain,
        Some((_, false)) => Verdict::Failed,
        None => verdict_of(user, runs, &keys, left_alone),
    };
    UserOutcome {
        verdict,
        keys,
        note,
    }
}

/// Active again: re-activated by keytrim, or found Active by a later run (then someone
/// else switched it on, and the report must not say keytrim did).
fn active_again(runs: &[Run], keys: &[KeyOutcome]) -> Option<Verdict> {
    let reactivated = keys.iter().find_map(|k| match &k.changed {
        Some(change) if change.to == KeyStatus::Active => Some(change.run),
        _ => None,
    });
    if let Some(run) = reactivated {
        return Some(Verdict::Reactivated {
            by_rollback: runs[run].mode == Mode::Rollback,
        });
    }
    keys.iter()
        .any(|k| matches!(k.already, Some((KeyStatus::Active, _, _))))
        .then_some(Verdict::FoundActive)
}

fn verdict_of(
    user: &PlanUser,
    runs: &[Run],
    keys: &[KeyOutcome],
    left_alone: Option<(LeftBy, &str)>,
) -> Verdict {
    let reason = || left_alone.map_or_else(String::new, |(_, reason)| reason.to_string());
    let problems = || keys.iter().filter_map(|k| k.problem.as_ref());
    // The apply's lockout guard tried to give a key back, and no key came back in
    // that run.
    let restored_in = |run: usize| {
        keys.iter().any(|k| {
            k.changed
                .as_ref()
                .is_some_and(|c| c.run == run && c.to == KeyStatus::Active)
        })
    };
    let failed_restore = problems().any(|problem| match problem {
        KeyProblem::Failed { run, to, .. } | KeyProblem::Uncertain { run, to, .. } => {
            *to == KeyStatus::Active && runs[*run].mode == Mode::Apply && !restored_in(*run)
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
    if let Some(verdict) = active_again(runs, keys) {
        return verdict;
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
    if let Some(KeyProblem::NotReached { by, reason, .. }) = problems().next() {
        return Verdict::LeftAlone {
            by: *by,
            reason: reason.clone(),
        };
    }
    let planned = user.decision == Decision::Deactivate && !user.deactivate.is_empty();
    match left_alone {
        // Held, rotated, exempt or unreadable users are journaled as skipped: the plan
        // asked for nothing, and nothing was done.
        _ if !planned => Verdict::NoChangePlanned,
        Some((by, _)) => Verdict::LeftAlone {
            by,
            reason: reason(),
        },
        None => Verdict::NotApplied,
    }
}
