//! The local state machine runner: its semantics on small definitions, and the answer
//! workflow's scenarios run both here and in moto's Step Functions interpreter, which must
//! agree on the states entered and the final output or error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use seams::asl::{Runner, StateError, Tasks, Transition, MAX_PAYLOAD_BYTES};
use seams_tests::answer_scenarios::{self, function_error_cause, Scenario};
use seams_tests::step_functions::Deployment;
use serde_json::{json, Value};

const LAMBDA: &str = "arn:aws:states:::lambda:invoke";

/// Lambda tasks get queued results (function errors as Lambda reports them); every other
/// integration answers `{}`. Every call is kept.
#[derive(Default)]
struct Queued {
    results: Mutex<VecDeque<Value>>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl Queued {
    fn new(results: Vec<Value>) -> Arc<Self> {
        Arc::new(Self { results: Mutex::new(results.into()), calls: Mutex::default() })
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Tasks for Queued {
    async fn call(&self, resource: &str, parameters: Value) -> Result<Value, StateError> {
        self.calls.lock().unwrap().push((resource.to_owned(), parameters));
        if resource != LAMBDA {
            return Ok(json!({}));
        }
        let result = self.results.lock().unwrap().pop_front().unwrap_or(Value::Null);
        match function_error_cause(&result) {
            Some((error, cause)) => Err(StateError::new(error, cause)),
            None => Ok(json!({"Payload": result, "StatusCode": 200})),
        }
    }
}

fn runner(tasks: Arc<Queued>) -> Runner {
    Runner::new(tasks).with_time_scale(0.001)
}

async fn cross_check(scenario: Scenario) {
    let deployment = Deployment::new(&scenario.lambda_results).await;
    let on_moto = deployment.run(&scenario.input).await;

    let definition: Value = serde_json::from_str(&deployment.definition()).unwrap();
    let tasks = Queued::new(scenario.lambda_results.clone());
    let local = runner(tasks).run(&definition, scenario.input.clone()).await.expect("a supported definition");

    let moto_states = on_moto.states();
    assert_eq!(local.states(), moto_states, "{}: the same states in the same order", scenario.name);
    match &local.output {
        Ok(output) => {
            assert_eq!(on_moto.status, aws_sdk_sfn::types::ExecutionStatus::Succeeded, "{}", scenario.name);
            let (mut output, mut on_moto) = (output.clone(), on_moto.output.clone().unwrap_or_default());
            if scenario.input.get("session_id").is_none() {
                // A new session's id is a fresh UUID in each: the same shape, then set aside.
                for output in [&mut output, &mut on_moto] {
                    let id = output.as_object_mut().and_then(|o| o.remove("session_id"));
                    assert_eq!(id.as_ref().and_then(Value::as_str).map(str::len), Some(36), "{}", scenario.name);
                }
            }
            assert_eq!(output, on_moto, "{}: the same output", scenario.name);
        }
        Err(error) => {
            assert_eq!(on_moto.status, aws_sdk_sfn::types::ExecutionStatus::Failed, "{}", scenario.name);
            assert_eq!(Some(&error.error), on_moto.error.as_ref(), "{}: the same error", scenario.name);
            assert_eq!(Some(&error.cause), on_moto.cause.as_ref(), "{}: the same cause", scenario.name);
        }
    }
}

#[tokio::test]
async fn the_happy_path_matches_moto() {
    cross_check(answer_scenarios::happy_path()).await;
}

#[tokio::test]
async fn null_optional_fields_match_moto() {
    cross_check(answer_scenarios::null_optional_fields()).await;
}

#[tokio::test]
async fn a_retried_transient_error_matches_moto() {
    cross_check(answer_scenarios::transient_then_success()).await;
}

#[tokio::test]
async fn caught_invalid_input_matches_moto() {
    cross_check(answer_scenarios::invalid_input()).await;
}

#[tokio::test]
async fn the_no_context_branch_matches_moto() {
    cross_check(answer_scenarios::no_context()).await;
}

#[tokio::test]
async fn a_missing_question_matches_moto() {
    cross_check(answer_scenarios::no_question()).await;
}

#[tokio::test]
async fn a_masking_guardrail_matches_moto() {
    cross_check(answer_scenarios::guarded_and_masked()).await;
}

#[tokio::test]
async fn a_blocking_guardrail_matches_moto() {
    cross_check(answer_scenarios::guarded_and_blocked()).await;
}

#[tokio::test]
async fn a_follow_up_in_a_session_matches_moto() {
    cross_check(answer_scenarios::follow_up()).await;
}

#[tokio::test]
async fn an_unknown_session_matches_moto() {
    cross_check(answer_scenarios::unknown_session()).await;
}

#[tokio::test]
async fn a_decomposed_question_matches_moto() {
    cross_check(answer_scenarios::decomposed()).await;
}

#[test]
fn every_scenario_is_cross_checked() {
    // Eleven scenarios, eleven cross-check tests above: a new scenario needs one.
    assert_eq!(answer_scenarios::all().len(), 11);
}

fn task(next: &str, extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": LAMBDA, "Parameters": {"FunctionName": "f", "Payload.$": "$"},
                           "Next": next});
    state.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    state
}

#[tokio::test]
async fn retriers_apply_in_order_and_stop_after_max_attempts() {
    let definition = json!({"StartAt": "Call", "States": {
        "Call": task("Done", json!({"Retry": [
            {"ErrorEquals": ["Never"], "MaxAttempts": 0},
            {"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}]})),
        "Done": {"Type": "Succeed"}}});
    let flaky = || json!({"errorType": "Flaky", "errorMessage": "again"});

    // Two Flaky retries are allowed; the third Flaky failure ends the execution.
    let tasks = Queued::new(vec![flaky(), flaky(), flaky(), json!("unused")]);
    let execution = runner(tasks.clone()).run(&definition, json!({})).await.unwrap();
    assert_eq!(retry_delays(&execution), [1, 2], "IntervalSeconds then × BackoffRate (scaled to ms)");
    assert_eq!(execution.output.unwrap_err().error, "Flaky");
    assert_eq!(tasks.calls().len(), 3);

    // `Never` matches the first retrier, whose MaxAttempts 0 means no retry at all.
    let tasks = Queued::new(vec![json!({"errorType": "Never", "errorMessage": "no"}), json!("unused")]);
    let execution = runner(tasks.clone()).run(&definition, json!({})).await.unwrap();
    assert_eq!(execution.output.unwrap_err().error, "Never");
    assert_eq!(tasks.calls().len(), 1);

    // Anything else: one retry from States.ALL, then success.
    let tasks = Queued::new(vec![json!({"errorType": "Other", "errorMessage": "x"}), json!({"ok": true})]);
    let execution = runner(tasks).run(&definition, json!({})).await.unwrap();
    assert_eq!(execution.output.unwrap()["Payload"], json!({"ok": true}));
}

fn retry_delays(execution: &seams::asl::Execution) -> Vec<u64> {
    execution
        .transitions
        .iter()
        .filter_map(|t| match t {
            Transition::Retrying { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn backoff_is_capped_by_max_delay_and_full_jitter_stays_below_it() {
    let definition = |jitter: &str| {
        json!({"StartAt": "Call", "States": {"Call": task("Done", json!({"Retry": [{"ErrorEquals": ["States.ALL"],
            "IntervalSeconds": 10, "BackoffRate": 3.0, "MaxAttempts": 3, "MaxDelaySeconds": 15, "JitterStrategy": jitter}]})),
            "Done": {"Type": "Succeed"}}})
    };
    let failing = || vec![json!({"errorType": "X", "errorMessage": "x"}); 3].into_iter().chain([json!({})]).collect();

    let execution = runner(Queued::new(failing())).run(&definition("NONE"), json!({})).await.unwrap();
    assert!(execution.output.is_ok());
    let delays = retry_delays(&execution);
    let expected = [10u64, 15, 15]; // 10 s, then 30 s and 90 s capped at 15 s (scaled to ms)
    assert!(delays.len() == 3 && delays.iter().zip(expected).all(|(d, e)| d.abs_diff(e) <= 1), "{delays:?}");

    let execution = runner(Queued::new(failing())).run(&definition("FULL"), json!({})).await.unwrap();
    let delays = retry_delays(&execution);
    assert_eq!(delays.len(), 3);
    assert!(delays[0] <= 10 && delays[1] <= 15 && delays[2] <= 15, "{delays:?}");
}

#[tokio::test]
async fn catch_keeps_the_input_under_its_result_path_and_fail_reads_paths() {
    let definition = json!({"StartAt": "Call", "States": {
        "Call": task("Unreached", json!({"Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]})),
        "Unreached": {"Type": "Succeed"},
        "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "States.Format('{} / {}', $.keep, $.error.Cause)"}}});
    let tasks = Queued::new(vec![json!({"errorType": "Seams.InvalidInput", "errorMessage": "bad"})]);
    let execution = runner(tasks).run(&definition, json!({"keep": "original"})).await.unwrap();
    let error = execution.output.unwrap_err();
    assert_eq!(error.error, "Seams.InvalidInput");
    assert_eq!(error.cause, r#"original / {"errorType":"Seams.InvalidInput","errorMessage":"bad"}"#);
    assert_eq!(execution.transitions.iter().filter(|t| matches!(t, Transition::Caught { .. })).count(), 1);
}

#[tokio::test]
async fn a_task_past_its_timeout_fails_with_states_timeout() {
    struct Slow;
    #[async_trait]
    impl Tasks for Slow {
        async fn call(&self, _: &str, _: Value) -> Result<Value, StateError> {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Ok(json!({}))
        }
    }
    let definition = json!({"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": 0.05, "End": true}}});
    let execution = Runner::new(Arc::new(Slow)).run(&definition, json!({})).await.unwrap();
    assert_eq!(execution.output.unwrap_err().error, "States.Timeout");
}

#[tokio::test]
async fn choice_pass_wait_and_paths_shape_the_data() {
    let definition = json!({"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 10}, {"Variable": "$.name", "StringMatches": "doc-*.md"}], "Next": "Big"},
            {"Not": {"Variable": "$.flag", "IsPresent": true}, "Next": "Small"}], "Default": "Other"},
        "Big": {"Type": "Pass", "InputPath": "$.name", "ResultPath": "$.seen", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 10, "Next": "Shape"},
        "Shape": {"Type": "Pass", "Parameters": {"label.$": "States.Format('{}:{}', $.seen, $.n)", "fixed": [1]}, "OutputPath": "$.label", "End": true},
        "Small": {"Type": "Pass", "Result": "small", "End": true},
        "Other": {"Type": "Pass", "Result": "other", "End": true}}});
    let run = |input: Value| {
        let definition = definition.clone();
        async move { runner(Queued::new(vec![])).run(&definition, input).await.unwrap() }
    };
    let big = run(json!({"n": 12, "name": "doc-1.md"})).await;
    assert_eq!(big.states(), ["Route", "Big", "Pause", "Shape"]);
    assert_eq!(big.output.unwrap(), "doc-1.md:12");
    assert_eq!(run(json!({"n": 1, "name": "x"})).await.output.unwrap(), "small");
    assert_eq!(run(json!({"n": 1, "name": "x", "flag": true})).await.output.unwrap(), "other");
}

#[tokio::test]
async fn maps_keep_item_order_and_parallel_branches_give_an_array() {
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                 "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                 "ItemProcessor": {"StartAt": "Double", "States": {"Double": {"Type": "Pass",
                     "Parameters": {"label.$": "States.Format('{}#{}', $.value, $.index)"}, "End": true}}},
                 "ResultPath": "$.mapped", "Next": "Both"},
        "Both": {"Type": "Parallel", "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": true}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "InputPath": "$.mapped[1].label", "End": true}}}],
                 "ResultPath": "$.both", "End": true}}});
    let execution = runner(Queued::new(vec![])).run(&definition, json!({"items": ["x", "y", "z"]})).await.unwrap();
    let output = execution.output.unwrap();
    assert_eq!(output["mapped"], json!([{"label": "x#0"}, {"label": "y#1"}, {"label": "z#2"}]));
    assert_eq!(output["both"], json!(["a", "y#1"]));
}

