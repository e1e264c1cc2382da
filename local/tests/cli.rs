//! The `seams` command as a user runs it: the demo on the example corpus, `up` over HTTP
//! with the sample events' requests (and again after a restart), `ask`, `run`, `ingest`, and
//! one clear line for each kind of bad input.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common;

use common::{workspace, Server};
use futures::StreamExt;
use seams_tests::sample_event;
use serde_json::{json, Value};

fn seams(data_dir: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seams"))
        .current_dir(workspace())
        .arg("--data-dir")
        .arg(data_dir)
        .args(arguments)
        .output()
        .expect("seams runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The part of the demo's output that answers `question`.
fn answer_to<'a>(output: &'a str, question: &str) -> &'a str {
    let start = output.find(&format!("Q: {question}")).unwrap_or_else(|| panic!("{question} not asked:\n{output}"));
    let rest = &output[start..];
    &rest[..rest[1..].find("\nQ: ").map_or(rest.len(), |end| end + 1)]
}

#[test]
fn the_demo_answers_from_the_expected_documents() {
    let data = tempfile::tempdir().unwrap();
    let run = seams(data.path(), &["demo"]);
    let out = stdout(&run);
    assert!(run.status.success(), "{out}\n{}", stderr(&run));
    assert!(out.contains("ingested 26, duplicates 0, rejected 0"), "{out}");

    // The first source cited is the document that holds the answer.
    for (question, document, fact) in [
        ("How long do card refunds take to appear?", "policies-refunds.md", "5 to 10 business days"),
        ("Can digital products be refunded?", "policies-refunds.md", "not been downloaded"),
        ("When are deployments not allowed?", "engineering-deployments.md", "no deployments on Fridays"),
        ("How quickly must the on-call engineer acknowledge a page?", "engineering-on-call.md", "within 15 minutes"),
        ("How much is reimbursed for hotels in London?", "people-travel.md", "220 euros"),
        ("How soon should a buried person be dug out of an avalanche?", "products-avalanche-safety.pdf", "15 minutes"),
    ] {
        let answer = answer_to(&out, question);
        let sources = &answer[answer.find("Sources:\n").unwrap_or_else(|| panic!("no sources:\n{answer}"))..];
        let first = sources.lines().nth(1).unwrap_or_default();
        assert!(first.contains(&format!("[{document}:1:0]")), "{question}: first source {first}\n{answer}");
        assert!(answer.contains(fact), "{question}: the answer lacks {fact:?}\n{answer}");
        assert!(answer.contains("Delivery: delivered to http_response"), "{answer}");
    }
    // A filter nothing matches: the configured answer, without the model or sources.
    let none = answer_to(&out, "How long do refunds take?");
    assert!(none.contains("A: I could not find anything about that in the documents."), "{none}");
    assert!(!none.contains("Sources:"), "{none}");

    // The index and buckets persist: a second run finds every document already there.
    let again = seams(data.path(), &["demo"]);
    assert!(stdout(&again).contains("ingested 0, duplicates 26, rejected 0"), "{}", stdout(&again));
}

