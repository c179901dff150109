//! Carrying out changes, shared by apply and rollback: per user, a live drift check,
//! then UpdateAccessKey one key at a time (each journaled before and after the call),
//! then verification by re-listing with back-off. Users run in parallel up to the
//! concurrency bound; an interrupt stops new calls and lets the one in flight finish.
//!
//! `key_change` changes and verifies one user's keys, `outcome` is how a user's work
//! ended, `stop` what stops a run from starting changes.

mod key_change;
mod outcome;
mod stop;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::aws::Clients;
use crate::aws::iam;
use crate::bounded;
use crate::facts::{KeyFacts, KeyStatus};
use crate::journal::{Entry, Event, Journal};
use crate::plan::PlanUser;
use crate::progress::SharedProgress;
use crate::rule::Policy;

use super::drift::{self, ChangedKey, Deactivation};

use key_change::{StepError, change_and_verify};
pub(crate) use outcome::{Outcome, UserReport};
pub(crate) use stop::{ChangeBudget, Interrupt, StopCause};

/// The change planned for one user: apply deactivates the plan's keys, rollback re-activates
/// the keys an apply deactivated.
#[derive(Debug, Clone)]
pub(crate) enum UserChange {
    /// apply: deactivate the plan's keys for this user.
    Deactivate {
        user: PlanUser,
        generated_at: DateTime<Utc>,
        /// The plan's policy: the rule is asked again as of now.
        policy: Policy,
    },
    /// rollback: re-activate keys an apply deactivated.
    Reactivate {
        user_name: String,
        keys: Vec<ChangedKey>,
    },
}

impl UserChange {
    pub(crate) fn user_name(&self) -> &str {
        match self {
            UserChange::Deactivate { user, .. } => &user.user_name,
            UserChange::Reactivate { user_name, .. } => user_name,
        }
    }

