//! The commands: each turns parsed arguments into calls on the library and returns the
//! process exit code. The only place that prints a command's results.

use std::io::{IsTerminal, Write as _};
use std::path::Path;

use clap::CommandFactory;

use crate::audit::{self, AuditInputs, ManyOptions};
use crate::aws::ConnectOptions;
use crate::change::{self, Answer, RunOptions};
use crate::cli::{
    AuditArgs, ChangeArgs, Cli, ColorChoice, Command, DiffArgs, DiffFormat, GlobalArgs,
    IamPolicyArgs, Phase, PolicyFormat, ReportArgs, ShowArgs, ShowFormat, SourceArg,
};
use crate::error::{Error, Result, exit};
use crate::exemptions::Exemptions;
use crate::files;
use crate::inventory::Scope;
use crate::plan::{self, Plan, Source, render};
use crate::report::{NoProgress, Reporter, RunSummary, SharedProgress};
use crate::rule::{Decision, Policy};
use crate::style::{self, Palette};
use crate::term;

/// Run one command; the result is the exit code.
pub async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Audit(args) => audit(&cli.global, args).await,
        Command::Show(args) => show(args, cli.global.color),
        Command::Diff(args) => diff(args),
        Command::Apply(args) => {
            one_profile(&cli.global)?;
            let mut options = run_options(&args.change);
            options.max_changes = args
                .max_changes
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            change::apply::apply(
                &connect_options(&cli.global),
                &args.plans,
                args.journal.as_deref(),
                args.org_role.as_deref(),
                &options,
                &Terminal::new(&cli.global),
            )
            .await
        }
        Command::Rollback(args) => {
            one_profile(&cli.global)?;
            let options = run_options(&args.change);
            change::rollback::rollback(
                &connect_options(&cli.global),
                &args.journal,
                args.rollback_journal.as_deref(),
                args.org_role.as_deref(),
                &options,
                &Terminal::new(&cli.global),
            )
            .await
        }
        Command::Report(args) => report(args, cli.global.quiet),
        Command::IamPolicy(args) => iam_policy(args),
        Command::Completions(args) => {
            let mut text = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "keytrim", &mut text);
            write_stdout(&String::from_utf8_lossy(&text))?;
            Ok(exit::OK)
        }
        Command::Man => {
            let mut text = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut text)
                .map_err(Error::Stdout)?;
            write_stdout(&String::from_utf8_lossy(&text))?;
            Ok(exit::OK)
        }
        Command::Schema => {
            write_stdout(&plan::schema::to_json())?;
            Ok(exit::OK)
        }
    }
}

fn run_options(change: &ChangeArgs) -> RunOptions {
    RunOptions {
        yes: change.yes,
        dry_run: change.dry_run,
        concurrency: change.concurrency as usize,
        verify_timeout: std::time::Duration::from_secs(change.verify_timeout),
        max_changes: None,
    }
}

/// The person at the terminal, for the core's change runs: progress bars, prompts and
/// summaries on stderr.
struct Terminal {
    quiet: bool,
    palette: Palette,
}

impl Terminal {
    fn new(global: &GlobalArgs) -> Terminal {
        Terminal {
            quiet: global.quiet,
            palette: Palette::new(
                global.color,
                style::no_color_set(),
                std::io::stderr().is_terminal(),
            ),
        }
    }
}

impl Reporter for Terminal {
    fn progress(&self, what: &'static str) -> SharedProgress {
        crate::progress::bar(what, self.quiet)
    }

    fn ask(&self, what: &str, question: &str) -> Answer {
        crate::prompt::ask(what, question)
    }

    fn run_finished(&self, run: &RunSummary<'_>) {
        if self.quiet {
            return;
        }
        match run.nothing_to_do {
            Some(nothing) if run.reports.is_empty() => {
                eprintln!("{}\n{nothing}", crate::term::escape(&run.title));
            }
            _ => eprintln!("{}", crate::summary::summarize(run, &self.palette)),
        }
    }
}

/// Refuse several `--profile` where one account is meant.
fn one_profile(global: &GlobalArgs) -> Result<()> {
    if global.profile.len() > 1 {
        return Err(Error::Usage(
            "--profile is repeatable on audit only; apply and rollback work in one account per plan".into(),
        ));
    }
    Ok(())
}

/// How to reach AWS. Only audit takes several profiles; the other commands take one.
fn connect_options(global: &GlobalArgs) -> ConnectOptions {
    ConnectOptions {
        profile: global.profile.first().cloned(),
        region: global.region.clone(),
        endpoint_url: global.endpoint_url.clone(),
        max_attempts: global.max_attempts,
    }
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::BrokenPipe => Error::StdoutClosed,
            _ => Error::Stdout(err),
        })
}

