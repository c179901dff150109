//! The summary of a change run, for the terminal: one line per user, coloured by how
//! it ended, and the totals. Part of the shell: the core hands over a `RunSummary`.

use std::fmt::Write as _;

use crate::change::execute::Outcome;
use crate::report::RunSummary;
use crate::style::Palette;
use crate::term;

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
pub fn summarize(run: &RunSummary<'_>, palette: &Palette) -> String {
    let verb = run.action.past();
    let reports = run.reports;
    let mut text = format!("{}\n", term::escape(&run.title));
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
                    format!("dry run: would {} {}", run.action.verb(), keys.join(", "))
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
