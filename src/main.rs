//! The keytrim binary: parse the command line once, set up logging, run the command,
//! and end with its exit status (an error printed as one line first).

// main is part of the shell: it prints the one-line error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;
use keytrim::exit::ExitStatus;
use keytrim::shell::cli::Cli;
use tracing_subscriber::EnvFilter;

/// Logging to stderr. By default keytrim's own warnings show and its dependencies' only
/// at error level: a credential chain's debug dump is not a new user's first sight,
/// and keytrim says what went wrong in its own line. `-v` brings them back;
/// `KEYTRIM_LOG` (then `RUST_LOG`) replaces the default with a filter of its own.
fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "error,keytrim=warn",
        (false, 1) => "keytrim=info,warn",
        (false, 2) => "keytrim=debug,info",
        (false, _) => "trace",
    };
    let filter = match EnvFilter::try_from_env("KEYTRIM_LOG") {
        Ok(filter) => filter,
        Err(err) => {
            if std::env::var_os("KEYTRIM_LOG").is_some() {
                eprintln!(
                    "keytrim: warning: KEYTRIM_LOG is not a log filter ({}); using the default",
                    keytrim::safe_text::escape(&err.to_string())
                );
            }
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Log lines pass through LogWriter, which writes out every control character:
        // the formatter's own colour codes would show as text.
        .with_ansi(false)
        .with_writer(|| keytrim::shell::LogWriter)
        .with_target(false)
        .init();
}

/// An error and its causes on one line, outermost first: "what failed: why: root". A
/// cause the message already ends with is not said twice.
fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !line.ends_with(&said) {
            line.push_str(": ");
            line.push_str(&said);
        }
        cause = inner.source();
    }
    line
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keytrim: cannot start the async runtime: {err}");
            return ExitStatus::Error.into();
        }
    };
    match runtime.block_on(keytrim::commands::run(cli)) {
        Ok(status) => status.into(),
        Err(keytrim::error::Error::StdoutClosed) => ExitStatus::Ok.into(),
        Err(keytrim::error::Error::Usage(message)) => {
            // keytrim's own usage mistakes look and exit like clap's (exit code 2).
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    keytrim::safe_text::escape(&message),
                )
                .exit()
        }
        Err(err) => {
            let status = err.exit_status();
            // The message may quote a plan or IAM: no control sequence reaches the terminal.
            let message = one_line(&err);
            eprintln!("keytrim: error: {}", keytrim::safe_text::escape(&message));
            status.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_and_its_causes_are_one_line_each_said_once() {
        let write = keytrim::error::Error::Write {
            path: "plans/p.yaml".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            one_line(&write),
            "cannot write plans/p.yaml: permission denied"
        );
    }
}
