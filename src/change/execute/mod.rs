//! Carrying out changes, shared by apply and rollback: per user, a live drift check,
//! then UpdateAccessKey one key at a time (each journaled before and after the call),
//! then verification by re-listing with back-off. Users run in parallel up to the
//! concurrency bound; an interrupt stops new calls and lets the one in flight finish.
//!
//! `key_change` changes and verifies one user's keys, `outcome` is how a user's work
//! ended, `stop` what stops a run from starting changes.

mod hand_off;
mod key_change;
mod lockout;
mod outcome;
mod stop;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::aws::Clients;
use crate::aws::iam;
use crate::bounded;
use crate::facts::{KeyFacts, KeyStatus};
use crate::journal::{Change, Entry, Journal, KeyLine, LeftBy, UserLine};
use crate::plan::PlanUser;
use crate::progress::SharedProgress;
use crate::rule::Policy;

use super::drift::{self, ChangedKey, Deactivation};

use key_change::{StepError, change_and_verify};
pub(crate) use outcome::{Outcome, UserReport};
pub(crate) use stop::{Interrupt, MaxChanges, StopCause};

/// The change planned for one user: apply deactivates the plan's keys, rollback re-activates
/// the keys an apply deactivated.
#[derive(Debug, Clone)]
pub(crate) enum UserChange {
    /// apply: deactivate the plan's keys for this user (boxed: a plan's user is much
    /// larger than a rollback's keys).
    Deactivate {
        user: Box<PlanUser>,
        generated_at: DateTime<Utc>,
        /// The plan's policy: the rule is asked again as of now.
        policy: Policy,
    },
    /// rollback: re-activate keys an apply deactivated.
    Reactivate {
        user_name: String,
        keys: Vec<ChangedKey>,
    },
    /// apply: hand a new key off to the secret the plan names (the rotation hand-off).
    HandOff { user: Box<PlanUser>, policy: Policy },
    /// apply: take up an earlier apply's unfinished rotation of the user.
    Resume {
        user_arn: String,
        unfinished: Box<crate::change::rotate::Unfinished>,
    },
    /// rollback: move AWSCURRENT back from a rotation an apply promoted.
    Restore {
        user_name: String,
        rotation: Box<crate::journal::Rotation>,
        new_key: String,
    },
}

impl UserChange {
    pub(crate) fn user_name(&self) -> &str {
        match self {
            UserChange::Deactivate { user, .. } => &user.user_name,
            UserChange::Reactivate { user_name, .. } => user_name,
            UserChange::HandOff { user, .. } => &user.user_name,
            UserChange::Resume { unfinished, .. } => &unfinished.user_name,
            UserChange::Restore { user_name, .. } => user_name,
        }
    }

    /// Whether carrying this out can only read: a rollback of keys IAM refused to
    /// switch off, which it looks at but never switches on. No one is asked about it.
    pub(crate) fn only_reads(&self) -> bool {
        match self {
            UserChange::Deactivate { .. }
            | UserChange::HandOff { .. }
            | UserChange::Resume { .. }
            | UserChange::Restore { .. } => false,
            UserChange::Reactivate { keys, .. } => keys.iter().all(|key| key.refused),
        }
    }
}

/// The state of one run that every user's change shares: the clients, the account, the
/// journal, the interrupt and the budget.
#[derive(Debug, Clone)]
pub(crate) struct RunState {
    pub clients: Clients,
    pub account_id: String,
    /// Apply, rollback, or a dry run of either.
    pub mode: super::RunMode,
    /// None in a dry run: nothing is written, not even a journal.
    pub journal: Option<Arc<Journal>>,
    pub interrupt: Interrupt,
    pub verify_timeout: Duration,
    /// apply `--max-changes`: none in rollback.
    pub budget: Option<Arc<MaxChanges>>,
}

impl RunState {
    fn record(&self, entry: Entry) -> Result<(), StepError> {
        match &self.journal {
            Some(journal) => journal.record(&entry).map_err(StepError::Journal),
            None => Ok(()),
        }
    }

    /// Why no new change may start, if one may not.
    pub(crate) fn stop_cause(&self) -> Option<StopCause> {
        if self.interrupt.is_set() {
            Some(StopCause::Interrupted)
        } else if self.journal.as_ref().is_some_and(|j| j.failure().is_some()) {
            Some(StopCause::JournalFailed)
        } else {
            None
        }
    }

