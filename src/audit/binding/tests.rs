//! What becomes of a secret Secrets Manager will not show (mocked answers,
//! aws-smithy-mocks): a refusal of its value, or of its KMS key, is the user's finding;
//! throttling that outlasts the SDK's retries ends the account's audit.

use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::types::Tag;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::facts::KeyStatus;

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/billing-a1B2c3";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/billing";
const VERSION: &str = "22222222-2222-4222-8222-222222222222";

fn metadata(code: &str) -> aws_sdk_secretsmanager::error::ErrorMetadata {
    aws_sdk_secretsmanager::error::ErrorMetadata::builder()
        .code(code)
        .message("from the mock")
        .build()
}

fn described() -> DescribeSecretOutput {
    DescribeSecretOutput::builder()
        .arn(ARN)
        .tags(
            Tag::builder()
                .key(rotation::ROTATES_TAG)
                .value(USER_ARN)
                .build(),
        )
        .version_ids_to_stages(VERSION, vec![rotation::CURRENT.to_string()])
        .build()
}

/// The binding of a user with one 200-day key, its tag naming the secret, against
/// a Secrets Manager that answers with `secrets`' rules.
async fn binding(secrets: aws_sdk_secretsmanager::Client) -> Result<RotationBinding> {
    binding_with(secrets, 1).await
}

/// The same for a user with `active` active keys (one 200 days old, the others 10).
async fn binding_with(
    secrets: aws_sdk_secretsmanager::Client,
    active: usize,
) -> Result<RotationBinding> {
    binding_tagged(secrets, active, &format!("secretsmanager:{ARN}")).await
}

/// The same, the user's tag being `tag`.
async fn binding_tagged(
    secrets: aws_sdk_secretsmanager::Client,
    active: usize,
    tag: &str,
) -> Result<RotationBinding> {
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .build(),
    );
    let now = chrono::Utc::now();
    let keys: Vec<KeyFacts> = (0..active)
        .map(|index| KeyFacts {
            access_key_id: format!("AKIAIOSFODNN7EXAMPL{index}"),
            status: KeyStatus::Active,
            created: now - chrono::Duration::days(if index == 0 { 200 } else { 10 }),
            last_use: None,
            description: None,
        })
        .collect();
    let lookup = Lookup {
        policy: Policy::default(),
        now,
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let asking = Asking {
        user_name: "billing",
        user_arn: USER_ARN,
        keys: &keys,
        tag,
    };
    binding_of(&Clients::with_mocks(iam, secrets), &lookup, &asking).await
}

#[tokio::test]
async fn a_refused_value_or_kms_key_is_the_users_finding() {
    for code in [
        "AccessDeniedException",
        "DecryptionFailure",
        "KMSAccessDeniedException",
    ] {
        let describe =
            mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(described);
        let value = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .then_error(move || GetSecretValueError::generic(metadata(code)));
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &value]
        );
        match binding(secrets).await {
            Ok(RotationBinding::NotBound { why }) => assert!(
                why.starts_with("keytrim could not read the secret it names")
                    && why.contains("secretsmanager:GetSecretValue")
                    && why.contains(code),
                "{why}"
            ),
            other => panic!("{code}: {other:?}"),
        }
        assert_eq!(value.num_calls(), 1);
    }
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_ends_the_accounts_audit() {
    for code in ["ThrottlingException", "InternalServiceError"] {
        let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .then_error(move || DescribeSecretError::generic(metadata(code)));
        let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&describe]);
        let error = binding(secrets).await.unwrap_err();
        assert!(error.to_string().contains(code), "{code}: {error}");
    }
}

/// A user with two active keys whose secret cannot be read: which key it hands out is
/// unknown, which keeps every key on (the audit holds); never the end of the audit.
#[tokio::test]
async fn a_secret_of_a_two_key_user_that_cannot_be_read_leaves_the_key_unknown() {
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .then_error(|| DescribeSecretError::generic(metadata("AccessDeniedException")));
    let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&describe]);
    match binding_with(secrets, 2).await {
        Ok(RotationBinding::Crowded {
            secret_arn,
            current_key: None,
            why,
        }) => {
            assert_eq!(secret_arn.as_deref(), Some(ARN));
            assert!(why.contains("keytrim could not read it"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

/// A user with two active keys whose tag keytrim cannot follow (no full ARN, another
/// account, another region): no secret is read, and which key an application reads is
/// unknown; the secret is named when the tag names one of this account.
#[tokio::test]
async fn a_tag_keytrim_cannot_follow_leaves_the_key_unknown_and_reads_nothing() {
    let far = ARN.replace("us-east-1", "eu-west-1");
    for (tag, named) in [
        ("not a secret".to_string(), None),
        (
            format!(
                "secretsmanager:{}",
                ARN.replace("123456789012", "210987654321")
            ),
            None,
        ),
        (format!("secretsmanager:{far}"), Some(far.clone())),
    ] {
        let describe =
            mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(described);
        let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&describe]);
        match binding_tagged(secrets, 2, &tag).await {
            Ok(RotationBinding::Crowded {
                secret_arn,
                current_key: None,
                ..
            }) => assert_eq!(secret_arn, named, "{tag}"),
            other => panic!("{tag}: {other:?}"),
        }
        assert_eq!(describe.num_calls(), 0, "{tag}");
    }
}
