//! What journal lines add up to per user and key (`evidence::outcome`), on lines as
//! apply and rollback write them.

use super::*;

#[test]
fn without_journals_a_planned_change_is_not_applied_and_the_rest_asks_for_none() {
    let evidence = evidence_of(Vec::new()).unwrap();
    // rita has no fresh key and an idle one: a deactivation too (it was a rotation).
    for user in ["alice", "rita"] {
        assert_eq!(
            outcome_of(&evidence, user).verdict,
            Verdict::NotApplied,
            "{user}"
        );
    }
    for user in ["hank", "erin"] {
        assert_eq!(
            outcome_of(&evidence, user).verdict,
            Verdict::NoChangePlanned,
            "{user}"
        );
    }
    assert_eq!(evidence.tally().not_applied, 2);
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
    let rerun = || rerun_finding_alice_done(30);
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
            on(12, Event::Intent, ALICE_OLD).reason("re-activating: the user has no active key"),
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
    // The end state names that user first, apart from users not yet applied.
    let failed_restore = lockout(
        vec![on(12, Event::Failed, ALICE_OLD).error("AccessDenied")],
        reason,
    );
    let state = evidence_of(vec![journal(Mode::Apply, 10, failed_restore)])
        .unwrap()
        .end_state();
    assert_eq!((state.no_active_key, state.not_applied), (1, 1));
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
                by: LeftBy::Skipped,
                reason: "limit before this key".into(),
            },
        ),
        (
            vec![line(11, Event::Drifted, "alice").reason("a third key")],
            Verdict::LeftAlone {
                by: LeftBy::Drifted,
                reason: "a third key".into(),
            },
        ),
        (
            vec![line(11, Event::Declined, "alice").reason("declined at the prompt")],
            Verdict::LeftAlone {
                by: LeftBy::Declined,
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

/// Each key's latest state counts: a rollback that finds the key already Active
/// (someone switched it back on) does not leave it reading as deactivated, and a
/// re-apply that finds it Inactive again does not leave it reading as rolled back.
#[test]
fn a_keys_latest_state_replaces_an_earlier_change() {
    let found_active = rollback_of_alice(
        20,
        vec![
            key_line(
                21,
                Event::Skipped,
                ALICE_OLD,
                KeyStatus::Active,
                KeyStatus::Active,
            )
            .reason("already Active"),
            line(21, Event::Verified, "alice").reason("already in the intended state"),
        ],
    );
    let evidence = evidence_of(vec![apply_of_alice(10), found_active]).unwrap();
    let alice = outcome_of(&evidence, "alice");
    // Someone else switched the key on before the rollback: not keytrim's doing.
    assert_eq!(alice.verdict, Verdict::FoundActive);
    assert_eq!(alice.keys[0].changed, None);
    let tally = evidence.tally();
    assert_eq!((tally.reactivated, tally.found_active), (0, 1));
    let rollback = rollback_of_alice(
        20,
        vec![
            on(21, Event::Intent, ALICE_OLD),
            on(21, Event::Done, ALICE_OLD),
        ],
    );
    let reapply = rerun_finding_alice_done(30);
    let evidence = evidence_of(vec![apply_of_alice(10), rollback, reapply]).unwrap();
    assert_eq!(
        outcome_of(&evidence, "alice").verdict,
        Verdict::AlreadyDone { verified: true }
    );
}

/// A failure about the user as a whole (its keys could not be listed) is a failure,
/// not "not applied"; a later run that settles a key clears it.
#[test]
fn a_failure_about_the_user_is_a_failure_until_a_later_run_settles_it() {
    let refused = || {
        journal(
            Mode::Apply,
            10,
            vec![line(11, Event::Failed, "alice").error("iam:ListAccessKeys failed: AccessDenied")],
        )
    };
    let evidence = evidence_of(vec![refused()]).unwrap();
    let alice = outcome_of(&evidence, "alice");
    assert_eq!(alice.verdict, Verdict::Failed);
    assert_eq!(
        alice.note.as_deref(),
        Some("iam:ListAccessKeys failed: AccessDenied")
    );
    let evidence = evidence_of(vec![refused(), apply_of_alice(30)]).unwrap();
    assert_eq!(
        outcome_of(&evidence, "alice").verdict,
        Verdict::Deactivated {
            verified: true,
            complete: true
        }
    );
}

/// The reason a staged rollout skipped the user in an earlier run is not shown as
/// the reason of a later run that deactivated the key.
#[test]
fn only_the_last_run_naming_the_user_says_why() {
    let limited = journal(
        Mode::Apply,
        10,
        vec![line(11, Event::Skipped, "alice").reason("limit: --max-changes 1 reached")],
    );
    let evidence = evidence_of(vec![limited, apply_of_alice(30)]).unwrap();
    assert_eq!(outcome_of(&evidence, "alice").note, None);
}

/// The lockout guard gave one key back and not another: the user has an active key,
/// so the verdict names the failure, not a user without any.
#[test]
fn a_lockout_with_one_key_given_back_is_not_a_user_without_keys() {
    let verdict = verdict_of_alice(vec![
        off(11, Event::Intent, ALICE_OLD),
        off(11, Event::Done, ALICE_OLD),
        off(11, Event::Intent, ALICE_NEW),
        off(11, Event::Done, ALICE_NEW),
        on(12, Event::Intent, ALICE_OLD),
        on(12, Event::Failed, ALICE_OLD).error("AccessDenied"),
        on(12, Event::Intent, ALICE_NEW),
        on(12, Event::Done, ALICE_NEW),
        line(13, Event::Drifted, "alice").reason("no active key; re-activated the new one"),
    ]);
    assert_eq!(verdict, Verdict::Failed);
}

/// Lines are read in the order the run wrote them, whatever their stamps say (a
/// clock stepped back mid-run).
#[test]
fn a_run_is_read_in_file_order_not_by_stamps() {
    let verdict = verdict_of_alice(vec![
        off(12, Event::Intent, ALICE_OLD),
        off(11, Event::Done, ALICE_OLD),
        line(11, Event::Verified, "alice"),
    ]);
    assert_eq!(
        verdict,
        Verdict::Deactivated {
            verified: true,
            complete: true
        }
    );
}

/// An apply may start up to the clock skew apply allows before the plan's stamp
/// IAM refused the apply's call for alice's key. A rollback that finds the key Active
/// journals, on the key, that there was nothing to undo: the report says so, never that
/// someone switched the key on. One that finds it Inactive leaves it so for a person:
/// the report says so and why. The later rollback's finding replaces the earlier one.
#[test]
fn a_rollback_of_a_refused_call_is_read_as_what_it_found() {
    let refused_apply = journal(
        Mode::Apply,
        10,
        vec![
            off(11, Event::Intent, ALICE_OLD),
            off(11, Event::Failed, ALICE_OLD).error("AccessDenied: not allowed"),
        ],
    );
    // As execute writes them: on the key, in the rollback's direction.
    let left_for_a_person = rollback_of_alice(
        20,
        vec![on(21, Event::Drifted, ALICE_OLD).reason(format!(
            "{ALICE_OLD} is Inactive, yet IAM refused the apply's call to switch {ALICE_OLD} off (journaled at 2026-11-29 13:11:00 UTC): something other than that apply switched it off since"
        ))],
    );
    let nothing_to_undo = rollback_of_alice(
        30,
        vec![on(31, Event::Skipped, ALICE_OLD).reason(format!(
            "nothing to undo: IAM refused the apply's call to switch {ALICE_OLD} off (journaled at 2026-11-29 13:11:00 UTC), and it is Active"
        ))],
    );
    let left_alone = |journals| {
        let evidence = evidence_of(journals).unwrap();
        let tally = evidence.tally();
        assert_eq!((tally.reactivated, tally.found_active), (0, 0));
        match outcome_of(&evidence, "alice").verdict {
            Verdict::LeftAlone { by, reason } => (by, reason),
            other => panic!("{other:?}"),
        }
    };
    let (by, reason) = left_alone(vec![refused_apply.clone(), left_for_a_person.clone()]);
    assert_eq!(by, LeftBy::Drifted);
    assert!(reason.contains("IAM refused") && reason.contains("switched it off since"));
    let (by, reason) = left_alone(vec![refused_apply, left_for_a_person, nothing_to_undo]);
    assert_eq!(by, LeftBy::Skipped);
    assert!(
        reason.starts_with("nothing to undo: IAM refused"),
        "{reason}"
    );
}