    /// A line about the user as a whole.
    fn user_line(&self, user_name: &str, what: UserLine<'_>) -> Entry {
        what.entry(&self.account_id, user_name)
    }

    /// The user left alone, by what and why.
    fn left_alone(&self, user_name: &str, by: LeftBy, reason: &str) -> Entry {
        self.user_line(user_name, UserLine::LeftAlone { by, reason })
    }

    /// A key whose change `from` → `to` the run left alone, by what and why.
    fn key_left_alone(
        &self,
        user_name: &str,
        key: &str,
        (from, to): (KeyStatus, KeyStatus),
        by: LeftBy,
        reason: &str,
    ) -> Entry {
        self.key_line(user_name, key, from, to, KeyLine::LeftAlone { by, reason })
    }

    /// A line about one key's change `from` → `to`.
    fn key_line(
        &self,
        user_name: &str,
        key: &str,
        from: KeyStatus,
        to: KeyStatus,
        what: KeyLine<'_>,
    ) -> Entry {
        what.entry(&self.account_id, user_name, key, Change { from, to })
    }
}

/// After Ctrl-C (or a journal that cannot be written) a user whose reads have not
/// begun starts none: it is journaled skipped, with nothing changed. Read-backs of a
/// change already sent are not stopped this way.
fn stopped_before_reads(ctx: &RunState, user_name: &str) -> Option<Outcome> {
    let cause = ctx.stop_cause()?;
    let _ = ctx.record(ctx.left_alone(user_name, LeftBy::Skipped, cause.describe()));
    Some(Outcome::Stopped {
        changed: Vec::new(),
        cause,
    })
}

