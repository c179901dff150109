//! The plan's invariants beyond its types: checked on every plan that is shown or
//! applied. Pure: takes a parsed plan, returns the first problem found.

use std::collections::HashSet;

use crate::facts::KeyStatus;
use crate::rule::Decision;

use super::model::{PLAN_KIND, Plan, PlanUser, READABLE_PLAN_VERSIONS};
pub use super::problem::Problem;

fn top(field: &str, message: impl Into<String>) -> Problem {
    Problem {
        user: None,
        field: field.to_string(),
        message: message.into(),
    }
}

fn of_user(user: &PlanUser, field: &str, message: impl Into<String>) -> Problem {
    Problem {
        user: Some(user.user_name.clone()),
        field: field.to_string(),
        message: message.into(),
    }
}

/// The longest value an IAM tag can hold, and so the longest key description.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 256;

/// The largest maximum key age and in-use window a plan may state, in days, as audit's
/// own options allow.
pub(crate) const MAX_POLICY_DAYS: u32 = 36_500;

/// True for a string IAM could have issued as an access key id.
pub(crate) fn is_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// True for a twelve-digit AWS account id.
pub(crate) fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// IAM user names: 1 to 64 of letters, digits and `+=,.@_-` (IAM's `[\w+=,.@-]+`).
pub(crate) fn is_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// AWS partitions: `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
pub(crate) fn is_partition(partition: &str) -> bool {
    partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 28
                && rest.split('-').all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        })
}

/// The parts of a secret's full ARN that place it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretArnParts<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
}

