//! `keytrim man`: the man page (roff), from the command line's definition.

use clap::CommandFactory;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::shell::cli::Cli;
use crate::shell::output;

pub(super) fn run() -> Result<ExitStatus> {
    let mut text = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut text)
        .map_err(Error::Stdout)?;
    output::stdout(&String::from_utf8_lossy(&text))?;
    Ok(ExitStatus::Ok)
}
