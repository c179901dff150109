//! Tests of the rule: examples for each decision and properties over generated users.

use super::*;
use crate::facts::{KeyStatus, LastUse};
use chrono::TimeZone;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn key(id: &str, status: KeyStatus, age_days: i64, used_days_ago: Option<i64>) -> KeyFacts {
    KeyFacts {
        access_key_id: id.into(),
        status,
        created: now() - Duration::days(age_days),
        last_use: Some(LastUse {
            at: used_days_ago.map(|days| now() - Duration::days(days)),
            service: None,
            region: None,
        }),
        description: None,
    }
}

use KeyStatus::{Active, Inactive};

#[test]
fn one_active_key_is_compliant() {
    let keys = [
        key("AKIA1", Active, 400, None),
        key("AKIA2", Inactive, 5, None),
    ];
    let verdict = decide("alice", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Compliant);
}

#[test]
fn keeps_the_newest_fresh_key_and_deactivates_the_rest() {
    let keys = [
        key("AKIAOLD", Active, 200, Some(30)),
        key("AKIANEW", Active, 10, Some(1)),
    ];
    let verdict = decide("alice", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Deactivate);
    assert_eq!(verdict.keep.as_deref(), Some("AKIANEW"));
    assert_eq!(verdict.deactivate, vec!["AKIAOLD".to_string()]);
}

#[test]
fn two_old_keys_must_be_rotated_first_when_a_fresh_key_is_required() {
    let keys = [
        key("AKIA1", Active, 200, None),
        key("AKIA2", Active, 90, None),
    ];
    let policy = Policy {
        require_fresh_key: true,
        ..Policy::default()
    };
    let verdict = decide("alice", &keys, None, &policy, now());
    assert_eq!(verdict.decision, Decision::Rotate);
    assert_eq!(verdict.keep, None);
    assert!(verdict.deactivate.is_empty());
    assert!(!verdict.rotation_due);
    assert!(verdict.reason.contains("90 days"), "{}", verdict.reason);
    // IAM allows two keys per user: the advice makes room before creating one.
    assert!(
        verdict
            .reason
            .contains("IAM allows two keys per user, so no new key can be created beside them"),
        "{}",
        verdict.reason
    );
}

/// frank: a 400-day key last used 300 days ago, a 200-day key used 2 days ago.
/// None is fresh: keep the one in use, switch off the idle one, rotate the kept.
#[test]
fn with_no_fresh_key_the_key_in_use_is_kept_and_an_idle_one_deactivated() {
    let keys = [
        key("AKIAFRANKOLD", Active, 400, Some(300)),
        key("AKIAFRANKUSED", Active, 200, Some(2)),
    ];
    let verdict = decide("frank", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Deactivate, "{}", verdict.reason);
    assert_eq!(verdict.keep.as_deref(), Some("AKIAFRANKUSED"));
    assert_eq!(verdict.deactivate, ["AKIAFRANKOLD"]);
    assert!(verdict.rotation_due);
    assert!(
        verdict
            .reason
            .contains("AKIAFRANKOLD (last used 300 day(s) ago)")
            && verdict.reason.contains("rotate it (CIS 1.14)"),
        "{}",
        verdict.reason
    );
    // ivan: 100 days used 50 days ago, 95 days used 20 days ago.
    let keys = [
        key("AKIAIVANA", Active, 100, Some(50)),
        key("AKIAIVANB", Active, 95, Some(20)),
    ];
    let verdict = decide("ivan", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Deactivate, "{}", verdict.reason);
    assert_eq!(verdict.keep.as_deref(), Some("AKIAIVANB"));
    assert_eq!(verdict.deactivate, ["AKIAIVANA"]);
}

/// A monthly job's key, used 30 days ago beside a key used daily: held.
#[test]
fn with_no_fresh_key_a_key_used_within_the_unused_days_is_held() {
    let keys = [
        key("AKIAMONTHLY", Active, 300, Some(30)),
        key("AKIADAILY", Active, 200, Some(0)),
    ];
    let verdict = decide("batch", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Hold);
    assert_eq!(verdict.keep.as_deref(), Some("AKIADAILY"));
    assert_eq!(verdict.deactivate, ["AKIAMONTHLY"]);
    assert!(verdict.rotation_due);
    assert!(
        verdict.reason.contains(
            "AKIAMONTHLY was last used 30 day(s) ago, within the 45-day unused threshold"
        ),
        "{}",
        verdict.reason
    );
    // --unused-days 20 lets it go.
    let policy = Policy {
        unused_days: 20,
        ..Policy::default()
    };
    assert_eq!(
        decide("batch", &keys, None, &policy, now()).decision,
        Decision::Deactivate
    );
}

