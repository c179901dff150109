//! The audit's side of the rotation hand-off (`audit --rotation`, docs/rotation.md):
//! for a user whose `keytrim:rotate-to` tag names a secret, read that secret
//! (`aws::secrets`) and judge the binding (`rotation`, pure). A secret Secrets Manager
//! refuses to show (missing, denied, its KMS key refused, an answer that cannot be
//! read) is a finding about that user, never the end of the audit: anyone allowed to
//! tag a user could otherwise stop every audit with one tag. Not reaching Secrets
//! Manager at all (no answer, throttled or failing after the SDK's retries, no
//! credentials) ends the account's audit, as it does for IAM: a plan must not change
//! with a passing fault.

use chrono::{DateTime, Utc};

use crate::aws::{Clients, secrets};
use crate::error::{Error, Result};
use crate::facts::{KeyFacts, RotationBinding, has_multiple_active_keys};
use crate::rotation::{self, Candidate};
use crate::rule::Policy;

/// What the audit needs to look for bindings: the rule's thresholds and "now" (only a
/// user whose one active key is over the maximum age is looked at), and where the
/// secret must be.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub policy: Policy,
    pub now: DateTime<Utc>,
    pub account_id: String,
    /// The region keytrim runs in (`--region`): the secret must be there.
    pub region: String,
}

/// The user as the hand-off sees it.
pub(crate) struct Asking<'a> {
    pub user_name: &'a str,
    pub user_arn: &'a str,
    pub keys: &'a [KeyFacts],
    /// The value of the user's `keytrim:rotate-to` tag.
    pub tag: &'a str,
}

/// Whether the user is bound both ways to the secret its tag names, and that secret can
/// take a new key. An error about the secret is the user's finding; one about reaching
/// Secrets Manager is the audit's (`about_the_secret`).
pub(crate) async fn binding_of(
    clients: &Clients,
    lookup: &Lookup,
    user: &Asking<'_>,
) -> Result<RotationBinding> {
    let candidate = Candidate {
        user_name: user.user_name,
        user_arn: user.user_arn,
        keys: user.keys,
        account_id: &lookup.account_id,
        region: &lookup.region,
    };
    let multiple = has_multiple_active_keys(user.keys);
    let named = match rotation::secret_named(&candidate, user.tag) {
        Ok(named) => named,
        // A tag keytrim cannot follow (another region, another account, no full
        // ARN): an application may still read one of the two keys from somewhere.
        Err(why) if multiple => {
            let arn = rotation::secret_of_users_account(user.tag, user.user_arn);
            return Ok(rotation::unread(&candidate, arn, &why));
        }
        Err(why) => return Ok(RotationBinding::NotBound { why }),
    };
    // No room, and no active key the rule could switch off: nothing to read.
    if let Err(why) = rotation::room_for_a_new_key(&candidate)
        && !multiple
    {
        return Ok(RotationBinding::NotBound { why });
    }
    match secrets::read_secret(clients, &candidate, &named).await {
        Ok(secret) => Ok(rotation::check(&candidate, &named, &secret)),
        Err(error) if about_the_secret(&error) && multiple => Ok(rotation::unread(
            &candidate,
            Some(named.as_str()),
            &format!("keytrim could not read it ({error})"),
        )),
        Err(error) if about_the_secret(&error) => Ok(RotationBinding::NotBound {
            why: format!("keytrim could not read the secret it names ({error})"),
        }),
        Err(error) => Err(error),
    }
}

/// True for an error about the secret itself: an answer from Secrets Manager that is
/// not throttling or its own failure, or an answer the SDK could not read.
fn about_the_secret(error: &Error) -> bool {
    match error {
        Error::Aws { code, .. } => !passing_fault(code),
        Error::AwsRequest { .. } => true,
        _ => false,
    }
}

/// Throttling and server errors, which the SDK retries: a fault of the moment, not a
/// fact about the secret.
fn passing_fault(code: &str) -> bool {
    code.starts_with("HTTP 5")
        || [
            "ThrottlingException",
            "Throttling",
            "TooManyRequestsException",
            "RequestLimitExceeded",
            "InternalServiceError",
            "InternalFailure",
            "ServiceUnavailable",
            "ServiceUnavailableException",
        ]
        .contains(&code)
}

#[cfg(test)]
mod tests;
