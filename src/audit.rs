//! The audit command: one account into one plan, or many accounts (several profiles, or
//! every active account of an Organization through a role) into one plan each, with
//! failures contained to their account.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::{SubsecRound, Utc};

use crate::accounts::{self, Account};
use crate::aws::{self, Clients, ConnectOptions};
use crate::bounded;
use crate::error::{Error, Result, exit};
use crate::exemptions::Exemptions;
use crate::inventory::{self, Scope};
use crate::plan::model::{self, PlanInputs};
use crate::plan::{Plan, render};
use crate::rule::Policy;

/// Everything an audit of one account needs besides the account.
#[derive(Debug)]
pub struct AuditInputs {
    pub policy: Policy,
    pub scope: Scope,
    pub exemptions: Exemptions,
}

/// Audit the account `clients` reach: inventory, then the rule, into a plan.
pub async fn audit_account(clients: &Clients, inputs: &AuditInputs) -> Result<Plan> {
    let now = Utc::now().trunc_subsecs(0);
    let inventory = inventory::take(clients, &inputs.scope).await?;
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
        },
    ))
}

/// Where one account's credentials come from.
#[derive(Debug, Clone)]
pub enum Target {
    /// A named profile.
    Profile(String),
    /// An Organization's account: the caller's own (no role), or through a role.
    Member {
        account: Account,
        role_arn: Option<String>,
    },
}