#[test]
fn with_no_fresh_key_and_no_use_the_newest_is_kept_and_ties_go_to_the_newest() {
    let keys = [
        key("AKIAB", Active, 120, None),
        key("AKIAA", Active, 100, None),
    ];
    let verdict = decide("rita", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Deactivate);
    assert_eq!(verdict.keep.as_deref(), Some("AKIAA"));
    // The same last use: the newest created is kept.
    let keys = [
        key("AKIAOLDER", Active, 300, Some(100)),
        key("AKIANEWER", Active, 200, Some(100)),
    ];
    let verdict = decide("u", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.keep.as_deref(), Some("AKIANEWER"));
}

#[test]
fn ses_smtp_credentials_are_held() {
    let keys = [
        key("AKIAOLD", Active, 400, Some(300)),
        key("AKIAUSED", Active, 200, Some(2)),
    ];
    let verdict = decide(
        "ses-smtp-user.20240101-1",
        &keys,
        None,
        &Policy::default(),
        now(),
    );
    assert_eq!(verdict.decision, Decision::Hold);
    assert!(
        verdict.reason.contains("SES SMTP user"),
        "{}",
        verdict.reason
    );
    let mut keys = keys;
    keys[0].last_use.as_mut().unwrap().service = Some("ses".into());
    let verdict = decide("mailer", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Hold);
    assert!(
        verdict.reason.contains("last used by SES"),
        "{}",
        verdict.reason
    );
}

#[test]
fn recent_use_of_a_key_to_deactivate_holds_the_user() {
    let keys = [
        key("AKIAOLD", Active, 200, Some(2)),
        key("AKIANEW", Active, 10, None),
    ];
    let verdict = decide("alice", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Hold);
    assert_eq!(verdict.keep.as_deref(), Some("AKIANEW"));
    assert_eq!(verdict.deactivate, vec!["AKIAOLD".to_string()]);
    assert!(verdict.reason.contains("AKIAOLD was used 2 day(s) ago"));
}

#[test]
fn the_in_use_guard_can_be_switched_off() {
    let keys = [
        key("AKIAOLD", Active, 200, Some(2)),
        key("AKIANEW", Active, 10, None),
    ];
    let policy = Policy {
        in_use_guard: false,
        ..Policy::default()
    };
    assert_eq!(
        decide("alice", &keys, None, &policy, now()).decision,
        Decision::Deactivate
    );
}

#[test]
fn use_of_the_kept_key_does_not_hold() {
    let keys = [
        key("AKIAOLD", Active, 200, Some(60)),
        key("AKIANEW", Active, 10, Some(0)),
    ];
    assert_eq!(
        decide("alice", &keys, None, &Policy::default(), now()).decision,
        Decision::Deactivate
    );
}

#[test]
fn ties_are_broken_by_the_smallest_key_id() {
    let keys = [key("AKIAB", Active, 3, None), key("AKIAA", Active, 3, None)];
    let verdict = decide("alice", &keys, None, &Policy::default(), now());
    assert_eq!(verdict.keep.as_deref(), Some("AKIAA"));
}

#[test]
fn exemptions_win_and_carry_their_reason() {
    let keys = [
        key("AKIA1", Active, 200, None),
        key("AKIA2", Active, 1, None),
    ];
    let tag = Exemption::Tag("break-glass".into());
    let verdict = decide("alice", &keys, Some(&tag), &Policy::default(), now());
    assert_eq!(verdict.decision, Decision::Exempt);
    assert!(verdict.reason.ends_with("break-glass"));
    assert!(verdict.keep.is_none() && verdict.deactivate.is_empty());
}

#[test]
fn an_exemption_does_not_list_a_compliant_user() {
    let keys = [key("AKIA1", Active, 200, None)];
    let tag = Exemption::Tag("x".into());
    assert_eq!(
        decide("alice", &keys, Some(&tag), &Policy::default(), now()).decision,
        Decision::Compliant
    );
}

fn arb_key() -> impl Strategy<Value = KeyFacts> {
    (
        "AKIA[A-Z0-9]{4}",
        any::<bool>(),
        0i64..400,
        proptest::option::of(0i64..400),
    )
        .prop_map(|(id, active, age, used)| {
            key(&id, if active { Active } else { Inactive }, age, used)
        })
}

