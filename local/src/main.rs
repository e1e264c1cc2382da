//! The `seams` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use seams::{invoke, InvokeError, LocalStack};

#[derive(Parser)]
#[command(name = "seams", version, about = "The seams pipeline on one machine, on embedded defaults.")]
struct Cli {
    /// Where the local buckets live.
    #[arg(long, global = true, default_value = ".seams")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one function's handler on a sample event and prints its response: the offline
    /// twin of `sam local invoke -e` and `cargo lambda invoke --data-file`.
    Invoke {
        /// ingest, process, retrieve, retrieve-indexer, infer or output.
        function: String,
        /// An event file, e.g. events/ingest/http-post-documents.json.
        event: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Invoke { function, event } => {
            if !seams::FUNCTIONS.contains(&function.as_str()) {
                return fail(&InvokeError::UnknownFunction(function).to_string());
            }
            let text = match std::fs::read_to_string(&event) {
                Ok(text) => text,
                Err(e) => return fail(&format!("cannot read {}: {e}", event.display())),
            };
            let event_json = match serde_json::from_str(&text) {
                Ok(json) => json,
                Err(e) => return fail(&format!("{} is not valid JSON: {e}", event.display())),
            };
            let stack = match LocalStack::new(&cli.data_dir) {
                Ok(stack) => stack,
                Err(e) => return fail(&e.to_string()),
            };
            match invoke(&stack, &function, event_json).await {
                Ok(response) => {
                    println!("{}", serde_json::to_string_pretty(&response).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                // Printed as Lambda reports a function error, for the same tooling.
                Err(InvokeError::Handler(error)) => {
                    let reported =
                        serde_json::json!({"errorType": error.name.as_str(), "errorMessage": error.to_string()});
                    println!("{reported}");
                    ExitCode::FAILURE
                }
                Err(other) => fail(&other.to_string()),
            }
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("seams: {message}");
    ExitCode::from(2)
}
