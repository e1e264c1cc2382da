//! Every function writes its metrics in CloudWatch Embedded Metric Format: one invocation of
//! each, on the local stack with the sample events, read back as EMF documents.

use std::sync::Arc;

use seams::LocalStack;
use seams_platform::function;
use seams_platform::metrics::capture;
use seams_tests::{sample_event, sqs_poller};
use serde_json::Value;

/// The document of `service` with the dimension `extra` (`None`: the general one), checked
/// against the EMF directive it carries.
fn document<'a>(documents: &'a [Value], service: &str, extra: Option<(&str, &str)>) -> &'a Value {
    let found = documents.iter().find(|d| {
        let dimensions = &d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
        d["service"] == service
            && match extra {
                None => dimensions.as_array().is_some_and(|a| a.len() == 2),
                Some((name, value)) => d[name] == value && dimensions[2] == name,
            }
    });
    let document = found.unwrap_or_else(|| panic!("no {service} {extra:?} document in {documents:#?}"));
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Seams");
    assert_eq!(
        (&directive["Dimensions"][0][0], &directive["Dimensions"][0][1]),
        (&"service".into(), &"function".into())
    );
    for metric in directive["Metrics"].as_array().unwrap() {
        let name = metric["Name"].as_str().unwrap();
        assert!(document[name].is_number() || document[name].is_array(), "{name} has no value: {document}");
    }
    document
}

#[tokio::test]
async fn every_function_reports_its_invocations_and_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Arc::new(LocalStack::new(dir.path()).unwrap());

    let (ingested, docs) =
        capture(function::handle(&stack.ingest(), sample_event("ingest/http-post-documents.json"))).await;
    assert_eq!(ingested.unwrap()["statusCode"], 202);
    assert_eq!(document(&docs, "ingest", None)["DocumentsIngested"], 1.0);
    assert_eq!(document(&docs, "ingest", Some(("request", "post-documents")))["Requests"], 1.0);

    let process = stack.process();
    let (_, docs) =
        capture(sqs_poller::deliver(stack.process_queue.as_ref(), |event| process.handle_batch(event))).await;
    let processed = document(&docs, "process", None);
    assert_eq!((processed["DocumentsProcessed"].as_f64(), processed["Messages"].as_f64()), (Some(1.0), Some(1.0)));
    assert!(processed["Chunks"].as_f64().unwrap() >= 1.0 && processed["Tokens"].as_f64().unwrap() > 0.0);

    let indexer = stack.indexer();
    let (_, docs) =
        capture(sqs_poller::deliver(stack.indexer_queue.as_ref(), |event| indexer.handle_batch(event))).await;
    assert!(document(&docs, "retrieve-indexer", None)["ChunksIndexed"].as_f64().unwrap() >= 1.0);

    let (_, docs) = capture(function::handle(&stack.retrieve(), sample_event("retrieve/invoke-retrieve.json"))).await;
    let searched = docs.iter().find(|d| d["service"] == "retrieve" && d.get("mode").is_some()).expect("a mode");
    let mode = searched["mode"].as_str().unwrap();
    let searches = document(&docs, "retrieve", Some(("mode", mode)));
    assert_eq!(searches["Searches"], 1.0);
    assert!(searches["SearchLatency"].as_f64().unwrap() >= 0.0);

    let (_, docs) = capture(function::handle(&stack.infer(), sample_event("infer/invoke-inference.json"))).await;
    let model = document(&docs, "infer", Some(("provider", "offline")));
    assert_eq!(model["ModelCalls"], 1.0);
    assert!(model["InputTokens"].as_f64().unwrap() > 0.0 && model["OutputTokens"].as_f64().unwrap() > 0.0);
    let (_, docs) = capture(function::handle(&stack.infer(), sample_event("infer/invoke-guardrail.json"))).await;
    assert_eq!(document(&docs, "infer", Some(("stage", "question")))["GuardrailBlocked"], 1.0);
    assert_eq!(document(&docs, "infer", Some(("error", "Seams.GuardrailIntervened")))["Errors"], 1.0);

    let output = stack.output();
    let mut delivery = sample_event("output/invoke-delivery.json");
    delivery["destination"] = serde_json::json!({"type": "http_response"});
    let (delivered, docs) = capture(function::handle(output, delivery)).await;
    assert!(delivered.is_ok(), "{delivered:?}");
    assert_eq!(document(&docs, "output", Some(("destination", "http_response")))["Delivered"], 1.0);

    let answer = seams::workflow::answer_service(&stack);
    let (_, docs) = capture(function::handle(&answer, sample_event("answer/http-answer.json"))).await;
    let general = document(&docs, "answer", None);
    assert_eq!(general["Invocations"], 1.0);
    assert!(general["Duration"].as_f64().unwrap() > 0.0);
    // Each step of the workflow is an invocation of its own function, as when deployed.
    assert_eq!(document(&docs, "infer", Some(("provider", "offline")))["ModelCalls"], 1.0);

    let routes = Arc::new(seams::agents::LocalRoutes(stack.clone()));
    let router = gateway::router(gateway::api::Seams::new(routes), gateway::Options::default());
    let event = serde_json::from_value(sample_event("gateway/http-models.json")).unwrap();
    let (_, docs) = capture(gateway::handle_event(router, event)).await;
    assert_eq!(document(&docs, "gateway", Some(("path", "/v1/models")))["Requests"], 1.0);
}