fn arb_keys() -> impl Strategy<Value = Vec<KeyFacts>> {
    proptest::collection::vec(arb_key(), 0..5).prop_map(|mut keys| {
        keys.sort_by(|a, b| a.access_key_id.cmp(&b.access_key_id));
        keys.dedup_by(|a, b| a.access_key_id == b.access_key_id);
        keys
    })
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (1u32..200, 0u32..30, any::<bool>(), any::<bool>(), 1u32..120).prop_map(
        |(age, window, guard, require_fresh_key, unused_days)| Policy {
            max_key_age_days: age,
            in_use_window_days: window,
            in_use_guard: guard,
            require_fresh_key,
            unused_days,
            rotation: false,
        },
    )
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]

    #[test]
    fn never_deactivates_the_kept_key(keys in arb_keys(), policy in arb_policy()) {
        let verdict = decide("alice", &keys, None, &policy, now());
        if let Some(keep) = &verdict.keep {
            prop_assert!(!verdict.deactivate.contains(keep));
        }
    }

    #[test]
    fn never_deactivates_every_active_key(keys in arb_keys(), policy in arb_policy()) {
        let verdict = decide("alice", &keys, None, &policy, now());
        let active = keys.iter().filter(|k| k.is_active()).count();
        prop_assert!(verdict.deactivate.len() < active.max(1));
        if verdict.decision == Decision::Deactivate {
            let keep = verdict.keep.as_ref().expect("a deactivation keeps a key");
            prop_assert!(keys.iter().any(|k| &k.access_key_id == keep && k.is_active()));
        }
    }

    #[test]
    fn only_active_keys_are_listed_to_deactivate(keys in arb_keys(), policy in arb_policy()) {
        let verdict = decide("alice", &keys, None, &policy, now());
        for id in &verdict.deactivate {
            let listed = keys.iter().find(|k| &k.access_key_id == id).expect("listed key exists");
            prop_assert!(listed.is_active());
        }
    }

    #[test]
    fn is_deterministic_whatever_the_key_order(keys in arb_keys(), policy in arb_policy()) {
        let mut reversed = keys.clone();
        reversed.reverse();
        let a = decide("alice", &keys, None, &policy, now());
        let b = decide("alice", &reversed, None, &policy, now());
        prop_assert_eq!(&a.keep, &b.keep);
        prop_assert_eq!(a.decision, b.decision);
        let (mut da, mut db) = (a.deactivate.clone(), b.deactivate.clone());
        da.sort();
        db.sort();
        prop_assert_eq!(da, db);
        prop_assert_eq!(a, decide("alice", &keys, None, &policy, now()));
    }

    /// With the in-use guard on, a key used within the in-use window is never
    /// deactivated, whichever reading.
    #[test]
    fn a_key_used_within_the_in_use_window_is_never_deactivated(keys in arb_keys(), policy in arb_policy()) {
        let verdict = decide("alice", &keys, None, &policy, now());
        if policy.in_use_guard && verdict.decision == Decision::Deactivate {
            let window = Duration::days(i64::from(policy.in_use_window_days));
            for id in &verdict.deactivate {
                let key = keys.iter().find(|k| &k.access_key_id == id).unwrap();
                prop_assert!(key.last_used_at().is_none_or(|used| now() - used >= window));
            }
        }
    }

    /// With no fresh key, a key used within `unused_days` (or never used and
    /// younger) is never deactivated, guard or not; and the key kept is the one
    /// last used.
    #[test]
    fn with_no_fresh_key_a_key_used_within_the_unused_days_is_never_deactivated(keys in arb_keys(), policy in arb_policy()) {
        let verdict = decide("alice", &keys, None, &policy, now());
        if verdict.rotation_due {
            prop_assert!(!policy.require_fresh_key);
            let threshold = Duration::days(i64::from(policy.unused_days));
            let keep = keys.iter().find(|k| Some(&k.access_key_id) == verdict.keep.as_ref()).unwrap();
            for key in keys.iter().filter(|k| k.is_active()) {
                prop_assert!(key.last_used_at() <= keep.last_used_at());
            }
            if verdict.decision == Decision::Deactivate {
                for id in &verdict.deactivate {
                    let key = keys.iter().find(|k| &k.access_key_id == id).unwrap();
                    let idle_since = key.last_used_at().unwrap_or(key.created);
                    prop_assert!(now() - idle_since >= threshold);
                }
            }
        }
    }

    /// The older reading never deactivates without a fresh key to keep.
    #[test]
    fn requiring_a_fresh_key_keeps_only_fresh_keys(keys in arb_keys(), policy in arb_policy()) {
        let policy = Policy { require_fresh_key: true, ..policy };
        let verdict = decide("alice", &keys, None, &policy, now());
        prop_assert!(!verdict.rotation_due);
        if let Some(keep) = &verdict.keep {
            let key = keys.iter().find(|k| &k.access_key_id == keep).unwrap();
            prop_assert!(age_in_days(key.created, now()) < policy.max_key_age_days);
        }
    }

    #[test]
    fn exempt_users_get_no_actions(keys in arb_keys(), policy in arb_policy()) {
        let exemption = Exemption::File { pattern: "*".into(), reason: "r".into() };
        let verdict = decide("alice", &keys, Some(&exemption), &policy, now());
        prop_assert!(verdict.keep.is_none());
        prop_assert!(verdict.deactivate.is_empty());
    }
}

