//! Drift: does live IAM state still match what the plan (or the journal) was made from?
//! Pure comparisons; the caller lists the keys.

use std::collections::BTreeSet;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::facts::{EXEMPT_TAG, KeyFacts, KeyStatus};
use crate::plan::{PlanKey, PlanUser};

/// What to do for one user after comparing the plan with live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Deactivation {
    /// Deactivate these keys (still Active); `already_inactive` need nothing.
    Proceed {
        deactivate: Vec<String>,
        already_inactive: Vec<String>,
    },
    /// Live state moved away from the plan: leave the user alone.
    Drifted(String),
}

/// The live keys whose last use apply must look up to compare with the plan: all but
/// the keys to deactivate that are Inactive already (done, or done by someone else;
/// nothing is done to them).
pub(crate) fn needs_last_use(plan_user: &PlanUser, live: &[KeyFacts]) -> Vec<String> {
    live.iter()
        .filter(|key| key.is_active() || !plan_user.deactivate.contains(&key.access_key_id))
        .map(|key| key.access_key_id.clone())
        .collect()
}

fn seconds(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn used_at(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_string(), seconds)
}

/// The first fact the plan states about `planned` that live IAM contradicts. A later
/// use of the kept key is no contradiction (the application uses it); a later use of
/// any other key is drift, and one in or after the audit's minute says so.
fn contradicted_fact(
    plan_user: &PlanUser,
    planned: &PlanKey,
    live: &KeyFacts,
    generated_at: DateTime<Utc>,
) -> Option<String> {
    let id = &planned.access_key_id;
    if live.created != planned.created {
        return Some(format!(
            "{id} was created at {} according to IAM, not at {} as the plan says",
            seconds(live.created),
            seconds(planned.created)
        ));
    }
    let to_deactivate = plan_user.deactivate.contains(id);
    match (planned.status, live.status) {
        (KeyStatus::Active, KeyStatus::Inactive) if to_deactivate => return None,
        (planned_status, live_status) if planned_status != live_status => {
            return Some(format!(
                "{id} is {} in IAM, but {} in the plan",
                live_status.as_str(),
                planned_status.as_str()
            ));
        }
        _ => {}
    }
    let use_ = live.last_use.clone().unwrap_or_default();
    let kept = plan_user.keep.as_ref() == Some(id);
    if use_.at == planned.last_used {
        if use_.at.is_some()
            && (use_.service != planned.last_used_service
                || use_.region != planned.last_used_region)
        {
            return Some(format!(
                "{id} was last used with {} in {} according to IAM, not as the plan says",
                use_.service.as_deref().unwrap_or("no service"),
                use_.region.as_deref().unwrap_or("no region")
            ));
        }
        return None;
    }
    if kept && use_.at > planned.last_used {
        return None;
    }
    // IAM reports last use coarsely (to the minute or coarser), so a use just after the
    // audit may carry a time a little before it: any use in the audit's own minute or
    // later counts as after the audit.
    let audit_minute = minute_of(generated_at);
    Some(match use_.at {
        Some(used) if used >= audit_minute => format!(
            "{id} was used at {} (in or after the minute of the audit at {}): an application may depend on it",
            seconds(used),
            seconds(generated_at)
        ),
        live_use => format!(
            "{id} was last used {} according to IAM, but {} according to the plan: the plan does not match IAM",
            used_at(live_use),
            used_at(planned.last_used)
        ),
    })
}

/// Compare a planned deactivation with live keys (with last use filled in for the keys
/// `needs_last_use` names). Every fact the plan states about a key must match: the set
/// of keys, each key's creation, status and last use (time, service, region). A
/// difference is drift, and the user is left alone.
pub(crate) fn check_deactivation(
    plan_user: &PlanUser,
    generated_at: DateTime<Utc>,
    live: &[KeyFacts],
) -> Deactivation {
    let planned: BTreeSet<&str> = plan_user
        .keys
        .iter()
        .map(|key| key.access_key_id.as_str())
        .collect();
    let current: BTreeSet<&str> = live.iter().map(|key| key.access_key_id.as_str()).collect();
    let created: Vec<&str> = current.difference(&planned).copied().collect();
    if !created.is_empty() {
        return Deactivation::Drifted(format!(
            "key(s) created since the audit: {}",
            created.join(", ")
        ));
    }
    let deleted: Vec<&str> = planned.difference(&current).copied().collect();
    if !deleted.is_empty() {
        return Deactivation::Drifted(format!(
            "key(s) deleted since the audit: {}",
            deleted.join(", ")
        ));
    }
    let live_key = |id: &str| live.iter().find(|key| key.access_key_id == id);
    let Some(keep) = plan_user.keep.as_deref() else {
        return Deactivation::Drifted("the plan keeps no key".to_string());
    };
    match live_key(keep) {
        Some(key) if key.is_active() => {}
        _ => {
            return Deactivation::Drifted(format!(
                "the kept key {keep} is no longer Active; deactivating the others could leave no working key"
            ));
        }
    }
    for planned_key in &plan_user.keys {
        let Some(key) = live_key(&planned_key.access_key_id) else {
            continue; // unreachable: deletions were caught above
        };
        if let Some(reason) = contradicted_fact(plan_user, planned_key, key, generated_at) {
            return Deactivation::Drifted(reason);
        }
    }
    let (already_inactive, deactivate): (Vec<String>, Vec<String>) = plan_user
        .deactivate
        .iter()
        .cloned()
        .partition(|id| live_key(id).is_some_and(|key| !key.is_active()));
    Deactivation::Proceed {
        deactivate,
        already_inactive,
    }
}