#[tokio::test]
async fn a_distributed_map_tolerates_failures_up_to_its_threshold_and_writes_a_summary() {
    let definition = |tolerated: u32| {
        json!({"StartAt": "Each", "States": {"Each": {"Type": "Map",
            "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "docs", "Prefix": ""}},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                              "StartAt": "Call", "States": {"Call": task("", json!({})).as_object().map(|o| {
                                  let mut o = o.clone(); o.remove("Next"); o.insert("End".into(), json!(true)); Value::Object(o)
                              }).unwrap()}},
            "ToleratedFailurePercentage": tolerated,
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "reports", "Prefix": "runs"}},
            "End": true}}})
    };
    struct Listing(Queued);
    #[async_trait]
    impl Tasks for Listing {
        async fn call(&self, resource: &str, parameters: Value) -> Result<Value, StateError> {
            if resource.ends_with("listObjectsV2") {
                return Ok(json!({"Contents": [{"Key": "a.md"}, {"Key": "b.md"}, {"Key": "c.md"}, {"Key": "d.md"}]}));
            }
            self.0.call(resource, parameters).await
        }
    }
    let results =
        || vec![json!(1), json!({"errorType": "Seams.InvalidInput", "errorMessage": "x"}), json!(3), json!(4)];

    let listing = Arc::new(Listing(Queued { results: Mutex::new(results().into()), calls: Mutex::default() }));
    let execution = Runner::new(listing.clone()).run(&definition(25), json!({})).await.unwrap();
    let output = execution.output.expect("one failure in four is within 25 %");
    let key = output["ResultWriterDetails"]["Key"].as_str().unwrap();
    assert!(key.starts_with("runs/") && key.ends_with("/manifest.json"), "{key}");
    let written = listing.0.calls().into_iter().find(|(r, _)| r.ends_with("putObject")).unwrap().1;
    assert_eq!((written["Body"]["total"].clone(), written["Body"]["failed"].clone()), (json!(4), json!(1)));

    let listing = Arc::new(Listing(Queued { results: Mutex::new(results().into()), calls: Mutex::default() }));
    let execution = Runner::new(listing).run(&definition(20), json!({})).await.unwrap();
    assert_eq!(execution.output.unwrap_err().error, "States.ExceedToleratedFailureThreshold");
}

