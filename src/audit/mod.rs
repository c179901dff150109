//! The audit command: one account into one plan, or many accounts (several profiles, or
//! every active account of an Organization through a role) into one plan each, with
//! failures contained to their account. `collect` reads one account's users and keys
//! (through `aws::iam`, or `aws::credential_report` to find candidates faster).

pub(crate) mod binding;
pub(crate) mod collect;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{SubsecRound, Utc};

use crate::aws::accounts::{self, Account};
use crate::aws::iam;
use crate::aws::{self, Clients, ConnectOptions};
use crate::bounded;
use crate::error::{Error, Result};
use crate::exemptions::Exemptions;
use crate::exit::ExitStatus;
use crate::files;
use crate::plan::model::{self, PlanInputs};
use crate::plan::{Plan, render};
use crate::rule::Policy;

use collect::Scope;

/// Everything an audit of one account needs besides the account.
#[derive(Debug)]
pub(crate) struct AuditInputs {
    pub policy: Policy,
    pub scope: Scope,
    pub exemptions: Exemptions,
    /// The exemptions file's path and SHA-256, recorded in each plan.
    pub exemptions_file: Option<model::ExemptionsFile>,
}

/// Audit the account `clients` reach: inventory, then the rule, into a plan.
pub(crate) async fn audit_account(clients: &Clients, inputs: &AuditInputs) -> Result<Plan> {
    let now = Utc::now().trunc_subsecs(0);
    let inventory = collect::account(clients, &inputs.scope, &inputs.policy, now).await?;
    inputs
        .exemptions
        .note_scanned(inventory.scanned_names.iter().map(String::as_str));
    Ok(model::build(
        &inventory,
        &PlanInputs {
            policy: inputs.policy,
            source: inputs.scope.source,
            now,
            exemptions: &inputs.exemptions,
            exemptions_file: inputs.exemptions_file.clone(),
        },
    ))
}

/// Where one account's credentials come from.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The account the default credentials reach (no `--profile` list, no role).
    Current,
    /// A named profile.
    Profile(String),
    /// An Organization's account: the caller's own (no role), or through a role.
    Member {
        account: Account,
        role_arn: Option<String>,
    },
}

impl Target {
    pub(crate) fn label(&self) -> String {
        match self {
            Target::Current => "the caller's account".to_string(),
            Target::Profile(name) => format!("profile {name}"),
            Target::Member { account, role_arn } => match role_arn {
                Some(_) => format!("{} ({})", account.id, account.name),
                None => format!("{} ({}, the caller's own)", account.id, account.name),
            },
        }
    }
}

/// How one account's audit ended.
#[derive(Debug)]
pub(crate) enum AccountOutcome {
    Audited(Box<Plan>),
    /// Left out by `--accounts` / `--exclude-accounts` (profiles are only known by
    /// account once they answer).
    Skipped(String),
    Failed(Error),
}

async fn audit_target(
    target: &Target,
    base: &ConnectOptions,
    organization_config: Option<&aws::AccountConfig>,
    inputs: &AuditInputs,
    only: &[String],
    except: &[String],
) -> AccountOutcome {
    let config = match target {
        Target::Current => aws::load_config(base).await,
        Target::Profile(name) => {
            let options = ConnectOptions {
                profile: Some(name.clone()),
                ..base.clone()
            };
            aws::load_config(&options).await
        }
        Target::Member { role_arn, .. } => {
            let base_config = organization_config.expect("members come with the caller's config");
            match role_arn {
                Some(arn) => aws::assume_role(base_config, arn, "keytrim-audit").await,
                None => Ok(base_config.clone()),
            }
        }
    };
    let clients = match config {
        Ok(config) => Clients::new(&config),
        Err(err) => return AccountOutcome::Failed(err),
    };
    if let Target::Profile(_) = target {
        match iam::caller(&clients).await {
            Ok(caller) if !accounts::selected(&caller.account_id, only, except) => {
                return AccountOutcome::Skipped(format!(
                    "account {} is filtered out",
                    caller.account_id
                ));
            }
            Ok(_) => {}
            Err(err) => return AccountOutcome::Failed(err),
        }
    }
    match audit_account(&clients, inputs).await {
        Ok(plan) => {
            if let Target::Member { account, .. } = target
                && plan.account_id != account.id
            {
                return AccountOutcome::Failed(Error::WrongMemberAccount {
                    expected: account.id.clone(),
                    actual: plan.account_id.clone(),
                });
            }
            AccountOutcome::Audited(Box::new(plan))
        }
        Err(err) => AccountOutcome::Failed(err),
    }
}

