//! How `audit --rotation`'s findings enter a plan (docs/rotation.md): the rotation
//! hand-off's ruling for a user whose one key is due, the finding beside the rule's
//! decision for a user with more keys, the key a secret hands out kept on, and the
//! plan's `rotate_to` and `secret_hands_out`.

use crate::facts::{RotationBinding, UserFacts};
use crate::rule::{self, Decision, Exemption};

use super::{PlanInputs, RotateTo, SecretHandsOut};

/// The rule's ruling for a user that IAM showed, with an exemption or none; under
/// `--rotation` a user who asked for the hand-off is ruled by `rule::rotation_ruling`
/// when its one key is due, and any other such user's reason says why there is none.
pub(super) fn ruling_for(
    user: &UserFacts,
    exemption: Option<&Exemption>,
    inputs: &PlanInputs<'_>,
) -> rule::Ruling {
    let ruling = rule::decide(
        &user.user_name,
        &user.keys,
        exemption,
        &inputs.policy,
        inputs.now,
    );
    // A binding counts only in an audit that looked for one.
    let rotation = user.rotation.as_ref().filter(|_| inputs.policy.rotation);
    match rotation {
        Some(binding) if ruling.decision == Decision::Compliant => {
            rule::rotation_ruling(&user.keys, binding, exemption, &inputs.policy, inputs.now)
                .unwrap_or(ruling)
        }
        // A user with two keys (or more) has no room for a new one: the finding goes
        // with what the rule decides, and the key its secret hands out stays on.
        Some(binding) if ruling.decision != Decision::Exempt => {
            let why = binding.why_not().unwrap_or_default();
            let ruling = rule::Ruling {
                reason: format!(
                    "{}; its {} tag asks for a rotation, but {why}",
                    ruling.reason,
                    rule::ROTATE_TO_TAG
                ),
                ..ruling
            };
            match binding {
                RotationBinding::Crowded {
                    secret_arn,
                    current_key,
                    ..
                } => {
                    let ruling = rule::keep_what_the_secret_hands_out(
                        ruling,
                        secret_arn.as_deref(),
                        current_key.as_deref(),
                    );
                    match current_key
                        .as_deref()
                        .and_then(|key| rule::rotation_stalled(&user.keys, key))
                    {
                        Some(stalled) => rule::Ruling {
                            reason: format!("{}; {stalled}", ruling.reason),
                            ..ruling
                        },
                        None => ruling,
                    }
                }
                _ => ruling,
            }
        }
        _ => ruling,
    }
}

/// The secret a user is handed off to: only a rotation the rule itself decided for a
/// bound user's one key, in an audit that looked for bindings (the standing check
/// holds a plan to the same).
pub(super) fn rotate_to_of(
    user: &UserFacts,
    decision: Decision,
    inputs: &PlanInputs<'_>,
) -> Option<RotateTo> {
    match user.rotation.as_ref().filter(|_| inputs.policy.rotation) {
        Some(RotationBinding::Bound {
            secret_arn,
            current_version,
        }) if decision == Decision::Rotate
            && user.keys.len() == 1
            && rule::lone_key_due(&user.keys, &inputs.policy, inputs.now).is_some() =>
        {
            Some(RotateTo {
                secret_arn: secret_arn.clone(),
                current_version: current_version.clone(),
            })
        }
        _ => None,
    }
}

/// The key a bound secret hands out (or that it is unknown), recorded for a user whose
/// keys the rule may switch off (`deactivate`, `hold`, or `rotate` under
/// `require_fresh_key`, which a reviewer may turn into the default reading), so that
/// the standing check holds it too.
pub(super) fn secret_hands_out_of(
    user: &UserFacts,
    decision: Decision,
    inputs: &PlanInputs<'_>,
) -> Option<SecretHandsOut> {
    match user.rotation.as_ref().filter(|_| inputs.policy.rotation) {
        Some(RotationBinding::Crowded {
            secret_arn,
            current_key,
            ..
        }) if matches!(
            decision,
            Decision::Deactivate | Decision::Hold | Decision::Rotate
        ) =>
        {
            Some(SecretHandsOut {
                secret_arn: secret_arn.clone(),
                access_key_id: current_key.clone(),
            })
        }
        _ => None,
    }
}
