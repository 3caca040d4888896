//! `parley config example`: the commented configuration file.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented configuration file with every key at its default.
    Example,
}

pub fn run(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Example => print!("{}", parley::config::EXAMPLE),
    }
    ExitCode::SUCCESS
}
