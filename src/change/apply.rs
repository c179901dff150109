//! Apply: replay reviewed plans. Every plan is read and checked, and every plan's
//! account reached and guarded, before the first change; then each plan is one change
//! run whose work is the plan's deactivations (holds, rotations and exemptions are left
//! alone and journaled as such). Every plan is asked about before any is carried out,
//! so prompts come one at a time; then the plans run side by side, one journal each.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use crate::aws::ConnectOptions;
use crate::change::reporter::Reporter;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal::{self, Mode};
use crate::plan::{self, Plan};
use crate::rule::Decision;

use super::rotate::{self, Unfinished};

use super::execute::{Interrupt, MaxChanges, Outcome, UserChange};
use super::{
    ChangeRun, ConfirmedRun, JournalTarget, RunMode, RunOptions, RunSetup, RunTarget,
    reach_and_guard,
};

/// A plan with a rotation hand-off journals beside itself: the next apply looks for an
/// interrupted rotation in the plan's directory, so a journal elsewhere would hide one.
fn journal_beside(
    path: &Path,
    plan: &Plan,
    journal_path: Option<&Path>,
    unfinished: &[Unfinished],
) -> Result<()> {
    let Some(journal) = journal_path else {
        return Ok(());
    };
    let rotating = plan.users.iter().find(|user| user.rotate_to.is_some());
    let Some(user) = rotating.map(|user| user.user_name.as_str()).or_else(|| {
        unfinished
            .first()
            .map(|rotation| rotation.user_name.as_str())
    }) else {
        return Ok(());
    };
    let parent = |p: &Path| {
        let dir = p.parent().unwrap_or(Path::new(""));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
    };
    let searched = journal
        .file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with(".journal.jsonl"));
    if searched && parent(journal) == parent(path) {
        return Ok(());
    }
    Err(crate::error::Error::Usage(format!(
        "{}: user `{user}` is to rotate into a secret (or has an unfinished rotation), so the journal must be a `.journal.jsonl` file in the plan's directory, where the next apply looks for an interrupted rotation: drop --journal, or name such a file beside the plan",
        crate::safe_text::escape(&path.display().to_string()),
    )))
}

