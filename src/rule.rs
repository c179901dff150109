//! The decision rule of CIS 1.13, per user: which key to keep and which to deactivate.
//!
//! Pure: it takes the user's keys, the policy, an optional exemption and "now", and
//! returns a ruling. No I/O, no clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::facts::{KeyFacts, RotationBinding, has_multiple_active_keys};

/// The thresholds the rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A key this many days old or older is too old to keep.
    pub max_key_age_days: u32,
    /// A key used within this many days may still be in use by an application.
    pub in_use_window_days: u32,
    /// When false, recent use does not turn a deactivation into a hold.
    pub in_use_guard: bool,
    /// The older reading of CIS 1.13: when no active key is younger than
    /// `max_key_age_days`, nothing is deactivated (the user is to `rotate`).
    pub require_fresh_key: bool,
    /// When no key is fresh: another key may be deactivated only once it has gone
    /// unused this many days (or was never used and is this old). CIS 1.12's 45 days.
    pub unused_days: u32,
    /// `audit --rotation`: a user whose one active key is over the maximum age and who
    /// asks for the rotation hand-off is to `rotate` (`rotation_ruling`); without it
    /// such a user is compliant.
    pub rotation: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_key_age_days: 90,
            in_use_window_days: 7,
            in_use_guard: true,
            require_fresh_key: false,
            unused_days: DEFAULT_UNUSED_DAYS,
            rotation: false,
        }
    }
}

/// CIS 1.12's definition of an unused credential: 45 days.
pub(crate) const DEFAULT_UNUSED_DAYS: u32 = 45;

/// The prefix of the IAM users the SES console creates for SMTP: their SMTP password
/// is derived from the access key, so switching the key off stops mail.
pub(crate) const SES_SMTP_USER_PREFIX: &str = "ses-smtp-user.";

/// What the plan says to do with a user.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// At most one active key: nothing to do (never written to a plan's users).
    Compliant,
    /// Deactivate the listed keys, keeping one.
    Deactivate,
    /// A key to deactivate was used recently: a person must confirm first.
    Hold,
    /// No active key is fresh enough to keep: rotate first, then re-audit.
    Rotate,
    /// Exempted by tag or exemptions file: never acted on.
    Exempt,
    /// IAM refused to show the user's keys, their last use or the user's tags (an
    /// explicit deny, an SCP, a permissions boundary): not known to be compliant, and
    /// never acted on. Decided by the audit, not by the rule.
    Unreadable,
}

impl Decision {
    /// The word used in plans and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Compliant => "compliant",
            Decision::Deactivate => "deactivate",
            Decision::Hold => "hold",
            Decision::Rotate => "rotate",
            Decision::Exempt => "exempt",
            Decision::Unreadable => "unreadable",
        }
    }
}

/// Why a user is exempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    /// The user carries the `keytrim:exempt` tag with this value.
    Tag(String),
    /// The exemptions file matched the user with this pattern and reason.
    File { pattern: String, reason: String },
}

/// The rule's answer for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruling {
    pub decision: Decision,
    pub reason: String,
    /// The key that stays Active (for deactivate and hold).
    pub keep: Option<String>,
    /// The keys to deactivate (for deactivate; for hold, what deactivation would do).
    pub deactivate: Vec<String>,
    /// The kept key is at or over the maximum age: it is due for rotation (CIS 1.14).
    pub rotation_due: bool,
}

impl Ruling {
    /// A ruling that keeps and deactivates nothing.
    fn without_keys(decision: Decision, reason: String) -> Ruling {
        Ruling {
            decision,
            reason,
            keep: None,
            deactivate: Vec::new(),
            rotation_due: false,
        }
    }
}

/// Whole days from `earlier` to `now`, never negative.
pub fn age_in_days(earlier: DateTime<Utc>, now: DateTime<Utc>) -> u32 {
    let days = (now - earlier).num_days();
    u32::try_from(days.max(0)).unwrap_or(u32::MAX)
}

/// The newest Active key younger than the policy's maximum age; among keys created in
/// the same second, the smallest id. None when no Active key is young enough.
fn key_to_keep<'k>(
    keys: &'k [KeyFacts],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<&'k KeyFacts> {
    let max_age = Duration::days(i64::from(policy.max_key_age_days));
    keys.iter()
        .filter(|key| key.is_active() && now - key.created < max_age)
        .min_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.access_key_id.cmp(&b.access_key_id))
        })
}

