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

/// Where log lines go: standard error, each line with everything hidden in it
/// written out. A log message can carry text from IAM (an error's message) or from
/// the SDK, so no log line reaches the terminal as a control sequence, whichever
/// call site forgot to escape. Lines stay lines: only the event's own newline is
/// kept, so one event is one line.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl LogWriter {
    /// What the terminal is given for one event's text.
    fn shown(text: &str) -> String {
        let (body, newline) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (text, ""),
        };
        format!("{}{newline}", safe_text::escape(body))
    }
}

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let shown = LogWriter::shown(&String::from_utf8_lossy(bytes));
        std::io::stderr().lock().write_all(shown.as_bytes())?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::LogWriter;

    /// Control sequences inside a log event are written out; the event's own
    /// newline stays, and one inside the event cannot start a forged line.
    #[test]
    fn a_log_line_shows_what_is_hidden_in_it() {
        assert_eq!(
            LogWriter::shown("WARN UpdateAccessKey failed (\u{1b}]0;owned\u{7}); reading back\n"),
            "WARN UpdateAccessKey failed (\\u{1b}]0;owned\\u{7}); reading back\n"
        );
        assert_eq!(
            LogWriter::shown("WARN a\nERROR forged\n"),
            "WARN a\\u{a}ERROR forged\n"
        );
        assert_eq!(LogWriter::shown("plain\n"), "plain\n");
    }
}
