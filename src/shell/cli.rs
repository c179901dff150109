//! The command line: clap types only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Enforce CIS AWS Foundations Benchmark 1.13: at most one active access key per IAM user.
#[derive(Debug, Parser)]
#[command(
    name = "keytrim",
    version = env!("KEYTRIM_VERSION_TEXT"),
    about,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Named profile from the AWS config files (AWS_PROFILE works too). Repeatable on
    /// audit: one plan per profile's account.
    #[arg(long, global = true, value_name = "NAME", action = clap::ArgAction::Append)]
    pub profile: Vec<String>,

    /// Region to sign requests for. IAM is global: us-east-1 unless you name another
    /// partition's region (e.g. cn-north-1, us-gov-west-1).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint, e.g. a local IAM for testing
    /// (AWS_ENDPOINT_URL works too).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Attempts per AWS call, first try included [default: AWS_MAX_ATTEMPTS, else the
    /// profile's max_attempts, else 8].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_attempts: Option<u32>,

    /// More log output on stderr (-v info with the SDK's warnings, -vv debug, -vvv
    /// trace). KEYTRIM_LOG, then RUST_LOG, overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour in output people read: auto (terminals only; NO_COLOR turns it off), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read-only: inventory users and keys, write a remediation plan, print a summary.
    Audit(AuditArgs),
    /// Validate a plan file and render it.
    Show(ShowArgs),
    /// What changed between two plans of one account: newly non-compliant users, fixed
    /// ones, changed decisions. Exits 0 when nothing changed, 3 when something did.
    Diff(DiffArgs),
    /// Replay reviewed plans: check drift, confirm, deactivate, verify, journal.
    Apply(ApplyArgs),
    /// Re-activate the keys an apply deactivated, from its journal.
    Rollback(RollbackArgs),
    /// One self-contained HTML evidence document from a plan and the journals of the
    /// apply and rollback runs made from it, for an auditor.
    Report(ReportArgs),
    /// Print the least-privilege IAM policy (JSON) a phase needs.
    IamPolicy(IamPolicyArgs),
    /// Print shell completions, e.g. `keytrim completions bash > /etc/bash_completion.d/keytrim`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `keytrim man > /usr/local/share/man/man1/keytrim.1`.
    Man,
    /// Print the JSON Schema of the plan file (version 4, which reads versions 1 to 3 too).
    Schema,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Options apply and rollback share.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Change without asking (for pipelines and scheduled jobs).
    #[arg(long)]
    pub yes: bool,

    /// Check live state and print what would change; change nothing, write no journal.
    #[arg(long)]
    pub dry_run: bool,

    /// AWS calls in flight at once (fewer while IAM throttles).
    #[arg(long, value_name = "N", default_value_t = crate::aws::concurrency::DEFAULT_ACCOUNT_CALLS, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Plans (accounts) changed at once, with several plans or journals; one at a time
    /// with --max-changes.
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub account_concurrency: u32,

    /// AWS calls in flight at once in the whole run, shared by every account in
    /// progress [default: 4 x --concurrency].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: Option<u32>,

    /// Seconds to wait for IAM to show the change (a deactivation not seen by then is undone; a re-activation is unverified).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub verify_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Plan files written by `keytrim audit` (and reviewed).
    #[arg(required = true, value_name = "PLAN")]
    pub plans: Vec<PathBuf>,

    /// Journal file [default: beside the plan, <plan stem>.<UTC timestamp>.journal.jsonl].
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,

    /// For each plan of another account than the caller's, assume this role in the
    /// plan's account (AWS Organizations).
    #[arg(long, value_name = "NAME")]
    pub org_role: Option<String>,

    /// Staged rollout: start no more deactivations once N keys have been changed (in
    /// all plans of the run). Users not reached are skipped as `limit`, the exit code
    /// is 4, and running the plan again continues where this run stopped.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_changes: Option<u64>,

    /// The exemptions file to check again: a user it exempts is left alone, whatever
    /// the plan says [default: the file the plan records, when it can be read].
    #[arg(long, value_name = "FILE")]
    pub exemptions: Option<PathBuf>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The journals of the applies to undo (one per account).
    #[arg(required = true, value_name = "JOURNAL")]
    pub journals: Vec<PathBuf>,

    /// This rollback's own journal, never overwritten; takes one JOURNAL [default:
    /// beside the apply's, <apply journal stem>.rollback-<UTC timestamp>.journal.jsonl].
    #[arg(long = "journal", value_name = "PATH")]
    pub rollback_journal: Option<PathBuf>,

    /// When the journal is of another account than the caller's, assume this role in
    /// the journal's account (AWS Organizations), as `apply --org-role` did.
    #[arg(long, value_name = "NAME")]
    pub org_role: Option<String>,

    #[command(flatten)]
    pub change: ChangeArgs,
}