/// "<key> was used N day(s) ago" for each key used within the in-use window.
fn recent_uses(keys: &[&KeyFacts], policy: &Policy, now: DateTime<Utc>) -> Vec<String> {
    let window = Duration::days(i64::from(policy.in_use_window_days));
    keys.iter()
        .filter_map(|key| {
            let used = key.last_used_at()?;
            (now - used < window).then(|| {
                format!(
                    "{} was used {} day(s) ago",
                    key.access_key_id,
                    age_in_days(used, now)
                )
            })
        })
        .collect()
}

/// "used N day(s) ago" or "never used".
fn last_use_words(key: &KeyFacts, now: DateTime<Utc>) -> String {
    match key.last_used_at() {
        Some(used) => format!("last used {} day(s) ago", age_in_days(used, now)),
        None => "never used".to_string(),
    }
}

/// The key in use when none is fresh: the one last used, or the newest when none was
/// ever used. Last use is coarse, so ties go to the newest created, then the smallest
/// key id.
fn key_in_use<'k>(active: &[&'k KeyFacts]) -> Option<&'k KeyFacts> {
    active.iter().copied().max_by(|a, b| {
        a.last_used_at()
            .cmp(&b.last_used_at())
            .then_with(|| a.created.cmp(&b.created))
            .then_with(|| b.access_key_id.cmp(&a.access_key_id))
    })
}

/// Why a key may carry an SES SMTP password, which is derived from the key: switching
/// the key off, or replacing it, stops mail until someone derives the password again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SesCredential {
    /// The user is named as the SES console names its SMTP users.
    SmtpUser,
    /// IAM last saw the key used by SES.
    LastUsedBySes,
}

/// Whether `key` of `user_name` may carry an SES SMTP password.
pub(crate) fn ses_credential(user_name: &str, key: &KeyFacts) -> Option<SesCredential> {
    if user_name.starts_with(SES_SMTP_USER_PREFIX) {
        return Some(SesCredential::SmtpUser);
    }
    key.last_use
        .as_ref()
        .and_then(|use_| use_.service.as_deref())
        .is_some_and(|service| service.eq_ignore_ascii_case("ses"))
        .then_some(SesCredential::LastUsedBySes)
}

