//! Drift: does live IAM state still match what the plan (or the journal) was made from?
//! Pure comparisons; the caller lists the keys.

use std::collections::BTreeSet;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::facts::{EXEMPT_TAG, KeyFacts, KeyStatus};
use crate::plan::{PlanKey, PlanUser};
use crate::rule::ROTATE_TO_TAG;

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

/// Why the user's live tags leave it alone, if they do: an exemption in force now
/// (`exempt`, its reason), or a `keytrim:rotate-to` tag (`rotate_to`, its value) the
/// plan does not account for (`asks_for_hand_off`).
pub(crate) fn left_alone_by_tags(
    user: &PlanUser,
    exempt: Option<String>,
    rotate_to: Option<&str>,
) -> Option<String> {
    exempt
        .map(|reason| now_exempt(&reason))
        .or_else(|| asks_for_hand_off(user, rotate_to))
}

/// Why a user whose live `keytrim:rotate-to` tag (`rotate_to`) asks for the rotation
/// hand-off is not changed: the plan does not say which key the secret hands out (an
/// audit without `--rotation`, a tag added since, the record removed from the plan),
/// or the tag names another secret than the plan records (re-pointed since the audit).
/// An application may read one of the keys to switch off from that secret. None when
/// the user does not ask, or the plan's record is of the same secret.
pub(crate) fn asks_for_hand_off(user: &PlanUser, rotate_to: Option<&str>) -> Option<String> {
    let tag = rotate_to?;
    let Some(held) = &user.secret_hands_out else {
        return Some(format!(
            "its tag {ROTATE_TO_TAG} names a secret, and the plan does not say which key that secret hands out (an application may read one of the keys to switch off from it): audit again with --rotation"
        ));
    };
    // As the audit recorded it: a full secret ARN of the user's account and partition,
    // in any region, or none.
    let named_now = crate::rotation::secret_of_users_account(tag, &user.user_arn);
    (named_now != held.secret_arn.as_deref()).then(|| {
        format!(
            "its tag {ROTATE_TO_TAG} names another secret than at the audit: audit again with --rotation"
        )
    })
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
mod tests;
