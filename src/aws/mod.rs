//! Every call keytrim makes to AWS is in this folder. Here: the SDK configuration
//! (credential chain, profile, region, endpoint, retries, timeouts), the clients built
//! from it, and the translation of SDK errors into keytrim's one-line errors. `iam`
//! holds the IAM calls (reads, the credential report, and the one write,
//! UpdateAccessKey), `accounts` the Organizations calls.

pub(crate) mod accounts;
pub(crate) mod concurrency;
pub(crate) mod credential_report;
pub(crate) mod iam;
pub(crate) mod in_flight;
pub(crate) mod rotate;
pub(crate) mod secrets;

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::RetrySpec;
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{Error, Result};

use in_flight::{AccountGate, CallLimits, GatedHttpClient, ThrottleWatch};

/// IAM is global; requests are signed for this region unless `--region` says otherwise.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";
/// Default retry budget per call. IAM throttles under load and publishes no rate, so
/// this is generous; each account's window of calls in flight (`in_flight`) also
/// narrows when throttled.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Time allowed to open a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for one attempt of one call on the wire (from when it has a place).
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for one call, retries included.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(180);

/// How to reach AWS, from the global command-line options.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: Option<u32>,
    /// Calls in flight: the run's budget and each account's most.
    pub calls: CallLimits,
}

/// One account's SDK configuration, with the gate every call to that account passes.
#[derive(Debug, Clone)]
pub(crate) struct AccountConfig {
    sdk: SdkConfig,
    gate: Arc<AccountGate>,
    calls: CallLimits,
}

impl AccountConfig {
    /// `sdk` with a new gate of its own, under the run's budget in `calls`. Waiting
    /// for a place is never failing: the SDK's clocks must not count it. So the
    /// attempt timeout is the gate's, started once the place is taken, and the upload
    /// side of stalled-stream protection is off (an IAM request is one small form
    /// post; a "stall" before it is sent can only be the wait for a place). The
    /// download side, which watches the answer, stays on.
    fn gated(sdk: aws_types::sdk_config::Builder, calls: &CallLimits) -> AccountConfig {
        let gate = AccountGate::new(calls);
        let sdk = sdk
            .http_client(GatedHttpClient::new(
                calls.https.clone(),
                Arc::clone(&gate),
                calls.attempt_timeout,
            ))
            .stalled_stream_protection(
                aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
                    .upload_enabled(false)
                    .build(),
            )
            .build();
        AccountConfig {
            sdk,
            gate,
            calls: calls.clone(),
        }
    }

    /// The endpoint calls go to, for error messages.
    pub(crate) fn endpoint(&self) -> String {
        self.sdk
            .endpoint_url()
            .map(str::to_string)
            .unwrap_or_else(|| "the default AWS endpoint".to_string())
    }

    /// An Organizations client of this account.
    pub(crate) fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.sdk)
                .interceptor(ThrottleWatch::new(Arc::clone(&self.gate)))
                .retry_partition(self.gate.retry_partition())
                .build(),
        )
    }

    #[cfg(test)]
    pub(crate) fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }
}

/// The clients keytrim uses, built from one SDK configuration.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    /// Secrets Manager in the configured region: the rotation hand-off's secrets.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The endpoint calls go to, for error messages.
    pub endpoint: String,
    /// The credentials the clients sign with (none for mocked clients).
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

impl Clients {
    /// The clients of one account, every call through its gate.
    pub(crate) fn new(config: &AccountConfig) -> Clients {
        let watch = || ThrottleWatch::new(Arc::clone(&config.gate));
        Clients {
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config.sdk)
                    .interceptor(watch())
                    .retry_partition(config.gate.retry_partition())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config.sdk)
                    .interceptor(watch())
                    .retry_partition(config.gate.retry_partition())
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&config.sdk)
                    .interceptor(watch())
                    .retry_partition(config.gate.retry_partition())
                    .build(),
            ),
            endpoint: config.endpoint(),
            credentials: config.sdk.credentials_provider(),
        }
    }
}

