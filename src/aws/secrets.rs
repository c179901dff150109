//! The Secrets Manager reads of the rotation hand-off (docs/rotation.md): a secret's
//! description (its tags, rotation, replication, deletion, owner and staging labels)
//! and the shape of its AWSCURRENT value. The value is taken out of the SDK's answer
//! into a zeroizing buffer, read for its shape and the access key id it names, and
//! wiped; the secret access key in it is never copied. This is best effort: the SDK
//! redacts the value from its own debug output, but the HTTP layer's and the JSON
//! parser's buffers are beyond keytrim's reach. A secret is never read while the SDK is
//! told to log bodies (`LOG_SENSITIVE_BODIES`, `LOG_SIGNABLE_BODY`).

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::aws::{Clients, classify};
use crate::error::{Error, Result};
use crate::rotation::{
    CURRENT, Candidate, CurrentValue, PENDING, ROTATES_TAG, SecretArn, SecretFacts, value_needed,
};

/// The SDK's switches that make it log request or response bodies it otherwise
/// redacts (aws-smithy-runtime reads them from the environment).
const BODY_LOGGING: [&str; 2] = ["LOG_SENSITIVE_BODIES", "LOG_SIGNABLE_BODY"];

/// Refuse to read a secret while the SDK would log it.
fn refuse_body_logging(set: impl Fn(&str) -> bool) -> Result<()> {
    match BODY_LOGGING.into_iter().find(|variable| set(variable)) {
        Some(variable) => Err(Error::SecretsWouldBeLogged { variable }),
        None => Ok(()),
    }
}

/// What keytrim needs to know of the secret `candidate`'s tag names
/// (secretsmanager:DescribeSecret, then secretsmanager:GetSecretValue of the version
/// holding AWSCURRENT, by its id and the stage both: Secrets Manager refuses the read if
/// AWSCURRENT moved in between, and without the stage moto answers with the first
/// version, not the current one). A secret whose value keytrim has no use for
/// (`rotation::value_needed`: its description already disqualifies it) is not read: its
/// value is left `None`.
pub(crate) async fn read_secret(
    clients: &Clients,
    candidate: &Candidate<'_>,
    secret: &SecretArn,
) -> Result<SecretFacts> {
    refuse_body_logging(|variable| std::env::var_os(variable).is_some())?;
    let arn = secret.as_str();
    let described = describe(clients, arn).await?;
    let stages = described.version_ids_to_stages();
    let mut facts = SecretFacts {
        arn: described.arn().unwrap_or_default().to_string(),
        rotates: rotates_tag(&described),
        rotation_enabled: described.rotation_enabled().unwrap_or(false),
        primary_region: described.primary_region().map(str::to_string),
        deleted: described.deleted_date().is_some(),
        owning_service: described.owning_service().map(str::to_string),
        external: described.r#type().map(str::to_string),
        current_version: holder_of(stages, CURRENT),
        pending_version: holder_of(stages, PENDING),
        current_value: None,
    };
    if value_needed(candidate, secret, &facts)
        && let Some(version) = &facts.current_version
    {
        facts.current_value = Some(current_value(clients, arn, version).await?);
    }
    Ok(facts)
}

/// secretsmanager:DescribeSecret.
pub(crate) async fn describe(
    clients: &Clients,
    arn: &str,
) -> Result<aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput> {
    clients
        .secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| classify("secretsmanager:DescribeSecret", &clients.endpoint, err))
}

/// The value of a described secret's `keytrim:rotates` tag: the user it names back.
pub(crate) fn rotates_tag(
    described: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
) -> Option<String> {
    described
        .tags()
        .iter()
        .find(|tag| tag.key() == Some(ROTATES_TAG))
        .and_then(|tag| tag.value())
        .map(str::to_string)
}

/// The version a staging label is on.
pub(crate) fn holder_of(
    stages: Option<&HashMap<String, Vec<String>>>,
    label: &str,
) -> Option<String> {
    stages?
        .iter()
        .find(|(_, labels)| labels.iter().any(|l| l == label))
        .map(|(version, _)| version.clone())
}

/// A version's value as read: the text in a wiped buffer.
pub(crate) struct VersionValue {
    pub text: Zeroizing<String>,
    /// A binary secret (its bytes are wiped, never kept).
    pub binary: bool,
    /// Secrets Manager answered with another version: the label moved meanwhile.
    pub moved: bool,
}

/// The value of version `version`, which must hold `stage` when one is given: both are
/// named, so that Secrets Manager refuses the read if the label moved, and moto (which
/// answers the first version when neither is given) answers the right one. A version
/// no label is on is read by its id alone.
pub(crate) async fn version_value(
    clients: &Clients,
    arn: &str,
    version: &str,
    stage: Option<&str>,
) -> Result<VersionValue> {
    refuse_body_logging(|variable| std::env::var_os(variable).is_some())?;
    let mut answer = clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .version_id(version)
        .set_version_stage(stage.map(str::to_string))
        .send()
        .await
        .map_err(|err| classify("secretsmanager:GetSecretValue", &clients.endpoint, err))?;
    let text = Zeroizing::new(answer.secret_string.take().unwrap_or_default());
    let binary = Zeroizing::new(answer.secret_binary.take().map(|blob| blob.into_inner()));
    Ok(VersionValue {
        text,
        binary: binary.is_some(),
        moved: answer.version_id.as_deref() != Some(version),
    })
}

/// The shape of AWSCURRENT's value, `version`. A binary secret is not an access key.
pub(crate) async fn current_value(
    clients: &Clients,
    arn: &str,
    version: &str,
) -> Result<CurrentValue> {
    let value = version_value(clients, arn, version, Some(CURRENT)).await?;
    if value.moved {
        return Ok(CurrentValue::NotAnAccessKey {
            why: "AWSCURRENT moved while keytrim read it",
        });
    }
    if value.binary {
        return Ok(CurrentValue::NotAnAccessKey {
            why: "it is a binary secret",
        });
    }
    Ok(CurrentValue::of(&value.text))
}

#[cfg(test)]
mod tests;
