//! `keytrim audit`: one account, several profiles' accounts, or an Organization's, each
//! into a plan; the summaries on stderr.

use std::path::Path;

use crate::audit::collect::Scope;
use crate::audit::{self, AuditInputs, ManyOptions};
use crate::aws::concurrency::Concurrency;
use crate::error::{Error, Result};
use crate::exemptions::Exemptions;
use crate::exit::ExitStatus;
use crate::files;
use crate::plan::{Plan, Source, render};
use crate::progress::NoProgress;
use crate::rule::{Decision, Policy};
use crate::shell::cli::{AuditArgs, SourceArg};
use crate::shell::output;

use super::Settings;

/// What every account's audit needs, from the arguments. Every local input (the
/// exemptions file) is read and checked here, before the first AWS call.
fn audit_inputs(settings: &Settings, args: &AuditArgs) -> Result<AuditInputs> {
    let (exemptions, exemptions_file) = match &args.exemptions {
        Some(path) => {
            let (exemptions, sha256) = Exemptions::load_with_sha256(path)?;
            let file = crate::plan::model::ExemptionsFile {
                path: path.display().to_string(),
                sha256,
            };
            (exemptions, Some(file))
        }
        None => (Exemptions::default(), None),
    };
    let source = match args.source {
        SourceArg::Live => Source::Live,
        SourceArg::CredentialReport => Source::CredentialReport,
    };
    Ok(AuditInputs {
        policy: Policy {
            max_key_age_days: args.max_key_age,
            in_use_window_days: args.in_use_window,
            in_use_guard: !args.no_in_use_guard,
            require_fresh_key: args.require_fresh_key,
            unused_days: args.unused_days,
            rotation: args.rotation,
        },
        scope: Scope {
            users: args.users.clone(),
            source,
            concurrency: audit_concurrency(args),
            // One bar for a single account; accounts run in parallel, so none for many.
            progress: if settings.profiles.len() > 1 || args.org_role.is_some() {
                std::sync::Arc::new(NoProgress)
            } else {
                crate::shell::progress::bar("users", settings.quiet)
            },
        },
        exemptions,
        exemptions_file,
    })
}

/// The audit's `--concurrency` and `--max-in-flight`, as one value.
fn audit_concurrency(args: &AuditArgs) -> Concurrency {
    Concurrency::new(args.concurrency, args.max_in_flight)
}

pub(super) async fn run(settings: &Settings, args: AuditArgs) -> Result<ExitStatus> {
    let inputs = audit_inputs(settings, &args)?;
    let connect = settings.connect_with(audit_concurrency(&args));
    let many = ManyOptions {
        only: args.accounts.clone(),
        except: args.exclude_accounts.clone(),
        units: args.ou.clone(),
        account_concurrency: args.account_concurrency as usize,
    };
    // `check_usage` has refused the combinations that make no sense.
    let selection = if let Some(role) = &args.org_role {
        audit::Selection::organization(role, &connect, &many).await?
    } else if settings.profiles.len() > 1 {
        audit::Selection::profiles(&settings.profiles)
    } else {
        audit::Selection::current_account()
    };
    let single = matches!(selection.targets.as_slice(), [audit::Target::Current]);
    let title = selection.title.clone();
    let inputs = std::sync::Arc::new(inputs);
    let results =
        audit::audit_targets(selection, &connect, std::sync::Arc::clone(&inputs), &many).await;
    // Only users actually scanned can leave an entry unmatched: after a failed audit
    // every entry would look like a typo.
    if results
        .iter()
        .any(|(_, outcome)| matches!(outcome, audit::AccountOutcome::Audited(_)))
    {
        audit::warn_unmatched_exemptions(&inputs);
    }
    if single {
        let Some((_, outcome)) = results.into_iter().next() else {
            unreachable!("one target gives one result");
        };
        return match outcome {
            audit::AccountOutcome::Audited(plan) => write_one_plan(settings, &args, &plan),
            audit::AccountOutcome::Failed(err) => Err(err),
            audit::AccountOutcome::Skipped(reason) => Err(Error::Usage(reason)),
        };
    }
    // Profiles are known by account only once they answer: a filter that leaves none
    // of them is found here, and is an error as it is for an Organization.
    let filters = !args.accounts.is_empty() || !args.exclude_accounts.is_empty();
    if filters
        && results
            .iter()
            .all(|(_, outcome)| matches!(outcome, audit::AccountOutcome::Skipped(_)))
    {
        return Err(Error::NoAccountSelected {
            by: "--accounts and --exclude-accounts",
        });
    }
    let results = audit::write_plans(results, &args.out_dir);
    let status = audit::exit_status(&results);
    report_accounts(settings, &title, &results, status);
    Ok(status)
}

/// A several-account audit's summary: a line per account (always when one failed),
/// and a line per user IAM refused to show (always).
fn report_accounts(
    settings: &Settings,
    title: &str,
    results: &[(audit::Target, audit::AccountResult)],
    status: ExitStatus,
) {
    if !settings.quiet || status == ExitStatus::Error {
        output::line(title);
        for (target, result) in results {
            // An error may quote IAM (a tag's value): nothing hidden reaches the terminal.
            output::escaped_line(&format!("  {}: {}", target.label(), account_line(result)));
        }
    }
    for (_, result) in results {
        if let audit::AccountResult::Written { plan, .. } = result {
            warn_unreadable(plan);
        }
    }
}

