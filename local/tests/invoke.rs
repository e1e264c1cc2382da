//! `seams invoke` runs a function's real handler on an event file, on local adapters.
//! The binary runs from the workspace root, as a user would run it.

use std::path::Path;
use std::process::{Command, Output};

fn seams(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seams"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("the seams binary runs")
}

fn event_file(dir: &Path, event: serde_json::Value) -> String {
    let path = dir.join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn a_bad_http_body_is_answered_with_a_problem_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/infer/http-inference.json")).unwrap(),
    )
    .unwrap();
    event["body"] =
        serde_json::json!(r#"{"request_id": "r-1", "instructions": "x", "model_config": {"max_tokens": "many"}}"#);
    let output = seams(&["invoke", "infer", &event_file(dir.path(), event)], dir.path());
    assert!(output.status.success(), "{output:?}");
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["statusCode"], 400);
    assert_eq!(response["headers"]["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["field"], "model_config.max_tokens");
    assert_eq!(problem["error"], "Seams.InvalidInput");
}

#[test]
fn a_bad_direct_invoke_fails_as_lambda_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = event_file(dir.path(), serde_json::json!({"query": "refunds", "top_k": "five"}));
    let output = seams(&["invoke", "retrieve", &path], dir.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let reported: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reported["errorType"], "Seams.InvalidInput");
    assert!(reported["errorMessage"].as_str().unwrap().contains("top_k"), "{reported}");
}

#[test]
fn an_sqs_batch_reports_its_failed_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/process/sqs-process-document.json"))
            .unwrap(),
    )
    .unwrap();
    event["Records"][0]["body"] = serde_json::json!("{not json");
    let output = seams(&["invoke", "process", &event_file(dir.path(), event)], dir.path());
    assert!(output.status.success(), "{output:?}");
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["batchItemFailures"][0]["itemIdentifier"], "059f36b4-87a3-44ab-83d2-661975268640");
}

#[test]
fn unknown_functions_and_unreadable_events_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (vec!["invoke", "summarise", "events/infer/http-inference.json"], "unknown function \"summarise\""),
        (vec!["invoke", "infer", "events/infer/missing.json"], "cannot read events/infer/missing.json"),
        (vec!["invoke", "infer", "README.md"], "README.md is not valid JSON"),
    ];
    for (args, expected) in cases {
        let output = seams(&args, dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn ingest_stores_the_sample_document_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = seams(&["invoke", "ingest", "events/ingest/http-post-documents.json"], dir.path());
    assert!(output.status.success(), "{output:?}");
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["statusCode"], 202, "{response}");
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let fingerprint = body["fingerprint"].as_str().unwrap().trim_start_matches("sha256:");
    let stored = dir.path().join("ingest/raw/refund-policy").join(fingerprint);
    assert!(std::fs::read_to_string(&stored).unwrap().starts_with("# Refund policy"), "{}", stored.display());

    // The data persists: the same document again is a duplicate.
    let again = seams(&["invoke", "ingest", "events/ingest/http-post-documents.json"], dir.path());
    let response: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(response["body"].as_str().unwrap().contains(r#""duplicate":true"#), "{response}");
}

#[test]
fn the_answer_sample_runs_the_answer_workflow() {
    // Nothing is ingested under this data dir: the workflow's no-context branch answers.
    let dir = tempfile::tempdir().unwrap();
    let output = seams(&["invoke", "answer", "events/answer/http-answer.json"], dir.path());
    assert!(output.status.success(), "{output:?}");
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["request_id"], "req-123");
    assert_eq!(body["correlation_id"], "corr-sample-0001");
    assert_eq!(body["answer"]["text"], "I could not find anything about that in the documents.", "{body}");
    assert_eq!(body["citations"], serde_json::json!([]));
}
