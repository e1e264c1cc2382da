//! The gateway as Lambda runs it: each sample event in events/gateway/ through
//! `handle_event`, with the routes it calls answered by a stand-in that records them.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use gateway::api::{Routes, Seams};
use seams_contracts::Problem;
use seams_platform::proxy::{RouteRequest, RouteResponse};
use serde_json::{json, Value};

/// Answers `POST /retrieve` and `POST /answer` as those functions would, keeping every call
/// and the X-Ray trace each was made under.
#[derive(Default)]
struct Recorded {
    calls: Mutex<Vec<RouteRequest>>,
    traces: Mutex<Vec<Option<String>>>,
}

#[async_trait]
impl Routes for Recorded {
    async fn call(&self, request: RouteRequest) -> Result<RouteResponse, Problem> {
        let body = match request.path.as_str() {
            "/retrieve" => {
                json!({"results": [{"document_id": "refund-policy", "version": 1, "chunk_id": "refund-policy#0",
                "text": "Refunds are issued within 14 days.", "score": 0.9, "ranks": {"vector": 1},
                "metadata": {"category": "policy"}, "citation": {"title": "Refund policy"}}],
                "search_mode": "hybrid", "embedding_model": "hashing"})
            }
            "/answer" => {
                json!({"request_id": "req-1", "session_id": "s-1", "answer": {"text": "Within 14 days [refund-policy#0]."},
                "citations": [{"id": "refund-policy#0", "document_id": "refund-policy", "title": "Refund policy"}],
                "model": "offline", "delivery": {"request_id": "req-1", "destination": "http_response",
                "status": "delivered", "attempts": 1}})
            }
            other => panic!("the gateway called {other}"),
        };
        self.calls.lock().unwrap().push(request);
        self.traces.lock().unwrap().push(seams_platform::logging::trace_header());
        Ok(RouteResponse { status: 200, headers: vec![], body: body.to_string().into_bytes() })
    }
}

fn sample(name: &str) -> ApiGatewayV2httpRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/gateway").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn handle(name: &str) -> (i64, Value, Arc<Recorded>) {
    let routes = Arc::new(Recorded::default());
    let router = gateway::router(Seams::new(routes.clone()), gateway::Options::default());
    let response = gateway::handle_event(router, sample(name)).await;
    let body = match response.body {
        Some(Body::Text(text)) => text,
        other => panic!("{name}: {other:?}"),
    };
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}: {body}"));
    (response.status_code, body, routes)
}

#[tokio::test]
async fn mcp_initialize_names_the_server_and_its_tools_capability() {
    let (status, body, routes) = handle("http-mcp-initialize.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["serverInfo"]["name"], "seams", "{body}");
    assert!(body["result"]["capabilities"]["tools"].is_object(), "{body}");
    assert!(routes.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_mcp_search_calls_retrieve_for_the_caller_and_answers_passages() {
    let (status, body, routes) = handle("http-mcp-tools-call.json").await;
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(result["isError"], false, "{body}");
    assert_eq!(result["structuredContent"]["passages"][0]["document_id"], "refund-policy");
    assert!(result["content"][0]["text"].as_str().unwrap().starts_with("[1] Refund policy"), "{body}");
    let calls = routes.calls.lock().unwrap();
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!((sent["query"].as_str(), &sent["top_k"]), (Some("How long do refunds take?"), &json!(3)));
    assert_eq!(sent["filters"], json!({"category": "policy"}));
    assert_eq!(calls[0].authorizer.as_ref().unwrap()["jwt"]["claims"]["sub"], "agent-7", "the claims travel on");
    assert!(calls[0].headers.contains(&("x-correlation-id".into(), "corr-sample-0001".into())));
}

/// rmcp runs each tool call in a task of its own: the route call must still be made inside
/// the Lambda invocation, so its X-Ray subsegment and log lines belong to it.
#[tokio::test]
async fn an_mcp_tool_calls_its_route_inside_the_lambda_invocation() {
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let invocation = seams_platform::logging::Invocation {
        request_id: "req-trace".into(),
        trace_id: Some(trace.into()),
        function: "gateway".into(),
        cold_start: false,
    };
    let (status, body, routes) =
        seams_platform::logging::invocation_scope(invocation, handle("http-mcp-tools-call.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(*routes.traces.lock().unwrap(), [Some(trace.to_owned())]);
}

#[tokio::test]
async fn chat_completions_answer_through_the_answer_route() {
    let (status, body, routes) = handle("http-chat-completions.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Within 14 days [1].\n\nSources:\n[1] Refund policy");
    let calls = routes.calls.lock().unwrap();
    assert_eq!(calls[0].path, "/answer");
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(sent["instructions"], "Answer in one sentence.");
    assert_eq!(sent["destination"], json!({"type": "http_response"}));
}

#[tokio::test]
async fn models_lists_seams() {
    let (status, body, _) = handle("http-models.json").await;
    assert_eq!((status, &body["data"][0]["id"]), (200, &json!("seams")));
}

#[tokio::test]
async fn a_body_that_is_not_a_chat_request_is_an_openai_error() {
    let mut event = sample("http-chat-completions.json");
    event.body = Some("{not json".into());
    let router = gateway::router(Seams::new(Arc::new(Recorded::default())), gateway::Options::default());
    let response = gateway::handle_event(router, event).await;
    assert_eq!(response.status_code, 400);
    let Some(Body::Text(body)) = response.body else { panic!("no body") };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
}
