//! Which accounts a multi-account run covers: the ACTIVE accounts of an AWS
//! Organization (organizations:ListAccounts), narrowed by `--accounts` and
//! `--exclude-accounts`.

use aws_config::SdkConfig;
use aws_sdk_organizations::error::ProvideErrorMetadata;

use crate::aws::classify;
use crate::error::{Error, Result};

/// One member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
}

/// Every ACTIVE account of the caller's Organization, following every page.
pub async fn organization_accounts(config: &SdkConfig) -> Result<Vec<Account>> {
    let client = aws_sdk_organizations::Client::new(config);
    let endpoint = config
        .endpoint_url()
        .unwrap_or("the default AWS endpoint")
        .to_string();
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

/// Whether `--accounts` and `--exclude-accounts` let an account through. Pure.
pub fn selected(account_id: &str, only: &[String], except: &[String]) -> bool {
    (only.is_empty() || only.iter().any(|id| id == account_id))
        && !except.iter().any(|id| id == account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

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
