//! The change engine when a call's answer is unclear or refused, when the journal
//! cannot be written, and when a change would leave a user without an active key.

use super::*;

/// A server error gives no clear answer (the SDK retries it, and an earlier attempt
/// may have landed): the key is read back, and IAM shows it Inactive, so the change
/// is journaled `done`, not `failed`.
#[tokio::test(start_paused = true)]
async fn an_update_without_a_clear_answer_is_read_back_as_done() {
    let update = unanswered_update();
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| listing(StatusType::Inactive));
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
    let (_, restored, reason) = lockout_averted(outcome);
    assert!(restored.is_empty());
    assert!(
        reason.contains("reading the keys back failed too")
            && reason.contains("MAY HAVE NO ACTIVE KEY"),
        "{reason}"
    );
    let entries = crate::journal::read(ctx.journal.as_ref().unwrap().path()).unwrap();
    let lines: Vec<(Event, Option<KeyStatus>)> = entries.iter().map(|e| (e.event, e.to)).collect();
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
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| listing(StatusType::Active));
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

/// IAM answered with an error and the key reads back unchanged: the journal says
/// `failed`, after its intent.
#[tokio::test]
async fn a_failed_update_is_journaled_as_failed_after_its_intent() {
    let update = refused_update("AccessDenied");
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| listing(StatusType::Active));
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
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| listing(StatusType::Inactive));
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
    let (_, restored, reason) = lockout_averted(outcome);
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
    let (deactivated, restored, reason) = lockout_averted(outcome);
    assert_eq!(
        (deactivated, restored),
        (vec![OLD.into()], vec![OLD.into()])
    );
    assert!(reason.contains("re-activated AKIAOLD"), "{reason}");
    assert_eq!(update.num_calls(), 2, "the deactivation and its undoing");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_journals_the_change_given_back(&ctx);
}
