//! Every status the OpenAPI document lists for an operation is one seams really answers. For
//! each (operation, status) pair a request provokes it, on a `seams up` set up the way that
//! status arises: a token without a tenant, a model that throttles or breaks its format, a
//! webhook that fails, an embedder that is down, a store that cannot be written. A documented
//! status nothing reaches fails the test: the document would promise what a client can never
//! see, or a branch that answers it would be dead.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::Server;
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "a statuses test secret";
/// Words in a request that make the model stand-in misbehave.
const THROTTLE: &str = "throttle-this-request";
const MALFORMED: &str = "answer-malformed-json";
const UNAVAILABLE: &str = "provider-is-down";
const DIMS: usize = 8;

/// An OpenAI-compatible chat completion with `content`.
fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952, "model": "gpt-statuses",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58}}))
}

/// The model, the embedder and a webhook receiver, misbehaving on cue.
async fn stand_ins() -> MockServer {
    let server = MockServer::start().await;
    let chat = || Mock::given(method("POST")).and(path("/v1/chat/completions"));
    chat().and(body_string_contains(THROTTLE)).respond_with(ResponseTemplate::new(429)).mount(&server).await;
    chat().and(body_string_contains(UNAVAILABLE)).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    chat().and(body_string_contains(MALFORMED)).respond_with(completion("{\"not\": ")).mount(&server).await;
    chat().respond_with(completion("Quokkas need little water.")).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    server
}

/// `seams up` with `settings` (seams.toml) in a data directory of its own.
fn serve(data_dir: &Path, settings: &str, extra: &[&str]) -> Server {
    let config = data_dir.join("seams.toml");
    std::fs::write(&config, settings).unwrap();
    let config = config.to_string_lossy().into_owned();
    let arguments = [&["--config", config.as_str(), "up", "--port", "0"][..], extra].concat();
    Server::start_with(data_dir, &arguments)
}

/// The model at the stand-in, with the offline guardrail on every question and answer.
fn model_settings(stand_ins: &MockServer) -> String {
    format!(
        "model = \"openai\"\nmodel_id = \"gpt-statuses\"\n[env]\nSEAMS_MODEL_BASE_URL = \"{}/v1\"\n\
         SEAMS_MODEL_API_KEY = \"sk-statuses\"\nSEAMS_GUARDRAIL = \"offline\"\n",
        stand_ins.uri()
    )
}

/// The stand-in embedder, which is down.
fn embedder_settings(stand_ins: &MockServer) -> String {
    format!(
        "[env]\nSEAMS_EMBEDDER = \"openai\"\nSEAMS_OPENAI_BASE_URL = \"{}/v1\"\nSEAMS_EMBEDDING_MODEL = \"e\"\n\
         SEAMS_EMBEDDING_DIMS = \"{DIMS}\"\n",
        stand_ins.uri()
    )
}

/// Every (operation id, status) pair the document lists.
fn documented() -> BTreeSet<(String, u16)> {
    let document = seams_platform::openapi::openapi_document();
    let mut pairs = BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            for status in operation["responses"].as_object().unwrap().keys() {
                pairs.insert((id.clone(), status.parse().unwrap()));
            }
        }
    }
    pairs
}

/// Sends requests to one server and records which operation answered which status.
struct Prober<'a> {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    reached: &'a mut BTreeSet<(String, u16)>,
}

impl Prober<'_> {
    async fn send(&mut self, operation: &str, method: Method, path: &str, body: Option<Vec<u8>>) -> u16 {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        if status >= 400 {
            let problem: Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(problem["status"], status, "{method} {path}: {text}");
        }
        self.reached.insert((operation.to_owned(), status));
        status
    }

    async fn post(&mut self, operation: &str, path: &str, body: Value) -> u16 {
        self.send(operation, Method::POST, path, Some(body.to_string().into_bytes())).await
    }

    /// Calls every operation with a body it takes, whatever it answers.
    async fn every_operation(&mut self, id: &str) {
        let document =
            json!({"document_id": id, "content_type": "text/plain", "content": "Quokkas need little water."});
        self.post("ingestDocument", "/documents", document.clone()).await;
        self.post("ingestDocuments", "/documents:batch", json!({"documents": [document]})).await;
        self.post("startUpload", "/documents/uploads", json!({"content_type": "text/plain", "byte_size": 12})).await;
        self.send("listDocuments", Method::GET, "/documents", None).await;
        self.send("getDocument", Method::GET, &format!("/documents/{id}"), None).await;
        self.send("deleteDocument", Method::DELETE, &format!("/documents/{id}"), None).await;
        self.post("retrieve", "/retrieve", json!({"query": "quokka water"})).await;
        self.post("infer", "/inference", inference("How much water do quokkas need?")).await;
        self.post("answer", "/answer", question("How much water does a quokka need?")).await;
    }
}

fn inference(instructions: &str) -> Value {
    json!({"request_id": "statuses-1", "context": ["Quokkas need little water."], "instructions": instructions})
}

fn question(question: &str) -> Value {
    json!({"question": question, "destination": {"type": "http_response"}})
}

/// A JSON body past the HTTP API's 10 MiB.
fn oversized() -> Vec<u8> {
    json!({"content": "a".repeat(11 << 20)}).to_string().into_bytes()
}

