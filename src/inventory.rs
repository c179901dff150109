//! Read-only IAM facts: who is calling, which users exist, their access keys, when
//! those were last used and whether the user is exempt by tag. Two sources: `live`
//! (ListUsers + ListAccessKeys for every user) and `credential-report` (the report
//! picks the candidates, live calls confirm them). Nothing here writes to IAM.

use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{ReportStateType, StatusType};
use chrono::{DateTime, Utc};

use crate::aws::{Clients, classify};
use crate::bounded;
use crate::error::{Error, Result};
use crate::facts::{
    Caller, EXEMPT_TAG, EXEMPT_UNTIL_TAG, Inventory, KeyFacts, KeyStatus, LastUse, UserFacts,
    has_multiple_active_keys,
};
use crate::plan::Source;

/// What to inventory, and how hard to push.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Only these users (all users when empty).
    pub users: Vec<String>,
    pub source: Source,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Advanced once per user looked at (hidden unless stderr is a terminal).
    pub progress: crate::progress::SharedProgress,
}

/// Progress of the credential report poll: first wait, longest wait, and give-up time.
const REPORT_FIRST_WAIT: Duration = Duration::from_secs(1);
const REPORT_LONGEST_WAIT: Duration = Duration::from_secs(8);
const REPORT_DEADLINE: Duration = Duration::from_secs(300);

fn to_chrono(at: &aws_sdk_iam::primitives::DateTime) -> DateTime<Utc> {
    // IAM reports whole seconds; moto adds microseconds. Plans keep whole seconds so
    // they are the same whichever backend produced them.
    DateTime::from_timestamp(at.secs(), 0).unwrap_or_default()
}

/// Who is calling (sts:GetCallerIdentity).
pub(crate) async fn caller(clients: &Clients) -> Result<Caller> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| classify("sts:GetCallerIdentity", &clients.endpoint, err))?;
    Ok(Caller {
        account_id: identity.account().unwrap_or_default().to_string(),
        arn: identity.arn().unwrap_or_default().to_string(),
    })
}

/// Users per ListUsers page: IAM's maximum (its default is 100).
pub(crate) const USERS_PER_PAGE: i32 = 1000;

/// Send every user's name and ARN down `users` as ListUsers pages arrive (iam:ListUsers,
/// 1,000 a page, following every Marker), adding each page to the progress bar's total.
/// Stops at the first error, which it sends too, or when the receiver is gone.
pub(crate) async fn send_users(
    clients: Clients,
    users: tokio::sync::mpsc::Sender<Result<(String, String)>>,
    progress: crate::progress::SharedProgress,
) {
    let mut pages = clients
        .iam
        .list_users()
        .max_items(USERS_PER_PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                let _ = users
                    .send(Err(classify("iam:ListUsers", &clients.endpoint, err)))
                    .await;
                return;
            }
        };
        progress.add_to_total(page.users().len() as u64);
        for user in page.users() {
            let named = (user.user_name().to_string(), user.arn().to_string());
            if users.send(Ok(named)).await.is_err() {
                return;
            }
        }
    }
}

/// Every user's name and ARN, all pages read.
pub(crate) async fn list_users(clients: &Clients) -> Result<Vec<(String, String)>> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(USERS_PER_PAGE as usize);
    let lister = tokio::spawn(send_users(
        clients.clone(),
        sender,
        std::sync::Arc::new(crate::progress::NoProgress),
    ));
    let mut users = Vec::new();
    while let Some(user) = receiver.recv().await {
        users.push(user?);
    }
    let _ = lister.await;
    Ok(users)
}

