//! A call to one of the HTTP API's routes made without API Gateway in between: the payload
//! 2.0 event its function would get, and the proxy response it answers. `seams up` serves
//! every route this way, and the gateway function calls the other functions this way.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::routes::Route;

/// A request to a route, as the function behind it will see it.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The HTTP API authorizer's context (`requestContext.authorizer`: the JWT's claims),
    /// passed on so the function applies the same caller rules as behind API Gateway.
    pub authorizer: Option<Value>,
}

impl RouteRequest {
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        Self { method: method.to_owned(), path: path.into(), ..Self::default() }
    }

    pub fn json(mut self, body: &impl serde::Serialize) -> Self {
        self.body = serde_json::to_vec(body).unwrap_or_default();
        self.headers.push(("content-type".into(), "application/json".into()));
        self
    }

    pub fn query(mut self, name: &str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name.to_owned(), value.to_string()));
        }
        self
    }

    /// The route it matches and that route's path parameters.
    pub fn route(&self) -> Option<(Route, HashMap<String, String>)> {
        crate::routes::find(&self.method, &self.path)
    }

    /// The API Gateway HTTP API (payload 2.0) event for this request on `route`.
    pub fn event(&self, route: &Route, parameters: &HashMap<String, String>, request_id: &str) -> Value {
        let headers: Map<String, Value> =
            self.headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), json!(value))).collect();
        let (body, encoded) = match std::str::from_utf8(&self.body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(&self.body), true),
        };
        let raw_query = self.query.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&");
        let query: Map<String, Value> = self.query.iter().map(|(name, value)| (name.clone(), json!(value))).collect();
        let mut context = json!({"accountId": "local", "apiId": "seams-local", "domainName": "127.0.0.1",
            "domainPrefix": "seams-local", "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": ""}, "requestId": request_id, "routeKey": route.key,
            "stage": "$default", "time": "", "timeEpoch": 0});
        if let Some(authorizer) = &self.authorizer {
            context["authorizer"] = authorizer.clone();
        }
        json!({
            "version": "2.0", "routeKey": route.key, "rawPath": self.path, "rawQueryString": raw_query,
            "headers": headers, "queryStringParameters": query, "requestContext": context,
            "pathParameters": parameters, "body": body, "isBase64Encoded": encoded,
        })
    }
}

/// A function's proxy response (`{statusCode, headers, body, isBase64Encoded}`).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RouteResponse {
    /// Reads a proxy response; what is not one (no status) is a 502, as API Gateway answers it.
    pub fn from_proxy(response: &Value) -> Self {
        let status = response["statusCode"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(502);
        let headers = response["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
            .collect();
        let body = response["body"].as_str().unwrap_or_default();
        let body = if response["isBase64Encoded"] == json!(true) {
            base64::engine::general_purpose::STANDARD.decode(body).unwrap_or_default()
        } else {
            body.as_bytes().to_vec()
        };
        Self { status, headers, body }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_the_event_api_gateway_would_send() {
        let request = RouteRequest {
            authorizer: Some(json!({"jwt": {"claims": {"tenant": "acme"}}})),
            ..RouteRequest::new("GET", "/documents").query("limit", Some(5)).query("after", None::<String>)
        };
        let (route, parameters) = request.route().unwrap();
        let event = request.event(&route, &parameters, "req-1");
        let parsed: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(crate::http::route_key(&parsed), "GET /documents");
        assert_eq!(crate::http::query_parameter(&parsed, "limit").as_deref(), Some("5"));
        assert_eq!(crate::http::query_parameter(&parsed, "after"), None);
        assert_eq!(event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant"], "acme");
    }

    #[test]
    fn binary_bodies_travel_base64_and_come_back() {
        let mut request = RouteRequest::new("POST", "/documents");
        request.body = vec![0xff, 0x00, 0x10];
        let (route, parameters) = request.route().unwrap();
        let event = request.event(&route, &parameters, "req-2");
        assert_eq!(event["isBase64Encoded"], true);
        let response = RouteResponse::from_proxy(&json!({"statusCode": 201, "body": event["body"],
            "isBase64Encoded": true, "headers": {"content-type": "application/octet-stream"}}));
        assert_eq!((response.status, response.body), (201, vec![0xff, 0x00, 0x10]));
        assert!(RouteResponse::from_proxy(&json!({"not": "a response"})).status == 502);
    }
}