#[test]
fn ask_and_run_use_the_same_workflow() {
    let data = tempfile::tempdir().unwrap();
    let ingested = seams(data.path(), &["ingest", "examples/docs/policies", "examples/docs/people/*.md"]);
    assert!(stdout(&ingested).contains("ingested 11, duplicates 0, rejected 0"), "{}", stdout(&ingested));

    let asked =
        seams(data.path(), &["ask", "How much does express shipping cost?", "--filter", "category=policies", "--json"]);
    assert!(asked.status.success(), "{}", stderr(&asked));
    let output: Value = serde_json::from_slice(&asked.stdout).expect("--json prints JSON");
    assert_eq!(
        output["citations"][0]["document_id"], "shipping.md",
        "ids are paths below the directory given: {output}"
    );
    assert!(output["answer"]["text"].as_str().unwrap_or_default().contains("12 euros"), "{output}");

    let input = json!({"question": "How many days of annual leave do full-time employees get?",
                       "destination": {"type": "http_response"}, "search_mode": "keyword"});
    let ran = seams(data.path(), &["run", "statemachines/answer.asl.json", "--input", &input.to_string()]);
    let out = stdout(&ran);
    assert!(ran.status.success(), "{out}");
    let entered: Vec<&str> = out.lines().filter(|l| l.starts_with("→ ")).collect();
    assert_eq!(
        entered,
        [
            "→ Prepare (Pass)",
            "→ ApplyDefaults (Pass)",
            "→ NullsToDefaults? (Choice)",
            "→ Validate (Choice)",
            "→ GuardQuestion? (Choice)",
            "→ QuestionAsAsked (Pass)",
            "→ Session? (Choice)",
            "→ NewSession (Pass)",
            "→ StandsAlone (Pass)",
            "→ ImplicitFilter? (Choice)",
            "→ CallersFilters (Pass)",
            "→ Decompose? (Choice)",
            "→ Retrieve (Task)",
            "→ HasContext (Choice)",
            "→ Infer (Task)",
            "→ GuardAnswer? (Choice)",
            "→ RecordTurn (Task)",
            "→ Deliver (Task)",
            "→ Answered (Pass)"
        ]
    );
    assert!(out.contains("28 days"), "{out}");
}

#[test]
fn ask_continues_a_conversation_with_the_session_it_printed() {
    let data = tempfile::tempdir().unwrap();
    let ingested = seams(data.path(), &["ingest", "examples/docs/engineering", "examples/docs/people/*.md"]);
    assert!(ingested.status.success(), "{}", stderr(&ingested));

    let first = seams(data.path(), &["ask", "How quickly must the on-call engineer acknowledge a page?"]);
    let out = stdout(&first);
    let line = out.lines().find(|l| l.starts_with("Session: ")).unwrap_or_else(|| panic!("no session line:\n{out}"));
    let session = line.trim_start_matches("Session: ").split(' ').next().unwrap_or_default().to_owned();
    assert_eq!(session.len(), 36, "{line}");

    let follow_up = seams(data.path(), &["ask", "Are they paid extra for it?", "--session", &session, "--json"]);
    assert!(follow_up.status.success(), "{}", stderr(&follow_up));
    let output: Value = serde_json::from_slice(&follow_up.stdout).unwrap();
    assert_eq!(output["session_id"], session.as_str());
    assert_eq!(output["citations"][0]["document_id"], "on-call.md", "{output}");
    let unknown = seams(data.path(), &["ask", "And then?", "--session", "no-such-session", "--json"]);
    let output: Value = serde_json::from_slice(&unknown.stdout).unwrap();
    assert_eq!(output["error"], "Seams.NotFound", "{output}");
}

#[test]
fn backfill_ingests_a_local_directory_through_a_distributed_map() {
    let data = tempfile::tempdir().unwrap();
    let input = json!({"bucket": "examples", "prefix": "docs/products/"}).to_string();
    let ran = seams(
        data.path(),
        &["run", "statemachines/backfill.asl.json", "--source", "examples=examples", "--input", &input],
    );
    let out = stdout(&ran);
    assert!(ran.status.success(), "{out}\n{}", stderr(&ran));
    assert_eq!(out.matches("→ Ingest (Task)").count(), 6, "one ingest per product document:\n{out}");
    let report: Value = serde_json::from_str(&out[out.find("succeeded:").unwrap() + "succeeded:".len()..]).unwrap();
    let key = report["ResultWriterDetails"]["Key"].as_str().unwrap();
    let summary: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("reports").join(key)).unwrap()).unwrap();
    assert_eq!((summary["total"].clone(), summary["failed"].clone()), (json!(6), json!(0)));

    // Backfilled documents are processed and indexed: the stove advice is found.
    let asked = seams(data.path(), &["ask", "Can I use a stove inside my tent?", "--json"]);
    let output: Value = serde_json::from_slice(&asked.stdout).unwrap();
    assert!(output["answer"]["text"].as_str().unwrap_or_default().contains("carbon monoxide"), "{output}");
}

