//! `studio`: parses the command line and hands over to the library.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = studio::cli::Cli::parse();
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "cannot open the database: …".
            eprintln!("studio: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
