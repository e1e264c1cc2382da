//! `POST /answer` over the HTTP API: the Express answer state machine, run synchronously.

use std::sync::Arc;

use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(answer::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let workflow =
        answer::step_functions::ExpressWorkflow::new(&config.aws, &sdk, &config.state_machine_arn, config.wait);
    let service = answer::Service::new(Arc::new(workflow)).with_tenancy(config.tenancy.clone());
    seams_platform::function::run(service).await
}