/// A bound secret's key is never planned off: a deactivation of it becomes a hold
/// naming the secret; a secret that hands out the kept key changes nothing.
#[test]
fn the_key_a_bound_secret_hands_out_is_held_not_deactivated() {
    let keys = [
        key("AKIAOLD", Active, 200, Some(20)),
        key("AKIANEW", Active, 10, None),
    ];
    let ruling = decide("app", &keys, None, &Policy::default(), now());
    assert_eq!(ruling.decision, Decision::Deactivate);
    let held = keep_what_the_secret_hands_out(ruling.clone(), Some("arn:s"), Some("AKIAOLD"));
    assert_eq!(held.decision, Decision::Hold);
    assert_eq!(
        (&held.keep, &held.deactivate),
        (&ruling.keep, &ruling.deactivate)
    );
    assert!(held.reason.contains("hands out AKIAOLD"), "{}", held.reason);
    assert_eq!(
        keep_what_the_secret_hands_out(ruling.clone(), Some("arn:s"), Some("AKIANEW")),
        ruling
    );
    // Which key the secret hands out is unknown: nothing is planned off.
    let unknown = keep_what_the_secret_hands_out(ruling.clone(), Some("arn:s"), None);
    assert_eq!(unknown.decision, Decision::Hold);
    assert!(
        unknown
            .reason
            .contains("cannot tell which key secret arn:s"),
        "{}",
        unknown.reason
    );
    let rotate = Ruling::without_keys(Decision::Rotate, "r".into());
    assert_eq!(
        keep_what_the_secret_hands_out(rotate.clone(), Some("arn:s"), None),
        rotate
    );
}

/// The old key used more than seven days after the key the secret hands out was
/// made: the rotation stalled, and the note names caching. Used before that, or only
/// the new key used: nothing to say.
#[test]
fn a_rotation_is_stalled_when_the_old_key_is_still_used_a_week_after() {
    let now = Utc::now();
    let at = |days: i64| now - Duration::days(days);
    let with_use = |id: &str, created: i64, used: Option<i64>| KeyFacts {
        access_key_id: id.to_string(),
        status: KeyStatus::Active,
        created: at(created),
        last_use: Some(LastUse {
            at: used.map(at),
            service: Some("s3".into()),
            region: Some("us-east-1".into()),
        }),
        description: None,
    };
    let new = "AKIANEWKEY0000000001";
    let old = "AKIAOLDKEY0000000001";
    let stalled_note = rotation_stalled(
        &[with_use(old, 300, Some(1)), with_use(new, 10, Some(0))],
        new,
    );
    let note = stalled_note.expect("stalled");
    assert!(
        note.contains("rotation stalled") && note.contains(old),
        "{note}"
    );
    assert!(note.contains("cache"), "{note}");
    assert_eq!(
        rotation_stalled(
            &[with_use(old, 300, Some(5)), with_use(new, 10, Some(0))],
            new
        ),
        None,
        "used only within the first week"
    );
    assert_eq!(
        rotation_stalled(&[with_use(old, 300, Some(1)), with_use(new, 5, None)], new),
        None,
        "not a week since the new key"
    );
    assert_eq!(
        rotation_stalled(&[with_use(old, 300, None), with_use(new, 30, Some(0))], new),
        None
    );
    assert_eq!(
        rotation_stalled(
            &[with_use(old, 5, Some(1)), with_use(new, 30, Some(0))],
            new
        ),
        None,
        "the other key is newer than the secret's: not an old key"
    );
}
