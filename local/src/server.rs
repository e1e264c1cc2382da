//! `seams up`: the deployed HTTP API's routes on 127.0.0.1, served by the same handlers
//! (each request becomes the API Gateway v2 event Lambda would get), with process and the
//! indexer consuming their queues in the background. `POST /answer` is answer's function
//! running the answer state machine on the local runner. `/mcp` and `/v1/*` are the gateway's
//! router, calling the other routes in process.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use seams_contracts::{ErrorName, Problem};
use seams_platform::object_store::{UploadUrlError, UPLOAD_PATH_PREFIX};
use seams_platform::proxy::{RouteRequest, RouteResponse};
use seams_platform::routes;

use crate::jwt::JwtVerifier;
use crate::{invoke, InvokeError, LocalStack};

/// The largest request body accepted (API Gateway's payload limit).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// How much of an over-limit body is still read, and dropped, before its 413. A client sends
/// the whole body before it reads an answer, so a connection closed while it sends loses the
/// answer: the client sees a reset, not the 413. Past this much the connection is cut.
const DRAIN_PAST_LIMIT: usize = 64 * 1024 * 1024;

enum BodyError {
    TooLarge,
    Unreadable(axum::Error),
}

/// The request body, or why not: over `limit` bytes, or broken off by the client.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let (mut kept, mut seen) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Unreadable)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit.saturating_add(DRAIN_PAST_LIMIT) {
            return Err(BodyError::TooLarge);
        }
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(kept))
}

/// The problem a body that cannot be read is answered with.
fn body_problem(error: BodyError, too_large: String) -> Response {
    match error {
        BodyError::TooLarge => {
            problem(StatusCode::PAYLOAD_TOO_LARGE, &Problem::content_too_large(too_large).with_field("body"))
        }
        BodyError::Unreadable(e) => {
            let problem = Problem::new(ErrorName::InvalidInput, format!("the body cannot be read: {e}"));
            self::problem(StatusCode::BAD_REQUEST, &problem.with_field("body"))
        }
    }
}

/// A function's proxy response as an HTTP response.
fn to_http(response: RouteResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = Response::builder().status(status);
    for (name, value) in &response.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            builder = builder.header(name.as_str(), value);
        }
    }
    builder.body(Body::from(response.body)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn problem(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (status, [("content-type", Problem::CONTENT_TYPE)], body).into_response()
}

async fn handle(State(stack): State<Arc<LocalStack>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let Some((route, parameters)) = routes::find(parts.method.as_str(), &path) else {
        return no_route(parts.method.as_str(), &path);
    };
    let body = match read_body(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => return body_problem(error, format!("a request body is at most {MAX_BODY} bytes")),
    };
    let request = RouteRequest {
        authorizer: parts.extensions.get::<VerifiedClaims>().map(|claims| claims.0.clone()),
        query: parts.uri.query().map(query_pairs).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
        ..RouteRequest::new(parts.method.as_str(), path)
    };
    let event = request.event(&route, &parameters, &uuid::Uuid::new_v4().to_string());
    match invoke(&stack, route.function, event).await {
        Ok(response) => to_http(RouteResponse::from_proxy(&response)),
        Err(InvokeError::Handler(error)) => problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_problem(None)),
        Err(other) => {
            let error = seams_platform::ServiceError::transient(other.to_string());
            eprintln!("seams: {} could not be invoked: {}", route.function, error.detail);
            problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_problem(None))
        }
    }
}

/// 405 with `Allow` for a path served with other methods (RFC 9110 §15.5.6), else 404.
fn no_route(method: &str, path: &str) -> Response {
    let allowed = routes::allowed_methods(path);
    if allowed.is_empty() {
        return problem(StatusCode::NOT_FOUND, &Problem::new(ErrorName::NotFound, format!("no route {method} {path}")));
    }
    let allow = allowed.join(", ");
    let problem = Problem {
        type_uri: format!("{}method-not-allowed", Problem::TYPE_PREFIX),
        title: "The path does not take this method".to_owned(),
        status: 405,
        ..Problem::new(ErrorName::InvalidInput, format!("{path} takes {allow}, not {method}"))
    };
    let mut response = self::problem(StatusCode::METHOD_NOT_ALLOWED, &problem);
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    response
}

