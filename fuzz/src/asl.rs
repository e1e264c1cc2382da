//! The local Step Functions interpreter: a definition's states, paths, templates and
//! intrinsic functions, run to the end.

use std::sync::Arc;

use seams::asl::{Runner, StateError, Tasks};
use serde_json::{json, Value};

/// Every task answers with its parameters, or fails with the error they name
/// (`{"error": "Seams.Transient"}`), so Retry and Catch are reached too.
struct EchoTasks;

#[async_trait::async_trait]
impl Tasks for EchoTasks {
    async fn call(&self, _resource: &str, parameters: Value) -> Result<Value, StateError> {
        match parameters.get("error").and_then(Value::as_str) {
            Some(error) => Err(StateError::new(error, "asked to fail")),
            None => Ok(parameters),
        }
    }
}

/// Target `asl`: the input is a definition, run on a fixed input with waits skipped. It
/// either is refused up front or runs to an end: no hang, no panic.
pub fn run(data: &[u8]) {
    let Ok(definition) = serde_json::from_slice::<Value>(data) else { return };
    let input = json!({"request": {"question": "why?", "top_k": 3, "tags": ["a", "b"]}, "n": 2, "s": "x y"});
    let runner = Runner::new(Arc::new(EchoTasks)).with_time_scale(0.0);
    let _ = crate::runtime().block_on(runner.run(&definition, input));
}
