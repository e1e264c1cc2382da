//! The query API: `POST /retrieve` and direct invokes from Step Functions.

use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(retrieve::Config::from_env(Env::from_process()));
    seams_platform::function::run(retrieve::Service::new(config)).await
}
