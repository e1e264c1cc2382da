//! `POST /answer` against the answer state machine in moto's Step Functions interpreter: the
//! real definition, a synchronous execution, the Lambda tasks' results queued (function errors
//! included). The request is the sample in events/answer; the response is what API Gateway
//! would hand the caller.

use std::sync::Arc;
use std::time::Duration;

use answer::step_functions::ExpressWorkflow;
use aws_sdk_sfn::types::StateMachineType;
use seams_contracts::Problem;
use seams_platform::function;
use seams_tests::answer_scenarios::{function_error, happy_results};
use seams_tests::step_functions::Deployment;
use serde_json::{json, Value};

fn sample_request(body: Option<Value>) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/answer/http-answer.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the sample")).unwrap();
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    event
}

/// Serves `event` with the answer function wired to the answer definition as an Express
/// machine on moto.
async fn answer(deployment: &Deployment, event: Value) -> (u16, String, Value) {
    let machine = deployment.create(StateMachineType::Express).await;
    answer_with(deployment, &machine, Duration::from_secs(28), event).await
}

async fn answer_with(deployment: &Deployment, machine: &str, wait: Duration, event: Value) -> (u16, String, Value) {
    let moto = &deployment.moto;
    let workflow = ExpressWorkflow::new(&moto.settings, &moto.sdk, machine, wait);
    // The workflow's tasks get queued results here, so the session steps never reach the store.
    let store = seams_platform::object_store::FsObjectStore::new(std::env::temp_dir().join("seams-answer-route"));
    let sessions = answer::sessions::Sessions::new(Arc::new(store), Duration::from_secs(3600));
    let service = answer::Service::new(Arc::new(workflow), sessions);
    let response = function::handle(&service, event).await.expect("an HTTP response");
    let status = response["statusCode"].as_u64().expect("a status") as u16;
    let content_type = response["headers"]["content-type"].as_str().unwrap_or_default().to_owned();
    let body = serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body");
    (status, content_type, body)
}

#[tokio::test]
async fn an_answer_is_the_workflows_result() {
    let deployment = Deployment::new(&happy_results()).await;
    let (status, content_type, body) = answer(&deployment, sample_request(None)).await;

    assert_eq!((status, content_type.as_str()), (200, "application/json"), "{body}");
    assert_eq!(body["request_id"], "req-123");
    assert_eq!(body["correlation_id"], "corr-sample-0001", "the caller's x-correlation-id");
    assert_eq!(body["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
    assert_eq!(body["citations"][0]["document_id"], "refunds");
    assert_eq!(body["citations"][0]["title"], "Refund policy");
    assert_eq!(body["citations"][0]["source_uri"], "https://intra/refunds");
    assert_eq!(body["delivery"]["body"], "Refunds take 14 days [refunds:1:0].\n\nSources: Refund policy");
}

#[tokio::test]
async fn a_failing_step_is_a_problem_naming_it() {
    let refused = function_error("Seams.InvalidInput", "Seams.InvalidInput: top_k: must be 1 to 100");
    let deployment = Deployment::new(&[refused]).await;
    let (status, content_type, body) = answer(&deployment, sample_request(None)).await;

    assert_eq!((status, content_type.as_str()), (400, "application/problem+json"), "{body}");
    let problem: Problem = serde_json::from_value(body).expect("a problem document");
    assert_eq!(problem.type_uri, "urn:seams:problem:invalid-input");
    assert_eq!(problem.step.as_deref(), Some("Retrieve"));
    assert_eq!(problem.detail, "Retrieve failed: Seams.InvalidInput: top_k: must be 1 to 100");
    assert_eq!(problem.correlation_id.as_deref(), Some("corr-sample-0001"));
    // Nothing is lost: the request and its failure are in the failures queue.
    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["failure"]["step"], "Retrieve");
    assert_eq!(failures[0]["request"]["request_id"], "req-123");
}

#[tokio::test]
async fn a_failure_after_retries_is_a_transient_problem() {
    let down = function_error("Seams.Transient", "the index is reloading");
    // Infer is tried four times (Retry MaxAttempts 3), then the failure branch runs.
    let results = [happy_results()[0].clone(), down.clone(), down.clone(), down.clone(), down];
    let deployment = Deployment::new(&results).await;
    let (status, _, body) = answer(&deployment, sample_request(None)).await;
    assert_eq!((status, body["step"].as_str()), (503, Some("Infer")), "{body}");
    assert_eq!(body["error"], "Seams.Transient");
    // The step's own cause stays in the execution history and the logs, not in the answer.
    assert!(!body["detail"].as_str().unwrap_or_default().contains("the index is reloading"), "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().starts_with("A dependency is temporarily unavailable"),
        "{body}"
    );
}

#[tokio::test]
async fn a_request_the_contract_refuses_starts_no_execution() {
    let deployment = Deployment::new(&[]).await;
    let body = json!({"question": "How long do refunds take?"});
    let (status, _, problem) = answer(&deployment, sample_request(Some(body))).await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "destination");
    assert!(problem.get("step").is_none(), "refused before the workflow: {problem}");

    // A blank question too (the workflow's Validate step refuses it from upstream events).
    let body = json!({"question": " ", "destination": {"type": "http_response"}});
    let (status, _, problem) = answer(&deployment, sample_request(Some(body))).await;
    assert_eq!((status, problem["field"].as_str(), problem.get("step")), (400, Some("question"), None), "{problem}");
}

#[tokio::test]
async fn an_execution_slower_than_the_wait_is_a_transient_problem() {
    // Below API Gateway's 30 s the caller still gets a problem document.
    let deployment = Deployment::new(&[]).await;
    let slow = json!({"StartAt": "Think", "States": {"Think": {"Type": "Wait", "Seconds": 10, "End": true}}});
    let created = deployment
        .moto
        .sfn()
        .create_state_machine()
        .name("slow-answer")
        .definition(slow.to_string())
        .role_arn("arn:aws:iam::123456789012:role/seams-answer")
        .r#type(StateMachineType::Express)
        .send()
        .await
        .expect("moto creates the state machine");
    let started = std::time::Instant::now();
    let (status, _, problem) =
        answer_with(&deployment, &created.state_machine_arn, Duration::from_secs(1), sample_request(None)).await;
    assert_eq!((status, problem["error"].as_str()), (503, Some("Seams.Transient")), "{problem}");
    assert_eq!(problem["detail"], "the answer workflow did not finish within 1 s");
    assert!(started.elapsed() < Duration::from_secs(8), "answered after {:?}", started.elapsed());
}
