//! `POST /answer` over the HTTP API: the Express answer state machine, run synchronously; and
//! the workflow's session steps, on the sessions bucket.

use std::sync::Arc;

use seams_platform::config::{or_exit, Env};
use seams_platform::object_store::S3ObjectStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(answer::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let workflow =
        answer::step_functions::ExpressWorkflow::new(&config.aws, &sdk, &config.state_machine_arn, config.wait);
    let store = S3ObjectStore::new(config.aws.s3(&sdk), &config.sessions_bucket);
    let sessions = answer::sessions::Sessions::new(Arc::new(store), config.session_ttl);
    let service = answer::Service::new(Arc::new(workflow), sessions).with_tenancy(config.tenancy.clone());
    seams_platform::function::run(service).await
}
