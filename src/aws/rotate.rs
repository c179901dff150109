//! The calls of a rotation hand-off (docs/rotation.md, "What apply does, per user"):
//! AWSCURRENT's key pair read, a key pair's sign-in (the possession proof and the
//! probe), CreateAccessKey with the SDK's retries off, PutSecretValue labelled
//! AWSPENDING, the compare-and-swap promotion, and the clean-ups. Each write answers
//! with a `Written` (or `Created`), read from the SDK's error as apply's key change is:
//! the sequencing and the journal are the engine's.

use aws_credential_types::Credentials;
use aws_sdk_iam::config::retry::RetryConfig;
use zeroize::Zeroizing;

use crate::aws::iam::{Written, write};
use crate::aws::{Clients, classify};
use crate::error::{Error, Result};
use crate::rotation::recovery::Labels;
use crate::rotation::secret_value::{KeyPair, key_pair};
use crate::rotation::{CURRENT, PENDING};

/// The text of a secret's version `version`, which must hold `stage` when one is
/// given; a binary value is not an access key.
pub(crate) async fn version_text(
    clients: &Clients,
    arn: &str,
    version: &str,
    stage: Option<&'static str>,
) -> Result<Zeroizing<String>> {
    let value = super::secrets::version_value(clients, arn, version, stage).await?;
    if value.moved {
        return Err(Error::SecretMoved {
            secret_arn: arn.to_string(),
            stage: stage.unwrap_or("the version"),
        });
    }
    if value.binary {
        return Err(Error::SecretNotAnAccessKey {
            secret_arn: arn.to_string(),
            why: "it is a binary secret",
        });
    }
    Ok(value.text)
}

/// The key pair AWSCURRENT holds, on `version`, with the whole value it came in.
pub(crate) async fn current_pair(
    clients: &Clients,
    arn: &str,
    version: &str,
) -> Result<(KeyPair, Zeroizing<String>)> {
    let text = version_text(clients, arn, version, Some(CURRENT)).await?;
    let pair = key_pair(&text).map_err(|why| Error::SecretNotAnAccessKey {
        secret_arn: arn.to_string(),
        why,
    })?;
    Ok((pair, text))
}

/// The ARN sts:GetCallerIdentity answers when signed with `pair`, in keytrim's region
/// and at its endpoint.
pub(crate) async fn signs_in_as(clients: &Clients, pair: &KeyPair) -> Result<String> {
    let credentials = Credentials::new(
        pair.access_key_id.clone(),
        pair.secret_access_key.as_str(),
        None,
        None,
        "keytrim-rotation",
    );
    let sts = aws_sdk_sts::Client::from_conf(
        clients
            .sts
            .config()
            .to_builder()
            // No cache: the pair is used for this one call, and a cache would keep its
            // secret (and could evict the run's own credentials).
            .identity_cache(aws_sdk_sts::config::IdentityCache::no_cache())
            .credentials_provider(credentials)
            .build(),
    );
    let answer = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| classify("sts:GetCallerIdentity", &clients.endpoint, err))?;
    Ok(answer.arn().unwrap_or_default().to_string())
}

/// What became of CreateAccessKey, made once (it is not idempotent).
#[derive(Debug)]
pub(crate) enum Created {
    /// The new key, its secret in a wiped buffer.
    Made(KeyPair),
    /// The one attempt was answered with an error, or never sent: no key was made.
    Refused(Error),
    /// No clear answer: a key may have been made.
    Unclear(Error),
}

/// iam:CreateAccessKey for `user_name`, the SDK's retries off whatever
/// `AWS_MAX_ATTEMPTS` says: a retry after a lost answer would make a second key.
pub(crate) async fn create_access_key(clients: &Clients, user_name: &str) -> Created {
    let sent = clients
        .iam
        .create_access_key()
        .user_name(user_name)
        .customize()
        .config_override(
            aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled()),
        )
        .send()
        .await;
    let err = match sent {
        Ok(mut answer) => {
            return match answer.access_key.take() {
                Some(key) => Created::Made(KeyPair {
                    access_key_id: key.access_key_id,
                    secret_access_key: Zeroizing::new(key.secret_access_key),
                }),
                None => Created::Unclear(Error::AwsRequest {
                    action: "iam:CreateAccessKey",
                    detail: "IAM answered without the new key".into(),
                }),
            };
        }
        Err(err) => err,
    };
    // With one attempt, an error IAM answered (a throttle too) refused the call. An
    // answer with no error code IAM models may be a proxy's (a 408 after forwarding
    // the request): unclear.
    let refused = crate::aws::never_sent(&err)
        || matches!(&err, aws_sdk_iam::error::SdkError::ServiceError(service)
            if service.raw().status().is_client_error()
                && service.raw().status().as_u16() != 408
                && aws_smithy_types::error::metadata::ProvideErrorMetadata::code(service.err()).is_some());
    let error = classify("iam:CreateAccessKey", &clients.endpoint, err);
    if refused {
        Created::Refused(error)
    } else {
        Created::Unclear(error)
    }
}