/// How an audit of several accounts runs.
#[derive(Debug, Clone)]
pub(crate) struct ManyOptions {
    pub only: Vec<String>,
    pub except: Vec<String>,
    /// `--ou`: only accounts in these organizational units (and those nested in them).
    pub units: Vec<String>,
    pub account_concurrency: usize,
}

/// The accounts an audit covers and how each is reached. One account is the
/// one-target case of the same path.
#[derive(Debug)]
pub(crate) struct Selection {
    pub targets: Vec<Target>,
    /// An Organization's: the caller's configuration, for assuming roles.
    organization_config: Option<aws::AccountConfig>,
    /// What the summary is headed with, for several accounts.
    pub title: String,
}

impl Selection {
    /// The account the default credentials reach.
    pub(crate) fn current_account() -> Selection {
        Selection {
            targets: vec![Target::Current],
            organization_config: None,
            title: "keytrim audit of the caller's account".to_string(),
        }
    }

    /// Each profile's account.
    pub(crate) fn profiles(profiles: &[String]) -> Selection {
        Selection {
            targets: profiles.iter().cloned().map(Target::Profile).collect(),
            organization_config: None,
            title: format!("keytrim audit of {} profiles", profiles.len()),
        }
    }

    /// Every selected ACTIVE account of the Organization, through `role_name` in each
    /// but the caller's own.
    pub(crate) async fn organization(
        role_name: &str,
        base: &ConnectOptions,
        options: &ManyOptions,
    ) -> Result<Selection> {
        let config = aws::load_config(base).await?;
        let caller = iam::caller(&Clients::new(&config)).await?;
        let members = accounts::organization_accounts(&config).await?;
        let in_units = if options.units.is_empty() {
            None
        } else {
            Some(accounts::accounts_in_units(&config, &options.units).await?)
        };
        let targets: Vec<Target> = members
            .into_iter()
            .filter(|account| {
                in_units
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&account.id))
            })
            .filter(|account| accounts::selected(&account.id, &options.only, &options.except))
            .map(|account| {
                let role_arn = (account.id != caller.account_id)
                    .then(|| aws::role_arn(caller.partition(), &account.id, role_name));
                Target::Member { account, role_arn }
            })
            .collect();
        // An audit of no account would pass a scheduled check while checking nothing.
        if targets.is_empty() {
            return Err(Error::NoAccountSelected {
                by: "--ou, --accounts and --exclude-accounts",
            });
        }
        let title = format!(
            "keytrim audit of {} organization accounts (role {role_name})",
            targets.len()
        );
        Ok(Selection {
            targets,
            organization_config: Some(config),
            title,
        })
    }
}

/// Audit every account of `selection`, `account_concurrency` at a time; a failure
/// stays in its account. Results come back in the selection's order.
pub(crate) async fn audit_targets(
    selection: Selection,
    base: &ConnectOptions,
    inputs: Arc<AuditInputs>,
    options: &ManyOptions,
) -> Vec<(Target, AccountOutcome)> {
    let organization_config = selection.organization_config.map(Arc::new);
    let (base, only, except) = (base.clone(), options.only.clone(), options.except.clone());
    bounded::map(
        selection.targets,
        options.account_concurrency,
        move |target| {
            let (inputs, organization_config) = (Arc::clone(&inputs), organization_config.clone());
            let (base, only, except) = (base.clone(), only.clone(), except.clone());
            async move {
                let outcome = audit_target(
                    &target,
                    &base,
                    organization_config.as_deref(),
                    &inputs,
                    &only,
                    &except,
                )
                .await;
                (target, outcome)
            }
        },
    )
    .await
}

