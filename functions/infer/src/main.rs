use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use seams_platform::config::{or_exit, Env};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(infer::Config::from_env(Env::from_process()));
    let service = infer::Service::new(config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        service
            .handle(event.payload)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
