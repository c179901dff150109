//! Tests of the drift checks: live keys against the plan (apply) and the journal
//! (rollback), and the tags that leave a user alone.

use super::*;
use crate::facts::LastUse;
use crate::plan::PlanKey;
use crate::rule::Decision;
use chrono::{Duration, TimeZone};

const OLD: &str = "AKIAOLDOLDOLDOLD0001";
const NEW: &str = "AKIANEWNEWNEWNEW0002";

fn audit_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn plan_user() -> PlanUser {
    let key = |id: &str| PlanKey {
        access_key_id: id.into(),
        status: KeyStatus::Active,
        created: audit_time() - Duration::days(10),
        age_days: 10,
        last_used: None,
        last_used_service: None,
        last_used_region: None,
        description: None,
    };
    PlanUser {
        user_name: "alice".into(),
        user_arn: "arn:aws:iam::123456789012:user/alice".into(),
        decision: Decision::Deactivate,
        reason: "r".into(),
        keep: Some(NEW.into()),
        deactivate: vec![OLD.into()],
        keys: vec![key(OLD), key(NEW)],
        exempt_until: None,
        error: None,
        rotation_due: false,
        rotate_to: None,
        secret_hands_out: None,
    }
}

fn live(id: &str, status: KeyStatus, used: Option<DateTime<Utc>>) -> KeyFacts {
    KeyFacts {
        access_key_id: id.into(),
        status,
        created: audit_time() - Duration::days(10),
        last_use: Some(LastUse {
            at: used,
            ..LastUse::default()
        }),
        description: None,
    }
}

use KeyStatus::{Active, Inactive};

#[test]
fn unchanged_state_proceeds() {
    let keys = [live(OLD, Active, None), live(NEW, Active, None)];
    assert_eq!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Proceed {
            deactivate: vec![OLD.into()],
            already_inactive: vec![]
        }
    );
    assert_eq!(needs_last_use(&plan_user(), &keys), [OLD, NEW]);
}

#[test]
fn an_already_inactive_key_counts_as_done() {
    let keys = [live(OLD, Inactive, None), live(NEW, Active, None)];
    assert_eq!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Proceed {
            deactivate: vec![],
            already_inactive: vec![OLD.into()]
        }
    );
    assert_eq!(needs_last_use(&plan_user(), &keys), [NEW]);
}

#[test]
fn a_deactivated_kept_key_is_drift() {
    let keys = [live(OLD, Active, None), live(NEW, Inactive, None)];
    let Deactivation::Drifted(reason) = check_deactivation(&plan_user(), audit_time(), &keys)
    else {
        panic!("expected drift");
    };
    assert!(reason.contains("kept key AKIANEWNEWNEWNEW0002 is no longer Active"));
}

#[test]
fn created_and_deleted_keys_are_drift() {
    let keys = [
        live(OLD, Active, None),
        live(NEW, Active, None),
        live("AKIATHIRDTHIRD00003", Active, None),
    ];
    assert!(matches!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Drifted(reason) if reason.contains("created since the audit: AKIATHIRDTHIRD00003")
    ));
    let keys = [live(NEW, Active, None)];
    assert!(matches!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Drifted(reason) if reason.contains("deleted since the audit: AKIAOLDOLDOLDOLD0001")
    ));
}

#[test]
fn use_after_the_audit_is_drift_but_use_before_is_not() {
    let after = audit_time() + Duration::hours(1);
    let keys = [live(OLD, Active, Some(after)), live(NEW, Active, None)];
    assert!(matches!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Drifted(reason) if reason.contains("in or after the minute of the audit")
    ));
    let same_second = audit_time();
    let keys = [
        live(OLD, Active, Some(same_second)),
        live(NEW, Active, None),
    ];
    assert!(matches!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Drifted(_)
    ));
    // A use before the audit that the plan does not state is drift too: the plan
    // does not match IAM.
    let before = audit_time() - Duration::seconds(1);
    let keys = [live(OLD, Active, Some(before)), live(NEW, Active, None)];
    assert!(matches!(
        check_deactivation(&plan_user(), audit_time(), &keys),
        Deactivation::Drifted(reason) if reason.contains("the plan does not match IAM")
    ));
    let mut stated = plan_user();
    stated.keys[0].last_used = Some(before);
    assert!(matches!(
        check_deactivation(&stated, audit_time(), &keys),
        Deactivation::Proceed { .. }
    ));
}

