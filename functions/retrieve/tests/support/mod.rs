//! Documents and indexes for retrieve's tests.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use retrieve::fuse::Fusion;
use retrieve::index::{IndexedChunk, IndexedDocument, SearchIndex, SearchQuery};
use retrieve::postgres::{Connection, PostgresIndex, PostgresSettings};
use retrieve::sqlite::SqliteIndex;
use retrieve::Predicate;
use seams_contracts::process::EmbeddingModel;
use seams_contracts::retrieve::{Citation, SearchMode};
use seams_embeddings::hashing::HashingEmbedder;
use seams_embeddings::Embedder;
use serde_json::{Map, Value};

pub fn embedder() -> HashingEmbedder {
    HashingEmbedder::default()
}

pub fn model() -> EmbeddingModel {
    embedder().model().clone()
}

pub fn vector(text: &str) -> Vec<f32> {
    embedder().vector(text).expect("the hashing embedder embeds any text")
}

/// A moment on a fixed day, `minutes` after midnight.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// A document of one chunk per text, with `attributes` on every chunk.
pub fn document(
    id: &str,
    version: u32,
    processed_at: DateTime<Utc>,
    texts: &[&str],
    attributes: Value,
) -> IndexedDocument {
    let mut metadata: Map<String, Value> = attributes.as_object().cloned().unwrap_or_default();
    metadata.insert("document_id".into(), id.into());
    IndexedDocument {
        document_id: id.into(),
        version,
        processed_at,
        embedding: model(),
        chunks: texts
            .iter()
            .enumerate()
            .map(|(ordinal, text)| IndexedChunk {
                chunk_id: format!("{id}:{version}:{ordinal}"),
                ordinal: ordinal as u32,
                text: (*text).into(),
                citation: Citation {
                    source_uri: Some(format!("s3://docs/{id}.md")),
                    title: Some(format!("Title of {id}")),
                    heading_path: vec!["Policies".into(), id.into()],
                    page: Some(ordinal as u32 + 1),
                },
                metadata: metadata.clone(),
                embedding: vector(text),
                parent: None,
            })
            .collect(),
    }
}

/// A one-chunk document whose chunk has `embedding`, a vector of `model`.
pub fn document_with_vector(id: &str, model: &EmbeddingModel, embedding: Vec<f32>) -> IndexedDocument {
    let mut record = document(id, 1, at(0), &[id], Value::Object(Map::new()));
    record.embedding = model.clone();
    record.chunks[0].embedding = embedding;
    record
}

pub fn query(text: &str, mode: SearchMode, top_k: usize, filter: Option<Value>) -> SearchQuery {
    let filter = filter.map(|f| Predicate::compile(&serde_json::from_value(f).unwrap(), "filters").unwrap());
    let vector = (mode != SearchMode::Keyword).then(|| retrieve::index::normalised(&vector(text)));
    SearchQuery { text: text.into(), vector, mode, top_k, filter, fusion: Fusion::default() }
}

/// The document ids of a search's hits, best first.
pub async fn ids(index: &dyn SearchIndex, query: &SearchQuery) -> Vec<String> {
    index.search(query).await.unwrap().into_iter().map(|h| h.document_id).collect()
}

pub fn sqlite_index() -> (Arc<dyn SearchIndex>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let index = SqliteIndex::open(&dir.path().join("index.sqlite"), model()).unwrap();
    (Arc::new(index), dir)
}

/// A fresh schema in the test stack's PostgreSQL, migrated.
pub async fn postgres_index() -> Arc<PostgresIndex> {
    postgres_index_at(&seams_tests::stack::database_url()).await
}

/// An index in a fresh schema of the database at `url`.
pub async fn postgres_index_at(url: &str) -> Arc<PostgresIndex> {
    postgres_index_of(url, model()).await
}

/// An index of another embedding model in a fresh schema of the database at `url`.
pub async fn postgres_index_of(url: &str, model: EmbeddingModel) -> Arc<PostgresIndex> {
    postgres_index_configured(url, model, |index| index).await
}

/// An index in a fresh schema of the database at `url`, with settings of its own.
pub async fn postgres_index_configured(
    url: &str,
    model: EmbeddingModel,
    configure: impl FnOnce(PostgresIndex) -> PostgresIndex,
) -> Arc<PostgresIndex> {
    let schema = seams_tests::unique("retrieve").replace('-', "_").to_lowercase();
    let settings = PostgresSettings { connection: Connection::Fixed(url.parse().unwrap()), schema, ca_file: None };
    let index = configure(PostgresIndex::new(settings, model).unwrap());
    index
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is not usable: {e}. Start it with scripts/stack.sh start"));
    Arc::new(index)
}

/// Words for the property tests' documents and queries: some stem alike, one is a stop
/// word, one has an accent.
pub const WORDS: [&str; 9] = ["ledger", "memo", "the", "refund", "refunds", "policy", "café", "omega", "zephyr"];

/// A word's number in [`WORDS`], skewed towards the first three, as word use is.
pub fn word() -> impl proptest::strategy::Strategy<Value = usize> {
    use proptest::prelude::*;
    prop_oneof![3 => 0..3usize, 1 => 0..WORDS.len()]
}

/// Word numbers as the text they spell.
pub fn text(word_numbers: &[usize]) -> String {
    word_numbers.iter().map(|&w| WORDS[w]).collect::<Vec<_>>().join(" ")
}

/// Each list of word numbers as its text.
pub fn texts(word_numbers: &[Vec<usize>]) -> Vec<String> {
    word_numbers.iter().map(|numbers| text(numbers)).collect()
}