/// Where the audit reads key facts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// ListUsers, then ListAccessKeys for every user: exact and current.
    Live,
    /// The IAM credential report picks users with two active keys, then live calls
    /// confirm them. Faster on large accounts, but AWS may serve a report up to 4 hours
    /// old, so users who gained a second key since then are missed.
    CredentialReport,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where to write the plan: a path, or - for stdout [default: plans/<account-id>.yaml].
    #[arg(short, long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Keys this many days old or older are not kept.
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub max_key_age: u32,

    /// A key used within this many days holds its deactivation for review.
    #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=36500))]
    pub in_use_window: u32,

    /// Deactivate keys even when they were used within the in-use window.
    #[arg(long)]
    pub no_in_use_guard: bool,

    /// When no active key is younger than --max-key-age, deactivate another key only
    /// once it has gone unused this many days (or was never used and is this old).
    #[arg(long, value_name = "DAYS", default_value_t = crate::rule::DEFAULT_UNUSED_DAYS, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub unused_days: u32,

    /// The older reading: when no active key is younger than --max-key-age, deactivate
    /// nothing and plan `rotate`.
    #[arg(long)]
    pub require_fresh_key: bool,

    /// Look for the rotation hand-off (docs/rotation.md): read the tags of users whose
    /// one active key is over --max-key-age, and plan `rotate` into the secret a user's
    /// keytrim:rotate-to tag names when that secret names the user back. Reads each
    /// such secret's value (its access key id is kept, nothing else).
    #[arg(long)]
    pub rotation: bool,

    /// YAML list of {user: NAME-OR-GLOB, reason: TEXT, expires: YYYY-MM-DD} never to act
    /// on (expires is optional: the exemption's last day).
    #[arg(long, value_name = "FILE")]
    pub exemptions: Option<PathBuf>,

    /// Audit only this user (repeatable).
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,

    /// Where key facts come from.
    #[arg(long, value_enum, default_value_t = SourceArg::Live)]
    pub source: SourceArg,

    /// AWS calls in flight at once, per account (fewer while IAM throttles).
    #[arg(long, value_name = "N", default_value_t = crate::aws::concurrency::DEFAULT_ACCOUNT_CALLS, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Audit every ACTIVE account of the AWS Organization by assuming this role in each
    /// (the caller's own account with the caller's credentials); one plan per account.
    #[arg(long, value_name = "NAME", conflicts_with = "out")]
    pub org_role: Option<String>,

    /// Where plans go, one per account, named <account-id>.yaml.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "plans",
        conflicts_with = "out"
    )]
    pub out_dir: PathBuf,

    /// Only these accounts (comma-separated ids), with --org-role or several --profile.
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account_id)]
    pub accounts: Vec<String>,

    /// Not these accounts (comma-separated ids).
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account_id)]
    pub exclude_accounts: Vec<String>,

    /// With --org-role: only accounts in this organizational unit or the OUs nested in
    /// it (ou-... or a root r-...). Repeatable; combines with --accounts and
    /// --exclude-accounts.
    #[arg(long, value_name = "ID", requires = "org_role", value_parser = parse_unit_id)]
    pub ou: Vec<String>,

    /// Accounts in progress at once, with --org-role or several --profile. More accounts
    /// than the budget needs keep one account's first calls, made in series, beside
    /// another's many.
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub account_concurrency: u32,

    /// AWS calls in flight at once in the whole run, shared by every account in
    /// progress [default: 4 x --concurrency].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: Option<u32>,
}

