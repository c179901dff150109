//! The keytrim binary: parse the command line, set up logging, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use keytrim::cli::Cli;
use tracing_subscriber::EnvFilter;

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "keytrim=info,warn",
        (false, 2) => "keytrim=debug,info",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
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
            return ExitCode::from(keytrim::error::exit::ERROR);
        }
    };
    match runtime.block_on(keytrim::app::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(keytrim::error::Error::StdoutClosed) => ExitCode::from(keytrim::error::exit::OK),
        Err(keytrim::error::Error::Usage(message)) => {
            // keytrim's own usage mistakes look and exit like clap's (exit code 2).
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    keytrim::term::escape(&message),
                )
                .exit()
        }
        Err(err) => {
            let code = err.exit_code();
            // The message may quote a plan or IAM: no control sequence reaches the terminal.
            let message = format!("{:#}", anyhow::Error::from(err));
            eprintln!("keytrim: error: {}", keytrim::term::escape(&message));
            ExitCode::from(code)
        }
    }
}
