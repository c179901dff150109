//! The Secrets Manager reads of the rotation hand-off (docs/rotation.md): a secret's
//! description (its tags, rotation, replication and staging labels) and the shape of
//! its AWSCURRENT value. The value is taken out of the SDK's answer into a zeroizing
//! buffer, read for its shape and the access key id it names, and wiped; the secret
//! access key in it is kept nowhere. (The SDK redacts it from its own debug output; the
//! HTTP layer's buffers are beyond keytrim's reach.)

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::aws::{Clients, classify};
use crate::error::Result;
use crate::rotation::{CURRENT, CurrentValue, PENDING, ROTATES_TAG, SecretFacts};

/// What keytrim needs to know of the secret `arn` (secretsmanager:DescribeSecret, then
/// secretsmanager:GetSecretValue of AWSCURRENT, the stage always named: without it
/// moto answers with the first version, not the current one).
pub(crate) async fn read_secret(clients: &Clients, arn: &str) -> Result<SecretFacts> {
    let described = clients
        .secrets
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|err| classify("secretsmanager:DescribeSecret", &clients.endpoint, err))?;
    let stages = described.version_ids_to_stages();
    let current_version = holder_of(stages, CURRENT);
    let current_value = match current_version {
        Some(_) => Some(current_value(clients, arn).await?),
        None => None,
    };
    Ok(SecretFacts {
        arn: described.arn().unwrap_or_default().to_string(),
        rotates: described
            .tags()
            .iter()
            .find(|tag| tag.key() == Some(ROTATES_TAG))
            .and_then(|tag| tag.value())
            .map(str::to_string),
        rotation_enabled: described.rotation_enabled().unwrap_or(false),
        primary_region: described.primary_region().map(str::to_string),
        current_version,
        pending_version: holder_of(stages, PENDING),
        current_value,
    })
}

/// The version a staging label is on.
fn holder_of(stages: Option<&HashMap<String, Vec<String>>>, label: &str) -> Option<String> {
    stages?
        .iter()
        .find(|(_, labels)| labels.iter().any(|l| l == label))
        .map(|(version, _)| version.clone())
}

/// The shape of AWSCURRENT's value. A binary secret has no string: not an access key.
async fn current_value(clients: &Clients, arn: &str) -> Result<CurrentValue> {
    let mut answer = clients
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .version_stage(CURRENT)
        .send()
        .await
        .map_err(|err| classify("secretsmanager:GetSecretValue", &clients.endpoint, err))?;
    let text = Zeroizing::new(answer.secret_string.take().unwrap_or_default());
    Ok(CurrentValue::of(&text))
}

#[cfg(test)]
mod tests;
