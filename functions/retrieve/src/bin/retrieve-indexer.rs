//! The indexer: SQS batches of `DocumentProcessed` / `DocumentDeleted` envelopes.

use aws_lambda_events::sqs::SqsEvent;
use retrieve::indexer::{Config, Indexer};
use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(Config::from_env(Env::from_process()));
    let sdk = config.index.aws.load().await;
    let indexer = Indexer::from_config(&config, &sdk).await?;
    seams_platform::function::run_events(|event: SqsEvent| indexer.handle_batch(event)).await
}
