//! The plan's records of the rotation hand-off (docs/rotation.md): `rotate_to` and
//! `secret_hands_out` name a secret of the plan's account and partition, and stand
//! only on the decisions that can carry them. Whether the rule decided them is the
//! standing check's.

use crate::facts::KeyStatus;
use crate::rule::Decision;

use super::super::model::{Plan, PlanUser};
use super::{Problem, is_secret_arn_of, is_secret_version_id, of_user};

/// The secret of a hand-off: a full secret ARN in the plan's account and partition,
/// and a version id as Secrets Manager makes them. Whether the rule decided it is the
/// standing check's.
pub(super) fn validate_rotate_to(user: &PlanUser, plan: &Plan) -> Result<(), Problem> {
    let Some(rotate_to) = &user.rotate_to else {
        return Ok(());
    };
    if user.decision != Decision::Rotate {
        return Err(of_user(
            user,
            "rotate_to",
            format!(
                "only a `rotate` user is handed off to a secret, not `{}`",
                user.decision.as_str()
            ),
        ));
    }
    if !is_secret_arn_of(&rotate_to.secret_arn, &plan.partition, &plan.account_id) {
        return Err(of_user(
            user,
            "rotate_to.secret_arn",
            format!(
                "not the full ARN of a secret in account {} and partition {} (arn:{}:secretsmanager:<region>:{}:secret:<name>-<6 characters>)",
                plan.account_id, plan.partition, plan.partition, plan.account_id
            ),
        ));
    }
    if !is_secret_version_id(&rotate_to.current_version) {
        return Err(of_user(
            user,
            "rotate_to.current_version",
            "not a secret version id (32 to 64 letters, digits and hyphens)",
        ));
    }
    Ok(())
}

/// The key a secret hands out: on a `deactivate`, `hold` or `rotate` of a user with two
/// active keys (the users whose keys the rule may switch off) in a plan audited with
/// `--rotation`, a full secret ARN of the plan's account and partition, and one of the
/// user's Active keys, or null (unknown).
pub(super) fn validate_secret_hands_out(user: &PlanUser, plan: &Plan) -> Result<(), Problem> {
    let Some(held) = &user.secret_hands_out else {
        return Ok(());
    };
    let active_keys = user
        .keys
        .iter()
        .filter(|key| key.status == KeyStatus::Active)
        .count();
    let lists_keys = matches!(
        user.decision,
        Decision::Deactivate | Decision::Hold | Decision::Rotate
    );
    if !lists_keys || active_keys < 2 || !plan.policy.rotation {
        return Err(of_user(
            user,
            "secret_hands_out",
            format!(
                "only a `deactivate`, `hold` or `rotate` of a user with two active keys, in a plan audited with --rotation, names the key a secret hands out, not this `{}`",
                user.decision.as_str()
            ),
        ));
    }
    if let Some(secret_arn) = &held.secret_arn
        && !is_secret_arn_of(secret_arn, &plan.partition, &plan.account_id)
    {
        return Err(of_user(
            user,
            "secret_hands_out.secret_arn",
            format!(
                "not the full ARN of a secret in account {} and partition {}",
                plan.account_id, plan.partition
            ),
        ));
    }
    if let Some(held_key) = &held.access_key_id
        && !user
            .keys
            .iter()
            .any(|key| key.access_key_id == *held_key && key.status == KeyStatus::Active)
    {
        return Err(of_user(
            user,
            "secret_hands_out.access_key_id",
            format!("{held_key} is not one of the user's Active keys"),
        ));
    }
    Ok(())
}