    /// Whether carrying this out can only read: a rollback of keys IAM refused to
    /// switch off, which it looks at but never switches on. No one is asked about it.
    pub(crate) fn only_reads(&self) -> bool {
        match self {
            UserChange::Deactivate { .. } => false,
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
    pub budget: Option<Arc<ChangeBudget>>,
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

    fn entry(&self, event: Event, user_name: &str) -> Entry {
        Entry::new(event, &self.account_id, user_name)
    }
}

/// After Ctrl-C (or a journal that cannot be written) a user whose reads have not
/// begun starts none: it is journaled skipped, with nothing changed. Read-backs of a
/// change already sent are not stopped this way.
fn stopped_before_reads(ctx: &RunState, user_name: &str) -> Option<Outcome> {
    let cause = ctx.stop_cause()?;
    let _ = ctx.record(
        ctx.entry(Event::Skipped, user_name)
            .reason(cause.describe()),
    );
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
        ctx.record(ctx.entry(Event::Drifted, name).reason(reason.clone()))?;
        return Ok(Outcome::Drifted { reason });
    }
    // An owner may have exempted the user since the audit.
    let tags = match read_until_stopped(ctx, name, iam::user_tags(&ctx.clients, name)).await? {
        Ok(tags) => tags,
        Err(stopped) => return Ok(stopped),
    };
    if let Some(reason) = tags.in_force(Utc::now().date_naive()) {
        let reason = drift::now_exempt(&reason);
        ctx.record(ctx.entry(Event::Drifted, name).reason(reason.clone()))?;
        return Ok(Outcome::Drifted { reason });
    }
    let live = live_keys(ctx, name, |keys| drift::needs_last_use(user, keys));
    let live = match read_until_stopped(ctx, name, live).await? {
        Ok(live) => live,
        Err(stopped) => return Ok(stopped),
    };
    let (to_change, already) = match drift::check_deactivation(user, generated_at, &live) {
        Deactivation::Drifted(reason) => {
            ctx.record(ctx.entry(Event::Drifted, name).reason(reason.clone()))?;
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
        ctx.record(
            ctx.entry(Event::Skipped, name)
                .reason(format!("limit: --max-changes {} reached", budget.max)),
        )?;
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
            ctx.entry(Event::Skipped, name)
                .key(id, KeyStatus::Inactive, KeyStatus::Inactive)
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
    // A dry run has no journal: these write nothing there.
    for (id, reason) in &check.left_inactive {
        ctx.record(
            ctx.entry(Event::Drifted, user_name)
                .key(id, KeyStatus::Inactive, KeyStatus::Active)
                .reason(reason.clone()),
        )?;
    }
    // Never Active -> Active: that line says a run found the key switched on.
    for (id, reason) in &check.refused_unchanged {
        ctx.record(
            ctx.entry(Event::Skipped, user_name)
                .key(id, KeyStatus::Inactive, KeyStatus::Active)
                .reason(reason.clone()),
        )?;
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
        ctx.record(ctx.entry(Event::Drifted, user_name).reason(reason.clone()))?;
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
            ctx.entry(Event::Skipped, user_name)
                .key(id, KeyStatus::Active, KeyStatus::Active)
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
        let _ = ctx.record(ctx.entry(Event::Skipped, name).reason(cause.describe()));
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
            let _ = ctx.record(ctx.entry(Event::Failed, name).error(error.clone()));
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
mod tests {
    use super::key_change::{CONFIRMING_LISTINGS, UNCLEAR_ROUNDS};
    use super::*;
    use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
    use aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput;
    use aws_sdk_iam::types::AccessKeyMetadata;
    use aws_sdk_iam::types::StatusType;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const OLD: &str = "AKIAOLDOLDOLDOLD0001";
    const NEW: &str = "AKIANEWNEWNEWNEW0002";

    fn listing(old: StatusType) -> ListAccessKeysOutput {
        let key = |id: &str, status: StatusType| {
            AccessKeyMetadata::builder()
                .user_name("alice")
                .access_key_id(id)
                .status(status)
                .create_date(aws_sdk_iam::primitives::DateTime::from_secs(1_790_000_000))
                .build()
        };
        ListAccessKeysOutput::builder()
            .access_key_metadata(key(OLD, old))
            .access_key_metadata(key(NEW, StatusType::Active))
            .build()
            .unwrap()
    }

    fn context(iam: aws_sdk_iam::Client, journal: Arc<Journal>) -> RunState {
        RunState {
            clients: Clients::with_mock_iam(iam),
            account_id: "123456789012".into(),
            mode: super::super::RunMode::Apply,
            journal: Some(journal),
            interrupt: Interrupt::default(),
            verify_timeout: Duration::from_secs(30),
            budget: None,
        }
    }

    fn journal(dir: &tempfile::TempDir) -> Arc<Journal> {
        Arc::new(
            Journal::create(
                &dir.path().join("j.journal.jsonl"),
                "123456789012",
                crate::journal::RunInfo {
                    mode: crate::journal::Mode::Apply,
                    source: "plan.yaml".into(),
                    tool: "test".into(),
                    caller_arn: "arn:aws:iam::123456789012:user/t".into(),
                    source_sha256: None,
                },
            )
            .unwrap(),
        )
    }

    /// IAM is eventually consistent: the first listings after the change may still show
    /// the key Active. Verification polls until two listings in a row show it Inactive.
    #[tokio::test(start_paused = true)]
    async fn verification_waits_for_eventual_consistency() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .sequence()
            .output(|| listing(StatusType::Active))
            .times(3)
            .output(|| listing(StatusType::Inactive))
            .repeatedly()
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old_keeping_new(&ctx).await;
        assert_eq!(
            outcome,
            Outcome::Verified {
                changed: vec![OLD.into()],
                unchanged: vec![]
            }
        );
        assert_eq!(update.num_calls(), 1);
        assert_eq!(list.num_calls(), 3 + CONFIRMING_LISTINGS);
    }

    /// A deactivation IAM never shows within the timeout is undone: a lagging listing
    /// cannot show whether someone switched the kept key off meanwhile, so keytrim
    /// gives the key back rather than risk a user with no working key.
    #[tokio::test(start_paused = true)]
    async fn a_deactivation_never_seen_is_undone_after_the_timeout() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .then_output(|| listing(StatusType::Active));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let started = tokio::time::Instant::now();
        let outcome = deactivate_old_keeping_new(&ctx).await;
        let Outcome::LockoutAverted {
            deactivated,
            restored,
            reason,
        } = outcome
        else {
            panic!("expected the change to be undone, got {outcome:?}");
        };
        assert_eq!(
            (deactivated, restored),
            (vec![OLD.into()], vec![OLD.into()])
        );
        assert!(
            reason.contains("was not seen Inactive within 30 s")
                && reason.contains("re-activated AKIAOLD"),
            "{reason}"
        );
        assert!(started.elapsed() <= Duration::from_secs(30));
        assert_eq!(update.num_calls(), 2, "the deactivation and its undoing");
        assert_journals_the_change_given_back(&ctx);
    }

    /// A re-activation (rollback) IAM never shows within the timeout is unverified:
    /// nobody can be locked out by a key switched on.
    #[tokio::test(start_paused = true)]
    async fn a_reactivation_never_seen_is_unverified_after_the_timeout() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .then_output(|| listing(StatusType::Inactive));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let started = tokio::time::Instant::now();
        let outcome = change_and_verify(
            &ctx,
            "alice",
            &[OLD.to_string()],
            KeyStatus::Inactive,
            KeyStatus::Active,
            Vec::new(),
            vec![(OLD.into(), KeyStatus::Active)],
        )
        .await
        .unwrap();
        let Outcome::Unverified { changed, reason } = outcome else {
            panic!("expected unverified, got {outcome:?}");
        };
        assert_eq!(changed, [OLD]);
        assert!(
            reason.contains("was not seen Active within 30 s"),
            "{reason}"
        );
        assert!(started.elapsed() <= Duration::from_secs(30));
        assert_eq!(
            events(&ctx),
            [Event::Run, Event::Intent, Event::Done, Event::Unverified]
        );
    }

    /// A lagging listing shows the change (OLD Inactive) and the kept key still
    /// Active; the next shows the kept key switched off by someone else. No decision
    /// rests on one listing: keytrim gives OLD back.
    #[tokio::test(start_paused = true)]
    async fn one_listing_that_shows_the_change_is_not_enough_to_call_the_user_safe() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .sequence()
            .output(|| listing(StatusType::Inactive))
            .output(both_inactive)
            .repeatedly()
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old_keeping_new(&ctx).await;
        assert!(
            matches!(&outcome, Outcome::LockoutAverted { restored, .. } if restored == &[OLD]),
            "{outcome:?}"
        );
    }

    /// A lagging listing still shows the key keytrim just switched off as Active, and
    /// already shows the kept key switched off: there is an Active key in the listing,
    /// but not the one that stays. keytrim gives OLD back at once.
    #[tokio::test(start_paused = true)]
    async fn a_listing_with_the_kept_key_off_undoes_the_change_though_another_key_shows_active() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
            let mut stale = listing(StatusType::Active);
            stale.access_key_metadata[1].status = Some(StatusType::Inactive);
            stale
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let started = tokio::time::Instant::now();
        let outcome = deactivate_old_keeping_new(&ctx).await;
        assert!(
            matches!(&outcome, Outcome::LockoutAverted { restored, reason, .. }
                if restored == &[OLD] && reason.contains("showed the key to keep switched off")),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_budget_gives_whole_users_or_nothing() {
        let budget = ChangeBudget::new(3);
        assert!(budget.take(2));
        assert!(!budget.take(2), "2 more would make 4 of 3");
        assert!(budget.take(1));
        assert!(!budget.take(1));
    }

    /// UpdateAccessKey that only ever gets a server error: no clear answer.
    fn unanswered_update() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_iam::Client::update_access_key)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build()
    }