/// How `show` renders a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    /// For a pull-request comment.
    Markdown,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// CSV (RFC 4180) for spreadsheets: a row per key; several plans under one header.
    Csv,
    /// AWS Security Finding Format for Security Hub (BatchImportFindings): a finding
    /// per user, in the Security Hub region of --region (or AWS_REGION).
    Asff,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan file (with --format csv, one or more: an Organization's plans).
    #[arg(required = true, num_args = 1.., value_name = "PLAN")]
    pub plans: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

/// How `keytrim diff` shows the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    /// For a pull-request comment.
    Markdown,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older plan (e.g. the last one merged).
    pub old: PathBuf,
    /// The newer plan, of the same account.
    pub new: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The plan file (the reviewed one that was applied).
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Journals of apply and rollback runs made from the plan, in any order.
    #[arg(value_name = "JOURNAL")]
    pub journals: Vec<PathBuf>,

    /// Where to write the document: a path, or - for stdout.
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub out: PathBuf,

    /// html: the evidence report for an auditor; asff: the plan's Security Hub
    /// findings as the runs left them (PASSED for users brought into line), in the
    /// region of --region (or AWS_REGION).
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,

    /// The commit or pull request that approved the plan (e.g. $GITHUB_SHA), shown as
    /// given.
    #[arg(long, value_name = "REF")]
    pub commit: Option<String>,
}

/// What `report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Asff,
}

/// Which phase's permissions to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    Audit,
    Apply,
    /// The pipeline's roles for GitHub Actions (OIDC), audit and apply (with --format
    /// cloudformation).
    Pipeline,
}

/// How `iam-policy` prints what it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// The IAM policy documents.
    Json,
    /// A CloudFormation template (JSON) that creates the role(s).
    Cloudformation,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The phase.
    #[arg(value_enum)]
    pub phase: Phase,

    /// For an Organization: the management account's policy, and the member role's
    /// trust and permission policies.
    #[arg(long)]
    pub org: bool,

    /// The member role's name, with --org [default: KeytrimAudit for audit, KeytrimApply
    /// for apply].
    #[arg(long, value_name = "NAME", requires = "org")]
    pub org_role: Option<String>,

    /// The AWS partition of the role ARNs, with --org (aws, aws-cn, aws-us-gov, ...).
    #[arg(long, value_name = "NAME", default_value = "aws", requires = "org", value_parser = parse_partition)]
    pub partition: String,

    /// json: the policy documents; cloudformation: a template that creates the role
    /// (with --org, the member role for a service-managed StackSet; for pipeline, the
    /// two roles GitHub's OIDC provider may assume).
    #[arg(long, value_enum, default_value_t = PolicyFormat::Json)]
    pub format: PolicyFormat,

    /// The rotation hand-off's permissions too: for audit, read the secrets tagged
    /// keytrim:rotates and decrypt them through Secrets Manager; for apply, also create
    /// (and clean up) keys of users tagged keytrim:rotate-to and write those secrets.
    #[arg(long)]
    pub rotation: bool,
}

/// `--partition`'s value: a partition AWS has.
fn parse_partition(value: &str) -> Result<String, String> {
    if crate::plan::validate::is_partition(value) {
        Ok(value.to_string())
    } else {
        Err("not an AWS partition (aws, aws-cn, aws-us-gov, ...)".to_string())
    }
}

/// `--accounts` and `--exclude-accounts` values: twelve-digit account ids. A typo would
/// otherwise select nothing (or exclude nothing) without a word.
fn parse_account_id(value: &str) -> Result<String, String> {
    if crate::plan::validate::is_account_id(value) {
        Ok(value.to_string())
    } else {
        Err("not a 12-digit AWS account id".to_string())
    }
}

/// `--ou`'s value: an organizational unit or root id, checked before any call.
fn parse_unit_id(value: &str) -> Result<String, String> {
    if crate::aws::accounts::is_unit_id(value) {
        Ok(value.to_string())
    } else {
        Err("not an organizational unit id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)".to_string())
    }
}