/// secretsmanager:PutSecretValue of `value` as the version `token`, labelled
/// AWSPENDING only (without a stage, AWSCURRENT would move at once). Retrying with the
/// same token is safe, so the SDK's retries stay on.
pub(crate) async fn put_pending(
    clients: &Clients,
    arn: &str,
    token: &str,
    value: &Zeroizing<String>,
) -> Written {
    write(
        "secretsmanager:PutSecretValue",
        &clients.endpoint,
        |attempts| {
            clients
                .secrets
                .put_secret_value()
                .secret_id(arn)
                .client_request_token(token)
                .secret_string(value.as_str())
                .version_stages(PENDING)
                .customize()
                .interceptor(attempts)
                .send()
        },
    )
    .await
}

/// secretsmanager:UpdateSecretVersionStage: `stage` moved to `to` (if any) from
/// `from` (if any). Moving AWSCURRENT with `from` set is a compare-and-swap: Secrets
/// Manager refuses it when AWSCURRENT is no longer on `from`.
pub(crate) async fn move_stage(
    clients: &Clients,
    arn: &str,
    stage: &str,
    to: Option<&str>,
    from: Option<&str>,
) -> Written {
    write(
        "secretsmanager:UpdateSecretVersionStage",
        &clients.endpoint,
        |attempts| {
            clients
                .secrets
                .update_secret_version_stage()
                .secret_id(arn)
                .version_stage(stage)
                .set_move_to_version_id(to.map(str::to_string))
                .set_remove_from_version_id(from.map(str::to_string))
                .customize()
                .interceptor(attempts)
                .send()
        },
    )
    .await
}

/// The secret's staging labels, and whether a version `token` exists
/// (secretsmanager:ListSecretVersionIds, deprecated versions included).
pub(crate) async fn labels(clients: &Clients, arn: &str, token: &str) -> Result<Labels> {
    let mut labels = Labels::default();
    let mut pages = clients
        .secrets
        .list_secret_version_ids()
        .secret_id(arn)
        .include_deprecated(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            classify(
                "secretsmanager:ListSecretVersionIds",
                &clients.endpoint,
                err,
            )
        })?;
        for version in page.versions() {
            let id = version.version_id().unwrap_or_default();
            labels.token_version_exists |= id == token;
            for stage in version.version_stages() {
                if stage == CURRENT {
                    labels.current = Some(id.to_string());
                } else if stage == PENDING {
                    labels.pending = Some(id.to_string());
                } else if stage == "AWSPREVIOUS" {
                    labels.previous = Some(id.to_string());
                }
            }
        }
    }
    Ok(labels)
}

/// The value of the secret's `keytrim:rotates` tag: the user it names back, if any
/// (secretsmanager:DescribeSecret).
pub(crate) async fn names_back(clients: &Clients, arn: &str) -> Result<Option<String>> {
    let described = super::secrets::describe(clients, arn).await?;
    Ok(super::secrets::rotates_tag(&described))
}

/// iam:DeleteAccessKey: only for a key this run made that no version ever held.
pub(crate) async fn delete_access_key(
    clients: &Clients,
    user_name: &str,
    access_key_id: &str,
) -> Written {
    write("iam:DeleteAccessKey", &clients.endpoint, |attempts| {
        clients
            .iam
            .delete_access_key()
            .user_name(user_name)
            .access_key_id(access_key_id)
            .customize()
            .interceptor(attempts)
            .send()
    })
    .await
}

#[cfg(test)]
pub(crate) mod tests;