/// Waits until `query` finds a passage: the document is processed and indexed.
async fn until_found(http: &reqwest::Client, base: &str, query: &str) {
    for _ in 0..100 {
        let found: Value = http
            .post(format!("{base}/retrieve"))
            .json(&json!({"query": query}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if found["results"].as_array().is_some_and(|results| !results.is_empty()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{query:?} found nothing after 10 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_status_is_answered_by_some_request() {
    let stand_ins = stand_ins().await;
    let mut reached = BTreeSet::new();

    // Served as documented, then refused as a careless or hostile client is refused.
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), &model_settings(&stand_ins), &[]);
    let mut probe =
        Prober { http: reqwest::Client::new(), base: server.base.clone(), token: None, reached: &mut reached };
    probe.every_operation("statuses-quokka").await;
    probe.every_operation("statuses-quokka").await;
    for (operation, path) in [
        ("ingestDocument", "/documents"),
        ("ingestDocuments", "/documents:batch"),
        ("startUpload", "/documents/uploads"),
        ("retrieve", "/retrieve"),
        ("infer", "/inference"),
        ("answer", "/answer"),
    ] {
        probe.send(operation, Method::POST, path, Some(b"{}".to_vec())).await;
        probe.send(operation, Method::POST, path, Some(oversized())).await;
    }
    probe.send("listDocuments", Method::GET, "/documents?limit=none", None).await;
    for (operation, method) in [("getDocument", Method::GET), ("deleteDocument", Method::DELETE)] {
        probe.send(operation, method.clone(), "/documents/no-such-document", None).await;
        probe.send(operation, method, &format!("/documents/{}", "x".repeat(2000)), None).await;
    }
    // The model throttles, breaks the response format, is down; the guardrail blocks. The
    // answer workflow asks the model only about what it found.
    let kept = json!({"document_id": "statuses-kept", "content_type": "text/plain",
        "content": "Quokkas need little water; they get most of it from plants."});
    assert_eq!(probe.post("ingestDocument", "/documents", kept).await, 202);
    until_found(&probe.http, &probe.base, "quokka plants").await;
    let structured = |instructions: &str| {
        let mut request = inference(instructions);
        request["model_config"] = json!({"response_format": {"type": "object", "required": ["answer"],
            "properties": {"answer": {"type": "string"}}}});
        request
    };
    probe.post("infer", "/inference", inference(THROTTLE)).await;
    probe.post("infer", "/inference", structured(MALFORMED)).await;
    probe.post("infer", "/inference", inference(UNAVAILABLE)).await;
    probe.post("infer", "/inference", inference("Write to jane@example.com")).await;
    probe.post("answer", "/answer", question(&format!("How much water does a quokka need? {THROTTLE}"))).await;
    probe.post("answer", "/answer", question(&format!("How much water does a quokka need? {UNAVAILABLE}"))).await;
    probe.post("answer", "/answer", question("How much water? Write to jane@example.com")).await;
    let mut unknown_session = question("And how much food?");
    unknown_session["session_id"] = json!("statuses-no-such-session");
    probe.post("answer", "/answer", unknown_session).await;
    let webhook = json!({"type": "webhook", "url": format!("{}/hook", stand_ins.uri())});
    probe
        .post("answer", "/answer", json!({"question": "How much water does a quokka need?", "destination": webhook}))
        .await;
    // The store beneath ingest cannot be written: where its documents were is now a file.
    std::fs::remove_dir_all(data.path().join("ingest")).unwrap();
    std::fs::write(data.path().join("ingest"), "not a directory").unwrap();
    probe.every_operation("statuses-wombat").await;
    server.stop();

    // The embedder is down: nothing can be searched.
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), &embedder_settings(&stand_ins), &[]);
    let mut probe =
        Prober { http: reqwest::Client::new(), base: server.base.clone(), token: None, reached: &mut reached };
    probe.post("retrieve", "/retrieve", json!({"query": "quokka water"})).await;
    probe.post("answer", "/answer", question("How much water does a quokka need?")).await;
    server.stop();

    // A multi-tenant deployment, and a token that names no tenant.
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), &model_settings(&stand_ins), &["--jwt-secret", SECRET]);
    let token = seams::jwt::sign(SECRET, &json!({"sub": "no-tenant", "exp": 4102444800u64})).unwrap();
    let mut probe =
        Prober { http: reqwest::Client::new(), base: server.base.clone(), token: Some(token), reached: &mut reached };
    probe.every_operation("statuses-aardvark").await;
    server.stop();

    // Only where the store cannot sign upload URLs: `seams invoke`, without a server.
    let data = tempfile::tempdir().unwrap();
    let invoked = Command::new(env!("CARGO_BIN_EXE_seams"))
        .current_dir(common::workspace())
        .arg("--data-dir")
        .arg(data.path())
        .args(["invoke", "ingest", "events/ingest/http-post-uploads.json"])
        .output()
        .unwrap();
    let response: Value = serde_json::from_slice(&invoked.stdout).unwrap();
    reached.insert(("startUpload".to_owned(), response["statusCode"].as_u64().unwrap() as u16));

    let unreached: Vec<_> = documented().difference(&reached).cloned().collect();
    assert!(unreached.is_empty(), "documented, never answered: {unreached:?}");
    let undocumented: Vec<_> = reached.difference(&documented()).cloned().collect();
    assert!(undocumented.is_empty(), "answered, not documented: {undocumented:?}");
}