/// What every account's audit needs, from the arguments. Every local input (the
/// exemptions file) is read and checked here, before the first AWS call.
fn audit_inputs(global: &GlobalArgs, args: &AuditArgs) -> Result<AuditInputs> {
    let exemptions = match &args.exemptions {
        Some(path) => Exemptions::load(path)?,
        None => Exemptions::default(),
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
        },
        scope: Scope {
            users: args.users.clone(),
            source,
            concurrency: args.concurrency as usize,
            // One bar for a single account; accounts run in parallel, so none for many.
            progress: if global.profile.len() > 1 || args.org_role.is_some() {
                std::sync::Arc::new(NoProgress)
            } else {
                crate::progress::bar("users", global.quiet)
            },
        },
        exemptions,
    })
}

async fn audit(global: &GlobalArgs, args: AuditArgs) -> Result<u8> {
    let inputs = audit_inputs(global, &args)?;
    let many = ManyOptions {
        only: args.accounts.clone(),
        except: args.exclude_accounts.clone(),
        units: args.ou.clone(),
        account_concurrency: args.account_concurrency as usize,
    };
    let selection = if let Some(role) = &args.org_role {
        let mut base = connect_options(global);
        base.profile = global.profile.first().cloned();
        if global.profile.len() > 1 {
            return Err(Error::Usage(
                "--org-role takes at most one --profile: the Organization's management account"
                    .into(),
            ));
        }
        audit::Selection::organization(role, &base, &many).await?
    } else if global.profile.len() > 1 {
        // Several accounts give several plans: one --out path cannot hold them.
        if args.out.is_some() {
            return Err(Error::Usage(
                "--out names one plan, but several --profile write one plan per account: use --out-dir".into(),
            ));
        }
        audit::Selection::profiles(&global.profile)
    } else {
        if !args.accounts.is_empty() || !args.exclude_accounts.is_empty() {
            return Err(Error::Usage(
                "--accounts and --exclude-accounts go with --org-role or several --profile".into(),
            ));
        }
        audit::Selection::current_account()
    };
    let single = matches!(selection.targets.as_slice(), [audit::Target::Current]);
    let title = selection.title.clone();
    let inputs = std::sync::Arc::new(inputs);
    let results = audit::audit(
        selection,
        &connect_options(global),
        std::sync::Arc::clone(&inputs),
        &many,
    )
    .await;
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
            audit::AccountOutcome::Audited(plan) => write_one_plan(global, &args, &plan),
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
    let code = audit::exit_code(&results);
    report_accounts(global, &title, &results, code);
    Ok(code)
}

/// A several-account audit's summary: a line per account (always when one failed),
/// and a line per user IAM refused to show (always).
fn report_accounts(
    global: &GlobalArgs,
    title: &str,
    results: &[(audit::Target, audit::AccountResult)],
    code: u8,
) {
    if !global.quiet || code == exit::ERROR {
        eprintln!("{title}");
        for (target, result) in results {
            // An error may quote IAM (a tag's value): nothing hidden reaches the terminal.
            let line = format!("  {}: {}", target.label(), account_line(result));
            eprintln!("{}", term::escape(&line));
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
        eprintln!("keytrim: error: {}", term::escape(&line));
    }
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
            line + &audit::expiring_note(plan)
        }
        audit::AccountResult::Skipped(reason) => format!("skipped: {reason}"),
        audit::AccountResult::Failed(err) => format!("FAILED: {err}"),
    }
}