#[tokio::test]
async fn unsupported_constructs_are_refused_naming_the_state() {
    let refused = |definition: Value| async move {
        Runner::new(Queued::new(vec![])).run(&definition, json!({})).await.unwrap_err()
    };
    let error = refused(json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": LAMBDA, "HeartbeatSeconds": 5, "End": true}}})).await;
    assert_eq!(
        (error.state.as_str(), error.problem.as_str()),
        ("A", "HeartbeatSeconds is not supported on a Task state")
    );
    let error =
        refused(json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}})).await;
    assert!(error.problem.contains("JSONata"), "{error}");
    let error = refused(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})).await;
    assert_eq!(error.to_string(), r#"state "A": Next "Nowhere" is not a state"#);
    let error = refused(json!({"StartAt": "A", "States": {"A": {"Type": "Bogus"}}})).await;
    assert_eq!(error.problem, r#"state type "Bogus" is not supported"#);
    let error = refused(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}})).await;
    assert_eq!(error.to_string(), r#"state "A": neither Next nor End"#);
    let error = refused(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "ResultPath": 3, "End": true}}}}}}))
    .await;
    assert_eq!(error.state, "P", "a nested state is named itself: {error}");
}

#[tokio::test]
async fn both_shipped_definitions_are_accepted() {
    for file in ["answer", "backfill"] {
        let text = std::fs::read_to_string(format!("{}/../statemachines/{file}.asl.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
        let definition: Value = serde_json::from_str(&text).unwrap();
        // An empty input runs the answer machine to its Validate failure, the backfill to a
        // path error: both past the definition check.
        let execution = Runner::new(Queued::new(vec![])).run(&definition, json!({})).await;
        assert!(execution.is_ok(), "{file}: {:?}", execution.err());
    }
}

#[tokio::test]
async fn a_definition_that_never_ends_fails_at_step_functions_history_limit() {
    let definition = json!({"StartAt": "Again", "States": {"Again": {"Type": "Pass", "Next": "Again"}}});
    let execution = runner(Queued::new(vec![])).run(&definition, json!({})).await.unwrap();
    let error = execution.output.unwrap_err();
    assert_eq!(error.error, "States.Runtime");
    assert!(error.cause.contains("25000"), "{}", error.cause);
}

#[tokio::test]
async fn past_256_kib_a_state_fails_with_data_limit_exceeded_which_no_states_all_catches() {
    let definition = json!({"StartAt": "Call", "States": {
        "Call": task("Done", json!({"Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]})),
        "Done": {"Type": "Succeed"},
        "Caught": {"Type": "Succeed"}}});
    let within = "x".repeat(200 * 1024);
    let past = "x".repeat(MAX_PAYLOAD_BYTES);
    let execution = runner(Queued::new(vec![json!(within)])).run(&definition, json!({})).await.unwrap();
    assert!(execution.output.is_ok(), "200 KiB is within the bound");

    let tasks = Queued::new(vec![json!(past.clone())]);
    let execution = runner(tasks.clone()).run(&definition, json!({})).await.unwrap();
    let error = execution.output.unwrap_err();
    assert_eq!(error.error, "States.DataLimitExceeded");
    assert!(error.cause.contains("the task's result"), "{}", error.cause);
    assert_eq!(tasks.calls().len(), 1, "not retried, not caught");

    let execution = runner(Queued::new(vec![json!({})])).run(&definition, json!({"big": past.clone()})).await.unwrap();
    assert!(execution.output.unwrap_err().cause.contains("the execution's input"));

    let growing = json!({"StartAt": "Grow", "States": {
        "Grow": {"Type": "Pass", "Parameters": {"a.$": "$.half", "b.$": "$.half"}, "End": true}}});
    let half = "y".repeat(MAX_PAYLOAD_BYTES / 2 + 1);
    let execution = runner(Queued::new(vec![])).run(&growing, json!({"half": half})).await.unwrap();
    assert!(execution.output.unwrap_err().cause.contains("the state's output"));
}

#[tokio::test]
async fn an_answer_whose_retrieval_passes_256_kib_fails_through_the_failures_queue() {
    let functions = [
        "arn:aws:lambda:us-east-1:1:function:retrieve",
        "arn:aws:lambda:us-east-1:1:function:infer",
        "arn:aws:lambda:us-east-1:1:function:output",
        "arn:aws:lambda:us-east-1:1:function:answer",
    ];
    let text = answer_scenarios::answer_definition(functions, "https://sqs.us-east-1.amazonaws.com/1/failures", "bus");
    let definition: Value = serde_json::from_str(&text).unwrap();
    let long = "Refunds take 14 days. ".repeat(MAX_PAYLOAD_BYTES / 22 + 1);
    let big = answer_scenarios::chunk("refunds:1:0", "refunds", "Refund policy", "https://intra/refunds", &long);
    let tasks = Queued::new(vec![answer_scenarios::retrieved(vec![big])]);
    let execution = runner(tasks.clone()).run(&definition, answer_scenarios::question()).await.unwrap();
    let error = execution.output.unwrap_err();
    assert_eq!(error.error, "States.DataLimitExceeded", "{}", error.cause);
    let queued = tasks.calls().into_iter().filter(|(resource, _)| resource.contains("sqs:sendMessage")).count();
    assert_eq!(queued, 1, "the failure is queued, as every other failure is");
}

#[tokio::test]
async fn retriers_out_of_step_functions_bounds_are_refused_and_backoff_never_overflows() {
    let with_retrier = |retrier: Value| json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": LAMBDA, "Retry": [retrier], "End": true}}});
    for (retrier, field) in [
        (json!({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1e308}), "IntervalSeconds"),
        (json!({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0.5}), "IntervalSeconds"),
        (json!({"ErrorEquals": ["States.ALL"], "BackoffRate": 0.5}), "BackoffRate"),
        (json!({"ErrorEquals": ["States.ALL"], "MaxDelaySeconds": 0}), "MaxDelaySeconds"),
    ] {
        let refused = runner(Queued::new(vec![])).run(&with_retrier(retrier), json!({})).await.unwrap_err();
        assert!(refused.problem.contains(field), "{refused}");
    }
    // A valid retrier whose backoff passes any duration waits a bounded time instead of panicking.
    let failing = json!({"errorType": "Seams.Transient", "errorMessage": "down"});
    let tasks = Queued::new(vec![failing.clone(), failing.clone(), failing]);
    let retrier =
        json!({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 99999999, "BackoffRate": 1e300, "MaxAttempts": 2});
    let execution = Runner::new(tasks).with_time_scale(0.0).run(&with_retrier(retrier), json!({})).await.unwrap();
    assert_eq!(execution.output.unwrap_err().error, "Seams.Transient");
}
