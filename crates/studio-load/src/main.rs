//! `studio-load`: parses the command line and hands over to the library.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = studio_load::cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("studio-load: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
