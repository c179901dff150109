//! The IAM credential report: generated and fetched (polling while IAM builds it), and
//! its CSV reduced to what candidate selection needs (the parsing is pure).

use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::ReportStateType;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::aws::{Clients, classify};
use crate::error::{Error, Result};

/// Progress of the credential report poll: first wait, longest wait, and give-up time.
const REPORT_FIRST_WAIT: Duration = Duration::from_secs(1);

const REPORT_LONGEST_WAIT: Duration = Duration::from_secs(8);

const REPORT_DEADLINE: Duration = Duration::from_secs(300);

/// Generate the credential report and download it, waiting politely while IAM builds
/// it (iam:GenerateCredentialReport, iam:GetCredentialReport).
pub(crate) async fn fetch(clients: &Clients) -> Result<Vec<u8>> {
    let started = tokio::time::Instant::now();
    let mut wait = REPORT_FIRST_WAIT;
    loop {
        let generated = clients.iam.generate_credential_report().send().await;
        let ready = match generated {
            Ok(output) => output.state() == Some(&ReportStateType::Complete),
            Err(err) if err.code() == Some("LimitExceeded") => false,
            Err(err) => {
                return Err(classify(
                    "iam:GenerateCredentialReport",
                    &clients.endpoint,
                    err,
                ));
            }
        };
        if ready {
            match clients.iam.get_credential_report().send().await {
                Ok(output) => {
                    return Ok(output
                        .content()
                        .map(|blob| blob.as_ref().to_vec())
                        .unwrap_or_default());
                }
                Err(err)
                    if matches!(
                        err.code(),
                        Some("ReportInProgress" | "ReportNotPresent" | "ReportExpired")
                    ) => {}
                Err(err) => {
                    return Err(classify("iam:GetCredentialReport", &clients.endpoint, err));
                }
            }
        }
        if started.elapsed() + wait > REPORT_DEADLINE {
            return Err(Error::CredentialReportTimeout {
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tracing::info!(
            wait_secs = wait.as_secs(),
            "credential report not ready yet"
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(REPORT_LONGEST_WAIT);
    }
}

/// One IAM user's row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Row {
    pub user: String,
    pub arn: String,
    pub access_key_1_active: String,
    pub access_key_2_active: String,
    /// When the key in the slot was created (RFC 3339), or `N/A`.
    #[serde(default)]
    pub access_key_1_last_rotated: String,
    #[serde(default)]
    pub access_key_2_last_rotated: String,
}

impl Row {
    /// True when both key slots are Active: the user breaks CIS 1.13.
    pub(crate) fn has_two_active_keys(&self) -> bool {
        self.access_key_1_active.eq_ignore_ascii_case("true")
            && self.access_key_2_active.eq_ignore_ascii_case("true")
    }

    /// True when a key slot is Active with a key created at or before `cutoff`, or
    /// with a creation time the report does not give plainly (then only a live
    /// listing can tell).
    pub(crate) fn has_an_active_key_created_by(&self, cutoff: DateTime<Utc>) -> bool {
        [
            (&self.access_key_1_active, &self.access_key_1_last_rotated),
            (&self.access_key_2_active, &self.access_key_2_last_rotated),
        ]
        .into_iter()
        .any(|(active, created)| {
            active.eq_ignore_ascii_case("true")
                && DateTime::parse_from_rfc3339(created)
                    .map_or(true, |created| created.with_timezone(&Utc) <= cutoff)
        })
    }
}

/// The rows of IAM users (the root account's row is left out).
pub(crate) fn rows(csv_bytes: &[u8]) -> Result<Vec<Row>> {
    let mut reader = csv::Reader::from_reader(csv_bytes);
    let mut rows = Vec::new();
    for record in reader.deserialize::<Row>() {
        let row = record.map_err(|err| Error::CredentialReport {
            detail: err.to_string(),
        })?;
        if row.user != "<root_account>" {
            rows.push(row);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "user,arn,user_creation_time,password_enabled,access_key_1_active,access_key_1_last_rotated,access_key_2_active,access_key_2_last_rotated\n\
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,true,N/A,true,N/A\n\
alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,false,true,2026-01-01T00:00:00+00:00,true,2026-02-01T00:00:00+00:00\n\
bob,arn:aws:iam::123456789012:user/bob,2020-01-01T00:00:00+00:00,false,true,2026-01-01T00:00:00+00:00,false,N/A\n";

    #[test]
    fn rows_skip_root_and_flag_two_active_keys() {
        let rows = rows(REPORT.as_bytes()).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert!(rows[0].has_two_active_keys());
        assert!(!rows[1].has_two_active_keys());
    }

    /// Under `--rotation`: a user with an active key created by the cutoff, or whose
    /// creation time is not plain, is looked at live; an Inactive old key is not one.
    #[test]
    fn an_active_key_created_by_the_cutoff_is_found() {
        let rows = rows(REPORT.as_bytes()).unwrap();
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(rows[1].has_an_active_key_created_by(at("2026-01-01T00:00:00Z")));
        assert!(!rows[1].has_an_active_key_created_by(at("2025-12-31T23:59:59Z")));
        let unclear = Row {
            access_key_1_last_rotated: "N/A".into(),
            ..rows[1].clone()
        };
        assert!(unclear.has_an_active_key_created_by(at("2000-01-01T00:00:00Z")));
        let inactive = Row {
            access_key_1_active: "false".into(),
            ..rows[1].clone()
        };
        assert!(!inactive.has_an_active_key_created_by(at("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn a_report_without_the_key_columns_is_an_error() {
        let err = rows(b"user,arn\nalice,arn:x\n").unwrap_err();
        assert!(err.to_string().contains("access_key_1_active"), "{err}");
    }

    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    /// IAM builds the report asynchronously and refuses to start another while one is
    /// in progress; keytrim waits politely through both. moto always has it ready at once.
    #[tokio::test(start_paused = true)]
    async fn the_credential_report_is_awaited_through_in_progress_and_limit_exceeded() {
        use aws_sdk_iam::error::ErrorMetadata;
        use aws_sdk_iam::operation::generate_credential_report::{
            GenerateCredentialReportError, GenerateCredentialReportOutput,
        };
        use aws_sdk_iam::operation::get_credential_report::{
            GetCredentialReportError, GetCredentialReportOutput,
        };
        let state = |state: ReportStateType| {
            move || {
                GenerateCredentialReportOutput::builder()
                    .state(state.clone())
                    .build()
            }
        };
        let generate = mock!(aws_sdk_iam::Client::generate_credential_report)
            .sequence()
            .output(state(ReportStateType::Started))
            .error(|| {
                GenerateCredentialReportError::generic(
                    ErrorMetadata::builder()
                        .code("LimitExceeded")
                        .message("slow down")
                        .build(),
                )
            })
            .output(state(ReportStateType::Complete))
            .times(2)
            .build();
        let get = mock!(aws_sdk_iam::Client::get_credential_report)
            .sequence()
            .error(|| {
                GetCredentialReportError::generic(
                    ErrorMetadata::builder().code("ReportInProgress").build(),
                )
            })
            .output(|| {
                GetCredentialReportOutput::builder()
                    .content(aws_sdk_iam::primitives::Blob::new("user,arn\n"))
                    .build()
            })
            .build();
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate, &get]);
        let started = tokio::time::Instant::now();
        let report = fetch(&Clients::with_mock_iam(iam)).await.unwrap();
        assert_eq!(report, b"user,arn\n");
        assert_eq!(generate.num_calls(), 4);
        assert_eq!(get.num_calls(), 2);
        // Three waits of 1, 2 and 4 seconds (virtual time).
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_credential_report_that_never_completes_times_out() {
        use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
        let generate = mock!(aws_sdk_iam::Client::generate_credential_report).then_output(|| {
            GenerateCredentialReportOutput::builder()
                .state(ReportStateType::Inprogress)
                .build()
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate]);
        let err = fetch(&Clients::with_mock_iam(iam)).await.unwrap_err();
        assert!(
            matches!(err, Error::CredentialReportTimeout { waited_secs } if waited_secs <= 300),
            "{err}"
        );
    }
}
