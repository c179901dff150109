//! `keytrim completions SHELL`: shell completions, from the command line's definition.

use clap::CommandFactory;

use crate::error::Result;
use crate::exit::ExitStatus;
use crate::shell::cli::{Cli, CompletionsArgs};
use crate::shell::output;

pub(super) fn run(args: &CompletionsArgs) -> Result<ExitStatus> {
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "keytrim", &mut text);
    output::stdout(&String::from_utf8_lossy(&text))?;
    Ok(ExitStatus::Ok)
}