/// `keytrim apply PLAN...`
pub(crate) async fn apply(
    connect: &ConnectOptions,
    plans: &[PathBuf],
    journal_path: Option<&Path>,
    exemptions: Option<&Path>,
    org_role: Option<&str>,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<ExitStatus> {
    // Every plan is read and checked before anything else.
    let loaded: Vec<(PathBuf, Plan, String, Vec<Unfinished>)> = plans
        .iter()
        .map(|path| {
            let (mut plan, text) = plan::load::load_with_text(path)?;
            // Rotations earlier applies began and did not end, from the journals
            // beside the plan: taken up first.
            let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
            let unfinished =
                rotate::unfinished_in(dir.unwrap_or(Path::new(".")), &plan.account_id)?;
            journal_beside(path, &plan, journal_path, &unfinished)?;
            if exemptions.is_some() {
                plan::load::read_exemptions(&mut plan, exemptions)?;
            }
            // The exemptions file could not be checked as the audit read it: apply goes
            // on (exemption tags are read live), but says so. Both strings may come
            // from the plan.
            if let Some(note) = &plan.exempt_by_file.note {
                tracing::warn!(
                    "{}: {}",
                    crate::safe_text::escape(&path.display().to_string()),
                    crate::safe_text::escape(note)
                );
            }
            let digest = crate::digest::sha256_hex(text.as_bytes());
            Ok((path.clone(), plan, digest, unfinished))
        })
        .collect::<Result<_>>()?;
    let targets: Vec<RunTarget<'_>> = loaded
        .iter()
        .map(|(path, plan, _, _)| RunTarget {
            source: path,
            account_id: &plan.account_id,
            partition: &plan.partition,
        })
        .collect();
    let reached =
        reach_and_guard(connect, Mode::Apply, &targets, org_role, options, reporter).await?;
    let ready = loaded.into_iter().zip(reached).map(
        |((path, plan, digest, unfinished), (clients, caller))| {
            (path, plan, digest, unfinished, clients, caller)
        },
    );
    let interrupt = Interrupt::default();
    // One budget for every plan of the run.
    let budget = options
        .max_changes
        .map(|max| Arc::new(MaxChanges::new(max)));
    // Every plan's journal is started before the first prompt, so that a plan that
    // cannot start stops the command before anyone is asked anything.
    let mut started = Vec::new();
    for (path, plan, digest, unfinished, clients, caller) in ready {
        // A named journal is never overwritten; a default name gets a number if taken.
        let journal = match journal_path {
            Some(named) => JournalTarget::Named(named.to_path_buf()),
            None => JournalTarget::Numbered(journal::default_path(&path, Utc::now())),
        };
        let run = ChangeRun::start(RunSetup {
            mode: RunMode::new(Mode::Apply, options.dry_run),
            clients,
            caller,
            account_id: plan.account_id.clone(),
            source: path,
            source_sha256: digest,
            journal,
            interrupt: interrupt.clone(),
            budget: budget.clone(),
            options,
            reporter,
        })?;
        started.push((run, (plan, unfinished)));
    }
    // Every plan is asked about, one at a time; then the plans run side by side.
    super::confirm_and_carry_out(
        started,
        |run, (plan, unfinished): (Plan, Vec<Unfinished>)| confirm_plan(run, &plan, unfinished),
        options,
        reporter,
    )
    .await
}

/// One plan's run, asked about: its deactivations are the work, every other decision
/// is left alone; the summary lists users in the plan's order.
fn confirm_plan<'r>(
    mut run: ChangeRun<'r>,
    plan: &Plan,
    mut unfinished: Vec<Unfinished>,
) -> Result<ConfirmedRun<'r>> {
    let mut changes = Vec::new();
    let today = Utc::now().date_naive();
    for user in &plan.users {
        // An earlier apply's rotation of the user comes first, whatever the plan
        // says: it may have left a key that no secret holds.
        if let Some(at) = unfinished
            .iter()
            .position(|rotation| rotation.user_name == user.user_name)
        {
            changes.push(UserChange::Resume {
                user_arn: user.user_arn.clone(),
                unfinished: Box::new(unfinished.swap_remove(at)),
            });
            continue;
        }
        // The exemptions file exempts the user, whatever the plan says: an edit that
        // dropped the exemption does not reach IAM.
        if let Some(why) = plan.exempt_by_file.exempts(&user.user_name, today)
            && user.decision != Decision::Exempt
        {
            let reason = format!(
                "exempt by the exemptions file, though the plan says {}: {why}",
                user.decision.as_str()
            );
            let left_alone = Outcome::Skipped {
                reason: reason.clone(),
            };
            run.leave_alone(&user.user_name, reason, left_alone)?;
            continue;
        }
        let left_alone = match user.decision {
            Decision::Deactivate => {
                changes.push(UserChange::Deactivate {
                    user: Box::new(user.clone()),
                    generated_at: plan.generated_at,
                    policy: crate::plan::standing::policy_of(plan),
                });
                continue;
            }
            Decision::Rotate if user.rotate_to.is_some() => {
                changes.push(UserChange::HandOff {
                    user: Box::new(user.clone()),
                    policy: crate::plan::standing::policy_of(plan),
                });
                continue;
            }
            Decision::Hold => Outcome::Held {
                reason: user.reason.clone(),
            },
            other => Outcome::Skipped {
                reason: format!("{}: {}", other.as_str(), user.reason),
            },
        };
        let reason = format!("decision {}: {}", user.decision.as_str(), user.reason);
        run.leave_alone(&user.user_name, reason, left_alone)?;
    }
    for rotation in &unfinished {
        tracing::warn!(
            "user {} has an unfinished rotation into {}, and is not in the plan: audit again, then apply",
            rotation.user_name,
            rotation.rotation.secret_arn
        );
    }
    let order = plan
        .users
        .iter()
        .map(|user| user.user_name.clone())
        .collect();
    run.confirm(changes, order)
}
