//! API Gateway HTTP API requests and responses: bodies, routes, JSON and problem documents.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::header::{HeaderValue, CONTENT_TYPE};
use seams_contracts::{CorrelationId, Problem};
use serde::Serialize;

use crate::error::ServiceError;

/// The request body as bytes, decoding base64 when API Gateway encoded it.
pub fn body_bytes(request: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, ServiceError> {
    let body = request.body.as_deref().unwrap_or_default();
    if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| ServiceError::invalid_input("body", format!("the body is not valid base64: {e}")))
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

/// `"POST /documents"`: the route the request matched (or method and path when no route).
pub fn route_key(request: &ApiGatewayV2httpRequest) -> String {
    match request.route_key.as_deref() {
        Some(route) if route != "$default" => route.to_owned(),
        _ => format!("{} {}", request.request_context.http.method, request.raw_path.as_deref().unwrap_or("/")),
    }
}

/// The caller's `x-correlation-id`, else API Gateway's request id, else a new one.
pub fn correlation_id(request: &ApiGatewayV2httpRequest) -> CorrelationId {
    request
        .headers
        .get(CorrelationId::HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .or_else(|| request.request_context.request_id.clone())
        .map(CorrelationId::new)
        .unwrap_or_else(new_correlation_id)
}

pub fn new_correlation_id() -> CorrelationId {
    CorrelationId::new(uuid::Uuid::new_v4().to_string())
}

fn response(
    status: u16,
    content_type: &'static str,
    body: String,
    correlation: &CorrelationId,
) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(correlation.as_str()) {
        response.headers.insert(CorrelationId::HEADER, value);
    }
    response.body = Some(Body::Text(body));
    response
}

pub fn json<T: Serialize>(status: u16, body: &T, correlation: &CorrelationId) -> ApiGatewayV2httpResponse {
    match serde_json::to_string(body) {
        Ok(text) => response(status, "application/json", text, correlation),
        Err(e) => problem(&ServiceError::transient(format!("could not encode the response: {e}")), correlation),
    }
}

pub fn problem(error: &ServiceError, correlation: &CorrelationId) -> ApiGatewayV2httpResponse {
    let document = error.to_problem(Some(correlation));
    let text = serde_json::to_string(&document).unwrap_or_else(|_| error.to_string());
    response(document.status, Problem::CONTENT_TYPE, text, correlation)
}

/// A route's outcome as a response: its body as JSON with its status, or its error as a
/// problem document.
pub fn reply(
    outcome: Result<(u16, serde_json::Value), ServiceError>,
    correlation: &CorrelationId,
) -> ApiGatewayV2httpResponse {
    match outcome {
        Ok((status, body)) => json(status, &body, correlation),
        Err(error) => {
            tracing::warn!(error = error.name.as_str(), field = error.field.as_deref(), cause = %error.detail, "request refused");
            problem(&error, correlation)
        }
    }
}

/// The `{name}` path parameter of a route such as `GET /documents/{id}`.
pub fn path_parameter(request: &ApiGatewayV2httpRequest, name: &str) -> Result<String, ServiceError> {
    request
        .path_parameters
        .get(name)
        .filter(|value| !value.is_empty())
        .cloned()
        .ok_or_else(|| ServiceError::invalid_input(name, format!("the path has no {name}")))
}

/// A query string parameter (its first value), when present.
pub fn query_parameter(request: &ApiGatewayV2httpRequest, name: &str) -> Option<String> {
    request.query_string_parameters.first(name).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use seams_contracts::ErrorName;

    use super::*;

    fn request(body: &str, base64: bool) -> ApiGatewayV2httpRequest {
        let mut request = ApiGatewayV2httpRequest::default();
        request.body = Some(body.to_owned());
        request.is_base64_encoded = base64;
        request
    }

    #[test]
    fn base64_bodies_are_decoded() {
        assert_eq!(body_bytes(&request("aGk=", true)).unwrap(), b"hi");
        assert_eq!(body_bytes(&request("hi", false)).unwrap(), b"hi");
        let error = body_bytes(&request("***", true)).unwrap_err();
        assert_eq!((error.name, error.field.as_deref()), (ErrorName::InvalidInput, Some("body")));
    }

    #[test]
    fn problems_are_served_as_problem_json_with_their_status() {
        let correlation = CorrelationId::new("c-9");
        let response = problem(&ServiceError::invalid_input("query", "must not be empty"), &correlation);
        assert_eq!(response.status_code, 400);
        assert_eq!(response.headers[CONTENT_TYPE], "application/problem+json");
        assert_eq!(response.headers[CorrelationId::HEADER], "c-9");
        let Some(Body::Text(text)) = response.body else { panic!("no body") };
        let document: Problem = serde_json::from_str(&text).unwrap();
        assert_eq!(document.field.as_deref(), Some("query"));
        assert_eq!(document.type_uri, "urn:seams:problem:invalid-input");
    }

    #[test]
    fn the_callers_correlation_id_is_kept() {
        let mut request = request("", false);
        request.headers.insert(CorrelationId::HEADER, HeaderValue::from_static("from-caller"));
        assert_eq!(correlation_id(&request).as_str(), "from-caller");
    }
}
