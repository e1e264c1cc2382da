//! The network embedders against a local HTTP server replaying the providers' documented
//! response and error bodies: requests asserted field by field, errors mapped to what the
//! caller can do (retry, or not).

use std::time::Duration;

use aws_config::BehaviorVersion;
use seams_embeddings::bedrock::BedrockEmbedder;
use seams_embeddings::openai::{OpenAiEmbedder, OpenAiSettings};
use seams_embeddings::{embed_all, EmbedError, Embedder, Purpose};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn openai(server: &MockServer) -> OpenAiEmbedder {
    OpenAiEmbedder::new(OpenAiSettings {
        base_url: format!("{}/v1", server.uri()),
        api_key: Some("sk-test".into()),
        model: "text-embedding-3-small".into(),
        dims: 3,
        request_dimensions: true,
        max_batch: 2048,
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// OpenAI's documented success body, with the entries out of order as the API allows.
fn openai_success() -> Value {
    json!({
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.4, 0.5, 0.6]},
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8}
    })
}

fn openai_error(message: &str, kind: &str, code: Value) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

#[tokio::test]
async fn openai_sends_the_documented_request_and_orders_vectors_by_index() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-test"))
        .and(body_json(json!({
            "model": "text-embedding-3-small",
            "input": ["refund policy", "travel policy"],
            "encoding_format": "float",
            "dimensions": 3
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_success()))
        .expect(1)
        .mount(&server)
        .await;
    let vectors = openai(&server).embed(&["refund policy", "travel policy"]).await.unwrap();
    assert_eq!(vectors, [vec![0.1, 0.2, 0.3], vec![0.4, 0.5, 0.6]]);
}

#[tokio::test]
async fn openai_rate_limits_are_retried_after_retry_after() {
    let server = MockServer::start().await;
    let limited =
        openai_error("Rate limit reached for text-embedding-3-small", "requests", json!("rate_limit_exceeded"));
    Mock::given(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(limited))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_success()))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let vectors = openai(&server).embed(&["a", "b"]).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn openai_bad_requests_are_not_retried() {
    let server = MockServer::start().await;
    let invalid = openai_error("'$.input' is invalid.", "invalid_request_error", Value::Null);
    Mock::given(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(400).set_body_json(invalid))
        .expect(1)
        .mount(&server)
        .await;
    let error = openai(&server).embed(&[""]).await.unwrap_err();
    assert!(
        matches!(&error, EmbedError::Invalid(detail) if detail.contains("400") && detail.contains("is invalid")),
        "{error}"
    );
}

#[tokio::test]
async fn openai_server_errors_are_transient_once_attempts_run_out() {
    let server = MockServer::start().await;
    let failure = openai_error("The server had an error while processing your request.", "server_error", Value::Null);
    Mock::given(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(500).set_body_json(failure))
        .expect(4)
        .mount(&server)
        .await;
    let error = openai(&server).embed(&["a"]).await.unwrap_err();
    assert!(matches!(error, EmbedError::Transient(_)), "{error}");
}

/// An SDK configuration pointing Bedrock at the mock server.
async fn sdk_for(server: &MockServer) -> aws_config::SdkConfig {
    let credentials = aws_sdk_bedrockruntime::config::Credentials::new("test", "test", None, None, "tests");
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await
}

async fn bedrock(server: &MockServer) -> BedrockEmbedder {
    BedrockEmbedder::new(&sdk_for(server).await, "amazon.titan-embed-text-v2:0", 256, true, Purpose::Documents)
}

async fn cohere(server: &MockServer, purpose: Purpose) -> BedrockEmbedder {
    BedrockEmbedder::new(&sdk_for(server).await, "cohere.embed-english-v3", 1024, true, purpose)
}

/// Titan V2's documented answer for one text.
fn titan_answer(embedding: Vec<f32>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "embedding": embedding,
        "inputTextTokenCount": 4,
        "embeddingsByType": {"float": embedding}
    }))
}

fn bedrock_error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("x-amzn-errortype", kind).set_body_json(json!({"message": message}))
}

#[tokio::test]
async fn bedrock_invokes_titan_once_per_text_with_the_documented_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/model/amazon\.titan-embed-text-v2(:|%3A)0/invoke$"))
        .respond_with(move |request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["dimensions"], 256);
            assert_eq!(body["normalize"], true);
            let length = body["inputText"].as_str().unwrap().len() as f32;
            titan_answer(vec![length; 256])
        })
        .expect(2)
        .mount(&server)
        .await;
    let vectors = bedrock(&server).await.embed(&["refund", "travel policy"]).await.unwrap();
    assert_eq!((vectors[0][0], vectors[1][0], vectors[1].len()), (6.0, 13.0, 256));
}

#[tokio::test]
async fn bedrock_throttling_is_retried_and_validation_errors_are_not() {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/model/.+/invoke$"))
        .respond_with(bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/model/.+/invoke$")).respond_with(titan_answer(vec![0.5; 256])).mount(&server).await;
    assert_eq!(bedrock(&server).await.embed(&["a"]).await.unwrap(), [vec![0.5; 256]]);

    let invalid = MockServer::start().await;
    Mock::given(path_regex("^/model/.+/invoke$"))
        .respond_with(bedrock_error(400, "ValidationException", "Malformed input request: expected maxLength: 50000"))
        .expect(1)
        .mount(&invalid)
        .await;
    let error = bedrock(&invalid).await.embed(&["a"]).await.unwrap_err();
    assert!(matches!(&error, EmbedError::Invalid(detail) if detail.contains("ValidationException")), "{error}");
}

#[tokio::test]
async fn cohere_embeds_up_to_96_texts_per_call_for_its_purpose() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/model/cohere\.embed-english-v3/invoke$"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["truncate"], "END");
            let texts = body["texts"].as_array().unwrap();
            // Cohere's documented answer: one embedding per text, in order.
            let embeddings: Vec<Vec<f32>> =
                texts.iter().map(|t| vec![t.as_str().unwrap().len() as f32; 1024]).collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "5ea5b1b6-1c36-4b1d-9f1a-1d3b0f0e2c11",
                "embeddings": embeddings,
                "response_type": "embeddings_floats",
                "texts": texts,
            }))
        })
        .expect(2)
        .mount(&server)
        .await;
    let texts: Vec<String> = (0..100).map(|i| "x".repeat(i + 1)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embed_all(&cohere(&server, Purpose::Documents).await, &refs).await.unwrap();
    assert_eq!(vectors.len(), 100);
    assert_eq!((vectors[0][0], vectors[99][0]), (1.0, 100.0));
    let sent: Vec<Value> =
        server.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(sent.iter().map(|b| b["texts"].as_array().unwrap().len()).collect::<Vec<_>>(), [96, 4]);
    assert!(sent.iter().all(|b| b["input_type"] == "search_document"));

    let queries = MockServer::start().await;
    Mock::given(body_json(json!({"texts": ["refund policy"], "input_type": "search_query", "truncate": "END"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "q", "embeddings": [vec![0.25f32; 1024]], "response_type": "embeddings_floats", "texts": ["refund policy"]})))
        .expect(1)
        .mount(&queries)
        .await;
    let query = cohere(&queries, Purpose::Queries).await.embed(&["refund policy"]).await.unwrap();
    assert_eq!(query, [vec![0.25; 1024]]);
}
