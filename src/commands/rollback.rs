//! `keytrim rollback JOURNAL...`: re-activate what applies deactivated.

use crate::change;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::shell::cli::RollbackArgs;
use crate::shell::terminal::Terminal;

use super::{Settings, change_connect, run_options};

pub(super) async fn run(settings: &Settings, args: &RollbackArgs) -> Result<ExitStatus> {
    change::rollback::rollback(
        &change_connect(settings, &args.change),
        &args.journals,
        args.rollback_journal.as_deref(),
        args.org_role.as_deref(),
        &run_options(&args.change),
        &Terminal::new(settings.quiet, settings.color),
    )
    .await
}
