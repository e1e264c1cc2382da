//! Every sample in events/ is an event its function (or, in answer-workflow/, the answer
//! state machine) accepts, as the request its name says. Samples are named
//! `<trigger>-<request>.json`; the same files drive `sam local invoke -e`
//! and `cargo lambda invoke --data-file`.

use std::path::{Path, PathBuf};

use seams_platform::function::{self, Function, Named};
use seams_platform::trigger::TriggerKind;
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// `(trigger, request name, event)` for every sample of one function.
fn samples(function: &str) -> Vec<(String, String, Value)> {
    let dir = events_dir().join(function);
    let mut samples: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let (trigger, name) =
                stem.split_once('-').unwrap_or_else(|| panic!("{stem}: expected <trigger>-<request>"));
            let text = std::fs::read_to_string(&path).unwrap();
            let event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (trigger.to_owned(), name.to_owned(), event)
        })
        .collect();
    samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert!(!samples.is_empty(), "no samples in {}", dir.display());
    samples
}

fn trigger_of(event: &Value) -> &'static str {
    match TriggerKind::of(event) {
        TriggerKind::Http => "http",
        TriggerKind::Sqs => "sqs",
        TriggerKind::S3 => "s3",
        TriggerKind::EventBridge => "eventbridge",
        TriggerKind::Direct => "invoke",
    }
}

fn assert_function_accepts<F: Function>(function: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (trigger, name, event) in samples(function) {
        assert_eq!(trigger_of(&event), trigger, "{function}/{trigger}-{name}: wrong trigger");
        let request = function::parse::<F>(event).unwrap_or_else(|e| panic!("{function}/{trigger}-{name}: {e}"));
        assert_eq!(request.name(), name, "{function}/{trigger}-{name}");
        names.push(format!("{trigger}-{name}"));
    }
    names
}

/// The records of an SQS sample, each parsed by `parse`.
fn sqs_records<T>(
    event: &Value,
    parse: impl Fn(&aws_lambda_events::sqs::SqsMessage) -> Result<T, seams_platform::ServiceError>,
) -> Vec<T> {
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event.clone()).unwrap();
    event.records.iter().map(|record| parse(record).unwrap_or_else(|e| panic!("{e}"))).collect()
}

#[test]
fn ingest_samples_cover_every_trigger() {
    let names = assert_function_accepts::<ingest::Service>("ingest");
    assert_eq!(
        names,
        [
            "eventbridge-document-deleted",
            "eventbridge-document-published",
            "http-delete-document",
            "http-get-document",
            "http-get-documents",
            "http-post-documents",
            "http-post-documents-batch",
            "http-post-uploads",
            "s3-object-created",
        ]
    );
}

#[test]
fn retrieve_and_infer_samples_parse_as_their_requests() {
    assert_eq!(
        assert_function_accepts::<retrieve::Service>("retrieve"),
        ["http-retrieve", "invoke-merge", "invoke-retrieve"]
    );
    assert_eq!(
        assert_function_accepts::<infer::Service>("infer"),
        [
            "http-inference",
            "invoke-decompose",
            "invoke-guardrail",
            "invoke-implicit-filter",
            "invoke-inference",
            "invoke-rewrite"
        ]
    );
}

#[test]
fn answer_samples_are_answer_requests() {
    assert_eq!(
        assert_function_accepts::<answer::Service>("answer"),
        ["http-answer", "invoke-session-load", "invoke-session-record"]
    );
}

/// The answer workflow's own trigger (the Standard state machine, no function): EventBridge
/// starts it with the event's detail (template.yaml's InputTransformer), an AnswerRequest.
#[test]
fn the_question_asked_sample_is_what_starts_the_answer_workflow() {
    let samples = samples("answer-workflow");
    let names: Vec<_> = samples.iter().map(|(trigger, name, _)| format!("{trigger}-{name}")).collect();
    assert_eq!(names, ["eventbridge-question-asked"]);
    let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
        serde_json::from_value(samples[0].2.clone()).unwrap();
    assert_eq!(trigger_of(&samples[0].2), "eventbridge");
    assert_eq!(
        (event.source.as_str(), event.detail_type.as_str()),
        (seams_contracts::events::SOURCE_UPSTREAM, "QuestionAsked")
    );
    let request: seams_contracts::answer::QuestionAsked = serde_json::from_value(event.detail).unwrap();
    assert_eq!(request.question, "Can digital products be refunded?");
    assert!(matches!(request.destination, seams_contracts::output::Destination::Webhook { .. }));
}

#[test]
fn output_samples_parse_as_delivery_requests() {
    let names = assert_function_accepts::<output::Service>("output");
    assert_eq!(names, ["eventbridge-answer-ready", "invoke-delivery", "sqs-delivery-batch"]);
    let (_, _, batch) = samples("output").into_iter().find(|s| s.0 == "sqs").unwrap();
    assert_eq!(sqs_records(&batch, output::parse_message).len(), 2);
}

#[test]
fn process_samples_carry_claim_checks() {
    for (trigger, _, event) in samples("process") {
        assert_eq!((trigger.as_str(), trigger_of(&event)), ("sqs", "sqs"));
        let claims = sqs_records(&event, process::parse_message);
        assert!(!claims.is_empty());
    }
}

#[test]
fn indexer_samples_parse_as_their_messages() {
    for (trigger, name, event) in samples("retrieve-indexer") {
        assert_eq!((trigger.as_str(), trigger_of(&event)), ("sqs", "sqs"));
        for message in sqs_records(&event, retrieve::indexer::parse_message) {
            assert_eq!(message.name(), name);
        }
    }
}

#[test]
fn stream_samples_are_function_url_requests_for_a_streamed_answer() {
    for (trigger, name, event) in samples("infer-stream") {
        assert_eq!((trigger.as_str(), name.as_str(), trigger_of(&event)), ("http", "inference", "http"));
        let request: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(event).unwrap();
        let body = seams_platform::http::body_bytes(&request).unwrap();
        let inference: seams_contracts::infer::InferenceRequest = serde_json::from_slice(&body).unwrap();
        assert!(inference.stream);
    }
}

/// The gateway is not a [`Function`]: its samples are HTTP API events on its own routes
/// (functions/gateway/tests/lambda.rs runs each).
#[test]
fn gateway_samples_are_requests_on_its_routes() {
    let mut names = Vec::new();
    for (trigger, name, event) in samples("gateway") {
        assert_eq!(trigger_of(&event), trigger, "gateway/{trigger}-{name}: wrong trigger");
        let route = event["routeKey"].as_str().unwrap_or_default();
        let found = seams_platform::routes::ROUTES.iter().find(|r| r.key == route);
        assert_eq!(found.map(|r| r.function), Some("gateway"), "gateway/{trigger}-{name}: {route}");
        names.push(format!("{trigger}-{name}"));
    }
    assert_eq!(names, ["http-chat-completions", "http-mcp-initialize", "http-mcp-tools-call", "http-models"]);
}

#[test]
fn every_events_folder_belongs_to_a_function() {
    let mut folders: Vec<_> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        [
            "answer",
            "answer-workflow",
            "gateway",
            "infer",
            "infer-stream",
            "ingest",
            "output",
            "process",
            "retrieve",
            "retrieve-indexer"
        ]
    );
}