/// A PUT to an upload URL ingest handed out ([`LocalStack::serving_uploads`]): answered as S3
/// answers one (200 with the ETag, or 403 for a wrong or expired signature).
async fn upload(State(stack): State<Arc<LocalStack>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let key = parts.uri.path().strip_prefix(UPLOAD_PATH_PREFIX).unwrap_or_default();
    let query = parts.uri.query().map(query_pairs).unwrap_or_default();
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let verified = match stack.upload_signer() {
        Some(signer) => signer.verify(key, &query, content_type, chrono::Utc::now().timestamp()),
        None => Err(UploadUrlError::Incomplete),
    };
    if let Err(refusal) = verified {
        let problem = Problem {
            type_uri: format!("{}upload-url-refused", Problem::TYPE_PREFIX),
            title: "The upload URL does not allow this request".to_owned(),
            status: 403,
            ..Problem::new(ErrorName::InvalidInput, refusal.to_string())
        };
        return self::problem(StatusCode::FORBIDDEN, &problem);
    }
    let limit = usize::try_from(stack.settings().ingest.limits.upload_max_bytes).unwrap_or(usize::MAX);
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(error) => return body_problem(error, format!("an upload is at most {limit} bytes")),
    };
    match stack.receive_upload(key, body).await {
        Ok(stored) => {
            let etag = stored.etag.and_then(|etag| HeaderValue::from_str(&etag).ok());
            let mut response = StatusCode::OK.into_response();
            if let Some(etag) = etag {
                response.headers_mut().insert(axum::http::header::ETAG, etag);
            }
            response
        }
        Err(error) => {
            let error = seams_platform::ServiceError::from(error);
            eprintln!("seams: the upload {key} was not stored: {}", error.detail);
            problem(
                StatusCode::from_u16(error.name.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                &error.to_problem(None),
            )
        }
    }
}

/// The claims of a request's verified bearer token (`seams up --jwt-secret` or `--jwks`).
#[derive(Clone)]
struct VerifiedClaims(serde_json::Value);

/// With a verifier, every route but the signed upload URLs needs a valid bearer token, and
/// its claims travel on as the HTTP API's JWT authorizer passes them; without one, nothing is
/// checked (single-tenant, as a deployment without an authorizer).
async fn authenticate(State(verifier): State<Option<Arc<JwtVerifier>>>, mut request: Request, next: Next) -> Response {
    let Some(verifier) = verifier else {
        return next.run(request).await;
    };
    if request.uri().path().starts_with(UPLOAD_PATH_PREFIX) {
        return next.run(request).await;
    }
    let authorization = request.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok());
    match verifier.claims(authorization) {
        Ok(claims) => {
            let authorizer = serde_json::json!({"jwt": {"claims": claims}});
            let headers = request.headers().clone();
            let mut caller = gateway::api::Caller::from_headers(
                headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
            );
            caller.authorizer = Some(authorizer.clone());
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(VerifiedClaims(authorizer));
            next.run(request).await
        }
        Err(refusal) => {
            let problem = Problem {
                type_uri: format!("{}unauthorized", Problem::TYPE_PREFIX),
                title: "The request has no valid bearer token".to_owned(),
                status: 401,
                ..Problem::new(ErrorName::Forbidden, refusal.to_string())
            };
            let mut response = self::problem(StatusCode::UNAUTHORIZED, &problem);
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish and drains the
/// queues, so everything accepted is processed and indexed before this returns.
pub async fn serve(
    stack: Arc<LocalStack>,
    listener: tokio::net::TcpListener,
    agents: gateway::Options,
    verifier: Option<Arc<JwtVerifier>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let consumer = consume_in_background(stack.clone());
    let seams = gateway::api::Seams::new(Arc::new(crate::agents::LocalRoutes(stack.clone())));
    let local = axum::Router::new()
        .route(&format!("{UPLOAD_PATH_PREFIX}{{*key}}"), axum::routing::put(upload))
        .fallback(handle)
        .with_state(stack.clone());
    // The API's description is public, as a deployed one would be published: added after the
    // token check, so it is not behind it.
    let description = axum::Router::new().route("/openapi.json", axum::routing::get(openapi));
    let app = gateway::router(seams, agents)
        .merge(local)
        .layer(axum::middleware::from_fn_with_state(verifier, authenticate))
        .merge(description);
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    consumer.abort();
    if let Err(error) = stack.drain().await {
        warn_queue(&error.to_string());
    }
    served
}

/// `GET /openapi.json`: the HTTP API's OpenAPI 3.1 document (`docs/openapi.json`), built on
/// the first request, not at start, and kept.
async fn openapi() -> Response {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| seams_platform::openapi::openapi_document().to_string());
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

/// `a=1&b=x%20y` as decoded pairs.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// Process and the indexer consuming their queues, every 200 ms, until aborted.
pub fn consume_in_background(stack: Arc<LocalStack>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = stack.drain().await {
                warn_queue(&error.to_string());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn warn_queue(message: &str) {
    eprintln!("seams: a queue did not answer: {message}");
}
