//! Reranking through `POST /retrieve`, with the Bedrock `Rerank` API replayed by a local
//! HTTP server: the documented request asserted field by field, the results reordered with
//! their scores, and throttling and faults mapped to the existing problem types.

use crate::support;

use std::sync::Arc;

use retrieve::rerank::BedrockReranker;
use retrieve::{Fusion, RerankSettings, Service};
use seams_platform::function;
use seams_tests::stack::sdk_for_stand_in;
use serde_json::{json, Value};
use support::{at, document};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODEL_ARN: &str = "arn:aws:bedrock:us-east-1::foundation-model/amazon.rerank-v1:0";

const TEXTS: [&str; 3] = [
    "Digital products can be refunded within 14 days.",
    "Gift cards are never refunded.",
    "Refunds of physical products need the receipt.",
];

/// A keyword service over three chunks that all share the query's words, reranking with
/// the Bedrock reranker pointed at `server`.
async fn service(server: &MockServer, by_default: bool) -> (Service, tempfile::TempDir) {
    let (index, dir) = support::sqlite_index();
    index.upsert(&document("refunds", 1, at(0), &TEXTS, json!({}))).await.unwrap();
    let settings = RerankSettings { model: Some("amazon.rerank-v1:0".into()), by_default, candidates: 50 };
    let reranker = Arc::new(BedrockReranker::new(&sdk_for_stand_in(&server.uri()).await, "amazon.rerank-v1:0"));
    let service = Service::new(index, Arc::new(support::embedder()), Fusion::default());
    (service.with_reranker(reranker, settings), dir)
}

/// The request Bedrock documents for `query` over `passages`, in the search's order.
fn rerank_request(query: &str, passages: &[&str], results: usize) -> Value {
    json!({
        "queries": [{"type": "TEXT", "textQuery": {"text": query}}],
        "sources": passages
            .iter()
            .map(|text| json!({"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}))
            .collect::<Vec<_>>(),
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": results,
                "modelConfiguration": {"modelArn": MODEL_ARN}
            }
        }
    })
}

fn texts(hits: &Value) -> Vec<String> {
    hits["results"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn reranked_results_follow_the_model_and_carry_its_scores() {
    let server = MockServer::start().await;
    let (service, _dir) = service(&server, false).await;
    let query = json!({"query": "refunded products", "search_mode": "keyword", "top_k": 2});
    let plain = function::handle(&service, query.clone()).await.unwrap();
    assert_eq!(texts(&plain).len(), 2);
    assert!(plain["results"][0].get("rerank_score").is_none() && plain.get("rerank_model").is_none());

    // Reranked, the model reads every candidate (not only top_k) and answers best first.
    let all = json!({"query": "refunded products", "search_mode": "keyword", "top_k": 3});
    let mut candidates = texts(&function::handle(&service, all).await.unwrap());
    assert_eq!(candidates.len(), 3);
    let sent: Vec<&str> = candidates.iter().map(String::as_str).collect();
    Mock::given(method("POST"))
        .and(path("/rerank"))
        .and(body_json(rerank_request("refunded products", &sent, 2)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [
                {"index": 1, "relevanceScore": 0.41},
                {"index": 2, "relevanceScore": 0.93}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut request = query.clone();
    request["rerank"] = json!(true);
    let reranked = function::handle(&service, request).await.unwrap();
    let results = reranked["results"].as_array().unwrap();
    let expected = [candidates.remove(2), candidates.remove(1)];
    assert_eq!(texts(&reranked), expected, "best relevance first: {reranked}");
    assert_eq!(results[0]["rerank_score"].as_f64().unwrap(), f64::from(0.93f32));
    assert!(results[0]["score"].as_f64().unwrap() > 0.0, "the search's own score stays");
    assert_eq!(reranked["rerank_model"], "amazon.rerank-v1:0");
}

#[tokio::test]
async fn the_deployment_default_applies_unless_the_request_says() {
    let server = MockServer::start().await;
    Mock::given(path("/rerank"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": [{"index": 0, "relevanceScore": 0.5}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (service, _dir) = service(&server, true).await;
    let by_default = function::handle(&service, json!({"query": "gift cards", "top_k": 1})).await.unwrap();
    assert_eq!(by_default["rerank_model"], "amazon.rerank-v1:0", "{by_default}");
    let declined =
        function::handle(&service, json!({"query": "gift cards", "top_k": 1, "rerank": false})).await.unwrap();
    assert!(declined.get("rerank_model").is_none(), "{declined}");
}

#[tokio::test]
async fn without_a_model_a_rerank_request_is_refused_naming_the_field() {
    let (index, _dir) = support::sqlite_index();
    let service = Service::new(index, Arc::new(support::embedder()), Fusion::default());
    let error = service
        .retrieve(&serde_json::from_value(json!({"query": "gift cards", "rerank": true})).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.field.as_deref(), Some("rerank"));
    assert!(error.detail.contains("SEAMS_RERANK_MODEL"), "{error}");
}

#[tokio::test]
async fn throttling_faults_and_refusals_map_to_the_problem_types() {
    let cases = [
        (429, "ThrottlingException", "Rate exceeded", 429, "urn:seams:problem:model-throttled"),
        (500, "InternalServerException", "Internal failure", 503, "urn:seams:problem:transient"),
        (403, "AccessDeniedException", "You don't have access to the model", 503, "urn:seams:problem:transient"),
        (400, "ValidationException", "1 validation error detected", 400, "urn:seams:problem:invalid-input"),
    ];
    for (status, code, message, expected, problem_type) in cases {
        let server = MockServer::start().await;
        Mock::given(path("/rerank"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("x-amzn-errortype", code)
                    .set_body_json(json!({"message": message})),
            )
            .mount(&server)
            .await;
        let (service, _dir) = service(&server, false).await;
        let mut event = seams_tests::sample_event("retrieve/http-retrieve.json");
        event["body"] = json!({"query": "gift cards", "rerank": true}).to_string().into();
        let response = function::handle(&service, event).await.unwrap();
        assert_eq!(response["statusCode"], expected, "{code}: {response}");
        let problem: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(problem["type"], problem_type, "{code}: {problem}");
        // A refused input is explained; the provider's own failure text stays in the logs.
        assert_eq!(problem["detail"].as_str().unwrap().contains(code), expected == 400, "{problem}");
    }
}
