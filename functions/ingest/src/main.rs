use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(ingest::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    seams_platform::function::run(ingest::Service::from_aws(&config, &sdk)).await
}