impl Clients {
    /// When the credentials keytrim signs with expire: `None` for credentials that do
    /// not (long-term keys), or that no provider gives (mocked clients).
    pub(crate) async fn credentials_expire(&self) -> Result<Option<std::time::SystemTime>> {
        use aws_credential_types::provider::ProvideCredentials;
        let Some(provider) = &self.credentials else {
            return Ok(None);
        };
        let credentials =
            provider
                .provide_credentials()
                .await
                .map_err(|err| Error::Credentials {
                    action: "iam:CreateAccessKey",
                    detail: root_cause(&err),
                })?;
        Ok(credentials.expiry())
    }

    /// The region keytrim runs in (`--region`, else us-east-1), where Secrets Manager
    /// is called.
    pub(crate) fn region(&self) -> String {
        self.secrets
            .config()
            .region()
            .map_or_else(|| DEFAULT_REGION.to_string(), ToString::to_string)
    }
}

#[cfg(test)]
impl Clients {
    /// Clients around a mocked IAM client (aws-smithy-mocks); STS and Secrets Manager
    /// are never called.
    pub(crate) fn with_mock_iam(iam: aws_sdk_iam::Client) -> Clients {
        let secrets = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(DEFAULT_REGION))
            .build();
        Clients::with_mocks(iam, aws_sdk_secretsmanager::Client::from_conf(secrets))
    }

    /// Clients around mocked IAM and Secrets Manager clients; STS is never called.
    pub(crate) fn with_mocks(
        iam: aws_sdk_iam::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Clients {
        let sts = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(DEFAULT_REGION))
            .build();
        Clients::with_all_mocks(iam, aws_sdk_sts::Client::from_conf(sts), secrets)
    }

    /// Clients around mocked IAM, STS and Secrets Manager clients.
    pub(crate) fn with_all_mocks(
        iam: aws_sdk_iam::Client,
        sts: aws_sdk_sts::Client,
        secrets: aws_sdk_secretsmanager::Client,
    ) -> Clients {
        Clients {
            iam,
            sts,
            secrets,
            endpoint: "mock".into(),
            credentials: None,
        }
    }
}

/// Refuse a named profile that no AWS config or credentials file defines, before the
/// credential chain turns it into a vaguer error on the first call.
async fn check_profile_exists(profile: &str) -> Result<()> {
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &Default::default(),
        Some(Cow::Owned(profile.to_string())),
    )
    .await
    .map_err(|err| Error::ProfileFiles {
        detail: err.to_string(),
    })?;
    if profiles.get_profile(profile).is_none() {
        return Err(Error::UnknownProfile {
            profile: profile.to_string(),
        });
    }
    Ok(())
}

/// Retries: the SDK's standard mode (exponential back-off with jitter) under AWS's 2026
/// retry behaviour (version 2.1), which the SDKs made their default on 2026-11-10.
/// Politeness is the gate's (`in_flight`): each account's calls in flight halve when
/// IAM throttles and grow back. The adaptive mode's client-side rate limit cuts its
/// rate at every throttle and, while throttles keep coming whatever keytrim's own rate
/// (other automation spending the account's quota), never recovers: issue 24 measured
/// an apply 89x slower than in a quiet account.
///
/// The aws-config this build pins (1.13.0) offers version 2.1 only as an opt-in,
/// `RetrySpec::v2_1` (hidden from aws-smithy-types' docs: an upgrade that moves it
/// fails to compile, never silently). Without it a throttled retry in adaptive mode
/// also waits for 10 of the rate limiter's tokens, which at its floor of 0.5 a second
/// made 8-20 s per retry here; with it a throttled retry backs off from 1 s and each
/// attempt takes one token. From aws-config 1.13.2, `BehaviorVersion::v2026_11_10()`
/// gives the same and this opt-in can go.
///
/// The AWS conventions are honoured: `AWS_MAX_ATTEMPTS` (or the profile's
/// `max_attempts`) and `AWS_RETRY_MODE` (or `retry_mode`) replace keytrim's defaults of
/// 8 attempts and standard mode, and `--max-attempts` wins over both.
fn retry_config(max_attempts: Option<u32>, given: RetrySettings) -> RetryConfig {
    RetryConfig::standard()
        .with_retry_mode(given.mode.unwrap_or(RetryMode::Standard))
        .with_max_attempts(
            max_attempts
                .or(given.max_attempts)
                .unwrap_or(DEFAULT_MAX_ATTEMPTS),
        )
        .with_retry_spec(RetrySpec::v2_1())
}