/// A user's keys (iam:ListAccessKeys), oldest first, without last use.
pub(crate) async fn list_keys(clients: &Clients, user_name: &str) -> Result<Vec<KeyFacts>> {
    let mut pages = clients
        .iam
        .list_access_keys()
        .user_name(user_name)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| classify("iam:ListAccessKeys", &clients.endpoint, err))?;
        for key in page.access_key_metadata() {
            let (Some(id), Some(created)) = (key.access_key_id(), key.create_date()) else {
                continue;
            };
            keys.push(KeyFacts {
                access_key_id: id.to_string(),
                status: match key.status() {
                    Some(StatusType::Active) => KeyStatus::Active,
                    _ => KeyStatus::Inactive,
                },
                created: to_chrono(created),
                last_use: None,
                description: None,
            });
        }
    }
    keys.sort_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then_with(|| a.access_key_id.cmp(&b.access_key_id))
    });
    Ok(keys)
}

/// When a key was last used (iam:GetAccessKeyLastUsed).
pub(crate) async fn last_use(clients: &Clients, access_key_id: &str) -> Result<LastUse> {
    let output = clients
        .iam
        .get_access_key_last_used()
        .access_key_id(access_key_id)
        .send()
        .await
        .map_err(|err| classify("iam:GetAccessKeyLastUsed", &clients.endpoint, err))?;
    let Some(used) = output.access_key_last_used() else {
        return Ok(LastUse::default());
    };
    // IAM says "N/A" for a key that was never used.
    let known = |value: &str| (!value.is_empty() && value != "N/A").then(|| value.to_string());
    Ok(LastUse {
        at: used.last_used_date().map(to_chrono),
        service: known(used.service_name()),
        region: known(used.region()),
    })
}

/// What keytrim reads from a user's tags: the exemption tags `keytrim:exempt` (the
/// reason) and `keytrim:exempt-until` (the last day), and the key descriptions the IAM
/// console stores as tags named by access key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserTags {
    pub reason: Option<String>,
    pub until: Option<chrono::NaiveDate>,
    /// (access key id as tagged, description)
    pub key_descriptions: Vec<(String, String)>,
}

impl UserTags {
    /// The exemption's reason when it applies on `today`: either tag exempts, and an
    /// `until` before today ends it.
    pub(crate) fn in_force(&self, today: chrono::NaiveDate) -> Option<String> {
        if self.until.is_some_and(|until| until < today) {
            return None;
        }
        match (&self.reason, self.until) {
            (Some(reason), _) => Some(reason.clone()),
            (None, Some(until)) => Some(format!("until {until} (tag {EXEMPT_UNTIL_TAG})")),
            (None, None) => None,
        }
    }

    /// The description tagged for `access_key_id`, if any. Tag keys are unique ignoring
    /// case, so at most one matches.
    pub(crate) fn description_of(&self, access_key_id: &str) -> Option<String> {
        self.key_descriptions
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(access_key_id))
            .map(|(_, description)| description.clone())
    }
}

/// The user's tags that keytrim reads (iam:ListUserTags). IAM tag keys are unique
/// ignoring case, and so are these. A `keytrim:exempt-until` that is not a date is an
/// error naming the user: never a silent exemption, nor a silent lack of one.
pub(crate) async fn user_tags(clients: &Clients, user_name: &str) -> Result<UserTags> {
    let mut pages = clients
        .iam
        .list_user_tags()
        .user_name(user_name)
        .into_paginator()
        .send();
    let mut found = UserTags::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| classify("iam:ListUserTags", &clients.endpoint, err))?;
        for tag in page.tags() {
            if tag.key().eq_ignore_ascii_case(EXEMPT_TAG) {
                found.reason = Some(tag.value().to_string());
            } else if tag.key().eq_ignore_ascii_case(EXEMPT_UNTIL_TAG) {
                found.until = Some(crate::facts::parse_exemption_date(tag.value()).ok_or_else(
                    || Error::ExemptionDate {
                        user: user_name.to_string(),
                        value: tag.value().to_string(),
                    },
                )?);
            } else if crate::plan::validate::is_access_key_id(tag.key()) {
                found
                    .key_descriptions
                    .push((tag.key().to_string(), tag.value().to_string()));
            }
        }
    }
    Ok(found)
}

/// What examining one user found.
enum Examined {
    /// At most one active key: nothing to decide.
    Compliant,
    /// Two or more active keys, every fact read.
    Candidate(UserFacts),
    /// IAM refused a read about the user: the facts read before it, and the refusal.
    Refused(UserFacts, Error),
}