/// How one account of a several-account audit ended, after its plan was written.
#[derive(Debug)]
pub(crate) enum AccountResult {
    /// The plan is at `path`.
    Written {
        plan: Box<Plan>,
        path: PathBuf,
    },
    /// Another target reached the same account first; its plan was kept.
    Duplicate {
        account_id: String,
    },
    Skipped(String),
    Failed(Error),
}

/// Write each audited plan to `<out_dir>/<account-id>.yaml`, once every audit has
/// ended: one file per account, and two profiles of one account do not overwrite each
/// other.
pub(crate) fn write_plans(
    results: Vec<(Target, AccountOutcome)>,
    out_dir: &Path,
) -> Vec<(Target, AccountResult)> {
    let mut written: Vec<String> = Vec::new();
    results
        .into_iter()
        .map(|(target, outcome)| {
            let result = match outcome {
                AccountOutcome::Audited(plan) if written.contains(&plan.account_id) => {
                    AccountResult::Duplicate {
                        account_id: plan.account_id,
                    }
                }
                AccountOutcome::Audited(plan) => {
                    let path = plan_path(out_dir, &plan.account_id);
                    match files::write_atomically(&path, &render::to_yaml(&plan)) {
                        Ok(()) => {
                            written.push(plan.account_id.clone());
                            AccountResult::Written { plan, path }
                        }
                        Err(err) => AccountResult::Failed(err),
                    }
                }
                AccountOutcome::Skipped(reason) => AccountResult::Skipped(reason),
                AccountOutcome::Failed(err) => AccountResult::Failed(err),
            };
            (target, result)
        })
        .collect()
}

/// The exit status of a several-account audit: an error if any account failed or
/// has users IAM refused to show, else not compliant if any account is, else ok.
pub(crate) fn exit_status(results: &[(Target, AccountResult)]) -> ExitStatus {
    results
        .iter()
        .map(|(_, result)| match result {
            AccountResult::Failed(_) | AccountResult::Duplicate { .. } => ExitStatus::Error,
            AccountResult::Written { plan, .. } => plan_exit_status(plan),
            AccountResult::Skipped(_) => ExitStatus::Ok,
        })
        .max()
        .unwrap_or(ExitStatus::Ok)
}

/// The exit status of an audit that wrote `plan`: an error when IAM refused to show
/// some user (the plan covers everyone else, but the account is not fully audited),
/// not compliant when the plan has work, holds or rotations, else ok.
pub(crate) fn plan_exit_status(plan: &Plan) -> ExitStatus {
    if plan.summary.unreadable > 0 {
        ExitStatus::Error
    } else if plan.summary.is_compliant() {
        ExitStatus::Ok
    } else {
        ExitStatus::NotCompliant
    }
}

/// Warn about exemption entries that matched none of the users scanned (in any
/// account): most likely a misspelt name, leaving the user it meant unprotected. Not
/// when `--user` narrowed the audit, where most entries are expected to match nobody.
pub(crate) fn warn_unmatched_exemptions(inputs: &AuditInputs) {
    if !inputs.scope.users.is_empty() {
        return;
    }
    for pattern in inputs.exemptions.unmatched() {
        tracing::warn!(
            "exemptions entry `{}` matches none of the users scanned",
            crate::safe_text::escape(pattern)
        );
    }
}

/// `exemptions ending within 14 days: NAME (last day DATE), ...`, or None when none ends.
pub(crate) fn expiring_note(plan: &Plan) -> Option<String> {
    let expiring = model::exemptions_expiring(plan, model::EXPIRING_WITHIN_DAYS);
    if expiring.is_empty() {
        return None;
    }
    let listed: Vec<String> = expiring
        .iter()
        .map(|(name, until)| format!("{name} (last day {until})"))
        .collect();
    Some(format!(
        "exemptions ending within {} days: {}",
        model::EXPIRING_WITHIN_DAYS,
        listed.join(", ")
    ))
}

/// `<dir>/<account-id>.yaml`
pub(crate) fn plan_path(dir: &Path, account_id: &str) -> PathBuf {
    dir.join(format!("{account_id}.yaml"))
}
