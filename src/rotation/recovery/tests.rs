//! Tests of what a rotation that stopped short leaves to do: the failure table and the
//! crash table of docs/rotation.md, row by row.

use super::*;

const TOKEN: &str = "0b7c5e0e-6f4b-4e8a-9d1e-2f3a4b5c6d7e";
const PREVIOUS: &str = "11111111-2222-3333-4444-555555555555";
const THIRD: &str = "99999999-2222-3333-4444-555555555555";
const NEW_KEY: &str = "AKIANEWKEY0000000001";

fn rotation(step: RotationStep) -> Rotation {
    Rotation {
        step,
        secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/key-AbCdEf".into(),
        token: TOKEN.into(),
        previous_version: PREVIOUS.into(),
        old_access_key_id: "AKIAOLDKEY0000000001".into(),
    }
}

fn labels(current: &str, pending: Option<&str>, token_version_exists: bool) -> Labels {
    Labels {
        current: Some(current.into()),
        pending: pending.map(str::to_string),
        previous: None,
        token_version_exists,
    }
}

#[test]
fn the_promotion_is_read_from_where_awscurrent_is() {
    let r = rotation(RotationStep::Promote);
    assert_eq!(
        promotion(&labels(TOKEN, Some(TOKEN), true), &r),
        Promotion::Landed
    );
    assert_eq!(
        promotion(&labels(PREVIOUS, Some(TOKEN), true), &r),
        Promotion::NotLanded
    );
    assert_eq!(
        promotion(&labels(THIRD, None, true), &r),
        Promotion::ChangedBySomeoneElse
    );
    assert_eq!(
        promotion(&Labels::default(), &r),
        Promotion::ChangedBySomeoneElse
    );
}

/// The failure table: a key this run made that no version held is deleted; one a
/// version held is switched off after AWSPENDING is taken off; a promoted key is never
/// touched; a secret someone else changed is left to a person, both keys Active.
#[test]
fn a_failure_cleans_up_only_what_no_one_can_hold() {
    let r = rotation(RotationStep::PutSecretValue);
    // PutSecretValue refused: no version with the token.
    assert_eq!(
        clean_up(&labels(PREVIOUS, None, false), &r, true),
        CleanUp::Undo {
            remove_pending: false,
            new_key: NewKeyEnd::Delete
        }
    );
    // The probe failed: AWSPENDING holds the new key.
    assert_eq!(
        clean_up(&labels(PREVIOUS, Some(TOKEN), true), &r, true),
        CleanUp::Undo {
            remove_pending: true,
            new_key: NewKeyEnd::Deactivate
        }
    );
    // An earlier run's key, never staged: switched off, not deleted.
    assert_eq!(
        clean_up(&labels(PREVIOUS, None, false), &r, false),
        CleanUp::Undo {
            remove_pending: false,
            new_key: NewKeyEnd::Deactivate
        }
    );
    // The promotion landed although its answer was lost.
    assert_eq!(
        clean_up(&labels(TOKEN, Some(TOKEN), true), &r, true),
        CleanUp::Promoted
    );
    assert_eq!(
        clean_up(&labels(THIRD, Some(TOKEN), true), &r, true),
        CleanUp::ForAPerson
    );
}

fn line<'a>(
    rotation: &'a Rotation,
    key: Option<&'a str>,
    what: RotationLine<'a>,
) -> (&'a Rotation, Option<&'a str>, RotationLine<'a>) {
    (rotation, key, what)
}

#[test]
fn how_far_a_rotation_got_is_read_from_its_lines() {
    let begin = rotation(RotationStep::Begin);
    let prove = rotation(RotationStep::Prove);
    let create = rotation(RotationStep::CreateAccessKey);
    let put = rotation(RotationStep::PutSecretValue);
    let promote = rotation(RotationStep::Promote);
    let deactivate = rotation(RotationStep::DeactivateAccessKey);
    let intent = RotationLine::Intent;
    let done = RotationLine::Done;
    let refused = RotationLine::Refused { error: "denied" };
    let unknown = RotationLine::Unknown { error: "timeout" };
    let begun = [
        line(&begin, None, intent),
        line(&prove, None, intent),
        line(&prove, None, done),
    ];

    assert_eq!(reached(begun), Reached::Finished, "no key was asked for");
    let asked = |what| {
        begun
            .into_iter()
            .chain([line(&create, None, intent), line(&create, None, what)])
    };
    assert_eq!(
        reached(asked(refused)),
        Reached::Finished,
        "a refusal made nothing"
    );
    assert_eq!(reached(asked(unknown)), Reached::MaybeCreated);
    assert_eq!(
        reached(begun.into_iter().chain([line(&create, None, intent)])),
        Reached::MaybeCreated,
        "killed during the call"
    );
    let created = [
        line(&create, None, intent),
        line(&create, Some(NEW_KEY), done),
    ];
    assert_eq!(
        reached(
            created
                .into_iter()
                .chain([line(&put, Some(NEW_KEY), intent)])
        ),
        Reached::Created {
            new_key: NEW_KEY.into()
        }
    );
    assert_eq!(
        reached(created.into_iter().chain([
            line(&promote, Some(NEW_KEY), intent),
            line(&promote, Some(NEW_KEY), done)
        ])),
        Reached::Finished
    );
    assert_eq!(
        reached(created.into_iter().chain([
            line(&deactivate, Some(NEW_KEY), intent),
            line(&deactivate, Some(NEW_KEY), done)
        ])),
        Reached::Finished
    );
    assert_eq!(
        reached(created.into_iter().chain([
            line(&promote, Some(NEW_KEY), intent),
            line(&promote, Some(NEW_KEY), unknown)
        ])),
        Reached::Created {
            new_key: NEW_KEY.into()
        },
        "an unclear promotion is read back from the labels"
    );
}

