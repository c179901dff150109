//! Which accounts a multi-account run covers: the ACTIVE accounts of an AWS
//! Organization (organizations:ListAccounts), narrowed to organizational units with
//! `--ou` (ListChildren and ListAccountsForParent, nested OUs included) and by
//! `--accounts` and `--exclude-accounts`.

use std::collections::BTreeSet;

use aws_sdk_organizations::error::ProvideErrorMetadata;

use crate::aws::{AccountConfig, classify};
use crate::error::{Error, Result};

/// One member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub id: String,
    pub name: String,
}

/// Every ACTIVE account of the caller's Organization, following every page.
pub(crate) async fn organization_accounts(config: &AccountConfig) -> Result<Vec<Account>> {
    let client = config.organizations();
    let endpoint = config.endpoint();
    let mut pages = client.list_accounts().into_paginator().send();
    let mut accounts = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            if err.code() == Some("AWSOrganizationsNotInUseException") {
                return Error::Aws {
                    action: "organizations:ListAccounts",
                    code: "AWSOrganizationsNotInUseException".to_string(),
                    message: "the caller's account is not in an AWS Organization".to_string(),
                };
            }
            classify("organizations:ListAccounts", &endpoint, err)
        })?;
        for account in page.accounts() {
            // `State` replaces the deprecated `Status`; either says whether it is active.
            #[allow(deprecated)]
            let active = match (account.state(), account.status()) {
                (Some(state), _) => state.as_str() == "ACTIVE",
                (None, Some(status)) => status.as_str() == "ACTIVE",
                (None, None) => false,
            };
            if let (true, Some(id)) = (active, account.id()) {
                accounts.push(Account {
                    id: id.to_string(),
                    name: account.name().unwrap_or_default().to_string(),
                });
            }
        }
    }
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(accounts)
}

/// The ids of every account in the organizational units `ous` and in the OUs nested
/// under them, at any depth. An OU that does not exist is an error naming it, never an
/// empty selection.
pub(crate) async fn accounts_in_units(
    config: &AccountConfig,
    ous: &[String],
) -> Result<BTreeSet<String>> {
    let client = config.organizations();
    let endpoint = config.endpoint();
    let mut accounts = BTreeSet::new();
    let mut pending: Vec<String> = ous.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(parent) = pending.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        let mut pages = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| {
                unit_error(
                    "organizations:ListAccountsForParent",
                    &endpoint,
                    &parent,
                    err,
                )
            })?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter_map(|a| a.id().map(String::from)),
            );
        }
        let mut pages = client
            .list_children()
            .parent_id(&parent)
            .child_type(aws_sdk_organizations::types::ChildType::OrganizationalUnit)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|err| unit_error("organizations:ListChildren", &endpoint, &parent, err))?;
            pending.extend(
                page.children()
                    .iter()
                    .filter_map(|c| c.id().map(String::from)),
            );
        }
    }
    Ok(accounts)
}

/// A failed call about organizational unit `unit`: one that is not in the Organization
/// is named as such, anything else is classified as usual.
fn unit_error<E>(
    action: &'static str,
    endpoint: &str,
    unit: &str,
    err: aws_sdk_organizations::error::SdkError<
        E,
        aws_sdk_organizations::config::http::HttpResponse,
    >,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if err.code() == Some("ParentNotFoundException") {
        return Error::Aws {
            action,
            code: "ParentNotFoundException".to_string(),
            message: format!("organizational unit {unit} is not in the caller's Organization"),
        };
    }
    classify(action, endpoint, err)
}

/// True for an id `--ou` accepts: an organizational unit (`ou-` then the root's part
/// and the OU's own) or a root (`r-`), in the letters and digits Organizations uses.
pub(crate) fn is_unit_id(id: &str) -> bool {
    let part = |text: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        return matches!(rest.split_once('-'), Some((root, own)) if part(root, 4..=32) && part(own, 8..=32));
    }
    id.strip_prefix("r-").is_some_and(|root| part(root, 4..=32))
}

/// Whether `--accounts` and `--exclude-accounts` let an account through. Pure.
pub(crate) fn selected(account_id: &str, only: &[String], except: &[String]) -> bool {
    (only.is_empty() || only.iter().any(|id| id == account_id))
        && !except.iter().any(|id| id == account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ids_are_ous_or_roots() {
        assert!(is_unit_id("ou-ab12-cdef3456"));
        assert!(is_unit_id("r-ab12"));
        assert!(!is_unit_id("ou-ab12"));
        assert!(!is_unit_id("ou-AB12-cdef3456"));
        assert!(!is_unit_id("ou-ab12-cdef"));
        assert!(!is_unit_id("123456789012"));
        assert!(!is_unit_id("ou-ab12-cdef3456; rm"));
    }

    #[test]
    fn filters_include_then_exclude() {
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(selected("111111111111", &[], &[]));
        assert!(selected("111111111111", &ids(&["111111111111"]), &[]));
        assert!(!selected("222222222222", &ids(&["111111111111"]), &[]));
        assert!(!selected("111111111111", &[], &ids(&["111111111111"])));
        assert!(!selected(
            "111111111111",
            &ids(&["111111111111"]),
            &ids(&["111111111111"])
        ));
    }
}
