//! The rotation hand-off's own rule, pure (docs/rotation.md): whether an IAM user and a
//! Secrets Manager secret name each other, the user's `keytrim:rotate-to` tag the secret
//! and the secret's `keytrim:rotates` tag the user, and whether that secret can take a
//! new key. A tag on one side alone never binds: anyone allowed `iam:TagUser` could
//! point a user at a secret they can read.
//!
//! Everything here works on facts read elsewhere (`aws::secrets`), and none of them is
//! secret material: what the secret's AWSCURRENT value holds is kept only as its shape
//! and the access key id it names.

pub(crate) mod recovery;
pub(crate) mod secret_value;

use crate::facts::{KeyFacts, RotationBinding, has_multiple_active_keys};
use crate::rule::{SesCredential, ses_credential};

/// The user's tag naming the secret its new key goes to.
pub(crate) use crate::rule::ROTATE_TO_TAG;
/// The secret's tag naming the user whose key it holds.
pub(crate) const ROTATES_TAG: &str = "keytrim:rotates";
/// What the user's tag value starts with, before the secret's ARN.
const TAG_PREFIX: &str = "secretsmanager:";
/// The staging label of the version applications read.
pub(crate) const CURRENT: &str = "AWSCURRENT";
/// The staging label of a version being rotated in.
pub(crate) const PENDING: &str = "AWSPENDING";