    /// Both keys Inactive: someone switched off the kept one too.
    fn both_inactive() -> ListAccessKeysOutput {
        let mut listing = listing(StatusType::Inactive);
        listing.access_key_metadata[1].status = Some(StatusType::Inactive);
        listing
    }

    /// Deactivate OLD, expecting it Inactive and NEW still Active.
    async fn deactivate_old_keeping_new(ctx: &RunState) -> Outcome {
        change_and_verify(
            ctx,
            "alice",
            &[OLD.to_string()],
            KeyStatus::Active,
            KeyStatus::Inactive,
            Vec::new(),
            vec![
                (OLD.into(), KeyStatus::Inactive),
                (NEW.into(), KeyStatus::Active),
            ],
        )
        .await
        .unwrap()
    }

    /// Deactivate OLD and expect it Inactive.
    async fn deactivate_old(ctx: &RunState) -> Outcome {
        change_and_verify(
            ctx,
            "alice",
            &[OLD.to_string()],
            KeyStatus::Active,
            KeyStatus::Inactive,
            Vec::new(),
            vec![(OLD.into(), KeyStatus::Inactive)],
        )
        .await
        .unwrap()
    }

    /// The journal of a deactivation keytrim gave back: its intent and done, the
    /// re-activation's intent and done, and the user's `drifted` line.
    fn assert_journals_the_change_given_back(ctx: &RunState) {
        let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
        let lines: Vec<(Event, Option<KeyStatus>)> =
            entries.iter().map(|e| (e.event, e.to)).collect();
        assert_eq!(
            lines,
            [
                (Event::Run, None),
                (Event::Intent, Some(KeyStatus::Inactive)),
                (Event::Done, Some(KeyStatus::Inactive)),
                (Event::Intent, Some(KeyStatus::Active)),
                (Event::Done, Some(KeyStatus::Active)),
                (Event::Drifted, None),
            ]
        );
    }