/// Facts edited to agree with an edited decision do not match IAM: a creation time
/// swapped, a use hidden, a status or a service changed. The kept key may have been
/// used since (the application runs on it).
#[test]
fn every_fact_the_plan_states_must_match_iam() {
    let keys = [live(OLD, Active, None), live(NEW, Active, None)];
    let drift = |edit: &dyn Fn(&mut PlanUser)| {
        let mut user = plan_user();
        edit(&mut user);
        match check_deactivation(&user, audit_time(), &keys) {
            Deactivation::Drifted(reason) => reason,
            proceed => panic!("expected drift, got {proceed:?}"),
        }
    };
    assert!(
        drift(&|user| user.keys[0].created -= Duration::days(100))
            .contains("according to IAM, not at")
    );
    assert!(
        drift(&|user| user.keys[1].status = Inactive).contains("is Active in IAM, but Inactive")
    );
    let used = audit_time() - Duration::days(1);
    let with_use = [live(OLD, Active, Some(used)), live(NEW, Active, None)];
    let mut hidden = plan_user();
    hidden.keys[0].last_used = None;
    assert!(matches!(
        check_deactivation(&hidden, audit_time(), &with_use),
        Deactivation::Drifted(reason) if reason.contains("last used 2026-10-31 12:00:00 UTC according to IAM, but never according to the plan")
    ));
    let mut service = plan_user();
    service.keys[0].last_used = Some(used);
    service.keys[0].last_used_service = Some("s3".into());
    assert!(matches!(
        check_deactivation(&service, audit_time(), &with_use),
        Deactivation::Drifted(reason) if reason.contains("last used with no service")
    ));
    // The kept key used since the audit: no drift.
    let kept_used = [
        live(OLD, Active, None),
        live(NEW, Active, Some(audit_time() + Duration::hours(2))),
    ];
    assert!(matches!(
        check_deactivation(&plan_user(), audit_time(), &kept_used),
        Deactivation::Proceed { .. }
    ));
}

/// IAM reports last use to the minute: a use 10 s after an audit at 12:00:40 can
/// read 12:00:00, before the audit. It must still count as after.
#[test]
fn a_use_reported_in_the_audit_minute_is_drift() {
    let audit = audit_time() + Duration::seconds(40);
    let reported = audit_time(); // 12:00:00, the minute the use was truncated to
    let keys = [live(OLD, Active, Some(reported)), live(NEW, Active, None)];
    let Deactivation::Drifted(reason) = check_deactivation(&plan_user(), audit, &keys) else {
        panic!("a use in the audit's minute must be drift");
    };
    assert!(
        reason.contains("in or after the minute of the audit"),
        "{reason}"
    );
    // A use in the minute before, as the plan states it, is no drift.
    let previous_minute = audit_time() - Duration::seconds(1);
    let keys = [
        live(OLD, Active, Some(previous_minute)),
        live(NEW, Active, None),
    ];
    let mut stated = plan_user();
    stated.keys[0].last_used = Some(previous_minute);
    assert!(matches!(
        check_deactivation(&stated, audit, &keys),
        Deactivation::Proceed { .. }
    ));
}

fn changed(id: &str, at: DateTime<Utc>) -> ChangedKey {
    ChangedKey {
        id: id.into(),
        changed_at: at,
        refused: false,
    }
}

fn refused(id: &str, at: DateTime<Utc>) -> ChangedKey {
    ChangedKey {
        refused: true,
        ..changed(id, at)
    }
}

#[test]
fn reactivation_sorts_keys_by_live_state() {
    let keys = [live(OLD, Inactive, None), live(NEW, Active, None)];
    let wanted = [
        changed(OLD, audit_time()),
        changed(NEW, audit_time()),
        changed("AKIAGONEGONEGONE0009", audit_time()),
    ];
    assert_eq!(
        check_reactivation("erin", &wanted, &keys),
        Reactivation {
            reactivate: vec![OLD.into()],
            already_active: vec![NEW.into()],
            missing: vec!["AKIAGONEGONEGONE0009".into()],
            left_inactive: vec![],
            refused_unchanged: vec![],
        }
    );
    assert_eq!(still_inactive(&wanted, &keys), [OLD]);
}

