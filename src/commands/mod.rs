//! The commands: one file each, turning that command's arguments into calls on the
//! library and its results into output through the shell. The global options are
//! resolved once here (`Settings`), and every usage check keytrim makes beyond clap's
//! own is made here (`check_usage`), before any file is read or any AWS call.

mod apply;
mod audit;
mod completions;
mod diff;
mod iam_policy;
mod man;
mod report;
mod rollback;
mod schema;
mod show;

use std::path::Path;

use crate::aws::ConnectOptions;
use crate::aws::concurrency::Concurrency;
use crate::change::RunOptions;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::shell::cli::{ChangeArgs, Cli, ColorChoice, Command, GlobalArgs, Phase, PolicyFormat};

/// The global options, resolved once for every command.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How to reach AWS: the first `--profile` (only audit takes several).
    pub connect: ConnectOptions,
    /// Every `--profile`, for an audit of several accounts.
    pub profiles: Vec<String>,
    pub quiet: bool,
    pub color: ColorChoice,
}

impl Settings {
    fn resolve(global: &GlobalArgs) -> Settings {
        Settings {
            connect: ConnectOptions {
                profile: global.profile.first().cloned(),
                region: global.region.clone(),
                endpoint_url: global.endpoint_url.clone(),
                max_attempts: global.max_attempts,
                calls: Concurrency::default().limits(),
            },
            profiles: global.profile.clone(),
            quiet: global.quiet,
            color: global.color,
        }
    }
}

impl Settings {
    /// How to reach AWS under `concurrency`.
    pub(crate) fn connect_with(&self, concurrency: Concurrency) -> ConnectOptions {
        ConnectOptions {
            calls: concurrency.limits(),
            ..self.connect.clone()
        }
    }
}

/// Run one command; the result is how keytrim ends.
pub async fn run(cli: Cli) -> Result<ExitStatus> {
    let settings = Settings::resolve(&cli.global);
    check_usage(&cli.command, &settings)?;
    match cli.command {
        Command::Audit(args) => audit::run(&settings, args).await,
        Command::Show(args) => show::run(&settings, &args),
        Command::Diff(args) => diff::run(&args),
        Command::Apply(args) => apply::run(&settings, &args).await,
        Command::Rollback(args) => rollback::run(&settings, &args).await,
        Command::Report(args) => report::run(&settings, &args),
        Command::IamPolicy(args) => iam_policy::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Man => man::run(),
        Command::Schema => schema::run(),
    }
}

fn usage(message: &str) -> Result<()> {
    Err(Error::Usage(message.to_string()))
}

/// The Security Hub region ASFF findings about `partition` are made for: `--region`,
/// else AWS_REGION, else AWS_DEFAULT_REGION (an empty one is not set). Findings name
/// it in their product ARN, and Security Hub takes them only in that region, so there
/// is no default; it must be a region of the plan's partition.
fn security_hub_region(settings: &Settings, partition: &str) -> Result<String> {
    let set = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let region = settings
        .connect
        .region
        .clone()
        .or_else(|| set("AWS_REGION"))
        .or_else(|| set("AWS_DEFAULT_REGION"))
        .ok_or_else(|| {
            Error::Usage(
                "ASFF findings are made for one Security Hub region: give --region REGION (or set AWS_REGION)"
                    .to_string(),
            )
        })?;
    if !crate::plan::render::is_region(&region) {
        return Err(Error::Usage(format!(
            "`{region}` is not an AWS region (e.g. us-east-1)"
        )));
    }
    if !crate::plan::render::region_in_partition(&region, partition) {
        return Err(Error::Usage(format!(
            "region {region} is not in the plan's partition {partition}: Security Hub there cannot take its findings"
        )));
    }
    Ok(region)
}

/// Every combination of options keytrim refuses beyond clap's own rules, as a usage
/// error (exit 2), before anything is read or called.
fn check_usage(command: &Command, settings: &Settings) -> Result<()> {
    let several_profiles = settings.profiles.len() > 1;
    match command {
        Command::Apply(_) | Command::Rollback(_) if several_profiles => usage(
            "--profile is repeatable on audit only; apply and rollback work in one account per plan",
        ),
        Command::Apply(args) if args.journal.is_some() && args.plans.len() > 1 => usage(
            "--journal names one file, so it takes one plan; without it each plan gets its own journal",
        ),
        Command::Rollback(args) if args.rollback_journal.is_some() && args.journals.len() > 1 => {
            usage(
                "--journal names one file, so it takes one JOURNAL; without it each rollback gets its own journal",
            )
        }
        Command::Audit(args) if args.org_role.is_some() && several_profiles => {
            usage("--org-role takes at most one --profile: the Organization's management account")
        }
        // Several accounts give several plans: one --out path cannot hold them.
        Command::Audit(args) if several_profiles && args.out.is_some() => usage(
            "--out names one plan, but several --profile write one plan per account: use --out-dir",
        ),
        Command::Audit(args)
            if args.org_role.is_none()
                && !several_profiles
                && (!args.accounts.is_empty() || !args.exclude_accounts.is_empty()) =>
        {
            usage("--accounts and --exclude-accounts go with --org-role or several --profile")
        }
        Command::IamPolicy(args)
            if args.phase == Phase::Pipeline
                && (args.format != PolicyFormat::Cloudformation || args.org) =>
        {
            usage(
                "iam-policy pipeline prints a CloudFormation template: use --format cloudformation (its Organization parameter stands for --org)",
            )
        }
        Command::IamPolicy(args) if args.rotation && args.phase == Phase::Pipeline => usage(
            "--rotation goes with iam-policy audit or apply: the pipeline's roles are audit's and apply's without it",
        ),
        Command::Report(args) => {
            // The report must never take the place of the plan or a journal it is made from.
            match std::iter::once(&args.plan)
                .chain(&args.journals)
                .find(|input| same_file(input, &args.out))
            {
                Some(input) => Err(Error::Usage(format!(
                    "-o {} is one of the report's inputs ({}); write the report elsewhere",
                    args.out.display(),
                    input.display()
                ))),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// True when both paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// What apply and rollback were asked to do.
fn run_options(change: &ChangeArgs) -> RunOptions {
    RunOptions {
        yes: change.yes,
        dry_run: change.dry_run,
        concurrency: change_concurrency(change),
        verify_timeout: std::time::Duration::from_secs(change.verify_timeout),
        max_changes: None,
        accounts_in_progress: change.account_concurrency as usize,
    }
}

/// Apply's and rollback's `--concurrency` and `--max-in-flight`, as one value.
fn change_concurrency(change: &ChangeArgs) -> Concurrency {
    Concurrency::new(change.concurrency, change.max_in_flight)
}

/// How apply and rollback reach AWS.
fn change_connect(settings: &Settings, change: &ChangeArgs) -> ConnectOptions {
    settings.connect_with(change_concurrency(change))
}