impl Target {
    fn label(&self) -> String {
        match self {
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
pub enum AccountOutcome {
    Audited(Box<Plan>),
    /// Left out by `--accounts` / `--exclude-accounts` (profiles are only known by
    /// account once they answer).
    Skipped(String),
    Failed(Error),
}

async fn audit_target(
    target: &Target,
    base: &ConnectOptions,
    organization_config: Option<&SdkConfig>,
    inputs: &AuditInputs,
    only: &[String],
    except: &[String],
) -> AccountOutcome {
    let config = match target {
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
        Ok(config) => Clients::from_sdk_config(&config),
        Err(err) => return AccountOutcome::Failed(err),
    };
    if let Target::Profile(_) = target {
        match inventory::caller(&clients).await {
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
                return AccountOutcome::Failed(Error::Aws {
                    action: "sts:GetCallerIdentity",
                    code: "WrongAccount".to_string(),
                    message: format!(
                        "the role answered for account {}, not {}",
                        plan.account_id, account.id
                    ),
                });
            }
            AccountOutcome::Audited(Box::new(plan))
        }
        Err(err) => AccountOutcome::Failed(err),
    }
}

/// Multi-account options.
#[derive(Debug, Clone)]
pub struct ManyOptions {
    pub out_dir: PathBuf,
    pub only: Vec<String>,
    pub except: Vec<String>,
    /// `--ou`: only accounts in these organizational units (and those nested in them).
    pub units: Vec<String>,
    pub account_concurrency: usize,
    pub quiet: bool,
}

/// Audit several profiles' accounts, one plan each.
pub async fn audit_profiles(
    profiles: &[String],
    base: &ConnectOptions,
    inputs: AuditInputs,
    options: &ManyOptions,
) -> Result<u8> {
    let targets = profiles.iter().cloned().map(Target::Profile).collect();
    let title = format!("keytrim audit of {} profiles", profiles.len());
    run_many(targets, base, None, inputs, options, title).await
}

/// Audit every selected ACTIVE account of the Organization, assuming `role_name` in
/// each but the caller's own.
pub async fn audit_organization(
    role_name: &str,
    base: &ConnectOptions,
    inputs: AuditInputs,
    options: &ManyOptions,
) -> Result<u8> {
    let config = aws::load_config(base).await?;
    let caller = inventory::caller(&Clients::from_sdk_config(&config)).await?;
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
        return Err(Error::NoAccountSelected);
    }
    let title = format!(
        "keytrim audit of {} organization accounts (role {role_name})",
        targets.len()
    );
    run_many(targets, base, Some(config), inputs, options, title).await
}

async fn run_many(
    targets: Vec<Target>,
    base: &ConnectOptions,
    organization_config: Option<SdkConfig>,
    inputs: AuditInputs,
    options: &ManyOptions,
    title: String,
) -> Result<u8> {
    let inputs = Arc::new(inputs);
    let every_account = Arc::clone(&inputs);
    let organization_config = organization_config.map(Arc::new);
    let (base, only, except) = (base.clone(), options.only.clone(), options.except.clone());
    let results = bounded::map(targets, options.account_concurrency, move |target| {
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
    })
    .await;

    // Plans are written once every audit has ended: one file per account, and two
    // profiles of one account do not overwrite each other.
    let mut lines = Vec::new();
    let mut written: Vec<String> = Vec::new();
    let (mut failed, mut not_compliant) = (false, false);
    for (target, outcome) in results {
        let line = match outcome {
            AccountOutcome::Audited(plan) if written.contains(&plan.account_id) => {
                failed = true;
                format!(
                    "FAILED: account {} was already audited through another target",
                    plan.account_id
                )
            }
            AccountOutcome::Audited(plan) => {
                let path = plan_path(&options.out_dir, &plan.account_id);
                match crate::app::write_atomically(&path, &render::to_yaml(&plan)) {
                    Ok(()) => {
                        written.push(plan.account_id.clone());
                        let s = &plan.summary;
                        let line = if s.is_compliant() {
                            format!(
                                "account {}: compliant -> {}",
                                plan.account_id,
                                path.display()
                            )
                        } else {
                            not_compliant = true;
                            format!(
                                "account {}: not compliant (deactivate {}, hold {}, rotate {}, exempt {}) -> {}",
                                plan.account_id,
                                s.deactivate,
                                s.hold,
                                s.rotate,
                                s.exempt,
                                path.display()
                            )
                        };
                        line + &expiring_note(&plan)
                    }
                    Err(err) => {
                        failed = true;
                        format!("FAILED: {err}")
                    }
                }
            }
            AccountOutcome::Skipped(reason) => format!("skipped: {reason}"),
            AccountOutcome::Failed(err) => {
                failed = true;
                format!("FAILED: {err}")
            }
        };
        lines.push(format!("  {}: {line}", target.label()));
    }
    warn_unmatched_exemptions(&every_account);
    if !options.quiet || failed {
        eprintln!("{title}");
        for line in &lines {
            eprintln!("{line}");
        }
    }
    Ok(if failed {
        exit::ERROR
    } else if not_compliant {
        exit::NOT_COMPLIANT
    } else {
        exit::OK
    })
}

/// Warn about exemption entries that matched none of the users scanned (in any
/// account): most likely a misspelt name, leaving the user it meant unprotected. Not
/// when `--user` narrowed the audit, where most entries are expected to match nobody.
pub fn warn_unmatched_exemptions(inputs: &AuditInputs) {
    if !inputs.scope.users.is_empty() {
        return;
    }
    for pattern in inputs.exemptions.unmatched() {
        tracing::warn!(
            "exemptions entry `{}` matches none of the users scanned",
            crate::term::escape(pattern)
        );
    }
}

/// `; exemptions ending within 14 days: NAME (last day DATE), ...`, or nothing.
pub fn expiring_note(plan: &Plan) -> String {
    let expiring = model::exemptions_expiring(plan, model::EXPIRING_WITHIN_DAYS);
    if expiring.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = expiring
        .iter()
        .map(|(name, until)| format!("{name} (last day {until})"))
        .collect();
    format!(
        "; exemptions ending within {} days: {}",
        model::EXPIRING_WITHIN_DAYS,
        listed.join(", ")
    )
}

/// `<dir>/<account-id>.yaml`
pub fn plan_path(dir: &Path, account_id: &str) -> PathBuf {
    dir.join(format!("{account_id}.yaml"))
}
