//! The indexer: SQS batches of `DocumentProcessed` / `DocumentDeleted` envelopes.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use retrieve::indexer::{Config, Indexer};
use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(Config::from_env(Env::from_process()));
    let sdk = config.index.aws.load().await;
    let indexer = Indexer::from_config(&config, &sdk).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, lambda_runtime::Error>(indexer.handle_batch(event.payload).await)
    }))
    .await
}