/// One error line per user IAM refused to show, even with `-q`: the plan covers every
/// user but these.
fn warn_unreadable(plan: &Plan) {
    for user in plan
        .users
        .iter()
        .filter(|u| u.decision == Decision::Unreadable)
    {
        let line = format!(
            "IAM user `{}` of account {} could not be read: {}; the plan covers every other user, and apply never acts on this one",
            user.user_name,
            plan.account_id,
            user.error.as_deref().unwrap_or_default()
        );
        output::error_line(&line);
    }
}

/// "12 kept keys are over 90 days: rotate them (CIS 1.14)", when some are.
fn rotation_note(plan: &Plan) -> Option<String> {
    match plan.summary.rotation_due {
        0 => None,
        1 => Some(format!(
            "1 kept key is over {} days: rotate it (CIS 1.14)",
            plan.policy.max_key_age_days
        )),
        due => Some(format!(
            "{due} kept keys are over {} days: rotate them (CIS 1.14)",
            plan.policy.max_key_age_days
        )),
    }
}

/// Under `--rotation`: how many users are to rotate into their secrets, and how many
/// asked for it without being bound (their reasons say why), when there are some.
fn hand_off_note(plan: &Plan) -> Option<String> {
    let bound = plan.users.iter().filter(|u| u.rotate_to.is_some()).count();
    let unbound = plan
        .users
        .iter()
        .filter(|u| u.rotate_to.is_none() && render::rotation_alone(u))
        .count();
    let mut parts = Vec::new();
    if bound > 0 {
        parts.push(format!(
            "{bound} bound to a secret both ways, to rotate into it (apply creates each new key and hands it off; the old key stays Active until it is idle)"
        ));
    }
    if unbound > 0 {
        parts.push(format!(
            "{unbound} asking for the hand-off without a binding keytrim accepts (each user's reason says why)"
        ));
    }
    (!parts.is_empty()).then(|| format!("rotation hand-off: {}", parts.join("; ")))
}

/// One account's line in a several-account audit's summary.
fn account_line(result: &audit::AccountResult) -> String {
    match result {
        audit::AccountResult::Duplicate { account_id } => {
            format!("FAILED: account {account_id} was already audited through another target")
        }
        audit::AccountResult::Written { plan, path } => {
            let s = &plan.summary;
            let line = if s.is_compliant() {
                format!(
                    "account {}: compliant -> {}",
                    plan.account_id,
                    path.display()
                )
            } else {
                format!(
                    "account {}: not compliant (deactivate {}, hold {}, rotate {}, exempt {}{}) -> {}",
                    plan.account_id,
                    s.deactivate,
                    s.hold,
                    s.rotate,
                    s.exempt,
                    render::unreadable_count(s),
                    path.display()
                )
            };
            let line = [rotation_note(plan), hand_off_note(plan)]
                .into_iter()
                .flatten()
                .fold(line, |line, note| format!("{line}; {note}"));
            match audit::expiring_note(plan) {
                Some(note) => format!("{line}; {note}"),
                None => line,
            }
        }
        audit::AccountResult::Skipped(reason) => format!("skipped: {reason}"),
        audit::AccountResult::Failed(err) => format!("FAILED: {err}"),
    }
}

/// The one account's plan: to `--out` (a path, or `-` for stdout) or its default path,
/// then the summary on stderr.
fn write_one_plan(settings: &Settings, args: &AuditArgs, plan: &Plan) -> Result<ExitStatus> {
    let yaml = render::to_yaml(plan);
    let destination = match &args.out {
        Some(path) if path.as_os_str() == "-" => {
            // A plan that did not reach its reader is no success, whatever it says.
            output::stdout(&yaml).map_err(|err| match err {
                Error::StdoutClosed => Error::PlanNotDelivered,
                other => other,
            })?;
            "standard output".to_string()
        }
        other => {
            let path = other
                .clone()
                .unwrap_or_else(|| audit::plan_path(&args.out_dir, &plan.account_id));
            files::write_atomically(&path, &yaml)?;
            path.display().to_string()
        }
    };
    warn_unreadable(plan);
    if !settings.quiet {
        let s = &plan.summary;
        output::line(&format!(
            "keytrim audit of account {}: {} users scanned; compliant {}, deactivate {}, hold {}, rotate {}, exempt {}{}",
            plan.account_id,
            s.users_scanned,
            s.compliant,
            s.deactivate,
            s.hold,
            s.rotate,
            s.exempt,
            render::unreadable_count(s)
        ));
        if let Some(rotation) = rotation_note(plan) {
            output::line(&rotation);
        }
        if let Some(hand_off) = hand_off_note(plan) {
            output::line(&hand_off);
        }
        if let Some(expiring) = audit::expiring_note(plan) {
            output::line(&expiring);
        }
        output::line(&format!("plan written to {destination}"));
        if !s.is_compliant() && args.out.as_deref() != Some(Path::new("-")) {
            output::line(&format!(
                "review it with `keytrim show {destination}`, then apply it with `keytrim apply {destination}`"
            ));
        }
    }
    Ok(audit::plan_exit_status(plan))
}
