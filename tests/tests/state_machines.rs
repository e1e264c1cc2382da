//! The answer state machine's real definition (statemachines/answer.asl.json, substitutions
//! filled as template.yaml fills them) executed by moto's Step Functions interpreter. The
//! Lambda tasks get queued results, including function errors; SQS and EventBridge are moto's.
//! Every payload the definition sends a function is checked against that function's contract.

use aws_sdk_sfn::types::ExecutionStatus;
use seams_contracts::guardrail::{GuardrailInvoke, GuardrailStage};
use seams_contracts::infer::InferenceRequest;
use seams_contracts::output::DeliveryRequest;
use seams_contracts::retrieve::{RetrieveRequest, SearchMode};
use seams_tests::answer_scenarios::*;
use seams_tests::step_functions::Deployment;
use serde_json::json;

const HAPPY_STATES: [&str; 12] = [
    "Prepare",
    "ApplyDefaults",
    "NullsToDefaults?",
    "Validate",
    "GuardQuestion?",
    "QuestionAsAsked",
    "Retrieve",
    "HasContext",
    "Infer",
    "GuardAnswer?",
    "Deliver",
    "Answered",
];

#[tokio::test]
async fn a_question_is_retrieved_inferred_and_delivered() {
    let deployment = Deployment::new(&happy_results()).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    assert_eq!(execution.states(), HAPPY_STATES);
    let output = execution.output.clone().expect("an output");
    assert_eq!(output["request_id"], "req-7");
    assert_eq!(output["correlation_id"], "corr-7");
    assert_eq!(output["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
    assert_eq!(output["citations"][0]["document_id"], "refunds");
    assert_eq!(output["citations"][0]["source_uri"], "https://intra/refunds");
    assert_eq!(output["delivery"]["status"], "delivered");
    assert_eq!(output["model"], "seams-offline-extractive-v2");

    // What each function was sent is what its contract accepts.
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-infer", "seams-output"]);
    let retrieve: RetrieveRequest = serde_json::from_value(invocations[0].1.clone()).expect("a RetrieveRequest");
    assert_eq!((retrieve.query.as_str(), retrieve.top_k), (QUESTION, 3));
    assert!(retrieve.filters.is_some());
    assert_eq!(retrieve.correlation_id.map(|c| c.0).as_deref(), Some("corr-7"));
    let infer: InferenceRequest = serde_json::from_value(invocations[1].1.clone()).expect("an InferenceRequest");
    assert_eq!(infer.request_id, "req-7");
    assert!(infer.instructions.ends_with(&format!("Question: {QUESTION}")), "{}", infer.instructions);
    let context = serde_json::to_value(&infer.context).unwrap();
    assert_eq!(context[0]["id"], "refunds:1:0", "retrieve's results are infer's context as they are");
    let deliver: DeliveryRequest = serde_json::from_value(invocations[2].1.clone()).expect("a DeliveryRequest");
    assert_eq!(deliver.result.citations, ["refunds:1:0"]);
    assert_eq!(deliver.metadata["sources"][0]["citation"]["title"], "Refund policy");

    assert!(deployment.messages(&deployment.failures_queue).await.is_empty());
}

#[tokio::test]
async fn a_transient_error_is_retried_and_the_answer_still_delivered() {
    let mut results = vec![function_error("Seams.Transient", "the index is reloading")];
    results.extend(happy_results());
    let deployment = Deployment::new(&results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    assert_eq!(execution.failed_tasks(), ["Seams.Transient"]);
    let functions: Vec<String> = execution.invocations().into_iter().map(|(f, _)| f).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-retrieve", "seams-infer", "seams-output"], "retried once");
    assert_eq!(execution.states(), HAPPY_STATES, "a retry stays in its state");
    assert_eq!(execution.output.unwrap()["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
}

#[tokio::test]
async fn invalid_input_is_not_retried_and_ends_in_the_failures_queue() {
    let results = [function_error("Seams.InvalidInput", "top_k: must be 1 to 100")];
    let deployment = Deployment::new(&results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.InvalidInput"));
    let cause = execution.cause.clone().unwrap_or_default();
    assert!(cause.starts_with("Retrieve failed: ") && cause.contains("top_k: must be 1 to 100"), "{cause}");
    assert_eq!(execution.invocations().len(), 1, "never retried");
    // The happy path up to Retrieve, then the failure branch.
    let expected = [&HAPPY_STATES[..7], &["RetrieveFailed", "RecordFailure", "AnnounceFailure", "Failed"]].concat();
    assert_eq!(execution.states(), expected);

    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["request"]["question"], QUESTION, "the original request is kept");
    assert_eq!(failures[0]["failure"]["step"], "Retrieve");
    assert_eq!(failures[0]["failure"]["error"], "Seams.InvalidInput");
    let announced = deployment.messages(&deployment.announced_queue).await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    let detail: seams_contracts::answer::AnswerFailed =
        serde_json::from_value(announced[0]["detail"].clone()).expect("an AnswerFailed event");
    assert_eq!((detail.step.as_str(), detail.request_id.as_deref()), ("Retrieve", Some("req-7")));
    assert_eq!(detail.error, seams_contracts::ErrorName::InvalidInput);
}

#[tokio::test]
async fn nothing_retrieved_gets_the_no_context_answer_without_the_model() {
    let results = [retrieved(vec![]), receipt("req-7", NO_CONTEXT, json!([]))];
    let deployment = Deployment::new(&results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let states = execution.states();
    assert!(states.contains(&"NoContextAnswer".to_owned()) && !states.contains(&"Infer".to_owned()), "{states:?}");
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-output"], "infer is never invoked");
    let deliver: DeliveryRequest = serde_json::from_value(invocations[1].1.clone()).expect("a DeliveryRequest");
    assert_eq!(serde_json::to_value(&deliver.result.output).unwrap()["text"], NO_CONTEXT);
    assert_eq!(execution.output.unwrap()["answer"]["text"], NO_CONTEXT);
}

#[tokio::test]
async fn a_request_without_a_question_fails_before_any_function() {
    let deployment = Deployment::new(&[]).await;
    let execution = deployment.run(&json!({"destination": {"type": "http_response"}})).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.InvalidInput"));
    assert!(execution.invocations().is_empty());
    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures[0]["failure"]["step"], "Validate");
}

#[tokio::test]
async fn an_upstream_question_whose_optional_fields_are_null_gets_their_defaults() {
    let scenario = null_optional_fields();
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let execution = deployment.run(&scenario.input).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let invocations = execution.invocations();
    let retrieve: RetrieveRequest = serde_json::from_value(invocations[0].1.clone()).expect("a RetrieveRequest");
    assert_eq!((retrieve.top_k, retrieve.search_mode), (5, SearchMode::Hybrid), "the defaults");
    let infer: InferenceRequest = serde_json::from_value(invocations[1].1.clone()).expect("an InferenceRequest");
    assert!(infer.instructions.starts_with(INSTRUCTIONS), "{}", infer.instructions);
}

#[tokio::test]
async fn a_refused_question_with_null_ids_is_recorded_under_the_execution_name() {
    let deployment = Deployment::new(&[]).await;
    let input = json!({"request_id": null, "correlation_id": null, "question": null,
                       "destination": {"type": "http_response"}});
    let execution = deployment.run(&input).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.InvalidInput"));
    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures.len(), 1, "nothing is lost: {:?}", execution.states());
    let execution_name = failures[0]["execution"].as_str().and_then(|arn| arn.rsplit(':').next()).unwrap_or_default();
    assert!(!execution_name.is_empty(), "{failures:?}");
    assert_eq!(failures[0]["request"]["request_id"], execution_name, "{failures:?}");
    assert_eq!(failures[0]["request"]["correlation_id"], execution_name);
}

#[tokio::test]
async fn a_guardrail_masks_the_question_before_retrieval_and_the_answer_before_delivery() {
    let scenario = guarded_and_masked();
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let execution = deployment.run(&scenario.input).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-infer", "seams-retrieve", "seams-infer", "seams-infer", "seams-output"]);
    let question: GuardrailInvoke = serde_json::from_value(invocations[0].1.clone()).expect("a GuardrailInvoke");
    assert_eq!(question.guardrail.stage, GuardrailStage::Question);
    assert_eq!(question.correlation_id.map(|c| c.0).as_deref(), Some("corr-7"), "its logs carry the execution's id");
    assert_eq!(serde_json::to_value(&question.guardrail.content).unwrap(), json!({"text": QUESTION_WITH_EMAIL}));
    let retrieve: RetrieveRequest = serde_json::from_value(invocations[1].1.clone()).expect("a RetrieveRequest");
    assert_eq!(retrieve.query, QUESTION_MASKED, "retrieve gets the masked question");
    let infer: InferenceRequest = serde_json::from_value(invocations[2].1.clone()).expect("an InferenceRequest");
    assert!(infer.instructions.ends_with(QUESTION_MASKED), "{}", infer.instructions);
    let answer: GuardrailInvoke = serde_json::from_value(invocations[3].1.clone()).expect("a GuardrailInvoke");
    assert_eq!(answer.guardrail.stage, GuardrailStage::Answer);
    assert!(serde_json::to_string(&answer.guardrail.content).unwrap().contains("555-123-4567"));
    let deliver: DeliveryRequest = serde_json::from_value(invocations[4].1.clone()).expect("a DeliveryRequest");
    let delivered = serde_json::to_string(&deliver.result.output).unwrap();
    assert!(delivered.contains("{PHONE}") && !delivered.contains("555-123-4567"), "{delivered}");
    assert_eq!(deliver.result.citations, ["refunds:1:0"], "the rest of the result is kept");
    let output = execution.output.unwrap();
    assert_eq!(output["answer"]["text"], "Refunds take 14 days; call {PHONE} [refunds:1:0].");
}

#[tokio::test]
async fn a_blocked_question_ends_as_guardrail_intervened_with_nothing_delivered() {
    let scenario = guarded_and_blocked();
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let execution = deployment.run(&scenario.input).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.GuardrailIntervened"));
    let cause = execution.cause.clone().unwrap_or_default();
    assert!(cause.starts_with("GuardQuestion failed: ") && cause.contains(BLOCKED), "{cause}");
    let functions: Vec<String> = execution.invocations().into_iter().map(|(f, _)| f).collect();
    assert_eq!(functions, ["seams-infer"], "never retried, nothing retrieved or delivered");
    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["failure"]["step"], "GuardQuestion");
    let announced = deployment.messages(&deployment.announced_queue).await;
    let detail: seams_contracts::answer::AnswerFailed =
        serde_json::from_value(announced[0]["detail"].clone()).expect("an AnswerFailed event");
    assert_eq!(detail.error, seams_contracts::ErrorName::GuardrailIntervened);
    assert!(!detail.cause.contains("jane@example.com"), "the event names the policy, not the text");
}
