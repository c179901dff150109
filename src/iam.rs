//! Read-only IAM facts that audit and apply both read: who is calling, a user's access
//! keys, when a key was last used, and a user's tags (the exemption tags and key
//! descriptions). Nothing here writes to IAM.

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

#[cfg(test)]
mod tests {
    use super::*;

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
