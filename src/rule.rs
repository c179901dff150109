//! The decision rule of CIS 1.13, per user: which key to keep and which to deactivate.
//!
//! Pure: it takes the user's keys, the policy, an optional exemption and "now", and
//! returns a verdict. No I/O, no clock.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::facts::{KeyFacts, has_multiple_active_keys};

/// The thresholds the rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A key this many days old or older is too old to keep.
    pub max_key_age_days: u32,
    /// A key used within this many days may still be in use by an application.
    pub in_use_window_days: u32,
    /// When false, recent use does not turn a deactivation into a hold.
    pub in_use_guard: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_key_age_days: 90,
            in_use_window_days: 7,
            in_use_guard: true,
        }
    }
}

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
pub struct Verdict {
    pub decision: Decision,
    pub reason: String,
    /// The key that stays Active (for deactivate and hold).
    pub keep: Option<String>,
    /// The keys to deactivate (for deactivate; for hold, what deactivation would do).
    pub deactivate: Vec<String>,
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

/// Judge one user's keys.
pub fn decide(
    keys: &[KeyFacts],
    exemption: Option<&Exemption>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Verdict {
    if !has_multiple_active_keys(keys) {
        return Verdict {
            decision: Decision::Compliant,
            reason: "at most one active access key".into(),
            keep: None,
            deactivate: Vec::new(),
        };
    }
    let active_count = keys.iter().filter(|key| key.is_active()).count();

    if let Some(exemption) = exemption {
        let reason = match exemption {
            Exemption::Tag(value) => format!("exempt by tag keytrim:exempt: {value}"),
            Exemption::File { pattern, reason } => {
                format!("exempt by exemptions file (pattern `{pattern}`): {reason}")
            }
        };
        return Verdict {
            decision: Decision::Exempt,
            reason,
            keep: None,
            deactivate: Vec::new(),
        };
    }

    let Some(keep) = key_to_keep(keys, policy, now) else {
        return Verdict {
            decision: Decision::Rotate,
            reason: format!(
                "{active_count} active keys and none is younger than {} days; IAM allows two keys per user, so no new key can be created beside them: move the application to one of them, deactivate the other and delete it once nothing fails, then create a new key, move the application to it, and audit again",
                policy.max_key_age_days
            ),
            keep: None,
            deactivate: Vec::new(),
        };
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
        return Verdict {
            decision: Decision::Hold,
            reason: format!(
                "{}, within the {}-day in-use window: an application may still depend on it; confirm, then change the decision to deactivate",
                recently_used.join(", "),
                policy.in_use_window_days
            ),
            keep: Some(keep.access_key_id.clone()),
            deactivate,
        };
    }

    Verdict {
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
    }
}

#[cfg(test)]
mod tests {
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
        let verdict = decide(&keys, None, &Policy::default(), now());
        assert_eq!(verdict.decision, Decision::Compliant);
    }

    #[test]
    fn keeps_the_newest_fresh_key_and_deactivates_the_rest() {
        let keys = [
            key("AKIAOLD", Active, 200, Some(30)),
            key("AKIANEW", Active, 10, Some(1)),
        ];
        let verdict = decide(&keys, None, &Policy::default(), now());
        assert_eq!(verdict.decision, Decision::Deactivate);
        assert_eq!(verdict.keep.as_deref(), Some("AKIANEW"));
        assert_eq!(verdict.deactivate, vec!["AKIAOLD".to_string()]);
    }

    #[test]
    fn two_old_keys_must_be_rotated_first() {
        let keys = [
            key("AKIA1", Active, 200, None),
            key("AKIA2", Active, 90, None),
        ];
        let verdict = decide(&keys, None, &Policy::default(), now());
        assert_eq!(verdict.decision, Decision::Rotate);
        assert_eq!(verdict.keep, None);
        assert!(verdict.deactivate.is_empty());
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

    #[test]
    fn recent_use_of_a_key_to_deactivate_holds_the_user() {
        let keys = [
            key("AKIAOLD", Active, 200, Some(2)),
            key("AKIANEW", Active, 10, None),
        ];
        let verdict = decide(&keys, None, &Policy::default(), now());
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
            decide(&keys, None, &policy, now()).decision,
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
            decide(&keys, None, &Policy::default(), now()).decision,
            Decision::Deactivate
        );
    }

    #[test]
    fn ties_are_broken_by_the_smallest_key_id() {
        let keys = [key("AKIAB", Active, 3, None), key("AKIAA", Active, 3, None)];
        let verdict = decide(&keys, None, &Policy::default(), now());
        assert_eq!(verdict.keep.as_deref(), Some("AKIAA"));
    }

    #[test]
    fn exemptions_win_and_carry_their_reason() {
        let keys = [
            key("AKIA1", Active, 200, None),
            key("AKIA2", Active, 1, None),
        ];
        let tag = Exemption::Tag("break-glass".into());
        let verdict = decide(&keys, Some(&tag), &Policy::default(), now());
        assert_eq!(verdict.decision, Decision::Exempt);
        assert!(verdict.reason.ends_with("break-glass"));
        assert!(verdict.keep.is_none() && verdict.deactivate.is_empty());
    }

    #[test]
    fn an_exemption_does_not_list_a_compliant_user() {
        let keys = [key("AKIA1", Active, 200, None)];
        let tag = Exemption::Tag("x".into());
        assert_eq!(
            decide(&keys, Some(&tag), &Policy::default(), now()).decision,
            Decision::Compliant
        );
    }

    fn arb_key() -> impl Strategy<Value = KeyFacts> {
        (
            "AKIA[A-Z0-9]{4}",
            any::<bool>(),
            0i64..400,
            proptest::option::of(0i64..30),
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
        (1u32..200, 0u32..30, any::<bool>()).prop_map(|(age, window, guard)| Policy {
            max_key_age_days: age,
            in_use_window_days: window,
            in_use_guard: guard,
        })
    }

    proptest! {
        #[test]
        fn never_deactivates_the_kept_key(keys in arb_keys(), policy in arb_policy()) {
            let verdict = decide(&keys, None, &policy, now());
            if let Some(keep) = &verdict.keep {
                prop_assert!(!verdict.deactivate.contains(keep));
            }
        }

        #[test]
        fn never_deactivates_every_active_key(keys in arb_keys(), policy in arb_policy()) {
            let verdict = decide(&keys, None, &policy, now());
            let active = keys.iter().filter(|k| k.is_active()).count();
            prop_assert!(verdict.deactivate.len() < active.max(1));
            if verdict.decision == Decision::Deactivate {
                let keep = verdict.keep.as_ref().expect("a deactivation keeps a key");
                prop_assert!(keys.iter().any(|k| &k.access_key_id == keep && k.is_active()));
            }
        }

        #[test]
        fn only_active_keys_are_listed_to_deactivate(keys in arb_keys(), policy in arb_policy()) {
            let verdict = decide(&keys, None, &policy, now());
            for id in &verdict.deactivate {
                let listed = keys.iter().find(|k| &k.access_key_id == id).expect("listed key exists");
                prop_assert!(listed.is_active());
            }
        }

        #[test]
        fn is_deterministic_whatever_the_key_order(keys in arb_keys(), policy in arb_policy()) {
            let mut reversed = keys.clone();
            reversed.reverse();
            let a = decide(&keys, None, &policy, now());
            let b = decide(&reversed, None, &policy, now());
            prop_assert_eq!(&a.keep, &b.keep);
            prop_assert_eq!(a.decision, b.decision);
            let (mut da, mut db) = (a.deactivate.clone(), b.deactivate.clone());
            da.sort();
            db.sort();
            prop_assert_eq!(da, db);
            prop_assert_eq!(a, decide(&keys, None, &policy, now()));
        }

        #[test]
        fn exempt_users_get_no_actions(keys in arb_keys(), policy in arb_policy()) {
            let exemption = Exemption::File { pattern: "*".into(), reason: "r".into() };
            let verdict = decide(&keys, Some(&exemption), &policy, now());
            prop_assert!(verdict.keep.is_none());
            prop_assert!(verdict.deactivate.is_empty());
        }
    }
}
