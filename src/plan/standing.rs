//! A plan is evidence, not orders: what the rule decides for each user on the plan's own
//! facts, as of its `generated_at` and under its policy, and whether the plan's decision
//! is that, a reviewer override keytrim accepts, or an edit it refuses. Pure.
//!
//! The accepted overrides all make apply do less, or exactly what the rule named for a
//! key it held (the "Reviewer overrides" table in docs/formats.md):
//!
//! | the rule decides | the plan says | apply does |
//! |---|---|---|
//! | `hold` | `deactivate`, the same `keep` and `deactivate` | the deactivation the rule named |
//! | `deactivate` | `hold`, the same `keep` and `deactivate` | nothing |
//! | `deactivate` or `hold` | `rotate` | nothing |
//! | `rotate` (under `require_fresh_key`) | `deactivate` or `hold`, the `keep` and `deactivate` the default reading names | at most what the default reading would |
//! | anything | `exempt` or `unreadable` | nothing |
//! | anything | the user removed | nothing |
//!
//! Anything else, and above all a different kept key, is refused. Facts in the plan
//! are checked against live IAM at apply (`change::drift`), so facts edited to agree
//! with an edited decision are caught there.

use chrono::{DateTime, Utc};

use crate::facts::{KeyFacts, LastUse};
use crate::rule::{self, Decision, Policy, Ruling};

use super::model::{Plan, PlanUser};
use super::problem::Problem;

/// How a plan's decision for a user stands against the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The plan's decision is the rule's.
    AsRuled,
    /// A reviewer changed the rule's decision (`rule`) to the plan's, in a way keytrim
    /// accepts.
    Override { rule: Decision },
    /// Exempt: exemptions come from tags and the exemptions file, which the plan does
    /// not hold, so the rule cannot be re-run on them; an exempt user is never acted on.
    Exempt,
    /// Unreadable: IAM refused to show the user, so there are no facts to judge; such
    /// a user is never acted on.
    Unreadable,
}

/// The rule's decision when the plan's is a reviewer override of it: an override the
/// rule accepts, or a user the exemptions file exempts (as of the audit's day) whom
/// the plan does not say is exempt. Leaving an exemption is an override like the
/// others, marked wherever the plan is shown; apply leaves such a user alone.
pub(crate) fn override_of(plan: &Plan, user: &PlanUser) -> Option<Decision> {
    if user.decision != Decision::Exempt
        && plan
            .exempt_by_file
            .exempts(&user.user_name, plan.generated_at.date_naive())
            .is_some()
    {
        return Some(Decision::Exempt);
    }
    match standing(plan, user) {
        Ok(Standing::Override { rule }) => Some(rule),
        _ => None,
    }
}

/// The policy a plan records, as the rule takes it.
pub(crate) fn policy_of(plan: &Plan) -> Policy {
    Policy {
        max_key_age_days: plan.policy.max_key_age_days,
        in_use_window_days: plan.policy.in_use_window_days,
        in_use_guard: plan.policy.in_use_guard,
        require_fresh_key: plan.policy.require_fresh_key,
        unused_days: plan.policy.unused_days,
        rotation: plan.policy.rotation,
    }
}

/// The user's keys as the plan states them, as the rule takes them.
pub(crate) fn key_facts(user: &PlanUser) -> Vec<KeyFacts> {
    user.keys
        .iter()
        .map(|key| KeyFacts {
            access_key_id: key.access_key_id.clone(),
            status: key.status,
            created: key.created,
            last_use: Some(LastUse {
                at: key.last_used,
                service: key.last_used_service.clone(),
                region: key.last_used_region.clone(),
            }),
            description: key.description.clone(),
        })
        .collect()
}

/// What the rule decides for the user on the plan's facts as of `as_of`, without
/// exemptions; with the key a bound secret hands out (`secret_hands_out`) kept on.
pub(crate) fn rule_verdict(policy: &Policy, as_of: DateTime<Utc>, user: &PlanUser) -> Ruling {
    let ruling = rule::decide(&user.user_name, &key_facts(user), None, policy, as_of);
    match &user.secret_hands_out {
        Some(held) => rule::keep_what_the_secret_hands_out(
            ruling,
            held.secret_arn.as_deref(),
            held.access_key_id.as_deref(),
        ),
        None => ruling,
    }
}

fn refused(user: &PlanUser, field: &str, message: String) -> Problem {
    Problem {
        user: Some(user.user_name.clone()),
        field: field.to_string(),
        message,
    }
}

/// True when the plan names the same kept key and the same keys to deactivate as the
/// rule (in any order).
fn same_keys(user: &PlanUser, verdict: &Ruling) -> bool {
    let mut planned: Vec<&String> = user.deactivate.iter().collect();
    let mut ruled: Vec<&String> = verdict.deactivate.iter().collect();
    planned.sort();
    ruled.sort();
    user.keep == verdict.keep && planned == ruled
}

/// How the plan's decision for `user` stands against the rule as of the audit, or why
/// it is refused.
pub(crate) fn standing(plan: &Plan, user: &PlanUser) -> Result<Standing, Problem> {
    standing_as_of(&policy_of(plan), plan.generated_at, user)
}

/// Under the older reading a user with no fresh key is to rotate; a reviewer may take
/// the default reading for that user instead: what it names, no more. Its verdict,
/// when the plan's decision is one that could be it.
fn default_reading(
    policy: &Policy,
    as_of: DateTime<Utc>,
    user: &PlanUser,
    verdict: &Ruling,
) -> Option<Ruling> {
    (verdict.decision == Decision::Rotate
        && policy.require_fresh_key
        && matches!(user.decision, Decision::Deactivate | Decision::Hold))
    .then(|| {
        let policy = Policy {
            require_fresh_key: false,
            ..*policy
        };
        rule_verdict(&policy, as_of, user)
    })
}

