//! `seams up` at its edges, tried as a new user would: an upload through the URL
//! `POST /documents/uploads` hands out, and every route's error answers, which must never
//! carry a local path, a host name, a bucket key or stack detail.

use std::path::Path;

use crate::common;

use common::Server;
use seams_platform::queue::{LocalQueue, Queue};
use seams_platform::routes::ROUTES;
use serde_json::{json, Value};

async fn retrieve(client: &reqwest::Client, base: &str, query: &str) -> Value {
    let body = json!({"query": query, "search_mode": "keyword", "top_k": 3});
    client.post(format!("{base}/retrieve")).json(&body).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_url_takes_the_file_and_ingest_indexes_it() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), 0);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let text = "Quokkas graze on the islands at dusk; a quokka needs little water.";

    let ticket = json!({"document_id": "quokka-notes", "content_type": "text/plain", "byte_size": text.len()});
    let issued = client.post(format!("{base}/documents/uploads")).json(&ticket).send().await.unwrap();
    assert_eq!(issued.status(), 201, "{}", issued.text().await.unwrap());
    let ticket: Value = issued.json().await.unwrap();
    let url = ticket["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{base}/_uploads/")), "the URL is this server's: {url}");
    assert_eq!(ticket["method"], "PUT");

    // Not what it was signed for: another content type, a changed key, no signature.
    let wrong_type = client.put(&url).header("content-type", "text/html").body(text).send().await.unwrap();
    assert_eq!(wrong_type.status(), 403);
    let problem: Value = wrong_type.json().await.unwrap();
    assert_eq!(problem["type"], "urn:seams:problem:upload-url-refused", "{problem}");
    let other_key = url.replace("/document?", "/other?");
    let refused = client.put(&other_key).header("content-type", "text/plain").body(text).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let unsigned = url.split('?').next().unwrap().to_owned();
    let refused = client.put(&unsigned).header("content-type", "text/plain").body(text).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(retrieve(&client, &base, "quokka").await["results"].as_array().unwrap().is_empty());

    // As a browser or curl would, with the headers the ticket names.
    let mut put = client.put(&url).body(text);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let stored = put.send().await.unwrap();
    assert_eq!(stored.status(), 200, "{}", stored.text().await.unwrap());
    assert!(stored.headers().contains_key("etag"));

    let status: Value =
        client.get(format!("{base}/documents/quokka-notes")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["versions"][0]["version"], 1, "{status}");
    let mut found = Value::Null;
    for _ in 0..100 {
        found = retrieve(&client, &base, "quokka").await;
        if found["results"][0]["document_id"] == "quokka-notes" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found["results"][0]["document_id"], "quokka-notes", "{found}");

    // Stored, but not a document ingest can take: as deployed, it ends in ingest's
    // dead-letter queue with its cause, not lost.
    let ticket = json!({"document_id": "blank", "content_type": "text/plain", "byte_size": 3});
    let ticket: Value =
        client.post(format!("{base}/documents/uploads")).json(&ticket).send().await.unwrap().json().await.unwrap();
    let blank = client.put(ticket["url"].as_str().unwrap()).header("content-type", "text/plain").body("   ");
    assert_eq!(blank.send().await.unwrap().status(), 200);
    server.stop();
    let journal = data.path().join("queues").join("ingest-dlq.jsonl");
    let queue = LocalQueue::durable("ingest-dlq", std::time::Duration::from_secs(30), &journal).unwrap();
    let dead_letters = queue.receive(10, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(dead_letters.len(), 1);
    let record: Value = serde_json::from_str(&dead_letters[0].body).unwrap();
    assert_eq!(record["responsePayload"]["errorType"], "Seams.InvalidInput", "{record}");
    assert!(record["responsePayload"]["errorMessage"].as_str().unwrap().contains("no text"), "{record}");
    let key = record["requestPayload"]["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    assert!(key.contains(ticket["upload_id"].as_str().unwrap()), "{record}");
}

/// Text no error answer may carry: where seams keeps its data, the machine's name, the
/// buckets' key layout, and what a panic or an OS error would print.
fn leaks(data_dir: &Path, answer: &str) -> Vec<String> {
    let mut secrets = vec![data_dir.display().to_string()];
    secrets.extend(data_dir.file_name().map(|name| name.to_string_lossy().into_owned()));
    // Short host names ("vm") are ordinary words; longer ones are a leak.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
    if host.len() >= 4 && host != "localhost" {
        secrets.push(host);
    }
    let layout = ["raw/", "versions/", "tombstones/", "upload-tickets/", "ledger/", "records/", "index.sqlite"];
    let stack = ["/tmp/", "os error", "panicked", ".rs:", "backtrace", "src/"];
    secrets.extend(layout.iter().chain(&stack).map(|s| s.to_string()));
    secrets.into_iter().filter(|secret| answer.contains(secret.as_str())).collect()
}

/// Requests a new user might send by mistake, or an attacker on purpose, to `method path`.
fn hostile_bodies() -> Vec<Vec<u8>> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"unexpected\": true}".to_vec(),
        vec![0xff, 0xfe, b'{', 0x80],
        deep.into_bytes(),
        json!({"question": 7, "query": ["x"], "top_k": "ten", "content": {"a": 1}, "document_id": "../../etc"})
            .to_string()
            .into_bytes(),
        json!({"content_type": "text/plain", "byte_size": 10, "document_id": "a/../b"}).to_string().into_bytes(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}).to_string().into_bytes(),
    ]
}

