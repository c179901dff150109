//! The rotation's calls against mocked answers (aws-smithy-mocks): CreateAccessKey made
//! once whatever the retry settings, PutSecretValue naming its token and AWSPENDING
//! only, the promotion naming the version it moves from, and the labels read back.

use std::time::Duration;

use aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput;
use aws_sdk_iam::types::{AccessKey, StatusType};
use aws_sdk_secretsmanager::operation::list_secret_version_ids::ListSecretVersionIdsOutput;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
use aws_sdk_secretsmanager::types::SecretVersionsListEntry;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/billing-a1B2c3";
pub(crate) const NEW_KEY: &str = "AKIANEWKEY0000000001";
pub(crate) const NEW_SECRET: &str = "new/Secret+Key1111111111111111111111111";
const TOKEN: &str = "0b7c5e0e-6f4b-4e8a-9d1e-2f3a4b5c6d7e";
const PREVIOUS: &str = "11111111-2222-3333-4444-555555555555";

/// Retries as `AWS_MAX_ATTEMPTS=3` would set them, with no wait between attempts.
fn retrying() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn iam(rules: &[&Rule]) -> aws_sdk_iam::Client {
    mock_client!(aws_sdk_iam, RuleMode::Sequential, rules, |conf| conf
        .retry_config(retrying()))
}

fn secrets(rules: &[&Rule]) -> aws_sdk_secretsmanager::Client {
    mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::Sequential,
        rules,
        |conf| conf.retry_config(
            aws_sdk_secretsmanager::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        )
    )
}

fn no_secrets() -> aws_sdk_secretsmanager::Client {
    secrets(&[])
}