/// A user's keys, and for users with two or more active keys also each key's last use
/// and the exemption tag. A refusal from IAM about the user (`Error::is_refusal`) makes
/// the user unreadable; any other error stops the audit.
async fn user_facts(clients: &Clients, name: String, arn: String) -> Result<Examined> {
    let refused = |keys: Vec<KeyFacts>, error: Error| {
        if !error.is_refusal() {
            return Err(error);
        }
        let facts = UserFacts {
            user_name: name.clone(),
            user_arn: arn.clone(),
            keys,
            exempt_tag: None,
            exempt_until: None,
            unreadable: Some(error.to_string()),
        };
        Ok(Examined::Refused(facts, error))
    };
    let mut keys = match list_keys(clients, &name).await {
        Ok(keys) => keys,
        Err(error) => return refused(Vec::new(), error),
    };
    if !has_multiple_active_keys(&keys) {
        return Ok(Examined::Compliant);
    }
    for index in 0..keys.len() {
        match last_use(clients, &keys[index].access_key_id).await {
            Ok(used) => keys[index].last_use = Some(used),
            Err(error) => return refused(keys, error),
        }
    }
    let tags = match user_tags(clients, &name).await {
        Ok(tags) => tags,
        Err(error) => return refused(keys, error),
    };
    for key in &mut keys {
        key.description = tags.description_of(&key.access_key_id);
    }
    Ok(Examined::Candidate(UserFacts {
        user_name: name,
        user_arn: arn,
        keys,
        exempt_tag: tags.reason,
        exempt_until: tags.until,
        unreadable: None,
    }))
}

/// What looking at every user found: how many were looked at, all their names, and
/// the facts of those that need a decision.
struct Gathered {
    names: Vec<String>,
    candidates: Vec<UserFacts>,
}

/// Look at the users as they arrive on `users`, with at most `concurrency` users in
/// flight; keep those that need a decision. The first error stops the rest.
async fn gather(
    clients: &Clients,
    users: tokio::sync::mpsc::Receiver<Result<(String, String)>>,
    concurrency: usize,
    progress: &crate::progress::SharedProgress,
) -> Result<Gathered> {
    let (clients, tick) = (clients.clone(), progress.clone());
    let facts = bounded::try_map_received(users, concurrency, move |(name, arn)| {
        let (clients, tick) = (clients.clone(), tick.clone());
        async move {
            let facts = user_facts(&clients, name.clone(), arn).await;
            tick.advance();
            facts.map(|facts| (name, facts))
        }
    })
    .await;
    progress.finish();
    let mut names = Vec::new();
    let mut candidates = Vec::new();
    let mut refusals = Vec::new();
    // The reads, in the order a user's are made, and how many users got past each.
    let steps = [
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:ListUserTags",
    ];
    let mut passed = [0usize; 3];
    for (name, examined) in facts? {
        names.push(name);
        let reached = match examined {
            Examined::Compliant => 1,
            Examined::Candidate(facts) => {
                candidates.push(facts);
                3
            }
            Examined::Refused(facts, error) => {
                candidates.push(facts);
                let step = steps
                    .iter()
                    .position(|step| error.action() == Some(*step))
                    .unwrap_or(0);
                refusals.push((step, error));
                step
            }
        };
        passed
            .iter_mut()
            .take(reached)
            .for_each(|count| *count += 1);
    }
    // A read IAM refused for two users or more and allowed for none is the audit
    // role's own lack (no iam:ListAccessKeys at all, say): an error of the audit, not
    // a finding about each user. One refusal alone is a finding: one protected user.
    for (step, _) in steps.iter().enumerate() {
        let refused = refusals.iter().filter(|(at, _)| *at == step).count();
        if refused >= 2 && passed[step] == 0 {
            let (_, error) = refusals.swap_remove(
                refusals
                    .iter()
                    .position(|(at, _)| *at == step)
                    .expect("counted above"),
            );
            return Err(error);
        }
    }
    candidates.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    Ok(Gathered { names, candidates })
}

