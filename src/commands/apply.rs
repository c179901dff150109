//! `keytrim apply PLAN...`: replay reviewed plans through the change engine.

use crate::change;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::shell::cli::ApplyArgs;
use crate::shell::terminal::Terminal;

use super::{Settings, change_connect, run_options};

pub(super) async fn run(settings: &Settings, args: &ApplyArgs) -> Result<ExitStatus> {
    let mut options = run_options(&args.change);
    options.max_changes = args
        .max_changes
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    change::apply::apply(
        &change_connect(settings, &args.change),
        &args.plans,
        args.journal.as_deref(),
        args.exemptions.as_deref(),
        args.org_role.as_deref(),
        &options,
        &Terminal::new(settings.quiet, settings.color),
    )
    .await
}
