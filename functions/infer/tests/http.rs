//! `POST /inference` over the HTTP API, direct invokes and the streaming function URL, with
//! the offline model: answers, streamed answers, and bad input as problem+json.

use std::sync::Arc;

use infer::offline::OfflineModel;
use infer::{Service, Settings};
use seams_platform::function;
use seams_tests::sample_event;
use serde_json::{json, Value};

fn service() -> Service {
    Service::new(Arc::new(OfflineModel), Settings::default())
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_seed_request_is_answered_by_the_offline_model() {
    let response = function::handle(&service(), sample_event("infer/http-inference.json")).await.unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    let answer = body(&response);
    assert_eq!(answer["request_id"], "req-123");
    assert_eq!(
        answer["output"]["text"],
        "Digital products can be refunded within 14 days of purchase if they have not been downloaded. [ctx-1]"
    );
    assert_eq!(answer["citations"], json!(["ctx-1"]));
    assert_eq!(
        (answer["provider"].as_str(), answer["model"].as_str()),
        (Some("offline"), Some("seams-offline-extractive-v2"))
    );
    assert_eq!(answer["finish_reason"], "stop");
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_direct_invoke_cites_the_passage_ids_it_was_given() {
    let first = function::handle(&service(), sample_event("infer/invoke-inference.json")).await.unwrap();
    assert_eq!(first["citations"], json!(["refund-policy:1:0"]));
    let again = function::handle(&service(), sample_event("infer/invoke-inference.json")).await.unwrap();
    assert_eq!(first["output"], again["output"], "the offline model is deterministic");
}

#[tokio::test]
async fn bad_requests_get_problems_naming_the_field() {
    let cases = [
        (
            json!({"request_id": "r", "instructions": "x", "model_config": {"max_tokens": "many"}}),
            "model_config.max_tokens",
        ),
        (json!({"instructions": "x"}), "request_id"),
        (
            json!({"request_id": "r", "instructions": "x", "model_config": {"temperature": 3}}),
            "model_config.temperature",
        ),
        (json!({"request_id": "r", "instructions": "x", "model_config": {"model": "gpt-5"}}), "model_config.model"),
        (json!({"request_id": "r", "instructions": "x", "stream": true}), "stream"),
    ];
    for (request, field) in cases {
        let mut event = sample_event("infer/http-inference.json");
        event["body"] = Value::String(request.to_string());
        let response = function::handle(&service(), event).await.unwrap();
        assert_eq!(response["statusCode"], 400, "{request}: {response}");
        assert_eq!(response["headers"]["content-type"], "application/problem+json");
        assert_eq!(body(&response)["field"], field, "{request}");
    }
}

#[tokio::test]
async fn the_function_url_streams_deltas_then_the_whole_response() {
    let event = serde_json::from_value(sample_event("infer-stream/http-inference.json")).unwrap();
    let reply = service().stream_http(&event).await;
    assert_eq!((reply.status, reply.content_type), (200, "text/event-stream"));
    assert_eq!(reply.correlation.as_str(), "corr-sample-0002");
    use futures::StreamExt;
    let frames: Vec<String> = reply.body.map(|b| String::from_utf8(b.to_vec()).unwrap()).collect().await;
    let (deltas, done) = frames.split_at(frames.len() - 1);
    let text: String = deltas
        .iter()
        .map(|f| {
            let data: Value = serde_json::from_str(f.trim_start_matches("event: delta\ndata: ").trim()).unwrap();
            data["text"].as_str().unwrap().to_owned()
        })
        .collect();
    let response: Value = serde_json::from_str(done[0].trim_start_matches("event: done\ndata: ").trim()).unwrap();
    assert_eq!(response["output"]["text"], text);
    assert!(text.starts_with("Digital products can be refunded"), "{text}");
    assert_eq!(response["citations"], json!(["refund-policy:1:0"]));
}

#[tokio::test]
async fn the_function_url_refuses_bad_input_with_a_problem_before_streaming() {
    let mut event = sample_event("infer-stream/http-inference.json");
    event["body"] = Value::String(json!({"request_id": "r", "instructions": "", "stream": true}).to_string());
    let reply = service().stream_http(&serde_json::from_value(event).unwrap()).await;
    assert_eq!((reply.status, reply.content_type), (400, "application/problem+json"));
    use futures::StreamExt;
    let body: Vec<bytes::Bytes> = reply.body.collect().await;
    let problem: Value = serde_json::from_slice(&body.concat()).unwrap();
    assert_eq!(problem["field"], "instructions");
}

#[tokio::test]
async fn the_guardrail_sample_is_blocked_naming_the_policy_and_not_the_card() {
    let error = function::handle(&service(), sample_event("infer/invoke-guardrail.json")).await.unwrap_err();
    assert_eq!(error.name, seams_contracts::ErrorName::GuardrailIntervened);
    assert!(error.detail.contains("pii.card_number") && !error.detail.contains("4111"), "{}", error.detail);
}

#[tokio::test]
async fn a_structured_answer_is_masked_string_by_string() {
    let settings = Settings {
        guardrail: infer::guardrail::GuardrailSettings { pii: infer::guardrail::PiiAction::Mask, ..Default::default() },
        ..Settings::default()
    };
    let service = Service::new(Arc::new(OfflineModel), settings);
    let event = json!({"guardrail": {"stage": "answer", "content": {"json": {
        "contact": "mail ops@example.com", "steps": ["call 555-123-4567", "wait"], "days": 14}}}});
    let verdict = function::handle(&service, event).await.unwrap();
    assert_eq!(verdict["action"], "masked");
    assert_eq!(
        verdict["content"],
        json!({"json": {"contact": "mail {EMAIL}", "steps": ["call {PHONE}", "wait"], "days": 14}})
    );
    assert_eq!(verdict["policies"], json!(["pii.email", "pii.phone"]));

    let clean = json!({"guardrail": {"stage": "question", "content": {"text": "How long do refunds take?"}}});
    let verdict = function::handle(&service, clean).await.unwrap();
    assert_eq!(
        (verdict["action"].as_str(), verdict["content"]["text"].as_str()),
        (Some("none"), Some("How long do refunds take?"))
    );
    let unknown = json!({"guardrail": {"stage": "middle", "content": {"text": "x"}}});
    assert_eq!(function::handle(&service, unknown).await.unwrap_err().name, seams_contracts::ErrorName::InvalidInput);
}