/// CreateAccessKey's answer: the new key `NEW_KEY` of user `app`.
pub(crate) fn made() -> CreateAccessKeyOutput {
    CreateAccessKeyOutput::builder()
        .access_key(
            AccessKey::builder()
                .user_name("app")
                .access_key_id(NEW_KEY)
                .secret_access_key(NEW_SECRET)
                .status(StatusType::Active)
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn create_access_key_answers_with_the_new_key_in_a_redacted_pair() {
    let create = mock!(aws_sdk_iam::Client::create_access_key)
        .match_requests(|req| req.user_name() == Some("app"))
        .then_output(made);
    let clients = Clients::with_mocks(iam(&[&create]), no_secrets());
    let Created::Made(pair) = create_access_key(&clients, "app").await else {
        panic!("no key");
    };
    assert_eq!(pair.access_key_id, NEW_KEY);
    assert_eq!(pair.secret_access_key.as_str(), NEW_SECRET);
    assert!(!format!("{pair:?}").contains(NEW_SECRET));
}

/// A server error could follow a key made with its answer lost: it is unclear, and
/// the call is never retried although the client retries other calls three times.
#[tokio::test]
async fn create_access_key_is_never_retried() {
    let create = mock!(aws_sdk_iam::Client::create_access_key)
        .sequence()
        .http_status(500, None)
        .output(made)
        .build();
    let clients = Clients::with_mocks(iam(&[&create]), no_secrets());
    let created = create_access_key(&clients, "app").await;
    assert!(matches!(created, Created::Unclear(_)), "{created:?}");
    assert_eq!(create.num_calls(), 1);

    // The same client retries a call that is safe to retry.
    let put = mock!(aws_sdk_secretsmanager::Client::put_secret_value)
        .sequence()
        .http_status(500, None)
        .output(|| PutSecretValueOutput::builder().version_id(TOKEN).build())
        .build();
    let clients = Clients::with_mocks(iam(&[]), secrets(&[&put]));
    let written = put_pending(&clients, ARN, TOKEN, &Zeroizing::new("{}".into())).await;
    assert!(matches!(written, Written::Applied), "{written:?}");
    assert_eq!(put.num_calls(), 2);
}

/// IAM's error answer, as its query protocol writes it.
pub(crate) fn iam_error(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

/// An error IAM answered (a throttle too, with one attempt) made nothing; an answer
/// without an error code IAM models, or a 408, may be a proxy's after the request went
/// on: unclear.
#[tokio::test]
async fn a_refused_create_access_key_made_nothing() {
    for (status, body, refused) in [
        (400, Some(iam_error("Throttling")), true),
        (403, Some(iam_error("AccessDenied")), true),
        (409, Some(iam_error("LimitExceeded")), true),
        (400, None, false),
        (408, Some(iam_error("RequestTimeout")), false),
    ] {
        let create = mock!(aws_sdk_iam::Client::create_access_key)
            .sequence()
            .http_status(status, body.clone())
            .build();
        let clients = Clients::with_mocks(iam(&[&create]), no_secrets());
        let created = create_access_key(&clients, "app").await;
        assert_eq!(
            matches!(created, Created::Refused(_)),
            refused,
            "{status} {body:?}: {created:?}"
        );
        assert_eq!(create.num_calls(), 1);
    }
}

#[tokio::test]
async fn the_new_value_is_staged_as_awspending_only_with_the_token() {
    let put = mock!(aws_sdk_secretsmanager::Client::put_secret_value)
        .match_requests(|req| {
            req.secret_id() == Some(ARN)
                && req.client_request_token() == Some(TOKEN)
                && req.version_stages() == [PENDING.to_string()]
                && req.secret_string() == Some("{\"a\":1}")
        })
        .then_output(|| PutSecretValueOutput::builder().version_id(TOKEN).build());
    let clients = Clients::with_mocks(iam(&[]), secrets(&[&put]));
    let written = put_pending(&clients, ARN, TOKEN, &Zeroizing::new("{\"a\":1}".into())).await;
    assert!(matches!(written, Written::Applied), "{written:?}");
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn the_promotion_names_the_version_it_moves_awscurrent_from() {
    let promote = mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
        .match_requests(|req| {
            req.secret_id() == Some(ARN)
                && req.version_stage() == Some(CURRENT)
                && req.move_to_version_id() == Some(TOKEN)
                && req.remove_from_version_id() == Some(PREVIOUS)
        })
        .then_output(|| UpdateSecretVersionStageOutput::builder().build());
    let clients = Clients::with_mocks(iam(&[]), secrets(&[&promote]));
    let written = move_stage(&clients, ARN, CURRENT, Some(TOKEN), Some(PREVIOUS)).await;
    assert!(matches!(written, Written::Applied), "{written:?}");
    assert_eq!(promote.num_calls(), 1);
}

fn entry(id: &str, stages: &[&str]) -> SecretVersionsListEntry {
    let mut entry = SecretVersionsListEntry::builder().version_id(id);
    for stage in stages {
        entry = entry.version_stages(*stage);
    }
    entry.build()
}

/// The labels over every page, unlabelled versions included.
#[tokio::test]
async fn the_labels_are_read_back_over_every_page() {
    let list = mock!(aws_sdk_secretsmanager::Client::list_secret_version_ids)
        .match_requests(|req| req.include_deprecated() == Some(true))
        .sequence()
        .output(|| {
            ListSecretVersionIdsOutput::builder()
                .versions(entry(PREVIOUS, &["AWSCURRENT"]))
                .next_token("more")
                .build()
        })
        .output(|| {
            ListSecretVersionIdsOutput::builder()
                .versions(entry(TOKEN, &[]))
                .build()
        })
        .build();
    let clients = Clients::with_mocks(iam(&[]), secrets(&[&list]));
    let read = labels(&clients, ARN, TOKEN).await.unwrap();
    assert_eq!(
        read,
        Labels {
            current: Some(PREVIOUS.into()),
            pending: None,
            previous: None,
            token_version_exists: true,
        }
    );
    assert_eq!(list.num_calls(), 2);
}