/// A key IAM refused to switch off was not changed by the apply: Active or gone,
/// there is nothing to undo; Inactive, someone else switched it off, and rollback
/// leaves it so for a person, however long ago it was last used.
#[test]
fn a_key_iam_refused_to_switch_off_is_never_switched_on() {
    const GONE: &str = "AKIAGONEGONEGONE0009";
    let third = "AKIATHIRDTHIRDTHI003";
    for used in [None, Some(audit_time() - Duration::days(3))] {
        let keys = [live(OLD, Inactive, used), live(NEW, Active, None)];
        let wanted = [
            refused(OLD, audit_time()),
            refused(NEW, audit_time()),
            refused(GONE, audit_time()),
        ];
        let check = check_reactivation("erin", &wanted, &keys);
        assert!(check.reactivate.is_empty(), "{used:?}: {check:?}");
        assert!(check.already_active.is_empty() && check.missing.is_empty());
        let unchanged: Vec<&str> = check
            .refused_unchanged
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(unchanged, [NEW, GONE]);
        assert!(check.refused_unchanged[0].1.ends_with("and it is Active"));
        assert!(check.refused_unchanged[1].1.ends_with("deleted since"));
        assert_eq!(check.left_inactive.len(), 1);
        assert_eq!(check.left_inactive[0].0, OLD);
        assert!(check.left_inactive[0].1.contains("IAM refused"));
        assert!(check.left_inactive[0].1.contains("stays Inactive"));
        assert!(check.left_inactive[0].1.contains(&format!(
            "aws iam update-access-key --user-name erin --access-key-id {OLD} --status Active"
        )));
        // Its last use is not looked up: it is not a key to switch on.
        assert!(still_inactive(&wanted, &keys).is_empty());
    }
    let mixed = [changed(third, audit_time()), refused(OLD, audit_time())];
    let keys = [live(third, Inactive, None), live(OLD, Inactive, None)];
    assert_eq!(
        check_reactivation("erin", &mixed, &keys).reactivate,
        [third]
    );
}

/// A use in a later minute than the apply's change means someone switched the key
/// on again: it is left alone. A use in the same minute is the application's last
/// call before the change, and an older use says nothing.
#[test]
fn a_key_used_after_the_apply_changed_it_is_left_alone() {
    let change = audit_time() + Duration::seconds(30);
    for (used, left_alone) in [
        (None, false),
        (Some(audit_time() - Duration::days(3)), false),
        (Some(audit_time() + Duration::seconds(59)), false),
        (Some(audit_time() + Duration::seconds(60)), true),
        (Some(audit_time() + Duration::days(2)), true),
    ] {
        let keys = [live(OLD, Inactive, used)];
        let check = check_reactivation("erin", &[changed(OLD, change)], &keys);
        assert_eq!(!check.left_inactive.is_empty(), left_alone, "{used:?}");
        assert_eq!(check.reactivate.is_empty(), left_alone, "{used:?}");
        if left_alone {
            assert!(check.left_inactive[0].1.contains("stays Inactive"));
        }
    }
}

/// A user whose tags ask for the rotation hand-off is left alone unless the plan
/// records which key the secret its tag names hands out, for the same secret; an
/// exemption is said first.
#[test]
fn a_user_asking_for_the_hand_off_needs_the_plan_to_know_its_secrets_key() {
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/a-Ab12Cd";
    let tag = format!("secretsmanager:{SECRET}");
    let mut user = plan_user();
    assert_eq!(asks_for_hand_off(&user, None), None);
    let reason = asks_for_hand_off(&user, Some(&tag)).unwrap();
    assert!(reason.contains("does not say which key"), "{reason}");
    user.secret_hands_out = Some(crate::plan::model::SecretHandsOut {
        secret_arn: Some(SECRET.into()),
        access_key_id: Some(NEW.into()),
    });
    assert_eq!(asks_for_hand_off(&user, Some(&tag)), None);
    let repointed = tag.replace("app/a-Ab12Cd", "app/b-Ab12Cd");
    let reason = asks_for_hand_off(&user, Some(&repointed)).unwrap();
    assert!(
        reason.contains("names another secret than at the audit"),
        "{reason}"
    );
    // At the audit the tag named no secret keytrim could follow; one that does now
    // has changed.
    user.secret_hands_out.as_mut().unwrap().secret_arn = None;
    assert_eq!(asks_for_hand_off(&user, Some("not a secret")), None);
    let elsewhere = tag.replace("123456789012", "210987654321");
    assert_eq!(asks_for_hand_off(&user, Some(&elsewhere)), None);
    assert!(asks_for_hand_off(&user, Some(&tag)).is_some());
    let exempt = left_alone_by_tags(&user, Some("vendor".into()), Some(&tag)).unwrap();
    assert!(exempt.contains("exempted since the audit"), "{exempt}");
}
