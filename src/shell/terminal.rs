//! The person at the terminal, for the change engine: progress bars, the per-user
//! prompt and run summaries, all on standard error.

use std::io::IsTerminal;

use crate::change::Answer;
use crate::change::execute::UserChange;
use crate::change::reporter::{Reporter, RunSummary};
use crate::progress::SharedProgress;

use super::cli::ColorChoice;
use super::style::{self, Palette};

/// The person at the terminal, for the core's change runs: progress bars, prompts and
/// summaries on stderr.
pub(crate) struct Terminal {
    quiet: bool,
    palette: Palette,
}

impl Terminal {
    pub(crate) fn new(quiet: bool, color: ColorChoice) -> Terminal {
        Terminal {
            quiet,
            palette: Palette::new(
                color,
                style::no_color_set(),
                std::io::stderr().is_terminal(),
            ),
        }
    }
}

impl Reporter for Terminal {
    fn progress(&self, what: &'static str) -> SharedProgress {
        super::progress::bar(what, self.quiet)
    }

    fn can_ask(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn ask(&self, work: &UserChange) -> Answer {
        super::prompt::ask(work)
    }

    fn run_finished(&self, run: &RunSummary<'_>) {
        if self.quiet {
            return;
        }
        match run.nothing_to_do {
            Some(nothing) if run.reports.is_empty() => {
                eprintln!("{}\n{nothing}", crate::safe_text::escape(&run.title));
            }
            _ => eprintln!("{}", super::summary::summarize(run, &self.palette)),
        }
    }
}
