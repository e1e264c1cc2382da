//! The gateway behind the HTTP API's `/mcp` and `/v1/*` routes.

use std::sync::Arc;

use gateway::lambda_routes::{Config, LambdaRoutes};
use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let seams = gateway::api::Seams::new(Arc::new(LambdaRoutes::new(&sdk, config.functions)));
    // API Gateway checks the host; `/mcp` accepts whatever name the API is reached by.
    let options = gateway::Options { write_tools: config.write_tools, allowed_hosts: None };
    let router = gateway::router(seams, options);
    seams_platform::function::run_events(|event| gateway::handle_event(router.clone(), event)).await
}