/// Why `key` may not be deactivated beside a kept key when no key is fresh, or None
/// when it is idle: unused for `unused_days` (never used and that old), not an SES
/// SMTP credential. With the in-use guard on, the threshold is never shorter than the
/// in-use window.
fn still_needed(
    user_name: &str,
    key: &KeyFacts,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<String> {
    let id = &key.access_key_id;
    match ses_credential(user_name, key) {
        Some(SesCredential::SmtpUser) => {
            return Some(format!(
                "{id} belongs to an SES SMTP user, whose SMTP password is derived from the key: switching it off stops mail"
            ));
        }
        Some(SesCredential::LastUsedBySes) => {
            return Some(format!(
                "{id} was last used by SES, where an SMTP password may be derived from it: switching it off may stop mail"
            ));
        }
        None => {}
    }
    let days = if policy.in_use_guard {
        policy.unused_days.max(policy.in_use_window_days)
    } else {
        policy.unused_days
    };
    let threshold = Duration::days(i64::from(days));
    match key.last_used_at() {
        Some(used) if now - used < threshold => Some(format!(
            "{id} was last used {} day(s) ago, within the {days}-day unused threshold: it may belong to another consumer (a monthly job, a vendor, disaster recovery)",
            age_in_days(used, now)
        )),
        None if now - key.created < threshold => Some(format!(
            "{id} was never used but is only {} day(s) old, under the {days}-day unused threshold",
            age_in_days(key.created, now)
        )),
        _ => None,
    }
}

/// No active key is fresh: keep the key in use and deactivate the others that are
/// idle; any other is a hold. Either way the kept key is due for rotation.
fn without_a_fresh_key(
    user_name: &str,
    keys: &[KeyFacts],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Ruling {
    let active: Vec<&KeyFacts> = keys.iter().filter(|key| key.is_active()).collect();
    let keep = key_in_use(&active).expect("two or more active keys");
    let others: Vec<&KeyFacts> = active
        .iter()
        .copied()
        .filter(|key| key.access_key_id != keep.access_key_id)
        .collect();
    let deactivate: Vec<String> = others.iter().map(|k| k.access_key_id.clone()).collect();
    let needed: Vec<String> = others
        .iter()
        .filter_map(|key| still_needed(user_name, key, policy, now))
        .collect();
    let head = format!(
        "{} active keys and none is younger than {} days: keep the key in use, {} ({}, {} day(s) old)",
        active.len(),
        policy.max_key_age_days,
        keep.access_key_id,
        last_use_words(keep, now),
        age_in_days(keep.created, now)
    );
    let rotate = format!(
        "{} is over the maximum age: rotate it (CIS 1.14)",
        keep.access_key_id
    );
    let (decision, reason) = if needed.is_empty() {
        let idle: Vec<String> = others
            .iter()
            .map(|key| format!("{} ({})", key.access_key_id, last_use_words(key, now)))
            .collect();
        (
            Decision::Deactivate,
            format!("{head}, deactivate {}; {rotate}", idle.join(", ")),
        )
    } else {
        (
            Decision::Hold,
            format!(
                "{head}; {}: confirm nothing uses it, then change the decision to deactivate; {rotate}",
                needed.join("; ")
            ),
        )
    };
    Ruling {
        decision,
        reason,
        keep: Some(keep.access_key_id.clone()),
        deactivate,
        rotation_due: true,
    }
}

/// The user's one Active key, when it is at or over the maximum age: the key the
/// rotation hand-off replaces (`audit --rotation`). Inactive keys are not counted here;
/// whether there is room for a new key beside them is the hand-off's own check.
pub(crate) fn lone_key_due<'k>(
    keys: &'k [KeyFacts],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<&'k KeyFacts> {
    let mut active = keys.iter().filter(|key| key.is_active());
    let (Some(key), None) = (active.next(), active.next()) else {
        return None;
    };
    (now - key.created >= Duration::days(i64::from(policy.max_key_age_days))).then_some(key)
}

/// The ruling for a user with one Active key at or over the maximum age whose
/// `keytrim:rotate-to` tag asks for the rotation hand-off (`audit --rotation`), given
/// what became of the binding: `rotate` either way, which apply carries out only when
/// the user is bound (the plan's `rotate_to`); otherwise the advice, with the finding.
/// None for a user with no such key. An exemption wins, as it does for every user.
pub(crate) fn rotation_ruling(
    keys: &[KeyFacts],
    binding: &RotationBinding,
    exemption: Option<&Exemption>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<Ruling> {
    let key = lone_key_due(keys, policy, now)?;
    if let Some(exemption) = exemption {
        return Some(Ruling::without_keys(
            Decision::Exempt,
            exempt_reason(exemption),
        ));
    }
    let head = format!(
        "its one active key, {} ({}, {} day(s) old), is over the {}-day maximum",
        key.access_key_id,
        last_use_words(key, now),
        age_in_days(key.created, now),
        policy.max_key_age_days
    );
    let reason = match binding {
        RotationBinding::Bound { secret_arn, .. } => format!(
            "{head}, and it is bound both ways to secret {secret_arn}: the rotation hand-off creates a new key and writes it to the secret (AWSPENDING, then AWSCURRENT); {} stays Active until a later audit finds it idle",
            key.access_key_id
        ),
        RotationBinding::Crowded { why, .. } | RotationBinding::NotBound { why } => format!(
            "{head}, and its {ROTATE_TO_TAG} tag asks for a rotation, but {why}: keytrim does not rotate it; fix the binding and audit again, or rotate it by hand (CIS 1.14)"
        ),
    };
    Some(Ruling::without_keys(Decision::Rotate, reason))
}

/// A user with two active keys or more whose `keytrim:rotate-to` secret hands out
/// `current_key` (`audit --rotation`): applications reading the secret use that key,
/// so a ruling that would switch it off is a hold instead, for a person to move the
/// secret first. When keytrim cannot tell which key the secret hands out (None), any
/// ruling that would switch a key off is a hold. Any other ruling stands.
pub(crate) fn keep_what_the_secret_hands_out(
    ruling: Ruling,
    secret_arn: Option<&str>,
    current_key: Option<&str>,
) -> Ruling {
    let lists_keys = matches!(ruling.decision, Decision::Deactivate | Decision::Hold);
    let secret_arn = secret_arn.unwrap_or("(none of this account, by its full ARN)");
    let why = match current_key {
        Some(key) if lists_keys && ruling.deactivate.iter().any(|id| id == key) => format!(
            "secret {secret_arn}, which the user's {ROTATE_TO_TAG} tag names, hands out {key} (its AWSCURRENT), so applications reading it use that key: point the secret at the kept key first, then change the decision to deactivate"
        ),
        None if lists_keys && !ruling.deactivate.is_empty() => format!(
            "keytrim cannot tell which key secret {secret_arn}, which the user's {ROTATE_TO_TAG} tag names, hands out: confirm no application reads a key to switch off from it, then change the decision to deactivate"
        ),
        _ => return ruling,
    };
    Ruling {
        decision: Decision::Hold,
        reason: format!("{}; but {why}", ruling.reason),
        ..ruling
    }
}

/// The user tag that asks for the rotation hand-off.
pub(crate) const ROTATE_TO_TAG: &str = "keytrim:rotate-to";

/// Why an exempt user is exempt, as the plan says it.
fn exempt_reason(exemption: &Exemption) -> String {
    match exemption {
        Exemption::Tag(value) => format!("exempt by tag keytrim:exempt: {value}"),
        Exemption::File { pattern, reason } => {
            format!("exempt by exemptions file (pattern `{pattern}`): {reason}")
        }
    }
}

/// Judge one user's keys.
pub fn decide(
    user_name: &str,
    keys: &[KeyFacts],
    exemption: Option<&Exemption>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Ruling {
    if !has_multiple_active_keys(keys) {
        return Ruling::without_keys(Decision::Compliant, "at most one active access key".into());
    }
    let active_count = keys.iter().filter(|key| key.is_active()).count();

    if let Some(exemption) = exemption {
        return Ruling::without_keys(Decision::Exempt, exempt_reason(exemption));
    }

    let Some(keep) = key_to_keep(keys, policy, now) else {
        if !policy.require_fresh_key {
            return without_a_fresh_key(user_name, keys, policy, now);
        }
        return Ruling::without_keys(
            Decision::Rotate,
            format!(
                "{active_count} active keys and none is younger than {} days; IAM allows two keys per user, so no new key can be created beside them: move the application to one of them, deactivate the other and delete it once nothing fails, then create a new key, move the application to it, and audit again",
                policy.max_key_age_days
            ),
        );
    };

    let to_deactivate: Vec<&KeyFacts> = keys
        .iter()
        .filter(|key| key.is_active() && key.access_key_id != keep.access_key_id)
        .collect();
    let deactivate: Vec<String> = to_deactivate
        .iter()
        .map(|key| key.access_key_id.clone())
        .collect();

    let recently_used = recent_uses(&to_deactivate, policy, now);

    if policy.in_use_guard && !recently_used.is_empty() {
        return Ruling {
            decision: Decision::Hold,
            reason: format!(
                "{}, within the {}-day in-use window: an application may still depend on it; confirm, then change the decision to deactivate",
                recently_used.join(", "),
                policy.in_use_window_days
            ),
            keep: Some(keep.access_key_id.clone()),
            deactivate,
            rotation_due: false,
        };
    }

    Ruling {
        decision: Decision::Deactivate,
        reason: format!(
            "{active_count} active keys: keep the newest key under {} days ({}, {} day(s) old), deactivate {}",
            policy.max_key_age_days,
            keep.access_key_id,
            age_in_days(keep.created, now),
            deactivate.join(", ")
        ),
        keep: Some(keep.access_key_id.clone()),
        deactivate,
        rotation_due: false,
    }
}

/// How long after the key a user's secret hands out was made a use of the user's
/// other key says the rotation stalled.
pub(crate) const STALLED_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// "rotation stalled", when another active key of the user was used more than
/// `STALLED_AFTER` after the key the secret hands out (`hands_out`) was created: the
/// application still uses the old key. Caching is the likely cause, and it says so.
pub(crate) fn rotation_stalled(keys: &[KeyFacts], hands_out: &str) -> Option<String> {
    let current = keys.iter().find(|key| key.access_key_id == hands_out)?;
    let since = current.created + STALLED_AFTER;
    keys.iter()
        .filter(|key| {
            key.created < current.created
                && key.access_key_id != hands_out
                && key.status == crate::facts::KeyStatus::Active
        })
        .find_map(|old| {
            let used = old.last_use.as_ref()?.at?;
            (used > since).then(|| {
                format!(
                    "rotation stalled: the old key {} was used on {}, more than {} days after the secret began handing out {hands_out}; applications often cache a secret (the SDK's caching clients refresh hourly; an ECS task reads a secret injected as an environment variable only when it starts): restart or redeploy what reads it",
                    old.access_key_id,
                    used.format("%Y-%m-%d"),
                    STALLED_AFTER.num_days()
                )
            })
        })
}

#[cfg(test)]
mod tests;
