//! Lambda's Invoke API (`POST /2015-03-31/functions/<name>/invocations`) served in the test
//! process, as `cargo lambda watch` and `sam local start-lambda` serve it: moto's Step
//! Functions interpreter calls the real handlers through it (`Moto::run_functions_at`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// A function's failure as Lambda reports it: the error's name and message.
pub struct FunctionError {
    pub error_type: String,
    pub message: String,
}

pub type Invocation = Pin<Box<dyn Future<Output = Result<Value, FunctionError>> + Send>>;
/// Runs the named function (the name as invoked, without an ARN) on an event.
pub type Functions = Arc<dyn Fn(String, Value) -> Invocation + Send + Sync>;

/// A running Invoke API; it stops when dropped.
pub struct InvokeApi {
    pub endpoint: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for InvokeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl InvokeApi {
    pub async fn start(functions: Functions) -> InvokeApi {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().expect("a bound port"));
        let app = axum::Router::new()
            .route("/2015-03-31/functions/{name}/invocations", axum::routing::post(invoke))
            .with_state(functions);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        InvokeApi { endpoint, server }
    }
}

async fn invoke(State(functions): State<Functions>, Path(name): Path<String>, body: bytes::Bytes) -> Response {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        let refusal = json!({"Type": "User", "message": "Could not parse request body into json"});
        return (
            StatusCode::BAD_REQUEST,
            [("x-amzn-errortype", "InvalidRequestContentException")],
            refusal.to_string(),
        )
            .into_response();
    };
    match functions(name, event).await {
        Ok(payload) => (StatusCode::OK, [("content-type", "application/json")], payload.to_string()).into_response(),
        // Lambda answers a function error 200, with the error as the payload, flagged.
        Err(error) => (
            StatusCode::OK,
            [("content-type", "application/json"), ("x-amz-function-error", "Unhandled")],
            json!({"errorType": error.error_type, "errorMessage": error.message}).to_string(),
        )
            .into_response(),
    }
}
