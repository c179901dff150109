//! The IAM calls: who is calling, every user (ListUsers, paged), a user's access keys,
//! when a key was last used, a user's tags (the exemption tags and key descriptions),
//! and keytrim's one write, `update_access_key`. The audit only reads; apply and
//! rollback read the same way and write through `update_access_key` alone.

use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, Utc};

use crate::aws::{Clients, classify};
use crate::error::{Error, Result};
use crate::facts::{Caller, EXEMPT_TAG, EXEMPT_UNTIL_TAG, KeyFacts, KeyStatus, LastUse};

pub(crate) fn to_chrono(at: &aws_sdk_iam::primitives::DateTime) -> DateTime<Utc> {
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
    /// The `keytrim:rotate-to` tag's value: the secret the user asks its new key to go
    /// to (the rotation hand-off).
    pub rotate_to: Option<String>,
}

impl UserTags {
    /// The exemption's reason when it applies on `today`: either tag exempts, and an
    /// `until` before today ends it.
    pub(crate) fn in_force(&self, today: chrono::NaiveDate) -> Option<String> {
        crate::facts::tag_exemption(self.reason.as_deref(), self.until)
            .filter(|(_, until)| until.is_none_or(|until| until >= today))
            .map(|(reason, _)| reason)
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

/// Every tag of the user, as (key, value) (iam:ListUserTags, every page).
pub(crate) async fn list_user_tags(
    clients: &Clients,
    user_name: &str,
) -> Result<Vec<(String, String)>> {
    let mut pages = clients
        .iam
        .list_user_tags()
        .user_name(user_name)
        .into_paginator()
        .send();
    let mut tags = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| classify("iam:ListUserTags", &clients.endpoint, err))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|tag| (tag.key().to_string(), tag.value().to_string())),
        );
    }
    Ok(tags)
}

impl UserTags {
    /// What keytrim reads from `user_name`'s tags. IAM tag keys are unique ignoring
    /// case, and so are these. A `keytrim:exempt-until` that is not a date is an error
    /// naming the user: never a silent exemption, nor a silent lack of one.
    pub(crate) fn read(user_name: &str, tags: Vec<(String, String)>) -> Result<UserTags> {
        let mut found = UserTags::default();
        for (key, value) in tags {
            if key.eq_ignore_ascii_case(EXEMPT_TAG) {
                found.reason = Some(value);
            } else if key.eq_ignore_ascii_case(EXEMPT_UNTIL_TAG) {
                found.until =
                    Some(crate::facts::parse_exemption_date(&value).ok_or_else(|| {
                        Error::ExemptionDate {
                            user: user_name.to_string(),
                            value: value.clone(),
                        }
                    })?);
            } else if key.eq_ignore_ascii_case(crate::rule::ROTATE_TO_TAG) {
                found.rotate_to = Some(value);
            } else if crate::plan::validate::is_access_key_id(&key) {
                found.key_descriptions.push((key, value));
            }
        }
        Ok(found)
    }

    /// True when `tags` hold `keytrim:rotate-to`: the user asks for the rotation
    /// hand-off. Nothing else in them is read.
    pub(crate) fn asks_for_rotation(tags: &[(String, String)]) -> bool {
        tags.iter()
            .any(|(key, _)| key.eq_ignore_ascii_case(crate::rule::ROTATE_TO_TAG))
    }
}

/// The user's tags that keytrim reads (iam:ListUserTags; `UserTags::read`).
pub(crate) async fn user_tags(clients: &Clients, user_name: &str) -> Result<UserTags> {
    UserTags::read(user_name, list_user_tags(clients, user_name).await?)
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

/// What became of keytrim's one write, as the change engine needs it: the AWS layer
/// reads the SDK's error, the engine decides from this.
#[derive(Debug)]
pub(crate) enum Written {
    /// IAM answered success.
    Applied,
    /// IAM answered the only attempt with an error it does not retry (AccessDenied,
    /// NoSuchEntity, ...): that attempt changed nothing.
    Refused(Error),
    /// The request could not even be built: it was never sent.
    NotSent(Error),
    /// No clear answer: a timeout, a dropped connection, a server error, retries spent
    /// on throttling, or (`refused_retry`) an error answered after an earlier attempt
    /// that may have landed with its answer lost (an expired session refusing the
    /// retry).
    Unclear { error: Error, refused_retry: bool },
}

/// Counts the attempts the SDK makes for one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttemptCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for AttemptCount {
    fn name(&self) -> &'static str {
        "keytrim::AttemptCount"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Set a key's status (iam:UpdateAccessKey).
pub(crate) async fn update_access_key(
    clients: &Clients,
    user_name: &str,
    access_key_id: &str,
    status: KeyStatus,
) -> Written {
    write("iam:UpdateAccessKey", &clients.endpoint, |attempts| {
        clients
            .iam
            .update_access_key()
            .user_name(user_name)
            .access_key_id(access_key_id)
            .status(match status {
                KeyStatus::Active => StatusType::Active,
                KeyStatus::Inactive => StatusType::Inactive,
            })
            .customize()
            .interceptor(attempts)
            .send()
    })
    .await
}

/// What became of a write `send` makes, its attempts counted by the interceptor it is
/// given.
pub(crate) async fn write<T, E, F>(
    action: &'static str,
    endpoint: &str,
    send: impl FnOnce(AttemptCount) -> F,
) -> Written
where
    F: std::future::Future<
            Output = std::result::Result<
                T,
                aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
            >,
        >,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let attempts = AttemptCount::default();
    match send(attempts.clone()).await {
        Ok(_) => Written::Applied,
        Err(err) => attempts.written(action, endpoint, err),
    }
}

impl AttemptCount {
    /// What became of a write that failed after the attempts counted.
    fn written<E>(
        &self,
        action: &'static str,
        endpoint: &str,
        err: aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> Written
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let never_sent = crate::aws::never_sent(&err);
        // An error answer is proof that nothing changed only for the first attempt: a
        // later one follows an attempt whose answer was not clear, and may have landed.
        let answered = crate::aws::answered_without_effect(&err);
        let first = self.0.load(std::sync::atomic::Ordering::SeqCst) <= 1;
        let error = classify(action, endpoint, err);
        written(error, never_sent, answered && first, answered)
    }
}

/// What became of a write from what is known of its error.
fn written(error: Error, never_sent: bool, refused: bool, refused_retry: bool) -> Written {
    if never_sent {
        Written::NotSent(error)
    } else if refused {
        Written::Refused(error)
    } else {
        Written::Unclear {
            error,
            refused_retry,
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
}
