//! Hello world on the Lambda runtime: the cold start every Rust function pays at least.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "hello", "echo": event.payload}))
    }))
    .await
}
