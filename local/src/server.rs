//! `seams up`: the deployed HTTP API's routes on 127.0.0.1, served by the same handlers
//! (each request becomes the API Gateway v2 event Lambda would get), with process and the
//! indexer consuming their queues in the background. `POST /answer` is answer's function
//! running the answer state machine on the local runner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use seams_contracts::{ErrorName, Problem};
use seams_platform::routes;
use serde_json::{json, Value};

use crate::{invoke, InvokeError, LocalStack};

/// The largest request body accepted (API Gateway's payload limit).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// The API Gateway HTTP API (payload 2.0) event for a request.
fn api_event(
    method: &Method,
    path: &str,
    key: &str,
    headers: &HeaderMap,
    body: &[u8],
    parameters: &HashMap<String, String>,
) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), json!(value.to_str().ok()?))))
        .collect();
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    json!({
        "version": "2.0", "routeKey": key, "rawPath": path, "rawQueryString": "", "headers": headers,
        "requestContext": {"accountId": "local", "apiId": "seams-local", "domainName": "127.0.0.1",
            "domainPrefix": "seams-local", "http": {"method": method.as_str(), "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": ""}, "requestId": request_id, "routeKey": key, "stage": "$default",
            "time": "", "timeEpoch": 0},
        "pathParameters": parameters, "body": body, "isBase64Encoded": encoded,
    })
}

/// A Lambda proxy response as an HTTP response.
fn from_lambda(response: &Value) -> Response {
    let status = response["statusCode"].as_u64().and_then(|s| StatusCode::from_u16(s as u16).ok());
    let mut builder = Response::builder().status(status.unwrap_or(StatusCode::BAD_GATEWAY));
    for (name, value) in response["headers"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str().and_then(|v| HeaderValue::from_str(v).ok()) {
            builder = builder.header(name.as_str(), value);
        }
    }
    let body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"] == json!(true) {
        base64::engine::general_purpose::STANDARD.decode(body).unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    builder.body(Body::from(body)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn problem(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (status, [("content-type", Problem::CONTENT_TYPE)], body).into_response()
}

async fn handle(State(stack): State<Arc<LocalStack>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let Some((route, parameters)) = routes::find(parts.method.as_str(), &path) else {
        let problem = Problem::new(ErrorName::NotFound, format!("no route {} {path}", parts.method));
        return self::problem(StatusCode::NOT_FOUND, &problem);
    };
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => {
            let problem = Problem::content_too_large(format!("the body cannot be read: {e}")).with_field("body");
            return self::problem(StatusCode::PAYLOAD_TOO_LARGE, &problem);
        }
    };
    let event = api_event(&parts.method, &path, route.key, &parts.headers, &body, &parameters);
    match invoke(&stack, route.function, event).await {
        Ok(response) => from_lambda(&response),
        Err(InvokeError::Handler(error)) => problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_problem(None)),
        Err(other) => {
            problem(StatusCode::INTERNAL_SERVER_ERROR, &Problem::new(ErrorName::Transient, other.to_string()))
        }
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish and drains the
/// queues, so everything accepted is processed and indexed before this returns.
pub async fn serve(
    stack: Arc<LocalStack>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let consumer = {
        let stack = stack.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = stack.drain().await {
                    warn_queue(&error.to_string());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let app = axum::Router::new().fallback(handle).with_state(stack.clone());
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    consumer.abort();
    if let Err(error) = stack.drain().await {
        warn_queue(&error.to_string());
    }
    served
}

fn warn_queue(message: &str) {
    eprintln!("seams: a queue did not answer: {message}");
}
