//! `POST /retrieve` over the HTTP API and direct invokes: answers, every kind of bad input
//! as problem+json naming the field, and an unreachable backend as `Seams.Transient` (503).

use crate::support;

use std::sync::Arc;

use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
use retrieve::{Fusion, Service};
use seams_contracts::retrieve::SearchMode;
use seams_platform::function;
use seams_tests::sample_event;
use serde_json::{json, Value};
use support::{at, document};

async fn service() -> (Service, tempfile::TempDir) {
    let (index, dir) = support::sqlite_index();
    let texts = ["Digital products can be refunded within 14 days.", "Gift cards are never refunded."];
    let doc = document("refunds", 1, at(0), &texts, json!({"category": "policy", "year": 2026}));
    index.upsert(&doc).await.unwrap();
    (Service::new(index, Arc::new(support::embedder()), Fusion::default()), dir)
}

fn post(body: Value) -> Value {
    let mut event = sample_event("retrieve/http-retrieve.json");
    event["body"] = Value::String(body.to_string());
    event
}

#[tokio::test]
async fn the_seed_request_is_answered_with_ranked_chunks() {
    let (service, _dir) = service().await;
    let response = function::handle(&service, sample_event("retrieve/http-retrieve.json")).await.unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["search_mode"], "hybrid");
    assert_eq!(body["embedding_model"], "seams-hashing-v1-384");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["chunk_id"], "refunds:1:0");
    assert!(results[0]["ranks"]["vector"].is_u64() && results[0]["ranks"]["keyword"].is_u64());

    let direct =
        function::handle(&service, json!({"query": "gift cards", "search_mode": "keyword", "top_k": 1})).await.unwrap();
    assert_eq!(direct["results"][0]["chunk_id"], "refunds:1:1");
}

