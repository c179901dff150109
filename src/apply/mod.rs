//! Apply and rollback: load and check the input, guard the account, confirm per user,
//! carry out the changes (see `execute`), and report per user with an exit code.

pub mod drift;
pub mod execute;
pub mod prompt;
pub mod rollback;

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::aws::{self, ConnectOptions};
use crate::error::{Error, Result, exit};
use crate::facts::Caller;
use crate::inventory;
use crate::journal::{self, Entry, Event, Journal, Mode, RunInfo};
use crate::plan::{self, Plan, PlanKey, PlanUser};
use crate::rule::Decision;
use crate::style::Palette;
use crate::term;

use execute::{ChangeBudget, Context, Interrupt, Outcome, StopCause, UserReport, Work};
use prompt::Answer;

/// What apply and rollback were asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub yes: bool,
    pub dry_run: bool,
    pub concurrency: usize,
    pub verify_timeout: Duration,
    /// apply `--max-changes`: keys the whole run may change.
    pub max_changes: Option<usize>,
    pub quiet: bool,
    /// Colour for the summary on stderr.
    pub palette: Palette,
}

/// Refuse before any change when confirmation is needed and nobody can give it.
fn require_confirmation_channel(options: &RunOptions, action: &'static str) -> Result<()> {
    if !options.yes && !options.dry_run && !std::io::stdin().is_terminal() {
        return Err(Error::NeedsConfirmation { action });
    }
    Ok(())
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

fn key_line(role: &str, key: &PlanKey) -> String {
    let mut line = format!(
        "  {role:<10} {}  {:>4} days old  {}",
        key.access_key_id,
        key.age_days,
        crate::plan::render::last_used(key)
    );
    if let Some(description) = &key.description {
        let _ = write!(
            line,
            "\n             {}",
            crate::plan::render::described(description)
        );
    }
    line
}

/// What the prompt shows for a planned deactivation.
pub fn describe_deactivation(user: &PlanUser) -> String {
    let mut text = format!(
        "\nUser {} ({})\n",
        user.user_name,
        term::escape(&user.user_arn)
    );
    for key in &user.keys {
        if user.keep.as_deref() == Some(key.access_key_id.as_str()) {
            let _ = writeln!(text, "{}", key_line("keep", key));
        } else if user.deactivate.contains(&key.access_key_id) {
            let _ = writeln!(text, "{}", key_line("deactivate", key));
        }
    }
    text
}

/// Ask per user; returns the works approved, and records the declined ones. On Ctrl-C
/// at a prompt, sets `ctx.interrupt` and approves nothing.
fn confirm(
    works: Vec<(Work, String)>,
    question: &str,
    ctx: &Context,
    reports: &mut Vec<UserReport>,
) -> Result<Vec<Work>> {
    let mut approved = Vec::new();
    let mut answer_rest: Option<Answer> = None;
    for (work, description) in works {
        let answer = match answer_rest {
            Some(answer) => answer,
            None => {
                let answer = tokio::task::block_in_place(|| {
                    prompt::ask(&description, &format!("{question} {}?", work.user_name()))
                });
                if matches!(answer, Answer::All | Answer::Quit | Answer::Interrupted) {
                    answer_rest = Some(answer);
                }
                answer
            }
        };
        let name = work.user_name().to_string();
        let (outcome, event, reason) = match answer {
            Answer::Yes | Answer::All => {
                approved.push(work);
                continue;
            }
            Answer::Interrupted => (
                Outcome::Stopped {
                    changed: Vec::new(),
                    cause: StopCause::Interrupted,
                },
                Event::Skipped,
                "interrupted at the prompt",
            ),
            _ => (Outcome::Declined, Event::Declined, "declined at the prompt"),
        };
        if let Some(journal) = &ctx.journal {
            journal.record(&Entry::new(event, &ctx.account_id, &name).reason(reason))?;
        }
        reports.push(UserReport {
            user_name: name,
            outcome,
        });
    }
    if answer_rest == Some(Answer::Interrupted) {
        ctx.interrupt.set();
        for work in approved.drain(..) {
            let name = work.user_name().to_string();
            if let Some(journal) = &ctx.journal {
                journal.record(
                    &Entry::new(Event::Skipped, &ctx.account_id, &name)
                        .reason("interrupted at the prompt"),
                )?;
            }
            reports.push(UserReport {
                user_name: name,
                outcome: Outcome::Stopped {
                    changed: Vec::new(),
                    cause: StopCause::Interrupted,
                },
            });
        }
    }
    Ok(approved)
}

/// How many users ended each way, for the summary's last line.
#[derive(Debug, Default)]
struct Totals {
    verified: usize,
    skipped: usize,
    drifted: usize,
    failed: usize,
    unknown: usize,
    unverified: usize,
    dry_run: usize,
}

/// One line per user, and the totals. Reasons and errors may quote IAM, so they are
/// escaped for the terminal.
pub fn summarize(title: &str, reports: &[UserReport], verb: &str, palette: &Palette) -> String {
    let mut text = format!("{}\n", term::escape(title));
    let width = reports
        .iter()
        .map(|r| r.user_name.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut totals = Totals::default();
    let after = |changed: &[String]| {
        if changed.is_empty() {
            String::new()
        } else {
            format!(" after {verb} {}", changed.join(", "))
        }
    };
    for report in reports {
        let line = match &report.outcome {
            Outcome::Verified { changed, unchanged } => {
                totals.verified += 1;
                match (changed.is_empty(), unchanged.is_empty()) {
                    (false, true) => format!("{verb} {}, verified", changed.join(", ")),
                    (false, false) => format!(
                        "{verb} {}, verified ({} already done)",
                        changed.join(", "),
                        unchanged.join(", ")
                    ),
                    _ => format!("already done ({}), verified", unchanged.join(", ")),
                }
            }
            Outcome::WouldChange { keys, unchanged } => {
                totals.dry_run += 1;
                if keys.is_empty() {
                    format!(
                        "dry run: nothing to do ({} already done)",
                        unchanged.join(", ")
                    )
                } else {
                    format!(
                        "dry run: would {} {}",
                        verb.trim_end_matches('d'),
                        keys.join(", ")
                    )
                }
            }
            Outcome::Unverified { changed, reason } => {
                totals.unverified += 1;
                format!("{verb} {}, UNVERIFIED: {reason}", changed.join(", "))
            }
            Outcome::Drifted { reason } => {
                totals.drifted += 1;
                format!("drifted, left alone: {reason}")
            }
            Outcome::Failed { changed, error } => {
                totals.failed += 1;
                format!("FAILED{}: {error}", after(changed))
            }
            Outcome::Unknown {
                changed,
                key,
                error,
            } => {
                totals.unknown += 1;
                format!("OUTCOME UNKNOWN for {key}{}: {error}", after(changed))
            }
            Outcome::JournalFailed { changed, error } => {
                totals.failed += 1;
                format!("STOPPED, journal write failed{}: {error}", after(changed))
            }
            Outcome::Declined => {
                totals.skipped += 1;
                "skipped: declined".to_string()
            }
            Outcome::Held { reason } => {
                totals.skipped += 1;
                format!("skipped: held: {reason}")
            }
            Outcome::Skipped { reason } => {
                totals.skipped += 1;
                format!("skipped: {reason}")
            }
            Outcome::Limited { max } => {
                totals.skipped += 1;
                format!(
                    "skipped: limit (--max-changes {max} reached; run the plan again to continue)"
                )
            }
            Outcome::Stopped { changed, cause } => {
                totals.skipped += 1;
                if changed.is_empty() {
                    format!("skipped: {}", cause.describe())
                } else {
                    format!("{}{}", cause.describe(), after(changed))
                }
            }
        };
        let line = term::escape(&line);
        let line = match &report.outcome {
            Outcome::Verified { .. } => palette.good(&line),
            Outcome::Failed { .. }
            | Outcome::Unknown { .. }
            | Outcome::JournalFailed { .. }
            | Outcome::Unverified { .. } => palette.bad(&line),
            Outcome::WouldChange { .. } => line.into_owned(),
            _ => palette.warn(&line),
        };
        let name = term::escape(&report.user_name);
        let _ = writeln!(text, "  {name:<width$} {line}");
    }
    let _ = write!(
        text,
        "{verb}+verified {}, skipped {}, drifted {}, failed {}, unverified {}",
        totals.verified, totals.skipped, totals.drifted, totals.failed, totals.unverified
    );
    if totals.unknown > 0 {
        let _ = write!(text, ", outcome unknown {}", totals.unknown);
    }
    if totals.dry_run > 0 {
        let _ = write!(text, ", dry run {}", totals.dry_run);
    }
    text
}

/// The exit code for a run's reports.
pub fn exit_code(reports: &[UserReport], interrupted: bool) -> u8 {
    if interrupted
        || reports.iter().any(|r| {
            matches!(
                r.outcome,
                Outcome::Stopped {
                    cause: StopCause::Interrupted,
                    ..
                }
            )
        })
    {
        return exit::INTERRUPTED;
    }
    if reports.iter().any(|r| {
        matches!(
            r.outcome,
            Outcome::Failed { .. }
                | Outcome::Unknown { .. }
                | Outcome::JournalFailed { .. }
                | Outcome::Stopped { .. }
        )
    }) {
        return exit::ERROR;
    }
    let partial = reports.iter().any(|r| {
        matches!(
            r.outcome,
            Outcome::Declined
                | Outcome::Held { .. }
                | Outcome::Drifted { .. }
                | Outcome::Unverified { .. }
                | Outcome::Limited { .. }
        )
    });
    if partial { exit::PARTIAL } else { exit::OK }
}

/// After the summary: a journal that failed is an error of the whole run.
fn journal_failure(ctx: &Context) -> Result<()> {
    match ctx.journal.as_ref().and_then(|journal| {
        journal
            .failure()
            .map(|detail| (journal.path().to_path_buf(), detail))
    }) {
        Some((path, detail)) => Err(Error::JournalIncomplete { path, detail }),
        None => Ok(()),
    }
}

/// `keytrim apply PLAN...`
pub async fn apply(
    connect: &ConnectOptions,
    plans: &[PathBuf],
    journal_path: Option<&Path>,
    org_role: Option<&str>,
    options: &RunOptions,
) -> Result<u8> {
    if journal_path.is_some() && plans.len() > 1 {
        return Err(Error::Usage(
            "--journal names one file, so it takes one plan; without it each plan gets its own journal".into(),
        ));
    }
    // Every plan is read and checked before anything else.
    let loaded: Vec<(PathBuf, Plan)> = plans
        .iter()
        .map(|path| plan::load(path).map(|plan| (path.clone(), plan)))
        .collect::<Result<_>>()?;
    require_confirmation_channel(options, "apply")?;
    let config = aws::load_config(connect).await?;
    let clients = aws::Clients::from_sdk_config(&config);
    let caller = inventory::caller(&clients).await?;
    // Every plan's account is reached and guarded before any change.
    let mut ready = Vec::new();
    for (path, plan) in loaded {
        let (plan_clients, plan_caller) = match org_role {
            Some(role) if plan.account_id != caller.account_id => {
                let arn = aws::role_arn(&plan.partition, &plan.account_id, role);
                let assumed = aws::Clients::from_sdk_config(
                    &aws::assume_role(&config, &arn, "keytrim-apply").await?,
                );
                let assumed_caller = inventory::caller(&assumed).await?;
                (assumed, assumed_caller)
            }
            _ => (clients.clone(), caller.clone()),
        };
        guard_account(&plan_caller, &plan.account_id, &path)?;
        ready.push((path, plan, plan_clients, plan_caller));
    }
    let mut worst = exit::OK;
    let interrupt = Interrupt::default();
    // One budget for every plan of the run.
    let budget = options
        .max_changes
        .map(|max| Arc::new(ChangeBudget::new(max)));
    for (path, plan, plan_clients, plan_caller) in ready {
        let code = apply_plan(
            &plan_clients,
            &plan_caller,
            &path,
            &plan,
            journal_path,
            options,
            &interrupt,
            budget.clone(),
        )
        .await?;
        worst = worse(worst, code);
        if interrupt.is_set() {
            break;
        }
    }
    Ok(worst)
}

/// The more serious of two exit codes.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |code: u8| match code {
        exit::INTERRUPTED => 4,
        exit::ERROR => 3,
        exit::PARTIAL => 2,
        exit::OK => 0,
        _ => 1,
    };
    if rank(b) > rank(a) { b } else { a }
}

