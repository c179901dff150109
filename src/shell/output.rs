//! What the commands print: their results on standard output, and lines for people
//! on standard error (summaries, warnings, errors), every string from outside escaped.

use std::io::Write as _;

use crate::error::{Error, Result};
use crate::safe_text;

/// Write a command's result to standard output. A reader that went away is
/// `Error::StdoutClosed`, which ends keytrim quietly (as ripgrep does).
pub(crate) fn stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::BrokenPipe => Error::StdoutClosed,
            _ => Error::Stdout(err),
        })
}

/// A line for people on standard error, as it is: the caller has escaped what came
/// from outside.
pub(crate) fn line(text: &str) {
    eprintln!("{text}");
}

/// A line for people on standard error, with everything hidden in it written out.
pub(crate) fn escaped_line(text: &str) {
    eprintln!("{}", safe_text::escape(text));
}

/// `keytrim: error: ...` on standard error, escaped.
pub(crate) fn error_line(text: &str) {
    eprintln!("keytrim: error: {}", safe_text::escape(text));
}

/// `keytrim: warning: ...` on standard error, escaped.
pub(crate) fn warning_line(text: &str) {
    eprintln!("keytrim: warning: {}", safe_text::escape(text));
}
