//! The answer state machine's real definition (statemachines/answer.asl.json, substitutions
//! filled as template.yaml fills them) executed by moto's Step Functions interpreter. The
//! Lambda tasks get queued results, including function errors; SQS and EventBridge are moto's.
//! Every payload the definition sends a function is checked against that function's contract.

use aws_sdk_sfn::types::ExecutionStatus;
use seams_contracts::guardrail::{GuardrailInvoke, GuardrailStage};
use seams_contracts::infer::InferenceRequest;
use seams_contracts::output::DeliveryRequest;
use seams_contracts::retrieve::{RetrieveRequest, SearchMode};
use seams_contracts::session::{RewriteInvoke, SessionInvoke, SessionStep};
use seams_tests::answer_scenarios::*;
use seams_tests::step_functions::Deployment;
use serde_json::json;

const HAPPY_STATES: [&str; 19] = [
    "Prepare",
    "ApplyDefaults",
    "NullsToDefaults?",
    "Validate",
    "GuardQuestion?",
    "QuestionAsAsked",
    "Session?",
    "NewSession",
    "StandsAlone",
    "ImplicitFilter?",
    "CallersFilters",
    "Decompose?",
    "Retrieve",
    "HasContext",
    "Infer",
    "GuardAnswer?",
    "RecordTurn",
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
    let session = output["session_id"].as_str().unwrap_or_default();
    assert_eq!(session.len(), 36, "a new session's id: {output}");

    // What each function was sent is what its contract accepts.
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-infer", "seams-answer", "seams-output"]);
    let retrieve: RetrieveRequest = serde_json::from_value(invocations[0].1.clone()).expect("a RetrieveRequest");
    assert_eq!((retrieve.query.as_str(), retrieve.top_k), (QUESTION, 3));
    assert!(retrieve.filters.is_some());
    assert_eq!(retrieve.correlation_id.map(|c| c.0).as_deref(), Some("corr-7"));
    let infer: InferenceRequest = serde_json::from_value(invocations[1].1.clone()).expect("an InferenceRequest");
    assert_eq!(infer.request_id, "req-7");
    assert!(infer.instructions.ends_with(&format!("Question: {QUESTION}")), "{}", infer.instructions);
    let context = serde_json::to_value(&infer.context).unwrap();
    assert_eq!(context[0]["id"], "refunds:1:0", "retrieve's results are infer's context as they are");
    let record: SessionInvoke = serde_json::from_value(invocations[2].1.clone()).expect("a SessionInvoke");
    let SessionStep::Record { session_id, new, turn, .. } = record.session else { panic!("{record:?}") };
    assert_eq!((session_id.as_str(), new), (session, true), "the turn starts the session returned");
    assert_eq!((turn.question.as_str(), turn.standalone_question.as_str()), (QUESTION, QUESTION));
    assert_eq!(turn.cited, ["refunds:1:0"]);
    let deliver: DeliveryRequest = serde_json::from_value(invocations[3].1.clone()).expect("a DeliveryRequest");
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
    assert_eq!(
        functions,
        ["seams-retrieve", "seams-retrieve", "seams-infer", "seams-answer", "seams-output"],
        "retried once"
    );
    assert_eq!(execution.states(), HAPPY_STATES, "a retry stays in its state");
    assert_eq!(execution.output.unwrap()["answer"]["text"], "Refunds take 14 days [refunds:1:0].");
}