/// A channel that already holds `users`, for sources that know them all up front; the
/// progress bar's total is theirs.
fn all_at_once(
    users: Vec<(String, String)>,
    progress: &crate::progress::SharedProgress,
) -> tokio::sync::mpsc::Receiver<Result<(String, String)>> {
    progress.set_total(users.len() as u64);
    let (sender, receiver) = tokio::sync::mpsc::channel(users.len().max(1));
    for user in users {
        sender
            .try_send(Ok(user))
            .expect("the channel holds every user");
    }
    receiver
}

/// Keep only the users named with `--user`; every named user must exist.
fn restrict(
    users: Vec<(String, String)>,
    wanted: &[String],
    account_id: &str,
) -> Result<Vec<(String, String)>> {
    if wanted.is_empty() {
        return Ok(users);
    }
    for name in wanted {
        if !users.iter().any(|(user, _)| user == name) {
            return Err(Error::NoSuchUser {
                user: name.clone(),
                account_id: account_id.to_string(),
            });
        }
    }
    Ok(users
        .into_iter()
        .filter(|(user, _)| wanted.contains(user))
        .collect())
}

/// Take the inventory of the caller's account.
pub(crate) async fn take(clients: &Clients, scope: &Scope) -> Result<Inventory> {
    let caller = caller(clients).await?;
    let to_examine = match scope.source {
        // Every user: pages are examined as they come.
        Source::Live if scope.users.is_empty() => {
            let (sender, receiver) = tokio::sync::mpsc::channel(USERS_PER_PAGE as usize);
            // The bar's total grows page by page.
            scope.progress.set_total(0);
            tokio::spawn(send_users(clients.clone(), sender, scope.progress.clone()));
            receiver
        }
        Source::Live => all_at_once(
            restrict(list_users(clients).await?, &scope.users, &caller.account_id)?,
            &scope.progress,
        ),
        Source::CredentialReport => {
            let rows = credential_report::rows(&fetch_credential_report(clients).await?)?;
            let users = restrict(
                rows.iter()
                    .map(|row| (row.user.clone(), row.arn.clone()))
                    .collect(),
                &scope.users,
                &caller.account_id,
            )?;
            let with_two_active_keys: std::collections::HashSet<&str> = rows
                .iter()
                .filter(|row| row.has_two_active_keys())
                .map(|row| row.user.as_str())
                .collect();
            let (candidates, others): (Vec<_>, Vec<_>) = users
                .into_iter()
                .partition(|(user, _)| with_two_active_keys.contains(user.as_str()));
            tracing::info!(
                users = candidates.len() + others.len(),
                examined = candidates.len(),
                "listing access keys"
            );
            let gathered = gather(
                clients,
                all_at_once(candidates, &scope.progress),
                scope.concurrency,
                &scope.progress,
            )
            .await?;
            let mut scanned_names = gathered.names;
            scanned_names.extend(others.into_iter().map(|(name, _)| name));
            return Ok(Inventory {
                caller,
                users_scanned: scanned_names.len(),
                scanned_names,
                candidates: gathered.candidates,
            });
        }
    };
    let gathered = gather(clients, to_examine, scope.concurrency, &scope.progress).await?;
    tracing::info!(users = gathered.names.len(), "listed access keys");
    Ok(Inventory {
        caller,
        users_scanned: gathered.names.len(),
        scanned_names: gathered.names,
        candidates: gathered.candidates,
    })
}