    fn events(ctx: &RunState) -> Vec<Event> {
        crate::journal::read(ctx.journal.as_ref().unwrap().path())
            .unwrap()
            .iter()
            .map(|e| e.event)
            .collect()
    }

    /// A server error gives no clear answer (the SDK retries it, and an earlier attempt
    /// may have landed): the key is read back, and IAM shows it Inactive, so the change
    /// is journaled `done`, not `failed`.
    #[tokio::test(start_paused = true)]
    async fn an_update_without_a_clear_answer_is_read_back_as_done() {
        let update = unanswered_update();
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .then_output(|| listing(StatusType::Inactive));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old(&ctx).await;
        assert_eq!(
            outcome,
            Outcome::Verified {
                changed: vec![OLD.into()],
                unchanged: vec![]
            }
        );
        assert_eq!(
            events(&ctx),
            [Event::Run, Event::Intent, Event::Done, Event::Verified]
        );
        let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
        let reason = entries[2].reason.as_deref().unwrap();
        assert!(
            reason.contains("no clear answer") && reason.contains("shows it Inactive"),
            "{reason}"
        );
    }

    /// No clear answer, and the read-back fails too: the key's outcome is journaled as
    /// unknown (rollback lets live state decide), never as failed. The listings that
    /// watch the kept key fail as well, so keytrim cannot tell the user still has a
    /// working key: it tries to give the key back, and with IAM failing every call,
    /// says the user may have none.
    #[tokio::test(start_paused = true)]
    async fn an_update_that_cannot_be_read_back_is_unknown() {
        let update = unanswered_update();
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .sequence()
            .http_status(503, None)
            .repeatedly()
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old(&ctx).await;
        let Outcome::LockoutAverted {
            restored, reason, ..
        } = outcome
        else {
            panic!("expected the change to be undone, got {outcome:?}");
        };
        assert!(restored.is_empty());
        assert!(
            reason.contains("reading the keys back failed too")
                && reason.contains("MAY HAVE NO ACTIVE KEY"),
            "{reason}"
        );
        let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
        let lines: Vec<(Event, Option<KeyStatus>)> =
            entries.iter().map(|e| (e.event, e.to)).collect();
        assert_eq!(
            lines,
            [
                (Event::Run, None),
                (Event::Intent, Some(KeyStatus::Inactive)),
                (Event::Unknown, Some(KeyStatus::Inactive)),
                (Event::Intent, Some(KeyStatus::Active)),
                (Event::Unknown, Some(KeyStatus::Active)),
                (Event::Drifted, None),
            ]
        );
    }

