//! `seams up` against its own OpenAPI document (`/openapi.json`): served without a token, and
//! every documented operation, called as a client following the document and as a careless
//! one, answers only statuses the document lists for it, each with the body it describes.

use crate::common;

use common::Server;
use serde_json::{json, Value};

const SECRET: &str = "an openapi test secret";

/// The committed contract schema whose title is the component a `$ref` names: self-contained
/// (its own `$defs`), so a validator needs nothing else.
fn contract_schema(reference: &str) -> Value {
    let name = reference.rsplit('/').next().unwrap();
    seams_contracts::schemas()
        .into_iter()
        .map(|(_, schema)| schema.to_value())
        .find(|schema| schema["title"] == name)
        .unwrap_or_else(|| panic!("no contract schema titled {name}"))
}

/// A body that follows the document, for each operation that takes one.
fn valid_body(operation: &str) -> Option<Value> {
    let document = json!({"document_id": "openapi-quokka", "content_type": "text/plain",
        "content": "Quokkas graze on the islands at dusk; a quokka needs little water."});
    match operation {
        "ingestDocument" => Some(document),
        "ingestDocuments" => Some(json!({"documents": [{"document_id": "openapi-wombat", "content_type": "text/plain",
            "content": "Wombats dig burrows."}]})),
        "startUpload" => Some(json!({"content_type": "text/plain", "byte_size": 12})),
        "retrieve" => Some(json!({"query": "quokka water", "top_k": 3})),
        "infer" => Some(json!({"request_id": "openapi-1", "context": ["Quokkas need little water."],
            "instructions": "How much water do quokkas need?"})),
        "answer" => Some(json!({"question": "How much water does a quokka need?",
            "destination": {"type": "http_response"}})),
        _ => None,
    }
}

/// What a careless client sends: nothing, an empty object, not JSON, the wrong JSON.
fn careless_bodies() -> Vec<Option<&'static str>> {
    vec![None, Some("{}"), Some("not json"), Some(r#"{"query": 7, "documents": "x", "question": []}"#)]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_served_without_a_token_and_the_api_still_wants_one() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["up", "--port", "0", "--jwt-secret", SECRET]);
    let client = reqwest::Client::new();

    let served = client.get(format!("{}/openapi.json", server.base)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let document: Value = served.json().await.unwrap();
    assert_eq!(document, seams_platform::openapi::openapi_document());
    assert_eq!(document["openapi"], "3.1.0");

    let refused = client.post(format!("{}/retrieve", server.base)).json(&json!({"query": "q"})).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the token check still guards the API");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_documented_statuses_with_documented_bodies() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), 0);
    let client = reqwest::Client::new();
    let document: Value =
        client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    let problem_schema = contract_schema("#/components/schemas/Problem");
    let problem_validator = jsonschema::validator_for(&problem_schema).unwrap();

    // Deleting last keeps the document the other calls read.
    let mut operations: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    operations.sort_by_key(|(method, _, _)| method == "DELETE");

    let mut calls = 0;
    for (method, path, operation) in &operations {
        let id = operation["operationId"].as_str().unwrap();
        let mut successes = 0;
        let sends: Vec<Option<String>> = valid_body(id)
            .map(|body| body.to_string())
            .into_iter()
            .map(Some)
            .chain(careless_bodies().into_iter().map(|b| b.map(str::to_owned)))
            .collect();
        let sends = if operation.get("requestBody").is_some() { sends } else { vec![None] };
        for (n, body) in sends.into_iter().enumerate() {
            // The first call names the document the others ingested; later ones one that is not there.
            let document_id = if n == 0 { "openapi-quokka" } else { "no-such-document" };
            let url = format!("{}{}", server.base, path.replace("{id}", document_id));
            let mut request = client.request(method.parse().unwrap(), &url);
            if let Some(body) = &body {
                request = request.header("content-type", "application/json").body(body.clone());
            }
            let response = request.send().await.unwrap();
            calls += 1;
            let status = response.status().as_u16();
            let content_type =
                response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            let text = response.text().await.unwrap();
            let what = format!("{method} {path} with {body:?}: {status} {text}");
            let documented = &operation["responses"][status.to_string()];
            assert!(!documented.is_null(), "{what}: status not in the document");
            let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
            if status < 300 {
                successes += 1;
                assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
                let schema =
                    contract_schema(documented["content"]["application/json"]["schema"]["$ref"].as_str().unwrap());
                let validator = jsonschema::validator_for(&schema).unwrap();
                let errors: Vec<String> = validator.iter_errors(&answer).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{what}: breaks its schema: {errors:?}");
            } else {
                assert!(content_type.starts_with("application/problem+json"), "{what}: {content_type}");
                assert!(problem_validator.is_valid(&answer), "{what}: not a problem document");
                assert_eq!(answer["status"], status, "{what}");
            }
        }
        assert!(successes > 0, "{method} {path}: no call the document describes succeeded");
    }
    assert!(calls >= 30, "{calls} calls");
}

/// What the document does not declare for a path is `405` with `Allow` listing what it does
/// (Schemathesis's `unsupported_method`); a path it does not have is `404`.
#[tokio::test(flavor = "multi_thread")]
async fn an_undeclared_method_is_405_with_the_declared_ones_in_allow() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["up", "--port", "0"]);
    let client = reqwest::Client::new();
    let document = seams_platform::openapi::openapi_document();
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    for (path, operations) in document["paths"].as_object().unwrap() {
        let declared: Vec<&str> =
            methods.iter().copied().filter(|m| operations.get(m.to_ascii_lowercase()).is_some()).collect();
        let concrete = path.replace("{id}", "some-document");
        let url = format!("{}{concrete}", server.base);
        // `GET /documents/uploads` is `GET /documents/{id}` for the id `uploads`, as deployed.
        let unrouted = |m: &&&str| !declared.contains(m) && seams_platform::routes::find(m, &concrete).is_none();
        for method in methods.iter().filter(unrouted) {
            let answer = client.request(method.parse().unwrap(), &url).send().await.unwrap();
            assert_eq!(answer.status(), 405, "{method} {path}");
            let allow = answer.headers()["allow"].to_str().unwrap().to_owned();
            let mut allowed: Vec<&str> = allow.split(", ").collect();
            allowed.sort_unstable();
            // The path's own methods, and those of a route its text also matches.
            let mut expected: Vec<&str> = methods
                .iter()
                .copied()
                .filter(|m| declared.contains(m) || seams_platform::routes::find(m, &concrete).is_some())
                .collect();
            expected.sort_unstable();
            assert_eq!(allowed, expected, "{method} {path}");
            let problem: Value = answer.json().await.unwrap();
            assert_eq!(
                (problem["status"].as_u64(), problem["type"].as_str()),
                (Some(405), Some("urn:seams:problem:method-not-allowed"))
            );
        }
    }
    let nowhere = client.get(format!("{}/nowhere", server.base)).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
}