/// Generate the credential report and download it, waiting politely while IAM builds
/// it (iam:GenerateCredentialReport, iam:GetCredentialReport).
async fn fetch_credential_report(clients: &Clients) -> Result<Vec<u8>> {
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

/// The credential report's CSV, reduced to what candidate selection needs. Pure.
pub(crate) mod credential_report {
    use serde::Deserialize;

    use crate::error::{Error, Result};

    /// One IAM user's row.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    pub(crate) struct Row {
        pub user: String,
        pub arn: String,
        pub access_key_1_active: String,
        pub access_key_2_active: String,
    }

    impl Row {
        /// True when both key slots are Active: the user breaks CIS 1.13.
        pub(crate) fn has_two_active_keys(&self) -> bool {
            self.access_key_1_active.eq_ignore_ascii_case("true")
                && self.access_key_2_active.eq_ignore_ascii_case("true")
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

        #[test]
        fn a_report_without_the_key_columns_is_an_error() {
            let err = rows(b"user,arn\nalice,arn:x\n").unwrap_err();
            assert!(err.to_string().contains("access_key_1_active"), "{err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::list_users::ListUsersOutput;
    use aws_sdk_iam::types::User;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn user(name: &str) -> User {
        User::builder()
            .user_name(name)
            .path("/")
            .user_id(format!("AIDA{}", name.to_uppercase()))
            .arn(format!("arn:aws:iam::123456789012:user/{name}"))
            .create_date(aws_sdk_iam::primitives::DateTime::from_secs(1_700_000_000))
            .build()
            .unwrap()
    }

    /// moto ignores ListUsers paging, so the Marker loop is covered here, and that every
    /// page asks for IAM's largest page (its default is 100 users).
    #[tokio::test]
    async fn list_users_follows_every_marker_a_thousand_users_a_page() {
        let first = mock!(aws_sdk_iam::Client::list_users)
            .match_requests(|req| req.marker().is_none() && req.max_items() == Some(1000))
            .then_output(|| {
                ListUsersOutput::builder()
                    .users(user("alice"))
                    .users(user("bob"))
                    .is_truncated(true)
                    .marker("page-2")
                    .build()
                    .unwrap()
            });
        let second = mock!(aws_sdk_iam::Client::list_users)
            .match_requests(|req| req.marker() == Some("page-2") && req.max_items() == Some(1000))
            .then_output(|| {
                ListUsersOutput::builder()
                    .users(user("carol"))
                    .is_truncated(true)
                    .marker("page-3")
                    .build()
                    .unwrap()
            });
        let third = mock!(aws_sdk_iam::Client::list_users)
            .match_requests(|req| req.marker() == Some("page-3") && req.max_items() == Some(1000))
            .then_output(|| {
                ListUsersOutput::builder()
                    .users(user("dave"))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&first, &second, &third]);
        let users = list_users(&Clients::with_mock_iam(iam)).await.unwrap();
        let names: Vec<&str> = users.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol", "dave"]);
        assert_eq!(first.num_calls(), 1);
        assert_eq!(second.num_calls(), 1);
        assert_eq!(third.num_calls(), 1);
    }

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
        let report = fetch_credential_report(&Clients::with_mock_iam(iam))
            .await
            .unwrap();
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
        let err = fetch_credential_report(&Clients::with_mock_iam(iam))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::CredentialReportTimeout { waited_secs } if waited_secs <= 300),
            "{err}"
        );
    }

    /// Apply's drift check asks the tags whether an exemption is in force today.
    #[test]
    fn exemption_tags_are_in_force_through_their_last_day() {
        let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let tags = UserTags {
            reason: Some("migration".into()),
            until: Some(day(5)),
            ..UserTags::default()
        };
        assert_eq!(tags.in_force(day(5)).as_deref(), Some("migration"));
        assert_eq!(tags.in_force(day(6)), None);
        let until_only = UserTags {
            reason: None,
            until: Some(day(5)),
            ..UserTags::default()
        };
        assert_eq!(
            until_only.in_force(day(1)).as_deref(),
            Some("until 2026-12-05 (tag keytrim:exempt-until)")
        );
        assert_eq!(UserTags::default().in_force(day(1)), None);
    }

    #[test]
    fn restrict_refuses_an_unknown_user() {
        let users = vec![("alice".to_string(), "arn:a".to_string())];
        let err = restrict(users, &["mallory".to_string()], "123456789012").unwrap_err();
        assert_eq!(
            err.to_string(),
            "IAM user `mallory` (from --user) does not exist in account 123456789012"
        );
    }
}
