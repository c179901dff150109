//! The secret's reads against mocked Secrets Manager answers (aws-smithy-mocks): the
//! description's facts, AWSCURRENT asked for by name, and a secret without AWSCURRENT
//! never read.

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::types::Tag;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::facts::{KeyFacts, KeyStatus};
use crate::rotation::{Candidate, secret_named};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/billing-a1B2c3";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/billing";
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// Version ids as Secrets Manager makes them (UUIDs).
const V1: &str = "11111111-1111-4111-8111-111111111111";
const V2: &str = "22222222-2222-4222-8222-222222222222";
const V3: &str = "33333333-3333-4333-8333-333333333333";

/// Read the secret a user with one 200-day key names by its tag.
async fn read(secrets: aws_sdk_secretsmanager::Client) -> Result<SecretFacts> {
    let keys = [KeyFacts {
        access_key_id: KEY.to_string(),
        status: KeyStatus::Active,
        created: chrono::Utc::now() - chrono::Duration::days(200),
        last_use: None,
        description: None,
    }];
    let candidate = Candidate {
        user_name: "billing",
        user_arn: USER_ARN,
        keys: &keys,
        account_id: "123456789012",
        region: "us-east-1",
    };
    let named = secret_named(&candidate, &format!("secretsmanager:{ARN}")).unwrap();
    read_secret(&clients(secrets), &candidate, &named).await
}

fn clients(secrets: aws_sdk_secretsmanager::Client) -> Clients {
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .build(),
    );
    Clients::with_mocks(iam, secrets)
}

fn described(stages: &[(&str, &[&str])]) -> DescribeSecretOutput {
    let mut output = DescribeSecretOutput::builder()
        .arn(ARN)
        .rotation_enabled(false)
        .tags(Tag::builder().key("team").value("billing").build())
        .tags(Tag::builder().key(ROTATES_TAG).value(USER_ARN).build());
    for (version, labels) in stages {
        output = output.version_ids_to_stages(
            *version,
            labels.iter().map(|label| (*label).to_string()).collect(),
        );
    }
    output.build()
}

#[tokio::test]
async fn a_secrets_facts_are_read_and_its_current_value_asked_for_by_stage() {
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .match_requests(|req| req.secret_id() == Some(ARN))
        .then_output(|| described(&[(V1, &["AWSPREVIOUS"]), (V2, &["AWSCURRENT", "AWSPENDING"])]));
    let value = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|req| {
            req.secret_id() == Some(ARN)
                && req.version_id() == Some(V2)
                && req.version_stage() == Some(CURRENT)
        })
        .then_output(|| {
            GetSecretValueOutput::builder()
                .arn(ARN)
                .version_id(V2)
                .secret_string(format!(
                    r#"{{"AccessKeyId":"{KEY}","SecretAccessKey":"{SECRET}","Endpoint":"x"}}"#
                ))
                .build()
        });
    let secrets = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&describe, &value]
    );
    let facts = read(secrets).await.unwrap();
    assert_eq!(
        facts,
        SecretFacts {
            arn: ARN.to_string(),
            rotates: Some(USER_ARN.to_string()),
            rotation_enabled: false,
            primary_region: None,
            deleted: false,
            owning_service: None,
            external: None,
            current_version: Some(V2.to_string()),
            pending_version: Some(V2.to_string()),
            current_value: Some(CurrentValue::AccessKey {
                access_key_id: KEY.to_string()
            }),
        }
    );
    assert!(!format!("{facts:?}").contains(SECRET));
    assert_eq!(value.num_calls(), 1);
}

/// A secret without an AWSCURRENT version has no value to read: keytrim does not ask
/// for one (Secrets Manager would answer with an error, or moto with another version).
#[tokio::test]
async fn a_secret_without_a_current_version_is_not_read() {
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .then_output(|| described(&[(V1, &["AWSPENDING"])]));
    let value = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_output(|| GetSecretValueOutput::builder().build());
    let secrets = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&describe, &value]
    );
    let facts = read(secrets).await.unwrap();
    assert_eq!(facts.current_value, None);
    assert_eq!(facts.pending_version.as_deref(), Some(V1));
    assert_eq!(value.num_calls(), 0);
}

/// A secret its description already disqualifies (here: its tag names another user)
/// is not read: its value is none of keytrim's business.
#[tokio::test]
async fn a_secret_its_description_refuses_is_not_read() {
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(|| {
        DescribeSecretOutput::builder()
            .arn(ARN)
            .tags(
                Tag::builder()
                    .key(ROTATES_TAG)
                    .value("arn:aws:iam::123456789012:user/mallory")
                    .build(),
            )
            .version_ids_to_stages(V2, vec![CURRENT.to_string()])
            .build()
    });
    let value = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_output(|| GetSecretValueOutput::builder().version_id(V2).build());
    let secrets = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&describe, &value]
    );
    let facts = read(secrets).await.unwrap();
    assert_eq!(facts.current_version.as_deref(), Some(V2));
    assert_eq!(facts.current_value, None);
    assert_eq!(value.num_calls(), 0);
}

/// A refusal names the action, so the permission that is missing is plain.
#[tokio::test]
async fn a_refused_read_names_the_action() {
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_error(|| {
        DescribeSecretError::generic(
            aws_sdk_secretsmanager::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not allowed")
                .build(),
        )
    });
    let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&describe]);
    let err = read(secrets).await.unwrap_err();
    assert!(
        err.to_string().contains("secretsmanager:DescribeSecret"),
        "{err}"
    );
}

/// An answer from another version than the one AWSCURRENT was on (it moved between
/// the two reads), or a binary secret, is not an access key keytrim can vouch for.
#[tokio::test]
async fn a_value_of_another_version_or_a_binary_one_is_not_an_access_key() {
    let read = |answer: fn() -> GetSecretValueOutput| async move {
        let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .then_output(|| described(&[(V2, &["AWSCURRENT"])]));
        let value = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(answer);
        let secrets = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &value]
        );
        read(secrets).await.unwrap().current_value
    };
    let moved = read(|| {
        GetSecretValueOutput::builder()
            .version_id(V3)
            .secret_string(format!(
                r#"{{"AccessKeyId":"{KEY}","SecretAccessKey":"{SECRET}"}}"#
            ))
            .build()
    })
    .await;
    assert!(matches!(moved, Some(CurrentValue::NotAnAccessKey { why }) if why.contains("moved")));
    let binary = read(|| {
        GetSecretValueOutput::builder()
            .version_id(V2)
            .secret_binary(aws_smithy_types::Blob::new(SECRET.as_bytes()))
            .build()
    })
    .await;
    assert!(matches!(binary, Some(CurrentValue::NotAnAccessKey { why }) if why.contains("binary")));
}

/// While the SDK is told to log bodies, no secret is read: the refusal names the
/// variable.
#[test]
fn a_secret_is_not_read_while_the_sdk_would_log_it() {
    assert!(refuse_body_logging(|_| false).is_ok());
    for variable in BODY_LOGGING {
        let err = refuse_body_logging(|set| set == variable).unwrap_err();
        assert!(err.to_string().starts_with(variable), "{err}");
    }
}
