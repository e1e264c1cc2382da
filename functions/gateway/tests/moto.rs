//! The deployed adapter, `LambdaRoutes`, against moto's Lambda: what it sends is the event
//! the function would get from the HTTP API (its shape and claims: `seams_platform::proxy`'s
//! tests), and what comes back is read as API Gateway reads
//! it (a proxy response, or a function error as a transient problem).

use std::collections::HashMap;

use gateway::api::Routes;
use gateway::lambda_routes::LambdaRoutes;
use seams_contracts::ErrorName;
use seams_platform::proxy::RouteRequest;
use seams_tests::stack::Moto;
use serde_json::json;

fn functions() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ingest", "seams-ingest".to_owned()),
        ("retrieve", "seams-retrieve".to_owned()),
        ("answer", "seams-answer".to_owned()),
    ])
}

#[tokio::test]
async fn a_route_call_invokes_its_function_and_reads_the_proxy_response() {
    let moto = Moto::isolated().await;
    let answer = json!({"statusCode": 200, "headers": {"content-type": "application/json"},
        "body": "{\"results\": []}", "isBase64Encoded": false});
    moto.queue_lambda_results(&[answer]).await;
    let routes = LambdaRoutes::new(&moto.sdk, functions());
    let response = routes.call(RouteRequest::new("POST", "/retrieve").json(&json!({"query": "q"}))).await.unwrap();
    assert_eq!((response.status, response.body.as_slice()), (200, b"{\"results\": []}".as_slice()));
}

#[tokio::test]
async fn the_function_gets_the_request_as_its_event() {
    let moto = Moto::isolated().await;
    // With nothing queued, moto's Lambda answers the payload it was sent: the event, which
    // is not a proxy response (API Gateway would answer 502) but carries the body sent.
    moto.queue_lambda_results(&[]).await;
    let routes = LambdaRoutes::new(&moto.sdk, functions());
    let echoed = routes.call(RouteRequest::new("POST", "/answer").json(&json!({"question": "q"}))).await.unwrap();
    assert_eq!((echoed.status, echoed.body), (502, br#"{"question":"q"}"#.to_vec()));
}

#[tokio::test]
async fn a_function_error_is_transient_and_names_the_function() {
    let moto = Moto::isolated().await;
    moto.queue_lambda_results(&[json!({"errorType": "Runtime.ExitError", "errorMessage": "boom"})]).await;
    let routes = LambdaRoutes::new(&moto.sdk, functions());
    let problem = routes.call(RouteRequest::new("GET", "/documents")).await.unwrap_err();
    assert_eq!(problem.error, ErrorName::Transient);
    assert!(
        problem.detail.contains("seams-ingest failed (Unhandled)") && problem.detail.contains("boom"),
        "{}",
        problem.detail
    );
}

#[tokio::test]
async fn routes_the_gateway_does_not_call_are_refused_without_an_invoke() {
    let moto = Moto::isolated().await;
    let routes = LambdaRoutes::new(&moto.sdk, functions());
    let problem = routes.call(RouteRequest::new("POST", "/inference")).await.unwrap_err();
    assert_eq!(problem.error, ErrorName::NotFound);
    let problem = routes.call(RouteRequest::new("GET", "/nowhere")).await.unwrap_err();
    assert_eq!(problem.error, ErrorName::NotFound);
}
