use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(infer::Config::from_env(Env::from_process()));
    seams_platform::function::run(infer::Service::new(config)).await
}
