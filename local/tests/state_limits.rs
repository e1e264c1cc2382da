//! The answer workflow within Step Functions' 256 KiB a state: a question whose passages,
//! all of them, would pass it is answered from the best-ranked that fit.

use std::sync::Arc;

use seams::LocalStack;
use seams_contracts::{AttributeValue, CorrelationId};
use seams_platform::function;
use seams_platform::proxy::{RouteRequest, RouteResponse};
use serde_json::{json, Value};

#[tokio::test]
async fn a_question_over_many_long_passages_is_answered_from_those_that_fit() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Arc::new(LocalStack::configured(dir.path(), Default::default()).await.unwrap());
    // 100 documents of one chunk each, every chunk carrying 4,000 characters of its
    // document's attributes: the top 100 come to about 440 KB of JSON.
    for i in 0..100 {
        let summary = format!("Refund notes {i}. ") + &"x".repeat(2_000 - 20);
        let incoming = ingest::Incoming {
            document_id: Some(format!("refunds-{i}")),
            source_uri: None,
            content_type: "text/plain".into(),
            bytes: format!("Refunds for parcel {i} take {} days to reach the card.", 10 + i % 5).into_bytes(),
            attributes: [
                ("summary".to_owned(), AttributeValue::String(summary.clone())),
                ("notes".to_owned(), AttributeValue::String(summary)),
            ]
            .into(),
            tenant: None,
        };
        stack.ingest().ingest_bytes(incoming, &CorrelationId::new("c-1")).await.unwrap();
    }
    assert!(stack.drain().await.unwrap().is_empty());

    let retrieved = function::handle(&stack.retrieve(), json!({"query": "refunds parcel card", "top_k": 100})).await;
    let all = serde_json::to_vec(&retrieved.unwrap()["results"]).unwrap().len();
    assert!(all > 256 * 1024, "the passages alone pass a state's 256 KiB: {all} bytes");

    let answer = ask(
        &stack,
        json!({"question": "How long do refunds for a parcel take?", "top_k": 100,
                                    "destination": {"type": "http_response"}}),
    )
    .await;
    assert!(answer["citations"].as_array().is_some_and(|c| !c.is_empty()), "{answer}");
}

#[tokio::test]
async fn a_passage_whose_attributes_pass_the_workflows_budget_is_answered_from_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Arc::new(LocalStack::configured(dir.path(), Default::default()).await.unwrap());
    // Ingest's most attributes at their longest, in two-byte characters: about 200 KB of JSON
    // on every chunk, twice the workflow's 96 KiB for a question's results.
    let attributes = (0..50).map(|i| (format!("note{i}"), AttributeValue::String("é".repeat(2_048)))).collect();
    let incoming = ingest::Incoming {
        document_id: Some("refunds".into()),
        source_uri: None,
        content_type: "text/plain".into(),
        bytes: b"Refunds for a parcel take 14 days to reach the card.".to_vec(),
        attributes,
        tenant: None,
    };
    stack.ingest().ingest_bytes(incoming, &CorrelationId::new("c-1")).await.unwrap();
    assert!(stack.drain().await.unwrap().is_empty());

    let answer = ask(
        &stack,
        json!({"question": "How long do refunds for a parcel take?",
                                    "destination": {"type": "http_response"}}),
    )
    .await;
    let cited = answer["citations"].as_array().cloned().unwrap_or_default();
    assert!(cited.iter().any(|c| c["document_id"] == "refunds"), "{answer}");
}

/// The answer to `body`, asked over HTTP as a caller would; a 200 is required.
async fn ask(stack: &Arc<LocalStack>, body: Value) -> Value {
    let request = RouteRequest::new("POST", "/answer").json(&body);
    let (route, parameters) = request.route().unwrap();
    let event = request.event(&route, &parameters, "req-limits");
    let service = seams::workflow::answer_service(stack);
    let response = RouteResponse::from_proxy(&function::handle(&service, event).await.unwrap());
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(response.status, 200, "{answer}");
    answer
}
