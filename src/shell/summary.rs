//! The summary of a change run, for the terminal: one line per user, coloured by how
//! it ended, and the totals. Part of the shell: the core hands over a `RunSummary`.

use std::fmt::Write as _;

use super::style::Palette;
use crate::change::execute::Outcome;
use crate::change::reporter::RunSummary;
use crate::journal::Mode;
use crate::safe_text;

/// How many users ended each way, for the summary's last line.
#[derive(Debug, Default)]
struct Totals {
    verified: usize,
    /// Verified with nothing to change: an earlier run had done it.
    already_done: usize,
    lockout_averted: usize,
    skipped: usize,
    drifted: usize,
    failed: usize,
    unknown: usize,
    unverified: usize,
    dry_run: usize,
    handed_off: usize,
    restored: usize,
}

impl Totals {
    /// Count one user's outcome in its total.
    fn count(&mut self, outcome: &Outcome) {
        let total = match outcome {
            Outcome::Verified { changed, .. } if changed.is_empty() => &mut self.already_done,
            Outcome::Verified { .. } => &mut self.verified,
            Outcome::LockoutAverted { .. } => &mut self.lockout_averted,
            Outcome::WouldChange { .. }
            | Outcome::WouldHandOff { .. }
            | Outcome::WouldRestore { .. } => &mut self.dry_run,
            Outcome::HandedOff { .. } => &mut self.handed_off,
            Outcome::Restored { .. } => &mut self.restored,
            Outcome::Unverified { .. } => &mut self.unverified,
            Outcome::Drifted { .. } | Outcome::PartlyDrifted { .. } => &mut self.drifted,
            Outcome::Failed { .. } | Outcome::JournalFailed { .. } => &mut self.failed,
            Outcome::Unknown { .. } => &mut self.unknown,
            Outcome::Declined
            | Outcome::Held { .. }
            | Outcome::Skipped { .. }
            | Outcome::Limited { .. }
            | Outcome::Stopped { .. } => &mut self.skipped,
        };
        *total += 1;
    }
}

/// One line per user, and the totals. Reasons and errors may quote IAM, so they are
/// escaped for the terminal.
pub(crate) fn summarize(run: &RunSummary<'_>, palette: &Palette) -> String {
    let verb = run.action.past();
    let mut text = format!("{}\n", safe_text::escape(&run.title));
    let width = run
        .reports
        .iter()
        .map(|r| r.user_name.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut totals = Totals::default();
    for report in run.reports {
        totals.count(&report.outcome);
        let words = outcome_line(&report.outcome, run.action);
        let line = safe_text::escape(&words);
        let line = match &report.outcome {
            Outcome::Verified { .. } | Outcome::HandedOff { .. } | Outcome::Restored { .. } => {
                palette.good(&line)
            }
            Outcome::Failed { .. }
            | Outcome::Unknown { .. }
            | Outcome::JournalFailed { .. }
            | Outcome::LockoutAverted { .. }
            | Outcome::Unverified { .. } => palette.bad(&line),
            Outcome::WouldChange { .. }
            | Outcome::WouldHandOff { .. }
            | Outcome::WouldRestore { .. } => line.into_owned(),
            _ => palette.warn(&line),
        };
        let name = safe_text::escape(&report.user_name);
        let _ = writeln!(text, "  {name:<width$} {line}");
    }
    let _ = write!(
        text,
        "{verb}+verified {}, skipped {}, drifted {}, failed {}, unverified {}",
        totals.verified, totals.skipped, totals.drifted, totals.failed, totals.unverified
    );
    if totals.already_done > 0 {
        let _ = write!(text, ", already done {}", totals.already_done);
    }
    if totals.lockout_averted > 0 {
        let _ = write!(
            text,
            ", LOCKOUT AVERTED {} (re-activated: see above)",
            totals.lockout_averted
        );
    }
    if totals.unknown > 0 {
        let _ = write!(text, ", outcome unknown {}", totals.unknown);
    }
    if totals.restored > 0 {
        let _ = write!(text, ", secret moved back {}", totals.restored);
    }
    if totals.handed_off > 0 {
        let _ = write!(text, ", handed off {}", totals.handed_off);
    }
    if totals.dry_run > 0 {
        let _ = write!(text, ", dry run {}", totals.dry_run);
    }
    text
}

/// How one user's work ended, in words; the verbs come from the run's action.
fn outcome_line(outcome: &Outcome, action: Mode) -> String {
    let verb = action.past();
    let after = |changed: &[String]| {
        if changed.is_empty() {
            String::new()
        } else {
            format!(" after {verb} {}", changed.join(", "))
        }
    };
    match outcome {
        Outcome::Verified { changed, unchanged } => {
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
        Outcome::WouldChange { keys, unchanged } if keys.is_empty() => format!(
            "dry run: nothing to do ({} already done)",
            unchanged.join(", ")
        ),
        Outcome::WouldChange { keys, .. } => {
            format!("dry run: would {} {}", action.verb(), keys.join(", "))
        }
        Outcome::Unverified { changed, reason } => {
            format!("{verb} {}, UNVERIFIED: {reason}", changed.join(", "))
        }
        Outcome::Drifted { reason } => format!("drifted, left alone: {reason}"),
        Outcome::PartlyDrifted { changed, reason } => format!(
            "{verb} {}, verified; drifted, left alone: {reason}",
            changed.join(", ")
        ),
        Outcome::LockoutAverted { reason, .. } => format!("LOCKOUT AVERTED: {reason}"),
        Outcome::Failed { changed, error } => format!("FAILED{}: {error}", after(changed)),
        Outcome::Unknown {
            changed,
            key,
            error,
        } => format!("OUTCOME UNKNOWN for {key}{}: {error}", after(changed)),
        Outcome::JournalFailed { changed, error } => {
            format!("STOPPED, journal write failed{}: {error}", after(changed))
        }
        Outcome::HandedOff {
            new_key,
            secret_arn,
        } => format!(
            "handed off: new key {new_key} is AWSCURRENT of {secret_arn}; the old key stays Active until it is idle"
        ),
        Outcome::WouldHandOff { secret_arn } => format!(
            "dry run: would create a new key and hand it off to {secret_arn} (AWSPENDING, then AWSCURRENT)"
        ),
        Outcome::Restored {
            secret_arn,
            new_key,
        } => format!(
            "AWSCURRENT of {secret_arn} moved back to the old key; the new key {new_key} stays Active: delete it once nothing uses it"
        ),
        Outcome::WouldRestore { secret_arn } => {
            format!("dry run: would move AWSCURRENT of {secret_arn} back to the old key")
        }
        Outcome::Declined => "skipped: declined".to_string(),
        Outcome::Held { reason } => format!("skipped: held: {reason}"),
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
        Outcome::Limited { max } => {
            format!("skipped: limit (--max-changes {max} reached; run the plan again to continue)")
        }
        Outcome::Stopped { changed, cause } if changed.is_empty() => {
            format!("skipped: {}", cause.describe())
        }
        Outcome::Stopped { changed, cause } => format!("{}{}", cause.describe(), after(changed)),
    }
}
