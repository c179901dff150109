//! Reaching and guarding the accounts a change run acts in, the one way apply and
//! rollback both do it: nobody to confirm is refused first, then every target's
//! account is reached (through the Organization's role when it is not the caller's)
//! and its caller checked against the file's account, all before the first change.

use std::path::Path;

use super::RunOptions;
use super::reporter::Reporter;
use crate::aws::{Clients, ConnectOptions};
use crate::error::{Error, Result};
use crate::facts::Caller;
use crate::journal::Mode;

/// Refuse before any change when confirmation is needed and nobody can give it.
fn require_confirmation_channel(
    options: &RunOptions,
    action: Mode,
    reporter: &dyn Reporter,
) -> Result<()> {
    if !options.yes && !options.dry_run && !reporter.can_ask() {
        return Err(Error::NeedsConfirmation {
            action: action.command(),
        });
    }
    Ok(())
}

/// Where one run acts: the file it replays, and the account and partition that file
/// names.
pub(crate) struct RunTarget<'a> {
    pub source: &'a Path,
    pub account_id: &'a str,
    pub partition: &'a str,
}

/// The one way apply and rollback reach their accounts: refuse first when nobody can
/// confirm, then load the configuration, find the caller, and reach every target's
/// account (through `org_role`, in the target's own partition, when it is not the
/// caller's) and guard it, every one before the first change. Clients and caller per
/// target, in order.
pub(crate) async fn reach_and_guard(
    connect: &ConnectOptions,
    mode: Mode,
    targets: &[RunTarget<'_>],
    org_role: Option<&str>,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<(Clients, Caller)>> {
    require_confirmation_channel(options, mode, reporter)?;
    let config = crate::aws::load_config(connect).await?;
    let own_clients = Clients::new(&config);
    let own_caller = crate::aws::iam::caller(&own_clients).await?;
    // How the session shows in CloudTrail.
    let session = match mode {
        Mode::Apply => "keytrim-apply",
        Mode::Rollback => "keytrim-rollback",
    };
    let mut reached = Vec::with_capacity(targets.len());
    for target in targets {
        let (clients, caller) = match org_role {
            Some(role) if own_caller.account_id != target.account_id => {
                let arn = crate::aws::role_arn(target.partition, target.account_id, role);
                let assumed = Clients::new(&crate::aws::assume_role(&config, &arn, session).await?);
                let caller = crate::aws::iam::caller(&assumed).await?;
                (assumed, caller)
            }
            _ => (own_clients.clone(), own_caller.clone()),
        };
        guard_account(&caller, target.account_id, target.source)?;
        reached.push((clients, caller));
    }
    Ok(reached)
}

/// The caller, refusing unless it is in `account_id`.
fn guard_account(caller: &Caller, account_id: &str, path: &Path) -> Result<()> {
    if caller.account_id != account_id {
        return Err(Error::WrongAccount {
            path: path.display().to_string(),
            expected: account_id.to_string(),
            actual: caller.account_id.clone(),
            caller_arn: caller.arn.clone(),
        });
    }
    Ok(())
}