/// Deliver outlasts more of Lambda's own errors than the other steps: each may follow an
/// attempt that delivered (output's ledger answers a repeat with the first receipt), and
/// giving up would leave the answer both delivered and in the failures queue.
#[tokio::test]
async fn a_delivery_outlasts_five_lambda_errors_and_is_not_recorded_as_failed() {
    let mut results = happy_results();
    let receipt = results.pop().expect("the happy path ends with output's receipt");
    for _ in 0..5 {
        results.push(function_error("Lambda.ServiceException", "the function's endpoint answered 500"));
    }
    results.push(receipt);
    let deployment = Deployment::new(&results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let outputs = execution.invocations().into_iter().filter(|(f, _)| f == "seams-output").count();
    assert_eq!(outputs, 6, "five retries");
    assert!(deployment.messages(&deployment.failures_queue).await.is_empty());
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
    let expected = [&HAPPY_STATES[..13], &["RetrieveFailed", "RecordFailure", "AnnounceFailure", "Failed"]].concat();
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
    let results = [retrieved(vec![]), recorded(), receipt("req-7", NO_CONTEXT, json!([]))];
    let deployment = Deployment::new(&results).await;
    let execution = deployment.run(&question()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let states = execution.states();
    assert!(states.contains(&"NoContextAnswer".to_owned()) && !states.contains(&"Infer".to_owned()), "{states:?}");
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(functions, ["seams-retrieve", "seams-answer", "seams-output"], "infer is never invoked");
    let deliver: DeliveryRequest = serde_json::from_value(invocations[2].1.clone()).expect("a DeliveryRequest");
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
    assert_eq!(
        functions,
        ["seams-infer", "seams-retrieve", "seams-infer", "seams-infer", "seams-answer", "seams-output"]
    );
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
    let record: SessionInvoke = serde_json::from_value(invocations[4].1.clone()).expect("a SessionInvoke");
    let SessionStep::Record { turn, .. } = record.session else { panic!("{record:?}") };
    assert_eq!(turn.question, QUESTION_MASKED, "the session keeps the masked question");
    assert!(!serde_json::to_string(&turn.answer).unwrap().contains("555-123-4567"), "and the masked answer");
    let deliver: DeliveryRequest = serde_json::from_value(invocations[5].1.clone()).expect("a DeliveryRequest");
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

#[tokio::test]
async fn a_follow_up_is_rewritten_from_its_session_and_its_turn_recorded() {
    let scenario = follow_up();
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let execution = deployment.run(&scenario.input).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let states = execution.states();
    assert!(states.contains(&"LoadSession".to_owned()) && !states.contains(&"NewSession".to_owned()), "{states:?}");
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        functions,
        ["seams-answer", "seams-infer", "seams-retrieve", "seams-infer", "seams-answer", "seams-output"]
    );
    let load: SessionInvoke = serde_json::from_value(invocations[0].1.clone()).expect("a SessionInvoke");
    assert!(matches!(&load.session, SessionStep::Load { session_id, .. } if session_id == SESSION), "{load:?}");
    let rewrite: RewriteInvoke = serde_json::from_value(invocations[1].1.clone()).expect("a RewriteInvoke");
    assert_eq!(rewrite.rewrite.question, FOLLOW_UP);
    assert_eq!(rewrite.rewrite.history.len(), 1, "the loaded turns");
    let retrieve: RetrieveRequest = serde_json::from_value(invocations[2].1.clone()).expect("a RetrieveRequest");
    assert_eq!(retrieve.query, STANDALONE, "retrieval gets the standalone question");
    let infer: InferenceRequest = serde_json::from_value(invocations[3].1.clone()).expect("an InferenceRequest");
    assert!(infer.instructions.ends_with(STANDALONE), "{}", infer.instructions);
    let record: SessionInvoke = serde_json::from_value(invocations[4].1.clone()).expect("a SessionInvoke");
    let SessionStep::Record { session_id, new, turn, .. } = record.session else { panic!("{record:?}") };
    assert_eq!((session_id.as_str(), new), (SESSION, false));
    assert_eq!((turn.question.as_str(), turn.standalone_question.as_str()), (FOLLOW_UP, STANDALONE));
    assert_eq!(execution.output.unwrap()["session_id"], SESSION);
}

#[tokio::test]
async fn an_unknown_session_fails_as_not_found_before_retrieval() {
    let scenario = unknown_session();
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let execution = deployment.run(&scenario.input).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(execution.error.as_deref(), Some("Seams.NotFound"));
    let cause = execution.cause.clone().unwrap_or_default();
    assert!(cause.starts_with("LoadSession failed: "), "{cause}");
    let functions: Vec<String> = execution.invocations().into_iter().map(|(f, _)| f).collect();
    assert_eq!(functions, ["seams-answer"], "never retried, nothing retrieved");
    let failures = deployment.messages(&deployment.failures_queue).await;
    assert_eq!(failures[0]["failure"]["step"], "LoadSession");
}

#[tokio::test]
async fn a_compound_question_is_retrieved_for_each_part_and_answered_once() {
    let scenario = decomposed();
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let execution = deployment.run(&scenario.input).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{:?} {:?}", execution.error, execution.cause);
    let invocations = execution.invocations();
    let functions: Vec<&str> = invocations.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        functions,
        [
            "seams-infer",
            "seams-retrieve",
            "seams-retrieve",
            "seams-retrieve",
            "seams-infer",
            "seams-answer",
            "seams-output"
        ]
    );
    let decompose: seams_contracts::decompose::DecomposeInvoke =
        serde_json::from_value(invocations[0].1.clone()).expect("a DecomposeInvoke");
    assert_eq!(decompose.decompose.question, COMPOUND);
    let mut queries: Vec<String> = invocations[1..3]
        .iter()
        .map(|(_, payload)| serde_json::from_value::<RetrieveRequest>(payload.clone()).expect("a RetrieveRequest"))
        .inspect(|request| assert_eq!((request.top_k, request.filters.is_some()), (3, true), "{request:?}"))
        .map(|request| request.query)
        .collect();
    queries.sort();
    let mut parts = PARTS.map(str::to_owned).to_vec();
    parts.sort();
    assert_eq!(queries, parts, "one retrieval per part, with the request's search settings");
    let merge: seams_contracts::decompose::MergeInvoke =
        serde_json::from_value(invocations[3].1.clone()).expect("a MergeInvoke");
    assert_eq!((merge.merge.sets.len(), merge.merge.top_k), (2, 3));
    let infer: InferenceRequest = serde_json::from_value(invocations[4].1.clone()).expect("an InferenceRequest");
    assert!(infer.instructions.ends_with(COMPOUND), "answered once, for the whole question");
    assert_eq!(infer.context.len(), 2, "the merged chunks");
    let output = execution.output.unwrap();
    let documents: Vec<&str> =
        output["citations"].as_array().unwrap().iter().filter_map(|c| c["document_id"].as_str()).collect();
    assert_eq!(documents, ["refunds", "shipping"]);
}