/// A rotation promoted and then moved back (by a person, or a rollback) is over:
/// the next apply does not promote it again.
#[test]
fn a_promotion_moved_back_since_is_not_redone() {
    let r = rotation(RotationStep::Probe);
    let moved_back = Labels {
        previous: Some(TOKEN.into()),
        ..labels(PREVIOUS, Some(TOKEN), true)
    };
    assert_eq!(
        resume(
            Reached::Created {
                new_key: NEW_KEY.into()
            },
            &r,
            &moved_back
        ),
        Resume::MovedBack {
            new_key: NEW_KEY.into()
        }
    );
}

/// The crash table of docs/rotation.md, row by row.
#[test]
fn the_next_apply_resumes_from_the_journal_and_the_labels() {
    let r = rotation(RotationStep::Probe);
    let created = || Reached::Created {
        new_key: NEW_KEY.into(),
    };
    assert_eq!(
        resume(Reached::Finished, &r, &labels(TOKEN, None, true)),
        Resume::Nothing
    );
    assert_eq!(
        resume(Reached::MaybeCreated, &r, &labels(PREVIOUS, None, false)),
        Resume::LookForAnUnclaimedKey
    );
    assert_eq!(
        resume(created(), &r, &labels(PREVIOUS, None, false)),
        Resume::CleanUp {
            new_key: NEW_KEY.into(),
            clean_up: CleanUp::Undo {
                remove_pending: false,
                new_key: NewKeyEnd::Deactivate
            }
        },
        "created, never staged: switched off, not deleted"
    );
    assert_eq!(
        resume(created(), &r, &labels(PREVIOUS, Some(TOKEN), true)),
        Resume::ProbeAndPromote {
            new_key: NEW_KEY.into()
        }
    );
    assert_eq!(
        resume(created(), &r, &labels(TOKEN, Some(TOKEN), true)),
        Resume::CleanUp {
            new_key: NEW_KEY.into(),
            clean_up: CleanUp::Promoted
        }
    );
    assert_eq!(
        resume(created(), &r, &labels(THIRD, Some(TOKEN), true)),
        Resume::CleanUp {
            new_key: NEW_KEY.into(),
            clean_up: CleanUp::ForAPerson
        }
    );
    // Staged, then AWSPENDING taken off by a clean-up that was killed: switched off.
    assert_eq!(
        resume(created(), &r, &labels(PREVIOUS, None, true)),
        Resume::CleanUp {
            new_key: NEW_KEY.into(),
            clean_up: CleanUp::Undo {
                remove_pending: false,
                new_key: NewKeyEnd::Deactivate
            }
        }
    );
}

/// A lost CreateAccessKey answer, read from a listing: a key made when the rotation
/// could have made it is the one; none is believed only once IAM's listing had time.
#[test]
fn a_lost_create_access_key_is_read_from_a_listing_given_time() {
    let begun = chrono::DateTime::parse_from_rfc3339("2026-12-08T02:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let at = |minutes: i64| begun + chrono::TimeDelta::minutes(minutes);
    let old = "AKIAOLDKEY0000000001";
    let listing = |keys: &[(&'static str, i64)]| {
        keys.iter()
            .map(|(id, minutes)| (*id, at(*minutes)))
            .collect::<Vec<_>>()
    };
    // The old key alone: nothing made, once the listing had 15 minutes.
    assert_eq!(
        unclaimed(listing(&[(old, -300)]), old, begun, at(1)),
        Unclaimed::TooSoon
    );
    assert_eq!(
        unclaimed(listing(&[(old, -300)]), old, begun, at(15)),
        Unclaimed::NoneMade
    );
    assert_eq!(
        unclaimed(listing(&[(old, -300), (NEW_KEY, 0)]), old, begun, at(1)),
        Unclaimed::One(NEW_KEY.into())
    );
    // A key made long before or long after is not the rotation's.
    assert_eq!(
        unclaimed(listing(&[(old, -300), (NEW_KEY, -60)]), old, begun, at(20)),
        Unclaimed::NoneMade
    );
    assert_eq!(
        unclaimed(listing(&[(old, -300), (NEW_KEY, 60)]), old, begun, at(61)),
        Unclaimed::NoneMade
    );
    assert_eq!(
        unclaimed(
            listing(&[(NEW_KEY, 0), ("AKIAOTHERKEY00000001", 2)]),
            old,
            begun,
            at(3)
        ),
        Unclaimed::Several
    );
}