#[tokio::test]
async fn min_score_and_include_embeddings_shape_the_results() {
    let (service, _dir) = service().await;
    let body =
        json!({"query": "gift cards refunded", "search_mode": "vector", "min_score": 0.3, "include_embeddings": true});
    let response = function::handle(&service, body).await.unwrap();
    let results = response["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.iter().all(|r| r["score"].as_f64().unwrap() >= 0.3), "{response}");
    assert_eq!(results[0]["embedding"].as_array().unwrap().len(), 384);
}

#[tokio::test]
async fn each_bad_request_gets_a_problem_naming_its_field() {
    let (service, _dir) = service().await;
    let cases = [
        (json!({"query": ""}), "query"),
        (json!({"query": "q", "top_k": 0}), "top_k"),
        (json!({"query": "q", "top_k": 101}), "top_k"),
        (json!({"query": "q", "search_mode": "semantic"}), "search_mode"),
        (json!({"query": "q", "filters": {"equals": {"key": "category"}}}), "filters"),
        (
            json!({"query": "q", "filters": {"andAll": [{"lessThan": {"key": "year", "value": "2020"}}]}}),
            "filters.andAll[0].lessThan.value",
        ),
        (json!({"query": "q", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let response = function::handle(&service, post(body.clone())).await.unwrap();
        assert_eq!(response["statusCode"], 400, "{body}: {response}");
        assert_eq!(response["headers"]["content-type"], "application/problem+json");
        let problem: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(problem["type"], "urn:seams:problem:invalid-input", "{body}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let mut nesting = json!({"equals": {"key": "a", "value": 1}});
    for _ in 0..6 {
        nesting = json!({"orAll": [nesting]});
    }
    let response = function::handle(&service, post(json!({"query": "q", "filters": nesting}))).await.unwrap();
    assert_eq!(response["statusCode"], 400);
    assert!(response["body"].as_str().unwrap().contains("at most 5 levels"), "{response}");
}

#[tokio::test]
async fn an_unreachable_database_is_transient() {
    let settings = PostgresSettings {
        connection: Connection::Fixed("postgres://seams@127.0.0.1:9/seams?connect_timeout=2".parse().unwrap()),
        schema: "seams".into(),
        ca_file: None,
    };
    let index = Arc::new(PostgresIndex::new(settings, support::model()).unwrap());
    let service = Service::new(index, Arc::new(support::embedder()), Fusion::default());
    let response = function::handle(&service, post(json!({"query": "refunds"}))).await.unwrap();
    assert_eq!(response["statusCode"], 503, "{response}");
    let problem: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["error"], "Seams.Transient");
    let direct = function::handle(&service, json!({"query": "refunds"})).await.unwrap_err();
    assert_eq!(direct.name.as_str(), "Seams.Transient");
}

/// The first result's document, and the scores of "related" and "unrelated".
async fn first_and_scores(
    service: &Service,
    request: &seams_contracts::retrieve::RetrieveRequest,
) -> (String, f64, f64) {
    let response = service.retrieve(request).await.unwrap();
    let score = |id: &str| response.results.iter().find(|r| r.document_id == id).map_or(0.0, |r| r.score);
    (response.results[0].document_id.clone(), score("related"), score("unrelated"))
}

/// With feedback the query moves towards its first hit: a chunk sharing only that hit's other
/// word now scores well above one sharing nothing, which it did not before.
#[tokio::test]
async fn vector_feedback_moves_the_query_towards_its_first_hits() {
    let (index, _dir) = support::sqlite_index();
    for (id, text) in [("first", "alpaca wool"), ("related", "wool sweater"), ("unrelated", "engine oil")] {
        index.upsert(&document(id, 1, at(0), &[text], json!({}))).await.unwrap();
    }
    let request: seams_contracts::retrieve::RetrieveRequest =
        serde_json::from_value(json!({"query": "alpaca", "search_mode": "vector", "top_k": 3})).unwrap();
    let plain = Service::new(index.clone(), Arc::new(support::embedder()), Fusion::default());
    let (top, related, unrelated) = first_and_scores(&plain, &request).await;
    assert_eq!(top, "first");
    assert!((related - unrelated).abs() < 0.1, "without feedback neither shares a word: {related} {unrelated}");
    let moved = Service::new(index, Arc::new(support::embedder()), Fusion::default())
        .with_feedback(retrieve::VectorFeedback { chunks: 1, weight: 1.0 });
    let (top, related, unrelated) = first_and_scores(&moved, &request).await;
    assert_eq!(top, "first");
    assert!(related > unrelated + 0.2, "feedback carries the first hit's \"wool\": {related} {unrelated}");
}

/// Records the mode and depth of every search, then asks the real index.
struct Recording {
    inner: Arc<dyn retrieve::SearchIndex>,
    searches: std::sync::Mutex<Vec<(SearchMode, usize)>>,
}

#[async_trait::async_trait]
impl retrieve::SearchIndex for Recording {
    fn model(&self) -> &seams_contracts::process::EmbeddingModel {
        self.inner.model()
    }
    async fn upsert(
        &self,
        document: &retrieve::index::IndexedDocument,
    ) -> Result<retrieve::index::Upserted, retrieve::IndexError> {
        self.inner.upsert(document).await
    }
    async fn delete(&self, id: &str, at: chrono::DateTime<chrono::Utc>) -> Result<(), retrieve::IndexError> {
        self.inner.delete(id, at).await
    }
    async fn search(&self, query: &retrieve::SearchQuery) -> Result<Vec<retrieve::index::Hit>, retrieve::IndexError> {
        self.searches.lock().unwrap().push((query.mode, query.top_k));
        self.inner.search(query).await
    }
}

/// Feedback moves the query towards the first hits of the ranking the caller asked for: in
/// hybrid, the fused one, which is better than the vector list alone.
#[tokio::test]
async fn feedback_follows_the_first_hits_of_the_requested_mode() {
    let (inner, _dir) = support::sqlite_index();
    inner.upsert(&document("first", 1, at(0), &["alpaca wool"], json!({}))).await.unwrap();
    let index = Arc::new(Recording { inner, searches: Default::default() });
    let service = Service::new(index.clone(), Arc::new(support::embedder()), Fusion::default())
        .with_feedback(retrieve::VectorFeedback { chunks: 3, weight: 0.5 });
    for mode in [SearchMode::Hybrid, SearchMode::Vector] {
        let request = serde_json::from_value(json!({"query": "alpaca", "search_mode": mode, "top_k": 7})).unwrap();
        service.retrieve(&request).await.unwrap();
        let searches = std::mem::take(&mut *index.searches.lock().unwrap());
        assert_eq!(searches, [(mode, 3), (mode, 7)]);
    }
}

/// Hierarchical chunking over the API: a parent's text comes back once, with the best
/// child's id and score, and the search widens until `top_k` distinct passages are found.
#[tokio::test]
async fn a_parent_is_answered_once_and_the_search_widens_for_distinct_passages() {
    let (inner, _dir) = support::sqlite_index();
    let children = ["otter dens", "otter diets", "otter pups", "otter fur", "otter swimming", "otter tools"];
    let mut tree = document("otters", 1, at(0), &children, json!({}));
    for chunk in &mut tree.chunks {
        let parent =
            seams_contracts::process::ParentChunk { chunk_id: "otters:1:p0".into(), text: "All about otters.".into() };
        chunk.metadata.insert("parent_chunk_id".into(), parent.chunk_id.clone().into());
        chunk.parent = Some(parent);
    }
    inner.upsert(&tree).await.unwrap();
    inner.upsert(&document("rivers", 1, at(0), &["otter habitats along rivers"], json!({}))).await.unwrap();
    let index = Arc::new(Recording { inner, searches: Default::default() });
    let service = Service::new(index.clone(), Arc::new(support::embedder()), Fusion::default());

    let body = json!({"query": "otter", "search_mode": "keyword", "top_k": 2});
    let response = function::handle(&service, body).await.unwrap();
    let results = response["results"].as_array().unwrap();
    let passages: Vec<(&str, Option<&str>, &str)> = results
        .iter()
        .map(|r| (r["text"].as_str().unwrap(), r["parent_chunk_id"].as_str(), r["chunk_id"].as_str().unwrap()))
        .collect();
    assert_eq!(passages.len(), 2, "{response}");
    let parent = passages.iter().find(|p| p.1 == Some("otters:1:p0")).expect("the parent is a passage");
    assert_eq!(parent.0, "All about otters.");
    assert!(parent.2.starts_with("otters:1:"), "the matching child's id: {parent:?}");
    assert!(passages.iter().any(|p| p == &("otter habitats along rivers", None, "rivers:1:0")), "{passages:?}");
    let depths: Vec<usize> = index.searches.lock().unwrap().iter().map(|(_, k)| *k).collect();
    assert!(depths.len() >= 2 && depths[0] == 2, "widened: six children crowded the first two: {depths:?}");
    assert!(depths.windows(2).all(|w| w[0] < w[1]), "{depths:?}");

    // Below min_score nothing more can pass: no widening for it.
    index.searches.lock().unwrap().clear();
    let body = json!({"query": "otter", "search_mode": "keyword", "top_k": 2, "min_score": 1e9});
    let response = function::handle(&service, body).await.unwrap();
    assert_eq!(response["results"].as_array().unwrap().len(), 0);
    assert_eq!(index.searches.lock().unwrap().len(), 1);
}
