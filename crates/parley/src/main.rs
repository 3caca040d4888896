//! The `parley` binary: parses the command line, sets up logging and hands over
//! to the command that was asked for.

mod cli;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::init_logging(cli.log.as_deref(), cli.default_log_filter());

    match cli.run().await {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line, which is what an
            // admin running a command in a shell needs to see.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