/// How the plan's decision for `user` stands against the rule on the plan's facts as
/// of `as_of`, or why it is refused. apply asks as of now too: a `generated_at` moved
/// back in time (which makes a kept key look younger) cannot move now.
pub(crate) fn standing_as_of(
    policy: &Policy,
    as_of: DateTime<Utc>,
    user: &PlanUser,
) -> Result<Standing, Problem> {
    let acts = matches!(user.decision, Decision::Deactivate | Decision::Hold);
    if !acts && user.rotation_due {
        return Err(refused(
            user,
            "rotation_due",
            format!(
                "only a `deactivate` or `hold` keeps a key that can be due for rotation, not `{}`",
                user.decision.as_str()
            ),
        ));
    }
    match user.decision {
        Decision::Exempt => return Ok(Standing::Exempt),
        Decision::Unreadable => return Ok(Standing::Unreadable),
        _ => {}
    }
    if let Some(standing) = hand_off_standing(policy, as_of, user)? {
        return Ok(standing);
    }
    let verdict = rule_verdict(policy, as_of, user);
    let default_reading = default_reading(policy, as_of, user, &verdict);
    let named = default_reading.as_ref().unwrap_or(&verdict);
    let as_of = as_of.format("%Y-%m-%dT%H:%M:%SZ");
    match (verdict.decision, user.decision) {
        (ruled, planned) if ruled == planned => {}
        (Decision::Hold, Decision::Deactivate)
        | (Decision::Deactivate, Decision::Hold)
        | (Decision::Deactivate | Decision::Hold, Decision::Rotate) => {}
        (Decision::Rotate, Decision::Deactivate | Decision::Hold) if default_reading.is_some() => {}
        (ruled, planned) => {
            return Err(refused(
                user,
                "decision",
                format!(
                    "the rule decides `{}` for these keys as of {as_of}, and `{}` is not an override keytrim accepts (see \"Reviewer overrides\" in docs/formats.md)",
                    ruled.as_str(),
                    planned.as_str()
                ),
            ));
        }
    }
    if acts && !same_keys(user, named) {
        let keep = named.keep.as_deref().unwrap_or("no key");
        return Err(refused(
            user,
            "keep",
            format!(
                "the rule keeps {keep} and deactivates {} as of {as_of}; an edit cannot change which key is kept",
                named.deactivate.join(", ")
            ),
        ));
    }
    // The mark tells a reviewer the kept key is over the maximum age; an edit can
    // neither hide it nor add it.
    if acts && user.rotation_due != named.rotation_due {
        return Err(refused(
            user,
            "rotation_due",
            format!(
                "the kept key is {}due for rotation as of {as_of} (the rule says rotation_due: {})",
                if named.rotation_due { "" } else { "not " },
                named.rotation_due
            ),
        ));
    }
    Ok(match &default_reading {
        _ if verdict.decision == user.decision => Standing::AsRuled,
        // The default reading's own decision: an override of the older reading's
        // `rotate`. Anything else overrides the default reading's decision, which is
        // what a reviewer must see (a `hold` made `deactivate` is a hold overridden,
        // with its reason, not a rotation).
        Some(named) if named.decision == user.decision => Standing::Override {
            rule: Decision::Rotate,
        },
        Some(named) => Standing::Override {
            rule: named.decision,
        },
        None => Standing::Override {
            rule: verdict.decision,
        },
    })
}

/// How a `rotate` of the rotation hand-off stands (`rule::rotation_ruling`): under
/// `--rotation`, for a user whose one active key is over the maximum age, either the
/// hand-off itself (`rotate_to`, only for a user whose one key that is: no room
/// otherwise) or the advice with a finding. None for any other user. The binding is not
/// among the plan's facts: apply reads both tags and the secret again. No override
/// leads to `rotate_to`: a user the rule would have do anything else is refused.
fn hand_off_standing(
    policy: &Policy,
    as_of: DateTime<Utc>,
    user: &PlanUser,
) -> Result<Option<Standing>, Problem> {
    let keys = key_facts(user);
    let lone_due = policy.rotation && rule::lone_key_due(&keys, policy, as_of).is_some();
    if user.rotate_to.is_some() {
        if user.decision == Decision::Rotate && lone_due && keys.len() == 1 {
            return Ok(Some(Standing::AsRuled));
        }
        return Err(refused(
            user,
            "rotate_to",
            format!(
                "only a `rotate` of a user whose one key is Active and at least {} days old as of {}, in a plan audited with --rotation, hands a new key off to a secret",
                policy.max_key_age_days,
                as_of.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        ));
    }
    let advice = user.decision == Decision::Rotate
        && lone_due
        && rule_verdict(policy, as_of, user).decision == Decision::Compliant;
    Ok(advice.then_some(Standing::AsRuled))
}

/// Every key's `age_days` is its age as of `generated_at`, in whole days.
pub(crate) fn check_ages(plan: &Plan, user: &PlanUser) -> Result<(), Problem> {
    for key in &user.keys {
        let age = rule::age_in_days(key.created, plan.generated_at);
        if key.age_days != age {
            return Err(refused(
                user,
                "keys.age_days",
                format!(
                    "key {} created {} is {age} day(s) old as of generated_at, not {}",
                    key.access_key_id,
                    key.created.format("%Y-%m-%dT%H:%M:%SZ"),
                    key.age_days
                ),
            ));
        }
    }
    Ok(())
}