/// The retry settings given the AWS way, each `None` when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RetrySettings {
    max_attempts: Option<u32>,
    mode: Option<RetryMode>,
}

/// A retry setting that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InvalidRetrySetting(String);

/// `AWS_MAX_ATTEMPTS` or the selected profile's `max_attempts`, and `AWS_RETRY_MODE` or
/// its `retry_mode`: the environment wins over the profile, as in every AWS SDK. Read
/// with aws-config's own profile loader; a value that is not valid is an error naming
/// where it was set, never a panic.
async fn retry_settings(profile: Option<&str>, env: &Env, fs: &Fs) -> Result<RetrySettings> {
    let profiles = aws_config::profile::load(
        fs,
        env,
        &Default::default(),
        profile.map(|name| Cow::Owned(name.to_string())),
    )
    .await
    .map_err(|err| Error::ProfileFiles {
        detail: err.to_string(),
    })?;
    let invalid =
        |err: aws_runtime::env_config::EnvConfigError<InvalidRetrySetting>| Error::RetrySetting {
            detail: err.to_string(),
        };
    let max_attempts = aws_runtime::env_config::EnvConfigValue::new()
        .env("AWS_MAX_ATTEMPTS")
        .profile("max_attempts")
        .validate(env, Some(&profiles), |value| match value.parse::<u32>() {
            Ok(attempts @ 1..=50) => Ok(attempts),
            _ => Err(InvalidRetrySetting(format!(
                "`{value}` is not a number of attempts from 1 to 50"
            ))),
        })
        .map_err(invalid)?;
    let mode = aws_runtime::env_config::EnvConfigValue::new()
        .env("AWS_RETRY_MODE")
        .profile("retry_mode")
        .validate(env, Some(&profiles), |value| {
            value
                .parse::<RetryMode>()
                .map_err(|_| InvalidRetrySetting(format!("`{value}` is not standard or adaptive")))
        })
        .map_err(invalid)?;
    Ok(RetrySettings { max_attempts, mode })
}

/// Load the SDK configuration: credential chain, profile, region, endpoint, retries and
/// timeouts, with a gate of its own under the run's budget.
pub(crate) async fn load_config(options: &ConnectOptions) -> Result<AccountConfig> {
    let profile = options
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    if let Some(profile) = &profile {
        check_profile_exists(profile).await?;
    }
    let region = options
        .region
        .clone()
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .retry_config(retry_config(
            options.max_attempts,
            retry_settings(profile.as_deref(), &Env::real(), &Fs::real()).await?,
        ))
        .timeout_config(
            // The attempt timeout is the gate's (`AccountConfig::gated`): the SDK's would
            // count the wait for a place as the attempt's time.
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    Ok(AccountConfig::gated(sdk.to_builder(), &options.calls))
}

/// The ARN of role `role_name` in an account.
pub(crate) fn role_arn(partition: &str, account_id: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:role/{role_name}")
}

/// A configuration like `base`, with the credentials of `role_arn` (sts:AssumeRole,
/// with a session name that identifies keytrim in CloudTrail). The credentials last
/// the role's default session (one hour).
pub(crate) async fn assume_role(
    base: &AccountConfig,
    role_arn: &str,
    session_name: &str,
) -> Result<AccountConfig> {
    let clients = Clients::new(base);
    let assumed = clients
        .sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .send()
        .await
        .map_err(|err| classify("sts:AssumeRole", &clients.endpoint, err))?;
    let Some(credentials) = assumed.credentials() else {
        return Err(Error::NoAssumedCredentials {
            role_arn: role_arn.to_string(),
        });
    };
    let expiry = std::time::SystemTime::try_from(*credentials.expiration()).ok();
    let provider = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        expiry,
        "keytrim-assume-role",
    );
    // Another account: a gate of its own, as IAM throttles each account on its own.
    Ok(AccountConfig::gated(
        base.sdk.to_builder().credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        ),
        &base.calls,
    ))
}

