//! The shell: the only code that prints or draws. `cli` is the command line's types;
//! `output` writes what commands print, and log lines escaped (`LogWriter`);
//! `terminal` is the person at the terminal for the change engine (progress bars from
//! `progress`, prompts from `prompt`, run summaries from `summary`, colour from
//! `style`). Nothing outside the shell and `main` may
//! print: clippy's `print_stdout` and `print_stderr` lints are errors everywhere else.

#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod prompt;
pub(crate) mod style;
pub(crate) mod summary;
pub(crate) mod terminal;

pub use output::LogWriter;
