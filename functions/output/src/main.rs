use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(output::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    seams_platform::function::run(output::Service::from_aws(&config, &sdk)?).await
}
