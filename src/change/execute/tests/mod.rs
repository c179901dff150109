//! The change engine's tests: each user's work against mocked IAM answers
//! (aws-smithy-mocks), for what neither moto nor the fault proxy can show. Here the
//! fixtures and verification; calls without a clear answer, refusals, a failing
//! journal and lockouts in `unclear`.

use super::key_change::{CONFIRMING_LISTINGS, UNCLEAR_ROUNDS};
use super::*;
use crate::journal::Event;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput;
use aws_sdk_iam::types::AccessKeyMetadata;
use aws_sdk_iam::types::StatusType;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

const OLD: &str = "AKIAOLDOLDOLDOLD0001";
const NEW: &str = "AKIANEWNEWNEWNEW0002";

/// The parts of a `LockoutAverted` outcome: what was deactivated, what was given back,
/// and why; any other outcome fails the test.
fn lockout_averted(outcome: Outcome) -> (Vec<String>, Vec<String>, String) {
    match outcome {
        Outcome::LockoutAverted {
            deactivated,
            restored,
            reason,
        } => (deactivated, restored, reason),
        other => panic!("expected the lockout guard to act, got {other:?}"),
    }
}

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
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| listing(StatusType::Active));
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&update, &list]);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(iam, journal(&dir));
    let started = tokio::time::Instant::now();
    let outcome = deactivate_old_keeping_new(&ctx).await;
    let (deactivated, restored, reason) = lockout_averted(outcome);
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
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| listing(StatusType::Inactive));
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
    let budget = MaxChanges::new(3);
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
    let lines: Vec<(Event, Option<KeyStatus>)> = entries.iter().map(|e| (e.event, e.to)).collect();
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

mod unclear;
