//! Every kind of bad input gets its documented problem type and names the offending field,
//! and nothing is stored or queued. Local adapters: nothing here reaches storage.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ingest::{Service, Settings};
use seams_contracts::ErrorName;
use seams_platform::event_bus::LocalEventBus;
use seams_platform::function;
use seams_platform::object_store::{FsObjectStore, ObjectStore};
use seams_platform::queue::LocalQueue;
use seams_tests::sample_event;
use serde_json::{json, Value};

struct World {
    service: Service,
    raw: Arc<FsObjectStore>,
    queue: Arc<LocalQueue>,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let raw = Arc::new(FsObjectStore::new(dir.path()));
    let queue = Arc::new(LocalQueue::new("process", Duration::from_secs(30)));
    let mut settings = Settings::default();
    settings.limits.inline_max_bytes = 1024;
    let service =
        Service::new(raw.clone(), queue.clone(), Arc::new(LocalEventBus::new()), Default::default(), settings);
    World { service, raw, queue, _dir: dir }
}

fn post_documents(body: &str) -> Value {
    let mut event = sample_event("ingest/http-post-documents.json");
    event["body"] = Value::String(body.to_owned());
    event
}

/// `(status, problem type, field)` of the response to `body`.
async fn refusal(world: &World, body: &str) -> (u64, String, String) {
    let response = function::handle(&world.service, post_documents(body)).await.unwrap();
    assert_eq!(response["headers"]["content-type"], "application/problem+json", "{response}");
    let problem: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let text = |key: &str| problem[key].as_str().unwrap_or_default().to_owned();
    (response["statusCode"].as_u64().unwrap(), text("type"), text("field"))
}

#[tokio::test]
async fn each_bad_body_gets_its_problem_and_field() {
    let world = world();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let attributes: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(true))).collect();
    let cases = [
        ("empty body", String::new(), "body"),
        ("invalid JSON", "{\"content_type\": ".to_owned(), "body"),
        ("unknown field", json!({"content_type": "text/plain", "content": "x", "colour": "red"}).to_string(), "colour"),
        ("unknown content type", json!({"content_type": "image/png", "content": "x"}).to_string(), "content_type"),
        ("oversize", json!({"content_type": "text/plain", "content": "x".repeat(1025)}).to_string(), "content"),
        (
            "oversize base64",
            json!({"content_type": "text/plain", "content_base64": b64(&[b'x'; 1025])}).to_string(),
            "content_base64",
        ),
        (
            "oversize base64, refused before decoding",
            json!({"content_type": "text/plain", "content_base64": b64(&[b'x'; 4096])}).to_string(),
            "content_base64",
        ),
        (
            "undecodable bytes",
            json!({"content_type": "text/plain; charset=utf-8", "content_base64": b64(b"caf\xE9")}).to_string(),
            "content",
        ),
        (
            "invalid base64",
            json!({"content_type": "text/plain", "content_base64": "%%%"}).to_string(),
            "content_base64",
        ),
        ("no content", json!({"content_type": "text/plain"}).to_string(), "content"),
        ("empty after cleaning", json!({"content_type": "text/plain", "content": "\u{0}\r\n "}).to_string(), "content"),
        (
            "too many attributes",
            json!({"content_type": "text/plain", "content": "x", "attributes": attributes}).to_string(),
            "attributes",
        ),
        (
            "bad document id",
            json!({"document_id": "../x", "content_type": "text/plain", "content": "x"}).to_string(),
            "document_id",
        ),
        (
            "unknown charset",
            json!({"content_type": "text/plain; charset=klingon", "content": "x"}).to_string(),
            "content",
        ),
    ];
    for (name, body, field) in cases {
        let (status, problem_type, problem_field) = refusal(&world, &body).await;
        // HTTP's own status for a body too large (RFC 9110 §15.5.14), with its own type.
        let expected = match name.starts_with("oversize") {
            true => (413, "urn:seams:problem:content-too-large"),
            false => (400, "urn:seams:problem:invalid-input"),
        };
        assert_eq!((status, problem_type.as_str()), expected, "{name}");
        assert_eq!(problem_field, field, "{name}");
    }
    assert!(world.raw.list("").await.unwrap().is_empty(), "nothing stored");
    assert!(world.queue.is_empty(), "nothing queued");
}

#[tokio::test]
async fn a_route_ingest_does_not_serve_is_not_found() {
    let world = world();
    let mut event = post_documents("{}");
    event["routeKey"] = json!("PUT /documents");
    let response = function::handle(&world.service, event).await.unwrap();
    assert_eq!(response["statusCode"], 404);
}

#[tokio::test]
async fn a_malformed_event_fails_the_invocation_as_invalid_input() {
    let world = world();
    let mut published = sample_event("ingest/eventbridge-document-published.json");
    published["detail"] = json!({"content_type": 7});
    let error = function::handle(&world.service, published).await.unwrap_err();
    assert_eq!((error.name, error.field.as_deref()), (ErrorName::InvalidInput, Some("content_type")));

    let mut other_type = sample_event("ingest/eventbridge-document-published.json");
    other_type["detail-type"] = json!("InvoicePaid");
    let error = function::handle(&world.service, other_type).await.unwrap_err();
    assert_eq!((error.name, error.field.as_deref()), (ErrorName::InvalidInput, Some("detail-type")));

    let mut foreign_upload = sample_event("ingest/s3-object-created.json");
    foreign_upload["Records"][0]["s3"]["bucket"]["name"] = json!("someone-elses-bucket");
    let error = function::handle(&world.service, foreign_upload).await.unwrap_err();
    assert_eq!((error.name, error.field.as_deref()), (ErrorName::InvalidInput, Some("s3.bucket.name")));
    assert!(world.queue.is_empty());
}

#[tokio::test]
async fn a_store_that_cannot_sign_uploads_says_so_once() {
    let world = world();
    let response = function::handle(&world.service, sample_event("ingest/http-post-uploads.json")).await.unwrap();
    // A directory without a signer cannot hand out URLs: a permanent 501, which a client does
    // not retry, rather than a 503 it would retry forever; and no directory named.
    assert_eq!(response["statusCode"], 501, "{response}");
    let problem: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["error"], "Seams.Unsupported", "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("seams up"), "{problem}");
    assert!(!problem["detail"].as_str().unwrap().contains('/'), "{problem}");
}
