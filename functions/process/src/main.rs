use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(process::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let embedder = config.embedder.build(&sdk, seams_embeddings::Purpose::Documents)?;
    let service = process::Service::from_aws(&config, &sdk, embedder);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, lambda_runtime::Error>(service.handle_batch(event.payload).await)
    }))
    .await
}