    /// No clear answer, and IAM still shows the key Active: it may yet change
    /// (eventual consistency), so the outcome is unknown rather than failed.
    #[tokio::test(start_paused = true)]
    async fn an_update_read_back_unchanged_is_unknown_not_failed() {
        let update = unanswered_update();
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .then_output(|| listing(StatusType::Active));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old(&ctx).await;
        // Never seen changed within the timeout: undone (the undoing gets no clear
        // answer either, and a stale listing showing the key Active proves nothing).
        assert!(
            matches!(&outcome, Outcome::LockoutAverted { reason, .. }
                if reason.contains("still shows it Active after 3 rounds")
                    && reason.contains("a listing cannot tell")),
            "{outcome:?}"
        );
        let events = events(&ctx);
        assert_eq!(&events[..3], [Event::Run, Event::Intent, Event::Unknown]);
        // Sent again while IAM showed it unchanged: setting a status is idempotent.
        assert!(
            update.num_calls() >= UNCLEAR_ROUNDS,
            "{}",
            update.num_calls()
        );
        // Each round's read-back, then listings that watch the kept key until the
        // verification's timeout: 30 s of back-off capped at 4 s is more than 8.
        assert!(
            list.num_calls() > UNCLEAR_ROUNDS + 8,
            "{}",
            list.num_calls()
        );
    }

    fn refused_update(code: &'static str) -> aws_smithy_mocks::Rule {
        use aws_sdk_iam::operation::update_access_key::UpdateAccessKeyError;
        mock!(aws_sdk_iam::Client::update_access_key).then_error(move || {
            UpdateAccessKeyError::generic(
                aws_sdk_iam::error::ErrorMetadata::builder()
                    .code(code)
                    .message("not allowed")
                    .build(),
            )
        })
    }

    /// IAM answered with an error and the key reads back unchanged: the journal says
    /// `failed`, after its intent.
    #[tokio::test]
    async fn a_failed_update_is_journaled_as_failed_after_its_intent() {
        let update = refused_update("AccessDenied");
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .then_output(|| listing(StatusType::Active));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = change_and_verify(
            &ctx,
            "alice",
            &[OLD.to_string()],
            KeyStatus::Active,
            KeyStatus::Inactive,
            Vec::new(),
            vec![],
        )
        .await
        .unwrap();
        assert_eq!(
            outcome,
            Outcome::Failed {
                changed: vec![],
                error: "iam:UpdateAccessKey failed: AccessDenied: not allowed".into()
            }
        );
        let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
        assert_eq!(entries[1].event, Event::Intent);
        assert_eq!(entries[2].event, Event::Failed);
        assert_eq!(
            entries[2].error.as_deref(),
            Some(
                "iam:UpdateAccessKey failed: AccessDenied: not allowed; reading the key back shows it unchanged (Active)"
            )
        );
        assert_eq!(list.num_calls(), 1, "one read-back");
    }

