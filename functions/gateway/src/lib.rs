//! The gateway: where agents and chat tools meet seams. It speaks MCP (streamable HTTP at
//! `/mcp`, stateless) and OpenAI's chat API (`/v1/chat/completions`, `/v1/models`), and
//! answers them by calling seams' own routes for the caller ([`api::Routes`]), so the same
//! authorizer claims and rules apply as on the HTTP API. `seams up` mounts [`router`] as is;
//! the Lambda function feeds it API Gateway events ([`handle_event`]).

pub mod api;
pub mod chat;
#[cfg(feature = "aws")]
pub mod lambda_routes;
pub mod mcp;

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body as EventBody;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use base64::Engine;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use seams_contracts::{CorrelationId, ErrorName, Problem};
use seams_platform::ServiceError;
use tower::ServiceExt;

use crate::api::{Caller, Seams};
use crate::chat::ChatError;
use crate::mcp::SeamsMcp;

/// The largest request the gateway reads (API Gateway's payload limit).
pub const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// List and serve the MCP `ingest_document` tool (`SEAMS_MCP_WRITE_TOOLS`).
    pub write_tools: bool,
    /// `Host` values `/mcp` accepts; `None` accepts any, as behind API Gateway. A server on
    /// the loopback interface keeps the loopback names, against DNS rebinding.
    pub allowed_hosts: Option<Vec<String>>,
}

/// `/mcp`, `/v1/chat/completions` and `/v1/models`.
pub fn router(seams: Seams, options: Options) -> axum::Router {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_BODY);
    config = match options.allowed_hosts {
        Some(hosts) => config.with_allowed_hosts(hosts),
        None => config.disable_allowed_hosts(),
    };
    let mcp = {
        let (seams, write_tools) = (seams.clone(), options.write_tools);
        StreamableHttpService::new(
            move || Ok(SeamsMcp::new(seams.clone(), Caller::default(), write_tools)),
            Arc::new(NeverSessionManager::default()),
            config,
        )
    };
    axum::Router::new()
        .route_service("/mcp", mcp)
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .with_state(seams)
        .layer(axum::middleware::map_request(attach_caller))
}

/// Gives every request its [`Caller`]: the one the Lambda handler attached (with the
/// authorizer's claims), else one read from the headers.
async fn attach_caller(mut request: Request) -> Request {
    if request.extensions().get::<Caller>().is_none() {
        let caller = Caller::from_headers(
            request.headers().iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
        );
        request.extensions_mut().insert(caller);
    }
    request
}

fn openai_error(error: &ChatError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error.body())).into_response()
}

async fn chat_completions(State(seams): State<Seams>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    let request: chat::ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            let problem = Problem::new(ErrorName::InvalidInput, format!("the body is not a chat request: {e}"));
            return openai_error(&ChatError::from_problem(&problem));
        }
    };
    let stream = request.stream;
    let question = match chat::answer_request(request) {
        Ok(question) => question,
        Err(error) => return openai_error(&error),
    };
    let answer = match seams.answer(&caller, &question).await {
        Ok(answer) => answer,
        Err(problem) => return openai_error(&ChatError::from_problem(&problem)),
    };
    let created = chrono::Utc::now().timestamp();
    if stream {
        let body = chat::completion_stream(&answer, created);
        ([("content-type", "text/event-stream"), ("cache-control", "no-cache")], body).into_response()
    } else {
        axum::Json(chat::completion(&answer, created)).into_response()
    }
}

async fn models() -> Response {
    axum::Json(chat::models()).into_response()
}

/// An API Gateway (payload 2.0) event through [`router`], answered as its proxy response.
/// The caller's forwarded headers and authorizer claims ride along as its [`Caller`].
pub async fn handle_event(router: axum::Router, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    seams_platform::metrics::scope("gateway", route_event(router, event)).await
}

async fn route_event(router: axum::Router, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    // Known paths only: a dimension per path a caller invents would be a metric per path.
    let known = ["/mcp", "/v1/chat/completions", "/v1/models"];
    let path = event.raw_path.as_deref().filter(|path| known.contains(path)).unwrap_or("other");
    seams_platform::metrics::count("Requests", 1.0, Some(("path", path.to_owned())));
    match to_request(event) {
        Ok(request) => match router.oneshot(request).await {
            Ok(response) => to_event_response(response).await,
            Err(never) => match never {},
        },
        Err(error) => {
            let problem = error.to_problem(None);
            let body = serde_json::to_string(&problem).unwrap_or_default();
            event_response(problem.status, HeaderMap::new(), Problem::CONTENT_TYPE, body.into_bytes())
        }
    }
}

fn to_request(event: ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
    let body = seams_platform::http::body_bytes(&event)?;
    let path = event.raw_path.as_deref().unwrap_or("/");
    let uri = match event.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut caller = Caller::from_headers(
        event.headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    );
    caller.authorizer = event.request_context.authorizer.as_ref().and_then(|a| serde_json::to_value(a).ok());
    caller.invocation = seams_platform::logging::current_invocation();
    if !caller.headers.iter().any(|(name, _)| name == CorrelationId::HEADER) {
        if let Some(id) = event.request_context.request_id.as_deref() {
            caller.headers.push((CorrelationId::HEADER.to_owned(), id.to_owned()));
        }
    }
    let mut request = Request::builder()
        .method(event.request_context.http.method.clone())
        .uri(&uri)
        .body(Body::from(body))
        .map_err(|e| ServiceError::invalid_input("event", format!("the request cannot be read: {e}")))?;
    *request.headers_mut() = event.headers;
    request.extensions_mut().insert(caller);
    Ok(request)
}

async fn to_event_response(response: Response) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => event_response(parts.status.as_u16(), parts.headers, &content_type, body.to_vec()),
        Err(e) => {
            let problem = Problem::new(ErrorName::Transient, format!("the response could not be read: {e}"));
            let body = serde_json::to_string(&problem).unwrap_or_default();
            event_response(problem.status, HeaderMap::new(), Problem::CONTENT_TYPE, body.into_bytes())
        }
    }
}

fn event_response(status: u16, mut headers: HeaderMap, content_type: &str, body: Vec<u8>) -> ApiGatewayV2httpResponse {
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert("content-type", value);
    }
    let (body, is_base64_encoded) = match String::from_utf8(body) {
        Ok(text) => (text, false),
        Err(bytes) => (base64::engine::general_purpose::STANDARD.encode(bytes.as_bytes()), true),
    };
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = Some(EventBody::Text(body));
    response.is_base64_encoded = is_base64_encoded;
    response
}
