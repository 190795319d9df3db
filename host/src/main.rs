//! `host`: parses the command line, dispatches, and maps the outcome to an exit code
//! (0 success, 1 partial, 2 failed, 3 invalid configuration or usage).

mod alloc;
mod cli;
mod commands;
mod console;
mod pipeline_cmd;
mod plugin_new;
mod plugin_test;
mod schedule_cmd;
mod serve_cmd;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use cli::Cli;

/// Exit codes, as documented in the README.
pub(crate) mod exit {
    pub const SUCCESS: u8 = 0;
    pub const PARTIAL: u8 = 1;
    pub const FAILED: u8 = 2;
    pub const USAGE: u8 = 3;
}

fn main() -> ExitCode {
    alloc::tune();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(exit::USAGE),
            };
        }
    };
    // `plugin test` shows the plugin's log lines (info and up) as they come.
    let testing = matches!(cli.command, cli::Command::Plugin(cli::PluginCommand::Test { .. }));
    let verbose = if testing { cli.global.verbose.max(1) } else { cli.global.verbose };
    console::init_logging(verbose, cli.global.log_format);
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {}", describe_error(&error));
            let invalid = error.downcast_ref::<pipeline_cmd::InvalidConfig>().is_some();
            ExitCode::from(if invalid { exit::USAGE } else { exit::FAILED })
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message before it
/// already contains (most of ours spell out their source).
fn describe_error(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}
