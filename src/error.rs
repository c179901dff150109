//! Error kinds of the library, and the exit status each ends keytrim with.
//!
//! Every failure a user can meet is one variant here, with a one-line message that
//! names the thing that is wrong (a file, a profile, an endpoint, an IAM action).

use std::path::PathBuf;

use crate::exit::ExitStatus;

/// Anything that stops a keytrim command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials could be found by the credential chain: each source said it had
    /// none, or only instance metadata answered, with an error (`imds`, its reason; off
    /// EC2 that is the usual end of the chain, not a fault to debug).
    #[error(
        "no AWS credentials found while calling {action}: tried the environment (AWS_ACCESS_KEY_ID), the AWS config and credentials files (profile, SSO, credential process), web identity, container and instance metadata{}; set AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`",
        imds.as_deref().map(|reason| format!(" (which said: {reason})")).unwrap_or_default()
    )]
    NoCredentials {
        action: &'static str,
        imds: Option<String>,
    },

    /// The named profile is not in the AWS config or credentials files.
    #[error("AWS profile `{profile}` not found in the AWS config or credentials files")]
    UnknownProfile { profile: String },

    /// The AWS config files could not be read or parsed.
    #[error("cannot read the AWS config files: {detail}")]
    ProfileFiles { detail: String },

    /// The credential chain failed for another reason (bad SSO session, failing process, ...).
    #[error("cannot load AWS credentials while calling {action}: {detail}")]
    Credentials {
        action: &'static str,
        detail: String,
    },

    /// The endpoint did not answer (connection refused, DNS, timeout).
    #[error("cannot reach the AWS endpoint {endpoint} while calling {action}: {detail}")]
    Unreachable {
        action: &'static str,
        endpoint: String,
        detail: String,
    },

    /// AWS answered with an error, e.g. AccessDenied or Throttling.
    #[error("{action} failed: {code}: {message}")]
    Aws {
        action: &'static str,
        code: String,
        message: String,
    },

    /// A call failed without an answer that carries an error code (the response could
    /// not be read, or the request not built).
    #[error("{action} failed: {detail}")]
    AwsRequest {
        action: &'static str,
        detail: String,
    },

    /// A user named with `--user` does not exist in the account.
    #[error("IAM user `{user}` (from --user) does not exist in account {account_id}")]
    NoSuchUser { user: String, account_id: String },

    /// A `keytrim:exempt-until` tag that is not a date.
    #[error(
        "IAM user `{user}`: tag keytrim:exempt-until: `{value}` is not a date (YYYY-MM-DD); fix the tag, since keytrim cannot tell whether the exemption still applies"
    )]
    ExemptionDate { user: String, value: String },

    /// The credential report could not be produced in time.
    #[error(
        "the IAM credential report was not ready after {waited_secs} s; try again or use --source live"
    )]
    CredentialReportTimeout { waited_secs: u64 },

    /// The credential report could not be parsed.
    #[error("cannot parse the IAM credential report: {detail}")]
    CredentialReport { detail: String },

    /// A plan file is missing, unreadable or invalid.
    #[error("{path}: {detail}")]
    Plan { path: String, detail: String },

    /// A journal is missing, unreadable or not a keytrim journal.
    #[error("{path}: {detail}")]
    Journal { path: String, detail: String },

    /// The plan or journal belongs to another account than the caller's.
    #[error(
        "{path} is for account {expected}, but the credentials are for account {actual} ({caller_arn}); nothing was changed"
    )]
    WrongAccount {
        path: String,
        expected: String,
        actual: String,
        caller_arn: String,
    },

    /// A member account's role answered for another account than the one it was
    /// assumed in (a role's trust or an Organization that changed under the audit).
    #[error(
        "the role assumed in account {expected} answered for account {actual}: that account was not audited"
    )]
    WrongMemberAccount { expected: String, actual: String },

    /// `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE` or their profile keys hold no valid value.
    #[error("invalid retry setting: {detail}")]
    RetrySetting { detail: String },

    /// AssumeRole succeeded without returning credentials.
    #[error("sts:AssumeRole returned no credentials for {role_arn}")]
    NoAssumedCredentials { role_arn: String },

    /// Changes need confirmation, and there is no terminal to ask on.
    #[error(
        "standard input is not a terminal, so keytrim cannot ask for confirmation: pass --yes to {action} without prompts, or --dry-run to preview; nothing was changed"
    )]
    NeedsConfirmation { action: &'static str },

    /// Options that do not go together.
    #[error("{0}")]
    Usage(String),

    /// The exemptions file is missing or invalid.
    #[error("{path}: {detail}")]
    Exemptions { path: PathBuf, detail: String },

    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A journal write failed during a run: no change started after it.
    #[error(
        "cannot write the journal {path}: {detail}; no change was started after that, and the journal was cut back to its last whole line (roll back with it, or check IAM)",
        path = path.display()
    )]
    JournalIncomplete { path: PathBuf, detail: String },

    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),

    /// Whoever read standard output stopped reading (`keytrim show ... | head`): not a
    /// failure. The command ends there, quietly, with exit code 0, as ripgrep does.
    #[error("standard output was closed")]
    StdoutClosed,

    /// The SDK was told to log bodies it otherwise redacts: reading a secret would put
    /// it in the log.
    #[error(
        "{variable} is set, so the AWS SDK would log the answer of secretsmanager:GetSecretValue, secret included: unset it before keytrim reads a secret"
    )]
    SecretsWouldBeLogged { variable: &'static str },

    /// A staging label moved while keytrim read the version it was on.
    #[error(
        "{stage} of secret {secret_arn} moved while keytrim read it: someone is changing the secret; nothing was changed"
    )]
    SecretMoved {
        secret_arn: String,
        stage: &'static str,
    },

    /// A secret's value is not an access key keytrim can read or replace. The value is
    /// never quoted.
    #[error("secret {secret_arn}: {why}")]
    SecretNotAnAccessKey {
        secret_arn: String,
        why: &'static str,
    },

    /// An audit of several accounts whose filters leave none.
    #[error("no account is left by {by}: nothing was audited")]
    NoAccountSelected { by: &'static str },

    /// `audit -o -`: the reader of standard output went away before the whole plan
    /// was written, so nobody has the plan.
    #[error("standard output was closed before the whole plan was written: no plan was delivered")]
    PlanNotDelivered,
}

impl Error {
    /// The IAM or STS action an AWS error came from (`iam:ListAccessKeys`), if any.
    pub fn action(&self) -> Option<&'static str> {
        match self {
            Error::Aws { action, .. }
            | Error::AwsRequest { action, .. }
            | Error::Unreachable { action, .. }
            | Error::Credentials { action, .. }
            | Error::NoCredentials { action, .. } => Some(action),
            _ => None,
        }
    }

    /// True when IAM answered that the caller may not see something, or that it is not
    /// there: an explicit deny, an SCP or permissions boundary, a user deleted meanwhile.
    /// About one user, that makes the user unreadable, not the audit failed; throttling,
    /// an unreachable endpoint or bad credentials are never one user's.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Aws { code, .. } if matches!(
                code.as_str(),
                "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"
                    | "NoSuchEntity" | "HTTP 403" | "HTTP 404"
            )
        )
    }

    /// The exit status this error ends keytrim with: a usage mistake, success for a
    /// reader that went away, an error for everything else.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) => ExitStatus::Usage,
            Error::StdoutClosed => ExitStatus::Ok,
            _ => ExitStatus::Error,
        }
    }
}

/// Shorthand used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