/// Find a credentials failure anywhere in an error's chain of causes.
fn credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// Whether a credentials failure is instance metadata's own (IMDS), as the last
/// provider of the default chain reports it: its error is the failure's direct cause.
/// A profile that takes its credentials from instance metadata wraps that failure in
/// its own, and stays the profile's failure.
fn from_instance_metadata(err: &CredentialsError) -> bool {
    err.source().is_some_and(|cause| {
        cause
            .downcast_ref::<aws_config::imds::client::error::ImdsError>()
            .is_some()
    })
}

/// The innermost cause's message, the most specific one.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The start of a response body, on one line.
fn one_line_body(response: &HttpResponse) -> String {
    const LIMIT: usize = 400;
    let text = response
        .body()
        .bytes()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "empty response body".to_string();
    }
    if line.len() > LIMIT {
        let cut = (0..=LIMIT)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push_str(" ...");
    }
    line
}

/// True when the call's last attempt was answered by IAM with an error that is not
/// retried (AccessDenied, NoSuchEntity, ExpiredToken, ...), or was never sent. That
/// answer does not prove that nothing changed: the SDK retries, and an earlier attempt
/// whose answer was lost may have been applied, so a write is read back all the same.
/// Anything else (no answer, a timeout, a dropped connection, retries exhausted on
/// throttling or a server error) is no clear answer at all.
pub(crate) fn answered_without_effect<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    match err {
        SdkError::ConstructionFailure(_) => true,
        SdkError::ServiceError(service) => {
            let retried = service.err().code().is_some_and(|code| {
                THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code)
            });
            service.raw().status().is_client_error() && !retried
        }
        _ => false,
    }
}

/// True when a failed call was certainly never sent: the request could not even be
/// built. Any other failure may follow an attempt that reached AWS.
pub(crate) fn never_sent<E>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(err, SdkError::ConstructionFailure(_))
}

/// Turn an SDK error into keytrim's error for `action` (e.g. `iam:ListUsers`).
pub(crate) fn classify<E>(
    action: &'static str,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let Some(credentials) = credentials_error(&err) {
        return match credentials {
            CredentialsError::CredentialsNotLoaded(_) => {
                Error::NoCredentials { action, imds: None }
            }
            // The chain asks instance metadata last, only when no other source was
            // configured: its error means there were no credentials to find.
            other if from_instance_metadata(other) => Error::NoCredentials {
                action,
                imds: Some(root_cause(other)),
            },
            other => Error::Credentials {
                action,
                detail: root_cause(other),
            },
        };
    }
    match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match inner.code() {
                Some(code) => Error::Aws {
                    action,
                    code: code.to_string(),
                    message: inner.message().unwrap_or("no message from AWS").to_string(),
                },
                // An error body the SDK could not read: show what the endpoint said.
                None => Error::Aws {
                    action,
                    code: format!("HTTP {}", service.raw().status().as_u16()),
                    message: one_line_body(service.raw()),
                },
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Error::Unreachable {
            action,
            endpoint: endpoint.to_string(),
            detail: root_cause(&err),
        },
        _ => {
            if let Some(code) = err.code() {
                return Error::Aws {
                    action,
                    code: code.to_string(),
                    message: err.message().unwrap_or("no message from AWS").to_string(),
                };
            }
            Error::AwsRequest {
                action,
                detail: root_cause(&err),
            }
        }
    }
}

#[cfg(test)]
mod tests;
