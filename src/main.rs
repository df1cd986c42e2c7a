//! The `stagecoach` binary: parse the command line and hand over.

use clap::Parser;

fn main() -> std::process::ExitCode {
    stagecoach::memory::return_large_blocks();
    let cli = stagecoach::cli::Cli::parse();
    stagecoach::telemetry::init();
    match stagecoach::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stagecoach: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
