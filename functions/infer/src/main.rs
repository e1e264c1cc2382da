//! `POST /inference` over the HTTP API and direct invokes from Step Functions.

use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(infer::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let service = infer::Service::from_config(&config, &sdk).await?;
    seams_platform::function::run(service).await
}
