use aws_lambda_events::sqs::SqsEvent;
use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(process::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let embedder = config.embedder.build(&sdk, seams_embeddings::Purpose::Documents)?;
    let service = process::Service::from_aws(&config, &sdk, embedder);
    seams_platform::function::run_events(|event: SqsEvent| service.handle_batch(event)).await
}