/// A secret's full ARN, taken apart:
/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`.
/// Only `secret_named` makes one, after checking it against the user it was named for,
/// so a secret that `check` and `aws::secrets::read_secret` are given was named by a
/// user's tag and placed where that user can be rotated into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretArn {
    arn: String,
    partition: String,
    region: String,
    account_id: String,
}

impl SecretArn {
    /// The full ARN.
    pub(crate) fn as_str(&self) -> &str {
        &self.arn
    }

    /// The ARN, if `text` is a secret's full ARN (`plan::validate::secret_arn_parts`).
    fn parse(text: &str) -> Option<SecretArn> {
        let parts = crate::plan::validate::secret_arn_parts(text)?;
        Some(SecretArn {
            arn: text.to_string(),
            partition: parts.partition.to_string(),
            region: parts.region.to_string(),
            account_id: parts.account_id.to_string(),
        })
    }
}

/// What a secret's AWSCURRENT value is, as far as keytrim keeps it: never the secret
/// access key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CurrentValue {
    /// A JSON object with the string fields `AccessKeyId` and `SecretAccessKey`: the
    /// access key id it names.
    AccessKey { access_key_id: String },
    /// Anything else, with what is wrong with it.
    NotAnAccessKey { why: &'static str },
}

impl CurrentValue {
    /// Read the shape of a secret string: the access key id it names, nothing else. The
    /// string is not copied, nor quoted in `why`.
    pub(crate) fn of(secret_string: &str) -> CurrentValue {
        match secret_value::access_key_id(secret_string) {
            Ok(id) if crate::plan::validate::is_access_key_id(&id) => {
                CurrentValue::AccessKey { access_key_id: id }
            }
            Ok(_) => CurrentValue::NotAnAccessKey {
                why: "its AccessKeyId is not an access key id",
            },
            Err(why) => CurrentValue::NotAnAccessKey { why },
        }
    }
}

/// What was read about a secret a user names (`DescribeSecret`, and `GetSecretValue`
/// of AWSCURRENT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretFacts {
    /// The full ARN, as Secrets Manager answered it.
    pub arn: String,
    /// The secret's `keytrim:rotates` tag.
    pub rotates: Option<String>,
    pub rotation_enabled: bool,
    /// The region of the secret's primary (DescribeSecret gives it for a primary too,
    /// as its own region).
    pub primary_region: Option<String>,
    /// Scheduled for deletion.
    pub deleted: bool,
    /// The service that manages the secret (RDS, say), which rotates it itself.
    pub owning_service: Option<String>,
    /// A managed external secret's partner.
    pub external: Option<String>,
    /// The version holding AWSCURRENT.
    pub current_version: Option<String>,
    /// The version holding AWSPENDING.
    pub pending_version: Option<String>,
    /// AWSCURRENT's value; None when the secret has no AWSCURRENT version.
    pub current_value: Option<CurrentValue>,
}

/// The user as the rule sees it, and where the audit runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub user_name: &'a str,
    pub user_arn: &'a str,
    pub keys: &'a [KeyFacts],
    /// The audited account and the region keytrim runs in: the secret must be in both.
    pub account_id: &'a str,
    pub region: &'a str,
}

/// The secret the user's `keytrim:rotate-to` tag names, before anything about the
/// secret is read: a full ARN in the audited account and partition and in the region
/// keytrim runs in. Whether the user has room for a new key is `room_for_a_new_key`'s,
/// and `check` asks it again.
pub(crate) fn secret_named(
    candidate: &Candidate<'_>,
    tag_value: &str,
) -> Result<SecretArn, String> {
    let Some(arn_text) = tag_value.strip_prefix(TAG_PREFIX) else {
        return Err(format!(
            "its {ROTATE_TO_TAG} tag does not start with `{TAG_PREFIX}`"
        ));
    };
    let Some(secret) = SecretArn::parse(arn_text) else {
        return Err(format!(
            "its {ROTATE_TO_TAG} tag does not name a secret by its full ARN"
        ));
    };
    placed(candidate, &secret)?;
    Ok(secret)
}

/// The secret is in the audited account, the user's partition and keytrim's region.
fn placed(candidate: &Candidate<'_>, secret: &SecretArn) -> Result<(), String> {
    if secret.account_id != candidate.account_id {
        return Err(format!(
            "its {ROTATE_TO_TAG} tag names a secret in account {}, not this one",
            secret.account_id
        ));
    }
    let user_partition = candidate.user_arn.split(':').nth(1).unwrap_or_default();
    if secret.partition != user_partition {
        return Err(format!(
            "its {ROTATE_TO_TAG} tag names a secret in partition {}, not the user's",
            secret.partition
        ));
    }
    if secret.region != candidate.region {
        return Err(format!(
            "its {ROTATE_TO_TAG} tag names a secret in {}, and keytrim runs in {}",
            secret.region, candidate.region
        ));
    }
    Ok(())
}

/// One key, Active, whose SMTP password SES does not derive: IAM allows two keys, so
/// a user with two (even one Inactive) has no room for a new one.
pub(crate) fn room_for_a_new_key(candidate: &Candidate<'_>) -> Result<(), String> {
    let [key] = candidate.keys else {
        return Err(format!(
            "it has {} access keys: IAM allows two, so a new key needs the other deleted first",
            candidate.keys.len()
        ));
    };
    if !key.is_active() {
        return Err("its only key is Inactive".to_string());
    }
    match ses_credential(candidate.user_name, key) {
        Some(SesCredential::SmtpUser) => Err(
            "it is an SES SMTP user: the SMTP password is derived from the key, so a new key stops mail".to_string(),
        ),
        Some(SesCredential::LastUsedBySes) => Err(
            "its key was last used by SES, where an SMTP password may be derived from it".to_string(),
        ),
        None => Ok(()),
    }
}

/// Whether the user (whose tag named `named`) and the secret as read are bound both
/// ways, and the secret can take a new key; for a user with two active keys or more,
/// which of them the secret hands out.
pub(crate) fn check(
    candidate: &Candidate<'_>,
    named: &SecretArn,
    secret: &SecretFacts,
) -> RotationBinding {
    if has_multiple_active_keys(candidate.keys) {
        return crowded(candidate, named, secret);
    }
    let refused =
        described_refusal(candidate, named, secret).or_else(|| value_refusal(candidate, secret));
    match (refused, &secret.current_version) {
        (Some(why), _) => RotationBinding::NotBound { why },
        (None, Some(version)) => RotationBinding::Bound {
            secret_arn: secret.arn.clone(),
            current_version: version.clone(),
        },
        (None, None) => RotationBinding::NotBound {
            why: format!("the secret has no {CURRENT} version"),
        },
    }
}

/// Why the secret cannot be bound, from the user and the secret's description alone
/// (its tags, replication, deletion, owner, rotation and staging labels), before its
/// value is read: a secret refused here is never read.
pub(crate) fn described_refusal(
    candidate: &Candidate<'_>,
    named: &SecretArn,
    secret: &SecretFacts,
) -> Option<String> {
    // Whoever calls this, the user is checked again: the ARN may have been named for
    // another candidate.
    if let Err(why) = placed(candidate, named).and_then(|()| room_for_a_new_key(candidate)) {
        return Some(why);
    }
    if secret.arn != named.arn {
        return Some("the secret Secrets Manager found is not the one the tag names".to_string());
    }
    match secret.rotates.as_deref() {
        None => {
            return Some(format!(
                "the secret does not carry {ROTATES_TAG}: it must name the user's ARN"
            ));
        }
        Some(user) if user != candidate.user_arn => {
            return Some(format!(
                "the secret's {ROTATES_TAG} tag names another user, not {}",
                candidate.user_arn
            ));
        }
        Some(_) => {}
    }
    // DescribeSecret names the primary's region on a primary too: a replica is a
    // secret whose primary is elsewhere.
    if let Some(primary) = secret
        .primary_region
        .as_ref()
        .filter(|p| **p != named.region)
    {
        return Some(format!(
            "the secret is a replica of one in {primary}: rotate its primary"
        ));
    }
    if secret.deleted {
        return Some("the secret is scheduled for deletion".to_string());
    }
    if let Some(service) = &secret.owning_service {
        return Some(format!(
            "the secret is managed by {service}, which rotates it itself"
        ));
    }
    if let Some(partner) = &secret.external {
        return Some(format!(
            "the secret is an external secret held by {partner}"
        ));
    }
    if secret.rotation_enabled {
        return Some(
            "the secret has rotation enabled: its rotation function would race keytrim".to_string(),
        );
    }
    if secret.pending_version.is_some() && secret.pending_version != secret.current_version {
        return Some(format!(
            "the secret has {PENDING} on a version other than {CURRENT}'s: another rotation is in flight"
        ));
    }
    match &secret.current_version {
        None => Some(format!("the secret has no {CURRENT} version")),
        Some(version) if !crate::plan::validate::is_secret_version_id(version) => Some(format!(
            "the secret's {CURRENT} version id is not a UUID-like id a plan can record (32 to 64 letters, digits and hyphens)"
        )),
        Some(_) => None,
    }
}

/// The secret is the one the tag names, and its `keytrim:rotates` is the user's ARN
/// exactly: which key it hands out is the user's concern, whatever else is true of it.
fn names_back(candidate: &Candidate<'_>, named: &SecretArn, secret: &SecretFacts) -> bool {
    secret.arn == named.arn && secret.rotates.as_deref() == Some(candidate.user_arn)
}

/// Whether AWSCURRENT's value must be read: for a hand-off the description allows, or
/// for a user with two active keys or more whose secret names it back (to know which
/// key the secret hands out).
pub(crate) fn value_needed(
    candidate: &Candidate<'_>,
    named: &SecretArn,
    secret: &SecretFacts,
) -> bool {
    described_refusal(candidate, named, secret).is_none()
        || (has_multiple_active_keys(candidate.keys) && names_back(candidate, named, secret))
}

/// A user with two active keys or more: no room for a new key, and which of them the
/// secret hands out. Only a secret that names the user back and whose AWSCURRENT holds
/// one of the user's active keys tells; anything else leaves it unknown, and then no
/// key is planned off.
fn crowded(candidate: &Candidate<'_>, named: &SecretArn, secret: &SecretFacts) -> RotationBinding {
    let why = room_for_a_new_key(candidate).err().unwrap_or_default();
    let held = |current_key: Option<String>, why: String| RotationBinding::Crowded {
        secret_arn: Some(named.as_str().to_string()),
        current_key,
        why,
    };
    let unknown = |because: String| {
        held(
            None,
            format!("{why}; keytrim cannot tell which key the secret hands out: {because}"),
        )
    };
    if secret.arn != named.arn {
        return unknown("Secrets Manager answered for another secret".to_string());
    }
    if !names_back(candidate, named, secret) {
        return unknown(format!(
            "the secret does not carry {ROTATES_TAG} naming the user, so its value was not read"
        ));
    }
    match &secret.current_value {
        None => unknown(format!("the secret has no {CURRENT} version")),
        Some(CurrentValue::NotAnAccessKey { why }) => unknown(format!("its {CURRENT}: {why}")),
        Some(CurrentValue::AccessKey { access_key_id }) => {
            let active = candidate
                .keys
                .iter()
                .any(|key| key.is_active() && key.access_key_id == *access_key_id);
            if active {
                held(Some(access_key_id.clone()), why)
            } else {
                unknown(format!(
                    "its {CURRENT} holds {access_key_id}, none of the user's active keys"
                ))
            }
        }
    }
}

/// The ARN `tag_value` names when it is a full secret ARN of the account and
/// partition of `user_arn` (the audited account), in whatever region: the secret the
/// audit records for a user whose tag it cannot follow further, and that apply
/// compares the live tag with.
pub(crate) fn secret_of_users_account<'t>(tag_value: &'t str, user_arn: &str) -> Option<&'t str> {
    let arn = tag_value.strip_prefix(TAG_PREFIX)?;
    let mut user = user_arn.split(':');
    let (partition, account_id) = (user.nth(1)?, user.nth(2)?);
    crate::plan::validate::is_secret_arn_of(arn, partition, account_id).then_some(arn)
}

/// What to say of a user with two active keys whose tag names a secret keytrim could
/// not read (or that is in another region, or no secret of this account at all: then
/// `secret_arn` is None): which key it hands out is unknown.
pub(crate) fn unread(
    candidate: &Candidate<'_>,
    secret_arn: Option<&str>,
    because: &str,
) -> RotationBinding {
    let why = room_for_a_new_key(candidate).err().unwrap_or_default();
    RotationBinding::Crowded {
        secret_arn: secret_arn.map(str::to_string),
        current_key: None,
        why: format!("{why}; keytrim cannot tell which key the secret hands out: {because}"),
    }
}

/// Why AWSCURRENT's value does not hold the user's active key, if it does not.
fn value_refusal(candidate: &Candidate<'_>, secret: &SecretFacts) -> Option<String> {
    let kept = candidate.keys.first().map(|key| key.access_key_id.as_str());
    match &secret.current_value {
        None => Some(format!("the secret's {CURRENT} value was not read")),
        Some(CurrentValue::NotAnAccessKey { why }) => {
            Some(format!("the secret's {CURRENT}: {why}"))
        }
        Some(CurrentValue::AccessKey { access_key_id }) if Some(access_key_id.as_str()) != kept => {
            Some(format!(
                "the secret's {CURRENT} holds {access_key_id}, not the user's active key"
            ))
        }
        Some(CurrentValue::AccessKey { .. }) => None,
    }
}

#[cfg(test)]
mod tests;