/// The one account's plan: to `--out` (a path, or `-` for stdout) or its default path,
/// then the summary on stderr.
fn write_one_plan(global: &GlobalArgs, args: &AuditArgs, plan: &Plan) -> Result<u8> {
    let yaml = render::to_yaml(plan);
    let destination = match &args.out {
        Some(path) if path.as_os_str() == "-" => {
            // A plan that did not reach its reader is no success, whatever it says.
            write_stdout(&yaml).map_err(|err| match err {
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
    if !global.quiet {
        let s = &plan.summary;
        eprintln!(
            "keytrim audit of account {}: {} users scanned; compliant {}, deactivate {}, hold {}, rotate {}, exempt {}{}",
            plan.account_id,
            s.users_scanned,
            s.compliant,
            s.deactivate,
            s.hold,
            s.rotate,
            s.exempt,
            render::unreadable_count(s)
        );
        if let Some(expiring) = audit::expiring_note(plan).strip_prefix("; ") {
            eprintln!("{expiring}");
        }
        eprintln!("plan written to {destination}");
        if !s.is_compliant() && args.out.as_deref() != Some(Path::new("-")) {
            eprintln!(
                "review it with `keytrim show {destination}`, then apply it with `keytrim apply {destination}`"
            );
        }
    }
    Ok(audit::plan_exit_code(plan))
}

fn show(args: ShowArgs, color: ColorChoice) -> Result<u8> {
    let plan = plan::load(&args.plan)?;
    let text = match args.format {
        ShowFormat::Text => {
            let palette = Palette::new(
                color,
                style::no_color_set(),
                std::io::stdout().is_terminal(),
            );
            render::to_text_styled(&plan, &palette)
        }
        ShowFormat::Markdown => render::to_markdown(&plan),
        ShowFormat::Json => render::to_json(&plan),
        ShowFormat::Sarif => {
            // The plan was just read and validated, so it is there and small.
            let text = std::fs::read_to_string(&args.plan).map_err(|err| Error::Plan {
                path: args.plan.display().to_string(),
                detail: err.to_string(),
            })?;
            let uri = args.plan.to_string_lossy().replace('\\', "/");
            render::to_sarif(&plan, &text, uri.trim_start_matches("./"))
        }
    };
    write_stdout(&text)?;
    Ok(exit::OK)
}

fn diff(args: DiffArgs) -> Result<u8> {
    let old = plan::load(&args.old)?;
    let new = plan::load(&args.new)?;
    if old.account_id != new.account_id {
        return Err(Error::Plan {
            path: args.new.display().to_string(),
            detail: format!(
                "is for account {}, but {} is for account {}: diff compares two plans of one account",
                new.account_id,
                args.old.display(),
                old.account_id
            ),
        });
    }
    let changes = plan::diff::diff(&old, &new);
    let text = match args.format {
        DiffFormat::Text => plan::diff::to_text(&old, &new, &changes),
        DiffFormat::Markdown => plan::diff::to_markdown(&old, &new, &changes),
    };
    write_stdout(&text)?;
    Ok(if changes.is_empty() {
        exit::OK
    } else {
        exit::CHANGED
    })
}

/// `keytrim report`: every file is read and checked before anything is written.
fn report(args: ReportArgs, quiet: bool) -> Result<u8> {
    use crate::evidence::{self, JournalFile, Made, SourceFile};
    // The report must never take the place of the plan or a journal it is made from.
    let same_file = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if let Some(input) = std::iter::once(&args.plan)
        .chain(&args.journals)
        .find(|input| same_file(input, &args.out))
    {
        return Err(Error::Usage(format!(
            "-o {} is one of the report's inputs ({}); write the report elsewhere",
            args.out.display(),
            input.display()
        )));
    }
    let (plan, plan_text) = plan::load::load_with_text(&args.plan)?;
    let plan_file = SourceFile {
        path: args.plan.display().to_string(),
        sha256: evidence::sha256_hex(plan_text.as_bytes()),
    };
    let journals = args
        .journals
        .iter()
        .map(|path| {
            let (entries, bytes) = crate::journal::read_with_bytes(path)?;
            Ok(JournalFile {
                file: SourceFile {
                    path: path.display().to_string(),
                    sha256: evidence::sha256_hex(&bytes),
                },
                entries,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let made = Made {
        reviewed_in: args.commit.clone(),
        at: chrono::Utc::now(),
        by: format!("keytrim {}", env!("CARGO_PKG_VERSION")),
    };
    let evidence =
        evidence::assemble(plan, plan_file, journals, made).map_err(|mismatch| Error::Journal {
            path: mismatch.path.clone(),
            detail: mismatch.detail,
        })?;
    if !quiet {
        for note in &evidence.notes {
            eprintln!("keytrim: warning: {}", term::escape(note));
        }
    }
    let document = evidence::html::render(&evidence);
    if args.out.as_os_str() == "-" {
        write_stdout(&document)?;
    } else {
        files::write_atomically(&args.out, &document)?;
        if !quiet {
            eprintln!("evidence report written to {}", args.out.display());
        }
    }
    Ok(exit::OK)
}

fn iam_policy(args: IamPolicyArgs) -> Result<u8> {
    let (policy, organization_actions, default_role) = match args.phase {
        Phase::Audit => (
            crate::iam_policy::audit(),
            crate::iam_policy::AUDIT_ORGANIZATION_ACTIONS,
            "KeytrimAudit",
        ),
        Phase::Apply => (
            crate::iam_policy::apply(),
            crate::iam_policy::APPLY_ORGANIZATION_ACTIONS,
            "KeytrimApply",
        ),
        Phase::Pipeline => {
            if args.format != PolicyFormat::Cloudformation || args.org {
                return Err(Error::Usage(
                    "iam-policy pipeline prints a CloudFormation template: use --format cloudformation (its Organization parameter stands for --org)".into(),
                ));
            }
            return print_json(&crate::iam_policy::pipeline_template());
        }
    };
    let role = args.org_role.as_deref().unwrap_or(default_role);
    let phase = if args.phase == Phase::Audit {
        "audit"
    } else {
        "apply"
    };
    let document = match (args.format, args.org) {
        (PolicyFormat::Cloudformation, organization) => {
            crate::iam_policy::role_template(role, phase, policy, organization)
        }
        (PolicyFormat::Json, true) => {
            crate::iam_policy::organization(role, &args.partition, organization_actions, policy)
        }
        (PolicyFormat::Json, false) => policy,
    };
    print_json(&document)
}

/// A JSON document on stdout, pretty, with a trailing newline.
fn print_json(document: &serde_json::Value) -> Result<u8> {
    let mut text = serde_json::to_string_pretty(document).expect("policy documents serialise");
    text.push('\n');
    write_stdout(&text)?;
    Ok(exit::OK)
}
