//! `keytrim diff OLD NEW`: what changed between two plans of one account.

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::plan;
use crate::shell::cli::{DiffArgs, DiffFormat};
use crate::shell::output;

pub(super) fn run(args: &DiffArgs) -> Result<ExitStatus> {
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
    output::stdout(&text)?;
    Ok(if changes.is_empty() {
        ExitStatus::Ok
    } else {
        ExitStatus::Changed
    })
}