/// The drift reason for a user exempted since the audit (`reason` is the tag's value).
pub(crate) fn now_exempt(reason: &str) -> String {
    format!("exempted since the audit by tag {EXEMPT_TAG}: {reason}")
}

/// A key an apply set out to deactivate, and when it can last have changed it (its
/// outcome line, or the journal's end for a call without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedKey {
    pub id: String,
    pub changed_at: DateTime<Utc>,
    /// IAM refused the apply's only attempt (`failed`): the apply did not change the
    /// key. Rollback reads its live state but never switches it on: found Inactive,
    /// someone else switched it off, and that is theirs to undo.
    pub refused: bool,
}

/// What to do for one user on rollback.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Reactivation {
    /// Inactive now: re-activate.
    pub reactivate: Vec<String>,
    /// Active already: nothing to do.
    pub already_active: Vec<String>,
    /// Gone: cannot be re-activated.
    pub missing: Vec<String>,
    /// Inactive, but not keytrim's to switch on: used after the apply changed it
    /// (someone else switched it on and off again since), or IAM refused the apply's
    /// change (someone else switched it off). Each with the reason, for a person.
    pub left_inactive: Vec<(String, String)>,
    /// IAM refused the apply's change, and the key is Active or gone: nothing to undo.
    /// Each with the reason.
    pub refused_unchanged: Vec<(String, String)>,
}

/// The keys of `keys` that are Inactive live: only those need their last use looked
/// up before `check_reactivation`.
pub(crate) fn still_inactive(keys: &[ChangedKey], live: &[KeyFacts]) -> Vec<String> {
    keys.iter()
        .filter(|changed| !changed.refused)
        .filter(|changed| {
            live.iter()
                .any(|key| key.access_key_id == changed.id && !key.is_active())
        })
        .map(|changed| changed.id.clone())
        .collect()
}

/// The minute `at` falls in: IAM reports last use to the minute at best.
fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// Compare the keys an apply deactivated with live keys (last use filled in for the
/// Inactive ones). A use in a later minute than the apply's change proves the key was
/// switched on again after it; a use in the same minute does not (the application's
/// last call before the change), and a key switched off and on without use is not seen.
/// A key IAM refused to switch off is only looked at: the apply never changed it.
pub(crate) fn check_reactivation(
    user_name: &str,
    keys: &[ChangedKey],
    live: &[KeyFacts],
) -> Reactivation {
    let mut result = Reactivation::default();
    for changed in keys {
        let id = &changed.id;
        let found = live.iter().find(|key| &key.access_key_id == id);
        if changed.refused {
            let refused = format!(
                "IAM refused the apply's call to switch {id} off (journaled at {})",
                changed.changed_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            match found {
                Some(key) if !key.is_active() => result.left_inactive.push((
                    id.clone(),
                    format!(
                        "{id} is Inactive, yet {refused}: something other than that apply switched it off since (a later keytrim run or a person), so it stays Inactive for a person to decide (to switch it on: aws iam update-access-key --user-name {user_name} --access-key-id {id} --status Active)"
                    ),
                )),
                Some(_) => result
                    .refused_unchanged
                    .push((id.clone(), format!("nothing to undo: {refused}, and it is Active"))),
                None => result.refused_unchanged.push((
                    id.clone(),
                    format!("nothing to undo: {refused}, and it has been deleted since"),
                )),
            }
            continue;
        }
        match found {
            None => result.missing.push(id.clone()),
            Some(key) if key.is_active() => result.already_active.push(id.clone()),
            Some(key) => match key
                .last_used_at()
                .filter(|used| minute_of(*used) > minute_of(changed.changed_at))
            {
                Some(used) => result.left_inactive.push((
                    id.clone(),
                    format!(
                        "{id} was used at {} after the apply deactivated it at {}: someone switched it on again since, so it stays Inactive",
                        used.format("%Y-%m-%d %H:%M UTC"),
                        changed.changed_at.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                )),
                None => result.reactivate.push(id.clone()),
            },
        }
    }
    result
}

#[cfg(test)]
mod tests {
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
            drift(&|user| user.keys[1].status = Inactive)
                .contains("is Active in IAM, but Inactive")
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
}