/// A drift-check read that gives way to a stop: not started once the run is stopped
/// (Ctrl-C, a journal that cannot be written), and dropped by Ctrl-C while it waits
/// for a place or is on the wire (reads change nothing). The user is then stopped
/// before any change.
async fn read_until_stopped<T, E>(
    ctx: &RunState,
    user_name: &str,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Result<T, Outcome>, StepError>
where
    StepError: From<E>,
{
    if let Some(stopped) = stopped_before_reads(ctx, user_name) {
        return Ok(Err(stopped));
    }
    tokio::select! {
        biased;
        read = read => Ok(Ok(read?)),
        () = ctx.interrupt.stopped() => Ok(Err(stopped_before_reads(ctx, user_name)
            .unwrap_or(Outcome::Stopped { changed: Vec::new(), cause: StopCause::Interrupted }))),
    }
}

/// The live keys of a user, with last use looked up for `needs_last_use`.
async fn live_keys(
    ctx: &RunState,
    user_name: &str,
    needs_last_use: impl Fn(&[KeyFacts]) -> Vec<String>,
) -> Result<Vec<KeyFacts>, StepError> {
    let mut keys = iam::list_keys(&ctx.clients, user_name).await?;
    let wanted = needs_last_use(&keys);
    for key in keys
        .iter_mut()
        .filter(|k| wanted.contains(&k.access_key_id))
    {
        key.last_use = Some(iam::last_use(&ctx.clients, &key.access_key_id).await?);
    }
    Ok(keys)
}

async fn deactivate(
    ctx: &RunState,
    user: &PlanUser,
    generated_at: DateTime<Utc>,
    policy: &Policy,
) -> Result<Outcome, StepError> {
    let name = user.user_name.as_str();
    // The plan's decision was the rule's (or an accepted override) as of the audit; it
    // must be so as of now too. Time has passed (a kept key may now be too old), and a
    // `generated_at` moved back would make keys look younger than they are.
    if let Err(problem) = crate::plan::standing::standing_as_of(policy, Utc::now(), user) {
        let reason = format!("as of now, {}", problem.message);
        ctx.record(ctx.left_alone(name, LeftBy::Drifted, &reason))?;
        return Ok(Outcome::Drifted { reason });
    }
    // An owner may have exempted the user since the audit, or tagged it for the
    // rotation hand-off.
    let tags = match read_until_stopped(ctx, name, iam::user_tags(&ctx.clients, name)).await? {
        Ok(tags) => tags,
        Err(stopped) => return Ok(stopped),
    };
    let exempt = tags.in_force(Utc::now().date_naive());
    if let Some(reason) = hand_off::left_alone_by_tags(ctx, user, exempt, &tags).await {
        ctx.record(ctx.left_alone(name, LeftBy::Drifted, &reason))?;
        return Ok(Outcome::Drifted { reason });
    }
    let live = live_keys(ctx, name, |keys| drift::needs_last_use(user, keys));
    let live = match read_until_stopped(ctx, name, live).await? {
        Ok(live) => live,
        Err(stopped) => return Ok(stopped),
    };
    let (to_change, already) = match drift::check_deactivation(user, generated_at, &live) {
        Deactivation::Drifted(reason) => {
            ctx.record(ctx.left_alone(name, LeftBy::Drifted, &reason))?;
            return Ok(Outcome::Drifted { reason });
        }
        Deactivation::Proceed {
            deactivate,
            already_inactive,
        } => (deactivate, already_inactive),
    };
    // A staged rollout: the user's changes fit in what is left of the budget, or the
    // user is skipped whole (a dry run shows the same).
    if let Some(budget) = &ctx.budget
        && !to_change.is_empty()
        && !budget.take(to_change.len())
    {
        let reason = format!("limit: --max-changes {} reached", budget.max);
        ctx.record(ctx.left_alone(name, LeftBy::Skipped, &reason))?;
        return Ok(Outcome::Limited { max: budget.max });
    }
    if ctx.mode.is_dry_run() {
        return Ok(Outcome::WouldChange {
            keys: to_change,
            unchanged: already,
        });
    }
    for id in &already {
        ctx.record(
            ctx.key_line(
                name,
                id,
                KeyStatus::Inactive,
                KeyStatus::Inactive,
                KeyLine::AlreadySo,
            )
            .reason("already Inactive"),
        )?;
    }
    let keep = user
        .keep
        .clone()
        .expect("validated: a deactivation keeps a key");
    let mut expected = vec![(keep, KeyStatus::Active)];
    expected.extend(
        user.deactivate
            .iter()
            .map(|id| (id.clone(), KeyStatus::Inactive)),
    );
    change_and_verify(
        ctx,
        name,
        &to_change,
        KeyStatus::Active,
        KeyStatus::Inactive,
        already,
        expected,
    )
    .await
}

/// What a rollback's live check settles before any write: keys left Inactive for a
/// person and keys IAM refused with nothing to undo (each journaled on its own line,
/// whatever else happens to the user), a key deleted since the apply (the user is left
/// alone), a user with nothing to switch on, and a dry run. `None`: there are keys to
/// switch on.
fn settle_before_writing(
    ctx: &RunState,
    user_name: &str,
    check: &drift::Reactivation,
    left_inactive: &str,
) -> Result<Option<Outcome>, StepError> {
    // A dry run has no journal: these write nothing there. Both are written
    // Inactive -> Active, never Active -> Active: that line says a run found the key
    // switched on.
    let drifted = check.left_inactive.iter().map(|key| (key, LeftBy::Drifted));
    let refused = check
        .refused_unchanged
        .iter()
        .map(|key| (key, LeftBy::Skipped));
    for ((id, reason), by) in drifted.chain(refused) {
        let change = (KeyStatus::Inactive, KeyStatus::Active);
        ctx.record(ctx.key_left_alone(user_name, id, change, by, reason))?;
    }
    let with_left_inactive = |reason: String| {
        if left_inactive.is_empty() {
            reason
        } else {
            format!("{reason}; {left_inactive}")
        }
    };
    if !check.missing.is_empty() {
        let reason = format!(
            "key(s) deleted since the apply: {}",
            check.missing.join(", ")
        );
        ctx.record(ctx.left_alone(user_name, LeftBy::Drifted, &reason))?;
        return Ok(Some(Outcome::Drifted {
            reason: with_left_inactive(reason),
        }));
    }
    let nothing_to_write = check.reactivate.is_empty() && check.already_active.is_empty();
    if nothing_to_write && left_inactive.is_empty() {
        // Only keys IAM refused to switch off, each Active or gone: the apply changed
        // nothing here.
        let reasons: Vec<String> = check
            .refused_unchanged
            .iter()
            .map(|(_, reason)| reason.clone())
            .collect();
        return Ok(Some(Outcome::Skipped {
            reason: reasons.join("; "),
        }));
    }
    let left_alone = || Outcome::Drifted {
        reason: left_inactive.to_string(),
    };
    if ctx.mode.is_dry_run() {
        return Ok(Some(
            if check.reactivate.is_empty() && !left_inactive.is_empty() {
                left_alone()
            } else {
                Outcome::WouldChange {
                    keys: check.reactivate.clone(),
                    unchanged: check.already_active.clone(),
                }
            },
        ));
    }
    Ok(nothing_to_write.then(left_alone))
}

async fn reactivate(
    ctx: &RunState,
    user_name: &str,
    keys: &[ChangedKey],
) -> Result<Outcome, StepError> {
    let live = live_keys(ctx, user_name, |live| drift::still_inactive(keys, live));
    let live = match read_until_stopped(ctx, user_name, live).await? {
        Ok(live) => live,
        Err(stopped) => return Ok(stopped),
    };
    let check = drift::check_reactivation(user_name, keys, &live);
    let left_inactive: Vec<&str> = check
        .left_inactive
        .iter()
        .map(|(_, reason)| reason.as_str())
        .collect();
    let left_inactive = left_inactive.join("; ");
    if let Some(settled) = settle_before_writing(ctx, user_name, &check, &left_inactive)? {
        return Ok(settled);
    }
    for id in &check.already_active {
        ctx.record(
            ctx.key_line(
                user_name,
                id,
                KeyStatus::Active,
                KeyStatus::Active,
                KeyLine::AlreadySo,
            )
            .reason("already Active"),
        )?;
    }
    let expected = check
        .reactivate
        .iter()
        .chain(&check.already_active)
        .map(|id| (id.clone(), KeyStatus::Active))
        .collect::<Vec<_>>();
    let outcome = change_and_verify(
        ctx,
        user_name,
        &check.reactivate,
        KeyStatus::Inactive,
        KeyStatus::Active,
        check.already_active,
        expected,
    )
    .await?;
    // The rest was restored; the keys left Inactive are still this user's news.
    Ok(match outcome {
        Outcome::Verified { changed, .. } if !left_inactive.is_empty() => Outcome::PartlyDrifted {
            changed,
            reason: left_inactive,
        },
        other => other,
    })
}

/// Do one user's work. A journal that cannot be written stops the user, and the run
/// starts no other change.
async fn run_one(ctx: &RunState, work: &UserChange) -> Outcome {
    let name = work.user_name();
    if let Some(cause) = ctx.stop_cause() {
        let _ = ctx.record(ctx.left_alone(name, LeftBy::Skipped, cause.describe()));
        return Outcome::Stopped {
            changed: Vec::new(),
            cause,
        };
    }
    let result = match work {
        UserChange::Deactivate {
            user,
            generated_at,
            policy,
        } => deactivate(ctx, user, *generated_at, policy).await,
        UserChange::Reactivate { user_name, keys } => reactivate(ctx, user_name, keys).await,
        UserChange::HandOff { user, policy } => hand_off::hand_off(ctx, user, policy).await,
        UserChange::Resume {
            user_arn,
            unfinished,
        } => hand_off::resume(ctx, user_arn, unfinished).await,
        UserChange::Restore {
            user_name,
            rotation,
            new_key,
        } => hand_off::restore(ctx, user_name, rotation, new_key).await,
    };
    match result {
        Ok(outcome) => outcome,
        Err(StepError::Journal(error)) => Outcome::JournalFailed {
            changed: Vec::new(),
            error: error.to_string(),
        },
        Err(other) => {
            // Nothing was changed for this user: the failure came before any change.
            let error = other.to_string();
            let failed = UserLine::Failed {
                error: &error,
                unknown: false,
            };
            let _ = ctx.record(ctx.user_line(name, failed));
            Outcome::Failed {
                changed: Vec::new(),
                error,
            }
        }
    }
}

/// Do every user's work, `in_progress` users at once (the account's gate bounds the
/// calls in flight), advancing `progress` per user; reports in input order.
pub(crate) async fn run_all(
    ctx: &RunState,
    changes: Vec<UserChange>,
    in_progress: usize,
    progress: &SharedProgress,
) -> Vec<UserReport> {
    let (ctx, tick) = (ctx.clone(), progress.clone());
    bounded::map(changes, in_progress, move |work| {
        let (ctx, tick) = (ctx.clone(), tick.clone());
        async move {
            let outcome = run_one(&ctx, &work).await;
            tick.advance();
            UserReport {
                user_name: work.user_name().to_string(),
                outcome,
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests;