async fn sweep(client: &reqwest::Client, base: &str, data_dir: &Path) -> usize {
    let mut answers = 0;
    for route in ROUTES {
        for id in ["no-such-document", "..%2F..%2Fetc%2Fpasswd", "%00"] {
            let path = route.path().replace("{id}", id);
            for body in hostile_bodies() {
                let method = reqwest::Method::from_bytes(route.method().as_bytes()).unwrap();
                let request =
                    client.request(method, format!("{base}{path}")).header("content-type", "application/json");
                let response = request.body(body).send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                assert!(status != 500 && status != 502, "{} {path} answered {status}: {text}", route.method());
                if status >= 400 {
                    answers += 1;
                    assert_eq!(
                        leaks(data_dir, &text),
                        Vec::<String>::new(),
                        "{} {path} answered {text}",
                        route.method()
                    );
                }
            }
        }
    }
    for (method, path) in [("PATCH", "/documents"), ("PUT", "/retrieve"), ("PUT", "/_uploads/raw/x/y")] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client.request(method, format!("{base}{path}")).body("{}").send().await.unwrap();
        let text = response.text().await.unwrap();
        answers += 1;
        assert_eq!(leaks(data_dir, &text), Vec::<String>::new(), "{path} answered {text}");
    }
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn no_error_answer_names_a_path_a_host_a_key_or_a_stack() {
    let data = tempfile::Builder::new().prefix("seams-leak-probe").tempdir().unwrap();
    // A store without a signer (`seams invoke`): a permanent 501 that names no directory.
    let stack = std::sync::Arc::new(seams::LocalStack::new(data.path()).unwrap());
    let uploads = seams_tests::sample_event("ingest/http-post-uploads.json");
    let answer = seams::invoke(&stack, "ingest", uploads).await.unwrap();
    assert_eq!(answer["statusCode"], 501, "{answer}");
    let body = answer["body"].as_str().unwrap();
    assert!(body.contains("urn:seams:problem:unsupported"), "{body}");
    assert_eq!(leaks(data.path(), body), Vec::<String>::new(), "{body}");
    drop(stack);

    let server = Server::start(data.path(), 0);
    let client = reqwest::Client::new();
    let healthy = sweep(&client, &server.base, data.path()).await;

    // Now with ingest's storage broken beneath it: its routes answer an honest 503.
    let ingest_dir = data.path().join("ingest");
    std::fs::remove_dir_all(&ingest_dir).unwrap();
    std::fs::write(&ingest_dir, "not a directory").unwrap();
    let document = json!({"document_id": "d-1", "content_type": "text/plain", "content": "hello"});
    let broken = client.post(format!("{}/documents", server.base)).json(&document).send().await.unwrap();
    assert_eq!(broken.status(), 503);
    let text = broken.text().await.unwrap();
    assert!(text.contains("urn:seams:problem:transient"), "{text}");
    assert_eq!(leaks(data.path(), &text), Vec::<String>::new(), "{text}");
    let broken = sweep(&client, &server.base, data.path()).await;
    assert!(healthy > 300 && broken > 300, "{healthy} and {broken} error answers swept");
    server.kill();
}