/// The parts of `text` if it is a secret's full ARN:
/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`. A
/// partial ARN (without the six random characters Secrets Manager appends to the name)
/// could match a secret created later under the same name, so it is not one.
pub(crate) fn secret_arn_parts(text: &str) -> Option<SecretArnParts<'_>> {
    let mut parts = text.splitn(7, ':');
    let (arn, partition, service, region, account_id, kind, name) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let suffix_is_full = name.rsplit_once('-').is_some_and(|(stem, suffix)| {
        !stem.is_empty() && suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
    });
    let valid = arn == "arn"
        && is_partition(partition)
        && service == "secretsmanager"
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && is_account_id(account_id)
        && kind == "secret"
        && suffix_is_full
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    valid.then_some(SecretArnParts {
        partition,
        region,
        account_id,
    })
}

/// True when `arn` is a secret's full ARN in `partition` and `account_id`, in any
/// region.
pub(crate) fn is_secret_arn_of(arn: &str, partition: &str, account_id: &str) -> bool {
    secret_arn_parts(arn)
        .is_some_and(|parts| parts.partition == partition && parts.account_id == account_id)
}

/// True for a secret version id as Secrets Manager makes them (a UUID) and as a plan
/// records one: 32 to 64 letters, digits and hyphens. Secrets Manager takes any client
/// request token of that length, so a version written with another can be bound to no
/// plan.
pub(crate) fn is_secret_version_id(version: &str) -> bool {
    (32..=64).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// IAM paths: `/`, or `/` + printable ASCII + `/`, at most 512 characters.
fn is_iam_path(path: &str) -> bool {
    (1..=512).contains(&path.len())
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// True when `arn` is exactly the ARN IAM gives user `user_name` of `account_id` in
/// `partition`: `arn:<partition>:iam::<account_id>:user<path><user_name>`.
pub(crate) fn is_user_arn(arn: &str, partition: &str, account_id: &str, user_name: &str) -> bool {
    let prefix = format!("arn:{partition}:iam::{account_id}:user");
    arn.strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(user_name))
        .is_some_and(is_iam_path)
}

/// True for an ARN of the plan's account and partition, in printable ASCII without
/// spaces, as STS reports the caller.
fn is_caller_arn(arn: &str, partition: &str, account_id: &str) -> bool {
    ["iam", "sts"].iter().any(|service| {
        arn.strip_prefix(&format!("arn:{partition}:{service}::{account_id}:"))
            .is_some_and(|rest| !rest.is_empty())
    }) && arn.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// True for a name IAM reports as a key's last-used service or region: printable
/// ASCII without spaces.
fn is_iam_label(text: &str) -> bool {
    (1..=128).contains(&text.len()) && text.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Check every invariant of a parsed plan.
pub fn validate(plan: &Plan) -> Result<(), Problem> {
    if !READABLE_PLAN_VERSIONS.contains(&plan.version) {
        return Err(top(
            "version",
            format!(
                "unsupported plan version {} (this keytrim reads versions 1 to 4)",
                plan.version
            ),
        ));
    }
    if plan.kind != PLAN_KIND {
        return Err(top(
            "kind",
            format!("expected `{PLAN_KIND}`, found `{}`", plan.kind),
        ));
    }
    if !is_account_id(&plan.account_id) {
        return Err(top(
            "account_id",
            format!("`{}` is not a 12-digit AWS account id", plan.account_id),
        ));
    }
    if !is_partition(&plan.partition) {
        return Err(top(
            "partition",
            format!(
                "`{}` is not an AWS partition (aws, aws-cn, aws-us-gov, ...)",
                plan.partition
            ),
        ));
    }
    if !is_caller_arn(&plan.caller_arn, &plan.partition, &plan.account_id) {
        return Err(top(
            "caller_arn",
            format!(
                "`{}` is not an ARN of account {} in partition {}",
                plan.caller_arn, plan.account_id, plan.partition
            ),
        ));
    }
    let unreadable = plan
        .users
        .iter()
        .any(|user| user.decision == Decision::Unreadable);
    if plan.version == 1 && (unreadable || plan.summary.unreadable > 0) {
        return Err(top(
            "version",
            "a version 1 plan has no `unreadable` users; they came with version 2",
        ));
    }
    validate_policy(plan)?;
    // IAM user names are unique ignoring case: `alice` and `ALICE` are one user.
    let mut seen_users = HashSet::new();
    for user in &plan.users {
        if !seen_users.insert(user.user_name.to_ascii_lowercase()) {
            return Err(of_user(
                user,
                "user_name",
                "the user appears twice in the plan (IAM user names ignore case)",
            ));
        }
        validate_user(user, plan)?;
    }
    Ok(())
}

/// The policy's thresholds are within what `audit` takes, and a plan before version 3
/// is read under the reading it was written with.
fn validate_policy(plan: &Plan) -> Result<(), Problem> {
    if plan.policy.max_key_age_days == 0 {
        return Err(top("policy.max_key_age_days", "must be at least 1"));
    }
    if plan.policy.unused_days == 0 {
        return Err(top("policy.unused_days", "must be at least 1"));
    }
    // Plans before version 3 were written under the older reading; one that says
    // otherwise (or lowers the threshold a reviewer's default-reading override uses)
    // is refused.
    if plan.version < 3
        && (!plan.policy.require_fresh_key
            || plan.policy.unused_days != crate::rule::DEFAULT_UNUSED_DAYS)
    {
        return Err(top(
            "policy",
            "plans before version 3 were written with a fresh key required and 45 unused days; other settings came with version 3",
        ));
    }
    // The digest is shown as it stands: only the 64 hex digits a SHA-256 is.
    if let Some(file) = &plan.exemptions
        && !(file.sha256.len() == 64
            && file
                .sha256
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)))
    {
        return Err(top(
            "exemptions.sha256",
            "not a SHA-256 (64 lower-case hex digits)",
        ));
    }
    let marked = plan.users.iter().any(|user| user.rotation_due) || plan.summary.rotation_due > 0;
    if plan.version < 3 && (marked || plan.exemptions.is_some()) {
        return Err(top(
            "version",
            "`rotation_due` and `exemptions` came with version 3; this plan is older",
        ));
    }
    let hands_off = plan
        .users
        .iter()
        .any(|user| user.rotate_to.is_some() || user.secret_hands_out.is_some());
    if plan.version < 4 && (plan.policy.rotation || hands_off) {
        return Err(top(
            "version",
            "`policy.rotation`, `rotate_to` and `secret_hands_out` came with version 4; this plan is older",
        ));
    }
    // The bounds `audit` itself takes (`--max-key-age`, `--in-use-window`,
    // `--unused-days`): a century.
    for (field, days) in [
        ("policy.max_key_age_days", plan.policy.max_key_age_days),
        ("policy.in_use_window_days", plan.policy.in_use_window_days),
        ("policy.unused_days", plan.policy.unused_days),
    ] {
        if days > MAX_POLICY_DAYS {
            return Err(top(
                field,
                format!("must be at most {MAX_POLICY_DAYS} days"),
            ));
        }
    }
    Ok(())
}

fn validate_user(user: &PlanUser, plan: &Plan) -> Result<(), Problem> {
    validate_identity(user, plan)?;
    validate_keys(user)?;
    validate_decision(user)?;
    hand_off::validate_rotate_to(user, plan)?;
    hand_off::validate_secret_hands_out(user, plan)?;
    // The plan agrees with itself: ages as of the audit, and a decision that is the
    // rule's on the plan's own facts or an override that does less.
    super::standing::check_ages(plan, user)?;
    super::standing::standing(plan, user).map(|_| ())
}

/// The user's name and ARN, and that only an exempt user has an exemption end date.
fn validate_identity(user: &PlanUser, plan: &Plan) -> Result<(), Problem> {
    if !is_user_name(&user.user_name) {
        return Err(of_user(
            user,
            "user_name",
            "not a valid IAM user name (1 to 64 of letters, digits and +=,.@_-)",
        ));
    }
    if !is_user_arn(
        &user.user_arn,
        &plan.partition,
        &plan.account_id,
        &user.user_name,
    ) {
        return Err(of_user(
            user,
            "user_arn",
            format!(
                "`{}` is not the ARN of this user (arn:{}:iam::{}:user/<path>{})",
                user.user_arn, plan.partition, plan.account_id, user.user_name
            ),
        ));
    }
    // The error IAM answered belongs to an unreadable user, and such a user has one.
    match (user.decision, user.error.as_deref()) {
        (Decision::Unreadable, None | Some("")) => {
            return Err(of_user(
                user,
                "error",
                "an `unreadable` user carries the error IAM answered",
            ));
        }
        (Decision::Unreadable, Some(_)) | (_, None) => {}
        (other, Some(_)) => {
            return Err(of_user(
                user,
                "error",
                format!(
                    "only an `unreadable` user carries an error, not `{}`",
                    other.as_str()
                ),
            ));
        }
    }
    if user.exempt_until.is_some() && user.decision != Decision::Exempt {
        return Err(of_user(
            user,
            "exempt_until",
            format!(
                "only an `exempt` user has an exemption end date, not `{}`",
                user.decision.as_str()
            ),
        ));
    }
    Ok(())
}

/// Each key: a real access key id, listed once, with fields IAM could have reported.
fn validate_keys(user: &PlanUser) -> Result<(), Problem> {
    let mut seen_keys = HashSet::new();
    for key in &user.keys {
        if !is_access_key_id(&key.access_key_id) {
            return Err(of_user(
                user,
                "keys.access_key_id",
                format!(
                    "`{}` is not an access key id (16 to 128 upper-case letters and digits)",
                    key.access_key_id
                ),
            ));
        }
        if !seen_keys.insert(key.access_key_id.as_str()) {
            return Err(of_user(
                user,
                "keys",
                format!("key {} is listed twice", key.access_key_id),
            ));
        }
        // IAM tag values are at most 256 characters; anything longer was not read
        // from IAM. What it contains is shown escaped, never trusted.
        if key
            .description
            .as_deref()
            .is_some_and(|text| text.chars().count() > MAX_DESCRIPTION_CHARS)
        {
            return Err(of_user(
                user,
                "keys.description",
                format!(
                    "longer than an IAM tag value ({MAX_DESCRIPTION_CHARS} characters) for key {}",
                    key.access_key_id
                ),
            ));
        }
        for (field, value) in [
            ("keys.last_used_service", &key.last_used_service),
            ("keys.last_used_region", &key.last_used_region),
        ] {
            if value.as_deref().is_some_and(|text| !is_iam_label(text)) {
                return Err(of_user(
                    user,
                    field,
                    "not a name IAM reports (printable ASCII without spaces)",
                ));
            }
        }
    }
    Ok(())
}

/// What the decision allows: a null keep and nothing to deactivate for rotate and exempt,
/// and for deactivate and hold what `validate_deactivation` checks; never compliant.
fn validate_decision(user: &PlanUser) -> Result<(), Problem> {
    match user.decision {
        Decision::Compliant => Err(of_user(
            user,
            "decision",
            "`compliant` users are not listed in a plan; use deactivate, hold, rotate or exempt",
        )),
        Decision::Rotate | Decision::Exempt | Decision::Unreadable => {
            if user.keep.is_some() {
                return Err(of_user(
                    user,
                    "keep",
                    format!("must be null for decision `{}`", user.decision.as_str()),
                ));
            }
            if !user.deactivate.is_empty() {
                return Err(of_user(
                    user,
                    "deactivate",
                    format!("must be empty for decision `{}`", user.decision.as_str()),
                ));
            }
            Ok(())
        }
        Decision::Deactivate | Decision::Hold => validate_deactivation(user),
    }
}

/// A deactivation (or a held one): the kept key is one of the user's Active keys, and
/// every key to deactivate is another of them, listed once.
fn validate_deactivation(user: &PlanUser) -> Result<(), Problem> {
    let status_of = |id: &str| {
        user.keys
            .iter()
            .find(|key| key.access_key_id == id)
            .map(|key| key.status)
    };

    let Some(keep) = user.keep.as_deref() else {
        return Err(of_user(
            user,
            "keep",
            format!(
                "decision `{}` must keep one key; a user is never left without an active key",
                user.decision.as_str()
            ),
        ));
    };
    match status_of(keep) {
        None => {
            return Err(of_user(
                user,
                "keep",
                format!("{keep} is not one of the user's keys"),
            ));
        }
        Some(KeyStatus::Inactive) => {
            return Err(of_user(
                user,
                "keep",
                format!(
                    "{keep} was Inactive at audit time; deactivating the others would leave no active key"
                ),
            ));
        }
        Some(KeyStatus::Active) => {}
    }
    if user.deactivate.is_empty() {
        return Err(of_user(
            user,
            "deactivate",
            "lists no key; a user with nothing to deactivate does not belong in the plan",
        ));
    }
    let mut seen = HashSet::new();
    for id in &user.deactivate {
        if id == keep {
            return Err(of_user(
                user,
                "deactivate",
                format!("{id} is the kept key; the kept key is never deactivated"),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(of_user(user, "deactivate", format!("{id} is listed twice")));
        }
        match status_of(id) {
            None => {
                return Err(of_user(
                    user,
                    "deactivate",
                    format!("{id} is not one of the user's keys"),
                ));
            }
            Some(KeyStatus::Inactive) => {
                return Err(of_user(
                    user,
                    "deactivate",
                    format!("{id} was already Inactive at audit time"),
                ));
            }
            Some(KeyStatus::Active) => {}
        }
    }
    Ok(())
}

mod hand_off;

#[cfg(test)]
mod tests;
