//! `keytrim report PLAN [JOURNAL...]`: the evidence of an apply, as one HTML file, or the
//! plan's Security Hub findings as the runs left them (ASFF).

use crate::error::{Error, Result};
use crate::evidence::{self, JournalFile, Made, SourceFile, Verdict};
use crate::exit::ExitStatus;
use crate::files;
use crate::plan;
use crate::plan::render::AfterRuns;
use crate::shell::cli::{ReportArgs, ReportFormat};
use crate::shell::output;

use super::Settings;

/// Every file is read and checked before anything is written (`check_usage` has made
/// sure `-o` is none of them).
pub(super) fn run(settings: &Settings, args: &ReportArgs) -> Result<ExitStatus> {
    let (plan, plan_text) = plan::load::load_with_text(&args.plan)?;
    let plan_file = SourceFile {
        path: args.plan.display().to_string(),
        sha256: crate::digest::sha256_hex(plan_text.as_bytes()),
    };
    let journals = args
        .journals
        .iter()
        .map(|path| {
            let (entries, bytes) = crate::journal::read_with_bytes(path)?;
            Ok(JournalFile {
                file: SourceFile {
                    path: path.display().to_string(),
                    sha256: crate::digest::sha256_hex(&bytes),
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
    if !settings.quiet {
        for note in &evidence.notes {
            output::warning_line(note);
        }
    }
    let document = match args.format {
        ReportFormat::Html => evidence::html::render(&evidence),
        ReportFormat::Asff => {
            let region = super::security_hub_region(settings, &evidence.plan.partition)?;
            let after_runs = evidence
                .users
                .iter()
                .filter_map(|user| {
                    after_runs(&user.outcome.verdict)
                        .map(|after| (user.user.user_name.clone(), after))
                })
                .collect();
            crate::plan::render::to_asff(
                &evidence.plan,
                &crate::plan::render::FindingContext {
                    region: &region,
                    updated_at: evidence.made_at,
                    after_runs: &after_runs,
                },
            )
        }
    };
    if args.out.as_os_str() == "-" {
        output::stdout(&document)?;
    } else {
        files::write_atomically(&args.out, &document)?;
        if !settings.quiet {
            output::escaped_line(&format!(
                "evidence report written to {}",
                args.out.display()
            ));
        }
    }
    Ok(ExitStatus::Ok)
}

/// Where a user's verdict leaves its finding: in line (PASSED), changed but never
/// confirmed (NOT_AVAILABLE), or as the plan says (None: still FAILED).
fn after_runs(verdict: &Verdict) -> Option<AfterRuns> {
    if verdict.brought_into_line() {
        return Some(AfterRuns::InLine);
    }
    match verdict {
        Verdict::Deactivated {
            verified: false, ..
        }
        | Verdict::AlreadyDone { verified: false }
        | Verdict::NoActiveKey { .. }
        | Verdict::Uncertain => Some(AfterRuns::NotConfirmed),
        Verdict::Deactivated { .. }
        | Verdict::AlreadyDone { .. }
        | Verdict::Reactivated { .. }
        | Verdict::FoundActive
        | Verdict::LeftAlone { .. }
        | Verdict::Failed
        | Verdict::NotApplied
        | Verdict::NoChangePlanned => None,
    }
}