    /// The call succeeds and the disk fills before its `done` line: the key was
    /// changed, so the user's report names it, and the run stops.
    #[tokio::test]
    async fn a_change_whose_done_line_cannot_be_written_is_still_reported() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        let filled = Arc::clone(&journal);
        let update = mock!(aws_sdk_iam::Client::update_access_key).then_output(move || {
            filled.fill_disk();
            UpdateAccessKeyOutput::builder().build()
        });
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .then_output(|| listing(StatusType::Inactive));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let ctx = context(iam, journal);
        let outcome = deactivate_old(&ctx).await;
        let Outcome::JournalFailed { changed, error } = outcome else {
            panic!("expected the journal to fail, got {outcome:?}");
        };
        assert_eq!(changed, [OLD], "the change that happened is reported");
        assert!(error.contains("No space"), "{error}");
        assert_eq!(ctx.stop_cause(), Some(StopCause::JournalFailed));
    }

    /// The kept key was switched off by someone else, and the disk filled before the
    /// `done` line: the user still gets the key back, although the journal cannot
    /// say so (the run's journal failure is reported apart).
    #[tokio::test]
    async fn a_lockout_is_undone_even_when_the_journal_has_failed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        let filled = Arc::clone(&journal);
        let update = mock!(aws_sdk_iam::Client::update_access_key).then_output(move || {
            filled.fill_disk();
            UpdateAccessKeyOutput::builder().build()
        });
        let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(both_inactive);
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let ctx = context(iam, journal);
        let outcome = deactivate_old(&ctx).await;
        let Outcome::LockoutAverted { restored, .. } = outcome else {
            panic!("expected the lockout to be undone, got {outcome:?}");
        };
        assert_eq!(restored, [OLD]);
        assert_eq!(update.num_calls(), 2, "the deactivation and its undoing");
    }

    /// Giving a key back after a lockout, the call gets no clear answer, and the
    /// listing shows the key Active: a lagging listing shows it as it was before
    /// keytrim's own change, so that proves nothing. The key is not counted restored,
    /// and no `done` line claims it.
    #[tokio::test(start_paused = true)]
    async fn a_stale_listing_never_counts_as_a_key_given_back() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .sequence()
            .output(|| UpdateAccessKeyOutput::builder().build())
            .http_status(500, None)
            .repeatedly()
            .build();
        let list = mock!(aws_sdk_iam::Client::list_access_keys)
            .sequence()
            .output(both_inactive)
            .output(|| listing(StatusType::Active))
            .repeatedly()
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old_keeping_new(&ctx).await;
        let Outcome::LockoutAverted {
            restored, reason, ..
        } = outcome
        else {
            panic!("expected a lockout, got {outcome:?}");
        };
        assert!(restored.is_empty(), "{reason}");
        assert!(reason.contains("HAS NO ACTIVE KEY"), "{reason}");
        let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
        assert!(
            !entries
                .iter()
                .any(|e| e.event == Event::Done && e.to == Some(KeyStatus::Active)),
            "{entries:?}"
        );
    }

    /// Someone deletes the key keytrim just switched off (a common clean-up): a key
    /// that is gone is off, and the user, whose kept key shows Active, is verified.
    #[tokio::test(start_paused = true)]
    async fn a_key_deleted_after_its_deactivation_counts_as_off() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
            let mut gone = listing(StatusType::Inactive);
            gone.access_key_metadata.remove(0);
            gone
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let outcome = deactivate_old_keeping_new(&ctx).await;
        assert!(
            matches!(&outcome, Outcome::Verified { changed, .. } if changed == &[OLD]),
            "{outcome:?}"
        );
        assert_eq!(update.num_calls(), 1);
    }

    /// An earlier attempt was applied and its answer lost; the SDK's retry is refused
    /// (the session expired). The final error is an answer, but IAM shows the key
    /// Inactive: the journal says `done`, never `failed`.
    #[tokio::test]
    async fn a_refusal_after_a_lost_answer_is_read_back_as_done() {
        for code in ["ExpiredToken", "AccessDenied", "NoSuchEntity"] {
            let update = refused_update(code);
            let list = mock!(aws_sdk_iam::Client::list_access_keys)
                .then_output(|| listing(StatusType::Inactive));
            let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
            let dir = tempfile::tempdir().unwrap();
            let ctx = context(iam, journal(&dir));
            let outcome = deactivate_old(&ctx).await;
            assert_eq!(
                outcome,
                Outcome::Verified {
                    changed: vec![OLD.into()],
                    unchanged: vec![]
                },
                "{code}"
            );
            let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
            assert_eq!(entries[2].event, Event::Done, "{code}");
            let reason = entries[2].reason.as_deref().unwrap();
            assert!(
                reason.contains("IAM answered with an error") && reason.contains(code),
                "{reason}"
            );
        }
    }

    /// Someone switched off the kept key while keytrim deactivated the other: the
    /// first listing shows no active key, and keytrim re-activates the key it changed
    /// at once (no wait for the verification's timeout).
    #[tokio::test(start_paused = true)]
    async fn a_user_left_with_no_active_key_gets_its_key_back() {
        let update = mock!(aws_sdk_iam::Client::update_access_key)
            .then_output(|| UpdateAccessKeyOutput::builder().build());
        let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(both_inactive);
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(iam, journal(&dir));
        let started = tokio::time::Instant::now();
        let outcome = deactivate_old_keeping_new(&ctx).await;
        let Outcome::LockoutAverted {
            deactivated,
            restored,
            reason,
        } = outcome
        else {
            panic!("expected the lockout to be averted, got {outcome:?}");
        };
        assert_eq!(
            (deactivated, restored),
            (vec![OLD.into()], vec![OLD.into()])
        );
        assert!(reason.contains("re-activated AKIAOLD"), "{reason}");
        assert_eq!(update.num_calls(), 2, "the deactivation and its undoing");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_journals_the_change_given_back(&ctx);
    }
}