// The run-wide state (interrupt, budget) comes with the plan's own parts.
#[allow(clippy::too_many_arguments)]
async fn apply_plan(
    clients: &aws::Clients,
    caller: &Caller,
    path: &Path,
    plan: &Plan,
    journal_path: Option<&Path>,
    options: &RunOptions,
    interrupt: &Interrupt,
    budget: Option<Arc<ChangeBudget>>,
) -> Result<u8> {
    let journal = if options.dry_run {
        None
    } else {
        let run = RunInfo {
            mode: Mode::Apply,
            source: path.display().to_string(),
            tool: format!("keytrim {}", env!("CARGO_PKG_VERSION")),
            caller_arn: caller.arn.clone(),
        };
        // A named journal is never overwritten; a default name gets a number if taken.
        let journal = match journal_path {
            Some(named) => Journal::create(named, &plan.account_id, run)?,
            None => Journal::create_numbered(
                &journal::default_path(path, Utc::now()),
                &plan.account_id,
                run,
            )?,
        };
        Some(Arc::new(journal))
    };
    let ctx = Context {
        clients: clients.clone(),
        account_id: plan.account_id.clone(),
        journal,
        interrupt: interrupt.clone(),
        verify_timeout: options.verify_timeout,
        budget,
    };
    let mut reports = Vec::new();
    let mut candidates = Vec::new();
    for user in &plan.users {
        let skip = match user.decision {
            Decision::Deactivate => {
                candidates.push((
                    Work::Deactivate {
                        user: user.clone(),
                        generated_at: plan.generated_at,
                    },
                    describe_deactivation(user),
                ));
                continue;
            }
            Decision::Hold => Outcome::Held {
                reason: user.reason.clone(),
            },
            other => Outcome::Skipped {
                reason: format!("{}: {}", other.as_str(), user.reason),
            },
        };
        if let Some(journal) = &ctx.journal {
            journal.record(
                &Entry::new(Event::Skipped, &plan.account_id, &user.user_name).reason(format!(
                    "decision {}: {}",
                    user.decision.as_str(),
                    user.reason
                )),
            )?;
        }
        reports.push(UserReport {
            user_name: user.user_name.clone(),
            outcome: skip,
        });
    }
    let approved = if options.yes || options.dry_run {
        candidates.into_iter().map(|(work, _)| work).collect()
    } else {
        confirm(candidates, "Deactivate these keys of", &ctx, &mut reports)?
    };
    // Ctrl-C is caught from here on; at a prompt it was read as an answer.
    interrupt.listen();
    let progress = crate::progress::bar("users", options.quiet);
    let done = execute::run_all(&ctx, approved, options.concurrency, &progress).await;
    reports.extend(done);
    let order = |name: &str| plan.users.iter().position(|u| u.user_name == name);
    reports.sort_by_key(|r| order(&r.user_name));

    if !options.quiet {
        let title = match &ctx.journal {
            Some(journal) => format!(
                "apply {} (account {}), journal {}",
                path.display(),
                plan.account_id,
                journal.path().display()
            ),
            None => format!(
                "dry run of {} (account {}): nothing was changed",
                path.display(),
                plan.account_id
            ),
        };
        eprintln!(
            "{}",
            summarize(&title, &reports, "deactivated", &options.palette)
        );
    }
    journal_failure(&ctx)?;
    Ok(exit_code(&reports, interrupt.is_set()))
}