#[test]
fn bad_input_gets_one_clear_line_and_a_failing_exit() {
    let data = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let unsupported = scratch.path().join("machine.asl.json");
    std::fs::write(&unsupported, r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Timestamp": "2030-01-01T00:00:00Z", "End": true}}}"#).unwrap();
    let broken = broken.to_string_lossy().into_owned();
    let unsupported = unsupported.to_string_lossy().into_owned();

    for (arguments, expected) in [
        (vec!["invoke", "nope", "events/ingest/http-post-documents.json"], "unknown function \"nope\""),
        (vec!["invoke", "ingest", "events/ingest/missing.json"], "cannot read events/ingest/missing.json"),
        (vec!["invoke", "ingest", broken.as_str()], "is not valid JSON"),
        (vec!["run", unsupported.as_str()], "state \"Wait\": Timestamp is not supported on a Wait state"),
        (vec!["run", "statemachines/answer.asl.json", "--input", "{"], "--input is not valid JSON"),
        (vec!["up", "--port", "0", "--jwks", broken.as_str()], "is not a JSON Web Key Set"),
        (vec!["up", "--port", "0", "--jwks", "no/such/jwks.json"], "cannot read no/such/jwks.json"),
    ] {
        let run = seams(data.path(), &arguments);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{arguments:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{arguments:?}: one line, no trace: {err}");
        assert!(err.starts_with("seams: ") && err.contains(expected), "{arguments:?}: {err}");
    }

    // Ingest reports each file it cannot take and goes on with the rest.
    let docs = scratch.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("good.md"), "# Good\n\nA fine document.").unwrap();
    std::fs::write(docs.join("image.bin"), [0xff, 0xd8, 0xff, 0x00, 0x81]).unwrap();
    let ingested = seams(data.path(), &["ingest", &docs.to_string_lossy(), "no/such/file.md"]);
    let out = stdout(&ingested);
    assert_eq!(ingested.status.code(), Some(1), "{out}");
    assert!(out.contains("ingested 1, duplicates 0, rejected 2"), "{out}");
    assert!(out.contains("image.bin: not a type ingest reads"), "{out}");
    assert!(out.contains("no/such/file.md: no such file or directory"), "{out}");

    // A question the workflow refuses says which step refused it and why, as POST /answer
    // does, not the function's raw error payload.
    let asked = seams(data.path(), &["ask", " \t "]);
    let out = stdout(&asked);
    assert_eq!(asked.status.code(), Some(1), "{out}");
    assert!(
        out.contains("failed: Seams.InvalidInput: Retrieve failed: Seams.InvalidInput: query: the query is empty"),
        "{out}"
    );
    assert!(!out.contains("errorType"), "{out}");
}

fn body_of(event: &str) -> String {
    sample_event(event)["body"].as_str().unwrap().to_owned()
}

async fn retrieve_until_found(client: &reqwest::Client, base: &str) -> Value {
    for _ in 0..50 {
        let response =
            client.post(format!("{base}/retrieve")).body(body_of("retrieve/http-retrieve.json")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        if body["results"].as_array().is_some_and(|r| !r.is_empty()) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the document was not indexed in 5 s");
}

#[tokio::test]
async fn up_serves_the_http_api_and_keeps_its_data_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), 0);
    let client = reqwest::Client::new();
    let base = server.base.clone();

    let created = client
        .post(format!("{base}/documents"))
        .header("x-correlation-id", "corr-up-1")
        .body(body_of("ingest/http-post-documents.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    assert_eq!(created.headers()["x-correlation-id"], "corr-up-1");
    let found = retrieve_until_found(&client, &base).await;
    assert_eq!(found["results"][0]["document_id"], "refund-policy", "{found}");

    let path = sample_event("ingest/http-get-document.json")["rawPath"].as_str().unwrap().to_owned();
    let status: Value = client.get(format!("{base}{path}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["versions"][0]["version"], 1, "{status}");

    let inferred =
        client.post(format!("{base}/inference")).body(body_of("infer/http-inference.json")).send().await.unwrap();
    assert_eq!(inferred.status(), 200);
    let inferred: Value = inferred.json().await.unwrap();
    assert_eq!(inferred["provider"], "offline", "{inferred}");

    let answer = json!({"question": "Can digital products be refunded?", "destination": {"type": "http_response"}});
    let answered = client
        .post(format!("{base}/answer"))
        .header("x-correlation-id", "corr-up-answer")
        .json(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["citations"][0]["document_id"], "refund-policy", "{answered}");
    assert_eq!(answered["correlation_id"], "corr-up-answer", "{answered}");
    assert!(answered["delivery"]["body"].as_str().unwrap_or_default().contains("Refund policy"), "{answered}");

    // Webhooks are signed even with no secret configured: with the key `up` keeps in its data.
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let to_webhook = json!({"question": "Can digital products be refunded?",
                            "destination": {"type": "webhook", "url": format!("{}/hook", receiver.uri())}});
    let delivered = client.post(format!("{base}/answer")).json(&to_webhook).send().await.unwrap();
    assert_eq!(delivered.status(), 200, "{}", delivered.text().await.unwrap());
    let received = &receiver.received_requests().await.unwrap()[0];
    let header = |name: &str| received.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let key = output::signing::key(&std::fs::read_to_string(seams::webhook_secret::path(data.path())).unwrap());
    let (id, timestamp, signature) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let verified = output::signing::verify(
        &key,
        &id.unwrap_or_default(),
        timestamp.and_then(|t| t.parse().ok()).unwrap_or_default(),
        &received.body,
        &signature.unwrap_or_default(),
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(verified, Ok(()));

    // A step of the workflow that refuses the request is named in the problem: here retrieve,
    // for a filter past its 100 tests.
    let tests: Vec<Value> = (0..101).map(|i| json!({"equals": {"key": format!("k{i}"), "value": i}})).collect();
    let filtered =
        json!({"question": "refunds", "filters": {"orAll": tests}, "destination": {"type": "http_response"}});
    let refused = client.post(format!("{base}/answer")).json(&filtered).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:seams:problem:invalid-input");
    assert_eq!(problem["step"], "Retrieve", "{problem}");
    // A request the contract refuses never reaches the workflow: the field is named instead.
    for (body, field) in [
        (json!({"question": "x"}), "destination"),
        (json!({"question": "", "destination": {"type": "http_response"}}), "question"),
    ] {
        let refused = client.post(format!("{base}/answer")).json(&body).send().await.unwrap();
        let problem: Value = refused.json().await.unwrap();
        assert_eq!((problem["field"].as_str(), problem.get("step")), (Some(field), None), "{problem}");
    }

    // `rerank` travels through the workflow to retrieve, which has no reranking model here.
    let rerank = json!({"question": "x", "rerank": true, "destination": {"type": "http_response"}});
    let refused = client.post(format!("{base}/answer")).json(&rerank).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        (problem["step"].as_str(), problem["detail"].as_str().map(|d| d.contains("SEAMS_RERANK_MODEL"))),
        (Some("Retrieve"), Some(true)),
        "{problem}"
    );

    let missing = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // Too large: a 6 MiB document (ingest's limit) and an 11 MiB body (the API's) are 413s.
    let six_mib = json!({"content_type": "text/plain", "content": "x".repeat(6 << 20)});
    let eleven_mib = vec![b' '; 11 << 20];
    for body in [serde_json::to_vec(&six_mib).unwrap(), eleven_mib] {
        let refused = client.post(format!("{base}/documents")).body(body).send().await.unwrap();
        assert_eq!(refused.status(), 413);
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(
            (problem["status"].as_u64(), problem["type"].as_str()),
            (Some(413), Some("urn:seams:problem:content-too-large"))
        );
    }

    // A second server on the same port is refused with one line.
    let port = base.rsplit(':').next().unwrap().to_owned();
    let clash = seams(data.path(), &["up", "--port", &port]);
    assert_eq!(clash.status.code(), Some(2));
    assert!(stderr(&clash).contains(&format!("port {port} is in use")), "{}", stderr(&clash));

    server.stop();
    let restarted = Server::start(data.path(), 0);
    let status: Value = client.get(format!("{}{path}", restarted.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["document_id"], "refund-policy", "the document survived the restart: {status}");
    let found = retrieve_until_found(&client, &restarted.base).await;
    assert_eq!(found["results"][0]["document_id"], "refund-policy");
    restarted.stop();
}

#[tokio::test]
async fn seams_toml_selects_an_openai_compatible_model() {
    use wiremock::matchers::{bearer_token, body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let reply = "Express shipping costs 12 euros [examples-docs-policies-shipping.md:1:0].";
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(bearer_token("sk-local-test"))
        .and(body_partial_json(json!({"model": "gpt-local-test"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952, "model": "gpt-local-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}})))
        .expect(1)
        .mount(&server)
        .await;

    let data = tempfile::tempdir().unwrap();
    let settings = data.path().join("seams.toml");
    std::fs::write(
        &settings,
        format!(
            "model = \"openai\"\nmodel_id = \"gpt-local-test\"\n[env]\nSEAMS_MODEL_BASE_URL = \"{}/v1\"\nSEAMS_MODEL_API_KEY = \"sk-local-test\"\n",
            server.uri()
        ),
    )
    .unwrap();
    let config = settings.to_string_lossy().into_owned();
    let ingested = seams(data.path(), &["ingest", "examples/docs/policies/shipping.md"]);
    assert!(ingested.status.success(), "{}", stdout(&ingested));

    let asked = seams(data.path(), &["--config", &config, "ask", "How much is express shipping?", "--json"]);
    assert!(asked.status.success(), "{}\n{}", stdout(&asked), stderr(&asked));
    let output: Value = serde_json::from_slice(&asked.stdout).unwrap();
    assert_eq!(output["answer"]["text"], reply);
    assert_eq!(output["model"], "gpt-local-test");
    assert_eq!(output["citations"][0]["document_id"], "examples-docs-policies-shipping.md", "{output}");

    // A flag beats the file: --model offline answers without the server (expect(1) holds).
    let offline = seams(
        data.path(),
        &["--config", &config, "--model", "offline", "ask", "How much is express shipping?", "--json"],
    );
    let output: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(output["model"], "seams-offline-extractive-v2", "{output}");
}

#[test]
fn search_can_be_postgres() {
    let url = seams_tests::stack::database_url();
    let data = tempfile::tempdir().unwrap();
    let ingested = seams(data.path(), &["--search", &url, "ingest", "examples/docs/engineering"]);
    assert!(ingested.status.success(), "{}\n{}", stdout(&ingested), stderr(&ingested));
    let asked = seams(data.path(), &["--search", &url, "ask", "When is the December code freeze?", "--json"]);
    assert!(asked.status.success(), "{}", stderr(&asked));
    let output: Value = serde_json::from_slice(&asked.stdout).unwrap();
    assert_eq!(output["citations"][0]["document_id"], "deployments.md", "{output}");
    // The embedded index was not used: it holds nothing, so the same question there has no context.
    let embedded = seams(data.path(), &["ask", "When is the December code freeze?", "--json"]);
    let output: Value = serde_json::from_slice(&embedded.stdout).unwrap();
    assert_eq!(output["model"], "none", "answered without context from the empty SQLite index: {output}");

    let refused = seams(data.path(), &["--search", "mysql://x", "ask", "q"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("SEAMS_SEARCH: \"mysql://x\" is neither sqlite nor a postgres:// URL"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn copy_index_moves_the_embedded_index_to_postgres_by_a_bulk_load() {
    let url = seams_tests::stack::database_url();
    let schema = seams_tests::unique("copied").replace('-', "_").to_lowercase();
    let data = tempfile::tempdir().unwrap();
    let nothing = seams(data.path(), &["copy-index", &url, "--schema", &schema]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(stderr(&nothing).contains("no embedded index at"), "{}", stderr(&nothing));

    let ingested = seams(data.path(), &["ingest", "examples/docs/engineering"]);
    assert!(ingested.status.success(), "{}\n{}", stdout(&ingested), stderr(&ingested));
    let copied = seams(data.path(), &["copy-index", &url, "--schema", &schema]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    assert!(stdout(&copied).contains(&format!("documents into schema {schema}")), "{}", stdout(&copied));

    // PostgreSQL now answers as the embedded index did, from the copied chunks alone.
    let question = "When is the December code freeze?";
    let asked = Command::new(env!("CARGO_BIN_EXE_seams"))
        .current_dir(workspace())
        .env("SEAMS_DATABASE_SCHEMA", &schema)
        .args(["--data-dir", &data.path().join("elsewhere").to_string_lossy(), "--search", &url])
        .args(["ask", question, "--json"])
        .output()
        .unwrap();
    assert!(asked.status.success(), "{}", stderr(&asked));
    let output: Value = serde_json::from_slice(&asked.stdout).unwrap();
    assert_eq!(output["citations"][0]["document_id"], "deployments.md", "{output}");

    let again = seams(data.path(), &["copy-index", &url, "--schema", &schema]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already holds chunks"), "{}", stderr(&again));
}

/// `seams upgrade-index` builds the current vector index where a schema still has the one
/// before it (as migration 5 leaves a big table), and says so when there is nothing to do.
#[test]
fn upgrade_index_builds_the_current_vector_index() {
    let url = seams_tests::stack::database_url();
    let schema = seams_tests::unique("upgraded").replace('-', "_").to_lowercase();
    let data = tempfile::tempdir().unwrap();
    let missing = seams(data.path(), &["upgrade-index", &url, "--schema", &schema]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains(&format!("schema {schema} holds no seams index")), "{}", stderr(&missing));

    let ingested = seams(data.path(), &["ingest", "examples/docs/engineering"]);
    assert!(ingested.status.success(), "{}", stderr(&ingested));
    let copied = seams(data.path(), &["copy-index", &url, "--schema", &schema]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    let current = seams(data.path(), &["upgrade-index", &url, "--schema", &schema]);
    assert!(current.status.success(), "{}", stderr(&current));
    assert!(stdout(&current).contains("is current; nothing to do"), "{}", stdout(&current));

    // Back to the vector index before migration 5.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = seams_tests::stack::database_client().await;
        client
            .batch_execute(&format!(
                "DROP INDEX {schema}.chunks_embedding_half_idx;
                 CREATE INDEX chunks_embedding_idx ON {schema}.chunks USING hnsw (embedding vector_cosine_ops);"
            ))
            .await
            .unwrap();
    });
    let upgraded = seams(data.path(), &["upgrade-index", &url, "--schema", &schema]);
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));
    assert!(stdout(&upgraded).contains(&format!("Built the vector index of schema {schema}")), "{}", stdout(&upgraded));
    let names: Vec<String> = runtime.block_on(async {
        let client = seams_tests::stack::database_client().await;
        let rows = client
            .query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'chunks_embedding%'",
                &[&schema],
            )
            .await
            .unwrap();
        rows.iter().map(|row| row.get(0)).collect()
    });
    assert_eq!(names, ["chunks_embedding_half_idx"]);
}

#[test]
fn eval_measures_a_beir_collection_through_the_pipeline() {
    let dataset = tempfile::tempdir().unwrap();
    let dir = dataset.path();
    std::fs::create_dir_all(dir.join("qrels")).unwrap();
    let corpus = [
        ("w1", "Wing lift", "Lift of a swept wing in a slipstream at high angles of attack."),
        ("b1", "Boundary layers", "Heat transfer through a laminar boundary layer on a flat plate."),
        ("s1", "Shells", "Buckling of thin cylindrical shells under axial compression."),
        ("e", "", ""),
    ];
    let lines: Vec<String> =
        corpus.iter().map(|(id, title, text)| json!({"_id": id, "title": title, "text": text}).to_string()).collect();
    std::fs::write(dir.join("corpus.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(
        dir.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"buckling of cylindrical shells\"}\n{\"_id\": \"q2\", \"text\": \"laminar heat transfer\"}\n",
    )
    .unwrap();
    std::fs::write(dir.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\ts1\t2\nq2\tb1\t1\n").unwrap();

    let data = tempfile::tempdir().unwrap();
    let output = seams(data.path(), &["eval", &dir.to_string_lossy(), "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["documents"].as_u64(), report["queries"].as_u64()), (Some(4), Some(2)));
    assert_eq!(report["refused"][0][0], "e", "the empty document is refused, named, and the run goes on");
    let keyword = report["modes"].as_array().unwrap().iter().find(|m| m["mode"] == "keyword").unwrap();
    assert_eq!(keyword["ndcg_at_10"], 1.0, "each query's one relevant document ranks first: {report}");
    assert_eq!(keyword["mrr_at_10"], 1.0);
    assert_eq!(report["modes"].as_array().unwrap().len(), 3, "every mode by default");
    assert!(!data.path().join("retrieve").exists(), "eval never writes into the user's data directory");

    let runs = tempfile::tempdir().unwrap();
    let runs_dir = runs.path().join("runs");
    let table = seams(
        data.path(),
        &["eval", &dir.to_string_lossy(), "--mode", "keyword", "--runs", &runs_dir.to_string_lossy()],
    );
    assert!(stdout(&table).contains("keyword    1.000"), "{}", stdout(&table));
    let run = std::fs::read_to_string(runs_dir.join("keyword.trec")).unwrap();
    let first: Vec<&str> = run.lines().next().unwrap().split(' ').collect();
    assert_eq!(&first[..4], ["q1", "Q0", "s1", "1"], "TREC run lines, the BEIR ids back: {run}");
    assert!(first[4].parse::<f64>().unwrap() > 0.0 && first[5] == "seams-keyword", "{run}");
    assert!(!runs_dir.join("vector.trec").exists(), "only the modes asked for");

    let strategies =
        seams(data.path(), &["eval", &dir.to_string_lossy(), "--mode", "keyword", "--chunking", "all", "--json"]);
    assert!(strategies.status.success(), "{}", stderr(&strategies));
    let reports: Value = serde_json::from_slice(&strategies.stdout).unwrap();
    let named: Vec<(&str, u64)> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["chunking"].as_str().unwrap(), r["chunks"].as_u64().unwrap()))
        .collect();
    assert_eq!(named, [("fixed", 3), ("hierarchical", 3), ("semantic", 3), ("none", 3)], "one report per strategy");
    assert_eq!((report["chunking"].as_str(), report["chunks"].as_u64()), (Some("fixed"), Some(3)));
    // Documents process refuses (here: over SEAMS_MAX_CHUNKS) are reported, and the run goes on.
    let limited = Command::new(env!("CARGO_BIN_EXE_seams"))
        .current_dir(workspace())
        .env("SEAMS_CHUNK_MAX_TOKENS", "4")
        .env("SEAMS_MAX_CHUNKS", "1")
        .args([
            "--data-dir",
            &data.path().to_string_lossy(),
            "eval",
            &dir.to_string_lossy(),
            "--mode",
            "keyword",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(limited.status.success(), "{}", stderr(&limited));
    let report: Value = serde_json::from_slice(&limited.stdout).unwrap();
    let refused: Vec<(&str, &str)> = report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap(), r[1].as_str().unwrap()))
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(
        refused.contains(&("s1", "failed in process (its message is in process's dead-letter queue)")),
        "{refused:?}"
    );
    assert_eq!(report["chunks"], 0);

    let unknown = seams(data.path(), &["eval", &dir.to_string_lossy(), "--chunking", "pages"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("--chunking: unknown chunking strategy \"pages\""), "{}", stderr(&unknown));

    std::fs::write(dir.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\tnope\t2\n").unwrap();
    let refused = seams(data.path(), &["eval", &dir.to_string_lossy()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("test.tsv:2: document \"nope\" is not in corpus.jsonl"), "{}", stderr(&refused));
}

#[test]
fn seams_says_which_embedder_it_uses_and_keeps_an_index_s_own() {
    let data = tempfile::tempdir().unwrap();
    let model = tempfile::tempdir().unwrap();
    std::fs::write(model.path().join("model.safetensors"), b"never read").unwrap();
    let run = |arguments: &[&str], model_dir: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_seams"));
        command.current_dir(workspace()).env("SEAMS_MODEL_DIR", model_dir).arg("--data-dir").arg(data.path());
        command.args(arguments).output().expect("seams runs")
    };
    let missing = tempfile::tempdir().unwrap();
    let hashing = run(&["ingest", "examples/docs/policies/refunds.md"], missing.path());
    assert!(hashing.status.success(), "{}", stderr(&hashing));
    assert!(stderr(&hashing).contains("the local model is not installed"), "{}", stderr(&hashing));

    // Installed now, but this data directory's index holds hashing vectors: they are kept.
    let asked = run(&["ask", "How long do card refunds take?"], model.path());
    assert!(asked.status.success(), "{}", stderr(&asked));
    assert!(stderr(&asked).contains("holds seams-hashing"), "{}", stderr(&asked));
    assert!(stdout(&asked).contains("policies-refunds.md"), "{}", stdout(&asked));
}

/// Sends one document until `seams up` acknowledges it (202, or 200 for a duplicate);
/// `None` when the server went away first.
async fn post_document(client: &reqwest::Client, base: &str, document: &Value) -> Option<Value> {
    for _ in 0..100 {
        let Ok(response) = client.post(format!("{base}/documents")).json(document).send().await else {
            return None;
        };
        match response.status().as_u16() {
            200 | 202 => return response.json().await.ok(),
            // In progress elsewhere, or busy: what a client retries.
            409 | 429 | 503 => tokio::time::sleep(Duration::from_millis(100)).await,
            status => panic!("{status}: {}", response.text().await.unwrap_or_default()),
        }
    }
    panic!("{} was never acknowledged", document["document_id"]);
}

/// The document ids a keyword search for `word` finds.
async fn found_by(client: &reqwest::Client, base: &str, word: &str) -> Vec<String> {
    let query = json!({"query": word, "top_k": 10, "search_mode": "keyword"});
    let response = client.post(format!("{base}/retrieve")).json(&query).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["results"].as_array().unwrap().iter().map(|r| r["document_id"].as_str().unwrap().to_owned()).collect()
}

/// `seams up` killed with SIGKILL while 300 documents are being ingested, then started again
/// on the same data directory: the client sends again what was not acknowledged, and all 300
/// become searchable, none twice, with no manual step.
#[tokio::test]
async fn up_killed_mid_ingest_loses_nothing_and_indexes_nothing_twice() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), 0);
    let client = reqwest::Client::new();
    let documents: Vec<Value> = (0..300)
        .map(|n| {
            json!({"document_id": format!("doc-{n:03}"), "content_type": "text/markdown",
                   "content": format!("# Document {n}\n\nOnly this document holds the word zq{n:03}x.\n")})
        })
        .collect();

    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sending = {
        let (client, base, documents, acknowledged) =
            (client.clone(), server.base.clone(), documents.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let sends = documents.into_iter().map(move |document| {
                let (client, base, acknowledged) = (client.clone(), base.clone(), acknowledged.clone());
                async move {
                    if post_document(&client, &base, &document).await.is_some() {
                        acknowledged.lock().unwrap().push(document["document_id"].clone());
                    }
                }
            });
            futures::stream::iter(sends).buffer_unordered(16).collect::<Vec<()>>().await;
        })
    };
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    sending.await.unwrap();
    let before_the_kill = acknowledged.lock().unwrap().len();
    assert!(before_the_kill < 300, "the kill came after every document was sent");

    let restarted = Server::start(data.path(), 0);
    let unacknowledged: Vec<&Value> =
        documents.iter().filter(|d| !acknowledged.lock().unwrap().contains(&d["document_id"])).collect();
    for document in unacknowledged {
        post_document(&client, &restarted.base, document).await.expect("acknowledged after the restart");
    }
    for n in 0..300 {
        let (word, id) = (format!("zq{n:03}x"), format!("doc-{n:03}"));
        let mut found = Vec::new();
        for _ in 0..300 {
            found = found_by(&client, &restarted.base, &word).await;
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(found, [id], "{word}: indexed once (acknowledged before the kill: {before_the_kill})");
    }
    restarted.stop();
}
