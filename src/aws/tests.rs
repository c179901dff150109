//! Tests of the SDK's configuration and of how its errors become one line: retries,
//! role ARNs, credential errors and the classification of a call's answer.

use super::*;
use aws_config::retry::RetryMode;

/// An STS that answers GetCallerIdentity after `wire` on the wire.
#[derive(Debug, Clone)]
struct SlowSts {
    wire: Duration,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for SlowSts {
    fn call(
        &self,
        _request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let wire = self.wire;
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            tokio::time::sleep(wire).await;
            let body = "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>";
            Ok(aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(200).unwrap(),
                aws_smithy_types::body::SdkBody::from(body),
            ))
        })
    }
}

impl aws_smithy_runtime_api::client::http::HttpClient for SlowSts {
    fn http_connector(
        &self,
        _settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(self.clone())
    }
}

/// Waiting for a place is never failing (issue steady, item 3): 20 calls through
/// one place, each 30 ms on the wire, so the last waits about 570 ms, longer than
/// this configuration's stalled-stream grace period (200 ms) and attempt timeout
/// (400 ms). With retries off, every call still succeeds.
#[tokio::test]
async fn waiting_for_a_place_counts_against_no_attempt_clock() {
    use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
    let calls = CallLimits {
        https: aws_smithy_runtime_api::client::http::SharedHttpClient::new(SlowSts {
            wire: Duration::from_millis(30),
        }),
        attempt_timeout: Duration::from_millis(400),
        ..CallLimits::new(1, 1)
    };
    let credentials = aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test");
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(Duration::from_millis(200))
                .build(),
        );
    let clients = Clients::new(&AccountConfig::gated(sdk, &calls));
    let sent: Vec<_> = (0..20)
        .map(|_| {
            let sts = clients.sts.clone();
            tokio::spawn(async move { sts.get_caller_identity().send().await })
        })
        .collect();
    for call in sent {
        let answered = call.await.unwrap();
        assert!(answered.is_ok(), "{answered:?}");
    }
}

#[test]
fn retries_are_standard_under_the_2026_retry_behaviour() {
    let default = retry_config(None, RetrySettings::default());
    assert_eq!(default.mode(), RetryMode::Standard);
    assert_eq!(default.max_attempts(), DEFAULT_MAX_ATTEMPTS);
    assert_eq!(default.retry_spec(), Some(&RetrySpec::v2_1()));
    assert_eq!(
        retry_config(Some(3), RetrySettings::default()).max_attempts(),
        3
    );
}

/// The settings as `env` and a config file with `profile` give them.
async fn settings(
    vars: &[(&str, &str)],
    config: &str,
    profile: Option<&str>,
) -> Result<RetrySettings> {
    let mut vars = vars.to_vec();
    vars.push(("AWS_CONFIG_FILE", "config"));
    vars.push(("AWS_SHARED_CREDENTIALS_FILE", "credentials"));
    let env = Env::from_slice(&vars);
    let fs = Fs::from_slice(&[("config", config), ("credentials", "")]);
    retry_settings(profile, &env, &fs).await
}

/// The AWS conventions: the environment over the profile, the flag over both, and
/// keytrim's defaults only where nothing was given.
#[tokio::test]
async fn the_aws_retry_settings_are_honoured_and_the_flag_wins() {
    let config = "[profile ops]\nmax_attempts = 4\nretry_mode = standard\n";
    let from_profile = settings(&[], config, Some("ops")).await.unwrap();
    assert_eq!(
        from_profile,
        RetrySettings {
            max_attempts: Some(4),
            mode: Some(RetryMode::Standard)
        }
    );
    let from_env = settings(&[("AWS_MAX_ATTEMPTS", "2")], config, Some("ops"))
        .await
        .unwrap();
    assert_eq!(from_env.max_attempts, Some(2));
    let resolved = retry_config(None, from_env);
    assert_eq!(resolved.max_attempts(), 2);
    assert_eq!(resolved.mode(), RetryMode::Standard);
    assert_eq!(retry_config(Some(6), from_env).max_attempts(), 6);
    let nothing = settings(&[], "[default]\n", None).await.unwrap();
    assert_eq!(nothing, RetrySettings::default());
}

/// A setting that is not one is an error naming it, not a panic (aws-config's own
/// provider panics on `AWS_MAX_ATTEMPTS=0`).
#[tokio::test]
async fn an_invalid_retry_setting_is_an_error_naming_it() {
    for (vars, expected) in [
        (vec![("AWS_MAX_ATTEMPTS", "0")], "AWS_MAX_ATTEMPTS"),
        (vec![("AWS_MAX_ATTEMPTS", "lots")], "AWS_MAX_ATTEMPTS"),
        (vec![("AWS_RETRY_MODE", "eager")], "AWS_RETRY_MODE"),
    ] {
        let err = settings(&vars, "[default]\n", None).await.unwrap_err();
        let message = err.to_string();
        assert!(message.contains(expected), "{message}");
    }
}

/// IAM throttles each account on its own: one throttled account must not spend the
/// SDK's retries of every other, so each account has its own retry partition.
#[tokio::test]
async fn each_account_has_its_own_quota_of_retries() {
    let options = ConnectOptions {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        ..ConnectOptions::default()
    };
    let first = Clients::new(&load_config(&options).await.unwrap());
    let second = Clients::new(&load_config(&options).await.unwrap());
    let partition = |clients: &Clients| format!("{:?}", clients.iam.config().retry_partition());
    assert_ne!(partition(&first), partition(&second));
    assert_eq!(
        partition(&first),
        format!("{:?}", first.sts.config().retry_partition()),
        "one account, one partition"
    );
}

#[tokio::test]
async fn the_loaded_configuration_carries_the_retry_settings() {
    let options = ConnectOptions {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        max_attempts: Some(5),
        ..ConnectOptions::default()
    };
    let config = load_config(&options).await.unwrap();
    let config = config.sdk();
    assert_eq!(
        config.retry_config().map(RetryConfig::max_attempts),
        Some(5)
    );
    assert_eq!(
        config.retry_config().and_then(RetryConfig::retry_spec),
        Some(&RetrySpec::v2_1())
    );
}
